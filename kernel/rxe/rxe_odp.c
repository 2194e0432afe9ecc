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
 * task (a workqueue, so sleeping is allowed) and runs the copy with the
 * range lock held, so an invalidation waits for a copy in flight and
 * nothing touches a page after its invalidation returns.
 *
 * Errors: an access to an address the process has not mapped, or a write to
 * memory it mapped read-only, fails; the caller turns that into the usual
 * protection or remote access error (IBV_WC_REM_ACCESS_ERR at a remote
 * requester) and a rate-limited line in the kernel log names the cause.
 */
#include <linux/moduleparam.h>
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
	default:
		return "fault failed";
	}
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

/* Find the chunk holding @va, creating it on first use; with a reference. */
static struct rxe_odp_chunk *rxe_odp_chunk_get(struct rxe_odp *odp, u64 va)
{
	unsigned long idx = va >> RXE_ODP_CHUNK_SHIFT;
	struct rxe_odp_chunk *chunk, *old;
	struct sodp_range *range;
	struct mem_cgroup *memcg;

	for (;;) {
		rcu_read_lock();
		chunk = xa_load(&odp->chunks, idx);
		if (chunk && !kref_get_unless_zero(&chunk->ref))
			chunk = NULL;
		rcu_read_unlock();
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
 * Returns 0 or a negative errno.
 */
int rxe_odp_mr_init_user(struct rxe_dev *rxe, u64 start, u64 length, u64 iova,
			 int access, struct rxe_mr *mr)
{
	struct rxe_odp *odp;
	struct sodp_mm *smm;
	int err;

	if (!current->mm)
		return -EINVAL;
	odp = sodp_fail_alloc() ? NULL : kzalloc(sizeof(*odp), GFP_KERNEL_ACCOUNT);
	if (!odp)
		return -ENOMEM;
	odp->mr = mr;
	odp->cnt.parent = &rxe->odp_counters;
	/* rxe "DMA" is the CPU's memcpy: any kernel address will do */
	odp->importer.dev = &rxe->ib_dev.dev;
	odp->importer.virt_dma = true;

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
 * Returns 0 or a responder state (RESPST_ERR_*), like rxe_mr_do_atomic_op().
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
	if (rxe_odp_access(mr, iova, sizeof(u64), SODP_WRITE,
			   rxe_odp_atomic_actor, &a))
		return RESPST_ERR_RKEY_VIOLATION;
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
 * Returns 0 or a responder state (RESPST_ERR_*).
 */
int rxe_odp_do_atomic_write(struct rxe_mr *mr, u64 iova, u64 value)
{
	int err = rxe_odp_check_atomic(mr, iova);

	if (err)
		return err;
	if (rxe_odp_access(mr, iova, sizeof(value), SODP_WRITE,
			   rxe_odp_store_actor, &value))
		return RESPST_ERR_RKEY_VIOLATION;
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
		{ "page_faults", s->faults },
		{ "page_faults_handled", s->faults_handled },
		{ "pages_faulted", s->pages_faulted },
		{ "huge_mappings", s->huge_mappings },
		{ "fault_retries", s->fault_retries },
		{ "fault_timeouts", s->fault_timeouts },
		{ "fault_errors", s->fault_errors },
		{ "page_invalidations", s->invalidations },
		{ "page_invalidations_handled", s->invalidations_handled },
		{ "pages_invalidated", s->pages_invalidated },
		{ "page_prefetch", s->pages_prefetched },
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
 * rxe_odp_init - create the ODP workqueue (at module load)
 */
int rxe_odp_init(void)
{
	rxe_odp_wq = alloc_workqueue("rxe_odp", WQ_UNBOUND, 0);
	return rxe_odp_wq ? 0 : -ENOMEM;
}

/**
 * rxe_odp_exit - wait for queued prefetches and destroy the workqueue
 */
void rxe_odp_exit(void)
{
	destroy_workqueue(rxe_odp_wq);
}
