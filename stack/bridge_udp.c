// SPDX-License-Identifier: MIT
/*
 * UDP flows and ICMP echo over the datagram channel (the protocol is in bridge.h and
 * wire.h). Nothing here is reliable or ordered, by design: a lost datagram is the
 * application's business, as it would be without the tunnel.
 *
 * A flow's opener (this side's stack caught the application's first datagram) sends
 * UDP_OPEN -- endpoints and bytes -- until the acceptor's UDP_ACCEPT comes, then plain UDP.
 * The acceptor opens an egress socket (one per flow: full cone) and answers; replies from
 * the destination go back as UDP, from anyone else as UDP_FROM. Each side forgets an idle
 * flow by its own timer (the stack's, egress's); a datagram for a flow the acceptor forgot
 * gets UDP_UNKNOWN, and the opener opens it again with its next datagram. Reopening the
 * same id is allowed: unlike a TCP opening, a repeated UDP opening costs nothing but a
 * socket, and a duplicate datagram is within UDP's contract.
 */
#include <errno.h>
#include <string.h>

#include "stack/bridge_internal.h"

/* ---- toward the peer --------------------------------------------------------------- */

/* Sends m, or, when it is too big for the datagram channel and is a UDP_OPEN, the opening
 * and the bytes as two messages. Returns 0 or -errno. */
static int send_udp(struct ferry_bridge_peer *peer, uint32_t id, struct ferry_flowmsg_dg *m)
{
	struct ferry_bridge *b = peer->b;
	int err = ferry_bridge_send_dg(peer, id, m);

	if (err == -EMSGSIZE && m->type == FERRY_DG_UDP_OPEN && m->payload_len) {
		struct ferry_flowmsg_dg bytes = {
		    .type = FERRY_DG_UDP, .payload = m->payload, .payload_len = m->payload_len};

		m->payload_len = 0;
		err = ferry_bridge_send_dg(peer, id, m);
		if (!err)
			err = ferry_bridge_send_dg(peer, id, &bytes);
	}
	if (err == -EMSGSIZE)
		b->stats.udp_too_big++;
	else if (!err)
		b->stats.udp_out++;
	return err;
}

static void send_accept(struct ferry_bridge_peer *peer, uint32_t id, uint8_t code)
{
	struct ferry_flowmsg_dg m = {.type = FERRY_DG_UDP_ACCEPT,
				     .result = {.code = code, .instance = peer->b->instance}};

	if (code != FERRY_FLOW_OK)
		peer->b->stats.udp_refused++;
	ferry_bridge_send_dg(peer, id, &m);
}

/* ---- the stack's callbacks (this side opens) ---------------------------------------- */

int ferry_bridge_udp_open_cb(void *ctx, struct ferry_flow *flow, const struct ferry_endpoint *src,
			     const struct ferry_endpoint *dst)
{
	struct ferry_bridge *b = ctx;
	struct ferry_bridge_peer *peer = b->ops->route(b->ctx, dst);
	struct br_udp *u;

	(void)src;
	if (!peer) {
		b->stats.no_route++;
		return 0; /* the datagram is answered with ICMP unreachable */
	}
	u = ferry_bridge_udp_new(peer, ferry_bridge_next_id(peer, false), BR_OPENER);
	if (!u)
		return 0; /* likewise */
	u->sflow = flow;
	u->dst = *dst;
	u->state = BR_UDP_OPENING;
	ferry_stack_flow_set_user(flow, u);
	b->stats.udp_opened++;
	return 0;
}

void ferry_bridge_udp_datagram_cb(void *ctx, struct ferry_flow *flow, const uint8_t *data,
				  size_t len)
{
	struct ferry_bridge *b = ctx;
	struct br_udp *u = ferry_stack_flow_user(flow);
	struct ferry_flowmsg_dg m = {.type = FERRY_DG_UDP, .payload = data, .payload_len = len};

	if (!u) {
		/* no peer routes there, or no room for the flow */
		ferry_stack_udp_close(flow, -EHOSTUNREACH);
		return;
	}
	if (len > b->sizes.udp_max) {
		/* more than one message of the datagram channel holds: the application hears
		 * it as from a router with too small a next hop (docs/mtu.md) */
		b->stats.udp_too_big++;
		ferry_stack_udp_too_big(flow, b->sizes.udp_max);
		return;
	}
	if (u->state == BR_UDP_OPENING) {
		m.type = FERRY_DG_UDP_OPEN;
		m.open.version = FERRY_FLOW_VERSION;
		m.open.proto = 17;
		m.open.instance = b->instance;
		m.open.src = *ferry_stack_flow_src(flow);
		m.open.dst = u->dst;
	}
	if (!send_udp(u->peer, u->id, &m))
		u->peer->stats.bytes_out += len;
}

void ferry_bridge_udp_closed_cb(void *ctx, struct ferry_flow *flow)
{
	struct br_udp *u = ferry_stack_flow_user(flow);

	(void)ctx;
	if (u)
		ferry_bridge_udp_free(u);
}

