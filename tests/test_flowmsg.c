// SPDX-License-Identifier: MIT
/*
 * The flow protocol's codec (transport/flowmsg.h) against the layouts of transport/wire.h.
 *
 * Hand-written bytes for the OPEN frame (IPv4 and IPv6), the RESULT frame and every
 * datagram-channel message are encoded exactly and decoded back field by field. Then
 * everything a peer can get wrong: every truncation, trailing bytes, reserved bytes, family
 * bytes, mixed families, the wrong protocol, another version, unknown types and codes. Each
 * input a decoder sees is first copied into a heap buffer of exactly its length, so that the
 * sanitizer build catches any read past the end. The OPEN frame is looked for in runs of
 * KCP segments built with ferry_arq_seg_encode; encoders are given one byte too few; codes
 * map to errno values and back.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "tests/support/fixture.h"
#include "transport/arq.h"
#include "transport/flowmsg.h"

/* Wire bytes shared by the vectors below. */
#define INSTANCE 0x1122334455667788ULL
#define INST	 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11 /* INSTANCE, little-endian */
/* family 4 | port 40000 | 10.0.0.2 */
#define EP4_APP	 4, 0x40, 0x9c, 10, 0, 0, 2
/* family 4 | port 443 | 192.0.2.1 */
#define EP4_SRV	 4, 0xbb, 0x01, 192, 0, 2, 1
/* family 6 | port 40000 | fd00::2 */
#define EP6_APP	 6, 0x40, 0x9c, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2
/* family 6 | port 443 | 2001:db8::1 */
#define EP6_SRV	 6, 0xbb, 0x01, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1

/* The same endpoints, decoded. */
#define APP4                                                            \
	{                                                               \
		.family = AF_INET, .addr = {10, 0, 0, 2}, .port = 40000 \
	}
#define SRV4                                                           \
	{                                                              \
		.family = AF_INET, .addr = {192, 0, 2, 1}, .port = 443 \
	}
#define APP6                                                                \
	{                                                                   \
		.family = AF_INET6, .addr = {0xfd, [15] = 2}, .port = 40000 \
	}
#define SRV6                                                                                \
	{                                                                                   \
		.family = AF_INET6, .addr = {0x20, 0x01, 0x0d, 0xb8, [15] = 1}, .port = 443 \
	}

/* OPEN frames: header (type 1, body length), then the body. */
static const uint8_t open4[] = {
    0x01,    0x1a, 0x00,       /* OPEN, body 26 */
    0x01,    0x06, 0x00, 0x00, /* version 1, proto 6, reserved */
    INST,		       /* instance */
    EP4_APP,		       /* src */
    EP4_SRV,		       /* dst */
};
static const uint8_t open6[] = {
    0x01,    0x32, 0x00,       /* OPEN, body 50 */
    0x01,    0x06, 0x00, 0x00, /* version 1, proto 6, reserved */
    INST,		       /* instance */
    EP6_APP,		       /* src */
    EP6_SRV,		       /* dst */
};
/* RESULT frame: code 7 (reset), reserved, instance. */
static const uint8_t result7[] = {0x02, 0x0a, 0x00, 0x07, 0x00, INST};

_Static_assert(sizeof(open4) == FERRY_FRAME_HDR_LEN + FERRY_FRAME_OPEN_FIXED + 14, "open4");
_Static_assert(sizeof(open6) == FERRY_FRAME_HDR_LEN + FERRY_FRAME_OPEN_MAX, "open6");
_Static_assert(sizeof(result7) == FERRY_FRAME_HDR_LEN + FERRY_FRAME_RESULT_LEN, "result7");

/* Datagram-channel messages (what follows the record's flow id). */
static const uint8_t dg_udp_open4[] = {0x01,	0x01,	 0x11, 0x00, 0x00, INST,
				       EP4_APP, EP4_SRV, 'p',  'i',  'n',  'g'};
