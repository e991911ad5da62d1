// SPDX-License-Identifier: MIT
/*
 * The ARQ engine: exact wire bytes, single-conversation unit behaviour (RTO, fast
 * retransmit, ACK batching, bad input), and whole transfers between two engines over the
 * virtual network with loss, reordering and duplication, every byte verified.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/fixture.h"
#include "tests/support/vnet.h"
#include "transport/arq.h"

/* ---- a conversation alone, its output captured ------------------------------------ */

struct capture {
	uint8_t dg[64][1500];
	size_t len[64];
	uint32_t n;
};

static int capture_out(void *ctx, const uint8_t *dgram, size_t len)
{
	struct capture *c = ctx;

	ck_assert_uint_le(len, 1500);
	if (c->n < 64) {
		memcpy(c->dg[c->n], dgram, len);
		c->len[c->n] = len;
	}
	c->n++;
	return 0;
}

static size_t seg(uint8_t *out, uint32_t conv, uint8_t cmd, uint16_t wnd, uint32_t ts, uint32_t sn,
		  uint32_t una, const char *data)
{
	struct ferry_arq_seg h = {
	    .conv = conv,
	    .cmd = cmd,
	    .wnd = wnd,
	    .ts = ts,
	    .sn = sn,
	    .una = una,
	    .len = data ? (uint32_t)strlen(data) : 0,
	};
	ssize_t n = ferry_arq_seg_encode(out, 2048, &h, (const uint8_t *)data);

	ck_assert_int_gt(n, 0);
	return (size_t)n;
}

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
	static struct capture cap;
	struct ferry_pool pool;
	struct ferry_arq *arq;
	char buf[16];

	ck_assert_int_eq(ferry_pool_init(&pool, 16, 1376, 32), 0);
	ck_assert_int_eq(ferry_arq_config_init(&cfg, FERRY_ARQ_PROFILE_FAST3), 0);
	ck_assert_int_eq(ferry_arq_create(&arq, 7, &cfg, &pool, capture_out, &cap), 0);
	ck_assert_uint_eq(ferry_arq_next_deadline(arq, 0), UINT64_MAX);
	ck_assert_int_eq(ferry_arq_input(arq, in, sizeof(in), 900), 0);
	ck_assert_uint_eq(ferry_arq_next_deadline(arq, 900), 900);
	ck_assert_int_eq(ferry_arq_update(arq, 900), 0);
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
	ck_assert_int_eq(ferry_arq_create(&arq, 1, &cfg, &pool, capture_out, NULL), -EINVAL);
	cfg.mtu = 1024;
	cfg.rcv_wnd = 0;
	ck_assert_int_eq(ferry_arq_create(&arq, 1, &cfg, &pool, capture_out, NULL), -EINVAL);
	cfg.rcv_wnd = 8;
	ck_assert_int_eq(ferry_arq_create(&arq, 1, &cfg, &pool, capture_out, NULL), 0);
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
	static struct capture cap;
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
	ck_assert_int_eq(ferry_arq_create(&arq, 9, &cfg, &pool, capture_out, &cap), 0);

	/* Shorter than a header. */
	ck_assert_int_eq(ferry_arq_input(arq, (const uint8_t *)"0123456789", 10, 1), 0);
	/* A header announcing more payload than there is. */
	n = seg(dg, 9, 81, 16, 1, 0, 0, "abcdefgh");
	ck_assert_int_eq(ferry_arq_input(arq, dg, n - 3, 1), 0);
	/* Wrong conv, bad cmd, data on an ACK, oversized PUSH, una from the future, an ACK
	 * from the future, then a good PUSH and 5 stray bytes. */
	n = seg(dg, 10, 81, 16, 1, 0, 0, "other");
	n += seg(dg + n, 9, 99, 16, 1, 0, 0, NULL);
	n += seg(dg + n, 9, 82, 16, 1, 0, 0, "x");
	memset(big, 'B', sizeof(big) - 1);
	big[180] = 0;
	n += seg(dg + n, 9, 81, 16, 1, 0, 0, big);
	n += seg(dg + n, 9, 81, 16, 1, 0, 77, "future");
	n += seg(dg + n, 9, 82, 16, 1, 5, 0, NULL); /* ACK of an sn never sent */
	n += seg(dg + n, 9, 81, 16, 1, 0, 0, "good");
	memset(dg + n, 's', 5);
	ck_assert_int_eq(ferry_arq_input(arq, dg, n + 5, 1), 0);
	ferry_arq_stats(arq, &st);
	ck_assert_uint_eq(st.drop_truncated, 3);
	ck_assert_uint_eq(st.drop_conv, 1);
	ck_assert_uint_eq(st.drop_malformed, 5);
	ck_assert_uint_eq(st.segs_recv, 1);
	ck_assert_int_eq(ferry_arq_recv(arq, out, sizeof(out)), 4);
	ck_assert_mem_eq(out, "good", 4);
	ck_assert_int_eq(ferry_arq_update(arq, 1), 0);
	ck_assert_uint_eq(cap.n, 1);
	ck_assert_uint_eq(cap.len[0], 24);
	ferry_arq_destroy(arq);
	ferry_ck_pool_idle(&pool);
	ferry_pool_destroy(&pool);
}
END_TEST

