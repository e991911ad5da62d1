/* SPDX-License-Identifier: MIT */
/*
 * Sliding anti-replay window for 64-bit datagram counters, in the manner of RFC 6479.
 *
 * The window remembers which of the FERRY_REPLAY_WINDOW counters just below the greatest
 * accepted one have been seen. Its bitmap is a ring of FERRY_REPLAY_WORDS 64-bit words; one
 * word more than the window needs, so that advancing the window only ever clears whole
 * words (no bit shifting, O(1) per packet amortised, at most FERRY_REPLAY_WORDS words
 * cleared by a jump of any size).
 *
 * Use: ferry_replay_check() before spending the AEAD on a datagram (read-only, cheap),
 * ferry_replay_accept() only after the datagram authenticated, so a forged datagram can
 * neither advance the window nor mark a counter as seen.
 */
#ifndef FERRY_TRANSPORT_REPLAY_H
#define FERRY_TRANSPORT_REPLAY_H

#include <stdbool.h>
#include <stdint.h>

enum {
	FERRY_REPLAY_WORDS = 129,			     /* ring of 64-bit words */
	FERRY_REPLAY_WINDOW = (FERRY_REPLAY_WORDS - 1) * 64, /* 8192 counters */
};

struct ferry_replay {
	uint64_t greatest; /* greatest accepted counter; meaningful when any is set */
	bool any;	   /* a counter has been accepted */
	uint64_t bits[FERRY_REPLAY_WORDS];
};

/* Empties the window: every counter is new again. */
void ferry_replay_init(struct ferry_replay *replay);

/* Returns 0 if counter would be accepted now, -EALREADY if it was seen, -ESTALE if it is
 * older than the window. Does not change the window. */
int ferry_replay_check(const struct ferry_replay *replay, uint64_t counter);

/* Marks counter seen, advancing the window if it is the greatest so far. Returns 0, or
 * -EALREADY / -ESTALE (window unchanged) like ferry_replay_check. */
int ferry_replay_accept(struct ferry_replay *replay, uint64_t counter);

#endif
