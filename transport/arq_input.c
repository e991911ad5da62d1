// SPDX-License-Identifier: MIT
/*
 * ARQ input path (the engine and its data structures are described at the top of arq.c).
 * ferry_arq_input parses a peer's datagram segment by segment, dropping (and counting)
 * what is not our peer's state. ACK and una release send slots, give RTT samples and grow
 * cwnd; one pass per datagram over the unacked holes below the highest ACK counts skips
 * for fast retransmission. PUSH lands in the receive ring, moves to the application's
 * FIFO once in order, and is queued for an ACK (the list is kept by arq.c, which sends
 * it); a PUSH past the edge we advertise is dropped and asks for a window announcement.
 * ferry_arq_recv drains the FIFO and asks for one when that edge moved far enough.
 */
#include "transport/arq.h"
#include "transport/arq_internal.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* ---- send side: ACK and una ------------------------------------------------------ */

static void ul_unlink(struct ferry_arq *arq, uint32_t idx)
{
	struct sslot *s = &arq->sring[idx];

	if (s->prev != NIL)
		arq->sring[s->prev].next = s->next;
	else
		arq->ul_head = s->next;
	if (s->next != NIL)
		arq->sring[s->next].prev = s->prev;
	else
		arq->ul_tail = s->prev;
	arq->inflight--;
}

static void slot_release(struct ferry_arq *arq, uint32_t idx)
{
	struct sslot *s = &arq->sring[idx];

	ul_unlink(arq, idx);
	ferry_pool_put(arq->pool, s->buf);
	s->buf = NULL;
	s->flags = 0;
	if (!ferry_arq_pending(arq))
		arq->pool->senders--; /* its last send buffer (sq_append counted the first) */
	if (!arq->inflight)
		arq->rto_bound = UINT64_MAX; /* nothing left that the bound could belong to */
}

/* Moves snd_una over acknowledged slots. */
static void una_advance(struct ferry_arq *arq)
{
	while (arq->snd_una != arq->snd_nxt && !arq->sring[arq->snd_una & arq->smask].buf)
		arq->snd_una++;
}

static void rtt_sample(struct ferry_arq *arq, uint32_t rtt)
{
	uint32_t r8, delta, var4, rto;

	if (rtt > FERRY_ARQ_RTO_MAX)
		rtt = FERRY_ARQ_RTO_MAX;
	r8 = rtt * 8;
	if (!arq->rtt_seen) {
		arq->srtt8 = r8;
		arq->rttvar8 = r8 / 2;
		arq->rtt_seen = true;
	} else {
		delta = r8 > arq->srtt8 ? r8 - arq->srtt8 : arq->srtt8 - r8;
		arq->rttvar8 = (3 * arq->rttvar8 + delta) / 4;
		arq->srtt8 = (7 * arq->srtt8 + r8) / 8;
	}
	/* RFC 6298: RTO = SRTT + max(G, 4 * RTTVAR), G = the profile's interval. */
	var4 = 4 * arq->rttvar8;
	if (var4 < arq->cfg.interval * 8)
		var4 = arq->cfg.interval * 8;
	rto = (arq->srtt8 + var4 + 7) / 8;
	if (rto < arq->cfg.min_rto)
		rto = arq->cfg.min_rto;
	arq->rto = rto > FERRY_ARQ_RTO_MAX ? FERRY_ARQ_RTO_MAX : rto;
}

static void on_ack(struct ferry_arq *arq, uint32_t sn, uint32_t ts, uint32_t now32)
{
	struct sslot *s;
	uint32_t idx;

	arq->st.acks_recv++;
	if (sdiff(sn, arq->snd_una) < 0 || sdiff(sn, arq->snd_nxt) >= 0)
		return;
	idx = sn & arq->smask;
	s = &arq->sring[idx];
	if (!s->buf)
		return;
	/* An echo is a valid sample only if it is not from the future and not older than the
	 * segment's first transmission (a forged or corrupted ts cannot poison the RTO). */
	if (sdiff(now32, ts) >= 0 && sdiff(ts, (uint32_t)s->first_sent) >= 0)
		rtt_sample(arq, (uint32_t)sdiff(now32, ts));
	slot_release(arq, idx);
}

