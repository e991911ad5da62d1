// SPDX-License-Identifier: MIT
/*
 * The bridge's owner: peers, the tables of conversations and datagram flows (fixed arrays
 * sized by the config, found by (peer, id) through chained hashes, slots free-listed; a
 * slot's index is the egress id of its flow), the ids each side picks and the window of
 * the peer's ids already seen, instances and HELLO, the heap of conversation deadlines,
 * the dispatch of what the link delivers, and the end of a turn. See bridge.h for the
 * protocol; bridge_tcp.c and bridge_udp.c carry the flows.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "stack/bridge_internal.h"

/* Waiting conversations wake_pool_waiters considers per flush (the queue can be long). */
#define WAKE_LOOK    64
/* Datagrams one run of a conversation may send while others wait for the link's room. */
#define ROOM_QUANTUM 8

static uint64_t min64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

void ferry_bridge_config_default(struct ferry_bridge_config *cfg, enum ferry_arq_profile profile)
{
	memset(cfg, 0, sizeof(*cfg));
	ferry_arq_config_init(&cfg->arq, profile);
	/* One flow may fill 100 Mbit/s at 200 ms: 2.5 MB in flight, 1,800 segments. */
	cfg->arq.snd_wnd = 2048;
	cfg->arq.rcv_wnd = 2048;
	cfg->arq.snd_queue_max = 256;
	cfg->arq.rmt_wnd_init = 256;
	cfg->arq.dead_time = 120000; /* a conversation outlives a long outage of its link */
	cfg->arq.dead_link = 0xfffe;
	cfg->arq.stream = true;
	cfg->arq.thin_copy = true; /* a request's one loss costs no timeout (arq.h) */
	cfg->arq_buffers = 16384;
	cfg->max_convs = 16384;
	cfg->max_udp = 8192;
	cfg->idle_ms = 2 * 3600 * 1000 + 60000; /* past the stack's own idle reset */
	cfg->linger_ms = 60000;
}

static uint32_t pow2_at_least(uint32_t n)
{
	uint32_t p = 1;

	while (p < n && p < (1u << 30))
		p <<= 1;
	return p;
}

int ferry_bridge_create(struct ferry_bridge **out, const struct ferry_bridge_config *cfg,
			const struct ferry_wire_sizes *sizes, const struct ferry_bridge_ops *ops,
			void *ctx)
{
	struct ferry_bridge *b;
	uint32_t i;

	*out = NULL;
	if (!cfg || !sizes || !ops || !ops->send_segments || !ops->send_datagram || !ops->route ||
	    !ops->source_ok || sizes->record_body < FERRY_ARQ_MTU_MIN ||
	    sizes->record_body > FERRY_ARQ_MTU_MAX ||
	    sizes->arq_mss != sizes->record_body - FERRY_ARQ_HDR_LEN || !cfg->arq_buffers ||
	    !cfg->max_convs || cfg->max_convs >= (1u << 24) || !cfg->max_udp ||
	    cfg->max_udp >= (1u << 24) || !cfg->idle_ms || !cfg->linger_ms)
		return -EINVAL;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->cfg = *cfg;
	b->cfg.arq.stream = true;
	b->cfg.arq.mtu = sizes->record_body; /* one ARQ datagram: one record of the link */
	b->sizes = *sizes;
	b->ops = ops;
	b->ctx = ctx;
	b->dirty_head = b->dirty_tail = BR_NIL;
	b->pool_waiters.head = b->pool_waiters.tail = BR_NIL;
	b->stats.buffers = cfg->arq_buffers;
	do
		randombytes_buf(&b->instance, sizeof(b->instance));
	while (!b->instance);
	b->convs = calloc(cfg->max_convs, sizeof(*b->convs));
	b->udps = calloc(cfg->max_udp, sizeof(*b->udps));
	b->conv_mask = pow2_at_least(cfg->max_convs) - 1;
	b->udp_mask = pow2_at_least(cfg->max_udp) - 1;
	b->conv_buckets = malloc(((size_t)b->conv_mask + 1) * sizeof(uint32_t));
	b->udp_buckets = malloc(((size_t)b->udp_mask + 1) * sizeof(uint32_t));
	b->heap = calloc(cfg->max_convs, sizeof(uint32_t));
	if (!b->convs || !b->udps || !b->conv_buckets || !b->udp_buckets || !b->heap ||
	    ferry_pool_init(&b->pool, cfg->arq_buffers, sizes->arq_mss, FERRY_ARQ_HDR_LEN)) {
		ferry_bridge_destroy(b);
		return -ENOMEM;
	}
	for (i = 0; i <= b->conv_mask; i++)
		b->conv_buckets[i] = BR_NIL;
	for (i = 0; i <= b->udp_mask; i++)
		b->udp_buckets[i] = BR_NIL;
	b->conv_free = BR_NIL;
	b->udp_free = BR_NIL;
	*out = b;
	return 0;
}

