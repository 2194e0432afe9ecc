// SPDX-License-Identifier: GPL-2.0
/*
 * dpmem migration: moving a process's pages between system memory and a
 * device with migrate_vma_*(), for the MIGRATE ioctls and for CPU faults on
 * device pages (dev_pagemap_ops.migrate_to_ram).
 *
 * Selection rules:
 * - To the device: system pages (and untouched anonymous addresses) are
 *   selected with MIGRATE_VMA_SELECT_SYSTEM; pages of other dpmem instances
 *   are selected, one owner at a time, with MIGRATE_VMA_SELECT_DEVICE_PRIVATE
 *   and moved device to device unless DPMEM_MIGRATE_NO_PEER is given.
 * - To system memory: MIGRATE_VMA_SELECT_DEVICE_PRIVATE with this instance's
 *   owner.
 * Whatever is selected, a page is treated as ours only if it is in our
 * pagemap (dpmem_page_is_mine()); pages of another pagemap that share an
 * owner are left alone on the way out and taken as peers on the way in.
 *
 * Every migrate_vma_setup() call raises MMU_NOTIFY_MIGRATE over its whole
 * span, and with the peer group's shared owner it also collects (unmaps and
 * restores) this instance's own pages. So each batch is first looked at with
 * a residency snapshot, and each pass is handed only the runs of pages it is
 * to move: a migration of pages that are already in place calls nothing and
 * invalidates nothing.
 *
 * Counting: a page is eligible when the snapshot finds it in system memory
 * (TO_DEVICE), on another dpmem instance (TO_DEVICE without NO_PEER), or on
 * this one (TO_SYSTEM), and when it is an untouched address that the
 * system pass collects; every eligible page that did not move counts as
 * failed, whatever stopped it (the kernel skipped it, it is a KSM page, no
 * memory for it).
 *
 * All of it runs with the process's mmap_lock held for read, which keeps the
 * VMAs stable; migrate_vma_setup() locks and unmaps the selected pages.
 */
#include <linux/bitmap.h>
#include <linux/highmem.h>
#include <linux/migrate.h>
#include <linux/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>

#include "dpmem_priv.h"

/*
 * One batch's arrays; @eligible and @moved are indexed from the batch's
 * start, as is @snap.map.
 */
struct dpmem_batch {
	unsigned long src[DPMEM_BATCH_PAGES];
	unsigned long dst[DPMEM_BATCH_PAGES];
	DECLARE_BITMAP(eligible, DPMEM_BATCH_PAGES);
	DECLARE_BITMAP(moved, DPMEM_BATCH_PAGES);
	struct dpmem_snapshot snap;
};

/* Why a VMA's pages cannot move to a device, or NULL if they can. */
static const char *dpmem_vma_unmovable(struct vm_area_struct *vma)
{
	if (is_vm_hugetlb_page(vma))
		return "hugetlbfs";
	if (vma->vm_flags & (VM_IO | VM_PFNMAP | VM_MIXEDMAP))
		return "I/O or PFN";
	if (vma->vm_flags & VM_SHARED)
		return "shared";
	if (!vma_is_anonymous(vma))
		return "file";
	if (vma->vm_flags & VM_SPECIAL)
		return "special";
	return NULL;
}

/**
 * dpmem_check_vmas() - is [@start, @end) fully mapped (and movable)?
 * @dev: the instance, for messages
 * @mm: the address space; its mmap_lock is held
 * @start: page-aligned start
 * @end: page-aligned end, > @start
 * @need: DPMEM_VMA_MOVABLE: require private anonymous memory everywhere;
 *	DPMEM_VMA_READABLE: require read access everywhere (no PROT_NONE)
 *
 * Return: 0; -EFAULT if part of the range is not mapped; -EOPNOTSUPP if
 * part of it is not private anonymous memory, -EINVAL if part of it is
 * PROT_NONE (both logged, as the reason is not obvious from the errno).
 */
