// SPDX-License-Identifier: GPL-2.0
/*
 * odp_inject - make every allocation of an ODP or dpmem path fail once.
 *
 * usage: odp_inject -d DEV -g GIDX [-v] MODE
 *
 * fail-nth modes: for N = 1, 2, ... a fresh child process sets up, writes N
 * to /proc/thread-self/fail-nth, makes one call, and reads fail-nth back:
 * the call's N-th injectable allocation (failslab, fail_page_alloc and the
 * mirror's own softodp_mirror/fail sites, whichever comes N-th) failed, or,
 * if fail-nth is still set, the call made fewer than N and the loop ends.
 * Each call must succeed or fail with an errno of its table, and the child
 * must then recover: the same call works again, and RDMA WRITE through the
 * result moves the right bytes (dpmem: the data is intact and where asked).
 * The caller sets failslab and fail_page_alloc up (ignore-gfp-wait=N,
 * fail_page_alloc min-order=0, ignore-gfp-highmem=N, verbose=0).
 *   reg-explicit       ibv_reg_mr of a 64 KiB explicit ODP MR, the
 *                      process's first ODP MR (creates its mirror context)
 *   reg-explicit-big   the same, 16 MiB (a page table beyond one page)
 *   reg-second         an explicit ODP MR when the process has one already
 *   reg-implicit       ibv_reg_mr(NULL, SIZE_MAX), the process's first
 *   prefetch-explicit  ibv_advise_mr(PREFETCH_WRITE, FLUSH) of 64 KiB of
 *                      untouched memory through an explicit ODP MR
 *   prefetch-implicit  the same through an implicit MR (creates the chunk)
 *   prefetch-async     the same without FLUSH (the queued request)
 *   dereg-explicit     ibv_dereg_mr of an explicit ODP MR with pages
 *   dereg-implicit     ibv_dereg_mr of an implicit MR with a chunk
 *   dpmem-to-device    DPMEM_IOC_MIGRATE_TO_DEVICE of 64 KiB of data
 *   dpmem-to-system    DPMEM_IOC_MIGRATE_TO_SYSTEM of the same
 *
 * mirror-attr modes: for K = 1, 2, ... the K-th allocation the mirror is
 * asked about (softodp_mirror/fail: probability 100, times 1, space K), in
 * any task, fails; these reach the kernel workers (the rxe task, the
 * rxe_odp fault and prefetch workers), which fail-nth cannot. The loop ends
 * at the first K that does not fire. On an RC QP a fault that fails for
 * want of memory is retried (the transfer then succeeds: "absorbed"); a
 * transfer that fails anyway must complete with an error status of its
 * table; the QPs are then reconnected and the same transfer must work and
 * move the right bytes.
 *   worker-write       RDMA WRITE into a fresh implicit MR (the responder
 *                      creates the chunk)
 *   worker-read        RDMA READ from one
 *   worker-atomic      FETCH_AND_ADD on one
 *   worker-send        SEND into a receive buffer of one
 *   worker-local       RDMA WRITE whose source is one (requester side)
 *   worker-peer        RDMA WRITE into an explicit ODP MR whose pages are on
 *                      a dpmem device (the range's peer array)
 *   worker-prefetch    queued PREFETCH_WRITE of two chunks of a fresh
 *                      implicit MR (the request in the call, the chunks in
 *                      the prefetch worker)
 *
 * Prints one line per N or K with -v, and a summary:
 *   "MODE: points P failed F [ERRNO/STATUS count ...] absorbed A"
 * (points: allocations reached; failed: calls that failed; absorbed: ones
 * that succeeded anyway, the failure being handled by a fallback).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libdpmem.h>

#include "odp_qp.h"
#include "verbs_util.h"

#define KiB (1UL << 10)
#define MiB (1UL << 20)
#define BUF (64 * KiB)
#define XFER 4096
#define MAX_POINTS 1000

#define ODP_ACCESS (IBV_ACCESS_ON_DEMAND | IBV_ACCESS_LOCAL_WRITE | \
		    IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_WRITE | \
		    IBV_ACCESS_REMOTE_ATOMIC)

static const char *dev = "rxe0";
static int gidx = -1;
static int verbose;

static void *map_anon(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED)
		die("mmap %zu: %m", len);
	return p;
}

/* 2 MiB aligned: an implicit MR's chunk boundary. */
static void *map_aligned(size_t len)
{
	char *p = map_anon(len + 2 * MiB);
	uintptr_t a = ((uintptr_t)p + 2 * MiB - 1) & ~(2 * MiB - 1);

	return (void *)a;
}

