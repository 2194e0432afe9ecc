// SPDX-License-Identifier: GPL-2.0
/*
 * mm_rdma - RDMA on ODP MRs whose pages the kernel's memory management
 * discards, swaps, writes back, migrates, compacts, merges or collapses;
 * loopback RC QPs on one rxe device.
 *
 * usage: mm_rdma -d DEV -g GIDX [-p] [-i] [-R] [-s BYTES] [-r ROUNDS]
 *                [-o OP] [-m KIND] [-f FILE] TEST
 *
 * Every byte of the target memory is checked against a model (per page: the
 * seed of the pattern last written there, plus the word the atomics
 * changed since) by RDMA READ and by the CPU. The program exits 0 when all
 * is as expected, 1 with a "FAIL: ..." line otherwise; on success its last
 * line is "OK test=... key=value ..." (pages evicted, moved, merged; events
 * run by the racing thread; transient error completions).
 *
 *   -p       pinned MRs instead of ODP ones (lazyfree and swap only: the
 *            comparison; pinned pages are not evicted, so -p checks bytes only)
 *   -i       one implicit ODP MR (NULL, SIZE_MAX) for the local and the
 *            target side instead of explicit ones
 *   -R       racing: a second thread runs the event in a loop while the
 *            main thread does -r rounds (at least two events) of traffic
 *            over the target in 256 KiB windows. An error completion of the
 *            kinds a fault racing an invalidation may give today
 *            (REM_ACCESS_ERR, REM_OP_ERR, LOC_PROT_ERR, LOC_ACCESS_ERR) is
 *            counted, the QPs are reconnected and the operation retried;
 *            wrong bytes are never accepted
 *   -o OP    what writes the target: write (RDMA WRITE), send (SEND into a
 *            receive on the target), atomic (FETCH_ADD and CMP_SWP on one
 *            word of a page), all (each in turn; the default)
 *   -m KIND  the target memory for swap, numa, compaction, memcg: anon
 *            (MAP_PRIVATE anonymous, the default) or shmem (memfd_create,
 *            MAP_SHARED)
 *   -f FILE  the file of the file test (default $SOFTODP_DISK/mm_rdma.data)
 *
 * Tests (ROUNDS repeats the event cycle; default sizes in brackets):
 *   lazyfree   [256 KiB] CPU fills the target, MADV_FREE, the writer
 *              rewrites every page through the MR, MADV_PAGEOUT: the CPU and
 *              RDMA READ must see the written bytes (a clean lazyfree page
 *              dirtied only through the mirror must not be discarded)
 *   swap       [1 MiB] write, MADV_PAGEOUT (every page must leave: pagemap
 *              "swapped" for anon, not present for shmem), RDMA READ
 *              (read-after-swap-in, the responder faults from swap), write
 *              into the read-faulted (clean swap cache) pages, pageout,
 *              write into the swapped-out pages (write-after-reclaim),
 *              pageout, CPU and RDMA READ check
 *   file       [1 MiB] MAP_SHARED file: write, msync(MS_SYNC) and an
 *              O_DIRECT read of the file (the bytes reached the disk); again
 *              after writeback cleaned the pages; write, munmap, fsync,
 *              O_DIRECT; POSIX_FADV_DONTNEED (drop_caches if needed) until
 *              no page is cached, a new mapping at the same address, RDMA
 *              READ from disk. -R: msync(MS_SYNC) in a loop
 *   numa       [1 MiB] move_pages() every page to the other node (status
 *              checked), traffic; migrate_pages() back, traffic;
 *              mbind(MPOL_BIND, MPOL_MF_MOVE), traffic. A page the kernel
 *              left behind (migration is best effort) is asked for again,
 *              up to 5 tries ("migrate_retries=" counts them). -R:
 *              move_pages back and forth
 *   compaction [1 MiB] the buffer made of the lowest-PFN pages of a pool
 *              16 times its size, the rest freed (shmem: pages interleaved
 *              with freed ones), traffic, /proc/sys/vm/compact_memory: some
 *              page must get a new PFN (compaction leaves pages above where
 *              its scanners meet: up to 8 tries, the pages re-placed on the
 *              other node between them), traffic. -R: compact_memory in a
 *              loop
 *   ksm        [256 KiB x 2] two buffers written with the same bytes,
 *              MADV_MERGEABLE, KSM run with a fast scan until every page pair
 *              shares one PFN, RDMA READ of both, the writer rewrites half of
 *              one: only those pages change and get their own PFN, the rest
 *              stays merged; ksm/run=2 unmerges, ksm settings are restored
 *   thp-collapse [2 MiB] a 2 MiB aligned region of small pages written by
 *              RDMA, MADV_COLLAPSE (AnonHugePages must become 2048 kB),
 *              traffic. -R: MADV_PAGEOUT + MADV_COLLAPSE in a loop
 *   memcg      [48 MiB] run inside a cgroup whose memory.max is smaller than
 *              the target (the caller puts the process there): write it all
 *              in 1 MiB pieces (memory.swap.current must grow), check it all,
 *              memory.reclaim, write it all again, check. -R: memory.reclaim
 *              in a loop
 * Traffic over a window: RDMA READ check, then per writer the write and an
 * RDMA READ check, then a CPU check.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "verbs_util.h"

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
/* <numaif.h> is libnuma's; the syscalls need only these */
#define MPOL_DEFAULT 0
#define MPOL_BIND 2
#define MPOL_MF_MOVE (1 << 1)
#define MAXNODE 64

#define PAGE 4096UL
#define WORDS (PAGE / 8)
#define HUGE_2M (2UL << 20)
#define LOC_MAX (1UL << 20)	/* one transfer at most */
#define RACE_WIN (256UL << 10)	/* racing traffic window */
#define MAX_RETRIES 50
#define WAIT_S 300		/* bound of every poll */

static const char *dev = "rxe0";
static int gidx = -1;
static size_t size;		/* 0: the test's default */
static int rounds = 2;
static int odp = 1;
static int implicit;
static int racing;
static const char *opname = "all";
static const char *kind = "anon";
static const char *file;

enum { OP_WRITE = 1, OP_SEND = 2, OP_ATOMIC = 4 };
static int ops;

/* ---- the model ---------------------------------------------------------- */

struct pmodel {
	uint64_t val;		/* the atomics' word, when has_word */
	uint32_t seed;		/* pattern of the page; 0: zeros */
	uint16_t word;
	uint8_t has_word;
};

struct target {
	const char *name;
	char *buf;
	size_t len;
	struct pmodel *m;
	struct ibv_mr *mr;
	int fd;			/* shmem or file; -1 for anon */
};

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* Word k of page p under seed: never zero, the same in every target. */
static uint64_t pattern_word(uint32_t seed, size_t p, unsigned int k)
{
	if (!seed)
		return 0;
	return mix(((uint64_t)seed << 40) ^ ((uint64_t)p << 9) ^ k) | 1;
}

static uint64_t model_word(const struct pmodel *m, size_t p, unsigned int k)
{
	if (m->has_word && m->word == k)
		return m->val;
	return pattern_word(m->seed, p, k);
}

static void model_page(const struct pmodel *m, size_t p, uint64_t *out)
{
	unsigned int k;

	for (k = 0; k < WORDS; k++)
		out[k] = model_word(m, p, k);
}

