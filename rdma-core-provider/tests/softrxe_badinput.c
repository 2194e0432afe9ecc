// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * softrxe_badinput DEV GID_INDEX - the provider answers malformed calls
 * with an error code instead of crashing or queueing garbage. Where the
 * libibverbs wrapper would itself dereference the bad argument first, the
 * provider's entry point is called directly through the context's op
 * tables (that is what such an application call reaches).
 */
#include "common.h"

static struct verbs_context *vctx_of(struct ibv_context *ctx)
{
	return verbs_get_ctx(ctx);
}

static int query_device_ex(struct env *e)
{
	struct ibv_query_device_ex_input in = { .comp_mask = 1 };
	struct ibv_device_attr_ex a;
	struct verbs_context *v = vctx_of(e->ctx);
	int ret;

	CHECK(v && v->query_device_ex, "no query_device_ex op");
	ret = v->query_device_ex(e->ctx, NULL, NULL, sizeof(a));
	CHECK(ret == EINVAL, "NULL attr: %d", ret);
	ret = v->query_device_ex(e->ctx, NULL, &a, sizeof(a.orig_attr) - 1);
	CHECK(ret == EINVAL, "short attr_size: %d", ret);
	ret = v->query_device_ex(e->ctx, &in, &a, sizeof(a));
	CHECK(ret == EINVAL, "input comp_mask: %d", ret);
	/* exactly the legacy part: valid, and nothing past it is written */
	memset(&a, 0x5a, sizeof(a));
	ret = v->query_device_ex(e->ctx, NULL, &a, sizeof(a.orig_attr));
	CHECK(ret == 0, "legacy-sized attr: %d", ret);
	CHECK(a.comp_mask == 0x5a5a5a5a, "wrote past attr_size");
	return 0;
}

