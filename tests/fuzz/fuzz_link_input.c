// SPDX-License-Identifier: MIT
/*
 * Fuzzes ferry_link_set_input, the network's way in: message type dispatch, handshake
 * input (roaming, crossed initiations, cookie replies) and data input (open, replay
 * window, FEC, records), on a link set R with two peers, A and C, each a link set of its
 * own. A completes a handshake with R before the input runs (C too, if the input asks),
 * so authentic traffic is there to replay and mutate, and new authentic traffic can be
 * made at any point.
 *
 * Input: one flags byte (bit 0: C exists and completes its handshake too; bit 1: R starts
 * without A's address and learns it from A's initiation), then a script of operations
 * (those of an absent C do nothing); each takes 1 ms of the
 * virtual clock, and a script ends at an unknown operation or the end of the input.
 * The low nibble of an operation byte names it, the high nibble holds flags:
 *   0 s n b[n]     raw bytes b to R from source s
 *   1 p n          peer p (bit 0: A or C) sends a datagram-channel message of n bytes
 *   2 p n          peer p sends an ARQ segment of n bytes
 *   3 p s          peer p writes a handshake initiation to R, delivered from source s
 *   4 p            R writes an initiation to peer p (with 3: crossed initiations; the
 *                  static keys are ordered A < R < C, so R ignores A's initiation then
 *                  and answers C's)
 *   5 k s          the k-th datagram seen on the wire (a ring of the last 16, every
 *                  direction), again, to R from source s
 *   6 k s o o x    the same, with byte o (u16, modulo its length) xored with x, or cut to
 *                  o bytes when x is 0
 *   7 t            t * 250 ms pass; every side runs its timers
 *   8 p s          peer p's source address becomes s (a NAT rebinding, or a spoof)
 * Flags on 0 and 6: 0x10 write R's current receiver index for A into a data message;
 * 0x20 recompute a handshake message's mac1 with A's key for R (as anyone knowing R's
 * public key can). Sources s index a table of addresses: A's own, A behind a NAT on
 * another port, A over IPv6, C, an attacker, R itself. What a peer sends goes on the
 * harness's wire from its current source; R's answers go where R addresses them (to an
 * attacker's address: lost).
 *
 * Checks, on R, after every datagram it is given: the verdict is 0 or a negative errno; a
 * refused datagram changes no peer's address and makes R send nothing but a cookie
 * reply; an accepted one moves a peer only to its source, and a cookie reply never does.
 * Every message R's links deliver is one its peer sent, through that peer's link, intact,
 * and at most once (the payloads carry an id and a pattern) -- with one exception, allowed
 * here because the fuzzer found it and transport/link_recv.c is not this harness's to
 * change: a handshake resets R's FEC decoder (decoder_reset), which forgets what it
 * delivered, so parity of a group that straddles the reset can rebuild and deliver a
 * payload again. A repeat is accepted only across such a reset (docs/fuzzing.md).
 *
 * Everything is rebuilt for each input, so a crash reproduces from its input alone: the
 * link sets and the set-up's handshakes, with libsodium's randomness (ephemeral keys,
 * session indexes, cookie and hash keys) drawn from a keystream that restarts with every
 * input, so that an input runs the same way each time. Only what is a function of
 * constants is made once: the public keys, the address table, and each distinct X25519
 * (the keystream and the X25519 memo are tests/fuzz/sodium_fixed.c).
 *
 * Deep path: R accepted a datagram while the script ran (a data message opened, or a
 * handshake message taken), the set-up's handshakes aside.
 *
 * Seeds: `fuzz_link_input --write-seeds tests/fuzz/corpus/link_input`.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/sodium_fixed.h"
#include "transport/arq.h"
#include "transport/cookie.h"
#include "transport/link.h"

enum {
	SIDE_R,
	SIDE_A,
	SIDE_C,
	NSIDES,
	WIRE_MAX = 64,	   /* datagrams in flight */
	RING = 16,	   /* datagrams remembered for replay */
	DGRAM_MAX = 2048,  /* bytes of one */
	PUMP_MAX = 256,	   /* deliveries per pump */
	IDS = 4096,	   /* payload ids tracked for at-most-once */
	TAG_LEN = 5,	   /* id u32, sender */
	FLOW_BASE = 0x100, /* datagram flow of a sender: FLOW_BASE + its side */
	CONV_BASE = 0x200, /* ARQ conversation of a sender */
	HEADROOM = 64,
};

