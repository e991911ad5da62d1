// SPDX-License-Identifier: MIT
/*
 * Handshake MACs and cookies (theory in cookie.h). The secret rotates lazily: every call
 * that needs it first checks its age against `now`, so no timer is involved. The secret
 * before the current one is accepted only until two lifetimes after it was made, however
 * late the lazy rotation happened: a cookie lives at least one lifetime (it was made with
 * a secret younger than one) and at most two.
 */
#include "transport/cookie.h"

#include <endian.h>
#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "transport/noise.h"

static void derive_key(uint8_t out[FERRY_COOKIE_KEY_LEN], const char label[8],
		       const uint8_t public_key[32])
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, FERRY_COOKIE_KEY_LEN);
	crypto_generichash_update(&st, (const uint8_t *)label, 8);
	crypto_generichash_update(&st, public_key, 32);
	crypto_generichash_final(&st, out, FERRY_COOKIE_KEY_LEN);
	sodium_memzero(&st, sizeof(st));
}

/* BLAKE2b-128 of data keyed by key. */
static void mac(uint8_t out[FERRY_MAC_LEN], const uint8_t *key, size_t key_len, const uint8_t *data,
		size_t len)
{
	crypto_generichash(out, FERRY_MAC_LEN, data, len, key, key_len);
}

void ferry_cookie_checker_init(struct ferry_cookie_checker *checker, const uint8_t local_public[32])
{
	memset(checker, 0, sizeof(*checker));
	derive_key(checker->mac1_key, "mac1----", local_public);
	derive_key(checker->reply_key, "cookie--", local_public);
}

void ferry_cookie_maker_init(struct ferry_cookie_maker *maker, const uint8_t remote_public[32])
{
	memset(maker, 0, sizeof(*maker));
	derive_key(maker->mac1_key, "mac1----", remote_public);
	derive_key(maker->reply_key, "cookie--", remote_public);
}

void ferry_cookie_checker_wipe(struct ferry_cookie_checker *checker)
{
	sodium_memzero(checker, sizeof(*checker));
}

void ferry_cookie_maker_wipe(struct ferry_cookie_maker *maker)
{
	sodium_memzero(maker, sizeof(*maker));
}

void ferry_cookie_add_macs(struct ferry_cookie_maker *maker, uint64_t now, uint8_t *msg, size_t len)
{
	uint8_t *mac1 = msg + len - FERRY_MACS_LEN;
	uint8_t *mac2 = mac1 + FERRY_MAC_LEN;

	mac(mac1, maker->mac1_key, sizeof(maker->mac1_key), msg, len - FERRY_MACS_LEN);
	memcpy(maker->last_mac1, mac1, FERRY_MAC_LEN);
	maker->have_last_mac1 = true;

	if (maker->have_cookie &&
	    now - maker->cookie_ms >= FERRY_COOKIE_SECRET_LIFETIME_MS - FERRY_COOKIE_LATENCY_MS) {
		sodium_memzero(maker->cookie, sizeof(maker->cookie));
		maker->have_cookie = false;
	}
	if (maker->have_cookie)
		mac(mac2, maker->cookie, sizeof(maker->cookie), msg, len - FERRY_MAC_LEN);
	else
		memset(mac2, 0, FERRY_MAC_LEN);
}

static void checker_rotate(struct ferry_cookie_checker *checker, uint64_t now)
{
	uint64_t age = now - checker->secret_born_ms;

	if (checker->have_secret && now >= checker->secret_born_ms &&
	    age < FERRY_COOKIE_SECRET_LIFETIME_MS)
		return;
	if (checker->have_secret && now >= checker->secret_born_ms &&
	    age < 2 * FERRY_COOKIE_SECRET_LIFETIME_MS) {
		memcpy(checker->old_secret, checker->secret, sizeof(checker->secret));
		checker->old_born_ms = checker->secret_born_ms;
		checker->have_old = true;
	} else {
		sodium_memzero(checker->old_secret, sizeof(checker->old_secret));
		checker->have_old = false;
	}
	randombytes_buf(checker->secret, sizeof(checker->secret));
	checker->secret_born_ms = now;
	checker->have_secret = true;
}

