// SPDX-License-Identifier: GPL-2.0
/*
 * odp_rdma - on-demand paging scenarios on one rxe device, loopback.
 *
 * usage: odp_rdma -d DEV -g GIDX [-s BYTES] [-r ROUNDS] [-p] [-f FILE] TEST
 *
 * Every test checks the bytes it moved, exits 0 when all is as expected and
 * 1 with a "FAIL: ..." line otherwise. -p registers pinned MRs instead of
 * ODP ones (the same scenarios, for comparison). Tests:
 *   write read send srq ud atomic   traffic with ODP MRs on both sides,
 *                                   MADV_DONTNEED on both before each round
 *   remap      munmap + mmap at the same address between transfers
 *   mprotect   PROT_READ target: READ works, WRITE fails with
 *              IBV_WC_REM_ACCESS_ERR and leaves the bytes unchanged
 *   fork       COW after fork: neither side's writes leak into the other
 *   file       MAP_SHARED file (-f) coherent with read()/write()
 *   truncated  MAP_SHARED memfd cut to half its size under the MR: a WRITE
 *              past the end (SIGBUS for the CPU) fails with
 *              IBV_WC_REM_ACCESS_ERR at once; the half before it keeps its
 *              bytes
 *   thp        a 2 MiB transparent huge page (counters are checked by the
 *              caller)
 *   hugetlb    a MAP_HUGETLB 2 MiB page
 *   sparse     an -s sized MR (bigger than RAM is fine), 4 KiB touched
 *              every 64 MiB
 *   regloop    -r register/deregister cycles of an -s sized MR, with an
 *              RDMA WRITE into it every 100th cycle
 *   implicit   an implicit MR (NULL, SIZE_MAX) as local and remote key for
 *              WRITE, READ and ATOMIC over separate mappings, one made after
 *              registration
 *   implicit-unmap   munmap one mapping: remote access to it fails with
 *              IBV_WC_REM_ACCESS_ERR, the others keep working, and the
 *              mirror's chunks for it are reclaimed
 *   implicit-cycles  -r register/deregister cycles of implicit MRs, with
 *              traffic every 100th
 *   hold       an explicit and an implicit ODP MR with some traffic, then
 *              "READY <explicit lkey> <implicit lkey>" and wait for EOF on
 *              stdin (for rdma statistic / resource queries)
 *   prefetch   ibv_advise_mr on a 64 KiB buffer (-a ADVICE: prefetch,
 *              write, nofault; -A for async, -i for an implicit MR), of
 *              which only the first half was touched by the CPU; prints
 *              "PREFETCHED <lkey>", waits for a line on stdin, RDMA WRITEs
 *              the buffer, prints "WRITTEN", waits for EOF
 *   prefetch-dereg  an async PREFETCH_WRITE of -s bytes, then deregister at
 *              once, -r times
 *   advise-errors   ibv_advise_mr refusals: unknown lkey (ENOENT), range
 *              outside the MR and pinned MR (EINVAL), PREFETCH_WRITE on a
 *              read-only MR (EPERM), unmapped memory with FLUSH (EFAULT)
 *   flush-persistent  registering with persistent-flush access (the kernel's
 *              IB_ACCESS_FLUSH_PERSISTENT) over system RAM: a pinned MR and
 *              an ODP MR are refused alike (EINVAL); with global-flush
 *              access both register. Prints "pinned=E odp=E".
 *   bw         (a benchmark) -r RDMA WRITEs of -s bytes into an ODP MR (-i:
 *              implicit) after one warm-up pass; prints "mbps=..."
 *   touch      (a benchmark) first RDMA WRITE pass over an -s ODP MR, after
 *              a synchronous PREFETCH_WRITE with -a write; prints
 *              "prefetch_s=... first_s=..."
 *   regcost    (a benchmark) time to register an implicit MR and an -s
 *              explicit ODP MR; prints "implicit_s=... explicit_s=..."
 *   regtime    (a benchmark) time to register an -s sized MR, then to
 *              RDMA WRITE all of it once (first touch) and once more;
 *              prints "reg_s=... first_s=... second_s=..."
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "verbs_util.h"

static const char *dev = "rxe0";
static int gidx = -1;
static size_t size = 64 * 1024;
static int rounds = 4;
static int odp = 1;
static const char *file;

#define HUGE_2M (2UL << 20)

static void *map_anon(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED)
		die("mmap %zu: %m", len);
	return p;
}

/*
 * Drop the pages so the next access faults. Only for ODP MRs: a pinned MR
 * keeps the old pages and would no longer see the process's memory.
 */
static void dontneed(void *p, size_t len)
{
	if (odp && madvise(p, len, MADV_DONTNEED))
		die("madvise(DONTNEED): %m");
}

static void fill(void *p, size_t len, unsigned int seed)
{
	unsigned char *b = p;
	size_t i;

	for (i = 0; i < len; i++)
		b[i] = (unsigned char)(i * 7 + seed * 31 + (i >> 12));
}

static void expect_same(const void *got, const void *want, size_t len,
			const char *what)
{
	const unsigned char *g = got, *w = want;
	size_t i;

	for (i = 0; i < len; i++)
		if (g[i] != w[i])
			die("%s: byte %zu is %#x, expected %#x", what, i, g[i],
			    w[i]);
}

static void expect_ok(enum ibv_wc_status st, const char *what)
{
	if (st != IBV_WC_SUCCESS)
		die("%s: completion status %s", what, ibv_wc_status_str(st));
}

