// SPDX-License-Identifier: MIT
/*
 * The secure link's receive path (the link as a whole is described at the top of link.c).
 * ferry_link_set_input sorts datagrams by message type. Handshake messages go to noise
 * with the source address as the cookie key; once one is accepted, the peer's link roams
 * to the source, settles crossed initiations, resets its FEC decoder and answers (a
 * response, or after our own initiation was answered the waiting payloads or a
 * keepalive). Data messages are opened by noise, which finds the link by receiver index;
 * only the newest datagram of a session may move the endpoint. The FEC decoder hands
 * whole payloads to ferry_link_deliver, which walks their records and calls the link's
 * ops. What a datagram proves (liveness, a new current session) is noted before the wait
 * queue drains and the link state is updated.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "transport/link.h"
#include "transport/link_internal.h"
#include "transport/mux.h"

_Static_assert(offsetof(struct ferry_link, peer) == 0, "noise hands out &link->peer");

static uint64_t min64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static uint64_t max64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

static struct ferry_link *link_of(struct ferry_noise_peer *peer)
{
	return (struct ferry_link *)peer;
}

/* ----------------------------- addresses ---------------------------------------- */

/* The bytes that identify a source for cookies: address then port. */
static size_t addr_key(const struct ferry_sockaddr *a, uint8_t out[18])
{
	if (a->sa.sa_family == AF_INET6) {
		memcpy(out, &a->in6.sin6_addr, 16);
		memcpy(out + 16, &a->in6.sin6_port, 2);
		return 18;
	}
	memcpy(out, &a->in4.sin_addr, 4);
	memcpy(out + 4, &a->in4.sin_port, 2);
	return 6;
}

static bool addr_equal(const struct ferry_sockaddr *a, const struct ferry_sockaddr *b)
{
	if (a->sa.sa_family != b->sa.sa_family)
		return false;
	if (a->sa.sa_family == AF_INET6)
		return !memcmp(&a->in6.sin6_addr, &b->in6.sin6_addr, 16) &&
		       a->in6.sin6_port == b->in6.sin6_port &&
		       a->in6.sin6_scope_id == b->in6.sin6_scope_id;
	return a->in4.sin_addr.s_addr == b->in4.sin_addr.s_addr &&
	       a->in4.sin_port == b->in4.sin_port;
}

static void roam(struct ferry_link *link, const struct ferry_sockaddr *from)
{
	if (link->endpoint.len && addr_equal(&link->endpoint, from))
		return;
	if (link->endpoint.len)
		link->stats.roams++;
	link->endpoint = *from;
}

/* ------------------------------- receive path ----------------------------------- */

static void link_run(void *ctx, uint32_t conv, const uint8_t *segs, size_t len)
{
	struct ferry_link *link = ctx;

	if (link->ops.segments)
		link->ops.segments(link->ops.ctx, link, conv, segs, len, link->now);
}

/* FEC hands up one payload: walk its records. */
void ferry_link_deliver(void *ctx, const uint8_t *payload, size_t len)
{
	struct ferry_link *link = ctx;
	struct ferry_mux_record rec;
	size_t off = 0;
	int r;

	link->stats.payloads_in++;
	while ((r = ferry_mux_next(payload, len, &off, &rec)) > 0) {
		uint32_t flow_id;
		const uint8_t *data;
		size_t n;

		switch (rec.kind) {
		case FERRY_REC_PAD:
			link->stats.records_in[FERRY_REC_PAD]++;
			break;
		case FERRY_REC_ACK:
			ferry_link_ack_in(link, rec.body, rec.len);
			break;
		case FERRY_REC_ARQ:
			/* ARQ data asks for an acknowledgement; ARQ ACKs alone do not (they are
			 * the reverse of someone's data, and are not congestion controlled) */
			if (!ferry_mux_arq_is_control(rec.body, rec.len))
				link->rx_elicit = true;
			link->stats.records_in[FERRY_REC_ARQ]++;
			if (ferry_mux_arq_split(rec.body, rec.len, link_run, link) < 0)
				link->stats.arq_malformed++;
			break;
		case FERRY_REC_DATAGRAM:
			if (ferry_mux_datagram(&rec, &flow_id, &data, &n)) {
				link->stats.datagram_malformed++;
				break;
			}
			link->rx_elicit = true;
			link->stats.records_in[FERRY_REC_DATAGRAM]++;
			if (link->ops.datagram)
				link->ops.datagram(link->ops.ctx, link, flow_id, data, n,
						   link->now);
			break;
		default:
			link->rx_elicit = true; /* a newer peer's record: it may want an answer */
			link->stats.records_unknown++;
			break;
		}
	}
	if (r < 0)
		link->stats.records_malformed++;
}