enum {
	OP_RAW,
	OP_SEND,
	OP_SEGMENT,
	OP_INIT,
	OP_R_INIT,
	OP_REPLAY,
	OP_MUTATE,
	OP_TIME,
	OP_MOVE,
	FIX_INDEX = 0x10,
	FIX_MAC = 0x20,
	FLAG_C_UP = 0x01,
	FLAG_PASSIVE = 0x02,
};

/* The address table: who owns each (the side its datagrams reach). */
static const struct {
	const char *ip;
	uint16_t port;
	int owner; /* a side, or -1: nobody (the attacker's) */
} addr_table[] = {
    {"127.0.0.2", 5001, SIDE_A}, {"127.0.0.2", 6001, SIDE_A}, {"2001:db8::2", 5001, SIDE_A},
    {"127.0.0.3", 5002, SIDE_C}, {"192.0.2.66", 4444, -1},    {"127.0.0.1", 5000, SIDE_R},
};
#define NADDRS ((int)(sizeof(addr_table) / sizeof(addr_table[0])))
#define ADDR_A 0
#define ADDR_C 3
#define ADDR_R 5

static const uint8_t privates[NSIDES][32] = {
    {0x18, 0x3c, 0x7a, 0x55, 0x21, 0x9e, 0x04, 0x6b, 0xc2, 0x3f, 0x81,
     0x17, 0xd0, 0x6a, 0x49, 0x2e, 0x73, 0x0c, 0xb5, 0x98, 0x1d, 0x46,
     0xe7, 0x2a, 0x5f, 0x90, 0x33, 0xc8, 0x0b, 0x64, 0xa1, 0x5d},
    {0x48, 0x11, 0x9c, 0x2d, 0x76, 0xe3, 0x0a, 0x57, 0xbb, 0x20, 0x64,
     0xf9, 0x3e, 0x85, 0x12, 0xc7, 0x6d, 0x58, 0x01, 0xae, 0x37, 0xd2,
     0x9b, 0x44, 0x0f, 0x7c, 0xe8, 0x25, 0x53, 0x9a, 0x16, 0x6f},
    {0xa0, 0x6e, 0x23, 0xd9, 0x4c, 0x17, 0x85, 0x3a, 0xf6, 0x09, 0x52,
     0xbe, 0x1b, 0x74, 0xc3, 0x28, 0x99, 0x06, 0x4d, 0xe2, 0x31, 0x8f,
     0x5a, 0x17, 0xc4, 0x2b, 0x70, 0xd6, 0x0e, 0x83, 0x49, 0x75},
};

/* ------------------------------ what does not change ------------------------------ */

/* The public keys and the address table's socket addresses, made once (fixture_init). */
static struct {
	uint8_t pub[NSIDES][32];
	struct ferry_sockaddr addr[NADDRS];
} fixture;

/* Once per process, before the first input. */
static void fixture_init(void)
{
	int i;

	if (sodium_init() < 0 || fuzz_sodium_fix("fuzz_link_input") != 0)
		abort();
	for (i = 0; i < NSIDES; i++)
		if (ferry_noise_public_key(privates[i], fixture.pub[i]))
			abort();
	/* A < R < C: when initiations cross, R ignores A's and answers C's */
	if (memcmp(fixture.pub[SIDE_A], fixture.pub[SIDE_R], 32) >= 0 ||
	    memcmp(fixture.pub[SIDE_R], fixture.pub[SIDE_C], 32) >= 0)
		abort();
	for (i = 0; i < NADDRS; i++)
		if (ferry_sockaddr_from(&fixture.addr[i], addr_table[i].ip, addr_table[i].port))
			abort();
}

