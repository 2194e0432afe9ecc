// SPDX-License-Identifier: GPL-2.0
/* libdpmem: see libdpmem.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "libdpmem.h"

struct dpmem {
	int fd;
	struct dpmem_info info;
};

/* Return -errno and leave errno set, the convention of this library. */
static int fail(int err)
{
	errno = err;
	return -err;
}

static int do_ioctl(struct dpmem *d, unsigned long cmd, void *arg)
{
	if (ioctl(d->fd, cmd, arg) < 0)
		return fail(errno);
	return 0;
}

struct dpmem *dpmem_open_path(const char *path)
{
	struct dpmem *d = calloc(1, sizeof(*d));
	int err;

	if (!d)
		return NULL;
	d->fd = open(path, O_RDWR | O_CLOEXEC);
	if (d->fd < 0)
		goto err_free;
	if (do_ioctl(d, DPMEM_IOC_INFO, &d->info))
		goto err_close;
	if (d->info.version != DPMEM_UAPI_VERSION) {
		errno = EPROTONOSUPPORT;
		goto err_close;
	}
	return d;

err_close:
	err = errno;
	close(d->fd);
	errno = err;
err_free:
	err = errno;
	free(d);
	errno = err;
	return NULL;
}

struct dpmem *dpmem_open(unsigned int index)
{
	char path[32];

	snprintf(path, sizeof(path), "/dev/dpmem%u", index);
	return dpmem_open_path(path);
}

void dpmem_close(struct dpmem *d)
{
	if (!d)
		return;
	close(d->fd);
	free(d);
}

int dpmem_fd(const struct dpmem *d)
{
	return d->fd;
}

const struct dpmem_info *dpmem_info(const struct dpmem *d)
{
	return &d->info;
}

static int migrate(struct dpmem *d, unsigned long cmd, void *addr, size_t len,
		   unsigned int flags, struct dpmem_result *res)
{
	struct dpmem_migrate arg = {
		.addr = (uintptr_t)addr,
		.length = len,
		.flags = flags,
	};
	int ret = do_ioctl(d, cmd, &arg);

	if (ret)
		return ret;
	if (res) {
		memset(res, 0, sizeof(*res));
		res->moved = arg.moved;
		res->moved_peer = arg.moved_peer;
		res->failed = arg.failed;
		res->out_flags = arg.out_flags;
	}
	return 0;
}

int dpmem_to_device(struct dpmem *d, void *addr, size_t len,
		    unsigned int flags, struct dpmem_result *res)
{
	return migrate(d, DPMEM_IOC_MIGRATE_TO_DEVICE, addr, len, flags, res);
}

int dpmem_to_system(struct dpmem *d, void *addr, size_t len,
		    struct dpmem_result *res)
{
	return migrate(d, DPMEM_IOC_MIGRATE_TO_SYSTEM, addr, len, 0, res);
}

int dpmem_residency(struct dpmem *d, const void *addr, size_t len,
		    uint8_t *map, uint64_t count[DPMEM_RES_NR_STATES])
{
	struct dpmem_residency arg = {
		.addr = (uintptr_t)addr,
		.length = len,
		.map = (uintptr_t)map,
	};
	int ret = do_ioctl(d, DPMEM_IOC_RESIDENCY, &arg);

	if (ret)
		return ret;
	if (count)
		memcpy(count, arg.count, sizeof(arg.count));
	return 0;
}

int dpmem_get_stats(struct dpmem *d, struct dpmem_stats *st)
{
	return do_ioctl(d, DPMEM_IOC_STATS, st);
}

int dpmem_evict(struct dpmem *d, uint64_t *evicted, uint64_t *remaining)
{
	struct dpmem_evict arg = { 0 };
	int ret = do_ioctl(d, DPMEM_IOC_EVICT, &arg);

	if (ret)
		return ret;
	if (evicted)
		*evicted = arg.evicted;
	if (remaining)
		*remaining = arg.remaining;
	return 0;
}

const char *dpmem_residency_name(unsigned int state)
{
	static const char *const names[DPMEM_RES_NR_STATES] = {
		[DPMEM_RES_NONE] = "none",
		[DPMEM_RES_SYSTEM] = "system",
		[DPMEM_RES_DEVICE] = "device",
		[DPMEM_RES_PEER] = "peer",
		[DPMEM_RES_UNKNOWN] = "unknown",
	};

	return state < DPMEM_RES_NR_STATES ? names[state] : "?";
}
