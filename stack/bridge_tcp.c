// SPDX-License-Identifier: MIT
/*
 * TCP flows over conversations (the protocol is in bridge.h and wire.h).
 *
 * One conversation joins an "end" -- the stack's flow where the application's connection
 * was caught (the opener) or egress's socket to the destination (the acceptor) -- to the
 * peer. Toward the peer, what the end hands over becomes DATA frames, written into the
 * ARQ only as far as its send queue has room (header and body go in as one); the end's
 * half-close becomes a FIN frame. From the peer, frames are read straight out of the
 * ARQ's receive queue (peek, offer, consume what was taken): DATA bodies go to the end
 * as it accepts them, a FIN to its shutdown, OPEN and RESULT to the opening's steps.
 *
 * A conversation is freed only where no end's call is running: from a run at the end
 * of a turn or at its deadline (conv_run in bridge_sched.c), or from the peer's signals. What
 * an end's callback decides (a reset, the end gone) is noted and carried out at the
 * next run. So a stack or egress call made from here, which may call back synchronously
 * (a shutdown that ends the flow reports tcp_closed at once), never frees what this file
 * is still using.
 */
#include <errno.h>
#include <string.h>

#include "stack/bridge_internal.h"

static struct ferry_bridge *br_of(const struct br_conv *c)
{
	return c->peer->b;
}

static void doom(struct br_conv *c, uint8_t code)
{
	if (!c->doomed) {
		c->doomed = true;
		c->doom_code = code;
	}
	ferry_bridge_conv_dirty(c);
}

/* ---- the end: the stack's flow (opener) or egress's (acceptor) ------------------------ */

static size_t end_send(struct br_conv *c, const uint8_t *p, size_t n)
{
	struct ferry_bridge *b = br_of(c);

	if (c->end_gone)
		return n;	  /* nobody to take it: the conversation is ending */
	if (c->role == BR_OPENER) /* the ARQ's segments, pushed together at the turn's end */
		return ferry_stack_tcp_send_more(c->sflow, p, n);
	return ferry_egress_tcp_send(b->egress, br_conv_slot(b, c), p, n);
}

/* The peer's FIN reached the end. */
static void end_shutdown(struct br_conv *c)
{
	struct ferry_bridge *b = br_of(c);

	if (c->end_gone)
		return;
	if (c->role == BR_OPENER) {
		ferry_stack_tcp_shutdown(c->sflow); /* may report tcp_closed at once */
	} else if (ferry_egress_tcp_shutdown(b->egress, br_conv_slot(b, c)) == 1) {
		c->end_gone = true; /* the destination's FIN had come: done, no callback */
		c->end_ms = b->now;
	}
}

/* The end is reset (or, still opening, refused with code's errno). No callback follows. */
static void end_reset(struct br_conv *c, uint8_t code)
{
	struct ferry_bridge *b = br_of(c);

	if (c->end_gone)
		return;
	c->end_gone = true;
	c->end_ms = b->now;
	if (c->role == BR_ACCEPTOR) {
		if (b->egress) /* NULL: destroyed, and its flows with it */
			ferry_egress_tcp_reset(b->egress, br_conv_slot(b, c));
		return;
	}
	if (!c->sflow)
		return;
	ferry_stack_flow_set_user(c->sflow, NULL);
	if (c->state == BR_OPENING)
		ferry_stack_tcp_refused(c->sflow, ferry_flowmsg_errno(code));
	else
		ferry_stack_tcp_reset(c->sflow);
	c->sflow = NULL;
}

/* The end may hand over more: its queued bytes are offered again. */
static void end_writable(struct br_conv *c)
{
	struct ferry_bridge *b = br_of(c);

	if (c->end_gone)
		return;
	if (c->role == BR_OPENER)
		ferry_stack_tcp_writable(c->sflow);
	else
		ferry_egress_tcp_writable(b->egress, br_conv_slot(b, c));
}

/* ---- frames toward the peer ------------------------------------------------------------ */

/* Writes one whole control frame (OPEN, RESULT, FIN), or nothing if even the pool's
 * reserve has no buffer for it (arq.h: only the last ones, kept for receiving, are off
 * limits to it). */
static bool write_frame(struct br_conv *c, const uint8_t *frame, size_t len)
{
	if (ferry_arq_send_record(c->arq, frame, len) != (ssize_t)len)
		return false;
	c->push = true;
	ferry_bridge_conv_dirty(c);
	return true;
}

