// SPDX-License-Identifier: GPL-2.0
/*
 * rxe on-demand paging: IBV_ACCESS_ON_DEMAND memory regions.
 *
 * An ODP MR pins nothing. An explicit one owns one softodp mirror range
 * over the user span it was registered with. An implicit one
 * (ibv_reg_mr(pd, NULL, SIZE_MAX, ...)) covers the whole user address space
 * and creates ranges lazily, one per RXE_ODP_CHUNK_SIZE chunk that an
 * access touches. Every access (local SGE, remote WRITE, READ, ATOMIC) goes
 * through sodp_range_access(), which faults absent pages in from the rxe
 * task (a workqueue, so sleeping is allowed) and runs the copy in a mirror
 * reader section, which an invalidation waits for, so nothing touches a
 * page after its invalidation returns.
 *
 * Faults off the data path: before an RC responder writes, reads or does an
 * atomic on an ODP MR, and before a requester sends from (or asks for a READ
 * or atomic result into) one, it checks that the pages are present. When
 * they are not, it hands a fault of a window around them to the device's
 * fault workqueue (rxe_odp_defer()) and does not wait in the task: a READ
 * or atomic response, and the requester's send queue, wait until the worker
 * has the pages in and schedules the task again; a WRITE or SEND packet
 * waits the same way for a short while (odp_write_hold_us), and is then
 * answered with an RNR NAK, so the requester sends it again after its RNR
 * timer. A fault that fails for a passing reason (racing invalidations, no
 * memory) is tried again by the next retry; one that fails for good (not
 * mapped, no permission) ends the request that meets the absent page next.
 *
 * Errors: an access to an address the process has not mapped, or a write to
 * memory it mapped read-only, fails; the caller turns that into the usual
 * protection or remote access error (IBV_WC_REM_ACCESS_ERR at a remote
 * requester) and a rate-limited line in the kernel log names the cause.
 */
#include <linux/debugfs.h>
#include <linux/moduleparam.h>
#include <linux/seq_file.h>
#include <linux/sched/mm.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>
#include <rdma/rdma_netlink.h>
#include <softodp/mirror.h>
#include <softodp/peer.h>
#include "rxe.h"

/*
 * Implicit MRs are mirrored in 2 MiB chunks: one PMD, so a transparent huge
 * page always falls in a single chunk and is mapped as one unit; and one
 * page of pfn entries per chunk, so mirror memory grows with what is
 * touched in 2 MiB steps instead of by the size of the address space.
 */
#define RXE_ODP_CHUNK_SHIFT	PMD_SHIFT
#define RXE_ODP_CHUNK_SIZE	BIT(RXE_ODP_CHUNK_SHIFT)

/* Queued prefetches work in pieces of this size, checking for dereg. */
#define RXE_ODP_PREFETCH_PIECE	RXE_ODP_CHUNK_SIZE

static unsigned int odp_chunk_idle_ms = 10000;
module_param(odp_chunk_idle_ms, uint, 0644);
MODULE_PARM_DESC(odp_chunk_idle_ms,
		 "Reclaim an implicit ODP MR's chunk unused this long (ms; 0: never)");

static unsigned int odp_fault_workers = 4;
module_param(odp_fault_workers, uint, 0444);
MODULE_PARM_DESC(odp_fault_workers,
		 "Deferred ODP faults a device runs at once (read at device creation)");

static unsigned int odp_fault_window = SZ_1M;
module_param(odp_fault_window, uint, 0644);
MODULE_PARM_DESC(odp_fault_window,
		 "Bytes a deferred ODP fault brings in, from the faulting address to the end of the request at most");

static unsigned int odp_write_hold_us = 20000;
module_param(odp_write_hold_us, uint, 0644);
MODULE_PARM_DESC(odp_write_hold_us,
		 "How long a WRITE or SEND packet waits for its deferred ODP fault before an RNR NAK (us; at most half the QP's own ACK timeout; 0: at once)");

/* ODP MRs on all devices: the requester checks local SGEs only if any */
static atomic_t rxe_odp_nr_mrs = ATOMIC_INIT(0);

/* Queued prefetches and chunk reclaim; destroyed (and so flushed) on exit. */
static struct workqueue_struct *rxe_odp_wq;

/**
 * struct rxe_odp_chunk - one lazily created piece of an implicit MR
 * @range: the mirror of [index << RXE_ODP_CHUNK_SHIFT, + RXE_ODP_CHUNK_SIZE)
 * @ref: one for the MR's xarray, one per user in flight
 * @last_used: jiffies of the last access, for idle reclaim
 * @rcu: the chunk is freed after a grace period: lookups run under RCU
 */
struct rxe_odp_chunk {
	struct sodp_range *range;
	struct kref ref;
	unsigned long last_used;
	struct rcu_head rcu;
};

/**
 * struct rxe_odp - the ODP state of one MR (mr->odp)
 * @mr: the MR
 * @cnt: the MR's counters; every range of the MR counts into them, and they
 *	count into the device's totals
 * @range: explicit MR: the mirror of the registered span
 * @start: explicit MR: user address of iova @iova
 * @iova: explicit MR: the MR's iova
 * @implicit: the MR covers the whole address space
 * @smm: implicit MR: the process's mirror context
 * @chunks: implicit MR: chunk index -> struct rxe_odp_chunk; the xarray's
 *	own lock serializes insertion and removal, lookups run under RCU
 * @reclaim: implicit MR: reclaims empty and idle chunks
 * @dying: set when the MR is torn down; no reclaim is queued after it
 * @importer: this device, as the peer hook sees it (device-private pages of
 *	participating providers are mapped in place for it)
 * @faults_inflight: deferred faults queued or running on the MR
 * @faults_done: deregistration waits here for @faults_inflight to drop to 0
 */
struct rxe_odp {
	struct rxe_mr *mr;
	struct sodp_counters cnt;
	struct sodp_range *range;
	u64 start;
	u64 iova;
	bool implicit;
	struct sodp_mm *smm;
	struct xarray chunks;
	struct delayed_work reclaim;
	bool dying;
	struct sodp_peer_importer importer;
	atomic_t faults_inflight;
	wait_queue_head_t faults_done;
};

static const char *rxe_odp_cause(int err)
{
	switch (err) {
	case -EFAULT:
		return "address not mapped by the process";
	case -EPERM:
		return "write to memory mapped without write permission";
	case -ETIMEDOUT:
		return "invalidations kept racing with the fault";
	case -EAGAIN:
		return "page invalidated again after every fault";
	case -ENOMEM:
		return "out of memory";
	case -EINVAL:
		return "address outside the user address space";
	case -EIO:
		return "the mm failed the fault (SIGBUS or a memory error)";
	default:
		return "fault failed";
	}
}

