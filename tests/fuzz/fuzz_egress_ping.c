// SPDX-License-Identifier: MIT
/*
 * Fuzzes the egress's echo replies (stack/egress_udp.c, ferry_egress_ping_reply): the
 * bytes a ping socket reads are the internet's, and the source address is whoever sent
 * them. No socket is opened: the harness remembers requests the way ferry_egress_ping
 * does after its sendto, and hands replies to the parser the way ferry_egress_ping_io does
 * after its recvfrom.
 *
 * Input: a script of operations, until the input ends or an unknown one:
 *   0x00 f a s s    a request to address a (an index into a table; with bit 7, the next
 *                   16 bytes are the address) of family f (bit 0: IPv6), the application's
 *                   sequence number s (u16 big-endian); its wire sequence number is the
 *                   egress's next
 *   0x01 k a t n n  a reply on ping socket k (bit 0: the IPv6 one) from address a (as
 *                   above; the socket's family), t ms later, of n bytes (u16 big-endian,
 *                   cut to what is left) that follow; with bit 1 of k, its sequence
 *                   number (bytes 6 and 7, if it has them) is the last request's wire
 *                   number, as an honest host answers (else the fuzzer must guess 16 bits
 *                   to reach the deep path, and a short run may not)
 *   0x02 t          t seconds pass
 *
 * The check is a model of the contract: a reply is handed to ops->icmp_reply exactly when
 * it is an echo reply of the socket's family (type 0 or 129, 8 bytes of header at least)
 * whose wire sequence number names a remembered, unanswered request of that family to
 * that very address, within the window (60 s); then with the request's application
 * endpoint, destination and sequence number, the bytes after the header and the time
 * since the request; once. Anything else is counted as unmatched and nothing is called.
 * Each reply is an exact-size copy, so a read past it is ASan's to see.
 *
 * Deep path: a reply matched a request and was handed on.
 *
 * Seeds: `fuzz_egress_ping --write-seeds tests/fuzz/corpus/egress_ping`.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "stack/egress.h"
#include "stack/egress_internal.h"
#include "tests/fuzz/fuzz.h"

#define WINDOW_MS 60000 /* egress_udp.c's PING_WINDOW_MS */

enum {
	OP_REQUEST,
	OP_REPLY,
	OP_TIME,
	ADDR_RAW = 0x80,
};

static const uint8_t addrs[][16] = {
    {192, 0, 2, 1},
    {198, 51, 100, 7},
    {0x20, 0x01, 0x0d, 0xb8, [15] = 1},
    {0x20, 0x01, 0x0d, 0xb8, [15] = 2},
    {10, 0, 0, 1}, /* as IPv6: 0a00:0001::, the same bytes as 10.0.0.1 */
};

struct request {
	bool used;
	uint16_t wire;
	uint16_t seq;
	uint64_t sent;
	struct ferry_endpoint app, dst;
};

struct harness {
	struct ferry_egress *eg;
	struct request model[FERRY_EGRESS_PINGS_MAX];
	const uint8_t *msg; /* the reply being handed over */
	size_t len;
	const struct request *expect; /* what it must be delivered as, or NULL */
	uint64_t now;
	unsigned delivered; /* calls for the reply being handed over */
	unsigned long total;
	uint16_t last_wire; /* the last request's wire sequence number */
};

static int watch(void *ctx, int fd, uint32_t events, uint64_t cookie)
{
	(void)ctx;
	(void)fd;
	(void)events;
	(void)cookie;
	return 0;
}

static void unwatch(void *ctx, int fd)
{
	(void)ctx;
	(void)fd;
}

static void tcp_connected(void *ctx, uint32_t id)
{
	(void)ctx;
	(void)id;
	abort(); /* no flows here */
}

static void tcp_failed(void *ctx, uint32_t id, int err)
{
	(void)ctx;
	(void)id;
	(void)err;
	abort();
}

static size_t tcp_data(void *ctx, uint32_t id, const uint8_t *data, size_t len)
{
	(void)ctx;
	(void)id;
	(void)data;
	(void)len;
	abort();
}

static void tcp_eof(void *ctx, uint32_t id)
{
	(void)ctx;
	(void)id;
	abort();
}

