// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * recv.c - receive WQEs (struct rxe_recv_wqe), written into a QP's
 * receive ring or an SRQ ring; the kernel's responder consumes them, no
 * doorbell needed.
 */
#include <errno.h>
#include <string.h>

#include "softrxe.h"

#define RECV_WQE_HDR offsetof(struct rxe_recv_wqe, dma.sge)

/* How many scatter entries fit in one slot of this ring. */
uint32_t softrxe_recv_slot_sges(const struct ring *r)
{
	if (r->slot_bytes <= RECV_WQE_HDR)
		return 0;
	return (r->slot_bytes - RECV_WQE_HDR) / sizeof(struct rxe_sge);
}

static int fill_recv_wqe(const struct softrxe_wq *wq,
			 const struct ibv_recv_wr *wr, struct rxe_recv_wqe *wqe)
{
	uint64_t length = 0;
	int i;

	if (wr->num_sge < 0 || (uint32_t)wr->num_sge > wq->max_sge ||
	    (wr->num_sge > 0 && !wr->sg_list))
		return EINVAL;
	for (i = 0; i < wr->num_sge; i++)
		length += wr->sg_list[i].length;
	if (length > UINT32_MAX)
		return EINVAL;

	memset(wqe, 0, RECV_WQE_HDR);
	wqe->wr_id = wr->wr_id;
	wqe->dma.length = (uint32_t)length;
	wqe->dma.resid = (uint32_t)length;
	wqe->dma.num_sge = (uint32_t)wr->num_sge;
	memcpy(wqe->dma.sge, wr->sg_list,
	       (size_t)wr->num_sge * sizeof(struct rxe_sge));
	return 0;
}

/*
 * Post a list of receives. On error *bad_wr is the first one not posted;
 * those before it are posted.
 */
int softrxe_wq_post_recv(struct softrxe_wq *wq, struct ibv_recv_wr *wr,
			 struct ibv_recv_wr **bad_wr)
{
	struct ring *r = &wq->ring;
	uint32_t idx, posted = 0;
	int err = 0;

	pthread_spin_lock(&wq->lock);
	if (!r->buf) {			/* a failed SRQ resize left no ring */
		pthread_spin_unlock(&wq->lock);
		*bad_wr = wr;
		return EIO;
	}
	idx = ring_prod(r);
	for (; wr; wr = wr->next, idx++, posted++) {
		if (ring_full_at(r, idx)) {
			err = ENOMEM;
			break;
		}
		err = fill_recv_wqe(wq, wr, ring_slot(r, idx));
		if (err)
			break;
	}
	if (posted)
		ring_publish_prod(r, idx);
	pthread_spin_unlock(&wq->lock);

	*bad_wr = err ? wr : NULL;
	return err;
}
