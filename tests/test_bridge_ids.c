// SPDX-License-Identifier: MIT
/*
 * The window of the peer's conversation ids a bridge has seen (stack/bridge.c,
 * ferry_bridge_id_fresh): an OPEN for an id seen before, or of this side's own ids, opens
 * nothing; one that arrives late, after many newer ids, still opens its flow, as long as it
 * is within the window. With ten thousand flows through the tunnel, OPENs delayed a few
 * seconds fell behind a window of 4,096 ids and their connections were aborted.
 */
#include <stdlib.h>

#include "stack/bridge_internal.h"
#include "tests/support/fixture.h"

static struct ferry_bridge_peer *peer_new(void)
{
	struct ferry_bridge_peer *p = calloc(1, sizeof(*p));

	ck_assert_ptr_nonnull(p);
	p->side = 0; /* the peer's ids carry FERRY_FLOW_ID_SIDE */
	return p;
}

START_TEST(seen_once)
{
	struct ferry_bridge_peer *p = peer_new();

	ck_assert(ferry_bridge_id_fresh(p, FERRY_FLOW_ID_SIDE | 5));
	ck_assert(!ferry_bridge_id_fresh(p, FERRY_FLOW_ID_SIDE | 5)); /* a late duplicate */
	ck_assert(ferry_bridge_id_fresh(p, FERRY_FLOW_ID_SIDE | 3));  /* earlier, unseen */
	ck_assert(!ferry_bridge_id_fresh(p, 7));		      /* this side's own */
	ck_assert(!ferry_bridge_id_fresh(p, FERRY_FLOW_ID_SIDE));     /* id 0 */
	free(p);
}
END_TEST

/* Twenty thousand newer ids opened while one OPEN was on its way: it still opens; an id
 * a whole window behind the newest does not, and sliding the window forgets nothing
 * inside it. */
START_TEST(late_open_within_the_window)
{
	struct ferry_bridge_peer *p = peer_new();
	uint32_t n;

	for (n = 2; n <= 20001; n++)
		ck_assert(ferry_bridge_id_fresh(p, FERRY_FLOW_ID_SIDE | n));
	ck_assert(ferry_bridge_id_fresh(p, FERRY_FLOW_ID_SIDE | 1));
	ck_assert(!ferry_bridge_id_fresh(p, FERRY_FLOW_ID_SIDE | 2));
	ck_assert(ferry_bridge_id_fresh(p, FERRY_FLOW_ID_SIDE | (1 + BR_SEEN_BITS + 20001)));
	ck_assert(!ferry_bridge_id_fresh(p, FERRY_FLOW_ID_SIDE | 20001)); /* behind it now */
	ck_assert(ferry_bridge_id_fresh(p, FERRY_FLOW_ID_SIDE | (BR_SEEN_BITS + 20001)));
	free(p);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("bridge_ids");
	TCase *tc = ferry_tcase("ids", 10);

	tcase_add_test(tc, seen_once);
	tcase_add_test(tc, late_open_within_the_window);
	suite_add_tcase(s, tc);
	return ferry_run_suite(s);
}
