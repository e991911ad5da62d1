// SPDX-License-Identifier: MIT
/*
 * ARQ benchmark (prints figures; not a test).
 *
 * 1. Goodput and retransmission ratio of each profile over the virtual link: 50 ms RTT,
 *    a rate limit of -r Mbit/s each way with a queue of one bandwidth-delay product, and
 *    0, 1 and 5 % Bernoulli loss on both directions (data and ACKs). The send window is
 *    the BDP in segments (-w scales it), the receive buffer -b times that. Goodput is
 *    payload delivered in order to the reader divided by the virtual time the transfer
 *    took, shown as a fraction of the link rate (which counts the 24-byte headers, so
 *    the ceiling is 1376/1400 = 98.3 % of it).
 * 2. CPU cost: both engines in one thread over a zero-delay, lossless, unlimited link,
 *    thread CPU time per delivered payload byte (sender, receiver and the simulated link
 *    together; wall time is printed too, but a shared machine inflates it). Every run compares each
 * byte read with what was sent.
 *
 * usage: bench_arq [-r mbit] [-s MB per lossy run] [-c MB for the CPU run] [-w factor]
 *                  [-b factor] [-S seed] [-W window of the CPU run]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tests/support/vnet.h"
#include "transport/arq.h"

#define MTU 1400

struct pair {
	struct ferry_vnet vn;
	struct ferry_pool pool_a, pool_b;
	struct ferry_arq *a, *b;
	const uint8_t *src;
	size_t src_len; /* the source repeats with this period */
	size_t total, sent, recvd;
	int bad;
};

static int out_a(void *ctx, const uint8_t *d, size_t len)
{
	return ferry_vnet_send(&((struct pair *)ctx)->vn, FERRY_VNET_A2B, d, len);
}

static int out_b(void *ctx, const uint8_t *d, size_t len)
{
	return ferry_vnet_send(&((struct pair *)ctx)->vn, FERRY_VNET_B2A, d, len);
}

static void deliver(void *ctx, enum ferry_vnet_dir dir, const uint8_t *data, size_t len,
		    uint64_t now)
{
	struct pair *p = ctx;

	ferry_arq_input(dir == FERRY_VNET_A2B ? p->b : p->a, data, len, now);
}

static void die(const char *what, int err)
{
	fprintf(stderr, "bench_arq: %s: %s\n", what, strerror(-err));
	exit(1);
}

static void pair_init(struct pair *p, uint64_t seed, const struct ferry_arq_config *cfg,
		      const struct ferry_vnet_link *l)
{
	uint32_t bufs = 2 * cfg->snd_wnd + cfg->snd_queue_max + cfg->rcv_wnd + 8;
	int err;

	memset(p, 0, sizeof(*p));
	if ((err = ferry_vnet_init(&p->vn, seed, 0, l, l, 4 * (cfg->snd_wnd + cfg->rcv_wnd) + 1024,
				   deliver, p)) ||
	    (err = ferry_pool_init(&p->pool_a, bufs, MTU - 24, 64)) ||
	    (err = ferry_pool_init(&p->pool_b, bufs, MTU - 24, 64)) ||
	    (err = ferry_arq_create(&p->a, 1, cfg, &p->pool_a, out_a, p)) ||
	    (err = ferry_arq_create(&p->b, 1, cfg, &p->pool_b, out_b, p)))
		die("setup", err);
}

static void pair_destroy(struct pair *p)
{
	ferry_arq_destroy(p->a);
	ferry_arq_destroy(p->b);
	ferry_pool_destroy(&p->pool_a);
	ferry_pool_destroy(&p->pool_b);
	ferry_vnet_destroy(&p->vn);
}

