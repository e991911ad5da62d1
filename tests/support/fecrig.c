// SPDX-License-Identifier: MIT
/*
 * The FEC test rig (see fecrig.h). Payload i is a pattern derived from i with i itself in
 * its first 4 bytes, so the sink needs no record of what was sent to check it.
 */
#include "tests/support/fecrig.h"

#include <stdlib.h>
#include <string.h>

#include "tests/support/fixture.h"

size_t ferry_fecrig_payload_len(uint32_t id)
{
	static const size_t lens[] = {4, 1400, 17, 63, 64, 65, 100, 333, 1399, 700, 8, 62, 5};

	return lens[(id * 7u + id / 13u) % (sizeof(lens) / sizeof(lens[0]))];
}

static uint8_t payload_byte(uint32_t id, size_t i)
{
	return (uint8_t)((size_t)id * 131u + i * 7u + (i >> 8) + 1u);
}

static void payload_fill(uint8_t *p, uint32_t id, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = payload_byte(id, i);
	if (len >= 4)
		memcpy(p, &id, 4);
}

void ferry_fecrig_deliver(void *ctx, const uint8_t *p, size_t len)
{
	struct ferry_fecrig_sink *s = ctx;
	uint32_t id;
	size_t i;

	s->total++;
	if (len < 4) {
		s->bad++;
		return;
	}
	memcpy(&id, p, 4);
	if (id >= FERRY_FECRIG_MAX_IDS || len != ferry_fecrig_payload_len(id)) {
		s->bad++;
		return;
	}
	for (i = 4; i < len; i++) {
		if (p[i] != payload_byte(id, i)) {
			s->bad++;
			return;
		}
	}
	s->count[id]++;
}

void ferry_fecrig_emit(void *ctx, struct ferry_buf *shard)
{
	struct ferry_fecrig_wire *w = ctx;

	ck_assert_uint_lt(w->n, FERRY_FECRIG_WIRE_SHARDS);
	ck_assert_uint_le(shard->len, FERRY_FECRIG_SHARD_CAP);
	/* room for the layers below: header in front, tag behind */
	ck_assert_uint_ge(ferry_buf_headroom(shard), 32);
	ck_assert_uint_ge(ferry_buf_tailroom(shard), 16);
	memcpy(w->bytes[w->n], shard->data, shard->len);
	w->len[w->n++] = shard->len;
	/* the callee may scribble over the lent shard (in-place encryption) */
	memset(shard->data, 0xa5, shard->len);
}

void ferry_fecrig_encoder(struct ferry_fecrig *r, uint8_t d, uint8_t p, uint32_t first_group)
{
	struct ferry_fec_encoder_config cfg = {
	    .data_shards = d,
	    .parity_shards = p,
	    .max_payload = FERRY_FECRIG_MAX_PAYLOAD,
	    .headroom = 32,
	    .tailroom = 16,
	    .first_group = first_group,
	    .emit = ferry_fecrig_emit,
	    .ctx = &r->wire,
	};

	ferry_fec_encoder_destroy(&r->enc);
	r->wire.n = 0;
	ck_assert_int_eq(ferry_fec_encoder_init(&r->enc, &cfg), 0);
}

void ferry_fecrig_decoder(struct ferry_fecrig *r, uint32_t max_payload, uint32_t groups,
			  uint32_t slots)
{
	ferry_fec_decoder_destroy(&r->dec);
	ck_assert_int_eq(ferry_fec_decoder_init(&r->dec, max_payload, groups, slots,
						ferry_fecrig_deliver, &r->sink),
			 0);
}

struct ferry_fecrig *ferry_fecrig_new(uint8_t d, uint8_t p, uint32_t first_group)
{
	struct ferry_fecrig *r = calloc(1, sizeof(*r));

	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(ferry_pool_init(&r->pool, 1, 1500, 64), 0);
	ferry_fecrig_decoder(r, FERRY_FECRIG_MAX_PAYLOAD, 0, 0);
	if (d > 0)
		ferry_fecrig_encoder(r, d, p, first_group);
	return r;
}

void ferry_fecrig_send(struct ferry_fecrig *r, uint32_t id, uint64_t now)
{
	struct ferry_buf *buf = ferry_pool_get(&r->pool);
	size_t len = ferry_fecrig_payload_len(id);

	ck_assert_ptr_nonnull(buf);
	payload_fill(ferry_buf_put(buf, (uint32_t)len), id, len);
	ck_assert_int_eq(ferry_fec_encode(&r->enc, buf, now), 0);
	ferry_pool_put(&r->pool, buf);
}

void ferry_fecrig_set_group(uint8_t *shard, uint32_t group)
{
	shard[0] = (uint8_t)group;
	shard[1] = (uint8_t)(group >> 8);
	shard[2] = (uint8_t)(group >> 16);
	shard[3] = (uint8_t)(group >> 24);
}

uint64_t ferry_fecrig_rng(uint64_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
	return *state;
}

void ferry_fecrig_feed(struct ferry_fecrig *r, unsigned n, uint64_t lost, uint32_t group,
		       int reverse)
{
	struct ferry_fecrig_wire *w = &r->wire;
	unsigned i, failed = 0;

	for (i = 0; i < n; i++) {
		unsigned s = reverse ? n - 1 - i : i;

		if (lost & (1ull << s))
			continue;
		ferry_fecrig_set_group(w->bytes[s], group);
		failed += ferry_fec_decode(&r->dec, w->bytes[s], w->len[s]) != 0;
	}
	ck_assert_uint_eq(failed, 0);
}

void ferry_fecrig_expect_once(struct ferry_fecrig_sink *s, uint32_t base, unsigned d, uint64_t lost)
{
	unsigned i;

	for (i = 0; i < d; i++)
		if (s->count[base + i] != 1)
			break;
	ck_assert_msg(i == d && s->bad == 0 && s->total == d,
		      "id %u delivered %u times, %u bad, %u total (lost %#llx)", base + i,
		      i < d ? s->count[base + i] : 1, s->bad, s->total, (unsigned long long)lost);
	memset(s, 0, sizeof(*s));
}

uint64_t ferry_fecrig_next_combination(uint64_t c)
{
	uint64_t u = c & -c, v = u + c;

	return v + (((v ^ c) / u) >> 2);
}

void ferry_fecrig_free(struct ferry_fecrig *r)
{
	ferry_fec_decoder_destroy(&r->dec);
	ferry_fec_encoder_destroy(&r->enc);
	ferry_ck_pool_idle(&r->pool);
	ferry_pool_destroy(&r->pool);
	free(r);
}
