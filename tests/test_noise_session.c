// SPDX-License-Identifier: MIT
/*
 * Noise sessions after the handshake: tampered, truncated, replayed, reordered and
 * foreign data datagrams dropped silently and counted, sealing without room, rekeying in
 * the middle of a transfer without losing a datagram in flight, the rekey and expiry
 * policy (time, messages, counter limit), a peer that restarts, and keys wiped from every
 * slot they leave.
 *
 * The harness is tests/support/noiserig.h: nodes A and B, each datagram sealed and opened
 * by the test on virtual time, every payload checked. The handshake itself (known answer,
 * negotiation, authentication failures, cookies) is in test_noise_handshake.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/fixture.h"
#include "tests/support/noiserig.h"
#include "transport/noise.h"

static struct ferry_pool pool; /* the datagrams' buffers, one per test (fixture) */

static void pool_setup(void)
{
	ck_assert_int_eq(ferry_pool_init(&pool, 32, 2048, 64), 0);
}

static void pool_teardown(void)
{
	ferry_ck_pool_idle(&pool);
	ferry_pool_destroy(&pool);
}

START_TEST(data_drops_are_silent_and_counted)
{
	struct ferry_buf *buf, *copy, *held[3];
	struct ferry_noise_stats *st;
	struct ferry_noise_peer *peer;
	struct ferry_noiserig_node a = {0}, b = {0};
	int i;

	ferry_noiserig_pair_up(&a, &b, &pool, NULL, NULL);
	ferry_noiserig_handshake(&a, &b, 0, FERRY_NOISERIG_REALTIME0);
	st = &b.local.stats;

	/* Tampered: every byte position of a small datagram. */
	buf = ferry_noiserig_seal(&a, 1, 7, 20);
	for (i = 0; i < (int)buf->len; i++) {
		copy = ferry_noiserig_dup(&pool, buf);
		copy->data[i] ^= 0x04;
		ck_assert_int_lt(ferry_noiserig_open(&b, 1, copy, 7, 20), 0);
	}
	/* (a flipped high counter bit lands past AES-GCM's message limit: expired) */
	ck_assert_uint_eq(st->data_auth_failed + st->data_malformed + st->data_unknown_index +
			      st->data_replayed + st->data_expired,
			  buf->len);
	ck_assert_uint_eq(st->data_malformed, 4); /* type and reserved bytes */
	ck_assert_uint_eq(st->data_unknown_index, 4);

	/* Truncated. */
	copy = ferry_noiserig_dup(&pool, buf);
	copy->len -= 1;
	ck_assert_int_eq(ferry_noiserig_open(&b, 1, copy, 7, 20), -EBADMSG);
	copy = ferry_noiserig_dup(&pool, buf);
	copy->len = FERRY_DATA_OVERHEAD - 1;
	ck_assert_int_eq(ferry_noiserig_open(&b, 1, copy, 7, 20), -EPROTO);

	/* The genuine one opens once; its replay is dropped. A forged datagram did not
	 * move the window or mark its counter. */
	copy = ferry_noiserig_dup(&pool, buf);
	ck_assert_int_eq(ferry_noiserig_open(&b, 1, buf, 7, 20), 0);
	ck_assert_int_eq(ferry_noiserig_open(&b, 1, copy, 7, 20), -EALREADY);
	ck_assert_uint_eq(st->data_replayed, 1);

	/* Reordered within the window: each accepted exactly once. */
	for (i = 0; i < 3; i++)
		held[i] = ferry_noiserig_seal(&a, 2, (uint8_t)i, 10);
	for (i = 2; i >= 0; i--) {
		copy = ferry_noiserig_dup(&pool, held[i]);
		ck_assert_int_eq(ferry_noiserig_open(&b, 2, held[i], (uint8_t)i, 10), 0);
		ck_assert_int_eq(ferry_noiserig_open(&b, 2, copy, (uint8_t)i, 10), -EALREADY);
	}

	/* Foreign: a datagram from a session B has never seen. */
	{
		struct ferry_noiserig_node c = {0}, d = {0};

		ferry_noiserig_pair_up(&c, &d, &pool, NULL, NULL);
		ferry_noiserig_handshake(&c, &d, 0, FERRY_NOISERIG_REALTIME0);
		ck_assert_int_eq(
		    ferry_noiserig_open(&b, 3, ferry_noiserig_seal(&c, 3, 1, 10), 1, 10), -ENOENT);
		ferry_noiserig_pair_down(&c, &d);
	}
	/* Nothing on the data path produced any handshake reply or state. */
	ck_assert_uint_eq(st->hs_cookie_sent, 0);
	ck_assert_uint_eq(st->data_ok, 1 + 1 + 3);
	peer = NULL;
	buf = ferry_pool_get(&pool);
	ck_assert_int_eq(ferry_noise_open(&b.local, 3, buf, &peer), -EPROTO);
	ck_assert_ptr_null(peer);
	ferry_pool_put(&pool, buf);
	ferry_noiserig_pair_down(&a, &b);
}
END_TEST

