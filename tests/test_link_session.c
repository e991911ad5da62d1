// SPDX-License-Identifier: MIT
/*
 * The secure link's sessions end to end on the virtual network: the handshake with
 * several ARQ conversations at once, byte-exact; tampered, truncated, replayed, stale,
 * reordered and foreign datagrams dropped without a reply; rekeying in the middle of a
 * transfer; a restart of either peer; roaming; keepalives and dead-peer detection; the
 * bounded wait queue while no handshake completes; the cookie reply under load.
 *
 * Each test builds the two-peer rig of tests/support/linkrig.h (A and B, one event loop
 * on the vnet's virtual clock, every received byte checked against its pattern) with its
 * own vnet seed. Transfers, FEC recovery, datagrams and the pacer are in
 * test_link_transfer.c.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tests/support/fixture.h"
#include "tests/support/linkrig.h"
#include "transport/arq.h"
#include "transport/link.h"

/* Handshake, then four conversations A->B and two B->A at once, byte-exact; ACK-only
 * records of several conversations share payloads. */
START_TEST(handshake_and_parallel_conversations)
{
	struct ferry_vnet_link l = {.delay_ms = 10, .jitter_ms = 1, .rate = 30000000};
	struct ferry_link_stats sa, sb;
	struct ferry_linkrig *w = ferry_linkrig_new(1, &l, &l);

	ferry_linkrig_start(w);
	ck_assert_int_eq(ferry_link_state(&w->s[0].link), FERRY_LINK_DOWN);
	ferry_linkrig_convs_open(w, FERRY_LINKRIG_CONV_BASE, 4, 3 << 20, 0);
	ferry_linkrig_convs_open(w, FERRY_LINKRIG_CONV_BASE + 10, 2, 0, 1 << 20);
	ck_assert(ferry_linkrig_run(w, w->vn.now + 60 * FERRY_LINKRIG_SEC, true));
	/* and what was still on its way (the last ACK records) arrives */
	ck_assert(ferry_linkrig_run(w, w->vn.now + FERRY_LINKRIG_SEC, false));
	ferry_linkrig_check_streams(&w->s[0]);
	ferry_linkrig_check_streams(&w->s[1]);
	ck_assert_int_eq(ferry_link_state(&w->s[0].link), FERRY_LINK_UP);
	ck_assert_int_eq(ferry_link_state(&w->s[1].link), FERRY_LINK_UP);
	ferry_link_stats(&w->s[0].link, &sa);
	ferry_link_stats(&w->s[1].link, &sb);
	/* both had data at once: both initiated, exactly one handshake completed */
	ck_assert_uint_eq(sa.initiations_out, 1);
	ck_assert_uint_eq(sb.initiations_out, 1);
	ck_assert_uint_eq(sa.responses_out + sb.responses_out, 1);
	ck_assert_uint_eq(sa.crossed_initiations + sb.crossed_initiations, 1);
	ck_assert_uint_gt(sa.wait_queued, 0); /* the first payloads waited for the session */
	ck_assert_uint_gt(w->s[0].shared_payloads + w->s[1].shared_payloads, 0);
	/* packing: payloads carrying ARQ records hold several (those with nothing but an ACK
	 * record aside) */
	ck_assert_uint_gt(sa.records_out[FERRY_REC_ARQ], sa.payloads_out - sa.ack_only_out);
	ck_assert_uint_eq(sa.seal_errors + sb.seal_errors, 0);
	ck_assert_uint_eq(sb.records_unknown + sb.records_malformed + sb.arq_malformed, 0);
	ck_assert_uint_eq(w->s[0].unknown_conv + w->s[1].unknown_conv, 0);
	/* lossless but jittered: every payload arrives exactly once (some late ones were
	 * already rebuilt from parity, and are then duplicates to the FEC decoder) */
	ck_assert_uint_eq(sb.payloads_in, sa.payloads_out - sa.wait_dropped);
	ck_assert_uint_eq(sb.fec_dec.data_in + sb.fec_dec.recovered, sa.fec_enc.data_out);
	printf("parallel: A out %llu dgrams (%llu data, %llu parity), %llu records in %llu "
	       "payloads; payloads with segments of 2+ conversations: A %llu, B %llu\n",
	       (unsigned long long)sa.dgrams_out, (unsigned long long)sa.data_out,
	       (unsigned long long)sa.parity_out, (unsigned long long)sa.records_out[FERRY_REC_ARQ],
	       (unsigned long long)sa.payloads_out, (unsigned long long)w->s[0].shared_payloads,
	       (unsigned long long)w->s[1].shared_payloads);
	ferry_linkrig_free(w);
}
END_TEST