/* RFC 6298 smoothing with the profile's granularity and minimum, timeout back-off, and the
 * deadline the event loop sleeps to. */
START_TEST(rto_and_deadlines)
{
	struct ferry_arq_config cfg;
	static struct capture cap;
	struct ferry_arq_stats st;
	struct ferry_pool pool;
	struct ferry_arq *arq;
	uint8_t dg[64];
	size_t n;

	ck_assert_int_eq(ferry_pool_init(&pool, 16, 1376, 32), 0);
	ck_assert_int_eq(ferry_arq_config_init(&cfg, FERRY_ARQ_PROFILE_FAST3), 0);
	ck_assert_int_eq(ferry_arq_create(&arq, 1, &cfg, &pool, capture_out, &cap), 0);
	ck_assert_int_eq(ferry_arq_send(arq, "a", 1), 1);
	/* A partial segment waits one interval for more bytes. */
	ck_assert_uint_eq(ferry_arq_next_deadline(arq, 0), 0);
	ck_assert_int_eq(ferry_arq_update(arq, 0), 0);
	ck_assert_uint_eq(cap.n, 0);
	ck_assert_uint_eq(ferry_arq_next_deadline(arq, 0), 10);
	ck_assert_int_eq(ferry_arq_update(arq, 10), 0);
	ck_assert_uint_eq(cap.n, 1);
	/* Initial RTO 200 ms. */
	ck_assert_uint_eq(ferry_arq_next_deadline(arq, 10), 210);
	ck_assert_int_eq(ferry_arq_update(arq, 209), 0);
	ck_assert_uint_eq(cap.n, 1);
	ck_assert_int_eq(ferry_arq_update(arq, 210), 0);
	ck_assert_uint_eq(cap.n, 2);
	ferry_arq_stats(arq, &st);
	ck_assert_uint_eq(st.segs_rto, 1);
	/* nodelay: back-off x1.5. */
	ck_assert_uint_eq(ferry_arq_next_deadline(arq, 210), 510);

	/* ACK of sn 0 echoing ts 210, arriving at 310: R = 100 -> SRTT 100, RTTVAR 50,
	 * RTO = 100 + max(10, 200) = 300. */
	n = seg(dg, 1, 82, 128, 210, 0, 0, NULL);
	ck_assert_int_eq(ferry_arq_input(arq, dg, n, 310), 0);
	ferry_arq_stats(arq, &st);
	ck_assert_uint_eq(st.srtt, 100);
	ck_assert_uint_eq(st.rttvar, 50);
	ck_assert_uint_eq(st.rto, 300);
	ck_assert_uint_eq(st.inflight, 0);
	ck_assert_uint_eq(ferry_arq_pending(arq), 0);
	ck_assert_uint_eq(ferry_arq_next_deadline(arq, 310), UINT64_MAX);

	/* Second sample R = 100: RTTVAR 37.5, RTO 250. Third R = 1 ms, many times: the
	 * minimum RTO of the profile (30 ms) holds. */
	ck_assert_int_eq(ferry_arq_send(arq, "b", 1), 1);
	ck_assert_int_eq(ferry_arq_flush(arq, 400), 0);
	n = seg(dg, 1, 82, 128, 400, 1, 1, NULL);
	ck_assert_int_eq(ferry_arq_input(arq, dg, n, 500), 0);
	ferry_arq_stats(arq, &st);
	ck_assert_uint_eq(st.rto, 250);
	for (uint32_t i = 0; i < 40; i++) {
		ck_assert_int_eq(ferry_arq_send(arq, "c", 1), 1);
		ck_assert_int_eq(ferry_arq_flush(arq, 1000 + i * 10), 0);
		n = seg(dg, 1, 82, 128, 1000 + i * 10, 2 + i, 3 + i, NULL);
		ck_assert_int_eq(ferry_arq_input(arq, dg, n, 1001 + i * 10), 0);
	}
	ferry_arq_stats(arq, &st);
	ck_assert_uint_eq(st.rto, 30);
	ck_assert_uint_eq(st.srtt, 1);
	/* A forged echo from before the segment was first sent is no RTT sample. */
	ck_assert_int_eq(ferry_arq_send(arq, "d", 1), 1);
	ck_assert_int_eq(ferry_arq_flush(arq, 5000), 0);
	n = seg(dg, 1, 82, 128, 100, 42, 42, NULL);
	ck_assert_int_eq(ferry_arq_input(arq, dg, n, 5001), 0);
	ferry_arq_stats(arq, &st);
	ck_assert_uint_eq(st.srtt, 1);
	ck_assert_uint_eq(st.inflight, 0);
	ferry_arq_destroy(arq);
	ferry_ck_pool_idle(&pool);
	ferry_pool_destroy(&pool);
}
END_TEST

