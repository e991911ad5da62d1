// SPDX-License-Identifier: MIT
/*
 * The secure link's send path (the link as a whole is described at the top of link.c).
 * ferry_link_send_segments and ferry_link_send_datagram append records to one open
 * payload per pacer class; a full payload, or ferry_link_flush, closes it. A closed
 * payload goes through the FEC encoder, or waits in the bounded wait queue while no
 * session is usable (link.c is asked for a handshake). The encoder hands every shard
 * back through ferry_link_emit, which seals it in place and gives it to
 * ferry_link_transmit: into the set's output batch at once if the pacer admits it, else
 * queued there until ferry_link_pacer_run releases it. output() is where every datagram
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

/* One sealed datagram toward the peer, into the set's output batch: `own` (a pool buffer
 * of this link holding exactly the datagram) is handed over, anything else is copied
 * into a buffer of the link's pool. Returns true when own was taken. */
static bool output(struct ferry_link *link, const uint8_t *msg, uint32_t len, struct ferry_buf *own)
{
	struct ferry_buf *b = own;

	if (!link->endpoint.len) {
		link->stats.no_endpoint++;
		return false;
	}
	if (!b) {
		b = ferry_pool_get(&link->pool);
		if (!b) {
			link->stats.pool_empty++;
			return false;
		}
		memcpy(ferry_buf_put(b, len), msg, len);
	}
	ferry_link_out_add(link->set, &link->pool, b, &link->endpoint);
	link->stats.dgrams_out++;
	link->stats.bytes_out += len;
	link->last_sent_ms = link->now;
	link->have_sent = true;
	link->recv_unanswered_ms = 0;
	return own != NULL;
}

void ferry_link_pacer_run(struct ferry_link *link)
{
	struct ferry_buf *b;

	while ((b = ferry_pacer_dequeue(&link->pacer, link->now)))
		if (!output(link, b->data, b->len, b))
			ferry_pool_put(&link->pool, b);
}

/* Sends msg now if the pacer allows, else queues it: `own` (a pool buffer of this link
 * holding msg) is handed over, otherwise msg is copied. Returns true when own was taken. */
bool ferry_link_transmit(struct ferry_link *link, const uint8_t *msg, uint32_t len,
			 struct ferry_buf *own, enum ferry_pacer_class cls)
{
	struct ferry_buf *q = own;

	if (ferry_pacer_admit(&link->pacer, cls, len, link->now))
		return output(link, msg, len, own);
	if (!q) {
		q = ferry_pool_get(&link->pool);
		if (!q) {
			link->stats.pool_empty++;
			return false;
		}
		memcpy(ferry_buf_put(q, len), msg, len);
	}
	if (ferry_pacer_enqueue(&link->pacer, cls, q)) {
		link->stats.pacer_dropped++;
		if (!own)
			ferry_pool_put(&link->pool, q);
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
	if (ferry_noise_seal(&link->peer, link->now, b)) {
		link->stats.seal_errors++;
		ferry_pool_put(&link->pool, b);
		return;
	}
	link->stats.keepalives_out++;
	if (!ferry_link_transmit(link, b->data, b->len, b, FERRY_PACER_HIGH))
		ferry_pool_put(&link->pool, b);
}

/* ------------------------------- send path -------------------------------------- */

/* FEC hands down one shard: seal it in place and pass it to the pacer. */
void ferry_link_emit(void *ctx, struct ferry_buf *shard)
{
	struct ferry_link *link = ctx;
	bool data = shard == link->enc_cur;
	enum ferry_pacer_class cls;
	bool last_parity = false;

	if (data) {
		cls = link->enc_class;
		if (cls == FERRY_PACER_HIGH)
			link->group_high = true;
	} else {
		const uint8_t *h = shard->data;

		cls = link->group_high ? FERRY_PACER_HIGH : FERRY_PACER_LOW;
		last_parity = h[FERRY_FEC_OFF_INDEX] + 1 == h[FERRY_FEC_OFF_D] + h[FERRY_FEC_OFF_P];
	}
	if (last_parity)
		link->group_high = false;
	if (ferry_noise_seal(&link->peer, link->now, shard)) {
		link->stats.seal_errors++;
		return;
	}
	if (data)
		link->stats.data_out++;
	else
		link->stats.parity_out++;
	if (ferry_link_transmit(link, shard->data, shard->len, data ? shard : NULL, cls))
		link->enc_taken = true;
}

/* Sends one closed payload through FEC; the buffer is consumed. */
static void encode(struct ferry_link *link, struct ferry_buf *b, enum ferry_pacer_class cls)
{
	link->enc_cur = b;
	link->enc_class = cls;
	link->enc_taken = false;
	ferry_fec_encode(&link->enc, b, link->now); /* errors are counted by the encoder */
	link->enc_cur = NULL;
	if (!link->enc_taken)
		ferry_pool_put(&link->pool, b);
	if (!link->unanswered_ms)
		link->unanswered_ms = link->now;
}

void ferry_link_wait_drop_all(struct ferry_link *link)
{
	link->stats.wait_dropped += link->wait_count;
	ferry_pool_put_chain(&link->pool, link->wait_head);
	link->wait_head = link->wait_tail = NULL;
	link->wait_count = 0;
}

static void wait_push(struct ferry_link *link, struct ferry_buf *b, enum ferry_pacer_class cls)
{
	if (link->wait_count >= link->cfg.wait_queue) {
		link->stats.wait_dropped++;
		ferry_pool_put(&link->pool, b);
		return;
	}
	if (!link->wait_count)
		link->wait_since_ms = link->now;
	b->user = cls;
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
		encode(link, b, (enum ferry_pacer_class)b->user);
	}
}

