/* SPDX-License-Identifier: MIT */
/*
 * ferry-wanem's command line: options for both directions, per-direction overrides
 * (--a2b-X, --b2a-X win over --X whatever their order), and the defaults derived from them.
 */
#ifndef FERRY_WANEM_OPTIONS_H
#define FERRY_WANEM_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "netns-tests/wanem/wanem_core.h"

enum ferry_wanem_dir {
	FERRY_WANEM_A2B, /* received on interface A, sent on interface B */
	FERRY_WANEM_B2A,
	FERRY_WANEM_DIRS,
};

#define FERRY_WANEM_DEFAULT_SEED	  1
#define FERRY_WANEM_DEFAULT_POOL	  16384 /* frames per direction */
#define FERRY_WANEM_DEFAULT_FRAME_MAX	  2048	/* bytes per frame buffer */
#define FERRY_WANEM_DEFAULT_REORDER_DELAY 10	/* ms */
#define FERRY_WANEM_MIN_QUEUE_BYTES	  65536 /* floor of the one-BDP default queue */

struct ferry_wanem_options {
	const char *ifname[FERRY_WANEM_DIRS]; /* [0] interface A, [1] interface B */
	struct ferry_wanem_path_config path[FERRY_WANEM_DIRS];
	uint64_t seed;
	const char *stats_path; /* NULL: no stats file */
	uint32_t pool;		/* frame buffers per direction */
	uint32_t frame_max;	/* largest frame carried, bytes */
	int rt_priority;	/* SCHED_FIFO priority, 1..99; 0: normal scheduling */
	bool help;
};

/* Fills o from argv (argv[0] is the program). Returns 0 (with o->help set if --help was
 * given, and then nothing else is checked) or -EINVAL after printing what is wrong to err.
 * o points into argv for strings. */
int ferry_wanem_options_parse(struct ferry_wanem_options *o, int argc, char *const argv[],
			      FILE *err);

/* Prints the --help text. */
void ferry_wanem_options_usage(FILE *out);

#endif