/* Whether c may take segment buffers now: while any conversation waits for them, or was
 * woken to take them and has not run yet, only one whose turn it is (bridge_sched.c) may.
 * Without this, those that held buffers refilled their share at each of their own ACKs,
 * the waiters woken found none left and queued again at the tail, and with 10,000 flows
 * thousands waited past 180 s. */
static bool pool_open_to(const struct br_conv *c)
{
	const struct ferry_bridge *b = br_of(c);

	return c->pool_turn || (b->pool_waiters.n == 0 && b->pool_woken == 0);
}

/* The end is told "later" (tcp_writable owed); a turn ends there. */
static void block(struct br_conv *c)
{
	c->tx_blocked = true;
	c->pool_turn = false;
}

/* As many DATA frame bytes as the send queue takes; the rest is owed tcp_writable. A
 * turn (pool_turn) ends when the end is told "later", or at the run after its writes. */
static size_t write_data(struct br_conv *c, const uint8_t *data, size_t len)
{
	struct ferry_bridge *b = br_of(c);
	uint8_t hdr[FERRY_FRAME_HDR_LEN];
	size_t space, n;

	if (c->state != BR_OPEN || c->tx != BR_TX_OPEN || c->doomed)
		return 0;
	space = pool_open_to(c) ? ferry_arq_send_space(c->arq) : 0;
	if (space <= FERRY_FRAME_HDR_LEN) {
		block(c);
		ferry_bridge_conv_dirty(c); /* its run decides whether it must wait */
		return 0;
	}
	n = space - FERRY_FRAME_HDR_LEN;
	if (n > FERRY_FRAME_BODY_MAX)
		n = FERRY_FRAME_BODY_MAX;
	if (n > len)
		n = len;
	ferry_flowmsg_frame_put(hdr, FERRY_FRAME_DATA, (uint16_t)n);
	if (ferry_arq_send(c->arq, hdr, sizeof(hdr)) != (ssize_t)sizeof(hdr) ||
	    ferry_arq_send(c->arq, data, n) != (ssize_t)n) {
		b->stats.proto_errors++; /* cannot happen: the space was there */
		return 0;
	}
	if (n < len)
		block(c);
	c->last_active = b->now;
	c->peer->stats.bytes_out += n;
	c->push = true;
	ferry_bridge_conv_dirty(c);
	return n;
}

static void try_fin(struct br_conv *c)
{
	uint8_t fin[FERRY_FRAME_HDR_LEN];

	if (c->tx != BR_TX_FIN_OWED)
		return;
	ferry_flowmsg_frame_put(fin, FERRY_FRAME_FIN, 0);
	if (write_frame(c, fin, sizeof(fin)))
		c->tx = BR_TX_FIN_SENT;
	else
		ferry_bridge_conv_dirty(c); /* its run decides whether it must wait */
}

/* The acceptor's answer: RESULT, and after a failure its FIN (nothing else will come). */
static void send_result(struct br_conv *c, uint8_t code)
{
	struct ferry_flowmsg_result r = {.code = code, .instance = br_of(c)->instance};
	uint8_t frame[FERRY_FRAME_HDR_LEN + FERRY_FRAME_RESULT_LEN];
	size_t n = ferry_flowmsg_result_encode(frame, sizeof(frame), &r);

	if (!write_frame(c, frame, n)) {
		/* not even a control buffer: the opener is told by a reset instead */
		br_of(c)->stats.tcp_nobuf++;
		doom(c, FERRY_FLOW_NO_RESOURCES);
		return;
	}
	if (code == FERRY_FLOW_OK) {
		br_of(c)->stats.tcp_connected++;
		return;
	}
	br_of(c)->stats.tcp_failed++;
	c->state = BR_FAILED;
	c->end_gone = true;
	c->end_ms = br_of(c)->now;
	c->tx = BR_TX_FIN_OWED;
	try_fin(c);
}

/* ---- frames from the peer -------------------------------------------------------------- */

/* The peer broke the protocol: the flow is reset both ways. */
static void proto_error(struct br_conv *c)
{
	br_of(c)->stats.proto_errors++;
	c->rx = BR_RX_FIN; /* read nothing more */
	doom(c, FERRY_FLOW_ABORTED);
}