static void fill(void *p, size_t len, unsigned int seed)
{
	unsigned char *b = p;
	size_t i;

	for (i = 0; i < len; i++)
		b[i] = (unsigned char)(i * 13 + seed * 101 + (i >> 9));
}

static void expect_same(const void *a, const void *b, size_t len,
			const char *what)
{
	if (memcmp(a, b, len))
		die("%s: the bytes differ", what);
}

static const char *errname(int err)
{
	return err ? strerrorname_np(err) ?: "?" : "OK";
}

/* ibv_wc_status names as identifiers (for summaries a test can parse). */
static const char *wc_name(unsigned int st)
{
	static const char *const names[] = {
#define N(s) [IBV_WC_##s] = #s
		N(SUCCESS), N(LOC_LEN_ERR), N(LOC_QP_OP_ERR), N(LOC_EEC_OP_ERR),
		N(LOC_PROT_ERR), N(WR_FLUSH_ERR), N(MW_BIND_ERR),
		N(BAD_RESP_ERR), N(LOC_ACCESS_ERR), N(REM_INV_REQ_ERR),
		N(REM_ACCESS_ERR), N(REM_OP_ERR), N(RETRY_EXC_ERR),
		N(RNR_RETRY_EXC_ERR), N(LOC_RDD_VIOL_ERR),
		N(REM_INV_RD_REQ_ERR), N(REM_ABORT_ERR), N(INV_EECN_ERR),
		N(INV_EEC_STATE_ERR), N(FATAL_ERR), N(RESP_TIMEOUT_ERR),
		N(GENERAL_ERR),
#undef N
	};

	return st < sizeof(names) / sizeof(names[0]) && names[st] ?
	       names[st] : "UNKNOWN";
}

/* ----------------------------------------------------- a child's world */

struct fx {
	struct vctx v;
	bool qps;
	char *buf;		/* the object of the call: untouched at first */
	char *src;		/* data for RDMA WRITEs, through a pinned MR */
	char *ref;		/* what buf should hold */
	struct ibv_mr *smr;
	struct ibv_mr *mr;	/* the MR the call registers / uses */
	struct ibv_mr *other;	/* reg-second: the process's first ODP MR */
	struct dpmem *dp;
	size_t len;
	int implicit;
};

static void fx_open(struct fx *f, bool qps, size_t len)
{
	memset(f, 0, sizeof(*f));
	f->len = len;
	f->buf = map_aligned(len);
	f->src = map_anon(len);
	f->ref = map_anon(len);
	fill(f->src, len, 1);
	f->qps = qps;
	if (qps) {
		vctx_open(&f->v, dev, gidx, IBV_QPT_RC, 0);
		f->smr = vctx_reg(&f->v, f->src, len, 0);
	}
}

/* RDMA WRITE src -> buf through @mr; the bytes must arrive. */
static void write_check(struct fx *f, struct ibv_mr *mr, const char *what)
{
	enum ibv_wc_status st;

	fill(f->src, XFER, 7);
	st = vctx_rdma(&f->v, IBV_WR_RDMA_WRITE, f->smr, f->src, XFER,
		       (uintptr_t)f->buf, mr->rkey);
	if (st != IBV_WC_SUCCESS)
		die("%s: RDMA WRITE after the injection: %s", what,
		    wc_name(st));
	expect_same(f->buf, f->src, XFER, what);
}