/* Something authenticated arrived from the peer. */
static void authenticated(struct ferry_link *link, size_t len)
{
	link->stats.dgrams_in++;
	link->stats.bytes_in += len;
	link->last_recv_ms = link->now;
	link->have_recv = true;
	link->unanswered_ms = 0;
}

/* A new session became current (either role): a pending retry is moot. */
static void note_current(struct ferry_link *link)
{
	if (link->peer.current != link->last_current) {
		link->last_current = link->peer.current;
		link->hs_next_ms = 0;
	}
}

/* True when counter is the newest the session with local index `index` accepted: only
 * such a datagram may move the endpoint (an old one delayed in the network may not). */
static bool newest(const struct ferry_link *link, uint32_t index, uint64_t counter)
{
	const struct ferry_noise_session *cand[3] = {link->peer.current, link->peer.previous,
						     link->peer.next};
	int i;

	for (i = 0; i < 3; i++)
		if (cand[i] && cand[i]->local_index == index)
			return cand[i]->replay.greatest == counter;
	return false;
}

static int data_input(struct ferry_link_set *set, struct ferry_buf *buf,
		      const struct ferry_sockaddr *from, uint64_t now)
{
	struct ferry_noise_peer *peer = NULL;
	struct ferry_link *link;
	uint32_t index = 0;
	uint64_t counter = 0;
	size_t len = buf->len;
	int err;

	(void)ferry_aead_data_parse(buf->data, buf->len, &index, &counter); /* open checks */
	err = ferry_noise_open(&set->noise, now, buf, &peer);
	if (err) {
		set->stats.data_dropped++;
		return err;
	}
	link = link_of(peer);
	link->now = now;
	authenticated(link, len);
	ferry_cc_on_received(&link->cc, (uint32_t)len);
	note_current(link);
	if (newest(link, index, counter))
		roam(link, from);
	if (!buf->len) {
		link->stats.keepalives_in++;
		link->rx_elicit = false;
	} else {
		/* a data shard asks for an acknowledgement if a record in it does; parity never
		 * (see shard_track in link_send.c) */
		link->rx_elicit = false;
		ferry_fec_decode(&link->dec, buf->data, buf->len); /* the decoder counts drops */
		if (link->rx_elicit && !link->recv_unanswered_ms)
			link->recv_unanswered_ms = now;
	}
	ferry_ack_received(&link->acks, index, counter, link->rx_elicit, now);
	if (link->wait_count)
		ferry_link_wait_drain(link);
	ferry_link_update_state(link);
	return 0;
}

/* A new session: the peer's FEC encoder may have restarted (a restarted peer numbers its
 * groups from the start again, which a decoder that saw higher ids would drop as stale),
 * so the decoder forgets its groups. Around a rekey this only costs the chance to rebuild
 * a shard of a group that straddles the reset; every data shard is still delivered. */
static void decoder_reset(struct ferry_link *link)
{
	ferry_fec_decoder_reset(&link->dec);
	link->stats.decoder_resets++;
}

/* An initiation arrived while ours is still pending: who yields? The side with the
 * smaller static public key answers; the other ignores it and waits for that answer. */
static bool crossed(const struct ferry_link *link, uint64_t now)
{
	const struct ferry_noise_handshake *hs = &link->peer.hs;

	return hs->pending && now - hs->created_ms < link->cfg.handshake_retry_ms &&
	       memcmp(link->set->noise.static_public, link->peer.remote_static,
		      FERRY_NOISE_KEY_LEN) > 0;
}

