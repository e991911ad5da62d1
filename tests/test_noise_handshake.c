// SPDX-License-Identifier: MIT
/*
 * The Noise IKpsk2 handshake between two in-memory peers: a known-answer initiation from
 * an independent implementation, matching session keys both ways, AEAD negotiation,
 * configurations and peer keys refused, unknown keys on either side, PSK mismatch, every
 * tampered byte of an initiation and a response, truncated, extended and unknown
 * messages, replayed and too frequent initiations, cookie replies under load (responder
 * and initiator), and simultaneous initiations.
 *
 * The harness is tests/support/noiserig.h: nodes A and B, each message handed over by
 * the test, virtual time passed in. Data sessions, rekeying, expiry, restarts and key
 * wiping are in test_noise_session.c.
 */
#include <errno.h>
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

/*
 * Known answer: an initiation built by an independent implementation of
 * Noise_IKpsk2_25519_ChaChaPoly_BLAKE2b (Python: hmac + hashlib.blake2b for HMAC/HKDF, the
 * "cryptography" package for X25519 and ChaCha20-Poly1305) from fixed keys: initiator
 * static private key 1..32, responder static private key 101..132, ephemeral private key
 * 201..232, sender index 0x11223344, timestamp 1790000000.123456789 s, AEAD mask 3. It pins
 * the protocol name, prologue, KDF, token order, payload layout and mac1 key.
 */
static const uint8_t kat_initiation[FERRY_MSG_INITIATION_LEN] = {
    0x01, 0x00, 0x00, 0x00, 0x44, 0x33, 0x22, 0x11, 0x4c, 0x29, 0xf4, 0x99, 0x69, 0x85, 0xe8, 0x0d,
    0x24, 0x7e, 0x80, 0xb7, 0x03, 0x03, 0x82, 0x45, 0x92, 0xff, 0x9f, 0xba, 0xd7, 0x49, 0x04, 0xea,
    0x7c, 0x3d, 0x2b, 0xda, 0x24, 0xe5, 0x1c, 0x12, 0x02, 0xc8, 0x09, 0x6f, 0x67, 0x87, 0xf5, 0x38,
    0x2f, 0xeb, 0xc0, 0xee, 0xd3, 0x20, 0x14, 0xa3, 0x62, 0xfe, 0xed, 0x31, 0x8a, 0xff, 0x19, 0x57,
    0x01, 0xbc, 0xee, 0x27, 0xf4, 0xf2, 0x01, 0x94, 0xc4, 0xd1, 0x40, 0x68, 0xd8, 0x52, 0xb8, 0x93,
    0x69, 0xaa, 0xbe, 0x32, 0x21, 0x0f, 0xbd, 0x6c, 0x3b, 0x24, 0x95, 0x4f, 0x3d, 0xba, 0xcf, 0xfd,
    0x01, 0x7a, 0xab, 0x32, 0x9b, 0xaf, 0x06, 0xe3, 0x40, 0x44, 0x49, 0xe5, 0x8c, 0x42, 0x18, 0x49,
    0x66, 0xd6, 0x45, 0x7d, 0x85, 0xa8, 0xa8, 0xd4, 0x71, 0x3c, 0x72, 0x32, 0x23, 0xa1, 0x69, 0xd3,
    0x64, 0x0f, 0x86, 0x07, 0x51, 0x39, 0x19, 0x69, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};

START_TEST(known_answer_initiation_from_independent_implementation)
{
	struct ferry_noise_config cfg = {0};
	uint8_t init_priv[32], init_pub[32], resp[FERRY_NOISE_MAX_REPLY_LEN];
	const uint8_t tai64n[FERRY_TIMESTAMP_LEN] = {0x40, 0,	 0,    0,    0x6a, 0xb1,
						     0x3b, 0x8a, 0x07, 0x5b, 0xcd, 0x15};
	struct ferry_noise_peer *peer = NULL;
	struct ferry_noiserig_node b = {0};
	size_t resp_len;
	int i;

	for (i = 0; i < 32; i++) {
		init_priv[i] = (uint8_t)(1 + i);
		cfg.static_private[i] = (uint8_t)(101 + i);
	}
	ck_assert_int_eq(ferry_noise_public_key(init_priv, init_pub), 0);
	ck_assert_int_eq(ferry_noise_local_init(&b.local, &cfg), 0);
	ck_assert_int_eq(ferry_noise_peer_init(&b.local, &b.peer, init_pub, NULL), 0);
	ck_assert_int_eq(ferry_noise_handle_handshake(
			     &b.local, 0, ferry_noiserig_src, sizeof(ferry_noiserig_src),
			     kat_initiation, sizeof(kat_initiation), resp, &resp_len, &peer),
			 0);
	ck_assert_ptr_eq(peer, &b.peer);
	ck_assert_uint_eq(resp_len, FERRY_MSG_RESPONSE_LEN);
	ck_assert_mem_eq(b.peer.latest_timestamp, tai64n, sizeof(tai64n));
	ck_assert_uint_eq(b.peer.next->remote_index, 0x11223344);
	ck_assert_uint_eq(resp[8], 0x44); /* receiver index echoed, little-endian */
	ferry_noise_local_destroy(&b.local);
}
END_TEST

