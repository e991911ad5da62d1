/* SPDX-License-Identifier: MIT */
/*
 * Static keys: X25519 key pairs and their text form.
 *
 * The text form is the one `wg genkey` and `wg pubkey` print, so keys can be moved between
 * the two tools: 32 bytes as 44 characters of standard base64 (RFC 4648 alphabet, one '='
 * of padding). Parsing is strict: exactly 44 characters, no whitespace, no url-safe
 * alphabet, and the two unused bits before the padding must be zero, so every key has
 * exactly one spelling. Private keys are clamped at generation, as `wg genkey` does;
 * X25519 clamps again on use, so a key from elsewhere works either way.
 *
 * Key material held by these functions on the stack is wiped with sodium_memzero().
 */
#ifndef FERRY_CLI_KEY_H
#define FERRY_CLI_KEY_H

#include <stdint.h>

enum {
	FERRY_KEY_LEN = 32,	/* bytes of an X25519 key or a preshared key */
	FERRY_KEY_B64_LEN = 44, /* characters of its base64 form, without the NUL */
};

/* Fills priv with a fresh clamped X25519 private key. Returns 0, or -EIO if libsodium
 * cannot initialise. */
int ferry_key_generate(uint8_t priv[FERRY_KEY_LEN]);

/* Fills psk with 32 random bytes (a preshared key, not clamped). Returns 0 or -EIO. */
int ferry_key_generate_preshared(uint8_t psk[FERRY_KEY_LEN]);

/* Derives the public key of priv. Returns 0, -EINVAL if the result is all zeros (never for
 * a clamped key), or -EIO if libsodium cannot initialise; pub is zeroed on failure. */
int ferry_key_public(uint8_t pub[FERRY_KEY_LEN], const uint8_t priv[FERRY_KEY_LEN]);

/* Writes the 44-character base64 form of key and a NUL into out. Cannot fail. */
void ferry_key_to_base64(char out[FERRY_KEY_B64_LEN + 1], const uint8_t key[FERRY_KEY_LEN]);

/* Parses the strict base64 form described above. Returns 0, or -EINVAL (key zeroed). */
int ferry_key_from_base64(uint8_t key[FERRY_KEY_LEN], const char *s);

#endif
