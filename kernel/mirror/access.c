// SPDX-License-Identifier: GPL-2.0
/*
 * softodp mirror core: the access fast path.
 *
 * For each page of the access: take range->lock, and if the entry is
 * present with the rights the access needs, run the actor on it with the
 * lock held (so an invalidation of that page waits until the actor is done),
 * then drop the lock. Otherwise drop the lock, fault the rest of the access
 * in, and look again. No sleeping lock is taken on the fast path.
 *
 * A write marks the entry SODP_PFN_DIRTY under the same lock, so the folio
 * is dirtied before the entry can go (range.c, sodp_range_clear()).
 */
#include <linux/highmem.h>
#include <linux/hmm.h>
#include "mirror.h"

/*
 * How many times one page may be faulted in and invalidated again before
 * an access gives up with -EAGAIN instead of livelocking.
 */
#define SODP_ACCESS_MAX_FAULTS	16

/**
 * sodp_range_access - run an actor on mirrored memory, faulting as needed
 * @range: the range
 * @va: first byte
 * @len: bytes
 * @flags: SODP_WRITE when the actor writes; SODP_NO_FAULT to fail with
 *	-EAGAIN instead of faulting (for callers that cannot sleep)
 * @actor: called once per piece, never across a page boundary, in address
 *	order, with the range lock held (see sodp_actor_t)
 * @priv: passed to @actor
 *
 * Sleeps unless SODP_NO_FAULT is given. Returns 0 when the actor ran on the
 * whole span; the actor's error; a sodp_range_fault() error; or -EAGAIN
 * (page absent with SODP_NO_FAULT, or invalidated again and again). On
 * error the actor may have run on a leading part of the span.
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
		size_t off = offset_in_page(va);
		size_t n = min_t(size_t, len, PAGE_SIZE - off);
		unsigned long entry, idx;
		void *kaddr;

		spin_lock(&range->lock);
		idx = sodp_index(range, va);
		entry = range->pfns[idx];
		if ((entry & need) == need) {
			if (entry & SODP_PFN_PEER) {
				/* device-private, mapped in place by its provider */
				ret = actor(range->peer[idx] + off, n, priv);
			} else {
				kaddr = kmap_local_page(sodp_entry_page(entry));
				ret = actor(kaddr + off, n, priv);
				kunmap_local(kaddr);
				/* even on error: the actor may have written */
				if (flags & SODP_WRITE)
					range->pfns[idx] = entry | SODP_PFN_DIRTY;
			}
			spin_unlock(&range->lock);
			if (ret)
				return ret;
			va += n;
			len -= n;
			faults = 0;
			continue;
		}
		spin_unlock(&range->lock);

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
