// SPDX-License-Identifier: GPL-2.0
/*
 * odp_soak - mixed RDMA traffic on ODP MRs, checked against a byte-exact
 * model, while memory-management events run in phases.
 *
 * usage: odp_soak -d DEV -g GIDX -t SECONDS [-w WORKERS] [-T THREADS]
 *                 [-p PHASE_MS] [-e GAP_MS] [-C CGROUP_DIR] [-D DPMEM]
 *                 [-m MIB] [-S SEED]
 *
 * The program forks WORKERS (default 2) traffic processes. Each maps two
 * target buffers of -m MiB (default 4, 2 MiB aligned, MADV_HUGEPAGE and
 * MADV_MERGEABLE): "exp", reached through an explicit ODP MR or an implicit
 * one, and "imp", reached through the implicit MR only. The buffers are cut
 * into 64 KiB regions, each with a model copy and a rwlock. THREADS (default
 * 2) traffic threads per worker each have their own PD, CQ, QP pair (RC,
 * loopback), explicit ODP MR over "exp", implicit MR, and local staging
 * buffers (ODP or pinned). They loop: pick an op and a region (trylock:
 * shared for ops that only read it, exclusive for ops that change it), run
 * it, compare every byte it moved with the model, update the model:
 *   write      RDMA WRITE staging -> region (a quarter are read back at once)
 *   read       RDMA READ region -> staging, compared with the model
 *   send_in    SEND staging -> RECV posted on the region
 *   send_out   SEND from the region -> RECV into staging, compared
 *   fetch_add, cmp_swap   atomics on a word of the region; the returned old
 *              value is compared, the model updated
 *   cpu_check  the CPU compares the region with the model
 *   cpu_write  the CPU writes the region
 *   ro_refused a write or atomic into a region an mprotect event made
 *              read-only: must fail with IBV_WC_REM_ACCESS_ERR and leave the
 *              bytes unchanged
 * An error completion on a writable region (today a fault that lost a race
 * with an invalidation: IBV_WC_REM_ACCESS_ERR) is counted per status, the
 * QPs are reconnected and the op is done again; MAX_TRIES in a row fail the
 * run. Atomics are retried only if the word shows they did not execute.
 *
 * Events run in phases of PHASE_MS, one kind per phase (a shuffled cycle
 * over all kinds), each repeated with GAP_MS pauses until the phase ends;
 * then a barrier: every worker finishes its current event, the device's
 * hw_counters and /proc/vmstat are read, and the deltas are attributed to
 * the phase's kind. In every worker's event thread, on its own buffers:
 *   pageout      MADV_PAGEOUT of 1-4 regions            (no lock: content kept)
 *   move_pages   move_pages() of 64 random pages to a random node  (no lock)
 *   ksm          region filled with pages identical across workers, kept
 *                read-locked (RDMA READs go on) until ksmd did 3 full scans
 *   collapse     MADV_COLLAPSE of one 2 MiB piece                  (no lock)
 *   fork         fork: the child checks a read-locked region against its
 *                snapshot of the model, writes one byte into every page of
 *                both buffers (COW), exits; the parent's traffic goes on
 *   munmap-mmap  munmap + mmap at the same address (or MAP_FIXED over it);
 *                then zero, or refilled by the CPU
 *   mprotect     PROT_READ for 30 ms (traffic expects refusals), then RW
 *   dontneed     MADV_DONTNEED of a page range: zero afterwards
 *   free-pageout MADV_FREE of a region, RDMA WRITE into its first pages, a
 *                CPU write into its last, MADV_PAGEOUT: the written bytes
 *                must survive, every other page is all old or all zero
 *   dpmem        1-4 regions to /dev/dpmem<DPMEM> and back      (no lock)
 * and in the coordinator (the parent), globally:
 *   memcg-reclaim  8M into CGROUP_DIR/memory.reclaim (the soak's cgroup)
 *   migrate_pages  migrate_pages() of each worker between nodes 0 and 1
 *   compact        1 into /proc/sys/vm/compact_memory
 *   ksm            /sys/kernel/mm/ksm/run = 1 during the phase, 0 after
 * plus "quiet" (no event: the background rate) and "mixed" (every worker
 * picks a random worker kind per event, the coordinator a random global
 * one, ksmd runs: events of different kinds overlap).
 *
 * At the end every worker compares both buffers with the model through RDMA
 * READ and the CPU. The report (stdout) has the ops per kind, mismatches,
 * error completions per status, and per event kind: phases, events, a
 * kind-specific detail figure, failed event syscalls, and the counter
 * deltas. Exit status: 0 with no mismatch and no stuck op, 1 otherwise.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "libdpmem.h"
#include "odp_qp.h"
#include "verbs_util.h"

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif
#define SOAK_MPOL_MF_MOVE (1 << 1)

#define PAGE 4096UL
#define HPAGE (2UL << 20)
#define REGION (64UL << 10)
#define REGION_PAGES (REGION / PAGE)
#define MAX_WORKERS 4
#define MAX_THREADS 4
#define OP_TIMEOUT 120		/* seconds for one completion */
#define MAX_TRIES 30		/* error completions in a row for one op */
#define MAX_REPORTS 20		/* mismatch lines printed per worker */
#define BARRIER_TIMEOUT 300
#define NSTATUS 32

static const char *dev = "rxe0";
static int gidx = -1;
static double seconds = 60;
static int nworkers = 2;
static int nthreads = 2;
static int phase_ms;
static int gap_ms = 10;
static const char *cgroup;
static unsigned int dpmem_index;
static size_t buf_len = 4UL << 20;
static unsigned long long seed0;
static int nr_nodes = 1;

/* ---- op and event kinds, shared statistics ----------------------------- */

enum op_kind {
	OP_WRITE, OP_READ, OP_SEND_IN, OP_SEND_OUT, OP_FADD, OP_CSWP,
	OP_CPU_CHECK, OP_CPU_WRITE, OP_REFUSED, NOPS
};

static const char *const op_name[NOPS] = {
	"write", "read", "send_in", "send_out", "fetch_add", "cmp_swap",
	"cpu_check", "cpu_write", "ro_refused",
};

enum kind {
	K_QUIET, K_PAGEOUT, K_RECLAIM, K_MOVE_PAGES, K_MIGRATE_PAGES,
	K_COMPACT, K_KSM, K_COLLAPSE, K_FORK, K_REMAP, K_MPROTECT,
	K_DONTNEED, K_FREE, K_DPMEM, K_MIXED, NKINDS,
	K_BARRIER = 100,
};

static const char *const kind_name[NKINDS] = {
	"quiet", "pageout", "memcg-reclaim", "move_pages", "migrate_pages",
	"compact", "ksm", "collapse", "fork", "munmap-mmap", "mprotect",
	"dontneed", "free-pageout", "dpmem", "mixed",
};

/* What the detail column counts, per kind (see docs/soak.md). */
static const char *const detail_name[NKINDS] = {
	"-", "pages advised", "MiB asked", "pages moved", "calls ok",
	"writes", "pages_sharing max", "collapsed", "children ok",
	"regions remapped", "RO windows", "pages dropped",
	"pages discarded", "pages moved", "-",
};

/* Kinds the workers' event threads carry out, and the coordinator's. */
static int worker_kind(int k)
{
	return k == K_PAGEOUT || k == K_MOVE_PAGES || k == K_KSM ||
	       k == K_COLLAPSE || k == K_FORK || k == K_REMAP ||
	       k == K_MPROTECT || k == K_DONTNEED || k == K_FREE ||
	       k == K_DPMEM || k == K_MIXED;
}

static int global_kind(int k)
{
	return k == K_RECLAIM || k == K_MIGRATE_PAGES || k == K_COMPACT ||
	       k == K_MIXED;
}

struct wstats {
	atomic_ulong ops[NOPS];
	atomic_ulong mismatches;
	atomic_ulong errors[NSTATUS];
	atomic_ulong events[NKINDS];
	atomic_ulong detail[NKINDS];
	atomic_ulong failed[NKINDS];	/* event syscalls that refused */
	atomic_ulong ev_us[NKINDS];	/* time spent in events */
	atomic_int ack;			/* last barrier seen idle */
	atomic_int ready;
	atomic_int reports;
};

