/* SPDX-License-Identifier: MIT */
/*
 * A private network namespace for a test. Check forks every test, so a test that calls
 * ferry_test_netns_enter() gets links, addresses, routes and sysctls of its own, and
 * nothing it does reaches the host's network; the namespace ends with the test's process.
 * Needs CAP_SYS_ADMIN and CAP_NET_ADMIN (the suites that use it skip without root).
 */
#ifndef FERRY_TESTS_SUPPORT_NETNS_H
#define FERRY_TESTS_SUPPORT_NETNS_H

/* Moves the calling process into a new network namespace and brings its lo up; fails the
 * test on any error. */
void ferry_test_netns_enter(void);

#endif
