/* SPDX-License-Identifier: MIT */
/*
 * The secure link's wire format in one place, mirrored byte by byte in docs/wire-format.md.
 *
 * A UDP datagram between two ferry peers is one message. Its first byte is the message
 * type (enum ferry_msg_type, transport/noise.h): handshake initiation (152 bytes),
 * response (96), cookie reply (64), or data (16-byte header, ciphertext, 16-byte tag).
 * Inside a data message's ciphertext:
 *
 *   empty                                  keepalive (never reaches the FEC decoder)
 *   FEC header (8) | len u16 | payload     a data shard (transport/fec.h)
 *   FEC header (8) | coded region          a parity shard
 *
 * and a data shard's payload is a sequence of records (transport/mux.h):
 *
 *   kind u8 | len u16 LE | body[len]
 *     kind 0 PAD       body ignored (reserved for padding)
 *     kind 1 ARQ       one or more whole KCP segments (transport/arq.h), normally of one
 *                      conversation (one ARQ output datagram)
 *     kind 2 DATAGRAM  flow id u32 LE | bytes: the unreliable datagram channel
 *     other            skipped by its length and counted (room to extend)
 *
 * The message layouts still live where their code is (noise.h: messages; fec.h: the FEC
 * header) and are re-exported here; the lead moves them into this header later. What is
 * defined here: the record format and the overhead arithmetic that derives the inner
 * sizes from the outer MTU, so that one full ARQ datagram is exactly one record of one
 * data shard of one UDP datagram of at most the path MTU.
 */
#ifndef FERRY_TRANSPORT_WIRE_H
#define FERRY_TRANSPORT_WIRE_H

#include <errno.h>
#include <stdint.h>

#include "transport/aead.h"
#include "transport/arq.h"
#include "transport/fec.h"
#include "transport/noise.h"

/* Headers below and around a ferry message. */
enum {
	FERRY_WIRE_IPV4_HDR = 20,
	FERRY_WIRE_IPV6_HDR = 40, /* the default: a link may roam from IPv4 to IPv6 */
	FERRY_WIRE_UDP_HDR = 8,
	FERRY_WIRE_MTU_DEFAULT = 1500,
	FERRY_WIRE_MTU_MIN = 576,		     /* IPv4's minimum reassembly size */
	FERRY_WIRE_MTU_MAX = 9000,		     /* jumbo frames; keeps every length in a u16 */
	FERRY_WIRE_DATA_HDR = FERRY_DATA_HEADER_LEN, /* type, reserved, receiver, counter */
	FERRY_WIRE_TAG = FERRY_AEAD_TAG_LEN,
	FERRY_WIRE_SEAL_OVERHEAD = FERRY_WIRE_DATA_HDR + FERRY_WIRE_TAG, /* 32 */
	FERRY_WIRE_FEC_OVERHEAD = FERRY_FEC_DATA_OVERHEAD,		 /* 8 + 2 = 10 */
	FERRY_WIRE_RECORD_HDR = 3,					 /* kind u8, len u16 */
	FERRY_WIRE_DATAGRAM_HDR = 4,					 /* flow id u32 */
	/* bytes a data message adds in front of its mux payload (header room in buffers) */
	FERRY_WIRE_HEADROOM = FERRY_WIRE_DATA_HDR + FERRY_WIRE_FEC_OVERHEAD, /* 26 */
	/* everything between the outer MTU and one record's body, IPv6 worst case */
	FERRY_WIRE_OVERHEAD_V6 = FERRY_WIRE_IPV6_HDR + FERRY_WIRE_UDP_HDR +
				 FERRY_WIRE_SEAL_OVERHEAD + FERRY_WIRE_FEC_OVERHEAD +
				 FERRY_WIRE_RECORD_HDR, /* 93 */
	FERRY_WIRE_OVERHEAD_V4 =
	    FERRY_WIRE_OVERHEAD_V6 - FERRY_WIRE_IPV6_HDR + FERRY_WIRE_IPV4_HDR, /* 73 */
};

/* Record kinds of a data shard's payload. */
enum ferry_wire_record_kind {
	FERRY_REC_PAD = 0,
	FERRY_REC_ARQ = 1,
	FERRY_REC_DATAGRAM = 2,
	FERRY_REC_KINDS = 3, /* kinds this version knows; others are skipped */
};

_Static_assert(FERRY_WIRE_SEAL_OVERHEAD == 32, "data header + tag");
_Static_assert(FERRY_WIRE_FEC_OVERHEAD == 10, "FEC header + length prefix");
_Static_assert(FERRY_WIRE_HEADROOM == 26, "headroom of a payload buffer");
_Static_assert(FERRY_WIRE_OVERHEAD_V6 == 93, "1500 - 93 = 1407 bytes of record body");
_Static_assert(FERRY_WIRE_OVERHEAD_V4 == 73, "1500 - 73 = 1427 bytes of record body");
_Static_assert(FERRY_WIRE_MTU_MAX - FERRY_WIRE_IPV4_HDR - FERRY_WIRE_UDP_HDR <= UINT16_MAX,
	       "record and FEC lengths are u16");
_Static_assert(FERRY_WIRE_MTU_MIN - FERRY_WIRE_OVERHEAD_V6 >= FERRY_ARQ_MTU_MIN,
	       "the smallest MTU still carries a segment");

/* The sizes of one link, all derived from the outer MTU and the IP header size. */
struct ferry_wire_sizes {
	uint32_t udp_payload; /* a whole ferry message: mtu - ip - udp */
	uint32_t shard;	      /* FEC shard inside the AEAD: udp_payload - 32 */
	uint32_t payload;     /* mux payload of a data shard: shard - 10 */
	uint32_t record_body; /* largest record body (ARQ mtu): payload - 3 */
	uint32_t datagram;    /* largest datagram-channel message: record_body - 4 */
};

/* Fills *s for an outer MTU and IP header (FERRY_WIRE_IPV4_HDR or _IPV6_HDR).
 * Returns 0, or -EINVAL when mtu is outside [FERRY_WIRE_MTU_MIN, FERRY_WIRE_MTU_MAX] or
 * ip_hdr is neither. */
static inline int ferry_wire_sizes(struct ferry_wire_sizes *s, uint32_t mtu, uint32_t ip_hdr)
{
	if (mtu < FERRY_WIRE_MTU_MIN || mtu > FERRY_WIRE_MTU_MAX ||
	    (ip_hdr != FERRY_WIRE_IPV4_HDR && ip_hdr != FERRY_WIRE_IPV6_HDR))
		return -EINVAL;
	s->udp_payload = mtu - ip_hdr - FERRY_WIRE_UDP_HDR;
	s->shard = s->udp_payload - FERRY_WIRE_SEAL_OVERHEAD;
	s->payload = s->shard - FERRY_WIRE_FEC_OVERHEAD;
	s->record_body = s->payload - FERRY_WIRE_RECORD_HDR;
	s->datagram = s->record_body - FERRY_WIRE_DATAGRAM_HDR;
	return 0;
}

/* The largest record body (= the ARQ `mtu` to configure) for an outer MTU over IPv6, the
 * worst case; 0 for an MTU outside the limits. */
static inline uint32_t ferry_wire_arq_mtu(uint32_t mtu)
{
	struct ferry_wire_sizes s;

	return ferry_wire_sizes(&s, mtu, FERRY_WIRE_IPV6_HDR) ? 0 : s.record_body;
}

#endif
