// SPDX-License-Identifier: MIT
/*
 * ferry-wanem's decision core on a virtual clock: Bernoulli loss at its rate; Gilbert-Elliott
 * loss rate and mean burst length as the formulas give them; delay exact without jitter;
 * jitter bounded and order kept unless reordering is asked for; reordering and duplication
 * at their rates; the bottleneck's departures exactly at the configured rate and its queue
 * dropping exactly the excess; the accounting identity; the same seed, the same decisions.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "netns-tests/wanem/wanem_core.h"
#include "tests/support/fixture.h"

#define MS	 1000000ull
#define NSEC	 1000000000ull
#define MANY	 1000000 /* packets for the statistical checks */
#define CAPACITY 4096

static struct ferry_wanem_path path;

static void init(const struct ferry_wanem_path_config *cfg, uint64_t seed)
{
	ck_assert_int_eq(ferry_wanem_path_init(&path, cfg, seed, 0, CAPACITY), 0);
}

static void teardown(void)
{
	ferry_wanem_path_destroy(&path);
}

/* Empties the schedule, however far in the future its departures are. */
static void drain(struct ferry_wanem_path *p)
{
	uint32_t h, len;

	while (ferry_wanem_path_pop(p, UINT64_MAX, &h, &len))
		;
}

static void ck_accounting(const struct ferry_wanem_path *p)
{
	const struct ferry_wanem_path_stats *s = &p->stats;

	ck_assert_uint_eq(s->pkts_in + s->dup, s->lost + s->qdrop + s->nobuf + s->pkts_out +
						   ferry_wanem_path_pending(p));
}

/* |x - want| <= tol * want */
static void ck_near(double x, double want, double tol, const char *what)
{
	ck_assert_msg(fabs(x - want) <= tol * want, "%s: %g, want %g within %g%%", what, x, want,
		      tol * 100.0);
}

START_TEST(bernoulli_loss_rate)
{
	struct ferry_wanem_path_config cfg = {.loss = 0.05};
	uint32_t h, len;
	int i;

	init(&cfg, 42);
	for (i = 0; i < MANY; i++) {
		ferry_wanem_path_input(&path, (uint64_t)i, 100, (uint32_t)i);
		ck_assert(!ferry_wanem_path_pop(&path, (uint64_t)i, &h, &len) || h == (uint32_t)i);
	}
	/* sigma = sqrt(n p (1 - p)) = 218 packets; 2% of 50000 is 4.6 sigma */
	ck_near((double)path.stats.lost, 0.05 * MANY, 0.02, "lost");
	ck_accounting(&path);
}
END_TEST

START_TEST(loss_extremes)
{
	struct ferry_wanem_path_config cfg = {.loss = 1.0};
	int i;

	init(&cfg, 1);
	for (i = 0; i < 10000; i++)
		ck_assert_uint_eq(ferry_wanem_path_input(&path, 0, 100, 0), 0);
	ck_assert_uint_eq(path.stats.lost, 10000);
	ferry_wanem_path_destroy(&path);
	cfg.loss = 0.0;
	init(&cfg, 1);
	for (i = 0; i < 10000; i++) {
		ck_assert_uint_eq(ferry_wanem_path_input(&path, 0, 100, 0), 1);
		drain(&path);
	}
	ck_assert_uint_eq(path.stats.lost, 0);
}
END_TEST

/* Runs MANY packets through a Gilbert-Elliott path; returns the loss rate and stores the
 * mean length of runs of consecutive losses. */
static double ge_run(const struct ferry_wanem_path_config *cfg, double *mean_burst)
{
	uint64_t lost = 0, bursts = 0;
	bool in_burst = false;
	int i;

	init(cfg, 7);
	for (i = 0; i < MANY; i++) {
		bool lost_now = ferry_wanem_path_input(&path, (uint64_t)i, 100, 0) == 0;

		drain(&path);
		lost += lost_now;
		bursts += lost_now && !in_burst;
		in_burst = lost_now;
	}
	ck_assert_uint_eq(path.stats.lost, lost);
	ck_accounting(&path);
	*mean_burst = bursts ? (double)lost / (double)bursts : 0.0;
	return (double)lost / MANY;
}

