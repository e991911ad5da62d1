// SPDX-License-Identifier: MIT
/*
 * The secure link end to end on the virtual network: two ferry instances A and B (a link
 * set and one link each) carry several ARQ conversations at once, byte-exact; FEC (10,3)
 * recovers lost data shards at 50 ms RTT and 5% loss without ARQ retransmissions;
 * tampered, truncated, replayed, stale, reordered and foreign datagrams; rekeying in the
 * middle of a transfer; a restart of either peer; roaming; the datagram channel under loss
 * and ahead of a saturated pacer; keepalives, dead-peer detection and the wait queue.
 *
 * The harness is one event loop over both sides with the vnet's virtual clock: each turn
 * the applications write and read, conversations run (unless the link says it is
 * congested), the links flush and run their timers, then the clock jumps to the earliest
 * deadline. Streams carry a pattern derived from (conv, offset) so every received byte is
 * checked. Addresses are labels only (127.0.0.x): nothing touches a socket.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/fixture.h"
#include "tests/support/vnet.h"
#include "transport/arq.h"
#include "transport/link.h"

#define SEC	   1000ULL
#define MAX_CONVS  8
#define REALTIME0  (1790000000ULL * 1000000000ULL)
#define MAX_HOLD   16
#define CONV_BASE  100u
#define STEP_LIMIT 4000000u

struct world;

struct side {
	struct world *w;
	int id; /* 0 = A, 1 = B */
	bool active;
	uint8_t priv[32], pub[32];
	struct ferry_link_set set;
	struct ferry_link link;
	struct ferry_sockaddr addr; /* the source address the other side sees */
	struct ferry_pool arq_pool;
	struct ferry_arq *arq[MAX_CONVS];
	uint32_t conv_id[MAX_CONVS];
	uint32_t nconv;
	size_t total[MAX_CONVS]; /* bytes this side sends on each conversation */
	size_t sent[MAX_CONVS];
	size_t recvd[MAX_CONVS];
	size_t expect[MAX_CONVS]; /* bytes this side must receive */
	uint64_t bad_bytes, unknown_conv;
	uint64_t now;
	uint64_t outputs;	       /* datagrams handed to output */
	struct ferry_sockaddr last_to; /* where the last one went */
	/* datagram channel */
	uint64_t dg_rx, dg_bad, dg_first_rx_ms;
	uint32_t dg_seen[4096];
	/* multiplexing evidence: a payload carrying segments of two conversations */
	uint64_t last_payload, shared_payloads;
	uint32_t last_conv;
	enum ferry_link_state states[16];
	uint32_t nstates;
	bool passive; /* starts without the peer's address: learns it from an initiation */
	struct ferry_arq_config arq_cfg;
	struct ferry_noise_config noise_cfg;
	struct ferry_link_config link_cfg;
};

struct world {
	struct ferry_vnet vn;
	struct side s[2];
	/* taps on A's output: hold back (for reordering) and capture copies */
	size_t held_len[MAX_HOLD];
	size_t captured_len;
	uint64_t misaddressed;
	uint32_t nheld;
	uint8_t held[MAX_HOLD][FERRY_VNET_MAX_DGRAM];
	uint8_t captured[FERRY_VNET_MAX_DGRAM];
	bool hold;
	bool capture;
	bool drop_misaddressed; /* B->A datagrams not sent to A's current address vanish */
};

static struct world W;

static uint8_t pattern(uint32_t conv, size_t off)
{
	return (uint8_t)((size_t)conv * 131u + off * 7u + (off >> 9) + 1u);
}

static void addr_set(struct ferry_sockaddr *a, const char *ip, uint16_t port)
{
	ck_assert_int_eq(ferry_sockaddr_from(a, ip, port), 0);
}

static bool addr_same(const struct ferry_sockaddr *a, const struct ferry_sockaddr *b)
{
	return a->in4.sin_addr.s_addr == b->in4.sin_addr.s_addr &&
	       a->in4.sin_port == b->in4.sin_port;
}

/* ------------------------------- callbacks --------------------------------------- */

static void on_output(void *ctx, const uint8_t *msg, size_t len, const struct ferry_sockaddr *to)
{
	struct side *s = ctx;
	struct world *w = s->w;

	s->outputs++;
	s->last_to = *to;
	if (s->id == 0 && w->capture && msg[0] == FERRY_MSG_DATA && len > 200 && !w->captured_len) {
		memcpy(w->captured, msg, len);
		w->captured_len = len;
	}
	if (s->id == 0 && w->hold && msg[0] == FERRY_MSG_DATA && w->nheld < MAX_HOLD) {
		memcpy(w->held[w->nheld], msg, len);
		w->held_len[w->nheld++] = len;
		return;
	}
	if (s->id == 1 && !addr_same(to, &w->s[0].addr)) {
		w->misaddressed++;
		if (w->drop_misaddressed)
			return;
	}
	ck_assert_int_eq(
	    ferry_vnet_send(&w->vn, s->id == 0 ? FERRY_VNET_A2B : FERRY_VNET_B2A, msg, len), 0);
}

static int find_conv(const struct side *s, uint32_t conv)
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
	struct side *s = ctx;
	int i = find_conv(s, conv);

	if (link->stats.payloads_in == s->last_payload && conv != s->last_conv)
		s->shared_payloads++;
	s->last_payload = link->stats.payloads_in;
	s->last_conv = conv;
	if (i < 0) {
		s->unknown_conv++;
		return;
	}
	ferry_arq_input(s->arq[i], segs, len, now);
}

static void on_datagram(void *ctx, struct ferry_link *link, uint32_t flow_id, const uint8_t *data,
			size_t len, uint64_t now)
{
	struct side *s = ctx;
	size_t i;

	(void)link;
	if (flow_id >= 4096) {
		s->dg_bad++;
		return;
	}
	for (i = 0; i < len; i++)
		if (data[i] != pattern(flow_id, i))
			s->dg_bad++;
	if (!s->dg_rx)
		s->dg_first_rx_ms = now;
	s->dg_seen[flow_id]++;
	s->dg_rx++;
}

static void on_state(void *ctx, struct ferry_link *link, enum ferry_link_state state)
{
	struct side *s = ctx;

	(void)link;
	if (s->nstates < 16)
		s->states[s->nstates++] = state;
}

static int arq_out(void *ctx, const uint8_t *d, size_t len)
{
	struct side *s = ctx;

	return ferry_link_send_segments(&s->link, d, len, s->now);
}

