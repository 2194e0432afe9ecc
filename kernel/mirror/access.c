// SPDX-License-Identifier: GPL-2.0
/*
 * softodp mirror core: the access fast path.
 *
 * For each page of the access, inside a reader section (mirror.h): look the
 * entry up (RCU), and if it is present with the rights the access needs,
 * run the actor on its page. No lock and no shared counter is touched, so
 * QPs copying into the same MR do not contend. An invalidation clears the
 * entry first and then waits for sections in flight (leaf.c), so when it
 * returns no actor runs, or will run, on the page. Otherwise the section
 * ends, the rest of the access is faulted in, and the page is looked up
 * again.
 *
 * A write sets SODP_PFN_DIRTY in the entry with cmpxchg() before the actor
 * runs, once per entry: the clear that ends the entry takes it with xchg()
 * and marks the folio dirty (leaf.c), and a cmpxchg() that lost the race
 * with it sees the entry gone.
 */
#include <linux/highmem.h>
#include <linux/hmm.h>
#include "mirror.h"

/*
 * How many times one page may be faulted in and invalidated again before
 * an access gives up with -EAGAIN instead of livelocking.
 */
#define SODP_ACCESS_MAX_FAULTS	16

/*
 * Run @actor on [va, va + n) of one page: 0 or the actor's error when it
 * ran, 1 when the page is not present with @need.
 */
static int sodp_access_page(struct sodp_range *range, unsigned long va,
			    size_t n, unsigned long need, sodp_actor_t actor,
			    void *priv)
{
	struct sodp_leaf *leaf;
	unsigned long *slot, e, prev;
	void *kaddr;
	int ret = 1;

	if (WARN_ON_ONCE(!sodp_read_begin()))
		return -EDEADLK;
	slot = sodp_lookup(range, va, &leaf);
	if (!slot)
		goto out;
	/* pairs with the commit's release: a peer address is seen with it */
	e = smp_load_acquire(slot);
	for (;;) {
		if ((e & need) != need)
			goto out;
		if (!(need & HMM_PFN_WRITE) ||
		    (e & (SODP_PFN_DIRTY | SODP_PFN_PEER)))
			break;
		prev = cmpxchg(slot, e, e | SODP_PFN_DIRTY);
		if (prev == e)
			break;
		e = prev;
	}
	if (e & SODP_PFN_PEER) {
		/* device-private, mapped in place by its provider */
		ret = actor(leaf->peer[sodp_slot(va)] + offset_in_page(va), n,
			    priv);
	} else {
		kaddr = kmap_local_page(sodp_leaf_page(leaf, e, va));
		ret = actor(kaddr + offset_in_page(va), n, priv);
		kunmap_local(kaddr);
	}
out:
	sodp_read_end();
	return ret;
}

/**
 * sodp_range_access - run an actor on mirrored memory, faulting as needed
 * @range: the range
 * @va: first byte
 * @len: bytes
 * @flags: SODP_WRITE when the actor writes; SODP_NO_FAULT to fail with
 *	-EAGAIN instead of faulting (for callers that cannot sleep)
 * @actor: called once per piece, never across a page boundary, in address
 *	order, in a reader section (see sodp_actor_t)
 * @priv: passed to @actor
 *
 * Sleeps unless SODP_NO_FAULT is given. Takes no lock for present pages.
 * Returns 0 when the actor ran on the whole span; the actor's error; a
 * sodp_range_fault() error; or -EAGAIN (page absent with SODP_NO_FAULT, or
 * invalidated again and again). On error the actor may have run on a
 * leading part of the span.
 */
int sodp_range_access(struct sodp_range *range, unsigned long va, size_t len,
		      unsigned int flags, sodp_actor_t actor, void *priv)
{
	unsigned long need = HMM_PFN_VALID;
	unsigned int faults = 0;
	int ret;

	if (!sodp_in_range(range, va, len))
		return -EFAULT;
	if (flags & SODP_WRITE)
		need |= HMM_PFN_WRITE;

	while (len) {
		size_t n = min_t(size_t, len, PAGE_SIZE - offset_in_page(va));

		ret = sodp_access_page(range, va, n, need, actor, priv);
		if (ret < 0)
			return ret;
		if (!ret) {
			va += n;
			len -= n;
			faults = 0;
			continue;
		}
		if (flags & SODP_NO_FAULT)
			return -EAGAIN;
		if (++faults > SODP_ACCESS_MAX_FAULTS) {
			sodp_count(range, fault_errors, 1);
			return -EAGAIN;
		}
		ret = sodp_range_fault(range, va, len, flags);
		if (ret)
			return ret;
	}
	return 0;
}
EXPORT_SYMBOL_GPL(sodp_range_access);
