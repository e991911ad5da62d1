// SPDX-License-Identifier: MIT
/*
 * The secure link: send path (records -> payloads -> FEC -> seal -> pacer -> output),
 * receive path (open -> FEC -> records -> callbacks), handshake driving, keepalives,
 * dead-peer detection and roaming. See link.h for the theory of operation and
 * docs/link.md for the reasoning behind the timers.
 *
 * Buffers. Each link owns one pool of buffers sized for a whole UDP payload with
 * FERRY_LINK_HEADROOM bytes in front. A payload is filled from the buffer's data pointer;
 * FEC and the data header are pushed into the headroom and the tag appended in place, so
 * a data shard is sealed without a copy. Parity shards live in the encoder's buffers and
 * are sealed there too (the encoder keeps FERRY_WIRE_DATA_HDR bytes of headroom and
 * FERRY_WIRE_TAG bytes of tailroom around them). A datagram that must wait in the pacer is kept in
 * its own pool buffer: data shards by handing the buffer over, anything else by a copy.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include <sodium.h>
#if defined(__x86_64__)
#endif

#include "transport/link.h"
#include "transport/mux.h"

enum {
	FERRY_LINK_HEADROOM = 32, /* >= FERRY_WIRE_HEADROOM, rounded up */
};
_Static_assert((int)FERRY_LINK_HEADROOM >= (int)FERRY_WIRE_HEADROOM, "payload buffer headroom");
_Static_assert(offsetof(struct ferry_link, peer) == 0, "noise hands out &link->peer");

static struct ferry_link *link_of(struct ferry_noise_peer *peer)
{
	return (struct ferry_link *)peer;
}

static uint64_t min64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static uint64_t max64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