static void expect_status(enum ibv_wc_status st, enum ibv_wc_status want,
			  const char *what)
{
	if (st != want)
		die("%s: completion status %s, expected %s", what,
		    ibv_wc_status_str(st), ibv_wc_status_str(want));
}

static uint64_t va(const void *p)
{
	return (uintptr_t)p;
}

static int test_write_read(int read)
{
	struct vctx v;
	void *loc = map_anon(size), *rem = map_anon(size), *ref = map_anon(size);
	struct ibv_mr *lmr, *rmr;
	int r;

	vctx_open(&v, dev, gidx, IBV_QPT_RC, 0);
	lmr = vctx_reg(&v, loc, size, odp);
	rmr = vctx_reg(&v, rem, size, odp);
	for (r = 0; r < rounds; r++) {
		dontneed(loc, size);
		dontneed(rem, size);
		fill(ref, size, r);
		if (read) {
			memcpy(rem, ref, size);
			expect_ok(vctx_rdma(&v, IBV_WR_RDMA_READ, lmr, loc,
					    size, va(rem), rmr->rkey), "READ");
			expect_same(loc, ref, size, "READ destination");
		} else {
			memcpy(loc, ref, size);
			expect_ok(vctx_rdma(&v, IBV_WR_RDMA_WRITE, lmr, loc,
					    size, va(rem), rmr->rkey), "WRITE");
			expect_same(rem, ref, size, "WRITE target");
		}
	}
	ibv_dereg_mr(lmr);
	ibv_dereg_mr(rmr);
	vctx_close(&v);
	return 0;
}

static int test_send(enum ibv_qp_type type, int flags)
{
	/* UD carries one MTU per message, plus a 40-byte GRH on receive */
	size_t msg = type == IBV_QPT_UD ? 1024 : size;
	size_t grh = type == IBV_QPT_UD ? 40 : 0;
	void *src = map_anon(msg), *dst = map_anon(msg + grh),
	     *ref = map_anon(msg);
	struct ibv_mr *smr, *dmr;
	struct vctx v;
	int r;

	vctx_open(&v, dev, gidx, type, flags);
	smr = vctx_reg(&v, src, msg, odp);
	dmr = vctx_reg(&v, dst, msg + grh, odp);
	for (r = 0; r < rounds; r++) {
		dontneed(src, msg);
		dontneed(dst, msg + grh);
		fill(ref, msg, r);
		memcpy(src, ref, msg);
		vctx_post_recv(&v, dmr, dst, msg + grh, r);
		expect_ok(vctx_send(&v, smr, src, msg, r), "SEND/RECV");
		expect_same((char *)dst + grh, ref, msg, "receive buffer");
	}
	ibv_dereg_mr(smr);
	ibv_dereg_mr(dmr);
	vctx_close(&v);
	return 0;
}

static int test_atomic(void)
{
	uint64_t *tgt = map_anon(4096), *res = map_anon(4096);
	struct ibv_mr *tmr, *rmr;
	struct vctx v;
	uint64_t want;
	int r;

	vctx_open(&v, dev, gidx, IBV_QPT_RC, 0);
	tmr = vctx_reg(&v, tgt, 4096, odp);
	rmr = vctx_reg(&v, res, 4096, odp);
	for (r = 0; r < rounds; r++) {
		dontneed(tgt, 4096);
		dontneed(res, 4096);
		/* target is a zero page now: CMP_SWP 0 -> A faults it writable */
		want = 0xabcd0000ULL + r;
		expect_ok(vctx_atomic(&v, IBV_WR_ATOMIC_CMP_AND_SWP, rmr,
				      &res[r], va(&tgt[r]), tmr->rkey, 0, want),
			  "CMP_SWP");
		if (res[r] != 0 || tgt[r] != want)
			die("CMP_SWP: returned %#llx (want 0), memory %#llx (want %#llx)",
			    (unsigned long long)res[r],
			    (unsigned long long)tgt[r],
			    (unsigned long long)want);
		/* a failing compare leaves memory alone */
		expect_ok(vctx_atomic(&v, IBV_WR_ATOMIC_CMP_AND_SWP, rmr,
				      &res[r + 8], va(&tgt[r]), tmr->rkey, 1, 2),
			  "CMP_SWP (miss)");
		if (res[r + 8] != want || tgt[r] != want)
			die("CMP_SWP miss changed memory to %#llx",
			    (unsigned long long)tgt[r]);
		expect_ok(vctx_atomic(&v, IBV_WR_ATOMIC_FETCH_AND_ADD, rmr,
				      &res[r + 16], va(&tgt[r]), tmr->rkey, 5, 0),
			  "FETCH_ADD");
		if (res[r + 16] != want || tgt[r] != want + 5)
			die("FETCH_ADD: returned %#llx, memory %#llx",
			    (unsigned long long)res[r + 16],
			    (unsigned long long)tgt[r]);
	}
	ibv_dereg_mr(tmr);
	ibv_dereg_mr(rmr);
	vctx_close(&v);
	return 0;
}

