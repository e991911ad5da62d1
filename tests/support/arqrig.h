/* SPDX-License-Identifier: MIT */
/*
 * Harnesses for the ARQ engine's suites, tests/test_arq_*.c. Two of them:
 *
 * A conversation alone: its output callback is ferry_arqrig_capture_out, which keeps a
 * copy of each of the first FERRY_ARQRIG_CAPTURE_MAX datagrams (and counts all of them),
 * and the test writes the peer's side by hand with ferry_arqrig_seg, one encoded segment
 * at a time. Nothing runs unless the test calls the engine.
 *
 * Two conversations over the virtual network of vnet.h: struct ferry_arqrig_pair holds
 * A and B (conv 0x5eed, one pool each, sized from the configuration) on a seeded vnet
 * with one impairment per direction. ferry_arqrig_pair_step is one turn of an event loop
 * on the vnet's virtual clock: the writer pushes the source into A, A runs, the reader
 * drains B (optionally in chunks, at intervals, after a pause), B runs, and the clock
 * jumps to the earliest deadline. Every byte read is compared with the source; pool
 * high-water marks and refused writes are recorded for the test to assert on. A test
 * sets the reader fields (read_chunk, read_every, read_pause_until) after
 * ferry_arqrig_pair_init, and may change vn.link[] impairments between steps; a tap sees
 * every datagram delivered, as the peer's estimator would.
 *
 * Failures are Check assertions: every function here runs inside a Check test. All
 * state lives in the structs; nothing here is global.
 */
#ifndef FERRY_TESTS_ARQRIG_H
#define FERRY_TESTS_ARQRIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tests/support/vnet.h"
#include "transport/arq.h"
#include "transport/pool.h"

#define FERRY_ARQRIG_MB ((size_t)1 << 20)

enum {
	FERRY_ARQRIG_CAPTURE_MAX = 64,	 /* datagrams a capture keeps a copy of */
	FERRY_ARQRIG_CAPTURE_LEN = 1500, /* the longest datagram a capture accepts */
	FERRY_ARQRIG_SEG_MAX = 2048,	 /* room ferry_arqrig_seg may write into */
	FERRY_ARQRIG_READ_BUF = 65536,	 /* bytes the pair's reader takes per recv */
	FERRY_ARQRIG_CONV = 0x5eed,	 /* the pair's conversation id */
};

/* The datagrams one conversation emitted. */
struct ferry_arqrig_capture {
	uint8_t dg[FERRY_ARQRIG_CAPTURE_MAX][FERRY_ARQRIG_CAPTURE_LEN];
	size_t len[FERRY_ARQRIG_CAPTURE_MAX];
	uint32_t n; /* all datagrams emitted, also those past the copies kept */
};

/* Output callback, ctx a struct ferry_arqrig_capture: asserts len fits, keeps a copy of
 * the first FERRY_ARQRIG_CAPTURE_MAX, counts every one; returns 0. */
int ferry_arqrig_capture_out(void *ctx, const uint8_t *dgram, size_t len);

/* Encodes one segment into out (FERRY_ARQRIG_SEG_MAX bytes of room) with the NUL-terminated
 * payload data (NULL: none); asserts it encoded and returns its length. */
size_t ferry_arqrig_seg(uint8_t *out, uint32_t conv, uint8_t cmd, uint16_t wnd, uint32_t ts,
			uint32_t sn, uint32_t una, const char *data);

/* Sees every datagram the vnet delivers (dir FERRY_VNET_A2B: to B), at its arrival time,
 * before the engine does; ctx is the pair's tap_ctx. */
typedef void (*ferry_arqrig_tap_fn)(void *ctx, enum ferry_vnet_dir dir, const uint8_t *dgram,
				    size_t len, uint64_t now);

/* Two engines over the virtual network, A writing and B reading. */
struct ferry_arqrig_pair {
	struct ferry_vnet vn;
	ferry_arqrig_tap_fn tap; /* optional, set after ferry_arqrig_pair_init */
	void *tap_ctx;
	struct ferry_pool pool_a, pool_b;
	struct ferry_arq *a, *b;
	const uint8_t *src;
	size_t total, sent, recvd;
	uint32_t read_chunk;	   /* bytes the reader takes per read turn; 0 = all */
	uint32_t read_every;	   /* ms between read turns; 0 = every step */
	uint64_t next_read;	   /* the reader's next turn */
	uint64_t read_pause_until; /* the reader does not read before this */
	uint64_t eagain;	   /* sends refused for backpressure */
	uint32_t b_high;	   /* most pool buffers B ever held */
	uint32_t a_high;	   /* ... and A */
	uint8_t rbuf[FERRY_ARQRIG_READ_BUF];
};

/* Sets p up: a vnet seeded with seed starting at virtual ms start, impaired by a2b and b2a,
 * and A and B created with cfg; asserts every step. */
void ferry_arqrig_pair_init(struct ferry_arqrig_pair *p, uint64_t seed,
			    const struct ferry_arq_config *cfg, const struct ferry_vnet_link *a2b,
			    const struct ferry_vnet_link *b2a, uint64_t start);

/* Destroys both engines, asserts both pools are idle, frees everything p holds. */
void ferry_arqrig_pair_destroy(struct ferry_arqrig_pair *p);

/* One turn of the event loop at vn.now: write, update, read, then sleep to the next
 * deadline. Asserts no engine is left overdue and every byte read matches the source.
 * Returns false when nothing at all is scheduled. */
bool ferry_arqrig_pair_step(struct ferry_arqrig_pair *p);

/* Moves total bytes of src A -> B, verifying each, failing the test on a stall, an engine
 * error or limit_ms of virtual time; returns the virtual ms it took. */
uint64_t ferry_arqrig_pair_transfer(struct ferry_arqrig_pair *p, const uint8_t *src, size_t total,
				    uint64_t limit_ms);

/* A heap buffer of n pseudo-random bytes, the same for the same seed (free() it). */
uint8_t *ferry_arqrig_pattern(size_t n, uint64_t seed);

#endif
