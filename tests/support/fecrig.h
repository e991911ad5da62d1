/* SPDX-License-Identifier: MIT */
/*
 * The Reed-Solomon FEC test rig: one encoder whose shards land on a captured wire, one
 * decoder whose payloads land in a checking sink, and the one-buffer pool the payloads
 * are built in. tests/test_fec_*.c share it.
 *
 * Payloads carry their id in their first 4 bytes and a pattern derived from it, so the
 * sink checks every delivered payload byte for byte and counts deliveries per id. The
 * wire keeps a copy of every shard in emission order; the emit callback scribbles over
 * the lent shard afterwards, as in-place encryption below the FEC layer would.
 *
 * A rig is one heap object (the wire is megabytes): ferry_fecrig_new() to
 * ferry_fecrig_free(), which also fails the test unless every pool buffer came back.
 */
#ifndef FERRY_TESTS_FECRIG_H
#define FERRY_TESTS_FECRIG_H

#include <stddef.h>
#include <stdint.h>

#include "transport/fec.h"
#include "transport/pool.h"

enum {
	FERRY_FECRIG_WIRE_SHARDS = 2048,		   /* shards the wire holds */
	FERRY_FECRIG_SHARD_CAP = FERRY_FEC_HDR_LEN + 1402, /* largest shard */
	FERRY_FECRIG_MAX_IDS = 4096,			   /* payload ids the sink counts */
	FERRY_FECRIG_MAX_PAYLOAD = 1400,		   /* the encoder's max_payload */
};

/* Every shard the encoder emitted, in order. */
struct ferry_fecrig_wire {
	unsigned n;
	size_t len[FERRY_FECRIG_WIRE_SHARDS];
	uint8_t bytes[FERRY_FECRIG_WIRE_SHARDS][FERRY_FECRIG_SHARD_CAP];
};

/* What the decoder delivered: total calls, damaged or unknown payloads, count per id. */
struct ferry_fecrig_sink {
	unsigned total;
	unsigned bad;
	uint32_t count[FERRY_FECRIG_MAX_IDS];
};

struct ferry_fecrig {
	struct ferry_fec_encoder enc;
	struct ferry_fec_decoder dec;
	struct ferry_pool pool; /* one buffer, 1500 bytes, headroom 64 */
	struct ferry_fecrig_wire wire;
	struct ferry_fecrig_sink sink;
};

/* The length of payload `id`: a fixed mix of sizes from 4 to FERRY_FECRIG_MAX_PAYLOAD. */
size_t ferry_fecrig_payload_len(uint32_t id);

/* Emit callback (ctx: struct ferry_fecrig_wire): asserts room on the wire, 32 bytes of
 * headroom and 16 of tailroom, copies the shard, then overwrites the lent one. */
void ferry_fecrig_emit(void *ctx, struct ferry_buf *shard);

/* Deliver callback (ctx: struct ferry_fecrig_sink): counts the payload under its id if
 * every byte matches its pattern, else counts it bad. */
void ferry_fecrig_deliver(void *ctx, const uint8_t *p, size_t len);

/* A zeroed rig with its pool and a decoder of default limits (FERRY_FECRIG_MAX_PAYLOAD,
 * default groups and slots) into its sink; d > 0 also starts a (d, p) encoder from group
 * first_group. Asserts every step; never returns NULL. */
struct ferry_fecrig *ferry_fecrig_new(uint8_t d, uint8_t p, uint32_t first_group);

/* (Re)starts the encoder as (d, p) from group first_group on an emptied wire. */
void ferry_fecrig_encoder(struct ferry_fecrig *r, uint8_t d, uint8_t p, uint32_t first_group);

/* Restarts the decoder into the sink with these limits (0: the decoder's default). */
void ferry_fecrig_decoder(struct ferry_fecrig *r, uint32_t max_payload, uint32_t groups,
			  uint32_t slots);

/* Builds payload `id` in a pool buffer and encodes it at now; asserts success. */
void ferry_fecrig_send(struct ferry_fecrig *r, uint32_t id, uint64_t now);

/* Feeds the first n wire shards minus `lost` (a bit per shard), rewritten to group id
 * `group`, backwards if reverse; asserts every decode returned 0 (once, not per shard:
 * Check's assertions cost a syscall each even when they pass). */
void ferry_fecrig_feed(struct ferry_fecrig *r, unsigned n, uint64_t lost, uint32_t group,
		       int reverse);

/* Asserts ids base..base+d-1 were delivered exactly once each and nothing else was (lost
 * goes into the message), then clears the sink. */
void ferry_fecrig_expect_once(struct ferry_fecrig_sink *s, uint32_t base, unsigned d,
			      uint64_t lost);

/* Writes group id `group` into a shard's header. */
void ferry_fecrig_set_group(uint8_t *shard, uint32_t group);

/* Steps the xorshift generator *state (nonzero) and returns its new value. */
uint64_t ferry_fecrig_rng(uint64_t *state);

/* The next larger integer with as many bits set as c (c nonzero). */
uint64_t ferry_fecrig_next_combination(uint64_t c);

/* Destroys decoder and encoder, fails the test unless the pool is idle, frees r. */
void ferry_fecrig_free(struct ferry_fecrig *r);

#endif
