// SPDX-License-Identifier: MIT
/*
 * Fuzz harness for the stack's TUN input: everything the kernel could hand ferry.
 *
 * The input is a script of operations, so that the fuzzer reaches states beyond the
 * first packet (held SYNs, open connections, half-closes) and mixes the caller's calls
 * with packets:
 *   0x00 len_hi len_lo bytes...  one IP packet into ferry_stack_input
 *   0x01                        the most recent held connection connected
 *   0x02 err                    ... refused (err 0: ECONNREFUSED, else EHOSTUNREACH)
 *   0x03 n                      the clock advances n * 50 ms, then ferry_stack_timer
 *   0x04 n                      n bytes toward the most recent connection
 *   0x05                        shutdown toward it
 *   0x06                        reset it
 *   0x07 n                      the caller takes n * 64 more bytes, then writable
 *   0x08 n                      a UDP reply of n bytes on the most recent UDP flow
 *   0x09 flags n                the application answers the last TCP segment the stack
 *                               wrote (ports, seq and ack mirrored) with these TCP flags
 *                               and n bytes: this gets past lwIP's handshake and sequence
 *                               checks, which random bytes almost never would
 *   0x0a n                      n bytes toward it with ferry_stack_tcp_send_more
 *   0x0b                        ferry_stack_flush (the end of a turn)
 * Anything else ends the script. One stack lives per input (lwIP allows one at a time).
 *
 * Deep path: the stack did something with the input -- wrote a packet back (an answer, an
 * RST, an ICMP error) or reported a flow through a callback -- rather than drop it at the
 * first header check.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stack/stack.h"
#include "tests/fuzz/fuzz.h"
#include "tests/support/pkt.h"

#define MAX_LIVE 32

struct harness {
	struct ferry_stack *stack;
	struct ferry_flow *tcp[MAX_LIVE]; /* live TCP flows, most recent last */
	unsigned ntcp;
	struct ferry_flow *udp[MAX_LIVE];
	unsigned nudp;
	size_t budget;		    /* bytes tcp_data may still take */
	uint8_t last_tcp_out[2048]; /* the last TCP segment written to the TUN */
	size_t last_tcp_len;
	unsigned long calls; /* callbacks the stack made: the deep path */
};

static void forget(struct ferry_flow **list, unsigned *n, const struct ferry_flow *flow)
{
	unsigned i;

	for (i = 0; i < *n; i++)
		if (list[i] == flow) {
			memmove(&list[i], &list[i + 1],
				(*n - i - 1) * sizeof(list[0])); // NOLINT: pointers
			(*n)--;
			return;
		}
}

static void remember(struct ferry_flow **list, unsigned *n, struct ferry_flow *flow)
{
	if (*n == MAX_LIVE)
		return; /* the harness loses track; the stack still owns and ends it */
	list[(*n)++] = flow;
}

static int is_tracked(struct ferry_flow **list, unsigned n, const struct ferry_flow *flow)
{
	unsigned i;

	for (i = 0; i < n; i++)
		if (list[i] == flow)
			return 1;
	return 0;
}

static int tun_write(void *ctx, const uint8_t *pkt, size_t len)
{
	struct harness *h = ctx;
	struct ferry_tpkt t;

	h->calls++;
	if (len <= sizeof(h->last_tcp_out) && ferry_tpkt_parse(&t, pkt, len) == 0 && t.proto == 6) {
		memcpy(h->last_tcp_out, pkt, len);
		h->last_tcp_len = len;
	}
	return 0;
}

/* The application's answer to the stack's last TCP segment. */
static void answer(struct harness *h, uint8_t flags, size_t n)
{
	static const uint8_t zeros[256];
	struct ferry_tpkt in, out;
	uint8_t buf[2048];
	size_t len;

	if (!h->last_tcp_len || ferry_tpkt_parse(&in, h->last_tcp_out, h->last_tcp_len) != 0)
		return;
	out = in;
	memcpy(out.src, in.dst, 16);
	memcpy(out.dst, in.src, 16);
	out.sport = in.dport;
	out.dport = in.sport;
	out.seq = in.ack;
	out.ack = in.seq + (uint32_t)in.payload_len +
		  ((in.flags & (FERRY_TPKT_SYN | FERRY_TPKT_FIN)) ? 1 : 0);
	out.flags = flags;
	out.wnd = 65535;
	out.mss = 0;
	out.wscale = -1;
	out.payload = zeros;
	out.payload_len = n < sizeof(zeros) ? n : sizeof(zeros);
	out.ip_options = 0;
	out.frag = 0;
	out.ext_hdr = -1;
	len = ferry_tpkt_build(buf, sizeof(buf), &out);
	if (len)
		ferry_stack_input(h->stack, buf, len);
}

static int tcp_open(void *ctx, struct ferry_flow *flow, const struct ferry_endpoint *src,
		    const struct ferry_endpoint *dst)
{
	struct harness *h = ctx;

	(void)src;
	(void)dst;
	h->calls++;
	remember(h->tcp, &h->ntcp, flow);
	return 0;
}

static size_t tcp_data(void *ctx, struct ferry_flow *flow, const uint8_t *data, size_t len)
{
	struct harness *h = ctx;
	size_t n = len < h->budget ? len : h->budget;

	(void)flow;
	(void)data;
	h->budget -= n;
	return n;
}

