// SPDX-License-Identifier: MIT
/*
 * The two-peer link test rig (see linkrig.h). Everything a test may look at lives in the
 * rig; this file adds the callbacks that feed it and the event loop that drives it.
 */
#include "tests/support/linkrig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "tests/support/fixture.h"

#define STEP_LIMIT 4000000u /* event loop turns before a run counts as stuck */

uint8_t ferry_linkrig_pattern(uint32_t conv, size_t off)
{
	return (uint8_t)((size_t)conv * 131u + off * 7u + (off >> 9) + 1u);
}

void ferry_linkrig_addr_set(struct ferry_sockaddr *a, const char *ip, uint16_t port)
{
	ck_assert_int_eq(ferry_sockaddr_from(a, ip, port), 0);
}

bool ferry_linkrig_addr_same(const struct ferry_sockaddr *a, const struct ferry_sockaddr *b)
{
	return a->in4.sin_addr.s_addr == b->in4.sin_addr.s_addr &&
	       a->in4.sin_port == b->in4.sin_port;
}

/* ------------------------------- callbacks --------------------------------------- */

static void output_one(struct ferry_linkrig_side *s, const uint8_t *msg, size_t len,
		       const struct ferry_sockaddr *to)
{
	struct ferry_linkrig *w = s->w;

	s->outputs++;
	s->last_to = *to;
	if (s->id == 0 && w->capture && msg[0] == FERRY_MSG_DATA && len > 200 && !w->captured_len) {
		memcpy(w->captured, msg, len);
		w->captured_len = len;
	}
	if (s->id == 0 && w->hold && msg[0] == FERRY_MSG_DATA &&
	    w->nheld < FERRY_LINKRIG_MAX_HOLD) {
		memcpy(w->held[w->nheld], msg, len);
		w->held_len[w->nheld++] = len;
		return;
	}
	if ((s->id & 1) && !ferry_linkrig_addr_same(to, &w->s[s->id ^ 1].addr)) {
		w->misaddressed++;
		if (w->drop_misaddressed)
			return;
	}
	w->vn.send_tag = (uint32_t)s->id / 2; /* the pair */
	ck_assert_int_eq(
	    ferry_vnet_send(&w->vn, (s->id & 1) ? FERRY_VNET_B2A : FERRY_VNET_A2B, msg, len), 0);
}

static unsigned on_output(void *ctx, struct ferry_buf *const *bufs, const struct ferry_sockaddr *to,
			  unsigned n)
{
	struct ferry_linkrig_side *s = ctx;
	unsigned i;

	ck_assert_uint_le(n, FERRY_LINK_OUT_BATCH);
	s->output_batches++;
	for (i = 0; i < n; i++)
		output_one(s, bufs[i]->data, bufs[i]->len, &to[i]);
	return n;
}

static int find_conv(const struct ferry_linkrig_side *s, uint32_t conv)
{
	uint32_t i;

	for (i = 0; i < s->nconv; i++)
		if (s->conv_id[i] == conv && s->arq[i])
			return (int)i;
	return -1;
}

static void on_segments(void *ctx, struct ferry_link *link, uint32_t conv, const uint8_t *segs,
			size_t len, uint64_t now)
{
	struct ferry_linkrig_side *s = ctx;
	int i = find_conv(s, conv);

	if (link->stats.payloads_in == s->last_payload && conv != s->last_conv)
		s->shared_payloads++;
	s->last_payload = link->stats.payloads_in;
	s->last_conv = conv;
	if (i < 0) {
		s->unknown_conv++;
		return;
	}
	if (!s->conv_heard[i]) {
		s->conv_heard[i] = true;
		s->conv_instance[i] = s->peer_instance;
	}
	ferry_arq_input(s->arq[i], segs, len, now);
}

/* The peer announced its instance: a new one means it restarted, and what heard the old
 * one is reset (the bridge's ferry_bridge_peer_instance). */
static void hello_in(struct ferry_linkrig_side *s, const uint8_t *data, size_t len, uint64_t now)
{
	uint64_t instance;
	uint32_t i;

	ck_assert_uint_eq(len, sizeof(instance));
	memcpy(&instance, data, sizeof(instance));
	if (instance == s->peer_instance)
		return;
	if (s->peer_instance) {
		s->peer_restarts++;
		for (i = 0; i < s->nconv; i++)
			if (s->conv_instance[i] == s->peer_instance && !s->reset_ms[i])
				s->reset_ms[i] = now;
	}
	s->peer_instance = instance;
	/* what was heard before the first announcement belongs to this instance (the bridge
	 * learns it from the conversation's own OPEN or RESULT) */
	for (i = 0; i < s->nconv; i++)
		if (s->conv_heard[i] && !s->conv_instance[i])
			s->conv_instance[i] = instance;
}

