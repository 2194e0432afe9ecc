// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * qp.c - queue pairs: creation and the send path.
 *
 * Send WQEs (struct rxe_send_wqe) are written straight into the send ring
 * the kernel mapped for us; after publishing the producer index we ring a
 * doorbell, an empty IB_USER_VERBS_CMD_POST_SEND write(), which makes
 * rdma_rxe schedule its requester for the QP. Both the classic
 * ibv_post_send() list and the ibv_qp_ex builder interface end up here.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "softrxe.h"

/* Bytes of a send WQE before its scatter list / inline data. */
#define SEND_WQE_HDR offsetof(struct rxe_send_wqe, dma.sge)

_Static_assert(offsetof(struct rxe_send_wqe, dma.sge) ==
	       offsetof(struct rxe_send_wqe, dma.inline_data),
	       "inline data and the scatter list share their place");
_Static_assert(sizeof(struct rxe_sge) == sizeof(struct ibv_sge) &&
	       offsetof(struct rxe_sge, addr) == offsetof(struct ibv_sge, addr) &&
	       offsetof(struct rxe_sge, length) == offsetof(struct ibv_sge, length) &&
	       offsetof(struct rxe_sge, lkey) == offsetof(struct ibv_sge, lkey),
	       "rxe_sge and ibv_sge have one layout");

