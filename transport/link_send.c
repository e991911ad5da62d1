// SPDX-License-Identifier: MIT
/*
 * The secure link's send path (the link as a whole is described at the top of link.c).
 * ferry_link_send_segments and ferry_link_send_datagram append records to one open
 * payload per pacer class; a full payload, or ferry_link_flush, closes it. A closed
 * payload goes through the FEC encoder, or waits in the bounded wait queue while no
 * session is usable (link.c is asked for a handshake). The encoder hands every shard
 * back through ferry_link_emit, which gives it to ferry_link_transmit: into the set's
 * output batch at once if the pacer admits it, else queued there until
 * ferry_link_pacer_run releases it. A data message is sealed only as it leaves (seal()),
 * so its counter is its place in wire order, and the controller notes it there; LOW
 * traffic waits in the pacer while the controller's window is full. The ACK records this
 * link owes its peer join the HIGH payload at a flush. output() is where every datagram
 * of a link joins the batch (cookie replies to unknown sources join it from
 * link_recv.c), and where the keepalive timers learn that something was sent. The batch
 * leaves through the set's ops.output at a flush or when it is full.
 */
#include <errno.h>
#include <string.h>

#include "transport/link.h"
#include "transport/link_internal.h"
#include "transport/mux.h"

/* ------------------------------ output batch ------------------------------------ */

void ferry_link_out_flush(struct ferry_link_set *set)
{
	struct ferry_link_out *o = &set->out;
	unsigned taken, i;

	if (!o->n)
		return;
	taken = set->ops.output(set->ops.ctx, o->bufs, o->to, o->n);
	set->stats.out_batches++;
	if (taken < o->n)
		set->stats.out_refused += o->n - taken;
	for (i = 0; i < o->n; i++)
		ferry_pool_put(o->pools[i], o->bufs[i]);
	o->n = 0;
}

void ferry_link_out_add(struct ferry_link_set *set, struct ferry_pool *pool, struct ferry_buf *b,
			const struct ferry_sockaddr *to)
{
	struct ferry_link_out *o = &set->out;

	o->bufs[o->n] = b;
	o->pools[o->n] = pool;
	o->to[o->n] = *to;
	if (++o->n == FERRY_LINK_OUT_BATCH)
		ferry_link_out_flush(set);
}

/* ------------------------------ transmit ---------------------------------------- */

/* Whether a payload holds a record that asks for an acknowledgement: anything but link
 * ACK records, padding and ARQ records without data (ACKs, window messages). A payload
 * without one is control: like QUIC's ACK-only packets, it is neither paced nor counted
 * in flight, and the peer does not acknowledge it. */
static bool payload_elicits(const uint8_t *payload, size_t len)
{
	struct ferry_mux_record rec;
	size_t off = 0;

	while (ferry_mux_next(payload, len, &off, &rec) > 0) {
		if (rec.kind == FERRY_REC_ACK || rec.kind == FERRY_REC_PAD)
			continue;
		if (rec.kind == FERRY_REC_ARQ && ferry_mux_arq_is_control(rec.body, rec.len))
			continue;
		return true;
	}
	return false;
}

/* How a FEC shard about to be sealed counts for the controller. A data shard asks the
 * peer for an acknowledgement unless its payload holds nothing but ACK records (or
 * padding). Parity asks for none (the receiver cannot tell whether its group held
 * anything but ACKs, and acknowledging an ACK's parity would never end) but is in flight
 * like data: the next acknowledgement covers it. */
static enum ferry_cc_track shard_track(const uint8_t *shard, uint32_t len)
{
	size_t plen;

	if (len < FERRY_FEC_DATA_OVERHEAD)
		return FERRY_CC_UNTRACKED;
	if (shard[FERRY_FEC_OFF_INDEX] >= shard[FERRY_FEC_OFF_D])
		return FERRY_CC_QUIET;
	plen = ferry_wire_get_le16(shard + FERRY_FEC_HDR_LEN);
	if (plen > len - FERRY_FEC_DATA_OVERHEAD)
		return FERRY_CC_TRACKED;
	return payload_elicits(shard + FERRY_FEC_DATA_OVERHEAD, plen) ? FERRY_CC_TRACKED
								      : FERRY_CC_UNTRACKED;
}

