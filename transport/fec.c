// SPDX-License-Identifier: MIT
/*
 * Reed-Solomon FEC with ISA-L: encoder, decoder, header parser. See fec.h for the theory
 * of operation and docs/fec.md for the wire format.
 *
 * The code. Generator rows of the (D,P) code are ISA-L's Cauchy matrix
 * (gf_gen_cauchy1_matrix(a, D+P, D)): row j < D is the unit vector e_j, parity row D+r has
 * coefficient gf_inv((D+r) ^ j) in column j. Every square submatrix of a Cauchy matrix is
 * invertible, so any k of the k+P rows of a group restore its k data shards. A short group
 * (k < D, closed by the timer) uses columns 0..k-1 only; the decoder builds its matrices
 * from that formula (tests check it against gf_gen_cauchy1_matrix).
 *
 * Lengths. ISA-L codes equal-length vectors. A group's coded length L is its longest
 * coded region (2 + payload); shorter ones are zero-extended, which changes no parity byte
 * beyond their own end, so the encoder can feed each shard over its own length only. All
 * vectors handed to ISA-L are at least FERRY_FEC_MIN_CODED bytes (zero-extended buffers),
 * never shorter, so no SIMD path meets a tail shorter than it handles.
 */
#include <errno.h>
#include <isa-l.h>
#include <stdlib.h>
#include <string.h>

#include "transport/fec.h"

/*
 * ISA-L 2.30's AVX-512 routines return without VZEROUPPER. Code that runs after them
 * using SSE -- libsodium's AES-GCM, right below us on the data path -- then pays a
 * transition penalty on every instruction: a 1410-byte seal measured 1.36 instead of
 * 0.83 us. So every ISA-L call here is followed by clearing the upper vector state,
 * where the dirt is made rather than wherever it is noticed. One instruction per call,
 * and only on CPUs with AVX (elsewhere ISA-L has no AVX paths and the instruction would
 * not exist).
 */
#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx"))) static void vector_state_clear_avx(void)
{
	_mm256_zeroupper();
}

static void vector_state_clear(bool has_avx)
{
	if (has_avx)
		vector_state_clear_avx();
}

static bool cpu_has_avx(void)
{
	return __builtin_cpu_supports("avx");
}
#else
static void vector_state_clear(bool has_avx)
{
	(void)has_avx;
}

static bool cpu_has_avx(void)
{
	return false;
}
#endif

struct ferry_fec_group {
	uint32_t id;
	uint8_t used;	      /* holds a group */
	uint8_t done;	      /* nothing left to rebuild: slots released, only dedup remains */
	uint8_t d, p, k;      /* k = 0 until a parity shard tells it */
	uint8_t nstored;      /* slots held */
	uint8_t data_top;     /* 1 + highest data index stored or delivered */
	uint16_t coded_len;   /* L from the parity shards, 0 until known */
	uint16_t data_max;    /* longest data coded region seen */
	uint64_t delivered;   /* data indices handed up */
	uint64_t data_have;   /* data indices stored in slots */
	uint32_t parity_have; /* parity rows stored in slots */
	uint16_t slot[FERRY_FEC_MAX_SHARDS];
};

struct ferry_fec_dec_cache_entry {
	uint8_t valid, d, k, nerrs;
	uint64_t data_rows;   /* data survivors used */
	uint32_t parity_rows; /* parity survivors used */
	uint8_t tables[32 * FERRY_FEC_DEC_CACHE_COEFS];
};

#define FERRY_FEC_NO_SLOT 0xffffu

static uint64_t low_mask(unsigned n)
{
	return n >= 64 ? ~0ull : (1ull << n) - 1;
}

static void write_header(uint8_t *p, uint32_t group, uint8_t index, uint8_t d, uint8_t pp,
			 uint8_t k)
{
	ferry_wire_put_le32(p + FERRY_FEC_OFF_GROUP, group);
	p[FERRY_FEC_OFF_INDEX] = index;
	p[FERRY_FEC_OFF_D] = d;
	p[FERRY_FEC_OFF_P] = pp;
	p[FERRY_FEC_OFF_K] = k;
}

int ferry_fec_parse_header(const uint8_t *shard, size_t len, uint32_t max_coded,
			   struct ferry_fec_header *hdr)
{
	size_t coded;

