/* SPDX-License-Identifier: MIT */
/*
 * The stack: where flows begin. IP packets from the TUN go in; TCP connections are
 * terminated by lwIP, UDP datagrams and ICMP echo are caught as they are; each becomes a
 * flow that the caller (the daemon's wiring) carries to the peer through its own
 * transport. The stack knows nothing of the ARQ or the link: it talks to the caller only
 * through struct ferry_stack_ops and the ferry_stack_tcp_* / _udp_* / _icmp_* calls.
 *
 * Honest connect: a new TCP connection is held -- its SYN kept, no SYN-ACK sent -- until
 * the caller reports that the far side connected (ferry_stack_tcp_connected). Refused
 * becomes an RST for the application, unreachable or a connect timeout an ICMP
 * destination unreachable. See docs/stack.md for the flow state machine.
 *
 * Backpressure: bytes from the application are acknowledged to it (tcp_recved) only once
 * ops->tcp_data accepted them; what it did not accept stays queued in the flow and is
 * offered again on ferry_stack_tcp_writable(). Bytes toward the application are taken
 * only as far as lwIP's send buffer allows; ops->tcp_sendable says when there is room.
 *
 * Time: the stack reads no clock. ferry_stack_timer(now) sets it (milliseconds, monotonic)
 * and runs every timer due; ferry_stack_next_deadline() says when to call it next; an
 * owner whose stack sat idle advances the clock with ferry_stack_clock(now) before giving
 * it packets, so that what they start (a connect's deadline, a flow's age) counts from now.
 * ferry_stack_flush() ends an event-loop turn: the ACKs owed to applications for bytes the
 * caller took, and the bytes queued with ferry_stack_tcp_send_more, go out then, one
 * tcp_output per flow per turn, and flows that waited for memory are woken. Every entry point
 * flushes on its way out too, so a caller without turns loses nothing by not calling it; a batching
 * caller saves TUN writes.
 *
 * Memory: lwIP's heap holds the applications' bytes in both directions. A budget
 * (config.mem_budget, half each way) caps what all TCP flows may hold together, and each
 * flow's share of it shrinks as more flows hold bytes: the receive window a flow
 * advertises to its application, and what ferry_stack_tcp_send takes, stay within both.
 * A flow refused for memory gets its tcp_sendable (or its window reopened) when memory is
 * released -- a wake-up that always comes, since whatever holds the memory is either
 * drained or ends. See docs/stack.md.
 *
 * Re-entrancy: every ops callback may call any ferry_stack_* function except
 * ferry_stack_input, _input_batch, _timer and _flush (those refuse at once: -EDEADLK or
 * nothing), including ones that end the flow being reported: the stack defers the end
 * until the callback returned, and a connect completed from inside lwIP is handed to lwIP
 * once it returned. tun_write must not call into the stack at all. A flow pointer is valid
 * from the call that introduced it (tcp_open, udp_open) until tcp_closed/udp_closed, or
 * until the caller itself ended it (refused, reset, udp_close); a flow id
 * (ferry_stack_flow_id) stays safe to look up forever.
 *
 * One stack per process: lwIP keeps global state (NO_SYS), so ferry_stack_create fails
 * with -EBUSY while another stack exists. Everything of ferry's own lives in the stack.
 */
#ifndef FERRY_STACK_STACK_H
#define FERRY_STACK_STACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "transport/addr.h"

struct ferry_stack;
struct ferry_flow;

enum ferry_flow_proto {
	FERRY_FLOW_TCP = 6,
	FERRY_FLOW_UDP = 17,
};

/* Every callback must be set except udp_open, udp_closed and icmp_echo. */
struct ferry_stack_ops {
	/* One IP packet for the TUN. The bytes are valid only during the call. Returns 0, or
	 * -EAGAIN when the TUN's queue is full (the packet is dropped and counted; lwIP
	 * retransmits TCP), or another negative errno (counted the same way). */
	int (*tun_write)(void *ctx, const uint8_t *pkt, size_t len);

