// SPDX-License-Identifier: MIT
/*
 * ARQ engine (see arq.h for the model; docs/arq.md for the differences from KCP's
 * reference code). Data structures, and why:
 *
 * - Send side: unsent segments wait in a FIFO of pool buffers (snd queue). Once given an
 *   sn they live in a ring of slots indexed by sn & smask; the ring holds 4 * snd_wnd
 *   slots and the span snd_nxt - snd_una never exceeds it, so slots never collide. An
 *   ACK finds its slot in O(1); una advances over freed slots, amortized O(1) per
 *   segment. Unacked slots are also linked in sn order, so the fast-retransmit pass walks
 *   only unacked segments below the highest acked sn (the holes), never acked ones.
 * - Retransmit timer: rto_bound is a lower bound of every unacked segment's deadline, and
 *   as RFC 6298 (5.3) asks, nothing expires earlier than one RTO after the last ACK that
 *   freed data. Only when now reaches both does update walk the unacked list, queue the
 *   expired segments and recompute the exact bound; segments acked in time cost nothing.
 * - Due list: segments to retransmit are queued once (a flag) and sent by the next flush,
 *   so input never scans and flush sends exactly what is due.
 * - Receive side: out-of-order segments sit in a ring indexed by sn & rmask until the gap
 *   closes, then move to a FIFO the application reads (nq segments). PUSH is accepted only
 *   below rcv_nxt + rcv_wnd - nq, the right edge we advertise: it never moves left, and
 *   ring plus FIFO never hold more than rcv_wnd buffers. A PUSH past it (a KCP sender
 *   misled by a reordered older window) is answered with the window at the next flush.
 * - ACKs: sent at the next flush, batched; those of out-of-order segments repeated while
 *   young (emit_ack_repeats says why only then).
 *
 * All sn, una and ts comparisons are wrap-safe (signed 32-bit differences).
 *
 * This file holds the engine core, datagram output, loss reaction and the timers;
 * arq_send.c the application's side of sending (the send queue, the shared pool's
 * shares, send space); arq_input.c the input path (ACK/una processing, reassembly, the
 * application's reads); arq_internal.h the state they share.
 */
#include "transport/arq.h"
#include "transport/arq_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static uint32_t pow2_at_least(uint32_t n)
{
	uint32_t p = 1;

	while (p < n)
		p <<= 1;
	return p;
}

int ferry_arq_create(struct ferry_arq **out, uint32_t conv, const struct ferry_arq_config *cfg,
		     struct ferry_pool *pool, ferry_arq_output_fn output, void *ctx)
{
	struct ferry_arq *arq;
	uint32_t sring, rring;

	*out = NULL;
	if (!cfg || !pool || !output || cfg->mtu < FERRY_ARQ_MTU_MIN ||
	    cfg->mtu > FERRY_ARQ_MTU_MAX || pool->size < cfg->mtu - FERRY_ARQ_HDR_LEN ||
	    cfg->snd_wnd == 0 || cfg->snd_wnd > FERRY_ARQ_WND_MAX || cfg->rcv_wnd == 0 ||
	    cfg->rcv_wnd > FERRY_ARQ_WND_MAX || cfg->snd_queue_max == 0 || cfg->interval == 0 ||
	    cfg->interval > 5000 || cfg->nodelay > 1 || cfg->resend > 0xffff ||
	    cfg->fast_limit > 0xffff || cfg->dead_link == 0 || cfg->dead_link > 0xfffe ||
	    cfg->rmt_wnd_init == 0 || cfg->ack_repeat > ACK_REPEAT_MAX)
		return -EINVAL;