struct side {
	struct world *w;
	int id;
	bool active; /* C only when the input asks for it (set-up costs time) */
	struct ferry_link_set set;
	struct ferry_link link[2]; /* R: to A, to C; A and C: to R */
	int nlinks;
	uint8_t pub[32];
	int src; /* the address table entry it sends from */
};

struct dgram {
	uint8_t b[DGRAM_MAX];
	size_t len;
	int from; /* address table entry */
	struct ferry_sockaddr to;
};

struct world {
	struct side s[NSIDES];
	struct ferry_sockaddr addr[NADDRS];
	struct dgram wire[WIRE_MAX]; /* in flight: wire[whead .. nwire) */
	int whead, nwire;
	struct dgram ring[RING]; /* every datagram sent, for replay */
	unsigned ring_next;
	uint64_t now;
	uint32_t next_id;
	uint64_t delivered[IDS]; /* per id: 0, or 1 + R's decoder resets when delivered */
	uint8_t storage[DGRAM_MAX + HEADROOM];
	uint8_t msg[DGRAM_MAX]; /* the datagram an operation builds */
	bool counting;		/* the script runs */
	unsigned accepted;	/* datagrams R accepted while it ran */
};

static uint8_t pattern(uint32_t id, size_t i)
{
	return (uint8_t)((size_t)id * 131u + i * 7u + 1u);
}

static int side_of_addr(const struct world *w, const struct ferry_sockaddr *a)
{
	int i;

	for (i = 0; i < NADDRS; i++)
		if (a->len == w->addr[i].len && memcmp(&a->sa, &w->addr[i].sa, a->len) == 0)
			return addr_table[i].owner;
	return -1;
}

static void remember(struct world *w, const uint8_t *b, size_t len, int from,
		     const struct ferry_sockaddr *to)
{
	struct dgram *d = &w->ring[w->ring_next++ % RING];

	memcpy(d->b, b, len);
	d->len = len;
	d->from = from;
	d->to = *to;
}

static unsigned on_output(void *ctx, struct ferry_buf *const *bufs, const struct ferry_sockaddr *to,
			  unsigned n)
{
	struct side *s = ctx;
	struct world *w = s->w;
	unsigned i;

	for (i = 0; i < n; i++) {
		size_t len = bufs[i]->len;

		if (len > DGRAM_MAX)
			abort();
		remember(w, bufs[i]->data, len, s->src, &to[i]);
		if (w->nwire == WIRE_MAX)
			continue; /* the network drops it */
		memcpy(w->wire[w->nwire].b, bufs[i]->data, len);
		w->wire[w->nwire].len = len;
		w->wire[w->nwire].from = s->src;
		w->wire[w->nwire].to = to[i];
		w->nwire++;
	}
	return n;
}

/* A message R's link delivered on the flow or conversation of `channel` (a side): its
 * sender's, intact, once. */
static void check_payload(struct side *r, struct ferry_link *link, const uint8_t *p, size_t len,
			  uint32_t channel)
{
	struct world *w = r->w;
	uint32_t id;
	int sender;
	size_t i;

	if (len < TAG_LEN)
		abort();
	memcpy(&id, p, 4);
	sender = p[4];
	if ((sender != SIDE_A && sender != SIDE_C) || link != &r->link[sender - 1] ||
	    channel != (uint32_t)sender)
		abort(); /* made up, or delivered through another peer's link */
	for (i = TAG_LEN; i < len; i++)
		if (p[i] != pattern(id, i))
			abort();
	if (id >= w->next_id)
		abort();
	if (id < IDS) {
		uint64_t resets = link->stats.decoder_resets + 1;

		if (w->delivered[id] == resets)
			abort(); /* delivered twice, with no decoder reset in between */
		w->delivered[id] = resets;
	}
}