START_TEST(handshake_derives_matching_keys_both_ways)
{
	struct ferry_noiserig_node a = {0}, b = {0};
	uint8_t init[FERRY_MSG_INITIATION_LEN], resp[FERRY_NOISE_MAX_REPLY_LEN];
	struct ferry_buf *buf;
	size_t resp_len, none;

	ferry_noiserig_pair_up(&a, &b, &pool, NULL, NULL);
	ck_assert_int_eq(ferry_noise_create_initiation(&a.peer, 10, FERRY_NOISERIG_REALTIME0, init),
			 0);
	ck_assert_uint_eq(init[0], FERRY_MSG_INITIATION);
	ck_assert_int_eq(ferry_noiserig_deliver(&b, 10, init, sizeof(init), resp, &resp_len), 0);
	ck_assert_uint_eq(resp[0], FERRY_MSG_RESPONSE);
	/* The responder holds an unconfirmed session and may not send yet. */
	ck_assert_ptr_nonnull(b.peer.next);
	ck_assert_ptr_null(b.peer.current);
	buf = ferry_pool_get(&pool);
	ck_assert_int_eq(ferry_noise_seal(&b.peer, 10, buf), -ENOKEY);
	ferry_pool_put(&pool, buf);

	ck_assert_int_eq(ferry_noiserig_deliver(&a, 11, resp, resp_len, NULL, &none), 0);
	ck_assert_ptr_nonnull(a.peer.current);
	ck_assert(!a.peer.hs.pending);
	ck_assert_uint_eq(a.peer.current->remote_index, b.peer.next->local_index);
	ck_assert_uint_eq(b.peer.next->remote_index, a.peer.current->local_index);
	ck_assert_mem_eq(&a.peer.current->send, &b.peer.next->recv, sizeof(struct ferry_aead_key));
	ck_assert_mem_eq(&a.peer.current->recv, &b.peer.next->send, sizeof(struct ferry_aead_key));
	ck_assert_mem_ne(&a.peer.current->send, &a.peer.current->recv,
			 sizeof(struct ferry_aead_key));

	/* First data confirms the responder's session. */
	ck_assert_int_eq(ferry_noiserig_open(&b, 12, ferry_noiserig_seal(&a, 12, 1, 100), 1, 100),
			 0);
	ck_assert_ptr_nonnull(b.peer.current);
	ck_assert_ptr_null(b.peer.next);
	ferry_noiserig_traffic(&a, &b, 13);
	ck_assert_uint_eq(b.local.stats.hs_initiations_ok, 1);
	ck_assert_uint_eq(a.local.stats.hs_responses_ok, 1);
	ck_assert_uint_eq(b.local.stats.data_ok, 2);
	ferry_noiserig_pair_down(&a, &b);
}
END_TEST

START_TEST(negotiation_picks_aes_only_when_both_have_it)
{
	const uint32_t chacha = FERRY_AEAD_MASK(FERRY_AEAD_CHACHA20POLY1305);
	const uint32_t all = ferry_aead_available();
	/* _i: 0 both all, 1 initiator chacha-only, 2 responder chacha-only */
	uint32_t mask_a = _i == 1 ? chacha : all, mask_b = _i == 2 ? chacha : all;
	enum ferry_aead_alg expect = (mask_a & mask_b & FERRY_AEAD_MASK(FERRY_AEAD_AES256GCM))
					 ? FERRY_AEAD_AES256GCM
					 : FERRY_AEAD_CHACHA20POLY1305;
	struct ferry_noiserig_node a = {0}, b = {0};

	if (_i == 0)
		ck_assert_int_eq(expect, (all & FERRY_AEAD_MASK(FERRY_AEAD_AES256GCM))
					     ? FERRY_AEAD_AES256GCM
					     : FERRY_AEAD_CHACHA20POLY1305);
	ck_assert_int_eq(ferry_noise_keygen(a.priv, a.pub), 0);
	ck_assert_int_eq(ferry_noise_keygen(b.priv, b.pub), 0);
	ferry_noiserig_node_start(&a, &pool, mask_a, 0);
	ferry_noiserig_node_start(&b, &pool, mask_b, 0);
	ck_assert_int_eq(ferry_noise_peer_init(&a.local, &a.peer, b.pub, NULL), 0);
	ck_assert_int_eq(ferry_noise_peer_init(&b.local, &b.peer, a.pub, NULL), 0);
	ferry_noiserig_handshake(&a, &b, 0, FERRY_NOISERIG_REALTIME0);
	ck_assert_int_eq(a.peer.current->send.alg, expect);
	ck_assert_int_eq(b.peer.current->recv.alg, expect);
	ferry_noiserig_traffic(&a, &b, 1);
	ferry_noiserig_pair_down(&a, &b);
}
END_TEST

