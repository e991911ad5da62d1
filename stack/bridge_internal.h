/* SPDX-License-Identifier: MIT */
/*
 * Bridge internals, shared by bridge.c (the owner, peers, the tables of conversations and
 * datagram flows, ids, instances, datagram dispatch), bridge_sched.c (when conversations
 * run: the deadline heap, the dirty list, the wait queues, timers and the end of a turn),
 * bridge_tcp.c (conversations: frames both ways, the stack's and egress's TCP callbacks)
 * and bridge_udp.c (datagram flows and echo, and their callbacks); not an API. See bridge.h for how
 * the bridge works.
 */
#ifndef FERRY_STACK_BRIDGE_INTERNAL_H
#define FERRY_STACK_BRIDGE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "stack/bridge.h"
#include "transport/flowmsg.h"
#include "transport/pool.h"

#define BR_NIL UINT32_MAX

/* A conversation that heard nothing from the peer this long asks for its window (and
 * again each time as long): a peer that lost it -- its TCP_RESET, a datagram, lost on the
 * way -- answers TCP_UNKNOWN, and the conversation ends instead of waiting out idle_ms. */
#define BR_PROBE_MS 30000

/* An end offered room again once this many segments' worth fit (no ping-pong per byte),
 * or half its share of the pool if that is less (bridge_tcp.c). */
#define WRITABLE_SEGMENTS 16

/* A window of recently opened ids of the peer's side, so that a late duplicate of an
 * opening never opens a flow twice: ids at or below base are old, bits mark those seen.
 * Wide enough for every OPEN still worth taking: the opener's stack gives up after 15 s,
 * and 65,536 ids are 15 s of 4,000 new flows a second (8 KiB per peer). 4,096 were too
 * few: with ten thousand flows, OPENs a few seconds late fell behind and their
 * connections were aborted (docs/soak.md). */
enum {
	BR_SEEN_BITS = 65536
};
struct br_seen {
	uint32_t base;
	uint64_t bits[BR_SEEN_BITS / 64];
};

/* The two queues a conversation may wait in, first come, first served: for segment buffers
 * (the bridge's, ferry_bridge_conv_wait) and for its link's room (its peer's: a
 * conversation with data but no credit, run again as the pacer drains, in turn). */
enum br_queue {
	BR_WAIT_POOL,
	BR_WAIT_ROOM,
	BR_QUEUES
};

/* A queue of conversations by slot, linked through their br_node of that queue. */
struct br_list {
	uint32_t head, tail; /* BR_NIL when empty */
	uint32_t n;
};

struct br_node {
	uint32_t prev, next;
	bool on;
};

struct ferry_bridge_peer {
	struct ferry_bridge *b;
	struct ferry_bridge_peer *next;
	void *link;
	void *user;
	uint32_t side;	   /* FERRY_FLOW_ID_SIDE or 0: the top bit of the ids this side picks */
	uint32_t next_tcp; /* the next conversation id this side picks (low 31 bits) */
	uint32_t next_udp;
	uint64_t instance;	     /* the peer's, 0 until heard */
	struct br_seen seen;	     /* the peer's conversation ids seen lately */
	struct br_list room_waiters; /* BR_WAIT_ROOM: its conversations out of credit */
	struct ferry_bridge_peer_stats stats;
};

/* Which end of the flow is ours: the stack (this side opened it) or egress (the peer). */
enum br_role {
	BR_OPENER,
	BR_ACCEPTOR,
};

/*
 * A conversation's state (docs/wire-format.md draws it).
 *   OPENING     opener: OPEN sent, the application's SYN held, waiting for RESULT
 *   CONNECTING  acceptor: egress connecting to the destination
 *   OPEN        RESULT crossed with success: data both ways (tx and rx say how far)
 *   FAILED      RESULT crossed with a failure: only the FINs are left to exchange
 * Each direction has its own small state: what we send (tx) and what we receive (rx).
 * Once the end is gone (end_gone) and both FINs crossed and everything sent was
 * acknowledged, the conversation is reclaimed.
 */
