// SPDX-License-Identifier: GPL-2.0
/*
 * peer_rdma - RDMA on ODP MRs whose pages live on a dpmem device
 * (MEMORY_DEVICE_PRIVATE), loopback on one rxe device.
 *
 * usage: peer_rdma -d DEV -g GIDX [-D DPMEM] [-s BYTES] [-n PAGES] [-w]
 *                  [-r ROUNDS] [-m device|system] TEST [SECONDS]
 *
 * Every test checks the bytes it moved (through RDMA READ into a system
 * buffer first, before any CPU access to the device pages) and exits 0, or 1
 * with a "FAIL: ..." line. What the program cannot judge by itself (did the
 * pages stay on the device or were they migrated back: that depends on the
 * provider's policy, which the caller sets) it prints as "TAG: key=value ..."
 * lines for the caller to assert on:
 *   residency_<when>: none= system= device= peer= unknown=   (pages, as seen
 *                     by /dev/dpmem<DPMEM>)
 *   stats_<when>:     cpu_faults= pages_resident= bytes_in= bytes_out=
 *                     evictions= importer_maps= importer_refusals=
 *                     (of /dev/dpmem<DPMEM>)
 * Tests:
 *   inplace  a -s buffer (default 64 KiB) with its first -n pages (default:
 *            half) migrated to /dev/dpmem<DPMEM>, registered ODP: remote
 *            READ, remote WRITE, the MR as local source of a WRITE and as
 *            local destination of a READ, SEND/RECV into it and out of it,
 *            ATOMIC CMP_SWP / FETCH_ADD on a device page; the whole buffer is
 *            checked by RDMA READ into system memory. Prints residency/stats
 *            "before" (after migration) and "after" (the RDMA), then, with
 *            -w, "RDMA_DONE lkey=N" and waits for a line on stdin; then a CPU
 *            write to device page 2 must be seen by an RDMA READ, a CPU
 *            read of the buffer must return the RDMA-written bytes, and
 *            residency/stats "final" are printed.
 *   stress SECONDS  a -s buffer (default 64 KiB): one thread loops
 *            MIGRATE_TO_DEVICE / MIGRATE_TO_SYSTEM over it while the main
 *            thread RDMA WRITEs a fresh pattern at a random offset and
 *            length, READs the whole buffer back and compares (and every 8th
 *            round also compares through the CPU). An operation whose
 *            fault kept losing the race with the migrations (remote access
 *            error) is counted and done again. Prints "stress: iterations=
 *            migrations= pages_moved= pages_failed= rdma_errors=".
 *   fork     the whole -s buffer on the device and mirrored (RDMA READ),
 *            then fork: the child CPU-writes pages, the parent CPU-writes
 *            others, the parent's RDMA sees only its own data and its RDMA
 *            WRITE lands in the parent only; the child sees its own data.
 *   hold     a -s buffer (default 64 KiB) migrated to the device, ODP MR,
 *            RDMA WRITE + READ; residency/stats "before"; the dpmem file is
 *            closed (so the module can go), "READY lkey=N", then wait for a
 *            line on stdin; then READ (old bytes still there), WRITE, READ
 *            and a CPU read must all agree. Prints "DONE".
 *   noop     a -s buffer (default 4 MiB) all on /dev/dpmem<DPMEM>, ODP MR,
 *            RDMA READ of all of it (in place or migrated back, as the
 *            policy says); then -r MIGRATE_TO_DEVICE calls of the whole
 *            buffer, which is already there; then an RDMA READ of all of it
 *            again. Prints "noop: calls= moved= failed= invalidated=
 *            peer_maps=" (moved and failed summed over the calls;
 *            invalidated: the device's odp_pages_invalidated across the
 *            calls; peer_maps: its odp_peer_maps across the second READ)
 *            and residency "after".
 *   recommit a -s buffer (default 64 KiB) all on /dev/dpmem<DPMEM>, ODP MR,
 *            RDMA READ of all of it (mapped in place when the policy
 *            allows); residency/stats "mapped", "MAPPED lkey=N", then wait
 *            for a line on stdin (the caller changes the policy); then
 *            MADV_DONTNEED of the first page and ibv_advise_mr(
 *            PREFETCH_NO_FAULT, FLUSH) over the whole MR: a fault from the
 *            first missing page on, which commits the present pages after it
 *            again (the provider may now refuse them); RDMA READ of all of
 *            it; MIGRATE_TO_SYSTEM of the
 *            buffer (an invalidation of whatever is mapped); RDMA READ and
 *            CPU read of all of it. Needs softodp's provider (advise).
 *            Prints residency/stats "final".
 *   bench    (a benchmark) -s bytes (default 64 MiB), -m device: migrate to
 *            the device before every measured pass (the provider's policy,
 *            set by the caller, decides between peer mapping and migration
 *            back), -m system: the buffer stays in system RAM. For READ and
 *            WRITE (remote, 1 MiB messages, target = the ODP MR): -r "cold"
 *            passes, each on a freshly registered MR (faults included), then
 *            one "warm" pass each on the last MR (pages already mirrored).
 *            Every pass's bytes are checked (a WRITE's by the READ after it,
 *            the last one by the CPU). Prints "bench: read_cold=MB/s
 *            write_cold= read_warm= write_warm=" (MB = 10^6 bytes; each
 *            cold figure is the median of the -r passes).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "libdpmem.h"
#include "verbs_util.h"

static const char *dev = "rxe0";
static int gidx = -1;
static unsigned int dpmem_index;
static size_t size;
static long npages = -1;
static int wait_after_rdma;
static int rounds = 3;
static const char *mode = "device";

#define PAGE 4096UL

static void *map_anon(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		die("mmap %zu: %m", len);
	return p;
}

static void fill(void *p, size_t len, unsigned int seed)
{
	unsigned char *b = p;
	size_t i;

	for (i = 0; i < len; i++)
		b[i] = (unsigned char)(i * 7 + seed * 31 + (i >> 12) + 1);
}

static void expect_same(const void *got, const void *want, size_t len,
			const char *what)
{
	const unsigned char *g = got, *w = want;
	size_t i;

	for (i = 0; i < len; i++)
		if (g[i] != w[i])
			die("%s: byte %zu (page %zu) is %#x, expected %#x",
			    what, i, i / PAGE, g[i], w[i]);
}

static void expect_ok(enum ibv_wc_status st, const char *what)
{
	if (st != IBV_WC_SUCCESS)
		die("%s: completion status %s", what, ibv_wc_status_str(st));
}

static uint64_t va(const void *p)
{
	return (uintptr_t)p;
}

static struct dpmem *open_dpmem(unsigned int index)
{
	struct dpmem *d = dpmem_open(index);

	if (!d)
		die("dpmem_open(%u): %m", index);
	return d;
}

static void to_device(struct dpmem *d, void *p, size_t len, size_t want)
{
	struct dpmem_result res;
	int err = dpmem_to_device(d, p, len, 0, &res);

	if (err)
		die("dpmem_to_device(%zu bytes): %s", len, strerror(-err));
	if (res.moved != want || res.failed)
		die("dpmem_to_device: moved %llu, failed %llu, expected %zu moved",
		    (unsigned long long)res.moved,
		    (unsigned long long)res.failed, want);
}

static void print_residency(struct dpmem *d, const void *p, size_t len,
			    const char *when)
{
	uint64_t c[DPMEM_RES_NR_STATES];
	int err = dpmem_residency(d, p, len, NULL, c);

	if (err)
		die("dpmem_residency: %s", strerror(-err));
	printf("residency_%s: none=%llu system=%llu device=%llu peer=%llu unknown=%llu\n",
	       when, (unsigned long long)c[DPMEM_RES_NONE],
	       (unsigned long long)c[DPMEM_RES_SYSTEM],
	       (unsigned long long)c[DPMEM_RES_DEVICE],
	       (unsigned long long)c[DPMEM_RES_PEER],
	       (unsigned long long)c[DPMEM_RES_UNKNOWN]);
}

static void print_stats(struct dpmem *d, const char *when)
{
	struct dpmem_stats st;
	int err = dpmem_get_stats(d, &st);

	if (err)
		die("dpmem_get_stats: %s", strerror(-err));
	printf("stats_%s: cpu_faults=%llu pages_resident=%llu bytes_in=%llu bytes_out=%llu evictions=%llu importer_maps=%llu importer_refusals=%llu\n",
	       when, (unsigned long long)st.cpu_faults,
	       (unsigned long long)st.pages_resident,
	       (unsigned long long)st.bytes_in,
	       (unsigned long long)st.bytes_out,
	       (unsigned long long)st.evictions,
	       (unsigned long long)st.importer_maps,
	       (unsigned long long)st.importer_refusals);
}

static void report(struct dpmem *d, const void *p, size_t len,
		   const char *when)
{
	print_residency(d, p, len, when);
	print_stats(d, when);
	fflush(stdout);
}

static void wait_stdin_line(void)
{
	char line[64];

	if (!fgets(line, sizeof(line), stdin) && ferror(stdin))
		die("stdin: %m");
}

/* RDMA READ all of [buf, buf + len) through @mr into @sys (pinned) and
 * compare with @want.
 */
