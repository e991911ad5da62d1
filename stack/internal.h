/* SPDX-License-Identifier: MIT */
/*
 * The stack's own structures, shared by its files and by nobody else:
 *   stack.c      the owner struct, TUN input and output, the lwIP netif and hooks, timers
 *   flow.c       the flow table: hash by 5-tuple, LRU lists, limits, eviction
 *   tcp.c        the TCP flow state machine over lwIP's callback API
 *   udp.c        UDP flows and ICMP echo, answered with packets built here
 *   lwip_port.c  lwIP's process-wide state: clock, init once, ownership
 *
 * Lists are intrusive and every flow comes from one array allocated at create: no
 * allocation per flow or per packet outside lwIP's own pools and heap.
 */
#ifndef FERRY_STACK_INTERNAL_H
#define FERRY_STACK_INTERNAL_H

#include <stdint.h>

#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/tcp.h"
#include "stack/packet.h"
#include "stack/stack.h"

/*
 * The TCP flow state machine (docs/stack.md draws it).
 *
 *   CONNECTING  SYN held; the caller's connect is under way (connect timeout)
 *   HANDSHAKE   SYN given to lwIP (syn NULL; while syn is still set, it waits for lwIP
 *               to return from a call in progress), SYN-ACK sent; waiting for the
 *               application's ACK.
 *               Sends toward the app are short (0) until accept, which owes tcp_sendable;
 *               a shutdown is remembered (shut_early) and done at accept.
 *   OPEN        both directions open
 *   APP_DONE    the application's FIN was delivered (tcp_eof); sending toward it goes on
 *   PEER_DONE   the caller shut down: our FIN is queued; the application may still send
 *   DEAD        ended; waiting only for the callback that is running to return
 *
 * A UDP flow is always OPEN.
 */
enum ferry_flow_state {
	FERRY_FLOW_CONNECTING,
	FERRY_FLOW_HANDSHAKE,
	FERRY_FLOW_OPEN,
	FERRY_FLOW_APP_DONE,
	FERRY_FLOW_PEER_DONE,
	FERRY_FLOW_DEAD,
};

/* What happens to the application's side when a flow ends before a clean close. */
enum ferry_flow_end {
	FERRY_END_NONE,	  /* nothing: lwIP already dropped the pcb, or a clean close */
	FERRY_END_RST,	  /* reset toward the application */
	FERRY_END_UNREACH /* ICMP unreachable for the held SYN */
};

struct ferry_flow_list {
	struct ferry_flow *head, *tail;
};

struct ferry_flow_link {
	struct ferry_flow *prev, *next;
};

struct ferry_flow {
	struct ferry_stack *stack;
	struct ferry_flow *hnext;     /* hash chain, or the free list */
	struct ferry_flow_link lru;   /* tcp_lru or udp_lru, most recent first */
	struct ferry_flow_link timer; /* on timer_on (connecting or handshake), by deadline */
	struct ferry_flow_list *timer_on;
	struct ferry_endpoint src, dst;
	uint8_t proto;	    /* enum ferry_flow_proto */
	uint8_t state;	    /* enum ferry_flow_state */
	uint8_t in_cb;	    /* depth of ops callbacks running for this flow */
	uint8_t rx_fin;	    /* the application's FIN sits behind the queued bytes */
	uint8_t blocked;    /* a send was short: tcp_sendable owed */
	uint8_t shut_early; /* the caller shut down during HANDSHAKE: PEER_DONE at accept */
	uint8_t listening;  /* holds a reference on its port's listener */
	uint8_t end_notify; /* deferred end: call tcp_closed */
	uint8_t end_how;    /* deferred end: enum ferry_flow_end */
	uint8_t app_closed; /* lwIP ends it alone (flow_let_go): only delivery left */
	int end_reason;	    /* deferred end: tcp_closed's reason */
	uint32_t hash;
	uint32_t syn_seq; /* the application's initial sequence number */
	uint64_t last_active;
	uint64_t deadline;
	struct tcp_pcb *pcb;
	struct pbuf *syn;		/* the held SYN, CONNECTING only */
	struct pbuf *rx_head, *rx_tail; /* bytes not yet taken, linked through next */
	uint16_t rx_off;		/* bytes of rx_head already taken */
	void *user;
};

