/* SPDX-License-Identifier: MIT */
/*
 * Egress: where flows end, at the peer. Each TCP or UDP flow that a client's stack
 * reported becomes a real nonblocking socket to its destination here; ICMP echo requests
 * become real echoes through unprivileged ping sockets, so ping shows the true round trip.
 *
 * No event loop here (stack/ may not depend on cli/): egress tells its owner which fds to
 * watch through ops->watch/unwatch, the owner calls ferry_egress_io() when one is ready
 * and ferry_egress_timer() at ferry_egress_next_deadline() (connect and UDP idle timeouts).
 * Time is the owner's `now` (milliseconds, monotonic); egress reads no clock.
 *
 * Flow ids are the caller's (u32, the ARQ conversation id); TCP and UDP ids are separate
 * spaces. The table holds at most config.max_flows flows (TCP and UDP together).
 *
 * Backpressure: bytes from the destination are only consumed from the socket once
 * ops->tcp_data took them (peek, offer, then consume what was taken), so the kernel's
 * receive buffer -- and the destination's TCP window -- hold the rest; reading stops until
 * ferry_egress_tcp_writable(). Toward the destination, ferry_egress_tcp_send() writes
 * straight into the socket and returns what the kernel's send buffer took; after a short
 * count ops->tcp_sendable follows. The kernel's socket buffers are the bounded per-flow
 * buffers: a flow allocates nothing beyond its table slot.
 *
 * Callbacks: ops->watch/unwatch may be called from any call; every other op only from
 * ferry_egress_io and ferry_egress_timer, never from the call that opened, sent on, shut
 * down or reset a flow (those report through their return value). Inside a callback the
 * caller may call any ferry_egress_* function except ferry_egress_destroy, _io and _poll,
 * including ones that end the flow being reported. A flow that ended is released before
 * its ending callback runs, so its id may be opened again from inside it. See
 * docs/egress.md.
 */
#ifndef FERRY_STACK_EGRESS_H
#define FERRY_STACK_EGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stack/policy.h"
#include "stack/stack.h"

struct ferry_egress;

/* Hard upper bound of config.max_flows. */
#define FERRY_EGRESS_FLOWS_MAX	(1u << 20)
/* Outstanding echo requests remembered per egress (older ones are forgotten). */
#define FERRY_EGRESS_PINGS_MAX	256
/* Datagrams read from one UDP or ping socket per ferry_egress_io call. */
#define FERRY_EGRESS_READ_BATCH 16

/* Readiness, as the owner's loop maps it (EPOLLIN, EPOLLOUT, EPOLLERR|EPOLLHUP). */
enum ferry_egress_events {
	FERRY_EGRESS_READ = 1,
	FERRY_EGRESS_WRITE = 2,
	FERRY_EGRESS_ERROR = 4, /* error or hang-up: always of interest, never asked for */
};

struct ferry_egress_ops {
	/* Watch fd for events (a mask of FERRY_EGRESS_READ|WRITE; 0 = only errors and
	 * hang-ups) and pass cookie to ferry_egress_io when ready. Called again for the same
	 * fd to change the mask. Returns 0 or a negative errno (a new flow then fails). */
	int (*watch)(void *ctx, int fd, uint32_t events, uint64_t cookie);
	/* Stop watching fd (called before egress closes it). */
	void (*unwatch)(void *ctx, int fd);