static void on_datagram(void *ctx, struct ferry_link *link, uint32_t flow_id, const uint8_t *data,
			size_t len, uint64_t now)
{
	struct side *s = ctx;

	(void)now;
	if (s->id != SIDE_R)
		return;
	if (flow_id < FLOW_BASE + SIDE_A || flow_id > FLOW_BASE + SIDE_C)
		abort();
	check_payload(s, link, data, len, flow_id - FLOW_BASE);
}

static void on_segments(void *ctx, struct ferry_link *link, uint32_t conv, const uint8_t *segs,
			size_t len, uint64_t now)
{
	struct side *s = ctx;
	struct ferry_arq_seg h;
	ssize_t n;

	(void)now;
	if (s->id != SIDE_R)
		return;
	if (conv < CONV_BASE + SIDE_A || conv > CONV_BASE + SIDE_C)
		abort();
	while (len) {
		n = ferry_arq_seg_decode(segs, len, &h);
		if (n < 0 || h.conv != conv)
			abort();
		check_payload(s, link, segs + FERRY_ARQ_HDR_LEN, h.len, conv - CONV_BASE);
		segs += n;
		len -= (size_t)n;
	}
}

static uint64_t realtime_ns(const struct side *s, uint64_t now)
{
	return s->set.clock_realtime_ns + (now - s->set.clock_ms) * UINT64_C(1000000);
}

/* ----------------------------------- delivery ------------------------------------- */

struct r_view {
	struct ferry_sockaddr endpoint[2];
	uint64_t outputs, cookies;
	unsigned out_n;
};

static void r_view(const struct world *w, struct r_view *v)
{
	const struct side *r = &w->s[SIDE_R];
	int i;

	for (i = 0; i < 2; i++)
		v->endpoint[i] = r->link[i].endpoint;
	v->outputs = r->set.stats.out_batches;
	v->cookies = r->set.stats.cookie_replies_out;
	v->out_n = r->set.out.n;
}

static bool addr_same(const struct ferry_sockaddr *a, const struct ferry_sockaddr *b)
{
	return a->len == b->len && memcmp(&a->sa, &b->sa, a->len) == 0;
}

/* Hands b to side `to` from address table entry `from`; on R, checks the verdict. */
static int deliver(struct world *w, int to, const uint8_t *b, size_t len, int from)
{
	struct ferry_buf buf = {.head = w->storage, .end = w->storage + sizeof(w->storage)};
	struct side *s = &w->s[to];
	const struct ferry_sockaddr *src = &w->addr[from];
	struct r_view before, after;
	uint8_t type = len ? b[0] : 0;
	int ret, i;

	if (len > DGRAM_MAX)
		len = DGRAM_MAX;
	buf.data = w->storage + HEADROOM;
	buf.len = (uint32_t)len;
	memcpy(buf.data, b, len);
	if (to != SIDE_R)
		return ferry_link_set_input(&s->set, &buf, src, w->now);

	r_view(w, &before);
	ret = ferry_link_set_input(&s->set, &buf, src, w->now);
	r_view(w, &after);
	if (ret > 0 || ret < -4095)
		abort();
	for (i = 0; i < 2; i++) {
		bool moved = !addr_same(&before.endpoint[i], &after.endpoint[i]);

		if (moved && (ret != 0 || type == FERRY_MSG_COOKIE_REPLY ||
			      !addr_same(&after.endpoint[i], src)))
			abort(); /* moved by what did not authenticate, or elsewhere */
	}
	if (ret != 0 && after.cookies == before.cookies &&
	    (after.outputs != before.outputs || after.out_n != before.out_n))
		abort(); /* answered a datagram that did not authenticate */
	if (ret == 0 && w->counting)
		w->accepted++;
	return ret;
}