/* In MAP_SHARED memory, set up before the workers are forked. */
struct shared {
	atomic_int seq;		/* bumped at every phase start and barrier */
	atomic_int kind;	/* the running kind, or K_BARRIER */
	atomic_int stop;
	struct wstats w[MAX_WORKERS + 1];	/* [nworkers]: the coordinator */
};

static struct shared *sh;
static struct wstats *ws;	/* this process's block */
static int wid;			/* worker index */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void nap_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static void stat_max(atomic_ulong *a, unsigned long v)
{
	unsigned long cur = atomic_load(a);

	while (v > cur && !atomic_compare_exchange_weak(a, &cur, v))
		;
}

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

static void fill_rand(void *p, size_t len, uint64_t *s)
{
	unsigned char *b = p;
	size_t i;
	uint64_t x;

	for (i = 0; i + 8 <= len; i += 8) {
		x = xorshift(s);
		memcpy(b + i, &x, 8);
	}
	if (i < len) {
		x = xorshift(s);
		memcpy(b + i, &x, len - i);
	}
}

static long read_long(const char *path)
{
	char buf[64];
	ssize_t n;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	return strtol(buf, NULL, 10);
}

/* Write a string to a sysfs/procfs/cgroup file: 0 or -errno. */
static int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY), err = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, s, strlen(s)) < 0)
		err = -errno;
	close(fd);
	return err;
}

static int count_nodes(void)
{
	char buf[64];
	int fd = open("/sys/devices/system/node/online", O_RDONLY), a, b;
	ssize_t n;

	if (fd < 0)
		return 1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 1;
	buf[n] = 0;
	if (sscanf(buf, "%d-%d", &a, &b) == 2)
		return b - a + 1;
	return 1;
}

/* ---- the target buffers and their model -------------------------------- */

enum { B_EXP, B_IMP, NBUF };
static const char *const buf_name[NBUF] = { "exp", "imp" };

struct region {
	pthread_rwlock_t lock;
	int ro;			/* mprotect(PROT_READ); under the write lock */
};

struct tbuf {
	char *base;		/* 2 MiB aligned */
	char *model;
	int nreg;
	struct region *reg;
};

static struct tbuf tb[NBUF];

static void *map_aligned(size_t len)
{
	char *p = mmap(NULL, len + HPAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uintptr_t a;

	if (p == MAP_FAILED)
		die("mmap %zu: %m", len);
	a = ((uintptr_t)p + HPAGE - 1) & ~(HPAGE - 1);
	if (a > (uintptr_t)p)
		munmap(p, a - (uintptr_t)p);
	munmap((char *)a + len, (uintptr_t)p + HPAGE - a);
	return (void *)a;
}

static void *map_anon(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		die("mmap %zu: %m", len);
	return p;
}

/* The advice every target mapping carries (again after a remap). */
static void advise_target(void *p, size_t len)
{
	if (madvise(p, len, MADV_HUGEPAGE))
		die("madvise(HUGEPAGE): %m");
	if (madvise(p, len, MADV_MERGEABLE) && errno != EINVAL)
		die("madvise(MERGEABLE): %m");
}

static void setup_buffers(uint64_t *rng)
{
	int b, r;

	for (b = 0; b < NBUF; b++) {
		struct tbuf *t = &tb[b];

		t->base = map_aligned(buf_len);
		t->model = map_anon(buf_len);
		t->nreg = buf_len / REGION;
		t->reg = calloc(t->nreg, sizeof(*t->reg));
		if (!t->reg)
			die("calloc");
		for (r = 0; r < t->nreg; r++)
			pthread_rwlock_init(&t->reg[r].lock, NULL);
		advise_target(t->base, buf_len);
		fill_rand(t->model, buf_len, rng);
		memcpy(t->base, t->model, buf_len);
	}
}

static char *reg_addr(int b, int r)
{
	return tb[b].base + (size_t)r * REGION;
}

static char *reg_model(int b, int r)
{
	return tb[b].model + (size_t)r * REGION;
}

/* ---- lanes: one PD/CQ/QP pair with its MRs, per thread ----------------- */

struct lane {
	struct vctx v;
	struct ibv_mr *exp, *imp, *stmr, *pinmr;
	char *st, *pin;	/* 2 * REGION each: [0, REGION) source, then sink */
	uint64_t rng;
	uint64_t next_id;
	struct ibv_wc stash[8];
	int nstash;
	int id;
};

static void lane_open(struct lane *l, int id)
{
	memset(l, 0, sizeof(*l));
	l->id = id;
	l->rng = (seed0 ^ ((uint64_t)(wid + 1) << 32) ^ (uint64_t)(id + 1) *
		  0x9e3779b97f4a7c15ULL) | 1;
	l->next_id = 1;
	vctx_open(&l->v, dev, gidx, IBV_QPT_RC, 0);
	l->exp = vctx_reg(&l->v, tb[B_EXP].base, buf_len, 1);
	l->imp = vctx_reg_implicit(&l->v);
	l->st = map_anon(2 * REGION);
	l->pin = map_anon(2 * REGION);
	memset(l->st, 0, 2 * REGION);
	memset(l->pin, 0, 2 * REGION);
	l->stmr = vctx_reg(&l->v, l->st, 2 * REGION, 1);
	l->pinmr = vctx_reg(&l->v, l->pin, 2 * REGION, 0);
}

static void lane_close(struct lane *l)
{
	ibv_dereg_mr(l->exp);
	ibv_dereg_mr(l->imp);
	ibv_dereg_mr(l->stmr);
	ibv_dereg_mr(l->pinmr);
	vctx_close(&l->v);
	munmap(l->st, 2 * REGION);
	munmap(l->pin, 2 * REGION);
}

static uint64_t rnd(struct lane *l)
{
	return xorshift(&l->rng);
}

/*
 * odp_qp_reconnect(), not vctx_reconnect(): the latter loses the race with
 * rxe moving a QP to ERR after its error completion (odp_qp.h), which the
 * mprotect event's refused writes hit after 12 minutes of a kasan soak.
 */
static void lane_reconnect(struct lane *l)
{
	odp_qp_reconnect(&l->v);
	l->nstash = 0;
}

static enum ibv_wc_status lane_wait(struct lane *l, uint64_t id,
				    const char *what)
{
	double deadline = now() + OP_TIMEOUT;
	unsigned int idle = 0;
	struct ibv_wc wc;
	int i, n;

	for (i = 0; i < l->nstash; i++) {
		if (l->stash[i].wr_id == id) {
			enum ibv_wc_status st = l->stash[i].status;

			l->stash[i] = l->stash[--l->nstash];
			return st;
		}
	}
	for (;;) {
		n = ibv_poll_cq(l->v.cq, 1, &wc);
		if (n < 0)
			die("ibv_poll_cq");
		if (!n) {
			/* back off: the CPUs are shared with rxe's work */
			if (++idle > 64) {
				nap_us(idle > 1000 ? 1000 : idle);
				if (now() > deadline)
					die("worker %d: %s: no completion in %d s",
					    wid, what, OP_TIMEOUT);
			}
			continue;
		}
		idle = 0;
		if (wc.wr_id == id)
			return wc.status;
		if (l->nstash == (int)(sizeof(l->stash) / sizeof(l->stash[0])))
			die("too many unclaimed completions");
		l->stash[l->nstash++] = wc;
	}
}

static uint64_t lane_post(struct lane *l, enum ibv_wr_opcode op, uint32_t lkey,
			  void *laddr, size_t len, uint64_t raddr,
			  uint32_t rkey, uint64_t cmp, uint64_t swp)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)laddr, .length = len, .lkey = lkey,
	};
	struct ibv_send_wr wr = {
		.wr_id = l->next_id++,
		.sg_list = &sge,
		.num_sge = 1,
		.opcode = op,
		.send_flags = IBV_SEND_SIGNALED,
	}, *bad;

	if (op == IBV_WR_ATOMIC_CMP_AND_SWP ||
	    op == IBV_WR_ATOMIC_FETCH_AND_ADD) {
		wr.wr.atomic.remote_addr = raddr;
		wr.wr.atomic.rkey = rkey;
		wr.wr.atomic.compare_add = cmp;
		wr.wr.atomic.swap = swp;
	} else {
		wr.wr.rdma.remote_addr = raddr;
		wr.wr.rdma.rkey = rkey;
	}
	if (ibv_post_send(l->v.qa, &wr, &bad))
		die("ibv_post_send: %m");
	return wr.wr_id;
}