/* The expected bytes of t's pages [off, off + len) into dst. */
static void gen_range(void *dst, const struct target *t, size_t off,
		      size_t len)
{
	size_t i;

	for (i = 0; i < len / PAGE; i++)
		model_page(&t->m[off / PAGE + i], off / PAGE + i,
			   (uint64_t *)((char *)dst + i * PAGE));
}

static void model_set(struct target *t, size_t off, size_t len, uint32_t seed)
{
	size_t p;

	for (p = off / PAGE; p < (off + len) / PAGE; p++) {
		t->m[p].seed = seed;
		t->m[p].has_word = 0;
	}
}

static int page_is_zero(const unsigned char *b)
{
	size_t i;

	for (i = 0; i < PAGE; i++)
		if (b[i])
			return 0;
	return 1;
}

/* Compare got (t's bytes [off, off + len) as someone saw them) with the model. */
static void check_bytes(const struct target *t, size_t off, size_t len,
			const void *got, const char *what)
{
	const unsigned char *g = got;
	size_t i, bad = 0, zeros = 0, first = 0, fb = 0;
	uint64_t want[WORDS];
	unsigned int wb = 0;

	for (i = 0; i < len / PAGE; i++) {
		size_t p = off / PAGE + i;
		const unsigned char *w = (const unsigned char *)want;

		model_page(&t->m[p], p, want);
		if (!memcmp(g + i * PAGE, want, PAGE))
			continue;
		if (page_is_zero(g + i * PAGE))
			zeros++;
		if (!bad++) {
			first = p;
			for (fb = 0; g[i * PAGE + fb] == w[fb]; fb++)
				;
			wb = w[fb];
			fb += i * PAGE;
		}
	}
	if (bad)
		die("%s: %s: %zu of %zu pages wrong (%zu of them read as zeros); first: page %zu byte %zu is %#x, expected %#x",
		    what, t->name, bad, len / PAGE, zeros, first,
		    fb % PAGE, g[fb], wb);
}

/* ---- verbs ------------------------------------------------------------- */

static struct vctx v;
static char *loc;		/* LOC_MAX of transfer buffer + atomic result */
static uint64_t *res;
static struct ibv_mr *lmr, *imr;
static uint32_t next_seed = 1;
static uint64_t next_recv = 1;

static struct {
	enum ibv_wc_status st;
	const char *key;
	long n;
} transient[] = {
	{ IBV_WC_REM_ACCESS_ERR, "rem_access_err", 0 },
	{ IBV_WC_REM_OP_ERR, "rem_op_err", 0 },
	{ IBV_WC_LOC_PROT_ERR, "loc_prot_err", 0 },
	{ IBV_WC_LOC_ACCESS_ERR, "loc_access_err", 0 },
};
#define NTRANSIENT (sizeof(transient) / sizeof(transient[0]))
static long ntransient;

/* Statistics for the OK line. */
static size_t st_evicted, st_swapped, st_moved, st_merged, st_collapsed;
static atomic_long events, event_hits;

static uint64_t va(const void *p)
{
	return (uintptr_t)p;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * An error completion. Without -R nothing may fail. With -R a fault racing
 * the event may complete with an access error today (issue 11): count it,
 * reconnect and let the caller retry the operation.
 */
static void on_error(enum ibv_wc_status st, int tries, const char *what)
{
	size_t i;

	for (i = 0; racing && i < NTRANSIENT; i++)
		if (transient[i].st == st)
			break;
	if (!racing || i == NTRANSIENT || tries >= MAX_RETRIES)
		die("%s: completion status %s%s", what, ibv_wc_status_str(st),
		    racing && tries >= MAX_RETRIES ? " (retries exhausted)" : "");
	transient[i].n++;
	ntransient++;
	vctx_reconnect(&v);
}

static void rdma(enum ibv_wr_opcode op, void *laddr, size_t len,
		 const void *raddr, const struct target *t, const char *what)
{
	enum ibv_wc_status st;
	int tries = 0;

	while ((st = vctx_rdma(&v, op, lmr, laddr, len, va(raddr),
			       t->mr->rkey)) != IBV_WC_SUCCESS)
		on_error(st, tries++, what);
}

static uint64_t atomic_op(enum ibv_wr_opcode op, const void *raddr,
			  const struct target *t, uint64_t compare_add,
			  uint64_t swap, const char *what)
{
	enum ibv_wc_status st;
	int tries = 0;

	*res = 0xdeadbeefdeadbeefULL;
	while ((st = vctx_atomic(&v, op, lmr, res, va(raddr), t->mr->rkey,
				 compare_add, swap)) != IBV_WC_SUCCESS)
		on_error(st, tries++, what);
	return *res;
}

static size_t min_sz(size_t a, size_t b)
{
	return a < b ? a : b;
}

/* RDMA WRITE t's pages [off, off + len) with a new pattern (or seed's). */
static void op_write(struct target *t, size_t off, size_t len, uint32_t seed)
{
	size_t o, n;

	for (o = off; o < off + len; o += n) {
		n = min_sz(LOC_MAX, off + len - o);
		model_set(t, o, n, seed ? seed : next_seed++);
		gen_range(loc, t, o, n);
		rdma(IBV_WR_RDMA_WRITE, loc, n, t->buf + o, t, "RDMA WRITE");
	}
}

/* SEND a new pattern into receives posted on t's pages [off, off + len). */
static void op_send(struct target *t, size_t off, size_t len)
{
	enum ibv_wc_status st;
	size_t o, n;
	int tries;

	for (o = off; o < off + len; o += n) {
		n = min_sz(LOC_MAX, off + len - o);
		model_set(t, o, n, next_seed++);
		gen_range(loc, t, o, n);
		for (tries = 0;; tries++) {
			vctx_post_recv(&v, t->mr, t->buf + o, n, next_recv);
			st = vctx_send(&v, lmr, loc, n, next_recv++);
			if (st == IBV_WC_SUCCESS)
				break;
			on_error(st, tries, "SEND");
		}
	}
}

/*
 * FETCH_ADD and CMP_SWP on one word of the pages [off, off + len): every
 * page when all, else at most 64 of them spread over the range. The word
 * is fixed per page until the page is rewritten, so the model needs one.
 */
static void op_atomics(struct target *t, size_t off, size_t len, int all)
{
	size_t p, first = off / PAGE, end = (off + len) / PAGE;
	size_t stride = all ? 1 : (end - first + 63) / 64;
	uint64_t got, old, add;
	struct pmodel *m;
	char *a;

	for (p = first; p < end; p += stride) {
		m = &t->m[p];
		if (!m->has_word) {
			m->word = mix(m->seed ^ (p << 20)) % WORDS;
			m->val = pattern_word(m->seed, p, m->word);
			m->has_word = 1;
		}
		a = t->buf + p * PAGE + m->word * 8;
		old = m->val;
		add = 0x100000001ULL * (p % 251 + 1);
		got = atomic_op(IBV_WR_ATOMIC_FETCH_AND_ADD, a, t, add, 0,
				"FETCH_ADD");
		if (got != old)
			die("FETCH_ADD on %s page %zu returned %#llx, expected %#llx",
			    t->name, p, (unsigned long long)got,
			    (unsigned long long)old);
		m->val = old + add;
		if (p == first) {	/* a compare that misses changes nothing */
			got = atomic_op(IBV_WR_ATOMIC_CMP_AND_SWP, a, t,
					m->val + 1, 0, "CMP_SWP (miss)");
			if (got != m->val)
				die("CMP_SWP (miss) on %s page %zu returned %#llx, expected %#llx",
				    t->name, p, (unsigned long long)got,
				    (unsigned long long)m->val);
		}
		got = atomic_op(IBV_WR_ATOMIC_CMP_AND_SWP, a, t, m->val,
				mix(m->val), "CMP_SWP");
		if (got != m->val)
			die("CMP_SWP on %s page %zu returned %#llx, expected %#llx",
			    t->name, p, (unsigned long long)got,
			    (unsigned long long)m->val);
		m->val = mix(m->val);
	}
}

static void read_check(struct target *t, size_t off, size_t len,
		       const char *what)
{
	size_t o, n;

	for (o = off; o < off + len; o += n) {
		n = min_sz(LOC_MAX, off + len - o);
		memset(loc, 0xa5, n);
		rdma(IBV_WR_RDMA_READ, loc, n, t->buf + o, t, "RDMA READ");
		check_bytes(t, o, n, loc, what);
	}
}

static void cpu_check(struct target *t, size_t off, size_t len,
		      const char *what)
{
	check_bytes(t, off, len, t->buf + off, what);
}

/* The writers of -o over [off, off + len); every page when all_pages. */
static void writers(struct target *t, size_t off, size_t len, int all_pages)
{
	if (ops & OP_WRITE)
		op_write(t, off, len, 0);
	if (ops & OP_SEND)
		op_send(t, off, len);
	if (ops & OP_ATOMIC)
		op_atomics(t, off, len, all_pages);
}

/* READ check, each writer with a READ check after it, CPU check. */
static void traffic(struct target *t, size_t off, size_t len)
{
	read_check(t, off, len, "RDMA READ before the writes");
	if (ops & OP_WRITE) {
		op_write(t, off, len, 0);
		read_check(t, off, len, "RDMA READ after RDMA WRITE");
	}
	if (ops & OP_SEND) {
		op_send(t, off, len);
		read_check(t, off, len, "RDMA READ after SEND");
	}
	if (ops & OP_ATOMIC) {
		op_atomics(t, off, len, 0);
		read_check(t, off, len, "RDMA READ after atomics");
	}
	cpu_check(t, off, len, "CPU read after the traffic");
}

/* ---- memory ------------------------------------------------------------ */

static void *map_anon(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED)
		die("mmap %zu: %m", len);
	return p;
}