static const uint8_t dg_udp_open6[] = {0x01, 0x01, 0x11, 0x00, 0x00, INST, EP6_APP, EP6_SRV};
static const uint8_t dg_udp[] = {0x02, 'd', 'a', 't', 'a'};
static const uint8_t dg_udp_empty[] = {0x02};
static const uint8_t dg_udp_from4[] = {0x03, EP4_SRV, 'r'};
static const uint8_t dg_udp_from6[] = {0x03, EP6_SRV, 'r', 'e'};
static const uint8_t dg_accept[] = {0x04, 0x00, 0x00, INST};
static const uint8_t dg_accept_denied[] = {0x04, 0x05, 0x00, INST};
static const uint8_t dg_udp_unknown[] = {0x05};
static const uint8_t dg_echo_req4[] = {0x06,	0x34, 0x12, 0x07, 0x00, EP4_APP,
				       EP4_SRV, 'a',  'b',  'c',  'd'};
static const uint8_t dg_echo_rep6[] = {0x07, 0x34, 0x12, 0x08, 0x00, EP6_APP, EP6_SRV, 'x'};
static const uint8_t dg_tcp_reset[] = {0x08, 0x07};
static const uint8_t dg_tcp_unknown[] = {0x09};
/* HELLO: version 1, flags (bit 0: a reply), reserved u16, instance. */
static const uint8_t dg_hello_reply[] = {0x0a, 0x01, 0x01, 0x00, 0x00, INST};
static const uint8_t dg_hello[] = {0x0a, 0x01, 0x00, 0x00, 0x00, INST};

_Static_assert(sizeof(dg_udp_open6) == FERRY_DG_UDP_OVERHEAD, "UDP_OPEN over IPv6");
_Static_assert(sizeof(dg_echo_rep6) == FERRY_DG_ECHO_OVERHEAD + 1, "ECHO_REPLY over IPv6");
_Static_assert(sizeof(dg_accept) == FERRY_DG_TYPE_LEN + FERRY_DG_ACCEPT_LEN, "UDP_ACCEPT");
_Static_assert(sizeof(dg_hello) == FERRY_DG_TYPE_LEN + FERRY_DG_HELLO_LEN, "HELLO");

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

/* A heap copy of exactly n bytes (one byte allocated for n = 0, never read). */
static uint8_t *dup_exact(const uint8_t *p, size_t n)
{
	uint8_t *c = malloc(n ? n : 1);

	ck_assert_ptr_nonnull(c);
	if (n)
		memcpy(c, p, n);
	return c;
}

static int dg_decode_exact(const uint8_t *p, size_t n, struct ferry_flowmsg_dg *m)
{
	uint8_t *c = dup_exact(p, n);
	int err = ferry_flowmsg_dg_decode(c, n, m);

	m->payload = NULL; /* it pointed into c */
	free(c);
	return err;
}

static int open_decode_exact(const uint8_t *p, size_t n, struct ferry_flowmsg_open *o)
{
	uint8_t *c = dup_exact(p, n);
	int err = ferry_flowmsg_open_decode(c, n, o);

	free(c);
	return err;
}

static int result_decode_exact(const uint8_t *p, size_t n, struct ferry_flowmsg_result *r)
{
	uint8_t *c = dup_exact(p, n);
	int err = ferry_flowmsg_result_decode(c, n, r);

	free(c);
	return err;
}

static int segs_exact(const uint8_t *p, size_t n, struct ferry_flowmsg_open *o)
{
	uint8_t *c = dup_exact(p, n);
	int err = ferry_flowmsg_open_in_segments(c, n, o);

	free(c);
	return err;
}

/* All 16 address bytes compare: an IPv4 address leaves the other 12 zero. */
static void ep_eq(const struct ferry_endpoint *a, const struct ferry_endpoint *b)
{
	ck_assert_uint_eq(a->family, b->family);
	ck_assert_uint_eq(a->port, b->port);
	ck_assert_mem_eq(a->addr, b->addr, sizeof(a->addr));
}

static void open_eq(const struct ferry_flowmsg_open *a, const struct ferry_flowmsg_open *b)
{
	ck_assert_uint_eq(a->version, b->version);
	ck_assert_uint_eq(a->proto, b->proto);
	ck_assert_uint_eq(a->instance, b->instance);
	ep_eq(&a->src, &b->src);
	ep_eq(&a->dst, &b->dst);
}

