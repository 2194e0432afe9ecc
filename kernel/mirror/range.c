// SPDX-License-Identifier: GPL-2.0
/*
 * softodp mirror core: ranges, their interval notifiers and invalidation.
 *
 * Invalidation sequence (sodp_invalidate): take range->lock, which waits for
 * a fault committing on the range; record the notifier sequence so a fault
 * that raced with us fails mmu_interval_read_retry(); clear the entries that
 * overlap the invalidated span and wait for readers that loaded one before
 * (sodp_range_clear, leaf.c); drop the lock and return. From then on no
 * actor can see those pages until a new fault commits them. The cost is
 * that of the leaves present in the span, not of the span.
 */
#include <linux/mm.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include "mirror.h"

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
	 * blockable: we never sleep here, we only wait for a commit or for
	 * readers, which never sleep either.
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
 * The cost does not depend on the size: the page table grows with what is
 * faulted in. Must be called while the address space is live; may sleep.
 * Memory is charged to the address space's memory cgroup (see
 * sodp_mm_charge_begin()). Returns the range, or ERR_PTR(-EINVAL) for an
 * empty or wrapping span, -EFAULT if the address space is gone, -ENOMEM.
 */
struct sodp_range *sodp_range_create(struct sodp_mm *smm, unsigned long start,
				     unsigned long length,
				     struct sodp_counters *parent,
				     const struct sodp_peer_importer *importer)
{
	unsigned long end = start + length;
	struct sodp_range *range;
	struct mem_cgroup *old;
	int ret;

	if (!length || end < start)
		return ERR_PTR(-EINVAL);
	start = ALIGN_DOWN(start, PAGE_SIZE);
	end = min(ALIGN(end, PAGE_SIZE), smm->mm->task_size);
	if (start >= end)
		return ERR_PTR(-EINVAL);

	old = sodp_mm_charge_begin(smm);
	range = sodp_fail_alloc() ? NULL :
		kzalloc(sizeof(*range), GFP_KERNEL_ACCOUNT);
	sodp_mm_charge_end(old);
	if (!range)
		return ERR_PTR(-ENOMEM);
	spin_lock_init(&range->lock);
	xa_init_flags(&range->leaves, XA_FLAGS_ACCOUNT);
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
	struct sodp_leaf *leaf;
	unsigned long dirtied, idx;

	might_sleep();
	spin_lock(&range->lock);
	sodp_range_clear(range, range->start, range->end, &dirtied);
	spin_unlock(&range->lock);
	if (dirtied)
		sodp_count(range, pages_dirtied, dirtied);
	mmu_interval_notifier_remove(&range->notifier);
	/* leaves a fault made but left empty (a refused peer page, say) */
	xa_for_each(&range->leaves, idx, leaf) {
		xa_erase(&range->leaves, idx);
		sodp_leaf_free(leaf);
	}
	xa_destroy(&range->leaves);
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
 * A snapshot: the answer may be stale as soon as it is returned. Takes no
 * lock; costs one lookup per leaf and one load per page of small leaves.
 */
unsigned long sodp_range_present(struct sodp_range *range, unsigned long va,
				 size_t len, unsigned int flags)
{
	unsigned long need = HMM_PFN_VALID;
	unsigned long a, end, n = 0;

	if (!sodp_in_range(range, va, len))
		return 0;
	if (flags & SODP_WRITE)
		need |= HMM_PFN_WRITE;
	end = ALIGN(va + len, PAGE_SIZE);
	a = ALIGN_DOWN(va, PAGE_SIZE);
	rcu_read_lock();
	while (a < end) {
		struct sodp_leaf *leaf = xa_load(&range->leaves,
						 a >> SODP_LEAF_SHIFT);
		unsigned long lend = min(end, ALIGN(a + 1, 1UL << SODP_LEAF_SHIFT));

		if (!leaf) {
			a = lend;
		} else if (leaf->huge) {
			if ((READ_ONCE(leaf->entry) & need) == need)
				n += (lend - a) >> PAGE_SHIFT;
			a = lend;
		} else {
			for (; a < lend; a += PAGE_SIZE)
				n += (READ_ONCE(leaf->e[sodp_slot(a)]) & need) == need;
		}
	}
	rcu_read_unlock();
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
