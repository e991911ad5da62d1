/* SPDX-License-Identifier: MIT */
/*
 * The secure link's wire format in one place, mirrored byte by byte in docs/wire-format.md.
 *
 * A UDP datagram between two ferry peers is one message. Its first byte is the message
 * type (enum ferry_msg_type, below): handshake initiation (152 bytes),
 * response (96), cookie reply (64), or data (16-byte header, ciphertext, 16-byte tag).
 * Inside a data message's ciphertext:
 *
 *   empty                                  keepalive (never reaches the FEC decoder)
 *   FEC header (8) | len u16 | payload     a data shard (transport/fec.c)
 *   FEC header (8) | coded region          a parity shard
 *
 * and a data shard's payload is a sequence of records (transport/mux.c):
 *
 *   kind u8 | len u16 LE | body[len]
 *     kind 0 PAD       body ignored (reserved for padding)
 *     kind 1 ARQ       one or more whole KCP segments (header below), normally of one
 *                      conversation (one ARQ output datagram)
 *     kind 2 DATAGRAM  flow id u32 LE | bytes: the unreliable datagram channel
 *     other            skipped by its length and counted (room to extend)
 *
 * Above the link runs the flow protocol (transport/flowmsg.c, stack/bridge*.c): a TCP
 * flow is one ARQ conversation whose byte stream, each way, is a run of frames (OPEN,
 * RESULT, DATA, FIN); UDP flows, ICMP echo and the out-of-band signals (reset, unknown
 * conversation, hello) are messages on the datagram channel. Their layouts end this file.
 *
 * Every layout is defined here, and nowhere else; the modules that read and write them
 * (noise.c, session.c, cookie.c, aead.c, fec.c, arq*.c, mux.c, link.c) include this
 * header. It includes nothing of ours. The chain of sizes at the end derives the inner
 * sizes from the outer MTU, so that one full ARQ datagram is exactly one record of one
 * data shard of one UDP datagram of at most the path MTU (docs/mtu.md).
 */
#ifndef FERRY_TRANSPORT_WIRE_H
#define FERRY_TRANSPORT_WIRE_H

#include <errno.h>
#include <stdint.h>

/* ---- primitives: sizes of what the cryptography puts on the wire ---- */
enum {
	FERRY_AEAD_TAG_LEN = 16,   /* Poly1305 or GHASH tag closing every sealed message */
	FERRY_AEAD_NONCE_LEN = 12, /* 4 zero bytes, then the 64-bit counter, little-endian */
	FERRY_MAC_LEN = 16,	   /* mac1, mac2: keyed BLAKE2b-128 */
	FERRY_COOKIE_LEN = 16,
	FERRY_COOKIE_NONCE_LEN = 24,	    /* XChaCha20-Poly1305 nonce of a cookie reply */
	FERRY_MACS_LEN = 2 * FERRY_MAC_LEN, /* trailer of a handshake message */
};

/* ---- secure link messages (transport/noise.c, session.c; docs/crypto.md) ---- *
 * All integers little-endian. Every message starts with type u8 + 3 reserved bytes (zero
 * on send, a non-zero reserved byte makes a message malformed). Handshake messages are
 * accepted only at their exact size; a data message is header + ciphertext + tag.
 */
enum ferry_msg_type {
	FERRY_MSG_INITIATION = 1,
	FERRY_MSG_RESPONSE = 2,
	FERRY_MSG_COOKIE_REPLY = 3,
	FERRY_MSG_DATA = 4,
};

enum {
	FERRY_NOISE_KEY_LEN = 32,	   /* X25519 keys, preshared key, session keys */
	FERRY_NOISE_HASH_LEN = 64,	   /* BLAKE2b: chaining key and handshake hash */
	FERRY_TIMESTAMP_LEN = 12,	   /* TAI64N: 8 bytes seconds, 4 bytes nanoseconds, BE */
	FERRY_INITIATION_PAYLOAD_LEN = 16, /* timestamp(12) | aead mask u8 | reserved(3) */
	FERRY_RESPONSE_PAYLOAD_LEN = 4,	   /* chosen aead u8 | reserved(3) */
};

struct ferry_msg_header {
	uint8_t type;
	uint8_t reserved[3];
} __attribute__((packed));

/* The last 32 bytes of every initiation and response (transport/cookie.h). */
struct ferry_msg_macs {
	uint8_t mac1[FERRY_MAC_LEN]; /* BLAKE2b-128, key from the receiver's static key */
	uint8_t mac2[FERRY_MAC_LEN]; /* BLAKE2b-128 keyed by a cookie, or zero */
} __attribute__((packed));

