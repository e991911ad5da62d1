/* SPDX-License-Identifier: MIT */
/*
 * The harness of the tests/test_egress_*.c suites: egress with real sockets.
 *
 * Every test forks (Check) and calls ferry_test_netns_enter (netns.h), which moves it into a
 * network namespace of its own (unshare(CLONE_NEWNET)) with only lo up, so every destination is a
 * socket the test itself holds. ferry_egressrig_pump is a tiny poll() loop standing in
 * for the daemon's event loop: it polls the fds egress asked to watch (plus one of the
 * test's own), hands readiness to ferry_egress_io and runs ferry_egress_timer.
 * ferry_egressrig_ops is a fake transport that records every callback in struct
 * ferry_egressrig; with `window` set it takes at most FERRY_EGRESSRIG_WINDOW bytes per
 * loop turn and calls ferry_egress_tcp_writable on the next turn, so backpressure is
 * exercised both ways. Its UDP callbacks expect flow id 5.
 *
 * The suites need root (CAP_NET_ADMIN, CAP_SYS_ADMIN); without it they exit
 * FERRY_EGRESSRIG_SKIP, which CTest reports as skipped -- not as passed.
 * All state lives in struct ferry_egressrig; nothing here is global.
 */
#ifndef FERRY_TESTS_EGRESSRIG_H
#define FERRY_TESTS_EGRESSRIG_H

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stack/egress.h"

enum {
	FERRY_EGRESSRIG_SKIP = 77,	/* exit status: the machine lacks root */
	FERRY_EGRESSRIG_WATCH_MAX = 32, /* fds egress may ask to watch at once */
	FERRY_EGRESSRIG_IDS = 8,	/* flow ids 0..7 are recorded */
	FERRY_EGRESSRIG_WINDOW = 8192,	/* the fake transport's budget per loop turn */
};

/* An fd egress asked to watch, with its events and cookie. */
struct ferry_egressrig_watch {
	int fd;
	uint32_t events;
	uint64_t cookie;
};

/* One rig: an egress, the fds it watches and everything its callbacks reported. */
struct ferry_egressrig {
	struct ferry_egress *eg;
	struct ferry_egressrig_watch w[FERRY_EGRESSRIG_WATCH_MAX];
	int n_watch;
	int watch_calls;

	int connected[FERRY_EGRESSRIG_IDS];
	int failed[FERRY_EGRESSRIG_IDS]; /* the errno reported, 0 if none */
	bool closed[FERRY_EGRESSRIG_IDS];
	int closed_reason[FERRY_EGRESSRIG_IDS];
	bool eof[FERRY_EGRESSRIG_IDS];
	int sendable[FERRY_EGRESSRIG_IDS];

	/* bytes from the destination, kept up to rx_cap */
	uint8_t *rx;
	size_t rx_len, rx_cap;
	size_t window_used; /* taken since the last transport turn */
	bool window;	    /* limit takes to FERRY_EGRESSRIG_WINDOW per turn */
	int short_takes;
	bool paused;
	uint32_t paused_id;
	bool reset_in_data; /* reset the flow from inside tcp_data */
	int data_calls;

	int datagrams;
	struct ferry_endpoint from[4];
	char dgram[4][32];
	int udp_closed;

	int replies;
	struct ferry_endpoint reply_app, reply_from;
	uint16_t reply_seq;
	char reply_data[16];
	size_t reply_len;
};

/* The fake transport: records into the struct ferry_egressrig passed as context. */
extern const struct ferry_egress_ops ferry_egressrig_ops;

/* Returns CLOCK_MONOTONIC in milliseconds. */
uint64_t ferry_egressrig_now_ms(void);

/* One turn of the loop: waits up to ms (less if a timer is due) for the watched fds and
 * `extra` (-1: none), dispatches, runs the timers, and lets the fake transport drain its
 * window. Returns extra's revents (0 if extra is -1). */
short ferry_egressrig_pump(struct ferry_egressrig *h, int extra, short extra_events, int ms);

/* Sets e to the textual address ("127.0.0.1" or "::1") and port; fails the test on bad
 * text. */
void ferry_egressrig_ep(struct ferry_endpoint *e, const char *addr, uint16_t port);

/* Fails the test unless a and b are the same family, address and port. */
void ferry_egressrig_ep_eq(const struct ferry_endpoint *a, const struct ferry_endpoint *b);

/* Returns the application's source endpoint, 10.0.0.2:40000 (a constant). */
const struct ferry_endpoint *ferry_egressrig_app_src(void);

/* Zeroes h and creates its egress from cfg (the default if NULL) with a fresh policy
 * (ferry_policy_init) that also allows 127.0.0.0/8 and ::1 if allow_loopback; fails the
 * test on any error. cfg->policy is overwritten. */
void ferry_egressrig_setup(struct ferry_egressrig *h, struct ferry_egress_config *cfg,
			   bool allow_loopback);

/* Destroys h's egress, fails the test unless it unwatched every fd, and frees h->rx. */
void ferry_egressrig_teardown(struct ferry_egressrig *h);

/* Returns a listening TCP socket on addr with an ephemeral port, stored in *port; fails
 * the test on any error. */
int ferry_egressrig_listener(const char *addr, uint16_t *port);

/* Returns a bound non-blocking UDP socket on the IPv4 addr with an ephemeral port, stored
 * in *port; fails the test on any error. */
int ferry_egressrig_udp_socket(const char *addr, uint16_t *port);

/* Opens TCP flow id to dst and runs the loop until its outcome, at most max_ms (else
 * fails the test). Returns 1 if connected, or the negative errno (returned at once or
 * reported through tcp_failed). */
int ferry_egressrig_open_wait(struct ferry_egressrig *h, uint32_t id,
			      const struct ferry_endpoint *dst, int max_ms);

/* Opens flow id to a fresh listener on 127.0.0.1 (its fd in *lfd). Returns the accepted,
 * non-blocking socket; fails the test if either step fails. */
int ferry_egressrig_connect_pair(struct ferry_egressrig *h, uint32_t id, int *lfd);

/* Runs the loop until cond holds; fails the test after max_ms. */
#define FERRY_EGRESSRIG_PUMP_UNTIL(h, cond, max_ms)                      \
	do {                                                             \
		uint64_t until_ = ferry_egressrig_now_ms() + (max_ms);   \
		while (!(cond)) {                                        \
			ck_assert_msg(ferry_egressrig_now_ms() < until_, \
				      "timed out waiting for " #cond);   \
			ferry_egressrig_pump((h), -1, 0, 10);            \
		}                                                        \
	} while (0)

#endif
