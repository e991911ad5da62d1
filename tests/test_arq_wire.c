// SPDX-License-Identifier: MIT
/*
 * The ARQ engine's bytes: the segment codec against a hand-written vector, the exact
 * datagrams one conversation answers and sends, configuration and creation refused,
 * malformed, truncated and foreign segments counted and dropped (a good segment in the
 * same datagram still delivered), and message mode's fragments reassembled whole in any
 * arrival order.
 *
 * Each test drives one conversation by hand (two in message_mode) with a pool of its
 * own: its output goes to the capture of tests/support/arqrig.h, and the peer's segments
 * are written with ferry_arqrig_seg. Timers and ACK scheduling are in test_arq_timers.c,
 * transfers over the virtual network in test_arq_transfer.c.
 */
#include <errno.h>
#include <string.h>

#include "tests/support/arqrig.h"
#include "tests/support/fixture.h"
#include "transport/arq.h"

START_TEST(wire_vector)
{
	static const uint8_t expect[] = {
	    0x04, 0x03, 0x02, 0x01, /* conv */
	    0x51, 0x02,		    /* cmd PUSH, frg 2 */
	    0x00, 0x01,		    /* wnd 256 */
	    0x44, 0x33, 0x22, 0x11, /* ts */
	    0xd0, 0xc0, 0xb0, 0xa0, /* sn */
	    0x05, 0x00, 0x00, 0x00, /* una */
	    0x03, 0x00, 0x00, 0x00, /* len */
	    'a',  'b',	'c',
	};
	struct ferry_arq_seg h = {0x01020304, 81, 2, 256, 0x11223344, 0xa0b0c0d0, 5, 3}, d;
	uint8_t out[64];
	uint32_t conv;

	ck_assert_int_eq(ferry_arq_seg_encode(out, sizeof(out), &h, (const uint8_t *)"abc"), 27);
	ck_assert_mem_eq(out, expect, sizeof(expect));
	ck_assert_int_eq(ferry_arq_seg_encode(out, 26, &h, (const uint8_t *)"abc"), -ENOSPC);
	ck_assert_int_eq(ferry_arq_seg_decode(expect, sizeof(expect), &d), 27);
	ck_assert_uint_eq(d.conv, 0x01020304);
	ck_assert_uint_eq(d.cmd, 81);
	ck_assert_uint_eq(d.frg, 2);
	ck_assert_uint_eq(d.wnd, 256);
	ck_assert_uint_eq(d.ts, 0x11223344);
	ck_assert_uint_eq(d.sn, 0xa0b0c0d0);
	ck_assert_uint_eq(d.una, 5);
	ck_assert_uint_eq(d.len, 3);
	ck_assert_int_eq(ferry_arq_seg_decode(expect, 26, &d), -EMSGSIZE);
	ck_assert_int_eq(ferry_arq_seg_decode(expect, 23, &d), -EMSGSIZE);
	ck_assert_int_eq(ferry_arq_peek_conv(expect, 24, &conv), 0);
	ck_assert_uint_eq(conv, 0x01020304);
	ck_assert_int_eq(ferry_arq_peek_conv(expect, 3, &conv), -EMSGSIZE);
}
END_TEST

/* A hand-written datagram of two PUSH segments in, the exact ACK datagram out; then the
 * engine's own PUSH, byte by byte. */
START_TEST(engine_bytes)
{
	static const uint8_t in[] = {
	    7, 0, 0, 0, 81, 0, 128, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 'h', 'i',
	    7, 0, 0, 0, 81, 0, 128, 0, 0x11, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 'y', 'o',
	};
	static const uint8_t acks[] = {
	    7, 0, 0, 0, 82, 0, 254, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0,
	    7, 0, 0, 0, 82, 0, 254, 0, 0x11, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0,
	};
	static const uint8_t push[] = {
	    7,	  0,   0,   0, /* conv */
	    81,	  0,	       /* PUSH, frg 0 */
	    0,	  1,	       /* wnd 256 */
	    0xe8, 3,   0,   0, /* ts 1000 */
	    0,	  0,   0,   0, /* sn 0 */
	    2,	  0,   0,   0, /* una 2 */
	    5,	  0,   0,   0, /* len 5 */
	    'h',  'e', 'l', 'l', 'o',
	};
	struct ferry_arq_config cfg;
	static struct ferry_arqrig_capture cap;
	struct ferry_pool pool;
	struct ferry_arq *arq;
	char buf[16];

	ck_assert_int_eq(ferry_pool_init(&pool, 16, 1376, 32), 0);
	ck_assert_int_eq(ferry_arq_config_init(&cfg, FERRY_ARQ_PROFILE_FAST3), 0);
	ck_assert_int_eq(ferry_arq_create(&arq, 7, &cfg, &pool, ferry_arqrig_capture_out, &cap), 0);
	ck_assert_uint_eq(ferry_arq_next_deadline(arq, 0), UINT64_MAX);
	ck_assert_int_eq(ferry_arq_input(arq, in, sizeof(in), 900), 0);
	ck_assert_uint_eq(ferry_arq_next_deadline(arq, 900), 900);
	ck_assert_int_eq(ferry_arq_timer(arq, 900), 0);
	ck_assert_uint_eq(cap.n, 1);
	ck_assert_uint_eq(cap.len[0], sizeof(acks));
	ck_assert_mem_eq(cap.dg[0], acks, sizeof(acks));
	ck_assert_int_eq(ferry_arq_recv(arq, buf, sizeof(buf)), 4);
	ck_assert_mem_eq(buf, "hiyo", 4);
	ck_assert_int_eq(ferry_arq_recv(arq, buf, sizeof(buf)), -EAGAIN);

	ck_assert_int_eq(ferry_arq_send(arq, "hello", 5), 5);
	ck_assert_int_eq(ferry_arq_flush(arq, 1000), 0);
	ck_assert_uint_eq(cap.n, 2);
	ck_assert_uint_eq(cap.len[1], sizeof(push));
	ck_assert_mem_eq(cap.dg[1], push, sizeof(push));
	ferry_arq_destroy(arq);
	ferry_ck_pool_idle(&pool);
	ferry_pool_destroy(&pool);
}
END_TEST

