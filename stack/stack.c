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
 * one buffer of MTU size and give it to ops->tun_write. The packets ferry builds itself
 * (RST, ICMP, UDP) go the same way through ferry_stack_emit.
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

void ferry_stack_config_default(struct ferry_stack_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->mtu = 1500;
	cfg->max_tcp_flows = 12288;
	cfg->max_udp_flows = 4096;
	cfg->evict_lru = true;
	cfg->evict_min_idle_ms = 60000;
	cfg->connect_timeout_ms = 10000;
	cfg->handshake_timeout_ms = 20000;
	cfg->tcp_idle_timeout_ms = 2 * 3600 * 1000;
	cfg->udp_idle_timeout_ms = 60000;
	cfg->keepalive_idle_ms = 600000;
	cfg->keepalive_interval_ms = 75000;
	cfg->keepalive_count = 9;
}

static int config_valid(const struct ferry_stack_config *cfg)
{
	return cfg->mtu >= 1280 && cfg->mtu <= 65535 && cfg->max_tcp_flows >= 1 &&
	       cfg->max_tcp_flows <= MEMP_NUM_TCP_PCB - MEMP_NUM_TCP_PCB / 8 &&
	       cfg->max_udp_flows >= 1 && cfg->max_udp_flows <= (1u << 24) &&
	       cfg->connect_timeout_ms > 0 && cfg->handshake_timeout_ms > 0 &&
	       cfg->udp_idle_timeout_ms > 0 &&
	       (cfg->keepalive_idle_ms == 0 ||
		(cfg->keepalive_interval_ms > 0 && cfg->keepalive_count > 0));
}

void ferry_stack_emit(struct ferry_stack *stack, const uint8_t *pkt, size_t len)
{
	stack->stats.packets_out++;
	stack->ops->tun_write(stack->ctx, pkt, len);
}

void ferry_stack_count_drop(struct ferry_stack *stack, enum ferry_stack_drop why)
{
	stack->stats.drops[why]++;
}

static err_t netif_output_any(struct netif *netif, struct pbuf *p)
{
	struct ferry_stack *stack = netif->state;
	u16_t n;

	if (p->tot_len > stack->out_cap)
		return ERR_BUF;
	n = pbuf_copy_partial(p, stack->out, p->tot_len, 0);
	ferry_stack_emit(stack, stack->out, n);
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
	stack->out_cap = cfg->mtu;
	stack->out = malloc(stack->out_cap);
	if (!stack->out) {
		err = -ENOMEM;
		goto free_stack;
	}
	err = ferry_stack_flows_init(stack);
	if (err)
		goto free_out;
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

int ferry_stack_input(struct ferry_stack *stack, const uint8_t *data, size_t len)
{
	struct ferry_pkt pkt;
	int err;

	if (stack->lwip_depth)
		return -EDEADLK;
	stack->stats.packets_in++;
	err = ferry_stack_pkt_parse(&pkt, data, len);
	if (err) {
		enum ferry_stack_drop why = (enum ferry_stack_drop)(-err - 1);

		ferry_stack_count_drop(stack, why);
		return why == FERRY_STACK_DROP_PROTO ? -EPROTONOSUPPORT : -EINVAL;
	}
	switch (pkt.proto) {
	case FERRY_PKT_PROTO_TCP:
		return ferry_stack_tcp_input(stack, &pkt);
	case FERRY_PKT_PROTO_UDP:
		return ferry_stack_udp_input(stack, &pkt);
	default:
		return ferry_stack_icmp_input(stack, &pkt);
	}
}

unsigned ferry_stack_input_batch(struct ferry_stack *stack, const struct ferry_buf *batch)
{
	unsigned taken = 0, i;

	/* Bounded by the batch; the cap guards against a chain that loops. */
	for (i = 0; batch && i < (1u << 20); batch = batch->next, i++)
		if (ferry_stack_input(stack, batch->data, batch->len) == 0)
			taken++;
	return taken;
}

void ferry_stack_timer(struct ferry_stack *stack, uint64_t now)
{
	if (stack->lwip_depth)
		return; /* from inside a callback: the loop polls again */
	if (now > stack->now)
		stack->now = now;
	ferry_stack_lwip_set_now(stack->now);
	stack->lwip_depth++;
	sys_check_timeouts();
	stack->lwip_depth--;
	ferry_stack_tcp_inject_deferred(stack);
	ferry_stack_tcp_timers(stack);
	ferry_stack_udp_timers(stack);
}

uint64_t ferry_stack_next_deadline(const struct ferry_stack *stack, uint64_t now)
{
	uint64_t next = UINT64_MAX, t;
	u32_t sleep;

	(void)now;
	sleep = sys_timeouts_sleeptime();
	if (sleep != SYS_TIMEOUTS_SLEEPTIME_INFINITE)
		next = stack->now + sleep;
	t = ferry_stack_tcp_deadline(stack);
	if (t < next)
		next = t;
	t = ferry_stack_udp_deadline(stack);
	if (t < next)
		next = t;
	return next;
}

const struct ferry_stack_stats *ferry_stack_get_stats(const struct ferry_stack *stack)
{
	return &stack->stats;
}
