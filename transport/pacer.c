// SPDX-License-Identifier: MIT
/*
 * Token-bucket pacer with two priority queues. See pacer.h for the theory of operation.
 */
#include <errno.h>
#include <string.h>

#include "transport/pacer.h"

/* A second's worth of tokens must fit comfortably in 64 bits of milli-bytes. */
#define FERRY_PACER_RATE_MAX (UINT64_C(1) << 40) /* 1 TB/s */

static int configure(struct ferry_pacer *p, const struct ferry_pacer_config *cfg)
{
	uint64_t burst = cfg->burst;
	/* the largest datagram as charged (grow included) must fit, or it could never leave */
	uint64_t floor = cfg->min_burst ? (uint64_t)cfg->min_burst + cfg->grow : 0;

	if (cfg->rate > FERRY_PACER_RATE_MAX)
		return -EINVAL;
	if (burst && burst < floor)
		return -EINVAL;
	if (!burst) {
		burst = cfg->rate * FERRY_PACER_BURST_MS / 1000;
		if (burst < floor)
			burst = floor;
		if (!burst)
			burst = 1;
	}
	p->rate = cfg->rate;
	p->cap_mb = burst * 1000;
	p->queue_limit = cfg->queue_limit ? cfg->queue_limit : FERRY_PACER_QUEUE_DEFAULT;
	p->grow = cfg->grow;
	return 0;
}

int ferry_pacer_init(struct ferry_pacer *pacer, const struct ferry_pacer_config *cfg, uint64_t now)
{
	int err;

	memset(pacer, 0, sizeof(*pacer));
	err = configure(pacer, cfg);
	if (err)
		return err;
	pacer->tokens_mb = pacer->cap_mb;
	pacer->last_ms = now;
	return 0;
}

/* What the bucket may hold now: the burst, or while datagrams wait in a queue that is not
 * held, FERRY_PACER_CATCHUP_MS at the rate if that is more (pacer.h). */
static uint64_t cap_now(const struct ferry_pacer *p)
{
	uint64_t late = p->rate * FERRY_PACER_CATCHUP_MS;
	bool waiting = (p->q[FERRY_PACER_HIGH].count && !p->held[FERRY_PACER_HIGH]) ||
		       (p->q[FERRY_PACER_LOW].count && !p->held[FERRY_PACER_LOW]);

	return waiting && late > p->cap_mb ? late : p->cap_mb;
}

/* The tokens the bucket holds at now (refilled since last_ms, capped by cap_now). */
static uint64_t tokens_at(const struct ferry_pacer *p, uint64_t now)
{
	uint64_t dt, tokens = p->tokens_mb, cap = cap_now(p);

	if (!p->rate)
		return tokens;
	if (now > p->last_ms) {
		dt = now - p->last_ms;
		/* past cap / rate ms the bucket is full anyway; this also bounds the product */
		if (dt > cap / p->rate)
			dt = cap / p->rate + 1;
		tokens += dt * p->rate;
	}
	/* also what a late turn kept, once the queues it was kept for are empty */
	return tokens > cap ? cap : tokens;
}

static void refill(struct ferry_pacer *p, uint64_t now)
{
	p->tokens_mb = tokens_at(p, now);
	if (now > p->last_ms)
		p->last_ms = now;
}

int ferry_pacer_set_rate(struct ferry_pacer *pacer, const struct ferry_pacer_config *cfg,
			 uint64_t now)
{
	int err;

	refill(pacer, now);
	err = configure(pacer, cfg);
	if (!err && pacer->tokens_mb > cap_now(pacer))
		pacer->tokens_mb = cap_now(pacer);
	return err;
}

/* Takes len bytes of tokens if they are there. */
static bool take(struct ferry_pacer *p, uint32_t len, uint64_t now)
{
	uint64_t need = (uint64_t)len * 1000;

	if (!p->rate)
		goto ok;
	refill(p, now);
	if (p->tokens_mb < need)
		return false;
	p->tokens_mb -= need;
ok:
	p->stats.sent++;
	p->stats.bytes += len;
	return true;
}