static struct ibv_mr *reg(struct fx *f, int implicit, char *p, size_t len)
{
	return implicit ? ibv_reg_mr(f->v.pd, NULL, SIZE_MAX, ODP_ACCESS) :
			  ibv_reg_mr(f->v.pd, p, len, ODP_ACCESS);
}

static int advise(struct fx *f, struct ibv_mr *mr, uint32_t flags)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)f->buf, .length = f->len, .lkey = mr->lkey,
	};

	return ibv_advise_mr(f->v.pd, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
			     flags, &sge, 1);
}

/* ------------------------------------------------------ fail-nth cases */

struct nth_case {
	const char *name;
	bool qps;
	size_t len;
	int implicit;
	void (*setup)(struct fx *f);
	int (*call)(struct fx *f);
	void (*check)(struct fx *f, int err);
	const int allowed[4];	/* besides 0; 0-terminated */
};

/* registration */

static void setup_none(struct fx *f)
{
	(void)f;
}

static void setup_second(struct fx *f)
{
	f->other = reg(f, 0, f->ref, f->len);
	if (!f->other)
		die("first ODP MR: %m");
}

static int call_reg(struct fx *f)
{
	errno = 0;
	f->mr = reg(f, f->implicit, f->buf, f->len);
	return f->mr ? 0 : errno ?: -1;
}

static void check_reg(struct fx *f, int err)
{
	if (err) {
		f->mr = reg(f, f->implicit, f->buf, f->len);
		if (!f->mr)
			die("ibv_reg_mr after the injection: %m");
	}
	write_check(f, f->mr, "registration");
	if (ibv_dereg_mr(f->mr))
		die("ibv_dereg_mr: %m");
}

/* prefetch */

static void setup_mr(struct fx *f)
{
	f->mr = reg(f, f->implicit, f->buf, f->len);
	if (!f->mr)
		die("ibv_reg_mr: %m");
}

static int call_prefetch(struct fx *f)
{
	return advise(f, f->mr, IBV_ADVISE_MR_FLAG_FLUSH);
}

static int call_prefetch_async(struct fx *f)
{
	return advise(f, f->mr, 0);
}

static void check_prefetch(struct fx *f, int err)
{
	(void)err;
	err = advise(f, f->mr, IBV_ADVISE_MR_FLAG_FLUSH);
	if (err)
		die("ibv_advise_mr after the injection: %s", strerror(err));
	write_check(f, f->mr, "prefetch");
	if (ibv_dereg_mr(f->mr))
		die("ibv_dereg_mr: %m");
}

/* deregistration */

static void setup_used_mr(struct fx *f)
{
	setup_mr(f);
	write_check(f, f->mr, "before deregistration");
}

static int call_dereg(struct fx *f)
{
	return ibv_dereg_mr(f->mr);
}

static void check_dereg(struct fx *f, int err)
{
	if (err) {
		/* still registered, and working */
		write_check(f, f->mr, "MR whose deregistration failed");
		if (ibv_dereg_mr(f->mr))
			die("ibv_dereg_mr after the injection: %m");
	}
	f->mr = reg(f, f->implicit, f->buf, f->len);
	if (!f->mr)
		die("ibv_reg_mr after deregistration: %m");
	write_check(f, f->mr, "registration after deregistration");
	ibv_dereg_mr(f->mr);
}

/* dpmem migration */

static void dp_open(struct fx *f)
{
	f->dp = dpmem_open(0);
	if (!f->dp)
		die("dpmem_open(0): %m");
	fill(f->buf, f->len, 5);
	memcpy(f->ref, f->buf, f->len);
}

