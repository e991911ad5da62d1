/* SPDX-License-Identifier: MIT */
/*
 * A harness that runs ferry's whole stack in one process: real applications' sockets go
 * into a TUN, through ferry_stack, across a fake transport, out of ferry_egress as real
 * sockets, to real servers, and back. What the applications and servers do is the
 * caller's (tests/support/relay_apps.h, for the tests/test_relay_*.c suites); this harness
 * owns the namespaces, the TUN, the stack, the fake transport, egress and the one epoll
 * loop that drives them (relay.c: namespaces, TUN, loop; relay_transport.c: the fake
 * transport).
 *
 *   namespace A (the client host)       |  namespace B (the peer's network)
 *                                       |
 *   client sockets, 10.8.0.1            |  servers on lo: 10.9.0.6, 10.9.0.7
 *        | route 10.9.0.0/24 -> TUN     |        ^
 *        v                              |        | real sockets, created in B
 *   TUN relay0 <--> ferry_stack <== fake transport ==> ferry_egress
 *
 * A socket stays in the namespace it was created in, so a test enters A
 * (ferry_relay_enter_a: the TUN, its address and route), creates its client sockets
 * there, then enters B (ferry_relay_enter_b: the destination addresses on lo), where its
 * servers listen and egress opens its sockets; the clients' connects, made from B, still
 * leave through A's routes and the TUN. Both namespaces bound the kernel's TCP buffers
 * (tcp_rmem/tcp_wmem), so a test knows how many bytes the whole path can hold.
 *
 * The fake transport stands in for ARQ and link: one relay flow per connection, a ring of
 * 16 KiB per direction (the bytes "in flight"), and backpressure on both
 * APIs; see relay_transport.c. What it saw of each connection is kept in a struct ferry_relay_path,
 * found by the connection's number (ops->conn_of names it from the application's port).
 *
 * Every loop is bounded by a turn limit and a wall-clock budget (times
 * CK_TIMEOUT_MULTIPLIER) and fails the test with what was still pending. Failures are
 * Check assertions: every function here runs inside a Check test.
 *
 * Needs root (namespaces, CAP_NET_ADMIN) and /dev/net/tun: the caller checks first
 * (ferry_relay_available).
 */
#ifndef FERRY_TESTS_RELAY_H
#define FERRY_TESTS_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stack/bridge.h"
#include "stack/egress.h"
#include "stack/stack.h"

#define FERRY_RELAY_CLIENT_ADDR "10.8.0.1"  /* the TUN's address in A */
#define FERRY_RELAY_DST_ADDR_1	"10.9.0.6"  /* on lo in B */
#define FERRY_RELAY_DST_ADDR_2	"10.9.0.7"  /* on lo in B */
#define FERRY_RELAY_NO_ROUTE	"10.9.0.99" /* routed into the TUN in A, unroutable in B */

enum {
	FERRY_RELAY_SKIP = 77,	     /* exit status: the machine cannot run the harness */
	FERRY_RELAY_CONNS_MAX = 100, /* connections with a path of their own */
	FERRY_RELAY_FD_MAX = 1024,   /* fds at or above this cannot be watched */
};

/* What the fake transport saw on one connection. */
struct ferry_relay_path {
	unsigned stack_short_takes, egress_short_sends, egress_sendables, stack_writables;
	unsigned egress_short_takes, stack_short_sends, stack_sendables, egress_writables;
	bool up_pressure;   /* at once: a short take from the stack, a short send to egress */
	bool down_pressure; /* at once: a short take from egress, a short send to the stack */
	bool peer_first;    /* the destination's FIN reached the stack before the application's */
	bool stack_ended, egress_ended;
	int stack_reason, egress_reason;
};

struct ferry_relay_counters {
	unsigned tun_write_errors;     /* ferry_tun_write failures */
	unsigned opened;	       /* relay flows ever opened (TCP and UDP) */
	unsigned live_flows;	       /* relay flows in use now */
	unsigned pings_forwarded;      /* echo requests the stack handed to egress */
	unsigned ping_replies_relayed; /* echo replies egress handed to the stack */
};

/* The caller's side of the loop; ctx is the one given to ferry_relay_new. */
struct ferry_relay_ops {
	/* The connection (0..FERRY_RELAY_CONNS_MAX-1) whose application socket is src, or -1. */
	int (*conn_of)(void *ctx, const struct ferry_endpoint *src);
	/* Once per turn, after the transport moved and before the loop waits for events. */
	void (*turn)(void *ctx);
	/* events (EPOLL*) on fd, watched by ferry_relay_watch with this kind and index. */
	void (*io)(void *ctx, int fd, uint32_t kind, uint32_t index, uint32_t events);
	/* Writes what the caller still waits for into buf (NUL-terminated), for a failure. */
	void (*describe)(void *ctx, char *buf, size_t size);
};

