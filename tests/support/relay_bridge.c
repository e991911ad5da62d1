// SPDX-License-Identifier: MIT
/*
 * The relay harness's bridged mode (relay.h: ferry_relay_start_bridged): instead of the
 * fake transport, the stack and egress are joined the way two ferries join them -- the
 * stack to bridge A, egress to bridge B (stack/bridge.h), the two bridges speaking the flow
 * protocol across an in-memory WAN with a one-way delay and seeded random loss each way.
 * Everything above the link is real: ARQ conversations, frames, datagram messages,
 * instances; only the secure link (tested on its own) is left out.
 *
 * The WAN holds what the bridges send, one message per ARQ datagram or datagram-channel
 * message, in a FIFO per direction stamped with its delivery time (send time plus the
 * delay: a constant delay keeps each FIFO sorted); the loop's turn delivers what is due.
 * Messages are copied into the heap (a test helper, not the data path) and bounded.
 *
 * Per-connection paths (relay.h) record the stack's side through wrapping stack ops; the
 * bridge picks egress ids itself, so egress's side is checked by its totals.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/fixture.h"
#include "tests/support/relay.h"
#include "tests/support/relay_internal.h"

#define WAN_QUEUE_MAX 200000 /* messages in flight per direction */

enum {
	K_SEGMENTS,
	K_DATAGRAM
};

struct wan_msg {
	struct wan_msg *next;
	uint64_t at;
	uint8_t kind;
	uint32_t id;
	size_t len;
	uint8_t data[];
};

struct wan_dir {
	struct wan_msg *head, *tail;
	unsigned count;
	uint64_t sent, lost, delivered;
};

struct ferry_relay_bridged {
	struct ferry_relay_wan cfg;
	uint64_t rng;
	struct ferry_bridge *b[2];	/* 0: A, the stack's; 1: B, egress's */
	struct ferry_bridge_peer *p[2]; /* each one's only peer: the other */
	struct wan_dir dir[2];		/* dir[i]: from side i to the other */
	bool owed;			/* the stack's side took application bytes this turn */
	uint64_t held;			/* flushes after which such bytes had not left */
};

static uint64_t rng_next(struct ferry_relay_bridged *w)
{
	uint64_t x = w->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	w->rng = x;
	return x * 0x2545f4914f6cdd1dull;
}

static struct ferry_relay *relay_of_side(void *ctx, int *side)
{
	struct ferry_relay *r = *(struct ferry_relay **)ctx;

	*side = (int)((struct ferry_relay **)ctx - r->bridged_ctx);
	return r;
}

static int wan_send(void *ctx, uint8_t kind, uint32_t id, const uint8_t *data, size_t len)
{
	int side;
	struct ferry_relay *r = relay_of_side(ctx, &side);
	struct ferry_relay_bridged *w = r->bridged;
	struct wan_dir *d = &w->dir[side];
	struct wan_msg *m;

	d->sent++;
	if (w->cfg.loss > 0 && (double)(rng_next(w) >> 11) / 9007199254740992.0 < w->cfg.loss) {
		d->lost++;
		return 0; /* lost on the way: the sender cannot tell */
	}
	ck_assert_msg(d->count < WAN_QUEUE_MAX, "WAN queue full: the harness is not draining");
	m = malloc(sizeof(*m) + len);
	ck_assert_ptr_nonnull(m);
	m->next = NULL;
	m->at = r->now + w->cfg.delay_ms;
	m->kind = kind;
	m->id = id;
	m->len = len;
	memcpy(m->data, data, len);
	if (d->tail)
		d->tail->next = m;
	else
		d->head = m;
	d->tail = m;
	d->count++;
	return 0;
}

static int br_send_segments(void *ctx, void *link, const uint8_t *segs, size_t len, bool thin,
			    uint64_t now)
{
	(void)link;
	(void)thin;
	(void)now;
	return wan_send(ctx, K_SEGMENTS, 0, segs, len);
}

