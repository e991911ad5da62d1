// SPDX-License-Identifier: MIT
/*
 * The MTU chains of docs/mtu.md, asserted layer by layer.
 *
 * The link's chain: outer (path) MTU -> UDP payload -> FEC shard -> mux payload -> record
 * body (the ARQ's mtu) -> segment payload (the ARQ's MSS); record body -> datagram-channel
 * message -> the largest UDP payload carried. Checked as numbers (ferry_wire_sizes at 1500
 * over IPv4 and IPv6, at the smallest and at the largest MTU), against links made with
 * such an MTU (what they take and what they put on the wire), an ARQ conversation given
 * the record body (a full datagram of it is exactly one record body), the flow protocol's
 * encoder (each message kind at its largest payload fills one datagram-channel message
 * exactly) and the bridge (it takes the links' sizes and refuses inconsistent ones).
 *
 * The TUN's chain: TUN MTU -> lwIP's netif MTU -> the MSS advertised to applications, at
 * the smallest, the configuration's default and the largest TUN MTU; and where the two
 * chains meet: with the default TUN MTU and the default path MTU, every UDP datagram and
 * echo an application can send fits the datagram channel.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "cli/config.h"
#include "stack/bridge.h"
#include "stack/stack.h"
#include "tests/support/fixture.h"
#include "tests/support/linkrig.h"
#include "tests/support/pkt.h"
#include "tests/support/stackfake.h"
#include "transport/arq.h"
#include "transport/flowmsg.h"
#include "transport/link.h"
#include "transport/wire.h"

/* docs/mtu.md's tables, row by row. */
static const struct {
	uint32_t mtu, ip_hdr;
	struct ferry_wire_sizes s;
} chains[] = {
    {1500, FERRY_WIRE_IPV6_HDR, {1500, 1452, 1420, 1410, 1407, 1383, 1403, 1402}},
    {1500, FERRY_WIRE_IPV4_HDR, {1500, 1472, 1440, 1430, 1427, 1403, 1423, 1422}},
    {576, FERRY_WIRE_IPV6_HDR, {576, 528, 496, 486, 483, 459, 479, 478}},
    {576, FERRY_WIRE_IPV4_HDR, {576, 548, 516, 506, 503, 479, 499, 498}},
    {9000, FERRY_WIRE_IPV6_HDR, {9000, 8952, 8920, 8910, 8907, 8883, 8903, 8902}},
    {9000, FERRY_WIRE_IPV4_HDR, {9000, 8972, 8940, 8930, 8927, 8903, 8923, 8922}},
};

static void assert_sizes_eq(const struct ferry_wire_sizes *a, const struct ferry_wire_sizes *b)
{
	ck_assert_uint_eq(a->mtu, b->mtu);
	ck_assert_uint_eq(a->udp_payload, b->udp_payload);
	ck_assert_uint_eq(a->shard, b->shard);
	ck_assert_uint_eq(a->payload, b->payload);
	ck_assert_uint_eq(a->record_body, b->record_body);
	ck_assert_uint_eq(a->arq_mss, b->arq_mss);
	ck_assert_uint_eq(a->datagram, b->datagram);
	ck_assert_uint_eq(a->udp_max, b->udp_max);
}