/* Every field, set or not: a decoder leaves the fields of other types zero. */
static void dg_eq(const struct ferry_flowmsg_dg *a, const struct ferry_flowmsg_dg *b)
{
	ck_assert_uint_eq(a->type, b->type);
	open_eq(&a->open, &b->open);
	ck_assert_uint_eq(a->result.code, b->result.code);
	ck_assert_uint_eq(a->result.instance, b->result.instance);
	ep_eq(&a->from, &b->from);
	ck_assert_uint_eq(a->ident, b->ident);
	ck_assert_uint_eq(a->seq, b->seq);
	ep_eq(&a->src, &b->src);
	ep_eq(&a->dst, &b->dst);
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

/* One segment of conversation 0x5eed at out (room: cap). */
static size_t seg(uint8_t *out, size_t cap, uint8_t cmd, uint32_t sn, const uint8_t *payload,
		  size_t len)
{
	struct ferry_arq_seg h = {
	    .conv = 0x5eed, .cmd = cmd, .wnd = 128, .ts = 1, .sn = sn, .len = (uint32_t)len};
	ssize_t n = ferry_arq_seg_encode(out, cap, &h, payload);

	ck_assert_int_eq(n, (ssize_t)(FERRY_ARQ_HDR_LEN + len));
	return (size_t)n;
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
		ck_assert_int_eq(open_decode_exact(cases[i].wire + FERRY_FRAME_HDR_LEN, f.len, &d),
				 0);
		open_eq(&d, &o);
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
	ck_assert_int_eq(result_decode_exact(result7 + 3, f.len, &d), 0);
	ck_assert_uint_eq(d.code, FERRY_FLOW_RESET);
	ck_assert_uint_eq(d.instance, INSTANCE);
	/* every code there is goes through, with its number at body offset 0 */
	for (code = 0; code < FERRY_FLOW_CODES; code++) {
		r.code = (uint8_t)code;
		ck_assert_uint_eq(ferry_flowmsg_result_encode(out, sizeof(out), &r), 13);
		ck_assert_uint_eq(out[3], code);
		ck_assert_int_eq(result_decode_exact(out + 3, 10, &d), 0);
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
		uint8_t *c = dup_exact(open4, i);

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
			ck_assert_int_eq(open_decode_exact(opens[i] + 3, cut, &o), -EBADMSG);
		memcpy(buf, opens[i] + 3, body);
		buf[body] = 0;
		ck_assert_int_eq(open_decode_exact(buf, body + 1, &o), -EBADMSG);
		ck_assert_int_eq(open_decode_exact(buf, body, &in), 0);
		for (cap = 0; cap < lens[i]; cap++) {
			memset(out, 0xee, sizeof(out));
			ck_assert_uint_eq(ferry_flowmsg_open_encode(out, cap, &in), 0);
			ck_assert_uint_eq(out[cap], 0xee);
		}
		ck_assert_uint_eq(ferry_flowmsg_open_encode(out, lens[i], &in), lens[i]);
	}
	for (cut = 0; cut < FERRY_FRAME_RESULT_LEN; cut++)
		ck_assert_int_eq(result_decode_exact(result7 + 3, cut, &r), -EBADMSG);
	memcpy(buf, result7 + 3, FERRY_FRAME_RESULT_LEN);
	buf[FERRY_FRAME_RESULT_LEN] = 0;
	ck_assert_int_eq(result_decode_exact(buf, FERRY_FRAME_RESULT_LEN + 1, &r), -EBADMSG);
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
		copy = dup_exact(c->wire, c->len);
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
			int err = dg_decode_exact(c->wire, cut, &d);

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
			ck_assert_msg(dg_decode_exact(longer, c->len + 1, &d) == -EBADMSG,
				      "%s with a trailing byte", c->name);
		} else {
			ck_assert_int_eq(dg_decode_exact(longer, c->len + 1, &d), 0);
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

/* ---- what a peer can get wrong ---- */

/* A reserved byte that is not zero makes the message malformed, wherever it is. */
START_TEST(reserved_nonzero)
{
	static const struct {
		const uint8_t *wire;
		size_t len, off;
		bool frame; /* OPEN or RESULT frame (body decoded), else a datagram message */
	} cases[] = {
	    {open4, sizeof(open4), 5, true},
	    {open4, sizeof(open4), 6, true},
	    {open6, sizeof(open6), 5, true},
	    {open6, sizeof(open6), 6, true},
	    {result7, sizeof(result7), 4, true},
	    {dg_udp_open4, sizeof(dg_udp_open4), 3, false},
	    {dg_udp_open4, sizeof(dg_udp_open4), 4, false},
	    {dg_accept, sizeof(dg_accept), 2, false},
	    {dg_hello, sizeof(dg_hello), 3, false},
	    {dg_hello_reply, sizeof(dg_hello_reply), 4, false},
	};
	static const uint8_t values[] = {0x01, 0x80, 0xff};
	size_t i, v;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (v = 0; v < sizeof(values); v++) {
			uint8_t buf[80];
			struct ferry_flowmsg_open o;
			struct ferry_flowmsg_result r;
			struct ferry_flowmsg_dg d;
			int err;

			memcpy(buf, cases[i].wire, cases[i].len);
			ck_assert_uint_eq(buf[cases[i].off], 0);
			buf[cases[i].off] = values[v];
			if (!cases[i].frame)
				err = dg_decode_exact(buf, cases[i].len, &d);
			else if (buf[0] == FERRY_FRAME_OPEN)
				err = open_decode_exact(buf + 3, cases[i].len - 3, &o);
			else
				err = result_decode_exact(buf + 3, cases[i].len - 3, &r);
			ck_assert_msg(err == -EBADMSG, "case %zu, byte %zu = 0x%02x: %d", i,
				      cases[i].off, values[v], err);
		}
	}
}
END_TEST

/* The family byte is 4 or 6 (not AF_INET's 2 or AF_INET6's 10); both endpoints of a
 * message are of one family. */
START_TEST(families)
{
	static const struct {
		const uint8_t *wire;
		size_t len, off;
		bool frame;
	} cases[] = {
	    {open4, sizeof(open4), 15, true},
	    {open4, sizeof(open4), 22, true},
	    {open6, sizeof(open6), 15, true},
	    {open6, sizeof(open6), 34, true},
	    {dg_udp_open4, sizeof(dg_udp_open4), 13, false},
	    {dg_udp_open4, sizeof(dg_udp_open4), 20, false},
	    {dg_udp_from4, sizeof(dg_udp_from4), 1, false},
	    {dg_udp_from6, sizeof(dg_udp_from6), 1, false},
	    {dg_echo_req4, sizeof(dg_echo_req4), 5, false},
	    {dg_echo_req4, sizeof(dg_echo_req4), 12, false},
	    {dg_echo_rep6, sizeof(dg_echo_rep6), 5, false},
	    {dg_echo_rep6, sizeof(dg_echo_rep6), 24, false},
	};
	static const uint8_t values[] = {0, AF_INET, AF_INET6, 5, 0xff};
	static const uint8_t open_mixed[] = {0x01, 0x06, 0x00, 0x00, INST, EP4_APP, EP6_SRV};
	static const uint8_t open_mixed2[] = {0x01, 0x06, 0x00, 0x00, INST, EP6_APP, EP4_SRV};
	static const uint8_t udp_open_mixed[] = {0x01, 0x01,	0x11,	 0x00, 0x00,
						 INST, EP6_APP, EP4_SRV, 'p'};
	static const uint8_t echo_mixed[] = {0x06, 0x34, 0x12, 0x07, 0x00, EP4_APP, EP6_SRV};
	static const uint8_t echo_mixed2[] = {0x07, 0x34, 0x12, 0x07, 0x00, EP6_APP, EP4_SRV, 'x'};
	struct ferry_flowmsg_open o;
	struct ferry_flowmsg_dg d;
	size_t i, v;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (v = 0; v < sizeof(values); v++) {
			uint8_t buf[80];
			int err;

			memcpy(buf, cases[i].wire, cases[i].len);
			ck_assert(buf[cases[i].off] == 4 || buf[cases[i].off] == 6);
			buf[cases[i].off] = values[v];
			if (cases[i].frame)
				err = open_decode_exact(buf + 3, cases[i].len - 3, &o);
			else
				err = dg_decode_exact(buf, cases[i].len, &d);
			ck_assert_msg(err == -EBADMSG, "case %zu, family byte %u: %d", i, values[v],
				      err);
		}
	}
	ck_assert_int_eq(open_decode_exact(open_mixed, sizeof(open_mixed), &o), -EBADMSG);
	ck_assert_int_eq(open_decode_exact(open_mixed2, sizeof(open_mixed2), &o), -EBADMSG);
	ck_assert_int_eq(dg_decode_exact(udp_open_mixed, sizeof(udp_open_mixed), &d), -EBADMSG);
	ck_assert_int_eq(dg_decode_exact(echo_mixed, sizeof(echo_mixed), &d), -EBADMSG);
	ck_assert_int_eq(dg_decode_exact(echo_mixed2, sizeof(echo_mixed2), &d), -EBADMSG);
}
END_TEST