static void *map_shmem(size_t len, int *fd)
{
	void *p;

	*fd = memfd_create("mm_rdma", 0);
	if (*fd < 0 || ftruncate(*fd, len))
		die("memfd_create: %m");
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
	if (p == MAP_FAILED)
		die("mmap memfd: %m");
	return p;
}

static void target_init(struct target *t, const char *name, void *buf,
			size_t len, int fd)
{
	t->name = name;
	t->buf = buf;
	t->len = len;
	t->fd = fd;
	t->m = calloc(len / PAGE, sizeof(*t->m));
	if (!t->m)
		die("calloc: %m");
	t->mr = implicit ? imr : vctx_reg(&v, buf, len, odp);
}

/* A target of -m KIND. */
static void target_kind(struct target *t, const char *name, size_t len)
{
	int fd = -1;
	void *p;

	if (!strcmp(kind, "anon"))
		p = map_anon(len);
	else if (!strcmp(kind, "shmem"))
		p = map_shmem(len, &fd);
	else
		die("unknown memory kind %s", kind);
	target_init(t, name, p, len, fd);
}

static void target_fini(struct target *t)
{
	if (!implicit && ibv_dereg_mr(t->mr))
		die("ibv_dereg_mr: %m");
	free(t->m);
}

static void verbs_open(void)
{
	vctx_open(&v, dev, gidx, IBV_QPT_RC, 0);
	loc = map_anon(LOC_MAX + PAGE);
	res = (uint64_t *)(loc + LOC_MAX);
	if (implicit)
		lmr = imr = vctx_reg_implicit(&v);
	else
		lmr = vctx_reg(&v, loc, LOC_MAX + PAGE, odp);
}

static void verbs_close(void)
{
	if (ibv_dereg_mr(lmr))
		die("ibv_dereg_mr: %m");
	vctx_close(&v);
}

/* /proc/self/pagemap: bit 63 present, 62 swapped, 0-54 PFN (root only). */
#define PM_PRESENT (1ULL << 63)
#define PM_SWAP (1ULL << 62)
#define PM_PFN ((1ULL << 55) - 1)

static void pagemap(const void *p, size_t len, uint64_t *out)
{
	static int fd = -1;
	size_t n = len / PAGE * 8;

	if (fd < 0)
		fd = open("/proc/self/pagemap", O_RDONLY);
	if (fd < 0 || pread(fd, out, n, va(p) / PAGE * 8) != (ssize_t)n)
		die("/proc/self/pagemap: %m");
}

struct resid {
	size_t pages, present, swapped;
};

static struct resid residency(const struct target *t)
{
	uint64_t *e = malloc(t->len / PAGE * 8);
	struct resid r = { .pages = t->len / PAGE };
	size_t i;

	if (!e)
		die("malloc: %m");
	pagemap(t->buf, t->len, e);
	for (i = 0; i < r.pages; i++) {
		r.present += !!(e[i] & PM_PRESENT);
		r.swapped += !!(e[i] & PM_SWAP);
	}
	free(e);
	return r;
}

/* PFNs of t's pages (0: not present); needs CAP_SYS_ADMIN. */
static uint64_t *pfns(const struct target *t)
{
	uint64_t *e = malloc(t->len / PAGE * 8);
	size_t i;

	if (!e)
		die("malloc: %m");
	pagemap(t->buf, t->len, e);
	for (i = 0; i < t->len / PAGE; i++) {
		if (!(e[i] & PM_PRESENT)) {
			e[i] = 0;
			continue;
		}
		e[i] &= PM_PFN;
		if (!e[i])
			die("pagemap shows no PFNs: run as root");
	}
	return e;
}

/*
 * MADV_PAGEOUT from every CPU we may run on: it drains only the calling
 * CPU's LRU batch, and pages faulted in by rxe's worker on another CPU
 * can sit in that CPU's batch, where reclaim cannot isolate them.
 */
static void pageout_all_cpus(void *p, size_t len)
{
	cpu_set_t old, one;
	int cpu;

	if (sched_getaffinity(0, sizeof(old), &old))
		die("sched_getaffinity: %m");
	for (cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		if (!CPU_ISSET(cpu, &old))
			continue;
		CPU_ZERO(&one);
		CPU_SET(cpu, &one);
		if (sched_setaffinity(0, sizeof(one), &one))
			die("sched_setaffinity: %m");
		if (madvise(p, len, MADV_PAGEOUT))
			die("madvise(MADV_PAGEOUT): %m");
	}
	if (sched_setaffinity(0, sizeof(old), &old))
		die("sched_setaffinity: %m");
}

