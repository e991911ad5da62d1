// SPDX-License-Identifier: MIT
/*
 * Link acknowledgements: the receiver's bitmap of counters and the ACK record's codec.
 * See ack.h for the theory of operation and transport/wire.h for the layout.
 */
#include <errno.h>
#include <string.h>

#include "transport/ack.h"

static bool bit_get(const struct ferry_ack_tracker *t, uint64_t pn)
{
	uint32_t i = (uint32_t)(pn % FERRY_ACK_WINDOW);

	return t->bits[i / 64] >> (i % 64) & 1;
}

static void bit_set(struct ferry_ack_tracker *t, uint64_t pn)
{
	uint32_t i = (uint32_t)(pn % FERRY_ACK_WINDOW);

	t->bits[i / 64] |= UINT64_C(1) << (i % 64);
}

static void bit_clear(struct ferry_ack_tracker *t, uint64_t pn)
{
	uint32_t i = (uint32_t)(pn % FERRY_ACK_WINDOW);

	t->bits[i / 64] &= ~(UINT64_C(1) << (i % 64));
}

/* The highest counter in [floor, from] whose bit reads `set`, in *at; false when there is
 * none. A word at a time: the window's counters map one to one onto the bitmap's bits,
 * so a full window costs FERRY_ACK_WINDOW / 64 words, not as many bits. */
static bool highest(const struct ferry_ack_tracker *t, uint64_t from, uint64_t floor, bool set,
		    uint64_t *at)
{
	uint64_t p = from;

	for (;;) {
		uint32_t i = (uint32_t)(p % FERRY_ACK_WINDOW), b = i % 64;
		uint64_t word = set ? t->bits[i / 64] : ~t->bits[i / 64];

		word &= b == 63 ? UINT64_MAX : (UINT64_C(1) << (b + 1)) - 1; /* p - b .. p */
		if (word) {
			uint64_t q = p - (b - (63 - (uint32_t)__builtin_clzll(word)));

			if (q < floor)
				return false;
			*at = q;
			return true;
		}
		if (p - floor <= b)
			return false;
		p -= b + 1;
	}
}

/* The lowest counter the bitmap still speaks for. */
static uint64_t window_floor(const struct ferry_ack_tracker *t)
{
	return t->largest >= FERRY_ACK_WINDOW - 1 ? t->largest - (FERRY_ACK_WINDOW - 1) : 0;
}

/* One more counter arrived: closes the loss window when it is full, the estimate
 * halfway to what the window saw. */
static void count_loss(struct ferry_ack_tracker *t)
{
	uint32_t pm;

	if (++t->win_seen < FERRY_ACK_LOSS_WINDOW)
		return;
	pm = (uint32_t)((uint64_t)t->win_gaps * 1000 / (t->win_seen + t->win_gaps));
	t->loss_pm = (t->loss_pm + pm + 1) / 2;
	t->win_seen = t->win_gaps = 0;
}

void ferry_ack_received(struct ferry_ack_tracker *t, uint32_t session, uint64_t pn, bool eliciting,
			uint64_t now)
{
	if (!t->any || session != t->session) {
		uint32_t loss_pm = t->loss_pm;

		memset(t, 0, sizeof(*t));
		t->loss_pm = loss_pm;
		t->any = true;
		t->session = session;
		t->largest = pn;
		t->largest_ms = now;
		t->hole = pn != 0;
	} else if (pn > t->largest) {
		uint64_t p;

		if (pn - t->largest >= FERRY_ACK_WINDOW)
			memset(t->bits, 0, sizeof(t->bits));
		else
			for (p = t->largest + 1; p < pn; p++)
				bit_clear(t, p);
		if (pn != t->largest + 1)
			t->hole = true;
		t->win_gaps +=
		    (uint32_t)(pn - t->largest - 1 < FERRY_ACK_LOSS_WINDOW ? pn - t->largest - 1
									   : FERRY_ACK_LOSS_WINDOW);
		t->largest = pn;
		t->largest_ms = now;
	} else if (pn < window_floor(t)) {
		return; /* older than anything we could still report */
	} else if (!bit_get(t, pn) && t->win_gaps) {
		t->win_gaps--; /* late, not lost */
	}
	bit_set(t, pn);
	count_loss(t);
	if (eliciting && t->pending++ == 0)
		t->due_ms = now + FERRY_ACK_DELAY_MS;
}