static uint64_t dp_count(struct fx *f, unsigned int state)
{
	uint64_t count[DPMEM_RES_NR_STATES];

	if (dpmem_residency(f->dp, f->buf, f->len, NULL, count))
		die("dpmem_residency: %m");
	return count[state];
}

static int dp_migrate(struct fx *f, bool to_device)
{
	struct dpmem_migrate m = {
		.addr = (uintptr_t)f->buf, .length = f->len,
	};

	return ioctl(dpmem_fd(f->dp), to_device ? DPMEM_IOC_MIGRATE_TO_DEVICE :
			    DPMEM_IOC_MIGRATE_TO_SYSTEM, &m) < 0 ? errno : 0;
}

static void setup_on_device(struct fx *f)
{
	dp_open(f);
	if (dp_migrate(f, true))
		die("MIGRATE_TO_DEVICE: %m");
	if (dp_count(f, DPMEM_RES_DEVICE) != f->len / 4096)
		die("not all pages moved to the device");
}

static int call_to_device(struct fx *f)
{
	return dp_migrate(f, true);
}

static int call_to_system(struct fx *f)
{
	return dp_migrate(f, false);
}

static void check_dp(struct fx *f, bool to_device)
{
	unsigned int where = to_device ? DPMEM_RES_DEVICE : DPMEM_RES_SYSTEM;
	int err = dp_migrate(f, to_device);

	if (err)
		die("migration after the injection: %s", strerror(err));
	if (dp_count(f, where) != f->len / 4096)
		die("the pages are not where the migration after the injection put them");
	expect_same(f->buf, f->ref, f->len, "migrated data");
	dpmem_close(f->dp);
}

static void check_to_device(struct fx *f, int err)
{
	(void)err;
	check_dp(f, true);
}

static void check_to_system(struct fx *f, int err)
{
	(void)err;
	check_dp(f, false);
}

static const struct nth_case nth_cases[] = {
	{ "reg-explicit", true, BUF, 0, setup_none, call_reg, check_reg,
	  { ENOMEM } },
	{ "reg-explicit-big", true, 16 * MiB, 0, setup_none, call_reg,
	  check_reg, { ENOMEM } },
	{ "reg-second", true, BUF, 0, setup_second, call_reg, check_reg,
	  { ENOMEM } },
	{ "reg-implicit", true, BUF, 1, setup_none, call_reg, check_reg,
	  { ENOMEM } },
	/* a failed page allocation in the fault is hmm's -EFAULT */
	{ "prefetch-explicit", true, BUF, 0, setup_mr, call_prefetch,
	  check_prefetch, { ENOMEM, EFAULT } },
	{ "prefetch-implicit", true, BUF, 1, setup_mr, call_prefetch,
	  check_prefetch, { ENOMEM, EFAULT } },
	{ "prefetch-async", true, BUF, 0, setup_mr, call_prefetch_async,
	  check_prefetch, { ENOMEM } },
	{ "dereg-explicit", true, BUF, 0, setup_used_mr, call_dereg,
	  check_dereg, { 0 } },
	{ "dereg-implicit", true, BUF, 1, setup_used_mr, call_dereg,
	  check_dereg, { 0 } },
	{ "dpmem-to-device", false, BUF, 0, dp_open, call_to_device,
	  check_to_device, { ENOMEM } },
	{ "dpmem-to-system", false, BUF, 0, setup_on_device, call_to_system,
	  check_to_system, { ENOMEM } },
};

struct nth_result {
	int err;
	int injected;
};

static bool allowed_errno(const int *list, int err)
{
	int i;

	for (i = 0; i < 4 && list[i]; i++)
		if (list[i] == err)
			return true;
	return false;
}

