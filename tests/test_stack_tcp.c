// SPDX-License-Identifier: MIT
/*
 * The stack's established TCP connections: bytes both ways and the end of a connection.
 *
 * Covered: data both ways with backpressure (the app's window closes while the caller
 * takes nothing and reopens on writable; partial takes keep order; short sends end in
 * sendable; pieces queued with send_more leave in full segments at the flush), the whole stack as a
 * loopback echo (IPv4/1500 and IPv6/jumbo), half-close both ways (the caller's close after a late
 * reply delivers it whole), resets both ways (also from inside a callback), idle timeout and
 * keepalive.
 *
 * The harness is tests/support/stackfake.h: crafted IPv4/IPv6 packets go into
 * ferry_stack_input, a fake transport plays the caller, and every packet the stack writes
 * to the "TUN" is parsed and asserted on (checksums included).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "stack/stack.h"
#include "tests/support/fixture.h"
#include "tests/support/pkt.h"
#include "tests/support/stackfake.h"

#define WND ((size_t)256 * 1024) /* TCP_WND */

START_TEST(data_both_ways)
{
	struct ferry_stackfake *f = ferry_stackfake_new(1500);
	struct ferry_stackfake_app a = ferry_stackfake_app4(40010);
	struct ferry_tpkt t;
	const char *req = "GET / HTTP/1.0\r\n\r\n", *resp = "HTTP/1.0 200 OK\r\n\r\n";

	ferry_stackfake_establish(f, &a);
	ferry_stackfake_app_send(f, &a, FERRY_TPKT_PSH, req, strlen(req));
	ck_assert_uint_eq(f->nrx, strlen(req));
	ck_assert_mem_eq(f->rx, req, strlen(req));
	ferry_stackfake_next_out(f, &t); /* taken, so acknowledged at once */
	ck_assert_uint_eq(t.payload_len, 0);
	ck_assert_uint_eq(t.ack, a.seq);

	ck_assert_uint_eq(ferry_stack_tcp_send(a.flow, (const uint8_t *)resp, strlen(resp)),
			  strlen(resp));
	ferry_stackfake_next_out(f, &t);
	ck_assert(ferry_tpkt_from(&t, FERRY_STACKFAKE_DST4, 443));
	ck_assert_uint_eq(t.payload_len, strlen(resp));
	ck_assert_mem_eq(t.payload, resp, strlen(resp));
	ck_assert_uint_eq(t.seq, a.ack);
	ck_assert_uint_eq(t.ack, a.seq);
	a.ack += (uint32_t)t.payload_len;
	ferry_stackfake_app_send(f, &a, 0, NULL, 0);
	ferry_stackfake_free(f);
}
END_TEST

/* Defect: a lone small segment from the application was acknowledged only at lwIP's
 * delayed-ACK timer (250 ms), so an application that writes twice before it reads (its
 * own Nagle waits for that ACK) stalled. The ACK leaves as soon as the caller took the
 * bytes: no time passes on the stack's clock. */
START_TEST(lone_segment_acked_at_once)
{
	struct ferry_stackfake *f = ferry_stackfake_new(1500);
	struct ferry_stackfake_app a = ferry_stackfake_app4(40013);
	struct ferry_tpkt t;
	int round;

	ferry_stackfake_establish(f, &a);
	for (round = 0; round < 3; round++) {
		ferry_stackfake_app_send(f, &a, FERRY_TPKT_PSH, "A", 1);
		ck_assert_uint_eq(ferry_stackfake_pending_out(f), 1);
		ferry_stackfake_next_out(f, &t);
		ck_assert_uint_eq(t.flags & FERRY_TPKT_ACK, FERRY_TPKT_ACK);
		ck_assert_uint_eq(t.ack, a.seq);
	}
	ck_assert_uint_eq(f->nrx, 3);
	ferry_stackfake_free(f);
}
END_TEST

/* Defect: Nagle was on toward the application, so the caller's second small write waited
 * for the application's ACK of the first (which the application's TCP delays). Small
 * writes leave at once, one segment each. */