/* Two later ACK batches trigger a fast retransmission, due at once (no waiting for a
 * tick); ACKs for one input are one batch however many they are. */
START_TEST(fast_retransmit)
{
	struct ferry_arq_config cfg;
	static struct capture cap;
	struct ferry_arq_stats st;
	struct ferry_pool pool;
	static uint8_t data[1376 * 6];
	struct ferry_arq *arq;
	uint8_t dg[128];
	size_t n;

	ck_assert_int_eq(ferry_pool_init(&pool, 16, 1376, 32), 0);
	ck_assert_int_eq(ferry_arq_config_init(&cfg, FERRY_ARQ_PROFILE_FAST3), 0);
	ck_assert_int_eq(ferry_arq_create(&arq, 1, &cfg, &pool, capture_out, &cap), 0);
	ck_assert_int_eq(ferry_arq_send(arq, data, sizeof(data)), sizeof(data));
	ck_assert_int_eq(ferry_arq_update(arq, 0), 0);
	ck_assert_uint_eq(cap.n, 6); /* full segments, one datagram each */
	/* One datagram acking sn 2 and 3: one batch. */
	n = seg(dg, 1, 82, 128, 0, 2, 0, NULL);
	n += seg(dg + n, 1, 82, 128, 0, 3, 0, NULL);
	ck_assert_int_eq(ferry_arq_input(arq, dg, n, 50), 0);
	ck_assert_uint_gt(ferry_arq_next_deadline(arq, 50), 50);
	n = seg(dg, 1, 82, 128, 0, 4, 0, NULL);
	ck_assert_int_eq(ferry_arq_input(arq, dg, n, 51), 0);
	ck_assert_uint_eq(ferry_arq_next_deadline(arq, 51), 51);
	ck_assert_int_eq(ferry_arq_update(arq, 51), 0);
	ferry_arq_stats(arq, &st);
	ck_assert_uint_eq(st.segs_fast, 2);
	ck_assert_uint_eq(st.segs_rto, 0);
	ck_assert_uint_eq(cap.n, 8);
	/* The retransmissions were sent after sn 5: acking sn 5 does not count against them. */
	n = seg(dg, 1, 82, 128, 0, 5, 0, NULL);
	ck_assert_int_eq(ferry_arq_input(arq, dg, n, 52), 0);
	n = seg(dg, 1, 82, 128, 0, 5, 0, NULL);
	ck_assert_int_eq(ferry_arq_input(arq, dg, n, 53), 0);
	ck_assert_uint_gt(ferry_arq_next_deadline(arq, 53), 53);
	/* una 6 acknowledges everything. */
	n = seg(dg, 1, 82, 128, 51, 0, 6, NULL);
	ck_assert_int_eq(ferry_arq_input(arq, dg, n, 60), 0);
	ck_assert_uint_eq(ferry_arq_pending(arq), 0);
	ferry_arq_destroy(arq);
	ferry_ck_pool_idle(&pool);
	ferry_pool_destroy(&pool);
}
END_TEST

/* ACKs of many inputs share datagrams; the ACK list is bounded and a full list goes out
 * at once instead of growing. */
