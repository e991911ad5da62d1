// SPDX-License-Identifier: MIT
/*
 * The flow protocol end to end, in one process: real client sockets in one network
 * namespace go through a TUN into the stack, across bridge A, an in-memory WAN with delay
 * and loss, bridge B, and out of egress as real sockets to real servers in another
 * namespace -- everything two ferries do between the TUN and the destination except the
 * secure link (tested on its own). The harness is tests/support/relay.h in bridged mode
 * (tests/support/relay_bridge.c); the applications are tests/support/relay_apps.h.
 *
 * Covered: forty connections at once, every byte checked both ways, over a clean WAN and
 * over one losing 5% each way, with half of them half-closed by the destination first,
 * every conversation reclaimed on both sides after both FINs; small downloads that start
 * beside bulk ones in a full pool, finished while the bulk ones still stream; downloads
 * reaching the applications in full segments; a refused and an unroutable connect
 * reaching the application as ECONNREFUSED and ENETUNREACH through RESULT codes; UDP from
 * the destination and, full cone, from elsewhere; ping answered by the real destination;
 * a UDP datagram too big for the datagram channel refused with ICMP fragmentation needed,
 * which the client's kernel takes as the path MTU; a finished download read slowly for many
 * times the linger (the destination closed, and the peer's conversation reclaimed while
 * the client's ARQ still held the rest) arriving whole, and a reader that stops for good
 * reset once the linger passes without progress.
 *
 * Needs root and /dev/net/tun; otherwise the suite exits 77 (CTest: skipped).
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "stack/bridge.h"
#include "stack/egress.h"
#include "stack/stack.h"
#include "tests/support/fixture.h"
#include "tests/support/relay.h"
#include "tests/support/relay_apps.h"

#define CONNS	  40
#define DESTS	  FERRY_RELAY_APPS_DESTS
#define SIZE_MIN  ((size_t)1 << 10)
#define SIZE_SPAN ((size_t)160 << 10)

static size_t size_of(unsigned i, unsigned salt)
{
	return SIZE_MIN +
	       (size_t)(ferry_relay_apps_mix64(0x6272696467650000ull + (uint64_t)i * 2 + salt) %
			SIZE_SPAN);
}

/* Nothing left anywhere: both bridges reclaimed every conversation. */
static bool settled(const struct ferry_relay_apps *t)
{
	return ferry_relay_bridge_stats(t->relay, 0)->convs == 0 &&
	       ferry_relay_bridge_stats(t->relay, 1)->convs == 0 &&
	       ferry_relay_stack_stats(t->relay)->tcp_flows == 0 &&
	       ferry_relay_egress_stats(t->relay)->tcp_flows == 0;
}

static bool all_connections_done(const void *arg)
{
	const struct ferry_relay_apps *t = arg;

	return t->clients_done == CONNS && t->servers_done == CONNS && settled(t);
}

#define DOWNLOADS    4
#define DOWNLOAD_LEN ((size_t)2 << 20)
#define APP_MSS	     1360 /* ferry's default TUN MTU, 1400, over IPv4 */

static bool downloads_done(const void *arg)
{
	const struct ferry_relay_apps *t = arg;

	return t->clients_done == DOWNLOADS && t->servers_done == DOWNLOADS && settled(t);
}