static void deliver(void *ctx, enum ferry_vnet_dir dir, const uint8_t *data, size_t len,
		    uint64_t now)
{
	static uint8_t storage[FERRY_VNET_MAX_DGRAM + 64];
	struct world *w = ctx;
	struct side *from = &w->s[dir == FERRY_VNET_A2B ? 0 : 1];
	struct side *to = &w->s[dir == FERRY_VNET_A2B ? 1 : 0];
	struct ferry_buf buf = {.head = storage, .end = storage + sizeof(storage)};

	if (!to->active)
		return;
	buf.data = storage + 64;
	buf.len = (uint32_t)len;
	memcpy(buf.data, data, len);
	to->now = now;
	ferry_link_set_input(&to->set, &buf, &from->addr, now);
}

/* ------------------------------- set-up ------------------------------------------- */

static void side_defaults(struct side *s)
{
	ck_assert_int_eq(ferry_arq_config_init(&s->arq_cfg, FERRY_ARQ_PROFILE_FAST3), 0);
	s->arq_cfg.snd_wnd = 256;
	s->arq_cfg.rcv_wnd = 512;
	s->arq_cfg.snd_queue_max = 256;
	s->arq_cfg.dead_time = 0;
	memset(&s->noise_cfg, 0, sizeof(s->noise_cfg));
	memset(&s->link_cfg, 0, sizeof(s->link_cfg));
}