/* Type 1, 152 bytes. */
struct ferry_msg_initiation {
	struct ferry_msg_header header;
	uint32_t sender_index; /* initiator's index for the response and for data to it */
	uint8_t ephemeral[FERRY_NOISE_KEY_LEN];
	uint8_t encrypted_static[FERRY_NOISE_KEY_LEN + FERRY_AEAD_TAG_LEN];
	uint8_t encrypted_payload[FERRY_INITIATION_PAYLOAD_LEN + FERRY_AEAD_TAG_LEN];
	struct ferry_msg_macs macs;
} __attribute__((packed));

/* Type 2, 96 bytes. */
struct ferry_msg_response {
	struct ferry_msg_header header;
	uint32_t sender_index;	 /* responder's index for data to it */
	uint32_t receiver_index; /* the initiation's sender_index */
	uint8_t ephemeral[FERRY_NOISE_KEY_LEN];
	uint8_t encrypted_payload[FERRY_RESPONSE_PAYLOAD_LEN + FERRY_AEAD_TAG_LEN];
	struct ferry_msg_macs macs;
} __attribute__((packed));

/* Type 3, 64 bytes: answers an initiation or response that lacked a valid mac2. */
struct ferry_msg_cookie_reply {
	struct ferry_msg_header header;
	uint32_t receiver_index; /* sender_index of the message it answers */
	uint8_t nonce[FERRY_COOKIE_NONCE_LEN];
	uint8_t encrypted_cookie[FERRY_COOKIE_LEN + FERRY_AEAD_TAG_LEN];
} __attribute__((packed));

/* Type 4: 16-byte header, then ciphertext and a 16-byte tag. The header is the AEAD's
 * associated data; the counter is the nonce. An empty payload is a keepalive. */
struct ferry_msg_data {
	struct ferry_msg_header header;
	uint32_t receiver_index; /* the receiving session's local index */
	uint64_t counter;	 /* per session, starts at 0, never reused */
} __attribute__((packed));

enum {
	FERRY_MSG_INITIATION_LEN = sizeof(struct ferry_msg_initiation),
	FERRY_MSG_RESPONSE_LEN = sizeof(struct ferry_msg_response),
	FERRY_MSG_COOKIE_REPLY_LEN = sizeof(struct ferry_msg_cookie_reply),
	FERRY_DATA_HEADER_LEN = sizeof(struct ferry_msg_data),
	FERRY_DATA_OVERHEAD = FERRY_DATA_HEADER_LEN + FERRY_AEAD_TAG_LEN, /* 32 */
	FERRY_NOISE_MAX_REPLY_LEN = FERRY_MSG_RESPONSE_LEN, /* largest handshake reply */
};

_Static_assert(FERRY_MSG_INITIATION_LEN == 152, "initiation layout");
_Static_assert(FERRY_MSG_RESPONSE_LEN == 96, "response layout");
_Static_assert(FERRY_MSG_COOKIE_REPLY_LEN == 64, "cookie reply layout");
_Static_assert(FERRY_DATA_HEADER_LEN == 16, "data header layout");
_Static_assert(FERRY_NOISE_MAX_REPLY_LEN >= FERRY_MSG_COOKIE_REPLY_LEN, "reply buffer");

/* ---- FEC shard header (transport/fec.c; docs/fec.md), inside the encryption ---- */
enum {
	FERRY_FEC_OFF_GROUP = 0,  /* u32 group id, wraps */
	FERRY_FEC_OFF_INDEX = 4,  /* u8 shard index: 0..D-1 data, D..D+P-1 parity */
	FERRY_FEC_OFF_D = 5,	  /* u8 data shards of the group's code, 1..FERRY_FEC_MAX_DATA */
	FERRY_FEC_OFF_P = 6,	  /* u8 parity shards, 0..FERRY_FEC_MAX_PARITY */
	FERRY_FEC_OFF_K = 7,	  /* u8 data shards actually in the group: 0 in data shards
				   * (unknown when sent), 1..D in parity shards */
	FERRY_FEC_HDR_LEN = 8,	  /* bytes before the coded region */
	FERRY_FEC_LEN_PREFIX = 2, /* u16 payload length opening a data shard's coded region */
	/* bytes a data shard adds in front of its payload */
	FERRY_FEC_DATA_OVERHEAD = FERRY_FEC_HDR_LEN + FERRY_FEC_LEN_PREFIX,
};