/*
 * Page t out until no page is present (a few passes: a lazyfree page that
 * turns out dirty is only made swap-backed by the first). With must (and
 * ODP MRs: pinned pages stay) every page has to leave, anon ones to swap.
 */
static struct resid evict(struct target *t, int must, const char *when)
{
	struct resid r;
	int pass;

	for (pass = 0; pass < 8; pass++) {
		pageout_all_cpus(t->buf, t->len);
		r = residency(t);
		if (!r.present)
			break;
	}
	if (must && odp) {
		if (r.present)
			die("MADV_PAGEOUT %s: %zu of %zu pages of %s still resident (no swap?)",
			    when, r.present, r.pages, t->name);
		if (t->fd < 0 && r.swapped != r.pages)
			die("MADV_PAGEOUT %s: only %zu of %zu pages of %s in swap",
			    when, r.swapped, r.pages, t->name);
	}
	st_evicted += r.pages - r.present;
	st_swapped += r.swapped;
	return r;
}

static void write_str(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd < 0)
		die("open %s: %m", path);
	n = write(fd, val, strlen(val));
	if (n != (ssize_t)strlen(val))
		die("write %s to %s: %m", val, path);
	close(fd);
}

/* Like write_str, but a write refused with EAGAIN returns 0. */
static int try_write_str(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd < 0)
		die("open %s: %m", path);
	n = write(fd, val, strlen(val));
	close(fd);
	if (n < 0 && errno == EAGAIN)
		return 0;
	if (n != (ssize_t)strlen(val))
		die("write %s to %s: %m", val, path);
	return 1;
}

static void read_str(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		die("open %s: %m", path);
	n = read(fd, buf, len - 1);
	if (n < 0)
		die("read %s: %m", path);
	buf[n] = 0;
	buf[strcspn(buf, "\n")] = 0;
	close(fd);
}

static long read_long(const char *path)
{
	char buf[64], *end;
	long x;

	read_str(path, buf, sizeof(buf));
	x = strtol(buf, &end, 10);
	if (end == buf)
		die("%s: not a number: %s", path, buf);
	return x;
}

/* ---- racing ------------------------------------------------------------ */

static atomic_int race_stop;
static struct target *race_t;
static void (*race_event)(struct target *t);

static void *race_thread(void *arg)
{
	(void)arg;
	while (!atomic_load(&race_stop)) {
		race_event(race_t);
		atomic_fetch_add(&events, 1);
	}
	return NULL;
}

/*
 * -r rounds of traffic over t in RACE_WIN windows (and on until the event
 * ran twice) while a thread runs event in a loop; then check everything.
 */
static void race(struct target *t, void (*event)(struct target *t))
{
	size_t nwin = (t->len + RACE_WIN - 1) / RACE_WIN, off;
	double deadline = now() + WAIT_S;
	pthread_t th;
	int r;

	race_t = t;
	race_event = event;
	if (pthread_create(&th, NULL, race_thread, NULL))
		die("pthread_create");
	for (r = 0; r < rounds || atomic_load(&events) < 2; r++) {
		if (now() > deadline)
			die("the event ran only %ld times in %d s of traffic",
			    (long)atomic_load(&events), WAIT_S);
		off = r % nwin * RACE_WIN;
		traffic(t, off, min_sz(RACE_WIN, t->len - off));
	}
	atomic_store(&race_stop, 1);
	pthread_join(th, NULL);
	rounds = r;
	read_check(t, 0, t->len, "RDMA READ after the race");
	cpu_check(t, 0, t->len, "CPU read after the race");
}

/* ---- lazyfree ---------------------------------------------------------- */

static int test_lazyfree(void)
{
	struct target t;
	struct resid r;

	if (racing)
		die("lazyfree has no racing variant");
	verbs_open();
	target_init(&t, "lazyfree buffer", map_anon(size), size, -1);
	model_set(&t, 0, size, next_seed++);
	gen_range(t.buf, &t, 0, size);	/* written by the CPU */
	if (madvise(t.buf, size, MADV_FREE))
		die("madvise(MADV_FREE): %m");
	writers(&t, 0, size, 1);	/* every page rewritten through the MR */
	r = evict(&t, 0, "after the RDMA writes");
	printf("after MADV_PAGEOUT: %zu of %zu pages resident, %zu in swap\n",
	       r.present, r.pages, r.swapped);
	cpu_check(&t, 0, size,
		  "CPU read after MADV_FREE, RDMA writes, MADV_PAGEOUT");
	read_check(&t, 0, size, "RDMA READ after MADV_PAGEOUT");
	target_fini(&t);
	verbs_close();
	return 0;
}

/* ---- swap -------------------------------------------------------------- */

static void ev_pageout(struct target *t)
{
	if (madvise(t->buf, t->len, MADV_PAGEOUT))
		die("madvise(MADV_PAGEOUT): %m");
}

static int test_swap(void)
{
	struct target t;
	int r;

	verbs_open();
	target_kind(&t, "swapped buffer", size);
	if (racing) {
		race(&t, ev_pageout);
		goto out;
	}
	for (r = 0; r < rounds; r++) {
		writers(&t, 0, size, 1);
		evict(&t, 1, "after the first writes");
		/* read-after-swap-in: the responder faults the pages in */
		read_check(&t, 0, size, "RDMA READ of swapped-out pages");
		/* the pages are back, read-faulted: clean, still in swap cache */
		writers(&t, 0, size, 1);
		evict(&t, 1, "after writes into swapped-in pages");
		/* write-after-reclaim: straight into swapped-out pages */
		writers(&t, 0, size / 2, 1);
		evict(&t, 1, "after writes into swapped-out pages");
		cpu_check(&t, 0, size, "CPU read after swap-out");
		read_check(&t, 0, size, "RDMA READ after the CPU swapped in");
	}
out:
	target_fini(&t);
	verbs_close();
	return 0;
}

/* ---- file -------------------------------------------------------------- */

static const char *path;

/* Read the file with O_DIRECT (the disk's bytes, not the page cache's). */
static void direct_check(struct target *t, const char *what)
{
	char *buf = map_anon(t->len);
	size_t o;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_DIRECT);

	if (fd < 0)
		die("open(%s, O_DIRECT): %m", path);
	for (o = 0; o < t->len; o += n) {
		n = pread(fd, buf + o, t->len - o, o);
		if (n <= 0)
			die("pread(O_DIRECT) %s at %zu: %m", path, o);
	}
	close(fd);
	check_bytes(t, 0, t->len, buf, what);
	munmap(buf, t->len);
}

static void msync_all(struct target *t)
{
	if (msync(t->buf, t->len, MS_SYNC))
		die("msync: %m");
}

static void ev_msync(struct target *t)
{
	msync_all(t);
}

static size_t cached_pages(struct target *t)
{
	unsigned char *vec = malloc(t->len / PAGE);
	size_t i, n = 0;

	if (!vec || mincore(t->buf, t->len, vec))
		die("mincore: %m");
	for (i = 0; i < t->len / PAGE; i++)
		n += vec[i] & 1;
	free(vec);
	return n;
}