	arq = calloc(1, sizeof(*arq));
	if (!arq)
		return -ENOMEM;
	/* the rings start small and double as the windows fill (sring_grow, rring_grow) */
	arq->span_max = pow2_at_least(4 * cfg->snd_wnd);
	arq->rcap_max = pow2_at_least(cfg->rcv_wnd);
	sring = arq->span_max < RING_INIT ? arq->span_max : RING_INIT;
	rring = arq->rcap_max < RING_INIT ? arq->rcap_max : RING_INIT;
	arq->sring = calloc(sring, sizeof(*arq->sring));
	arq->due = calloc(sring, sizeof(*arq->due));
	arq->rring = calloc(rring, sizeof(struct ferry_buf *));
	arq->ack_max = acks_for(rring, cfg->mtu);
	arq->acks = calloc(arq->ack_max, sizeof(*arq->acks));
	arq->rep_mask = pow2_at_least(arq->ack_max) - 1;
	arq->rep = calloc(arq->rep_mask + 1, sizeof(*arq->rep));
	arq->dg = malloc(cfg->mtu);
	if (!arq->sring || !arq->due || !arq->rring || !arq->acks || !arq->rep || !arq->dg) {
		ferry_arq_destroy(arq);
		return -ENOMEM;
	}
	arq->cfg = *cfg;
	if (!arq->cfg.min_rto)
		arq->cfg.min_rto =
		    cfg->nodelay ? FERRY_ARQ_RTO_MIN_NODELAY : FERRY_ARQ_RTO_MIN_NORMAL;
	arq->pool = pool;
	arq->output = output;
	arq->ctx = ctx;
	arq->conv = conv;
	arq->mss = cfg->mtu - FERRY_ARQ_HDR_LEN;
	arq->smask = sring - 1;
	arq->rmask = rring - 1;
	arq->snd_una = arq->snd_nxt = cfg->initial_sn;
	arq->rcv_nxt = cfg->initial_sn;
	arq->ul_head = arq->ul_tail = NIL;
	arq->rmt_wnd = cfg->rmt_wnd_init;
	arq->rmt_edge = cfg->initial_sn + cfg->rmt_wnd_init;
	arq->adv_edge = cfg->initial_sn + cfg->rcv_wnd;
	arq->cwnd = 1;
	arq->ssthresh = cfg->snd_wnd;
	arq->recover = cfg->initial_sn;
	arq->rto = FERRY_ARQ_RTO_INIT;
	arq->rto_bound = UINT64_MAX;
	arq->probe_wait = FERRY_ARQ_PROBE_INIT;
	arq->credit = UINT32_MAX;
	*out = arq;
	return 0;
}

void ferry_arq_destroy(struct ferry_arq *arq)
{
	uint32_t i;

	if (!arq)
		return;
	if (arq->pool) {
		if (ferry_arq_pending(arq))
			arq->pool->senders--;
		ferry_pool_put_chain(arq->pool, arq->sq_head);
		ferry_pool_put_chain(arq->pool, arq->rq_head);
		for (i = 0; arq->sring && i <= arq->smask; i++)
			ferry_pool_put(arq->pool, arq->sring[i].buf);
		for (i = 0; arq->rring && i <= arq->rmask; i++)
			ferry_pool_put(arq->pool, arq->rring[i]);
	}
	free(arq->sring);
	free(arq->due);
	free(arq->rring);
	free(arq->acks);
	free(arq->rep);
	free(arq->dg);
	free(arq);
}

/* ---- output ---------------------------------------------------------------------- */

static void dgram_out(struct ferry_arq *arq, const uint8_t *p, size_t len)
{
	arq->st.dgrams_out++;
	arq->st.bytes_out += len;
	if (arq->output(arq->ctx, p, len) < 0)
		arq->st.output_errors++;
}

static void dgram_flush(struct ferry_arq *arq)
{
	if (arq->dg_len) {
		dgram_out(arq, arq->dg, arq->dg_len);
		arq->dg_len = 0;
	}
}

/* Appends a segment to the datagram being built; a full-sized PUSH whose buffer has
 * headroom goes out on its own, in place. */
static void emit(struct ferry_arq *arq, uint8_t cmd, uint8_t frg, uint32_t ts, uint32_t sn,
		 struct ferry_buf *buf)
{
	uint16_t wnd = free_wnd(arq);
	struct ferry_arq_seg h = {
	    .conv = arq->conv,
	    .cmd = cmd,
	    .frg = frg,
	    .wnd = wnd,
	    .ts = ts,
	    .sn = sn,
	    .una = arq->rcv_nxt,
	    .len = buf ? buf->len : 0,
	};
	size_t need = FERRY_ARQ_HDR_LEN + h.len;

