// SPDX-License-Identifier: MIT
/*
 * Parsing and building IP packets at the stack's edge (see packet.h).
 *
 * Every read of input goes through rd16/rd32 on a range that was checked against the
 * packet's length first; the parser never looks beyond `len` nor beyond the IP total
 * length. The builder writes only within `cap`.
 */
#include "stack/packet.h"

#include <string.h>
#include <sys/socket.h>

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static int drop(enum ferry_stack_drop why)
{
	return -(1 + (int)why);
}

/* Addresses no application connection can have at either end. */
static int addr_is_martian(const struct ferry_endpoint *ep, int is_dst)
{
	const uint8_t *a = ep->addr;
	static const uint8_t zero[16];

	if (ep->family == AF_INET) {
		if (a[0] == 0 || a[0] == 127 || (a[0] & 0xf0) == 0xe0)
			return 1;
		return is_dst && a[0] == 255 && a[1] == 255 && a[2] == 255 && a[3] == 255;
	}
	if (a[0] == 0xff || memcmp(a, zero, 16) == 0)
		return 1;
	return memcmp(a, zero, 15) == 0 && a[15] == 1; /* ::1 */
}

static int parse_ip4(struct ferry_pkt *pkt, const uint8_t *data, size_t len)
{
	size_t hlen, tot;
	uint16_t frag;

	if (len < FERRY_PKT_IP4_HLEN)
		return drop(FERRY_STACK_DROP_SHORT);
	hlen = (size_t)(data[0] & 0x0f) * 4;
	if (hlen < FERRY_PKT_IP4_HLEN)
		return drop(FERRY_STACK_DROP_HEADER);
	tot = rd16(data + 2);
	if (tot < hlen)
		return drop(FERRY_STACK_DROP_HEADER);
	if (tot > len || hlen > len)
		return drop(FERRY_STACK_DROP_SHORT);
	if (hlen != FERRY_PKT_IP4_HLEN)
		return drop(FERRY_STACK_DROP_OPTIONS);
	frag = rd16(data + 6);
	if (frag & 0x3fff) /* MF or a fragment offset */
		return drop(FERRY_STACK_DROP_FRAGMENT);
	pkt->len = tot;
	pkt->proto = data[9];
	pkt->src.family = AF_INET;
	pkt->dst.family = AF_INET;
	memcpy(pkt->src.addr, data + 12, 4);
	memcpy(pkt->dst.addr, data + 16, 4);
	pkt->l4 = data + hlen;
	pkt->l4_len = tot - hlen;
	return 0;
}

static int parse_ip6(struct ferry_pkt *pkt, const uint8_t *data, size_t len)
{
	size_t plen;
	uint8_t next;

	if (len < FERRY_PKT_IP6_HLEN)
		return drop(FERRY_STACK_DROP_SHORT);
	plen = rd16(data + 4);
	/* A jumbogram (0), or more than a TUN's 65535-byte MTU can carry. */
	if (plen == 0 || FERRY_PKT_IP6_HLEN + plen > 0xffff)
		return drop(FERRY_STACK_DROP_HEADER);
	if (FERRY_PKT_IP6_HLEN + plen > len)
		return drop(FERRY_STACK_DROP_SHORT);
	next = data[6];
	pkt->len = FERRY_PKT_IP6_HLEN + plen;
	pkt->proto = next;
	pkt->src.family = AF_INET6;
	pkt->dst.family = AF_INET6;
	memcpy(pkt->src.addr, data + 8, 16);
	memcpy(pkt->dst.addr, data + 24, 16);
	switch (next) {
	case FERRY_PKT_PROTO_TCP:
	case FERRY_PKT_PROTO_UDP:
	case FERRY_PKT_PROTO_ICMP6:
		break;
	case 44: /* fragment header */
		return drop(FERRY_STACK_DROP_FRAGMENT);
	case 0:	  /* hop-by-hop */
	case 43:  /* routing */
	case 60:  /* destination options */
	case 135: /* mobility */
	case 139: /* HIP */
	case 140: /* shim6 */
		return drop(FERRY_STACK_DROP_OPTIONS);
	default:
		pkt->other_proto = true;
		return drop(FERRY_STACK_DROP_PROTO);
	}
	pkt->l4 = data + FERRY_PKT_IP6_HLEN;
	pkt->l4_len = plen;
	return 0;
}

