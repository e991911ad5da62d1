// SPDX-License-Identifier: MIT
/*
 * Static keys: generation, public-key derivation and the base64 text form.
 *
 * The key maths is transport/noise.c's (ferry_noise_keygen, ferry_noise_public_key);
 * libsodium does the text form (sodium_bin2base64 and sodium_base642bin). Its decoder
 * already refuses stray characters and non-zero padding bits when no characters are to be
 * ignored; the length and padding checks in front of it make the accepted set exactly the
 * 2^256 canonical spellings.
 */
#include "cli/key.h"
#include "transport/noise.h"

_Static_assert((int)FERRY_KEY_LEN == (int)FERRY_NOISE_KEY_LEN,
	       "a configured key is a handshake key");

#include <errno.h>
#include <string.h>

#include <sodium.h>

static int key_sodium_init(void)
{
	return sodium_init() < 0 ? -EIO : 0;
}

/* Key generation and derivation belong to the handshake (transport/noise.c); this file
 * only adds the text form, so there is one definition of what a ferry key is. */
int ferry_key_generate(uint8_t priv[FERRY_KEY_LEN])
{
	uint8_t pub[FERRY_KEY_LEN];
	int err = ferry_noise_keygen(priv, pub);

	sodium_memzero(pub, sizeof(pub));
	return err ? -EIO : 0;
}

int ferry_key_generate_preshared(uint8_t psk[FERRY_KEY_LEN])
{
	if (key_sodium_init() < 0)
		return -EIO;
	randombytes_buf(psk, FERRY_KEY_LEN);
	return 0;
}

int ferry_key_public(uint8_t pub[FERRY_KEY_LEN], const uint8_t priv[FERRY_KEY_LEN])
{
	int err = ferry_noise_public_key(priv, pub);

	if (err)
		sodium_memzero(pub, FERRY_KEY_LEN);
	return err;
}

void ferry_key_to_base64(char out[FERRY_KEY_B64_LEN + 1], const uint8_t key[FERRY_KEY_LEN])
{
	sodium_bin2base64(out, FERRY_KEY_B64_LEN + 1, key, FERRY_KEY_LEN,
			  sodium_base64_VARIANT_ORIGINAL);
}

int ferry_key_from_base64(uint8_t key[FERRY_KEY_LEN], const char *s)
{
	uint8_t tmp[FERRY_KEY_LEN + 2];
	const char *end = NULL;
	size_t len = 0;
	int ret = -EINVAL;

	/* 32 bytes are 42 full sextets plus 4 bits: 43 symbols and exactly one '='. */
	if (strnlen(s, FERRY_KEY_B64_LEN + 1) != FERRY_KEY_B64_LEN ||
	    s[FERRY_KEY_B64_LEN - 1] != '=' || s[FERRY_KEY_B64_LEN - 2] == '=')
		goto out;
	if (sodium_base642bin(tmp, sizeof(tmp), s, FERRY_KEY_B64_LEN, NULL, &len, &end,
			      sodium_base64_VARIANT_ORIGINAL) != 0)
		goto out;
	if (len != FERRY_KEY_LEN || end != s + FERRY_KEY_B64_LEN)
		goto out;
	memcpy(key, tmp, FERRY_KEY_LEN);
	ret = 0;
out:
	if (ret)
		sodium_memzero(key, FERRY_KEY_LEN);
	sodium_memzero(tmp, sizeof(tmp));
	return ret;
}
