// SPDX-License-Identifier: MIT
/*
 * The stack's owner struct, the TUN edge and lwIP's netif.
 *
 * Input: ferry_stack_input() parses each packet (stack/packet.c) before lwIP sees it and
 * sends it one of three ways: TCP to tcp.c (which holds new SYNs and hands everything
 * else to lwIP), UDP and ICMP echo to udp.c (never to lwIP). Malformed packets stop here
 * with a counted drop, so lwIP only ever parses what the parser accepted.
 *
 * Any-destination capture: lwIP 2.1 accepts a packet only for an address of its netif
 * (ip4_input_accept, ip6_input_accept). Its IP input hooks run just before that test, so
 * ferry's hook sets the netif's one IPv4 address, or its one IPv6 address, to the
 * packet's destination. Every packet that reaches lwIP is then for "us"; lwIP's TCP takes
 * the local address of a new connection from the packet (tcp_listen_input), so replies
 * leave from the original destination. The hook touches only the address fields, never
 * through netif_set_ipaddr (which would abort connections bound to the old address).
 *
 * Output: lwIP hands each IP packet to netif->output / output_ip6, which copy it into
 * one buffer and give it to ops->tun_write. The packets ferry builds itself (RST, ICMP,
 * UDP) go the same way through ferry_stack_emit. lwIP's packets never exceed the MTU
 * (its segments are MSS-sized, IP_FRAG is off), but the buffer holds any IP packet: a
 * UDP datagram or echo reply from the far side is written whole even above the TUN's
 * MTU, as it crossed the tunnel whole, and the kernel's receive path does not check a
 * device's MTU (docs/mtu.md).
 *
 * Entry points and callbacks. Every ops callback is bracketed (cb_depth); while one runs,
 * input, timers and flush refuse, so no flow is ever re-entered from the caller's
 * callback. Each top-level entry point ends by serving the flows that waited for memory
 * and sending the ACKs owed to applications (ferry_stack_flush); a batch does that once.
 * A new flow that finds the table full evicts here, before tcp.c or udp.c make it, so
 * the victim's tcp_closed never runs inside another flow's handling.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <sodium.h>

#include "lwip/ip.h"
#include "lwip/ip6_addr.h"
#include "lwip/priv/tcp_priv.h" /* tcp_active_pcbs, tcp_tw_pcbs: see abort_orphan_pcbs */
#include "lwip/stats.h"
#include "lwip/timeouts.h"
#include "stack/internal.h"
#include "transport/pool.h"

enum {
	OUT_CAP = FERRY_PKT_IP6_HLEN + 0xffff, /* the largest packet written: IPv6, full */
};

void ferry_stack_config_default(struct ferry_stack_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->mtu = FERRY_STACK_MTU_DEFAULT;
	cfg->max_tcp_flows = 12288;
	cfg->max_udp_flows = 4096;
	cfg->evict_lru = true;
	cfg->evict_min_idle_ms = 60000;
	/* The side that holds the SYN outlives the far side's connect (egress: 10 s) plus a
	 * long path's round trips, so the application learns the far side's real errno. */
	cfg->connect_timeout_ms = 15000;
	cfg->handshake_timeout_ms = 20000;
	cfg->tcp_idle_timeout_ms = 2 * 3600 * 1000;
	cfg->udp_idle_timeout_ms = 60000;
	/* Toward the application on this host: a probe costs nothing on the wire, and the
	 * kernel answers one for a socket it closed with a reset. A reset whose sequence
	 * number lies past lwIP's window (an application that went away with bytes lwIP had
	 * not taken) is dropped (RFC 5961; lwIP's tcp_process): without a probe such a flow
	 * held a conversation at both ends until the 2-hour idle reset (the soak left
	 * hundreds once its load ended). */
	cfg->keepalive_idle_ms = 60000;
	cfg->keepalive_interval_ms = 10000;
	cfg->keepalive_count = 6;
	cfg->mem_budget = (uint64_t)24 * 1024 * 1024;
}

static int config_valid(const struct ferry_stack_config *cfg)
{
	return cfg->mtu >= FERRY_STACK_MTU_MIN && cfg->mtu <= FERRY_STACK_MTU_MAX &&
	       cfg->max_tcp_flows >= 1 &&
	       cfg->max_tcp_flows <= MEMP_NUM_TCP_PCB - MEMP_NUM_TCP_PCB / 8 &&
	       cfg->max_udp_flows >= 1 && cfg->max_udp_flows <= (1u << 24) &&
	       cfg->connect_timeout_ms > 0 && cfg->handshake_timeout_ms > 0 &&
	       cfg->udp_idle_timeout_ms > 0 && cfg->mem_budget >= FERRY_STACK_MEM_BUDGET_MIN &&
	       cfg->mem_budget <= FERRY_STACK_MEM_BUDGET_MAX &&
	       (cfg->keepalive_idle_ms == 0 ||
		(cfg->keepalive_interval_ms > 0 && cfg->keepalive_count > 0));
}

