/* SPDX-License-Identifier: GPL-2.0 */
/*
 * softodp mirror core: mirrors ranges of a process's address space into a
 * software device's "page table" with hmm_range_fault() and one
 * mmu_interval_notifier per range.
 *
 * A device creates a range per memory region (or per chunk of one), then
 * accesses user memory only through sodp_range_access(), which runs a
 * caller-supplied actor on each present page, without a lock, in a reader
 * section that invalidation waits for, and faults absent pages in
 * (sleepable context only). Once the notifier returns no actor is running
 * on, or will run on, the invalidated pages.
 */
#ifndef _SOFTODP_MIRROR_H
#define _SOFTODP_MIRROR_H

#include <linux/atomic.h>
#include <linux/types.h>

struct mem_cgroup;
struct mm_struct;
struct sodp_mm;
struct sodp_range;
struct sodp_peer_importer;

/* sodp_range_access() / sodp_range_fault() flags */
#define SODP_WRITE	BIT(0)	/* the access writes: needs a writable mapping */
#define SODP_NO_FAULT	BIT(1)	/* never fault: use only what is present */
#define SODP_PREFETCH	BIT(2)	/* a prefetch: count committed pages as such */

/**
 * struct sodp_stats - counters of one range (or a sum of several)
 * @faults: fault requests: sodp_range_fault() calls that found a page of
 *	their span missing (a call with everything present counts nothing)
 * @faults_handled: fault requests that succeeded
 * @pages_faulted: entries faults made present, or made writable (a write
 *	fault on a read-only entry); a present entry committed again is not
 *	counted
 * @huge_mappings: committed mappings of order >= 9 (THP or hugetlb)
 * @fault_retries: hmm_range_fault -EBUSY or read_retry collisions
 * @fault_timeouts: faults that gave up after HMM_RANGE_DEFAULT_TIMEOUT
 * @fault_errors: faults that failed (unmapped, no permission, no memory)
 * @invalidations: notifier calls that hit the range
 * @invalidations_handled: notifier calls that cleared at least one entry
 * @pages_invalidated: entries cleared by invalidation
 * @pages_prefetched: the part of @pages_faulted that faults flagged
 *	SODP_PREFETCH made
 * @pages_dirtied: entries written through that were handed back to the mm
 *	as dirty (folio marked dirty) when invalidation or teardown cleared them
 * @peer_maps: device-private pages mapped in place through the peer hook
 * @peer_refusals: device-private pages the provider would not map
 * @peer_fallbacks: device-private pages faulted back to system memory
 *	(refused, or a write to an entry that is not writable)
 */
struct sodp_stats {
	u64 faults;
	u64 faults_handled;
	u64 pages_faulted;
	u64 huge_mappings;
	u64 fault_retries;
	u64 fault_timeouts;
	u64 fault_errors;
	u64 invalidations;
	u64 invalidations_handled;
	u64 pages_invalidated;
	u64 pages_prefetched;
	u64 pages_dirtied;
	u64 peer_maps;
	u64 peer_refusals;
	u64 peer_fallbacks;
};

/**
 * struct sodp_counters - live counters, same fields as struct sodp_stats
 * @parent: a block that everything counted here is also counted into (a
 *	memory region's totals, whose parent is the device's, say), or NULL
 *
 * Every range counts into its own block and so up the chain of parents.
 */
struct sodp_counters {
	atomic64_t faults;
	atomic64_t faults_handled;
	atomic64_t pages_faulted;
	atomic64_t huge_mappings;
	atomic64_t fault_retries;
	atomic64_t fault_timeouts;
	atomic64_t fault_errors;
	atomic64_t invalidations;
	atomic64_t invalidations_handled;
	atomic64_t pages_invalidated;
	atomic64_t pages_prefetched;
	atomic64_t pages_dirtied;
	atomic64_t peer_maps;
	atomic64_t peer_refusals;
	atomic64_t peer_fallbacks;
	struct sodp_counters *parent;
};

/**
 * typedef sodp_actor_t - work done on one piece of mirrored memory
 * @kaddr: kernel address of the piece (never crosses a page boundary)
 * @len: its length in bytes
 * @priv: the caller's cookie
 *
 * Runs in a reader section (preemption off; an invalidation of the page
 * waits for it): it must not sleep or call back into the mirror. Returns 0
 * to go on, or a negative errno that sodp_range_access() returns.
 */
typedef int (*sodp_actor_t)(void *kaddr, size_t len, void *priv);

struct sodp_mm *sodp_mm_get(struct mm_struct *mm);
void sodp_mm_put(struct sodp_mm *smm);
struct mem_cgroup *sodp_mm_charge_begin(struct sodp_mm *smm);
void sodp_mm_charge_end(struct mem_cgroup *old);
bool sodp_fail_alloc(void);

struct sodp_range *sodp_range_create(struct sodp_mm *smm, unsigned long start,
				     unsigned long length,
				     struct sodp_counters *parent,
				     const struct sodp_peer_importer *importer);
void sodp_range_destroy(struct sodp_range *range);
unsigned long sodp_range_start(const struct sodp_range *range);
unsigned long sodp_range_length(const struct sodp_range *range);

int sodp_range_fault(struct sodp_range *range, unsigned long va, size_t len,
		     unsigned int flags);
int sodp_range_access(struct sodp_range *range, unsigned long va, size_t len,
		      unsigned int flags, sodp_actor_t actor, void *priv);
unsigned long sodp_range_present(struct sodp_range *range, unsigned long va,
				 size_t len, unsigned int flags);
unsigned long sodp_range_npresent(struct sodp_range *range);
void sodp_range_on_empty(struct sodp_range *range, void (*fn)(void *data),
			 void *data);
void sodp_range_stats(struct sodp_range *range, struct sodp_stats *out);
void sodp_counters_read(const struct sodp_counters *c, struct sodp_stats *out);

#endif /* _SOFTODP_MIRROR_H */
