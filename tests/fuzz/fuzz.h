/* SPDX-License-Identifier: MIT */
/*
 * What every fuzz harness shares: its deep-path counter and its seed writer.
 *
 * Deep path. A harness exists to reach some code behind the entry checks: the receiver
 * behind the AEAD, a parser's success branch. Bytes the fuzzer makes up mostly stop at
 * those checks, and a harness whose deep path went silent still runs, fast and green:
 * fuzz_link_payload's session expired after 180,000 inputs, and for the rest of a
 * 17-minute campaign about 1 % of its executions reached the receiver. So every harness
 * says, once per input, whether its deep path was reached (fuzz_deep), and at exit the
 * process fails -- a message, then abort() -- when, after at least min_inputs inputs,
 * fewer than floor_permille per thousand got there: over the whole run, or over any full window of
 * FUZZ_WINDOW consecutive inputs, so that a good start cannot hide a late collapse.
 *
 * Both drivers call LLVMFuzzerInitialize once before the first input: the replay driver
 * (tests/fuzz/replay.c, the seed corpus in CI) and libFuzzer. Each harness's calls
 * fuzz_init from it, which registers the check with atexit(); libFuzzer leaves through
 * exit() at the end of a -runs or -max_total_time run, so the check runs there too. In a
 * libFuzzer merge (-merge=1) the inputs are a corpus, not the fuzzer's own mutations:
 * the figures are printed, not judged.
 *
 * Seeds. A harness whose seeds are built by code passes a writer to fuzz_init; then
 * `HARNESS --write-seeds DIR` (either build) writes them into DIR and exits.
 *
 * The counters live in this header's one static object: each harness is one translation
 * unit and one process, and libFuzzer's entry point leaves no other place to keep them.
 */
#ifndef FERRY_TESTS_FUZZ_FUZZ_H
#define FERRY_TESTS_FUZZ_FUZZ_H

#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_WINDOW (1u << 20) /* inputs per window of the collapse check */

struct fuzz_spec {
	const char *name;		     /* the harness, for the messages */
	const char *deep;		     /* what its deep path is */
	uint64_t min_inputs;		     /* judged from this many inputs on */
	unsigned int floor_permille;	     /* ... and failed below this share (1/1000) */
	int (*write_seeds)(const char *dir); /* NULL: the corpus is made by hand */
};

struct fuzz_counter {
	const struct fuzz_spec *spec;
	uint64_t inputs, deep;
	uint64_t win_inputs, win_deep; /* the window being filled */
	uint64_t windows;	       /* full windows seen */
	uint64_t worst_deep;	       /* fewest deep inputs in a full window */
	bool judge;		       /* false in a merge */
};

static struct fuzz_counter fuzz_counter;

/* Counts one input: whether it reached the harness's deep path. */
static inline void fuzz_deep(bool reached)
{
	struct fuzz_counter *c = &fuzz_counter;

	c->inputs++;
	c->deep += reached;
	c->win_inputs++;
	c->win_deep += reached;
	if (c->win_inputs == FUZZ_WINDOW) {
		if (!c->windows || c->win_deep < c->worst_deep)
			c->worst_deep = c->win_deep;
		c->windows++;
		c->win_inputs = 0;
		c->win_deep = 0;
	}
}

static inline double fuzz_pct(uint64_t part, uint64_t whole)
{
	return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

/* The atexit() handler: prints the figures, fails a run whose deep path went silent. */
static inline void fuzz_report(void)
{
	const struct fuzz_counter *c = &fuzz_counter;
	const struct fuzz_spec *s = c->spec;
	bool low_total, low_window;

	if (!s)
		return;
	low_total =
	    c->inputs >= s->min_inputs && c->deep * 1000 < (uint64_t)s->floor_permille * c->inputs;
	low_window = c->windows && c->worst_deep * 1000 < (uint64_t)s->floor_permille * FUZZ_WINDOW;
	fprintf(stderr, "%s: deep path (%s) reached by %llu of %llu inputs (%.1f%%)", s->name,
		s->deep, (unsigned long long)c->deep, (unsigned long long)c->inputs,
		fuzz_pct(c->deep, c->inputs));
	if (c->windows)
		fprintf(stderr, ", worst window of %u: %.1f%%", FUZZ_WINDOW,
			fuzz_pct(c->worst_deep, FUZZ_WINDOW));
	fprintf(stderr, "; floor %.1f%% from %llu inputs%s\n", s->floor_permille / 10.0,
		(unsigned long long)s->min_inputs, c->judge ? "" : " (merge: not judged)");
	if (!c->judge || !(low_total || low_window))
		return;
	fprintf(stderr,
		"%s: FAILED: %s below %.1f%% of the inputs: the harness no longer reaches what "
		"it exists to test\n",
		s->name, low_total ? "the whole run is" : "a window of inputs is",
		s->floor_permille / 10.0);
	fflush(stderr);
	/* libFuzzer's handler would save the empty input as a crash: this is the run's failure,
	 * not an input's */
	signal(SIGABRT, SIG_DFL);
	abort();
}

/* Writes one seed file DIR/name. Returns 0 or a negative errno (reported). */
static inline int fuzz_seed_write(const char *dir, const char *name, const void *data, size_t len)
{
	char path[4096];
	FILE *f;
	int err = 0;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
		return -ENAMETOOLONG;
	f = fopen(path, "wb");
	if (!f) {
		err = -errno;
		perror(path);
		return err;
	}
	if (len && fwrite(data, 1, len, f) != len)
		err = -EIO;
	if (fclose(f) != 0 && !err)
		err = -EIO;
	if (err)
		fprintf(stderr, "%s: write failed\n", path);
	return err;
}

/* Called from the harness's LLVMFuzzerInitialize: sets up the counter and its check at
 * exit, or writes the seeds and exits when asked to (--write-seeds DIR). */
static inline int fuzz_init(int *argc, char ***argv, const struct fuzz_spec *spec)
{
	int i;

	fuzz_counter.spec = spec;
	fuzz_counter.judge = true;
	for (i = 1; i < *argc; i++) {
		const char *arg = (*argv)[i];

		if (strcmp(arg, "--write-seeds") == 0) {
			if (i + 1 >= *argc || !spec->write_seeds) {
				fprintf(stderr, "%s: %s\n", spec->name,
					spec->write_seeds
					    ? "usage: --write-seeds DIR"
					    : "no seed writer: its corpus is made by hand");
				exit(2);
			}
			exit(spec->write_seeds((*argv)[i + 1]) ? EXIT_FAILURE : EXIT_SUCCESS);
		}
		if ((strncmp(arg, "-merge", 6) == 0 && strcmp(arg, "-merge=0") != 0) ||
		    strncmp(arg, "-set_cover_merge", 16) == 0)
			fuzz_counter.judge = false;
	}
	if (atexit(fuzz_report) != 0)
		abort();
	/* Each input builds and frees its links: half a megabyte each (a pool, FEC tables,
	 * the rate limiter's table). glibc would give the top of the heap back after every
	 * input and fault it in again on the next, which halved the executions a second of
	 * a build without AddressSanitizer (whose allocator ignores this). */
	mallopt(M_TRIM_THRESHOLD, 256 << 20);
	mallopt(M_MMAP_THRESHOLD, 8 << 20);
	return 0;
}

#endif