/* xorshift64*: jitter only, seeded from libsodium. */
static uint64_t rng_next(struct ferry_link *link)
{
	uint64_t x = link->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	link->rng = x;
	return x * UINT64_C(2685821657736338717);
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

/* ------------------------------- state ------------------------------------------ */

static bool session_usable(const struct ferry_link *link)
{
	const struct ferry_noise_session *s = link->peer.current;

	return s && !ferry_noise_session_expired(s, link->now);
}

static void update_state(struct ferry_link *link)
{
	const struct ferry_noise_handshake *hs = &link->peer.hs;
	enum ferry_link_state s;
	uint64_t now = link->now;

	if (link->unanswered_ms && now - link->unanswered_ms >= link->cfg.dead_ms)
		s = FERRY_LINK_DEAD;
	else if (session_usable(link))
		s = FERRY_LINK_UP;
	else if (link->wait_count ||
		 (hs->pending && now - hs->created_ms < FERRY_NOISE_HANDSHAKE_MAX_AGE_MS))
		s = FERRY_LINK_HANDSHAKE;
	else
		s = FERRY_LINK_DOWN;
	if (s == link->state)
		return;
	if (s == FERRY_LINK_DEAD)
		link->stats.dead_events++;
	link->state = s;
	if (link->ops.state)
		link->ops.state(link->ops.ctx, link, s);
}

/* ------------------------------ transmit ---------------------------------------- */

static void output(struct ferry_link *link, const uint8_t *msg, size_t len)
{
	if (!link->endpoint.len) {
		link->stats.no_endpoint++;
		return;
	}
	link->set->ops.output(link->set->ops.ctx, msg, len, &link->endpoint);
	link->stats.dgrams_out++;
	link->stats.bytes_out += len;
	link->last_sent_ms = link->now;
	link->have_sent = true;
	link->recv_unanswered_ms = 0;
}

static void pacer_run(struct ferry_link *link)
{
	struct ferry_buf *b;

	while ((b = ferry_pacer_dequeue(&link->pacer, link->now))) {
		output(link, b->data, b->len);
		ferry_pool_put(&link->pool, b);
	}
}

/* Sends msg now if the pacer allows, else queues it: `own` (a pool buffer of this link
 * holding msg) is handed over, otherwise msg is copied. Returns true when own was taken. */
static bool transmit(struct ferry_link *link, const uint8_t *msg, uint32_t len,
		     struct ferry_buf *own, enum ferry_pacer_class cls)
{
	struct ferry_buf *q = own;

	if (ferry_pacer_admit(&link->pacer, cls, len, link->now)) {
		output(link, msg, len);
		return false;
	}
	if (!q) {
		q = ferry_pool_get(&link->pool);
		if (!q) {
			link->stats.pool_empty++;
			return false;
		}
		memcpy(q->data, msg, len);
		q->len = len;
	}
	if (ferry_pacer_enqueue(&link->pacer, cls, q)) {
		link->stats.pacer_dropped++;
		if (!own)
			ferry_pool_put(&link->pool, q);
		return false;
	}
	link->stats.pacer_delayed++;
	return own != NULL;
}

static void send_keepalive(struct ferry_link *link)
{
	struct ferry_buf *b = ferry_pool_get(&link->pool);

	/* counts as sent even if it waits in the pacer or fails: the keepalive timers must
	 * move on, or a timer would find the same keepalive due again at once */
	link->last_sent_ms = link->now;
	link->have_sent = true;
	link->recv_unanswered_ms = 0;
	if (!b) {
		link->stats.pool_empty++;
		return;
	}
	if (ferry_noise_seal(&link->peer, link->now, b)) {
		link->stats.seal_errors++;
		ferry_pool_put(&link->pool, b);
		return;
	}
	link->stats.keepalives_out++;
	if (!transmit(link, b->data, b->len, b, FERRY_PACER_HIGH))
		ferry_pool_put(&link->pool, b);
}

static uint64_t realtime_ns(const struct ferry_link_set *set, uint64_t now)
{
	if (now >= set->clock_ms)
		return set->clock_realtime_ns + (now - set->clock_ms) * UINT64_C(1000000);
	return set->clock_realtime_ns - (set->clock_ms - now) * UINT64_C(1000000);
}

/* When the next initiation may go: after the retry timer, and not while a session we
 * accepted as responder still waits for the initiator's first datagram (racing it with
 * an initiation of our own would only replace it). */
static uint64_t hs_allowed_at(const struct ferry_link *link)
{
	const struct ferry_noise_session *next = link->peer.next;

	if (next && next->valid && next->local_index != link->ignored_index)
		return max64(link->hs_next_ms, next->created_ms + link->cfg.handshake_retry_ms);
	return link->hs_next_ms;
}

/* A new session became current (either role): a pending retry is moot. */
static void note_current(struct ferry_link *link)
{
	if (link->peer.current != link->last_current) {
		link->last_current = link->peer.current;
		link->hs_next_ms = 0;
	}
}

/* Sends an initiation if the retry timer allows; moves the timer either way. */
static void initiate(struct ferry_link *link)
{
	uint8_t msg[FERRY_MSG_INITIATION_LEN];
	uint64_t now = link->now;

	if (!link->endpoint.len || now < hs_allowed_at(link))
		return;
	link->hs_next_ms = now + link->cfg.handshake_retry_ms +
			   rng_next(link) % (FERRY_LINK_HANDSHAKE_JITTER_MS + 1);
	if (ferry_noise_create_initiation(&link->peer, now, realtime_ns(link->set, now), msg))
		return;
	link->stats.initiations_out++;
	transmit(link, msg, sizeof(msg), NULL, FERRY_PACER_HIGH);
}

/* Data wants to go out: make sure a session is usable or coming. */
static void want_session(struct ferry_link *link)
{
	if (ferry_noise_peer_wants_handshake(&link->peer, link->now, 0))
		initiate(link);
}

/* ------------------------------- send path -------------------------------------- */

/* FEC hands down one shard: seal it in place and pass it to the pacer. */
static void link_emit(void *ctx, struct ferry_buf *shard)
{
	struct ferry_link *link = ctx;
	bool data = shard == link->enc_cur;
	enum ferry_pacer_class cls;
	bool last_parity = false;

	if (data) {
		cls = link->enc_class;
		if (cls == FERRY_PACER_HIGH)
			link->group_high = true;
	} else {
		const uint8_t *h = shard->data;

		cls = link->group_high ? FERRY_PACER_HIGH : FERRY_PACER_LOW;
		last_parity = h[FERRY_FEC_OFF_INDEX] + 1 == h[FERRY_FEC_OFF_D] + h[FERRY_FEC_OFF_P];
	}
	if (last_parity)
		link->group_high = false;
	if (ferry_noise_seal(&link->peer, link->now, shard)) {
		link->stats.seal_errors++;
		return;
	}
	if (data)
		link->stats.data_out++;
	else
		link->stats.parity_out++;
	if (transmit(link, shard->data, shard->len, data ? shard : NULL, cls))
		link->enc_taken = true;
}

/* Sends one closed payload through FEC; the buffer is consumed. */
static void encode(struct ferry_link *link, struct ferry_buf *b, enum ferry_pacer_class cls)
{
	link->enc_cur = b;
	link->enc_class = cls;
	link->enc_taken = false;
	ferry_fec_encode(&link->enc, b, link->now); /* errors are counted by the encoder */
	link->enc_cur = NULL;
	if (!link->enc_taken)
		ferry_pool_put(&link->pool, b);
	if (!link->unanswered_ms)
		link->unanswered_ms = link->now;
}

static void wait_drop_all(struct ferry_link *link)
{
	link->stats.wait_dropped += link->wait_count;
	ferry_pool_put_chain(&link->pool, link->wait_head);
	link->wait_head = link->wait_tail = NULL;
	link->wait_count = 0;
}

static void wait_push(struct ferry_link *link, struct ferry_buf *b, enum ferry_pacer_class cls)
{
	if (link->wait_count >= link->cfg.wait_queue) {
		link->stats.wait_dropped++;
		ferry_pool_put(&link->pool, b);
		return;
	}
	if (!link->wait_count)
		link->wait_since_ms = link->now;
	b->user = cls;
	b->next = NULL;
	if (link->wait_tail)
		link->wait_tail->next = b;
	else
		link->wait_head = b;
	link->wait_tail = b;
	link->wait_count++;
	link->stats.wait_queued++;
}

static void wait_drain(struct ferry_link *link)
{
	while (link->wait_head && session_usable(link)) {
		struct ferry_buf *b = link->wait_head;

		link->wait_head = b->next;
		if (!link->wait_head)
			link->wait_tail = NULL;
		link->wait_count--;
		b->next = NULL;
		encode(link, b, (enum ferry_pacer_class)b->user);
	}
}

static void submit_payload(struct ferry_link *link, struct ferry_buf *b, enum ferry_pacer_class cls)
{
	link->stats.payloads_out++;
	if (!session_usable(link)) {
		wait_push(link, b, cls);
		want_session(link);
		return;
	}
	if (ferry_noise_session_should_rekey(link->peer.current, link->now))
		want_session(link);
	encode(link, b, cls);
}

static void close_payload(struct ferry_link *link, enum ferry_pacer_class cls)
{
	struct ferry_buf *b = link->open[cls];

	if (!b)
		return;
	link->open[cls] = NULL;
	if (!b->len) {
		ferry_pool_put(&link->pool, b);
		return;
	}
	submit_payload(link, b, cls);
}

static int add_record(struct ferry_link *link, enum ferry_pacer_class cls, uint8_t kind,
		      uint32_t flow_id, const uint8_t *body, size_t len)
{
	int attempt, err = -ENOSPC;

	for (attempt = 0; attempt < 2 && err == -ENOSPC; attempt++) {
		struct ferry_buf *b = link->open[cls];

		if (!b) {
			b = ferry_pool_get(&link->pool);
			if (!b) {
				link->stats.pool_empty++;
				return -ENOBUFS;
			}
			link->open[cls] = b;
		}
		if (kind == FERRY_REC_DATAGRAM)
			err = ferry_mux_append_datagram(b, link->sizes.payload, flow_id, body, len);
		else
			err = ferry_mux_append(b, link->sizes.payload, kind, body, len);
		if (err == -ENOSPC)
			close_payload(link, cls);
	}
	if (err) {
		link->stats.record_too_big++;
		return -EMSGSIZE;
	}
	link->stats.records_out[kind]++;
	return 0;
}

int ferry_link_send_segments(struct ferry_link *link, const uint8_t *segs, size_t len, uint64_t now)
{
	enum ferry_pacer_class cls;
	int err;

	link->now = now;
	if (!len || len > link->sizes.record_body) {
		link->stats.record_too_big++;
		return -EMSGSIZE;
	}
	cls = ferry_mux_arq_is_control(segs, len) ? FERRY_PACER_HIGH : FERRY_PACER_LOW;
	err = add_record(link, cls, FERRY_REC_ARQ, 0, segs, len);
	update_state(link);
	return err;
}

int ferry_link_send_datagram(struct ferry_link *link, uint32_t flow_id, const uint8_t *data,
			     size_t len, uint64_t now)
{
	int err;

	link->now = now;
	if (len > link->sizes.datagram) {
		link->stats.record_too_big++;
		return -EMSGSIZE;
	}
	err = add_record(link, FERRY_PACER_HIGH, FERRY_REC_DATAGRAM, flow_id, data, len);
	update_state(link);
	return err;
}

void ferry_link_flush(struct ferry_link *link, uint64_t now)
{
	struct ferry_buf *hi = link->open[FERRY_PACER_HIGH], *lo = link->open[FERRY_PACER_LOW];

	link->now = now;
	/* both half full: one datagram instead of two (records are self-delimiting, so the
	 * LOW records simply follow the HIGH ones and ride at HIGH priority) */
	if (hi && lo && hi->len + lo->len <= link->sizes.payload &&
	    lo->len <= ferry_buf_tailroom(hi)) {
		memcpy(ferry_buf_put(hi, lo->len), lo->data, lo->len);
		link->stats.payloads_merged++;
		link->open[FERRY_PACER_LOW] = NULL;
		ferry_pool_put(&link->pool, lo);
	}
	close_payload(link, FERRY_PACER_HIGH);
	close_payload(link, FERRY_PACER_LOW);
	pacer_run(link);
	update_state(link);
}

bool ferry_link_congested(const struct ferry_link *link)
{
	return ferry_pacer_depth(&link->pacer, FERRY_PACER_LOW) > link->pacer.queue_limit / 2 ||
	       link->wait_count > link->cfg.wait_queue / 2;
}

uint32_t ferry_link_arq_mtu(const struct ferry_link *link)
{
	return link->sizes.record_body;
}

uint32_t ferry_link_datagram_max(const struct ferry_link *link)
{
	return link->sizes.datagram;
}

/* ------------------------------- receive path ----------------------------------- */

static void link_run(void *ctx, uint32_t conv, const uint8_t *segs, size_t len)
{
	struct ferry_link *link = ctx;

	if (link->ops.segments)
		link->ops.segments(link->ops.ctx, link, conv, segs, len, link->now);
}

/* FEC hands up one payload: walk its records. */
static void link_deliver(void *ctx, const uint8_t *payload, size_t len)
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
		case FERRY_REC_ARQ:
			link->stats.records_in[FERRY_REC_ARQ]++;
			if (ferry_mux_arq_split(rec.body, rec.len, link_run, link) < 0)
				link->stats.arq_malformed++;
			break;
		case FERRY_REC_DATAGRAM:
			if (ferry_mux_datagram(&rec, &flow_id, &data, &n)) {
				link->stats.datagram_malformed++;
				break;
			}
			link->stats.records_in[FERRY_REC_DATAGRAM]++;
			if (link->ops.datagram)
				link->ops.datagram(link->ops.ctx, link, flow_id, data, n,
						   link->now);
			break;
		default:
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
	note_current(link);
	if (newest(link, index, counter))
		roam(link, from);
	if (!buf->len) {
		link->stats.keepalives_in++;
	} else {
		if (!link->recv_unanswered_ms)
			link->recv_unanswered_ms = now;
		ferry_fec_decode(&link->dec, buf->data, buf->len); /* the decoder counts drops */
	}
	if (link->wait_count)
		wait_drain(link);
	update_state(link);
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

static int handshake_input(struct ferry_link_set *set, struct ferry_buf *buf,
			   const struct ferry_sockaddr *from, uint64_t now)
{
	uint8_t reply[FERRY_NOISE_MAX_REPLY_LEN], key[18];
	struct ferry_noise_peer *peer = NULL;
	struct ferry_link *link;
	uint8_t type = buf->data[0];
	size_t reply_len = 0, key_len = addr_key(from, key);
	int err;

	err = ferry_noise_handle_handshake(&set->noise, now, key, key_len, buf->data, buf->len,
					   reply, &reply_len, &peer);
	if (err == -EBUSY && reply_len) {
		set->ops.output(set->ops.ctx, reply, reply_len, from);
		set->stats.cookie_replies_out++;
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
		update_state(link);
		return 0;
	}
	link->stats.handshakes++;
	decoder_reset(link);
	if (type == FERRY_MSG_INITIATION) {
		link->stats.responses_out++;
		transmit(link, reply, (uint32_t)reply_len, NULL, FERRY_PACER_HIGH);
	} else {
		note_current(link);
		if (link->wait_count)
			wait_drain(link);
		else
			send_keepalive(link); /* lets the responder confirm the session now */
	}
	update_state(link);
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

/* --------------------------------- timers --------------------------------------- */

uint64_t ferry_link_next_deadline(struct ferry_link *link, uint64_t now)
{
	const struct ferry_noise_session *cur = link->peer.current;
	bool usable;
	uint64_t d;

	link->now = now;
	usable = session_usable(link);
	d = min64(ferry_fec_encoder_next_deadline(&link->enc),
		  ferry_pacer_next_deadline(&link->pacer, now));
	if (link->wait_count) {
		d = min64(d, link->wait_since_ms + FERRY_LINK_WAIT_MAX_MS);
		if (!usable && link->endpoint.len)
			d = min64(d, hs_allowed_at(link));
	}
	if (link->unanswered_ms) {
		uint64_t since = link->unanswered_ms;

		if (link->endpoint.len && now - since < FERRY_LINK_REHANDSHAKE_GIVEUP_MS)
			d = min64(d, max64(since + FERRY_LINK_REHANDSHAKE_MS, hs_allowed_at(link)));
		if (link->state != FERRY_LINK_DEAD)
			d = min64(d, since + link->cfg.dead_ms);
	}
	if (link->cfg.keepalive_ms && link->endpoint.len) {
		uint64_t t = link->have_sent ? link->last_sent_ms + link->cfg.keepalive_ms : now;

		d = min64(d, usable ? t : max64(t, hs_allowed_at(link)));
	}
	if (usable && link->recv_unanswered_ms)
		d = min64(d, link->recv_unanswered_ms + FERRY_LINK_PASSIVE_KEEPALIVE_MS);
	if (cur && cur->valid)
		d = min64(d, cur->created_ms + FERRY_NOISE_REJECT_AFTER_TIME_MS);
	return d < now ? now : d;
}

void ferry_link_timer(struct ferry_link *link, uint64_t now)
{
	bool keepalive_due;

	link->now = now;
	ferry_noise_peer_expire(&link->peer, now);
	ferry_fec_encoder_timeout(&link->enc, now);
	if (link->wait_count && now - link->wait_since_ms >= FERRY_LINK_WAIT_MAX_MS)
		wait_drop_all(link);
	keepalive_due = link->cfg.keepalive_ms &&
			(!link->have_sent || now - link->last_sent_ms >= link->cfg.keepalive_ms);
	if (!session_usable(link) && (link->wait_count || keepalive_due))
		want_session(link);
	if (link->unanswered_ms && now - link->unanswered_ms >= FERRY_LINK_REHANDSHAKE_MS &&
	    now - link->unanswered_ms < FERRY_LINK_REHANDSHAKE_GIVEUP_MS)
		initiate(link); /* sent data, heard nothing: the peer may have lost our session */
	if (session_usable(link)) {
		if (keepalive_due ||
		    (link->recv_unanswered_ms &&
		     now - link->recv_unanswered_ms >= FERRY_LINK_PASSIVE_KEEPALIVE_MS))
			send_keepalive(link);
		else if (link->cfg.keepalive_ms &&
			 ferry_noise_session_should_rekey(link->peer.current, now))
			want_session(link);
	}
	pacer_run(link);
	update_state(link);
}

enum ferry_link_state ferry_link_state(const struct ferry_link *link)
{
	return link->state;
}

const char *ferry_link_state_name(enum ferry_link_state state)
{
	switch (state) {
	case FERRY_LINK_DOWN:
		return "down";
	case FERRY_LINK_HANDSHAKE:
		return "handshake";
	case FERRY_LINK_UP:
		return "up";
	case FERRY_LINK_DEAD:
		return "dead";
	}
	return "?";
}

void ferry_link_stats(const struct ferry_link *link, struct ferry_link_stats *out)
{
	*out = link->stats;
	out->fec_enc = link->enc.stats;
	out->fec_dec = link->dec.stats;
}

/* ------------------------------ set and link ------------------------------------ */

int ferry_link_set_init(struct ferry_link_set *set, const struct ferry_link_set_config *cfg)
{
	int err;

	memset(set, 0, sizeof(*set));
	if (!cfg || !cfg->ops.output)
		return -EINVAL;
	err = ferry_noise_local_init(&set->noise, &cfg->noise);
	if (err)
		return err;
	set->ops = cfg->ops;
#if defined(__x86_64__)
#endif
	set->clock_ms = cfg->now;
	set->clock_realtime_ns = cfg->realtime_ns;
	return 0;
}

void ferry_link_set_destroy(struct ferry_link_set *set)
{
	while (set->links)
		ferry_link_destroy(set->links);
	ferry_noise_local_destroy(&set->noise);
	sodium_memzero(set, sizeof(*set));
}

void ferry_link_set_clock(struct ferry_link_set *set, uint64_t now, uint64_t realtime_ns)
{
	set->clock_ms = now;
	set->clock_realtime_ns = realtime_ns;
}

void ferry_link_set_flush(struct ferry_link_set *set, uint64_t now)
{
	struct ferry_link *l;

	for (l = set->links; l; l = l->next_link)
		ferry_link_flush(l, now);
}

uint64_t ferry_link_set_next_deadline(struct ferry_link_set *set, uint64_t now)
{
	struct ferry_link *l;
	uint64_t d = UINT64_MAX;

	for (l = set->links; l; l = l->next_link)
		d = min64(d, ferry_link_next_deadline(l, now));
	return d;
}

void ferry_link_set_timer(struct ferry_link_set *set, uint64_t now)
{
	struct ferry_link *l;

	for (l = set->links; l; l = l->next_link)
		ferry_link_timer(l, now);
}

static int config_fill(struct ferry_link_config *c, const struct ferry_link_config *in)
{
	if (in)
		*c = *in;
	else
		memset(c, 0, sizeof(*c));
	if (!c->mtu)
		c->mtu = FERRY_WIRE_MTU_DEFAULT;
	if (!c->ip_hdr)
		c->ip_hdr = FERRY_WIRE_IPV6_HDR;
	if (!c->fec_data) {
		c->fec_data = FERRY_LINK_FEC_DATA_DEFAULT;
		c->fec_parity = FERRY_LINK_FEC_PARITY_DEFAULT;
	}
	if (!c->pacer_queue)
		c->pacer_queue = FERRY_PACER_QUEUE_DEFAULT;
	if (!c->wait_queue)
		c->wait_queue = FERRY_LINK_WAIT_QUEUE_DEFAULT;
	if (!c->dead_ms)
		c->dead_ms = FERRY_LINK_DEAD_DEFAULT_MS;
	if (!c->handshake_retry_ms)
		c->handshake_retry_ms = FERRY_LINK_HANDSHAKE_RETRY_MS;
	if (c->pacer_queue > 65536 || c->wait_queue > 65536)
		return -EINVAL;
	return 0;
}

int ferry_link_init(struct ferry_link *link, struct ferry_link_set *set,
		    const uint8_t remote_static[FERRY_NOISE_KEY_LEN],
		    const uint8_t psk[FERRY_NOISE_KEY_LEN], const struct ferry_sockaddr *endpoint,
		    const struct ferry_link_config *cfg, const struct ferry_link_ops *ops,
		    uint64_t now)
{
	struct ferry_fec_encoder_config ec;
	struct ferry_pacer_config pc;
	uint32_t nbufs;
	int err;

	memset(link, 0, sizeof(*link));
	err = config_fill(&link->cfg, cfg);
	if (!err)
		err = ferry_wire_sizes(&link->sizes, link->cfg.mtu, link->cfg.ip_hdr);
	if (err)
		return err;
	link->set = set;
	link->now = now;
	if (ops)
		link->ops = *ops;
	if (endpoint)
		link->endpoint = *endpoint;
	randombytes_buf(&link->rng, sizeof(link->rng));
	link->rng |= 1;

	memset(&pc, 0, sizeof(pc));
	pc.rate = link->cfg.rate;
	pc.burst = link->cfg.burst;
	pc.min_burst = link->sizes.udp_payload;
	pc.queue_limit = link->cfg.pacer_queue;
	err = ferry_pacer_init(&link->pacer, &pc, now);
	if (err)
		goto err_reset;

	/* open payloads, the wait queue, the pacer queues (only when they can fill) */
	nbufs = FERRY_PACER_CLASSES + link->cfg.wait_queue + FERRY_LINK_POOL_SPARE;
	if (link->cfg.rate)
		nbufs += FERRY_PACER_CLASSES * link->cfg.pacer_queue;
	err = ferry_pool_init(&link->pool, nbufs, link->sizes.udp_payload, FERRY_LINK_HEADROOM);
	if (err)
		goto err_reset;

	memset(&ec, 0, sizeof(ec));
	ec.data_shards = link->cfg.fec_data;
	ec.parity_shards = link->cfg.fec_parity;
	ec.max_payload = (uint16_t)link->sizes.payload;
	ec.headroom = FERRY_WIRE_DATA_HDR; /* parity is sealed in place: header in front */
	ec.tailroom = FERRY_WIRE_TAG;	   /* ... and tag behind */
	ec.flush_ms = link->cfg.fec_flush_ms;
	ec.emit = link_emit;
	ec.ctx = link;
	err = ferry_fec_encoder_init(&link->enc, &ec);
	if (err)
		goto err_enc;
	err = ferry_fec_decoder_init(&link->dec, (uint16_t)link->sizes.payload,
				     FERRY_LINK_FEC_GROUPS, 0, link_deliver, link);
	if (err)
		goto err_dec;
	err = ferry_noise_peer_init(&set->noise, &link->peer, remote_static, psk);
	if (err)
		goto err_peer;
	link->next_link = set->links;
	set->links = link;
	link->state = FERRY_LINK_DOWN;
	return 0;

err_peer:
	ferry_fec_decoder_destroy(&link->dec);
err_dec:
	ferry_fec_encoder_destroy(&link->enc);
err_enc:
	ferry_pool_destroy(&link->pool);
err_reset:
	memset(link, 0, sizeof(*link));
	return err;
}

void ferry_link_destroy(struct ferry_link *link)
{
	struct ferry_link **pp;
	int c;

	if (!link->set)
		return;
	for (pp = &link->set->links; *pp; pp = &(*pp)->next_link) {
		if (*pp == link) {
			*pp = link->next_link;
			break;
		}
	}
	for (c = 0; c < FERRY_PACER_CLASSES; c++)
		ferry_pool_put(&link->pool, link->open[c]);
	ferry_pool_put_chain(&link->pool, link->wait_head);
	ferry_pool_put_chain(&link->pool, ferry_pacer_drain(&link->pacer));
	ferry_fec_encoder_destroy(&link->enc);
	ferry_fec_decoder_destroy(&link->dec);
	ferry_pool_destroy(&link->pool);
	ferry_noise_peer_remove(&link->peer);
	sodium_memzero(link, sizeof(*link));
}
