// SPDX-License-Identifier: MIT
/*
 * The secure link after something went wrong, and its secrets on time: a peer that
 * restarts (lost every session) is found again within 2 s, whether the link was idle or
 * busy, without the restarted side ever answering what it cannot open; an outage of 30 s
 * with both ends keeping their state costs no conversation; the re-handshake waits a few
 * of the path's RTOs, within bounds; and keys leave memory at the instant they expire (an
 * unconfirmed responder session, an initiation never answered, every session at
 * reject-after-time), because the link's deadline includes those instants.
 *
 * Each test builds the two-peer rig of tests/support/linkrig.h (A and B, one event loop on
 * the vnet's virtual clock, every received byte checked). Where a restart must reset
 * conversations, the rig plays the bridge's part (its `hello`: instances announced when a
 * link comes up, as stack/bridge.c does).
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "tests/support/fixture.h"
#include "tests/support/linkrig.h"
#include "transport/arq.h"
#include "transport/link.h"

/* B is killed while the link is idle and is back 300 ms later: a new conversation from A
 * carries its first byte within 2 s, the old one is reset when B's new instance is heard,
 * and until A's re-handshake B sends nothing at all. */
START_TEST(restart_new_conversation_within_2s)
{
	struct ferry_vnet_link l = {.delay_ms = 20};
	struct ferry_linkrig *w = ferry_linkrig_new(41, &l, &l);
	struct ferry_linkrig_side *a = &w->s[0], *b = &w->s[1];
	uint64_t t0, rh, b_out, a_init;

	w->hello = true;
	ferry_linkrig_start(w);
	ferry_linkrig_warm(w); /* conversation 100, A's index 0: the long-lived one, idle now */
	ck_assert_uint_eq(a->peer_instance, b->instance);
	rh = ferry_link_rehandshake_ms(&a->link);
	ck_assert_uint_eq(rh, FERRY_LINK_REHANDSHAKE_MIN_MS); /* 40 ms RTT */

	ferry_linkrig_side_stop(b);
	ck_assert(ferry_linkrig_run(w, w->vn.now + 300, false));
	ferry_linkrig_side_start(b, w->vn.now);
	t0 = w->vn.now;
	b_out = b->outputs;
	a_init = a->link.stats.initiations_out;
	ferry_linkrig_conv_open(a, FERRY_LINKRIG_CONV_BASE + 1, 1000, 0); /* A's index 1 */
	ferry_linkrig_conv_open(b, FERRY_LINKRIG_CONV_BASE + 1, 0, 1000); /* B's index 0 */

	/* A's data under the old session opens nothing at B, which answers nothing (not even
	 * a cookie) until A's initiation: the restarted side is not made to talk */
	ck_assert(ferry_linkrig_run(w, t0 + rh - 1, false));
	ck_assert_uint_gt(b->set.noise.stats.data_unknown_index, 0);
	ck_assert_uint_eq(b->outputs, b_out);
	ck_assert_uint_eq(a->link.stats.initiations_out, a_init);
	ck_assert_uint_eq(b->recvd[0], 0);

	ck_assert(ferry_linkrig_run(w, t0 + 2 * FERRY_LINKRIG_SEC, false));
	ck_assert_uint_eq(a->link.stats.initiations_out, a_init + 1);
	ck_assert_uint_gt(b->first_rx_ms[0], 0);
	ck_assert_uint_le(b->first_rx_ms[0] - t0, 2 * FERRY_LINKRIG_SEC);
	/* the old conversation is reset, the new one lives on */
	ck_assert_uint_eq(a->peer_restarts, 1);
	ck_assert_uint_eq(a->peer_instance, b->instance);
	ck_assert_uint_gt(a->reset_ms[0], 0);
	ck_assert_uint_le(a->reset_ms[0] - t0, 2 * FERRY_LINKRIG_SEC);
	ck_assert_uint_eq(a->reset_ms[1], 0);
	ck_assert(ferry_linkrig_run(w, w->vn.now + 10 * FERRY_LINKRIG_SEC, true));
	ferry_linkrig_check_streams(b);
	printf("restart while idle: re-handshake after %u ms, first byte of a new conversation "
	       "%llu ms and the old one reset %llu ms after the restart\n",
	       (unsigned)rh, (unsigned long long)(b->first_rx_ms[0] - t0),
	       (unsigned long long)(a->reset_ms[0] - t0));
	ferry_linkrig_free(w);
}
END_TEST

/* B dies under a transfer and is down for 1.5 s: A's first re-handshake finds nobody, its
 * retry follows after as long again (not after handshake_retry_ms), so a new conversation
 * works within 2 s of B's return; the transfer of the old instance is reset. */
