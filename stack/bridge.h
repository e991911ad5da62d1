/* SPDX-License-Identifier: MIT */
/*
 * The bridge: where a flow meets the link. On the side where flows begin, a stack flow
 * (stack/stack.h) becomes an ARQ conversation (TCP) or a flow on the datagram channel (UDP,
 * ICMP echo) toward the peer that cryptokey routing picks; on the side where they end, a
 * conversation or datagram flow from a peer becomes an egress socket (stack/egress.h). A
 * ferry is usually both: each peer may open flows toward the other.
 *
 * Theory of operation. The bridge speaks the flow protocol of transport/wire.h (codec in
 * transport/flowmsg.h):
 *
 * - TCP. The opener picks a conversation id (the top bit by key order, so the two sides
 *   never collide; counted up, never reused) and writes an OPEN frame as the
 *   conversation's first bytes; the application's SYN stays held in the stack. The far
 *   side, seeing segments of an unknown conversation whose sn 0 holds an OPEN, checks the
 *   id has not been seen (a window of recent ids per peer: a late duplicate never opens a
 *   flow twice), the source against the peer's AllowedIPs (ops->source_ok), and asks
 *   egress to connect; its RESULT frame (after the connect, or a failure code followed by
 *   FIN) releases the SYN or turns into an RST or ICMP unreachable. Then DATA frames carry
 *   the bytes and a FIN frame each side's half-close, in order with the data. A reset
 *   leaves at once, out of band (TCP_RESET on the datagram channel): a stalled reader
 *   must not hold it up. A conversation is reclaimed once both FINs crossed, its end is
 *   done and everything it sent was acknowledged; a segment for a conversation the
 *   receiver no longer knows is answered with TCP_UNKNOWN, which ends a flow that was
 *   done anyway cleanly and resets one that was not.
 * - UDP. A datagram flow's first datagrams go as UDP_OPEN (endpoints and bytes) until
 *   the far side answers UDP_ACCEPT; then as UDP (bytes only). Replies from another
 *   source than the flow's destination carry it (UDP_FROM). A refusal closes the
 *   application's flow with an ICMP error. Idle flows end on each side by its own timer
 *   (the stack's, egress's); a datagram for a flow the far side forgot gets UDP_UNKNOWN
 *   and the next one is sent as UDP_OPEN again.
 * - ICMP echo crosses as ECHO_REQUEST and comes back as ECHO_REPLY from a real echo.
 * - Each ferry process draws a random instance number at start and announces it (HELLO)
 *   when a link comes up, and in every OPEN and RESULT. A peer whose instance changed
 *   restarted: every flow of its old instance is reset at once.
 *
 * Backpressure. Toward the peer, a flow's bytes are taken only as far as its
 * conversation's send queue and its share of the segment pool all conversations share
 * have room (ferry_arq_send_space; transport/arq.h says how the pool is shared: data
 * leaves a quarter for receiving and control frames, each sending flow gets an equal part
 * of the rest); it is offered again (tcp_writable) when acknowledgements free room. A
 * conversation blocked with nothing of its own in flight -- no acknowledgement of its
 * own would ever run it again -- waits on the bridge's wait list, and the buffers others
 * free go to the longest waiting at the end of each flush. From the peer, received bytes
 * stay in the conversation until the end (stack or egress) takes them; the ARQ's receive
 * window then closes and the sender stops. So a flow holds at most its ARQ windows, and
 * all flows together at most the pool.
 *
 * Liveness. The peer's TCP_RESET travels as a datagram and can be lost; a conversation
 * that heard nothing from the peer for BR_PROBE_MS asks for its window, so a peer that no
 * longer knows it answers TCP_UNKNOWN and it ends, instead of waiting out the idle reset.
 *
 * Driving it. Conversations do no I/O: received segments and datagrams come in through
 * ferry_bridge_segments/_datagram (the link's callbacks), timers through
 * ferry_bridge_timer/_next_deadline (the conversations' deadlines in one heap), and
 * ferry_bridge_flush ends an event-loop turn: every conversation touched in the turn
 * runs its ARQ once (ACKs and data of a turn leave together), blocked ends are offered
 * room again, finished conversations are reclaimed. Output leaves through ops (the
 * peer's link). Nothing here reads a clock.
 *
 * Lifetimes. The bridge owns its conversations and datagram flows; it does not own the
 * stack, egress or links it is wired to. Its stack and egress ops take it as their
 * context (ferry_bridge_stack_ops, ferry_bridge_egress_ops). A peer is added with its
 * link and removed (every flow of it reset) before the link goes. Callbacks of the ops
 * must not destroy the bridge. At the end: the stack, egress, then the bridge.
 */
#ifndef FERRY_STACK_BRIDGE_H
#define FERRY_STACK_BRIDGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stack/egress.h"
#include "stack/stack.h"
#include "transport/arq.h"
#include "transport/wire.h"

struct ferry_bridge;
struct ferry_bridge_peer;