static void read_back(struct vctx *v, struct ibv_mr *mr, const char *buf,
		      struct ibv_mr *sysmr, char *sys, const char *want,
		      size_t len, const char *what)
{
	memset(sys, 0, len);
	expect_ok(vctx_rdma(v, IBV_WR_RDMA_READ, sysmr, sys, len, va(buf),
			    mr->rkey), what);
	expect_same(sys, want, len, what);
}

/* ---- inplace ----------------------------------------------------------- */

static void check_atomic(uint64_t got, uint64_t want, const char *what)
{
	if (got != want)
		die("%s returned %#llx, expected %#llx", what,
		    (unsigned long long)got, (unsigned long long)want);
}

static int test_inplace(void)
{
	size_t len = size ? size : 64 * 1024, np = len / PAGE;
	size_t ndev = npages < 0 ? np / 2 : (size_t)npages;
	char *buf = map_anon(len), *ref = map_anon(len), *sys = map_anon(len);
	char *src = map_anon(len);
	uint64_t *res = map_anon(PAGE), old, want;
	struct ibv_mr *mr, *sysmr, *srcmr, *resmr;
	size_t off, n, aoff;
	struct dpmem *d;
	struct vctx v;

	if (len % PAGE || ndev > np || ndev < 4)
		die("inplace: -s must be pages, -n between 4 and the pages");
	d = open_dpmem(dpmem_index);
	fill(ref, len, 1);
	memcpy(buf, ref, len);
	to_device(d, buf, ndev * PAGE, ndev);

	vctx_open(&v, dev, gidx, IBV_QPT_RC, 0);
	mr = vctx_reg(&v, buf, len, 1);
	sysmr = vctx_reg(&v, sys, len, 0);
	srcmr = vctx_reg(&v, src, len, 0);
	resmr = vctx_reg(&v, res, PAGE, 0);
	report(d, buf, len, "before");

	/* remote READ of device and system pages */
	read_back(&v, mr, buf, sysmr, sys, ref, len, "remote READ");

	/* remote WRITE of everything, then READ back */
	fill(src, len, 2);
	expect_ok(vctx_rdma(&v, IBV_WR_RDMA_WRITE, srcmr, src, len, va(buf),
			    mr->rkey), "remote WRITE");
	memcpy(ref, src, len);
	read_back(&v, mr, buf, sysmr, sys, ref, len, "READ after remote WRITE");

	/* the ODP MR as local source: WRITE from device pages into sys */
	off = PAGE / 2;
	n = 3 * PAGE;
	memset(sys, 0, len);
	expect_ok(vctx_rdma(&v, IBV_WR_RDMA_WRITE, mr, buf + off, n, va(sys),
			    sysmr->rkey), "WRITE from the ODP MR (local)");
	expect_same(sys, ref + off, n, "WRITE from the ODP MR (local)");

	/* the ODP MR as local destination: READ from src into device pages */
	fill(src, len, 3);
	off = PAGE + 100;
	n = 2 * PAGE + 1000;
	expect_ok(vctx_rdma(&v, IBV_WR_RDMA_READ, mr, buf + off, n, va(src),
			    srcmr->rkey), "READ into the ODP MR (local)");
	memcpy(ref + off, src, n);
	read_back(&v, mr, buf, sysmr, sys, ref, len,
		  "READ after READ into the ODP MR");

	/* SEND into a region across the device/system boundary */
	fill(src, len, 4);
	off = ndev * PAGE - PAGE - 300;
	n = (np > ndev ? 2 * PAGE : PAGE) + 200;
	if (off + n > len)
		n = len - off;
	vctx_post_recv(&v, mr, buf + off, n, 77);
	expect_ok(vctx_send(&v, srcmr, src, n, 77), "SEND/RECV into the ODP MR");
	memcpy(ref + off, src, n);
	read_back(&v, mr, buf, sysmr, sys, ref, len, "READ after RECV");

	/* SEND out of device pages */
	off = 200;
	n = 2 * PAGE;
	memset(sys, 0, len);
	vctx_post_recv(&v, sysmr, sys, n, 78);
	expect_ok(vctx_send(&v, mr, buf + off, n, 78),
		  "SEND/RECV out of the ODP MR");
	expect_same(sys, ref + off, n, "SEND/RECV out of the ODP MR");

	/* atomics on a device page (page 3) */
	aoff = 3 * PAGE + 64;
	memcpy(&old, ref + aoff, 8);
	want = 0x1122334455667788ULL;
	expect_ok(vctx_atomic(&v, IBV_WR_ATOMIC_CMP_AND_SWP, resmr, &res[0],
			      va(buf + aoff), mr->rkey, old, want), "CMP_SWP");
	check_atomic(res[0], old, "CMP_SWP (hit)");
	expect_ok(vctx_atomic(&v, IBV_WR_ATOMIC_CMP_AND_SWP, resmr, &res[1],
			      va(buf + aoff), mr->rkey, old ^ 1, 5),
		  "CMP_SWP (miss)");
	check_atomic(res[1], want, "CMP_SWP (miss)");
	expect_ok(vctx_atomic(&v, IBV_WR_ATOMIC_FETCH_AND_ADD, resmr, &res[2],
			      va(buf + aoff), mr->rkey, 0x100, 0), "FETCH_ADD");
	check_atomic(res[2], want, "FETCH_ADD");
	want += 0x100;
	memcpy(ref + aoff, &want, 8);
	read_back(&v, mr, buf, sysmr, sys, ref, len, "READ after atomics");

	report(d, buf, len, "after");
	if (wait_after_rdma) {
		printf("RDMA_DONE lkey=%u\n", mr->lkey);
		fflush(stdout);
		wait_stdin_line();
	}

	/*
	 * A CPU write to a device page moves it back (one CPU fault) and the
	 * mirror must follow: RDMA sees the new bytes in system memory.
	 */
	want = 0x5a5a5a5a00000000ULL | ndev;
	memcpy(buf + 2 * PAGE + 8, &want, 8);
	memcpy(ref + 2 * PAGE + 8, &want, 8);
	read_back(&v, mr, buf, sysmr, sys, ref, len, "READ after a CPU write");

	/* the CPU sees what RDMA wrote (faulting device pages back if any) */
	expect_same(buf, ref, len, "CPU read after RDMA");
	report(d, buf, len, "final");

	ibv_dereg_mr(mr);
	ibv_dereg_mr(sysmr);
	ibv_dereg_mr(srcmr);
	ibv_dereg_mr(resmr);
	vctx_close(&v);
	dpmem_close(d);
	printf("OK\n");
	return 0;
}

