// SPDX-License-Identifier: MIT
/*
 * The link's congestion controller: its model, state machine and outputs (the record of
 * packets in flight is cc_flight.c's). See cc.h for the theory of operation; the facts it
 * rests on (delivery-rate samples, the gain cycle, STARTUP's exit, PROBE_RTT) are BBR's
 * as Linux's tcp_bbr.c and draft-ietf-ccwg-bbr describe them; the treatment of random
 * loss and the congestion signals are ferry's own.
 *
 * Units: bytes, bytes per second, milliseconds; gains in 1/1000.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "transport/cc_internal.h"

enum {
	GAIN_UNIT = 1000,
	GAIN_STARTUP = 2885, /* 2 / ln 2: doubles the delivery rate each round */
	GAIN_DRAIN = 347,    /* 1 / 2.885 */
	GAIN_UP = 1250,
	GAIN_DOWN = 750,
	GAIN_CWND = 2000,	 /* the window outside PROBE_BW's phases */
	GAIN_CWND_UP = 1250,	 /* the probe: the queue it may build, a quarter of a BDP */
	GAIN_CWND_DOWN = 1000,	 /* the drain: nothing more until the flight is one BDP */
	GAIN_CWND_CRUISE = 1100, /* cruising: a tenth of a BDP for ACKs that come late */
	CYCLE_PHASES = 8,
	DRAIN_PHASES_MAX = 3, /* round trips the 0.75 phase lasts at most */
	CRUISE_SKIP_MAX = 5,  /* cruise phases a cycle may skip, at random */
	QUEUE_SLACK_MS = 5,   /* above 1.25 x min RTT before a round's RTTs mean a queue: the
				 clock's millisecond, a busy peer's loop turn */
};

static uint64_t rng_next(struct ferry_cc *cc)
{
	uint64_t x = cc->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	cc->rng = x;
	return x * UINT64_C(2685821657736338717);
}

/* ------------------------------ the model's outputs -------------------------------- */

static uint64_t max_bw(const struct ferry_cc *cc)
{
	uint64_t bw = 0;
	int i;

	for (i = 0; i < FERRY_CC_BW_ROUNDS; i++)
		bw = max64(bw, cc->bw_round[i]);
	return bw;
}

/* The bandwidth the sender works with: the filter's, bounded after congestion. */
static uint64_t eff_bw(const struct ferry_cc *cc)
{
	uint64_t bw = max_bw(cc);

	return cc->bw_lo ? min64(bw, cc->bw_lo) : bw;
}

/* bytes/s sent to have bw delivered through the random loss; none while a queue stands
 * (then what is lost may be our own overflow, and compensating it would feed it) */
static uint64_t through_loss(const struct ferry_cc *cc, uint64_t bw)
{
	uint32_t loss = cc->loss_pm < FERRY_CC_LOSS_MAX_PM ? cc->loss_pm : FERRY_CC_LOSS_MAX_PM;

	if (cc->queue_seen)
		return bw;
	return bw * 1000 / (1000 - loss);
}

/* How long the receiver holds an acknowledgement at rate bw: until FERRY_ACK_EVERY
 * messages came, FERRY_ACK_DELAY_MS at most. That much more is in flight before any
 * acknowledgement can come back; counting the whole FERRY_ACK_DELAY_MS at 100 Mbit/s would
 * keep 4 ms of queue standing. */
static uint64_t ack_wait_ms(const struct ferry_cc *cc, uint64_t bw)
{
	uint64_t ms = bw ? (uint64_t)FERRY_ACK_EVERY * cc->cfg.mss * 1000 / bw : FERRY_ACK_DELAY_MS;

	return min64(ms, FERRY_ACK_DELAY_MS);
}

static uint64_t bdp(const struct ferry_cc *cc, uint64_t bw)
{
	uint64_t lbw = through_loss(cc, bw);

	return lbw * (max64(cc->min_rtt, 1) + ack_wait_ms(cc, bw)) / 1000;
}

