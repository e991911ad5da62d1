/* SPDX-License-Identifier: MIT */
/*
 * ARQ: one reliable, ordered conversation per flow, wire-compatible with KCP segments.
 *
 * Theory of operation. The engine is a pure state machine: the caller hands it received
 * datagrams (ferry_arq_input), application bytes (ferry_arq_send) and the current time
 * `now` (uint64_t ms, monotonic); it hands datagrams out through the output callback and
 * in-order bytes out through ferry_arq_recv. It never reads a clock and never does I/O.
 *
 * Segments (24-byte header, little-endian, several per datagram):
 *   conv u32 | cmd u8 | frg u8 | wnd u16 | ts u32 | sn u32 | una u32 | len u32 | data[len]
 * PUSH carries data and is acknowledged by an ACK that names its sn and echoes its ts;
 * every segment carries `una` (next sn the sender of the segment expects) and `wnd` (its
 * free receive window in segments). WASK asks the peer for its window, WINS tells it.
 *
 * Driving it: after any ferry_arq_input/send/recv, and whenever `now` reaches
 * ferry_arq_next_deadline(), call ferry_arq_timer(). It transmits only what is due:
 * ACKs (batched, several per datagram), retransmissions (fast or by timer) and new data
 * the windows allow. There is no fixed polling tick; `interval` is only the clock
 * granularity in the RTO and the longest a partial stream segment waits for more bytes.
 *
 * Windows: snd_wnd bounds the segments in flight (unacked); the peer's advertised right
 * edge (una + wnd, kept as a maximum so reordering cannot shrink it) bounds the highest sn
 * sent, so the receiver is never overrun; rcv_wnd bounds everything held for the
 * application (reassembly plus unread), so a reader that stops reading pins at most
 * rcv_wnd pool buffers. With nc = 0 a KCP-like congestion window also limits flight.
 *
 * Thin flows: a conversation with at most FERRY_ARQ_THIN segments in flight and queued (a
 * request, a response's last bytes, keystrokes) is thin. It needs no credit (below): the
 * link's room keeps bulk from queueing, and a thin flow's few segments do not wait behind
 * it. With thin_copy, each of its new segments leaves a second time FERRY_ARQ_THIN_COPY_MS
 * later: one loss would cost it a whole retransmission timeout, as nothing follows to
 * trigger a fast retransmission, and a copy costs a thin flow little (the idea of TCP's
 * thin-stream redundancy; Linux's tcp_stream_is_thin draws the line at 4 packets too).
 *
 * Memory: the rings (send slots, receive slots, ACK list) start at a few dozen slots and
 * double when the windows use more, up to 4 * snd_wnd and rcv_wnd; every segment's
 * payload lives in one buffer of the caller's pool, nothing is allocated per segment.
 * The pool's buffers must hold MSS = mtu - 24 bytes; with at least 24 bytes of headroom a
 * full-sized segment is output in place, without copying it into a datagram.
 *
 * A pool shared by many conversations (ferry's bridge: one for all flows of all peers)
 * must not let senders starve receivers, nor one sender the others, or two ends whose
 * pools are full of data for each other drop each other's segments and never free one:
 * - data sends (ferry_arq_send) leave a quarter of the pool free, for receiving and for
 *   control records, and each sending conversation holds at most an equal share of the
 *   rest (never less than FERRY_ARQ_SHARE_MIN): pool->senders counts the conversations
 *   holding send buffers;
 * - control records (ferry_arq_send_record: a flow's opening, answer, end) may use the
 *   quarter, down to the last 32nd of the pool;
 * - a received segment above a hole takes a buffer only while more than that 32nd is free;
 *   the segment that fills the hole, rcv_nxt, may take the last buffer. So reassembly
 *   always completes, in-order data always reaches the application, and the buffers
 *   return.
 */
#ifndef FERRY_TRANSPORT_ARQ_H
#define FERRY_TRANSPORT_ARQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "transport/pool.h"
#include "transport/wire.h"