	/* The TCP connect of flow id succeeded: ferry_egress_tcp_send may start. */
	void (*tcp_connected)(void *ctx, uint32_t id);
	/* It failed with err (-ECONNREFUSED, -EHOSTUNREACH, -ENETUNREACH, -ETIMEDOUT, ...).
	 * The flow is gone. */
	void (*tcp_failed)(void *ctx, uint32_t id, int err);
	/* Bytes from the destination. Returns how many were taken (0..len); the rest stays in
	 * the socket until ferry_egress_tcp_writable(id). */
	size_t (*tcp_data)(void *ctx, uint32_t id, const uint8_t *data, size_t len);
	/* The destination's FIN, after every byte before it was taken. */
	void (*tcp_eof)(void *ctx, uint32_t id);
	/* Room again toward the destination after a short ferry_egress_tcp_send. */
	void (*tcp_sendable)(void *ctx, uint32_t id, size_t space);
	/* The flow ended: 0 when both directions closed (the destination's FIN was the last
	 * step), -ECONNRESET (the destination reset), or another -errno from the socket. The
	 * flow is gone. */
	void (*tcp_closed)(void *ctx, uint32_t id, int reason);

	/* A datagram for UDP flow id from `from` (the destination or anyone else). */
	void (*udp_datagram)(void *ctx, uint32_t id, const struct ferry_endpoint *from,
			     const uint8_t *data, size_t len);
	/* The UDP flow ended after udp_idle_timeout_ms without traffic. May be NULL. */
	void (*udp_closed)(void *ctx, uint32_t id);

	/* The real echo reply for a request given to ferry_egress_ping: app and seq as the
	 * request had them, from the pinged address, its payload, and the measured round trip.
	 * May be NULL only if ferry_egress_ping is never called. */
	void (*icmp_reply)(void *ctx, const struct ferry_endpoint *app,
			   const struct ferry_endpoint *from, uint16_t seq, const uint8_t *data,
			   size_t len, uint32_t rtt_ms);
};

struct ferry_egress_config {
	uint32_t max_flows;	      /* 1..FERRY_EGRESS_FLOWS_MAX, TCP and UDP together */
	uint32_t connect_timeout_ms;  /* >= 1 */
	uint32_t udp_idle_timeout_ms; /* >= 1 */
	uint32_t mark;		      /* SO_MARK on every socket; 0 = none (needs CAP_NET_ADMIN) */
	uint32_t sndbuf;  /* SO_SNDBUF of TCP sockets, bytes; 0 = the kernel's autotuning */
	bool transparent; /* bind to the application's source (IP_TRANSPARENT); site-to-site */
	const struct ferry_policy *policy; /* copied at create; NULL = built-in defaults */
};

struct ferry_egress_stats {
	uint64_t tcp_opened;	/* connects started (after the policy allowed them) */
	uint64_t tcp_connected; /* ... that succeeded */
	uint64_t tcp_failed;	/* ... that failed, at once or later (refused, unreachable,
				   timed out) */
	uint64_t tcp_closed;	/* established flows that ended */
	uint64_t udp_opened;
	uint64_t udp_idle_closed;
	uint64_t udp_send_drops;  /* datagrams the kernel would not take (EAGAIN, ENOBUFS) */
	uint64_t udp_denied_from; /* replies dropped: their source is denied by the policy */
	uint64_t denied;	  /* flows, datagrams and pings refused by the policy */
	uint64_t pings_sent;
	uint64_t ping_replies;
	uint64_t ping_unmatched; /* replies to no remembered request */
	uint32_t tcp_flows;	 /* current */
	uint32_t udp_flows;	 /* current */
};

/* Fills cfg with the defaults in docs/egress.md (16384 flows, 10 s connect, 60 s UDP idle,
 * no mark, not transparent, built-in policy). */
void ferry_egress_config_default(struct ferry_egress_config *cfg);

/* Creates an egress. Returns 0, -EINVAL for a bad config or missing ops, -ENOMEM. */
int ferry_egress_create(struct ferry_egress **out, const struct ferry_egress_config *cfg,
			const struct ferry_egress_ops *ops, void *ctx);

/* Closes every socket (TCP ones with an RST), calling ops->unwatch for each but no other
 * callback, and frees the egress. NULL is ignored. */
void ferry_egress_destroy(struct ferry_egress *egress);

/* An fd watched with cookie is ready (mask of enum ferry_egress_events). A cookie of a
 * flow that ended meanwhile is ignored. */