int dpmem_check_vmas(struct dpmem_dev *dev, struct mm_struct *mm,
		     unsigned long start, unsigned long end, unsigned int need)
{
	VMA_ITERATOR(vmi, mm, start);
	struct vm_area_struct *vma;
	unsigned long addr = start;

	mmap_assert_locked(mm);
	for_each_vma_range(vmi, vma, end) {
		const char *why;

		if (vma->vm_start > addr)
			return -EFAULT;
		if ((need & DPMEM_VMA_READABLE) && !(vma->vm_flags & VM_READ)) {
			dev_info_ratelimited(dev->misc.this_device,
					     "%s[%d]: [%#lx, %#lx) includes memory mapped PROT_NONE at %#lx; it has no data to move\n",
					     current->comm, task_pid_nr(current),
					     start, end, vma->vm_start);
			return -EINVAL;
		}
		why = (need & DPMEM_VMA_MOVABLE) ? dpmem_vma_unmovable(vma) : NULL;
		if (why) {
			dev_info_ratelimited(dev->misc.this_device,
					     "%s[%d]: [%#lx, %#lx) includes a %s mapping at %#lx; only private anonymous memory moves to a device\n",
					     current->comm, task_pid_nr(current),
					     start, end, why, vma->vm_start);
			return -EOPNOTSUPP;
		}
		addr = vma->vm_end;
		if (addr >= end)
			return 0;
	}
	return -EFAULT;
}

/**
 * dpmem_copy_out() - a new system page holding a device page's data
 * @dpage: a device page of ours, locked by the caller's migration
 * @vma: where the new page will be mapped (for NUMA placement), or NULL
 * @addr: its address in @vma
 * @gfp: allocation flags
 *
 * Return: the new page, locked, ready for a dst array; NULL if no memory.
 */
struct page *dpmem_copy_out(struct page *dpage, struct vm_area_struct *vma,
			    unsigned long addr, gfp_t gfp)
{
	struct page *page;

	page = vma ? alloc_page_vma(gfp, vma, addr) : alloc_page(gfp);
	if (!page)
		return NULL;
	lock_page(page);
	copy_highpage(page, dpmem_backing(dpage));
	return page;
}

/*
 * Give every collected entry of @args a new device page of @dev holding a
 * copy of its source. Returns false if the device ran out; the entries left
 * without a page stay where they are. KSM pages stay too: moving one would
 * unmap it from every process that shares it.
 */
static bool dpmem_fill_in(struct dpmem_dev *dev, struct migrate_vma *args)
{
	bool full = false;
	unsigned long i;

	for (i = 0; i < args->npages; i++) {
		unsigned long src = args->src[i];
		struct page *spage, *dpage, *from;

		if (!(src & MIGRATE_PFN_MIGRATE))
			continue;
		spage = migrate_pfn_to_page(src);
		from = spage;
		if (spage && is_zone_device_page(spage)) {
			/* Only another instance's pages are ours to take. */
			if (!dpmem_is_dpmem_page(spage) ||
			    dpmem_page_is_mine(dev, spage))
				continue;
			from = dpmem_backing(spage);
		} else if (spage && folio_test_ksm(page_folio(spage))) {
			continue;
		}
		if (full)
			continue;
		dpage = dpmem_alloc_page(dev);
		if (!dpage) {
			full = true;
			continue;
		}
		/* No source page: an untouched address or the zero page. */
		if (from)
			copy_highpage(dpmem_backing(dpage), from);
		else
			clear_highpage(dpmem_backing(dpage));
		args->dst[i] = migrate_pfn(page_to_pfn(dpage));
	}
	return !full;
}

/*
 * Count what migrate_vma_pages() moved onto @dev, before finalize; @off is
 * the index of args->start in @b's bitmaps.
 */
static void dpmem_count_in(struct dpmem_dev *dev, struct migrate_vma *args,
			   struct dpmem_batch *b, unsigned long off,
			   struct dpmem_migrate *out)
{
	unsigned long i, moved = 0, peer = 0;