static int br_send_datagram(void *ctx, void *link, uint32_t flow_id, const uint8_t *data,
			    size_t len, uint64_t now)
{
	(void)link;
	(void)now;
	return wan_send(ctx, K_DATAGRAM, flow_id, data, len);
}

static int br_tun_write(void *ctx, const uint8_t *pkt, size_t len)
{
	int side;
	struct ferry_relay *r = relay_of_side(ctx, &side);
	int err = ferry_tun_write(&r->tun, pkt, len);

	if (err)
		r->count.tun_write_errors++;
	return err;
}

static int br_watch(void *ctx, int fd, uint32_t events, uint64_t cookie)
{
	int side;
	struct ferry_relay *r = relay_of_side(ctx, &side);

	ferry_relay_egress_watch(r, fd, events, cookie);
	return 0;
}

static void br_unwatch(void *ctx, int fd)
{
	int side;

	ferry_relay_unwatch(relay_of_side(ctx, &side), fd);
}

static struct ferry_bridge_peer *br_route(void *ctx, const struct ferry_endpoint *dst)
{
	int side;
	struct ferry_relay *r = relay_of_side(ctx, &side);

	(void)dst;
	return r->bridged->p[side]; /* one peer: everything routes to it */
}

static bool br_source_ok(void *ctx, struct ferry_bridge_peer *peer,
			 const struct ferry_endpoint *src)
{
	(void)ctx;
	(void)peer;
	(void)src;
	return true;
}

/* A link backed up (wan.backed_up) has no room for side 0; otherwise no limit. */
static uint32_t br_room(void *ctx, void *link)
{
	int side;
	struct ferry_relay *r = relay_of_side(ctx, &side);

	(void)link;
	return side == 0 && r->bridged->cfg.backed_up ? 0 : UINT32_MAX;
}

void ferry_relay_unblock(struct ferry_relay *r)
{
	r->bridged->cfg.backed_up = false;
}

static const struct ferry_bridge_ops bridge_ops = {
    .tun_write = br_tun_write,
    .watch = br_watch,
    .unwatch = br_unwatch,
    .send_segments = br_send_segments,
    .send_datagram = br_send_datagram,
    .room = br_room,
    .urgent_room = br_room,
    .route = br_route,
    .source_ok = br_source_ok,
};

/* ---- the stack's ops: the bridge's, with the paths recorded ---------------------------- */

static int wrap_tcp_open(void *ctx, struct ferry_flow *flow, const struct ferry_endpoint *src,
			 const struct ferry_endpoint *dst)
{
	struct ferry_relay *r = ctx;

	r->count.opened++;
	return ferry_bridge_stack_ops.tcp_open(r->bridged->b[0], flow, src, dst);
}

static size_t wrap_tcp_data(void *ctx, struct ferry_flow *flow, const uint8_t *data, size_t len)
{
	struct ferry_relay *r = ctx;
	size_t took = ferry_bridge_stack_ops.tcp_data(r->bridged->b[0], flow, data, len);

	if (took)
		r->bridged->owed = true;
	return took;
}

static void wrap_tcp_eof(void *ctx, struct ferry_flow *flow)
{
	struct ferry_relay *r = ctx;

	ferry_bridge_stack_ops.tcp_eof(r->bridged->b[0], flow);
}

static void wrap_tcp_sendable(void *ctx, struct ferry_flow *flow, size_t space)
{
	struct ferry_relay *r = ctx;

	ferry_bridge_stack_ops.tcp_sendable(r->bridged->b[0], flow, space);
}

static void wrap_tcp_closed(void *ctx, struct ferry_flow *flow, int reason)
{
	struct ferry_relay *r = ctx;
	int conn = r->ops->conn_of(r->ctx, ferry_stack_flow_src(flow));
	struct ferry_relay_path *p = &r->paths[conn >= 0 ? conn : FERRY_RELAY_CONNS_MAX];

	p->stack_ended = true;
	p->stack_reason = reason;
	ferry_bridge_stack_ops.tcp_closed(r->bridged->b[0], flow, reason);
}