START_TEST(ack_batching_bounded)
{
	struct ferry_arq_config cfg;
	static struct capture cap;
	struct ferry_arq_stats st;
	struct ferry_pool pool;
	struct ferry_arq *arq;
	uint8_t dg[64];
	uint32_t i;
	size_t n;

	ck_assert_int_eq(ferry_pool_init(&pool, 64, 1376, 32), 0);
	ck_assert_int_eq(ferry_arq_config_init(&cfg, FERRY_ARQ_PROFILE_FAST3), 0);
	cfg.rcv_wnd = 64;
	ck_assert_int_eq(ferry_arq_create(&arq, 1, &cfg, &pool, capture_out, &cap), 0);
	for (i = 0; i < 40; i++) {
		n = seg(dg, 1, 81, 128, i, i, 0, "x");
		ck_assert_int_eq(ferry_arq_input(arq, dg, n, 5), 0);
	}
	ck_assert_uint_eq(cap.n, 0);
	ck_assert_int_eq(ferry_arq_update(arq, 5), 0);
	ck_assert_uint_eq(cap.n, 1);
	ck_assert_uint_eq(cap.len[0], 960); /* 40 ACKs */
	/* 100 duplicates without an update: the list (64) overflows into the output. */
	for (i = 0; i < 100; i++) {
		n = seg(dg, 1, 81, 128, i, 3, 0, "x");
		ck_assert_int_eq(ferry_arq_input(arq, dg, n, 6), 0);
	}
	ck_assert_uint_eq(cap.n, 3); /* 64 ACKs = 1536 bytes: two datagrams of at most 1400 */
	ck_assert_int_eq(ferry_arq_update(arq, 6), 0);
	ck_assert_uint_eq(cap.n, 4);
	ferry_arq_stats(arq, &st);
	ck_assert_uint_eq(st.acks_sent, 140);
	ck_assert_uint_eq(st.segs_dup, 100);
	for (i = 1; i < 4; i++)
		ck_assert_uint_le(cap.len[i], 1400);
	/* ack_delay lets ACKs wait for company. */
	ferry_arq_destroy(arq);
	cap.n = 0;
	cfg.ack_delay = 5;
	ck_assert_int_eq(ferry_arq_create(&arq, 1, &cfg, &pool, capture_out, &cap), 0);
	n = seg(dg, 1, 81, 128, 0, 0, 0, "x");
	ck_assert_int_eq(ferry_arq_input(arq, dg, n, 100), 0);
	ck_assert_uint_eq(ferry_arq_next_deadline(arq, 100), 105);
	ck_assert_int_eq(ferry_arq_update(arq, 104), 0);
	ck_assert_uint_eq(cap.n, 0);
	n = seg(dg, 1, 81, 128, 0, 1, 0, "y");
	ck_assert_int_eq(ferry_arq_input(arq, dg, n, 104), 0);
	ck_assert_uint_eq(ferry_arq_next_deadline(arq, 104), 105);
	ck_assert_int_eq(ferry_arq_update(arq, 105), 0);
	ck_assert_uint_eq(cap.n, 1);
	ck_assert_uint_eq(cap.len[0], 48);
	ferry_arq_destroy(arq);
	ferry_ck_pool_idle(&pool);
	ferry_pool_destroy(&pool);
}
END_TEST

/* The ACK of a segment above a hole rides again in the next two ACK datagrams (una cannot
 * cover it if its ACK is lost); once the hole closes, una does and the repeats stop. */
START_TEST(ack_repeat_out_of_order)
{
	struct ferry_arq_config cfg;
	static struct capture cap;
	struct ferry_pool pool;
	struct ferry_arq *arq;
	struct ferry_arq_seg h;
	uint8_t dg[64];
	uint32_t sn;
	size_t n;

	ck_assert_int_eq(ferry_pool_init(&pool, 16, 1376, 32), 0);
	ck_assert_int_eq(ferry_arq_config_init(&cfg, FERRY_ARQ_PROFILE_FAST3), 0);
	ck_assert_int_eq(ferry_arq_create(&arq, 1, &cfg, &pool, capture_out, &cap), 0);
	for (sn = 1; sn <= 4; sn++) {
		n = seg(dg, 1, 81, 128, sn, sn, 0, "x");
		ck_assert_int_eq(ferry_arq_input(arq, dg, n, sn), 0);
		ck_assert_int_eq(ferry_arq_update(arq, sn), 0);
	}
	ck_assert_uint_eq(cap.n, 4);
	ck_assert_uint_eq(cap.len[0], 24); /* ack 1 */
	ck_assert_uint_eq(cap.len[1], 48); /* ack 2, repeat 1 */
	ck_assert_uint_eq(cap.len[2], 72); /* ack 3, repeat 1, 2 */
	ck_assert_uint_eq(cap.len[3], 72); /* ack 4, repeat 2, 3 (1 is done) */
	ck_assert_int_eq(ferry_arq_seg_decode(cap.dg[3] + 24, 24, &h), 24);
	ck_assert_uint_eq(h.cmd, FERRY_ARQ_CMD_ACK);
	ck_assert_uint_eq(h.sn, 2);
	ck_assert_uint_eq(h.ts, 2);
	n = seg(dg, 1, 81, 128, 0, 0, 0, "x");
	ck_assert_int_eq(ferry_arq_input(arq, dg, n, 5), 0);
	ck_assert_int_eq(ferry_arq_update(arq, 5), 0);
	ck_assert_uint_eq(cap.len[4], 24); /* una 5 covers everything */
	ck_assert_int_eq(ferry_arq_seg_decode(cap.dg[4], 24, &h), 24);
	ck_assert_uint_eq(h.una, 5);
	ferry_arq_destroy(arq);
	ferry_ck_pool_idle(&pool);
	ferry_pool_destroy(&pool);
}
END_TEST