static uint64_t lane_post_recv(struct lane *l, uint32_t lkey, void *addr,
			       size_t len)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)addr, .length = len, .lkey = lkey,
	};
	struct ibv_recv_wr wr = {
		.wr_id = l->next_id++, .sg_list = &sge, .num_sge = 1,
	}, *bad;

	if (ibv_post_recv(l->v.qb, &wr, &bad))
		die("ibv_post_recv: %m");
	return wr.wr_id;
}

static void count_error(enum ibv_wc_status st)
{
	ws->errors[(unsigned int)st < NSTATUS ? st : NSTATUS - 1]++;
}

static void too_many(const char *what, enum ibv_wc_status st)
{
	die("worker %d: %s: %d error completions in a row (last %s); the op is stuck",
	    wid, what, MAX_TRIES, ibv_wc_status_str(st));
}

/* One RDMA op on qa; error completions are counted, the QPs reconnected and
 * the op posted again (same bytes) until it succeeds.
 */
static void rdma_retry(struct lane *l, enum ibv_wr_opcode op, uint32_t lkey,
		       void *laddr, size_t len, uint64_t raddr, uint32_t rkey,
		       const char *what)
{
	enum ibv_wc_status st;
	int tries;

	for (tries = 0; tries < MAX_TRIES; tries++) {
		st = lane_wait(l, lane_post(l, op, lkey, laddr, len, raddr,
					    rkey, 0, 0), what);
		if (st == IBV_WC_SUCCESS)
			return;
		count_error(st);
		lane_reconnect(l);
	}
	too_many(what, st);
}

/* SEND from (slkey, src) into a RECV posted at (rlkey, dst), retried. */
static void send_retry(struct lane *l, uint32_t slkey, void *src,
		       uint32_t rlkey, void *dst, size_t rlen, size_t len,
		       const char *what)
{
	enum ibv_wc_status st;
	uint64_t rid;
	int tries;

	for (tries = 0; tries < MAX_TRIES; tries++) {
		rid = lane_post_recv(l, rlkey, dst, rlen);
		st = lane_wait(l, lane_post(l, IBV_WR_SEND, slkey, src, len,
					    0, 0, 0, 0), what);
		if (st == IBV_WC_SUCCESS) {
			st = lane_wait(l, rid, what);
			if (st == IBV_WC_SUCCESS)
				return;
		}
		count_error(st);
		lane_reconnect(l);	/* flushes the receive */
	}
	too_many(what, st);
}

/* ---- the ops -------------------------------------------------------------- */

struct loc {
	char *p;
	uint32_t lkey;
};

/* A local staging slot: ODP (explicit or implicit key) or pinned. */
static struct loc pick_loc(struct lane *l, int sink)
{
	size_t off = sink ? REGION : 0;

	switch (rnd(l) % 3) {
	case 0:
		return (struct loc){ l->st + off, l->stmr->lkey };
	case 1:
		return (struct loc){ l->st + off, l->imp->lkey };
	default:
		return (struct loc){ l->pin + off, l->pinmr->lkey };
	}
}

struct tgt {
	int b, r;
	size_t off, len;
	char *p, *m;		/* the bytes and their model */
	uint32_t lkey, rkey;
	const char *via;
	struct region *reg;
};

static void tgt_set(struct lane *l, struct tgt *t, int b, int r)
{
	int explicit = b == B_EXP && (rnd(l) & 1);

	t->b = b;
	t->r = r;
	t->reg = &tb[b].reg[r];
	t->lkey = explicit ? l->exp->lkey : l->imp->lkey;
	t->rkey = explicit ? l->exp->rkey : l->imp->rkey;
	t->via = explicit ? "explicit" : "implicit";
}

static void tgt_range(struct tgt *t, size_t off, size_t len)
{
	t->off = off;
	t->len = len;
	t->p = reg_addr(t->b, t->r) + off;
	t->m = reg_model(t->b, t->r) + off;
}

/* Lock some region (trylock, so events holding one do not stall us). */
static int pick_region(struct lane *l, struct tgt *t, int excl)
{
	int tries, b, r, rc;

	for (tries = 0; tries < 16; tries++) {
		b = rnd(l) % NBUF;
		r = rnd(l) % tb[b].nreg;
		rc = excl ? pthread_rwlock_trywrlock(&tb[b].reg[r].lock) :
			    pthread_rwlock_tryrdlock(&tb[b].reg[r].lock);
		if (!rc) {
			tgt_set(l, t, b, r);
			return 1;
		}
	}
	return 0;
}

static void random_range(struct lane *l, struct tgt *t)
{
	size_t len = rnd(l) % 8 ? 1 + rnd(l) % REGION : REGION;

	tgt_range(t, rnd(l) % (REGION - len + 1), len);
}

static const char *phase_name(void)
{
	int k = atomic_load(&sh->kind);

	return k >= 0 && k < NKINDS ? kind_name[k] : "barrier";
}

/*
 * Compare what an op saw (got) with the model of its target range. A
 * mismatch is counted and reported, and the model resynced from the CPU's
 * view so one lost write is one mismatch.
 */
static int check(const char *got, struct tgt *t, const char *what)
{
	size_t i, n = 0;

	if (!memcmp(got, t->m, t->len))
		return 0;
	for (i = 0; i < t->len; i++)
		n += got[i] != t->m[i];
	for (i = 0; got[i] == t->m[i]; i++)
		;
	ws->mismatches++;
	if (atomic_fetch_add(&ws->reports, 1) < MAX_REPORTS)
		fprintf(stderr,
			"MISMATCH worker %d: %s of %s region %d [+%zu, %zu bytes] via %s (phase %s): %zu bytes differ, first at +%zu (page %zu of the region): %#x, expected %#x\n",
			wid, what, buf_name[t->b], t->r, t->off, t->len, t->via,
			phase_name(), n, i, (t->off + i) / PAGE,
			(unsigned char)got[i], (unsigned char)t->m[i]);
	memcpy(t->m, t->p, t->len);
	return 1;
}

static void op_read(struct lane *l, struct tgt *t)
{
	struct loc d = pick_loc(l, 1);

	memset(d.p, 0xa5, t->len);
	rdma_retry(l, IBV_WR_RDMA_READ, d.lkey, d.p, t->len, (uintptr_t)t->p,
		   t->rkey, "READ");
	ws->ops[OP_READ]++;
	check(d.p, t, "RDMA READ");
}

/* A write or atomic into a read-only region: must fail, change nothing. */
static void op_refused(struct lane *l, struct tgt *t, enum ibv_wr_opcode op)
{
	struct loc s = pick_loc(l, 0);
	enum ibv_wc_status st;
	uint64_t add = 1 + rnd(l) % 1000;

	if (op != IBV_WR_RDMA_WRITE)
		tgt_range(t, t->off & ~7UL, 8);
	fill_rand(s.p, t->len, &l->rng);
	st = lane_wait(l, lane_post(l, op, s.lkey, s.p, t->len,
				    (uintptr_t)t->p, t->rkey, add, add),
		       "write to a read-only region");
	ws->ops[OP_REFUSED]++;
	if (st == IBV_WC_SUCCESS) {
		ws->mismatches++;
		if (atomic_fetch_add(&ws->reports, 1) < MAX_REPORTS)
			fprintf(stderr,
				"MISMATCH worker %d: %s into read-only %s region %d via %s succeeded\n",
				wid, op == IBV_WR_RDMA_WRITE ? "WRITE" : "atomic",
				buf_name[t->b], t->r, t->via);
		memcpy(t->m, t->p, t->len);
		return;
	}
	if (st != IBV_WC_REM_ACCESS_ERR)
		count_error(st);
	lane_reconnect(l);
	check(t->p, t, "CPU read after a refused write");
}

static void op_write(struct lane *l, struct tgt *t)
{
	struct loc s = pick_loc(l, 0);

	fill_rand(s.p, t->len, &l->rng);
	rdma_retry(l, IBV_WR_RDMA_WRITE, s.lkey, s.p, t->len, (uintptr_t)t->p,
		   t->rkey, "WRITE");
	memcpy(t->m, s.p, t->len);
	ws->ops[OP_WRITE]++;
	if (rnd(l) % 4 == 0)
		op_read(l, t);
}