static uint32_t pacing_gain(const struct ferry_cc *cc)
{
	switch (cc->state) {
	case FERRY_CC_STARTUP:
		return GAIN_STARTUP;
	case FERRY_CC_DRAIN:
		return GAIN_DRAIN;
	case FERRY_CC_PROBE_BW:
		return cc->cycle == 0 ? GAIN_UP : cc->cycle == 1 ? GAIN_DOWN : GAIN_UNIT;
	case FERRY_CC_PROBE_RTT:
		break;
	}
	return GAIN_UNIT;
}

/* The window's gain. In PROBE_BW it follows the phase, as BBRv3's inflight bounds do. An
 * estimate a few percent high (100 to 103 Mbit/s through the emulator's 100 Mbit/s, which
 * also carries the Ethernet headers) paced at 1 grows a queue each cruising round; a
 * window of two BDPs let it stand and the probe started from it: 15 to 20 ms of queue
 * after each probe, a 64-byte request beside a bulk flow at 1.41 to 1.60 x RTT at its
 * 99th percentile. With the window at 1.1 BDP when cruising and 1.25 when probing, the
 * queue stays within what the probe alone builds; bounding the probe and the drain but
 * cruising at 2 left the p99 at 1.40 (docs/congestion.md, the probing cycle). */
static uint32_t cwnd_gain(const struct ferry_cc *cc)
{
	if (cc->state != FERRY_CC_PROBE_BW)
		return GAIN_CWND;
	return cc->cycle == 0 ? GAIN_CWND_UP : cc->cycle == 1 ? GAIN_CWND_DOWN : GAIN_CWND_CRUISE;
}

static void set_outputs(struct ferry_cc *cc)
{
	uint64_t mss = cc->cfg.mss, bw = eff_bw(cc), rate, cwnd;

	if (cc->cfg.mode != FERRY_CC_BBR) {
		rate = cc->cfg.mode == FERRY_CC_FIXED ? cc->cfg.rate : 0;
		if (cc->cfg.max_rate && (!rate || rate > cc->cfg.max_rate))
			rate = cc->cfg.max_rate;
		cc->pacing_rate = rate;
		cc->cwnd = UINT64_MAX;
		return;
	}
	if (!bw) {
		/* no sample yet: the initial window, paced over the assumed RTT */
		rate = (uint64_t)GAIN_STARTUP * FERRY_CC_INIT_CWND * mss / FERRY_CC_INIT_RTT_MS;
		cwnd = FERRY_CC_INIT_CWND * mss;
	} else {
		rate = through_loss(cc, bw) * pacing_gain(cc) / GAIN_UNIT;
		if (cc->state == FERRY_CC_PROBE_RTT)
			cwnd = bdp(cc, bw) / 2;
		else if (cc->state == FERRY_CC_STARTUP)
			cwnd =
			    max64(bdp(cc, bw) * GAIN_STARTUP / GAIN_UNIT, FERRY_CC_INIT_CWND * mss);
		else
			cwnd = bdp(cc, bw) * cwnd_gain(cc) / GAIN_UNIT +
			       max64(cc->extra_acked[0], cc->extra_acked[1]) + 3 * mss;
	}
	/* STARTUP never slows down: a first estimate drawn from a trickle (a handshake, a few
	 * small messages) must not hold back the transfer that follows */
	if (cc->state == FERRY_CC_STARTUP)
		rate = max64(rate, cc->pacing_rate);
	rate = max64(rate, FERRY_CC_MIN_RATE);
	if (cc->cfg.max_rate && rate > cc->cfg.max_rate)
		rate = cc->cfg.max_rate;
	cc->pacing_rate = rate;
	cc->cwnd = max64(cwnd, FERRY_CC_MIN_CWND * mss);
}

/* ------------------------------ the state machine -------------------------------- */

