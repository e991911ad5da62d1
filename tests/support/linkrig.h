/* SPDX-License-Identifier: MIT */
/*
 * The two-peer link test rig: two ferry instances A and B (a link set and one link each)
 * on the deterministic virtual network of vnet.h, carrying ARQ conversations and
 * datagrams; optionally a second pair, C and D, whose traffic shares A and B's way (its
 * bottleneck) but not their links. tests/test_link_*.c share it.
 *
 * The harness is one event loop over both sides with the vnet's virtual clock: each turn
 * the applications write and read, conversations run (each sending as much as the link
 * has room for), the links flush and run their timers, then the clock jumps to the earliest
 * deadline. Streams carry a pattern derived from (conv, offset) so every received byte is
 * checked; datagrams carry the same pattern keyed by their flow id. Addresses are labels
 * only (127.0.0.x): nothing touches a socket.
 *
 * Taps on A's output can hold DATA messages back (for reordering and tampering) or
 * capture one; B->A datagrams not addressed to A's current address can be dropped (A has
 * moved). The rig is one heap object, from ferry_linkrig_new() to ferry_linkrig_free();
 * between the two, set a side's *_cfg, passive or keys before ferry_linkrig_start().
 *
 * With `hello` set, the sides play the bridge's part in a restart (stack/bridge.h): each
 * start of a side takes a new instance number, announced on flow FERRY_LINKRIG_HELLO_FLOW
 * whenever the side's link comes up; a side that hears a new instance from its peer
 * counts a restart and resets the conversations that had heard the old one (reset_ms; a
 * conversation hears the instance announced before its first segments arrived, or else
 * the first one announced after).
 */
#ifndef FERRY_TESTS_LINKRIG_H
#define FERRY_TESTS_LINKRIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tests/support/vnet.h"
#include "transport/arq.h"
#include "transport/link.h"

#define FERRY_LINKRIG_SEC	1000ULL /* virtual milliseconds per second */
#define FERRY_LINKRIG_REALTIME0 (1790000000ULL * 1000000000ULL) /* wall clock at now = 0, ns */

enum {
	FERRY_LINKRIG_MAX_CONVS = 1024,	 /* conversations per side */
	FERRY_LINKRIG_POOL_CONVS = 8,	 /* ... whose full windows each side's ARQ pool holds */
	FERRY_LINKRIG_MAX_HOLD = 16,	 /* DATA messages the hold tap keeps */
	FERRY_LINKRIG_CONV_BASE = 100,	 /* the first conversation id tests use */
	FERRY_LINKRIG_MAX_SIDES = 4,	 /* two pairs of peers */
	FERRY_LINKRIG_HELLO_FLOW = 4095, /* the datagram flow instances are announced on */
};

struct ferry_linkrig;
struct ferry_linkrig_side;

/* What a conversation's output callback is given: its side and its index there. */
struct ferry_linkrig_conv {
	struct ferry_linkrig_side *side;
	uint32_t i;
};

struct ferry_linkrig_side {
	struct ferry_linkrig *w;
	int id; /* 0 = A, 1 = B; 2 and 3 the second pair's A and B */
	bool active;
	uint8_t priv[32], pub[32];
	struct ferry_link_set set;
	struct ferry_link link;
	struct ferry_sockaddr addr; /* the source address the other side sees */
	struct ferry_pool arq_pool;
	struct ferry_arq *arq[FERRY_LINKRIG_MAX_CONVS];
	struct ferry_linkrig_conv conv_ctx[FERRY_LINKRIG_MAX_CONVS];
	uint32_t conv_id[FERRY_LINKRIG_MAX_CONVS];
	uint32_t nconv;
	size_t total[FERRY_LINKRIG_MAX_CONVS]; /* bytes this side sends on each conversation */
	size_t sent[FERRY_LINKRIG_MAX_CONVS];
	size_t recvd[FERRY_LINKRIG_MAX_CONVS];
	size_t expect[FERRY_LINKRIG_MAX_CONVS];	       /* bytes this side must receive */
	bool wrote[FERRY_LINKRIG_MAX_CONVS];	       /* written this loop turn: flushed at once */
	uint64_t first_rx_ms[FERRY_LINKRIG_MAX_CONVS]; /* the first byte arrived (0: none yet) */
	/* the bridge's part in a restart, with the rig's `hello` (see the top) */
	uint64_t instance;				 /* this start's */
	uint64_t peer_instance;				 /* the peer's, last heard */
	uint64_t conv_instance[FERRY_LINKRIG_MAX_CONVS]; /* the peer's when conv i first heard */
	bool conv_heard[FERRY_LINKRIG_MAX_CONVS];	 /* conv i received segments */
	uint64_t reset_ms[FERRY_LINKRIG_MAX_CONVS];	 /* reset for a peer restart (0: not) */
	uint32_t peer_restarts;
	uint64_t bad_bytes, unknown_conv;
	uint64_t now;
	uint64_t outputs;	       /* datagrams handed to output */
	uint64_t output_batches;       /* output calls */
	struct ferry_sockaddr last_to; /* where the last one went */
	/* datagram channel */
	uint64_t dg_rx, dg_bad, dg_first_rx_ms;
	uint32_t dg_seen[4096];
	/* multiplexing evidence: a payload carrying segments of two conversations */
	uint64_t last_payload, shared_payloads;
	uint32_t last_conv;
	enum ferry_link_state states[16];
	uint32_t nstates;
	bool passive;	  /* starts without the peer's address: learns it from an initiation */
	bool thin_unheld; /* thin flows send without room even when the urgent queue is full
			     (the daemon holds them: stack/bridge_sched.c); for tests that show why
			   */
	struct ferry_arq_config arq_cfg;
	struct ferry_noise_config noise_cfg;
	struct ferry_link_config link_cfg;
};