enum {
	FERRY_ARQ_MTU_MIN = 50, /* smallest datagram the engine will build */
	FERRY_ARQ_MTU_MAX = 65535,
	/* ferry_arq_config_init's mtu, for the ARQ's own tests and a standalone user: ferry's
	 * conversations take their link's record body instead (stack/bridge.c, docs/mtu.md) */
	FERRY_ARQ_MTU_DEFAULT = 1400,
	FERRY_ARQ_WND_MAX = 32768,	/* segments, for snd_wnd and rcv_wnd */
	FERRY_ARQ_RTO_INIT = 200,	/* ms, before the first RTT sample (KCP's value) */
	FERRY_ARQ_RTO_MAX = 60000,	/* ms */
	FERRY_ARQ_RTO_MIN_NORMAL = 100, /* ms, minimum RTO with nodelay = 0 */
	FERRY_ARQ_RTO_MIN_NODELAY = 30, /* ms, minimum RTO with nodelay = 1 */
	FERRY_ARQ_PROBE_INIT = 1000,	/* ms before the first zero-window probe */
	FERRY_ARQ_PROBE_MAX = 60000,	/* ms, probe interval ceiling */
	FERRY_ARQ_THIN = 4,		/* segments in flight and queued: a thin flow at most */
	FERRY_ARQ_THIN_COPY_MS = 2,	/* how long after a thin flow's segment its copy leaves */
	FERRY_ARQ_SHARE_MIN = 8,	/* send buffers each conversation may hold in any case */
};

/* One segment header as decoded from or encoded to the wire. */
struct ferry_arq_seg {
	uint32_t conv;
	uint8_t cmd;
	uint8_t frg;
	uint16_t wnd;
	uint32_t ts;
	uint32_t sn;
	uint32_t una;
	uint32_t len; /* payload bytes following the header */
};

/* Writes the 24-byte header of hdr at p (the caller places hdr->len payload bytes after
 * it). */
void ferry_arq_hdr_write(uint8_t *p, const struct ferry_arq_seg *hdr);

/* Appends one segment (header + hdr->len bytes of payload, which may be NULL when len is
 * 0) at out. Usable by a multiplexer building its own datagrams.
 * Returns bytes written (24 + len), or -ENOSPC if cap is too small. */
ssize_t ferry_arq_seg_encode(uint8_t *out, size_t cap, const struct ferry_arq_seg *hdr,
			     const uint8_t *payload);

/* Decodes the segment header at in[0..len); its payload starts at in + 24.
 * Returns the segment's total size (24 + hdr->len), or -EMSGSIZE when the header or the
 * payload it announces does not fit in len. */
ssize_t ferry_arq_seg_decode(const uint8_t *in, size_t len, struct ferry_arq_seg *hdr);

/* Reads the conv of the first segment of a datagram (for routing to a conversation).
 * Returns 0, or -EMSGSIZE if the datagram is shorter than a header. */
int ferry_arq_peek_conv(const uint8_t *dgram, size_t len, uint32_t *conv);

enum ferry_arq_profile {
	FERRY_ARQ_PROFILE_NORMAL, /* nodelay 0, interval 40, resend 2, nc 1 */
	FERRY_ARQ_PROFILE_FAST,	  /* 0, 30, 2, 1 */
	FERRY_ARQ_PROFILE_FAST2,  /* 1, 20, 2, 1 */
	FERRY_ARQ_PROFILE_FAST3,  /* 1, 10, 2, 1 */
	FERRY_ARQ_PROFILE_MANUAL, /* defaults of normal; the caller sets the four knobs */
};

struct ferry_arq_config {
	uint32_t mtu;		/* largest datagram handed to output, bytes */
	uint32_t snd_wnd;	/* segments in flight (sent, unacked) at most; the span
				   snd_nxt - snd_una stays below 4 * snd_wnd */
	uint32_t rcv_wnd;	/* segments held for the application at most */
	uint32_t snd_queue_max; /* segments accepted by send but not yet in flight */
	uint32_t nodelay;	/* 0: RTO doubles on timeout; 1: grows x1.5 */
	uint32_t interval;	/* ms: RTO clock granularity, partial-segment wait */
	uint32_t resend;	/* fast retransmit after this many later ACK batches; 0 off */
	uint32_t nc;		/* 1: no congestion window (KCP's nc) */
	uint32_t min_rto;	/* ms; 0 = from nodelay (30 or 100) */
	uint32_t fast_limit;	/* a segment is fast-retransmitted while xmit <= this */
	uint32_t dead_link;	/* peer dead once a segment sent this often times out again */
	uint32_t dead_time;	/* ms the oldest unacked segment (or unanswered probing) may
				   last before the peer is declared dead; 0 off */
	uint32_t ack_delay;	/* ms an ACK may wait to share a datagram; 0 = next update */
	uint32_t ack_repeat;	/* repeats of an out-of-order segment's ACK, 0..4 */
	uint32_t rmt_wnd_init;	/* peer window assumed before its first segment */
	uint32_t initial_sn;	/* first sn both ends use (0 on the wire with KCP peers) */
	bool stream;		/* byte stream (frg 0) instead of messages */
	bool thin_copy;		/* a thin flow's segments are each sent twice (see above) */
};