static void enter_probe_bw(struct ferry_cc *cc, uint64_t now)
{
	cc->state = FERRY_CC_PROBE_BW;
	/* any phase but the drain: links sharing a bottleneck then probe out of step */
	cc->cycle = 2 + (uint32_t)(rng_next(cc) % (CYCLE_PHASES - 2));
	cc->cycle_stamp = now;
}

static void advance_cycle(struct ferry_cc *cc, uint64_t now)
{
	uint64_t phase_ms = max64(cc->min_rtt, 1);
	bool next = now - cc->cycle_stamp >= phase_ms;

	/* the drain phase lasts until the queue is gone, not a fixed time (a queue left
	 * behind would stand through the whole cycle), but never more than DRAIN_PHASES_MAX
	 * round trips: a receiver acknowledging late keeps more in flight than the model says */
	if (cc->cycle == 1)
		next = cc->inflight <= bdp(cc, eff_bw(cc)) ||
		       now - cc->cycle_stamp >= DRAIN_PHASES_MAX * phase_ms;
	if (!next)
		return;
	cc->cycle = (cc->cycle + 1) % CYCLE_PHASES;
	cc->cycle_stamp = now;
	/* cruise a random two to six phases after a drain: links that drained together (one
	 * congested round seen by all) would otherwise probe in step forever, each growing by
	 * the same factor, and keep whatever unequal shares they had */
	if (cc->cycle == 2)
		cc->cycle += (uint32_t)(rng_next(cc) % CRUISE_SKIP_MAX);
	/* the probe's packets are acknowledged a round trip after it: once that shows 15% more,
	 * there may be more still, so probe again at once rather than cruise on (a capacity
	 * rise is found at 25% per two or three phases, not per eight) */
	if (cc->cycle >= 2 && max_bw(cc) >= cc->probe_start_bw + cc->probe_start_bw * 15 / 100)
		cc->cycle = 0;
	if (cc->cycle == 0) {
		cc->bw_lo = 0; /* probing: see whether the bound still holds */
		cc->queue_drained = false;
		cc->probe_start_bw = max_bw(cc);
	}
}

/* Enters the drain phase of the cycle now. */
static void drain_now(struct ferry_cc *cc, uint64_t now)
{
	cc->cycle = 1;
	cc->cycle_stamp = now;
}

/* A round in PROBE_BW that lost more than the random loss explains, or queued on our way:
 * stop probing, drain, bound the bandwidth used by what the round delivered. One signal
 * alone takes at most half off per round (rounds in a row compound); both at once (a
 * queue stood through the round and overflowed) mean the bottleneck was busy all round,
 * so what it delivered is its rate for us, taken as it is: a capacity drop is then
 * followed in one round, not three, however far it fell. */
static void on_congestion(struct ferry_cc *cc, uint64_t round_rate, bool busy, uint64_t now)
{
	cc->st.congested_rounds++;
	cc->bw_lo = busy ? max64(round_rate, FERRY_CC_MIN_RATE) : max64(round_rate, eff_bw(cc) / 2);
	drain_now(cc, now);
}

/* A round in PROBE_BW whose every RTT sample stood above the minimum while the peer sent
 * much back: the queue is likely on the ACKs' way back, behind the peer's own traffic,
 * where no rate of ours drains it; so it costs one drain phase per cycle at most and never
 * lowers the bandwidth used. */
static void on_queue(struct ferry_cc *cc, uint64_t now)
{
	cc->st.queue_rounds++;
	if (cc->cycle >= 2 && !cc->queue_drained) {
		cc->queue_drained = true;
		drain_now(cc, now);
	}
}

/* The random loss: the mean of the last rounds' loss without their highest (one
 * congested round among them does not move it much, and the mean does not sit below
 * the truth the way a minimum does). */
static uint32_t loss_base(const struct ferry_cc *cc)
{
	uint32_t i, n = cc->loss_n < FERRY_CC_LOSS_ROUNDS ? cc->loss_n : FERRY_CC_LOSS_ROUNDS;
	uint32_t sum = 0, top = 0;

	for (i = 0; i < n; i++) {
		sum += cc->loss_hist[i];
		if (cc->loss_hist[i] > top)
			top = cc->loss_hist[i];
	}
	if (n < 2)
		return n ? sum : 0;
	return (sum - top) / (n - 1);
}