static void make_cookie(uint8_t out[FERRY_COOKIE_LEN], const uint8_t secret[32], const uint8_t *src,
			size_t src_len)
{
	mac(out, secret, 32, src, src_len);
}

/* Does mac2 of msg match the cookie that secret gives src? */
static bool mac2_valid(const uint8_t secret[32], const uint8_t *msg, size_t len, const uint8_t *src,
		       size_t src_len)
{
	uint8_t cookie[FERRY_COOKIE_LEN], expect[FERRY_MAC_LEN];
	bool ok;

	make_cookie(cookie, secret, src, src_len);
	mac(expect, cookie, sizeof(cookie), msg, len - FERRY_MAC_LEN);
	ok = sodium_memcmp(expect, msg + len - FERRY_MAC_LEN, FERRY_MAC_LEN) == 0;
	sodium_memzero(cookie, sizeof(cookie));
	return ok;
}

int ferry_cookie_check(struct ferry_cookie_checker *checker, uint64_t now, const uint8_t *msg,
		       size_t len, const uint8_t *src, size_t src_len, bool under_load)
{
	uint8_t expect[FERRY_MAC_LEN];

	if (len < FERRY_MACS_LEN)
		return -EACCES;
	mac(expect, checker->mac1_key, sizeof(checker->mac1_key), msg, len - FERRY_MACS_LEN);
	if (sodium_memcmp(expect, msg + len - FERRY_MACS_LEN, FERRY_MAC_LEN) != 0)
		return -EACCES;
	if (!under_load)
		return 0;

	checker_rotate(checker, now);
	if (mac2_valid(checker->secret, msg, len, src, src_len))
		return 0;
	if (checker->have_old && now - checker->old_born_ms < 2 * FERRY_COOKIE_SECRET_LIFETIME_MS &&
	    mac2_valid(checker->old_secret, msg, len, src, src_len))
		return 0;
	return -EBUSY;
}

int ferry_cookie_reply_create(struct ferry_cookie_checker *checker, uint64_t now,
			      const uint8_t *msg, size_t len, uint32_t receiver_index,
			      const uint8_t *src, size_t src_len, uint8_t *out)
{
	struct ferry_msg_cookie_reply reply;
	uint8_t cookie[FERRY_COOKIE_LEN];
	uint32_t index_le = htole32(receiver_index);
	int err = 0;

	checker_rotate(checker, now);
	memset(&reply, 0, sizeof(reply));
	reply.header.type = FERRY_MSG_COOKIE_REPLY;
	memcpy(&reply.receiver_index, &index_le, sizeof(index_le));
	randombytes_buf(reply.nonce, sizeof(reply.nonce));
	make_cookie(cookie, checker->secret, src, src_len);
	if (crypto_aead_xchacha20poly1305_ietf_encrypt(
		reply.encrypted_cookie, NULL, cookie, sizeof(cookie), msg + len - FERRY_MACS_LEN,
		FERRY_MAC_LEN, NULL, reply.nonce, checker->reply_key) != 0)
		err = -EIO;
	else
		memcpy(out, &reply, sizeof(reply));
	sodium_memzero(cookie, sizeof(cookie));
	return err;
}

int ferry_cookie_reply_consume(struct ferry_cookie_maker *maker, uint64_t now, const uint8_t *reply,
			       size_t len)
{
	struct ferry_msg_cookie_reply msg;
	uint8_t cookie[FERRY_COOKIE_LEN];

	if (len != sizeof(msg))
		return -EBADMSG;
	if (!maker->have_last_mac1)
		return -ENOENT;
	memcpy(&msg, reply, sizeof(msg));
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(
		cookie, NULL, NULL, msg.encrypted_cookie, sizeof(msg.encrypted_cookie),
		maker->last_mac1, FERRY_MAC_LEN, msg.nonce, maker->reply_key) != 0)
		return -EBADMSG;
	memcpy(maker->cookie, cookie, sizeof(cookie));
	maker->cookie_ms = now;
	maker->have_cookie = true;
	/* One cookie per message we sent: a second reply to the same message is refused. */
	maker->have_last_mac1 = false;
	sodium_memzero(cookie, sizeof(cookie));
	return 0;
}