struct ferry_relay;

/* Whether this process can run the harness: root and /dev/net/tun. If not, a suite exits
 * FERRY_RELAY_SKIP, which CTest reports as skipped -- not as passed. */
bool ferry_relay_available(void);

/* A relay with its epoll fd and nothing else; fails the test if it cannot be made. */
struct ferry_relay *ferry_relay_new(const struct ferry_relay_ops *ops, void *ctx);

/* Unshares into namespace A and sets up the TUN, its address, route and queue. */
void ferry_relay_enter_a(struct ferry_relay *r);

/* Unshares into namespace B: lo up, the two destination addresses on it. */
void ferry_relay_enter_b(void);

/* In B, after A's sockets exist: creates the stack and egress and watches the TUN. */
void ferry_relay_start(struct ferry_relay *r);

/* The WAN between the two bridges of a bridged relay: one-way delay and random loss each
 * way, from a seed. */
struct ferry_relay_wan {
	uint32_t delay_ms;
	double loss; /* 0..1 */
	uint64_t seed;
	uint32_t buffers;   /* each bridge's segment buffers (arq_buffers); 0: 8192 */
	uint32_t linger_ms; /* each bridge's linger_ms; 0: the default */
	bool backed_up;	    /* bridge A's link has no room, ahead of bulk or not (the room
			       and urgent_room ops say 0), until ferry_relay_unblock */
};

/* Bridge A's link takes what it is given again (see backed_up). */
void ferry_relay_unblock(struct ferry_relay *r);

/* In B, after A's sockets exist, instead of ferry_relay_start: the stack and egress
 * joined as two ferries join them, by two bridges (stack/bridge.h) speaking the flow
 * protocol across an in-memory WAN (relay_bridge.c). The secure link is left out. */
void ferry_relay_start_bridged(struct ferry_relay *r, const struct ferry_relay_wan *wan);

/* Whether the relay runs bridged. Connection paths then record the stack's side only
 * (egress's is checked by its totals). */
bool ferry_relay_bridged(const struct ferry_relay *r);

/* A bridged relay's bridge of side 0 (the stack's) or 1 (egress's), and its WAN counts
 * from that side: messages sent and lost. */
const struct ferry_bridge_stats *ferry_relay_bridge_stats(const struct ferry_relay *r, int side);
/* Flushes of the stack's side after which application bytes it took that turn had not
 * left for the WAN (the ARQ held them back). */
uint64_t ferry_relay_bridge_held(const struct ferry_relay *r);
/* ... and the stats of that side's one peer (the other side). */
void ferry_relay_bridge_peer_stats(const struct ferry_relay *r, int side,
				   struct ferry_bridge_peer_stats *out);
void ferry_relay_wan_counts(const struct ferry_relay *r, int side, uint64_t *sent, uint64_t *lost);

/* Destroys the stack (its flows' ends reach egress), egress, the TUN and the loop. The
 * caller closed its own fds first (ferry_relay_close). */
void ferry_relay_free(struct ferry_relay *r);

/* Runs the loop until done(ctx), within the turn limit and wall-clock budget; past them
 * fails the test with what (and ops->describe) as the message. */
void ferry_relay_run(struct ferry_relay *r, bool (*done)(const void *ctx), const char *what);

/* Watches fd (below FERRY_RELAY_FD_MAX) for events, replacing what it watched for;
 * ops->io gets kind and index back. */
void ferry_relay_watch(struct ferry_relay *r, int fd, uint32_t kind, uint32_t index,
		       uint32_t events);

/* Unwatches (if watched) and closes *fd, then sets it to -1; nothing if it is -1. */
void ferry_relay_close(struct ferry_relay *r, int *fd);

/* What the transport saw of connection conn; conn -1: of flows of no known connection. */
const struct ferry_relay_path *ferry_relay_path(const struct ferry_relay *r, int conn);

/* Whether connection conn's live relay flow holds a short take from the stack (the
 * application's bytes wait in the stack); false if it has no live flow. */
bool ferry_relay_up_stalled(const struct ferry_relay *r, int conn);

/* The harness's own counters. */
const struct ferry_relay_counters *ferry_relay_counters(const struct ferry_relay *r);

/* The stack's and egress's statistics (after ferry_relay_start). */
const struct ferry_stack_stats *ferry_relay_stack_stats(const struct ferry_relay *r);
const struct ferry_egress_stats *ferry_relay_egress_stats(const struct ferry_relay *r);

/* CLOCK_MONOTONIC in milliseconds. */
uint64_t ferry_relay_clock_ms(void);

/* Writes value to the sysctl file path in the current namespace; fails the test if not. */
void ferry_relay_sysctl_set(const char *path, const char *value);

#endif