/* Every unacked segment below una is acknowledged. */
static void on_una(struct ferry_arq *arq, uint32_t una)
{
	while (arq->ul_head != NIL && sdiff(arq->sring[arq->ul_head].sn, una) < 0)
		slot_release(arq, arq->ul_head);
}

/* One ACK batch acknowledged maxack, sent at maxts or later: each unacked segment below it
 * that was sent no later was skipped once more. Walks only the holes. */
static void fastack_pass(struct ferry_arq *arq, uint32_t maxack, uint32_t maxts)
{
	uint32_t idx;

	if (!arq->cfg.resend)
		return;
	for (idx = arq->ul_head; idx != NIL; idx = arq->sring[idx].next) {
		struct sslot *s = &arq->sring[idx];

		if (sdiff(s->sn, maxack) >= 0)
			break;
		if (sdiff(maxts, s->ts) < 0 || s->flags)
			continue;
		if (s->fastack < 0xffff)
			s->fastack++;
		if (s->fastack >= arq->cfg.resend && s->xmit <= arq->cfg.fast_limit)
			due_push(arq, idx, SLOT_DUE_FAST);
	}
}

/* nc = 0: slow start below ssthresh, then one segment per window of ACKs (RFC 5681's
 * shape), counted per acknowledged segment. */
static void cc_on_acked(struct ferry_arq *arq, uint32_t acked)
{
	if (arq->cfg.nc)
		return;
	while (acked-- && arq->cwnd < arq->cfg.snd_wnd) {
		if (arq->cwnd < arq->ssthresh) {
			arq->cwnd++;
		} else if (++arq->cwnd_cnt >= arq->cwnd) {
			arq->cwnd++;
			arq->cwnd_cnt = 0;
		}
	}
}

/* ---- receive side ---------------------------------------------------------------- */

/* A segment d places past rcv_nxt does not fit the receive ring: doubles it until it
 * does (it never needs more than rcv_wnd), the held segments moving to their sn's place,
 * and the ACK list and the repeat ring with it. Returns 0 or -ENOMEM (nothing changed). */
static int rring_grow(struct ferry_arq *arq, uint32_t d)
{
	uint32_t ocap = arq->rmask + 1, ncap = ocap, rcap, i;
	struct ferry_buf **nr;
	struct ack_ent *na, *np;

	while (ncap <= d && ncap < arq->rcap_max)
		ncap *= 2;
	rcap = arq->rep_mask + 1;
	nr = calloc(ncap, sizeof(struct ferry_buf *)); /* slots of pointers */
	na = calloc(acks_for(ncap, arq->cfg.mtu), sizeof(*na));
	np = calloc(ncap > rcap ? ncap : rcap, sizeof(*np));
	if (!nr || !na || !np) {
		free(nr);
		free(na);
		free(np);
		return -ENOMEM;
	}
	for (i = 0; i < ocap; i++) {
		uint32_t sn = arq->rcv_nxt + i;

		nr[sn & (ncap - 1)] = arq->rring[sn & arq->rmask];
	}
	memcpy(na, arq->acks, arq->n_acks * sizeof(*na));
	for (i = arq->rep_w > rcap ? arq->rep_w - rcap : 0; i != arq->rep_w; i++)
		np[i & ((ncap > rcap ? ncap : rcap) - 1)] = arq->rep[i & arq->rep_mask];
	free(arq->rring);
	free(arq->acks);
	free(arq->rep);
	arq->rring = nr;
	arq->rmask = ncap - 1;
	arq->acks = na;
	arq->ack_max = acks_for(ncap, arq->cfg.mtu);
	arq->rep = np;
	arq->rep_mask = (ncap > rcap ? ncap : rcap) - 1;
	return 0;
}