static uint64_t min64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* Runs the event loop until every byte is read; returns 0 or -ETIME on a stall. */
static int pair_run(struct pair *p)
{
	static uint8_t rbuf[1 << 16];
	uint64_t guard = 0;

	while (p->recvd < p->total) {
		uint64_t now = p->vn.now, next;
		ssize_t r;

		while (p->sent < p->total) {
			size_t off = p->sent % p->src_len;
			size_t n = p->src_len - off;

			if (n > p->total - p->sent)
				n = p->total - p->sent;
			r = ferry_arq_send(p->a, p->src + off, n);
			if (r <= 0)
				break;
			p->sent += (size_t)r;
		}
		ferry_arq_timer(p->a, now);
		while ((r = ferry_arq_recv(p->b, rbuf, sizeof(rbuf))) > 0) {
			size_t off = p->recvd % p->src_len, n = (size_t)r, first;

			first = n < p->src_len - off ? n : p->src_len - off;
			p->bad |= memcmp(rbuf, p->src + off, first) != 0;
			p->bad |= memcmp(rbuf + first, p->src, n - first) != 0;
			p->recvd += (size_t)r;
		}
		ferry_arq_timer(p->b, now);
		next = min64(ferry_vnet_next_event(&p->vn), ferry_arq_next_deadline(p->a, now));
		next = min64(next, ferry_arq_next_deadline(p->b, now));
		if (next == UINT64_MAX || ++guard > 2000000000ULL)
			return p->recvd < p->total ? -ETIME : 0;
		ferry_vnet_advance(&p->vn, next > now ? next : now);
	}
	return 0;
}