/*
 * A fault failure that may pass: invalidations kept racing (-ETIMEDOUT), a
 * page kept being invalidated again (-EAGAIN), or memory was short
 * (-ENOMEM, also when the mm's fault handler ran out of it). Anything else
 * is for good, -EIO (the handler failed with SIGBUS or a memory error)
 * included.
 */
static bool rxe_odp_transient(int err)
{
	return err == -EAGAIN || err == -ETIMEDOUT || err == -ENOMEM ||
	       err == -EBUSY;
}

/* ---- implicit MR chunks ---- */

static void rxe_odp_chunk_release(struct kref *ref)
{
	struct rxe_odp_chunk *chunk = container_of(ref, struct rxe_odp_chunk, ref);

	sodp_range_destroy(chunk->range);
	kfree_rcu(chunk, rcu);
}

static void rxe_odp_chunk_put(struct rxe_odp_chunk *chunk)
{
	might_sleep();
	kref_put(&chunk->ref, rxe_odp_chunk_release);
}

/* Called by the mirror when invalidation empties a chunk: reclaim soon. */
static void rxe_odp_chunk_emptied(void *data)
{
	struct rxe_odp *odp = data;

	if (!READ_ONCE(odp->dying))
		mod_delayed_work(rxe_odp_wq, &odp->reclaim, 0);
}

/* The chunk of index @idx with a reference, or NULL if there is none. */
static struct rxe_odp_chunk *rxe_odp_chunk_find(struct rxe_odp *odp,
						unsigned long idx)
{
	struct rxe_odp_chunk *chunk;

	rcu_read_lock();
	chunk = xa_load(&odp->chunks, idx);
	if (chunk && !kref_get_unless_zero(&chunk->ref))
		chunk = NULL;
	rcu_read_unlock();
	return chunk;
}

/* Find the chunk holding @va, creating it on first use; with a reference. */
static struct rxe_odp_chunk *rxe_odp_chunk_get(struct rxe_odp *odp, u64 va)
{
	unsigned long idx = va >> RXE_ODP_CHUNK_SHIFT;
	struct rxe_odp_chunk *chunk, *old;
	struct sodp_range *range;
	struct mem_cgroup *memcg;

	for (;;) {
		chunk = rxe_odp_chunk_find(odp, idx);
		if (chunk) {
			WRITE_ONCE(chunk->last_used, jiffies);
			return chunk;
		}

		/* charged to the MR owner, also from the rxe task */
		memcg = sodp_mm_charge_begin(odp->smm);
		range = sodp_range_create(odp->smm, idx << RXE_ODP_CHUNK_SHIFT,
					  RXE_ODP_CHUNK_SIZE, &odp->cnt,
					  &odp->importer);
		if (IS_ERR(range)) {
			sodp_mm_charge_end(memcg);
			return ERR_CAST(range);
		}
		chunk = sodp_fail_alloc() ? NULL :
			kzalloc(sizeof(*chunk), GFP_KERNEL_ACCOUNT);
		if (!chunk) {
			sodp_mm_charge_end(memcg);
			sodp_range_destroy(range);
			return ERR_PTR(-ENOMEM);
		}
		chunk->range = range;
		chunk->last_used = jiffies;
		kref_init(&chunk->ref);		/* the xarray's */
		kref_get(&chunk->ref);		/* ours */
		sodp_range_on_empty(range, rxe_odp_chunk_emptied, odp);

		old = xa_cmpxchg(&odp->chunks, idx, NULL, chunk,
				 GFP_KERNEL_ACCOUNT);
		sodp_mm_charge_end(memcg);
		if (!old) {
			/*
			 * Start the idle scan if it is not pending; never
			 * push back one that is (an emptied chunk's reclaim
			 * is queued at once and must stay so).
			 */
			if (odp_chunk_idle_ms && !READ_ONCE(odp->dying))
				queue_delayed_work(rxe_odp_wq, &odp->reclaim,
						   msecs_to_jiffies(odp_chunk_idle_ms));
			return chunk;
		}
		/* lost a race (or the xarray failed): drop ours, look again */
		sodp_range_destroy(range);
		kfree(chunk);
		if (xa_is_err(old))
			return ERR_PTR(xa_err(old));
	}
}

/* Remove @chunk from the MR if it is still there; drops the xarray's ref. */
static void rxe_odp_chunk_remove(struct rxe_odp *odp, unsigned long idx,
				 struct rxe_odp_chunk *chunk)
{
	if (xa_cmpxchg(&odp->chunks, idx, chunk, NULL, 0) == chunk)
		rxe_odp_chunk_put(chunk);
}

static void rxe_odp_reclaim_work(struct work_struct *work)
{
	struct rxe_odp *odp = container_of(to_delayed_work(work),
					   struct rxe_odp, reclaim);
	unsigned long idle = msecs_to_jiffies(odp_chunk_idle_ms);
	struct rxe_odp_chunk *chunk;
	unsigned long idx = 0;
	bool left = false, got;

	while (!READ_ONCE(odp->dying)) {
		/* a reference, taken under RCU: the chunk may be going away */
		rcu_read_lock();
		chunk = xa_find(&odp->chunks, &idx, ULONG_MAX, XA_PRESENT);
		got = chunk && kref_get_unless_zero(&chunk->ref);
		rcu_read_unlock();
		if (!chunk)
			break;
		if (got) {
			if (!sodp_range_npresent(chunk->range) ||
			    (odp_chunk_idle_ms &&
			     time_after(jiffies,
					READ_ONCE(chunk->last_used) + idle)))
				rxe_odp_chunk_remove(odp, idx, chunk);
			else
				left = true;
			rxe_odp_chunk_put(chunk);
		}
		if (idx == ULONG_MAX)
			break;
		idx++;
	}
	if (left && odp_chunk_idle_ms && !READ_ONCE(odp->dying))
		mod_delayed_work(rxe_odp_wq, &odp->reclaim, idle);
}

static unsigned long rxe_odp_nchunks(struct rxe_odp *odp)
{
	struct rxe_odp_chunk *chunk;
	unsigned long idx, n = 0;

	xa_for_each(&odp->chunks, idx, chunk)
		n++;
	return n;
}

/* ---- access ---- */

/*
 * Run @actor over [iova, iova + length) of the MR, chunk by chunk for an
 * implicit MR (an actor's state carries over from one call to the next).
 */