START_TEST(seal_needs_room_and_leaves_buf_alone)
{
	struct ferry_buf *buf;
	struct ferry_noiserig_node a = {0}, b = {0};

	ferry_noiserig_pair_up(&a, &b, &pool, NULL, NULL);
	buf = ferry_pool_get(&pool);
	ck_assert_int_eq(ferry_noise_seal(&a.peer, 0, buf), -ENOKEY);
	ferry_noiserig_handshake(&a, &b, 0, FERRY_NOISERIG_REALTIME0);
	ferry_buf_pull(buf, 0);
	ck_assert_ptr_nonnull(ferry_buf_put(buf, ferry_buf_tailroom(buf) - 8));
	ck_assert_int_eq(ferry_noise_seal(&a.peer, 0, buf), -ENOSPC);
	ck_assert_uint_eq(buf->len, 2048 - 8);
	ferry_pool_put(&pool, buf);
	ferry_noiserig_pair_down(&a, &b);
}
END_TEST

START_TEST(rekey_mid_transfer_loses_nothing)
{
	uint8_t init[FERRY_MSG_INITIATION_LEN], resp[FERRY_NOISE_MAX_REPLY_LEN];
	struct ferry_buf *old_ab[4], *old_ba[4];
	uint32_t old_index_b;
	size_t resp_len, none;
	struct ferry_noiserig_node a = {0}, b = {0};
	uint64_t now = 0, delivered = 0;
	int i;

	ferry_noiserig_pair_up(&a, &b, &pool, NULL, NULL);
	ferry_noiserig_handshake(&a, &b, now, FERRY_NOISERIG_REALTIME0);
	for (i = 0; i < 50; i++, delivered++)
		ck_assert_int_eq(
		    ferry_noiserig_open(&b, now, ferry_noiserig_seal(&a, now, 1, 500), 1, 500), 0);

	now = FERRY_NOISE_REKEY_AFTER_TIME_MS;
	ck_assert(ferry_noise_session_should_rekey(a.peer.current, now));
	ck_assert(!ferry_noise_session_should_rekey(b.peer.current, now));
	ck_assert(ferry_noise_peer_wants_handshake(&a.peer, now, 5 * FERRY_NOISERIG_SEC));
	old_index_b = b.peer.current->local_index;

	/* Datagrams sealed under the old session, still in flight in both directions. */
	for (i = 0; i < 4; i++) {
		old_ab[i] = ferry_noiserig_seal(&a, now, 2, 100);
		old_ba[i] = ferry_noiserig_seal(&b, now, 3, 100);
	}
	ck_assert_int_eq(ferry_noise_create_initiation(
			     &a.peer, now, FERRY_NOISERIG_REALTIME0 + now * 1000000, init),
			 0);
	ck_assert(!ferry_noise_peer_wants_handshake(&a.peer, now + 1, 5 * FERRY_NOISERIG_SEC));
	ck_assert_int_eq(ferry_noiserig_deliver(&b, now, init, sizeof(init), resp, &resp_len), 0);
	/* B still sends on the old session until A confirms. */
	ck_assert_uint_eq(b.peer.current->local_index, old_index_b);
	ck_assert_int_eq(ferry_noiserig_open(&a, now, ferry_noiserig_seal(&b, now, 4, 10), 4, 10),
			 0);
	ck_assert_int_eq(ferry_noiserig_deliver(&a, now, resp, resp_len, NULL, &none), 0);
	ck_assert_ptr_nonnull(a.peer.previous);

	/* New-session data first, then the late old-session datagrams. */
	ck_assert_int_eq(
	    ferry_noiserig_open(&b, now + 1, ferry_noiserig_seal(&a, now + 1, 5, 100), 5, 100), 0);
	ck_assert_uint_ne(b.peer.current->local_index, old_index_b);
	ck_assert_uint_eq(b.peer.previous->local_index, old_index_b);
	for (i = 0; i < 4; i++) {
		ck_assert_int_eq(ferry_noiserig_open(&b, now + 2, old_ab[i], 2, 100), 0);
		ck_assert_int_eq(ferry_noiserig_open(&a, now + 2, old_ba[i], 3, 100), 0);
	}
	ferry_noiserig_traffic(&a, &b, now + 3);
	ck_assert_uint_eq(a.local.stats.data_auth_failed + a.local.stats.data_unknown_index +
			      b.local.stats.data_auth_failed + b.local.stats.data_unknown_index,
			  0);

	/* The previous session goes when it expires; the current keeps working. */
	now = FERRY_NOISE_REJECT_AFTER_TIME_MS;
	ferry_noise_peer_expire(&a.peer, now);
	ferry_noise_peer_expire(&b.peer, now);
	ck_assert_ptr_null(a.peer.previous);
	ck_assert_ptr_null(b.peer.previous);
	ferry_noiserig_traffic(&a, &b, now);
	ferry_noiserig_pair_down(&a, &b);
}
END_TEST