enum br_state {
	BR_OPENING,
	BR_CONNECTING,
	BR_OPEN,
	BR_FAILED,
};

enum br_tx {
	BR_TX_OPEN,
	BR_TX_FIN_OWED, /* the end finished: our FIN goes once the queue has room */
	BR_TX_FIN_SENT,
};

enum br_rx {
	BR_RX_HEADER,  /* reading a frame header (hdr_have bytes of it so far) */
	BR_RX_CONTROL, /* reading an OPEN or RESULT body into ctl */
	BR_RX_DATA,    /* inside a DATA body: rx_left bytes to go */
	BR_RX_FIN,     /* the peer's FIN came: nothing more */
};

struct br_conv {
	struct ferry_bridge_peer *peer;
	uint32_t conv; /* the conversation id, 0: slot free */
	uint32_t hnext;
	uint32_t heap;			 /* index + 1 in the deadline heap, 0: not in it */
	uint32_t dirty_prev, dirty_next; /* on the dirty list (BR_NIL at its ends) */
	uint32_t dirty_turn;		 /* the turn it was touched in */
	struct br_node wait[BR_QUEUES];	 /* its places in the queues it waits in */
	uint8_t role;			 /* enum br_role */
	uint8_t state;			 /* enum br_state */
	uint8_t tx;			 /* enum br_tx */
	uint8_t rx;			 /* enum br_rx */
	bool dirty;			 /* touched this turn: its ARQ runs at the flush */
	bool room_turn;	   /* woken from its link's room queue: its turn to take room */
	bool pool_turn;	   /* woken from the pool's queue: its turn to take buffers, until
			      its end is told "later" or its next run */
	bool pool_woken;   /* ... and not run since (bridge->pool_woken counts these) */
	bool push;	   /* the end gave bytes this turn: send them at the flush */
	bool end_gone;	   /* the stack flow or egress flow ended */
	bool tx_blocked;   /* the end was told "later": tcp_writable owed */
	bool rx_blocked;   /* the end took less than offered: waiting for its sendable */
	bool heard;	   /* the peer's first frame (OPEN or RESULT) was read */
	bool doomed;	   /* to be reset at the next run (decided inside an end's call) */
	bool peer_done;	   /* the peer reclaimed it with everything acknowledged: what the
			      ARQ holds (the peer's FIN last) goes to the end, then it ends */
	uint8_t doom_code; /* enum ferry_flow_code for the TCP_RESET then */
	uint8_t hdr_have;
	uint8_t hdr[FERRY_FRAME_HDR_LEN];
	uint8_t ctl_type;
	uint16_t ctl_have, ctl_len;
	uint8_t ctl[FERRY_FRAME_OPEN_MAX];
	uint16_t rx_left;
	uint64_t peer_instance;
	uint64_t deadline;
	uint64_t last_active;
	uint64_t last_heard;	  /* the peer's last segment (or the start) */
	uint64_t end_ms;	  /* linger's start: when end_gone became true, or the
				     latest progress since (ferry_bridge_tcp_input) */
	struct ferry_flow *sflow; /* opener: the stack's flow while it lives */
	struct ferry_arq *arq;
};

/* A datagram flow. */
enum br_udp_state {
	BR_UDP_OPENING, /* opener: sending UDP_OPEN until UDP_ACCEPT */
	BR_UDP_OPEN,
};

struct br_udp {
	struct ferry_bridge_peer *peer;
	uint32_t id; /* the flow id, 0: slot free */
	uint32_t hnext;
	uint8_t role;  /* enum br_role */
	uint8_t state; /* enum br_udp_state */
	uint64_t peer_instance;
	struct ferry_flow *sflow;  /* opener: the stack's flow */
	struct ferry_endpoint dst; /* the flow's destination */
};

