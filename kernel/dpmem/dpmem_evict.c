// SPDX-License-Identifier: GPL-2.0
/*
 * dpmem eviction: empty a device by pfn, whoever maps its pages.
 *
 * migrate_device_range() finds, references, locks and unmaps every page in
 * use in a pfn range (from every process that maps it); each gets a new
 * system page with its data, and migrate_device_finalize() puts the new
 * pages where the old ones were mapped. Pages that someone else has locked
 * at that moment (a CPU fault moving them, another instance pulling them)
 * are skipped and picked up by the next pass; they leave the device on
 * their own anyway.
 *
 * A page another instance has just pulled is unlocked by that migration's
 * finalize before its last reference goes, so migrate_device_range() may
 * still collect it. Its data and its memory cgroup charge went with it (the
 * charge moves with the data): such a page is let go, not copied, and is
 * freed by that last reference.
 */
#include <linux/delay.h>
#include <linux/highmem.h>
#include <linux/jiffies.h>
#include <linux/memcontrol.h>
#include <linux/migrate.h>
#include <linux/sched/signal.h>

#include "dpmem_priv.h"

#define DPMEM_EVICT_WARN_MS	10000

/* A collected page whose data has already left for another instance. */
static bool dpmem_page_gone(struct page *page)
{
	return !mem_cgroup_disabled() && !folio_memcg(page_folio(page));
}

/* One pass over all of @dev's pfns. Returns the pages moved. */
static unsigned long dpmem_evict_pass(struct dpmem_dev *dev)
{
	unsigned long end = dev->pfn_first + dev->nr_pages;
	unsigned long *src = dev->evict_src, *dst = dev->evict_dst;
	unsigned long pfn, n, i, moved = 0;

	lockdep_assert_held_write(&dev->alloc_rwsem);

	for (pfn = dev->pfn_first; pfn < end; pfn += n) {
		n = min_t(unsigned long, DPMEM_BATCH_PAGES, end - pfn);
		migrate_device_range(src, pfn, n);
		for (i = 0; i < n; i++) {
			struct page *spage = migrate_pfn_to_page(src[i]);
			struct page *page;

			dst[i] = 0;
			if (!spage || !(src[i] & MIGRATE_PFN_MIGRATE))
				continue;
			if (dpmem_page_gone(spage)) {
				src[i] &= ~MIGRATE_PFN_MIGRATE;
				continue;
			}
			/* Data must not be lost: wait for memory. */
			page = dpmem_copy_out(spage, NULL, 0,
					      GFP_HIGHUSER_MOVABLE | __GFP_NOFAIL);
			dst[i] = migrate_pfn(page_to_pfn(page));
		}
		migrate_device_pages(src, dst, n);
		for (i = 0; i < n; i++)
			if (dst[i] && (src[i] & MIGRATE_PFN_MIGRATE))
				moved++;
		migrate_device_finalize(src, dst, n);
		cond_resched();
	}
	return moved;
}

/**
 * dpmem_evict() - move every page of @dev back to system memory
 * @dev: the instance
 * @killable: give up when a fatal signal is pending (ioctl); otherwise
 *	(module unload) keep going until the device is empty
 * @remaining: set to the pages still on the device on return
 *
 * Blocks new allocations on @dev while it runs. May sleep for long.
 *
 * Return: the number of pages moved back.
 */
unsigned long dpmem_evict(struct dpmem_dev *dev, bool killable,
			  unsigned long *remaining)
{
	unsigned long moved = 0, start = jiffies, pass;
	bool warned = false;

	down_write(&dev->alloc_rwsem);
	while (dpmem_pages_resident(dev)) {
		pass = dpmem_evict_pass(dev);
		moved += pass;
		if (killable && fatal_signal_pending(current))
			break;
		if (pass)
			continue;
		/* Everything left is busy for a moment: let holders finish. */
		if (!warned && time_after(jiffies, start +
				msecs_to_jiffies(DPMEM_EVICT_WARN_MS))) {
			pr_warn("%s: %lu pages still busy after %u ms, still trying\n",
				dev->name, dpmem_pages_resident(dev),
				DPMEM_EVICT_WARN_MS);
			warned = true;
		}
		usleep_range(1000, 2000);
	}
	*remaining = dpmem_pages_resident(dev);
	up_write(&dev->alloc_rwsem);

	atomic64_add(moved, &dev->ctr.evictions);
	atomic64_add(moved << PAGE_SHIFT, &dev->ctr.bytes_out);
	return moved;
}