static int rxe_odp_walk(struct rxe_odp *odp, u64 iova, u64 length,
			unsigned int flags, sodp_actor_t actor, void *priv)
{
	struct rxe_odp_chunk *chunk;
	u64 va, n;
	int err;

	if (!odp->implicit) {
		va = odp->start + (iova - odp->iova);
		if (actor)
			return sodp_range_access(odp->range, va, length, flags,
						 actor, priv);
		return sodp_range_fault(odp->range, va, length, flags);
	}

	/* implicit: iova is the user address */
	for (va = iova; length; va += n, length -= n) {
		n = min_t(u64, length, RXE_ODP_CHUNK_SIZE -
				       (va & (RXE_ODP_CHUNK_SIZE - 1)));
		chunk = rxe_odp_chunk_get(odp, va);
		if (IS_ERR(chunk))
			return PTR_ERR(chunk);
		if (actor)
			err = sodp_range_access(chunk->range, va, n, flags,
						actor, priv);
		else
			err = sodp_range_fault(chunk->range, va, n, flags);
		rxe_odp_chunk_put(chunk);
		if (err)
			return err;
	}
	return 0;
}

static int rxe_odp_access(struct rxe_mr *mr, u64 iova, unsigned int length,
			  unsigned int flags, sodp_actor_t actor, void *priv)
{
	int err = rxe_odp_walk(mr->odp, iova, length, flags, actor, priv);

	if (err)
		rxe_info_mr(mr, "ODP %s of %u bytes at iova %#llx failed (%d): %s\n",
			    flags & SODP_WRITE ? "write" : "read", length, iova,
			    err, rxe_odp_cause(err));
	return err;
}

/* ---- MR setup and teardown ---- */

/**
 * rxe_odp_mr_init_user - set up an on-demand paging user MR
 * @rxe: the device
 * @start: user virtual address of the first byte (0 for implicit)
 * @length: bytes (U64_MAX for implicit)
 * @iova: the I/O virtual address @start is known by (0 for implicit)
 * @access: IB_ACCESS_* flags, including IB_ACCESS_ON_DEMAND
 * @mr: the MR, initialised by the caller's rxe_mr_init()
 *
 * O(1) for implicit MRs; nothing is pinned or faulted in.
 * Returns 0 or a negative errno; -EINVAL for IB_ACCESS_FLUSH_PERSISTENT.
 */
int rxe_odp_mr_init_user(struct rxe_dev *rxe, u64 start, u64 length, u64 iova,
			 int access, struct rxe_mr *mr)
{
	struct rxe_odp *odp;
	struct sodp_mm *smm;
	int err;

	if (!current->mm)
		return -EINVAL;
	/*
	 * A persistent flush needs persistent memory behind every page: a
	 * pinned MR checks its pages at registration and refuses system RAM.
	 * An ODP MR's pages are not known yet and may change, so it is
	 * refused the same way rather than acknowledge flushes it cannot do.
	 */
	if (access & IB_ACCESS_FLUSH_PERSISTENT) {
		rxe_info_dev(rxe, "%s[%d]: ODP MR with persistent flush refused: needs pmem\n",
			     current->comm, task_pid_nr(current));
		return -EINVAL;
	}
	odp = sodp_fail_alloc() ? NULL : kzalloc(sizeof(*odp), GFP_KERNEL_ACCOUNT);
	if (!odp)
		return -ENOMEM;
	odp->mr = mr;
	odp->cnt.parent = &rxe->odp_counters;
	/* rxe "DMA" is the CPU's memcpy: any kernel address will do */
	odp->importer.dev = &rxe->ib_dev.dev;
	odp->importer.virt_dma = true;
	atomic_set(&odp->faults_inflight, 0);
	init_waitqueue_head(&odp->faults_done);

	smm = sodp_mm_get(current->mm);
	if (IS_ERR(smm)) {
		err = PTR_ERR(smm);
		goto err_free;
	}

	if (!start && length == U64_MAX) {
		if (iova) {
			rxe_info_mr(mr, "implicit ODP MR needs iova 0, not %#llx\n",
				    iova);
			err = -EINVAL;
			goto err_put;
		}
		odp->implicit = true;
		odp->smm = smm;		/* keeps our reference */
		xa_init(&odp->chunks);
		INIT_DELAYED_WORK(&odp->reclaim, rxe_odp_reclaim_work);
	} else {
		if (length > rxe->attr.max_mr_size) {
			err = -EINVAL;
			goto err_put;
		}
		odp->range = sodp_range_create(smm, start, length, &odp->cnt,
					       &odp->importer);
		sodp_mm_put(smm);	/* the range holds its own */
		if (IS_ERR(odp->range)) {
			err = PTR_ERR(odp->range);
			rxe_info_mr(mr, "ODP MR %#llx+%#llx: %d\n", start, length,
				    err);
			goto err_free;
		}
		odp->start = start;
		odp->iova = iova;
	}

	mr->odp = odp;
	atomic_inc(&rxe_odp_nr_mrs);
	mr->ibmr.type = IB_MR_TYPE_USER;
	mr->state = RXE_MR_STATE_VALID;
	return 0;

err_put:
	sodp_mm_put(smm);
err_free:
	kfree(odp);
	return err;
}

/**
 * rxe_odp_mr_cleanup - release an ODP MR's mirror (no access may be running)
 * @mr: the MR
 */
void rxe_odp_mr_cleanup(struct rxe_mr *mr)
{
	struct rxe_odp *odp = mr->odp;
	struct rxe_odp_chunk *chunk;
	unsigned long idx;

	if (!odp->implicit) {
		sodp_range_destroy(odp->range);
	} else {
		WRITE_ONCE(odp->dying, true);
		xa_for_each(&odp->chunks, idx, chunk)
			rxe_odp_chunk_remove(odp, idx, chunk);
		/* no notifier is left to queue it again */
		cancel_delayed_work_sync(&odp->reclaim);
		xa_destroy(&odp->chunks);
		sodp_mm_put(odp->smm);
	}
	atomic_dec(&rxe_odp_nr_mrs);
	kfree(odp);
	mr->odp = NULL;
}

/* ---- data paths ---- */

struct rxe_odp_copy {
	u8 *addr;
	enum rxe_mr_copy_dir dir;
};

static int rxe_odp_copy_actor(void *kaddr, size_t len, void *priv)
{
	struct rxe_odp_copy *c = priv;

	if (c->dir == RXE_TO_MR_OBJ)
		memcpy(kaddr, c->addr, len);
	else
		memcpy(c->addr, kaddr, len);
	c->addr += len;
	return 0;
}

/**
 * rxe_odp_mr_copy - copy to or from an ODP MR, faulting pages in as needed
 * @mr: the MR
 * @iova: first byte (already range checked)
 * @addr: kernel buffer
 * @length: bytes
 * @dir: RXE_TO_MR_OBJ writes the MR, RXE_FROM_MR_OBJ reads it
 *
 * Sleeps. Returns 0 or a negative errno.
 */
int rxe_odp_mr_copy(struct rxe_mr *mr, u64 iova, void *addr,
		    unsigned int length, enum rxe_mr_copy_dir dir)
{
	struct rxe_odp_copy c = { .addr = addr, .dir = dir };

	return rxe_odp_access(mr, iova, length,
			      dir == RXE_TO_MR_OBJ ? SODP_WRITE : 0,
			      rxe_odp_copy_actor, &c);
}