/* Counts an initiation or response toward the handshake load and sets the noise layer's
 * under_load from it (see FERRY_LINK_HANDSHAKE_LOAD). Nothing is parsed yet: a flood of
 * garbage counts too, as it should. */
static void note_handshake_load(struct ferry_link_set *set, uint64_t now)
{
	struct ferry_link_load *l = &set->load;
	bool was = set->noise.under_load;

	if (now - l->window_ms >= FERRY_LINK_HANDSHAKE_LOAD_MS) {
		l->window_ms = now;
		l->count = 0;
	}
	if (++l->count > FERRY_LINK_HANDSHAKE_LOAD)
		l->until_ms = now + FERRY_LINK_HANDSHAKE_LOAD_MS;
	set->noise.under_load = now < l->until_ms;
	if (set->noise.under_load && !was)
		set->stats.under_load++;
}

static int handshake_input(struct ferry_link_set *set, struct ferry_buf *buf,
			   const struct ferry_sockaddr *from, uint64_t now)
{
	uint8_t reply[FERRY_NOISE_MAX_REPLY_LEN], key[18];
	struct ferry_noise_peer *peer = NULL;
	struct ferry_link *link;
	uint8_t type = buf->data[0];
	size_t reply_len = 0, key_len = addr_key(from, key);
	int err;

	if (type != FERRY_MSG_COOKIE_REPLY)
		note_handshake_load(set, now);
	err = ferry_noise_handle_handshake(&set->noise, now, key, key_len, buf->data, buf->len,
					   reply, &reply_len, &peer);
	if (err == -EBUSY && reply_len) {
		struct ferry_buf *b = ferry_pool_get(&set->pool);

		if (b) {
			memcpy(ferry_buf_put(b, (uint32_t)reply_len), reply, reply_len);
			ferry_link_out_add(set, &set->pool, b, from);
			set->stats.cookie_replies_out++;
		} else {
			set->stats.out_no_buffer++;
		}
	}
	if (err || !peer) {
		set->stats.handshake_dropped++;
		return err ? err : -ENOENT;
	}
	link = link_of(peer);
	link->now = now;
	if (type == FERRY_MSG_COOKIE_REPLY)
		return 0; /* not proof of anything: no roaming, no liveness */
	authenticated(link, buf->len);
	roam(link, from);
	if (type == FERRY_MSG_INITIATION && crossed(link, now)) {
		/* both sides initiated at once: only the one with the greater static key
		 * completes its handshake, so the two never end up sending under different
		 * sessions (see docs/link.md) */
		link->stats.crossed_initiations++;
		/* noise installed it as `next`; it will never be confirmed */
		link->ignored_index = link->peer.next ? link->peer.next->local_index : 0;
		ferry_link_update_state(link);
		return 0;
	}
	link->stats.handshakes++;
	decoder_reset(link);
	if (type == FERRY_MSG_INITIATION) {
		link->stats.responses_out++;
		ferry_link_transmit(link, reply, (uint32_t)reply_len, NULL, FERRY_PACER_HIGH,
				    false);
	} else {
		/* the answer to our latest initiation (noise takes no other): the path's round
		 * trip, before the controller has a sample of its own */
		link->hs_rtt_ms = (uint32_t)min64(max64(now - link->initiation_ms, 1), UINT32_MAX);
		note_current(link);
		if (link->wait_count)
			ferry_link_wait_drain(link);
		else
			ferry_link_send_keepalive(
			    link); /* lets the responder confirm the session now */
	}
	ferry_link_update_state(link);
	return 0;
}

int ferry_link_set_input(struct ferry_link_set *set, struct ferry_buf *buf,
			 const struct ferry_sockaddr *from, uint64_t now)
{
	set->stats.dgrams_in++;
	set->stats.bytes_in += buf->len;
	if (buf->len < sizeof(struct ferry_msg_header))
		goto malformed;
	switch (buf->data[0]) {
	case FERRY_MSG_INITIATION:
	case FERRY_MSG_RESPONSE:
	case FERRY_MSG_COOKIE_REPLY:
		return handshake_input(set, buf, from, now);
	case FERRY_MSG_DATA:
		return data_input(set, buf, from, now);
	default:
		break;
	}
malformed:
	set->stats.malformed++;
	return -EPROTO;
}