/* OPEN is TCP's (proto 6), UDP_OPEN UDP's (17); nothing else passes either. */
START_TEST(wrong_proto)
{
	static const uint8_t protos[] = {0, 1, 6, 17, 58, 0xff};
	struct ferry_flowmsg_open o = {
	    .version = 1, .proto = 17, .instance = 1, .src = APP4, .dst = SRV4};
	struct ferry_flowmsg_dg d;
	uint8_t buf[80];
	size_t i, n;

	for (i = 0; i < sizeof(protos); i++) {
		memcpy(buf, open4, sizeof(open4));
		buf[4] = protos[i];
		ck_assert_int_eq(open_decode_exact(buf + 3, sizeof(open4) - 3, &o),
				 protos[i] == 6 ? 0 : -EBADMSG);
		memcpy(buf, dg_udp_open4, sizeof(dg_udp_open4));
		buf[2] = protos[i];
		ck_assert_int_eq(dg_decode_exact(buf, sizeof(dg_udp_open4), &d),
				 protos[i] == 17 ? 0 : -EBADMSG);
	}
	/* the encoder writes what it is given; the decoder is the one that refuses */
	o.proto = 17;
	n = ferry_flowmsg_open_encode(buf, sizeof(buf), &o);
	ck_assert_uint_eq(n, sizeof(open4));
	ck_assert_int_eq(open_decode_exact(buf + 3, n - 3, &o), -EBADMSG);
}
END_TEST

