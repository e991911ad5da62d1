/* SPDX-License-Identifier: MIT */
/*
 * Crafted IP packets for tests: build IPv4/IPv6 TCP, UDP and ICMP packets field by field
 * (including broken ones: options, fragments, extension headers, wrong lengths), and
 * parse what a stack wrote back, checking its checksums.
 *
 * Written independently of stack/packet.c so that a test never checks the stack's
 * packets with the stack's own code.
 */
#ifndef FERRY_TESTS_PKT_H
#define FERRY_TESTS_PKT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	FERRY_TPKT_FIN = 0x01,
	FERRY_TPKT_SYN = 0x02,
	FERRY_TPKT_RST = 0x04,
	FERRY_TPKT_PSH = 0x08,
	FERRY_TPKT_ACK = 0x10,
	FERRY_TPKT_MAX = 65535,
};

struct ferry_tpkt {
	int family; /* AF_INET or AF_INET6 */
	uint8_t src[16], dst[16];
	uint8_t proto;	       /* 6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6 */
	uint16_t sport, dport; /* TCP/UDP */
	/* TCP */
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t wnd; /* raw header value (unscaled) */
	uint16_t mss; /* MSS option; 0: none */
	int wscale;   /* window scale option; -1: none */
	/* ICMP */
	uint8_t icmp_type, icmp_code;
	uint16_t icmp_id, icmp_seq;
	/* payload (after the transport header) */
	const uint8_t *payload;
	size_t payload_len;

	/* build only: deliberate oddities */
	uint8_t ip_options; /* IPv4: bytes of NOP options (multiple of 4) */
	uint16_t frag;	    /* IPv4: flags+offset field (e.g. 0x2000 = MF) */
	int ext_hdr;	    /* IPv6: insert an 8-byte extension header of this type; -1 none */

	/* parse only */
	bool csum_ok; /* IP header (v4) and transport checksums are right */
	uint8_t ttl;
	size_t len; /* total packet length */
};

/* Sets t to a TCP packet src:sport -> dst:dport ("10.0.0.1" or "fd00::1") with flags, seq
 * and ack, window 65535, no options and no payload. */
void ferry_tpkt_tcp(struct ferry_tpkt *t, const char *src, uint16_t sport, const char *dst,
		    uint16_t dport, uint8_t flags, uint32_t seq, uint32_t ack);
/* Sets t to a UDP datagram carrying payload. */
void ferry_tpkt_udp(struct ferry_tpkt *t, const char *src, uint16_t sport, const char *dst,
		    uint16_t dport, const void *payload, size_t len);
/* Sets t to an ICMP(v6) echo request (type by family). */
void ferry_tpkt_echo(struct ferry_tpkt *t, const char *src, const char *dst, uint16_t id,
		     uint16_t seq, const void *payload, size_t len);

/* Writes the packet into out (cap bytes). Returns its length, 0 if it does not fit. */
size_t ferry_tpkt_build(uint8_t *out, size_t cap, const struct ferry_tpkt *t);

/* Parses one packet (payload points into data). Returns 0 or -EINVAL if malformed. */
int ferry_tpkt_parse(struct ferry_tpkt *t, const uint8_t *data, size_t len);

/* Sets addr (16 bytes) and returns the family of a textual address; aborts on bad text. */
int ferry_tpkt_addr(uint8_t *addr, const char *text);

/* True if t's source (or destination) is the textual address and port. */
bool ferry_tpkt_from(const struct ferry_tpkt *t, const char *addr, uint16_t port);
bool ferry_tpkt_to(const struct ferry_tpkt *t, const char *addr, uint16_t port);

#endif