static void on_datagram(void *ctx, struct ferry_link *link, uint32_t flow_id, const uint8_t *data,
			size_t len, uint64_t now)
{
	struct ferry_linkrig_side *s = ctx;
	size_t i;

	(void)link;
	if (s->w->hello && flow_id == FERRY_LINKRIG_HELLO_FLOW) {
		hello_in(s, data, len, now);
		return;
	}
	if (flow_id >= 4096) {
		s->dg_bad++;
		return;
	}
	for (i = 0; i < len; i++)
		if (data[i] != ferry_linkrig_pattern(flow_id, i))
			s->dg_bad++;
	if (!s->dg_rx)
		s->dg_first_rx_ms = now;
	s->dg_seen[flow_id]++;
	s->dg_rx++;
}

static void on_state(void *ctx, struct ferry_link *link, enum ferry_link_state state)
{
	struct ferry_linkrig_side *s = ctx;

	if (s->nstates < 16)
		s->states[s->nstates++] = state;
	if (s->w->hello && state == FERRY_LINK_UP)
		ck_assert_int_eq(ferry_link_send_datagram(link, FERRY_LINKRIG_HELLO_FLOW,
							  (const uint8_t *)&s->instance,
							  sizeof(s->instance), link->now),
				 0);
}

static int arq_out(void *ctx, const uint8_t *d, size_t len)
{
	const struct ferry_linkrig_conv *c = ctx;
	struct ferry_linkrig_side *s = c->side;

	return ferry_link_send_segments(&s->link, d, len, ferry_arq_thin(s->arq[c->i]), s->now);
}

static void deliver(void *ctx, enum ferry_vnet_dir dir, const uint8_t *data, size_t len,
		    uint64_t now)
{
	struct ferry_linkrig *w = ctx;
	uint8_t *storage = w->rx_storage;
	uint32_t a = 2 * w->vn.deliver_tag; /* the pair's A side */
	struct ferry_linkrig_side *from = &w->s[dir == FERRY_VNET_A2B ? a : a + 1];
	struct ferry_linkrig_side *to = &w->s[dir == FERRY_VNET_A2B ? a + 1 : a];
	struct ferry_buf buf = {.head = storage, .end = storage + sizeof(w->rx_storage)};

	if (!to->active)
		return;
	buf.data = storage + 64;
	buf.len = (uint32_t)len;
	memcpy(buf.data, data, len);
	to->now = now;
	ferry_link_set_input(&to->set, &buf, &from->addr, now);
}

/* ------------------------------- set-up ------------------------------------------- */

static void side_defaults(struct ferry_linkrig_side *s)
{
	ck_assert_int_eq(ferry_arq_config_init(&s->arq_cfg, FERRY_ARQ_PROFILE_FAST3), 0);
	s->arq_cfg.snd_wnd = 256;
	s->arq_cfg.rcv_wnd = 512;
	s->arq_cfg.snd_queue_max = 256;
	s->arq_cfg.dead_time = 0;
	s->arq_cfg.thin_copy = true; /* as the daemon runs them (stack/bridge.c) */
	memset(&s->noise_cfg, 0, sizeof(s->noise_cfg));
	memset(&s->link_cfg, 0, sizeof(s->link_cfg));
	/* a run repeats exactly: the links' own randomness follows the rig's seed */
	s->link_cfg.seed = ferry_vnet_rand(&s->w->vn) | 1;
}

/* Starts (or restarts) a side: its set, its link to the other side, its ARQ pool. */
void ferry_linkrig_side_start(struct ferry_linkrig_side *s, uint64_t now)
{
	struct ferry_linkrig_side *o = &s->w->s[s->id ^ 1];
	struct ferry_link_set_config sc = {
	    .now = now,
	    .realtime_ns = FERRY_LINKRIG_REALTIME0 + now * 1000000ULL,
	    .ops = {.output = on_output, .ctx = s},
	};
	struct ferry_link_ops ops = {
	    .segments = on_segments, .datagram = on_datagram, .state = on_state, .ctx = s};
	uint32_t bufs;

	sc.noise = s->noise_cfg;
	memcpy(sc.noise.static_private, s->priv, 32);
	ck_assert_int_eq(ferry_link_set_init(&s->set, &sc), 0);
	ck_assert_int_eq(ferry_link_init(&s->link, &s->set, o->pub, NULL,
					 s->passive ? NULL : &o->addr, &s->link_cfg, &ops, now),
			 0);
	s->arq_cfg.mtu = ferry_link_arq_mtu(&s->link);
	bufs = FERRY_LINKRIG_POOL_CONVS *
	       (2 * s->arq_cfg.snd_wnd + s->arq_cfg.snd_queue_max + s->arq_cfg.rcv_wnd + 8);
	ck_assert_int_eq(ferry_pool_init(&s->arq_pool, bufs, s->arq_cfg.mtu - 24, 32), 0);
	s->nconv = 0;
	s->instance = ++s->w->starts; /* unique, and no draw from the vnet's randomness */
	s->peer_instance = 0;
	s->peer_restarts = 0;
	s->active = true;
}