/* Acceptor: the OPEN frame. Egress is asked to connect; RESULT follows its answer. */
static void on_open(struct br_conv *c, const uint8_t *body, size_t len)
{
	struct ferry_bridge *b = br_of(c);
	struct ferry_flowmsg_open o;
	int err = ferry_flowmsg_open_decode(body, len, &o);

	if (err == -EPROTONOSUPPORT) {
		send_result(c, FERRY_FLOW_VERSION_BAD);
		return;
	}
	if (err || o.proto != 6) {
		proto_error(c);
		return;
	}
	ferry_bridge_peer_instance(c->peer, o.instance);
	c->peer_instance = o.instance;
	if (!b->ops->source_ok(b->ctx, c->peer, &o.src)) {
		send_result(c, FERRY_FLOW_SOURCE);
		return;
	}
	if (!b->egress) {
		send_result(c, FERRY_FLOW_DENIED);
		return;
	}
	err = ferry_egress_tcp_open(b->egress, br_conv_slot(b, c), &o.src, &o.dst, b->now);
	if (err) {
		send_result(c, ferry_flowmsg_code(err));
		return;
	}
	c->state = BR_CONNECTING;
}

/* Opener: the RESULT frame releases the application's SYN, or refuses it. */
static void on_result(struct br_conv *c, const uint8_t *body, size_t len)
{
	struct ferry_bridge *b = br_of(c);
	struct ferry_flowmsg_result r;

	if (ferry_flowmsg_result_decode(body, len, &r)) {
		proto_error(c);
		return;
	}
	ferry_bridge_peer_instance(c->peer, r.instance);
	c->peer_instance = r.instance;
	if (r.code != FERRY_FLOW_OK) {
		b->stats.tcp_failed++;
		end_reset(c, r.code); /* still OPENING: refused with the far side's errno */
		c->state = BR_FAILED;
		c->tx = BR_TX_FIN_OWED;
		try_fin(c);
		return;
	}
	b->stats.tcp_connected++;
	c->state = BR_OPEN;
	if (!c->end_gone && ferry_stack_tcp_connected(c->sflow) != 0) {
		/* the stack could not take the connection: the application got an RST */
		ferry_stack_flow_set_user(c->sflow, NULL);
		c->sflow = NULL;
		c->end_gone = true;
		c->end_ms = b->now;
		doom(c, FERRY_FLOW_NO_RESOURCES);
	}
}

/* A whole frame header was read. */
static void on_header(struct br_conv *c)
{
	struct ferry_flowmsg_frame f;
	bool first = !c->heard;

	c->hdr_have = 0;
	if (ferry_flowmsg_frame_header(c->hdr, sizeof(c->hdr), &f)) {
		proto_error(c);
		return;
	}
	switch (f.type) {
	case FERRY_FRAME_OPEN:
	case FERRY_FRAME_RESULT:
		/* each side's first frame, and only that */
		if (!first || f.len > sizeof(c->ctl) ||
		    f.type != (c->role == BR_ACCEPTOR ? FERRY_FRAME_OPEN : FERRY_FRAME_RESULT)) {
			proto_error(c);
			return;
		}
		c->rx = BR_RX_CONTROL;
		c->ctl_type = f.type;
		c->ctl_len = f.len;
		c->ctl_have = 0;
		return;
	case FERRY_FRAME_DATA:
		if (c->state != BR_OPEN) {
			proto_error(c);
			return;
		}
		c->rx = f.len ? BR_RX_DATA : BR_RX_HEADER;
		c->rx_left = f.len;
		return;
	default: /* FIN */
		if (first || f.len) {
			proto_error(c);
			return;
		}
		c->rx = BR_RX_FIN;
		end_shutdown(c);
		return;
	}
}