START_TEST(restart_under_load_found_again_quickly)
{
	struct ferry_vnet_link l = {.delay_ms = 20, .rate = 1000000};
	struct ferry_linkrig *w = ferry_linkrig_new(43, &l, &l);
	struct ferry_linkrig_side *a = &w->s[0], *b = &w->s[1];
	uint64_t tk, t0, a_init;

	w->hello = true;
	ferry_linkrig_start(w);
	ferry_linkrig_warm(w);
	ferry_linkrig_conv_open(a, FERRY_LINKRIG_CONV_BASE + 1, 8 << 20, 0); /* A's index 1 */
	ferry_linkrig_conv_open(b, FERRY_LINKRIG_CONV_BASE + 1, 0, 8 << 20);
	ck_assert(ferry_linkrig_run(w, w->vn.now + FERRY_LINKRIG_SEC, false));
	ck_assert_uint_gt(b->recvd[1], 0);

	ferry_linkrig_side_stop(b);
	tk = w->vn.now;
	a_init = a->link.stats.initiations_out;
	ck_assert(ferry_linkrig_run(w, tk + 1500, false));
	ck_assert_uint_eq(a->link.stats.initiations_out, a_init + 1); /* lost: B is down */
	ferry_linkrig_side_start(b, w->vn.now);
	t0 = w->vn.now;
	ferry_linkrig_conv_open(a, FERRY_LINKRIG_CONV_BASE + 2, 1000, 0); /* A's index 2 */
	ferry_linkrig_conv_open(b, FERRY_LINKRIG_CONV_BASE + 2, 0, 1000); /* B's index 0 */
	ck_assert(ferry_linkrig_run(w, t0 + 2 * FERRY_LINKRIG_SEC, false));
	ck_assert_uint_gt(b->first_rx_ms[0], 0);
	ck_assert_uint_le(b->first_rx_ms[0] - t0, 2 * FERRY_LINKRIG_SEC);
	ck_assert_uint_eq(a->link.stats.initiations_out, a_init + 2);
	ck_assert_uint_eq(a->peer_restarts, 1);
	ck_assert_uint_gt(a->reset_ms[1], 0); /* the transfer that heard the old instance */
	ck_assert_uint_eq(a->reset_ms[2], 0);
	printf("restart under load, down 1.5 s: first byte of a new conversation %llu ms after "
	       "the restart, the old transfer reset after %llu ms\n",
	       (unsigned long long)(b->first_rx_ms[0] - t0),
	       (unsigned long long)(a->reset_ms[1] - t0));
	ferry_linkrig_free(w);
}
END_TEST

/* The path is cut for 30 s in both directions under transfers both ways; both ends keep
 * their state. Nothing is reset, the link retries its handshake with a growing interval
 * (a handful of initiations, not one a second), and both streams finish intact. The
 * conversations are configured as the bridge's (dead after 120 s, not after a count). */
START_TEST(outage_of_30s_conversations_survive)
{
	struct ferry_vnet_link l = {.delay_ms = 20, .rate = 1000000};
	struct ferry_linkrig *w = ferry_linkrig_new(47, &l, &l);
	struct ferry_linkrig_side *a = &w->s[0], *b = &w->s[1];
	uint64_t a_init, b_init, t_up;
	uint32_t i;

	w->hello = true;
	for (i = 0; i < 2; i++) {
		w->s[i].arq_cfg.dead_time = 120000;
		w->s[i].arq_cfg.dead_link = 0xfffe;
	}
	ferry_linkrig_start(w);
	ferry_linkrig_warm(w);
	ferry_linkrig_conv_open(a, FERRY_LINKRIG_CONV_BASE + 1, 6 << 20, 1 << 20);
	ferry_linkrig_conv_open(b, FERRY_LINKRIG_CONV_BASE + 1, 1 << 20, 6 << 20);
	ck_assert(ferry_linkrig_run(w, w->vn.now + FERRY_LINKRIG_SEC, false));
	a_init = a->link.stats.initiations_out;
	b_init = b->link.stats.initiations_out;

	w->vn.link[0].loss = 1.0;
	w->vn.link[1].loss = 1.0;
	ck_assert(ferry_linkrig_run(w, w->vn.now + 30 * FERRY_LINKRIG_SEC, false));
	/* retries after 1, 2, 4, 8 s of silence, then every 5 s: about 8 in 30 s */
	ck_assert_uint_ge(a->link.stats.initiations_out - a_init, 5);
	ck_assert_uint_le(a->link.stats.initiations_out - a_init, 10);
	ck_assert_uint_le(b->link.stats.initiations_out - b_init, 10);
	w->vn.link[0].loss = 0;
	w->vn.link[1].loss = 0;
	t_up = w->vn.now;
	ck_assert(ferry_linkrig_run(w, w->vn.now + 120 * FERRY_LINKRIG_SEC, true));
	ferry_linkrig_check_streams(a);
	ferry_linkrig_check_streams(b);
	ck_assert_int_eq(ferry_arq_error(a->arq[1]), 0);
	ck_assert_int_eq(ferry_arq_error(b->arq[1]), 0);
	ck_assert_uint_eq(a->peer_restarts + b->peer_restarts, 0);
	ck_assert_uint_eq(a->reset_ms[1] + b->reset_ms[1], 0);
	ck_assert_int_eq(ferry_link_state(&a->link), FERRY_LINK_UP);
	ck_assert_int_eq(ferry_link_state(&b->link), FERRY_LINK_UP);
	printf("outage of 30 s: %llu initiations from A during it, transfers done %.1f s after "
	       "the path came back\n",
	       (unsigned long long)(a->link.stats.initiations_out - a_init),
	       (double)(w->vn.now - t_up) / 1000.0);
	ferry_linkrig_free(w);
}
END_TEST

