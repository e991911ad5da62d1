// SPDX-License-Identifier: MIT
/*
 * The link's congestion controller on the virtual network: one bulk conversation over a
 * bottleneck (rate limit, a drop-tail queue of one BDP, random loss before the bottleneck
 * as netem and ferry-wanem place it), its goodput, its wire bytes per payload byte, the
 * bottleneck's drops and queueing delay; a capacity step; a request/response beside bulk.
 * Deterministic and seeded; the figures are printed and asserted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/fixture.h"
#include "tests/support/linkrig.h"

struct path {
	uint32_t mbit, rtt_ms;
	double loss;
};

struct result {
	double goodput_mbit;   /* payload bytes B received per second, after the warm-up */
	double wire_per_byte;  /* bytes A put on the wire per payload byte delivered */
	double queue_drop;     /* fraction of A's datagrams the bottleneck queue dropped */
	double qdelay_p95_rtt; /* 95th percentile of (RTT + queueing delay) / RTT */
	struct ferry_cc_info cc;
};

static struct ferry_vnet_link vlink(const struct path *p)
{
	struct ferry_vnet_link l = {
	    .delay_ms = p->rtt_ms / 2,
	    .loss = p->loss,
	    .loss_first = true,
	    .overhead = 28, /* IPv4 and UDP headers, as the rig's addresses are IPv4 */
	    .rate = (uint64_t)p->mbit * 1000000 / 8,
	};

	l.queue_limit = (uint32_t)(l.rate * p->rtt_ms / 1000); /* one BDP */
	return l;
}

static struct ferry_linkrig *rig(uint64_t seed, const struct path *p)
{
	struct ferry_vnet_link l = vlink(p);
	struct ferry_linkrig *w = ferry_linkrig_new(seed, &l, &l);
	int i;

	for (i = 0; i < 2; i++) {
		/* the daemon's windows (stack/bridge.c): one BDP at 100 Mbit/s and 200 ms */
		w->s[i].arq_cfg.snd_wnd = 2048;
		w->s[i].arq_cfg.rcv_wnd = 2048;
		w->s[i].arq_cfg.snd_queue_max = 512;
	}
	ferry_linkrig_start(w);
	ferry_linkrig_warm(w);
	return w;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Runs w for `ms` in steps of 10 ms, sampling the A->B bottleneck's queueing delay. */
static double run_sampling(struct ferry_linkrig *w, uint64_t ms, uint32_t rtt_ms)
{
	uint32_t n = (uint32_t)(ms / 10), i, *q = calloc(n, sizeof(*q));
	double p95;

	ck_assert_ptr_nonnull(q);
	for (i = 0; i < n; i++) {
		uint64_t now_ns;

		ck_assert(ferry_linkrig_run(w, w->vn.now + 10, false));
		now_ns = w->vn.now * 1000000ULL;
		q[i] = w->vn.busy_until_ns[FERRY_VNET_A2B] > now_ns
			   ? (uint32_t)((w->vn.busy_until_ns[FERRY_VNET_A2B] - now_ns) / 1000)
			   : 0;
	}
	qsort(q, n, sizeof(*q), cmp_u32);
	i = n * 95 / 100; /* the 95th percentile's index */
	p95 = (rtt_ms * 1000.0 + (double)q[i]) / (rtt_ms * 1000.0);
	free(q);
	return p95;
}

/* One bulk conversation A->B over p: 3 s of warm-up, then `secs` measured. */
static struct result bulk(const struct path *p, uint64_t seed, uint32_t secs)
{
	struct ferry_linkrig *w = rig(seed, p);
	struct ferry_linkrig_side *a = &w->s[0], *b = &w->s[1];
	uint64_t rx0, wire0, sent0, qd0;
	struct result r;