static void streams(const struct ferry_relay_wan *wan, const char *what)
{
	struct ferry_relay_apps *t = ferry_relay_apps_new();
	struct ferry_bridge_peer_stats ps;
	const struct ferry_bridge_stats *a, *b;
	const struct ferry_egress_stats *es;
	uint64_t start, sent, lost;
	size_t up = 0, down = 0;
	unsigned i;

	ferry_relay_enter_a(t->relay);
	for (i = 0; i < CONNS; i++)
		ferry_relay_apps_client_add(t, size_of(i, 0), size_of(i, 1));
	ferry_relay_enter_b();
	for (i = 0; i < DESTS; i++)
		ferry_relay_apps_listener_add(t, i < 2 ? FERRY_RELAY_DST_ADDR_1
						       : FERRY_RELAY_DST_ADDR_2);
	ferry_relay_start_bridged(t->relay, wan);
	start = ferry_relay_clock_ms();
	for (i = 0; i < CONNS; i++) {
		t->clients[i].fin_after_eof = i % 2 == 1;
		ferry_relay_apps_client_connect(t, i, &t->dests[i % DESTS]);
	}
	ferry_relay_run(t->relay, all_connections_done, what);
	for (i = 0; i < CONNS; i++) {
		ferry_relay_apps_check_connection(t, i);
		up += t->clients[i].up_len;
		down += t->clients[i].down_len;
	}
	a = ferry_relay_bridge_stats(t->relay, 0);
	b = ferry_relay_bridge_stats(t->relay, 1);
	es = ferry_relay_egress_stats(t->relay);
	ck_assert_uint_eq(a->tcp_opened, CONNS);
	ck_assert_uint_eq(a->tcp_connected, CONNS);
	ck_assert_uint_eq(b->tcp_accepted, CONNS);
	ck_assert_uint_eq(b->tcp_connected, CONNS);
	ck_assert_uint_eq(a->tcp_failed + b->tcp_failed, 0);
	/* each side reclaims after both FINs, or (its last ACK lost) on the other's UNKNOWN */
	ck_assert_uint_eq(a->tcp_closed, CONNS);
	ck_assert_uint_eq(b->tcp_closed, CONNS);
	ck_assert_uint_eq(a->tcp_resets_out + b->tcp_resets_out, 0);
	ck_assert_uint_eq(a->proto_errors + b->proto_errors, 0);
	ck_assert_uint_eq(a->tcp_dead + b->tcp_dead, 0);
	ck_assert_uint_eq(a->tcp_lingered + b->tcp_lingered, 0);
	ck_assert_uint_eq(es->tcp_connected, CONNS);
	ck_assert_uint_eq(es->tcp_closed, CONNS);
	ck_assert_uint_eq(ferry_relay_stack_stats(t->relay)->tcp_closed, CONNS);
	ferry_relay_wan_counts(t->relay, 0, &sent, &lost);
	printf("%s: %u connections, %zu bytes up, %zu down, in %llu ms; WAN A->B %llu messages, "
	       "%llu lost\n",
	       what, (unsigned)CONNS, up, down,
	       (unsigned long long)(ferry_relay_clock_ms() - start), (unsigned long long)sent,
	       (unsigned long long)lost);
	if (wan->buffers) { /* the pool was short: conversations took turns, and gave back */
		ck_assert_uint_gt(a->tcp_waits + b->tcp_waits, 0);
		ck_assert_uint_eq(a->tcp_waiting + b->tcp_waiting, 0);
		ck_assert_uint_eq(a->tcp_nobuf + b->tcp_nobuf, 0);
		ck_assert_uint_eq(a->buffers_in_use + b->buffers_in_use, 0);
		printf("%s: conversations waited for buffers %llu times at the stack's end, %llu "
		       "at egress's\n",
		       what, (unsigned long long)a->tcp_waits, (unsigned long long)b->tcp_waits);
	}
	ferry_relay_bridge_peer_stats(t->relay, 0, &ps);
	ck_assert_uint_eq(ps.tcp_out + ps.tcp_in, 0); /* every conversation reclaimed */
	ck_assert_uint_eq(ps.rtt_ms, 0);	      /* ... so none has an RTT to give */
	if (wan->loss > 0) {
		ck_assert_uint_gt(lost, 0);
		ck_assert_uint_gt(ps.retransmits, 0); /* kept after the conversations ended */
	}
	ferry_relay_apps_free(t);
}

START_TEST(streams_over_a_clean_wan)
{
	struct ferry_relay_wan wan = {.delay_ms = 2, .loss = 0, .seed = 1};

	streams(&wan, "clean WAN");
}
END_TEST

START_TEST(streams_over_a_lossy_wan)
{
	struct ferry_relay_wan wan = {.delay_ms = 10, .loss = 0.05, .seed = 2};

	streams(&wan, "5% loss each way, 20 ms RTT");
}
END_TEST

/* Forty flows both ways through pools of 96 segment buffers each, less than three apiece:
 * with every pool full of data for the other end, each would drop the other's segments
 * and neither would ever free one, unless data leaves room for receiving and flows take
 * turns for what is freed (transport/arq.h, the bridge's wait list). */
START_TEST(streams_through_a_starved_pool)
{
	struct ferry_relay_wan wan = {.delay_ms = 5, .loss = 0.01, .seed = 3, .buffers = 96};

	streams(&wan, "96 segment buffers, 1% loss");
}
END_TEST

/* A small write is a request: its bytes leave at the flush of the turn that took them,
 * a partial segment too, instead of waiting the ARQ's interval for more (which added
 * 20 ms at each end to every request and every response). */
START_TEST(small_writes_leave_at_once)
{
	struct ferry_relay_apps *t = ferry_relay_apps_new();
	struct ferry_relay_wan wan = {.delay_ms = 5, .loss = 0, .seed = 6};
	unsigned i;

	ferry_relay_enter_a(t->relay);
	for (i = 0; i < CONNS; i++)
		ferry_relay_apps_client_add(t, 64, 64);
	ferry_relay_enter_b();
	for (i = 0; i < DESTS; i++)
		ferry_relay_apps_listener_add(t, FERRY_RELAY_DST_ADDR_1);
	ferry_relay_start_bridged(t->relay, &wan);
	for (i = 0; i < CONNS; i++)
		ferry_relay_apps_client_connect(t, i, &t->dests[i % DESTS]);
	ferry_relay_run(t->relay, all_connections_done, "64-byte requests");
	for (i = 0; i < CONNS; i++)
		ferry_relay_apps_check_connection(t, i);
	ck_assert_uint_eq(ferry_relay_bridge_held(t->relay), 0);
	ferry_relay_apps_free(t);
}
END_TEST