	/* A new TCP connection from src (the application) to dst. Return 0 and later call
	 * ferry_stack_tcp_connected or _refused exactly once (it may be from inside this
	 * callback), or return a negative errno to refuse now (as _refused would); -EAGAIN
	 * instead refuses nothing: the caller has no room for it yet, the SYN is dropped as
	 * if lost (counted: FERRY_STACK_DROP_BUSY), and the application's TCP sends it again
	 * after its own timeout, as when a server's listen queue is full. */
	int (*tcp_open)(void *ctx, struct ferry_flow *flow, const struct ferry_endpoint *src,
			const struct ferry_endpoint *dst);
	/* Bytes the application sent. Returns how many the caller took (0..len); the rest
	 * is offered again after ferry_stack_tcp_writable(). */
	size_t (*tcp_data)(void *ctx, struct ferry_flow *flow, const uint8_t *data, size_t len);
	/* The application closed its sending side (FIN), after all its bytes were taken. */
	void (*tcp_eof)(void *ctx, struct ferry_flow *flow);
	/* Room for at least `space` bytes toward the application after a short send. */
	void (*tcp_sendable)(void *ctx, struct ferry_flow *flow, size_t space);
	/* The flow ended: 0 after both directions closed cleanly, -ECONNRESET (application
	 * reset), -ETIMEDOUT (connect, handshake or idle timeout), -ECONNABORTED (evicted,
	 * out of memory, keepalive or lwIP gave up, stack destroyed). The flow is gone
	 * when this returns. Not called after the caller's own _refused or _reset. */
	void (*tcp_closed)(void *ctx, struct ferry_flow *flow, int reason);

	/* A new UDP flow (src, dst). Return 0 to accept it, a negative errno to drop the
	 * datagram (counted). May be NULL: every flow is accepted. */
	int (*udp_open)(void *ctx, struct ferry_flow *flow, const struct ferry_endpoint *src,
			const struct ferry_endpoint *dst);
	/* One datagram of the flow, from the application to the flow's destination. */
	void (*udp_datagram)(void *ctx, struct ferry_flow *flow, const uint8_t *data, size_t len);
	/* The UDP flow ended (idle timeout, eviction, stack destroyed). */
	void (*udp_closed)(void *ctx, struct ferry_flow *flow);

	/* An ICMP (v4) or ICMPv6 echo request from src to dst (ports hold the echo id),
	 * sequence seq, payload data. Answer later with ferry_stack_icmp_echo_reply(), and
	 * return 0; or return a negative errno and the stack answers the application with
	 * an ICMP destination unreachable now (its code as for ferry_stack_udp_close). May
	 * be NULL: echo requests are dropped (counted). */
	int (*icmp_echo)(void *ctx, const struct ferry_endpoint *src,
			 const struct ferry_endpoint *dst, uint16_t seq, const uint8_t *data,
			 size_t len);
};

enum {
	/* The TUN's MTU, the netif's: IPv4's minimum (RFC 791) up. Below 1280 the kernel
	 * carries no IPv6 on the device, so no IPv6 packet ever comes. */
	FERRY_STACK_MTU_MIN = 576,
	FERRY_STACK_MTU_MAX = 65535,
	/* ferry_stack_config_default's, for tests: the daemon gives the TUN's (docs/mtu.md) */
	FERRY_STACK_MTU_DEFAULT = 1500,
};

struct ferry_stack_config {
	/* The TUN's MTU, FERRY_STACK_MTU_MIN..MAX: lwIP's netif MTU, from which each TCP
	 * connection's MSS follows (MTU - 40 over IPv4, - 60 over IPv6). It bounds what lwIP
	 * sends; datagrams ferry writes itself toward an application may exceed it. */
	uint32_t mtu;
	uint32_t max_tcp_flows; /* below lwIP's pcb pool (MEMP_NUM_TCP_PCB) */
	uint32_t max_udp_flows;
	bool evict_lru;		       /* full table: evict the least recently used flow */
	uint32_t evict_min_idle_ms;    /* ... but only one idle at least this long */
	uint32_t connect_timeout_ms;   /* SYN held waiting for the far side */
	uint32_t handshake_timeout_ms; /* SYN-ACK sent, waiting for the application's ACK */
	uint32_t tcp_idle_timeout_ms;  /* no byte either way: reset both ways (0 = never) */
	uint32_t udp_idle_timeout_ms;
	uint32_t keepalive_idle_ms; /* TCP keepalive toward the application (0 = off) */
	uint32_t keepalive_interval_ms;
	uint32_t keepalive_count;
	/* Bytes of lwIP's heap the TCP flows may hold together, half per direction:
	 * FERRY_STACK_MEM_BUDGET_MIN..FERRY_STACK_MEM_BUDGET_MAX. */
	uint64_t mem_budget;
};

