// SPDX-License-Identifier: MIT
/*
 * The fake transport of tests/support/stackfake.h: stack callbacks that record what the
 * stack did into struct ferry_stackfake, and the helpers that play the application.
 *
 * Packets the stack writes are copied (malloc: a test helper, not the data path) and kept
 * until the test has read them all; the next write then recycles the lot, so a long test
 * holds at most FERRY_STACKFAKE_MAX_OUT packets at a time.
 */
#include "tests/support/stackfake.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "transport/pool.h"

/* Feeds the stack a packet from inside a callback, as a careless caller would. */
static void nested_input(struct ferry_stackfake *f)
{
	uint8_t junk[20] = {0x45};
	struct ferry_buf b = {.data = junk, .len = sizeof(junk)};

	f->nested_input_ret = ferry_stack_input(f->stack, junk, sizeof(junk));
	f->nested_batch_ret = ferry_stack_input_batch(f->stack, &b);
}

static int fake_tun_write(void *ctx, const uint8_t *pkt, size_t len)
{
	struct ferry_stackfake *f = ctx;
	unsigned i;

	if (f->tun_full)
		return -EAGAIN;
	if (f->seen == f->nout) { /* everything read: recycle */
		for (i = 0; i < f->nout; i++)
			free(f->out[i]);
		f->nout = f->seen = 0;
	}
	ck_assert_uint_lt(f->nout, FERRY_STACKFAKE_MAX_OUT);
	f->out[f->nout] = malloc(len);
	ck_assert_ptr_nonnull(f->out[f->nout]);
	memcpy(f->out[f->nout], pkt, len);
	f->out_len[f->nout++] = len;
	return 0;
}

static int fake_tcp_open(void *ctx, struct ferry_flow *flow, const struct ferry_endpoint *src,
			 const struct ferry_endpoint *dst)
{
	struct ferry_stackfake *f = ctx;

	ck_assert_uint_lt(f->nopened, FERRY_STACKFAKE_MAX_FLOWS);
	f->opened[f->nopened++] = flow;
	f->open_src = *src;
	f->open_dst = *dst;
	if (f->input_in_open)
		nested_input(f);
	if (f->connect_in_open)
		ck_assert_int_eq(ferry_stack_tcp_connected(flow), 0);
	return f->open_ret;
}

static size_t fake_tcp_data(void *ctx, struct ferry_flow *flow, const uint8_t *data, size_t len)
{
	struct ferry_stackfake *f = ctx;
	size_t n = len < f->take_limit ? len : f->take_limit;

	if (f->input_in_data)
		nested_input(f);
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
	struct ferry_stackfake *f = ctx;

	(void)flow;
	f->eofs++;
}

static void fake_tcp_sendable(void *ctx, struct ferry_flow *flow, size_t space)
{
	struct ferry_stackfake *f = ctx;

	(void)flow;
	f->sendables++;
	f->sendable_space = space;
	if (f->echo)
		ferry_stack_tcp_writable(flow);
}

static void fake_tcp_closed(void *ctx, struct ferry_flow *flow, int reason)
{
	struct ferry_stackfake *f = ctx;

	f->closed++;
	f->closed_reason = reason;
	f->closed_flow = flow;
}

static int fake_udp_open(void *ctx, struct ferry_flow *flow, const struct ferry_endpoint *src,
			 const struct ferry_endpoint *dst)
{
	struct ferry_stackfake *f = ctx;

	(void)src;
	(void)dst;
	f->udp_opens++;
	f->udp_flow = flow;
	return 0;
}

static void fake_udp_datagram(void *ctx, struct ferry_flow *flow, const uint8_t *data, size_t len)
{
	struct ferry_stackfake *f = ctx;

	ck_assert_uint_le(len, sizeof(f->udp_data));
	if (f->input_in_udp)
		nested_input(f);
	f->udp_datagrams++;
	f->udp_flow = flow;
	memcpy(f->udp_data, data, len);
	f->udp_len = len;
}

static void fake_udp_closed(void *ctx, struct ferry_flow *flow)
{
	struct ferry_stackfake *f = ctx;

	(void)flow;
	f->udp_closes++;
}

static int fake_icmp_echo(void *ctx, const struct ferry_endpoint *src,
			  const struct ferry_endpoint *dst, uint16_t seq, const uint8_t *data,
			  size_t len)
{
	struct ferry_stackfake *f = ctx;

	ck_assert_uint_le(len, sizeof(f->echo_data));
	f->echoes++;
	f->echo_src = *src;
	f->echo_dst = *dst;
	f->echo_seq = seq;
	memcpy(f->echo_data, data, len);
	f->echo_len = len;
	return f->echo_ret;
}

