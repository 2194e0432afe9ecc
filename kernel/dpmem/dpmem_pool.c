// SPDX-License-Identifier: GPL-2.0
/*
 * dpmem device memory: a MEMORY_DEVICE_PRIVATE pagemap per instance, a free
 * list of its pages, and the system pages that stand in for device RAM.
 *
 * Page lifetime:
 * - free: refcount 0, on the free list (linked through zone_device_data).
 * - dpmem_alloc_page(): off the free list, a backing system page attached
 *   (zone_device_data), refcount 1, locked. The migration that asked for it
 *   either maps it into a process or drops it again.
 * - mapped: the refcount counts the mappings plus transient holders; the
 *   data lives in the backing page.
 * - the last reference goes (unmap, process exit, the page migrated away):
 *   the core calls dpmem_page_free(), which frees the backing page and puts
 *   the device page back on the free list. The core then drops the page's
 *   reference on the pagemap.
 * memunmap_pages() waits for every page's pagemap reference, so the pool is
 * emptied (dpmem_evict()) before it is torn down.
 */
#include <linux/export.h>
#include <linux/gfp.h>
#include <linux/highmem.h>
#include <linux/ioport.h>
#include <linux/mm.h>

#include "dpmem_priv.h"

static void dpmem_page_free(struct page *page)
{
	struct dpmem_dev *dev = dpmem_pgmap_dev(page->pgmap);
	struct page *backing = dpmem_backing(page);
	unsigned long flags;

	if (backing)
		__free_page(backing);

	spin_lock_irqsave(&dev->free_lock, flags);
	page->zone_device_data = dev->free_list;
	dev->free_list = page;
	dev->nr_free++;
	spin_unlock_irqrestore(&dev->free_lock, flags);
}

static const struct dev_pagemap_ops dpmem_pgmap_ops = {
	.page_free = dpmem_page_free,
	.migrate_to_ram = dpmem_migrate_to_ram,
};

/**
 * dpmem_alloc_page() - take a free device page and give it backing memory
 * @dev: the instance
 *
 * The caller holds @dev->alloc_rwsem for read (eviction holds it for write
 * and must not see new pages arrive). May sleep.
 *
 * Return: a device page with refcount 1, locked, whose backing page holds
 * garbage; or NULL when the device is full or no system page is available
 * to back it (both count as an allocation failure).
 */
struct page *dpmem_alloc_page(struct dpmem_dev *dev)
{
	struct page *dpage, *backing;
	unsigned long flags;

	lockdep_assert_held_read(&dev->alloc_rwsem);

	spin_lock_irqsave(&dev->free_lock, flags);
	dpage = dev->free_list;
	if (dpage) {
		dev->free_list = dpage->zone_device_data;
		dev->nr_free--;
	}
	spin_unlock_irqrestore(&dev->free_lock, flags);
	if (!dpage)
		goto fail;

	/* Lowmem, so that dpmem_page_kaddr() has an address to give. */
	backing = alloc_page(GFP_KERNEL | __GFP_NOWARN);
	if (!backing) {
		spin_lock_irqsave(&dev->free_lock, flags);
		dpage->zone_device_data = dev->free_list;
		dev->free_list = dpage;
		dev->nr_free++;
		spin_unlock_irqrestore(&dev->free_lock, flags);
		goto fail;
	}

	zone_device_page_init(dpage);
	dpage->zone_device_data = backing;
	return dpage;

fail:
	atomic64_inc(&dev->ctr.alloc_failures);
	return NULL;
}

/**
 * dpmem_pages_resident() - device pages in use
 * @dev: the instance
 *
 * Return: a snapshot of the number of device pages not on the free list.
 */
unsigned long dpmem_pages_resident(struct dpmem_dev *dev)
{
	return dev->nr_pages - READ_ONCE(dev->nr_free);
}

/**
 * dpmem_pool_init() - reserve and map the device memory of an instance
 * @dev: the instance, with @dev->name and @dev->owner set
 * @size: bytes of device memory, a multiple of 2 MiB
 *
 * Return: 0, or a negative errno.
 */
