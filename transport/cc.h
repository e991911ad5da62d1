/* SPDX-License-Identifier: MIT */
/*
 * The link's congestion controller: one per peer link, model-based in the BBR family,
 * built to keep its rate through random loss.
 *
 * Theory of operation. The controller sees every data message the link puts on the wire
 * (ferry_cc_on_sent: its packet number, the AEAD counter, and its size) and every link
 * acknowledgement that comes back (ferry_cc_on_ack, transport/ack.h), whatever flow or
 * channel the messages carried: ARQ data of every conversation, the datagram channel,
 * FEC parity. From them it keeps a model of the path:
 *
 * - bottleneck bandwidth: the largest delivery rate over the last FERRY_CC_BW_ROUNDS
 *   round trips that gave a sample (an idle link does not forget what it knew). A delivery-rate
 * sample is the bytes acknowledged between a packet's send and its acknowledgement over the longer
 * of the send and the ack intervals (so ACK compression cannot inflate it), the ack interval ending
 * at the ACK's arrival less the receiver's reported hold, and counted 1 ms longer than the
 * millisecond clock reads (5% at most): the max filter picks the highest samples, so each must be
 * a lower bound, or cruising at the estimate grows a queue. Samples taken while the
 * link had nothing to send (app-limited) only count when they raise the estimate;
 * - min RTT: the smallest RTT sample (ack delay taken off) over FERRY_CC_MIN_RTT_MS; when
 *   it grows that old, PROBE_RTT holds the flight at half a BDP for FERRY_CC_PROBE_RTT_MS
 *   so the queue empties and a fresh minimum is seen;
 * - random loss: the fraction of bytes lost per round trip, its mean over the last
 *   FERRY_CC_LOSS_ROUNDS rounds (the worst of them left out). That much loss happens whatever the
 * rate (a radio link, a lossy hop); it is not a congestion signal. The sender compensates for it:
 * what it paces is the delivery rate it wants divided by (1 - that loss), so a path that drops 5%
 * before its bottleneck still has the bottleneck filled.
 *
 * Decisions: the pacing rate is gain x bandwidth / (1 - random loss); bytes in flight are
 * capped at cwnd_gain x that rate x (min RTT + the time the receiver holds an ACK at that
 * rate): 2.885 in STARTUP, 2 in DRAIN, and in PROBE_BW by phase, as BBRv3's inflight
 * bounds: 1.25 when probing, 1 when draining, 1.1 when cruising, so an estimate a few
 * percent high cannot grow a queue beyond what the probe builds; in PROBE_BW plus room
 * for ACKs that come in bursts (BBR's extra_acked: the most that came beyond what the
 * estimate explains, over the last 2 x FERRY_CC_AGG_ROUNDS rounds). The gains follow
 * BBR's cycle: STARTUP (2.885, until the bandwidth stops growing 25% in three rounds, or
 * in one whose RTTs all stood above the minimum: a queue has formed),
 * DRAIN (1/2.885, until the flight is one BDP), PROBE_BW (one round at 1.25 to look for
 * more, 0.75 until the flight is one BDP again (three rounds at most), so no queue
 * outlives a cycle, then two to six rounds at 1, drawn at random so links that drained
 * together do not probe in step, or at once another probe if the last one found 15%
 * more), PROBE_RTT. A link lives
 * long and idles between bursts: when its estimate is below half the bandwidth STARTUP
 * last found, an app-limited round came within the filter's window (the estimate decayed
 * while the link had little to send, not because the capacity fell) and a round is no
 * longer app-limited, it enters STARTUP again instead of creeping up 25% per cycle.
 *
 * Congestion is what the model does not explain: a round whose loss exceeds the random
 * loss by FERRY_CC_LOSS_THRESH_PM (BBRv3's 2%), or by three standard deviations of that
 * random loss over the round's packets if more. In PROBE_BW such a round ends a probe,
 * enters the 0.75 phase to drain, and bounds the bandwidth used (bw_lo) by what the round
 * actually delivered, at most half off per round, or all of it at once when the round
 * also kept a standing queue (the bottleneck was busy all round, so what it delivered is
 * its rate for us); the bound lifts at the next probe. A capacity drop is so followed
 * within a round or two, not after the filter's ten. A
 * round whose smallest RTT stands above 1.25 x min RTT + 5 ms shows a standing queue and
 * counts as congestion too, unless the peer sent a quarter of our rate or more back in it:
 * then the queue is likely the ACKs' (behind the peer's own traffic), which no rate of
 * ours drains, and it only brings the drain phase forward, once per cycle.
 *
 * Loss detection serves the model only: a packet is lost when one sent FERRY_CC_REORDER
 * later is acknowledged, when one sent later is acknowledged and it is older than the
 * loss delay (9/8 of the smoothed RTT, at least the RTT + the receiver's ACK delay + 2 ms),
 * or when nothing acknowledged it for twice the loss delay + 20 ms (ferry_cc_timer).
 * Retransmission is the ARQ's.
 *
 * Modes: BBR (all of the above); FIXED (the configured rate, no flight cap); OFF (no
 * pacing, no flight cap). MaxRate caps every mode. The model is kept in all three, so
 * `ferry status` shows it.
 *
 * Pure: packet numbers, sizes and `now` (monotonic ms) in, a rate and a window out. One
 * allocation, the ring of packets in flight, grown by doubling up to FERRY_CC_RING_MAX.
 */
