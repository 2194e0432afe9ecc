// SPDX-License-Identifier: GPL-2.0
/*
 * dpmem as a peer-mapping provider (include/softodp/peer.h).
 *
 * Instances selected by the peer_mask module parameter take part: their
 * pgmap carries the shared owner sodp_peer_owner(), so importers find their
 * pages in place, and they are registered with the peer hook. The
 * peer_importers parameter (writable at run time) says which importing
 * devices may map them: "*" (default), "none", or a comma-separated list of
 * device names (rxe0,...). Only virtual-DMA importers are served: they get
 * the kernel address of the system page that backs the device page. A real
 * DMA device would need a bus address of device memory, which an emulated
 * device does not have; such importers are refused with -EOPNOTSUPP.
 *
 * Lifetime: a mapping lasts until the importer's mmu notifier sees the page
 * move or go; every migration dpmem does invalidates first. The backing
 * page lives as long as the device page (dpmem_page_free), which cannot be
 * freed while a CPU page table maps it. An instance unregisters only after
 * dpmem_evict() has moved every page back, i.e. after every importer was
 * invalidated and unmapped.
 */
#include <linux/device.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/spinlock.h>
#include <linux/string.h>

#include "dpmem_priv.h"

static unsigned int peer_mask = ~0U;
module_param(peer_mask, uint, 0444);
MODULE_PARM_DESC(peer_mask,
		 "Instances whose memory importers may map in place (bit N: dpmemN; default all)");

/*
 * dpmem_peer_lock protects dpmem_peer_importers. Taken in map, which may run
 * in atomic context, and with BHs off everywhere, so that a map from a
 * softirq cannot spin on a holder it interrupted.
 */
static DEFINE_SPINLOCK(dpmem_peer_lock);
static char dpmem_peer_importers[128] = "*";

static int dpmem_peer_importers_set(const char *val, const struct kernel_param *kp)
{
	char buf[sizeof(dpmem_peer_importers)];

	if (strscpy(buf, val, sizeof(buf)) < 0)
		return -ENOSPC;
	strim(buf);
	spin_lock_bh(&dpmem_peer_lock);
	strscpy(dpmem_peer_importers, buf, sizeof(dpmem_peer_importers));
	spin_unlock_bh(&dpmem_peer_lock);
	pr_info("dpmem: peer importers now \"%s\"\n", buf);
	return 0;
}

static int dpmem_peer_importers_get(char *buffer, const struct kernel_param *kp)
{
	int n;

	spin_lock_bh(&dpmem_peer_lock);
	n = sysfs_emit(buffer, "%s\n", dpmem_peer_importers);
	spin_unlock_bh(&dpmem_peer_lock);
	return n;
}

static const struct kernel_param_ops dpmem_peer_importers_ops = {
	.set = dpmem_peer_importers_set,
	.get = dpmem_peer_importers_get,
};
module_param_cb(peer_importers, &dpmem_peer_importers_ops, NULL, 0644);
MODULE_PARM_DESC(peer_importers,
		 "Devices that may map peer pages: \"*\", \"none\" or name,name,...");

static bool dpmem_peer_allowed(const char *importer)
{
	size_t len = strlen(importer);
	bool ok = false;
	const char *p;

	/* an empty item of the list names no device */
	if (!len)
		return false;
	spin_lock_bh(&dpmem_peer_lock);
	if (!strcmp(dpmem_peer_importers, "*")) {
		ok = true;
	} else {
		for (p = dpmem_peer_importers; *p; p += strcspn(p, ",")) {
			p += *p == ',';
			if (!strncmp(p, importer, len) &&
			    (p[len] == ',' || !p[len])) {
				ok = true;
				break;
			}
		}
	}
	spin_unlock_bh(&dpmem_peer_lock);
	return ok;
}

static int dpmem_peer_map(struct sodp_peer_provider *prov, struct page *page,
			  const struct sodp_peer_importer *imp,
			  enum dma_data_direction dir, void **kaddr)
{
	struct dpmem_dev *dev = container_of(prov, struct dpmem_dev, peer);

	if (!imp->virt_dma || !dpmem_peer_allowed(dev_name(imp->dev))) {
		atomic64_inc(&dev->ctr.importer_refusals);
		return imp->virt_dma ? -EACCES : -EOPNOTSUPP;
	}
	*kaddr = page_address(dpmem_backing(page));
	atomic64_inc(&dev->ctr.importer_maps);
	return 0;
}

static void dpmem_peer_unmap(struct sodp_peer_provider *prov,
			     struct page *page,
			     const struct sodp_peer_importer *imp,
			     enum dma_data_direction dir)
{
	/* nothing to tear down: the backing page is ours either way */
}

static const struct sodp_peer_ops dpmem_peer_ops = {
	.map = dpmem_peer_map,
	.unmap = dpmem_peer_unmap,
};

/**
 * dpmem_peer_owner() - the pgmap owner instance @index should use
 * @index: N of dpmemN
 * @self: the instance's own owner, for instances that do not take part
 */
void *dpmem_peer_owner(unsigned int index, void *self)
{
	return index < 32 && (peer_mask & BIT(index)) ? sodp_peer_owner() : self;
}

/**
 * dpmem_peer_attach() - register a participating instance with the hook
 * @dev: the instance, its pagemap set up
 */
int dpmem_peer_attach(struct dpmem_dev *dev)
{
	int ret;

	if (dev->owner != sodp_peer_owner())
		return 0;
	dev->peer.pgmap = &dev->pgmap;
	dev->peer.ops = &dpmem_peer_ops;
	dev->peer.name = dev->name;
	ret = sodp_peer_register(&dev->peer);
	if (!ret)
		dev->peer_registered = true;
	return ret;
}

/**
 * dpmem_peer_detach() - unregister; every page must have been moved back
 * @dev: the instance
 */
void dpmem_peer_detach(struct dpmem_dev *dev)
{
	if (dev->peer_registered)
		sodp_peer_unregister(&dev->peer);
	dev->peer_registered = false;
}
