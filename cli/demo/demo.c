// SPDX-License-Identifier: MIT
/*
 * The demo's run (see demo.h): the world up, the same measurements over plain TCP and
 * through ferry, the report, the world down. Every wait here is bounded and gives up on
 * Ctrl-C (demo_stop), after which the world is taken down just the same.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/command.h"
#include "cli/daemon/daemon.h"
#include "cli/demo/internal.h"

enum {
	TICK_MS = 250,		/* the progress line's refresh */
	RR_WARMUP = 3,		/* requests that bring each path up before it is measured */
	RR_TIMEOUT_MS = 120000, /* the most a run of requests may take */
	PAUSE_MS = 1000,	/* between measurements: the path drains */
};

volatile sig_atomic_t demo_stop;

struct path {
	char label[48];
	const char *addr; /* the server as the client reaches it */
	const char *cc;	  /* plain TCP's congestion control (NULL through ferry) */
	double mbit;	  /* goodput; < 0 when the transfer failed */
	uint64_t p50_us, p99_us;
	bool rr_ok;
};

static void on_signal(int sig)
{
	(void)sig;
	demo_stop = 1;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* The sink's newest total (it reports every DEMO_REPORT_MS; older reports are skipped). */
static uint64_t sink_total(int fd, uint64_t last)
{
	uint64_t v;

	while (read(fd, &v, sizeof(v)) == (ssize_t)sizeof(v))
		last = v;
	return last;
}

static int bulk(struct demo_world *w, struct path *p, int sink_fd, uint64_t *total,
		const struct ferry_demo_options *opts)
{
	struct demo_source src = {.addr = p->addr, .cc = p->cc};
	uint64_t start, base, elapsed = 0;
	pid_t pid;
	int status;

	base = *total = sink_total(sink_fd, *total);
	pid = demo_fork(w, DEMO_CLIENT, demo_source, &src);
	if (pid < 0)
		return (int)pid;
	start = now_ms();
	while (!demo_stop && elapsed < (uint64_t)opts->seconds * 1000u) {
		sleep_ms(TICK_MS);
		elapsed = now_ms() - start;
		*total = sink_total(sink_fd, *total);
		if (waitpid(pid, &status, WNOHANG) == pid) {
			/* a congestion control this kernel lacks; anything else is a failure */
			printf("%s  %-22s not measured: the sender could not %s\n",
			       opts->progress ? "\r" : "", p->label,
			       WEXITSTATUS(status) == 2 ? "use that congestion control"
							: "connect or send");
			demo_stop_proc(w, pid);
			p->mbit = -1;
			return WEXITSTATUS(status) == 2 ? 0 : -EIO;
		}
		if (opts->progress)
			printf("\r  %-22s %5.1f s  %8.1f MB  %7.1f Mbit/s ", p->label,
			       (double)elapsed / 1000.0, (double)(*total - base) / 1e6,
			       (double)(*total - base) * 8 / 1e3 / (double)(elapsed ? elapsed : 1));
		fflush(stdout);
	}
	demo_stop_proc(w, pid);
	p->mbit = (double)(*total - base) * 8 / 1e3 / (double)(elapsed ? elapsed : 1);
	printf("%s  %-22s %5.1f s  %8.1f MB  %7.1f Mbit/s\n", opts->progress ? "\r" : "", p->label,
	       (double)elapsed / 1000.0, (double)(*total - base) / 1e6, p->mbit);
	return demo_stop ? -EINTR : 0;
}

/* count requests over a new connection; the latencies into p unless warmup. */
static int requests(struct demo_world *w, struct path *p, unsigned count, bool warmup)
{
	int fds[2];
	struct demo_rr rr = {.addr = p->addr, .count = count};
	uint64_t out[2], start = now_ms();
	struct pollfd pfd;
	pid_t pid;
	int ret = -ETIMEDOUT;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	rr.report_fd = fds[1];
	pid = demo_fork(w, DEMO_CLIENT, demo_rr_client, &rr);
	close(fds[1]);
	if (pid < 0) {
		close(fds[0]);
		return (int)pid;
	}
	pfd = (struct pollfd){.fd = fds[0], .events = POLLIN};
	while (!demo_stop && now_ms() - start < RR_TIMEOUT_MS) {
		if (poll(&pfd, 1, TICK_MS) <= 0)
			continue;
		ret = read(fds[0], out, sizeof(out)) == (ssize_t)sizeof(out) ? 0 : -EIO;
		break;
	}
	close(fds[0]);
	demo_stop_proc(w, pid);
	if (!ret && !warmup) {
		p->p50_us = out[0];
		p->p99_us = out[1];
		p->rr_ok = true;
	}
	if (ret && !demo_stop)
		fprintf(stderr, "ferry demo: %s: requests and responses failed (%s)\n", p->label,
			strerror(-ret));
	return demo_stop ? -EINTR : ret;
}

/* One row of the table: a label, then each path's cell. */
static void row(const char *label, const struct path *paths, size_t n, int kind)
{
	char cell[32];
	size_t i;

	printf("  %-22s", label);
	for (i = 0; i < n; i++) {
		const struct path *p = &paths[i];

		if (kind == 0 && p->mbit >= 0)
			snprintf(cell, sizeof(cell), "%.1f Mbit/s", p->mbit);
		else if (kind != 0 && p->rr_ok)
			snprintf(cell, sizeof(cell), "%.0f ms",
				 (double)(kind == 1 ? p->p50_us : p->p99_us) / 1000);
		else
			snprintf(cell, sizeof(cell), "-");
		printf(" %-18s", cell);
	}
	printf("\n");
}

static void report(const struct path *paths, size_t n, const struct ferry_demo_options *opts)
{
	size_t i;

	printf("\n  %-22s", "");
	for (i = 0; i < n; i++)
		printf(" %-18s", paths[i].label);
	printf("\n");
	row("goodput", paths, n, 0);
	row("request/response p50", paths, n, 1);
	row("request/response p99", paths, n, 2);
	printf("  (path RTT %u ms; goodput over %u s, counted by the receiver; %u requests of "
	       "%d bytes)\n",
	       opts->rtt_ms, opts->seconds, opts->requests, DEMO_RR_SIZE);
}

/* What the client's ferry saw, as `ferry status` shows it. */
static void show_status(const struct demo_world *w)
{
	char run[128];

	demo_run_dir(w, 'c', run, sizeof(run));
	printf("\nWhat the client's ferry counted (ferry status):\n");
	fflush(stdout);
	ferry_control_call(run, "ferry0", "status", stdout);
}

/* Plain TCP with each congestion control asked for (cubic, Linux's default, and bbr,
 * unless --cc names one), then ferry, whose own TCP runs inside the tunnel. */
static size_t paths_of(const struct ferry_demo_options *opts, struct path *paths)
{
	static const char *const both[] = {"cubic", "bbr"};
	size_t n = 0, i;

	for (i = 0; i < (opts->cc ? 1u : 2u); i++) {
		paths[n] =
		    (struct path){.addr = DEMO_SERVER_WAN, .cc = opts->cc ? opts->cc : both[i]};
		snprintf(paths[n].label, sizeof(paths[n].label), "plain TCP (%s)", paths[n].cc);
		n++;
	}
	paths[n] = (struct path){.addr = DEMO_SERVER_TUN, .label = "through ferry"};
	return n + 1;
}

static int measure(struct demo_world *w, const struct ferry_demo_options *opts)
{
	struct path paths[3];
	size_t n = paths_of(opts, paths), i;
	struct demo_sink sink;
	uint64_t total = 0;
	int fds[2], err;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	sink.report_fd = fds[1];
	err = (int)demo_fork(w, DEMO_SERVER, demo_sink, &sink);
	close(fds[1]);
	if (err > 0)
		err = (int)demo_fork(w, DEMO_SERVER, demo_rr_server, NULL);
	if (err > 0) {
		sleep_ms(100); /* the servers listen */
		err = 0;
	}
	/* each path brought up first (ferry's handshake happens here) */
	for (i = 0; i < n && !err; i++)
		err = requests(w, &paths[i], RR_WARMUP, true);
	if (!err)
		printf("Bulk transfer, %u s on each path, goodput counted by the receiver:\n",
		       opts->seconds);
	for (i = 0; i < n && !err; i++) {
		err = bulk(w, &paths[i], fds[0], &total, opts);
		sleep_ms(PAUSE_MS);
	}
	if (!err)
		printf("%u requests of %d bytes, one at a time, on each path...\n", opts->requests,
		       DEMO_RR_SIZE);
	for (i = 0; i < n && !err; i++)
		if (paths[i].mbit >= 0)
			err = requests(w, &paths[i], opts->requests, false);
	close(fds[0]);
	if (!err) {
		report(paths, n, opts);
		show_status(w);
	}
	return err;
}

int ferry_demo_run(const struct ferry_demo_options *opts)
{
	struct sigaction sa = {.sa_handler = on_signal};
	struct demo_world w;
	int err;

	if (geteuid() != 0) {
		fprintf(stderr, "ferry demo: needs root: it creates network namespaces and "
				"TUN devices (nothing outside them is touched)\n");
		return FERRY_EXIT_FAIL;
	}
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	printf("ferry demo: plain TCP and ferry on the same emulated path\n");
	printf("  path:    ");
	if (opts->rate_mbit)
		printf("%u Mbit/s each way, ", opts->rate_mbit);
	printf("%u ms round trip, %g%% random loss each way\n", opts->rtt_ms, opts->loss_pct);
	printf("  network: client %s -- emulator -- server %s, in three network namespaces of "
	       "the demo's own\n",
	       DEMO_CLIENT_WAN, DEMO_SERVER_WAN);
	printf("  tunnel:  ferry0 %s on the client, ferry0 %s on the server\n\n", DEMO_CLIENT_TUN,
	       DEMO_SERVER_TUN);
	fflush(stdout);
	err = demo_world_up(&w, opts);
	if (!err)
		err = measure(&w, opts);
	demo_world_down(&w);
	if (err == -EINTR || demo_stop) {
		printf("\nferry demo: stopped; everything it made is gone\n");
		return FERRY_EXIT_FAIL;
	}
	return err ? FERRY_EXIT_FAIL : FERRY_EXIT_OK;
}
