// SPDX-License-Identifier: MIT
/* Per-datagram AEAD: both algorithms, in-place round trips, header and body tampering,
 * truncation, nonce layout, and that keys are wiped. */
#include <errno.h>
#include <string.h>

#include "tests/support/fixture.h"
#include "transport/aead.h"
#include "transport/noise.h"

static const uint8_t test_key[32] = {1,	 2,  3,	 4,  5,	 6,  7,	 8,  9,	 10, 11, 12, 13, 14, 15, 16,
				     17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31};

/* _i is the loop variable Check gives loop tests: the algorithm under test. */
static enum ferry_aead_alg alg_of(int i)
{
	return i == 0 ? FERRY_AEAD_CHACHA20POLY1305 : FERRY_AEAD_AES256GCM;
}

static void key_for(struct ferry_aead_key *key, int i)
{
	ck_assert_int_eq(ferry_aead_key_init(key, alg_of(i), test_key), 0);
}

START_TEST(available_has_chacha_and_reports_aes_honestly)
{
	uint32_t mask = ferry_aead_available();

	ck_assert(mask & FERRY_AEAD_MASK(FERRY_AEAD_CHACHA20POLY1305));
	ck_assert_int_eq(!!(mask & FERRY_AEAD_MASK(FERRY_AEAD_AES256GCM)),
			 !!crypto_aead_aes256gcm_is_available());
	ck_assert_str_eq(ferry_aead_name(FERRY_AEAD_AES256GCM), "aes256gcm");
}
END_TEST

START_TEST(nonce_is_zero_padded_little_endian_counter)
{
	uint8_t nonce[FERRY_AEAD_NONCE_LEN];
	const uint8_t expect[FERRY_AEAD_NONCE_LEN] = {0,    0,	  0,	0,    0x08, 0x07,
						      0x06, 0x05, 0x04, 0x03, 0x02, 0x01};

	ferry_aead_nonce(nonce, UINT64_C(0x0102030405060708));
	ck_assert_mem_eq(nonce, expect, sizeof(expect));
}
END_TEST

START_TEST(data_round_trip_in_place)
{
	struct ferry_aead_key key;
	uint8_t msg[FERRY_DATA_OVERHEAD + 1400], plain[1400];
	uint32_t index;
	uint64_t counter;
	size_t len;

	key_for(&key, _i);
	for (len = 0; len <= sizeof(plain); len += 350) {
		randombytes_buf(plain, sizeof(plain));
		memcpy(msg + FERRY_DATA_HEADER_LEN, plain, len);
		ck_assert_int_eq(ferry_aead_data_seal(&key, 0xa1b2c3d4, 77 + len, msg, len), 0);
		if (len)
			ck_assert_mem_ne(msg + FERRY_DATA_HEADER_LEN, plain, len);
		ck_assert_int_eq(
		    ferry_aead_data_parse(msg, len + FERRY_DATA_OVERHEAD, &index, &counter), 0);
		ck_assert_uint_eq(index, 0xa1b2c3d4);
		ck_assert_uint_eq(counter, 77 + len);
		ck_assert_uint_eq(msg[0], FERRY_MSG_DATA);
		ck_assert_uint_eq(msg[4], 0xd4); /* little-endian index */
		ck_assert_int_eq(ferry_aead_data_open(&key, msg, len + FERRY_DATA_OVERHEAD), 0);
		ck_assert_mem_eq(msg + FERRY_DATA_HEADER_LEN, plain, len);
	}
	ferry_aead_key_wipe(&key);
}
END_TEST

START_TEST(every_flipped_bit_fails)
{
	struct ferry_aead_key key;
	uint8_t msg[FERRY_DATA_OVERHEAD + 40], orig[sizeof(msg)];
	size_t byte;
	int bit;

	key_for(&key, _i);
	memset(msg + FERRY_DATA_HEADER_LEN, 'x', 40);
	ck_assert_int_eq(ferry_aead_data_seal(&key, 9, 1234, msg, 40), 0);
	memcpy(orig, msg, sizeof(msg));
	for (byte = 0; byte < sizeof(msg); byte++) {
		for (bit = 0; bit < 8; bit++) {
			memcpy(msg, orig, sizeof(msg));
			msg[byte] ^= (uint8_t)(1 << bit);
			ck_assert_int_ne(ferry_aead_data_open(&key, msg, sizeof(msg)), 0);
		}
	}
	memcpy(msg, orig, sizeof(msg));
	ck_assert_int_eq(ferry_aead_data_open(&key, msg, sizeof(msg)), 0);
}
END_TEST

