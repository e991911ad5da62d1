// SPDX-License-Identifier: MIT
/*
 * ferry-wanem's command line: options apply to both directions, --a2b-X/--b2a-X override
 * one whatever the order, the one-BDP queue default, and bad input refused with a message
 * that names the option.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netns-tests/wanem/wanem_options.h"
#include "tests/support/fixture.h"

#define MS 1000000ull

static char errbuf[512];

/* Parses a NULL-terminated argument list; messages land in errbuf. */
static int parse(struct ferry_wanem_options *o, const char *const *args)
{
	char *argv[32];
	FILE *err;
	int argc = 0, rc;

	argv[argc++] = (char *)"ferry-wanem";
	while (*args && argc < 31)
		argv[argc++] = (char *)*args++;
	argv[argc] = NULL;
	memset(errbuf, 0, sizeof(errbuf));
	err = fmemopen(errbuf, sizeof(errbuf) - 1, "w");
	ck_assert_ptr_nonnull(err);
	rc = ferry_wanem_options_parse(o, argc, argv, err);
	fclose(err);
	return rc;
}

START_TEST(defaults_both_directions)
{
	static const char *const args[] = {"eth-a", "eth-b", NULL};
	struct ferry_wanem_options o;
	int d;

	ck_assert_int_eq(parse(&o, args), 0);
	ck_assert_str_eq(o.ifname[0], "eth-a");
	ck_assert_str_eq(o.ifname[1], "eth-b");
	ck_assert_uint_eq(o.seed, FERRY_WANEM_DEFAULT_SEED);
	ck_assert_uint_eq(o.pool, FERRY_WANEM_DEFAULT_POOL);
	ck_assert_ptr_null(o.stats_path);
	for (d = 0; d < FERRY_WANEM_DIRS; d++) {
		ck_assert_uint_eq(o.path[d].delay_ns, 0);
		ck_assert_uint_eq(o.path[d].rate_bps, 0);
		ck_assert_uint_eq(o.path[d].queue_bytes, 0);
		ck_assert(o.path[d].ge_loss_bad == 1.0);
		ck_assert_uint_eq(o.path[d].reorder_delay_ns, 10 * MS);
	}
}
END_TEST

START_TEST(overrides_win_whatever_the_order)
{
	static const char *const args[] = {
	    "--a2b-loss", "5", "--loss=1",	  "a",	    "--delay",
	    "25",	  "b", "--b2a-delay=2.5", "--seed", "18446744073709551615",
	    NULL};
	struct ferry_wanem_options o;

	ck_assert_int_eq(parse(&o, args), 0);
	ck_assert(o.path[FERRY_WANEM_A2B].loss == 0.05);
	ck_assert(o.path[FERRY_WANEM_B2A].loss == 0.01);
	ck_assert_uint_eq(o.path[FERRY_WANEM_A2B].delay_ns, 25 * MS);
	ck_assert_uint_eq(o.path[FERRY_WANEM_B2A].delay_ns, 2500000);
	ck_assert_uint_eq(o.seed, UINT64_MAX);
	ck_assert_str_eq(o.ifname[0], "a");
	ck_assert_str_eq(o.ifname[1], "b");
}
END_TEST