START_TEST(link_chain_numbers)
{
	struct ferry_link_config lc;
	struct ferry_wire_sizes s;
	size_t i;

	for (i = 0; i < sizeof(chains) / sizeof(chains[0]); i++) {
		ck_assert_int_eq(ferry_wire_sizes(&s, chains[i].mtu, chains[i].ip_hdr), 0);
		assert_sizes_eq(&s, &chains[i].s);
		/* each step subtracts the headers wire.h names, nothing else */
		ck_assert_uint_eq(s.mtu - s.udp_payload, chains[i].ip_hdr + FERRY_WIRE_UDP_HDR);
		ck_assert_uint_eq(s.udp_payload - s.shard, FERRY_WIRE_SEAL_OVERHEAD);
		ck_assert_uint_eq(s.shard - s.payload, FERRY_WIRE_FEC_OVERHEAD);
		ck_assert_uint_eq(s.payload - s.record_body, FERRY_WIRE_RECORD_HDR);
		ck_assert_uint_eq(s.record_body - s.arq_mss, FERRY_ARQ_HDR_LEN);
		ck_assert_uint_eq(s.record_body - s.datagram, FERRY_WIRE_DATAGRAM_HDR);
		ck_assert_uint_eq(s.datagram - s.udp_max, FERRY_DG_TYPE_LEN);
		ck_assert_uint_eq(s.mtu - s.record_body, chains[i].ip_hdr == FERRY_WIRE_IPV6_HDR
							     ? FERRY_WIRE_OVERHEAD_V6
							     : FERRY_WIRE_OVERHEAD_V4);
		/* a link configured so has exactly these sizes */
		memset(&lc, 0, sizeof(lc));
		lc.mtu = chains[i].mtu;
		lc.ip_hdr = chains[i].ip_hdr;
		ck_assert_int_eq(ferry_link_config_sizes(&lc, &s), 0);
		assert_sizes_eq(&s, &chains[i].s);
	}
	/* the limits */
	ck_assert_int_eq(ferry_wire_sizes(&s, FERRY_WIRE_MTU_MIN - 1, FERRY_WIRE_IPV6_HDR),
			 -EINVAL);
	ck_assert_int_eq(ferry_wire_sizes(&s, FERRY_WIRE_MTU_MAX + 1, FERRY_WIRE_IPV4_HDR),
			 -EINVAL);
	ck_assert_int_eq(ferry_wire_sizes(&s, 1500, 30), -EINVAL);
	/* the link's defaults: 1500 over IPv6, the worst case of a peer that may roam */
	ck_assert_int_eq(ferry_link_config_sizes(NULL, &s), 0);
	assert_sizes_eq(&s, &chains[0].s);
	memset(&lc, 0, sizeof(lc));
	lc.fec_data = 4;
	ck_assert_int_eq(ferry_link_config_sizes(&lc, &s), 0);
	assert_sizes_eq(&s, &chains[0].s);
	lc.mtu = 100;
	ck_assert_int_eq(ferry_link_config_sizes(&lc, &s), -EINVAL);
}
END_TEST

/* Each message kind of the datagram channel, at its largest payload, is exactly one
 * datagram-channel message of a 1500-byte path over IPv6: the numbers docs/mtu.md gives. */
START_TEST(flow_messages_fill_the_datagram_channel)
{
	static uint8_t out[2048], bytes[2048];
	const struct ferry_wire_sizes *s = &chains[0].s;
	struct ferry_endpoint v4 = {.family = AF_INET, .port = 53},
			      v6 = {.family = AF_INET6, .port = 443};
	struct ferry_flowmsg_dg m;
	size_t i;
	const struct {
		uint8_t type;
		const struct ferry_endpoint *ep;
		size_t payload; /* the largest */
	} kinds[] = {
	    {FERRY_DG_UDP, NULL, 1402},		{FERRY_DG_UDP_FROM, &v4, 1395},
	    {FERRY_DG_UDP_FROM, &v6, 1383},	{FERRY_DG_UDP_OPEN, &v4, 1376},
	    {FERRY_DG_UDP_OPEN, &v6, 1352},	{FERRY_DG_ECHO_REQUEST, &v4, 1384},
	    {FERRY_DG_ECHO_REQUEST, &v6, 1360},
	};

	ck_assert_uint_eq(kinds[0].payload, s->udp_max);
	ck_assert_uint_eq(kinds[4].payload, s->datagram - FERRY_DG_UDP_OVERHEAD);
	ck_assert_uint_eq(kinds[6].payload, s->datagram - FERRY_DG_ECHO_OVERHEAD);
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		memset(&m, 0, sizeof(m));
		m.type = kinds[i].type;
		if (kinds[i].ep) {
			m.from = *kinds[i].ep;
			m.open.version = FERRY_FLOW_VERSION;
			m.open.proto = 17;
			m.open.src = m.open.dst = *kinds[i].ep;
			m.src = m.dst = *kinds[i].ep;
		}
		m.payload = bytes;
		m.payload_len = kinds[i].payload;
		ck_assert_uint_eq(ferry_flowmsg_dg_encode(out, sizeof(out), &m), s->datagram);
		m.payload_len++;
		ck_assert_uint_eq(ferry_flowmsg_dg_encode(out, sizeof(out), &m), s->datagram + 1);
	}
}
END_TEST

