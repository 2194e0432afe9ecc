/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dpmem, as seen by other modules: recognise a dpmem device-private page,
 * tell which instance it belongs to, and reach the system page that holds
 * its data.
 *
 * Each dpmem instance has its own dev_pagemap and its own pgmap owner
 * (dpmem_dev_owner()). A mirror that wants hmm_range_fault() to return the
 * pages of an instance in place, instead of migrating them back, passes that
 * owner as hmm_range.dev_private_owner.
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
 * instance's owner when moving that instance's pages here). A mirror must not
 * skip such an invalidation because the owner matches its
 * dev_private_owner: dpmem does not update anyone else's mirror.
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