/* ---- KCP segment header (transport/arq*.c; docs/arq.md), inside a record ---- *
 * conv u32 | cmd u8 | frg u8 | wnd u16 | ts u32 | sn u32 | una u32 | len u32 | data[len],
 * all little-endian; several segments may follow one another. */
enum {
	FERRY_ARQ_HDR_LEN = 24,	 /* bytes of every segment header */
	FERRY_ARQ_CMD_PUSH = 81, /* data */
	FERRY_ARQ_CMD_ACK = 82,	 /* acknowledges one sn, echoes its ts */
	FERRY_ARQ_CMD_WASK = 83, /* window probe: please send your window */
	FERRY_ARQ_CMD_WINS = 84, /* window announcement */
};

/* ---- the link: records, and the overhead arithmetic ---- */

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
	FERRY_REC_ACK = 3,   /* link acknowledgement (transport/ack.h) */
	FERRY_REC_KINDS = 4, /* kinds this version knows; others are skipped */
};

/* ACK record body (transport/ack.c): which data messages of a session arrived, by their
 * AEAD counters, newest first:
 *   session u32 | largest u64 | delay_ms u16 | n u8 | reserved u8 (0) | first u16
 *   | (n - 1) x { gap u16 | len u16 }
 * The first range is [largest - first, largest]. Each further range lies below the one
 * before it: its highest counter is gap + 1 below the previous range's lowest (gap >= 1
 * counters missing in between), and it spans len + 1 counters. `session` is the
 * receiver's local index of the session (the index the acknowledged messages carried);
 * delay_ms how long the receiver held the largest before writing the record. */
enum {
	FERRY_ACK_FIXED_LEN = 18,  /* up to and including `first` */
	FERRY_ACK_RANGE_LEN = 4,   /* gap, len */
	FERRY_ACK_RANGES_MAX = 24, /* ranges in one record */
	FERRY_ACK_RECORD_MAX =
	    FERRY_ACK_FIXED_LEN + (FERRY_ACK_RANGES_MAX - 1) * FERRY_ACK_RANGE_LEN,
};

_Static_assert(FERRY_WIRE_SEAL_OVERHEAD == 32, "data header + tag");
_Static_assert(FERRY_WIRE_FEC_OVERHEAD == 10, "FEC header + length prefix");
_Static_assert(FERRY_WIRE_HEADROOM == 26, "headroom of a payload buffer");
_Static_assert(FERRY_WIRE_OVERHEAD_V6 == 93, "1500 - 93 = 1407 bytes of record body");
_Static_assert(FERRY_WIRE_OVERHEAD_V4 == 73, "1500 - 73 = 1427 bytes of record body");
_Static_assert(FERRY_WIRE_MTU_MAX - FERRY_WIRE_IPV4_HDR - FERRY_WIRE_UDP_HDR <= UINT16_MAX,
	       "record and FEC lengths are u16");

/* ---- the flow protocol (transport/flowmsg.c, stack/bridge*.c; docs/wire-format.md) ---- *
 * All integers little-endian. An endpoint is `family u8 (4 or 6) | port u16 | address (4 or
 * 16 bytes)`. Conversation and flow ids: the opener of a flow picks it; the side with the
 * greater static public key sets the top bit of the ids it picks (FERRY_FLOW_ID_SIDE), so
 * the two ends never collide, and each side counts its ids up from 1 without reuse.
 *
 * TCP: each direction of a conversation's stream is a run of frames `type u8 | len u16 |
 * body[len]`:
 *   OPEN    (opener's first frame) version u8 | proto u8 (6) | reserved u16 | instance u64
 *           | src endpoint | dst endpoint: the application's source and destination
 *   RESULT  (acceptor's first frame) code u8 | reserved u8 | instance u64: 0 connected,
 *           else why not (enum ferry_flow_code); a failure is followed by FIN
 *   DATA    the bytes
 *   FIN     empty: the last frame of that direction (half-close)
 * `instance` is a random number each ferry process draws at start: a peer that restarted
 * has a new one, and what belonged to its old one is reset.
 *
 * Datagram channel: the record's flow id, then `type u8 | fields`:
 *   UDP_OPEN     (id: UDP flow) an OPEN body (proto 17) | bytes
 *   UDP          (id: UDP flow) bytes, from or to the flow's destination
 *   UDP_FROM     (id: UDP flow) from endpoint | bytes: a reply from another source
 *   UDP_ACCEPT   (id: UDP flow) code u8 | reserved u8 | instance u64: 0 accepted
 *   UDP_UNKNOWN  (id: UDP flow) empty: no such flow here (open it again)
 *   ECHO_REQUEST (id 0) ident u16 | seq u16 | src | dst | bytes
 *   ECHO_REPLY   (id 0) ident u16 | seq u16 | app | from | bytes
 *   TCP_RESET    (id: conversation) code u8: the flow was reset
 *   TCP_UNKNOWN  (id: conversation) empty: no such conversation here
 *   HELLO        (id 0) version u8 | flags u8 (bit 0: a reply) | reserved u16 | instance u64
 */
