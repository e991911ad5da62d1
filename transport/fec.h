/* SPDX-License-Identifier: MIT */
/*
 * Reed-Solomon forward error correction of the datagram stream (ISA-L, Cauchy code).
 *
 * Theory of operation. The sender groups consecutive datagrams into groups of up to D data
 * shards and adds P parity shards per group; the receiver restores any <= P lost shards of
 * a group. Each shard is one datagram of the layer below (AEAD), so the FEC header sits
 * inside the encryption. docs/fec.md describes the wire format byte by byte.
 *
 * - A data shard is sent at once (no added latency): FEC header, then the coded region
 *   `len u16 | payload[len]`. The 2-byte length is inside the coded region so recovery
 *   restores it. Shards of one group are implicitly zero-padded to the group's longest
 *   coded region; the padding is never sent.
 * - Parity is accumulated shard by shard (ec_encode_data_update) before the data shard is
 *   handed down, so the encoder keeps no copy of the data and the callee may encrypt the
 *   shard in place. When D shards are in, or the group timer fires with k < D shards in,
 *   P parity shards are emitted. A short group uses the first k columns of the (D,P)
 *   Cauchy code — the same as zero data shards k..D-1 — and its parity headers carry k.
 * - The decoder needs no configuration: D, P (and k) come from each group's headers, the
 *   first shard of a group fixes them and later disagreement is dropped and counted.
 *   Data shards are delivered on arrival (order is the ARQ's business); once a group holds
 *   k of its k+P shards, missing data shards are rebuilt and delivered. Every data shard
 *   is delivered at most once.
 * - Memory is fixed at init: the encoder owns P parity buffers; the decoder owns a
 *   direct-mapped table of groups (by group id modulo its size, a newer group evicting an
 *   older one) and a shared pool of shard slots; when slots run out the oldest group is
 *   evicted. Nothing is allocated per packet.
 *
 * Neither side does I/O or reads a clock: shards leave through callbacks, time comes in
 * as `now` (milliseconds, monotonic). Callbacks must not call back into the encoder or
 * decoder that invoked them (its state is mid-update and its buffers are lent out).
 */
#ifndef FERRY_TRANSPORT_FEC_H
#define FERRY_TRANSPORT_FEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "transport/pool.h"
#include "transport/wire.h"

/* Limits. D + P <= 96 keeps every Cauchy row index below 256. */
enum {
	FERRY_FEC_MAX_DATA = 64,
	FERRY_FEC_MAX_PARITY = 32,
	FERRY_FEC_MAX_SHARDS = FERRY_FEC_MAX_DATA + FERRY_FEC_MAX_PARITY,
	FERRY_FEC_MAX_PAYLOAD = 65535 - FERRY_FEC_LEN_PREFIX, /* the u16 length prefix */
	FERRY_FEC_MIN_CODED = 64,	     /* ISA-L vector length floor; shorter regions are
					      * zero-extended internally, never on the wire */
	FERRY_FEC_FLUSH_MS_DEFAULT = 5,	     /* group timer: a group is closed this long after its
					      * first shard even if not full */
	FERRY_FEC_DEC_GROUPS_DEFAULT = 64,   /* decoder groups in flight (power of two) */
	FERRY_FEC_DEC_SLOTS_DEFAULT = 1024,  /* decoder shard slots shared by all groups */
	FERRY_FEC_DEC_CACHE = 16,	     /* decode tables cached per loss pattern */
	FERRY_FEC_DEC_CACHE_COEFS = 128,     /* k * missing cap of a cached entry */
	FERRY_FEC_DEC_MAX_SLOTS = 65535 - 1, /* slot indices are u16, 0xffff = none */
};

/* Hands one shard down. `shard->data` points at the FEC header and `shard->len` covers
 * header and coded region; headroom in front and tailroom behind belong to the callee (the
 * headers and tag below: at least cfg.headroom/tailroom for parity, whatever the caller's
 * buffer has for data). The buffer is lent for the duration of the call only: the callee
 * may rewrite it in place (encrypt) but must not keep it. */
typedef void (*ferry_fec_emit_fn)(void *ctx, struct ferry_buf *shard);

/* Hands one recovered or received payload up, lent for the duration of the call. */
typedef void (*ferry_fec_deliver_fn)(void *ctx, const uint8_t *payload, size_t len);