START_TEST(small_writes_leave_without_nagle)
{
	struct ferry_stackfake *f = ferry_stackfake_new(1500);
	struct ferry_stackfake_app a = ferry_stackfake_app4(40014);
	struct ferry_tpkt t;

	ferry_stackfake_establish(f, &a);
	ck_assert_uint_eq(ferry_stack_tcp_send(a.flow, (const uint8_t *)"head", 4), 4);
	ck_assert_uint_eq(ferry_stack_tcp_send(a.flow, (const uint8_t *)"body", 4), 4);
	ck_assert_uint_eq(ferry_stackfake_pending_out(f), 2);
	ferry_stackfake_next_out(f, &t);
	ck_assert_mem_eq(t.payload, "head", 4);
	ferry_stackfake_next_out(f, &t);
	ck_assert_mem_eq(t.payload, "body", 4);
	ferry_stackfake_free(f);
}
END_TEST

/* Pieces that are not the application's MSS -- the ARQ's segments, 1,383 bytes toward an
 * MSS of 1,360 -- queued with ferry_stack_tcp_send_more leave at the flush, in full
 * segments: sent one by one, each would have left as 1,360 bytes and a 23-byte sliver. */
START_TEST(send_more_leaves_full_segments_at_the_flush)
{
	struct ferry_stackfake *f = ferry_stackfake_new(1400); /* MSS 1360 */
	struct ferry_stackfake_app a = ferry_stackfake_app4(40015);
	static const size_t lens[] = {1360, 1360, 1360, 69};
	uint8_t data[3 * 1383];
	struct ferry_tpkt t;
	size_t i, off;

	for (i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + 3);
	ferry_stackfake_establish(f, &a);
	for (off = 0; off < sizeof(data); off += 1383)
		ck_assert_uint_eq(ferry_stack_tcp_send_more(a.flow, data + off, 1383), 1383);
	ck_assert_uint_eq(ferry_stackfake_pending_out(f), 0);
	/* a caller that forgets to flush is told to run the timer at once */
	ck_assert_uint_eq(ferry_stack_next_deadline(f->stack, f->now), f->now);
	ferry_stack_flush(f->stack);
	ck_assert_uint_eq(ferry_stackfake_pending_out(f), 4);
	for (i = 0, off = 0; i < 4; i++) {
		ferry_stackfake_next_out(f, &t);
		ck_assert_uint_eq(t.payload_len, lens[i]);
		ck_assert_mem_eq(t.payload, data + off, lens[i]);
		off += lens[i];
	}
	ck_assert_uint_gt(ferry_stack_next_deadline(f->stack, f->now), f->now);
	ferry_stackfake_free(f);
}
END_TEST

/* Request and response through the stack, a hundred times, with the caller answering
 * each request at once: each response leaves, and each request is acknowledged, with no
 * time passing on the stack's clock -- the turnaround is the caller's, not a timer's. */
START_TEST(request_response_turnaround)
{
	struct ferry_stackfake *f = ferry_stackfake_new(1500);
	struct ferry_stackfake_app a = ferry_stackfake_app4(40015);
	struct ferry_tpkt t;
	uint64_t start;
	int i;

	ferry_stackfake_establish(f, &a);
	f->echo = 1;
	start = f->now;
	for (i = 0; i < 100; i++) {
		char req[16];
		int n = snprintf(req, sizeof(req), "req %d", i);

		ferry_stackfake_app_send(f, &a, FERRY_TPKT_PSH, req, (size_t)n);
		ck_assert_uint_ge(ferry_stackfake_pending_out(f), 1);
		ferry_stackfake_next_out(f, &t); /* the echo, carrying the ACK */
		ck_assert_uint_eq(t.payload_len, (size_t)n);
		ck_assert_mem_eq(t.payload, req, (size_t)n);
		ck_assert_uint_eq(t.ack, a.seq);
		a.ack += (uint32_t)n;
		while (ferry_stackfake_pending_out(f))
			ferry_stackfake_next_out(f, &t);
	}
	ck_assert_uint_eq(f->now, start);
	ferry_stackfake_free(f);
}
END_TEST

