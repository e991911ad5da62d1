// SPDX-License-Identifier: MIT
/*
 * The flow protocol's codec (transport/flowmsg.h) against what a peer can get wrong.
 *
 * Starting from the vectors of tests/support/flowrig.h: reserved bytes, family bytes, mixed
 * families, the wrong protocol, another version, unknown types and codes; the codes mapped
 * to errno values and back; the OPEN frame looked for in runs of KCP segments built with
 * ferry_arq_seg_encode, cut short, reordered and lying about their length.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "tests/support/fixture.h"
#include "tests/support/flowrig.h"
#include "transport/arq.h"

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
				err = ferry_flowrig_dg_decode(buf, cases[i].len, &d);
			else if (buf[0] == FERRY_FRAME_OPEN)
				err = ferry_flowrig_open_decode(buf + 3, cases[i].len - 3, &o);
			else
				err = ferry_flowrig_result_decode(buf + 3, cases[i].len - 3, &r);
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
				err = ferry_flowrig_open_decode(buf + 3, cases[i].len - 3, &o);
			else
				err = ferry_flowrig_dg_decode(buf, cases[i].len, &d);
			ck_assert_msg(err == -EBADMSG, "case %zu, family byte %u: %d", i, values[v],
				      err);
		}
	}
	ck_assert_int_eq(ferry_flowrig_open_decode(open_mixed, sizeof(open_mixed), &o), -EBADMSG);
	ck_assert_int_eq(ferry_flowrig_open_decode(open_mixed2, sizeof(open_mixed2), &o), -EBADMSG);
	ck_assert_int_eq(ferry_flowrig_dg_decode(udp_open_mixed, sizeof(udp_open_mixed), &d),
			 -EBADMSG);
	ck_assert_int_eq(ferry_flowrig_dg_decode(echo_mixed, sizeof(echo_mixed), &d), -EBADMSG);
	ck_assert_int_eq(ferry_flowrig_dg_decode(echo_mixed2, sizeof(echo_mixed2), &d), -EBADMSG);
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
		ck_assert_int_eq(ferry_flowrig_open_decode(buf + 3, sizeof(open4) - 3, &o),
				 protos[i] == 6 ? 0 : -EBADMSG);
		memcpy(buf, dg_udp_open4, sizeof(dg_udp_open4));
		buf[2] = protos[i];
		ck_assert_int_eq(ferry_flowrig_dg_decode(buf, sizeof(dg_udp_open4), &d),
				 protos[i] == 17 ? 0 : -EBADMSG);
	}
	/* the encoder writes what it is given; the decoder is the one that refuses */
	o.proto = 17;
	n = ferry_flowmsg_open_encode(buf, sizeof(buf), &o);
	ck_assert_uint_eq(n, sizeof(open4));
	ck_assert_int_eq(ferry_flowrig_open_decode(buf + 3, n - 3, &o), -EBADMSG);
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
		ck_assert_int_eq(ferry_flowrig_open_decode(buf + 3, sizeof(open6) - 3, &o),
				 -EPROTONOSUPPORT);
		ck_assert_uint_eq(o.version, versions[i]);
		memcpy(buf, dg_udp_open4, sizeof(dg_udp_open4));
		buf[1] = versions[i];
		ck_assert_int_eq(ferry_flowrig_dg_decode(buf, sizeof(dg_udp_open4), &d),
				 -EPROTONOSUPPORT);
		ck_assert_uint_eq(d.open.version, versions[i]);
		memcpy(buf, dg_hello, sizeof(dg_hello));
		buf[1] = versions[i];
		ck_assert_int_eq(ferry_flowrig_dg_decode(buf, sizeof(dg_hello), &d),
				 -EPROTONOSUPPORT);
		ck_assert_uint_eq(d.version, versions[i]);
	}
	ck_assert_int_eq(ferry_flowrig_open_decode(bare, sizeof(bare), &o), -EPROTONOSUPPORT);
	ck_assert_int_eq(ferry_flowrig_dg_decode(hello_bare, sizeof(hello_bare), &d),
			 -EPROTONOSUPPORT);
	ck_assert_int_eq(ferry_flowrig_dg_decode(udp_open_bare, sizeof(udp_open_bare), &d),
			 -EPROTONOSUPPORT);
	/* with no version byte at all it is just short */
	ck_assert_int_eq(ferry_flowrig_open_decode(bare, 0, &o), -EBADMSG);
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
		ck_assert_int_eq(ferry_flowrig_dg_decode(buf, 1, &d), -EPROTO);
		ck_assert_int_eq(ferry_flowrig_dg_decode(buf, sizeof(buf), &d), -EPROTO);
		ck_assert_uint_eq(d.type, types[i]);
	}
	ck_assert_int_eq(ferry_flowrig_dg_decode(buf, 0, &d), -EBADMSG);
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
		ck_assert_int_eq(ferry_flowrig_result_decode(buf + 3, 10, &r), want);
		memcpy(buf, dg_accept, sizeof(dg_accept));
		buf[1] = code;
		ck_assert_int_eq(ferry_flowrig_dg_decode(buf, sizeof(dg_accept), &d), want);
		buf[0] = FERRY_DG_TCP_RESET;
		buf[1] = code;
		ck_assert_int_eq(ferry_flowrig_dg_decode(buf, 2, &d), want);
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
	ck_assert_int_eq(ferry_flowrig_open_in_segments(run, n, &o), 0);
	ferry_flowrig_open_eq(&o, &want4);
	/* ... followed by a DATA frame in the same segment */
	memcpy(payload, open6, sizeof(open6));
	memcpy(payload + sizeof(open6), data_hi, sizeof(data_hi));
	n = seg(run, sizeof(run), FERRY_ARQ_CMD_PUSH, 0, payload, sizeof(open6) + sizeof(data_hi));
	ck_assert_int_eq(ferry_flowrig_open_in_segments(run, n, &o), 0);
	ferry_flowrig_open_eq(&o, &want6);
	/* the same frame at sn 1 is not a conversation's start */
	n = seg(run, sizeof(run), FERRY_ARQ_CMD_PUSH, 1, open4, sizeof(open4));
	ck_assert_int_eq(ferry_flowrig_open_in_segments(run, n, &o), -ENOENT);
	/* an ACK alone, a probe, a window announcement */
	n = seg(run, sizeof(run), FERRY_ARQ_CMD_ACK, 0, NULL, 0);
	ck_assert_int_eq(ferry_flowrig_open_in_segments(run, n, &o), -ENOENT);
	n += seg(run + n, sizeof(run) - n, FERRY_ARQ_CMD_WASK, 0, NULL, 0);
	n += seg(run + n, sizeof(run) - n, FERRY_ARQ_CMD_WINS, 0, NULL, 0);
	ck_assert_int_eq(ferry_flowrig_open_in_segments(run, n, &o), -ENOENT);
	/* an ACK, then the OPEN */
	n = seg(run, sizeof(run), FERRY_ARQ_CMD_ACK, 0, NULL, 0);
	n += seg(run + n, sizeof(run) - n, FERRY_ARQ_CMD_PUSH, 0, open4, sizeof(open4));
	ck_assert_int_eq(ferry_flowrig_open_in_segments(run, n, &o), 0);
	ferry_flowrig_open_eq(&o, &want4);
	/* ... and that run cut at every length before its end: never found, never over-read */
	for (k = 0; k < n; k++)
		ck_assert_msg(ferry_flowrig_open_in_segments(run, k, &o) == -ENOENT, "cut at %zu",
			      k);
	/* sn 1 arriving before sn 0 in the same run */
	n = seg(run, sizeof(run), FERRY_ARQ_CMD_PUSH, 1, data_hi, sizeof(data_hi));
	n += seg(run + n, sizeof(run) - n, FERRY_ARQ_CMD_PUSH, 0, open6, sizeof(open6));
	ck_assert_int_eq(ferry_flowrig_open_in_segments(run, n, &o), 0);
	ferry_flowrig_open_eq(&o, &want6);
	/* sn 0 that starts with another frame, or with no whole frame header */
	n = seg(run, sizeof(run), FERRY_ARQ_CMD_PUSH, 0, data_hi, sizeof(data_hi));
	ck_assert_int_eq(ferry_flowrig_open_in_segments(run, n, &o), -ENOENT);
	for (k = 0; k < FERRY_FRAME_HDR_LEN; k++) {
		n = seg(run, sizeof(run), FERRY_ARQ_CMD_PUSH, 0, open4, k);
		ck_assert_int_eq(ferry_flowrig_open_in_segments(run, n, &o), -ENOENT);
	}
	/* the OPEN frame cut short inside its segment, even with more segments after it: the
	 * frame's length is not read past its segment */
	for (k = FERRY_FRAME_HDR_LEN; k < sizeof(open4); k++) {
		n = seg(run, sizeof(run), FERRY_ARQ_CMD_PUSH, 0, open4, k);
		n += seg(run + n, sizeof(run) - n, FERRY_ARQ_CMD_PUSH, 1, open4 + k,
			 sizeof(open4) - k);
		ck_assert_msg(ferry_flowrig_open_in_segments(run, n, &o) == -ENOENT,
			      "OPEN cut at %zu", k);
	}
	/* a segment announcing more than the run holds, up to the largest u32 */
	n = seg(run, sizeof(run), FERRY_ARQ_CMD_PUSH, 0, open4, sizeof(open4));
	ferry_wire_put_le32(run + 20, 0xffffffffu);
	ck_assert_int_eq(ferry_flowrig_open_in_segments(run, n, &o), -ENOENT);
	ferry_wire_put_le32(run + 20, (uint32_t)sizeof(open4) + 1);
	ck_assert_int_eq(ferry_flowrig_open_in_segments(run, n, &o), -ENOENT);
	/* a bad OPEN is reported as the decoder says */
	memcpy(payload, open4, sizeof(open4));
	payload[5] = 1; /* reserved */
	n = seg(run, sizeof(run), FERRY_ARQ_CMD_PUSH, 0, payload, sizeof(open4));
	ck_assert_int_eq(ferry_flowrig_open_in_segments(run, n, &o), -EBADMSG);
	memcpy(payload, open4, sizeof(open4));
	payload[4] = 17; /* proto */
	n = seg(run, sizeof(run), FERRY_ARQ_CMD_PUSH, 0, payload, sizeof(open4));
	ck_assert_int_eq(ferry_flowrig_open_in_segments(run, n, &o), -EBADMSG);
	memcpy(payload, open4, sizeof(open4));
	payload[3] = 2; /* version */
	n = seg(run, sizeof(run), FERRY_ARQ_CMD_PUSH, 0, payload, sizeof(open4));
	ck_assert_int_eq(ferry_flowrig_open_in_segments(run, n, &o), -EPROTONOSUPPORT);
	ck_assert_uint_eq(o.version, 2);
	/* nothing at all */
	ck_assert_int_eq(ferry_flowrig_open_in_segments(run, 0, &o), -ENOENT);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("flowmsg_peer");
	TCase *bad = ferry_tcase("malformed", 10);
	TCase *codes_tc = ferry_tcase("codes", 10);
	TCase *segs = ferry_tcase("segments", 10);

	tcase_add_test(bad, reserved_nonzero);
	tcase_add_test(bad, families);
	tcase_add_test(bad, wrong_proto);
	tcase_add_test(bad, other_versions);
	tcase_add_test(bad, unknown_types);
	tcase_add_test(codes_tc, codes);
	tcase_add_test(codes_tc, codes_on_the_wire);
	tcase_add_test(segs, open_in_segments);
	suite_add_tcase(s, bad);
	suite_add_tcase(s, codes_tc);
	suite_add_tcase(s, segs);
	return ferry_run_suite(s);
}