/* Delivers what is on the wire, the answers too, until it is quiet (bounded). */
static void pump(struct world *w)
{
	int budget = PUMP_MAX;

	while (w->whead < w->nwire && budget-- > 0) {
		const struct dgram *d = &w->wire[w->whead++];
		int to = side_of_addr(w, &d->to);

		if (to < 0 || !w->s[to].active)
			continue; /* to the attacker's address, or nobody's */
		deliver(w, to, d->b, d->len, d->from);
		ferry_link_set_flush(&w->s[to].set, w->now);
	}
	w->whead = 0;
	w->nwire = 0;
}

/* ----------------------------------- the world ------------------------------------ */

static void side_init(struct world *w, int id, bool passive)
{
	/* 64 decoder slots, not 1,024: the decoder's memory is mapped and unmapped with every
	 * input, and a small pool also runs out, which exercises the eviction of old groups */
	static const struct ferry_link_config cfg = {.fec_data = 4,
						     .fec_parity = 2,
						     .fec_slots = 64,
						     .pacer_queue = 16,
						     .wait_queue = 8,
						     .seed = 7};
	struct side *s = &w->s[id];
	struct ferry_link_set_config sc = {.now = w->now,
					   .realtime_ns = 1790000000ULL * 1000000000ULL,
					   .ops = {.output = on_output, .ctx = s}};
	struct ferry_link_ops ops = {.segments = on_segments, .datagram = on_datagram, .ctx = s};
	int i;

	s->w = w;
	s->id = id;
	s->active = true;
	memcpy(sc.noise.static_private, privates[id], 32);
	if (ferry_link_set_init(&s->set, &sc))
		abort();
	if (id == SIDE_R) {
		s->src = ADDR_R;
		s->nlinks = 2;
		for (i = 0; i < 2; i++)
			if (ferry_link_init(&s->link[i], &s->set, w->s[SIDE_A + i].pub, NULL,
					    (i == 0 && passive) ? NULL
								: &w->addr[i ? ADDR_C : ADDR_A],
					    &cfg, &ops, w->now))
				abort();
		return;
	}
	s->src = id == SIDE_A ? ADDR_A : ADDR_C;
	s->nlinks = 1;
	if (ferry_link_init(&s->link[0], &s->set, w->s[SIDE_R].pub, NULL, &w->addr[ADDR_R], &cfg,
			    &ops, w->now))
		abort();
}

/* Peer p (SIDE_A or SIDE_C) sends one tagged message: a datagram, or an ARQ segment. */
static void send_tagged(struct world *w, int p, size_t n, bool segment)
{
	uint8_t body[TAG_LEN + 255], seg[FERRY_ARQ_HDR_LEN + sizeof(body)];
	struct ferry_link *link = &w->s[p].link[0];
	uint32_t id = w->next_id++;
	size_t i, len = TAG_LEN + n;

	memcpy(body, &id, 4);
	body[4] = (uint8_t)p;
	for (i = TAG_LEN; i < len; i++)
		body[i] = pattern(id, i);
	if (segment) {
		struct ferry_arq_seg h = {.conv = CONV_BASE + (uint32_t)p,
					  .cmd = FERRY_ARQ_CMD_PUSH,
					  .wnd = 32,
					  .sn = id,
					  .len = (uint32_t)len};
		ssize_t slen = ferry_arq_seg_encode(seg, sizeof(seg), &h, body);

		if (slen < 0)
			abort();
		(void)ferry_link_send_segments(link, seg, (size_t)slen, false, w->now);
	} else {
		(void)ferry_link_send_datagram(link, FLOW_BASE + (uint32_t)p, body, len, w->now);
	}
	ferry_link_flush(link, w->now);
	pump(w);
}

