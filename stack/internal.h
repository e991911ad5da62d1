/* SPDX-License-Identifier: MIT */
/*
 * The stack's own structures, shared by its files and by nobody else:
 *   stack.c      the owner struct, TUN input and output, the lwIP netif and hooks, timers,
 *                the callback guard, eviction (before a new flow is made)
 *   flow.c       the flow table: hash by 5-tuple, LRU lists, ids, limits, enumeration
 *   tcp.c        the TCP flow state machine over lwIP's callback API
 *   budget.c     the memory budget: how many bytes each TCP flow may hold in lwIP's heap
 *   udp.c        UDP flows and ICMP echo, answered with packets built here
 *   lwip_port.c  lwIP's process-wide state: clock, init once, ownership
 *
 * Lists are intrusive and every flow comes from one array allocated at create (its pages
 * are touched only as flows are first used): no allocation per flow or per packet outside
 * lwIP's own pools and heap.
 */
#ifndef FERRY_STACK_INTERNAL_H
#define FERRY_STACK_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/tcp.h"
#include "stack/packet.h"
#include "stack/stack.h"

/*
 * The TCP flow state machine (docs/stack.md draws it). The state is the whole truth about
 * where a connection is; the few other fields of a flow are queues, debts and the
 * parameters of an end, each documented where it is declared.
 *
 *   CONNECTING      SYN held; the caller's connect is under way (connect timeout)
 *   HANDSHAKE       the caller connected: the SYN is handed to lwIP (flow->syn still set
 *                   while it waits for lwIP to return from a call in progress), lwIP
 *                   answered with a SYN-ACK; waiting for the application's ACK.
 *                   Sends toward the app take 0 bytes (tcp_sendable follows at accept).
 *   HANDSHAKE_SHUT  as HANDSHAKE, and the caller already shut down: our FIN is sent at
 *                   accept (a FIN in lwIP's SYN_RCVD would skip the state whose ACK
 *                   calls accept)
 *   OPEN            both directions open
 *   APP_DONE        the application's FIN was delivered (tcp_eof); sending toward it goes on
 *   PEER_DONE       the caller shut down: our FIN is queued; the application may still send
 *   DRAINING        both FINs are in and lwIP finishes the connection alone (LAST_ACK,
 *                   CLOSING, TIME_WAIT): the flow let go of the pcb; only the application's
 *                   queued bytes and FIN remain to be delivered, then tcp_closed(0). Nothing
 *                   is ever sent to the application again.
 *   DEAD            ended; waiting only for the callback that is running to return
 *
 * A UDP flow is OPEN until DEAD. A free flow in the array is FREE (proto 0).
 */