/* ---- stress ------------------------------------------------------------ */

struct migrator {
	struct dpmem *d;
	void *buf;
	size_t len;
	atomic_int stop;
	unsigned long migrations, moved, failed;
};

static void *migrate_loop(void *arg)
{
	struct migrator *m = arg;
	struct dpmem_result res;
	int err;

	while (!atomic_load(&m->stop)) {
		err = dpmem_to_device(m->d, m->buf, m->len, 0, &res);
		if (err)
			die("stress: dpmem_to_device: %s", strerror(-err));
		m->moved += res.moved;
		m->failed += res.failed;
		err = dpmem_to_system(m->d, m->buf, m->len, &res);
		if (err)
			die("stress: dpmem_to_system: %s", strerror(-err));
		m->moved += res.moved;
		m->failed += res.failed;
		m->migrations += 2;
	}
	return NULL;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * One RDMA operation of the stress loop. A fault that keeps losing the race
 * with migrations gives up after a bounded time (the kernel logs why), and
 * the operation completes with a remote access error: count it, bring the
 * QPs back and do the operation again. Anything else, or no progress in
 * STRESS_MAX_RETRIES attempts in a row, fails.
 */
#define STRESS_MAX_RETRIES 20
static unsigned long stress_errors;

static void stress_rdma(struct vctx *v, enum ibv_wr_opcode op,
			struct ibv_mr *lmr, void *laddr, size_t len,
			uint64_t raddr, uint32_t rkey, const char *what)
{
	enum ibv_wc_status st;
	int tries;

	for (tries = 0; tries < STRESS_MAX_RETRIES; tries++) {
		st = vctx_rdma(v, op, lmr, laddr, len, raddr, rkey);
		if (st == IBV_WC_SUCCESS)
			return;
		if (st != IBV_WC_REM_ACCESS_ERR)
			die("%s: completion status %s", what,
			    ibv_wc_status_str(st));
		stress_errors++;
		vctx_reconnect(v);
	}
	die("%s: %d remote access errors in a row", what, tries);
}

static int test_stress(double seconds)
{
	size_t len = size ? size : 64 * 1024;
	char *buf = map_anon(len), *ref = map_anon(len), *sys = map_anon(len);
	char *src = map_anon(len);
	struct ibv_mr *mr, *sysmr, *srcmr;
	struct migrator m = { 0 };
	unsigned long it = 0;
	unsigned int seed = 12345;
	pthread_t th;
	double end;
	struct vctx v;

	if (len % PAGE)
		die("stress: -s must be whole pages");
	fill(ref, len, 1);
	memcpy(buf, ref, len);
	vctx_open(&v, dev, gidx, IBV_QPT_RC, 0);
	mr = vctx_reg(&v, buf, len, 1);
	sysmr = vctx_reg(&v, sys, len, 0);
	srcmr = vctx_reg(&v, src, len, 0);

	m.d = open_dpmem(dpmem_index);
	m.buf = buf;
	m.len = len;
	if (pthread_create(&th, NULL, migrate_loop, &m))
		die("pthread_create");
	end = now() + seconds;
	while (now() < end) {
		size_t off = rand_r(&seed) % len;
		size_t n = 1 + rand_r(&seed) % (len - off);

		fill(src, n, (unsigned int)it + 2);
		stress_rdma(&v, IBV_WR_RDMA_WRITE, srcmr, src, n,
			    va(buf + off), mr->rkey, "stress WRITE");
		memcpy(ref + off, src, n);
		memset(sys, 0, len);
		stress_rdma(&v, IBV_WR_RDMA_READ, sysmr, sys, len, va(buf),
			    mr->rkey, "stress READ back");
		expect_same(sys, ref, len, "stress READ back");
		if (it % 8 == 7)
			expect_same(buf, ref, len, "stress CPU read");
		it++;
	}
	atomic_store(&m.stop, 1);
	if (pthread_join(th, NULL))
		die("pthread_join");
	/* whatever is where now, it must still be our data */
	read_back(&v, mr, buf, sysmr, sys, ref, len, "final READ");
	expect_same(buf, ref, len, "final CPU read");
	printf("stress: iterations=%lu migrations=%lu pages_moved=%lu pages_failed=%lu rdma_errors=%lu\n",
	       it, m.migrations, m.moved, m.failed, stress_errors);
	ibv_dereg_mr(mr);
	ibv_dereg_mr(sysmr);
	ibv_dereg_mr(srcmr);
	vctx_close(&v);
	dpmem_close(m.d);
	printf("OK\n");
	return 0;
}

/* ---- fork -------------------------------------------------------------- */

static int test_fork(void)
{
	size_t len = size ? size : 64 * 1024, np = len / PAGE, q = len / 4;
	char *buf = map_anon(len), *a = map_anon(len), *b = map_anon(len);
	char *c = map_anon(len), *dd = map_anon(len), *ref = map_anon(len);
	char *sys = map_anon(len);
	int to_child[2], to_parent[2], status;
	struct ibv_mr *mr, *sysmr, *bmr;
	struct dpmem *d;
	struct vctx v;
	char tok;
	pid_t pid;

	if (len % (4 * PAGE))
		die("fork: -s must be a multiple of 4 pages");
	d = open_dpmem(dpmem_index);
	fill(a, len, 1);
	fill(b, len, 2);
	fill(c, len, 3);
	fill(dd, len, 4);
	memcpy(buf, a, len);
	to_device(d, buf, len, np);
	vctx_open(&v, dev, gidx, IBV_QPT_RC, 0);
	mr = vctx_reg(&v, buf, len, 1);
	sysmr = vctx_reg(&v, sys, len, 1);
	bmr = vctx_reg(&v, b, len, 1);
	/* mirror the device pages before the fork */
	read_back(&v, mr, buf, sysmr, sys, a, len, "READ before fork");
	report(d, buf, len, "before");

	if (pipe(to_child) || pipe(to_parent))
		die("pipe: %m");
	pid = fork();
	if (pid < 0)
		die("fork: %m");
	if (pid == 0) {
		/* quarter 0: the child's own CPU writes */
		memcpy(buf, c, q);
		if (write(to_parent[1], "c", 1) != 1 ||
		    read(to_child[0], &tok, 1) != 1)
			die("child: pipe");
		/* after the parent's CPU and RDMA writes: still our data */
		memcpy(ref, c, q);
		memcpy(ref + q, a + q, len - q);
		expect_same(buf, ref, len, "child's memory after the parent's writes");
		_exit(0);
	}
	if (read(to_parent[0], &tok, 1) != 1)
		die("parent: pipe");
	/* quarter 2: the parent's own CPU writes */
	memcpy(buf + 2 * q, dd + 2 * q, q);
	memcpy(ref, a, len);
	memcpy(ref + 2 * q, dd + 2 * q, q);
	read_back(&v, mr, buf, sysmr, sys, ref, len,
		  "parent's READ after both CPUs wrote");
	/* quarters 1 and 3 are still shared device pages: a WRITE breaks COW */
	expect_ok(vctx_rdma(&v, IBV_WR_RDMA_WRITE, bmr, b, len, va(buf),
			    mr->rkey), "WRITE after fork");
	read_back(&v, mr, buf, sysmr, sys, b, len, "parent's READ after WRITE");
	expect_same(buf, b, len, "parent's CPU read after WRITE");
	if (write(to_child[1], "p", 1) != 1)
		die("parent: pipe");
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status))
		die("child failed (status %#x)", status);
	report(d, buf, len, "final");
	ibv_dereg_mr(mr);
	ibv_dereg_mr(sysmr);
	ibv_dereg_mr(bmr);
	vctx_close(&v);
	dpmem_close(d);
	printf("OK\n");
	return 0;
}