/* A link made with an outer MTU takes ARQ datagrams up to the record body and datagram
 * messages up to their room, and a full ARQ datagram leaves as a UDP payload of exactly
 * mtu - IP - UDP: nothing between the layers is lost or added. */
START_TEST(links_carry_their_chain)
{
	static const uint32_t mtus[] = {FERRY_WIRE_MTU_MIN, 1280, FERRY_WIRE_MTU_DEFAULT};
	static uint8_t segs[FERRY_VNET_MAX_DGRAM];
	struct ferry_vnet_link perfect = {0};
	struct ferry_wire_sizes sz;
	size_t i;
	int k;

	for (i = 0; i < sizeof(mtus) / sizeof(mtus[0]); i++) {
		struct ferry_linkrig *w = ferry_linkrig_new(40 + i, &perfect, &perfect);
		struct ferry_link *l = &w->s[0].link;
		struct ferry_arq_seg h = {.conv = 9, .cmd = FERRY_ARQ_CMD_PUSH};
		uint64_t bytes;

		for (k = 0; k < 2; k++)
			w->s[k].link_cfg.mtu = mtus[i];
		ferry_linkrig_start(w);
		ck_assert_int_eq(ferry_link_config_sizes(&w->s[0].link_cfg, &sz), 0);
		ck_assert_uint_eq(ferry_link_arq_mtu(l), sz.record_body);
		ck_assert_uint_eq(ferry_link_datagram_max(l), sz.datagram);
		ck_assert_uint_eq(w->s[0].arq_cfg.mtu, sz.record_body); /* the rig's ARQs */
		ferry_linkrig_warm(w); /* conversations of this MTU carry data both ways */

		h.len = sz.arq_mss;
		ck_assert_int_eq(ferry_arq_seg_encode(segs, sizeof(segs), &h, segs + 24),
				 (ssize_t)sz.record_body);
		bytes = l->stats.bytes_out;
		ck_assert_int_eq(
		    ferry_link_send_segments(l, segs, sz.record_body, false, w->vn.now), 0);
		ck_assert_int_eq(
		    ferry_link_send_segments(l, segs, sz.record_body + 1, false, w->vn.now),
		    -EMSGSIZE);
		ferry_link_flush(l, w->vn.now);
		ck_assert_uint_eq(l->stats.bytes_out - bytes, sz.udp_payload);
		ck_assert_uint_eq(sz.udp_payload,
				  mtus[i] - FERRY_WIRE_IPV6_HDR - FERRY_WIRE_UDP_HDR);
		ck_assert_int_eq(ferry_link_send_datagram(l, 1, segs, sz.datagram, w->vn.now), 0);
		ck_assert_int_eq(ferry_link_send_datagram(l, 1, segs, sz.datagram + 1, w->vn.now),
				 -EMSGSIZE);
		ferry_linkrig_free(w);
	}
}
END_TEST

struct lens {
	size_t len[16];
	unsigned n;
};

static int record_len(void *ctx, const uint8_t *dgram, size_t len)
{
	struct lens *l = ctx;

	(void)dgram;
	ck_assert_uint_lt(l->n, 16);
	l->len[l->n++] = len;
	return 0;
}

/* An ARQ conversation given a record body as its mtu sends segments of arq_mss bytes, each
 * datagram of one full segment exactly one record body; its pool must hold arq_mss. */
