// SPDX-License-Identifier: MIT
/* Packet buffer pool: bounds, headroom arithmetic, exhaustion and reuse. */
#include <errno.h>
#include <string.h>

#include "tests/support/fixture.h"
#include "transport/pool.h"

START_TEST(init_rejects_bad_sizes)
{
	struct ferry_pool pool;

	ck_assert_int_eq(ferry_pool_init(&pool, 0, 2048, 64), -EINVAL);
	ck_assert_int_eq(ferry_pool_init(&pool, 4, 0, 64), -EINVAL);
	ck_assert_int_eq(ferry_pool_init(&pool, UINT32_MAX, UINT32_MAX, 64), -EINVAL);
	ferry_pool_destroy(&pool);
}
END_TEST

START_TEST(exhaustion_is_counted_and_reuse_works)
{
	struct ferry_buf *bufs[8], *extra, *again;
	struct ferry_pool pool;
	int i;

	ck_assert_int_eq(ferry_pool_init(&pool, 8, 1500, 96), 0);
	for (i = 0; i < 8; i++) {
		bufs[i] = ferry_pool_get(&pool);
		ck_assert_ptr_nonnull(bufs[i]);
	}
	ck_assert_uint_eq(pool.stats.in_use, 8);
	extra = ferry_pool_get(&pool);
	ck_assert_ptr_null(extra);
	ck_assert_uint_eq(pool.stats.empty, 1);

	/* Distinct, non-overlapping storage. */
	for (i = 1; i < 8; i++)
		ck_assert(bufs[i]->head >= bufs[i - 1]->end);

	memset(ferry_buf_put(bufs[3], 100), 0xab, 100);
	ferry_pool_put(&pool, bufs[3]);
	again = ferry_pool_get(&pool);
	ck_assert_ptr_eq(again, bufs[3]);
	ck_assert_uint_eq(again->len, 0);
	ck_assert_uint_eq(ferry_buf_headroom(again), 96);
	ck_assert_uint_eq(pool.stats.high_use, 8);

	for (i = 0; i < 8; i++)
		ferry_pool_put(&pool, bufs[i]);
	ck_assert_uint_eq(pool.stats.gets, 9);
	ck_assert_uint_eq(pool.stats.puts, 9);
	ferry_ck_pool_idle(&pool);
	ferry_pool_destroy(&pool);
}
END_TEST

START_TEST(headroom_push_pull_put)
{
	struct ferry_pool pool;
	struct ferry_buf *buf;
	uint8_t *p;
	int i;

	ck_assert_int_eq(ferry_pool_init(&pool, 1, 64, 32), 0);
	buf = ferry_pool_get(&pool);
	ck_assert_uint_eq(ferry_buf_tailroom(buf), 64);

	p = ferry_buf_put(buf, 10);
	for (i = 0; i < 10; i++)
		p[i] = (uint8_t)('0' + i);
	ck_assert_ptr_null(ferry_buf_put(buf, 55));
	ck_assert_ptr_nonnull(ferry_buf_put(buf, 54));

	p = ferry_buf_push(buf, 24);
	ck_assert_ptr_nonnull(p);
	memset(p, 'h', 24);
	ck_assert_ptr_nonnull(ferry_buf_push(buf, 8));
	ck_assert_ptr_null(ferry_buf_push(buf, 1));
	ck_assert_uint_eq(buf->len, 96);

	ck_assert_ptr_nonnull(ferry_buf_pull(buf, 32));
	ck_assert_mem_eq(buf->data, "0123456789", 10);
	ck_assert_ptr_null(ferry_buf_pull(buf, 65));
	ck_assert_uint_eq(buf->len, 64);

	ferry_pool_put(&pool, buf);
	ferry_ck_pool_idle(&pool);
	ferry_pool_destroy(&pool);
}
END_TEST

START_TEST(put_chain_returns_all)
{
	struct ferry_buf *head = NULL, *buf;
	struct ferry_pool pool;

	ck_assert_int_eq(ferry_pool_init(&pool, 5, 128, 0), 0);
	while ((buf = ferry_pool_get(&pool)) != NULL) {
		buf->next = head;
		head = buf;
	}
	ck_assert_uint_eq(pool.stats.in_use, 5);
	ferry_pool_put_chain(&pool, head);
	ferry_ck_pool_idle(&pool);
	ferry_pool_put(&pool, NULL);
	ferry_pool_destroy(&pool);
	ferry_pool_destroy(&pool); /* idempotent */
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pool");
	TCase *tc = ferry_tcase("pool", 5);

	tcase_add_test(tc, init_rejects_bad_sizes);
	tcase_add_test(tc, exhaustion_is_counted_and_reuse_works);
	tcase_add_test(tc, headroom_push_pull_put);
	tcase_add_test(tc, put_chain_returns_all);
	suite_add_tcase(s, tc);
	return ferry_run_suite(s);
}
