// SPDX-License-Identifier: GPL-2.0
/*
 * dpmem-bench: migration throughput to and from device memory, dpmem next
 * to lib/test_hmm, in one process, one run.
 *
 *   dpmem-bench [-s SIZE] [-r ROUNDS] [-d DEV] [-H /dev/hmm_dmirror0]
 *
 * For each provider: map SIZE bytes of anonymous memory, write a pattern,
 * one warm-up round (to the device and back), then ROUNDS timed rounds;
 * the data is verified after the last round. Prints MB/s (10^6 bytes per
 * second) per direction: the median, min and max over the rounds, and the
 * dpmem / test_hmm ratio of the medians.
 *
 * test_hmm's HMM_DMIRROR_MIGRATE_TO_DEV also copies the whole range to a
 * bounce buffer (its "device read" for verification) and maps it in its
 * mirror, so it does more work per call than dpmem's MIGRATE_TO_DEVICE.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "libdpmem.h"

/*
 * lib/test_hmm_uapi.h of the kernel tree (test-only ABI, not installed):
 * five u64 fields, ioctl type 'H', MIGRATE_TO_DEV = 2, MIGRATE_TO_SYS = 3.
 */
struct hmm_cmd {
	uint64_t addr;		/* range start */
	uint64_t ptr;		/* bounce buffer */
	uint64_t npages;
	uint64_t cpages;	/* out: pages handled */
	uint64_t faults;
};

#define HMM_TO_DEV	_IOWR('H', 0x02, struct hmm_cmd)
#define HMM_TO_SYS	_IOWR('H', 0x03, struct hmm_cmd)

#define MAX_ROUNDS	64

struct provider {
	const char *name;
	int (*to_dev)(void *ctx, void *addr, size_t len, uint64_t *moved);
	int (*to_sys)(void *ctx, void *addr, size_t len, uint64_t *moved);
	void *ctx;
};

static size_t page_size;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int dpmem_dev_op(void *ctx, void *addr, size_t len, uint64_t *moved)
{
	struct dpmem_result r;
	int ret = dpmem_to_device(ctx, addr, len, 0, &r);

	*moved = r.moved;
	return ret;
}

static int dpmem_sys_op(void *ctx, void *addr, size_t len, uint64_t *moved)
{
	struct dpmem_result r;
	int ret = dpmem_to_system(ctx, addr, len, &r);

	*moved = r.moved;
	return ret;
}

struct hmm_ctx {
	int fd;
	void *bounce;
};

static int hmm_op(struct hmm_ctx *h, unsigned long cmd, void *addr,
		  size_t len, uint64_t *moved)
{
	struct hmm_cmd c = {
		.addr = (uintptr_t)addr,
		.ptr = (uintptr_t)h->bounce,
		.npages = len / page_size,
	};

	if (ioctl(h->fd, cmd, &c) < 0)
		return -errno;
	*moved = c.cpages;
	return 0;
}

static int hmm_dev_op(void *ctx, void *addr, size_t len, uint64_t *moved)
{
	return hmm_op(ctx, HMM_TO_DEV, addr, len, moved);
}

