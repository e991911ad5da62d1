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
 *
 * Files. This one holds the set and its links (init, destroy, defaults), the link state,
 * handshake driving and the timers; link_send.c the send path; link_recv.c the input
 * entry point, handshake messages and the receive path. link_internal.h names the few
 * functions that cross files.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "transport/link.h"
#include "transport/link_internal.h"

enum {
	FERRY_LINK_HEADROOM = 32, /* >= FERRY_WIRE_HEADROOM, rounded up */
};
_Static_assert((int)FERRY_LINK_HEADROOM >= (int)FERRY_WIRE_HEADROOM, "payload buffer headroom");

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

/* ------------------------------- state ------------------------------------------ */

void ferry_link_update_state(struct ferry_link *link)
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

/* ---------- handshake driving ----------------------------------------------------- */

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

/* Sends an initiation if the retry timer allows, and allows the next one retry_ms (plus
 * jitter) later either way. */
static void initiate(struct ferry_link *link, uint64_t retry_ms)
{
	uint8_t msg[FERRY_MSG_INITIATION_LEN];
	uint64_t now = link->now;

	if (!link->endpoint.len || now < hs_allowed_at(link))
		return;
	link->hs_next_ms = now + retry_ms + rng_next(link) % (FERRY_LINK_HANDSHAKE_JITTER_MS + 1);
	if (ferry_noise_create_initiation(&link->peer, now, realtime_ns(link->set, now), msg))
		return;
	link->stats.initiations_out++;
	link->initiation_ms = now;
	ferry_link_transmit(link, msg, sizeof(msg), NULL, FERRY_PACER_HIGH, false);
}

/* Data wants to go out: make sure a session is usable or coming. */
void ferry_link_want_session(struct ferry_link *link)
{
	if (ferry_noise_peer_wants_handshake(&link->peer, link->now, 0))
		initiate(link, link->cfg.handshake_retry_ms);
}

/* A live peer acknowledges data that asks for it (the only kind that starts the silence,
 * link_send.c) within a round trip and its ACK delay: silence for a few RTOs means the
 * path is down or the peer lost our session. An RTO is taken as 2 x the smoothed RTT plus
 * the ACK delay (the controller keeps no RTT variance: twice the mean leaves room for a
 * queue as long as the path). The minimum keeps a short path from calling a scheduling
 * hiccup a restart, the maximum keeps a long or bloated one from waiting WireGuard's 15 s.
 * A wrong guess is cheap: one handshake, while the current session goes on carrying
 * data. */
uint32_t ferry_link_rehandshake_ms(const struct ferry_link *link)
{
	uint64_t rtt, t;

	if (link->cc.rtt_seen)
		rtt = link->cc.srtt8 / 8;
	else if (link->hs_rtt_ms)
		rtt = link->hs_rtt_ms;
	else
		return FERRY_LINK_REHANDSHAKE_MAX_MS;
	t = FERRY_LINK_REHANDSHAKE_RTOS * (2 * rtt + FERRY_ACK_DELAY_MS);
	return (uint32_t)max64(FERRY_LINK_REHANDSHAKE_MIN_MS,
			       min64(t, FERRY_LINK_REHANDSHAKE_MAX_MS));
}

/* Sent data has gone unanswered for ferry_link_rehandshake_ms: a new handshake, retried
 * after as long again as the silence lasted so far (a peer that restarted in the meantime
 * is found again at once), handshake_retry_ms at most. */
static void rehandshake(struct ferry_link *link)
{
	uint64_t silent = link->now - link->unanswered_ms;

	initiate(link, min64(silent, link->cfg.handshake_retry_ms));
}

/* --------------------------------- timers --------------------------------------- */

