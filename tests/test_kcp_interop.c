// SPDX-License-Identifier: MIT
/*
 * Interoperability of ferry's ARQ with an independent KCP implementation: kcptun-server
 * (Debian's kcptun, built on kcp-go and smux) as the peer, over real UDP on loopback in a
 * private network namespace, through smux v1 streams to an echo target. The harness, its
 * topology and what kcptun puts around KCP segments are in tests/support/kcptun.h.
 *
 * Cases: the CRC agrees with the standard check value; one stream carries 1 MiB both ways
 * byte-exact with no injected loss (and the kernel dropped nothing either); the same with
 * 10 % loss each way at our socket, so ferry's and kcp-go's retransmissions both work
 * (kcp-go's counted by PUSH segments seen minus distinct sn); four concurrent streams on
 * one conversation with 5 % loss; a reader that stops for 300 ms, so ferry's window
 * closes and must be reopened by ferry's WINS (kcp-go would only probe after 7 s); the
 * RTT kcp-go estimates from ferry's ACKs over a 50 ms path with 10 % loss (delay lines in
 * the harness); a reader that stops for 2 s while one of ferry's windows is reordered
 * behind the zero window, so kcp-go overruns ferry's edge and must be told.
 * Every case checks every segment kcp-go sends: CRC, framing, conv; every ACK either side
 * sends must echo the ts of a transmission of the acked sn; ferry must count no
 * malformed, truncated, foreign-conv or beyond-window segment (but where the test itself
 * reordered the windows); and the window ferry saw is in segments (at most kcptun's
 * --rcvwnd).
 *
 * Needs root (the namespace) and /usr/bin/kcptun-server; without either the suite exits
 * 77 (skipped). FERRY_INTEROP_LOG=1 keeps kcptun's log on stderr.
 */
#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>

#include "tests/support/fixture.h"
#include "tests/support/kcptun.h"
#include "transport/arq.h"

#define SKIP_STATUS 77

/* Without injected loss no datagram was lost on loopback (the namespace's UDP drop
 * counter is 0). Retransmissions are printed, not asserted: with a 30 ms minimum RTO a
 * scheduling stall of kcptun on a busy machine makes a few legitimate ones. */
static void interop_nothing_lost(void)
{
	ck_assert_uint_eq(ferry_kcptun_udp_rcvbuf_errors(), 0);
}

START_TEST(crc32_check_value)
{
	static const uint8_t check[] = "123456789";

	ck_assert_uint_eq(ferry_kcptun_crc32(check, 9), 0xcbf43926U);
	ck_assert_uint_eq(ferry_kcptun_crc32(check, 0), 0);
}
END_TEST

START_TEST(one_stream_lossless)
{
	struct ferry_kcptun *t = ferry_kcptun_start(1, 0, 1, (size_t)1 << 20);
	uint64_t ms = ferry_kcptun_run(t);

	ferry_kcptun_report(t, "one stream, no loss", ms);
	interop_nothing_lost();
	ferry_kcptun_stop(t);
}
END_TEST

START_TEST(one_stream_ten_percent_loss)
{
	struct ferry_kcptun *t = ferry_kcptun_start(2, 10, 1, (size_t)1 << 20);
	uint64_t ms = ferry_kcptun_run(t);
	struct ferry_arq_stats st;

	ferry_kcptun_report(t, "one stream, loss", ms);
	ferry_arq_stats(t->arq, &st);
	ck_assert_uint_gt(t->out_lost, 0);
	ck_assert_uint_gt(t->in_lost, 0);
	ck_assert_uint_gt(st.segs_rto + st.segs_fast, 0); /* ferry repaired our loss */
	ck_assert_uint_gt(t->peer_push, t->peer_sn_end);  /* kcp-go repaired its loss */
	ferry_kcptun_stop(t);
}
END_TEST

START_TEST(four_streams_with_loss)
{
	struct ferry_kcptun *t =
	    ferry_kcptun_start(3, 5, FERRY_KCPTUN_STREAMS_MAX, (size_t)256 << 10);
	uint64_t ms = ferry_kcptun_run(t);

	ferry_kcptun_report(t, "four streams, loss", ms);
	ck_assert_int_eq(t->echo.accepted, FERRY_KCPTUN_STREAMS_MAX);
	ferry_kcptun_stop(t);
}
END_TEST

START_TEST(stalled_reader_reopens_window)
{
	struct ferry_kcptun *t = ferry_kcptun_start(4, 0, 1, (size_t)1 << 20);
	uint64_t ms;

	t->pause_after = (size_t)128 << 10;
	t->pause_ms = 300;
	ms = ferry_kcptun_run(t);
	ferry_kcptun_report(t, "reader stalled 300 ms", ms);
	ck_assert_uint_gt(t->our_zero_wnd, 0); /* the window really closed */
	/* reopened by our WINS, not by kcp-go's first probe 7 s (IKCP_PROBE_INIT) later */
	ck_assert_uint_lt(ms, 3000);
	interop_nothing_lost();
	ferry_kcptun_stop(t);
}
END_TEST