enum {
	FERRY_FLOW_VERSION = 1,
	FERRY_FLOW_ID_SIDE = 1u << 31, /* ids picked by the side with the greater key */
	FERRY_FRAME_HDR_LEN = 3,       /* type u8 | len u16 */
	FERRY_FRAME_BODY_MAX = 65535,
	FERRY_WIRE_EP4_LEN = 7,	 /* family, port, IPv4 address */
	FERRY_WIRE_EP6_LEN = 19, /* family, port, IPv6 address */
	FERRY_WIRE_EP_MAX = FERRY_WIRE_EP6_LEN,
	FERRY_FRAME_OPEN_FIXED = 12, /* OPEN body before its endpoints */
	FERRY_FRAME_OPEN_MAX = FERRY_FRAME_OPEN_FIXED + 2 * FERRY_WIRE_EP_MAX, /* 50 */
	FERRY_FRAME_RESULT_LEN = 10,
	FERRY_DG_TYPE_LEN = 1,
	FERRY_DG_ACCEPT_LEN = 10, /* after the type */
	FERRY_DG_ECHO_FIXED = 4,  /* ident, seq: after the type, before the endpoints */
	FERRY_DG_HELLO_LEN = 12,  /* after the type */
	/* the most a datagram-channel message adds in front of a UDP payload (UDP_OPEN over
	 * IPv6): the datagram channel's room minus this is the largest UDP payload carried */
	FERRY_DG_UDP_OVERHEAD = FERRY_DG_TYPE_LEN + FERRY_FRAME_OPEN_MAX,
	FERRY_DG_ECHO_OVERHEAD = FERRY_DG_TYPE_LEN + FERRY_DG_ECHO_FIXED + 2 * FERRY_WIRE_EP_MAX,
};

enum ferry_frame_type {
	FERRY_FRAME_OPEN = 1,
	FERRY_FRAME_RESULT = 2,
	FERRY_FRAME_DATA = 3,
	FERRY_FRAME_FIN = 4,
};

enum ferry_dg_type {
	FERRY_DG_UDP_OPEN = 1,
	FERRY_DG_UDP = 2,
	FERRY_DG_UDP_FROM = 3,
	FERRY_DG_UDP_ACCEPT = 4,
	FERRY_DG_UDP_UNKNOWN = 5,
	FERRY_DG_ECHO_REQUEST = 6,
	FERRY_DG_ECHO_REPLY = 7,
	FERRY_DG_TCP_RESET = 8,
	FERRY_DG_TCP_UNKNOWN = 9,
	FERRY_DG_HELLO = 10,
};

/* Why a flow could not be opened or was reset: portable codes, not any one system's
 * errno values (transport/flowmsg.h maps them). */
enum ferry_flow_code {
	FERRY_FLOW_OK = 0,
	FERRY_FLOW_REFUSED = 1,	     /* connection refused / port unreachable */
	FERRY_FLOW_NET_UNREACH = 2,  /* no route to the network */
	FERRY_FLOW_HOST_UNREACH = 3, /* the host did not answer */
	FERRY_FLOW_TIMEDOUT = 4,     /* the connect or the flow timed out */
	FERRY_FLOW_DENIED = 5,	     /* the egress policy denies the destination */
	FERRY_FLOW_NO_RESOURCES = 6, /* out of flows, sockets or memory at the far end */
	FERRY_FLOW_RESET = 7,	     /* reset by an end */
	FERRY_FLOW_ABORTED = 8,	     /* given up (a dead conversation, a peer restart) */
	FERRY_FLOW_SOURCE = 9,	     /* the source is not in the peer's AllowedIPs */
	FERRY_FLOW_VERSION_BAD = 10, /* a flow protocol version the far end does not speak */
	FERRY_FLOW_CODES = 11,
};