START_TEST(rekey_and_expiry_policy)
{
	struct ferry_buf *buf;
	struct ferry_noiserig_node a = {0}, b = {0};
	int i;

	ck_assert_int_eq(ferry_noise_keygen(a.priv, a.pub), 0);
	ck_assert_int_eq(ferry_noise_keygen(b.priv, b.pub), 0);
	ferry_noiserig_node_start(&a, &pool, 0, 10); /* rekey after 10 messages */
	ferry_noiserig_node_start(&b, &pool, 0, 0);
	ck_assert_int_eq(ferry_noise_peer_init(&a.local, &a.peer, b.pub, NULL), 0);
	ck_assert_int_eq(ferry_noise_peer_init(&b.local, &b.peer, a.pub, NULL), 0);
	ck_assert(ferry_noise_peer_wants_handshake(&a.peer, 0, 5 * FERRY_NOISERIG_SEC));
	ferry_noiserig_handshake(&a, &b, 0, FERRY_NOISERIG_REALTIME0); /* one keepalive sent */
	for (i = 0; i < 8; i++)
		ck_assert_int_eq(ferry_noiserig_open(&b, 0, ferry_noiserig_seal(&a, 0, 0, 1), 0, 1),
				 0);
	ck_assert(!ferry_noise_session_should_rekey(a.peer.current, 0));
	ck_assert_int_eq(ferry_noiserig_open(&b, 0, ferry_noiserig_seal(&a, 0, 0, 1), 0, 1), 0);
	ck_assert(ferry_noise_session_should_rekey(a.peer.current, 0));

	/* Time: the responder waits longer than the initiator. */
	ck_assert(!ferry_noise_session_should_rekey(b.peer.current, 120 * FERRY_NOISERIG_SEC));
	ck_assert(ferry_noise_session_should_rekey(b.peer.current, 150 * FERRY_NOISERIG_SEC));
	ck_assert(!ferry_noise_session_expired(b.peer.current, 180 * FERRY_NOISERIG_SEC - 1));
	ck_assert(ferry_noise_session_expired(b.peer.current, 180 * FERRY_NOISERIG_SEC));

	/* Expired sessions neither send nor receive. */
	buf = ferry_noiserig_seal(&a, 180 * FERRY_NOISERIG_SEC - 1, 0, 1);
	ck_assert_int_eq(ferry_noiserig_open(&b, 180 * FERRY_NOISERIG_SEC, buf, 0, 1),
			 -EKEYEXPIRED);
	ck_assert_uint_eq(b.local.stats.data_expired, 1);
	buf = ferry_pool_get(&pool);
	ck_assert_int_eq(ferry_noise_seal(&a.peer, 180 * FERRY_NOISERIG_SEC, buf), -EKEYEXPIRED);
	ferry_pool_put(&pool, buf);
	ck_assert(ferry_noise_peer_wants_handshake(&a.peer, 180 * FERRY_NOISERIG_SEC,
						   5 * FERRY_NOISERIG_SEC));

	/* A response arriving after the handshake's maximum age is refused. */
	{
		uint8_t init[FERRY_MSG_INITIATION_LEN], resp[FERRY_NOISE_MAX_REPLY_LEN];
		size_t resp_len, none;
		uint64_t t = 200 * FERRY_NOISERIG_SEC;

		ck_assert_int_eq(
		    ferry_noise_create_initiation(
			&a.peer, t, FERRY_NOISERIG_REALTIME0 + FERRY_TIMESTAMP_GRAIN_NS, init),
		    0);
		ck_assert_int_eq(ferry_noiserig_deliver(&b, t, init, sizeof(init), resp, &resp_len),
				 0);
		ck_assert_int_eq(ferry_noiserig_deliver(&a, t + FERRY_NOISE_HANDSHAKE_MAX_AGE_MS,
							resp, resp_len, NULL, &none),
				 -ENOENT);
		ferry_noise_peer_expire(&a.peer, t + FERRY_NOISE_HANDSHAKE_MAX_AGE_MS);
		ck_assert(!a.peer.hs.pending);
	}
	ferry_noiserig_pair_down(&a, &b);
}
END_TEST

