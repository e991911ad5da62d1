// SPDX-License-Identifier: MIT
/*
 * Fuzzes the flow protocol's decoders (transport/flowmsg.c). The whole input goes to each
 * of them: as a datagram-channel message; as a frame header and the body after it, read
 * both as an OPEN and as a RESULT; and as a run of KCP segments that may start a
 * conversation with an OPEN frame. Decoders may only return what their contracts name.
 *
 * Every message that decodes is encoded again, and the encoding is canonical (reserved
 * bytes zero, one family byte per family, nothing optional): the bytes must be the input's
 * own, they must decode to the same fields, and one byte less room must be refused. An
 * OPEN is also wrapped in a PUSH segment of sn 0 and must be found there. Any mismatch
 * aborts.
 *
 * Deep path: a decoder's success branch (the input, read one of these ways, is a message).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fuzz.h"
#include "transport/arq.h"
#include "transport/flowmsg.h"

static bool ep_same(const struct ferry_endpoint *a, const struct ferry_endpoint *b)
{
	return a->family == b->family && a->port == b->port &&
	       memcmp(a->addr, b->addr, sizeof(a->addr)) == 0;
}

static bool open_same(const struct ferry_flowmsg_open *a, const struct ferry_flowmsg_open *b)
{
	return a->version == b->version && a->proto == b->proto && a->instance == b->instance &&
	       ep_same(&a->src, &b->src) && ep_same(&a->dst, &b->dst);
}

static bool dg_same(const struct ferry_flowmsg_dg *a, const struct ferry_flowmsg_dg *b)
{
	return a->type == b->type && open_same(&a->open, &b->open) &&
	       a->result.code == b->result.code && a->result.instance == b->result.instance &&
	       ep_same(&a->from, &b->from) && a->ident == b->ident && a->seq == b->seq &&
	       ep_same(&a->src, &b->src) && ep_same(&a->dst, &b->dst) && a->code == b->code &&
	       a->version == b->version && a->flags == b->flags && a->instance == b->instance &&
	       a->payload_len == b->payload_len &&
	       (!a->payload_len || memcmp(a->payload, b->payload, a->payload_len) == 0);
}

/* A decoded OPEN, encoded again: the same body bytes, the same fields, and found again
 * as the first frame of a PUSH segment with sn 0. */
static void reencode_open(const struct ferry_flowmsg_open *o, const uint8_t *body, size_t len)
{
	uint8_t out[FERRY_FRAME_HDR_LEN + FERRY_FRAME_OPEN_MAX];
	uint8_t seg[FERRY_ARQ_HDR_LEN + sizeof(out)];
	struct ferry_arq_seg h = {.conv = 1, .cmd = FERRY_ARQ_CMD_PUSH};
	struct ferry_flowmsg_open o2;
	size_t n = ferry_flowmsg_open_encode(out, sizeof(out), o);

	if (n < FERRY_FRAME_HDR_LEN || out[0] != FERRY_FRAME_OPEN ||
	    ferry_wire_get_le16(out + 1) != n - FERRY_FRAME_HDR_LEN)
		abort();
	if (body &&
	    (n - FERRY_FRAME_HDR_LEN != len || memcmp(out + FERRY_FRAME_HDR_LEN, body, len) != 0))
		abort();
	if (ferry_flowmsg_open_decode(out + FERRY_FRAME_HDR_LEN, n - FERRY_FRAME_HDR_LEN, &o2) ||
	    !open_same(o, &o2))
		abort();
	if (ferry_flowmsg_open_encode(out, n - 1, o) != 0)
		abort();
	h.len = (uint32_t)n;
	if (ferry_arq_seg_encode(seg, sizeof(seg), &h, out) != (ssize_t)(FERRY_ARQ_HDR_LEN + n))
		abort();
	if (ferry_flowmsg_open_in_segments(seg, FERRY_ARQ_HDR_LEN + n, &o2) || !open_same(o, &o2))
		abort();
}

static bool check_open_body(const uint8_t *body, size_t len)
{
	struct ferry_flowmsg_open o;
	int err = ferry_flowmsg_open_decode(body, len, &o);

	if (err == -EBADMSG || err == -EPROTONOSUPPORT)
		return false;
	if (err)
		abort();
	reencode_open(&o, body, len);
	return true;
}

