/* SPDX-License-Identifier: MIT */
/*
 * IP packets as the stack sees them before lwIP: a bounds-checked parser for what the TUN
 * hands in, and a builder for the few packets ferry writes itself (RSTs for refused
 * connects, ICMP unreachable, UDP datagrams and echo replies toward the application).
 *
 * The parser accepts exactly what the stack handles: IPv4 without options or fragments,
 * IPv6 whose next header is the transport header, packets of at most 65535 bytes, and
 * TCP, UDP, ICMP or ICMPv6 with a complete header. Everything else gets a drop reason (enum
 * ferry_stack_drop).
 */
#ifndef FERRY_STACK_PACKET_H
#define FERRY_STACK_PACKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stack/stack.h"

enum {
	FERRY_PKT_IP4_HLEN = 20,
	FERRY_PKT_IP6_HLEN = 40,
	FERRY_PKT_TCP_HLEN = 20,
	FERRY_PKT_UDP_HLEN = 8,
	FERRY_PKT_ICMP_HLEN = 8,
	FERRY_PKT_PROTO_TCP = 6,
	FERRY_PKT_PROTO_UDP = 17,
	FERRY_PKT_PROTO_ICMP = 1,
	FERRY_PKT_PROTO_ICMP6 = 58,
	FERRY_PKT_TCP_FIN = 0x01,
	FERRY_PKT_TCP_SYN = 0x02,
	FERRY_PKT_TCP_RST = 0x04,
	FERRY_PKT_TCP_ACK = 0x10,
	FERRY_PKT_ICMP4_ECHO_REPLY = 0,
	FERRY_PKT_ICMP4_UNREACH = 3,
	FERRY_PKT_ICMP4_FRAG_NEEDED = 4, /* code of UNREACH; next-hop MTU in bytes 6-7 */
	FERRY_PKT_ICMP4_ECHO = 8,
	FERRY_PKT_ICMP6_UNREACH = 1,
	FERRY_PKT_ICMP6_TOO_BIG = 2, /* MTU in bytes 4-7 */
	FERRY_PKT_ICMP6_ECHO = 128,
	FERRY_PKT_ICMP6_ECHO_REPLY = 129,
	/* IPv6's minimum MTU bounds an ICMPv6 error (RFC 4443 2.4 c). */
	FERRY_PKT_IP6_MIN_MTU = 1280,
};

/* A parsed packet: pointers into the caller's bytes, numbers in host order. */
struct ferry_pkt {
	const uint8_t *ip;	/* IP header */
	size_t len;		/* IP total length (trailing bytes beyond it ignored) */
	uint8_t proto;		/* FERRY_PKT_PROTO_* */
	const uint8_t *l4;	/* transport header */
	size_t l4_len;		/* transport header and payload */
	const uint8_t *payload; /* after the transport header */
	size_t payload_len;
	struct ferry_endpoint src, dst; /* ports: TCP/UDP ports, ICMP echo id in both */
	uint8_t tcp_flags;
	uint32_t tcp_seq, tcp_ack;
	uint8_t icmp_type, icmp_code;
	uint16_t icmp_seq;
	bool other_proto; /* dropped for carrying a protocol other than TCP, UDP or ICMP */
};

/* Parses one packet. Returns 0, or -(1 + enum ferry_stack_drop) naming why it is dropped. */
int ferry_stack_pkt_parse(struct ferry_pkt *pkt, const uint8_t *data, size_t len);

/* Builds an IP packet src -> dst of protocol proto into out (cap bytes): the IP header,
 * then l4 (l4_len bytes, a transport header whose checksum field is zero), then payload.
 * The transport checksum is filled in. Returns the packet's length, or 0 if it does not
 * fit cap or 65535 (IPv4 total / IPv6 payload length) or the families differ. */
size_t ferry_stack_pkt_build(uint8_t *out, size_t cap, const struct ferry_endpoint *src,
			     const struct ferry_endpoint *dst, uint8_t proto, const uint8_t *l4,
			     size_t l4_len, const uint8_t *payload, size_t payload_len);

/* Internet checksum (RFC 1071) of data, continuing from sum; returns the folded value
 * before the final complement. */
uint32_t ferry_stack_pkt_csum_add(uint32_t sum, const uint8_t *data, size_t len);
uint16_t ferry_stack_pkt_csum_fold(uint32_t sum);

#endif
