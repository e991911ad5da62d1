// SPDX-License-Identifier: MIT
/*
 * The relay harness's fake transport (see relay.h for the harness, relay_internal.h for
 * how it meets the loop in relay.c): it stands in for ARQ and link between ferry_stack
 * and ferry_egress.
 *
 * One relay flow per connection, an id per flow (the egress id), and a ring of
 * FERRY_RELAY_WINDOW bytes per direction -- the bytes "in flight". It takes from one side
 * only what fits its ring (a short return), forwards from its rings on the next turn, and
 * hands over only what the other side accepts, so backpressure engages on both APIs:
 * ferry_stack_tcp_writable / ferry_egress_tcp_writable after a short take,
 * ops->tcp_sendable after a short send. Connect outcome, FINs and resets cross it too, one
 * turn later, as they would cross a network. UDP datagrams and ICMP echoes cross at once.
 *
 * The two modules' callbacks only record what happened in the flow;
 * ferry_relay_transport_turn acts on it. What each connection saw is kept in its struct
 * ferry_relay_path for the caller.
 */
#include <errno.h>
#include <string.h>

#include "tests/support/fixture.h"
#include "tests/support/relay.h"
#include "tests/support/relay_internal.h"
#include "tun/tun.h"

#define WINDOW FERRY_RELAY_WINDOW
#define FLOWS  FERRY_RELAY_FLOWS
#define CONNS  FERRY_RELAY_CONNS_MAX

/* ---- the fake transport: rings -------------------------------------------------------- */

static size_t ring_put(struct ferry_relay_ring *g, const uint8_t *data, size_t len)
{
	size_t n = WINDOW - g->len < len ? WINDOW - g->len : len, done = 0;

	while (done < n) {
		size_t tail = (g->head + g->len) % WINDOW;
		size_t chunk = WINDOW - tail < n - done ? WINDOW - tail : n - done;

		memcpy(g->buf + tail, data + done, chunk);
		g->len += chunk;
		done += chunk;
	}
	return n;
}

/* The contiguous bytes at the ring's head. */
static size_t ring_peek(const struct ferry_relay_ring *g, const uint8_t **p)
{
	*p = g->buf + g->head;
	return WINDOW - g->head < g->len ? WINDOW - g->head : g->len;
}

static void ring_drop(struct ferry_relay_ring *g, size_t n)
{
	g->head = (g->head + n) % WINDOW;
	g->len -= n;
}

static struct ferry_relay_path *path_of(struct ferry_relay *r, const struct ferry_relay_flow *f)
{
	return &r->paths[f->conn >= 0 ? f->conn : CONNS];
}

static struct ferry_relay_flow *flow_new(struct ferry_relay *r, struct ferry_flow *sflow, bool udp,
					 const struct ferry_endpoint *src,
					 const struct ferry_endpoint *dst)
{
	struct ferry_relay_flow *f = NULL;
	int i;

	for (i = 0; i < FLOWS && !f; i++)
		if (!r->flows[i].used)
			f = &r->flows[i];
	ck_assert_msg(f != NULL, "fake transport: more than %d flows", FLOWS);
	memset(f, 0, sizeof(*f));
	f->used = true;
	f->udp = udp;
	f->id = (uint32_t)(f - r->flows);
	f->sflow = sflow;
	f->stack_alive = true;
	f->src = *src;
	f->dst = *dst;
	f->conn = r->ops->conn_of(r->ctx, src);
	ck_assert_msg(f->conn >= -1 && f->conn < CONNS, "conn_of: connection %d", f->conn);
	ferry_stack_flow_set_user(sflow, f);
	r->count.live_flows++;
	r->count.opened++;
	return f;
}

static struct ferry_relay_flow *flow_by_id(struct ferry_relay *r, uint32_t id)
{
	ck_assert_msg(id < FLOWS && r->flows[id].used, "egress reported unknown id %u", id);
	return &r->flows[id];
}

static void stack_side_ended(struct ferry_relay *r, struct ferry_relay_flow *f, int reason)
{
	struct ferry_relay_path *p = path_of(r, f);

	f->stack_alive = false;
	f->sflow = NULL;
	p->stack_ended = true;
	p->stack_reason = reason;
}

static void egress_side_ended(struct ferry_relay *r, struct ferry_relay_flow *f, int reason)
{
	struct ferry_relay_path *p = path_of(r, f);

	f->egress_alive = false;
	f->egress_open = false;
	p->egress_ended = true;
	p->egress_reason = reason;
}

/* ---- stack ops ------------------------------------------------------------------------ */

