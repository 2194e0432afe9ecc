// SPDX-License-Identifier: GPL-2.0
/*
 * softodp peer mapping: the registry of device-private memory providers
 * and the map/unmap calls importers use (see include/softodp/peer.h).
 *
 * The registry is a short RCU list: providers register and unregister
 * rarely (probe, remove) under sodp_peer_lock; importers look a page's
 * provider up on every map and unmap, under rcu_read_lock() only, because
 * they call from spinlocked and non-blockable contexts.
 */
#include <linux/memremap.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/rculist.h>
#include <softodp/peer.h>

/* sodp_peer_lock serializes registry changes; readers use RCU. */
static DEFINE_MUTEX(sodp_peer_lock);
static LIST_HEAD(sodp_peer_providers);

/*
 * The owner every participating dev_pagemap carries. Its address is all
 * that matters: hmm_range_fault() compares it with dev_private_owner.
 */
static char sodp_peer_owner_token;

/**
 * sodp_peer_owner - the pgmap owner shared by all participating providers
 *
 * A provider that takes part sets pgmap->owner to this before
 * memremap_pages(); an importer passes it as hmm_range.dev_private_owner to
 * get such pages reported in place. Providers must tell their own pages
 * apart by pgmap, not by owner.
 */
void *sodp_peer_owner(void)
{
	return &sodp_peer_owner_token;
}
EXPORT_SYMBOL_GPL(sodp_peer_owner);

/**
 * sodp_peer_register - make a provider's pages mappable by importers
 * @prov: the provider; @pgmap must already carry sodp_peer_owner()
 *
 * Returns 0, -EINVAL for a pgmap with another owner or not device-private,
 * -EEXIST if the pgmap is registered already.
 */
int sodp_peer_register(struct sodp_peer_provider *prov)
{
	struct sodp_peer_provider *p;
	int ret = 0;

	if (prov->pgmap->type != MEMORY_DEVICE_PRIVATE ||
	    prov->pgmap->owner != sodp_peer_owner() || !prov->ops ||
	    !prov->ops->map || !prov->ops->unmap)
		return -EINVAL;
	atomic_long_set(&prov->mapped, 0);

	mutex_lock(&sodp_peer_lock);
	list_for_each_entry(p, &sodp_peer_providers, node) {
		if (p->pgmap == prov->pgmap) {
			ret = -EEXIST;
			goto out;
		}
	}
	list_add_tail_rcu(&prov->node, &sodp_peer_providers);
	pr_info("softodp_peer: %s registered\n", prov->name);
out:
	mutex_unlock(&sodp_peer_lock);
	return ret;
}
EXPORT_SYMBOL_GPL(sodp_peer_register);

/**
 * sodp_peer_unregister - stop handing out mappings of a provider's pages
 * @prov: a registered provider
 *
 * Call after every page of the provider has left the CPU page tables
 * (migrated back, or the memory freed): each of those moves invalidated the
 * importers, which unmapped. Returns once no importer can be inside a map
 * or unmap call for it. May sleep.
 */
void sodp_peer_unregister(struct sodp_peer_provider *prov)
{
	mutex_lock(&sodp_peer_lock);
	list_del_rcu(&prov->node);
	mutex_unlock(&sodp_peer_lock);
	synchronize_rcu();
	WARN(atomic_long_read(&prov->mapped),
	     "softodp_peer: %s unregistered with %ld pages still mapped\n",
	     prov->name, atomic_long_read(&prov->mapped));
	pr_info("softodp_peer: %s unregistered\n", prov->name);
}
EXPORT_SYMBOL_GPL(sodp_peer_unregister);

static struct sodp_peer_provider *sodp_peer_find(struct page *page)
{
	struct sodp_peer_provider *p;

	list_for_each_entry_rcu(p, &sodp_peer_providers, node)
		if (p->pgmap == page->pgmap)
			return p;
	return NULL;
}

/**
 * sodp_peer_map_page - get an address through which an importer reaches a
 *	device-private page in place
 * @imp: the importer; the provider's decision depends on it
 * @page: a device-private page the caller found mapped in a CPU page table
 *	(hmm_range_fault with dev_private_owner = sodp_peer_owner())
 * @dir: DMA_TO_DEVICE (the importer reads), DMA_FROM_DEVICE (writes) or
 *	DMA_BIDIRECTIONAL
 * @kaddr: set to the kernel address of the page's data on success
 *
 * Never sleeps. The mapping stays valid until the caller's mmu notifier
 * sees the page invalidated; the caller then calls sodp_peer_unmap_page().
 * Returns 0; -ENODEV if no registered provider owns the page; the
 * provider's refusal (-EACCES by policy, -EOPNOTSUPP unreachable).
 */
int sodp_peer_map_page(const struct sodp_peer_importer *imp, struct page *page,
		       enum dma_data_direction dir, void **kaddr)
{
	struct sodp_peer_provider *p;
	int ret = -ENODEV;

	if (!is_device_private_page(page))
		return -EINVAL;
	rcu_read_lock();
	p = sodp_peer_find(page);
	if (p) {
		ret = p->ops->map(p, page, imp, dir, kaddr);
		if (!ret)
			atomic_long_inc(&p->mapped);
	}
	rcu_read_unlock();
	return ret;
}
EXPORT_SYMBOL_GPL(sodp_peer_map_page);

/**
 * sodp_peer_unmap_page - release a mapping from sodp_peer_map_page()
 * @imp: the importer that mapped it
 * @page: the page
 * @dir: the direction it was mapped for
 *
 * Never sleeps. The caller no longer touches the address.
 */
void sodp_peer_unmap_page(const struct sodp_peer_importer *imp,
			  struct page *page, enum dma_data_direction dir)
{
	struct sodp_peer_provider *p;

	rcu_read_lock();
	p = sodp_peer_find(page);
	if (!WARN_ON_ONCE(!p)) {
		p->ops->unmap(p, page, imp, dir);
		atomic_long_dec(&p->mapped);
	}
	rcu_read_unlock();
}
EXPORT_SYMBOL_GPL(sodp_peer_unmap_page);

MODULE_DESCRIPTION("softodp peer mapping of device-private memory");
MODULE_LICENSE("GPL");
