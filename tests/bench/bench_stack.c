// SPDX-License-Identifier: MIT
/*
 * Benchmark of the stack in process (no TUN, no transport: a fake caller that takes
 * everything, and a scripted application that answers every segment at once).
 *
 * Prints: connections per second accepted and relayed (SYN held, connected, handshake,
 * 64 bytes each way, close both ways), bytes per second from the application through
 * lwIP to the caller and back, at MTU 1500 and 65535, the memory of an idle flow, the
 * resident memory of a stack with no flow, and what one flow's segments cost while
 * thousands of others hold all the bytes their windows allow (the memory budget's case).
 * Figures, not a test: the machine is shared, expect +-30 %.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lwip/stats.h"
#include "lwip/tcp.h"
#include "stack/internal.h"
#include "stack/stack.h"
#include "tests/support/pkt.h"
#include "tests/support/rss.h"

#define APP "10.9.0.2"

struct bench {
	struct ferry_stack *stack;
	uint64_t now;
	struct ferry_flow *opened;
	struct ferry_tpkt last; /* the last TCP segment written, parsed */
	uint8_t last_bytes[FERRY_TPKT_MAX];
	uint32_t data_end; /* highest seq + len seen toward the app */
	uint32_t acked;	   /* highest ack seen from the stack */
	uint32_t wnd;	   /* its window, scaled */
	uint64_t taken;
	unsigned eofs, closed;
	struct ferry_flow *probe; /* with hold: the only flow whose bytes the caller takes */
	int hold;		  /* the caller takes nothing (but the probe's) */
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int tun_write(void *ctx, const uint8_t *pkt, size_t len)
{
	struct bench *b = ctx;

	memcpy(b->last_bytes, pkt, len);
	if (ferry_tpkt_parse(&b->last, b->last_bytes, len) != 0 || b->last.proto != 6)
		return 0;
	if ((int32_t)(b->last.seq + (uint32_t)b->last.payload_len - b->data_end) > 0)
		b->data_end = b->last.seq + (uint32_t)b->last.payload_len;
	if (b->last.flags & FERRY_TPKT_ACK) {
		b->acked = b->last.ack;
		b->wnd = (uint32_t)b->last.wnd << 4;
	}
	return 0;
}

static int tcp_open(void *ctx, struct ferry_flow *flow, const struct ferry_endpoint *src,
		    const struct ferry_endpoint *dst)
{
	struct bench *b = ctx;

	(void)src;
	(void)dst;
	b->opened = flow;
	return 0;
}

static size_t tcp_data(void *ctx, struct ferry_flow *flow, const uint8_t *data, size_t len)
{
	struct bench *b = ctx;

	(void)data;
	if (b->hold && flow != b->probe)
		return 0;
	b->taken += len;
	return len;
}

static void tcp_eof(void *ctx, struct ferry_flow *flow)
{
	struct bench *b = ctx;

	b->eofs++;
	ferry_stack_tcp_shutdown(flow);
}

static void tcp_closed(void *ctx, struct ferry_flow *flow, int reason)
{
	struct bench *b = ctx;

	(void)flow;
	(void)reason;
	b->closed++;
}

static void tcp_sendable(void *ctx, struct ferry_flow *flow, size_t space)
{
	(void)ctx;
	(void)flow;
	(void)space;
}

static void udp_datagram(void *ctx, struct ferry_flow *flow, const uint8_t *data, size_t len)
{
	(void)ctx;
	(void)flow;
	(void)data;
	(void)len;
}

static const struct ferry_stack_ops ops = {
    .tun_write = tun_write,
    .tcp_open = tcp_open,
    .tcp_data = tcp_data,
    .tcp_eof = tcp_eof,
    .tcp_sendable = tcp_sendable,
    .tcp_closed = tcp_closed,
    .udp_datagram = udp_datagram,
};

static void inject(struct bench *b, const struct ferry_tpkt *t)
{
	static uint8_t buf[FERRY_TPKT_MAX];
	size_t n = ferry_tpkt_build(buf, sizeof(buf), t);

	if (!n || ferry_stack_input(b->stack, buf, n) != 0) {
		fprintf(stderr, "bench: input refused\n");
		exit(1);
	}
}

static void setup(struct bench *b, uint32_t mtu)
{
	struct ferry_stack_config cfg;

	memset(b, 0, sizeof(*b));
	ferry_stack_config_default(&cfg);
	cfg.mtu = mtu;
	b->now = 1000;
	if (ferry_stack_create(&b->stack, &cfg, &ops, b, b->now) != 0) {
		fprintf(stderr, "bench: cannot create the stack\n");
		exit(1);
	}
}

