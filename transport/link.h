/* SPDX-License-Identifier: MIT */
/*
 * The secure link: everything between ARQ conversations and the UDP socket, per peer.
 *
 * Theory of operation. A struct ferry_link_set is one local identity (its Noise static key,
 * transport/noise.h) and the entry point of received datagrams; it holds any number of
 * struct ferry_link, one per peer, each embedding that peer's ferry_noise_peer. Data
 * messages are routed to a link by their receiver index (ferry_noise_open finds the peer),
 * handshake messages by the keys inside them, so input enters at the set:
 *
 *   ferry_link_set_input(set, buf, from, now)
 *     handshake message -> ferry_noise_handle_handshake -> reply to `from`; on success the
 *                          link's endpoint becomes `from` (roaming)
 *     data message      -> ferry_noise_open (in place) -> roaming -> empty: keepalive
 *                          -> FEC decoder -> mux records -> ops.segments (one call per run
 *                          of one conversation's segments) / ops.datagram
 *
 * Sending, per link:
 *
 *   ferry_link_send_segments (an ARQ output datagram) / ferry_link_send_datagram
 *     -> a record appended to one of two open payloads: HIGH (datagram channel, ARQ
 *        datagrams without PUSH segments) or LOW (ARQ data). A payload closes when the
 *        next record does not fit the inner MTU, or at ferry_link_flush (the caller calls
 *        it once per event-loop turn, after a batch).
 *     -> no usable session: the payload waits in a bounded queue and a handshake starts
 *     -> FEC encoder (data shard at once; parity when D shards are in or the group timer
 *        fires) -> pacer (token bucket at the controller's rate, HIGH before LOW; LOW
 *        also waits while the controller's window is full)
 *     -> ferry_noise_seal in place as it leaves, so counters rise in wire order; the
 *        controller notes each (transport/cc.h)
 *     -> the set's output batch: each sealed datagram in its pool buffer, with its
 *        endpoint, until FERRY_LINK_OUT_BATCH are waiting or a flush; then one
 *        ops.output call hands the whole batch over (one sendmmsg for the caller) and
 *        the buffers go back to their links' pools.
 *
 * Acknowledgements: the receiving link notes every data message's counter
 * (transport/ack.h) and, when one is due, adds an ACK record to its HIGH payload at the
 * next flush (or at its timer). ACK records that come in feed the controller, which sets
 * the pacer's rate and the bytes in flight. They retransmit nothing.
 *
 * Output happens at flushes: ferry_link_flush / ferry_link_set_flush (the caller's end
 * of an event-loop turn) send the batch; so does a full batch. Input, timers and sends
 * only add to it, so everything a turn produced leaves in as few system calls as
 * possible.
 *
 * Timers: ferry_link_next_deadline() is the earliest of the FEC group timer, the pacer,
 * keepalives, the handshake retry, the re-handshake and dead-peer checks and the expiry of
 * waiting payloads, sessions and handshakes; ferry_link_timer() (or the set's versions,
 * which cover every link) runs what is due. The module reads no clock and does no I/O:
 * `now` is monotonic milliseconds; the wall clock needed for handshake timestamps is
 * derived from one reading the caller gives at init (ferry_link_set_clock to resync).
 *
 * Handshakes: a link initiates when it has something to send (or a keepalive is due) and
 * no usable session, when its session asks to be rekeyed while sending, and when data it
 * sent stayed unanswered for a few of the path's RTOs (ferry_link_rehandshake_ms: the peer
 * may have restarted and lost the session; it cannot say so, since it never answers what
 * it cannot open). It retries every handshake_retry_ms plus up to
 * FERRY_LINK_HANDSHAKE_JITTER_MS of jitter (while data goes unanswered, sooner: after as
 * long again as it has been unanswered, so a peer that was down for a moment is found
 * again within about that moment). A responder does not initiate while its fresh session
 * waits for the initiator's first datagram; an initiator sends a keepalive right after a
 * response so the responder can confirm that session at once. When both sides initiate
 * at once, the side with the greater static public key ignores the other's initiation, so
 * exactly one session results. Every completed handshake restarts the link's FEC decoder
 * (a restarted peer numbers its FEC groups from zero again).
 *
 * Liveness: a persistent keepalive goes out after keepalive_ms without sending (0: off);
 * a passive one FERRY_LINK_PASSIVE_KEEPALIVE_MS after authenticated data arrived that
 * nothing answered. The link is DEAD after dead_ms of sending data with nothing
 * authenticated coming back (state callback); anything authenticated revives it.
 *
 * Secrets leave memory on time: the deadline includes the instant each session expires
 * (FERRY_NOISE_REJECT_AFTER_TIME_MS), an unconfirmed responder session and an unanswered
 * initiation are forgotten (FERRY_NOISE_HANDSHAKE_MAX_AGE_MS), and the timer that runs then
 * wipes them (ferry_noise_peer_next_expiry).
 *
 * Lifetimes: the caller owns the memory of the set and its links. A link is added by
 * ferry_link_init and removed by ferry_link_destroy (which first sends the set's output
 * batch, holding its buffers, then frees them and wipes its keys); destroying the set
 * destroys the links still in it. Callbacks must not destroy
 * the link or set that called them; they may send (segments, datagrams, flush).
 */
