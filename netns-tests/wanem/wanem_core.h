/* SPDX-License-Identifier: MIT */
/*
 * ferry-wanem's decision core: one emulated one-way path (a "direction"). Pure: packets and
 * `now` (nanoseconds on any monotonic clock) go in, verdicts and departures come out; no I/O,
 * no clock, no allocation after init. wanem_core.c explains the model.
 */
#ifndef FERRY_WANEM_CORE_H
#define FERRY_WANEM_CORE_H

#include <stdbool.h>
#include <stdint.h>

enum ferry_wanem_jitter_dist {
	FERRY_WANEM_JITTER_UNIFORM, /* uniform on [-jitter, +jitter] */
	FERRY_WANEM_JITTER_NORMAL,  /* normal, sigma = jitter, bounded at +-6 sigma */
};

/* One direction's parameters. Probabilities are fractions from 0 to 1. */
struct ferry_wanem_path_config {
	uint64_t delay_ns;  /* one-way propagation delay */
	uint64_t jitter_ns; /* see enum ferry_wanem_jitter_dist; 0: none */
	enum ferry_wanem_jitter_dist jitter_dist;
	bool jitter_reorder; /* let jitter reorder packets (default: departures stay in order) */
	double loss;	     /* Bernoulli loss; exclusive with the Gilbert-Elliott model */
	double ge_p;	     /* Gilbert-Elliott: P(good -> bad) per packet; 0: model off */
	double ge_r;	     /* P(bad -> good) per packet */
	double ge_loss_good; /* loss probability in the good state */
	double ge_loss_bad;  /* loss probability in the bad state */
	double dup;	     /* probability that a packet is sent twice */
	double reorder;	     /* probability that a packet is held back by reorder_delay_ns */
	uint64_t reorder_delay_ns;
	uint64_t rate_bps;    /* bottleneck rate in bits per second; 0: unlimited, no queue */
	uint64_t queue_bytes; /* bottleneck queue limit in bytes; 0: none */
	uint32_t queue_pkts;  /* bottleneck queue limit in packets; 0: none */
};

/* Counters of one direction. Every packet offered is accounted for exactly once:
 * in = lost + qdrop + nobuf + out + pending - dup. */
struct ferry_wanem_path_stats {
	uint64_t pkts_in, bytes_in;	/* offered to ferry_wanem_path_input */
	uint64_t pkts_out, bytes_out;	/* handed out by ferry_wanem_path_pop */
	uint64_t lost;			/* dropped by the loss model */
	uint64_t qdrop;			/* copies dropped because the bottleneck queue was full */
	uint64_t nobuf;			/* copies dropped because the schedule was full */
	uint64_t dup;			/* extra copies made */
	uint64_t reordered;		/* copies held back to be overtaken */
	uint64_t qmax_pkts, qmax_bytes; /* high-water marks of the bottleneck queue */
};

struct ferry_wanem_rng {
	uint64_t s;
};

enum ferry_wanem_ge_state {
	FERRY_WANEM_GE_GOOD,
	FERRY_WANEM_GE_BAD,
};

/* A copy scheduled to leave at `due`; `seq` keeps equal times in arrival order. */
struct ferry_wanem_departure {
	uint64_t due;
	uint64_t seq;
	uint32_t handle;
	uint32_t len;
};

/* A packet in the bottleneck queue: on the wire or waiting, until `finish`. */
struct ferry_wanem_backlog {
	uint64_t finish;
	uint32_t len;
};

struct ferry_wanem_path {
	struct ferry_wanem_path_config cfg;
	/* probabilities as thresholds for 32-bit draws: event iff draw < threshold */
	uint64_t loss_th, ge_p_th, ge_r_th, ge_good_th, ge_bad_th, dup_th, reorder_th;
	/* one stream per kind of decision, so enabling one never shifts another */
	struct ferry_wanem_rng rng_loss, rng_ge, rng_dup, rng_reorder, rng_jitter;
	enum ferry_wanem_ge_state ge_state;

	/* bottleneck: link_free is when the last accepted packet's last bit leaves, plus
	 * link_rem / rate_bps of a nanosecond carried to the next packet (no drift) */
	uint64_t link_free, link_rem;
	struct ferry_wanem_backlog *backlog; /* FIFO ring of capacity entries */
	uint32_t backlog_head, backlog_count;
	uint64_t backlog_bytes;

	uint64_t last_due; /* departure of the latest in-order copy */
	uint64_t seq;

	struct ferry_wanem_departure *heap; /* min-heap on (due, seq), capacity entries */
	uint32_t heap_len, capacity;

	struct ferry_wanem_path_stats stats;
};

/* Checks cfg; returns 0 or -EINVAL (a probability outside 0..1, Bernoulli and
 * Gilbert-Elliott both on, Gilbert-Elliott with ge_r == 0). */
int ferry_wanem_path_config_check(const struct ferry_wanem_path_config *cfg);

/* Sets up p for cfg with a random stream derived from (seed, path_id); capacity bounds the
 * copies it schedules at once. Returns 0, -EINVAL (bad cfg or capacity 0) or -ENOMEM. */
int ferry_wanem_path_init(struct ferry_wanem_path *p, const struct ferry_wanem_path_config *cfg,
			  uint64_t seed, uint32_t path_id, uint32_t capacity);

/* Frees what init allocated; p may then be initialised again. */
void ferry_wanem_path_destroy(struct ferry_wanem_path *p);

/* Offers a packet of len bytes that arrived at now, tagged with the caller's handle.
 * Returns the number of copies scheduled (0, 1 or 2); each comes back once from
 * ferry_wanem_path_pop with this handle. now must not go backwards between calls. */
unsigned ferry_wanem_path_input(struct ferry_wanem_path *p, uint64_t now, uint32_t len,
				uint32_t handle);

/* Departure time of the next copy to leave, or UINT64_MAX if none is scheduled. */
uint64_t ferry_wanem_path_next_due(const struct ferry_wanem_path *p);

/* Takes the next copy due at or before now: returns true and fills *handle and *len, or
 * returns false if none is due yet. */
bool ferry_wanem_path_pop(struct ferry_wanem_path *p, uint64_t now, uint32_t *handle,
			  uint32_t *len);

/* Copies scheduled and not yet popped. */
uint32_t ferry_wanem_path_pending(const struct ferry_wanem_path *p);

#endif