/* Bytes toward an application leave in full segments: the ARQ's segments are handed to
 * the stack as they come (about 1,380 bytes each, not the application's MSS) and pushed
 * together at the end of the turn (ferry_stack_tcp_send_more), so lwIP fills each
 * segment instead of sending a full one and a sliver per ARQ segment. */
START_TEST(downloads_leave_in_full_segments)
{
	struct ferry_relay_apps *t = ferry_relay_apps_new();
	struct ferry_relay_wan wan = {.delay_ms = 5, .loss = 0, .seed = 7};
	const struct ferry_stack_stats *ss;
	uint64_t full = 0;
	unsigned i;

	ferry_relay_enter_a(t->relay);
	for (i = 0; i < DOWNLOADS; i++) {
		int mss = APP_MSS;

		ferry_relay_apps_client_add(t, 64, DOWNLOAD_LEN);
		ck_assert_int_eq(
		    setsockopt(t->clients[i].fd, IPPROTO_TCP, TCP_MAXSEG, &mss, sizeof(mss)), 0);
	}
	ferry_relay_enter_b();
	ferry_relay_apps_listener_add(t, FERRY_RELAY_DST_ADDR_1);
	ferry_relay_start_bridged(t->relay, &wan);
	for (i = 0; i < DOWNLOADS; i++)
		ferry_relay_apps_client_connect(t, i, &t->dests[0]);
	ferry_relay_run(t->relay, downloads_done, "downloads");
	for (i = 0; i < DOWNLOADS; i++) {
		ferry_relay_apps_check_connection(t, i);
		full += (t->clients[i].down_len + APP_MSS - 1) / APP_MSS;
	}
	ss = ferry_relay_stack_stats(t->relay);
	printf("downloads: %u x %zu bytes in %llu packets toward the applications; %llu full "
	       "segments would carry them\n",
	       (unsigned)DOWNLOADS, (size_t)DOWNLOAD_LEN, (unsigned long long)ss->packets_out,
	       (unsigned long long)full);
	/* 2% over full segments, plus per connection its SYN-ACK, FIN and a few ACKs; the
	 * ARQ's segments pushed one by one came to 0.4, 2.9 and 14% over in this harness (where
	 * windows often hold lwIP back, which fills segments anyway) and twice over in the
	 * soak; test_stack_tcp shows the segmentation exactly */
	ck_assert_uint_le(ss->packets_out, full + full / 50 + (uint64_t)8 * DOWNLOADS);
	ferry_relay_apps_free(t);
}
END_TEST

/* ---- linger: a finished conversation waits for the peer's progress, not a fixed time ---- */

#define LINGER_MS  400
#define SLOW_LEN   ((size_t)1 << 20)
#define SLOW_STEP  ((size_t)64 << 10) /* bytes the reader takes, then pauses */
#define SLOW_PAUSE 200		      /* ms, half of LINGER_MS */

/* What the loop's conditions below wait for (they get only the apps). */
static struct {
	uint64_t until_ms; /* a pause: run the loop to here */
	size_t want;	   /* a read: until the client has this many bytes */
} slow;

static bool pause_over(const void *arg)
{
	(void)arg;
	return ferry_relay_clock_ms() >= slow.until_ms;
}

static bool step_read(const void *arg)
{
	const struct ferry_relay_apps *t = arg;

	return t->clients[0].rcvd >= slow.want || t->clients[0].eof;
}

static bool destination_done(const void *arg)
{
	const struct ferry_relay_apps *t = arg;

	return t->servers_done == 1;
}

static bool one_download_done(const void *arg)
{
	const struct ferry_relay_apps *t = arg;

	return t->clients_done == 1 && t->servers_done == 1 && settled(t);
}

static void pause_for(struct ferry_relay_apps *t, uint32_t ms, const char *what)
{
	slow.until_ms = ferry_relay_clock_ms() + ms;
	ferry_relay_run(t->relay, pause_over, what);
}

/* One download of len bytes; if held, its client does not read until the destination has
 * written it all and closed (into egress's socket: egress reads the FIN once the rest
 * fits). */
static struct ferry_relay_apps *slow_download(size_t len, bool held)
{
	struct ferry_relay_apps *t = ferry_relay_apps_new();
	struct ferry_relay_wan wan = {.delay_ms = 5, .seed = 11, .linger_ms = LINGER_MS};

