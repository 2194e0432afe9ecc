// SPDX-License-Identifier: GPL-2.0
/*
 * dpmem residency: where each page of a range lives right now.
 *
 * hmm_range_fault() without fault flags is a read-only walk of the CPU page
 * table. It reports present pages, and device-private pages whose pgmap
 * owner equals the dev_private_owner it is given; other device-private
 * entries read as empty. So a chunk is walked with this instance's owner
 * first, then once per distinct owner of the other instances for what is
 * still empty. Pages are told apart by pfn range, never by owner.
 *
 * hmm_range_fault() needs an mmu_interval_notifier: a temporary one covers
 * the range for the duration of the call. Its only job is to make a walk
 * that raced with a change start over.
 *
 * Migrations take the same snapshot of each batch first (with the mmap_lock
 * already held), so that they hand migrate_vma_setup() only the pages that
 * are to move: every setup call invalidates its whole span for every
 * mirror of it, whatever it then collects.
 */
#include <linux/hmm.h>
#include <linux/jiffies.h>
#include <linux/mm.h>
#include <linux/mmu_notifier.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "dpmem_priv.h"

/*
 * No lock pairs with this: nothing is mirrored, the sequence number only
 * tells hmm_range_fault() to restart a walk that raced with a change.
 */
static bool dpmem_snapshot_invalidate(struct mmu_interval_notifier *mni,
				      const struct mmu_notifier_range *range,
				      unsigned long cur_seq)
{
	mmu_interval_set_seq(mni, cur_seq);
	return true;
}

static const struct mmu_interval_notifier_ops dpmem_snapshot_ops = {
	.invalidate = dpmem_snapshot_invalidate,
};

/*
 * Walk [start, end) with @owner into s->pfns; @locked: the caller holds the
 * mmap_lock for read (else it is taken for each try).
 */
static int dpmem_snapshot_walk(struct dpmem_snapshot *s, struct mm_struct *mm,
			       unsigned long start, unsigned long end,
			       void *owner, bool locked)
{
	unsigned long timeout = jiffies +
				msecs_to_jiffies(HMM_RANGE_DEFAULT_TIMEOUT);
	struct hmm_range range = {
		.notifier = &s->notifier,
		.start = start,
		.end = end,
		.hmm_pfns = s->pfns,
		.default_flags = 0,
		.pfn_flags_mask = 0,
		.dev_private_owner = owner,
	};
	int ret;

	do {
		if (time_after(jiffies, timeout))
			return -EBUSY;
		range.notifier_seq = mmu_interval_read_begin(&s->notifier);
		if (!locked && mmap_read_lock_killable(mm))
			return -EINTR;
		ret = hmm_range_fault(&range);
		if (!locked)
			mmap_read_unlock(mm);
	} while (ret == -EBUSY);
	return ret;
}

static u8 dpmem_classify(struct dpmem_dev *dev, unsigned long hpfn)
{
	unsigned long pfn = hpfn & ~HMM_PFN_FLAGS;
	struct dpmem_dev *where;

	if (hpfn & HMM_PFN_ERROR)
		return DPMEM_RES_UNKNOWN;
	if (!(hpfn & HMM_PFN_VALID))
		return DPMEM_RES_NONE;
	where = dpmem_pfn_dev(pfn);
	if (where)
		return where == dev ? DPMEM_RES_DEVICE : DPMEM_RES_PEER;
	/* Other ZONE_DEVICE memory (DAX, P2P BARs) is not system RAM. */
	if (is_zone_device_page(pfn_to_page(pfn)))
		return DPMEM_RES_UNKNOWN;
	return DPMEM_RES_SYSTEM;
}

/**
 * dpmem_snapshot_begin() - get ready to take snapshots of a range
 * @s: the snapshot (s->notifier unused so far)
 * @mm: the address space; its mmap_lock must not be held (the first
 *	notifier of an mm takes it)
 * @start: page-aligned start
 * @end: page-aligned end, > @start
 *
 * Return: 0 or mmu_interval_notifier_insert()'s error.
 */