	ferry_linkrig_conv_open(a, FERRY_LINKRIG_CONV_BASE + 1, (size_t)1 << 40, 0);
	ferry_linkrig_conv_open(b, FERRY_LINKRIG_CONV_BASE + 1, 0, (size_t)1 << 40);
	ck_assert(ferry_linkrig_run(w, w->vn.now + 3 * FERRY_LINKRIG_SEC, false));
	rx0 = b->recvd[b->nconv - 1];
	wire0 = a->link.stats.bytes_out;
	sent0 = w->vn.count[FERRY_VNET_A2B].sent;
	qd0 = w->vn.count[FERRY_VNET_A2B].dropped_queue;
	r.qdelay_p95_rtt = run_sampling(w, secs * FERRY_LINKRIG_SEC, p->rtt_ms);
	r.goodput_mbit = (double)(b->recvd[b->nconv - 1] - rx0) * 8 / secs / 1e6;
	r.wire_per_byte =
	    (double)(a->link.stats.bytes_out - wire0) / (double)(b->recvd[b->nconv - 1] - rx0 + 1);
	r.queue_drop = (double)(w->vn.count[FERRY_VNET_A2B].dropped_queue - qd0) /
		       (double)(w->vn.count[FERRY_VNET_A2B].sent - sent0 + 1);
	ferry_link_cc_info(&a->link, &r.cc);
	ck_assert_uint_eq(b->bad_bytes, 0);
	printf("bulk %u Mbit/s, %u ms, %.0f%% loss: goodput %.2f Mbit/s, wire %.3f B/B, "
	       "bottleneck drops %.2f%%, RTT p95 %.2f x; controller %s bw %.1f Mbit/s "
	       "min_rtt %u ms loss %.1f%% congested rounds %llu\n",
	       p->mbit, p->rtt_ms, p->loss * 100, r.goodput_mbit, r.wire_per_byte,
	       r.queue_drop * 100, r.qdelay_p95_rtt, ferry_cc_state_name(r.cc.state),
	       (double)r.cc.bw * 8 / 1e6, r.cc.min_rtt_ms, r.cc.loss_pm / 10.0,
	       (unsigned long long)r.cc.congested_rounds);
	fflush(stdout);
	ferry_linkrig_free(w);
	return r;
}

/* Issue 11's goals, on the virtual network: goodput at 5% random loss >= 88 Mbit/s of
 * 100 and >= 17 of 20 at 200 ms and 2%; on a clean path <= 1% of datagrams dropped at the
 * bottleneck, <= 1.10 wire bytes per payload byte and an RTT p95 <= 1.3 x the path's.
 * Under random loss the queue's bound is 1.4 x: the bandwidth filter's maximum of noisier
 * samples overestimates by about 2% there (1.30 to 1.36 x measured). */
START_TEST(bulk_clean_path)
{
	struct path p = {100, 50, 0};
	struct result r = bulk(&p, 1, 8);

	ck_assert_double_ge((double)r.cc.bw * 8 / 1e6, 95); /* the bottleneck found ... */
	ck_assert_double_le((double)r.cc.bw * 8 / 1e6, 105);
	ck_assert_double_ge(r.goodput_mbit, 88); /* ... and filled */
	ck_assert_double_le(r.queue_drop, 0.01); /* without flooding it */
	ck_assert_double_le(r.wire_per_byte, 1.10);
	ck_assert_double_le(r.qdelay_p95_rtt, 1.3);
}
END_TEST

START_TEST(bulk_random_loss)
{
	static const double losses[] = {0.01, 0.05, 0.10};
	static const double goodput[] = {88, 88, 80};
	size_t i;

	for (i = 0; i < sizeof(losses) / sizeof(losses[0]); i++) {
		struct path p = {100, 50, losses[i]};
		struct result r = bulk(&p, 2 + i, 8);

		/* random loss does not cut the rate: the estimate stays at the bottleneck, the
		 * loss is measured, and what arrives fills it */
		ck_assert_double_ge((double)r.cc.bw * 8 / 1e6, 95);
		ck_assert_double_ge(r.cc.loss_pm, losses[i] * 1000 * 0.6);
		ck_assert_double_le(r.cc.loss_pm, losses[i] * 1000 * 1.4);
		ck_assert_double_ge(r.goodput_mbit, goodput[i]);
		ck_assert_double_le(r.queue_drop, 0.01);
		ck_assert_double_le(r.qdelay_p95_rtt, 1.4);
	}
}
END_TEST

START_TEST(bulk_long_path)
{
	struct path p = {20, 200, 0.02};
	struct result r = bulk(&p, 7, 10);

	ck_assert_double_ge((double)r.cc.bw * 8 / 1e6, 19);
	ck_assert_double_ge(r.goodput_mbit, 17);
	ck_assert_double_le(r.queue_drop, 0.01);
}
END_TEST

/* The bottleneck's capacity steps 100 -> 20 -> 100 Mbit/s under one bulk conversation: the
 * pacing rate follows within a few round trips each way, and the queue the step down
 * leaves behind drains. */
START_TEST(capacity_steps)
{
	struct path p = {100, 50, 0};
	struct ferry_linkrig *w = rig(11, &p);
	struct ferry_linkrig_side *a = &w->s[0], *b = &w->s[1];
	struct ferry_cc_info c;
	uint64_t t0, rx0, qd_ns, now_ns, followed = 0, drained = 0, back = 0;
	double mbit;

	ferry_linkrig_conv_open(a, FERRY_LINKRIG_CONV_BASE + 1, (size_t)1 << 40, 0);
	ferry_linkrig_conv_open(b, FERRY_LINKRIG_CONV_BASE + 1, 0, (size_t)1 << 40);
	ck_assert(ferry_linkrig_run(w, w->vn.now + 3 * FERRY_LINKRIG_SEC, false));
	/* down to 20 Mbit/s, the queue still one (old) BDP of bytes */
	w->vn.link[FERRY_VNET_A2B].rate = 20000000 / 8;
	t0 = w->vn.now;
	while (w->vn.now - t0 < 3 * FERRY_LINKRIG_SEC) {
		ck_assert(ferry_linkrig_run(w, w->vn.now + 10, false));
		ferry_link_cc_info(&a->link, &c);
		now_ns = w->vn.now * 1000000ULL;
		qd_ns = w->vn.busy_until_ns[FERRY_VNET_A2B] > now_ns
			    ? w->vn.busy_until_ns[FERRY_VNET_A2B] - now_ns
			    : 0;
		if (!followed && (double)c.pacing_rate * 8 / 1e6 <= 20 * 1.3)
			followed = w->vn.now - t0;
		if (followed && !drained && qd_ns < 50 * 1000000ULL / 4)
			drained = w->vn.now - t0;
	}
	/* and back up */
	w->vn.link[FERRY_VNET_A2B].rate = 100000000 / 8;
	t0 = w->vn.now;
	rx0 = b->recvd[b->nconv - 1];
	while (w->vn.now - t0 < 3 * FERRY_LINKRIG_SEC && !back) {
		ck_assert(ferry_linkrig_run(w, w->vn.now + 10, false));
		ferry_link_cc_info(&a->link, &c);
		if ((double)c.bw * 8 / 1e6 >= 90)
			back = w->vn.now - t0;
	}
	ck_assert(ferry_linkrig_run(w, t0 + 4 * FERRY_LINKRIG_SEC, false));
	mbit = (double)(b->recvd[b->nconv - 1] - rx0) * 8 / 4 / 1e6;
	printf("capacity steps: 100 -> 20 Mbit/s followed after %llu ms, its queue drained after "
	       "%llu ms; 20 -> 100 found after %llu ms (%.1f Mbit/s over the 4 s after)\n",
	       (unsigned long long)followed, (unsigned long long)drained, (unsigned long long)back,
	       mbit);
	fflush(stdout);
	ck_assert_uint_gt(followed, 0);
	ck_assert_uint_le(followed, 1000); /* 20 round trips at most */
	ck_assert_uint_gt(drained, 0);
	ck_assert_uint_le(drained, 2000);
	ck_assert_uint_gt(back, 0);
	ck_assert_uint_le(back, 2000);
	ck_assert_uint_eq(b->bad_bytes, 0);
	ferry_linkrig_free(w);
}
END_TEST

/* Two links (pairs A-B and C-D, each its own peers and controller) share one bottleneck:
 * the second starts while the first already fills it, and after some seconds the two
 * converge to fair shares. */
START_TEST(two_links_share)
{
	struct path p = {100, 50, 0};
	struct ferry_vnet_link l = vlink(&p);
	struct ferry_linkrig *w = ferry_linkrig_new(21, &l, &l);
	struct ferry_linkrig_side *a = &w->s[0], *b = &w->s[1], *c = &w->s[2], *d = &w->s[3];
	uint64_t rx_b, rx_d, qd0, sent0;
	double x1, x2, jain, drops;
	int i;

	w->npairs = 2;
	for (i = 0; i < FERRY_LINKRIG_MAX_SIDES; i++) {
		w->s[i].arq_cfg.snd_wnd = 2048;
		w->s[i].arq_cfg.rcv_wnd = 2048;
		w->s[i].arq_cfg.snd_queue_max = 512;
	}
	ferry_linkrig_start(w);
	ferry_linkrig_warm(w);
	ferry_linkrig_conv_open(a, FERRY_LINKRIG_CONV_BASE + 1, (size_t)1 << 40, 0);
	ferry_linkrig_conv_open(b, FERRY_LINKRIG_CONV_BASE + 1, 0, (size_t)1 << 40);
	ck_assert(ferry_linkrig_run(w, w->vn.now + 3 * FERRY_LINKRIG_SEC, false));
	ferry_linkrig_conv_open(c, FERRY_LINKRIG_CONV_BASE + 1, (size_t)1 << 40, 0);
	ferry_linkrig_conv_open(d, FERRY_LINKRIG_CONV_BASE + 1, 0, (size_t)1 << 40);
	/* time to converge, then the shares measured */
	ck_assert(ferry_linkrig_run(w, w->vn.now + 15 * FERRY_LINKRIG_SEC, false));
	rx_b = b->recvd[b->nconv - 1];
	rx_d = d->recvd[d->nconv - 1];
	qd0 = w->vn.count[FERRY_VNET_A2B].dropped_queue;
	sent0 = w->vn.count[FERRY_VNET_A2B].sent;
	ck_assert(ferry_linkrig_run(w, w->vn.now + 15 * FERRY_LINKRIG_SEC, false));
	x1 = (double)(b->recvd[b->nconv - 1] - rx_b) * 8 / 15 / 1e6;
	x2 = (double)(d->recvd[d->nconv - 1] - rx_d) * 8 / 15 / 1e6;
	jain = (x1 + x2) * (x1 + x2) / (2 * (x1 * x1 + x2 * x2));
	drops = (double)(w->vn.count[FERRY_VNET_A2B].dropped_queue - qd0) /
		(double)(w->vn.count[FERRY_VNET_A2B].sent - sent0 + 1);
	printf("two links, 100 Mbit/s, 50 ms: %.1f and %.1f Mbit/s, Jain index %.3f, together "
	       "%.1f, bottleneck drops %.2f%%\n",
	       x1, x2, jain, x1 + x2, drops * 100);
	fflush(stdout);
	ck_assert_double_ge(jain, 0.95);
	ck_assert_double_ge(x1 + x2, 85);
	ck_assert_double_le(drops, 0.01);
	ck_assert_uint_eq(b->bad_bytes + d->bad_bytes, 0);
	ferry_linkrig_free(w);
}
END_TEST

/* STARTUP under random loss: the flows' ARQ windows stall on their losses and every
 * round reads app-limited, so only a standing queue can end it. On this seed it did not
 * before that counted in app-limited rounds: STARTUP at 2.89 x for all 11 s, a third of
 * each round lost, 32% dropped at the bottleneck, 73.6 Mbit/s. */
START_TEST(startup_ends_under_random_loss)
{
	struct path p = {100, 50, 0.05};
	struct result r = bulk(&p, 23, 8);

	ck_assert_int_ne(r.cc.state, FERRY_CC_STARTUP);
	ck_assert_double_le(r.queue_drop, 0.01);
	ck_assert_double_ge(r.goodput_mbit, 88);
}
END_TEST

struct rr_result {
	double p50_rtt, p99_rtt; /* request to reply, in round trips of the path */
	uint32_t n;
};

/* `count` 64-byte requests from A, each answered by 64 bytes from B on their own
 * conversation, one at a time, the next 10 ms after a reply; their latency percentiles. */
static struct rr_result rr_run(struct ferry_linkrig *w, uint32_t conv, uint32_t rtt_ms,
			       uint32_t count)
{
	struct ferry_linkrig_side *a = &w->s[0], *b = &w->s[1];
	const uint32_t size = 64;
	uint32_t *lat = calloc(count, sizeof(*lat)), n = 0, ia, ib;
	uint64_t start = 0, next_at = w->vn.now, answered = 0, deadline;
	bool waiting = false;
	struct rr_result r;

	ck_assert_ptr_nonnull(lat);
	ferry_linkrig_conv_open(a, conv, 0, 0);
	ferry_linkrig_conv_open(b, conv, 0, 0);
	ia = a->nconv - 1;
	ib = b->nconv - 1;
	deadline = w->vn.now + (uint64_t)count * (10 + 20 * rtt_ms);
	while (n < count) {
		ck_assert_uint_lt(w->vn.now, deadline);
		if (!waiting && w->vn.now >= next_at) {
			a->total[ia] += size;
			a->expect[ia] += size;
			start = w->vn.now;
			waiting = true;
		}
		if (b->recvd[ib] >= answered + size) { /* a whole request: answer it */
			answered += size;
			b->total[ib] += size;
			b->expect[ib] += size;
		}
		ck_assert(ferry_linkrig_run(w, w->vn.now + 1, false));
		if (waiting && a->recvd[ia] == a->expect[ia]) {
			lat[n++] = (uint32_t)(w->vn.now - start);
			waiting = false;
			next_at = w->vn.now + 10;
		}
	}
	qsort(lat, n, sizeof(*lat), cmp_u32);
	r.n = n;
	ia = n / 2;	   /* the median's index ... */
	ib = n * 99 / 100; /* ... and the 99th percentile's */
	r.p50_rtt = (double)lat[ia] / rtt_ms;
	r.p99_rtt = (double)lat[ib] / rtt_ms;
	free(lat);
	ck_assert_uint_eq(a->bad_bytes + b->bad_bytes, 0);
	return r;
}

/* A 64-byte request/response over 100 Mbit/s, 50 ms, 5% random loss each way: on an idle
 * link, and beside a bulk conversation on the same link that fills the bottleneck. */
START_TEST(request_response_latency)
{
	struct path p = {100, 50, 0.05};
	struct ferry_linkrig *w = rig(31, &p);
	struct ferry_linkrig_side *a = &w->s[0], *b = &w->s[1];
	struct rr_result idle, loaded;
	uint64_t rx0, t0;
	double mbit;

	idle = rr_run(w, FERRY_LINKRIG_CONV_BASE + 7, p.rtt_ms, 400);
	ferry_linkrig_conv_open(a, FERRY_LINKRIG_CONV_BASE + 1, (size_t)1 << 40, 0);
	ferry_linkrig_conv_open(b, FERRY_LINKRIG_CONV_BASE + 1, 0, (size_t)1 << 40);
	ck_assert(ferry_linkrig_run(w, w->vn.now + 3 * FERRY_LINKRIG_SEC, false));
	rx0 = b->recvd[b->nconv - 1];
	t0 = w->vn.now;
	loaded = rr_run(w, FERRY_LINKRIG_CONV_BASE + 8, p.rtt_ms, 400);
	mbit = (double)(b->recvd[b->nconv - 2] - rx0) * 8 / (double)(w->vn.now - t0) / 1e3;
	printf("request/response, 100 Mbit/s, 50 ms, 5%% loss: idle p50 %.2f p99 %.2f x RTT; "
	       "beside bulk (%.1f Mbit/s) p50 %.2f p99 %.2f x RTT\n",
	       idle.p50_rtt, idle.p99_rtt, mbit, loaded.p50_rtt, loaded.p99_rtt);
	fflush(stdout);
	ck_assert_double_le(idle.p99_rtt, 1.3);
	ck_assert_double_le(loaded.p99_rtt, 1.5);
	ck_assert_double_ge(mbit, 80);
	ferry_linkrig_free(w);
}
END_TEST

/* A datagram that carries only acknowledgements says nothing about whether the senders
 * have more to send: sealing one must not mark the controller app-limited. (It did,
 * whenever the pacer was empty at that moment: with thousands of flows both ways, every
 * sample then counted as app-limited, the estimate could only fall, and it fell to a few
 * Mbit/s of 100: docs/soak.md.) */
START_TEST(acks_alone_are_not_app_limited)
{
	struct path p = {100, 20, 0};
	struct ferry_linkrig *w = rig(43, &p);
	struct ferry_linkrig_side *a = &w->s[0], *b = &w->s[1];
	uint32_t steps = 0, seen = 0, up = a->nconv, down = a->nconv + 1;

	/* both ways at once: A's acknowledgements of B's data often leave alone, while some of
	 * A's own data is in flight and its pacer is empty */
	ferry_linkrig_conv_open(a, FERRY_LINKRIG_CONV_BASE + 1, 200000, 0);
	ferry_linkrig_conv_open(b, FERRY_LINKRIG_CONV_BASE + 1, 0, 200000);
	ferry_linkrig_conv_open(a, FERRY_LINKRIG_CONV_BASE + 2, 0, 2000000);
	ferry_linkrig_conv_open(b, FERRY_LINKRIG_CONV_BASE + 2, 2000000, 0);
	/* one millisecond at a time: a step in which A sealed acknowledgements alone and no
	 * data of its own leaves the mark where it was */
	while (steps++ < 3000 && a->recvd[down] < 2000000) {
		uint64_t until = a->link.cc.app_limited_until, data = a->link.stats.data_out;
		uint64_t acks = a->link.stats.ack_only_out;

		ck_assert(ferry_linkrig_run(w, w->vn.now + 1, false));
		/* data_out counts every data shard, those of acknowledgements alone too */
		if (a->link.stats.ack_only_out == acks ||
		    a->link.stats.data_out - data != a->link.stats.ack_only_out - acks)
			continue;
		seen++;
		ck_assert_uint_eq(a->link.cc.app_limited_until, until);
	}
	printf("acknowledgements alone: A sealed them in %u steps of 1 ms with no data; its "
	       "app-limited mark stayed\n",
	       seen);
	fflush(stdout);
	ck_assert_uint_eq(a->sent[up], 200000);
	ck_assert_uint_eq(a->recvd[down], 2000000);
	ck_assert_uint_gt(seen, 10);
	ferry_linkrig_free(w);
}
END_TEST

/* Five hundred small flows at once, both ways, as a busy gateway carries them (the soak's
 * shape: a request of 8 KiB, a response of 64 KiB): each end sends its ACK records while
 * its own data waits in the pacer, and the flows' data is thin. The controllers must not
 * take that for a queue on the path, nor for senders with nothing to send: they once fell
 * to 3 Mbit/s of 100 here, in a spiral (docs/soak.md). All done at 80% of the path or
 * better. */
START_TEST(many_small_flows)
{
	struct path p = {100, 20, 0.01};
	struct ferry_linkrig *w = rig(41, &p);
	struct ferry_linkrig_side *a = &w->s[0], *b = &w->s[1];
	const uint32_t n = 500;
	const size_t up = 8 << 10, down = 64 << 10;
	struct ferry_cc_info ca, cb;
	uint64_t t0 = w->vn.now, ms;
	double mbit;

	ferry_linkrig_convs_open(w, FERRY_LINKRIG_CONV_BASE + 100, n, up, down);
	ck_assert(ferry_linkrig_run(w, t0 + 60 * FERRY_LINKRIG_SEC, true));
	ms = w->vn.now - t0;
	ferry_linkrig_check_streams(a);
	ferry_linkrig_check_streams(b);
	ferry_link_cc_info(&a->link, &ca);
	ferry_link_cc_info(&b->link, &cb);
	mbit = (double)n * (double)down * 8 / (double)ms / 1e3;
	printf("%u flows of %zu B up and %zu B down, 100 Mbit/s, 20 ms, 1%% loss: %llu ms, "
	       "%.1f Mbit/s down; controllers: A %s %.1f Mbit/s, %llu of %llu rounds "
	       "app-limited, %llu congested; B %s %.1f Mbit/s, %llu of %llu app-limited, %llu "
	       "congested\n",
	       n, up, down, (unsigned long long)ms, mbit, ferry_cc_state_name(ca.state),
	       (double)ca.bw * 8 / 1e6, (unsigned long long)ca.app_limited_rounds,
	       (unsigned long long)ca.rounds, (unsigned long long)ca.congested_rounds,
	       ferry_cc_state_name(cb.state), (double)cb.bw * 8 / 1e6,
	       (unsigned long long)cb.app_limited_rounds, (unsigned long long)cb.rounds,
	       (unsigned long long)cb.congested_rounds);
	fflush(stdout);
	ck_assert_double_ge(mbit, 80);
	ferry_linkrig_free(w);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("link_congestion");
	TCase *tc = ferry_tcase("link_congestion", 300);

	tcase_add_test(tc, bulk_clean_path);
	tcase_add_test(tc, bulk_random_loss);
	tcase_add_test(tc, startup_ends_under_random_loss);
	tcase_add_test(tc, bulk_long_path);
	tcase_add_test(tc, capacity_steps);
	tcase_add_test(tc, two_links_share);
	tcase_add_test(tc, request_response_latency);
	tcase_add_test(tc, acks_alone_are_not_app_limited);
	tcase_add_test(tc, many_small_flows);
	suite_add_tcase(s, tc);
	return ferry_run_suite(s);
}