static bool world_init(struct world *w, uint8_t flags)
{
	int i;

	memset(w, 0, sizeof(*w));
	w->now = 1000;
	fuzz_sodium_restart();
	memcpy(w->addr, fixture.addr, sizeof(w->addr));
	for (i = 0; i < NSIDES; i++)
		memcpy(w->s[i].pub, fixture.pub[i], 32);
	side_init(w, SIDE_R, flags & FLAG_PASSIVE);
	side_init(w, SIDE_A, false);
	if (flags & FLAG_C_UP)
		side_init(w, SIDE_C, false);
	/* A's first message starts its handshake; the keepalive after R's response confirms
	 * R's session */
	send_tagged(w, SIDE_A, 0, false);
	if (flags & FLAG_C_UP)
		send_tagged(w, SIDE_C, 0, false);
	return ferry_link_state(&w->s[SIDE_A].link[0]) == FERRY_LINK_UP;
}

static void world_destroy(struct world *w)
{
	int i;

	for (i = 0; i < NSIDES; i++)
		if (w->s[i].active)
			ferry_link_set_destroy(&w->s[i].set);
}

/* ---------------------------------- operations ------------------------------------ */

/* R's view of a datagram it is handed by an operation: fixes first, if asked. */
static void deliver_scripted(struct world *w, uint8_t *b, size_t len, int from, uint8_t flags)
{
	const struct ferry_noise_session *cur = w->s[SIDE_R].link[0].peer.current;

	if ((flags & FIX_INDEX) && len >= 8 && b[0] == FERRY_MSG_DATA && cur) {
		uint32_t index = htole32(cur->local_index);

		memcpy(b + 4, &index, 4);
	}
	if ((flags & FIX_MAC) && len >= FERRY_MACS_LEN &&
	    ((b[0] == FERRY_MSG_INITIATION && len == FERRY_MSG_INITIATION_LEN) ||
	     (b[0] == FERRY_MSG_RESPONSE && len == FERRY_MSG_RESPONSE_LEN)))
		ferry_cookie_add_macs(&w->s[SIDE_A].link[0].peer.cookie, w->now, b, len);
	deliver(w, SIDE_R, b, len, from);
	ferry_link_set_flush(&w->s[SIDE_R].set, w->now);
	pump(w);
}

/* Peer p's (or R's toward p) initiation, written by noise as the link would. */
static void initiation(struct world *w, struct side *from, struct ferry_link *link,
		       uint8_t msg[FERRY_MSG_INITIATION_LEN])
{
	if (ferry_noise_create_initiation(&link->peer, w->now, realtime_ns(from, w->now), msg))
		abort();
}

