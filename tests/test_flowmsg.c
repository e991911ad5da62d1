// SPDX-License-Identifier: MIT
/*
 * The flow protocol's codec (transport/flowmsg.h): every message's exact bytes.
 *
 * Hand-written bytes (tests/support/flowrig.h) for the OPEN frame (IPv4 and IPv6), the
 * RESULT frame and every datagram-channel message are encoded exactly and decoded back field
 * by field; each is cut at every length and has a byte added; encoders are given every
 * buffer shorter than the message. What a peer can get wrong is in test_flowmsg_peer.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "tests/support/fixture.h"
#include "tests/support/flowrig.h"

struct dg_case {
	const char *name;
	const uint8_t *wire;
	size_t len;
	size_t fixed; /* bytes before the payload; len for a type that has none */
	struct ferry_flowmsg_dg m;
};

#define WIRE(a)	   .wire = (a), .len = sizeof(a)
#define PAYLOAD(s) .payload = (const uint8_t *)(s), .payload_len = sizeof(s) - 1

static const struct dg_case dg_cases[] = {
    {.name = "udp_open4",
     WIRE(dg_udp_open4),
     .fixed = 27,
     .m = {.type = FERRY_DG_UDP_OPEN,
	   .open = {.version = 1, .proto = 17, .instance = INSTANCE, .src = APP4, .dst = SRV4},
	   PAYLOAD("ping")}},
    {.name = "udp_open6",
     WIRE(dg_udp_open6),
     .fixed = 51,
     .m = {.type = FERRY_DG_UDP_OPEN,
	   .open = {.version = 1, .proto = 17, .instance = INSTANCE, .src = APP6, .dst = SRV6}}},
    {.name = "udp", WIRE(dg_udp), .fixed = 1, .m = {.type = FERRY_DG_UDP, PAYLOAD("data")}},
    {.name = "udp_empty", WIRE(dg_udp_empty), .fixed = 1, .m = {.type = FERRY_DG_UDP}},
    {.name = "udp_from4",
     WIRE(dg_udp_from4),
     .fixed = 8,
     .m = {.type = FERRY_DG_UDP_FROM, .from = SRV4, PAYLOAD("r")}},
    {.name = "udp_from6",
     WIRE(dg_udp_from6),
     .fixed = 20,
     .m = {.type = FERRY_DG_UDP_FROM, .from = SRV6, PAYLOAD("re")}},
    {.name = "udp_accept",
     WIRE(dg_accept),
     .fixed = 11,
     .m = {.type = FERRY_DG_UDP_ACCEPT, .result = {.code = FERRY_FLOW_OK, .instance = INSTANCE}}},
    {.name = "udp_accept_denied",
     WIRE(dg_accept_denied),
     .fixed = 11,
     .m = {.type = FERRY_DG_UDP_ACCEPT,
	   .result = {.code = FERRY_FLOW_DENIED, .instance = INSTANCE}}},
    {.name = "udp_unknown", WIRE(dg_udp_unknown), .fixed = 1, .m = {.type = FERRY_DG_UDP_UNKNOWN}},
    {.name = "echo_request4",
     WIRE(dg_echo_req4),
     .fixed = 19,
     .m = {.type = FERRY_DG_ECHO_REQUEST,
	   .ident = 0x1234,
	   .seq = 7,
	   .src = APP4,
	   .dst = SRV4,
	   PAYLOAD("abcd")}},
    {.name = "echo_reply6",
     WIRE(dg_echo_rep6),
     .fixed = 43,
     .m = {.type = FERRY_DG_ECHO_REPLY,
	   .ident = 0x1234,
	   .seq = 8,
	   .src = APP6,
	   .dst = SRV6,
	   PAYLOAD("x")}},
    {.name = "tcp_reset",
     WIRE(dg_tcp_reset),
     .fixed = 2,
     .m = {.type = FERRY_DG_TCP_RESET, .code = FERRY_FLOW_RESET}},
    {.name = "tcp_unknown", WIRE(dg_tcp_unknown), .fixed = 1, .m = {.type = FERRY_DG_TCP_UNKNOWN}},
    {.name = "hello_reply",
     WIRE(dg_hello_reply),
     .fixed = 13,
     .m = {.type = FERRY_DG_HELLO,
	   .version = 1,
	   .flags = FERRY_FLOWMSG_HELLO_REPLY,
	   .instance = INSTANCE}},
    {.name = "hello",
     WIRE(dg_hello),
     .fixed = 13,
     .m = {.type = FERRY_DG_HELLO, .version = 1, .instance = INSTANCE}},
};