/* kcp-go samples the RTT from the last ACK of every datagram, acknowledged before or not
 * (kcp-go kcp.go, Input). Over a 50 ms path with 10 % loss, ferry's repeated ACKs of
 * out-of-order segments, which echo the ts of their first ACK, once raised that estimate
 * to 85-90 ms; now a repeat is at most one interval old and never the last ACK of a
 * datagram, so the estimate stays within a few ms of the path (51-55 ms measured).
 * The bound is on held_rtt, the estimate over an exact path: the delay lines are timers in
 * this process, and their lateness on a busy machine once took a correct run's peer_rtt
 * to 69.7 ms. peer_rtt, what kcp-go really computed, is printed, and must at least not
 * fall below the path. */
START_TEST(peer_rtt_estimate_honest)
{
	struct ferry_kcptun *t = ferry_kcptun_start(20 + (uint64_t)_i, 10, 1, (size_t)1 << 20);
	uint64_t ms;

	t->delay_ms = 25;
	ms = ferry_kcptun_run(t);
	ferry_kcptun_report(t, "one stream, 25 ms each way, loss", ms);
	ck_assert_uint_gt(t->peer_rtt.samples, 20);
	ck_assert_uint_gt(t->held_rtt.samples, 20);
	ck_assert_msg(t->peer_rtt.srtt_max >= 2 * t->delay_ms,
		      "kcp-go's srtt never reached the %u ms path: the harness's clock is off",
		      2 * t->delay_ms);
	ck_assert_msg(t->held_rtt.srtt_max < 2 * t->delay_ms + 15,
		      "kcp-go's srtt from our ACKs over an exact path reached %.1f ms on a %u ms "
		      "path",
		      t->held_rtt.srtt_max, 2 * t->delay_ms);
	ferry_kcptun_stop(t);
}
END_TEST

/* Reordered ACKs at a stalled reader. While our reader stops, the datagram that first
 * advertises a window of at most 192 segments is held back and sent right after the first
 * one that advertises 0: kcp-go keeps the window of the segment it got last, believes the
 * older, larger one and sends past our edge, which we drop. The producer behind kcp-go is
 * slow (2 MB/s), so kcp-go sends data as it comes. We answer the first segment past our
 * edge with our window: kcp-go's writer then blocks on its zero window, and after the
 * reader resumes the rest of the data follows our WINS and its ACKs make kcp-go resend
 * what we dropped at once. Before that answer kcp-go sent the whole tail into the closed
 * window and it waited for kcp-go's backed-off RTO: up to about 250 ms after a 2 s stall
 * on loopback (seconds on a real path), 13-30 ms now. Where in its RTO kcp-go is when the
 * reader resumes is chance, so three runs must all be quick. */
START_TEST(stalled_reader_reordered_acks)
{
	const size_t total = (size_t)1 << 20, mss = FERRY_KCPTUN_ARQ_MTU - FERRY_ARQ_HDR_LEN;
	struct ferry_arq_stats st;
	uint64_t ms, after;
	int run;

	for (run = 0; run < 3; run++) {
		struct ferry_kcptun *t = ferry_kcptun_start(5 + (uint64_t)run, 0, 1, total);

		t->echo.rate = 2000; /* bytes per ms */
		/* the window fills after the pause, and 30 segments or more are left */
		t->pause_after = total - (FERRY_KCPTUN_ARQ_WND + 30) * mss;
		t->pause_ms = 2000;
		t->hold_wnd = 192;
		ms = ferry_kcptun_run(t);
		ferry_kcptun_report(t, "reader stalled 2 s, windows reordered", ms);
		ferry_arq_stats(t->arq, &st);
		ck_assert_int_eq(t->hold_state, FERRY_KCPTUN_HOLD_RELEASED);
		ck_assert_msg(st.drop_window > 0, "kcp-go never sent past our edge");
		ck_assert_uint_gt(st.wins_sent, 1); /* the overrun was answered, not only the end */
		after = t->started_at + ms - t->resumed_at;
		ck_assert_msg(after < 100, "%" PRIu64 " ms from the reader's resumption to the end",
			      after);
		interop_nothing_lost();
		ferry_kcptun_stop(t);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("kcp_interop");
	TCase *tc = ferry_tcase("kcp_interop", 30);

	if (geteuid() != 0) {
		printf("kcp_interop: needs root (network namespaces); skipped\n");
		return SKIP_STATUS;
	}
	if (access(FERRY_KCPTUN_BIN, X_OK) != 0) {
		printf("kcp_interop: %s not found (apt-get install kcptun); skipped\n",
		       FERRY_KCPTUN_BIN);
		return SKIP_STATUS;
	}
	tcase_add_test(tc, crc32_check_value);
	tcase_add_test(tc, one_stream_lossless);
	tcase_add_test(tc, one_stream_ten_percent_loss);
	tcase_add_test(tc, four_streams_with_loss);
	tcase_add_test(tc, stalled_reader_reopens_window);
	tcase_add_loop_test(tc, peer_rtt_estimate_honest, 0, 2);
	tcase_add_test(tc, stalled_reader_reordered_acks);
	suite_add_tcase(s, tc);
	return ferry_run_suite(s);
}