/* Lets LOW traffic go while the controller's window has room, holds it otherwise. */
static void cwnd_check(struct ferry_link *link)
{
	bool hold = !ferry_cc_can_send(&link->cc);

	if (hold && !link->pacer.held[FERRY_PACER_LOW])
		link->stats.cwnd_held++;
	ferry_pacer_hold(&link->pacer, FERRY_PACER_LOW, hold);
}

/* Seals a data message in b in place (a FEC shard, or empty: a keepalive) and tells the
 * controller; b->user holds how it counts (ferry_link_transmit read it from the shard).
 * Returns false when it could not be sealed (counted). */
static bool seal(struct ferry_link *link, struct ferry_buf *b)
{
	enum ferry_cc_track track = (enum ferry_cc_track)b->user;
	const uint8_t *h;

	if (ferry_noise_seal(&link->peer, link->now, b)) {
		link->stats.seal_errors++;
		return false;
	}
	if (track == FERRY_CC_UNTRACKED && b->len > FERRY_DATA_OVERHEAD)
		link->stats.ack_only_out++;
	/* nothing else waits to leave behind this one: what it measures is the senders, not
	 * the path (a ping every 200 ms must not pass for the path's bandwidth) */
	if (track != FERRY_CC_UNTRACKED && !ferry_pacer_depth(&link->pacer, FERRY_PACER_LOW) &&
	    !ferry_pacer_depth(&link->pacer, FERRY_PACER_HIGH))
		ferry_cc_app_limited(&link->cc);
	h = b->data;
	ferry_cc_on_sent(&link->cc, ferry_wire_get_le32(h + 4), ferry_wire_get_le64(h + 8),
			 b->len + ferry_link_headers(link), track, link->now);
	if (track != FERRY_CC_UNTRACKED)
		cwnd_check(link);
	return true;
}

/* One datagram toward the peer, into the set's output batch: b, a pool buffer of this
 * link, is handed over; `sealing`: it is a data message still to be sealed. */
static void output(struct ferry_link *link, struct ferry_buf *b, bool sealing)
{
	if (!link->endpoint.len) {
		link->stats.no_endpoint++;
		ferry_pool_put(&link->pool, b);
		return;
	}
	if (sealing && !seal(link, b)) {
		ferry_pool_put(&link->pool, b);
		return;
	}
	ferry_link_out_add(link->set, &link->pool, b, &link->endpoint);
	link->stats.dgrams_out++;
	link->stats.bytes_out += b->len;
	link->last_sent_ms = link->now;
	link->have_sent = true;
	link->recv_unanswered_ms = 0;
}

void ferry_link_pacer_run(struct ferry_link *link)
{
	struct ferry_buf *b;

	cwnd_check(link); /* the window may have opened without an ACK: a new session, a timer */
	while ((b = ferry_pacer_dequeue(&link->pacer, link->now)))
		output(link, b, true);
}

/* Sends msg now if the pacer allows, else queues it: `own` (a pool buffer of this link
 * holding msg) is handed over, otherwise msg is copied into one. `sealing`: msg is a data
 * message still to be sealed (the pacer charges its seal and the path's headers). Control
 * (a shard of ACKs only, see payload_elicits) and anything not sealed (a handshake message:
 * small, rare and urgent) go at once, unpaced. Returns true when own was taken. */
bool ferry_link_transmit(struct ferry_link *link, const uint8_t *msg, uint32_t len,
			 struct ferry_buf *own, enum ferry_pacer_class cls, bool sealing)
{
	struct ferry_buf *b = own;

	if (!b) {
		b = ferry_pool_get(&link->pool);
		if (!b) {
			link->stats.pool_empty++;
			return false;
		}
		memcpy(ferry_buf_put(b, len), msg, len);
	}
	/* how the controller counts it, read once from the shard: kept with the buffer for
	 * seal(), whether it leaves now or from the pacer's queue */
	b->user = sealing && len ? shard_track(msg, len) : FERRY_CC_UNTRACKED;
	if (!sealing || (len && b->user == FERRY_CC_UNTRACKED) ||
	    ferry_pacer_admit(&link->pacer, cls, len + link->pacer.grow, link->now)) {
		output(link, b, sealing);
		return own != NULL;
	}
	if (ferry_pacer_enqueue(&link->pacer, cls, b)) {
		link->stats.pacer_dropped++;
		if (cls == FERRY_PACER_HIGH)
			link->stats.pacer_dropped_high++;
		if (!own)
			ferry_pool_put(&link->pool, b);
		return false;
	}
	link->stats.pacer_delayed++;
	return own != NULL;
}