	for (i = 0; i < args->npages; i++) {
		struct page *spage;

		if (!args->dst[i] || !(args->src[i] & MIGRATE_PFN_MIGRATE))
			continue;
		__set_bit(off + i, b->moved);
		moved++;
		spage = migrate_pfn_to_page(args->src[i]);
		if (spage && is_zone_device_page(spage)) {
			struct dpmem_dev *from = dpmem_pgmap_dev(spage->pgmap);

			atomic64_inc(&from->ctr.pages_to_peer);
			atomic64_add(PAGE_SIZE, &from->ctr.bytes_out);
			peer++;
		}
	}
	out->moved += moved;
	out->moved_peer += peer;
	atomic64_add(moved << PAGE_SHIFT, &dev->ctr.bytes_in);
	atomic64_add(peer, &dev->ctr.pages_from_peer);
}

/* A migrate_vma of pages [@i, @j) of the batch at @base, into @b's arrays. */
static struct migrate_vma dpmem_run_args(struct dpmem_batch *b,
					 struct vm_area_struct *vma,
					 unsigned long base, unsigned long i,
					 unsigned long j, void *owner,
					 unsigned long select)
{
	return (struct migrate_vma) {
		.vma = vma,
		.src = b->src,
		.dst = b->dst,
		.start = base + (i << PAGE_SHIFT),
		.end = base + (j << PAGE_SHIFT),
		.pgmap_owner = owner,
		.flags = select,
	};
}

/*
 * One migrate_vma pass onto @dev of pages [@i, @j) of the batch that starts
 * at @base, selecting with @owner and @select. Returns 0, -ENOSPC if the
 * device ran out, or migrate_vma_setup()'s error.
 */
static int dpmem_pass_in(struct dpmem_dev *dev, struct vm_area_struct *vma,
			 unsigned long base, unsigned long i, unsigned long j,
			 void *owner, unsigned long select,
			 struct dpmem_batch *b, struct dpmem_migrate *out)
{
	struct migrate_vma args = dpmem_run_args(b, vma, base, i, j, owner,
						 select);
	unsigned long k;
	bool fit;
	int ret;

	ret = migrate_vma_setup(&args);
	if (ret)
		return ret;
	if (!args.cpages)
		return 0;
	/*
	 * What the snapshot saw as empty and this pass took: untouched
	 * addresses (zero-filled device pages), or anything when the batch
	 * could not be looked at (dpmem_batch_look()); never our own pages.
	 */
	for (k = 0; k < args.npages; k++) {
		struct page *spage = migrate_pfn_to_page(args.src[k]);

		if ((args.src[k] & MIGRATE_PFN_MIGRATE) &&
		    b->snap.map[i + k] == DPMEM_RES_NONE &&
		    !(spage && dpmem_page_is_mine(dev, spage)))
			__set_bit(i + k, b->eligible);
	}
	fit = dpmem_fill_in(dev, &args);
	migrate_vma_pages(&args);
	dpmem_count_in(dev, &args, b, i, out);
	migrate_vma_finalize(&args);
	return fit ? 0 : -ENOSPC;
}

/*
 * The next run [*i, *j) of @map's @n pages, from *j on, whose state is one
 * of @states (a mask of BIT(DPMEM_RES_*)). Returns false if none is left.
 */
static bool dpmem_next_run(const u8 *map, unsigned long n,
			   unsigned int states, unsigned long *i,
			   unsigned long *j)
{
	unsigned long a = *j;

	while (a < n && !(BIT(map[a]) & states))
		a++;
	if (a == n)
		return false;
	*i = a;
	while (a < n && (BIT(map[a]) & states))
		a++;
	*j = a;
	return true;
}

/*
 * Snapshot a batch into b->snap.map, and clear its bitmaps. Returns true if
 * the batch kept changing for HMM_RANGE_DEFAULT_TIMEOUT: then every page
 * reads as DPMEM_RES_NONE, and the passes go over the whole batch as they
 * would without a snapshot.
 */
static bool dpmem_batch_look(struct dpmem_dev *dev, struct vm_area_struct *vma,
			     unsigned long start, unsigned long end,
			     struct dpmem_batch *b, int *err)
{
	unsigned long n = (end - start) >> PAGE_SHIFT;