void ferry_linkrig_close_convs(struct ferry_linkrig_side *s)
{
	uint32_t i;

	for (i = 0; i < s->nconv; i++) {
		ferry_arq_destroy(s->arq[i]);
		s->arq[i] = NULL;
	}
	s->nconv = 0;
}

void ferry_linkrig_side_stop(struct ferry_linkrig_side *s)
{
	if (!s->active)
		return;
	ferry_linkrig_close_convs(s);
	ferry_link_set_destroy(&s->set); /* destroys the link too */
	ferry_ck_pool_idle(&s->arq_pool);
	ferry_pool_destroy(&s->arq_pool);
	s->active = false;
}

/* Adds conversation conv on side s: it sends `send` bytes and expects `expect`. */
void ferry_linkrig_conv_open(struct ferry_linkrig_side *s, uint32_t conv, size_t send,
			     size_t expect)
{
	uint32_t i = s->nconv++;

	ck_assert_uint_lt(i, FERRY_LINKRIG_MAX_CONVS);
	s->conv_ctx[i].side = s;
	s->conv_ctx[i].i = i;
	ck_assert_int_eq(
	    ferry_arq_create(&s->arq[i], conv, &s->arq_cfg, &s->arq_pool, arq_out, &s->conv_ctx[i]),
	    0);
	s->conv_id[i] = conv;
	s->total[i] = send;
	s->sent[i] = s->recvd[i] = 0;
	s->expect[i] = expect;
	s->first_rx_ms[i] = s->reset_ms[i] = 0;
	s->conv_instance[i] = 0;
	s->conv_heard[i] = false;
}

/* Both sides open `n` conversations: A sends a_bytes on each, B sends b_bytes. */
void ferry_linkrig_convs_open(struct ferry_linkrig *w, uint32_t first, uint32_t n, size_t a_bytes,
			      size_t b_bytes)
{
	uint32_t i;

	uint32_t p;

	for (p = 0; p < w->npairs; p++)
		for (i = 0; i < n; i++) {
			ferry_linkrig_conv_open(&w->s[(size_t)2 * p], first + i, a_bytes, b_bytes);
			ferry_linkrig_conv_open(&w->s[(size_t)2 * p + 1], first + i, b_bytes,
						a_bytes);
		}
}

/* ------------------------------- randomness --------------------------------------- */

/* libsodium's randomness (keys, session indexes, cookie secrets) drawn from the rig's
 * seed, so that a rig's run repeats exactly: a ChaCha20 keystream, one nonce per draw. */
static struct {
	uint8_t key[crypto_stream_chacha20_KEYBYTES];
	uint64_t draws;
} rig_random;

static const char *rig_random_name(void)
{
	return "ferry-linkrig";
}

static void rig_random_buf(void *const buf, const size_t size)
{
	uint8_t nonce[crypto_stream_chacha20_NONCEBYTES];

	memcpy(nonce, &rig_random.draws, sizeof(nonce));
	rig_random.draws++;
	crypto_stream_chacha20(buf, size, nonce, rig_random.key);
}

static uint32_t rig_random_u32(void)
{
	uint32_t v;

	rig_random_buf(&v, sizeof(v));
	return v;
}

static struct randombytes_implementation rig_random_impl = {
    .implementation_name = rig_random_name,
    .random = rig_random_u32,
    .buf = rig_random_buf,
};

static void rig_random_seed(uint64_t seed)
{
	ck_assert_int_ge(sodium_init(), 0);
	memset(&rig_random, 0, sizeof(rig_random));
	memcpy(rig_random.key, &seed, sizeof(seed));
	ck_assert_int_eq(randombytes_set_implementation(&rig_random_impl), 0);
}