void ferry_link_send_keepalive(struct ferry_link *link)
{
	struct ferry_buf *b = ferry_pool_get(&link->pool);

	/* counts as sent even if it waits in the pacer or fails: the keepalive timers must
	 * move on, or a timer would find the same keepalive due again at once */
	link->last_sent_ms = link->now;
	link->have_sent = true;
	link->recv_unanswered_ms = 0;
	if (!b) {
		link->stats.pool_empty++;
		return;
	}
	link->stats.keepalives_out++;
	if (!ferry_link_transmit(link, b->data, 0, b, FERRY_PACER_HIGH, true))
		ferry_pool_put(&link->pool, b);
}

/* ------------------------------- send path -------------------------------------- */

/* FEC hands down one shard: to the pacer, to be sealed as it leaves. */
void ferry_link_emit(void *ctx, struct ferry_buf *shard)
{
	struct ferry_link *link = ctx;
	bool data = shard == link->enc_cur;
	enum ferry_pacer_class cls;

	if (data) {
		cls = link->enc_class;
		if (shard->data[FERRY_FEC_OFF_INDEX] == 0)
			link->group_low = link->group_urgent = false; /* a new group */
		if (cls == FERRY_PACER_LOW)
			link->group_low = true;
		if (link->enc_urgent)
			link->group_urgent = true;
	} else {
		/* parity never overtakes a data shard of its group that may still wait in the
		 * LOW queue; a group of HIGH shards alone has HIGH parity */
		cls = link->group_low ? FERRY_PACER_LOW : FERRY_PACER_HIGH;
	}
	if (data)
		link->stats.data_out++;
	else
		link->stats.parity_out++;
	if (ferry_link_transmit(link, shard->data, shard->len, data ? shard : NULL, cls, true))
		link->enc_taken = true;
}

/* Parity that follows the loss the controller measures, where it is the cheapest repair.
 * A group that holds bulk ARQ data gets none while more bulk waits behind it: the ARQ
 * resends exactly what was lost, while a parity shard costs a whole shard of the
 * bottleneck and rebuilds little (one parity per ten rebuilds a group only when it lost
 * exactly one shard: 10 q (1 - q)^10 data shards per parity shard at loss q, 0.30 at 5%).
 * Other groups get as many parity shards as the loss takes data shards from them, rounded
 * (none below 5% with D = 10). A group closed while nothing more waits to be sent is the
 * end of a burst (the last segments of a response, a lone DNS reply): one more if the
 * timer closed it short, so a loss there costs no round trip. A group holding a thin
 * flow's data or a datagram (urgent: a request, keystrokes, UDP) gets one more from 2%
 * loss on, bulk beside it or not: a thin segment's copy alone leaves it a q^2 chance of a
 * retransmission timeout (0.25% per direction at 5%: a request/response p99 of 2.3 round
 * trips in 400, measured), and the datagram channel has no other repair. Up to FecParity.
 * cls, urgent: the payload about to be encoded. */
static void fec_follow_loss(struct ferry_link *link, enum ferry_pacer_class cls, bool urgent)
{
	uint32_t d = link->cfg.fec_data, loss = link->cc.loss_pm;
	uint32_t full = (d * loss + 500) / 1000, tail;
	bool more = ferry_pacer_depth(&link->pacer, FERRY_PACER_LOW) > 0;
	bool open = link->enc.count > 0;
	bool bulk = cls == FERRY_PACER_LOW || (open && link->group_low);

	if (urgent || (open && link->group_urgent)) {
		/* the loss either way: an end that sends little (a server under a download)
		 * measures none of its own */
		if (loss >= FERRY_LINK_URGENT_LOSS_PM ||
		    link->acks.loss_pm >= FERRY_LINK_URGENT_LOSS_PM)
			full++;
	} else if (bulk && more) {
		full = 0;
	}
	if (link->cfg.fec_fixed)
		return; /* the encoder sends all P, as it starts */
	if (full > 253)
		full = 253;
	tail = more ? full : full + 1;
	ferry_fec_encoder_set_send(&link->enc, (uint8_t)full, (uint8_t)tail);
}

