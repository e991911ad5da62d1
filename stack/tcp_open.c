// SPDX-License-Identifier: MIT
/*
 * A TCP connection's opening; tcp.c has the rest of its life.
 *
 * Honest connect. A SYN for a 4-tuple the table does not know never reaches lwIP: it is
 * kept (flow->syn, state CONNECTING) and ops->tcp_open asks the caller to connect the
 * far side. Retransmissions of that SYN find the flow and are dropped. On
 * ferry_stack_tcp_connected the SYN is handed to lwIP after all, with a listener for its
 * destination port (bound to any address, made on demand, shared by the port's
 * handshakes, closed when none is left); lwIP makes the connection's pcb, which the
 * listener's ext-arg passive_open callback ties to the flow, and answers with a SYN-ACK
 * from the original destination (state HANDSHAKE). The application's ACK completes it
 * (accept callback, state OPEN). A refusal never gets that far: the application gets an
 * RST or ICMP unreachable built here, from the held SYN.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "lwip/ip.h"
#include "lwip/priv/tcp_priv.h" /* tcp_tw_pcbs (drop_time_wait) */
#include "stack/internal.h"

static const struct tcp_ext_arg_callbacks ext_callbacks;

/* ---- packets ferry writes for connections lwIP never saw ---- */

void ferry_stack_tcp_send_rst(struct ferry_flow *flow)
{
	struct ferry_stack *stack = flow->stack;
	uint8_t tcp[FERRY_PKT_TCP_HLEN] = {0};
	uint32_t ack = flow->syn_seq + 1;
	size_t n;

	tcp[0] = (uint8_t)(flow->dst.port >> 8);
	tcp[1] = (uint8_t)flow->dst.port;
	tcp[2] = (uint8_t)(flow->src.port >> 8);
	tcp[3] = (uint8_t)flow->src.port;
	tcp[8] = (uint8_t)(ack >> 24);
	tcp[9] = (uint8_t)(ack >> 16);
	tcp[10] = (uint8_t)(ack >> 8);
	tcp[11] = (uint8_t)ack;
	tcp[12] = (FERRY_PKT_TCP_HLEN / 4) << 4;
	tcp[13] = FERRY_PKT_TCP_RST | FERRY_PKT_TCP_ACK;
	n = ferry_stack_pkt_build(stack->out, stack->out_cap, &flow->dst, &flow->src,
				  FERRY_PKT_PROTO_TCP, tcp, sizeof(tcp), NULL, 0);
	if (n)
		ferry_stack_emit(stack, stack->out, n);
}

/* ICMP destination unreachable quoting the held SYN, from its destination. */
void ferry_stack_tcp_send_unreach(struct ferry_flow *flow, int err)
{
	uint8_t quote[FERRY_PKT_IP6_HLEN + 60 + 8];
	size_t qlen;

	if (!flow->syn) {
		ferry_stack_tcp_send_rst(flow);
		return;
	}
	/* RFC 792 asks for the IP header and 8 bytes, RFC 4443 for as much as fits in
	 * 1280 bytes; a SYN is small, so both get all of it. */
	qlen = flow->syn->tot_len;
	if (qlen > sizeof(quote))
		qlen = sizeof(quote);
	pbuf_copy_partial(flow->syn, quote, (u16_t)qlen, 0);
	ferry_stack_send_unreach(flow->stack, &flow->dst, &flow->src, err, quote, qlen);
}

/* ---- listeners: one per destination port with a handshake under way ---- */

static int listener_ref(struct ferry_stack *stack, uint16_t port)
{
	struct ferry_stack_listener *slot = NULL;
	struct tcp_pcb *pcb, *lpcb;
	uint32_t i;

	for (i = 0; i < MEMP_NUM_TCP_PCB_LISTEN; i++) {
		if (stack->listeners[i].pcb && stack->listeners[i].port == port) {
			stack->listeners[i].refs++;
			return 0;
		}
		if (!stack->listeners[i].pcb && !slot)
			slot = &stack->listeners[i];
	}
	if (!slot)
		return -ENOSPC;
	pcb = tcp_new_ip_type(IPADDR_TYPE_ANY);
	if (!pcb)
		return -ENOMEM;
	ip_set_option(pcb, SOF_REUSEADDR);
	if (tcp_bind(pcb, IP_ANY_TYPE, port) != ERR_OK) {
		tcp_abort(pcb);
		return -EADDRINUSE;
	}
	lpcb = tcp_listen(pcb);
	if (!lpcb) {
		tcp_abort(pcb);
		return -ENOMEM;
	}
	tcp_arg(lpcb, stack);
	tcp_accept(lpcb, ferry_stack_tcp_accept);
	tcp_ext_arg_set_callbacks(lpcb, ferry_stack_lwip_ext_id(), &ext_callbacks);
	slot->pcb = lpcb;
	slot->port = port;
	slot->refs = 1;
	return 0;
}