struct ferry_arq_stats {
	uint64_t dgrams_out, bytes_out;	   /* datagrams handed to output, their bytes */
	uint64_t dgrams_in, bytes_in;	   /* datagrams given to input */
	uint64_t segs_sent;		   /* first transmissions of PUSH segments */
	uint64_t segs_rto;		   /* retransmissions on timeout */
	uint64_t segs_fast;		   /* fast retransmissions */
	uint64_t segs_copied;		   /* copies of a thin flow's segments (thin_copy) */
	uint64_t copies_held;		   /* ... not sent: thin flows were held (hold_thin) */
	uint64_t acks_sent, acks_recv;	   /* ACK segments */
	uint64_t acks_repeated;		   /* repeated ACKs of out-of-order segments */
	uint64_t segs_recv;		   /* valid PUSH segments received */
	uint64_t segs_dup;		   /* PUSH already received (acked again, dropped) */
	uint64_t probes_sent, wins_sent;   /* WASK, WINS */
	uint64_t payload_sent;		   /* bytes accepted by ferry_arq_send */
	uint64_t payload_recv;		   /* bytes returned by ferry_arq_recv */
	uint64_t drop_truncated;	   /* header or payload cut short */
	uint64_t drop_malformed;	   /* bad cmd, oversized PUSH, data on control, bad una */
	uint64_t drop_conv;		   /* segment of another conversation */
	uint64_t drop_window;		   /* PUSH beyond our receive window */
	uint64_t drop_nobuf;		   /* PUSH dropped: pool empty */
	uint64_t output_errors;		   /* output callback returned an error */
	uint32_t srtt, rttvar, rto;	   /* ms */
	uint32_t cwnd, inflight, rmt_wnd;  /* segments */
	uint32_t snd_queue, rcv_held;	   /* segments queued to send / held for the app */
	uint32_t sring_slots, rring_slots; /* the rings' sizes now (they grow with use) */
};

/* Called with one complete datagram (valid only during the call). Returns 0 or a negative
 * errno (counted; the datagram is considered lost). Must not call back into the same
 * conversation. */
typedef int (*ferry_arq_output_fn)(void *ctx, const uint8_t *dgram, size_t len);

struct ferry_arq;

/* Fills cfg with the defaults of a profile (mtu FERRY_ARQ_MTU_DEFAULT, snd_wnd 128,
 * rcv_wnd 256, stream).
 * Returns 0, or -EINVAL for an unknown profile. */
int ferry_arq_config_init(struct ferry_arq_config *cfg, enum ferry_arq_profile profile);

/* Creates a conversation; segment buffers come from pool (payload >= mtu - 24).
 * Returns 0, -EINVAL for a bad config or too small pool buffers, -ENOMEM. */
int ferry_arq_create(struct ferry_arq **out, uint32_t conv, const struct ferry_arq_config *cfg,
		     struct ferry_pool *pool, ferry_arq_output_fn output, void *ctx);

/* Returns every buffer to the pool and frees the conversation. NULL is ignored. */
void ferry_arq_destroy(struct ferry_arq *arq);

/* Queues application bytes. Stream mode accepts what fits; message mode all or nothing
 * (one message of at most min(255, snd_wnd) segments). Returns bytes accepted (> 0;
 * 0 only for len 0), -EAGAIN when the queue or the pool is full (backpressure),
 * -EMSGSIZE for a message too large, or the conversation's error (-ETIMEDOUT). */
ssize_t ferry_arq_send(struct ferry_arq *arq, const void *data, size_t len);

/* Stream mode: how many bytes ferry_arq_send would accept now (the partial tail's room,
 * the send queue's room, the conversation's share of the pool), so a caller can write a
 * record and its header as one. 0 when nothing fits or the conversation failed. */
size_t ferry_arq_send_space(const struct ferry_arq *arq);

/* The buffers of a shared pool that data sends may take when none is in use (all but the
 * reserve). */
uint32_t ferry_arq_pool_data_max(const struct ferry_pool *pool);

/* The buffers of a shared pool that data sends may still take (the free ones above the
 * reserve), whichever conversation asks. */
uint32_t ferry_arq_pool_data_room(const struct ferry_pool *pool);

/* Stream mode: the most ferry_arq_send_space could grow to as this conversation's own
 * data is acknowledged (its share of the pool, the send queue's bound), in bytes. */
