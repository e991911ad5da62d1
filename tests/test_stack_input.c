// SPDX-License-Identifier: MIT
/*
 * The stack's front door: what ferry_stack_input and ferry_stack_input_batch accept.
 *
 * Covered: malformed input (short, bad version or header length, fragments, IPv4 options,
 * IPv6 extension headers, bad TCP data offset, TCP options or UDP length, multicast and
 * broadcast, oversized IPv6, unsupported protocols and ICMP types) dropped and counted
 * under the right reason, with no flow opened (only a SYN with DF alone and one with
 * well-formed options get through, as they should) and nothing written back but a
 * protocol unreachable for a protocol ferry does not carry; a TUN batch in pool buffers.
 *
 * The harness is tests/support/stackfake.h: crafted IPv4/IPv6 packets go into
 * ferry_stack_input, a fake transport plays the caller, and every packet the stack writes
 * to the "TUN" is parsed and asserted on (checksums included).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "stack/stack.h"
#include "tests/support/fixture.h"
#include "tests/support/pkt.h"
#include "tests/support/stackfake.h"

/* A macro, so that a failure names the line of the packet that was not dropped. */
#define expect_drop(f, pkt, len, why)                                                          \
	do {                                                                                   \
		uint64_t before_ = ferry_stack_get_stats((f)->stack)->drops[why];              \
                                                                                               \
		ck_assert_int_lt(ferry_stack_input((f)->stack, (pkt), (len)), 0);              \
		ck_assert_uint_eq(ferry_stack_get_stats((f)->stack)->drops[why], before_ + 1); \
	} while (0)