/* How long data may go unanswered follows the path: the handshake's round trip before
 * the first ACK, then the controller's smoothed RTT; the minimum on a short path, the
 * maximum on a very long one and while nothing was measured. A's re-handshake comes at
 * exactly that instant after its data went unanswered. */
START_TEST(rehandshake_follows_the_round_trip)
{
	static const uint32_t delays[] = {20, 300, 1000};
	uint32_t k;

	for (k = 0; k < sizeof(delays) / sizeof(delays[0]); k++) {
		struct ferry_vnet_link l = {.delay_ms = delays[k]};
		struct ferry_linkrig *w = ferry_linkrig_new(53 + k, &l, &l);
		struct ferry_linkrig_side *a = &w->s[0], *b = &w->s[1];
		uint64_t rtt = (uint64_t)delays[k] * 2, rto = rtt * 2 + 4, t0, rh, a_init;

		ferry_linkrig_start(w);
		ck_assert_uint_eq(ferry_link_rehandshake_ms(&a->link),
				  FERRY_LINK_REHANDSHAKE_MAX_MS); /* nothing measured yet */
		/* the response is in; the ACK of A's first datagram is not yet */
		ck_assert_int_eq(ferry_linkrig_send_dg(a, 1, 100), 0);
		ferry_link_flush(&a->link, w->vn.now);
		ck_assert(ferry_linkrig_run(w, w->vn.now + rtt + 1, false));
		ck_assert_int_eq(ferry_link_state(&a->link), FERRY_LINK_UP);
		ck_assert(!a->link.cc.rtt_seen);
		ck_assert_uint_eq(a->link.hs_rtt_ms, rtt);
		ck_assert_uint_eq(
		    ferry_link_rehandshake_ms(&a->link),
		    rto * 3 < FERRY_LINK_REHANDSHAKE_MIN_MS   ? FERRY_LINK_REHANDSHAKE_MIN_MS
		    : rto * 3 > FERRY_LINK_REHANDSHAKE_MAX_MS ? FERRY_LINK_REHANDSHAKE_MAX_MS
							      : rto * 3);
		ferry_linkrig_warm(w);
		ck_assert(a->link.cc.rtt_seen);
		rh = ferry_link_rehandshake_ms(&a->link);
		if (delays[k] == 20)
			ck_assert_uint_eq(rh, FERRY_LINK_REHANDSHAKE_MIN_MS);
		else if (delays[k] == 1000)
			ck_assert_uint_eq(rh, FERRY_LINK_REHANDSHAKE_MAX_MS);
		else
			ck_assert(rh >= rtt * 6 && rh <= (rtt * 2 + 50) * 3);

		/* B vanishes; A's datagram at t0 goes unanswered */
		ferry_linkrig_side_stop(b);
		ck_assert(ferry_linkrig_run(w, w->vn.now + 2 * rtt, false));
		a_init = a->link.stats.initiations_out;
		t0 = w->vn.now;
		ck_assert_int_eq(ferry_linkrig_send_dg(a, 2, 100), 0);
		ferry_link_flush(&a->link, t0);
		ck_assert(ferry_linkrig_run(w, t0 + rh - 1, false));
		ck_assert_uint_eq(a->link.stats.initiations_out, a_init);
		ck_assert_uint_eq(ferry_link_next_deadline(&a->link, t0 + rh - 1), t0 + rh);
		ck_assert(ferry_linkrig_run(w, t0 + rh, false));
		ck_assert_uint_eq(a->link.stats.initiations_out, a_init + 1);
		printf("RTT %llu ms: re-handshake after %llu ms of silence\n",
		       (unsigned long long)rtt, (unsigned long long)rh);
		ferry_linkrig_free(w);
	}
}
END_TEST