struct ferry_bridge_ops {
	/* One IP packet for the TUN (the stack's tun_write, passed on). May be NULL on a
	 * side without a stack. */
	int (*tun_write)(void *ctx, const uint8_t *pkt, size_t len);
	/* Descriptors egress wants watched (its watch/unwatch, passed on). May be NULL on a
	 * side without egress. */
	int (*watch)(void *ctx, int fd, uint32_t events, uint64_t cookie);
	void (*unwatch)(void *ctx, int fd);
	/* Queue one ARQ datagram / one datagram-channel message on the peer's link (its
	 * `link` pointer, as given to ferry_bridge_peer_add). Return 0 or a negative errno
	 * (counted; the ARQ retransmits, a datagram is lost). */
	int (*send_segments)(void *ctx, void *link, const uint8_t *segs, size_t len, bool thin,
			     uint64_t now);
	int (*send_datagram)(void *ctx, void *link, uint32_t flow_id, const uint8_t *data,
			     size_t len, uint64_t now);
	/* How many more ARQ datagrams the link takes now (ferry_link_room): a conversation
	 * sends at most that many per run and waits for room for the rest; 0: the link is
	 * backed up. NULL: no limit. */
	uint32_t (*room)(void *ctx, void *link);
	/* How many more datagrams the link's class ahead of bulk takes (ferry_link_urgent_room):
	 * at 0, thin flows wait for room too (ferry_arq_hold_thin). NULL: no limit. */
	uint32_t (*urgent_room)(void *ctx, void *link);
	/* The peer whose AllowedIPs hold dst, longest prefix first; NULL: none. */
	struct ferry_bridge_peer *(*route)(void *ctx, const struct ferry_endpoint *dst);
	/* Whether a flow from peer may have the source src (its AllowedIPs). */
	bool (*source_ok)(void *ctx, struct ferry_bridge_peer *peer,
			  const struct ferry_endpoint *src);
};

struct ferry_bridge_config {
	struct ferry_arq_config arq; /* every conversation's (stream mode is forced, the mtu
					is the links' record body) */
	uint32_t arq_buffers;	     /* segment buffers of all conversations together */
	uint32_t max_convs;	     /* TCP conversations, all peers, both roles */
	uint32_t max_udp;	     /* datagram flows, all peers, both roles */
	uint32_t idle_ms;	     /* a conversation with no traffic either way is reset */
	uint32_t linger_ms;	     /* a finished conversation waits this long at most for
					the peer's next progress (an acknowledgement that frees
					what it sent, or bytes from the peer) */
};

/* Counters since create, all peers. */
struct ferry_bridge_stats {
	uint64_t tcp_opened;	     /* conversations this side opened (stack flows) */
	uint64_t tcp_accepted;	     /* conversations the peers opened */
	uint64_t tcp_connected;	     /* ... with a successful RESULT, either role */
	uint64_t tcp_failed;	     /* ... with a failure RESULT, either role */
	uint64_t tcp_closed;	     /* reclaimed after both FINs */
	uint64_t tcp_resets_out;     /* TCP_RESET sent */
	uint64_t tcp_resets_in;	     /* TCP_RESET received for a known conversation */
	uint64_t tcp_unknown_out;    /* TCP_UNKNOWN sent for segments of no conversation */
	uint64_t tcp_unknown_in;     /* TCP_UNKNOWN received */
	uint64_t tcp_stale_opens;    /* OPEN for an id seen before, or of the wrong side */
	uint64_t tcp_dead;	     /* conversations the ARQ gave up (peer silent) */
	uint64_t tcp_idle;	     /* conversations reset for idleness */
	uint64_t tcp_lingered;	     /* finished conversations reset when the peer made no
					progress within linger_ms */
	uint64_t proto_errors;	     /* frames or messages that broke the protocol */
	uint64_t udp_opened;	     /* datagram flows this side opened */
	uint64_t udp_accepted;	     /* ... the peers opened */
	uint64_t udp_refused;	     /* ... refused (either side's view) */
	uint64_t udp_unknown;	     /* UDP_UNKNOWN sent or received */
	uint64_t udp_in, udp_out;    /* datagrams from and to the peers */
	uint64_t udp_too_big;	     /* datagrams larger than the datagram channel carries */
	uint64_t echo_out, echo_in;  /* echo requests sent, replies received */
	uint64_t echo_served;	     /* echo requests of peers handed to egress */
	uint64_t echo_failed;	     /* ... that egress could not send (policy aside) */
	uint64_t echo_not_permitted; /* ... because ping sockets are not permitted here */
	uint64_t no_route;	     /* flows or echoes to a destination of no peer */
	uint64_t no_room;	     /* flows refused: conversation or datagram table full */
	uint64_t send_errors;	     /* the link refused a datagram */
	uint64_t tcp_waits;	     /* conversations that had to wait for segment buffers */
	uint64_t tcp_probes;	     /* window asks after BR_PROBE_MS of the peer's silence */
	uint64_t tcp_nobuf;	     /* no buffer even for a control frame (the pool's last
					32nd is for receiving): an OPEN deferred (its SYN is
					asked for again, stack.h), or a flow reset */
	uint64_t hellos_in, hellos_out;
	uint64_t peer_restarts;		  /* a peer's instance changed: its flows were reset */
	uint32_t convs;			  /* current conversations */
	uint32_t tcp_waiting;		  /* conversations waiting for segment buffers now */
	uint32_t room_waiting;		  /* ... and for their link's room, now */
	uint32_t buffers, buffers_in_use; /* segment buffers of all conversations (the pool) */
	uint32_t udp_flows;		  /* current datagram flows */
};