START_TEST(hostile_datagrams_dropped_silently)
{
	struct ferry_vnet_link l = {.delay_ms = 5};
	struct ferry_noise_stats *nb;
	struct ferry_sockaddr evil;
	struct ferry_linkrig *w = ferry_linkrig_new(3, &l, &l);
	struct ferry_linkrig_side *b = &w->s[1];
	uint8_t msg[FERRY_VNET_MAX_DGRAM], c_priv[32], c_pub[32];
	uint64_t outputs, before;
	size_t len;
	uint32_t i;

	/* the subject is what B refuses: A sends thousands of datagrams in bursts of 64, to
	 * push its counter past the replay window, unpaced */
	w->s[0].link_cfg.congestion = FERRY_CC_OFF;
	ferry_linkrig_start(w);
	ferry_linkrig_warm(w);
	nb = &b->set.noise.stats;
	ferry_linkrig_addr_set(&evil, "127.0.0.66", 6666);

	/* capture one data message that B also receives normally */
	w->capture = true;
	ck_assert_int_eq(ferry_linkrig_send_dg(&w->s[0], 1, 1), 0);
	ck_assert_int_eq(ferry_linkrig_send_dg(&w->s[0], 2, 0), 0);
	ck_assert_int_eq(ferry_linkrig_send_dg(&w->s[0], 3, 600), 0);
	ck_assert(ferry_linkrig_run(w, w->vn.now + 1 * FERRY_LINKRIG_SEC, false));
	w->capture = false;
	ck_assert_uint_gt(w->captured_len, 0);
	ck_assert_uint_eq(b->dg_seen[3], 1);
	outputs = b->outputs;

	/* replayed: the exact datagram again */
	before = nb->data_replayed;
	ck_assert_int_eq(ferry_linkrig_inject(b, w->captured, w->captured_len, &w->s[0].addr),
			 -EALREADY);
	ck_assert_uint_eq(nb->data_replayed, before + 1);
	ck_assert_uint_eq(b->dg_seen[3], 1);

	/* tampered: fresh datagrams (held back from the network) with one bit flipped in the
	 * header, the ciphertext or the tag, and one cut a tag's worth short: none opens,
	 * and the untouched originals still do afterwards (nothing was burnt) */
	w->hold = true;
	w->nheld = 0;
	for (i = 0; i < 4; i++) {
		uint8_t d[300];

		for (len = 0; len < sizeof(d); len++)
			d[len] = ferry_linkrig_pattern(40 + i, len);
		ck_assert_int_eq(
		    ferry_link_send_datagram(&w->s[0].link, 40 + i, d, sizeof(d), w->vn.now), 0);
		ferry_link_flush(&w->s[0].link, w->vn.now);
	}
	w->hold = false;
	ck_assert_uint_eq(w->nheld, 4);
	for (i = 0; i < 4; i++) {
		size_t at = i == 0 ? 9 : i == 1 ? 40 : w->held_len[i] - 3;

		memcpy(msg, w->held[i], w->held_len[i]);
		msg[at] ^= 0x20;
		before = nb->data_auth_failed;
		ck_assert_int_eq(ferry_linkrig_inject(b, msg,
						      i == 3 ? w->held_len[i] - 16 : w->held_len[i],
						      &w->s[0].addr),
				 -EBADMSG);
		ck_assert_uint_eq(nb->data_auth_failed, before + 1);
	}
	for (i = 0; i < 4; i++) {
		ck_assert_int_eq(ferry_linkrig_inject(b, w->held[i], w->held_len[i], &w->s[0].addr),
				 0);
		ck_assert_uint_eq(b->dg_seen[40 + i], 1);
	}
	w->nheld = 0;
	/* truncated below the header, and shorter than any message */
	before = nb->data_malformed;
	ck_assert_int_eq(ferry_linkrig_inject(b, w->captured, 20, &w->s[0].addr), -EPROTO);
	ck_assert_uint_eq(nb->data_malformed, before + 1);
	before = b->set.stats.malformed;
	ck_assert_int_eq(ferry_linkrig_inject(b, w->captured, 3, &w->s[0].addr), -EPROTO);
	msg[0] = 9;
	ck_assert_int_eq(ferry_linkrig_inject(b, msg, 100, &w->s[0].addr), -EPROTO);
	ck_assert_uint_eq(b->set.stats.malformed, before + 2);

	/* foreign: a third party C with its own key, known to nobody, that knows B's key */
	{
		struct ferry_noise_config nc = {0};
		struct ferry_noise_local c;
		struct ferry_noise_peer cp;
		uint8_t init[FERRY_MSG_INITIATION_LEN];

		ck_assert_int_eq(ferry_noise_keygen(c_priv, c_pub), 0);
		memcpy(nc.static_private, c_priv, 32);
		ck_assert_int_eq(ferry_noise_local_init(&c, &nc), 0);
		ck_assert_int_eq(ferry_noise_peer_init(&c, &cp, b->pub, NULL), 0);
		ck_assert_int_eq(
		    ferry_noise_create_initiation(&cp, w->vn.now, FERRY_LINKRIG_REALTIME0, init),
		    0);
		before = nb->hs_unknown;
		ck_assert_int_eq(ferry_linkrig_inject(b, init, sizeof(init), &evil), -ENOENT);
		ck_assert_uint_eq(nb->hs_unknown, before + 1);
		ferry_noise_local_destroy(&c);
	}
	/* foreign data: a receiver index nobody handed out */
	memcpy(msg, w->captured, w->captured_len);
	msg[4] ^= 0xff;
	msg[5] ^= 0x5a;
	before = nb->data_unknown_index;
	ck_assert_int_eq(ferry_linkrig_inject(b, msg, w->captured_len, &evil), -ENOENT);
	ck_assert_uint_eq(nb->data_unknown_index, before + 1);

	/* nothing of this got a reply, and the endpoint did not move */
	ck_assert_uint_eq(b->outputs, outputs);
	ck_assert(ferry_linkrig_addr_same(&b->link.endpoint, &w->s[0].addr));
	ck_assert_uint_eq(b->link.stats.roams, 0);
	ck_assert_uint_gt(b->set.stats.data_dropped, 0);
	ck_assert_uint_gt(b->set.stats.handshake_dropped, 0);

	/* reordered: held-back datagrams delivered newest first are all accepted */
	w->hold = true;
	for (i = 0; i < 4; i++) {
		uint8_t d[100];

		memset(d, 0, sizeof(d));
		for (len = 0; len < sizeof(d); len++)
			d[len] = ferry_linkrig_pattern(10 + i, len);
		ck_assert_int_eq(
		    ferry_link_send_datagram(&w->s[0].link, 10 + i, d, sizeof(d), w->vn.now), 0);
		ferry_link_flush(&w->s[0].link, w->vn.now);
	}
	w->hold = false;
	ck_assert_uint_eq(w->nheld, 4);
	for (i = 4; i-- > 0;)
		ck_assert_int_eq(ferry_linkrig_inject(b, w->held[i], w->held_len[i], &w->s[0].addr),
				 0);
	for (i = 0; i < 4; i++)
		ck_assert_uint_eq(b->dg_seen[10 + i], 1);
	ck_assert_uint_eq(b->dg_bad, 0);

	/* stale: once more than the replay window has passed, a held datagram is refused */
	w->hold = true;
	w->nheld = 0;
	ck_assert_int_eq(ferry_linkrig_send_dg(&w->s[0], 20, 1), 0);
	ferry_link_flush(&w->s[0].link, w->vn.now);
	w->hold = false;
	ck_assert_uint_eq(w->nheld, 1);
	for (i = 0; i < FERRY_REPLAY_WINDOW + 64; i++) {
		ck_assert_int_eq(ferry_link_send_datagram(&w->s[0].link, 21, NULL, 0, w->vn.now),
				 0);
		ferry_link_flush(&w->s[0].link, w->vn.now);
		if (i % 64 == 0) /* the pacer lets them go at its rate: none may be dropped */
			ck_assert(ferry_linkrig_run(w, w->vn.now + 10, false));
	}
	ck_assert(ferry_linkrig_run(w, w->vn.now + FERRY_LINKRIG_SEC, false));
	ck_assert_uint_eq(w->s[0].link.stats.pacer_dropped, 0);
	before = nb->data_replayed;
	i = b->dg_seen[20]; /* 1: its group's parity rebuilt it meanwhile */
	ck_assert_int_eq(ferry_linkrig_inject(b, w->held[0], w->held_len[0], &w->s[0].addr),
			 -ESTALE);
	ck_assert_uint_eq(nb->data_replayed, before + 1);
	ck_assert_uint_eq(b->dg_seen[20], i);
	ferry_linkrig_free(w);
}
END_TEST