static int st_tun_write(void *ctx, const uint8_t *pkt, size_t len)
{
	struct ferry_relay *r = ctx;
	int err = ferry_tun_write(&r->tun, pkt, len);

	if (err)
		r->count.tun_write_errors++;
	return err;
}

static int st_tcp_open(void *ctx, struct ferry_flow *flow, const struct ferry_endpoint *src,
		       const struct ferry_endpoint *dst)
{
	struct ferry_relay_flow *f = flow_new(ctx, flow, false, src, dst);

	f->open_pending = true; /* the open crosses the transport on the next turn */
	return 0;
}

static size_t st_tcp_data(void *ctx, struct ferry_flow *flow, const uint8_t *data, size_t len)
{
	struct ferry_relay_flow *f = ferry_stack_flow_user(flow);
	struct ferry_relay_path *p = path_of(ctx, f);
	size_t n = ring_put(&f->up, data, len);

	if (n < len) {
		f->up_stalled = true;
		p->stack_short_takes++;
	}
	return n;
}

static void st_tcp_eof(void *ctx, struct ferry_flow *flow)
{
	struct ferry_relay_flow *f = ferry_stack_flow_user(flow);

	(void)ctx;
	f->up_eof = true;
}

static void st_tcp_sendable(void *ctx, struct ferry_flow *flow, size_t space)
{
	struct ferry_relay_flow *f = ferry_stack_flow_user(flow);

	(void)space;
	f->down_blocked = false;
	path_of(ctx, f)->stack_sendables++;
}

static void st_tcp_closed(void *ctx, struct ferry_flow *flow, int reason)
{
	struct ferry_relay_flow *f = ferry_stack_flow_user(flow);

	stack_side_ended(ctx, f, reason);
	if (reason != 0 && f->egress_alive)
		f->reset_to_egress = true;
}

static int st_udp_open(void *ctx, struct ferry_flow *flow, const struct ferry_endpoint *src,
		       const struct ferry_endpoint *dst)
{
	struct ferry_relay *r = ctx;
	struct ferry_relay_flow *f = flow_new(r, flow, true, src, dst);
	int err = ferry_egress_udp_open(r->egress, f->id, src, dst, r->now);

	if (err) {
		f->used = false;
		r->count.live_flows--;
		return err;
	}
	f->egress_alive = true;
	return 0;
}

static void st_udp_datagram(void *ctx, struct ferry_flow *flow, const uint8_t *data, size_t len)
{
	struct ferry_relay *r = ctx;
	struct ferry_relay_flow *f = ferry_stack_flow_user(flow);

	ck_assert_msg(f->egress_alive, "UDP flow %u: egress ended it (idle) before the stack",
		      f->id);
	ck_assert_int_eq(
	    ferry_egress_udp_send(r->egress, f->id, ferry_stack_flow_dst(flow), data, len, r->now),
	    0);
}

static void st_udp_closed(void *ctx, struct ferry_flow *flow)
{
	struct ferry_relay *r = ctx;
	struct ferry_relay_flow *f = ferry_stack_flow_user(flow);

	if (f->egress_alive)
		ck_assert_int_eq(ferry_egress_udp_close(r->egress, f->id), 0);
	f->used = false;
	r->count.live_flows--;
}

static int st_icmp_echo(void *ctx, const struct ferry_endpoint *src,
			const struct ferry_endpoint *dst, uint16_t seq, const uint8_t *data,
			size_t len)
{
	struct ferry_relay *r = ctx;

	ck_assert_int_eq(ferry_egress_ping(r->egress, src, dst, seq, data, len, r->now), 0);
	r->count.pings_forwarded++;
	return 0;
}

const struct ferry_stack_ops ferry_relay_stack_ops = {
    .tun_write = st_tun_write,
    .tcp_open = st_tcp_open,
    .tcp_data = st_tcp_data,
    .tcp_eof = st_tcp_eof,
    .tcp_sendable = st_tcp_sendable,
    .tcp_closed = st_tcp_closed,
    .udp_open = st_udp_open,
    .udp_datagram = st_udp_datagram,
    .udp_closed = st_udp_closed,
    .icmp_echo = st_icmp_echo,
};

/* ---- egress ops ----------------------------------------------------------------------- */

static int eg_watch(void *ctx, int fd, uint32_t events, uint64_t cookie)
{
	ferry_relay_egress_watch(ctx, fd, events, cookie);
	return 0;
}

static void eg_unwatch(void *ctx, int fd)
{
	ferry_relay_unwatch(ctx, fd);
}

