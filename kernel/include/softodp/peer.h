/* SPDX-License-Identifier: GPL-2.0 */
/*
 * softodp peer mapping: let one device reach another device's private
 * memory (MEMORY_DEVICE_PRIVATE pages) in place, DMA-API style.
 *
 * Providers of device-private memory that take part register their
 * dev_pagemap with sodp_peer_register(); its owner must be
 * sodp_peer_owner(), the one owner shared by every participating provider,
 * so that an importer's hmm_range_fault(dev_private_owner =
 * sodp_peer_owner()) returns their pages in place instead of migrating
 * them. Each provider still recognises its own pages by pgmap, never by
 * owner. An importer then asks, per page, for an address it can use:
 * sodp_peer_map_page(importer, page, dir); the provider decides, knowing
 * the importer, and may refuse (the importer then migrates the page back to
 * system RAM and uses that).
 *
 * Lifetime: a mapping is valid only while the CPU page table still points
 * at the device page. A migration or unmap of the page first raises an
 * mmu notifier invalidation; the importer's notifier must stop using the
 * address, wait for accesses in flight, and call sodp_peer_unmap_page()
 * before returning. Both calls never sleep, so they can be made under the
 * importer's mirror spinlock and from non-blockable invalidations.
 */
#ifndef _SOFTODP_PEER_H
#define _SOFTODP_PEER_H

#include <linux/atomic.h>
#include <linux/dma-direction.h>
#include <linux/list.h>
#include <linux/types.h>

struct device;
struct dev_pagemap;
struct page;

/**
 * struct sodp_peer_importer - the device that wants to reach peer memory
 * @dev: the device (its name is what provider policies match)
 * @virt_dma: the device does "DMA" with the CPU (rxe, siw: ib_uses_virt_dma):
 *	it gets a kernel virtual address the CPU can copy through. A real DMA
 *	device would get a bus address instead (not implemented: providers
 *	refuse such importers with -EOPNOTSUPP)
 */
struct sodp_peer_importer {
	struct device *dev;
	bool virt_dma;
};

struct sodp_peer_provider;

/**
 * struct sodp_peer_ops - what a provider implements
 * @map: may @imp reach @page (one of the provider's pages) for @dir? If so
 *	store in *@kaddr the kernel address of the page's data (virt_dma
 *	importers) and return 0; else -EACCES (policy refuses) or -EOPNOTSUPP
 *	(unreachable from that importer). Must not sleep.
 * @unmap: the importer is done with a mapping made by @map. Must not sleep.
 */
struct sodp_peer_ops {
	int (*map)(struct sodp_peer_provider *prov, struct page *page,
		   const struct sodp_peer_importer *imp,
		   enum dma_data_direction dir, void **kaddr);
	void (*unmap)(struct sodp_peer_provider *prov, struct page *page,
		      const struct sodp_peer_importer *imp,
		      enum dma_data_direction dir);
};

/**
 * struct sodp_peer_provider - a registered provider (one per dev_pagemap)
 * @pgmap: its pages' dev_pagemap; pgmap->owner == sodp_peer_owner()
 * @ops: its operations
 * @name: for messages
 * @mapped: mappings handed out and not yet unmapped (for teardown checks)
 * @node: in the registry (private)
 */
struct sodp_peer_provider {
	struct dev_pagemap *pgmap;
	const struct sodp_peer_ops *ops;
	const char *name;
	atomic_long_t mapped;
	struct list_head node;
};

void *sodp_peer_owner(void);
int sodp_peer_register(struct sodp_peer_provider *prov);
void sodp_peer_unregister(struct sodp_peer_provider *prov);
int sodp_peer_map_page(const struct sodp_peer_importer *imp, struct page *page,
		       enum dma_data_direction dir, void **kaddr);
void sodp_peer_unmap_page(const struct sodp_peer_importer *imp,
			  struct page *page, enum dma_data_direction dir);

#endif /* _SOFTODP_PEER_H */
