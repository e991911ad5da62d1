// SPDX-License-Identifier: MIT
/*
 * Payload packing: records written and read back byte for byte, the size limits, every
 * way a payload can be cut short or lie about a length, unknown kinds skipped, and ARQ
 * bodies split into runs of one conversation.
 */
#include <errno.h>
#include <string.h>

#include "tests/support/fixture.h"
#include "transport/arq.h"
#include "transport/mux.h"

#define LIMIT 1430

static uint8_t storage[2048];

static struct ferry_buf fresh(void)
{
	struct ferry_buf b = {.head = storage, .end = storage + sizeof(storage)};

	b.data = storage + 32;
	b.len = 0;
	return b;
}

START_TEST(roundtrip)
{
	struct ferry_buf b = fresh();
	struct ferry_mux_record rec;
	const uint8_t *data;
	uint32_t flow;
	size_t off = 0, n;

	ck_assert_int_eq(ferry_mux_append(&b, LIMIT, FERRY_REC_ARQ, (const uint8_t *)"abc", 3), 0);
	ck_assert_int_eq(ferry_mux_append_datagram(&b, LIMIT, 0xa1b2c3d4, (const uint8_t *)"xy", 2),
			 0);
	ck_assert_int_eq(ferry_mux_append(&b, LIMIT, FERRY_REC_PAD, NULL, 0), 0);
	ck_assert_uint_eq(b.len, 3 + 3 + 3 + 4 + 2 + 3);
	/* exact bytes: kind, len LE, body */
	ck_assert_mem_eq(b.data,
			 "\x01\x03\x00"
			 "abc"
			 "\x02\x06\x00\xd4\xc3\xb2\xa1xy"
			 "\x00\x00\x00",
			 b.len);

	ck_assert_int_eq(ferry_mux_next(b.data, b.len, &off, &rec), 1);
	ck_assert_uint_eq(rec.kind, FERRY_REC_ARQ);
	ck_assert_uint_eq(rec.len, 3);
	ck_assert_mem_eq(rec.body, "abc", 3);
	ck_assert_int_eq(ferry_mux_next(b.data, b.len, &off, &rec), 1);
	ck_assert_uint_eq(rec.kind, FERRY_REC_DATAGRAM);
	ck_assert_int_eq(ferry_mux_datagram(&rec, &flow, &data, &n), 0);
	ck_assert_uint_eq(flow, 0xa1b2c3d4);
	ck_assert_uint_eq(n, 2);
	ck_assert_mem_eq(data, "xy", 2);
	ck_assert_int_eq(ferry_mux_next(b.data, b.len, &off, &rec), 1);
	ck_assert_uint_eq(rec.kind, FERRY_REC_PAD);
	ck_assert_uint_eq(rec.len, 0);
	ck_assert_int_eq(ferry_mux_next(b.data, b.len, &off, &rec), 0);
	ck_assert_uint_eq(off, b.len);
}
END_TEST

START_TEST(limits)
{
	static uint8_t body[LIMIT];
	struct ferry_buf b = fresh();

	/* one record of exactly the limit fits; one byte more never can */
	ck_assert_int_eq(ferry_mux_append(&b, LIMIT, FERRY_REC_ARQ, body, LIMIT - 3), 0);
	ck_assert_uint_eq(b.len, LIMIT);
	ck_assert_int_eq(ferry_mux_append(&b, LIMIT, FERRY_REC_ARQ, body, 0), -ENOSPC);
	b = fresh();
	ck_assert_int_eq(ferry_mux_append(&b, LIMIT, FERRY_REC_ARQ, body, LIMIT - 2), -EMSGSIZE);
	ck_assert_int_eq(ferry_mux_append_datagram(&b, LIMIT, 1, body, LIMIT - 6), -EMSGSIZE);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_int_eq(ferry_mux_append_datagram(&b, LIMIT, 1, body, LIMIT - 7), 0);
	ck_assert_uint_eq(b.len, LIMIT);
	/* a partly filled payload: the remainder decides */
	b = fresh();
	ck_assert_int_eq(ferry_mux_append(&b, LIMIT, FERRY_REC_ARQ, body, 1000), 0);
	ck_assert_int_eq(ferry_mux_append(&b, LIMIT, FERRY_REC_ARQ, body, 500), -ENOSPC);
	ck_assert_uint_eq(b.len, 1003); /* nothing written by the refusal */
	ck_assert_int_eq(ferry_mux_append(&b, LIMIT, FERRY_REC_ARQ, body, 424), 0);
	ck_assert_uint_eq(b.len, LIMIT);
	/* tailroom is respected even under a generous limit */
	b = fresh();
	b.end = b.data + 10;
	ck_assert_int_eq(ferry_mux_append(&b, LIMIT, FERRY_REC_ARQ, body, 8), -ENOSPC);
	ck_assert_int_eq(ferry_mux_append(&b, LIMIT, FERRY_REC_ARQ, body, 7), 0);
	/* u16 length field */
	b = fresh();
	ck_assert_int_eq(ferry_mux_append(&b, 70000, FERRY_REC_ARQ, body, 65536), -EMSGSIZE);
}
END_TEST