START_TEST(arq_segments_fill_one_record)
{
	static const size_t rows[] = {0, 2, 5}; /* 1500/IPv6, 576/IPv6, 9000/IPv4 */
	static uint8_t data[3 * 8903];
	struct ferry_arq_config cfg;
	struct ferry_pool pool;
	struct ferry_arq *arq;
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct ferry_wire_sizes *s = &chains[rows[i]].s;
		struct lens out = {0};
		unsigned k;

		ck_assert_int_eq(ferry_arq_config_init(&cfg, FERRY_ARQ_PROFILE_FAST3), 0);
		cfg.mtu = s->record_body;
		ck_assert_int_eq(ferry_pool_init(&pool, 8, s->arq_mss - 1, FERRY_ARQ_HDR_LEN), 0);
		ck_assert_int_eq(ferry_arq_create(&arq, 3, &cfg, &pool, record_len, &out),
				 -EINVAL); /* buffers below the MSS */
		ferry_pool_destroy(&pool);
		ck_assert_int_eq(ferry_pool_init(&pool, 8, s->arq_mss, FERRY_ARQ_HDR_LEN), 0);
		ck_assert_int_eq(ferry_arq_create(&arq, 3, &cfg, &pool, record_len, &out), 0);
		ck_assert_int_eq(ferry_arq_send(arq, data, 3 * (size_t)s->arq_mss),
				 (ssize_t)(3 * (size_t)s->arq_mss));
		ck_assert_int_eq(ferry_arq_flush(arq, 1000), 0);
		ck_assert_uint_eq(out.n, 3);
		for (k = 0; k < out.n; k++)
			ck_assert_uint_eq(out.len[k], s->record_body);
		ferry_arq_destroy(arq);
		ferry_pool_destroy(&pool);
	}
}
END_TEST

static int no_segments(void *ctx, void *link, const uint8_t *segs, size_t len, bool thin,
		       uint64_t now)
{
	(void)ctx;
	(void)link;
	(void)segs;
	(void)len;
	(void)thin;
	(void)now;
	return 0;
}

static int no_datagram(void *ctx, void *link, uint32_t flow_id, const uint8_t *data, size_t len,
		       uint64_t now)
{
	(void)ctx;
	(void)link;
	(void)flow_id;
	(void)data;
	(void)len;
	(void)now;
	return 0;
}

static struct ferry_bridge_peer *no_route(void *ctx, const struct ferry_endpoint *dst)
{
	(void)ctx;
	(void)dst;
	return NULL;
}

static bool no_source(void *ctx, struct ferry_bridge_peer *peer, const struct ferry_endpoint *src)
{
	(void)ctx;
	(void)peer;
	(void)src;
	return false;
}

/* The bridge sizes its conversations from the links' sizes and refuses sizes that are not
 * a chain (an ARQ MSS that is not the record body's, a record body the ARQ cannot use). */
START_TEST(bridge_takes_the_links_sizes)
{
	static const struct ferry_bridge_ops ops = {.send_segments = no_segments,
						    .send_datagram = no_datagram,
						    .route = no_route,
						    .source_ok = no_source};
	struct ferry_bridge_config bc;
	struct ferry_wire_sizes s;
	struct ferry_bridge *b;

	ferry_bridge_config_default(&bc, FERRY_ARQ_PROFILE_FAST3);
	bc.arq_buffers = 64;
	ck_assert_int_eq(ferry_link_config_sizes(NULL, &s), 0);
	ck_assert_int_eq(ferry_bridge_create(&b, &bc, NULL, &ops, NULL), -EINVAL);
	s.arq_mss++;
	ck_assert_int_eq(ferry_bridge_create(&b, &bc, &s, &ops, NULL), -EINVAL);
	s.arq_mss--;
	ck_assert_int_eq(ferry_bridge_create(&b, &bc, &s, &ops, NULL), 0);
	ferry_bridge_destroy(b);
	s.record_body = FERRY_ARQ_MTU_MIN - 1;
	s.arq_mss = s.record_body - FERRY_ARQ_HDR_LEN;
	ck_assert_int_eq(ferry_bridge_create(&b, &bc, &s, &ops, NULL), -EINVAL);
}
END_TEST

