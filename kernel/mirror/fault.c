// SPDX-License-Identifier: GPL-2.0
/*
 * softodp mirror core: faulting pages in with hmm_range_fault().
 *
 * Fault sequence, per chunk of at most SODP_FAULT_CHUNK pages:
 *   seq = mmu_interval_read_begin(notifier)
 *   mmap_read_lock; hmm_range_fault(); mmap_read_unlock
 *     -EBUSY: an invalidation ran; start over
 *   spin_lock(range->lock)
 *   mmu_interval_read_retry(notifier, seq)? unlock and start over
 *   commit the entries; spin_unlock
 * until HMM_RANGE_DEFAULT_TIMEOUT, then -ETIMEDOUT. Each retry and each
 * chunk gives the CPU away if asked (the kernel may not preempt us).
 *
 * Device-private pages (ranges with a peer importer): the first pass asks
 * hmm_range_fault() for participating providers' pages as they are
 * (dev_private_owner = sodp_peer_owner()) and maps them through the peer
 * hook (peer.c). Pages the hook refuses, and read-only device entries an
 * access wants to write, get a second pass that requests only them,
 * without the owner, so their provider's migrate_to_ram() brings them to
 * system memory. Both passes share the timeout, and the access loop bounds
 * how often a page that keeps moving is faulted again: no livelock.
 *
 * A read fault asks only for HMM_PFN_REQ_FAULT, so a zero page, a COW page
 * shared after fork or a PROT_READ page comes back without HMM_PFN_WRITE and
 * accesses that write will not use it; a write fault adds HMM_PFN_REQ_WRITE,
 * which makes the kernel break COW exactly as a CPU write would.
 *
 * A page mapped with order > 0 (THP, hugetlb) is committed as one unit: all
 * of its entries that fall in the range are filled at once.
 */
#include <linux/bitops.h>
#include <linux/hmm.h>
#include <linux/memremap.h>
#include <linux/jiffies.h>
#include <linux/mm.h>
#include <linux/sched/mm.h>
#include "mirror.h"

#define SODP_FAULT_CHUNK	64
#define SODP_HUGE_ORDER		(PMD_SHIFT - PAGE_SHIFT)

/*
 * Commit one hmm entry for @va and, for a higher-order mapping, every other
 * entry of the same mapping that lies in the range. Returns the first
 * address after what was committed.
 */
static unsigned long sodp_commit_one(struct sodp_range *range,
				     unsigned long va, unsigned long entry,
				     unsigned int fflags)
{
	unsigned int order = hmm_pfn_to_map_order(entry);
	unsigned long flags = entry & (HMM_PFN_VALID | HMM_PFN_WRITE);
	unsigned long pfn = entry & ~HMM_PFN_FLAGS;
	unsigned long size = PAGE_SIZE << order;
	unsigned long hstart = ALIGN_DOWN(va, size);
	unsigned long first = max(hstart, range->start);
	unsigned long last = min(hstart + size, range->end);
	unsigned long a, base = pfn - ((va - hstart) >> PAGE_SHIFT);
	unsigned long added = 0;

	lockdep_assert_held(&range->lock);
	for (a = first; a < last; a += PAGE_SIZE) {
		unsigned long *e = &range->pfns[sodp_index(range, a)];

		unsigned long new = flags | (base + ((a - hstart) >> PAGE_SHIFT));

		if (*e & SODP_PFN_PEER) {
			sodp_peer_release(range, sodp_index(range, a));
			added++;
		/*
		 * A present entry is recommitted with the page it already had
		 * (a change of page would have invalidated it first): keep its
		 * record of device writes. It counts as faulted only when it
		 * gains rights (a write fault on a read-only entry).
		 */
		} else if ((*e & ~(HMM_PFN_FLAGS | SODP_PFN_DIRTY)) == (new & ~HMM_PFN_FLAGS)) {
			added += (*e & (HMM_PFN_VALID | HMM_PFN_WRITE)) != flags;
			new |= *e & SODP_PFN_DIRTY;
		} else {
			added++;
		}
		range->npresent += !*e;
		*e = new;
	}
	if (order >= SODP_HUGE_ORDER)
		sodp_count(range, huge_mappings, 1);
	sodp_count(range, pages_faulted, added);
	if (fflags & SODP_PREFETCH)
		sodp_count(range, pages_prefetched, added);
	return last;
}