#ifndef FERRY_TRANSPORT_LINK_H
#define FERRY_TRANSPORT_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "transport/ack.h"
#include "transport/cc.h"
#include "transport/fec.h"
#include "transport/noise.h"
#include "transport/pacer.h"
#include "transport/pool.h"
#include "transport/udp.h"
#include "transport/wire.h"

enum {
	FERRY_LINK_FEC_DATA_DEFAULT = 10,
	FERRY_LINK_FEC_PARITY_DEFAULT = 3,
	FERRY_LINK_WAIT_QUEUE_DEFAULT = 64,	  /* payloads waiting for a session */
	FERRY_LINK_WAIT_MAX_MS = 10000,		  /* a waiting payload is dropped after this */
	FERRY_LINK_HANDSHAKE_RETRY_MS = 5000,	  /* default retry of an unanswered initiation */
	FERRY_LINK_HANDSHAKE_JITTER_MS = 333,	  /* added to each retry, uniform */
	FERRY_LINK_PASSIVE_KEEPALIVE_MS = 1000,	  /* answer received data after this silence */
	FERRY_LINK_REHANDSHAKE_RTOS = 3,	  /* data unanswered for this many RTOs: new
						     handshake (ferry_link_rehandshake_ms) ... */
	FERRY_LINK_REHANDSHAKE_MIN_MS = 1000,	  /* ... but not sooner than this */
	FERRY_LINK_REHANDSHAKE_MAX_MS = 5000,	  /* ... nor later (also: no RTT known yet) */
	FERRY_LINK_REHANDSHAKE_GIVEUP_MS = 90000, /* ... retried for at most this long */
	FERRY_LINK_DEAD_DEFAULT_MS = 30000,	  /* dead_ms default */
	FERRY_LINK_POOL_SPARE = 8,		  /* buffers beyond the queues' limits */
	FERRY_LINK_FEC_GROUPS = 256,		  /* decoder groups: reordering depth tolerated */
	FERRY_LINK_QUEUE_MS = 4,		  /* ARQ data queued in the pacer, at its rate */
	FERRY_LINK_QUEUE_MIN = 16,		  /* ... but at least this many datagrams */
	FERRY_LINK_BURST_MS = 2,		  /* BBR: the pacer's burst, at its rate */
	FERRY_LINK_URGENT_LOSS_PM = 20,		  /* from this loss on, a group holding a thin
						     flow's data or a datagram gets one more
						     parity shard (link_send.c) */
};

enum ferry_link_state {
	FERRY_LINK_DOWN,      /* no usable session and none wanted */
	FERRY_LINK_HANDSHAKE, /* no usable session, one is being set up */
	FERRY_LINK_UP,	      /* a usable session */
	FERRY_LINK_DEAD,      /* data sent for dead_ms without anything authenticated back */
};

struct ferry_link;

enum {
	FERRY_LINK_OUT_BATCH = FERRY_UDP_BATCH, /* datagrams handed to output at once */
};

/* The set's callbacks. output sends n sealed datagrams (n <= FERRY_LINK_OUT_BATCH): the
 * payload of bufs[i] to to[i]. The buffers are lent for the call. Returns how many the
 * caller took (sent, or dropped for good); the rest are dropped and counted as refused
 * (the socket was full: the ARQ retransmits what mattered). */
