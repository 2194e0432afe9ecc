// SPDX-License-Identifier: GPL-2.0
/*
 * dpmem character device: the ioctl ABI of <uapi/linux/softodp_dpmem.h>.
 *
 * This file only copies and validates arguments; the work is done in the
 * migrate, residency and evict files. An open file holds no state: device
 * pages belong to the processes that map them, not to the file, so closing
 * it leaves them where they are (a CPU access still brings each one back).
 */
#include <linux/capability.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "dpmem_priv.h"

static struct dpmem_dev *dpmem_file_dev(struct file *file)
{
	/* misc_open() stored our miscdevice there. */
	return container_of(file->private_data, struct dpmem_dev, misc);
}

static bool dpmem_zeroed(const void *p, size_t size)
{
	return !memchr_inv(p, 0, size);
}

/* Check a user range: page aligned, not empty, no wrap, user addresses. */
static int dpmem_user_range(u64 addr, u64 length, unsigned long *start,
			    unsigned long *end)
{
	if (!length || !PAGE_ALIGNED(addr) || !PAGE_ALIGNED(length) ||
	    addr + length < addr)
		return -EINVAL;
	if (!access_ok(u64_to_user_ptr(addr), length))
		return -EFAULT;
	*start = addr;
	*end = addr + length;
	return 0;
}

static long dpmem_ioctl_info(struct dpmem_dev *dev, void __user *uarg)
{
	struct dpmem_info info = {
		.version = DPMEM_UAPI_VERSION,
		.index = dev->index,
		.nr_devices = dpmem_nr_devices(),
		.page_size = PAGE_SIZE,
		.capacity = (u64)dev->nr_pages << PAGE_SHIFT,
	};

	return copy_to_user(uarg, &info, sizeof(info)) ? -EFAULT : 0;
}

static long dpmem_ioctl_migrate(struct dpmem_dev *dev, void __user *uarg,
				bool to_device)
{
	u32 known = to_device ? DPMEM_MIGRATE_FLAGS_MASK : 0;
	struct dpmem_migrate arg;
	unsigned long start, end;
	long ret;

	if (copy_from_user(&arg, uarg, sizeof(arg)))
		return -EFAULT;
	if ((arg.flags & ~known) || !dpmem_zeroed(arg.reserved, sizeof(arg.reserved)))
		return -EINVAL;
	ret = dpmem_user_range(arg.addr, arg.length, &start, &end);
	if (ret)
		return ret;

	arg.out_flags = 0;
	arg.moved = 0;
	arg.moved_peer = 0;
	arg.failed = 0;
	if (to_device)
		ret = dpmem_migrate_to_device(dev, start, end, arg.flags, &arg);
	else
		ret = dpmem_migrate_to_system(dev, start, end, &arg);
	if (ret)
		return ret;
	return copy_to_user(uarg, &arg, sizeof(arg)) ? -EFAULT : 0;
}

static long dpmem_ioctl_residency(struct dpmem_dev *dev, void __user *uarg)
{
	struct dpmem_residency arg;
	unsigned long start, end;
	u8 __user *map;
	long ret;

	if (copy_from_user(&arg, uarg, sizeof(arg)))
		return -EFAULT;
	if (arg.flags || arg.reserved0 ||
	    !dpmem_zeroed(arg.reserved, sizeof(arg.reserved)))
		return -EINVAL;
	ret = dpmem_user_range(arg.addr, arg.length, &start, &end);
	if (ret)
		return ret;
	map = u64_to_user_ptr(arg.map);
	if (map && !access_ok(map, arg.length >> PAGE_SHIFT))
		return -EFAULT;

	memset(arg.count, 0, sizeof(arg.count));
	ret = dpmem_residency(dev, start, end, map, arg.count);
	if (ret)
		return ret;
	return copy_to_user(uarg, &arg, sizeof(arg)) ? -EFAULT : 0;
}

static long dpmem_ioctl_stats(struct dpmem_dev *dev, void __user *uarg)
{
	struct dpmem_stats st = {
		.pages_resident = dpmem_pages_resident(dev),
		.capacity_pages = dev->nr_pages,
		.bytes_in = atomic64_read(&dev->ctr.bytes_in),
		.bytes_out = atomic64_read(&dev->ctr.bytes_out),
		.cpu_faults = atomic64_read(&dev->ctr.cpu_faults),
		.evictions = atomic64_read(&dev->ctr.evictions),
		.alloc_failures = atomic64_read(&dev->ctr.alloc_failures),
		.pages_from_peer = atomic64_read(&dev->ctr.pages_from_peer),
		.pages_to_peer = atomic64_read(&dev->ctr.pages_to_peer),
		.importer_maps = atomic64_read(&dev->ctr.importer_maps),
		.importer_refusals = atomic64_read(&dev->ctr.importer_refusals),
	};

	return copy_to_user(uarg, &st, sizeof(st)) ? -EFAULT : 0;
}

static long dpmem_ioctl_evict(struct dpmem_dev *dev, void __user *uarg)
{
	struct dpmem_evict arg;
	unsigned long remaining;

	if (copy_from_user(&arg, uarg, sizeof(arg)))
		return -EFAULT;
	if (arg.flags || arg.reserved0 ||
	    !dpmem_zeroed(arg.reserved, sizeof(arg.reserved)))
		return -EINVAL;
	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;

	arg.evicted = dpmem_evict(dev, true, &remaining);
	arg.remaining = remaining;
	if (remaining && fatal_signal_pending(current))
		return -EINTR;
	return copy_to_user(uarg, &arg, sizeof(arg)) ? -EFAULT : 0;
}

static long dpmem_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct dpmem_dev *dev = dpmem_file_dev(file);
	void __user *uarg = (void __user *)arg;

	/* Every call but INFO and STATS acts on the caller's memory. */
	if (!current->mm && cmd != DPMEM_IOC_INFO && cmd != DPMEM_IOC_STATS)
		return -EINVAL;

	switch (cmd) {
	case DPMEM_IOC_INFO:
		return dpmem_ioctl_info(dev, uarg);
	case DPMEM_IOC_MIGRATE_TO_DEVICE:
		return dpmem_ioctl_migrate(dev, uarg, true);
	case DPMEM_IOC_MIGRATE_TO_SYSTEM:
		return dpmem_ioctl_migrate(dev, uarg, false);
	case DPMEM_IOC_RESIDENCY:
		return dpmem_ioctl_residency(dev, uarg);
	case DPMEM_IOC_STATS:
		return dpmem_ioctl_stats(dev, uarg);
	case DPMEM_IOC_EVICT:
		return dpmem_ioctl_evict(dev, uarg);
	default:
		return -ENOTTY;
	}
}

const struct file_operations dpmem_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = dpmem_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};