	arq->emitted = true;
	arq->adv_edge = arq->rcv_nxt + wnd;
	if (arq->dg_len + need > arq->cfg.mtu)
		dgram_flush(arq);
	if (buf && arq->dg_len == 0 && need + FERRY_ARQ_HDR_LEN > arq->cfg.mtu &&
	    ferry_buf_headroom(buf) >= FERRY_ARQ_HDR_LEN) {
		uint8_t *p = ferry_buf_push(buf, FERRY_ARQ_HDR_LEN);

		ferry_arq_hdr_write(p, &h);
		dgram_out(arq, p, need);
		ferry_buf_pull(buf, FERRY_ARQ_HDR_LEN);
		return;
	}
	ferry_arq_hdr_write(arq->dg + arq->dg_len, &h);
	if (h.len)
		memcpy(arq->dg + arq->dg_len + FERRY_ARQ_HDR_LEN, buf->data, h.len);
	arq->dg_len += need;
}

static void emit_acks(struct ferry_arq *arq)
{
	uint32_t i;

	for (i = 0; i < arq->n_acks; i++)
		emit(arq, FERRY_ARQ_CMD_ACK, 0, arq->acks[i].ts, arq->acks[i].sn, NULL);
	arq->st.acks_sent += arq->n_acks;
	arq->n_acks = 0;
}

/* Riding along with new ACKs only, so repeats add no ACK batch and rarely a datagram.
 *
 * A repeat echoes the ts of a transmission that was ACKed before, and KCP senders take an
 * RTT sample from every ACK they get (ikcp.c from each ACK segment, kcp-go from the last
 * one of each datagram), acknowledged or not: a repeat sent a long while after the first
 * ACK inflates their SRTT, hence their RTO and their window probes, by that while. So a
 * batch is repeated only while its first ACK is at most one interval old (or ack_delay,
 * if larger): no more delay than a KCP receiver, which ACKs at its next tick, or any ACK
 * of ours may already add. That keeps the repeats of a flowing transfer, where ACK
 * flushes follow each other within milliseconds, and drops the misleading ones, sent
 * when traffic resumes after a pause (a timeout, a closed window, whole windows that
 * arrive at once). They go before the new ACKs, so the last ACK of a datagram, kcp-go's
 * sample, is a fresh one. Our own sender samples only the ACK that frees a segment
 * (on_ack in arq_input.c), so a repeat misleads it only when the first ACK was lost, but
 * then just as much: it gains too. docs/arq.md has the figures. */
static void emit_ack_repeats(struct ferry_arq *arq, uint64_t now)
{
	uint32_t j = arq->ack_flushes, k = arq->cfg.ack_repeat, b, from = 0, to, i;
	uint64_t max_age =
	    arq->cfg.ack_delay > arq->cfg.interval ? arq->cfg.ack_delay : arq->cfg.interval;

	if (!k || !j)
		return;
	b = j > k ? j - k : 0; /* the oldest batch to repeat */
	while (b < j && now - arq->rep_at[b % ACK_MARKS] > max_age)
		b++;
	if (b == j)
		return;
	to = arq->rep_mark[(j - 1) % ACK_MARKS];
	if (b > 0)
		from = arq->rep_mark[(b - 1) % ACK_MARKS];
	if (to - from > arq->rep_mask + 1)
		from = to - (arq->rep_mask + 1); /* overwritten: keep the newest */
	for (i = from; i != to; i++) {
		const struct ack_ent *e = &arq->rep[i & arq->rep_mask];

		if (sdiff(e->sn, arq->rcv_nxt) < 0)
			continue; /* una covers it now */
		emit(arq, FERRY_ARQ_CMD_ACK, 0, e->ts, e->sn, NULL);
		arq->st.acks_repeated++;
	}
}

void ferry_arq_ack_push(struct ferry_arq *arq, uint32_t sn, uint32_t ts, uint64_t now)
{
	if (arq->n_acks == arq->ack_max) {
		/* The list is bounded: a full list goes out now rather than growing. */
		emit_acks(arq);
		dgram_flush(arq);
	}
	if (arq->n_acks == 0)
		arq->ack_since = now;
	arq->acks[arq->n_acks].sn = sn;
	arq->acks[arq->n_acks].ts = ts;
	arq->n_acks++;
}