int ferry_stack_emit(struct ferry_stack *stack, const uint8_t *pkt, size_t len)
{
	int err = stack->ops->tun_write(stack->ctx, pkt, len);

	if (err)
		stack->stats.tun_full++;
	else
		stack->stats.packets_out++;
	return err;
}

static uint8_t unreach_code(int family, int err)
{
	if (family == AF_INET)
		return err == -ECONNREFUSED		 ? 3
		       : err == -ENETUNREACH		 ? 0
		       : err == -EACCES || err == -EPERM ? 13
							 : 1;
	return err == -ECONNREFUSED		 ? 4
	       : err == -ENETUNREACH		 ? 0
	       : err == -EACCES || err == -EPERM ? 1
						 : 3;
}

void ferry_stack_send_unreach(struct ferry_stack *stack, const struct ferry_endpoint *from,
			      const struct ferry_endpoint *to, int err, const uint8_t *quote,
			      size_t qlen)
{
	uint8_t icmp[FERRY_PKT_ICMP_HLEN] = {0};
	size_t n;

	icmp[0] = to->family == AF_INET ? FERRY_PKT_ICMP4_UNREACH : FERRY_PKT_ICMP6_UNREACH;
	icmp[1] = unreach_code(to->family, err);
	n = ferry_stack_pkt_build(stack->out, stack->out_cap, from, to,
				  to->family == AF_INET ? FERRY_PKT_PROTO_ICMP
							: FERRY_PKT_PROTO_ICMP6,
				  icmp, sizeof(icmp), quote, qlen);
	if (n)
		ferry_stack_emit(stack, stack->out, n);
}

/* A packet of a protocol ferry does not carry (not TCP, UDP or ICMP): refused aloud, from
 * its destination -- ICMP protocol unreachable, or for IPv6 a parameter problem at the
 * Next Header field (RFC 4443, 3.4) -- quoting its header and 8 bytes, as RFC 792 asks. */
static void send_proto_unreach(struct ferry_stack *stack, const struct ferry_pkt *pkt)
{
	uint8_t icmp[FERRY_PKT_ICMP_HLEN] = {0};
	size_t hlen =
	    pkt->src.family == AF_INET ? (size_t)(pkt->ip[0] & 0x0f) * 4 : FERRY_PKT_IP6_HLEN;
	size_t qlen = hlen + 8 < pkt->len ? hlen + 8 : pkt->len, n;

	if (pkt->src.family == AF_INET) {
		icmp[0] = FERRY_PKT_ICMP4_UNREACH;
		icmp[1] = 2; /* protocol unreachable */
	} else {
		icmp[0] = 4; /* parameter problem */
		icmp[1] = 1; /* unrecognized Next Header type */
		icmp[7] = 6; /* pointer: the Next Header field */
	}
	n = ferry_stack_pkt_build(stack->out, stack->out_cap, &pkt->dst, &pkt->src,
				  pkt->src.family == AF_INET ? FERRY_PKT_PROTO_ICMP
							     : FERRY_PKT_PROTO_ICMP6,
				  icmp, sizeof(icmp), pkt->ip, qlen);
	if (n) {
		stack->stats.proto_unreach++;
		ferry_stack_emit(stack, stack->out, n);
	}
}

void ferry_stack_count_drop(struct ferry_stack *stack, enum ferry_stack_drop why)
{
	stack->stats.drops[why]++;
}

/* Counts an outgoing TCP segment on its flow (the application is its destination). */
static void count_out(struct ferry_stack *stack, const uint8_t *pkt, size_t len)
{
	struct ferry_pkt parsed;
	struct ferry_flow *flow;

	if (ferry_stack_pkt_parse(&parsed, pkt, len) || parsed.proto != FERRY_PKT_PROTO_TCP)
		return;
	flow = ferry_stack_flow_find(stack, FERRY_FLOW_TCP, &parsed.dst, &parsed.src);
	if (flow)
		flow->count.packets_out++;
}

static err_t netif_output_any(struct netif *netif, struct pbuf *p)
{
	struct ferry_stack *stack = netif->state;
	u16_t n;

	if (p->tot_len > stack->out_cap)
		return ERR_BUF;
	n = pbuf_copy_partial(p, stack->out, p->tot_len, 0);
	if (ferry_stack_emit(stack, stack->out, n))
		return ERR_MEM; /* TCP keeps the segment and sends it again */
	count_out(stack, stack->out, n);
	return ERR_OK;
}

static err_t netif_output4(struct netif *netif, struct pbuf *p, const ip4_addr_t *dst)
{
	(void)dst;
	return netif_output_any(netif, p);
}