void ferry_egress_io(struct ferry_egress *egress, uint64_t cookie, uint32_t events, uint64_t now);

/* Runs the timers due at now (connect timeouts, UDP idle timeouts). */
void ferry_egress_timer(struct ferry_egress *egress, uint64_t now);

/* When ferry_egress_timer must next run: <= now at once, UINT64_MAX when no timer is
 * armed. Changes nothing. */
uint64_t ferry_egress_next_deadline(const struct ferry_egress *egress, uint64_t now);

/* Starts a TCP connect for flow id from the application at src (used only in transparent
 * mode; may be NULL otherwise) to dst. Returns 0 (the
 * outcome follows through ops->tcp_connected or ops->tcp_failed), or a negative errno now
 * and no callback: -EACCES denied by the policy (no socket is opened), -EEXIST id in use,
 * -ENOSPC table full, -EAFNOSUPPORT, -ENETUNREACH and other errors of socket/connect. */
int ferry_egress_tcp_open(struct ferry_egress *egress, uint32_t id,
			  const struct ferry_endpoint *src, const struct ferry_endpoint *dst,
			  uint64_t now);

/* Bytes toward the destination. Returns how many the socket took (0..len); after a short
 * count ops->tcp_sendable follows. 0 for an unknown id, a flow still connecting, or one
 * already shut down. */
size_t ferry_egress_tcp_send(struct ferry_egress *egress, uint32_t id, const uint8_t *data,
			     size_t len);

/* The transport has room again: reading from the destination resumes. */
void ferry_egress_tcp_writable(struct ferry_egress *egress, uint32_t id);

/* The application finished sending: FIN toward the destination after the bytes taken.
 * Returns 0, 1 if this ended the flow (the destination's FIN had come already; no
 * tcp_closed follows), -ENOENT for an unknown id, -EINVAL while connecting. */
int ferry_egress_tcp_shutdown(struct ferry_egress *egress, uint32_t id);

/* Resets (RST toward the destination) or cancels a connect. The flow is gone; no callback.
 * Returns 0 or -ENOENT. */
int ferry_egress_tcp_reset(struct ferry_egress *egress, uint32_t id);

/* Opens UDP flow id (the application at src, first datagram to dst): one unconnected
 * socket, so replies from any address reach the flow. Returns 0, -EACCES (policy),
 * -EEXIST, -ENOSPC, or an errno of socket/bind. */
int ferry_egress_udp_open(struct ferry_egress *egress, uint32_t id,
			  const struct ferry_endpoint *src, const struct ferry_endpoint *dst,
			  uint64_t now);

/* Sends one datagram of flow id to dst. Returns 0, -ENOENT, -EACCES (policy), -EINVAL
 * (family not the flow's), -EAGAIN (kernel queue full; dropped and counted), or another
 * errno of sendto. */
int ferry_egress_udp_send(struct ferry_egress *egress, uint32_t id,
			  const struct ferry_endpoint *dst, const uint8_t *data, size_t len,
			  uint64_t now);

/* Ends UDP flow id now (no callback). Returns 0 or -ENOENT. */
int ferry_egress_udp_close(struct ferry_egress *egress, uint32_t id);

/* Sends a real echo request to dst for the application at app (its echo id in
 * app->port), with sequence seq and payload data; the reply comes through
 * ops->icmp_reply. Returns 0, -EACCES (policy), -EPERM (ping sockets not permitted:
 * net.ipv4.ping_group_range excludes our group), -EMSGSIZE, -EAFNOSUPPORT, or an errno of
 * sendto. */
int ferry_egress_ping(struct ferry_egress *egress, const struct ferry_endpoint *app,
		      const struct ferry_endpoint *dst, uint16_t seq, const uint8_t *data,
		      size_t len, uint64_t now);

/* Counters since create. */
const struct ferry_egress_stats *ferry_egress_get_stats(const struct ferry_egress *egress);

#endif
