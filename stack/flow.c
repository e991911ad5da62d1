// SPDX-License-Identifier: MIT
/*
 * The flow table: every TCP connection and UDP flow the stack knows, found by
 * (protocol, source, destination) in a hash table keyed with a random SipHash key (so
 * an application cannot aim collisions at one bucket), and kept on a per-protocol LRU
 * list, most recently active first.
 *
 * Limits: max_tcp_flows and max_udp_flows from the config. At the limit the top of the
 * stack (stack.c) evicts before it asks for a new flow; this file only names the victim.
 *
 * Flows come from one array allocated at create. Its pages are not touched until used:
 * fresh slots are taken in order (flows_touched) before freed ones are reused, so the
 * table costs memory in proportion to the most flows ever open at once, not to its limit.
 * A slot's generation is bumped when it is freed; with its index it makes the flow's id,
 * so an id of an ended flow never finds the slot's next occupant.
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

/* Lists link flows through a member (lru, timer, wait, ack); off is that member's offset. */
static struct ferry_flow_link *link_of(struct ferry_flow *flow, size_t off)
{
	return (struct ferry_flow_link *)((uint8_t *)flow + off);
}

void ferry_stack_list_remove(struct ferry_flow_list *list, struct ferry_flow *flow,
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

void ferry_stack_list_append(struct ferry_flow_list *list, struct ferry_flow *flow,
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

void ferry_stack_flow_deadline_set(struct ferry_flow *flow, struct ferry_flow_list *list,
				   uint64_t deadline)
{
	ferry_stack_flow_deadline_clear(flow);
	flow->deadline = deadline;
	flow->timer_on = list;
	ferry_stack_list_append(list, flow, &flow->timer);
}

void ferry_stack_flow_deadline_clear(struct ferry_flow *flow)
{
	if (flow->timer_on)
		ferry_stack_list_remove(flow->timer_on, flow, &flow->timer);
	flow->timer_on = NULL;
}

static struct ferry_flow_list *lru_of(struct ferry_flow *flow)
{
	return flow->proto == FERRY_FLOW_TCP ? &flow->stack->tcp_lru : &flow->stack->udp_lru;
}

int ferry_stack_flows_init(struct ferry_stack *stack)
{
	uint32_t total = stack->cfg.max_tcp_flows + stack->cfg.max_udp_flows, nb = 1;

	while (nb < total && nb < (1u << 30))
		nb <<= 1;
	/* calloc of this size maps fresh zero pages: nothing is touched until used */
	stack->flows = calloc(total, sizeof(*stack->flows));
	if (!stack->flows)
		return -ENOMEM;
	stack->buckets = calloc(nb, sizeof(struct ferry_flow *)); // NOLINT: pointer array
	if (!stack->buckets) {
		free(stack->flows);
		stack->flows = NULL;
		return -ENOMEM;
	}
	stack->nflows = total;
	stack->bucket_mask = nb - 1;
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
		if (flow->hash == h && flow->proto == proto && ferry_endpoint_eq(&flow->src, src) &&
		    ferry_endpoint_eq(&flow->dst, dst))
			return flow;
	return NULL;
}

int ferry_stack_flows_full(const struct ferry_stack *stack, uint8_t proto)
{
	return proto == FERRY_FLOW_TCP ? stack->stats.tcp_flows >= stack->cfg.max_tcp_flows
				       : stack->stats.udp_flows >= stack->cfg.max_udp_flows;
}

struct ferry_flow *ferry_stack_flow_victim(struct ferry_stack *stack, uint8_t proto)
{
	struct ferry_flow *victim;

	if (!stack->cfg.evict_lru)
		return NULL;
	victim = proto == FERRY_FLOW_TCP ? stack->tcp_lru.tail : stack->udp_lru.tail;
	while (victim && (victim->in_cb || victim->state == FERRY_FLOW_DEAD))
		victim = victim->lru.prev;
	/* A burst of new flows (a SYN flood) must not push out connections in use. */
	if (!victim || stack->now - victim->last_active < stack->cfg.evict_min_idle_ms)
		return NULL;
	return victim;
}

struct ferry_flow *ferry_stack_flow_new(struct ferry_stack *stack, uint8_t proto,
					const struct ferry_endpoint *src,
					const struct ferry_endpoint *dst)
{
	uint32_t *count =
	    proto == FERRY_FLOW_TCP ? &stack->stats.tcp_flows : &stack->stats.udp_flows;
	struct ferry_flow *flow;
	uint32_t b, gen;

	if (ferry_stack_flows_full(stack, proto))
		return NULL;
	if (stack->flows_touched < stack->nflows) {
		flow = &stack->flows[stack->flows_touched++];
	} else {
		flow = stack->free;
		if (!flow)
			return NULL;
		stack->free = flow->hnext;
	}
	gen = flow->gen;
	memset(flow, 0, sizeof(*flow));
	flow->gen = gen;
	flow->stack = stack;
	flow->proto = proto;
	flow->src = *src;
	flow->dst = *dst;
	flow->hash = flow_hash(stack, proto, src, dst);
	flow->created = flow->last_active = stack->now;
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
	uint32_t gen = flow->gen + 1;

	while (*pp && *pp != flow)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = flow->hnext;
	ferry_stack_list_remove(lru_of(flow), flow, &flow->lru);
	ferry_stack_flow_deadline_clear(flow);
	if (flow->wait_budget)
		ferry_stack_list_remove(&stack->budget_wait, flow, &flow->wait);
	if (flow->out_owed)
		ferry_stack_list_remove(&stack->out_owed, flow, &flow->out);
	if (flow->proto == FERRY_FLOW_TCP)
		stack->stats.tcp_flows--;
	else
		stack->stats.udp_flows--;
	memset(flow, 0, sizeof(*flow));
	flow->gen = gen;
	flow->hnext = stack->free;
	stack->free = flow;
}

void ferry_stack_flow_touch(struct ferry_flow *flow)
{
	struct ferry_flow_list *lru = lru_of(flow);

	flow->last_active = flow->stack->now;
	if (lru->head == flow)
		return;
	ferry_stack_list_remove(lru, flow, &flow->lru);
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

/* id = generation << 32 | slot + 1; a fresh slot's generation is 0, so ids start at 1. */
uint64_t ferry_stack_flow_id(const struct ferry_flow *flow)
{
	return (uint64_t)flow->gen << 32 | (uint32_t)(flow - flow->stack->flows + 1);
}

struct ferry_flow *ferry_stack_flow_lookup(struct ferry_stack *stack, uint64_t id)
{
	uint32_t slot = (uint32_t)id;
	struct ferry_flow *flow;

	if (slot == 0 || slot > stack->flows_touched)
		return NULL;
	flow = &stack->flows[slot - 1];
	if (flow->gen != (uint32_t)(id >> 32) || flow->state == FERRY_FLOW_FREE ||
	    flow->state == FERRY_FLOW_DEAD)
		return NULL;
	return flow;
}

static const char *state_name(uint8_t state)
{
	static const char *const names[] = {
	    [FERRY_FLOW_FREE] = "free",		  [FERRY_FLOW_CONNECTING] = "connecting",
	    [FERRY_FLOW_HANDSHAKE] = "handshake", [FERRY_FLOW_HANDSHAKE_SHUT] = "handshake",
	    [FERRY_FLOW_OPEN] = "open",		  [FERRY_FLOW_APP_DONE] = "app-done",
	    [FERRY_FLOW_PEER_DONE] = "peer-done", [FERRY_FLOW_DRAINING] = "draining",
	    [FERRY_FLOW_DEAD] = "dead",
	};

	return state < sizeof(names) / sizeof(names[0]) ? names[state] : "?";
}

void ferry_stack_flow_info(const struct ferry_flow *flow, struct ferry_stack_flow_info *info)
{
	memset(info, 0, sizeof(*info));
	info->id = ferry_stack_flow_id(flow);
	info->proto = (enum ferry_flow_proto)flow->proto;
	info->state = state_name(flow->state);
	info->src = flow->src;
	info->dst = flow->dst;
	info->created = flow->created;
	info->last_active = flow->last_active;
	info->count = flow->count;
	info->rx_held = flow->rx_held;
	info->tx_held = flow->tx_held;
	info->user = flow->user;
}

uint32_t ferry_stack_flows_walk(const struct ferry_stack *stack,
				void (*fn)(void *ctx, const struct ferry_stack_flow_info *info),
				void *ctx)
{
	const struct ferry_flow_list *lists[2] = {&stack->tcp_lru, &stack->udp_lru};
	struct ferry_stack_flow_info info;
	const struct ferry_flow *flow;
	uint32_t n = 0, i;

	for (i = 0; i < 2; i++)
		for (flow = lists[i]->head; flow; flow = flow->lru.next) {
			ferry_stack_flow_info(flow, &info);
			fn(ctx, &info);
			n++;
		}
	return n;
}