static int wrap_tun_write(void *ctx, const uint8_t *pkt, size_t len)
{
	struct ferry_relay *r = ctx;

	return br_tun_write(&r->bridged_ctx[0], pkt, len);
}

static int wrap_udp_open(void *ctx, struct ferry_flow *flow, const struct ferry_endpoint *src,
			 const struct ferry_endpoint *dst)
{
	struct ferry_relay *r = ctx;

	r->count.opened++;
	return ferry_bridge_stack_ops.udp_open(r->bridged->b[0], flow, src, dst);
}

static void wrap_udp_datagram(void *ctx, struct ferry_flow *flow, const uint8_t *data, size_t len)
{
	struct ferry_relay *r = ctx;

	ferry_bridge_stack_ops.udp_datagram(r->bridged->b[0], flow, data, len);
}

static void wrap_udp_closed(void *ctx, struct ferry_flow *flow)
{
	struct ferry_relay *r = ctx;

	ferry_bridge_stack_ops.udp_closed(r->bridged->b[0], flow);
}

static int wrap_icmp_echo(void *ctx, const struct ferry_endpoint *src,
			  const struct ferry_endpoint *dst, uint16_t seq, const uint8_t *data,
			  size_t len)
{
	struct ferry_relay *r = ctx;

	r->count.pings_forwarded++;
	return ferry_bridge_stack_ops.icmp_echo(r->bridged->b[0], src, dst, seq, data, len);
}

static const struct ferry_stack_ops wrapped_stack_ops = {
    .tun_write = wrap_tun_write,
    .tcp_open = wrap_tcp_open,
    .tcp_data = wrap_tcp_data,
    .tcp_eof = wrap_tcp_eof,
    .tcp_sendable = wrap_tcp_sendable,
    .tcp_closed = wrap_tcp_closed,
    .udp_open = wrap_udp_open,
    .udp_datagram = wrap_udp_datagram,
    .udp_closed = wrap_udp_closed,
    .icmp_echo = wrap_icmp_echo,
};

/* ---- set-up, the turn, tear-down ----------------------------------------------------- */

void ferry_relay_bridged_create(struct ferry_relay *r, const struct ferry_relay_wan *wan,
				struct ferry_stack_config *scfg, struct ferry_egress_config *ecfg)
{
	struct ferry_relay_bridged *w = calloc(1, sizeof(*w));
	struct ferry_bridge_config bcfg;
	struct ferry_wire_sizes sizes;
	int i;

	ck_assert_ptr_nonnull(w);
	w->cfg = *wan;
	w->rng = wan->seed * 2 + 1;
	r->bridged = w;
	r->bridged_ctx[0] = r;
	r->bridged_ctx[1] = r;
	ferry_bridge_config_default(&bcfg, FERRY_ARQ_PROFILE_FAST3);
	bcfg.arq.snd_wnd = bcfg.arq.rcv_wnd = 256; /* small windows: backpressure shows */
	bcfg.arq.rmt_wnd_init = 256;
	bcfg.arq_buffers = wan->buffers ? wan->buffers : 8192;
	if (wan->linger_ms)
		bcfg.linger_ms = wan->linger_ms;
	/* the sizes of a default link (1500 over IPv6), though the fake WAN has none */
	ck_assert_int_eq(ferry_wire_sizes(&sizes, FERRY_WIRE_MTU_DEFAULT, FERRY_WIRE_IPV6_HDR), 0);
	for (i = 0; i < 2; i++)
		ck_assert_int_eq(
		    ferry_bridge_create(&w->b[i], &bcfg, &sizes, &bridge_ops, &r->bridged_ctx[i]),
		    0);
	ck_assert_int_eq(ferry_bridge_peer_add(w->b[0], &w->dir[0], true, NULL, &w->p[0]), 0);
	ck_assert_int_eq(ferry_bridge_peer_add(w->b[1], &w->dir[1], false, NULL, &w->p[1]), 0);
	ck_assert_int_eq(ferry_stack_create(&r->stack, scfg, &wrapped_stack_ops, r, r->now), 0);
	ck_assert_int_eq(ferry_egress_create(&r->egress, ecfg, &ferry_bridge_egress_ops, w->b[1]),
			 0);
	ferry_bridge_attach(w->b[0], r->stack, NULL);
	ferry_bridge_attach(w->b[1], NULL, r->egress);
	ferry_bridge_peer_up(w->p[0], r->now);
	ferry_bridge_peer_up(w->p[1], r->now);
}