/* A tiny rekey_after_messages forces several handshakes mid-transfer over a lossless
 * link: no byte, datagram or session is lost. */
START_TEST(rekey_mid_transfer_loses_nothing)
{
	struct ferry_vnet_link l = {.delay_ms = 15, .rate = 20000000};
	struct ferry_link_stats sa, sb;
	struct ferry_linkrig *w = ferry_linkrig_new(11, &l, &l);

	w->s[0].noise_cfg.rekey_after_messages = 1500;
	w->s[1].noise_cfg.rekey_after_messages = 1500;
	ferry_linkrig_start(w);
	ferry_linkrig_warm(w);
	ferry_linkrig_close_convs(&w->s[0]);
	ferry_linkrig_close_convs(&w->s[1]);
	ferry_linkrig_convs_open(w, FERRY_LINKRIG_CONV_BASE + 1, 3, 4 << 20, 256 << 10);
	ck_assert(ferry_linkrig_run(w, w->vn.now + 120 * FERRY_LINKRIG_SEC, true));
	ck_assert(ferry_linkrig_run(w, w->vn.now + FERRY_LINKRIG_SEC, false)); /* the last ACKs */
	ferry_linkrig_check_streams(&w->s[0]);
	ferry_linkrig_check_streams(&w->s[1]);
	ferry_link_stats(&w->s[0].link, &sa);
	ferry_link_stats(&w->s[1].link, &sb);
	printf("rekey: A initiated %llu handshakes, B %llu (%llu crossed); A sent %llu data "
	       "shards, B decoded %llu\n",
	       (unsigned long long)sa.initiations_out, (unsigned long long)sb.initiations_out,
	       (unsigned long long)sa.crossed_initiations + sb.crossed_initiations,
	       (unsigned long long)sa.data_out, (unsigned long long)sb.fec_dec.data_in);
	fflush(stdout);
	ck_assert_uint_ge(sa.initiations_out, 4);
	ck_assert_uint_eq(sb.fec_dec.data_in, sa.fec_enc.data_out);
	ck_assert_uint_eq(sa.fec_dec.data_in, sb.fec_enc.data_out);
	ck_assert_uint_eq(w->s[1].set.noise.stats.data_unknown_index, 0);
	ck_assert_uint_eq(w->s[1].set.noise.stats.data_expired, 0);
	ck_assert_uint_eq(w->s[0].set.noise.stats.data_unknown_index, 0);
	ck_assert_uint_eq(sa.seal_errors + sb.seal_errors + sa.wait_dropped + sb.wait_dropped, 0);
	/* nothing was lost, so the few retransmissions are timeouts the RTT jump of the
	 * controller's STARTUP queue fired early (its queue is unbounded here), not repairs */
	ck_assert_uint_le(ferry_linkrig_retransmits(&w->s[0]) + ferry_linkrig_retransmits(&w->s[1]),
			  ferry_linkrig_segs_sent(&w->s[0]) / 100);
	ferry_linkrig_free(w);
}
END_TEST

