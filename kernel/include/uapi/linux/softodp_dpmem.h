/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * dpmem: an emulated device with its own device-private memory.
 *
 * Each instance is a misc device /dev/dpmemN. Its memory cannot be addressed
 * by the CPU: pages of a process moved there are device-private pages, and a
 * CPU access moves them back. The ioctls below act on the calling process's
 * address space. See docs/dpmem.md for the full rules.
 *
 * ABI rules:
 * - Every argument struct has a fixed size; the size is part of the ioctl
 *   number, so a struct that grows gets a new number.
 * - Fields marked "in: 0" (flags without meaning yet, reserved words) must be
 *   zero, or the call fails with EINVAL. This keeps them usable later.
 * - DPMEM_UAPI_VERSION, reported by DPMEM_IOC_INFO, changes when the meaning
 *   of an existing call changes.
 *
 * Errors common to all calls:
 *   EFAULT      the argument pointer is bad, or the address range is not
 *               entirely mapped, or it is not a user address range
 *   EINVAL      address or length not page aligned, length zero or wrapping
 *               around, unknown flags, non-zero reserved field;
 *               MIGRATE_TO_DEVICE: the range includes memory mapped
 *               PROT_NONE (nothing is moved then)
 *   ENOTTY      unknown command (or a struct size this kernel does not know)
 *   EOPNOTSUPP  MIGRATE_*: the range includes memory that cannot move to a
 *               device: a shared mapping, a file mapping, hugetlbfs, or an
 *               I/O / PFN mapping (nothing is moved then)
 *   EINTR       a fatal signal arrived; the call stopped part way
 */
#ifndef _UAPI_LINUX_SOFTODP_DPMEM_H
#define _UAPI_LINUX_SOFTODP_DPMEM_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define DPMEM_UAPI_VERSION	1

/**
 * struct dpmem_info - DPMEM_IOC_INFO: describe this instance
 * @version: out: DPMEM_UAPI_VERSION
 * @index: out: N of /dev/dpmemN
 * @nr_devices: out: number of dpmem instances
 * @page_size: out: the size of one device page, in bytes
 * @capacity: out: device memory of this instance, in bytes
 * @reserved: out: zero
 */
struct dpmem_info {
	__u32 version;
	__u32 index;
	__u32 nr_devices;
	__u32 page_size;
	__u64 capacity;
	__u64 reserved[5];
};

/* dpmem_migrate.flags (in) */
/* MIGRATE_TO_DEVICE: leave pages that are on another dpmem device there */
#define DPMEM_MIGRATE_NO_PEER		0x1U
#define DPMEM_MIGRATE_FLAGS_MASK	DPMEM_MIGRATE_NO_PEER

/* dpmem_migrate.out_flags (out) */
/* MIGRATE_TO_DEVICE: device memory ran out; the call stopped at that point */
#define DPMEM_MIGRATE_OUT_FULL		0x1U

/**
 * struct dpmem_migrate - DPMEM_IOC_MIGRATE_TO_DEVICE / _TO_SYSTEM
 * @addr: in: start of the range, page aligned
 * @length: in: length of the range in bytes, page aligned, not zero
 * @flags: in: DPMEM_MIGRATE_* (TO_SYSTEM: 0)
 * @out_flags: out: DPMEM_MIGRATE_OUT_*
 * @moved: out: pages this call moved (to the device, or back to system
 *	memory). TO_DEVICE counts untouched (never written) pages of the range
 *	too: they get a zero-filled device page.
 * @moved_peer: out: TO_DEVICE: of @moved, pages that came from another dpmem
 *	device (device to device). TO_SYSTEM: 0.
 * @failed: out: pages that were eligible but did not move: no device or
 *	system memory for them, the page was busy (locked, pinned, part of a
 *	transparent huge page that could not be split, or under migration by
 *	someone else) at that moment, or (TO_DEVICE) it is a KSM page shared
 *	with other mappings. They are where they were, with their data.
 *	Eligible: TO_DEVICE: system pages, untouched addresses, and pages of
 *	other dpmem devices unless NO_PEER; TO_SYSTEM: this device's pages.
 * @reserved: in: 0; out: 0
 *
 * Pages already where the call would put them, pages of other devices
 * (with NO_PEER, or TO_SYSTEM) and pages that are swapped out are left
 * alone and not counted: the call does not touch them, and mappings of
 * them (an importer's, a mirror's) are not invalidated.
 */
struct dpmem_migrate {
	__u64 addr;
	__u64 length;
	__u32 flags;
	__u32 out_flags;
	__u64 moved;
	__u64 moved_peer;
	__u64 failed;
	__u64 reserved[4];
};

