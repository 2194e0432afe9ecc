// SPDX-License-Identifier: GPL-2.0
/*
 * softodp mirror core: ranges, their interval notifiers and invalidation.
 *
 * Invalidation sequence (sodp_invalidate): take range->lock, which waits for
 * any actor running on the range; record the notifier sequence so a fault
 * that raced with us fails mmu_interval_read_retry(); clear the entries that
 * overlap the invalidated span; drop the lock and return. From then on no
 * actor can see those pages until a new fault commits them.
 */
#include <linux/mm.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include "mirror.h"

/**
 * sodp_range_clear - drop the entries of [start, end) of a range
 * @range: the range, locked
 * @start: first byte, page aligned, inside the range
 * @end: one past the last byte, page aligned, inside the range
 * @dirtied: set to the number of entries whose page was marked dirty
 *
 * An entry an access wrote through (SODP_PFN_DIRTY) has its folio marked
 * dirty before it goes. The page is still mapped by the process while we
 * run: an invalidation calls us before the mm changes the page table, and
 * teardown calls us with the notifier still registered, so an unmap of the
 * page would wait for range->lock. folio_mark_dirty() needs no folio lock
 * then (the mapping cannot be truncated away under a mapped page) and does
 * not sleep. Returns the number of entries cleared.
 */
unsigned long sodp_range_clear(struct sodp_range *range, unsigned long start,
			       unsigned long end, unsigned long *dirtied)
{
	unsigned long i, cleared = 0;

	lockdep_assert_held(&range->lock);
	*dirtied = 0;
	for (i = sodp_index(range, start); i < sodp_index(range, end); i++) {
		unsigned long e = range->pfns[i];

		if (!e)
			continue;
		if (e & SODP_PFN_PEER) {
			sodp_peer_release(range, i);
		} else if (e & SODP_PFN_DIRTY) {
			folio_mark_dirty(page_folio(sodp_entry_page(e)));
			(*dirtied)++;
		}
		range->pfns[i] = 0;
		cleared++;
	}
	range->npresent -= cleared;
	return cleared;
}

static bool sodp_invalidate(struct mmu_interval_notifier *mni,
			    const struct mmu_notifier_range *nr,
			    unsigned long cur_seq)
{
	struct sodp_range *range = container_of(mni, struct sodp_range, notifier);
	unsigned long start = max(nr->start, range->start);
	unsigned long end = min(nr->end, range->end);
	unsigned long cleared, dirtied;
	bool empty;

	/*
	 * A spinlock, so this is the same whether or not the range is
	 * blockable: we never sleep here, we only wait for actors, which
	 * never sleep either.
	 */
	spin_lock(&range->lock);
	mmu_interval_set_seq(mni, cur_seq);
	cleared = sodp_range_clear(range, start, end, &dirtied);
	empty = cleared && !range->npresent;
	spin_unlock(&range->lock);

	if (empty && range->emptied)
		range->emptied(range->emptied_data);

	sodp_count(range, invalidations, 1);
	if (cleared) {
		sodp_count(range, invalidations_handled, 1);
		sodp_count(range, pages_invalidated, cleared);
	}
	if (dirtied)
		sodp_count(range, pages_dirtied, dirtied);
	return true;
}

static const struct mmu_interval_notifier_ops sodp_range_ops = {
	.invalidate = sodp_invalidate,
};

/**
 * sodp_range_create - start mirroring part of an address space
 * @smm: the address space's context (see sodp_mm_get())
 * @start: first byte; rounded down to a page
 * @length: bytes; the end is rounded up to a page and clipped to the top
 *	of the user address space
 * @parent: a counter block the range also counts into (or NULL); it must
 *	outlive the range
 * @importer: the device the range is accessed for, so device-private pages
 *	of peer providers can be mapped in place (see softodp/peer.h); NULL:
 *	such pages are always migrated back to system memory on access
 *
 * Nothing is faulted in: pages come in on access or by sodp_range_fault().
 * Must be called while the address space is live; may sleep. Memory is
 * charged to the address space's memory cgroup (see sodp_mm_charge_begin()).
 * Returns the range, or ERR_PTR(-EINVAL) for an empty or wrapping span,
 * -EFAULT if the address space is gone, -ENOMEM (the page table would not
 * fit in memory or in the cgroup's limit; logged, rate-limited).
 */
