// SPDX-License-Identifier: GPL-2.0
/*
 * bench_mm - memory-management costs of ODP MRs on one rxe device (a
 * benchmark for bench/suite.py; every result is one line of key=value).
 *
 * usage: bench_mm -d DEV -g GIDX [-s BYTES] [-r ROUNDS] [-p] [-H] TEST
 *
 *   touch     first touch per page of an -s region: the CPU writing one byte
 *             per page of a fresh mapping, against RDMA WRITE and RDMA READ
 *             (1 MiB messages) into a fresh ODP MR over a fresh mapping of
 *             the same kind, and a second pass over the then-mapped MR.
 *             Pages are 4 KiB (MADV_NOHUGEPAGE) or, with -H, 2 MiB
 *             transparent huge pages (MADV_HUGEPAGE, 2 MiB aligned).
 *             Prints cpu_ns, write_first_ns, write_warm_ns, read_first_ns,
 *             read_warm_ns per page, and thp_kb, the AnonHugePages the CPU
 *             pass got (so a THP number that is really 4 KiB shows).
 *   reg       register and deregister an -s MR -r times: ODP over a
 *             PROT_NONE MAP_NORESERVE reservation, or with -p a pinned MR
 *             over a read-write mapping; prints the medians reg_us and
 *             dereg_us, or "failed=ERRNO_NAME" when registration fails.
 *   unmap     an -s untouched read-write MAP_NORESERVE reservation, with
 *             (-p is ignored; -m 1) or without (-m 0) an ODP MR over it:
 *             median time of munmap, and of process exit (a child that made
 *             the mapping and MR exits; timed from telling it to until
 *             waitpid returns); prints munmap_us and exit_us.
 *   dontneed  MADV_DONTNEED of 2 MiB of a 64 MiB buffer, -r times, each time
 *             after the CPU touched it again: no MR, an idle ODP MR, and an
 *             ODP MR that a second thread RDMA WRITEs into all the time;
 *             prints the medians nomr_us, idle_us, traffic_us and the
 *             number of WRITEs the traffic thread completed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "verbs_util.h"

#define PAGE_4K 4096UL
#define HUGE_2M (2UL << 20)
#define CHUNK (1UL << 20)

static const char *dev = "rxe0";
static int gidx = -1;
static size_t size = 64UL << 20;
static int rounds = 5;
static int pinned;
static int huge;
static int with_mr = 1;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static uint64_t va(const void *p)
{
	return (uintptr_t)p;
}

/* A fresh anonymous mapping of -s bytes with the page kind asked for. */
static char *map_fresh(size_t len)
{
	size_t extra = huge ? HUGE_2M : 0;
	char *p = mmap(NULL, len + extra, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	char *a;

	if (p == MAP_FAILED)
		die("mmap %zu: %m", len);
	a = p;
	if (huge) {
		a = (char *)(((uintptr_t)p + HUGE_2M - 1) & ~(HUGE_2M - 1));
		if (a > p)
			munmap(p, a - p);
		if (a + len < p + len + extra)
			munmap(a + len, p + len + extra - (a + len));
	}
	if (madvise(a, len, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE))
		die("madvise(%s): %m", huge ? "HUGEPAGE" : "NOHUGEPAGE");
	return a;
}

/* AnonHugePages of the mapping at p, in KiB (from /proc/self/smaps). */
static long thp_kb(const void *p)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[256];
	int in = 0;
	long kb = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;

		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 &&
		    strchr(line, '-') < strchr(line, ' ')) {
			in = lo <= (uintptr_t)p && (uintptr_t)p < hi;
			continue;
		}
		if (in && sscanf(line, "AnonHugePages: %ld kB", &kb) == 1)
			break;
	}
	fclose(f);
	return kb;
}

static void expect_ok(enum ibv_wc_status st, const char *what)
{
	if (st != IBV_WC_SUCCESS)
		die("%s: completion status %s", what, ibv_wc_status_str(st));
}

/* One pass of op over all of the MR at dst, 1 MiB at a time; seconds. */
static double rdma_pass(struct vctx *v, enum ibv_wr_opcode op,
			struct ibv_mr *pmr, char *pbuf, struct ibv_mr *omr,
			char *obuf)
{
	double t0 = now();
	size_t off;

	for (off = 0; off < size; off += CHUNK) {
		if (op == IBV_WR_RDMA_WRITE)
			/* the ODP MR is the responder's target */
			expect_ok(vctx_rdma(v, op, pmr, pbuf, CHUNK,
					    va(obuf + off), omr->rkey),
				  "WRITE");
		else
			/* the ODP MR is the local buffer READ responses land in */
			expect_ok(vctx_rdma(v, op, omr, obuf + off, CHUNK,
					    va(pbuf), pmr->rkey), "READ");
	}
	return now() - t0;
}