static int test_remap(void)
{
	char *loc = map_anon(size), *rem = map_anon(size), *ref = map_anon(size);
	struct ibv_mr *lmr, *rmr;
	struct vctx v;
	int r;

	vctx_open(&v, dev, gidx, IBV_QPT_RC, 0);
	lmr = vctx_reg(&v, loc, size, odp);
	rmr = vctx_reg(&v, rem, size, odp);
	for (r = 0; r < rounds; r++) {
		fill(ref, size, r);
		memcpy(loc, ref, size);
		expect_ok(vctx_rdma(&v, IBV_WR_RDMA_WRITE, lmr, loc, size,
				    va(rem), rmr->rkey), "WRITE");
		expect_same(rem, ref, size, "WRITE target");
		/* new, zeroed memory at the same address */
		if (mmap(rem, size, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != rem)
			die("mmap MAP_FIXED: %m");
		if (rem[0] || rem[size - 1])
			die("remapped memory is not zero");
		expect_ok(vctx_rdma(&v, IBV_WR_RDMA_READ, lmr, loc, size,
				    va(rem), rmr->rkey), "READ after remap");
		memset(ref, 0, size);
		expect_same(loc, ref, size, "READ of the new mapping");
	}
	ibv_dereg_mr(lmr);
	ibv_dereg_mr(rmr);
	vctx_close(&v);
	return 0;
}

static int test_mprotect(void)
{
	char *loc = map_anon(size), *rem = map_anon(size), *ref = map_anon(size);
	struct ibv_mr *lmr, *rmr;
	enum ibv_wc_status st;
	struct vctx v;

	vctx_open(&v, dev, gidx, IBV_QPT_RC, 0);
	lmr = vctx_reg(&v, loc, size, odp);
	rmr = vctx_reg(&v, rem, size, odp);
	fill(ref, size, 1);
	memcpy(rem, ref, size);
	/* make the target writable in the mirror first, then revoke it */
	expect_ok(vctx_rdma(&v, IBV_WR_RDMA_WRITE, lmr, loc, 64, va(rem),
			    rmr->rkey), "WRITE before mprotect");
	memcpy(ref, loc, 64);
	if (mprotect(rem, size, PROT_READ))
		die("mprotect: %m");
	expect_ok(vctx_rdma(&v, IBV_WR_RDMA_READ, lmr, loc, size, va(rem),
			    rmr->rkey), "READ of PROT_READ memory");
	expect_same(loc, ref, size, "READ of PROT_READ memory");
	fill(loc, size, 2);
	st = vctx_rdma(&v, IBV_WR_RDMA_WRITE, lmr, loc, size, va(rem),
		       rmr->rkey);
	expect_status(st, IBV_WC_REM_ACCESS_ERR, "WRITE to PROT_READ memory");
	expect_same(rem, ref, size, "PROT_READ target after refused WRITE");
	ibv_dereg_mr(lmr);
	ibv_dereg_mr(rmr);
	vctx_close(&v);
	return 0;
}

static int test_fork(void)
{
	char *loc = map_anon(size), *rem = map_anon(size);
	char *a = map_anon(size), *b = map_anon(size), *c = map_anon(size);
	int to_child[2], to_parent[2], status;
	struct ibv_mr *lmr, *rmr;
	struct vctx v;
	char tok;
	pid_t pid;

	fill(a, size, 1);
	fill(b, size, 2);
	fill(c, size, 3);
	vctx_open(&v, dev, gidx, IBV_QPT_RC, 0);
	lmr = vctx_reg(&v, loc, size, odp);
	rmr = vctx_reg(&v, rem, size, odp);
	memcpy(rem, a, size);
	/* mirror the target (writable) before the fork */
	expect_ok(vctx_rdma(&v, IBV_WR_RDMA_READ, lmr, loc, size, va(rem),
			    rmr->rkey), "READ before fork");
	expect_same(loc, a, size, "READ before fork");

	if (pipe(to_child) || pipe(to_parent))
		die("pipe: %m");
	pid = fork();
	if (pid < 0)
		die("fork: %m");
	if (pid == 0) {
		/* the child's own copy: the parent's MR must never see this */
		memcpy(rem, c, size);
		if (write(to_parent[1], "c", 1) != 1 ||
		    read(to_child[0], &tok, 1) != 1)
			die("child: pipe");
		expect_same(rem, c, size, "child's copy after parent's RDMA");
		_exit(0);
	}
	if (read(to_parent[0], &tok, 1) != 1)
		die("parent: pipe");
	expect_ok(vctx_rdma(&v, IBV_WR_RDMA_READ, lmr, loc, size, va(rem),
			    rmr->rkey), "READ after child wrote");
	expect_same(loc, a, size, "parent's MR after the child's writes");
	memcpy(loc, b, size);
	expect_ok(vctx_rdma(&v, IBV_WR_RDMA_WRITE, lmr, loc, size, va(rem),
			    rmr->rkey), "WRITE after fork");
	expect_same(rem, b, size, "parent's memory after RDMA WRITE");
	/* the parent's own CPU write (a COW break) is what RDMA sees next */
	memset(rem, 0x5a, 4096);
	expect_ok(vctx_rdma(&v, IBV_WR_RDMA_READ, lmr, loc, 4096, va(rem),
			    rmr->rkey), "READ after parent's CPU write");
	expect_same(loc, rem, 4096, "READ after parent's CPU write");
	if (write(to_child[1], "p", 1) != 1)
		die("parent: pipe");
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status))
		die("child failed (status %#x)", status);
	ibv_dereg_mr(lmr);
	ibv_dereg_mr(rmr);
	vctx_close(&v);
	return 0;
}