void ferry_bridge_attach(struct ferry_bridge *b, struct ferry_stack *stack,
			 struct ferry_egress *egress)
{
	b->stack = stack;
	b->egress = egress;
}

static void peer_free(struct ferry_bridge_peer *peer);

void ferry_bridge_destroy(struct ferry_bridge *b)
{
	if (!b)
		return;
	/* the stack and egress are gone already (bridge.h): their flows are not touched */
	b->stack = NULL;
	b->egress = NULL;
	while (b->peers) {
		struct ferry_bridge_peer *peer = b->peers;

		b->peers = peer->next;
		peer_free(peer);
	}
	ferry_pool_destroy(&b->pool);
	free(b->convs);
	free(b->udps);
	free(b->conv_buckets);
	free(b->udp_buckets);
	free(b->heap);
	free(b);
}

const struct ferry_bridge_stats *ferry_bridge_get_stats(const struct ferry_bridge *b)
{
	return &b->stats;
}

uint64_t ferry_bridge_instance(const struct ferry_bridge *b)
{
	return b->instance;
}

/* ---- peers ------------------------------------------------------------------------- */

int ferry_bridge_peer_add(struct ferry_bridge *b, void *link, bool ours_greater, void *user,
			  struct ferry_bridge_peer **out)
{
	struct ferry_bridge_peer *peer = calloc(1, sizeof(*peer));

	*out = NULL;
	if (!peer)
		return -ENOMEM;
	peer->b = b;
	peer->link = link;
	peer->user = user;
	peer->side = ours_greater ? FERRY_FLOW_ID_SIDE : 0;
	peer->room_waiters.head = peer->room_waiters.tail = BR_NIL;
	peer->next = b->peers;
	b->peers = peer;
	*out = peer;
	return 0;
}

/* Ends every flow of the peer (of its instance `only`, or all when only is 0). */
static void peer_reset_flows(struct ferry_bridge_peer *peer, uint64_t only, bool tell)
{
	struct ferry_bridge *b = peer->b;
	uint32_t i;

	for (i = 0; i < b->nconvs; i++) {
		struct br_conv *c = &b->convs[i];

		if (c->conv && c->peer == peer && (!only || c->peer_instance == only))
			ferry_bridge_tcp_abort(c, FERRY_FLOW_ABORTED, tell);
	}
	for (i = 0; i < b->nudps; i++) {
		struct br_udp *u = &b->udps[i];

		if (u->id && u->peer == peer && (!only || u->peer_instance == only))
			ferry_bridge_udp_abort(u);
	}
}

/* Resets the flows of a peer already unlinked from the bridge, and frees it. */
static void peer_free(struct ferry_bridge_peer *peer)
{
	peer_reset_flows(peer, 0, true);
	free(peer);
}

void ferry_bridge_peer_remove(struct ferry_bridge_peer *peer)
{
	struct ferry_bridge_peer **pp;

	for (pp = &peer->b->peers; *pp; pp = &(*pp)->next)
		if (*pp == peer) {
			*pp = peer->next;
			break;
		}
	peer_free(peer);
}

void *ferry_bridge_peer_user(const struct ferry_bridge_peer *peer)
{
	return peer->user;
}

