// SPDX-License-Identifier: MIT
/*
 * The stack in process: crafted IPv4/IPv6 packets go into ferry_stack_input, a fake
 * transport (the ops below) plays the caller, and every packet the stack writes to the
 * "TUN" is parsed and asserted on (checksums included).
 *
 * Covered: honest connect (SYN held, SYN-ACK only after the far side connected, from the
 * original destination, with MSS from the MTU and window scaling; refused -> RST,
 * unreachable/timeout -> ICMP; retransmitted SYNs), data both ways with backpressure
 * (window closes while the caller takes nothing, reopens on writable), half-close both
 * ways, resets both ways (also from inside a callback), idle and handshake timeouts, the
 * flow table's limit and LRU eviction, UDP flows (replies from the destination and from
 * elsewhere), ICMP echo, malformed input dropped and counted.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "stack/stack.h"
#include "tests/support/fixture.h"
#include "transport/pool.h"
#include "tests/support/pkt.h"

#define APP4	  "10.7.0.2"
#define DST4	  "203.0.113.9"
#define APP6	  "fd07::2"
#define DST6	  "2001:db8::9"
#define MAX_OUT	  512
#define MAX_FLOWS 64
#define WND	  ((size_t)256 * 1024) /* TCP_WND */

struct fake {
	struct ferry_stack *stack;
	struct ferry_stack_config cfg;
	uint64_t now;
	/* packets written to the TUN */
	uint8_t *out[MAX_OUT];
	size_t out_len[MAX_OUT];
	unsigned nout, seen;
	/* TCP */
	struct ferry_flow *opened[MAX_FLOWS];
	unsigned nopened;
	struct ferry_endpoint open_src, open_dst;
	int open_ret;
	int connect_in_open;
	size_t take_limit; /* tcp_data takes at most this many more bytes */
	uint8_t *rx;
	size_t nrx;
	int eofs;
	int closed, closed_reason;
	struct ferry_flow *closed_flow;
	int sendables;
	size_t sendable_space;
	int reset_in_data;
	int echo;			    /* loopback: tcp_data sends the bytes straight back */
	struct ferry_flow *connect_in_data; /* tcp_data completes this flow's connect */
	int nested_input_ret;
	/* UDP */
	int udp_opens, udp_datagrams, udp_closes;
	struct ferry_flow *udp_flow;
	uint8_t udp_data[2048];
	size_t udp_len;
	/* ICMP */
	int echoes;
	struct ferry_endpoint echo_src, echo_dst;
	uint16_t echo_seq;
	uint8_t echo_data[256];
	size_t echo_len;
};

static void fake_tun_write(void *ctx, const uint8_t *pkt, size_t len)
{
	struct fake *f = ctx;
	unsigned i;

	if (f->seen == f->nout) { /* everything read: recycle */
		for (i = 0; i < f->nout; i++)
			free(f->out[i]);
		f->nout = f->seen = 0;
	}
	ck_assert_uint_lt(f->nout, MAX_OUT);
	f->out[f->nout] = malloc(len);
	ck_assert_ptr_nonnull(f->out[f->nout]);
	memcpy(f->out[f->nout], pkt, len);
	f->out_len[f->nout++] = len;
}

static int fake_tcp_open(void *ctx, struct ferry_flow *flow, const struct ferry_endpoint *src,
			 const struct ferry_endpoint *dst)
{
	struct fake *f = ctx;

	ck_assert_uint_lt(f->nopened, MAX_FLOWS);
	f->opened[f->nopened++] = flow;
	f->open_src = *src;
	f->open_dst = *dst;
	if (f->connect_in_open)
		ck_assert_int_eq(ferry_stack_tcp_connected(flow), 0);
	return f->open_ret;
}

static size_t fake_tcp_data(void *ctx, struct ferry_flow *flow, const uint8_t *data, size_t len)
{
	struct fake *f = ctx;
	size_t n = len < f->take_limit ? len : f->take_limit;

	if (f->reset_in_data) {
		ferry_stack_tcp_reset(flow);
		return 0;
	}
	if (f->connect_in_data) {
		uint8_t junk[20] = {0x45};

		ck_assert_int_eq(ferry_stack_tcp_connected(f->connect_in_data), 0);
		f->connect_in_data = NULL;
		f->nested_input_ret = ferry_stack_input(f->stack, junk, sizeof(junk));
	}
	if (f->echo) /* takes only what it can pass on: backpressure end to end */
		return ferry_stack_tcp_send(flow, data, len);
	memcpy(f->rx + f->nrx, data, n);
	f->nrx += n;
	f->take_limit -= n;
	return n;
}

static void fake_tcp_eof(void *ctx, struct ferry_flow *flow)
{
	struct fake *f = ctx;

	(void)flow;
	f->eofs++;
}

static void fake_tcp_sendable(void *ctx, struct ferry_flow *flow, size_t space)
{
	struct fake *f = ctx;

	(void)flow;
	f->sendables++;
	f->sendable_space = space;
	if (f->echo)
		ferry_stack_tcp_writable(flow);
}

static void fake_tcp_closed(void *ctx, struct ferry_flow *flow, int reason)
{
	struct fake *f = ctx;

	f->closed++;
	f->closed_reason = reason;
	f->closed_flow = flow;
}

static int fake_udp_open(void *ctx, struct ferry_flow *flow, const struct ferry_endpoint *src,
			 const struct ferry_endpoint *dst)
{
	struct fake *f = ctx;

	(void)src;
	(void)dst;
	f->udp_opens++;
	f->udp_flow = flow;
	return 0;
}

static void fake_udp_datagram(void *ctx, struct ferry_flow *flow, const uint8_t *data, size_t len)
{
	struct fake *f = ctx;

	ck_assert_uint_le(len, sizeof(f->udp_data));
	f->udp_datagrams++;
	f->udp_flow = flow;
	memcpy(f->udp_data, data, len);
	f->udp_len = len;
}

static void fake_udp_closed(void *ctx, struct ferry_flow *flow)
{
	struct fake *f = ctx;

	(void)flow;
	f->udp_closes++;
}

static void fake_icmp_echo(void *ctx, const struct ferry_endpoint *src,
			   const struct ferry_endpoint *dst, uint16_t seq, const uint8_t *data,
			   size_t len)
{
	struct fake *f = ctx;

	ck_assert_uint_le(len, sizeof(f->echo_data));
	f->echoes++;
	f->echo_src = *src;
	f->echo_dst = *dst;
	f->echo_seq = seq;
	memcpy(f->echo_data, data, len);
	f->echo_len = len;
}

static const struct ferry_stack_ops fake_ops = {
    .tun_write = fake_tun_write,
    .tcp_open = fake_tcp_open,
    .tcp_data = fake_tcp_data,
    .tcp_eof = fake_tcp_eof,
    .tcp_sendable = fake_tcp_sendable,
    .tcp_closed = fake_tcp_closed,
    .udp_open = fake_udp_open,
    .udp_datagram = fake_udp_datagram,
    .udp_closed = fake_udp_closed,
    .icmp_echo = fake_icmp_echo,
};

static struct fake *fake_new_cfg(const struct ferry_stack_config *cfg)
{
	struct fake *f = calloc(1, sizeof(*f));

	ck_assert_ptr_nonnull(f);
	f->rx = malloc(1u << 20);
	ck_assert_ptr_nonnull(f->rx);
	f->cfg = *cfg;
	f->now = 1000;
	f->take_limit = SIZE_MAX;
	ck_assert_int_eq(ferry_stack_create(&f->stack, &f->cfg, &fake_ops, f, f->now), 0);
	return f;
}