static int test_file(void)
{
	char *loc = map_anon(size), *ref = map_anon(size), *got = map_anon(size);
	struct ibv_mr *lmr, *fmr;
	struct vctx v;
	char *fm;
	int fd;

	if (!file)
		die("file test needs -f FILE");
	fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, size))
		die("%s: %m", file);
	fm = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (fm == MAP_FAILED)
		die("mmap %s: %m", file);
	vctx_open(&v, dev, gidx, IBV_QPT_RC, 0);
	lmr = vctx_reg(&v, loc, size, odp);
	fmr = vctx_reg(&v, fm, size, odp);

	fill(ref, size, 4);
	memcpy(loc, ref, size);
	expect_ok(vctx_rdma(&v, IBV_WR_RDMA_WRITE, lmr, loc, size, va(fm),
			    fmr->rkey), "WRITE to file mapping");
	if (pread(fd, got, size, 0) != (ssize_t)size)
		die("pread: %m");
	expect_same(got, ref, size, "file contents after RDMA WRITE");

	fill(ref, size, 5);
	if (pwrite(fd, ref, size, 0) != (ssize_t)size)
		die("pwrite: %m");
	expect_ok(vctx_rdma(&v, IBV_WR_RDMA_READ, lmr, loc, size, va(fm),
			    fmr->rkey), "READ of file mapping");
	expect_same(loc, ref, size, "RDMA READ after pwrite()");
	ibv_dereg_mr(lmr);
	ibv_dereg_mr(fmr);
	vctx_close(&v);
	munmap(fm, size);
	close(fd);
	return 0;
}

static int test_truncated(void)
{
	char *loc = map_anon(size), *ref = map_anon(size);
	size_t half = size / 2;
	struct ibv_mr *lmr, *fmr;
	enum ibv_wc_status st;
	struct vctx v;
	char *fm;
	int fd;

	fd = memfd_create("odp_rdma-truncated", 0);
	if (fd < 0 || ftruncate(fd, size))
		die("memfd_create: %m");
	fm = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (fm == MAP_FAILED)
		die("mmap memfd: %m");
	vctx_open(&v, dev, gidx, IBV_QPT_RC, 0);
	lmr = vctx_reg(&v, loc, size, odp);
	fmr = vctx_reg(&v, fm, size, odp);
	fill(loc, size, 6);
	expect_ok(vctx_rdma(&v, IBV_WR_RDMA_WRITE, lmr, loc, size, va(fm),
			    fmr->rkey), "WRITE before the cut");
	memcpy(ref, loc, half);
	if (ftruncate(fd, half))
		die("ftruncate: %m");
	fill(loc, size, 7);
	st = vctx_rdma(&v, IBV_WR_RDMA_WRITE, lmr, loc + half, half,
		       va(fm + half), fmr->rkey);
	expect_status(st, IBV_WC_REM_ACCESS_ERR, "WRITE past the end of the file");
	expect_same(fm, ref, half, "file contents before the cut");
	ibv_dereg_mr(lmr);
	ibv_dereg_mr(fmr);
	vctx_close(&v);
	munmap(fm, size);
	close(fd);
	return 0;
}