/* ---- send side ------------------------------------------------------------------- */

/* ACK and una processing (slot release, RTT samples, fast-retransmit counting, cwnd
 * growth) runs on input: see arq_input.c. */

/* One multiplicative decrease per window: a loss among segments sent before the last
 * decrease is part of the same episode. A timeout restarts from one segment. */
static void cc_on_loss(struct ferry_arq *arq, bool timeout)
{
	arq->ssthresh = arq->inflight / 2 > 2 ? arq->inflight / 2 : 2;
	arq->cwnd = timeout ? 1 : arq->ssthresh;
	arq->cwnd_cnt = 0;
	arq->recover = arq->snd_nxt;
}

/* ---- timers and flush ------------------------------------------------------------ */

static void set_dead(struct ferry_arq *arq)
{
	arq->err = -ETIMEDOUT;
	arq->n_acks = 0;
	arq->n_due = 0;
}

/* RFC 6298 (5.3): the timer restarts when an ACK frees data, so while ACKs keep freeing
 * segments nothing times out (losses among them are the fast path's job); a segment
 * expires at its own deadline or one RTO after the last progress, whichever is later. */
static uint64_t rto_deadline(const struct ferry_arq *arq)
{
	uint64_t restart = arq->last_progress + arq->rto;

	return arq->rto_bound > restart ? arq->rto_bound : restart;
}

/* Queues expired segments and recomputes the exact earliest deadline. */
static void timer_pass(struct ferry_arq *arq, uint64_t now)
{
	uint64_t bound = UINT64_MAX;
	uint32_t idx;

	for (idx = arq->ul_head; idx != NIL; idx = arq->sring[idx].next) {
		struct sslot *s = &arq->sring[idx];

		if (s->flags)
			continue;
		if (s->resend_at <= now) {
			if (s->xmit >= arq->cfg.dead_link) {
				set_dead(arq);
				return;
			}
			due_push(arq, idx, SLOT_DUE_RTO);
		} else if (s->resend_at < bound) {
			bound = s->resend_at;
		}
	}
	arq->rto_bound = bound;
}

static bool window_open(const struct ferry_arq *arq)
{
	uint32_t limit = arq->cfg.snd_wnd;

	if (!arq->cfg.nc && arq->cwnd < limit)
		limit = arq->cwnd;
	return arq->inflight < limit && sdiff(arq->snd_nxt, arq->rmt_edge) < 0 &&
	       arq->snd_nxt - arq->snd_una < arq->span_max;
}

void ferry_arq_due_compact(struct ferry_arq *arq)
{
	uint32_t i, n = 0;

	for (i = 0; i < arq->n_due; i++) {
		struct sslot *s = &arq->sring[arq->due[i]];

		if (s->buf && s->flags && !(s->flags & SLOT_KEPT)) {
			s->flags |= SLOT_KEPT;
			arq->due[n++] = arq->due[i];
		}
	}
	for (i = 0; i < n; i++)
		arq->sring[arq->due[i]].flags &= (uint8_t)~SLOT_KEPT;
	arq->n_due = n;
}

/* The send ring is full (the span snd_una..snd_nxt covers it) and the window allows more:
 * doubles it, every slot moving to its sn's place in the larger ring, the unacked list's
 * and the due list's ring indexes with them. Returns 0, or -ENOMEM, after which the span
 * stays within the ring as it is. */