static void on_push(struct ferry_arq *arq, const struct ferry_arq_seg *h, const uint8_t *data,
		    uint64_t now)
{
	uint32_t limit = arq->cfg.rcv_wnd - arq->nq;
	struct ferry_buf *buf;
	uint32_t idx;

	if (sdiff(h->sn, arq->rcv_nxt) < 0) {
		arq->st.segs_dup++;
		ferry_arq_ack_push(arq, h->sn, h->ts, now);
		return;
	}
	if ((uint32_t)sdiff(h->sn, arq->rcv_nxt) >= limit) {
		/* The peer sent past the edge we advertise: it holds a stale window (a KCP sender
		 * takes the window of whatever segment arrived last, so one reordered older ACK
		 * is enough). Dropping in silence would leave it believing that window and
		 * sending into it; the next flush tells it the current one (a WINS, unless
		 * another segment of that flush carries it). */
		arq->st.drop_window++;
		arq->want_wins = true;
		return;
	}
	if ((uint32_t)sdiff(h->sn, arq->rcv_nxt) > arq->rmask &&
	    rring_grow(arq, (uint32_t)sdiff(h->sn, arq->rcv_nxt))) {
		arq->st.drop_nobuf++;
		return;
	}
	idx = h->sn & arq->rmask;
	if (arq->rring[idx]) {
		arq->st.segs_dup++;
		ferry_arq_ack_push(arq, h->sn, h->ts, now);
		return;
	}
	/* above a hole only while more than the pool's last 32nd is free (arq.h) */
	buf =
	    h->sn == arq->rcv_nxt || pool_above_floor(arq->pool) ? ferry_pool_get(arq->pool) : NULL;
	if (!buf) {
		arq->st.drop_nobuf++;
		return;
	}
	if (h->len)
		memcpy(ferry_buf_put(buf, h->len), data, h->len);
	buf->user = h->frg;
	arq->rring[idx] = buf;
	arq->held++;
	arq->st.segs_recv++;
	ferry_arq_ack_push(arq, h->sn, h->ts, now);
	if (h->sn != arq->rcv_nxt && arq->cfg.ack_repeat) {
		struct ack_ent *e = &arq->rep[arq->rep_w++ & arq->rep_mask];

		e->sn = h->sn;
		e->ts = h->ts;
	}
	while ((buf = arq->rring[arq->rcv_nxt & arq->rmask]) != NULL) {
		arq->rring[arq->rcv_nxt & arq->rmask] = NULL;
		buf->next = NULL;
		if (arq->rq_tail)
			arq->rq_tail->next = buf;
		else
			arq->rq_head = buf;
		arq->rq_tail = buf;
		arq->rcv_nxt++;
		arq->nq++;
	}
}

int ferry_arq_input(struct ferry_arq *arq, const uint8_t *data, size_t len, uint64_t now)
{
	uint32_t now32 = (uint32_t)now, maxack = 0, maxts = 0;
	uint32_t old_inflight = arq->inflight;
	bool acked = false;
	size_t off = 0;

	if (arq->err)
		return arq->err;
	arq->st.dgrams_in++;
	arq->st.bytes_in += len;
	while (len - off >= FERRY_ARQ_HDR_LEN) {
		const uint8_t *p = data + off;
		struct ferry_arq_seg h;
		ssize_t n = ferry_arq_seg_decode(p, len - off, &h);

		if (n < 0)
			break;
		off += (size_t)n;
		if (h.conv != arq->conv) {
			arq->st.drop_conv++;
			continue;
		}
		if (h.cmd < FERRY_ARQ_CMD_PUSH || h.cmd > FERRY_ARQ_CMD_WINS ||
		    (h.cmd != FERRY_ARQ_CMD_PUSH && h.len) || h.len > arq->mss ||
		    sdiff(h.una, arq->snd_nxt) > 0 ||
		    (h.cmd == FERRY_ARQ_CMD_ACK && sdiff(h.sn, arq->snd_nxt) >= 0)) {
			/* una or an ACK for data we never sent: not our peer's state. */
			arq->st.drop_malformed++;
			continue;
		}
		arq->last_rx = now;
		/* The receiver's right edge never moves left; keep the furthest one seen. */
		if (!arq->rmt_heard || sdiff(h.una + h.wnd, arq->rmt_edge) > 0)
			arq->rmt_edge = h.una + h.wnd;
		arq->rmt_heard = true;
		arq->rmt_wnd = h.wnd;
		switch (h.cmd) {
		case FERRY_ARQ_CMD_ACK:
			on_ack(arq, h.sn, h.ts, now32);
			if (!acked || sdiff(h.sn, maxack) > 0)
				maxack = h.sn;
			if (!acked || sdiff(h.ts, maxts) > 0)
				maxts = h.ts;
			acked = true;
			break;
		case FERRY_ARQ_CMD_PUSH:
			on_push(arq, &h, p + FERRY_ARQ_HDR_LEN, now);
			break;
		case FERRY_ARQ_CMD_WASK:
			arq->want_wins = true;
			break;
		default: /* WINS: the window was taken above */
			break;
		}
		/* After the ACK itself, so that its RTT sample is taken before una frees it. */
		on_una(arq, h.una);
	}
	if (off < len)
		arq->st.drop_truncated++;
	if (acked)
		fastack_pass(arq, maxack, maxts);
	una_advance(arq);
	if (arq->inflight != old_inflight)
		arq->last_progress = now;
	cc_on_acked(arq, old_inflight - arq->inflight);
	return 0;
}