struct rxe_odp_atomic {
	int opcode;
	u64 compare;
	u64 swap_add;
	u64 *orig_val;
};

static int rxe_odp_atomic_actor(void *kaddr, size_t len, void *priv)
{
	struct rxe_odp_atomic *a = priv;

	rxe_do_atomic(kaddr, a->opcode, a->compare, a->swap_add, a->orig_val);
	return 0;
}

/* Checks shared by the atomic paths: 0 or a responder state. */
static int rxe_odp_check_atomic(struct rxe_mr *mr, u64 iova)
{
	if (mr_check_range(mr, iova, sizeof(u64)))
		return RESPST_ERR_RKEY_VIOLATION;
	/* an explicit MR's iova may differ from the user address */
	if (!mr->odp->implicit)
		iova = mr->odp->start + (iova - mr->odp->iova);
	if (iova & 0x7)
		return RESPST_ERR_MISALIGNED_ATOMIC;
	return 0;
}

/**
 * rxe_odp_do_atomic_op - compare-and-swap or fetch-and-add on an ODP MR
 * @mr: the MR
 * @iova: target, 8-byte aligned
 * @opcode: IB_OPCODE_RC_COMPARE_SWAP or IB_OPCODE_RC_FETCH_ADD
 * @compare: compare value
 * @swap_add: swap or add value
 * @orig_val: the original value
 *
 * Returns 0 or a responder state, like rxe_mr_do_atomic_op(): RESPST_ODP_STALL
 * when the access failed for a passing reason (nothing was done).
 */
int rxe_odp_do_atomic_op(struct rxe_mr *mr, u64 iova, int opcode, u64 compare,
			 u64 swap_add, u64 *orig_val)
{
	struct rxe_odp_atomic a = {
		.opcode = opcode,
		.compare = compare,
		.swap_add = swap_add,
		.orig_val = orig_val,
	};
	int err = rxe_odp_check_atomic(mr, iova);

	if (err)
		return err;
	err = rxe_odp_access(mr, iova, sizeof(u64), SODP_WRITE,
			     rxe_odp_atomic_actor, &a);
	if (err)
		return rxe_odp_transient(err) ? RESPST_ODP_STALL :
						RESPST_ERR_RKEY_VIOLATION;
	return 0;
}

static int rxe_odp_store_actor(void *kaddr, size_t len, void *priv)
{
	/* Like rxe_mr_do_atomic_write(): after all prior operations. */
	smp_store_release((u64 *)kaddr, *(u64 *)priv);
	return 0;
}

/**
 * rxe_odp_do_atomic_write - ATOMIC_WRITE on an ODP MR
 * @mr: the MR
 * @iova: target, 8-byte aligned
 * @value: the value to store
 *
 * Returns 0 or a responder state; RESPST_ODP_STALL as for
 * rxe_odp_do_atomic_op().
 */
int rxe_odp_do_atomic_write(struct rxe_mr *mr, u64 iova, u64 value)
{
	int err = rxe_odp_check_atomic(mr, iova);

	if (err)
		return err;
	err = rxe_odp_access(mr, iova, sizeof(value), SODP_WRITE,
			     rxe_odp_store_actor, &value);
	if (err)
		return rxe_odp_transient(err) ? RESPST_ODP_STALL :
						RESPST_ERR_RKEY_VIOLATION;
	return 0;
}

/* ---- prefetch (ibv_advise_mr) ---- */

struct rxe_odp_prefetch_sge {
	struct rxe_mr *mr;	/* referenced */
	u64 addr;
	u32 length;
};

struct rxe_odp_prefetch {
	struct work_struct work;
	unsigned int flags;	/* SODP_* */
	u32 num_sge;
	struct rxe_odp_prefetch_sge sge[] __counted_by(num_sge);
};

/*
 * Fault one SGE in, in pieces, stopping early (with 0) once the MR is
 * being deregistered.
 */
static int rxe_odp_prefetch_sge(struct rxe_odp_prefetch_sge *s,
				unsigned int flags)
{
	u64 addr = s->addr, left = s->length, n;
	int err;

	for (; left; addr += n, left -= n) {
		if (READ_ONCE(s->mr->state) != RXE_MR_STATE_VALID)
			return 0;
		n = min_t(u64, left, RXE_ODP_PREFETCH_PIECE -
				     (addr & (RXE_ODP_PREFETCH_PIECE - 1)));
		err = rxe_odp_walk(s->mr->odp, addr, n, flags, NULL, NULL);
		if (err)
			return err;
	}
	return 0;
}

static void rxe_odp_prefetch_free(struct rxe_odp_prefetch *pf)
{
	u32 i;

	for (i = 0; i < pf->num_sge; i++)
		if (pf->sge[i].mr)
			rxe_put(pf->sge[i].mr);
	kfree(pf);
}

static void rxe_odp_prefetch_work(struct work_struct *work)
{
	struct rxe_odp_prefetch *pf = container_of(work, struct rxe_odp_prefetch,
						   work);
	u32 i;

	/* errors are counted by the mirror (fault_errors); nobody waits */
	for (i = 0; i < pf->num_sge; i++)
		rxe_odp_prefetch_sge(&pf->sge[i], pf->flags);
	rxe_odp_prefetch_free(pf);
}

/**
 * rxe_odp_advise_mr - ib_device_ops.advise_mr: prefetch ODP MRs
 * @ibpd: the PD the MRs must belong to
 * @advice: PREFETCH (read), PREFETCH_WRITE, or PREFETCH_NO_FAULT (mirror
 *	only what the CPU page table already has)
 * @flags: IB_UVERBS_ADVISE_MR_FLAG_FLUSH: return only when done, with the
 *	first error; otherwise queue the work and return 0
 * @sg_list: ranges, by lkey
 * @num_sge: number of ranges
 * @attrs: unused
 *
 * Returns 0; -EOPNOTSUPP for an unknown advice or flag; -ENOENT for an lkey
 * that names no MR of @ibpd; -EINVAL for a pinned MR or a range outside the
 * MR; -EPERM for PREFETCH_WRITE on an MR without local write access; with
 * FLUSH, a fault error (-EFAULT: not mapped).
 */
int rxe_odp_advise_mr(struct ib_pd *ibpd,
		      enum ib_uverbs_advise_mr_advice advice, u32 flags,
		      struct ib_sge *sg_list, u32 num_sge,
		      struct uverbs_attr_bundle *attrs)
{
	struct rxe_pd *pd = to_rpd(ibpd);
	struct rxe_odp_prefetch *pf;
	unsigned int fflags;
	int err = 0;
	u32 i;

