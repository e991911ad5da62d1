/* SPDX-License-Identifier: MIT */
/*
 * The congestion controller's internals, shared by cc.c (the model: its filters, the state
 * machine, the outputs, and the ACK's samples) and cc_flight.c (the record of packets in
 * flight: the ring, what an ACK marks, loss detection, the timer); not an API. See cc.h
 * for how it works.
 */
#ifndef FERRY_TRANSPORT_CC_INTERNAL_H
#define FERRY_TRANSPORT_CC_INTERNAL_H

#include "transport/cc.h"

enum {
	PKT_FREE = 0, /* never sent, untracked, or forgotten */
	PKT_FLIGHT = 1,
	PKT_ACKED = 2,
	PKT_LOST = 3,
};

struct ferry_cc_pkt {
	uint64_t pn;
	uint64_t sent_ms;
	uint64_t delivered;	/* cc->delivered when it left */
	uint64_t delivered_ms;	/* cc->delivered_ms when it left */
	uint64_t first_sent_ms; /* cc->first_sent_ms when it left */
	uint32_t bytes;
	uint8_t state;
	bool app_limited;
	bool quiet; /* asks for no acknowledgement: unacknowledged in time is not lost */
};

static inline uint64_t min64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static inline uint64_t max64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

static inline struct ferry_cc_pkt *slot(const struct ferry_cc *cc, uint64_t pn)
{
	struct ferry_cc_pkt *p = &cc->ring[pn & cc->ring_mask];

	return p->state != PKT_FREE && p->pn == pn ? p : NULL;
}

/* cc_flight.c: marks what the ACK acknowledges (counting it delivered, or spurious if it
 * was declared lost) and returns the newest packet it newly acknowledged, NULL if none. */
struct ferry_cc_pkt *ferry_cc_flight_ack(struct ferry_cc *cc, const struct ferry_ack *ack);

/* cc_flight.c: declares lost what a later packet's acknowledgement shows missing. */
void ferry_cc_detect_losses(struct ferry_cc *cc, uint64_t now);

/* cc_flight.c: takes out of flight what nothing acknowledged in time: lost, or out of
 * flight without being lost if it asked for no acknowledgement. Whether any was. */
bool ferry_cc_flight_timeout(struct ferry_cc *cc, uint64_t now);

#endif