static err_t netif_output6(struct netif *netif, struct pbuf *p, const ip6_addr_t *dst)
{
	(void)dst;
	return netif_output_any(netif, p);
}

static err_t netif_setup(struct netif *netif)
{
	struct ferry_stack *stack = netif->state;

	netif->name[0] = 'f';
	netif->name[1] = 't';
	netif->mtu = (u16_t)stack->cfg.mtu;
	netif->output = netif_output4;
	netif->output_ip6 = netif_output6;
	netif->flags = 0; /* point to point: no broadcast, no ARP, no multicast */
	return ERR_OK;
}

/* See the file comment: the netif's address becomes the packet's destination. Only
 * packets that stack/packet.c accepted reach lwIP, so the header is there and whole. */
int ferry_stack_lwip_ip4_input_hook(struct pbuf *p, struct netif *inp)
{
	u32_t dst;

	memcpy(&dst, (const uint8_t *)p->payload + 16, sizeof(dst));
	ip4_addr_set_u32(ip_2_ip4(&inp->ip_addr), dst);
	IP_SET_TYPE_VAL(inp->ip_addr, IPADDR_TYPE_V4);
	return 0;
}

int ferry_stack_lwip_ip6_input_hook(struct pbuf *p, struct netif *inp)
{
	memcpy(ip_2_ip6(&inp->ip6_addr[0])->addr, (const uint8_t *)p->payload + 24, 16);
	IP_SET_TYPE_VAL(inp->ip6_addr[0], IPADDR_TYPE_V6);
	inp->ip6_addr_state[0] = IP6_ADDR_PREFERRED;
	return 0;
}

int ferry_stack_create(struct ferry_stack **out, const struct ferry_stack_config *cfg,
		       const struct ferry_stack_ops *ops, void *ctx, uint64_t now)
{
	struct ferry_stack *stack;
	int err;

	*out = NULL;
	if (!cfg || !ops || !ops->tun_write || !ops->tcp_open || !ops->tcp_data || !ops->tcp_eof ||
	    !ops->tcp_sendable || !ops->tcp_closed || !ops->udp_datagram || !config_valid(cfg))
		return -EINVAL;
	if (sodium_init() < 0)
		return -ENOMEM;
	stack = calloc(1, sizeof(*stack));
	if (!stack)
		return -ENOMEM;
	stack->cfg = *cfg;
	stack->ops = ops;
	stack->ctx = ctx;
	stack->now = now;
	stack->out_cap = OUT_CAP;
	stack->out = malloc(stack->out_cap);
	if (!stack->out) {
		err = -ENOMEM;
		goto free_stack;
	}
	err = ferry_stack_flows_init(stack);
	if (err)
		goto free_out;
	ferry_stack_budget_init(stack);
	err = ferry_stack_lwip_acquire(stack, now);
	if (err)
		goto free_flows;
	if (!netif_add(&stack->netif, NULL, NULL, NULL, stack, netif_setup, ip_input)) {
		err = -ENOMEM;
		goto release_lwip;
	}
	netif_set_default(&stack->netif);
	netif_set_up(&stack->netif);
	netif_set_link_up(&stack->netif);
	*out = stack;
	return 0;

release_lwip:
	ferry_stack_lwip_release(stack);
free_flows:
	ferry_stack_flows_free(stack);
free_out:
	free(stack->out);
free_stack:
	free(stack);
	return err;
}

/* Aborts pcbs lwIP still runs on its own (closing, TIME_WAIT) so that none outlives the
 * netif; each closing pcb's application gets an RST. */
static void abort_orphan_pcbs(void)
{
	while (tcp_active_pcbs)
		tcp_abort(tcp_active_pcbs);
	while (tcp_tw_pcbs)
		tcp_abort(tcp_tw_pcbs);
}

void ferry_stack_destroy(struct ferry_stack *stack)
{
	uint32_t i;

	if (!stack)
		return;
	while (stack->tcp_lru.head)
		ferry_stack_tcp_kill(stack->tcp_lru.head, FERRY_END_RST, -ECONNABORTED);
	while (stack->udp_lru.head)
		ferry_stack_udp_kill(stack->udp_lru.head);
	abort_orphan_pcbs();
	for (i = 0; i < MEMP_NUM_TCP_PCB_LISTEN; i++)
		if (stack->listeners[i].pcb)
			tcp_close(stack->listeners[i].pcb);
	netif_set_down(&stack->netif);
	netif_remove(&stack->netif);
	ferry_stack_lwip_release(stack);
	ferry_stack_flows_free(stack);
	free(stack->out);
	free(stack);
}

/* A packet that would make a new flow finds the table full: the least recently used
 * flow of its protocol makes room, if one may (before the new flow's own handling). */