START_TEST(gilbert_elliott_matches_formulas)
{
	/* plain Gilbert: lost exactly in the bad state */
	struct ferry_wanem_path_config cfg = {.ge_p = 0.01, .ge_r = 0.25, .ge_loss_bad = 1.0};
	double rate, burst, p, r, lg, lb;

	rate = ge_run(&cfg, &burst);
	ck_near(rate, 0.01 / (0.01 + 0.25), 0.05, "Gilbert loss rate p/(p+r)");
	ck_near(burst, 1.0 / 0.25, 0.05, "Gilbert mean burst 1/r");
	ferry_wanem_path_destroy(&path);

	/* general: losses in both states */
	p = 0.02;
	r = 0.1;
	lg = 0.01;
	lb = 0.5;
	cfg = (struct ferry_wanem_path_config){
	    .ge_p = p, .ge_r = r, .ge_loss_good = lg, .ge_loss_bad = lb};
	rate = ge_run(&cfg, &burst);
	ck_near(rate, (r * lg + p * lb) / (p + r), 0.05, "Gilbert-Elliott loss rate");
	/* and far burstier than Bernoulli at that rate (mean run 1 / (1 - rate) = 1.1) */
	ck_assert_msg(burst > 1.5, "mean burst %g", burst);
}
END_TEST

START_TEST(delay_exact_without_jitter)
{
	struct ferry_wanem_path_config cfg = {.delay_ns = 25 * MS};
	static const uint64_t at[] = {0, 1, 999, 5 * MS, 5 * MS, 7 * MS + 3, 100 * NSEC};
	uint32_t h, len;
	size_t i;

	init(&cfg, 1);
	for (i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		ck_assert_uint_eq(
		    ferry_wanem_path_input(&path, at[i], 60 + (uint32_t)i, (uint32_t)i), 1);
		ck_assert_uint_eq(ferry_wanem_path_next_due(&path), at[i] + 25 * MS);
		ck_assert(!ferry_wanem_path_pop(&path, at[i] + 25 * MS - 1, &h, &len));
		ck_assert(ferry_wanem_path_pop(&path, at[i] + 25 * MS, &h, &len));
		ck_assert_uint_eq(h, i);
		ck_assert_uint_eq(len, 60 + i);
	}
	ck_assert_uint_eq(ferry_wanem_path_next_due(&path), UINT64_MAX);
	ck_assert_uint_eq(path.stats.pkts_out, i);
}
END_TEST

/* Offers n packets `gap` apart; returns how many left out of arrival order, and checks
 * each departure is within [arrival + delay - lo, arrival + delay + hi]. */
static uint32_t jitter_run(const struct ferry_wanem_path_config *cfg, uint32_t n, uint64_t gap,
			   uint64_t lo, uint64_t hi, double *mean, double *sd)
{
	uint64_t last_due = 0;
	uint32_t i, h, len, inversions = 0, last_h = 0;
	double sum = 0.0, sum2 = 0.0;
	bool first = true;

	init(cfg, 99);
	for (i = 0; i < n; i++) {
		uint64_t now = 1 * NSEC + i * gap;

		ck_assert_uint_eq(ferry_wanem_path_input(&path, now, 1000, i), 1);
		for (;;) {
			uint64_t due = ferry_wanem_path_next_due(&path);
			uint64_t arrival;
			double d;

			if (due > now + gap - 1 && i + 1 < n)
				break; /* not before the next arrival */
			if (!ferry_wanem_path_pop(&path, due, &h, &len))
				break;
			arrival = 1 * NSEC + h * gap;
			ck_assert_msg(due + lo >= arrival + cfg->delay_ns &&
					  due <= arrival + cfg->delay_ns + hi,
				      "packet %u: delay %lld ns", h, (long long)(due - arrival));
			ck_assert_uint_ge(due, last_due);
			d = (double)(due - arrival) - (double)cfg->delay_ns;
			sum += d;
			sum2 += d * d;
			if (!first && h < last_h)
				inversions++;
			last_due = due;
			last_h = h;
			first = false;
		}
	}
	ck_assert_uint_eq(path.stats.pkts_out, n);
	*mean = sum / n;
	*sd = sqrt(sum2 / n - *mean * *mean);
	return inversions;
}

