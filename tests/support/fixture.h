/* SPDX-License-Identifier: MIT */
/*
 * The leak-checking fixture every Check suite uses, in the manner of lwIP's own unit tests.
 *
 * - File descriptors: after each test the process must hold exactly the descriptors it
 *   held before, or the test fails (every build).
 * - Buffers: tests that own a pool end with ferry_ck_pool_idle(), since only they know
 *   which pools exist.
 * - lwIP's memory: after each test every lwIP pool (pcbs, segments, pbufs, ...) holds
 *   exactly the elements it held before, and lwIP's heap exactly the bytes, or the test
 *   fails naming the pool and the count (every build). LeakSanitizer sees neither: the
 *   pools are static arrays and the heap is lwIP's own. The one allowance is what
 *   lwip_init() keeps for ever, its cyclic timers, plus the TCP timer's last pending run
 *   (tests/support/fixture.c says why). A test that never starts lwIP checks nothing here.
 * - Guarded memory (transport/secret.h, where keys live): after each test the process holds
 *   exactly the locked memory it held before (VmLck), or the test fails. These are
 *   mappings of their own, which LeakSanitizer does not see; one that could not be locked
 *   (past RLIMIT_MEMLOCK, or in a sanitizer build, whose mlock does nothing) is not seen
 *   here either.
 * - Heap: each test runs in its own forked child; in the sanitizer build LeakSanitizer
 *   checks that child at exit and a leak turns into a test error. (A heap figure such as
 *   mallinfo2 is no use here: Check itself allocates between setup and the test body.)
 *
 * tests/test_fixture.c proves each of these catches what it claims to (the guarded memory
 * check: tests/test_secret.c).
 */
#ifndef FERRY_TESTS_FIXTURE_H
#define FERRY_TESTS_FIXTURE_H

#include <check.h>

#include "transport/pool.h"

/* Adds the descriptor and lwIP memory leak checks around every test of tc. Check runs
 * teardowns in reverse order, so add these first (ferry_tcase does): they then judge what
 * is left after the suite's own teardowns. */
void ferry_tcase_add_leak_check(TCase *tc);

/* A TCase named `name` with the leak checks and a timeout of `seconds` (scaled by
 * CK_TIMEOUT_MULTIPLIER, which the sanitizer build sets). */
TCase *ferry_tcase(const char *name, double seconds);

/* Runs the suite (fork mode) and returns the process exit status for CTest. */
int ferry_run_suite(Suite *suite);

/* Fails the test unless every buffer of pool is back. */
#define ferry_ck_pool_idle(pool)                                                            \
	ck_assert_msg((pool)->stats.in_use == 0, "pool %s: %u buffers not returned", #pool, \
		      (pool)->stats.in_use)

#endif