int dpmem_snapshot_begin(struct dpmem_snapshot *s, struct mm_struct *mm,
			 unsigned long start, unsigned long end)
{
	return mmu_interval_notifier_insert(&s->notifier, mm, start,
					    end - start, &dpmem_snapshot_ops);
}

/**
 * dpmem_snapshot_end() - undo dpmem_snapshot_begin()
 * @s: the snapshot
 */
void dpmem_snapshot_end(struct dpmem_snapshot *s)
{
	mmu_interval_notifier_remove(&s->notifier);
}

/**
 * dpmem_snapshot_chunk() - where each page of a chunk lives, into s->map
 * @dev: the instance asking ("this device")
 * @s: a snapshot begun over a range that includes the chunk
 * @mm: its address space
 * @start: page-aligned start of the chunk
 * @end: its end, at most DPMEM_BATCH_PAGES pages after @start
 * @locked: the caller holds @mm's mmap_lock for read
 *
 * Return: 0; -EBUSY if the chunk kept changing; -EINTR; hmm_range_fault()'s
 * error.
 */
int dpmem_snapshot_chunk(struct dpmem_dev *dev, struct dpmem_snapshot *s,
			 struct mm_struct *mm, unsigned long start,
			 unsigned long end, bool locked)
{
	unsigned long i, n = (end - start) >> PAGE_SHIFT, empty = 0;
	unsigned int k;
	int ret;

	ret = dpmem_snapshot_walk(s, mm, start, end, dev->owner, locked);
	if (ret)
		return ret;
	for (i = 0; i < n; i++) {
		s->map[i] = dpmem_classify(dev, s->pfns[i]);
		empty += s->map[i] == DPMEM_RES_NONE;
	}

	for (k = 0; empty && k < dev->nr_peer_owners; k++) {
		ret = dpmem_snapshot_walk(s, mm, start, end,
					  dev->peer_owners[k], locked);
		if (ret)
			return ret;
		for (i = 0; i < n; i++) {
			if (s->map[i] != DPMEM_RES_NONE)
				continue;
			s->map[i] = dpmem_classify(dev, s->pfns[i]);
			empty -= s->map[i] != DPMEM_RES_NONE;
		}
	}
	return 0;
}

/**
 * dpmem_residency() - one byte per page telling where it lives
 * @dev: the instance asking ("this device")
 * @start: page-aligned user address
 * @end: page-aligned end, > @start, within the user address space
 * @map: user buffer of (@end - @start) / PAGE_SIZE bytes, or NULL
 * @count: out: pages per state
 *
 * Return: 0; -EFAULT if the range is not fully mapped or @map is bad;
 * -EBUSY if the range kept changing for HMM_RANGE_DEFAULT_TIMEOUT ms;
 * -EINTR; -ENOMEM.
 */
int dpmem_residency(struct dpmem_dev *dev, unsigned long start,
		    unsigned long end, u8 __user *map,
		    u64 count[DPMEM_RES_NR_STATES])
{
	struct mm_struct *mm = current->mm;
	struct dpmem_snapshot *s;
	unsigned long addr, next, i;
	int ret;

	s = kzalloc(sizeof(*s), GFP_KERNEL_ACCOUNT);
	if (!s)
		return -ENOMEM;

	if (mmap_read_lock_killable(mm)) {
		ret = -EINTR;
		goto free;
	}
	ret = dpmem_check_vmas(dev, mm, start, end, 0);
	mmap_read_unlock(mm);
	if (ret)
		goto free;

	ret = dpmem_snapshot_begin(s, mm, start, end);
	if (ret)
		goto free;

	for (addr = start; addr < end; addr = next) {
		next = min(end, addr + DPMEM_BATCH_PAGES * PAGE_SIZE);
		ret = dpmem_snapshot_chunk(dev, s, mm, addr, next, false);
		if (ret)
			break;
		for (i = 0; i < (next - addr) >> PAGE_SHIFT; i++)
			count[s->map[i]]++;
		if (map && copy_to_user(map + ((addr - start) >> PAGE_SHIFT),
					s->map, (next - addr) >> PAGE_SHIFT)) {
			ret = -EFAULT;
			break;
		}
		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			break;
		}
		cond_resched();
	}
	dpmem_snapshot_end(s);
free:
	kfree(s);
	return ret;
}