/* Whether TCP options (opt, len bytes) are well formed: each option but an end of list or
 * a no-operation has its length byte, at least 2, and fits. lwIP's tcp_parseopt reads an
 * option's length byte before it checks that byte is inside the header: a kind in the
 * last byte made it read one byte past the packet (the fuzzer found it once lwIP's heap
 * came from malloc, where ASan sees every block's end). And an MSS option only in a SYN
 * (RFC 9293 sends it nowhere else): lwIP 2.1 takes one from any segment, and a smaller
 * MSS than its queued segments were cut for fails its assertion in tcp_write, killing
 * ferry. */
static bool tcp_options_ok(const uint8_t *opt, size_t len, bool syn)
{
	size_t i = 0;

	while (i < len) {
		if (opt[i] == 0) /* end of the list */
			return true;
		if (opt[i] == 1) { /* no-operation */
			i++;
			continue;
		}
		if (len - i < 2 || opt[i + 1] < 2 || opt[i + 1] > len - i || (opt[i] == 2 && !syn))
			return false;
		i += opt[i + 1];
	}
	return true;
}

static int parse_l4(struct ferry_pkt *pkt)
{
	const uint8_t *l4 = pkt->l4;
	size_t hlen, ulen;

	switch (pkt->proto) {
	case FERRY_PKT_PROTO_TCP:
		if (pkt->l4_len < FERRY_PKT_TCP_HLEN)
			return drop(FERRY_STACK_DROP_SHORT);
		hlen = (size_t)(l4[12] >> 4) * 4;
		if (hlen < FERRY_PKT_TCP_HLEN || hlen > pkt->l4_len ||
		    !tcp_options_ok(l4 + FERRY_PKT_TCP_HLEN, hlen - FERRY_PKT_TCP_HLEN,
				    l4[13] & FERRY_PKT_TCP_SYN))
			return drop(FERRY_STACK_DROP_HEADER);
		pkt->src.port = rd16(l4);
		pkt->dst.port = rd16(l4 + 2);
		pkt->tcp_seq = rd32(l4 + 4);
		pkt->tcp_ack = rd32(l4 + 8);
		pkt->tcp_flags = l4[13];
		break;
	case FERRY_PKT_PROTO_UDP:
		if (pkt->l4_len < FERRY_PKT_UDP_HLEN)
			return drop(FERRY_STACK_DROP_SHORT);
		ulen = rd16(l4 + 4);
		if (ulen < FERRY_PKT_UDP_HLEN || ulen > pkt->l4_len)
			return drop(FERRY_STACK_DROP_HEADER);
		pkt->l4_len = ulen;
		hlen = FERRY_PKT_UDP_HLEN;
		pkt->src.port = rd16(l4);
		pkt->dst.port = rd16(l4 + 2);
		break;
	case FERRY_PKT_PROTO_ICMP:
	case FERRY_PKT_PROTO_ICMP6:
		if ((pkt->proto == FERRY_PKT_PROTO_ICMP) != (pkt->src.family == AF_INET)) {
			pkt->other_proto = true; /* ICMPv6 over IPv4 or the reverse */
			return drop(FERRY_STACK_DROP_PROTO);
		}
		if (pkt->l4_len < FERRY_PKT_ICMP_HLEN)
			return drop(FERRY_STACK_DROP_SHORT);
		hlen = FERRY_PKT_ICMP_HLEN;
		pkt->icmp_type = l4[0];
		pkt->icmp_code = l4[1];
		pkt->src.port = rd16(l4 + 4);
		pkt->dst.port = pkt->src.port;
		pkt->icmp_seq = rd16(l4 + 6);
		break;
	default:
		pkt->other_proto = true;
		return drop(FERRY_STACK_DROP_PROTO);
	}
	pkt->payload = l4 + hlen;
	pkt->payload_len = pkt->l4_len - hlen;
	return 0;
}

