// SPDX-License-Identifier: MIT
/*
 * The stream-mode calls a flow's framing is built on: ferry_arq_send_space (how much
 * ferry_arq_send takes now), ferry_arq_peek and ferry_arq_consume (reading in place).
 *
 * send_space is checked against what send then accepts: the partial tail's room plus the
 * send queue's, bounded by the pool's free buffers, 0 once the conversation failed. peek
 * must show the head's contiguous bytes without taking them; consume takes part of a
 * segment or several, returning each emptied buffer to the pool; consuming from a full
 * receive window must be followed by a window announcement, so the sender is not left
 * waiting for its probe; PUSH segments without bytes are skipped (and freed) by peek.
 *
 * Two conversations are wired back to back in memory: each one's output lands in a
 * capture of tests/support/arqrig.h, and pump() hands the captured datagrams to the other
 * end until neither has anything to send, all at one instant (no loss, no timers). A
 * conversation alone is driven with segments written by ferry_arqrig_seg. MSS is 100
 * bytes (mtu 124) throughout, so the arithmetic reads plainly.
 */
#include <errno.h>
#include <string.h>

#include "tests/support/arqrig.h"
#include "tests/support/fixture.h"
#include "transport/arq.h"

#define MTU  124
#define MSS  ((size_t)MTU - FERRY_ARQ_HDR_LEN) /* 100 */
#define CONV FERRY_ARQRIG_CONV

/* A and B back to back; captures are large, so a test keeps its pair static. */
struct pair {
	struct ferry_pool pool_a, pool_b;
	struct ferry_arq *a, *b;
	struct ferry_arqrig_capture a2b, b2a;
	uint64_t now;
};

static void base_config(struct ferry_arq_config *cfg)
{
	ck_assert_int_eq(ferry_arq_config_init(cfg, FERRY_ARQ_PROFILE_FAST3), 0);
	cfg->mtu = MTU;
	cfg->snd_wnd = 16;
	cfg->rcv_wnd = 16;
	cfg->snd_queue_max = 8;
}

static void pair_init(struct pair *p, const struct ferry_arq_config *ca,
		      const struct ferry_arq_config *cb, uint32_t bufs_a, uint32_t bufs_b)
{
	memset(p, 0, sizeof(*p));
	p->now = 1000;
	ck_assert_int_eq(ferry_pool_init(&p->pool_a, bufs_a, MSS, FERRY_ARQ_HDR_LEN), 0);
	ck_assert_int_eq(ferry_pool_init(&p->pool_b, bufs_b, MSS, FERRY_ARQ_HDR_LEN), 0);
	ck_assert_int_eq(
	    ferry_arq_create(&p->a, CONV, ca, &p->pool_a, ferry_arqrig_capture_out, &p->a2b), 0);
	ck_assert_int_eq(
	    ferry_arq_create(&p->b, CONV, cb, &p->pool_b, ferry_arqrig_capture_out, &p->b2a), 0);
}

static void pair_destroy(struct pair *p)
{
	ferry_arq_destroy(p->a);
	ferry_arq_destroy(p->b);
	ferry_ck_pool_idle(&p->pool_a);
	ferry_ck_pool_idle(&p->pool_b);
	ferry_pool_destroy(&p->pool_a);
	ferry_pool_destroy(&p->pool_b);
}

/* Hands every captured datagram to `to` and empties the capture. */
static void deliver(struct ferry_arqrig_capture *c, struct ferry_arq *to, uint64_t now)
{
	uint32_t i;

	ck_assert_uint_le(c->n, FERRY_ARQRIG_CAPTURE_MAX);
	for (i = 0; i < c->n; i++)
		ck_assert_int_eq(ferry_arq_input(to, c->dg[i], c->len[i], now), 0);
	c->n = 0;
}

/* Both ends send what they have (partial segments too) and the other takes it in, until
 * neither emits anything. */