/* The MSS lwIP advertises to an application follows the TUN MTU: MTU - 40 over IPv4,
 * - 60 over IPv6, at most TCP_MSS. */
static void assert_mss(uint32_t mtu, bool v6, uint32_t mss)
{
	struct ferry_stackfake *f = ferry_stackfake_new(mtu);
	struct ferry_stackfake_app a = ferry_stackfake_app4(41000);
	struct ferry_tpkt t;

	if (v6) {
		a.src = FERRY_STACKFAKE_APP6;
		a.dst = FERRY_STACKFAKE_DST6;
	}
	ferry_stackfake_app_syn(f, &a, 0);
	ck_assert_int_eq(ferry_stack_tcp_connected(f->opened[0]), 0);
	ferry_stackfake_next_out(f, &t);
	ck_assert_uint_eq(t.flags, FERRY_TPKT_SYN | FERRY_TPKT_ACK);
	ck_assert_uint_eq(t.mss, mss);
	ferry_stackfake_free(f);
}

START_TEST(stack_mss_follows_the_tun_mtu)
{
	struct ferry_stack_config cfg;
	struct ferry_stack *stack;

	assert_mss(FERRY_STACK_MTU_MIN, false, 536);
	assert_mss(FERRY_CONFIG_DEFAULT_MTU, false, FERRY_CONFIG_DEFAULT_MTU - 40);
	assert_mss(FERRY_CONFIG_DEFAULT_MTU, true, FERRY_CONFIG_DEFAULT_MTU - 60);
	/* at the top, lwipopts.h's TCP_MSS (65535 - 60) caps IPv4's too */
	assert_mss(FERRY_STACK_MTU_MAX, true, 65535 - 60);
	assert_mss(FERRY_STACK_MTU_MAX, false, 65535 - 60);
	/* the stack takes every TUN MTU the configuration does */
	ferry_stack_config_default(&cfg);
	cfg.mtu = FERRY_STACK_MTU_MIN - 1;
	ck_assert_int_eq(ferry_stack_create(&stack, &cfg, &ferry_stackfake_ops, NULL, 0), -EINVAL);
	ck_assert_uint_eq(FERRY_CONFIG_MTU_MIN, FERRY_STACK_MTU_MIN);
	ck_assert_uint_eq(FERRY_CONFIG_MTU_MAX, FERRY_STACK_MTU_MAX);
}
END_TEST

/* Where the chains meet: with the configuration's default TUN MTU over the default path,
 * every UDP datagram and echo an application can send through the TUN fits the datagram
 * channel, in both families (larger ones are refused with ICMP too big). */
START_TEST(default_tun_fits_the_default_path)
{
	struct ferry_wire_sizes s;
	const uint32_t tun = FERRY_CONFIG_DEFAULT_MTU;

	ck_assert_int_eq(ferry_link_config_sizes(NULL, &s), 0);
	ck_assert_uint_le(tun - 20 - 8, s.udp_max);
	ck_assert_uint_le(tun - 40 - 8, s.udp_max);
	ck_assert_uint_le(tun - 20 - 8, s.datagram - FERRY_DG_TYPE_LEN - FERRY_DG_ECHO_FIXED -
					    2 * FERRY_WIRE_EP4_LEN);
	ck_assert_uint_le(tun - 40 - 8, s.datagram - FERRY_DG_ECHO_OVERHEAD);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("mtu");
	TCase *tc = ferry_tcase("chains", 30);

	tcase_add_test(tc, link_chain_numbers);
	tcase_add_test(tc, flow_messages_fill_the_datagram_channel);
	tcase_add_test(tc, links_carry_their_chain);
	tcase_add_test(tc, arq_segments_fill_one_record);
	tcase_add_test(tc, bridge_takes_the_links_sizes);
	tcase_add_test(tc, stack_mss_follows_the_tun_mtu);
	tcase_add_test(tc, default_tun_fits_the_default_path);
	suite_add_tcase(s, tc);
	return ferry_run_suite(s);
}