#ifndef FERRY_TRANSPORT_CC_H
#define FERRY_TRANSPORT_CC_H

#include <stdbool.h>
#include <stdint.h>

#include "transport/ack.h"

enum ferry_cc_mode {
	FERRY_CC_BBR = 0,
	FERRY_CC_FIXED = 1,
	FERRY_CC_OFF = 2,
};

enum ferry_cc_state {
	FERRY_CC_STARTUP,
	FERRY_CC_DRAIN,
	FERRY_CC_PROBE_BW,
	FERRY_CC_PROBE_RTT,
};

enum {
	FERRY_CC_RING_MIN = 256,      /* packets tracked at first */
	FERRY_CC_RING_MAX = 16384,    /* ... at most: 100 Mbit/s x 200 ms is 1,800 */
	FERRY_CC_BW_ROUNDS = 10,      /* bandwidth filter window, round trips */
	FERRY_CC_LOSS_ROUNDS = 8,     /* random-loss filter window, round trips */
	FERRY_CC_MIN_RTT_MS = 10000,  /* min RTT filter window */
	FERRY_CC_AGG_ROUNDS = 5,      /* ACK aggregation filter: two windows of this many */
	FERRY_CC_PROBE_RTT_MS = 200,  /* time spent in PROBE_RTT */
	FERRY_CC_INIT_CWND = 32,      /* packets before the first RTT sample */
	FERRY_CC_INIT_RTT_MS = 10,    /* RTT assumed for the first pacing rate */
	FERRY_CC_MIN_CWND = 4,	      /* packets */
	FERRY_CC_REORDER = 3,	      /* packet threshold of loss detection */
	FERRY_CC_LOSS_THRESH_PM = 20, /* loss above random loss that means congestion, 1/1000 */
	FERRY_CC_LOSS_MAX_PM = 300,   /* random loss compensated at most */
	FERRY_CC_MIN_RATE = 65536,    /* bytes/s: the pacing rate never drops below */
};

/* How a packet counts. */
enum ferry_cc_track {
	FERRY_CC_UNTRACKED, /* takes no room (ACK records only, keepalives) */
	FERRY_CC_TRACKED,   /* in flight until acknowledged or lost */
	FERRY_CC_QUIET,	    /* in flight, but asks for no acknowledgement (FEC parity): one
			       that nothing acknowledges in time leaves the flight unlost */
};

struct ferry_cc_config {
	enum ferry_cc_mode mode;
	uint64_t rate;	   /* FIXED: bytes/s */
	uint64_t max_rate; /* ceiling on the pacing rate in every mode, bytes/s; 0 none */
	uint32_t mss;	   /* largest datagram on the wire, bytes */
	uint64_t seed;	   /* randomises the probing phase */
};

/* What `ferry status` shows. */
struct ferry_cc_info {
	enum ferry_cc_mode mode;
	enum ferry_cc_state state;
	uint64_t bw;	      /* bottleneck bandwidth estimate, bytes/s (0: no sample yet) */
	uint64_t bw_lo;	      /* bound after congestion, bytes/s (0: none) */
	uint64_t pacing_rate; /* bytes/s (0: unpaced) */
	uint64_t cwnd;	      /* bytes allowed in flight (UINT64_MAX: no cap) */
	uint64_t inflight;    /* bytes in flight */
	uint32_t min_rtt_ms, srtt_ms;
	uint32_t loss_pm; /* random loss estimate, 1/1000 */
	uint64_t rounds;
	uint64_t congested_rounds;   /* rounds that lost more than the random loss */
	uint64_t queue_rounds;	     /* rounds whose every RTT stood above the minimum */
	uint64_t acked, lost;	     /* packets */
	uint64_t spurious;	     /* acknowledged after they were declared lost */
	uint64_t restarts;	     /* STARTUP entered again after the estimate decayed */
	uint64_t app_limited_rounds; /* rounds whose newest packet left with nothing queued */
	uint64_t acks, stale_acks;   /* ACK records taken, and refused (another session) */
};