static void pump(struct pair *p)
{
	int rounds;

	for (rounds = 0;; rounds++) {
		ck_assert_int_lt(rounds, 100);
		ck_assert_int_eq(ferry_arq_flush(p->a, p->now), 0);
		ck_assert_int_eq(ferry_arq_flush(p->b, p->now), 0);
		if (!p->a2b.n && !p->b2a.n)
			return;
		deliver(&p->a2b, p->b, p->now);
		deliver(&p->b2a, p->a, p->now);
	}
}

/* The i-th segment of capture c's datagram d (asserts it is there). */
static struct ferry_arq_seg captured_seg(const struct ferry_arqrig_capture *c, uint32_t d,
					 uint32_t i)
{
	struct ferry_arq_seg h;
	size_t off = 0;
	ssize_t n;

	ck_assert_uint_lt(d, c->n);
	for (;;) {
		n = ferry_arq_seg_decode(c->dg[d] + off, c->len[d] - off, &h);
		ck_assert_int_gt(n, 0);
		if (!i--)
			return h;
		off += (size_t)n;
	}
}

static uint8_t src[4096];

static void fill_src(void)
{
	size_t i;

	for (i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)(i * 31 + (i >> 8));
}

/* ---- send_space ---- */

/* Tail room plus queue room, in every state of the send queue; send then takes exactly
 * that, and once it is 0 send refuses. */
START_TEST(space_is_what_send_takes)
{
	static struct ferry_arqrig_capture cap;
	struct ferry_arq_config cfg;
	struct ferry_pool pool;
	struct ferry_arq *a;

	fill_src();
	base_config(&cfg);
	ck_assert_int_eq(ferry_pool_init(&pool, 64, MSS, FERRY_ARQ_HDR_LEN), 0);
	ck_assert_int_eq(ferry_arq_create(&a, CONV, &cfg, &pool, ferry_arqrig_capture_out, &cap),
			 0);
	ck_assert_uint_eq(ferry_arq_send_space(a), 8 * MSS); /* snd_queue_max segments */
	ck_assert_int_eq(ferry_arq_send(a, src, 30), 30);
	ck_assert_uint_eq(ferry_arq_send_space(a), (MSS - 30) + 7 * MSS); /* tail + queue */
	ck_assert_int_eq(ferry_arq_send(a, src, MSS - 30), MSS - 30);
	ck_assert_uint_eq(ferry_arq_send_space(a), 7 * MSS); /* a full tail has no room */
	ck_assert_int_eq(ferry_arq_send(a, src, 150), 150);
	ck_assert_uint_eq(ferry_arq_send_space(a), 50 + 5 * MSS);
	ck_assert_int_eq(ferry_arq_send(a, src, sizeof(src)), 50 + 5 * MSS);
	ck_assert_uint_eq(ferry_arq_send_space(a), 0);
	ck_assert_int_eq(ferry_arq_send(a, src, 1), -EAGAIN);
	/* the queue drains into flight (8 of the 16 segments snd_wnd allows): all room again */
	ck_assert_int_eq(ferry_arq_flush(a, 1000), 0);
	ck_assert_uint_eq(ferry_arq_pending(a), 8);
	ck_assert_uint_eq(pool.stats.in_use, 8);
	ck_assert_uint_eq(ferry_arq_send_space(a), 8 * MSS);
	ck_assert_int_eq(ferry_arq_send(a, src, sizeof(src)), 8 * MSS);
	ck_assert_uint_eq(ferry_arq_send_space(a), 0);
	ferry_arq_destroy(a);
	ferry_ck_pool_idle(&pool);
	ferry_pool_destroy(&pool);
}
END_TEST

/* With the pool nearly empty the free buffers bound the space, whoever holds the others;
 * a failed conversation and message mode have none. */