START_TEST(counter_limit_rejects_send)
{
	struct ferry_noise_config cfg = {.reject_after_messages = 3};
	struct ferry_buf *buf;
	/* A is started by hand (a message limit), its datagrams on the suite's pool. */
	struct ferry_noiserig_node a = {.pool = &pool}, b = {0};

	ck_assert_int_eq(ferry_noise_keygen(a.priv, a.pub), 0);
	ck_assert_int_eq(ferry_noise_keygen(b.priv, b.pub), 0);
	memcpy(cfg.static_private, a.priv, 32);
	ck_assert_int_eq(ferry_noise_local_init(&a.local, &cfg), 0);
	ferry_noiserig_node_start(&b, &pool, 0, 0);
	ck_assert_int_eq(ferry_noise_peer_init(&a.local, &a.peer, b.pub, NULL), 0);
	ck_assert_int_eq(ferry_noise_peer_init(&b.local, &b.peer, a.pub, NULL), 0);
	ferry_noiserig_handshake(&a, &b, 0, FERRY_NOISERIG_REALTIME0); /* counter 0 */
	ck_assert_int_eq(ferry_noiserig_open(&b, 0, ferry_noiserig_seal(&a, 0, 0, 1), 0, 1), 0);
	ck_assert_int_eq(ferry_noiserig_open(&b, 0, ferry_noiserig_seal(&a, 0, 0, 1), 0, 1), 0);
	buf = ferry_pool_get(&pool);
	ck_assert_int_eq(ferry_noise_seal(&a.peer, 0, buf), -EKEYEXPIRED);
	ferry_pool_put(&pool, buf);
	ferry_noiserig_pair_down(&a, &b);
}
END_TEST

START_TEST(peer_restart_rehandshakes)
{
	struct ferry_noiserig_node a = {0}, b = {0};
	uint64_t now = 10 * FERRY_NOISERIG_SEC;

	ferry_noiserig_pair_up(&a, &b, &pool, NULL, NULL);
	ferry_noiserig_handshake(&a, &b, 0, FERRY_NOISERIG_REALTIME0);
	ferry_noiserig_traffic(&a, &b, 1);

	/* B restarts: same keys, all state gone. A's datagrams are silently dropped. */
	ferry_noise_local_destroy(&b.local);
	ferry_noiserig_node_start(&b, &pool, 0, 0);
	ck_assert_int_eq(ferry_noise_peer_init(&b.local, &b.peer, a.pub, NULL), 0);
	ck_assert_int_eq(ferry_noiserig_open(&b, now, ferry_noiserig_seal(&a, now, 1, 10), 1, 10),
			 -ENOENT);
	ck_assert_uint_eq(b.local.stats.data_unknown_index, 1);

	/* B initiates (its wall clock moved on); A accepts though it has a session. */
	ferry_noiserig_handshake(&b, &a, now, FERRY_NOISERIG_REALTIME0 + now * 1000000);
	ferry_noiserig_traffic(&a, &b, now + 1);
	ferry_noiserig_traffic(&b, &a, now + 2);
	ferry_noiserig_pair_down(&a, &b);
}
END_TEST

