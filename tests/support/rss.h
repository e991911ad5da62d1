/* SPDX-License-Identifier: MIT */
/*
 * The process's resident memory, for tests and benchmarks that measure what a structure
 * costs (read from /proc/self/statm).
 */
#ifndef FERRY_TESTS_RSS_H
#define FERRY_TESTS_RSS_H

/* Resident memory in KiB, or -1 if /proc/self/statm cannot be read. */
long ferry_test_rss_kib(void);

#endif
