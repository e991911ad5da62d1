/* SPDX-License-Identifier: MIT */
/*
 * libsodium made repeatable and cheap for a fuzz harness that runs the link code
 * (tests/fuzz/sodium_fixed.c, linked into fuzz_link_input as one of its own sources).
 *
 * Randomness. libsodium's random bytes (ephemeral keys, session indexes, cookie and hash
 * keys) come from a ChaCha20 keystream under a fixed key, one nonce per draw, numbered
 * from the last fuzz_sodium_restart: an input that restarts it first makes the same keys
 * and indexes every time it runs, so a crash reproduces from its input alone.
 *
 * X25519. The file defines crypto_scalarmult, crypto_scalarmult_base and
 * crypto_box_keypair, which take precedence over the shared library's, and remembers
 * their results (sodium_fixed.c says why that changes nothing the code under test sees).
 */
#ifndef FERRY_TESTS_FUZZ_SODIUM_FIXED_H
#define FERRY_TESTS_FUZZ_SODIUM_FIXED_H

/* Installs the keystream as libsodium's randomness, after sodium_init; `name` is the
 * implementation's name libsodium reports. Returns 0, or -1 as
 * randombytes_set_implementation does. */
int fuzz_sodium_fix(const char *name);

/* Starts the keystream again from its first draw: at the start of each input. */
void fuzz_sodium_restart(void);

#endif