static struct fake *fake_new(uint32_t mtu)
{
	struct ferry_stack_config cfg;

	ferry_stack_config_default(&cfg);
	cfg.mtu = mtu;
	return fake_new_cfg(&cfg);
}

static void fake_free(struct fake *f)
{
	unsigned i;

	ferry_stack_destroy(f->stack);
	for (i = 0; i < f->nout; i++)
		free(f->out[i]);
	free(f->rx);
	free(f);
}

static int inject(struct fake *f, const struct ferry_tpkt *t)
{
	uint8_t buf[FERRY_TPKT_MAX];
	size_t n = ferry_tpkt_build(buf, sizeof(buf), t);

	ck_assert_uint_gt(n, 0);
	return ferry_stack_input(f->stack, buf, n);
}

static void advance(struct fake *f, uint64_t ms)
{
	f->now += ms;
	ferry_stack_poll(f->stack, f->now);
}

static unsigned pending_out(const struct fake *f)
{
	return f->nout - f->seen;
}

/* The next packet the stack wrote; fails the test if there is none or it is corrupt. */
static void next_out(struct fake *f, struct ferry_tpkt *t)
{
	ck_assert_msg(f->seen < f->nout, "expected a packet from the stack, got none");
	ck_assert_int_eq(ferry_tpkt_parse(t, f->out[f->seen], f->out_len[f->seen]), 0);
	ck_assert_msg(t->csum_ok, "bad checksum in packet %u", f->seen);
	f->seen++;
}

/* The application's side of one connection. */
struct app {
	const char *src, *dst;
	uint16_t sport, dport;
	uint32_t seq; /* next sequence number the app sends */
	uint32_t ack; /* next sequence number the app expects */
	struct ferry_flow *flow;
};

static void app_send(struct fake *f, struct app *a, uint8_t flags, const void *data, size_t len)
{
	struct ferry_tpkt t;

	ferry_tpkt_tcp(&t, a->src, a->sport, a->dst, a->dport, flags | FERRY_TPKT_ACK, a->seq,
		       a->ack);
	t.payload = data;
	t.payload_len = len;
	ck_assert_int_eq(inject(f, &t), 0);
	a->seq += (uint32_t)len + ((flags & FERRY_TPKT_FIN) ? 1 : 0);
}

static void app_syn(struct fake *f, struct app *a, int expect)
{
	struct ferry_tpkt t;

	ferry_tpkt_tcp(&t, a->src, a->sport, a->dst, a->dport, FERRY_TPKT_SYN, a->seq - 1, 0);
	t.mss = 1460;
	t.wscale = 7;
	ck_assert_int_eq(inject(f, &t), expect);
}

/* SYN, connected, SYN-ACK, ACK: returns with the flow OPEN and no packet unread. */
static void establish(struct fake *f, struct app *a)
{
	struct ferry_tpkt t;
	unsigned before = f->nopened;

	app_syn(f, a, 0);
	ck_assert_uint_eq(f->nopened, before + 1);
	a->flow = f->opened[before];
	ck_assert_int_eq(ferry_stack_tcp_connected(a->flow), 0);
	next_out(f, &t);
	ck_assert_uint_eq(t.flags, FERRY_TPKT_SYN | FERRY_TPKT_ACK);
	ck_assert_uint_eq(t.ack, a->seq);
	a->ack = t.seq + 1;
	app_send(f, a, 0, NULL, 0);
	ck_assert_uint_eq(pending_out(f), 0);
}

static struct app app4(uint16_t sport)
{
	struct app a = {.src = APP4, .dst = DST4, .sport = sport, .dport = 443, .seq = 1001};

	return a;
}

/* ---- honest connect ---- */

START_TEST(syn_held_until_connected_v4)
{
	struct fake *f = fake_new(1500);
	struct app a = app4(40000);
	struct ferry_tpkt t;

	app_syn(f, &a, 0);
	ck_assert_uint_eq(f->nopened, 1);
	ck_assert_uint_eq(pending_out(f), 0); /* nothing until the far side connected */
	ck_assert_int_eq(f->open_src.family, AF_INET);
	ck_assert_uint_eq(f->open_src.port, 40000);
	ck_assert_uint_eq(f->open_dst.port, 443);
	ck_assert_mem_eq(f->open_dst.addr, "\xcb\x00\x71\x09", 4);

	/* The app retransmits its SYN: no second flow, counted. */
	app_syn(f, &a, -EALREADY);
	app_syn(f, &a, -EALREADY);
	ck_assert_uint_eq(f->nopened, 1);
	ck_assert_uint_eq(ferry_stack_get_stats(f->stack)->drops[FERRY_STACK_DROP_DUP_SYN], 2);
	ck_assert_uint_eq(ferry_stack_get_stats(f->stack)->tcp_flows, 1);

	ck_assert_int_eq(ferry_stack_tcp_connected(f->opened[0]), 0);
	next_out(f, &t);
	ck_assert(ferry_tpkt_from(&t, DST4, 443));
	ck_assert(ferry_tpkt_to(&t, APP4, 40000));
	ck_assert_uint_eq(t.flags, FERRY_TPKT_SYN | FERRY_TPKT_ACK);
	ck_assert_uint_eq(t.ack, 1001);
	ck_assert_uint_eq(t.mss, 1460); /* MTU 1500 - 40 */
	ck_assert_int_eq(t.wscale, 4);	/* TCP_RCV_SCALE */
	ck_assert_uint_eq(pending_out(f), 0);
	ck_assert_int_eq(ferry_stack_tcp_connected(f->opened[0]), -EINVAL);

	/* A SYN retransmitted after the SYN-ACK gets the SYN-ACK again, no new flow. */
	app_syn(f, &a, 0);
	next_out(f, &t);
	ck_assert_uint_eq(t.flags, FERRY_TPKT_SYN | FERRY_TPKT_ACK);
	ck_assert_uint_eq(f->nopened, 1);

	a.ack = t.seq + 1;
	app_send(f, &a, 0, NULL, 0);
	ck_assert_uint_eq(ferry_stack_get_stats(f->stack)->tcp_accepted, 1);
	fake_free(f);
}
END_TEST

/* RFC 6528: the SYN-ACKs' sequence numbers are keyed hashes of the 4-tuple, not lwIP's
 * global counter, which would put every connection opened within a second into one narrow
 * range. With hashes, eight of them all within 2^24 of the first is a 2^-56 event. */
START_TEST(isn_unpredictable)
{
	struct fake *f = fake_new(1500);
	uint32_t isn[8];
	struct ferry_tpkt t;
	bool spread = false;
	unsigned i;

	for (i = 0; i < 8; i++) {
		struct app a = app4((uint16_t)(41000 + i));

		app_syn(f, &a, 0);
		ck_assert_int_eq(ferry_stack_tcp_connected(f->opened[i]), 0);
		next_out(f, &t);
		ck_assert_uint_eq(t.flags, FERRY_TPKT_SYN | FERRY_TPKT_ACK);
		isn[i] = t.seq;
	}
	for (i = 1; i < 8; i++)
		if ((uint32_t)(isn[i] - isn[0] + (1u << 24)) > (1u << 25))
			spread = true;
	ck_assert_msg(spread, "every ISN within 2^24 of %u", isn[0]);
	fake_free(f);
}
END_TEST

