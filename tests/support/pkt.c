// SPDX-License-Identifier: MIT
/* Crafted packets for tests (see pkt.h). Checksums follow RFC 1071 / 768 / 793 / 4443. */
#include "tests/support/pkt.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static void put16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, v & 0xffff);
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)get16(p) << 16 | get16(p + 2);
}

static uint64_t sum_bytes(uint64_t sum, const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		sum += (i & 1) ? p[i] : (uint32_t)p[i] << 8;
	return sum;
}

static uint16_t fold(uint64_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* The transport checksum over the pseudo-header (none for ICMPv4) and seg. */
static uint16_t l4_sum(int family, const uint8_t *src, const uint8_t *dst, uint8_t proto,
		       const uint8_t *seg, size_t len)
{
	size_t alen = family == AF_INET ? 4 : 16;
	uint64_t sum = 0;

	if (proto != 1) {
		sum = sum_bytes(sum, src, alen);
		sum = sum_bytes(sum, dst, alen);
		sum += len + proto;
	}
	return fold(sum_bytes(sum, seg, len));
}

int ferry_tpkt_addr(uint8_t *addr, const char *text)
{
	memset(addr, 0, 16);
	if (inet_pton(AF_INET, text, addr) == 1)
		return AF_INET;
	if (inet_pton(AF_INET6, text, addr) == 1)
		return AF_INET6;
	fprintf(stderr, "pkt: bad address '%s'\n", text);
	abort();
}

static void base(struct ferry_tpkt *t, const char *src, const char *dst, uint8_t proto)
{
	memset(t, 0, sizeof(*t));
	t->family = ferry_tpkt_addr(t->src, src);
	if (ferry_tpkt_addr(t->dst, dst) != t->family) {
		fprintf(stderr, "pkt: mixed families %s -> %s\n", src, dst);
		abort();
	}
	t->proto = proto;
	t->wscale = -1;
	t->ext_hdr = -1;
}

void ferry_tpkt_tcp(struct ferry_tpkt *t, const char *src, uint16_t sport, const char *dst,
		    uint16_t dport, uint8_t flags, uint32_t seq, uint32_t ack)
{
	base(t, src, dst, 6);
	t->sport = sport;
	t->dport = dport;
	t->flags = flags;
	t->seq = seq;
	t->ack = ack;
	t->wnd = 65535;
}

void ferry_tpkt_udp(struct ferry_tpkt *t, const char *src, uint16_t sport, const char *dst,
		    uint16_t dport, const void *payload, size_t len)
{
	base(t, src, dst, 17);
	t->sport = sport;
	t->dport = dport;
	t->payload = payload;
	t->payload_len = len;
}

void ferry_tpkt_echo(struct ferry_tpkt *t, const char *src, const char *dst, uint16_t id,
		     uint16_t seq, const void *payload, size_t len)
{
	base(t, src, dst, 1);
	if (t->family == AF_INET6)
		t->proto = 58;
	t->icmp_type = t->family == AF_INET ? 8 : 128;
	t->icmp_id = id;
	t->icmp_seq = seq;
	t->payload = payload;
	t->payload_len = len;
}

/* The transport header; returns its length. */
static size_t build_l4(uint8_t *h, const struct ferry_tpkt *t)
{
	size_t n;

	switch (t->proto) {
	case 6:
		n = 20;
		memset(h, 0, 20);
		put16(h, t->sport);
		put16(h + 2, t->dport);
		put32(h + 4, t->seq);
		put32(h + 8, t->ack);
		h[13] = t->flags;
		put16(h + 14, t->wnd);
		if (t->mss) {
			h[n++] = 2;
			h[n++] = 4;
			put16(h + n, t->mss);
			n += 2;
		}
		if (t->wscale >= 0) {
			h[n++] = 1;
			h[n++] = 3;
			h[n++] = 3;
			h[n++] = (uint8_t)t->wscale;
		}
		h[12] = (uint8_t)((n / 4) << 4);
		return n;
	case 17:
		memset(h, 0, 8);
		put16(h, t->sport);
		put16(h + 2, t->dport);
		put16(h + 4, (uint32_t)(8 + t->payload_len));
		return 8;
	default:
		memset(h, 0, 8);
		h[0] = t->icmp_type;
		h[1] = t->icmp_code;
		put16(h + 4, t->icmp_id);
		put16(h + 6, t->icmp_seq);
		return 8;
	}
}

size_t ferry_tpkt_build(uint8_t *out, size_t cap, const struct ferry_tpkt *t)
{
	uint8_t l4[64];
	size_t l4len = build_l4(l4, t), seg = l4len + t->payload_len, hlen, total;
	size_t csum_at = t->proto == 6 ? 16 : t->proto == 17 ? 6 : 2;
	uint8_t *s;

	if (t->family == AF_INET)
		hlen = 20 + t->ip_options;
	else
		hlen = 40 + (t->ext_hdr >= 0 ? 8 : 0);
	total = hlen + seg;
	if (total > cap || seg > 0xffff)
		return 0;
	memset(out, 0, hlen);
	if (t->family == AF_INET) {
		out[0] = (uint8_t)(0x40 | hlen / 4);
		put16(out + 2, (uint32_t)total);
		put16(out + 6, t->frag);
		out[8] = 64;
		out[9] = t->proto;
		memcpy(out + 12, t->src, 4);
		memcpy(out + 16, t->dst, 4);
		memset(out + 20, 1, t->ip_options); /* NOP */
		put16(out + 10, (uint16_t)~fold(sum_bytes(0, out, hlen)));
	} else {
		out[0] = 0x60;
		put16(out + 4, (uint32_t)(total - 40));
		out[6] = t->ext_hdr >= 0 ? (uint8_t)t->ext_hdr : t->proto;
		out[7] = 64;
		memcpy(out + 8, t->src, 16);
		memcpy(out + 24, t->dst, 16);
		if (t->ext_hdr >= 0)
			out[40] = t->proto; /* next header; length 0 = 8 bytes of padding */
	}
	s = out + hlen;
	memcpy(s, l4, l4len);
	if (t->payload_len)
		memcpy(s + l4len, t->payload, t->payload_len);
	put16(s + csum_at, (uint16_t)~l4_sum(t->family, t->src, t->dst, t->proto, s, seg));
	return total;
}

static void parse_tcp_options(struct ferry_tpkt *t, const uint8_t *o, size_t len)
{
	size_t i = 0;

	while (i < len) {
		if (o[i] == 0)
			break;
		if (o[i] == 1) {
			i++;
			continue;
		}
		if (i + 1 >= len || o[i + 1] < 2 || i + o[i + 1] > len)
			break;
		if (o[i] == 2 && o[i + 1] == 4)
			t->mss = get16(o + i + 2);
		if (o[i] == 3 && o[i + 1] == 3)
			t->wscale = o[i + 2];
		i += o[i + 1];
	}
}

int ferry_tpkt_parse(struct ferry_tpkt *t, const uint8_t *data, size_t len)
{
	size_t hlen, total, seg, l4len;
	const uint8_t *s;
	bool ok = true;

	memset(t, 0, sizeof(*t));
	t->wscale = -1;
	t->ext_hdr = -1;
	if (len < 20)
		return -EINVAL;
	if (data[0] >> 4 == 4) {
		t->family = AF_INET;
		hlen = (size_t)(data[0] & 15) * 4;
		total = get16(data + 2);
		if (hlen < 20 || total < hlen || total > len)
			return -EINVAL;
		ok = fold(sum_bytes(0, data, hlen)) == 0xffff;
		t->proto = data[9];
		t->ttl = data[8];
		memcpy(t->src, data + 12, 4);
		memcpy(t->dst, data + 16, 4);
	} else if (data[0] >> 4 == 6 && len >= 40) {
		t->family = AF_INET6;
		hlen = 40;
		total = 40 + (size_t)get16(data + 4);
		if (total > len)
			return -EINVAL;
		t->proto = data[6];
		t->ttl = data[7];
		memcpy(t->src, data + 8, 16);
		memcpy(t->dst, data + 24, 16);
	} else {
		return -EINVAL;
	}
	s = data + hlen;
	seg = total - hlen;
	t->len = total;
	switch (t->proto) {
	case 6:
		if (seg < 20 || (size_t)(s[12] >> 4) * 4 < 20 || (size_t)(s[12] >> 4) * 4 > seg)
			return -EINVAL;
		l4len = (size_t)(s[12] >> 4) * 4;
		t->sport = get16(s);
		t->dport = get16(s + 2);
		t->seq = get32(s + 4);
		t->ack = get32(s + 8);
		t->flags = s[13];
		t->wnd = get16(s + 14);
		parse_tcp_options(t, s + 20, l4len - 20);
		break;
	case 17:
		if (seg < 8 || get16(s + 4) != seg)
			return -EINVAL;
		l4len = 8;
		t->sport = get16(s);
		t->dport = get16(s + 2);
		break;
	case 1:
	case 58:
		if (seg < 8)
			return -EINVAL;
		l4len = 8;
		t->icmp_type = s[0];
		t->icmp_code = s[1];
		t->icmp_id = get16(s + 4);
		t->icmp_seq = get16(s + 6);
		break;
	default:
		return -EINVAL;
	}
	t->payload = s + l4len;
	t->payload_len = seg - l4len;
	t->csum_ok = ok && l4_sum(t->family, t->src, t->dst, t->proto, s, seg) == 0xffff;
	return 0;
}

static bool endpoint_is(int family, const uint8_t *addr, uint16_t port, const char *text,
			uint16_t want_port)
{
	uint8_t a[16];

	return ferry_tpkt_addr(a, text) == family && memcmp(a, addr, 16) == 0 && port == want_port;
}

bool ferry_tpkt_from(const struct ferry_tpkt *t, const char *addr, uint16_t port)
{
	return endpoint_is(t->family, t->src, t->sport, addr, port);
}

bool ferry_tpkt_to(const struct ferry_tpkt *t, const char *addr, uint16_t port)
{
	return endpoint_is(t->family, t->dst, t->dport, addr, port);
}
