// SPDX-License-Identifier: MIT
/*
 * Token-bucket pacer: the configured rate is never exceeded over any window (checked
 * against burst + rate * window for every window of a long randomised run), the long-run
 * rate is reached, HIGH never waits behind LOW, queues are bounded, next_deadline is exact
 * (never early, never late by more than the millisecond it rounds to), unlimited mode.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/fixture.h"
#include "transport/pacer.h"

#define RUN_MS 4000
#define NBUF   600

static struct ferry_pool pool;

static void setup(void)
{
	ck_assert_int_eq(ferry_pool_init(&pool, NBUF, 1500, 0), 0);
}

static void teardown(void)
{
	ferry_ck_pool_idle(&pool);
	ferry_pool_destroy(&pool);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* Offers a random load to a pacer for RUN_MS ms and records the bytes sent per ms. */
static void offer(struct ferry_pacer *p, uint64_t *per_ms, uint32_t load_per_ms)
{
	uint64_t now;

	for (now = 0; now < RUN_MS; now++) {
		uint32_t i, n = (uint32_t)(rnd() % (2 * load_per_ms + 1));
		struct ferry_buf *b;

		for (i = 0; i < n; i++) {
			enum ferry_pacer_class cls = rnd() % 8 ? FERRY_PACER_LOW : FERRY_PACER_HIGH;
			uint32_t len = 40 + (uint32_t)(rnd() % 1433);

			if (ferry_pacer_admit(p, cls, len, now)) {
				per_ms[now] += len;
				continue;
			}
			b = ferry_pool_get(&pool);
			if (!b)
				continue;
			b->len = len;
			b->user = (uint32_t)now;
			if (ferry_pacer_enqueue(p, cls, b))
				ferry_pool_put(&pool, b);
		}
		while ((b = ferry_pacer_dequeue(p, now))) {
			per_ms[now] += b->len;
			ferry_pool_put(&pool, b);
		}
		/* nothing is due after draining: the deadline is in the future or there is none */
		ck_assert_uint_gt(ferry_pacer_next_deadline(p, now), now);
	}
	ferry_pool_put_chain(&pool, ferry_pacer_drain(p));
}

START_TEST(rate_never_exceeded_over_any_window)
{
	static const uint64_t rates[] = {100000, 1000000, 12500000, 7777777};
	static uint64_t per_ms[RUN_MS];
	size_t r;

	for (r = 0; r < sizeof(rates) / sizeof(rates[0]); r++) {
		struct ferry_pacer_config cfg = {
		    .rate = rates[r], .min_burst = 1472, .queue_limit = 256};
		struct ferry_pacer p;
		uint64_t burst, total = 0, bad = 0;
		uint32_t a, b;

		memset(per_ms, 0, sizeof(per_ms));
		ck_assert_int_eq(ferry_pacer_init(&p, &cfg, 0), 0);
		/* the documented default, computed here rather than read back from the pacer */
		burst = rates[r] * FERRY_PACER_BURST_MS / 1000;
		if (burst < 1472)
			burst = 1472;
		ck_assert_uint_eq(p.cap_mb, burst * 1000);
		/* offer about twice the rate */
		offer(&p, per_ms, (uint32_t)(2 * rates[r] / 1000 / 750 + 1));
		for (a = 0; a < RUN_MS; a++) {
			uint64_t sum = 0;

			for (b = a; b < RUN_MS; b++) {
				sum += per_ms[b];
				/* window [a, b]: the bucket holds at most burst at a, and refills
				 * rate * (b - a) / 1000 bytes by b (plain compare: a Check assert
				 * per window would cost a pipe write each) */
				if (sum * 1000 > burst * 1000 + rates[r] * (b - a) && !bad++)
					ck_assert_msg(0, "rate %llu: %llu bytes in [%u, %u]",
						      (unsigned long long)rates[r],
						      (unsigned long long)sum, a, b);
			}
			total += per_ms[a];
		}
		ck_assert_uint_eq(bad, 0);
		/* and the pacer is not too shy: over the run it reaches the rate (minus 5%) */
		ck_assert_uint_ge(total * 1000, rates[r] * (RUN_MS - 1) * 95 / 100);
		ck_assert_uint_gt(p.stats.queued, 0);
	}
}
END_TEST