static int test_file(void)
{
	char defpath[4096];
	struct target t;
	size_t cached;
	char *p;
	int fd, r;

	if (!odp)
		die("file: ODP MRs only (the test remaps the file)");
	if (size > LOC_MAX)
		die("file: at most %lu bytes", LOC_MAX);
	path = file;
	if (!path) {
		if (!getenv("SOFTODP_DISK"))
			die("file: needs -f FILE or $SOFTODP_DISK");
		snprintf(defpath, sizeof(defpath), "%s/mm_rdma.data",
			 getenv("SOFTODP_DISK"));
		path = defpath;
	}
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, size))
		die("%s: %m", path);
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		die("mmap %s: %m", path);
	verbs_open();
	target_init(&t, "file mapping", p, size, fd);
	model_set(&t, 0, size, next_seed++);
	gen_range(loc, &t, 0, size);
	if (pwrite(fd, loc, size, 0) != (ssize_t)size || fsync(fd))
		die("pwrite/fsync %s: %m", path);
	if (racing) {
		race(&t, ev_msync);
		msync_all(&t);
		direct_check(&t, "O_DIRECT read after the race and msync");
		goto out;
	}
	for (r = 0; r < rounds; r++) {
		read_check(&t, 0, size, "RDMA READ of the file mapping");
		writers(&t, 0, size, 1);
		msync_all(&t);
		direct_check(&t, "O_DIRECT read after RDMA writes and msync");
		/* writeback cleaned the pages: writes must dirty them again */
		writers(&t, 0, size / 2, 1);
		msync_all(&t);
		direct_check(&t, "O_DIRECT read after writes into cleaned pages and msync");
		/* dirty pages survive munmap; fsync writes them */
		writers(&t, size / 2, size / 2, 1);
		if (munmap(t.buf, size))
			die("munmap: %m");
		if (fsync(fd))
			die("fsync: %m");
		direct_check(&t, "O_DIRECT read after RDMA writes, munmap, fsync");
		/* drop the page cache, read it back from disk via RDMA */
		if (posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED))
			die("posix_fadvise(DONTNEED): %m");
		if (mmap(t.buf, size, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_FIXED, fd, 0) != t.buf)
			die("mmap MAP_FIXED %s: %m", path);
		cached = cached_pages(&t);
		if (cached) {
			write_str("/proc/sys/vm/drop_caches", "1");
			cached = cached_pages(&t);
		}
		if (cached)
			die("%zu pages of %s still cached after DONTNEED and drop_caches",
			    cached, path);
		st_evicted += size / PAGE;
		read_check(&t, 0, size, "RDMA READ through a new mapping (from disk)");
		cpu_check(&t, 0, size, "CPU read through the new mapping");
	}
out:
	target_fini(&t);
	verbs_close();
	munmap(t.buf, size);
	close(fd);
	unlink(path);
	return 0;
}

/* ---- numa -------------------------------------------------------------- */

static int nnodes;

static int online_nodes(void)
{
	char buf[64];
	int lo, hi;

	read_str("/sys/devices/system/node/online", buf, sizeof(buf));
	if (sscanf(buf, "%d-%d", &lo, &hi) == 2 && lo == 0)
		return hi + 1;
	return 1;
}

/* Node of each page of t into status (negative errno when not present). */
static void page_nodes(struct target *t, void **pages, int *status)
{
	size_t i, n = t->len / PAGE;

	for (i = 0; i < n; i++)
		pages[i] = t->buf + i * PAGE;
	if (syscall(SYS_move_pages, 0, n, pages, NULL, status, 0))
		die("move_pages (query): %m");
}

/*
 * Page migration is best effort: a page the kernel cannot isolate or lock
 * at that moment (in a per-CPU LRU batch, locked for swap-in, under
 * writeback) stays where it is. A user asks again; so do these helpers,
 * up to MIGRATE_TRIES times, and count the extra passes.
 */
#define MIGRATE_TRIES 5
static size_t st_migrate_retries;

static size_t count_on(const int *status, size_t n, int node)
{
	size_t i, there = 0;

	for (i = 0; i < n; i++)
		there += status[i] == node;
	return there;
}

/*
 * Every page of t must be on node, when must (and ODP); again() asks the
 * kernel once more (migrate_pages, mbind) while some page is elsewhere.
 */
static size_t on_node(struct target *t, int node, int must, const char *how,
		      void (*again)(struct target *t, int node))
{
	size_t n = t->len / PAGE, there;
	void **pages = malloc(n * sizeof(*pages));
	int *status = malloc(n * sizeof(*status));
	int try;

	if (!pages || !status)
		die("malloc: %m");
	for (try = 1;; try++) {
		page_nodes(t, pages, status);
		there = count_on(status, n, node);
		if (there == n || !must || !odp || try == MIGRATE_TRIES)
			break;
		st_migrate_retries++;
		again(t, node);
	}
	if (must && odp && there != n)
		die("%s: %zu of %zu pages on node %d after %d tries (page 0 status %d)",
		    how, there, n, node, try, status[0]);
	free(pages);
	free(status);
	return there;
}

/*
 * move_pages() every page of t to the next node; returns pages moved. When
 * must (and ODP), pages left behind are asked for again, and every page
 * must have moved.
 */
static size_t move_all(struct target *t, int must)
{
	size_t i, k, n = t->len / PAGE, moved = 0, left;
	void **pages = malloc(n * sizeof(*pages));
	int *status = malloc(n * sizeof(*status));
	int *nodes = malloc(n * sizeof(*nodes));
	int try;

	if (!pages || !status || !nodes)
		die("malloc: %m");
	page_nodes(t, pages, status);
	for (i = 0; i < n; i++)
		nodes[i] = status[i] < 0 ? 0 : (status[i] + 1) % nnodes;
	for (left = n, try = 1;; try++) {
		if (syscall(SYS_move_pages, 0, left, pages, nodes, status,
			    MPOL_MF_MOVE) < 0)
			die("move_pages: %m");
		/* keep the pages that did not get there, for another pass */
		for (i = 0, k = 0; i < left; i++) {
			if (status[i] == nodes[i]) {
				moved++;
				continue;
			}
			pages[k] = pages[i];
			nodes[k] = nodes[i];
			status[k++] = status[i];
		}
		left = k;
		if (!left || !must || !odp || try == MIGRATE_TRIES)
			break;
		st_migrate_retries++;
	}
	if (left && must && odp)
		die("move_pages: %zu pages of %s not moved after %d tries (one: status %d, wanted node %d)",
		    left, t->name, try, status[0], nodes[0]);
	free(pages);
	free(status);
	free(nodes);
	return moved;
}

static void ev_move_pages(struct target *t)
{
	atomic_fetch_add(&event_hits, move_all(t, 0));
}

/* everything of the process's on other nodes to node x */
static void migrate_to(struct target *t, int x)
{
	unsigned long to = 1UL << x, from = ((1UL << nnodes) - 1) & ~to;

	(void)t;
	/* > 0: pages that could not be moved (on_node() asks again) */
	if (syscall(SYS_migrate_pages, 0, MAXNODE, &from, &to) < 0)
		die("migrate_pages: %m");
}

/* bind t to node x, moving its pages */
static void bind_to(struct target *t, int x)
{
	unsigned long to = 1UL << x;

	if (syscall(SYS_mbind, t->buf, t->len, MPOL_BIND, &to, MAXNODE,
		    MPOL_MF_MOVE))
		die("mbind(MPOL_BIND, MPOL_MF_MOVE): %m");
}