int ferry_bridge_icmp_echo_cb(void *ctx, const struct ferry_endpoint *src,
			      const struct ferry_endpoint *dst, uint16_t seq, const uint8_t *data,
			      size_t len)
{
	struct ferry_bridge *b = ctx;
	struct ferry_bridge_peer *peer = b->ops->route(b->ctx, dst);
	struct ferry_flowmsg_dg m = {.type = FERRY_DG_ECHO_REQUEST,
				     .ident = src->port,
				     .seq = seq,
				     .src = *src,
				     .dst = *dst,
				     .payload = data,
				     .payload_len = len};

	if (!peer) {
		b->stats.no_route++;
		return -EHOSTUNREACH; /* the stack answers with ICMP unreachable */
	}
	if (!ferry_bridge_send_dg(peer, 0, &m))
		b->stats.echo_out++;
	return 0; /* a request lost on the way is as lost on a real network */
}

/* ---- egress's callbacks (the peer opened) -------------------------------------------- */

static struct br_udp *acceptor(struct ferry_bridge *b, uint32_t id)
{
	struct br_udp *u = id < b->nudps ? &b->udps[id] : NULL;

	return u && u->id && u->role == BR_ACCEPTOR ? u : NULL;
}

void ferry_bridge_eg_udp_datagram_cb(void *ctx, uint32_t id, const struct ferry_endpoint *from,
				     const uint8_t *data, size_t len)
{
	struct br_udp *u = acceptor(ctx, id);
	struct ferry_flowmsg_dg m = {.type = FERRY_DG_UDP, .payload = data, .payload_len = len};

	if (!u)
		return;
	if (!ferry_endpoint_eq(from, &u->dst)) {
		m.type = FERRY_DG_UDP_FROM;
		m.from = *from;
	}
	if (!send_udp(u->peer, u->id, &m))
		u->peer->stats.bytes_out += len;
}

void ferry_bridge_eg_udp_closed_cb(void *ctx, uint32_t id)
{
	struct br_udp *u = acceptor(ctx, id);

	if (u)
		ferry_bridge_udp_free(u); /* idle: the opener reopens if it speaks again */
}

void ferry_bridge_eg_icmp_reply_cb(void *ctx, const struct ferry_endpoint *app,
				   const struct ferry_endpoint *from, uint16_t seq,
				   const uint8_t *data, size_t len, uint32_t rtt_ms)
{
	struct ferry_bridge *b = ctx;
	/* the requester is an address of the peer's: its AllowedIPs hold it */
	struct ferry_bridge_peer *peer = b->ops->route(b->ctx, app);
	struct ferry_flowmsg_dg m = {.type = FERRY_DG_ECHO_REPLY,
				     .ident = app->port,
				     .seq = seq,
				     .src = *app,
				     .dst = *from,
				     .payload = data,
				     .payload_len = len};

	(void)rtt_ms;
	if (peer)
		ferry_bridge_send_dg(peer, 0, &m);
}

/* ---- from the peer ------------------------------------------------------------------ */

/* Acceptor: UDP_OPEN. A known flow is answered again (the ACCEPT may have been lost). */
static void on_udp_open(struct ferry_bridge_peer *peer, uint32_t id,
			const struct ferry_flowmsg_dg *m)
{
	struct ferry_bridge *b = peer->b;
	struct br_udp *u = ferry_bridge_udp_find(peer, id);
	int err;

	if ((id & FERRY_FLOW_ID_SIDE) == peer->side) {
		b->stats.proto_errors++; /* an id of ours: not the peer's to open */
		return;
	}
	ferry_bridge_peer_instance(peer, m->open.instance);
	if (!u) {
		if (!b->ops->source_ok(b->ctx, peer, &m->open.src)) {
			send_accept(peer, id, FERRY_FLOW_SOURCE);
			return;
		}
		if (!b->egress) {
			send_accept(peer, id, FERRY_FLOW_DENIED);
			return;
		}
		u = ferry_bridge_udp_new(peer, id, BR_ACCEPTOR);
		if (!u) {
			send_accept(peer, id, FERRY_FLOW_NO_RESOURCES);
			return;
		}
		err = ferry_egress_udp_open(b->egress, br_udp_slot(b, u), &m->open.src,
					    &m->open.dst, b->now);
		if (err) {
			ferry_bridge_udp_free(u);
			send_accept(peer, id, ferry_flowmsg_code(err));
			return;
		}
		u->dst = m->open.dst;
		u->state = BR_UDP_OPEN;
		u->peer_instance = m->open.instance;
		b->stats.udp_accepted++;
	}
	send_accept(peer, id, FERRY_FLOW_OK);
	if (m->payload_len) {
		b->stats.udp_in++;
		peer->stats.bytes_in += m->payload_len;
		ferry_egress_udp_send(b->egress, br_udp_slot(b, u), &u->dst, m->payload,
				      m->payload_len, b->now);
	}
}

