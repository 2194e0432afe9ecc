// SPDX-License-Identifier: GPL-2.0
/*
 * dpmem: an emulated device that owns memory the CPU cannot address.
 *
 * This file creates the instances at module load and removes them at unload.
 * The set of instances is fixed in between: it is written only by
 * dpmem_init() before any device node exists and by dpmem_exit() after all
 * are gone, so readers need no lock.
 */
#include <linux/module.h>
#include <linux/slab.h>

#include "dpmem_priv.h"

static unsigned int nr_devices = 2;
module_param(nr_devices, uint, 0444);
MODULE_PARM_DESC(nr_devices, "Number of instances, /dev/dpmem0... (1-16, default 2)");

static unsigned int mem_mib = 256;
module_param(mem_mib, uint, 0444);
MODULE_PARM_DESC(mem_mib,
		 "Device memory per instance in MiB (2-16384, rounded up to 2 MiB; default 256)");

#define DPMEM_MAX_MIB	16384
#define DPMEM_MIB_ALIGN	2

static struct dpmem_dev *dpmem_devs[DPMEM_MAX_DEVICES];
static unsigned int dpmem_count;

/**
 * dpmem_nr_devices() - number of instances
 *
 * Return: the number of dpmem instances of the loaded module.
 */
unsigned int dpmem_nr_devices(void)
{
	return dpmem_count;
}

/**
 * dpmem_pfn_dev() - the instance a pfn belongs to
 * @pfn: any pfn
 *
 * Looks only at pfn ranges, never at struct page contents, so it is safe on
 * any pfn.
 *
 * Return: the instance whose device memory contains @pfn, or NULL.
 */
struct dpmem_dev *dpmem_pfn_dev(unsigned long pfn)
{
	unsigned int i;

	for (i = 0; i < dpmem_count; i++) {
		struct dpmem_dev *dev = dpmem_devs[i];

		if (pfn >= dev->pfn_first && pfn - dev->pfn_first < dev->nr_pages)
			return dev;
	}
	return NULL;
}

static struct dpmem_dev *dpmem_dev_create(unsigned int index,
					  unsigned long size)
{
	struct dpmem_dev *dev;
	int ret;

	dev = kzalloc(sizeof(*dev), GFP_KERNEL);
	if (!dev)
		return ERR_PTR(-ENOMEM);
	dev->index = index;
	snprintf(dev->name, sizeof(dev->name), "dpmem%u", index);
	/*
	 * A unique owner per instance (the instance itself), or the owner
	 * shared by every provider that lets importers map pages in place.
	 */
	dev->owner = dpmem_peer_owner(index, dev);
	spin_lock_init(&dev->free_lock);
	init_rwsem(&dev->alloc_rwsem);
	dev->misc.minor = MISC_DYNAMIC_MINOR;
	dev->misc.name = dev->name;
	dev->misc.fops = &dpmem_fops;
	dev->misc.mode = 0600;

	ret = dpmem_pool_init(dev, size);
	if (ret) {
		pr_err("%s: cannot set up %lu MiB of device memory: %d\n",
		       dev->name, size >> 20, ret);
		kfree(dev);
		return ERR_PTR(ret);
	}
	ret = dpmem_peer_attach(dev);
	if (ret) {
		pr_err("%s: cannot register for peer mapping: %d\n", dev->name,
		       ret);
		dpmem_pool_fini(dev);
		kfree(dev);
		return ERR_PTR(ret);
	}
	return dev;
}

static void dpmem_dev_destroy(struct dpmem_dev *dev)
{
	dpmem_pool_fini(dev);
	kfree(dev);
}

/* Record, for each instance, the distinct pgmap owners of the others. */
static void dpmem_link_peers(void)
{
	unsigned int i, j, k;

	for (i = 0; i < dpmem_count; i++) {
		struct dpmem_dev *dev = dpmem_devs[i];

		for (j = 0; j < dpmem_count; j++) {
			void *owner = dpmem_devs[j]->owner;

			if (j == i)
				continue;
			for (k = 0; k < dev->nr_peer_owners; k++)
				if (dev->peer_owners[k] == owner)
					break;
			if (k == dev->nr_peer_owners)
				dev->peer_owners[dev->nr_peer_owners++] = owner;
		}
	}
}

static void dpmem_remove_all(unsigned int nr_registered)
{
	unsigned int i;

	/* No file can reach an instance once all nodes are gone. */
	for (i = 0; i < nr_registered; i++)
		misc_deregister(&dpmem_devs[i]->misc);
	for (i = dpmem_count; i > 0; i--) {
		dpmem_dev_destroy(dpmem_devs[i - 1]);
		dpmem_devs[i - 1] = NULL;
	}
	dpmem_count = 0;
}

static int __init dpmem_init(void)
{
	unsigned long size;
	unsigned int i;
	int ret;

	if (nr_devices < 1 || nr_devices > DPMEM_MAX_DEVICES) {
		pr_err("dpmem: nr_devices=%u: must be 1 to %u\n", nr_devices,
		       DPMEM_MAX_DEVICES);
		return -EINVAL;
	}
	if (mem_mib < DPMEM_MIB_ALIGN || mem_mib > DPMEM_MAX_MIB) {
		pr_err("dpmem: mem_mib=%u: must be %u to %u\n", mem_mib,
		       DPMEM_MIB_ALIGN, DPMEM_MAX_MIB);
		return -EINVAL;
	}
	size = (unsigned long)round_up(mem_mib, DPMEM_MIB_ALIGN) << 20;

	for (i = 0; i < nr_devices; i++) {
		struct dpmem_dev *dev = dpmem_dev_create(i, size);

		if (IS_ERR(dev)) {
			ret = PTR_ERR(dev);
			dpmem_remove_all(0);
			return ret;
		}
		dpmem_devs[dpmem_count++] = dev;
	}
	dpmem_link_peers();

	for (i = 0; i < dpmem_count; i++) {
		ret = misc_register(&dpmem_devs[i]->misc);
		if (ret) {
			pr_err("dpmem%u: cannot register the device node: %d\n",
			       i, ret);
			dpmem_remove_all(i);
			return ret;
		}
	}
	pr_info("dpmem: %u instances of %lu MiB device-private memory\n",
		dpmem_count, size >> 20);
	return 0;
}

static void __exit dpmem_exit(void)
{
	dpmem_remove_all(dpmem_count);
}

module_init(dpmem_init);
module_exit(dpmem_exit);
MODULE_DESCRIPTION("dpmem: emulated device-private memory provider");
MODULE_LICENSE("GPL");