static void tcp_eof(void *ctx, struct ferry_flow *flow)
{
	(void)ctx;
	(void)flow;
}

static void tcp_sendable(void *ctx, struct ferry_flow *flow, size_t space)
{
	(void)ctx;
	(void)flow;
	(void)space;
}

static void tcp_closed(void *ctx, struct ferry_flow *flow, int reason)
{
	struct harness *h = ctx;

	(void)reason;
	forget(h->tcp, &h->ntcp, flow);
}

static void udp_datagram(void *ctx, struct ferry_flow *flow, const uint8_t *data, size_t len)
{
	struct harness *h = ctx;

	(void)data;
	(void)len;
	h->calls++;
	if (!is_tracked(h->udp, h->nudp, flow))
		remember(h->udp, &h->nudp, flow);
}

static void udp_closed(void *ctx, struct ferry_flow *flow)
{
	struct harness *h = ctx;

	forget(h->udp, &h->nudp, flow);
}

static int icmp_echo(void *ctx, const struct ferry_endpoint *src, const struct ferry_endpoint *dst,
		     uint16_t seq, const uint8_t *data, size_t len)
{
	struct harness *h = ctx;

	h->calls++;
	if (seq & 1)
		return -EHOSTUNREACH; /* the stack answers with an unreachable, quoting */
	ferry_stack_icmp_echo_reply(h->stack, src, dst, seq, data, len);
	return 0;
}

static const struct ferry_stack_ops ops = {
    .tun_write = tun_write,
    .tcp_open = tcp_open,
    .tcp_data = tcp_data,
    .tcp_eof = tcp_eof,
    .tcp_sendable = tcp_sendable,
    .tcp_closed = tcp_closed,
    .udp_datagram = udp_datagram,
    .udp_closed = udp_closed,
    .icmp_echo = icmp_echo,
};

static struct ferry_flow *last_tcp(struct harness *h)
{
	return h->ntcp ? h->tcp[h->ntcp - 1] : NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const struct fuzz_spec spec = {
	    .name = "fuzz_tun_input",
	    .deep = "a packet the stack answered or made a flow of",
	    .min_inputs = 10,
	    .floor_permille = 50,
	};

	return fuzz_init(argc, argv, &spec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t zeros[2048];
	struct ferry_stack_config cfg;
	struct harness h = {.budget = 1 << 20};
	struct ferry_flow *flow;
	uint64_t now = 1000;
	size_t i = 0, len;

	ferry_stack_config_default(&cfg);
	cfg.max_tcp_flows = 16;
	cfg.max_udp_flows = 16;
	cfg.mtu = 1500;
	if (ferry_stack_create(&h.stack, &cfg, &ops, &h, now) != 0)
		abort();
	while (i < size) {
		uint8_t op = data[i++];
		uint8_t arg = i < size ? data[i] : 0;

		switch (op) {
		case 0x00:
			if (i + 2 > size)
				goto out;
			len = (size_t)data[i] << 8 | data[i + 1];
			i += 2;
			if (len > size - i)
				len = size - i;
			ferry_stack_input(h.stack, data + i, len);
			i += len;
			break;
		case 0x01:
			flow = last_tcp(&h);
			if (flow && ferry_stack_tcp_connected(flow) == -ENOMEM)
				forget(h.tcp, &h.ntcp, flow);
			break;
		case 0x02:
			i++;
			flow = last_tcp(&h);
			if (flow) { /* on a connection past CONNECTING this is a reset */
				forget(h.tcp, &h.ntcp, flow);
				ferry_stack_tcp_refused(flow, arg ? -EHOSTUNREACH : -ECONNREFUSED);
			}
			break;
		case 0x03:
			i++;
			now += (uint64_t)arg * 50;
			ferry_stack_timer(h.stack, now);
			break;
		case 0x04:
		case 0x0a:
			i++;
			flow = last_tcp(&h);
			if (flow && op == 0x04)
				ferry_stack_tcp_send(flow, zeros, arg);
			else if (flow)
				ferry_stack_tcp_send_more(flow, zeros, arg);
			break;
		case 0x05:
			flow = last_tcp(&h);
			if (flow)
				ferry_stack_tcp_shutdown(flow);
			break;
		case 0x06:
			flow = last_tcp(&h);
			if (flow) {
				forget(h.tcp, &h.ntcp, flow);
				ferry_stack_tcp_reset(flow);
			}
			break;
		case 0x07:
			i++;
			h.budget += (size_t)arg * 64;
			flow = last_tcp(&h);
			if (flow)
				ferry_stack_tcp_writable(flow);
			break;
		case 0x08:
			i++;
			if (h.nudp)
				ferry_stack_udp_send(h.udp[h.nudp - 1], NULL, zeros, arg);
			break;
		case 0x09:
			if (i + 2 > size)
				goto out;
			answer(&h, data[i], data[i + 1]);
			i += 2;
			break;
		case 0x0b:
			ferry_stack_flush(h.stack);
			break;
		default:
			goto out;
		}
	}
out:
	ferry_stack_destroy(h.stack);
	fuzz_deep(h.calls > 0);
	return 0;
}