static void submit_payload(struct ferry_link *link, struct ferry_buf *b, enum ferry_pacer_class cls)
{
	link->stats.payloads_out++;
	if (!session_usable(link)) {
		wait_push(link, b, cls);
		ferry_link_want_session(link);
		return;
	}
	if (ferry_noise_session_should_rekey(link->peer.current, link->now))
		ferry_link_want_session(link);
	encode(link, b, cls);
}

static void close_payload(struct ferry_link *link, enum ferry_pacer_class cls)
{
	struct ferry_buf *b = link->open[cls];

	if (!b)
		return;
	link->open[cls] = NULL;
	if (!b->len) {
		ferry_pool_put(&link->pool, b);
		return;
	}
	submit_payload(link, b, cls);
}

static int add_record(struct ferry_link *link, enum ferry_pacer_class cls, uint8_t kind,
		      uint32_t flow_id, const uint8_t *body, size_t len)
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
	link->stats.records_out[kind]++;
	return 0;
}

int ferry_link_send_segments(struct ferry_link *link, const uint8_t *segs, size_t len, uint64_t now)
{
	enum ferry_pacer_class cls;
	int err;

	link->now = now;
	if (!len || len > link->sizes.record_body) {
		link->stats.record_too_big++;
		return -EMSGSIZE;
	}
	cls = ferry_mux_arq_is_control(segs, len) ? FERRY_PACER_HIGH : FERRY_PACER_LOW;
	err = add_record(link, cls, FERRY_REC_ARQ, 0, segs, len);
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
	err = add_record(link, FERRY_PACER_HIGH, FERRY_REC_DATAGRAM, flow_id, data, len);
	ferry_link_update_state(link);
	return err;
}

void ferry_link_close_payloads(struct ferry_link *link, uint64_t now)
{
	struct ferry_buf *hi = link->open[FERRY_PACER_HIGH], *lo = link->open[FERRY_PACER_LOW];

	link->now = now;
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

bool ferry_link_congested(const struct ferry_link *link)
{
	return ferry_pacer_depth(&link->pacer, FERRY_PACER_LOW) > link->pacer.queue_limit / 2 ||
	       link->wait_count > link->cfg.wait_queue / 2;
}

uint32_t ferry_link_arq_mtu(const struct ferry_link *link)
{
	return link->sizes.record_body;
}

uint32_t ferry_link_datagram_max(const struct ferry_link *link)
{
	return link->sizes.datagram;
}