enum ferry_flow_state {
	FERRY_FLOW_FREE,
	FERRY_FLOW_CONNECTING,
	FERRY_FLOW_HANDSHAKE,
	FERRY_FLOW_HANDSHAKE_SHUT,
	FERRY_FLOW_OPEN,
	FERRY_FLOW_APP_DONE,
	FERRY_FLOW_PEER_DONE,
	FERRY_FLOW_DRAINING,
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
	struct ferry_flow_link wait; /* on stack->budget_wait while wait_budget */
	struct ferry_flow_link out;  /* on stack->out_owed while out_owed */
	struct ferry_endpoint src, dst;
	uint32_t gen;	/* bumped each time the slot is freed: the id's high half */
	uint8_t proto;	/* enum ferry_flow_proto; 0 while FREE */
	uint8_t state;	/* enum ferry_flow_state */
	uint8_t in_cb;	/* depth of ops callbacks running for this flow */
	uint8_t rx_fin; /* the receive queue ends with the application's FIN */
	/* Debts: tcp_sendable is owed after a short send. Output is owed to the application
	 * (out_owed) for an ACK and window update for bytes the caller took, and (push_owed)
	 * for bytes ferry_stack_tcp_send_more queued; both leave at the end of the entry point
	 * or at ferry_stack_flush, one tcp_output for the flow. */
	uint8_t sendable_owed;
	uint8_t out_owed;
	uint8_t push_owed;
	uint8_t wait_budget; /* on stack->budget_wait: woken when memory is released */
	uint8_t close_owed;  /* APP_DONE and shut down by the caller: closed once lwIP has
				every byte acknowledged (tcp.c, ferry_stack_tcp_shutdown) */
	/* DEAD only: how to end, set by flow_end and carried out by flow_finish. */
	uint8_t end_notify; /* call tcp_closed */
	uint8_t end_how;    /* enum ferry_flow_end */
	int end_reason;	    /* tcp_closed's reason */
	uint32_t hash;
	uint32_t syn_seq;  /* the application's initial sequence number */
	uint16_t last_len; /* UDP: payload bytes of the application's last datagram */
	uint16_t rx_off;   /* bytes of rx_head already taken */
	/* Memory budget (budget.c), TCP: bytes of the application's this flow may hold (its
	 * advertised window plus what waits in rx), and bytes toward it lwIP holds. */
	uint32_t rx_commit;
	uint32_t rx_held;
	uint32_t tx_held;
	uint64_t created;
	uint64_t last_active;
	uint64_t deadline;
	struct ferry_stack_flow_counters count;
	struct tcp_pcb *pcb;
	struct pbuf *syn;		/* the held SYN, CONNECTING and HANDSHAKE until injected */
	struct pbuf *rx_head, *rx_tail; /* bytes not yet taken, linked through next */
	void *user;
};

struct ferry_stack_listener {
	struct tcp_pcb *pcb; /* NULL: slot free */
	uint16_t port;
	uint32_t refs;
};

/* The budget's running totals (budget.c). */
struct ferry_stack_budget {
	uint64_t rx_limit, tx_limit; /* bytes, each half of cfg.mem_budget */
	uint64_t rx_commit, tx_held; /* sums over the TCP flows */
	uint32_t rx_busy, tx_busy;   /* flows holding bytes in that direction */
	uint32_t waiters;	     /* flows on budget_wait */
	uint8_t released;	     /* memory was released since the waiters were last woken */
};

struct ferry_stack {
	struct ferry_stack_config cfg;
	const struct ferry_stack_ops *ops;
	void *ctx;
	uint64_t now;
	struct netif netif;
	struct ferry_stack_stats stats;

	struct ferry_flow *flows;	/* max_tcp_flows + max_udp_flows, from create */
	uint32_t nflows, flows_touched; /* slots in the array; slots ever handed out */
	struct ferry_flow *free;
	struct ferry_flow **buckets;
	uint32_t bucket_mask;
	uint8_t hash_key[16];
	struct ferry_flow_list tcp_lru, udp_lru;
	struct ferry_flow_list connecting, handshake;
	struct ferry_flow_list budget_wait; /* flows owed a tcp_sendable or window credit */
	struct ferry_flow_list out_owed;    /* flows owed output toward the application */
	struct ferry_stack_listener listeners[MEMP_NUM_TCP_PCB_LISTEN];
	struct ferry_stack_budget budget;

	/* Depth of calls into lwIP's input or timers: lwIP is not re-entrant there, so a
	 * SYN released meanwhile waits (inject_pending) until the outermost call returned. */
	unsigned lwip_depth;
	uint8_t inject_pending;
	/* Depth of ops callbacks running (any flow): input and timers refuse meanwhile. */
	unsigned cb_depth;

	uint8_t *out; /* one packet being written to the TUN */
	size_t out_cap;
};

/* lwip_port.c */
int ferry_stack_lwip_acquire(struct ferry_stack *stack, uint64_t now);
void ferry_stack_lwip_release(struct ferry_stack *stack);
void ferry_stack_lwip_set_now(uint64_t now);
uint8_t ferry_stack_lwip_ext_id(void);

