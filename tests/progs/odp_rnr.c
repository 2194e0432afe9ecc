// SPDX-License-Identifier: GPL-2.0
/*
 * odp_rnr: ODP faults must never break a connection (issue 11).
 *
 *   odp_rnr [-d dev] [-g gid] [-R rnr_retry] [-s bytes] slow OP
 *	One OP (write, send, srq-send, read, fadd, cswap, local-send,
 *	local-read) whose ODP side is absent (never touched, or paged out
 *	with MADV_PAGEOUT after being filled), on a loopback RC pair with
 *	the given rnr_retry. Prints "status=<ibv_wc_status_str>" and, on
 *	success, compares every byte (FAIL on a mismatch).
 *   odp_rnr [-d dev] [-g gid] [-s bytes] count ROUNDS
 *	Registers an untouched ODP MR, prints "MR <lkey>", then for each of
 *	the first ROUNDS lines on stdin RDMA WRITEs the whole MR and prints
 *	"WRITTEN"; deregisters at EOF: the per-MR counters can be read in
 *	between.
 *   odp_rnr [-d dev] [-g gid] [-s bytes] [-m] [-q] storm SECONDS
 *	RDMA WRITE + READ back, SEND and FETCH_ADD on ODP MRs for SECONDS
 *	while a thread pages their memory out and changes its protection
 *	(PROT_EXEC on and off: an invalidation that leaves the pages
 *	writable) and zaps a fourth buffer that WRITEs target with
 *	MADV_DONTNEED; with -m it also migrates the three buffers to dpmem0
 *	and back; with -q nothing churns (the same traffic, for comparison).
 *	Any completion other than success fails at once; every byte is
 *	compared. Prints "storm: ops=N write=.. read=.. send=.. fadd=..
 *	events=.. moved=.. bytes=.. secs=..".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include "libdpmem.h"
#include "verbs_util.h"

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif

static size_t size = 64 * 1024;
static int migrate, quiet;

static void *map(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		die("mmap %zu: %m", len);
	return p;
}

static void fill(uint8_t *p, size_t len, unsigned int seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 31 + seed * 7 + 1);
}

static void expect(const uint8_t *got, const uint8_t *want, size_t len,
		   const char *what)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (got[i] != want[i])
			die("%s: byte %zu is %#x, not %#x", what, i, got[i],
			    want[i]);
}

static void pageout(void *p, size_t len)
{
	if (madvise(p, len, MADV_PAGEOUT))
		die("MADV_PAGEOUT: %m");
}

static void need_ok(enum ibv_wc_status st, const char *what)
{
	if (st != IBV_WC_SUCCESS)
		die("%s: %s", what, ibv_wc_status_str(st));
}

static enum ibv_wc_status op_status;

static void report(enum ibv_wc_status st)
{
	op_status = st;
	printf("status=%s\n", ibv_wc_status_str(st));
}

/* One operation whose ODP side is absent. */
static int test_slow(struct vctx *v, const char *op)
{
	uint8_t *odp = map(size), *pin = map(size), *ref = map(size);
	struct ibv_mr *omr, *pmr;
	uint64_t *result;
	enum ibv_wc_status st;

	fill(ref, size, 1);
	omr = vctx_reg(v, odp, size, 1);
	pmr = vctx_reg(v, pin, size, 0);

	if (!strcmp(op, "write")) {
		memcpy(pin, ref, size);
		report(st = vctx_rdma(v, IBV_WR_RDMA_WRITE, pmr, pin, size,
				      (uintptr_t)odp, omr->rkey));
		if (st == IBV_WC_SUCCESS)
			expect(odp, ref, size, "WRITE target");
	} else if (!strcmp(op, "send") || !strcmp(op, "srq-send")) {
		memcpy(pin, ref, size);
		vctx_post_recv(v, omr, odp, size, 7);
		report(st = vctx_send(v, pmr, pin, size, 7));
		if (st == IBV_WC_SUCCESS)
			expect(odp, ref, size, "SEND target");
	} else if (!strcmp(op, "local-send")) {
		/* the requester's own buffer is the absent one */
		memcpy(odp, ref, size);
		pageout(odp, size);
		vctx_post_recv(v, pmr, pin, size, 7);
		report(st = vctx_send(v, omr, odp, size, 7));
		if (st == IBV_WC_SUCCESS)
			expect(pin, ref, size, "SEND from paged-out buffer");
	} else if (!strcmp(op, "read")) {
		memcpy(odp, ref, size);
		pageout(odp, size);
		report(st = vctx_rdma(v, IBV_WR_RDMA_READ, pmr, pin, size,
				      (uintptr_t)odp, omr->rkey));
		if (st == IBV_WC_SUCCESS)
			expect(pin, ref, size, "READ of paged-out memory");
	} else if (!strcmp(op, "local-read")) {
		/* READ into an absent ODP buffer */
		memcpy(pin, ref, size);
		report(st = vctx_rdma(v, IBV_WR_RDMA_READ, omr, odp, size,
				      (uintptr_t)pin, pmr->rkey));
		if (st == IBV_WC_SUCCESS)
			expect(odp, ref, size, "READ into untouched buffer");
	} else if (!strcmp(op, "fadd") || !strcmp(op, "cswap")) {
		int fadd = !strcmp(op, "fadd");
		uint64_t *target = (uint64_t *)odp;

		*target = 1000;
		pageout(odp, size);
		result = (uint64_t *)pin;
		report(st = vctx_atomic(v, fadd ? IBV_WR_ATOMIC_FETCH_AND_ADD :
					IBV_WR_ATOMIC_CMP_AND_SWP, pmr, result,
					(uintptr_t)target, omr->rkey,
					fadd ? 5 : 1000, 77));
		if (st == IBV_WC_SUCCESS &&
		    (*result != 1000 || *target != (fadd ? 1005u : 77u)))
			die("%s: result %llu, target %llu", op,
			    (unsigned long long)*result,
			    (unsigned long long)*target);
	} else {
		die("unknown op %s", op);
	}
	ibv_dereg_mr(omr);
	ibv_dereg_mr(pmr);
	return op_status == IBV_WC_SUCCESS ? 0 : 2;
}