/* Per peer: what `ferry status` shows. */
struct ferry_bridge_peer_stats {
	uint32_t tcp_out, tcp_in;     /* conversations now: opened here, opened by the peer */
	uint32_t udp_out, udp_in;     /* datagram flows now, likewise */
	uint64_t bytes_out, bytes_in; /* flow payload sent to / received from the peer */
	uint64_t instance;	      /* the peer's instance, 0 until heard */
	uint32_t rtt_ms;	      /* mean smoothed RTT of its conversations now (0: none) */
	uint64_t retransmits;	      /* segments its conversations sent again, ended ones too */
};

/* Fills cfg with the defaults of docs/wire-format.md's flow protocol section: the given
 * ARQ profile, windows of 2048 segments (one flow fills 100 Mbit/s at 200 ms), 16,384
 * segment buffers, 16,384 conversations, 8,192 datagram flows, a 2-hour idle reset. */
void ferry_bridge_config_default(struct ferry_bridge_config *cfg, enum ferry_arq_profile profile);

/* Creates a bridge for links of the given sizes (ferry_link_config_sizes of their
 * configuration; every peer's link must have them): each conversation's ARQ mtu is
 * sizes->record_body (cfg->arq.mtu is ignored), and a UDP datagram larger than
 * sizes->udp_max is refused with an ICMP "too big" (docs/mtu.md).
 * Returns 0, -EINVAL (bad config or sizes, missing ops), -ENOMEM. */
int ferry_bridge_create(struct ferry_bridge **out, const struct ferry_bridge_config *cfg,
			const struct ferry_wire_sizes *sizes, const struct ferry_bridge_ops *ops,
			void *ctx);

/* Wires the bridge to the stack (flows begin here; may be NULL) and egress (flows end
 * here; may be NULL). Both must have been created with the bridge's ops and the bridge as
 * their context. */
void ferry_bridge_attach(struct ferry_bridge *b, struct ferry_stack *stack,
			 struct ferry_egress *egress);

/* Tells each peer its flows are reset and frees the bridge. NULL is ignored. Destroy the
 * stack first (its flows' ends reach the bridge), then egress (it asks the bridge to
 * unwatch its sockets), then the bridge, which touches neither any more. */
void ferry_bridge_destroy(struct ferry_bridge *b);

/* The callbacks to create the stack and egress with (context: the bridge). */
extern const struct ferry_stack_ops ferry_bridge_stack_ops;
extern const struct ferry_egress_ops ferry_bridge_egress_ops;

/* Adds a peer reachable through link. ours_greater: this side's static key is the greater
 * (its ids carry FERRY_FLOW_ID_SIDE). user: the caller's, for ops->route/source_ok.
 * Returns 0, -ENOMEM. */
int ferry_bridge_peer_add(struct ferry_bridge *b, void *link, bool ours_greater, void *user,
			  struct ferry_bridge_peer **out);

/* Resets every flow of the peer and removes it. */
void ferry_bridge_peer_remove(struct ferry_bridge_peer *peer);

/* The caller's pointer of a peer, and its counters. */
void *ferry_bridge_peer_user(const struct ferry_bridge_peer *peer);
void ferry_bridge_peer_stats(const struct ferry_bridge_peer *peer,
			     struct ferry_bridge_peer_stats *out);

/* The peer's link came up (a new session): announce this side's instance. */
void ferry_bridge_peer_up(struct ferry_bridge_peer *peer, uint64_t now);

/* A run of KCP segments of conversation conv from peer (the link's segments callback). */
void ferry_bridge_segments(struct ferry_bridge_peer *peer, uint32_t conv, const uint8_t *segs,
			   size_t len, uint64_t now);

/* One datagram-channel message from peer (the link's datagram callback). */
void ferry_bridge_datagram(struct ferry_bridge_peer *peer, uint32_t flow_id, const uint8_t *data,
			   size_t len, uint64_t now);

/* Runs the conversations' timers due at now. */
void ferry_bridge_timer(struct ferry_bridge *b, uint64_t now);

/* When ferry_bridge_timer must next run: <= now at once, UINT64_MAX when nothing is
 * armed. Changes nothing. */
uint64_t ferry_bridge_next_deadline(const struct ferry_bridge *b, uint64_t now);

/* The end of an event-loop turn (see the theory above). */
void ferry_bridge_flush(struct ferry_bridge *b, uint64_t now);

/* Counters since create. */
const struct ferry_bridge_stats *ferry_bridge_get_stats(const struct ferry_bridge *b);

/* This process's instance number (random, never 0). */
uint64_t ferry_bridge_instance(const struct ferry_bridge *b);

#endif