	if (!shard || len < FERRY_FEC_HDR_LEN)
		return -EBADMSG;
	hdr->group = ferry_wire_get_le32(shard + FERRY_FEC_OFF_GROUP);
	hdr->index = shard[FERRY_FEC_OFF_INDEX];
	hdr->d = shard[FERRY_FEC_OFF_D];
	hdr->p = shard[FERRY_FEC_OFF_P];
	hdr->k = shard[FERRY_FEC_OFF_K];
	if (hdr->d < 1 || hdr->d > FERRY_FEC_MAX_DATA || hdr->p > FERRY_FEC_MAX_PARITY ||
	    hdr->index >= hdr->d + hdr->p)
		return -EBADMSG;
	coded = len - FERRY_FEC_HDR_LEN;
	if (hdr->index < hdr->d) {
		/* data: k unknown when sent; the length prefix must match the datagram */
		if (hdr->k != 0 || coded < FERRY_FEC_LEN_PREFIX ||
		    ferry_wire_get_le16(shard + FERRY_FEC_HDR_LEN) != coded - FERRY_FEC_LEN_PREFIX)
			return -EBADMSG;
	} else {
		if (hdr->k < 1 || hdr->k > hdr->d || coded < FERRY_FEC_LEN_PREFIX)
			return -EBADMSG;
	}
	if (coded > max_coded || coded > UINT16_MAX)
		return -EBADMSG;
	hdr->coded_len = (uint16_t)coded;
	return 0;
}

/* ---- encoder ---- */

int ferry_fec_encoder_init(struct ferry_fec_encoder *enc,
			   const struct ferry_fec_encoder_config *cfg)
{
	uint8_t matrix[FERRY_FEC_MAX_SHARDS * FERRY_FEC_MAX_DATA];
	uint32_t d, p, stride, r;

	memset(enc, 0, sizeof(*enc));
	enc->has_avx = cpu_has_avx();
	if (!cfg || !cfg->emit || cfg->data_shards < 1 || cfg->data_shards > FERRY_FEC_MAX_DATA ||
	    cfg->parity_shards > FERRY_FEC_MAX_PARITY || cfg->max_payload < 1 ||
	    cfg->max_payload > FERRY_FEC_MAX_PAYLOAD || cfg->headroom > 65536 ||
	    cfg->tailroom > 65536)
		return -EINVAL;
	enc->cfg = *cfg;
	enc->send_full = enc->send_tail = cfg->parity_shards;
	if (!enc->cfg.flush_ms)
		enc->cfg.flush_ms = FERRY_FEC_FLUSH_MS_DEFAULT;
	enc->group = cfg->first_group;
	d = cfg->data_shards;
	p = cfg->parity_shards;
	enc->capacity = cfg->max_payload + FERRY_FEC_LEN_PREFIX;
	if (enc->capacity < FERRY_FEC_MIN_CODED)
		enc->capacity = FERRY_FEC_MIN_CODED;
	if (p == 0)
		return 0;

	enc->tables = malloc((size_t)32 * d * p);
	if (!enc->tables)
		goto err_tables;
	stride = cfg->headroom + FERRY_FEC_HDR_LEN + enc->capacity + cfg->tailroom;
	enc->parity_mem = malloc((size_t)stride * p);
	if (!enc->parity_mem)
		goto err_parity;
	gf_gen_cauchy1_matrix(matrix, (int)(d + p), (int)d);
	ec_init_tables((int)d, (int)p, &matrix[(size_t)d * d], enc->tables);
	for (r = 0; r < p; r++) {
		struct ferry_buf *b = &enc->parity[r];

		b->head = enc->parity_mem + (size_t)stride * r;
		b->end = b->head + stride;
		enc->parity_code[r] = b->head + cfg->headroom + FERRY_FEC_HDR_LEN;
	}
	return 0;

err_parity:
	free(enc->tables);
	enc->tables = NULL;
err_tables:
	return -ENOMEM;
}

void ferry_fec_encoder_destroy(struct ferry_fec_encoder *enc)
{
	free(enc->tables);
	free(enc->parity_mem);
	enc->tables = NULL;
	enc->parity_mem = NULL;
}

/* Emits the open group's parity over the `count` shards it holds (the first send_full or
 * send_tail of its P parity shards) and opens the next. */