static int test_count(struct vctx *v, int rounds)
{
	uint8_t *odp = map(size), *pin = map(size);
	struct ibv_mr *omr = vctx_reg(v, odp, size, 1);
	struct ibv_mr *pmr = vctx_reg(v, pin, size, 0);
	char line[16];

	printf("MR %u\n", omr->lkey);
	while (fgets(line, sizeof(line), stdin)) {
		if (rounds-- <= 0)
			continue;	/* the MR stays until EOF */
		fill(pin, size, rounds);
		need_ok(vctx_rdma(v, IBV_WR_RDMA_WRITE, pmr, pin, size,
				  (uintptr_t)odp, omr->rkey), "WRITE");
		expect(odp, pin, size, "WRITE target");
		printf("WRITTEN\n");
	}
	ibv_dereg_mr(omr);
	ibv_dereg_mr(pmr);
	return 0;
}

/* ---- storm ---- */

struct storm {
	uint8_t *bufs[3];	/* pages out, PROT_EXEC on and off */
	uint8_t *zap;		/* MADV_DONTNEED */
	struct dpmem *dev;	/* -m: dpmem0 */
	atomic_int stop;
	atomic_ulong events;
	atomic_ulong moved;
};

static void *storm_thread(void *arg)
{
	struct storm *s = arg;
	unsigned int i = 0;

	while (!atomic_load(&s->stop)) {
		uint8_t *b = s->bufs[i % 3];
		int prot = PROT_READ | PROT_WRITE;
		struct dpmem_result res;
		int err;

		switch (i++ % (s->dev ? 5 : 3)) {
		case 0:
			pageout(b, size);
			break;
		case 1:
			if (mprotect(b, size, prot | PROT_EXEC) ||
			    mprotect(b, size, prot))
				die("mprotect: %m");
			break;
		case 2:
			if (madvise(s->zap, size, MADV_DONTNEED))
				die("MADV_DONTNEED: %m");
			break;
		case 3:
			/* pages busy with RDMA may stay behind: not an error */
			err = dpmem_to_device(s->dev, b, size, 0, &res);
			if (err)
				die("dpmem_to_device: %s", strerror(-err));
			atomic_fetch_add(&s->moved, res.moved);
			break;
		case 4:
			err = dpmem_to_system(s->dev, b, size, &res);
			if (err)
				die("dpmem_to_system: %s", strerror(-err));
			atomic_fetch_add(&s->moved, res.moved);
			break;
		}
		atomic_fetch_add(&s->events, 1);
		usleep(1000);
	}
	return NULL;
}