struct ferry_linkrig *ferry_linkrig_new(uint64_t seed, const struct ferry_vnet_link *a2b,
					const struct ferry_vnet_link *b2a)
{
	struct ferry_linkrig *w = calloc(1, sizeof(*w));
	int i;

	ck_assert_ptr_nonnull(w);
	rig_random_seed(seed);
	ck_assert_int_eq(ferry_vnet_init(&w->vn, seed, 1000, a2b, b2a, 16384, deliver, w), 0);
	w->npairs = 1;
	for (i = 0; i < FERRY_LINKRIG_MAX_SIDES; i++) {
		char ip[16];

		w->s[i].w = w;
		w->s[i].id = i;
		ck_assert_int_eq(ferry_noise_keygen(w->s[i].priv, w->s[i].pub), 0);
		side_defaults(&w->s[i]);
		snprintf(ip, sizeof(ip), "127.0.0.%d", i + 1);
		ferry_linkrig_addr_set(&w->s[i].addr, ip, (uint16_t)(5001 + i));
	}
	return w;
}

static uint32_t nsides(const struct ferry_linkrig *w)
{
	return 2 * w->npairs;
}

void ferry_linkrig_start(struct ferry_linkrig *w)
{
	uint32_t i;

	ck_assert_uint_ge(w->npairs, 1);
	ck_assert_uint_le(w->npairs, FERRY_LINKRIG_MAX_SIDES / 2);
	for (i = 0; i < nsides(w); i++)
		ferry_linkrig_side_start(&w->s[i], w->vn.now);
}

void ferry_linkrig_free(struct ferry_linkrig *w)
{
	uint32_t i;

	for (i = 0; i < nsides(w); i++)
		ferry_linkrig_side_stop(&w->s[i]);
	ferry_vnet_destroy(&w->vn);
	free(w);
}

/* ------------------------------- event loop --------------------------------------- */

static uint64_t min64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static bool side_done(const struct ferry_linkrig_side *s)
{
	uint32_t i;

	for (i = 0; i < s->nconv; i++)
		if (s->recvd[i] < s->expect[i] || s->sent[i] < s->total[i] ||
		    ferry_arq_pending(s->arq[i]))
			return false;
	return true;
}

/* One turn of each side's event loop at now; returns the side's next deadline. */
static uint64_t side_turn(struct ferry_linkrig_side *s, uint64_t now)
{
	uint8_t *rbuf = s->w->app_buf;
	size_t rbuf_len = sizeof(s->w->app_buf);
	uint64_t next = UINT64_MAX;
	uint32_t i, room;

	if (!s->active)
		return UINT64_MAX;
	s->now = now;
	for (i = 0; i < s->nconv; i++) {
		s->wrote[i] = false;
		while (s->sent[i] < s->total[i]) {
			size_t n = s->total[i] - s->sent[i], k;
			uint8_t *p = rbuf;
			ssize_t r;

			n = n < rbuf_len ? n : rbuf_len;
			for (k = 0; k < n; k++)
				p[k] = ferry_linkrig_pattern(s->conv_id[i], s->sent[i] + k);
			r = ferry_arq_send(s->arq[i], p, n);
			if (r <= 0)
				break;
			s->sent[i] += (size_t)r;
			s->wrote[i] = true;
		}
	}
	/* as the bridge runs conversations: each sends what the link has room for (what was
	 * written this turn at once, a partial segment too), and one left with data but no
	 * room comes back a millisecond later */
	for (i = 0; i < s->nconv; i++) {
		room = ferry_link_room(&s->link);
		ferry_arq_set_credit(s->arq[i], room); /* 0: ACKs and thin flows only */
		ferry_arq_hold_thin(s->arq[i],
				    !s->thin_unheld && !ferry_link_urgent_room(&s->link));
		if (s->wrote[i])
			ferry_arq_flush(s->arq[i], now);
		else
			ferry_arq_timer(s->arq[i], now);
		next = min64(next, ferry_arq_next_deadline(s->arq[i], now));
		if (!ferry_arq_credit(s->arq[i]) && ferry_arq_wants_credit(s->arq[i]))
			next = min64(next, now + 1);
	}
	for (i = 0; i < s->nconv; i++) {
		ssize_t r;

		while ((r = ferry_arq_recv(s->arq[i], rbuf, rbuf_len)) > 0) {
			size_t k;

			if (!s->recvd[i])
				s->first_rx_ms[i] = now;
			for (k = 0; k < (size_t)r; k++)
				if (rbuf[k] !=
				    ferry_linkrig_pattern(s->conv_id[i], s->recvd[i] + k))
					s->bad_bytes++;
			s->recvd[i] += (size_t)r;
		}
	}
	if (ferry_link_next_deadline(&s->link, now) <= now) {
		ferry_link_timer(&s->link, now);
		/* after the timer nothing is overdue: the loop never spins on a link */
		ck_assert_uint_gt(ferry_link_next_deadline(&s->link, now), now);
	}
	ferry_link_set_flush(&s->set, now); /* the end of the turn: the batch leaves */
	return min64(next, ferry_link_next_deadline(&s->link, now));
}

