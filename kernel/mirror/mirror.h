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
#include <linux/percpu.h>
#include <linux/rcupdate.h>
#include <linux/spinlock.h>
#include <linux/xarray.h>
#include <softodp/mirror.h>
#include <softodp/peer.h>

/*
 * Our own flag in a committed entry: the page is device-private and was
 * mapped through the peer hook; its data is at leaf->peer[slot]. (hmm
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

/*
 * The mirror of a range is a sparse table of leaves, one per PMD-sized,
 * PMD-aligned piece of the address space that has something present, kept
 * in an xarray indexed by va >> SODP_LEAF_SHIFT (see docs/odp.md, "The
 * sparse mirror"). Memory follows what is mirrored, not the span.
 */
#define SODP_LEAF_SHIFT		PMD_SHIFT
#define SODP_LEAF_PAGES		(1UL << (SODP_LEAF_SHIFT - PAGE_SHIFT))
#define SODP_LEAF_ORDER		(SODP_LEAF_SHIFT - PAGE_SHIFT)

/**
 * struct sodp_leaf - the mirror of one leaf-sized piece of a range
 * @rcu: frees the leaf once no reader can still be looking at it
 * @huge: @entry alone maps the whole piece: one THP or hugetlb page. A
 *	mapping larger than a leaf is one leaf stored as a multi-index xarray
 *	entry over every index it covers.
 * @npresent: pages of the range this leaf makes present
 * @entry: huge leaves: the mapping's flags, order and first pfn
 * @va: huge leaves: the mapping's first address
 * @peer: small leaves: the data's kernel address for each SODP_PFN_PEER
 *	entry (allocated for the first such entry), or NULL
 * @e: small leaves: one hmm pfn entry per page, 0 when absent
 *
 * Entries change only under the range's lock, by xchg() or cmpxchg(), except
 * that a reader may cmpxchg() SODP_PFN_DIRTY into a present entry. A leaf
 * leaves the xarray only under the lock and is freed after an RCU grace
 * period.
 */
struct sodp_leaf {
	struct rcu_head rcu;
	bool huge;
	unsigned int npresent;
	unsigned long entry;
	union {
		unsigned long va;
		void **peer;
	};
	unsigned long e[];
};

/**
 * struct sodp_range - one mirrored range and its interval notifier
 * @notifier: covers exactly [@start, @end)
 * @smm: the owning context (referenced)
 * @start: first byte, page aligned
 * @end: one past the last byte, page aligned
 * @lock: serialises the writers of @leaves and @npresent (fault commit,
 *	invalidation, teardown) and pairs mmu_interval_set_seq() with
 *	mmu_interval_read_retry(). Readers (actors, presence checks) never
 *	take it: they use sodp_read_begin()/sodp_read_end(), and a writer
 *	that clears entries waits for readers in flight before it drops the
 *	lock (sodp_wait_readers()). A spinlock so the notifier may take it
 *	in non-blockable context; nothing sleeps, allocates with reclaim or
 *	takes an mm lock while it is held. Nests outside the xarray's lock.
 * @leaves: the leaves (struct sodp_leaf), RCU-readable
 * @npresent: pages of the range that are present (under @lock)
 * @importer: the device accesses are made for; importer.dev NULL: device-
 *	private pages are always migrated back, never mapped in place
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
	struct xarray leaves;
	unsigned long npresent;
	struct sodp_peer_importer importer;
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

/* Index of @va's entry in a small leaf. */
static inline unsigned long sodp_slot(unsigned long va)
{
	return (va >> PAGE_SHIFT) & (SODP_LEAF_PAGES - 1);
}

/* The page an entry of @leaf maps at @va. */
static inline struct page *sodp_leaf_page(const struct sodp_leaf *leaf,
					  unsigned long entry, unsigned long va)
{
	struct page *page = sodp_entry_page(entry);

	return leaf->huge ? nth_page(page, (va - leaf->va) >> PAGE_SHIFT) : page;
}

/*
 * The entry word that maps @va, or NULL; *@leafp is set to its leaf. Under
 * sodp_read_begin() or the range lock.
 */
static inline unsigned long *sodp_lookup(struct sodp_range *range,
					 unsigned long va,
					 struct sodp_leaf **leafp)
{
	struct sodp_leaf *leaf = xa_load(&range->leaves, va >> SODP_LEAF_SHIFT);

	*leafp = leaf;
	if (!leaf)
		return NULL;
	return leaf->huge ? &leaf->entry : &leaf->e[sodp_slot(va)];
}

/*
 * Reader sections. A reader that uses an entry (copies to or from its page,
 * or through its peer mapping) does so between sodp_read_begin() and
 * sodp_read_end(), loading the entry after sodp_read_begin(). A writer
 * that clears entries calls sodp_wait_readers() after clearing them and
 * before the pages may go: every reader either saw the entry cleared or is
 * waited for (docs/odp.md, "Readers and invalidation").
 */
DECLARE_PER_CPU(unsigned long, sodp_reader_seq);

static inline bool sodp_read_begin(void)
{
	unsigned long *seq;

	preempt_disable();
	seq = this_cpu_ptr(&sodp_reader_seq);
	if (*seq & 1) {
		/* nested: an actor or an interrupt came back to the mirror */
		preempt_enable();
		return false;
	}
	WRITE_ONCE(*seq, *seq + 1);
	/* the odd count is visible before any entry is loaded */
	smp_mb();
	rcu_read_lock();
	return true;
}

static inline void sodp_read_end(void)
{
	unsigned long *seq = this_cpu_ptr(&sodp_reader_seq);

	rcu_read_unlock();
	/* everything the section did happens before the count is even */
	smp_store_release(seq, *seq + 1);
	preempt_enable();
}

void sodp_wait_readers(void);

/* [va, va + len) lies inside the range (len > 0, no wrap-around). */
static inline bool sodp_in_range(const struct sodp_range *range,
				 unsigned long va, size_t len)
{
	return len && va >= range->start && va + len > va &&
	       va + len <= range->end;
}

void sodp_mm_hold(struct sodp_mm *smm);

struct sodp_leaf *sodp_leaf_alloc(bool huge);
void sodp_leaf_free(struct sodp_leaf *leaf);
void sodp_leaf_retire(struct sodp_range *range, unsigned long idx,
		      struct sodp_leaf *leaf);
unsigned long sodp_range_clear(struct sodp_range *range, unsigned long start,
			       unsigned long end, unsigned long *dirtied);
long sodp_leaf_bytes(void);
int sodp_leaf_init(void);
void sodp_leaf_exit(void);

void sodp_peer_release(struct sodp_range *range, struct sodp_leaf *leaf,
		       unsigned long slot, unsigned long entry);
bool sodp_peer_commit(struct sodp_range *range, struct sodp_leaf *leaf,
		      unsigned long va, unsigned long entry, unsigned int fflags);

void sodp_fail_init(struct dentry *parent);
void sodp_fault_delay(void);

/* Live objects, for leak checks (debugfs softodp_mirror/live). */
extern atomic_t sodp_live_contexts;
extern atomic_t sodp_live_ranges;
extern atomic_long_t sodp_live_leaves;
extern atomic_long_t sodp_live_huge_leaves;
extern atomic_long_t sodp_live_peer_tables;

#endif /* _SOFTODP_MIRROR_INTERNAL_H */