bool ferry_ack_due(const struct ferry_ack_tracker *t, uint64_t now)
{
	return t->pending && (t->pending >= FERRY_ACK_EVERY || t->hole || now >= t->due_ms);
}

uint64_t ferry_ack_next_deadline(const struct ferry_ack_tracker *t)
{
	return t->pending ? t->due_ms : UINT64_MAX;
}

size_t ferry_ack_write(struct ferry_ack_tracker *t, uint8_t *out, size_t cap, uint64_t now)
{
	uint64_t floor = window_floor(t), hi = t->largest, lo, delay;
	size_t len = FERRY_ACK_FIXED_LEN;
	uint32_t n = 0;

	if (!t->any || cap < FERRY_ACK_FIXED_LEN)
		return 0;
	delay = now > t->largest_ms ? now - t->largest_ms : 0;
	ferry_wire_put_le32(out, t->session);
	ferry_wire_put_le64(out + 4, t->largest);
	ferry_wire_put_le16(out + 12, (uint16_t)(delay > UINT16_MAX ? UINT16_MAX : delay));
	out[15] = 0;
	for (;;) {
		uint64_t missing;

		/* hi was received: the range reaches down to just above the highest counter
		 * missing below it */
		lo = hi > floor && highest(t, hi - 1, floor, false, &missing) ? missing + 1 : floor;
		if (n == 0) {
			ferry_wire_put_le16(out + 16, (uint16_t)(hi - lo));
		} else {
			ferry_wire_put_le16(out + len + 2,
					    (uint16_t)(hi - lo)); /* gap went first */
			len += FERRY_ACK_RANGE_LEN;
		}
		n++;
		if (n == FERRY_ACK_RANGES_MAX || len + FERRY_ACK_RANGE_LEN > cap || lo <= floor)
			break;
		/* the next received counter below lo, if the window still holds one */
		if (!highest(t, lo - 1, floor, true, &hi))
			break;
		ferry_wire_put_le16(out + len, (uint16_t)(lo - hi - 1));
	}
	out[14] = (uint8_t)n;
	t->pending = 0;
	t->hole = false;
	t->due_ms = 0;
	return len;
}

int ferry_ack_parse(const uint8_t *body, size_t len, struct ferry_ack *ack)
{
	uint64_t lo, hi;
	uint32_t i, n;

	if (len < FERRY_ACK_FIXED_LEN || (len - FERRY_ACK_FIXED_LEN) % FERRY_ACK_RANGE_LEN)
		return -EBADMSG;
	n = body[14];
	if (n < 1 || n > FERRY_ACK_RANGES_MAX || body[15] ||
	    len != FERRY_ACK_FIXED_LEN + (size_t)(n - 1) * FERRY_ACK_RANGE_LEN)
		return -EBADMSG;
	ack->session = ferry_wire_get_le32(body);
	ack->largest = ferry_wire_get_le64(body + 4);
	ack->delay_ms = ferry_wire_get_le16(body + 12);
	hi = ack->largest;
	lo = ferry_wire_get_le16(body + 16);
	if (lo > hi)
		return -EBADMSG;
	lo = hi - lo;
	ack->ranges[0] = (struct ferry_ack_range){lo, hi};
	for (i = 1; i < n; i++) {
		const uint8_t *p =
		    body + FERRY_ACK_FIXED_LEN + (size_t)(i - 1) * FERRY_ACK_RANGE_LEN;
		uint64_t gap = ferry_wire_get_le16(p), span = ferry_wire_get_le16(p + 2);

		if (gap < 1 || lo < gap + 1)
			return -EBADMSG;
		hi = lo - gap - 1;
		if (span > hi)
			return -EBADMSG;
		lo = hi - span;
		ack->ranges[i] = (struct ferry_ack_range){lo, hi};
	}
	ack->n = n;
	return 0;
}
