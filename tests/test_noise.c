// SPDX-License-Identifier: MIT
/*
 * Handshake and sessions between two in-memory peers, A and B, with a virtual clock:
 * key agreement, negotiation, authentication failures, tampering, truncation, replays,
 * cookies under load, the data path's drop counters, rekeying without loss, restarts.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/fixture.h"
#include "transport/noise.h"

#define SEC 1000ULL

static const uint8_t src_a[6] = {127, 0, 0, 1, 0x30, 0x39};
static const uint64_t realtime0 = 1790000000ULL * 1000000000ULL;

struct node {
	uint8_t priv[32], pub[32];
	struct ferry_noise_local local;
	struct ferry_noise_peer peer; /* the other node */
};

static struct ferry_pool pool;

static void pool_setup(void)
{
	ck_assert_int_eq(ferry_pool_init(&pool, 32, 2048, 64), 0);
}

static void pool_teardown(void)
{
	ferry_ck_pool_idle(&pool);
	ferry_pool_destroy(&pool);
}

static void node_start(struct node *n, uint32_t mask, uint64_t rekey_msgs)
{
	struct ferry_noise_config cfg = {.aead_mask = mask, .rekey_after_messages = rekey_msgs};

	memcpy(cfg.static_private, n->priv, 32);
	ck_assert_int_eq(ferry_noise_local_init(&n->local, &cfg), 0);
}

/* Two nodes that know each other (psk may be NULL). */
static void pair_up(struct node *a, struct node *b, const uint8_t *psk_a, const uint8_t *psk_b)
{
	ck_assert_int_eq(ferry_noise_keygen(a->priv, a->pub), 0);
	ck_assert_int_eq(ferry_noise_keygen(b->priv, b->pub), 0);
	node_start(a, 0, 0);
	node_start(b, 0, 0);
	ck_assert_int_eq(ferry_noise_peer_init(&a->local, &a->peer, b->pub, psk_a), 0);
	ck_assert_int_eq(ferry_noise_peer_init(&b->local, &b->peer, a->pub, psk_b), 0);
}

static void pair_down(struct node *a, struct node *b)
{
	ferry_noise_local_destroy(&a->local);
	ferry_noise_local_destroy(&b->local);
}

/* Delivers msg to node n; returns its verdict; reply (NULL: discarded) and reply_len
 * receive its answer. */
static int deliver_hs(struct node *n, uint64_t now, const uint8_t *msg, size_t len, uint8_t *reply,
		      size_t *reply_len)
{
	uint8_t scratch[FERRY_NOISE_MAX_REPLY_LEN];
	struct ferry_noise_peer *peer = NULL;
	int err = ferry_noise_handle_handshake(&n->local, now, src_a, sizeof(src_a), msg, len,
					       reply ? reply : scratch, reply_len, &peer);

	if (!err)
		ck_assert_ptr_eq(peer, &n->peer);
	else
		ck_assert_ptr_null(peer);
	return err;
}

/* Seals len bytes of pattern `fill` from a to its peer; returns the datagram buffer. */
static struct ferry_buf *seal(struct node *a, uint64_t now, uint8_t fill, uint32_t len)
{
	struct ferry_buf *buf = ferry_pool_get(&pool);

	ck_assert_ptr_nonnull(buf);
	memset(ferry_buf_put(buf, len), fill, len);
	ck_assert_int_eq(ferry_noise_seal(&a->peer, now, buf), 0);
	ck_assert_uint_eq(buf->len, len + FERRY_DATA_OVERHEAD);
	return buf;
}

/* Opens buf at b, checks the payload when it opens, returns buf to the pool. */
static int open_at(struct node *b, uint64_t now, struct ferry_buf *buf, uint8_t fill, uint32_t len)
{
	struct ferry_noise_peer *peer = NULL;
	int err = ferry_noise_open(&b->local, now, buf, &peer);
	uint32_t i;

	if (!err) {
		ck_assert_ptr_eq(peer, &b->peer);
		ck_assert_uint_eq(buf->len, len);
		for (i = 0; i < len; i++)
			ck_assert_uint_eq(buf->data[i], fill);
	}
	ferry_pool_put(&pool, buf);
	return err;
}

/* A copy of a datagram, as an attacker or the network would duplicate it. */
static struct ferry_buf *dup_buf(const struct ferry_buf *buf)
{
	struct ferry_buf *copy = ferry_pool_get(&pool);

	ck_assert_ptr_nonnull(copy);
	memcpy(ferry_buf_put(copy, buf->len), buf->data, buf->len);
	return copy;
}

/* A full handshake, i initiating, plus the keepalive that confirms it at r. */
static void handshake(struct node *i, struct node *r, uint64_t now, uint64_t realtime)
{
	uint8_t init[FERRY_MSG_INITIATION_LEN], resp[FERRY_NOISE_MAX_REPLY_LEN];
	size_t resp_len, none;

	ck_assert_int_eq(ferry_noise_create_initiation(&i->peer, now, realtime, init), 0);
	ck_assert_int_eq(deliver_hs(r, now, init, sizeof(init), resp, &resp_len), 0);
	ck_assert_uint_eq(resp_len, FERRY_MSG_RESPONSE_LEN);
	ck_assert_int_eq(deliver_hs(i, now, resp, resp_len, NULL, &none), 0);
	ck_assert_uint_eq(none, 0);
	ck_assert_int_eq(open_at(r, now, seal(i, now, 0, 0), 0, 0), 0); /* keepalive */
}