/* ---- hold -------------------------------------------------------------- */

static int test_hold(void)
{
	size_t len = size ? size : 64 * 1024;
	char *buf = map_anon(len), *ref = map_anon(len), *sys = map_anon(len);
	char *src = map_anon(len);
	struct ibv_mr *mr, *sysmr, *srcmr;
	struct dpmem *d;
	struct vctx v;

	d = open_dpmem(dpmem_index);
	fill(ref, len, 1);
	memcpy(buf, ref, len);
	to_device(d, buf, len, len / PAGE);
	vctx_open(&v, dev, gidx, IBV_QPT_RC, 0);
	mr = vctx_reg(&v, buf, len, 1);
	sysmr = vctx_reg(&v, sys, len, 0);
	srcmr = vctx_reg(&v, src, len, 0);
	fill(src, len, 2);
	expect_ok(vctx_rdma(&v, IBV_WR_RDMA_WRITE, srcmr, src, len, va(buf),
			    mr->rkey), "WRITE");
	memcpy(ref, src, len);
	read_back(&v, mr, buf, sysmr, sys, ref, len, "READ");
	report(d, buf, len, "before");
	dpmem_close(d);	/* an open file would keep the module */
	printf("READY lkey=%u\n", mr->lkey);
	fflush(stdout);
	wait_stdin_line();

	read_back(&v, mr, buf, sysmr, sys, ref, len, "READ after the wait");
	fill(src, len, 3);
	expect_ok(vctx_rdma(&v, IBV_WR_RDMA_WRITE, srcmr, src, len, va(buf),
			    mr->rkey), "WRITE after the wait");
	memcpy(ref, src, len);
	read_back(&v, mr, buf, sysmr, sys, ref, len,
		  "READ after WRITE after the wait");
	expect_same(buf, ref, len, "CPU read after the wait");
	ibv_dereg_mr(mr);
	ibv_dereg_mr(sysmr);
	ibv_dereg_mr(srcmr);
	vctx_close(&v);
	printf("DONE\n");
	return 0;
}

