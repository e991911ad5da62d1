/* SPDX-License-Identifier: MIT */
/*
 * Handshake MACs and cookies: cheap checks in front of the expensive Diffie-Hellman.
 *
 * Every handshake message ends with two 16-byte MACs (struct ferry_msg_macs):
 *   mac1 = BLAKE2b-128(key = BLAKE2b-256("mac1----" | receiver's static public key),
 *                      message up to mac1)
 *     Anyone who knows the receiver's public key can compute it, so it is no
 *     authentication; it makes the receiver drop random garbage and messages meant for
 *     another key after one BLAKE2b, before any X25519.
 *   mac2 = BLAKE2b-128(key = cookie, message up to mac2), or 16 zero bytes without a
 *     fresh cookie.
 *
 * When the receiver is under load (the caller decides, e.g. from its handshake rate), it
 * processes only messages with a valid mac2; to any other message with a valid mac1 it
 * answers with a cookie reply (the only cost: two BLAKE2b and one XChaCha20-Poly1305):
 *   cookie = BLAKE2b-128(key = secret, source address bytes)
 * encrypted with XChaCha20-Poly1305 under BLAKE2b-256("cookie--" | receiver's static
 * public key) with a random 24-byte nonce and the triggering message's mac1 as associated
 * data (so only the sender of that message can use the reply, and only once it knows the
 * receiver's public key). The checker keeps no state per sender: the secret is 32 random
 * bytes, replaced every FERRY_COOKIE_SECRET_LIFETIME_MS; a cookie made with the secret
 * before the current one is still accepted, so every cookie is valid for at least one
 * lifetime and at most two. A sender uses a received cookie for
 * FERRY_COOKIE_SECRET_LIFETIME_MS - FERRY_COOKIE_LATENCY_MS.
 *
 * The checker belongs to the receiving side (struct ferry_noise_local), one maker per peer
 * we send handshake messages to. No I/O, no clock reads: `now` is in milliseconds.
 */
#ifndef FERRY_TRANSPORT_COOKIE_H
#define FERRY_TRANSPORT_COOKIE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "transport/wire.h"

enum {
	FERRY_COOKIE_KEY_LEN = 32,
};

#define FERRY_COOKIE_SECRET_LIFETIME_MS 120000ULL
#define FERRY_COOKIE_LATENCY_MS		5000ULL

struct ferry_cookie_checker {
	uint8_t mac1_key[FERRY_COOKIE_KEY_LEN];	  /* from our static public key */
	uint8_t reply_key[FERRY_COOKIE_KEY_LEN];  /* encrypts our cookie replies */
	uint8_t secret[FERRY_COOKIE_KEY_LEN];	  /* current */
	uint8_t old_secret[FERRY_COOKIE_KEY_LEN]; /* the one before, if have_old */
	uint64_t secret_born_ms;
	uint64_t old_born_ms; /* old_secret is accepted until old_born_ms + 2 lifetimes */
	bool have_secret;
	bool have_old;
};

struct ferry_cookie_maker {
	uint8_t mac1_key[FERRY_COOKIE_KEY_LEN];	 /* from the peer's static public key */
	uint8_t reply_key[FERRY_COOKIE_KEY_LEN]; /* decrypts the peer's cookie replies */
	uint8_t cookie[FERRY_COOKIE_LEN];
	uint64_t cookie_ms; /* when the cookie arrived */
	bool have_cookie;
	uint8_t last_mac1[FERRY_MAC_LEN]; /* of the last message we sent, for a cookie reply */
	bool have_last_mac1;
};

/* Prepares the checker for messages sent to the holder of local_public. */
void ferry_cookie_checker_init(struct ferry_cookie_checker *checker,
			       const uint8_t local_public[32]);

/* Prepares the maker for messages sent to the holder of remote_public. */
void ferry_cookie_maker_init(struct ferry_cookie_maker *maker, const uint8_t remote_public[32]);

/* Wipe all key material. */
void ferry_cookie_checker_wipe(struct ferry_cookie_checker *checker);
void ferry_cookie_maker_wipe(struct ferry_cookie_maker *maker);

/* Fills the last FERRY_MACS_LEN bytes of msg (len >= FERRY_MACS_LEN) with mac1 and mac2
 * (zero unless the maker holds a cookie younger than the usable lifetime) and remembers
 * mac1 for a cookie reply. */
void ferry_cookie_add_macs(struct ferry_cookie_maker *maker, uint64_t now, uint8_t *msg,
			   size_t len);

/* Checks the MACs of msg (len >= FERRY_MACS_LEN) that arrived from src. Returns 0 when the
 * message may proceed, -EACCES for a bad mac1, -EBUSY when under_load and mac2 is not a
 * valid cookie for src (answer with ferry_cookie_reply_create). Constant-time compares. */
int ferry_cookie_check(struct ferry_cookie_checker *checker, uint64_t now, const uint8_t *msg,
		       size_t len, const uint8_t *src, size_t src_len, bool under_load);

/* Writes a FERRY_MSG_COOKIE_REPLY_LEN-byte cookie reply to msg (whose mac1 was already
 * checked) into out, addressed to receiver_index. Returns 0, -EIO. */
int ferry_cookie_reply_create(struct ferry_cookie_checker *checker, uint64_t now,
			      const uint8_t *msg, size_t len, uint32_t receiver_index,
			      const uint8_t *src, size_t src_len, uint8_t *out);

/* Takes the cookie out of a cookie reply of exactly FERRY_MSG_COOKIE_REPLY_LEN bytes
 * (already parsed and matched to this maker). Returns 0, -ENOENT if no message awaits a
 * cookie, -EBADMSG if it does not decrypt (not for our last message). */
int ferry_cookie_reply_consume(struct ferry_cookie_maker *maker, uint64_t now, const uint8_t *reply,
			       size_t len);

#endif