/* Drops the reference a flow in its handshake holds; listeners without one are closed by
 * the next timer run, never from inside lwIP's own callbacks. */
void ferry_stack_tcp_listener_unref(struct ferry_flow *flow)
{
	struct ferry_stack *stack = flow->stack;
	uint32_t i;

	for (i = 0; i < MEMP_NUM_TCP_PCB_LISTEN; i++)
		if (stack->listeners[i].pcb && stack->listeners[i].port == flow->dst.port) {
			stack->listeners[i].refs--;
			return;
		}
}

void ferry_stack_tcp_listeners_sweep(struct ferry_stack *stack)
{
	uint32_t i;

	for (i = 0; i < MEMP_NUM_TCP_PCB_LISTEN; i++)
		if (stack->listeners[i].pcb && stack->listeners[i].refs == 0) {
			tcp_close(stack->listeners[i].pcb);
			stack->listeners[i].pcb = NULL;
		}
}

/* ---- lwIP makes the pcb ---- */

static void endpoint_from_ip(struct ferry_endpoint *ep, const ip_addr_t *ip, u16_t port)
{
	memset(ep, 0, sizeof(*ep));
	if (IP_IS_V6_VAL(*ip)) {
		ep->family = AF_INET6;
		memcpy(ep->addr, ip_2_ip6(ip)->addr, 16);
	} else {
		ep->family = AF_INET;
		memcpy(ep->addr, &ip_2_ip4(ip)->addr, 4);
	}
	ep->port = port;
}

/* lwIP made the pcb for a SYN we handed it: tie it to its flow before the SYN-ACK, whose
 * window is the flow's opening share of the budget. */
static err_t on_passive_open(u8_t id, struct tcp_pcb_listen *lpcb, struct tcp_pcb *cpcb)
{
	struct ferry_stack *stack = lpcb->callback_arg;
	struct ferry_endpoint src, dst;
	struct ferry_flow *flow;

	(void)id;
	endpoint_from_ip(&src, &cpcb->remote_ip, cpcb->remote_port);
	endpoint_from_ip(&dst, &cpcb->local_ip, cpcb->local_port);
	flow = ferry_stack_flow_find(stack, FERRY_FLOW_TCP, &src, &dst);
	if (!flow || !ferry_stack_tcp_in_handshake(flow) || flow->pcb)
		return ERR_ABRT; /* lwIP drops the new pcb silently */
	ferry_stack_tcp_adopt(flow, cpcb);
	return ERR_OK;
}

static const struct tcp_ext_arg_callbacks ext_callbacks = {
    .destroy = NULL,
    .passive_open = on_passive_open,
};

/* ---- a SYN arrives ---- */

static void flow_refuse(struct ferry_flow *flow, int err)
{
	struct ferry_stack *stack = flow->stack;

	if (err == -ECONNREFUSED) {
		stack->stats.tcp_refused++;
		ferry_stack_tcp_end(flow, FERRY_END_RST, 0, err);
	} else {
		stack->stats.tcp_unreach++;
		ferry_stack_tcp_end(flow, FERRY_END_UNREACH, 0, err);
	}
}

int ferry_stack_tcp_open(struct ferry_stack *stack, const struct ferry_pkt *pkt)
{
	struct ferry_flow *flow;
	int err;

	flow = ferry_stack_flow_new(stack, FERRY_FLOW_TCP, &pkt->src, &pkt->dst);
	if (!flow) {
		struct ferry_flow tmp = {
		    .stack = stack, .src = pkt->src, .dst = pkt->dst, .syn_seq = pkt->tcp_seq};

		ferry_stack_count_drop(stack, FERRY_STACK_DROP_FLOWS_FULL);
		ferry_stack_tcp_send_rst(&tmp);
		return -ENOSPC;
	}
	flow->syn = pbuf_alloc(PBUF_RAW, (u16_t)pkt->len, PBUF_RAM);
	if (!flow->syn) {
		ferry_stack_flow_release(flow);
		ferry_stack_count_drop(stack, FERRY_STACK_DROP_NOMEM);
		return -ENOMEM;
	}
	memcpy(flow->syn->payload, pkt->ip, pkt->len);
	flow->syn_seq = pkt->tcp_seq;
	flow->state = FERRY_FLOW_CONNECTING;
	flow->count.packets_in = 1;
	ferry_stack_flow_deadline_set(flow, &stack->connecting,
				      stack->now + stack->cfg.connect_timeout_ms);
	stack->stats.tcp_opened++;
	ferry_stack_tcp_enter(flow);
	ferry_stack_cb_enter(stack);
	err = stack->ops->tcp_open(stack->ctx, flow, &flow->src, &flow->dst);
	ferry_stack_cb_leave(stack);
	if (err == -EAGAIN && flow->state == FERRY_FLOW_CONNECTING) {
		ferry_stack_count_drop(stack, FERRY_STACK_DROP_BUSY);
		stack->stats.tcp_opened--; /* it was not: the application will ask again */
		ferry_stack_tcp_end(flow, FERRY_END_NONE, 0, err);
	} else if (err && flow->state == FERRY_FLOW_CONNECTING) {
		flow_refuse(flow, err);
	}
	ferry_stack_tcp_leave(flow);
	return 0;
}