/* The budget may not exceed what lwIP's heap can give without its first-fit allocator
 * slowing down (docs/stack.md measures it), nor be so small that one flow stalls. */
#define FERRY_STACK_MEM_BUDGET_MIN ((uint64_t)1 << 20)
#define FERRY_STACK_MEM_BUDGET_MAX ((uint64_t)32 << 20)

/* Why input packets were dropped; indexes ferry_stack_stats.drops. */
enum ferry_stack_drop {
	FERRY_STACK_DROP_SHORT,	     /* shorter than the headers it announces */
	FERRY_STACK_DROP_VERSION,    /* not IPv4 or IPv6 */
	FERRY_STACK_DROP_HEADER,     /* bad IHL, total length, L4 header length or TCP options */
	FERRY_STACK_DROP_FRAGMENT,   /* IPv4 fragment or IPv6 fragment header */
	FERRY_STACK_DROP_OPTIONS,    /* IPv4 options or IPv6 extension headers */
	FERRY_STACK_DROP_ADDRESS,    /* multicast, broadcast, unspecified or loopback */
	FERRY_STACK_DROP_PROTO,	     /* not TCP, UDP or ICMP echo request */
	FERRY_STACK_DROP_NOMEM,	     /* lwIP heap or pbuf exhausted */
	FERRY_STACK_DROP_FLOWS_FULL, /* flow table full and nothing to evict */
	FERRY_STACK_DROP_DUP_SYN,    /* a held connection's SYN again (or any other segment) */
	FERRY_STACK_DROP_REFUSED,    /* the caller refused a UDP flow or had no echo handler */
	FERRY_STACK_DROP_BUSY,	     /* a SYN the caller had no room for yet (tcp_open) */
	FERRY_STACK_DROP_MAX
};

struct ferry_stack_stats {
	uint64_t packets_in;
	uint64_t packets_out;
	uint64_t tun_full; /* packets tun_write refused (the TUN's queue was full) */
	uint64_t drops[FERRY_STACK_DROP_MAX];
	uint64_t tcp_opened;   /* tcp_open calls */
	uint64_t tcp_accepted; /* handshakes completed */
	uint64_t tcp_refused;  /* RSTs for refused connects */
	uint64_t tcp_unreach;  /* ICMP unreachable for failed or timed out connects */
	uint64_t tcp_closed;   /* flows ended after they were handed to lwIP */
	uint64_t tcp_evicted;
	uint64_t tcp_idle_timeouts;
	uint64_t udp_opened;
	uint64_t udp_closed;
	uint64_t udp_unreach;	/* ICMP unreachable sent for UDP flows the caller closed */
	uint64_t udp_too_big;	/* ICMP too big sent for datagrams the caller cannot carry */
	uint64_t echo_unreach;	/* ICMP unreachable sent for echo requests icmp_echo refused */
	uint64_t proto_unreach; /* ICMP protocol unreachable (IPv6: parameter problem) sent
				 * for a packet that is not TCP, UDP or ICMP */
	uint64_t mem_waits;	/* times a flow was held back by the memory budget */
	uint64_t rx_committed;	/* bytes the flows may hold from applications (now) */
	uint64_t tx_held;	/* bytes lwIP holds toward applications (now) */
	uint32_t tcp_flows;	/* current */
	uint32_t udp_flows;	/* current */
};

/* Per-flow counters. "in" is from the application, "out" toward it. */
struct ferry_stack_flow_counters {
	uint64_t bytes_in, bytes_out;	  /* payload: taken by the caller / sent toward the app */
	uint64_t packets_in, packets_out; /* IP packets of the flow through the TUN */
};

