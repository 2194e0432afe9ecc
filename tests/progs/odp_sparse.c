// SPDX-License-Identifier: GPL-2.0
/*
 * odp_sparse: ODP MRs much larger than what they mirror (issue 12).
 *
 *   odp_sparse [-d dev] [-g gid] [-s size] [-n pages] [-p] MODE
 *
 *   reg      register an MR over a -s byte PROT_NONE, MAP_NORESERVE
 *            reservation (-p: pinned, over -s bytes of touched memory), then
 *            deregister; prints reg_s, dereg_s and the mirror's bytes
 *            before, registered and after
 *   scatter  -n pages spread evenly over an ODP MR of -s bytes (each made
 *            read-write with mmap MAP_FIXED): RDMA WRITE a pattern to each
 *            page, READ it back, compare; then munmap them one by one.
 *            Prints the mirror's leaves and bytes at each step.
 *   hugetlb  one -s byte hugetlb page (2 MiB or 1 GiB) under an ODP MR:
 *            RDMA WRITE and READ 4 KiB at 8 places across it, compare; then
 *            munmap. Prints the mirror's leaves and huge leaves at each step.
 *
 * "Mirror bytes" come from debugfs softodp_mirror/live (the guest only).
 * Exits non-zero on any mismatch or failure.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "verbs_util.h"

static const char *dev = "rxe0";
static int gidx = -1;
static size_t size = 1UL << 30;
static size_t npages = 64;
static int odp = 1;

#define PAGE 4096UL

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

struct live {
	long leaves, huge_leaves, bytes;
};

static struct live mirror_live(void)
{
	FILE *f = fopen("/sys/kernel/debug/softodp_mirror/live", "r");
	struct live l = { -1, -1, -1 };
	char key[64];
	long val;

	if (!f)
		return l;
	while (fscanf(f, "%63s %ld", key, &val) == 2) {
		if (!strcmp(key, "leaves"))
			l.leaves = val;
		else if (!strcmp(key, "huge_leaves"))
			l.huge_leaves = val;
		else if (!strcmp(key, "bytes"))
			l.bytes = val;
	}
	fclose(f);
	return l;
}

#define LEAF (2UL << 20)

/* A PROT_NONE reservation of @len bytes, aligned to a mirror leaf (2 MiB). */
static char *reserve(size_t len)
{
	char *p = mmap(NULL, len + LEAF, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	uintptr_t a;

	if (p == MAP_FAILED)
		die("mmap PROT_NONE %zu: %m", len);
	a = ((uintptr_t)p + LEAF - 1) & ~(LEAF - 1);
	if (a > (uintptr_t)p)
		munmap(p, a - (uintptr_t)p);
	munmap((char *)a + len, (uintptr_t)p + LEAF - a);
	return (char *)a;
}

static struct ibv_mr *reg_or_die(struct vctx *v, void *p, size_t len, int use_odp)
{
	int access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ |
		     IBV_ACCESS_REMOTE_WRITE;
	struct ibv_mr *mr;

	if (use_odp)
		access |= IBV_ACCESS_ON_DEMAND;
	mr = ibv_reg_mr(v->pd, p, len, access);
	if (!mr)
		die("ibv_reg_mr(%zu bytes, odp=%d): %m", len, use_odp);
	return mr;
}

static int mode_reg(void)
{
	struct live l0, l1, l2;
	struct ibv_mr *mr;
	struct vctx v;
	double t0, t1, t2;
	char *p;

	vctx_open(&v, dev, gidx, IBV_QPT_RC, 0);
	if (odp) {
		p = reserve(size);
	} else {
		p = mmap(NULL, size, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
		if (p == MAP_FAILED)
			die("mmap %zu: %m", size);
	}
	l0 = mirror_live();
	t0 = now();
	mr = reg_or_die(&v, p, size, odp);
	t1 = now();
	l1 = mirror_live();
	ibv_dereg_mr(mr);
	t2 = now();
	l2 = mirror_live();
	printf("reg_s=%.6f dereg_s=%.6f bytes_before=%ld bytes_registered=%ld bytes_after=%ld\n",
	       t1 - t0, t2 - t1, l0.bytes, l1.bytes, l2.bytes);
	munmap(p, size);
	vctx_close(&v);
	return 0;
}

static void pattern(unsigned char *b, size_t i)
{
	size_t k;

	for (k = 0; k < PAGE; k++)
		b[k] = (unsigned char)(i * 131 + k * 7 + 1);
}

static int mode_scatter(void)
{
	size_t stride = (size / npages) & ~(PAGE - 1), i;
	unsigned char *src, *back;
	struct ibv_mr *mr, *smr, *bmr;
	struct live l0, l1, l2;
	enum ibv_wc_status st;
	struct vctx v;
	char *base;

	if (stride < PAGE)
		die("-s %zu too small for -n %zu pages", size, npages);
	vctx_open(&v, dev, gidx, IBV_QPT_RC, 0);
	src = mmap(NULL, npages * PAGE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	back = mmap(NULL, npages * PAGE, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (src == MAP_FAILED || back == MAP_FAILED)
		die("mmap: %m");
	smr = reg_or_die(&v, src, npages * PAGE, 0);
	bmr = reg_or_die(&v, back, npages * PAGE, 0);
	base = reserve(size);
	l0 = mirror_live();
	mr = reg_or_die(&v, base, size, 1);
	for (i = 0; i < npages; i++) {
		char *pg = base + i * stride;

		/* no THP: each page is its own 4 KiB mapping */
		if (mmap(pg, PAGE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
			die("mmap MAP_FIXED: %m");
		if (madvise(pg, PAGE, MADV_NOHUGEPAGE))
			die("madvise(NOHUGEPAGE): %m");
		pattern(src + i * PAGE, i);
		st = vctx_rdma(&v, IBV_WR_RDMA_WRITE, smr, src + i * PAGE, PAGE,
			       (uintptr_t)pg, mr->rkey);
		if (st != IBV_WC_SUCCESS)
			die("RDMA WRITE to page %zu: %s", i, ibv_wc_status_str(st));
	}
	l1 = mirror_live();
	for (i = 0; i < npages; i++) {
		char *pg = base + i * stride;

		if (memcmp(pg, src + i * PAGE, PAGE))
			die("page %zu: the CPU does not see what RDMA wrote", i);
		st = vctx_rdma(&v, IBV_WR_RDMA_READ, bmr, back + i * PAGE, PAGE,
			       (uintptr_t)pg, mr->rkey);
		if (st != IBV_WC_SUCCESS)
			die("RDMA READ of page %zu: %s", i, ibv_wc_status_str(st));
		if (memcmp(back + i * PAGE, src + i * PAGE, PAGE))
			die("page %zu: RDMA READ returned other bytes", i);
	}
	for (i = 0; i < npages; i++)
		if (munmap(base + i * stride, PAGE))
			die("munmap: %m");
	l2 = mirror_live();
	printf("pages=%zu span=%zu leaves_before=%ld leaves_touched=%ld leaves_unmapped=%ld "
	       "bytes_before=%ld bytes_touched=%ld bytes_unmapped=%ld\n",
	       npages, size, l0.leaves, l1.leaves, l2.leaves,
	       l0.bytes, l1.bytes, l2.bytes);
	ibv_dereg_mr(mr);
	munmap(base, size);
	ibv_dereg_mr(smr);
	ibv_dereg_mr(bmr);
	vctx_close(&v);
	return 0;
}

#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT 26
#endif

static int mode_hugetlb(void)
{
	int order = size == (1UL << 30) ? 30 : 21;
	struct live l0, l1, l2, l3;
	unsigned char *src, *back;
	struct ibv_mr *mr, *smr, *bmr;
	enum ibv_wc_status st;
	struct vctx v;
	size_t i, off;
	char *p;

	if (size != (1UL << 30) && size != (2UL << 20))
		die("-s must be 2 MiB or 1 GiB");
	vctx_open(&v, dev, gidx, IBV_QPT_RC, 0);
	src = mmap(NULL, 8 * PAGE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	back = mmap(NULL, 8 * PAGE, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (src == MAP_FAILED || back == MAP_FAILED)
		die("mmap: %m");
	p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB |
		 (order << MAP_HUGE_SHIFT), -1, 0);
	if (p == MAP_FAILED)
		die("mmap(MAP_HUGETLB, %zu): %m (no huge page of that size reserved?)", size);
	smr = reg_or_die(&v, src, 8 * PAGE, 0);
	bmr = reg_or_die(&v, back, 8 * PAGE, 0);
	l0 = mirror_live();
	mr = reg_or_die(&v, p, size, 1);
	l1 = mirror_live();
	for (i = 0; i < 8; i++) {
		off = i * (size / 8) + (i * 3 % 8) * PAGE;
		pattern(src + i * PAGE, i + 7);
		st = vctx_rdma(&v, IBV_WR_RDMA_WRITE, smr, src + i * PAGE, PAGE,
			       (uintptr_t)(p + off), mr->rkey);
		if (st != IBV_WC_SUCCESS)
			die("RDMA WRITE at %#zx: %s", off, ibv_wc_status_str(st));
	}
	l2 = mirror_live();
	for (i = 0; i < 8; i++) {
		off = i * (size / 8) + (i * 3 % 8) * PAGE;
		if (memcmp(p + off, src + i * PAGE, PAGE))
			die("at %#zx: the CPU does not see what RDMA wrote", off);
		st = vctx_rdma(&v, IBV_WR_RDMA_READ, bmr, back + i * PAGE, PAGE,
			       (uintptr_t)(p + off), mr->rkey);
		if (st != IBV_WC_SUCCESS)
			die("RDMA READ at %#zx: %s", off, ibv_wc_status_str(st));
		if (memcmp(back + i * PAGE, src + i * PAGE, PAGE))
			die("at %#zx: RDMA READ returned other bytes", off);
	}
	if (munmap(p, size))
		die("munmap: %m");
	l3 = mirror_live();
	printf("leaves_before=%ld leaves_registered=%ld leaves_touched=%ld leaves_unmapped=%ld "
	       "huge_before=%ld huge_registered=%ld huge_touched=%ld huge_unmapped=%ld\n",
	       l0.leaves, l1.leaves, l2.leaves, l3.leaves,
	       l0.huge_leaves, l1.huge_leaves, l2.huge_leaves, l3.huge_leaves);
	ibv_dereg_mr(mr);
	ibv_dereg_mr(smr);
	ibv_dereg_mr(bmr);
	vctx_close(&v);
	return 0;
}

int main(int argc, char **argv)
{
	const char *m;
	int c;

	while ((c = getopt(argc, argv, "d:g:s:n:p")) != -1) {
		switch (c) {
		case 'd': dev = optarg; break;
		case 'g': gidx = atoi(optarg); break;
		case 's': size = strtoull(optarg, NULL, 0); break;
		case 'n': npages = strtoull(optarg, NULL, 0); break;
		case 'p': odp = 0; break;
		default: die("bad option");
		}
	}
	if (optind != argc - 1)
		die("usage: odp_sparse [-d dev] [-g gid] [-s size] [-n pages] [-p] reg|scatter|hugetlb");
	m = argv[optind];
	if (!strcmp(m, "reg"))
		return mode_reg();
	if (!strcmp(m, "scatter"))
		return mode_scatter();
	if (!strcmp(m, "hugetlb"))
		return mode_hugetlb();
	die("unknown mode %s", m);
}