struct ferry_fec_encoder_config {
	uint8_t data_shards;   /* D, 1..FERRY_FEC_MAX_DATA */
	uint8_t parity_shards; /* P, 0..FERRY_FEC_MAX_PARITY; 0 = headers only, no parity */
	uint16_t max_payload;  /* largest payload accepted, <= FERRY_FEC_MAX_PAYLOAD */
	uint32_t headroom;     /* bytes kept free in front of each parity shard */
	uint32_t tailroom;     /* bytes kept free after the largest parity shard (AEAD tag) */
	uint32_t flush_ms;     /* group timer; 0 = FERRY_FEC_FLUSH_MS_DEFAULT */
	uint32_t first_group;  /* id of the first group (tests use it to exercise wrap) */
	ferry_fec_emit_fn emit;
	void *ctx;
};

struct ferry_fec_encoder_stats {
	uint64_t data_out;     /* data shards emitted */
	uint64_t parity_out;   /* parity shards emitted */
	uint64_t groups;       /* groups closed with parity */
	uint64_t groups_short; /* of which closed by the timer with k < D */
	uint64_t rejected;     /* payloads refused (too long, headroom too small) */
};

struct ferry_fec_encoder {
	struct ferry_fec_encoder_config cfg;
	uint8_t *tables;     /* 32 * D * P: ISA-L tables of the (D,P) code */
	bool has_avx;	     /* clear the upper vector state after ISA-L (fec.c) */
	uint8_t *parity_mem; /* P * (headroom + 8 + coded capacity + tailroom) */
	struct ferry_buf parity[FERRY_FEC_MAX_PARITY]; /* views into parity_mem */
	uint8_t *parity_code[FERRY_FEC_MAX_PARITY];    /* coded region of each parity */
	uint8_t small[FERRY_FEC_MIN_CODED];	       /* zero-extends short regions */
	uint32_t capacity;			       /* coded bytes per parity buffer */
	uint32_t group;				       /* id of the open group */
	uint32_t count;				       /* data shards in the open group */
	uint32_t coded_len;			       /* longest coded region of the open group */
	uint32_t zeroed;			       /* parity bytes cleared for the open group */
	uint64_t opened;			       /* now of the open group's first shard */
	uint8_t send_full, send_tail;		       /* parity shards emitted of a full group
							  and of one the timer closes (<= P) */
	struct ferry_fec_encoder_stats stats;
};

/* Sets up an encoder. Returns 0, -EINVAL for a configuration outside the limits or without
 * an emit callback, -ENOMEM. */
int ferry_fec_encoder_init(struct ferry_fec_encoder *enc,
			   const struct ferry_fec_encoder_config *cfg);

/* Frees the encoder's memory. Safe on a zeroed or already destroyed encoder. */
void ferry_fec_encoder_destroy(struct ferry_fec_encoder *enc);

/* Sends buf's payload as a data shard: closes an expired group first, prepends the
 * FERRY_FEC_DATA_OVERHEAD bytes in place (buf->data and len then cover the shard), feeds
 * the parity, emits the shard, and emits the group's parity if the group is now full. buf
 * stays the caller's. Returns 0, -EMSGSIZE if the payload exceeds max_payload, -ENOBUFS
 * if buf has less headroom than FERRY_FEC_DATA_OVERHEAD (both counted, nothing sent). */
int ferry_fec_encode(struct ferry_fec_encoder *enc, struct ferry_buf *buf, uint64_t now);

/* When the open group's timer fires, UINT64_MAX if there is none. */
uint64_t ferry_fec_encoder_next_deadline(const struct ferry_fec_encoder *enc);

/* Closes the open group (emits its parity over the k shards it has) if its timer has
 * fired at `now`. Returns 1 if it closed a group, 0 otherwise. */
int ferry_fec_encoder_timeout(struct ferry_fec_encoder *enc, uint64_t now);

/* How many of its P parity shards a group sends: `full` for a group of D data shards,
 * `tail` for one the timer closes short (the end of a burst: a loss there would cost a
 * round trip). Both are clamped to P and start at P. Each shard's header still says P, so
 * a receiver sees unsent parity as parity lost and rebuilds from what it has; the code's
 * rows do not depend on how many of them are sent. */
void ferry_fec_encoder_set_send(struct ferry_fec_encoder *enc, uint8_t full, uint8_t tail);