/* One 2 MiB page at a 2 MiB aligned address, THP or hugetlb. */
static char *map_huge(int hugetlb)
{
	char *p;

	if (hugetlb) {
		p = mmap(NULL, HUGE_2M, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
		if (p == MAP_FAILED)
			die("mmap(MAP_HUGETLB): %m (no huge pages reserved?)");
		return p;
	}
	p = map_anon(2 * HUGE_2M);
	p = (char *)(((uintptr_t)p + HUGE_2M - 1) & ~(HUGE_2M - 1));
	if (madvise(p, HUGE_2M, MADV_HUGEPAGE))
		die("madvise(MADV_HUGEPAGE): %m");
	return p;
}

static int test_huge(int hugetlb)
{
	char *loc = map_anon(HUGE_2M), *ref = map_anon(HUGE_2M);
	char *h = map_huge(hugetlb);
	struct ibv_mr *lmr, *hmr;
	struct vctx v;

	fill(ref, HUGE_2M, 6);
	memcpy(h, ref, HUGE_2M);	/* one fault: one huge page */
	vctx_open(&v, dev, gidx, IBV_QPT_RC, 0);
	lmr = vctx_reg(&v, loc, HUGE_2M, odp);
	hmr = vctx_reg(&v, h, HUGE_2M, odp);
	/* touch one 4 KiB piece first: the whole 2 MiB must be mapped */
	expect_ok(vctx_rdma(&v, IBV_WR_RDMA_READ, lmr, loc, 4096,
			    va(h + HUGE_2M / 2), hmr->rkey), "READ 4 KiB");
	expect_same(loc, ref + HUGE_2M / 2, 4096, "READ of 4 KiB");
	expect_ok(vctx_rdma(&v, IBV_WR_RDMA_READ, lmr, loc, HUGE_2M, va(h),
			    hmr->rkey), "READ 2 MiB");
	expect_same(loc, ref, HUGE_2M, "READ of the huge page");
	fill(loc, HUGE_2M, 7);
	expect_ok(vctx_rdma(&v, IBV_WR_RDMA_WRITE, lmr, loc, HUGE_2M, va(h),
			    hmr->rkey), "WRITE 2 MiB");
	expect_same(h, loc, HUGE_2M, "huge page after WRITE");
	ibv_dereg_mr(lmr);
	ibv_dereg_mr(hmr);
	vctx_close(&v);
	return 0;
}

static int test_sparse(void)
{
	const size_t stride = 64UL << 20, piece = 4096;
	char *big = map_anon(size), *loc = map_anon(piece), *ref = map_anon(piece);
	struct ibv_mr *lmr, *bmr;
	struct vctx v;
	size_t off;

	vctx_open(&v, dev, gidx, IBV_QPT_RC, 0);
	lmr = vctx_reg(&v, loc, piece, odp);
	bmr = vctx_reg(&v, big, size, odp);
	for (off = 0; off + piece <= size; off += stride) {
		fill(ref, piece, off / stride);
		memcpy(loc, ref, piece);
		expect_ok(vctx_rdma(&v, IBV_WR_RDMA_WRITE, lmr, loc, piece,
				    va(big + off), bmr->rkey), "sparse WRITE");
		expect_same(big + off, ref, piece, "sparse WRITE target");
	}
	ibv_dereg_mr(lmr);
	ibv_dereg_mr(bmr);
	vctx_close(&v);
	return 0;
}

static int test_regloop(void)
{
	char *loc = map_anon(size), *rem = map_anon(size);
	struct ibv_mr *lmr, *rmr;
	struct vctx v;
	int r;

	vctx_open(&v, dev, gidx, IBV_QPT_RC, 0);
	lmr = vctx_reg(&v, loc, size, odp);
	fill(loc, size, 8);
	for (r = 0; r < rounds; r++) {
		rmr = vctx_reg(&v, rem, size, odp);
		if (r % 100 == 0) {
			expect_ok(vctx_rdma(&v, IBV_WR_RDMA_WRITE, lmr, loc,
					    size, va(rem), rmr->rkey), "WRITE");
			expect_same(rem, loc, size, "WRITE target");
			dontneed(rem, size);
		}
		if (ibv_dereg_mr(rmr))
			die("ibv_dereg_mr: %m");
	}
	ibv_dereg_mr(lmr);
	vctx_close(&v);
	return 0;
}

static long live_ranges(void)
{
	FILE *f = fopen("/sys/kernel/debug/softodp_mirror/live", "r");
	long contexts, ranges;

	if (!f || fscanf(f, "contexts %ld ranges %ld", &contexts, &ranges) != 2)
		die("cannot read softodp_mirror/live");
	fclose(f);
	return ranges;
}

/* WRITE, READ back and two atomics through key @mr on @buf (8 KiB). */
static void implicit_traffic(struct vctx *v, struct ibv_mr *mr, char *buf,
			     char *scratch, unsigned int seed)
{
	uint64_t *res = (uint64_t *)(scratch + 4096);

	fill(scratch, 4096, seed);
	expect_ok(vctx_rdma(v, IBV_WR_RDMA_WRITE, mr, scratch, 4096, va(buf),
			    mr->rkey), "implicit WRITE");
	expect_same(buf, scratch, 4096, "implicit WRITE target");
	expect_ok(vctx_rdma(v, IBV_WR_RDMA_READ, mr, scratch + 2048, 1024,
			    va(buf + 100), mr->rkey), "implicit READ");
	expect_same(scratch + 2048, buf + 100, 1024, "implicit READ");
	*(uint64_t *)(buf + 4096) = 7;
	expect_ok(vctx_atomic(v, IBV_WR_ATOMIC_FETCH_AND_ADD, mr, res,
			      va(buf + 4096), mr->rkey, 5, 0), "implicit FETCH_ADD");
	if (*res != 7 || *(uint64_t *)(buf + 4096) != 12)
		die("implicit FETCH_ADD: got %llu, memory %llu",
		    (unsigned long long)*res,
		    (unsigned long long)*(uint64_t *)(buf + 4096));
	expect_ok(vctx_atomic(v, IBV_WR_ATOMIC_CMP_AND_SWP, mr, res,
			      va(buf + 4096), mr->rkey, 12, 99), "implicit CMP_SWP");
	if (*res != 12 || *(uint64_t *)(buf + 4096) != 99)
		die("implicit CMP_SWP: got %llu, memory %llu",
		    (unsigned long long)*res,
		    (unsigned long long)*(uint64_t *)(buf + 4096));
}

static int test_implicit(void)
{
	char *scratch = map_anon(8192), *bufs[4];
	struct ibv_mr *mr;
	struct vctx v;
	int i;

	for (i = 0; i < 3; i++)
		bufs[i] = map_anon(8192 + i * (8UL << 20));
	vctx_open(&v, dev, gidx, IBV_QPT_RC, 0);
	mr = vctx_reg_implicit(&v);
	bufs[3] = map_anon(8192);	/* after registration */
	for (i = 0; i < 4; i++)
		implicit_traffic(&v, mr, bufs[i], scratch, i);
	/* the stack and the heap are in the address space too */
	{
		char onstack[4096];

		fill(scratch, 4096, 9);
		expect_ok(vctx_rdma(&v, IBV_WR_RDMA_WRITE, mr, scratch, 4096,
				    va(onstack), mr->rkey), "WRITE to the stack");
		expect_same(onstack, scratch, 4096, "stack after WRITE");
	}
	ibv_dereg_mr(mr);
	vctx_close(&v);
	return 0;
}

static int test_implicit_unmap(void)
{
	const size_t len = 8UL << 20;	/* four chunks */
	char *scratch = map_anon(8192), *a = map_anon(len), *b = map_anon(8192);
	long before, touched, deadline;
	enum ibv_wc_status st;
	struct ibv_mr *mr;
	struct vctx v;
	size_t off;

	vctx_open(&v, dev, gidx, IBV_QPT_RC, 0);
	mr = vctx_reg_implicit(&v);
	implicit_traffic(&v, mr, b, scratch, 1);
	before = live_ranges();
	for (off = 0; off < len; off += 1UL << 20)
		implicit_traffic(&v, mr, a + off, scratch, 2);
	touched = live_ranges();
	if (touched < before + 4)
		die("touching 8 MiB made %ld chunks, expected >= 4",
		    touched - before);
	if (munmap(a, len))
		die("munmap: %m");
	/* reclaim of emptied chunks is queued by the invalidation: bounded poll */
	for (deadline = 100; live_ranges() > before && deadline; deadline--)
		usleep(50000);
	if (live_ranges() > before)
		die("chunks not reclaimed after munmap: %ld live, %ld before",
		    live_ranges(), before);

	fill(scratch, 4096, 3);
	st = vctx_rdma(&v, IBV_WR_RDMA_WRITE, mr, scratch, 4096, va(a),
		       mr->rkey);
	expect_status(st, IBV_WC_REM_ACCESS_ERR, "WRITE to unmapped memory");
	vctx_reconnect(&v);
	implicit_traffic(&v, mr, b, scratch, 4);
	ibv_dereg_mr(mr);
	vctx_close(&v);
	return 0;
}

static int test_implicit_cycles(void)
{
	char *scratch = map_anon(8192), *buf = map_anon(8192);
	struct ibv_mr *mr;
	struct vctx v;
	int r;

	vctx_open(&v, dev, gidx, IBV_QPT_RC, 0);
	for (r = 0; r < rounds; r++) {
		mr = vctx_reg_implicit(&v);
		if (r % 100 == 0)
			implicit_traffic(&v, mr, buf, scratch, r);
		if (ibv_dereg_mr(mr))
			die("ibv_dereg_mr: %m");
	}
	vctx_close(&v);
	return 0;
}

static void wait_stdin_line(void)
{
	char line[64];

	if (!fgets(line, sizeof(line), stdin) && ferror(stdin))
		die("stdin: %m");
}

static void wait_stdin_eof(void)
{
	char line[64];

	while (fgets(line, sizeof(line), stdin))
		;
}

static int test_hold(void)
{
	char *buf = map_anon(size), *scratch = map_anon(8192);
	char *ibuf = map_anon(8192);
	struct ibv_mr *emr, *imr;
	struct vctx v;

	vctx_open(&v, dev, gidx, IBV_QPT_RC, 0);
	emr = vctx_reg(&v, buf, size, 1);
	imr = vctx_reg_implicit(&v);
	fill(scratch, 4096, 1);
	expect_ok(vctx_rdma(&v, IBV_WR_RDMA_WRITE, imr, scratch, 4096, va(buf),
			    emr->rkey), "WRITE");
	implicit_traffic(&v, imr, ibuf, scratch, 2);
	printf("READY %u %u\n", emr->lkey, imr->lkey);
	fflush(stdout);
	wait_stdin_eof();
	ibv_dereg_mr(emr);
	ibv_dereg_mr(imr);
	vctx_close(&v);
	return 0;
}

static const char *advice = "prefetch";
static int async_advise;
static int implicit_mr;

static int advise(struct ibv_pd *pd, struct ibv_mr *mr, void *addr, size_t len,
		  const char *what, int async)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)addr, .length = len, .lkey = mr->lkey,
	};
	enum ibv_advise_mr_advice a;

	if (!strcmp(what, "prefetch"))
		a = IBV_ADVISE_MR_ADVICE_PREFETCH;
	else if (!strcmp(what, "write"))
		a = IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE;
	else if (!strcmp(what, "nofault"))
		a = IBV_ADVISE_MR_ADVICE_PREFETCH_NO_FAULT;
	else
		die("unknown advice %s", what);
	return ibv_advise_mr(pd, a, async ? 0 : IBV_ADVISE_MR_FLAG_FLUSH,
			     &sge, 1);
}

