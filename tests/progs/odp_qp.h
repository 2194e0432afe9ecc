/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Reconnecting a vctx's RC QPs after an error completion, for programs that
 * make many of them (odp_fuzz, odp_inject).
 *
 * vctx_reconnect() (verbs_util.c) can lose a race with rxe: the completer
 * (or responder) task reports the error completion and only then moves its
 * QP to ERR (rxe_comp.c COMPST_ERROR: do_complete(), then rxe_qp_error()).
 * A RESET made in between is undone, and the next transition (to INIT)
 * fails with EINVAL. Here the QPs are reset again until the way to RTS
 * works; each lost race is counted.
 */
#ifndef SOFTODP_ODP_QP_H
#define SOFTODP_ODP_QP_H

#include <errno.h>
#include <string.h>

#include "verbs_util.h"

/* Like verbs_util.c's to_rts() for RC: 0 or the failing modify's errno. */
static int odp_qp_to_rts(struct vctx *v, struct ibv_qp *qp, uint32_t dqpn)
{
	struct ibv_qp_attr a = {
		.qp_state = IBV_QPS_INIT,
		.port_num = 1,
		.qp_access_flags = IBV_ACCESS_REMOTE_READ |
				   IBV_ACCESS_REMOTE_WRITE |
				   IBV_ACCESS_REMOTE_ATOMIC,
	};
	int err;

	err = ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX |
			    IBV_QP_PORT | IBV_QP_ACCESS_FLAGS);
	if (err)
		return err;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTR;
	a.path_mtu = IBV_MTU_1024;
	a.dest_qp_num = dqpn;
	a.max_dest_rd_atomic = 16;
	a.min_rnr_timer = 1;
	a.ah_attr.is_global = 1;
	a.ah_attr.grh.dgid = v->gid;
	a.ah_attr.grh.sgid_index = v->gidx;
	a.ah_attr.grh.hop_limit = 1;
	a.ah_attr.port_num = 1;
	err = ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_AV |
			    IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
			    IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC |
			    IBV_QP_MIN_RNR_TIMER);
	if (err)
		return err;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTS;
	a.timeout = 18;
	a.retry_cnt = 7;
	a.rnr_retry = 7;
	a.max_rd_atomic = 16;
	return ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_SQ_PSN |
			     IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT |
			     IBV_QP_RNR_RETRY | IBV_QP_MAX_QP_RD_ATOMIC);
}

static int odp_qp_in_error(struct ibv_qp *qp)
{
	struct ibv_qp_init_attr ia;
	struct ibv_qp_attr a;

	if (ibv_query_qp(qp, &a, IBV_QP_STATE, &ia))
		die("ibv_query_qp: %m");
	return a.qp_state == IBV_QPS_ERR;
}

/*
 * Reset both QPs of @v and bring them back to RTS; drops every completion
 * queued on the CQ. Returns how many times a QP went to ERR behind our back.
 */
static unsigned int odp_qp_reconnect(struct vctx *v)
{
	struct ibv_qp_attr a = { .qp_state = IBV_QPS_RESET };
	unsigned int races;
	struct ibv_wc wc;
	int err = 0;

	for (races = 0; races < 100; races++) {
		if (ibv_modify_qp(v->qa, &a, IBV_QP_STATE) ||
		    ibv_modify_qp(v->qb, &a, IBV_QP_STATE))
			die("modify to RESET: %m");
		while (ibv_poll_cq(v->cq, 1, &wc) > 0)
			;	/* flushed completions of the old connection */
		err = odp_qp_to_rts(v, v->qa, v->qb->qp_num);
		if (!err)
			err = odp_qp_to_rts(v, v->qb, v->qa->qp_num);
		if (err != EINVAL || !(odp_qp_in_error(v->qa) ||
					odp_qp_in_error(v->qb)))
			break;
	}
	if (err)
		die("reconnect: %s after %u resets", strerror(err), races + 1);
	return races;
}

#endif
