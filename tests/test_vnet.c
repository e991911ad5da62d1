// SPDX-License-Identifier: MIT
/* The virtual network on its own: reproducibility, loss models, rate limit and queue,
 * delay, duplication, corruption and reordering. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/fixture.h"
#include "tests/support/vnet.h"

/* What a test saw arrive: one record per delivery. */
struct trace {
	uint64_t at[4096];
	uint32_t id[4096];
	uint32_t len[4096];
	uint8_t dir[4096];
	uint32_t n;
	uint64_t hash; /* over every delivery, for traces longer than the arrays */
	uint8_t last[FERRY_VNET_MAX_DGRAM];
};

static void record(void *ctx, enum ferry_vnet_dir dir, const uint8_t *data, size_t len,
		   uint64_t now)
{
	struct trace *t = ctx;
	uint32_t id = 0;
	size_t i;

	if (len >= 4)
		memcpy(&id, data, 4);
	for (i = 0; i < len; i++)
		t->hash = (t->hash ^ data[i]) * 0x100000001b3ULL;
	t->hash = (t->hash ^ now ^ ((uint64_t)dir << 40)) * 0x100000001b3ULL;
	if (t->n < 4096) {
		t->at[t->n] = now;
		t->id[t->n] = id;
		t->len[t->n] = (uint32_t)len;
		t->dir[t->n] = (uint8_t)dir;
	}
	memcpy(t->last, data, len);
	t->n++;
}

/* Drains everything in flight. */
static void run_out(struct ferry_vnet *vn)
{
	uint64_t next;
	int guard = 0;

	while ((next = ferry_vnet_next_event(vn)) != UINT64_MAX) {
		ferry_vnet_advance(vn, next);
		ck_assert_int_lt(++guard, 10000000);
	}
}

static void send_id(struct ferry_vnet *vn, enum ferry_vnet_dir dir, uint32_t id, size_t len)
{
	uint8_t buf[FERRY_VNET_MAX_DGRAM];

	memset(buf, (int)(id & 0xff), len);
	memcpy(buf, &id, 4);
	ck_assert_int_eq(ferry_vnet_send(vn, dir, buf, len), 0);
}

/* A busy mixed workload; returns the trace hash. */
static uint64_t mixed_run(uint64_t seed, struct trace *t)
{
	struct ferry_vnet_link l = {
	    .delay_ms = 20,
	    .jitter_ms = 5,
	    .loss = 0.02,
	    .reorder = 0.05,
	    .duplicate = 0.02,
	    .corrupt = 0.01,
	    .rate = 500000,
	    .queue_limit = 20000,
	};
	struct ferry_vnet_link r = {.delay_ms = 7, .ge_p = 0.05, .ge_r = 0.3, .ge_loss_bad = 0.6};
	struct ferry_vnet vn;
	uint32_t i;

	memset(t, 0, sizeof(*t));
	ck_assert_int_eq(ferry_vnet_init(&vn, seed, 1000, &l, &r, 8192, record, t), 0);
	for (i = 0; i < 20000; i++) {
		send_id(&vn, (i % 3) ? FERRY_VNET_A2B : FERRY_VNET_B2A, i, 24 + (i * 37) % 1400);
		if (i % 7 == 0)
			ferry_vnet_advance(&vn, vn.now + 1);
	}
	run_out(&vn);
	ferry_vnet_destroy(&vn);
	return t->hash;
}

START_TEST(same_seed_same_trace)
{
	static struct trace a, b;
	uint64_t ha = mixed_run(42, &a), hb = mixed_run(42, &b);

	ck_assert_uint_eq(ha, hb);
	ck_assert_uint_eq(a.n, b.n);
	ck_assert_mem_eq(a.at, b.at, sizeof(a.at));
	ck_assert_mem_eq(a.id, b.id, sizeof(a.id));
	ck_assert_uint_gt(a.n, 10000);
	ck_assert_uint_ne(mixed_run(43, &b), ha);
}
END_TEST