START_TEST(jitter_bounded_and_in_order)
{
	struct ferry_wanem_path_config cfg = {.delay_ns = 20 * MS, .jitter_ns = 5 * MS};
	double mean, sd;

	/* sparse packets: the clamp never acts, so this is the distribution itself; uniform
	 * on [-5, 5] ms has mean 0 and sd 5 / sqrt(3) ms */
	ck_assert_uint_eq(jitter_run(&cfg, 20000, 20 * MS, 5 * MS, 5 * MS, &mean, &sd), 0);
	ck_assert_msg(fabs(mean) < 0.1 * MS, "mean %g", mean);
	ck_near(sd, 5.0 * MS / sqrt(3.0), 0.03, "uniform jitter sd");
	teardown();

	/* dense packets (100 us apart, jitter +-5 ms): still in order, still within bounds */
	ck_assert_uint_eq(jitter_run(&cfg, 50000, 100000, 5 * MS, 5 * MS, &mean, &sd), 0);
	teardown();

	/* normal, sigma 2 ms: bounded at 6 sigma, sd as asked */
	cfg.jitter_ns = 2 * MS;
	cfg.jitter_dist = FERRY_WANEM_JITTER_NORMAL;
	ck_assert_uint_eq(jitter_run(&cfg, 20000, 20 * MS, 12 * MS, 12 * MS, &mean, &sd), 0);
	ck_assert_msg(fabs(mean) < 0.1 * MS, "mean %g", mean);
	ck_near(sd, 2.0 * MS, 0.03, "normal jitter sd");
	teardown();

	/* a jitter larger than the delay never makes it negative */
	cfg = (struct ferry_wanem_path_config){.delay_ns = 1 * MS, .jitter_ns = 5 * MS};
	ck_assert_uint_eq(jitter_run(&cfg, 5000, 20 * MS, 1 * MS, 5 * MS, &mean, &sd), 0);
}
END_TEST

START_TEST(jitter_reorders_only_when_asked)
{
	struct ferry_wanem_path_config cfg = {
	    .delay_ns = 20 * MS, .jitter_ns = 5 * MS, .jitter_reorder = true};
	uint32_t inversions;
	double mean, sd;

	/* the schedule's order is then that of the jittered times: departures still ascend,
	 * the packets do not */
	inversions = jitter_run(&cfg, 50000, 100000, 5 * MS, 5 * MS, &mean, &sd);
	ck_assert_uint_gt(inversions, 1000);
	ck_assert_uint_eq(path.stats.reordered, 0);
}
END_TEST

START_TEST(reorder_holds_back_the_asked_share)
{
	struct ferry_wanem_path_config cfg = {
	    .delay_ns = 10 * MS, .reorder = 0.1, .reorder_delay_ns = 3 * MS};
	uint32_t i, h, len, held = 0, n = 100000;
	uint64_t now;

	init(&cfg, 5);
	/* 1 ms apart, popped every ms: a held packet falls 3 behind */
	for (i = 0, now = 0; i < n || ferry_wanem_path_pending(&path); i++, now += MS) {
		if (i < n)
			ck_assert_uint_eq(ferry_wanem_path_input(&path, now, 100, i), 1);
		while (ferry_wanem_path_pop(&path, now, &h, &len)) {
			uint64_t delay = now - (uint64_t)h * MS;

			/* exactly on time, or exactly held back */
			ck_assert(delay == 10 * MS || delay == 13 * MS);
			held += delay == 13 * MS;
		}
	}
	ck_assert_uint_eq(held, path.stats.reordered);
	ck_near((double)held, 0.1 * n, 0.05, "held back");
	ck_accounting(&path);
}
END_TEST