/* Opens one connection; returns the app's next seq and sets *ack to the stack's. */
static struct ferry_flow *open_conn(struct bench *b, const char *dst, uint16_t sport, uint32_t *seq,
				    uint32_t *ack)
{
	struct ferry_tpkt t;

	ferry_tpkt_tcp(&t, APP, sport, dst, 443, FERRY_TPKT_SYN, 1000, 0);
	t.mss = 65000;
	t.wscale = 7;
	inject(b, &t);
	ferry_stack_tcp_connected(b->opened);
	*seq = 1001;
	*ack = b->last.seq + 1;
	ferry_tpkt_tcp(&t, APP, sport, dst, 443, FERRY_TPKT_ACK, *seq, *ack);
	t.wnd = 65535; /* scaled by 7: 8 MiB */
	inject(b, &t);
	return b->opened;
}

static void bench_connections(unsigned n)
{
	static const uint8_t msg[64];
	struct bench b;
	struct ferry_tpkt t;
	struct ferry_flow *flow;
	uint32_t seq, ack;
	double t0, dt;
	unsigned i;

	setup(&b, 1500);
	t0 = now_s();
	for (i = 0; i < n; i++) {
		uint16_t sport = (uint16_t)(10000 + i % 50000);
		char dst[32];

		snprintf(dst, sizeof(dst), "198.18.%u.%u", (i / 250) % 250, 1 + i % 250);
		flow = open_conn(&b, dst, sport, &seq, &ack);
		ferry_tpkt_tcp(&t, APP, sport, dst, 443, FERRY_TPKT_ACK | FERRY_TPKT_PSH, seq, ack);
		t.payload = msg;
		t.payload_len = sizeof(msg);
		inject(&b, &t);
		seq += sizeof(msg);
		ferry_stack_tcp_send(flow, msg, sizeof(msg));
		ack += sizeof(msg);
		ferry_tpkt_tcp(&t, APP, sport, dst, 443, FERRY_TPKT_ACK | FERRY_TPKT_FIN, seq, ack);
		inject(&b, &t); /* eof -> shutdown -> our FIN */
		seq++;
		ferry_tpkt_tcp(&t, APP, sport, dst, 443, FERRY_TPKT_ACK, seq, ack + 1);
		inject(&b, &t); /* LAST_ACK done */
	}
	dt = now_s() - t0;
	printf("connections accepted+relayed+closed: %u in %.3f s = %.0f /s (closed %u, "
	       "flows left %u)\n",
	       n, dt, n / dt, b.closed, ferry_stack_get_stats(b.stack)->tcp_flows);
	ferry_stack_destroy(b.stack);
}

static void bench_accept_only(unsigned n)
{
	struct bench b;
	uint32_t seq, ack;
	double t0, dt;
	unsigned i;

	setup(&b, 1500);
	t0 = now_s();
	for (i = 0; i < n; i++) {
		char dst[32];

		snprintf(dst, sizeof(dst), "198.18.%u.%u", i / 250, 1 + i % 250);
		open_conn(&b, dst, (uint16_t)(10000 + i), &seq, &ack);
	}
	dt = now_s() - t0;
	printf("connections accepted and left open: %u in %.3f s = %.0f /s\n", n, dt, n / dt);
	printf("idle flow memory: ferry flow %zu B + hash bucket %zu B + lwIP tcp_pcb %zu B; "
	       "lwIP heap in use with %u idle flows: %zu B (%.1f B/flow)\n",
	       sizeof(struct ferry_flow),
	       sizeof(void *) * ((size_t)b.stack->bucket_mask + 1) /
		   (b.stack->cfg.max_tcp_flows + b.stack->cfg.max_udp_flows),
	       sizeof(struct tcp_pcb), n, (size_t)lwip_stats.mem.used,
	       (double)lwip_stats.mem.used / n);
	ferry_stack_destroy(b.stack);
}

/* Application -> lwIP -> caller. */
static void bench_upstream(uint32_t mtu, uint64_t total)
{
	static uint8_t seg[65536];
	struct bench b;
	struct ferry_tpkt t;
	uint32_t seq, ack, mss = mtu - 40;
	uint64_t sent = 0;
	double t0, dt;

	setup(&b, mtu);
	open_conn(&b, "203.0.113.1", 33000, &seq, &ack);
	t0 = now_s();
	while (sent < total) {
		if ((uint32_t)(seq - b.acked) + mss > b.wnd) {
			b.now += 200; /* let a delayed ACK out */
			ferry_stack_timer(b.stack, b.now);
			if ((uint32_t)(seq - b.acked) + mss > b.wnd) {
				fprintf(stderr, "bench: window stuck\n");
				exit(1);
			}
		}
		ferry_tpkt_tcp(&t, APP, 33000, "203.0.113.1", 443, FERRY_TPKT_ACK, seq, ack);
		t.payload = seg;
		t.payload_len = mss;
		inject(&b, &t);
		seq += mss;
		sent += mss;
	}
	dt = now_s() - t0;
	printf("app -> caller, MTU %5u: %.0f MB in %.3f s = %.2f Gbit/s (taken %.0f MB)\n", mtu,
	       (double)sent / 1e6, dt, (double)sent * 8 / dt / 1e9, (double)b.taken / 1e6);
	ferry_stack_destroy(b.stack);
}