static int test_prefetch(void)
{
	const size_t len = 64 * 1024;
	char *buf = map_anon(len), *src = map_anon(len);
	struct ibv_mr *mr, *smr;
	struct vctx v;
	int err;

	vctx_open(&v, dev, gidx, IBV_QPT_RC, 0);
	memset(buf, 1, len / 2);	/* only the first half is resident */
	mr = implicit_mr ? vctx_reg_implicit(&v) : vctx_reg(&v, buf, len, 1);
	smr = vctx_reg(&v, src, len, 0);
	err = advise(v.pd, mr, buf, len, advice, async_advise);
	if (err)
		die("ibv_advise_mr(%s): %s", advice, strerror(err));
	printf("PREFETCHED %u\n", mr->lkey);
	fflush(stdout);
	wait_stdin_line();
	fill(src, len, 3);
	expect_ok(vctx_rdma(&v, IBV_WR_RDMA_WRITE, smr, src, len, va(buf),
			    mr->rkey), "WRITE after prefetch");
	expect_same(buf, src, len, "prefetched buffer after WRITE");
	printf("WRITTEN\n");
	fflush(stdout);
	wait_stdin_eof();
	ibv_dereg_mr(mr);
	ibv_dereg_mr(smr);
	vctx_close(&v);
	return 0;
}

static int test_prefetch_dereg(void)
{
	char *buf = map_anon(size);
	struct ibv_mr *mr;
	struct vctx v;
	int err, r;

	vctx_open(&v, dev, gidx, IBV_QPT_RC, 0);
	for (r = 0; r < rounds; r++) {
		mr = implicit_mr ? vctx_reg_implicit(&v) :
				   vctx_reg(&v, buf, size, 1);
		err = advise(v.pd, mr, buf, size, "write", 1);
		if (err)
			die("ibv_advise_mr: %s", strerror(err));
		if (ibv_dereg_mr(mr))
			die("ibv_dereg_mr during prefetch: %m");
		dontneed(buf, size);
	}
	vctx_close(&v);
	return 0;
}

static void expect_errno(int got, int want, const char *what)
{
	if (got != want)
		die("%s: ibv_advise_mr returned %d (%s), expected %d (%s)", what,
		    got, strerror(got), want, strerror(want));
}