static void run_script(struct world *w, const uint8_t *data, size_t size)
{
	uint8_t *msg = w->msg;
	size_t i = 0;

	while (i < size) {
		uint8_t op = data[i] & 0x0f, flags = data[i] & 0xf0, a, b;
		int p, s;
		size_t n, k;

		i++;
		w->now++;
		switch (op) {
		case OP_RAW:
			if (size - i < 2)
				return;
			s = data[i] % NADDRS;
			n = data[i + 1];
			i += 2;
			if (n > size - i)
				n = size - i;
			memcpy(msg, data + i, n);
			i += n;
			deliver_scripted(w, msg, n, s, flags);
			break;
		case OP_SEND:
		case OP_SEGMENT:
			if (size - i < 2)
				return;
			p = SIDE_A + (data[i] & 1);
			n = data[i + 1];
			i += 2;
			if (w->s[p].active)
				send_tagged(w, p, n, op == OP_SEGMENT);
			break;
		case OP_INIT:
			if (size - i < 2)
				return;
			p = SIDE_A + (data[i] & 1);
			s = data[i + 1] % NADDRS;
			i += 2;
			if (!w->s[p].active)
				break;
			initiation(w, &w->s[p], &w->s[p].link[0], msg);
			deliver_scripted(w, msg, FERRY_MSG_INITIATION_LEN, s, 0);
			break;
		case OP_R_INIT:
			if (size - i < 1)
				return;
			p = data[i++] & 1;
			initiation(w, &w->s[SIDE_R], &w->s[SIDE_R].link[p], msg);
			if (w->nwire < WIRE_MAX) {
				struct dgram *d = &w->wire[w->nwire++];

				memcpy(d->b, msg, FERRY_MSG_INITIATION_LEN);
				d->len = FERRY_MSG_INITIATION_LEN;
				d->from = ADDR_R;
				d->to = w->s[SIDE_R].link[p].endpoint.len
					    ? w->s[SIDE_R].link[p].endpoint
					    : w->addr[ADDR_A];
				remember(w, msg, FERRY_MSG_INITIATION_LEN, ADDR_R, &d->to);
			}
			pump(w);
			break;
		case OP_REPLAY:
		case OP_MUTATE:
			if (size - i < (op == OP_REPLAY ? 2u : 5u))
				return;
			k = (w->ring_next - 1 - data[i] % RING) % RING;
			s = data[i + 1] % NADDRS;
			n = w->ring[k].len;
			memcpy(msg, w->ring[k].b, n);
			if (op == OP_MUTATE && n) {
				size_t at = ((size_t)data[i + 2] << 8 | data[i + 3]) % n;

				if (data[i + 4])
					msg[at] ^= data[i + 4];
				else
					n = at;
			}
			i += op == OP_REPLAY ? 2 : 5;
			deliver_scripted(w, msg, n, s, op == OP_MUTATE ? flags : 0);
			break;
		case OP_TIME:
			if (size - i < 1)
				return;
			w->now += (uint64_t)data[i++] * 250;
			for (p = 0; p < NSIDES; p++) {
				if (!w->s[p].active)
					continue;
				ferry_link_set_timer(&w->s[p].set, w->now);
				ferry_link_set_flush(&w->s[p].set, w->now);
			}
			pump(w);
			break;
		case OP_MOVE:
			if (size - i < 2)
				return;
			a = data[i];
			b = data[i + 1];
			i += 2;
			w->s[SIDE_A + (a & 1)].src = b % NADDRS;
			break;
		default:
			return;
		}
	}
}

static bool run(const uint8_t *data, size_t size)
{
	static struct world *w;
	bool deep;

	if (!w) {
		w = malloc(sizeof(*w));
		if (!w)
			abort();
	}
	if (!world_init(w, size ? data[0] : 0))
		abort(); /* the harness's own handshake failed: nothing below would be deep */
	w->counting = true;
	if (size)
		run_script(w, data + 1, size - 1);
	deep = w->accepted > 0;
	world_destroy(w);
	return deep;
}

/* ---- seeds ---- */

struct seed {
	uint8_t b[512];
	size_t len;
};

static void put(struct seed *s, const uint8_t *p, size_t n)
{
	if (s->len + n > sizeof(s->b))
		abort();
	memcpy(s->b + s->len, p, n);
	s->len += n;
}

#define PUT(s, ...) put((s), (const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__}))

