/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dpmem, as seen by other modules: recognise a dpmem device-private page,
 * tell which instance it belongs to, and reach the system page that holds
 * its data.
 *
 * Each dpmem instance has its own dev_pagemap. Its pgmap owner
 * (dpmem_dev_owner()) is not its own: the instances of the peer group (the
 * peer_mask module parameter; all of them by default) share
 * sodp_peer_owner() with every other peer-mapping provider, and only an
 * instance outside the group has an owner of its own (the instance). So an
 * owner does not name an instance: tell pages apart with dpmem_page_dev().
 * A mirror that wants hmm_range_fault() to return an instance's pages in
 * place, instead of migrating them back, passes its owner as
 * hmm_range.dev_private_owner.
 *
 * Lifetime: a device page and its backing page live until the device page's
 * refcount drops to zero (dev_pagemap_ops.page_free). The results of
 * dpmem_page_backing() and dpmem_page_kaddr() are valid only while the caller
 * keeps that from happening: it holds a reference on the device page, or the
 * page lock, or it is inside an mmu_interval_notifier read section that has
 * not been invalidated for the address that maps the page (a migration or an
 * unmap invalidates first, and frees after). Never keep the pointers past
 * that.
 *
 * Invalidation: every migration dpmem performs raises MMU_NOTIFY_MIGRATE with
 * range->owner set to the owner of the pages being selected (this
 * instance's owner when moving system pages in or its pages out; another
 * instance's owner when moving that instance's pages here), over runs of
 * pages it is about to move only. A mirror must not skip such an
 * invalidation because the owner matches its dev_private_owner (with the
 * shared owner, it usually does): dpmem does not update anyone else's
 * mirror. Eviction (DPMEM_IOC_EVICT, module unload) moves pages by pfn and
 * raises MMU_NOTIFY_CLEAR without an owner.
 */
#ifndef _SOFTODP_DPMEM_H
#define _SOFTODP_DPMEM_H

#include <linux/types.h>

struct page;
struct dpmem_dev;

bool dpmem_is_dpmem_page(const struct page *page);
struct dpmem_dev *dpmem_page_dev(const struct page *page);
unsigned int dpmem_dev_index(const struct dpmem_dev *dev);
void *dpmem_dev_owner(const struct dpmem_dev *dev);
struct page *dpmem_page_backing(const struct page *page);
void *dpmem_page_kaddr(const struct page *page);

#endif /* _SOFTODP_DPMEM_H */