static int sring_grow(struct ferry_arq *arq)
{
	uint32_t ocap = arq->smask + 1, ncap = ocap * 2, nmask = ncap - 1, sn, i, n = 0;
	struct sslot *ns = calloc(ncap, sizeof(*ns));
	uint32_t *nd = calloc(ncap, sizeof(*nd));

	if (!ns || !nd) {
		free(ns);
		free(nd);
		arq->span_max = ocap;
		return -ENOMEM;
	}
	for (sn = arq->snd_una; sn != arq->snd_nxt; sn++) {
		const struct sslot *o = &arq->sring[sn & arq->smask];
		struct sslot *s = &ns[sn & nmask];

		if (!o->buf)
			continue; /* acknowledged: stays a free slot */
		*s = *o;
		s->prev = o->prev == NIL ? NIL : arq->sring[o->prev].sn & nmask;
		s->next = o->next == NIL ? NIL : arq->sring[o->next].sn & nmask;
	}
	for (i = 0; i < arq->n_due; i++) {
		const struct sslot *o = &arq->sring[arq->due[i]];

		if (o->buf && o->flags) /* what flush would skip is left out */
			nd[n++] = o->sn & nmask;
	}
	if (arq->ul_head != NIL) {
		arq->ul_head = arq->sring[arq->ul_head].sn & nmask;
		arq->ul_tail = arq->sring[arq->ul_tail].sn & nmask;
	}
	free(arq->sring);
	free(arq->due);
	arq->sring = ns;
	arq->due = nd;
	arq->n_due = n;
	arq->smask = nmask;
	return 0;
}

/* A thin flow: a few segments in flight and queued (arq.h). */
static bool thin(const struct ferry_arq *arq)
{
	return arq->inflight + arq->sq_len <= FERRY_ARQ_THIN;
}

/* Whether data may leave without credit: a thin flow's, unless thin flows are held. */
static bool may_send(const struct ferry_arq *arq)
{
	return arq->credit || (!arq->thin_held && thin(arq));
}

/* Whether the head of the send queue may leave now (a lone partial stream segment waits
 * up to one interval for more bytes). */
static bool head_ready(const struct ferry_arq *arq, uint64_t now, bool force)
{
	const struct ferry_buf *b = arq->sq_head;

	if (!b || !may_send(arq) || !window_open(arq))
		return false;
	return force || !arq->cfg.stream || b->len == arq->mss || b->next ||
	       now >= arq->sq_partial_since + arq->cfg.interval;
}

static void transmit(struct ferry_arq *arq, struct sslot *s, uint64_t now)
{
	s->ts = (uint32_t)now;
	s->xmit++;
	s->fastack = 0;
	s->flags = 0;
	s->resend_at = now + s->rto;
	if (s->resend_at < arq->rto_bound)
		arq->rto_bound = s->resend_at;
	emit(arq, FERRY_ARQ_CMD_PUSH, s->frg, s->ts, s->sn, s->buf);
}

/* Sends the copies of thin segments that are due, unless their segment was acknowledged
 * or retransmitted meanwhile. A copy echoes its own ts, so the ACK it draws is a true RTT
 * sample. */
static void emit_copies(struct ferry_arq *arq, uint64_t now)
{
	uint32_t i = 0, k;

	while (i < arq->n_copy && arq->copy_at[i] <= now) {
		const struct sslot *s = &arq->sring[arq->copy_sn[i] & arq->smask];

		if (s->buf && s->sn == arq->copy_sn[i] && s->xmit == 1) {
			if (arq->thin_held) {
				arq->st.copies_held++;
			} else {
				emit(arq, FERRY_ARQ_CMD_PUSH, s->frg, (uint32_t)now, s->sn, s->buf);
				arq->st.segs_copied++;
			}
		}
		i++;
	}
	for (k = i; k < arq->n_copy; k++) {
		arq->copy_sn[k - i] = arq->copy_sn[k];
		arq->copy_at[k - i] = arq->copy_at[k];
	}
	arq->n_copy -= i;
}