static void eg_tcp_connected(void *ctx, uint32_t id)
{
	struct ferry_relay_flow *f = flow_by_id(ctx, id);

	f->egress_open = true;
	f->connected_pending = true;
}

static void eg_tcp_failed(void *ctx, uint32_t id, int err)
{
	struct ferry_relay_flow *f = flow_by_id(ctx, id);

	ck_assert_int_lt(err, 0);
	egress_side_ended(ctx, f, err);
	f->failed_pending = err;
}

static size_t eg_tcp_data(void *ctx, uint32_t id, const uint8_t *data, size_t len)
{
	struct ferry_relay_flow *f = flow_by_id(ctx, id);
	struct ferry_relay_path *p = path_of(ctx, f);
	size_t n = ring_put(&f->down, data, len);

	if (n < len) {
		f->down_stalled = true;
		p->egress_short_takes++;
	}
	return n;
}

static void eg_tcp_eof(void *ctx, uint32_t id)
{
	flow_by_id(ctx, id)->down_eof = true;
}

static void eg_tcp_sendable(void *ctx, uint32_t id, size_t space)
{
	struct ferry_relay_flow *f = flow_by_id(ctx, id);

	(void)space;
	f->up_blocked = false;
	path_of(ctx, f)->egress_sendables++;
}

static void eg_tcp_closed(void *ctx, uint32_t id, int reason)
{
	struct ferry_relay_flow *f = flow_by_id(ctx, id);

	egress_side_ended(ctx, f, reason);
	if (reason != 0 && f->stack_alive)
		f->reset_to_stack = true;
}

static void eg_udp_datagram(void *ctx, uint32_t id, const struct ferry_endpoint *from,
			    const uint8_t *data, size_t len)
{
	struct ferry_relay_flow *f = flow_by_id(ctx, id);

	if (f->stack_alive)
		ck_assert_int_eq(ferry_stack_udp_send(f->sflow, from, data, len), 0);
}

static void eg_udp_closed(void *ctx, uint32_t id)
{
	egress_side_ended(ctx, flow_by_id(ctx, id), 0);
}

static void eg_icmp_reply(void *ctx, const struct ferry_endpoint *app,
			  const struct ferry_endpoint *from, uint16_t seq, const uint8_t *data,
			  size_t len, uint32_t rtt_ms)
{
	struct ferry_relay *r = ctx;

	(void)rtt_ms;
	ck_assert_int_eq(ferry_stack_icmp_echo_reply(r->stack, app, from, seq, data, len), 0);
	r->count.ping_replies_relayed++;
}

const struct ferry_egress_ops ferry_relay_egress_ops = {
    .watch = eg_watch,
    .unwatch = eg_unwatch,
    .tcp_connected = eg_tcp_connected,
    .tcp_failed = eg_tcp_failed,
    .tcp_data = eg_tcp_data,
    .tcp_eof = eg_tcp_eof,
    .tcp_sendable = eg_tcp_sendable,
    .tcp_closed = eg_tcp_closed,
    .udp_datagram = eg_udp_datagram,
    .udp_closed = eg_udp_closed,
    .icmp_reply = eg_icmp_reply,
};

/* ---- the fake transport: one turn of one flow ---------------------------------------- */

/* Connect outcome and resets, crossing the transport. */
static bool flow_control(struct ferry_relay *r, struct ferry_relay_flow *f)
{
	bool moved = f->open_pending || f->failed_pending || f->connected_pending ||
		     f->reset_to_egress || f->reset_to_stack;

	if (f->open_pending) {
		int err = 0;

		f->open_pending = false;
		if (f->stack_alive)
			err = ferry_egress_tcp_open(r->egress, f->id, &f->src, &f->dst, r->now);
		if (err) {
			path_of(r, f)->egress_reason = err;
			ferry_stack_tcp_refused(f->sflow, err);
			stack_side_ended(r, f, err);
		} else if (f->stack_alive) {
			f->egress_alive = true;
		}
	}
	if (f->failed_pending) {
		if (f->stack_alive) {
			ferry_stack_tcp_refused(f->sflow, f->failed_pending);
			stack_side_ended(r, f, f->failed_pending);
		}
		f->failed_pending = 0;
	}
	if (f->connected_pending) {
		f->connected_pending = false;
		if (f->stack_alive && ferry_stack_tcp_connected(f->sflow) != 0) {
			stack_side_ended(r, f, -ENOMEM);
			f->reset_to_egress = f->egress_alive;
		}
	}
	if (f->reset_to_egress) {
		f->reset_to_egress = false;
		if (f->egress_alive)
			ck_assert_int_eq(ferry_egress_tcp_reset(r->egress, f->id), 0);
		egress_side_ended(r, f, -ECONNRESET);
	}
	if (f->reset_to_stack) {
		f->reset_to_stack = false;
		if (f->stack_alive) {
			ferry_stack_tcp_reset(f->sflow);
			stack_side_ended(r, f, -ECONNRESET);
		}
	}
	return moved;
}