/* The responder restarts (same key, new process): the initiator's old session is gone on
 * the other side, its data goes unanswered, it re-handshakes and new conversations work.
 * Then the initiator restarts, and initiates at once. */
START_TEST(peer_restart_rehandshakes)
{
	struct ferry_vnet_link l = {.delay_ms = 20};
	struct ferry_linkrig *w = ferry_linkrig_new(5, &l, &l);
	uint64_t t0, rh;

	ferry_linkrig_start(w);
	ferry_linkrig_warm(w);

	/* B restarts; A's conversations die with the flows they carried */
	ferry_linkrig_close_convs(&w->s[0]);
	ferry_linkrig_side_stop(&w->s[1]);
	ck_assert(ferry_linkrig_run(w, w->vn.now + 2 * FERRY_LINKRIG_SEC, false));
	ferry_linkrig_side_start(&w->s[1], w->vn.now);
	t0 = w->vn.now;
	ferry_linkrig_convs_open(w, FERRY_LINKRIG_CONV_BASE + 1, 2, 200 << 10,
				 0); /* B, silent, never initiates */
	/* A's data goes unanswered; it re-initiates ferry_link_rehandshake_ms later (40 ms
	 * RTT: the minimum) */
	rh = ferry_link_rehandshake_ms(&w->s[0].link);
	ck_assert_uint_eq(rh, FERRY_LINK_REHANDSHAKE_MIN_MS);
	ck_assert(ferry_linkrig_run(w, t0 + rh - 100, false));
	ck_assert_uint_eq(w->s[0].link.stats.initiations_out, 1);
	ck_assert(ferry_linkrig_run(w, t0 + rh + 500, false));
	ck_assert_uint_eq(w->s[0].link.stats.initiations_out, 2);
	ck_assert_int_eq(ferry_link_state(&w->s[1].link), FERRY_LINK_UP);
	ck_assert(ferry_linkrig_run(w, w->vn.now + 120 * FERRY_LINKRIG_SEC, true));
	ferry_linkrig_check_streams(&w->s[0]);
	ferry_linkrig_check_streams(&w->s[1]);
	ck_assert_uint_gt(w->s[1].set.noise.stats.data_unknown_index, 0); /* the old session */
	fflush(stdout);
	printf("restart of B: re-handshake after %u ms of silence, transfer done after %.1f s "
	       "(the ARQ's backed-off RTO decides the rest)\n",
	       (unsigned)rh, (double)(w->vn.now - t0) / 1000.0);

	/* A restarts: no session at all, so its first payload starts a handshake */
	ferry_linkrig_close_convs(&w->s[1]);
	ferry_linkrig_side_stop(&w->s[0]);
	ck_assert(ferry_linkrig_run(w, w->vn.now + FERRY_LINKRIG_SEC, false));
	ferry_linkrig_side_start(&w->s[0], w->vn.now);
	t0 = w->vn.now;
	ferry_linkrig_convs_open(w, FERRY_LINKRIG_CONV_BASE + 5, 1, 100 << 10, 100 << 10);
	ck_assert(ferry_linkrig_run(w, w->vn.now + 30 * FERRY_LINKRIG_SEC, true));
	ferry_linkrig_check_streams(&w->s[0]);
	ferry_linkrig_check_streams(&w->s[1]);
	ck_assert_uint_lt(w->vn.now - t0, 2 * FERRY_LINKRIG_SEC);
	ferry_linkrig_free(w);
}
END_TEST

