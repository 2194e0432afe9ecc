// SPDX-License-Identifier: GPL-2.0
/*
 * dpmem-stress: concurrent migrations, CPU faults and evictions on one
 * buffer, with every byte checked.
 *
 *   dpmem-stress [-s SIZE] [-i ITERATIONS] [-w WRITERS] [-e]
 *
 * Writer threads own disjoint pages. Each step a writer picks one of its
 * pages, checks that the whole page still holds the last pattern it wrote,
 * and writes the next one. Meanwhile one migrator thread per dpmem device
 * moves random ranges of the buffer to its device and back, and with -e an
 * evictor empties device 0 now and then. Any lost or torn write shows up as
 * a mismatch. Exit status 0 only if every check passed and every ioctl
 * succeeded.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "libdpmem.h"

#define MAX_THREADS 16

static size_t page_size, npages, words_per_page;
static uint64_t *buf;
static uint32_t *gen;
static unsigned int writers = 2, iterations = 2000;
static atomic_int failed;
static atomic_int writers_left;
static atomic_ullong moved_in, moved_out, evicted;

static uint64_t pattern(size_t page, uint32_t g, size_t w)
{
	return (((uint64_t)page << 32) | g) ^ (w * 0x9E3779B97F4A7C15ULL);
}

/* xorshift: a per-thread random stream, no locks. */
static uint64_t next_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void *writer(void *arg)
{
	unsigned int id = (uintptr_t)arg;
	uint64_t seed = 0x1234567ULL * (id + 1);
	unsigned int i;

	for (i = 0; i < iterations * 4 && !failed; i++) {
		size_t p = (next_rand(&seed) % (npages / writers)) * writers + id;
		uint64_t *page = buf + p * words_per_page;
		size_t w;

		if (p >= npages)
			continue;
		for (w = 0; w < words_per_page; w++) {
			if (page[w] != pattern(p, gen[p], w)) {
				fprintf(stderr, "writer %u: page %zu word %zu: %#llx, expected %#llx (gen %u)\n",
					id, p, w, (unsigned long long)page[w],
					(unsigned long long)pattern(p, gen[p], w), gen[p]);
				failed = 1;
				break;
			}
		}
		gen[p]++;
		for (w = 0; w < words_per_page; w++)
			page[w] = pattern(p, gen[p], w);
	}
	writers_left--;
	return NULL;
}

struct migrator {
	struct dpmem *d;
	unsigned int index;
};

static void *migrate_loop(void *arg)
{
	struct migrator *m = arg;
	uint64_t seed = 0xabcdefULL + m->index;
	struct dpmem_result r;

	while (writers_left > 0 && !failed) {
		size_t first = next_rand(&seed) % npages;
		size_t n = 1 + next_rand(&seed) % 256;
		int ret;

		if (first + n > npages)
			n = npages - first;
		ret = dpmem_to_device(m->d, (char *)buf + first * page_size,
				      n * page_size, 0, &r);
		if (ret) {
			fprintf(stderr, "dpmem%u to device: %s\n", m->index, strerror(-ret));
			failed = 1;
			break;
		}
		moved_in += r.moved;
		first = next_rand(&seed) % npages;
		n = 1 + next_rand(&seed) % 256;
		if (first + n > npages)
			n = npages - first;
		ret = dpmem_to_system(m->d, (char *)buf + first * page_size,
				      n * page_size, &r);
		if (ret) {
			fprintf(stderr, "dpmem%u to system: %s\n", m->index, strerror(-ret));
			failed = 1;
			break;
		}
		moved_out += r.moved;
	}
	return NULL;
}

static void *evict_loop(void *arg)
{
	struct dpmem *d = arg;
	uint64_t n, remaining;

	while (writers_left > 0 && !failed) {
		int ret = dpmem_evict(d, &n, &remaining);

		if (ret || remaining) {
			fprintf(stderr, "evict: %s, %llu remaining\n", strerror(-ret),
				(unsigned long long)remaining);
			failed = 1;
			break;
		}
		evicted += n;
		usleep(20000);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t threads[MAX_THREADS];
	struct migrator mig[2];
	unsigned int nthreads = 0, ndev, i;
	size_t size = 8 << 20, p, w;
	struct dpmem *d0;
	int opt, evict = 0;

	page_size = sysconf(_SC_PAGESIZE);
	while ((opt = getopt(argc, argv, "s:i:w:e")) != -1) {
		switch (opt) {
		case 's':
			size = strtoull(optarg, NULL, 0) << 20;
			break;
		case 'i':
			iterations = atoi(optarg);
			break;
		case 'w':
			writers = atoi(optarg);
			break;
		case 'e':
			evict = 1;
			break;
		default:
			fprintf(stderr, "usage: dpmem-stress [-s MIB] [-i ITERATIONS] [-w WRITERS] [-e]\n");
			return 2;
		}
	}
	if (!size || !writers || writers > 8 || !iterations) {
		fprintf(stderr, "bad arguments\n");
		return 2;
	}
	npages = size / page_size;
	words_per_page = page_size / sizeof(uint64_t);
	buf = mmap(NULL, size, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	gen = calloc(npages, sizeof(*gen));
	if (buf == MAP_FAILED || !gen) {
		perror("dpmem-stress");
		return 1;
	}
	for (p = 0; p < npages; p++)
		for (w = 0; w < words_per_page; w++)
			buf[p * words_per_page + w] = pattern(p, 0, w);

	d0 = dpmem_open(0);
	if (!d0) {
		perror("/dev/dpmem0");
		return 1;
	}
	ndev = dpmem_info(d0)->nr_devices < 2 ? 1 : 2;
	mig[0] = (struct migrator){ d0, 0 };
	if (ndev == 2) {
		mig[1] = (struct migrator){ dpmem_open(1), 1 };
		if (!mig[1].d) {
			perror("/dev/dpmem1");
			return 1;
		}
	}

	writers_left = writers;
	for (i = 0; i < writers; i++)
		pthread_create(&threads[nthreads++], NULL, writer,
			       (void *)(uintptr_t)i);
	for (i = 0; i < ndev; i++)
		pthread_create(&threads[nthreads++], NULL, migrate_loop, &mig[i]);
	if (evict)
		pthread_create(&threads[nthreads++], NULL, evict_loop, d0);
	for (i = 0; i < nthreads; i++)
		pthread_join(threads[i], NULL);

	/* Final check of every page, wherever it is now. */
	for (p = 0; p < npages && !failed; p++)
		for (w = 0; w < words_per_page; w++)
			if (buf[p * words_per_page + w] != pattern(p, gen[p], w)) {
				fprintf(stderr, "final: page %zu word %zu wrong\n", p, w);
				failed = 1;
				break;
			}
	printf("dpmem-stress: %zu pages, %u writers, %u devices%s: moved in %llu, out %llu, evicted %llu: %s\n",
	       npages, writers, ndev, evict ? " + evictor" : "",
	       (unsigned long long)moved_in, (unsigned long long)moved_out,
	       (unsigned long long)evicted, failed ? "FAILED" : "ok");
	munmap(buf, size);
	dpmem_close(d0);
	if (ndev == 2)
		dpmem_close(mig[1].d);
	return failed ? 1 : 0;
}