struct ferry_link_set_ops {
	unsigned (*output)(void *ctx, struct ferry_buf *const *bufs,
			   const struct ferry_sockaddr *to, unsigned n);
	void *ctx;
};

struct ferry_link_set_config {
	struct ferry_noise_config noise; /* static key, algorithms, rekey limits */
	uint64_t now;			 /* monotonic ms at init ... */
	uint64_t realtime_ns;		 /* ... and the wall clock at that moment */
	struct ferry_link_set_ops ops;
};

/* Set-wide counters: what cannot be pinned on one link. Noise's own drop reasons (auth
 * failures, replays, unknown index, ...) are in set->noise.stats. */
struct ferry_link_set_stats {
	uint64_t dgrams_in, bytes_in;
	uint64_t malformed;	     /* shorter than a message header, or an unknown type */
	uint64_t handshake_dropped;  /* handshake messages refused (noise counts why) */
	uint64_t data_dropped;	     /* data messages that did not open (noise counts why) */
	uint64_t cookie_replies_out; /* sent under load to sources without a known peer */
	uint64_t out_batches;	     /* output calls */
	uint64_t out_refused;	     /* datagrams output did not take (socket full) */
	uint64_t out_no_buffer;	     /* replies dropped: no buffer for them */
	uint64_t under_load;	     /* times the handshake rate turned cookies on */
};

/* Handshake load: more than FERRY_LINK_HANDSHAKE_LOAD initiations and responses in one
 * second turn the cookies (and the per-address limit) on, for a second after the last
 * second that had too many. A DH costs about 65 us here (docs/benchmarks.md): 256 a second
 * is under 2% of a core, and a thousand peers rekeying every two minutes need 9. */
#define FERRY_LINK_HANDSHAKE_LOAD    256
#define FERRY_LINK_HANDSHAKE_LOAD_MS 1000ULL

struct ferry_link_load {
	uint64_t window_ms; /* start of the current second */
	uint32_t count;	    /* handshake messages in it */
	uint64_t until_ms;  /* under load before this */
};

/* Sealed datagrams waiting for the next output call, each returning to its pool after. */
struct ferry_link_out {
	struct ferry_buf *bufs[FERRY_LINK_OUT_BATCH];
	struct ferry_sockaddr to[FERRY_LINK_OUT_BATCH];
	struct ferry_pool *pools[FERRY_LINK_OUT_BATCH];
	unsigned n;
};

struct ferry_link_set {
	struct ferry_noise_local noise;
	struct ferry_link *links;
	struct ferry_link_set_ops ops;
	uint64_t clock_ms, clock_realtime_ns; /* the wall clock at one monotonic instant */
	struct ferry_pool pool;		      /* cookie replies to sources without a link */
	struct ferry_link_out out;
	struct ferry_link_load load;
	struct ferry_ratelimit *ratelimit; /* the noise local's, under load */
	struct ferry_link_set_stats stats;
};

/* Per-link callbacks; all lent data is valid for the call only. */
struct ferry_link_ops {
	/* a run of whole KCP segments of conversation conv (for ferry_arq_input) */
	void (*segments)(void *ctx, struct ferry_link *link, uint32_t conv, const uint8_t *segs,
			 size_t len, uint64_t now);
	/* one datagram-channel message of flow flow_id */
	void (*datagram)(void *ctx, struct ferry_link *link, uint32_t flow_id, const uint8_t *data,
			 size_t len, uint64_t now);
	/* the link's state changed (may be NULL) */
	void (*state)(void *ctx, struct ferry_link *link, enum ferry_link_state state);
	void *ctx;
};