	bitmap_zero(b->eligible, n);
	bitmap_zero(b->moved, n);
	*err = dpmem_snapshot_chunk(dev, &b->snap, vma->vm_mm, start, end,
				    true);
	if (*err != -EBUSY)
		return false;
	memset(b->snap.map, DPMEM_RES_NONE, n);
	*err = 0;
	return true;
}

static int dpmem_batch_in(struct dpmem_dev *dev, struct vm_area_struct *vma,
			  unsigned long start, unsigned long end, u32 flags,
			  struct dpmem_batch *b, struct dpmem_migrate *out)
{
	unsigned long n = (end - start) >> PAGE_SHIFT, i, j;
	bool no_peer = flags & DPMEM_MIGRATE_NO_PEER;
	const u8 *map = b->snap.map;
	unsigned int k, peers;
	int ret;

	peers = dpmem_batch_look(dev, vma, start, end, b, &ret) ?
		BIT(DPMEM_RES_NONE) : BIT(DPMEM_RES_PEER);
	if (ret)
		return ret;
	for (i = 0; i < n; i++)
		if (map[i] == DPMEM_RES_SYSTEM ||
		    (map[i] == DPMEM_RES_PEER && !no_peer))
			__set_bit(i, b->eligible);

	if (down_read_killable(&dev->alloc_rwsem))
		return -EINTR;
	/* system memory and untouched addresses */
	for (j = 0; !ret && dpmem_next_run(map, n, BIT(DPMEM_RES_SYSTEM) |
					   BIT(DPMEM_RES_NONE), &i, &j);)
		ret = dpmem_pass_in(dev, vma, start, i, j, dev->owner,
				    MIGRATE_VMA_SELECT_SYSTEM, b, out);
	/* pages on other instances: one pass per owner */
	for (k = 0; !no_peer && !ret && k < dev->nr_peer_owners; k++)
		for (j = 0; !ret && dpmem_next_run(map, n, peers, &i, &j);)
			ret = dpmem_pass_in(dev, vma, start, i, j,
					    dev->peer_owners[k],
					    MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
					    b, out);
	up_read(&dev->alloc_rwsem);
	out->failed += bitmap_weight_andnot(b->eligible, b->moved, n);
	return ret;
}

static unsigned long dpmem_batch_end(struct vm_area_struct *vma,
				     unsigned long addr, unsigned long end)
{
	unsigned long next;

	next = ALIGN_DOWN(addr, DPMEM_BATCH_PAGES * PAGE_SIZE) +
	       DPMEM_BATCH_PAGES * PAGE_SIZE;
	return min3(next, end, vma->vm_end);
}

static int dpmem_batch_out(struct dpmem_dev *dev, struct vm_area_struct *vma,
			   unsigned long start, unsigned long end,
			   struct dpmem_batch *b, struct dpmem_migrate *out);

/*
 * Walk [start, end) of the caller's address space batch by batch, moving
 * pages in (@to_device, with @flags) or out; shared by both ioctls.
 */
static int dpmem_walk(struct dpmem_dev *dev, unsigned long start,
		      unsigned long end, bool to_device, u32 flags,
		      struct dpmem_migrate *out)
{
	struct mm_struct *mm = current->mm;
	struct vm_area_struct *vma;
	unsigned long addr, next;
	struct dpmem_batch *b;
	int ret;

