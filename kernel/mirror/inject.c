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
 *
 * debugfs softodp_mirror/fault_delay_ms makes every fault that has pages to
 * bring in sleep that long first: a slow fault (swap-in from a slow disk, a
 * slow migration back from device memory) on demand, for tests.
 */
#include <linux/fault-inject.h>
#include <linux/delay.h>
#include "mirror.h"

static u32 sodp_fault_delay_ms;

void sodp_fault_delay(void)
{
	u32 ms = READ_ONCE(sodp_fault_delay_ms);

	if (ms)
		msleep(ms);
}

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
	debugfs_create_u32("fault_delay_ms", 0600, parent, &sodp_fault_delay_ms);
}
#else
bool sodp_fail_alloc(void)
{
	return false;
}

void sodp_fail_init(struct dentry *parent)
{
	debugfs_create_u32("fault_delay_ms", 0600, parent, &sodp_fault_delay_ms);
}
#endif
EXPORT_SYMBOL_GPL(sodp_fail_alloc);
