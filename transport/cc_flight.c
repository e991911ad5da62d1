// SPDX-License-Identifier: MIT
/*
 * The congestion controller's record of packets in flight (see cc.h): a ring indexed by
 * packet number, grown by doubling; what an ACK marks acknowledged; loss detection by the
 * packet threshold, the loss delay and the timer. The model in cc.c reads what it counts
 * (delivered, in flight, lost per round) and the packets' send-time snapshots.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "transport/cc_internal.h"

enum {
	SPURIOUS_LOOKBACK = 256, /* packets below the oldest in flight an ACK is still read for */
	TIMEOUT_SLACK_MS = 20,	 /* added to twice the loss delay before nothing-acked is lost:
				    a busy receiver's loop turn, a scheduler's hiccup */
};

static void lose(struct ferry_cc *cc, struct ferry_cc_pkt *p)
{
	p->state = PKT_LOST;
	cc->inflight -= p->bytes;
	cc->round_lost += p->bytes;
	cc->st.lost++;
}

/* Moves `oldest` past everything no longer in flight. */
static void advance_oldest(struct ferry_cc *cc)
{
	while (cc->oldest < cc->next_pn) {
		struct ferry_cc_pkt *p = slot(cc, cc->oldest);

		if (p && p->state == PKT_FLIGHT)
			break;
		cc->oldest++; /* its slot stays until reused: a late ACK still finds it */
	}
}

/* Forgets everything in flight (a new session: its counters start again). */
static void forget(struct ferry_cc *cc)
{
	memset(cc->ring, 0, sizeof(*cc->ring) * (cc->ring_mask + 1));
	cc->inflight = 0;
	cc->oldest = cc->next_pn = 0;
	cc->largest_acked = 0;
	cc->any_acked = false;
}

static int grow(struct ferry_cc *cc)
{
	uint32_t size = (cc->ring_mask + 1) * 2;
	struct ferry_cc_pkt *ring;
	uint64_t pn;

	if (size > FERRY_CC_RING_MAX)
		return -ENOSPC;
	ring = calloc(size, sizeof(*ring));
	if (!ring)
		return -ENOMEM;
	for (pn = cc->oldest; pn < cc->next_pn; pn++) {
		struct ferry_cc_pkt *p = slot(cc, pn);

		if (p)
			ring[pn & (size - 1)] = *p;
	}
	free(cc->ring);
	cc->ring = ring;
	cc->ring_mask = size - 1;
	return 0;
}

void ferry_cc_on_sent(struct ferry_cc *cc, uint32_t session, uint64_t pn, uint32_t bytes,
		      enum ferry_cc_track track, uint64_t now)
{
	bool tracked = track != FERRY_CC_UNTRACKED;
	struct ferry_cc_pkt *p;

	if (!cc->have_session || session != cc->session || pn < cc->next_pn) {
		forget(cc);
		cc->session = session;
		cc->have_session = true;
		cc->oldest = pn;
	}
	if (!tracked) {
		if (cc->oldest == cc->next_pn)
			cc->oldest = pn + 1; /* nothing in flight below it */
		cc->next_pn = pn + 1;
		return;
	}
	while (pn - cc->oldest > cc->ring_mask) {
		if (grow(cc) == 0)
			continue;
		/* out of room: the oldest packet is given up for lost */
		p = slot(cc, cc->oldest);
		if (p && p->state == PKT_FLIGHT)
			lose(cc, p);
		if (p)
			p->state = PKT_FREE;
		cc->oldest++;
		advance_oldest(cc);
	}
	if (!cc->inflight) {
		/* after a pause, intervals start now, not when the last packet left */
		cc->first_sent_ms = now;
		cc->delivered_ms = now;
	}
	p = &cc->ring[pn & cc->ring_mask];
	*p = (struct ferry_cc_pkt){
	    .pn = pn,
	    .sent_ms = now,
	    .delivered = cc->delivered,
	    .delivered_ms = cc->delivered_ms,
	    .first_sent_ms = cc->first_sent_ms,
	    .bytes = bytes,
	    .state = PKT_FLIGHT,
	    .app_limited = cc->app_limited_until > cc->delivered,
	    .quiet = track == FERRY_CC_QUIET,
	};
	cc->inflight += bytes;
	cc->next_pn = pn + 1;
}

