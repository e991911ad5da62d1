/* SPDX-License-Identifier: MIT */
/*
 * Egress internals, shared by egress.c (config, create/destroy, the flow table and its
 * hash, the connect FIFO and UDP LRU, watches, sockets, io dispatch and timers),
 * egress_tcp.c (connect, relay, half-close, reset) and egress_udp.c (UDP flows and the
 * ping sockets); not an API. It holds the egress's state and names only what crosses
 * files. See egress.c for how egress works.
 */
#ifndef FERRY_STACK_EGRESS_INTERNAL_H
#define FERRY_STACK_EGRESS_INTERNAL_H

#include <sodium.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "stack/egress.h"

#define NIL	     UINT32_MAX
#define SCRATCH_SIZE 65536 /* one read: a TCP chunk or a whole datagram */
#define PING_COOKIE4 ((uint64_t)0xfffffffe)
#define PING_COOKIE6 ((uint64_t)0xffffffff)

enum egress_state {
	EG_FREE,
	EG_CONNECTING,
	EG_OPEN, /* TCP established; see rx and tx */
	EG_UDP,
};

enum egress_rx {
	RX_OPEN,
	RX_PAUSED,
	RX_DONE,
};

enum egress_tx {
	TX_OPEN,
	TX_BLOCKED,
	TX_DONE,
};

struct egress_flow {
	uint32_t id;
	uint32_t gen;	     /* bumped when the slot is freed; high half of the cookie */
	uint32_t hash_next;  /* next slot in the bucket, or NIL */
	uint32_t prev, next; /* connect FIFO or UDP LRU (or free list through next) */
	int fd;
	uint8_t state; /* enum egress_state */
	uint8_t rx;    /* enum egress_rx */
	uint8_t tx;    /* enum egress_tx */
	bool watched;
	uint32_t events; /* mask last given to ops->watch */
	int err;	 /* a send error, reported when the socket hangs up */
	uint64_t time;	 /* connect deadline, or UDP last activity */
	struct ferry_endpoint dst;
};

struct egress_list {
	uint32_t head, tail;
};

struct egress_ping {
	bool used;
	uint16_t wire_seq;
	uint16_t seq;
	uint64_t sent;
	struct ferry_endpoint app;
	struct ferry_endpoint dst;
};

struct ferry_egress {
	struct ferry_egress_config cfg;
	struct ferry_policy policy;
	const struct ferry_egress_ops *ops;
	void *ctx;
	struct egress_flow *flows;
	uint32_t *buckets;
	uint32_t bucket_mask;
	uint32_t free_head;
	struct egress_list connecting;
	struct egress_list udp_lru;
	uint8_t hash_key[crypto_shorthash_KEYBYTES];
	int ping_fd[2]; /* IPv4, IPv6; -1 until first use */
	uint16_t ping_seq;
	struct egress_ping pings[FERRY_EGRESS_PINGS_MAX];
	struct ferry_egress_stats stats;
	uint8_t rx_buf[SCRATCH_SIZE]; /* what is read, handed to ops during the call */
	uint8_t tx_buf[SCRATCH_SIZE]; /* echo requests built here */
};

static inline bool family_ok(const struct ferry_endpoint *ep)
{
	return ep && (ep->family == AF_INET || ep->family == AF_INET6);
}

static inline uint32_t index_of(const struct ferry_egress *eg, const struct egress_flow *f)
{
	return (uint32_t)(f - eg->flows);
}

/* The watch cookie of f: (generation << 32 | slot index). */
static inline uint64_t cookie_of(const struct ferry_egress *eg, const struct egress_flow *f)
{
	return (uint64_t)f->gen << 32 | index_of(eg, f);
}

/* True while f is the flow it was when its generation was gen (a callback may end it). */
static inline bool still(const struct egress_flow *f, uint32_t gen)
{
	return f->gen == gen && f->state != EG_FREE;
}

/* ---- egress.c ---------------------------------------------------------------------- */

/* True when the policy allows proto to ep; a denial is counted in stats.denied. */
bool ferry_egress_allowed(struct ferry_egress *eg, uint8_t proto, const struct ferry_endpoint *ep);

/* The flow (proto FERRY_FLOW_TCP or FERRY_FLOW_UDP, id), or NULL. */
struct egress_flow *ferry_egress_find(struct ferry_egress *eg, uint8_t proto, uint32_t id);

/* Appends f to the tail of l (the connect FIFO or the UDP LRU). */
void ferry_egress_list_append(struct ferry_egress *eg, struct egress_list *l,
			      struct egress_flow *f);

/* Unlinks f from l. */
void ferry_egress_list_remove(struct ferry_egress *eg, struct egress_list *l,
			      struct egress_flow *f);

/* Takes a free slot for (proto, id) with socket fd in state EG_CONNECTING (appended to
 * the connect FIFO) or EG_UDP (to the LRU); counts the flow. NULL when the table is full. */
struct egress_flow *ferry_egress_slot_take(struct ferry_egress *eg, uint8_t proto, uint32_t id,
					   int fd, uint8_t state);

/* Unwatches and closes the flow's socket (with an RST if `abort`) and frees its slot. */
void ferry_egress_release(struct ferry_egress *eg, struct egress_flow *f, bool abort);

/* Tells the owner what to watch for f now; unwatches a paused flow that can only wait. */
void ferry_egress_update_watch(struct ferry_egress *eg, struct egress_flow *f);

/* A nonblocking socket of type for dst with the egress's mark and, in transparent mode,
 * bound to src. Returns the fd or a negative errno. */
int ferry_egress_open_socket(struct ferry_egress *eg, int type, const struct ferry_endpoint *src,
			     const struct ferry_endpoint *dst);

/* ---- egress_tcp.c ------------------------------------------------------------------ */

/* Readiness of a CONNECTING flow: it opens (ops->tcp_connected) or fails (tcp_failed). */
void ferry_egress_tcp_connect_done(struct ferry_egress *eg, struct egress_flow *f, uint32_t events);

/* Readiness of an OPEN flow: errors and hang-ups, bytes to read, send space again. */
void ferry_egress_tcp_io(struct ferry_egress *eg, struct egress_flow *f, uint32_t events);

/* ---- egress_udp.c ------------------------------------------------------------------ */

/* Reads up to FERRY_EGRESS_READ_BATCH datagrams of a UDP flow and hands them out. */
void ferry_egress_udp_io(struct ferry_egress *eg, struct egress_flow *f, uint64_t now);

/* Reads up to FERRY_EGRESS_READ_BATCH echo replies of ping socket slot (0 IPv4, 1 IPv6). */
void ferry_egress_ping_io(struct ferry_egress *eg, int slot, uint64_t now);

/* One datagram read from ping socket slot: n bytes at msg (the ICMP header on), from the
 * address src (a sockaddr_storage's worth). A reply to a remembered request goes to
 * ops->icmp_reply; anything else is counted in stats.ping_unmatched. The bytes are the
 * internet's: tests/fuzz/fuzz_egress_ping.c feeds them. */
void ferry_egress_ping_reply(struct ferry_egress *eg, int slot, const uint8_t *msg, size_t n,
			     const struct sockaddr *src, uint64_t now);

#endif