/* Reads what the ARQ has ready, frame by frame, as far as the end takes it. */
static void rx_pump(struct br_conv *c)
{
	struct ferry_bridge *b = br_of(c);
	const uint8_t *p;
	size_t n, k;

	while (!c->doomed && c->rx != BR_RX_FIN && (n = ferry_arq_peek(c->arq, &p)) > 0) {
		switch (c->rx) {
		case BR_RX_HEADER:
			k = sizeof(c->hdr) - c->hdr_have;
			k = k < n ? k : n;
			memcpy(c->hdr + c->hdr_have, p, k);
			c->hdr_have = (uint8_t)(c->hdr_have + k);
			ferry_arq_consume(c->arq, k);
			if (c->hdr_have == sizeof(c->hdr))
				on_header(c);
			break;
		case BR_RX_CONTROL:
			k = c->ctl_len - c->ctl_have;
			k = k < n ? k : n;
			memcpy(c->ctl + c->ctl_have, p, k);
			c->ctl_have = (uint16_t)(c->ctl_have + k);
			ferry_arq_consume(c->arq, k);
			if (c->ctl_have < c->ctl_len)
				break;
			c->rx = BR_RX_HEADER;
			c->heard = true;
			if (c->ctl_type == FERRY_FRAME_OPEN)
				on_open(c, c->ctl, c->ctl_len);
			else
				on_result(c, c->ctl, c->ctl_len);
			break;
		default: /* BR_RX_DATA */
			k = c->rx_left < n ? c->rx_left : n;
			n = end_send(c, p, k);
			if (n > k)
				n = k;
			ferry_arq_consume(c->arq, n);
			c->rx_left = (uint16_t)(c->rx_left - n);
			c->peer->stats.bytes_in += n;
			if (n)
				c->last_active = b->now;
			if (!c->rx_left)
				c->rx = BR_RX_HEADER;
			if (n < k) {
				c->rx_blocked = true;	    /* the end's sendable resumes it */
				ferry_bridge_conv_dirty(c); /* the window to announce, later */
				return;
			}
			break;
		}
		ferry_bridge_conv_dirty(c);
	}
}

/* ---- the conversation's life ----------------------------------------------------------- */

/* Linger counts from the peer's latest progress, not from the end's going: a download
 * whose destination had finished but which crossed slowly (its conversation waiting for
 * turns behind thousands of others) was reset 60 s after the destination's FIN, its last
 * bytes undelivered (docs/soak.md). A peer that only answers probes makes no progress. */
void ferry_bridge_tcp_input(struct br_conv *c, const uint8_t *segs, size_t len)
{
	struct ferry_bridge *b = br_of(c);
	const uint8_t *p;
	uint32_t pending = 0;
	bool ready = false;

	if (c->end_gone) { /* only a finished conversation's linger looks at progress */
		pending = ferry_arq_pending(c->arq);
		ready = ferry_arq_peek(c->arq, &p) > 0;
	}
	ferry_arq_input(c->arq, segs, len, b->now);
	c->last_active = c->last_heard = b->now;
	if (c->end_gone &&
	    (ferry_arq_pending(c->arq) < pending || (!ready && ferry_arq_peek(c->arq, &p) > 0)))
		c->end_ms = b->now;
	ferry_bridge_conv_dirty(c);
	if (!c->rx_blocked)
		rx_pump(c);
}

void ferry_bridge_tcp_unknown_segments(struct ferry_bridge_peer *peer, uint32_t conv,
				       const uint8_t *segs, size_t len)
{
	struct ferry_bridge *b = peer->b;
	struct ferry_flowmsg_dg m = {.type = FERRY_DG_TCP_UNKNOWN};
	struct ferry_flowmsg_open o;
	struct br_conv *c;
	int err = ferry_flowmsg_open_in_segments(segs, len, &o);

	if (err == -ENOENT || err == -EBADMSG || !ferry_bridge_id_fresh(peer, conv)) {
		/* not an opening, or one seen before: this side knows no such conversation */
		if (err != -ENOENT)
			b->stats.tcp_stale_opens++;
		b->stats.tcp_unknown_out++;
		ferry_bridge_send_dg(peer, conv, &m);
		return;
	}
	c = ferry_bridge_conv_new(peer, conv, BR_ACCEPTOR);
	if (!c) {
		m.type = FERRY_DG_TCP_RESET;
		m.code = FERRY_FLOW_NO_RESOURCES;
		b->stats.tcp_resets_out++;
		ferry_bridge_send_dg(peer, conv, &m);
		return;
	}
	b->stats.tcp_accepted++;
	ferry_bridge_tcp_input(c, segs, len); /* reads the OPEN: egress connects */
}

void ferry_bridge_tcp_abort(struct br_conv *c, uint8_t code, bool tell)
{
	struct ferry_flowmsg_dg m = {.type = FERRY_DG_TCP_RESET, .code = code};

	end_reset(c, code);
	if (tell) {
		br_of(c)->stats.tcp_resets_out++;
		ferry_bridge_send_dg(c->peer, c->conv, &m);
	}
	ferry_bridge_conv_free(c);
}

