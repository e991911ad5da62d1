// SPDX-License-Identifier: MIT
/*
 * The kcptun peer harness of tests/support/kcptun.h (topology and wire facts there):
 * kcptun-server started and stopped by PID, the echo target it dials, smux v1 framing over
 * ferry's ARQ byte stream (with the optional stopped reader and rate-limited echo), and
 * the poll loop that drives them. The wire between our ARQ and kcp-go -- its framing, the
 * loss, the delay lines, the checks on every segment -- is kcptun_wire.c.
 *
 * Everything random (conv, loss, nonces, PSH frame sizes, stream contents) comes from one
 * xorshift64* seeded through splitmix64, so a seed reproduces what we send; kcptun's
 * timing is real, so what comes back is not reproducible to the datagram. Every loop is
 * bounded (datagrams per turn, turns, wall clock, the waits for kcptun to bind and exit).
 */
#include "tests/support/kcptun.h"
#include "tests/support/kcptun_internal.h"
#include "tests/support/netns.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/support/fixture.h"
#include "transport/wire.h"

#define KCPTUN_PORT 29900
#define KCPTUN_WND  "256" /* --sndwnd and --rcvwnd, = ARQ_WND */

_Static_assert(FERRY_KCPTUN_MTU == 1350, "server_spawn passes --mtu 1350");
_Static_assert(ARQ_WND == 256, "KCPTUN_WND must equal ARQ_WND");

static uint64_t splitmix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* Byte `pos` of the seeded stream `seed` (random access, so sender and checker agree). */
static void seeded_fill(uint64_t seed, size_t pos, uint8_t *out, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++, pos++)
		out[i] = (uint8_t)(splitmix(seed + pos / 8) >> (pos % 8 * 8));
}

static struct sockaddr_in loopback(uint16_t port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

/* ---- kcptun-server: start, wait until bound, stop ---- */

static pid_t server_spawn(uint16_t target_port)
{
	char listen_at[32], target[32];
	char *argv[] = {
	    "kcptun-server", "--listen", listen_at,	"--target", target,	     "--crypt",
	    "none",	     "--nocomp", "--datashard", "0",	    "--parityshard", "0",
	    "--smuxver",     "1",	 "--mode",	"fast3",    "--mtu",	     "1350",
	    "--sndwnd",	     KCPTUN_WND, "--rcvwnd",	KCPTUN_WND, "--quiet",	     NULL,
	};
	bool keep_log = getenv("FERRY_INTEROP_LOG") != NULL;
	pid_t parent = getpid();
	pid_t pid;

	snprintf(listen_at, sizeof(listen_at), "127.0.0.1:%d", KCPTUN_PORT);
	snprintf(target, sizeof(target), "127.0.0.1:%u", target_port);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		/* only async-signal-safe calls from here on */
		int null = open("/dev/null", O_RDWR);

		if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent || null < 0)
			_exit(127);
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		if (!keep_log)
			dup2(null, STDERR_FILENO);
		execv(FERRY_KCPTUN_BIN, argv);
		_exit(127);
	}
	return pid;
}

/* True once a UDP socket is bound to 127.0.0.1:KCPTUN_PORT in this namespace. */
static bool server_bound(void)
{
	char want[32], line[256];
	bool found = false;
	FILE *f = fopen("/proc/self/net/udp", "r");

	ck_assert_ptr_nonnull(f);
	snprintf(want, sizeof(want), " 0100007F:%04X ", (unsigned)KCPTUN_PORT);
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, want) != NULL;
	fclose(f);
	return found;
}

static void server_wait_ready(pid_t pid)
{
	uint64_t start = now_ms();
	int status = 0;

	while (!server_bound()) {
		ck_assert_msg(waitpid(pid, &status, WNOHANG) == 0,
			      "kcptun-server exited early (status 0x%x)", status);
		ck_assert_msg(now_ms() - start < READY_WAIT_MS,
			      "kcptun-server not bound to port %d after %d ms", KCPTUN_PORT,
			      READY_WAIT_MS);
		usleep(5000);
	}
}