START_TEST(high_before_low)
{
	struct ferry_pacer_config cfg = {.rate = 1000000, .burst = 3000, .queue_limit = 4};
	struct ferry_pacer p;
	struct ferry_buf *b[8], *out;
	int i;

	ck_assert_int_eq(ferry_pacer_init(&p, &cfg, 100), 0);
	/* burst: two 1400-byte datagrams go at once, the third waits */
	ck_assert(ferry_pacer_admit(&p, FERRY_PACER_LOW, 1400, 100));
	ck_assert(ferry_pacer_admit(&p, FERRY_PACER_LOW, 1400, 100));
	ck_assert(!ferry_pacer_admit(&p, FERRY_PACER_LOW, 1400, 100));
	for (i = 0; i < 5; i++) {
		b[i] = ferry_pool_get(&pool);
		b[i]->len = 1400;
		b[i]->user = (uint32_t)i;
	}
	for (i = 0; i < 4; i++)
		ck_assert_int_eq(ferry_pacer_enqueue(&p, FERRY_PACER_LOW, b[i]), 0);
	ck_assert_int_eq(ferry_pacer_enqueue(&p, FERRY_PACER_LOW, b[4]), -ENOBUFS);
	ck_assert_uint_eq(p.stats.full, 1);
	/* LOW queued: a new LOW may not jump ahead even with tokens; a HIGH may */
	ck_assert(!ferry_pacer_admit(&p, FERRY_PACER_LOW, 10, 200));
	ck_assert(ferry_pacer_admit(&p, FERRY_PACER_HIGH, 10, 200));
	/* HIGH queued: it leaves before every LOW */
	b[4]->user = 99;
	ck_assert_int_eq(ferry_pacer_enqueue(&p, FERRY_PACER_HIGH, b[4]), 0);
	ck_assert(!ferry_pacer_admit(&p, FERRY_PACER_HIGH, 10, 200));
	out = ferry_pacer_dequeue(&p, 5000);
	ck_assert_ptr_nonnull(out);
	ck_assert_uint_eq(out->user, 99);
	ferry_pool_put(&pool, out);
	for (i = 0; i < 4; i++) {
		out = ferry_pacer_dequeue(&p, 5000 + 2 * (uint64_t)i);
		ck_assert_ptr_nonnull(out);
		ck_assert_uint_eq(out->user, (uint32_t)i); /* FIFO within a class */
		ferry_pool_put(&pool, out);
	}
	ck_assert_ptr_null(ferry_pacer_dequeue(&p, 6000));
	ck_assert_uint_eq(ferry_pacer_next_deadline(&p, 6000), UINT64_MAX);
}
END_TEST

START_TEST(deadline_exact)
{
	struct ferry_pacer_config cfg = {.rate = 700000, .burst = 1500};
	struct ferry_pacer p;
	struct ferry_buf *b = ferry_pool_get(&pool), *out;
	uint64_t d;

	ck_assert_int_eq(ferry_pacer_init(&p, &cfg, 0), 0);
	ck_assert(ferry_pacer_admit(&p, FERRY_PACER_LOW, 1500, 0)); /* bucket empty now */
	b->len = 1000;
	ck_assert_int_eq(ferry_pacer_enqueue(&p, FERRY_PACER_LOW, b), 0);
	d = ferry_pacer_next_deadline(&p, 0);
	ck_assert_uint_eq(d, 2); /* 1000 bytes at 700 B/ms: 1.43 ms, rounded up */
	ck_assert_ptr_null(ferry_pacer_dequeue(&p, d - 1));
	out = ferry_pacer_dequeue(&p, d);
	ck_assert_ptr_eq(out, b);
	ferry_pool_put(&pool, out);
	/* a long idle period refills to the burst, never beyond */
	ck_assert(ferry_pacer_admit(&p, FERRY_PACER_LOW, 1500, 1000000));
	ck_assert(!ferry_pacer_admit(&p, FERRY_PACER_LOW, 1, 1000000));
	/* invalid configurations */
	cfg.burst = 100;
	cfg.min_burst = 1472;
	ck_assert_int_eq(ferry_pacer_init(&p, &cfg, 0), -EINVAL);
	cfg.burst = 0;
	cfg.rate = UINT64_MAX;
	ck_assert_int_eq(ferry_pacer_init(&p, &cfg, 0), -EINVAL);
	/* default burst: 10 ms at the rate, at least min_burst */
	cfg.rate = 10000000;
	ck_assert_int_eq(ferry_pacer_init(&p, &cfg, 0), 0);
	ck_assert_uint_eq(p.cap_mb, 100000ull * 1000);
	cfg.rate = 1000;
	ck_assert_int_eq(ferry_pacer_init(&p, &cfg, 0), 0);
	ck_assert_uint_eq(p.cap_mb, 1472ull * 1000);
	/* a rate change keeps the queue and clamps the tokens */
	cfg.rate = 1000000;
	cfg.burst = 2000;
	ck_assert_int_eq(ferry_pacer_set_rate(&p, &cfg, 10), 0);
	ck_assert_uint_le(p.tokens_mb, 2000ull * 1000);
}
END_TEST