	ferry_relay_enter_a(t->relay);
	ferry_relay_apps_client_add(t, 64, len);
	t->clients[0].hold_reads = held;
	ferry_relay_enter_b();
	ferry_relay_apps_listener_add(t, FERRY_RELAY_DST_ADDR_1);
	ferry_relay_start_bridged(t->relay, &wan);
	ferry_relay_apps_client_connect(t, 0, &t->dests[0]);
	if (held) {
		ferry_relay_run(t->relay, destination_done, "the destination sending it all");
		pause_for(t, 50, "egress reading the FIN");
	}
	return t;
}

/* The reader takes SLOW_STEP, pauses SLOW_PAUSE, and so on: the download lasts many times
 * LINGER_MS after the destination's FIN, but the peer makes progress in every pause's
 * span, so nothing is reset and every byte arrives (linger once counted from the FIN, and
 * the soak's slow downloads were reset 60 s after it). */
START_TEST(slow_reader_gets_every_byte_after_the_destination_closed)
{
	struct ferry_relay_apps *t = slow_download(SLOW_LEN, true);
	struct ferry_relay_apps_client *c = &t->clients[0];
	uint64_t start = ferry_relay_clock_ms();
	unsigned steps = 0;

	while (!c->eof) {
		ck_assert_uint_lt(++steps, 2 * SLOW_LEN / SLOW_STEP);
		slow.want = c->rcvd + SLOW_STEP;
		c->hold_reads = false;
		ferry_relay_apps_client_watch(t, 0);
		ferry_relay_run(t->relay, step_read, "the reader's next step");
		if (c->done)
			break;
		c->hold_reads = true;
		ferry_relay_apps_client_watch(t, 0);
		pause_for(t, SLOW_PAUSE, "the reader's pause");
	}
	ferry_relay_run(t->relay, one_download_done, "the connection's end");
	/* it did outlast the linger many times over, or this showed nothing */
	ck_assert_uint_ge(ferry_relay_clock_ms() - start, (uint64_t)3 * LINGER_MS);
	ferry_relay_apps_check_connection(t, 0);
	ck_assert_uint_eq(ferry_relay_bridge_stats(t->relay, 0)->tcp_lingered +
			      ferry_relay_bridge_stats(t->relay, 1)->tcp_lingered,
			  0);
	ferry_relay_apps_free(t);
}
END_TEST

static bool lingered(const void *arg)
{
	const struct ferry_relay_apps *t = arg;

	return ferry_relay_bridge_stats(t->relay, 1)->tcp_lingered > 0;
}

static bool egress_flow_ended(const void *arg)
{
	const struct ferry_relay_apps *t = arg;

	return ferry_relay_egress_stats(t->relay)->tcp_closed > 0;
}

/* A reader that stops for good an eighth into a download: egress's side takes the rest of
 * the reply into its conversation and reads the destination's FIN, the peer's ARQ answers
 * probes but takes nothing, and the finished conversation is reset LINGER_MS after the
 * last progress, not kept. */
START_TEST(stopped_reader_is_reset_after_linger)
{
	struct ferry_relay_apps *t = slow_download(SLOW_LEN, false);
	struct ferry_relay_apps_client *c = &t->clients[0];
	uint64_t start;

	slow.want = SLOW_LEN / 8;
	ferry_relay_run(t->relay, step_read, "the first eighth");
	c->hold_reads = true;
	ferry_relay_apps_client_watch(t, 0);
	ferry_relay_run(t->relay, egress_flow_ended, "egress reading the destination's FIN");
	start = ferry_relay_clock_ms();
	ferry_relay_run(t->relay, lingered, "the linger's reset");
	/* not at once: the linger ran from the FIN's turn at the earliest, which ended before
	 * start by the length of a loop turn (a few ms; more under a sanitizer) */
	ck_assert_uint_ge(ferry_relay_clock_ms() - start + 50, LINGER_MS);
	ck_assert_uint_eq(ferry_relay_bridge_stats(t->relay, 1)->tcp_lingered, 1);
	ck_assert_uint_lt(c->rcvd, SLOW_LEN);
	ferry_relay_apps_free(t);
}
END_TEST

/* A link with no room at all, ahead of bulk or not: new connections still open (an OPEN is
 * never held, stack/bridge_sched.c), and once the link takes data again every byte arrives. In
 * the soak, thousands of connections timed out waiting behind the data of those open. */
static bool all_connected(const void *arg)
{
	const struct ferry_relay_apps *t = arg;
	unsigned i;

	for (i = 0; i < CONNS; i++)
		if (!t->clients[i].connected)
			return false;
	return true;
}