/* A moves to a new address mid-transfer; B's replies follow the first authenticated
 * datagram from there, and nothing unauthenticated or old can move the endpoint. */
START_TEST(roaming_follows_authenticated_datagrams)
{
	struct ferry_vnet_link l = {.delay_ms = 10};
	struct ferry_sockaddr old_addr, evil;
	struct ferry_linkrig *w = ferry_linkrig_new(9, &l, &l);
	struct ferry_linkrig_side *a = &w->s[0], *b = &w->s[1];

	ferry_linkrig_start(w);
	ferry_linkrig_warm(w);
	ferry_linkrig_convs_open(w, FERRY_LINKRIG_CONV_BASE + 1, 2, 2 << 20, 512 << 10);
	ck_assert(ferry_linkrig_run(w, w->vn.now + 100, false));
	old_addr = a->addr;
	/* an authentic but older datagram, held back, will later arrive from elsewhere */
	w->hold = true;
	ck_assert_int_eq(ferry_linkrig_send_dg(a, 30, 1), 0);
	ferry_link_flush(&a->link, w->vn.now);
	w->hold = false;
	/* the datagram's message leaves first (HIGH); ARQ data the pacer released in the same
	 * flush may follow it into the hold, lost to B (the ARQ repairs that) */
	ck_assert_uint_ge(w->nheld, 1);

	ferry_linkrig_addr_set(&a->addr, "127.0.0.3", 6001);
	w->drop_misaddressed = true; /* the old address is gone */
	ck_assert(ferry_linkrig_run(w, w->vn.now + 60 * FERRY_LINKRIG_SEC, true));
	ferry_linkrig_check_streams(a);
	ferry_linkrig_check_streams(b);
	ck_assert(ferry_linkrig_addr_same(&b->link.endpoint, &a->addr));
	ck_assert(ferry_linkrig_addr_same(&b->last_to, &a->addr));
	ck_assert_uint_eq(b->link.stats.roams, 1);

	/* the old datagram arrives late from the old address: accepted, endpoint unmoved */
	ck_assert_int_eq(ferry_linkrig_inject(b, w->held[0], w->held_len[0], &old_addr), 0);
	ck_assert_uint_eq(b->dg_seen[30], 1);
	ck_assert(ferry_linkrig_addr_same(&b->link.endpoint, &a->addr));
	/* a forged one from a third address: dropped, endpoint unmoved */
	ferry_linkrig_addr_set(&evil, "127.0.0.66", 6666);
	w->held[0][30] ^= 1;
	ck_assert_int_lt(ferry_linkrig_inject(b, w->held[0], w->held_len[0], &evil), 0);
	ck_assert(ferry_linkrig_addr_same(&b->link.endpoint, &a->addr));
	ck_assert_uint_eq(b->link.stats.roams, 1);
	ferry_linkrig_free(w);
}
END_TEST