/* ---- application side ------------------------------------------------------------ */

/* After the application read, announce the window if it opened from zero or its right
 * edge moved by half the window since it was last advertised. */
static void maybe_announce(struct ferry_arq *arq, uint32_t before)
{
	uint32_t edge = arq->rcv_nxt + free_wnd(arq);

	if (before == 0 || (uint32_t)sdiff(edge, arq->adv_edge) >= (arq->cfg.rcv_wnd + 1) / 2)
		arq->want_wins = true;
}

static void rq_pop(struct ferry_arq *arq)
{
	struct ferry_buf *buf = arq->rq_head;

	arq->rq_head = buf->next;
	if (!arq->rq_head)
		arq->rq_tail = NULL;
	arq->held--;
	arq->nq--;
	ferry_pool_put(arq->pool, buf);
}

size_t ferry_arq_peek(struct ferry_arq *arq, const uint8_t **data)
{
	uint32_t before = free_wnd(arq);
	bool popped = false;

	*data = NULL;
	if (!arq->cfg.stream)
		return 0;
	while (arq->rq_head && !arq->rq_head->len) {
		rq_pop(arq);
		popped = true;
	}
	if (popped)
		maybe_announce(arq, before);
	if (!arq->rq_head)
		return 0;
	*data = arq->rq_head->data;
	return arq->rq_head->len;
}

void ferry_arq_consume(struct ferry_arq *arq, size_t n)
{
	uint32_t before = free_wnd(arq);
	size_t done = 0;

	while (arq->cfg.stream && arq->rq_head && done < n) {
		struct ferry_buf *buf = arq->rq_head;
		size_t k = buf->len < n - done ? buf->len : n - done;

		ferry_buf_pull(buf, (uint32_t)k);
		done += k;
		if (!buf->len)
			rq_pop(arq);
	}
	arq->st.payload_recv += done;
	if (done)
		maybe_announce(arq, before);
}

ssize_t ferry_arq_recv(struct ferry_arq *arq, void *out, size_t cap)
{
	uint32_t before = free_wnd(arq);
	uint8_t *dst = out;
	size_t done = 0;

	if (!arq->rq_head)
		return arq->err ? arq->err : -EAGAIN;
	if (cap > SSIZE_MAX)
		cap = SSIZE_MAX;
	if (arq->cfg.stream) {
		while (arq->rq_head && done < cap) {
			struct ferry_buf *buf = arq->rq_head;
			size_t n = buf->len < cap - done ? buf->len : cap - done;

			memcpy(dst + done, ferry_buf_pull(buf, (uint32_t)n), n);
			done += n;
			if (!buf->len)
				rq_pop(arq);
		}
	} else {
		const struct ferry_buf *buf;
		size_t total = 0;

		/* A message is complete once its last fragment (frg 0) is queued. */
		for (buf = arq->rq_head; buf; buf = buf->next) {
			total += buf->len;
			if (buf->user == 0)
				break;
		}
		if (!buf)
			return arq->err ? arq->err : -EAGAIN;
		if (total > cap)
			return -EMSGSIZE;
		for (;;) {
			bool last = arq->rq_head->user == 0;

			memcpy(dst + done, arq->rq_head->data, arq->rq_head->len);
			done += arq->rq_head->len;
			rq_pop(arq);
			if (last)
				break;
		}
	}
	arq->st.payload_recv += done;
	maybe_announce(arq, before);
	return (ssize_t)done;
}