START_TEST(opens_while_the_link_is_backed_up)
{
	struct ferry_relay_apps *t = ferry_relay_apps_new();
	struct ferry_relay_wan wan = {.delay_ms = 5, .loss = 0, .seed = 8, .backed_up = true};
	unsigned i;

	ferry_relay_enter_a(t->relay);
	for (i = 0; i < CONNS; i++)
		ferry_relay_apps_client_add(t, 4096, 4096);
	ferry_relay_enter_b();
	for (i = 0; i < DESTS; i++)
		ferry_relay_apps_listener_add(t, FERRY_RELAY_DST_ADDR_1);
	ferry_relay_start_bridged(t->relay, &wan);
	for (i = 0; i < CONNS; i++)
		ferry_relay_apps_client_connect(t, i, &t->dests[i % DESTS]);
	ferry_relay_run(t->relay, all_connected, "connections over a backed-up link");
	ck_assert_uint_eq(t->clients_done, 0);
	ferry_relay_unblock(t->relay);
	ferry_relay_run(t->relay, all_connections_done, "the same, the link free again");
	for (i = 0; i < CONNS; i++)
		ferry_relay_apps_check_connection(t, i);
	ferry_relay_apps_free(t);
}
END_TEST

/* Flows that come late to a full pool get turns: a few bulk downloads fill egress's side's
 * 96 buffers, each refilling its share as its own ACKs free it; then small downloads
 * start. While any conversation waits for buffers, none takes them without its turn
 * (stack/bridge_tcp.c), so the small ones finish while the bulk ones still stream. In the
 * soak, conversations that held buffers refilled them at each ACK, a waiter woken found
 * them gone and went back to the tail, and 5% of 10,000 flows waited past 180 s. */
#define BULK	   4
#define LATE	   8
#define BULK_DOWN  ((size_t)6 << 20)
#define BULK_AHEAD ((size_t)256 << 10) /* each bulk flow had this much before the late start */
#define LATE_DOWN  ((size_t)64 << 10)

static bool bulk_streaming(const void *arg)
{
	const struct ferry_relay_apps *t = arg;
	unsigned i;

	for (i = 0; i < BULK; i++)
		if (t->clients[i].rcvd < BULK_AHEAD)
			return false;
	return true;
}

static bool late_done(const void *arg)
{
	const struct ferry_relay_apps *t = arg;
	unsigned i;

	for (i = BULK; i < BULK + LATE; i++)
		if (!t->clients[i].done)
			return false;
	return true;
}

static bool bulk_and_late_done(const void *arg)
{
	const struct ferry_relay_apps *t = arg;

	return t->clients_done == BULK + LATE && t->servers_done == BULK + LATE && settled(t);
}

START_TEST(late_flows_get_turns_in_a_full_pool)
{
	struct ferry_relay_apps *t = ferry_relay_apps_new();
	struct ferry_relay_wan wan = {.delay_ms = 5, .loss = 0, .seed = 9, .buffers = 96};
	const struct ferry_bridge_stats *b;
	size_t least = BULK_DOWN;
	unsigned i;

	ferry_relay_enter_a(t->relay);
	for (i = 0; i < BULK; i++)
		ferry_relay_apps_client_add(t, 64, BULK_DOWN);
	for (i = 0; i < LATE; i++)
		ferry_relay_apps_client_add(t, 64, LATE_DOWN);
	ferry_relay_enter_b();
	for (i = 0; i < DESTS; i++)
		ferry_relay_apps_listener_add(t, FERRY_RELAY_DST_ADDR_1);
	ferry_relay_start_bridged(t->relay, &wan);
	for (i = 0; i < BULK; i++)
		ferry_relay_apps_client_connect(t, i, &t->dests[i % DESTS]);
	ferry_relay_run(t->relay, bulk_streaming, "bulk downloads through 96 buffers");
	for (i = BULK; i < BULK + LATE; i++)
		ferry_relay_apps_client_connect(t, i, &t->dests[i % DESTS]);
	ferry_relay_run(t->relay, late_done, "small downloads beside them");
	for (i = 0; i < BULK; i++)
		if (t->clients[i].rcvd < least)
			least = t->clients[i].rcvd;
	b = ferry_relay_bridge_stats(t->relay, 1);
	printf("late flows done: the bulk flows had %zu KiB at least of %zu; egress's side "
	       "waited for buffers %llu times\n",
	       least >> 10, BULK_DOWN >> 10, (unsigned long long)b->tcp_waits);
	ck_assert_uint_gt(b->tcp_waits, 0); /* the pool was full: they did wait */
	for (i = 0; i < BULK; i++)
		ck_assert_msg(!t->clients[i].done, "bulk flow %u finished before the late ones", i);
	ferry_relay_run(t->relay, bulk_and_late_done, "the bulk downloads to their end");
	for (i = 0; i < BULK + LATE; i++)
		ferry_relay_apps_check_connection(t, i);
	ferry_relay_apps_free(t);
}
END_TEST

/* ---- connects that fail at the far side ----------------------------------------------- */

static bool both_failed(const void *arg)
{
	const struct ferry_relay_apps *t = arg;

	return t->clients_done == 2 && settled(t);
}

