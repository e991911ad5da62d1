// SPDX-License-Identifier: MIT
/* Handshake MACs and cookies: mac1 binds the receiver's key, mac2 is required only under
 * load, cookie replies are usable only by the message's sender, secrets rotate. */
#include <errno.h>
#include <string.h>

#include "tests/support/fixture.h"
#include "transport/cookie.h"
#include "transport/noise.h"

struct pair {
	uint8_t pub[32], other_pub[32];
	struct ferry_cookie_checker checker; /* at the receiver (pub) */
	struct ferry_cookie_maker maker;     /* at the sender, toward pub */
};

static const uint8_t src_a[6] = {127, 0, 0, 1, 0x1f, 0x90};
static const uint8_t src_b[6] = {127, 0, 0, 2, 0x1f, 0x90};

static void pair_init(struct pair *p)
{
	uint8_t priv[32];

	ck_assert_int_eq(ferry_noise_keygen(priv, p->pub), 0);
	ck_assert_int_eq(ferry_noise_keygen(priv, p->other_pub), 0);
	ferry_cookie_checker_init(&p->checker, p->pub);
	ferry_cookie_maker_init(&p->maker, p->pub);
}

/* A handshake-sized message with its MACs filled in. */
static void make_msg(struct pair *p, uint64_t now, uint8_t *msg, size_t len)
{
	memset(msg, 0x5a, len);
	ferry_cookie_add_macs(&p->maker, now, msg, len);
}

START_TEST(mac1_binds_receiver_key_and_contents)
{
	struct pair p;
	struct ferry_cookie_maker wrong;
	uint8_t msg[FERRY_MSG_INITIATION_LEN];
	size_t i;

	pair_init(&p);
	make_msg(&p, 0, msg, sizeof(msg));
	ck_assert_int_eq(ferry_cookie_check(&p.checker, 0, msg, sizeof(msg), src_a, 6, false), 0);
	/* Any changed byte before mac2 breaks mac1 (mac2 is not covered by mac1). */
	for (i = 0; i < sizeof(msg) - FERRY_MAC_LEN; i++) {
		msg[i] ^= 0x80;
		ck_assert_int_eq(
		    ferry_cookie_check(&p.checker, 0, msg, sizeof(msg), src_a, 6, false), -EACCES);
		msg[i] ^= 0x80;
	}
	/* A message made for another receiver key. */
	ferry_cookie_maker_init(&wrong, p.other_pub);
	memset(msg, 0x5a, sizeof(msg));
	ferry_cookie_add_macs(&wrong, 0, msg, sizeof(msg));
	ck_assert_int_eq(ferry_cookie_check(&p.checker, 0, msg, sizeof(msg), src_a, 6, false),
			 -EACCES);
	ck_assert_int_eq(ferry_cookie_check(&p.checker, 0, msg, 31, src_a, 6, false), -EACCES);
}
END_TEST

START_TEST(under_load_cookie_round_trip)
{
	struct pair p;
	uint8_t msg[FERRY_MSG_RESPONSE_LEN], reply[FERRY_MSG_COOKIE_REPLY_LEN];
	const uint8_t zero[FERRY_MAC_LEN] = {0};

	pair_init(&p);
	make_msg(&p, 1000, msg, sizeof(msg));
	ck_assert_mem_eq(msg + sizeof(msg) - FERRY_MAC_LEN, zero, FERRY_MAC_LEN);
	ck_assert_int_eq(ferry_cookie_check(&p.checker, 1000, msg, sizeof(msg), src_a, 6, true),
			 -EBUSY);
	ck_assert_int_eq(ferry_cookie_reply_create(&p.checker, 1000, msg, sizeof(msg), 0x01020304,
						   src_a, 6, reply),
			 0);
	ck_assert_uint_eq(reply[0], FERRY_MSG_COOKIE_REPLY);
	ck_assert_uint_eq(reply[4], 0x04);
	ck_assert_int_eq(ferry_cookie_reply_consume(&p.maker, 1010, reply, sizeof(reply)), 0);
	/* Replaying the same reply is refused: one cookie per message sent. */
	ck_assert_int_eq(ferry_cookie_reply_consume(&p.maker, 1010, reply, sizeof(reply)), -ENOENT);

	make_msg(&p, 1020, msg, sizeof(msg));
	ck_assert_mem_ne(msg + sizeof(msg) - FERRY_MAC_LEN, zero, FERRY_MAC_LEN);
	ck_assert_int_eq(ferry_cookie_check(&p.checker, 1020, msg, sizeof(msg), src_a, 6, true), 0);
	/* The cookie is bound to the source address. */
	ck_assert_int_eq(ferry_cookie_check(&p.checker, 1020, msg, sizeof(msg), src_b, 6, true),
			 -EBUSY);
	/* Not under load: mac2 is not looked at. */
	ck_assert_int_eq(ferry_cookie_check(&p.checker, 1020, msg, sizeof(msg), src_b, 6, false),
			 0);
}
END_TEST