static void close_group(struct ferry_fec_encoder *enc)
{
	uint8_t d = enc->cfg.data_shards, p = enc->cfg.parity_shards;
	uint8_t send = enc->count == d ? enc->send_full : enc->send_tail;
	uint32_t r;

	if (send > 0) {
		enc->stats.groups++;
		if (enc->count < d)
			enc->stats.groups_short++;
		for (r = 0; r < send; r++) {
			struct ferry_buf *b = &enc->parity[r];

			b->next = NULL;
			b->data = b->head + enc->cfg.headroom;
			b->len = FERRY_FEC_HDR_LEN + enc->coded_len;
			write_header(b->data, enc->group, (uint8_t)(d + r), d, p,
				     (uint8_t)enc->count);
			enc->stats.parity_out++;
			enc->cfg.emit(enc->cfg.ctx, b);
		}
	}
	enc->group++;
	enc->count = 0;
	enc->coded_len = 0;
	enc->zeroed = 0;
}

/* Adds one coded region (len bytes at code) to the open group's parity. */
static void feed_parity(struct ferry_fec_encoder *enc, uint8_t *code, uint32_t len)
{
	uint32_t vlen = len, r;
	uint8_t *src = code;

	if (len < FERRY_FEC_MIN_CODED) {
		memcpy(enc->small, code, len);
		memset(enc->small + len, 0, FERRY_FEC_MIN_CODED - len);
		src = enc->small;
		vlen = FERRY_FEC_MIN_CODED;
	}
	if (vlen > enc->zeroed) {
		for (r = 0; r < enc->cfg.parity_shards; r++)
			memset(enc->parity_code[r] + enc->zeroed, 0, vlen - enc->zeroed);
		enc->zeroed = vlen;
	}
	ec_encode_data_update((int)vlen, enc->cfg.data_shards, enc->cfg.parity_shards,
			      (int)enc->count, enc->tables, src, enc->parity_code);
	vector_state_clear(enc->has_avx);
}

int ferry_fec_encode(struct ferry_fec_encoder *enc, struct ferry_buf *buf, uint64_t now)
{
	uint32_t payload_len = buf->len, coded_len = payload_len + FERRY_FEC_LEN_PREFIX;
	uint8_t *hdr;

	ferry_fec_encoder_timeout(enc, now);
	if (payload_len > enc->cfg.max_payload) {
		enc->stats.rejected++;
		return -EMSGSIZE;
	}
	hdr = ferry_buf_push(buf, FERRY_FEC_DATA_OVERHEAD);
	if (!hdr) {
		enc->stats.rejected++;
		return -ENOBUFS;
	}
	write_header(hdr, enc->group, (uint8_t)enc->count, enc->cfg.data_shards,
		     enc->cfg.parity_shards, 0);
	ferry_wire_put_le16(hdr + FERRY_FEC_HDR_LEN, (uint16_t)payload_len);
	if (enc->cfg.parity_shards > 0) {
		feed_parity(enc, hdr + FERRY_FEC_HDR_LEN, coded_len);
		if (coded_len > enc->coded_len)
			enc->coded_len = coded_len;
	}
	if (enc->count == 0)
		enc->opened = now;
	enc->count++;
	enc->stats.data_out++;
	/* parity already holds this shard: the callee may encrypt it in place */
	enc->cfg.emit(enc->cfg.ctx, buf);
	if (enc->count == enc->cfg.data_shards)
		close_group(enc);
	return 0;
}

uint64_t ferry_fec_encoder_next_deadline(const struct ferry_fec_encoder *enc)
{
	if (enc->count == 0 || enc->cfg.parity_shards == 0)
		return UINT64_MAX;
	return enc->opened + enc->cfg.flush_ms;
}

int ferry_fec_encoder_timeout(struct ferry_fec_encoder *enc, uint64_t now)
{
	if (now < ferry_fec_encoder_next_deadline(enc))
		return 0;
	close_group(enc);
	return 1;
}

void ferry_fec_encoder_set_send(struct ferry_fec_encoder *enc, uint8_t full, uint8_t tail)
{
	uint8_t p = enc->cfg.parity_shards;

	enc->send_full = full < p ? full : p;
	enc->send_tail = tail < p ? tail : p;
}

int ferry_fec_encoder_flush(struct ferry_fec_encoder *enc)
{
	if (enc->count == 0)
		return 0;
	close_group(enc);
	return 1;
}