struct ferry_linkrig {
	struct ferry_vnet vn;
	/* s[2p] and s[2p + 1] are pair p's A and B: every pair's A sends through the vnet's
	 * A->B way (sharing its bottleneck), every B through B->A. Tests use pair 0 unless
	 * they set npairs to 2 before ferry_linkrig_start. */
	struct ferry_linkrig_side s[FERRY_LINKRIG_MAX_SIDES];
	uint32_t npairs;
	/* taps on A's output: hold back (for reordering) and capture copies */
	size_t held_len[FERRY_LINKRIG_MAX_HOLD];
	size_t captured_len;
	uint64_t misaddressed;
	uint32_t nheld;
	uint8_t held[FERRY_LINKRIG_MAX_HOLD][FERRY_VNET_MAX_DGRAM];
	uint8_t captured[FERRY_VNET_MAX_DGRAM];
	bool hold;
	bool capture;
	bool drop_misaddressed; /* B->A datagrams not sent to A's current address vanish */
	bool hello;		/* the sides announce their instances (see the top) */
	uint64_t starts;	/* side starts so far: each one's instance */
	/* scratch: application reads and writes, and datagrams handed to a link set */
	uint8_t app_buf[65536];
	uint8_t rx_storage[FERRY_VNET_MAX_DGRAM + 64];
	uint8_t inject_storage[FERRY_VNET_MAX_DGRAM + 64];
};

/* Byte `off` of conversation (or datagram flow) conv's pattern. */
uint8_t ferry_linkrig_pattern(uint32_t conv, size_t off);

/* Sets a to ip:port; asserts the address parses. */
void ferry_linkrig_addr_set(struct ferry_sockaddr *a, const char *ip, uint16_t port);

/* True if a and b are the same IPv4 address and port. */
bool ferry_linkrig_addr_same(const struct ferry_sockaddr *a, const struct ferry_sockaddr *b);

/* A rig on a vnet seeded with seed and impaired by a2b and b2a: fresh keys for every side,
 * default ARQ (FAST3, wide windows) and link configurations, side i at 127.0.0.(i+1) port
 * 5001 + i (A at 127.0.0.1:5001, B at 127.0.0.2:5002), one pair, none started. Asserts
 * every step; never returns NULL. */
struct ferry_linkrig *ferry_linkrig_new(uint64_t seed, const struct ferry_vnet_link *a2b,
					const struct ferry_vnet_link *b2a);

/* Starts both sides at the vnet's now. */
void ferry_linkrig_start(struct ferry_linkrig *w);

/* Stops both sides (failing the test if an ARQ pool buffer is missing), frees w. */
void ferry_linkrig_free(struct ferry_linkrig *w);

/* Starts (or restarts) side s at now: its set, its link to the other side, its ARQ pool. */
void ferry_linkrig_side_start(struct ferry_linkrig_side *s, uint64_t now);

/* Stops side s (a process exit): conversations, set and link gone; asserts its ARQ pool
 * is idle. No-op on a stopped side. */
void ferry_linkrig_side_stop(struct ferry_linkrig_side *s);

/* Destroys every conversation of side s. */
void ferry_linkrig_close_convs(struct ferry_linkrig_side *s);

/* Adds conversation conv on side s: it sends `send` bytes and expects `expect`. */
void ferry_linkrig_conv_open(struct ferry_linkrig_side *s, uint32_t conv, size_t send,
			     size_t expect);

/* Both sides of every pair open `n` conversations from id first: A (and C) send a_bytes on
 * each, B (and D) b_bytes. */
void ferry_linkrig_convs_open(struct ferry_linkrig *w, uint32_t first, uint32_t n, size_t a_bytes,
			      size_t b_bytes);

/* Runs both event loops until virtual time `until`, or with stop_when_done until every
 * conversation has sent and received all it should. Returns true if it stopped done (or,
 * without stop_when_done, reached until); fails the test if the loop never settles. */
bool ferry_linkrig_run(struct ferry_linkrig *w, uint64_t until, bool stop_when_done);

/* Asserts side s received every byte it expected on every conversation, none damaged. */
void ferry_linkrig_check_streams(const struct ferry_linkrig_side *s);

/* ARQ retransmissions (RTO and fast) over side s's conversations. */
uint64_t ferry_linkrig_retransmits(const struct ferry_linkrig_side *s);

/* ARQ segments sent over side s's conversations. */
uint64_t ferry_linkrig_segs_sent(const struct ferry_linkrig_side *s);

/* Hands a copy of msg to side s as if it came from `from`; returns the link set's verdict
 * (0 or the negative errno of ferry_link_set_input). */
int ferry_linkrig_inject(struct ferry_linkrig_side *s, const uint8_t *msg, size_t len,
			 const struct ferry_sockaddr *from);

/* Runs a short transfer (conversation FERRY_LINKRIG_CONV_BASE, 64 KiB A->B, 16 KiB B->A)
 * so both sides hold a confirmed session; asserts it completed intact. */
void ferry_linkrig_warm(struct ferry_linkrig *w);

/* Queues a datagram of len pattern bytes on flow on side s; returns
 * ferry_link_send_datagram's result. */
int ferry_linkrig_send_dg(struct ferry_linkrig_side *s, uint32_t flow, size_t len);

#endif