int dpmem_pool_init(struct dpmem_dev *dev, unsigned long size)
{
	struct resource *res;
	unsigned long i;
	void *ret;

	res = request_free_mem_region(&iomem_resource, size, dev->name);
	if (IS_ERR(res))
		return PTR_ERR(res);

	dev->res = res;
	dev->pgmap.type = MEMORY_DEVICE_PRIVATE;
	dev->pgmap.range.start = res->start;
	dev->pgmap.range.end = res->end;
	dev->pgmap.nr_range = 1;
	dev->pgmap.ops = &dpmem_pgmap_ops;
	dev->pgmap.owner = dev->owner;
	ret = memremap_pages(&dev->pgmap, numa_node_id());
	if (IS_ERR_OR_NULL(ret)) {
		release_mem_region(res->start, resource_size(res));
		return ret ? PTR_ERR(ret) : -ENOMEM;
	}

	dev->pfn_first = PHYS_PFN(res->start);
	dev->nr_pages = size >> PAGE_SHIFT;
	/* Build the free list so that allocation starts at the first pfn. */
	for (i = dev->nr_pages; i > 0; i--) {
		struct page *page = pfn_to_page(dev->pfn_first + i - 1);

		page->zone_device_data = dev->free_list;
		dev->free_list = page;
	}
	dev->nr_free = dev->nr_pages;
	return 0;
}

/**
 * dpmem_pool_fini() - move every page back, then release the device memory
 * @dev: the instance; no file refers to it any more
 *
 * Processes keep their data: pages still mapped anywhere migrate back to
 * system memory before the pagemap goes away.
 */
void dpmem_pool_fini(struct dpmem_dev *dev)
{
	unsigned long moved, remaining;

	moved = dpmem_evict(dev, false, &remaining);
	if (moved)
		pr_info("%s: moved %lu pages back to system memory before removal\n",
			dev->name, moved);
	/* every importer was invalidated by those moves */
	dpmem_peer_detach(dev);
	memunmap_pages(&dev->pgmap);
	release_mem_region(dev->res->start, resource_size(dev->res));
}

/**
 * dpmem_is_dpmem_page() - is this a dpmem device page?
 * @page: any page
 *
 * Return: true if @page is a device-private page of a dpmem instance.
 */
bool dpmem_is_dpmem_page(const struct page *page)
{
	return is_device_private_page(page) &&
	       page->pgmap->ops == &dpmem_pgmap_ops;
}
EXPORT_SYMBOL_GPL(dpmem_is_dpmem_page);

/**
 * dpmem_page_dev() - the instance a dpmem page belongs to
 * @page: any page
 *
 * Return: the instance, or NULL if @page is not a dpmem page.
 */
struct dpmem_dev *dpmem_page_dev(const struct page *page)
{
	if (!dpmem_is_dpmem_page(page))
		return NULL;
	return dpmem_pgmap_dev(page->pgmap);
}
EXPORT_SYMBOL_GPL(dpmem_page_dev);

/**
 * dpmem_dev_index() - N of /dev/dpmemN
 * @dev: an instance
 *
 * Return: the instance's index.
 */
unsigned int dpmem_dev_index(const struct dpmem_dev *dev)
{
	return dev->index;
}
EXPORT_SYMBOL_GPL(dpmem_dev_index);

/**
 * dpmem_dev_owner() - the pgmap owner of an instance's pages
 * @dev: an instance
 *
 * Pass it as hmm_range.dev_private_owner to have hmm_range_fault() report
 * this instance's pages in place instead of migrating them back.
 *
 * Return: the owner pointer, fixed for the life of the instance.
 */
void *dpmem_dev_owner(const struct dpmem_dev *dev)
{
	return dev->owner;
}
EXPORT_SYMBOL_GPL(dpmem_dev_owner);

/**
 * dpmem_page_backing() - the system page that holds a device page's data
 * @page: a dpmem page that is in use; the caller keeps it from being freed
 *	(see <softodp/dpmem.h> for what counts)
 *
 * Return: the backing page, or NULL if @page is not a dpmem page or is free
 * (a free page's zone_device_data links the free list: it has no backing).
 */
struct page *dpmem_page_backing(const struct page *page)
{
	if (!dpmem_is_dpmem_page(page) || !page_ref_count(page))
		return NULL;
	return dpmem_backing(page);
}
EXPORT_SYMBOL_GPL(dpmem_page_backing);

/**
 * dpmem_page_kaddr() - kernel address of a device page's data
 * @page: a dpmem page that is in use; the caller keeps it from being freed
 *
 * Backing pages are lowmem, so the address is permanent for as long as the
 * device page stays allocated; no kmap is needed.
 *
 * Return: the address of the backing page's contents, or NULL if @page is
 * not a dpmem page or is free.
 */
void *dpmem_page_kaddr(const struct page *page)
{
	struct page *backing = dpmem_page_backing(page);

	return backing ? page_address(backing) : NULL;
}
EXPORT_SYMBOL_GPL(dpmem_page_kaddr);
