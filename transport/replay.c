// SPDX-License-Identifier: MIT
/*
 * Anti-replay window (see replay.h). Counter c lives in bit (c % 64) of ring word
 * (c / 64) % FERRY_REPLAY_WORDS. The window covers the FERRY_REPLAY_WINDOW counters
 * greatest - WINDOW + 1 .. greatest, which span at most FERRY_REPLAY_WORDS consecutive
 * words, so no two live counters share a bit. When greatest moves to a later word, the
 * words between the old and the new one are cleared: they held counters that have just
 * fallen out of the window.
 */
#include "transport/replay.h"

#include <errno.h>
#include <string.h>

void ferry_replay_init(struct ferry_replay *replay)
{
	memset(replay, 0, sizeof(*replay));
}

static uint64_t *replay_word(struct ferry_replay *replay, uint64_t counter)
{
	return &replay->bits[(counter >> 6) % FERRY_REPLAY_WORDS];
}

int ferry_replay_check(const struct ferry_replay *replay, uint64_t counter)
{
	uint64_t word;

	if (!replay->any || counter > replay->greatest)
		return 0;
	if (replay->greatest - counter >= FERRY_REPLAY_WINDOW)
		return -ESTALE;
	word = replay->bits[(counter >> 6) % FERRY_REPLAY_WORDS];
	return (word >> (counter & 63)) & 1 ? -EALREADY : 0;
}

int ferry_replay_accept(struct ferry_replay *replay, uint64_t counter)
{
	int err = ferry_replay_check(replay, counter);

	if (err)
		return err;
	if (!replay->any) {
		/* The ring is all zero since init: nothing to clear. */
		replay->greatest = counter;
		replay->any = true;
	} else if (counter > replay->greatest) {
		uint64_t top = replay->greatest >> 6;
		uint64_t steps = (counter >> 6) - top, i;

		if (steps > FERRY_REPLAY_WORDS)
			steps = FERRY_REPLAY_WORDS;
		for (i = 1; i <= steps; i++)
			replay->bits[(top + i) % FERRY_REPLAY_WORDS] = 0;
		replay->greatest = counter;
	}
	*replay_word(replay, counter) |= UINT64_C(1) << (counter & 63);
	return 0;
}