/* ---- noop -------------------------------------------------------------- */

static unsigned long long hw_counter(const char *name)
{
	unsigned long long v;
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path),
		 "/sys/class/infiniband/%s/ports/1/hw_counters/%s", dev, name);
	f = fopen(path, "r");
	if (!f || fscanf(f, "%llu", &v) != 1)
		die("%s: %m", path);
	fclose(f);
	return v;
}

static int test_noop(void)
{
	size_t len = size ? size : 4UL << 20;
	char *buf = map_anon(len), *ref = map_anon(len), *sys = map_anon(len);
	unsigned long long inv, maps, moved = 0, failed = 0;
	struct ibv_mr *mr, *sysmr;
	struct dpmem_result res;
	struct dpmem *d;
	struct vctx v;
	int i, err;

	d = open_dpmem(dpmem_index);
	fill(ref, len, 5);
	memcpy(buf, ref, len);
	to_device(d, buf, len, len / PAGE);
	vctx_open(&v, dev, gidx, IBV_QPT_RC, 0);
	mr = vctx_reg(&v, buf, len, 1);
	sysmr = vctx_reg(&v, sys, len, 0);
	read_back(&v, mr, buf, sysmr, sys, ref, len, "first READ");

	inv = hw_counter("odp_pages_invalidated");
	for (i = 0; i < rounds; i++) {
		err = dpmem_to_device(d, buf, len, 0, &res);
		if (err)
			die("dpmem_to_device: %s", strerror(-err));
		moved += res.moved;
		failed += res.failed;
	}
	inv = hw_counter("odp_pages_invalidated") - inv;
	maps = hw_counter("odp_peer_maps");
	read_back(&v, mr, buf, sysmr, sys, ref, len, "READ after the calls");
	maps = hw_counter("odp_peer_maps") - maps;
	printf("noop: calls=%d moved=%llu failed=%llu invalidated=%llu peer_maps=%llu\n",
	       rounds, moved, failed, inv, maps);
	report(d, buf, len, "after");
	expect_same(buf, ref, len, "CPU read");
	ibv_dereg_mr(mr);
	ibv_dereg_mr(sysmr);
	vctx_close(&v);
	dpmem_close(d);
	printf("OK\n");
	return 0;
}