/* Another version is told apart from a malformed message, and reported; whatever follows
 * the version byte is not read. */
START_TEST(other_versions)
{
	static const uint8_t versions[] = {0, 2, 0x80, 0xff};
	static const uint8_t bare[] = {0x02};
	static const uint8_t hello_bare[] = {0x0a, 0x02};
	static const uint8_t udp_open_bare[] = {0x01, 0x02};
	struct ferry_flowmsg_open o;
	struct ferry_flowmsg_dg d;
	uint8_t buf[80];
	size_t i;

	for (i = 0; i < sizeof(versions); i++) {
		memcpy(buf, open6, sizeof(open6));
		buf[3] = versions[i];
		ck_assert_int_eq(open_decode_exact(buf + 3, sizeof(open6) - 3, &o),
				 -EPROTONOSUPPORT);
		ck_assert_uint_eq(o.version, versions[i]);
		memcpy(buf, dg_udp_open4, sizeof(dg_udp_open4));
		buf[1] = versions[i];
		ck_assert_int_eq(dg_decode_exact(buf, sizeof(dg_udp_open4), &d), -EPROTONOSUPPORT);
		ck_assert_uint_eq(d.open.version, versions[i]);
		memcpy(buf, dg_hello, sizeof(dg_hello));
		buf[1] = versions[i];
		ck_assert_int_eq(dg_decode_exact(buf, sizeof(dg_hello), &d), -EPROTONOSUPPORT);
		ck_assert_uint_eq(d.version, versions[i]);
	}
	ck_assert_int_eq(open_decode_exact(bare, sizeof(bare), &o), -EPROTONOSUPPORT);
	ck_assert_int_eq(dg_decode_exact(hello_bare, sizeof(hello_bare), &d), -EPROTONOSUPPORT);
	ck_assert_int_eq(dg_decode_exact(udp_open_bare, sizeof(udp_open_bare), &d),
			 -EPROTONOSUPPORT);
	/* with no version byte at all it is just short */
	ck_assert_int_eq(open_decode_exact(bare, 0, &o), -EBADMSG);
}
END_TEST

