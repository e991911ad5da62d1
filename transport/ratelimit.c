// SPDX-License-Identifier: MIT
/* Handshake work per source address: token buckets in a fixed table (see ratelimit.h). */
#include "transport/ratelimit.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

struct ferry_ratelimit *ferry_ratelimit_new(void)
{
	struct ferry_ratelimit *rl = calloc(1, sizeof(*rl));

	if (rl)
		randombytes_buf(rl->key, sizeof(rl->key));
	return rl;
}

void ferry_ratelimit_free(struct ferry_ratelimit *rl)
{
	if (rl)
		sodium_memzero(rl->key, sizeof(rl->key));
	free(rl);
}

/* The credit a slot holds at now, in milliseconds of refill. */
static uint64_t credit(const struct ferry_ratelimit_slot *s, uint64_t now)
{
	uint64_t c = s->credit_ms + (now > s->last_ms ? now - s->last_ms : 0);

	return c < FERRY_RATELIMIT_CREDIT_MS ? c : FERRY_RATELIMIT_CREDIT_MS;
}

static bool spend(struct ferry_ratelimit *rl, struct ferry_ratelimit_slot *s, uint64_t now)
{
	uint64_t c = credit(s, now);

	s->last_ms = now;
	s->credit_ms = c;
	if (c < FERRY_RATELIMIT_COST_MS) {
		rl->stats.limited++;
		return false;
	}
	s->credit_ms -= FERRY_RATELIMIT_COST_MS;
	rl->stats.allowed++;
	return true;
}

bool ferry_ratelimit_allow(struct ferry_ratelimit *rl, const uint8_t *addr, size_t len,
			   uint64_t now)
{
	struct ferry_ratelimit_slot *free_slot = NULL;
	uint8_t h[crypto_shorthash_BYTES];
	uint64_t v;
	size_t i;

	if (len > FERRY_RATELIMIT_ADDR_MAX)
		len = FERRY_RATELIMIT_ADDR_MAX;
	crypto_shorthash(h, addr, len, rl->key);
	memcpy(&v, h, sizeof(v));
	for (i = 0; i < FERRY_RATELIMIT_PROBE; i++) {
		struct ferry_ratelimit_slot *s = &rl->slots[(v + i) % FERRY_RATELIMIT_SLOTS];

		if (s->len == len && memcmp(s->addr, addr, len) == 0)
			return spend(rl, s, now);
		if (!free_slot && (s->len == 0 || credit(s, now) == FERRY_RATELIMIT_CREDIT_MS))
			free_slot = s;
	}
	if (!free_slot) {
		rl->stats.table_full++;
		return false;
	}
	/* a new source starts with a full bucket */
	memcpy(free_slot->addr, addr, len);
	free_slot->len = (uint8_t)len;
	free_slot->last_ms = now;
	free_slot->credit_ms = FERRY_RATELIMIT_CREDIT_MS;
	return spend(rl, free_slot, now);
}