static void flush(struct ferry_arq *arq, uint64_t now, bool force)
{
	bool lost_fast = false, lost_rto = false;
	uint32_t recover = arq->recover;
	uint32_t i;

	arq->emitted = false;
	if (arq->n_acks) {
		arq->rep_mark[arq->ack_flushes % ACK_MARKS] = arq->rep_w;
		arq->rep_at[arq->ack_flushes % ACK_MARKS] = now;
		emit_ack_repeats(arq, now);
		emit_acks(arq);
		arq->ack_flushes++;
	}
	if (arq->want_wask) {
		emit(arq, FERRY_ARQ_CMD_WASK, 0, (uint32_t)now, 0, NULL);
		arq->st.probes_sent++;
		arq->want_wask = false;
	}
	/* a thin flow resends without credit, as it sends: its one lost segment (a FIN, a
	 * request's last bytes) must not wait for room that bulk conversations keep taking
	 * (with 1,500 flows, FINs waited there until the 120 s dead time reset them) */
	for (i = 0; i < arq->n_due && may_send(arq); i++) {
		struct sslot *s = &arq->sring[arq->due[i]];

		if (!s->buf || !s->flags)
			continue;
		if (s->flags & SLOT_DUE_RTO) {
			uint32_t grow = arq->cfg.nodelay ? s->rto / 2 : s->rto;

			s->rto =
			    s->rto + grow > FERRY_ARQ_RTO_MAX ? FERRY_ARQ_RTO_MAX : s->rto + grow;
			arq->st.segs_rto++;
			lost_rto = true;
		} else {
			arq->st.segs_fast++;
			lost_fast |= sdiff(s->sn, recover) >= 0;
		}
		transmit(arq, s, now);
		if (arq->credit != UINT32_MAX && arq->credit)
			arq->credit--;
	}
	/* out of credit: the rest stay due, in order, for the next run */
	memmove(arq->due, arq->due + i, (arq->n_due - i) * sizeof(*arq->due));
	arq->n_due -= i;
	if (!arq->cfg.nc && (lost_fast || lost_rto))
		cc_on_loss(arq, lost_rto);
	while (head_ready(arq, now, force)) {
		struct ferry_buf *buf = arq->sq_head;
		uint32_t idx;
		struct sslot *s;
		bool copy = arq->cfg.thin_copy && !arq->thin_held && thin(arq) &&
			    arq->n_copy < FERRY_ARQ_THIN;

		if (arq->snd_nxt - arq->snd_una > arq->smask && sring_grow(arq))
			break;
		idx = arq->snd_nxt & arq->smask;
		s = &arq->sring[idx];
		arq->sq_head = buf->next;
		if (!arq->sq_head)
			arq->sq_tail = NULL;
		arq->sq_len--;
		buf->next = NULL;
		memset(s, 0, sizeof(*s));
		s->buf = buf;
		s->sn = arq->snd_nxt++;
		s->frg = arq->cfg.stream ? 0 : (uint8_t)buf->user;
		s->rto = arq->rto;
		s->first_sent = now;
		s->prev = arq->ul_tail;
		s->next = NIL;
		if (arq->ul_tail != NIL)
			arq->sring[arq->ul_tail].next = idx;
		else
			arq->ul_head = idx;
		arq->ul_tail = idx;
		arq->inflight++;
		arq->st.segs_sent++;
		if (arq->credit != UINT32_MAX && arq->credit)
			arq->credit--;
		transmit(arq, s, now);
		if (copy) {
			arq->copy_sn[arq->n_copy] = s->sn;
			arq->copy_at[arq->n_copy++] = now + FERRY_ARQ_THIN_COPY_MS;
		}
	}
	emit_copies(arq, now);
	if (arq->want_wins && !arq->emitted) {
		emit(arq, FERRY_ARQ_CMD_WINS, 0, (uint32_t)now, 0, NULL);
		arq->st.wins_sent++;
	}
	arq->want_wins = false;
	dgram_flush(arq);
}

/* Zero-window probing: nothing in flight and the peer's edge closes the window. */
static void probe_timer(struct ferry_arq *arq, uint64_t now)
{
	if (!arq->sq_head || arq->inflight || sdiff(arq->snd_nxt, arq->rmt_edge) < 0) {
		arq->probe_at = 0;
		arq->probe_wait = FERRY_ARQ_PROBE_INIT;
		return;
	}
	if (!arq->probe_at) {
		arq->probe_at = now + arq->probe_wait;
		return;
	}
	if (arq->cfg.dead_time && now >= arq->last_rx + arq->cfg.dead_time && arq->st.probes_sent) {
		set_dead(arq);
		return;
	}
	if (now >= arq->probe_at) {
		arq->want_wask = true;
		arq->probe_wait += arq->probe_wait / 2;
		if (arq->probe_wait > FERRY_ARQ_PROBE_MAX)
			arq->probe_wait = FERRY_ARQ_PROBE_MAX;
		arq->probe_at = now + arq->probe_wait;
	}
}