struct ferry_bridge {
	struct ferry_bridge_config cfg;
	const struct ferry_bridge_ops *ops;
	void *ctx;
	struct ferry_stack *stack;
	struct ferry_egress *egress;
	uint64_t now;
	uint64_t instance;
	struct ferry_wire_sizes sizes; /* the links': ARQ mtu and MSS, datagram-channel room */
	struct ferry_pool pool;	       /* ARQ segments of every conversation */
	struct ferry_bridge_peer *peers;

	struct br_conv *convs; /* cfg.max_convs slots; an egress TCP id is a slot index */
	uint32_t conv_free, nconvs;
	uint32_t *conv_buckets;
	uint32_t conv_mask;
	struct br_udp *udps; /* cfg.max_udp slots; an egress UDP id is a slot index */
	uint32_t udp_free, nudps;
	uint32_t *udp_buckets;
	uint32_t udp_mask;

	uint32_t *heap; /* conversation slots by deadline */
	uint32_t nheap;
	uint32_t dirty_head, dirty_tail; /* conversations touched, oldest first */
	struct br_list pool_waiters;	 /* BR_WAIT_POOL: waiting for segment buffers */
	uint32_t pool_woken;		 /* woken from it, not run yet: others wait for them */
	uint32_t room_waiting;		 /* conversations in the peers' room queues */
	uint32_t turn;			 /* flushes so far */

	uint8_t scratch[FERRY_FRAME_HDR_LEN + 65536]; /* one message being built */
	struct ferry_bridge_stats stats;
};

/* ---- bridge.c ------------------------------------------------------------------------ */

static inline uint32_t br_conv_slot(const struct ferry_bridge *b, const struct br_conv *c)
{
	return (uint32_t)(c - b->convs);
}

static inline uint32_t br_udp_slot(const struct ferry_bridge *b, const struct br_udp *u)
{
	return (uint32_t)(u - b->udps);
}

/* The conversation conv of peer, or NULL. */
struct br_conv *ferry_bridge_conv_find(struct ferry_bridge_peer *peer, uint32_t conv);
/* A fresh conversation slot in the table (ARQ made, counted), or NULL (full, no memory). */
struct br_conv *ferry_bridge_conv_new(struct ferry_bridge_peer *peer, uint32_t conv,
				      enum br_role role);
/* Destroys the ARQ and frees the slot (the end must be gone or never have existed). */
void ferry_bridge_conv_free(struct br_conv *c);
struct br_udp *ferry_bridge_udp_find(struct ferry_bridge_peer *peer, uint32_t id);
struct br_udp *ferry_bridge_udp_new(struct ferry_bridge_peer *peer, uint32_t id, enum br_role role);
void ferry_bridge_udp_free(struct br_udp *u);

/* The next id this side picks for the peer (TCP or UDP). */
uint32_t ferry_bridge_next_id(struct ferry_bridge_peer *peer, bool tcp);
/* Whether conversation id is the peer's to pick, and new: then it is marked seen. */
bool ferry_bridge_id_fresh(struct ferry_bridge_peer *peer, uint32_t id);

/* The peer said its instance (HELLO, OPEN, RESULT, ACCEPT): a change resets the flows
 * of its old one. */
void ferry_bridge_peer_instance(struct ferry_bridge_peer *peer, uint64_t instance);

/* Sends one datagram-channel message built from m to the peer. Returns 0 or -errno. */
int ferry_bridge_send_dg(struct ferry_bridge_peer *peer, uint32_t id,
			 const struct ferry_flowmsg_dg *m);

/* ---- bridge_sched.c ------------------------------------------------------------------ */

/* Marks the conversation touched: its ARQ runs at the flush. */
void ferry_bridge_conv_dirty(struct br_conv *c);
/* Takes c off the list of those touched this turn (it is freed). */
void ferry_bridge_dirty_remove(struct br_conv *c);
/* Queues c in q, at the tail, unless it is there already. BR_WAIT_POOL: c cannot write
 * (its end is blocked, or its FIN owed) and has nothing of its own in flight whose
 * acknowledgement would run it again, so it waits for buffers others free; or there are
 * buffers for it, but others waited first (bridge_tcp.c). BR_WAIT_ROOM:
 * c has data its link had no room for. The wake-ups are at the end of each flush. */
