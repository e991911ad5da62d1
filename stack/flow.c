// SPDX-License-Identifier: MIT
/*
 * The flow table: every TCP connection and UDP flow the stack knows, found by
 * (protocol, source, destination) in a hash table keyed with a random SipHash key (so
 * an application cannot aim collisions at one bucket), and kept on a per-protocol LRU
 * list, most recently active first.
 *
 * Limits: max_tcp_flows and max_udp_flows from the config. At the limit a new flow
 * either evicts the least recently used flow of its protocol (evict_lru, if that one was
 * idle for evict_min_idle_ms) or is refused.
 * Flows come from one array allocated at create; a free flow waits on stack->free.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <sodium.h>

#include "stack/internal.h"

static uint32_t flow_hash(const struct ferry_stack *stack, uint8_t proto,
			  const struct ferry_endpoint *src, const struct ferry_endpoint *dst)
{
	uint8_t key[38], out[crypto_shorthash_BYTES];
	uint32_t h;

	key[0] = proto;
	key[1] = src->family;
	memcpy(key + 2, src->addr, 16);
	memcpy(key + 18, dst->addr, 16);
	key[34] = (uint8_t)(src->port >> 8);
	key[35] = (uint8_t)src->port;
	key[36] = (uint8_t)(dst->port >> 8);
	key[37] = (uint8_t)dst->port;
	crypto_shorthash(out, key, sizeof(key), stack->hash_key);
	memcpy(&h, out, sizeof(h));
	return h;
}

int ferry_stack_endpoint_eq(const struct ferry_endpoint *a, const struct ferry_endpoint *b)
{
	return a->family == b->family && a->port == b->port &&
	       memcmp(a->addr, b->addr, a->family == AF_INET ? 4 : 16) == 0;
}

/* Lists link flows through a member (lru or timer); off is that member's offset. */
static struct ferry_flow_link *link_of(struct ferry_flow *flow, size_t off)
{
	return (struct ferry_flow_link *)((uint8_t *)flow + off);
}

static void list_remove(struct ferry_flow_list *list, struct ferry_flow *flow,
			struct ferry_flow_link *link)
{
	size_t off = (size_t)((uint8_t *)link - (uint8_t *)flow);

	if (link->prev)
		link_of(link->prev, off)->next = link->next;
	else
		list->head = link->next;
	if (link->next)
		link_of(link->next, off)->prev = link->prev;
	else
		list->tail = link->prev;
	link->prev = link->next = NULL;
}

static void list_push_front(struct ferry_flow_list *list, struct ferry_flow *flow,
			    struct ferry_flow_link *link)
{
	size_t off = (size_t)((uint8_t *)link - (uint8_t *)flow);

	link->prev = NULL;
	link->next = list->head;
	if (list->head)
		link_of(list->head, off)->prev = flow;
	else
		list->tail = flow;
	list->head = flow;
}

static void list_append(struct ferry_flow_list *list, struct ferry_flow *flow,
			struct ferry_flow_link *link)
{
	size_t off = (size_t)((uint8_t *)link - (uint8_t *)flow);

	link->next = NULL;
	link->prev = list->tail;
	if (list->tail)
		link_of(list->tail, off)->next = flow;
	else
		list->head = flow;
	list->tail = flow;
}

void ferry_stack_flow_deadline_set(struct ferry_flow *flow, struct ferry_flow_list *list, uint64_t deadline)
{
	ferry_stack_flow_deadline_clear(flow);
	flow->deadline = deadline;
	flow->timer_on = list;
	list_append(list, flow, &flow->timer);
}

void ferry_stack_flow_deadline_clear(struct ferry_flow *flow)
{
	if (flow->timer_on)
		list_remove(flow->timer_on, flow, &flow->timer);
	flow->timer_on = NULL;
}

static struct ferry_flow_list *lru_of(struct ferry_flow *flow)
{
	return flow->proto == FERRY_FLOW_TCP ? &flow->stack->tcp_lru : &flow->stack->udp_lru;
}

int ferry_stack_flows_init(struct ferry_stack *stack)
{
	uint32_t total = stack->cfg.max_tcp_flows + stack->cfg.max_udp_flows, nb = 1, i;

	while (nb < total && nb < (1u << 30))
		nb <<= 1;
	stack->flows = calloc(total, sizeof(*stack->flows));
	if (!stack->flows)
		return -ENOMEM;
	stack->buckets = calloc(nb, sizeof(struct ferry_flow *)); // NOLINT: pointer array
	if (!stack->buckets) {
		free(stack->flows);
		stack->flows = NULL;
		return -ENOMEM;
	}
	stack->bucket_mask = nb - 1;
	for (i = total; i-- > 0;) {
		stack->flows[i].hnext = stack->free;
		stack->free = &stack->flows[i];
	}
	randombytes_buf(stack->hash_key, sizeof(stack->hash_key));
	return 0;
}

