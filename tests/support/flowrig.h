/* SPDX-License-Identifier: MIT */
/*
 * The flow protocol's test vectors and exact-length decoders, shared by tests/test_flowmsg.c
 * (every message's bytes, out and back) and tests/test_flowmsg_peer.c (what a peer can get
 * wrong, the codes, the OPEN frame among KCP segments).
 *
 * The vectors are hand-written from the layouts of transport/wire.h. Their names are short
 * so that the tables read like the wire; only those two suites include this header. Each
 * decoder here runs on a heap copy of exactly the given length, so that the sanitizer build
 * catches any read past the end.
 */
#ifndef FERRY_TESTS_FLOWRIG_H
#define FERRY_TESTS_FLOWRIG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "transport/flowmsg.h"

/* Wire bytes shared by the vectors below. */
#define INSTANCE 0x1122334455667788ULL
#define INST	 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11 /* INSTANCE, little-endian */
/* family 4 | port 40000 | 10.0.0.2 */
#define EP4_APP	 4, 0x40, 0x9c, 10, 0, 0, 2
/* family 4 | port 443 | 192.0.2.1 */
#define EP4_SRV	 4, 0xbb, 0x01, 192, 0, 2, 1
/* family 6 | port 40000 | fd00::2 */
#define EP6_APP	 6, 0x40, 0x9c, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2
/* family 6 | port 443 | 2001:db8::1 */
#define EP6_SRV	 6, 0xbb, 0x01, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1

/* The same endpoints, decoded. */
#define APP4                                                            \
	{                                                               \
		.family = AF_INET, .addr = {10, 0, 0, 2}, .port = 40000 \
	}
#define SRV4                                                           \
	{                                                              \
		.family = AF_INET, .addr = {192, 0, 2, 1}, .port = 443 \
	}
#define APP6                                                                \
	{                                                                   \
		.family = AF_INET6, .addr = {0xfd, [15] = 2}, .port = 40000 \
	}
#define SRV6                                                                                \
	{                                                                                   \
		.family = AF_INET6, .addr = {0x20, 0x01, 0x0d, 0xb8, [15] = 1}, .port = 443 \
	}

/* OPEN frames: header (type 1, body length), then the body. */
static const uint8_t open4[] = {
    0x01,    0x1a, 0x00,       /* OPEN, body 26 */
    0x01,    0x06, 0x00, 0x00, /* version 1, proto 6, reserved */
    INST,		       /* instance */
    EP4_APP,		       /* src */
    EP4_SRV,		       /* dst */
};
static const uint8_t open6[] = {
    0x01,    0x32, 0x00,       /* OPEN, body 50 */
    0x01,    0x06, 0x00, 0x00, /* version 1, proto 6, reserved */
    INST,		       /* instance */
    EP6_APP,		       /* src */
    EP6_SRV,		       /* dst */
};
/* RESULT frame: code 7 (reset), reserved, instance. */
static const uint8_t result7[] = {0x02, 0x0a, 0x00, 0x07, 0x00, INST};

_Static_assert(sizeof(open4) == FERRY_FRAME_HDR_LEN + FERRY_FRAME_OPEN_FIXED + 14, "open4");
_Static_assert(sizeof(open6) == FERRY_FRAME_HDR_LEN + FERRY_FRAME_OPEN_MAX, "open6");
_Static_assert(sizeof(result7) == FERRY_FRAME_HDR_LEN + FERRY_FRAME_RESULT_LEN, "result7");

/* Datagram-channel messages (what follows the record's flow id). */
static const uint8_t dg_udp_open4[] = {0x01,	0x01,	 0x11, 0x00, 0x00, INST,
				       EP4_APP, EP4_SRV, 'p',  'i',  'n',  'g'};
static const uint8_t dg_udp_open6[] = {0x01, 0x01, 0x11, 0x00, 0x00, INST, EP6_APP, EP6_SRV};
static const uint8_t dg_udp[] = {0x02, 'd', 'a', 't', 'a'};
static const uint8_t dg_udp_empty[] = {0x02};
static const uint8_t dg_udp_from4[] = {0x03, EP4_SRV, 'r'};
static const uint8_t dg_udp_from6[] = {0x03, EP6_SRV, 'r', 'e'};
static const uint8_t dg_accept[] = {0x04, 0x00, 0x00, INST};
static const uint8_t dg_accept_denied[] = {0x04, 0x05, 0x00, INST};
static const uint8_t dg_udp_unknown[] = {0x05};
static const uint8_t dg_echo_req4[] = {0x06,	0x34, 0x12, 0x07, 0x00, EP4_APP,
				       EP4_SRV, 'a',  'b',  'c',  'd'};
static const uint8_t dg_echo_rep6[] = {0x07, 0x34, 0x12, 0x08, 0x00, EP6_APP, EP6_SRV, 'x'};
static const uint8_t dg_tcp_reset[] = {0x08, 0x07};
static const uint8_t dg_tcp_unknown[] = {0x09};
/* HELLO: version 1, flags (bit 0: a reply), reserved u16, instance. */
static const uint8_t dg_hello_reply[] = {0x0a, 0x01, 0x01, 0x00, 0x00, INST};
static const uint8_t dg_hello[] = {0x0a, 0x01, 0x00, 0x00, 0x00, INST};

_Static_assert(sizeof(dg_udp_open6) == FERRY_DG_UDP_OVERHEAD, "UDP_OPEN over IPv6");
_Static_assert(sizeof(dg_echo_rep6) == FERRY_DG_ECHO_OVERHEAD + 1, "ECHO_REPLY over IPv6");
_Static_assert(sizeof(dg_accept) == FERRY_DG_TYPE_LEN + FERRY_DG_ACCEPT_LEN, "UDP_ACCEPT");

/* A heap copy of exactly n bytes (one byte allocated for n = 0, never read), to be freed. */
uint8_t *ferry_flowrig_dup(const uint8_t *p, size_t n);

/* The codec's decoders, each on such a copy. The datagram decoder's payload pointer is
 * cleared afterwards: it pointed into the copy. */
int ferry_flowrig_dg_decode(const uint8_t *p, size_t n, struct ferry_flowmsg_dg *m);
int ferry_flowrig_open_decode(const uint8_t *p, size_t n, struct ferry_flowmsg_open *o);
int ferry_flowrig_result_decode(const uint8_t *p, size_t n, struct ferry_flowmsg_result *r);
int ferry_flowrig_open_in_segments(const uint8_t *p, size_t n, struct ferry_flowmsg_open *o);

/* Equal field by field, or the test fails. All 16 address bytes compare: an IPv4 address
 * leaves the other 12 zero. */
void ferry_flowrig_ep_eq(const struct ferry_endpoint *a, const struct ferry_endpoint *b);
void ferry_flowrig_open_eq(const struct ferry_flowmsg_open *a, const struct ferry_flowmsg_open *b);

#endif