START_TEST(malformed_dropped_and_counted)
{
	struct ferry_stackfake *f = ferry_stackfake_new(1500);
	uint8_t buf[256];
	struct ferry_tpkt t;
	size_t n;

	ferry_tpkt_tcp(&t, FERRY_STACKFAKE_APP4, 1, FERRY_STACKFAKE_DST4, 2, FERRY_TPKT_SYN, 0, 0);
	n = ferry_tpkt_build(buf, sizeof(buf), &t);
	expect_drop(f, buf, 0, FERRY_STACK_DROP_SHORT);
	expect_drop(f, buf, 19, FERRY_STACK_DROP_SHORT);
	expect_drop(f, buf, n - 1, FERRY_STACK_DROP_SHORT); /* total length > bytes */
	buf[0] = 0x44;					    /* IHL 16 bytes */
	expect_drop(f, buf, n, FERRY_STACK_DROP_HEADER);
	buf[0] = 0x75; /* version 7 */
	expect_drop(f, buf, n, FERRY_STACK_DROP_VERSION);
	buf[0] = 0x45;
	buf[2] = 0;
	buf[3] = 10; /* total length < header */
	expect_drop(f, buf, n, FERRY_STACK_DROP_HEADER);

	t.frag = 0x2000; /* MF */
	n = ferry_tpkt_build(buf, sizeof(buf), &t);
	expect_drop(f, buf, n, FERRY_STACK_DROP_FRAGMENT);
	t.frag = 0x0010; /* offset */
	n = ferry_tpkt_build(buf, sizeof(buf), &t);
	expect_drop(f, buf, n, FERRY_STACK_DROP_FRAGMENT);
	t.frag = 0x4000; /* DF alone is fine: reaches the flow table */
	n = ferry_tpkt_build(buf, sizeof(buf), &t);
	ck_assert_int_eq(ferry_stack_input(f->stack, buf, n), 0);
	t.frag = 0;
	t.ip_options = 4;
	n = ferry_tpkt_build(buf, sizeof(buf), &t);
	expect_drop(f, buf, n, FERRY_STACK_DROP_OPTIONS);

	/* TCP data offset beyond the segment, or below 5 words. */
	ferry_tpkt_tcp(&t, FERRY_STACKFAKE_APP4, 1, FERRY_STACKFAKE_DST4, 3, FERRY_TPKT_SYN, 0, 0);
	n = ferry_tpkt_build(buf, sizeof(buf), &t);
	buf[20 + 12] = 0xf0;
	expect_drop(f, buf, n, FERRY_STACK_DROP_HEADER);
	buf[20 + 12] = 0x40;
	expect_drop(f, buf, n, FERRY_STACK_DROP_HEADER);

	/* TCP options that run past the header: a kind in the last byte without its length
	 * (lwIP read one byte past the packet for it), a length beyond the header, a length
	 * below 2. Well-formed ones, ended early by an end of list, get through. */
	ferry_tpkt_tcp(&t, FERRY_STACKFAKE_APP4, 1, FERRY_STACKFAKE_DST4, 4, FERRY_TPKT_SYN, 0, 0);
	t.mss = 1460;
	n = ferry_tpkt_build(buf, sizeof(buf), &t);
	ck_assert_uint_eq(buf[20 + 12] >> 4, 6); /* 24 bytes: MSS 2 4 x x */
	memcpy(buf + 40, "\x01\x01\x01\x08", 4);
	expect_drop(f, buf, n, FERRY_STACK_DROP_HEADER);
	memcpy(buf + 40, "\x01\x01\x03\x03", 4);
	expect_drop(f, buf, n, FERRY_STACK_DROP_HEADER);
	memcpy(buf + 40, "\x01\x01\x05\x01", 4);
	expect_drop(f, buf, n, FERRY_STACK_DROP_HEADER);
	memcpy(buf + 40, "\x01\x01\x03\x01", 4);
	expect_drop(f, buf, n, FERRY_STACK_DROP_HEADER);
	memcpy(buf + 40, "\x01\x01\x00\x08", 4);
	ck_assert_int_eq(ferry_stack_input(f->stack, buf, n), 0);
	/* an MSS option outside a SYN (lwIP 2.1 took it, and aborted on its next write) */
	ferry_tpkt_tcp(&t, FERRY_STACKFAKE_APP4, 1, FERRY_STACKFAKE_DST4, 5, FERRY_TPKT_ACK, 0, 0);
	t.mss = 536;
	n = ferry_tpkt_build(buf, sizeof(buf), &t);
	expect_drop(f, buf, n, FERRY_STACK_DROP_HEADER);

	/* UDP length larger than the packet. */
	ferry_tpkt_udp(&t, FERRY_STACKFAKE_APP4, 1, FERRY_STACKFAKE_DST4, 53, "abc", 3);
	n = ferry_tpkt_build(buf, sizeof(buf), &t);
	buf[20 + 5] = 200;
	expect_drop(f, buf, n, FERRY_STACK_DROP_HEADER);

	/* Multicast and broadcast destinations. */
	ferry_tpkt_udp(&t, FERRY_STACKFAKE_APP4, 1, "224.0.0.251", 5353, "m", 1);
	n = ferry_tpkt_build(buf, sizeof(buf), &t);
	expect_drop(f, buf, n, FERRY_STACK_DROP_ADDRESS);
	ferry_tpkt_udp(&t, FERRY_STACKFAKE_APP4, 68, "255.255.255.255", 67, "b", 1);
	n = ferry_tpkt_build(buf, sizeof(buf), &t);
	expect_drop(f, buf, n, FERRY_STACK_DROP_ADDRESS);
	ferry_tpkt_udp(&t, FERRY_STACKFAKE_APP6, 1, "ff02::fb", 5353, "m", 1);
	n = ferry_tpkt_build(buf, sizeof(buf), &t);
	expect_drop(f, buf, n, FERRY_STACK_DROP_ADDRESS);

	/* IPv6 extension headers, fragments, truncation. */
	ferry_tpkt_tcp(&t, FERRY_STACKFAKE_APP6, 1, FERRY_STACKFAKE_DST6, 2, FERRY_TPKT_SYN, 0, 0);
	t.ext_hdr = 0;
	n = ferry_tpkt_build(buf, sizeof(buf), &t);
	expect_drop(f, buf, n, FERRY_STACK_DROP_OPTIONS);
	t.ext_hdr = 44;
	n = ferry_tpkt_build(buf, sizeof(buf), &t);
	expect_drop(f, buf, n, FERRY_STACK_DROP_FRAGMENT);
	t.ext_hdr = -1;
	n = ferry_tpkt_build(buf, sizeof(buf), &t);
	expect_drop(f, buf, 39, FERRY_STACK_DROP_SHORT);
	expect_drop(f, buf, n - 1, FERRY_STACK_DROP_SHORT);

	/* An IPv6 packet longer than any TUN MTU (65535). */
	{
		static uint8_t huge[40 + 65535];

		memcpy(huge, buf, 40);
		huge[4] = 0xff;
		huge[5] = 0xff;
		expect_drop(f, huge, sizeof(huge), FERRY_STACK_DROP_HEADER);
	}

	/* ICMP that is not an echo request; a protocol ferry does not carry. */
	ferry_tpkt_echo(&t, FERRY_STACKFAKE_APP4, FERRY_STACKFAKE_DST4, 1, 1, NULL, 0);
	t.icmp_type = 0;
	n = ferry_tpkt_build(buf, sizeof(buf), &t);
	expect_drop(f, buf, n, FERRY_STACK_DROP_PROTO);
	ck_assert_uint_eq(ferry_stackfake_pending_out(f), 0); /* an ICMP reply is not answered */
	ferry_tpkt_udp(&t, FERRY_STACKFAKE_APP4, 1, FERRY_STACKFAKE_DST4, 2, NULL, 0);
	n = ferry_tpkt_build(buf, sizeof(buf), &t);
	buf[9] = 47; /* GRE */
	expect_drop(f, buf, n, FERRY_STACK_DROP_PROTO);
	/* ... refused aloud: protocol unreachable from its destination, quoting it */
	ck_assert_uint_eq(ferry_stackfake_pending_out(f), 1);
	ferry_stackfake_next_out(f, &t);
	ck_assert(t.csum_ok);
	ck_assert_int_eq(t.family, AF_INET);
	ck_assert_uint_eq(t.proto, 1);
	ck_assert_uint_eq(t.icmp_type, 3);
	ck_assert_uint_eq(t.icmp_code, 2);
	ck_assert_mem_eq(t.src, buf + 16, 4);
	ck_assert_mem_eq(t.dst, buf + 12, 4);
	ck_assert_uint_eq(t.payload_len, 28);
	ck_assert_mem_eq(t.payload, buf, 28);
	ck_assert_uint_eq(ferry_stack_get_stats(f->stack)->proto_unreach, 1);
	/* IPv6: a parameter problem pointing at the Next Header field */
	ferry_tpkt_udp(&t, FERRY_STACKFAKE_APP6, 1, FERRY_STACKFAKE_DST6, 2, NULL, 0);
	n = ferry_tpkt_build(buf, sizeof(buf), &t);
	buf[6] = 132; /* SCTP */
	expect_drop(f, buf, n, FERRY_STACK_DROP_PROTO);
	ck_assert_uint_eq(ferry_stackfake_pending_out(f), 1);
	ferry_stackfake_next_out(f, &t);
	ck_assert(t.csum_ok);
	ck_assert_int_eq(t.family, AF_INET6);
	ck_assert_uint_eq(t.proto, 58);
	ck_assert_uint_eq(t.icmp_type, 4);
	ck_assert_uint_eq(t.icmp_code, 1);
	ck_assert_uint_eq(t.icmp_id, 0);
	ck_assert_uint_eq(t.icmp_seq, 6); /* the pointer's low half */
	ck_assert_mem_eq(t.src, buf + 24, 16);
	ck_assert_mem_eq(t.dst, buf + 8, 16);
	ck_assert_uint_eq(t.payload_len, 48);
	ck_assert_mem_eq(t.payload, buf, 48);
	/* ... but never to a source nobody can answer: a multicast destination */
	ferry_tpkt_udp(&t, FERRY_STACKFAKE_APP4, 1, "224.0.0.5", 2, NULL, 0);
	n = ferry_tpkt_build(buf, sizeof(buf), &t);
	buf[9] = 89; /* OSPF */
	expect_drop(f, buf, n, FERRY_STACK_DROP_ADDRESS);
	ck_assert_uint_eq(ferry_stack_get_stats(f->stack)->proto_unreach, 2);

	ck_assert_uint_eq(ferry_stackfake_pending_out(f), 0);
	ck_assert_int_eq(f->udp_opens, 0);
	ck_assert_uint_eq(f->nopened, 2); /* only the DF SYN and the well-formed options */
	ferry_stackfake_free(f);
}
END_TEST