/* ---- decoder ---- */

int ferry_fec_decoder_init(struct ferry_fec_decoder *dec, uint16_t max_payload, uint32_t groups,
			   uint32_t slots, ferry_fec_deliver_fn deliver, void *ctx)
{
	uint32_t i, n = 1;

	memset(dec, 0, sizeof(*dec));
	dec->has_avx = cpu_has_avx();
	if (!groups)
		groups = FERRY_FEC_DEC_GROUPS_DEFAULT;
	if (!slots)
		slots = FERRY_FEC_DEC_SLOTS_DEFAULT;
	if (!deliver || max_payload < 1 || max_payload > FERRY_FEC_MAX_PAYLOAD || groups > 65536 ||
	    slots > FERRY_FEC_DEC_MAX_SLOTS)
		return -EINVAL;
	while (n < groups)
		n <<= 1;
	dec->deliver = deliver;
	dec->ctx = ctx;
	dec->max_coded = (uint32_t)max_payload + FERRY_FEC_LEN_PREFIX;
	dec->slot_size =
	    dec->max_coded < FERRY_FEC_MIN_CODED ? FERRY_FEC_MIN_CODED : dec->max_coded;
	dec->ngroups = n;
	dec->nslots = slots;

	dec->groups = calloc(n, sizeof(*dec->groups));
	if (!dec->groups)
		goto err_groups;
	dec->slots = malloc((size_t)slots * dec->slot_size);
	if (!dec->slots)
		goto err_slots;
	dec->free_slots = malloc(slots * sizeof(*dec->free_slots));
	if (!dec->free_slots)
		goto err_free_slots;
	dec->out = malloc((size_t)FERRY_FEC_MAX_PARITY * dec->slot_size);
	if (!dec->out)
		goto err_out;
	dec->tables = malloc((size_t)32 * FERRY_FEC_MAX_DATA * FERRY_FEC_MAX_PARITY);
	if (!dec->tables)
		goto err_tables;
	dec->cache = calloc(FERRY_FEC_DEC_CACHE, sizeof(*dec->cache));
	if (!dec->cache)
		goto err_cache;
	for (i = 0; i < slots; i++)
		dec->free_slots[i] = (uint16_t)(slots - 1 - i);
	dec->nfree = slots;
	return 0;

err_cache:
	free(dec->tables);
err_tables:
	free(dec->out);
err_out:
	free(dec->free_slots);
err_free_slots:
	free(dec->slots);
err_slots:
	free(dec->groups);
err_groups:
	memset(dec, 0, sizeof(*dec));
	return -ENOMEM;
}

void ferry_fec_decoder_destroy(struct ferry_fec_decoder *dec)
{
	free(dec->cache);
	free(dec->tables);
	free(dec->out);
	free(dec->free_slots);
	free(dec->slots);
	free(dec->groups);
	memset(dec, 0, sizeof(*dec));
}

static uint8_t *slot_mem(struct ferry_fec_decoder *dec, uint16_t slot)
{
	return dec->slots + (size_t)slot * dec->slot_size;
}

/* Returns every slot the group holds to the free stack. */
static void release_slots(struct ferry_fec_decoder *dec, struct ferry_fec_group *g)
{
	unsigned i;

	if (g->nstored == 0)
		return;
	for (i = 0; i < FERRY_FEC_MAX_SHARDS; i++) {
		if (g->slot[i] == FERRY_FEC_NO_SLOT)
			continue;
		dec->free_slots[dec->nfree++] = g->slot[i];
		g->slot[i] = FERRY_FEC_NO_SLOT;
	}
	g->nstored = 0;
	g->data_have = 0;
	g->parity_have = 0;
}

/* All data of the group handed up? k unknown means D data shards are expected. */
static int group_complete(const struct ferry_fec_group *g)
{
	uint64_t want = low_mask(g->k ? g->k : g->d);

	return (g->delivered & want) == want;
}

/* Gives up on a group that is still incomplete: counts it and frees its slots. */
static void abandon_group(struct ferry_fec_decoder *dec, struct ferry_fec_group *g)
{
	if (!g->done) {
		dec->stats.evicted++;
		if (!group_complete(g))
			dec->stats.unrecovered++;
	}
	release_slots(dec, g);
	g->done = 1;
}

