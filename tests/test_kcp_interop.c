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
 * closes and must be reopened by ferry's WINS (kcp-go would only probe after 7 s).
 * Every case checks every segment kcp-go sends: CRC, framing, conv; every ACK either side
 * sends must echo the ts of a transmission of the acked sn; ferry must count no
 * malformed, truncated, foreign-conv or beyond-window segment; and the window ferry saw
 * is in segments (at most kcptun's --rcvwnd).
 *
 * Needs root (the namespace) and /usr/bin/kcptun-server; without either the suite exits
 * 77 (skipped). FERRY_INTEROP_LOG=1 keeps kcptun's log on stderr.
 */
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
	suite_add_tcase(s, tc);
	return ferry_run_suite(s);
}