void ferry_bridge_peer_stats(const struct ferry_bridge_peer *peer,
			     struct ferry_bridge_peer_stats *out)
{
	const struct ferry_bridge *b = peer->b;
	uint64_t rtt = 0, n = 0;
	uint32_t i;

	*out = peer->stats;
	out->instance = peer->instance;
	/* a walk of every conversation: for status, never on the data path */
	for (i = 0; i < b->nconvs; i++) {
		struct ferry_arq_stats st;

		if (!b->convs[i].conv || b->convs[i].peer != peer)
			continue;
		ferry_arq_stats(b->convs[i].arq, &st);
		out->retransmits += st.segs_rto + st.segs_fast;
		if (st.srtt) {
			rtt += st.srtt;
			n++;
		}
	}
	out->rtt_ms = n ? (uint32_t)(rtt / n) : 0;
}

void ferry_bridge_peer_instance(struct ferry_bridge_peer *peer, uint64_t instance)
{
	uint64_t old = peer->instance;

	if (!instance || instance == old)
		return;
	peer->instance = instance;
	memset(&peer->seen, 0, sizeof(peer->seen));
	if (old) {
		/* It restarted: nothing of its old instance lives on there. */
		peer->b->stats.peer_restarts++;
		peer_reset_flows(peer, old, false);
	}
}

int ferry_bridge_send_dg(struct ferry_bridge_peer *peer, uint32_t id,
			 const struct ferry_flowmsg_dg *m)
{
	struct ferry_bridge *b = peer->b;
	size_t n = ferry_flowmsg_dg_encode(b->scratch, sizeof(b->scratch), m);
	int err;

	if (!n)
		return -EMSGSIZE;
	err = b->ops->send_datagram(b->ctx, peer->link, id, b->scratch, n, b->now);
	if (err)
		b->stats.send_errors++;
	return err;
}

static void send_hello(struct ferry_bridge_peer *peer, bool reply)
{
	struct ferry_flowmsg_dg m = {.type = FERRY_DG_HELLO,
				     .version = FERRY_FLOW_VERSION,
				     .flags = reply ? FERRY_FLOWMSG_HELLO_REPLY : 0,
				     .instance = peer->b->instance};

	if (!ferry_bridge_send_dg(peer, 0, &m))
		peer->b->stats.hellos_out++;
}

void ferry_bridge_peer_up(struct ferry_bridge_peer *peer, uint64_t now)
{
	peer->b->now = now;
	send_hello(peer, false);
}

/* ---- ids --------------------------------------------------------------------------- */

uint32_t ferry_bridge_next_id(struct ferry_bridge_peer *peer, bool tcp)
{
	uint32_t *next = tcp ? &peer->next_tcp : &peer->next_udp;

	*next = (*next + 1) & ~FERRY_FLOW_ID_SIDE;
	if (!*next) /* after 2^31 flows: wrap, skipping 0 */
		*next = 1;
	return *next | peer->side;
}

bool ferry_bridge_id_fresh(struct ferry_bridge_peer *peer, uint32_t id)
{
	struct br_seen *s = &peer->seen;
	uint32_t n, bit;

	if ((id & FERRY_FLOW_ID_SIDE) == peer->side)
		return false; /* ours to pick, not the peer's */
	n = id & ~FERRY_FLOW_ID_SIDE;
	if (!n || n <= s->base)
		return false;
	if (n - s->base > BR_SEEN_BITS) {
		/* slide the window: ids more than its width behind n are old from now on */
		uint32_t to = n - BR_SEEN_BITS, k;

		for (k = s->base + 1; k <= to && k - s->base <= BR_SEEN_BITS; k++)
			s->bits[k % BR_SEEN_BITS / 64] &= ~(1ull << (k % 64));
		s->base = to;
	}
	bit = n % BR_SEEN_BITS;
	if (s->bits[bit / 64] & (1ull << (bit % 64)))
		return false;
	s->bits[bit / 64] |= 1ull << (bit % 64);
	return true;
}

/* ---- the tables -------------------------------------------------------------------- */

