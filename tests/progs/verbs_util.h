/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Small libibverbs helpers for softodp's test programs: a loopback pair of
 * RC (or UD) QPs on one device, posting one work request and waiting for
 * its completion.
 */
#ifndef SOFTODP_VERBS_UTIL_H
#define SOFTODP_VERBS_UTIL_H

#include <infiniband/verbs.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define die(...)                                                        \
	do {                                                            \
		fprintf(stderr, "FAIL: " __VA_ARGS__);                  \
		fputc('\n', stderr);                                    \
		exit(1);                                                \
	} while (0)

struct vctx {
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	struct ibv_srq *srq;	/* NULL unless asked for */
	struct ibv_qp *qa;	/* requester */
	struct ibv_qp *qb;	/* responder */
	struct ibv_ah *ah;	/* UD only */
	union ibv_gid gid;
	int gidx;
	enum ibv_qp_type type;
};

#define VCTX_SRQ 1

/* rnr_retry of RC QPs connected from now on (7, the default: no limit) */
extern int vctx_rnr_retry;

void vctx_open(struct vctx *v, const char *dev, int gidx,
	       enum ibv_qp_type type, int flags);
void vctx_close(struct vctx *v);
/* Bring both QPs back to RTS, e.g. after an error completion. */
void vctx_reconnect(struct vctx *v);
struct ibv_mr *vctx_reg(struct vctx *v, void *buf, size_t len, int odp);
struct ibv_mr *vctx_reg_implicit(struct vctx *v);

/* Post one WR on qa (or a receive on qb / the SRQ) and return its status. */
enum ibv_wc_status vctx_rdma(struct vctx *v, enum ibv_wr_opcode op,
			     struct ibv_mr *lmr, void *laddr, size_t len,
			     uint64_t raddr, uint32_t rkey);
enum ibv_wc_status vctx_atomic(struct vctx *v, enum ibv_wr_opcode op,
			       struct ibv_mr *lmr, uint64_t *result,
			       uint64_t raddr, uint32_t rkey,
			       uint64_t compare_add, uint64_t swap);
void vctx_post_recv(struct vctx *v, struct ibv_mr *mr, void *addr,
		    size_t len, uint64_t wr_id);
enum ibv_wc_status vctx_send(struct vctx *v, struct ibv_mr *mr, void *addr,
			     size_t len, uint64_t recv_wr_id);

#endif