static void finish_group(struct ferry_fec_decoder *dec, struct ferry_fec_group *g)
{
	release_slots(dec, g);
	g->done = 1;
}

static void open_group(struct ferry_fec_group *g, const struct ferry_fec_header *h)
{
	memset(g, 0, sizeof(*g));
	memset(g->slot, 0xff, sizeof(g->slot));
	g->used = 1;
	g->id = h->group;
	g->d = h->d;
	g->p = h->p;
}

/* Takes a free slot, evicting the oldest other group that holds slots if none is free.
 * Returns FERRY_FEC_NO_SLOT if nothing can be freed. */
static uint16_t take_slot(struct ferry_fec_decoder *dec, const struct ferry_fec_group *self)
{
	struct ferry_fec_group *oldest = NULL;
	uint32_t i, age, best = 0;

	if (dec->nfree == 0) {
		for (i = 0; i < dec->ngroups; i++) {
			struct ferry_fec_group *g = &dec->groups[i];

			if (g == self || !g->used || g->nstored == 0)
				continue;
			age = dec->newest - g->id;
			if (!oldest || age > best) {
				oldest = g;
				best = age;
			}
		}
		if (!oldest)
			return FERRY_FEC_NO_SLOT;
		abandon_group(dec, oldest);
	}
	return dec->free_slots[--dec->nfree];
}

/* Copies a shard's coded region into a slot of the group as shard `index`. */
static void store_shard(struct ferry_fec_decoder *dec, struct ferry_fec_group *g, unsigned index,
			const uint8_t *code, uint32_t len)
{
	uint16_t slot = take_slot(dec, g);

	if (slot == FERRY_FEC_NO_SLOT) {
		dec->stats.no_slot++;
		return;
	}
	memcpy(slot_mem(dec, slot), code, len);
	g->slot[index] = slot;
	g->nstored++;
	if (index < g->d)
		g->data_have |= 1ull << index;
	else
		g->parity_have |= 1u << (index - g->d);
}

/* Builds (or finds cached) ISA-L tables that turn the k survivors into the missing rows.
 *
 * The survivors are the present data shards (ascending) followed by exactly nerrs parity
 * rows. Instead of inverting the k x k survivor matrix (k^3 work), the decoder solves only
 * for the missing columns: parity row r minus its present-data terms equals the missing
 * shards times S, the nerrs x nerrs block of Cauchy coefficients C[r][missing], so
 *   missing_b = sum_a Sinv[b][a] * parity_a + sum_j (sum_a Sinv[b][a] * C[a][j]) * data_j
 * (subtraction is addition in GF(2^8)). That is nerrs^3 + nerrs^2 * k multiplications.
 * Returns the tables or NULL if S is singular (never for a Cauchy code). */
static const uint8_t *decode_tables(struct ferry_fec_decoder *dec, const struct ferry_fec_group *g,
				    uint64_t data_rows, uint32_t parity_rows, const uint8_t *rows,
				    const uint8_t *missing, unsigned nerrs)
{
	uint8_t sm[FERRY_FEC_MAX_PARITY * FERRY_FEC_MAX_PARITY];
	uint8_t sinv[FERRY_FEC_MAX_PARITY * FERRY_FEC_MAX_PARITY];
	uint8_t dm[FERRY_FEC_MAX_PARITY * FERRY_FEC_MAX_DATA];
	struct ferry_fec_dec_cache_entry *e;
	unsigned k = g->k, ndata = k - nerrs, a, b, j;
	const uint8_t *prow = rows + ndata; /* the nerrs parity row indices used */
	uint8_t *tables;

	for (j = 0; j < FERRY_FEC_DEC_CACHE; j++) {
		e = &dec->cache[j];
		if (e->valid && e->d == g->d && e->k == k && e->data_rows == data_rows &&
		    e->parity_rows == parity_rows) {
			dec->stats.cache_hits++;
			return e->tables;
		}
	}
	dec->stats.cache_misses++;

	/* C[r][j] = gf_inv(r ^ j) for parity row index r (>= d) and column j < k */
	for (a = 0; a < nerrs; a++)
		for (b = 0; b < nerrs; b++)
			sm[a * nerrs + b] = gf_inv((uint8_t)(prow[a] ^ missing[b]));
	if (gf_invert_matrix(sm, sinv, (int)nerrs) != 0)
		return NULL;
	for (b = 0; b < nerrs; b++) {
		uint8_t *row = &dm[(size_t)b * k];

		for (j = 0; j < ndata; j++) {
			uint8_t acc = 0;

			for (a = 0; a < nerrs; a++)
				acc ^= gf_mul(sinv[b * nerrs + a],
					      gf_inv((uint8_t)(prow[a] ^ rows[j])));
			row[j] = acc;
		}
		for (a = 0; a < nerrs; a++)
			row[ndata + a] = sinv[b * nerrs + a];
	}

	e = NULL;
	tables = dec->tables;
	if (k * nerrs <= FERRY_FEC_DEC_CACHE_COEFS) {
		e = &dec->cache[dec->cache_next];
		dec->cache_next = (dec->cache_next + 1) % FERRY_FEC_DEC_CACHE;
		tables = e->tables;
	}
	ec_init_tables((int)k, (int)nerrs, dm, tables);
	if (e) {
		e->valid = 1;
		e->d = g->d;
		e->k = (uint8_t)k;
		e->nerrs = (uint8_t)nerrs;
		e->data_rows = data_rows;
		e->parity_rows = parity_rows;
	}
	return tables;
}

