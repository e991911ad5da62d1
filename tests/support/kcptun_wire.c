// SPDX-License-Identifier: MIT
/*
 * The wire of the kcptun harness (tests/support/kcptun_internal.h): kcp-go's datagram
 * framing (a 16-byte nonce and a CRC-32 in front of the KCP segments), loss injected both
 * ways from the harness's seeded generator, the delay lines, and the one reordered window.
 * Every segment that crosses is checked: kcp-go's framing and conv, the timestamps its
 * ACKs echo (against the transmissions they acknowledge), and what kcp-go makes of ours --
 * how far our window lets it send, and the RTT estimate it would take from our ACKs.
 */
#include "tests/support/kcptun_internal.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>

#include "tests/support/fixture.h"
#include "transport/wire.h"

/* CRC-32/IEEE (reflected 0xEDB88320, init and final xor all ones), four bits at a time. */
uint32_t ferry_kcptun_crc32(const uint8_t *p, size_t len)
{
	static const uint32_t nibble[16] = {
	    0x00000000, 0x1db71064, 0x3b6e20c8, 0x26d930ac, 0x76dc4190, 0x6b6b51f4,
	    0x4db26158, 0x5005713c, 0xedb88320, 0xf00f9344, 0xd6d6a3e8, 0xcb61b38c,
	    0x9b64c2b0, 0x86d3d2d4, 0xa00ae278, 0xbdbdf21c,
	};
	uint32_t crc = 0xffffffffU;
	size_t i;

	for (i = 0; i < len; i++) {
		crc ^= p[i];
		crc = (crc >> 4) ^ nibble[crc & 15];
		crc = (crc >> 4) ^ nibble[crc & 15];
	}
	return ~crc;
}

/* ---- the wire: kcp-go's 20-byte header around ferry's datagrams, loss both ways ---- */

static bool lose(struct ferry_kcptun *t)
{
	return rng_next(&t->rng) % 100 < t->loss_pct;
}

static void ts_note_push(struct ferry_kcptun_ts_ring *r, const struct ferry_arq_seg *seg)
{
	struct ferry_kcptun_ts_seen *e = &r->e[seg->sn % TS_RING];

	if (e->used && e->sn == seg->sn)
		e->last = seg->ts;
	else
		*e = (struct ferry_kcptun_ts_seen){
		    .sn = seg->sn, .first = seg->ts, .last = seg->ts, .used = true};
}

/* When a transmission of kcp-go's, noted by ts_note_push, reached our ARQ. */
static void ts_note_arrival(struct ferry_kcptun_ts_ring *r, const struct ferry_arq_seg *seg,
			    uint64_t now)
{
	struct ferry_kcptun_ts_seen *e = &r->e[seg->sn % TS_RING];

	if (!e->used || e->sn != seg->sn)
		return;
	e->arrived[e->narrived % FERRY_KCPTUN_ARRIVALS].ts = seg->ts;
	e->arrived[e->narrived % FERRY_KCPTUN_ARRIVALS].at = now;
	e->narrived++;
}

/* When the transmission of sn with this ts reached our ARQ; false if not kept. */
static bool ts_arrival(const struct ferry_kcptun_ts_ring *r, uint32_t sn, uint32_t ts, uint64_t *at)
{
	const struct ferry_kcptun_ts_seen *e = &r->e[sn % TS_RING];
	unsigned i, n = e->narrived < FERRY_KCPTUN_ARRIVALS ? e->narrived : FERRY_KCPTUN_ARRIVALS;

	if (!e->used || e->sn != sn)
		return false;
	for (i = 0; i < n; i++) {
		if (e->arrived[i].ts == ts) {
			*at = e->arrived[i].at;
			return true;
		}
	}
	return false;
}

/* An ACK must name an sn that was sent and echo the ts of one of its transmissions. */
static void ts_check_ack(struct ferry_kcptun_ts_ring *r, const struct ferry_arq_seg *seg,
			 const char *who)
{
	const struct ferry_kcptun_ts_seen *e = &r->e[seg->sn % TS_RING];

	ck_assert_msg(e->used && e->sn == seg->sn, "%s acks sn %u, never sent", who, seg->sn);
	ck_assert_msg((int32_t)(seg->ts - e->first) >= 0 && (int32_t)(e->last - seg->ts) >= 0,
		      "%s: ACK of sn %u echoes ts %u, transmissions at %u..%u", who, seg->sn,
		      seg->ts, e->first, e->last);
	r->checked++;
}