static double seconds(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* A non-negative number, or exit with a message naming it. */
static double number(const char *arg)
{
	char *end;
	double v = strtod(arg, &end);

	if (end == arg || *end || v < 0) {
		fprintf(stderr, "bench_arq: not a number: %s\n", arg);
		exit(2);
	}
	return v;
}

struct prof {
	const char *name;
	enum ferry_arq_profile p;
	int nc0; /* manual: fast3's knobs with the congestion window on */
};

static const struct prof profs[] = {
    {"normal", FERRY_ARQ_PROFILE_NORMAL, 0}, {"fast", FERRY_ARQ_PROFILE_FAST, 0},
    {"fast2", FERRY_ARQ_PROFILE_FAST2, 0},   {"fast3", FERRY_ARQ_PROFILE_FAST3, 0},
    {"manual", FERRY_ARQ_PROFILE_MANUAL, 1},
};

int main(int argc, char **argv)
{
	double mbit = 10, wfac = 1, bfac = 4, size_mb = 20, cpu_mb = 1024;
	uint32_t cpu_wnd = 128;
	static const double losses[] = {0, 0.01, 0.05};
	uint64_t seed = 1;
	uint8_t *src;
	size_t i, j, k;
	int opt;

	while ((opt = getopt(argc, argv, "r:s:c:w:b:S:W:")) != -1) {
		switch (opt) {
		case 'r':
			mbit = number(optarg);
			break;
		case 's':
			size_mb = number(optarg);
			break;
		case 'c':
			cpu_mb = number(optarg);
			break;
		case 'w':
			wfac = number(optarg);
			break;
		case 'b':
			bfac = number(optarg);
			break;
		case 'S':
			seed = strtoull(optarg, NULL, 0);
			break;
		case 'W':
			cpu_wnd = (uint32_t)number(optarg);
			break;
		default:
			fprintf(stderr,
				"usage: %s [-r mbit] [-s MB] [-c MB] [-w f] [-b f] [-S seed] [-W "
				"wnd]\n",
				argv[0]);
			return 2;
		}
	}
	src = malloc(1 << 20);
	if (!src)
		return 1;
	for (i = 0; i < (1 << 20); i++)
		src[i] = (uint8_t)(i * 131 + (i >> 11));

	if (size_mb > 0) {
		uint64_t rate = (uint64_t)(mbit * 1e6 / 8);
		uint32_t bdp_bytes = (uint32_t)(rate * 50 / 1000);
		uint32_t bdp_segs = (bdp_bytes + MTU - 1) / MTU;
		uint32_t wnd = (uint32_t)(bdp_segs * wfac), rwnd = (uint32_t)(wnd * bfac);

		printf("link: %.1f Mbit/s each way, RTT 50 ms, queue %u B (1 BDP), loss both ways;"
		       " snd_wnd %u segs (BDP %u), rcv_wnd %u; %.0f MB per run, seed %llu\n",
		       mbit, bdp_bytes, wnd, bdp_segs, rwnd, size_mb, (unsigned long long)seed);
		printf("%-8s %6s %10s %9s %9s %8s %8s %6s\n", "profile", "loss", "goodput",
		       "of link", "retrans", "rto", "fast", "srtt");
		for (j = 0; j < sizeof(profs) / sizeof(profs[0]); j++) {
			for (k = 0; k < sizeof(losses) / sizeof(losses[0]); k++) {
				struct ferry_vnet_link l = {
				    .delay_ms = 25,
				    .loss = losses[k],
				    .rate = rate,
				    .queue_limit = bdp_bytes,
				};
				struct ferry_arq_config cfg;
				struct ferry_arq_stats st;
				static struct pair p;
				double secs, gp;
				int err;

				ferry_arq_config_init(&cfg, profs[j].p);
				if (profs[j].nc0) {
					cfg.nodelay = 1;
					cfg.interval = 10;
					cfg.nc = 0;
				}
				cfg.snd_wnd = wnd ? wnd : 1;
				cfg.rcv_wnd = rwnd ? rwnd : 1;
				cfg.snd_queue_max = cfg.snd_wnd;
				pair_init(&p, seed + j * 10 + k, &cfg, &l);
				p.src = src;
				p.src_len = 1 << 20;
				p.total = (size_t)(size_mb * (1 << 20));
				err = pair_run(&p);
				ferry_arq_stats(p.a, &st);
				secs = (double)p.vn.now / 1000;
				gp = (double)p.recvd / secs;
				printf("%-8s %5.0f%% %7.2f MB/s %8.1f%% %8.2f%% %8llu %8llu %4u "
				       "ms%s\n",
				       profs[j].name, losses[k] * 100, gp / 1e6,
				       100 * gp / (double)rate,
				       100.0 * (double)(st.segs_rto + st.segs_fast) /
					   (double)st.segs_sent,
				       (unsigned long long)st.segs_rto,
				       (unsigned long long)st.segs_fast, st.srtt,
				       err     ? "  STALLED"
				       : p.bad ? "  CORRUPT"
					       : "");
				pair_destroy(&p);
			}
		}
	}

	if (cpu_mb > 0) {
		struct ferry_vnet_link l = {0};
		struct ferry_arq_config cfg;
		static struct pair p;
		double t0, c0, secs, cpu;
		int err;

		ferry_arq_config_init(&cfg, FERRY_ARQ_PROFILE_FAST3);
		cfg.snd_wnd = cpu_wnd;
		cfg.rcv_wnd = cpu_wnd;
		cfg.snd_queue_max = cpu_wnd;
		pair_init(&p, seed, &cfg, &l);
		p.src = src;
		p.src_len = 1 << 20;
		p.total = (size_t)(cpu_mb * (1 << 20));
		t0 = seconds(CLOCK_MONOTONIC);
		c0 = seconds(CLOCK_THREAD_CPUTIME_ID);
		err = pair_run(&p);
		cpu = seconds(CLOCK_THREAD_CPUTIME_ID) - c0;
		secs = seconds(CLOCK_MONOTONIC) - t0;
		printf("cpu: window %u, %.0f MB over a zero-delay lossless link, one thread: "
		       "%.3f s CPU (%.3f s wall): %.3f ns CPU per delivered byte, "
		       "%.2f GB/s of payload per core%s\n",
		       cpu_wnd, cpu_mb, cpu, secs, cpu * 1e9 / (double)p.recvd,
		       (double)p.recvd / cpu / 1e9,
		       err     ? "  STALLED"
		       : p.bad ? "  CORRUPT"
			       : "");
		pair_destroy(&p);
	}
	free(src);
	return 0;
}
