// SPDX-License-Identifier: MIT
/*
 * Arbitrary bytes as the payload of an authenticated data shard. Two ways in, both every
 * run:
 *   1. the record walker alone (ferry_mux_next, ferry_mux_datagram, ferry_mux_arq_split),
 *      checking that every record, run and datagram lies inside the input and that the
 *      walk ends exactly at the end or reports the record that does not fit;
 *   2. the whole receive path of a real link: peer A FEC-encodes and seals the bytes as a
 *      data shard, peer B's link set opens it, the FEC decoder delivers it and B's link
 *      dispatches its records to the segments and datagram callbacks (bounds watched by
 *      ASan in the fuzzing build; runs shorter than a segment header abort).
 * The two peers (a handshake's worth of set-up) are built on the first call and kept for
 * the process: per-input state is only what the link keeps anyway.
 *
 * The virtual clock moves 1 ms per input, so a session would expire after 180,000 inputs
 * (FERRY_NOISE_REJECT_AFTER_TIME_MS) and every later seal fail: the receive path went
 * silent that way once. Part 2 only seals through A's FEC encoder, which never asks for
 * a new session, so before each input A's session is renewed through the public send
 * path once it is due for a rekey (FERRY_NOISE_REKEY_AFTER_TIME_MS): a real handshake
 * over the harness's wire, as a link does it. A session that cannot be renewed aborts.
 * (Today B, the responder, also starts a handshake of its own once its session is old and
 * it sends an acknowledgement; the harness does not count on that.)
 *
 * Deep path: B's link received the payload (its FEC decoder delivered it to the record
 * walk, past B's AEAD open).
 */
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fuzz.h"
#include "transport/link.h"
#include "transport/mux.h"

#define FUZZ_RENEW_ROUNDS 64 /* timer turns, 10 ms apart, a renewal may take */

struct fuzz_input {
	const uint8_t *base;
	size_t len;
};

struct fuzz_peer {
	struct ferry_link_set set;
	struct ferry_link link;
	uint8_t priv[32], pub[32];
	struct ferry_sockaddr addr;
};

struct fuzz_world {
	struct fuzz_peer p[2];
	uint8_t wire[8][2048]; /* datagrams in flight, delivered after each call */
	size_t wire_len[8];
	int wire_to[8];
	int nwire;
	uint64_t now;
	uint64_t runs, dgrams;
};

static void check_inside(const struct fuzz_input *in, const uint8_t *p, size_t len)
{
	if (p < in->base || len > in->len || (size_t)(p - in->base) > in->len - len)
		abort();
}

static void fuzz_output_one(void *ctx, const uint8_t *msg, size_t len,
			    const struct ferry_sockaddr *to)
{
	struct fuzz_world *w = ctx;

	if (w->nwire >= 8 || len > sizeof(w->wire[0]))
		return;
	memcpy(w->wire[w->nwire], msg, len);
	w->wire_len[w->nwire] = len;
	w->wire_to[w->nwire++] = to->in4.sin_port == w->p[0].addr.in4.sin_port ? 0 : 1;
}

static unsigned fuzz_output(void *ctx, struct ferry_buf *const *bufs,
			    const struct ferry_sockaddr *to, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++)
		fuzz_output_one(ctx, bufs[i]->data, bufs[i]->len, &to[i]);
	return n;
}

static void fuzz_segments(void *ctx, struct ferry_link *link, uint32_t conv, const uint8_t *segs,
			  size_t len, uint64_t now)
{
	struct fuzz_world *w = ctx;

	(void)link;
	(void)conv;
	(void)now;
	w->runs++;
	if (len < FERRY_ARQ_HDR_LEN)
		abort();
	(void)segs;
}

static void fuzz_datagram(void *ctx, struct ferry_link *link, uint32_t flow_id, const uint8_t *data,
			  size_t len, uint64_t now)
{
	struct fuzz_world *w = ctx;

	(void)link;
	(void)flow_id;
	(void)now;
	w->dgrams++;
	if (len && (data[0] == 0x42 || data[len - 1] == 0x42)) /* touch both ends for ASan */
		w->dgrams++;
}

/* Delivers what is on the wire until nothing is left (bounded). */
static void fuzz_pump(struct fuzz_world *w)
{
	static uint8_t storage[2048 + 64];
	int rounds;

	for (rounds = 0; rounds < 8 && w->nwire; rounds++) {
		int i, n = w->nwire;
		uint8_t copy[8][2048];
		size_t len[8];
		int to[8];

		for (i = 0; i < n; i++) {
			memcpy(copy[i], w->wire[i], w->wire_len[i]);
			len[i] = w->wire_len[i];
			to[i] = w->wire_to[i];
		}
		w->nwire = 0;
		for (i = 0; i < n; i++) {
			struct ferry_buf buf = {.head = storage, .end = storage + sizeof(storage)};

			buf.data = storage + 64;
			buf.len = (uint32_t)len[i];
			memcpy(buf.data, copy[i], len[i]);
			ferry_link_set_input(&w->p[to[i]].set, &buf, &w->p[1 - to[i]].addr, w->now);
			ferry_link_set_flush(&w->p[to[i]].set, w->now); /* its replies leave */
		}
	}
}

static struct fuzz_world *fuzz_world(void)
{
	static struct fuzz_world *w;
	struct ferry_link_config cfg = {.fec_data = 4, .fec_parity = 2};
	int i;