START_TEST(queue_default_is_one_bdp)
{
	static const char *const bdp[] = {"--rate", "50M", "--delay", "10", "x", "y", NULL};
	static const char *const floor[] = {"--rate", "1M", "x", "y", NULL};
	static const char *const given[] = {"--rate", "1G", "--a2b-queue-packets", "100", "x",
					    "y",      NULL};
	struct ferry_wanem_options o;

	/* 50 Mbit/s over a 20 ms round trip: 125000 bytes */
	ck_assert_int_eq(parse(&o, bdp), 0);
	ck_assert_uint_eq(o.path[0].rate_bps, 50000000);
	ck_assert_uint_eq(o.path[0].queue_bytes, 125000);
	ck_assert_uint_eq(o.path[1].queue_bytes, 125000);
	ck_assert_int_eq(parse(&o, floor), 0);
	ck_assert_uint_eq(o.path[0].queue_bytes, FERRY_WANEM_MIN_QUEUE_BYTES);
	/* a limit given for one direction is its only limit there */
	ck_assert_int_eq(parse(&o, given), 0);
	ck_assert_uint_eq(o.path[0].queue_pkts, 100);
	ck_assert_uint_eq(o.path[0].queue_bytes, 0);
	ck_assert_uint_eq(o.path[1].queue_pkts, 0);
	ck_assert_uint_eq(o.path[1].queue_bytes, FERRY_WANEM_MIN_QUEUE_BYTES);
}
END_TEST

START_TEST(bad_input_named)
{
	static const struct {
		const char *args[8]; /* NULL-terminated */
		const char *says;
	} cases[] = {
	    {{"--loss", "101", "a", "b"}, "--loss: expected a percentage"},
	    {{"--a2b-delay", "-1", "a", "b"}, "--a2b-delay: expected milliseconds"},
	    {{"--rate", "5X", "a", "b"}, "--rate: expected"},
	    {{"--rate", "10", "a", "b"}, "--rate: expected"},
	    {{"--jitter-dist", "pareto", "a", "b"}, "'uniform' or 'normal'"},
	    {{"--b2a-seed", "1", "a", "b"}, "unknown option '--b2a-seed'"},
	    {{"--bogus", "a", "b"}, "unknown option '--bogus'"},
	    {{"-x", "a", "b"}, "unknown option '-x'"},
	    {{"a", "--", "b"}, "unknown option '--'"},
	    {{"a", "b", "--delay"}, "--delay needs a value"},
	    {{"--jitter-reorder=1", "a", "b"}, "--jitter-reorder takes no value"},
	    {{"a"}, "expected two interfaces"},
	    {{"a", "b", "c"}, "expected two interfaces"},
	    {{"--loss", "1", "--b2a-ge-p", "1", "a", "b"}, "b2a: --loss and --ge-p are exclusive"},
	    {{"--ge-p", "1", "a", "b"}, "--ge-p needs --ge-r"},
	    {{"--queue-bytes", "0", "a", "b"}, "--queue-bytes: expected a positive"},
	    {{"--seed", "-3", "a", "b"}, "--seed: expected an unsigned integer"},
	    {{"--rt-priority", "0", "a", "b"}, "--rt-priority: expected a priority 1..99"},
	};
	struct ferry_wanem_options o;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_assert_int_eq(parse(&o, cases[i].args), -EINVAL);
		ck_assert_msg(strstr(errbuf, cases[i].says), "case %zu: said '%s', want '%s'", i,
			      errbuf, cases[i].says);
	}
}
END_TEST

START_TEST(help_wins_over_what_is_valid)
{
	static const char *const plain[] = {"--help", NULL};
	static const char *const short_h[] = {"-h", NULL};
	static const char *const bogus[] = {"--help", "--bogus", NULL};
	struct ferry_wanem_options o;

	/* no interfaces needed with --help, but an unknown option is still reported */
	ck_assert_int_eq(parse(&o, plain), 0);
	ck_assert(o.help);
	ck_assert_int_eq(parse(&o, short_h), 0);
	ck_assert(o.help);
	ck_assert_int_eq(parse(&o, bogus), -EINVAL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("wanem_options");
	TCase *tc = ferry_tcase("options", 10);

	tcase_add_test(tc, defaults_both_directions);
	tcase_add_test(tc, overrides_win_whatever_the_order);
	tcase_add_test(tc, queue_default_is_one_bdp);
	tcase_add_test(tc, bad_input_named);
	tcase_add_test(tc, help_wins_over_what_is_valid);
	suite_add_tcase(s, tc);
	return ferry_run_suite(s);
}