START_TEST(space_bounded_by_pool)
{
	static struct ferry_arqrig_capture cap;
	struct ferry_arq_config cfg;
	struct ferry_buf *other[2];
	struct ferry_pool pool;
	struct ferry_arq *a;

	fill_src();
	base_config(&cfg);
	ck_assert_int_eq(ferry_pool_init(&pool, 3, MSS, FERRY_ARQ_HDR_LEN), 0);
	ck_assert_int_eq(ferry_arq_create(&a, CONV, &cfg, &pool, ferry_arqrig_capture_out, &cap),
			 0);
	ck_assert_uint_eq(ferry_arq_send_space(a), 3 * MSS);
	ck_assert_int_eq(ferry_arq_send(a, src, 250), 250); /* 100 | 100 | 50: pool empty */
	ck_assert_uint_eq(pool.stats.in_use, 3);
	ck_assert_uint_eq(ferry_arq_send_space(a), 50); /* only the tail's room */
	ck_assert_int_eq(ferry_arq_send(a, src, sizeof(src)), 50);
	ck_assert_uint_eq(ferry_arq_send_space(a), 0);
	ck_assert_int_eq(ferry_arq_send(a, src, 1), -EAGAIN);
	ferry_arq_destroy(a);
	ferry_ck_pool_idle(&pool);

	/* another user of the pool holds two buffers */
	ck_assert_int_eq(ferry_arq_create(&a, CONV, &cfg, &pool, ferry_arqrig_capture_out, &cap),
			 0);
	other[0] = ferry_pool_get(&pool);
	other[1] = ferry_pool_get(&pool);
	ck_assert_uint_eq(ferry_arq_send_space(a), MSS);
	ck_assert_int_eq(ferry_arq_send(a, src, 500), MSS);
	ck_assert_uint_eq(ferry_arq_send_space(a), 0);
	ferry_pool_put(&pool, other[0]);
	ferry_pool_put(&pool, other[1]);
	ck_assert_uint_eq(ferry_arq_send_space(a), 2 * MSS);
	ck_assert_int_eq(ferry_arq_send(a, src, 500), 2 * MSS);
	ck_assert_uint_eq(ferry_arq_send_space(a), 0);
	ferry_arq_destroy(a);
	ferry_ck_pool_idle(&pool);

	/* a failed conversation: its one segment timed out (dead_link 1) */
	cfg.dead_link = 1;
	ck_assert_int_eq(ferry_arq_create(&a, CONV, &cfg, &pool, ferry_arqrig_capture_out, &cap),
			 0);
	ck_assert_int_eq(ferry_arq_send(a, src, 10), 10);
	ck_assert_int_eq(ferry_arq_flush(a, 1000), 0);
	ck_assert_uint_eq(ferry_arq_send_space(a), 3 * MSS - MSS); /* one buffer in flight */
	ck_assert_int_eq(ferry_arq_timer(a, 100000), -ETIMEDOUT);
	ck_assert_uint_eq(ferry_arq_send_space(a), 0);
	ck_assert_int_eq(ferry_arq_send(a, src, 1), -ETIMEDOUT);
	ferry_arq_destroy(a);

	cfg.dead_link = 20;
	cfg.stream = false;
	ck_assert_int_eq(ferry_arq_create(&a, CONV, &cfg, &pool, ferry_arqrig_capture_out, &cap),
			 0);
	ck_assert_uint_eq(ferry_arq_send_space(a), 0);
	ferry_arq_destroy(a);
	ferry_ck_pool_idle(&pool);
	ferry_pool_destroy(&pool);
}
END_TEST

/* A writer that always asks for more than there is, over a live pair whose in-flight
 * segments compete for a small pool: send takes exactly send_space each time, the space
 * left is what was there minus what was taken, and the bytes arrive intact. */