struct ferry_link_config {
	uint32_t mtu;		       /* outer (path) MTU; 0 = FERRY_WIRE_MTU_DEFAULT */
	uint32_t ip_hdr;	       /* 0 = FERRY_WIRE_IPV6_HDR (the worst case) */
	uint8_t fec_data;	       /* D; 0 = defaults for both D and P (10, 3) */
	uint8_t fec_parity;	       /* P; 0 = no parity (headers only) when fec_data != 0 */
	uint32_t fec_flush_ms;	       /* FEC group timer; 0 = FERRY_FEC_FLUSH_MS_DEFAULT */
	uint32_t fec_slots;	       /* the decoder's shard slots, shared by the peer's
					  groups in flight (a full payload each); 0 =
					  FERRY_FEC_DEC_SLOTS_DEFAULT */
	uint64_t seed;		       /* tests: the link's own PRNG (the controller's probing
					  phase, jitter); 0 = from the system */
	bool fec_fixed;		       /* send all P parity shards of every group; default: as
					  many as the measured loss needs (link_send.c) */
	enum ferry_cc_mode congestion; /* FERRY_CC_BBR (the default), _FIXED, _OFF */
	uint64_t rate;		       /* FIXED: the send rate, bytes/s */
	uint64_t max_rate;	       /* ceiling on the send rate in every mode; 0 = none */
	uint32_t burst;		       /* bytes; 0 = the pacer's default (BBR: 2 ms at the rate) */
	uint32_t pacer_queue;	       /* datagrams per class; 0 = FERRY_PACER_QUEUE_DEFAULT */
	uint32_t wait_queue;	       /* 0 = FERRY_LINK_WAIT_QUEUE_DEFAULT */
	uint32_t keepalive_ms;	       /* persistent keepalive; 0 off */
	uint32_t dead_ms;	       /* 0 = FERRY_LINK_DEAD_DEFAULT_MS */
	uint32_t handshake_retry_ms;   /* 0 = FERRY_LINK_HANDSHAKE_RETRY_MS */
};

struct ferry_link_stats {
	/* wire */
	uint64_t dgrams_out, bytes_out; /* every message handed to output */
	uint64_t dgrams_in, bytes_in;	/* messages authenticated for this link */
	uint64_t data_out;		/* data shards sealed */
	uint64_t parity_out;		/* parity shards sealed */
	uint64_t keepalives_out, keepalives_in;
	uint64_t initiations_out, responses_out;
	uint64_t handshakes;	      /* sessions set up (either role) */
	uint64_t crossed_initiations; /* the peer's, ignored while ours was pending */
	uint64_t roams;		      /* endpoint changed by an authenticated datagram */
	/* payloads and records */
	uint64_t payloads_out, payloads_in;
	uint64_t payloads_merged; /* a HIGH and a LOW payload sent as one at a flush */
	uint64_t records_out[FERRY_REC_KINDS], records_in[FERRY_REC_KINDS];
	uint64_t records_unknown;   /* unknown kind, skipped */
	uint64_t records_malformed; /* payload walk stopped at a cut-short record */
	uint64_t arq_malformed;	    /* ARQ body with a cut-short segment */
	uint64_t datagram_malformed;
	uint64_t record_too_big; /* refused at send: larger than a record body */
	/* drops and delays */
	uint64_t wait_queued;	     /* payloads that waited for a session */
	uint64_t wait_dropped;	     /* wait queue full or payload too old */
	uint64_t pool_empty;	     /* no buffer: record or datagram dropped */
	uint64_t pacer_delayed;	     /* datagrams that waited in the pacer */
	uint64_t pacer_dropped;	     /* pacer queue full */
	uint64_t pacer_dropped_high; /* ... of them, in the HIGH class (thin flows, ACKs,
					datagrams, handshakes) */
	uint64_t seal_errors;	     /* sealing failed (session gone mid-flight) */
	uint64_t no_endpoint;	     /* nothing sent: the peer's address is not known yet */
	uint64_t dead_events;	     /* transitions to DEAD */
	uint64_t decoder_resets;     /* FEC decoder restarted for a new session */
	/* link acknowledgements */
	uint64_t ack_only_out;	/* data messages that carried nothing but an ACK record */
	uint64_t ack_malformed; /* ACK records that did not parse */
	uint64_t cwnd_held;	/* times LOW traffic waited for the congestion window */
	/* FEC, copied from the encoder and decoder */
	struct ferry_fec_encoder_stats fec_enc;
	struct ferry_fec_decoder_stats fec_dec;
};