static int test_numa(void)
{
	struct target t;
	int node, x, r;
	void *pg;

	nnodes = online_nodes();
	if (nnodes < 2)
		die("numa: %d NUMA node(s) online, need 2", nnodes);
	verbs_open();
	target_kind(&t, "migrated buffer", size);
	if (racing) {
		op_write(&t, 0, size, 0);	/* populate */
		race(&t, ev_move_pages);
		st_moved = atomic_load(&event_hits);
		if (odp && !st_moved)
			die("move_pages moved no page during the race");
		goto out;
	}
	/*
	 * All on node 0 first: the writer may have run on CPUs of both
	 * nodes, and a step below moves only the pages not yet where it
	 * sends them (each step must move, and invalidate, every page).
	 * Each page is written with the byte it has, so it exists.
	 */
	for (pg = t.buf; (char *)pg < t.buf + size; pg = (char *)pg + PAGE)
		*(volatile char *)pg = *(volatile char *)pg;
	migrate_to(&t, 0);
	on_node(&t, 0, 1, "placing the buffer on node 0", migrate_to);
	for (r = 0; r < rounds; r++) {
		traffic(&t, 0, size);
		/* every page to the other node, one by one */
		st_moved += move_all(&t, 1);
		traffic(&t, 0, size);
		pg = t.buf;
		if (syscall(SYS_move_pages, 0, 1, &pg, NULL, &node, 0) || node < 0)
			die("move_pages (query): %m (status %d)", node);
		x = (node + 1) % nnodes;
		migrate_to(&t, x);
		st_moved += on_node(&t, x, 1, "after migrate_pages", migrate_to);
		traffic(&t, 0, size);
		/* bind the buffer to the next node, moving its pages */
		x = (x + 1) % nnodes;
		bind_to(&t, x);
		st_moved += on_node(&t, x, 1, "after mbind", bind_to);
		traffic(&t, 0, size);
		if (syscall(SYS_mbind, t.buf, size, MPOL_DEFAULT, NULL, 0, 0))
			die("mbind(MPOL_DEFAULT): %m");
	}
out:
	target_fini(&t);
	verbs_close();
	return 0;
}

/* ---- compaction -------------------------------------------------------- */

static void compact(void)
{
	write_str("/proc/sys/vm/compact_memory", "1");
}

static void ev_compact(struct target *t)
{
	(void)t;
	compact();
}

static size_t pfns_changed(struct target *t, const uint64_t *before)
{
	uint64_t *after = pfns(t);
	size_t i, n = 0;

	for (i = 0; i < t->len / PAGE; i++)
		n += before[i] && after[i] && before[i] != after[i];
	free(after);
	return n;
}

static const uint64_t *sort_pfns;

static int by_pfn(const void *a, const void *b)
{
	uint64_t x = sort_pfns[*(const size_t *)a], y = sort_pfns[*(const size_t *)b];

	return x < y ? -1 : x > y;
}

/*
 * An anon buffer of len made of the lowest-PFN pages of a pool 16 times
 * its size (moved in with mremap), the rest of the pool freed again.
 * Compaction migrates pages from the bottom of a zone into the free room
 * of partly used blocks above them and leaves pages that already sit at
 * the top: these are at the bottom, with holes above them.
 */
static char *map_low_pages(size_t len)
{
	size_t n = len / PAGE, pn = 16 * n, i;
	char *buf = map_anon(len), *pool = map_anon(pn * PAGE);
	uint64_t *e = malloc(pn * 8);
	size_t *idx = malloc(pn * sizeof(*idx));

	if (!e || !idx)
		die("malloc: %m");
	for (i = 0; i < pn; i++) {
		pool[i * PAGE] = 1;
		idx[i] = i;
	}
	pagemap(pool, pn * PAGE, e);
	for (i = 0; i < pn; i++)
		if (!(e[i] &= PM_PFN))
			die("pagemap shows no PFNs: run as root");
	sort_pfns = e;
	qsort(idx, pn, sizeof(*idx), by_pfn);
	for (i = 0; i < n; i++)
		if (mremap(pool + idx[i] * PAGE, PAGE, PAGE,
			   MREMAP_MAYMOVE | MREMAP_FIXED, buf + i * PAGE) !=
		    buf + i * PAGE)
			die("mremap: %m");
	munmap(pool, pn * PAGE);
	free(e);
	free(idx);
	return buf;
}

static int test_compaction(void)
{
	struct target t;
	uint64_t *before;
	size_t i, moved;
	char *filler;
	int r;

	nnodes = online_nodes();
	verbs_open();
	if (!strcmp(kind, "anon")) {
		target_init(&t, "compacted buffer", map_low_pages(size), size, -1);
	} else {
		target_kind(&t, "compacted buffer", size);
		/* interleave the target's pages with freed ones: holes */
		filler = map_anon(size);
		for (i = 0; i < size / PAGE; i++) {
			t.buf[i * PAGE] = 1;
			filler[i * PAGE] = 1;
		}
		munmap(filler, size);
	}
	model_set(&t, 0, size, next_seed++);
	gen_range(t.buf, &t, 0, size);
	if (racing) {
		race(&t, ev_compact);
		goto out;
	}
	for (r = 0; r < rounds; r++) {
		traffic(&t, 0, size);
		/*
		 * Compaction moves only the pages below the point where its
		 * migration scanner (from the zone's start) meets its free
		 * scanner (from the end, in partly used blocks): when it left
		 * all of ours alone, place them elsewhere (another node, or
		 * out to swap and back) and ask again, a bounded number of
		 * times.
		 */
		moved = 0;
		for (i = 0; i < 8 && !moved; i++) {
			if (i && nnodes > 1) {
				move_all(&t, 0);
			} else if (i) {
				evict(&t, 0, "to re-place the pages");
				cpu_check(&t, 0, size, "CPU read after swap-in");
			}
			before = pfns(&t);
			compact();
			moved = pfns_changed(&t, before);
			free(before);
		}
		if (odp && !moved)
			die("compact_memory moved none of the %zu pages, placed in %zu different ways",
			    size / PAGE, i);
		st_moved += moved;
		traffic(&t, 0, size);
	}
out:
	target_fini(&t);
	verbs_close();
	return 0;
}

/* ---- ksm --------------------------------------------------------------- */

#define KSM "/sys/kernel/mm/ksm/"
static const char *const ksm_knobs[] = { "run", "pages_to_scan",
					 "sleep_millisecs" };
static char ksm_saved[3][32];
static int ksm_touched;

static void ksm_restore(void)
{
	char p[128];
	int i;

	if (!ksm_touched)
		return;
	write_str(KSM "run", "2");	/* unmerge everything */
	for (i = 2; i >= 0; i--) {
		snprintf(p, sizeof(p), KSM "%s", ksm_knobs[i]);
		write_str(p, ksm_saved[i]);
	}
}

static void ksm_start(void)
{
	char p[128];
	int i;

	for (i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), KSM "%s", ksm_knobs[i]);
		read_str(p, ksm_saved[i], sizeof(ksm_saved[i]));
	}
	ksm_touched = 1;
	atexit(ksm_restore);
	write_str(KSM "pages_to_scan", "4096");
	write_str(KSM "sleep_millisecs", "10");
	write_str(KSM "run", "1");
}