struct ferry_stack_listener {
	struct tcp_pcb *pcb; /* NULL: slot free */
	uint16_t port;
	uint32_t refs;
};

struct ferry_stack {
	struct ferry_stack_config cfg;
	const struct ferry_stack_ops *ops;
	void *ctx;
	uint64_t now;
	struct netif netif;
	struct ferry_stack_stats stats;

	struct ferry_flow *flows; /* max_tcp_flows + max_udp_flows, from create */
	struct ferry_flow *free;
	struct ferry_flow **buckets;
	uint32_t bucket_mask;
	uint8_t hash_key[16];
	struct ferry_flow_list tcp_lru, udp_lru;
	struct ferry_flow_list connecting, handshake;
	struct ferry_stack_listener listeners[MEMP_NUM_TCP_PCB_LISTEN];

	/* Depth of calls into lwIP's input or timers: lwIP is not re-entrant there, so a
	 * SYN released meanwhile waits (inject_pending) until the outermost call returned. */
	unsigned lwip_depth;
	uint8_t inject_pending;

	uint8_t *out; /* one packet being written to the TUN */
	size_t out_cap;
};

/* lwip_port.c */
int ferry_stack_lwip_acquire(struct ferry_stack *stack, uint64_t now);
void ferry_stack_lwip_release(struct ferry_stack *stack);
void ferry_stack_lwip_set_now(uint64_t now);
uint8_t ferry_stack_lwip_ext_id(void);

/* stack.c */
void ferry_stack_emit(struct ferry_stack *stack, const uint8_t *pkt, size_t len);
void ferry_stack_count_drop(struct ferry_stack *stack, enum ferry_stack_drop why);

/* flow.c */
int ferry_stack_endpoint_eq(const struct ferry_endpoint *a, const struct ferry_endpoint *b);
int ferry_stack_flows_init(struct ferry_stack *stack);
void ferry_stack_flows_free(struct ferry_stack *stack);
struct ferry_flow *ferry_stack_flow_find(struct ferry_stack *stack, uint8_t proto,
					 const struct ferry_endpoint *src,
					 const struct ferry_endpoint *dst);
/* A fresh flow in the table and on its LRU list, or NULL when the protocol's limit is
 * reached and nothing could be evicted. */
struct ferry_flow *ferry_stack_flow_new(struct ferry_stack *stack, uint8_t proto,
					const struct ferry_endpoint *src,
					const struct ferry_endpoint *dst);
/* Unlinks the flow from every list and returns it to the free list. */
void ferry_stack_flow_release(struct ferry_flow *flow);
void ferry_stack_flow_touch(struct ferry_flow *flow);
/* Puts the flow on a deadline list (connecting or handshake: each list has one timeout,
 * so appending keeps it sorted), leaving any list it was on. */
void ferry_stack_flow_deadline_set(struct ferry_flow *flow, struct ferry_flow_list *list,
			   uint64_t deadline);
void ferry_stack_flow_deadline_clear(struct ferry_flow *flow);

/* tcp.c */
int ferry_stack_tcp_input(struct ferry_stack *stack, const struct ferry_pkt *pkt);
void ferry_stack_tcp_timers(struct ferry_stack *stack);
/* Hands lwIP the SYNs released while it was busy (see lwip_depth); a no-op inside lwIP. */
void ferry_stack_tcp_inject_deferred(struct ferry_stack *stack);
uint64_t ferry_stack_tcp_deadline(const struct ferry_stack *stack);
/* Ends a flow from the stack's side (eviction, destroy): how toward the application,
 * tcp_closed(reason) toward the caller. */
void ferry_stack_tcp_kill(struct ferry_flow *flow, enum ferry_flow_end how, int reason);

/* udp.c */
int ferry_stack_udp_input(struct ferry_stack *stack, const struct ferry_pkt *pkt);
int ferry_stack_icmp_input(struct ferry_stack *stack, const struct ferry_pkt *pkt);
void ferry_stack_udp_timers(struct ferry_stack *stack);
uint64_t ferry_stack_udp_deadline(const struct ferry_stack *stack);
void ferry_stack_udp_kill(struct ferry_flow *flow);

#endif