/* One flow as ferry_stack_flow_info and ferry_stack_flows_walk describe it. */
struct ferry_stack_flow_info {
	uint64_t id; /* ferry_stack_flow_id */
	enum ferry_flow_proto proto;
	const char *state; /* "connecting", "handshake", "open", "app-done", ... */
	struct ferry_endpoint src, dst;
	uint64_t created, last_active; /* ms, the stack's clock */
	struct ferry_stack_flow_counters count;
	uint32_t rx_held; /* bytes from the application waiting for the caller */
	uint32_t tx_held; /* bytes toward the application lwIP still holds */
	void *user;
};

/* Fills cfg with the defaults documented in docs/stack.md. */
void ferry_stack_config_default(struct ferry_stack_config *cfg);

/* Creates the stack (and lwIP's netif) at time now. Returns 0, -EINVAL for a bad config
 * (names nothing: check docs/stack.md for the ranges), -EBUSY if another stack exists in
 * this process, -ENOMEM. */
int ferry_stack_create(struct ferry_stack **out, const struct ferry_stack_config *cfg,
		       const struct ferry_stack_ops *ops, void *ctx, uint64_t now);

/* Resets every flow (RST toward the application, tcp_closed/udp_closed with
 * -ECONNABORTED) and frees the stack. NULL is ignored. */
void ferry_stack_destroy(struct ferry_stack *stack);

/* One IP packet read from the TUN (copied; the caller keeps its buffer). Returns 0 when
 * the packet was taken, or a negative errno when it was dropped (and counted in stats):
 * -EINVAL malformed, -EPROTONOSUPPORT not handled, -ENOMEM out of memory, -ENOSPC flow
 * table full, -EALREADY duplicate SYN, -EPERM refused by the caller, -EDEADLK when called
 * from inside an ops callback. */
int ferry_stack_input(struct ferry_stack *stack, const uint8_t *pkt, size_t len);

struct ferry_buf;

/* A batch of packets read from the TUN (one IP packet per buffer, linked through next;
 * the caller keeps the buffers). Returns how many were taken; drops are counted. */
unsigned ferry_stack_input_batch(struct ferry_stack *stack, const struct ferry_buf *batch);

/* Sets the clock to now and runs every timer due (lwIP's and the flows'). Does nothing
 * when called from inside an ops callback. */
void ferry_stack_timer(struct ferry_stack *stack, uint64_t now);

/* Sets the stack's clock to now (never backwards) and runs nothing: cheap enough for every
 * batch of packets. */
void ferry_stack_clock(struct ferry_stack *stack, uint64_t now);

/* When ferry_stack_timer must next run: <= now at once, UINT64_MAX when nothing is
 * armed. Changes nothing. */
uint64_t ferry_stack_next_deadline(const struct ferry_stack *stack, uint64_t now);

/* The end of an event-loop turn: sends the ACKs owed to applications and wakes flows that
 * waited for memory. Does nothing when called from inside an ops callback. */
void ferry_stack_flush(struct ferry_stack *stack);

/* Counters since create. */
const struct ferry_stack_stats *ferry_stack_get_stats(const struct ferry_stack *stack);

/* The flow's endpoints as the application sees them: src is the application. */
const struct ferry_endpoint *ferry_stack_flow_src(const struct ferry_flow *flow);
const struct ferry_endpoint *ferry_stack_flow_dst(const struct ferry_flow *flow);
enum ferry_flow_proto ferry_stack_flow_proto(const struct ferry_flow *flow);
/* A pointer of the caller's, NULL until set. */
void ferry_stack_flow_set_user(struct ferry_flow *flow, void *user);
void *ferry_stack_flow_user(const struct ferry_flow *flow);

/* The flow's id: unique for the life of the stack (a slot and its generation), never 0. */
uint64_t ferry_stack_flow_id(const struct ferry_flow *flow);

/* The flow with that id, or NULL once it ended (also for ids never handed out). */
struct ferry_flow *ferry_stack_flow_lookup(struct ferry_stack *stack, uint64_t id);

/* Describes the flow into *info. */
void ferry_stack_flow_info(const struct ferry_flow *flow, struct ferry_stack_flow_info *info);

/* Calls fn once for every flow (TCP first, then UDP; each most recently active first).
 * fn must not end flows or call into the stack. Returns the number of flows walked. */
uint32_t ferry_stack_flows_walk(const struct ferry_stack *stack,
				void (*fn)(void *ctx, const struct ferry_stack_flow_info *info),
				void *ctx);