START_TEST(syn_ack_v6_jumbo_mtu)
{
	struct fake *f = fake_new(65535);
	struct app a = {.src = APP6, .dst = DST6, .sport = 50000, .dport = 8443, .seq = 7};
	struct ferry_tpkt t;

	app_syn(f, &a, 0);
	ck_assert_uint_eq(pending_out(f), 0);
	ck_assert_int_eq(f->open_dst.family, AF_INET6);
	ck_assert_int_eq(ferry_stack_tcp_connected(f->opened[0]), 0);
	next_out(f, &t);
	ck_assert_int_eq(t.family, AF_INET6);
	ck_assert(ferry_tpkt_from(&t, DST6, 8443));
	ck_assert(ferry_tpkt_to(&t, APP6, 50000));
	ck_assert_uint_eq(t.flags, FERRY_TPKT_SYN | FERRY_TPKT_ACK);
	ck_assert_uint_eq(t.mss, 65535 - 60);
	ck_assert_int_eq(t.wscale, 4);
	fake_free(f);
}
END_TEST

/* No window scale from the app, none back (RFC 7323); MSS from the MTU over IPv6. */
START_TEST(syn_ack_without_wscale_v6_1500)
{
	struct fake *f = fake_new(1500);
	struct ferry_tpkt t;

	ferry_tpkt_tcp(&t, APP6, 50001, DST6, 22, FERRY_TPKT_SYN, 99, 0);
	ck_assert_int_eq(inject(f, &t), 0);
	ck_assert_int_eq(ferry_stack_tcp_connected(f->opened[0]), 0);
	next_out(f, &t);
	ck_assert_uint_eq(t.flags, FERRY_TPKT_SYN | FERRY_TPKT_ACK);
	ck_assert_uint_eq(t.ack, 100);
	ck_assert_uint_eq(t.mss, 1500 - 60);
	ck_assert_int_eq(t.wscale, -1);
	ck_assert_uint_eq(t.wnd, 65535);
	fake_free(f);
}
END_TEST

START_TEST(connect_inside_open_callback)
{
	struct fake *f = fake_new(1500);
	struct app a = app4(40001);
	struct ferry_tpkt t;

	f->connect_in_open = 1;
	app_syn(f, &a, 0);
	next_out(f, &t);
	ck_assert_uint_eq(t.flags, FERRY_TPKT_SYN | FERRY_TPKT_ACK);
	fake_free(f);
}
END_TEST

START_TEST(refused_is_rst)
{
	struct fake *f = fake_new(1500);
	struct app a = app4(40002);
	struct ferry_tpkt t;

	app_syn(f, &a, 0);
	ferry_stack_tcp_refused(f->opened[0], -ECONNREFUSED);
	next_out(f, &t);
	ck_assert(ferry_tpkt_from(&t, DST4, 443));
	ck_assert(ferry_tpkt_to(&t, APP4, 40002));
	ck_assert_uint_eq(t.flags, FERRY_TPKT_RST | FERRY_TPKT_ACK);
	ck_assert_uint_eq(t.ack, 1001);
	ck_assert_uint_eq(ferry_stack_get_stats(f->stack)->tcp_flows, 0);
	ck_assert_uint_eq(ferry_stack_get_stats(f->stack)->tcp_refused, 1);
	ck_assert_int_eq(f->closed, 0);

	/* A refusal returned from tcp_open itself works the same. */
	f->open_ret = -ECONNREFUSED;
	app_syn(f, &a, 0);
	next_out(f, &t);
	ck_assert_uint_eq(t.flags, FERRY_TPKT_RST | FERRY_TPKT_ACK);
	fake_free(f);
}
END_TEST

START_TEST(unreachable_is_icmp)
{
	struct fake *f = fake_new(1500);
	struct app a = app4(40003);
	struct app b = {.src = APP6, .dst = DST6, .sport = 40004, .dport = 80, .seq = 5};
	struct ferry_tpkt t, q;

	app_syn(f, &a, 0);
	ferry_stack_tcp_refused(f->opened[0], -EHOSTUNREACH);
	next_out(f, &t);
	ck_assert_int_eq(t.proto, 1);
	ck_assert_uint_eq(t.icmp_type, 3);
	ck_assert_uint_eq(t.icmp_code, 1);
	ck_assert(ferry_tpkt_to(&t, APP4, 0));
	ck_assert(ferry_tpkt_from(&t, DST4, 0));
	/* It quotes the SYN: IP header and the ports. */
	ck_assert_uint_ge(t.payload_len, 28);
	ck_assert_uint_eq(t.payload[9], 6);
	ck_assert_uint_eq((t.payload[20] << 8) | t.payload[21], 40003);

	app_syn(f, &b, 0);
	ferry_stack_tcp_refused(f->opened[1], -ENETUNREACH);
	next_out(f, &t);
	ck_assert_int_eq(t.proto, 58);
	ck_assert_uint_eq(t.icmp_type, 1);
	ck_assert_uint_eq(t.icmp_code, 0);
	ck_assert_int_eq(ferry_tpkt_parse(&q, t.payload, t.payload_len), 0);
	ck_assert(ferry_tpkt_from(&q, APP6, 40004));
	ck_assert_uint_eq(ferry_stack_get_stats(f->stack)->tcp_unreach, 2);
	ck_assert_uint_eq(ferry_stack_get_stats(f->stack)->tcp_flows, 0);
	fake_free(f);
}
END_TEST

START_TEST(connect_timeout)
{
	struct fake *f = fake_new(1500);
	struct app a = app4(40005);
	struct ferry_tpkt t;
	uint64_t deadline;

	app_syn(f, &a, 0);
	/* lwIP's own 1 s IPv6 timer may come first; never later than the connect timeout. */
	deadline = ferry_stack_next_deadline(f->stack, f->now);
	ck_assert_uint_gt(deadline, f->now);
	ck_assert_uint_le(deadline, f->now + f->cfg.connect_timeout_ms);
	advance(f, f->cfg.connect_timeout_ms - 1);
	ck_assert_uint_eq(pending_out(f), 0);
	ck_assert_int_eq(f->closed, 0);
	advance(f, 1);
	next_out(f, &t);
	ck_assert_uint_eq(t.icmp_type, 3);
	ck_assert_int_eq(f->closed, 1);
	ck_assert_int_eq(f->closed_reason, -ETIMEDOUT);
	ck_assert_uint_eq(ferry_stack_get_stats(f->stack)->tcp_flows, 0);
	fake_free(f);
}
END_TEST

/* The far side answers (and closes) before the app's ACK completed the handshake. */
START_TEST(far_side_speaks_first)
{
	struct fake *f = fake_new(1500);
	struct app a = app4(40007);
	struct ferry_tpkt t;

	app_syn(f, &a, 0);
	a.flow = f->opened[0];
	ck_assert_int_eq(ferry_stack_tcp_connected(a.flow), 0);
	next_out(f, &t);
	a.ack = t.seq + 1;
	ck_assert_uint_eq(ferry_stack_tcp_send(a.flow, (const uint8_t *)"220 hi", 6), 0);
	ck_assert_int_eq(ferry_stack_tcp_shutdown(a.flow), 0);
	ck_assert_uint_eq(pending_out(f), 0);
	f->echo = 0;
	app_send(f, &a, 0, NULL, 0); /* the handshake completes: sendable is owed */
	ck_assert_int_eq(f->sendables, 1);
	/* The shutdown was carried out at accept: a FIN, no data (the fake sent none). */
	next_out(f, &t);
	ck_assert_uint_eq(t.flags & FERRY_TPKT_FIN, FERRY_TPKT_FIN);
	ck_assert_uint_eq(ferry_stack_tcp_send(a.flow, (const uint8_t *)"x", 1), 0);
	app_send(f, &a, FERRY_TPKT_FIN, NULL, 0);
	ck_assert_int_eq(f->closed, 1);
	ck_assert_int_eq(f->closed_reason, 0);
	fake_free(f);
}
END_TEST