START_TEST(bernoulli_loss_rate)
{
	struct ferry_vnet_link l = {.loss = 0.05};
	static struct trace t;
	struct ferry_vnet vn;
	const uint32_t n = 200000;
	double rate;
	uint32_t i;

	ck_assert_int_eq(ferry_vnet_init(&vn, 7, 0, &l, NULL, 16, record, &t), 0);
	for (i = 0; i < n; i++) {
		send_id(&vn, FERRY_VNET_A2B, i, 32);
		ferry_vnet_advance(&vn, vn.now);
	}
	run_out(&vn);
	rate = (double)vn.count[0].dropped_loss / n;
	ck_assert_double_ge(rate, 0.045);
	ck_assert_double_le(rate, 0.055);
	ck_assert_uint_eq(vn.count[0].delivered + vn.count[0].dropped_loss, n);
	ck_assert_uint_eq(vn.count[0].sent, n);
	ferry_vnet_destroy(&vn);
}
END_TEST

/* Gilbert-Elliott: long-run loss p/(p+r) * h, and losses come in bursts. */
START_TEST(gilbert_elliott_bursts)
{
	struct ferry_vnet_link l = {.ge_p = 0.01, .ge_r = 0.2, .ge_loss_bad = 0.8};
	static struct trace t;
	struct ferry_vnet vn;
	const uint32_t n = 200000;
	uint32_t i, runs = 0, prev = UINT32_MAX - 1;
	double rate, expect = 0.01 / 0.21 * 0.8, mean_run;

	ck_assert_int_eq(ferry_vnet_init(&vn, 11, 0, &l, NULL, 16, record, &t), 0);
	for (i = 0; i < n; i++) {
		uint64_t before = vn.count[0].dropped_loss;

		send_id(&vn, FERRY_VNET_A2B, i, 32);
		if (vn.count[0].dropped_loss != before) {
			if (prev != i - 1)
				runs++;
			prev = i;
		}
		ferry_vnet_advance(&vn, vn.now);
	}
	rate = (double)vn.count[0].dropped_loss / n;
	mean_run = (double)vn.count[0].dropped_loss / runs;
	ck_assert_double_ge(rate, expect * 0.85);
	ck_assert_double_le(rate, expect * 1.15);
	/* Bernoulli at the same rate would give runs of about 1 / (1 - 0.038) = 1.04. */
	ck_assert_double_gt(mean_run, 2.0);
	ferry_vnet_destroy(&vn);
}
END_TEST

START_TEST(rate_limit_and_queue)
{
	struct ferry_vnet_link l = {.delay_ms = 10, .rate = 1000000, .queue_limit = 10000};
	static struct trace t;
	struct ferry_vnet vn;
	uint32_t i;

	memset(&t, 0, sizeof(t));
	ck_assert_int_eq(ferry_vnet_init(&vn, 1, 0, &l, NULL, 256, record, &t), 0);
	/* A burst of 100 x 1000 bytes: the queue holds 10, each takes 1 ms to serialize. */
	for (i = 0; i < 100; i++)
		send_id(&vn, FERRY_VNET_A2B, i, 1000);
	ck_assert_uint_eq(vn.count[0].dropped_queue, 90);
	run_out(&vn);
	ck_assert_uint_eq(t.n, 10);
	for (i = 0; i < 10; i++) {
		ck_assert_uint_eq(t.id[i], i);
		ck_assert_uint_eq(t.at[i], 10 + i + 1);
	}

	/* Offer 2 MB/s for one second to a 1 MB/s link: about 1 MB gets through. */
	memset(&t, 0, sizeof(t));
	for (i = 0; i < 1000; i++) {
		send_id(&vn, FERRY_VNET_A2B, i, 2000);
		ferry_vnet_advance(&vn, vn.now + 1);
	}
	run_out(&vn);
	ck_assert_uint_ge(vn.count[0].bytes_delivered - 10000, 990000);
	ck_assert_uint_le(vn.count[0].bytes_delivered - 10000, 1012000);
	ck_assert_uint_gt(vn.count[0].dropped_queue, 90 + 400);
	ferry_vnet_destroy(&vn);
}
END_TEST

