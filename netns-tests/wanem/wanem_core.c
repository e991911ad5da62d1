// SPDX-License-Identifier: MIT
/*
 * ferry-wanem's decision core: what happens to a packet on one emulated one-way path.
 *
 * Theory of operation. A packet offered at time `now` goes through four stages, in the
 * order a real path applies them:
 *
 *   loss -> duplication -> bottleneck (rate + drop-tail queue) -> delay line (+ jitter,
 *   reordering) -> departure schedule
 *
 * 1. Loss. Either Bernoulli (each packet lost with probability `loss`) or Gilbert-Elliott:
 *    a two-state Markov chain stepped once per packet, good -> bad with probability p and
 *    bad -> good with probability r, after which the packet is lost with the loss
 *    probability of the state it is in (ge_loss_good, ge_loss_bad). In steady state the
 *    chain is bad a fraction p / (p + r) of the time, so the loss rate is
 *    (r * loss_good + p * loss_bad) / (p + r); with loss_good = 0 and loss_bad = 1 (the
 *    plain Gilbert model) losses come in bursts of geometric length with mean 1 / r.
 * 2. Duplication: a surviving packet is sent twice with probability `dup`. Both copies go
 *    through the remaining stages on their own and carry the same handle.
 * 3. Bottleneck. With rate_bps > 0 the path is a link of that rate behind a FIFO drop-tail
 *    queue. A copy is accepted if the queue (every copy whose last bit has not left the
 *    link yet, including the one on the wire) stays within queue_bytes and queue_pkts;
 *    otherwise it is dropped (qdrop). An accepted copy starts when the link is free and
 *    finishes len * 8 / rate later. Times are integer nanoseconds; the fraction of a
 *    nanosecond each packet leaves is carried to the next one, so back-to-back departures
 *    are exactly floor(bits_so_far * 1e9 / rate) after the busy period began: no drift.
 * 4. Delay line. The copy leaves delay + jitter after it finished on the link (or after it
 *    arrived, without a rate). Jitter is uniform on [-jitter, +jitter] or normal with
 *    sigma = jitter (the sum of twelve uniforms, so never beyond 6 sigma); the total delay
 *    never goes below zero. Unless jitter_reorder is set, a departure is never earlier than
 *    the previous one: jitter then stretches gaps but does not reorder, and the delays
 *    lean slightly above the configured mean. Finally, with probability `reorder` a copy
 *    is held back by reorder_delay more, without holding back the ones after it, which
 *    overtake it if they come within that time.
 *
 * The departure schedule is a min-heap ordered by (departure time, arrival sequence), so
 * copies due at the same time leave in the order they came.
 *
 * Reproducibility: each kind of random decision (loss, Gilbert-Elliott state, duplication,
 * reordering, jitter) draws from its own splitmix64 stream seeded from (seed, path_id, kind)
 * and draws only when that feature is on. Decisions depend only on the seed and on the
 * sequence of (now, len) offered, and one feature never shifts another's decisions.
 */
#include "netns-tests/wanem/wanem_core.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NSEC_PER_SEC 1000000000ull

enum rng_stream {
	RNG_LOSS,
	RNG_GE,
	RNG_DUP,
	RNG_REORDER,
	RNG_JITTER,
	RNG_STREAMS,
};

