/* SPDX-License-Identifier: MIT */
/*
 * Handshake work per source address, under load.
 *
 * Theory of operation. A responder under load (transport/cookie.h) processes only
 * initiations whose mac2 proves the sender receives at its address; such a sender can
 * still ask for one X25519 after another. This limiter gives each source address (the
 * address, not the port: one host, one bucket) a token bucket of FERRY_RATELIMIT_BURST
 * handshakes, refilled at FERRY_RATELIMIT_PER_S per second, so that no host, however
 * many ports it uses, costs more than that many Diffie-Hellmans a second.
 *
 * The buckets live in a fixed table of FERRY_RATELIMIT_SLOTS entries, found by SipHash of
 * the address under a random key, with FERRY_RATELIMIT_PROBE slots probed linearly. The
 * table is allocated once, zeroed by calloc, so a process never flooded leaves its pages
 * untouched. A slot whose bucket has refilled completely is free: that source has been
 * quiet long enough to start again with a full bucket anyway. When every probed slot is
 * busy, the table is full of sources that all handshake at the limit -- a flood -- and the
 * newcomer is refused (counted), never admitted unmetered.
 *
 * No I/O, no clock: `now` is monotonic milliseconds.
 */
#ifndef FERRY_TRANSPORT_RATELIMIT_H
#define FERRY_TRANSPORT_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	FERRY_RATELIMIT_PER_S = 20, /* handshakes a second per address, in the long run */
	FERRY_RATELIMIT_BURST = 5,  /* and at once */
	FERRY_RATELIMIT_SLOTS = 4096,
	FERRY_RATELIMIT_PROBE = 8,
	FERRY_RATELIMIT_ADDR_MAX = 16, /* an IPv6 address */
};

/* Milliseconds of credit one handshake costs, and the most a bucket holds. */
#define FERRY_RATELIMIT_COST_MS	  (1000ULL / FERRY_RATELIMIT_PER_S)
#define FERRY_RATELIMIT_CREDIT_MS (FERRY_RATELIMIT_COST_MS * FERRY_RATELIMIT_BURST)

struct ferry_ratelimit_slot {
	uint64_t last_ms;   /* when credit_ms was reckoned */
	uint64_t credit_ms; /* refill time banked then, at most FERRY_RATELIMIT_CREDIT_MS */
	uint8_t addr[FERRY_RATELIMIT_ADDR_MAX];
	uint8_t len; /* 0: never used */
};

struct ferry_ratelimit_stats {
	uint64_t allowed, limited, table_full;
};

struct ferry_ratelimit {
	struct ferry_ratelimit_slot slots[FERRY_RATELIMIT_SLOTS];
	uint8_t key[16]; /* SipHash's, random */
	struct ferry_ratelimit_stats stats;
};

/* An empty limiter with a fresh hash key; NULL when out of memory. */
struct ferry_ratelimit *ferry_ratelimit_new(void);

/* Frees rl; NULL is fine. */
void ferry_ratelimit_free(struct ferry_ratelimit *rl);

/* May the source at addr (len bytes, at most FERRY_RATELIMIT_ADDR_MAX; longer is cut) have
 * a handshake now? Takes a token if so. */
bool ferry_ratelimit_allow(struct ferry_ratelimit *rl, const uint8_t *addr, size_t len,
			   uint64_t now);

#endif