START_TEST(space_tracks_a_transfer)
{
	static struct pair p;
	static uint8_t got[4096];
	struct ferry_arq_config ca, cb;
	size_t sent = 0, recvd = 0;
	int round;

	fill_src();
	base_config(&ca);
	ca.snd_wnd = 4;
	base_config(&cb);
	pair_init(&p, &ca, &cb, 10, 64);
	for (round = 0; sent < sizeof(src); round++) {
		size_t space = ferry_arq_send_space(p.a);
		size_t want = (size_t)(round * 37) % 300 + 1;
		ssize_t r;

		ck_assert_int_lt(round, 2000);
		if (want > sizeof(src) - sent)
			want = sizeof(src) - sent;
		r = ferry_arq_send(p.a, src + sent, want);
		if (!space) {
			ck_assert_int_eq(r, -EAGAIN);
		} else {
			ck_assert_int_eq(r, (ssize_t)(want < space ? want : space));
			ck_assert_uint_eq(ferry_arq_send_space(p.a), space - (size_t)r);
			sent += (size_t)r;
		}
		if (round % 3 == 2) {
			pump(&p);
			while ((r = ferry_arq_recv(p.b, got + recvd, sizeof(got) - recvd)) > 0)
				recvd += (size_t)r;
		}
	}
	while (recvd < sent) {
		ssize_t r;

		pump(&p);
		while ((r = ferry_arq_recv(p.b, got + recvd, sizeof(got) - recvd)) > 0)
			recvd += (size_t)r;
		ck_assert_int_lt(round++, 4000);
	}
	pump(&p);
	ck_assert_uint_eq(recvd, sizeof(src));
	ck_assert_mem_eq(got, src, sizeof(src));
	ck_assert_uint_eq(ferry_arq_pending(p.a), 0);
	ck_assert_uint_eq(ferry_arq_send_space(p.a), 8 * MSS);
	pair_destroy(&p);
}
END_TEST

/* ---- peek and consume ---- */

START_TEST(peek_then_consume)
{
	static struct pair p;
	struct ferry_arq_config cfg;
	struct ferry_arq_stats st;
	const uint8_t *d, *d2;
	uint8_t out[64];

	fill_src();
	base_config(&cfg);
	pair_init(&p, &cfg, &cfg, 16, 16);
	ck_assert_uint_eq(ferry_arq_peek(p.b, &d), 0); /* nothing yet */
	ck_assert_ptr_null(d);
	ck_assert_int_eq(ferry_arq_send(p.a, src, 250), 250);
	pump(&p);
	ck_assert_uint_eq(p.pool_b.stats.in_use, 3); /* 100 | 100 | 50 */

	/* peek shows the head segment and takes nothing, however often */
	ck_assert_uint_eq(ferry_arq_peek(p.b, &d), MSS);
	ck_assert_mem_eq(d, src, MSS);
	ck_assert_uint_eq(ferry_arq_peek(p.b, &d2), MSS);
	ck_assert_ptr_eq(d2, d);
	ck_assert_uint_eq(p.pool_b.stats.in_use, 3);
	ferry_arq_stats(p.b, &st);
	ck_assert_uint_eq(st.payload_recv, 0);
	ck_assert_uint_eq(st.rcv_held, 3);

	/* part of a segment: the rest of it stays where it was */
	ferry_arq_consume(p.b, 30);
	ck_assert_uint_eq(ferry_arq_peek(p.b, &d2), MSS - 30);
	ck_assert_ptr_eq(d2, d + 30);
	ck_assert_uint_eq(p.pool_b.stats.in_use, 3);
	/* the rest of it: its buffer goes back */
	ferry_arq_consume(p.b, MSS - 30);
	ck_assert_uint_eq(p.pool_b.stats.in_use, 2);
	ck_assert_uint_eq(ferry_arq_peek(p.b, &d), MSS);
	ck_assert_mem_eq(d, src + MSS, MSS);
	/* across a segment boundary, to the end */
	ferry_arq_consume(p.b, 150);
	ck_assert_uint_eq(p.pool_b.stats.in_use, 0);
	ck_assert_uint_eq(ferry_arq_peek(p.b, &d), 0);
	ck_assert_ptr_null(d);
	ferry_arq_stats(p.b, &st);
	ck_assert_uint_eq(st.payload_recv, 250);
	ck_assert_uint_eq(st.rcv_held, 0);
	ferry_arq_consume(p.b, 10); /* nothing there: nothing happens */
	ferry_arq_stats(p.b, &st);
	ck_assert_uint_eq(st.payload_recv, 250);

	/* more than there is takes what there is; recv carries on where consume stopped */
	ck_assert_int_eq(ferry_arq_send(p.a, src + 250, 120), 120);
	pump(&p);
	ck_assert_uint_eq(ferry_arq_peek(p.b, &d), MSS);
	ck_assert_mem_eq(d, src + 250, MSS);
	ferry_arq_consume(p.b, 5);
	ck_assert_int_eq(ferry_arq_recv(p.b, out, 20), 20);
	ck_assert_mem_eq(out, src + 255, 20);
	ck_assert_uint_eq(ferry_arq_peek(p.b, &d), MSS - 25);
	ck_assert_mem_eq(d, src + 275, MSS - 25);
	ferry_arq_consume(p.b, 1000);
	ck_assert_uint_eq(ferry_arq_peek(p.b, &d), 0);
	ck_assert_int_eq(ferry_arq_recv(p.b, out, sizeof(out)), -EAGAIN);
	ferry_arq_stats(p.b, &st);
	ck_assert_uint_eq(st.payload_recv, 370);
	pair_destroy(&p);
}
END_TEST