/* A connect completed from inside lwIP (another connection's callback) waits until lwIP
 * returned: its input path is not re-entrant. */
START_TEST(connect_from_inside_a_callback)
{
	struct fake *f = fake_new(1500);
	struct app a = app4(40008), b = app4(40009);
	struct ferry_tpkt t;

	establish(f, &a);
	app_syn(f, &b, 0);
	b.flow = f->opened[1];
	f->connect_in_data = b.flow;
	app_send(f, &a, FERRY_TPKT_PSH, "go", 2);
	ck_assert_int_eq(f->nested_input_ret, -EDEADLK);
	ck_assert_uint_eq(f->nrx, 2);
	do
		next_out(f, &t);
	while (!(t.flags & FERRY_TPKT_SYN));
	ck_assert(ferry_tpkt_to(&t, APP4, 40009));
	ck_assert_uint_eq(t.flags, FERRY_TPKT_SYN | FERRY_TPKT_ACK);
	b.ack = t.seq + 1;
	app_send(f, &b, 0, NULL, 0);
	ck_assert_uint_eq(ferry_stack_get_stats(f->stack)->tcp_accepted, 2);
	fake_free(f);
}
END_TEST

START_TEST(handshake_timeout)
{
	struct fake *f = fake_new(1500);
	struct app a = app4(40006);
	struct ferry_tpkt t;
	unsigned i;

	app_syn(f, &a, 0);
	ck_assert_int_eq(ferry_stack_tcp_connected(f->opened[0]), 0);
	next_out(f, &t);
	for (i = 0; i < 100 && f->closed == 0; i++)
		advance(f, 250);
	ck_assert_int_eq(f->closed, 1);
	ck_assert_int_eq(f->closed_reason, -ETIMEDOUT);
	ck_assert_uint_le(f->now, 1000 + f->cfg.handshake_timeout_ms + 250);
	ck_assert_uint_eq(ferry_stack_get_stats(f->stack)->tcp_flows, 0);
	fake_free(f);
}
END_TEST

/* ---- data ---- */

START_TEST(data_both_ways)
{
	struct fake *f = fake_new(1500);
	struct app a = app4(40010);
	struct ferry_tpkt t;
	const char *req = "GET / HTTP/1.0\r\n\r\n", *resp = "HTTP/1.0 200 OK\r\n\r\n";

	establish(f, &a);
	app_send(f, &a, FERRY_TPKT_PSH, req, strlen(req));
	ck_assert_uint_eq(f->nrx, strlen(req));
	ck_assert_mem_eq(f->rx, req, strlen(req));

	ck_assert_uint_eq(ferry_stack_tcp_send(a.flow, (const uint8_t *)resp, strlen(resp)),
			  strlen(resp));
	next_out(f, &t); /* the data, carrying the ACK for the request */
	ck_assert(ferry_tpkt_from(&t, DST4, 443));
	ck_assert_uint_eq(t.payload_len, strlen(resp));
	ck_assert_mem_eq(t.payload, resp, strlen(resp));
	ck_assert_uint_eq(t.seq, a.ack);
	ck_assert_uint_eq(t.ack, a.seq);
	a.ack += (uint32_t)t.payload_len;
	app_send(f, &a, 0, NULL, 0);
	fake_free(f);
}
END_TEST

/* The caller takes nothing: the app's window closes; writable reopens it. */
START_TEST(window_full_then_writable)
{
	struct fake *f = fake_new(65535);
	struct app a = app4(40011);
	static uint8_t chunk[60000];
	struct ferry_tpkt t = {0};
	uint32_t wnd = 1;
	size_t sent = 0, i;

	for (i = 0; i < sizeof(chunk); i++)
		chunk[i] = (uint8_t)(i * 7);
	establish(f, &a);
	f->take_limit = 0;
	/* The window (TCP_WND): four chunks and the rest, then it is shut. */
	for (i = 0; i < 5; i++) {
		size_t len = i < 4 ? sizeof(chunk) : WND - sent;

		app_send(f, &a, 0, chunk, len);
		sent += len;
		advance(f, 300); /* delayed ACK */
		ck_assert_uint_ge(pending_out(f), 1);
		while (pending_out(f))
			next_out(f, &t);
		ck_assert_uint_eq(t.ack, a.seq);
		wnd = (uint32_t)t.wnd << 4;
		ck_assert_uint_eq(wnd, WND - sent); /* nothing taken, nothing reopened */
	}
	ck_assert_uint_eq(wnd, 0);
	ck_assert_uint_eq(f->nrx, 0);
	/* Beyond the window: lwIP drops it; the ACK still says where the app stands. */
	app_send(f, &a, 0, chunk, 1000);
	a.seq -= 1000;
	while (pending_out(f))
		next_out(f, &t);
	ck_assert_uint_eq(f->nrx, 0);

	f->take_limit = SIZE_MAX;
	ferry_stack_tcp_writable(a.flow);
	ck_assert_uint_eq(f->nrx, sent);
	ck_assert_mem_eq(f->rx, chunk, sizeof(chunk));
	ck_assert_mem_eq(f->rx + 4 * sizeof(chunk), chunk, sent - 4 * sizeof(chunk));
	advance(f, 300);
	ck_assert_uint_ge(pending_out(f), 1);
	while (pending_out(f))
		next_out(f, &t);
	/* The window reopened (lwIP announces it in steps of up to TCP_WND / 4). */
	ck_assert_uint_ge((uint32_t)t.wnd << 4, WND - WND / 4);
	fake_free(f);
}
END_TEST

START_TEST(partial_take_keeps_order)
{
	struct fake *f = fake_new(1500);
	struct app a = app4(40012);
	const char *msg = "0123456789abcdefghij";

	establish(f, &a);
	f->take_limit = 5;
	app_send(f, &a, FERRY_TPKT_PSH, msg, 20);
	ck_assert_uint_eq(f->nrx, 5);
	app_send(f, &a, FERRY_TPKT_FIN, NULL, 0);
	ck_assert_int_eq(f->eofs, 0); /* the FIN waits behind the bytes */
	f->take_limit = 7;
	ferry_stack_tcp_writable(a.flow);
	ck_assert_uint_eq(f->nrx, 12);
	f->take_limit = SIZE_MAX;
	ferry_stack_tcp_writable(a.flow);
	ck_assert_uint_eq(f->nrx, 20);
	ck_assert_mem_eq(f->rx, msg, 20);
	ck_assert_int_eq(f->eofs, 1);
	fake_free(f);
}
END_TEST

START_TEST(short_send_then_sendable)
{
	struct fake *f = fake_new(65535);
	struct app a = app4(40013);
	static uint8_t big[200000];
	struct ferry_tpkt t;
	size_t n, total = 0;
	unsigned i;

	establish(f, &a);
	n = ferry_stack_tcp_send(a.flow, big, sizeof(big));
	ck_assert_uint_gt(n, 0);
	ck_assert_uint_lt(n, sizeof(big));
	total += n;
	while ((n = ferry_stack_tcp_send(a.flow, big, sizeof(big) - total)) > 0)
		total += n;
	ck_assert_uint_eq(f->sendables, 0);
	/* The app acknowledges everything it got; tcp_sent frees room. */
	for (i = 0; i < 64 && pending_out(f); i++) {
		next_out(f, &t);
		a.ack = t.seq + (uint32_t)t.payload_len;
	}
	app_send(f, &a, 0, NULL, 0);
	ck_assert_int_eq(f->sendables, 1);
	ck_assert_uint_gt(f->sendable_space, 0);
	fake_free(f);
}
END_TEST

