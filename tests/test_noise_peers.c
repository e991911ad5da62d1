// SPDX-License-Identifier: MIT
/*
 * One local with 1,024 peers (the configuration's limit): each peer found by its static
 * key at its handshake and by index for its data, never another's; sessions that rotate
 * and handshakes that restart keep being found; removing peers takes exactly their
 * datagrams away; the tables grow while peers are added between handshakes.
 *
 * The hub is a bare struct ferry_noise_local with an array of peers; each spoke is a
 * tests/support/noiserig.h node that knows the hub only.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/fixture.h"
#include "tests/support/noiserig.h"
#include "transport/noise.h"

enum {
	SPOKES = 1024
};

static struct ferry_pool pool;

static void pool_setup(void)
{
	ck_assert_int_eq(ferry_pool_init(&pool, 16, 2048, 64), 0);
}

static void pool_teardown(void)
{
	ferry_ck_pool_idle(&pool);
	ferry_pool_destroy(&pool);
}

struct hub {
	uint8_t priv[32], pub[32];
	struct ferry_noise_local local;
	struct ferry_noise_peer *peers; /* peers[k] is spoke k */
	struct ferry_noiserig_node *spokes;
};

static void hub_up(struct hub *h)
{
	struct ferry_noise_config cfg = {0};
	int k;

	ck_assert_int_eq(ferry_noise_keygen(h->priv, h->pub), 0);
	memcpy(cfg.static_private, h->priv, 32);
	ck_assert_int_eq(ferry_noise_local_init(&h->local, &cfg), 0);
	h->peers = calloc(SPOKES, sizeof(*h->peers));
	h->spokes = calloc(SPOKES, sizeof(*h->spokes));
	ck_assert_ptr_nonnull(h->peers);
	ck_assert_ptr_nonnull(h->spokes);
	for (k = 0; k < SPOKES; k++) {
		struct ferry_noiserig_node *s = &h->spokes[k];

		ck_assert_int_eq(ferry_noise_keygen(s->priv, s->pub), 0);
		ferry_noiserig_node_start(s, &pool, 0, 0);
		ck_assert_int_eq(ferry_noise_peer_init(&s->local, &s->peer, h->pub, NULL), 0);
	}
}

static void hub_down(struct hub *h)
{
	int k;

	ferry_noise_local_destroy(&h->local);
	for (k = 0; k < SPOKES; k++)
		ferry_noise_local_destroy(&h->spokes[k].local);
	free(h->peers);
	free(h->spokes);
}

/* Spoke k initiates; the hub must name peers[k]; the spoke takes the response. */
static void handshake(struct hub *h, int k, uint64_t now)
{
	uint8_t init[FERRY_MSG_INITIATION_LEN], reply[FERRY_NOISE_MAX_REPLY_LEN];
	struct ferry_noise_peer *peer = NULL;
	size_t reply_len = 0, none = 0;

	ck_assert_int_eq(ferry_noise_create_initiation(&h->spokes[k].peer, now,
						       FERRY_NOISERIG_REALTIME0 + now * 1000000,
						       init),
			 0);
	ck_assert_int_eq(ferry_noise_handle_handshake(&h->local, now, ferry_noiserig_src,
						      sizeof(ferry_noiserig_src), init,
						      sizeof(init), reply, &reply_len, &peer),
			 0);
	ck_assert_msg(peer == &h->peers[k], "spoke %d's initiation found another peer", k);
	ck_assert_int_eq(ferry_noiserig_deliver(&h->spokes[k], now, reply, reply_len, NULL, &none),
			 0);
}

/* A datagram each way between the hub and spoke k; the hub must open it as peers[k]'s.
 * Returns the hub's verdict on the spoke's datagram. */
static int traffic(struct hub *h, int k, uint64_t now)
{
	struct ferry_buf *buf = ferry_noiserig_seal(&h->spokes[k], now, (uint8_t)k, 100);
	struct ferry_noise_peer *peer = NULL;
	int err = ferry_noise_open(&h->local, now, buf, &peer);

	ferry_pool_put(&pool, buf);
	if (err)
		return err;
	ck_assert_msg(peer == &h->peers[k], "spoke %d's datagram opened as another peer's", k);
	buf = ferry_pool_get(&pool);
	ck_assert_ptr_nonnull(buf);
	memset(ferry_buf_put(buf, 10), 0x5a, 10);
	ck_assert_int_eq(ferry_noise_seal(&h->peers[k], now, buf), 0);
	ck_assert_int_eq(ferry_noiserig_open(&h->spokes[k], now, buf, 0x5a, 10), 0);
	return 0;
}