static void tcp_sendable(void *ctx, uint32_t id, size_t space)
{
	(void)ctx;
	(void)id;
	(void)space;
	abort();
}

static void tcp_closed(void *ctx, uint32_t id, int reason)
{
	(void)ctx;
	(void)id;
	(void)reason;
	abort();
}

static void udp_datagram(void *ctx, uint32_t id, const struct ferry_endpoint *from,
			 const uint8_t *data, size_t len)
{
	(void)ctx;
	(void)id;
	(void)from;
	(void)data;
	(void)len;
	abort();
}

static bool same_ep(const struct ferry_endpoint *a, const struct ferry_endpoint *b)
{
	return a->family == b->family && a->port == b->port &&
	       memcmp(a->addr, b->addr, sizeof(a->addr)) == 0;
}

static void icmp_reply(void *ctx, const struct ferry_endpoint *app,
		       const struct ferry_endpoint *from, uint16_t seq, const uint8_t *data,
		       size_t len, uint32_t rtt_ms)
{
	struct harness *h = ctx;
	const struct request *r = h->expect;

	if (!r || h->delivered++)
		abort(); /* a reply the contract says is not one, or one handed on twice */
	if (!same_ep(app, &r->app) || !same_ep(from, &r->dst) || seq != r->seq ||
	    data != h->msg + 8 || len != h->len - 8 || rtt_ms != h->now - r->sent)
		abort();
	if (len)
		h->total += data[0] + data[len - 1]; /* both ends, for ASan */
}

static const struct ferry_egress_ops ops = {
    .watch = watch,
    .unwatch = unwatch,
    .tcp_connected = tcp_connected,
    .tcp_failed = tcp_failed,
    .tcp_data = tcp_data,
    .tcp_eof = tcp_eof,
    .tcp_sendable = tcp_sendable,
    .tcp_closed = tcp_closed,
    .udp_datagram = udp_datagram,
    .icmp_reply = icmp_reply,
};

/* Reads an address operand: a table index, or 16 raw bytes after ADDR_RAW. Returns false
 * when the input ended. */
static bool take_addr(const uint8_t *data, size_t size, size_t *i, uint8_t out[16])
{
	uint8_t a;

	if (*i >= size)
		return false;
	a = data[(*i)++];
	if (!(a & ADDR_RAW)) {
		memcpy(out, addrs[a % (sizeof(addrs) / sizeof(addrs[0]))], 16);
		return true;
	}
	if (size - *i < 16)
		return false;
	memcpy(out, data + *i, 16);
	*i += 16;
	return true;
}

/* An endpoint of family (AF_INET: the first 4 bytes of addr, the rest zero). */
static void endpoint(struct ferry_endpoint *ep, int family, const uint8_t addr[16], uint16_t port)
{
	memset(ep, 0, sizeof(*ep));
	ep->family = (uint8_t)family;
	memcpy(ep->addr, addr, family == AF_INET ? 4 : 16);
	ep->port = port;
}

/* What ferry_egress_ping remembers once its request is sent. */
static void request(struct harness *h, int family, const uint8_t addr[16], uint16_t seq)
{
	struct ferry_egress *eg = h->eg;
	uint16_t wire = eg->ping_seq++;
	struct egress_ping *p = &eg->pings[wire % FERRY_EGRESS_PINGS_MAX];
	struct request *m = &h->model[wire % FERRY_EGRESS_PINGS_MAX];
	static const uint8_t app_addr[16] = {10, 77, 0, 2};

	h->last_wire = wire;
	m->used = true;
	m->wire = wire;
	m->seq = seq;
	m->sent = h->now;
	endpoint(&m->app, family, app_addr, (uint16_t)(0x4000 + seq));
	endpoint(&m->dst, family, addr, 0);
	p->used = true;
	p->wire_seq = wire;
	p->seq = seq;
	p->sent = h->now;
	p->app = m->app;
	p->dst = m->dst;
	eg->stats.pings_sent++;
}

