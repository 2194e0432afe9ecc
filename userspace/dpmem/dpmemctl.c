// SPDX-License-Identifier: GPL-2.0
/*
 * dpmemctl: drive dpmem devices from the command line.
 *
 * The migration ioctls act on the calling process's memory, so dpmemctl runs
 * a script of steps on a buffer of its own, in order, in one process:
 *
 *   dpmemctl -s 64M fill migrate residency read verify stats
 *   dpmemctl -s 16M fill migrate:0 migrate:1 residency:0 back:1 verify
 *   dpmemctl -d 1 stats
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "libdpmem.h"

#define MAX_DEVS 16

static struct dpmem *devs[MAX_DEVS];
static unsigned int default_dev;
static size_t buf_size = 16 << 20;
static size_t chunk;
static unsigned int mig_flags;
static size_t page_size;

static unsigned char *buf;
static unsigned int generation;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: dpmemctl [-d DEV] [-s SIZE] [-c CHUNK] [-n] STEP...\n"
		"Device steps (STEP:N acts on /dev/dpmemN instead of -d):\n"
		"  info           ABI version, capacity\n"
		"  stats          counters\n"
		"  evict          move every page of the device back (needs root)\n"
		"Buffer steps, on one anonymous buffer of SIZE bytes:\n"
		"  fill           write a pattern\n"
		"  migrate        move the buffer to the device (in CHUNK pieces)\n"
		"  back           bring the device's pages of the buffer back\n"
		"  residency      count the buffer's pages per place\n"
		"  read           read every page (CPU faults move pages back)\n"
		"  write          write every page with a new pattern\n"
		"  verify         compare the buffer with the last pattern\n"
		"Options:\n"
		"  -d DEV    device index (default 0)\n"
		"  -s SIZE   buffer size, K/M/G suffixes (default 16M)\n"
		"  -c CHUNK  migrate and back in pieces of CHUNK bytes\n"
		"  -n        migrate: leave pages that are on another dpmem device\n"
		"Exit status: 0 every step succeeded, 1 a step failed, 2 usage.\n");
}

static int parse_size(const char *s, size_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s)
		return -1;
	switch (*end) {
	case 'k': case 'K':
		v <<= 10;
		end++;
		break;
	case 'm': case 'M':
		v <<= 20;
		end++;
		break;
	case 'g': case 'G':
		v <<= 30;
		end++;
		break;
	}
	if (*end || !v)
		return -1;
	*out = v;
	return 0;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static struct dpmem *dev(unsigned int i)
{
	if (i >= MAX_DEVS) {
		fprintf(stderr, "dpmemctl: no device index %u\n", i);
		return NULL;
	}
	if (!devs[i]) {
		devs[i] = dpmem_open(i);
		if (!devs[i])
			fprintf(stderr, "dpmemctl: /dev/dpmem%u: %s\n", i,
				strerror(errno));
	}
	return devs[i];
}

static uint64_t pattern(unsigned int gen, size_t word)
{
	return ((uint64_t)gen << 56) ^ (word * 0x9E3779B97F4A7C15ULL);
}

static void write_pattern(unsigned int gen)
{
	uint64_t *w = (uint64_t *)buf;
	size_t i;

	for (i = 0; i < buf_size / sizeof(*w); i++)
		w[i] = pattern(gen, i);
}

static int need_buf(void)
{
	if (buf)
		return 0;
	buf = mmap(NULL, buf_size, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED) {
		buf = NULL;
		perror("dpmemctl: mmap");
		return -1;
	}
	return 0;
}

static int step_migrate(unsigned int n, bool to_device)
{
	struct dpmem *d = dev(n);
	struct dpmem_result total = { 0 };
	size_t step = chunk ? chunk : buf_size;
	size_t off;
	double t;

	if (!d)
		return -1;
	t = now();
	for (off = 0; off < buf_size; off += step) {
		size_t len = buf_size - off < step ? buf_size - off : step;
		struct dpmem_result r;
		int ret;

		if (to_device)
			ret = dpmem_to_device(d, buf + off, len, mig_flags, &r);
		else
			ret = dpmem_to_system(d, buf + off, len, &r);
		if (ret) {
			fprintf(stderr, "dpmemctl: %s dpmem%u at +%zu: %s\n",
				to_device ? "migrate" : "back", n, off,
				strerror(-ret));
			return -1;
		}
		total.moved += r.moved;
		total.moved_peer += r.moved_peer;
		total.failed += r.failed;
		total.out_flags |= r.out_flags;
	}
	t = now() - t;
	printf("%s dpmem%u: moved=%llu peer=%llu failed=%llu%s time=%.3fs rate=%.1fMB/s\n",
	       to_device ? "migrate" : "back", n,
	       (unsigned long long)total.moved,
	       (unsigned long long)total.moved_peer,
	       (unsigned long long)total.failed,
	       total.out_flags & DPMEM_MIGRATE_OUT_FULL ? " FULL" : "", t,
	       t > 0 ? total.moved * page_size / t / 1e6 : 0.0);
	return 0;
}

static int step_residency(unsigned int n)
{
	uint64_t count[DPMEM_RES_NR_STATES];
	struct dpmem *d = dev(n);
	unsigned int s;
	int ret;

	if (!d)
		return -1;
	ret = dpmem_residency(d, buf, buf_size, NULL, count);
	if (ret) {
		fprintf(stderr, "dpmemctl: residency dpmem%u: %s\n", n,
			strerror(-ret));
		return -1;
	}
	printf("residency dpmem%u:", n);
	for (s = 0; s < DPMEM_RES_NR_STATES; s++)
		printf(" %s=%llu", dpmem_residency_name(s),
		       (unsigned long long)count[s]);
	printf("\n");
	return 0;
}

static int step_read(void)
{
	volatile unsigned char *p = buf;
	unsigned long sum = 0;
	size_t off;
	double t = now();

	for (off = 0; off < buf_size; off += page_size)
		sum += p[off];
	t = now() - t;
	printf("read: %zu pages time=%.3fs (sum %lu)\n", buf_size / page_size,
	       t, sum);
	return 0;
}

static int step_verify(void)
{
	const uint64_t *w = (const uint64_t *)buf;
	size_t i;

	if (!generation) {
		fprintf(stderr, "dpmemctl: verify: nothing written yet (fill first)\n");
		return -1;
	}
	for (i = 0; i < buf_size / sizeof(*w); i++) {
		if (w[i] != pattern(generation, i)) {
			fprintf(stderr, "dpmemctl: verify: mismatch at byte %zu: %#llx, expected %#llx\n",
				i * sizeof(*w), (unsigned long long)w[i],
				(unsigned long long)pattern(generation, i));
			return -1;
		}
	}
	printf("verify: %zu bytes ok\n", buf_size);
	return 0;
}

static int step_info(unsigned int n)
{
	struct dpmem *d = dev(n);
	const struct dpmem_info *i;

	if (!d)
		return -1;
	i = dpmem_info(d);
	printf("dpmem%u: version=%u devices=%u page_size=%u capacity=%llu\n",
	       i->index, i->version, i->nr_devices, i->page_size,
	       (unsigned long long)i->capacity);
	return 0;
}

static int step_stats(unsigned int n)
{
	struct dpmem *d = dev(n);
	struct dpmem_stats st;
	int ret;

	if (!d)
		return -1;
	ret = dpmem_get_stats(d, &st);
	if (ret) {
		fprintf(stderr, "dpmemctl: stats dpmem%u: %s\n", n, strerror(-ret));
		return -1;
	}
	printf("stats dpmem%u: pages_resident=%llu capacity_pages=%llu bytes_in=%llu bytes_out=%llu cpu_faults=%llu evictions=%llu alloc_failures=%llu pages_from_peer=%llu pages_to_peer=%llu importer_maps=%llu importer_refusals=%llu\n",
	       n, (unsigned long long)st.pages_resident,
	       (unsigned long long)st.capacity_pages,
	       (unsigned long long)st.bytes_in,
	       (unsigned long long)st.bytes_out,
	       (unsigned long long)st.cpu_faults,
	       (unsigned long long)st.evictions,
	       (unsigned long long)st.alloc_failures,
	       (unsigned long long)st.pages_from_peer,
	       (unsigned long long)st.pages_to_peer,
	       (unsigned long long)st.importer_maps,
	       (unsigned long long)st.importer_refusals);
	return 0;
}

static int step_evict(unsigned int n)
{
	struct dpmem *d = dev(n);
	uint64_t evicted, remaining;
	int ret;

	if (!d)
		return -1;
	ret = dpmem_evict(d, &evicted, &remaining);
	if (ret) {
		fprintf(stderr, "dpmemctl: evict dpmem%u: %s\n", n, strerror(-ret));
		return -1;
	}
	printf("evict dpmem%u: evicted=%llu remaining=%llu\n", n,
	       (unsigned long long)evicted, (unsigned long long)remaining);
	return 0;
}

/* Split "name[:N]"; returns the device index through *n. */
static int parse_step(const char *arg, char *name, size_t size,
		      unsigned int *n)
{
	const char *colon = strchr(arg, ':');
	size_t len = colon ? (size_t)(colon - arg) : strlen(arg);
	char *end;

	if (len >= size)
		return -1;
	memcpy(name, arg, len);
	name[len] = 0;
	*n = default_dev;
	if (colon) {
		unsigned long v = strtoul(colon + 1, &end, 10);

		if (end == colon + 1 || *end || v >= MAX_DEVS)
			return -1;
		*n = v;
	}
	return 0;
}

