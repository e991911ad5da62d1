// SPDX-License-Identifier: MIT
#include "tests/support/fixture.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwip/memp.h"
#include "lwip/stats.h"
#include "lwip/timeouts.h"

/* Each pool's name, in the order of lwIP's memp_t, as lwIP's own memp.h builds its enum. */
static const char *const lwip_pool_names[] = {
#define LWIP_MEMPOOL(name, num, size, desc) "MEMP_" #name,
#include "lwip/priv/memp_std.h"
};
_Static_assert(sizeof(lwip_pool_names) / sizeof(lwip_pool_names[0]) == MEMP_MAX,
	       "one name per lwIP pool");

/*
 * What lwIP holds by design once lwip_init() has run and no stack is alive -- found by a
 * probe that created a stack, carried a connection, destroyed the stack and read every pool:
 *   - its cyclic timers in MEMP_SYS_TIMEOUT: sys_timeouts_init() arms every entry of
 *     lwip_cyclic_timers except the TCP timer (the first entry when LWIP_TCP), each re-arms
 *     itself for ever, and lwip_init runs once per process (stack/lwip_port.c). With
 *     ferry's lwipopts.h that is one: nd6_tmr.
 *   - at most one more MEMP_SYS_TIMEOUT, the TCP timer: tcp_timer_needed() arms it while
 *     pcbs exist, and it lets go only when it next fires and finds none, which takes one
 *     more ferry_stack_timer() at least TCP_TMR_INTERVAL later. Whether it is pending cannot
 *     be read without LWIP_TESTMODE; a pcb that keeps it armed is caught in MEMP_TCP_PCB,
 *     and ferry calls no sys_timeout() of its own, so this slack hides no leak of ours.
 * Nothing else: the netif is a member of struct ferry_stack, ferry_stack_destroy closes
 * the listening pcbs and aborts the rest, and the heap is empty. Every other pool, and the
 * heap, must end the test exactly where it began (0, unless the suite's parent process
 * used lwIP before forking).
 */
#define LWIP_INIT_TIMEOUTS (lwip_num_cyclic_timers - (LWIP_TCP ? 1 : 0))

/* Weak, so that this reference alone does not link lwIP's timers -- and through them the
 * whole stack, which liblwip.a needs but precedes on the link line -- into suites that
 * never use lwIP. It is linked whenever lwip_init has run, the only time it is read. */
extern const int lwip_num_cyclic_timers __attribute__((weak));

/* Each test runs in its own forked child, so these describe only the current test. */
static int fds_before;
static long locked_before;
static unsigned long lwip_pool_before[MEMP_MAX];
static unsigned long lwip_heap_before;

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

/* Locked memory, kB (VmLck): the guarded allocations of keys (transport/secret.h), which
 * are mappings of their own that LeakSanitizer does not see. A fork does not inherit
 * locks, so the child starts from what it locks itself. */
static long locked_kb(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[128];
	long kb = -1;

	ck_assert_msg(f != NULL, "cannot read /proc/self/status");
	while (kb < 0 && fgets(line, sizeof(line), f))
		if (strncmp(line, "VmLck:", 6) == 0)
			kb = strtol(line + 6, NULL, 10);
	fclose(f);
	ck_assert_msg(kb >= 0, "no VmLck in /proc/self/status");
	return kb;
}

/* Elements in use in lwIP pool i; 0 until lwip_init() (memp_init) published its stats. */
static unsigned long lwip_pool_used(int i)
{
	return lwip_stats.memp[i] ? lwip_stats.memp[i]->used : 0;
}

/* Appends "what: used unit in use, want lo[..hi]" to msg (size n, *len used so far). */
static void lwip_complain(char *msg, size_t n, size_t *len, const char *what, unsigned long used,
			  unsigned long lo, unsigned long hi, const char *unit)
{
	int w;

	if (*len >= n)
		return; /* truncated: the first complaints are enough */
	if (lo == hi)
		w = snprintf(msg + *len, n - *len, "%s%s: %lu %s in use, want %lu",
			     *len ? "; " : "", what, used, unit, lo);
	else
		w = snprintf(msg + *len, n - *len, "%s%s: %lu %s in use, want %lu..%lu",
			     *len ? "; " : "", what, used, unit, lo, hi);
	if (w > 0)
		*len += (size_t)w;
}

/* Fails the test unless lwIP's pools and heap are back where they were before it. */
static void lwip_check_idle(void)
{
	char msg[512] = "";
	size_t len = 0;
	unsigned long used, lo, hi;
	int i;

	for (i = 0; i < MEMP_MAX; i++) {
		used = lwip_pool_used(i);
		lo = hi = lwip_pool_before[i];
		if (i == MEMP_SYS_TIMEOUT && lwip_stats.memp[i]) {
			lo = (unsigned long)LWIP_INIT_TIMEOUTS;
			hi = lo + 1;
		}
		if (used < lo || used > hi)
			lwip_complain(msg, sizeof(msg), &len, lwip_pool_names[i], used, lo, hi,
				      "element(s)");
	}
	used = lwip_stats.mem.used;
	if (used != lwip_heap_before)
		lwip_complain(msg, sizeof(msg), &len, "lwIP heap", used, lwip_heap_before,
			      lwip_heap_before, "byte(s)");
	ck_assert_msg(len == 0, "test leaked lwIP memory: %s", msg);
}

static void leak_setup(void)
{
	int i;

	fds_before = count_open_fds();
	locked_before = locked_kb();
	for (i = 0; i < MEMP_MAX; i++)
		lwip_pool_before[i] = lwip_pool_used(i);
	lwip_heap_before = lwip_stats.mem.used;
}

static void leak_teardown(void)
{
	int fds_after = count_open_fds();
	long locked_after = locked_kb();

	ck_assert_msg(fds_after == fds_before, "test leaked %d file descriptor(s)",
		      fds_after - fds_before);
	ck_assert_msg(locked_after == locked_before,
		      "test leaked guarded memory (transport/secret.h): %ld kB locked, want %ld",
		      locked_after, locked_before);
	lwip_check_idle();
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