static int test_storm(struct vctx *v, double seconds)
{
	struct storm s = { .zap = map(size) };
	uint8_t *src = map(size), *back = map(size);
	unsigned long ops = 0, nw = 0, nr = 0, ns = 0, nf = 0;
	struct ibv_mr *mr[3], *zmr, *smr, *bmr;
	uint64_t *counter, *result = (uint64_t *)back, expect_val = 0;
	struct timespec t0, t;
	pthread_t th;
	int i;

	for (i = 0; i < 3; i++) {
		s.bufs[i] = map(size);
		mr[i] = vctx_reg(v, s.bufs[i], size, 1);
	}
	zmr = vctx_reg(v, s.zap, size, 1);
	smr = vctx_reg(v, src, size, 0);
	bmr = vctx_reg(v, back, size, 0);
	counter = (uint64_t *)s.bufs[2];
	*counter = 0;
	if (migrate && !(s.dev = dpmem_open(0)))
		die("dpmem_open(0): %m");
	if (!quiet && pthread_create(&th, NULL, storm_thread, &s))
		die("pthread_create");

	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		unsigned int seed = ops + 3;

		/* WRITE into buffer 0, READ it back */
		fill(src, size, seed);
		need_ok(vctx_rdma(v, IBV_WR_RDMA_WRITE, smr, src, size,
				  (uintptr_t)s.bufs[0], mr[0]->rkey), "WRITE");
		need_ok(vctx_rdma(v, IBV_WR_RDMA_READ, bmr, back, size,
				  (uintptr_t)s.bufs[0], mr[0]->rkey), "READ");
		expect(back, src, size, "READ back");
		expect(s.bufs[0], src, size, "CPU read of WRITE target");
		nw++;
		nr++;
		/* a WRITE into the buffer being zapped */
		need_ok(vctx_rdma(v, IBV_WR_RDMA_WRITE, smr, src, size,
				  (uintptr_t)s.zap, zmr->rkey), "WRITE (zapped)");
		nw++;
		/* SEND into buffer 1 */
		vctx_post_recv(v, mr[1], s.bufs[1], size, 9);
		need_ok(vctx_send(v, smr, src, size, 9), "SEND");
		expect(s.bufs[1], src, size, "SEND target");
		ns++;
		/* FETCH_ADD on the first word of buffer 2 */
		need_ok(vctx_atomic(v, IBV_WR_ATOMIC_FETCH_AND_ADD, bmr,
				    result, (uintptr_t)counter, mr[2]->rkey,
				    3, 0), "FETCH_ADD");
		if (*result != expect_val)
			die("FETCH_ADD returned %llu, not %llu",
			    (unsigned long long)*result,
			    (unsigned long long)expect_val);
		expect_val += 3;
		nf++;
		ops += 5;
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while ((t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9 <
		 seconds);
	atomic_store(&s.stop, 1);
	if (!quiet)
		pthread_join(th, NULL);
	if (*counter != expect_val)
		die("counter %llu, not %llu", (unsigned long long)*counter,
		    (unsigned long long)expect_val);
	printf("storm: ops=%lu write=%lu read=%lu send=%lu fadd=%lu events=%lu moved=%lu bytes=%lu secs=%.1f\n",
	       ops, nw, nr, ns, nf, atomic_load(&s.events),
	       atomic_load(&s.moved), ops * size,
	       (t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9);
	for (i = 0; i < 3; i++)
		ibv_dereg_mr(mr[i]);
	ibv_dereg_mr(zmr);
	ibv_dereg_mr(smr);
	ibv_dereg_mr(bmr);
	if (s.dev)
		dpmem_close(s.dev);
	return 0;
}

int main(int argc, char **argv)
{
	const char *dev = "rxe0";
	int gidx = 1, c, ret;
	struct vctx v;

	while ((c = getopt(argc, argv, "d:g:R:s:mq")) != -1) {
		switch (c) {
		case 'd': dev = optarg; break;
		case 'g': gidx = atoi(optarg); break;
		case 'R': vctx_rnr_retry = atoi(optarg); break;
		case 's': size = strtoull(optarg, NULL, 0); break;
		case 'm': migrate = 1; break;
		case 'q': quiet = 1; break;
		default: die("bad option");
		}
	}
	if (optind + 2 != argc)
		die("usage: odp_rnr [-d dev] [-g gid] [-R rnr_retry] [-s bytes] [-m] [-q] slow OP | count N | storm SECONDS");
	setvbuf(stdout, NULL, _IOLBF, 0);
	vctx_open(&v, dev, gidx, IBV_QPT_RC,
		  !strcmp(argv[optind + 1], "srq-send") ? VCTX_SRQ : 0);
	if (!strcmp(argv[optind], "slow"))
		ret = test_slow(&v, argv[optind + 1]);
	else if (!strcmp(argv[optind], "count"))
		ret = test_count(&v, atoi(argv[optind + 1]));
	else if (!strcmp(argv[optind], "storm"))
		ret = test_storm(&v, atof(argv[optind + 1]));
	else
		die("unknown test %s", argv[optind]);
	vctx_close(&v);
	if (!ret)
		printf("OK\n");
	return ret;
}