void ferry_cc_app_limited(struct ferry_cc *cc)
{
	/* until what is in flight now, and the packet about to leave, is acknowledged */
	if (cc->inflight < cc->cwnd)
		cc->app_limited_until = cc->delivered + cc->inflight + 1;
}

/* ------------------------------ acknowledgements -------------------------------- */

/* How long after a later packet's acknowledgement a packet counts as lost: 9/8 of the
 * smoothed RTT, but at least FERRY_ACK_DELAY_MS + 2 ms more than it (the receiver may hold
 * an ACK that long, and the clock ticks in milliseconds). */
static uint64_t loss_delay(const struct ferry_cc *cc)
{
	uint64_t srtt = cc->rtt_seen ? cc->srtt8 / 8 : 1000;

	return max64(srtt + srtt / 8, srtt + FERRY_ACK_DELAY_MS + 2);
}

void ferry_cc_detect_losses(struct ferry_cc *cc, uint64_t now)
{
	uint64_t pn, delay = loss_delay(cc);

	for (pn = cc->oldest; pn < cc->largest_acked; pn++) {
		struct ferry_cc_pkt *p = slot(cc, pn);

		if (!p || p->state != PKT_FLIGHT)
			continue;
		if (pn + FERRY_CC_REORDER <= cc->largest_acked || now - p->sent_ms >= delay)
			lose(cc, p);
	}
	advance_oldest(cc);
}

struct ferry_cc_pkt *ferry_cc_flight_ack(struct ferry_cc *cc, const struct ferry_ack *ack)
{
	struct ferry_cc_pkt *newest = NULL;
	uint32_t i;

	for (i = 0; i < ack->n; i++) {
		/* what is done is skipped, but for the last SPURIOUS_LOOKBACK packets: an ACK
		 * of one declared lost shows reordering */
		uint64_t ring_lo = cc->next_pn > cc->ring_mask ? cc->next_pn - cc->ring_mask : 0;
		uint64_t from = cc->oldest > SPURIOUS_LOOKBACK ? cc->oldest - SPURIOUS_LOOKBACK : 0;
		uint64_t lo = max64(ack->ranges[i].lo, max64(ring_lo, from)),
			 hi = ack->ranges[i].hi;
		uint64_t pn;

		for (pn = lo; pn <= hi && hi >= lo; pn++) {
			struct ferry_cc_pkt *p = slot(cc, pn);

			if (!p || p->state == PKT_ACKED)
				continue;
			if (p->state == PKT_LOST) {
				cc->st.spurious++;
				p->state = PKT_ACKED;
				continue;
			}
			p->state = PKT_ACKED;
			cc->inflight -= p->bytes;
			cc->delivered += p->bytes;
			cc->round_acked += p->bytes;
			cc->st.acked++;
			if (!newest || p->pn > newest->pn)
				newest = p;
		}
	}
	return newest;
}

bool ferry_cc_flight_timeout(struct ferry_cc *cc, uint64_t now)
{
	uint64_t timeout = 2 * loss_delay(cc) + TIMEOUT_SLACK_MS;
	uint64_t pn;
	bool any = false;

	for (pn = cc->oldest; pn < cc->next_pn; pn++) {
		struct ferry_cc_pkt *p = slot(cc, pn);

		if (!p || p->state != PKT_FLIGHT)
			continue;
		if (now - p->sent_ms < timeout)
			break; /* later ones left later still */
		any = true;
		if (!p->quiet) {
			lose(cc, p);
			continue;
		}
		/* nothing asked for its acknowledgement: not a loss, just out of flight */
		p->state = PKT_FREE;
		cc->inflight -= p->bytes;
	}
	if (any)
		advance_oldest(cc);
	return any;
}

uint64_t ferry_cc_next_deadline(const struct ferry_cc *cc)
{
	const struct ferry_cc_pkt *p;

	if (!cc->inflight)
		return UINT64_MAX;
	p = slot(cc, cc->oldest);
	if (!p || p->state != PKT_FLIGHT)
		return UINT64_MAX; /* advance_oldest keeps it in flight whenever one is */
	return p->sent_ms + 2 * loss_delay(cc) + TIMEOUT_SLACK_MS;
}