static bool all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;
	size_t i;

	for (i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

START_TEST(keys_are_wiped)
{
	struct ferry_noiserig_node *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	struct ferry_noise_session *old;
	struct ferry_aead_key first_send;
	int i;
	uint8_t init[FERRY_MSG_INITIATION_LEN], resp[FERRY_NOISE_MAX_REPLY_LEN];
	size_t resp_len, none;

	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ferry_noiserig_pair_up(a, b, &pool, NULL, NULL);
	ferry_noiserig_handshake(a, b, 0, FERRY_NOISERIG_REALTIME0);
	old = a->peer.current;
	ck_assert(!all_zero(&old->send, sizeof(old->send)));
	memcpy(&first_send, &old->send, sizeof(first_send));

	/* Two rotations: the first session is dropped and its slot wiped. */
	ck_assert_int_eq(ferry_noise_create_initiation(
			     &a->peer, 1 * FERRY_NOISERIG_SEC,
			     FERRY_NOISERIG_REALTIME0 + FERRY_TIMESTAMP_GRAIN_NS, init),
			 0);
	ck_assert_int_eq(
	    ferry_noiserig_deliver(b, 1 * FERRY_NOISERIG_SEC, init, sizeof(init), resp, &resp_len),
	    0);
	ck_assert_int_eq(
	    ferry_noiserig_deliver(a, 1 * FERRY_NOISERIG_SEC, resp, resp_len, NULL, &none), 0);
	ck_assert_ptr_eq(a->peer.previous, old);
	ck_assert_int_eq(ferry_noise_create_initiation(
			     &a->peer, 2 * FERRY_NOISERIG_SEC,
			     FERRY_NOISERIG_REALTIME0 + 2ULL * FERRY_TIMESTAMP_GRAIN_NS, init),
			 0);
	ck_assert_int_eq(
	    ferry_noiserig_deliver(b, 2 * FERRY_NOISERIG_SEC, init, sizeof(init), resp, &resp_len),
	    0);
	ck_assert_int_eq(
	    ferry_noiserig_deliver(a, 2 * FERRY_NOISERIG_SEC, resp, resp_len, NULL, &none), 0);
	/* The first session's keys are gone from every slot; the unused slot is zero. */
	for (i = 0; i < 3; i++) {
		struct ferry_noise_session *slot = &a->peer.slots[i];

		ck_assert_mem_ne(&slot->send, &first_send, sizeof(first_send));
		if (slot != a->peer.current && slot != a->peer.previous)
			ck_assert(all_zero(slot, sizeof(*slot)));
	}
	ck_assert(all_zero(&a->peer.hs, sizeof(a->peer.hs)));

	ferry_noiserig_pair_down(a, b);
	ck_assert(all_zero(&a->peer, sizeof(a->peer)));
	ck_assert(all_zero(&a->local, sizeof(a->local)));
	ck_assert(all_zero(&b->peer, sizeof(b->peer)));
	free(a);
	free(b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("noise_session");
	TCase *data = ferry_tcase("sessions", 20);

	tcase_add_checked_fixture(data, pool_setup, pool_teardown);
	tcase_add_test(data, data_drops_are_silent_and_counted);
	tcase_add_test(data, seal_needs_room_and_leaves_buf_alone);
	tcase_add_test(data, rekey_mid_transfer_loses_nothing);
	tcase_add_test(data, rekey_and_expiry_policy);
	tcase_add_test(data, counter_limit_rejects_send);
	tcase_add_test(data, peer_restart_rehandshakes);
	tcase_add_test(data, keys_are_wiped);
	suite_add_tcase(s, data);
	return ferry_run_suite(s);
}
