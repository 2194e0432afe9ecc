/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * ring.h - the rxe queues shared with the kernel.
 *
 * rdma_rxe places every user-visible queue (send, receive, SRQ, CQ) in a
 * buffer that starts with struct rxe_queue_buf and is mmap()ed from the
 * uverbs file. Slots are 2^log2_elem_size bytes; producer_index and
 * consumer_index are slot numbers already reduced by index_mask; the ring
 * is full when advancing the producer would make it equal the consumer (one
 * slot always stays empty).
 *
 * Work queues: we produce, the kernel consumes. Completion queue: the
 * kernel produces, we consume. Only the index the other side writes needs
 * an acquire load; publishing our own index is a release store, so the
 * slot contents are visible before the index that hands them over. Our own
 * threads are serialised by the lock of the queue's owner (softrxe.h).
 */
#ifndef SOFTRXE_RING_H
#define SOFTRXE_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <rdma/rdma_user_rxe.h>

struct ring {
	struct rxe_queue_buf *buf;	/* the mapping */
	size_t map_len;			/* its length, 0 when unmapped */
	uint32_t mask;			/* copy of buf->index_mask */
	uint32_t slot_bytes;		/* 1 << buf->log2_elem_size */
};

static inline uint32_t ring_load_acquire(const uint32_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline uint32_t ring_load_relaxed(const uint32_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static inline void ring_store_release(uint32_t *p, uint32_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static inline void *ring_slot(const struct ring *r, uint32_t index)
{
	return r->buf->data + (size_t)(index & r->mask) * r->slot_bytes;
}

/* --- our side produces (send queue, receive queue, SRQ) --- */

static inline uint32_t ring_prod(const struct ring *r)
{
	return ring_load_relaxed(&r->buf->producer_index);
}

/* Would slot 'index' being filled make the ring overflow? */
static inline bool ring_full_at(const struct ring *r, uint32_t index)
{
	uint32_t cons = ring_load_acquire(&r->buf->consumer_index);

	return ((index + 1) & r->mask) == cons;
}

static inline void ring_publish_prod(struct ring *r, uint32_t index)
{
	ring_store_release(&r->buf->producer_index, index & r->mask);
}

/* --- our side consumes (completion queue) --- */

static inline uint32_t ring_cons(const struct ring *r)
{
	return ring_load_relaxed(&r->buf->consumer_index);
}

static inline bool ring_empty_at(const struct ring *r, uint32_t index)
{
	return ring_load_acquire(&r->buf->producer_index) == (index & r->mask);
}

static inline void ring_publish_cons(struct ring *r, uint32_t index)
{
	ring_store_release(&r->buf->consumer_index, index & r->mask);
}

int ring_map(struct ring *r, int cmd_fd, const struct mminfo *mi);
void ring_unmap(struct ring *r);

#endif /* SOFTRXE_RING_H */