/* The caller takes nothing: the app's window closes; writable reopens it. */
START_TEST(window_full_then_writable)
{
	struct ferry_stackfake *f = ferry_stackfake_new(65535);
	struct ferry_stackfake_app a = ferry_stackfake_app4(40011);
	static uint8_t chunk[60000];
	struct ferry_tpkt t = {0};
	uint32_t wnd = 1, opened = 0;
	size_t sent = 0, i;

	for (i = 0; i < sizeof(chunk); i++)
		chunk[i] = (uint8_t)(i * 7);
	ferry_stackfake_establish(f, &a);
	f->take_limit = 0;
	/* Chunks until the window the connection opened with is used up, then it is shut. */
	for (i = 0; wnd > 0; i++) {
		size_t len = i == 0 || wnd > sizeof(chunk) ? sizeof(chunk) : wnd;

		ck_assert_uint_lt(i, 10);
		ferry_stackfake_app_send(f, &a, 0, chunk, len);
		sent += len;
		ferry_stackfake_advance(f, 300); /* delayed ACK */
		ck_assert_uint_ge(ferry_stackfake_pending_out(f), 1);
		while (ferry_stackfake_pending_out(f))
			ferry_stackfake_next_out(f, &t);
		ck_assert_uint_eq(t.ack, a.seq);
		wnd = (uint32_t)t.wnd << 4;
		if (i == 0)
			opened = (uint32_t)(wnd + len);
		ck_assert_uint_eq(wnd, opened - sent); /* nothing taken, nothing reopened */
	}
	/* A new connection's window commits 64 KiB of the budget, lwIP's window at most. */
	ck_assert_uint_ge(opened, (uint32_t)64 << 10);
	ck_assert_uint_le(opened, WND);
	ck_assert_uint_eq(f->nrx, 0);
	/* Beyond the window: lwIP drops it; the ACK still says where the app stands. */
	ferry_stackfake_app_send(f, &a, 0, chunk, 1000);
	a.seq -= 1000;
	while (ferry_stackfake_pending_out(f))
		ferry_stackfake_next_out(f, &t);
	ck_assert_uint_eq(f->nrx, 0);

	f->take_limit = SIZE_MAX;
	ferry_stack_tcp_writable(a.flow);
	ck_assert_uint_eq(f->nrx, sent);
	for (i = 0; i + sizeof(chunk) <= sent; i += sizeof(chunk))
		ck_assert_mem_eq(f->rx + i, chunk, sizeof(chunk));
	ck_assert_mem_eq(f->rx + i, chunk, sent - i);
	ck_assert_uint_ge(ferry_stackfake_pending_out(f), 1);
	while (ferry_stackfake_pending_out(f))
		ferry_stackfake_next_out(f, &t);
	/* Taken: the window reopened at once, to lwIP's whole window (one busy flow). */
	ck_assert_uint_ge((uint32_t)t.wnd << 4, WND - WND / 4);
	ferry_stackfake_free(f);
}
END_TEST

START_TEST(partial_take_keeps_order)
{
	struct ferry_stackfake *f = ferry_stackfake_new(1500);
	struct ferry_stackfake_app a = ferry_stackfake_app4(40012);
	const char *msg = "0123456789abcdefghij";

	ferry_stackfake_establish(f, &a);
	f->take_limit = 5;
	ferry_stackfake_app_send(f, &a, FERRY_TPKT_PSH, msg, 20);
	ck_assert_uint_eq(f->nrx, 5);
	ferry_stackfake_app_send(f, &a, FERRY_TPKT_FIN, NULL, 0);
	ck_assert_int_eq(f->eofs, 0); /* the FIN waits behind the bytes */
	f->take_limit = 7;
	ferry_stack_tcp_writable(a.flow);
	ck_assert_uint_eq(f->nrx, 12);
	f->take_limit = SIZE_MAX;
	ferry_stack_tcp_writable(a.flow);
	ck_assert_uint_eq(f->nrx, 20);
	ck_assert_mem_eq(f->rx, msg, 20);
	ck_assert_int_eq(f->eofs, 1);
	ferry_stackfake_free(f);
}
END_TEST