/* Sends one closed payload through FEC; the buffer is consumed. */
static void encode(struct ferry_link *link, struct ferry_buf *b, enum ferry_pacer_class cls,
		   bool urgent)
{
	bool elicits = payload_elicits(b->data, b->len);

	link->enc_cur = b;
	link->enc_class = cls;
	link->enc_urgent = urgent;
	link->enc_taken = false;
	fec_follow_loss(link, cls, urgent);
	ferry_fec_encode(&link->enc, b, link->now); /* errors are counted by the encoder */
	link->enc_cur = NULL;
	if (!link->enc_taken)
		ferry_pool_put(&link->pool, b);
	/* an answer is awaited for what asks for one; ACK records alone ask for nothing */
	if (elicits && !link->unanswered_ms)
		link->unanswered_ms = link->now;
}

void ferry_link_wait_drop_all(struct ferry_link *link)
{
	link->stats.wait_dropped += link->wait_count;
	ferry_pool_put_chain(&link->pool, link->wait_head);
	link->wait_head = link->wait_tail = NULL;
	link->wait_count = 0;
}

/* A waiting payload's class and urgency, in its buffer's user field. */
enum {
	WAIT_URGENT = 0x100
};

static void wait_push(struct ferry_link *link, struct ferry_buf *b, enum ferry_pacer_class cls,
		      bool urgent)
{
	if (link->wait_count >= link->cfg.wait_queue) {
		link->stats.wait_dropped++;
		ferry_pool_put(&link->pool, b);
		return;
	}
	if (!link->wait_count)
		link->wait_since_ms = link->now;
	b->user = (uint32_t)cls | (urgent ? WAIT_URGENT : 0);
	b->next = NULL;
	if (link->wait_tail)
		link->wait_tail->next = b;
	else
		link->wait_head = b;
	link->wait_tail = b;
	link->wait_count++;
	link->stats.wait_queued++;
}

void ferry_link_wait_drain(struct ferry_link *link)
{
	while (link->wait_head && session_usable(link)) {
		struct ferry_buf *b = link->wait_head;

		link->wait_head = b->next;
		if (!link->wait_head)
			link->wait_tail = NULL;
		link->wait_count--;
		b->next = NULL;
		encode(link, b, (enum ferry_pacer_class)(b->user & ~(uint32_t)WAIT_URGENT),
		       b->user & WAIT_URGENT);
	}
}

static void submit_payload(struct ferry_link *link, struct ferry_buf *b, enum ferry_pacer_class cls,
			   bool urgent)
{
	link->stats.payloads_out++;
	if (!session_usable(link)) {
		wait_push(link, b, cls, urgent);
		ferry_link_want_session(link);
		return;
	}
	if (ferry_noise_session_should_rekey(link->peer.current, link->now))
		ferry_link_want_session(link);
	encode(link, b, cls, urgent);
}

static void close_payload(struct ferry_link *link, enum ferry_pacer_class cls)
{
	struct ferry_buf *b = link->open[cls];
	bool urgent = cls == FERRY_PACER_HIGH && link->open_urgent;

	if (!b)
		return;
	link->open[cls] = NULL;
	if (cls == FERRY_PACER_HIGH)
		link->open_urgent = false;
	if (!b->len) {
		ferry_pool_put(&link->pool, b);
		return;
	}
	submit_payload(link, b, cls, urgent);
}

/* Appends a record to the open payload of cls (urgent: see fec_follow_loss). */
static int add_record(struct ferry_link *link, enum ferry_pacer_class cls, uint8_t kind,
		      uint32_t flow_id, const uint8_t *body, size_t len, bool urgent)
{
	int attempt, err = -ENOSPC;

	for (attempt = 0; attempt < 2 && err == -ENOSPC; attempt++) {
		struct ferry_buf *b = link->open[cls];

		if (!b) {
			b = ferry_pool_get(&link->pool);
			if (!b) {
				link->stats.pool_empty++;
				return -ENOBUFS;
			}
			link->open[cls] = b;
		}
		if (kind == FERRY_REC_DATAGRAM)
			err = ferry_mux_append_datagram(b, link->sizes.payload, flow_id, body, len);
		else
			err = ferry_mux_append(b, link->sizes.payload, kind, body, len);
		if (err == -ENOSPC)
			close_payload(link, cls);
	}
	if (err) {
		link->stats.record_too_big++;
		return -EMSGSIZE;
	}
	if (urgent)
		link->open_urgent = true;
	link->stats.records_out[kind]++;
	return 0;
}