START_TEST(local_init_rejects_bad_config)
{
	struct ferry_noise_config cfg = {0};
	struct ferry_noise_local local;

	randombytes_buf(cfg.static_private, 32);
	cfg.aead_mask = 0x80;
	ck_assert_int_eq(ferry_noise_local_init(&local, &cfg), -EINVAL);
	if (!(ferry_aead_available() & FERRY_AEAD_MASK(FERRY_AEAD_AES256GCM))) {
		cfg.aead_mask = FERRY_AEAD_MASK(FERRY_AEAD_AES256GCM);
		ck_assert_int_eq(ferry_noise_local_init(&local, &cfg), -ENOTSUP);
	}
	cfg.aead_mask = 0;
	ck_assert_int_eq(ferry_noise_local_init(&local, &cfg), 0);
	ferry_noise_local_destroy(&local);
	/* A rekey limit above the reject limit would have sessions refused before they ask
	 * for a new one; a reject limit alone brings the default rekey limit down to it. */
	cfg.rekey_after_messages = 10;
	cfg.reject_after_messages = 5;
	ck_assert_int_eq(ferry_noise_local_init(&local, &cfg), -EINVAL);
	cfg.rekey_after_messages = 0;
	ck_assert_int_eq(ferry_noise_local_init(&local, &cfg), 0);
	ck_assert_uint_eq(local.rekey_after_messages, 5);
	ferry_noise_local_destroy(&local);
}
END_TEST

/* AES-256-GCM sessions take its own, lower message limits; ChaCha20-Poly1305 the
 * defaults. */
START_TEST(aes_gcm_sessions_have_lower_limits)
{
	struct ferry_noiserig_node a = {0}, b = {0};
	const uint32_t chacha = FERRY_AEAD_MASK(FERRY_AEAD_CHACHA20POLY1305);

	ck_assert_int_eq(ferry_noise_keygen(a.priv, a.pub), 0);
	ck_assert_int_eq(ferry_noise_keygen(b.priv, b.pub), 0);
	ferry_noiserig_node_start(&a, &pool, _i ? chacha : 0, 0);
	ferry_noiserig_node_start(&b, &pool, 0, 0);
	ck_assert_int_eq(ferry_noise_peer_init(&a.local, &a.peer, b.pub, NULL), 0);
	ck_assert_int_eq(ferry_noise_peer_init(&b.local, &b.peer, a.pub, NULL), 0);
	ferry_noiserig_handshake(&a, &b, 0, FERRY_NOISERIG_REALTIME0);
	if (a.peer.current->send.alg == FERRY_AEAD_AES256GCM) {
		ck_assert_uint_eq(a.peer.current->rekey_after_messages,
				  FERRY_NOISE_AESGCM_REKEY_AFTER_MESSAGES);
		ck_assert_uint_eq(b.peer.current->reject_after_messages,
				  FERRY_NOISE_AESGCM_REJECT_AFTER_MESSAGES);
	} else {
		ck_assert_uint_eq(a.peer.current->rekey_after_messages,
				  FERRY_NOISE_REKEY_AFTER_MESSAGES);
		ck_assert_uint_eq(b.peer.current->reject_after_messages,
				  FERRY_NOISE_REJECT_AFTER_MESSAGES);
	}
	ferry_noiserig_pair_down(&a, &b);
}
END_TEST

/* Reserved payload bytes must be zero, in an initiation and in a response; and a clock
 * finer than the timestamp's grain gives the same timestamp (a replay). */
START_TEST(reserved_bytes_and_timestamp_grain)
{
	struct ferry_noiserig_node a = {0}, b = {0};
	uint8_t init[FERRY_MSG_INITIATION_LEN], reply[FERRY_NOISE_MAX_REPLY_LEN];
	size_t reply_len, none;

	ferry_noiserig_pair_up(&a, &b, &pool, NULL, NULL);
	a.local.reserved_fill = 1;
	ck_assert_int_eq(ferry_noise_create_initiation(&a.peer, 0, FERRY_NOISERIG_REALTIME0, init),
			 0);
	ck_assert_int_eq(ferry_noiserig_deliver(&b, 0, init, sizeof(init), reply, &reply_len),
			 -EPROTO);
	ck_assert_uint_eq(b.local.stats.hs_malformed, 1);
	ck_assert_uint_eq(reply_len, 0);

	a.local.reserved_fill = 0;
	b.local.reserved_fill = 1;
	ck_assert_int_eq(
	    ferry_noise_create_initiation(
		&a.peer, 100, FERRY_NOISERIG_REALTIME0 + FERRY_TIMESTAMP_GRAIN_NS, init),
	    0);
	ck_assert_int_eq(ferry_noiserig_deliver(&b, 100, init, sizeof(init), reply, &reply_len), 0);
	ck_assert_int_eq(ferry_noiserig_deliver(&a, 100, reply, reply_len, NULL, &none), -EPROTO);
	ck_assert_uint_eq(a.local.stats.hs_malformed, 1);
	ck_assert_ptr_null(a.peer.current);

	/* 1 ms later on the wall clock, 200 ms later on the monotonic one: same grain. */
	b.local.reserved_fill = 0;
	ck_assert_int_eq(
	    ferry_noise_create_initiation(
		&a.peer, 300, FERRY_NOISERIG_REALTIME0 + FERRY_TIMESTAMP_GRAIN_NS + 1000000, init),
	    0);
	ck_assert_int_eq(ferry_noiserig_deliver(&b, 300, init, sizeof(init), reply, &reply_len),
			 -EALREADY);
	ferry_noiserig_pair_down(&a, &b);
}
END_TEST