const struct ferry_stack_ops ferry_stackfake_ops = {
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

struct ferry_stackfake *ferry_stackfake_new_cfg(const struct ferry_stack_config *cfg)
{
	struct ferry_stackfake *f = calloc(1, sizeof(*f));

	ck_assert_ptr_nonnull(f);
	f->rx = malloc(1u << 20);
	ck_assert_ptr_nonnull(f->rx);
	f->cfg = *cfg;
	f->now = 1000;
	f->take_limit = SIZE_MAX;
	ck_assert_int_eq(ferry_stack_create(&f->stack, &f->cfg, &ferry_stackfake_ops, f, f->now),
			 0);
	return f;
}

struct ferry_stackfake *ferry_stackfake_new(uint32_t mtu)
{
	struct ferry_stack_config cfg;

	ferry_stack_config_default(&cfg);
	cfg.mtu = mtu;
	return ferry_stackfake_new_cfg(&cfg);
}

void ferry_stackfake_free(struct ferry_stackfake *f)
{
	unsigned i;

	ferry_stack_destroy(f->stack);
	for (i = 0; i < f->nout; i++)
		free(f->out[i]);
	free(f->rx);
	free(f);
}

int ferry_stackfake_inject(struct ferry_stackfake *f, const struct ferry_tpkt *t)
{
	uint8_t buf[FERRY_TPKT_MAX];
	size_t n = ferry_tpkt_build(buf, sizeof(buf), t);

	ck_assert_uint_gt(n, 0);
	return ferry_stack_input(f->stack, buf, n);
}

void ferry_stackfake_advance(struct ferry_stackfake *f, uint64_t ms)
{
	f->now += ms;
	ferry_stack_timer(f->stack, f->now);
}

unsigned ferry_stackfake_pending_out(const struct ferry_stackfake *f)
{
	return f->nout - f->seen;
}

/* The next packet the stack wrote; fails the test if there is none or it is corrupt. */
void ferry_stackfake_next_out(struct ferry_stackfake *f, struct ferry_tpkt *t)
{
	ck_assert_msg(f->seen < f->nout, "expected a packet from the stack, got none");
	ck_assert_int_eq(ferry_tpkt_parse(t, f->out[f->seen], f->out_len[f->seen]), 0);
	ck_assert_msg(t->csum_ok, "bad checksum in packet %u", f->seen);
	f->seen++;
}

void ferry_stackfake_app_send(struct ferry_stackfake *f, struct ferry_stackfake_app *a,
			      uint8_t flags, const void *data, size_t len)
{
	struct ferry_tpkt t;

	ferry_tpkt_tcp(&t, a->src, a->sport, a->dst, a->dport, flags | FERRY_TPKT_ACK, a->seq,
		       a->ack);
	t.payload = data;
	t.payload_len = len;
	ck_assert_int_eq(ferry_stackfake_inject(f, &t), 0);
	a->seq += (uint32_t)len + ((flags & FERRY_TPKT_FIN) ? 1 : 0);
}

void ferry_stackfake_app_syn(struct ferry_stackfake *f, struct ferry_stackfake_app *a, int expect)
{
	struct ferry_tpkt t;

	ferry_tpkt_tcp(&t, a->src, a->sport, a->dst, a->dport, FERRY_TPKT_SYN, a->seq - 1, 0);
	t.mss = 1460;
	t.wscale = 7;
	ck_assert_int_eq(ferry_stackfake_inject(f, &t), expect);
}

/* SYN, connected, SYN-ACK, ACK: returns with the flow OPEN and no packet unread. */
void ferry_stackfake_establish(struct ferry_stackfake *f, struct ferry_stackfake_app *a)
{
	struct ferry_tpkt t;
	unsigned before = f->nopened;

	ferry_stackfake_app_syn(f, a, 0);
	ck_assert_uint_eq(f->nopened, before + 1);
	a->flow = f->opened[before];
	ck_assert_int_eq(ferry_stack_tcp_connected(a->flow), 0);
	ferry_stackfake_next_out(f, &t);
	ck_assert_uint_eq(t.flags, FERRY_TPKT_SYN | FERRY_TPKT_ACK);
	ck_assert_uint_eq(t.ack, a->seq);
	a->ack = t.seq + 1;
	ferry_stackfake_app_send(f, a, 0, NULL, 0);
	ck_assert_uint_eq(ferry_stackfake_pending_out(f), 0);
}

struct ferry_stackfake_app ferry_stackfake_app4(uint16_t sport)
{
	struct ferry_stackfake_app a = {.src = FERRY_STACKFAKE_APP4,
					.dst = FERRY_STACKFAKE_DST4,
					.sport = sport,
					.dport = 443,
					.seq = 1001};

	return a;
}