/* splitmix64: a 64-bit counter through a mixing function; any seed is a good seed. */
static uint64_t rng_next(struct ferry_wanem_rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void rng_seed(struct ferry_wanem_rng *r, uint64_t seed, uint32_t path_id,
		     enum rng_stream kind)
{
	struct ferry_wanem_rng mix = {seed};
	uint64_t id = (uint64_t)path_id * RNG_STREAMS + (uint64_t)kind;

	/* two rounds through the mixer separate nearby seeds and ids completely */
	mix.s = rng_next(&mix) ^ (id * 0xd1b54a32d192ed03ull);
	r->s = rng_next(&mix);
}

/* True with the probability that threshold encodes (see prob_threshold). */
static bool rng_chance(struct ferry_wanem_rng *r, uint64_t threshold)
{
	return (rng_next(r) >> 32) < threshold;
}

/* A uniform double on [0, 1). */
static double rng_unit(struct ferry_wanem_rng *r)
{
	return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* Probability x in [0, 1] as a threshold for a 32-bit draw: 0 never, 2^32 always. */
static uint64_t prob_threshold(double x)
{
	return (uint64_t)llround(x * 4294967296.0);
}

static bool prob_ok(double x)
{
	return x >= 0.0 && x <= 1.0; /* false for NaN too */
}

int ferry_wanem_path_config_check(const struct ferry_wanem_path_config *cfg)
{
	if (!prob_ok(cfg->loss) || !prob_ok(cfg->ge_p) || !prob_ok(cfg->ge_r) ||
	    !prob_ok(cfg->ge_loss_good) || !prob_ok(cfg->ge_loss_bad) || !prob_ok(cfg->dup) ||
	    !prob_ok(cfg->reorder))
		return -EINVAL;
	if (cfg->ge_p > 0.0 && (cfg->loss > 0.0 || cfg->ge_r <= 0.0))
		return -EINVAL;
	if (cfg->jitter_dist != FERRY_WANEM_JITTER_UNIFORM &&
	    cfg->jitter_dist != FERRY_WANEM_JITTER_NORMAL)
		return -EINVAL;
	return 0;
}

int ferry_wanem_path_init(struct ferry_wanem_path *p, const struct ferry_wanem_path_config *cfg,
			  uint64_t seed, uint32_t path_id, uint32_t capacity)
{
	memset(p, 0, sizeof(*p));
	if (ferry_wanem_path_config_check(cfg) || capacity == 0)
		return -EINVAL;
	p->cfg = *cfg;
	p->capacity = capacity;
	p->heap = calloc(capacity, sizeof(*p->heap));
	if (!p->heap)
		return -ENOMEM;
	p->backlog = calloc(capacity, sizeof(*p->backlog));
	if (!p->backlog)
		goto err_free_heap;

	p->loss_th = prob_threshold(cfg->loss);
	p->ge_p_th = prob_threshold(cfg->ge_p);
	p->ge_r_th = prob_threshold(cfg->ge_r);
	p->ge_good_th = prob_threshold(cfg->ge_loss_good);
	p->ge_bad_th = prob_threshold(cfg->ge_loss_bad);
	p->dup_th = prob_threshold(cfg->dup);
	p->reorder_th = prob_threshold(cfg->reorder);
	rng_seed(&p->rng_loss, seed, path_id, RNG_LOSS);
	rng_seed(&p->rng_ge, seed, path_id, RNG_GE);
	rng_seed(&p->rng_dup, seed, path_id, RNG_DUP);
	rng_seed(&p->rng_reorder, seed, path_id, RNG_REORDER);
	rng_seed(&p->rng_jitter, seed, path_id, RNG_JITTER);
	p->ge_state = FERRY_WANEM_GE_GOOD;
	return 0;

err_free_heap:
	free(p->heap);
	p->heap = NULL;
	return -ENOMEM;
}

void ferry_wanem_path_destroy(struct ferry_wanem_path *p)
{
	free(p->backlog);
	free(p->heap);
	p->backlog = NULL;
	p->heap = NULL;
	p->heap_len = 0;
	p->backlog_count = 0;
}

/* Stage 1: true if the loss model drops this packet. */
static bool loss_decide(struct ferry_wanem_path *p)
{
	if (p->cfg.ge_p > 0.0) {
		if (p->ge_state == FERRY_WANEM_GE_GOOD && rng_chance(&p->rng_ge, p->ge_p_th))
			p->ge_state = FERRY_WANEM_GE_BAD;
		else if (p->ge_state == FERRY_WANEM_GE_BAD && rng_chance(&p->rng_ge, p->ge_r_th))
			p->ge_state = FERRY_WANEM_GE_GOOD;
		return rng_chance(&p->rng_loss,
				  p->ge_state == FERRY_WANEM_GE_BAD ? p->ge_bad_th : p->ge_good_th);
	}
	return p->loss_th && rng_chance(&p->rng_loss, p->loss_th);
}

/* Forgets the queued packets whose last bit has left the link by now. */
static void backlog_expire(struct ferry_wanem_path *p, uint64_t now)
{
	while (p->backlog_count && p->backlog[p->backlog_head].finish <= now) {
		p->backlog_bytes -= p->backlog[p->backlog_head].len;
		p->backlog_head = (p->backlog_head + 1) % p->capacity;
		p->backlog_count--;
	}
}

/* Stage 3: when a copy of len bytes offered at now leaves the bottleneck, or UINT64_MAX
 * if the queue drops it. */
static uint64_t bottleneck(struct ferry_wanem_path *p, uint64_t now, uint32_t len)
{
	const struct ferry_wanem_path_config *c = &p->cfg;
	struct ferry_wanem_backlog *slot;
	uint64_t start, bits_ns;

	if (!c->rate_bps)
		return now;
	backlog_expire(p, now);
	if ((c->queue_bytes && p->backlog_bytes + len > c->queue_bytes) ||
	    (c->queue_pkts && p->backlog_count + 1 > c->queue_pkts)) {
		p->stats.qdrop++;
		return UINT64_MAX;
	}
	if (p->backlog_count == p->capacity) {
		p->stats.nobuf++;
		return UINT64_MAX;
	}
	if (p->link_free <= now) {
		start = now; /* idle link: a new busy period, no fraction carried */
		p->link_rem = 0;
	} else {
		start = p->link_free;
	}
	bits_ns = (uint64_t)len * 8 * NSEC_PER_SEC + p->link_rem;
	p->link_free = start + bits_ns / c->rate_bps;
	p->link_rem = bits_ns % c->rate_bps;

	slot = &p->backlog[(p->backlog_head + p->backlog_count) % p->capacity];
	slot->finish = p->link_free;
	slot->len = len;
	p->backlog_count++;
	p->backlog_bytes += len;
	if (p->backlog_count > p->stats.qmax_pkts)
		p->stats.qmax_pkts = p->backlog_count;
	if (p->backlog_bytes > p->stats.qmax_bytes)
		p->stats.qmax_bytes = p->backlog_bytes;
	return p->link_free;
}

/* Stage 4a: the signed jitter for one copy, in nanoseconds. */
static int64_t jitter_sample(struct ferry_wanem_path *p)
{
	double j = (double)p->cfg.jitter_ns, z = 0.0;
	int i;

	if (p->cfg.jitter_dist == FERRY_WANEM_JITTER_UNIFORM)
		return llround((2.0 * rng_unit(&p->rng_jitter) - 1.0) * j);
	/* Irwin-Hall: twelve uniforms sum to mean 6, variance 1 */
	for (i = 0; i < 12; i++)
		z += rng_unit(&p->rng_jitter);
	return llround((z - 6.0) * j);
}

/* Stage 4: the departure time of a copy that left the bottleneck at t. */
static uint64_t delay_line(struct ferry_wanem_path *p, uint64_t t)
{
	const struct ferry_wanem_path_config *c = &p->cfg;
	uint64_t due = t + c->delay_ns;

	if (c->jitter_ns) {
		int64_t j = jitter_sample(p);

		if (j < 0 && (uint64_t)-j > c->delay_ns)
			due = t;
		else
			due = (uint64_t)((int64_t)due + j);
	}
	if (!c->jitter_reorder && due < p->last_due)
		due = p->last_due;
	if (due > p->last_due)
		p->last_due = due;
	if (p->reorder_th && rng_chance(&p->rng_reorder, p->reorder_th)) {
		p->stats.reordered++;
		due += c->reorder_delay_ns;
	}
	return due;
}

static bool departs_before(const struct ferry_wanem_departure *a,
			   const struct ferry_wanem_departure *b)
{
	return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static void heap_push(struct ferry_wanem_path *p, const struct ferry_wanem_departure *d)
{
	uint32_t i = p->heap_len++;

	while (i > 0) {
		uint32_t parent = (i - 1) / 2;

		if (!departs_before(d, &p->heap[parent]))
			break;
		p->heap[i] = p->heap[parent];
		i = parent;
	}
	p->heap[i] = *d;
}

static void heap_pop(struct ferry_wanem_path *p)
{
	struct ferry_wanem_departure last = p->heap[--p->heap_len];
	uint32_t i = 0, n = p->heap_len;

	for (;;) {
		uint32_t child = 2 * i + 1;

		if (child >= n)
			break;
		if (child + 1 < n && departs_before(&p->heap[child + 1], &p->heap[child]))
			child++;
		if (!departs_before(&p->heap[child], &last))
			break;
		p->heap[i] = p->heap[child];
		i = child;
	}
	if (n)
		p->heap[i] = last;
}

/* Stages 3 and 4 for one copy; returns true if it was scheduled. */
static bool schedule(struct ferry_wanem_path *p, uint64_t now, uint32_t len, uint32_t handle)
{
	struct ferry_wanem_departure d;
	uint64_t t;

	if (p->heap_len == p->capacity) {
		p->stats.nobuf++;
		return false;
	}
	t = bottleneck(p, now, len);
	if (t == UINT64_MAX)
		return false;
	d.due = delay_line(p, t);
	d.seq = p->seq++;
	d.handle = handle;
	d.len = len;
	heap_push(p, &d);
	return true;
}

unsigned ferry_wanem_path_input(struct ferry_wanem_path *p, uint64_t now, uint32_t len,
				uint32_t handle)
{
	unsigned copies = 0, want = 1;

	p->stats.pkts_in++;
	p->stats.bytes_in += len;
	if (loss_decide(p)) {
		p->stats.lost++;
		return 0;
	}
	if (p->dup_th && rng_chance(&p->rng_dup, p->dup_th)) {
		p->stats.dup++;
		want = 2;
	}
	while (want--)
		copies += schedule(p, now, len, handle);
	return copies;
}

uint64_t ferry_wanem_path_next_due(const struct ferry_wanem_path *p)
{
	return p->heap_len ? p->heap[0].due : UINT64_MAX;
}

bool ferry_wanem_path_pop(struct ferry_wanem_path *p, uint64_t now, uint32_t *handle, uint32_t *len)
{
	if (!p->heap_len || p->heap[0].due > now)
		return false;
	*handle = p->heap[0].handle;
	*len = p->heap[0].len;
	p->stats.pkts_out++;
	p->stats.bytes_out += *len;
	heap_pop(p);
	return true;
}

uint32_t ferry_wanem_path_pending(const struct ferry_wanem_path *p)
{
	return p->heap_len;
}
