/* SPDX-License-Identifier: MIT */
/*
 * Secure link internals, shared by link.c (the set and its links, the link state,
 * handshake driving, timers), link_send.c (records -> payloads -> FEC -> pacer -> seal ->
 * output) and link_recv.c (input: handshake messages, open -> FEC -> records ->
 * callbacks); not an API. The state lives in struct ferry_link (link.h); this header only
 * names what crosses files. See link.c for how the link works.
 */
#ifndef FERRY_TRANSPORT_LINK_INTERNAL_H
#define FERRY_TRANSPORT_LINK_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "transport/link.h"

/* True when the current session can carry data at now. */
static inline bool session_usable_at(const struct ferry_link *link, uint64_t now)
{
	const struct ferry_noise_session *s = link->peer.current;

	return s && !ferry_noise_session_expired(s, now);
}

/* ... at link->now, the time of the entry point running. */
static inline bool session_usable(const struct ferry_link *link)
{
	return session_usable_at(link, link->now);
}

/* The IP and UDP headers a datagram carries on the path to the peer: what a bottleneck
 * counts besides the message, so both the pacer and the controller count it too. */
static inline uint32_t ferry_link_headers(const struct ferry_link *link)
{
	return FERRY_WIRE_UDP_HDR + (link->endpoint.len && link->endpoint.sa.sa_family == AF_INET6
					 ? FERRY_WIRE_IPV6_HDR
					 : FERRY_WIRE_IPV4_HDR);
}

/* ---- link.c ------------------------------------------------------------------------ */

/* Recomputes the link state at link->now; a change is counted and reported to ops.state. */
void ferry_link_update_state(struct ferry_link *link);

/* Data wants to go out: starts a handshake unless a session is usable or coming. */
void ferry_link_want_session(struct ferry_link *link);

/* ---- link_send.c ------------------------------------------------------------------- */

/* Adds a sealed datagram in b (a buffer of pool, handed over) to the set's output batch
 * for `to`; a full batch leaves at once. */
void ferry_link_out_add(struct ferry_link_set *set, struct ferry_pool *pool, struct ferry_buf *b,
			const struct ferry_sockaddr *to);

/* Hands the set's output batch to ops.output and returns its buffers to their pools. */
void ferry_link_out_flush(struct ferry_link_set *set);

/* Closes the open payloads and runs the pacer, without sending the output batch. */
void ferry_link_close_payloads(struct ferry_link *link, uint64_t now);

/* Sends every datagram the pacer releases at link->now. */
void ferry_link_pacer_run(struct ferry_link *link);

/* Sends msg now (into the output batch) if the pacer allows, else queues it (`own`, a pool
 * buffer of this link holding msg, is handed over; otherwise msg is copied). `sealing`:
 * msg is a data message's plaintext, sealed as it leaves. Returns true when own was
 * taken. */
bool ferry_link_transmit(struct ferry_link *link, const uint8_t *msg, uint32_t len,
			 struct ferry_buf *own, enum ferry_pacer_class cls, bool sealing);

/* Adds an ACK record to the HIGH payload if one is due (or `force` and anything arrived). */
void ferry_link_ack_maybe(struct ferry_link *link, bool force);

/* An ACK record arrived: the controller learns from it; LOW traffic may go again. */
void ferry_link_ack_in(struct ferry_link *link, const uint8_t *body, size_t len);

/* Gives the pacer the controller's rate, holds or releases LOW traffic by its window, and
 * sends what may go. */
void ferry_link_cc_apply(struct ferry_link *link);

/* Sends an empty data message; the keepalive timers move on even if it fails. */
void ferry_link_send_keepalive(struct ferry_link *link);

/* Sends the payloads that waited for a session, oldest first, while one is usable. */
void ferry_link_wait_drain(struct ferry_link *link);

/* Drops every payload that waits for a session (counted in stats.wait_dropped). */
void ferry_link_wait_drop_all(struct ferry_link *link);

/* FEC encoder callback (ctx is the link): sends one shard, sealed as it leaves. */
void ferry_link_emit(void *ctx, struct ferry_buf *shard);

/* ---- link_recv.c ------------------------------------------------------------------- */

/* FEC decoder callback (ctx is the link): hands one payload's records to the link's ops. */
void ferry_link_deliver(void *ctx, const uint8_t *payload, size_t len);

#endif