struct ferry_link {
	struct ferry_noise_peer peer; /* first: noise hands us &link->peer */
	struct ferry_link *next_link;
	struct ferry_link_set *set;
	struct ferry_link_ops ops;
	struct ferry_link_config cfg;
	struct ferry_wire_sizes sizes;
	struct ferry_sockaddr endpoint; /* len 0 until known */
	struct ferry_pool pool;
	struct ferry_fec_encoder enc;
	struct ferry_fec_decoder dec;
	struct ferry_pacer pacer;
	struct ferry_cc cc;			     /* the controller: pacing rate and flight */
	struct ferry_ack_tracker acks;		     /* what arrived, for our ACK records */
	struct ferry_buf *open[FERRY_PACER_CLASSES]; /* payloads being filled */
	struct ferry_buf *wait_head, *wait_tail;     /* payloads waiting for a session */
	uint32_t wait_count;
	uint64_t wait_since_ms; /* the wait queue became non-empty */
	/* the shard being encoded, so emit can tell data from parity and take it over */
	struct ferry_buf *enc_cur;
	enum ferry_pacer_class enc_class;
	bool enc_taken;
	bool group_low; /* the open FEC group holds a LOW shard: parity goes LOW too */
	/* a thin flow's data or a datagram (no cheaper repair than parity: link_send.c's
	 * fec_follow_loss): in the open HIGH payload, the payload being encoded, the open
	 * FEC group */
	bool open_urgent, enc_urgent, group_urgent;
	bool rx_elicit; /* the datagram being received asks for an ACK */
	uint64_t now;	/* of the current entry point */
	uint64_t rng;
	/* timers (ms; 0 = not set) */
	uint64_t hs_next_ms;	/* no initiation before this */
	uint64_t initiation_ms; /* our last initiation left */
	uint32_t hs_rtt_ms;	/* its round trip, when answered: the RTT before any ACK */
	const struct ferry_noise_session *last_current; /* to notice a new current session */
	uint32_t ignored_index;	     /* local index of a crossed initiation's unanswered session */
	uint64_t last_sent_ms;	     /* anything sent */
	uint64_t last_recv_ms;	     /* anything authenticated received */
	uint64_t unanswered_ms;	     /* first data sent since the last authenticated receive */
	uint64_t recv_unanswered_ms; /* first data received since our last send */
	bool have_sent, have_recv;
	enum ferry_link_state state;
	struct ferry_link_stats stats;
};

/* Sets up a set with its Noise identity. Returns 0, -EINVAL (no output callback, bad key),
 * or what ferry_noise_local_init returns. */
int ferry_link_set_init(struct ferry_link_set *set, const struct ferry_link_set_config *cfg);

/* Destroys every link still in the set and wipes the set. Safe on a zeroed set. */
void ferry_link_set_destroy(struct ferry_link_set *set);

/* Resynchronises the wall clock used for handshake timestamps. */
void ferry_link_set_clock(struct ferry_link_set *set, uint64_t now, uint64_t realtime_ns);

/* Processes one received datagram in buf (decrypted in place; buf stays the caller's)
 * from `from`. Returns 0 when it was accepted (delivered, a keepalive, or a handshake
 * step), or the negative errno of the drop (counted; nothing is ever sent in reply to a
 * datagram that does not authenticate, except a cookie reply under load). */
int ferry_link_set_input(struct ferry_link_set *set, struct ferry_buf *buf,
			 const struct ferry_sockaddr *from, uint64_t now);

/* ferry_link_flush for every link: the end of an event-loop turn. */
void ferry_link_set_flush(struct ferry_link_set *set, uint64_t now);

/* The earliest ferry_link_next_deadline of the set's links (UINT64_MAX: none). */
uint64_t ferry_link_set_next_deadline(const struct ferry_link_set *set, uint64_t now);

/* ferry_link_timer for every link. */
void ferry_link_set_timer(struct ferry_link_set *set, uint64_t now);

/* Adds a link to the peer with static key remote_static (psk may be NULL) reachable at
 * endpoint (NULL: unknown until the peer initiates). Returns 0, -EINVAL for a bad
 * configuration or key, -EEXIST for a peer already in the set, -ENOMEM. */
int ferry_link_init(struct ferry_link *link, struct ferry_link_set *set,
		    const uint8_t remote_static[FERRY_NOISE_KEY_LEN],
		    const uint8_t psk[FERRY_NOISE_KEY_LEN], const struct ferry_sockaddr *endpoint,
		    const struct ferry_link_config *cfg, const struct ferry_link_ops *ops,
		    uint64_t now);

/* Unlinks the link from its set, frees its buffers and wipes its keys. Safe twice. */
void ferry_link_destroy(struct ferry_link *link);