/* The whole stack as a loopback: the fake transport echoes every byte it takes back to
 * the application, taking only what lwIP's send buffer accepts, so the app's window
 * depends on its own reading. The app pushes total bytes and must read them back intact. */
static void echo_loopback(struct fake *f, struct app *a, size_t total, size_t seg)
{
	static uint8_t data[FERRY_TPKT_MAX];
	uint8_t *back = malloc(total);
	uint32_t stack_acked = a->seq, stack_wnd = 65535;
	size_t sent = 0, echoed = 0, i;
	struct ferry_tpkt t;
	unsigned rounds;

	ck_assert_ptr_nonnull(back);
	for (i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 13 + 5);
	f->echo = 1;
	for (rounds = 0; echoed < total && rounds < 10000; rounds++) {
		while (sent < total) {
			size_t n = total - sent < seg ? total - sent : seg;

			if ((uint32_t)(a->seq - stack_acked) + n > stack_wnd)
				break;
			app_send(f, a, FERRY_TPKT_PSH, data + sent % 4096, n);
			sent += n;
		}
		if (!pending_out(f))
			advance(f, 100); /* delayed ACKs, retries */
		while (pending_out(f)) {
			next_out(f, &t);
			if (t.flags & FERRY_TPKT_ACK) {
				stack_acked = t.ack;
				stack_wnd = (uint32_t)t.wnd << 4;
			}
			if (t.payload_len && t.seq == a->ack) {
				ck_assert_uint_le(echoed + t.payload_len, total);
				memcpy(back + echoed, t.payload, t.payload_len);
				echoed += t.payload_len;
				a->ack += (uint32_t)t.payload_len;
			}
		}
		app_send(f, a, 0, NULL, 0); /* the app reads and acknowledges */
	}
	ck_assert_uint_eq(echoed, total);
	ck_assert_int_gt(f->sendables, 0); /* the send buffer filled and drained */
	for (i = 0; i < total; i += 4096)
		ck_assert_mem_eq(back + i, data + i % 4096, total - i < 4096 ? total - i : 4096);
	free(back);
}

START_TEST(loopback_echo_v4_1500)
{
	struct fake *f = fake_new(1500);
	struct app a = app4(40030);

	establish(f, &a);
	echo_loopback(f, &a, 2u << 20, 1460);
	fake_free(f);
}
END_TEST

START_TEST(loopback_echo_v6_jumbo)
{
	struct fake *f = fake_new(65535);
	struct app a = {.src = APP6, .dst = DST6, .sport = 40031, .dport = 443, .seq = 1};

	establish(f, &a);
	echo_loopback(f, &a, 4u << 20, 32768);
	fake_free(f);
}
END_TEST

/* ---- closing ---- */

START_TEST(half_close_app_first)
{
	struct fake *f = fake_new(1500);
	struct app a = app4(40020);
	struct ferry_tpkt t;

	establish(f, &a);
	app_send(f, &a, FERRY_TPKT_FIN, "bye", 3);
	ck_assert_int_eq(f->eofs, 1);
	ck_assert_uint_eq(f->nrx, 3);
	/* The far side still talks to the half-closed app. */
	ck_assert_uint_eq(ferry_stack_tcp_send(a.flow, (const uint8_t *)"late", 4), 4);
	do
		next_out(f, &t); /* lwIP may ACK the FIN on its own first */
	while (t.payload_len == 0);
	ck_assert_uint_eq(t.payload_len, 4);
	ck_assert_uint_eq(t.ack, a.seq); /* the FIN is acknowledged */
	a.ack += 4;
	ck_assert_int_eq(ferry_stack_tcp_shutdown(a.flow), 0);
	ck_assert_int_eq(f->closed, 1);
	ck_assert_int_eq(f->closed_reason, 0);
	next_out(f, &t);
	ck_assert_uint_eq(t.flags & FERRY_TPKT_FIN, FERRY_TPKT_FIN);
	ck_assert_uint_eq(t.flags & FERRY_TPKT_RST, 0);
	ck_assert_uint_eq(ferry_stack_get_stats(f->stack)->tcp_flows, 0);
	a.ack += 1;
	app_send(f, &a, 0, NULL, 0); /* lwIP finishes LAST_ACK on its own */
	ck_assert_uint_eq(pending_out(f), 0);
	fake_free(f);
}
END_TEST

START_TEST(half_close_peer_first)
{
	struct fake *f = fake_new(1500);
	struct app a = app4(40021);
	struct ferry_tpkt t;

	establish(f, &a);
	ck_assert_int_eq(ferry_stack_tcp_shutdown(a.flow), 0);
	ck_assert_int_eq(ferry_stack_tcp_shutdown(a.flow), -EINVAL);
	next_out(f, &t);
	ck_assert_uint_eq(t.flags & FERRY_TPKT_FIN, FERRY_TPKT_FIN);
	a.ack += 1;
	ck_assert_uint_eq(ferry_stack_tcp_send(a.flow, (const uint8_t *)"x", 1), 0);
	/* The app keeps sending after our FIN. */
	app_send(f, &a, FERRY_TPKT_PSH, "more", 4);
	ck_assert_uint_eq(f->nrx, 4);
	ck_assert_int_eq(f->closed, 0);
	app_send(f, &a, FERRY_TPKT_FIN, NULL, 0);
	ck_assert_int_eq(f->eofs, 1);
	ck_assert_int_eq(f->closed, 1);
	ck_assert_int_eq(f->closed_reason, 0);
	fake_free(f);
}
END_TEST

START_TEST(rst_from_app)
{
	struct fake *f = fake_new(1500);
	struct app a = app4(40022);

	establish(f, &a);
	app_send(f, &a, FERRY_TPKT_RST, NULL, 0);
	ck_assert_int_eq(f->closed, 1);
	ck_assert_int_eq(f->closed_reason, -ECONNRESET);
	ck_assert_uint_eq(pending_out(f), 0);
	ck_assert_uint_eq(ferry_stack_get_stats(f->stack)->tcp_flows, 0);
	fake_free(f);
}
END_TEST

START_TEST(rst_from_peer)
{
	struct fake *f = fake_new(1500);
	struct app a = app4(40023);
	struct ferry_tpkt t;

	establish(f, &a);
	ferry_stack_tcp_reset(a.flow);
	next_out(f, &t);
	ck_assert_uint_eq(t.flags & FERRY_TPKT_RST, FERRY_TPKT_RST);
	ck_assert(ferry_tpkt_from(&t, DST4, 443));
	ck_assert_int_eq(f->closed, 0);
	ck_assert_uint_eq(ferry_stack_get_stats(f->stack)->tcp_flows, 0);
	fake_free(f);
}
END_TEST