void ferry_kcptun_rtt_sample(struct ferry_kcptun_rtt *e, double r)
{
	if (!e->seen) {
		e->srtt = r;
		e->rttvar = r / 2;
		e->seen = true;
	} else {
		e->rttvar = 0.75 * e->rttvar + 0.25 * (r > e->srtt ? r - e->srtt : e->srtt - r);
		e->srtt = 0.875 * e->srtt + 0.125 * r;
	}
	if (++e->samples > 10 && e->srtt > e->srtt_max)
		e->srtt_max = e->srtt;
}

/* kcp-go's clock, read on its PUSHes as they reach our socket: the smallest offset is the
 * one without delay. */
static void peer_clock_note(struct ferry_kcptun *t, uint32_t ts)
{
	uint32_t off = (uint32_t)now_ms() - ts;

	if (!t->peer_clock_set || (int32_t)(off - t->peer_clock_off) < 0)
		t->peer_clock_off = off;
	t->peer_clock_set = true;
}

/* Checks our ACKs' echoes, counts segments that advertise a zero window and follows the
 * edge we advertise. Returns the smallest window the datagram advertises. */
static uint16_t note_our_segments(struct ferry_kcptun *t, const uint8_t *p, size_t len)
{
	struct ferry_arq_seg seg;
	uint16_t wnd = UINT16_MAX;
	ssize_t n;

	while (len > 0) {
		n = ferry_arq_seg_decode(p, len, &seg);
		ck_assert_int_gt(n, 0);
		if (seg.wnd == 0)
			t->our_zero_wnd++;
		if (seg.wnd < wnd)
			wnd = seg.wnd;
		if ((int32_t)(seg.una + seg.wnd - t->our_edge) > 0)
			t->our_edge = seg.una + seg.wnd;
		if (seg.cmd == FERRY_ARQ_CMD_PUSH)
			ts_note_push(&t->our_ts, &seg);
		if (seg.cmd == FERRY_ARQ_CMD_ACK)
			ts_check_ack(&t->peer_ts, &seg, "ferry");
		p += n;
		len -= (size_t)n;
	}
	return wnd;
}

/* The last ACK segment of a datagram of ours (kcp-go samples the RTT from it); false if
 * it has none. */
static bool last_ack(const uint8_t *p, size_t len, struct ferry_arq_seg *ack)
{
	struct ferry_arq_seg seg;
	bool found = false;
	ssize_t n;

	while (len > 0 && (n = ferry_arq_seg_decode(p, len, &seg)) > 0) {
		if (seg.cmd == FERRY_ARQ_CMD_ACK) {
			*ack = seg;
			found = true;
		}
		p += n;
		len -= (size_t)n;
	}
	return found;
}

/* The sample kcp-go takes from this datagram of ours as it reaches it (loopback: now). */
static void peer_rtt_note(struct ferry_kcptun *t, const uint8_t *p, size_t len)
{
	struct ferry_arq_seg ack;
	int32_t r;

	if (!last_ack(p, len, &ack) || !t->peer_clock_set)
		return;
	r = (int32_t)((uint32_t)now_ms() - t->peer_clock_off - ack.ts);
	if (r >= 0)
		ferry_kcptun_rtt_sample(&t->peer_rtt, r);
}

/* The sample kcp-go would take from this datagram of ours over an exact path: 2 * delay_ms
 * plus how long our ARQ held the transmission its last ACK echoes. */
static void held_rtt_note(struct ferry_kcptun *t, const uint8_t *p, size_t len)
{
	struct ferry_arq_seg ack;
	uint64_t at;

	if (!last_ack(p, len, &ack))
		return;
	if (!ts_arrival(&t->peer_ts, ack.sn, ack.ts, &at)) {
		t->held_unknown++;
		return;
	}
	ferry_kcptun_rtt_sample(&t->held_rtt, 2.0 * t->delay_ms + (double)(now_ms() - at));
}