/* Message mode has no byte stream to peek at: peek shows nothing, consume takes nothing,
 * recv still reads the message. */
START_TEST(peek_message_mode)
{
	static struct ferry_arqrig_capture cap;
	struct ferry_arq_config cfg;
	struct ferry_pool pool;
	struct ferry_arq *b;
	uint8_t dg[FERRY_ARQRIG_SEG_MAX];
	const uint8_t *d;
	char out[16];
	size_t n;

	base_config(&cfg);
	cfg.stream = false;
	ck_assert_int_eq(ferry_pool_init(&pool, 4, MSS, FERRY_ARQ_HDR_LEN), 0);
	ck_assert_int_eq(ferry_arq_create(&b, CONV, &cfg, &pool, ferry_arqrig_capture_out, &cap),
			 0);
	n = ferry_arqrig_seg(dg, CONV, FERRY_ARQ_CMD_PUSH, 16, 1, 0, 0, "msg");
	ck_assert_int_eq(ferry_arq_input(b, dg, n, 1), 0);
	ck_assert_uint_eq(ferry_arq_peek(b, &d), 0);
	ck_assert_ptr_null(d);
	ferry_arq_consume(b, 3);
	ck_assert_int_eq(ferry_arq_recv(b, out, sizeof(out)), 3);
	ck_assert_mem_eq(out, "msg", 3);
	ferry_arq_destroy(b);
	ferry_ck_pool_idle(&pool);
	ferry_pool_destroy(&pool);
}
END_TEST

/* B's window fills (every ACK says wnd 0) and A stops. Consuming one whole segment frees
 * one slot, and B announces it at once with a WINS, not waiting for A's probe; A sends one
 * more segment. Reading on this way moves all 600 bytes. */