#define N_DG_CASES (sizeof(dg_cases) / sizeof(dg_cases[0]))

static const struct ferry_endpoint app4 = APP4, srv4 = SRV4, app6 = APP6, srv6 = SRV6;

/* ---- helpers ---- */

/* Every field, set or not: a decoder leaves the fields of other types zero. */
static void dg_eq(const struct ferry_flowmsg_dg *a, const struct ferry_flowmsg_dg *b)
{
	ck_assert_uint_eq(a->type, b->type);
	ferry_flowrig_open_eq(&a->open, &b->open);
	ck_assert_uint_eq(a->result.code, b->result.code);
	ck_assert_uint_eq(a->result.instance, b->result.instance);
	ferry_flowrig_ep_eq(&a->from, &b->from);
	ck_assert_uint_eq(a->ident, b->ident);
	ck_assert_uint_eq(a->seq, b->seq);
	ferry_flowrig_ep_eq(&a->src, &b->src);
	ferry_flowrig_ep_eq(&a->dst, &b->dst);
	ck_assert_uint_eq(a->code, b->code);
	ck_assert_uint_eq(a->version, b->version);
	ck_assert_uint_eq(a->flags, b->flags);
	ck_assert_uint_eq(a->instance, b->instance);
	ck_assert_uint_eq(a->payload_len, b->payload_len);
	if (a->payload_len)
		ck_assert_mem_eq(a->payload, b->payload, a->payload_len);
}

/* The types whose fixed part is followed by payload bytes. */
static bool carries_payload(uint8_t type)
{
	return type == FERRY_DG_UDP_OPEN || type == FERRY_DG_UDP || type == FERRY_DG_UDP_FROM ||
	       type == FERRY_DG_ECHO_REQUEST || type == FERRY_DG_ECHO_REPLY;
}

/* ---- TCP frames ---- */

/* The exact OPEN frame for both families, and back. */
START_TEST(open_frame_bytes)
{
	static const struct {
		const uint8_t *wire;
		size_t len;
		const struct ferry_endpoint *src, *dst;
	} cases[] = {
	    {open4, sizeof(open4), &app4, &srv4},
	    {open6, sizeof(open6), &app6, &srv6},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ferry_flowmsg_open o = {.version = FERRY_FLOW_VERSION,
					       .proto = 6,
					       .instance = INSTANCE,
					       .src = *cases[i].src,
					       .dst = *cases[i].dst},
					  d;
		struct ferry_flowmsg_frame f;
		uint8_t out[80];

		memset(out, 0xee, sizeof(out));
		ck_assert_uint_eq(ferry_flowmsg_open_encode(out, sizeof(out), &o), cases[i].len);
		ck_assert_mem_eq(out, cases[i].wire, cases[i].len);
		ck_assert_uint_eq(out[cases[i].len], 0xee);
		ck_assert_int_eq(ferry_flowmsg_frame_header(out, cases[i].len, &f), 0);
		ck_assert_uint_eq(f.type, FERRY_FRAME_OPEN);
		ck_assert_uint_eq(f.len, cases[i].len - FERRY_FRAME_HDR_LEN);
		ck_assert_uint_eq(f.len, FERRY_FRAME_OPEN_FIXED +
					     2 * ferry_flowmsg_endpoint_len(cases[i].src));
		ck_assert_int_eq(
		    ferry_flowrig_open_decode(cases[i].wire + FERRY_FRAME_HDR_LEN, f.len, &d), 0);
		ferry_flowrig_open_eq(&d, &o);
	}
	ck_assert_uint_eq(ferry_flowmsg_endpoint_len(&app4), FERRY_WIRE_EP4_LEN);
	ck_assert_uint_eq(ferry_flowmsg_endpoint_len(&srv6), FERRY_WIRE_EP6_LEN);
}
END_TEST