static uint32_t hash_of(const struct ferry_bridge_peer *peer, uint32_t id, uint32_t mask)
{
	uint64_t h = ((uint64_t)(uintptr_t)peer >> 4) * 0x9e3779b97f4a7c15ull ^ id;

	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ull;
	return (uint32_t)(h >> 32) & mask;
}

struct br_conv *ferry_bridge_conv_find(struct ferry_bridge_peer *peer, uint32_t conv)
{
	struct ferry_bridge *b = peer->b;
	uint32_t i;

	for (i = b->conv_buckets[hash_of(peer, conv, b->conv_mask)]; i != BR_NIL;
	     i = b->convs[i].hnext)
		if (b->convs[i].conv == conv && b->convs[i].peer == peer)
			return &b->convs[i];
	return NULL;
}

static int arq_out(void *ctx, const uint8_t *d, size_t len)
{
	struct br_conv *c = ctx;
	struct ferry_bridge *b = c->peer->b;
	int err =
	    b->ops->send_segments(b->ctx, c->peer->link, d, len, ferry_arq_thin(c->arq), b->now);

	if (err)
		b->stats.send_errors++;
	return err;
}

struct br_conv *ferry_bridge_conv_new(struct ferry_bridge_peer *peer, uint32_t conv,
				      enum br_role role)
{
	struct ferry_bridge *b = peer->b;
	struct br_conv *c;
	uint32_t slot, h;

	if (b->conv_free != BR_NIL) {
		slot = b->conv_free;
		b->conv_free = b->convs[slot].hnext;
	} else if (b->nconvs < b->cfg.max_convs) {
		slot = b->nconvs++;
	} else {
		b->stats.no_room++;
		return NULL;
	}
	c = &b->convs[slot];
	memset(c, 0, sizeof(*c));
	if (ferry_arq_create(&c->arq, conv, &b->cfg.arq, &b->pool, arq_out, c)) {
		c->hnext = b->conv_free;
		b->conv_free = slot;
		b->stats.no_room++;
		return NULL;
	}
	c->peer = peer;
	c->conv = conv;
	c->role = (uint8_t)role;
	c->dirty_prev = c->dirty_next = BR_NIL;
	c->wait[BR_WAIT_POOL].prev = c->wait[BR_WAIT_POOL].next = BR_NIL;
	c->wait[BR_WAIT_ROOM].prev = c->wait[BR_WAIT_ROOM].next = BR_NIL;
	c->last_active = c->last_heard = b->now;
	c->deadline = UINT64_MAX;
	h = hash_of(peer, conv, b->conv_mask);
	c->hnext = b->conv_buckets[h];
	b->conv_buckets[h] = slot;
	b->stats.convs++;
	if (role == BR_OPENER)
		peer->stats.tcp_out++;
	else
		peer->stats.tcp_in++;
	return c;
}

static void dirty_remove(struct ferry_bridge *b, struct br_conv *c);

void ferry_bridge_conv_free(struct br_conv *c)
{
	struct ferry_bridge_peer *peer = c->peer;
	struct ferry_bridge *b = peer->b;
	uint32_t slot = br_conv_slot(b, c),
		 *pp = &b->conv_buckets[hash_of(peer, c->conv, b->conv_mask)];
	struct ferry_arq_stats st;

	while (*pp != BR_NIL && *pp != slot)
		pp = &b->convs[*pp].hnext;
	if (*pp == slot)
		*pp = c->hnext;
	ferry_bridge_conv_schedule(c, UINT64_MAX);
	if (c->dirty)
		dirty_remove(b, c);
	ferry_bridge_conv_unwait(c, BR_WAIT_POOL);
	ferry_bridge_conv_unwait(c, BR_WAIT_ROOM);
	ferry_arq_stats(c->arq, &st);
	peer->stats.retransmits += st.segs_rto + st.segs_fast; /* the live ones add theirs */
	ferry_arq_destroy(c->arq);
	if (c->role == BR_OPENER)
		peer->stats.tcp_out--;
	else
		peer->stats.tcp_in--;
	b->stats.convs--;
	memset(c, 0, sizeof(*c));
	c->hnext = b->conv_free;
	b->conv_free = slot;
}

