// SPDX-License-Identifier: GPL-2.0
/*
 * softodp mirror core: fault injection in front of our own allocations.
 *
 * debugfs softodp_mirror/fail/ is a standard fault_attr (probability,
 * interval, times, space, verbose, task-filter; see
 * Documentation/fault-injection/fault-injection.rst). Every allocation the
 * mirror makes, and those of its users that ask sodp_fail_alloc() first,
 * fails with -ENOMEM when it fires, whichever task allocates: this reaches
 * the paths that run in kernel workers (responder faults, queued
 * prefetches, implicit chunks), which /proc/<pid>/fail-nth cannot.
 */
#include <linux/fault-inject.h>
#include "mirror.h"

#ifdef CONFIG_FAULT_INJECTION
static DECLARE_FAULT_ATTR(sodp_fail_attr);

/**
 * sodp_fail_alloc - should the allocation about to be made fail?
 *
 * Returns true when softodp_mirror/fail fires; the caller then behaves as
 * if its allocation had returned NULL.
 */
bool sodp_fail_alloc(void)
{
	return should_fail(&sodp_fail_attr, 1);
}

void sodp_fail_init(struct dentry *parent)
{
	fault_create_debugfs_attr("fail", parent, &sodp_fail_attr);
}
#else
bool sodp_fail_alloc(void)
{
	return false;
}

void sodp_fail_init(struct dentry *parent)
{
}
#endif
EXPORT_SYMBOL_GPL(sodp_fail_alloc);
