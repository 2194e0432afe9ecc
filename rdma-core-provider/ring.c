// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * ring.c - mapping the rxe queues the kernel allocates for us.
 */
#include <errno.h>
#include <sys/mman.h>

#include "ring.h"

/*
 * Map the queue the kernel described in 'mi' (offset/size of an mmap on
 * the uverbs command fd) and check that its header is sane before anyone
 * trusts it. Returns 0 or an errno value; 'r' is untouched on failure.
 */
int ring_map(struct ring *r, int cmd_fd, const struct mminfo *mi)
{
	struct rxe_queue_buf *buf;
	uint32_t log2, mask;
	size_t len = mi->size;

	if (len < sizeof(*buf))
		return EPROTO;

	buf = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, cmd_fd,
		   (off_t)mi->offset);
	if (buf == MAP_FAILED)
		return errno;

	log2 = buf->log2_elem_size;
	mask = buf->index_mask;
	/* index_mask + 1 slots of 2^log2 bytes must fit in the mapping */
	if (log2 >= 31 || mask == UINT32_MAX || (mask & (mask + 1)) != 0 ||
	    ((size_t)mask + 1) << log2 > len - sizeof(*buf)) {
		munmap(buf, len);
		return EPROTO;
	}

	r->buf = buf;
	r->map_len = len;
	r->mask = mask;
	r->slot_bytes = 1U << log2;
	return 0;
}

void ring_unmap(struct ring *r)
{
	if (r->map_len)
		munmap(r->buf, r->map_len);
	r->buf = NULL;
	r->map_len = 0;
}