START_TEST(a_thousand_peers_each_found_as_itself)
{
	struct hub h = {0};
	struct ferry_noiserig_node stranger = {0};
	uint8_t init[FERRY_MSG_INITIATION_LEN], reply[FERRY_NOISE_MAX_REPLY_LEN];
	struct ferry_noise_peer *peer = NULL;
	size_t reply_len = 0;
	int k;

	hub_up(&h);
	/* Added in two halves, with handshakes between: the tables grow under live sessions. */
	for (k = 0; k < SPOKES; k++) {
		ck_assert_int_eq(
		    ferry_noise_peer_init(&h.local, &h.peers[k], h.spokes[k].pub, NULL), 0);
		if (k == SPOKES / 2 - 1) {
			int j;

			for (j = 0; j < SPOKES / 2; j++)
				handshake(&h, j, 1);
		}
	}
	ck_assert_uint_eq(h.local.npeers, SPOKES);
	for (k = SPOKES / 2; k < SPOKES; k++)
		handshake(&h, k, 2);
	for (k = 0; k < SPOKES; k++)
		ck_assert_int_eq(traffic(&h, k, 3), 0);

	/* A key listed twice, and our own, are refused at the 1,025th. */
	{
		struct ferry_noise_peer extra;

		ck_assert_int_eq(ferry_noise_peer_init(&h.local, &extra, h.spokes[7].pub, NULL),
				 -EEXIST);
		ck_assert_int_eq(ferry_noise_peer_init(&h.local, &extra, h.pub, NULL), -EINVAL);
	}

	/* New handshakes for every third spoke: the hub's sessions rotate (next, current,
	 * previous); both the old and the new indices keep finding the right peer. */
	for (k = 0; k < SPOKES; k += 3)
		handshake(&h, k, 4 * FERRY_NOISERIG_SEC);
	for (k = 0; k < SPOKES; k++)
		ck_assert_int_eq(traffic(&h, k, 5 * FERRY_NOISERIG_SEC), 0);

	/* Removing the even peers takes exactly their datagrams away. */
	for (k = 0; k < SPOKES; k += 2)
		ferry_noise_peer_remove(&h.peers[k]);
	ck_assert_uint_eq(h.local.npeers, SPOKES / 2);
	for (k = 0; k < SPOKES; k++) {
		struct ferry_buf *buf =
		    ferry_noiserig_seal(&h.spokes[k], 6 * FERRY_NOISERIG_SEC, 1, 20);
		struct ferry_noise_peer *from = NULL;
		int err = ferry_noise_open(&h.local, 6 * FERRY_NOISERIG_SEC, buf, &from);

		ferry_pool_put(&pool, buf);
		if (k % 2 == 0)
			ck_assert_int_eq(err, -ENOENT);
		else
			ck_assert_msg(err == 0 && from == &h.peers[k], "spoke %d: %d", k, err);
	}
	/* ... and a removed peer can come back. */
	ck_assert_int_eq(ferry_noise_peer_init(&h.local, &h.peers[0], h.spokes[0].pub, NULL), 0);
	handshake(&h, 0, 7 * FERRY_NOISERIG_SEC);
	ck_assert_int_eq(traffic(&h, 0, 7 * FERRY_NOISERIG_SEC), 0);

	/* An initiation from a key the hub does not know names no peer. */
	ck_assert_int_eq(ferry_noise_keygen(stranger.priv, stranger.pub), 0);
	ferry_noiserig_node_start(&stranger, &pool, 0, 0);
	ck_assert_int_eq(ferry_noise_peer_init(&stranger.local, &stranger.peer, h.pub, NULL), 0);
	ck_assert_int_eq(
	    ferry_noise_create_initiation(&stranger.peer, 8, FERRY_NOISERIG_REALTIME0, init), 0);
	ck_assert_int_eq(ferry_noise_handle_handshake(&h.local, 8, ferry_noiserig_src,
						      sizeof(ferry_noiserig_src), init,
						      sizeof(init), reply, &reply_len, &peer),
			 -ENOENT);
	ck_assert_ptr_null(peer);
	ferry_noise_local_destroy(&stranger.local);
	hub_down(&h);
}
END_TEST

/* Expiry drops sessions and handshakes; their indices stop finding anything. */
START_TEST(expired_sessions_are_not_found)
{
	struct hub h = {0};
	uint64_t later = FERRY_NOISE_REJECT_AFTER_TIME_MS + 10 * FERRY_NOISERIG_SEC;
	struct ferry_buf *buf;
	struct ferry_noise_peer *peer = NULL;
	int k;

	hub_up(&h);
	for (k = 0; k < 8; k++) {
		ck_assert_int_eq(
		    ferry_noise_peer_init(&h.local, &h.peers[k], h.spokes[k].pub, NULL), 0);
		handshake(&h, k, 1);
		ck_assert_int_eq(traffic(&h, k, 2), 0);
	}
	buf = ferry_noiserig_seal(&h.spokes[3], 3, 1, 20); /* sealed before expiry */
	for (k = 0; k < 8; k++)
		ferry_noise_peer_expire(&h.peers[k], later);
	ck_assert_ptr_null(h.peers[3].current);
	ck_assert_int_eq(ferry_noise_open(&h.local, later, buf, &peer), -ENOENT);
	ferry_pool_put(&pool, buf);
	hub_down(&h);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("noise_peers");
	TCase *tc = ferry_tcase("peers", 60);

	tcase_add_checked_fixture(tc, pool_setup, pool_teardown);
	tcase_add_test(tc, a_thousand_peers_each_found_as_itself);
	tcase_add_test(tc, expired_sessions_are_not_found);
	suite_add_tcase(s, tc);
	return ferry_run_suite(s);
}