START_TEST(short_send_then_sendable)
{
	struct ferry_stackfake *f = ferry_stackfake_new(65535);
	struct ferry_stackfake_app a = ferry_stackfake_app4(40013);
	static uint8_t big[200000];
	struct ferry_tpkt t;
	size_t n, total = 0;
	unsigned i;

	ferry_stackfake_establish(f, &a);
	n = ferry_stack_tcp_send(a.flow, big, sizeof(big));
	ck_assert_uint_gt(n, 0);
	ck_assert_uint_lt(n, sizeof(big));
	total += n;
	while ((n = ferry_stack_tcp_send(a.flow, big, sizeof(big) - total)) > 0)
		total += n;
	ck_assert_uint_eq(f->sendables, 0);
	/* The app acknowledges everything it got; tcp_sent frees room. */
	for (i = 0; i < 64 && ferry_stackfake_pending_out(f); i++) {
		ferry_stackfake_next_out(f, &t);
		a.ack = t.seq + (uint32_t)t.payload_len;
	}
	ferry_stackfake_app_send(f, &a, 0, NULL, 0);
	ck_assert_int_eq(f->sendables, 1);
	ck_assert_uint_gt(f->sendable_space, 0);
	ferry_stackfake_free(f);
}
END_TEST

/* The whole stack as a loopback: the fake transport echoes every byte it takes back to
 * the application, taking only what lwIP's send buffer accepts, so the app's window
 * depends on its own reading. The app pushes total bytes and must read them back intact. */
static void echo_loopback(struct ferry_stackfake *f, struct ferry_stackfake_app *a, size_t total,
			  size_t seg)
{
	static uint8_t data[FERRY_TPKT_MAX];
	uint8_t *back = malloc(total);
	uint32_t stack_acked = a->seq, stack_wnd = 65535;
	size_t sent = 0, echoed = 0, i;
	struct ferry_tpkt t;
	unsigned rounds;

	ck_assert_ptr_nonnull(back);
	for (i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 13 + 5);
	f->echo = 1;
	for (rounds = 0; echoed < total && rounds < 10000; rounds++) {
		while (sent < total) {
			size_t n = total - sent < seg ? total - sent : seg;

			if ((uint32_t)(a->seq - stack_acked) + n > stack_wnd)
				break;
			ferry_stackfake_app_send(f, a, FERRY_TPKT_PSH, data + sent % 4096, n);
			sent += n;
		}
		if (!ferry_stackfake_pending_out(f))
			ferry_stackfake_advance(f, 100); /* delayed ACKs, retries */
		while (ferry_stackfake_pending_out(f)) {
			ferry_stackfake_next_out(f, &t);
			if (t.flags & FERRY_TPKT_ACK) {
				stack_acked = t.ack;
				stack_wnd = (uint32_t)t.wnd << 4;
			}
			if (t.payload_len && t.seq == a->ack) {
				ck_assert_uint_le(echoed + t.payload_len, total);
				memcpy(back + echoed, t.payload, t.payload_len);
				echoed += t.payload_len;
				a->ack += (uint32_t)t.payload_len;
			}
		}
		ferry_stackfake_app_send(f, a, 0, NULL, 0); /* the app reads and acknowledges */
	}
	ck_assert_uint_eq(echoed, total);
	ck_assert_int_gt(f->sendables, 0); /* the send buffer filled and drained */
	for (i = 0; i < total; i += 4096)
		ck_assert_mem_eq(back + i, data + i % 4096, total - i < 4096 ? total - i : 4096);
	free(back);
}

START_TEST(loopback_echo_v4_1500)
{
	struct ferry_stackfake *f = ferry_stackfake_new(1500);
	struct ferry_stackfake_app a = ferry_stackfake_app4(40030);

	ferry_stackfake_establish(f, &a);
	echo_loopback(f, &a, 2u << 20, 1460);
	ferry_stackfake_free(f);
}
END_TEST

