// SPDX-License-Identifier: MIT
/* Repeatable randomness and a memo of X25519 for the link harness (sodium_fixed.h). */
#include "tests/fuzz/sodium_fixed.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <sodium.h>

static uint64_t random_draws;
static const char *random_harness;

static const char *random_name(void)
{
	return random_harness;
}

static void random_buf(void *const buf, const size_t size)
{
	static const uint8_t key[crypto_stream_chacha20_KEYBYTES] = {'f', 'u', 'z', 'z'};
	uint8_t nonce[crypto_stream_chacha20_NONCEBYTES];

	memcpy(nonce, &random_draws, sizeof(nonce));
	random_draws++;
	crypto_stream_chacha20(buf, size, nonce, key);
}

static uint32_t random_u32(void)
{
	uint32_t v;

	random_buf(&v, sizeof(v));
	return v;
}

static randombytes_implementation random_impl = {
    .implementation_name = random_name,
    .random = random_u32,
    .buf = random_buf,
};

/*
 * X25519, remembered. The three libsodium functions below are defined here, so the link
 * code's calls bind to them rather than to the shared library's (the harness links this
 * file as one of its own sources): each computes a result with libsodium's own
 * crypto_scalarmult_curve25519*, once per distinct (scalar, point), and copies it out
 * after that. X25519 is a function of its arguments alone, so the memo
 * changes nothing the link sees. With the randomness above, the set-up's Diffie-Hellmans
 * (key pairs, static-static, two handshakes: up to 23 a run, about 40 us each) are the same
 * for every input of the same flags, and a mutated input shares most of a script's with
 * the input it came from. Direct-mapped: a collision evicts. 65,536 entries (6.8 MB): a
 * grown corpus (1,300 inputs) makes tens of thousands of distinct ones as libFuzzer cycles
 * through it, and with 512 the misses took a sixth of the run (1.35 times the executions
 * a second with 65,536).
 */
struct x25519_entry {
	uint8_t n[32], p[32], q[32];
	int ret;
	bool used;
};

static struct x25519_entry x25519_memo[65536];
static const uint8_t x25519_base[32] = {9};

static int x25519(uint8_t *q, const uint8_t *n, const uint8_t *p)
{
	struct x25519_entry *e;
	uint32_t h = 2166136261u; /* FNV-1a of n and p */
	int i;

	for (i = 0; i < 32; i++)
		h = (h ^ n[i]) * 16777619u;
	for (i = 0; i < 32; i++)
		h = (h ^ p[i]) * 16777619u;
	e = &x25519_memo[h % (sizeof(x25519_memo) / sizeof(x25519_memo[0]))];
	if (!e->used || memcmp(e->n, n, 32) != 0 || memcmp(e->p, p, 32) != 0) {
		memcpy(e->n, n, 32);
		memcpy(e->p, p, 32);
		e->ret = p == x25519_base ? crypto_scalarmult_curve25519_base(e->q, n)
					  : crypto_scalarmult_curve25519(e->q, n, p);
		e->used = true;
	}
	memcpy(q, e->q, 32);
	return e->ret;
}

int crypto_scalarmult(unsigned char *q, const unsigned char *n, const unsigned char *p)
{
	return x25519(q, n, p);
}

int crypto_scalarmult_base(unsigned char *q, const unsigned char *n)
{
	return x25519(q, n, x25519_base);
}

/* As libsodium makes a pair: 32 random bytes, and their public key. */
int crypto_box_keypair(unsigned char *pk, unsigned char *sk)
{
	randombytes_buf(sk, 32);
	return x25519(pk, sk, x25519_base);
}

int fuzz_sodium_fix(const char *name)
{
	random_harness = name;
	return randombytes_set_implementation(&random_impl);
}

void fuzz_sodium_restart(void)
{
	random_draws = 0;
}