int ferry_stack_pkt_parse(struct ferry_pkt *pkt, const uint8_t *data, size_t len)
{
	int err;

	memset(pkt, 0, sizeof(*pkt));
	if (len == 0)
		return drop(FERRY_STACK_DROP_SHORT);
	pkt->ip = data;
	switch (data[0] >> 4) {
	case 4:
		err = parse_ip4(pkt, data, len);
		break;
	case 6:
		err = parse_ip6(pkt, data, len);
		break;
	default:
		return drop(FERRY_STACK_DROP_VERSION);
	}
	if (err && !pkt->other_proto)
		return err;
	if (addr_is_martian(&pkt->src, 0) || addr_is_martian(&pkt->dst, 1)) {
		pkt->other_proto = false; /* nobody to answer */
		return drop(FERRY_STACK_DROP_ADDRESS);
	}
	return err ? err : parse_l4(pkt);
}

uint32_t ferry_stack_pkt_csum_add(uint32_t sum, const uint8_t *data, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len; i += 2) {
		sum += (uint32_t)(data[i] << 8 | data[i + 1]);
		if (sum & 0x80000000u)
			sum = (sum & 0xffff) + (sum >> 16);
	}
	if (len & 1)
		sum += (uint32_t)data[len - 1] << 8;
	return sum;
}

uint16_t ferry_stack_pkt_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

static size_t csum_offset(uint8_t proto)
{
	switch (proto) {
	case FERRY_PKT_PROTO_TCP:
		return 16;
	case FERRY_PKT_PROTO_UDP:
		return 6;
	default:
		return 2; /* ICMP, ICMPv6 */
	}
}

size_t ferry_stack_pkt_build(uint8_t *out, size_t cap, const struct ferry_endpoint *src,
			     const struct ferry_endpoint *dst, uint8_t proto, const uint8_t *l4,
			     size_t l4_len, const uint8_t *payload, size_t payload_len)
{
	size_t alen = src->family == AF_INET ? 4 : 16;
	size_t hlen = src->family == AF_INET ? FERRY_PKT_IP4_HLEN : FERRY_PKT_IP6_HLEN;
	size_t seg = l4_len + payload_len, total = hlen + seg;
	uint8_t *ip = out, *t = out + hlen;
	uint32_t sum = 0;
	uint16_t csum;

	if (src->family != dst->family || l4_len < 4 || total > cap ||
	    (src->family == AF_INET ? total : seg) > 0xffff)
		return 0;
	if (src->family == AF_INET) {
		memset(ip, 0, FERRY_PKT_IP4_HLEN);
		ip[0] = 0x45;
		wr16(ip + 2, (uint16_t)total);
		ip[6] = 0x40; /* DF */
		ip[8] = 64;
		ip[9] = proto;
		memcpy(ip + 12, src->addr, 4);
		memcpy(ip + 16, dst->addr, 4);
		wr16(ip + 10, (uint16_t)~ferry_stack_pkt_csum_fold(
				  ferry_stack_pkt_csum_add(0, ip, FERRY_PKT_IP4_HLEN)));
	} else {
		memset(ip, 0, FERRY_PKT_IP6_HLEN);
		ip[0] = 0x60;
		wr16(ip + 4, (uint16_t)seg);
		ip[6] = proto;
		ip[7] = 64;
		memcpy(ip + 8, src->addr, 16);
		memcpy(ip + 24, dst->addr, 16);
	}
	memcpy(t, l4, l4_len);
	if (payload_len)
		memcpy(t + l4_len, payload, payload_len);
	wr16(t + csum_offset(proto), 0);
	if (proto != FERRY_PKT_PROTO_ICMP) { /* pseudo-header; ICMPv4 has none */
		uint8_t tail[4] = {0, 0, 0, proto};

		sum = ferry_stack_pkt_csum_add(sum, src->addr, alen);
		sum = ferry_stack_pkt_csum_add(sum, dst->addr, alen);
		sum += (uint32_t)seg;
		sum = ferry_stack_pkt_csum_add(sum, tail, sizeof(tail));
	}
	sum = ferry_stack_pkt_csum_add(sum, t, seg);
	csum = (uint16_t)~ferry_stack_pkt_csum_fold(sum);
	if (csum == 0 && proto == FERRY_PKT_PROTO_UDP)
		csum = 0xffff;
	wr16(t + csum_offset(proto), csum);
	return total;
}
