// SPDX-License-Identifier: MIT
/*
 * Per-datagram AEAD (theory in aead.h). Both algorithms go through libsodium's combined
 * interfaces, which accept the ciphertext in the plaintext's place, so a data message is
 * sealed and opened inside the packet buffer that carries it. AES-256-GCM uses the
 * precomputed-state ("afternm") calls: the AES key schedule and GHASH key are computed
 * once per session key, not per datagram.
 */
#include "transport/aead.h"

#include <endian.h>
#include <errno.h>
#include <string.h>

#include "transport/noise.h"

int ferry_aead_global_init(void)
{
	return sodium_init() < 0 ? -EIO : 0;
}

uint32_t ferry_aead_available(void)
{
	uint32_t mask = FERRY_AEAD_MASK(FERRY_AEAD_CHACHA20POLY1305);

	if (ferry_aead_global_init() != 0)
		return 0;
	if (crypto_aead_aes256gcm_is_available())
		mask |= FERRY_AEAD_MASK(FERRY_AEAD_AES256GCM);
	return mask;
}

const char *ferry_aead_name(enum ferry_aead_alg alg)
{
	switch (alg) {
	case FERRY_AEAD_CHACHA20POLY1305:
		return "chacha20poly1305";
	case FERRY_AEAD_AES256GCM:
		return "aes256gcm";
	}
	return "?";
}

int ferry_aead_key_init(struct ferry_aead_key *key, enum ferry_aead_alg alg,
			const uint8_t raw[FERRY_AEAD_KEY_LEN])
{
	memset(key, 0, sizeof(*key));
	key->alg = alg;
	switch (alg) {
	case FERRY_AEAD_CHACHA20POLY1305:
		memcpy(key->u.chacha, raw, FERRY_AEAD_KEY_LEN);
		return 0;
	case FERRY_AEAD_AES256GCM:
		if (!(ferry_aead_available() & FERRY_AEAD_MASK(alg)))
			return -ENOTSUP;
		if (crypto_aead_aes256gcm_beforenm(&key->u.aes, raw) != 0) {
			ferry_aead_key_wipe(key);
			return -EIO;
		}
		return 0;
	}
	return -EINVAL;
}

void ferry_aead_key_wipe(struct ferry_aead_key *key)
{
	sodium_memzero(key, sizeof(*key));
}

void ferry_aead_nonce(uint8_t nonce[FERRY_AEAD_NONCE_LEN], uint64_t counter)
{
	uint64_t le = htole64(counter);

	memset(nonce, 0, 4);
	memcpy(nonce + 4, &le, sizeof(le));
}

int ferry_aead_seal(const struct ferry_aead_key *key, uint64_t counter, const uint8_t *ad,
		    size_t ad_len, const uint8_t *pt, size_t len, uint8_t *out)
{
	uint8_t nonce[FERRY_AEAD_NONCE_LEN];
	int rc;

	ferry_aead_nonce(nonce, counter);
	if (key->alg == FERRY_AEAD_AES256GCM)
		rc = crypto_aead_aes256gcm_encrypt_afternm(out, NULL, pt, len, ad, ad_len, NULL,
							   nonce, &key->u.aes);
	else
		rc = crypto_aead_chacha20poly1305_ietf_encrypt(out, NULL, pt, len, ad, ad_len, NULL,
							       nonce, key->u.chacha);
	return rc == 0 ? 0 : -EIO;
}

int ferry_aead_open(const struct ferry_aead_key *key, uint64_t counter, const uint8_t *ad,
		    size_t ad_len, const uint8_t *ct, size_t ct_len, uint8_t *out)
{
	uint8_t nonce[FERRY_AEAD_NONCE_LEN];
	int rc;

	if (ct_len < FERRY_AEAD_TAG_LEN)
		return -EBADMSG;
	ferry_aead_nonce(nonce, counter);
	if (key->alg == FERRY_AEAD_AES256GCM)
		rc = crypto_aead_aes256gcm_decrypt_afternm(out, NULL, NULL, ct, ct_len, ad, ad_len,
							   nonce, &key->u.aes);
	else
		rc = crypto_aead_chacha20poly1305_ietf_decrypt(out, NULL, NULL, ct, ct_len, ad,
							       ad_len, nonce, key->u.chacha);
	return rc == 0 ? 0 : -EBADMSG;
}

int ferry_aead_data_seal(const struct ferry_aead_key *key, uint32_t receiver_index,
			 uint64_t counter, uint8_t *msg, size_t payload_len)
{
	struct ferry_msg_data hdr;
	uint8_t *payload = msg + FERRY_DATA_HEADER_LEN;

	memset(&hdr, 0, sizeof(hdr));
	hdr.header.type = FERRY_MSG_DATA;
	hdr.receiver_index = htole32(receiver_index);
	hdr.counter = htole64(counter);
	memcpy(msg, &hdr, sizeof(hdr));
	return ferry_aead_seal(key, counter, msg, FERRY_DATA_HEADER_LEN, payload, payload_len,
			       payload);
}

int ferry_aead_data_parse(const uint8_t *msg, size_t len, uint32_t *receiver_index,
			  uint64_t *counter)
{
	struct ferry_msg_data hdr;

	if (len < FERRY_DATA_OVERHEAD)
		return -EPROTO;
	memcpy(&hdr, msg, sizeof(hdr));
	if (hdr.header.type != FERRY_MSG_DATA || hdr.header.reserved[0] || hdr.header.reserved[1] ||
	    hdr.header.reserved[2])
		return -EPROTO;
	*receiver_index = le32toh(hdr.receiver_index);
	*counter = le64toh(hdr.counter);
	return 0;
}

int ferry_aead_data_open(const struct ferry_aead_key *key, uint8_t *msg, size_t len)
{
	uint32_t index;
	uint64_t counter;
	uint8_t *payload = msg + FERRY_DATA_HEADER_LEN;

	if (ferry_aead_data_parse(msg, len, &index, &counter) != 0)
		return -EBADMSG;
	return ferry_aead_open(key, counter, msg, FERRY_DATA_HEADER_LEN, payload,
			       len - FERRY_DATA_HEADER_LEN, payload);
}