static void timers(struct ferry_arq *arq, uint64_t now)
{
	if (arq->sq_partial_new) {
		arq->sq_partial_since = now;
		arq->sq_partial_new = false;
	}
	if (arq->ul_head != NIL && arq->cfg.dead_time &&
	    now >= arq->sring[arq->ul_head].first_sent + arq->cfg.dead_time) {
		set_dead(arq);
		return;
	}
	if (arq->inflight && now >= rto_deadline(arq))
		timer_pass(arq, now);
	if (!arq->err)
		probe_timer(arq, now);
}

/* A stale lower bound must not leave a deadline in the past after an update: the event
 * loop would spin. Recompute it (nothing can expire here: all due was just sent). */
static void settle(struct ferry_arq *arq, uint64_t now)
{
	if (!arq->err && arq->inflight && rto_deadline(arq) <= now)
		timer_pass(arq, now);
}

int ferry_arq_timer(struct ferry_arq *arq, uint64_t now)
{
	if (arq->err)
		return arq->err;
	timers(arq, now);
	if (!arq->err && ferry_arq_next_deadline(arq, now) <= now)
		flush(arq, now, false);
	settle(arq, now);
	return arq->err;
}

int ferry_arq_flush(struct ferry_arq *arq, uint64_t now)
{
	if (arq->err)
		return arq->err;
	timers(arq, now);
	if (!arq->err)
		flush(arq, now, true);
	settle(arq, now);
	return arq->err;
}

static inline uint64_t min64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

uint64_t ferry_arq_next_deadline(const struct ferry_arq *arq, uint64_t now)
{
	uint64_t d = UINT64_MAX;

	if (arq->err)
		return UINT64_MAX;
	if ((arq->n_due && may_send(arq)) || arq->want_wask || arq->want_wins ||
	    arq->sq_partial_new)
		return now;
	if (arq->n_acks)
		d = arq->ack_since + arq->cfg.ack_delay;
	if (arq->n_copy)
		d = min64(d, arq->copy_at[0]);
	if (arq->sq_head && may_send(arq) && window_open(arq)) {
		const struct ferry_buf *b = arq->sq_head;

		if (!arq->cfg.stream || b->len == arq->mss || b->next)
			return now;
		d = min64(d, arq->sq_partial_since + arq->cfg.interval);
	}
	if (arq->inflight) {
		d = min64(d, rto_deadline(arq));
		if (arq->cfg.dead_time)
			d = min64(d, arq->sring[arq->ul_head].first_sent + arq->cfg.dead_time);
	}
	if (arq->probe_at)
		d = min64(d, arq->probe_at);
	return d;
}

void ferry_arq_set_credit(struct ferry_arq *arq, uint32_t segments)
{
	arq->credit = segments;
}

void ferry_arq_hold_thin(struct ferry_arq *arq, bool hold)
{
	arq->thin_held = hold;
}

bool ferry_arq_thin(const struct ferry_arq *arq)
{
	return thin(arq);
}

uint32_t ferry_arq_credit(const struct ferry_arq *arq)
{
	return arq->credit;
}

bool ferry_arq_wants_credit(const struct ferry_arq *arq)
{
	return !arq->err && (arq->n_due || (arq->sq_head && window_open(arq)));
}

int ferry_arq_error(const struct ferry_arq *arq)
{
	return arq->err;
}

uint32_t ferry_arq_pending(const struct ferry_arq *arq)
{
	return arq->sq_len + arq->inflight;
}

void ferry_arq_stats(const struct ferry_arq *arq, struct ferry_arq_stats *out)
{
	*out = arq->st;
	out->srtt = arq->srtt8 / 8;
	out->rttvar = arq->rttvar8 / 8;
	out->rto = arq->rto;
	out->cwnd = arq->cfg.nc ? arq->cfg.snd_wnd : arq->cwnd;
	out->inflight = arq->inflight;
	out->rmt_wnd = arq->rmt_wnd;
	out->snd_queue = arq->sq_len;
	out->rcv_held = arq->held;
	out->sring_slots = arq->smask + 1;
	out->rring_slots = arq->rmask + 1;
}
