// SPDX-License-Identifier: MIT
/* Anti-replay window: duplicates, the exact window edge, ring wrap, large jumps, 2^64. */
#include <errno.h>

#include "tests/support/fixture.h"
#include "transport/replay.h"

START_TEST(first_counters_and_duplicates)
{
	struct ferry_replay r;

	ferry_replay_init(&r);
	ck_assert_int_eq(ferry_replay_check(&r, 0), 0);
	ck_assert_int_eq(ferry_replay_accept(&r, 0), 0);
	ck_assert_int_eq(ferry_replay_accept(&r, 0), -EALREADY);
	ck_assert_int_eq(ferry_replay_accept(&r, 5), 0);
	ck_assert_int_eq(ferry_replay_accept(&r, 3), 0); /* reordered, inside the window */
	ck_assert_int_eq(ferry_replay_check(&r, 3), -EALREADY);
	ck_assert_int_eq(ferry_replay_accept(&r, 3), -EALREADY);
	ck_assert_int_eq(ferry_replay_check(&r, 4), 0);
	ck_assert_int_eq(ferry_replay_accept(&r, 4), 0);
	ck_assert_int_eq(ferry_replay_accept(&r, 5), -EALREADY);
	ck_assert_uint_eq(r.greatest, 5);
}
END_TEST

START_TEST(window_is_at_least_8000_and_edge_is_exact)
{
	struct ferry_replay r;
	const uint64_t top = 20000;

	ck_assert_int_ge(FERRY_REPLAY_WINDOW, 8000);
	ferry_replay_init(&r);
	ck_assert_int_eq(ferry_replay_accept(&r, top), 0);
	/* The oldest counter still inside: top - WINDOW + 1; one further is stale. */
	ck_assert_int_eq(ferry_replay_check(&r, top - FERRY_REPLAY_WINDOW + 1), 0);
	ck_assert_int_eq(ferry_replay_accept(&r, top - FERRY_REPLAY_WINDOW + 1), 0);
	ck_assert_int_eq(ferry_replay_accept(&r, top - FERRY_REPLAY_WINDOW + 1), -EALREADY);
	ck_assert_int_eq(ferry_replay_accept(&r, top - FERRY_REPLAY_WINDOW), -ESTALE);
	ck_assert_int_eq(ferry_replay_accept(&r, 0), -ESTALE);
	/* Advancing by one pushes the edge counter out. */
	ck_assert_int_eq(ferry_replay_accept(&r, top + 1), 0);
	ck_assert_int_eq(ferry_replay_check(&r, top - FERRY_REPLAY_WINDOW + 1), -ESTALE);
	ck_assert_int_eq(ferry_replay_check(&r, top - FERRY_REPLAY_WINDOW + 2), 0);
}
END_TEST

/* Hot loops count mismatches and assert once: each ck_assert costs a syscall. */
START_TEST(every_counter_once_across_many_ring_wraps)
{
	struct ferry_replay r;
	unsigned bad = 0;
	uint64_t c;

	/* 10 ring turns, in order, delivering each counter twice: the second is refused,
	 * the counter a full window back is stale, the one just inside is still seen. */
	ferry_replay_init(&r);
	for (c = 0; c < UINT64_C(10) * 64 * FERRY_REPLAY_WORDS; c++) {
		bad += ferry_replay_accept(&r, c) != 0;
		bad += ferry_replay_accept(&r, c) != -EALREADY;
		if (c >= FERRY_REPLAY_WINDOW)
			bad += ferry_replay_check(&r, c - FERRY_REPLAY_WINDOW) != -ESTALE;
		if (c >= FERRY_REPLAY_WINDOW - 1)
			bad += ferry_replay_check(&r, c - FERRY_REPLAY_WINDOW + 1) != -EALREADY;
	}
	ck_assert_uint_eq(bad, 0);
}
END_TEST