static void op_send_in(struct lane *l, struct tgt *t)
{
	struct loc s = pick_loc(l, 0);

	fill_rand(s.p, t->len, &l->rng);
	send_retry(l, s.lkey, s.p, t->lkey, t->p, t->len, t->len,
		   "SEND into a region");
	memcpy(t->m, s.p, t->len);
	ws->ops[OP_SEND_IN]++;
}

static void op_send_out(struct lane *l, struct tgt *t)
{
	struct loc d = pick_loc(l, 1);

	memset(d.p, 0x5a, t->len);
	send_retry(l, t->lkey, t->p, d.lkey, d.p, REGION, t->len,
		   "SEND out of a region");
	ws->ops[OP_SEND_OUT]++;
	check(d.p, t, "SEND out of");
}

static void op_atomic(struct lane *l, struct tgt *t, int cswp)
{
	struct loc d = pick_loc(l, 1);
	enum ibv_wr_opcode op = cswp ? IBV_WR_ATOMIC_CMP_AND_SWP :
				       IBV_WR_ATOMIC_FETCH_AND_ADD;
	uint64_t old, want, got, cmp, swp, now_v;
	enum ibv_wc_status st;
	int tries, hit = 0;

	tgt_range(t, (rnd(l) % (REGION / 8)) * 8, 8);
	memcpy(&old, t->m, 8);
	if (cswp) {
		hit = rnd(l) % 4 != 0;
		cmp = hit ? old : old ^ (1 + rnd(l) % 255);
		swp = rnd(l);
		want = hit ? swp : old;
	} else {
		cmp = 1 + rnd(l) % 0xffff;
		swp = 0;
		want = old + cmp;
	}
	for (tries = 0; tries < MAX_TRIES; tries++) {
		memset(d.p, 0xee, 8);
		st = lane_wait(l, lane_post(l, op, d.lkey, d.p, 8,
					    (uintptr_t)t->p, t->rkey, cmp, swp),
			       cswp ? "CMP_SWP" : "FETCH_ADD");
		if (st == IBV_WC_SUCCESS)
			break;
		count_error(st);
		lane_reconnect(l);
		/* did it execute before the error? the word tells */
		memcpy(&now_v, t->p, 8);
		if (now_v == want && want != old) {
			memcpy(t->m, &want, 8);
			ws->ops[cswp ? OP_CSWP : OP_FADD]++;
			return;
		}
		if (now_v != old) {
			check(t->p, t, "word after a failed atomic");
			return;
		}
	}
	if (st != IBV_WC_SUCCESS)
		too_many(cswp ? "CMP_SWP" : "FETCH_ADD", st);
	ws->ops[cswp ? OP_CSWP : OP_FADD]++;
	memcpy(&got, d.p, 8);
	if (got != old) {
		ws->mismatches++;
		if (atomic_fetch_add(&ws->reports, 1) < MAX_REPORTS)
			fprintf(stderr,
				"MISMATCH worker %d: %s on %s region %d +%zu via %s (phase %s) returned %#llx, expected %#llx\n",
				wid, cswp ? "CMP_SWP" : "FETCH_ADD",
				buf_name[t->b], t->r, t->off, t->via,
				phase_name(), (unsigned long long)got,
				(unsigned long long)old);
		memcpy(t->m, t->p, 8);
		return;
	}
	memcpy(t->m, &want, 8);
}

static void op_cpu_write(struct lane *l, struct tgt *t)
{
	fill_rand(t->m, t->len, &l->rng);
	memcpy(t->p, t->m, t->len);
	ws->ops[OP_CPU_WRITE]++;
}

static void op_cpu_check(struct tgt *t)
{
	ws->ops[OP_CPU_CHECK]++;
	check(t->p, t, "CPU read");
}

/* One random op on one random region. */
static void traffic_op(struct lane *l)
{
	unsigned int w = rnd(l) % 100;
	enum op_kind k = w < 24 ? OP_WRITE : w < 48 ? OP_READ :
			 w < 56 ? OP_SEND_IN : w < 64 ? OP_SEND_OUT :
			 w < 72 ? OP_FADD : w < 80 ? OP_CSWP :
			 w < 90 ? OP_CPU_CHECK : OP_CPU_WRITE;
	int excl = k == OP_WRITE || k == OP_SEND_IN || k == OP_FADD ||
		   k == OP_CSWP || k == OP_CPU_WRITE;
	struct tgt t;

	if (!pick_region(l, &t, excl)) {
		nap_us(1000);
		return;
	}
	random_range(l, &t);
	if (t.reg->ro) {
		/* a read-only window: writes must be refused */
		if (k == OP_WRITE)
			op_refused(l, &t, IBV_WR_RDMA_WRITE);
		else if (k == OP_FADD || k == OP_CSWP)
			op_refused(l, &t, k == OP_FADD ?
				   IBV_WR_ATOMIC_FETCH_AND_ADD :
				   IBV_WR_ATOMIC_CMP_AND_SWP);
		else if (k == OP_CPU_WRITE)
			op_cpu_check(&t);
		else
			op_read(l, &t);
		pthread_rwlock_unlock(&t.reg->lock);
		return;
	}
	switch (k) {
	case OP_WRITE: op_write(l, &t); break;
	case OP_READ: op_read(l, &t); break;
	case OP_SEND_IN: op_send_in(l, &t); break;
	case OP_SEND_OUT: op_send_out(l, &t); break;
	case OP_FADD: op_atomic(l, &t, 0); break;
	case OP_CSWP: op_atomic(l, &t, 1); break;
	case OP_CPU_CHECK: op_cpu_check(&t); break;
	default: op_cpu_write(l, &t); break;
	}
	pthread_rwlock_unlock(&t.reg->lock);
}

static void *traffic_main(void *arg)
{
	struct lane *l = arg;

	/*
	 * Below the event thread and rxe's work (nice 0): under TCG the
	 * traffic would otherwise take the CPUs and stretch every event.
	 */
	setpriority(PRIO_PROCESS, syscall(SYS_gettid), 5);

	while (!atomic_load(&sh->stop))
		traffic_op(l);
	return NULL;
}

/* ---- the workers' events --------------------------------------------------- */

static struct dpmem *dp;

/*
 * The row of the report an event counts in: the phase's kind. Events run
 * in a mixed phase count in the mixed row, without a detail figure (its
 * units differ per kind).
 */
static int ev_row;

static void ev_fail(int k)
{
	(void)k;
	ws->failed[ev_row]++;
}

static void detail_add(int k, unsigned long n)
{
	if (ev_row == k)
		ws->detail[k] += n;
}

static void wrlock(struct region *g)
{
	pthread_rwlock_wrlock(&g->lock);
}

static void rdlock(struct region *g)
{
	pthread_rwlock_rdlock(&g->lock);
}

static void unlock(struct region *g)
{
	pthread_rwlock_unlock(&g->lock);
}

static void ev_pageout(struct lane *l)
{
	int b = rnd(l) % NBUF, n = 1 + rnd(l) % 4;
	int r = rnd(l) % (tb[b].nreg - n + 1);

	if (madvise(reg_addr(b, r), n * REGION, MADV_PAGEOUT))
		ev_fail(K_PAGEOUT);
	else
		detail_add(K_PAGEOUT, n * REGION_PAGES);
}

static void ev_move_pages(struct lane *l)
{
	void *pages[64];
	int nodes[64], status[64], i, moved = 0;
	int node = rnd(l) % nr_nodes;
	long ret;

	if (nr_nodes < 2) {
		ev_fail(K_MOVE_PAGES);
		return;
	}
	for (i = 0; i < 64; i++) {
		int b = rnd(l) % NBUF;

		pages[i] = tb[b].base + (rnd(l) % (buf_len / PAGE)) * PAGE;
		nodes[i] = node;
	}
	ret = syscall(SYS_move_pages, 0, 64UL, pages, nodes, status,
		      SOAK_MPOL_MF_MOVE);
	if (ret < 0) {
		ev_fail(K_MOVE_PAGES);
		return;
	}
	for (i = 0; i < 64; i++)
		moved += status[i] == node;
	detail_add(K_MOVE_PAGES, moved);
}

