/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rxe on-demand paging: the state a QP keeps for faults taken off its data
 * path (rxe_odp.c, "deferred faults").
 */
#ifndef RXE_ODP_H
#define RXE_ODP_H

#include <linux/ktime.h>
#include <linux/spinlock.h>
#include <linux/timer.h>
#include <linux/types.h>
#include <linux/workqueue.h>

struct rxe_mr;
struct rxe_qp;
struct rxe_task;

/**
 * struct rxe_odp_fault - one fault a QP side handed to its device's worker
 * @work: runs on the device's fault workqueue
 * @qp: the QP this slot is part of
 * @wake: the task to schedule when the fault is done (the responder's or
 *	the requester's)
 * @lock: protects @busy, @dying and the remembered error; a leaf lock,
 *	taken from the rxe tasks and the worker, never from hard irq
 * @busy: a fault is queued or running; the fields below it belong to the
 *	worker until it clears @busy
 * @dying: the QP is being destroyed: nothing is queued any more
 * @mr: the MR to fault (a reference is held while @busy)
 * @lkey: its lkey; with @iova and @len, the window of the last fault
 *	queued, kept after it is done (under @lock)
 * @iova: first byte
 * @len: bytes
 * @flags: SODP_WRITE or 0
 * @queued: when the fault was queued, for the latency histogram
 * @err: the last fault failed for good (-EFAULT, -EPERM, -EIO): the request
 *	that next meets an absent page of its window fails instead of faulting
 *	again
 */
struct rxe_odp_fault {
	struct work_struct work;
	struct rxe_qp *qp;
	struct rxe_task *wake;
	spinlock_t lock;	/* see @lock above */
	bool busy;
	bool dying;
	struct rxe_mr *mr;
	u32 lkey;
	u64 iova;
	u32 len;
	unsigned int flags;
	ktime_t queued;
	int err;
};

/**
 * struct rxe_odp_qp - a QP's deferred-fault slots, one per side
 * @resp: the responder's (remote WRITE, SEND, READ, atomics)
 * @req: the requester's (local SGEs of a send WQE)
 * @hold_timer: schedules the responder when a WRITE or SEND packet held for
 *	@resp's fault has waited as long as it may (rxe_odp_hold())
 * @keep_srq_wqe: the responder held back, or refused with an RNR NAK, the
 *	packet that took a WQE from the SRQ; the packet's next pass uses that
 *	WQE again instead of taking another (responder task only)
 *
 * One fault per side is outstanding at a time: a second miss while one is
 * pending is answered like the first (RNR NAK or wait) without queueing.
 */
struct rxe_odp_qp {
	struct rxe_odp_fault resp;
	struct rxe_odp_fault req;
	struct timer_list hold_timer;
	bool keep_srq_wqe;
};

#endif /* RXE_ODP_H */