START_TEST(cookie_reply_only_for_the_last_message)
{
	struct pair p;
	uint8_t msg[FERRY_MSG_INITIATION_LEN], reply[FERRY_MSG_COOKIE_REPLY_LEN];

	pair_init(&p);
	make_msg(&p, 0, msg, sizeof(msg));
	ck_assert_int_eq(
	    ferry_cookie_reply_create(&p.checker, 0, msg, sizeof(msg), 1, src_a, 6, reply), 0);
	/* The sender has since sent another message: the reply's AD no longer matches. */
	memset(msg, 0x11, sizeof(msg));
	ferry_cookie_add_macs(&p.maker, 0, msg, sizeof(msg));
	ck_assert_int_eq(ferry_cookie_reply_consume(&p.maker, 0, reply, sizeof(reply)), -EBADMSG);
	/* Tampered replies and wrong sizes. */
	ck_assert_int_eq(
	    ferry_cookie_reply_create(&p.checker, 0, msg, sizeof(msg), 1, src_a, 6, reply), 0);
	reply[40] ^= 1;
	ck_assert_int_eq(ferry_cookie_reply_consume(&p.maker, 0, reply, sizeof(reply)), -EBADMSG);
	reply[40] ^= 1;
	ck_assert_int_eq(ferry_cookie_reply_consume(&p.maker, 0, reply, sizeof(reply) - 1),
			 -EBADMSG);
	ck_assert_int_eq(ferry_cookie_reply_consume(&p.maker, 0, reply, sizeof(reply)), 0);
	ck_assert(p.maker.have_cookie);
}
END_TEST

/* Gets a cookie at time t and returns a message sent at t carrying it. */
static void cookie_msg_at(struct pair *p, uint64_t t, uint8_t *msg, size_t len)
{
	uint8_t reply[FERRY_MSG_COOKIE_REPLY_LEN];

	make_msg(p, t, msg, len);
	ck_assert_int_eq(ferry_cookie_check(&p->checker, t, msg, len, src_a, 6, true), -EBUSY);
	ck_assert_int_eq(ferry_cookie_reply_create(&p->checker, t, msg, len, 1, src_a, 6, reply),
			 0);
	ck_assert_int_eq(ferry_cookie_reply_consume(&p->maker, t, reply, sizeof(reply)), 0);
	make_msg(p, t, msg, len);
}

START_TEST(secret_rotation_one_ok_two_rejected)
{
	const uint64_t life = FERRY_COOKIE_SECRET_LIFETIME_MS;
	uint8_t msg[FERRY_MSG_INITIATION_LEN];
	struct pair p;

	pair_init(&p);
	cookie_msg_at(&p, 5000, msg, sizeof(msg));
	ck_assert_int_eq(
	    ferry_cookie_check(&p.checker, 5000 + life - 1, msg, sizeof(msg), src_a, 6, true), 0);
	/* One rotation: the old secret still validates. */
	ck_assert_int_eq(
	    ferry_cookie_check(&p.checker, 5000 + life, msg, sizeof(msg), src_a, 6, true), 0);
	/* Second rotation: rejected. */
	ck_assert_int_eq(
	    ferry_cookie_check(&p.checker, 5000 + 2 * life, msg, sizeof(msg), src_a, 6, true),
	    -EBUSY);

	/* Lazy rotation late in the secret's life: the old secret still ends two lifetimes
	 * after it was made, not two lifetimes after the rotation. */
	pair_init(&p);
	cookie_msg_at(&p, 0, msg, sizeof(msg));
	ck_assert_int_eq(
	    ferry_cookie_check(&p.checker, 2 * life - 1, msg, sizeof(msg), src_a, 6, true), 0);
	ck_assert_int_eq(ferry_cookie_check(&p.checker, 2 * life, msg, sizeof(msg), src_a, 6, true),
			 -EBUSY);

	/* An idle checker that skips two lifetimes at once forgets both secrets. */
	pair_init(&p);
	cookie_msg_at(&p, 0, msg, sizeof(msg));
	ck_assert_int_eq(ferry_cookie_check(&p.checker, 2 * life, msg, sizeof(msg), src_a, 6, true),
			 -EBUSY);
}
END_TEST

START_TEST(maker_stops_using_an_old_cookie)
{
	uint8_t msg[FERRY_MSG_INITIATION_LEN];
	const uint8_t zero[FERRY_MAC_LEN] = {0};
	struct pair p;
	uint64_t usable = FERRY_COOKIE_SECRET_LIFETIME_MS - FERRY_COOKIE_LATENCY_MS;

	pair_init(&p);
	cookie_msg_at(&p, 100, msg, sizeof(msg));
	make_msg(&p, 100 + usable - 1, msg, sizeof(msg));
	ck_assert_mem_ne(msg + sizeof(msg) - FERRY_MAC_LEN, zero, FERRY_MAC_LEN);
	make_msg(&p, 100 + usable, msg, sizeof(msg));
	ck_assert_mem_eq(msg + sizeof(msg) - FERRY_MAC_LEN, zero, FERRY_MAC_LEN);
	ck_assert(!p.maker.have_cookie);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cookie");
	TCase *tc = ferry_tcase("cookie", 10);

	tcase_add_test(tc, mac1_binds_receiver_key_and_contents);
	tcase_add_test(tc, under_load_cookie_round_trip);
	tcase_add_test(tc, cookie_reply_only_for_the_last_message);
	tcase_add_test(tc, secret_rotation_one_ok_two_rejected);
	tcase_add_test(tc, maker_stops_using_an_old_cookie);
	suite_add_tcase(s, tc);
	return ferry_run_suite(s);
}