/* Delivers what is due on the WAN, then runs the bridges' timers. Returns whether
 * anything moved. */
bool ferry_relay_bridged_turn(struct ferry_relay *r)
{
	struct ferry_relay_bridged *w = r->bridged;
	bool moved = false;
	int i;

	for (i = 0; i < 2; i++) {
		struct wan_dir *d = &w->dir[i];
		struct ferry_bridge_peer *to = w->p[1 - i];
		struct wan_msg *m;

		while ((m = d->head) != NULL && m->at <= r->now) {
			d->head = m->next;
			if (!d->head)
				d->tail = NULL;
			d->count--;
			d->delivered++;
			if (m->kind == K_SEGMENTS)
				ferry_bridge_segments(to, ferry_wire_get_le32(m->data), m->data,
						      m->len, r->now);
			else
				ferry_bridge_datagram(to, m->id, m->data, m->len, r->now);
			free(m);
			moved = true;
		}
	}
	for (i = 0; i < 2; i++)
		if (ferry_bridge_next_deadline(w->b[i], r->now) <= r->now)
			ferry_bridge_timer(w->b[i], r->now);
	return moved;
}

void ferry_relay_bridged_flush(struct ferry_relay *r)
{
	struct ferry_relay_bridged *w = r->bridged;
	uint64_t sent = w->dir[0].sent;

	ferry_bridge_flush(w->b[0], r->now);
	if (w->owed && w->dir[0].sent == sent)
		w->held++;
	w->owed = false;
	ferry_bridge_flush(r->bridged->b[1], r->now);
	ferry_stack_flush(r->stack);
}

uint64_t ferry_relay_bridged_deadline(const struct ferry_relay *r)
{
	const struct ferry_relay_bridged *w = r->bridged;
	uint64_t d = UINT64_MAX, t;
	int i;

	for (i = 0; i < 2; i++) {
		t = ferry_bridge_next_deadline(w->b[i], r->now);
		d = t < d ? t : d;
		if (w->dir[i].head && w->dir[i].head->at < d)
			d = w->dir[i].head->at;
	}
	return d;
}

void ferry_relay_bridged_free(struct ferry_relay *r)
{
	struct ferry_relay_bridged *w = r->bridged;
	int i;

	/* the stack (its flows' ends reach bridge A), egress (it unwatches through bridge
	 * B), then the bridges (stack/bridge.h) */
	ferry_stack_destroy(r->stack);
	r->stack = NULL;
	ferry_egress_destroy(r->egress);
	r->egress = NULL;
	for (i = 0; i < 2; i++)
		ferry_bridge_destroy(w->b[i]);
	for (i = 0; i < 2; i++) {
		struct wan_msg *m;

		while ((m = w->dir[i].head) != NULL) {
			w->dir[i].head = m->next;
			free(m);
		}
	}
	free(w);
	r->bridged = NULL;
}

const struct ferry_bridge_stats *ferry_relay_bridge_stats(const struct ferry_relay *r, int side)
{
	return ferry_bridge_get_stats(r->bridged->b[side]);
}

uint64_t ferry_relay_bridge_held(const struct ferry_relay *r)
{
	return r->bridged->held;
}

void ferry_relay_bridge_peer_stats(const struct ferry_relay *r, int side,
				   struct ferry_bridge_peer_stats *out)
{
	ferry_bridge_peer_stats(r->bridged->p[side], out);
}

void ferry_relay_wan_counts(const struct ferry_relay *r, int side, uint64_t *sent, uint64_t *lost)
{
	*sent = r->bridged->dir[side].sent;
	*lost = r->bridged->dir[side].lost;
}