/* Rebuilds and delivers the group's missing data if it holds k shards. */
static void try_recover(struct ferry_fec_decoder *dec, struct ferry_fec_group *g)
{
	uint8_t *src[FERRY_FEC_MAX_DATA], *dst[FERRY_FEC_MAX_PARITY];
	uint8_t rows[FERRY_FEC_MAX_DATA], missing[FERRY_FEC_MAX_PARITY];
	unsigned k = g->k, nrows = 0, nerrs = 0, i, vlen;
	uint64_t data_rows, kmask = low_mask(k);
	uint32_t parity_rows = 0;
	const uint8_t *tables;

	if (g->done || k == 0 || g->p == 0)
		return;
	data_rows = g->data_have & kmask;
	if ((unsigned)__builtin_popcountll(data_rows) +
		(unsigned)__builtin_popcount(g->parity_have) <
	    k)
		return;

	vlen = g->coded_len < FERRY_FEC_MIN_CODED ? FERRY_FEC_MIN_CODED : g->coded_len;
	for (i = 0; i < k; i++) {
		if (data_rows & (1ull << i)) {
			uint8_t *s = slot_mem(dec, g->slot[i]);
			uint32_t n = FERRY_FEC_LEN_PREFIX + ferry_wire_get_le16(s);

			memset(s + n, 0, vlen - n); /* n <= coded_len, checked on arrival */
			rows[nrows] = (uint8_t)i;
			src[nrows++] = s;
		} else {
			missing[nerrs++] = (uint8_t)i;
		}
	}
	for (i = 0; i < g->p && nrows < k; i++) {
		uint8_t *s;

		if (!(g->parity_have & (1u << i)))
			continue;
		s = slot_mem(dec, g->slot[g->d + i]);
		memset(s + g->coded_len, 0, vlen - g->coded_len);
		parity_rows |= 1u << i;
		rows[nrows] = (uint8_t)(g->d + i);
		src[nrows++] = s;
	}
	if (nerrs == 0) { /* cannot happen: all data in means the group was finished */
		finish_group(dec, g);
		return;
	}
	for (i = 0; i < nerrs; i++)
		dst[i] = dec->out + (size_t)i * dec->slot_size;

	tables = decode_tables(dec, g, data_rows, parity_rows, rows, missing, nerrs);
	if (!tables) {
		dec->stats.bad_recovery += nerrs;
		finish_group(dec, g);
		return;
	}
	ec_encode_data((int)vlen, (int)k, (int)nerrs, (uint8_t *)tables, src, dst);
	vector_state_clear(dec->has_avx);

	for (i = 0; i < nerrs; i++) {
		uint16_t len = ferry_wire_get_le16(dst[i]);
		uint64_t bit = 1ull << missing[i];

		if ((uint32_t)len + FERRY_FEC_LEN_PREFIX > g->coded_len) {
			dec->stats.bad_recovery++;
			continue;
		}
		if (g->delivered & bit)
			continue; /* delivered but not stored (slot shortage) */
		g->delivered |= bit;
		dec->stats.recovered++;
		dec->stats.delivered++;
		dec->deliver(dec->ctx, dst[i] + FERRY_FEC_LEN_PREFIX, len);
	}
	if (!group_complete(g))
		dec->stats.unrecovered++; /* only after a bad rebuild */
	finish_group(dec, g);
}

