// SPDX-License-Identifier: MIT
#include "tests/support/fixture.h"

#include <dirent.h>
#include <stdlib.h>

/* Each test runs in its own forked child, so these describe only the current test. */
static int fds_before;

static int count_open_fds(void)
{
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *entry;
	int n = 0;

	ck_assert_msg(dir != NULL, "cannot list /proc/self/fd");
	while ((entry = readdir(dir)) != NULL)
		if (entry->d_name[0] != '.')
			n++;
	closedir(dir);
	return n - 1; /* the directory's own descriptor */
}

static void leak_setup(void)
{
	fds_before = count_open_fds();
}

static void leak_teardown(void)
{
	int fds_after = count_open_fds();

	ck_assert_msg(fds_after == fds_before, "test leaked %d file descriptor(s)",
		      fds_after - fds_before);
}

void ferry_tcase_add_leak_check(TCase *tc)
{
	tcase_add_checked_fixture(tc, leak_setup, leak_teardown);
}

TCase *ferry_tcase(const char *name, double seconds)
{
	TCase *tc = tcase_create(name);

	tcase_set_timeout(tc, seconds);
	ferry_tcase_add_leak_check(tc);
	return tc;
}

int ferry_run_suite(Suite *suite)
{
	SRunner *runner = srunner_create(suite);
	int failed;

	srunner_set_fork_status(runner, CK_FORK);
	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
