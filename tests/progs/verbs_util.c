// SPDX-License-Identifier: GPL-2.0
/* libibverbs helpers for softodp's test programs (see verbs_util.h). */
#include <string.h>
#include <time.h>

#include "verbs_util.h"

/* Completions polled while waiting for another one (send and receive
 * completions share the CQ and may come in either order).
 */
static struct ibv_wc stash[64];
static int nstash;

#define QKEY 0x11111111
#define WAIT_SECONDS 30

static struct ibv_context *open_dev(const char *name)
{
	struct ibv_device **list = ibv_get_device_list(NULL);
	struct ibv_context *ctx = NULL;
	int i;

	if (!list)
		die("ibv_get_device_list: %m");
	for (i = 0; list[i]; i++)
		if (!strcmp(ibv_get_device_name(list[i]), name))
			ctx = ibv_open_device(list[i]);
	ibv_free_device_list(list);
	if (!ctx)
		die("cannot open device %s", name);
	return ctx;
}

static struct ibv_qp *make_qp(struct vctx *v, int use_srq)
{
	struct ibv_qp_init_attr ia = {
		.send_cq = v->cq,
		.recv_cq = v->cq,
		.srq = use_srq ? v->srq : NULL,
		.qp_type = v->type,
		.cap = { .max_send_wr = 64, .max_recv_wr = 64,
			 .max_send_sge = 1, .max_recv_sge = 1 },
	};
	struct ibv_qp *qp = ibv_create_qp(v->pd, &ia);

	if (!qp)
		die("ibv_create_qp: %m");
	return qp;
}

static void to_rts(struct vctx *v, struct ibv_qp *qp, uint32_t remote_qpn)
{
	struct ibv_qp_attr a = {
		.qp_state = IBV_QPS_INIT,
		.port_num = 1,
		.pkey_index = 0,
	};
	int mask = IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT;

	if (v->type == IBV_QPT_UD) {
		a.qkey = QKEY;
		mask |= IBV_QP_QKEY;
	} else {
		a.qp_access_flags = IBV_ACCESS_REMOTE_READ |
				    IBV_ACCESS_REMOTE_WRITE |
				    IBV_ACCESS_REMOTE_ATOMIC;
		mask |= IBV_QP_ACCESS_FLAGS;
	}
	if (ibv_modify_qp(qp, &a, mask))
		die("modify to INIT: %m");

	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTR;
	mask = IBV_QP_STATE;
	if (v->type == IBV_QPT_RC) {
		a.path_mtu = IBV_MTU_1024;
		a.dest_qp_num = remote_qpn;
		a.rq_psn = 0;
		a.max_dest_rd_atomic = 16;
		a.min_rnr_timer = 1;
		a.ah_attr.is_global = 1;
		a.ah_attr.grh.dgid = v->gid;
		a.ah_attr.grh.sgid_index = v->gidx;
		a.ah_attr.grh.hop_limit = 1;
		a.ah_attr.port_num = 1;
		mask |= IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
			IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC |
			IBV_QP_MIN_RNR_TIMER;
	}
	if (ibv_modify_qp(qp, &a, mask))
		die("modify to RTR: %m");

	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTS;
	a.sq_psn = 0;
	mask = IBV_QP_STATE | IBV_QP_SQ_PSN;
	if (v->type == IBV_QPT_RC) {
		a.timeout = 18;	/* 1 s: TCG guests on a busy host are slow */
		a.retry_cnt = 7;
		a.rnr_retry = vctx_rnr_retry;
		a.max_rd_atomic = 16;
		mask |= IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY |
			IBV_QP_MAX_QP_RD_ATOMIC;
	}
	if (ibv_modify_qp(qp, &a, mask))
		die("modify to RTS: %m");
}