	if (w)
		return w;
	w = calloc(1, sizeof(*w));
	if (!w)
		abort();
	w->now = 1000;
	for (i = 0; i < 2; i++) {
		if (ferry_noise_keygen(w->p[i].priv, w->p[i].pub))
			abort();
		w->p[i].addr.in4.sin_family = AF_INET;
		w->p[i].addr.in4.sin_port = htons((uint16_t)(7000 + i));
		w->p[i].addr.in4.sin_addr.s_addr = htonl(0x7f000001);
		w->p[i].addr.len = sizeof(struct sockaddr_in);
	}
	for (i = 0; i < 2; i++) {
		struct ferry_link_set_config sc = {.now = w->now,
						   .realtime_ns = 1790000000ULL * 1000000000ULL,
						   .ops = {.output = fuzz_output, .ctx = w}};
		struct ferry_link_ops ops = {
		    .segments = fuzz_segments, .datagram = fuzz_datagram, .ctx = w};

		memcpy(sc.noise.static_private, w->p[i].priv, 32);
		if (ferry_link_set_init(&w->p[i].set, &sc) ||
		    ferry_link_init(&w->p[i].link, &w->p[i].set, w->p[1 - i].pub, NULL,
				    &w->p[1 - i].addr, &cfg, &ops, w->now))
			abort();
	}
	/* A wants to send: handshake, keepalive, confirmation */
	ferry_link_send_datagram(&w->p[0].link, 1, (const uint8_t *)"x", 1, w->now);
	ferry_link_flush(&w->p[0].link, w->now);
	fuzz_pump(w);
	if (ferry_link_state(&w->p[0].link) != FERRY_LINK_UP)
		abort();
	return w;
}

static void walk_run(void *ctx, uint32_t conv, const uint8_t *segs, size_t len)
{
	(void)conv;
	if (len < FERRY_ARQ_HDR_LEN)
		abort();
	check_inside(ctx, segs, len);
}

/* Part 1: the walker on its own. */
static void walk(const uint8_t *data, size_t size, struct fuzz_input *in)
{
	struct ferry_mux_record rec;
	size_t off = 0, prev = 0;
	int r;

	while ((r = ferry_mux_next(data, size, &off, &rec)) > 0) {
		const uint8_t *d;
		uint32_t flow;
		size_t n;

		if (off <= prev || off > size)
			abort();
		prev = off;
		check_inside(in, rec.body, rec.len);
		if (rec.kind == FERRY_REC_DATAGRAM && ferry_mux_datagram(&rec, &flow, &d, &n) == 0)
			check_inside(in, d, n);
		if (rec.kind == FERRY_REC_ARQ)
			(void)ferry_mux_arq_split(rec.body, rec.len, walk_run, in);
	}
	if (r == 0 && off != size)
		abort();
}

/* True while A's current session can seal for a good while yet. */
static bool session_fresh(const struct fuzz_world *w)
{
	const struct ferry_noise_session *s = w->p[0].link.peer.current;

	return s && !ferry_noise_session_should_rekey(s, w->now) &&
	       !ferry_noise_session_expired(s, w->now + 1000);
}

/* A's session is due: A sends a datagram through its public path, which starts the
 * rekey; the handshake runs over the wire, with both sides' timers, until A holds a fresh
 * session. */
static void renew_session(struct fuzz_world *w)
{
	int round, i;

	ferry_link_send_datagram(&w->p[0].link, 1, (const uint8_t *)"x", 1, w->now);
	ferry_link_flush(&w->p[0].link, w->now);
	fuzz_pump(w);
	for (round = 0; round < FUZZ_RENEW_ROUNDS && !session_fresh(w); round++) {
		w->now += 10;
		for (i = 0; i < 2; i++) {
			ferry_link_set_timer(&w->p[i].set, w->now);
			ferry_link_set_flush(&w->p[i].set, w->now);
		}
		fuzz_pump(w);
	}
	if (!session_fresh(w)) {
		fprintf(stderr, "fuzz_link_payload: A's session could not be renewed at %llu ms\n",
			(unsigned long long)w->now);
		abort();
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const struct fuzz_spec spec = {
	    .name = "fuzz_link_payload",
	    .deep = "B's link received the payload",
	    .min_inputs = 5,
	    .floor_permille = 500,
	};

	return fuzz_init(argc, argv, &spec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_world *w = fuzz_world();
	struct ferry_link *a = &w->p[0].link;
	struct fuzz_input in = {.base = data, .len = size};
	struct ferry_buf *buf;
	uint64_t received;

	walk(data, size, &in);
	if (!session_fresh(w))
		renew_session(w);
	received = w->p[1].link.stats.payloads_in;

	/* Part 2: as a data shard through A's FEC encoder and seal, into B's link set. The
	 * shard is a buffer of A's pool, as the link's own encoding uses: the link hands it
	 * to its set's output batch (and back to the pool) once sealed. */
	if (size > a->sizes.payload)
		size = a->sizes.payload;
	buf = ferry_pool_get(&a->pool);
	if (!buf)
		abort(); /* the pool is back to full after every run */
	if (size)
		memcpy(ferry_buf_put(buf, (uint32_t)size), data, size);
	w->now++;
	a->now = w->now;
	a->enc_cur = buf;
	a->enc_class = FERRY_PACER_LOW;
	a->enc_taken = false;
	ferry_fec_encode(&a->enc, buf, w->now);
	a->enc_cur = NULL;
	if (!a->enc_taken)
		ferry_pool_put(&a->pool, buf);
	ferry_fec_encoder_flush(&a->enc);	    /* parity too: the decoder sees whole groups */
	ferry_link_set_flush(&w->p[0].set, w->now); /* A's batch leaves: onto the wire */
	fuzz_pump(w);
	fuzz_deep(w->p[1].link.stats.payloads_in > received);
	return 0;
}