/* A TUN batch in pool buffers: good packets taken, the bad one counted. */
START_TEST(input_batch)
{
	struct ferry_stackfake *f = ferry_stackfake_new(1500);
	struct ferry_buf *b[3];
	struct ferry_pool pool;
	struct ferry_tpkt t;
	int i;

	ck_assert_int_eq(ferry_pool_init(&pool, 3, 1500, 0), 0);
	for (i = 0; i < 3; i++) {
		b[i] = ferry_pool_get(&pool);
		ferry_tpkt_udp(&t, FERRY_STACKFAKE_APP4, (uint16_t)(2000 + i), FERRY_STACKFAKE_DST4,
			       53, "q", 1);
		b[i]->len = (uint32_t)ferry_tpkt_build(b[i]->data, 1500, &t);
		if (i)
			b[i - 1]->next = b[i];
	}
	b[2]->next = NULL;
	b[1]->data[0] = 0x75; /* bad version */
	ck_assert_uint_eq(ferry_stack_input_batch(f->stack, b[0]), 2);
	ck_assert_int_eq(f->udp_datagrams, 2);
	ck_assert_uint_eq(ferry_stack_get_stats(f->stack)->drops[FERRY_STACK_DROP_VERSION], 1);
	ferry_pool_put_chain(&pool, b[0]);
	ferry_ck_pool_idle(&pool);
	ferry_pool_destroy(&pool);
	ferry_stackfake_free(f);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("stack_input");
	TCase *input = ferry_tcase("input", 10);

	tcase_add_test(input, malformed_dropped_and_counted);
	tcase_add_test(input, input_batch);
	suite_add_tcase(s, input);
	return ferry_run_suite(s);
}