static int post_send_errors(struct env *e)
{
	uint8_t big[4096];
	struct ibv_send_wr wr, *bad;
	struct ibv_sge sg[40];
	struct pair p;
	struct ibv_wc wc;
	int i, ret;

	CHECK(!make_pair(e, &p, IBV_QPT_RC, 8, 2, 32, 4096, MR_ALL, false),
	      "setup: %s", strerror(errno));
	for (i = 0; i < 40; i++)
		sg[i] = (struct ibv_sge){ (uintptr_t)p.buf[0], 8, p.mr[0]->lkey };

#define RESET_WR()                                                            \
	do {                                                                  \
		memset(&wr, 0, sizeof(wr));                                   \
		wr.wr_id = 99;                                                \
		wr.sg_list = sg;                                              \
		wr.num_sge = 1;                                               \
		wr.opcode = IBV_WR_RDMA_WRITE;                                \
		wr.send_flags = IBV_SEND_SIGNALED;                            \
		wr.wr.rdma.remote_addr = (uintptr_t)p.buf[1];                 \
		wr.wr.rdma.rkey = p.mr[1]->rkey;                              \
		bad = NULL;                                                   \
	} while (0)

	ret = p.qp[0]->context->ops.post_send(p.qp[0], NULL, &bad);
	CHECK(ret == EINVAL, "NULL wr: %d", ret);
	RESET_WR();
	ret = p.qp[0]->context->ops.post_send(p.qp[0], &wr, NULL);
	CHECK(ret == EINVAL, "NULL bad_wr: %d", ret);

	RESET_WR();
	wr.num_sge = 40;
	ret = ibv_post_send(p.qp[0], &wr, &bad);
	CHECK(ret == EINVAL && bad == &wr, "40 SGEs: %d", ret);
	RESET_WR();
	wr.num_sge = -1;
	ret = ibv_post_send(p.qp[0], &wr, &bad);
	CHECK(ret == EINVAL && bad == &wr, "num_sge -1: %d", ret);
	RESET_WR();
	wr.sg_list = NULL;
	ret = ibv_post_send(p.qp[0], &wr, &bad);
	CHECK(ret == EINVAL && bad == &wr, "NULL sg_list: %d", ret);
	RESET_WR();
	sg[39] = (struct ibv_sge){ (uintptr_t)big, sizeof(big), 0 };
	wr.sg_list = &sg[39];
	wr.send_flags |= IBV_SEND_INLINE;
	ret = ibv_post_send(p.qp[0], &wr, &bad);
	CHECK(ret == EINVAL && bad == &wr, "4 KiB inline: %d", ret);
	RESET_WR();
	wr.send_flags |= IBV_SEND_INLINE;
	wr.opcode = IBV_WR_RDMA_READ;
	ret = ibv_post_send(p.qp[0], &wr, &bad);
	CHECK(ret == EINVAL && bad == &wr, "inline READ: %d", ret);
	RESET_WR();
	wr.opcode = IBV_WR_TSO;
	ret = ibv_post_send(p.qp[0], &wr, &bad);
	CHECK(ret == EINVAL && bad == &wr, "TSO opcode: %d", ret);
	RESET_WR();
	wr.opcode = (enum ibv_wr_opcode)200;
	ret = ibv_post_send(p.qp[0], &wr, &bad);
	CHECK(ret == EINVAL && bad == &wr, "opcode 200: %d", ret);
	RESET_WR();
	wr.opcode = IBV_WR_ATOMIC_FETCH_AND_ADD;
	wr.wr.atomic.remote_addr = (uintptr_t)p.buf[1] + 3;
	wr.wr.atomic.rkey = p.mr[1]->rkey;
	ret = ibv_post_send(p.qp[0], &wr, &bad);
	CHECK(ret == EINVAL && bad == &wr, "unaligned atomic: %d", ret);
	RESET_WR();
	wr.opcode = IBV_WR_BIND_MW;
	wr.num_sge = 0;
	wr.bind_mw.mw = NULL;
	ret = ibv_post_send(p.qp[0], &wr, &bad);
	CHECK(ret == EINVAL && bad == &wr, "BIND_MW without a window: %d", ret);

	/* a good WR after a bad one in the same list: the good one is posted */
	{
		struct ibv_send_wr good;

		RESET_WR();
		good = wr;
		good.wr_id = 7;
		wr.num_sge = 40;
		good.next = &wr;
		ret = ibv_post_send(p.qp[0], &good, &bad);
		CHECK(ret == EINVAL && bad == &wr, "list: %d, bad %p", ret, (void *)bad);
		CHECK(poll_n(p.cq[0], &wc, 1) == 1 && wc.wr_id == 7 &&
		      wc.status == IBV_WC_SUCCESS, "the good WR of the list");
	}
	/* none of the refused WRs reached the ring */
	RESET_WR();
	wr.wr_id = 8;
	CHECK(!ibv_post_send(p.qp[0], &wr, &bad), "final good WR");
	CHECK(poll_n(p.cq[0], &wc, 1) == 1 && wc.wr_id == 8, "a refused WR was queued "
	      "(wr_id %llu)", (unsigned long long)wc.wr_id);
	free_pair(&p);
	return 0;
}

static int post_before_rts(struct env *e)
{
	struct ibv_cq *cq = ibv_create_cq(e->ctx, 8, NULL, NULL, 0);
	struct ibv_qp *qp;
	struct ibv_send_wr swr = { .opcode = IBV_WR_SEND }, *sbad;
	struct ibv_recv_wr rwr = { 0 }, *rbad;
	int ret;

	CHECK(cq, "cq");
	qp = make_qp(e, IBV_QPT_RC, cq, cq, NULL, 8, 1, 0, false);
	CHECK(qp, "qp");
	ret = ibv_post_recv(qp, &rwr, &rbad);
	CHECK(ret == EINVAL && rbad == &rwr, "recv in RESET: %d", ret);
	ret = ibv_post_send(qp, &swr, &sbad);
	CHECK(ret == EINVAL && sbad == &swr, "send in RESET: %d", ret);
	CHECK(!to_init(e, qp), "to INIT");
	ret = ibv_post_send(qp, &swr, &sbad);
	CHECK(ret == EINVAL, "send in INIT: %d", ret);
	ret = ibv_post_recv(qp, &rwr, &rbad);
	CHECK(ret == 0, "recv in INIT is allowed: %d", ret);
	ibv_destroy_qp(qp);
	ibv_destroy_cq(cq);
	return 0;
}