static int phase_is(int k)
{
	int cur = atomic_load(&sh->kind);

	return cur == k || cur == K_MIXED;
}

/*
 * Identical pages (the same in every worker) for ksmd to merge, kept
 * read-locked so no traffic write changes them, while RDMA READs go on.
 */
static void ev_ksm(struct lane *l)
{
	int b = rnd(l) % NBUF, r = rnd(l) % tb[b].nreg, i;
	struct region *g = &tb[b].reg[r];
	uint64_t s = 0x6b736d0001ULL + ws->events[K_KSM] % 4;
	long start, sharing;
	double deadline;

	wrlock(g);
	fill_rand(reg_model(b, r), PAGE, &s);
	for (i = 1; i < (int)REGION_PAGES; i++)
		memcpy(reg_model(b, r) + i * PAGE, reg_model(b, r), PAGE);
	memcpy(reg_addr(b, r), reg_model(b, r), REGION);
	unlock(g);
	rdlock(g);
	start = read_long("/sys/kernel/mm/ksm/full_scans");
	deadline = now() + 3;
	while (now() < deadline && phase_is(K_KSM) &&
	       read_long("/sys/kernel/mm/ksm/full_scans") < start + 3)
		nap_us(10000);
	unlock(g);
	sharing = read_long("/sys/kernel/mm/ksm/pages_sharing");
	if (start < 0 || sharing < 0)
		ev_fail(K_KSM);
	else if (ev_row == K_KSM)
		stat_max(&ws->detail[K_KSM], sharing);
}

/*
 * Split the PMD mapping of one 2 MiB piece (mprotect of one page, read-only
 * and back, on a locked region: nothing writes it meanwhile), then
 * MADV_COLLAPSE the piece, unlocked: a collapse copies every page while
 * the traffic goes on.
 */
static void ev_collapse(struct lane *l)
{
	int b = rnd(l) % NBUF;
	size_t h = rnd(l) % (buf_len / HPAGE);
	int r = h * (HPAGE / REGION) + rnd(l) % (HPAGE / REGION);
	struct region *g = &tb[b].reg[r];
	char *pg = reg_addr(b, r) + (rnd(l) % REGION_PAGES) * PAGE;

	wrlock(g);
	if (mprotect(pg, PAGE, PROT_READ) ||
	    mprotect(pg, PAGE, PROT_READ | PROT_WRITE))
		die("mprotect (split): %m");
	unlock(g);
	if (madvise(tb[b].base + h * HPAGE, HPAGE, MADV_COLLAPSE))
		ev_fail(K_COLLAPSE);
	else
		detail_add(K_COLLAPSE, 1);
}

static void ev_fork(struct lane *l)
{
	int b = rnd(l) % NBUF, r = rnd(l) % tb[b].nreg, status;
	struct region *g = &tb[b].reg[r];
	pid_t pid;
	size_t off;
	int i;

	rdlock(g);
	pid = fork();
	if (pid < 0)
		die("fork: %m");
	if (pid == 0) {
		/* the child: our snapshot of the locked region is exact */
		if (memcmp(reg_addr(b, r), reg_model(b, r), REGION))
			_exit(3);
		/* COW every page of ours; the parent must not see it */
		for (i = 0; i < NBUF; i++)
			for (off = 0; off < buf_len; off += PAGE)
				tb[i].base[off] ^= 0x5a;
		_exit(0);
	}
	unlock(g);
	if (waitpid(pid, &status, 0) != pid)
		die("waitpid: %m");
	if (WIFEXITED(status) && WEXITSTATUS(status) == 3) {
		ws->mismatches++;
		fprintf(stderr,
			"MISMATCH worker %d: a forked child's %s region %d differs from the model\n",
			wid, buf_name[b], r);
	} else if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		die("fork child failed (status %#x)", status);
	} else {
		detail_add(K_FORK, 1);
	}
}

static void ev_remap(struct lane *l)
{
	int b = rnd(l) % NBUF, r = rnd(l) % tb[b].nreg;
	struct region *g = &tb[b].reg[r];
	char *p = reg_addr(b, r);
	void *q;

	wrlock(g);
	if (rnd(l) & 1) {
		if (munmap(p, REGION))
			die("munmap: %m");
		q = mmap(p, REGION, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
			 -1, 0);
	} else {
		q = mmap(p, REGION, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	}
	if (q != p)
		die("mmap at %p (remap): %m (got %p)", p, q);
	advise_target(p, REGION);
	if (rnd(l) & 1) {
		fill_rand(reg_model(b, r), REGION, &l->rng);
		memcpy(p, reg_model(b, r), REGION);
	} else {
		memset(reg_model(b, r), 0, REGION);
	}
	unlock(g);
	detail_add(K_REMAP, 1);
}

static void ev_mprotect(struct lane *l)
{
	int b = rnd(l) % NBUF, r = rnd(l) % tb[b].nreg;
	struct region *g = &tb[b].reg[r];
	struct tgt t;

	wrlock(g);
	if (mprotect(reg_addr(b, r), REGION, PROT_READ))
		die("mprotect(PROT_READ): %m");
	g->ro = 1;
	unlock(g);
	/* the traffic may hit the window; we surely do, once each way */
	wrlock(g);
	tgt_set(l, &t, b, r);
	random_range(l, &t);
	op_refused(l, &t, IBV_WR_RDMA_WRITE);
	tgt_set(l, &t, b, r);
	random_range(l, &t);
	op_refused(l, &t, rnd(l) & 1 ? IBV_WR_ATOMIC_FETCH_AND_ADD :
		   IBV_WR_ATOMIC_CMP_AND_SWP);
	unlock(g);
	nap_us(30000);
	wrlock(g);
	if (mprotect(reg_addr(b, r), REGION, PROT_READ | PROT_WRITE))
		die("mprotect(PROT_READ|PROT_WRITE): %m");
	g->ro = 0;
	unlock(g);
	detail_add(K_MPROTECT, 1);
}

static void ev_dontneed(struct lane *l)
{
	int b = rnd(l) % NBUF, r = rnd(l) % tb[b].nreg;
	size_t first = rnd(l) % REGION_PAGES;
	size_t n = 1 + rnd(l) % (REGION_PAGES - first);
	struct region *g = &tb[b].reg[r];

	wrlock(g);
	if (madvise(reg_addr(b, r) + first * PAGE, n * PAGE, MADV_DONTNEED))
		die("madvise(DONTNEED): %m");
	memset(reg_model(b, r) + first * PAGE, 0, n * PAGE);
	unlock(g);
	detail_add(K_DONTNEED, n);
}

static int all_bytes(const char *p, size_t len, const char *ref, int zero)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != (zero ? 0 : ref[i]))
			return 0;
	return 1;
}

/*
 * The lost-write sequence, on one exclusively locked region:
 * MADV_FREE; RDMA WRITE pages [0, k) and half of page k; a CPU write into
 * the last page; MADV_PAGEOUT. The written bytes must survive (read back
 * through the mirror and by the CPU). The rest of each page is all old or
 * all zero (reclaim may discard a clean lazy-free page); those kept are
 * rewritten by the CPU so they are no longer lazy-free.
 */