struct br_udp *ferry_bridge_udp_find(struct ferry_bridge_peer *peer, uint32_t id)
{
	struct ferry_bridge *b = peer->b;
	uint32_t i;

	for (i = b->udp_buckets[hash_of(peer, id, b->udp_mask)]; i != BR_NIL; i = b->udps[i].hnext)
		if (b->udps[i].id == id && b->udps[i].peer == peer)
			return &b->udps[i];
	return NULL;
}

struct br_udp *ferry_bridge_udp_new(struct ferry_bridge_peer *peer, uint32_t id, enum br_role role)
{
	struct ferry_bridge *b = peer->b;
	struct br_udp *u;
	uint32_t slot, h;

	if (b->udp_free != BR_NIL) {
		slot = b->udp_free;
		b->udp_free = b->udps[slot].hnext;
	} else if (b->nudps < b->cfg.max_udp) {
		slot = b->nudps++;
	} else {
		b->stats.no_room++;
		return NULL;
	}
	u = &b->udps[slot];
	memset(u, 0, sizeof(*u));
	u->peer = peer;
	u->id = id;
	u->role = (uint8_t)role;
	h = hash_of(peer, id, b->udp_mask);
	u->hnext = b->udp_buckets[h];
	b->udp_buckets[h] = slot;
	b->stats.udp_flows++;
	if (role == BR_OPENER)
		peer->stats.udp_out++;
	else
		peer->stats.udp_in++;
	return u;
}

void ferry_bridge_udp_free(struct br_udp *u)
{
	struct ferry_bridge_peer *peer = u->peer;
	struct ferry_bridge *b = peer->b;
	uint32_t slot = br_udp_slot(b, u), *pp = &b->udp_buckets[hash_of(peer, u->id, b->udp_mask)];

	while (*pp != BR_NIL && *pp != slot)
		pp = &b->udps[*pp].hnext;
	if (*pp == slot)
		*pp = u->hnext;
	if (u->role == BR_OPENER)
		peer->stats.udp_out--;
	else
		peer->stats.udp_in--;
	b->stats.udp_flows--;
	memset(u, 0, sizeof(*u));
	u->hnext = b->udp_free;
	b->udp_free = slot;
}

/* ---- the deadline heap and the dirty list ------------------------------------------ */

static uint64_t key(const struct ferry_bridge *b, uint32_t i)
{
	return b->convs[b->heap[i]].deadline;
}

static void heap_place(struct ferry_bridge *b, uint32_t i, uint32_t slot)
{
	b->heap[i] = slot;
	b->convs[slot].heap = i + 1;
}

static void heap_up(struct ferry_bridge *b, uint32_t i)
{
	uint32_t slot = b->heap[i];

	while (i > 0) {
		uint32_t parent = (i - 1) / 2;

		if (key(b, parent) <= b->convs[slot].deadline)
			break;
		heap_place(b, i, b->heap[parent]);
		i = parent;
	}
	heap_place(b, i, slot);
}

static void heap_down(struct ferry_bridge *b, uint32_t i)
{
	uint32_t slot = b->heap[i];

	for (;;) {
		uint32_t child = 2 * i + 1;

		if (child >= b->nheap)
			break;
		if (child + 1 < b->nheap && key(b, child + 1) < key(b, child))
			child++;
		if (b->convs[slot].deadline <= key(b, child))
			break;
		heap_place(b, i, b->heap[child]);
		i = child;
	}
	heap_place(b, i, slot);
}

void ferry_bridge_conv_schedule(struct br_conv *c, uint64_t deadline)
{
	struct ferry_bridge *b = c->peer->b;
	uint32_t slot = br_conv_slot(b, c);

	if (c->heap) {
		uint32_t i = c->heap - 1;

		if (deadline == UINT64_MAX) {
			uint32_t last = b->heap[--b->nheap];

			c->heap = 0;
			c->deadline = UINT64_MAX;
			if (i < b->nheap) {
				heap_place(b, i, last);
				heap_up(b, i);
				heap_down(b, b->convs[last].heap - 1);
			}
			return;
		}
		c->deadline = deadline;
		heap_up(b, i);
		heap_down(b, c->heap - 1);
		return;
	}
	c->deadline = deadline;
	if (deadline == UINT64_MAX)
		return;
	heap_place(b, b->nheap++, slot);
	heap_up(b, b->nheap - 1);
}