static void nth_child(const struct nth_case *c, unsigned int n, int out)
{
	struct nth_result r;
	char buf[32];
	struct fx f;
	int fd, len;
	ssize_t got;

	fx_open(&f, c->qps, c->len);
	f.implicit = c->implicit;
	c->setup(&f);
	fd = open("/proc/thread-self/fail-nth", O_RDWR);
	if (fd < 0)
		die("/proc/thread-self/fail-nth: %m (CONFIG_FAULT_INJECTION?)");
	len = snprintf(buf, sizeof(buf), "%u", n);

	if (pwrite(fd, buf, len, 0) != len)
		die("write fail-nth: %m");
	r.err = c->call(&f);
	got = pread(fd, buf, sizeof(buf) - 1, 0);
	if (pwrite(fd, "0", 1, 0) != 1 || got <= 0)
		die("fail-nth: %m");
	buf[got] = 0;
	r.injected = atoi(buf) == 0;

	if (r.err && !allowed_errno(c->allowed, r.err))
		die("%s with allocation %u failing: %s (%d), not in its table",
		    c->name, n, errname(r.err), r.err);
	c->check(&f, r.err);
	if (f.qps) {
		ibv_dereg_mr(f.smr);
		if (f.other)
			ibv_dereg_mr(f.other);
		vctx_close(&f.v);
	}
	if (write(out, &r, sizeof(r)) != sizeof(r))
		die("pipe: %m");
	exit(0);
}

static int run_nth(const struct nth_case *c)
{
	unsigned long failed = 0, absorbed = 0, by[256] = { 0 };
	unsigned int n;
	int e;

	for (n = 1; n <= MAX_POINTS; n++) {
		struct nth_result r;
		int p[2], status;
		pid_t pid;

		if (pipe(p))
			die("pipe: %m");
		fflush(stdout);
		pid = fork();
		if (pid < 0)
			die("fork: %m");
		if (!pid) {
			close(p[0]);
			nth_child(c, n, p[1]);
		}
		close(p[1]);
		if (waitpid(pid, &status, 0) != pid)
			die("waitpid: %m");
		if (!WIFEXITED(status) || WEXITSTATUS(status))
			die("%s: the child failing allocation %u %s %d", c->name,
			    n, WIFEXITED(status) ? "exited with" :
			    "was killed by signal",
			    WIFEXITED(status) ? WEXITSTATUS(status) :
			    WTERMSIG(status));
		if (read(p[0], &r, sizeof(r)) != sizeof(r))
			die("%s: no result from the child", c->name);
		close(p[0]);
		if (verbose)
			printf("%s N=%u %s%s\n", c->name, n, errname(r.err),
			       r.injected ? "" : " (not injected)");
		if (!r.injected) {
			if (r.err)
				die("%s failed (%s) without an injection",
				    c->name, errname(r.err));
			break;
		}
		if (r.err) {
			failed++;
			by[r.err & 255]++;
		} else {
			absorbed++;
		}
	}
	if (n > MAX_POINTS)
		die("%s: more than %d allocations?", c->name, MAX_POINTS);
	printf("%s: points %u failed %lu", c->name, n - 1, failed);
	for (e = 1; e < 256; e++)
		if (by[e])
			printf(" %s %lu", errname(e), by[e]);
	printf(" absorbed %lu\n", absorbed);
	return 0;
}

/* ------------------------------------------------- mirror-attr cases */

#define ATTR "/sys/kernel/debug/softodp_mirror/fail/"

static void attr_write(const char *knob, const char *val)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), ATTR "%s", knob);
	fd = open(path, O_WRONLY);
	if (fd < 0)
		die("%s: %m", path);
	if (write(fd, val, strlen(val)) != (ssize_t)strlen(val))
		die("write %s to %s: %m", val, path);
	close(fd);
}

static long attr_read(const char *knob)
{
	char path[128], buf[32];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), ATTR "%s", knob);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		die("%s: %m", path);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		die("read %s: %m", path);
	buf[n] = 0;
	return strtol(buf, NULL, 0);
}

/*
 * Fail the @k-th allocation the mirror is asked about, in any task. The
 * caller sets "verbose" (0 in the tests: a stack dump reads as a splat).
 */