static uint32_t min_u32(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

/* ------------------------------------------------------------- doorbell */

static int ring_doorbell(struct ibv_qp *ibqp)
{
	struct ib_uverbs_post_send_resp resp;
	struct ibv_post_send cmd;

	memset(&cmd, 0, sizeof(cmd));
	cmd.hdr.command = IB_USER_VERBS_CMD_POST_SEND;
	cmd.hdr.in_words = sizeof(cmd) / 4;
	cmd.hdr.out_words = sizeof(resp) / 4;
	cmd.core_payload.response = (uintptr_t)&resp;
	cmd.core_payload.qp_handle = ibqp->handle;
	cmd.core_payload.wr_count = 0;
	cmd.core_payload.sge_count = 0;
	cmd.core_payload.wqe_size = sizeof(struct ib_uverbs_send_wr);

	if (write(ibqp->context->cmd_fd, &cmd, sizeof(cmd)) != sizeof(cmd))
		return errno ? errno : EIO;
	return 0;
}

/* The kernel refuses sends before RTS; refuse them before queueing. */
static bool sq_ready(const struct ibv_qp *ibqp)
{
	switch (ibqp->state) {
	case IBV_QPS_RESET:
	case IBV_QPS_INIT:
	case IBV_QPS_RTR:
		return false;
	default:
		return true;
	}
}

/* -------------------------------------------- operations per QP type */

enum {
	SOFTRXE_QP_COMP_MASK = IBV_QP_INIT_ATTR_PD |
			       IBV_QP_INIT_ATTR_CREATE_FLAGS |
			       IBV_QP_INIT_ATTR_SEND_OPS_FLAGS,

	SOFTRXE_RC_SEND_OPS = IBV_QP_EX_WITH_RDMA_WRITE |
			      IBV_QP_EX_WITH_RDMA_WRITE_WITH_IMM |
			      IBV_QP_EX_WITH_SEND | IBV_QP_EX_WITH_SEND_WITH_IMM |
			      IBV_QP_EX_WITH_RDMA_READ |
			      IBV_QP_EX_WITH_ATOMIC_CMP_AND_SWP |
			      IBV_QP_EX_WITH_ATOMIC_FETCH_AND_ADD |
			      IBV_QP_EX_WITH_LOCAL_INV | IBV_QP_EX_WITH_BIND_MW |
			      IBV_QP_EX_WITH_SEND_WITH_INV |
			      IBV_QP_EX_WITH_ATOMIC_WRITE,
	SOFTRXE_UC_SEND_OPS = IBV_QP_EX_WITH_RDMA_WRITE |
			      IBV_QP_EX_WITH_RDMA_WRITE_WITH_IMM |
			      IBV_QP_EX_WITH_SEND | IBV_QP_EX_WITH_SEND_WITH_IMM |
			      IBV_QP_EX_WITH_BIND_MW |
			      IBV_QP_EX_WITH_SEND_WITH_INV,
	SOFTRXE_UD_SEND_OPS = IBV_QP_EX_WITH_SEND | IBV_QP_EX_WITH_SEND_WITH_IMM,
};

static uint64_t send_ops_for(enum ibv_qp_type type)
{
	switch (type) {
	case IBV_QPT_RC:
		return SOFTRXE_RC_SEND_OPS;
	case IBV_QPT_UC:
		return SOFTRXE_UC_SEND_OPS;
	case IBV_QPT_UD:
		return SOFTRXE_UD_SEND_OPS;
	default:
		return 0;
	}
}

/* The ibv_qp_ex operation flag of a work request opcode. */
static uint64_t op_flag(enum ibv_wr_opcode op)
{
	switch (op) {
	case IBV_WR_RDMA_WRITE:
		return IBV_QP_EX_WITH_RDMA_WRITE;
	case IBV_WR_RDMA_WRITE_WITH_IMM:
		return IBV_QP_EX_WITH_RDMA_WRITE_WITH_IMM;
	case IBV_WR_SEND:
		return IBV_QP_EX_WITH_SEND;
	case IBV_WR_SEND_WITH_IMM:
		return IBV_QP_EX_WITH_SEND_WITH_IMM;
	case IBV_WR_RDMA_READ:
		return IBV_QP_EX_WITH_RDMA_READ;
	case IBV_WR_ATOMIC_CMP_AND_SWP:
		return IBV_QP_EX_WITH_ATOMIC_CMP_AND_SWP;
	case IBV_WR_ATOMIC_FETCH_AND_ADD:
		return IBV_QP_EX_WITH_ATOMIC_FETCH_AND_ADD;
	case IBV_WR_LOCAL_INV:
		return IBV_QP_EX_WITH_LOCAL_INV;
	case IBV_WR_BIND_MW:
		return IBV_QP_EX_WITH_BIND_MW;
	case IBV_WR_SEND_WITH_INV:
		return IBV_QP_EX_WITH_SEND_WITH_INV;
	case IBV_WR_ATOMIC_WRITE:
		return IBV_QP_EX_WITH_ATOMIC_WRITE;
	default:
		return 0;
	}
}

static bool op_allowed(const struct ibv_qp *ibqp, enum ibv_wr_opcode op)
{
	return send_ops_for(ibqp->qp_type) & op_flag(op);
}

/* --------------------------------------------------- classic post_send */

static int sum_sges(const struct ibv_sge *sg, int num, uint32_t *total)
{
	uint64_t len = 0;
	int i;

	for (i = 0; i < num; i++)
		len += sg[i].length;
	if (len > UINT32_MAX)
		return EINVAL;
	*total = (uint32_t)len;
	return 0;
}

static bool is_data_opcode(enum ibv_wr_opcode op)
{
	switch (op) {
	case IBV_WR_RDMA_WRITE:
	case IBV_WR_RDMA_WRITE_WITH_IMM:
	case IBV_WR_SEND:
	case IBV_WR_SEND_WITH_IMM:
	case IBV_WR_SEND_WITH_INV:
		return true;
	default:
		return false;
	}
}

/*
 * Check one ibv_send_wr against the QP and write it into 'wqe' (a free
 * slot). Nothing is published here.
 */
static int fill_send_wqe(struct softrxe_qp *qp, const struct ibv_send_wr *wr,
			 struct rxe_send_wqe *wqe)
{
	const enum ibv_qp_type type = qp->vqp.qp.qp_type;
	const bool inl = wr->send_flags & IBV_SEND_INLINE;
	struct rxe_send_wr *k = &wqe->wr;
	uint32_t length;
	int i;

	/* also refuses TSO, driver opcodes, and ATOMIC_WRITE (no data field) */
	if (wr->opcode == IBV_WR_ATOMIC_WRITE || !op_allowed(&qp->vqp.qp, wr->opcode))
		return EINVAL;
	/* the SGE count is bounded first: the list is only read up to it */
	if (wr->num_sge < 0 || (uint32_t)wr->num_sge > qp->sq.max_sge ||
	    (wr->num_sge > 0 && !wr->sg_list))
		return EINVAL;
	if (sum_sges(wr->sg_list, wr->num_sge, &length))
		return EINVAL;
	if (inl) {
		if (!is_data_opcode(wr->opcode) || length > qp->sq.max_inline)
			return EINVAL;
		for (i = 0; i < wr->num_sge; i++)
			if (wr->sg_list[i].length && !wr->sg_list[i].addr)
				return EINVAL;
	}

	memset(wqe, 0, SEND_WQE_HDR);
	k->wr_id = wr->wr_id;
	k->opcode = wr->opcode;
	k->send_flags = wr->send_flags;
	k->ex.imm_data = wr->imm_data;	/* also carries invalidate_rkey */

	switch (wr->opcode) {
	case IBV_WR_SEND:
	case IBV_WR_SEND_WITH_IMM:
		if (type == IBV_QPT_UD) {
			if (!wr->wr.ud.ah)
				return EINVAL;
			k->wr.ud.remote_qpn = wr->wr.ud.remote_qpn;
			k->wr.ud.remote_qkey = wr->wr.ud.remote_qkey;
			k->wr.ud.ah_num = to_sah(wr->wr.ud.ah)->ah_num;
		}
		break;
	case IBV_WR_SEND_WITH_INV:
	case IBV_WR_LOCAL_INV:
		break;
	case IBV_WR_RDMA_WRITE:
	case IBV_WR_RDMA_WRITE_WITH_IMM:
	case IBV_WR_RDMA_READ:
		k->wr.rdma.remote_addr = wr->wr.rdma.remote_addr;
		k->wr.rdma.rkey = wr->wr.rdma.rkey;
		wqe->iova = wr->wr.rdma.remote_addr;
		break;
	case IBV_WR_ATOMIC_CMP_AND_SWP:
	case IBV_WR_ATOMIC_FETCH_AND_ADD:
		if (length < 8 || (wr->wr.atomic.remote_addr & 7))
			return EINVAL;
		k->wr.atomic.remote_addr = wr->wr.atomic.remote_addr;
		k->wr.atomic.compare_add = wr->wr.atomic.compare_add;
		k->wr.atomic.swap = wr->wr.atomic.swap;
		k->wr.atomic.rkey = wr->wr.atomic.rkey;
		wqe->iova = wr->wr.atomic.remote_addr;
		break;
	case IBV_WR_BIND_MW: {
		const struct ibv_mw_bind_info *bi = &wr->bind_mw.bind_info;

		if (!wr->bind_mw.mw || wr->num_sge || (bi->length && !bi->mr))
			return EINVAL;
		if (type != IBV_QPT_RC && type != IBV_QPT_UC)
			return EINVAL;
		k->wr.mw.addr = bi->addr;
		k->wr.mw.length = bi->length;
		k->wr.mw.mr_lkey = bi->mr ? bi->mr->lkey : 0;
		k->wr.mw.mw_rkey = wr->bind_mw.mw->rkey;
		k->wr.mw.rkey = wr->bind_mw.rkey;
		k->wr.mw.access = bi->mw_access_flags;
		break;
	}
	default:
		return EINVAL;
	}

	if (inl) {
		uint8_t *dst = wqe->dma.inline_data;

		for (i = 0; i < wr->num_sge; i++) {
			memcpy(dst, (const void *)(uintptr_t)wr->sg_list[i].addr,
			       wr->sg_list[i].length);
			dst += wr->sg_list[i].length;
		}
	} else {
		memcpy(wqe->dma.sge, wr->sg_list,
		       (size_t)wr->num_sge * sizeof(struct rxe_sge));
		wqe->dma.num_sge = (uint32_t)wr->num_sge;
	}
	wqe->dma.length = length;
	wqe->dma.resid = length;
	wqe->ssn = qp->ssn++;
	return 0;
}

int softrxe_post_send(struct ibv_qp *ibqp, struct ibv_send_wr *wr,
		      struct ibv_send_wr **bad_wr)
{
	struct softrxe_qp *qp = to_sqp(ibqp);
	struct ring *r = &qp->sq.ring;
	uint32_t idx, posted = 0;
	int err = 0;

	if (!bad_wr)
		return EINVAL;
	*bad_wr = wr;
	if (!wr || !r->buf)
		return EINVAL;
	if (!sq_ready(ibqp))
		return EINVAL;

	pthread_spin_lock(&qp->sq.lock);
	idx = ring_prod(r);
	for (; wr; wr = wr->next, idx++, posted++) {
		if (ring_full_at(r, idx)) {
			err = ENOMEM;
			break;
		}
		err = fill_send_wqe(qp, wr, ring_slot(r, idx));
		if (err)
			break;
	}
	if (posted)
		ring_publish_prod(r, idx);
	pthread_spin_unlock(&qp->sq.lock);

	*bad_wr = err ? wr : NULL;
	if (posted) {
		int db = ring_doorbell(ibqp);

		if (!err)
			err = db;
	}
	return err;
}

/* A type 1 window is bound with a BIND_MW work request and a fresh key. */
int softrxe_bind_mw(struct ibv_qp *ibqp, struct ibv_mw *mw,
		    struct ibv_mw_bind *mw_bind)
{
	struct ibv_send_wr wr, *bad;
	int ret;

	if (!mw || !mw_bind)
		return EINVAL;
	if (mw_bind->bind_info.mw_access_flags & IBV_ACCESS_ZERO_BASED)
		return EINVAL;

	memset(&wr, 0, sizeof(wr));
	wr.wr_id = mw_bind->wr_id;
	wr.opcode = IBV_WR_BIND_MW;
	wr.send_flags = mw_bind->send_flags;
	wr.bind_mw.mw = mw;
	wr.bind_mw.bind_info = mw_bind->bind_info;
	/* keep the index (upper 24 bits), step the key byte */
	wr.bind_mw.rkey = (mw->rkey & ~0xffu) | ((mw->rkey + 1) & 0xffu);

	ret = softrxe_post_send(ibqp, &wr, &bad);
	if (ret)
		return ret;
	mw->rkey = wr.bind_mw.rkey;	/* undone by the caller on a bad WC */
	return 0;
}

/* ------------------------------------------------------ ibv_qp_ex batch */

/*
 * wr_start() takes the send lock and wr_complete()/wr_abort() drop it.
 * Builders (wr_send, wr_rdma_write, ...) each fill a new slot; setters
 * (wr_set_sge, wr_set_ud_addr, ...) amend the slot filled last. The first
 * error sticks and is reported by wr_complete(), which then publishes
 * nothing.
 */
static struct rxe_send_wqe *batch_new(struct ibv_qp_ex *qx,
				      enum ibv_wr_opcode op)
{
	struct softrxe_qp *qp = ex_to_sqp(qx);
	struct rxe_send_wqe *wqe;

	if (qp->batch_err)
		return NULL;
	if (!op_allowed(&qp->vqp.qp, op)) {
		qp->batch_err = EOPNOTSUPP;
		return NULL;
	}
	if (ring_full_at(&qp->sq.ring, qp->batch_next)) {
		qp->batch_err = ENOMEM;
		return NULL;
	}
	wqe = ring_slot(&qp->sq.ring, qp->batch_next);
	memset(wqe, 0, SEND_WQE_HDR);
	wqe->wr.wr_id = qx->wr_id;
	wqe->wr.opcode = op;
	wqe->wr.send_flags = qx->wr_flags;
	wqe->ssn = qp->ssn++;
	qp->batch_next++;
	qp->batch_has_wqe = true;
	return wqe;
}

static struct rxe_send_wqe *batch_last(struct ibv_qp_ex *qx)
{
	struct softrxe_qp *qp = ex_to_sqp(qx);

	if (qp->batch_err)
		return NULL;
	if (!qp->batch_has_wqe) {
		qp->batch_err = EINVAL;
		return NULL;
	}
	return ring_slot(&qp->sq.ring, qp->batch_next - 1);
}

static void batch_fail(struct ibv_qp_ex *qx, int err)
{
	struct softrxe_qp *qp = ex_to_sqp(qx);

	if (!qp->batch_err)
		qp->batch_err = err;
}

static void qx_wr_start(struct ibv_qp_ex *qx)
{
	struct softrxe_qp *qp = ex_to_sqp(qx);

	pthread_spin_lock(&qp->sq.lock);
	qp->batch_next = ring_prod(&qp->sq.ring);
	qp->batch_err = 0;
	qp->batch_has_wqe = false;
}

static int qx_wr_complete(struct ibv_qp_ex *qx)
{
	struct softrxe_qp *qp = ex_to_sqp(qx);
	int err = qp->batch_err;
	bool any = qp->batch_has_wqe;

	if (!err && any && !sq_ready(&qp->vqp.qp))
		err = EINVAL;
	if (!err && any)
		ring_publish_prod(&qp->sq.ring, qp->batch_next);
	pthread_spin_unlock(&qp->sq.lock);
	if (err)
		return err;
	return any ? ring_doorbell(&qp->vqp.qp) : 0;
}

static void qx_wr_abort(struct ibv_qp_ex *qx)
{
	pthread_spin_unlock(&ex_to_sqp(qx)->sq.lock);
}

static void set_rdma(struct rxe_send_wqe *wqe, uint32_t rkey, uint64_t raddr)
{
	wqe->wr.wr.rdma.remote_addr = raddr;
	wqe->wr.wr.rdma.rkey = rkey;
	wqe->iova = raddr;
}

static void qx_rdma_write(struct ibv_qp_ex *qx, uint32_t rkey, uint64_t raddr)
{
	struct rxe_send_wqe *wqe = batch_new(qx, IBV_WR_RDMA_WRITE);

	if (wqe)
		set_rdma(wqe, rkey, raddr);
}

static void qx_rdma_write_imm(struct ibv_qp_ex *qx, uint32_t rkey,
			      uint64_t raddr, __be32 imm)
{
	struct rxe_send_wqe *wqe = batch_new(qx, IBV_WR_RDMA_WRITE_WITH_IMM);

	if (wqe) {
		set_rdma(wqe, rkey, raddr);
		wqe->wr.ex.imm_data = imm;
	}
}

static void qx_rdma_read(struct ibv_qp_ex *qx, uint32_t rkey, uint64_t raddr)
{
	struct rxe_send_wqe *wqe = batch_new(qx, IBV_WR_RDMA_READ);

	if (wqe)
		set_rdma(wqe, rkey, raddr);
}

static void qx_send(struct ibv_qp_ex *qx)
{
	batch_new(qx, IBV_WR_SEND);
}

static void qx_send_imm(struct ibv_qp_ex *qx, __be32 imm)
{
	struct rxe_send_wqe *wqe = batch_new(qx, IBV_WR_SEND_WITH_IMM);

	if (wqe)
		wqe->wr.ex.imm_data = imm;
}

static void qx_send_inv(struct ibv_qp_ex *qx, uint32_t inv_rkey)
{
	struct rxe_send_wqe *wqe = batch_new(qx, IBV_WR_SEND_WITH_INV);

	if (wqe)
		wqe->wr.ex.invalidate_rkey = inv_rkey;
}

static void qx_local_inv(struct ibv_qp_ex *qx, uint32_t inv_rkey)
{
	struct rxe_send_wqe *wqe = batch_new(qx, IBV_WR_LOCAL_INV);

	if (wqe)
		wqe->wr.ex.invalidate_rkey = inv_rkey;
}

static void set_atomic(struct rxe_send_wqe *wqe, uint32_t rkey, uint64_t raddr,
		       uint64_t compare_add, uint64_t swap)
{
	wqe->wr.wr.atomic.remote_addr = raddr;
	wqe->wr.wr.atomic.compare_add = compare_add;
	wqe->wr.wr.atomic.swap = swap;
	wqe->wr.wr.atomic.rkey = rkey;
	wqe->iova = raddr;
}

static void qx_atomic_cmp_swp(struct ibv_qp_ex *qx, uint32_t rkey,
			      uint64_t raddr, uint64_t compare, uint64_t swap)
{
	struct rxe_send_wqe *wqe;

	if (raddr & 7) {
		batch_fail(qx, EINVAL);
		return;
	}
	wqe = batch_new(qx, IBV_WR_ATOMIC_CMP_AND_SWP);
	if (wqe)
		set_atomic(wqe, rkey, raddr, compare, swap);
}

static void qx_atomic_fetch_add(struct ibv_qp_ex *qx, uint32_t rkey,
				uint64_t raddr, uint64_t add)
{
	struct rxe_send_wqe *wqe;

	if (raddr & 7) {
		batch_fail(qx, EINVAL);
		return;
	}
	wqe = batch_new(qx, IBV_WR_ATOMIC_FETCH_AND_ADD);
	if (wqe)
		set_atomic(wqe, rkey, raddr, add, 0);
}

/* 8 bytes written atomically at the responder; carried inline */
static void qx_atomic_write(struct ibv_qp_ex *qx, uint32_t rkey,
			    uint64_t raddr, const void *data)
{
	struct rxe_send_wqe *wqe;

	if (!data || (raddr & 7)) {
		batch_fail(qx, EINVAL);
		return;
	}
	wqe = batch_new(qx, IBV_WR_ATOMIC_WRITE);
	if (!wqe)
		return;
	set_rdma(wqe, rkey, raddr);
	memcpy(wqe->dma.inline_data, data, 8);
	wqe->dma.length = 8;
	wqe->dma.resid = 8;
}

static void qx_bind_mw(struct ibv_qp_ex *qx, struct ibv_mw *mw, uint32_t rkey,
		       const struct ibv_mw_bind_info *bi)
{
	struct rxe_send_wqe *wqe;

	if (!mw || !bi || (bi->length && !bi->mr)) {
		batch_fail(qx, EINVAL);
		return;
	}
	wqe = batch_new(qx, IBV_WR_BIND_MW);
	if (!wqe)
		return;
	wqe->wr.wr.mw.addr = bi->addr;
	wqe->wr.wr.mw.length = bi->length;
	wqe->wr.wr.mw.mr_lkey = bi->mr ? bi->mr->lkey : 0;
	wqe->wr.wr.mw.mw_rkey = mw->rkey;
	wqe->wr.wr.mw.rkey = rkey;
	wqe->wr.wr.mw.access = bi->mw_access_flags;
}

static void qx_send_tso(struct ibv_qp_ex *qx, void *hdr, uint16_t hdr_sz,
			uint16_t mss)
{
	(void)hdr;
	(void)hdr_sz;
	(void)mss;
	batch_fail(qx, EOPNOTSUPP);
}

static void qx_set_xrc_srqn(struct ibv_qp_ex *qx, uint32_t srqn)
{
	(void)srqn;
	batch_fail(qx, EOPNOTSUPP);
}

static void qx_set_ud_addr(struct ibv_qp_ex *qx, struct ibv_ah *ah,
			   uint32_t remote_qpn, uint32_t remote_qkey)
{
	struct rxe_send_wqe *wqe;

	if (!ah) {
		batch_fail(qx, EINVAL);
		return;
	}
	wqe = batch_last(qx);
	if (!wqe)
		return;
	wqe->wr.wr.ud.remote_qpn = remote_qpn;
	wqe->wr.wr.ud.remote_qkey = remote_qkey;
	wqe->wr.wr.ud.ah_num = to_sah(ah)->ah_num;
}

static void qx_set_sge_list(struct ibv_qp_ex *qx, size_t num_sge,
			    const struct ibv_sge *sg)
{
	struct softrxe_qp *qp = ex_to_sqp(qx);
	struct rxe_send_wqe *wqe;
	uint32_t length;

	if (num_sge > qp->sq.max_sge || (num_sge && !sg)) {
		batch_fail(qx, EINVAL);
		return;
	}
	if (sum_sges(sg, (int)num_sge, &length)) {
		batch_fail(qx, EINVAL);
		return;
	}
	wqe = batch_last(qx);
	if (!wqe)
		return;
	memcpy(wqe->dma.sge, sg, num_sge * sizeof(struct rxe_sge));
	wqe->dma.num_sge = (uint32_t)num_sge;
	wqe->dma.length = length;
	wqe->dma.resid = length;
	wqe->wr.send_flags &= ~(uint32_t)IBV_SEND_INLINE;
}

static void qx_set_sge(struct ibv_qp_ex *qx, uint32_t lkey, uint64_t addr,
		       uint32_t length)
{
	struct ibv_sge sge = { .addr = addr, .length = length, .lkey = lkey };

	/* a zero-length SGE is the same as none */
	qx_set_sge_list(qx, length ? 1 : 0, &sge);
}

static void qx_set_inline_data_list(struct ibv_qp_ex *qx, size_t num_buf,
				    const struct ibv_data_buf *bufs)
{
	struct softrxe_qp *qp = ex_to_sqp(qx);
	struct rxe_send_wqe *wqe;
	uint64_t total = 0;
	uint8_t *dst;
	size_t i;

	if (num_buf && !bufs) {
		batch_fail(qx, EINVAL);
		return;
	}
	for (i = 0; i < num_buf; i++) {
		if (bufs[i].length && !bufs[i].addr) {
			batch_fail(qx, EINVAL);
			return;
		}
		total += bufs[i].length;
	}
	if (total > qp->sq.max_inline) {
		batch_fail(qx, ENOSPC);
		return;
	}
	wqe = batch_last(qx);
	if (!wqe)
		return;
	dst = wqe->dma.inline_data;
	for (i = 0; i < num_buf; i++) {
		memcpy(dst, bufs[i].addr, bufs[i].length);
		dst += bufs[i].length;
	}
	wqe->dma.num_sge = 0;
	wqe->dma.length = (uint32_t)total;
	wqe->dma.resid = (uint32_t)total;
	wqe->wr.send_flags |= IBV_SEND_INLINE;
}

static void qx_set_inline_data(struct ibv_qp_ex *qx, void *addr, size_t length)
{
	struct ibv_data_buf buf = { .addr = addr, .length = length };

	qx_set_inline_data_list(qx, 1, &buf);
}

/* ------------------------------------------------------------- creation */

/*
 * Every builder pointer is set, whatever send_ops_flags asked for; an
 * operation the QP type cannot carry fails the batch (batch_new()).
 */
static void install_builders(struct softrxe_qp *qp)
{
	struct ibv_qp_ex *x = &qp->vqp.qp_ex;

	x->wr_start = qx_wr_start;
	x->wr_complete = qx_wr_complete;
	x->wr_abort = qx_wr_abort;
	x->wr_set_ud_addr = qx_set_ud_addr;
	x->wr_set_xrc_srqn = qx_set_xrc_srqn;
	x->wr_set_inline_data = qx_set_inline_data;
	x->wr_set_inline_data_list = qx_set_inline_data_list;
	x->wr_set_sge = qx_set_sge;
	x->wr_set_sge_list = qx_set_sge_list;
	x->wr_send_tso = qx_send_tso;
	x->wr_send = qx_send;
	x->wr_send_imm = qx_send_imm;
	x->wr_send_inv = qx_send_inv;
	x->wr_rdma_write = qx_rdma_write;
	x->wr_rdma_write_imm = qx_rdma_write_imm;
	x->wr_rdma_read = qx_rdma_read;
	x->wr_atomic_cmp_swp = qx_atomic_cmp_swp;
	x->wr_atomic_fetch_add = qx_atomic_fetch_add;
	x->wr_atomic_write = qx_atomic_write;
	x->wr_bind_mw = qx_bind_mw;
	x->wr_local_inv = qx_local_inv;
}

static void wq_release(struct softrxe_wq *wq)
{
	if (wq->ring.map_len) {
		ring_unmap(&wq->ring);
		pthread_spin_destroy(&wq->lock);
	}
}

/* Map the rings of a created QP; caps are the kernel's (updated) answer. */
static int qp_attach_rings(struct softrxe_qp *qp, int cmd_fd,
			   const struct ibv_qp_cap *cap, bool has_srq,
			   const struct rxe_create_qp_resp *drv)
{
	uint32_t slot_sges, slot_inline;
	int ret;

	ret = ring_map(&qp->sq.ring, cmd_fd, &drv->sq_mi);
	if (ret)
		return ret;
	if (qp->sq.ring.slot_bytes < SEND_WQE_HDR) {
		ring_unmap(&qp->sq.ring);
		return EPROTO;
	}
	slot_inline = qp->sq.ring.slot_bytes - SEND_WQE_HDR;
	slot_sges = slot_inline / sizeof(struct rxe_sge);
	qp->sq.max_sge = min_u32(cap->max_send_sge, slot_sges);
	qp->sq.max_inline = min_u32(cap->max_inline_data, slot_inline);
	pthread_spin_init(&qp->sq.lock, PTHREAD_PROCESS_PRIVATE);

	if (!has_srq && drv->rq_mi.size) {
		ret = ring_map(&qp->rq.ring, cmd_fd, &drv->rq_mi);
		if (ret) {
			wq_release(&qp->sq);
			return ret;
		}
		qp->rq.max_sge = min_u32(cap->max_recv_sge,
					 softrxe_recv_slot_sges(&qp->rq.ring));
		pthread_spin_init(&qp->rq.lock, PTHREAD_PROCESS_PRIVATE);
	}
	install_builders(qp);
	qp->vqp.comp_mask |= VERBS_QP_EX;
	return 0;
}

static int check_qp_attr(const struct ibv_qp_init_attr_ex *attr)
{
	if (attr->comp_mask & ~(uint32_t)SOFTRXE_QP_COMP_MASK)
		return EOPNOTSUPP;
	if ((attr->comp_mask & IBV_QP_INIT_ATTR_CREATE_FLAGS) &&
	    attr->create_flags)
		return EOPNOTSUPP;
	switch (attr->qp_type) {
	case IBV_QPT_RC:
	case IBV_QPT_UC:
	case IBV_QPT_UD:
		break;
	default:
		return EOPNOTSUPP;	/* rdma_rxe's own answer */
	}
	if ((attr->comp_mask & IBV_QP_INIT_ATTR_SEND_OPS_FLAGS) &&
	    (attr->send_ops_flags & ~send_ops_for(attr->qp_type)))
		return EOPNOTSUPP;
	/* libibverbs dereferences both CQs before the kernel could object */
	if (!attr->send_cq || !attr->recv_cq)
		return EINVAL;
	return 0;
}

struct ibv_qp *softrxe_create_qp(struct ibv_pd *pd,
				 struct ibv_qp_init_attr *attr)
{
	struct ibv_qp_init_attr_ex check;
	struct ibv_create_qp cmd;
	struct softrxe_qp_resp resp;
	struct softrxe_qp *qp;
	int ret;

	if (!pd || !attr)
		return null_errno(EINVAL);
	memset(&check, 0, sizeof(check));
	check.qp_type = attr->qp_type;
	check.send_cq = attr->send_cq;
	check.recv_cq = attr->recv_cq;
	ret = check_qp_attr(&check);
	if (ret)
		return null_errno(ret);

	qp = calloc(1, sizeof(*qp));
	if (!qp)
		return NULL;
	memset(&cmd, 0, sizeof(cmd));
	memset(&resp, 0, sizeof(resp));
	ret = ibv_cmd_create_qp(pd, &qp->vqp.qp, attr, &cmd, sizeof(cmd),
				(struct ib_uverbs_create_qp_resp *)resp.core,
				sizeof(resp));
	if (ret)
		goto err_free;
	ret = qp_attach_rings(qp, pd->context->cmd_fd, &attr->cap, !!attr->srq,
			      &resp.drv);
	if (ret)
		goto err_destroy;
	return &qp->vqp.qp;

err_destroy:
	ibv_cmd_destroy_qp(&qp->vqp.qp);
err_free:
	free(qp);
	return null_errno(ret);
}

struct ibv_qp *softrxe_create_qp_ex(struct ibv_context *ctx,
				    struct ibv_qp_init_attr_ex *attr)
{
	struct ibv_create_qp_ex cmd;
	struct softrxe_qp_ex_resp resp;
	struct softrxe_qp *qp;
	int ret;

	if (!attr)
		return null_errno(EINVAL);
	ret = check_qp_attr(attr);
	if (ret)
		return null_errno(ret);
	if (!(attr->comp_mask & IBV_QP_INIT_ATTR_PD) || !attr->pd)
		return null_errno(EINVAL);

	qp = calloc(1, sizeof(*qp));
	if (!qp)
		return NULL;
	memset(&cmd, 0, sizeof(cmd));
	memset(&resp, 0, sizeof(resp));
	ret = ibv_cmd_create_qp_ex2(ctx, &qp->vqp, attr, &cmd, sizeof(cmd),
				    (struct ib_uverbs_ex_create_qp_resp *)resp.core,
				    sizeof(resp));
	if (ret)
		goto err_free;
	ret = qp_attach_rings(qp, ctx->cmd_fd, &attr->cap, !!attr->srq,
			      &resp.drv);
	if (ret)
		goto err_destroy;
	return &qp->vqp.qp;

err_destroy:
	ibv_cmd_destroy_qp(&qp->vqp.qp);
err_free:
	free(qp);
	return null_errno(ret);
}

int softrxe_query_qp(struct ibv_qp *ibqp, struct ibv_qp_attr *attr,
		     int attr_mask, struct ibv_qp_init_attr *init_attr)
{
	struct ibv_query_qp cmd;

	if (!attr || !init_attr)
		return EINVAL;
	memset(&cmd, 0, sizeof(cmd));
	return ibv_cmd_query_qp(ibqp, attr, attr_mask, init_attr, &cmd,
				sizeof(cmd));
}

int softrxe_modify_qp(struct ibv_qp *ibqp, struct ibv_qp_attr *attr,
		      int attr_mask)
{
	struct ibv_modify_qp cmd;
	int ret;

	if (!attr)
		return EINVAL;
	memset(&cmd, 0, sizeof(cmd));
	ret = ibv_cmd_modify_qp(ibqp, attr, attr_mask, &cmd, sizeof(cmd));
	if (ret)
		return ret;
	/*
	 * RESET empties the work queues without completions; completions
	 * already queued for the QP (flushes of its ERR state, say) go too,
	 * as other providers do, so a reused QP starts with clean CQs.
	 */
	if ((attr_mask & IBV_QP_STATE) && attr->qp_state == IBV_QPS_RESET) {
		softrxe_cq_clean(ibqp->recv_cq, ibqp->qp_num);
		if (ibqp->send_cq != ibqp->recv_cq)
			softrxe_cq_clean(ibqp->send_cq, ibqp->qp_num);
	}
	return 0;
}

int softrxe_destroy_qp(struct ibv_qp *ibqp)
{
	struct softrxe_qp *qp = to_sqp(ibqp);
	int ret;

	ret = ibv_cmd_destroy_qp(ibqp);
	if (ret)
		return ret;
	wq_release(&qp->rq);
	wq_release(&qp->sq);
	free(qp);
	return 0;
}

/* ------------------------------------------------------------ post_recv */

int softrxe_post_recv(struct ibv_qp *ibqp, struct ibv_recv_wr *wr,
		      struct ibv_recv_wr **bad_wr)
{
	struct softrxe_qp *qp = to_sqp(ibqp);

	if (!bad_wr)
		return EINVAL;
	*bad_wr = wr;
	/* no receive ring: the QP takes its receives from an SRQ */
	if (!wr || !qp->rq.ring.buf)
		return EINVAL;
	/* C10-97.2.1: no receives in RESET */
	if (ibqp->state == IBV_QPS_RESET)
		return EINVAL;
	return softrxe_wq_post_recv(&qp->rq, wr, bad_wr);
}