/* ---- the caller answers ---- */

/* A TIME_WAIT pcb of an earlier connection on the same 4-tuple would answer the new SYN
 * with an RST or an ACK; a new connection the far side accepted wins (RFC 6191's spirit). */
static void drop_time_wait(struct ferry_flow *flow)
{
	struct ferry_endpoint src, dst;
	struct tcp_pcb *pcb;

	for (pcb = tcp_tw_pcbs; pcb; pcb = pcb->next) {
		if (pcb->local_port != flow->dst.port || pcb->remote_port != flow->src.port)
			continue;
		endpoint_from_ip(&src, &pcb->remote_ip, pcb->remote_port);
		endpoint_from_ip(&dst, &pcb->local_ip, pcb->local_port);
		if (ferry_endpoint_eq(&src, &flow->src) && ferry_endpoint_eq(&dst, &flow->dst)) {
			tcp_abort(pcb);
			return;
		}
	}
}

/* Hands a HANDSHAKE flow's held SYN to lwIP. Only at lwip_depth 0: lwIP's input path
 * is not re-entrant. Returns 0, or -ENOMEM if lwIP made no pcb (the flow is ended with an
 * RST toward the app, tcp_closed(-ECONNABORTED) if notify). */
static int inject_syn(struct ferry_flow *flow, int notify)
{
	struct ferry_stack *stack = flow->stack;
	struct pbuf *syn = flow->syn;
	int err = 0;

	flow->syn = NULL;
	drop_time_wait(flow);
	ferry_stack_tcp_enter(flow);
	stack->lwip_depth++;
	stack->netif.input(syn, &stack->netif);
	stack->lwip_depth--;
	if (!flow->pcb && ferry_stack_tcp_in_handshake(flow)) {
		ferry_stack_tcp_end(flow, FERRY_END_RST, notify, -ECONNABORTED);
		err = -ENOMEM;
	}
	ferry_stack_tcp_leave(flow);
	return err;
}

void ferry_stack_tcp_inject_deferred(struct ferry_stack *stack)
{
	struct ferry_flow *flow;
	unsigned rounds = 0;

	if (stack->lwip_depth || !stack->inject_pending)
		return;
	stack->inject_pending = 0;
	/* Restart the walk after each SYN: its callbacks may end other flows. Each round
	 * clears one held SYN, so this ends. */
	while (rounds++ <= stack->cfg.max_tcp_flows) {
		for (flow = stack->handshake.head; flow && !flow->syn; flow = flow->timer.next)
			;
		if (!flow)
			break;
		inject_syn(flow, 1);
	}
}

int ferry_stack_tcp_connected(struct ferry_flow *flow)
{
	struct ferry_stack *stack = flow->stack;
	int err;

	if (flow->state != FERRY_FLOW_CONNECTING)
		return -EINVAL;
	err = listener_ref(stack, flow->dst.port);
	if (err) {
		ferry_stack_tcp_end(flow, FERRY_END_RST, 0, -ECONNABORTED);
		return -ENOMEM;
	}
	flow->state = FERRY_FLOW_HANDSHAKE;
	ferry_stack_flow_deadline_set(flow, &stack->handshake,
				      stack->now + stack->cfg.handshake_timeout_ms);
	if (stack->lwip_depth) {
		/* Called from inside lwIP (an ops callback of another connection): the SYN
		 * goes in once lwIP returned. */
		stack->inject_pending = 1;
		return 0;
	}
	err = inject_syn(flow, 0);
	ferry_stack_tcp_inject_deferred(stack); /* connects made by its callbacks */
	return err;
}

void ferry_stack_tcp_refused(struct ferry_flow *flow, int err)
{
	if (flow->state == FERRY_FLOW_CONNECTING)
		flow_refuse(flow, err);
	else
		ferry_stack_tcp_end(flow, FERRY_END_RST, 0, err);
}
