// SPDX-License-Identifier: GPL-2.0
/*
 * softodp_splat - a module whose only job is to make the kernel report a
 * bug of a chosen kind when it is loaded.
 *
 * The test suite loads it to prove that each kind of report fails a test
 * run. It is never loaded otherwise. what= selects the report:
 *   warn      WARN()
 *   kasan     a read of a freed slab object (KASAN)
 *   ubsan     an out-of-bounds array index (UBSAN bounds)
 *   kfence    a read past a KFENCE-sampled object (KFENCE)
 *   kmemleak  an object nobody references any more (kmemleak, on a scan)
 */
#include <linux/bug.h>
#include <linux/jiffies.h>
#include <linux/kfence.h>
#include <linux/module.h>
#include <linux/slab.h>

static char *what = "warn";
module_param(what, charp, 0444);
MODULE_PARM_DESC(what, "warn, kasan, ubsan, kfence or kmemleak");

/* READ_ONCE/WRITE_ONCE: the compiler may not prove the bad accesses away */
static int sink;
static int table[4];
static int index_past = ARRAY_SIZE(table);
static void *leaked;

static void splat_kasan(void)
{
	int *p = kmalloc(64, GFP_KERNEL);

	if (!p)
		return;
	kfree(p);
	WRITE_ONCE(sink, READ_ONCE(p[1]));
}

static void splat_kfence(void)
{
	unsigned long timeout = jiffies + 30 * HZ;
	char *p;

	/* KFENCE hands out one sampled object now and then: wait for one */
	while (time_before(jiffies, timeout)) {
		p = kmalloc(32, GFP_KERNEL);
		if (!p)
			return;
		if (is_kfence_address(p)) {
			/* the object sits against a guard page */
			WRITE_ONCE(sink, READ_ONCE(p[PAGE_SIZE - offset_in_page(p)]));
			kfree(p);
			return;
		}
		kfree(p);
		cond_resched();
	}
	pr_err("softodp_splat: no KFENCE object within 30 s\n");
}

static void splat_kmemleak(void)
{
	/* keep only a disguised pointer: the scanner sees no reference */
	leaked = (void *)~(unsigned long)kmalloc(128, GFP_KERNEL);
}

static int __init softodp_splat_init(void)
{
	if (!strcmp(what, "warn"))
		WARN(1, "softodp_splat: deliberate warning for the test suite\n");
	else if (!strcmp(what, "kasan"))
		splat_kasan();
	else if (!strcmp(what, "ubsan"))
		WRITE_ONCE(sink, table[READ_ONCE(index_past)]);
	else if (!strcmp(what, "kfence"))
		splat_kfence();
	else if (!strcmp(what, "kmemleak"))
		splat_kmemleak();
	else
		return -EINVAL;
	pr_info("softodp_splat: deliberate %s report for the test suite\n", what);
	return 0;
}

static void __exit softodp_splat_exit(void)
{
	if (leaked)
		kfree((void *)~(unsigned long)leaked);
}

module_init(softodp_splat_init);
module_exit(softodp_splat_exit);
MODULE_DESCRIPTION("softodp test module: a deliberate kernel bug report on load");
MODULE_LICENSE("GPL");