START_TEST(loopback_echo_v6_jumbo)
{
	struct ferry_stackfake *f = ferry_stackfake_new(65535);
	struct ferry_stackfake_app a = {.src = FERRY_STACKFAKE_APP6,
					.dst = FERRY_STACKFAKE_DST6,
					.sport = 40031,
					.dport = 443,
					.seq = 1};

	ferry_stackfake_establish(f, &a);
	echo_loopback(f, &a, 4u << 20, 32768);
	ferry_stackfake_free(f);
}
END_TEST

START_TEST(half_close_app_first)
{
	struct ferry_stackfake *f = ferry_stackfake_new(1500);
	struct ferry_stackfake_app a = ferry_stackfake_app4(40020);
	struct ferry_tpkt t;

	ferry_stackfake_establish(f, &a);
	ferry_stackfake_app_send(f, &a, FERRY_TPKT_FIN, "bye", 3);
	ck_assert_int_eq(f->eofs, 1);
	ck_assert_uint_eq(f->nrx, 3);
	/* The far side still talks to the half-closed app. */
	ck_assert_uint_eq(ferry_stack_tcp_send(a.flow, (const uint8_t *)"late", 4), 4);
	do
		ferry_stackfake_next_out(f, &t); /* lwIP may ACK the FIN on its own first */
	while (t.payload_len == 0);
	ck_assert_uint_eq(t.payload_len, 4);
	ck_assert_uint_eq(t.ack, a.seq); /* the FIN is acknowledged */
	a.ack += 4;
	/* the close waits for the app's ACK of what lwIP holds: no FIN, no end yet */
	ck_assert_int_eq(ferry_stack_tcp_shutdown(a.flow), 0);
	ck_assert_int_eq(f->closed, 0);
	ck_assert_uint_eq(ferry_stack_tcp_send(a.flow, (const uint8_t *)"x", 1), 0);
	ferry_stackfake_app_send(f, &a, 0, NULL, 0);
	ck_assert_int_eq(f->closed, 1);
	ck_assert_int_eq(f->closed_reason, 0);
	ferry_stackfake_next_out(f, &t);
	ck_assert_uint_eq(t.flags & FERRY_TPKT_FIN, FERRY_TPKT_FIN);
	ck_assert_uint_eq(t.flags & FERRY_TPKT_RST, 0);
	ck_assert_uint_eq(ferry_stack_get_stats(f->stack)->tcp_flows, 0);
	a.ack += 1;
	ferry_stackfake_app_send(f, &a, 0, NULL, 0); /* lwIP finishes LAST_ACK on its own */
	ck_assert_uint_eq(ferry_stackfake_pending_out(f), 0);
	ferry_stackfake_free(f);
}
END_TEST

/* The application sent its request and FIN; the reply comes half a minute later, more
 * than lwIP sends at once, and the caller shuts down right after it. Every byte and the
 * FIN reach the application, and no RST: lwIP's LAST_ACK timer counts 2 MSL (10 s) from
 * the application's last segment, and a pcb closed with bytes still to send was freed at
 * its next tick, silently; the application's ACKs then met no pcb (the soak saw dozens of
 * such resets a minute). */