void ferry_bridge_tcp_reset_in(struct br_conv *c, uint8_t code)
{
	br_of(c)->stats.tcp_resets_in++;
	ferry_bridge_tcp_abort(c, code, false);
}

void ferry_bridge_tcp_unknown_in(struct br_conv *c)
{
	br_of(c)->stats.tcp_unknown_in++;
	if (c->tx == BR_TX_FIN_SENT && c->rx == BR_RX_FIN) {
		/* the peer reclaimed a finished conversation before its last ACK reached us:
		 * both FINs crossed, nothing is lost; the end finishes on its own */
		if (c->sflow)
			ferry_stack_flow_set_user(c->sflow, NULL);
		br_of(c)->stats.tcp_closed++;
		ferry_bridge_conv_free(c);
		return;
	}
	if (c->tx == BR_TX_FIN_SENT && ferry_arq_pending(c->arq) == 0) {
		/* the peer reclaims only once all it sent, its FIN last, was acknowledged: it is
		 * in our ARQ, still to reach a slow reader (it was reset with up to a window of
		 * the reply undelivered); tcp_after_arq ends it if the FIN is not there */
		c->peer_done = true;
		ferry_bridge_conv_dirty(c);
		return;
	}
	ferry_bridge_tcp_abort(c, FERRY_FLOW_ABORTED, false); /* the peer lost it */
}

static bool reclaimable(struct br_conv *c)
{
	const uint8_t *p;

	return c->end_gone && c->tx == BR_TX_FIN_SENT && c->rx == BR_RX_FIN &&
	       ferry_arq_pending(c->arq) == 0 && ferry_arq_peek(c->arq, &p) == 0;
}

/* The send space at which a blocked end is offered room again: WRITABLE_SEGMENTS, or
 * half of what the conversation's share of the pool allows it, if that is less. */
static size_t writable_at(const struct ferry_arq *arq, size_t mss)
{
	size_t half = ferry_arq_send_space_max(arq) / 2;

	if (half < mss)
		half = mss;
	return half < WRITABLE_SEGMENTS * mss ? half : WRITABLE_SEGMENTS * mss;
}

bool ferry_bridge_tcp_can_write(const struct br_conv *c)
{
	size_t mss = br_of(c)->sizes.arq_mss;

	if (c->tx == BR_TX_FIN_OWED)
		return ferry_arq_send_record_fits(c->arq, FERRY_FRAME_HDR_LEN);
	return c->tx_blocked && ferry_arq_send_space(c->arq) >= writable_at(c->arq, mss);
}

bool ferry_bridge_tcp_after_arq(struct br_conv *c)
{
	struct ferry_bridge *b = br_of(c);
	size_t mss = b->sizes.arq_mss;
	const uint8_t *p;
	bool room;

	ferry_bridge_conv_ran(c);
	if (c->doomed) {
		ferry_bridge_tcp_abort(c, c->doom_code, true);
		return false;
	}
	if (ferry_arq_error(c->arq)) {
		b->stats.tcp_dead++;
		ferry_bridge_tcp_abort(c, FERRY_FLOW_TIMEDOUT, true);
		return false;
	}
	if (c->peer_done && c->rx != BR_RX_FIN && !c->rx_blocked &&
	    ferry_arq_peek(c->arq, &p) == 0) {
		/* the peer is gone and its FIN is not among what it left us */
		ferry_bridge_tcp_abort(c, FERRY_FLOW_ABORTED, false);
		return false;
	}
	try_fin(c);
	room = c->tx_blocked && ferry_arq_send_space(c->arq) >= writable_at(c->arq, mss);
	if (room && pool_open_to(c)) {
		c->tx_blocked = false;
		end_writable(c); /* what it writes leaves at the next flush; its turn lasts */
	} else {
		/* woken, but others took the buffers: it waits again; or not blocked: a turn
		 * lasts until the run after its writes */
		c->pool_turn = false;
	}
	/* it waits for buffers if no ACK of its own will run it again, or if there are some
	 * for it but others came first */
	if ((c->tx_blocked || c->tx == BR_TX_FIN_OWED) && (!ferry_arq_pending(c->arq) || room))
		ferry_bridge_conv_wait(c, BR_WAIT_POOL);
	else
		ferry_bridge_conv_unwait(c, BR_WAIT_POOL);
	if (reclaimable(c)) {
		b->stats.tcp_closed++;
		ferry_bridge_conv_free(c);
		return false;
	}
	return true;
}