START_TEST(wins_after_full_window)
{
	static struct pair p;
	struct ferry_arq_config ca, cb;
	struct ferry_arq_seg h;
	struct ferry_arq_stats st;
	const uint8_t *d;
	size_t recvd = 0, n;
	uint32_t i;
	int rounds;

	fill_src();
	base_config(&ca);
	ca.rmt_wnd_init = 4; /* A does not overrun B before it heard from it */
	base_config(&cb);
	cb.rcv_wnd = 4;
	pair_init(&p, &ca, &cb, 16, 16);
	ck_assert_int_eq(ferry_arq_send(p.a, src, 600), 600);
	ck_assert_int_eq(ferry_arq_flush(p.a, p.now), 0);
	ck_assert_uint_eq(p.a2b.n, 4); /* sn 0..3, one full segment per datagram */
	deliver(&p.a2b, p.b, p.now);
	ck_assert_int_eq(ferry_arq_flush(p.b, p.now), 0);
	ck_assert_uint_eq(p.b2a.n, 1);
	for (i = 0; i < 4; i++) {
		h = captured_seg(&p.b2a, 0, i);
		ck_assert_uint_eq(h.cmd, FERRY_ARQ_CMD_ACK);
		ck_assert_uint_eq(h.wnd, 0);
	}
	deliver(&p.b2a, p.a, p.now);
	ck_assert_int_eq(ferry_arq_flush(p.a, p.now), 0);
	ck_assert_uint_eq(p.a2b.n, 0); /* the window is closed */
	ck_assert_uint_eq(ferry_arq_pending(p.a), 2);

	/* the application takes one whole segment */
	ck_assert_uint_eq(ferry_arq_peek(p.b, &d), MSS);
	ck_assert_mem_eq(d, src, MSS);
	ferry_arq_consume(p.b, MSS);
	recvd = MSS;
	ck_assert_uint_eq(ferry_arq_next_deadline(p.b, p.now), p.now); /* something is due */
	ck_assert_int_eq(ferry_arq_timer(p.b, p.now), 0);
	ck_assert_uint_eq(p.b2a.n, 1);
	ck_assert_uint_eq(p.b2a.len[0], FERRY_ARQ_HDR_LEN);
	h = captured_seg(&p.b2a, 0, 0);
	ck_assert_uint_eq(h.cmd, FERRY_ARQ_CMD_WINS);
	ck_assert_uint_eq(h.wnd, 1);
	ck_assert_uint_eq(h.una, 4);
	ferry_arq_stats(p.b, &st);
	ck_assert_uint_eq(st.wins_sent, 1);
	deliver(&p.b2a, p.a, p.now);
	ck_assert_int_eq(ferry_arq_flush(p.a, p.now), 0);
	ck_assert_uint_eq(p.a2b.n, 1); /* sn 4 */
	h = captured_seg(&p.a2b, 0, 0);
	ck_assert_uint_eq(h.cmd, FERRY_ARQ_CMD_PUSH);
	ck_assert_uint_eq(h.sn, 4);

	/* the rest, read by peek and consume a segment at a time */
	for (rounds = 0; recvd < 600; rounds++) {
		ck_assert_int_lt(rounds, 50);
		pump(&p);
		while ((n = ferry_arq_peek(p.b, &d)) > 0) {
			ck_assert_mem_eq(d, src + recvd, n);
			ferry_arq_consume(p.b, n);
			recvd += n;
		}
	}
	pump(&p);
	ck_assert_uint_eq(recvd, 600);
	ck_assert_uint_eq(ferry_arq_pending(p.a), 0);
	ferry_arq_stats(p.a, &st);
	ck_assert_uint_eq(st.probes_sent, 0); /* the WINS, never a probe, reopened it */
	pair_destroy(&p);
}
END_TEST

/* A PUSH may carry no bytes: peek steps over such segments (and frees them) and shows the
 * next bytes; a window filled with them reopens, and is announced, once peek freed them. */