/* rdma/ib_user_ioctl_verbs.h: IB_UVERBS_ACCESS_FLUSH_{GLOBAL,PERSISTENT} */
#define ACCESS_FLUSH_GLOBAL	(1 << 8)
#define ACCESS_FLUSH_PERSISTENT	(1 << 9)

/* 0 if an MR with @access registers over @buf, else the errno */
static int reg_errno(struct vctx *v, void *buf, size_t len, int access)
{
	struct ibv_mr *mr = ibv_reg_mr(v->pd, buf, len, access);

	if (!mr)
		return errno;
	ibv_dereg_mr(mr);
	return 0;
}

static int test_flush_persistent(void)
{
	const size_t len = 64 * 1024;
	int base = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE;
	char *buf = map_anon(len);
	int pinned, odp;
	struct vctx v;

	memset(buf, 1, len);
	vctx_open(&v, dev, gidx, IBV_QPT_RC, 0);
	pinned = reg_errno(&v, buf, len, base | ACCESS_FLUSH_PERSISTENT);
	odp = reg_errno(&v, buf, len, base | ACCESS_FLUSH_PERSISTENT |
			IBV_ACCESS_ON_DEMAND);
	printf("pinned=%s odp=%s\n", pinned ? strerror(pinned) : "ok",
	       odp ? strerror(odp) : "ok");
	if (pinned != EINVAL || odp != EINVAL)
		die("persistent flush over system RAM: pinned %d, ODP %d, expected EINVAL for both",
		    pinned, odp);
	if (reg_errno(&v, buf, len, base | ACCESS_FLUSH_GLOBAL) ||
	    reg_errno(&v, buf, len, base | ACCESS_FLUSH_GLOBAL |
		      IBV_ACCESS_ON_DEMAND))
		die("global flush access refused: %m");
	vctx_close(&v);
	printf("OK\n");
	return 0;
}