/* Caller -> lwIP -> application (which ACKs every segment it sees). */
static void bench_downstream(uint32_t mtu, uint64_t total)
{
	static uint8_t data[65536];
	struct bench b;
	struct ferry_tpkt t;
	struct ferry_flow *flow;
	uint32_t seq, ack;
	uint64_t sent = 0;
	double t0, dt;
	unsigned stalls = 0;

	setup(&b, mtu);
	flow = open_conn(&b, "203.0.113.2", 34000, &seq, &ack);
	b.data_end = ack;
	t0 = now_s();
	while (sent < total && stalls < 1000) {
		size_t n = ferry_stack_tcp_send(flow, data, sizeof(data));

		sent += n;
		if (b.data_end != ack) {
			ack = b.data_end;
			ferry_tpkt_tcp(&t, APP, 34000, "203.0.113.2", 443, FERRY_TPKT_ACK, seq,
				       ack);
			inject(&b, &t);
		} else if (!n) {
			stalls++;
			b.now += 10;
			ferry_stack_timer(b.stack, b.now);
		}
	}
	dt = now_s() - t0;
	printf("caller -> app, MTU %5u: %.0f MB in %.3f s = %.2f Gbit/s\n", mtu, (double)sent / 1e6,
	       dt, (double)sent * 8 / dt / 1e9);
	ferry_stack_destroy(b.stack);
}

static void bench_memory_at_start(void)
{
	long before = ferry_test_rss_kib(), first, second;
	struct bench b;

	setup(&b, 1500);
	first = ferry_test_rss_kib();
	ferry_stack_destroy(b.stack);
	setup(&b, 1500);
	second = ferry_test_rss_kib();
	printf("resident memory of a stack with no flow: first in the process %+ld KiB (lwIP "
	       "sets up its pools), again %+ld KiB\n",
	       first - before, second - first);
	ferry_stack_destroy(b.stack);
}

/* n flows fill their windows while the caller takes none of their bytes; then one more
 * flow sends `probe` segments the caller takes: their cost shows the heap's state. */
static void bench_busy(unsigned n, unsigned probe)
{
	static uint8_t seg[1460];
	struct ferry_tpkt t;
	struct bench b;
	uint32_t seq, ack;
	double t0, dt;
	unsigned i, k;

	setup(&b, 1500);
	/* virtual time runs fast here (300 ms per segment for the delayed ACK): no timeouts */
	b.stack->cfg.tcp_idle_timeout_ms = 0;
	b.stack->cfg.keepalive_idle_ms = 0;
	b.hold = 1;
	for (i = 0; i < n; i++) {
		uint16_t sport = (uint16_t)(10000 + i);
		char dst[32];

		snprintf(dst, sizeof(dst), "198.18.%u.%u", i / 250, 1 + i % 250);
		open_conn(&b, dst, sport, &seq, &ack);
		for (k = 0; k < 256 && b.wnd >= sizeof(seg); k++) {
			ferry_tpkt_tcp(&t, APP, sport, dst, 443, FERRY_TPKT_ACK, seq, ack);
			t.payload = seg;
			t.payload_len = sizeof(seg);
			inject(&b, &t);
			seq += sizeof(seg);
			b.now += 300; /* the delayed ACK says the window */
			ferry_stack_timer(b.stack, b.now);
		}
	}
	b.probe = open_conn(&b, "203.0.113.3", 35000, &seq, &ack);
	t0 = now_s();
	for (i = 0; i < probe; i++) {
		ferry_tpkt_tcp(&t, APP, 35000, "203.0.113.3", 443, FERRY_TPKT_ACK, seq, ack);
		t.payload = seg;
		t.payload_len = sizeof(seg);
		inject(&b, &t);
		seq += sizeof(seg);
	}
	dt = now_s() - t0;
	printf("%5u busy flows holding %6.1f MiB (lwIP heap in use %5.1f MiB): one more flow's "
	       "segment costs %.2f us, %.0f%% of its bytes taken\n",
	       n, (double)b.stack->stats.rx_committed / 1048576.0,
	       (double)lwip_stats.mem.used / 1048576.0, dt / probe * 1e6,
	       100.0 * (double)b.taken / ((double)probe * sizeof(seg)));
	ferry_stack_destroy(b.stack);
}

int main(int argc, char **argv)
{
	unsigned conns = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 20000;

	bench_memory_at_start();
	bench_busy(0, 20000);
	bench_busy(320, 20000);
	bench_busy(2000, 20000);
	bench_busy(8000, 20000);
	bench_accept_only(10000);
	bench_connections(conns);
	bench_upstream(1500, 1000000000ull);
	bench_upstream(65535, 4000000000ull);
	bench_downstream(1500, 1000000000ull);
	bench_downstream(65535, 4000000000ull);
	return 0;
}