void ferry_bridge_conv_dirty(struct br_conv *c)
{
	struct ferry_bridge *b = c->peer->b;
	uint32_t slot = br_conv_slot(b, c);

	if (c->dirty)
		return;
	c->dirty = true;
	c->dirty_turn = b->turn;
	c->dirty_prev = b->dirty_tail;
	c->dirty_next = BR_NIL;
	if (b->dirty_tail != BR_NIL)
		b->convs[b->dirty_tail].dirty_next = slot;
	else
		b->dirty_head = slot;
	b->dirty_tail = slot;
}

static struct br_list *queue_of(struct br_conv *c, enum br_queue q)
{
	return q == BR_WAIT_POOL ? &c->peer->b->pool_waiters : &c->peer->room_waiters;
}

void ferry_bridge_conv_wait(struct br_conv *c, enum br_queue q)
{
	struct ferry_bridge *b = c->peer->b;
	struct br_list *l = queue_of(c, q);
	struct br_node *n = &c->wait[q];
	uint32_t slot = br_conv_slot(b, c);

	if (n->on)
		return;
	n->on = true;
	n->prev = l->tail;
	n->next = BR_NIL;
	if (l->tail != BR_NIL)
		b->convs[l->tail].wait[q].next = slot;
	else
		l->head = slot;
	l->tail = slot;
	l->n++;
	if (q == BR_WAIT_POOL)
		b->stats.tcp_waits++;
	else
		b->room_waiting++;
}

void ferry_bridge_conv_unwait(struct br_conv *c, enum br_queue q)
{
	struct ferry_bridge *b = c->peer->b;
	struct br_list *l = queue_of(c, q);
	struct br_node *n = &c->wait[q];

	if (!n->on)
		return;
	if (n->prev != BR_NIL)
		b->convs[n->prev].wait[q].next = n->next;
	else
		l->head = n->next;
	if (n->next != BR_NIL)
		b->convs[n->next].wait[q].prev = n->prev;
	else
		l->tail = n->prev;
	n->on = false;
	n->prev = n->next = BR_NIL;
	l->n--;
	if (q == BR_WAIT_ROOM)
		b->room_waiting--;
}

/* Buffers freed this turn go to the conversations that waited longest: once the pool has
 * room for what any waiter needs to be offered room again (WRITABLE_SEGMENTS: arq.h's
 * share is at least half of that), the first WAKE_LOOK in the queue run at the next flush,
 * as many as the free data buffers could give their minimum share to; one that finds them
 * taken when it runs waits again, at the tail. With less room, only a FIN that fits (a
 * control frame may use the reserve) is let go. A waiter is woken whatever its own state
 * says: one that no longer waits leaves the queue at its run (checking first let such
 * entries hold the queue's head, and a download waited 60 s for nothing). */
static void wake_pool_waiters(struct ferry_bridge *b)
{
	uint32_t room = ferry_arq_pool_data_room(&b->pool), looked = 0;
	uint32_t n = room >= WRITABLE_SEGMENTS ? room / FERRY_ARQ_SHARE_MIN : 0;
	uint32_t i = b->pool_waiters.head;

	for (; i != BR_NIL && looked < WAKE_LOOK; looked++) {
		struct br_conv *c = &b->convs[i];

		i = c->wait[BR_WAIT_POOL].next;
		if (n)
			n--;
		else if (c->tx != BR_TX_FIN_OWED || !ferry_bridge_tcp_can_write(c))
			continue;
		ferry_bridge_conv_unwait(c, BR_WAIT_POOL);
		ferry_bridge_conv_dirty(c);
	}
}