/* Application to destination: ring -> egress; room again -> stack; FIN after the bytes. */
static bool flow_up(struct ferry_relay *r, struct ferry_relay_flow *f)
{
	struct ferry_relay_path *p = path_of(r, f);
	bool moved = false;

	while (f->egress_open && f->up.len > 0 && !f->up_blocked) {
		const uint8_t *data;
		size_t len = ring_peek(&f->up, &data);
		size_t n = ferry_egress_tcp_send(r->egress, f->id, data, len);

		ring_drop(&f->up, n);
		moved |= n > 0;
		if (n < len) {
			f->up_blocked = true;
			p->egress_short_sends++;
		}
	}
	if (f->up_stalled && f->up_blocked)
		p->up_pressure = true; /* both sides refused: the ring is full and stuck */
	if (f->up_stalled && f->stack_alive && f->up.len <= WINDOW / 2) {
		f->up_stalled = false;
		p->stack_writables++;
		ferry_stack_tcp_writable(f->sflow); /* may refill the ring, deliver the FIN, end */
		moved = true;
	}
	if (f->up_eof && !f->up_eof_sent && f->up.len == 0 && f->egress_open) {
		int rc = ferry_egress_tcp_shutdown(r->egress, f->id);

		ck_assert_msg(rc == 0 || rc == 1, "egress shutdown of %u: %d", f->id, rc);
		f->up_eof_sent = true;
		if (rc == 1) /* the destination's FIN had come: the egress flow ended */
			egress_side_ended(r, f, 0);
		moved = true;
	}
	return moved;
}

/* Destination to application: ring -> stack; room again -> egress; FIN after the bytes. */
static bool flow_down(struct ferry_relay *r, struct ferry_relay_flow *f)
{
	struct ferry_relay_path *p = path_of(r, f);
	bool moved = false;

	while (f->stack_alive && f->down.len > 0 && !f->down_blocked) {
		const uint8_t *data;
		size_t len = ring_peek(&f->down, &data);
		size_t n = ferry_stack_tcp_send(f->sflow, data, len);

		ring_drop(&f->down, n);
		moved |= n > 0;
		if (n < len) {
			f->down_blocked = true;
			p->stack_short_sends++;
		}
	}
	if (f->down_stalled && f->down_blocked)
		p->down_pressure = true;
	if (f->down_stalled && f->egress_open && f->down.len <= WINDOW / 2) {
		f->down_stalled = false;
		p->egress_writables++;
		ferry_egress_tcp_writable(r->egress, f->id);
		moved = true;
	}
	if (f->down_eof && !f->down_eof_sent && f->down.len == 0 && f->stack_alive) {
		f->down_eof_sent = true;
		p->peer_first = !f->up_eof;
		/* may end the flow at once (tcp_closed(0)) if the application's FIN came */
		ck_assert_int_eq(ferry_stack_tcp_shutdown(f->sflow), 0);
		moved = true;
	}
	return moved;
}

/* Runs every TCP relay flow once; frees those whose both sides ended. Returns whether
 * anything moved (then the loop does not sleep). */
bool ferry_relay_transport_turn(struct ferry_relay *r)
{
	bool moved = false;
	int i;

	for (i = 0; i < FLOWS; i++) {
		struct ferry_relay_flow *f = &r->flows[i];

		if (!f->used || f->udp)
			continue;
		moved |= flow_control(r, f);
		moved |= flow_up(r, f);
		moved |= flow_down(r, f);
		if (!f->stack_alive && !f->egress_alive && !f->open_pending) {
			f->used = false;
			r->count.live_flows--;
		}
	}
	return moved;
}

/* ---- what the caller reads ------------------------------------------------------------ */

const struct ferry_relay_path *ferry_relay_path(const struct ferry_relay *r, int conn)
{
	ck_assert_msg(conn >= -1 && conn < CONNS, "path of connection %d", conn);
	return &r->paths[conn >= 0 ? conn : CONNS];
}

bool ferry_relay_up_stalled(const struct ferry_relay *r, int conn)
{
	int i;

	for (i = 0; i < FLOWS; i++)
		if (r->flows[i].used && !r->flows[i].udp && r->flows[i].conn == conn)
			return r->flows[i].up_stalled;
	return false;
}