bool ferry_pacer_admit(struct ferry_pacer *pacer, enum ferry_pacer_class cls, uint32_t len,
		       uint64_t now)
{
	if (pacer->held[cls])
		return false;
	/* a LOW datagram waits behind anything queued; a HIGH one only behind HIGH */
	if (pacer->q[FERRY_PACER_HIGH].count)
		return false;
	if (cls == FERRY_PACER_LOW && pacer->q[FERRY_PACER_LOW].count)
		return false;
	return take(pacer, len, now);
}

int ferry_pacer_enqueue(struct ferry_pacer *pacer, enum ferry_pacer_class cls,
			struct ferry_buf *buf)
{
	struct ferry_pacer_queue *q = &pacer->q[cls];

	if (q->count >= pacer->queue_limit) {
		pacer->stats.full++;
		return -ENOBUFS;
	}
	buf->next = NULL;
	if (q->tail)
		q->tail->next = buf;
	else
		q->head = buf;
	q->tail = buf;
	q->count++;
	pacer->stats.queued++;
	pacer->stats.depth[cls] = q->count;
	if (q->count > pacer->stats.high_depth)
		pacer->stats.high_depth = q->count;
	return 0;
}

/* The class whose head leaves next (HIGH first), or -1 when both queues are empty or
 * held. */
static int head_class(const struct ferry_pacer *p)
{
	if (p->q[FERRY_PACER_HIGH].count && !p->held[FERRY_PACER_HIGH])
		return FERRY_PACER_HIGH;
	if (p->q[FERRY_PACER_LOW].count && !p->held[FERRY_PACER_LOW])
		return FERRY_PACER_LOW;
	return -1;
}

/* Bytes a queued datagram takes on the wire (see grow in ferry_pacer_config). */
static uint32_t wire_len(const struct ferry_pacer *p, const struct ferry_buf *b)
{
	return b->len + p->grow;
}

void ferry_pacer_hold(struct ferry_pacer *pacer, enum ferry_pacer_class cls, bool held)
{
	pacer->held[cls] = held;
}

struct ferry_buf *ferry_pacer_dequeue(struct ferry_pacer *pacer, uint64_t now)
{
	int c = head_class(pacer);
	struct ferry_pacer_queue *q = c < 0 ? NULL : &pacer->q[c];
	struct ferry_buf *buf;

	if (!q || !take(pacer, wire_len(pacer, q->head), now))
		return NULL;
	buf = q->head;
	q->head = buf->next;
	if (!q->head)
		q->tail = NULL;
	q->count--;
	pacer->stats.depth[q - pacer->q] = q->count;
	buf->next = NULL;
	return buf;
}

uint64_t ferry_pacer_next_deadline(const struct ferry_pacer *pacer, uint64_t now)
{
	int c = head_class(pacer);
	uint64_t need, tokens;

	if (c < 0)
		return UINT64_MAX;
	if (!pacer->rate)
		return now;
	tokens = tokens_at(pacer, now);
	need = (uint64_t)wire_len(pacer, pacer->q[c].head) * 1000;
	if (tokens >= need)
		return now;
	return now + (need - tokens + pacer->rate - 1) / pacer->rate;
}

uint32_t ferry_pacer_depth(const struct ferry_pacer *pacer, enum ferry_pacer_class cls)
{
	return pacer->q[cls].count;
}

struct ferry_buf *ferry_pacer_drain(struct ferry_pacer *pacer)
{
	struct ferry_buf *chain = NULL, **tail = &chain;
	int c;

	for (c = 0; c < FERRY_PACER_CLASSES; c++) {
		struct ferry_pacer_queue *q = &pacer->q[c];

		*tail = q->head;
		if (q->tail)
			tail = &q->tail->next;
		memset(q, 0, sizeof(*q));
		pacer->stats.depth[c] = 0;
	}
	*tail = NULL;
	return chain;
}