START_TEST(reset_inside_data_callback)
{
	struct fake *f = fake_new(1500);
	struct app a = app4(40024);
	struct ferry_tpkt t;

	establish(f, &a);
	f->reset_in_data = 1;
	app_send(f, &a, FERRY_TPKT_PSH, "boom", 4);
	next_out(f, &t);
	ck_assert_uint_eq(t.flags & FERRY_TPKT_RST, FERRY_TPKT_RST);
	ck_assert_uint_eq(ferry_stack_get_stats(f->stack)->tcp_flows, 0);
	/* Later segments of the dead connection get lwIP's RST, not a crash. */
	app_send(f, &a, FERRY_TPKT_PSH, "more", 4);
	next_out(f, &t);
	ck_assert_uint_eq(t.flags & FERRY_TPKT_RST, FERRY_TPKT_RST);
	fake_free(f);
}
END_TEST

START_TEST(keepalive_gives_up)
{
	struct ferry_stack_config cfg;
	struct fake *f;
	struct app a = app4(40026);
	struct ferry_tpkt t;
	unsigned i, probes = 0;

	ferry_stack_config_default(&cfg);
	cfg.keepalive_idle_ms = 2000;
	cfg.keepalive_interval_ms = 1000;
	cfg.keepalive_count = 3;
	f = fake_new_cfg(&cfg);
	establish(f, &a);
	/* The app vanished: probes (seq one below the next) go unanswered. */
	for (i = 0; i < 40 && f->closed == 0; i++) {
		advance(f, 250);
		while (pending_out(f)) {
			next_out(f, &t);
			if (!(t.flags & FERRY_TPKT_RST) && t.seq == a.ack - 1)
				probes++;
		}
	}
	ck_assert_int_eq(f->closed, 1);
	ck_assert_int_eq(f->closed_reason, -ECONNABORTED);
	ck_assert_uint_ge(probes, 2);
	ck_assert_uint_le(f->now, 1000 + 2000 + 3 * 1000 + 1000);
	fake_free(f);
}
END_TEST

START_TEST(idle_timeout)
{
	struct ferry_stack_config cfg;
	struct fake *f;
	struct app a = app4(40025);
	struct ferry_tpkt t;

	ferry_stack_config_default(&cfg);
	cfg.tcp_idle_timeout_ms = 5000;
	cfg.keepalive_idle_ms = 0;
	f = fake_new_cfg(&cfg);
	establish(f, &a);
	advance(f, 3000);
	app_send(f, &a, FERRY_TPKT_PSH, "hi", 2); /* activity resets the clock */
	advance(f, 4000);
	ck_assert_int_eq(f->closed, 0);
	while (pending_out(f))
		next_out(f, &t);
	ck_assert_uint_le(ferry_stack_next_deadline(f->stack, f->now), f->now + 1000);
	advance(f, 1000);
	ck_assert_int_eq(f->closed, 1);
	ck_assert_int_eq(f->closed_reason, -ETIMEDOUT);
	next_out(f, &t);
	ck_assert_uint_eq(t.flags & FERRY_TPKT_RST, FERRY_TPKT_RST);
	fake_free(f);
}
END_TEST

/* ---- limits ---- */

START_TEST(table_full_evicts_lru)
{
	struct ferry_stack_config cfg;
	struct fake *f;
	struct app a[3] = {app4(41000), app4(41001), app4(41002)};
	struct ferry_tpkt t;

	ferry_stack_config_default(&cfg);
	cfg.max_tcp_flows = 2;
	cfg.evict_min_idle_ms = 10000;
	cfg.keepalive_idle_ms = 0;
	f = fake_new_cfg(&cfg);
	establish(f, &a[0]);
	establish(f, &a[1]);
	/* Both in use recently: the newcomer is refused, nobody evicted. */
	app_syn(f, &a[2], -ENOSPC);
	next_out(f, &t);
	ck_assert_uint_eq(t.flags, FERRY_TPKT_RST | FERRY_TPKT_ACK);
	ck_assert_int_eq(f->closed, 0);
	advance(f, 10000);
	while (pending_out(f))
		next_out(f, &t);
	app_send(f, &a[0], FERRY_TPKT_PSH, "x", 1); /* a[1] is now the least recent */
	app_syn(f, &a[2], 0);
	ck_assert_int_eq(f->closed, 1);
	ck_assert_ptr_eq(f->closed_flow, a[1].flow);
	ck_assert_int_eq(f->closed_reason, -ECONNABORTED);
	next_out(f, &t);
	ck_assert(ferry_tpkt_to(&t, APP4, 41001));
	ck_assert_uint_eq(t.flags & FERRY_TPKT_RST, FERRY_TPKT_RST);
	ck_assert_uint_eq(ferry_stack_get_stats(f->stack)->tcp_evicted, 1);
	ck_assert_uint_eq(ferry_stack_get_stats(f->stack)->tcp_flows, 2);
	fake_free(f);
}
END_TEST

START_TEST(table_full_refuses)
{
	struct ferry_stack_config cfg;
	struct fake *f;
	struct app a = app4(42000), b = app4(42001);
	struct ferry_tpkt t;

	ferry_stack_config_default(&cfg);
	cfg.max_tcp_flows = 1;
	cfg.evict_lru = false;
	f = fake_new_cfg(&cfg);
	establish(f, &a);
	app_syn(f, &b, -ENOSPC);
	next_out(f, &t);
	ck_assert(ferry_tpkt_to(&t, APP4, 42001));
	ck_assert_uint_eq(t.flags, FERRY_TPKT_RST | FERRY_TPKT_ACK);
	ck_assert_uint_eq(ferry_stack_get_stats(f->stack)->drops[FERRY_STACK_DROP_FLOWS_FULL], 1);
	ck_assert_uint_eq(f->nopened, 1);
	fake_free(f);
}
END_TEST

/* 256 listeners (MEMP_NUM_TCP_PCB_LISTEN): one more port in its handshake is refused. */
START_TEST(listener_pool_limit)
{
	struct fake *f = fake_new(1500);
	struct ferry_tpkt t;
	unsigned i;

	for (i = 0; i <= 256; i++) {
		struct app a = app4((uint16_t)(30000 + i));

		a.dport = (uint16_t)(1000 + i);
		app_syn(f, &a, 0);
		if (i < 256) {
			ck_assert_int_eq(ferry_stack_tcp_connected(f->opened[f->nopened - 1]), 0);
			next_out(f, &t);
			ck_assert_uint_eq(t.flags, FERRY_TPKT_SYN | FERRY_TPKT_ACK);
		} else {
			ck_assert_int_eq(ferry_stack_tcp_connected(f->opened[f->nopened - 1]),
					 -ENOMEM);
			next_out(f, &t);
			ck_assert_uint_eq(t.flags, FERRY_TPKT_RST | FERRY_TPKT_ACK);
		}
		if (f->nopened == MAX_FLOWS)
			f->nopened = 0;
	}
	fake_free(f);
}
END_TEST

/* We closed first, so lwIP keeps the 4-tuple in TIME_WAIT; the app reuses it at once. */
START_TEST(reuse_after_time_wait)
{
	struct fake *f = fake_new(1500);
	struct app a = app4(40040);
	struct ferry_tpkt t;

	establish(f, &a);
	ck_assert_int_eq(ferry_stack_tcp_shutdown(a.flow), 0);
	next_out(f, &t);
	ck_assert_uint_eq(t.flags & FERRY_TPKT_FIN, FERRY_TPKT_FIN);
	a.ack += 1;
	app_send(f, &a, FERRY_TPKT_FIN, NULL, 0);
	ck_assert_int_eq(f->closed, 1);
	while (pending_out(f))
		next_out(f, &t); /* the ACK of the app's FIN: TIME_WAIT */
	a.seq += 100000;
	app_syn(f, &a, 0);
	ck_assert_int_eq(ferry_stack_tcp_connected(f->opened[1]), 0);
	next_out(f, &t);
	ck_assert_uint_eq(t.flags, FERRY_TPKT_SYN | FERRY_TPKT_ACK);
	ck_assert_uint_eq(t.ack, a.seq);
	fake_free(f);
}
END_TEST