START_TEST(malformed)
{
	static const uint8_t cut[] = {0x01, 0x04, 0x00, 'a', 'b', 'c'};
	static const uint8_t huge[] = {0x02, 0xff, 0xff};
	static const uint8_t tail[] = {0x01, 0x01, 0x00, 'z', 0x07};
	static const uint8_t unknown[] = {0xee, 0x02, 0x00, 'q', 'q', 0x00, 0x00, 0x00};
	struct ferry_mux_record rec;
	const uint8_t *p;
	size_t off;

	/* header cut short: 1 and 2 bytes */
	off = 0;
	ck_assert_int_eq(ferry_mux_next((const uint8_t *)"\x01", 1, &off, &rec), -EBADMSG);
	ck_assert_int_eq(ferry_mux_next((const uint8_t *)"\x01\x00", 2, &off, &rec), -EBADMSG);
	ck_assert_uint_eq(off, 0);
	/* length beyond the end, by one byte and by a lot */
	ck_assert_int_eq(ferry_mux_next(cut, sizeof(cut), &off, &rec), -EBADMSG);
	ck_assert_int_eq(ferry_mux_next(huge, sizeof(huge), &off, &rec), -EBADMSG);
	ck_assert_uint_eq(off, 0);
	/* a good record followed by garbage: the first is read, then the walk stops */
	ck_assert_int_eq(ferry_mux_next(tail, sizeof(tail), &off, &rec), 1);
	ck_assert_uint_eq(off, 4);
	ck_assert_int_eq(ferry_mux_next(tail, sizeof(tail), &off, &rec), -EBADMSG);
	ck_assert_uint_eq(off, 4);
	/* an unknown kind is an ordinary record to the reader (the link skips it) */
	off = 0;
	ck_assert_int_eq(ferry_mux_next(unknown, sizeof(unknown), &off, &rec), 1);
	ck_assert_uint_eq(rec.kind, 0xee);
	ck_assert_int_eq(ferry_mux_next(unknown, sizeof(unknown), &off, &rec), 1);
	ck_assert_int_eq(ferry_mux_next(unknown, sizeof(unknown), &off, &rec), 0);
	/* a datagram body shorter than its flow id */
	p = unknown;
	rec.kind = FERRY_REC_DATAGRAM;
	rec.len = 3;
	rec.body = p;
	{
		const uint8_t *d;
		uint32_t flow;
		size_t n;

		ck_assert_int_eq(ferry_mux_datagram(&rec, &flow, &d, &n), -EBADMSG);
		rec.len = 4;
		ck_assert_int_eq(ferry_mux_datagram(&rec, &flow, &d, &n), 0);
		ck_assert_uint_eq(n, 0);
	}
	/* empty payload: nothing, no error */
	off = 0;
	ck_assert_int_eq(ferry_mux_next(p, 0, &off, &rec), 0);
}
END_TEST

struct runs {
	int n;
	uint32_t conv[8];
	size_t len[8];
};

static void on_run(void *ctx, uint32_t conv, const uint8_t *segs, size_t len)
{
	struct runs *r = ctx;

	(void)segs;
	ck_assert_int_lt(r->n, 8);
	r->conv[r->n] = conv;
	r->len[r->n++] = len;
}

static size_t put_seg(uint8_t *p, uint32_t conv, uint8_t cmd, uint32_t len)
{
	struct ferry_arq_seg h = {.conv = conv, .cmd = cmd, .len = len};
	static const uint8_t zeros[64];

	return (size_t)ferry_arq_seg_encode(p, 24 + len, &h, zeros);
}

START_TEST(arq_split)
{
	uint8_t body[512];
	struct runs r = {0};
	size_t n = 0;

	n += put_seg(body + n, 7, FERRY_ARQ_CMD_PUSH, 10);
	n += put_seg(body + n, 7, FERRY_ARQ_CMD_ACK, 0);
	n += put_seg(body + n, 9, FERRY_ARQ_CMD_ACK, 0);
	n += put_seg(body + n, 7, FERRY_ARQ_CMD_WASK, 0);
	ck_assert_int_eq(ferry_mux_arq_split(body, n, on_run, &r), 3);
	ck_assert_uint_eq(r.conv[0], 7);
	ck_assert_uint_eq(r.len[0], 34 + 24);
	ck_assert_uint_eq(r.conv[1], 9);
	ck_assert_uint_eq(r.len[1], 24);
	ck_assert_uint_eq(r.conv[2], 7);
	ck_assert(!ferry_mux_arq_is_control(body, n));
	ck_assert(ferry_mux_arq_is_control(body + 34, n - 34));

	/* cut short in the last segment's payload: the whole runs before it are delivered */
	memset(&r, 0, sizeof(r));
	n = put_seg(body, 5, FERRY_ARQ_CMD_ACK, 0);
	n += put_seg(body + n, 6, FERRY_ARQ_CMD_PUSH, 20);
	ck_assert_int_eq(ferry_mux_arq_split(body, n - 1, on_run, &r), -EBADMSG);
	ck_assert_int_eq(r.n, 1);
	ck_assert_uint_eq(r.conv[0], 5);
	ck_assert(!ferry_mux_arq_is_control(body, n - 1));
	/* shorter than a header, and empty */
	memset(&r, 0, sizeof(r));
	ck_assert_int_eq(ferry_mux_arq_split(body, 23, on_run, &r), -EBADMSG);
	ck_assert_int_eq(ferry_mux_arq_split(body, 0, on_run, &r), -EBADMSG);
	ck_assert_int_eq(r.n, 0);
	ck_assert(!ferry_mux_arq_is_control(body, 0));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("mux");
	TCase *tc = ferry_tcase("mux", 10);

	tcase_add_test(tc, roundtrip);
	tcase_add_test(tc, limits);
	tcase_add_test(tc, malformed);
	tcase_add_test(tc, arq_split);
	suite_add_tcase(s, tc);
	return ferry_run_suite(s);
}