START_TEST(refused_and_unreachable)
{
	struct ferry_relay_apps *t = ferry_relay_apps_new();
	struct ferry_relay_wan wan = {.delay_ms = 5, .loss = 0, .seed = 3};
	struct ferry_endpoint closed, nowhere;
	const struct ferry_bridge_stats *a, *b;
	int fd;

	ferry_relay_enter_a(t->relay);
	ferry_relay_apps_client_add(t, 1, 0);
	ferry_relay_apps_client_add(t, 1, 0);
	ferry_relay_enter_b();
	fd = ferry_relay_apps_bound_socket(SOCK_STREAM, FERRY_RELAY_DST_ADDR_1);
	ferry_relay_apps_ep4(&closed, FERRY_RELAY_DST_ADDR_1, ferry_relay_apps_local_port(fd));
	close(fd);
	ferry_relay_apps_ep4(&nowhere, FERRY_RELAY_NO_ROUTE, 80);
	ferry_relay_start_bridged(t->relay, &wan);
	ferry_relay_apps_client_connect(t, 0, &closed);
	ferry_relay_apps_client_connect(t, 1, &nowhere);
	ferry_relay_run(t->relay, both_failed, "refused and unreachable");
	ck_assert_msg(t->clients[0].err == ECONNREFUSED, "refused: client saw %s",
		      strerror(t->clients[0].err));
	ck_assert_msg(t->clients[1].err == ENETUNREACH, "unreachable: client saw %s",
		      strerror(t->clients[1].err));
	a = ferry_relay_bridge_stats(t->relay, 0);
	b = ferry_relay_bridge_stats(t->relay, 1);
	ck_assert_uint_eq(a->tcp_failed, 2);
	ck_assert_uint_eq(b->tcp_failed, 2);
	ck_assert_uint_eq(a->tcp_closed, 2); /* RESULT, then both FINs: reclaimed */
	ck_assert_uint_eq(b->tcp_closed, 2);
	ck_assert_uint_eq(ferry_relay_stack_stats(t->relay)->tcp_refused, 1);
	ck_assert_uint_eq(ferry_relay_stack_stats(t->relay)->tcp_unreach, 1);
	ferry_relay_apps_free(t);
}
END_TEST

/* ---- UDP and ping ----------------------------------------------------------------------- */

static bool udp_and_pings_done(const void *arg)
{
	const struct ferry_relay_apps *t = arg;

	return t->udp_replies == FERRY_RELAY_APPS_UDP_COUNT && t->udp_elsewhere == 1 &&
	       t->ping_replies == FERRY_RELAY_APPS_PINGS;
}

START_TEST(udp_full_cone_and_ping)
{
	struct ferry_relay_apps *t = ferry_relay_apps_new();
	struct ferry_relay_wan wan = {.delay_ms = 5, .loss = 0, .seed = 4};
	const struct ferry_bridge_stats *a, *b;
	struct sockaddr_in to;
	uint8_t buf[1500];
	unsigned seq;
	int k;

	ferry_relay_enter_a(t->relay);
	ferry_relay_sysctl_set("/proc/sys/net/ipv4/ping_group_range", "0 2147483647");
	t->uclient = ferry_relay_apps_bound_socket(SOCK_DGRAM, FERRY_RELAY_CLIENT_ADDR);
	t->ping = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMP);
	ck_assert_msg(t->ping >= 0, "ping socket: %s", strerror(errno));
	ferry_relay_enter_b();
	ferry_relay_sysctl_set("/proc/sys/net/ipv4/ping_group_range", "0 2147483647");
	t->userver[0] = ferry_relay_apps_bound_socket(SOCK_DGRAM, FERRY_RELAY_DST_ADDR_1);
	t->userver[1] = ferry_relay_apps_bound_socket(SOCK_DGRAM, FERRY_RELAY_DST_ADDR_2);
	ferry_relay_apps_ep4(&t->udst[0], FERRY_RELAY_DST_ADDR_1,
			     ferry_relay_apps_local_port(t->userver[0]));
	ferry_relay_apps_ep4(&t->udst[1], FERRY_RELAY_DST_ADDR_2,
			     ferry_relay_apps_local_port(t->userver[1]));
	ferry_relay_start_bridged(t->relay, &wan);
	ferry_relay_watch(t->relay, t->uclient, FERRY_RELAY_APPS_K_UCLIENT, 0, EPOLLIN);
	ferry_relay_watch(t->relay, t->ping, FERRY_RELAY_APPS_K_PING, 0, EPOLLIN);
	for (k = 0; k < 2; k++)
		ferry_relay_watch(t->relay, t->userver[k], FERRY_RELAY_APPS_K_USERVER, (uint32_t)k,
				  EPOLLIN);
	to = ferry_relay_apps_sin_of(&t->udst[0]);
	for (seq = 0; seq < FERRY_RELAY_APPS_UDP_COUNT; seq++) {
		ferry_relay_apps_udp_fill(seq, buf);
		ck_assert_int_eq(sendto(t->uclient, buf, ferry_relay_apps_udp_len(seq), 0,
					(struct sockaddr *)&to, sizeof(to)),
				 (ssize_t)ferry_relay_apps_udp_len(seq));
	}
	for (seq = 1; seq <= FERRY_RELAY_APPS_PINGS; seq++) {
		uint8_t echo[8 + FERRY_RELAY_APPS_PING_LEN];

		ferry_relay_apps_ping_fill(seq, echo);
		ck_assert_int_eq(
		    sendto(t->ping, echo, sizeof(echo), 0, (struct sockaddr *)&to, sizeof(to)),
		    (ssize_t)sizeof(echo));
	}
	ferry_relay_run(t->relay, udp_and_pings_done, "UDP and ping");
	ck_assert_uint_eq(t->udp_server_got, FERRY_RELAY_APPS_UDP_COUNT);
	a = ferry_relay_bridge_stats(t->relay, 0);
	b = ferry_relay_bridge_stats(t->relay, 1);
	ck_assert_uint_eq(a->udp_opened, 1);
	ck_assert_uint_eq(b->udp_accepted, 1);
	ck_assert_uint_eq(a->udp_refused + b->udp_refused, 0);
	ck_assert_uint_eq(a->echo_out, FERRY_RELAY_APPS_PINGS);
	ck_assert_uint_eq(b->echo_served, FERRY_RELAY_APPS_PINGS);
	ck_assert_uint_eq(a->echo_in, FERRY_RELAY_APPS_PINGS);
	ck_assert_uint_eq(a->proto_errors + b->proto_errors, 0);
	ferry_relay_apps_free(t);
}
END_TEST