START_TEST(one_stack_per_process)
{
	struct fake *f = fake_new(1500);
	struct ferry_stack_config cfg;
	struct ferry_stack *other;

	ferry_stack_config_default(&cfg);
	ck_assert_int_eq(ferry_stack_create(&other, &cfg, &fake_ops, f, 0), -EBUSY);
	ferry_stack_destroy(f->stack);
	ck_assert_int_eq(ferry_stack_create(&f->stack, &cfg, &fake_ops, f, 0), 0);
	cfg.mtu = 100;
	ck_assert_int_eq(ferry_stack_create(&other, &cfg, &fake_ops, f, 0), -EINVAL);
	fake_free(f);
}
END_TEST

START_TEST(destroy_resets_flows)
{
	struct fake *f = fake_new(1500);
	struct app a = app4(43000), b = app4(43001);
	struct ferry_tpkt t;

	establish(f, &a);
	app_syn(f, &b, 0);
	ferry_stack_destroy(f->stack);
	f->stack = NULL;
	ck_assert_int_eq(f->closed, 2);
	next_out(f, &t);
	ck_assert_uint_eq(t.flags & FERRY_TPKT_RST, FERRY_TPKT_RST);
	next_out(f, &t);
	ck_assert_uint_eq(t.flags & FERRY_TPKT_RST, FERRY_TPKT_RST);
	fake_free(f);
}
END_TEST

/* ---- UDP and ICMP ---- */

START_TEST(udp_any_destination_and_replies)
{
	struct fake *f = fake_new(1500);
	struct ferry_endpoint other = {.family = AF_INET, .port = 3479};
	struct ferry_tpkt t;
	struct ferry_flow *flow;

	ferry_tpkt_udp(&t, APP4, 5353, "198.51.100.7", 53, "query", 5);
	ck_assert_int_eq(inject(f, &t), 0);
	ck_assert_int_eq(f->udp_opens, 1);
	ck_assert_int_eq(f->udp_datagrams, 1);
	ck_assert_uint_eq(f->udp_len, 5);
	ck_assert_mem_eq(f->udp_data, "query", 5);
	flow = f->udp_flow;
	ck_assert_int_eq(ferry_stack_flow_proto(flow), FERRY_FLOW_UDP);
	ck_assert_uint_eq(ferry_stack_flow_dst(flow)->port, 53);
	ck_assert_int_eq(inject(f, &t), 0);
	ck_assert_int_eq(f->udp_opens, 1); /* same flow */

	ck_assert_int_eq(ferry_stack_udp_send(flow, NULL, (const uint8_t *)"answer", 6), 0);
	next_out(f, &t);
	ck_assert(ferry_tpkt_from(&t, "198.51.100.7", 53));
	ck_assert(ferry_tpkt_to(&t, APP4, 5353));
	ck_assert_mem_eq(t.payload, "answer", 6);

	/* Full cone: a reply from elsewhere keeps its own source. */
	ferry_tpkt_addr(other.addr, "192.0.2.44");
	ck_assert_int_eq(ferry_stack_udp_send(flow, &other, (const uint8_t *)"stun", 4), 0);
	next_out(f, &t);
	ck_assert(ferry_tpkt_from(&t, "192.0.2.44", 3479));
	ck_assert(ferry_tpkt_to(&t, APP4, 5353));
	other.family = AF_INET6;
	ck_assert_int_eq(ferry_stack_udp_send(flow, &other, (const uint8_t *)"x", 1), -EINVAL);
	fake_free(f);
}
END_TEST

START_TEST(udp_v6_and_idle_timeout)
{
	struct fake *f = fake_new(1500);
	struct ferry_tpkt t;

	ferry_tpkt_udp(&t, APP6, 40000, DST6, 4433, "quic", 4);
	ck_assert_int_eq(inject(f, &t), 0);
	ck_assert_int_eq(ferry_stack_udp_send(f->udp_flow, NULL, (const uint8_t *)"hi", 2), 0);
	next_out(f, &t);
	ck_assert_int_eq(t.family, AF_INET6);
	ck_assert(ferry_tpkt_from(&t, DST6, 4433));
	ck_assert(ferry_tpkt_to(&t, APP6, 40000));
	ck_assert_uint_le(ferry_stack_next_deadline(f->stack, f->now),
			  f->now + f->cfg.udp_idle_timeout_ms);
	advance(f, f->cfg.udp_idle_timeout_ms - 1);
	ck_assert_int_eq(f->udp_closes, 0);
	advance(f, 1);
	ck_assert_int_eq(f->udp_closes, 1);
	ck_assert_uint_eq(ferry_stack_get_stats(f->stack)->udp_flows, 0);
	fake_free(f);
}
END_TEST

START_TEST(udp_limits_and_refusal)
{
	struct ferry_stack_config cfg;
	struct ferry_stack_ops ops = fake_ops;
	struct fake *f;
	struct ferry_tpkt t;

	ferry_stack_config_default(&cfg);
	cfg.max_udp_flows = 2;
	cfg.evict_min_idle_ms = 5000;
	f = fake_new_cfg(&cfg);
	ferry_tpkt_udp(&t, APP4, 1001, DST4, 53, "a", 1);
	ck_assert_int_eq(inject(f, &t), 0);
	ferry_tpkt_udp(&t, APP4, 1002, DST4, 53, "b", 1);
	ck_assert_int_eq(inject(f, &t), 0);
	ferry_tpkt_udp(&t, APP4, 1003, DST4, 53, "c", 1);
	ck_assert_int_eq(inject(f, &t), -ENOSPC); /* both in use */
	ck_assert_uint_eq(ferry_stack_get_stats(f->stack)->drops[FERRY_STACK_DROP_FLOWS_FULL], 1);
	advance(f, 5000);
	ferry_tpkt_udp(&t, APP4, 1002, DST4, 53, "b", 1);
	ck_assert_int_eq(inject(f, &t), 0); /* 1001 is now the oldest */
	ferry_tpkt_udp(&t, APP4, 1003, DST4, 53, "c", 1);
	ck_assert_int_eq(inject(f, &t), 0);
	ck_assert_int_eq(f->udp_closes, 1);
	ck_assert_uint_eq(ferry_stack_get_stats(f->stack)->udp_flows, 2);
	ck_assert_uint_eq(ferry_stack_get_stats(f->stack)->udp_opened, 3);
	fake_free(f);

	/* No echo handler: echo requests are dropped as refused. */
	ops.icmp_echo = NULL;
	f = fake_new(1500);
	ferry_stack_destroy(f->stack);
	ck_assert_int_eq(ferry_stack_create(&f->stack, &cfg, &ops, f, f->now), 0);
	ferry_tpkt_echo(&t, APP4, DST4, 1, 1, "x", 1);
	ck_assert_int_eq(inject(f, &t), -EPERM);
	ck_assert_uint_eq(ferry_stack_get_stats(f->stack)->drops[FERRY_STACK_DROP_REFUSED], 1);
	fake_free(f);
}
END_TEST

