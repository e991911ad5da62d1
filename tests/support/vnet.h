/* SPDX-License-Identifier: MIT */
/*
 * A deterministic virtual network for tests: two endpoints, A and B, joined by a link with
 * one set of impairments per direction, a virtual clock in milliseconds and a seeded PRNG
 * of its own. Nothing here reads a clock or touches a socket; the same seed and the same
 * calls give the same trace, bit for bit.
 *
 * What a datagram meets on its way, in order (with loss_first, step 2 comes first):
 *   1. the rate limiter (if rate > 0): a FIFO serializer at `rate` bytes/s, with a queue of
 *      queue_limit bytes; a datagram that does not fit is dropped (dropped_queue);
 *   2. loss: Bernoulli with `loss`, or Gilbert-Elliott when ge_p > 0 (a two-state chain
 *      stepped once per datagram: good->bad with ge_p, bad->good with ge_r; loss `loss` in
 *      the good state, ge_loss_bad in the bad one). A lost datagram still used the link;
 *   3. delay: delay_ms plus a uniform 0..jitter_ms (jitter alone may reorder), plus
 *      reorder_ms more with probability `reorder`;
 *   4. corruption (one random bit flipped) with probability `corrupt`;
 *   5. duplication with probability `duplicate` (the copy gets its own jitter).
 * Delivery calls the deliver callback at the virtual time the datagram arrives; datagrams
 * due at the same millisecond arrive in the order they were scheduled.
 *
 * Memory: `capacity` datagram slots of FERRY_VNET_MAX_DGRAM bytes are allocated at init;
 * a send that finds none free is dropped and counted (dropped_capacity), never allocated.
 */
#ifndef FERRY_TESTS_VNET_H
#define FERRY_TESTS_VNET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	FERRY_VNET_MAX_DGRAM = 2048, /* largest datagram the link carries */
};

enum ferry_vnet_dir {
	FERRY_VNET_A2B = 0,
	FERRY_VNET_B2A = 1,
};

/* Impairments of one direction; all-zero is a perfect, instant, unlimited link. */
struct ferry_vnet_link {
	uint32_t delay_ms;    /* one-way delay */
	uint32_t jitter_ms;   /* extra delay, uniform in [0, jitter_ms] */
	double loss;	      /* Bernoulli loss (the good state's loss under Gilbert-Elliott) */
	double ge_p;	      /* Gilbert-Elliott P(good -> bad) per datagram; 0 disables */
	double ge_r;	      /* P(bad -> good) per datagram */
	double ge_loss_bad;   /* loss probability in the bad state */
	double reorder;	      /* probability of holding a datagram back reorder_ms more */
	uint32_t reorder_ms;  /* 0: delay_ms / 2 + 1 */
	double duplicate;     /* probability of delivering a second copy */
	double corrupt;	      /* probability of flipping one bit */
	uint64_t rate;	      /* bytes per second, 0 = unlimited */
	uint32_t queue_limit; /* bytes queued before the rate limiter; 0 = unbounded */
	bool loss_first;      /* the loss model before the rate limiter (as netem and
				 ferry-wanem order them): a lost datagram uses no capacity */
	uint32_t overhead;    /* bytes the rate limiter adds to each datagram (the IP and
				 UDP headers a real link carries: 28 for IPv4) */
};

struct ferry_vnet_counters {
	uint64_t sent;		   /* datagrams given to ferry_vnet_send */
	uint64_t bytes_sent;	   /* their bytes */
	uint64_t dropped_loss;	   /* lost by the loss model */
	uint64_t dropped_queue;	   /* did not fit the rate limiter's queue */
	uint64_t dropped_capacity; /* no free slot in the simulator (test too large) */
	uint64_t duplicated;	   /* extra copies scheduled */
	uint64_t corrupted;	   /* datagrams with a flipped bit */
	uint64_t delivered;	   /* datagrams handed to deliver (copies included) */
	uint64_t bytes_delivered;  /* their bytes */
};

/* Receives one datagram at vnet->now; data is valid only during the call. The callback may
 * send; what it sends is delivered on a later ferry_vnet_advance. */
typedef void (*ferry_vnet_deliver_fn)(void *ctx, enum ferry_vnet_dir dir, const uint8_t *data,
				      size_t len, uint64_t now);

struct ferry_vnet_dgram;

struct ferry_vnet {
	uint64_t now; /* virtual clock, ms */
	uint64_t rng[4];
	struct ferry_vnet_link link[2];
	struct ferry_vnet_counters count[2];
	uint64_t busy_until_ns[2]; /* rate limiter: when the link finishes what it holds */
	int ge_bad[2];		   /* Gilbert-Elliott state */
	ferry_vnet_deliver_fn deliver;
	void *ctx;
	struct ferry_vnet_dgram *slots; /* capacity slots */
	struct ferry_vnet_dgram *free;
	struct ferry_vnet_dgram **heap; /* by (due, seq) */
	uint32_t n_heap, capacity;
	uint64_t seq;
	/* Several endpoints may share one side (pairs of peers behind one bottleneck): a
	 * datagram keeps the send_tag it was sent with, and deliver finds it in deliver_tag. */
	uint32_t send_tag, deliver_tag;
};

/* Sets up the link with its own PRNG seeded from seed; the clock starts at start_ms.
 * Returns 0, -EINVAL (no deliver, zero capacity), -ENOMEM. */
int ferry_vnet_init(struct ferry_vnet *vn, uint64_t seed, uint64_t start_ms,
		    const struct ferry_vnet_link *a2b, const struct ferry_vnet_link *b2a,
		    uint32_t capacity, ferry_vnet_deliver_fn deliver, void *ctx);

/* Frees everything; datagrams in flight are discarded. Safe on a zeroed vnet. */
void ferry_vnet_destroy(struct ferry_vnet *vn);

/* Sends a datagram at vn->now in direction dir. Returns 0 (also when the link drops it:
 * see the counters), -EMSGSIZE above FERRY_VNET_MAX_DGRAM, -EINVAL for a bad dir. */
int ferry_vnet_send(struct ferry_vnet *vn, enum ferry_vnet_dir dir, const void *data, size_t len);

/* Virtual time of the next delivery, UINT64_MAX when nothing is in flight. */
uint64_t ferry_vnet_next_event(const struct ferry_vnet *vn);

/* Moves the clock to now (never backwards) and delivers the datagrams due by then, in
 * order, stopping at the first one sent during this call (a zero-delay reply waits for the
 * next call, so the loop is bounded). Returns the number delivered. */
uint32_t ferry_vnet_advance(struct ferry_vnet *vn, uint64_t now);

/* The vnet's PRNG, for tests that want reproducible randomness of their own. */
uint64_t ferry_vnet_rand(struct ferry_vnet *vn);

/* Uniform double in [0, 1) from the vnet's PRNG. */
double ferry_vnet_uniform(struct ferry_vnet *vn);

#endif
