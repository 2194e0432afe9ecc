// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * cq.c - completion queues: the kernel writes struct ib_uverbs_wc entries
 * into a shared ring, we read them without a system call (ibv_poll_cq and
 * the ibv_cq_ex start/next/end_poll interface).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "softrxe.h"

/* The kernel's enum ib_wc_flags bits that rxe reports to user CQs. */
enum {
	KERN_WC_GRH = 1 << 0,
	KERN_WC_WITH_IMM = 1 << 1,
	KERN_WC_WITH_INVALIDATE = 1 << 2,
	KERN_WC_IP_CSUM_OK = 1 << 3,
};

/* Kernel flag bits differ from libibverbs' above bit 1; translate. */
static unsigned int wc_flags_from_kernel(uint32_t kflags)
{
	unsigned int flags = 0;

	if (kflags & KERN_WC_GRH)
		flags |= IBV_WC_GRH;
	if (kflags & KERN_WC_WITH_IMM)
		flags |= IBV_WC_WITH_IMM;
	if (kflags & KERN_WC_WITH_INVALIDATE)
		flags |= IBV_WC_WITH_INV;
	if (kflags & KERN_WC_IP_CSUM_OK)
		flags |= IBV_WC_IP_CSUM_OK;
	return flags;
}

static void cqe_to_wc(const struct ib_uverbs_wc *cqe, struct ibv_wc *wc)
{
	wc->wr_id = cqe->wr_id;
	wc->status = (enum ibv_wc_status)cqe->status;
	wc->opcode = (enum ibv_wc_opcode)cqe->opcode;
	wc->vendor_err = cqe->vendor_err;
	wc->byte_len = cqe->byte_len;
	wc->imm_data = cqe->ex.imm_data;	/* or the invalidated rkey */
	wc->qp_num = cqe->qp_num;
	wc->src_qp = cqe->src_qp;
	wc->wc_flags = wc_flags_from_kernel(cqe->wc_flags);
	wc->pkey_index = cqe->pkey_index;
	wc->slid = cqe->slid;
	wc->sl = cqe->sl;
	wc->dlid_path_bits = cqe->dlid_path_bits;
}

int softrxe_poll_cq(struct ibv_cq *ibcq, int ne, struct ibv_wc *wc)
{
	struct softrxe_cq *cq = to_scq(ibcq);
	uint32_t idx;
	int n;

	if (ne < 0 || (ne > 0 && !wc))
		return -EINVAL;

	pthread_spin_lock(&cq->lock);
	if (!cq->ring.buf) {		/* a failed resize left no mapping */
		pthread_spin_unlock(&cq->lock);
		return -EIO;
	}
	idx = ring_cons(&cq->ring);
	for (n = 0; n < ne; n++, idx++) {
		if (ring_empty_at(&cq->ring, idx))
			break;
		cqe_to_wc(ring_slot(&cq->ring, idx), &wc[n]);
	}
	if (n)
		ring_publish_cons(&cq->ring, idx);
	pthread_spin_unlock(&cq->lock);
	return n;
}

/*
 * Drop the completions of QP 'qpn' that wait in the CQ (the QP went to
 * RESET: its work is gone, so are its completions). Entries between the
 * consumer and the producer index as read now belong to us; the kept ones
 * slide towards the producer end and the consumer index skips the holes.
 * The kernel only ever writes at and beyond the producer index.
 */
void softrxe_cq_clean(struct ibv_cq *ibcq, uint32_t qpn)
{
	struct softrxe_cq *cq = to_scq(ibcq);
	struct ring *r = &cq->ring;
	uint32_t cons, n, i, dropped = 0;

	pthread_spin_lock(&cq->lock);
	if (!r->buf)
		goto out;
	cons = ring_cons(r);
	n = (ring_load_acquire(&r->buf->producer_index) - cons) & r->mask;
	for (i = n; i-- > 0;) {
		const struct ib_uverbs_wc *cqe = ring_slot(r, cons + i);

		if (cqe->qp_num == qpn)
			dropped++;
		else if (dropped)
			memcpy(ring_slot(r, cons + i + dropped), cqe, r->slot_bytes);
	}
	if (dropped)
		ring_publish_cons(r, cons + dropped);
out:
	pthread_spin_unlock(&cq->lock);
}

/* ------------------------------------------------------- extended polling */