static int hmm_sys_op(void *ctx, void *addr, size_t len, uint64_t *moved)
{
	return hmm_op(ctx, HMM_TO_SYS, addr, len, moved);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

struct result {
	double to_dev[3];	/* median, min, max MB/s */
	double to_sys[3];
};

static void summarize(double *rates, int n, double out[3])
{
	qsort(rates, n, sizeof(*rates), cmp_double);
	out[0] = n % 2 ? rates[n / 2] : (rates[n / 2 - 1] + rates[n / 2]) / 2;
	out[1] = rates[0];
	out[2] = rates[n - 1];
}

static uint64_t pattern(size_t i)
{
	return i * 0x9E3779B97F4A7C15ULL + 0x5eed;
}

static int run(const struct provider *p, size_t size, int rounds,
	       struct result *res)
{
	double dev_rates[MAX_ROUNDS], sys_rates[MAX_ROUNDS];
	size_t i, words = size / sizeof(uint64_t);
	uint64_t *buf, moved;
	int r, ret = -1;

	buf = mmap(NULL, size, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED) {
		perror("mmap");
		return -1;
	}
	/* 4 KiB pages only: THP would be split by the first migration. */
	madvise(buf, size, MADV_NOHUGEPAGE);
	for (i = 0; i < words; i++)
		buf[i] = pattern(i);

	for (r = -1; r < rounds; r++) {
		double t;
		int err;

		t = now();
		err = p->to_dev(p->ctx, buf, size, &moved);
		t = now() - t;
		if (err || moved != size / page_size) {
			fprintf(stderr, "%s: to device: %s, %llu of %zu pages\n",
				p->name, strerror(-err),
				(unsigned long long)moved, size / page_size);
			goto out;
		}
		if (r >= 0)
			dev_rates[r] = size / t / 1e6;

		t = now();
		err = p->to_sys(p->ctx, buf, size, &moved);
		t = now() - t;
		if (err || moved != size / page_size) {
			fprintf(stderr, "%s: to system: %s, %llu of %zu pages\n",
				p->name, strerror(-err),
				(unsigned long long)moved, size / page_size);
			goto out;
		}
		if (r >= 0)
			sys_rates[r] = size / t / 1e6;
	}
	for (i = 0; i < words; i++) {
		if (buf[i] != pattern(i)) {
			fprintf(stderr, "%s: data mismatch at byte %zu\n",
				p->name, i * sizeof(uint64_t));
			goto out;
		}
	}
	summarize(dev_rates, rounds, res->to_dev);
	summarize(sys_rates, rounds, res->to_sys);
	printf("%-9s to_device %8.1f MB/s (min %.1f max %.1f)   to_system %8.1f MB/s (min %.1f max %.1f)   data ok\n",
	       p->name, res->to_dev[0], res->to_dev[1], res->to_dev[2],
	       res->to_sys[0], res->to_sys[1], res->to_sys[2]);
	fflush(stdout);
	ret = 0;
out:
	munmap(buf, size);
	return ret;
}

static int parse_size(const char *s, size_t *out)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 0);

	if (end == s)
		return -1;
	if (*end == 'M' || *end == 'm') {
		v <<= 20;
		end++;
	} else if (*end == 'G' || *end == 'g') {
		v <<= 30;
		end++;
	}
	if (*end || !v || v % page_size)
		return -1;
	*out = v;
	return 0;
}

int main(int argc, char **argv)
{
	const char *hmm_path = "/dev/hmm_dmirror0";
	struct result rd, rh;
	struct hmm_ctx hctx;
	struct provider p;
	size_t size = 256 << 20;
	unsigned int dev = 0;
	int rounds = 3, opt;
	struct dpmem *d;

	page_size = sysconf(_SC_PAGESIZE);
	while ((opt = getopt(argc, argv, "s:r:d:H:")) != -1) {
		switch (opt) {
		case 's':
			if (parse_size(optarg, &size)) {
				fprintf(stderr, "bad size %s\n", optarg);
				return 2;
			}
			break;
		case 'r':
			rounds = atoi(optarg);
			if (rounds < 1 || rounds > MAX_ROUNDS) {
				fprintf(stderr, "rounds: 1 to %d\n", MAX_ROUNDS);
				return 2;
			}
			break;
		case 'd':
			dev = atoi(optarg);
			break;
		case 'H':
			hmm_path = optarg;
			break;
		default:
			fprintf(stderr, "usage: dpmem-bench [-s SIZE] [-r ROUNDS] [-d DEV] [-H HMM_DEVICE]\n");
			return 2;
		}
	}
	printf("migration throughput, %zu MiB, %d rounds after one warm-up (MB = 10^6 bytes)\n",
	       size >> 20, rounds);

	d = dpmem_open(dev);
	if (!d) {
		fprintf(stderr, "/dev/dpmem%u: %s\n", dev, strerror(errno));
		return 1;
	}
	p = (struct provider){ "dpmem", dpmem_dev_op, dpmem_sys_op, d };
	if (run(&p, size, rounds, &rd))
		return 1;
	dpmem_close(d);

	hctx.fd = open(hmm_path, O_RDWR);
	if (hctx.fd < 0) {
		fprintf(stderr, "%s: %s (modprobe test_hmm?)\n", hmm_path,
			strerror(errno));
		return 1;
	}
	hctx.bounce = mmap(NULL, size, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (hctx.bounce == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	p = (struct provider){ "test_hmm", hmm_dev_op, hmm_sys_op, &hctx };
	if (run(&p, size, rounds, &rh))
		return 1;
	close(hctx.fd);

	printf("ratio dpmem/test_hmm: to_device %.2f  to_system %.2f\n",
	       rd.to_dev[0] / rh.to_dev[0], rd.to_sys[0] / rh.to_sys[0]);
	return 0;
}
