// SPDX-License-Identifier: MIT
/*
 * Two Noise peers in memory (see noiserig.h): setting nodes up and down, and handing
 * handshake messages and data datagrams from one to the other with every outcome checked.
 */
#include "tests/support/noiserig.h"

#include <string.h>

#include "tests/support/fixture.h"

const uint8_t ferry_noiserig_src[FERRY_NOISERIG_SRC_LEN] = {127, 0, 0, 1, 0x30, 0x39};

void ferry_noiserig_node_start(struct ferry_noiserig_node *n, struct ferry_pool *pool,
			       uint32_t mask, uint64_t rekey_msgs)
{
	struct ferry_noise_config cfg = {.aead_mask = mask, .rekey_after_messages = rekey_msgs};

	memcpy(cfg.static_private, n->priv, 32);
	ck_assert_int_eq(ferry_noise_local_init(&n->local, &cfg), 0);
	n->pool = pool;
}

void ferry_noiserig_pair_up(struct ferry_noiserig_node *a, struct ferry_noiserig_node *b,
			    struct ferry_pool *pool, const uint8_t *psk_a, const uint8_t *psk_b)
{
	ck_assert_int_eq(ferry_noise_keygen(a->priv, a->pub), 0);
	ck_assert_int_eq(ferry_noise_keygen(b->priv, b->pub), 0);
	ferry_noiserig_node_start(a, pool, 0, 0);
	ferry_noiserig_node_start(b, pool, 0, 0);
	ck_assert_int_eq(ferry_noise_peer_init(&a->local, &a->peer, b->pub, psk_a), 0);
	ck_assert_int_eq(ferry_noise_peer_init(&b->local, &b->peer, a->pub, psk_b), 0);
}

void ferry_noiserig_pair_down(struct ferry_noiserig_node *a, struct ferry_noiserig_node *b)
{
	ferry_noise_local_destroy(&a->local);
	ferry_noise_local_destroy(&b->local);
}

int ferry_noiserig_deliver(struct ferry_noiserig_node *n, uint64_t now, const uint8_t *msg,
			   size_t len, uint8_t *reply, size_t *reply_len)
{
	uint8_t scratch[FERRY_NOISE_MAX_REPLY_LEN];
	struct ferry_noise_peer *peer = NULL;
	int err = ferry_noise_handle_handshake(&n->local, now, ferry_noiserig_src,
					       sizeof(ferry_noiserig_src), msg, len,
					       reply ? reply : scratch, reply_len, &peer);

	if (!err)
		ck_assert_ptr_eq(peer, &n->peer);
	else
		ck_assert_ptr_null(peer);
	return err;
}

struct ferry_buf *ferry_noiserig_seal(struct ferry_noiserig_node *a, uint64_t now, uint8_t fill,
				      uint32_t len)
{
	struct ferry_buf *buf = ferry_pool_get(a->pool);

	ck_assert_ptr_nonnull(buf);
	memset(ferry_buf_put(buf, len), fill, len);
	ck_assert_int_eq(ferry_noise_seal(&a->peer, now, buf), 0);
	ck_assert_uint_eq(buf->len, len + FERRY_DATA_OVERHEAD);
	return buf;
}

int ferry_noiserig_open(struct ferry_noiserig_node *b, uint64_t now, struct ferry_buf *buf,
			uint8_t fill, uint32_t len)
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
	ferry_pool_put(b->pool, buf);
	return err;
}

struct ferry_buf *ferry_noiserig_dup(struct ferry_pool *pool, const struct ferry_buf *buf)
{
	struct ferry_buf *copy = ferry_pool_get(pool);

	ck_assert_ptr_nonnull(copy);
	memcpy(ferry_buf_put(copy, buf->len), buf->data, buf->len);
	return copy;
}

void ferry_noiserig_handshake(struct ferry_noiserig_node *i, struct ferry_noiserig_node *r,
			      uint64_t now, uint64_t realtime)
{
	uint8_t init[FERRY_MSG_INITIATION_LEN], resp[FERRY_NOISE_MAX_REPLY_LEN];
	size_t resp_len, none;

	ck_assert_int_eq(ferry_noise_create_initiation(&i->peer, now, realtime, init), 0);
	ck_assert_int_eq(ferry_noiserig_deliver(r, now, init, sizeof(init), resp, &resp_len), 0);
	ck_assert_uint_eq(resp_len, FERRY_MSG_RESPONSE_LEN);
	ck_assert_int_eq(ferry_noiserig_deliver(i, now, resp, resp_len, NULL, &none), 0);
	ck_assert_uint_eq(none, 0);
	/* The keepalive. */
	ck_assert_int_eq(ferry_noiserig_open(r, now, ferry_noiserig_seal(i, now, 0, 0), 0, 0), 0);
}

void ferry_noiserig_traffic(struct ferry_noiserig_node *a, struct ferry_noiserig_node *b,
			    uint64_t now)
{
	ck_assert_int_eq(
	    ferry_noiserig_open(b, now, ferry_noiserig_seal(a, now, 0xa5, 1400), 0xa5, 1400), 0);
	ck_assert_int_eq(ferry_noiserig_open(a, now, ferry_noiserig_seal(b, now, 0x5a, 1), 0x5a, 1),
			 0);
}