START_TEST(result_frame_bytes)
{
	struct ferry_flowmsg_result r = {.code = FERRY_FLOW_RESET, .instance = INSTANCE}, d;
	struct ferry_flowmsg_frame f;
	uint8_t out[32];
	unsigned code;

	memset(out, 0xee, sizeof(out));
	ck_assert_uint_eq(ferry_flowmsg_result_encode(out, sizeof(out), &r), sizeof(result7));
	ck_assert_mem_eq(out, result7, sizeof(result7));
	ck_assert_uint_eq(out[sizeof(result7)], 0xee);
	ck_assert_int_eq(ferry_flowmsg_frame_header(out, sizeof(result7), &f), 0);
	ck_assert_uint_eq(f.type, FERRY_FRAME_RESULT);
	ck_assert_uint_eq(f.len, FERRY_FRAME_RESULT_LEN);
	ck_assert_int_eq(ferry_flowrig_result_decode(result7 + 3, f.len, &d), 0);
	ck_assert_uint_eq(d.code, FERRY_FLOW_RESET);
	ck_assert_uint_eq(d.instance, INSTANCE);
	/* every code there is goes through, with its number at body offset 0 */
	for (code = 0; code < FERRY_FLOW_CODES; code++) {
		r.code = (uint8_t)code;
		ck_assert_uint_eq(ferry_flowmsg_result_encode(out, sizeof(out), &r), 13);
		ck_assert_uint_eq(out[3], code);
		ck_assert_int_eq(ferry_flowrig_result_decode(out + 3, 10, &d), 0);
		ck_assert_uint_eq(d.code, code);
	}
}
END_TEST

/* DATA and FIN are a bare header; the header parser reads any length and knows 4 types. */
START_TEST(frame_headers)
{
	static const uint8_t bad_types[] = {0, 5, 0x80, 0xff};
	struct ferry_flowmsg_frame f;
	uint8_t out[FERRY_FRAME_HDR_LEN];
	size_t i;

	ck_assert_uint_eq(ferry_flowmsg_frame_put(out, FERRY_FRAME_DATA, 0x1234), 3);
	ck_assert_mem_eq(out, "\x03\x34\x12", 3);
	ck_assert_int_eq(ferry_flowmsg_frame_header(out, 3, &f), 0);
	ck_assert_uint_eq(f.type, FERRY_FRAME_DATA);
	ck_assert_uint_eq(f.len, 0x1234);
	ck_assert_uint_eq(ferry_flowmsg_frame_put(out, FERRY_FRAME_FIN, 0), 3);
	ck_assert_mem_eq(out, "\x04\x00\x00", 3);
	ck_assert_int_eq(ferry_flowmsg_frame_header(out, 3, &f), 0);
	ck_assert_uint_eq(f.type, FERRY_FRAME_FIN);
	ck_assert_uint_eq(f.len, 0);
	ck_assert_uint_eq(ferry_flowmsg_frame_put(out, FERRY_FRAME_DATA, FERRY_FRAME_BODY_MAX), 3);
	ck_assert_mem_eq(out, "\x03\xff\xff", 3);
	ck_assert_int_eq(ferry_flowmsg_frame_header(out, 3, &f), 0);
	ck_assert_uint_eq(f.len, FERRY_FRAME_BODY_MAX);
	/* fewer than 3 bytes: wait for more */
	for (i = 0; i < FERRY_FRAME_HDR_LEN; i++) {
		uint8_t *c = ferry_flowrig_dup(open4, i);

		ck_assert_int_eq(ferry_flowmsg_frame_header(c, i, &f), -EAGAIN);
		free(c);
	}
	for (i = 0; i < sizeof(bad_types); i++) {
		ferry_flowmsg_frame_put(out, bad_types[i], 2);
		ck_assert_int_eq(ferry_flowmsg_frame_header(out, 3, &f), -EPROTO);
		ck_assert_uint_eq(f.type, bad_types[i]);
	}
}
END_TEST