_Static_assert(FERRY_FRAME_OPEN_MAX == 50, "OPEN frame body");
_Static_assert(FERRY_DG_UDP_OVERHEAD == 51, "UDP_OPEN in front of a UDP payload");

/* ---- the chain of sizes: everything below the outer MTU (docs/mtu.md) ---- */

/* The sizes of one link, all derived from the outer (path) MTU and the IP header size,
 * each from the one above it. The ARQ, the datagram channel and the flows above them take
 * their sizes from here (through the link, transport/link.h), never from numbers of their
 * own. */
struct ferry_wire_sizes {
	uint32_t mtu;	      /* the outer (path) MTU they derive from */
	uint32_t udp_payload; /* a whole ferry message: mtu - ip - udp */
	uint32_t shard;	      /* FEC shard inside the AEAD: udp_payload - 32 */
	uint32_t payload;     /* mux payload of a data shard: shard - 10 */
	uint32_t record_body; /* largest record body (ARQ mtu): payload - 3 */
	uint32_t arq_mss;     /* largest KCP segment payload (ARQ MSS): record_body - 24 */
	uint32_t datagram;    /* largest datagram-channel message: record_body - 4 */
	uint32_t udp_max;     /* largest UDP payload carried (a UDP message): datagram - 1 */
};

/* Fills *s for an outer MTU and IP header (FERRY_WIRE_IPV4_HDR or _IPV6_HDR).
 * Returns 0, or -EINVAL when mtu is outside [FERRY_WIRE_MTU_MIN, FERRY_WIRE_MTU_MAX] or
 * ip_hdr is neither. */
static inline int ferry_wire_sizes(struct ferry_wire_sizes *s, uint32_t mtu, uint32_t ip_hdr)
{
	if (mtu < FERRY_WIRE_MTU_MIN || mtu > FERRY_WIRE_MTU_MAX ||
	    (ip_hdr != FERRY_WIRE_IPV4_HDR && ip_hdr != FERRY_WIRE_IPV6_HDR))
		return -EINVAL;
	s->mtu = mtu;
	s->udp_payload = mtu - ip_hdr - FERRY_WIRE_UDP_HDR;
	s->shard = s->udp_payload - FERRY_WIRE_SEAL_OVERHEAD;
	s->payload = s->shard - FERRY_WIRE_FEC_OVERHEAD;
	s->record_body = s->payload - FERRY_WIRE_RECORD_HDR;
	s->arq_mss = s->record_body - FERRY_ARQ_HDR_LEN;
	s->datagram = s->record_body - FERRY_WIRE_DATAGRAM_HDR;
	s->udp_max = s->datagram - FERRY_DG_TYPE_LEN;
	return 0;
}

/* The smallest outer MTU, over IPv6, still carries a segment with a payload, and a
 * UDP_OPEN or an echo of IPv6 endpoints with some bytes. */
_Static_assert(FERRY_WIRE_MTU_MIN - FERRY_WIRE_OVERHEAD_V6 > FERRY_ARQ_HDR_LEN,
	       "a segment at the smallest MTU");
_Static_assert(FERRY_WIRE_MTU_MIN - FERRY_WIRE_OVERHEAD_V6 - FERRY_WIRE_DATAGRAM_HDR >
		       FERRY_DG_UDP_OVERHEAD &&
		   FERRY_WIRE_MTU_MIN - FERRY_WIRE_OVERHEAD_V6 - FERRY_WIRE_DATAGRAM_HDR >
		       FERRY_DG_ECHO_OVERHEAD,
	       "flow messages at the smallest MTU");

/* Little-endian fields, byte by byte: every multi-byte integer on ferry's wire is LE, and
 * the bytes are untrusted and unaligned. */
static inline void ferry_wire_put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void ferry_wire_put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline uint16_t ferry_wire_get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t ferry_wire_get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline void ferry_wire_put_le64(uint8_t *p, uint64_t v)
{
	ferry_wire_put_le32(p, (uint32_t)v);
	ferry_wire_put_le32(p + 4, (uint32_t)(v >> 32));
}

static inline uint64_t ferry_wire_get_le64(const uint8_t *p)
{
	return (uint64_t)ferry_wire_get_le32(p) | (uint64_t)ferry_wire_get_le32(p + 4) << 32;
}

#endif