/* ------------------------------ acknowledgements ---------------------------------- */

/* The ACK record goes in a payload of its own, which leaves at once, unpaced (an ACK-only
 * shard: ferry_link_transmit). Put into the open HIGH payload beside a thin flow's data, it
 * would wait with that data in the pacer's queue, and the delay it carries (the time since
 * its newest datagram came) would not count that wait: the peer would take it for a
 * queue on the path, lower its rate, and with it the pace that drains our queue -- with
 * thousands of small flows, a spiral down to a few Mbit/s (docs/soak.md). */
void ferry_link_ack_maybe(struct ferry_link *link, bool force)
{
	uint8_t body[FERRY_ACK_RECORD_MAX];
	struct ferry_buf *b;
	size_t len;

	if (!link->acks.any || !session_usable(link) ||
	    !(ferry_ack_due(&link->acks, link->now) || (force && link->acks.pending)))
		return;
	len = ferry_ack_write(&link->acks, body, sizeof(body), link->now);
	if (!len)
		return;
	b = ferry_pool_get(&link->pool);
	if (!b) {
		link->stats.pool_empty++;
		return;
	}
	if (ferry_mux_append(b, link->sizes.payload, FERRY_REC_ACK, body, len)) {
		link->stats.record_too_big++; /* cannot happen: an ACK record fits a payload */
		ferry_pool_put(&link->pool, b);
		return;
	}
	link->stats.records_out[FERRY_REC_ACK]++;
	submit_payload(link, b, FERRY_PACER_HIGH, false);
}

void ferry_link_ack_in(struct ferry_link *link, const uint8_t *body, size_t len)
{
	struct ferry_ack ack;

	if (ferry_ack_parse(body, len, &ack)) {
		link->stats.ack_malformed++;
		return;
	}
	link->stats.records_in[FERRY_REC_ACK]++;
	ferry_cc_on_ack(&link->cc, &ack, link->now);
	ferry_link_cc_apply(link);
}

void ferry_link_cc_apply(struct ferry_link *link)
{
	uint64_t rate = ferry_cc_pacing_rate(&link->cc);

	if (rate != link->pacer.rate ||
	    link->pacer.grow != FERRY_WIRE_SEAL_OVERHEAD + ferry_link_headers(link)) {
		struct ferry_pacer_config pc = {
		    .rate = rate,
		    .burst = link->cfg.burst,
		    .min_burst = link->sizes.udp_payload,
		    .queue_limit = link->cfg.pacer_queue,
		    .grow = FERRY_WIRE_SEAL_OVERHEAD + ferry_link_headers(link),
		};

		if (!pc.burst && link->cfg.congestion == FERRY_CC_BBR)
			pc.burst = (uint32_t)(rate * FERRY_LINK_BURST_MS / 1000 < UINT32_MAX
						  ? rate * FERRY_LINK_BURST_MS / 1000
						  : UINT32_MAX);
		/* never less than two datagrams: the loop wakes in whole milliseconds, and a
		 * bucket that holds one loses what accrues between its filling and the wake.
		 * Below 6 Mbit/s (where 2 ms of the rate is under a datagram) that took up to a
		 * third of the rate, and BBR, measuring what left, settled there: a path of
		 * 4.4 Mbit/s was used at 3.87, and so was the soak's of 100 (docs/soak.md) */
		if (pc.burst && pc.burst < 2 * (pc.min_burst + pc.grow))
			pc.burst = 2 * (pc.min_burst + pc.grow);
		(void)ferry_pacer_set_rate(&link->pacer, &pc,
					   link->now); /* valid by construction */
	}
	cwnd_check(link);
	ferry_link_pacer_run(link);
}

/* ------------------------------ records in -------------------------------------- */