START_TEST(config_and_create_reject)
{
	struct ferry_arq_config cfg;
	struct ferry_pool pool;
	struct ferry_arq *arq;

	ck_assert_int_eq(ferry_arq_config_init(&cfg, (enum ferry_arq_profile)9), -EINVAL);
	ck_assert_int_eq(ferry_arq_config_init(&cfg, FERRY_ARQ_PROFILE_NORMAL), 0);
	ck_assert_uint_eq(cfg.nodelay, 0);
	ck_assert_uint_eq(cfg.interval, 40);
	ck_assert_int_eq(ferry_arq_config_init(&cfg, FERRY_ARQ_PROFILE_FAST), 0);
	ck_assert_uint_eq(cfg.interval, 30);
	ck_assert_int_eq(ferry_arq_config_init(&cfg, FERRY_ARQ_PROFILE_FAST2), 0);
	ck_assert_uint_eq(cfg.nodelay, 1);
	ck_assert_uint_eq(cfg.interval, 20);
	ck_assert_uint_eq(cfg.resend, 2);
	ck_assert_uint_eq(cfg.nc, 1);
	ck_assert_int_eq(ferry_pool_init(&pool, 4, 1000, 0), 0);
	/* Pool buffers smaller than the MSS. */
	ck_assert_int_eq(ferry_arq_create(&arq, 1, &cfg, &pool, ferry_arqrig_capture_out, NULL),
			 -EINVAL);
	cfg.mtu = 1024;
	cfg.rcv_wnd = 0;
	ck_assert_int_eq(ferry_arq_create(&arq, 1, &cfg, &pool, ferry_arqrig_capture_out, NULL),
			 -EINVAL);
	cfg.rcv_wnd = 8;
	ck_assert_int_eq(ferry_arq_create(&arq, 1, &cfg, &pool, ferry_arqrig_capture_out, NULL), 0);
	ferry_arq_destroy(arq);
	ferry_arq_destroy(NULL);
	ferry_pool_destroy(&pool);
}
END_TEST

/* Malformed, truncated and wrong-conv segments are counted and dropped; the good segment
 * sharing their datagram still gets through. */
