// SPDX-License-Identifier: MIT
/*
 * The bridge's owner: peers, the tables of conversations and datagram flows (fixed arrays
 * sized by the config, found by (peer, id) through chained hashes, slots free-listed; a
 * slot's index is the egress id of its flow), the ids each side picks and the window of
 * the peer's ids already seen, instances and HELLO, and the dispatch of what the link
 * delivers. See bridge.h for the protocol; bridge_sched.c runs the conversations,
 * bridge_tcp.c and bridge_udp.c carry the flows.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "stack/bridge_internal.h"

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
		ferry_bridge_dirty_remove(c);
	ferry_bridge_conv_unwait(c, BR_WAIT_POOL);
	ferry_bridge_conv_unwait(c, BR_WAIT_ROOM);
	ferry_bridge_conv_ran(c);
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