uint64_t ferry_link_next_deadline(const struct ferry_link *link, uint64_t now)
{
	bool usable = session_usable_at(link, now);
	uint64_t d;

	d = min64(ferry_fec_encoder_next_deadline(&link->enc),
		  ferry_pacer_next_deadline(&link->pacer, now));
	d = min64(d, ferry_cc_next_deadline(&link->cc));
	if (usable)
		d = min64(d, ferry_ack_next_deadline(&link->acks));
	if (link->wait_count) {
		d = min64(d, link->wait_since_ms + FERRY_LINK_WAIT_MAX_MS);
		if (!usable && link->endpoint.len)
			d = min64(d, hs_allowed_at(link));
	}
	if (link->unanswered_ms) {
		uint64_t since = link->unanswered_ms;

		if (link->endpoint.len && now - since < FERRY_LINK_REHANDSHAKE_GIVEUP_MS)
			d = min64(
			    d, max64(since + ferry_link_rehandshake_ms(link), hs_allowed_at(link)));
		if (link->state != FERRY_LINK_DEAD)
			d = min64(d, since + link->cfg.dead_ms);
	}
	if (link->cfg.keepalive_ms && link->endpoint.len) {
		uint64_t t = link->have_sent ? link->last_sent_ms + link->cfg.keepalive_ms : now;

		d = min64(d, usable ? t : max64(t, hs_allowed_at(link)));
	}
	if (usable && link->recv_unanswered_ms)
		d = min64(d, link->recv_unanswered_ms + FERRY_LINK_PASSIVE_KEEPALIVE_MS);
	/* keys leave memory when they expire, not at whatever timer happens to run next */
	d = min64(d, ferry_noise_peer_next_expiry(&link->peer));
	return d < now ? now : d;
}

void ferry_link_timer(struct ferry_link *link, uint64_t now)
{
	bool keepalive_due;

	link->now = now;
	ferry_noise_peer_expire(&link->peer, now);
	if (!link->peer.current)
		link->last_current = NULL; /* its slot may hold the next current session */
	ferry_fec_encoder_timeout(&link->enc, now);
	if (ferry_cc_next_deadline(&link->cc) <= now) {
		ferry_cc_timer(&link->cc, now);
		ferry_link_cc_apply(link);
	}
	if (link->acks.pending && ferry_ack_due(&link->acks, now)) {
		ferry_link_ack_maybe(link, false);
		ferry_link_close_payloads(link, now);
	}
	if (link->wait_count && now - link->wait_since_ms >= FERRY_LINK_WAIT_MAX_MS)
		ferry_link_wait_drop_all(link);
	keepalive_due = link->cfg.keepalive_ms &&
			(!link->have_sent || now - link->last_sent_ms >= link->cfg.keepalive_ms);
	if (!session_usable(link) && (link->wait_count || keepalive_due))
		ferry_link_want_session(link);
	if (link->unanswered_ms && now - link->unanswered_ms >= ferry_link_rehandshake_ms(link) &&
	    now - link->unanswered_ms < FERRY_LINK_REHANDSHAKE_GIVEUP_MS)
		rehandshake(
		    link); /* sent data, heard nothing: the peer may have lost our session */
	if (session_usable(link)) {
		if (keepalive_due ||
		    (link->recv_unanswered_ms &&
		     now - link->recv_unanswered_ms >= FERRY_LINK_PASSIVE_KEEPALIVE_MS))
			ferry_link_send_keepalive(link);
		else if (link->cfg.keepalive_ms &&
			 ferry_noise_session_should_rekey(link->peer.current, now))
			ferry_link_want_session(link);
	}
	ferry_link_pacer_run(link);
	ferry_link_update_state(link);
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
	err = ferry_pool_init(&set->pool, FERRY_LINK_OUT_BATCH, FERRY_NOISE_MAX_REPLY_LEN, 0);
	if (err)
		return err;
	set->ratelimit = ferry_ratelimit_new();
	if (!set->ratelimit) {
		ferry_pool_destroy(&set->pool);
		return -ENOMEM;
	}
	err = ferry_noise_local_init(&set->noise, &cfg->noise);
	if (err) {
		ferry_ratelimit_free(set->ratelimit);
		ferry_pool_destroy(&set->pool);
		return err;
	}
	set->noise.ratelimit = set->ratelimit;
	set->ops = cfg->ops;
	set->clock_ms = cfg->now;
	set->clock_realtime_ns = cfg->realtime_ns;
	return 0;
}

void ferry_link_set_destroy(struct ferry_link_set *set)
{
	while (set->links)
		ferry_link_destroy(set->links);
	if (set->ops.output)
		ferry_link_out_flush(set);
	ferry_pool_destroy(&set->pool);
	ferry_noise_local_destroy(&set->noise);
	ferry_ratelimit_free(set->ratelimit);
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
		ferry_link_close_payloads(l, now);
	ferry_link_out_flush(set);
}