/* Poll (bounded) until the process has at least n (at most, if !atleast) merged pages. */
static long ksm_wait(long n, int atleast)
{
	double deadline = now() + WAIT_S;
	long m;

	for (;;) {
		m = read_long("/proc/self/ksm_merging_pages");
		if (atleast ? m >= n : m <= n)
			return m;
		if (now() > deadline)
			die("ksm: %ld pages merged after %d s, waiting for %s%ld",
			    m, WAIT_S, atleast ? ">= " : "<= ", n);
		usleep(20000);
	}
}

/* Pages [lo, hi) of a and b: same PFN when shared, different otherwise. */
static void expect_shared(struct target *a, struct target *b, size_t lo,
			  size_t hi, int shared, const char *when)
{
	uint64_t *pa = pfns(a), *pb = pfns(b);
	size_t i;

	for (i = lo; i < hi; i++)
		if ((pa[i] == pb[i]) != shared)
			die("ksm %s: page %zu of both buffers %s (PFN %#llx and %#llx)",
			    when, i, shared ? "not merged" : "still shared",
			    (unsigned long long)pa[i],
			    (unsigned long long)pb[i]);
	free(pa);
	free(pb);
}

static int test_ksm(void)
{
	size_t n = size / PAGE;
	struct target a, b;
	uint32_t seed;

	if (racing)
		die("ksm has no racing variant");
	verbs_open();
	target_init(&a, "buffer A", map_anon(size), size, -1);
	target_init(&b, "buffer B", map_anon(size), size, -1);
	seed = next_seed++;
	op_write(&a, 0, size, seed);
	op_write(&b, 0, size, seed);
	read_check(&a, 0, size, "RDMA READ of A before merging");
	if (madvise(a.buf, size, MADV_MERGEABLE) ||
	    madvise(b.buf, size, MADV_MERGEABLE))
		die("madvise(MADV_MERGEABLE): %m");
	ksm_start();
	st_merged = ksm_wait(2 * n, 1);
	expect_shared(&a, &b, 0, n, 1, "after merging");
	read_check(&a, 0, size, "RDMA READ of merged A");
	read_check(&b, 0, size, "RDMA READ of merged B");
	expect_shared(&a, &b, 0, n, 1, "after RDMA READ");

	writers(&a, 0, size / 2, 1);	/* breaks COW of A's first half */
	read_check(&a, 0, size, "RDMA READ of A after the writes");
	read_check(&b, 0, size, "RDMA READ of B after the writes into A");
	cpu_check(&a, 0, size, "CPU read of A after the writes");
	cpu_check(&b, 0, size, "CPU read of B after the writes into A");
	expect_shared(&a, &b, 0, n / 2, 0, "after the writes into A");
	expect_shared(&a, &b, n / 2, n, 1, "after the writes into A's first half");

	write_str(KSM "run", "2");
	ksm_wait(0, 0);
	cpu_check(&a, 0, size, "CPU read of A after unmerging");
	cpu_check(&b, 0, size, "CPU read of B after unmerging");
	read_check(&b, 0, size, "RDMA READ of B after unmerging");
	target_fini(&a);
	target_fini(&b);
	verbs_close();
	return 0;
}

/* ---- thp-collapse ------------------------------------------------------ */

/* AnonHugePages (kB) of the mapping that contains p. */
static long anon_huge_kb(const void *p)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	unsigned long lo, hi;
	char line[512];
	int in = 0;
	long kb = -1;

	if (!f)
		die("/proc/self/smaps: %m");
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2)	/* a mapping */
			in = va(p) >= lo && va(p) < hi;
		else if (in && sscanf(line, "AnonHugePages: %ld kB", &kb) == 1)
			break;
	}
	fclose(f);
	if (kb < 0)
		die("no AnonHugePages for %p in /proc/self/smaps", p);
	return kb;
}

/*
 * MADV_COLLAPSE, tried again on EAGAIN (as its manual says) up to 10 times:
 * 0 or the last errno. A swap-in in the collapse fails with EAGAIN on a page
 * that is locked (its read still in flight) after waiting for it, so every
 * try gets further.
 */
static int collapse(struct target *t)
{
	int i;

	for (i = 0; i < 10; i++) {
		if (!madvise(t->buf, t->len, MADV_COLLAPSE))
			return 0;
		if (errno != EAGAIN)
			break;
	}
	return errno;
}

/*
 * Page the region out (a THP is split or swapped), then collapse it again
 * (swapping it in). khugepaged collapses a range only if one of its pages
 * is mapped writable (else SCAN_PAGE_RO, EINVAL); when the pageout took
 * every page and the traffic refaulted none before the collapse looked,
 * the race was lost every time on a slow kernel. So the first page is
 * faulted back writable first, which changes no byte. A collapse racing
 * the traffic may still fail for the moment: EAGAIN ten times in a row,
 * or EINVAL when the swap-in in khugepaged's path lost a race; the race
 * requires that some collapses succeed.
 */
static atomic_long collapse_eagain, collapse_enomem, collapse_einval,
	collapse_ebusy;

static void ev_pageout_collapse(struct target *t)
{
	int err;

	ev_pageout(t);
	if (madvise(t->buf, PAGE, MADV_POPULATE_WRITE))
		die("madvise(MADV_POPULATE_WRITE): %m");
	err = collapse(t);
	if (!err)
		atomic_fetch_add(&event_hits, 1);
	else if (err == EAGAIN)
		atomic_fetch_add(&collapse_eagain, 1);
	else if (err == ENOMEM)
		atomic_fetch_add(&collapse_enomem, 1);
	else if (err == EINVAL)
		atomic_fetch_add(&collapse_einval, 1);
	else if (err == EBUSY)
		atomic_fetch_add(&collapse_ebusy, 1);
	else
		die("madvise(MADV_COLLAPSE): %s", strerror(err));
}

static int test_thp_collapse(void)
{
	struct target t;
	char *p;
	long kb;
	int err;

	if (size != HUGE_2M)
		die("thp-collapse: the size is 2 MiB");
	p = map_anon(2 * HUGE_2M);
	p = (char *)(((uintptr_t)p + HUGE_2M - 1) & ~(HUGE_2M - 1));
	if (madvise(p, HUGE_2M, MADV_NOHUGEPAGE))
		die("madvise(MADV_NOHUGEPAGE): %m");
	verbs_open();
	target_init(&t, "collapsed region", p, HUGE_2M, -1);
	op_write(&t, 0, HUGE_2M, 0);	/* 512 small pages, faulted by rxe */
	kb = anon_huge_kb(p);
	if (kb)
		die("region has %ld kB of huge pages before MADV_COLLAPSE", kb);
	if (madvise(p, HUGE_2M, MADV_HUGEPAGE))
		die("madvise(MADV_HUGEPAGE): %m");
	err = collapse(&t);
	if (err)
		die("madvise(MADV_COLLAPSE): %s", strerror(err));
	kb = anon_huge_kb(p);
	if (kb < 2048)
		die("AnonHugePages is %ld kB after MADV_COLLAPSE, expected 2048",
		    kb);
	st_collapsed = 1;
	if (racing) {
		race(&t, ev_pageout_collapse);
		if (!atomic_load(&event_hits))
			die("no MADV_COLLAPSE succeeded in %ld tries during the race (EAGAIN %ld, ENOMEM %ld, EINVAL %ld, EBUSY %ld)",
			    (long)atomic_load(&events),
			    (long)atomic_load(&collapse_eagain),
			    (long)atomic_load(&collapse_enomem),
			    (long)atomic_load(&collapse_einval),
			    (long)atomic_load(&collapse_ebusy));
		st_collapsed += atomic_load(&event_hits);
	} else {
		traffic(&t, 0, HUGE_2M);
		if (anon_huge_kb(p) < 2048)
			die("the huge page was split by the traffic");
	}
	target_fini(&t);
	verbs_close();
	return 0;
}