/* Finds or opens the group of h. NULL if the shard belongs to an older, replaced group. */
static struct ferry_fec_group *lookup_group(struct ferry_fec_decoder *dec,
					    const struct ferry_fec_header *h)
{
	struct ferry_fec_group *g = &dec->groups[h->group & (dec->ngroups - 1)];

	if (!dec->seen_any || (int32_t)(h->group - dec->newest) > 0) {
		dec->newest = h->group;
		dec->seen_any = 1;
	}
	if (g->used && g->id == h->group)
		return g;
	if (g->used && (int32_t)(h->group - g->id) < 0) {
		dec->stats.stale++;
		return NULL;
	}
	if (g->used)
		abandon_group(dec, g);
	open_group(g, h);
	return g;
}

static int decode_data(struct ferry_fec_decoder *dec, struct ferry_fec_group *g,
		       const struct ferry_fec_header *h, const uint8_t *code)
{
	uint64_t bit = 1ull << h->index;

	if ((g->k && h->index >= g->k) || (g->coded_len && h->coded_len > g->coded_len)) {
		dec->stats.mismatched++;
		return -EPROTO;
	}
	if (g->delivered & bit) {
		dec->stats.duplicates++;
		return 0;
	}
	dec->stats.data_in++;
	g->delivered |= bit;
	if (h->index + 1u > g->data_top)
		g->data_top = (uint8_t)(h->index + 1u);
	if (h->coded_len > g->data_max)
		g->data_max = h->coded_len;
	dec->stats.delivered++;
	dec->deliver(dec->ctx, code + FERRY_FEC_LEN_PREFIX, h->coded_len - FERRY_FEC_LEN_PREFIX);
	if (g->done)
		return 0;
	if (group_complete(g)) {
		finish_group(dec, g);
		return 0;
	}
	if (g->p == 0)
		return 0;
	store_shard(dec, g, h->index, code, h->coded_len);
	try_recover(dec, g);
	return 0;
}

static int decode_parity(struct ferry_fec_decoder *dec, struct ferry_fec_group *g,
			 const struct ferry_fec_header *h, const uint8_t *code)
{
	uint32_t bit = 1u << (h->index - g->d);

	if (g->k == 0) {
		/* first parity: k and L must fit what the data already showed */
		if (h->k < g->data_top || h->coded_len < g->data_max) {
			dec->stats.mismatched++;
			return -EPROTO;
		}
	} else if (h->k != g->k || h->coded_len != g->coded_len) {
		dec->stats.mismatched++;
		return -EPROTO;
	}
	if (g->parity_have & bit) {
		dec->stats.duplicates++;
		return 0;
	}
	dec->stats.parity_in++;
	if (g->k == 0) {
		g->k = h->k;
		g->coded_len = h->coded_len;
	}
	if (g->done)
		return 0;
	if (group_complete(g)) {
		finish_group(dec, g);
		return 0;
	}
	store_shard(dec, g, h->index, code, h->coded_len);
	try_recover(dec, g);
	return 0;
}

void ferry_fec_decoder_reset(struct ferry_fec_decoder *dec)
{
	uint32_t i;

	for (i = 0; i < dec->ngroups; i++) {
		struct ferry_fec_group *g = &dec->groups[i];

		if (g->used)
			abandon_group(dec, g);
		g->used = 0;
	}
	dec->seen_any = 0;
	dec->newest = 0;
}

int ferry_fec_decode(struct ferry_fec_decoder *dec, const uint8_t *shard, size_t len)
{
	struct ferry_fec_header h;
	struct ferry_fec_group *g;

	if (ferry_fec_parse_header(shard, len, dec->max_coded, &h) != 0) {
		dec->stats.malformed++;
		return -EBADMSG;
	}
	g = lookup_group(dec, &h);
	if (!g)
		return 0;
	if (h.d != g->d || h.p != g->p) {
		dec->stats.mismatched++;
		return -EPROTO;
	}
	if (h.index < h.d)
		return decode_data(dec, g, &h, shard + FERRY_FEC_HDR_LEN);
	return decode_parity(dec, g, &h, shard + FERRY_FEC_HDR_LEN);
}