static void arm(unsigned int k)
{
	char val[16];

	attr_write("probability", "0");
	attr_write("task-filter", "N");
	attr_write("interval", "1");
	attr_write("times", "1");
	snprintf(val, sizeof(val), "%u", k);
	attr_write("space", val);
	attr_write("probability", "100");
}

static bool fired(void)
{
	return attr_read("times") == 0;
}

/* Stop injecting; true if the armed failure happened. */
static bool disarm(void)
{
	attr_write("probability", "0");
	return fired();
}

static uint64_t hw_counter(const char *name)
{
	char path[256], buf[32];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path),
		 "/sys/class/infiniband/%s/ports/1/hw_counters/%s", dev, name);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		die("%s: %m", path);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		die("read %s: %m", path);
	buf[n] = 0;
	return strtoull(buf, NULL, 0);
}

enum wkind { WK_WRITE, WK_READ, WK_ATOMIC, WK_SEND, WK_LOCAL, WK_PEER,
	     WK_PREFETCH };

static const struct {
	const char *name;
	enum wkind kind;
	/* what a failed access may complete with (ibv_poll_cq(3)) */
	unsigned int allowed;
} worker_cases[] = {
#define S(s) (1U << IBV_WC_##s)
	{ "worker-write", WK_WRITE, S(REM_ACCESS_ERR) },
	{ "worker-read", WK_READ, S(REM_ACCESS_ERR) },
	{ "worker-atomic", WK_ATOMIC, S(REM_ACCESS_ERR) },
	{ "worker-send", WK_SEND, S(REM_ACCESS_ERR) | S(REM_OP_ERR) |
				  S(REM_INV_REQ_ERR) },
	/*
	 * rxe's requester moves the QP to ERR on a local error, and the
	 * completer then flushes the failed WQE with the rest: it completes
	 * as WR_FLUSH_ERR, its own status (LOC_PROT_ERR) is lost.
	 */
	{ "worker-local", WK_LOCAL, S(LOC_PROT_ERR) | S(LOC_QP_OP_ERR) |
				    S(WR_FLUSH_ERR) },
	{ "worker-peer", WK_PEER, S(REM_ACCESS_ERR) },
	{ "worker-prefetch", WK_PREFETCH, 0 },
#undef S
};

struct wfx {
	struct vctx v;
	char *src, *dst;	/* pinned side */
	struct ibv_mr *smr, *dmr;
	char *buf;		/* the ODP side, 2 MiB aligned */
	size_t len;
	struct dpmem *dp;
};

/*
 * One transfer between the pinned side and @mr (over w->buf). Returns its
 * status (for SEND, the sender's; a failed receive is reported through
 * *recv_st). Checks the bytes when it succeeds.
 */
static enum ibv_wc_status transfer(struct wfx *w, enum wkind kind,
				   struct ibv_mr *mr, unsigned int seed,
				   enum ibv_wc_status *recv_st)
{
	enum ibv_wc_status st;
	uint64_t before;