START_TEST(icmp_echo_forwarded_not_answered)
{
	struct fake *f = fake_new(1500);
	struct ferry_tpkt t;
	int v;

	for (v = 0; v < 2; v++) {
		const char *app = v ? APP6 : APP4, *dst = v ? DST6 : DST4;

		ferry_tpkt_echo(&t, app, dst, 0x1234, (uint16_t)(7 + v), "pingdata", 8);
		ck_assert_int_eq(inject(f, &t), 0);
		ck_assert_uint_eq(pending_out(f), 0); /* no local answer */
		ck_assert_int_eq(f->echoes, v + 1);
		ck_assert_uint_eq(f->echo_src.port, 0x1234);
		ck_assert_uint_eq(f->echo_seq, 7 + v);
		ck_assert_mem_eq(f->echo_data, "pingdata", 8);
		ck_assert_int_eq(ferry_stack_icmp_echo_reply(f->stack, &f->echo_src, &f->echo_dst,
							     f->echo_seq, f->echo_data,
							     f->echo_len),
				 0);
		next_out(f, &t);
		ck_assert_uint_eq(t.icmp_type, v ? 129 : 0);
		ck_assert_uint_eq(t.icmp_id, 0x1234);
		ck_assert_uint_eq(t.icmp_seq, 7 + v);
		ck_assert(ferry_tpkt_to(&t, app, 0));
		ck_assert(ferry_tpkt_from(&t, dst, 0));
		ck_assert_mem_eq(t.payload, "pingdata", 8);
	}
	fake_free(f);
}
END_TEST

/* A TUN batch in pool buffers: good packets taken, the bad one counted. */
START_TEST(input_batch)
{
	struct fake *f = fake_new(1500);
	struct ferry_buf *b[3];
	struct ferry_pool pool;
	struct ferry_tpkt t;
	int i;

	ck_assert_int_eq(ferry_pool_init(&pool, 3, 1500, 0), 0);
	for (i = 0; i < 3; i++) {
		b[i] = ferry_pool_get(&pool);
		ferry_tpkt_udp(&t, APP4, (uint16_t)(2000 + i), DST4, 53, "q", 1);
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
	fake_free(f);
}
END_TEST

/* ---- malformed input ---- */

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
	struct fake *f = fake_new(1500);
	uint8_t buf[256];
	struct ferry_tpkt t;
	size_t n;

	ferry_tpkt_tcp(&t, APP4, 1, DST4, 2, FERRY_TPKT_SYN, 0, 0);
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
	ferry_tpkt_tcp(&t, APP4, 1, DST4, 3, FERRY_TPKT_SYN, 0, 0);
	n = ferry_tpkt_build(buf, sizeof(buf), &t);
	buf[20 + 12] = 0xf0;
	expect_drop(f, buf, n, FERRY_STACK_DROP_HEADER);
	buf[20 + 12] = 0x40;
	expect_drop(f, buf, n, FERRY_STACK_DROP_HEADER);

	/* UDP length larger than the packet. */
	ferry_tpkt_udp(&t, APP4, 1, DST4, 53, "abc", 3);
	n = ferry_tpkt_build(buf, sizeof(buf), &t);
	buf[20 + 5] = 200;
	expect_drop(f, buf, n, FERRY_STACK_DROP_HEADER);

	/* Multicast and broadcast destinations. */
	ferry_tpkt_udp(&t, APP4, 1, "224.0.0.251", 5353, "m", 1);
	n = ferry_tpkt_build(buf, sizeof(buf), &t);
	expect_drop(f, buf, n, FERRY_STACK_DROP_ADDRESS);
	ferry_tpkt_udp(&t, APP4, 68, "255.255.255.255", 67, "b", 1);
	n = ferry_tpkt_build(buf, sizeof(buf), &t);
	expect_drop(f, buf, n, FERRY_STACK_DROP_ADDRESS);
	ferry_tpkt_udp(&t, APP6, 1, "ff02::fb", 5353, "m", 1);
	n = ferry_tpkt_build(buf, sizeof(buf), &t);
	expect_drop(f, buf, n, FERRY_STACK_DROP_ADDRESS);

	/* IPv6 extension headers, fragments, truncation. */
	ferry_tpkt_tcp(&t, APP6, 1, DST6, 2, FERRY_TPKT_SYN, 0, 0);
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
	ferry_tpkt_echo(&t, APP4, DST4, 1, 1, NULL, 0);
	t.icmp_type = 0;
	n = ferry_tpkt_build(buf, sizeof(buf), &t);
	expect_drop(f, buf, n, FERRY_STACK_DROP_PROTO);
	ferry_tpkt_udp(&t, APP4, 1, DST4, 2, NULL, 0);
	n = ferry_tpkt_build(buf, sizeof(buf), &t);
	buf[9] = 47; /* GRE */
	expect_drop(f, buf, n, FERRY_STACK_DROP_PROTO);

	ck_assert_uint_eq(pending_out(f), 0);
	ck_assert_int_eq(f->udp_opens, 0);
	ck_assert_uint_eq(f->nopened, 1); /* only the DF SYN */
	fake_free(f);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("stack");
	TCase *connect = ferry_tcase("connect", 10);
	TCase *data = ferry_tcase("data", 10);
	TCase *closing = ferry_tcase("closing", 10);
	TCase *limits = ferry_tcase("limits", 10);
	TCase *udp = ferry_tcase("udp_icmp", 10);
	TCase *input = ferry_tcase("input", 10);

	tcase_add_test(connect, syn_held_until_connected_v4);
	tcase_add_test(connect, syn_ack_v6_jumbo_mtu);
	tcase_add_test(connect, isn_unpredictable);
	tcase_add_test(connect, syn_ack_without_wscale_v6_1500);
	tcase_add_test(connect, connect_inside_open_callback);
	tcase_add_test(connect, refused_is_rst);
	tcase_add_test(connect, unreachable_is_icmp);
	tcase_add_test(connect, connect_timeout);
	tcase_add_test(connect, handshake_timeout);
	tcase_add_test(connect, far_side_speaks_first);
	tcase_add_test(connect, connect_from_inside_a_callback);
	tcase_add_test(data, data_both_ways);
	tcase_add_test(data, window_full_then_writable);
	tcase_add_test(data, partial_take_keeps_order);
	tcase_add_test(data, short_send_then_sendable);
	tcase_add_test(data, loopback_echo_v4_1500);
	tcase_add_test(data, loopback_echo_v6_jumbo);
	tcase_add_test(closing, half_close_app_first);
	tcase_add_test(closing, half_close_peer_first);
	tcase_add_test(closing, rst_from_app);
	tcase_add_test(closing, rst_from_peer);
	tcase_add_test(closing, reset_inside_data_callback);
	tcase_add_test(closing, idle_timeout);
	tcase_add_test(closing, keepalive_gives_up);
	tcase_add_test(limits, table_full_evicts_lru);
	tcase_add_test(limits, table_full_refuses);
	tcase_add_test(limits, one_stack_per_process);
	tcase_add_test(limits, listener_pool_limit);
	tcase_add_test(limits, reuse_after_time_wait);
	tcase_add_test(limits, destroy_resets_flows);
	tcase_add_test(udp, udp_any_destination_and_replies);
	tcase_add_test(udp, udp_v6_and_idle_timeout);
	tcase_add_test(udp, icmp_echo_forwarded_not_answered);
	tcase_add_test(udp, udp_limits_and_refusal);
	tcase_add_test(input, malformed_dropped_and_counted);
	tcase_add_test(input, input_batch);
	suite_add_tcase(s, connect);
	suite_add_tcase(s, data);
	suite_add_tcase(s, closing);
	suite_add_tcase(s, limits);
	suite_add_tcase(s, udp);
	suite_add_tcase(s, input);
	return ferry_run_suite(s);
}
