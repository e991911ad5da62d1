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
 * comes from a real echo at the far side, so ping shows the true round trip. A request
 * the caller cannot carry (no peer routes its destination) is answered with an ICMP
 * destination unreachable at once, not with silence; so is a datagram too big for the
 * caller to carry, with an ICMP "too big" (ferry_stack_udp_too_big).
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
		if (ops->udp_open) {
			int err;

			ferry_stack_cb_enter(stack);
			err = ops->udp_open(stack->ctx, flow, &flow->src, &flow->dst);
			ferry_stack_cb_leave(stack);
			if (err) {
				ferry_stack_flow_release(flow);
				ferry_stack_count_drop(stack, FERRY_STACK_DROP_REFUSED);
				return -EPERM;
			}
		}
		stack->stats.udp_opened++;
	}
	ferry_stack_flow_touch(flow);
	flow->count.packets_in++;
	flow->count.bytes_in += pkt->payload_len;
	flow->last_len = (uint16_t)pkt->payload_len;
	flow->in_cb++;
	ferry_stack_cb_enter(stack);
	ops->udp_datagram(stack->ctx, flow, pkt->payload, pkt->payload_len);
	ferry_stack_cb_leave(stack);
	if (--flow->in_cb == 0 && flow->state == FERRY_FLOW_DEAD)
		ferry_stack_flow_release(flow); /* the caller closed it from the callback */
	return 0;
}

void ferry_stack_udp_kill(struct ferry_flow *flow)
{
	struct ferry_stack *stack = flow->stack;

	stack->stats.udp_closed++;
	flow->state = FERRY_FLOW_DEAD;
	if (stack->ops->udp_closed) {
		ferry_stack_cb_enter(stack);
		stack->ops->udp_closed(stack->ctx, flow);
		ferry_stack_cb_leave(stack);
	}
	ferry_stack_flow_release(flow);
}

/* The IP and UDP headers of the application's last datagram, as an ICMP error quotes
 * them (the checksum is left zero: the receiver matches the ports). */
static size_t quote_last(const struct ferry_flow *flow, uint8_t *out, size_t cap)
{
	uint8_t udp[FERRY_PKT_UDP_HLEN] = {0};
	size_t len = (size_t)flow->last_len + FERRY_PKT_UDP_HLEN, n;

	udp[0] = (uint8_t)(flow->src.port >> 8);
	udp[1] = (uint8_t)flow->src.port;
	udp[2] = (uint8_t)(flow->dst.port >> 8);
	udp[3] = (uint8_t)flow->dst.port;
	udp[4] = (uint8_t)(len >> 8);
	udp[5] = (uint8_t)len;
	n = ferry_stack_pkt_build(out, cap, &flow->src, &flow->dst, FERRY_PKT_PROTO_UDP, udp,
				  sizeof(udp), NULL, 0);
	if (!n)
		return 0;
	/* the quoted IP header announces the datagram's real length */
	if (flow->src.family == AF_INET) {
		uint16_t csum;

		out[2] = (uint8_t)((len + FERRY_PKT_IP4_HLEN) >> 8);
		out[3] = (uint8_t)(len + FERRY_PKT_IP4_HLEN);
		out[10] = out[11] = 0;
		csum = (uint16_t)~ferry_stack_pkt_csum_fold(
		    ferry_stack_pkt_csum_add(0, out, FERRY_PKT_IP4_HLEN));
		out[10] = (uint8_t)(csum >> 8);
		out[11] = (uint8_t)csum;
	} else {
		out[4] = (uint8_t)(len >> 8);
		out[5] = (uint8_t)len;
	}
	out[n - 2] = out[n - 1] = 0; /* the UDP checksum covered bytes not quoted */
	return n;
}

int ferry_stack_udp_close(struct ferry_flow *flow, int err)
{
	struct ferry_stack *stack = flow->stack;
	uint8_t quote[FERRY_PKT_IP6_HLEN + FERRY_PKT_UDP_HLEN];

	if (flow->proto != FERRY_FLOW_UDP || flow->state == FERRY_FLOW_DEAD)
		return -EINVAL;
	if (err) {
		size_t n = quote_last(flow, quote, sizeof(quote));

		if (n) {
			stack->stats.udp_unreach++;
			ferry_stack_send_unreach(stack, &flow->dst, &flow->src, err, quote, n);
		}
	}
	stack->stats.udp_closed++;
	flow->state = FERRY_FLOW_DEAD;
	if (!flow->in_cb)
		ferry_stack_flow_release(flow);
	return 0;
}

int ferry_stack_udp_too_big(struct ferry_flow *flow, size_t max_payload)
{
	struct ferry_stack *stack = flow->stack;
	uint8_t quote[FERRY_PKT_IP6_HLEN + FERRY_PKT_UDP_HLEN];
	uint8_t icmp[FERRY_PKT_ICMP_HLEN] = {0};
	size_t qlen, mtu, n;
	bool v4 = flow->src.family == AF_INET;

	if (flow->proto != FERRY_FLOW_UDP || flow->state == FERRY_FLOW_DEAD)
		return -EINVAL;
	qlen = quote_last(flow, quote, sizeof(quote));
	if (!qlen)
		return -EINVAL;
	/* the largest IP packet whose payload the caller carries */
	mtu = max_payload + FERRY_PKT_UDP_HLEN + (v4 ? FERRY_PKT_IP4_HLEN : FERRY_PKT_IP6_HLEN);
	if (mtu > 0xffff)
		mtu = 0xffff;
	icmp[0] = v4 ? FERRY_PKT_ICMP4_UNREACH : FERRY_PKT_ICMP6_TOO_BIG;
	icmp[1] = v4 ? FERRY_PKT_ICMP4_FRAG_NEEDED : 0;
	/* the MTU: a u16 in bytes 6-7 (RFC 1191), a u32 in bytes 4-7 (RFC 4443 3.2) */
	icmp[6] = (uint8_t)(mtu >> 8);
	icmp[7] = (uint8_t)mtu;
	n = ferry_stack_pkt_build(stack->out, stack->out_cap, &flow->dst, &flow->src,
				  v4 ? FERRY_PKT_PROTO_ICMP : FERRY_PKT_PROTO_ICMP6, icmp,
				  sizeof(icmp), quote, qlen);
	if (n) {
		stack->stats.udp_too_big++;
		ferry_stack_emit(stack, stack->out, n);
	}
	return 0;
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
	flow->count.packets_out++;
	flow->count.bytes_out += len;
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
	int err;

	if (pkt->icmp_type != echo || pkt->icmp_code != 0) {
		ferry_stack_count_drop(stack, FERRY_STACK_DROP_PROTO);
		return -EPROTONOSUPPORT;
	}
	if (!stack->ops->icmp_echo) {
		ferry_stack_count_drop(stack, FERRY_STACK_DROP_REFUSED);
		return -EPERM;
	}
	ferry_stack_cb_enter(stack);
	err = stack->ops->icmp_echo(stack->ctx, &pkt->src, &pkt->dst, pkt->icmp_seq, pkt->payload,
				    pkt->payload_len);
	ferry_stack_cb_leave(stack);
	if (err) {
		/* RFC 792: the IP header and 8 bytes, the echo's id and sequence among them;
		 * RFC 4443 asks for more, but ping matches on those alone. */
		size_t qlen = (size_t)(pkt->l4 - pkt->ip) + 8;

		stack->stats.echo_unreach++;
		ferry_stack_send_unreach(stack, &pkt->dst, &pkt->src, err, pkt->ip, qlen);
	}
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