START_TEST(message_mode)
{
	struct ferry_arq_config cfg;
	static struct capture cap;
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
	ck_assert_int_eq(ferry_arq_create(&a, 3, &cfg, &pool, capture_out, &cap), 0);
	ck_assert_int_eq(ferry_arq_create(&b, 3, &cfg, &pool, capture_out, &cap), 0);
	ck_assert_int_eq(ferry_arq_send(a, msg, sizeof(msg)), sizeof(msg));
	ck_assert_int_eq(ferry_arq_send(a, "tail", 4), 4);
	ck_assert_int_eq(ferry_arq_send(a, big, sizeof(big)), -EMSGSIZE); /* 9 > snd_wnd */
	ck_assert_int_eq(ferry_arq_update(a, 0), 0);
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

/* ---- two engines over the virtual network -------------------------------------------- */

struct pair {
	struct ferry_vnet vn;
	struct ferry_pool pool_a, pool_b;
	struct ferry_arq *a, *b;
	const uint8_t *src;
	size_t total, sent, recvd;
	uint32_t read_chunk; /* bytes the reader takes per read turn; 0 = all */
	uint32_t read_every; /* ms between read turns; 0 = every step */
	uint64_t next_read;
	uint64_t read_pause_until; /* the reader does not read before this */
	uint64_t eagain;	   /* sends refused for backpressure */
	uint32_t b_high;	   /* most pool buffers B ever held */
	uint32_t a_high;	   /* ... and A */
};

static int out_a(void *ctx, const uint8_t *d, size_t len)
{
	return ferry_vnet_send(&((struct pair *)ctx)->vn, FERRY_VNET_A2B, d, len);
}

static int out_b(void *ctx, const uint8_t *d, size_t len)
{
	return ferry_vnet_send(&((struct pair *)ctx)->vn, FERRY_VNET_B2A, d, len);
}

static void deliver(void *ctx, enum ferry_vnet_dir dir, const uint8_t *data, size_t len,
		    uint64_t now)
{
	struct pair *p = ctx;

	ferry_arq_input(dir == FERRY_VNET_A2B ? p->b : p->a, data, len, now);
}

static void pair_init(struct pair *p, uint64_t seed, const struct ferry_arq_config *cfg,
		      const struct ferry_vnet_link *a2b, const struct ferry_vnet_link *b2a,
		      uint64_t start)
{
	uint32_t bufs = 2 * cfg->snd_wnd + cfg->snd_queue_max + cfg->rcv_wnd + 8;

	memset(p, 0, sizeof(*p));
	ck_assert_int_eq(ferry_vnet_init(&p->vn, seed, start, a2b, b2a,
					 4 * (cfg->snd_wnd + cfg->rcv_wnd) + 1024, deliver, p),
			 0);
	ck_assert_int_eq(ferry_pool_init(&p->pool_a, bufs, cfg->mtu - 24, 64), 0);
	ck_assert_int_eq(ferry_pool_init(&p->pool_b, bufs, cfg->mtu - 24, 64), 0);
	ck_assert_int_eq(ferry_arq_create(&p->a, 0x5eed, cfg, &p->pool_a, out_a, p), 0);
	ck_assert_int_eq(ferry_arq_create(&p->b, 0x5eed, cfg, &p->pool_b, out_b, p), 0);
}

static void pair_destroy(struct pair *p)
{
	ferry_arq_destroy(p->a);
	ferry_arq_destroy(p->b);
	ferry_ck_pool_idle(&p->pool_a);
	ferry_ck_pool_idle(&p->pool_b);
	ferry_pool_destroy(&p->pool_a);
	ferry_pool_destroy(&p->pool_b);
	ferry_vnet_destroy(&p->vn);
}

static uint64_t min64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* One turn of the event loop at vn.now: write, update, read, then sleep to the next
 * deadline. Returns false when nothing at all is scheduled. */
static bool pair_step(struct pair *p)
{
	static uint8_t rbuf[65536];
	uint64_t now = p->vn.now, next;

	while (p->sent < p->total) {
		size_t n = p->total - p->sent < 65536 ? p->total - p->sent : 65536;
		ssize_t r = ferry_arq_send(p->a, p->src + p->sent, n);

		if (r < 0) {
			if (r == -EAGAIN)
				p->eagain++;
			else
				ck_assert_int_eq(r, ferry_arq_error(p->a));
			break;
		}
		p->sent += (size_t)r;
	}
	ferry_arq_update(p->a, now);
	/* After an update nothing is overdue: an event loop never spins on a conversation. */
	ck_assert_uint_gt(ferry_arq_next_deadline(p->a, now), now);
	if (now >= p->read_pause_until && now >= p->next_read) {
		uint32_t budget = p->read_chunk ? p->read_chunk : UINT32_MAX;
		ssize_t r;

		while (budget &&
		       (r = ferry_arq_recv(p->b, rbuf,
					   budget < sizeof(rbuf) ? budget : sizeof(rbuf))) > 0) {
			ck_assert_uint_le(p->recvd + (size_t)r, p->total);
			ck_assert_msg(memcmp(rbuf, p->src + p->recvd, (size_t)r) == 0,
				      "bytes differ at offset %zu", p->recvd);
			p->recvd += (size_t)r;
			budget -= (uint32_t)r;
		}
		p->next_read = now + p->read_every;
	}
	ferry_arq_update(p->b, now);
	ck_assert_uint_gt(ferry_arq_next_deadline(p->b, now), now);
	if (p->pool_b.stats.in_use > p->b_high)
		p->b_high = p->pool_b.stats.in_use;
	if (p->pool_a.stats.in_use > p->a_high)
		p->a_high = p->pool_a.stats.in_use;

	next = min64(ferry_vnet_next_event(&p->vn), ferry_arq_next_deadline(p->a, now));
	next = min64(next, ferry_arq_next_deadline(p->b, now));
	if (p->read_every && ferry_arq_pending(p->a) + p->total - p->recvd)
		next = min64(next, p->next_read > p->read_pause_until ? p->next_read
								      : p->read_pause_until);
	if (next == UINT64_MAX)
		return false;
	ferry_vnet_advance(&p->vn, next > now ? next : now);
	return true;
}

/* Moves total bytes A -> B, verifying each; returns the virtual ms it took. */
static uint64_t pair_transfer(struct pair *p, const uint8_t *src, size_t total, uint64_t limit_ms)
{
	uint64_t start = p->vn.now;
	uint32_t steps = 0;

	p->src = src;
	p->total = total;
	while (p->recvd < total || ferry_arq_pending(p->a)) {
		bool busy = pair_step(p);

		ck_assert_msg(busy || (p->recvd == total && !ferry_arq_pending(p->a)),
			      "stalled: %zu of %zu bytes", p->recvd, total);
		ck_assert_int_eq(ferry_arq_error(p->a), 0);
		ck_assert_int_eq(ferry_arq_error(p->b), 0);
		ck_assert_msg(p->vn.now - start < limit_ms, "too slow: %zu of %zu bytes by %llu ms",
			      p->recvd, total, (unsigned long long)(p->vn.now - start));
		ck_assert_uint_lt(++steps, 50000000);
	}
	ck_assert_uint_eq(p->recvd, total);
	return p->vn.now - start;
}

static uint8_t *pattern(size_t n, uint64_t seed)
{
	uint8_t *buf = malloc(n);
	uint64_t x = seed * 0x9e3779b97f4a7c15ULL + 1;
	size_t i;

	ck_assert_ptr_nonnull(buf);
	for (i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = (uint8_t)x;
	}
	return buf;
}

#define MB ((size_t)1 << 20)

struct lossy_case {
	double loss, reorder, duplicate;
	uint32_t jitter;
};

static const struct lossy_case lossy_cases[] = {
    {0, 0, 0, 0},
    {0.01, 0, 0, 0},
    {0.05, 0, 0, 0},
    {0.20, 0.05, 0.05, 3},
};

/* 10 MB at 50 ms RTT through each loss rate, every byte checked. */
START_TEST(transfer_10mb_lossy)
{
	const struct lossy_case *c = &lossy_cases[_i];
	struct ferry_vnet_link l = {
	    .delay_ms = 25,
	    .jitter_ms = c->jitter,
	    .loss = c->loss,
	    .reorder = c->reorder,
	    .duplicate = c->duplicate,
	    .rate = 12500000, /* 100 Mbit/s */
	    .queue_limit = 1 << 20,
	};
	struct ferry_arq_config cfg;
	struct ferry_arq_stats sa, sb;
	static struct pair p;
	uint8_t *src = pattern(10 * MB, (uint64_t)_i + 1);
	uint64_t ms;

	ck_assert_int_eq(ferry_arq_config_init(&cfg, FERRY_ARQ_PROFILE_FAST3), 0);
	cfg.snd_wnd = 512;
	cfg.rcv_wnd = 1024;
	pair_init(&p, 100 + (uint64_t)_i, &cfg, &l, &l, 1000);
	ms = pair_transfer(&p, src, 10 * MB, 600000);
	ferry_arq_stats(p.a, &sa);
	ferry_arq_stats(p.b, &sb);
	ck_assert_uint_eq(sb.payload_recv, 10 * MB);
	ck_assert_uint_eq(sb.drop_window, 0); /* the sender never overran the receiver */
	ck_assert_uint_le(p.b_high, cfg.rcv_wnd);
	if (c->loss == 0) {
		ck_assert_uint_eq(sa.segs_rto + sa.segs_fast, 0);
		ck_assert_uint_lt(ms, 2000);
	} else {
		ck_assert_uint_gt(sa.segs_fast, 0);
	}
	if (c->duplicate > 0)
		ck_assert_uint_gt(sb.segs_dup, 0);
	pair_destroy(&p);
	free(src);
}
END_TEST

/* The bar, on virtual time so it cannot flake: fast3, 50 ms RTT, 5 % loss both
 * ways, a 10 Mbit/s link with a one-BDP queue, at most one BDP in flight (receive buffer
 * 4 BDP for reassembly): goodput at least 80 % of the link rate. */
START_TEST(goodput_fast3_5pct)
{
	const uint64_t rate = 1250000, bdp = rate * 50 / 1000;
	struct ferry_vnet_link l = {
	    .delay_ms = 25, .loss = 0.05, .rate = rate, .queue_limit = (uint32_t)bdp};
	struct ferry_arq_config cfg;
	static struct pair p;
	uint8_t *src = pattern(5 * MB, 17);
	uint64_t ms;

	ck_assert_int_eq(ferry_arq_config_init(&cfg, FERRY_ARQ_PROFILE_FAST3), 0);
	cfg.snd_wnd = (uint32_t)((bdp + cfg.mtu - 1) / cfg.mtu);
	cfg.rcv_wnd = 4 * cfg.snd_wnd;
	cfg.snd_queue_max = cfg.snd_wnd;
	pair_init(&p, 600 + (uint64_t)_i, &cfg, &l, &l, 0);
	ms = pair_transfer(&p, src, 5 * MB, 60000);
	ck_assert_msg((double)(5 * MB) / ((double)ms / 1000) >= 0.8 * (double)rate,
		      "goodput %.1f %% of the link", 100.0 * (5 * MB) / ((double)ms / 1000) / rate);
	pair_destroy(&p);
	free(src);
}
END_TEST

/* Every profile, and a manual one with the congestion window on, through loss and
 * reordering. */
START_TEST(profiles)
{
	static const enum ferry_arq_profile prof[] = {
	    FERRY_ARQ_PROFILE_NORMAL, FERRY_ARQ_PROFILE_FAST,	FERRY_ARQ_PROFILE_FAST2,
	    FERRY_ARQ_PROFILE_FAST3,  FERRY_ARQ_PROFILE_MANUAL,
	};
	struct ferry_vnet_link l = {.delay_ms = 20, .jitter_ms = 2, .loss = 0.05, .reorder = 0.02};
	struct ferry_arq_config cfg;
	struct ferry_arq_stats sa;
	static struct pair p;
	uint8_t *src = pattern(2 * MB, 7);

	ck_assert_int_eq(ferry_arq_config_init(&cfg, prof[_i]), 0);
	if (prof[_i] == FERRY_ARQ_PROFILE_MANUAL) {
		cfg.nodelay = 1;
		cfg.interval = 15;
		cfg.resend = 3;
		cfg.nc = 0;
		l.rate = 1250000; /* 10 Mbit/s, a queue of 40 ms: the cwnd has to back off */
		l.queue_limit = 50000;
	}
	pair_init(&p, 200 + (uint64_t)_i, &cfg, &l, &l, 0);
	pair_transfer(&p, src, 2 * MB, 600000);
	ferry_arq_stats(p.a, &sa);
	ck_assert_uint_gt(sa.segs_fast, 0);
	if (!cfg.nc)
		ck_assert_uint_lt(sa.cwnd, cfg.snd_wnd);
	pair_destroy(&p);
	free(src);
}
END_TEST

/* Sequence numbers that wrap past 2^32 in the middle of a lossy, reordered transfer. */
START_TEST(sn_wraparound)
{
	struct ferry_vnet_link l = {.delay_ms = 10, .jitter_ms = 3, .loss = 0.05, .reorder = 0.05};
	struct ferry_arq_config cfg;
	struct ferry_arq_stats sa;
	static struct pair p;
	uint8_t *src = pattern(2 * MB, 9);

	ck_assert_int_eq(ferry_arq_config_init(&cfg, FERRY_ARQ_PROFILE_FAST3), 0);
	cfg.initial_sn = UINT32_MAX - 300;
	/* ts wraps too: the virtual clock starts just below 2^32 ms. */
	pair_init(&p, 300, &cfg, &l, &l, UINT32_MAX - 500);
	pair_transfer(&p, src, 2 * MB, 600000);
	ferry_arq_stats(p.a, &sa);
	ck_assert_uint_gt(sa.segs_sent, 1000); /* well past the wrap */
	ck_assert_uint_gt(sa.srtt, 15);
	ck_assert_uint_lt(sa.srtt, 60);
	pair_destroy(&p);
	free(src);
}
END_TEST

/* A reader slower than the link: memory stays within rcv_wnd, the sender sees
 * backpressure, nothing is dropped for want of window. Then a reader that stops for a
 * while: the window closes, the sender probes, and the transfer resumes. */
START_TEST(slow_reader_window_full)
{
	struct ferry_vnet_link l = {.delay_ms = 15};
	struct ferry_arq_config cfg;
	struct ferry_arq_stats sa, sb;
	static struct pair p;
	uint8_t *src = pattern(MB, 11);

	ck_assert_int_eq(ferry_arq_config_init(&cfg, FERRY_ARQ_PROFILE_FAST2), 0);
	cfg.snd_wnd = 64;
	cfg.rcv_wnd = 32;
	cfg.snd_queue_max = 16;
	pair_init(&p, 400, &cfg, &l, &l, 0);
	p.read_chunk = 4000;
	p.read_every = 20; /* 200 kB/s */
	p.read_pause_until = 3000;
	pair_transfer(&p, src, MB, 60000);
	ferry_arq_stats(p.a, &sa);
	ferry_arq_stats(p.b, &sb);
	ck_assert_uint_le(p.b_high, cfg.rcv_wnd);
	ck_assert_uint_le(p.a_high, cfg.snd_queue_max + cfg.snd_wnd);
	ck_assert_uint_eq(sb.drop_window, 0);
	ck_assert_uint_gt(p.eagain, 0);
	ck_assert_uint_gt(sa.probes_sent, 0);
	ck_assert_uint_gt(sb.wins_sent, 0);
	ck_assert_uint_eq(sa.segs_rto, 0);
	pair_destroy(&p);
	free(src);
}
END_TEST

/* The peer vanishes mid-transfer: an error, not a silent stall, and within the configured
 * dead time; or, with dead_time off, after dead_link transmissions of one segment. */
START_TEST(peer_disappears)
{
	struct ferry_vnet_link l = {.delay_ms = 20};
	struct ferry_arq_config cfg;
	struct ferry_arq_stats sa;
	static struct pair p;
	uint8_t *src = pattern(MB, 13);
	uint64_t cut;
	uint32_t steps = 0;

	ck_assert_int_eq(ferry_arq_config_init(&cfg, FERRY_ARQ_PROFILE_FAST3), 0);
	if (_i == 0) {
		cfg.dead_time = 5000;
	} else {
		cfg.dead_time = 0;
		cfg.dead_link = 6;
	}
	pair_init(&p, 500, &cfg, &l, &l, 0);
	p.src = src;
	p.total = MB;
	while (p.recvd < 200000)
		ck_assert(pair_step(&p));
	p.vn.link[0].loss = p.vn.link[1].loss = 1.0;
	cut = p.vn.now;
	while (ferry_arq_error(p.a) == 0) {
		if (!pair_step(&p))
			break; /* nothing scheduled: only a dead A may stop like this */
		ck_assert_uint_lt(++steps, 100000);
		ck_assert_uint_lt(p.vn.now - cut, 120000);
	}
	ck_assert_int_eq(ferry_arq_error(p.a), -ETIMEDOUT);
	ck_assert_int_eq(ferry_arq_send(p.a, "x", 1), -ETIMEDOUT);
	ck_assert_int_eq(ferry_arq_update(p.a, p.vn.now), -ETIMEDOUT);
	ck_assert_uint_eq(ferry_arq_next_deadline(p.a, p.vn.now), UINT64_MAX);
	ferry_arq_stats(p.a, &sa);
	if (_i == 0) {
		ck_assert_uint_ge(p.vn.now - cut, 4900);
		ck_assert_uint_le(p.vn.now - cut, 5100);
	} else {
		ck_assert_uint_gt(sa.segs_rto, 5);
	}
	pair_destroy(&p);
	free(src);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("arq");
	TCase *unit = ferry_tcase("unit", 5);
	TCase *xfer = ferry_tcase("transfer", 20);

	tcase_add_test(unit, wire_vector);
	tcase_add_test(unit, engine_bytes);
	tcase_add_test(unit, config_and_create_reject);
	tcase_add_test(unit, bad_segments_counted);
	tcase_add_test(unit, rto_and_deadlines);
	tcase_add_test(unit, fast_retransmit);
	tcase_add_test(unit, ack_batching_bounded);
	tcase_add_test(unit, ack_repeat_out_of_order);
	tcase_add_test(unit, message_mode);
	suite_add_tcase(s, unit);

	tcase_add_loop_test(xfer, transfer_10mb_lossy, 0,
			    (int)(sizeof(lossy_cases) / sizeof(lossy_cases[0])));
	tcase_add_loop_test(xfer, profiles, 0, 5);
	tcase_add_loop_test(xfer, goodput_fast3_5pct, 0, 3);
	tcase_add_test(xfer, sn_wraparound);
	tcase_add_test(xfer, slow_reader_window_full);
	tcase_add_loop_test(xfer, peer_disappears, 0, 2);
	suite_add_tcase(s, xfer);
	return ferry_run_suite(s);
}