/* Hands one reply to the parser and checks the outcome against the model. */
static void reply(struct harness *h, int slot, const uint8_t addr[16], const uint8_t *bytes,
		  size_t len, bool honest)
{
	int family = slot ? AF_INET6 : AF_INET;
	struct sockaddr_storage ss;
	struct ferry_endpoint from;
	const struct ferry_egress_stats *st = ferry_egress_get_stats(h->eg);
	uint64_t unmatched = st->ping_unmatched, replies = st->ping_replies;
	struct request *m = NULL;
	uint8_t *msg = malloc(len ? len : 1);

	if (!msg)
		abort();
	memcpy(msg, bytes, len);
	if (honest && len >= 8) {
		msg[6] = (uint8_t)(h->last_wire >> 8);
		msg[7] = (uint8_t)h->last_wire;
	}
	memset(&ss, 0, sizeof(ss));
	endpoint(&from, family, addr, 0);
	if (slot) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, addr, 16);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, addr, 4);
	}
	if (len >= 8 && msg[0] == (slot ? 129 : 0)) {
		uint16_t wire = (uint16_t)(msg[6] << 8 | msg[7]);
		struct request *c = &h->model[wire % FERRY_EGRESS_PINGS_MAX];

		if (c->used && c->wire == wire && h->now - c->sent <= WINDOW_MS &&
		    c->dst.family == from.family &&
		    memcmp(c->dst.addr, from.addr, sizeof(from.addr)) == 0)
			m = c;
	}
	h->msg = msg;
	h->len = len;
	h->expect = m;
	h->delivered = 0;
	ferry_egress_ping_reply(h->eg, slot, msg, len, (const struct sockaddr *)&ss, h->now);
	if (h->delivered != (m ? 1u : 0u) || st->ping_replies != replies + (m ? 1 : 0) ||
	    st->ping_unmatched != unmatched + (m ? 0 : 1))
		abort();
	if (m)
		m->used = false;
	h->expect = NULL;
	free(msg);
}

static bool run(const uint8_t *data, size_t size)
{
	struct ferry_egress_config cfg;
	struct harness h = {.now = 1000};
	uint8_t addr[16];
	size_t i = 0, len;
	uint64_t replies;

	ferry_egress_config_default(&cfg);
	cfg.max_flows = 1;
	if (ferry_egress_create(&h.eg, &cfg, &ops, &h) != 0)
		abort();
	while (i < size) {
		uint8_t op = data[i++], k;
		bool honest;
		uint16_t seq;

		if (op == OP_REQUEST) {
			if (i >= size)
				break;
			k = data[i++];
			if (!take_addr(data, size, &i, addr) || size - i < 2)
				break;
			seq = (uint16_t)(data[i] << 8 | data[i + 1]);
			i += 2;
			request(&h, (k & 1) ? AF_INET6 : AF_INET, addr, seq);
		} else if (op == OP_REPLY) {
			if (i >= size)
				break;
			honest = data[i] & 2;
			k = data[i++] & 1;
			if (!take_addr(data, size, &i, addr) || size - i < 3)
				break;
			h.now += data[i];
			len = (size_t)data[i + 1] << 8 | data[i + 2];
			i += 3;
			if (len > size - i)
				len = size - i;
			reply(&h, k, addr, data + i, len, honest);
			i += len;
		} else if (op == OP_TIME) {
			if (i >= size)
				break;
			h.now += (uint64_t)data[i++] * 1000;
		} else {
			break;
		}
	}
	replies = ferry_egress_get_stats(h.eg)->ping_replies;
	ferry_egress_destroy(h.eg);
	return replies > 0;
}

/* ---- seeds ---- */

struct seed {
	uint8_t b[512];
	size_t len;
};

static void put(struct seed *s, const void *p, size_t n)
{
	if (s->len + n > sizeof(s->b))
		abort();
	memcpy(s->b + s->len, p, n);
	s->len += n;
}

static void op_request(struct seed *s, int v6, uint8_t addr, uint16_t seq)
{
	uint8_t b[5] = {OP_REQUEST, (uint8_t)v6, addr, (uint8_t)(seq >> 8), (uint8_t)seq};

	put(s, b, sizeof(b));
}