	switch (advice) {
	case IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH:
		fflags = SODP_PREFETCH;
		break;
	case IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH_WRITE:
		fflags = SODP_PREFETCH | SODP_WRITE;
		break;
	case IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH_NO_FAULT:
		fflags = SODP_PREFETCH | SODP_NO_FAULT;
		break;
	default:
		return -EOPNOTSUPP;
	}
	if (flags & ~IB_UVERBS_ADVISE_MR_FLAG_FLUSH)
		return -EOPNOTSUPP;

	pf = sodp_fail_alloc() ? NULL :
		kzalloc(struct_size(pf, sge, num_sge),
			GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
	if (!pf)
		return -ENOMEM;
	pf->num_sge = num_sge;
	pf->flags = fflags;
	INIT_WORK(&pf->work, rxe_odp_prefetch_work);

	for (i = 0; i < num_sge; i++) {
		struct rxe_odp_prefetch_sge *s = &pf->sge[i];

		s->mr = lookup_mr(pd, 0, sg_list[i].lkey, RXE_LOOKUP_LOCAL);
		if (!s->mr) {
			err = -ENOENT;
			goto out_free;
		}
		s->addr = sg_list[i].addr;
		s->length = sg_list[i].length;
		if (!s->mr->odp || mr_check_range(s->mr, s->addr, s->length)) {
			err = -EINVAL;
			goto out_free;
		}
		if ((fflags & SODP_WRITE) &&
		    !(s->mr->access & IB_ACCESS_LOCAL_WRITE)) {
			err = -EPERM;
			goto out_free;
		}
	}

	if (!(flags & IB_UVERBS_ADVISE_MR_FLAG_FLUSH)) {
		queue_work(rxe_odp_wq, &pf->work);
		return 0;
	}
	for (i = 0; i < num_sge && !err; i++)
		err = rxe_odp_prefetch_sge(&pf->sge[i], fflags);
out_free:
	rxe_odp_prefetch_free(pf);
	return err;
}

/* ---- deferred faults ---- */

/*
 * Latency of deferred faults, from queueing to done: bucket 0 counts those
 * under 1 us, bucket i (0 < i < last) those in [2^(i-1), 2^i) us, the last
 * bucket everything longer.
 */
#define RXE_ODP_LAT_BUCKETS	32
static atomic64_t rxe_odp_lat[RXE_ODP_LAT_BUCKETS];
static atomic64_t rxe_odp_lat_max;
static struct dentry *rxe_odp_debugfs;

static void rxe_odp_lat_add(s64 us)
{
	unsigned int b = us <= 0 ? 0 :
		min_t(unsigned int, fls64(us), RXE_ODP_LAT_BUCKETS - 1);
	s64 max = atomic64_read(&rxe_odp_lat_max);

	atomic64_inc(&rxe_odp_lat[b]);
	while (us > max && !atomic64_try_cmpxchg(&rxe_odp_lat_max, &max, us))
		;
}

/* debugfs rxe_odp/fault_latency_us; writing anything clears it */
static int rxe_odp_lat_show(struct seq_file *m, void *unused)
{
	static const unsigned int pct[] = { 50, 90, 99 };
	u64 n[RXE_ODP_LAT_BUCKETS], total = 0, acc;
	unsigned int i, j;

	for (i = 0; i < RXE_ODP_LAT_BUCKETS; i++) {
		n[i] = atomic64_read(&rxe_odp_lat[i]);
		total += n[i];
	}
	seq_printf(m, "faults %llu\n", total);
	for (j = 0; j < ARRAY_SIZE(pct); j++) {
		acc = 0;
		for (i = 0; i < RXE_ODP_LAT_BUCKETS - 1; i++) {
			acc += n[i];
			if (acc * 100 >= total * pct[j])
				break;
		}
		/* the upper bound of the bucket the percentile falls in */
		seq_printf(m, "p%u_us_below %llu\n", pct[j],
			   total ? 1ULL << i : 0);
	}
	seq_printf(m, "max_us %lld\n", atomic64_read(&rxe_odp_lat_max));
	for (i = 0; i < RXE_ODP_LAT_BUCKETS - 1; i++)
		seq_printf(m, "below_us %llu %llu\n", 1ULL << i, n[i]);
	seq_printf(m, "longer %llu\n", n[RXE_ODP_LAT_BUCKETS - 1]);
	return 0;
}

static int rxe_odp_lat_open(struct inode *inode, struct file *file)
{
	return single_open(file, rxe_odp_lat_show, NULL);
}

static ssize_t rxe_odp_lat_write(struct file *file, const char __user *buf,
				 size_t len, loff_t *ppos)
{
	unsigned int i;

	for (i = 0; i < RXE_ODP_LAT_BUCKETS; i++)
		atomic64_set(&rxe_odp_lat[i], 0);
	atomic64_set(&rxe_odp_lat_max, 0);
	return len;
}

static const struct file_operations rxe_odp_lat_fops = {
	.owner = THIS_MODULE,
	.open = rxe_odp_lat_open,
	.read = seq_read,
	.llseek = seq_lseek,
	.write = rxe_odp_lat_write,
	.release = single_release,
};

static u64 rxe_odp_npages(u64 va, u64 len)
{
	return (ALIGN(va + len, PAGE_SIZE) - ALIGN_DOWN(va, PAGE_SIZE)) >>
	       PAGE_SHIFT;
}

/*
 * Is every page of [iova, iova + len) of the MR mirrored for @flags? Never
 * faults and never creates an implicit MR's chunk.
 */
static bool rxe_odp_present(struct rxe_odp *odp, u64 iova, u64 len,
			    unsigned int flags)
{
	struct rxe_odp_chunk *chunk;
	bool ok = true;
	u64 va, n;

	if (!odp->implicit) {
		va = odp->start + (iova - odp->iova);
		return sodp_range_present(odp->range, va, len, flags) ==
		       rxe_odp_npages(va, len);
	}
	for (va = iova; len && ok; va += n, len -= n) {
		n = min_t(u64, len, RXE_ODP_CHUNK_SIZE -
				    (va & (RXE_ODP_CHUNK_SIZE - 1)));
		chunk = rxe_odp_chunk_find(odp, va >> RXE_ODP_CHUNK_SHIFT);
		if (!chunk)
			return false;
		ok = sodp_range_present(chunk->range, va, n, flags) ==
		     rxe_odp_npages(va, n);
		rxe_odp_chunk_put(chunk);
	}
	return ok;
}

/* Drop what a queued fault held; wake a deregistration waiting for it. */
static void rxe_odp_fault_release(struct rxe_mr *mr)
{
	struct rxe_odp *odp = mr->odp;

	if (atomic_dec_and_test(&odp->faults_inflight))
		wake_up(&odp->faults_done);
	rxe_put(mr);
}

static void rxe_odp_fault_work(struct work_struct *work)
{
	struct rxe_odp_fault *f = container_of(work, struct rxe_odp_fault,
					       work);
	struct rxe_qp *qp = f->qp;
	struct rxe_dev *rxe = to_rdev(qp->ibqp.device);
	struct rxe_mr *mr = f->mr;
	struct rxe_odp_prefetch_sge s = {
		.mr = mr,
		.addr = f->iova,
		.length = f->len,
	};
	unsigned int flags = f->flags;
	struct rxe_task *wake;
	int err;

	/* in pieces: stops early once the MR is being deregistered */
	err = rxe_odp_prefetch_sge(&s, flags);
	rxe_odp_lat_add(ktime_us_delta(ktime_get(), f->queued));

	spin_lock_bh(&f->lock);
	if (err && !rxe_odp_transient(err))
		f->err = err;	/* for the slot's window, f->lkey/iova/len */
	f->mr = NULL;
	f->busy = false;
	wake = f->dying ? NULL : f->wake;
	spin_unlock_bh(&f->lock);

	if (err && !rxe_odp_transient(err)) {
		rxe_counter_inc(rxe, RXE_CNT_ODP_FAULT_ERRORS);
		rxe_info_mr(mr, "deferred ODP %s fault of %u bytes at iova %#llx failed (%d): %s\n",
			    flags & SODP_WRITE ? "write" : "read",
			    s.length, s.addr, err, rxe_odp_cause(err));
	}
	rxe_odp_fault_release(mr);
	if (wake)
		rxe_sched_task(wake);
	rxe_put(qp);
}

/*
 * Queue a fault of [iova, iova + len) of @mr on slot @f. Returns -EAGAIN
 * (queued, or one is already pending: wait or RNR either way); for an
 * address in the window of the slot's last fault, the error that fault
 * ended with (handed over once), or else 0: fault in line instead.
 */
static int rxe_odp_defer(struct rxe_qp *qp, struct rxe_odp_fault *f,
			 struct rxe_task *wake, struct rxe_mr *mr, u64 iova,
			 u32 len, unsigned int flags)
{
	struct rxe_dev *rxe = to_rdev(qp->ibqp.device);
	int err = -EAGAIN;

	spin_lock_bh(&f->lock);
	if (f->busy || f->dying)
		goto out;
	/*
	 * A page of the last fault's window missing: that fault failed for
	 * good, or the mm took the page back before the request got to it
	 * (reclaim or migration in a loop). In the second case fault in line,
	 * where the access follows its own fault at once (and faults again,
	 * a bounded number of times, if it lost the page); deferring again
	 * could race the mm forever.
	 */
	if (f->lkey == mr->lkey && iova >= f->iova && iova - f->iova < f->len) {
		err = f->err;
		f->err = 0;
		goto out;
	}
	f->err = 0;
	f->busy = true;
	rxe_get(qp);
	rxe_get(mr);
	atomic_inc(&mr->odp->faults_inflight);
	f->mr = mr;
	f->lkey = mr->lkey;
	f->iova = iova;
	f->len = len;
	f->flags = flags;
	f->wake = wake;
	f->queued = ktime_get();
	queue_work(rxe->odp_fault_wq, &f->work);
	rxe_counter_inc(rxe, RXE_CNT_ODP_FAULTS_DEFERRED);
out:
	spin_unlock_bh(&f->lock);
	return err;
}

/*
 * 0 when [iova, iova + len) of @mr is mirrored for @flags, or is none of
 * our business (not ODP, out of the MR's range: the access reports that).
 * Otherwise defer a fault of up to @window bytes from @iova (the rest of
 * the request, at most odp_fault_window, at least @len) and return what
 * rxe_odp_defer() returns.
 */
static int rxe_odp_need(struct rxe_qp *qp, struct rxe_odp_fault *f,
			struct rxe_task *wake, struct rxe_mr *mr, u64 iova,
			u32 len, u32 window, unsigned int flags)
{
	if (!mr || !mr->odp || !len || mr_check_range(mr, iova, len))
		return 0;
	/* deregistration has begun: the request fails, as with no MR */
	if (READ_ONCE(mr->state) != RXE_MR_STATE_VALID)
		return -EFAULT;
	if (rxe_odp_present(mr->odp, iova, len, flags))
		return 0;
	window = max(min(window, READ_ONCE(odp_fault_window)), len);
	if (mr_check_range(mr, iova, window))
		window = len;
	return rxe_odp_defer(qp, f, wake, mr, iova, window, flags);
}

/*
 * rxe_odp_need() for the buffers of a WQE, @len bytes from @dma's current
 * position; MRs are looked up with @access. Lookup failures and short
 * buffers are left to copy_data() to report.
 */
static int rxe_odp_dma_need(struct rxe_qp *qp, struct rxe_odp_fault *f,
			    struct rxe_task *wake, struct rxe_dma_info *dma,
			    u32 len, int access, unsigned int flags)
{
	u32 i, off = dma->sge_offset, n;
	struct rxe_mr *mr;
	int err = 0;

	if (!atomic_read(&rxe_odp_nr_mrs) || len > dma->resid)
		return 0;
	for (i = dma->cur_sge; len && !err && i < dma->num_sge; i++, off = 0) {
		struct rxe_sge *sge = &dma->sge[i];

		if (off >= sge->length)
			continue;
		n = min(len, sge->length - off);
		mr = lookup_mr(qp->pd, access, sge->lkey, RXE_LOOKUP_LOCAL);
		if (!mr)
			return 0;
		err = rxe_odp_need(qp, f, wake, mr, sge->addr + off, n,
				   sge->length - off, flags);
		rxe_put(mr);
		len -= n;
	}
	return err;
}

/*
 * A WRITE or SEND packet met a pending fault of the responder's slot: hold
 * it, first in line, while the fault is younger than the hold, and answer
 * with an RNR NAK once it is older. The requester's ACK timer runs in the
 * meantime and the responder cannot know its value; the QP's own timeout
 * stands in for it (both ends of a connection usually set the same one),
 * and the hold is at most half of it.
 */
static enum resp_states rxe_odp_hold(struct rxe_qp *qp)
{
	struct rxe_odp_fault *f = &qp->odp.resp;
	u64 hold = READ_ONCE(odp_write_hold_us);
	ktime_t queued;
	bool busy;
	s64 age;

