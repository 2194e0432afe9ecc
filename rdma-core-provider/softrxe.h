/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * softrxe.h - softodp's libibverbs provider for the rdma_rxe (Soft-RoCE)
 * kernel driver: objects and internal interfaces.
 *
 * Locking: each queue has one pthread spinlock, taken by every userspace
 * path that moves the index we own (softrxe_wq.lock for SQ/RQ/SRQ
 * producers, softrxe_cq.lock for the CQ consumer) and by resize, which
 * replaces the mapping. The kernel's side of a queue is ordered only
 * through the ring indices (ring.h).
 */
#ifndef SOFTRXE_H
#define SOFTRXE_H

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <infiniband/verbs.h>
#include <rdma/rdma_user_rxe.h>

#include "ibverbs_private.h"
#include "ring.h"

#define SOFTRXE_NAME "softrxe"

#define softrxe_container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

struct softrxe_device {
	struct verbs_device vdev;
};

struct softrxe_context {
	struct verbs_context vctx;
};

struct softrxe_cq {
	struct verbs_cq vcq;
	pthread_spinlock_t lock;	/* consumer index, mapping */
	struct ring ring;
	/* extended polling: slot being read between start_poll and end_poll */
	uint32_t cur;
	const struct ib_uverbs_wc *cur_wc;
};

/* A queue we produce into: send queue, receive queue or SRQ. */
struct softrxe_wq {
	pthread_spinlock_t lock;	/* producer index, mapping */
	struct ring ring;
	uint32_t max_sge;		/* what a WQE may carry (kernel cap, slot) */
	uint32_t max_inline;		/* send queue only */
};

struct softrxe_qp {
	struct verbs_qp vqp;
	struct softrxe_wq sq;
	struct softrxe_wq rq;		/* unmapped when the QP uses an SRQ */
	uint32_t ssn;
	/* ibv_qp_ex batch, between wr_start() and wr_complete()/wr_abort() */
	uint32_t batch_next;		/* slot the next builder fills */
	int batch_err;			/* first error of the batch, errno */
	bool batch_has_wqe;		/* a builder has filled slot batch_next - 1 */
};

struct softrxe_srq {
	struct verbs_srq vsrq;
	struct softrxe_wq rq;
};

struct softrxe_ah {
	struct ibv_ah ibv_ah;
	uint32_t ah_num;		/* kernel AH index, carried in UD WQEs */
};

/* Commands and responses with rdma_rxe's own part (<rdma/rdma_user_rxe.h>) */
IBVERBS_CORE_AND_DRV(softrxe_ah_resp, struct ib_uverbs_create_ah_resp,
		     struct rxe_create_ah_resp);
IBVERBS_CORE_AND_DRV(softrxe_cq_resp, struct ib_uverbs_create_cq_resp,
		     struct rxe_create_cq_resp);
IBVERBS_CORE_AND_DRV(softrxe_cq_ex_resp, struct ib_uverbs_ex_create_cq_resp,
		     struct rxe_create_cq_resp);
IBVERBS_CORE_AND_DRV(softrxe_resize_cq_resp, struct ib_uverbs_resize_cq_resp,
		     struct rxe_resize_cq_resp);
IBVERBS_CORE_AND_DRV(softrxe_qp_resp, struct ib_uverbs_create_qp_resp,
		     struct rxe_create_qp_resp);
IBVERBS_CORE_AND_DRV(softrxe_qp_ex_resp, struct ib_uverbs_ex_create_qp_resp,
		     struct rxe_create_qp_resp);
IBVERBS_CORE_AND_DRV(softrxe_srq_resp, struct ib_uverbs_create_srq_resp,
		     struct rxe_create_srq_resp);
IBVERBS_CORE_AND_DRV(softrxe_modify_srq_cmd, struct ibv_modify_srq,
		     struct rxe_modify_srq_cmd);

static inline struct softrxe_cq *to_scq(struct ibv_cq *ibcq)
{
	return softrxe_container_of(ibcq, struct softrxe_cq, vcq.cq);
}