START_TEST(duplicates_the_asked_share)
{
	struct ferry_wanem_path_config cfg = {.dup = 0.1, .delay_ns = 1 * MS};
	uint32_t i, h, len, n = 100000, last = UINT32_MAX, twice = 0;

	init(&cfg, 3);
	for (i = 0; i < n; i++) {
		unsigned copies = ferry_wanem_path_input(&path, (uint64_t)i * MS, 100, i);

		ck_assert(copies == 1 || copies == 2);
		/* both copies leave together, one after the other */
		while (ferry_wanem_path_pop(&path, (uint64_t)i * MS + 1 * MS, &h, &len)) {
			ck_assert_uint_eq(h, i);
			twice += h == last;
			last = h;
		}
	}
	ck_assert_uint_eq(twice, path.stats.dup);
	ck_near((double)path.stats.dup, 0.1 * n, 0.05, "duplicated");
	ck_assert_uint_eq(path.stats.pkts_out, n + path.stats.dup);
	ck_accounting(&path);
}
END_TEST

START_TEST(rate_departures_exact)
{
	/* an awkward rate: a 1500-byte frame takes 1542857.2... ns */
	struct ferry_wanem_path_config cfg = {.rate_bps = 7777777, .delay_ns = 3 * MS};
	const uint64_t bits = 1500ull * 8, t0 = 5 * NSEC;
	uint32_t i, h, len;

	init(&cfg, 1);
	for (i = 0; i < 1000; i++)
		ck_assert_uint_eq(ferry_wanem_path_input(&path, t0, 1500, i), 1);
	for (i = 0; i < 1000; i++) {
		/* back to back: the (i+1)-th frame's last bit after (i+1) * bits / rate */
		uint64_t want = t0 + (i + 1) * bits * NSEC / cfg.rate_bps + cfg.delay_ns;

		ck_assert_uint_eq(ferry_wanem_path_next_due(&path), want);
		ck_assert(!ferry_wanem_path_pop(&path, want - 1, &h, &len));
		ck_assert(ferry_wanem_path_pop(&path, want, &h, &len));
		ck_assert_uint_eq(h, i);
	}
	ck_assert_uint_eq(path.stats.qmax_pkts, 1000);
	ck_assert_uint_eq(path.stats.qmax_bytes, 1500000);
	teardown();

	/* 100 Mbit/s: frames arriving faster than the rate leave exactly 120 us apart; after
	 * an idle gap a new busy period starts at the arrival */
	cfg = (struct ferry_wanem_path_config){.rate_bps = 100000000};
	init(&cfg, 1);
	for (i = 0; i < 100; i++)
		ferry_wanem_path_input(&path, t0 + (uint64_t)i * 1000, 1500, i);
	for (i = 0; i < 100; i++) {
		ck_assert_uint_eq(ferry_wanem_path_next_due(&path),
				  t0 + (uint64_t)(i + 1) * 120000);
		ck_assert(ferry_wanem_path_pop(&path, UINT64_MAX, &h, &len));
	}
	ferry_wanem_path_input(&path, t0 + 1 * NSEC, 1000, 0);
	ck_assert_uint_eq(ferry_wanem_path_next_due(&path), t0 + 1 * NSEC + 80000);
}
END_TEST

