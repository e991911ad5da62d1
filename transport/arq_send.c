// SPDX-License-Identifier: MIT
/*
 * ARQ send path, the application's side (the engine and its data structures are
 * described at the top of arq.c): ferry_arq_send cuts a stream or a message into
 * segments on the send queue; ferry_arq_send_record queues a small control record whole,
 * from the pool's reserve if need be; the send space says what may be written now. Data
 * takes fresh buffers from the pool the conversations share, within this conversation's
 * share and above the reserve kept for control records and for receiving (arq.h). Flush
 * (arq.c) moves queued segments into the send window.
 */
#include "transport/arq.h"
#include "transport/arq_internal.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

/* The shared pool (arq.h): what data may take, and what control records may. */
static uint32_t pool_free(const struct ferry_pool *pool)
{
	return pool->count - pool->stats.in_use;
}

static uint32_t tx_reserve(const struct ferry_pool *pool)
{
	return pool->count / 4;
}

uint32_t ferry_arq_pool_data_max(const struct ferry_pool *pool)
{
	return pool->count - tx_reserve(pool);
}

uint32_t ferry_arq_pool_data_room(const struct ferry_pool *pool)
{
	return pool_free(pool) > tx_reserve(pool) ? pool_free(pool) - tx_reserve(pool) : 0;
}

/* Fresh buffers ferry_arq_send may take now: the send queue's room, the pool's free
 * buffers above the reserve, and what this conversation's share leaves it; with
 * whole_pool, as if every free buffer were its own (send_space_max). */
static uint32_t tx_allowance(const struct ferry_arq *arq, bool whole_pool)
{
	const struct ferry_pool *pool = arq->pool;
	uint32_t held = ferry_arq_pending(arq), reserve = tx_reserve(pool);
	uint32_t users = pool->senders + (held ? 0 : 1);
	uint32_t share = (pool->count - reserve) / users, a;

	if (share < FERRY_ARQ_SHARE_MIN)
		share = FERRY_ARQ_SHARE_MIN;
	a = arq->sq_len < arq->cfg.snd_queue_max ? arq->cfg.snd_queue_max - arq->sq_len : 0;
	if (whole_pool)
		return a < share ? a : share;
	if (a > ferry_arq_pool_data_room(pool))
		a = ferry_arq_pool_data_room(pool);
	if (a > (share > held ? share - held : 0))
		a = share > held ? share - held : 0;
	return a;
}

static void sq_append(struct ferry_arq *arq, struct ferry_buf *buf)
{
	if (!ferry_arq_pending(arq))
		arq->pool->senders++; /* ferry_arq_tx_released takes it back */
	buf->next = NULL;
	if (arq->sq_tail)
		arq->sq_tail->next = buf;
	else
		arq->sq_head = buf;
	arq->sq_tail = buf;
	arq->sq_len++;
}

static ssize_t send_message(struct ferry_arq *arq, const uint8_t *p, size_t len)
{
	size_t count = len ? (len + arq->mss - 1) / arq->mss : 1, i;
	struct ferry_buf *bufs[255];

	if (count > 255 || count > arq->cfg.snd_wnd)
		return -EMSGSIZE;
	if (count > tx_allowance(arq, false))
		return -EAGAIN;
	for (i = 0; i < count; i++) {
		bufs[i] = ferry_pool_get(arq->pool);
		if (!bufs[i]) {
			while (i--)
				ferry_pool_put(arq->pool, bufs[i]);
			return -EAGAIN;
		}
	}
	for (i = 0; i < count; i++) {
		size_t n = len - i * arq->mss < arq->mss ? len - i * arq->mss : arq->mss;

		if (n)
			memcpy(ferry_buf_put(bufs[i], (uint32_t)n), p + i * arq->mss, n);
		bufs[i]->user = (uint32_t)(count - 1 - i);
		sq_append(arq, bufs[i]);
	}
	arq->st.payload_sent += len;
	return (ssize_t)len;
}

ssize_t ferry_arq_send(struct ferry_arq *arq, const void *data, size_t len)
{
	const uint8_t *p = data;
	size_t done = 0;
	uint32_t fresh;

	if (arq->err)
		return arq->err;
	if (len == 0)
		return 0;
	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	if (!arq->cfg.stream)
		return send_message(arq, p, len);
	/* Stream: top up the partial tail segment first, then fill fresh ones. */
	if (arq->sq_tail && arq->sq_tail->len < arq->mss) {
		size_t n = arq->mss - arq->sq_tail->len;

		n = n < len ? n : len;
		memcpy(ferry_buf_put(arq->sq_tail, (uint32_t)n), p, n);
		done = n;
	}
	for (fresh = tx_allowance(arq, false); done < len && fresh; fresh--) {
		struct ferry_buf *buf = ferry_pool_get(arq->pool);
		size_t n = len - done < arq->mss ? len - done : arq->mss;

		if (!buf)
			break;
		memcpy(ferry_buf_put(buf, (uint32_t)n), p + done, n);
		buf->user = 0;
		if (n < arq->mss)
			arq->sq_partial_new = true; /* update stamps it with now */
		sq_append(arq, buf);
		done += n;
	}
	if (!done)
		return -EAGAIN;
	arq->st.payload_sent += done;
	return (ssize_t)done;
}

static size_t tail_room(const struct ferry_arq *arq)
{
	return arq->sq_tail && arq->sq_tail->len < arq->mss ? arq->mss - arq->sq_tail->len : 0;
}

size_t ferry_arq_send_space(const struct ferry_arq *arq)
{
	if (arq->err || !arq->cfg.stream)
		return 0;
	return tail_room(arq) + (size_t)tx_allowance(arq, false) * arq->mss;
}

size_t ferry_arq_send_space_max(const struct ferry_arq *arq)
{
	if (arq->err || !arq->cfg.stream)
		return 0;
	return (size_t)tx_allowance(arq, true) * arq->mss;
}

void ferry_arq_ask_window(struct ferry_arq *arq)
{
	if (!arq->err)
		arq->want_wask = true;
}

bool ferry_arq_send_record_fits(const struct ferry_arq *arq, size_t len)
{
	return !arq->err && arq->cfg.stream && len <= arq->mss &&
	       (len <= tail_room(arq) || pool_above_floor(arq->pool));
}

ssize_t ferry_arq_send_record(struct ferry_arq *arq, const void *data, size_t len)
{
	const uint8_t *p = data;
	size_t tail = tail_room(arq);
	struct ferry_buf *buf;

	if (arq->err)
		return arq->err;
	if (!arq->cfg.stream || len > arq->mss)
		return -EMSGSIZE;
	if (!ferry_arq_send_record_fits(arq, len))
		return -EAGAIN;
	if (len <= tail)
		return ferry_arq_send(arq, data, len);
	buf = ferry_pool_get(arq->pool);
	if (!buf)
		return -EAGAIN;
	if (tail)
		memcpy(ferry_buf_put(arq->sq_tail, (uint32_t)tail), p, tail);
	memcpy(ferry_buf_put(buf, (uint32_t)(len - tail)), p + tail, len - tail);
	buf->user = 0;
	if (buf->len < arq->mss)
		arq->sq_partial_new = true;
	sq_append(arq, buf);
	arq->st.payload_sent += len;
	return (ssize_t)len;
}