/*
 * The lock is held from a successful start_poll() to end_poll(). 'cur' is
 * the entry being exposed; entries up to and including it are consumed
 * when end_poll() publishes cur + 1. next_poll() returning ENOENT leaves
 * 'cur' alone, so a later next_poll() can still pick up a new entry.
 */
static void expose(struct softrxe_cq *cq, uint32_t idx)
{
	const struct ib_uverbs_wc *cqe = ring_slot(&cq->ring, idx);

	cq->cur = idx;
	cq->cur_wc = cqe;
	cq->vcq.cq_ex.wr_id = cqe->wr_id;
	cq->vcq.cq_ex.status = (enum ibv_wc_status)cqe->status;
}

static int cqx_start_poll(struct ibv_cq_ex *cqex, struct ibv_poll_cq_attr *attr)
{
	struct softrxe_cq *cq = ex_to_scq(cqex);
	uint32_t idx;

	if (attr && attr->comp_mask)
		return EINVAL;

	pthread_spin_lock(&cq->lock);
	if (!cq->ring.buf) {
		pthread_spin_unlock(&cq->lock);
		return EIO;
	}
	idx = ring_cons(&cq->ring);
	if (ring_empty_at(&cq->ring, idx)) {
		pthread_spin_unlock(&cq->lock);
		return ENOENT;
	}
	expose(cq, idx);
	return 0;
}

static int cqx_next_poll(struct ibv_cq_ex *cqex)
{
	struct softrxe_cq *cq = ex_to_scq(cqex);
	uint32_t idx = cq->cur + 1;

	if (ring_empty_at(&cq->ring, idx))
		return ENOENT;
	expose(cq, idx);
	return 0;
}

static void cqx_end_poll(struct ibv_cq_ex *cqex)
{
	struct softrxe_cq *cq = ex_to_scq(cqex);

	ring_publish_cons(&cq->ring, cq->cur + 1);
	pthread_spin_unlock(&cq->lock);
}

static enum ibv_wc_opcode cqx_read_opcode(struct ibv_cq_ex *cqex)
{
	return (enum ibv_wc_opcode)ex_to_scq(cqex)->cur_wc->opcode;
}

static uint32_t cqx_read_vendor_err(struct ibv_cq_ex *cqex)
{
	return ex_to_scq(cqex)->cur_wc->vendor_err;
}

static uint32_t cqx_read_byte_len(struct ibv_cq_ex *cqex)
{
	return ex_to_scq(cqex)->cur_wc->byte_len;
}

static __be32 cqx_read_imm_data(struct ibv_cq_ex *cqex)
{
	return ex_to_scq(cqex)->cur_wc->ex.imm_data;
}

static uint32_t cqx_read_qp_num(struct ibv_cq_ex *cqex)
{
	return ex_to_scq(cqex)->cur_wc->qp_num;
}

static uint32_t cqx_read_src_qp(struct ibv_cq_ex *cqex)
{
	return ex_to_scq(cqex)->cur_wc->src_qp;
}

static unsigned int cqx_read_wc_flags(struct ibv_cq_ex *cqex)
{
	return wc_flags_from_kernel(ex_to_scq(cqex)->cur_wc->wc_flags);
}

static uint32_t cqx_read_slid(struct ibv_cq_ex *cqex)
{
	return ex_to_scq(cqex)->cur_wc->slid;
}

static uint8_t cqx_read_sl(struct ibv_cq_ex *cqex)
{
	return ex_to_scq(cqex)->cur_wc->sl;
}

static uint8_t cqx_read_dlid_path_bits(struct ibv_cq_ex *cqex)
{
	return ex_to_scq(cqex)->cur_wc->dlid_path_bits;
}

/* -------------------------------------------------------------- lifecycle */

/* What struct ib_uverbs_wc carries; no timestamps, VLAN, flow tag, TM. */
#define SOFTRXE_WC_FLAGS IBV_WC_STANDARD_FLAGS