void ferry_stack_flows_free(struct ferry_stack *stack)
{
	free(stack->buckets);
	free(stack->flows);
	stack->buckets = NULL;
	stack->flows = NULL;
}

struct ferry_flow *ferry_stack_flow_find(struct ferry_stack *stack, uint8_t proto,
					 const struct ferry_endpoint *src,
					 const struct ferry_endpoint *dst)
{
	uint32_t h = flow_hash(stack, proto, src, dst);
	struct ferry_flow *flow;

	for (flow = stack->buckets[h & stack->bucket_mask]; flow; flow = flow->hnext)
		if (flow->hash == h && flow->proto == proto &&
		    ferry_stack_endpoint_eq(&flow->src, src) &&
		    ferry_stack_endpoint_eq(&flow->dst, dst))
			return flow;
	return NULL;
}

/* Ends the least recently used flow of a protocol to make room. Returns 0 or -ENOSPC. */
static int evict(struct ferry_stack *stack, uint8_t proto)
{
	struct ferry_flow *victim;

	if (!stack->cfg.evict_lru)
		return -ENOSPC;
	victim = proto == FERRY_FLOW_TCP ? stack->tcp_lru.tail : stack->udp_lru.tail;
	while (victim && (victim->in_cb || victim->state == FERRY_FLOW_DEAD))
		victim = victim->lru.prev;
	/* A burst of new flows (a SYN flood) must not push out connections in use. */
	if (!victim || stack->now - victim->last_active < stack->cfg.evict_min_idle_ms)
		return -ENOSPC;
	if (proto == FERRY_FLOW_TCP) {
		stack->stats.tcp_evicted++;
		ferry_stack_tcp_kill(victim, FERRY_END_RST, -ECONNABORTED);
	} else {
		ferry_stack_udp_kill(victim);
	}
	return 0;
}

struct ferry_flow *ferry_stack_flow_new(struct ferry_stack *stack, uint8_t proto,
					const struct ferry_endpoint *src,
					const struct ferry_endpoint *dst)
{
	uint32_t *count =
	    proto == FERRY_FLOW_TCP ? &stack->stats.tcp_flows : &stack->stats.udp_flows;
	uint32_t limit =
	    proto == FERRY_FLOW_TCP ? stack->cfg.max_tcp_flows : stack->cfg.max_udp_flows;
	struct ferry_flow *flow;
	uint32_t b;

	if (*count >= limit && evict(stack, proto) != 0)
		return NULL;
	flow = stack->free;
	if (!flow || *count >= limit)
		return NULL;
	stack->free = flow->hnext;
	memset(flow, 0, sizeof(*flow));
	flow->stack = stack;
	flow->proto = proto;
	flow->src = *src;
	flow->dst = *dst;
	flow->hash = flow_hash(stack, proto, src, dst);
	flow->last_active = stack->now;
	b = flow->hash & stack->bucket_mask;
	flow->hnext = stack->buckets[b];
	stack->buckets[b] = flow;
	list_push_front(lru_of(flow), flow, &flow->lru);
	(*count)++;
	return flow;
}

void ferry_stack_flow_release(struct ferry_flow *flow)
{
	struct ferry_stack *stack = flow->stack;
	struct ferry_flow **pp = &stack->buckets[flow->hash & stack->bucket_mask];

	while (*pp && *pp != flow)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = flow->hnext;
	list_remove(lru_of(flow), flow, &flow->lru);
	ferry_stack_flow_deadline_clear(flow);
	if (flow->proto == FERRY_FLOW_TCP)
		stack->stats.tcp_flows--;
	else
		stack->stats.udp_flows--;
	memset(flow, 0, sizeof(*flow));
	flow->hnext = stack->free;
	stack->free = flow;
}

void ferry_stack_flow_touch(struct ferry_flow *flow)
{
	struct ferry_flow_list *lru = lru_of(flow);

	flow->last_active = flow->stack->now;
	if (lru->head == flow)
		return;
	list_remove(lru, flow, &flow->lru);
	list_push_front(lru, flow, &flow->lru);
}

const struct ferry_endpoint *ferry_stack_flow_src(const struct ferry_flow *flow)
{
	return &flow->src;
}

const struct ferry_endpoint *ferry_stack_flow_dst(const struct ferry_flow *flow)
{
	return &flow->dst;
}

enum ferry_flow_proto ferry_stack_flow_proto(const struct ferry_flow *flow)
{
	return (enum ferry_flow_proto)flow->proto;
}

void ferry_stack_flow_set_user(struct ferry_flow *flow, void *user)
{
	flow->user = user;
}

void *ferry_stack_flow_user(const struct ferry_flow *flow)
{
	return flow->user;
}