/* ---- the delay line: delay_ms each way, first in first out ---- */

static void line_push(struct ferry_kcptun *t, struct ferry_kcptun_line *l, const uint8_t *d,
		      size_t len)
{
	struct ferry_kcptun_delayed *e;

	ck_assert_msg(l->n < FERRY_KCPTUN_LINE_MAX, "delay line full");
	ck_assert_uint_le(len, sizeof(e->d));
	e = &l->q[(l->head + l->n++) % FERRY_KCPTUN_LINE_MAX];
	e->due = now_ms() + t->delay_ms;
	e->len = len;
	memcpy(e->d, d, len);
}

static const struct ferry_kcptun_delayed *line_due(const struct ferry_kcptun_line *l, uint64_t now)
{
	const struct ferry_kcptun_delayed *e = &l->q[l->head];

	return l->n && e->due <= now ? e : NULL;
}

static void line_pop(struct ferry_kcptun_line *l)
{
	l->head = (l->head + 1) % FERRY_KCPTUN_LINE_MAX;
	l->n--;
}

/* Puts one framed datagram on the socket. Returns 0 or -errno. */
static int wire_send(struct ferry_kcptun *t, const uint8_t *framed, size_t len)
{
	peer_rtt_note(t, framed + CRYPT_HDR, len - CRYPT_HDR);
	return send(t->udp, framed, len, 0) < 0 ? -errno : 0;
}

/* Sends a framed datagram now (a failure is the ARQ's output error), or after delay_ms (a
 * failure then is only counted: the ARQ took the datagram as sent). */
static int wire_emit(struct ferry_kcptun *t, const uint8_t *framed, size_t len)
{
	int r;

	if (t->delay_ms) {
		line_push(t, &t->out_line, framed, len);
		return 0;
	}
	r = wire_send(t, framed, len);
	if (r < 0)
		t->send_errors++;
	return r;
}

/* Hands kcp-go's segments to our ARQ, noting when each PUSH transmission arrived. */
static void arq_feed(struct ferry_kcptun *t, const uint8_t *p, size_t len, uint64_t now)
{
	const uint8_t *q = p;
	struct ferry_arq_seg seg;
	size_t left = len;
	ssize_t n;

	while (left > 0 && (n = ferry_arq_seg_decode(q, left, &seg)) > 0) {
		if (seg.cmd == FERRY_ARQ_CMD_PUSH)
			ts_note_arrival(&t->peer_ts, &seg, now);
		q += n;
		left -= (size_t)n;
	}
	ck_assert_int_eq(ferry_arq_input(t->arq, p, len, now), 0);
}

void ferry_kcptun_lines_run(struct ferry_kcptun *t, uint64_t now)
{
	const struct ferry_kcptun_delayed *e;

	while ((e = line_due(&t->out_line, now)) != NULL) {
		if (wire_send(t, e->d, e->len) < 0)
			t->line_send_errors++;
		line_pop(&t->out_line);
	}
	while ((e = line_due(&t->in_line, now)) != NULL) {
		arq_feed(t, e->d, e->len, now);
		line_pop(&t->in_line);
	}
}

uint64_t ferry_kcptun_lines_next(const struct ferry_kcptun *t)
{
	uint64_t next = UINT64_MAX;

	if (t->out_line.n)
		next = t->out_line.q[t->out_line.head].due;
	if (t->in_line.n && t->in_line.q[t->in_line.head].due < next)
		next = t->in_line.q[t->in_line.head].due;
	return next;
}

/* The reordering of hold_wnd: true when this datagram (advertising wnd) is to be held. */
static bool reorder_holds(struct ferry_kcptun *t, uint16_t wnd)
{
	bool stopped = t->pause_until != 0 && t->resumed_at == 0;

	return t->hold_wnd && t->hold_state == FERRY_KCPTUN_HOLD_WAIT && stopped && wnd > 0 &&
	       wnd <= t->hold_wnd;
}