/* OPEN and RESULT bodies cut at every length, or one byte too long, are refused; so are
 * encoders given any buffer shorter than the frame, and they write nothing past it. */
START_TEST(frames_truncated)
{
	const uint8_t *opens[] = {open4, open6};
	const size_t lens[] = {sizeof(open4), sizeof(open6)};
	struct ferry_flowmsg_open o, in;
	struct ferry_flowmsg_result r, rin = {.code = FERRY_FLOW_RESET, .instance = INSTANCE};
	uint8_t buf[80], out[80];
	size_t i, cut, cap;

	for (i = 0; i < 2; i++) {
		size_t body = lens[i] - FERRY_FRAME_HDR_LEN;

		for (cut = 0; cut < body; cut++)
			ck_assert_int_eq(ferry_flowrig_open_decode(opens[i] + 3, cut, &o),
					 -EBADMSG);
		memcpy(buf, opens[i] + 3, body);
		buf[body] = 0;
		ck_assert_int_eq(ferry_flowrig_open_decode(buf, body + 1, &o), -EBADMSG);
		ck_assert_int_eq(ferry_flowrig_open_decode(buf, body, &in), 0);
		for (cap = 0; cap < lens[i]; cap++) {
			memset(out, 0xee, sizeof(out));
			ck_assert_uint_eq(ferry_flowmsg_open_encode(out, cap, &in), 0);
			ck_assert_uint_eq(out[cap], 0xee);
		}
		ck_assert_uint_eq(ferry_flowmsg_open_encode(out, lens[i], &in), lens[i]);
	}
	for (cut = 0; cut < FERRY_FRAME_RESULT_LEN; cut++)
		ck_assert_int_eq(ferry_flowrig_result_decode(result7 + 3, cut, &r), -EBADMSG);
	memcpy(buf, result7 + 3, FERRY_FRAME_RESULT_LEN);
	buf[FERRY_FRAME_RESULT_LEN] = 0;
	ck_assert_int_eq(ferry_flowrig_result_decode(buf, FERRY_FRAME_RESULT_LEN + 1, &r),
			 -EBADMSG);
	for (cap = 0; cap < sizeof(result7); cap++) {
		memset(out, 0xee, sizeof(out));
		ck_assert_uint_eq(ferry_flowmsg_result_encode(out, cap, &rin), 0);
		ck_assert_uint_eq(out[cap], 0xee);
	}
}
END_TEST

/* ---- datagram-channel messages ---- */

/* Every message type, both families where it has endpoints: the exact bytes out, the
 * same fields back, the payload pointing into the input. */
START_TEST(dg_bytes)
{
	size_t i;

	for (i = 0; i < N_DG_CASES; i++) {
		const struct dg_case *c = &dg_cases[i];
		struct ferry_flowmsg_dg d;
		uint8_t out[128], *copy;

		memset(out, 0xee, sizeof(out));
		ck_assert_msg(ferry_flowmsg_dg_encode(out, sizeof(out), &c->m) == c->len,
			      "%s: encoded length", c->name);
		ck_assert_msg(memcmp(out, c->wire, c->len) == 0, "%s: encoded bytes", c->name);
		ck_assert_uint_eq(out[c->len], 0xee);
		copy = ferry_flowrig_dup(c->wire, c->len);
		ck_assert_msg(ferry_flowmsg_dg_decode(copy, c->len, &d) == 0, "%s: decode",
			      c->name);
		dg_eq(&d, &c->m);
		if (carries_payload(c->m.type))
			ck_assert_ptr_eq(d.payload, copy + c->fixed);
		else
			ck_assert_ptr_null(d.payload);
		free(copy);
	}
}
END_TEST