START_TEST(delay_duplicate_corrupt)
{
	struct ferry_vnet_link d = {.delay_ms = 30, .duplicate = 1.0};
	struct ferry_vnet_link c = {.delay_ms = 5, .corrupt = 1.0};
	static struct trace t;
	uint8_t orig[200];
	struct ferry_vnet vn;
	uint32_t i, diff_bits = 0;

	memset(&t, 0, sizeof(t));
	ck_assert_int_eq(ferry_vnet_init(&vn, 3, 100, &d, &c, 64, record, &t), 0);
	for (i = 0; i < 10; i++)
		send_id(&vn, FERRY_VNET_A2B, i, 100);
	ck_assert_uint_eq(ferry_vnet_next_event(&vn), 130);
	ck_assert_uint_eq(ferry_vnet_advance(&vn, 129), 0);
	ck_assert_uint_eq(ferry_vnet_advance(&vn, 130), 20);
	ck_assert_uint_eq(vn.count[0].duplicated, 10);
	ck_assert_uint_eq(ferry_vnet_next_event(&vn), UINT64_MAX);

	memset(orig, 0x5a, sizeof(orig));
	ck_assert_int_eq(ferry_vnet_send(&vn, FERRY_VNET_B2A, orig, sizeof(orig)), 0);
	run_out(&vn);
	ck_assert_uint_eq(t.at[20], 135);
	ck_assert_uint_eq(t.dir[20], FERRY_VNET_B2A);
	for (i = 0; i < sizeof(orig); i++)
		diff_bits += (uint32_t)__builtin_popcount(orig[i] ^ t.last[i]);
	ck_assert_uint_eq(diff_bits, 1);
	ck_assert_uint_eq(vn.count[1].corrupted, 1);

	ck_assert_int_eq(ferry_vnet_send(&vn, FERRY_VNET_A2B, orig, FERRY_VNET_MAX_DGRAM + 1),
			 -EMSGSIZE);
	ck_assert_int_eq(ferry_vnet_send(&vn, (enum ferry_vnet_dir)2, orig, 1), -EINVAL);
	ferry_vnet_destroy(&vn);
}
END_TEST

START_TEST(reorder_and_capacity)
{
	struct ferry_vnet_link l = {.delay_ms = 20, .reorder = 0.2, .reorder_ms = 15};
	static struct trace t;
	struct ferry_vnet vn;
	uint32_t i, inversions = 0;

	memset(&t, 0, sizeof(t));
	ck_assert_int_eq(ferry_vnet_init(&vn, 5, 0, &l, NULL, 64, record, &t), 0);
	for (i = 0; i < 1000; i++) {
		send_id(&vn, FERRY_VNET_A2B, i, 64);
		ferry_vnet_advance(&vn, vn.now + 1);
	}
	run_out(&vn);
	ck_assert_uint_eq(t.n, 1000);
	for (i = 1; i < 1000; i++)
		inversions += t.id[i] < t.id[i - 1];
	ck_assert_uint_gt(inversions, 100);
	ck_assert_uint_lt(inversions, 400);

	/* 64 slots: a burst beyond them is dropped and counted, not allocated. */
	for (i = 0; i < 100; i++)
		send_id(&vn, FERRY_VNET_A2B, i, 64);
	ck_assert_uint_eq(vn.count[0].dropped_capacity, 36);
	run_out(&vn);
	ferry_vnet_destroy(&vn);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("vnet");
	TCase *tc = ferry_tcase("vnet", 20);

	tcase_add_test(tc, same_seed_same_trace);
	tcase_add_test(tc, bernoulli_loss_rate);
	tcase_add_test(tc, gilbert_elliott_bursts);
	tcase_add_test(tc, rate_limit_and_queue);
	tcase_add_test(tc, delay_duplicate_corrupt);
	tcase_add_test(tc, reorder_and_capacity);
	suite_add_tcase(s, tc);
	return ferry_run_suite(s);
}