/* A link's room goes to its conversations in turn: as many of those that waited longest
 * run at the next flush as the room has quanta for; one still holding data after its run
 * queues again at the tail. While any wait, no other conversation takes room (a thin
 * flow needs none, unless the link's urgent queue is half full: conv_run holds thin
 * flows then): one that runs on its own input queues behind them. So a thousand conversations
 * with data cost one look at the link per millisecond, not a run each (they once did:
 * with 10,000 flows, that polling took the whole core), and a newcomer's data waits
 * behind no one's backlog, only for its turn. */
static void wake_room_waiters(struct ferry_bridge *b)
{
	struct ferry_bridge_peer *peer;

	for (peer = b->peers; peer && b->room_waiting; peer = peer->next) {
		uint32_t room;

		if (!peer->room_waiters.n)
			continue;
		room = b->ops->room ? b->ops->room(b->ctx, peer->link) : UINT32_MAX;
		room = room / ROOM_QUANTUM + (room % ROOM_QUANTUM != 0); /* runs it pays for */
		while (room-- > 0 && peer->room_waiters.head != BR_NIL) {
			struct br_conv *c = &b->convs[peer->room_waiters.head];

			ferry_bridge_conv_unwait(c, BR_WAIT_ROOM);
			c->room_turn = true;
			ferry_bridge_conv_dirty(c);
		}
	}
}

/* The end of a flush or a timer run: the queues get what was freed, the figures follow. */
static void wake(struct ferry_bridge *b)
{
	wake_pool_waiters(b);
	wake_room_waiters(b);
	b->stats.buffers_in_use = b->pool.stats.in_use;
	b->stats.tcp_waiting = b->pool_waiters.n;
	b->stats.room_waiting = b->room_waiting;
}

static void dirty_remove(struct ferry_bridge *b, struct br_conv *c)
{
	if (c->dirty_prev != BR_NIL)
		b->convs[c->dirty_prev].dirty_next = c->dirty_next;
	else
		b->dirty_head = c->dirty_next;
	if (c->dirty_next != BR_NIL)
		b->convs[c->dirty_next].dirty_prev = c->dirty_prev;
	else
		b->dirty_tail = c->dirty_prev;
	c->dirty = false;
	c->dirty_prev = c->dirty_next = BR_NIL;
}

/* Runs c's ARQ at now and its own timers, then sets its next deadline. */
static void conv_run(struct br_conv *c)
{
	struct ferry_bridge *b = c->peer->b;

	uint32_t room = b->ops->room ? b->ops->room(b->ctx, c->peer->link) : UINT32_MAX;
	uint64_t next;

	/* while others wait for room, it is theirs, in turn, a quantum per run (a thin flow
	 * sends without: arq.h); one not woken for its turn queues behind them */
	if (c->room_turn) {
		if (c->peer->room_waiters.n && room > ROOM_QUANTUM)
			room = ROOM_QUANTUM;
	} else if (c->peer->room_waiters.n) {
		room = 0;
	}
	c->room_turn = false;
	/* ... unless the queue ahead of bulk is half full: then a thin flow waits its turn too
	 * (ten thousand of them at once overflowed it, docs/soak.md). Not an opener's OPEN,
	 * all its queue can hold before the peer answers (the application sends nothing
	 * before its connection is accepted): new connections waiting behind the data of
	 * those open timed out by the thousand in the soak */
	ferry_arq_hold_thin(c->arq, c->state != BR_OPENING && b->ops->urgent_room &&
					!b->ops->urgent_room(b->ctx, c->peer->link));

	/* the conversation sends at most what the link takes now (with none, only its ACKs,
	 * and its data if it is a thin flow: arq.h); the rest stays in its own send queue,
	 * so a newcomer's first bytes queue behind no one's bulk */
	ferry_arq_set_credit(c->arq, room);
	/* What the end gave this turn leaves now, a partial segment too: the application's
	 * own TCP already coalesced its writes, and waiting the ARQ's interval for more would
	 * add it to every request's and every response's latency (kcp-go flushes on write
	 * likewise). Everything else runs at its deadline. */
	if (c->push)
		ferry_arq_flush(c->arq, b->now);
	else
		ferry_arq_timer(c->arq, b->now);
	c->push = false;
	if (!ferry_bridge_tcp_after_arq(c) || !ferry_bridge_tcp_timer(c))
		return;
	next = min64(ferry_arq_next_deadline(c->arq, b->now), ferry_bridge_tcp_deadline(c));
	if (!ferry_arq_credit(c->arq) && ferry_arq_wants_credit(c->arq))
		ferry_bridge_conv_wait(c, BR_WAIT_ROOM); /* out of room with data left: its turn */
	else
		ferry_bridge_conv_unwait(c, BR_WAIT_ROOM);
	ferry_bridge_conv_schedule(c, next);
}