/* Cut at every length: shorter than the fixed part is malformed; past it, a shorter
 * payload. A type without payload refuses one trailing byte; for the others it is one
 * more byte of payload. */
START_TEST(dg_truncated)
{
	size_t i, cut;

	for (i = 0; i < N_DG_CASES; i++) {
		const struct dg_case *c = &dg_cases[i];
		struct ferry_flowmsg_dg d;
		uint8_t longer[130];

		for (cut = 0; cut <= c->len; cut++) {
			int err = ferry_flowrig_dg_decode(c->wire, cut, &d);

			if (cut < c->fixed) {
				ck_assert_msg(err == -EBADMSG, "%s cut at %zu: %d", c->name, cut,
					      err);
			} else {
				ck_assert_msg(err == 0, "%s cut at %zu: %d", c->name, cut, err);
				ck_assert_uint_eq(d.payload_len, cut - c->fixed);
			}
		}
		memcpy(longer, c->wire, c->len);
		longer[c->len] = 'z';
		if (!carries_payload(c->m.type)) {
			ck_assert_msg(ferry_flowrig_dg_decode(longer, c->len + 1, &d) == -EBADMSG,
				      "%s with a trailing byte", c->name);
		} else {
			ck_assert_int_eq(ferry_flowrig_dg_decode(longer, c->len + 1, &d), 0);
			ck_assert_uint_eq(d.payload_len, c->len + 1 - c->fixed);
		}
	}
}
END_TEST

/* Encoders refuse any buffer shorter than the message and write nothing past it; a type
 * or a family that has no encoding gives 0 too. */
START_TEST(dg_encode_short)
{
	struct ferry_flowmsg_dg m = {.type = FERRY_DG_UDP_FROM};
	struct ferry_flowmsg_open o = {.version = 1, .proto = 6, .src = APP4, .dst = SRV4};
	uint8_t out[128];
	size_t i, cap;

	for (i = 0; i < N_DG_CASES; i++) {
		const struct dg_case *c = &dg_cases[i];

		for (cap = 0; cap < c->len; cap++) {
			memset(out, 0xee, sizeof(out));
			ck_assert_msg(ferry_flowmsg_dg_encode(out, cap, &c->m) == 0,
				      "%s into %zu bytes", c->name, cap);
			ck_assert_uint_eq(out[cap], 0xee);
		}
	}
	ck_assert_uint_eq(ferry_flowmsg_dg_encode(out, sizeof(out), &m), 0); /* family 0 */
	m.from.family = AF_UNIX;
	ck_assert_uint_eq(ferry_flowmsg_endpoint_len(&m.from), 0);
	ck_assert_uint_eq(ferry_flowmsg_dg_encode(out, sizeof(out), &m), 0);
	m.type = 0;
	ck_assert_uint_eq(ferry_flowmsg_dg_encode(out, sizeof(out), &m), 0);
	m.type = 11;
	ck_assert_uint_eq(ferry_flowmsg_dg_encode(out, sizeof(out), &m), 0);
	o.dst.family = 0;
	ck_assert_uint_eq(ferry_flowmsg_open_encode(out, sizeof(out), &o), 0);
	m.type = FERRY_DG_ECHO_REQUEST;
	m.src = app6;
	m.dst.family = AF_UNIX;
	ck_assert_uint_eq(ferry_flowmsg_dg_encode(out, sizeof(out), &m), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("flowmsg");
	TCase *frames = ferry_tcase("frames", 10);
	TCase *dg = ferry_tcase("datagrams", 10);

	tcase_add_test(frames, open_frame_bytes);
	tcase_add_test(frames, result_frame_bytes);
	tcase_add_test(frames, frame_headers);
	tcase_add_test(frames, frames_truncated);
	tcase_add_test(dg, dg_bytes);
	tcase_add_test(dg, dg_truncated);
	tcase_add_test(dg, dg_encode_short);
	suite_add_tcase(s, frames);
	suite_add_tcase(s, dg);
	return ferry_run_suite(s);
}