/* SIGTERM, wait a bounded time, then SIGKILL. Fails if it had died on its own. */
static void server_stop(pid_t pid)
{
	uint64_t start = now_ms();
	int status = 0;
	pid_t r;

	ck_assert_int_eq(waitpid(pid, &status, WNOHANG), 0); /* still running: no crash */
	ck_assert_int_eq(kill(pid, SIGTERM), 0);
	while ((r = waitpid(pid, &status, WNOHANG)) == 0 && now_ms() - start < STOP_WAIT_MS)
		usleep(5000);
	if (r == 0) {
		kill(pid, SIGKILL);
		r = waitpid(pid, &status, 0);
	}
	ck_assert_int_eq(r, pid);
}

/* ---- the echo target ---- */

static void echo_open(struct ferry_kcptun_echo *e)
{
	struct sockaddr_in a = loopback(0);
	socklen_t alen = sizeof(a);
	int i;

	for (i = 0; i < STREAMS_MAX; i++)
		e->c[i].fd = -1;
	e->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(e->lfd, 0);
	ck_assert_int_eq(bind(e->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(e->lfd, STREAMS_MAX), 0);
	ck_assert_int_eq(getsockname(e->lfd, (struct sockaddr *)&a, &alen), 0);
	e->port = ntohs(a.sin_port);
}

static void echo_close_conn(struct ferry_kcptun_echo *e, struct ferry_kcptun_echo_conn *c)
{
	close(c->fd);
	c->fd = -1;
	e->closed++;
}

static void echo_accept(struct ferry_kcptun_echo *e)
{
	int fd;

	while ((fd = accept4(e->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		ck_assert_msg(e->accepted < STREAMS_MAX, "more target connections than streams");
		e->c[e->accepted++].fd = fd;
	}
	ck_assert_msg(errno == EAGAIN, "accept: %s", strerror(errno));
}

/* Moves what can move on one connection: read while there is room, write what is held. */
static void echo_conn_io(struct ferry_kcptun_echo *e, struct ferry_kcptun_echo_conn *c)
{
	ssize_t n;

	if (c->head == c->tail)
		c->head = c->tail = 0;
	if (c->tail < ECHO_BUF) {
		n = read(c->fd, c->buf + c->tail, ECHO_BUF - c->tail);
		if (n == 0 || (n < 0 && errno == ECONNRESET)) {
			echo_close_conn(e, c); /* kcptun closes once the stream ends */
			return;
		}
		ck_assert_msg(n > 0 || errno == EAGAIN, "echo read: %s", strerror(errno));
		if (n > 0)
			c->tail += (size_t)n;
	}
	if (c->head < c->tail) {
		size_t len = c->tail - c->head;

		if (e->rate && len > e->budget)
			len = e->budget;
		if (len == 0)
			return;
		n = send(c->fd, c->buf + c->head, len, MSG_NOSIGNAL);
		ck_assert_msg(n > 0 || errno == EAGAIN, "echo write: %s", strerror(errno));
		if (n > 0) {
			c->head += (size_t)n;
			if (e->rate)
				e->budget -= (size_t)n;
		}
	}
}

/* Tops up the rate limit's budget (at most ECHO_BURST_MS worth). */
static void echo_refill(struct ferry_kcptun_echo *e, uint64_t now)
{
	size_t cap = (size_t)e->rate * ECHO_BURST_MS;

	if (!e->rate)
		return;
	if (e->refilled == 0)
		e->refilled = now;
	e->budget += (size_t)e->rate * (now - e->refilled);
	if (e->budget > cap)
		e->budget = cap;
	e->refilled = now;
}

/* True while a rate-limited echo holds bytes it may not send yet. */
static bool echo_throttled(const struct ferry_kcptun_echo *e)
{
	int i;

	if (!e->rate || e->budget > 0)
		return false;
	for (i = 0; i < STREAMS_MAX; i++)
		if (e->c[i].fd >= 0 && e->c[i].head < e->c[i].tail)
			return true;
	return false;
}

static void echo_close(struct ferry_kcptun_echo *e)
{
	int i;

	for (i = 0; i < STREAMS_MAX; i++)
		if (e->c[i].fd >= 0)
			echo_close_conn(e, &e->c[i]);
	close(e->lfd);
}

/* ---- smux v1 over the ARQ byte stream ---- */

static void smux_hdr(uint8_t *p, uint8_t cmd, uint16_t len, uint32_t sid)
{
	p[0] = SMUX_VER;
	p[1] = cmd;
	ferry_wire_put_le16(p + 2, len);
	ferry_wire_put_le32(p + 4, sid);
}

/* The frame a stream sends next (SYN, PSH of a random size, FIN after its full echo),
 * built into t->tx. Returns false if the stream has nothing to send now. */
static bool smux_frame_of(struct ferry_kcptun *t, struct ferry_kcptun_stream *s)
{
	size_t len;

	if (!s->syn_sent) {
		smux_hdr(t->tx, SMUX_SYN, 0, s->id);
		s->syn_sent = true;
		len = 0;
	} else if (s->sent < s->total) {
		len = 1 + rng_next(&t->rng) % SMUX_FRAME_MAX;
		if (len > s->total - s->sent)
			len = s->total - s->sent;
		smux_hdr(t->tx, SMUX_PSH, (uint16_t)len, s->id);
		seeded_fill(s->seed, s->sent, t->tx + SMUX_HDR, len);
		s->sent += len;
	} else if (s->echoed == s->total && !s->fin_sent) {
		smux_hdr(t->tx, SMUX_FIN, 0, s->id);
		s->fin_sent = true;
		len = 0;
	} else {
		return false;
	}
	t->tx_len = SMUX_HDR + len;
	t->tx_off = 0;
	return true;
}

static bool smux_next_frame(struct ferry_kcptun *t)
{
	int i;

	for (i = 0; i < t->n_streams; i++) {
		struct ferry_kcptun_stream *s = &t->s[t->next_stream];

		t->next_stream = (t->next_stream + 1) % t->n_streams;
		if (smux_frame_of(t, s))
			return true;
	}
	return false;
}

/* Hands frames to the ARQ until it pushes back. */
static void smux_pump_out(struct ferry_kcptun *t)
{
	ssize_t n;

	for (;;) {
		if (t->tx_off == t->tx_len && !smux_next_frame(t))
			return;
		n = ferry_arq_send(t->arq, t->tx + t->tx_off, t->tx_len - t->tx_off);
		if (n == -EAGAIN)
			return;
		ck_assert_int_gt(n, 0);
		t->tx_off += (size_t)n;
	}
}

static struct ferry_kcptun_stream *smux_stream(struct ferry_kcptun *t, uint32_t sid)
{
	int i;

	for (i = 0; i < t->n_streams; i++)
		if (t->s[i].id == sid)
			return &t->s[i];
	ck_abort_msg("smux frame for unknown stream %u", sid);
	return NULL;
}

static void smux_header_in(struct ferry_kcptun *t)
{
	const uint8_t *h = t->rx_hdr;
	uint16_t len = ferry_wire_get_le16(h + 2);
	uint32_t sid = ferry_wire_get_le32(h + 4);
	struct ferry_kcptun_stream *s;

	ck_assert_msg(h[0] == SMUX_VER, "smux version %u", h[0]);
	switch (h[1]) {
	case SMUX_NOP:
		ck_assert_uint_eq(len, 0);
		break;
	case SMUX_PSH:
		t->rx_stream = smux_stream(t, sid);
		t->rx_left = len;
		break;
	case SMUX_FIN:
		s = smux_stream(t, sid);
		ck_assert_msg(s->fin_sent && s->echoed == s->total,
			      "stream %u: FIN after %zu of %zu bytes", sid, s->echoed, s->total);
		ck_assert(!s->fin_recv);
		s->fin_recv = true;
		break;
	default:
		ck_abort_msg("unexpected smux cmd %u on stream %u", h[1], sid);
	}
}

/* Checks PSH payload bytes against the stream's seed. */
static void smux_payload_in(struct ferry_kcptun *t, const uint8_t *p, size_t len)
{
	struct ferry_kcptun_stream *s = t->rx_stream;
	size_t i;

	ck_assert_msg(s->echoed + len <= s->sent, "stream %u: more back than sent", s->id);
	seeded_fill(s->seed, s->echoed, t->expect, len);
	if (memcmp(p, t->expect, len) != 0) {
		for (i = 0; p[i] == t->expect[i]; i++)
			;
		ck_abort_msg("stream %u: byte %zu differs", s->id, s->echoed + i);
	}
	s->echoed += len;
}

static void smux_parse(struct ferry_kcptun *t, const uint8_t *p, size_t len)
{
	size_t take;

	while (len > 0) {
		if (t->rx_left > 0) {
			take = len < t->rx_left ? len : t->rx_left;
			smux_payload_in(t, p, take);
			t->rx_left -= take;
		} else {
			take = SMUX_HDR - t->rx_hdr_len;
			take = len < take ? len : take;
			memcpy(t->rx_hdr + t->rx_hdr_len, p, take);
			t->rx_hdr_len += take;
			if (t->rx_hdr_len == SMUX_HDR) {
				t->rx_hdr_len = 0;
				smux_header_in(t);
			}
		}
		p += take;
		len -= take;
	}
}

/* True while the stalled reader of the window tests is not reading: from the moment it
 * has read pause_after bytes of the ARQ stream, for pause_ms. */
static bool reader_paused(struct ferry_kcptun *t, uint64_t now)
{
	if (t->pause_ms == 0 || t->app_read < t->pause_after)
		return false;
	if (t->pause_until == 0)
		t->pause_until = now + t->pause_ms;
	if (now < t->pause_until)
		return true;
	if (!t->resumed_at)
		t->resumed_at = now;
	return false;
}

static void smux_pump_in(struct ferry_kcptun *t, uint64_t now)
{
	size_t cap;
	ssize_t n;

	for (;;) {
		if (reader_paused(t, now))
			return;
		cap = sizeof(t->app);
		if (t->pause_ms && t->app_read < t->pause_after &&
		    t->pause_after - t->app_read < cap)
			cap = t->pause_after - t->app_read; /* stop exactly there */
		n = ferry_arq_recv(t->arq, t->app, cap);
		if (n <= 0)
			break;
		t->app_read += (size_t)n;
		smux_parse(t, t->app, (size_t)n);
	}
	ck_assert_int_eq(n, -EAGAIN);
}

/* ---- one test's harness ---- */

struct ferry_kcptun *ferry_kcptun_start(uint64_t seed, unsigned loss_pct, int streams, size_t bytes)
{
	struct ferry_kcptun *t = calloc(1, sizeof(*t));
	struct sockaddr_in peer = loopback(KCPTUN_PORT);
	struct ferry_arq_config cfg;
	int sockbuf = SOCKBUF, i;

	ck_assert_ptr_nonnull(t);
	ferry_test_netns_enter();
	t->rng = splitmix(seed);
	t->conv = (uint32_t)rng_next(&t->rng);
	t->loss_pct = loss_pct;
	t->n_streams = streams;
	for (i = 0; i < streams; i++)
		t->s[i] = (struct ferry_kcptun_stream){
		    .id = 1 + 2 * (uint32_t)i, .seed = rng_next(&t->rng), .total = bytes};

	echo_open(&t->echo);
	t->kcptun = server_spawn(t->echo.port);
	server_wait_ready(t->kcptun);

	t->udp = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(t->udp, 0);
	/* kcp-go sends a window (256 x 1350 B) in one burst: the default receive buffer
	 * (about 150 such datagrams) would drop part of it before we read */
	ck_assert_int_eq(setsockopt(t->udp, SOL_SOCKET, SO_RCVBUFFORCE, &sockbuf, sizeof(sockbuf)),
			 0);
	ck_assert_int_eq(setsockopt(t->udp, SOL_SOCKET, SO_SNDBUFFORCE, &sockbuf, sizeof(sockbuf)),
			 0);
	ck_assert_int_eq(connect(t->udp, (struct sockaddr *)&peer, sizeof(peer)), 0);

	ck_assert_int_eq(ferry_arq_config_init(&cfg, FERRY_ARQ_PROFILE_FAST3), 0);
	cfg.mtu = ARQ_MTU;
	cfg.snd_wnd = ARQ_WND;
	cfg.rcv_wnd = ARQ_WND;
	cfg.snd_queue_max = ARQ_WND;
	/* kcp-go's window is its default (32, IKCP_WND_RCV) until kcptun has accepted the
	 * session and set --rcvwnd; beyond it kcp-go drops silently, so the first flight,
	 * sent before the peer's first wnd arrives, must not exceed 32 segments */
	cfg.rmt_wnd_init = FERRY_KCPTUN_KCP_GO_WND_DEFAULT;
	ck_assert_int_eq(ferry_pool_init(&t->pool, 3 * ARQ_WND + 32, ARQ_MTU - FERRY_ARQ_HDR_LEN,
					 FERRY_ARQ_HDR_LEN),
			 0);
	ck_assert_int_eq(
	    ferry_arq_create(&t->arq, t->conv, &cfg, &t->pool, ferry_kcptun_wire_output, t), 0);
	return t;
}

void ferry_kcptun_stop(struct ferry_kcptun *t)
{
	server_stop(t->kcptun);
	ferry_arq_destroy(t->arq);
	ferry_ck_pool_idle(&t->pool);
	ferry_pool_destroy(&t->pool);
	close(t->udp);
	echo_close(&t->echo);
	free(t);
}

static bool rig_done(const struct ferry_kcptun *t)
{
	int i;

	for (i = 0; i < t->n_streams; i++)
		if (!t->s[i].fin_recv)
			return false;
	return ferry_arq_pending(t->arq) == 0 && t->echo.closed == t->n_streams;
}

static int rig_pollfds(struct ferry_kcptun *t, struct pollfd *pfd)
{
	int n = 0, i;

	pfd[n++] = (struct pollfd){.fd = t->udp, .events = POLLIN};
	pfd[n++] = (struct pollfd){.fd = t->echo.lfd, .events = POLLIN};
	for (i = 0; i < STREAMS_MAX; i++) {
		struct ferry_kcptun_echo_conn *c = &t->echo.c[i];

		if (c->fd < 0)
			continue;
		pfd[n] = (struct pollfd){.fd = c->fd};
		if (c->tail < ECHO_BUF || c->head == c->tail)
			pfd[n].events |= POLLIN;
		if (c->head < c->tail && (!t->echo.rate || t->echo.budget > 0))
			pfd[n].events |= POLLOUT;
		n++;
	}
	return n;
}

static void rig_progress(const struct ferry_kcptun *t, char *buf, size_t cap)
{
	int i, off = 0;

	for (i = 0; i < t->n_streams && off >= 0 && (size_t)off < cap; i++)
		off += snprintf(buf + off, cap - (size_t)off, "[%u: sent %zu back %zu fin %d/%d] ",
				t->s[i].id, t->s[i].sent, t->s[i].echoed, t->s[i].fin_sent,
				t->s[i].fin_recv);
}

/* The event loop: returns the transfer's duration in ms. */
uint64_t ferry_kcptun_run(struct ferry_kcptun *t)
{
	struct pollfd pfd[2 + STREAMS_MAX];
	uint64_t start = now_ms(), now, deadline;
	char progress[256];
	int turn, n, i, timeout;

	t->started_at = start;
	for (turn = 0;; turn++) {
		now = now_ms();
		rig_progress(t, progress, sizeof(progress));
		ck_assert_msg(turn < TURNS_MAX && now - start < WALL_BUDGET_MS,
			      "no completion after %d turns, %" PRIu64 " ms: %s", turn, now - start,
			      progress);
		ferry_kcptun_lines_run(t, now);
		smux_pump_out(t);
		ck_assert_int_eq(ferry_arq_timer(t->arq, now), 0);
		if (rig_done(t))
			return now_ms() - start;

		deadline = ferry_arq_next_deadline(t->arq, now);
		if (ferry_kcptun_lines_next(t) < deadline)
			deadline = ferry_kcptun_lines_next(t);
		timeout = deadline <= now
			      ? 0
			      : (int)(deadline - now < POLL_MAX_MS ? deadline - now : POLL_MAX_MS);
		echo_refill(&t->echo, now);
		if (echo_throttled(&t->echo) && timeout > 1)
			timeout = 1; /* the next ms brings budget */
		n = rig_pollfds(t, pfd);
		ck_assert_int_ge(poll(pfd, (nfds_t)n, timeout), 0);

		now = now_ms();
		if (pfd[0].revents)
			ferry_kcptun_wire_input(t, now);
		if (pfd[1].revents)
			echo_accept(&t->echo);
		echo_refill(&t->echo, now);
		for (i = 0; i < STREAMS_MAX; i++)
			if (t->echo.c[i].fd >= 0)
				echo_conn_io(&t->echo, &t->echo.c[i]);
		smux_pump_in(t, now);
	}
}

/* The kernel's count of UDP datagrams dropped for a full receive buffer, in this namespace
 * (/proc/self/net/snmp, "Udp:" header line then values line). */
uint64_t ferry_kcptun_udp_rcvbuf_errors(void)
{
	char names[1024], values[1024], *np, *vp, *n, *v;
	uint64_t result = UINT64_MAX;
	FILE *f = fopen("/proc/self/net/snmp", "r");

	ck_assert_ptr_nonnull(f);
	while (fgets(names, sizeof(names), f) && fgets(values, sizeof(values), f)) {
		if (strncmp(names, "Udp:", 4) != 0)
			continue;
		n = strtok_r(names, " \n", &np);
		v = strtok_r(values, " \n", &vp);
		while (n && v && strcmp(n, "RcvbufErrors") != 0) {
			n = strtok_r(NULL, " \n", &np);
			v = strtok_r(NULL, " \n", &vp);
		}
		if (n && v)
			result = strtoull(v, NULL, 10);
		break;
	}
	fclose(f);
	ck_assert_msg(result != UINT64_MAX, "no Udp RcvbufErrors in /proc/self/net/snmp");
	return result;
}

/* Asserts what every case must show, and prints the figures. */
void ferry_kcptun_report(const struct ferry_kcptun *t, const char *name, uint64_t ms)
{
	struct ferry_arq_stats st;
	size_t bytes = 0;
	int i;

	ferry_arq_stats(t->arq, &st);
	for (i = 0; i < t->n_streams; i++) {
		ck_assert_uint_eq(t->s[i].echoed, t->s[i].total);
		bytes += t->s[i].total;
	}
	printf("%s: %zu B each way, %d stream(s), %u%% loss each way, %" PRIu64 " ms\n"
	       "  ferry: dgrams out %" PRIu64 " (lost %" PRIu64 "), PUSH sent %" PRIu64
	       ", retransmitted rto %" PRIu64 " fast %" PRIu64 ", dup PUSH recv %" PRIu64
	       ", srtt %u rto %u\n"
	       "  kcp-go: dgrams in %" PRIu64 " (lost %" PRIu64 "), PUSH %" PRIu64
	       " for %u sn = %" PRIu64 " retransmitted, WASK %" PRIu64 " WINS %" PRIu64 "\n"
	       "  windows: ferry saw rmt_wnd %u, dropped %" PRIu64 " beyond its window, advertised "
	       "wnd 0 in %" PRIu64 " segments, sent WINS %" PRIu64
	       "; kernel UDP rcvbuf drops %" PRIu64 "\n"
	       "  ts echoes checked: %" PRIu64 " ACKs from kcp-go, %" PRIu64 " from ferry\n"
	       "  kcp-go's RTT estimate from our ACKs (one sample per datagram): srtt %.1f ms at "
	       "the end, %.1f at most, %" PRIu64 " samples; path delay %u ms each way (%" PRIu64
	       " delayed sends failed)\n"
	       "  the same over an exact path (2 x delay + our ARQ's hold of the echoed "
	       "transmission): srtt %.1f ms at the end, %.1f at most, %" PRIu64 " samples, %" PRIu64
	       " echoes not kept\n",
	       name, bytes, t->n_streams, t->loss_pct, ms, t->out_dgrams, t->out_lost, st.segs_sent,
	       st.segs_rto, st.segs_fast, st.segs_dup, st.srtt, st.rto, t->in_dgrams, t->in_lost,
	       t->peer_push, t->peer_sn_end, t->peer_push - t->peer_sn_end, t->peer_wask,
	       t->peer_wins, st.rmt_wnd, st.drop_window, t->our_zero_wnd, st.wins_sent,
	       ferry_kcptun_udp_rcvbuf_errors(), t->our_ts.checked, t->peer_ts.checked,
	       t->peer_rtt.srtt, t->peer_rtt.srtt_max, t->peer_rtt.samples, t->delay_ms,
	       t->line_send_errors, t->held_rtt.srtt, t->held_rtt.srtt_max, t->held_rtt.samples,
	       t->held_unknown);
	if (t->resumed_at)
		printf("  stalled reader: resumed %" PRIu64 " ms after the start, done %" PRIu64
		       " ms later; kcp-go sent %" PRIu64 " new segments past our edge%s\n",
		       t->resumed_at - t->started_at, t->started_at + ms - t->resumed_at,
		       t->peer_overrun,
		       t->hold_wnd ? (t->hold_state == FERRY_KCPTUN_HOLD_RELEASED
					  ? ", after one reordered window"
					  : "")
				   : "");

	/* kcp-go's framing and segments are all acceptable to us */
	ck_assert_uint_eq(t->in_bad_crc, 0);
	ck_assert_uint_eq(t->in_short, 0);
	ck_assert_uint_eq(t->peer_bad_seg, 0);
	ck_assert_uint_eq(t->peer_wrong_conv, 0);
	ck_assert_uint_eq(st.drop_truncated, 0);
	ck_assert_uint_eq(st.drop_malformed, 0);
	ck_assert_uint_eq(st.drop_conv, 0);
	ck_assert_uint_eq(st.drop_nobuf, 0);
	/* kcp-go respects our advertised edge, unless a test reordered our windows */
	if (!t->hold_wnd)
		ck_assert_uint_eq(st.drop_window, 0);
	ck_assert_uint_eq(st.output_errors, t->send_errors);
	ck_assert_uint_ge(t->peer_push, t->peer_sn_end);
	/* both sides' ACKs echoed a ts of the acked segment (checked on every ACK) */
	ck_assert_uint_gt(t->our_ts.checked, 0);
	ck_assert_uint_gt(t->peer_ts.checked, 0);
	/* wnd is in segments on both sides: kcptun's --rcvwnd bounds what ferry saw */
	ck_assert_uint_gt(st.rmt_wnd, 0);
	ck_assert_uint_le(st.rmt_wnd, ARQ_WND);
}