/* Persistent keepalives on an idle link; a peer that goes silent while we send is
 * declared dead (state callback), and comes back when the path heals. */
START_TEST(keepalive_and_dead_peer)
{
	struct ferry_vnet_link l = {.delay_ms = 10};
	struct ferry_linkrig *w = ferry_linkrig_new(19, &l, &l);
	struct ferry_linkrig_side *a = &w->s[0], *b = &w->s[1];
	uint64_t ka, t0;
	uint32_t i;
	bool saw_dead = false, saw_up_after = false;

	a->link_cfg.keepalive_ms = 1000;
	a->link_cfg.dead_ms = 8000;
	ferry_linkrig_start(w);
	ferry_linkrig_warm(w);
	ka = b->link.stats.keepalives_in;
	ck_assert(ferry_linkrig_run(w, w->vn.now + 10 * FERRY_LINKRIG_SEC, false));
	ck_assert_uint_ge(b->link.stats.keepalives_in - ka, 9);
	ck_assert_uint_le(b->link.stats.keepalives_in - ka, 11);
	ck_assert_int_eq(ferry_link_state(&a->link), FERRY_LINK_UP);

	/* the path dies in both directions while A keeps sending datagrams */
	w->vn.link[0].loss = 1.0;
	w->vn.link[1].loss = 1.0;
	t0 = w->vn.now;
	a->nstates = 0;
	for (i = 0; i < 20 && ferry_link_state(&a->link) != FERRY_LINK_DEAD; i++) {
		ck_assert_int_eq(ferry_linkrig_send_dg(a, 5, 1), 0);
		ck_assert(ferry_linkrig_run(w, w->vn.now + FERRY_LINKRIG_SEC, false));
	}
	ck_assert_int_eq(ferry_link_state(&a->link), FERRY_LINK_DEAD);
	ck_assert_uint_ge(w->vn.now - t0, 8000);
	ck_assert_uint_le(w->vn.now - t0, 8000 + 2 * FERRY_LINKRIG_SEC);
	ck_assert_uint_eq(a->link.stats.dead_events, 1);
	/* the path heals: keepalives and re-handshakes bring an answer, the link is up */
	w->vn.link[0].loss = 0;
	w->vn.link[1].loss = 0;
	ck_assert(ferry_linkrig_run(w, w->vn.now + 30 * FERRY_LINKRIG_SEC, false));
	ck_assert_int_eq(ferry_link_state(&a->link), FERRY_LINK_UP);
	for (i = 0; i < a->nstates; i++) {
		saw_dead |= a->states[i] == FERRY_LINK_DEAD;
		saw_up_after |= saw_dead && a->states[i] == FERRY_LINK_UP;
	}
	ck_assert(saw_dead && saw_up_after);
	ferry_linkrig_free(w);
}
END_TEST

