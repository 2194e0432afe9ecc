/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * common.h - helpers for softrxe's test programs (single-process loopback
 * on one rxe device). Each program prints one line per case:
 *   ok <case>            or   FAIL <case>: <why>
 * and exits 0 only if every case passed. Waits are bounded polls.
 */
#ifndef SOFTRXE_TEST_COMMON_H
#define SOFTRXE_TEST_COMMON_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <infiniband/verbs.h>

#define POLL_TIMEOUT_MS 20000

struct env {
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	uint8_t port;
	int gid_index;
	union ibv_gid gid;
};

static int failures;
static const char *current_case;

static inline void failf(const char *fmt, ...)
{
	va_list ap;

	printf("FAIL %s: ", current_case);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	failures++;
}

/* Inside a case function returning int: fail the case unless cond. */
#define CHECK(cond, ...)                                                      \
	do {                                                                  \
		if (!(cond)) {                                                \
			failf(__VA_ARGS__);                                   \
			return 1;                                             \
		}                                                             \
	} while (0)

static inline void run_case(const char *name, int (*fn)(struct env *),
			    struct env *e)
{
	current_case = name;
	if (fn(e) == 0)
		printf("ok %s\n", name);
	fflush(stdout);
}

static inline void die(const char *what)
{
	fprintf(stderr, "fatal: %s: %s\n", what, strerror(errno));
	exit(2);
}

static inline void open_env(struct env *e, const char *dev, int gid_index)
{
	struct ibv_device **list;
	int i, n;

	memset(e, 0, sizeof(*e));
	list = ibv_get_device_list(&n);
	if (!list)
		die("ibv_get_device_list");
	for (i = 0; i < n; i++)
		if (!strcmp(ibv_get_device_name(list[i]), dev))
			break;
	if (i == n) {
		fprintf(stderr, "fatal: device %s not found\n", dev);
		exit(2);
	}
	e->ctx = ibv_open_device(list[i]);
	ibv_free_device_list(list);
	if (!e->ctx)
		die("ibv_open_device");
	e->pd = ibv_alloc_pd(e->ctx);
	if (!e->pd)
		die("ibv_alloc_pd");
	e->port = 1;
	e->gid_index = gid_index;
	if (ibv_query_gid(e->ctx, e->port, gid_index, &e->gid))
		die("ibv_query_gid");
}

static inline double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Poll exactly n completions within the time bound; returns how many. */
static inline int poll_n(struct ibv_cq *cq, struct ibv_wc *wc, int n)
{
	double end = now_ms() + POLL_TIMEOUT_MS;
	int got = 0, r;

	while (got < n && now_ms() < end) {
		r = ibv_poll_cq(cq, n - got, wc + got);
		if (r < 0)
			return r;
		got += r;
	}
	return got;
}

static inline struct ibv_qp *make_qp(struct env *e, enum ibv_qp_type type,
				     struct ibv_cq *scq, struct ibv_cq *rcq,
				     struct ibv_srq *srq, uint32_t wr,
				     uint32_t sge, uint32_t inl, bool qpx)
{
	struct ibv_qp_init_attr_ex a;

	memset(&a, 0, sizeof(a));
	a.qp_type = type;
	a.send_cq = scq;
	a.recv_cq = rcq;
	a.srq = srq;
	a.cap.max_send_wr = wr;
	a.cap.max_recv_wr = srq ? 0 : wr;
	a.cap.max_send_sge = sge;
	a.cap.max_recv_sge = srq ? 0 : sge;
	a.cap.max_inline_data = inl;
	a.comp_mask = IBV_QP_INIT_ATTR_PD;
	a.pd = e->pd;
	if (qpx) {
		a.comp_mask |= IBV_QP_INIT_ATTR_SEND_OPS_FLAGS;
		if (type == IBV_QPT_UD)
			a.send_ops_flags = IBV_QP_EX_WITH_SEND |
					   IBV_QP_EX_WITH_SEND_WITH_IMM;
		else
			a.send_ops_flags = IBV_QP_EX_WITH_SEND |
					   IBV_QP_EX_WITH_RDMA_WRITE |
					   IBV_QP_EX_WITH_RDMA_READ |
					   IBV_QP_EX_WITH_ATOMIC_FETCH_AND_ADD |
					   IBV_QP_EX_WITH_ATOMIC_WRITE;
	}
	return ibv_create_qp_ex(e->ctx, &a);
}