static bool echoes_refused(const void *arg)
{
	const struct ferry_relay_apps *t = arg;

	return ferry_relay_bridge_stats(t->relay, 1)->echo_not_permitted == FERRY_RELAY_APPS_PINGS;
}

/* B's namespace keeps the kernel's ping_group_range ("1 0": nobody): its egress cannot
 * send the echoes, and the bridge counts why, for the daemon's warning. */
START_TEST(ping_not_permitted_is_counted)
{
	struct ferry_relay_apps *t = ferry_relay_apps_new();
	struct ferry_relay_wan wan = {.delay_ms = 1, .loss = 0, .seed = 5};
	const struct ferry_bridge_stats *b;
	struct sockaddr_in to;
	unsigned seq;

	ferry_relay_enter_a(t->relay);
	ferry_relay_sysctl_set("/proc/sys/net/ipv4/ping_group_range", "0 2147483647");
	t->ping = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMP);
	ck_assert_msg(t->ping >= 0, "ping socket: %s", strerror(errno));
	ferry_relay_enter_b();
	ferry_relay_start_bridged(t->relay, &wan);
	ferry_relay_apps_ep4(&t->udst[0], FERRY_RELAY_DST_ADDR_1, 0);
	to = ferry_relay_apps_sin_of(&t->udst[0]);
	for (seq = 1; seq <= FERRY_RELAY_APPS_PINGS; seq++) {
		uint8_t echo[8 + FERRY_RELAY_APPS_PING_LEN];

		ferry_relay_apps_ping_fill(seq, echo);
		ck_assert_int_eq(
		    sendto(t->ping, echo, sizeof(echo), 0, (struct sockaddr *)&to, sizeof(to)),
		    (ssize_t)sizeof(echo));
	}
	ferry_relay_run(t->relay, echoes_refused, "pings refused by ping_group_range");
	b = ferry_relay_bridge_stats(t->relay, 1);
	ck_assert_uint_eq(b->echo_served + b->echo_failed, 0);
	ck_assert_uint_eq(ferry_relay_bridge_stats(t->relay, 0)->echo_in, 0);
	ferry_relay_apps_free(t);
}
END_TEST

/* ---- sizes ------------------------------------------------------------------------------- */

/* The client's kernel took ferry's ICMP: its path MTU to the destination is now the
 * largest packet the datagram channel carries. */
static bool path_mtu_learnt(const void *arg)
{
	const struct ferry_relay_apps *t = arg;
	struct ferry_wire_sizes sz;
	int mtu = 0;
	socklen_t sl = sizeof(mtu);

	ck_assert_int_eq(ferry_wire_sizes(&sz, FERRY_WIRE_MTU_DEFAULT, FERRY_WIRE_IPV6_HDR), 0);
	ck_assert_int_eq(getsockopt(t->uclient, IPPROTO_IP, IP_MTU, &mtu, &sl), 0);
	return ferry_relay_stack_stats(t->relay)->udp_too_big == 1 && mtu == (int)sz.udp_max + 28;
}

