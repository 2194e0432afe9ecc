/* SPDX-License-Identifier: GPL-2.0 */
/* softodp mirror core: definitions shared by its files (not an API). */
#ifndef _SOFTODP_MIRROR_INTERNAL_H
#define _SOFTODP_MIRROR_INTERNAL_H

#include <linux/atomic.h>
#include <linux/debugfs.h>
#include <linux/hmm.h>
#include <linux/kref.h>
#include <linux/memcontrol.h>
#include <linux/mmu_notifier.h>
#include <linux/spinlock.h>
#include <softodp/mirror.h>
#include <softodp/peer.h>

/*
 * Our own flag in a committed entry: the page is device-private and was
 * mapped through the peer hook; its data is at range->peer[index]. (hmm
 * never hands us HMM_PFN_ERROR in a committed entry, so the bit is free.)
 */
#define SODP_PFN_PEER	HMM_PFN_ERROR

/*
 * Our own flag in a committed entry: an access wrote the page through this
 * entry. The page's folio is marked dirty when the entry goes (invalidation
 * or range teardown), so the mm never discards or cleans data the device
 * wrote (see docs/odp.md, "Dirty tracking"). The bit lies above any
 * physical pfn and below hmm's flag byte: sodp_entry_page() masks it.
 */
#define SODP_PFN_DIRTY	BIT(HMM_PFN_ORDER_SHIFT - 1)

static inline struct page *sodp_entry_page(unsigned long entry)
{
	return pfn_to_page(entry & ~(HMM_PFN_FLAGS | SODP_PFN_DIRTY));
}

/**
 * struct sodp_mm - the mirror context of one address space
 * @mm: the address space; mmgrab()ed, so the struct outlives us, but the
 *	address space itself may be torn down (use mmget_not_zero())
 * @ref: one reference per sodp_mm_get() and per live range
 * @node: entry in the context table, protected by sodp_mm_lock
 * @memcg: the memory cgroup of the process that created the context
 *	(referenced; NULL without memcg): kernel memory allocated for the
 *	address space's mirror is charged to it, whichever task allocates
 */
struct sodp_mm {
	struct mm_struct *mm;
	struct kref ref;
	struct hlist_node node;
	struct mem_cgroup *memcg;
};

/**
 * struct sodp_range - one mirrored range and its interval notifier
 * @notifier: covers exactly [@start, @end)
 * @smm: the owning context (referenced)
 * @start: first byte, page aligned
 * @end: one past the last byte, page aligned
 * @lock: protects @pfns and pairs mmu_interval_set_seq() with
 *	mmu_interval_read_retry(). Held by an actor for the whole of its run,
 *	by a fault while it commits, and by the notifier while it clears. It is
 *	a spinlock so that the notifier may take it in non-blockable context;
 *	nothing sleeps and no mm lock is taken while it is held.
 * @pfns: one hmm pfn entry per page (HMM_PFN_VALID, HMM_PFN_WRITE, map
 *	order, pfn), 0 when absent
 * @npresent: entries of @pfns that are not 0 (under @lock)
 * @importer: the device accesses are made for; importer.dev NULL: device-
 *	private pages are always migrated back, never mapped in place
 * @peer: for SODP_PFN_PEER entries, the kernel address of the data (under
 *	@lock; allocated the first time a device-private page is seen)
 * @emptied: called (no lock held, may not sleep) when an invalidation
 *	leaves the range with nothing present; set once by the creator
 * @emptied_data: its argument
 * @cnt: counters; cnt.parent is the creator's block
 */
struct sodp_range {
	struct mmu_interval_notifier notifier;
	struct sodp_mm *smm;
	unsigned long start;
	unsigned long end;
	spinlock_t lock;	/* see @lock above */
	unsigned long *pfns;
	unsigned long npresent;
	struct sodp_peer_importer importer;
	void **peer;
	void (*emptied)(void *data);
	void *emptied_data;
	struct sodp_counters cnt;
};

static inline void __sodp_count(struct sodp_range *range, size_t off, s64 n)
{
	struct sodp_counters *c;

	for (c = &range->cnt; c; c = c->parent)
		atomic64_add(n, (atomic64_t *)((char *)c + off));
}

/* Add @n to counter @field of @range and of every parent block. */
#define sodp_count(range, field, n)					\
	__sodp_count(range, offsetof(struct sodp_counters, field), n)

static inline unsigned long sodp_index(const struct sodp_range *range,
				       unsigned long va)
{
	return (va - range->start) >> PAGE_SHIFT;
}

/* [va, va + len) lies inside the range (len > 0, no wrap-around). */
static inline bool sodp_in_range(const struct sodp_range *range,
				 unsigned long va, size_t len)
{
	return len && va >= range->start && va + len > va &&
	       va + len <= range->end;
}

void sodp_mm_hold(struct sodp_mm *smm);
unsigned long sodp_range_clear(struct sodp_range *range, unsigned long start,
			       unsigned long end, unsigned long *dirtied);
void sodp_peer_release(struct sodp_range *range, unsigned long idx);
bool sodp_peer_seen(const struct hmm_range *hr);
int sodp_peer_prepare(struct sodp_range *range);
bool sodp_peer_commit(struct sodp_range *range, unsigned long va,
		      unsigned long entry, unsigned int fflags);

void sodp_fail_init(struct dentry *parent);
void sodp_fault_delay(void);

/* Live objects, for leak checks (debugfs softodp_mirror/live). */
extern atomic_t sodp_live_contexts;
extern atomic_t sodp_live_ranges;

#endif /* _SOFTODP_MIRROR_INTERNAL_H */