/*
 * Commit what hmm_range_fault() returned. Device-private pages go to the
 * peer hook; those it does not take are returned as a mask (bit i: page i
 * of @hr) for the fallback pass.
 */
static u64 sodp_commit(struct sodp_range *range, struct hmm_range *hr,
		       unsigned int fflags)
{
	unsigned long va = hr->start;
	u64 fallback = 0;

	lockdep_assert_held(&range->lock);
	while (va < hr->end) {
		unsigned long i = (va - hr->start) >> PAGE_SHIFT;
		unsigned long entry = hr->hmm_pfns[i];

		if (!(entry & HMM_PFN_VALID)) {
			va += PAGE_SIZE;
		} else if (is_device_private_page(hmm_pfn_to_page(entry))) {
			if (!sodp_peer_commit(range, va, entry, fflags))
				fallback |= BIT_ULL(i);
			va += PAGE_SIZE;
		} else {
			va = sodp_commit_one(range, va, entry, fflags);
		}
	}
	return fallback;
}

/*
 * First address in [start, end) whose entry lacks @need, or @end: pages
 * already mirrored (a whole huge page committed by an earlier chunk, say)
 * are not faulted again.
 */
static unsigned long sodp_first_missing(struct sodp_range *range,
					unsigned long start, unsigned long end,
					unsigned long need)
{
	spin_lock(&range->lock);
	while (start < end &&
	       (range->pfns[sodp_index(range, start)] & need) == need)
		start += PAGE_SIZE;
	spin_unlock(&range->lock);
	return start;
}

/*
 * hmm_range_fault() returns -EFAULT both for an address the process has not
 * mapped and for a fault the mm's fault handler failed (VM_FAULT_OOM,
 * SIGBUS, HWPOISON). True when VMAs that allow the access cover all of
 * @hr: the failure then came from the fault handler, and the caller reports
 * it as -ENOMEM, a failure that may pass (a caller that retries bounds how
 * long). Called with the mmap lock held.
 */
static bool sodp_vmas_allow(struct mm_struct *mm, const struct hmm_range *hr,
			    unsigned int flags)
{
	vm_flags_t need = VM_READ | (flags & SODP_WRITE ? VM_WRITE : 0);
	struct vm_area_struct *vma;
	unsigned long a;

	mmap_assert_locked(mm);
	for (a = hr->start; a < hr->end; a = vma->vm_end) {
		vma = vma_lookup(mm, a);
		if (!vma || (vma->vm_flags & need) != need ||
		    (vma->vm_flags & (VM_IO | VM_PFNMAP)))
			return false;
	}
	return true;
}

/*
 * One read_begin / hmm_range_fault / read_retry / commit cycle, repeated
 * until it commits or @timeout passes. With @only set (the fallback pass),
 * only those pages of @hr are requested. Returns the commit's fallback mask
 * through @fallback.
 */
static int sodp_fault_pass(struct sodp_range *range, struct hmm_range *hr,
			   unsigned int flags, u64 only, unsigned long timeout,
			   u64 *fallback)
{
	struct mm_struct *mm = range->smm->mm;
	unsigned long i, n = (hr->end - hr->start) >> PAGE_SHIFT;
	int ret;

	for (;;) {
		if (time_after(jiffies, timeout)) {
			sodp_count(range, fault_timeouts, 1);
			return -ETIMEDOUT;
		}
		/* per-page requests: hmm_range_fault overwrites them */
		for (i = 0; only && i < n; i++)
			hr->hmm_pfns[i] = only & BIT_ULL(i) ? hr->pfn_flags_mask : 0;
		hr->notifier_seq = mmu_interval_read_begin(&range->notifier);
		mmap_read_lock(mm);
		ret = hmm_range_fault(hr);
		if (ret == -EFAULT && sodp_vmas_allow(mm, hr, flags))
			ret = -ENOMEM;
		mmap_read_unlock(mm);
		if (ret == -EBUSY) {
			sodp_count(range, fault_retries, 1);
			cond_resched();
			continue;
		}
		if (ret)
			return ret;
		if (hr->dev_private_owner && sodp_peer_seen(hr)) {
			ret = sodp_peer_prepare(range);
			if (ret)
				return ret;
		}

		spin_lock(&range->lock);
		if (mmu_interval_read_retry(&range->notifier, hr->notifier_seq)) {
			spin_unlock(&range->lock);
			sodp_count(range, fault_retries, 1);
			cond_resched();
			continue;
		}
		*fallback = sodp_commit(range, hr, flags);
		spin_unlock(&range->lock);
		return 0;
	}
}

