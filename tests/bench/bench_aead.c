// SPDX-License-Identifier: MIT
/*
 * Secure link throughput: seal and open of 1400-byte datagrams with each AEAD (MB/s of
 * payload, datagrams/s), the whole session path (ferry_noise_seal + ferry_noise_open with
 * the replay window, in place in pool buffers), and the cost of a full handshake.
 * Prints figures; it is not a test. Each figure is the best of several rounds (the machine
 * is shared, the best round is the least disturbed one).
 *
 *   bench_aead [datagrams per round, default 200000] [rounds, default 5]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "transport/noise.h"

enum {
	PAYLOAD = 1400,
	HANDSHAKES = 200,
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void report(const char *what, double best_s, unsigned long n)
{
	printf("%-34s %8.1f MB/s  %9.0f datagrams/s  %6.3f us/datagram\n", what,
	       (double)n * PAYLOAD / best_s / 1e6, (double)n / best_s, best_s / (double)n * 1e6);
}

static void bench_alg(enum ferry_aead_alg alg, unsigned long n, int rounds)
{
	static uint8_t msg[FERRY_DATA_OVERHEAD + PAYLOAD], out[PAYLOAD];
	uint8_t raw[32];
	struct ferry_aead_key key;
	double best_seal = 1e9, best_open = 1e9, t;
	unsigned long i;
	char label[64];
	int r;

	randombytes_buf(raw, sizeof(raw));
	if (ferry_aead_key_init(&key, alg, raw) != 0) {
		printf("%s: not available on this CPU\n", ferry_aead_name(alg));
		return;
	}
	randombytes_buf(msg, sizeof(msg));
	for (r = 0; r < rounds; r++) {
		t = now_s();
		for (i = 0; i < n; i++)
			ferry_aead_data_seal(&key, 1, i, msg, PAYLOAD);
		t = now_s() - t;
		if (t < best_seal)
			best_seal = t;

		/* Open one genuine datagram over and over, out of place so it stays intact
		 * (same work as in place). */
		ferry_aead_data_seal(&key, 1, 42, msg, PAYLOAD);
		t = now_s();
		for (i = 0; i < n; i++)
			if (ferry_aead_open(&key, 42, msg, FERRY_DATA_HEADER_LEN,
					    msg + FERRY_DATA_HEADER_LEN,
					    PAYLOAD + FERRY_AEAD_TAG_LEN, out) != 0)
				abort();
		t = now_s() - t;
		if (t < best_open)
			best_open = t;
	}
	snprintf(label, sizeof(label), "%s seal", ferry_aead_name(alg));
	report(label, best_seal, n);
	snprintf(label, sizeof(label), "%s open", ferry_aead_name(alg));
	report(label, best_open, n);
	ferry_aead_key_wipe(&key);
}

struct pair {
	struct ferry_noise_local a, b;
	struct ferry_noise_peer ap, bp;
};

static void pair_init(struct pair *p, uint32_t mask)
{
	struct ferry_noise_config cfg = {.aead_mask = mask};
	uint8_t pub[32];

	ferry_noise_keygen(cfg.static_private, pub);
	if (ferry_noise_local_init(&p->a, &cfg) != 0)
		abort();
	ferry_noise_keygen(cfg.static_private, pub);
	if (ferry_noise_local_init(&p->b, &cfg) != 0)
		abort();
	if (ferry_noise_peer_init(&p->a, &p->ap, p->b.static_public, NULL) != 0 ||
	    ferry_noise_peer_init(&p->b, &p->bp, p->a.static_public, NULL) != 0)
		abort();
}