/* How far above the random loss a round of `pkts` packets must be to mean congestion:
 * FERRY_CC_LOSS_THRESH_PM, or three standard deviations of the random loss over that many
 * packets when that is more (at 10% loss and 450 packets a round, 4.2%). */
static uint32_t loss_margin(uint32_t base_pm, uint64_t pkts)
{
	double p = base_pm / 1000.0, sd = pkts ? sqrt(p * (1 - p) / (double)pkts) * 1000 : 0;
	uint32_t m = (uint32_t)(3 * sd);

	return m > FERRY_CC_LOSS_THRESH_PM ? m : FERRY_CC_LOSS_THRESH_PM;
}

/* The round that just ended: its loss, the congestion signals, STARTUP's exit. */
static void round_end(struct ferry_cc *cc, bool app_limited, uint64_t now)
{
	uint64_t sent = cc->round_lost + cc->round_acked, mss = cc->cfg.mss;
	uint64_t span = now - cc->round_start_ms;
	uint64_t rate = span ? (cc->delivered - cc->round_start_delivered) * 1000 / span : 0;
	bool congested = false, queue = false;

	if (sent >= 16 * mss) {
		uint32_t pm = (uint32_t)(cc->round_lost * 1000 / sent);
		uint32_t base = cc->loss_pm;

		if (cc->loss_n && pm > base + loss_margin(base, sent / mss) &&
		    cc->round_lost >= 3 * mss)
			congested = true;
		cc->loss_hist[cc->loss_n++ % FERRY_CC_LOSS_ROUNDS] = (uint16_t)pm;
		cc->loss_pm = loss_base(cc);
	}
	if (cc->rtt_seen && cc->round_min_rtt != UINT32_MAX &&
	    cc->round_min_rtt > cc->min_rtt + cc->min_rtt / 4 + QUEUE_SLACK_MS)
		queue = true;
	cc->queue_seen = queue;
	cc->st.rounds++;
	if (cc->state == FERRY_CC_STARTUP) {
		uint64_t bw = max_bw(cc);

		/* the pipe is full when the bandwidth stopped growing by a quarter: for three
		 * rounds that were not app-limited, or for one when a queue already stands
		 * (every RTT of the round above the minimum: more rounds would only overflow
		 * it), app-limited or not: a round whose senders stalled still shows the queue
		 * the rounds before it built. At random loss the flows' ARQ windows stall on
		 * their own losses, every round reads app-limited, and without this STARTUP ran
		 * on at 2.89 x for seconds, the bottleneck's queue full and a third of each
		 * round lost (test_link_congestion, 5% loss on seed 23) */
		if (bw >= cc->full_bw + cc->full_bw / 4) {
			cc->full_bw = bw;
			cc->full_bw_rounds = 0;
		} else if ((!app_limited && ++cc->full_bw_rounds >= 3) || (queue && cc->full_bw)) {
			cc->full_bw = max64(cc->full_bw, bw);
			cc->full_bw_reached = true;
			cc->state = FERRY_CC_DRAIN;
		}
	} else if (congested && cc->state == FERRY_CC_PROBE_BW) {
		on_congestion(cc, rate, queue && !app_limited, now);
	} else if (queue && cc->state == FERRY_CC_PROBE_BW) {
		/* is the queue on our way or on the ACKs' way back? The peer sending a quarter
		 * of our rate or more back makes the second likely */
		uint64_t back = span ? (cc->received - cc->round_start_received) * 1000 / span : 0;

		if (back * 4 < eff_bw(cc))
			on_congestion(cc, rate, false, now);
		else
			on_queue(cc, now);
	} else if (cc->state == FERRY_CC_PROBE_BW && !app_limited &&
		   cc->round - cc->app_limited_round <= FERRY_CC_BW_ROUNDS &&
		   max_bw(cc) < cc->full_bw / 2) {
		/* the estimate decayed while the link had little to send (ACKs only, say),
		 * and now the senders want more than it allows: find the pipe again rather
		 * than creep up 25% per probing cycle */
		cc->state = FERRY_CC_STARTUP;
		cc->full_bw = 0;
		cc->full_bw_rounds = 0;
		cc->st.restarts++;
	}
	if (app_limited) {
		cc->app_limited_round = cc->round;
		cc->st.app_limited_rounds++;
	}
	cc->round_lost = cc->round_acked = 0;
	cc->round_min_rtt = UINT32_MAX;
	cc->round_start_ms = now;
	cc->round_start_delivered = cc->delivered;
	cc->round_start_received = cc->received;
}