/* Residency of one page, as reported by DPMEM_IOC_RESIDENCY */
enum dpmem_residency_state {
	/* no page: never touched, swapped out, or being migrated right now */
	DPMEM_RES_NONE = 0,
	/* system memory (the shared zero page included) */
	DPMEM_RES_SYSTEM = 1,
	/* this dpmem device */
	DPMEM_RES_DEVICE = 2,
	/* another dpmem device */
	DPMEM_RES_PEER = 3,
	/* cannot be inspected: no read permission, an I/O or PFN mapping */
	DPMEM_RES_UNKNOWN = 4,
	DPMEM_RES_NR_STATES = 5,
};

/**
 * struct dpmem_residency - DPMEM_IOC_RESIDENCY: where are these pages?
 * @addr: in: start of the range, page aligned
 * @length: in: length of the range in bytes, page aligned, not zero
 * @map: in: user pointer to length / page_size bytes, one
 *	enum dpmem_residency_state per page; 0 to get @count only
 * @flags: in: 0
 * @reserved0: in: 0
 * @count: out: number of pages in each state, indexed by the state
 * @reserved: in: 0; out: 0
 *
 * A snapshot: pages may move while or after it is taken. Any mapping can be
 * inspected; the range must be mapped. Device-private pages of drivers other
 * than dpmem read as DPMEM_RES_NONE.
 */
struct dpmem_residency {
	__u64 addr;
	__u64 length;
	__u64 map;
	__u32 flags;
	__u32 reserved0;
	__u64 count[DPMEM_RES_NR_STATES];
	__u64 reserved[3];
};

/**
 * struct dpmem_stats - DPMEM_IOC_STATS: counters of this instance
 * @pages_resident: out: device pages in use now
 * @capacity_pages: out: device pages in all
 * @bytes_in: out: bytes migrated into this device (from system memory or
 *	from another dpmem device)
 * @bytes_out: out: bytes migrated out of this device (to system memory by
 *	MIGRATE_TO_SYSTEM, CPU faults and evictions, or to another dpmem device)
 * @cpu_faults: out: CPU faults served (each moved one page back)
 * @evictions: out: pages moved back by DPMEM_IOC_EVICT or module unload
 * @alloc_failures: out: device page allocations that failed (device full,
 *	or no system memory to back the device page)
 * @pages_from_peer: out: pages moved here from another dpmem device
 * @pages_to_peer: out: pages moved from here to another dpmem device
 * @importer_maps: out: pages another device (an ODP mirror) was allowed to
 *	reach in place through the peer-mapping hook
 * @importer_refusals: out: such requests refused by the peer_importers
 *	policy (the importer then migrated the page back)
 * @reserved: out: zero
 *
 * Pages freed in place (munmap, process exit) are not "migrated out": they
 * only leave @pages_resident.
 */
struct dpmem_stats {
	__u64 pages_resident;
	__u64 capacity_pages;
	__u64 bytes_in;
	__u64 bytes_out;
	__u64 cpu_faults;
	__u64 evictions;
	__u64 alloc_failures;
	__u64 pages_from_peer;
	__u64 pages_to_peer;
	__u64 importer_maps;
	__u64 importer_refusals;
	__u64 reserved[5];
};

/**
 * struct dpmem_evict - DPMEM_IOC_EVICT: move every page of this device back
 * @flags: in: 0
 * @reserved0: in: 0
 * @evicted: out: pages moved back to system memory
 * @remaining: out: pages still on the device when the call returned
 *	(non-zero only if a fatal signal cut it short)
 * @reserved: in: 0; out: 0
 *
 * Needs CAP_SYS_ADMIN (EPERM otherwise): it acts on every process that has
 * pages on the device. Data is never lost; new migrations to this device
 * wait until it is done.
 */
struct dpmem_evict {
	__u32 flags;
	__u32 reserved0;
	__u64 evicted;
	__u64 remaining;
	__u64 reserved[4];
};

#define DPMEM_IOC_MAGIC		0xDE

#define DPMEM_IOC_INFO			_IOR(DPMEM_IOC_MAGIC, 0x00, struct dpmem_info)
#define DPMEM_IOC_MIGRATE_TO_DEVICE	_IOWR(DPMEM_IOC_MAGIC, 0x01, struct dpmem_migrate)
#define DPMEM_IOC_MIGRATE_TO_SYSTEM	_IOWR(DPMEM_IOC_MAGIC, 0x02, struct dpmem_migrate)
#define DPMEM_IOC_RESIDENCY		_IOWR(DPMEM_IOC_MAGIC, 0x03, struct dpmem_residency)
#define DPMEM_IOC_STATS			_IOR(DPMEM_IOC_MAGIC, 0x04, struct dpmem_stats)
#define DPMEM_IOC_EVICT			_IOWR(DPMEM_IOC_MAGIC, 0x05, struct dpmem_evict)

#endif /* _UAPI_LINUX_SOFTODP_DPMEM_H */