/* ---- entry points ------------------------------------------------------------------ */

void ferry_bridge_segments(struct ferry_bridge_peer *peer, uint32_t conv, const uint8_t *segs,
			   size_t len, uint64_t now)
{
	struct br_conv *c;

	peer->b->now = now;
	c = ferry_bridge_conv_find(peer, conv);
	if (c)
		ferry_bridge_tcp_input(c, segs, len);
	else
		ferry_bridge_tcp_unknown_segments(peer, conv, segs, len);
}

void ferry_bridge_datagram(struct ferry_bridge_peer *peer, uint32_t flow_id, const uint8_t *data,
			   size_t len, uint64_t now)
{
	struct ferry_bridge *b = peer->b;
	struct ferry_flowmsg_dg m;
	struct br_conv *c;
	int err;

	b->now = now;
	err = ferry_flowmsg_dg_decode(data, len, &m);
	if (err) {
		b->stats.proto_errors++;
		return;
	}
	switch (m.type) {
	case FERRY_DG_TCP_RESET:
	case FERRY_DG_TCP_UNKNOWN:
		c = ferry_bridge_conv_find(peer, flow_id);
		if (!c)
			return; /* gone already: nothing to answer */
		if (m.type == FERRY_DG_TCP_RESET)
			ferry_bridge_tcp_reset_in(c, m.code);
		else
			ferry_bridge_tcp_unknown_in(c);
		return;
	case FERRY_DG_HELLO:
		b->stats.hellos_in++;
		ferry_bridge_peer_instance(peer, m.instance);
		if (!(m.flags & FERRY_FLOWMSG_HELLO_REPLY))
			send_hello(peer, true);
		return;
	default:
		ferry_bridge_udp_message(peer, flow_id, &m);
		return;
	}
}

void ferry_bridge_timer(struct ferry_bridge *b, uint64_t now)
{
	uint32_t budget = b->nheap;

	b->now = now;
	/* at most once each per call: a conversation due again at once waits for the next */
	while (budget-- > 0 && b->nheap && key(b, 0) <= now) {
		struct br_conv *c = &b->convs[b->heap[0]];

		ferry_bridge_conv_schedule(c, UINT64_MAX);
		conv_run(c);
	}
	wake(b);
}

uint64_t ferry_bridge_next_deadline(const struct ferry_bridge *b, uint64_t now)
{
	uint64_t d = b->nheap ? key(b, 0) : UINT64_MAX;

	if (b->dirty_head != BR_NIL)
		return now;
	if (b->room_waiting) /* the pacer drains as time passes: look again in a millisecond */
		d = min64(d, now + 1);
	return d;
}

void ferry_bridge_flush(struct ferry_bridge *b, uint64_t now)
{
	uint32_t this_turn = b->turn++;

	b->now = now;
	/* The conversations touched up to this flush, once each; one touched anew while it
	 * runs (an end offered room writes again) is for the next flush, which is due at once
	 * (ferry_bridge_next_deadline). Freeing a conversation takes it off the list. */
	while (b->dirty_head != BR_NIL) {
		struct br_conv *c = &b->convs[b->dirty_head];

		if (c->dirty_turn != this_turn)
			break; /* everything from here on was touched during this flush */
		dirty_remove(b, c);
		conv_run(c);
	}
	wake(b);
}