/* A late turn: 1 MB/s, a burst of 2,000 B, twenty datagrams of 1,000 B waiting. Woken 8 ms
 * late, the pacer sends the 8,000 B that accrued meanwhile, not just a burst of them, and
 * no more than FERRY_PACER_CATCHUP_MS brings however late; after an idle spell with nothing
 * queued, only the burst. Sending a burst per late turn held a sender whose loop turns ran
 * long below its rate, and its controller with it. */
START_TEST(late_turn_catches_up)
{
	struct ferry_pacer_config cfg = {.rate = 1000000, .burst = 2000, .queue_limit = 64};
	struct ferry_buf *b;
	struct ferry_pacer p;
	unsigned i, out;

	ck_assert_int_eq(ferry_pacer_init(&p, &cfg, 0), 0);
	ck_assert(ferry_pacer_admit(&p, FERRY_PACER_LOW, 2000, 0)); /* bucket empty */
	for (i = 0; i < 20; i++) {
		b = ferry_pool_get(&pool);
		b->len = 1000;
		ck_assert_int_eq(ferry_pacer_enqueue(&p, FERRY_PACER_LOW, b), 0);
	}
	for (out = 0; (b = ferry_pacer_dequeue(&p, 8)); out++)
		ferry_pool_put(&pool, b);
	ck_assert_uint_eq(out, 8);
	/* 100 ms late: FERRY_PACER_CATCHUP_MS of the rate, the rest of the queue waits */
	for (out = 0; (b = ferry_pacer_dequeue(&p, 108)); out++)
		ferry_pool_put(&pool, b);
	ck_assert_uint_eq(out, FERRY_PACER_CATCHUP_MS * 1000000 / 1000 / 1000);
	ferry_pool_put_chain(&pool, ferry_pacer_drain(&p));
	/* nothing queued: an idle bucket refills to the burst only */
	ck_assert(ferry_pacer_admit(&p, FERRY_PACER_LOW, 2000, 1000));
	ck_assert(!ferry_pacer_admit(&p, FERRY_PACER_LOW, 1, 1000));
}
END_TEST

START_TEST(unlimited)
{
	struct ferry_pacer_config cfg = {0};
	struct ferry_pacer p;
	int i;

	ck_assert_int_eq(ferry_pacer_init(&p, &cfg, 0), 0);
	for (i = 0; i < 100000; i++)
		ck_assert(
		    ferry_pacer_admit(&p, i % 2 ? FERRY_PACER_LOW : FERRY_PACER_HIGH, 65535, 0));
	ck_assert_uint_eq(p.stats.sent, 100000);
	ck_assert_uint_eq(ferry_pacer_next_deadline(&p, 0), UINT64_MAX);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pacer");
	TCase *tc = ferry_tcase("pacer", 20);

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, rate_never_exceeded_over_any_window);
	tcase_add_test(tc, high_before_low);
	tcase_add_test(tc, deadline_exact);
	tcase_add_test(tc, late_turn_catches_up);
	tcase_add_test(tc, unlimited);
	suite_add_tcase(s, tc);
	return ferry_run_suite(s);
}
