/* SPDX-License-Identifier: MIT */
/*
 * The flow protocol's codec: the frames of a TCP flow's conversation and the messages of
 * the datagram channel, as transport/wire.h lays them out (docs/wire-format.md).
 *
 * Theory of operation. Everything here is pure: bytes in, structs out, and back; no
 * state, no allocation, no I/O. Decoders take untrusted bytes and check every length
 * before reading; a message that does not parse exactly is refused (-EBADMSG), an
 * unknown type or version is told apart (-EPROTO, -EPROTONOSUPPORT) so the caller can
 * count it and answer. Encoders write into the caller's buffer and return the length, or
 * 0 when it does not fit. Decoded payloads point into the input.
 *
 * A TCP flow's frames arrive as a byte stream, split anywhere: ferry_flowmsg_frame_header
 * reads just the 3-byte header so the caller can deliver a DATA body as it comes, without
 * gathering it; OPEN and RESULT bodies are small and read whole.
 */
#ifndef FERRY_TRANSPORT_FLOWMSG_H
#define FERRY_TRANSPORT_FLOWMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "transport/addr.h"
#include "transport/wire.h"

/* One frame header: its type and the length of the body that follows. */
struct ferry_flowmsg_frame {
	uint8_t type; /* enum ferry_frame_type */
	uint16_t len;
};

/* A flow's opening: OPEN frame (TCP) or UDP_OPEN message. */
struct ferry_flowmsg_open {
	uint8_t version;
	uint8_t proto; /* 6 TCP, 17 UDP */
	uint64_t instance;
	struct ferry_endpoint src, dst;
};

/* RESULT frame (TCP) or UDP_ACCEPT message. */
struct ferry_flowmsg_result {
	uint8_t code; /* enum ferry_flow_code */
	uint64_t instance;
};

/* One datagram-channel message, decoded; which fields are set depends on type. */
struct ferry_flowmsg_dg {
	uint8_t type;			    /* enum ferry_dg_type */
	struct ferry_flowmsg_open open;	    /* UDP_OPEN */
	struct ferry_flowmsg_result result; /* UDP_ACCEPT */
	struct ferry_endpoint from;	    /* UDP_FROM */
	uint16_t ident, seq;		    /* ECHO_REQUEST, ECHO_REPLY */
	struct ferry_endpoint src, dst;	    /* ECHO_*: requester (app) and pinged host */
	uint8_t code;			    /* TCP_RESET */
	uint8_t version, flags;		    /* HELLO */
	uint64_t instance;		    /* HELLO */
	const uint8_t *payload;		    /* UDP_OPEN, UDP, UDP_FROM, ECHO_* */
	size_t payload_len;
};

enum {
	FERRY_FLOWMSG_HELLO_REPLY = 1, /* HELLO flags: an answer to the peer's HELLO */
};

/* ---- endpoints ---- */

/* Bytes an endpoint takes on the wire (7 or 19), 0 for a family that has no encoding. */
size_t ferry_flowmsg_endpoint_len(const struct ferry_endpoint *ep);

/* ---- TCP frames ---- */

/* Reads the frame header at p (len bytes available). Returns 0, -EAGAIN when fewer than
 * FERRY_FRAME_HDR_LEN bytes are there, -EPROTO for an unknown type. */
int ferry_flowmsg_frame_header(const uint8_t *p, size_t len, struct ferry_flowmsg_frame *f);

/* Writes a frame header (type, body length). Returns FERRY_FRAME_HDR_LEN. */
size_t ferry_flowmsg_frame_put(uint8_t *out, uint8_t type, uint16_t len);

/* Whole OPEN frame (header and body) into out. Returns its length or 0 (no room, or an
 * endpoint that has no encoding). */
size_t ferry_flowmsg_open_encode(uint8_t *out, size_t cap, const struct ferry_flowmsg_open *o);

/* OPEN body (len bytes, after the header). Returns 0, -EBADMSG (malformed: lengths,
 * families, reserved bytes), -EPROTONOSUPPORT (another version; o->version is set). */
int ferry_flowmsg_open_decode(const uint8_t *body, size_t len, struct ferry_flowmsg_open *o);

/* Whole RESULT frame into out. Returns its length (13) or 0. */
size_t ferry_flowmsg_result_encode(uint8_t *out, size_t cap, const struct ferry_flowmsg_result *r);

/* RESULT body. Returns 0 or -EBADMSG (wrong length, reserved byte, unknown code). */
int ferry_flowmsg_result_decode(const uint8_t *body, size_t len, struct ferry_flowmsg_result *r);

/* The OPEN frame a conversation starts with, found in a run of its KCP segments: the
 * PUSH segment with sn 0 whose payload begins with a whole OPEN frame. Lets a receiver
 * decide about a conversation it does not know before it keeps any state for it.
 * Returns 0, -ENOENT (no such segment in the run), or what ferry_flowmsg_open_decode
 * returned. */
int ferry_flowmsg_open_in_segments(const uint8_t *segs, size_t len, struct ferry_flowmsg_open *o);

/* ---- datagram-channel messages ---- */

/* Decodes one message (the record's bytes after its flow id). Returns 0, -EBADMSG,
 * -EPROTO (unknown type), -EPROTONOSUPPORT (UDP_OPEN or HELLO of another version). */
int ferry_flowmsg_dg_decode(const uint8_t *p, size_t len, struct ferry_flowmsg_dg *m);

/* Encodes m (its type's fields and payload) into out. Returns the length or 0. */
size_t ferry_flowmsg_dg_encode(uint8_t *out, size_t cap, const struct ferry_flowmsg_dg *m);

/* ---- codes ---- */

/* The code for a negative errno (a connect's, a socket's), FERRY_FLOW_ABORTED when
 * nothing closer fits; 0 gives FERRY_FLOW_OK. */
uint8_t ferry_flowmsg_code(int err);

/* The negative errno a code stands for (FERRY_FLOW_OK: 0). */
int ferry_flowmsg_errno(uint8_t code);

/* Short name of a code ("refused", "denied", ...). */
const char *ferry_flowmsg_code_name(uint8_t code);

#endif