void ferry_cc_on_received(struct ferry_cc *cc, uint32_t bytes)
{
	cc->received += bytes;
}

static void update_state(struct ferry_cc *cc, uint64_t now)
{
	if (cc->state == FERRY_CC_DRAIN && cc->inflight <= bdp(cc, eff_bw(cc)))
		enter_probe_bw(cc, now);
	if (cc->state == FERRY_CC_PROBE_BW)
		advance_cycle(cc, now);
	if (cc->state != FERRY_CC_PROBE_RTT && cc->rtt_seen &&
	    now - cc->min_rtt_stamp > FERRY_CC_MIN_RTT_MS) {
		cc->state = FERRY_CC_PROBE_RTT;
		cc->probe_rtt_until = now + FERRY_CC_PROBE_RTT_MS;
		cc->probe_rtt_round = cc->st.rounds + 1;
		cc->probe_min = UINT32_MAX;
	}
	if (cc->state == FERRY_CC_PROBE_RTT && now >= cc->probe_rtt_until &&
	    cc->st.rounds >= cc->probe_rtt_round) {
		if (cc->probe_min != UINT32_MAX)
			cc->min_rtt = cc->probe_min;
		cc->min_rtt_stamp = now;
		if (cc->full_bw_reached)
			enter_probe_bw(cc, now);
		else
			cc->state = FERRY_CC_STARTUP;
	}
}

/* An RTT sample: `raw` from the packet's sending to its ACK's arrival, of which the
 * receiver says it held the ACK `delay` ms. As QUIC does (RFC 9002, 5.3), the minimum
 * takes the raw sample, and the others the sample less the delay only when that leaves
 * it at the minimum or above: a receiver that overstates its delay (a clock read late in a
 * busy loop turn) must not make the path read shorter than it is. A min RTT read short
 * shrinks the BDP, the window and the rate built on it, and makes every later round read
 * as a queue (what the soak showed when the sender's own loop stamped ACKs with a stale
 * clock: 5 to 12 ms on a 20 ms path, cli/loop.c). */
static void rtt_sample(struct ferry_cc *cc, uint64_t raw64, uint32_t delay, uint64_t now)
{
	uint32_t raw = raw64 > UINT32_MAX / 16 ? UINT32_MAX / 16 : (uint32_t)raw64;
	uint32_t rtt;

	if (!cc->rtt_seen || raw <= cc->min_rtt) {
		cc->min_rtt = raw;
		cc->min_rtt_stamp = now;
	}
	rtt = raw >= (uint64_t)cc->min_rtt + delay ? raw - delay : raw;
	if (!cc->rtt_seen) {
		cc->srtt8 = rtt * 8;
		cc->rtt_seen = true;
	} else {
		cc->srtt8 = cc->srtt8 - cc->srtt8 / 8 + rtt;
	}
	if (rtt < cc->round_min_rtt)
		cc->round_min_rtt = rtt;
	if (cc->state == FERRY_CC_PROBE_RTT && raw < cc->probe_min)
		cc->probe_min = raw;
}

/* The bandwidth filter: the largest sample of each of the last FERRY_CC_BW_ROUNDS rounds
 * that gave one. Rounds without a sample that counts (app-limited ones below the
 * estimate) do not age it: an idle link keeps what it knew, as a running max filter
 * that only moves on insertion does. */
