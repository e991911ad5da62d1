// SPDX-License-Identifier: MIT
/*
 * Payload packing: record writer and bounds-checked record reader. See mux.h for the theory
 * of operation and transport/wire.h / docs/wire-format.md for the layout.
 */
#include <errno.h>
#include <string.h>

#include "transport/arq.h"
#include "transport/mux.h"

/* The smallest outer MTU must still carry one ARQ segment after every header. */
_Static_assert(FERRY_WIRE_MTU_MIN - FERRY_WIRE_OVERHEAD_V6 >= FERRY_ARQ_MTU_MIN,
	       "the smallest MTU still carries a segment");

/* Reserves a record header for a body of len bytes; returns where the body goes. */
static uint8_t *record_open(struct ferry_buf *buf, uint32_t limit, uint8_t kind, size_t len,
			    int *err)
{
	size_t need = FERRY_WIRE_RECORD_HDR + len;
	uint8_t *p;

	if (len > UINT16_MAX || need > limit) {
		*err = -EMSGSIZE;
		return NULL;
	}
	if (buf->len + need > limit || need > ferry_buf_tailroom(buf)) {
		*err = -ENOSPC;
		return NULL;
	}
	p = ferry_buf_put(buf, (uint32_t)need);
	p[0] = kind;
	ferry_wire_put_le16(p + 1, (uint16_t)len);
	*err = 0;
	return p + FERRY_WIRE_RECORD_HDR;
}

int ferry_mux_append(struct ferry_buf *buf, uint32_t limit, uint8_t kind, const uint8_t *body,
		     size_t len)
{
	uint8_t *p;
	int err;

	p = record_open(buf, limit, kind, len, &err);
	if (p && len)
		memcpy(p, body, len);
	return err;
}

int ferry_mux_append_datagram(struct ferry_buf *buf, uint32_t limit, uint32_t flow_id,
			      const uint8_t *data, size_t len)
{
	uint8_t *p;
	int err;

	if (len > UINT16_MAX - FERRY_WIRE_DATAGRAM_HDR)
		return -EMSGSIZE;
	p = record_open(buf, limit, FERRY_REC_DATAGRAM, FERRY_WIRE_DATAGRAM_HDR + len, &err);
	if (!p)
		return err;
	ferry_wire_put_le32(p, flow_id);
	if (len)
		memcpy(p + FERRY_WIRE_DATAGRAM_HDR, data, len);
	return 0;
}

int ferry_mux_next(const uint8_t *payload, size_t len, size_t *off, struct ferry_mux_record *rec)
{
	size_t at = *off, body_len;

	if (at >= len)
		return 0;
	if (len - at < FERRY_WIRE_RECORD_HDR)
		return -EBADMSG;
	body_len = (size_t)payload[at + 1] | (size_t)payload[at + 2] << 8;
	if (len - at - FERRY_WIRE_RECORD_HDR < body_len)
		return -EBADMSG;
	rec->kind = payload[at];
	rec->len = (uint16_t)body_len;
	rec->body = payload + at + FERRY_WIRE_RECORD_HDR;
	*off = at + FERRY_WIRE_RECORD_HDR + body_len;
	return 1;
}

int ferry_mux_datagram(const struct ferry_mux_record *rec, uint32_t *flow_id, const uint8_t **data,
		       size_t *len)
{
	if (rec->len < FERRY_WIRE_DATAGRAM_HDR)
		return -EBADMSG;
	*flow_id = ferry_wire_get_le32(rec->body);
	*data = rec->body + FERRY_WIRE_DATAGRAM_HDR;
	*len = rec->len - FERRY_WIRE_DATAGRAM_HDR;
	return 0;
}

int ferry_mux_arq_split(const uint8_t *body, size_t len, ferry_mux_run_fn fn, void *ctx)
{
	struct ferry_arq_seg seg;
	size_t off = 0, run_start = 0;
	uint32_t run_conv = 0;
	int runs = 0;

	if (len == 0)
		return -EBADMSG;
	while (off < len) {
		ssize_t n = ferry_arq_seg_decode(body + off, len - off, &seg);

		if (n < 0)
			break;
		if (off > run_start && seg.conv != run_conv) {
			fn(ctx, run_conv, body + run_start, off - run_start);
			runs++;
			run_start = off;
		}
		run_conv = seg.conv;
		off += (size_t)n;
	}
	if (off > run_start) {
		fn(ctx, run_conv, body + run_start, off - run_start);
		runs++;
	}
	return off == len ? runs : -EBADMSG;
}

bool ferry_mux_arq_is_control(const uint8_t *segs, size_t len)
{
	struct ferry_arq_seg seg;
	size_t off = 0;

	if (len == 0)
		return false;
	while (off < len) {
		ssize_t n = ferry_arq_seg_decode(segs + off, len - off, &seg);

		if (n < 0 || seg.cmd == FERRY_ARQ_CMD_PUSH)
			return false;
		off += (size_t)n;
	}
	return true;
}