int ferry_kcptun_wire_output(void *ctx, const uint8_t *dgram, size_t len)
{
	struct ferry_kcptun *t = ctx;
	uint64_t nonce[2];
	uint16_t wnd;
	int r;

	ck_assert_uint_le(len, ARQ_MTU);
	t->out_dgrams++;
	wnd = note_our_segments(t, dgram, len);
	if (lose(t)) {
		t->out_lost++;
		return 0;
	}
	held_rtt_note(t, dgram, len);
	nonce[0] = rng_next(&t->rng);
	nonce[1] = rng_next(&t->rng);
	memcpy(t->out, nonce, CRYPT_NONCE);
	memcpy(t->out + CRYPT_HDR, dgram, len);
	ferry_wire_put_le32(t->out + CRYPT_NONCE, ferry_kcptun_crc32(t->out + CRYPT_HDR, len));
	if (reorder_holds(t, wnd)) {
		memcpy(t->held, t->out, CRYPT_HDR + len);
		t->held_len = CRYPT_HDR + len;
		t->held_wnd = wnd;
		t->hold_state = FERRY_KCPTUN_HOLD_HELD;
		return 0;
	}
	r = wire_emit(t, t->out, CRYPT_HDR + len);
	if (t->hold_state == FERRY_KCPTUN_HOLD_HELD && wnd == 0) {
		/* the zero window went out: the older, larger one follows it */
		t->hold_state = FERRY_KCPTUN_HOLD_RELEASED;
		if (r == 0)
			r = wire_emit(t, t->held, t->held_len);
	}
	return r;
}

/* Counts kcp-go's PUSH transmissions; checks every segment's framing and conv and its
 * ACKs' echoes. */
static void note_peer_segments(struct ferry_kcptun *t, const uint8_t *p, size_t len)
{
	struct ferry_arq_seg seg;
	ssize_t n;

	while (len > 0) {
		n = ferry_arq_seg_decode(p, len, &seg);
		if (n < 0) {
			t->peer_bad_seg++;
			return;
		}
		if (seg.conv != t->conv)
			t->peer_wrong_conv++;
		if (seg.cmd == FERRY_ARQ_CMD_WASK)
			t->peer_wask++;
		if (seg.cmd == FERRY_ARQ_CMD_WINS)
			t->peer_wins++;
		if (seg.cmd == FERRY_ARQ_CMD_ACK)
			ts_check_ack(&t->our_ts, &seg, "kcp-go");
		if (seg.cmd == FERRY_ARQ_CMD_PUSH) {
			peer_clock_note(t, seg.ts);
			ts_note_push(&t->peer_ts, &seg);
			t->peer_push++;
			if ((int32_t)(seg.sn + 1 - t->peer_sn_end) > 0) {
				t->peer_sn_end = seg.sn + 1;
				if ((int32_t)(seg.sn - t->our_edge) >= 0)
					t->peer_overrun++;
			}
		}
		p += n;
		len -= (size_t)n;
	}
}

void ferry_kcptun_wire_input(struct ferry_kcptun *t, uint64_t now)
{
	const uint8_t *kcp = t->in + CRYPT_HDR;
	ssize_t n;
	size_t len;
	int i;

	for (i = 0; i < RECV_BATCH; i++) {
		n = recv(t->udp, t->in, sizeof(t->in), 0);
		if (n < 0 && errno == ECONNREFUSED) { /* kcptun not (yet) there: our loss */
			t->in_refused++;
			continue;
		}
		if (n < 0) {
			ck_assert_msg(errno == EAGAIN, "recv: %s", strerror(errno));
			return;
		}
		t->in_dgrams++;
		if ((size_t)n < CRYPT_HDR + FERRY_ARQ_HDR_LEN) {
			t->in_short++;
			continue;
		}
		len = (size_t)n - CRYPT_HDR;
		if (ferry_kcptun_crc32(kcp, len) != ferry_wire_get_le32(t->in + CRYPT_NONCE)) {
			t->in_bad_crc++;
			continue;
		}
		note_peer_segments(t, kcp, len);
		if (lose(t)) {
			t->in_lost++;
			continue;
		}
		if (t->delay_ms)
			line_push(t, &t->in_line, kcp, len);
		else
			arq_feed(t, kcp, len, now);
	}
}