START_TEST(late_reply_then_close)
{
	struct ferry_stackfake *f = ferry_stackfake_new(1500);
	struct ferry_stackfake_app a = ferry_stackfake_app4(40029);
	static uint8_t reply[64 * 1024];
	struct ferry_tpkt t;
	size_t got = 0, sent;
	int i, fin = 0;

	for (i = 0; i < (int)sizeof(reply); i++)
		reply[i] = (uint8_t)(i * 7);
	ferry_stackfake_establish(f, &a);
	ferry_stackfake_app_send(f, &a, FERRY_TPKT_FIN, "req", 3);
	ck_assert_int_eq(f->eofs, 1);
	while (ferry_stackfake_pending_out(f))
		ferry_stackfake_next_out(f, &t); /* the ACK of the request and FIN */
	for (i = 0; i < 60; i++)		 /* 30 s without a segment from the app */
		ferry_stackfake_advance(f, 500);
	sent = ferry_stack_tcp_send(a.flow, reply, sizeof(reply));
	ck_assert_uint_gt(sent, 0);
	ck_assert_int_eq(ferry_stack_tcp_shutdown(a.flow), 0);
	/* the app ACKs each segment as it comes; lwIP's timers tick between the rounds */
	for (i = 0; i < 200 && !fin; i++) {
		if (!ferry_stackfake_pending_out(f)) {
			ferry_stackfake_advance(f, 250);
			continue;
		}
		ferry_stackfake_next_out(f, &t);
		ck_assert_msg(!(t.flags & FERRY_TPKT_RST), "RST after %zu of %zu bytes", got, sent);
		if (t.payload_len) {
			ck_assert_uint_eq(t.seq, a.ack);
			ck_assert_mem_eq(t.payload, reply + got, t.payload_len);
			got += t.payload_len;
			a.ack += t.payload_len;
		}
		if (t.flags & FERRY_TPKT_FIN) {
			fin = 1;
			a.ack += 1;
		}
		ferry_stackfake_advance(f, 500); /* one of lwIP's slow ticks per segment */
		ferry_stackfake_app_send(f, &a, 0, NULL, 0);
	}
	ck_assert_uint_eq(got, sent);
	ck_assert_int_eq(fin, 1);
	ck_assert_int_eq(f->closed, 1);
	ck_assert_int_eq(f->closed_reason, 0);
	while (ferry_stackfake_pending_out(f)) {
		ferry_stackfake_next_out(f, &t);
		ck_assert_uint_eq(t.flags & FERRY_TPKT_RST, 0);
	}
	ferry_stackfake_free(f);
}
END_TEST

START_TEST(half_close_peer_first)
{
	struct ferry_stackfake *f = ferry_stackfake_new(1500);
	struct ferry_stackfake_app a = ferry_stackfake_app4(40021);
	struct ferry_tpkt t;

	ferry_stackfake_establish(f, &a);
	ck_assert_int_eq(ferry_stack_tcp_shutdown(a.flow), 0);
	ck_assert_int_eq(ferry_stack_tcp_shutdown(a.flow), -EINVAL);
	ferry_stackfake_next_out(f, &t);
	ck_assert_uint_eq(t.flags & FERRY_TPKT_FIN, FERRY_TPKT_FIN);
	a.ack += 1;
	ck_assert_uint_eq(ferry_stack_tcp_send(a.flow, (const uint8_t *)"x", 1), 0);
	/* The app keeps sending after our FIN. */
	ferry_stackfake_app_send(f, &a, FERRY_TPKT_PSH, "more", 4);
	ck_assert_uint_eq(f->nrx, 4);
	ck_assert_int_eq(f->closed, 0);
	ferry_stackfake_app_send(f, &a, FERRY_TPKT_FIN, NULL, 0);
	ck_assert_int_eq(f->eofs, 1);
	ck_assert_int_eq(f->closed, 1);
	ck_assert_int_eq(f->closed_reason, 0);
	ferry_stackfake_free(f);
}
END_TEST

/* The destination closed first; the application then sends bytes the caller cannot take
 * yet, and its FIN. lwIP has closed both ways (TIME_WAIT, freed by lwIP on its own after
 * 2 MSL, no callback) while the bytes still wait in the flow: they must reach the caller
 * once it takes them, long after, with the flow ending cleanly. */
