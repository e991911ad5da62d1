// SPDX-License-Identifier: MIT
/*
 * The leak fixture must catch what it claims to: this runs a suite of deliberately leaky
 * tests and passes only if each one is reported as failed (and the clean one passes).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/support/fixture.h"

#if defined(__SANITIZE_ADDRESS__)
#define HAVE_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAVE_LSAN 1
#endif
#endif

START_TEST(clean)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	ck_assert_int_ge(fd, 0);
	close(fd);
}
END_TEST

START_TEST(leaks_fd)
{
	ck_assert_int_ge(open("/dev/null", O_RDONLY | O_CLOEXEC), 0);
}
END_TEST

START_TEST(leaks_buffer)
{
	struct ferry_pool pool;

	ck_assert_int_eq(ferry_pool_init(&pool, 2, 64, 0), 0);
	ck_assert_ptr_nonnull(ferry_pool_get(&pool));
	ferry_ck_pool_idle(&pool);
	ferry_pool_destroy(&pool);
}
END_TEST

#ifdef HAVE_LSAN
void *volatile fixture_sink;

START_TEST(leaks_heap)
{
	fixture_sink = malloc(64);
	memset(fixture_sink, 1, 64);
	fixture_sink = NULL;
}
END_TEST
#endif

int main(void)
{
	Suite *s = suite_create("fixture (expected failures)");
	TCase *tc = ferry_tcase("leaky", 5);
	int expected_failures = 2, failed, total;
	SRunner *runner;

	tcase_add_test(tc, clean);
	tcase_add_test(tc, leaks_fd);
	tcase_add_test(tc, leaks_buffer);
#ifdef HAVE_LSAN
	tcase_add_test(tc, leaks_heap);
	expected_failures++;
#endif
	suite_add_tcase(s, tc);

	runner = srunner_create(s);
	srunner_set_fork_status(runner, CK_FORK);
	srunner_run_all(runner, CK_SILENT);
	failed = srunner_ntests_failed(runner);
	total = srunner_ntests_run(runner);
	srunner_free(runner);

	if (failed != expected_failures || total != expected_failures + 1) {
		fprintf(stderr, "fixture: %d of %d leaky tests caught, %d run (want %d of %d)\n",
			failed, expected_failures, total, expected_failures, expected_failures + 1);
		return EXIT_FAILURE;
	}
	printf("fixture: all %d leaky tests caught, clean test passed\n", expected_failures);
	printf("%d passed, 0 failed\n", expected_failures + 1);
	return EXIT_SUCCESS;
}