START_TEST(peer_init_rejects_own_duplicate_and_low_order_keys)
{
	struct ferry_noiserig_node a = {0}, b = {0};
	struct ferry_noise_peer extra;
	uint8_t zero[32] = {0};

	ferry_noiserig_pair_up(&a, &b, &pool, NULL, NULL);
	ck_assert_int_eq(ferry_noise_peer_init(&a.local, &extra, b.pub, NULL), -EEXIST);
	ck_assert_int_eq(ferry_noise_peer_init(&a.local, &extra, a.pub, NULL), -EINVAL);
	ck_assert_int_eq(ferry_noise_peer_init(&a.local, &extra, zero, NULL), -EINVAL);
	ferry_noiserig_pair_down(&a, &b);
}
END_TEST

START_TEST(unknown_responder_key_fails_mac1_before_any_dh)
{
	struct ferry_noiserig_node a = {0}, b = {0}, c = {0};
	uint8_t init[FERRY_MSG_INITIATION_LEN], reply[FERRY_NOISE_MAX_REPLY_LEN];
	size_t reply_len;

	ferry_noiserig_pair_up(&a, &b, &pool, NULL, NULL);
	/* A believes B's key is C's: B's mac1 check refuses it. */
	ck_assert_int_eq(ferry_noise_keygen(c.priv, c.pub), 0);
	ferry_noise_peer_remove(&a.peer);
	ck_assert_int_eq(ferry_noise_peer_init(&a.local, &a.peer, c.pub, NULL), 0);
	ck_assert_int_eq(ferry_noise_create_initiation(&a.peer, 0, FERRY_NOISERIG_REALTIME0, init),
			 0);
	ck_assert_int_eq(ferry_noiserig_deliver(&b, 0, init, sizeof(init), reply, &reply_len),
			 -EACCES);
	ck_assert_uint_eq(reply_len, 0);
	ck_assert_uint_eq(b.local.stats.hs_bad_mac1, 1);
	ck_assert_uint_eq(b.local.stats.hs_auth_failed, 0);
	ferry_noiserig_pair_down(&a, &b);
}
END_TEST

START_TEST(initiator_unknown_to_responder_fails)
{
	struct ferry_noiserig_node a = {0}, b = {0}, c = {0};
	uint8_t init[FERRY_MSG_INITIATION_LEN], reply[FERRY_NOISE_MAX_REPLY_LEN];
	size_t reply_len;

	ferry_noiserig_pair_up(&a, &b, &pool, NULL, NULL);
	/* B expects C, not A. */
	ck_assert_int_eq(ferry_noise_keygen(c.priv, c.pub), 0);
	ferry_noise_peer_remove(&b.peer);
	ck_assert_int_eq(ferry_noise_peer_init(&b.local, &b.peer, c.pub, NULL), 0);
	ck_assert_int_eq(ferry_noise_create_initiation(&a.peer, 0, FERRY_NOISERIG_REALTIME0, init),
			 0);
	ck_assert_int_eq(ferry_noiserig_deliver(&b, 0, init, sizeof(init), reply, &reply_len),
			 -ENOENT);
	ck_assert_uint_eq(reply_len, 0);
	ck_assert_uint_eq(b.local.stats.hs_unknown, 1);
	ck_assert_ptr_null(b.peer.next);
	ferry_noiserig_pair_down(&a, &b);
}
END_TEST

START_TEST(psk_mismatch_fails_and_match_works)
{
	uint8_t psk1[32], psk2[32];
	uint8_t init[FERRY_MSG_INITIATION_LEN], resp[FERRY_NOISE_MAX_REPLY_LEN];
	size_t resp_len, none;
	struct ferry_noiserig_node a = {0}, b = {0};

	randombytes_buf(psk1, 32);
	memcpy(psk2, psk1, 32);
	psk2[0] ^= 1;
	ferry_noiserig_pair_up(&a, &b, &pool, psk1, psk2);
	ck_assert_int_eq(ferry_noise_create_initiation(&a.peer, 0, FERRY_NOISERIG_REALTIME0, init),
			 0);
	ck_assert_int_eq(ferry_noiserig_deliver(&b, 0, init, sizeof(init), resp, &resp_len), 0);
	ck_assert_int_eq(ferry_noiserig_deliver(&a, 0, resp, resp_len, NULL, &none), -EBADMSG);
	ck_assert_ptr_null(a.peer.current);
	ck_assert(a.peer.hs.pending); /* a forged/mismatched response leaves it pending */
	ferry_noiserig_pair_down(&a, &b);

	ferry_noiserig_pair_up(&a, &b, &pool, psk1, psk1);
	ferry_noiserig_handshake(&a, &b, 0, FERRY_NOISERIG_REALTIME0);
	ferry_noiserig_traffic(&a, &b, 0);
	ferry_noiserig_pair_down(&a, &b);

	/* PSK on one side only is a mismatch too. */
	ferry_noiserig_pair_up(&a, &b, &pool, psk1, NULL);
	ck_assert_int_eq(ferry_noise_create_initiation(&a.peer, 0, FERRY_NOISERIG_REALTIME0, init),
			 0);
	ck_assert_int_eq(ferry_noiserig_deliver(&b, 0, init, sizeof(init), resp, &resp_len), 0);
	ck_assert_int_eq(ferry_noiserig_deliver(&a, 0, resp, resp_len, NULL, &none), -EBADMSG);
	ferry_noiserig_pair_down(&a, &b);
}
END_TEST