	b = kmalloc(sizeof(*b), GFP_KERNEL_ACCOUNT);
	if (!b)
		return -ENOMEM;
	/* before the mmap_lock: an mm's first notifier takes it */
	ret = dpmem_snapshot_begin(&b->snap, mm, start, end);
	if (ret)
		goto free;
	if (mmap_read_lock_killable(mm)) {
		ret = -EINTR;
		goto end;
	}
	ret = dpmem_check_vmas(dev, mm, start, end, DPMEM_VMA_MOVABLE |
			       (to_device ? DPMEM_VMA_READABLE : 0));
	for (addr = start; !ret && addr < end; addr = next) {
		vma = vma_lookup(mm, addr);
		if (WARN_ON_ONCE(!vma)) {
			ret = -EFAULT;
			break;
		}
		next = dpmem_batch_end(vma, addr, end);
		if (to_device)
			ret = dpmem_batch_in(dev, vma, addr, next, flags, b, out);
		else
			ret = dpmem_batch_out(dev, vma, addr, next, b, out);
		if (to_device && ret == -ENOSPC) {
			out->out_flags |= DPMEM_MIGRATE_OUT_FULL;
			ret = 0;
			break;
		}
		if (!ret && fatal_signal_pending(current))
			ret = -EINTR;
		cond_resched();
	}
	mmap_read_unlock(mm);
end:
	dpmem_snapshot_end(&b->snap);
free:
	kfree(b);
	return ret;
}

/**
 * dpmem_migrate_to_device() - move the caller's pages in a range onto @dev
 * @dev: the instance
 * @start: page-aligned user address
 * @end: page-aligned end, > @start, within the user address space
 * @flags: DPMEM_MIGRATE_* flags, already validated
 * @out: results, zeroed by the caller
 *
 * When the device runs out, what fits has moved, the rest stays, and
 * DPMEM_MIGRATE_OUT_FULL is set in @out; that is not an error.
 *
 * Return: 0, -EFAULT / -EOPNOTSUPP for a bad range, -EINTR on a fatal
 * signal, -ENOMEM.
 */
int dpmem_migrate_to_device(struct dpmem_dev *dev, unsigned long start,
			    unsigned long end, u32 flags,
			    struct dpmem_migrate *out)
{
	int ret = dpmem_walk(dev, start, end, true, flags, out);

	if (out->out_flags & DPMEM_MIGRATE_OUT_FULL)
		dev_info_ratelimited(dev->misc.this_device,
				     "%s[%d]: device memory full: %llu pages moved, the rest of [%#lx, %#lx) stays in place\n",
				     current->comm, task_pid_nr(current),
				     out->moved, start, end);
	return ret;
}

/* Give every collected page of ours a new system page with its data. */
static void dpmem_fill_out(struct dpmem_dev *dev, struct migrate_vma *args)
{
	unsigned long i;

	for (i = 0; i < args->npages; i++) {
		struct page *spage = migrate_pfn_to_page(args->src[i]);
		struct page *page;

		if (!spage || !(args->src[i] & MIGRATE_PFN_MIGRATE) ||
		    !dpmem_page_is_mine(dev, spage))
			continue;
		page = dpmem_copy_out(spage, args->vma,
				      args->start + (i << PAGE_SHIFT),
				      GFP_HIGHUSER_MOVABLE | __GFP_NOWARN);
		if (page)
			args->dst[i] = migrate_pfn(page_to_pfn(page));
	}
}

/* One migrate_vma pass of pages [@i, @j) of the batch at @base back. */
static int dpmem_pass_out(struct dpmem_dev *dev, struct vm_area_struct *vma,
			  unsigned long base, unsigned long i, unsigned long j,
			  struct dpmem_batch *b, struct dpmem_migrate *out)
{
	struct migrate_vma args = dpmem_run_args(b, vma, base, i, j, dev->owner,
						 MIGRATE_VMA_SELECT_DEVICE_PRIVATE);
	unsigned long k, moved = 0;
	int ret;

	ret = migrate_vma_setup(&args);
	if (ret || !args.cpages)
		return ret;
	/* what the snapshot could not see (dpmem_batch_look()) */
	for (k = 0; k < args.npages; k++) {
		struct page *spage = migrate_pfn_to_page(args.src[k]);

		if (spage && (args.src[k] & MIGRATE_PFN_MIGRATE) &&
		    dpmem_page_is_mine(dev, spage))
			__set_bit(i + k, b->eligible);
	}
	dpmem_fill_out(dev, &args);
	migrate_vma_pages(&args);
	for (k = 0; k < args.npages; k++) {
		if (args.dst[k] && (args.src[k] & MIGRATE_PFN_MIGRATE)) {
			__set_bit(i + k, b->moved);
			moved++;
		}
	}
	migrate_vma_finalize(&args);
	out->moved += moved;
	atomic64_add(moved << PAGE_SHIFT, &dev->ctr.bytes_out);
	return 0;
}