/* Closes the open group now regardless of its timer. Returns 1 if a group was closed. */
int ferry_fec_encoder_flush(struct ferry_fec_encoder *enc);

struct ferry_fec_decoder_stats {
	uint64_t data_in;      /* well-formed data shards received */
	uint64_t parity_in;    /* well-formed parity shards received */
	uint64_t delivered;    /* payloads handed up (received or recovered) */
	uint64_t recovered;    /* data shards rebuilt from parity */
	uint64_t unrecovered;  /* groups dropped with data known or presumed missing */
	uint64_t duplicates;   /* shards already held or already delivered */
	uint64_t malformed;    /* shards failing the header checks */
	uint64_t mismatched;   /* shards disagreeing with their group's D/P/k/length */
	uint64_t stale;	       /* shards of a group older than the one in its table entry */
	uint64_t evicted;      /* groups pushed out while still incomplete */
	uint64_t no_slot;      /* shards not stored because no slot could be freed */
	uint64_t bad_recovery; /* rebuilt shards with an impossible length (dropped) */
	uint64_t cache_hits;   /* decodes that reused cached tables */
	uint64_t cache_misses; /* decodes that inverted a matrix */
};

struct ferry_fec_group; /* decoder state of one group, fec.c */
struct ferry_fec_dec_cache_entry;

struct ferry_fec_decoder {
	ferry_fec_deliver_fn deliver;
	void *ctx;
	uint32_t max_coded; /* longest coded region accepted (max payload + 2) */
	bool has_avx;	    /* clear the upper vector state after ISA-L (fec.c) */
	uint32_t slot_size; /* bytes per slot: max(max_coded, FERRY_FEC_MIN_CODED) */
	uint32_t ngroups;   /* table size, power of two */
	uint32_t nslots;
	uint32_t nfree;	 /* slots on the free stack */
	uint32_t newest; /* newest group id seen (valid when seen_any) */
	int seen_any;
	uint32_t cache_next; /* round-robin replacement */
	struct ferry_fec_group *groups;
	uint8_t *slots;	      /* nslots * slot_size */
	uint16_t *free_slots; /* stack of free slot indices */
	uint8_t *out;	      /* FERRY_FEC_MAX_PARITY * slot_size: rebuilt shards */
	uint8_t *tables;      /* 32 * MAX_DATA * MAX_PARITY: uncached decode tables */
	struct ferry_fec_dec_cache_entry *cache;
	struct ferry_fec_decoder_stats stats;
};

/* Sets up a decoder accepting payloads up to max_payload bytes, tracking `groups` groups
 * (rounded up to a power of two; 0 = default) with `slots` shard slots (0 = default).
 * Returns 0, -EINVAL (no callback, sizes out of range), -ENOMEM. */
int ferry_fec_decoder_init(struct ferry_fec_decoder *dec, uint16_t max_payload, uint32_t groups,
			   uint32_t slots, ferry_fec_deliver_fn deliver, void *ctx);

/* Frees the decoder's memory. Safe on a zeroed or already destroyed decoder. */
void ferry_fec_decoder_destroy(struct ferry_fec_decoder *dec);

/* Forgets every group (a restarted peer numbers its groups from the start again): stored
 * shards are released, incomplete groups counted as evicted/unrecovered like any other
 * abandoned group. Memory, decode table cache and statistics are kept. */
void ferry_fec_decoder_reset(struct ferry_fec_decoder *dec);

/* Takes one received shard (FEC header first), delivers its payload if new and any data
 * shards it makes recoverable. Returns 0 (also for duplicates and stale shards, which are
 * counted), -EBADMSG for a malformed shard, -EPROTO for one contradicting its group, both
 * counted and dropped. */
int ferry_fec_decode(struct ferry_fec_decoder *dec, const uint8_t *shard, size_t len);

/* One shard's FEC header as parsed. */
struct ferry_fec_header {
	uint32_t group;
	uint8_t index, d, p, k;
	uint16_t coded_len; /* coded region bytes (data: 2 + payload length) */
};

/* Checks a shard's FEC header and lengths without any state (coded region at most
 * max_coded bytes). Returns 0 and fills hdr, or -EBADMSG. */
int ferry_fec_parse_header(const uint8_t *shard, size_t len, uint32_t max_coded,
			   struct ferry_fec_header *hdr);

#endif