START_TEST(every_tampered_initiation_byte_is_rejected)
{
	struct ferry_cookie_maker attacker;
	uint8_t init[FERRY_MSG_INITIATION_LEN], msg[FERRY_MSG_INITIATION_LEN];
	uint8_t reply[FERRY_NOISE_MAX_REPLY_LEN];
	size_t reply_len, i;
	struct ferry_noiserig_node a = {0}, b = {0};

	ferry_noiserig_pair_up(&a, &b, &pool, NULL, NULL);
	ferry_cookie_maker_init(&attacker, b.pub); /* knows B's public key */
	ck_assert_int_eq(ferry_noise_create_initiation(&a.peer, 0, FERRY_NOISERIG_REALTIME0, init),
			 0);
	for (i = 0; i < sizeof(init) - FERRY_MAC_LEN; i++) {
		memcpy(msg, init, sizeof(msg));
		msg[i] ^= 0x01;
		ck_assert_int_lt(ferry_noiserig_deliver(&b, 0, msg, sizeof(msg), reply, &reply_len),
				 0);
		ck_assert_uint_eq(reply_len, 0);
		/* Again with mac1 recomputed, so the change reaches the Noise layer. The
		 * sender index is outside the Noise transcript (see docs/crypto.md). */
		if (i >= 4 && i < 8)
			continue;
		if (i >= sizeof(init) - FERRY_MACS_LEN)
			continue;
		ferry_cookie_add_macs(&attacker, 0, msg, sizeof(msg));
		ck_assert_int_lt(ferry_noiserig_deliver(&b, 0, msg, sizeof(msg), reply, &reply_len),
				 0);
		ck_assert_uint_eq(reply_len, 0);
	}
	ck_assert_uint_eq(b.local.stats.hs_initiations_ok, 0);
	ck_assert_uint_gt(b.local.stats.hs_auth_failed, 100);
	ck_assert_uint_gt(b.local.stats.hs_bad_mac1, 100);
	ck_assert_ptr_null(b.peer.next);
	/* None of this disturbed B: the genuine message still works. */
	ck_assert_int_eq(ferry_noiserig_deliver(&b, 0, init, sizeof(init), reply, &reply_len), 0);
	ferry_noiserig_pair_down(&a, &b);
}
END_TEST

START_TEST(every_tampered_response_byte_is_rejected)
{
	struct ferry_cookie_maker attacker;
	uint8_t init[FERRY_MSG_INITIATION_LEN], resp[FERRY_NOISE_MAX_REPLY_LEN];
	uint8_t msg[FERRY_MSG_RESPONSE_LEN];
	size_t resp_len, none, i;
	struct ferry_noiserig_node a = {0}, b = {0};

	ferry_noiserig_pair_up(&a, &b, &pool, NULL, NULL);
	ferry_cookie_maker_init(&attacker, a.pub);
	ck_assert_int_eq(ferry_noise_create_initiation(&a.peer, 0, FERRY_NOISERIG_REALTIME0, init),
			 0);
	ck_assert_int_eq(ferry_noiserig_deliver(&b, 0, init, sizeof(init), resp, &resp_len), 0);
	for (i = 0; i < FERRY_MSG_RESPONSE_LEN - FERRY_MAC_LEN; i++) {
		memcpy(msg, resp, sizeof(msg));
		msg[i] ^= 0x80;
		ck_assert_int_lt(ferry_noiserig_deliver(&a, 0, msg, sizeof(msg), NULL, &none), 0);
		if ((i >= 4 && i < 8) || i >= FERRY_MSG_RESPONSE_LEN - FERRY_MACS_LEN)
			continue;
		ferry_cookie_add_macs(&attacker, 0, msg, sizeof(msg));
		ck_assert_int_lt(ferry_noiserig_deliver(&a, 0, msg, sizeof(msg), NULL, &none), 0);
	}
	ck_assert_ptr_null(a.peer.current);
	ck_assert_uint_eq(a.local.stats.hs_responses_ok, 0);
	ck_assert_int_eq(ferry_noiserig_deliver(&a, 0, resp, resp_len, NULL, &none), 0);
	/* The same response twice: the handshake is no longer pending. */
	ck_assert_int_eq(ferry_noiserig_deliver(&a, 0, resp, resp_len, NULL, &none), -ENOENT);
	ferry_noiserig_traffic(&a, &b, 0);
	ferry_noiserig_pair_down(&a, &b);
}
END_TEST