START_TEST(reordering_within_window_accepts_each_once)
{
	struct ferry_replay r;
	unsigned bad = 0;
	uint64_t base, i;

	/* Deliver blocks of 4000 backwards (a reorder depth of 4000) across ring wraps. */
	ferry_replay_init(&r);
	for (base = 0; base < 40000; base += 4000) {
		for (i = 4000; i-- > 0;)
			bad += ferry_replay_accept(&r, base + i) != 0;
		for (i = 0; i < 4000; i++)
			bad += ferry_replay_check(&r, base + i) != -EALREADY;
	}
	ck_assert_uint_eq(bad, 0);
}
END_TEST

START_TEST(large_jumps_clear_the_ring)
{
	struct ferry_replay r;
	unsigned bad = 0;
	uint64_t c;

	ferry_replay_init(&r);
	for (c = 0; c < 3000; c++)
		bad += ferry_replay_accept(&r, c) != 0;
	/* Jump by much more than the window: nothing stale may look "seen". */
	ck_assert_int_eq(ferry_replay_accept(&r, 1000000), 0);
	for (c = 1000000 - FERRY_REPLAY_WINDOW + 1; c < 1000000; c++)
		bad += ferry_replay_check(&r, c) != 0;
	ck_assert_uint_eq(bad, 0);
	ck_assert_int_eq(ferry_replay_check(&r, 2999), -ESTALE);
	/* A jump of exactly one ring's worth of words. */
	c = 1000000 + 64 * FERRY_REPLAY_WORDS;
	ck_assert_int_eq(ferry_replay_accept(&r, c), 0);
	ck_assert_int_eq(ferry_replay_check(&r, 1000000), -ESTALE);
	ck_assert_int_eq(ferry_replay_check(&r, c - 1), 0);
	/* A jump of half a window keeps the older half's bits. */
	ck_assert_int_eq(ferry_replay_accept(&r, c - 10), 0);
	ck_assert_int_eq(ferry_replay_accept(&r, c + FERRY_REPLAY_WINDOW / 2), 0);
	ck_assert_int_eq(ferry_replay_check(&r, c - 10), -EALREADY);
	ck_assert_int_eq(ferry_replay_check(&r, c), -EALREADY);
	ck_assert_int_eq(ferry_replay_check(&r, c - 11), 0);
}
END_TEST

START_TEST(counters_near_two_to_the_64)
{
	struct ferry_replay r;

	ferry_replay_init(&r);
	ck_assert_int_eq(ferry_replay_accept(&r, UINT64_MAX - 5), 0);
	ck_assert_int_eq(ferry_replay_accept(&r, UINT64_MAX), 0);
	ck_assert_int_eq(ferry_replay_accept(&r, UINT64_MAX), -EALREADY);
	ck_assert_int_eq(ferry_replay_accept(&r, UINT64_MAX - 5), -EALREADY);
	ck_assert_int_eq(ferry_replay_accept(&r, UINT64_MAX - 1), 0);
	ck_assert_int_eq(ferry_replay_accept(&r, UINT64_MAX - FERRY_REPLAY_WINDOW), -ESTALE);
	ck_assert_int_eq(ferry_replay_accept(&r, 0), -ESTALE);
}
END_TEST

START_TEST(check_does_not_move_the_window)
{
	struct ferry_replay r;

	ferry_replay_init(&r);
	ck_assert_int_eq(ferry_replay_accept(&r, 100), 0);
	ck_assert_int_eq(ferry_replay_check(&r, 1000000), 0);
	ck_assert_uint_eq(r.greatest, 100);
	ck_assert_int_eq(ferry_replay_accept(&r, 50), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("replay");
	TCase *tc = ferry_tcase("replay", 10);

	tcase_add_test(tc, first_counters_and_duplicates);
	tcase_add_test(tc, window_is_at_least_8000_and_edge_is_exact);
	tcase_add_test(tc, every_counter_once_across_many_ring_wraps);
	tcase_add_test(tc, reordering_within_window_accepts_each_once);
	tcase_add_test(tc, large_jumps_clear_the_ring);
	tcase_add_test(tc, counters_near_two_to_the_64);
	tcase_add_test(tc, check_does_not_move_the_window);
	suite_add_tcase(s, tc);
	return ferry_run_suite(s);
}
