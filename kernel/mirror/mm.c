// SPDX-License-Identifier: GPL-2.0
/*
 * softodp mirror core: one context per address space, shared by every range
 * (and so every memory region) of that process.
 */
#include <linux/debugfs.h>
#include <linux/hashtable.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include "mirror.h"

/* sodp_mm_lock protects sodp_mm_table and the last-reference transition. */
static DEFINE_MUTEX(sodp_mm_lock);
static DEFINE_HASHTABLE(sodp_mm_table, 6);

atomic_t sodp_live_contexts = ATOMIC_INIT(0);
atomic_t sodp_live_ranges = ATOMIC_INIT(0);
static struct dentry *sodp_debugfs;

/**
 * sodp_mm_get - get the mirror context of an address space
 * @mm: the address space, normally current->mm
 *
 * Returns the context, creating it on first use, with a reference the caller
 * drops with sodp_mm_put(); or ERR_PTR(-ENOMEM). A new context records the
 * memory cgroup of @mm's owner: everything the mirror allocates for the
 * address space is charged to it.
 */
struct sodp_mm *sodp_mm_get(struct mm_struct *mm)
{
	struct sodp_mm *smm;

	mutex_lock(&sodp_mm_lock);
	hash_for_each_possible(sodp_mm_table, smm, node, (unsigned long)mm) {
		if (smm->mm == mm) {
			kref_get(&smm->ref);
			goto out;
		}
	}
	smm = sodp_fail_alloc() ? NULL : kzalloc(sizeof(*smm), GFP_KERNEL_ACCOUNT);
	if (!smm) {
		smm = ERR_PTR(-ENOMEM);
		goto out;
	}
	mmgrab(mm);
	smm->mm = mm;
	smm->memcg = get_mem_cgroup_from_mm(mm);
	kref_init(&smm->ref);
	hash_add(sodp_mm_table, &smm->node, (unsigned long)mm);
	atomic_inc(&sodp_live_contexts);
out:
	mutex_unlock(&sodp_mm_lock);
	return smm;
}
EXPORT_SYMBOL_GPL(sodp_mm_get);

/* Take one more reference on a context the caller already holds. */
void sodp_mm_hold(struct sodp_mm *smm)
{
	kref_get(&smm->ref);
}

static void sodp_mm_release(struct kref *ref)
{
	struct sodp_mm *smm = container_of(ref, struct sodp_mm, ref);

	lockdep_assert_held(&sodp_mm_lock);
	hash_del(&smm->node);
	mutex_unlock(&sodp_mm_lock);
	mmdrop(smm->mm);
	mem_cgroup_put(smm->memcg);
	kfree(smm);
	atomic_dec(&sodp_live_contexts);
}

/**
 * sodp_mm_put - drop a reference taken by sodp_mm_get()
 * @smm: the context
 */
void sodp_mm_put(struct sodp_mm *smm)
{
	kref_put_mutex(&smm->ref, sodp_mm_release, &sodp_mm_lock);
}
EXPORT_SYMBOL_GPL(sodp_mm_put);

/**
 * sodp_mm_charge_begin - charge kernel memory to an address space's owner
 * @smm: the context
 *
 * Until sodp_mm_charge_end(), __GFP_ACCOUNT allocations of the calling task
 * (the mirror's tables, page tables hmm_range_fault() allocates, a driver's
 * per-range objects) are charged to the memory cgroup @smm was created in,
 * also when the caller is a kernel worker acting for the process. Nests.
 * Returns the previous charge target, for sodp_mm_charge_end().
 */
struct mem_cgroup *sodp_mm_charge_begin(struct sodp_mm *smm)
{
	return set_active_memcg(smm->memcg);
}
EXPORT_SYMBOL_GPL(sodp_mm_charge_begin);

/**
 * sodp_mm_charge_end - end a sodp_mm_charge_begin() section
 * @old: what sodp_mm_charge_begin() returned
 */
void sodp_mm_charge_end(struct mem_cgroup *old)
{
	set_active_memcg(old);
}
EXPORT_SYMBOL_GPL(sodp_mm_charge_end);

static int sodp_live_show(struct seq_file *m, void *unused)
{
	seq_printf(m, "contexts %d\nranges %d\nleaves %ld\nhuge_leaves %ld\npeer_tables %ld\nbytes %ld\n",
		   atomic_read(&sodp_live_contexts),
		   atomic_read(&sodp_live_ranges),
		   atomic_long_read(&sodp_live_leaves),
		   atomic_long_read(&sodp_live_huge_leaves),
		   atomic_long_read(&sodp_live_peer_tables),
		   sodp_leaf_bytes());
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(sodp_live);

static int __init sodp_mirror_init(void)
{
	int ret = sodp_leaf_init();

	if (ret)
		return ret;
	sodp_debugfs = debugfs_create_dir("softodp_mirror", NULL);
	debugfs_create_file("live", 0444, sodp_debugfs, NULL, &sodp_live_fops);
	sodp_fail_init(sodp_debugfs);
	return 0;
}

static void __exit sodp_mirror_exit(void)
{
	debugfs_remove_recursive(sodp_debugfs);
	/* Users hold module references, so nothing can be left here. */
	WARN_ON(!hash_empty(sodp_mm_table));
	WARN_ON(atomic_read(&sodp_live_ranges));
	sodp_leaf_exit();
}

module_init(sodp_mirror_init);
module_exit(sodp_mirror_exit);
MODULE_DESCRIPTION("softodp mirror core: HMM mirroring of user address ranges");
MODULE_LICENSE("GPL");
