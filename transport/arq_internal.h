/* SPDX-License-Identifier: MIT */
/*
 * ARQ engine internals, shared by arq.c (create/destroy, datagram output, windows,
 * transmission, timers, update/flush), arq_send.c (the application's sends: send queue,
 * pool shares, send space) and arq_input.c (parsing a peer's datagram, ACK/una
 * processing, reassembly, the application's reads); not an API. It holds the engine's
 * state and the few helpers the files need; see arq.c for how it works.
 */
#ifndef FERRY_TRANSPORT_ARQ_INTERNAL_H
#define FERRY_TRANSPORT_ARQ_INTERNAL_H

#include "transport/arq.h"

#define NIL UINT32_MAX

/* Slots each ring starts with: a conversation's memory follows what it has had in flight
 * and held, not its configured windows (a thousand idle ones cost what one bulk one does). */
enum {
	RING_INIT = 32
};

enum {
	SLOT_DUE_FAST = 1, /* queued for fast retransmission */
	SLOT_DUE_RTO = 2,  /* queued for retransmission on timeout */
	SLOT_KEPT = 0x80,  /* ferry_arq_due_compact's mark while it runs */
};

struct sslot {
	struct ferry_buf *buf; /* NULL: free or acknowledged */
	uint64_t resend_at;
	uint64_t first_sent;
	uint32_t sn, ts, rto;
	uint32_t prev, next; /* unacked list, by ring index */
	uint16_t xmit, fastack;
	uint8_t frg, flags;
};

struct ack_ent {
	uint32_t sn, ts;
};

/* ACKs of out-of-order segments are repeated in the next ack_repeat flushes that send
 * ACKs: una covers an in-order segment whose ACK is lost, but nothing covers one above a
 * hole. They are recorded in a ring in arrival order; batch j (first ACKed by ACK flush j,
 * at time rep_at[j]) is rep[mark[j - 1] .. mark[j]), and ACK flush j also repeats those of
 * batches j - k .. j - 1 that are at most one interval old (see emit_ack_repeats). */
enum {
	ACK_REPEAT_MAX = 4,
	ACK_MARKS = ACK_REPEAT_MAX + 2,
};

/* Fields grouped by size (pointers and 64-bit times, then 32-bit, then flags), so the
 * struct has no padding holes; the comments say which side each belongs to. */
struct ferry_arq {
	struct ferry_arq_config cfg;
	struct ferry_arq_stats st;
	struct ferry_pool *pool;
	ferry_arq_output_fn output;
	void *ctx;
	uint8_t *dg; /* datagram being built, cfg.mtu bytes */
	size_t dg_len;

	/* send side */
	struct ferry_buf *sq_head, *sq_tail; /* not yet given an sn */
	struct sslot *sring;		     /* in flight, by sn & smask */
	uint32_t *due;			     /* ring indexes to retransmit */
	uint64_t sq_partial_since;	     /* when the partial tail got its first byte */
	uint64_t rto_bound;		     /* <= every unacked segment's deadline */
	uint64_t last_progress;		     /* last time an ACK or una freed a segment */
	uint64_t probe_at;
	uint64_t last_rx;
	uint64_t copy_at[FERRY_ARQ_THIN]; /* thin_copy: when each pending copy leaves ... */

	/* receive side */
	struct ferry_buf **rring;	     /* out of order, by sn & rmask */
	struct ferry_buf *rq_head, *rq_tail; /* in order, for the application */
	struct ack_ent *acks;		     /* ACKs to send, ack_max at most */
	struct ack_ent *rep;		     /* repeat ring, rep_mask + 1 entries */
	uint64_t ack_since;
	uint64_t rep_at[ACK_MARKS]; /* time of the last ACK flushes (by ack_flushes) */

	uint32_t conv, mss;
	int err;
	/* send side */
	uint32_t sq_len, smask;
	uint32_t span_max; /* snd_nxt - snd_una stays below: 4 * snd_wnd, or the ring's size
			      once it could not grow */
	uint32_t snd_una, snd_nxt;
	uint32_t ul_head, ul_tail, inflight; /* unacked list */
	uint32_t n_due;
	uint32_t rmt_edge, rmt_wnd;
	uint32_t cwnd, ssthresh, cwnd_cnt; /* nc = 0 only */
	uint32_t recover;		   /* losses below this sn were already answered */
	uint32_t srtt8, rttvar8, rto;	   /* srtt and rttvar in 1/8 ms */
	uint32_t probe_wait;
	uint32_t credit; /* datagrams of data this conversation may still send (the link's room) */
	bool
	    thin_held; /* a thin flow needs credit too, and sends no copies (ferry_arq_hold_thin) */
	uint32_t copy_sn[FERRY_ARQ_THIN]; /* ... and of which segment, oldest first */
	uint32_t n_copy;
	/* receive side */
	uint32_t rmask, rcap_max, rcv_nxt; /* rcap_max: what rring may grow to (rcv_wnd) */
	uint32_t held;			   /* segments in rring plus rq */
	uint32_t nq; /* segments in rq: the advertised window is rcv_wnd - nq */
	uint32_t adv_edge;
	uint32_t n_acks, ack_max;
	uint32_t rep_mask, rep_w;     /* rep_w: entries ever written */
	uint32_t rep_mark[ACK_MARKS]; /* rep_w at the last ACK flushes */
	uint32_t ack_flushes;

	bool sq_partial_new; /* the partial tail's first-byte time is not known yet */
	bool rmt_heard;	     /* false: rmt_edge is still the rmt_wnd_init guess */
	bool rtt_seen;
	bool want_wask, want_wins;
	bool emitted; /* this flush has sent a segment (WINS is then redundant) */
};

/* The ACK list's room for a receive ring of rcap slots: every segment the ring can hold,
 * and at least a datagram's worth. */
static inline uint32_t acks_for(uint32_t rcap, uint32_t mtu)
{
	return rcap > mtu / FERRY_ARQ_HDR_LEN ? rcap : mtu / FERRY_ARQ_HDR_LEN;
}

/* Whether more than the shared pool's last 32nd is free: those buffers take only the
 * received segment that fills a hole (arq.h). */
static inline bool pool_above_floor(const struct ferry_pool *pool)
{
	return pool->count - pool->stats.in_use > pool->count / 32;
}

static inline int32_t sdiff(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b);
}

/* Free receive window to advertise, in segments (rcv_wnd - nq, capped to the wnd field). */
static inline uint16_t free_wnd(const struct ferry_arq *arq)
{
	uint32_t f = arq->nq < arq->cfg.rcv_wnd ? arq->cfg.rcv_wnd - arq->nq : 0;

	return f > 0xffff ? 0xffff : (uint16_t)f;
}

/* Drops from the due list what flush would skip (slots acknowledged since, or queued twice
 * because one was acknowledged and its slot reused), so it has room for every slot. */
void ferry_arq_due_compact(struct ferry_arq *arq);

/* Queues a slot for the next flush to retransmit, at most once (why: SLOT_DUE_*). */
static inline void due_push(struct ferry_arq *arq, uint32_t idx, uint8_t why)
{
	struct sslot *s = &arq->sring[idx];

	if (s->flags)
		return;
	if (arq->n_due > arq->smask)
		ferry_arq_due_compact(arq);
	s->flags = why;
	arq->due[arq->n_due++] = idx;
}

/* Queues an ACK of sn echoing ts for the next flush; the first one queued starts the
 * ack_delay clock at now, and a full list is output at once. Lives in arq.c, next to the
 * code that sends the list. */
void ferry_arq_ack_push(struct ferry_arq *arq, uint32_t sn, uint32_t ts, uint64_t now);

#endif