/* No handshake can complete: payloads wait in a bounded queue, the excess is counted,
 * waiting ones expire, and the pool never runs dry. */
START_TEST(wait_queue_is_bounded)
{
	struct ferry_vnet_link l = {.delay_ms = 10, .loss = 1.0};
	struct ferry_linkrig *w = ferry_linkrig_new(23, &l, &l);
	struct ferry_linkrig_side *a = &w->s[0];
	uint8_t d[1000];
	uint32_t i;

	memset(d, 0xab, sizeof(d));
	a->link_cfg.wait_queue = 16;
	ferry_linkrig_start(w);
	for (i = 0; i < 100; i++) {
		ck_assert_int_eq(ferry_link_send_datagram(&a->link, i, d, sizeof(d), w->vn.now), 0);
		ferry_link_flush(&a->link, w->vn.now);
	}
	ck_assert_int_eq(ferry_link_state(&a->link), FERRY_LINK_HANDSHAKE);
	ck_assert_uint_eq(a->link.wait_count, 16);
	ck_assert_uint_eq(a->link.stats.wait_dropped, 100 - 16);
	ck_assert_uint_eq(a->link.stats.pool_empty, 0);
	ck_assert(ferry_linkrig_run(w, w->vn.now + 12 * FERRY_LINKRIG_SEC, false));
	ck_assert_uint_eq(a->link.wait_count, 0);
	ck_assert_uint_eq(a->link.stats.wait_dropped, 100);
	ck_assert_uint_ge(a->link.stats.initiations_out, 2); /* retried */
	ck_assert_uint_le(a->link.stats.initiations_out, 3); /* ... every 5 s, not more */
	ferry_linkrig_free(w);
}
END_TEST

/* B is under load: A's first initiation gets a cookie reply instead of a DH, its retry
 * carries the cookie (mac2) and is accepted. B starts without A's address (a server) and
 * learns it from the initiation. */
START_TEST(cookie_under_load)
{
	struct ferry_vnet_link l = {.delay_ms = 10};
	struct ferry_linkrig *w = ferry_linkrig_new(31, &l, &l);
	struct ferry_linkrig_side *a = &w->s[0], *b = &w->s[1];

	b->passive = true;
	ferry_linkrig_start(w);
	ck_assert_uint_eq(b->link.endpoint.len, 0);
	b->set.load.until_ms = UINT64_MAX; /* the load detector's verdict, for ever */
	ferry_linkrig_conv_open(a, FERRY_LINKRIG_CONV_BASE, 32 << 10, 0);
	ferry_linkrig_conv_open(b, FERRY_LINKRIG_CONV_BASE, 0, 32 << 10);
	ck_assert(ferry_linkrig_run(w, w->vn.now + 30 * FERRY_LINKRIG_SEC, true));
	ferry_linkrig_check_streams(b);
	ck_assert_uint_eq(b->set.stats.cookie_replies_out, 1);
	ck_assert_uint_eq(a->set.noise.stats.cookie_replies_ok, 1);
	ck_assert_uint_eq(a->link.stats.initiations_out, 2);
	ck_assert_uint_eq(b->link.stats.responses_out, 1);
	ck_assert_uint_eq(b->link.stats.initiations_out, 0);
	ck_assert(ferry_linkrig_addr_same(&b->link.endpoint, &a->addr));
	ck_assert_uint_eq(b->link.stats.roams, 0); /* learning the first address is no roam */
	ferry_linkrig_free(w);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("link_session");
	TCase *tc = ferry_tcase("link_session", 120);

	tcase_add_test(tc, handshake_and_parallel_conversations);
	tcase_add_test(tc, hostile_datagrams_dropped_silently);
	tcase_add_test(tc, rekey_mid_transfer_loses_nothing);
	tcase_add_test(tc, peer_restart_rehandshakes);
	tcase_add_test(tc, roaming_follows_authenticated_datagrams);
	tcase_add_test(tc, keepalive_and_dead_peer);
	tcase_add_test(tc, wait_queue_is_bounded);
	tcase_add_test(tc, cookie_under_load);
	suite_add_tcase(s, tc);
	return ferry_run_suite(s);
}
