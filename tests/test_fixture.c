// SPDX-License-Identifier: MIT
/*
 * The leak fixture must catch what it claims to: this runs a suite of deliberately leaky
 * tests and passes only if each one is reported as failed (and the clean ones pass). The
 * lwIP leaks must also be reported by the fixture's teardown with the pool they leaked.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lwip/pbuf.h"
#include "lwip/tcp.h"
#include "tests/support/fixture.h"
#include "tests/support/stackfake.h"

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

/* A stack that carried a connection and was destroyed leaves lwIP as lwip_init left it
 * (give or take the TCP timer's last run): the lwIP check must not fire. */
START_TEST(clean_lwip)
{
	struct ferry_stackfake *f = ferry_stackfake_new(1500);
	struct ferry_stackfake_app a = ferry_stackfake_app4(40000);

	ferry_stackfake_establish(f, &a);
	ferry_stackfake_free(f);
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

/* lwIP's pools and heap outlive the stack (lwip_init runs once per process), so a stack
 * created and destroyed leaves lwIP running for the leaks below. */
START_TEST(leaks_lwip_pcb)
{
	ferry_stackfake_free(ferry_stackfake_new(1500));
	ck_assert_ptr_nonnull(tcp_new()); /* MEMP_TCP_PCB, never freed */
}
END_TEST

START_TEST(leaks_lwip_pbuf)
{
	ferry_stackfake_free(ferry_stackfake_new(1500));
	ck_assert_ptr_nonnull(pbuf_alloc(PBUF_RAW, 64, PBUF_RAM)); /* lwIP heap, never freed */
}
END_TEST

/* How many failures of the run say `what`. */
static int failures_saying(SRunner *runner, const char *what)
{
	TestResult **results = srunner_failures(runner);
	int i, n = 0;

	for (i = 0; i < srunner_ntests_failed(runner); i++)
		if (strstr(tr_msg(results[i]), what))
			n++;
	free(results);
	return n;
}

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
	int expected_failures = 4, clean_tests = 2, failed, total, pcb_msgs, heap_msgs;
	SRunner *runner;

	tcase_add_test(tc, clean);
	tcase_add_test(tc, clean_lwip);
	tcase_add_test(tc, leaks_fd);
	tcase_add_test(tc, leaks_buffer);
	tcase_add_test(tc, leaks_lwip_pcb);
	tcase_add_test(tc, leaks_lwip_pbuf);
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
	pcb_msgs = failures_saying(runner, "MEMP_TCP_PCB: 1 element(s) in use, want 0");
	heap_msgs = failures_saying(runner, "lwIP heap: ");
	srunner_free(runner);

	if (failed != expected_failures || total != expected_failures + clean_tests) {
		fprintf(stderr, "fixture: %d of %d leaky tests caught, %d run (want %d of %d)\n",
			failed, expected_failures, total, expected_failures,
			expected_failures + clean_tests);
		return EXIT_FAILURE;
	}
	if (pcb_msgs != 1 || heap_msgs != 1) {
		fprintf(stderr,
			"fixture: lwIP leaks reported %d time(s) as MEMP_TCP_PCB, %d as heap "
			"(want 1 and 1)\n",
			pcb_msgs, heap_msgs);
		return EXIT_FAILURE;
	}
	printf("fixture: all %d leaky tests caught, clean tests passed\n", expected_failures);
	printf("%d passed, 0 failed\n", expected_failures + clean_tests);
	return EXIT_SUCCESS;
}