/* ---- recommit ---------------------------------------------------------- */

static int test_recommit(void)
{
	size_t len = size ? size : 64 * 1024;
	char *buf = map_anon(len), *ref = map_anon(len), *sys = map_anon(len);
	struct ibv_mr *mr, *sysmr;
	struct ibv_sge sge;
	struct dpmem *d;
	struct vctx v;
	int err;

	d = open_dpmem(dpmem_index);
	fill(ref, len, 6);
	memcpy(buf, ref, len);
	to_device(d, buf, len, len / PAGE);
	vctx_open(&v, dev, gidx, IBV_QPT_RC, 0);
	mr = vctx_reg(&v, buf, len, 1);
	sysmr = vctx_reg(&v, sys, len, 0);
	read_back(&v, mr, buf, sysmr, sys, ref, len, "first READ");
	report(d, buf, len, "mapped");
	printf("MAPPED lkey=%u\n", mr->lkey);
	fflush(stdout);
	wait_stdin_line();

	if (madvise(buf, PAGE, MADV_DONTNEED))
		die("madvise(MADV_DONTNEED): %m");
	memset(ref, 0, PAGE);
	sge.addr = va(buf);
	sge.length = len;
	sge.lkey = mr->lkey;
	err = ibv_advise_mr(v.pd, IBV_ADVISE_MR_ADVICE_PREFETCH_NO_FAULT,
			    IBV_ADVISE_MR_FLAG_FLUSH, &sge, 1);
	if (err)
		die("ibv_advise_mr(PREFETCH_NO_FAULT, FLUSH): %s", strerror(err));
	read_back(&v, mr, buf, sysmr, sys, ref, len, "READ after the re-commit");
	if (dpmem_to_system(d, buf, len, NULL))
		die("dpmem_to_system: %m");
	read_back(&v, mr, buf, sysmr, sys, ref, len, "READ after the migration");
	expect_same(buf, ref, len, "CPU read");
	report(d, buf, len, "final");
	ibv_dereg_mr(mr);
	ibv_dereg_mr(sysmr);
	vctx_close(&v);
	dpmem_close(d);
	printf("OK\n");
	return 0;
}