struct ferry_cc_pkt;

struct ferry_cc {
	struct ferry_cc_config cfg;
	struct ferry_cc_pkt *ring;
	uint32_t ring_mask;
	uint32_t session; /* the peer's index the packets were sealed for */
	bool have_session, any_acked, feedback;
	enum ferry_cc_state state;
	/* packets */
	uint64_t next_pn, oldest, largest_acked;
	uint64_t inflight, delivered, delivered_ms, first_sent_ms, app_limited_until;
	/* rounds */
	uint64_t round, next_round_delivered, round_start_ms, round_start_delivered;
	uint64_t round_lost, round_acked;
	uint64_t received, round_start_received; /* bytes from the peer (the way back) */
	uint32_t round_min_rtt;
	uint64_t bw_round[FERRY_CC_BW_ROUNDS]; /* the filter: a maximum per round with samples */
	uint64_t bw_last_round;		       /* the round bw_slot belongs to */
	uint32_t bw_slot;
	uint16_t loss_hist[FERRY_CC_LOSS_ROUNDS];
	uint32_t loss_n;
	uint32_t loss_pm;
	/* RTT */
	uint32_t min_rtt, srtt8, probe_min;
	uint64_t min_rtt_stamp;
	bool rtt_seen;
	/* state machine */
	uint64_t full_bw;
	uint32_t full_bw_rounds;
	bool full_bw_reached;
	uint32_t cycle;
	uint64_t cycle_stamp;
	uint64_t probe_start_bw;    /* the estimate when the last probe began */
	uint64_t app_limited_round; /* the last round the senders left the link idle in */
	bool queue_drained;	    /* this cycle drained once for a standing queue already */
	bool queue_seen;	    /* the last round's every RTT stood above the minimum */
	uint64_t probe_rtt_until, probe_rtt_round;
	uint64_t bw_lo;
	/* ACK aggregation: bytes acknowledged beyond what the estimate explains since the
	 * epoch began, and the most of that in each of the last two windows of rounds */
	uint64_t agg_start_ms, agg_acked, agg_round;
	uint64_t extra_acked[2];
	uint32_t agg_slot;
	uint64_t rng;
	/* outputs */
	uint64_t pacing_rate, cwnd;
	struct ferry_cc_info st;
};

/* Sets up a controller at now. Returns 0, -EINVAL (mss 0, FIXED without a rate), -ENOMEM. */
int ferry_cc_init(struct ferry_cc *cc, const struct ferry_cc_config *cfg, uint64_t now);

/* Frees the ring. Safe on a zeroed controller. */
void ferry_cc_destroy(struct ferry_cc *cc);

/* A data message left: packet number pn of the session the peer knows as `session`,
 * bytes on the wire, how it counts. Packet numbers rise within a session; a new session
 * forgets what was in flight without calling it lost. */
void ferry_cc_on_sent(struct ferry_cc *cc, uint32_t session, uint64_t pn, uint32_t bytes,
		      enum ferry_cc_track track, uint64_t now);

/* An ACK record arrived (ack->session is the peer's index of the session). */
void ferry_cc_on_ack(struct ferry_cc *cc, const struct ferry_ack *ack, uint64_t now);

/* bytes came from the peer: how busy the ACKs' way back is. */
void ferry_cc_on_received(struct ferry_cc *cc, uint32_t bytes);

/* Declares lost what nothing acknowledged in time. */
void ferry_cc_timer(struct ferry_cc *cc, uint64_t now);

/* When ferry_cc_timer has something to do (UINT64_MAX: nothing in flight). */
uint64_t ferry_cc_next_deadline(const struct ferry_cc *cc);

/* Call before ferry_cc_on_sent when nothing else waits to leave: the packet and the
 * samples until what is in flight now is acknowledged measure the senders, not the path. */
void ferry_cc_app_limited(struct ferry_cc *cc);

/* Whether the flight has room for another packet. */
static inline bool ferry_cc_can_send(const struct ferry_cc *cc)
{
	return cc->inflight < cc->cwnd;
}

/* Pacing rate in bytes/s; 0: unpaced. */
static inline uint64_t ferry_cc_pacing_rate(const struct ferry_cc *cc)
{
	return cc->pacing_rate;
}

/* Fills *out. */
void ferry_cc_info(const struct ferry_cc *cc, struct ferry_cc_info *out);

/* "startup", "drain", "probe_bw", "probe_rtt"; "bbr", "fixed", "off". */
const char *ferry_cc_state_name(enum ferry_cc_state state);
const char *ferry_cc_mode_name(enum ferry_cc_mode mode);

#endif
