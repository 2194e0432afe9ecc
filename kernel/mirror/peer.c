// SPDX-License-Identifier: GPL-2.0
/*
 * softodp mirror core: device-private pages mapped in place through the
 * peer hook (include/softodp/peer.h).
 *
 * A range created with an importer faults with dev_private_owner =
 * sodp_peer_owner(), so hmm_range_fault() reports a participating
 * provider's pages as they are. Each such entry is offered to the hook at
 * commit time, under range->lock: accepted, the entry is marked
 * SODP_PFN_PEER and the data's address kept in range->peer[]; refused (or
 * not writable when the access writes), the page is left for the fallback
 * pass of fault.c, which faults it again without the owner so it migrates
 * to system memory. The invalidation that precedes any migration or unmap
 * of the page releases the mapping (sodp_peer_release) while holding the
 * lock, i.e. after copies in flight are done.
 */
#include <linux/hmm.h>
#include <linux/memremap.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include "mirror.h"

static enum dma_data_direction sodp_peer_dir(unsigned long entry)
{
	/* the importer reads a read-only page, reads and writes a writable one */
	return entry & HMM_PFN_WRITE ? DMA_BIDIRECTIONAL : DMA_TO_DEVICE;
}

/**
 * sodp_peer_release - give back the peer mapping of a SODP_PFN_PEER entry
 * @range: the range, locked
 * @idx: the entry; the caller clears or replaces it
 */
void sodp_peer_release(struct sodp_range *range, unsigned long idx)
{
	unsigned long entry = range->pfns[idx];

	lockdep_assert_held(&range->lock);
	sodp_peer_unmap_page(&range->importer, sodp_entry_page(entry),
			     sodp_peer_dir(entry));
	range->peer[idx] = NULL;
}

/* Whether @hr holds any device-private page (before taking the lock). */
bool sodp_peer_seen(const struct hmm_range *hr)
{
	unsigned long i, n = (hr->end - hr->start) >> PAGE_SHIFT;

	for (i = 0; i < n; i++)
		if ((hr->hmm_pfns[i] & HMM_PFN_VALID) &&
		    is_device_private_page(hmm_pfn_to_page(hr->hmm_pfns[i])))
			return true;
	return false;
}

/*
 * Make sure range->peer exists before a device-private entry is committed.
 * Allocates without the lock; returns -ENOMEM or 0.
 */
int sodp_peer_prepare(struct sodp_range *range)
{
	void **peer;

	if (READ_ONCE(range->peer))
		return 0;
	peer = sodp_fail_alloc() ? NULL :
		kvcalloc((range->end - range->start) >> PAGE_SHIFT,
			 sizeof(*peer), GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
	if (!peer)
		return -ENOMEM;
	spin_lock(&range->lock);
	if (!range->peer) {
		range->peer = peer;
		peer = NULL;
	}
	spin_unlock(&range->lock);
	kvfree(peer);
	return 0;
}

/**
 * sodp_peer_commit - commit a device-private entry by mapping it in place
 * @range: the range, locked, with range->peer allocated
 * @va: the page's address
 * @entry: its hmm pfn entry (VALID, maybe WRITE, a device-private pfn)
 * @fflags: the fault's SODP_* flags
 *
 * Returns true when committed; false when the page must be faulted back to
 * system memory instead (refused, or the access writes and the entry is
 * not writable, as after fork).
 */
bool sodp_peer_commit(struct sodp_range *range, unsigned long va,
		      unsigned long entry, unsigned int fflags)
{
	unsigned long idx = sodp_index(range, va);
	void *kaddr;

	lockdep_assert_held(&range->lock);
	if ((fflags & SODP_WRITE) && !(entry & HMM_PFN_WRITE))
		return false;
	if (range->pfns[idx] & SODP_PFN_PEER)
		sodp_peer_release(range, idx);
	if (sodp_peer_map_page(&range->importer, hmm_pfn_to_page(entry),
			       sodp_peer_dir(entry), &kaddr)) {
		sodp_count(range, peer_refusals, 1);
		return false;
	}
	range->npresent += !range->pfns[idx];
	range->pfns[idx] = SODP_PFN_PEER | (entry & ~HMM_PFN_FLAGS) |
			   (entry & (HMM_PFN_VALID | HMM_PFN_WRITE));
	range->peer[idx] = kaddr;
	sodp_count(range, peer_maps, 1);
	sodp_count(range, pages_faulted, 1);
	return true;
}