static bool server_got_one(const void *arg)
{
	const struct ferry_relay_apps *t = arg;
	uint8_t b;

	return recv(t->userver[0], &b, 1, MSG_PEEK | MSG_DONTWAIT) == 1;
}

/* A UDP datagram larger than the datagram channel carries (sizes.udp_max: 1402 bytes at the
 * default 1500-byte path) is refused as a router refuses a packet its next hop cannot take:
 * with ICMP fragmentation needed, from which the client's kernel learns the path MTU
 * (IP_MTU), reports EMSGSIZE to the connected socket, and refuses the next datagram of
 * that size itself. A datagram of exactly udp_max crosses (its UDP_OPEN goes apart). */
START_TEST(udp_too_big_teaches_the_path_mtu)
{
	struct ferry_relay_apps *t = ferry_relay_apps_new();
	struct ferry_relay_wan wan = {.delay_ms = 1, .loss = 0, .seed = 6};
	static uint8_t buf[2048];
	struct ferry_wire_sizes sz;
	struct sockaddr_in to;
	int pmtud = IP_PMTUDISC_DO, soerr = 0;
	socklen_t sl = sizeof(soerr);

	ck_assert_int_eq(ferry_wire_sizes(&sz, FERRY_WIRE_MTU_DEFAULT, FERRY_WIRE_IPV6_HDR), 0);
	ferry_relay_enter_a(t->relay);
	t->uclient = ferry_relay_apps_bound_socket(SOCK_DGRAM, FERRY_RELAY_CLIENT_ADDR);
	ck_assert_int_eq(setsockopt(t->uclient, IPPROTO_IP, IP_MTU_DISCOVER, &pmtud, sizeof(pmtud)),
			 0);
	ferry_relay_enter_b();
	t->userver[0] = ferry_relay_apps_bound_socket(SOCK_DGRAM, FERRY_RELAY_DST_ADDR_1);
	ferry_relay_apps_ep4(&t->udst[0], FERRY_RELAY_DST_ADDR_1,
			     ferry_relay_apps_local_port(t->userver[0]));
	ferry_relay_start_bridged(t->relay, &wan);
	to = ferry_relay_apps_sin_of(&t->udst[0]);
	ck_assert_int_eq(connect(t->uclient, (struct sockaddr *)&to, sizeof(to)), 0);
	ck_assert_int_eq(send(t->uclient, buf, sz.udp_max + 1, 0), (ssize_t)sz.udp_max + 1);
	ferry_relay_run(t->relay, path_mtu_learnt, "ICMP fragmentation needed");
	ck_assert_uint_eq(ferry_relay_bridge_stats(t->relay, 0)->udp_too_big, 1);
	ck_assert_int_eq(getsockopt(t->uclient, SOL_SOCKET, SO_ERROR, &soerr, &sl), 0);
	ck_assert_int_eq(soerr, EMSGSIZE);
	ck_assert_int_eq(send(t->uclient, buf, sz.udp_max + 1, 0), -1);
	ck_assert_int_eq(errno, EMSGSIZE);
	ck_assert_int_eq(send(t->uclient, buf, sz.udp_max, 0), (ssize_t)sz.udp_max);
	ferry_relay_run(t->relay, server_got_one, "the largest datagram across");
	ck_assert_int_eq(recv(t->userver[0], buf, sizeof(buf), MSG_DONTWAIT), (ssize_t)sz.udp_max);
	ck_assert_int_eq(recv(t->userver[0], buf, sizeof(buf), MSG_DONTWAIT), -1);
	ck_assert_uint_eq(ferry_relay_bridge_stats(t->relay, 0)->udp_too_big, 1);
	ferry_relay_apps_free(t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("bridge_relay");
	TCase *tc = ferry_tcase("bridged", 60);

	if (!ferry_relay_available()) {
		printf("bridge_relay: needs root and /dev/net/tun; skipped\n");
		return FERRY_RELAY_SKIP;
	}
	tcase_add_test(tc, streams_over_a_clean_wan);
	tcase_add_test(tc, streams_over_a_lossy_wan);
	tcase_add_test(tc, streams_through_a_starved_pool);
	tcase_add_test(tc, small_writes_leave_at_once);
	tcase_add_test(tc, downloads_leave_in_full_segments);
	tcase_add_test(tc, slow_reader_gets_every_byte_after_the_destination_closed);
	tcase_add_test(tc, stopped_reader_is_reset_after_linger);
	tcase_add_test(tc, opens_while_the_link_is_backed_up);
	tcase_add_test(tc, late_flows_get_turns_in_a_full_pool);
	tcase_add_test(tc, refused_and_unreachable);
	tcase_add_test(tc, udp_full_cone_and_ping);
	tcase_add_test(tc, ping_not_permitted_is_counted);
	tcase_add_test(tc, udp_too_big_teaches_the_path_mtu);
	suite_add_tcase(s, tc);
	return ferry_run_suite(s);
}
