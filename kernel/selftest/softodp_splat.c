// SPDX-License-Identifier: GPL-2.0
/*
 * softodp_splat - a module whose only job is to WARN when it is loaded.
 *
 * The test suite loads it to prove that a kernel splat in the guest fails a
 * test run. It is never loaded otherwise.
 */
#include <linux/module.h>
#include <linux/bug.h>

static int __init softodp_splat_init(void)
{
	WARN(1, "softodp_splat: deliberate warning for the test suite\n");
	return 0;
}

static void __exit softodp_splat_exit(void)
{
}

module_init(softodp_splat_init);
module_exit(softodp_splat_exit);
MODULE_DESCRIPTION("softodp test module: WARN on load");
MODULE_LICENSE("GPL");
