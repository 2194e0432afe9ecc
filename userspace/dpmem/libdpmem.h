/* SPDX-License-Identifier: GPL-2.0 */
/*
 * libdpmem: a thin C wrapper over the dpmem ioctls
 * (<linux/softodp_dpmem.h>, kernel/include/uapi in the softodp tree).
 *
 * Every function that can fail returns 0 or a negative errno, and also sets
 * errno. Address ranges must be page aligned (the kernel checks).
 */
#ifndef LIBDPMEM_H
#define LIBDPMEM_H

#include <stddef.h>
#include <stdint.h>

#include <linux/softodp_dpmem.h>

#ifdef __cplusplus
extern "C" {
#endif

struct dpmem;

/* What a migration did; see struct dpmem_migrate for the meanings. */
struct dpmem_result {
	uint64_t moved;
	uint64_t moved_peer;
	uint64_t failed;
	uint32_t out_flags;	/* DPMEM_MIGRATE_OUT_* */
	uint32_t pad;
};

/*
 * Open /dev/dpmem<index>, or the node at @path. Checks that the kernel
 * speaks DPMEM_UAPI_VERSION (EPROTONOSUPPORT otherwise).
 * Returns NULL with errno set on failure.
 */
struct dpmem *dpmem_open(unsigned int index);
struct dpmem *dpmem_open_path(const char *path);
void dpmem_close(struct dpmem *d);

int dpmem_fd(const struct dpmem *d);
/* The instance's description, read at open. */
const struct dpmem_info *dpmem_info(const struct dpmem *d);

/* Move the calling process's pages in [addr, addr + len) to the device.
 * flags: DPMEM_MIGRATE_NO_PEER or 0. res may be NULL. */
int dpmem_to_device(struct dpmem *d, void *addr, size_t len,
		    unsigned int flags, struct dpmem_result *res);
/* Bring this device's pages in [addr, addr + len) back. res may be NULL. */
int dpmem_to_system(struct dpmem *d, void *addr, size_t len,
		    struct dpmem_result *res);
/* One enum dpmem_residency_state per page into map (may be NULL), and the
 * number of pages per state into count (may be NULL). */
int dpmem_residency(struct dpmem *d, const void *addr, size_t len,
		    uint8_t *map, uint64_t count[DPMEM_RES_NR_STATES]);
int dpmem_get_stats(struct dpmem *d, struct dpmem_stats *st);
/* Move every page of the device back (needs CAP_SYS_ADMIN). Either output
 * pointer may be NULL. */
int dpmem_evict(struct dpmem *d, uint64_t *evicted, uint64_t *remaining);

/* "none", "system", "device", "peer", "unknown"; "?" otherwise. */
const char *dpmem_residency_name(unsigned int state);

#ifdef __cplusplus
}
#endif

#endif /* LIBDPMEM_H */