static bool check_result_body(const uint8_t *body, size_t len)
{
	uint8_t out[FERRY_FRAME_HDR_LEN + FERRY_FRAME_RESULT_LEN];
	struct ferry_flowmsg_result r, r2;
	int err = ferry_flowmsg_result_decode(body, len, &r);
	size_t n;

	if (err == -EBADMSG)
		return false;
	if (err)
		abort();
	n = ferry_flowmsg_result_encode(out, sizeof(out), &r);
	if (n != sizeof(out) || len != FERRY_FRAME_RESULT_LEN || out[0] != FERRY_FRAME_RESULT ||
	    ferry_wire_get_le16(out + 1) != len ||
	    memcmp(out + FERRY_FRAME_HDR_LEN, body, len) != 0)
		abort();
	if (ferry_flowmsg_result_decode(out + FERRY_FRAME_HDR_LEN, len, &r2) || r.code != r2.code ||
	    r.instance != r2.instance)
		abort();
	if (ferry_flowmsg_result_encode(out, n - 1, &r) != 0)
		abort();
	return true;
}

/* A frame header, then the body it announces (or what there is of it). */
static bool check_frames(const uint8_t *data, size_t size)
{
	struct ferry_flowmsg_frame f;
	int err = ferry_flowmsg_frame_header(data, size, &f);
	size_t body;
	bool open, result;

	if (err == -EAGAIN) {
		if (size >= FERRY_FRAME_HDR_LEN)
			abort();
		return false;
	}
	if (err && err != -EPROTO)
		abort();
	if (!err && (f.type < FERRY_FRAME_OPEN || f.type > FERRY_FRAME_FIN))
		abort();
	body = size - FERRY_FRAME_HDR_LEN;
	if (!err && f.len < body)
		body = f.len;
	open = check_open_body(data + FERRY_FRAME_HDR_LEN, body);
	result = check_result_body(data + FERRY_FRAME_HDR_LEN, body);
	return open || result;
}

static bool check_dg(const uint8_t *data, size_t size)
{
	struct ferry_flowmsg_dg m, m2;
	int err = ferry_flowmsg_dg_decode(data, size, &m);
	uint8_t *out;
	size_t n;

	if (err == -EBADMSG || err == -EPROTO || err == -EPROTONOSUPPORT)
		return false;
	if (err || !size)
		abort();
	if (m.payload_len && (m.payload < data || m.payload + m.payload_len != data + size))
		abort();
	out = malloc(size);
	if (!out)
		abort();
	n = ferry_flowmsg_dg_encode(out, size, &m);
	if (n != size || memcmp(out, data, size) != 0)
		abort();
	if (ferry_flowmsg_dg_decode(out, n, &m2) || !dg_same(&m, &m2))
		abort();
	if (ferry_flowmsg_dg_encode(out, size - 1, &m) != 0)
		abort();
	free(out);
	if (m.type == FERRY_DG_UDP_OPEN && m.open.proto != 17)
		abort();
	return true;
}

static bool check_segments(const uint8_t *data, size_t size)
{
	struct ferry_flowmsg_open o;
	int err = ferry_flowmsg_open_in_segments(data, size, &o);

	if (err == -ENOENT || err == -EBADMSG || err == -EPROTONOSUPPORT)
		return false;
	if (err || o.proto != 6)
		abort();
	reencode_open(&o, NULL, 0);
	return true;
}

/* The code table, for whatever code the first byte names. */
static void check_code(uint8_t code)
{
	if (!ferry_flowmsg_code_name(code))
		abort();
	if (code < FERRY_FLOW_CODES && ferry_flowmsg_code(ferry_flowmsg_errno(code)) != code)
		abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const struct fuzz_spec spec = {
	    .name = "fuzz_flowmsg",
	    .deep = "a message one of the decoders accepted",
	    .min_inputs = 20,
	    .floor_permille = 30,
	};

	return fuzz_init(argc, argv, &spec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	bool dg = check_dg(data, size);
	bool frames = check_frames(data, size);
	bool segments = check_segments(data, size);

	if (size)
		check_code(data[0]);
	fuzz_deep(dg || frames || segments);
	return 0;
}