	if (qp->attr.timeout)
		hold = min(hold, div_u64(4096ULL << qp->attr.timeout,
					 2 * NSEC_PER_USEC));
	spin_lock_bh(&f->lock);
	busy = f->busy;
	queued = f->queued;
	spin_unlock_bh(&f->lock);
	/* done in the meantime: the worker has scheduled the responder */
	if (!busy)
		return RESPST_ODP_STALL;
	age = ktime_us_delta(ktime_get(), queued);
	if (age >= hold)
		return RESPST_ERR_ODP_RNR;
	timer_reduce(&qp->odp.hold_timer,
		     jiffies + usecs_to_jiffies(hold - age) + 1);
	return RESPST_ODP_STALL;
}

static void rxe_odp_hold_expired(struct timer_list *t)
{
	struct rxe_qp *qp = from_timer(qp, t, odp.hold_timer);

	rxe_sched_task(&qp->recv_task);
}

static enum resp_states rxe_odp_resp_state(struct rxe_qp *qp, int err,
					   bool stall)
{
	if (!err)
		return RESPST_NONE;
	if (err != -EAGAIN)
		return RESPST_ERR_RKEY_VIOLATION;
	return stall ? RESPST_ODP_STALL : rxe_odp_hold(qp);
}

/**
 * rxe_odp_resp_need - let a responder access go on only with its pages in
 * @qp: the QP
 * @mr: the MR the request targets (NULL, or not ODP: nothing to do)
 * @iova: first byte this packet accesses
 * @len: bytes this packet accesses
 * @window: bytes of the request from @iova on (a deferred fault brings up
 *	to odp_fault_window of them in)
 * @flags: SODP_WRITE for WRITE and atomics, 0 for READ
 * @stall: READ and atomics: the response waits (RESPST_ODP_STALL) and the
 *	fault worker schedules the responder again; otherwise (WRITE) the
 *	packet waits in the same way for up to odp_write_hold_us (at most half
 *	the QP's ACK timeout) from when the fault was queued, and is then
 *	refused with an RNR NAK (RESPST_ERR_ODP_RNR) and sent again later
 *	(the worker schedules the responder either way)
 *
 * Only RC QPs defer; UC and UD fault in line, as they cannot be asked to
 * retry. Never sleeps.
 *
 * Returns RESPST_NONE to go on, RESPST_ODP_STALL or RESPST_ERR_ODP_RNR when
 * a fault is pending, RESPST_ERR_RKEY_VIOLATION when a fault of the span
 * failed for good.
 */
enum resp_states rxe_odp_resp_need(struct rxe_qp *qp, struct rxe_mr *mr,
				   u64 iova, u32 len, u32 window,
				   unsigned int flags, bool stall)
{
	if (qp_type(qp) != IB_QPT_RC)
		return RESPST_NONE;
	/*
	 * The responder is always scheduled when the fault is done: a READ
	 * may have stalled behind a WRITE's fault while it was pending.
	 */
	return rxe_odp_resp_state(qp, rxe_odp_need(qp, &qp->odp.resp,
						   &qp->recv_task, mr, iova,
						   len, window, flags),
				  stall);
}

/**
 * rxe_odp_resp_need_dma - rxe_odp_resp_need() for a SEND's receive buffers
 * @qp: the QP
 * @dma: the receive WQE's buffers, at the position the packet lands
 * @len: the packet's payload
 *
 * The packet waits for a pending fault as a WRITE does (rxe_odp_resp_need()).
 *
 * Returns RESPST_NONE, RESPST_ODP_STALL, RESPST_ERR_ODP_RNR or
 * RESPST_ERR_RKEY_VIOLATION.
 */
enum resp_states rxe_odp_resp_need_dma(struct rxe_qp *qp,
				       struct rxe_dma_info *dma, u32 len)
{
	if (qp_type(qp) != IB_QPT_RC)
		return RESPST_NONE;
	return rxe_odp_resp_state(qp, rxe_odp_dma_need(qp, &qp->odp.resp,
						       &qp->recv_task, dma, len,
						       IB_ACCESS_LOCAL_WRITE,
						       SODP_WRITE),
				  false);
}

/**
 * rxe_odp_retryable - may a failed ODP access be retried rather than fail?
 * @qp: the QP
 * @err: the access's errno
 *
 * True on an RC QP for a passing failure (rxe_odp_transient()).
 */
bool rxe_odp_retryable(struct rxe_qp *qp, int err)
{
	return qp_type(qp) == IB_QPT_RC && rxe_odp_transient(err);
}

/**
 * rxe_odp_req_need - let the requester use a send WQE's buffers only when in
 * @qp: the QP
 * @wqe: the WQE the next packet comes from
 *
 * Called before anything of the WQE is started in this pass (fence, read
 * credits), so a WQE that waits holds nothing. SEND and WRITE check the
 * bytes their next packet copies; READ and atomics check where their
 * response lands (the first odp_fault_window bytes of a READ: the completer
 * faults the rest in line if it must). Never sleeps.
 *
 * Returns 0 to go on; -EAGAIN when a fault was deferred: the send task is
 * scheduled again when it is done; or the error a fault of the buffer
 * ended with.
 */
int rxe_odp_req_need(struct rxe_qp *qp, struct rxe_send_wqe *wqe)
{
	struct rxe_odp_fault *f = &qp->odp.req;
	struct rxe_task *wake = &qp->send_task;
	u32 len;

	if (!atomic_read(&rxe_odp_nr_mrs) ||
	    (wqe->wr.send_flags & IB_SEND_INLINE))
		return 0;
	switch (wqe->wr.opcode) {
	case IB_WR_RDMA_READ:
		len = min(wqe->dma.resid, READ_ONCE(odp_fault_window));
		return rxe_odp_dma_need(qp, f, wake, &wqe->dma, len,
					IB_ACCESS_LOCAL_WRITE, SODP_WRITE);
	case IB_WR_ATOMIC_CMP_AND_SWP:
	case IB_WR_ATOMIC_FETCH_AND_ADD:
		return rxe_odp_dma_need(qp, f, wake, &wqe->dma, sizeof(u64),
					IB_ACCESS_LOCAL_WRITE, SODP_WRITE);
	case IB_WR_SEND:
	case IB_WR_SEND_WITH_IMM:
	case IB_WR_SEND_WITH_INV:
	case IB_WR_RDMA_WRITE:
	case IB_WR_RDMA_WRITE_WITH_IMM:
		len = wqe->dma.resid;
		if (qp_type(qp) == IB_QPT_RC || qp_type(qp) == IB_QPT_UC)
			len = min(len, qp->mtu);
		return rxe_odp_dma_need(qp, f, wake, &wqe->dma, len, 0, 0);
	default:
		return 0;
	}
}

/**
 * rxe_odp_qp_init - set up a new QP's deferred-fault slots
 * @qp: the QP (zeroed)
 */
void rxe_odp_qp_init(struct rxe_qp *qp)
{
	struct rxe_odp_fault *slots[] = { &qp->odp.resp, &qp->odp.req };
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(slots); i++) {
		INIT_WORK(&slots[i]->work, rxe_odp_fault_work);
		spin_lock_init(&slots[i]->lock);
		slots[i]->qp = qp;
	}
	timer_setup(&qp->odp.hold_timer, rxe_odp_hold_expired, 0);
}