START_TEST(unknown_types)
{
	static const uint8_t types[] = {0, 11, 0x7f, 0x80, 0xff};
	struct ferry_flowmsg_dg d;
	uint8_t buf[16] = {0};
	size_t i;

	for (i = 0; i < sizeof(types); i++) {
		buf[0] = types[i];
		ck_assert_int_eq(dg_decode_exact(buf, 1, &d), -EPROTO);
		ck_assert_int_eq(dg_decode_exact(buf, sizeof(buf), &d), -EPROTO);
		ck_assert_uint_eq(d.type, types[i]);
	}
	ck_assert_int_eq(dg_decode_exact(buf, 0, &d), -EBADMSG);
}
END_TEST

/* ---- codes ---- */

START_TEST(codes)
{
	static const struct {
		uint8_t code;
		int err;
		const char *name;
	} table[] = {
	    {FERRY_FLOW_OK, 0, "ok"},
	    {FERRY_FLOW_REFUSED, -ECONNREFUSED, "refused"},
	    {FERRY_FLOW_NET_UNREACH, -ENETUNREACH, "network unreachable"},
	    {FERRY_FLOW_HOST_UNREACH, -EHOSTUNREACH, "host unreachable"},
	    {FERRY_FLOW_TIMEDOUT, -ETIMEDOUT, "timed out"},
	    {FERRY_FLOW_DENIED, -EACCES, "denied by egress policy"},
	    {FERRY_FLOW_NO_RESOURCES, -ENOSPC, "no resources"},
	    {FERRY_FLOW_RESET, -ECONNRESET, "reset"},
	    {FERRY_FLOW_ABORTED, -ECONNABORTED, "aborted"},
	    {FERRY_FLOW_SOURCE, -EPERM, "source not allowed"},
	    {FERRY_FLOW_VERSION_BAD, -EPROTONOSUPPORT, "unsupported version"},
	};
	/* errno values that share a code with one of the table's */
	static const struct {
		int err;
		uint8_t code;
	} more[] = {
	    {-ENETDOWN, FERRY_FLOW_NET_UNREACH},
	    {-EHOSTDOWN, FERRY_FLOW_HOST_UNREACH},
	    {-EADDRNOTAVAIL, FERRY_FLOW_HOST_UNREACH},
	    {-ENOMEM, FERRY_FLOW_NO_RESOURCES},
	    {-ENOBUFS, FERRY_FLOW_NO_RESOURCES},
	    {-EMFILE, FERRY_FLOW_NO_RESOURCES},
	    {-ENFILE, FERRY_FLOW_NO_RESOURCES},
	    {-EIO, FERRY_FLOW_ABORTED},
	    {-EINVAL, FERRY_FLOW_ABORTED},
	    {-EPIPE, FERRY_FLOW_ABORTED},
	    {ECONNREFUSED, FERRY_FLOW_ABORTED}, /* a positive value is no errno of ours */
	};
	size_t i;

	_Static_assert(sizeof(table) / sizeof(table[0]) == FERRY_FLOW_CODES, "every code");
	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		ck_assert_uint_eq(table[i].code, i); /* the numbers are the wire's */
		ck_assert_int_eq(ferry_flowmsg_errno(table[i].code), table[i].err);
		ck_assert_uint_eq(ferry_flowmsg_code(table[i].err), table[i].code);
		ck_assert_uint_eq(ferry_flowmsg_code(ferry_flowmsg_errno(table[i].code)),
				  table[i].code);
		ck_assert_str_eq(ferry_flowmsg_code_name(table[i].code), table[i].name);
	}
	for (i = 0; i < sizeof(more) / sizeof(more[0]); i++) {
		ck_assert_uint_eq(ferry_flowmsg_code(more[i].err), more[i].code);
		ck_assert_uint_eq(ferry_flowmsg_code(ferry_flowmsg_errno(more[i].code)),
				  more[i].code);
	}
	for (i = FERRY_FLOW_CODES; i <= 0xff; i++) {
		ck_assert_int_eq(ferry_flowmsg_errno((uint8_t)i), -ECONNABORTED);
		ck_assert_str_eq(ferry_flowmsg_code_name((uint8_t)i), "?");
	}
}
END_TEST

