// SPDX-License-Identifier: GPL-2.0
/*
 * softodp mirror core: device-private pages mapped in place through the
 * peer hook (include/softodp/peer.h).
 *
 * A range created with an importer faults with dev_private_owner =
 * sodp_peer_owner(), so hmm_range_fault() reports a participating
 * provider's pages as they are. Each such entry is offered to the hook at
 * commit time, under range->lock: accepted, the entry is marked
 * SODP_PFN_PEER and the data's address kept in its leaf's peer table;
 * refused (or not writable when the access writes), the page is left for
 * the fallback pass of fault.c, which faults it again without the owner so
 * it migrates to system memory. The invalidation that precedes any
 * migration or unmap of the page releases the mapping (sodp_peer_release)
 * under the lock, after it disabled the entry and waited for copies in
 * flight (leaf.c).
 */
#include <linux/hmm.h>
#include <linux/memremap.h>
#include <linux/mm.h>
#include "mirror.h"

static enum dma_data_direction sodp_peer_dir(unsigned long entry)
{
	/* the importer reads a read-only page, reads and writes a writable one */
	return entry & HMM_PFN_WRITE ? DMA_BIDIRECTIONAL : DMA_TO_DEVICE;
}

atomic_long_t sodp_live_peer_tables = ATOMIC_LONG_INIT(0);

/**
 * sodp_peer_release - give back the peer mapping of a SODP_PFN_PEER entry
 * @range: the range, locked
 * @leaf: the entry's (small) leaf
 * @slot: the entry's index in the leaf; the caller clears or replaces it
 * @entry: the entry
 */
void sodp_peer_release(struct sodp_range *range, struct sodp_leaf *leaf,
		       unsigned long slot, unsigned long entry)
{
	lockdep_assert_held(&range->lock);
	sodp_peer_unmap_page(&range->importer, sodp_entry_page(entry),
			     sodp_peer_dir(entry));
	leaf->peer[slot] = NULL;
}

/**
 * sodp_peer_commit - commit a device-private entry by mapping it in place
 * @range: the range, locked
 * @leaf: the small leaf of @va, with its peer table; the entry is absent
 * @va: the page's address
 * @entry: its hmm pfn entry (VALID, maybe WRITE, a device-private pfn)
 * @fflags: the fault's SODP_* flags
 *
 * Returns true when committed; false when the page must be faulted back to
 * system memory instead (refused, or the access writes and the entry is
 * not writable, as after fork).
 */
bool sodp_peer_commit(struct sodp_range *range, struct sodp_leaf *leaf,
		      unsigned long va, unsigned long entry, unsigned int fflags)
{
	unsigned long slot = sodp_slot(va);
	void *kaddr;

	lockdep_assert_held(&range->lock);
	if ((fflags & SODP_WRITE) && !(entry & HMM_PFN_WRITE))
		return false;
	if (sodp_peer_map_page(&range->importer, hmm_pfn_to_page(entry),
			       sodp_peer_dir(entry), &kaddr)) {
		sodp_count(range, peer_refusals, 1);
		return false;
	}
	leaf->peer[slot] = kaddr;
	/* the address is in place before a reader can see the entry */
	smp_store_release(&leaf->e[slot],
			  SODP_PFN_PEER | (entry & ~HMM_PFN_FLAGS) |
			  (entry & (HMM_PFN_VALID | HMM_PFN_WRITE)));
	leaf->npresent++;
	range->npresent++;
	sodp_count(range, peer_maps, 1);
	return true;
}
