// SPDX-License-Identifier: MIT
/* demo: plain TCP and ferry on one emulated bad path (cli/demo/). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/command.h"
#include "cli/demo/demo.h"

struct number_opt {
	const char *name;
	double min, max;
	double *value;
};

static int parse_number(const char *name, const char *text, double min, double max, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(text, &end);
	if (errno || end == text || *end != '\0' || v < min || v > max) {
		fprintf(stderr, "ferry demo: %s \"%s\": expected a number from %g to %g\n", name,
			text, min, max);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

int ferry_cmd_demo(int argc, char **argv)
{
	const struct ferry_command *cmd = ferry_command_find("demo");
	double rate = 100, rtt = 60, loss = 2, seconds = 10, requests = 100;
	const struct number_opt numbers[] = {
	    {"--rate", 0, 10000, &rate},
	    {"--rtt", 0, 2000, &rtt},
	    {"--loss", 0, 50, &loss},
	    {"--time", 1, 600, &seconds},
	    {"--requests", 1, 10000, &requests},
	};
	struct ferry_demo_options opts = {.progress = isatty(STDOUT_FILENO) != 0};
	int i;

	for (i = 1; i < argc; i += 2) { /* every option takes a value */
		const char *a = argv[i];
		size_t k;
		bool known = false;

		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			ferry_command_usage(cmd);
			return FERRY_EXIT_OK;
		}
		if (i + 1 == argc) {
			fprintf(stderr,
				"ferry demo: unknown option or missing value: '%s' (see "
				"ferry demo --help)\n",
				a);
			return FERRY_EXIT_USAGE;
		}
		for (k = 0; k < sizeof(numbers) / sizeof(numbers[0]); k++)
			if (strcmp(a, numbers[k].name) == 0) {
				if (parse_number(a, argv[i + 1], numbers[k].min, numbers[k].max,
						 numbers[k].value))
					return FERRY_EXIT_USAGE;
				known = true;
			}
		if (strcmp(a, "--cc") == 0) {
			opts.cc = argv[i + 1];
			known = true;
		} else if (strcmp(a, "--wanem") == 0) {
			opts.wanem = argv[i + 1];
			known = true;
		}
		if (!known) {
			fprintf(stderr, "ferry demo: unknown option '%s' (see ferry demo --help)\n",
				a);
			return FERRY_EXIT_USAGE;
		}
	}
	opts.rate_mbit = (unsigned)rate;
	opts.rtt_ms = (unsigned)rtt;
	opts.loss_pct = loss;
	opts.seconds = (unsigned)seconds;
	opts.requests = (unsigned)requests;
	return ferry_demo_run(&opts);
}
