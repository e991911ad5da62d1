/* SPDX-License-Identifier: MIT */
/*
 * Link acknowledgements: which data messages of a session arrived, told back to their
 * sender, whatever they carried.
 *
 * Theory of operation. Every data message the link seals has a packet number: its AEAD
 * counter, unique within a session and, because the link seals a message only as it
 * leaves (link_send.c), increasing in the order messages go on the wire. The receiver
 * notes each counter that authenticates (ferry_ack_received) in a bitmap of the last
 * FERRY_ACK_WINDOW counters below the largest, and now and then writes an ACK record
 * (ferry_ack_write): the session it refers to, the largest counter, how long the receiver
 * held it back, and up to FERRY_ACK_RANGES_MAX ranges of counters received, newest first
 * (layout in transport/wire.h and docs/wire-format.md). Each record repeats the newest
 * ranges, so a lost record costs nothing that a later one does not carry again.
 *
 * When: a record is due once FERRY_ACK_EVERY messages that ask for one arrived since the
 * last, at once when a counter arrives out of order (a hole is news for loss detection),
 * and otherwise FERRY_ACK_DELAY_MS after the first unacknowledged one. Messages that ask
 * for no record (those carrying nothing but ACK records) are noted but never make one
 * due, so two links never acknowledge each other's acknowledgements forever.
 *
 * The sender (transport/cc.h) turns records into delivery-rate and RTT samples and finds
 * losses. None of this retransmits anything: recovery stays the ARQ's and FEC's.
 *
 * Pure: counters and `now` (monotonic ms) in, bytes out. ferry_ack_parse checks every
 * field of an untrusted record.
 */
#ifndef FERRY_TRANSPORT_ACK_H
#define FERRY_TRANSPORT_ACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "transport/wire.h"

enum {
	FERRY_ACK_WINDOW = 2048,      /* counters below the largest the receiver remembers */
	FERRY_ACK_EVERY = 2,	      /* messages asking for an ACK before one is due */
	FERRY_ACK_DELAY_MS = 4,	      /* ... or this long after the first of them */
	FERRY_ACK_LOSS_WINDOW = 1000, /* counters per loss_pm sample */
};

/* One range of packet numbers received, lo <= hi. */
struct ferry_ack_range {
	uint64_t lo, hi;
};

/* A parsed ACK record. ranges[0] holds `largest`; ranges descend and never touch. */
struct ferry_ack {
	uint32_t session;  /* the receiver's local index of the session acknowledged */
	uint32_t delay_ms; /* how long the receiver held `largest` before acknowledging */
	uint64_t largest;
	uint32_t n;
	struct ferry_ack_range ranges[FERRY_ACK_RANGES_MAX];
};

/* The receiver's side. Zeroed is valid (nothing received). */
struct ferry_ack_tracker {
	uint64_t bits[FERRY_ACK_WINDOW / 64]; /* bit (pn % WINDOW): pn received, for pn in
						 (largest - WINDOW, largest] */
	uint64_t largest;
	uint64_t largest_ms; /* when largest arrived */
	uint64_t due_ms;     /* the delay timer: first unacknowledged eliciting message + delay */
	uint32_t session;
	uint32_t pending; /* eliciting messages since the last record */
	bool any;	  /* something of `session` arrived */
	bool hole;	  /* a counter arrived out of order since the last record */
	/* the loss on the way here, from the counters' gaps: what the peer's controller
	 * measures, seen from this end, for an end that sends too little to measure its own
	 * (kept across sessions) */
	uint32_t win_seen, win_gaps; /* counters arrived, and missing, in the current window */
	uint32_t loss_pm;	     /* of the last windows (FERRY_ACK_LOSS_WINDOW each) */
};

/* Notes counter pn of session (the receiving session's local index) at now; eliciting:
 * the message asks for an acknowledgement. A new session starts the tracker afresh. */
void ferry_ack_received(struct ferry_ack_tracker *t, uint32_t session, uint64_t pn, bool eliciting,
			uint64_t now);

/* Whether a record should go at now. */
bool ferry_ack_due(const struct ferry_ack_tracker *t, uint64_t now);

/* When a record falls due by the delay timer (UINT64_MAX: none pending). */
uint64_t ferry_ack_next_deadline(const struct ferry_ack_tracker *t);

/* Writes one ACK record body (FERRY_ACK_RECORD_MAX bytes at most) at out and restarts
 * the due counters. Returns its length, or 0 when nothing was received. */
size_t ferry_ack_write(struct ferry_ack_tracker *t, uint8_t *out, size_t cap, uint64_t now);

/* Parses an ACK record body. Returns 0 or -EBADMSG (wrong length, no range, a range
 * below counter 0, ranges that touch). */
int ferry_ack_parse(const uint8_t *body, size_t len, struct ferry_ack *ack);

#endif
