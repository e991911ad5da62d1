// SPDX-License-Identifier: MIT
/*
 * Virtual network (see vnet.h). Datagrams in flight sit in a binary min-heap ordered by
 * (due time, sequence number), so equal due times keep their scheduling order and every
 * run with the same seed is identical. The PRNG is xoshiro256** seeded through
 * splitmix64, both written from their published definitions. The rate limiter keeps, per
 * direction, the nanosecond at which the link will have serialized everything accepted so
 * far; the backlog in bytes follows from it, so no per-byte state is needed.
 */
#include "tests/support/vnet.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct ferry_vnet_dgram {
	struct ferry_vnet_dgram *next_free;
	uint64_t due;
	uint64_t seq;
	uint32_t len;
	uint32_t tag;
	uint8_t dir;
	uint8_t data[FERRY_VNET_MAX_DGRAM];
};

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t ferry_vnet_rand(struct ferry_vnet *vn)
{
	uint64_t *s = vn->rng;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

double ferry_vnet_uniform(struct ferry_vnet *vn)
{
	return (double)(ferry_vnet_rand(vn) >> 11) * 0x1.0p-53;
}

/* True with probability p; draws nothing for p <= 0 so that unused impairments do not
 * shift the random sequence of the others. */
static int chance(struct ferry_vnet *vn, double p)
{
	if (p <= 0)
		return 0;
	return ferry_vnet_uniform(vn) < p;
}

static uint32_t below(struct ferry_vnet *vn, uint32_t n)
{
	return n ? (uint32_t)(ferry_vnet_rand(vn) % n) : 0;
}

int ferry_vnet_init(struct ferry_vnet *vn, uint64_t seed, uint64_t start_ms,
		    const struct ferry_vnet_link *a2b, const struct ferry_vnet_link *b2a,
		    uint32_t capacity, ferry_vnet_deliver_fn deliver, void *ctx)
{
	uint32_t i;

	memset(vn, 0, sizeof(*vn));
	if (!deliver || capacity == 0)
		return -EINVAL;
	vn->slots = calloc(capacity, sizeof(*vn->slots));
	vn->heap = calloc(capacity, sizeof(struct ferry_vnet_dgram *));
	if (!vn->slots || !vn->heap) {
		ferry_vnet_destroy(vn);
		return -ENOMEM;
	}
	for (i = capacity; i-- > 0;) {
		vn->slots[i].next_free = vn->free;
		vn->free = &vn->slots[i];
	}
	for (i = 0; i < 4; i++)
		vn->rng[i] = splitmix64(&seed);
	if (a2b)
		vn->link[FERRY_VNET_A2B] = *a2b;
	if (b2a)
		vn->link[FERRY_VNET_B2A] = *b2a;
	vn->capacity = capacity;
	vn->now = start_ms;
	vn->busy_until_ns[0] = vn->busy_until_ns[1] = start_ms * 1000000ULL;
	vn->deliver = deliver;
	vn->ctx = ctx;
	return 0;
}

void ferry_vnet_destroy(struct ferry_vnet *vn)
{
	free(vn->slots);
	free(vn->heap);
	memset(vn, 0, sizeof(*vn));
}

static int earlier(const struct ferry_vnet_dgram *a, const struct ferry_vnet_dgram *b)
{
	return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static void heap_push(struct ferry_vnet *vn, struct ferry_vnet_dgram *d)
{
	uint32_t i = vn->n_heap++;

	while (i > 0) {
		uint32_t parent = (i - 1) / 2;

		if (!earlier(d, vn->heap[parent]))
			break;
		vn->heap[i] = vn->heap[parent];
		i = parent;
	}
	vn->heap[i] = d;
}

static struct ferry_vnet_dgram *heap_pop(struct ferry_vnet *vn)
{
	struct ferry_vnet_dgram *top = vn->heap[0], *last = vn->heap[--vn->n_heap];
	uint32_t i = 0;

	for (;;) {
		uint32_t c = 2 * i + 1;

		if (c >= vn->n_heap)
			break;
		if (c + 1 < vn->n_heap && earlier(vn->heap[c + 1], vn->heap[c]))
			c++;
		if (!earlier(vn->heap[c], last))
			break;
		vn->heap[i] = vn->heap[c];
		i = c;
	}
	if (vn->n_heap)
		vn->heap[i] = last;
	return top;
}

/* Schedules a copy arriving at arrive_ns plus jitter and possible reordering. */
static void schedule(struct ferry_vnet *vn, enum ferry_vnet_dir dir, const void *data, size_t len,
		     uint64_t arrive_ns)
{
	const struct ferry_vnet_link *l = &vn->link[dir];
	struct ferry_vnet_dgram *d = vn->free;

	if (!d) {
		vn->count[dir].dropped_capacity++;
		return;
	}
	vn->free = d->next_free;
	if (l->jitter_ms)
		arrive_ns += (uint64_t)below(vn, l->jitter_ms + 1) * 1000000ULL;
	if (chance(vn, l->reorder))
		arrive_ns +=
		    (uint64_t)(l->reorder_ms ? l->reorder_ms : l->delay_ms / 2 + 1) * 1000000ULL;
	d->due = (arrive_ns + 999999) / 1000000;
	d->seq = vn->seq++;
	d->dir = (uint8_t)dir;
	d->tag = vn->send_tag;
	d->len = (uint32_t)len;
	memcpy(d->data, data, len);
	if (len && chance(vn, l->corrupt)) {
		uint32_t bit = below(vn, (uint32_t)len * 8);

		d->data[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		vn->count[dir].corrupted++;
	}
	heap_push(vn, d);
}

static int lost(struct ferry_vnet *vn, enum ferry_vnet_dir dir)
{
	const struct ferry_vnet_link *l = &vn->link[dir];

	if (l->ge_p > 0) {
		if (vn->ge_bad[dir])
			vn->ge_bad[dir] = !chance(vn, l->ge_r);
		else
			vn->ge_bad[dir] = chance(vn, l->ge_p);
		return chance(vn, vn->ge_bad[dir] ? l->ge_loss_bad : l->loss);
	}
	return chance(vn, l->loss);
}

int ferry_vnet_send(struct ferry_vnet *vn, enum ferry_vnet_dir dir, const void *data, size_t len)
{
	const struct ferry_vnet_link *l;
	struct ferry_vnet_counters *c;
	uint64_t now_ns, depart_ns;

	if (dir != FERRY_VNET_A2B && dir != FERRY_VNET_B2A)
		return -EINVAL;
	if (len > FERRY_VNET_MAX_DGRAM)
		return -EMSGSIZE;
	l = &vn->link[dir];
	c = &vn->count[dir];
	c->sent++;
	c->bytes_sent += len;
	now_ns = vn->now * 1000000ULL;
	depart_ns = now_ns;
	if (l->loss_first && lost(vn, dir)) {
		c->dropped_loss++;
		return 0;
	}
	if (l->rate) {
		uint64_t busy = vn->busy_until_ns[dir] > now_ns ? vn->busy_until_ns[dir] : now_ns;
		uint64_t backlog = (busy - now_ns) * l->rate / 1000000000ULL;
		uint64_t size = len + l->overhead;

		if (l->queue_limit && backlog + size > l->queue_limit) {
			c->dropped_queue++;
			return 0;
		}
		busy += (size * 1000000000ULL + l->rate - 1) / l->rate;
		vn->busy_until_ns[dir] = busy;
		depart_ns = busy;
	}
	if (!l->loss_first && lost(vn, dir)) {
		c->dropped_loss++;
		return 0;
	}
	depart_ns += (uint64_t)l->delay_ms * 1000000ULL;
	schedule(vn, dir, data, len, depart_ns);
	if (chance(vn, l->duplicate)) {
		c->duplicated++;
		schedule(vn, dir, data, len, depart_ns);
	}
	return 0;
}

uint64_t ferry_vnet_next_event(const struct ferry_vnet *vn)
{
	return vn->n_heap ? vn->heap[0]->due : UINT64_MAX;
}

uint32_t ferry_vnet_advance(struct ferry_vnet *vn, uint64_t now)
{
	uint64_t seq_limit = vn->seq;
	uint32_t n = 0;

	if (now > vn->now)
		vn->now = now;
	/* Only what was in flight when the call began: a reply sent by deliver at the same
	 * millisecond waits for the next call, so a zero-delay ping-pong cannot loop here. */
	while (vn->n_heap && vn->heap[0]->due <= vn->now && vn->heap[0]->seq < seq_limit) {
		struct ferry_vnet_dgram *d = heap_pop(vn);
		enum ferry_vnet_dir dir = (enum ferry_vnet_dir)d->dir;

		vn->count[dir].delivered++;
		vn->count[dir].bytes_delivered += d->len;
		vn->deliver_tag = d->tag;
		vn->deliver(vn->ctx, dir, d->data, d->len, vn->now);
		d->next_free = vn->free;
		vn->free = d;
		n++;
	}
	return n;
}