START_TEST(queue_drops_exactly_the_excess)
{
	/* 1 Mbit/s, 10 packets: a 1000-byte frame is on the wire for 8 ms */
	struct ferry_wanem_path_config cfg = {.rate_bps = 1000000, .queue_pkts = 10};
	uint32_t i, accepted = 0;

	init(&cfg, 1);
	for (i = 0; i < 25; i++)
		accepted += ferry_wanem_path_input(&path, 0, 1000, i);
	ck_assert_uint_eq(accepted, 10);
	ck_assert_uint_eq(path.stats.qdrop, 15);
	ck_assert_uint_eq(path.stats.qmax_pkts, 10);
	/* 24 ms later three have left the link: three of five more fit */
	for (i = 0; i < 5; i++)
		accepted += ferry_wanem_path_input(&path, 24 * MS, 1000, i);
	ck_assert_uint_eq(accepted, 13);
	ck_assert_uint_eq(path.stats.qdrop, 17);
	/* one nanosecond short of the fourth leaving: still full */
	ck_assert_uint_eq(ferry_wanem_path_input(&path, 32 * MS - 1, 1000, 0), 0);
	ck_assert_uint_eq(ferry_wanem_path_input(&path, 32 * MS, 1000, 0), 1);
	ck_assert_uint_eq(path.stats.qmax_pkts, 10);
	drain(&path);
	ck_accounting(&path);
	teardown();

	/* bytes: 5000 hold four 1200-byte frames, then exactly 200 bytes more, not 201 */
	cfg = (struct ferry_wanem_path_config){.rate_bps = 1000000, .queue_bytes = 5000};
	init(&cfg, 1);
	for (i = 0; i < 6; i++)
		ferry_wanem_path_input(&path, 0, 1200, i);
	ck_assert_uint_eq(path.stats.qdrop, 2);
	ck_assert_uint_eq(ferry_wanem_path_input(&path, 0, 201, 0), 0);
	ck_assert_uint_eq(ferry_wanem_path_input(&path, 0, 200, 0), 1);
	ck_assert_uint_eq(ferry_wanem_path_input(&path, 0, 1, 0), 0);
	ck_assert_uint_eq(path.stats.qmax_bytes, 5000);
	ck_assert_uint_eq(path.stats.qdrop, 4);
}
END_TEST

START_TEST(schedule_full_counts_nobuf)
{
	struct ferry_wanem_path_config cfg = {.delay_ns = 1 * MS};
	uint32_t i;

	init(&cfg, 1);
	for (i = 0; i < CAPACITY + 10; i++)
		ferry_wanem_path_input(&path, 0, 100, i);
	ck_assert_uint_eq(ferry_wanem_path_pending(&path), CAPACITY);
	ck_assert_uint_eq(path.stats.nobuf, 10);
	ck_accounting(&path);
}
END_TEST

/* Everything on at once, for the determinism checks. */
static const struct ferry_wanem_path_config busy = {
    .delay_ns = 20 * MS,
    .jitter_ns = 4 * MS,
    .ge_p = 0.02,
    .ge_r = 0.3,
    .ge_loss_good = 0.01,
    .ge_loss_bad = 0.7,
    .dup = 0.03,
    .reorder = 0.05,
    .reorder_delay_ns = 2 * MS,
    .rate_bps = 50000000,
    .queue_bytes = 60000,
};

/* A fingerprint of every decision and departure of a run of n packets. */
static uint64_t fingerprint(const struct ferry_wanem_path_config *cfg, uint64_t seed, uint32_t n)
{
	uint64_t fp = 1469598103934665603ull, rnd = 12345;
	uint32_t i, h, len;
	uint64_t now = 0;

	init(cfg, seed);
	for (i = 0; i < n; i++) {
		rnd = rnd * 6364136223846793005ull + 1442695040888963407ull;
		now += (rnd >> 33) % 400000; /* bursts faster than the rate, and lulls */
		fp = (fp ^ ferry_wanem_path_input(&path, now, 64 + (uint32_t)(rnd % 1400), i)) *
		     1099511628211ull;
		while (ferry_wanem_path_pop(&path, now, &h, &len))
			fp = (fp ^ h ^ (now << 20)) * 1099511628211ull;
	}
	ck_accounting(&path);
	teardown();
	return fp;
}