static int test_touch(void)
{
	size_t page = huge ? HUGE_2M : PAGE_4K, npages = size / page;
	double cpu, first[2], warm[2];
	char *pbuf, *buf;
	struct vctx v;
	long thp;
	size_t i;
	int k;

	if (size % page || size % CHUNK)
		die("-s must be a multiple of 2 MiB");
	/* CPU first touch of a fresh mapping */
	buf = map_fresh(size);
	cpu = now();
	for (i = 0; i < size; i += page)
		buf[i] = 1;
	cpu = now() - cpu;
	thp = thp_kb(buf);
	munmap(buf, size);

	vctx_open(&v, dev, gidx, IBV_QPT_RC, 0);
	pbuf = map_fresh(CHUNK);
	memset(pbuf, 0x5a, CHUNK);
	struct ibv_mr *pmr = vctx_reg(&v, pbuf, CHUNK, 0);

	for (k = 0; k < 2; k++) {
		enum ibv_wr_opcode op = k ? IBV_WR_RDMA_READ : IBV_WR_RDMA_WRITE;
		struct ibv_mr *omr;

		buf = map_fresh(size);
		omr = vctx_reg(&v, buf, size, 1);
		first[k] = rdma_pass(&v, op, pmr, pbuf, omr, buf);
		warm[k] = rdma_pass(&v, op, pmr, pbuf, omr, buf);
		if (buf[size - 1] != 0x5a)
			die("%s pass did not land", k ? "READ" : "WRITE");
		ibv_dereg_mr(omr);
		munmap(buf, size);
	}
	ibv_dereg_mr(pmr);
	vctx_close(&v);
	printf("pages=%zu page_kb=%zu thp_kb=%ld cpu_ns=%.1f write_first_ns=%.1f "
	       "write_warm_ns=%.1f read_first_ns=%.1f read_warm_ns=%.1f\n",
	       npages, page / 1024, thp, cpu * 1e9 / npages,
	       first[0] * 1e9 / npages, warm[0] * 1e9 / npages,
	       first[1] * 1e9 / npages, warm[1] * 1e9 / npages);
	return 0;
}

static int test_reg(void)
{
	int access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ |
		     IBV_ACCESS_REMOTE_WRITE;
	double reg[64], dereg[64];
	struct ibv_mr *mr;
	struct vctx v;
	char *p;
	int r;

	if (rounds > 64)
		rounds = 64;
	vctx_open(&v, dev, gidx, IBV_QPT_RC, 0);
	if (pinned)
		p = mmap(NULL, size, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	else
		p = mmap(NULL, size, PROT_NONE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		printf("failed=%s where=mmap\n", strerrorname_np(errno));
		return 0;
	}
	if (!pinned)
		access |= IBV_ACCESS_ON_DEMAND;
	for (r = 0; r < rounds; r++) {
		double t0 = now(), t1;

		mr = ibv_reg_mr(v.pd, p, size, access);
		t1 = now();
		if (!mr) {
			printf("failed=%s where=ibv_reg_mr\n",
			       strerrorname_np(errno));
			return 0;
		}
		ibv_dereg_mr(mr);
		reg[r] = t1 - t0;
		dereg[r] = now() - t1;
	}
	vctx_close(&v);
	printf("reg_us=%.2f dereg_us=%.2f\n", median(reg, rounds) * 1e6,
	       median(dereg, rounds) * 1e6);
	return 0;
}

static char *map_reservation(void)
{
	char *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED)
		die("mmap %zu: %m", size);
	return p;
}

static double one_munmap(void)
{
	struct ibv_mr *mr = NULL;
	struct vctx v;
	char *p;
	double t;

	vctx_open(&v, dev, gidx, IBV_QPT_RC, 0);
	p = map_reservation();
	if (with_mr)
		mr = vctx_reg(&v, p, size, 1);
	t = now();
	if (munmap(p, size))
		die("munmap: %m");
	t = now() - t;
	if (mr)
		ibv_dereg_mr(mr);
	vctx_close(&v);
	return t;
}

static double one_exit(void)
{
	int go[2], ready[2], st;
	char c = 0;
	double t;
	pid_t pid;

	if (pipe(go) || pipe(ready))
		die("pipe: %m");
	pid = fork();
	if (pid < 0)
		die("fork: %m");
	if (pid == 0) {
		struct vctx v;

		vctx_open(&v, dev, gidx, IBV_QPT_RC, 0);
		if (with_mr)
			vctx_reg(&v, map_reservation(), size, 1);
		else
			map_reservation();
		if (write(ready[1], &c, 1) != 1 || read(go[0], &c, 1) != 1)
			_exit(2);
		_exit(0);	/* the MR, the mapping and the device go now */
	}
	if (read(ready[0], &c, 1) != 1)
		die("child did not get ready");
	t = now();
	if (write(go[1], &c, 1) != 1)
		die("write: %m");
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st))
		die("child failed (status %#x)", st);
	t = now() - t;
	close(go[0]);
	close(go[1]);
	close(ready[0]);
	close(ready[1]);
	return t;
}