/* The sizes a link made with cfg will have (cfg NULL or its mtu and ip_hdr 0: the
 * defaults), for what must be sized before the links exist (the bridge's ARQ buffers and
 * datagram limits; docs/mtu.md). Returns 0, or -EINVAL for an mtu outside
 * [FERRY_WIRE_MTU_MIN, FERRY_WIRE_MTU_MAX] or a bad ip_hdr (ferry_link_init refuses those). */
int ferry_link_config_sizes(const struct ferry_link_config *cfg, struct ferry_wire_sizes *out);

/* Largest ARQ datagram (set the ARQ's mtu to this) and datagram-channel message: the
 * link's sizes.record_body and sizes.datagram. */
uint32_t ferry_link_arq_mtu(const struct ferry_link *link);
uint32_t ferry_link_datagram_max(const struct ferry_link *link);

/* Queues one ARQ output datagram (whole segments, normally of one conversation) as a
 * record; a thin flow's (ferry_arq_thin) goes ahead of bulk data, with ACKs and the
 * datagram channel. Returns 0, -EMSGSIZE above ferry_link_arq_mtu, -ENOBUFS when no
 * buffer or queue space is left (counted; the ARQ will retransmit). */
int ferry_link_send_segments(struct ferry_link *link, const uint8_t *segs, size_t len, bool thin,
			     uint64_t now);

/* Queues one unreliable datagram of flow flow_id, ahead of ARQ data. Returns 0,
 * -EMSGSIZE above ferry_link_datagram_max, -ENOBUFS (counted). */
int ferry_link_send_datagram(struct ferry_link *link, uint32_t flow_id, const uint8_t *data,
			     size_t len, uint64_t now);

/* Closes the open payloads, moves what the pacer allows into the set's output batch and
 * hands the batch to ops.output (the end of an event-loop turn). */
void ferry_link_flush(struct ferry_link *link, uint64_t now);

/* How many more ARQ datagrams the link takes now without queueing them for longer than
 * FERRY_LINK_QUEUE_MS at its pacing rate (UINT32_MAX: unpaced, no limit but the queue's).
 * Conversations hold the rest in their own send queues, where a newcomer does not wait
 * behind them (ferry_arq_set_credit). 0 while the wait queue is half full. */
uint32_t ferry_link_room(const struct ferry_link *link);

/* How many more datagrams the HIGH class (ahead of bulk: handshakes, ACKs, the datagram
 * channel, thin flows) takes before thin flows must wait for room like bulk: half its
 * queue. The other half is for what sends without room (ACKs, datagrams, handshakes). With
 * ten thousand flows, thin flows alone overflowed it (docs/soak.md). ferry_link_room is
 * never more than this. */
uint32_t ferry_link_urgent_room(const struct ferry_link *link);

/* ferry_link_room() == 0. */
bool ferry_link_congested(const struct ferry_link *link);

/* The congestion controller's view (see transport/cc.h). */
void ferry_link_cc_info(const struct ferry_link *link, struct ferry_cc_info *out);

/* How long data may go unanswered before the link starts a new handshake:
 * FERRY_LINK_REHANDSHAKE_RTOS x the path's RTO (2 x the controller's smoothed RTT, or the
 * last handshake's round trip before the first ACK, + the peer's ACK delay), within
 * [FERRY_LINK_REHANDSHAKE_MIN_MS, FERRY_LINK_REHANDSHAKE_MAX_MS]; the maximum while no
 * round trip was measured. */
uint32_t ferry_link_rehandshake_ms(const struct ferry_link *link);

/* When ferry_link_timer must run next (<= now: at once), UINT64_MAX when nothing is
 * due. Changes nothing. */
uint64_t ferry_link_next_deadline(const struct ferry_link *link, uint64_t now);

/* Runs everything due at now: FEC group timer, pacer, keepalives, handshakes, expiry. */
void ferry_link_timer(struct ferry_link *link, uint64_t now);

/* The link's state (also reported through ops.state on every change). */
enum ferry_link_state ferry_link_state(const struct ferry_link *link);

/* Copies the link's counters, FEC encoder and decoder counters included. */
void ferry_link_stats(const struct ferry_link *link, struct ferry_link_stats *out);

/* Short name of a state ("down", "handshake", "up", "dead"). */
const char *ferry_link_state_name(enum ferry_link_state state);

#endif
