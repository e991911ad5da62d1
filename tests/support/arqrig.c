// SPDX-License-Identifier: MIT
/*
 * The ARQ test harnesses (see arqrig.h): the capturing output callback and the segment
 * writer for a conversation alone, and the two-engine event loop over the vnet.
 */
#include "tests/support/arqrig.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/fixture.h"

#define PAIR_STEP_LIMIT 50000000u /* event loop turns before a transfer counts as stuck */

/* ---------------------------- a conversation alone ---------------------------------- */

int ferry_arqrig_capture_out(void *ctx, const uint8_t *dgram, size_t len)
{
	struct ferry_arqrig_capture *c = ctx;

	ck_assert_uint_le(len, FERRY_ARQRIG_CAPTURE_LEN);
	if (c->n < FERRY_ARQRIG_CAPTURE_MAX) {
		memcpy(c->dg[c->n], dgram, len);
		c->len[c->n] = len;
	}
	c->n++;
	return 0;
}

size_t ferry_arqrig_seg(uint8_t *out, uint32_t conv, uint8_t cmd, uint16_t wnd, uint32_t ts,
			uint32_t sn, uint32_t una, const char *data)
{
	struct ferry_arq_seg h = {
	    .conv = conv,
	    .cmd = cmd,
	    .wnd = wnd,
	    .ts = ts,
	    .sn = sn,
	    .una = una,
	    .len = data ? (uint32_t)strlen(data) : 0,
	};
	ssize_t n = ferry_arq_seg_encode(out, FERRY_ARQRIG_SEG_MAX, &h, (const uint8_t *)data);

	ck_assert_int_gt(n, 0);
	return (size_t)n;
}

/* ---------------------------- two engines over the vnet ----------------------------- */

static int out_a(void *ctx, const uint8_t *d, size_t len)
{
	return ferry_vnet_send(&((struct ferry_arqrig_pair *)ctx)->vn, FERRY_VNET_A2B, d, len);
}

static int out_b(void *ctx, const uint8_t *d, size_t len)
{
	return ferry_vnet_send(&((struct ferry_arqrig_pair *)ctx)->vn, FERRY_VNET_B2A, d, len);
}

static void deliver(void *ctx, enum ferry_vnet_dir dir, const uint8_t *data, size_t len,
		    uint64_t now)
{
	struct ferry_arqrig_pair *p = ctx;

	if (p->tap)
		p->tap(p->tap_ctx, dir, data, len, now);
	ferry_arq_input(dir == FERRY_VNET_A2B ? p->b : p->a, data, len, now);
}

void ferry_arqrig_pair_init(struct ferry_arqrig_pair *p, uint64_t seed,
			    const struct ferry_arq_config *cfg, const struct ferry_vnet_link *a2b,
			    const struct ferry_vnet_link *b2a, uint64_t start)
{
	uint32_t bufs = 2 * cfg->snd_wnd + cfg->snd_queue_max + cfg->rcv_wnd + 8;

	memset(p, 0, sizeof(*p));
	ck_assert_int_eq(ferry_vnet_init(&p->vn, seed, start, a2b, b2a,
					 4 * (cfg->snd_wnd + cfg->rcv_wnd) + 1024, deliver, p),
			 0);
	ck_assert_int_eq(ferry_pool_init(&p->pool_a, bufs, cfg->mtu - 24, 64), 0);
	ck_assert_int_eq(ferry_pool_init(&p->pool_b, bufs, cfg->mtu - 24, 64), 0);
	ck_assert_int_eq(ferry_arq_create(&p->a, FERRY_ARQRIG_CONV, cfg, &p->pool_a, out_a, p), 0);
	ck_assert_int_eq(ferry_arq_create(&p->b, FERRY_ARQRIG_CONV, cfg, &p->pool_b, out_b, p), 0);
}

void ferry_arqrig_pair_destroy(struct ferry_arqrig_pair *p)
{
	ferry_arq_destroy(p->a);
	ferry_arq_destroy(p->b);
	ferry_ck_pool_idle(&p->pool_a);
	ferry_ck_pool_idle(&p->pool_b);
	ferry_pool_destroy(&p->pool_a);
	ferry_pool_destroy(&p->pool_b);
	ferry_vnet_destroy(&p->vn);
}