	*recv_st = IBV_WC_SUCCESS;
	switch (kind) {
	case WK_READ:
		fill(w->buf, XFER, seed);
		st = vctx_rdma(&w->v, IBV_WR_RDMA_READ, w->dmr, w->dst, XFER,
			       (uintptr_t)w->buf, mr->rkey);
		if (st == IBV_WC_SUCCESS)
			expect_same(w->dst, w->buf, XFER, "READ");
		return st;
	case WK_ATOMIC:
		before = *(volatile uint64_t *)w->buf;
		st = vctx_atomic(&w->v, IBV_WR_ATOMIC_FETCH_AND_ADD, w->dmr,
				 (uint64_t *)w->dst, (uintptr_t)w->buf,
				 mr->rkey, seed, 0);
		if (st == IBV_WC_SUCCESS &&
		    (*(uint64_t *)w->dst != before ||
		     *(uint64_t *)w->buf != before + seed))
			die("FETCH_AND_ADD: wrong values");
		return st;
	case WK_SEND:
		fill(w->src, XFER, seed);
		/* apart from vctx_*()'s send wr_ids, which count from 1000 */
		vctx_post_recv(&w->v, mr, w->buf, XFER, (1ULL << 32) + seed);
		st = vctx_send(&w->v, w->smr, w->src, XFER, (1ULL << 32) + seed);
		if (st == IBV_WC_SUCCESS)
			expect_same(w->buf, w->src, XFER, "SEND");
		return st;
	case WK_LOCAL:
		fill(w->buf, XFER, seed);
		st = vctx_rdma(&w->v, IBV_WR_RDMA_WRITE, mr, w->buf, XFER,
			       (uintptr_t)w->dst, w->dmr->rkey);
		if (st == IBV_WC_SUCCESS)
			expect_same(w->dst, w->buf, XFER, "WRITE from ODP");
		return st;
	default:
		fill(w->src, XFER, seed);
		st = vctx_rdma(&w->v, IBV_WR_RDMA_WRITE, w->smr, w->src, XFER,
			       (uintptr_t)w->buf, mr->rkey);
		if (st == IBV_WC_SUCCESS)
			expect_same(w->buf, w->src, XFER, "WRITE");
		return st;
	}
}

static void to_device(struct wfx *w)
{
	struct dpmem_result r;

	if (dpmem_to_device(w->dp, w->buf, w->len, 0, &r))
		die("dpmem_to_device: %m");
	if (r.moved != w->len / 4096)
		die("dpmem_to_device moved %llu pages",
		    (unsigned long long)r.moved);
}

/* Queued prefetch of the two chunks: wait until it fired or finished. */
static void prefetch_wait(uint64_t before, uint64_t pages)
{
	time_t deadline = time(NULL) + 30;

	while (time(NULL) < deadline) {
		if (fired() || hw_counter("odp_pages_prefetched") - before >= pages)
			return;
		usleep(5000);
	}
	die("the queued prefetch neither failed nor finished in 30 s");
}