/**
 * rxe_odp_qp_stop - cancel a QP's deferred faults before it is destroyed
 * @qp: the QP
 *
 * Nothing is queued for the QP afterwards. Waits for a fault that is
 * running; drops what a queued one held. Sleeps.
 */
void rxe_odp_qp_stop(struct rxe_qp *qp)
{
	struct rxe_odp_fault *slots[] = { &qp->odp.resp, &qp->odp.req };
	struct rxe_odp_fault *f;
	struct rxe_mr *mr;
	unsigned int i;

	timer_shutdown_sync(&qp->odp.hold_timer);
	for (i = 0; i < ARRAY_SIZE(slots); i++) {
		f = slots[i];
		spin_lock_bh(&f->lock);
		f->dying = true;
		spin_unlock_bh(&f->lock);
		if (!cancel_work_sync(&f->work))
			continue;
		/* it never ran: drop what rxe_odp_defer() took */
		spin_lock_bh(&f->lock);
		mr = f->mr;
		f->mr = NULL;
		f->busy = false;
		spin_unlock_bh(&f->lock);
		rxe_odp_fault_release(mr);
		rxe_put(qp);
	}
}

/**
 * rxe_odp_mr_dereg_wait - wait until no deferred fault uses an MR
 * @mr: the MR, already marked invalid (a running fault stops after its
 *	current piece)
 *
 * No time limit: rxe's pool cleanup frees an object after 50 s even with
 * references left, and a fault must not outlive its MR. Sleeps.
 */