/* Runs both loops until both sides are done (or `until` virtual ms). */
static bool all_done(const struct ferry_linkrig *w)
{
	uint32_t i;

	for (i = 0; i < nsides(w); i++)
		if (!side_done(&w->s[i]))
			return false;
	return true;
}

bool ferry_linkrig_run(struct ferry_linkrig *w, uint64_t until, bool stop_when_done)
{
	uint32_t steps, i;

	for (steps = 0; steps < STEP_LIMIT; steps++) {
		uint64_t now = w->vn.now, next = UINT64_MAX;

		for (i = 0; i < nsides(w); i++)
			next = min64(next, side_turn(&w->s[i], now));
		if (stop_when_done && all_done(w))
			return true;
		next = min64(next, ferry_vnet_next_event(&w->vn));
		if (next >= until) {
			ferry_vnet_advance(&w->vn, until);
			for (i = 0; i < nsides(w); i++)
				side_turn(&w->s[i], until);
			return stop_when_done ? all_done(w) : true;
		}
		ferry_vnet_advance(&w->vn, next > now ? next : now);
	}
	ck_abort_msg("event loop did not settle in %u steps", STEP_LIMIT);
	return false;
}

void ferry_linkrig_check_streams(const struct ferry_linkrig_side *s)
{
	uint32_t i;

	ck_assert_uint_eq(s->bad_bytes, 0);
	for (i = 0; i < s->nconv; i++)
		ck_assert_uint_eq(s->recvd[i], s->expect[i]);
}

/* Sums over side s's conversations: ARQ retransmissions (RTO and fast) if rtx, else
 * segments sent. */
static uint64_t arq_sum(const struct ferry_linkrig_side *s, bool rtx)
{
	struct ferry_arq_stats st;
	uint64_t n = 0;
	uint32_t i;

	for (i = 0; i < s->nconv; i++) {
		ferry_arq_stats(s->arq[i], &st);
		n += rtx ? st.segs_rto + st.segs_fast : st.segs_sent;
	}
	return n;
}

uint64_t ferry_linkrig_retransmits(const struct ferry_linkrig_side *s)
{
	return arq_sum(s, true);
}

uint64_t ferry_linkrig_segs_sent(const struct ferry_linkrig_side *s)
{
	return arq_sum(s, false);
}

/* Hands a copy of msg to side s as if it came from `from`; returns the link's verdict. */
int ferry_linkrig_inject(struct ferry_linkrig_side *s, const uint8_t *msg, size_t len,
			 const struct ferry_sockaddr *from)
{
	uint8_t *storage = s->w->inject_storage;
	struct ferry_buf buf = {.head = storage, .end = storage + sizeof(s->w->inject_storage)};

	buf.data = storage + 64;
	buf.len = (uint32_t)len;
	memcpy(buf.data, msg, len);
	s->now = s->w->vn.now;
	return ferry_link_set_input(&s->set, &buf, from, s->w->vn.now);
}

/* Runs a short transfer so both sides hold a confirmed session. */
void ferry_linkrig_warm(struct ferry_linkrig *w)
{
	uint32_t i;

	ferry_linkrig_convs_open(w, FERRY_LINKRIG_CONV_BASE, 1, 64 << 10, 16 << 10);
	ck_assert(ferry_linkrig_run(w, w->vn.now + 20 * FERRY_LINKRIG_SEC, true));
	for (i = 0; i < nsides(w); i++)
		ferry_linkrig_check_streams(&w->s[i]);
}

/* Queues a datagram of len pattern bytes on flow on side s. */
int ferry_linkrig_send_dg(struct ferry_linkrig_side *s, uint32_t flow, size_t len)
{
	uint8_t d[1500];
	size_t k;

	for (k = 0; k < len && k < sizeof(d); k++)
		d[k] = ferry_linkrig_pattern(flow, k);
	return ferry_link_send_datagram(&s->link, flow, d, len, s->w->vn.now);
}