static int run_worker(int idx)
{
	enum wkind kind = worker_cases[idx].kind;
	const char *name = worker_cases[idx].name;
	unsigned long failed = 0, absorbed = 0, by[32] = { 0 };
	enum ibv_wc_status st, rst;
	struct ibv_mr *mr;
	struct wfx w;
	unsigned int k;
	int err, s;

	if (access(ATTR "probability", W_OK))
		die(ATTR ": %m (the mirror's fault attr is missing)");
	memset(&w, 0, sizeof(w));
	w.len = kind == WK_PREFETCH ? 4 * MiB : BUF;
	w.buf = map_aligned(w.len);
	w.src = map_anon(BUF);
	w.dst = map_anon(BUF);
	vctx_open(&w.v, dev, gidx, IBV_QPT_RC, 0);
	w.smr = vctx_reg(&w.v, w.src, BUF, 0);
	w.dmr = vctx_reg(&w.v, w.dst, BUF, 0);
	if (kind == WK_PEER) {
		w.dp = dpmem_open(0);
		if (!w.dp)
			die("dpmem_open(0): %m");
	}

	for (k = 1; k <= MAX_POINTS; k++) {
		bool hit;

		/* a fresh MR (registered before arming) has no chunks */
		if (kind == WK_PEER) {
			fill(w.buf, w.len, k);
			to_device(&w);
			mr = ibv_reg_mr(w.v.pd, w.buf, w.len, ODP_ACCESS);
		} else {
			mr = ibv_reg_mr(w.v.pd, NULL, SIZE_MAX, ODP_ACCESS);
		}
		if (!mr)
			die("ibv_reg_mr: %m");

		if (kind == WK_PREFETCH) {
			struct ibv_sge sge = {
				.addr = (uintptr_t)w.buf, .length = w.len,
				.lkey = mr->lkey,
			};
			uint64_t before = hw_counter("odp_pages_prefetched");

			arm(k);
			err = ibv_advise_mr(w.v.pd,
					    IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
					    0, &sge, 1);
			if (!err)
				prefetch_wait(before, w.len / 4096);
			hit = disarm();
			if (verbose)
				printf("%s K=%u %s%s\n", name, k, errname(err),
				       hit ? "" : " (not injected)");
			if (err && (err != ENOMEM || !hit))
				die("%s: queued prefetch: %s", name,
				    errname(err));
			if (hit) {
				if (err) {
					failed++;
					by[31]++;	/* ENOMEM at the call */
				} else {
					failed++;	/* in the worker */
				}
			}
			err = ibv_advise_mr(w.v.pd,
					    IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
					    IBV_ADVISE_MR_FLAG_FLUSH, &sge, 1);
			if (err)
				die("%s: prefetch after the injection: %s",
				    name, strerror(err));
			st = transfer(&w, WK_WRITE, mr, k, &rst);
			if (st != IBV_WC_SUCCESS)
				die("%s: WRITE after the injection: %s", name,
				    wc_name(st));
		} else {
			arm(k);
			st = transfer(&w, kind, mr, k, &rst);
			hit = disarm();
			if (verbose)
				printf("%s K=%u %s%s\n", name, k,
				       wc_name(st),
				       hit ? "" : " (not injected)");
			if (st != IBV_WC_SUCCESS) {
				if (!hit)
					die("%s: %s without an injection", name,
					    wc_name(st));
				if (!(worker_cases[idx].allowed & (1U << st)))
					die("%s: a failed allocation completed with %s, not in its table",
					    name, wc_name(st));
				failed++;
				by[st]++;
				odp_qp_reconnect(&w.v);
				st = transfer(&w, kind, mr, k + 1000, &rst);
				if (st != IBV_WC_SUCCESS)
					die("%s: after reconnecting: %s", name,
					    wc_name(st));
			} else if (hit) {
				absorbed++;
			}
		}
		if (ibv_dereg_mr(mr))
			die("ibv_dereg_mr: %m");
		if (kind == WK_PEER && dpmem_to_system(w.dp, w.buf, w.len, NULL))
			die("dpmem_to_system: %m");
		if (!hit)
			break;
	}
	if (k > MAX_POINTS)
		die("%s: more than %d allocations?", name, MAX_POINTS);
	printf("%s: points %u failed %lu", name, k - 1, failed);
	if (by[31])
		printf(" ENOMEM(call) %lu", by[31]);
	for (s = 0; s < 31; s++)
		if (by[s])
			printf(" %s %lu", wc_name(s), by[s]);
	printf(" absorbed %lu\n", absorbed);

	ibv_dereg_mr(w.smr);
	ibv_dereg_mr(w.dmr);
	vctx_close(&w.v);
	if (w.dp)
		dpmem_close(w.dp);
	return 0;
}

int main(int argc, char **argv)
{
	const char *mode;
	size_t i;
	int c;

	while ((c = getopt(argc, argv, "d:g:v")) != -1) {
		switch (c) {
		case 'd': dev = optarg; break;
		case 'g': gidx = atoi(optarg); break;
		case 'v': verbose = 1; break;
		default: die("bad option");
		}
	}
	if (optind != argc - 1 || gidx < 0)
		die("usage: odp_inject -d DEV -g GIDX [-v] MODE");
	mode = argv[optind];
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (i = 0; i < sizeof(nth_cases) / sizeof(nth_cases[0]); i++)
		if (!strcmp(mode, nth_cases[i].name))
			return run_nth(&nth_cases[i]);
	for (i = 0; i < sizeof(worker_cases) / sizeof(worker_cases[0]); i++)
		if (!strcmp(mode, worker_cases[i].name))
			return run_worker((int)i);
	die("unknown mode %s", mode);
}