/* ---- memcg ------------------------------------------------------------- */

static char cg[1024];

static void cg_file(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", cg, name);
}

static long cg_long(const char *name)
{
	char p[1200];

	cg_file(p, sizeof(p), name);
	return read_long(p);
}

/* Count of key in the cgroup's flat-keyed file name (e.g. memory.events). */
static long cg_key(const char *name, const char *key)
{
	char p[1200], line[256], k[128];
	long x = -1, val;
	FILE *f;

	cg_file(p, sizeof(p), name);
	f = fopen(p, "r");
	if (!f)
		die("%s: %m", p);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%127s %ld", k, &val) == 2 && !strcmp(k, key))
			x = val;
	fclose(f);
	if (x < 0)
		die("%s: no %s", p, key);
	return x;
}

static void ev_reclaim(struct target *t)
{
	char p[1200];

	(void)t;
	cg_file(p, sizeof(p), "memory.reclaim");
	atomic_fetch_add(&event_hits, try_write_str(p, "1M"));
}

static int test_memcg(void)
{
	char line[512], p[1200], amount[32];
	struct target t;
	long max, swapped;
	FILE *f;

	f = fopen("/proc/self/cgroup", "r");
	if (!f || !fgets(line, sizeof(line), f) || strncmp(line, "0::", 3))
		die("/proc/self/cgroup: no cgroup v2 entry");
	fclose(f);
	line[strcspn(line, "\n")] = 0;
	snprintf(cg, sizeof(cg), "/sys/fs/cgroup%s", line + 3);
	if (!strcmp(line + 3, "/"))
		die("memcg: run me in a child cgroup with memory.max set");
	cg_file(p, sizeof(p), "memory.max");
	read_str(p, line, sizeof(line));
	max = atol(line);
	if (!strcmp(line, "max") || max <= 0 || (size_t)max >= size)
		die("memcg: memory.max (%s) must be smaller than the %zu byte target",
		    line, size);
	verbs_open();
	target_kind(&t, "buffer larger than memory.max", size);
	if (racing) {
		race(&t, ev_reclaim);
		if (!atomic_load(&event_hits))
			die("no memory.reclaim write succeeded during the race");
		goto out;
	}
	/* all of it, 1 MiB at a time: the kernel has to swap the rest out */
	writers(&t, 0, size, 0);
	swapped = cg_long("memory.swap.current");
	if (swapped <= 0)
		die("memcg: nothing swapped out after writing %zu bytes under memory.max %ld",
		    size, max);
	st_swapped = swapped / PAGE;
	read_check(&t, 0, size, "RDMA READ under memory.max");
	cpu_check(&t, 0, size, "CPU read under memory.max");
	snprintf(amount, sizeof(amount), "%ld", max / 2);
	cg_file(p, sizeof(p), "memory.reclaim");
	try_write_str(p, amount);
	/* write-after-reclaim */
	writers(&t, 0, size, 0);
	read_check(&t, 0, size, "RDMA READ after memory.reclaim and rewrite");
	cpu_check(&t, 0, size, "CPU read after memory.reclaim and rewrite");
out:
	if (cg_key("memory.events", "oom_kill"))
		die("memcg: OOM kills in %s", cg);
	printf("memcg %s: memory.max=%ld peak=%ld swap.current=%ld\n", cg, max,
	       cg_long("memory.peak"), cg_long("memory.swap.current"));
	target_fini(&t);
	verbs_close();
	return 0;
}

/* ------------------------------------------------------------------------ */

static const struct {
	const char *name;
	int (*fn)(void);
	size_t size;
} tests[] = {
	{ "lazyfree", test_lazyfree, 256 << 10 },
	{ "swap", test_swap, 1 << 20 },
	{ "file", test_file, 1 << 20 },
	{ "numa", test_numa, 1 << 20 },
	{ "compaction", test_compaction, 1 << 20 },
	{ "ksm", test_ksm, 256 << 10 },
	{ "thp-collapse", test_thp_collapse, HUGE_2M },
	{ "memcg", test_memcg, 48 << 20 },
};

int main(int argc, char **argv)
{
	double t0 = now();
	size_t i, k;
	int c, ret;

	while ((c = getopt(argc, argv, "d:g:s:r:piRo:m:f:")) != -1) {
		switch (c) {
		case 'd': dev = optarg; break;
		case 'g': gidx = atoi(optarg); break;
		case 's': size = strtoull(optarg, NULL, 0); break;
		case 'r': rounds = atoi(optarg); break;
		case 'p': odp = 0; break;
		case 'i': implicit = 1; break;
		case 'R': racing = 1; break;
		case 'o': opname = optarg; break;
		case 'm': kind = optarg; break;
		case 'f': file = optarg; break;
		default: die("bad option");
		}
	}
	if (optind != argc - 1 || gidx < 0)
		die("usage: mm_rdma -d DEV -g GIDX [-p] [-i] [-R] [-s BYTES] [-r ROUNDS] [-o write|send|atomic|all] [-m anon|shmem] [-f FILE] TEST");
	if (!strcmp(opname, "write"))
		ops = OP_WRITE;
	else if (!strcmp(opname, "send"))
		ops = OP_SEND;
	else if (!strcmp(opname, "atomic"))
		ops = OP_ATOMIC;
	else if (!strcmp(opname, "all"))
		ops = OP_WRITE | OP_SEND | OP_ATOMIC;
	else
		die("unknown op %s", opname);
	if (implicit && !odp)
		die("-i and -p exclude each other");
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
		if (strcmp(argv[optind], tests[i].name))
			continue;
		if (!odp && strcmp(tests[i].name, "lazyfree") &&
		    strcmp(tests[i].name, "swap"))
			die("-p: only lazyfree and swap");
		if (!size)
			size = tests[i].size;
		if (!size || size % PAGE)
			die("-s must be a multiple of %lu", PAGE);
		ret = tests[i].fn();
		printf("OK test=%s op=%s mr=%s size=%zu rounds=%d evicted=%zu swapped=%zu moved=%zu merged=%zu collapsed=%zu events=%ld transient=%ld migrate_retries=%zu",
		       tests[i].name, opname,
		       !odp ? "pinned" : implicit ? "implicit" : "explicit",
		       size, rounds, st_evicted, st_swapped, st_moved, st_merged,
		       st_collapsed, (long)atomic_load(&events), ntransient,
		       st_migrate_retries);
		for (k = 0; k < NTRANSIENT; k++)
			printf(" %s=%ld", transient[k].key, transient[k].n);
		printf(" seconds=%.2f\n", now() - t0);
		return ret;
	}
	die("unknown test %s", argv[optind]);
}