void rxe_odp_mr_dereg_wait(struct rxe_mr *mr)
{
	if (mr->odp)
		wait_event(mr->odp->faults_done,
			   !atomic_read(&mr->odp->faults_inflight));
}

/**
 * rxe_odp_dev_init - create a device's fault workqueue
 * @rxe: the device
 * @name: its name
 *
 * At most odp_fault_workers deferred faults of the device run at once.
 * Returns 0 or -ENOMEM.
 */
int rxe_odp_dev_init(struct rxe_dev *rxe, const char *name)
{
	rxe->odp_fault_wq = alloc_workqueue("rxe_odp_fault/%s",
					    WQ_UNBOUND | WQ_MEM_RECLAIM,
					    max(odp_fault_workers, 1U), name);
	return rxe->odp_fault_wq ? 0 : -ENOMEM;
}

/**
 * rxe_odp_dev_cleanup - destroy a device's fault workqueue (no QP is left)
 * @rxe: the device
 */
void rxe_odp_dev_cleanup(struct rxe_dev *rxe)
{
	if (rxe->odp_fault_wq)
		destroy_workqueue(rxe->odp_fault_wq);
	rxe->odp_fault_wq = NULL;
}

/* ---- rdma netlink: resource and statistics ---- */

/**
 * rxe_odp_fill_res_mr_entry - `rdma resource show mr -dd`: the ODP kind
 * @msg: the netlink message
 * @ibmr: the MR
 */
int rxe_odp_fill_res_mr_entry(struct sk_buff *msg, struct ib_mr *ibmr)
{
	struct rxe_mr *mr = to_rmr(ibmr);
	struct nlattr *table;

	if (!mr->odp)
		return 0;
	table = nla_nest_start(msg, RDMA_NLDEV_ATTR_DRIVER);
	if (!table)
		return -EMSGSIZE;
	if (rdma_nl_put_driver_string(msg, "odp",
				      mr->odp->implicit ? "implicit" : "explicit"))
		goto err;
	if (mr->odp->implicit &&
	    rdma_nl_put_driver_u64(msg, "odp_chunks", rxe_odp_nchunks(mr->odp)))
		goto err;
	nla_nest_end(msg, table);
	return 0;
err:
	nla_nest_cancel(msg, table);
	return -EMSGSIZE;
}

static int rxe_odp_put_stats(struct sk_buff *msg, const struct sodp_stats *s)
{
	const struct {
		const char *name;
		u64 value;
	} *e, entries[] = {
		/* mlx5's names, with mlx5's meaning: pages, or handled events */
		{ "page_faults", s->pages_faulted },
		{ "page_faults_handled", s->faults_handled },
		{ "page_invalidations", s->pages_invalidated },
		{ "page_invalidations_handled", s->invalidations_handled },
		{ "page_prefetch", s->pages_prefetched },
		/* our own */
		{ "fault_requests", s->faults },
		{ "huge_mappings", s->huge_mappings },
		{ "fault_retries", s->fault_retries },
		{ "fault_timeouts", s->fault_timeouts },
		{ "fault_errors", s->fault_errors },
		{ "invalidation_calls", s->invalidations },
		{ "pages_dirtied", s->pages_dirtied },
		{ "peer_maps", s->peer_maps },
		{ "peer_refusals", s->peer_refusals },
		{ "peer_fallbacks", s->peer_fallbacks },
	};

	for (e = entries; e < entries + ARRAY_SIZE(entries); e++)
		if (rdma_nl_stat_hwcounter_entry(msg, e->name, e->value))
			return -EMSGSIZE;
	return 0;
}

/**
 * rxe_odp_fill_stat_mr_entry - `rdma statistic show mr`: ODP counters
 * @msg: the netlink message
 * @ibmr: the MR
 */
int rxe_odp_fill_stat_mr_entry(struct sk_buff *msg, struct ib_mr *ibmr)
{
	struct rxe_mr *mr = to_rmr(ibmr);
	struct sodp_stats s;
	struct nlattr *table;

	if (!mr->odp)
		return 0;
	sodp_counters_read(&mr->odp->cnt, &s);
	table = nla_nest_start(msg, RDMA_NLDEV_ATTR_STAT_HWCOUNTERS);
	if (!table)
		return -EMSGSIZE;
	if (rxe_odp_put_stats(msg, &s)) {
		nla_nest_cancel(msg, table);
		return -EMSGSIZE;
	}
	nla_nest_end(msg, table);
	return 0;
}

/* ---- module ---- */

/**
 * rxe_odp_init - create the ODP workqueue and debugfs rxe_odp/ (at load)
 */
int rxe_odp_init(void)
{
	rxe_odp_wq = alloc_workqueue("rxe_odp", WQ_UNBOUND, 0);
	if (!rxe_odp_wq)
		return -ENOMEM;
	rxe_odp_debugfs = debugfs_create_dir("rxe_odp", NULL);
	debugfs_create_file("fault_latency_us", 0600, rxe_odp_debugfs, NULL,
			    &rxe_odp_lat_fops);
	return 0;
}

/**
 * rxe_odp_exit - wait for queued prefetches and destroy the workqueue
 */
void rxe_odp_exit(void)
{
	debugfs_remove_recursive(rxe_odp_debugfs);
	destroy_workqueue(rxe_odp_wq);
}
