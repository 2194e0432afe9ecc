// SPDX-License-Identifier: GPL-2.0
/*
 * softodp mirror core: the sparse page table of a range, and the reader
 * sections that let copies run without a lock.
 *
 * A range keeps one leaf per PMD-sized piece of its span that has a page
 * present (struct sodp_leaf): a small leaf of SODP_LEAF_PAGES hmm entries,
 * or a huge leaf, one entry for a THP or hugetlb page. Leaves are allocated
 * by the fault that commits their first page and retired when invalidation
 * empties them, so memory, invalidation and teardown follow what is present.
 *
 * Clearing (sodp_range_clear), under range->lock:
 *   1. every present entry of the span is taken with xchg(): a page an
 *	access wrote (SODP_PFN_DIRTY) has its folio marked dirty; a peer
 *	entry only loses HMM_PFN_VALID, so readers stop using it but its
 *	mapping is still known
 *   2. sodp_wait_readers(): readers that loaded an entry before step 1
 *	finish their copy
 *   3. peer mappings are given back; emptied leaves leave the xarray and
 *	are freed after an RCU grace period (a reader may still hold one)
 * Only then does the caller drop the lock and the mm go on with the pages.
 */
#include <linux/mm.h>
#include <linux/slab.h>
#include "mirror.h"

DEFINE_PER_CPU(unsigned long, sodp_reader_seq);

static struct kmem_cache *sodp_leaf_cache;

atomic_long_t sodp_live_leaves = ATOMIC_LONG_INIT(0);
atomic_long_t sodp_live_huge_leaves = ATOMIC_LONG_INIT(0);

/**
 * sodp_wait_readers - wait for reader sections in flight
 *
 * Called by a writer after it cleared entries: returns once every reader
 * section that was running when it was called has ended. A section that
 * starts later loads the cleared entries (the full barriers on both sides
 * order the writer's clear before its reads of the counts, and a reader's
 * odd count before its loads of entries). Bounded by one section per CPU:
 * a CPU whose count moved on is not waited for again. Never sleeps.
 */
void sodp_wait_readers(void)
{
	int cpu;

	/* the caller's clears are visible before we read any count */
	smp_mb();
	for_each_online_cpu(cpu) {
		unsigned long *p = per_cpu_ptr(&sodp_reader_seq, cpu);
		unsigned long seq = READ_ONCE(*p);

		if (!(seq & 1))
			continue;
		while (READ_ONCE(*p) == seq)
			cpu_relax();
	}
	/* the readers' accesses happen before whatever the caller does next */
	smp_mb();
}

/**
 * sodp_leaf_alloc - allocate a zeroed leaf
 * @huge: a huge leaf (one entry) rather than a small one
 *
 * Charged to the active memory cgroup (see sodp_mm_charge_begin()). May
 * sleep. Returns NULL when out of memory.
 */
struct sodp_leaf *sodp_leaf_alloc(bool huge)
{
	struct sodp_leaf *leaf;

