// SPDX-License-Identifier: GPL-2.0
/*
 * rxe on-demand paging: IBV_ACCESS_ON_DEMAND memory regions.
 *
 * An ODP MR pins nothing. It owns one softodp mirror range over the user
 * span it was registered with; every access (local SGE, remote WRITE, READ,
 * ATOMIC) goes through sodp_range_access(), which faults absent pages in
 * from the rxe task (a workqueue, so sleeping is allowed) and runs the copy
 * with the range lock held, so an invalidation waits for a copy in flight
 * and nothing touches a page after its invalidation returns.
 *
 * Errors: an access to an address the process has not mapped, or a write to
 * memory it mapped read-only, fails; the caller turns that into the usual
 * protection or remote access error (IBV_WC_REM_ACCESS_ERR at a remote
 * requester) and a rate-limited line in the kernel log names the cause.
 */
#include <linux/sched/mm.h>
#include <softodp/mirror.h>
#include "rxe.h"

static u64 rxe_odp_va(struct rxe_mr *mr, u64 iova)
{
	return mr->odp_start + (iova - mr->odp_iova);
}

static const char *rxe_odp_cause(int err)
{
	switch (err) {
	case -EFAULT:
		return "address not mapped by the process";
	case -EPERM:
		return "write to memory mapped without write permission";
	case -ETIMEDOUT:
		return "invalidations kept racing with the fault";
	case -EAGAIN:
		return "page invalidated again after every fault";
	case -ENOMEM:
		return "out of memory";
	default:
		return "fault failed";
	}
}

static int rxe_odp_access(struct rxe_mr *mr, u64 iova, unsigned int length,
			  unsigned int flags, sodp_actor_t actor, void *priv)
{
	u64 va = rxe_odp_va(mr, iova);
	int err;

	err = sodp_range_access(mr->odp, va, length, flags, actor, priv);
	if (err)
		rxe_info_mr(mr, "ODP %s of %u bytes at va %#llx failed (%d): %s\n",
			    flags & SODP_WRITE ? "write" : "read", length, va,
			    err, rxe_odp_cause(err));
	return err;
}

/**
 * rxe_odp_mr_init_user - set up an on-demand paging user MR
 * @rxe: the device
 * @start: user virtual address of the first byte
 * @length: bytes
 * @iova: the I/O virtual address @start is known by
 * @access: IB_ACCESS_* flags, including IB_ACCESS_ON_DEMAND
 * @mr: the MR, initialised by the caller's rxe_mr_init()
 *
 * Returns 0 or a negative errno; nothing is pinned or faulted in.
 */
int rxe_odp_mr_init_user(struct rxe_dev *rxe, u64 start, u64 length, u64 iova,
			 int access, struct rxe_mr *mr)
{
	struct sodp_range *range;
	struct sodp_mm *smm;

	if (!current->mm)
		return -EINVAL;
	if (!start && length == U64_MAX) {
		rxe_info_mr(mr, "implicit ODP MRs are not supported\n");
		return -EOPNOTSUPP;
	}
	if (length > rxe->attr.max_mr_size)
		return -EINVAL;

	smm = sodp_mm_get(current->mm);
	if (IS_ERR(smm))
		return PTR_ERR(smm);
	range = sodp_range_create(smm, start, length, &rxe->odp_counters);
	sodp_mm_put(smm);
	if (IS_ERR(range)) {
		rxe_info_mr(mr, "ODP range %#llx+%#llx: %ld\n", start, length,
			    PTR_ERR(range));
		return PTR_ERR(range);
	}

	mr->odp = range;
	mr->odp_start = start;
	mr->odp_iova = iova;
	mr->ibmr.type = IB_MR_TYPE_USER;
	mr->state = RXE_MR_STATE_VALID;
	return 0;
}

/**
 * rxe_odp_mr_cleanup - release an ODP MR's mirror (no access may be running)
 * @mr: the MR
 */
void rxe_odp_mr_cleanup(struct rxe_mr *mr)
{
	sodp_range_destroy(mr->odp);
	mr->odp = NULL;
}

