/* SPDX-License-Identifier: MIT */
/*
 * Send pacing: a token bucket over outgoing bytes with two priority queues.
 *
 * Theory of operation. Tokens accrue at `rate` bytes per second up to `burst` bytes; a
 * datagram of n bytes leaves only when n tokens are there, and takes them. So over any
 * interval of t milliseconds at most burst + rate * t / 1000 bytes leave — the configured
 * rate is never exceeded, in bursts or otherwise (tests/test_pacer.c checks every window).
 * One exception: while datagrams wait in a queue (not held), the bucket keeps up to
 * FERRY_PACER_CATCHUP_MS at the rate, if that is more than the burst. A loop that wakes
 * every millisecond spends its tokens as they come and never reaches that; one whose turn
 * ran long (ten thousand flows) finds what accrued meanwhile instead of losing all but a
 * burst of it, which made the pacer send below its rate and a controller measuring what
 * left settle there (docs/soak.md).
 * Tokens are kept in milli-bytes: with a rate in bytes/s, one millisecond adds exactly
 * `rate` milli-bytes, so no rounding drift accumulates.
 *
 * Two classes: HIGH (handshake, datagram channel, ACK-only ARQ traffic) and LOW (bulk ARQ
 * data). A HIGH datagram never waits behind a LOW one; within a class order is FIFO.
 * Each queue holds at most its limit of datagrams; the caller drops (and counts) what
 * does not fit. A rate of 0 means unlimited: everything may go at once.
 *
 * The pacer owns the buffers queued in it (linked through buf->next) until they are
 * dequeued; it never allocates, reads no clock (`now` in ms comes in) and does no I/O.
 */
#ifndef FERRY_TRANSPORT_PACER_H
#define FERRY_TRANSPORT_PACER_H

#include <stdbool.h>
#include <stdint.h>

#include "transport/pool.h"

enum ferry_pacer_class {
	FERRY_PACER_HIGH = 0,
	FERRY_PACER_LOW = 1,
	FERRY_PACER_CLASSES = 2,
};

enum {
	FERRY_PACER_QUEUE_DEFAULT = 256, /* datagrams per class */
	FERRY_PACER_BURST_MS = 10,	 /* default burst: this many ms at the rate */
	FERRY_PACER_CATCHUP_MS = 10,	 /* a late turn's tokens kept while datagrams wait */
};

struct ferry_pacer_config {
	uint64_t rate;	      /* bytes per second; 0 = unlimited */
	uint32_t burst;	      /* bytes; 0 = FERRY_PACER_BURST_MS worth (at least min_burst) */
	uint32_t min_burst;   /* floor of burst: the largest datagram, plus grow (else it could
				 never go) */
	uint32_t queue_limit; /* datagrams per class; 0 = FERRY_PACER_QUEUE_DEFAULT */
	uint32_t grow;	      /* bytes a queued datagram still grows by before it is on the
				 wire (the link seals as it dequeues): charged with it */
};

struct ferry_pacer_stats {
	uint64_t sent;	 /* datagrams admitted (at once or from a queue) */
	uint64_t bytes;	 /* their bytes */
	uint64_t queued; /* datagrams that had to wait */
	uint64_t full;	 /* refused: queue at its limit */
	uint32_t depth[FERRY_PACER_CLASSES];
	uint32_t high_depth; /* deepest queue seen */
};

struct ferry_pacer_queue {
	struct ferry_buf *head, *tail;
	uint32_t count;
};

struct ferry_pacer {
	uint64_t rate;
	uint64_t cap_mb;    /* burst in milli-bytes */
	uint64_t tokens_mb; /* milli-bytes available */
	uint64_t last_ms;   /* when tokens were last refilled */
	uint32_t queue_limit;
	uint32_t grow;
	struct ferry_pacer_queue q[FERRY_PACER_CLASSES];
	bool held[FERRY_PACER_CLASSES];
	struct ferry_pacer_stats stats;
};

/* Sets up the pacer with a full bucket at now. Returns 0 or -EINVAL (burst < min_burst
 * when both are given, or a rate so high that a second's tokens overflow). */
int ferry_pacer_init(struct ferry_pacer *pacer, const struct ferry_pacer_config *cfg, uint64_t now);

/* Changes rate and burst at now, keeping the queues. Returns as ferry_pacer_init. */
int ferry_pacer_set_rate(struct ferry_pacer *pacer, const struct ferry_pacer_config *cfg,
			 uint64_t now);

/* May a datagram of len bytes of class cls leave now, ahead of nothing queued? If so, its
 * tokens are taken and true is returned; otherwise the caller enqueues or drops it. */
bool ferry_pacer_admit(struct ferry_pacer *pacer, enum ferry_pacer_class cls, uint32_t len,
		       uint64_t now);

/* Queues buf (its payload is the datagram, charged with cfg.grow more bytes) in class cls. Returns
 * 0 or -ENOBUFS when the queue is at its limit (counted; buf stays the caller's). */
int ferry_pacer_enqueue(struct ferry_pacer *pacer, enum ferry_pacer_class cls,
			struct ferry_buf *buf);

/* The next queued datagram allowed to leave at now (HIGH first), its tokens taken, or
 * NULL. The buffer becomes the caller's. */
struct ferry_buf *ferry_pacer_dequeue(struct ferry_pacer *pacer, uint64_t now);

/* When the head of the queues may leave: <= now if one may now, UINT64_MAX when both
 * queues are empty. Changes nothing. */
uint64_t ferry_pacer_next_deadline(const struct ferry_pacer *pacer, uint64_t now);

/* Holds class cls back (its queue keeps filling, nothing of it leaves, admit refuses it)
 * or lets it go again: the link holds LOW while the congestion window is full. */
void ferry_pacer_hold(struct ferry_pacer *pacer, enum ferry_pacer_class cls, bool held);

/* Datagrams queued in cls. */
uint32_t ferry_pacer_depth(const struct ferry_pacer *pacer, enum ferry_pacer_class cls);

/* Takes every queued buffer out (HIGH then LOW, linked through next) and returns the
 * chain for the caller to free. */
struct ferry_buf *ferry_pacer_drain(struct ferry_pacer *pacer);

#endif
