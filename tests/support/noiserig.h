/* SPDX-License-Identifier: MIT */
/*
 * Two Noise peers in memory, for the tests/test_noise_*.c suites.
 *
 * A struct ferry_noiserig_node is one ferry instance's handshake side: a static key pair,
 * its struct ferry_noise_local and the one peer it knows (the other node). Messages move
 * between nodes only when the test hands them over (ferry_noiserig_deliver for handshake
 * messages, ferry_noiserig_seal then ferry_noiserig_open for data), so a test can drop,
 * copy, reorder, delay or tamper with any of them. Time is whatever `now` (virtual ms) and
 * `realtime` (wall clock, ns) the test passes; every handshake message arrives from
 * ferry_noiserig_src.
 *
 * Data datagrams are ferry_buf from the pool a node was started with (the suite's own,
 * set up by its checked fixture); ferry_noiserig_open returns each buffer to it, opened
 * or not, so a pool left idle at the end shows nothing leaked. Payloads are `len` bytes
 * of one `fill` value, checked byte by byte when they open.
 *
 * Failures are Check assertions: every function here runs inside a Check test. All state
 * lives in the nodes; nothing here is global.
 */
#ifndef FERRY_TESTS_NOISERIG_H
#define FERRY_TESTS_NOISERIG_H

#include <stddef.h>
#include <stdint.h>

#include "transport/noise.h"
#include "transport/pool.h"

#define FERRY_NOISERIG_SEC	 1000ULL /* virtual milliseconds per second */
#define FERRY_NOISERIG_REALTIME0 (1790000000ULL * 1000000000ULL) /* a wall clock, ns */

enum {
	FERRY_NOISERIG_SRC_LEN = 6, /* an IPv4 address and port: the bytes cookies bind to */
};

/* The source address every delivered handshake message comes from (127.0.0.1:12345). */
extern const uint8_t ferry_noiserig_src[FERRY_NOISERIG_SRC_LEN];

/* One side: its keys, its local state and the peer it knows. Zero-initialise it. */
struct ferry_noiserig_node {
	uint8_t priv[32], pub[32];
	struct ferry_noise_local local;
	struct ferry_noise_peer peer; /* the other node */
	struct ferry_pool *pool;      /* where its datagrams come from and go back to */
};

/* Starts n's local state from n->priv with AEAD mask `mask` (0: all available) and rekey
 * after rekey_msgs messages (0: the default); its datagrams use pool. Asserts success. */
void ferry_noiserig_node_start(struct ferry_noiserig_node *n, struct ferry_pool *pool,
			       uint32_t mask, uint64_t rekey_msgs);

/* Fresh key pairs for a and b, both started with defaults on pool, each knowing the other
 * (psk_a, psk_b: the pre-shared key each side holds, or NULL). Asserts success. */
void ferry_noiserig_pair_up(struct ferry_noiserig_node *a, struct ferry_noiserig_node *b,
			    struct ferry_pool *pool, const uint8_t *psk_a, const uint8_t *psk_b);

/* Destroys both nodes' local state (which wipes their peers and sessions). */
void ferry_noiserig_pair_down(struct ferry_noiserig_node *a, struct ferry_noiserig_node *b);

/* Delivers handshake message msg to node n at now; returns its verdict (0 or the negative
 * errno of ferry_noise_handle_handshake) and asserts the peer it names is n's on success,
 * none otherwise. reply (NULL: discarded) and reply_len receive n's answer. */
int ferry_noiserig_deliver(struct ferry_noiserig_node *n, uint64_t now, const uint8_t *msg,
			   size_t len, uint8_t *reply, size_t *reply_len);

/* Seals len bytes of value fill from a to its peer at now; asserts success and the
 * datagram's length; returns the datagram's buffer. */
struct ferry_buf *ferry_noiserig_seal(struct ferry_noiserig_node *a, uint64_t now, uint8_t fill,
				      uint32_t len);

/* Opens buf at node b at now; if it opens, asserts it came from b's peer and holds len
 * bytes of value fill. Returns buf to b's pool either way, and the verdict (0 or the
 * negative errno of ferry_noise_open). */
int ferry_noiserig_open(struct ferry_noiserig_node *b, uint64_t now, struct ferry_buf *buf,
			uint8_t fill, uint32_t len);

/* A copy of datagram buf in a buffer from pool, as the network or an attacker would
 * duplicate it; asserts the pool had one. */
struct ferry_buf *ferry_noiserig_dup(struct ferry_pool *pool, const struct ferry_buf *buf);

/* A full handshake at now with wall clock realtime, i initiating, then the keepalive
 * that confirms it at r; asserts every step. */
void ferry_noiserig_handshake(struct ferry_noiserig_node *i, struct ferry_noiserig_node *r,
			      uint64_t now, uint64_t realtime);

/* One 1400-byte datagram a -> b and one 1-byte datagram b -> a at now; asserts both open
 * intact. */
void ferry_noiserig_traffic(struct ferry_noiserig_node *a, struct ferry_noiserig_node *b,
			    uint64_t now);

#endif