START_TEST(half_close_peer_first_bytes_outlive_time_wait)
{
	struct ferry_stackfake *f = ferry_stackfake_new(1500);
	struct ferry_stackfake_app a = ferry_stackfake_app4(40027), b = ferry_stackfake_app4(40028);
	struct ferry_tpkt t;
	int i;

	ferry_stackfake_establish(f, &a);
	ck_assert_int_eq(ferry_stack_tcp_shutdown(a.flow), 0);
	ferry_stackfake_next_out(f, &t);
	ck_assert_uint_eq(t.flags & FERRY_TPKT_FIN, FERRY_TPKT_FIN);
	a.ack += 1;
	f->take_limit = 0;
	ferry_stackfake_app_send(f, &a, FERRY_TPKT_PSH, "late", 4);
	ferry_stackfake_app_send(f, &a, FERRY_TPKT_FIN, NULL, 0);
	ck_assert_uint_eq(f->nrx, 0);
	ck_assert_int_eq(f->closed, 0);
	for (i = 0; i < 60; i++) /* 30 s in lwIP's timer steps: well past TIME_WAIT */
		ferry_stackfake_advance(f, 500);
	ck_assert_int_eq(f->closed, 0);
	while (ferry_stackfake_pending_out(f)) /* lwIP's ACKs of the app's bytes and FIN */
		ferry_stackfake_next_out(f, &t);
	/* A new connection, likely on the pcb lwIP freed: the old flow must not touch it. */
	ferry_stackfake_establish(f, &b);
	f->take_limit = SIZE_MAX;
	ferry_stack_tcp_writable(a.flow);
	ck_assert_uint_eq(f->nrx, 4);
	ck_assert_mem_eq(f->rx, "late", 4);
	ck_assert_int_eq(f->eofs, 1);
	ck_assert_int_eq(f->closed, 1);
	ck_assert_ptr_eq(f->closed_flow, a.flow);
	ck_assert_int_eq(f->closed_reason, 0);
	ck_assert_uint_eq(ferry_stackfake_pending_out(f), 0); /* nothing sent toward b */
	ferry_stackfake_app_send(f, &b, FERRY_TPKT_PSH, "b", 1);
	ck_assert_uint_eq(f->nrx, 5);
	ck_assert_int_eq(f->closed, 1);
	ferry_stackfake_free(f);
}
END_TEST

START_TEST(rst_from_app)
{
	struct ferry_stackfake *f = ferry_stackfake_new(1500);
	struct ferry_stackfake_app a = ferry_stackfake_app4(40022);

	ferry_stackfake_establish(f, &a);
	ferry_stackfake_app_send(f, &a, FERRY_TPKT_RST, NULL, 0);
	ck_assert_int_eq(f->closed, 1);
	ck_assert_int_eq(f->closed_reason, -ECONNRESET);
	ck_assert_uint_eq(ferry_stackfake_pending_out(f), 0);
	ck_assert_uint_eq(ferry_stack_get_stats(f->stack)->tcp_flows, 0);
	ferry_stackfake_free(f);
}
END_TEST

START_TEST(rst_from_peer)
{
	struct ferry_stackfake *f = ferry_stackfake_new(1500);
	struct ferry_stackfake_app a = ferry_stackfake_app4(40023);
	struct ferry_tpkt t;

	ferry_stackfake_establish(f, &a);
	ferry_stack_tcp_reset(a.flow);
	ferry_stackfake_next_out(f, &t);
	ck_assert_uint_eq(t.flags & FERRY_TPKT_RST, FERRY_TPKT_RST);
	ck_assert(ferry_tpkt_from(&t, FERRY_STACKFAKE_DST4, 443));
	ck_assert_int_eq(f->closed, 0);
	ck_assert_uint_eq(ferry_stack_get_stats(f->stack)->tcp_flows, 0);
	ferry_stackfake_free(f);
}
END_TEST

START_TEST(reset_inside_data_callback)
{
	struct ferry_stackfake *f = ferry_stackfake_new(1500);
	struct ferry_stackfake_app a = ferry_stackfake_app4(40024);
	struct ferry_tpkt t;

	ferry_stackfake_establish(f, &a);
	f->reset_in_data = 1;
	ferry_stackfake_app_send(f, &a, FERRY_TPKT_PSH, "boom", 4);
	ferry_stackfake_next_out(f, &t);
	ck_assert_uint_eq(t.flags & FERRY_TPKT_RST, FERRY_TPKT_RST);
	ck_assert_uint_eq(ferry_stack_get_stats(f->stack)->tcp_flows, 0);
	/* Later segments of the dead connection get lwIP's RST, not a crash. */
	ferry_stackfake_app_send(f, &a, FERRY_TPKT_PSH, "more", 4);
	ferry_stackfake_next_out(f, &t);
	ck_assert_uint_eq(t.flags & FERRY_TPKT_RST, FERRY_TPKT_RST);
	ferry_stackfake_free(f);
}
END_TEST