uint64_t ferry_link_set_next_deadline(const struct ferry_link_set *set, uint64_t now)
{
	const struct ferry_link *l;
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

/* The path MTU and IP header size a configuration stands for: its own, or the defaults. */
static void config_fill_mtu(struct ferry_link_config *c)
{
	if (!c->mtu)
		c->mtu = FERRY_WIRE_MTU_DEFAULT;
	if (!c->ip_hdr)
		c->ip_hdr = FERRY_WIRE_IPV6_HDR;
}

int ferry_link_config_sizes(const struct ferry_link_config *cfg, struct ferry_wire_sizes *out)
{
	struct ferry_link_config c;

	if (cfg)
		c = *cfg;
	else
		memset(&c, 0, sizeof(c));
	config_fill_mtu(&c);
	return ferry_wire_sizes(out, c.mtu, c.ip_hdr);
}

static int config_fill(struct ferry_link_config *c, const struct ferry_link_config *in)
{
	if (in)
		*c = *in;
	else
		memset(c, 0, sizeof(*c));
	config_fill_mtu(c);
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
	if (c->pacer_queue > 65536 || c->wait_queue > 65536 || c->congestion > FERRY_CC_OFF ||
	    (c->congestion == FERRY_CC_FIXED && !c->rate))
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
	struct ferry_cc_config cc;
	uint32_t nbufs;
	int err;

	memset(link, 0, sizeof(*link));
	err = config_fill(&link->cfg, cfg);
	if (!err)
		err = ferry_link_config_sizes(&link->cfg, &link->sizes);
	if (err)
		return err;
	link->set = set;
	link->now = now;
	if (ops)
		link->ops = *ops;
	if (endpoint)
		link->endpoint = *endpoint;
	if (link->cfg.seed)
		link->rng = link->cfg.seed;
	else
		randombytes_buf(&link->rng, sizeof(link->rng));
	link->rng |= 1;

	memset(&cc, 0, sizeof(cc));
	cc.mode = link->cfg.congestion;
	cc.rate = link->cfg.rate;
	cc.max_rate = link->cfg.max_rate;
	cc.mss = link->cfg.mtu;
	cc.seed = link->rng;
	err = ferry_cc_init(&link->cc, &cc, now);
	if (err)
		goto err_reset;
	memset(&pc, 0, sizeof(pc));
	pc.min_burst = link->sizes.udp_payload;
	pc.queue_limit = link->cfg.pacer_queue;
	pc.grow = FERRY_WIRE_SEAL_OVERHEAD + ferry_link_headers(link);
	err = ferry_pacer_init(&link->pacer, &pc, now);
	if (err)
		goto err_cc;

	/* open payloads, the wait queue, the output batch, the pacer queues, spares */
	nbufs = FERRY_PACER_CLASSES + link->cfg.wait_queue + FERRY_LINK_OUT_BATCH +
		FERRY_LINK_POOL_SPARE + FERRY_PACER_CLASSES * link->cfg.pacer_queue;
	err = ferry_pool_init(&link->pool, nbufs, link->sizes.udp_payload, FERRY_LINK_HEADROOM);
	if (err)
		goto err_cc;

	memset(&ec, 0, sizeof(ec));
	ec.data_shards = link->cfg.fec_data;
	ec.parity_shards = link->cfg.fec_parity;
	ec.max_payload = (uint16_t)link->sizes.payload;
	ec.headroom = FERRY_WIRE_DATA_HDR; /* parity is sealed in place: header in front */
	ec.tailroom = FERRY_WIRE_TAG;	   /* ... and tag behind */
	ec.flush_ms = link->cfg.fec_flush_ms;
	ec.emit = ferry_link_emit;
	ec.ctx = link;
	err = ferry_fec_encoder_init(&link->enc, &ec);
	if (err)
		goto err_enc;
	err =
	    ferry_fec_decoder_init(&link->dec, (uint16_t)link->sizes.payload, FERRY_LINK_FEC_GROUPS,
				   link->cfg.fec_slots, ferry_link_deliver, link);
	if (err)
		goto err_dec;
	err = ferry_noise_peer_init(&set->noise, &link->peer, remote_static, psk);
	if (err)
		goto err_peer;
	link->next_link = set->links;
	set->links = link;
	link->state = FERRY_LINK_DOWN;
	ferry_link_cc_apply(link); /* the controller's first rate */
	return 0;

err_peer:
	ferry_fec_decoder_destroy(&link->dec);
err_dec:
	ferry_fec_encoder_destroy(&link->enc);
err_enc:
	ferry_pool_destroy(&link->pool);
err_cc:
	ferry_cc_destroy(&link->cc);
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
	ferry_link_out_flush(link->set); /* the batch may hold this link's buffers */
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
	ferry_cc_destroy(&link->cc);
	ferry_noise_peer_remove(&link->peer);
	sodium_memzero(link, sizeof(*link));
}