void ferry_bridge_conv_wait(struct br_conv *c, enum br_queue q);
/* Takes c out of q, if it is in it. */
void ferry_bridge_conv_unwait(struct br_conv *c, enum br_queue q);
/* c ran since it was woken from the pool's queue (its turn is no longer pending). */
void ferry_bridge_conv_ran(struct br_conv *c);
/* Sets the conversation's deadline in the heap (UINT64_MAX: out of it). */
void ferry_bridge_conv_schedule(struct br_conv *c, uint64_t deadline);

/* ---- bridge_tcp.c -------------------------------------------------------------------- */

/* Segments of a conversation this side does not know: an OPEN makes one, anything else
 * is answered with TCP_UNKNOWN. */
void ferry_bridge_tcp_unknown_segments(struct ferry_bridge_peer *peer, uint32_t conv,
				       const uint8_t *segs, size_t len);
/* The ARQ ran: handles its error, output room, reclaiming. Returns false if c was freed. */
bool ferry_bridge_tcp_after_arq(struct br_conv *c);
/* Feeds segments to a known conversation and delivers what became readable. */
void ferry_bridge_tcp_input(struct br_conv *c, const uint8_t *segs, size_t len);
/* TCP_RESET / TCP_UNKNOWN from the peer for conversation c. */
void ferry_bridge_tcp_reset_in(struct br_conv *c, uint8_t code);
void ferry_bridge_tcp_unknown_in(struct br_conv *c);
/* Ends the conversation now: the end is reset (if still there), TCP_RESET (with code)
 * is sent when tell, and the slot freed. */
void ferry_bridge_tcp_abort(struct br_conv *c, uint8_t code, bool tell);
/* Whether a waiting conversation could write now what it waits to write (its FIN, or
 * enough for its end to be offered room). */
bool ferry_bridge_tcp_can_write(const struct br_conv *c);
/* The conversation's timer: idle, linger. Returns false if c was freed. */
bool ferry_bridge_tcp_timer(struct br_conv *c);
/* The deadline of c beyond its ARQ's (idle, linger). */
uint64_t ferry_bridge_tcp_deadline(const struct br_conv *c);

/* ---- bridge_udp.c -------------------------------------------------------------------- */

/* A datagram-channel message of a UDP flow or an echo (types UDP_*, ECHO_*). */
void ferry_bridge_udp_message(struct ferry_bridge_peer *peer, uint32_t id,
			      const struct ferry_flowmsg_dg *m);
/* Ends a datagram flow (its end closed silently if still there). */
void ferry_bridge_udp_abort(struct br_udp *u);

/* The stack's and egress's UDP and echo callbacks, for the ops tables in bridge_tcp.c. */
int ferry_bridge_udp_open_cb(void *ctx, struct ferry_flow *flow, const struct ferry_endpoint *src,
			     const struct ferry_endpoint *dst);
void ferry_bridge_udp_datagram_cb(void *ctx, struct ferry_flow *flow, const uint8_t *data,
				  size_t len);
void ferry_bridge_udp_closed_cb(void *ctx, struct ferry_flow *flow);
int ferry_bridge_icmp_echo_cb(void *ctx, const struct ferry_endpoint *src,
			      const struct ferry_endpoint *dst, uint16_t seq, const uint8_t *data,
			      size_t len);
void ferry_bridge_eg_udp_datagram_cb(void *ctx, uint32_t id, const struct ferry_endpoint *from,
				     const uint8_t *data, size_t len);
void ferry_bridge_eg_udp_closed_cb(void *ctx, uint32_t id);
void ferry_bridge_eg_icmp_reply_cb(void *ctx, const struct ferry_endpoint *app,
				   const struct ferry_endpoint *from, uint16_t seq,
				   const uint8_t *data, size_t len, uint32_t rtt_ms);

#endif
