// SPDX-License-Identifier: GPL-2.0
/*
 * softodp mirror core: faulting pages in with hmm_range_fault().
 *
 * A fault covers what its caller asks for, in pieces of at most
 * SODP_FAULT_MAX_PAGES (the bound on one hmm_range_fault() call and its
 * output array), each:
 *   seq = mmu_interval_read_begin(notifier)
 *   mmap_read_lock; hmm_range_fault(); mmap_read_unlock
 *     -EBUSY: an invalidation ran; start over
 *   spin_lock(range->lock)
 *   mmu_interval_read_retry(notifier, seq)? unlock and start over
 *   commit the entries; spin_unlock
 * Each retry and each piece gives the CPU away if asked (the kernel may not
 * preempt us).
 *
 * The notifier covers the whole range, so an invalidation anywhere in it
 * (reclaim of another page of the MR, say) makes a piece start over. Under
 * memory pressure every page a piece brings in makes reclaim run, and a big
 * piece would almost never get through. So a piece that starts over is
 * halved, down to SODP_FAULT_MIN_PAGES: what the failed passes brought in
 * is still in the CPU page table, and a small piece commits it before the
 * next invalidation comes. The next piece starts at the size the last one
 * got through with and doubles after each piece that went through whole.
 * Only a piece of the smallest size gives up, with -ETIMEDOUT, once
 * HMM_RANGE_DEFAULT_TIMEOUT has passed since the piece began.
 *
 * A commit that needs memory (a leaf, a peer table, an xarray node) drops
 * the lock, allocates with GFP_KERNEL (reclaim may run our own notifier),
 * takes the lock again and goes on where it stopped if the sequence is
 * still current, or starts the piece over. What it committed before is
 * kept: each entry was checked against the sequence when it went in.
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
 * A page mapped with order >= SODP_LEAF_ORDER (THP, hugetlb 2 MiB and
 * 1 GiB) is committed as one huge leaf, one entry for the whole mapping:
 * the work is per mapping, not per 4 KiB page.
 */
#include <linux/bitops.h>
#include <linux/hmm.h>
#include <linux/memremap.h>
#include <linux/jiffies.h>
#include <linux/mm.h>
#include <linux/sched/mm.h>
#include "mirror.h"

/* Pages per hmm_range_fault() call: 8 MiB, a 16 KiB output array. */
#define SODP_FAULT_MAX_PAGES	2048
/* Pages per call when that array cannot be allocated (on the stack). */
#define SODP_FAULT_MIN_PAGES	16

/* What a commit stopped for: the caller allocates it and resumes. */
enum sodp_need {
	SODP_HAVE_ALL,
	SODP_NEED_LEAF,
	SODP_NEED_HUGE,
	SODP_NEED_PEER,
	SODP_NEED_NODE,
};

/**
 * struct sodp_commit - state of one fault piece's commits
 * @hr: the hmm range of the piece
 * @fflags: the fault's SODP_* flags
 * @pos: next address of @hr to commit
 * @fallback: NULL, or a bitmap (bit i: page i of @hr) of device-private
 *	pages the peer hook did not take, for the fallback pass
 * @leaf: a spare small leaf
 * @huge: a spare huge leaf
 * @peer: a spare peer table
 * @xas: xarray state for stores; holds a spare node after xas_nomem()
 * @added: entries made present or writable, counted at the end
 * @huge_mappings: huge leaves committed, counted at the end
 */
struct sodp_commit {
	struct hmm_range *hr;
	unsigned int fflags;
	unsigned long pos;
	unsigned long *fallback;
	struct sodp_leaf *leaf;
	struct sodp_leaf *huge;
	void **peer;
	struct xa_state xas;
	unsigned long added;
	unsigned long huge_mappings;
};