bool ferry_bridge_tcp_timer(struct br_conv *c)
{
	struct ferry_bridge *b = br_of(c);

	if (b->now - c->last_active >= b->cfg.idle_ms) {
		b->stats.tcp_idle++;
		ferry_bridge_tcp_abort(c, FERRY_FLOW_TIMEDOUT, true);
		return false;
	}
	if (c->end_gone && b->now - c->end_ms >= b->cfg.linger_ms) {
		b->stats.tcp_lingered++;
		ferry_bridge_tcp_abort(c, FERRY_FLOW_ABORTED, true);
		return false;
	}
	if (b->now - c->last_heard >= BR_PROBE_MS) {
		ferry_arq_ask_window(c->arq); /* leaves at the next flush */
		c->last_heard = b->now;	      /* the next probe, if still nothing */
		b->stats.tcp_probes++;
		ferry_bridge_conv_dirty(c);
	}
	return true;
}

uint64_t ferry_bridge_tcp_deadline(const struct br_conv *c)
{
	const struct ferry_bridge *b = c->peer->b;
	uint64_t d = c->last_active + b->cfg.idle_ms;

	if (c->end_gone && c->end_ms + b->cfg.linger_ms < d)
		d = c->end_ms + b->cfg.linger_ms;
	if (c->last_heard + BR_PROBE_MS < d)
		d = c->last_heard + BR_PROBE_MS;
	return d;
}

/* ---- the stack's TCP callbacks (this side opens) --------------------------------------- */

static int br_tcp_open(void *ctx, struct ferry_flow *flow, const struct ferry_endpoint *src,
		       const struct ferry_endpoint *dst)
{
	struct ferry_bridge *b = ctx;
	struct ferry_flowmsg_open o = {.version = FERRY_FLOW_VERSION,
				       .proto = 6,
				       .instance = b->instance,
				       .src = *src,
				       .dst = *dst};
	uint8_t frame[FERRY_FRAME_HDR_LEN + FERRY_FRAME_OPEN_MAX];
	struct ferry_bridge_peer *peer = b->ops->route(b->ctx, dst);
	struct br_conv *c;
	size_t n;

	if (!peer) {
		b->stats.no_route++;
		return -ENETUNREACH;
	}
	c = ferry_bridge_conv_new(peer, ferry_bridge_next_id(peer, true), BR_OPENER);
	if (!c)
		return -ENOSPC;
	n = ferry_flowmsg_open_encode(frame, sizeof(frame), &o);
	if (!n || !write_frame(c, frame, n)) {
		b->stats.tcp_nobuf++;
		/* no segment buffer for it yet: the application's TCP asks again (stack.h) */
		ferry_bridge_conv_free(c);
		return -EAGAIN;
	}
	c->state = BR_OPENING;
	c->sflow = flow;
	ferry_stack_flow_set_user(flow, c);
	b->stats.tcp_opened++;
	return 0;
}

static size_t br_tcp_data(void *ctx, struct ferry_flow *flow, const uint8_t *data, size_t len)
{
	struct br_conv *c = ferry_stack_flow_user(flow);

	(void)ctx;
	return c ? write_data(c, data, len) : 0;
}

static void br_tcp_eof(void *ctx, struct ferry_flow *flow)
{
	struct br_conv *c = ferry_stack_flow_user(flow);

	(void)ctx;
	if (!c || c->tx != BR_TX_OPEN)
		return;
	c->tx = BR_TX_FIN_OWED;
	try_fin(c);
}

static void br_tcp_sendable(void *ctx, struct ferry_flow *flow, size_t space)
{
	struct br_conv *c = ferry_stack_flow_user(flow);

	(void)ctx;
	(void)space;
	if (!c)
		return;
	c->rx_blocked = false;
	rx_pump(c);
}

static void br_tcp_closed(void *ctx, struct ferry_flow *flow, int reason)
{
	struct ferry_bridge *b = ctx;
	struct br_conv *c = ferry_stack_flow_user(flow);

	if (!c)
		return;
	c->sflow = NULL;
	c->end_gone = true;
	c->end_ms = b->now;
	if (reason)
		doom(c, ferry_flowmsg_code(reason));
	else
		ferry_bridge_conv_dirty(c); /* reclaimed once the FINs crossed */
}

