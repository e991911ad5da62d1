// SPDX-License-Identifier: MIT
/*
 * FEC throughput: RS(D,P) (default 10,3) over 1400-byte payloads.
 *
 *   encode        ferry_fec_encode per payload; parity emitted every D payloads
 *   decode        D+P-3 surviving shards per group fed to ferry_fec_decode, 3 data
 *                 shards rebuilt per group: one fixed loss pattern (decode tables
 *                 cached), then a random pattern per group (mostly cache misses)
 *   isa-l raw     ec_encode_data over D equal 1402-byte shards, for reference
 *
 * Prints payload MB/s (10^6 bytes), datagrams/s, groups/s and microseconds per group.
 * Usage: bench_fec [D P [payload [seconds]]]
 */
#include <isa-l.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "transport/fec.h"

struct capture {
	unsigned n;
	size_t len[FERRY_FEC_MAX_SHARDS];
	uint8_t *bytes[FERRY_FEC_MAX_SHARDS];
	int keep;
	uint64_t bytes_out;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void emit(void *ctx, struct ferry_buf *shard)
{
	struct capture *c = ctx;

	c->bytes_out += shard->len;
	if (c->keep && c->n < FERRY_FEC_MAX_SHARDS) {
		memcpy(c->bytes[c->n], shard->data, shard->len);
		c->len[c->n++] = shard->len;
	}
}

static void deliver(void *ctx, const uint8_t *p, size_t len)
{
	uint64_t *sum = ctx;

	*sum += len + p[0];
}

static void report(const char *what, double secs, uint64_t groups, unsigned d, size_t payload)
{
	double payload_bytes = (double)groups * d * (double)payload;

	printf("%-28s %9.1f MB/s payload  %10.0f datagrams/s  %9.0f groups/s  %6.3f us/group\n",
	       what, payload_bytes / secs / 1e6, (double)groups * d / secs, (double)groups / secs,
	       secs * 1e6 / (double)groups);
}

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

int main(int argc, char **argv)
{
	unsigned d = argc > 2 ? (unsigned)strtoul(argv[1], NULL, 10) : 10,
		 p = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 3;
	size_t payload = argc > 3 ? strtoul(argv[3], NULL, 10) : 1400;
	double budget = argc > 4 ? strtod(argv[4], NULL) : 1.0;
	struct ferry_fec_encoder_config cfg = {0};
	struct ferry_fec_encoder enc;
	struct ferry_fec_decoder dec;
	struct capture cap = {0};
	struct ferry_pool pool;
	struct ferry_buf *buf;
	uint64_t groups, sum = 0, rng = 7, lost;
	uint32_t group = 0;
	double t0, t1;
	unsigned i, j, n;
	uint8_t *shards;

	if (d < 4 || d > FERRY_FEC_MAX_DATA || p < 3 || p > FERRY_FEC_MAX_PARITY || payload < 4 ||
	    payload > 1500 || !(budget > 0 && budget <= 60)) {
		fprintf(
		    stderr,
		    "usage: bench_fec [D(4..64) P(3..32) [payload(4..1500) [seconds(0..60)]]]\n");
		return 1;
	}
	if (ferry_pool_init(&pool, 1, 1500, 64) != 0)
		return 1;
	shards = malloc((size_t)FERRY_FEC_MAX_SHARDS * 1600);
	if (!shards)
		return 1;
	for (i = 0; i < FERRY_FEC_MAX_SHARDS; i++)
		cap.bytes[i] = shards + (size_t)i * 1600;
	cfg.data_shards = (uint8_t)d;
	cfg.parity_shards = (uint8_t)p;
	cfg.max_payload = 1500;
	cfg.headroom = 64;
	cfg.emit = emit;
	cfg.ctx = &cap;
	if (ferry_fec_encoder_init(&enc, &cfg) != 0 ||
	    ferry_fec_decoder_init(&dec, 1500, 0, 0, deliver, &sum) != 0)
		return 1;
	buf = ferry_pool_get(&pool);
	printf("RS(%u,%u), %zu-byte payloads, ~%.1f s per line\n", d, p, payload, budget);

	/* encode */
	groups = 0;
	t0 = now_s();
	do {
		for (j = 0; j < 1000; j++) {
			for (i = 0; i < d; i++) {
				buf->data = buf->head + 64;
				buf->len = (uint32_t)payload;
				buf->data[0] = (uint8_t)i;
				ferry_fec_encode(&enc, buf, 0);
			}
		}
		groups += 1000;
		t1 = now_s();
	} while (t1 - t0 < budget);
	report("encode", t1 - t0, groups, d, payload);

	/* one group captured for decoding */
	cap.keep = 1;
	for (i = 0; i < d; i++) {
		buf->data = buf->head + 64;
		buf->len = (uint32_t)payload;
		memset(buf->data, (int)i, payload);
		ferry_fec_encode(&enc, buf, 0);
	}
	n = cap.n;

	for (int random = 0; random < 2; random++) {
		groups = 0;
		t0 = now_s();
		do {
			for (j = 0; j < 1000; j++, group++) {
				if (random) {
					lost = 0;
					while (__builtin_popcountll(lost) < 3)
						lost |= 1ull << (rng_next(&rng) % d);
				} else {
					lost = 0x7; /* data 0, 1, 2 */
				}
				for (i = 0; i < n; i++) {
					if (lost & (1ull << i))
						continue;
					cap.bytes[i][0] = (uint8_t)group;
					cap.bytes[i][1] = (uint8_t)(group >> 8);
					cap.bytes[i][2] = (uint8_t)(group >> 16);
					cap.bytes[i][3] = (uint8_t)(group >> 24);
					ferry_fec_decode(&dec, cap.bytes[i], cap.len[i]);
				}
			}
			groups += 1000;
			t1 = now_s();
		} while (t1 - t0 < budget);
		report(random ? "decode, 3 lost, random" : "decode, 3 lost, same", t1 - t0, groups,
		       d, payload);
	}
	printf("decoder: recovered %llu, unrecovered %llu, cache hits %llu, misses %llu\n",
	       (unsigned long long)dec.stats.recovered, (unsigned long long)dec.stats.unrecovered,
	       (unsigned long long)dec.stats.cache_hits,
	       (unsigned long long)dec.stats.cache_misses);

	/* raw ISA-L encode of equal-length shards, for reference */
	{
		uint8_t matrix[FERRY_FEC_MAX_SHARDS * FERRY_FEC_MAX_DATA];
		uint8_t *tbls = malloc((size_t)32 * d * p), *src[FERRY_FEC_MAX_DATA];
		uint8_t *dst[FERRY_FEC_MAX_PARITY];
		int len = (int)payload + FERRY_FEC_LEN_PREFIX;

		if (!tbls)
			return 1;
		for (i = 0; i < d; i++)
			src[i] = cap.bytes[i];
		for (i = 0; i < p; i++)
			dst[i] = cap.bytes[d + i];
		gf_gen_cauchy1_matrix(matrix, (int)(d + p), (int)d);
		ec_init_tables((int)d, (int)p, &matrix[(size_t)d * d], tbls);
		groups = 0;
		t0 = now_s();
		do {
			for (j = 0; j < 1000; j++)
				ec_encode_data(len, (int)d, (int)p, tbls, src, dst);
			groups += 1000;
			t1 = now_s();
		} while (t1 - t0 < budget);
		report("isa-l ec_encode_data (ref)", t1 - t0, groups, d, payload);
		free(tbls);
	}

	ferry_pool_put(&pool, buf);
	ferry_fec_decoder_destroy(&dec);
	ferry_fec_encoder_destroy(&enc);
	ferry_pool_destroy(&pool);
	free(shards);
	printf("(checksum %llu)\n", (unsigned long long)sum);
	return 0;
}