static void bw_sample(struct ferry_cc *cc, uint64_t rate)
{
	if (cc->round != cc->bw_last_round) {
		cc->bw_last_round = cc->round;
		cc->bw_slot = (cc->bw_slot + 1) % FERRY_CC_BW_ROUNDS;
		cc->bw_round[cc->bw_slot] = 0;
	}
	cc->bw_round[cc->bw_slot] = max64(cc->bw_round[cc->bw_slot], rate);
}

/* ACK aggregation: ACKs that come in bursts (a receiver or a path that holds them, a
 * jittering way back, a batch read at once) deliver more than the estimate explains over
 * the time since the burst began; until the next burst, the sender waits with that much
 * less in flight than the pipe holds. So the window grows by the most such excess of the
 * last two windows of FERRY_CC_AGG_ROUNDS rounds, as BBR's extra_acked does; a window
 * tight on the BDP without it starved the pipe, and the estimate with it (test_ack,
 * ACKs jittered by up to 17 ms on a 50 ms path: 66% of the bottleneck). */
static void ack_aggregation(struct ferry_cc *cc, uint64_t acked, uint64_t now)
{
	uint64_t bw = eff_bw(cc), expected, extra;

	if (!cc->full_bw_reached || !bw)
		return;
	if (cc->round - cc->agg_round >= FERRY_CC_AGG_ROUNDS) {
		cc->agg_round = cc->round;
		cc->agg_slot ^= 1;
		cc->extra_acked[cc->agg_slot] = 0;
	}
	expected = bw * (now - cc->agg_start_ms) / 1000;
	if (cc->agg_acked <= expected || now - cc->agg_start_ms > cc->min_rtt) {
		/* the ACKs kept up with the estimate, or a round trip passed (an estimate a
		 * little low would otherwise read as aggregation growing without end): a new
		 * epoch starts */
		cc->agg_start_ms = now;
		cc->agg_acked = 0;
		expected = 0;
	}
	cc->agg_acked += acked;
	extra = min64(cc->agg_acked - expected, bdp(cc, bw));
	cc->extra_acked[cc->agg_slot] = max64(cc->extra_acked[cc->agg_slot], extra);
}

/* ------------------------------ acknowledgements -------------------------------- */

void ferry_cc_on_ack(struct ferry_cc *cc, const struct ferry_ack *ack, uint64_t now)
{
	struct ferry_cc_pkt *newest;
	uint64_t delivered0 = cc->delivered;

	if (!cc->have_session || ack->session != cc->session || ack->largest >= cc->next_pn) {
		cc->st.stale_acks++;
		return;
	}
	cc->st.acks++;
	cc->feedback = true;
	newest = ferry_cc_flight_ack(cc, ack);
	if (!newest)
		return;
	/* when the receiver had the newest packet: the ACK's arrival less the time the receiver
	 * held it (an ACK waits up to FERRY_ACK_DELAY_MS for a second message, which random
	 * loss often takes away, so intervals between arrivals alone may read that much short,
	 * and the max filter would pick those), never earlier than the last such time */
	if (newest->pn == ack->largest && now - newest->sent_ms >= ack->delay_ms)
		cc->delivered_ms = max64(cc->delivered_ms, now - ack->delay_ms);
	else
		cc->delivered_ms = now;
	if (!cc->any_acked || ack->largest > cc->largest_acked)
		cc->largest_acked = ack->largest;
	cc->any_acked = true;
	/* an RTT sample from the largest only, if it was just acknowledged (rtt_sample takes
	 * the receiver's hold off only where that is plausible) */
	if (newest->pn == ack->largest)
		rtt_sample(cc, now - newest->sent_ms, ack->delay_ms, now);

	/* delivery rate over the longer of the send and the ack intervals, counted longer than
	 * the clock says: its timestamps are whole milliseconds, so an interval may have
	 * lasted up to 1 ms more than it reads, and the max filter picks exactly those
	 * samples. Counted 1 ms longer, every sample is a lower bound, and cruising at the
	 * estimate drains a queue rather than grows one (test_ack: 0.65% high before, under
	 * the bottleneck now). Never more than 5% longer: on a LAN's few milliseconds a whole
	 * one would cut the estimate by half, and the queue an error builds there is short */
	{
		uint64_t send_ms = newest->sent_ms - newest->first_sent_ms;
		uint64_t ack_ms = cc->delivered_ms - newest->delivered_ms;
		uint64_t interval = max64(max64(send_ms, ack_ms), 1);
		uint64_t interval_us = interval * 1000 + min64(1000, interval * 50);
		uint64_t rate = (cc->delivered - newest->delivered) * 1000000 / interval_us;

		cc->first_sent_ms = newest->sent_ms;
		if (interval >= cc->min_rtt && (!newest->app_limited || rate > max_bw(cc)))
			bw_sample(cc, rate);
	}
	ack_aggregation(cc, cc->delivered - delivered0, now);
	ferry_cc_detect_losses(cc, now);
	if (newest->delivered >= cc->next_round_delivered) {
		round_end(cc, newest->app_limited, now);
		cc->next_round_delivered = cc->delivered;
		cc->round++;
	}
	update_state(cc, now);
	set_outputs(cc);
}