/* ---- egress's TCP callbacks (the peer opened) ------------------------------------------ */

static struct br_conv *acceptor(struct ferry_bridge *b, uint32_t id)
{
	struct br_conv *c = id < b->nconvs ? &b->convs[id] : NULL;

	return c && c->conv && c->role == BR_ACCEPTOR && !c->end_gone ? c : NULL;
}

static void eg_tcp_connected(void *ctx, uint32_t id)
{
	struct br_conv *c = acceptor(ctx, id);

	if (!c || c->state != BR_CONNECTING)
		return;
	c->state = BR_OPEN;
	send_result(c, FERRY_FLOW_OK);
	if (!c->rx_blocked)
		rx_pump(c);
}

static void eg_tcp_failed(void *ctx, uint32_t id, int err)
{
	struct br_conv *c = acceptor(ctx, id);

	if (c)
		send_result(c, ferry_flowmsg_code(err)); /* the egress flow is gone */
}

static size_t eg_tcp_data(void *ctx, uint32_t id, const uint8_t *data, size_t len)
{
	struct br_conv *c = acceptor(ctx, id);

	return c ? write_data(c, data, len) : 0;
}

static void eg_tcp_eof(void *ctx, uint32_t id)
{
	struct br_conv *c = acceptor(ctx, id);

	if (!c || c->tx != BR_TX_OPEN)
		return;
	c->tx = BR_TX_FIN_OWED;
	try_fin(c);
}

static void eg_tcp_sendable(void *ctx, uint32_t id, size_t space)
{
	struct br_conv *c = acceptor(ctx, id);

	(void)space;
	if (!c)
		return;
	c->rx_blocked = false;
	rx_pump(c);
}

static void eg_tcp_closed(void *ctx, uint32_t id, int reason)
{
	struct ferry_bridge *b = ctx;
	struct br_conv *c = acceptor(b, id);

	if (!c)
		return;
	c->end_gone = true;
	c->end_ms = b->now;
	if (reason)
		doom(c, ferry_flowmsg_code(reason));
	else
		ferry_bridge_conv_dirty(c);
}

/* ---- the ops tables (UDP and echo callbacks: bridge_udp.c) ------------------------------ */

static int br_tun_write(void *ctx, const uint8_t *pkt, size_t len)
{
	struct ferry_bridge *b = ctx;

	return b->ops->tun_write ? b->ops->tun_write(b->ctx, pkt, len) : -ENODEV;
}

static int br_watch(void *ctx, int fd, uint32_t events, uint64_t cookie)
{
	struct ferry_bridge *b = ctx;

	return b->ops->watch ? b->ops->watch(b->ctx, fd, events, cookie) : -ENODEV;
}

static void br_unwatch(void *ctx, int fd)
{
	struct ferry_bridge *b = ctx;

	if (b->ops->unwatch)
		b->ops->unwatch(b->ctx, fd);
}

const struct ferry_stack_ops ferry_bridge_stack_ops = {
    .tun_write = br_tun_write,
    .tcp_open = br_tcp_open,
    .tcp_data = br_tcp_data,
    .tcp_eof = br_tcp_eof,
    .tcp_sendable = br_tcp_sendable,
    .tcp_closed = br_tcp_closed,
    .udp_open = ferry_bridge_udp_open_cb,
    .udp_datagram = ferry_bridge_udp_datagram_cb,
    .udp_closed = ferry_bridge_udp_closed_cb,
    .icmp_echo = ferry_bridge_icmp_echo_cb,
};

const struct ferry_egress_ops ferry_bridge_egress_ops = {
    .watch = br_watch,
    .unwatch = br_unwatch,
    .tcp_connected = eg_tcp_connected,
    .tcp_failed = eg_tcp_failed,
    .tcp_data = eg_tcp_data,
    .tcp_eof = eg_tcp_eof,
    .tcp_sendable = eg_tcp_sendable,
    .tcp_closed = eg_tcp_closed,
    .udp_datagram = ferry_bridge_eg_udp_datagram_cb,
    .udp_closed = ferry_bridge_eg_udp_closed_cb,
    .icmp_reply = ferry_bridge_eg_icmp_reply_cb,
};