/* ---- bench ------------------------------------------------------------- */

#define BENCH_MSG (1UL << 20)

static double pass(struct vctx *v, enum ibv_wr_opcode op, struct ibv_mr *lmr,
		   char *loc, struct ibv_mr *mr, char *buf, size_t len)
{
	double t0 = now();
	size_t off;

	for (off = 0; off < len; off += BENCH_MSG)
		expect_ok(vctx_rdma(v, op, lmr, loc + off, BENCH_MSG,
				    va(buf + off), mr->rkey),
			  op == IBV_WR_RDMA_READ ? "bench READ" : "bench WRITE");
	return len / (now() - t0) / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *x, int n)
{
	qsort(x, n, sizeof(*x), cmp_double);
	return n % 2 ? x[n / 2] : (x[n / 2 - 1] + x[n / 2]) / 2;
}

/* A cold pass: (device mode) everything migrated to the device first, a
 * fresh MR, one timed pass. READ checks the bytes it got; a WRITE's bytes
 * are checked by the next pass's READ.
 */
static double cold_pass(struct vctx *v, struct dpmem *d, enum ibv_wr_opcode op,
			struct ibv_mr *lmr, char *loc, char *buf, char *ref,
			size_t len, struct ibv_mr **keep)
{
	struct ibv_mr *mr;
	double mbs;

	if (d) {
		uint64_t c[DPMEM_RES_NR_STATES];

		if (dpmem_to_device(d, buf, len, 0, NULL))
			die("dpmem_to_device: %m");
		if (dpmem_residency(d, buf, len, NULL, c))
			die("dpmem_residency: %m");
		if (c[DPMEM_RES_DEVICE] != len / PAGE)
			die("bench: only %llu of %zu pages on the device",
			    (unsigned long long)c[DPMEM_RES_DEVICE], len / PAGE);
	}
	mr = vctx_reg(v, buf, len, 1);
	if (op == IBV_WR_RDMA_READ)
		memset(loc, 0, len);
	mbs = pass(v, op, lmr, loc, mr, buf, len);
	if (op == IBV_WR_RDMA_READ)
		expect_same(loc, ref, len, "bench READ");
	else
		memcpy(ref, loc, len);
	if (keep)
		*keep = mr;
	else
		ibv_dereg_mr(mr);
	return mbs;
}