START_TEST(truncated_extended_and_unknown_messages_are_malformed)
{
	uint8_t init[FERRY_MSG_INITIATION_LEN + 1], resp[FERRY_NOISE_MAX_REPLY_LEN + 1];
	uint8_t reply[FERRY_NOISE_MAX_REPLY_LEN], cookie[FERRY_MSG_COOKIE_REPLY_LEN + 1];
	size_t resp_len, none;
	struct ferry_noiserig_node a = {0}, b = {0};
	uint64_t before;

	ferry_noiserig_pair_up(&a, &b, &pool, NULL, NULL);
	ck_assert_int_eq(ferry_noise_create_initiation(&a.peer, 0, FERRY_NOISERIG_REALTIME0, init),
			 0);
	init[FERRY_MSG_INITIATION_LEN] = 0;
	ck_assert_int_eq(
	    ferry_noiserig_deliver(&b, 0, init, FERRY_MSG_INITIATION_LEN - 1, reply, &resp_len),
	    -EPROTO);
	ck_assert_int_eq(
	    ferry_noiserig_deliver(&b, 0, init, FERRY_MSG_INITIATION_LEN + 1, reply, &resp_len),
	    -EPROTO);
	ck_assert_int_eq(ferry_noiserig_deliver(&b, 0, init, 0, reply, &resp_len), -EPROTO);
	ck_assert_int_eq(ferry_noiserig_deliver(&b, 0, init, 3, reply, &resp_len), -EPROTO);
	ck_assert_uint_eq(b.local.stats.hs_malformed, 4);
	ck_assert_int_eq(
	    ferry_noiserig_deliver(&b, 0, init, FERRY_MSG_INITIATION_LEN, resp, &resp_len), 0);

	before = a.local.stats.hs_malformed;
	resp[FERRY_MSG_RESPONSE_LEN] = 0;
	ck_assert_int_eq(
	    ferry_noiserig_deliver(&a, 0, resp, FERRY_MSG_RESPONSE_LEN - 1, NULL, &none), -EPROTO);
	ck_assert_int_eq(
	    ferry_noiserig_deliver(&a, 0, resp, FERRY_MSG_RESPONSE_LEN + 1, NULL, &none), -EPROTO);
	memset(cookie, 0, sizeof(cookie));
	cookie[0] = FERRY_MSG_COOKIE_REPLY;
	ck_assert_int_eq(ferry_noiserig_deliver(&a, 0, cookie, sizeof(cookie), NULL, &none),
			 -EPROTO);
	ck_assert_int_eq(ferry_noiserig_deliver(&a, 0, cookie, sizeof(cookie) - 2, NULL, &none),
			 -EPROTO);
	cookie[0] = FERRY_MSG_DATA; /* data is not a handshake message */
	ck_assert_int_eq(ferry_noiserig_deliver(&a, 0, cookie, sizeof(cookie), NULL, &none),
			 -EPROTO);
	cookie[0] = 0;
	ck_assert_int_eq(ferry_noiserig_deliver(&a, 0, cookie, sizeof(cookie), NULL, &none),
			 -EPROTO);
	ck_assert_uint_eq(a.local.stats.hs_malformed, before + 6);
	ck_assert_int_eq(ferry_noiserig_deliver(&a, 0, resp, FERRY_MSG_RESPONSE_LEN, NULL, &none),
			 0);
	ferry_noiserig_pair_down(&a, &b);
}
END_TEST

START_TEST(replayed_or_older_initiation_is_rejected)
{
	uint8_t init1[FERRY_MSG_INITIATION_LEN], init2[FERRY_MSG_INITIATION_LEN];
	uint8_t init3[FERRY_MSG_INITIATION_LEN], reply[FERRY_NOISE_MAX_REPLY_LEN];
	size_t reply_len;
	struct ferry_noiserig_node a = {0}, b = {0};

	ferry_noiserig_pair_up(&a, &b, &pool, NULL, NULL);
	ck_assert_int_eq(
	    ferry_noise_create_initiation(&a.peer, 0, FERRY_NOISERIG_REALTIME0 - 5, init1), 0);
	ck_assert_int_eq(ferry_noise_create_initiation(&a.peer, 0, FERRY_NOISERIG_REALTIME0, init2),
			 0);
	ck_assert_int_eq(ferry_noiserig_deliver(&b, 1000, init2, sizeof(init2), reply, &reply_len),
			 0);
	/* Exactly the same initiation again, much later. */
	ck_assert_int_eq(ferry_noiserig_deliver(&b, 9000, init2, sizeof(init2), reply, &reply_len),
			 -EALREADY);
	ck_assert_uint_eq(reply_len, 0);
	/* An older, never seen one. */
	ck_assert_int_eq(ferry_noiserig_deliver(&b, 9000, init1, sizeof(init1), reply, &reply_len),
			 -EALREADY);
	ck_assert_uint_eq(b.local.stats.hs_replayed, 2);
	/* A newer one, but too soon after the last accepted. */
	ck_assert_int_eq(
	    ferry_noise_create_initiation(
		&a.peer, 0, FERRY_NOISERIG_REALTIME0 + FERRY_TIMESTAMP_GRAIN_NS, init3),
	    0);
	ck_assert_int_eq(ferry_noiserig_deliver(&b, 1005, init3, sizeof(init3), reply, &reply_len),
			 -EAGAIN);
	ck_assert_uint_eq(b.local.stats.hs_rate_limited, 1);
	ck_assert_int_eq(ferry_noiserig_deliver(&b, 1000 + FERRY_NOISE_INITIATION_MIN_GAP_MS, init3,
						sizeof(init3), reply, &reply_len),
			 0);
	ferry_noiserig_pair_down(&a, &b);
}
END_TEST