int ferry_link_send_segments(struct ferry_link *link, const uint8_t *segs, size_t len, bool thin,
			     uint64_t now)
{
	enum ferry_pacer_class cls;
	bool control;
	int err;

	link->now = now;
	if (!len || len > link->sizes.record_body) {
		link->stats.record_too_big++;
		return -EMSGSIZE;
	}
	/* ACKs and window messages, and a thin flow's few segments, go ahead of bulk data */
	control = ferry_mux_arq_is_control(segs, len);
	cls = thin || control ? FERRY_PACER_HIGH : FERRY_PACER_LOW;
	err = add_record(link, cls, FERRY_REC_ARQ, 0, segs, len, thin && !control);
	ferry_link_update_state(link);
	return err;
}

int ferry_link_send_datagram(struct ferry_link *link, uint32_t flow_id, const uint8_t *data,
			     size_t len, uint64_t now)
{
	int err;

	link->now = now;
	if (len > link->sizes.datagram) {
		link->stats.record_too_big++;
		return -EMSGSIZE;
	}
	err = add_record(link, FERRY_PACER_HIGH, FERRY_REC_DATAGRAM, flow_id, data, len, true);
	ferry_link_update_state(link);
	return err;
}

void ferry_link_close_payloads(struct ferry_link *link, uint64_t now)
{
	struct ferry_buf *hi = link->open[FERRY_PACER_HIGH], *lo = link->open[FERRY_PACER_LOW];

	link->now = now;
	ferry_link_ack_maybe(link, false);
	/* both half full: one datagram instead of two (records are self-delimiting, so the
	 * LOW records simply follow the HIGH ones and ride at HIGH priority) */
	if (hi && lo && hi->len + lo->len <= link->sizes.payload &&
	    lo->len <= ferry_buf_tailroom(hi)) {
		memcpy(ferry_buf_put(hi, lo->len), lo->data, lo->len);
		link->stats.payloads_merged++;
		link->open[FERRY_PACER_LOW] = NULL;
		ferry_pool_put(&link->pool, lo);
	}
	close_payload(link, FERRY_PACER_HIGH);
	close_payload(link, FERRY_PACER_LOW);
	ferry_link_pacer_run(link);
	ferry_link_update_state(link);
}

void ferry_link_flush(struct ferry_link *link, uint64_t now)
{
	ferry_link_close_payloads(link, now);
	ferry_link_out_flush(link->set);
}

uint32_t ferry_link_urgent_room(const struct ferry_link *link)
{
	uint32_t depth = ferry_pacer_depth(&link->pacer, FERRY_PACER_HIGH);
	uint32_t target = link->pacer.queue_limit / 2;

	return depth < target ? target - depth : 0;
}

uint32_t ferry_link_room(const struct ferry_link *link)
{
	uint32_t depth = ferry_pacer_depth(&link->pacer, FERRY_PACER_LOW), target, urgent;
	uint64_t t;

	if (link->wait_count > link->cfg.wait_queue / 2)
		return 0;
	/* what waits ahead of bulk leaves first: while it is backed up, nothing else goes */
	urgent = ferry_link_urgent_room(link);
	if (!urgent)
		return 0;
	if (!link->pacer.rate) {
		target = link->pacer.queue_limit / 2;
	} else {
		t = link->pacer.rate * FERRY_LINK_QUEUE_MS / 1000 / link->sizes.udp_payload;
		target = t < FERRY_LINK_QUEUE_MIN	   ? FERRY_LINK_QUEUE_MIN
			 : t > link->pacer.queue_limit / 2 ? link->pacer.queue_limit / 2
							   : (uint32_t)t;
	}
	if (depth >= target)
		return 0;
	return target - depth < urgent ? target - depth : urgent;
}

bool ferry_link_congested(const struct ferry_link *link)
{
	return ferry_link_room(link) == 0;
}

void ferry_link_cc_info(const struct ferry_link *link, struct ferry_cc_info *out)
{
	ferry_cc_info(&link->cc, out);
}

uint32_t ferry_link_arq_mtu(const struct ferry_link *link)
{
	return link->sizes.record_body;
}

uint32_t ferry_link_datagram_max(const struct ferry_link *link)
{
	return link->sizes.datagram;
}