static int cq_attach_ring(struct softrxe_cq *cq, int cmd_fd,
			  const struct mminfo *mi)
{
	struct ibv_cq_ex *x = &cq->vcq.cq_ex;
	int ret;

	ret = ring_map(&cq->ring, cmd_fd, mi);
	if (ret)
		return ret;
	if (cq->ring.slot_bytes < sizeof(struct ib_uverbs_wc)) {
		ring_unmap(&cq->ring);
		return EPROTO;
	}
	pthread_spin_init(&cq->lock, PTHREAD_PROCESS_PRIVATE);

	x->start_poll = cqx_start_poll;
	x->next_poll = cqx_next_poll;
	x->end_poll = cqx_end_poll;
	x->read_opcode = cqx_read_opcode;
	x->read_vendor_err = cqx_read_vendor_err;
	x->read_wc_flags = cqx_read_wc_flags;
	x->read_byte_len = cqx_read_byte_len;
	x->read_imm_data = cqx_read_imm_data;
	x->read_qp_num = cqx_read_qp_num;
	x->read_src_qp = cqx_read_src_qp;
	x->read_slid = cqx_read_slid;
	x->read_sl = cqx_read_sl;
	x->read_dlid_path_bits = cqx_read_dlid_path_bits;
	return 0;
}

struct ibv_cq *softrxe_create_cq(struct ibv_context *ctx, int cqe,
				 struct ibv_comp_channel *channel,
				 int comp_vector)
{
	struct softrxe_cq_resp resp;
	struct softrxe_cq *cq;
	int ret;

	cq = calloc(1, sizeof(*cq));
	if (!cq)
		return NULL;
	memset(&resp, 0, sizeof(resp));
	ret = ibv_cmd_create_cq(ctx, cqe, channel, comp_vector, &cq->vcq.cq,
				NULL, 0,
				(struct ib_uverbs_create_cq_resp *)resp.core,
				sizeof(resp));
	if (ret)
		goto err_free;
	ret = cq_attach_ring(cq, ctx->cmd_fd, &resp.drv.mi);
	if (ret)
		goto err_destroy;
	return &cq->vcq.cq;

err_destroy:
	ibv_cmd_destroy_cq(&cq->vcq.cq);
err_free:
	free(cq);
	return null_errno(ret);
}

struct ibv_cq_ex *softrxe_create_cq_ex(struct ibv_context *ctx,
				       struct ibv_cq_init_attr_ex *attr)
{
	struct softrxe_cq_ex_resp resp;
	struct softrxe_cq *cq;
	int ret;

	if (!attr)
		return null_errno(EINVAL);
	if (attr->wc_flags & ~(uint64_t)SOFTRXE_WC_FLAGS)
		return null_errno(EOPNOTSUPP);

	cq = calloc(1, sizeof(*cq));
	if (!cq)
		return NULL;
	memset(&resp, 0, sizeof(resp));
	ret = ibv_cmd_create_cq_ex(ctx, attr, &cq->vcq, NULL, 0,
				   (struct ib_uverbs_ex_create_cq_resp *)resp.core,
				   sizeof(resp), 0);
	if (ret)
		goto err_free;
	ret = cq_attach_ring(cq, ctx->cmd_fd, &resp.drv.mi);
	if (ret)
		goto err_destroy;
	return &cq->vcq.cq_ex;

err_destroy:
	ibv_cmd_destroy_cq(&cq->vcq.cq);
err_free:
	free(cq);
	return null_errno(ret);
}

/*
 * The kernel moves pending entries into a new ring; the old mapping is
 * dead afterwards. Polling is excluded by the lock meanwhile.
 */
int softrxe_resize_cq(struct ibv_cq *ibcq, int cqe)
{
	struct softrxe_cq *cq = to_scq(ibcq);
	struct softrxe_resize_cq_resp resp;
	struct ibv_resize_cq cmd;
	struct ring fresh = { 0 };
	int ret;

	if (cqe <= 0)
		return EINVAL;
	memset(&resp, 0, sizeof(resp));
	memset(&cmd, 0, sizeof(cmd));

	pthread_spin_lock(&cq->lock);
	ret = ibv_cmd_resize_cq(ibcq, cqe, &cmd, sizeof(cmd),
				(struct ib_uverbs_resize_cq_resp *)resp.core,
				sizeof(resp));
	if (ret)
		goto out;
	ret = ring_map(&fresh, ibcq->context->cmd_fd, &resp.drv.mi);
	ring_unmap(&cq->ring);
	if (!ret)
		cq->ring = fresh;
out:
	pthread_spin_unlock(&cq->lock);
	return ret;
}

int softrxe_destroy_cq(struct ibv_cq *ibcq)
{
	struct softrxe_cq *cq = to_scq(ibcq);
	int ret;

	ret = ibv_cmd_destroy_cq(ibcq);
	if (ret)
		return ret;
	ring_unmap(&cq->ring);
	pthread_spin_destroy(&cq->lock);
	free(cq);
	return 0;
}