static uint64_t min64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

bool ferry_arqrig_pair_step(struct ferry_arqrig_pair *p)
{
	uint64_t now = p->vn.now, next;

	while (p->sent < p->total) {
		size_t n = p->total - p->sent < 65536 ? p->total - p->sent : 65536;
		ssize_t r = ferry_arq_send(p->a, p->src + p->sent, n);

		if (r < 0) {
			if (r == -EAGAIN)
				p->eagain++;
			else
				ck_assert_int_eq(r, ferry_arq_error(p->a));
			break;
		}
		p->sent += (size_t)r;
	}
	ferry_arq_timer(p->a, now);
	/* After an update nothing is overdue: an event loop never spins on a conversation. */
	ck_assert_uint_gt(ferry_arq_next_deadline(p->a, now), now);
	if (now >= p->read_pause_until && now >= p->next_read) {
		uint32_t budget = p->read_chunk ? p->read_chunk : UINT32_MAX;
		ssize_t r;

		while (budget && (r = ferry_arq_recv(
				      p->b, p->rbuf,
				      budget < sizeof(p->rbuf) ? budget : sizeof(p->rbuf))) > 0) {
			ck_assert_uint_le(p->recvd + (size_t)r, p->total);
			ck_assert_msg(memcmp(p->rbuf, p->src + p->recvd, (size_t)r) == 0,
				      "bytes differ at offset %zu", p->recvd);
			p->recvd += (size_t)r;
			budget -= (uint32_t)r;
		}
		p->next_read = now + p->read_every;
	}
	ferry_arq_timer(p->b, now);
	ck_assert_uint_gt(ferry_arq_next_deadline(p->b, now), now);
	if (p->pool_b.stats.in_use > p->b_high)
		p->b_high = p->pool_b.stats.in_use;
	if (p->pool_a.stats.in_use > p->a_high)
		p->a_high = p->pool_a.stats.in_use;

	next = min64(ferry_vnet_next_event(&p->vn), ferry_arq_next_deadline(p->a, now));
	next = min64(next, ferry_arq_next_deadline(p->b, now));
	if (p->read_every && ferry_arq_pending(p->a) + p->total - p->recvd)
		next = min64(next, p->next_read > p->read_pause_until ? p->next_read
								      : p->read_pause_until);
	if (next == UINT64_MAX)
		return false;
	ferry_vnet_advance(&p->vn, next > now ? next : now);
	return true;
}

uint64_t ferry_arqrig_pair_transfer(struct ferry_arqrig_pair *p, const uint8_t *src, size_t total,
				    uint64_t limit_ms)
{
	uint64_t start = p->vn.now;
	uint32_t steps = 0;

	p->src = src;
	p->total = total;
	while (p->recvd < total || ferry_arq_pending(p->a)) {
		bool busy = ferry_arqrig_pair_step(p);

		ck_assert_msg(busy || (p->recvd == total && !ferry_arq_pending(p->a)),
			      "stalled: %zu of %zu bytes", p->recvd, total);
		ck_assert_int_eq(ferry_arq_error(p->a), 0);
		ck_assert_int_eq(ferry_arq_error(p->b), 0);
		ck_assert_msg(p->vn.now - start < limit_ms, "too slow: %zu of %zu bytes by %llu ms",
			      p->recvd, total, (unsigned long long)(p->vn.now - start));
		ck_assert_uint_lt(++steps, PAIR_STEP_LIMIT);
	}
	ck_assert_uint_eq(p->recvd, total);
	return p->vn.now - start;
}

uint8_t *ferry_arqrig_pattern(size_t n, uint64_t seed)
{
	uint8_t *buf = malloc(n);
	uint64_t x = seed * 0x9e3779b97f4a7c15ULL + 1;
	size_t i;

	ck_assert_ptr_nonnull(buf);
	for (i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = (uint8_t)x;
	}
	return buf;
}