static inline struct softrxe_cq *ex_to_scq(struct ibv_cq_ex *cqex)
{
	return softrxe_container_of(cqex, struct softrxe_cq, vcq.cq_ex);
}

static inline struct softrxe_qp *to_sqp(struct ibv_qp *ibqp)
{
	return softrxe_container_of(ibqp, struct softrxe_qp, vqp.qp);
}

static inline struct softrxe_qp *ex_to_sqp(struct ibv_qp_ex *qpex)
{
	return softrxe_container_of(qpex, struct softrxe_qp, vqp.qp_ex);
}

static inline struct softrxe_srq *to_ssrq(struct ibv_srq *ibsrq)
{
	return softrxe_container_of(ibsrq, struct softrxe_srq, vsrq.srq);
}

static inline struct softrxe_ah *to_sah(struct ibv_ah *ibah)
{
	return softrxe_container_of(ibah, struct softrxe_ah, ibv_ah);
}

/* Most verbs report failure as NULL (or -1) plus errno. */
static inline void *null_errno(int err)
{
	errno = err;
	return NULL;
}

/* cq.c */
struct ibv_cq *softrxe_create_cq(struct ibv_context *ctx, int cqe,
				 struct ibv_comp_channel *channel,
				 int comp_vector);
struct ibv_cq_ex *softrxe_create_cq_ex(struct ibv_context *ctx,
				       struct ibv_cq_init_attr_ex *attr);
int softrxe_poll_cq(struct ibv_cq *ibcq, int ne, struct ibv_wc *wc);
int softrxe_resize_cq(struct ibv_cq *ibcq, int cqe);
int softrxe_destroy_cq(struct ibv_cq *ibcq);
void softrxe_cq_clean(struct ibv_cq *ibcq, uint32_t qpn);

/* qp.c */
struct ibv_qp *softrxe_create_qp(struct ibv_pd *pd,
				 struct ibv_qp_init_attr *attr);
struct ibv_qp *softrxe_create_qp_ex(struct ibv_context *ctx,
				    struct ibv_qp_init_attr_ex *attr);
int softrxe_query_qp(struct ibv_qp *ibqp, struct ibv_qp_attr *attr,
		     int attr_mask, struct ibv_qp_init_attr *init_attr);
int softrxe_modify_qp(struct ibv_qp *ibqp, struct ibv_qp_attr *attr,
		      int attr_mask);
int softrxe_destroy_qp(struct ibv_qp *ibqp);
int softrxe_post_send(struct ibv_qp *ibqp, struct ibv_send_wr *wr,
		      struct ibv_send_wr **bad_wr);
int softrxe_post_recv(struct ibv_qp *ibqp, struct ibv_recv_wr *wr,
		      struct ibv_recv_wr **bad_wr);
int softrxe_bind_mw(struct ibv_qp *ibqp, struct ibv_mw *mw,
		    struct ibv_mw_bind *mw_bind);

/* srq.c */
struct ibv_srq *softrxe_create_srq(struct ibv_pd *pd,
				   struct ibv_srq_init_attr *attr);
struct ibv_srq *softrxe_create_srq_ex(struct ibv_context *ctx,
				      struct ibv_srq_init_attr_ex *attr);
int softrxe_modify_srq(struct ibv_srq *ibsrq, struct ibv_srq_attr *attr,
		       int attr_mask);
int softrxe_query_srq(struct ibv_srq *ibsrq, struct ibv_srq_attr *attr);
int softrxe_destroy_srq(struct ibv_srq *ibsrq);
int softrxe_post_srq_recv(struct ibv_srq *ibsrq, struct ibv_recv_wr *wr,
			  struct ibv_recv_wr **bad_wr);

/* recv.c: receive WQEs, shared by QP receive queues and SRQs */
int softrxe_wq_post_recv(struct softrxe_wq *wq, struct ibv_recv_wr *wr,
			 struct ibv_recv_wr **bad_wr);
uint32_t softrxe_recv_slot_sges(const struct ring *r);

#endif /* SOFTRXE_H */