static void ev_free(struct lane *l)
{
	int b = rnd(l) % NBUF, r = rnd(l) % tb[b].nreg;
	struct region *g = &tb[b].reg[r];
	char *p = reg_addr(b, r), *m = reg_model(b, r);
	size_t k = 1 + rnd(l) % (REGION_PAGES - 3), wlen = k * PAGE + PAGE / 2;
	size_t last = REGION_PAGES - 1, pg, from, discarded = 0;
	struct loc s = pick_loc(l, 0), d = pick_loc(l, 1);
	char *old = malloc(REGION), *want = malloc(REGION);
	struct tgt t;

	if (!old || !want)
		die("malloc");
	tgt_set(l, &t, b, r);
	wrlock(g);
	memcpy(old, m, REGION);
	if (madvise(p, REGION, MADV_FREE))
		die("madvise(FREE): %m");
	fill_rand(s.p, wlen, &l->rng);
	rdma_retry(l, IBV_WR_RDMA_WRITE, s.lkey, s.p, wlen, (uintptr_t)p,
		   t.rkey, "WRITE after MADV_FREE");
	ws->ops[OP_WRITE]++;
	memcpy(want, s.p, wlen);
	fill_rand(want + last * PAGE, PAGE, &l->rng);
	memcpy(p + last * PAGE, want + last * PAGE, PAGE);
	if (madvise(p, REGION, MADV_PAGEOUT))
		ev_fail(K_FREE);

	/* the written bytes, through RDMA READ (swap-in via the mirror) */
	memcpy(m, want, wlen);
	memcpy(m + last * PAGE, want + last * PAGE, PAGE);
	memset(d.p, 0xa5, REGION);
	rdma_retry(l, IBV_WR_RDMA_READ, d.lkey, d.p, wlen, (uintptr_t)p,
		   t.rkey, "READ after MADV_FREE + PAGEOUT");
	ws->ops[OP_READ]++;
	tgt_range(&t, 0, wlen);
	check(d.p, &t, "RDMA READ of RDMA-written lazy-free pages after PAGEOUT");
	tgt_range(&t, last * PAGE, PAGE);
	check(p + last * PAGE, &t, "CPU read of a CPU-written lazy-free page after PAGEOUT");

	/* the rest: each page all old or all zero */
	for (pg = k; pg < last; pg++) {
		from = pg == k ? PAGE / 2 : 0;
		if (all_bytes(p + pg * PAGE + from, PAGE - from,
			      old + pg * PAGE + from, 0)) {
			/* kept: rewrite it, so it is dirty and stays */
			memcpy(p + pg * PAGE + from, old + pg * PAGE + from,
			       PAGE - from);
			memcpy(m + pg * PAGE + from, old + pg * PAGE + from,
			       PAGE - from);
		} else if (all_bytes(p + pg * PAGE + from, PAGE - from,
				     NULL, 1)) {
			memset(m + pg * PAGE + from, 0, PAGE - from);
			discarded++;
		} else {
			memcpy(m + pg * PAGE + from, old + pg * PAGE + from,
			       PAGE - from);
			tgt_range(&t, pg * PAGE + from, PAGE - from);
			check(t.p, &t,
			      "CPU read of an unwritten lazy-free page (neither old nor zero)");
		}
	}
	unlock(g);
	detail_add(K_FREE, discarded);
	free(old);
	free(want);
}

static void ev_dpmem(struct lane *l)
{
	int b = rnd(l) % NBUF, n = 1 + rnd(l) % 4;
	int r = rnd(l) % (tb[b].nreg - n + 1);
	struct dpmem_result res;

	if (!dp) {
		ev_fail(K_DPMEM);
		return;
	}
	if (dpmem_to_device(dp, reg_addr(b, r), n * REGION, 0, &res)) {
		ev_fail(K_DPMEM);
		return;
	}
	detail_add(K_DPMEM, res.moved);
	nap_us(10000 + rnd(l) % 20000);
	if (dpmem_to_system(dp, reg_addr(b, r), n * REGION, &res))
		ev_fail(K_DPMEM);
}

static const int mixed_kinds[] = {
	K_PAGEOUT, K_MOVE_PAGES, K_KSM, K_COLLAPSE, K_FORK, K_REMAP,
	K_MPROTECT, K_DONTNEED, K_FREE, K_DPMEM,
};

static void run_event(struct lane *l, int k)
{
	double t0 = now();

	ev_row = k;
	if (k == K_MIXED)
		k = mixed_kinds[rnd(l) % (sizeof(mixed_kinds) / sizeof(int))];
	switch (k) {
	case K_PAGEOUT: ev_pageout(l); break;
	case K_MOVE_PAGES: ev_move_pages(l); break;
	case K_KSM: ev_ksm(l); break;
	case K_COLLAPSE: ev_collapse(l); break;
	case K_FORK: ev_fork(l); break;
	case K_REMAP: ev_remap(l); break;
	case K_MPROTECT: ev_mprotect(l); break;
	case K_DONTNEED: ev_dontneed(l); break;
	case K_FREE: ev_free(l); break;
	default: ev_dpmem(l); break;
	}
	ws->events[ev_row]++;
	ws->ev_us[ev_row] += (unsigned long)((now() - t0) * 1e6);
}

/*
 * The worker's event thread: run the current phase's kind in a loop; at a
 * barrier, say so once no event is in progress (ack = the barrier's seq).
 */
static void *event_main(void *arg)
{
	struct lane *l = arg;
	int s, k;

	while (!atomic_load(&sh->stop)) {
		s = atomic_load(&sh->seq);
		k = atomic_load(&sh->kind);
		if (k == K_BARRIER) {
			atomic_store(&ws->ack, s);
			nap_us(1000);
			continue;
		}
		if (!worker_kind(k)) {
			nap_us(1000);
			continue;
		}
		run_event(l, k);
		nap_us(gap_ms * 1000L);
	}
	return NULL;
}

/* Compare everything with the model: RDMA READ per region, then the CPU. */
static void final_check(struct lane *l)
{
	struct loc d;
	struct tgt t;
	int b, r;

	for (b = 0; b < NBUF; b++) {
		for (r = 0; r < tb[b].nreg; r++) {
			tgt_set(l, &t, b, r);
			tgt_range(&t, 0, REGION);
			d = pick_loc(l, 1);
			rdma_retry(l, IBV_WR_RDMA_READ, d.lkey, d.p, REGION,
				   (uintptr_t)t.p, t.rkey, "final READ");
			ws->ops[OP_READ]++;
			check(d.p, &t, "final RDMA READ");
		}
		for (r = 0; r < tb[b].nreg; r++) {
			tgt_set(l, &t, b, r);
			tgt_range(&t, 0, REGION);
			ws->ops[OP_CPU_CHECK]++;
			check(t.p, &t, "final CPU read");
		}
	}
}

static int worker_main(void)
{
	struct lane lanes[MAX_THREADS + 1];
	pthread_t th[MAX_THREADS + 1];
	uint64_t rng = (seed0 ^ (uint64_t)(wid + 7) << 40) | 1;
	int i, b;

	setup_buffers(&rng);
	dp = dpmem_open(dpmem_index);
	if (!dp)
		fprintf(stderr, "worker %d: /dev/dpmem%u: %m (dpmem events will count as failed)\n",
			wid, dpmem_index);
	for (i = 0; i <= nthreads; i++)
		lane_open(&lanes[i], i);
	atomic_store(&ws->ready, 1);
	for (i = 0; i < nthreads; i++)
		if (pthread_create(&th[i], NULL, traffic_main, &lanes[i]))
			die("pthread_create");
	if (pthread_create(&th[nthreads], NULL, event_main, &lanes[nthreads]))
		die("pthread_create");
	for (i = 0; i <= nthreads; i++)
		pthread_join(th[i], NULL);

	if (dp) {
		for (b = 0; b < NBUF; b++)
			dpmem_to_system(dp, tb[b].base, buf_len, NULL);
		dpmem_close(dp);
	}
	final_check(&lanes[nthreads]);
	for (i = 0; i <= nthreads; i++)
		lane_close(&lanes[i]);
	return 0;
}

/* ---- the coordinator ------------------------------------------------------- */

#define MAX_CTRS 64
static char ctr_name[MAX_CTRS][64];
static int nctr, nhw;
/*
 * Evidence that the mm did something, next to the device's odp_* counters:
 * /proc/vmstat events (only with CONFIG_VM_EVENT_COUNTERS) and the soak
 * cgroup's memory.stat events (memcg counts them either way). Only the
 * names a file has are used.
 */
static const char *const mm_ctrs[] = {
	"vm:pswpout", "vm:pswpin", "vm:pgmigrate_success",
	"vm:thp_collapse_alloc", "cg:pgsteal_direct", "cg:pglazyfreed",
	"cg:thp_collapse_alloc", "cg:pgmajfault",
};

static char hw_dir[256], memstat[512];

/* Call fn(name, value, arg) for every "name value" line of a file. */
static void scan_stat(const char *path,
		      void (*fn)(const char *, unsigned long long, void *),
		      void *arg)
{
	char line[160], name[64];
	unsigned long long x;
	FILE *f = fopen(path, "r");

	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%63s %llu", name, &x) == 2)
			fn(name, x, arg);
	fclose(f);
}