/* One full handshake a -> b; returns the seconds spent by each side. */
static void handshake(struct pair *p, uint64_t now, double *t_init, double *t_resp)
{
	uint8_t init[FERRY_MSG_INITIATION_LEN], resp[FERRY_NOISE_MAX_REPLY_LEN];
	size_t resp_len, none;
	double t0, t1, t2, t3;

	t0 = now_s();
	if (ferry_noise_create_initiation(&p->ap, now, now * 1000000, init) != 0)
		abort();
	t1 = now_s();
	if (ferry_noise_handle_handshake(&p->b, now, NULL, 0, init, sizeof(init), resp, &resp_len,
					 NULL) != 0)
		abort();
	t2 = now_s();
	if (ferry_noise_handle_handshake(&p->a, now, NULL, 0, resp, resp_len, NULL, &none, NULL) !=
	    0)
		abort();
	t3 = now_s();
	*t_init += (t1 - t0) + (t3 - t2);
	*t_resp += t2 - t1;
}

static void bench_session(uint32_t mask, unsigned long n, int rounds)
{
	struct ferry_pool pool;
	struct ferry_buf *buf;
	struct pair *p = calloc(1, sizeof(*p));
	double best = 1e9, t, ti = 0, tr = 0;
	unsigned long i;
	char label[64];
	int r;

	if (!p || ferry_pool_init(&pool, 1, 2048, 64) != 0)
		abort();
	pair_init(p, mask);
	handshake(p, 1, &ti, &tr);
	buf = ferry_pool_get(&pool);
	for (r = 0; r < rounds; r++) {
		t = now_s();
		for (i = 0; i < n; i++) {
			buf->data = buf->head + 64;
			buf->len = PAYLOAD;
			if (ferry_noise_seal(&p->ap, 1, buf) != 0 ||
			    ferry_noise_open(&p->b, 1, buf, NULL) != 0)
				abort();
		}
		t = now_s() - t;
		if (t < best)
			best = t;
	}
	snprintf(label, sizeof(label), "session seal+open (%s)",
		 ferry_aead_name(p->ap.current->send.alg));
	report(label, best, n);
	ferry_pool_put(&pool, buf);
	ferry_pool_destroy(&pool);
	ferry_noise_local_destroy(&p->a);
	ferry_noise_local_destroy(&p->b);
	free(p);
}

static void bench_handshake(void)
{
	struct pair *p = calloc(1, sizeof(*p));
	uint8_t sk[32], pk[32], shared[32];
	double ti = 0, tr = 0, t;
	int i;

	if (!p)
		abort();
	/* Reference: each side of a handshake costs 3 X25519 + 1 base-point multiplication
	 * (static-static is cached per peer). */
	crypto_box_keypair(pk, sk);
	t = now_s();
	for (i = 0; i < HANDSHAKES; i++)
		if (crypto_scalarmult(shared, sk, pk) != 0)
			abort();
	t = now_s() - t;
	printf("x25519 reference: %.1f us per scalar multiplication\n", t / HANDSHAKES * 1e6);
	pair_init(p, 0);
	t = now_s();
	for (i = 0; i < HANDSHAKES; i++)
		handshake(p, 1000 + (uint64_t)i * 100, &ti, &tr); /* past the rate limit */
	t = now_s() - t;
	printf("handshake (%d): %.1f us total, initiator %.1f us, responder %.1f us\n", HANDSHAKES,
	       t / HANDSHAKES * 1e6, ti / HANDSHAKES * 1e6, tr / HANDSHAKES * 1e6);
	ferry_noise_local_destroy(&p->a);
	ferry_noise_local_destroy(&p->b);
	free(p);
}

int main(int argc, char **argv)
{
	unsigned long n = argc > 1 ? strtoul(argv[1], NULL, 10) : 200000;
	int rounds = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 5;

	if (ferry_aead_global_init() != 0 || n == 0 || rounds <= 0)
		return 1;
	printf("payload %d bytes, %lu datagrams x %d rounds (best round); AES-NI: %s\n", PAYLOAD, n,
	       rounds, crypto_aead_aes256gcm_is_available() ? "yes" : "no");
	bench_alg(FERRY_AEAD_AES256GCM, n, rounds);
	bench_alg(FERRY_AEAD_CHACHA20POLY1305, n, rounds);
	bench_session(0, n, rounds);
	bench_session(FERRY_AEAD_MASK(FERRY_AEAD_CHACHA20POLY1305), n, rounds);
	bench_handshake();
	return 0;
}