START_TEST(keepalive_gives_up)
{
	struct ferry_stack_config cfg;
	struct ferry_stackfake *f;
	struct ferry_stackfake_app a = ferry_stackfake_app4(40026);
	struct ferry_tpkt t;
	unsigned i, probes = 0;

	ferry_stack_config_default(&cfg);
	cfg.keepalive_idle_ms = 2000;
	cfg.keepalive_interval_ms = 1000;
	cfg.keepalive_count = 3;
	f = ferry_stackfake_new_cfg(&cfg);
	ferry_stackfake_establish(f, &a);
	/* The app vanished: probes (seq one below the next) go unanswered. */
	for (i = 0; i < 40 && f->closed == 0; i++) {
		ferry_stackfake_advance(f, 250);
		while (ferry_stackfake_pending_out(f)) {
			ferry_stackfake_next_out(f, &t);
			if (!(t.flags & FERRY_TPKT_RST) && t.seq == a.ack - 1)
				probes++;
		}
	}
	ck_assert_int_eq(f->closed, 1);
	ck_assert_int_eq(f->closed_reason, -ECONNABORTED);
	ck_assert_uint_ge(probes, 2);
	ck_assert_uint_le(f->now, 1000 + 2000 + 3 * 1000 + 1000);
	ferry_stackfake_free(f);
}
END_TEST

START_TEST(idle_timeout)
{
	struct ferry_stack_config cfg;
	struct ferry_stackfake *f;
	struct ferry_stackfake_app a = ferry_stackfake_app4(40025);
	struct ferry_tpkt t;

	ferry_stack_config_default(&cfg);
	cfg.tcp_idle_timeout_ms = 5000;
	cfg.keepalive_idle_ms = 0;
	f = ferry_stackfake_new_cfg(&cfg);
	ferry_stackfake_establish(f, &a);
	ferry_stackfake_advance(f, 3000);
	ferry_stackfake_app_send(f, &a, FERRY_TPKT_PSH, "hi", 2); /* activity resets the clock */
	ferry_stackfake_advance(f, 4000);
	ck_assert_int_eq(f->closed, 0);
	while (ferry_stackfake_pending_out(f))
		ferry_stackfake_next_out(f, &t);
	ck_assert_uint_le(ferry_stack_next_deadline(f->stack, f->now), f->now + 1000);
	ferry_stackfake_advance(f, 1000);
	ck_assert_int_eq(f->closed, 1);
	ck_assert_int_eq(f->closed_reason, -ETIMEDOUT);
	ferry_stackfake_next_out(f, &t);
	ck_assert_uint_eq(t.flags & FERRY_TPKT_RST, FERRY_TPKT_RST);
	ferry_stackfake_free(f);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("stack_tcp");
	TCase *data = ferry_tcase("data", 10);
	TCase *closing = ferry_tcase("closing", 10);

	tcase_add_test(data, data_both_ways);
	tcase_add_test(data, lone_segment_acked_at_once);
	tcase_add_test(data, small_writes_leave_without_nagle);
	tcase_add_test(data, send_more_leaves_full_segments_at_the_flush);
	tcase_add_test(data, request_response_turnaround);
	tcase_add_test(data, window_full_then_writable);
	tcase_add_test(data, partial_take_keeps_order);
	tcase_add_test(data, short_send_then_sendable);
	tcase_add_test(data, loopback_echo_v4_1500);
	tcase_add_test(data, loopback_echo_v6_jumbo);
	tcase_add_test(closing, half_close_app_first);
	tcase_add_test(closing, late_reply_then_close);
	tcase_add_test(closing, half_close_peer_first);
	tcase_add_test(closing, half_close_peer_first_bytes_outlive_time_wait);
	tcase_add_test(closing, rst_from_app);
	tcase_add_test(closing, rst_from_peer);
	tcase_add_test(closing, reset_inside_data_callback);
	tcase_add_test(closing, idle_timeout);
	tcase_add_test(closing, keepalive_gives_up);
	suite_add_tcase(s, data);
	suite_add_tcase(s, closing);
	return ferry_run_suite(s);
}