/* stack.c */
/* Writes one packet to the TUN through ops->tun_write (counted; a full TUN is a counted
 * drop). Returns what tun_write returned. */
int ferry_stack_emit(struct ferry_stack *stack, const uint8_t *pkt, size_t len);
void ferry_stack_count_drop(struct ferry_stack *stack, enum ferry_stack_drop why);
/* ICMP (v4 or v6, by to's family) destination unreachable from `from` to `to`, quoting
 * qlen bytes of the offending packet; the code follows err (ferry_stack_udp_close). */
void ferry_stack_send_unreach(struct ferry_stack *stack, const struct ferry_endpoint *from,
			      const struct ferry_endpoint *to, int err, const uint8_t *quote,
			      size_t qlen);
/* Brackets every ops callback except tun_write: while one runs, input and timers refuse
 * (they would re-enter a flow mid-update). */
static inline void ferry_stack_cb_enter(struct ferry_stack *stack)
{
	stack->cb_depth++;
}

static inline void ferry_stack_cb_leave(struct ferry_stack *stack)
{
	stack->cb_depth--;
}

/* flow.c */
int ferry_stack_flows_init(struct ferry_stack *stack);
void ferry_stack_flows_free(struct ferry_stack *stack);
struct ferry_flow *ferry_stack_flow_find(struct ferry_stack *stack, uint8_t proto,
					 const struct ferry_endpoint *src,
					 const struct ferry_endpoint *dst);
/* True when a new flow of proto would exceed its limit. */
int ferry_stack_flows_full(const struct ferry_stack *stack, uint8_t proto);
/* The least recently used flow of proto that may be evicted at now (not in a callback,
 * idle for evict_min_idle_ms), or NULL. */
struct ferry_flow *ferry_stack_flow_victim(struct ferry_stack *stack, uint8_t proto);
/* A fresh flow in the table and on its LRU list, or NULL when the protocol's limit is
 * reached (eviction is the caller's, stack.c, before it asks). */
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
/* The intrusive list primitives, for lists linked through a member at offset off. */
void ferry_stack_list_append(struct ferry_flow_list *list, struct ferry_flow *flow,
			     struct ferry_flow_link *link);
void ferry_stack_list_remove(struct ferry_flow_list *list, struct ferry_flow *flow,
			     struct ferry_flow_link *link);

/* tcp.c */
int ferry_stack_tcp_input(struct ferry_stack *stack, const struct ferry_pkt *pkt);
/* Ends the flow: how toward the application, tcp_closed(reason) toward the caller if
 * notify; at once, or when the running callback of this flow returned (tcp.c). */
void ferry_stack_tcp_end(struct ferry_flow *flow, enum ferry_flow_end how, int notify, int reason);
/* Around a callback or entry point for the flow; leave finishes a flow that died meanwhile
 * and returns what an lwIP callback for it must return. */
void ferry_stack_tcp_enter(struct ferry_flow *flow);
err_t ferry_stack_tcp_leave(struct ferry_flow *flow);
/* Ties lwIP's new pcb to the flow: its callbacks, Nagle off, keepalive, the opening
 * window (the flow's share of the budget). */
void ferry_stack_tcp_adopt(struct ferry_flow *flow, struct tcp_pcb *pcb);
/* lwIP's accept callback: the application's ACK completed the handshake. */
err_t ferry_stack_tcp_accept(void *arg, struct tcp_pcb *newpcb, err_t err);
void ferry_stack_tcp_timers(struct ferry_stack *stack);
/* Hands lwIP the SYNs released while it was busy (see lwip_depth); a no-op inside lwIP. */
void ferry_stack_tcp_inject_deferred(struct ferry_stack *stack);
uint64_t ferry_stack_tcp_deadline(const struct ferry_stack *stack);
/* Ends a flow from the stack's side (eviction, destroy): how toward the application,
 * tcp_closed(reason) toward the caller. */