static void check_traffic(struct node *a, struct node *b, uint64_t now)
{
	ck_assert_int_eq(open_at(b, now, seal(a, now, 0xa5, 1400), 0xa5, 1400), 0);
	ck_assert_int_eq(open_at(a, now, seal(b, now, 0x5a, 1), 0x5a, 1), 0);
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
	struct node b = {0};
	size_t resp_len;
	int i;

	for (i = 0; i < 32; i++) {
		init_priv[i] = (uint8_t)(1 + i);
		cfg.static_private[i] = (uint8_t)(101 + i);
	}
	ck_assert_int_eq(ferry_noise_public_key(init_priv, init_pub), 0);
	ck_assert_int_eq(ferry_noise_local_init(&b.local, &cfg), 0);
	ck_assert_int_eq(ferry_noise_peer_init(&b.local, &b.peer, init_pub, NULL), 0);
	ck_assert_int_eq(ferry_noise_handle_handshake(&b.local, 0, src_a, sizeof(src_a),
						      kat_initiation, sizeof(kat_initiation), resp,
						      &resp_len, &peer),
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
	struct node a = {0}, b = {0};
	uint8_t init[FERRY_MSG_INITIATION_LEN], resp[FERRY_NOISE_MAX_REPLY_LEN];
	struct ferry_buf *buf;
	size_t resp_len, none;

	pair_up(&a, &b, NULL, NULL);
	ck_assert_int_eq(ferry_noise_create_initiation(&a.peer, 10, realtime0, init), 0);
	ck_assert_uint_eq(init[0], FERRY_MSG_INITIATION);
	ck_assert_int_eq(deliver_hs(&b, 10, init, sizeof(init), resp, &resp_len), 0);
	ck_assert_uint_eq(resp[0], FERRY_MSG_RESPONSE);
	/* The responder holds an unconfirmed session and may not send yet. */
	ck_assert_ptr_nonnull(b.peer.next);
	ck_assert_ptr_null(b.peer.current);
	buf = ferry_pool_get(&pool);
	ck_assert_int_eq(ferry_noise_seal(&b.peer, 10, buf), -ENOKEY);
	ferry_pool_put(&pool, buf);

	ck_assert_int_eq(deliver_hs(&a, 11, resp, resp_len, NULL, &none), 0);
	ck_assert_ptr_nonnull(a.peer.current);
	ck_assert(!a.peer.hs.pending);
	ck_assert_uint_eq(a.peer.current->remote_index, b.peer.next->local_index);
	ck_assert_uint_eq(b.peer.next->remote_index, a.peer.current->local_index);
	ck_assert_mem_eq(&a.peer.current->send, &b.peer.next->recv, sizeof(struct ferry_aead_key));
	ck_assert_mem_eq(&a.peer.current->recv, &b.peer.next->send, sizeof(struct ferry_aead_key));
	ck_assert_mem_ne(&a.peer.current->send, &a.peer.current->recv,
			 sizeof(struct ferry_aead_key));

	/* First data confirms the responder's session. */
	ck_assert_int_eq(open_at(&b, 12, seal(&a, 12, 1, 100), 1, 100), 0);
	ck_assert_ptr_nonnull(b.peer.current);
	ck_assert_ptr_null(b.peer.next);
	check_traffic(&a, &b, 13);
	ck_assert_uint_eq(b.local.stats.hs_initiations_ok, 1);
	ck_assert_uint_eq(a.local.stats.hs_responses_ok, 1);
	ck_assert_uint_eq(b.local.stats.data_ok, 2);
	pair_down(&a, &b);
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
	struct node a = {0}, b = {0};

	if (_i == 0)
		ck_assert_int_eq(expect, (all & FERRY_AEAD_MASK(FERRY_AEAD_AES256GCM))
					     ? FERRY_AEAD_AES256GCM
					     : FERRY_AEAD_CHACHA20POLY1305);
	ck_assert_int_eq(ferry_noise_keygen(a.priv, a.pub), 0);
	ck_assert_int_eq(ferry_noise_keygen(b.priv, b.pub), 0);
	node_start(&a, mask_a, 0);
	node_start(&b, mask_b, 0);
	ck_assert_int_eq(ferry_noise_peer_init(&a.local, &a.peer, b.pub, NULL), 0);
	ck_assert_int_eq(ferry_noise_peer_init(&b.local, &b.peer, a.pub, NULL), 0);
	handshake(&a, &b, 0, realtime0);
	ck_assert_int_eq(a.peer.current->send.alg, expect);
	ck_assert_int_eq(b.peer.current->recv.alg, expect);
	check_traffic(&a, &b, 1);
	pair_down(&a, &b);
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
}
END_TEST

START_TEST(peer_init_rejects_own_duplicate_and_low_order_keys)
{
	struct node a = {0}, b = {0};
	struct ferry_noise_peer extra;
	uint8_t zero[32] = {0};

	pair_up(&a, &b, NULL, NULL);
	ck_assert_int_eq(ferry_noise_peer_init(&a.local, &extra, b.pub, NULL), -EEXIST);
	ck_assert_int_eq(ferry_noise_peer_init(&a.local, &extra, a.pub, NULL), -EINVAL);
	ck_assert_int_eq(ferry_noise_peer_init(&a.local, &extra, zero, NULL), -EINVAL);
	pair_down(&a, &b);
}
END_TEST

START_TEST(unknown_responder_key_fails_mac1_before_any_dh)
{
	struct node a = {0}, b = {0}, c = {0};
	uint8_t init[FERRY_MSG_INITIATION_LEN], reply[FERRY_NOISE_MAX_REPLY_LEN];
	size_t reply_len;

	pair_up(&a, &b, NULL, NULL);
	/* A believes B's key is C's: B's mac1 check refuses it. */
	ck_assert_int_eq(ferry_noise_keygen(c.priv, c.pub), 0);
	ferry_noise_peer_remove(&a.peer);
	ck_assert_int_eq(ferry_noise_peer_init(&a.local, &a.peer, c.pub, NULL), 0);
	ck_assert_int_eq(ferry_noise_create_initiation(&a.peer, 0, realtime0, init), 0);
	ck_assert_int_eq(deliver_hs(&b, 0, init, sizeof(init), reply, &reply_len), -EACCES);
	ck_assert_uint_eq(reply_len, 0);
	ck_assert_uint_eq(b.local.stats.hs_bad_mac1, 1);
	ck_assert_uint_eq(b.local.stats.hs_auth_failed, 0);
	pair_down(&a, &b);
}
END_TEST

START_TEST(initiator_unknown_to_responder_fails)
{
	struct node a = {0}, b = {0}, c = {0};
	uint8_t init[FERRY_MSG_INITIATION_LEN], reply[FERRY_NOISE_MAX_REPLY_LEN];
	size_t reply_len;

	pair_up(&a, &b, NULL, NULL);
	/* B expects C, not A. */
	ck_assert_int_eq(ferry_noise_keygen(c.priv, c.pub), 0);
	ferry_noise_peer_remove(&b.peer);
	ck_assert_int_eq(ferry_noise_peer_init(&b.local, &b.peer, c.pub, NULL), 0);
	ck_assert_int_eq(ferry_noise_create_initiation(&a.peer, 0, realtime0, init), 0);
	ck_assert_int_eq(deliver_hs(&b, 0, init, sizeof(init), reply, &reply_len), -ENOENT);
	ck_assert_uint_eq(reply_len, 0);
	ck_assert_uint_eq(b.local.stats.hs_unknown, 1);
	ck_assert_ptr_null(b.peer.next);
	pair_down(&a, &b);
}
END_TEST

START_TEST(psk_mismatch_fails_and_match_works)
{
	uint8_t psk1[32], psk2[32];
	uint8_t init[FERRY_MSG_INITIATION_LEN], resp[FERRY_NOISE_MAX_REPLY_LEN];
	size_t resp_len, none;
	struct node a = {0}, b = {0};

	randombytes_buf(psk1, 32);
	memcpy(psk2, psk1, 32);
	psk2[0] ^= 1;
	pair_up(&a, &b, psk1, psk2);
	ck_assert_int_eq(ferry_noise_create_initiation(&a.peer, 0, realtime0, init), 0);
	ck_assert_int_eq(deliver_hs(&b, 0, init, sizeof(init), resp, &resp_len), 0);
	ck_assert_int_eq(deliver_hs(&a, 0, resp, resp_len, NULL, &none), -EBADMSG);
	ck_assert_ptr_null(a.peer.current);
	ck_assert(a.peer.hs.pending); /* a forged/mismatched response leaves it pending */
	pair_down(&a, &b);

	pair_up(&a, &b, psk1, psk1);
	handshake(&a, &b, 0, realtime0);
	check_traffic(&a, &b, 0);
	pair_down(&a, &b);

	/* PSK on one side only is a mismatch too. */
	pair_up(&a, &b, psk1, NULL);
	ck_assert_int_eq(ferry_noise_create_initiation(&a.peer, 0, realtime0, init), 0);
	ck_assert_int_eq(deliver_hs(&b, 0, init, sizeof(init), resp, &resp_len), 0);
	ck_assert_int_eq(deliver_hs(&a, 0, resp, resp_len, NULL, &none), -EBADMSG);
	pair_down(&a, &b);
}
END_TEST

START_TEST(every_tampered_initiation_byte_is_rejected)
{
	struct ferry_cookie_maker attacker;
	uint8_t init[FERRY_MSG_INITIATION_LEN], msg[FERRY_MSG_INITIATION_LEN];
	uint8_t reply[FERRY_NOISE_MAX_REPLY_LEN];
	size_t reply_len, i;
	struct node a = {0}, b = {0};

	pair_up(&a, &b, NULL, NULL);
	ferry_cookie_maker_init(&attacker, b.pub); /* knows B's public key */
	ck_assert_int_eq(ferry_noise_create_initiation(&a.peer, 0, realtime0, init), 0);
	for (i = 0; i < sizeof(init) - FERRY_MAC_LEN; i++) {
		memcpy(msg, init, sizeof(msg));
		msg[i] ^= 0x01;
		ck_assert_int_lt(deliver_hs(&b, 0, msg, sizeof(msg), reply, &reply_len), 0);
		ck_assert_uint_eq(reply_len, 0);
		/* Again with mac1 recomputed, so the change reaches the Noise layer. The
		 * sender index is outside the Noise transcript (see docs/crypto.md). */
		if (i >= 4 && i < 8)
			continue;
		if (i >= sizeof(init) - FERRY_MACS_LEN)
			continue;
		ferry_cookie_add_macs(&attacker, 0, msg, sizeof(msg));
		ck_assert_int_lt(deliver_hs(&b, 0, msg, sizeof(msg), reply, &reply_len), 0);
		ck_assert_uint_eq(reply_len, 0);
	}
	ck_assert_uint_eq(b.local.stats.hs_initiations_ok, 0);
	ck_assert_uint_gt(b.local.stats.hs_auth_failed, 100);
	ck_assert_uint_gt(b.local.stats.hs_bad_mac1, 100);
	ck_assert_ptr_null(b.peer.next);
	/* None of this disturbed B: the genuine message still works. */
	ck_assert_int_eq(deliver_hs(&b, 0, init, sizeof(init), reply, &reply_len), 0);
	pair_down(&a, &b);
}
END_TEST

START_TEST(every_tampered_response_byte_is_rejected)
{
	struct ferry_cookie_maker attacker;
	uint8_t init[FERRY_MSG_INITIATION_LEN], resp[FERRY_NOISE_MAX_REPLY_LEN];
	uint8_t msg[FERRY_MSG_RESPONSE_LEN];
	size_t resp_len, none, i;
	struct node a = {0}, b = {0};

	pair_up(&a, &b, NULL, NULL);
	ferry_cookie_maker_init(&attacker, a.pub);
	ck_assert_int_eq(ferry_noise_create_initiation(&a.peer, 0, realtime0, init), 0);
	ck_assert_int_eq(deliver_hs(&b, 0, init, sizeof(init), resp, &resp_len), 0);
	for (i = 0; i < FERRY_MSG_RESPONSE_LEN - FERRY_MAC_LEN; i++) {
		memcpy(msg, resp, sizeof(msg));
		msg[i] ^= 0x80;
		ck_assert_int_lt(deliver_hs(&a, 0, msg, sizeof(msg), NULL, &none), 0);
		if ((i >= 4 && i < 8) || i >= FERRY_MSG_RESPONSE_LEN - FERRY_MACS_LEN)
			continue;
		ferry_cookie_add_macs(&attacker, 0, msg, sizeof(msg));
		ck_assert_int_lt(deliver_hs(&a, 0, msg, sizeof(msg), NULL, &none), 0);
	}
	ck_assert_ptr_null(a.peer.current);
	ck_assert_uint_eq(a.local.stats.hs_responses_ok, 0);
	ck_assert_int_eq(deliver_hs(&a, 0, resp, resp_len, NULL, &none), 0);
	/* The same response twice: the handshake is no longer pending. */
	ck_assert_int_eq(deliver_hs(&a, 0, resp, resp_len, NULL, &none), -ENOENT);
	check_traffic(&a, &b, 0);
	pair_down(&a, &b);
}
END_TEST

START_TEST(truncated_extended_and_unknown_messages_are_malformed)
{
	uint8_t init[FERRY_MSG_INITIATION_LEN + 1], resp[FERRY_NOISE_MAX_REPLY_LEN + 1];
	uint8_t reply[FERRY_NOISE_MAX_REPLY_LEN], cookie[FERRY_MSG_COOKIE_REPLY_LEN + 1];
	size_t resp_len, none;
	struct node a = {0}, b = {0};
	uint64_t before;

	pair_up(&a, &b, NULL, NULL);
	ck_assert_int_eq(ferry_noise_create_initiation(&a.peer, 0, realtime0, init), 0);
	init[FERRY_MSG_INITIATION_LEN] = 0;
	ck_assert_int_eq(deliver_hs(&b, 0, init, FERRY_MSG_INITIATION_LEN - 1, reply, &resp_len),
			 -EPROTO);
	ck_assert_int_eq(deliver_hs(&b, 0, init, FERRY_MSG_INITIATION_LEN + 1, reply, &resp_len),
			 -EPROTO);
	ck_assert_int_eq(deliver_hs(&b, 0, init, 0, reply, &resp_len), -EPROTO);
	ck_assert_int_eq(deliver_hs(&b, 0, init, 3, reply, &resp_len), -EPROTO);
	ck_assert_uint_eq(b.local.stats.hs_malformed, 4);
	ck_assert_int_eq(deliver_hs(&b, 0, init, FERRY_MSG_INITIATION_LEN, resp, &resp_len), 0);

	before = a.local.stats.hs_malformed;
	resp[FERRY_MSG_RESPONSE_LEN] = 0;
	ck_assert_int_eq(deliver_hs(&a, 0, resp, FERRY_MSG_RESPONSE_LEN - 1, NULL, &none), -EPROTO);
	ck_assert_int_eq(deliver_hs(&a, 0, resp, FERRY_MSG_RESPONSE_LEN + 1, NULL, &none), -EPROTO);
	memset(cookie, 0, sizeof(cookie));
	cookie[0] = FERRY_MSG_COOKIE_REPLY;
	ck_assert_int_eq(deliver_hs(&a, 0, cookie, sizeof(cookie), NULL, &none), -EPROTO);
	ck_assert_int_eq(deliver_hs(&a, 0, cookie, sizeof(cookie) - 2, NULL, &none), -EPROTO);
	cookie[0] = FERRY_MSG_DATA; /* data is not a handshake message */
	ck_assert_int_eq(deliver_hs(&a, 0, cookie, sizeof(cookie), NULL, &none), -EPROTO);
	cookie[0] = 0;
	ck_assert_int_eq(deliver_hs(&a, 0, cookie, sizeof(cookie), NULL, &none), -EPROTO);
	ck_assert_uint_eq(a.local.stats.hs_malformed, before + 6);
	ck_assert_int_eq(deliver_hs(&a, 0, resp, FERRY_MSG_RESPONSE_LEN, NULL, &none), 0);
	pair_down(&a, &b);
}
END_TEST

START_TEST(replayed_or_older_initiation_is_rejected)
{
	uint8_t init1[FERRY_MSG_INITIATION_LEN], init2[FERRY_MSG_INITIATION_LEN];
	uint8_t init3[FERRY_MSG_INITIATION_LEN], reply[FERRY_NOISE_MAX_REPLY_LEN];
	size_t reply_len;
	struct node a = {0}, b = {0};

	pair_up(&a, &b, NULL, NULL);
	ck_assert_int_eq(ferry_noise_create_initiation(&a.peer, 0, realtime0 - 5, init1), 0);
	ck_assert_int_eq(ferry_noise_create_initiation(&a.peer, 0, realtime0, init2), 0);
	ck_assert_int_eq(deliver_hs(&b, 1000, init2, sizeof(init2), reply, &reply_len), 0);
	/* Exactly the same initiation again, much later. */
	ck_assert_int_eq(deliver_hs(&b, 9000, init2, sizeof(init2), reply, &reply_len), -EALREADY);
	ck_assert_uint_eq(reply_len, 0);
	/* An older, never seen one. */
	ck_assert_int_eq(deliver_hs(&b, 9000, init1, sizeof(init1), reply, &reply_len), -EALREADY);
	ck_assert_uint_eq(b.local.stats.hs_replayed, 2);
	/* A newer one, but too soon after the last accepted. */
	ck_assert_int_eq(ferry_noise_create_initiation(&a.peer, 0, realtime0 + 1, init3), 0);
	ck_assert_int_eq(deliver_hs(&b, 1005, init3, sizeof(init3), reply, &reply_len), -EAGAIN);
	ck_assert_uint_eq(b.local.stats.hs_rate_limited, 1);
	ck_assert_int_eq(deliver_hs(&b, 1000 + FERRY_NOISE_INITIATION_MIN_GAP_MS, init3,
				    sizeof(init3), reply, &reply_len),
			 0);
	pair_down(&a, &b);
}
END_TEST

START_TEST(under_load_cookie_then_accepted)
{
	uint8_t init[FERRY_MSG_INITIATION_LEN], reply[FERRY_NOISE_MAX_REPLY_LEN];
	size_t reply_len, none;
	struct node a = {0}, b = {0};

	pair_up(&a, &b, NULL, NULL);
	b.local.under_load = true;
	ck_assert_int_eq(ferry_noise_create_initiation(&a.peer, 100, realtime0, init), 0);
	ck_assert_int_eq(deliver_hs(&b, 100, init, sizeof(init), reply, &reply_len), -EBUSY);
	ck_assert_uint_eq(reply_len, FERRY_MSG_COOKIE_REPLY_LEN);
	ck_assert_uint_eq(reply[0], FERRY_MSG_COOKIE_REPLY);
	ck_assert_uint_eq(b.local.stats.hs_cookie_sent, 1);
	ck_assert_uint_eq(b.local.stats.hs_auth_failed + b.local.stats.hs_initiations_ok, 0);
	ck_assert_ptr_null(b.peer.next);

	/* A takes the cookie; a tampered cookie reply is counted and ignored. */
	reply[20] ^= 1;
	ck_assert_int_eq(deliver_hs(&a, 110, reply, reply_len, NULL, &none), -EBADMSG);
	reply[20] ^= 1;
	reply[4] ^= 1; /* unknown receiver index */
	ck_assert_int_eq(deliver_hs(&a, 110, reply, reply_len, NULL, &none), -ENOENT);
	reply[4] ^= 1;
	ck_assert_int_eq(deliver_hs(&a, 110, reply, reply_len, NULL, &none), 0);
	ck_assert_uint_eq(none, 0);
	ck_assert_uint_eq(a.local.stats.cookie_replies_ok, 1);
	ck_assert_uint_eq(a.local.stats.cookie_replies_bad, 2);

	/* The retry carries mac2 and goes through. */
	ck_assert_int_eq(ferry_noise_create_initiation(&a.peer, 200, realtime0 + 1, init), 0);
	ck_assert_int_eq(deliver_hs(&b, 200, init, sizeof(init), reply, &reply_len), 0);
	ck_assert_uint_eq(reply_len, FERRY_MSG_RESPONSE_LEN);
	ck_assert_int_eq(deliver_hs(&a, 201, reply, reply_len, NULL, &none), 0);
	ck_assert_int_eq(open_at(&b, 202, seal(&a, 202, 3, 30), 3, 30), 0);

	/* Garbage of the right size under load: dropped on mac1, no cookie, no DH. */
	memset(init, 0, sizeof(init));
	init[0] = FERRY_MSG_INITIATION;
	ck_assert_int_eq(deliver_hs(&b, 300, init, sizeof(init), reply, &reply_len), -EACCES);
	ck_assert_uint_eq(reply_len, 0);
	ck_assert_uint_eq(b.local.stats.hs_cookie_sent, 1);

	/* Two secret rotations later the cookie A still holds would be useless, and A has
	 * stopped using it anyway: B answers with a fresh cookie again. */
	ck_assert_int_eq(
	    ferry_noise_create_initiation(&a.peer, 200 + 240 * SEC, realtime0 + 2, init), 0);
	ck_assert_int_eq(deliver_hs(&b, 200 + 240 * SEC, init, sizeof(init), reply, &reply_len),
			 -EBUSY);
	ck_assert_uint_eq(reply_len, FERRY_MSG_COOKIE_REPLY_LEN);
	pair_down(&a, &b);
}
END_TEST

START_TEST(responder_under_load_cookie_for_response)
{
	uint8_t init[FERRY_MSG_INITIATION_LEN], resp[FERRY_NOISE_MAX_REPLY_LEN];
	uint8_t cookie[FERRY_NOISE_MAX_REPLY_LEN];
	size_t resp_len, cookie_len, none;
	struct node a = {0}, b = {0};

	/* The initiator is the one under load: it asks the responder for a cookie. */
	pair_up(&a, &b, NULL, NULL);
	a.local.under_load = true;
	ck_assert_int_eq(ferry_noise_create_initiation(&a.peer, 0, realtime0, init), 0);
	ck_assert_int_eq(deliver_hs(&b, 0, init, sizeof(init), resp, &resp_len), 0);
	ck_assert_int_eq(deliver_hs(&a, 0, resp, resp_len, cookie, &cookie_len), -EBUSY);
	ck_assert_uint_eq(cookie_len, FERRY_MSG_COOKIE_REPLY_LEN);
	ck_assert_int_eq(deliver_hs(&b, 0, cookie, cookie_len, NULL, &none), 0);
	ck_assert(b.peer.cookie.have_cookie);
	pair_down(&a, &b);
}
END_TEST

START_TEST(data_drops_are_silent_and_counted)
{
	struct ferry_buf *buf, *copy, *held[3];
	struct ferry_noise_stats *st;
	struct ferry_noise_peer *peer;
	struct node a = {0}, b = {0};
	int i;

	pair_up(&a, &b, NULL, NULL);
	handshake(&a, &b, 0, realtime0);
	st = &b.local.stats;

	/* Tampered: every byte position of a small datagram. */
	buf = seal(&a, 1, 7, 20);
	for (i = 0; i < (int)buf->len; i++) {
		copy = dup_buf(buf);
		copy->data[i] ^= 0x04;
		ck_assert_int_lt(open_at(&b, 1, copy, 7, 20), 0);
	}
	ck_assert_uint_eq(st->data_auth_failed + st->data_malformed + st->data_unknown_index +
			      st->data_replayed,
			  buf->len);
	ck_assert_uint_eq(st->data_malformed, 4); /* type and reserved bytes */
	ck_assert_uint_eq(st->data_unknown_index, 4);

	/* Truncated. */
	copy = dup_buf(buf);
	copy->len -= 1;
	ck_assert_int_eq(open_at(&b, 1, copy, 7, 20), -EBADMSG);
	copy = dup_buf(buf);
	copy->len = FERRY_DATA_OVERHEAD - 1;
	ck_assert_int_eq(open_at(&b, 1, copy, 7, 20), -EPROTO);

	/* The genuine one opens once; its replay is dropped. A forged datagram did not
	 * move the window or mark its counter. */
	copy = dup_buf(buf);
	ck_assert_int_eq(open_at(&b, 1, buf, 7, 20), 0);
	ck_assert_int_eq(open_at(&b, 1, copy, 7, 20), -EALREADY);
	ck_assert_uint_eq(st->data_replayed, 1);

	/* Reordered within the window: each accepted exactly once. */
	for (i = 0; i < 3; i++)
		held[i] = seal(&a, 2, (uint8_t)i, 10);
	for (i = 2; i >= 0; i--) {
		copy = dup_buf(held[i]);
		ck_assert_int_eq(open_at(&b, 2, held[i], (uint8_t)i, 10), 0);
		ck_assert_int_eq(open_at(&b, 2, copy, (uint8_t)i, 10), -EALREADY);
	}

	/* Foreign: a datagram from a session B has never seen. */
	{
		struct node c = {0}, d = {0};

		pair_up(&c, &d, NULL, NULL);
		handshake(&c, &d, 0, realtime0);
		ck_assert_int_eq(open_at(&b, 3, seal(&c, 3, 1, 10), 1, 10), -ENOENT);
		pair_down(&c, &d);
	}
	/* Nothing on the data path produced any handshake reply or state. */
	ck_assert_uint_eq(st->hs_cookie_sent, 0);
	ck_assert_uint_eq(st->data_ok, 1 + 1 + 3);
	peer = NULL;
	buf = ferry_pool_get(&pool);
	ck_assert_int_eq(ferry_noise_open(&b.local, 3, buf, &peer), -EPROTO);
	ck_assert_ptr_null(peer);
	ferry_pool_put(&pool, buf);
	pair_down(&a, &b);
}
END_TEST

START_TEST(seal_needs_room_and_leaves_buf_alone)
{
	struct ferry_buf *buf;
	struct node a = {0}, b = {0};

	pair_up(&a, &b, NULL, NULL);
	buf = ferry_pool_get(&pool);
	ck_assert_int_eq(ferry_noise_seal(&a.peer, 0, buf), -ENOKEY);
	handshake(&a, &b, 0, realtime0);
	ferry_buf_pull(buf, 0);
	ck_assert_ptr_nonnull(ferry_buf_put(buf, ferry_buf_tailroom(buf) - 8));
	ck_assert_int_eq(ferry_noise_seal(&a.peer, 0, buf), -ENOSPC);
	ck_assert_uint_eq(buf->len, 2048 - 8);
	ferry_pool_put(&pool, buf);
	pair_down(&a, &b);
}
END_TEST

START_TEST(rekey_mid_transfer_loses_nothing)
{
	uint8_t init[FERRY_MSG_INITIATION_LEN], resp[FERRY_NOISE_MAX_REPLY_LEN];
	struct ferry_buf *old_ab[4], *old_ba[4];
	uint32_t old_index_b;
	size_t resp_len, none;
	struct node a = {0}, b = {0};
	uint64_t now = 0, delivered = 0;
	int i;

	pair_up(&a, &b, NULL, NULL);
	handshake(&a, &b, now, realtime0);
	for (i = 0; i < 50; i++, delivered++)
		ck_assert_int_eq(open_at(&b, now, seal(&a, now, 1, 500), 1, 500), 0);

	now = FERRY_NOISE_REKEY_AFTER_TIME_MS;
	ck_assert(ferry_noise_session_should_rekey(a.peer.current, now));
	ck_assert(!ferry_noise_session_should_rekey(b.peer.current, now));
	ck_assert(ferry_noise_peer_wants_handshake(&a.peer, now, 5 * SEC));
	old_index_b = b.peer.current->local_index;

	/* Datagrams sealed under the old session, still in flight in both directions. */
	for (i = 0; i < 4; i++) {
		old_ab[i] = seal(&a, now, 2, 100);
		old_ba[i] = seal(&b, now, 3, 100);
	}
	ck_assert_int_eq(
	    ferry_noise_create_initiation(&a.peer, now, realtime0 + now * 1000000, init), 0);
	ck_assert(!ferry_noise_peer_wants_handshake(&a.peer, now + 1, 5 * SEC));
	ck_assert_int_eq(deliver_hs(&b, now, init, sizeof(init), resp, &resp_len), 0);
	/* B still sends on the old session until A confirms. */
	ck_assert_uint_eq(b.peer.current->local_index, old_index_b);
	ck_assert_int_eq(open_at(&a, now, seal(&b, now, 4, 10), 4, 10), 0);
	ck_assert_int_eq(deliver_hs(&a, now, resp, resp_len, NULL, &none), 0);
	ck_assert_ptr_nonnull(a.peer.previous);

	/* New-session data first, then the late old-session datagrams. */
	ck_assert_int_eq(open_at(&b, now + 1, seal(&a, now + 1, 5, 100), 5, 100), 0);
	ck_assert_uint_ne(b.peer.current->local_index, old_index_b);
	ck_assert_uint_eq(b.peer.previous->local_index, old_index_b);
	for (i = 0; i < 4; i++) {
		ck_assert_int_eq(open_at(&b, now + 2, old_ab[i], 2, 100), 0);
		ck_assert_int_eq(open_at(&a, now + 2, old_ba[i], 3, 100), 0);
	}
	check_traffic(&a, &b, now + 3);
	ck_assert_uint_eq(a.local.stats.data_auth_failed + a.local.stats.data_unknown_index +
			      b.local.stats.data_auth_failed + b.local.stats.data_unknown_index,
			  0);

	/* The previous session goes when it expires; the current keeps working. */
	now = FERRY_NOISE_REJECT_AFTER_TIME_MS;
	ferry_noise_peer_expire(&a.peer, now);
	ferry_noise_peer_expire(&b.peer, now);
	ck_assert_ptr_null(a.peer.previous);
	ck_assert_ptr_null(b.peer.previous);
	check_traffic(&a, &b, now);
	pair_down(&a, &b);
}
END_TEST

START_TEST(rekey_and_expiry_policy)
{
	struct ferry_buf *buf;
	struct node a = {0}, b = {0};
	int i;

	ck_assert_int_eq(ferry_noise_keygen(a.priv, a.pub), 0);
	ck_assert_int_eq(ferry_noise_keygen(b.priv, b.pub), 0);
	node_start(&a, 0, 10); /* rekey after 10 messages */
	node_start(&b, 0, 0);
	ck_assert_int_eq(ferry_noise_peer_init(&a.local, &a.peer, b.pub, NULL), 0);
	ck_assert_int_eq(ferry_noise_peer_init(&b.local, &b.peer, a.pub, NULL), 0);
	ck_assert(ferry_noise_peer_wants_handshake(&a.peer, 0, 5 * SEC));
	handshake(&a, &b, 0, realtime0); /* one keepalive sent */
	for (i = 0; i < 8; i++)
		ck_assert_int_eq(open_at(&b, 0, seal(&a, 0, 0, 1), 0, 1), 0);
	ck_assert(!ferry_noise_session_should_rekey(a.peer.current, 0));
	ck_assert_int_eq(open_at(&b, 0, seal(&a, 0, 0, 1), 0, 1), 0);
	ck_assert(ferry_noise_session_should_rekey(a.peer.current, 0));

	/* Time: the responder waits longer than the initiator. */
	ck_assert(!ferry_noise_session_should_rekey(b.peer.current, 120 * SEC));
	ck_assert(ferry_noise_session_should_rekey(b.peer.current, 150 * SEC));
	ck_assert(!ferry_noise_session_expired(b.peer.current, 180 * SEC - 1));
	ck_assert(ferry_noise_session_expired(b.peer.current, 180 * SEC));

	/* Expired sessions neither send nor receive. */
	buf = seal(&a, 180 * SEC - 1, 0, 1);
	ck_assert_int_eq(open_at(&b, 180 * SEC, buf, 0, 1), -EKEYEXPIRED);
	ck_assert_uint_eq(b.local.stats.data_expired, 1);
	buf = ferry_pool_get(&pool);
	ck_assert_int_eq(ferry_noise_seal(&a.peer, 180 * SEC, buf), -EKEYEXPIRED);
	ferry_pool_put(&pool, buf);
	ck_assert(ferry_noise_peer_wants_handshake(&a.peer, 180 * SEC, 5 * SEC));

	/* A response arriving after the handshake's maximum age is refused. */
	{
		uint8_t init[FERRY_MSG_INITIATION_LEN], resp[FERRY_NOISE_MAX_REPLY_LEN];
		size_t resp_len, none;
		uint64_t t = 200 * SEC;

		ck_assert_int_eq(ferry_noise_create_initiation(&a.peer, t, realtime0 + 1, init), 0);
		ck_assert_int_eq(deliver_hs(&b, t, init, sizeof(init), resp, &resp_len), 0);
		ck_assert_int_eq(deliver_hs(&a, t + FERRY_NOISE_HANDSHAKE_MAX_AGE_MS, resp,
					    resp_len, NULL, &none),
				 -ENOENT);
		ferry_noise_peer_expire(&a.peer, t + FERRY_NOISE_HANDSHAKE_MAX_AGE_MS);
		ck_assert(!a.peer.hs.pending);
	}
	pair_down(&a, &b);
}
END_TEST

START_TEST(counter_limit_rejects_send)
{
	struct ferry_noise_config cfg = {.reject_after_messages = 3};
	struct ferry_buf *buf;
	struct node a = {0}, b = {0};

	ck_assert_int_eq(ferry_noise_keygen(a.priv, a.pub), 0);
	ck_assert_int_eq(ferry_noise_keygen(b.priv, b.pub), 0);
	memcpy(cfg.static_private, a.priv, 32);
	ck_assert_int_eq(ferry_noise_local_init(&a.local, &cfg), 0);
	node_start(&b, 0, 0);
	ck_assert_int_eq(ferry_noise_peer_init(&a.local, &a.peer, b.pub, NULL), 0);
	ck_assert_int_eq(ferry_noise_peer_init(&b.local, &b.peer, a.pub, NULL), 0);
	handshake(&a, &b, 0, realtime0); /* counter 0 */
	ck_assert_int_eq(open_at(&b, 0, seal(&a, 0, 0, 1), 0, 1), 0);
	ck_assert_int_eq(open_at(&b, 0, seal(&a, 0, 0, 1), 0, 1), 0);
	buf = ferry_pool_get(&pool);
	ck_assert_int_eq(ferry_noise_seal(&a.peer, 0, buf), -EKEYEXPIRED);
	ferry_pool_put(&pool, buf);
	pair_down(&a, &b);
}
END_TEST

START_TEST(peer_restart_rehandshakes)
{
	struct node a = {0}, b = {0};
	uint64_t now = 10 * SEC;

	pair_up(&a, &b, NULL, NULL);
	handshake(&a, &b, 0, realtime0);
	check_traffic(&a, &b, 1);

	/* B restarts: same keys, all state gone. A's datagrams are silently dropped. */
	ferry_noise_local_destroy(&b.local);
	node_start(&b, 0, 0);
	ck_assert_int_eq(ferry_noise_peer_init(&b.local, &b.peer, a.pub, NULL), 0);
	ck_assert_int_eq(open_at(&b, now, seal(&a, now, 1, 10), 1, 10), -ENOENT);
	ck_assert_uint_eq(b.local.stats.data_unknown_index, 1);

	/* B initiates (its wall clock moved on); A accepts though it has a session. */
	handshake(&b, &a, now, realtime0 + now * 1000000);
	check_traffic(&a, &b, now + 1);
	check_traffic(&b, &a, now + 2);
	pair_down(&a, &b);
}
END_TEST

START_TEST(simultaneous_initiations_both_complete)
{
	uint8_t ia[FERRY_MSG_INITIATION_LEN], ib[FERRY_MSG_INITIATION_LEN];
	uint8_t ra[FERRY_NOISE_MAX_REPLY_LEN], rb[FERRY_NOISE_MAX_REPLY_LEN];
	size_t ra_len, rb_len, none;
	struct node a = {0}, b = {0};

	pair_up(&a, &b, NULL, NULL);
	ck_assert_int_eq(ferry_noise_create_initiation(&a.peer, 0, realtime0, ia), 0);
	ck_assert_int_eq(ferry_noise_create_initiation(&b.peer, 0, realtime0, ib), 0);
	ck_assert_int_eq(deliver_hs(&b, 1, ia, sizeof(ia), rb, &rb_len), 0);
	ck_assert_int_eq(deliver_hs(&a, 1, ib, sizeof(ib), ra, &ra_len), 0);
	ck_assert_int_eq(deliver_hs(&a, 2, rb, rb_len, NULL, &none), 0);
	ck_assert_int_eq(deliver_hs(&b, 2, ra, ra_len, NULL, &none), 0);
	check_traffic(&a, &b, 3);
	check_traffic(&b, &a, 4);
	ck_assert_uint_eq(a.local.stats.data_ok + b.local.stats.data_ok, 4);
	pair_down(&a, &b);
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
	struct node *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	struct ferry_noise_session *old;
	struct ferry_aead_key first_send;
	int i;
	uint8_t init[FERRY_MSG_INITIATION_LEN], resp[FERRY_NOISE_MAX_REPLY_LEN];
	size_t resp_len, none;

	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	pair_up(a, b, NULL, NULL);
	handshake(a, b, 0, realtime0);
	old = a->peer.current;
	ck_assert(!all_zero(&old->send, sizeof(old->send)));
	memcpy(&first_send, &old->send, sizeof(first_send));

	/* Two rotations: the first session is dropped and its slot wiped. */
	ck_assert_int_eq(ferry_noise_create_initiation(&a->peer, 1 * SEC, realtime0 + 1, init), 0);
	ck_assert_int_eq(deliver_hs(b, 1 * SEC, init, sizeof(init), resp, &resp_len), 0);
	ck_assert_int_eq(deliver_hs(a, 1 * SEC, resp, resp_len, NULL, &none), 0);
	ck_assert_ptr_eq(a->peer.previous, old);
	ck_assert_int_eq(ferry_noise_create_initiation(&a->peer, 2 * SEC, realtime0 + 2, init), 0);
	ck_assert_int_eq(deliver_hs(b, 2 * SEC, init, sizeof(init), resp, &resp_len), 0);
	ck_assert_int_eq(deliver_hs(a, 2 * SEC, resp, resp_len, NULL, &none), 0);
	/* The first session's keys are gone from every slot; the unused slot is zero. */
	for (i = 0; i < 3; i++) {
		struct ferry_noise_session *slot = &a->peer.slots[i];

		ck_assert_mem_ne(&slot->send, &first_send, sizeof(first_send));
		if (slot != a->peer.current && slot != a->peer.previous)
			ck_assert(all_zero(slot, sizeof(*slot)));
	}
	ck_assert(all_zero(&a->peer.hs, sizeof(a->peer.hs)));

	pair_down(a, b);
	ck_assert(all_zero(&a->peer, sizeof(a->peer)));
	ck_assert(all_zero(&a->local, sizeof(a->local)));
	ck_assert(all_zero(&b->peer, sizeof(b->peer)));
	free(a);
	free(b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("noise");
	TCase *hs = ferry_tcase("handshake", 20);
	TCase *data = ferry_tcase("sessions", 20);
	/* ferry_aead_available() runs sodium_init(): before it, libsodium reports no AES-NI. */
	int negotiations = (ferry_aead_available() & FERRY_AEAD_MASK(FERRY_AEAD_AES256GCM)) ? 3 : 1;

	tcase_add_checked_fixture(hs, pool_setup, pool_teardown);
	tcase_add_checked_fixture(data, pool_setup, pool_teardown);
	tcase_add_test(hs, known_answer_initiation_from_independent_implementation);
	tcase_add_test(hs, handshake_derives_matching_keys_both_ways);
	tcase_add_loop_test(hs, negotiation_picks_aes_only_when_both_have_it, 0, negotiations);
	tcase_add_test(hs, local_init_rejects_bad_config);
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
	tcase_add_test(data, data_drops_are_silent_and_counted);
	tcase_add_test(data, seal_needs_room_and_leaves_buf_alone);
	tcase_add_test(data, rekey_mid_transfer_loses_nothing);
	tcase_add_test(data, rekey_and_expiry_policy);
	tcase_add_test(data, counter_limit_rejects_send);
	tcase_add_test(data, peer_restart_rehandshakes);
	tcase_add_test(data, keys_are_wiped);
	suite_add_tcase(s, hs);
	suite_add_tcase(s, data);
	return ferry_run_suite(s);
}