/* A code the protocol does not define makes RESULT, UDP_ACCEPT and TCP_RESET malformed. */
START_TEST(codes_on_the_wire)
{
	static const uint8_t bad[] = {FERRY_FLOW_CODES, 0x80, 0xff};
	struct ferry_flowmsg_result r;
	struct ferry_flowmsg_dg d;
	uint8_t buf[16];
	size_t i;

	for (i = 0; i < FERRY_FLOW_CODES + sizeof(bad); i++) {
		uint8_t code = i < FERRY_FLOW_CODES ? (uint8_t)i : bad[i - FERRY_FLOW_CODES];
		int want = i < FERRY_FLOW_CODES ? 0 : -EBADMSG;

		memcpy(buf, result7, sizeof(result7));
		buf[3] = code;
		ck_assert_int_eq(result_decode_exact(buf + 3, 10, &r), want);
		memcpy(buf, dg_accept, sizeof(dg_accept));
		buf[1] = code;
		ck_assert_int_eq(dg_decode_exact(buf, sizeof(dg_accept), &d), want);
		buf[0] = FERRY_DG_TCP_RESET;
		buf[1] = code;
		ck_assert_int_eq(dg_decode_exact(buf, 2, &d), want);
		if (!want)
			ck_assert_uint_eq(d.code, code);
	}
}
END_TEST

/* ---- the OPEN frame in a run of KCP segments ---- */