/* Fault [start, end) (at most SODP_FAULT_CHUNK pages) and commit it. */
static int sodp_fault_chunk(struct sodp_range *range, unsigned long start,
			    unsigned long end, unsigned int flags)
{
	unsigned long pfns[SODP_FAULT_CHUNK];
	struct mm_struct *mm = range->smm->mm;
	unsigned long req = 0, timeout;
	struct hmm_range hr = {
		.notifier = &range->notifier,
		.start = start,
		.end = end,
		.hmm_pfns = pfns,
	};
	u64 fallback = 0;
	int ret;

	if (!(flags & SODP_NO_FAULT)) {
		req = HMM_PFN_REQ_FAULT;
		if (flags & SODP_WRITE)
			req |= HMM_PFN_REQ_WRITE;
	}
	/* a participating provider's pages come back as they are */
	if (range->importer.dev)
		hr.dev_private_owner = sodp_peer_owner();
	hr.default_flags = req;
	if (!mmget_not_zero(mm))
		return -EFAULT;

	timeout = jiffies + msecs_to_jiffies(HMM_RANGE_DEFAULT_TIMEOUT);
	ret = sodp_fault_pass(range, &hr, flags, 0, timeout, &fallback);
	if (!ret && fallback && req) {
		/*
		 * Fault only the pages the peer hook did not take, without the
		 * owner: their provider migrates them to system memory (and a
		 * write breaks COW), as a CPU access would.
		 */
		sodp_count(range, peer_fallbacks, hweight64(fallback));
		hr.dev_private_owner = NULL;
		hr.default_flags = 0;
		hr.pfn_flags_mask = req;
		ret = sodp_fault_pass(range, &hr, flags, fallback, timeout,
				      &fallback);
	}
	mmput(mm);
	return ret;
}

/**
 * sodp_range_fault - fault pages of a range in and mirror them
 * @range: the range
 * @va: first byte
 * @len: bytes
 * @flags: SODP_WRITE for writable mappings (breaks COW); SODP_NO_FAULT to
 *	mirror only what the CPU page table already has, faulting nothing
 *
 * Sleeps. Kernel memory the fault needs (page tables, the peer table) is
 * charged to the process's memory cgroup, also from a kernel worker.
 * Returns 0; -EFAULT for an address outside the range or not
 * mapped by the process (or the process is gone); -EPERM when @flags asks
 * for more than the mapping allows (a write to PROT_READ memory);
 * -ETIMEDOUT when invalidations kept racing for HMM_RANGE_DEFAULT_TIMEOUT;
 * -ENOMEM.
 */
int sodp_range_fault(struct sodp_range *range, unsigned long va, size_t len,
		     unsigned int flags)
{
	unsigned long need = HMM_PFN_VALID;
	unsigned long start, end, next;
	struct mem_cgroup *old;
	int ret = 0;

	might_sleep();
	if (!sodp_in_range(range, va, len))
		return -EFAULT;
	start = ALIGN_DOWN(va, PAGE_SIZE);
	end = ALIGN(va + len, PAGE_SIZE);

	if (flags & SODP_WRITE)
		need |= HMM_PFN_WRITE;

	start = sodp_first_missing(range, start, end, need);
	if (start == end)
		return 0;	/* all present: not a fault */
	sodp_count(range, faults, 1);
	sodp_fault_delay();
	old = sodp_mm_charge_begin(range->smm);
	for (;;) {
		next = min(end, start + SODP_FAULT_CHUNK * PAGE_SIZE);
		ret = sodp_fault_chunk(range, start, next, flags);
		if (ret)
			break;
		/* a long fault (reclaim, swap-in) must not hog the CPU */
		cond_resched();
		start = sodp_first_missing(range, next, end, need);
		if (start == end)
			break;
	}
	sodp_mm_charge_end(old);
	if (ret)
		sodp_count(range, fault_errors, 1);
	else
		sodp_count(range, faults_handled, 1);
	return ret;
}
EXPORT_SYMBOL_GPL(sodp_range_fault);
