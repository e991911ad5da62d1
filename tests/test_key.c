// SPDX-License-Identifier: MIT
/* Static keys: generation and clamping, RFC 7748 derivation, the strict base64 form. */
#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "cli/key.h"
#include "tests/support/fixture.h"

/* RFC 7748 section 6.1, Alice's key pair, and the same two keys in base64. */
static const char alice_priv_hex[] =
    "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
static const char alice_pub_hex[] =
    "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
static const char alice_priv_b64[] = "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=";
static const char alice_pub_b64[] = "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=";

static void from_hex(uint8_t out[FERRY_KEY_LEN], const char *hex)
{
	size_t len = 0;

	ck_assert_int_eq(sodium_hex2bin(out, FERRY_KEY_LEN, hex, strlen(hex), NULL, &len, NULL), 0);
	ck_assert_uint_eq(len, FERRY_KEY_LEN);
}

START_TEST(generate_is_clamped_and_random)
{
	uint8_t a[FERRY_KEY_LEN], b[FERRY_KEY_LEN];
	int i;

	for (i = 0; i < 16; i++) {
		ck_assert_int_eq(ferry_key_generate(a), 0);
		ck_assert_uint_eq(a[0] & 7, 0);
		ck_assert_uint_eq(a[31] & 0x80, 0);
		ck_assert_uint_eq(a[31] & 0x40, 0x40);
	}
	ck_assert_int_eq(ferry_key_generate(b), 0);
	ck_assert(memcmp(a, b, FERRY_KEY_LEN) != 0);
	ck_assert_int_eq(ferry_key_generate_preshared(b), 0);
	ck_assert(!sodium_is_zero(b, FERRY_KEY_LEN));
}
END_TEST

START_TEST(rfc7748_public_key)
{
	uint8_t priv[FERRY_KEY_LEN], pub[FERRY_KEY_LEN], want[FERRY_KEY_LEN];
	char text[FERRY_KEY_B64_LEN + 1];

	from_hex(priv, alice_priv_hex);
	from_hex(want, alice_pub_hex);
	ck_assert_int_eq(ferry_key_public(pub, priv), 0);
	ck_assert_mem_eq(pub, want, FERRY_KEY_LEN);

	/* The same through the text form, as "ferry pubkey" reads and prints it. */
	ck_assert_int_eq(ferry_key_from_base64(priv, alice_priv_b64), 0);
	ck_assert_int_eq(ferry_key_public(pub, priv), 0);
	ferry_key_to_base64(text, pub);
	ck_assert_str_eq(text, alice_pub_b64);
}
END_TEST

START_TEST(public_key_of_generated_key_round_trips)
{
	uint8_t priv[FERRY_KEY_LEN], pub[FERRY_KEY_LEN], back[FERRY_KEY_LEN];
	char text[FERRY_KEY_B64_LEN + 1];

	ck_assert_int_eq(ferry_key_generate(priv), 0);
	ck_assert_int_eq(ferry_key_public(pub, priv), 0);
	ck_assert(!sodium_is_zero(pub, FERRY_KEY_LEN));
	ferry_key_to_base64(text, pub);
	ck_assert_uint_eq(strlen(text), FERRY_KEY_B64_LEN);
	ck_assert_int_eq(text[43], '=');
	ck_assert_int_eq(ferry_key_from_base64(back, text), 0);
	ck_assert_mem_eq(back, pub, FERRY_KEY_LEN);
}
END_TEST

START_TEST(base64_round_trip_all_byte_values)
{
	static const uint8_t high[FERRY_KEY_LEN] = {0xfa, 0xfb, 0xfc, 0xfd, 0xfe, 0xff};
	uint8_t key[FERRY_KEY_LEN], back[FERRY_KEY_LEN];
	char text[FERRY_KEY_B64_LEN + 1];
	int start, i;

	for (start = 0; start < 256; start += 7) {
		for (i = 0; i < FERRY_KEY_LEN; i++)
			key[i] = (uint8_t)(start + i * 9);
		ferry_key_to_base64(text, key);
		ck_assert_int_eq(ferry_key_from_base64(back, text), 0);
		ck_assert_mem_eq(back, key, FERRY_KEY_LEN);
	}
	ferry_key_to_base64(text, high);
	ck_assert_str_eq(text, "+vv8/f7/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
}
END_TEST

/* Each must be refused, and the output zeroed. */
static const char *const bad_keys[] = {
    "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LC=",   /* 43 characters */
    "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo==", /* 45 characters */
    "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCoA",  /* 44, no padding */
    "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo",   /* 43, no padding */
    "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25L===",  /* too much padding */
    "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCp=",  /* non-zero bits before '=' */
    "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LC!=",  /* bad alphabet */
    "+vv8_f7-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",  /* url-safe alphabet */
    " dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=", /* leading space */
    "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo= ", /* trailing space */
    "dwdtCnMYpX08FsFyUbJmRd9ML4f wJkqsXf7pR25LCo=",  /* space inside, 44 long */
    "dwdtCnMYpX08FsFyUbJmRd9ML4f\nwJkqsXf7pR25LCo=", /* newline inside */
    "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkq=Xf7pR25LCo=",  /* padding in the middle */
    "",
};

START_TEST(base64_rejects)
{
	uint8_t key[FERRY_KEY_LEN];
	size_t i;

	/* The good one first, so that the test would notice a parser that refuses all. */
	ck_assert_int_eq(ferry_key_from_base64(key, alice_priv_b64), 0);
	for (i = 0; i < sizeof(bad_keys) / sizeof(bad_keys[0]); i++) {
		memset(key, 0xaa, sizeof(key));
		ck_assert_msg(ferry_key_from_base64(key, bad_keys[i]) == -EINVAL,
			      "accepted bad key #%zu \"%s\"", i, bad_keys[i]);
		ck_assert_msg(sodium_is_zero(key, FERRY_KEY_LEN), "key #%zu not zeroed", i);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("key");
	TCase *tc = ferry_tcase("key", 5);

	tcase_add_test(tc, generate_is_clamped_and_random);
	tcase_add_test(tc, rfc7748_public_key);
	tcase_add_test(tc, public_key_of_generated_key_round_trips);
	tcase_add_test(tc, base64_round_trip_all_byte_values);
	tcase_add_test(tc, base64_rejects);
	suite_add_tcase(s, tc);
	return ferry_run_suite(s);
}