START_TEST(truncated_and_short_fail)
{
	struct ferry_aead_key key;
	uint8_t msg[FERRY_DATA_OVERHEAD + 100], copy[sizeof(msg)];
	uint32_t index;
	uint64_t counter;
	size_t len;

	key_for(&key, _i);
	memset(msg, 0, sizeof(msg));
	ck_assert_int_eq(ferry_aead_data_seal(&key, 1, 1, msg, 100), 0);
	for (len = 0; len < sizeof(msg); len++) {
		memcpy(copy, msg, sizeof(msg));
		ck_assert_int_ne(ferry_aead_data_open(&key, copy, len), 0);
	}
	ck_assert_int_eq(ferry_aead_data_parse(msg, FERRY_DATA_OVERHEAD - 1, &index, &counter),
			 -EPROTO);
	msg[0] = FERRY_MSG_INITIATION;
	ck_assert_int_eq(ferry_aead_data_parse(msg, sizeof(msg), &index, &counter), -EPROTO);
	msg[0] = FERRY_MSG_DATA;
	msg[2] = 1;
	ck_assert_int_eq(ferry_aead_data_parse(msg, sizeof(msg), &index, &counter), -EPROTO);
}
END_TEST

START_TEST(wrong_key_or_counter_fails)
{
	struct ferry_aead_key key, other;
	uint8_t raw[32], pt[64], ct[64 + FERRY_AEAD_TAG_LEN], out[64];
	const uint8_t ad[4] = "hdr";

	key_for(&key, _i);
	memcpy(raw, test_key, 32);
	raw[31] ^= 1;
	ck_assert_int_eq(ferry_aead_key_init(&other, alg_of(_i), raw), 0);
	memset(pt, 7, sizeof(pt));
	ck_assert_int_eq(ferry_aead_seal(&key, 5, ad, sizeof(ad), pt, sizeof(pt), ct), 0);
	ck_assert_int_eq(ferry_aead_open(&other, 5, ad, sizeof(ad), ct, sizeof(ct), out), -EBADMSG);
	ck_assert_int_eq(ferry_aead_open(&key, 6, ad, sizeof(ad), ct, sizeof(ct), out), -EBADMSG);
	ck_assert_int_eq(ferry_aead_open(&key, 5, ad, 3, ct, sizeof(ct), out), -EBADMSG);
	ck_assert_int_eq(ferry_aead_open(&key, 5, ad, sizeof(ad), ct, 15, out), -EBADMSG);
	ck_assert_int_eq(ferry_aead_open(&key, 5, ad, sizeof(ad), ct, sizeof(ct), out), 0);
	ck_assert_mem_eq(out, pt, sizeof(pt));
}
END_TEST

START_TEST(algorithms_differ_and_do_not_cross)
{
	struct ferry_aead_key chacha, aes;
	uint8_t msg[FERRY_DATA_OVERHEAD + 32];

	if (!(ferry_aead_available() & FERRY_AEAD_MASK(FERRY_AEAD_AES256GCM))) {
		ck_assert_int_eq(ferry_aead_key_init(&aes, FERRY_AEAD_AES256GCM, test_key),
				 -ENOTSUP);
		return;
	}
	key_for(&chacha, 0);
	key_for(&aes, 1);
	memset(msg, 0, sizeof(msg));
	ck_assert_int_eq(ferry_aead_data_seal(&chacha, 1, 1, msg, 32), 0);
	ck_assert_int_eq(ferry_aead_data_open(&aes, msg, sizeof(msg)), -EBADMSG);
}
END_TEST

START_TEST(key_init_rejects_unknown_and_wipe_zeroes)
{
	struct ferry_aead_key key;
	size_t i;
	const uint8_t *p = (const uint8_t *)&key;

	ck_assert_int_eq(ferry_aead_key_init(&key, (enum ferry_aead_alg)7, test_key), -EINVAL);
	key_for(&key, _i);
	ferry_aead_key_wipe(&key);
	for (i = 0; i < sizeof(key); i++)
		ck_assert_uint_eq(p[i], 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("aead");
	TCase *tc = ferry_tcase("aead", 10);
	int algs = (ferry_aead_available() & FERRY_AEAD_MASK(FERRY_AEAD_AES256GCM)) ? 2 : 1;

	tcase_add_test(tc, available_has_chacha_and_reports_aes_honestly);
	tcase_add_test(tc, nonce_is_zero_padded_little_endian_counter);
	tcase_add_loop_test(tc, data_round_trip_in_place, 0, algs);
	tcase_add_loop_test(tc, every_flipped_bit_fails, 0, algs);
	tcase_add_loop_test(tc, truncated_and_short_fail, 0, algs);
	tcase_add_loop_test(tc, wrong_key_or_counter_fails, 0, algs);
	tcase_add_test(tc, algorithms_differ_and_do_not_cross);
	tcase_add_loop_test(tc, key_init_rejects_unknown_and_wipe_zeroes, 0, algs);
	suite_add_tcase(s, tc);
	return ferry_run_suite(s);
}