/* Starts (or restarts) a side: its set, its link to the other side, its ARQ pool. */
static void side_start(struct side *s, uint64_t now)
{
	struct side *o = &s->w->s[1 - s->id];
	struct ferry_link_set_config sc = {
	    .now = now,
	    .realtime_ns = REALTIME0 + now * 1000000ULL,
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
	bufs = MAX_CONVS *
	       (2 * s->arq_cfg.snd_wnd + s->arq_cfg.snd_queue_max + s->arq_cfg.rcv_wnd + 8);
	ck_assert_int_eq(ferry_pool_init(&s->arq_pool, bufs, s->arq_cfg.mtu - 24, 32), 0);
	s->nconv = 0;
	s->active = true;
}

static void conv_close_all(struct side *s)
{
	uint32_t i;

	for (i = 0; i < s->nconv; i++) {
		ferry_arq_destroy(s->arq[i]);
		s->arq[i] = NULL;
	}
	s->nconv = 0;
}

static void side_stop(struct side *s)
{
	if (!s->active)
		return;
	conv_close_all(s);
	ferry_link_set_destroy(&s->set); /* destroys the link too */
	ferry_ck_pool_idle(&s->arq_pool);
	ferry_pool_destroy(&s->arq_pool);
	s->active = false;
}

/* Adds conversation conv on side s: it sends `send` bytes and expects `expect`. */
static void conv_open(struct side *s, uint32_t conv, size_t send, size_t expect)
{
	uint32_t i = s->nconv++;

	ck_assert_uint_lt(i, MAX_CONVS);
	ck_assert_int_eq(ferry_arq_create(&s->arq[i], conv, &s->arq_cfg, &s->arq_pool, arq_out, s),
			 0);
	s->conv_id[i] = conv;
	s->total[i] = send;
	s->sent[i] = s->recvd[i] = 0;
	s->expect[i] = expect;
}

/* Both sides open `n` conversations: A sends a_bytes on each, B sends b_bytes. */
static void convs_open(struct world *w, uint32_t first, uint32_t n, size_t a_bytes, size_t b_bytes)
{
	uint32_t i;

	for (i = 0; i < n; i++) {
		conv_open(&w->s[0], first + i, a_bytes, b_bytes);
		conv_open(&w->s[1], first + i, b_bytes, a_bytes);
	}
}

static void world_init(struct world *w, uint64_t seed, const struct ferry_vnet_link *a2b,
		       const struct ferry_vnet_link *b2a)
{
	int i;

	memset(w, 0, sizeof(*w));
	ck_assert_int_eq(ferry_vnet_init(&w->vn, seed, 1000, a2b, b2a, 16384, deliver, w), 0);
	for (i = 0; i < 2; i++) {
		w->s[i].w = w;
		w->s[i].id = i;
		ck_assert_int_eq(ferry_noise_keygen(w->s[i].priv, w->s[i].pub), 0);
		side_defaults(&w->s[i]);
	}
	addr_set(&w->s[0].addr, "127.0.0.1", 5001);
	addr_set(&w->s[1].addr, "127.0.0.2", 5002);
}

static void world_start(struct world *w)
{
	side_start(&w->s[0], w->vn.now);
	side_start(&w->s[1], w->vn.now);
}

static void world_destroy(struct world *w)
{
	side_stop(&w->s[0]);
	side_stop(&w->s[1]);
	ferry_vnet_destroy(&w->vn);
}

/* ------------------------------- event loop --------------------------------------- */

static uint64_t min64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static bool side_done(const struct side *s)
{
	uint32_t i;

	for (i = 0; i < s->nconv; i++)
		if (s->recvd[i] < s->expect[i] || s->sent[i] < s->total[i] ||
		    ferry_arq_pending(s->arq[i]))
			return false;
	return true;
}

/* One turn of each side's event loop at now; returns the side's next deadline. */
static uint64_t side_turn(struct side *s, uint64_t now)
{
	static uint8_t rbuf[65536];
	uint64_t next = UINT64_MAX;
	bool congested;
	uint32_t i;

	if (!s->active)
		return UINT64_MAX;
	s->now = now;
	for (i = 0; i < s->nconv; i++) {
		while (s->sent[i] < s->total[i]) {
			size_t n = s->total[i] - s->sent[i], k;
			uint8_t *p = rbuf;
			ssize_t r;

			n = n < sizeof(rbuf) ? n : sizeof(rbuf);
			for (k = 0; k < n; k++)
				p[k] = pattern(s->conv_id[i], s->sent[i] + k);
			r = ferry_arq_send(s->arq[i], p, n);
			if (r <= 0)
				break;
			s->sent[i] += (size_t)r;
		}
	}
	for (i = 0; i < s->nconv; i++) {
		congested = ferry_link_congested(&s->link);
		if (!congested) {
			ferry_arq_update(s->arq[i], now);
			next = min64(next, ferry_arq_next_deadline(s->arq[i], now));
		}
	}
	for (i = 0; i < s->nconv; i++) {
		ssize_t r;

		while ((r = ferry_arq_recv(s->arq[i], rbuf, sizeof(rbuf))) > 0) {
			size_t k;

			for (k = 0; k < (size_t)r; k++)
				if (rbuf[k] != pattern(s->conv_id[i], s->recvd[i] + k))
					s->bad_bytes++;
			s->recvd[i] += (size_t)r;
		}
	}
	ferry_link_flush(&s->link, now);
	if (ferry_link_next_deadline(&s->link, now) <= now) {
		ferry_link_timer(&s->link, now);
		/* after the timer nothing is overdue: the loop never spins on a link */
		ck_assert_uint_gt(ferry_link_next_deadline(&s->link, now), now);
	}
	return min64(next, ferry_link_next_deadline(&s->link, now));
}

/* Runs both loops until both sides are done (or `until` virtual ms). */
static bool world_run(struct world *w, uint64_t until, bool stop_when_done)
{
	uint32_t steps;

	for (steps = 0; steps < STEP_LIMIT; steps++) {
		uint64_t now = w->vn.now, next;

		next = min64(side_turn(&w->s[0], now), side_turn(&w->s[1], now));
		if (stop_when_done && side_done(&w->s[0]) && side_done(&w->s[1]))
			return true;
		next = min64(next, ferry_vnet_next_event(&w->vn));
		if (next >= until) {
			ferry_vnet_advance(&w->vn, until);
			side_turn(&w->s[0], until);
			side_turn(&w->s[1], until);
			return stop_when_done ? side_done(&w->s[0]) && side_done(&w->s[1]) : true;
		}
		ferry_vnet_advance(&w->vn, next > now ? next : now);
	}
	ck_abort_msg("event loop did not settle in %u steps", STEP_LIMIT);
	return false;
}

static void check_streams(const struct side *s)
{
	uint32_t i;

	ck_assert_uint_eq(s->bad_bytes, 0);
	for (i = 0; i < s->nconv; i++)
		ck_assert_uint_eq(s->recvd[i], s->expect[i]);
}

static uint64_t retransmits(const struct side *s)
{
	struct ferry_arq_stats st;
	uint64_t n = 0;
	uint32_t i;

	for (i = 0; i < s->nconv; i++) {
		ferry_arq_stats(s->arq[i], &st);
		n += st.segs_rto + st.segs_fast;
	}
	return n;
}

static uint64_t segs_sent(const struct side *s)
{
	struct ferry_arq_stats st;
	uint64_t n = 0;
	uint32_t i;

	for (i = 0; i < s->nconv; i++) {
		ferry_arq_stats(s->arq[i], &st);
		n += st.segs_sent;
	}
	return n;
}

/* Hands a copy of msg to side s as if it came from `from`; returns the link's verdict. */
static int inject(struct side *s, const uint8_t *msg, size_t len, const struct ferry_sockaddr *from)
{
	static uint8_t storage[FERRY_VNET_MAX_DGRAM + 64];
	struct ferry_buf buf = {.head = storage, .end = storage + sizeof(storage)};

	buf.data = storage + 64;
	buf.len = (uint32_t)len;
	memcpy(buf.data, msg, len);
	s->now = s->w->vn.now;
	return ferry_link_set_input(&s->set, &buf, from, s->w->vn.now);
}

/* Runs a short transfer so both sides hold a confirmed session. */
static void world_warm(struct world *w)
{
	convs_open(w, CONV_BASE, 1, 64 << 10, 16 << 10);
	ck_assert(world_run(w, w->vn.now + 20 * SEC, true));
	check_streams(&w->s[0]);
	check_streams(&w->s[1]);
}

/* Queues a datagram of len pattern bytes on flow on side s. */
static int send_dg(struct side *s, uint32_t flow, size_t len)
{
	uint8_t d[1500];
	size_t k;

	for (k = 0; k < len && k < sizeof(d); k++)
		d[k] = pattern(flow, k);
	return ferry_link_send_datagram(&s->link, flow, d, len, s->w->vn.now);
}

/* ------------------------------- tests -------------------------------------------- */

/* Handshake, then four conversations A->B and two B->A at once, byte-exact; ACK-only
 * records of several conversations share payloads. */
START_TEST(handshake_and_parallel_conversations)
{
	struct ferry_vnet_link l = {.delay_ms = 10, .jitter_ms = 1, .rate = 30000000};
	struct ferry_link_stats sa, sb;
	struct world *w = &W;

	world_init(w, 1, &l, &l);
	world_start(w);
	ck_assert_int_eq(ferry_link_state(&w->s[0].link), FERRY_LINK_DOWN);
	convs_open(w, CONV_BASE, 4, 3 << 20, 0);
	convs_open(w, CONV_BASE + 10, 2, 0, 1 << 20);
	ck_assert(world_run(w, w->vn.now + 60 * SEC, true));
	check_streams(&w->s[0]);
	check_streams(&w->s[1]);
	ck_assert_int_eq(ferry_link_state(&w->s[0].link), FERRY_LINK_UP);
	ck_assert_int_eq(ferry_link_state(&w->s[1].link), FERRY_LINK_UP);
	ferry_link_stats(&w->s[0].link, &sa);
	ferry_link_stats(&w->s[1].link, &sb);
	/* both had data at once: both initiated, exactly one handshake completed */
	ck_assert_uint_eq(sa.initiations_out, 1);
	ck_assert_uint_eq(sb.initiations_out, 1);
	ck_assert_uint_eq(sa.responses_out + sb.responses_out, 1);
	ck_assert_uint_eq(sa.crossed_initiations + sb.crossed_initiations, 1);
	ck_assert_uint_gt(sa.wait_queued, 0); /* the first payloads waited for the session */
	ck_assert_uint_gt(w->s[0].shared_payloads + w->s[1].shared_payloads, 0);
	ck_assert_uint_gt(sa.records_out[FERRY_REC_ARQ], sa.payloads_out); /* packing */
	ck_assert_uint_eq(sa.seal_errors + sb.seal_errors, 0);
	ck_assert_uint_eq(sb.records_unknown + sb.records_malformed + sb.arq_malformed, 0);
	ck_assert_uint_eq(w->s[0].unknown_conv + w->s[1].unknown_conv, 0);
	/* lossless but jittered: every payload arrives exactly once (some late ones were
	 * already rebuilt from parity, and are then duplicates to the FEC decoder) */
	ck_assert_uint_eq(sb.payloads_in, sa.payloads_out - sa.wait_dropped);
	ck_assert_uint_eq(sb.fec_dec.data_in + sb.fec_dec.recovered, sa.fec_enc.data_out);
	printf("parallel: A out %llu dgrams (%llu data, %llu parity), %llu records in %llu "
	       "payloads; payloads with segments of 2+ conversations: A %llu, B %llu\n",
	       (unsigned long long)sa.dgrams_out, (unsigned long long)sa.data_out,
	       (unsigned long long)sa.parity_out, (unsigned long long)sa.records_out[FERRY_REC_ARQ],
	       (unsigned long long)sa.payloads_out, (unsigned long long)w->s[0].shared_payloads,
	       (unsigned long long)w->s[1].shared_payloads);
	world_destroy(w);
}
END_TEST

/*
 * The acceptance figure. "Lost data datagrams" are data shards the sender sealed
 * and handed to the network (A's FEC encoder data_out, nothing dropped before the wire)
 * that never reached B's FEC decoder (B's data_in): parity shards, keepalives and
 * handshakes are not counted. The link has no jitter or reordering, so a shard counted
 * lost really was lost (with reordering, a late shard already rebuilt from parity would
 * count as lost and as recovered: see the parallel test). FEC must rebuild at least 95%
 * of them (B's decoder `recovered`), and the ARQ retransmits only what FEC could not.
 * The counters are taken after a warm-up transfer (whose first payloads wait for the
 * handshake), as differences.
 */
#define FEC_BYTES (50u << 20) /* the 50 MB, also under ASan (about 10 s there) */

START_TEST(fec_recovers_95_percent)
{
	struct ferry_vnet_link l = {.delay_ms = 25, .loss = 0.05};
	struct ferry_link_stats sa, sb, base_a, base_b;
	struct world *w = &W;
	uint64_t lost_ab, lost_ba, rtx;
	double ratio_ab, ratio_ba;

	world_init(w, 7, &l, &l);
	world_start(w);
	world_warm(w); /* the session is up: no payload waits for it */
	conv_close_all(&w->s[0]);
	conv_close_all(&w->s[1]);
	ferry_link_stats(&w->s[0].link, &base_a);
	ferry_link_stats(&w->s[1].link, &base_b);
	convs_open(w, CONV_BASE + 1, 4, FEC_BYTES / 4, 0);
	ck_assert(world_run(w, w->vn.now + 600 * SEC, true));
	check_streams(&w->s[1]);
	ck_assert(world_run(w, w->vn.now + SEC, false)); /* the last groups' parity lands */
	ferry_link_stats(&w->s[0].link, &sa);
	ferry_link_stats(&w->s[1].link, &sb);
	ck_assert_uint_eq(sa.seal_errors + sa.pacer_dropped + sa.pool_empty, 0);
	ck_assert_uint_eq(w->vn.count[0].dropped_queue + w->vn.count[0].dropped_capacity, 0);
	sa.fec_enc.data_out -= base_a.fec_enc.data_out;
	sa.fec_dec.data_in -= base_a.fec_dec.data_in;
	sa.fec_dec.recovered -= base_a.fec_dec.recovered;
	sb.fec_enc.data_out -= base_b.fec_enc.data_out;
	sb.fec_dec.data_in -= base_b.fec_dec.data_in;
	sb.fec_dec.recovered -= base_b.fec_dec.recovered;
	sb.fec_dec.unrecovered -= base_b.fec_dec.unrecovered;
	lost_ab = sa.fec_enc.data_out - sb.fec_dec.data_in;
	lost_ba = sb.fec_enc.data_out - sa.fec_dec.data_in;
	ck_assert_uint_gt(lost_ab, 0);
	ratio_ab = (double)sb.fec_dec.recovered / (double)lost_ab;
	ratio_ba = lost_ba ? (double)sa.fec_dec.recovered / (double)lost_ba : 1.0;
	rtx = retransmits(&w->s[0]);
	printf("fec (10,3), 50 ms RTT, 5%% loss, %u MB A->B in %.1f s virtual:\n"
	       "  A->B: %llu data shards sent, %llu lost (vnet lost %llu datagrams of all kinds), "
	       "%llu recovered by FEC = %.2f%%, %llu groups unrecovered\n"
	       "  B->A: %llu data shards sent, %llu lost, %llu recovered = %.2f%%\n"
	       "  ARQ retransmissions by A: %llu segments (of %llu data segments sent)\n",
	       FEC_BYTES >> 20, (double)(w->vn.now - 1000) / 1000.0,
	       (unsigned long long)sa.fec_enc.data_out, (unsigned long long)lost_ab,
	       (unsigned long long)w->vn.count[0].dropped_loss,
	       (unsigned long long)sb.fec_dec.recovered, 100.0 * ratio_ab,
	       (unsigned long long)sb.fec_dec.unrecovered, (unsigned long long)sb.fec_enc.data_out,
	       (unsigned long long)lost_ba, (unsigned long long)sa.fec_dec.recovered,
	       100.0 * ratio_ba, (unsigned long long)rtx, (unsigned long long)segs_sent(&w->s[0]));
	fflush(stdout);
	ck_assert_msg(ratio_ab >= 0.95, "A->B recovered %.2f%% of lost data shards",
		      100.0 * ratio_ab);
	/* B->A (ACKs) loses a few dozen shards: too few for a percentage on its own */
	ck_assert_msg((double)(sb.fec_dec.recovered + sa.fec_dec.recovered) /
			      (double)(lost_ab + lost_ba) >=
			  0.95,
		      "both ways recovered %.2f%% of lost data shards",
		      100.0 * (double)(sb.fec_dec.recovered + sa.fec_dec.recovered) /
			  (double)(lost_ab + lost_ba));
	/* what FEC did not rebuild is all the ARQ had to resend, give or take spurious RTOs */
	ck_assert_uint_le(rtx, 4 * (lost_ab - sb.fec_dec.recovered) + lost_ab / 20 + 20);
	world_destroy(w);
}
END_TEST

START_TEST(hostile_datagrams_dropped_silently)
{
	struct ferry_vnet_link l = {.delay_ms = 5};
	struct ferry_noise_stats *nb;
	struct ferry_sockaddr evil;
	struct world *w = &W;
	struct side *b = &w->s[1];
	uint8_t msg[FERRY_VNET_MAX_DGRAM], c_priv[32], c_pub[32];
	uint64_t outputs, before;
	size_t len;
	uint32_t i;

	world_init(w, 3, &l, &l);
	world_start(w);
	world_warm(w);
	nb = &b->set.noise.stats;
	addr_set(&evil, "127.0.0.66", 6666);

	/* capture one data message that B also receives normally */
	w->capture = true;
	ck_assert_int_eq(send_dg(&w->s[0], 1, 1), 0);
	ck_assert_int_eq(send_dg(&w->s[0], 2, 0), 0);
	ck_assert_int_eq(send_dg(&w->s[0], 3, 600), 0);
	ck_assert(world_run(w, w->vn.now + 1 * SEC, false));
	w->capture = false;
	ck_assert_uint_gt(w->captured_len, 0);
	ck_assert_uint_eq(b->dg_seen[3], 1);
	outputs = b->outputs;

	/* replayed: the exact datagram again */
	before = nb->data_replayed;
	ck_assert_int_eq(inject(b, w->captured, w->captured_len, &w->s[0].addr), -EALREADY);
	ck_assert_uint_eq(nb->data_replayed, before + 1);
	ck_assert_uint_eq(b->dg_seen[3], 1);

	/* tampered: fresh datagrams (held back from the network) with one bit flipped in the
	 * header, the ciphertext or the tag, and one cut a tag's worth short: none opens,
	 * and the untouched originals still do afterwards (nothing was burnt) */
	w->hold = true;
	w->nheld = 0;
	for (i = 0; i < 4; i++) {
		uint8_t d[300];

		for (len = 0; len < sizeof(d); len++)
			d[len] = pattern(40 + i, len);
		ck_assert_int_eq(
		    ferry_link_send_datagram(&w->s[0].link, 40 + i, d, sizeof(d), w->vn.now), 0);
		ferry_link_flush(&w->s[0].link, w->vn.now);
	}
	w->hold = false;
	ck_assert_uint_eq(w->nheld, 4);
	for (i = 0; i < 4; i++) {
		size_t at = i == 0 ? 9 : i == 1 ? 40 : w->held_len[i] - 3;

		memcpy(msg, w->held[i], w->held_len[i]);
		msg[at] ^= 0x20;
		before = nb->data_auth_failed;
		ck_assert_int_eq(
		    inject(b, msg, i == 3 ? w->held_len[i] - 16 : w->held_len[i], &w->s[0].addr),
		    -EBADMSG);
		ck_assert_uint_eq(nb->data_auth_failed, before + 1);
	}
	for (i = 0; i < 4; i++) {
		ck_assert_int_eq(inject(b, w->held[i], w->held_len[i], &w->s[0].addr), 0);
		ck_assert_uint_eq(b->dg_seen[40 + i], 1);
	}
	w->nheld = 0;
	/* truncated below the header, and shorter than any message */
	before = nb->data_malformed;
	ck_assert_int_eq(inject(b, w->captured, 20, &w->s[0].addr), -EPROTO);
	ck_assert_uint_eq(nb->data_malformed, before + 1);
	before = b->set.stats.malformed;
	ck_assert_int_eq(inject(b, w->captured, 3, &w->s[0].addr), -EPROTO);
	msg[0] = 9;
	ck_assert_int_eq(inject(b, msg, 100, &w->s[0].addr), -EPROTO);
	ck_assert_uint_eq(b->set.stats.malformed, before + 2);

	/* foreign: a third party C with its own key, known to nobody, that knows B's key */
	{
		struct ferry_noise_config nc = {0};
		struct ferry_noise_local c;
		struct ferry_noise_peer cp;
		uint8_t init[FERRY_MSG_INITIATION_LEN];

		ck_assert_int_eq(ferry_noise_keygen(c_priv, c_pub), 0);
		memcpy(nc.static_private, c_priv, 32);
		ck_assert_int_eq(ferry_noise_local_init(&c, &nc), 0);
		ck_assert_int_eq(ferry_noise_peer_init(&c, &cp, b->pub, NULL), 0);
		ck_assert_int_eq(ferry_noise_create_initiation(&cp, w->vn.now, REALTIME0, init), 0);
		before = nb->hs_unknown;
		ck_assert_int_eq(inject(b, init, sizeof(init), &evil), -ENOENT);
		ck_assert_uint_eq(nb->hs_unknown, before + 1);
		ferry_noise_local_destroy(&c);
	}
	/* foreign data: a receiver index nobody handed out */
	memcpy(msg, w->captured, w->captured_len);
	msg[4] ^= 0xff;
	msg[5] ^= 0x5a;
	before = nb->data_unknown_index;
	ck_assert_int_eq(inject(b, msg, w->captured_len, &evil), -ENOENT);
	ck_assert_uint_eq(nb->data_unknown_index, before + 1);

	/* nothing of this got a reply, and the endpoint did not move */
	ck_assert_uint_eq(b->outputs, outputs);
	ck_assert(addr_same(&b->link.endpoint, &w->s[0].addr));
	ck_assert_uint_eq(b->link.stats.roams, 0);
	ck_assert_uint_gt(b->set.stats.data_dropped, 0);
	ck_assert_uint_gt(b->set.stats.handshake_dropped, 0);

	/* reordered: held-back datagrams delivered newest first are all accepted */
	w->hold = true;
	for (i = 0; i < 4; i++) {
		uint8_t d[100];

		memset(d, 0, sizeof(d));
		for (len = 0; len < sizeof(d); len++)
			d[len] = pattern(10 + i, len);
		ck_assert_int_eq(
		    ferry_link_send_datagram(&w->s[0].link, 10 + i, d, sizeof(d), w->vn.now), 0);
		ferry_link_flush(&w->s[0].link, w->vn.now);
	}
	w->hold = false;
	ck_assert_uint_eq(w->nheld, 4);
	for (i = 4; i-- > 0;)
		ck_assert_int_eq(inject(b, w->held[i], w->held_len[i], &w->s[0].addr), 0);
	for (i = 0; i < 4; i++)
		ck_assert_uint_eq(b->dg_seen[10 + i], 1);
	ck_assert_uint_eq(b->dg_bad, 0);

	/* stale: once more than the replay window has passed, a held datagram is refused */
	w->hold = true;
	w->nheld = 0;
	ck_assert_int_eq(send_dg(&w->s[0], 20, 1), 0);
	ferry_link_flush(&w->s[0].link, w->vn.now);
	w->hold = false;
	ck_assert_uint_eq(w->nheld, 1);
	for (i = 0; i < FERRY_REPLAY_WINDOW + 64; i++) {
		ck_assert_int_eq(ferry_link_send_datagram(&w->s[0].link, 21, NULL, 0, w->vn.now),
				 0);
		ferry_link_flush(&w->s[0].link, w->vn.now);
		if (i % 512 == 0)
			ck_assert(world_run(w, w->vn.now + 10, false));
	}
	ck_assert(world_run(w, w->vn.now + SEC, false));
	before = nb->data_replayed;
	i = b->dg_seen[20]; /* 1: its group's parity rebuilt it meanwhile */
	ck_assert_int_eq(inject(b, w->held[0], w->held_len[0], &w->s[0].addr), -ESTALE);
	ck_assert_uint_eq(nb->data_replayed, before + 1);
	ck_assert_uint_eq(b->dg_seen[20], i);
	world_destroy(w);
}
END_TEST

/* A tiny rekey_after_messages forces several handshakes mid-transfer over a lossless
 * link: no byte, datagram or session is lost, and the ARQ never has to retransmit. */
START_TEST(rekey_mid_transfer_loses_nothing)
{
	struct ferry_vnet_link l = {.delay_ms = 15, .rate = 20000000};
	struct ferry_link_stats sa, sb;
	struct world *w = &W;

	world_init(w, 11, &l, &l);
	w->s[0].noise_cfg.rekey_after_messages = 1500;
	w->s[1].noise_cfg.rekey_after_messages = 1500;
	world_start(w);
	world_warm(w);
	conv_close_all(&w->s[0]);
	conv_close_all(&w->s[1]);
	convs_open(w, CONV_BASE + 1, 3, 4 << 20, 256 << 10);
	ck_assert(world_run(w, w->vn.now + 120 * SEC, true));
	check_streams(&w->s[0]);
	check_streams(&w->s[1]);
	ferry_link_stats(&w->s[0].link, &sa);
	ferry_link_stats(&w->s[1].link, &sb);
	printf("rekey: A initiated %llu handshakes, B %llu (%llu crossed); A sent %llu data "
	       "shards, B decoded %llu\n",
	       (unsigned long long)sa.initiations_out, (unsigned long long)sb.initiations_out,
	       (unsigned long long)sa.crossed_initiations + sb.crossed_initiations,
	       (unsigned long long)sa.data_out, (unsigned long long)sb.fec_dec.data_in);
	fflush(stdout);
	ck_assert_uint_ge(sa.initiations_out, 4);
	ck_assert_uint_eq(sb.fec_dec.data_in, sa.fec_enc.data_out);
	ck_assert_uint_eq(sa.fec_dec.data_in, sb.fec_enc.data_out);
	ck_assert_uint_eq(w->s[1].set.noise.stats.data_unknown_index, 0);
	ck_assert_uint_eq(w->s[1].set.noise.stats.data_expired, 0);
	ck_assert_uint_eq(w->s[0].set.noise.stats.data_unknown_index, 0);
	ck_assert_uint_eq(sa.seal_errors + sb.seal_errors + sa.wait_dropped + sb.wait_dropped, 0);
	ck_assert_uint_eq(retransmits(&w->s[0]) + retransmits(&w->s[1]), 0);
	world_destroy(w);
}
END_TEST

/* The responder restarts (same key, new process): the initiator's old session is gone on
 * the other side, its data goes unanswered, it re-handshakes and new conversations work.
 * Then the initiator restarts, and initiates at once. */
START_TEST(peer_restart_rehandshakes)
{
	struct ferry_vnet_link l = {.delay_ms = 20};
	struct world *w = &W;
	uint64_t t0;

	world_init(w, 5, &l, &l);
	world_start(w);
	world_warm(w);

	/* B restarts; A's conversations die with the flows they carried */
	conv_close_all(&w->s[0]);
	side_stop(&w->s[1]);
	ck_assert(world_run(w, w->vn.now + 2 * SEC, false));
	side_start(&w->s[1], w->vn.now);
	t0 = w->vn.now;
	convs_open(w, CONV_BASE + 1, 2, 200 << 10, 0); /* B, silent, never initiates */
	/* A's data goes unanswered; it re-initiates FERRY_LINK_REHANDSHAKE_MS later */
	ck_assert(world_run(w, t0 + FERRY_LINK_REHANDSHAKE_MS - 100, false));
	ck_assert_uint_eq(w->s[0].link.stats.initiations_out, 1);
	ck_assert(world_run(w, t0 + FERRY_LINK_REHANDSHAKE_MS + 500, false));
	ck_assert_uint_eq(w->s[0].link.stats.initiations_out, 2);
	ck_assert_int_eq(ferry_link_state(&w->s[1].link), FERRY_LINK_UP);
	ck_assert(world_run(w, w->vn.now + 120 * SEC, true));
	check_streams(&w->s[0]);
	check_streams(&w->s[1]);
	ck_assert_uint_gt(w->s[1].set.noise.stats.data_unknown_index, 0); /* the old session */
	fflush(stdout);
	printf("restart of B: re-handshake after %u ms of silence, transfer done after %.1f s "
	       "(the ARQ's backed-off RTO decides the rest)\n",
	       (unsigned)FERRY_LINK_REHANDSHAKE_MS, (double)(w->vn.now - t0) / 1000.0);

	/* A restarts: no session at all, so its first payload starts a handshake */
	conv_close_all(&w->s[1]);
	side_stop(&w->s[0]);
	ck_assert(world_run(w, w->vn.now + SEC, false));
	side_start(&w->s[0], w->vn.now);
	t0 = w->vn.now;
	convs_open(w, CONV_BASE + 5, 1, 100 << 10, 100 << 10);
	ck_assert(world_run(w, w->vn.now + 30 * SEC, true));
	check_streams(&w->s[0]);
	check_streams(&w->s[1]);
	ck_assert_uint_lt(w->vn.now - t0, 2 * SEC);
	world_destroy(w);
}
END_TEST

/* A moves to a new address mid-transfer; B's replies follow the first authenticated
 * datagram from there, and nothing unauthenticated or old can move the endpoint. */
START_TEST(roaming_follows_authenticated_datagrams)
{
	struct ferry_vnet_link l = {.delay_ms = 10};
	struct ferry_sockaddr old_addr, evil;
	struct world *w = &W;
	struct side *a = &w->s[0], *b = &w->s[1];

	world_init(w, 9, &l, &l);
	world_start(w);
	world_warm(w);
	convs_open(w, CONV_BASE + 1, 2, 2 << 20, 512 << 10);
	ck_assert(world_run(w, w->vn.now + 100, false));
	old_addr = a->addr;
	/* an authentic but older datagram, held back, will later arrive from elsewhere */
	w->hold = true;
	ck_assert_int_eq(send_dg(a, 30, 1), 0);
	ferry_link_flush(&a->link, w->vn.now);
	w->hold = false;
	ck_assert_uint_eq(w->nheld, 1);

	addr_set(&a->addr, "127.0.0.3", 6001);
	w->drop_misaddressed = true; /* the old address is gone */
	ck_assert(world_run(w, w->vn.now + 60 * SEC, true));
	check_streams(a);
	check_streams(b);
	ck_assert(addr_same(&b->link.endpoint, &a->addr));
	ck_assert(addr_same(&b->last_to, &a->addr));
	ck_assert_uint_eq(b->link.stats.roams, 1);

	/* the old datagram arrives late from the old address: accepted, endpoint unmoved */
	ck_assert_int_eq(inject(b, w->held[0], w->held_len[0], &old_addr), 0);
	ck_assert_uint_eq(b->dg_seen[30], 1);
	ck_assert(addr_same(&b->link.endpoint, &a->addr));
	/* a forged one from a third address: dropped, endpoint unmoved */
	addr_set(&evil, "127.0.0.66", 6666);
	w->held[0][30] ^= 1;
	ck_assert_int_lt(inject(b, w->held[0], w->held_len[0], &evil), 0);
	ck_assert(addr_same(&b->link.endpoint, &a->addr));
	ck_assert_uint_eq(b->link.stats.roams, 1);
	world_destroy(w);
}
END_TEST

/* The datagram channel under 5% loss: FEC restores almost everything, nothing arrives
 * twice or damaged, and a lone datagram still gets parity (the group timer). */
START_TEST(datagram_channel_under_loss)
{
	struct ferry_vnet_link l = {.delay_ms = 20, .loss = 0.05};
	struct ferry_link_stats sa;
	struct world *w = &W;
	struct side *a = &w->s[0], *b = &w->s[1];
	uint8_t d[1000];
	uint32_t i, k, n = 2000, dup = 0;

	world_init(w, 13, &l, &l);
	world_start(w);
	world_warm(w);
	for (i = 0; i < n; i++) {
		size_t len = 1 + ((size_t)i * 37) % sizeof(d);

		for (k = 0; k < len; k++)
			d[k] = pattern(i, k);
		ck_assert_int_eq(ferry_link_send_datagram(&a->link, i, d, len, w->vn.now), 0);
		if (i % 8 == 7)
			ck_assert(world_run(w, w->vn.now + 1, false));
	}
	ck_assert(world_run(w, w->vn.now + 10 * SEC, false));
	for (i = 0; i < n; i++)
		dup += b->dg_seen[i] > 1;
	ferry_link_stats(&a->link, &sa);
	printf("datagrams: %u sent, %llu delivered (%llu rebuilt by FEC), %llu still lost\n", n,
	       (unsigned long long)b->dg_rx, (unsigned long long)b->link.dec.stats.recovered,
	       (unsigned long long)(n - b->dg_rx));
	fflush(stdout);
	ck_assert_uint_eq(dup, 0);
	ck_assert_uint_eq(b->dg_bad, 0);
	ck_assert_uint_ge(b->dg_rx, (uint64_t)n * 97 / 100);
	ck_assert_uint_gt(b->link.dec.stats.recovered, 0);

	/* a lone datagram on an idle link: its group is closed by the timer, with parity */
	ck_assert_int_eq(ferry_link_send_datagram(&a->link, 4000, d, 10, w->vn.now), 0);
	ferry_link_flush(&a->link, w->vn.now);
	sa.fec_enc = a->link.enc.stats;
	ck_assert(world_run(w, w->vn.now + SEC, false));
	ck_assert_uint_gt(a->link.enc.stats.groups_short, sa.fec_enc.groups_short);
	world_destroy(w);
}
END_TEST

/* With the pacer's LOW queue full of ARQ data, a datagram still leaves first. */
START_TEST(datagram_ahead_of_saturated_pacer)
{
	struct ferry_vnet_link l = {.delay_ms = 10};
	struct world *w = &W;
	struct side *a = &w->s[0], *b = &w->s[1];
	uint64_t sent_at, window = 0;
	uint32_t depth;

	world_init(w, 17, &l, &l);
	a->link_cfg.rate = 1000000; /* 1 MB/s */
	a->link_cfg.pacer_queue = 128;
	a->link_cfg.keepalive_ms = 20; /* keepalives fall due while the pacer is saturated */
	world_start(w);
	world_warm(w);
	convs_open(w, CONV_BASE + 1, 2, 8 << 20, 0);
	/* run until the pacer holds a deep backlog of bulk data */
	while (ferry_pacer_depth(&a->link.pacer, FERRY_PACER_LOW) < 60 && window++ < 1000)
		ck_assert(world_run(w, w->vn.now + 5, false));
	depth = ferry_pacer_depth(&a->link.pacer, FERRY_PACER_LOW);
	ck_assert_uint_ge(depth, 60);
	sent_at = w->vn.now;
	b->dg_rx = 0;
	ck_assert_int_eq(send_dg(a, 77, 1), 0);
	ck_assert(world_run(w, w->vn.now + 200, false));
	ck_assert_uint_eq(b->dg_seen[77], 1);
	printf("priority: %u bulk datagrams queued (%.0f ms at the rate); the datagram arrived "
	       "after %llu ms (one-way delay 10 ms)\n",
	       depth, depth * 1450.0 / 1000.0, (unsigned long long)(b->dg_first_rx_ms - sent_at));
	ck_assert_uint_le(b->dg_first_rx_ms - sent_at, 10 + 5 + 2);
	/* and the pacer kept the rate: the vnet saw no more than rate * time + burst */
	ck_assert_uint_gt(a->link.stats.pacer_delayed, 0);
	world_destroy(w);
}
END_TEST

/* Persistent keepalives on an idle link; a peer that goes silent while we send is
 * declared dead (state callback), and comes back when the path heals. */
START_TEST(keepalive_and_dead_peer)
{
	struct ferry_vnet_link l = {.delay_ms = 10};
	struct world *w = &W;
	struct side *a = &w->s[0], *b = &w->s[1];
	uint64_t ka, t0;
	uint32_t i;
	bool saw_dead = false, saw_up_after = false;

	world_init(w, 19, &l, &l);
	a->link_cfg.keepalive_ms = 1000;
	a->link_cfg.dead_ms = 8000;
	world_start(w);
	world_warm(w);
	ka = b->link.stats.keepalives_in;
	ck_assert(world_run(w, w->vn.now + 10 * SEC, false));
	ck_assert_uint_ge(b->link.stats.keepalives_in - ka, 9);
	ck_assert_uint_le(b->link.stats.keepalives_in - ka, 11);
	ck_assert_int_eq(ferry_link_state(&a->link), FERRY_LINK_UP);

	/* the path dies in both directions while A keeps sending datagrams */
	w->vn.link[0].loss = 1.0;
	w->vn.link[1].loss = 1.0;
	t0 = w->vn.now;
	a->nstates = 0;
	for (i = 0; i < 20 && ferry_link_state(&a->link) != FERRY_LINK_DEAD; i++) {
		ck_assert_int_eq(send_dg(a, 5, 1), 0);
		ck_assert(world_run(w, w->vn.now + SEC, false));
	}
	ck_assert_int_eq(ferry_link_state(&a->link), FERRY_LINK_DEAD);
	ck_assert_uint_ge(w->vn.now - t0, 8000);
	ck_assert_uint_le(w->vn.now - t0, 8000 + 2 * SEC);
	ck_assert_uint_eq(a->link.stats.dead_events, 1);
	/* the path heals: keepalives and re-handshakes bring an answer, the link is up */
	w->vn.link[0].loss = 0;
	w->vn.link[1].loss = 0;
	ck_assert(world_run(w, w->vn.now + 30 * SEC, false));
	ck_assert_int_eq(ferry_link_state(&a->link), FERRY_LINK_UP);
	for (i = 0; i < a->nstates; i++) {
		saw_dead |= a->states[i] == FERRY_LINK_DEAD;
		saw_up_after |= saw_dead && a->states[i] == FERRY_LINK_UP;
	}
	ck_assert(saw_dead && saw_up_after);
	world_destroy(w);
}
END_TEST

/* No handshake can complete: payloads wait in a bounded queue, the excess is counted,
 * waiting ones expire, and the pool never runs dry. */
START_TEST(wait_queue_is_bounded)
{
	struct ferry_vnet_link l = {.delay_ms = 10, .loss = 1.0};
	struct world *w = &W;
	struct side *a = &w->s[0];
	uint8_t d[1000];
	uint32_t i;

	memset(d, 0xab, sizeof(d));
	world_init(w, 23, &l, &l);
	a->link_cfg.wait_queue = 16;
	world_start(w);
	for (i = 0; i < 100; i++) {
		ck_assert_int_eq(ferry_link_send_datagram(&a->link, i, d, sizeof(d), w->vn.now), 0);
		ferry_link_flush(&a->link, w->vn.now);
	}
	ck_assert_int_eq(ferry_link_state(&a->link), FERRY_LINK_HANDSHAKE);
	ck_assert_uint_eq(a->link.wait_count, 16);
	ck_assert_uint_eq(a->link.stats.wait_dropped, 100 - 16);
	ck_assert_uint_eq(a->link.stats.pool_empty, 0);
	ck_assert(world_run(w, w->vn.now + 12 * SEC, false));
	ck_assert_uint_eq(a->link.wait_count, 0);
	ck_assert_uint_eq(a->link.stats.wait_dropped, 100);
	ck_assert_uint_ge(a->link.stats.initiations_out, 2); /* retried */
	ck_assert_uint_le(a->link.stats.initiations_out, 3); /* ... every 5 s, not more */
	world_destroy(w);
}
END_TEST

/* B is under load: A's first initiation gets a cookie reply instead of a DH, its retry
 * carries the cookie (mac2) and is accepted. B starts without A's address (a server) and
 * learns it from the initiation. */
START_TEST(cookie_under_load)
{
	struct ferry_vnet_link l = {.delay_ms = 10};
	struct world *w = &W;
	struct side *a = &w->s[0], *b = &w->s[1];

	world_init(w, 31, &l, &l);
	b->passive = true;
	world_start(w);
	ck_assert_uint_eq(b->link.endpoint.len, 0);
	b->set.noise.under_load = true;
	conv_open(a, CONV_BASE, 32 << 10, 0);
	conv_open(b, CONV_BASE, 0, 32 << 10);
	ck_assert(world_run(w, w->vn.now + 30 * SEC, true));
	check_streams(b);
	ck_assert_uint_eq(b->set.stats.cookie_replies_out, 1);
	ck_assert_uint_eq(a->set.noise.stats.cookie_replies_ok, 1);
	ck_assert_uint_eq(a->link.stats.initiations_out, 2);
	ck_assert_uint_eq(b->link.stats.responses_out, 1);
	ck_assert_uint_eq(b->link.stats.initiations_out, 0);
	ck_assert(addr_same(&b->link.endpoint, &a->addr));
	ck_assert_uint_eq(b->link.stats.roams, 0); /* learning the first address is no roam */
	world_destroy(w);
}
END_TEST

START_TEST(wire_arithmetic)
{
	struct ferry_wire_sizes s;
	struct world *w = &W;

	ck_assert_int_eq(ferry_wire_sizes(&s, 1500, FERRY_WIRE_IPV4_HDR), 0);
	ck_assert_uint_eq(s.udp_payload, 1472);
	ck_assert_uint_eq(s.shard, 1440);
	ck_assert_uint_eq(s.payload, 1430);
	ck_assert_uint_eq(s.record_body, 1427);
	ck_assert_uint_eq(s.datagram, 1423);
	ck_assert_int_eq(ferry_wire_sizes(&s, 1500, FERRY_WIRE_IPV6_HDR), 0);
	ck_assert_uint_eq(s.record_body, 1407);
	ck_assert_uint_eq(ferry_wire_arq_mtu(1500), 1407);
	ck_assert_uint_eq(ferry_wire_arq_mtu(100), 0);
	ck_assert_int_eq(ferry_wire_sizes(&s, 1500, 30), -EINVAL);
	ck_assert_int_eq(ferry_wire_sizes(&s, 9001, 20), -EINVAL);

	/* a full ARQ datagram becomes a UDP datagram of exactly the path MTU's payload */
	world_init(w, 29, &(struct ferry_vnet_link){0}, &(struct ferry_vnet_link){0});
	world_start(w);
	world_warm(w);
	{
		uint8_t segs[1407];
		struct ferry_arq_seg h = {.conv = 9, .cmd = FERRY_ARQ_CMD_PUSH, .len = 1407 - 24};
		uint64_t bytes = w->s[0].link.stats.bytes_out;

		memset(segs, 0, sizeof(segs));
		ck_assert_int_eq(ferry_arq_seg_encode(segs, sizeof(segs), &h, segs + 24), 1407);
		ck_assert_int_eq(ferry_link_send_segments(&w->s[0].link, segs, 1407, w->vn.now), 0);
		ck_assert_int_eq(ferry_link_send_segments(&w->s[0].link, segs, 1408, w->vn.now),
				 -EMSGSIZE);
		ferry_link_flush(&w->s[0].link, w->vn.now);
		ck_assert_uint_eq(w->s[0].link.stats.bytes_out - bytes, 1500 - 40 - 8);
		ck_assert_uint_eq(ferry_link_datagram_max(&w->s[0].link), 1403);
		/* a small datagram (HIGH) and a small data segment (LOW) in one turn: at the
		 * flush they leave as one datagram */
		bytes = w->s[0].link.stats.data_out;
		h.len = 100;
		ck_assert_int_eq(ferry_arq_seg_encode(segs, sizeof(segs), &h, segs + 24), 124);
		ck_assert_int_eq(ferry_link_send_segments(&w->s[0].link, segs, 124, w->vn.now), 0);
		ck_assert_int_eq(send_dg(&w->s[0], 9, 200), 0);
		ferry_link_flush(&w->s[0].link, w->vn.now);
		ck_assert_uint_eq(w->s[0].link.stats.data_out - bytes, 1); /* (parity aside) */
		ck_assert_uint_eq(w->s[0].link.stats.payloads_merged, 1);
		ck_assert_int_eq(ferry_link_send_datagram(&w->s[0].link, 1, segs, 1404, w->vn.now),
				 -EMSGSIZE);
	}
	world_destroy(w);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("link");
	TCase *tc = ferry_tcase("link", 120);

	tcase_add_test(tc, wire_arithmetic);
	tcase_add_test(tc, handshake_and_parallel_conversations);
	tcase_add_test(tc, fec_recovers_95_percent);
	tcase_add_test(tc, hostile_datagrams_dropped_silently);
	tcase_add_test(tc, rekey_mid_transfer_loses_nothing);
	tcase_add_test(tc, peer_restart_rehandshakes);
	tcase_add_test(tc, roaming_follows_authenticated_datagrams);
	tcase_add_test(tc, datagram_channel_under_loss);
	tcase_add_test(tc, datagram_ahead_of_saturated_pacer);
	tcase_add_test(tc, keepalive_and_dead_peer);
	tcase_add_test(tc, wait_queue_is_bounded);
	tcase_add_test(tc, cookie_under_load);
	suite_add_tcase(s, tc);
	return ferry_run_suite(s);
}