/* Allocate what a commit stopped for; no lock held. */
static int sodp_commit_refill(struct sodp_commit *c, enum sodp_need need)
{
	switch (need) {
	case SODP_NEED_LEAF:
		c->leaf = sodp_leaf_alloc(false);
		return c->leaf ? 0 : -ENOMEM;
	case SODP_NEED_HUGE:
		c->huge = sodp_leaf_alloc(true);
		return c->huge ? 0 : -ENOMEM;
	case SODP_NEED_PEER:
		c->peer = sodp_fail_alloc() ? NULL :
			kvcalloc(SODP_LEAF_PAGES, sizeof(*c->peer),
				 GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
		return c->peer ? 0 : -ENOMEM;
	case SODP_NEED_NODE:
		return xas_nomem(&c->xas, GFP_KERNEL_ACCOUNT) ? 0 : -ENOMEM;
	default:
		return 0;
	}
}

static void sodp_commit_done(struct sodp_commit *c)
{
	sodp_leaf_free(c->leaf);
	sodp_leaf_free(c->huge);
	kvfree(c->peer);
	/* not in an error state, xas_nomem() frees a spare node */
	xas_set(&c->xas, 0);
	xas_nomem(&c->xas, GFP_KERNEL);
}

/* Store @leaf at leaf index @idx, over 2^@order indexes; 0 or -ENOMEM. */
static int sodp_leaf_store(struct sodp_range *range, struct xa_state *xas,
			   unsigned long idx, unsigned int order,
			   struct sodp_leaf *leaf)
{
	lockdep_assert_held(&range->lock);
	xas_set_order(xas, idx, order);
	xas_lock(xas);
	xas_store(xas, leaf);
	xas_unlock(xas);
	return xas_error(xas);
}

/*
 * Set a present-or-absent entry word to @new (same page or absent before).
 * A reader may set SODP_PFN_DIRTY at any time: keep it. Returns the old
 * entry.
 */
static unsigned long sodp_entry_set(unsigned long *e, unsigned long new)
{
	unsigned long old = READ_ONCE(*e), prev;

	for (;;) {
		prev = cmpxchg(e, old, new | (old & SODP_PFN_DIRTY));
		if (prev == old)
			return old;
		old = prev;
	}
}

/* Whether @old (present) maps the same page as @new, with fewer rights. */
static bool sodp_entry_same(unsigned long old, unsigned long new)
{
	return (old & ~(HMM_PFN_FLAGS | SODP_PFN_DIRTY)) ==
	       (new & ~(HMM_PFN_FLAGS | SODP_PFN_DIRTY)) &&
	       hmm_pfn_to_map_order(old) == hmm_pfn_to_map_order(new) &&
	       !(old & SODP_PFN_PEER);
}

/* Clear [start, end) of the range, clipped to it, for a new mapping. */
static void sodp_commit_clear(struct sodp_range *range, unsigned long start,
			      unsigned long end)
{
	unsigned long dirtied;

	start = max(start, range->start);
	end = min(end, range->end);
	if (start < end) {
		sodp_range_clear(range, start, end, &dirtied);
		if (dirtied)
			sodp_count(range, pages_dirtied, dirtied);
	}
}

/*
 * Commit a mapping of order >= SODP_LEAF_ORDER found at @va as one huge
 * leaf. Sets *@next past the mapping.
 */
static enum sodp_need sodp_commit_huge(struct sodp_range *range,
				       struct sodp_commit *c, unsigned long va,
				       unsigned long entry, unsigned long *next)
{
	unsigned int order = hmm_pfn_to_map_order(entry);
	unsigned long size = PAGE_SIZE << order;
	unsigned long hstart = ALIGN_DOWN(va, size);
	unsigned long idx = hstart >> SODP_LEAF_SHIFT;
	unsigned long base = (entry & ~HMM_PFN_FLAGS) -
			     ((va - hstart) >> PAGE_SHIFT);
	unsigned long new = (entry & (HMM_PFN_VALID | HMM_PFN_WRITE)) |
			    ((unsigned long)order << HMM_PFN_ORDER_SHIFT) | base;
	unsigned long first = max(hstart, range->start);
	unsigned long last = min(hstart + size, range->end);
	struct sodp_leaf *leaf;

	lockdep_assert_held(&range->lock);
	*next = hstart + size;
	leaf = xa_load(&range->leaves, idx);
	if (leaf && leaf->huge && leaf->va == hstart && leaf->entry &&
	    sodp_entry_same(leaf->entry, new)) {
		unsigned long old = sodp_entry_set(&leaf->entry, new);

		/* the same mapping again: new only if it gained rights */
		if ((old & HMM_PFN_WRITE) != (new & HMM_PFN_WRITE))
			c->added += leaf->npresent;
		return SODP_HAVE_ALL;
	}
	if (!c->huge)
		return SODP_NEED_HUGE;
	/* whatever else is there goes first (a split or collapse raced) */
	sodp_commit_clear(range, hstart, hstart + size);
	leaf = c->huge;
	leaf->entry = new;
	leaf->va = hstart;
	leaf->npresent = (last - first) >> PAGE_SHIFT;
	if (sodp_leaf_store(range, &c->xas, idx, order - SODP_LEAF_ORDER, leaf))
		return SODP_NEED_NODE;
	c->huge = NULL;
	range->npresent += leaf->npresent;
	c->added += leaf->npresent;
	c->huge_mappings++;
	return SODP_HAVE_ALL;
}

/* The small leaf for @va, made if needed; NULL with *@need set. */
static struct sodp_leaf *sodp_small_leaf(struct sodp_range *range,
					 struct sodp_commit *c,
					 unsigned long va, enum sodp_need *need)
{
	unsigned long idx = va >> SODP_LEAF_SHIFT;
	struct sodp_leaf *leaf = xa_load(&range->leaves, idx);

	if (leaf && leaf->huge) {
		/* a huge mapping there was split: it goes first */
		sodp_commit_clear(range, leaf->va,
				  leaf->va + (PAGE_SIZE << hmm_pfn_to_map_order(leaf->entry)));
		leaf = xa_load(&range->leaves, idx);
	}
	if (leaf)
		return leaf;
	if (!c->leaf) {
		*need = SODP_NEED_LEAF;
		return NULL;
	}
	if (sodp_leaf_store(range, &c->xas, idx, 0, c->leaf)) {
		*need = SODP_NEED_NODE;
		return NULL;
	}
	leaf = c->leaf;
	c->leaf = NULL;
	return leaf;
}

/*
 * Commit one order-0 system-memory entry of a small leaf. Returns false
 * when it had to clear the entry first, which may have retired the leaf:
 * the caller looks the leaf up again.
 */
static bool sodp_commit_small(struct sodp_range *range, struct sodp_commit *c,
			      struct sodp_leaf *leaf, unsigned long va,
			      unsigned long entry)
{
	unsigned long new = (entry & (HMM_PFN_VALID | HMM_PFN_WRITE)) |
			    (entry & ~HMM_PFN_FLAGS);
	unsigned long *e = &leaf->e[sodp_slot(va)];
	unsigned long old = READ_ONCE(*e);

	if (old && !sodp_entry_same(old, new)) {
		/*
		 * A different page without an invalidation in between, or a
		 * peer entry: drop it the way an invalidation would.
		 */
		sodp_commit_clear(range, va, va + PAGE_SIZE);
		return false;
	}
	if (!old) {
		/* pairs with the reader's acquire of the entry */
		smp_store_release(e, new);
		leaf->npresent++;
		range->npresent++;
		c->added++;
		return true;
	}
	old = sodp_entry_set(e, new);
	/* the same page again: new only if it gained rights */
	c->added += (old & HMM_PFN_WRITE) != (new & HMM_PFN_WRITE);
	return true;
}

/*
 * Commit what hmm_range_fault() returned, from c->pos on. Device-private
 * pages go to the peer hook; those it does not take are marked in
 * c->fallback for the fallback pass. Returns SODP_HAVE_ALL when done, or
 * what it needs to go on (c->pos is where it stopped).
 */
static enum sodp_need sodp_commit(struct sodp_range *range,
				  struct sodp_commit *c)
{
	struct hmm_range *hr = c->hr;
	enum sodp_need need = SODP_HAVE_ALL;

	lockdep_assert_held(&range->lock);
	while (c->pos < hr->end) {
		unsigned long va = c->pos;
		unsigned long i = (va - hr->start) >> PAGE_SHIFT;
		unsigned long entry = hr->hmm_pfns[i];
		struct sodp_leaf *leaf;
		unsigned long next = va + PAGE_SIZE;

		if (!(entry & HMM_PFN_VALID)) {
			c->pos = next;
			continue;
		}
		if (hmm_pfn_to_map_order(entry) >= SODP_LEAF_ORDER &&
		    !is_device_private_page(hmm_pfn_to_page(entry))) {
			need = sodp_commit_huge(range, c, va, entry, &next);
			if (need)
				return need;
			c->pos = min(next, hr->end);
			continue;
		}
		leaf = sodp_small_leaf(range, c, va, &need);
		if (!leaf)
			return need;
		if (is_device_private_page(hmm_pfn_to_page(entry))) {
			if (!leaf->peer) {
				if (!c->peer)
					return SODP_NEED_PEER;
				leaf->peer = c->peer;
				c->peer = NULL;
				atomic_long_inc(&sodp_live_peer_tables);
			}
			if (leaf->e[sodp_slot(va)]) {
				/* may retire the leaf: look it up again */
				sodp_commit_clear(range, va, va + PAGE_SIZE);
				continue;
			}
			if (sodp_peer_commit(range, leaf, va, entry, c->fflags))
				c->added++;
			else if (c->fallback)
				__set_bit(i, c->fallback);
		} else if (!sodp_commit_small(range, c, leaf, va, entry)) {
			continue;
		}
		c->pos = next;
	}
	return SODP_HAVE_ALL;
}

/*
 * hmm_range_fault() returns -EFAULT both for an address the process has not
 * mapped and for a fault the mm's fault handler failed (VM_FAULT_OOM,
 * SIGBUS, HWPOISON). True when VMAs that allow the access cover all of
 * @hr: the failure then came from the fault handler (sodp_fault_errno()
 * tells which). Called with the mmap lock held.
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
 * What hmm_range_fault() failed on in VMAs that allow the access: fault the
 * pages it had not mirrored (@only: the ones requested) the way the CPU
 * would, in order, and return the first failure: -ENOMEM for
 * VM_FAULT_OOM, a failure that may pass; -EIO for SIGBUS, SIGSEGV or a
 * memory error, which will not. -EBUSY (try the piece again) when all of
 * them fault in now. Called with the mmap lock held.
 */
static int sodp_fault_errno(struct mm_struct *mm, const struct hmm_range *hr,
			    const unsigned long *only, unsigned int flags)
{
	unsigned int fflags = FAULT_FLAG_REMOTE |
			      (flags & SODP_WRITE ? FAULT_FLAG_WRITE : 0);
	unsigned long i, n = (hr->end - hr->start) >> PAGE_SHIFT;
	int ret;

	mmap_assert_locked(mm);
	for (i = 0; i < n; i++) {
		if (only ? !test_bit(i, only) : hr->hmm_pfns[i] & HMM_PFN_VALID)
			continue;
		ret = fixup_user_fault(mm, hr->start + (i << PAGE_SHIFT),
				       fflags, NULL);
		if (ret)
			return ret == -ENOMEM ? -ENOMEM : -EIO;
	}
	return -EBUSY;
}

/*
 * One read_begin / hmm_range_fault / read_retry / commit cycle, repeated
 * until it commits; each time it starts over, @hr shrinks to its first half
 * (not below SODP_FAULT_MIN_PAGES), and at that size it gives up once
 * @timeout has passed. With @only set (the fallback pass), only those pages
 * of @hr are requested (bit i: page i), nothing is marked for fallback and
 * @hr keeps its size; otherwise device-private pages the peer hook does
 * not take are marked in @fallback.
 */
static int sodp_fault_pass(struct sodp_range *range, struct sodp_commit *c,
			   const unsigned long *only, unsigned long *fallback,
			   unsigned long timeout)
{
	struct mm_struct *mm = range->smm->mm;
	struct hmm_range *hr = c->hr;
	unsigned long i, n = (hr->end - hr->start) >> PAGE_SHIFT;
	enum sodp_need need;
	int ret;

	for (;;) {
		if (time_after(jiffies, timeout) &&
		    (only || n <= SODP_FAULT_MIN_PAGES)) {
			sodp_count(range, fault_timeouts, 1);
			return -ETIMEDOUT;
		}
		/* per-page requests: hmm_range_fault overwrites them */
		for (i = 0; only && i < n; i++)
			hr->hmm_pfns[i] = test_bit(i, only) ? hr->pfn_flags_mask : 0;
		/* else the output alone tells which pages were mirrored */
		if (!only)
			memset(hr->hmm_pfns, 0, n * sizeof(*hr->hmm_pfns));
		if (fallback)
			bitmap_zero(fallback, n);
		hr->notifier_seq = mmu_interval_read_begin(&range->notifier);
		mmap_read_lock(mm);
		ret = hmm_range_fault(hr);
		if (ret == -EFAULT && sodp_vmas_allow(mm, hr, c->fflags))
			ret = sodp_fault_errno(mm, hr, only, c->fflags);
		mmap_read_unlock(mm);
		if (ret == -EBUSY)
			goto retry;
		if (ret)
			return ret;

		c->pos = hr->start;
		c->fallback = fallback;
		spin_lock(&range->lock);
		while (!mmu_interval_read_retry(&range->notifier,
						hr->notifier_seq)) {
			need = sodp_commit(range, c);
			spin_unlock(&range->lock);
			if (need == SODP_HAVE_ALL)
				return 0;
			/* allocate without the lock: reclaim may invalidate us */
			ret = sodp_commit_refill(c, need);
			if (ret)
				return ret;
			spin_lock(&range->lock);
		}
		spin_unlock(&range->lock);
retry:
		sodp_count(range, fault_retries, 1);
		if (!only && n > SODP_FAULT_MIN_PAGES) {
			n = max_t(unsigned long, n / 2, SODP_FAULT_MIN_PAGES);
			hr->end = hr->start + (n << PAGE_SHIFT);
		}
		cond_resched();
	}
}

/*
 * Fault [start, *@end) (at most as many pages as @pfns holds) and commit
 * it. @fallback is a bitmap of that many bits. The piece may shrink while
 * invalidations race it: on success *@end is where the committed part ends.
 */
static int sodp_fault_piece(struct sodp_range *range, unsigned long start,
			    unsigned long *end, unsigned int flags,
			    unsigned long *pfns, unsigned long *fallback)
{
	struct mm_struct *mm = range->smm->mm;
	unsigned long req = 0, timeout, n;
	struct hmm_range hr = {
		.notifier = &range->notifier,
		.start = start,
		.end = *end,
		.hmm_pfns = pfns,
	};
	struct sodp_commit c = {
		.hr = &hr,
		.fflags = flags,
		.xas = __XA_STATE(&range->leaves, 0, 0, 0),
	};
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
	ret = sodp_fault_pass(range, &c, NULL, fallback, timeout);
	n = (hr.end - start) >> PAGE_SHIFT;
	*end = hr.end;
	if (!ret && req && !bitmap_empty(fallback, n)) {
		/*
		 * Fault only the pages the peer hook did not take, without the
		 * owner: their provider migrates them to system memory (and a
		 * write breaks COW), as a CPU access would.
		 */
		sodp_count(range, peer_fallbacks, bitmap_weight(fallback, n));
		hr.dev_private_owner = NULL;
		hr.default_flags = 0;
		hr.pfn_flags_mask = req;
		ret = sodp_fault_pass(range, &c, fallback, NULL, timeout);
	}
	mmput(mm);
	if (c.added) {
		sodp_count(range, pages_faulted, c.added);
		if (flags & SODP_PREFETCH)
			sodp_count(range, pages_prefetched, c.added);
	}
	if (c.huge_mappings)
		sodp_count(range, huge_mappings, c.huge_mappings);
	sodp_commit_done(&c);
	return ret;
}

/*
 * First address in [start, end) whose page lacks @need, or @end: pages
 * already mirrored (a whole huge page committed by an earlier piece, say)
 * are not faulted again. Lockless, like sodp_range_present().
 */
static unsigned long sodp_first_missing(struct sodp_range *range,
					unsigned long start, unsigned long end,
					unsigned long need)
{
	rcu_read_lock();
	while (start < end) {
		struct sodp_leaf *leaf = xa_load(&range->leaves,
						 start >> SODP_LEAF_SHIFT);
		unsigned long lend = min(end, ALIGN(start + 1, 1UL << SODP_LEAF_SHIFT));

		if (!leaf)
			break;
		if (leaf->huge) {
			if ((READ_ONCE(leaf->entry) & need) != need)
				break;
			start = lend;
			continue;
		}
		while (start < lend &&
		       (READ_ONCE(leaf->e[sodp_slot(start)]) & need) == need)
			start += PAGE_SIZE;
		if (start < lend)
			break;
	}
	rcu_read_unlock();
	return start;
}

/**
 * sodp_range_fault - fault pages of a range in and mirror them
 * @range: the range
 * @va: first byte
 * @len: bytes
 * @flags: SODP_WRITE for writable mappings (breaks COW); SODP_NO_FAULT to
 *	mirror only what the CPU page table already has, faulting nothing;
 *	SODP_PREFETCH to count the pages as prefetched
 *
 * Faults the whole span, from its first missing page, in pieces of up to
 * SODP_FAULT_MAX_PAGES, smaller while invalidations race them. Sleeps.
 * Kernel memory the fault needs (the mirror's leaves, page tables) is
 * charged to the process's memory cgroup, also from a kernel worker.
 * Returns 0; -EFAULT for an address outside the range or not mapped by the
 * process (or the process is gone); -EPERM when @flags asks for more than
 * the mapping allows (a write to PROT_READ memory); -EIO when the mm's
 * fault handler failed for good (SIGBUS, a memory error); -ETIMEDOUT when
 * invalidations kept racing for HMM_RANGE_DEFAULT_TIMEOUT; -ENOMEM (also
 * when the fault handler ran out of memory).
 */
int sodp_range_fault(struct sodp_range *range, unsigned long va, size_t len,
		     unsigned int flags)
{
	unsigned long spfns[SODP_FAULT_MIN_PAGES], sfallback[1];
	unsigned long need = HMM_PFN_VALID;
	unsigned long *pfns = spfns, *fallback = sfallback, win;
	unsigned long start, end, next, want, max = SODP_FAULT_MIN_PAGES;
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
	if ((end - start) >> PAGE_SHIFT > SODP_FAULT_MIN_PAGES) {
		unsigned long n = min((end - start) >> PAGE_SHIFT,
				      (unsigned long)SODP_FAULT_MAX_PAGES);
		unsigned long *buf;

		/* a bigger window if it can be had; the stack one otherwise */
		buf = kvmalloc_array(n + BITS_TO_LONGS(n), sizeof(*buf),
				     GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
		if (buf) {
			pfns = buf;
			fallback = buf + n;
			max = n;
		}
	}
	win = max;
	for (;;) {
		want = min(end, start + win * PAGE_SIZE);
		next = want;
		ret = sodp_fault_piece(range, start, &next, flags, pfns, fallback);
		if (ret)
			break;
		/* a piece that shrank sets the next one's size; else it grows */
		if (next < want)
			win = (next - start) >> PAGE_SHIFT;
		else
			win = min(win * 2, max);
		/* a long fault (reclaim, swap-in) must not hog the CPU */
		cond_resched();
		start = sodp_first_missing(range, next, end, need);
		if (start == end)
			break;
	}
	if (pfns != spfns)
		kvfree(pfns);
	sodp_mm_charge_end(old);
	if (ret)
		sodp_count(range, fault_errors, 1);
	else
		sodp_count(range, faults_handled, 1);
	return ret;
}
EXPORT_SYMBOL_GPL(sodp_range_fault);