START_TEST(under_load_cookie_then_accepted)
{
	uint8_t init[FERRY_MSG_INITIATION_LEN], reply[FERRY_NOISE_MAX_REPLY_LEN];
	size_t reply_len, none;
	struct ferry_noiserig_node a = {0}, b = {0};

	ferry_noiserig_pair_up(&a, &b, &pool, NULL, NULL);
	b.local.under_load = true;
	ck_assert_int_eq(
	    ferry_noise_create_initiation(&a.peer, 100, FERRY_NOISERIG_REALTIME0, init), 0);
	ck_assert_int_eq(ferry_noiserig_deliver(&b, 100, init, sizeof(init), reply, &reply_len),
			 -EBUSY);
	ck_assert_uint_eq(reply_len, FERRY_MSG_COOKIE_REPLY_LEN);
	ck_assert_uint_eq(reply[0], FERRY_MSG_COOKIE_REPLY);
	ck_assert_uint_eq(b.local.stats.hs_cookie_sent, 1);
	ck_assert_uint_eq(b.local.stats.hs_auth_failed + b.local.stats.hs_initiations_ok, 0);
	ck_assert_ptr_null(b.peer.next);

	/* A takes the cookie; a tampered cookie reply is counted and ignored. */
	reply[20] ^= 1;
	ck_assert_int_eq(ferry_noiserig_deliver(&a, 110, reply, reply_len, NULL, &none), -EBADMSG);
	reply[20] ^= 1;
	reply[4] ^= 1; /* unknown receiver index */
	ck_assert_int_eq(ferry_noiserig_deliver(&a, 110, reply, reply_len, NULL, &none), -ENOENT);
	reply[4] ^= 1;
	ck_assert_int_eq(ferry_noiserig_deliver(&a, 110, reply, reply_len, NULL, &none), 0);
	ck_assert_uint_eq(none, 0);
	ck_assert_uint_eq(a.local.stats.cookie_replies_ok, 1);
	ck_assert_uint_eq(a.local.stats.cookie_replies_bad, 2);

	/* The retry carries mac2 and goes through. */
	ck_assert_int_eq(
	    ferry_noise_create_initiation(
		&a.peer, 200, FERRY_NOISERIG_REALTIME0 + FERRY_TIMESTAMP_GRAIN_NS, init),
	    0);
	ck_assert_int_eq(ferry_noiserig_deliver(&b, 200, init, sizeof(init), reply, &reply_len), 0);
	ck_assert_uint_eq(reply_len, FERRY_MSG_RESPONSE_LEN);
	ck_assert_int_eq(ferry_noiserig_deliver(&a, 201, reply, reply_len, NULL, &none), 0);
	ck_assert_int_eq(ferry_noiserig_open(&b, 202, ferry_noiserig_seal(&a, 202, 3, 30), 3, 30),
			 0);

	/* Garbage of the right size under load: dropped on mac1, no cookie, no DH. */
	memset(init, 0, sizeof(init));
	init[0] = FERRY_MSG_INITIATION;
	ck_assert_int_eq(ferry_noiserig_deliver(&b, 300, init, sizeof(init), reply, &reply_len),
			 -EACCES);
	ck_assert_uint_eq(reply_len, 0);
	ck_assert_uint_eq(b.local.stats.hs_cookie_sent, 1);

	/* Two secret rotations later the cookie A still holds would be useless, and A has
	 * stopped using it anyway: B answers with a fresh cookie again. */
	ck_assert_int_eq(ferry_noise_create_initiation(
			     &a.peer, 200 + 240 * FERRY_NOISERIG_SEC,
			     FERRY_NOISERIG_REALTIME0 + 2ULL * FERRY_TIMESTAMP_GRAIN_NS, init),
			 0);
	ck_assert_int_eq(ferry_noiserig_deliver(&b, 200 + 240 * FERRY_NOISERIG_SEC, init,
						sizeof(init), reply, &reply_len),
			 -EBUSY);
	ck_assert_uint_eq(reply_len, FERRY_MSG_COOKIE_REPLY_LEN);
	ferry_noiserig_pair_down(&a, &b);
}
END_TEST