/* A reply of type `type` with wire sequence number wire and payload text. */
static void op_reply(struct seed *s, int slot, uint8_t addr, uint8_t dt, uint8_t type,
		     uint16_t wire, const char *text)
{
	size_t n = 8 + strlen(text);
	uint8_t b[6] = {OP_REPLY, (uint8_t)slot, addr, dt, (uint8_t)(n >> 8), (uint8_t)n};
	uint8_t icmp[8] = {type, 0, 0x12, 0x34, 0x00, 0x2a, (uint8_t)(wire >> 8), (uint8_t)wire};

	put(s, b, sizeof(b));
	put(s, icmp, sizeof(icmp));
	put(s, text, strlen(text));
}

static int write_seeds(const char *dir)
{
	static const uint8_t short_reply[] = {OP_REQUEST, 0, 0, 0, 1, OP_REPLY, 0,
					      0,	  5, 0, 3, 0, 0,	0};
	struct seed s;
	int err = 0; /* any write's failure, ORed */

	s.len = 0;
	op_request(&s, 0, 0, 1);
	op_reply(&s, 0, 0, 12, 0, 0, "abcdefgh");
	err |= fuzz_seed_write(dir, "v4_reply", s.b, s.len);

	s.len = 0;
	op_request(&s, 1, 2, 7);
	op_request(&s, 1, 3, 8);
	op_reply(&s, 1, 3, 3, 129, 1, "second");
	op_reply(&s, 1, 2, 4, 129, 0, "first");
	err |= fuzz_seed_write(dir, "v6_two_replies_reordered", s.b, s.len);

	/* a host that answers honestly (bit 1: the reply carries the last request's wire
	 * number, whatever the bytes say), both families, one after the other */
	s.len = 0;
	op_request(&s, 0, 0, 21);
	op_reply(&s, 2, 0, 2, 0, 0xffff, "honest");
	op_request(&s, 1, 2, 22);
	op_reply(&s, 3, 2, 2, 129, 0xffff, "honest6");
	op_request(&s, 0, 1, 23);
	op_reply(&s, 2, 1, 1, 0, 0xffff, "again");
	err |= fuzz_seed_write(dir, "honest_replies", s.b, s.len);

	/* the same reply again: the request was answered */
	s.len = 0;
	op_request(&s, 0, 1, 300);
	op_reply(&s, 0, 1, 1, 0, 0, "x");
	op_reply(&s, 0, 1, 1, 0, 0, "x");
	err |= fuzz_seed_write(dir, "v4_duplicate", s.b, s.len);

	/* from another address than the request went to, then from the right one */
	s.len = 0;
	op_request(&s, 0, 0, 5);
	op_reply(&s, 0, 1, 1, 0, 0, "spoof");
	op_reply(&s, 0, 0, 1, 0, 0, "real");
	err |= fuzz_seed_write(dir, "v4_wrong_source", s.b, s.len);

	/* a minute and more later */
	s.len = 0;
	op_request(&s, 0, 0, 9);
	put(&s, (const uint8_t[]){OP_TIME, 61}, 2);
	op_reply(&s, 0, 0, 0, 0, 0, "late");
	err |= fuzz_seed_write(dir, "v4_late", s.b, s.len);

	/* an echo request, not a reply; an IPv4 type on the IPv6 socket; too short */
	s.len = 0;
	op_request(&s, 0, 0, 2);
	op_request(&s, 1, 2, 3);
	op_reply(&s, 0, 0, 1, 8, 0, "req");
	op_reply(&s, 1, 2, 1, 0, 1, "v4type");
	err |= fuzz_seed_write(dir, "wrong_types", s.b, s.len);
	err |= fuzz_seed_write(dir, "short_reply", short_reply, sizeof(short_reply));

	/* regression: a request to the IPv6 address 0a00:0001:: and a reply on the IPv4
	 * socket from 10.0.0.1 -- the same sixteen bytes; it was matched across families */
	s.len = 0;
	op_request(&s, 1, 4, 11);
	op_reply(&s, 0, 4, 1, 0, 0, "family");
	err |= fuzz_seed_write(dir, "regress_family", s.b, s.len);
	return err ? -EIO : 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const struct fuzz_spec spec = {
	    .name = "fuzz_egress_ping",
	    .deep = "a reply matched to its request and handed on",
	    .min_inputs = 8,
	    .floor_permille = 20,
	    .write_seeds = write_seeds,
	};

	return fuzz_init(argc, argv, &spec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_deep(run(data, size));
	return 0;
}