void vctx_open(struct vctx *v, const char *dev, int gidx,
	       enum ibv_qp_type type, int flags)
{
	memset(v, 0, sizeof(*v));
	v->type = type;
	v->gidx = gidx;
	v->ctx = open_dev(dev);
	if (ibv_query_gid(v->ctx, 1, gidx, &v->gid))
		die("ibv_query_gid %d: %m", gidx);
	v->pd = ibv_alloc_pd(v->ctx);
	v->cq = ibv_create_cq(v->ctx, 256, NULL, NULL, 0);
	if (!v->pd || !v->cq)
		die("pd/cq: %m");
	if (flags & VCTX_SRQ) {
		struct ibv_srq_init_attr sa = {
			.attr = { .max_wr = 64, .max_sge = 1 },
		};

		v->srq = ibv_create_srq(v->pd, &sa);
		if (!v->srq)
			die("ibv_create_srq: %m");
	}
	v->qa = make_qp(v, 0);
	v->qb = make_qp(v, 1);
	to_rts(v, v->qa, v->qb->qp_num);
	to_rts(v, v->qb, v->qa->qp_num);
	if (type == IBV_QPT_UD) {
		struct ibv_ah_attr aa = {
			.is_global = 1,
			.grh = { .dgid = v->gid, .sgid_index = gidx,
				 .hop_limit = 1 },
			.port_num = 1,
		};

		v->ah = ibv_create_ah(v->pd, &aa);
		if (!v->ah)
			die("ibv_create_ah: %m");
	}
}

void vctx_reconnect(struct vctx *v)
{
	struct ibv_qp_attr a = { .qp_state = IBV_QPS_RESET };
	struct ibv_wc wc;

	if (ibv_modify_qp(v->qa, &a, IBV_QP_STATE) ||
	    ibv_modify_qp(v->qb, &a, IBV_QP_STATE))
		die("modify to RESET: %m");
	while (ibv_poll_cq(v->cq, 1, &wc) > 0)
		;	/* flushed completions of the old connection */
	nstash = 0;
	to_rts(v, v->qa, v->qb->qp_num);
	to_rts(v, v->qb, v->qa->qp_num);
}

void vctx_close(struct vctx *v)
{
	if (v->ah)
		ibv_destroy_ah(v->ah);
	ibv_destroy_qp(v->qa);
	ibv_destroy_qp(v->qb);
	if (v->srq)
		ibv_destroy_srq(v->srq);
	ibv_destroy_cq(v->cq);
	ibv_dealloc_pd(v->pd);
	ibv_close_device(v->ctx);
}

struct ibv_mr *vctx_reg_implicit(struct vctx *v)
{
	struct ibv_mr *mr = ibv_reg_mr(v->pd, NULL, SIZE_MAX,
				       IBV_ACCESS_ON_DEMAND |
				       IBV_ACCESS_LOCAL_WRITE |
				       IBV_ACCESS_REMOTE_READ |
				       IBV_ACCESS_REMOTE_WRITE |
				       IBV_ACCESS_REMOTE_ATOMIC);

	if (!mr)
		die("implicit ODP ibv_reg_mr: %m");
	return mr;
}

struct ibv_mr *vctx_reg(struct vctx *v, void *buf, size_t len, int odp)
{
	int access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ |
		     IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_ATOMIC;
	struct ibv_mr *mr;

	if (odp)
		access |= IBV_ACCESS_ON_DEMAND;
	mr = ibv_reg_mr(v->pd, buf, len, access);
	if (!mr)
		die("ibv_reg_mr(%p, %zu, odp=%d): %m", buf, len, odp);
	return mr;
}


static enum ibv_wc_status wait_wc(struct vctx *v, uint64_t wr_id)
{
	time_t deadline = time(NULL) + WAIT_SECONDS;
	struct ibv_wc wc;
	int i, n;