START_TEST(same_seed_same_decisions)
{
	uint64_t a = fingerprint(&busy, 2024, 200000);

	ck_assert_uint_eq(fingerprint(&busy, 2024, 200000), a);
	ck_assert_uint_ne(fingerprint(&busy, 2025, 200000), a);
}
END_TEST

START_TEST(features_do_not_shift_each_other)
{
	/* the loss decisions of a seed stay the same whether duplication is on or not */
	struct ferry_wanem_path_config lossy = {.loss = 0.1}, both = {.loss = 0.1, .dup = 0.5};
	struct ferry_wanem_path other;
	uint32_t i, h, len;

	init(&lossy, 77);
	ck_assert_int_eq(ferry_wanem_path_init(&other, &both, 77, 0, CAPACITY), 0);
	for (i = 0; i < 100000; i++) {
		bool lost = ferry_wanem_path_input(&path, 0, 100, i) == 0;

		ck_assert_int_eq(lost, ferry_wanem_path_input(&other, 0, 100, i) == 0);
		drain(&path);
		while (ferry_wanem_path_pop(&other, 0, &h, &len))
			;
	}
	ck_assert_uint_gt(other.stats.dup, 0);
	ferry_wanem_path_destroy(&other);
}
END_TEST

START_TEST(config_checked)
{
	struct ferry_wanem_path_config ok = {.loss = 0.5}, c;

	ck_assert_int_eq(ferry_wanem_path_config_check(&ok), 0);
	c = ok;
	c.loss = 1.5;
	ck_assert_int_eq(ferry_wanem_path_config_check(&c), -EINVAL);
	c = ok;
	c.dup = -0.1;
	ck_assert_int_eq(ferry_wanem_path_config_check(&c), -EINVAL);
	c = ok;
	c.reorder = NAN;
	ck_assert_int_eq(ferry_wanem_path_config_check(&c), -EINVAL);
	c = ok;
	c.ge_p = 0.1; /* with Bernoulli loss */
	c.ge_r = 0.1;
	ck_assert_int_eq(ferry_wanem_path_config_check(&c), -EINVAL);
	c.loss = 0.0;
	ck_assert_int_eq(ferry_wanem_path_config_check(&c), 0);
	c.ge_r = 0.0; /* a bad state never left */
	ck_assert_int_eq(ferry_wanem_path_config_check(&c), -EINVAL);
	ck_assert_int_eq(ferry_wanem_path_init(&path, &ok, 1, 0, 0), -EINVAL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("wanem_core");
	TCase *loss = ferry_tcase("loss", 30);
	TCase *timing = ferry_tcase("timing", 30);
	TCase *queue = ferry_tcase("queue", 10);
	TCase *seed = ferry_tcase("seed", 30);

	tcase_add_checked_fixture(loss, NULL, teardown);
	tcase_add_test(loss, bernoulli_loss_rate);
	tcase_add_test(loss, loss_extremes);
	tcase_add_test(loss, gilbert_elliott_matches_formulas);
	suite_add_tcase(s, loss);

	tcase_add_checked_fixture(timing, NULL, teardown);
	tcase_add_test(timing, delay_exact_without_jitter);
	tcase_add_test(timing, jitter_bounded_and_in_order);
	tcase_add_test(timing, jitter_reorders_only_when_asked);
	tcase_add_test(timing, reorder_holds_back_the_asked_share);
	tcase_add_test(timing, duplicates_the_asked_share);
	suite_add_tcase(s, timing);

	tcase_add_checked_fixture(queue, NULL, teardown);
	tcase_add_test(queue, rate_departures_exact);
	tcase_add_test(queue, queue_drops_exactly_the_excess);
	tcase_add_test(queue, schedule_full_counts_nobuf);
	suite_add_tcase(s, queue);

	tcase_add_checked_fixture(seed, NULL, teardown);
	tcase_add_test(seed, same_seed_same_decisions);
	tcase_add_test(seed, features_do_not_shift_each_other);
	tcase_add_test(seed, config_checked);
	suite_add_tcase(s, seed);
	return ferry_run_suite(s);
}