static int test_advise_errors(void)
{
	const size_t len = 64 * 1024;
	char *buf = map_anon(len), *hole = map_anon(len);
	struct ibv_mr *mr, *pinned, *ro, fake;
	struct vctx v;

	vctx_open(&v, dev, gidx, IBV_QPT_RC, 0);
	mr = vctx_reg(&v, buf, len, 1);
	pinned = vctx_reg(&v, buf, len, 0);
	ro = ibv_reg_mr(v.pd, buf, len, IBV_ACCESS_ON_DEMAND);
	if (!ro)
		die("read-only ODP MR: %m");
	fake = *mr;
	fake.lkey = mr->lkey ^ 0xffff00;
	expect_errno(advise(v.pd, &fake, buf, len, "prefetch", 0), ENOENT,
		     "unknown lkey");
	expect_errno(advise(v.pd, mr, buf + 4096, len, "prefetch", 0), EINVAL,
		     "range past the end of the MR");
	expect_errno(advise(v.pd, pinned, buf, len, "prefetch", 0), EINVAL,
		     "pinned MR");
	expect_errno(advise(v.pd, ro, buf, len, "write", 0), EPERM,
		     "PREFETCH_WRITE on a read-only MR");
	expect_errno(advise(v.pd, ro, buf, len, "prefetch", 0), 0,
		     "PREFETCH on a read-only MR");
	ibv_dereg_mr(mr);
	if (munmap(hole, len))
		die("munmap: %m");
	mr = vctx_reg(&v, hole, len, 1);	/* ODP MRs may cover holes */
	expect_errno(advise(v.pd, mr, hole, len, "prefetch", 0), EFAULT,
		     "FLUSH prefetch of unmapped memory");
	expect_errno(advise(v.pd, mr, hole, len, "prefetch", 1), 0,
		     "queued prefetch of unmapped memory");
	ibv_dereg_mr(mr);
	ibv_dereg_mr(pinned);
	ibv_dereg_mr(ro);
	vctx_close(&v);
	return 0;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void write_all(struct vctx *v, struct ibv_mr *smr, char *src,
		      size_t chunk, char *dst, struct ibv_mr *dmr)
{
	size_t off;

	for (off = 0; off < size; off += chunk)
		expect_ok(vctx_rdma(v, IBV_WR_RDMA_WRITE, smr, src, chunk,
				    va(dst + off), dmr->rkey), "WRITE");
}

static int test_bw(void)
{
	const size_t chunk = size;
	char *src = map_anon(chunk), *dst = map_anon(chunk);
	struct ibv_mr *smr, *dmr;
	struct vctx v;
	double t0;
	int r;

	vctx_open(&v, dev, gidx, IBV_QPT_RC, 0);
	fill(src, chunk, 10);
	smr = vctx_reg(&v, src, chunk, 0);
	dmr = implicit_mr ? vctx_reg_implicit(&v) : vctx_reg(&v, dst, chunk, 1);
	expect_ok(vctx_rdma(&v, IBV_WR_RDMA_WRITE, smr, src, chunk, va(dst),
			    dmr->rkey), "warm-up WRITE");
	t0 = now();
	for (r = 0; r < rounds; r++)
		expect_ok(vctx_rdma(&v, IBV_WR_RDMA_WRITE, smr, src, chunk,
				    va(dst), dmr->rkey), "WRITE");
	printf("mbps=%.2f\n", rounds * (double)chunk / (now() - t0) / 1e6);
	expect_same(dst, src, chunk, "bw target");
	ibv_dereg_mr(dmr);
	ibv_dereg_mr(smr);
	vctx_close(&v);
	return 0;
}

static int test_touch(void)
{
	const size_t chunk = 1 << 20;
	char *src = map_anon(chunk), *dst = map_anon(size);
	struct ibv_mr *smr, *dmr;
	double t0, t1, t2;
	struct vctx v;
	int err;

	vctx_open(&v, dev, gidx, IBV_QPT_RC, 0);
	fill(src, chunk, 11);
	smr = vctx_reg(&v, src, chunk, 0);
	dmr = vctx_reg(&v, dst, size, 1);
	t0 = now();
	if (strcmp(advice, "none")) {
		err = advise(v.pd, dmr, dst, size, advice, 0);
		if (err)
			die("ibv_advise_mr: %s", strerror(err));
	}
	t1 = now();
	write_all(&v, smr, src, chunk, dst, dmr);
	t2 = now();
	expect_same(dst + size - chunk, src, chunk, "last chunk");
	printf("prefetch_s=%.6f first_s=%.6f\n", t1 - t0, t2 - t1);
	ibv_dereg_mr(dmr);
	ibv_dereg_mr(smr);
	vctx_close(&v);
	return 0;
}

static int test_regcost(void)
{
	char *big = map_anon(size);
	struct ibv_mr *imr, *emr;
	double t0, t1, t2;
	struct vctx v;

	vctx_open(&v, dev, gidx, IBV_QPT_RC, 0);
	t0 = now();
	imr = vctx_reg_implicit(&v);
	t1 = now();
	emr = vctx_reg(&v, big, size, 1);
	t2 = now();
	printf("implicit_s=%.6f explicit_s=%.6f\n", t1 - t0, t2 - t1);
	ibv_dereg_mr(imr);
	ibv_dereg_mr(emr);
	vctx_close(&v);
	return 0;
}

static int test_regtime(void)
{
	const size_t chunk = 1 << 20;
	char *src = map_anon(chunk), *dst = map_anon(size);
	struct ibv_mr *smr, *dmr;
	double t0, t1, t2, t3;
	struct vctx v;

	vctx_open(&v, dev, gidx, IBV_QPT_RC, 0);
	fill(src, chunk, 9);
	smr = vctx_reg(&v, src, chunk, 0);
	t0 = now();
	dmr = vctx_reg(&v, dst, size, odp);
	t1 = now();
	write_all(&v, smr, src, chunk, dst, dmr);
	t2 = now();
	write_all(&v, smr, src, chunk, dst, dmr);
	t3 = now();
	expect_same(dst + size - chunk, src, chunk, "last chunk");
	printf("reg_s=%.6f first_s=%.6f second_s=%.6f\n", t1 - t0, t2 - t1,
	       t3 - t2);
	ibv_dereg_mr(dmr);
	ibv_dereg_mr(smr);
	vctx_close(&v);
	return 0;
}

int main(int argc, char **argv)
{
	const char *t;
	int c;

	while ((c = getopt(argc, argv, "d:g:s:r:pf:a:Ai")) != -1) {
		switch (c) {
		case 'd': dev = optarg; break;
		case 'g': gidx = atoi(optarg); break;
		case 's': size = strtoull(optarg, NULL, 0); break;
		case 'r': rounds = atoi(optarg); break;
		case 'p': odp = 0; break;
		case 'f': file = optarg; break;
		case 'a': advice = optarg; break;
		case 'A': async_advise = 1; break;
		case 'i': implicit_mr = 1; break;
		default: die("bad option");
		}
	}
	if (optind != argc - 1 || gidx < 0)
		die("usage: odp_rdma -d DEV -g GIDX [-s BYTES] [-r ROUNDS] [-p] [-f FILE] [-a ADVICE] [-A] [-i] TEST");
	t = argv[optind];
	if (!strcmp(t, "write"))
		return test_write_read(0);
	if (!strcmp(t, "read"))
		return test_write_read(1);
	if (!strcmp(t, "send"))
		return test_send(IBV_QPT_RC, 0);
	if (!strcmp(t, "srq"))
		return test_send(IBV_QPT_RC, VCTX_SRQ);
	if (!strcmp(t, "ud"))
		return test_send(IBV_QPT_UD, 0);
	if (!strcmp(t, "atomic"))
		return test_atomic();
	if (!strcmp(t, "remap"))
		return test_remap();
	if (!strcmp(t, "mprotect"))
		return test_mprotect();
	if (!strcmp(t, "fork"))
		return test_fork();
	if (!strcmp(t, "file"))
		return test_file();
	if (!strcmp(t, "truncated"))
		return test_truncated();
	if (!strcmp(t, "thp"))
		return test_huge(0);
	if (!strcmp(t, "hugetlb"))
		return test_huge(1);
	if (!strcmp(t, "sparse"))
		return test_sparse();
	if (!strcmp(t, "regloop"))
		return test_regloop();
	if (!strcmp(t, "regtime"))
		return test_regtime();
	if (!strcmp(t, "bw"))
		return test_bw();
	if (!strcmp(t, "touch"))
		return test_touch();
	if (!strcmp(t, "regcost"))
		return test_regcost();
	if (!strcmp(t, "implicit"))
		return test_implicit();
	if (!strcmp(t, "implicit-unmap"))
		return test_implicit_unmap();
	if (!strcmp(t, "implicit-cycles"))
		return test_implicit_cycles();
	if (!strcmp(t, "hold"))
		return test_hold();
	if (!strcmp(t, "prefetch"))
		return test_prefetch();
	if (!strcmp(t, "prefetch-dereg"))
		return test_prefetch_dereg();
	if (!strcmp(t, "flush-persistent"))
		return test_flush_persistent();
	if (!strcmp(t, "advise-errors"))
		return test_advise_errors();
	die("unknown test %s", t);
}