START_TEST(bad_segments_counted)
{
	struct ferry_arq_config cfg;
	static struct ferry_arqrig_capture cap;
	struct ferry_arq_stats st;
	struct ferry_pool pool;
	struct ferry_arq *arq;
	uint8_t dg[2048];
	char big[200];
	size_t n;
	char out[32];

	ck_assert_int_eq(ferry_pool_init(&pool, 16, 176, 32), 0);
	ck_assert_int_eq(ferry_arq_config_init(&cfg, FERRY_ARQ_PROFILE_FAST3), 0);
	cfg.mtu = 200; /* mss 176 */
	ck_assert_int_eq(ferry_arq_create(&arq, 9, &cfg, &pool, ferry_arqrig_capture_out, &cap), 0);

	/* Shorter than a header. */
	ck_assert_int_eq(ferry_arq_input(arq, (const uint8_t *)"0123456789", 10, 1), 0);
	/* A header announcing more payload than there is. */
	n = ferry_arqrig_seg(dg, 9, 81, 16, 1, 0, 0, "abcdefgh");
	ck_assert_int_eq(ferry_arq_input(arq, dg, n - 3, 1), 0);
	/* Wrong conv, bad cmd, data on an ACK, oversized PUSH, una from the future, an ACK
	 * from the future, then a good PUSH and 5 stray bytes. */
	n = ferry_arqrig_seg(dg, 10, 81, 16, 1, 0, 0, "other");
	n += ferry_arqrig_seg(dg + n, 9, 99, 16, 1, 0, 0, NULL);
	n += ferry_arqrig_seg(dg + n, 9, 82, 16, 1, 0, 0, "x");
	memset(big, 'B', sizeof(big) - 1);
	big[180] = 0;
	n += ferry_arqrig_seg(dg + n, 9, 81, 16, 1, 0, 0, big);
	n += ferry_arqrig_seg(dg + n, 9, 81, 16, 1, 0, 77, "future");
	n += ferry_arqrig_seg(dg + n, 9, 82, 16, 1, 5, 0, NULL); /* ACK of an sn never sent */
	n += ferry_arqrig_seg(dg + n, 9, 81, 16, 1, 0, 0, "good");
	memset(dg + n, 's', 5);
	ck_assert_int_eq(ferry_arq_input(arq, dg, n + 5, 1), 0);
	ferry_arq_stats(arq, &st);
	ck_assert_uint_eq(st.drop_truncated, 3);
	ck_assert_uint_eq(st.drop_conv, 1);
	ck_assert_uint_eq(st.drop_malformed, 5);
	ck_assert_uint_eq(st.segs_recv, 1);
	ck_assert_int_eq(ferry_arq_recv(arq, out, sizeof(out)), 4);
	ck_assert_mem_eq(out, "good", 4);
	ck_assert_int_eq(ferry_arq_timer(arq, 1), 0);
	ck_assert_uint_eq(cap.n, 1);
	ck_assert_uint_eq(cap.len[0], 24);
	ferry_arq_destroy(arq);
	ferry_ck_pool_idle(&pool);
	ferry_pool_destroy(&pool);
}
END_TEST

/* Message mode: a message of three fragments is delivered whole only once all arrived,
 * whatever their order; a message larger than the send window is refused, and so is a
 * read into a buffer too small for the next message. */
START_TEST(message_mode)
{
	struct ferry_arq_config cfg;
	static struct ferry_arqrig_capture cap;
	struct ferry_pool pool;
	struct ferry_arq *a, *b;
	static uint8_t msg[3000], out[4000], big[(size_t)1376 * 9];
	uint32_t i;

	for (i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i * 7);
	ck_assert_int_eq(ferry_pool_init(&pool, 32, 1376, 32), 0);
	ck_assert_int_eq(ferry_arq_config_init(&cfg, FERRY_ARQ_PROFILE_FAST3), 0);
	cfg.stream = false;
	cfg.snd_wnd = 8;
	ck_assert_int_eq(ferry_arq_create(&a, 3, &cfg, &pool, ferry_arqrig_capture_out, &cap), 0);
	ck_assert_int_eq(ferry_arq_create(&b, 3, &cfg, &pool, ferry_arqrig_capture_out, &cap), 0);
	ck_assert_int_eq(ferry_arq_send(a, msg, sizeof(msg)), sizeof(msg));
	ck_assert_int_eq(ferry_arq_send(a, "tail", 4), 4);
	ck_assert_int_eq(ferry_arq_send(a, big, sizeof(big)), -EMSGSIZE); /* 9 > snd_wnd */
	ck_assert_int_eq(ferry_arq_timer(a, 0), 0);
	ck_assert_uint_eq(cap.n, 3); /* 1376 + 1376 + (248 + 4 with their headers) */
	/* Deliver the last two datagrams first: nothing complete yet. */
	ck_assert_int_eq(ferry_arq_input(b, cap.dg[2], cap.len[2], 1), 0);
	ck_assert_int_eq(ferry_arq_input(b, cap.dg[1], cap.len[1], 1), 0);
	ck_assert_int_eq(ferry_arq_recv(b, out, sizeof(out)), -EAGAIN);
	ck_assert_int_eq(ferry_arq_input(b, cap.dg[0], cap.len[0], 1), 0);
	ck_assert_int_eq(ferry_arq_recv(b, out, 2999), -EMSGSIZE);
	ck_assert_int_eq(ferry_arq_recv(b, out, sizeof(out)), sizeof(msg));
	ck_assert_mem_eq(out, msg, sizeof(msg));
	ck_assert_int_eq(ferry_arq_recv(b, out, sizeof(out)), 4);
	ck_assert_mem_eq(out, "tail", 4);
	ck_assert_int_eq(ferry_arq_recv(b, out, sizeof(out)), -EAGAIN);
	ferry_arq_destroy(a);
	ferry_arq_destroy(b);
	ferry_ck_pool_idle(&pool);
	ferry_pool_destroy(&pool);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("arq_wire");
	TCase *wire = ferry_tcase("wire", 5);

	tcase_add_test(wire, wire_vector);
	tcase_add_test(wire, engine_bytes);
	tcase_add_test(wire, config_and_create_reject);
	tcase_add_test(wire, bad_segments_counted);
	tcase_add_test(wire, message_mode);
	suite_add_tcase(s, wire);
	return ferry_run_suite(s);
}