static int post_recv_errors(struct env *e)
{
	struct ibv_recv_wr wr = { 0 }, *bad;
	struct ibv_sge sg[8];
	struct ibv_srq_init_attr sa = { .attr = { .max_wr = 8, .max_sge = 1 } };
	struct ibv_srq *srq;
	struct pair p;
	int ret;

	CHECK(!make_pair(e, &p, IBV_QPT_RC, 8, 2, 0, 4096, MR_ALL, false),
	      "setup: %s", strerror(errno));
	memset(sg, 0, sizeof(sg));
	wr.sg_list = sg;
	wr.num_sge = 8;
	ret = ibv_post_recv(p.qp[1], &wr, &bad);
	CHECK(ret == EINVAL && bad == &wr, "8 SGEs: %d", ret);
	wr.num_sge = -2;
	ret = ibv_post_recv(p.qp[1], &wr, &bad);
	CHECK(ret == EINVAL, "negative num_sge: %d", ret);
	wr.num_sge = 1;
	wr.sg_list = NULL;
	ret = ibv_post_recv(p.qp[1], &wr, &bad);
	CHECK(ret == EINVAL, "NULL sg_list: %d", ret);
	ret = p.qp[1]->context->ops.post_recv(p.qp[1], NULL, &bad);
	CHECK(ret == EINVAL, "NULL wr: %d", ret);
	wr.sg_list = sg;
	ret = p.qp[1]->context->ops.post_recv(p.qp[1], &wr, NULL);
	CHECK(ret == EINVAL, "NULL bad_wr: %d", ret);

	srq = ibv_create_srq(e->pd, &sa);
	CHECK(srq, "create_srq");
	wr.num_sge = 4;
	ret = ibv_post_srq_recv(srq, &wr, &bad);
	CHECK(ret == EINVAL && bad == &wr, "SRQ 4 SGEs: %d", ret);
	ret = p.qp[1]->context->ops.post_srq_recv(srq, NULL, &bad);
	CHECK(ret == EINVAL, "SRQ NULL wr: %d", ret);
	ibv_destroy_srq(srq);
	free_pair(&p);
	return 0;
}

static int cq_errors(struct env *e)
{
	struct ibv_cq_init_attr_ex ca = { .cqe = 8 };
	struct ibv_cq *cq = ibv_create_cq(e->ctx, 8, NULL, NULL, 0);
	struct ibv_wc wc;
	int ret;

	CHECK(cq, "cq");
	ret = ibv_poll_cq(cq, -1, &wc);
	CHECK(ret < 0, "poll_cq ne -1: %d", ret);
	ret = ibv_poll_cq(cq, 4, NULL);
	CHECK(ret < 0, "poll_cq NULL wc: %d", ret);
	ret = ibv_poll_cq(cq, 0, NULL);
	CHECK(ret == 0, "poll_cq ne 0: %d", ret);
	ret = ibv_resize_cq(cq, 0);
	CHECK(ret == EINVAL, "resize to 0: %d", ret);
	ret = ibv_resize_cq(cq, -5);
	CHECK(ret == EINVAL, "resize to -5: %d", ret);
	ibv_destroy_cq(cq);

	ca.wc_flags = IBV_WC_EX_WITH_COMPLETION_TIMESTAMP;
	errno = 0;
	CHECK(!ibv_create_cq_ex(e->ctx, &ca) && errno == EOPNOTSUPP,
	      "timestamp CQ: errno %d", errno);
	return 0;
}