	if (sodp_fail_alloc())
		return NULL;
	if (huge)
		leaf = kzalloc(sizeof(*leaf), GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
	else
		leaf = kmem_cache_zalloc(sodp_leaf_cache,
					 GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
	if (!leaf)
		return NULL;
	leaf->huge = huge;
	atomic_long_inc(huge ? &sodp_live_huge_leaves : &sodp_live_leaves);
	return leaf;
}

/* Take a leaf (and its peer table) off the live counts. */
static void sodp_leaf_uncount(struct sodp_leaf *leaf)
{
	if (leaf->huge) {
		atomic_long_dec(&sodp_live_huge_leaves);
		return;
	}
	if (leaf->peer)
		atomic_long_dec(&sodp_live_peer_tables);
	atomic_long_dec(&sodp_live_leaves);
}

static void __sodp_leaf_free(struct sodp_leaf *leaf)
{
	if (leaf->huge) {
		kfree(leaf);
		return;
	}
	kvfree(leaf->peer);
	kmem_cache_free(sodp_leaf_cache, leaf);
}

/**
 * sodp_leaf_free - free a leaf no reader can see
 * @leaf: the leaf, or NULL
 */
void sodp_leaf_free(struct sodp_leaf *leaf)
{
	if (!leaf)
		return;
	sodp_leaf_uncount(leaf);
	__sodp_leaf_free(leaf);
}

static void sodp_leaf_free_rcu(struct rcu_head *rcu)
{
	__sodp_leaf_free(container_of(rcu, struct sodp_leaf, rcu));
}

/**
 * sodp_leaf_retire - take an empty leaf out of a range and free it later
 * @range: the range, locked
 * @idx: an index the leaf is stored at
 * @leaf: the leaf
 *
 * A multi-index entry leaves every index it covers at once. The leaf
 * leaves the live counts now and its memory after a grace period.
 */
void sodp_leaf_retire(struct sodp_range *range, unsigned long idx,
		      struct sodp_leaf *leaf)
{
	lockdep_assert_held(&range->lock);
	xa_erase(&range->leaves, idx);
	sodp_leaf_uncount(leaf);
	call_rcu(&leaf->rcu, sodp_leaf_free_rcu);
}

/* Step 1 for a small leaf: returns the entries taken; counts peers. */
static unsigned long sodp_small_take(struct sodp_leaf *leaf,
				     unsigned long start, unsigned long end,
				     unsigned long *dirtied,
				     unsigned long *peers)
{
	unsigned long va, taken = 0;

	for (va = start; va < end; va += PAGE_SIZE) {
		unsigned long *e = &leaf->e[sodp_slot(va)];
		unsigned long old = READ_ONCE(*e);

		if (!old)
			continue;
		if (old & SODP_PFN_PEER) {
			/* readers never write peer entries */
			WRITE_ONCE(*e, old & ~HMM_PFN_VALID);
			(*peers)++;
			continue;
		}
		old = xchg(e, 0);
		if (old & SODP_PFN_DIRTY) {
			folio_mark_dirty(page_folio(sodp_entry_page(old)));
			(*dirtied)++;
		}
		taken++;
	}
	return taken;
}

/* Step 3 for a small leaf: give back the peer mappings step 1 disabled. */
static unsigned long sodp_small_release(struct sodp_range *range,
					struct sodp_leaf *leaf,
					unsigned long start, unsigned long end)
{
	unsigned long va, released = 0;

	for (va = start; va < end; va += PAGE_SIZE) {
		unsigned long *e = &leaf->e[sodp_slot(va)];
		unsigned long old = READ_ONCE(*e);

		if ((old & (SODP_PFN_PEER | HMM_PFN_VALID)) != SODP_PFN_PEER)
			continue;
		sodp_peer_release(range, leaf, sodp_slot(va), old);
		WRITE_ONCE(*e, 0);
		released++;
	}
	return released;
}

/**
 * sodp_range_clear - drop what a range mirrors of [start, end)
 * @range: the range, locked
 * @start: first byte, page aligned, inside the range
 * @end: one past the last byte, page aligned, inside the range
 * @dirtied: set to the number of entries whose page was marked dirty
 *
 * A huge leaf that overlaps the span goes whole. Waits for readers that
 * may still use what it cleared (the sequence at the top of this file), so
 * when it returns nothing touches those pages. Work is proportional to the
 * leaves present in the span. The pages are still mapped by the process
 * while we run (an invalidation runs before the mm changes the page table;
 * teardown runs with the notifier registered), so folio_mark_dirty() needs
 * no folio lock and does not sleep. Returns the number of pages cleared.
 */
unsigned long sodp_range_clear(struct sodp_range *range, unsigned long start,
			       unsigned long end, unsigned long *dirtied)
{
	unsigned long first = start >> SODP_LEAF_SHIFT;
	unsigned long last = (end - 1) >> SODP_LEAF_SHIFT;
	unsigned long idx, cleared = 0, peers = 0;
	struct sodp_leaf *leaf;

	lockdep_assert_held(&range->lock);
	*dirtied = 0;
	xa_for_each_range(&range->leaves, idx, leaf, first, last) {
		unsigned long s = max(start, idx << SODP_LEAF_SHIFT);
		unsigned long e = min(end, (idx + 1) << SODP_LEAF_SHIFT);
		unsigned long n;

		if (leaf->huge) {
			unsigned long old = xchg(&leaf->entry, 0);

			if (old & SODP_PFN_DIRTY) {
				folio_mark_dirty(page_folio(sodp_entry_page(old)));
				(*dirtied)++;
			}
			n = leaf->npresent;
			leaf->npresent = 0;
		} else {
			n = sodp_small_take(leaf, s, e, dirtied, &peers);
			leaf->npresent -= n;
		}
		cleared += n;
		if (!leaf->npresent)
			sodp_leaf_retire(range, idx, leaf);
	}
	if (!cleared && !peers)
		goto out;
	sodp_wait_readers();
	if (!peers)
		goto out;
	xa_for_each_range(&range->leaves, idx, leaf, first, last) {
		unsigned long n;

		if (leaf->huge || !leaf->peer)
			continue;
		n = sodp_small_release(range, leaf,
				       max(start, idx << SODP_LEAF_SHIFT),
				       min(end, (idx + 1) << SODP_LEAF_SHIFT));
		leaf->npresent -= n;
		cleared += n;
		if (!leaf->npresent)
			sodp_leaf_retire(range, idx, leaf);
	}
out:
	range->npresent -= cleared;
	return cleared;
}

/**
 * sodp_leaf_bytes - bytes of the leaves and peer tables in use
 *
 * Leaves allocated and not yet retired (retired ones are freed after an
 * RCU grace period), at the sizes requested, without the allocators'
 * rounding: a small leaf is struct_size(leaf, e, SODP_LEAF_PAGES), 8 bytes
 * per page plus a header.
 */
long sodp_leaf_bytes(void)
{
	return atomic_long_read(&sodp_live_leaves) *
		(long)struct_size_t(struct sodp_leaf, e, SODP_LEAF_PAGES) +
	       atomic_long_read(&sodp_live_huge_leaves) *
		(long)sizeof(struct sodp_leaf) +
	       atomic_long_read(&sodp_live_peer_tables) *
		(long)(SODP_LEAF_PAGES * sizeof(void *));
}

/**
 * sodp_leaf_init - set up the leaf allocator (module init)
 *
 * Returns 0 or -ENOMEM.
 */
int sodp_leaf_init(void)
{
	/* a mapping bigger than a leaf is one multi-index entry */
	BUILD_BUG_ON(!IS_ENABLED(CONFIG_XARRAY_MULTI));
	sodp_leaf_cache = kmem_cache_create("softodp_leaf",
					    struct_size_t(struct sodp_leaf, e,
							  SODP_LEAF_PAGES),
					    0, SLAB_ACCOUNT, NULL);
	return sodp_leaf_cache ? 0 : -ENOMEM;
}

/**
 * sodp_leaf_exit - tear the leaf allocator down (module exit)
 */
void sodp_leaf_exit(void)
{
	rcu_barrier();	/* leaves retired with call_rcu() */
	kmem_cache_destroy(sodp_leaf_cache);
}
