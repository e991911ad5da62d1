// SPDX-License-Identifier: MIT
/*
 * UDP flows and ICMP echo: caught before lwIP, answered with packets built here.
 *
 * A UDP flow is (application source, destination); the first datagram creates it
 * (ops->udp_open may refuse), every datagram refreshes it, and udp_idle_timeout_ms
 * without one ends it. Replies carry any source the caller names: the flow's destination
 * by default, or another address and port for full-cone behaviour (the far side maps one
 * socket per application source, so STUN answers and game servers that reply from
 * elsewhere reach the application as they would without the tunnel).
 *
 * ICMP echo requests are handed to ops->icmp_echo and never answered here: the reply
 * comes from a real echo at the far side, so ping shows the true round trip.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "stack/internal.h"

int ferry_stack_udp_input(struct ferry_stack *stack, const struct ferry_pkt *pkt)
{
	const struct ferry_stack_ops *ops = stack->ops;
	struct ferry_flow *flow;

	flow = ferry_stack_flow_find(stack, FERRY_FLOW_UDP, &pkt->src, &pkt->dst);
	if (!flow) {
		flow = ferry_stack_flow_new(stack, FERRY_FLOW_UDP, &pkt->src, &pkt->dst);
		if (!flow) {
			ferry_stack_count_drop(stack, FERRY_STACK_DROP_FLOWS_FULL);
			return -ENOSPC;
		}
		flow->state = FERRY_FLOW_OPEN;
		if (ops->udp_open && ops->udp_open(stack->ctx, flow, &flow->src, &flow->dst)) {
			ferry_stack_flow_release(flow);
			ferry_stack_count_drop(stack, FERRY_STACK_DROP_REFUSED);
			return -EPERM;
		}
		stack->stats.udp_opened++;
	}
	ferry_stack_flow_touch(flow);
	flow->in_cb++;
	ops->udp_datagram(stack->ctx, flow, pkt->payload, pkt->payload_len);
	flow->in_cb--;
	return 0;
}

void ferry_stack_udp_kill(struct ferry_flow *flow)
{
	struct ferry_stack *stack = flow->stack;

	stack->stats.udp_closed++;
	flow->state = FERRY_FLOW_DEAD;
	if (stack->ops->udp_closed)
		stack->ops->udp_closed(stack->ctx, flow);
	ferry_stack_flow_release(flow);
}

int ferry_stack_udp_send(struct ferry_flow *flow, const struct ferry_endpoint *from,
			 const uint8_t *data, size_t len)
{
	struct ferry_stack *stack = flow->stack;
	uint8_t udp[FERRY_PKT_UDP_HLEN];
	size_t n;

	if (flow->proto != FERRY_FLOW_UDP || flow->state == FERRY_FLOW_DEAD)
		return -EINVAL;
	if (!from)
		from = &flow->dst;
	if (from->family != flow->src.family)
		return -EINVAL;
	if (len > 0xffff - FERRY_PKT_UDP_HLEN)
		return -EMSGSIZE;
	udp[0] = (uint8_t)(from->port >> 8);
	udp[1] = (uint8_t)from->port;
	udp[2] = (uint8_t)(flow->src.port >> 8);
	udp[3] = (uint8_t)flow->src.port;
	udp[4] = (uint8_t)((len + FERRY_PKT_UDP_HLEN) >> 8);
	udp[5] = (uint8_t)(len + FERRY_PKT_UDP_HLEN);
	udp[6] = udp[7] = 0;
	n = ferry_stack_pkt_build(stack->out, stack->out_cap, from, &flow->src, FERRY_PKT_PROTO_UDP,
				  udp, sizeof(udp), data, len);
	if (!n)
		return -EMSGSIZE;
	ferry_stack_flow_touch(flow);
	ferry_stack_emit(stack, stack->out, n);
	return 0;
}

void ferry_stack_udp_timers(struct ferry_stack *stack)
{
	uint64_t idle = stack->cfg.udp_idle_timeout_ms;
	struct ferry_flow *flow;

	while ((flow = stack->udp_lru.tail) != NULL && flow->last_active + idle <= stack->now &&
	       !flow->in_cb)
		ferry_stack_udp_kill(flow);
}

uint64_t ferry_stack_udp_deadline(const struct ferry_stack *stack)
{
	const struct ferry_flow *flow = stack->udp_lru.tail;

	return flow ? flow->last_active + stack->cfg.udp_idle_timeout_ms : UINT64_MAX;
}

int ferry_stack_icmp_input(struct ferry_stack *stack, const struct ferry_pkt *pkt)
{
	uint8_t echo =
	    pkt->proto == FERRY_PKT_PROTO_ICMP ? FERRY_PKT_ICMP4_ECHO : FERRY_PKT_ICMP6_ECHO;

	if (pkt->icmp_type != echo || pkt->icmp_code != 0) {
		ferry_stack_count_drop(stack, FERRY_STACK_DROP_PROTO);
		return -EPROTONOSUPPORT;
	}
	if (!stack->ops->icmp_echo) {
		ferry_stack_count_drop(stack, FERRY_STACK_DROP_REFUSED);
		return -EPERM;
	}
	stack->ops->icmp_echo(stack->ctx, &pkt->src, &pkt->dst, pkt->icmp_seq, pkt->payload,
			      pkt->payload_len);
	return 0;
}

int ferry_stack_icmp_echo_reply(struct ferry_stack *stack, const struct ferry_endpoint *app,
				const struct ferry_endpoint *from, uint16_t seq,
				const uint8_t *data, size_t len)
{
	uint8_t icmp[FERRY_PKT_ICMP_HLEN];
	size_t n;

	if (app->family != from->family || (app->family != AF_INET && app->family != AF_INET6))
		return -EINVAL;
	icmp[0] = app->family == AF_INET ? FERRY_PKT_ICMP4_ECHO_REPLY : FERRY_PKT_ICMP6_ECHO_REPLY;
	icmp[1] = 0;
	icmp[2] = icmp[3] = 0;
	icmp[4] = (uint8_t)(app->port >> 8);
	icmp[5] = (uint8_t)app->port;
	icmp[6] = (uint8_t)(seq >> 8);
	icmp[7] = (uint8_t)seq;
	n = ferry_stack_pkt_build(stack->out, stack->out_cap, from, app,
				  app->family == AF_INET ? FERRY_PKT_PROTO_ICMP
							 : FERRY_PKT_PROTO_ICMP6,
				  icmp, sizeof(icmp), data, len);
	if (!n)
		return -EMSGSIZE;
	ferry_stack_emit(stack, stack->out, n);
	return 0;
}