struct sodp_range *sodp_range_create(struct sodp_mm *smm, unsigned long start,
				     unsigned long length,
				     struct sodp_counters *parent,
				     const struct sodp_peer_importer *importer)
{
	unsigned long end = start + length;
	struct sodp_range *range;
	struct mem_cgroup *old;
	unsigned long npages;
	int ret;

	if (!length || end < start)
		return ERR_PTR(-EINVAL);
	start = ALIGN_DOWN(start, PAGE_SIZE);
	end = min(ALIGN(end, PAGE_SIZE), smm->mm->task_size);
	if (start >= end)
		return ERR_PTR(-EINVAL);

	npages = (end - start) >> PAGE_SHIFT;

	old = sodp_mm_charge_begin(smm);
	range = sodp_fail_alloc() ? NULL :
		kzalloc(sizeof(*range), GFP_KERNEL_ACCOUNT);
	/*
	 * One entry per page of the span, whatever its size: a user may ask
	 * for more than fits, so fail quietly (no allocation warning) and
	 * without invoking the OOM killer.
	 */
	if (range && !sodp_fail_alloc())
		range->pfns = kvcalloc(npages, sizeof(*range->pfns),
				       GFP_KERNEL_ACCOUNT | __GFP_NOWARN |
				       __GFP_RETRY_MAYFAIL);
	sodp_mm_charge_end(old);
	if (!range || !range->pfns) {
		pr_info_ratelimited("softodp_mirror: no memory for the page table of %lu pages at %#lx (%s[%d])\n",
				    npages, start, current->comm,
				    task_pid_nr(current));
		ret = -ENOMEM;
		goto err_free;
	}
	spin_lock_init(&range->lock);
	range->start = start;
	range->end = end;
	range->smm = smm;
	range->cnt.parent = parent;
	if (importer)
		range->importer = *importer;

	if (!mmget_not_zero(smm->mm)) {
		ret = -EFAULT;
		goto err_free;
	}
	ret = mmu_interval_notifier_insert(&range->notifier, smm->mm, start,
					   end - start, &sodp_range_ops);
	mmput(smm->mm);
	if (ret)
		goto err_free;
	sodp_mm_hold(smm);
	atomic_inc(&sodp_live_ranges);
	return range;

err_free:
	if (range)
		kvfree(range->pfns);
	kfree(range);
	return ERR_PTR(ret);
}
EXPORT_SYMBOL_GPL(sodp_range_create);

/**
 * sodp_range_destroy - stop mirroring and free a range
 * @range: the range
 *
 * The caller guarantees no sodp_range_access() or sodp_range_fault() on
 * @range is running or will run. Pages written through the range are
 * marked dirty and peer mappings given back first, while the notifier
 * still keeps the pages mapped (see sodp_range_clear()). Waits for a
 * notifier call in progress. May sleep.
 */
void sodp_range_destroy(struct sodp_range *range)
{
	struct sodp_mm *smm = range->smm;
	unsigned long dirtied;

	might_sleep();
	spin_lock(&range->lock);
	sodp_range_clear(range, range->start, range->end, &dirtied);
	spin_unlock(&range->lock);
	if (dirtied)
		sodp_count(range, pages_dirtied, dirtied);
	mmu_interval_notifier_remove(&range->notifier);
	kvfree(range->peer);
	kvfree(range->pfns);
	kfree(range);
	sodp_mm_put(smm);
	atomic_dec(&sodp_live_ranges);
}
EXPORT_SYMBOL_GPL(sodp_range_destroy);

/**
 * sodp_range_start - first mirrored byte (page aligned)
 * @range: the range
 */