START_TEST(responder_under_load_cookie_for_response)
{
	uint8_t init[FERRY_MSG_INITIATION_LEN], resp[FERRY_NOISE_MAX_REPLY_LEN];
	uint8_t cookie[FERRY_NOISE_MAX_REPLY_LEN];
	size_t resp_len, cookie_len, none;
	struct ferry_noiserig_node a = {0}, b = {0};

	/* The initiator is the one under load: it asks the responder for a cookie. */
	ferry_noiserig_pair_up(&a, &b, &pool, NULL, NULL);
	a.local.under_load = true;
	ck_assert_int_eq(ferry_noise_create_initiation(&a.peer, 0, FERRY_NOISERIG_REALTIME0, init),
			 0);
	ck_assert_int_eq(ferry_noiserig_deliver(&b, 0, init, sizeof(init), resp, &resp_len), 0);
	ck_assert_int_eq(ferry_noiserig_deliver(&a, 0, resp, resp_len, cookie, &cookie_len),
			 -EBUSY);
	ck_assert_uint_eq(cookie_len, FERRY_MSG_COOKIE_REPLY_LEN);
	ck_assert_int_eq(ferry_noiserig_deliver(&b, 0, cookie, cookie_len, NULL, &none), 0);
	ck_assert(b.peer.cookie.have_cookie);
	ferry_noiserig_pair_down(&a, &b);
}
END_TEST

START_TEST(simultaneous_initiations_both_complete)
{
	uint8_t ia[FERRY_MSG_INITIATION_LEN], ib[FERRY_MSG_INITIATION_LEN];
	uint8_t ra[FERRY_NOISE_MAX_REPLY_LEN], rb[FERRY_NOISE_MAX_REPLY_LEN];
	size_t ra_len, rb_len, none;
	struct ferry_noiserig_node a = {0}, b = {0};

	ferry_noiserig_pair_up(&a, &b, &pool, NULL, NULL);
	ck_assert_int_eq(ferry_noise_create_initiation(&a.peer, 0, FERRY_NOISERIG_REALTIME0, ia),
			 0);
	ck_assert_int_eq(ferry_noise_create_initiation(&b.peer, 0, FERRY_NOISERIG_REALTIME0, ib),
			 0);
	ck_assert_int_eq(ferry_noiserig_deliver(&b, 1, ia, sizeof(ia), rb, &rb_len), 0);
	ck_assert_int_eq(ferry_noiserig_deliver(&a, 1, ib, sizeof(ib), ra, &ra_len), 0);
	ck_assert_int_eq(ferry_noiserig_deliver(&a, 2, rb, rb_len, NULL, &none), 0);
	ck_assert_int_eq(ferry_noiserig_deliver(&b, 2, ra, ra_len, NULL, &none), 0);
	ferry_noiserig_traffic(&a, &b, 3);
	ferry_noiserig_traffic(&b, &a, 4);
	ck_assert_uint_eq(a.local.stats.data_ok + b.local.stats.data_ok, 4);
	ferry_noiserig_pair_down(&a, &b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("noise_handshake");
	TCase *hs = ferry_tcase("handshake", 20);
	/* ferry_aead_available() runs sodium_init(): before it, libsodium reports no AES-NI. */
	int negotiations = (ferry_aead_available() & FERRY_AEAD_MASK(FERRY_AEAD_AES256GCM)) ? 3 : 1;

	tcase_add_checked_fixture(hs, pool_setup, pool_teardown);
	tcase_add_test(hs, known_answer_initiation_from_independent_implementation);
	tcase_add_test(hs, handshake_derives_matching_keys_both_ways);
	tcase_add_loop_test(hs, negotiation_picks_aes_only_when_both_have_it, 0, negotiations);
	tcase_add_test(hs, local_init_rejects_bad_config);
	tcase_add_loop_test(hs, aes_gcm_sessions_have_lower_limits, 0, 2);
	tcase_add_test(hs, reserved_bytes_and_timestamp_grain);
	tcase_add_test(hs, peer_init_rejects_own_duplicate_and_low_order_keys);
	tcase_add_test(hs, unknown_responder_key_fails_mac1_before_any_dh);
	tcase_add_test(hs, initiator_unknown_to_responder_fails);
	tcase_add_test(hs, psk_mismatch_fails_and_match_works);
	tcase_add_test(hs, every_tampered_initiation_byte_is_rejected);
	tcase_add_test(hs, every_tampered_response_byte_is_rejected);
	tcase_add_test(hs, truncated_extended_and_unknown_messages_are_malformed);
	tcase_add_test(hs, replayed_or_older_initiation_is_rejected);
	tcase_add_test(hs, under_load_cookie_then_accepted);
	tcase_add_test(hs, responder_under_load_cookie_for_response);
	tcase_add_test(hs, simultaneous_initiations_both_complete);
	suite_add_tcase(s, hs);
	return ferry_run_suite(s);
}