/* A sends an initiation and is gone before the response: B's new session is never
 * confirmed. B's deadline is the instant it must be forgotten, and the timer that runs
 * then leaves its slot all zero. */
START_TEST(unconfirmed_session_wiped_on_time)
{
	struct ferry_vnet_link l = {.delay_ms = 10};
	struct ferry_linkrig *w = ferry_linkrig_new(61, &l, &l);
	struct ferry_linkrig_side *a = &w->s[0], *b = &w->s[1];
	uint8_t init[FERRY_MSG_INITIATION_LEN];
	const struct ferry_noise_session *next;
	uint64_t t;

	ferry_linkrig_start(w);
	ck_assert_int_eq(
	    ferry_noise_create_initiation(&a->link.peer, w->vn.now,
					  FERRY_LINKRIG_REALTIME0 + w->vn.now * 1000000ULL, init),
	    0);
	ferry_linkrig_side_stop(a);
	ck_assert_int_eq(ferry_linkrig_inject(b, init, sizeof(init), &a->addr), 0);
	next = b->link.peer.next;
	ck_assert_ptr_nonnull(next);
	ck_assert(!sodium_is_zero((const unsigned char *)&next->send, sizeof(next->send)));
	ck_assert(!sodium_is_zero((const unsigned char *)&next->recv, sizeof(next->recv)));
	t = next->created_ms + FERRY_NOISE_HANDSHAKE_MAX_AGE_MS;

	ck_assert(ferry_linkrig_run(w, t - 1, false));
	ck_assert_ptr_eq(b->link.peer.next, next);
	ck_assert(!sodium_is_zero((const unsigned char *)next, sizeof(*next)));
	ck_assert_uint_eq(ferry_link_next_deadline(&b->link, t - 1), t);
	ck_assert(ferry_linkrig_run(w, t, false));
	ck_assert_ptr_null(b->link.peer.next);
	ck_assert(sodium_is_zero((const unsigned char *)next, sizeof(*next)));
	ck_assert_uint_eq(ferry_link_next_deadline(&b->link, t), UINT64_MAX);
	ferry_linkrig_free(w);
}
END_TEST

/* A wants a session but nothing answers; once its payloads have aged out of the wait
 * queue it stops retrying. Its last initiation's secrets (ephemeral key, chaining key) go
 * at FERRY_NOISE_HANDSHAKE_MAX_AGE_MS after it was made, and the link reports DOWN then. */
START_TEST(abandoned_handshake_wiped_on_time)
{
	struct ferry_vnet_link l = {.delay_ms = 10, .loss = 1.0};
	struct ferry_linkrig *w = ferry_linkrig_new(67, &l, &l);
	struct ferry_linkrig_side *a = &w->s[0];
	const struct ferry_noise_handshake *hs = &a->link.peer.hs;
	uint64_t t, init;

	ferry_linkrig_start(w);
	ck_assert_int_eq(ferry_linkrig_send_dg(a, 1, 100), 0);
	ferry_link_flush(&a->link, w->vn.now);
	ck_assert(ferry_linkrig_run(w, w->vn.now + FERRY_LINK_WAIT_MAX_MS + 6000, false));
	ck_assert_uint_eq(a->link.wait_count, 0);
	ck_assert(hs->pending);
	ck_assert(!sodium_is_zero((const unsigned char *)hs->ephemeral_private,
				  sizeof(hs->ephemeral_private)));
	init = a->link.stats.initiations_out;
	t = hs->created_ms + FERRY_NOISE_HANDSHAKE_MAX_AGE_MS;
	ck_assert_int_eq(ferry_link_state(&a->link), FERRY_LINK_HANDSHAKE);

	ck_assert(ferry_linkrig_run(w, t - 1, false));
	ck_assert(hs->pending);
	ck_assert_uint_eq(ferry_link_next_deadline(&a->link, t - 1), t);
	ck_assert(ferry_linkrig_run(w, t, false));
	ck_assert(sodium_is_zero((const unsigned char *)hs, sizeof(*hs)));
	ck_assert_uint_eq(a->link.stats.initiations_out, init); /* nothing retried meanwhile */
	ck_assert_int_eq(ferry_link_state(&a->link), FERRY_LINK_DOWN);
	ck_assert_int_eq(a->states[a->nstates - 1], FERRY_LINK_DOWN);
	ferry_linkrig_free(w);
}
END_TEST