struct stat_pass {
	const char *prefix;
	uint64_t *v;	/* NULL: discovering */
};

static void stat_line(const char *name, unsigned long long x, void *arg)
{
	struct stat_pass *sp = arg;
	char full[64];
	size_t i;
	int j;

	snprintf(full, sizeof(full), "%s%s", sp->prefix, name);
	if (sp->v) {
		for (j = nhw; j < nctr; j++)
			if (!strcmp(ctr_name[j], full))
				sp->v[j] = x;
		return;
	}
	for (i = 0; i < sizeof(mm_ctrs) / sizeof(mm_ctrs[0]); i++)
		if (!strcmp(mm_ctrs[i], full) && nctr < MAX_CTRS)
			memcpy(ctr_name[nctr++], full, strlen(full) + 1);
}

static void ctr_discover(void)
{
	struct stat_pass sp = { "vm:", NULL };
	struct dirent *e;
	DIR *d;

	snprintf(hw_dir, sizeof(hw_dir),
		 "/sys/class/infiniband/%s/ports/1/hw_counters", dev);
	d = opendir(hw_dir);
	if (!d)
		die("%s: %m", hw_dir);
	while ((e = readdir(d)) && nctr < MAX_CTRS) {
		if (strncmp(e->d_name, "odp_", 4) ||
		    strlen(e->d_name) >= sizeof(ctr_name[0]))
			continue;
		memcpy(ctr_name[nctr++], e->d_name, strlen(e->d_name) + 1);
	}
	closedir(d);
	nhw = nctr;
	scan_stat("/proc/vmstat", stat_line, &sp);
	if (cgroup) {
		snprintf(memstat, sizeof(memstat), "%s/memory.stat", cgroup);
		sp.prefix = "cg:";
		scan_stat(memstat, stat_line, &sp);
	}
}

static void ctr_read(uint64_t *v)
{
	struct stat_pass sp = { "vm:", v };
	char path[512];
	int i;

	for (i = 0; i < nhw; i++) {
		snprintf(path, sizeof(path), "%s/%s", hw_dir, ctr_name[i]);
		v[i] = read_long(path);
	}
	for (i = nhw; i < nctr; i++)
		v[i] = 0;
	scan_stat("/proc/vmstat", stat_line, &sp);
	if (cgroup) {
		sp.prefix = "cg:";
		scan_stat(memstat, stat_line, &sp);
	}
}

static int ctr_index(const char *name)
{
	int i;

	for (i = 0; i < nctr; i++)
		if (!strcmp(ctr_name[i], name))
			return i;
	return -1;
}

static pid_t pids[MAX_WORKERS];
static int child_failed;

/* Reap a worker that died early: the soak fails. */
static void check_children(void)
{
	int i, status;

	for (i = 0; i < nworkers; i++) {
		if (pids[i] <= 0)
			continue;
		if (waitpid(pids[i], &status, WNOHANG) == pids[i]) {
			fprintf(stderr, "FAIL: worker %d exited early (status %#x)\n",
				i, status);
			pids[i] = -1;
			child_failed = 1;
		}
	}
}

static void global_event(int k, uint64_t *rng)
{
	struct wstats *cs = &sh->w[nworkers];
	double t0 = now();
	int row = k, i;
	char path[512];

	if (k == K_MIXED) {
		static const int g[] = { K_RECLAIM, K_MIGRATE_PAGES, K_COMPACT };

		k = g[xorshift(rng) % 3];
	}
	switch (k) {
	case K_RECLAIM:
		snprintf(path, sizeof(path), "%s/memory.reclaim",
			 cgroup ? cgroup : "/nonexistent");
		/* EAGAIN: less than asked could be reclaimed */
		if (write_str(path, "8M"))
			cs->failed[row]++;
		else
			cs->detail[k] += row == k ? 8 : 0;
		break;
	case K_MIGRATE_PAGES: {
		/* one worker per event, each back and forth between 0 and 1 */
		static int next, dir[MAX_WORKERS];
		unsigned long from, to;

		i = next++ % nworkers;
		from = 1UL << dir[i];
		to = 1UL << !dir[i];
		dir[i] = !dir[i];
		if (nr_nodes > 1 && pids[i] > 0 &&
		    syscall(SYS_migrate_pages, pids[i], 64UL, &from, &to) >= 0)
			cs->detail[k] += row == k;
		else
			cs->failed[row]++;
		break;
	}
	default:
		if (write_str("/proc/sys/vm/compact_memory", "1"))
			cs->failed[row]++;
		else
			cs->detail[k] += row == k;
		break;
	}
	cs->events[row]++;
	cs->ev_us[row] += (unsigned long)((now() - t0) * 1e6);
}

/*
 * For a compact phase: 16 MiB of which every other page is freed, so the
 * zones have partly used pageblocks for compaction to empty (ours among
 * them, with luck). NULL when done.
 */
#define FRAG_LEN (16UL << 20)