unsigned long sodp_range_start(const struct sodp_range *range)
{
	return range->start;
}
EXPORT_SYMBOL_GPL(sodp_range_start);

/**
 * sodp_range_length - mirrored bytes (a multiple of the page size)
 * @range: the range
 */
unsigned long sodp_range_length(const struct sodp_range *range)
{
	return range->end - range->start;
}
EXPORT_SYMBOL_GPL(sodp_range_length);

/**
 * sodp_range_present - count pages mapped for an access
 * @range: the range
 * @va: first byte
 * @len: bytes
 * @flags: SODP_WRITE to count only writable pages
 *
 * A snapshot: the answer may be stale as soon as it is returned.
 */
unsigned long sodp_range_present(struct sodp_range *range, unsigned long va,
				 size_t len, unsigned int flags)
{
	unsigned long need = HMM_PFN_VALID;
	unsigned long i, end, n = 0;

	if (!sodp_in_range(range, va, len))
		return 0;
	if (flags & SODP_WRITE)
		need |= HMM_PFN_WRITE;
	end = sodp_index(range, ALIGN(va + len, PAGE_SIZE));
	spin_lock(&range->lock);
	for (i = sodp_index(range, va); i < end; i++)
		n += (range->pfns[i] & need) == need;
	spin_unlock(&range->lock);
	return n;
}
EXPORT_SYMBOL_GPL(sodp_range_present);

/**
 * sodp_range_npresent - number of pages currently mirrored
 * @range: the range
 *
 * A snapshot, like sodp_range_present().
 */
unsigned long sodp_range_npresent(struct sodp_range *range)
{
	return READ_ONCE(range->npresent);
}
EXPORT_SYMBOL_GPL(sodp_range_npresent);

/**
 * sodp_range_on_empty - ask to be told when invalidation empties a range
 * @range: the range, not yet in use by anyone else
 * @fn: called with @data, without locks, from the notifier (so it may not
 *	sleep: schedule work), each time an invalidation clears the last
 *	present page; the range may already be refilled when it runs
 * @data: @fn's argument
 */
void sodp_range_on_empty(struct sodp_range *range, void (*fn)(void *data),
			 void *data)
{
	range->emptied_data = data;
	range->emptied = fn;
}
EXPORT_SYMBOL_GPL(sodp_range_on_empty);

/**
 * sodp_range_stats - read a range's counters
 * @range: the range
 * @out: filled with the counters
 */
void sodp_range_stats(struct sodp_range *range, struct sodp_stats *out)
{
	sodp_counters_read(&range->cnt, out);
}
EXPORT_SYMBOL_GPL(sodp_range_stats);

/**
 * sodp_counters_read - snapshot a counter block
 * @c: the counters
 * @out: filled with their values
 */
void sodp_counters_read(const struct sodp_counters *c, struct sodp_stats *out)
{
	out->faults = atomic64_read(&c->faults);
	out->faults_handled = atomic64_read(&c->faults_handled);
	out->pages_faulted = atomic64_read(&c->pages_faulted);
	out->huge_mappings = atomic64_read(&c->huge_mappings);
	out->fault_retries = atomic64_read(&c->fault_retries);
	out->fault_timeouts = atomic64_read(&c->fault_timeouts);
	out->fault_errors = atomic64_read(&c->fault_errors);
	out->invalidations = atomic64_read(&c->invalidations);
	out->invalidations_handled = atomic64_read(&c->invalidations_handled);
	out->pages_invalidated = atomic64_read(&c->pages_invalidated);
	out->pages_prefetched = atomic64_read(&c->pages_prefetched);
	out->pages_dirtied = atomic64_read(&c->pages_dirtied);
	out->peer_maps = atomic64_read(&c->peer_maps);
	out->peer_refusals = atomic64_read(&c->peer_refusals);
	out->peer_fallbacks = atomic64_read(&c->peer_fallbacks);
}
EXPORT_SYMBOL_GPL(sodp_counters_read);