static int test_bench(void)
{
	size_t len = size ? size : 64UL << 20;
	char *buf = map_anon(len), *loc = map_anon(len), *ref = map_anon(len);
	double rc[16], wc[16], rw, ww;
	struct ibv_mr *lmr, *mr = NULL;
	struct dpmem *d = NULL;
	struct vctx v;
	int i;

	if (len % BENCH_MSG)
		die("bench: -s must be a multiple of 1 MiB");
	if (rounds < 1 || rounds > 16)
		die("bench: -r between 1 and 16");
	if (!strcmp(mode, "device"))
		d = open_dpmem(dpmem_index);
	else if (strcmp(mode, "system"))
		die("bench: -m device|system");
	fill(ref, len, 1);
	memcpy(buf, ref, len);
	vctx_open(&v, dev, gidx, IBV_QPT_RC, 0);
	lmr = vctx_reg(&v, loc, len, 0);

	for (i = 0; i < rounds; i++) {
		rc[i] = cold_pass(&v, d, IBV_WR_RDMA_READ, lmr, loc, buf, ref,
				  len, NULL);
		fill(loc, len, 10 + i);
		wc[i] = cold_pass(&v, d, IBV_WR_RDMA_WRITE, lmr, loc, buf, ref,
				  len, i == rounds - 1 ? &mr : NULL);
	}
	/* warm: the last MR, its pages mirrored (writable) by the last WRITE */
	memset(loc, 0, len);
	rw = pass(&v, IBV_WR_RDMA_READ, lmr, loc, mr, buf, len);
	expect_same(loc, ref, len, "bench warm READ");
	fill(loc, len, 40);
	ww = pass(&v, IBV_WR_RDMA_WRITE, lmr, loc, mr, buf, len);
	memcpy(ref, loc, len);
	ibv_dereg_mr(mr);
	if (d) {
		if (dpmem_to_system(d, buf, len, NULL))
			die("dpmem_to_system: %m");
		dpmem_close(d);
	}
	expect_same(buf, ref, len, "bench CPU read");
	printf("bench: read_cold=%.2f write_cold=%.2f read_warm=%.2f write_warm=%.2f\n",
	       median(rc, rounds), median(wc, rounds), rw, ww);
	ibv_dereg_mr(lmr);
	vctx_close(&v);
	printf("OK\n");
	return 0;
}

int main(int argc, char **argv)
{
	const char *t;
	int c;

	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((c = getopt(argc, argv, "d:g:D:s:n:wr:m:")) != -1) {
		switch (c) {
		case 'd': dev = optarg; break;
		case 'g': gidx = atoi(optarg); break;
		case 'D': dpmem_index = atoi(optarg); break;
		case 's': size = strtoull(optarg, NULL, 0); break;
		case 'n': npages = atol(optarg); break;
		case 'w': wait_after_rdma = 1; break;
		case 'r': rounds = atoi(optarg); break;
		case 'm': mode = optarg; break;
		default: die("bad option");
		}
	}
	if (optind >= argc || gidx < 0)
		die("usage: peer_rdma -d DEV -g GIDX [-D DPMEM] [-s BYTES] [-n PAGES] [-w] [-r ROUNDS] [-m device|system] TEST [SECONDS]");
	t = argv[optind];
	if (!strcmp(t, "inplace"))
		return test_inplace();
	if (!strcmp(t, "stress")) {
		if (optind + 1 >= argc)
			die("stress needs SECONDS");
		return test_stress(atof(argv[optind + 1]));
	}
	if (!strcmp(t, "fork"))
		return test_fork();
	if (!strcmp(t, "hold"))
		return test_hold();
	if (!strcmp(t, "recommit"))
		return test_recommit();
	if (!strcmp(t, "noop"))
		return test_noop();
	if (!strcmp(t, "bench"))
		return test_bench();
	die("unknown test %s", t);
}