START_TEST(open_in_segments)
{
	struct ferry_flowmsg_open
	    want4 = {.version = 1, .proto = 6, .instance = INSTANCE, .src = APP4, .dst = SRV4},
	    want6 = {.version = 1, .proto = 6, .instance = INSTANCE, .src = APP6, .dst = SRV6}, o;
	static const uint8_t data_hi[] = {0x03, 0x02, 0x00, 'h', 'i'};
	uint8_t run[512], payload[128];
	size_t n, k;

	/* PUSH sn 0 carrying an OPEN frame */
	n = seg(run, sizeof(run), FERRY_ARQ_CMD_PUSH, 0, open4, sizeof(open4));
	ck_assert_int_eq(segs_exact(run, n, &o), 0);
	open_eq(&o, &want4);
	/* ... followed by a DATA frame in the same segment */
	memcpy(payload, open6, sizeof(open6));
	memcpy(payload + sizeof(open6), data_hi, sizeof(data_hi));
	n = seg(run, sizeof(run), FERRY_ARQ_CMD_PUSH, 0, payload, sizeof(open6) + sizeof(data_hi));
	ck_assert_int_eq(segs_exact(run, n, &o), 0);
	open_eq(&o, &want6);
	/* the same frame at sn 1 is not a conversation's start */
	n = seg(run, sizeof(run), FERRY_ARQ_CMD_PUSH, 1, open4, sizeof(open4));
	ck_assert_int_eq(segs_exact(run, n, &o), -ENOENT);
	/* an ACK alone, a probe, a window announcement */
	n = seg(run, sizeof(run), FERRY_ARQ_CMD_ACK, 0, NULL, 0);
	ck_assert_int_eq(segs_exact(run, n, &o), -ENOENT);
	n += seg(run + n, sizeof(run) - n, FERRY_ARQ_CMD_WASK, 0, NULL, 0);
	n += seg(run + n, sizeof(run) - n, FERRY_ARQ_CMD_WINS, 0, NULL, 0);
	ck_assert_int_eq(segs_exact(run, n, &o), -ENOENT);
	/* an ACK, then the OPEN */
	n = seg(run, sizeof(run), FERRY_ARQ_CMD_ACK, 0, NULL, 0);
	n += seg(run + n, sizeof(run) - n, FERRY_ARQ_CMD_PUSH, 0, open4, sizeof(open4));
	ck_assert_int_eq(segs_exact(run, n, &o), 0);
	open_eq(&o, &want4);
	/* ... and that run cut at every length before its end: never found, never over-read */
	for (k = 0; k < n; k++)
		ck_assert_msg(segs_exact(run, k, &o) == -ENOENT, "cut at %zu", k);
	/* sn 1 arriving before sn 0 in the same run */
	n = seg(run, sizeof(run), FERRY_ARQ_CMD_PUSH, 1, data_hi, sizeof(data_hi));
	n += seg(run + n, sizeof(run) - n, FERRY_ARQ_CMD_PUSH, 0, open6, sizeof(open6));
	ck_assert_int_eq(segs_exact(run, n, &o), 0);
	open_eq(&o, &want6);
	/* sn 0 that starts with another frame, or with no whole frame header */
	n = seg(run, sizeof(run), FERRY_ARQ_CMD_PUSH, 0, data_hi, sizeof(data_hi));
	ck_assert_int_eq(segs_exact(run, n, &o), -ENOENT);
	for (k = 0; k < FERRY_FRAME_HDR_LEN; k++) {
		n = seg(run, sizeof(run), FERRY_ARQ_CMD_PUSH, 0, open4, k);
		ck_assert_int_eq(segs_exact(run, n, &o), -ENOENT);
	}
	/* the OPEN frame cut short inside its segment, even with more segments after it: the
	 * frame's length is not read past its segment */
	for (k = FERRY_FRAME_HDR_LEN; k < sizeof(open4); k++) {
		n = seg(run, sizeof(run), FERRY_ARQ_CMD_PUSH, 0, open4, k);
		n += seg(run + n, sizeof(run) - n, FERRY_ARQ_CMD_PUSH, 1, open4 + k,
			 sizeof(open4) - k);
		ck_assert_msg(segs_exact(run, n, &o) == -ENOENT, "OPEN cut at %zu", k);
	}
	/* a segment announcing more than the run holds, up to the largest u32 */
	n = seg(run, sizeof(run), FERRY_ARQ_CMD_PUSH, 0, open4, sizeof(open4));
	ferry_wire_put_le32(run + 20, 0xffffffffu);
	ck_assert_int_eq(segs_exact(run, n, &o), -ENOENT);
	ferry_wire_put_le32(run + 20, (uint32_t)sizeof(open4) + 1);
	ck_assert_int_eq(segs_exact(run, n, &o), -ENOENT);
	/* a bad OPEN is reported as the decoder says */
	memcpy(payload, open4, sizeof(open4));
	payload[5] = 1; /* reserved */
	n = seg(run, sizeof(run), FERRY_ARQ_CMD_PUSH, 0, payload, sizeof(open4));
	ck_assert_int_eq(segs_exact(run, n, &o), -EBADMSG);
	memcpy(payload, open4, sizeof(open4));
	payload[4] = 17; /* proto */
	n = seg(run, sizeof(run), FERRY_ARQ_CMD_PUSH, 0, payload, sizeof(open4));
	ck_assert_int_eq(segs_exact(run, n, &o), -EBADMSG);
	memcpy(payload, open4, sizeof(open4));
	payload[3] = 2; /* version */
	n = seg(run, sizeof(run), FERRY_ARQ_CMD_PUSH, 0, payload, sizeof(open4));
	ck_assert_int_eq(segs_exact(run, n, &o), -EPROTONOSUPPORT);
	ck_assert_uint_eq(o.version, 2);
	/* nothing at all */
	ck_assert_int_eq(segs_exact(run, 0, &o), -ENOENT);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("flowmsg");
	TCase *frames = ferry_tcase("frames", 10);
	TCase *dg = ferry_tcase("datagrams", 10);
	TCase *bad = ferry_tcase("malformed", 10);
	TCase *codes_tc = ferry_tcase("codes", 10);
	TCase *segs = ferry_tcase("segments", 10);

	tcase_add_test(frames, open_frame_bytes);
	tcase_add_test(frames, result_frame_bytes);
	tcase_add_test(frames, frame_headers);
	tcase_add_test(frames, frames_truncated);
	tcase_add_test(dg, dg_bytes);
	tcase_add_test(dg, dg_truncated);
	tcase_add_test(dg, dg_encode_short);
	tcase_add_test(bad, reserved_nonzero);
	tcase_add_test(bad, families);
	tcase_add_test(bad, wrong_proto);
	tcase_add_test(bad, other_versions);
	tcase_add_test(bad, unknown_types);
	tcase_add_test(codes_tc, codes);
	tcase_add_test(codes_tc, codes_on_the_wire);
	tcase_add_test(segs, open_in_segments);
	suite_add_tcase(s, frames);
	suite_add_tcase(s, dg);
	suite_add_tcase(s, bad);
	suite_add_tcase(s, codes_tc);
	suite_add_tcase(s, segs);
	return ferry_run_suite(s);
}
