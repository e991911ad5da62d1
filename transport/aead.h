/* SPDX-License-Identifier: MIT */
/*
 * Per-datagram AEAD of the secure link.
 *
 * A session key is expanded once into a struct ferry_aead_key (for AES-256-GCM this is
 * libsodium's precomputed "beforenm" state, so no key schedule runs per datagram). Each
 * datagram is sealed with the 64-bit counter as nonce: 4 zero bytes followed by the
 * counter in little-endian (the Noise ChaChaPoly nonce layout, used for both algorithms).
 * A counter is never used twice with one key: the session hands out each value once.
 *
 * Data messages (wire layout in transport/noise.h) carry their cleartext header
 * (type, reserved, receiver index, counter) as associated data, so flipping any header bit
 * fails authentication just like flipping a ciphertext bit. Sealing and opening work in
 * place; nothing is allocated.
 *
 * Algorithm choice: AES-256-GCM where the CPU has AES-NI and PCLMUL (about twice as fast
 * as ChaCha20-Poly1305 here), ChaCha20-Poly1305-IETF otherwise; the two peers negotiate it
 * in the handshake (noise.c).
 */
#ifndef FERRY_TRANSPORT_AEAD_H
#define FERRY_TRANSPORT_AEAD_H

#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

#include "transport/wire.h"

enum ferry_aead_alg {
	FERRY_AEAD_CHACHA20POLY1305 = 0, /* crypto_aead_chacha20poly1305_ietf */
	FERRY_AEAD_AES256GCM = 1,	 /* crypto_aead_aes256gcm, needs AES-NI */
};

#define FERRY_AEAD_MASK(alg) (1u << (alg))
#define FERRY_AEAD_MASK_ALL \
	(FERRY_AEAD_MASK(FERRY_AEAD_CHACHA20POLY1305) | FERRY_AEAD_MASK(FERRY_AEAD_AES256GCM))

enum {
	FERRY_AEAD_KEY_LEN = 32,
};

struct ferry_aead_key {
	union {
		crypto_aead_aes256gcm_state aes; /* 16-byte aligned by its type */
		uint8_t chacha[FERRY_AEAD_KEY_LEN];
	} u;
	enum ferry_aead_alg alg;
};

/* Initialises libsodium (idempotent). Returns 0 or -EIO. */
int ferry_aead_global_init(void);

/* Bit mask (FERRY_AEAD_MASK) of the algorithms this CPU can run. Calls sodium_init. */
uint32_t ferry_aead_available(void);

/* Short name of alg ("aes256gcm", "chacha20poly1305"), "?" for anything else. */
const char *ferry_aead_name(enum ferry_aead_alg alg);

/* Expands a 32-byte key for alg. Returns 0, -EINVAL for an unknown alg, -ENOTSUP if the
 * CPU cannot run alg. On error key is wiped. */
int ferry_aead_key_init(struct ferry_aead_key *key, enum ferry_aead_alg alg,
			const uint8_t raw[FERRY_AEAD_KEY_LEN]);

/* Wipes the expanded key (sodium_memzero). */
void ferry_aead_key_wipe(struct ferry_aead_key *key);

/* Writes the 12-byte nonce for counter. */
void ferry_aead_nonce(uint8_t nonce[FERRY_AEAD_NONCE_LEN], uint64_t counter);

/* Encrypts len bytes of pt into out (len + FERRY_AEAD_TAG_LEN bytes; out == pt allowed)
 * with the counter nonce and ad as associated data. Returns 0 or -EIO (library failure). */
int ferry_aead_seal(const struct ferry_aead_key *key, uint64_t counter, const uint8_t *ad,
		    size_t ad_len, const uint8_t *pt, size_t len, uint8_t *out);

/* Decrypts ct (ct_len bytes, tag included) into out (ct_len - FERRY_AEAD_TAG_LEN bytes;
 * out == ct allowed). Returns 0, -EBADMSG if it does not authenticate or is shorter than a
 * tag (out's contents are then unspecified). */
int ferry_aead_open(const struct ferry_aead_key *key, uint64_t counter, const uint8_t *ad,
		    size_t ad_len, const uint8_t *ct, size_t ct_len, uint8_t *out);

/* Data messages. msg points at the message's first byte; the payload sits at
 * msg + FERRY_DATA_HEADER_LEN (transport/noise.h). */

/* Writes the data header for (receiver_index, counter) into msg and seals the payload_len
 * bytes after it in place, appending the tag: the message is then
 * FERRY_DATA_HEADER_LEN + payload_len + FERRY_AEAD_TAG_LEN bytes. Returns 0 or -EIO. */
int ferry_aead_data_seal(const struct ferry_aead_key *key, uint32_t receiver_index,
			 uint64_t counter, uint8_t *msg, size_t payload_len);

/* Parses a data message's header (bounds, type, reserved bytes zero) without any
 * cryptography. Returns 0, or -EPROTO for anything that is not a well-formed data message
 * (shorter than header + tag, other type, non-zero reserved bytes). */
int ferry_aead_data_parse(const uint8_t *msg, size_t len, uint32_t *receiver_index,
			  uint64_t *counter);

/* Opens a parsed data message of len bytes in place: on success the payload is the
 * len - FERRY_DATA_OVERHEAD bytes at msg + FERRY_DATA_HEADER_LEN. Returns 0 or -EBADMSG. */
int ferry_aead_data_open(const struct ferry_aead_key *key, uint8_t *msg, size_t len);

#endif