size_t ferry_arq_send_space_max(const struct ferry_arq *arq);

/* Stream mode: queues a small control record (at most one MSS) whole, or nothing: unlike
 * ferry_arq_send it may use the pool's reserve above (a flow's opening must not wait
 * behind bulk data). Returns len, -EAGAIN, -EMSGSIZE or the conversation's error. */
ssize_t ferry_arq_send_record(struct ferry_arq *arq, const void *data, size_t len);

/* Asks the peer for its window (a WASK) at the next flush: a peer that knows the
 * conversation answers, one that does not says so (ferry's bridge: TCP_UNKNOWN). */
void ferry_arq_ask_window(struct ferry_arq *arq);

/* Whether ferry_arq_send_record would take a record of len bytes now. */
bool ferry_arq_send_record_fits(const struct ferry_arq *arq, size_t len);

/* Stream mode: the in-order bytes at the head of what was received, without taking them
 * (*data points into the engine until the next call that changes it). Returns how many
 * are contiguous at *data (0: none ready). Segments that carried no bytes are skipped. */
size_t ferry_arq_peek(struct ferry_arq *arq, const uint8_t **data);

/* Stream mode: takes n bytes (at most what peek returned) from the head, as recv would. */
void ferry_arq_consume(struct ferry_arq *arq, size_t n);

/* Copies in-order bytes out (stream: up to cap; message: one whole message).
 * Returns bytes copied, -EAGAIN when nothing is ready, -EMSGSIZE when the next message
 * exceeds cap, or the conversation's error once nothing is left to read. */
ssize_t ferry_arq_recv(struct ferry_arq *arq, void *buf, size_t cap);

/* Parses one datagram's segments for this conversation; bad ones are counted in stats
 * and dropped. Returns 0, or the conversation's error. */
int ferry_arq_input(struct ferry_arq *arq, const uint8_t *data, size_t len, uint64_t now);

/* Runs timers and transmits whatever is due at now. Returns 0 or the conversation's error
 * (-ETIMEDOUT once the peer is declared dead; nothing is sent after that). */
int ferry_arq_timer(struct ferry_arq *arq, uint64_t now);

/* Like update, but transmits pending ACKs, due retransmissions and sendable data now,
 * partial segments included. Returns 0 or the conversation's error. */
int ferry_arq_flush(struct ferry_arq *arq, uint64_t now);

/* The time update must run next: <= now when something is due, UINT64_MAX when the
 * conversation is idle or dead. Valid until the next call that changes the state. */
uint64_t ferry_arq_next_deadline(const struct ferry_arq *arq, uint64_t now);

/* Limits how many data segments the next flushes may send (UINT32_MAX, the initial value:
 * no limit); each retransmission and each new segment uses one up, retransmissions first.
 * ACKs, window messages and a thin flow's segments (and their copies) need none, unless thin
 * flows are held (ferry_arq_hold_thin). A caller
 * that shares one link among conversations gives each the link's room before running it; a
 * conversation out of credit keeps its segments (due retransmissions in order) and reports no
 * deadline for them, so the caller runs it again once the link has room (ferry_arq_wants_credit).
 */
void ferry_arq_set_credit(struct ferry_arq *arq, uint32_t segments);

/* While hold, a thin flow needs credit like any other, and its copies are not sent (those
 * already due are forgotten): the caller holds thin flows while the link's queue for them,
 * ahead of bulk, is backed up, since nothing else would bound what thousands of thin flows
 * put there at once. Not held initially. */
void ferry_arq_hold_thin(struct ferry_arq *arq, bool hold);

/* Whether the conversation is a thin flow now (above): what it outputs may go ahead of
 * bulk data. */
bool ferry_arq_thin(const struct ferry_arq *arq);

/* The credit left. */
uint32_t ferry_arq_credit(const struct ferry_arq *arq);

/* Whether segments wait that the windows would let go: retransmissions due, or new data. */
bool ferry_arq_wants_credit(const struct ferry_arq *arq);

/* 0 while the conversation works, or its error (-ETIMEDOUT: dead peer). */
int ferry_arq_error(const struct ferry_arq *arq);

/* Segments queued or in flight (0 once everything sent was acknowledged). */
uint32_t ferry_arq_pending(const struct ferry_arq *arq);

/* Copies the counters and the current RTT, window and queue figures. */
void ferry_arq_stats(const struct ferry_arq *arq, struct ferry_arq_stats *out);

#endif