/* The far side connected: the held SYN is handed to lwIP, which answers with a SYN-ACK
 * from the original destination. Returns 0, -EINVAL if the flow is not waiting for its
 * connect, -ENOMEM if lwIP could not take the connection (no listener slot or pcb left:
 * the application got an RST and the flow is gone, as after _refused). */
int ferry_stack_tcp_connected(struct ferry_flow *flow);

/* The far side could not connect; err is the connect's negative errno. -ECONNREFUSED
 * sends the application an RST; every other error an ICMP destination unreachable
 * (host, network or administratively prohibited by errno). The flow is gone. */
void ferry_stack_tcp_refused(struct ferry_flow *flow, int err);

/* Queues bytes toward the application. Returns how many were taken (0..len), limited by
 * lwIP's send buffer; after a short count, ops->tcp_sendable follows when there is room
 * (also when the count was 0 because the application had not finished its handshake).
 * Returns 0 for a flow that cannot send (not connected, or already shut down). */
size_t ferry_stack_tcp_send(struct ferry_flow *flow, const uint8_t *data, size_t len);

/* As ferry_stack_tcp_send, but the bytes wait for the end of the turn (ferry_stack_flush,
 * or the stack's next entry point that flushes; ferry_stack_next_deadline is due at once
 * meanwhile), so that what several calls of one turn queue leaves in full segments. For a
 * caller whose pieces are not the application's MSS: the ARQ's ~1,380-byte segments sent
 * one by one toward a 1,360-byte MSS made every second packet a 20-byte one. */
size_t ferry_stack_tcp_send_more(struct ferry_flow *flow, const uint8_t *data, size_t len);

/* The caller can take more bytes: offers the queued ones to ops->tcp_data again. */
void ferry_stack_tcp_writable(struct ferry_flow *flow);

/* The far side will send no more: a FIN follows the queued bytes to the application
 * (during the application's handshake: once it is done). Returns 0 or -EINVAL if the
 * flow is not open toward the application. */
int ferry_stack_tcp_shutdown(struct ferry_flow *flow);

/* The far side reset: the application gets an RST and the flow is gone (no tcp_closed). */
void ferry_stack_tcp_reset(struct ferry_flow *flow);

/* Ends UDP flow now (no udp_closed follows). err 0 ends it silently; otherwise the
 * application gets an ICMP destination unreachable quoting its last datagram, which a
 * connected socket reports as an error: -ECONNREFUSED port unreachable, -EACCES/-EPERM
 * administratively prohibited, -ENETUNREACH network unreachable, anything else host
 * unreachable. Returns 0, or -EINVAL for a flow that is not UDP. */
int ferry_stack_udp_close(struct ferry_flow *flow, int err);

/* The datagram the application just sent on flow (from inside udp_datagram) is too big
 * for the caller to carry, which takes at most max_payload bytes: answers it as a router
 * whose next hop is too small would -- ICMP fragmentation needed (IPv4) or packet too big
 * (IPv6) announcing the largest IP packet that fits, so that the application's socket
 * learns the path MTU. The flow stays open. Returns 0, -EINVAL for a flow that is not
 * UDP. */
int ferry_stack_udp_too_big(struct ferry_flow *flow, size_t max_payload);

/* A datagram toward the application of flow, from `from` (NULL: the flow's destination;
 * any other address and port: full-cone replies from elsewhere), written whole even when
 * it exceeds the MTU (it crossed the tunnel whole; the kernel's receive path does not
 * check a device's MTU). Returns 0, -EMSGSIZE if no IP packet can hold it, -EINVAL for
 * an address family that is not the flow's. */
int ferry_stack_udp_send(struct ferry_flow *flow, const struct ferry_endpoint *from,
			 const uint8_t *data, size_t len);

/* An echo reply toward app (the request's source) from `from` (the request's
 * destination), with the request's id (in app->port) and sequence, written whole like a
 * datagram. Returns 0, -EINVAL for mixed families, -EMSGSIZE if no IP packet can hold it. */
int ferry_stack_icmp_echo_reply(struct ferry_stack *stack, const struct ferry_endpoint *app,
				const struct ferry_endpoint *from, uint16_t seq,
				const uint8_t *data, size_t len);

#endif