static void make_room(struct ferry_stack *stack, const struct ferry_pkt *pkt)
{
	uint8_t proto = pkt->proto == FERRY_PKT_PROTO_TCP ? FERRY_FLOW_TCP : FERRY_FLOW_UDP;
	struct ferry_flow *victim;

	if (pkt->proto == FERRY_PKT_PROTO_TCP &&
	    (pkt->tcp_flags & (FERRY_PKT_TCP_SYN | FERRY_PKT_TCP_ACK | FERRY_PKT_TCP_RST)) !=
		FERRY_PKT_TCP_SYN)
		return;
	if (!ferry_stack_flows_full(stack, proto) ||
	    ferry_stack_flow_find(stack, proto, &pkt->src, &pkt->dst))
		return;
	victim = ferry_stack_flow_victim(stack, proto);
	if (!victim)
		return;
	if (proto == FERRY_FLOW_TCP) {
		stack->stats.tcp_evicted++;
		ferry_stack_tcp_kill(victim, FERRY_END_RST, -ECONNABORTED);
	} else {
		ferry_stack_udp_kill(victim);
	}
}

static int input_one(struct ferry_stack *stack, const uint8_t *data, size_t len)
{
	struct ferry_pkt pkt;
	int err;

	stack->stats.packets_in++;
	err = ferry_stack_pkt_parse(&pkt, data, len);
	if (err) {
		enum ferry_stack_drop why = (enum ferry_stack_drop)(-err - 1);

		ferry_stack_count_drop(stack, why);
		if (pkt.other_proto)
			send_proto_unreach(stack, &pkt);
		return why == FERRY_STACK_DROP_PROTO ? -EPROTONOSUPPORT : -EINVAL;
	}
	if (pkt.proto == FERRY_PKT_PROTO_TCP || pkt.proto == FERRY_PKT_PROTO_UDP)
		make_room(stack, &pkt);
	switch (pkt.proto) {
	case FERRY_PKT_PROTO_TCP:
		return ferry_stack_tcp_input(stack, &pkt);
	case FERRY_PKT_PROTO_UDP:
		return ferry_stack_udp_input(stack, &pkt);
	default:
		return ferry_stack_icmp_input(stack, &pkt);
	}
}

static int refusing(const struct ferry_stack *stack)
{
	return stack->lwip_depth || stack->cb_depth;
}

int ferry_stack_input(struct ferry_stack *stack, const uint8_t *data, size_t len)
{
	int err;

	if (refusing(stack))
		return -EDEADLK;
	err = input_one(stack, data, len);
	ferry_stack_flush(stack);
	return err;
}

unsigned ferry_stack_input_batch(struct ferry_stack *stack, const struct ferry_buf *batch)
{
	unsigned taken = 0, i;

	if (refusing(stack))
		return 0;
	/* Bounded by the batch; the cap guards against a chain that loops. */
	for (i = 0; batch && i < (1u << 20); batch = batch->next, i++)
		if (input_one(stack, batch->data, batch->len) == 0)
			taken++;
	ferry_stack_flush(stack);
	return taken;
}

void ferry_stack_flush(struct ferry_stack *stack)
{
	if (refusing(stack))
		return;
	ferry_stack_budget_wake(stack);
	ferry_stack_tcp_flush_out(stack);
}

void ferry_stack_clock(struct ferry_stack *stack, uint64_t now)
{
	if (now > stack->now)
		stack->now = now;
	ferry_stack_lwip_set_now(stack->now);
}

void ferry_stack_timer(struct ferry_stack *stack, uint64_t now)
{
	if (refusing(stack))
		return; /* from inside a callback: the loop runs it again */
	ferry_stack_clock(stack, now);
	stack->lwip_depth++;
	sys_check_timeouts();
	stack->lwip_depth--;
	ferry_stack_tcp_inject_deferred(stack);
	ferry_stack_tcp_timers(stack);
	ferry_stack_udp_timers(stack);
	ferry_stack_budget_timer(stack);
	ferry_stack_flush(stack);
}

uint64_t ferry_stack_next_deadline(const struct ferry_stack *stack, uint64_t now)
{
	uint64_t next = UINT64_MAX, t;
	u32_t sleep;

	if (stack->out_owed.head)
		return now; /* a caller that queued output and did not flush: the timer does */
	sleep = sys_timeouts_sleeptime();
	if (sleep != SYS_TIMEOUTS_SLEEPTIME_INFINITE)
		next = stack->now + sleep;
	t = ferry_stack_tcp_deadline(stack);
	if (t < next)
		next = t;
	t = ferry_stack_udp_deadline(stack);
	if (t < next)
		next = t;
	t = ferry_stack_budget_deadline(stack);
	if (t < next)
		next = t;
	return next;
}

const struct ferry_stack_stats *ferry_stack_get_stats(const struct ferry_stack *stack)
{
	return &stack->stats;
}