/* UDP or UDP_FROM: bytes of a known flow, either way. */
static void on_udp_bytes(struct ferry_bridge_peer *peer, uint32_t id,
			 const struct ferry_flowmsg_dg *m)
{
	struct ferry_bridge *b = peer->b;
	struct br_udp *u = ferry_bridge_udp_find(peer, id);

	if (!u) {
		if ((id & FERRY_FLOW_ID_SIDE) != peer->side) {
			/* the peer's flow, which this side forgot (idle): open it again */
			struct ferry_flowmsg_dg unknown = {.type = FERRY_DG_UDP_UNKNOWN};

			b->stats.udp_unknown++;
			ferry_bridge_send_dg(peer, id, &unknown);
		}
		return; /* a flow of ours that ended here: the reply has nowhere to go */
	}
	b->stats.udp_in++;
	peer->stats.bytes_in += m->payload_len;
	if (u->role == BR_ACCEPTOR) {
		if (m->type == FERRY_DG_UDP)
			ferry_egress_udp_send(b->egress, br_udp_slot(b, u), &u->dst, m->payload,
					      m->payload_len, b->now);
		else
			b->stats.proto_errors++; /* the opener's datagrams go to the flow's dst */
		return;
	}
	ferry_stack_udp_send(u->sflow, m->type == FERRY_DG_UDP_FROM ? &m->from : NULL, m->payload,
			     m->payload_len);
}

/* Opener: the acceptor's answer. */
static void on_udp_accept(struct ferry_bridge_peer *peer, uint32_t id,
			  const struct ferry_flowmsg_dg *m)
{
	struct br_udp *u = ferry_bridge_udp_find(peer, id);

	if (!u || u->role != BR_OPENER)
		return;
	ferry_bridge_peer_instance(peer, m->result.instance);
	if (m->result.code == FERRY_FLOW_OK) {
		u->state = BR_UDP_OPEN;
		u->peer_instance = m->result.instance;
		return;
	}
	peer->b->stats.udp_refused++;
	ferry_stack_udp_close(u->sflow, ferry_flowmsg_errno(m->result.code)); /* ICMP for it */
	ferry_bridge_udp_free(u);
}

static void on_echo_request(struct ferry_bridge_peer *peer, const struct ferry_flowmsg_dg *m)
{
	struct ferry_bridge *b = peer->b;
	struct ferry_endpoint app = m->src;
	int err;

	if (!b->egress || !b->ops->source_ok(b->ctx, peer, &m->src))
		return; /* as a host that does not answer */
	app.port = m->ident;
	err =
	    ferry_egress_ping(b->egress, &app, &m->dst, m->seq, m->payload, m->payload_len, b->now);
	if (!err)
		b->stats.echo_served++;
	else if (err == -EPERM)
		b->stats.echo_not_permitted++; /* net.ipv4.ping_group_range (docs/egress.md) */
	else if (err != -EACCES)
		b->stats.echo_failed++; /* -EACCES: the policy, counted by egress */
}

static void on_echo_reply(struct ferry_bridge_peer *peer, const struct ferry_flowmsg_dg *m)
{
	struct ferry_bridge *b = peer->b;
	struct ferry_endpoint app = m->src;

	if (!b->stack)
		return;
	app.port = m->ident;
	if (!ferry_stack_icmp_echo_reply(b->stack, &app, &m->dst, m->seq, m->payload,
					 m->payload_len))
		b->stats.echo_in++;
}

void ferry_bridge_udp_message(struct ferry_bridge_peer *peer, uint32_t id,
			      const struct ferry_flowmsg_dg *m)
{
	struct br_udp *u;

	switch (m->type) {
	case FERRY_DG_UDP_OPEN:
		on_udp_open(peer, id, m);
		break;
	case FERRY_DG_UDP:
	case FERRY_DG_UDP_FROM:
		on_udp_bytes(peer, id, m);
		break;
	case FERRY_DG_UDP_ACCEPT:
		on_udp_accept(peer, id, m);
		break;
	case FERRY_DG_UDP_UNKNOWN:
		u = ferry_bridge_udp_find(peer, id);
		if (u && u->role == BR_OPENER) {
			peer->b->stats.udp_unknown++;
			u->state = BR_UDP_OPENING; /* the next datagram opens it again */
		}
		break;
	case FERRY_DG_ECHO_REQUEST:
		on_echo_request(peer, m);
		break;
	case FERRY_DG_ECHO_REPLY:
		on_echo_reply(peer, m);
		break;
	default:
		peer->b->stats.proto_errors++;
		break;
	}
}

void ferry_bridge_udp_abort(struct br_udp *u)
{
	struct ferry_bridge *b = u->peer->b;

	if (u->role == BR_OPENER)
		ferry_stack_udp_close(u->sflow, 0); /* the application's next datagram reopens */
	else if (b->egress)			    /* NULL: destroyed, and its flows with it */
		ferry_egress_udp_close(b->egress, br_udp_slot(b, u));
	ferry_bridge_udp_free(u);
}
