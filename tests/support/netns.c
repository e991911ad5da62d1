// SPDX-License-Identifier: MIT
/* A private network namespace with lo up, for tests (see netns.h). */
#include "tests/support/netns.h"

#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <string.h>

#include <check.h>

#include "tun/netlink.h"

void ferry_test_netns_enter(void)
{
	struct ferry_nl nl;

	ck_assert_msg(unshare(CLONE_NEWNET) == 0, "unshare(CLONE_NEWNET): %s", strerror(errno));
	ck_assert_int_eq(ferry_nl_open(&nl), 0);
	ck_assert_int_eq(ferry_nl_link_set(&nl, if_nametoindex("lo"), 1, 0), 0);
	ferry_nl_close(&nl);
}