static char *fragment(char *frag)
{
	size_t off;

	if (frag) {
		munmap(frag, FRAG_LEN);
		return NULL;
	}
	frag = mmap(NULL, FRAG_LEN, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (frag == MAP_FAILED)
		return NULL;
	madvise(frag, FRAG_LEN, MADV_NOHUGEPAGE);
	for (off = 0; off < FRAG_LEN; off += PAGE)
		frag[off] = 1;
	for (off = PAGE; off < FRAG_LEN; off += 2 * PAGE)
		madvise(frag + off, PAGE, MADV_DONTNEED);
	return frag;
}

static void ksm_run(int on)
{
	write_str("/sys/kernel/mm/ksm/run", on ? "1" : "0");
}

struct acc {
	int phases;
	double time;
	uint64_t d[MAX_CTRS];
};

static void print_table(struct acc *acc)
{
	static const char *const cols[][2] = {
		{ "odp_invalidations", "invalidations" },
		{ "odp_pages_invalidated", "pages_inval" },
		{ "odp_faults", "faults" },
		{ "odp_pages_faulted", "pages_faulted" },
		{ "odp_pages_dirtied", "dirtied" },
		{ "odp_fault_retries", "retries" },
		{ "odp_peer_maps", "peer_maps" },
	};
	int ci[MAX_CTRS], nc = 0, k, i, w, wd;
	const char *label[MAX_CTRS];
	unsigned long ev, det, fail, us;

	for (i = 0; i < (int)(sizeof(cols) / sizeof(cols[0])); i++) {
		if (ctr_index(cols[i][0]) >= 0) {
			label[nc] = cols[i][1];
			ci[nc++] = ctr_index(cols[i][0]);
		}
	}
	for (i = nhw; i < nctr; i++) {
		label[nc] = ctr_name[i];
		ci[nc++] = i;
	}
	printf("invalidations per event kind (counter deltas over that kind's phases):\n");
	printf("  %-13s %6s %6s %6s %6s %7s %6s", "kind", "phases", "time_s",
	       "events", "ms/ev", "detail", "failed");
	for (i = 0; i < nc; i++)
		printf(" %*s", strlen(label[i]) < 8 ? 8 : (int)strlen(label[i]),
		       label[i]);
	printf("\n");
	for (k = 0; k < NKINDS; k++) {
		ev = det = fail = us = 0;
		for (w = 0; w <= nworkers; w++) {
			ev += sh->w[w].events[k];
			fail += sh->w[w].failed[k];
			us += sh->w[w].ev_us[k];
			det = k == K_KSM ? (sh->w[w].detail[k] > det ?
					    sh->w[w].detail[k] : det) :
					   det + sh->w[w].detail[k];
		}
		printf("  %-13s %6d %6.1f %6lu %6.0f %7lu %6lu", kind_name[k],
		       acc[k].phases, acc[k].time, ev,
		       ev ? us / 1e3 / ev : 0.0, det, fail);
		for (i = 0; i < nc; i++) {
			wd = strlen(label[i]) < 8 ? 8 : strlen(label[i]);
			printf(" %*llu", wd, (unsigned long long)acc[k].d[ci[i]]);
		}
		printf("\n");
	}
	printf("  detail: ");
	for (k = 1; k < NKINDS - 1; k++)
		printf("%s%s=%s", k > 1 ? ", " : "", kind_name[k],
		       detail_name[k]);
	printf("\n");
}

static void shuffle(int *v, int n, uint64_t *rng)
{
	int i, j, x;

	for (i = n - 1; i > 0; i--) {
		j = xorshift(rng) % (i + 1);
		x = v[i];
		v[i] = v[j];
		v[j] = x;
	}
}

static void barrier(int seq)
{
	double deadline = now() + BARRIER_TIMEOUT;
	int w, idle;

	for (;;) {
		idle = 1;
		for (w = 0; w < nworkers; w++)
			if (pids[w] > 0 && atomic_load(&sh->w[w].ack) != seq)
				idle = 0;
		check_children();
		if (idle || child_failed)
			return;
		if (now() > deadline)
			die("the workers' events did not finish within %d s",
			    BARRIER_TIMEOUT);
		nap_us(2000);
	}
}

static int coordinator(void)
{
	uint64_t rng = seed0 | 1, prev[MAX_CTRS], cur[MAX_CTRS];
	static struct acc acc[NKINDS];
	int order[NKINDS], pos = NKINDS, nphase = 0, k, i, w, status;
	double t0, t_end, p0, p_end, ready_by;
	unsigned long ops[NOPS] = { 0 }, errs[NSTATUS] = { 0 };
	unsigned long mism = 0, total = 0, nerr = 0, ev, ev_seen[NKINDS] = { 0 };
	char *frag = NULL;
	int ii = ctr_index("odp_invalidations");
	int ip = ctr_index("odp_pages_invalidated");
	int seq = 0;

	ready_by = now() + 300;
	for (;;) {
		int ready = 0;

		for (w = 0; w < nworkers; w++)
			ready += atomic_load(&sh->w[w].ready);
		check_children();
		if (ready == nworkers || child_failed)
			break;
		if (now() > ready_by)
			die("workers not ready after 300 s");
		nap_us(10000);
	}
	for (k = 0; k < NKINDS; k++)
		order[k] = k;
	t0 = now();
	t_end = t0 + seconds;
	ctr_read(prev);
	while (!child_failed && now() < t_end) {
		if (pos == NKINDS) {
			shuffle(order, NKINDS, &rng);
			pos = 0;
		}
		k = order[pos++];
		p0 = now();
		if (k == K_KSM || k == K_MIXED)
			ksm_run(1);
		if (k == K_COMPACT)
			frag = fragment(NULL);
		p_end = now() + phase_ms / 1000.0;
		if (p_end > t_end)
			p_end = t_end;
		atomic_store(&sh->kind, k);
		atomic_store(&sh->seq, ++seq);
		while (!child_failed && now() < p_end) {
			if (global_kind(k)) {
				global_event(k, &rng);
				nap_us(gap_ms * 1000L);
			} else {
				nap_us(20000);
			}
			check_children();
		}
		ksm_run(0);
		if (frag)
			frag = fragment(frag);
		atomic_store(&sh->kind, K_BARRIER);
		atomic_store(&sh->seq, ++seq);
		barrier(seq);
		nap_us(20000);	/* the RDMA core caches sysfs counters 10 ms */
		ctr_read(cur);
		acc[k].phases++;
		acc[k].time += now() - p0;
		for (i = 0; i < nctr; i++)
			acc[k].d[i] += cur[i] - prev[i];
		ev = 0;
		for (w = 0; w <= nworkers; w++)
			ev += sh->w[w].events[k];
		printf("phase %d %s %.1fs: events=%lu invalidations=%llu pages_invalidated=%llu\n",
		       ++nphase, kind_name[k], now() - p0, ev - ev_seen[k],
		       (unsigned long long)(ii >= 0 ? cur[ii] - prev[ii] : 0),
		       (unsigned long long)(ip >= 0 ? cur[ip] - prev[ip] : 0));
		ev_seen[k] = ev;
		memcpy(prev, cur, sizeof(prev));
	}
	atomic_store(&sh->stop, 1);
	for (w = 0; w < nworkers; w++) {
		if (pids[w] <= 0)
			continue;
		if (waitpid(pids[w], &status, 0) != pids[w])
			die("waitpid: %m");
		if (!WIFEXITED(status) || WEXITSTATUS(status)) {
			fprintf(stderr, "FAIL: worker %d failed (status %#x)\n",
				w, status);
			child_failed = 1;
		}
	}

	for (w = 0; w <= nworkers; w++) {
		for (i = 0; i < NOPS; i++)
			ops[i] += sh->w[w].ops[i];
		for (i = 0; i < NSTATUS; i++)
			errs[i] += sh->w[w].errors[i];
		mism += sh->w[w].mismatches;
	}
	for (i = 0; i < NOPS; i++)
		total += ops[i];
	for (i = 0; i < NSTATUS; i++)
		nerr += errs[i];
	printf("soak: %.0f s, %d workers x %d traffic QP pairs (+1 event QP pair each), %zu MiB per buffer, phases of %d ms, seed %llu\n",
	       now() - t0, nworkers, nthreads, buf_len >> 20, phase_ms, seed0);
	printf("ops: %lu (", total);
	for (i = 0; i < NOPS; i++)
		printf("%s%s=%lu", i ? " " : "", op_name[i], ops[i]);
	printf(")\n");
	printf("mismatches: %lu\n", mism);
	printf("error_completions: %lu", nerr);
	if (nerr) {
		printf(" (");
		for (i = 0, w = 0; i < NSTATUS; i++)
			if (errs[i])
				printf("%s%s=%lu", w++ ? " " : "",
				       ibv_wc_status_str(i), errs[i]);
		printf(")");
	}
	printf("\n");
	print_table(acc);
	if (child_failed)
		printf("soak: FAIL (a worker failed: see above)\n");
	return mism || child_failed ? 1 : 0;
}

int main(int argc, char **argv)
{
	int c, i;

	setvbuf(stdout, NULL, _IOLBF, 0);
	seed0 = (unsigned long long)time(NULL);
	while ((c = getopt(argc, argv, "d:g:t:w:T:p:e:C:D:m:S:")) != -1) {
		switch (c) {
		case 'd': dev = optarg; break;
		case 'g': gidx = atoi(optarg); break;
		case 't': seconds = atof(optarg); break;
		case 'w': nworkers = atoi(optarg); break;
		case 'T': nthreads = atoi(optarg); break;
		case 'p': phase_ms = atoi(optarg); break;
		case 'e': gap_ms = atoi(optarg); break;
		case 'C': cgroup = optarg; break;
		case 'D': dpmem_index = atoi(optarg); break;
		case 'm': buf_len = strtoull(optarg, NULL, 0) << 20; break;
		case 'S': seed0 = strtoull(optarg, NULL, 0); break;
		default: die("bad option");
		}
	}
	if (gidx < 0 || seconds <= 0)
		die("usage: odp_soak -d DEV -g GIDX -t SECONDS [-w WORKERS] [-T THREADS] [-p PHASE_MS] [-e GAP_MS] [-C CGROUP_DIR] [-D DPMEM] [-m MIB] [-S SEED]");
	if (nworkers < 1 || nworkers > MAX_WORKERS ||
	    nthreads < 1 || nthreads > MAX_THREADS)
		die("-w 1..%d, -T 1..%d", MAX_WORKERS, MAX_THREADS);
	if (buf_len < HPAGE || buf_len % HPAGE)
		die("-m: a multiple of 2 MiB");
	if (!phase_ms) {
		/* two cycles over the kinds, each phase 1-10 s */
		phase_ms = seconds * 1000 / (2 * NKINDS);
		phase_ms = phase_ms < 1000 ? 1000 :
			   phase_ms > 10000 ? 10000 : phase_ms;
	}
	nr_nodes = count_nodes();
	ctr_discover();
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		die("mmap shared: %m");
	memset(sh, 0, sizeof(*sh));
	atomic_store(&sh->kind, K_QUIET);
	for (i = 0; i < nworkers; i++) {
		pids[i] = fork();
		if (pids[i] < 0)
			die("fork: %m");
		if (!pids[i]) {
			wid = i;
			ws = &sh->w[i];
			exit(worker_main());
		}
	}
	wid = -1;
	ws = &sh->w[nworkers];
	return coordinator();
}