static int test_unmap(void)
{
	double un[64], ex[64];
	int r;

	if (rounds > 64)
		rounds = 64;
	for (r = 0; r < rounds; r++) {
		un[r] = one_munmap();
		ex[r] = one_exit();
	}
	printf("munmap_us=%.2f exit_us=%.2f\n", median(un, rounds) * 1e6,
	       median(ex, rounds) * 1e6);
	return 0;
}

struct traffic {
	struct vctx *v;
	struct ibv_mr *pmr, *omr;
	char *pbuf, *obuf;
	size_t len;
	atomic_int stop;
	long writes;
};

static void *traffic_thread(void *arg)
{
	struct traffic *t = arg;
	size_t off = 0;

	while (!atomic_load(&t->stop)) {
		expect_ok(vctx_rdma(t->v, IBV_WR_RDMA_WRITE, t->pmr, t->pbuf,
				    64 * 1024, va(t->obuf + off), t->omr->rkey),
			  "traffic WRITE");
		t->writes++;
		off = (off + 64 * 1024) % t->len;
	}
	return NULL;
}

static double dontneed_round(char *buf, size_t len)
{
	const size_t zap = HUGE_2M;
	double v[64];
	int r;

	for (r = 0; r < rounds; r++) {
		char *p = buf + (r * zap) % len;
		size_t i;
		double t0;

		for (i = 0; i < zap; i += PAGE_4K)
			p[i] = 1;
		t0 = now();
		if (madvise(p, zap, MADV_DONTNEED))
			die("madvise(DONTNEED): %m");
		v[r] = now() - t0;
	}
	return median(v, rounds) * 1e6;
}

static int test_dontneed(void)
{
	const size_t len = 64UL << 20;
	struct traffic t = { 0 };
	double nomr, idle, busy;
	pthread_t th;
	struct vctx v;
	char *buf;

	if (rounds > 64)
		rounds = 64;
	huge = 0;
	buf = map_fresh(len);
	memset(buf, 1, len);
	nomr = dontneed_round(buf, len);

	vctx_open(&v, dev, gidx, IBV_QPT_RC, 0);
	t.v = &v;
	t.len = len;
	t.obuf = buf;
	t.pbuf = map_fresh(CHUNK);
	memset(t.pbuf, 0x5a, CHUNK);
	t.pmr = vctx_reg(&v, t.pbuf, CHUNK, 0);
	t.omr = vctx_reg(&v, buf, len, 1);
	/* map the whole MR once, so each zap has mirrored pages to drop */
	size = len;
	rdma_pass(&v, IBV_WR_RDMA_WRITE, t.pmr, t.pbuf, t.omr, buf);
	idle = dontneed_round(buf, len);
	rdma_pass(&v, IBV_WR_RDMA_WRITE, t.pmr, t.pbuf, t.omr, buf);
	if (pthread_create(&th, NULL, traffic_thread, &t))
		die("pthread_create");
	usleep(100 * 1000);
	busy = dontneed_round(buf, len);
	atomic_store(&t.stop, 1);
	pthread_join(th, NULL);
	ibv_dereg_mr(t.omr);
	ibv_dereg_mr(t.pmr);
	vctx_close(&v);
	printf("nomr_us=%.2f idle_us=%.2f traffic_us=%.2f writes=%ld\n", nomr,
	       idle, busy, t.writes);
	return 0;
}

int main(int argc, char **argv)
{
	const char *t;
	int c;

	while ((c = getopt(argc, argv, "d:g:s:r:pHm:")) != -1) {
		switch (c) {
		case 'd': dev = optarg; break;
		case 'g': gidx = atoi(optarg); break;
		case 's': size = strtoull(optarg, NULL, 0); break;
		case 'r': rounds = atoi(optarg); break;
		case 'p': pinned = 1; break;
		case 'H': huge = 1; break;
		case 'm': with_mr = atoi(optarg); break;
		default: die("bad option");
		}
	}
	if (optind != argc - 1 || gidx < 0 || rounds < 1)
		die("usage: bench_mm -d DEV -g GIDX [-s BYTES] [-r ROUNDS] [-p] [-H] [-m 0|1] TEST");
	t = argv[optind];
	if (!strcmp(t, "touch"))
		return test_touch();
	if (!strcmp(t, "reg"))
		return test_reg();
	if (!strcmp(t, "unmap"))
		return test_unmap();
	if (!strcmp(t, "dontneed"))
		return test_dontneed();
	die("unknown test %s", t);
}