struct rxe_odp_copy {
	u8 *addr;
	enum rxe_mr_copy_dir dir;
};

static int rxe_odp_copy_actor(void *kaddr, size_t len, void *priv)
{
	struct rxe_odp_copy *c = priv;

	if (c->dir == RXE_TO_MR_OBJ)
		memcpy(kaddr, c->addr, len);
	else
		memcpy(c->addr, kaddr, len);
	c->addr += len;
	return 0;
}

/**
 * rxe_odp_mr_copy - copy to or from an ODP MR, faulting pages in as needed
 * @mr: the MR
 * @iova: first byte (already range checked)
 * @addr: kernel buffer
 * @length: bytes
 * @dir: RXE_TO_MR_OBJ writes the MR, RXE_FROM_MR_OBJ reads it
 *
 * Sleeps. Returns 0 or a negative errno.
 */
int rxe_odp_mr_copy(struct rxe_mr *mr, u64 iova, void *addr,
		    unsigned int length, enum rxe_mr_copy_dir dir)
{
	struct rxe_odp_copy c = { .addr = addr, .dir = dir };

	return rxe_odp_access(mr, iova, length,
			      dir == RXE_TO_MR_OBJ ? SODP_WRITE : 0,
			      rxe_odp_copy_actor, &c);
}

struct rxe_odp_atomic {
	int opcode;
	u64 compare;
	u64 swap_add;
	u64 *orig_val;
};

static int rxe_odp_atomic_actor(void *kaddr, size_t len, void *priv)
{
	struct rxe_odp_atomic *a = priv;

	rxe_do_atomic(kaddr, a->opcode, a->compare, a->swap_add, a->orig_val);
	return 0;
}

/**
 * rxe_odp_do_atomic_op - compare-and-swap or fetch-and-add on an ODP MR
 * @mr: the MR
 * @iova: target, 8-byte aligned
 * @opcode: IB_OPCODE_RC_COMPARE_SWAP or IB_OPCODE_RC_FETCH_ADD
 * @compare: compare value
 * @swap_add: swap or add value
 * @orig_val: the original value
 *
 * Returns 0 or a responder state (RESPST_ERR_*), like rxe_mr_do_atomic_op().
 */
int rxe_odp_do_atomic_op(struct rxe_mr *mr, u64 iova, int opcode, u64 compare,
			 u64 swap_add, u64 *orig_val)
{
	struct rxe_odp_atomic a = {
		.opcode = opcode,
		.compare = compare,
		.swap_add = swap_add,
		.orig_val = orig_val,
	};

	if (mr_check_range(mr, iova, sizeof(u64)))
		return RESPST_ERR_RKEY_VIOLATION;
	if (rxe_odp_va(mr, iova) & 0x7)
		return RESPST_ERR_MISALIGNED_ATOMIC;
	if (rxe_odp_access(mr, iova, sizeof(u64), SODP_WRITE,
			   rxe_odp_atomic_actor, &a))
		return RESPST_ERR_RKEY_VIOLATION;
	return 0;
}

static int rxe_odp_store_actor(void *kaddr, size_t len, void *priv)
{
	/* Like rxe_mr_do_atomic_write(): after all prior operations. */
	smp_store_release((u64 *)kaddr, *(u64 *)priv);
	return 0;
}

/**
 * rxe_odp_do_atomic_write - ATOMIC_WRITE on an ODP MR
 * @mr: the MR
 * @iova: target, 8-byte aligned
 * @value: the value to store
 *
 * Returns 0 or a responder state (RESPST_ERR_*).
 */
int rxe_odp_do_atomic_write(struct rxe_mr *mr, u64 iova, u64 value)
{
	if (mr_check_range(mr, iova, sizeof(value)))
		return RESPST_ERR_RKEY_VIOLATION;
	if (rxe_odp_va(mr, iova) & 0x7)
		return RESPST_ERR_MISALIGNED_ATOMIC;
	if (rxe_odp_access(mr, iova, sizeof(value), SODP_WRITE,
			   rxe_odp_store_actor, &value))
		return RESPST_ERR_RKEY_VIOLATION;
	return 0;
}