	for (i = 0; i < nstash; i++) {
		if (stash[i].wr_id == wr_id) {
			enum ibv_wc_status st = stash[i].status;

			stash[i] = stash[--nstash];
			return st;
		}
	}
	while (time(NULL) < deadline) {
		n = ibv_poll_cq(v->cq, 1, &wc);
		if (n < 0)
			die("ibv_poll_cq");
		if (!n)
			continue;
		if (wc.wr_id == wr_id)
			return wc.status;
		if (nstash == (int)(sizeof(stash) / sizeof(stash[0])))
			die("too many unclaimed completions");
		stash[nstash++] = wc;
	}
	die("no completion for wr %llu in %d s", (unsigned long long)wr_id,
	    WAIT_SECONDS);
}

static uint64_t next_wr_id = 1000;

int vctx_rnr_retry = 7;

enum ibv_wc_status vctx_rdma(struct vctx *v, enum ibv_wr_opcode op,
			     struct ibv_mr *lmr, void *laddr, size_t len,
			     uint64_t raddr, uint32_t rkey)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)laddr, .length = len, .lkey = lmr->lkey,
	};
	struct ibv_send_wr wr = {
		.wr_id = ++next_wr_id,
		.sg_list = &sge,
		.num_sge = 1,
		.opcode = op,
		.send_flags = IBV_SEND_SIGNALED,
		.wr.rdma = { .remote_addr = raddr, .rkey = rkey },
	}, *bad;

	if (ibv_post_send(v->qa, &wr, &bad))
		die("ibv_post_send: %m");
	return wait_wc(v, wr.wr_id);
}

enum ibv_wc_status vctx_atomic(struct vctx *v, enum ibv_wr_opcode op,
			       struct ibv_mr *lmr, uint64_t *result,
			       uint64_t raddr, uint32_t rkey,
			       uint64_t compare_add, uint64_t swap)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)result, .length = 8, .lkey = lmr->lkey,
	};
	struct ibv_send_wr wr = {
		.wr_id = ++next_wr_id,
		.sg_list = &sge,
		.num_sge = 1,
		.opcode = op,
		.send_flags = IBV_SEND_SIGNALED,
		.wr.atomic = { .remote_addr = raddr, .rkey = rkey,
			       .compare_add = compare_add, .swap = swap },
	}, *bad;

	if (ibv_post_send(v->qa, &wr, &bad))
		die("ibv_post_send(atomic): %m");
	return wait_wc(v, wr.wr_id);
}

void vctx_post_recv(struct vctx *v, struct ibv_mr *mr, void *addr,
		    size_t len, uint64_t wr_id)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)addr, .length = len, .lkey = mr->lkey,
	};
	struct ibv_recv_wr wr = {
		.wr_id = wr_id, .sg_list = &sge, .num_sge = 1,
	}, *bad;
	int ret = v->srq ? ibv_post_srq_recv(v->srq, &wr, &bad) :
			   ibv_post_recv(v->qb, &wr, &bad);

	if (ret)
		die("post recv: %m");
}

enum ibv_wc_status vctx_send(struct vctx *v, struct ibv_mr *mr, void *addr,
			     size_t len, uint64_t recv_wr_id)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)addr, .length = len, .lkey = mr->lkey,
	};
	struct ibv_send_wr wr = {
		.wr_id = ++next_wr_id,
		.sg_list = &sge,
		.num_sge = 1,
		.opcode = IBV_WR_SEND,
		.send_flags = IBV_SEND_SIGNALED,
	}, *bad;
	enum ibv_wc_status st;

	if (v->type == IBV_QPT_UD) {
		wr.wr.ud.ah = v->ah;
		wr.wr.ud.remote_qpn = v->qb->qp_num;
		wr.wr.ud.remote_qkey = QKEY;
	}
	if (ibv_post_send(v->qa, &wr, &bad))
		die("ibv_post_send(send): %m");
	st = wait_wc(v, wr.wr_id);
	if (st != IBV_WC_SUCCESS)
		return st;
	return wait_wc(v, recv_wr_id);
}
