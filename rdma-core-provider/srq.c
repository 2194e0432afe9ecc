// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * srq.c - shared receive queues: a receive ring of their own, posted to
 * like a QP's receive queue; modify_srq(IBV_SRQ_MAX_WR) makes the kernel
 * move the ring, and we remap it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "softrxe.h"

static int srq_attach_ring(struct softrxe_srq *srq, int cmd_fd,
			   uint32_t max_sge, const struct rxe_create_srq_resp *drv)
{
	uint32_t slot_sges;
	int ret;

	ret = ring_map(&srq->rq.ring, cmd_fd, &drv->mi);
	if (ret)
		return ret;
	slot_sges = softrxe_recv_slot_sges(&srq->rq.ring);
	srq->rq.max_sge = max_sge < slot_sges ? max_sge : slot_sges;
	pthread_spin_init(&srq->rq.lock, PTHREAD_PROCESS_PRIVATE);
	return 0;
}

struct ibv_srq *softrxe_create_srq(struct ibv_pd *pd,
				   struct ibv_srq_init_attr *attr)
{
	struct ibv_create_srq cmd;
	struct softrxe_srq *srq;
	struct softrxe_srq_resp resp;
	int ret;

	if (!pd || !attr)
		return null_errno(EINVAL);
	srq = calloc(1, sizeof(*srq));
	if (!srq)
		return NULL;
	memset(&cmd, 0, sizeof(cmd));
	memset(&resp, 0, sizeof(resp));
	ret = ibv_cmd_create_srq(pd, &srq->vsrq.srq, attr, &cmd, sizeof(cmd),
				 (struct ib_uverbs_create_srq_resp *)resp.core,
				 sizeof(resp));
	if (ret)
		goto err_free;
	ret = srq_attach_ring(srq, pd->context->cmd_fd, attr->attr.max_sge,
			      &resp.drv);
	if (ret)
		goto err_destroy;
	return &srq->vsrq.srq;

err_destroy:
	ibv_cmd_destroy_srq(&srq->vsrq.srq);
err_free:
	free(srq);
	return null_errno(ret);
}

/* libibverbs sends plain basic SRQs to create_srq; this sees the rest. */
struct ibv_srq *softrxe_create_srq_ex(struct ibv_context *ctx,
				      struct ibv_srq_init_attr_ex *attr)
{
	struct ibv_create_xsrq cmd;
	struct softrxe_srq *srq;
	struct softrxe_srq_resp resp;
	int ret;

	if (!attr)
		return null_errno(EINVAL);
	if (attr->comp_mask & ~(uint32_t)(IBV_SRQ_INIT_ATTR_PD | IBV_SRQ_INIT_ATTR_TYPE))
		return null_errno(EOPNOTSUPP);	/* XRC, tag matching */
	if ((attr->comp_mask & IBV_SRQ_INIT_ATTR_TYPE) &&
	    attr->srq_type != IBV_SRQT_BASIC)
		return null_errno(EOPNOTSUPP);
	if (!(attr->comp_mask & IBV_SRQ_INIT_ATTR_PD) || !attr->pd)
		return null_errno(EINVAL);

	srq = calloc(1, sizeof(*srq));
	if (!srq)
		return NULL;
	memset(&cmd, 0, sizeof(cmd));
	memset(&resp, 0, sizeof(resp));
	ret = ibv_cmd_create_srq_ex(ctx, &srq->vsrq, attr, &cmd, sizeof(cmd),
				    (struct ib_uverbs_create_srq_resp *)resp.core,
				    sizeof(resp));
	if (ret)
		goto err_free;
	ret = srq_attach_ring(srq, ctx->cmd_fd, attr->attr.max_sge, &resp.drv);
	if (ret)
		goto err_destroy;
	return &srq->vsrq.srq;

err_destroy:
	ibv_cmd_destroy_srq(&srq->vsrq.srq);
err_free:
	free(srq);
	return null_errno(ret);
}

int softrxe_modify_srq(struct ibv_srq *ibsrq, struct ibv_srq_attr *attr,
		       int attr_mask)
{
	struct softrxe_srq *srq = to_ssrq(ibsrq);
	struct softrxe_modify_srq_cmd cmd;
	struct mminfo mi = { 0 };
	struct ring fresh = { 0 };
	int ret;

	if (!attr)
		return EINVAL;
	memset(&cmd, 0, sizeof(cmd));
	/* where the kernel writes the new ring's mmap info on a resize */
	cmd.drv.mmap_info_addr = (uintptr_t)&mi;

	/* a resize moves the ring under posters: hold them off meanwhile */
	pthread_spin_lock(&srq->rq.lock);
	ret = ibv_cmd_modify_srq(ibsrq, attr, attr_mask,
				 (struct ibv_modify_srq *)cmd.core, sizeof(cmd));
	if (!ret && (attr_mask & IBV_SRQ_MAX_WR)) {
		ret = ring_map(&fresh, ibsrq->context->cmd_fd, &mi);
		ring_unmap(&srq->rq.ring);
		if (!ret)
			srq->rq.ring = fresh;
	}
	pthread_spin_unlock(&srq->rq.lock);
	return ret;
}

int softrxe_query_srq(struct ibv_srq *ibsrq, struct ibv_srq_attr *attr)
{
	struct ibv_query_srq cmd;

	if (!attr)
		return EINVAL;
	memset(&cmd, 0, sizeof(cmd));
	return ibv_cmd_query_srq(ibsrq, attr, &cmd, sizeof(cmd));
}

int softrxe_destroy_srq(struct ibv_srq *ibsrq)
{
	struct softrxe_srq *srq = to_ssrq(ibsrq);
	int ret;

	ret = ibv_cmd_destroy_srq(ibsrq);
	if (ret)
		return ret;
	ring_unmap(&srq->rq.ring);
	pthread_spin_destroy(&srq->rq.lock);
	free(srq);
	return 0;
}

int softrxe_post_srq_recv(struct ibv_srq *ibsrq, struct ibv_recv_wr *wr,
			  struct ibv_recv_wr **bad_wr)
{
	if (!bad_wr)
		return EINVAL;
	*bad_wr = wr;
	if (!wr)
		return EINVAL;
	return softrxe_wq_post_recv(&to_ssrq(ibsrq)->rq, wr, bad_wr);
}
