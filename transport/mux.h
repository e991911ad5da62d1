/* SPDX-License-Identifier: MIT */
/*
 * Payload packing: the records of one data shard (wire layout in transport/wire.h).
 *
 * Theory of operation. The sender appends records (`kind u8 | len u16 LE | body`) to an
 * open payload buffer until the next one does not fit the inner MTU; the link then hands
 * the payload to FEC and AEAD. The receiver walks an authenticated, FEC-restored payload
 * record by record with bounds-checked reads: a record whose header or body runs past the
 * end ends the walk (malformed, counted by the caller); an unknown kind is skipped by its
 * length. ARQ record bodies hold whole KCP segments; ferry_mux_arq_split cuts such a body
 * into runs of consecutive segments of one conversation, so each run can be handed to
 * that conversation's ferry_arq_input. Nothing here allocates, keeps state or trusts a
 * length it has not checked against the bytes it was given.
 */
#ifndef FERRY_TRANSPORT_MUX_H
#define FERRY_TRANSPORT_MUX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "transport/pool.h"
#include "transport/wire.h"

/* One record as parsed; body points into the payload that was walked. */
struct ferry_mux_record {
	uint8_t kind;
	uint16_t len;
	const uint8_t *body;
};

/* Appends a record of `kind` with body (len bytes; body may be NULL when len is 0) to the
 * payload in buf, whose payload may grow to at most `limit` bytes. Returns 0, -EMSGSIZE
 * when the record could never fit an empty payload of `limit` bytes, -ENOSPC when it does
 * not fit what is left (nothing written either way). */
int ferry_mux_append(struct ferry_buf *buf, uint32_t limit, uint8_t kind, const uint8_t *body,
		     size_t len);

/* Appends a DATAGRAM record (flow id, then len bytes). Returns as ferry_mux_append. */
int ferry_mux_append_datagram(struct ferry_buf *buf, uint32_t limit, uint32_t flow_id,
			      const uint8_t *data, size_t len);

/* Reads the record at *off of payload[0..len) into rec and advances *off past it.
 * Returns 1 for a record, 0 at the end of the payload, -EBADMSG when the record's header
 * or body runs past the end (*off is then left unchanged). */
int ferry_mux_next(const uint8_t *payload, size_t len, size_t *off, struct ferry_mux_record *rec);

/* Splits a DATAGRAM record's body into flow id and bytes. Returns 0 or -EBADMSG when the
 * body is shorter than the flow id. */
int ferry_mux_datagram(const struct ferry_mux_record *rec, uint32_t *flow_id, const uint8_t **data,
		       size_t *len);

/* Called with a run of consecutive whole segments of one conversation (lent). */
typedef void (*ferry_mux_run_fn)(void *ctx, uint32_t conv, const uint8_t *segs, size_t len);

/* Walks the KCP segments of an ARQ record body and calls fn once per run of consecutive
 * segments with the same conv. Returns the number of runs delivered, or -EBADMSG when a
 * segment is cut short or the body is empty (the runs before it were delivered). */
int ferry_mux_arq_split(const uint8_t *body, size_t len, ferry_mux_run_fn fn, void *ctx);

/* True when an ARQ datagram (whole segments) carries no PUSH segment: ACKs and window
 * traffic only, which the link sends ahead of bulk data. False for anything malformed. */
bool ferry_mux_arq_is_control(const uint8_t *segs, size_t len);

#endif