void ferry_cc_timer(struct ferry_cc *cc, uint64_t now)
{
	if (ferry_cc_flight_timeout(cc, now))
		set_outputs(cc);
}

/* ------------------------------ set-up and views --------------------------------- */

int ferry_cc_init(struct ferry_cc *cc, const struct ferry_cc_config *cfg, uint64_t now)
{
	memset(cc, 0, sizeof(*cc));
	if (!cfg->mss || cfg->mode > FERRY_CC_OFF || (cfg->mode == FERRY_CC_FIXED && !cfg->rate))
		return -EINVAL;
	cc->ring = calloc(FERRY_CC_RING_MIN, sizeof(*cc->ring));
	if (!cc->ring)
		return -ENOMEM;
	cc->ring_mask = FERRY_CC_RING_MIN - 1;
	cc->cfg = *cfg;
	cc->rng = cfg->seed | 1;
	cc->state = FERRY_CC_STARTUP;
	cc->round_min_rtt = UINT32_MAX;
	cc->round_start_ms = now;
	cc->delivered_ms = cc->first_sent_ms = now;
	set_outputs(cc);
	return 0;
}

void ferry_cc_destroy(struct ferry_cc *cc)
{
	free(cc->ring);
	memset(cc, 0, sizeof(*cc));
}

void ferry_cc_info(const struct ferry_cc *cc, struct ferry_cc_info *out)
{
	*out = cc->st;
	out->mode = cc->cfg.mode;
	out->state = cc->state;
	out->bw = max_bw(cc);
	out->bw_lo = cc->bw_lo;
	out->pacing_rate = cc->pacing_rate;
	out->cwnd = cc->cwnd;
	out->inflight = cc->inflight;
	out->min_rtt_ms = cc->min_rtt;
	out->srtt_ms = cc->srtt8 / 8;
	out->loss_pm = cc->loss_pm;
}

const char *ferry_cc_state_name(enum ferry_cc_state state)
{
	switch (state) {
	case FERRY_CC_STARTUP:
		return "startup";
	case FERRY_CC_DRAIN:
		return "drain";
	case FERRY_CC_PROBE_BW:
		return "probe_bw";
	case FERRY_CC_PROBE_RTT:
		return "probe_rtt";
	}
	return "?";
}

const char *ferry_cc_mode_name(enum ferry_cc_mode mode)
{
	switch (mode) {
	case FERRY_CC_BBR:
		return "bbr";
	case FERRY_CC_FIXED:
		return "fixed";
	case FERRY_CC_OFF:
		return "off";
	}
	return "?";
}