static int write_seeds(const char *dir)
{
	struct seed s;
	int err = 0; /* any write's failure, ORed */

	/* data both ways through the datagram channel and ARQ */
	s.len = 0;
	PUT(&s, FLAG_C_UP, OP_SEND, 0, 40, OP_SEGMENT, 1, 200, OP_SEND, 1, 3, OP_SEGMENT, 0, 0);
	err |= fuzz_seed_write(dir, "send_both_peers", s.b, s.len);

	/* A's last datagram again (replay window), from its own address and an attacker's */
	s.len = 0;
	PUT(&s, 0, OP_SEND, 0, 20, OP_REPLAY, 0, ADDR_A, OP_REPLAY, 0, 4, OP_REPLAY, 3, 1);
	err |= fuzz_seed_write(dir, "replay_data", s.b, s.len);

	/* A behind a NAT: its next datagram comes from another port, then over IPv6 */
	s.len = 0;
	PUT(&s, 0, OP_MOVE, 0, 1, OP_SEND, 0, 10, OP_MOVE, 0, 2, OP_SEND, 0, 10, OP_TIME, 8);
	err |= fuzz_seed_write(dir, "roam_nat_ipv6", s.b, s.len);

	/* both initiate at once: R's key is in the middle, so it yields to C, not to A */
	s.len = 0;
	PUT(&s, FLAG_C_UP, OP_TIME, 1, OP_R_INIT, 0, OP_INIT, 0, 0, OP_TIME, 1, OP_R_INIT, 1,
	    OP_INIT, 1, 3, OP_SEND, 0, 5, OP_SEND, 1, 5);
	err |= fuzz_seed_write(dir, "crossed_initiations", s.b, s.len);

	/* an initiation replayed, one from an attacker's address, one mutated with mac1 fixed */
	s.len = 0;
	PUT(&s, 0, OP_TIME, 1, OP_INIT, 0, 0, OP_REPLAY, 1, 0, OP_TIME, 1, OP_INIT, 0, 4,
	    OP_MUTATE | FIX_MAC, 0, 0, 0, 40, 0x5a);
	err |= fuzz_seed_write(dir, "initiation_replay_mutate", s.b, s.len);

	/* a data message with one bit flipped, and one cut short; raw bytes with R's index */
	s.len = 0;
	PUT(&s, 0, OP_SEND, 0, 60, OP_MUTATE, 0, 0, 0, 30, 0x01, OP_SEND, 0, 60, OP_MUTATE, 0, 0, 0,
	    17, 0, OP_RAW | FIX_INDEX, 0, 40, 4, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0);
	err |= fuzz_seed_write(dir, "data_mutated", s.b, s.len);

	/* R learns A's address from its initiation; sessions age past a rekey */
	s.len = 0;
	PUT(&s, FLAG_PASSIVE, OP_SEND, 0, 8, OP_TIME, 255, OP_TIME, 255, OP_SEND, 0, 8, OP_TIME,
	    255, OP_TIME, 240, OP_SEND, 0, 8);
	err |= fuzz_seed_write(dir, "passive_rekey", s.b, s.len);

	/* garbage of every type byte, and a response replayed from another address */
	s.len = 0;
	PUT(&s, 0, OP_RAW, 0, 3, 1, 2, 3, OP_RAW, 4, 4, 9, 0, 0, 0, OP_RAW, 1, 1, 2, OP_REPLAY, 5,
	    2, OP_RAW, 3, 64, 3);
	err |= fuzz_seed_write(dir, "garbage_types", s.b, s.len);
	return err ? -EIO : 0;
}

const char *__asan_default_options(void);
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * AddressSanitizer's defaults here (ASAN_OPTIONS still overrides them). An input's link
 * sets allocate and free 5 to 7 MiB in blocks above 128 KiB (each link's FEC decoder
 * slots, 1.4 MiB, and buffer pool; each set's rate limiter), which AddressSanitizer maps
 * and unmaps one by one. It zeroes a shadow range of 64 KiB or more by mapping fresh pages
 * over it, which the next poisoning of the same block faults in again; up to 1 MiB of
 * shadow (8 MiB of memory) it now writes the zeroes instead. The shadow's values are the
 * same either way: the checks do not change, an input takes about a sixth less time.
 */
const char *__asan_default_options(void)
{
	return "clear_shadow_mmap_threshold=1048576";
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const struct fuzz_spec spec = {
	    .name = "fuzz_link_input",
	    .deep = "a scripted datagram R accepted",
	    .min_inputs = 8,
	    .floor_permille = 200,
	    .write_seeds = write_seeds,
	};

	fixture_init();
	return fuzz_init(argc, argv, &spec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_deep(run(data, size));
	return 0;
}
