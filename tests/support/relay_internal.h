/* SPDX-License-Identifier: MIT */
/*
 * The relay harness's own header, shared by its two halves and by nothing else (suites
 * include tests/support/relay.h): relay.c runs the namespaces, the TUN and the epoll loop;
 * relay_transport.c is the fake transport between ferry_stack and ferry_egress, the two
 * modules' callbacks included. Both work on the one struct ferry_relay defined here.
 *
 * The loop calls the transport once per turn (ferry_relay_transport_turn) and gives the
 * stack and egress its ops tables; the transport asks the loop to watch egress's fds
 * (ferry_relay_egress_watch) and writes the stack's packets to r->tun.
 */
#ifndef FERRY_TESTS_RELAY_INTERNAL_H
#define FERRY_TESTS_RELAY_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stack/bridge.h"
#include "stack/egress.h"
#include "stack/stack.h"
#include "tests/support/relay.h"
#include "tun/tun.h"

#define FERRY_RELAY_WINDOW ((size_t)16 << 10) /* bytes in flight per direction per flow */
#define FERRY_RELAY_FLOWS  128		      /* relay flows at once, TCP and UDP */

/* One fd the loop polls. Its generation goes into epoll's data, so an event of an fd
 * that was closed (and its number reused) in the same batch is recognised as stale. */
struct ferry_relay_slot {
	bool used;
	uint8_t owner; /* who handles its events (relay.c's enum owner) */
	uint32_t gen;
	uint32_t kind, index; /* the caller's */
	uint64_t cookie;      /* egress's */
};

struct ferry_relay_ring {
	uint8_t buf[FERRY_RELAY_WINDOW];
	size_t head, len;
};

/* One flow of the fake transport. Callbacks only record; ferry_relay_transport_turn acts. */
struct ferry_relay_flow {
	bool used, udp;
	uint32_t id;
	int conn; /* ops->conn_of of the application's socket, -1 if none */
	struct ferry_flow *sflow;
	bool stack_alive, egress_alive, egress_open;
	bool open_pending, connected_pending;
	int failed_pending;
	bool reset_to_egress, reset_to_stack;
	struct ferry_endpoint src, dst;
	/* up: application to destination; down: back. stalled: a short take from the
	 * sender's side, whose writable call is owed; blocked: a short send to the receiver's
	 * side, waiting for its tcp_sendable; eof: the sender's FIN, to pass on after the ring */
	struct ferry_relay_ring up, down;
	bool up_stalled, up_blocked, up_eof, up_eof_sent;
	bool down_stalled, down_blocked, down_eof, down_eof_sent;
};

struct ferry_relay_bridged; /* relay_bridge.c */

struct ferry_relay {
	const struct ferry_relay_ops *ops;
	void *ctx;
	struct ferry_stack *stack;
	struct ferry_egress *egress;
	struct ferry_tun tun;
	int ep;
	uint64_t now, budget_ms;
	struct ferry_relay_slot slots[FERRY_RELAY_FD_MAX];
	struct ferry_relay_flow flows[FERRY_RELAY_FLOWS];
	/* [FERRY_RELAY_CONNS_MAX]: flows of no known connection */
	struct ferry_relay_path paths[FERRY_RELAY_CONNS_MAX + 1];
	struct ferry_relay_counters count;
	/* bridged mode (relay_bridge.c): two bridges instead of the fake transport; the
	 * bridges' contexts point at these, whose index is the side */
	struct ferry_relay_bridged *bridged;
	struct ferry_relay *bridged_ctx[2];
	uint8_t pkt[65536];
};

/* The transport's callbacks for ferry_stack_create and ferry_egress_create (ctx: r). */
extern const struct ferry_stack_ops ferry_relay_stack_ops;
extern const struct ferry_egress_ops ferry_relay_egress_ops;

/* Runs every TCP relay flow once; frees those whose both sides ended. Returns whether
 * anything moved (then the loop does not sleep). */
bool ferry_relay_transport_turn(struct ferry_relay *r);

/* Watches fd for egress (FERRY_EGRESS_READ/WRITE in events), replacing what it watched
 * for; its events go to ferry_egress_io with cookie. Fails the test if it cannot. */
void ferry_relay_egress_watch(struct ferry_relay *r, int fd, uint32_t events, uint64_t cookie);

/* Stops watching fd, which must be watched. */
void ferry_relay_unwatch(struct ferry_relay *r, int fd);

/* relay_bridge.c: makes the stack, egress and the two bridges joined by the WAN. */
void ferry_relay_bridged_create(struct ferry_relay *r, const struct ferry_relay_wan *wan,
				struct ferry_stack_config *scfg, struct ferry_egress_config *ecfg);
/* Delivers what is due on the WAN and runs the bridges' timers; true if anything moved. */
bool ferry_relay_bridged_turn(struct ferry_relay *r);
/* The end of a turn: the bridges' flush, the stack's. */
void ferry_relay_bridged_flush(struct ferry_relay *r);
/* The earliest of the bridges' deadlines and the WAN's next delivery. */
uint64_t ferry_relay_bridged_deadline(const struct ferry_relay *r);
/* Destroys the stack, egress and the bridges, in that order, and the WAN. */
void ferry_relay_bridged_free(struct ferry_relay *r);

#endif