static int run_step(const char *name, unsigned int n)
{
	if (!strcmp(name, "info"))
		return step_info(n);
	if (!strcmp(name, "stats"))
		return step_stats(n);
	if (!strcmp(name, "evict"))
		return step_evict(n);
	if (need_buf())
		return -1;
	if (!strcmp(name, "fill") || !strcmp(name, "write")) {
		double t = now();

		write_pattern(++generation);
		printf("%s: %zu bytes time=%.3fs\n", name, buf_size, now() - t);
		return 0;
	}
	if (!strcmp(name, "migrate"))
		return step_migrate(n, true);
	if (!strcmp(name, "back"))
		return step_migrate(n, false);
	if (!strcmp(name, "residency"))
		return step_residency(n);
	if (!strcmp(name, "read"))
		return step_read();
	if (!strcmp(name, "verify"))
		return step_verify();
	return -2;
}

int main(int argc, char **argv)
{
	static const char *const steps[] = {
		"info", "stats", "evict", "fill", "write", "migrate", "back",
		"residency", "read", "verify",
	};
	unsigned int i, n;
	char name[16];
	int opt, ret = 0;
	unsigned long v;
	char *end;

	page_size = sysconf(_SC_PAGESIZE);
	while ((opt = getopt(argc, argv, "d:s:c:nh")) != -1) {
		switch (opt) {
		case 'd':
			v = strtoul(optarg, &end, 10);
			if (end == optarg || *end || v >= MAX_DEVS) {
				usage(stderr);
				return 2;
			}
			default_dev = v;
			break;
		case 's':
			if (parse_size(optarg, &buf_size) ||
			    buf_size % page_size) {
				fprintf(stderr, "dpmemctl: bad size %s (a multiple of %zu)\n",
					optarg, page_size);
				return 2;
			}
			break;
		case 'c':
			if (parse_size(optarg, &chunk) || chunk % page_size) {
				fprintf(stderr, "dpmemctl: bad chunk %s (a multiple of %zu)\n",
					optarg, page_size);
				return 2;
			}
			break;
		case 'n':
			mig_flags |= DPMEM_MIGRATE_NO_PEER;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind == argc) {
		usage(stderr);
		return 2;
	}
	/* Check the whole script before running any of it. */
	for (i = optind; i < (unsigned int)argc; i++) {
		size_t k;

		if (parse_step(argv[i], name, sizeof(name), &n)) {
			fprintf(stderr, "dpmemctl: bad step '%s'\n", argv[i]);
			return 2;
		}
		for (k = 0; k < sizeof(steps) / sizeof(steps[0]); k++)
			if (!strcmp(name, steps[k]))
				break;
		if (k == sizeof(steps) / sizeof(steps[0])) {
			fprintf(stderr, "dpmemctl: unknown step '%s'\n", name);
			usage(stderr);
			return 2;
		}
	}
	for (i = optind; i < (unsigned int)argc && !ret; i++) {
		parse_step(argv[i], name, sizeof(name), &n);
		ret = run_step(name, n);
		fflush(stdout);
	}
	for (i = 0; i < MAX_DEVS; i++)
		dpmem_close(devs[i]);
	return ret ? 1 : 0;
}
