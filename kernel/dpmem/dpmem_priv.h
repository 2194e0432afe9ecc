/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dpmem internals shared by the files of the module.
 *
 * Lock order (outermost first):
 *   mmap_lock of the calling process
 *     dpmem_dev.alloc_rwsem
 *       page locks (taken by migrate_vma_setup() / migrate_device_range(),
 *                   always with trylock; new device pages come locked)
 *         dpmem_dev.free_lock
 * The CPU fault path (migrate_to_ram) runs with the mmap_lock held for read
 * and takes no dpmem lock except free_lock (through page frees).
 */
#ifndef _DPMEM_PRIV_H
#define _DPMEM_PRIV_H

#include <softodp/peer.h>
#include <linux/atomic.h>
#include <linux/memremap.h>
#include <linux/miscdevice.h>
#include <linux/mmu_notifier.h>
#include <linux/mm_types.h>
#include <linux/rwsem.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <uapi/linux/softodp_dpmem.h>
#include <softodp/dpmem.h>

#define DPMEM_MAX_DEVICES	16
/* Pages per migrate_vma / migrate_device_range call: one PMD's worth. */
#define DPMEM_BATCH_PAGES	512

/* Counters behind DPMEM_IOC_STATS; see struct dpmem_stats for meanings. */
struct dpmem_counters {
	atomic64_t bytes_in;
	atomic64_t bytes_out;
	atomic64_t cpu_faults;
	atomic64_t evictions;
	atomic64_t alloc_failures;
	atomic64_t pages_from_peer;
	atomic64_t pages_to_peer;
	atomic64_t importer_maps;
	atomic64_t importer_refusals;
};

/**
 * struct dpmem_dev - one dpmem instance, /dev/dpmemN
 * @index: N
 * @name: "dpmemN"
 * @owner: pgmap owner of this instance's pages; set once at creation and
 *	never compared to decide whether a page is ours (see dpmem_page_is_mine)
 * @peer_owners: distinct pgmap owners of the other instances, set once at
 *	module load after all instances exist
 * @nr_peer_owners: entries in @peer_owners
 * @res: the physical address range reserved for the device pages
 * @pfn_first: first device pfn
 * @nr_pages: device pages (capacity)
 * @free_lock: protects @free_list and @nr_free. Taken with interrupts off
 *	because page_free may run in any context; nothing is taken under it.
 * @free_list: free device pages, linked through page->zone_device_data
 * @nr_free: pages on @free_list
 * @alloc_rwsem: held for read while a migration allocates device pages here
 *	(one batch at a time), for write by eviction, so that no page arrives
 *	while the device is being emptied
 * @evict_src: pfn array of eviction; protected by @alloc_rwsem held for
 *	write. Part of the instance so that unload never needs an allocation
 *	to save the data.
 * @evict_dst: likewise
 * @ctr: statistics, atomics, no lock
 * @misc: the character device
 * @pgmap: the MEMORY_DEVICE_PRIVATE pagemap; last, it ends in a flexible
 *	array
 *
 * A device page in use has page->zone_device_data pointing at its backing
 * system page, allocated with the device page and freed in page_free.
 */
struct dpmem_dev {
	unsigned int index;
	char name[16];
	void *owner;
	void *peer_owners[DPMEM_MAX_DEVICES];
	unsigned int nr_peer_owners;
	struct resource *res;
	unsigned long pfn_first;
	unsigned long nr_pages;

	spinlock_t free_lock;		/* free_list, nr_free; irqsave */
	struct page *free_list;
	unsigned long nr_free;

	struct rw_semaphore alloc_rwsem;
	unsigned long evict_src[DPMEM_BATCH_PAGES];
	unsigned long evict_dst[DPMEM_BATCH_PAGES];

	struct dpmem_counters ctr;
	struct miscdevice misc;
	struct dev_pagemap pgmap;
	struct sodp_peer_provider peer;
	bool peer_registered;
};

/* dpmem_peer.c: importers mapping our pages in place */
void *dpmem_peer_owner(unsigned int index, void *self);
int dpmem_peer_attach(struct dpmem_dev *dev);
void dpmem_peer_detach(struct dpmem_dev *dev);

/* dpmem_main.c: the instances, fixed while the module is loaded */
unsigned int dpmem_nr_devices(void);
struct dpmem_dev *dpmem_pfn_dev(unsigned long pfn);

/* dpmem_pool.c: device memory */
int dpmem_pool_init(struct dpmem_dev *dev, unsigned long size);
void dpmem_pool_fini(struct dpmem_dev *dev);
struct page *dpmem_alloc_page(struct dpmem_dev *dev);
unsigned long dpmem_pages_resident(struct dpmem_dev *dev);

static inline struct dpmem_dev *dpmem_pgmap_dev(struct dev_pagemap *pgmap)
{
	return container_of(pgmap, struct dpmem_dev, pgmap);
}

/* Is @page one of @dev's device pages? Decided by pagemap, not by owner. */
static inline bool dpmem_page_is_mine(const struct dpmem_dev *dev,
				      const struct page *page)
{
	return is_zone_device_page(page) && page->pgmap == &dev->pgmap;
}

static inline struct page *dpmem_backing(const struct page *dpage)
{
	return dpage->zone_device_data;
}

/* dpmem_migrate.c: moving pages */
/* dpmem_check_vmas() @need: what every VMA of the range must allow */
#define DPMEM_VMA_MOVABLE	0x1	/* private anonymous memory */
#define DPMEM_VMA_READABLE	0x2	/* not PROT_NONE */
int dpmem_check_vmas(struct dpmem_dev *dev, struct mm_struct *mm,
		     unsigned long start, unsigned long end, unsigned int need);
int dpmem_migrate_to_device(struct dpmem_dev *dev, unsigned long start,
			    unsigned long end, u32 flags,
			    struct dpmem_migrate *out);
int dpmem_migrate_to_system(struct dpmem_dev *dev, unsigned long start,
			    unsigned long end, struct dpmem_migrate *out);
vm_fault_t dpmem_migrate_to_ram(struct vm_fault *vmf);
struct page *dpmem_copy_out(struct page *dpage, struct vm_area_struct *vma,
			    unsigned long addr, gfp_t gfp);

/* dpmem_evict.c: emptying a device */
unsigned long dpmem_evict(struct dpmem_dev *dev, bool killable,
			  unsigned long *remaining);

/* dpmem_residency.c */
/**
 * struct dpmem_snapshot - where each page of one batch lives
 * @notifier: lets a walk that raced with a change start over
 * @pfns: hmm_range_fault()'s output
 * @map: DPMEM_RES_* per page, as DPMEM_IOC_RESIDENCY reports it
 */
struct dpmem_snapshot {
	struct mmu_interval_notifier notifier;
	unsigned long pfns[DPMEM_BATCH_PAGES];
	u8 map[DPMEM_BATCH_PAGES];
};

int dpmem_snapshot_begin(struct dpmem_snapshot *s, struct mm_struct *mm,
			 unsigned long start, unsigned long end);
void dpmem_snapshot_end(struct dpmem_snapshot *s);
int dpmem_snapshot_chunk(struct dpmem_dev *dev, struct dpmem_snapshot *s,
			 struct mm_struct *mm, unsigned long start,
			 unsigned long end, bool locked);
int dpmem_residency(struct dpmem_dev *dev, unsigned long start,
		    unsigned long end, u8 __user *map,
		    u64 count[DPMEM_RES_NR_STATES]);

/* dpmem_file.c */
extern const struct file_operations dpmem_fops;

#endif /* _DPMEM_PRIV_H */