void ferry_stack_tcp_kill(struct ferry_flow *flow, enum ferry_flow_end how, int reason);
/* Sends the ACKs owed to applications for bytes the caller took (end of an entry point). */
void ferry_stack_tcp_flush_out(struct ferry_stack *stack);
/* Serves a flow that waited for memory: reopens its window, calls its owed tcp_sendable.
 * Returns true when it no longer waits (or ended), false while it is still starved. */
bool ferry_stack_tcp_serve(struct ferry_flow *flow);

/* tcp_open.c: a connection's opening */
static inline int ferry_stack_tcp_in_handshake(const struct ferry_flow *flow)
{
	return flow->state == FERRY_FLOW_HANDSHAKE || flow->state == FERRY_FLOW_HANDSHAKE_SHUT;
}
/* A SYN for a 4-tuple the table does not know: a new flow, held until the caller answers. */
int ferry_stack_tcp_open(struct ferry_stack *stack, const struct ferry_pkt *pkt);
/* An RST, or an ICMP unreachable quoting the held SYN, toward the application, from the
 * flow's destination: for a connection lwIP never saw. */
void ferry_stack_tcp_send_rst(struct ferry_flow *flow);
void ferry_stack_tcp_send_unreach(struct ferry_flow *flow, int err);
/* Drops the reference a flow in its handshake holds on its port's listener; the next
 * timer run closes listeners without one (never from inside lwIP's callbacks). */
void ferry_stack_tcp_listener_unref(struct ferry_flow *flow);
void ferry_stack_tcp_listeners_sweep(struct ferry_stack *stack);

/* budget.c (see there); tcp.c applies what it decides to lwIP's pcbs. */
void ferry_stack_budget_init(struct ferry_stack *stack);
/* Commits and returns the receive window a new connection opens with / the flow may be
 * given now (lwIP keeps at most rx_max for its pcb; floor: two of its segments). */
uint32_t ferry_stack_budget_rx_open(struct ferry_flow *flow, uint32_t rx_max, uint32_t floor);
uint32_t ferry_stack_budget_rx_grant(struct ferry_flow *flow, uint32_t rx_max, uint32_t floor);
/* n bytes arrived from the application into the flow's queue / the caller took them. */
void ferry_stack_budget_rx_arrived(struct ferry_flow *flow, uint32_t n);
void ferry_stack_budget_rx_taken(struct ferry_flow *flow, uint32_t n);
/* How many bytes toward the application the flow may queue now (lwIP allows tx_max). */
uint32_t ferry_stack_budget_tx_room(const struct ferry_flow *flow, uint32_t tx_max, uint32_t floor);
/* lwIP now holds `held` bytes of the flow's toward the application. */
void ferry_stack_budget_tx_set(struct ferry_flow *flow, uint32_t held);
/* The flow ends: its commitments are returned and it stops waiting. */
void ferry_stack_budget_release(struct ferry_flow *flow);
/* The flow is starved for memory until woken (ferry_stack_tcp_serve says when it is not). */
void ferry_stack_budget_wait(struct ferry_flow *flow);
void ferry_stack_budget_unwait(struct ferry_flow *flow);
/* Serves the waiters if memory was released; only outside callbacks and lwIP. */
void ferry_stack_budget_wake(struct ferry_stack *stack);
/* The waiters' retry: a deadline while anyone waits, and its timer. */
uint64_t ferry_stack_budget_deadline(const struct ferry_stack *stack);
void ferry_stack_budget_timer(struct ferry_stack *stack);

/* udp.c */
int ferry_stack_udp_input(struct ferry_stack *stack, const struct ferry_pkt *pkt);
int ferry_stack_icmp_input(struct ferry_stack *stack, const struct ferry_pkt *pkt);
void ferry_stack_udp_timers(struct ferry_stack *stack);
uint64_t ferry_stack_udp_deadline(const struct ferry_stack *stack);
void ferry_stack_udp_kill(struct ferry_flow *flow);

#endif