static int create_errors(struct env *e)
{
	struct ibv_cq *cq = ibv_create_cq(e->ctx, 8, NULL, NULL, 0);
	struct ibv_qp_init_attr qa = { 0 };
	struct ibv_qp_init_attr_ex qx = { 0 };
	struct ibv_srq_init_attr_ex sx = { 0 };
	struct verbs_context *v = vctx_of(e->ctx);

	CHECK(cq, "cq");
	errno = 0;
	CHECK(!ibv_create_qp(e->pd, NULL) && errno == EINVAL,
	      "NULL qp attr: errno %d", errno);
	qa.qp_type = IBV_QPT_RC;
	qa.send_cq = cq;
	qa.cap.max_send_wr = 1;
	errno = 0;
	CHECK(!ibv_create_qp(e->pd, &qa) && errno == EINVAL,
	      "no recv CQ: errno %d", errno);
	qa.recv_cq = cq;
	qa.qp_type = IBV_QPT_XRC_RECV;
	errno = 0;
	CHECK(!ibv_create_qp(e->pd, &qa) && errno == EOPNOTSUPP,
	      "XRC_RECV QP: errno %d", errno);

	qx.qp_type = IBV_QPT_RC;
	qx.send_cq = cq;
	qx.recv_cq = cq;
	qx.cap.max_send_wr = 1;
	qx.comp_mask = IBV_QP_INIT_ATTR_PD | IBV_QP_INIT_ATTR_SEND_OPS_FLAGS;
	qx.pd = e->pd;
	qx.send_ops_flags = IBV_QP_EX_WITH_TSO;
	errno = 0;
	CHECK(!ibv_create_qp_ex(e->ctx, &qx) && errno == EOPNOTSUPP,
	      "TSO send op: errno %d", errno);
	qx.qp_type = IBV_QPT_UD;
	qx.send_ops_flags = IBV_QP_EX_WITH_RDMA_WRITE;
	errno = 0;
	CHECK(!ibv_create_qp_ex(e->ctx, &qx) && errno == EOPNOTSUPP,
	      "UD with RDMA write: errno %d", errno);
	qx.send_ops_flags = IBV_QP_EX_WITH_SEND;
	qx.comp_mask = IBV_QP_INIT_ATTR_SEND_OPS_FLAGS;	/* no PD */
	errno = 0;
	CHECK(!v->create_qp_ex(e->ctx, &qx) && errno == EINVAL, "no PD: errno %d", errno);
	errno = 0;
	CHECK(!v->create_qp_ex(e->ctx, NULL) && errno == EINVAL,
	      "NULL qp_ex attr: errno %d", errno);

	sx.comp_mask = IBV_SRQ_INIT_ATTR_TYPE | IBV_SRQ_INIT_ATTR_PD;
	sx.srq_type = IBV_SRQT_XRC;
	sx.pd = e->pd;
	sx.attr.max_wr = 4;
	sx.attr.max_sge = 1;
	errno = 0;
	CHECK(!ibv_create_srq_ex(e->ctx, &sx) && errno == EOPNOTSUPP,
	      "XRC SRQ: errno %d", errno);
	errno = 0;
	CHECK(!ibv_create_srq(e->pd, NULL) && errno == EINVAL,
	      "NULL srq attr: errno %d", errno);
	errno = 0;
	CHECK(!ibv_create_ah(e->pd, NULL) && errno == EINVAL,
	      "NULL ah attr: errno %d", errno);
	ibv_destroy_cq(cq);
	return 0;
}

static int mw_errors(struct env *e)
{
	struct ibv_mw_bind bind = { 0 };
	struct ibv_mw *mw;
	struct pair p;
	int ret;

	CHECK(!make_pair(e, &p, IBV_QPT_RC, 8, 1, 0, 4096, MR_ALL, false),
	      "setup: %s", strerror(errno));
	mw = ibv_alloc_mw(e->pd, IBV_MW_TYPE_1);
	CHECK(mw, "alloc_mw");
	bind.bind_info.mr = p.mr[1];
	bind.bind_info.addr = (uintptr_t)p.buf[1];
	bind.bind_info.length = 64;
	bind.bind_info.mw_access_flags = IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_ZERO_BASED;
	ret = ibv_bind_mw(p.qp[1], mw, &bind);
	CHECK(ret == EINVAL, "zero-based type 1 bind: %d", ret);
	ret = p.qp[1]->context->ops.bind_mw(p.qp[1], mw, NULL);
	CHECK(ret == EINVAL, "NULL bind: %d", ret);
	ibv_dealloc_mw(mw);
	free_pair(&p);
	return 0;
}

static const struct {
	const char *name;
	int (*fn)(struct env *);
} cases[] = {
	{ "bad_query_device_ex", query_device_ex },
	{ "bad_post_send", post_send_errors },
	{ "bad_post_before_rts", post_before_rts },
	{ "bad_post_recv", post_recv_errors },
	{ "bad_cq", cq_errors },
	{ "bad_create", create_errors },
	{ "bad_mw", mw_errors },
};

int main(int argc, char **argv)
{
	struct env e;
	size_t i;

	if (argc < 3) {
		fprintf(stderr, "usage: %s DEV GID_INDEX\n", argv[0]);
		return 2;
	}
	open_env(&e, argv[1], atoi(argv[2]));
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(cases[i].name, cases[i].fn, &e);
	return failures ? 1 : 0;
}