static int dpmem_batch_out(struct dpmem_dev *dev, struct vm_area_struct *vma,
			   unsigned long start, unsigned long end,
			   struct dpmem_batch *b, struct dpmem_migrate *out)
{
	unsigned long n = (end - start) >> PAGE_SHIFT, i, j;
	const u8 *map = b->snap.map;
	unsigned int mine;
	int ret;

	mine = dpmem_batch_look(dev, vma, start, end, b, &ret) ?
	       BIT(DPMEM_RES_NONE) : BIT(DPMEM_RES_DEVICE);
	if (ret)
		return ret;
	for (i = 0; i < n; i++)
		if (map[i] == DPMEM_RES_DEVICE)
			__set_bit(i, b->eligible);
	for (j = 0; !ret && dpmem_next_run(map, n, mine, &i, &j);)
		ret = dpmem_pass_out(dev, vma, start, i, j, b, out);
	out->failed += bitmap_weight_andnot(b->eligible, b->moved, n);
	return ret;
}

/**
 * dpmem_migrate_to_system() - bring @dev's pages in a range back
 * @dev: the instance
 * @start: page-aligned user address
 * @end: page-aligned end, > @start, within the user address space
 * @out: results, zeroed by the caller
 *
 * Return: 0, -EFAULT / -EOPNOTSUPP for a bad range, -EINTR on a fatal
 * signal, -ENOMEM.
 */
int dpmem_migrate_to_system(struct dpmem_dev *dev, unsigned long start,
			    unsigned long end, struct dpmem_migrate *out)
{
	return dpmem_walk(dev, start, end, false, 0, out);
}

/**
 * dpmem_migrate_to_ram() - CPU fault on a dpmem page: move it back
 * @vmf: the fault; vmf->page is our device page, referenced by the caller;
 *	the mmap_lock is held for read
 *
 * Moves the one faulting page. If someone else is moving it at the same
 * moment, nothing is collected and the fault is simply retried.
 *
 * Return: 0, VM_FAULT_SIGBUS if the range cannot be migrated at all,
 * VM_FAULT_OOM if there is no system page for the data.
 */
vm_fault_t dpmem_migrate_to_ram(struct vm_fault *vmf)
{
	struct dpmem_dev *dev = dpmem_pgmap_dev(vmf->page->pgmap);
	unsigned long src = 0, dst = 0;
	struct migrate_vma args = {
		.vma = vmf->vma,
		.src = &src,
		.dst = &dst,
		.start = ALIGN_DOWN(vmf->address, PAGE_SIZE),
		.end = ALIGN_DOWN(vmf->address, PAGE_SIZE) + PAGE_SIZE,
		.pgmap_owner = dev->owner,
		.flags = MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
		.fault_page = vmf->page,
	};
	struct page *spage, *page;
	vm_fault_t ret = 0;

	if (migrate_vma_setup(&args))
		return VM_FAULT_SIGBUS;
	if (!args.cpages)
		return 0;

	spage = migrate_pfn_to_page(src);
	if (spage && (src & MIGRATE_PFN_MIGRATE) &&
	    dpmem_page_is_mine(dev, spage)) {
		page = dpmem_copy_out(spage, vmf->vma, vmf->address,
				      GFP_HIGHUSER_MOVABLE);
		if (page)
			dst = migrate_pfn(page_to_pfn(page));
		else
			ret = VM_FAULT_OOM;
	}
	migrate_vma_pages(&args);
	if (dst && (src & MIGRATE_PFN_MIGRATE)) {
		atomic64_inc(&dev->ctr.cpu_faults);
		atomic64_add(PAGE_SIZE, &dev->ctr.bytes_out);
	}
	migrate_vma_finalize(&args);
	return ret;
}