static inline int to_init(struct env *e, struct ibv_qp *qp)
{
	struct ibv_qp_attr a;
	int mask = IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT;

	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_INIT;
	a.port_num = e->port;
	if (qp->qp_type == IBV_QPT_UD) {
		a.qkey = 0x11111111;
		mask |= IBV_QP_QKEY;
	} else {
		a.qp_access_flags = IBV_ACCESS_REMOTE_WRITE |
				    IBV_ACCESS_REMOTE_READ |
				    IBV_ACCESS_REMOTE_ATOMIC;
		mask |= IBV_QP_ACCESS_FLAGS;
	}
	return ibv_modify_qp(qp, &a, mask);
}

static inline void fill_ah(struct env *e, struct ibv_ah_attr *ah)
{
	memset(ah, 0, sizeof(*ah));
	ah->is_global = 1;
	ah->grh.dgid = e->gid;
	ah->grh.sgid_index = (uint8_t)e->gid_index;
	ah->grh.hop_limit = 1;
	ah->port_num = e->port;
}

/* RC/UC: connect qp to the remote QP number (loopback on one port). */
static inline int connect_qp(struct env *e, struct ibv_qp *qp, uint32_t rqpn)
{
	struct ibv_qp_attr a;
	int mask;

	if (to_init(e, qp))
		return -1;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTR;
	a.path_mtu = IBV_MTU_1024;
	a.dest_qp_num = rqpn;
	a.rq_psn = 0;
	fill_ah(e, &a.ah_attr);
	mask = IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
	       IBV_QP_RQ_PSN;
	if (qp->qp_type == IBV_QPT_RC) {
		a.max_dest_rd_atomic = 4;
		a.min_rnr_timer = 1;
		mask |= IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER;
	}
	if (ibv_modify_qp(qp, &a, mask))
		return -1;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTS;
	a.sq_psn = 0;
	mask = IBV_QP_STATE | IBV_QP_SQ_PSN;
	if (qp->qp_type == IBV_QPT_RC) {
		a.timeout = 14;
		a.retry_cnt = 7;
		a.rnr_retry = 7;	/* infinite: an RNR wait never errors */
		a.max_rd_atomic = 4;
		mask |= IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY |
			IBV_QP_MAX_QP_RD_ATOMIC;
	}
	return ibv_modify_qp(qp, &a, mask);
}

static inline int ud_ready(struct env *e, struct ibv_qp *qp)
{
	struct ibv_qp_attr a;

	if (to_init(e, qp))
		return -1;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTR;
	if (ibv_modify_qp(qp, &a, IBV_QP_STATE))
		return -1;
	a.qp_state = IBV_QPS_RTS;
	a.sq_psn = 0;
	return ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_SQ_PSN);
}

/* A pair of connected QPs with their own CQs, plus one registered buffer
 * per side. */
struct pair {
	struct ibv_cq *cq[2];
	struct ibv_qp *qp[2];
	struct ibv_mr *mr[2];
	uint8_t *buf[2];
	size_t len;
};

static inline int make_pair(struct env *e, struct pair *p, enum ibv_qp_type t,
			    uint32_t wr, uint32_t sge, uint32_t inl,
			    size_t len, int mr_access, bool qpx)
{
	int i;

	memset(p, 0, sizeof(*p));
	p->len = len;
	for (i = 0; i < 2; i++) {
		p->cq[i] = ibv_create_cq(e->ctx, (int)(2 * wr + 2), NULL, NULL, 0);
		if (!p->cq[i])
			return -1;
		p->qp[i] = make_qp(e, t, p->cq[i], p->cq[i], NULL, wr, sge, inl,
				   qpx);
		if (!p->qp[i])
			return -1;
		p->buf[i] = aligned_alloc(4096, (len + 4095) & ~(size_t)4095);
		if (!p->buf[i])
			return -1;
		memset(p->buf[i], 0, len);
		p->mr[i] = ibv_reg_mr(e->pd, p->buf[i], len, mr_access);
		if (!p->mr[i])
			return -1;
	}
	if (t == IBV_QPT_UD)
		return ud_ready(e, p->qp[0]) || ud_ready(e, p->qp[1]) ? -1 : 0;
	if (connect_qp(e, p->qp[0], p->qp[1]->qp_num) ||
	    connect_qp(e, p->qp[1], p->qp[0]->qp_num))
		return -1;
	return 0;
}

static inline void free_pair(struct pair *p)
{
	int i;

	for (i = 0; i < 2; i++) {
		if (p->qp[i])
			ibv_destroy_qp(p->qp[i]);
		if (p->mr[i])
			ibv_dereg_mr(p->mr[i]);
		if (p->cq[i])
			ibv_destroy_cq(p->cq[i]);
		free(p->buf[i]);
	}
	memset(p, 0, sizeof(*p));
}

static inline void pattern(uint8_t *b, size_t n, unsigned int seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		b[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 8));
}

#define MR_ALL (IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
		IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC)

#endif /* SOFTRXE_TEST_COMMON_H */