struct expiring {
	const void *at; /* the slot or handshake that must be zero from `t` on */
	size_t len;
	struct ferry_link *link;
	uint64_t t;
};

/* Every secret of both sides with the instant it must leave memory. */
static uint32_t expiring_list(struct ferry_linkrig *w, struct expiring *out)
{
	uint32_t n = 0, i, k;

	for (i = 0; i < 2; i++) {
		struct ferry_noise_peer *p = &w->s[i].link.peer;
		const struct ferry_noise_session *s[3] = {p->current, p->previous, p->next};

		for (k = 0; k < 3; k++)
			if (s[k])
				out[n++] = (struct expiring){
				    s[k], sizeof(*s[k]), &w->s[i].link,
				    s[k]->created_ms + (k == 2 ? FERRY_NOISE_HANDSHAKE_MAX_AGE_MS
							       : FERRY_NOISE_REJECT_AFTER_TIME_MS)};
		if (p->hs.pending)
			out[n++] =
			    (struct expiring){&p->hs, sizeof(p->hs), &w->s[i].link,
					      p->hs.created_ms + FERRY_NOISE_HANDSHAKE_MAX_AGE_MS};
	}
	return n;
}

/* Rekeying every 40 messages leaves both sides with a current and a previous session;
 * then the link is idle. Each session is wiped at the instant it expires: each instant is
 * its link's deadline, the slot holds keys a millisecond before and is all zero after the
 * timer ran at it. At the end both links are down and want no timer at all. */
START_TEST(sessions_wiped_at_reject_after_time)
{
	struct ferry_vnet_link l = {.delay_ms = 10};
	struct ferry_linkrig *w = ferry_linkrig_new(71, &l, &l);
	struct expiring e[8];
	uint32_t n, i, wiped = 0, rounds;

	w->s[0].noise_cfg.rekey_after_messages = 40;
	ferry_linkrig_start(w);
	ferry_linkrig_warm(w);
	ck_assert(ferry_linkrig_run(w, w->vn.now + 2 * FERRY_LINKRIG_SEC, false)); /* settle */
	ck_assert_ptr_nonnull(w->s[0].link.peer.previous);
	ck_assert_ptr_nonnull(w->s[1].link.peer.previous);
	for (rounds = 0; (n = expiring_list(w, e)) > 0; rounds++) {
		uint64_t t = UINT64_MAX;

		ck_assert_uint_lt(rounds, 8);
		for (i = 0; i < n; i++)
			t = e[i].t < t ? e[i].t : t;
		ck_assert_uint_gt(t, w->vn.now);
		ck_assert(ferry_linkrig_run(w, t - 1, false));
		for (i = 0; i < n; i++) {
			ck_assert(!sodium_is_zero((const unsigned char *)e[i].at, e[i].len));
			if (e[i].t == t)
				ck_assert_uint_eq(ferry_link_next_deadline(e[i].link, t - 1), t);
		}
		ck_assert(ferry_linkrig_run(w, t, false));
		for (i = 0; i < n; i++)
			if (e[i].t == t) {
				ck_assert(sodium_is_zero((const unsigned char *)e[i].at, e[i].len));
				wiped++;
			}
	}
	ck_assert_uint_ge(wiped, 4); /* two sessions a side */
	for (i = 0; i < 2; i++) {
		ck_assert_int_eq(ferry_link_state(&w->s[i].link), FERRY_LINK_DOWN);
		ck_assert_uint_eq(ferry_link_next_deadline(&w->s[i].link, w->vn.now), UINT64_MAX);
	}
	ferry_linkrig_free(w);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("link_recovery");
	TCase *tc = ferry_tcase("link_recovery", 120);

	tcase_add_test(tc, restart_new_conversation_within_2s);
	tcase_add_test(tc, restart_under_load_found_again_quickly);
	tcase_add_test(tc, outage_of_30s_conversations_survive);
	tcase_add_test(tc, rehandshake_follows_the_round_trip);
	tcase_add_test(tc, unconfirmed_session_wiped_on_time);
	tcase_add_test(tc, abandoned_handshake_wiped_on_time);
	tcase_add_test(tc, sessions_wiped_at_reject_after_time);
	suite_add_tcase(s, tc);
	return ferry_run_suite(s);
}