START_TEST(zero_length_segments)
{
	static struct ferry_arqrig_capture cap;
	struct ferry_arq_config cfg;
	struct ferry_arq_stats st;
	struct ferry_pool pool;
	struct ferry_arq *b;
	uint8_t dg[2 * FERRY_ARQRIG_SEG_MAX]; /* ferry_arqrig_seg may use SEG_MAX past dg + n */
	const uint8_t *d;
	struct ferry_arq_seg h;
	size_t n = 0;

	base_config(&cfg);
	ck_assert_int_eq(ferry_pool_init(&pool, 8, MSS, FERRY_ARQ_HDR_LEN), 0);
	ck_assert_int_eq(ferry_arq_create(&b, CONV, &cfg, &pool, ferry_arqrig_capture_out, &cap),
			 0);
	n += ferry_arqrig_seg(dg + n, CONV, FERRY_ARQ_CMD_PUSH, 16, 1, 0, 0, NULL);
	n += ferry_arqrig_seg(dg + n, CONV, FERRY_ARQ_CMD_PUSH, 16, 1, 1, 0, "abc");
	n += ferry_arqrig_seg(dg + n, CONV, FERRY_ARQ_CMD_PUSH, 16, 1, 2, 0, NULL);
	n += ferry_arqrig_seg(dg + n, CONV, FERRY_ARQ_CMD_PUSH, 16, 1, 3, 0, "");
	n += ferry_arqrig_seg(dg + n, CONV, FERRY_ARQ_CMD_PUSH, 16, 1, 4, 0, "de");
	n += ferry_arqrig_seg(dg + n, CONV, FERRY_ARQ_CMD_PUSH, 16, 1, 5, 0, NULL);
	ck_assert_int_eq(ferry_arq_input(b, dg, n, 1), 0);
	ferry_arq_stats(b, &st);
	ck_assert_uint_eq(st.segs_recv, 6);
	ck_assert_uint_eq(pool.stats.in_use, 6);
	ck_assert_uint_eq(ferry_arq_peek(b, &d), 3);
	ck_assert_mem_eq(d, "abc", 3);
	ck_assert_uint_eq(pool.stats.in_use, 5);
	ferry_arq_consume(b, 3);
	ck_assert_uint_eq(pool.stats.in_use, 4);
	ck_assert_uint_eq(ferry_arq_peek(b, &d), 2);
	ck_assert_mem_eq(d, "de", 2);
	ck_assert_uint_eq(pool.stats.in_use, 2);
	ferry_arq_consume(b, 2);
	ck_assert_uint_eq(pool.stats.in_use, 1);
	ck_assert_uint_eq(ferry_arq_peek(b, &d), 0);
	ck_assert_ptr_null(d);
	ck_assert_uint_eq(pool.stats.in_use, 0);
	ferry_arq_stats(b, &st);
	ck_assert_uint_eq(st.payload_recv, 5);
	ck_assert_uint_eq(st.rcv_held, 0);
	ferry_arq_destroy(b);
	ferry_ck_pool_idle(&pool);

	/* a window of 2 filled by two empty segments */
	cfg.rcv_wnd = 2;
	ck_assert_int_eq(ferry_arq_create(&b, CONV, &cfg, &pool, ferry_arqrig_capture_out, &cap),
			 0);
	cap.n = 0;
	n = ferry_arqrig_seg(dg, CONV, FERRY_ARQ_CMD_PUSH, 16, 1, 0, 0, NULL);
	n += ferry_arqrig_seg(dg + n, CONV, FERRY_ARQ_CMD_PUSH, 16, 1, 1, 0, NULL);
	ck_assert_int_eq(ferry_arq_input(b, dg, n, 1), 0);
	ck_assert_int_eq(ferry_arq_timer(b, 1), 0);
	ck_assert_uint_eq(cap.n, 1);
	ck_assert_int_eq(ferry_arq_seg_decode(cap.dg[0], cap.len[0], &h), FERRY_ARQ_HDR_LEN);
	ck_assert_uint_eq(h.cmd, FERRY_ARQ_CMD_ACK);
	ck_assert_uint_eq(h.wnd, 0);
	ck_assert_uint_eq(ferry_arq_next_deadline(b, 1), UINT64_MAX);
	ck_assert_uint_eq(ferry_arq_peek(b, &d), 0);
	ck_assert_uint_eq(pool.stats.in_use, 0);
	ck_assert_uint_eq(ferry_arq_next_deadline(b, 2), 2);
	ck_assert_int_eq(ferry_arq_timer(b, 2), 0);
	ck_assert_uint_eq(cap.n, 2);
	ck_assert_uint_eq(cap.len[1], FERRY_ARQ_HDR_LEN);
	ck_assert_int_eq(ferry_arq_seg_decode(cap.dg[1], cap.len[1], &h), FERRY_ARQ_HDR_LEN);
	ck_assert_uint_eq(h.cmd, FERRY_ARQ_CMD_WINS);
	ck_assert_uint_eq(h.wnd, 2);
	ck_assert_uint_eq(h.una, 2);
	ferry_arq_destroy(b);
	ferry_ck_pool_idle(&pool);
	ferry_pool_destroy(&pool);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("arq_stream");
	TCase *space = ferry_tcase("send_space", 10);
	TCase *read = ferry_tcase("peek_consume", 10);

	tcase_add_test(space, space_is_what_send_takes);
	tcase_add_test(space, space_bounded_by_pool);
	tcase_add_test(space, space_tracks_a_transfer);
	tcase_add_test(read, peek_then_consume);
	tcase_add_test(read, peek_message_mode);
	tcase_add_test(read, wins_after_full_window);
	tcase_add_test(read, zero_length_segments);
	suite_add_tcase(s, space);
	suite_add_tcase(s, read);
	return ferry_run_suite(s);
}
