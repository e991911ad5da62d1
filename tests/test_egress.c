// SPDX-License-Identifier: MIT
/*
 * Egress with real sockets: every test forks (Check) and moves into a network namespace
 * of its own (unshare(CLONE_NEWNET)) with only lo up, so every destination is a socket
 * the test itself holds. A tiny poll() loop stands in for the daemon's event loop: it
 * polls the fds egress asked to watch (plus the test's own), hands readiness to
 * ferry_egress_io and runs ferry_egress_poll; a fake transport takes bytes with a small
 * budget so backpressure is exercised both ways.
 *
 * Needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN); without it the suite exits 77, which CTest
 * reports as skipped -- not as passed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "stack/egress.h"
#include "tests/support/fixture.h"
#include "tun/netlink.h"
#include "tun/tun.h"

#define SKIP_STATUS 77
#define WATCH_MAX   32
#define IDS	    8
#define RELAY_SIZE  ((size_t)1 << 20)
#define WINDOW	    8192 /* the fake transport's budget per loop turn */

struct watch {
	int fd;
	uint32_t events;
	uint64_t cookie;
};

struct harness {
	struct ferry_egress *eg;
	struct watch w[WATCH_MAX];
	int n_watch;
	int watch_calls;

	int connected[IDS];
	int failed[IDS]; /* the errno reported, 0 if none */
	bool closed[IDS];
	int closed_reason[IDS];
	bool eof[IDS];
	int sendable[IDS];

	/* bytes from the destination, kept up to rx_cap */
	uint8_t *rx;
	size_t rx_len, rx_cap;
	size_t window_used; /* taken since the last transport turn */
	bool window;	    /* limit takes to WINDOW per turn */
	int short_takes;
	bool paused;
	uint32_t paused_id;
	bool reset_in_data; /* reset the flow from inside tcp_data */
	int data_calls;

	int datagrams;
	struct ferry_endpoint from[4];
	char dgram[4][32];
	int udp_closed;

	int replies;
	struct ferry_endpoint reply_app, reply_from;
	uint16_t reply_seq;
	char reply_data[16];
	size_t reply_len;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int h_watch(void *ctx, int fd, uint32_t events, uint64_t cookie)
{
	struct harness *h = ctx;
	int i;

	h->watch_calls++;
	for (i = 0; i < h->n_watch; i++)
		if (h->w[i].fd == fd)
			break;
	if (i == h->n_watch) {
		ck_assert_int_lt(h->n_watch, WATCH_MAX);
		h->n_watch++;
	}
	h->w[i] = (struct watch){fd, events, cookie};
	return 0;
}

static void h_unwatch(void *ctx, int fd)
{
	struct harness *h = ctx;
	int i;

	for (i = 0; i < h->n_watch; i++)
		if (h->w[i].fd == fd) {
			h->w[i] = h->w[--h->n_watch];
			return;
		}
	ck_abort_msg("unwatch of fd %d that was not watched", fd);
}

static void h_tcp_connected(void *ctx, uint32_t id)
{
	((struct harness *)ctx)->connected[id]++;
}

static void h_tcp_failed(void *ctx, uint32_t id, int err)
{
	struct harness *h = ctx;

	ck_assert_int_lt(err, 0);
	h->failed[id] = err;
}

static size_t h_tcp_data(void *ctx, uint32_t id, const uint8_t *data, size_t len)
{
	struct harness *h = ctx;
	size_t take = len;

	h->data_calls++;
	if (h->reset_in_data) {
		ck_assert_int_eq(ferry_egress_tcp_reset(h->eg, id), 0);
		return 0;
	}

	if (h->window && take > WINDOW - h->window_used)
		take = WINDOW - h->window_used;
	if (take > h->rx_cap - h->rx_len)
		take = h->rx_cap - h->rx_len;
	memcpy(h->rx + h->rx_len, data, take);
	h->rx_len += take;
	h->window_used += take;
	if (take < len) {
		h->short_takes++;
		h->paused = true;
		h->paused_id = id;
	}
	return take;
}

static void h_tcp_eof(void *ctx, uint32_t id)
{
	((struct harness *)ctx)->eof[id] = true;
}

static void h_tcp_sendable(void *ctx, uint32_t id, size_t space)
{
	(void)space;
	((struct harness *)ctx)->sendable[id]++;
}

static void h_tcp_closed(void *ctx, uint32_t id, int reason)
{
	struct harness *h = ctx;

	h->closed[id] = true;
	h->closed_reason[id] = reason;
}

static void h_udp_datagram(void *ctx, uint32_t id, const struct ferry_endpoint *from,
			   const uint8_t *data, size_t len)
{
	struct harness *h = ctx;

	ck_assert_uint_eq(id, 5);
	ck_assert_int_lt(h->datagrams, 4);
	ck_assert_uint_lt(len, sizeof(h->dgram[0]));
	h->from[h->datagrams] = *from;
	memcpy(h->dgram[h->datagrams], data, len);
	h->dgram[h->datagrams][len] = '\0';
	h->datagrams++;
}

static void h_udp_closed(void *ctx, uint32_t id)
{
	ck_assert_uint_eq(id, 5);
	((struct harness *)ctx)->udp_closed++;
}

static void h_icmp_reply(void *ctx, const struct ferry_endpoint *app,
			 const struct ferry_endpoint *from, uint16_t seq, const uint8_t *data,
			 size_t len, uint32_t rtt_ms)
{
	struct harness *h = ctx;

	ck_assert_uint_lt(rtt_ms, 1000);
	ck_assert_uint_le(len, sizeof(h->reply_data));
	h->replies++;
	h->reply_app = *app;
	h->reply_from = *from;
	h->reply_seq = seq;
	memcpy(h->reply_data, data, len);
	h->reply_len = len;
}

static const struct ferry_egress_ops test_ops = {
    .watch = h_watch,
    .unwatch = h_unwatch,
    .tcp_connected = h_tcp_connected,
    .tcp_failed = h_tcp_failed,
    .tcp_data = h_tcp_data,
    .tcp_eof = h_tcp_eof,
    .tcp_sendable = h_tcp_sendable,
    .tcp_closed = h_tcp_closed,
    .udp_datagram = h_udp_datagram,
    .udp_closed = h_udp_closed,
    .icmp_reply = h_icmp_reply,
};

/* One turn of the loop: waits up to ms for the watched fds and `extra` (its revents are
 * returned), dispatches, runs the timers, and lets the fake transport drain its window. */
static short pump(struct harness *h, int extra, short extra_events, int ms)
{
	struct pollfd pfd[WATCH_MAX + 1];
	uint64_t cookies[WATCH_MAX];
	uint64_t deadline = ferry_egress_next_deadline(h->eg), now = now_ms();
	int n = h->n_watch, i;
	short extra_revents = 0;

	for (i = 0; i < n; i++) {
		pfd[i].fd = h->w[i].fd;
		pfd[i].events = (short)((h->w[i].events & FERRY_EGRESS_READ ? POLLIN : 0) |
					(h->w[i].events & FERRY_EGRESS_WRITE ? POLLOUT : 0));
		pfd[i].revents = 0;
		cookies[i] = h->w[i].cookie;
	}
	pfd[n] = (struct pollfd){.fd = extra, .events = extra_events};
	if (deadline != UINT64_MAX && deadline < now + (uint64_t)ms)
		ms = deadline > now ? (int)(deadline - now) : 0;
	ck_assert_int_ge(poll(pfd, (nfds_t)n + 1, ms), 0);
	now = now_ms();
	for (i = 0; i < n; i++) {
		uint32_t ev = 0;

		if (pfd[i].revents & POLLIN)
			ev |= FERRY_EGRESS_READ;
		if (pfd[i].revents & POLLOUT)
			ev |= FERRY_EGRESS_WRITE;
		if (pfd[i].revents & (POLLERR | POLLHUP))
			ev |= FERRY_EGRESS_ERROR;
		if (ev)
			ferry_egress_io(h->eg, cookies[i], ev, now);
	}
	if (extra >= 0)
		extra_revents = pfd[n].revents;
	ferry_egress_poll(h->eg, now_ms());
	h->window_used = 0;
	if (h->paused) {
		h->paused = false;
		ferry_egress_tcp_writable(h->eg, h->paused_id);
	}
	return extra_revents;
}

static void lo_up(void)
{
	struct ferry_nl nl;

	ck_assert_msg(unshare(CLONE_NEWNET) == 0, "unshare(CLONE_NEWNET): %s", strerror(errno));
	ck_assert_int_eq(ferry_nl_open(&nl), 0);
	ck_assert_int_eq(ferry_nl_link_set(&nl, if_nametoindex("lo"), 1, 0), 0);
	ferry_nl_close(&nl);
}

static void ep(struct ferry_endpoint *e, const char *addr, uint16_t port)
{
	memset(e, 0, sizeof(*e));
	e->family = strchr(addr, ':') ? AF_INET6 : AF_INET;
	ck_assert_int_eq(inet_pton(e->family, addr, e->addr), 1);
	e->port = port;
}

static void ep_eq(const struct ferry_endpoint *a, const struct ferry_endpoint *b)
{
	ck_assert_uint_eq(a->family, b->family);
	ck_assert_mem_eq(a->addr, b->addr, a->family == AF_INET ? 4 : 16);
	ck_assert_uint_eq(a->port, b->port);
}

static const struct ferry_endpoint *app_src(void)
{
	static const struct ferry_endpoint src = {
	    .family = AF_INET, .addr = {10, 0, 0, 2}, .port = 40000};
	return &src;
}

static void setup(struct harness *h, struct ferry_egress_config *cfg, bool allow_loopback)
{
	struct ferry_policy *policy = malloc(sizeof(*policy));
	struct ferry_egress_config def;

	ck_assert_ptr_nonnull(policy);
	memset(h, 0, sizeof(*h));
	if (!cfg) {
		ferry_egress_config_default(&def);
		cfg = &def;
	}
	ferry_policy_init(policy);
	if (allow_loopback) {
		ck_assert_int_eq(ferry_policy_add_text(policy, "allow 127.0.0.0/8", NULL), 0);
		ck_assert_int_eq(ferry_policy_add_text(policy, "allow ::1", NULL), 0);
	}
	cfg->policy = policy;
	ck_assert_int_eq(ferry_egress_create(&h->eg, cfg, &test_ops, h), 0);
	free(policy); /* copied at create */
}

static void teardown(struct harness *h)
{
	ferry_egress_destroy(h->eg);
	ck_assert_int_eq(h->n_watch, 0);
	free(h->rx);
}

/* A listening TCP socket on addr; its port in *port. */
static int listener(const char *addr, uint16_t *port)
{
	struct sockaddr_storage ss = {0};
	socklen_t sl = sizeof(ss);
	struct ferry_endpoint e;
	int fd, one = 1;

	ep(&e, addr, 0);
	fd = socket(e.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
	if (e.family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		sin->sin_port = 0; /* any */
		memcpy(&sin->sin_addr, e.addr, 4);
		sl = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = 0;
		memcpy(&sin6->sin6_addr, e.addr, 16);
		sl = sizeof(*sin6);
	}
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&ss, sl), 0);
	ck_assert_int_eq(listen(fd, 8), 0);
	sl = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0 || ss.ss_family != e.family)
		ck_abort_msg("getsockname: %s", strerror(errno));
	if (e.family == AF_INET)
		*port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	else
		*port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return fd;
}

/* Opens TCP flow id to dst and runs the loop until its outcome: 1 connected, or the
 * negative errno (returned at once or reported through tcp_failed). */
static int open_wait(struct harness *h, uint32_t id, const struct ferry_endpoint *dst, int max_ms)
{
	uint64_t start = now_ms();
	int err = ferry_egress_tcp_open(h->eg, id, app_src(), dst, start);

	if (err)
		return err;
	while (!h->connected[id] && !h->failed[id]) {
		ck_assert_msg(now_ms() - start < (uint64_t)max_ms, "no connect outcome");
		pump(h, -1, 0, 20);
	}
	return h->connected[id] ? 1 : h->failed[id];
}

/* Opens flow id to a fresh listener on 127.0.0.1 and returns the accepted socket. */
static int connect_pair(struct harness *h, uint32_t id, int *lfd)
{
	struct ferry_endpoint dst;
	uint16_t port;
	int fd;

	*lfd = listener("127.0.0.1", &port);
	ep(&dst, "127.0.0.1", port);
	ck_assert_int_eq(open_wait(h, id, &dst, 2000), 1);
	fd = accept4(*lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	ck_assert_int_ge(fd, 0);
	return fd;
}

/* Runs the loop until cond holds, at most max_ms. */
#define PUMP_UNTIL(h, cond, max_ms)                                                       \
	do {                                                                              \
		uint64_t until_ = now_ms() + (max_ms);                                    \
		while (!(cond)) {                                                         \
			ck_assert_msg(now_ms() < until_, "timed out waiting for " #cond); \
			pump((h), -1, 0, 10);                                             \
		}                                                                         \
	} while (0)

START_TEST(default_policy_denies_loopback)
{
	struct ferry_endpoint dst, app;
	struct ferry_egress_config cfg;
	struct harness h;
	uint16_t port;
	int lfd;

	lo_up();
	ferry_egress_config_default(&cfg);
	memset(&h, 0, sizeof(h));
	ck_assert_int_eq(ferry_egress_create(&h.eg, &cfg, &test_ops, &h), 0); /* no policy */
	lfd = listener("127.0.0.1", &port);
	ep(&dst, "127.0.0.1", port);
	ck_assert_int_eq(ferry_egress_tcp_open(h.eg, 1, app_src(), &dst, now_ms()), -EACCES);
	ep(&dst, "::1", port);
	ck_assert_int_eq(ferry_egress_tcp_open(h.eg, 1, app_src(), &dst, now_ms()), -EACCES);
	ep(&dst, "169.254.169.254", 80);
	ck_assert_int_eq(ferry_egress_udp_open(h.eg, 1, app_src(), &dst, now_ms()), -EACCES);
	ep(&app, "10.0.0.2", 7);
	ep(&dst, "127.0.0.1", 0);
	ck_assert_int_eq(ferry_egress_ping(h.eg, &app, &dst, 1, NULL, 0, now_ms()), -EACCES);
	ck_assert_int_eq(ferry_egress_get_stats(h.eg)->denied, 4);
	/* Nothing was opened: no watch, and no connection reached the listener. */
	ck_assert_int_eq(h.watch_calls, 0);
	{
		struct pollfd p = {.fd = lfd, .events = POLLIN};

		ck_assert_int_eq(poll(&p, 1, 50), 0);
	}
	close(lfd);
	teardown(&h);
}
END_TEST

START_TEST(connect_mark_and_reset_toward_destination)
{
	struct ferry_egress_config cfg;
	struct harness h;
	uint32_t mark = 0;
	socklen_t sl = sizeof(mark);
	char c;
	int lfd, fd;

	lo_up();
	ferry_egress_config_default(&cfg);
	cfg.mark = 0x77;
	setup(&h, &cfg, true);
	fd = connect_pair(&h, 1, &lfd);
	ck_assert_int_eq(h.n_watch, 1);
	ck_assert_int_eq(getsockopt(h.w[0].fd, SOL_SOCKET, SO_MARK, &mark, &sl), 0);
	ck_assert_uint_eq(mark, 0x77);
	ck_assert_int_eq(ferry_egress_get_stats(h.eg)->tcp_flows, 1);

	ck_assert_int_eq(ferry_egress_tcp_shutdown(h.eg, 9), -ENOENT);
	ck_assert_int_eq(ferry_egress_tcp_reset(h.eg, 1), 0);
	ck_assert_int_eq(ferry_egress_tcp_reset(h.eg, 1), -ENOENT);
	ck_assert_int_eq(h.n_watch, 0);
	{
		struct pollfd p = {.fd = fd, .events = POLLIN};

		ck_assert_int_eq(poll(&p, 1, 1000), 1);
	}
	ck_assert_int_eq(recv(fd, &c, 1, 0), -1);
	ck_assert_int_eq(errno, ECONNRESET);
	ck_assert(!h.closed[1]); /* the caller's own reset has no callback */
	close(fd);
	close(lfd);
	teardown(&h);
}
END_TEST

START_TEST(refused_and_unreachable)
{
	struct ferry_endpoint dst;
	struct harness h;
	uint16_t port;
	int lfd;

	lo_up();
	setup(&h, NULL, true);
	lfd = listener("127.0.0.1", &port);
	close(lfd); /* a port nobody listens on */
	ep(&dst, "127.0.0.1", port);
	ck_assert_int_eq(open_wait(&h, 1, &dst, 2000), -ECONNREFUSED);
	ep(&dst, "::1", port);
	ck_assert_int_eq(open_wait(&h, 2, &dst, 2000), -ECONNREFUSED);
	/* No route at all in this namespace beyond lo. */
	ep(&dst, "10.99.0.1", 80);
	ck_assert_int_eq(open_wait(&h, 3, &dst, 2000), -ENETUNREACH);
	ep(&dst, "2001:db8::1", 80);
	ck_assert_int_eq(open_wait(&h, 4, &dst, 2000), -ENETUNREACH);
	ck_assert_int_eq(ferry_egress_get_stats(h.eg)->tcp_flows, 0);
	ck_assert_int_eq(h.n_watch, 0);
	teardown(&h);
}
END_TEST

/* A TUN with 10.66.0.1/24: packets to 10.66.0.0/24 go to it and nobody else. */
static void tun_up(struct ferry_tun *tun)
{
	uint8_t local[4] = {10, 66, 0, 1};
	struct ferry_nl nl;

	ck_assert_int_eq(ferry_tun_open(tun, "egresst0"), 0);
	ck_assert_int_eq(ferry_nl_open(&nl), 0);
	ck_assert_int_eq(ferry_nl_link_set(&nl, tun->ifindex, 1, 1400), 0);
	ck_assert_int_eq(ferry_nl_addr_add(&nl, tun->ifindex, AF_INET, local, 24), 0);
	ferry_nl_close(&nl);
}

static uint16_t inet_csum(const uint8_t *p, size_t len)
{
	uint32_t sum = 0;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

START_TEST(connect_timeout)
{
	struct ferry_egress_config cfg;
	struct ferry_endpoint dst;
	struct ferry_tun tun;
	struct harness h;
	uint64_t start;

	lo_up();
	/* A SYN routed into a TUN that nobody reads is never answered. */
	tun_up(&tun);

	ferry_egress_config_default(&cfg);
	cfg.connect_timeout_ms = 200;
	setup(&h, &cfg, false);
	ep(&dst, "10.66.0.2", 80);
	start = now_ms();
	ck_assert_int_eq(ferry_egress_tcp_open(h.eg, 1, app_src(), &dst, start), 0);
	ck_assert_uint_eq(ferry_egress_next_deadline(h.eg), start + 200);
	ck_assert_int_eq(ferry_egress_tcp_shutdown(h.eg, 1), -EINVAL); /* still connecting */
	ck_assert_uint_eq(ferry_egress_tcp_send(h.eg, 1, (const uint8_t *)"x", 1), 0);
	PUMP_UNTIL(&h, h.failed[1], 2000);
	ck_assert_int_eq(h.failed[1], -ETIMEDOUT);
	ck_assert_uint_ge(now_ms() - start, 200);
	ck_assert_uint_eq(ferry_egress_next_deadline(h.eg), UINT64_MAX);
	ck_assert_int_eq(h.n_watch, 0);
	ck_assert_int_eq(ferry_egress_get_stats(h.eg)->tcp_failed, 1);
	teardown(&h);
	ferry_tun_close(&tun);
}
END_TEST

static uint8_t pattern(size_t i, unsigned int salt)
{
	return (uint8_t)((i * 131 + salt) ^ (i >> 9));
}

START_TEST(host_unreachable_from_icmp)
{
	uint8_t syn[1500], icmp[20 + 8 + 28];
	struct ferry_endpoint dst;
	struct ferry_tun tun;
	struct harness h;
	ssize_t n = -1;
	uint16_t sum;
	int tries;

	lo_up();
	tun_up(&tun);
	setup(&h, NULL, false);
	ep(&dst, "10.66.0.2", 80);
	ck_assert_int_eq(ferry_egress_tcp_open(h.eg, 1, app_src(), &dst, now_ms()), 0);
	for (tries = 0; tries < 50; tries++) {
		struct pollfd p = {.fd = tun.fd, .events = POLLIN};

		ck_assert_int_ge(poll(&p, 1, 40), 0);
		n = ferry_tun_read(&tun, syn, sizeof(syn));
		if (n >= 40 && syn[0] == 0x45 && syn[9] == IPPROTO_TCP &&
		    memcmp(syn + 16, dst.addr, 4) == 0)
			break;
	}
	ck_assert_msg(tries < 50, "no SYN came out of the TUN");
	/* The router on the way answers: host unreachable, quoting the SYN. */
	memset(icmp, 0, sizeof(icmp));
	icmp[0] = 0x45;
	icmp[3] = sizeof(icmp);
	icmp[8] = 64;
	icmp[9] = IPPROTO_ICMP;
	memcpy(icmp + 12, dst.addr, 4);
	memcpy(icmp + 16, syn + 12, 4);
	sum = inet_csum(icmp, 20);
	icmp[10] = (uint8_t)(sum >> 8);
	icmp[11] = (uint8_t)sum;
	icmp[20] = 3; /* destination unreachable */
	icmp[21] = 1; /* host */
	memcpy(icmp + 28, syn, 28);
	sum = inet_csum(icmp + 20, sizeof(icmp) - 20);
	icmp[22] = (uint8_t)(sum >> 8);
	icmp[23] = (uint8_t)sum;
	ck_assert_int_eq(ferry_tun_write(&tun, icmp, sizeof(icmp)), 0);
	PUMP_UNTIL(&h, h.failed[1], 2000);
	ck_assert_int_eq(h.failed[1], -EHOSTUNREACH);
	ck_assert_int_eq(h.n_watch, 0);
	teardown(&h);
	ferry_tun_close(&tun);
}
END_TEST

START_TEST(host_addresses_denied)
{
	uint8_t a5[4] = {10, 9, 0, 5}, a6[4] = {10, 9, 0, 6};
	struct ferry_policy *policy = malloc(sizeof(*policy));
	struct ferry_egress_config cfg;
	struct ferry_endpoint dst;
	struct ferry_nl nl;
	struct harness h;

	lo_up();
	ck_assert_int_eq(ferry_nl_open(&nl), 0);
	ck_assert_int_eq(ferry_nl_addr_add(&nl, if_nametoindex("lo"), AF_INET, a5, 32), 0);
	ferry_nl_close(&nl);
	ferry_policy_init(policy);
	ck_assert_int_eq(ferry_policy_add_text(policy, "allow 127.0.0.1 port 80", NULL), 0);
	/* 127.0.0.1, ::1 and 10.9.0.5 */
	ck_assert_int_eq(ferry_policy_deny_host_addresses(policy), 3);
	ck_assert_int_eq(ferry_policy_check(policy, FERRY_POLICY_TCP, AF_INET, a5, 80),
			 FERRY_POLICY_DENY);
	ck_assert_int_eq(ferry_policy_check(policy, FERRY_POLICY_TCP, AF_INET, a6, 80),
			 FERRY_POLICY_ALLOW);
	/* The caller's allow still comes first. */
	ck_assert_int_eq(ferry_policy_check(policy, FERRY_POLICY_TCP, AF_INET,
					    (const uint8_t *)"\x7f\0\0\x01", 80),
			 FERRY_POLICY_ALLOW);
	ferry_egress_config_default(&cfg);
	cfg.policy = policy;
	memset(&h, 0, sizeof(h));
	ck_assert_int_eq(ferry_egress_create(&h.eg, &cfg, &test_ops, &h), 0);
	free(policy);
	ep(&dst, "10.9.0.5", 80);
	ck_assert_int_eq(ferry_egress_tcp_open(h.eg, 1, app_src(), &dst, now_ms()), -EACCES);
	ck_assert_int_eq(h.watch_calls, 0);
	teardown(&h);
}
END_TEST

START_TEST(relay_one_megabyte_both_ways)
{
	uint8_t *to_dest = malloc(RELAY_SIZE), *at_dest = malloc(RELAY_SIZE);
	uint8_t *from_dest = malloc(RELAY_SIZE), buf[65536];
	size_t sent = 0, dest_sent = 0, dest_got = 0, i;
	bool shut = false, dest_eof = false, ended = false, stalled = false;
	struct ferry_egress_config cfg;
	int lfd, fd, turns;
	struct harness h;

	ck_assert(to_dest && at_dest && from_dest);
	for (i = 0; i < RELAY_SIZE; i++) {
		to_dest[i] = pattern(i, 1);
		from_dest[i] = pattern(i, 2);
	}
	lo_up();
	ferry_egress_config_default(&cfg);
	cfg.sndbuf = 8192; /* with the destination not reading yet, sends come up short */
	setup(&h, &cfg, true);
	h.rx = malloc(RELAY_SIZE);
	h.rx_cap = RELAY_SIZE;
	h.window = true;
	fd = connect_pair(&h, 1, &lfd);

	for (turns = 0; !(ended && dest_eof && dest_got == RELAY_SIZE); turns++) {
		/* The destination reads only once a send came up short. */
		short ev, want = stalled ? POLLIN : 0;

		ck_assert_msg(turns < 200000, "relay did not finish");
		/* The app's side: offer bytes while egress takes them. */
		while (sent < RELAY_SIZE) {
			size_t n = ferry_egress_tcp_send(
			    h.eg, 1, to_dest + sent,
			    RELAY_SIZE - sent < 16384 ? RELAY_SIZE - sent : 16384);
			sent += n;
			if (n == 0) {
				stalled = true;
				break;
			}
		}
		if (sent == RELAY_SIZE && !shut) {
			int r = ferry_egress_tcp_shutdown(h.eg, 1);

			ck_assert_int_ge(r, 0);
			shut = true;
			ended = ended || r == 1;
		}
		if (dest_sent < RELAY_SIZE)
			want |= POLLOUT;
		ev = pump(&h, dest_eof ? -1 : fd, want, 10);
		if (ev & POLLIN) {
			ssize_t n = recv(fd, buf, sizeof(buf), 0);

			ck_assert_int_ge(n, 0);
			if (n == 0) {
				dest_eof = true;
			} else {
				ck_assert_uint_le(dest_got + (size_t)n, RELAY_SIZE);
				memcpy(at_dest + dest_got, buf, (size_t)n);
				dest_got += (size_t)n;
			}
		}
		if ((ev & POLLOUT) && dest_sent < RELAY_SIZE) {
			size_t chunk =
			    RELAY_SIZE - dest_sent < 65536 ? RELAY_SIZE - dest_sent : 65536;
			ssize_t n = send(fd, from_dest + dest_sent, chunk, MSG_DONTWAIT);

			if (n > 0)
				dest_sent += (size_t)n;
			if (dest_sent == RELAY_SIZE)
				ck_assert_int_eq(shutdown(fd, SHUT_WR), 0);
		}
		if (h.closed[1]) {
			ck_assert_int_eq(h.closed_reason[1], 0);
			ended = true;
		}
	}
	ck_assert(h.eof[1]);
	ck_assert_uint_eq(h.rx_len, RELAY_SIZE);
	ck_assert(memcmp(h.rx, from_dest, RELAY_SIZE) == 0);
	ck_assert(memcmp(at_dest, to_dest, RELAY_SIZE) == 0);
	/* Backpressure was exercised both ways. */
	ck_assert_int_gt(h.short_takes, 0);
	ck_assert_int_gt(h.sendable[1], 0);
	ck_assert_int_eq(ferry_egress_get_stats(h.eg)->tcp_flows, 0);
	ck_assert_int_eq(h.n_watch, 0);
	close(fd);
	close(lfd);
	teardown(&h);
	free(to_dest);
	free(at_dest);
	free(from_dest);
}
END_TEST

START_TEST(half_close_app_first)
{
	struct harness h;
	char buf[16];
	int lfd, fd;

	lo_up();
	setup(&h, NULL, true);
	h.rx = malloc(64);
	h.rx_cap = 64;
	fd = connect_pair(&h, 1, &lfd);
	ck_assert_uint_eq(ferry_egress_tcp_send(h.eg, 1, (const uint8_t *)"bye", 3), 3);
	ck_assert_int_eq(ferry_egress_tcp_shutdown(h.eg, 1), 0);
	ck_assert_int_eq(ferry_egress_tcp_shutdown(h.eg, 1), 0); /* again: no-op */
	ck_assert_uint_eq(ferry_egress_tcp_send(h.eg, 1, (const uint8_t *)"x", 1), 0);
	ck_assert_int_eq(fcntl(fd, F_SETFL, 0), 0);
	ck_assert_int_eq(recv(fd, buf, sizeof(buf), MSG_WAITALL), 3); /* bytes, then FIN */
	ck_assert_mem_eq(buf, "bye", 3);
	/* The destination still talks after our FIN, then closes. */
	ck_assert_int_eq(send(fd, "late", 4, 0), 4);
	PUMP_UNTIL(&h, h.rx_len == 4, 2000);
	ck_assert_mem_eq(h.rx, "late", 4);
	ck_assert(!h.closed[1]);
	close(fd);
	PUMP_UNTIL(&h, h.closed[1], 2000);
	ck_assert(h.eof[1]);
	ck_assert_int_eq(h.closed_reason[1], 0);
	ck_assert_int_eq(h.n_watch, 0);
	close(lfd);
	teardown(&h);
}
END_TEST

START_TEST(half_close_destination_first)
{
	struct harness h;
	char buf[32];
	int lfd, fd;

	lo_up();
	setup(&h, NULL, true);
	h.rx = malloc(64);
	h.rx_cap = 64;
	fd = connect_pair(&h, 1, &lfd);
	ck_assert_int_eq(send(fd, "banner", 6, 0), 6);
	ck_assert_int_eq(shutdown(fd, SHUT_WR), 0);
	PUMP_UNTIL(&h, h.eof[1], 2000);
	ck_assert_uint_eq(h.rx_len, 6);
	ck_assert_mem_eq(h.rx, "banner", 6);
	ck_assert(!h.closed[1]);
	/* Our direction is still open after the destination's FIN. */
	ck_assert_uint_eq(ferry_egress_tcp_send(h.eg, 1, (const uint8_t *)"reply", 5), 5);
	ck_assert_int_eq(ferry_egress_tcp_shutdown(h.eg, 1), 1); /* ended the flow */
	ck_assert_int_eq(h.n_watch, 0);
	ck_assert_int_eq(ferry_egress_get_stats(h.eg)->tcp_flows, 0);
	ck_assert_int_eq(fcntl(fd, F_SETFL, 0), 0);
	ck_assert_int_eq(recv(fd, buf, sizeof(buf), MSG_WAITALL), 5);
	ck_assert_mem_eq(buf, "reply", 5);
	ck_assert(!h.closed[1]);
	close(fd);
	close(lfd);
	teardown(&h);
}
END_TEST

START_TEST(reset_from_destination)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	struct harness h;
	int lfd, fd;

	lo_up();
	setup(&h, NULL, true);
	fd = connect_pair(&h, 1, &lfd);
	ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	close(fd);
	PUMP_UNTIL(&h, h.closed[1], 2000);
	ck_assert_int_eq(h.closed_reason[1], -ECONNRESET);
	ck_assert(!h.eof[1]);
	ck_assert_int_eq(h.n_watch, 0);
	close(lfd);
	teardown(&h);
}
END_TEST

START_TEST(reset_after_destination_fin)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	struct harness h;
	int lfd, fd;

	lo_up();
	setup(&h, NULL, true);
	fd = connect_pair(&h, 1, &lfd);
	ck_assert_int_eq(shutdown(fd, SHUT_WR), 0);
	PUMP_UNTIL(&h, h.eof[1], 2000);
	/* Nothing left to read: the socket is watched for errors only, and still hears an RST. */
	ck_assert_int_eq(h.n_watch, 1);
	ck_assert_uint_eq(h.w[0].events, 0);
	ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	close(fd);
	PUMP_UNTIL(&h, h.closed[1], 2000);
	ck_assert_int_eq(h.closed_reason[1], -ECONNRESET);
	ck_assert_int_eq(h.n_watch, 0);
	close(lfd);
	teardown(&h);
}
END_TEST

START_TEST(reset_from_inside_a_callback)
{
	struct harness h;
	int lfd, fd, i;

	lo_up();
	setup(&h, NULL, true);
	h.rx = malloc(64);
	h.rx_cap = 64;
	fd = connect_pair(&h, 1, &lfd);
	h.reset_in_data = true;
	ck_assert_int_eq(send(fd, "data", 4, 0), 4);
	PUMP_UNTIL(&h, h.data_calls == 1, 2000);
	ck_assert_int_eq(h.n_watch, 0);
	ck_assert_int_eq(ferry_egress_get_stats(h.eg)->tcp_flows, 0);
	for (i = 0; i < 5; i++)
		pump(&h, -1, 0, 5);
	ck_assert(!h.closed[1]);
	ck_assert_int_eq(h.data_calls, 1);
	close(fd);
	close(lfd);
	teardown(&h);
}
END_TEST

static int udp_socket(const char *addr, uint16_t *port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sin);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(inet_pton(AF_INET, addr, &sin.sin_addr), 1);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

START_TEST(udp_full_cone)
{
	struct sockaddr_in peer;
	socklen_t sl = sizeof(peer);
	struct ferry_endpoint dst, other;
	uint16_t port, other_port;
	struct harness h;
	int server, stranger;
	char buf[32];

	lo_up();
	setup(&h, NULL, true);
	server = udp_socket("127.0.0.1", &port);
	stranger = udp_socket("127.0.0.2", &other_port);
	ep(&dst, "127.0.0.1", port);
	ck_assert_int_eq(ferry_egress_udp_open(h.eg, 5, app_src(), &dst, now_ms()), 0);
	ck_assert_int_eq(ferry_egress_udp_open(h.eg, 5, app_src(), &dst, now_ms()), -EEXIST);
	ck_assert_int_eq(
	    ferry_egress_udp_send(h.eg, 5, &dst, (const uint8_t *)"hello", 5, now_ms()), 0);
	ck_assert_int_eq(ferry_egress_udp_send(h.eg, 6, &dst, (const uint8_t *)"x", 1, now_ms()),
			 -ENOENT);
	{
		struct pollfd p = {.fd = server, .events = POLLIN};

		ck_assert_int_eq(poll(&p, 1, 1000), 1);
	}
	ck_assert_int_eq(recvfrom(server, buf, sizeof(buf), 0, (struct sockaddr *)&peer, &sl), 5);
	ck_assert_mem_eq(buf, "hello", 5);
	/* The destination answers, and so does someone else, from another address. */
	ck_assert_int_eq(sendto(server, "echo", 4, 0, (struct sockaddr *)&peer, sl), 4);
	PUMP_UNTIL(&h, h.datagrams == 1, 2000);
	ck_assert_int_eq(sendto(stranger, "other", 5, 0, (struct sockaddr *)&peer, sl), 5);
	PUMP_UNTIL(&h, h.datagrams == 2, 2000);
	ck_assert_str_eq(h.dgram[0], "echo");
	ep_eq(&h.from[0], &dst);
	ck_assert_str_eq(h.dgram[1], "other");
	ep(&other, "127.0.0.2", other_port);
	ep_eq(&h.from[1], &other);
	/* Sending to a denied destination from the flow is refused. */
	ep(&other, "169.254.1.1", 9);
	ck_assert_int_eq(ferry_egress_udp_send(h.eg, 5, &other, (const uint8_t *)"x", 1, now_ms()),
			 -EACCES);
	ep(&other, "::1", 9);
	ck_assert_int_eq(ferry_egress_udp_send(h.eg, 5, &other, (const uint8_t *)"x", 1, now_ms()),
			 -EINVAL);
	ck_assert_int_eq(ferry_egress_udp_close(h.eg, 5), 0);
	ck_assert_int_eq(ferry_egress_udp_close(h.eg, 5), -ENOENT);
	ck_assert_int_eq(h.udp_closed, 0);
	ck_assert_int_eq(h.n_watch, 0);
	close(server);
	close(stranger);
	teardown(&h);
}
END_TEST

START_TEST(udp_idle_timeout)
{
	struct ferry_egress_config cfg;
	struct ferry_endpoint dst;
	struct harness h;
	uint16_t port;
	uint64_t start;
	int server;

	lo_up();
	ferry_egress_config_default(&cfg);
	cfg.udp_idle_timeout_ms = 150;
	setup(&h, &cfg, true);
	server = udp_socket("127.0.0.1", &port);
	ep(&dst, "127.0.0.1", port);
	start = now_ms();
	ck_assert_int_eq(ferry_egress_udp_open(h.eg, 5, app_src(), &dst, start), 0);
	ck_assert_uint_eq(ferry_egress_next_deadline(h.eg), start + 150);
	/* Traffic moves the deadline. */
	ck_assert_int_eq(ferry_egress_udp_send(h.eg, 5, &dst, (const uint8_t *)"a", 1, start + 100),
			 0);
	ck_assert_uint_eq(ferry_egress_next_deadline(h.eg), start + 250);
	ferry_egress_poll(h.eg, start + 249);
	ck_assert_int_eq(h.udp_closed, 0);
	ferry_egress_poll(h.eg, start + 250);
	ck_assert_int_eq(h.udp_closed, 1);
	ck_assert_int_eq(h.n_watch, 0);
	ck_assert_int_eq(ferry_egress_get_stats(h.eg)->udp_idle_closed, 1);
	ck_assert_uint_eq(ferry_egress_next_deadline(h.eg), UINT64_MAX);
	close(server);
	teardown(&h);
}
END_TEST

static void allow_ping(void)
{
	int fd = open("/proc/sys/net/ipv4/ping_group_range", O_WRONLY | O_CLOEXEC);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "0 2147483647", 12), 12);
	close(fd);
}

static void ping_once(struct harness *h, const char *addr, uint16_t seq)
{
	struct ferry_endpoint app, dst;
	int before = h->replies;

	ep(&app, "10.0.0.2", 4242); /* the application's echo id */
	ep(&dst, addr, 0);
	ck_assert_int_eq(
	    ferry_egress_ping(h->eg, &app, &dst, seq, (const uint8_t *)"abcdef", 6, now_ms()), 0);
	PUMP_UNTIL(h, h->replies == before + 1, 2000);
	ep_eq(&h->reply_app, &app);
	ep_eq(&h->reply_from, &dst);
	ck_assert_uint_eq(h->reply_seq, seq);
	ck_assert_uint_eq(h->reply_len, 6);
	ck_assert_mem_eq(h->reply_data, "abcdef", 6);
}

START_TEST(ping_real_echo)
{
	struct harness h;

	lo_up();
	allow_ping();
	setup(&h, NULL, true);
	ping_once(&h, "127.0.0.1", 7);
	ping_once(&h, "127.0.0.1", 8);
	ping_once(&h, "::1", 9);
	ck_assert_int_eq(ferry_egress_get_stats(h.eg)->ping_replies, 3);
	ck_assert_int_eq(h.n_watch, 2); /* one ping socket per family */
	teardown(&h);
}
END_TEST

START_TEST(ping_not_permitted)
{
	struct ferry_endpoint app, dst;
	struct harness h;

	lo_up(); /* a new namespace's ping_group_range is "1 0": nobody */
	setup(&h, NULL, true);
	ep(&app, "10.0.0.2", 1);
	ep(&dst, "127.0.0.1", 0);
	ck_assert_int_eq(ferry_egress_ping(h.eg, &app, &dst, 1, NULL, 0, now_ms()), -EPERM);
	ck_assert_int_eq(h.n_watch, 0);
	teardown(&h);
}
END_TEST

START_TEST(flow_table_limit)
{
	struct ferry_egress_config cfg;
	struct ferry_endpoint dst, udst;
	struct harness h;
	uint16_t port, uport;
	int lfd, server;

	lo_up();
	ferry_egress_config_default(&cfg);
	cfg.max_flows = 2;
	setup(&h, &cfg, true);
	lfd = listener("127.0.0.1", &port);
	server = udp_socket("127.0.0.1", &uport);
	ep(&dst, "127.0.0.1", port);
	ep(&udst, "127.0.0.1", uport);
	ck_assert_int_eq(ferry_egress_tcp_open(h.eg, 1, app_src(), &dst, now_ms()), 0);
	ck_assert_int_eq(ferry_egress_tcp_open(h.eg, 1, app_src(), &dst, now_ms()), -EEXIST);
	ck_assert_int_eq(ferry_egress_udp_open(h.eg, 1, app_src(), &udst, now_ms()), 0);
	ck_assert_int_eq(ferry_egress_tcp_open(h.eg, 2, app_src(), &dst, now_ms()), -ENOSPC);
	ck_assert_int_eq(ferry_egress_udp_open(h.eg, 2, app_src(), &udst, now_ms()), -ENOSPC);
	ck_assert_int_eq(ferry_egress_get_stats(h.eg)->tcp_flows, 1);
	ck_assert_int_eq(ferry_egress_get_stats(h.eg)->udp_flows, 1);
	ck_assert_int_eq(ferry_egress_udp_close(h.eg, 1), 0);
	ck_assert_int_eq(ferry_egress_tcp_open(h.eg, 2, app_src(), &dst, now_ms()), 0);
	PUMP_UNTIL(&h, h.connected[1] && h.connected[2], 2000);
	ck_assert_int_eq(h.n_watch, 2);
	close(server);
	teardown(&h); /* destroy resets the two open flows */
	close(lfd);
}
END_TEST

START_TEST(transparent_source)
{
	uint8_t a5[4] = {10, 9, 0, 5}, a6[4] = {10, 9, 0, 6};
	struct ferry_egress_config cfg;
	struct ferry_endpoint src, dst;
	struct sockaddr_in peer = {.sin_family = AF_UNSPEC};
	socklen_t sl = sizeof(peer);
	struct ferry_nl nl;
	struct harness h;
	uint16_t port;
	int lfd, fd, on = 0;
	socklen_t ol = sizeof(on);

	lo_up();
	ck_assert_int_eq(ferry_nl_open(&nl), 0);
	ck_assert_int_eq(ferry_nl_addr_add(&nl, if_nametoindex("lo"), AF_INET, a5, 32), 0);
	ck_assert_int_eq(ferry_nl_addr_add(&nl, if_nametoindex("lo"), AF_INET, a6, 32), 0);
	ferry_nl_close(&nl);
	ferry_egress_config_default(&cfg);
	cfg.transparent = true;
	setup(&h, &cfg, false);
	lfd = listener("10.9.0.6", &port);
	ep(&src, "10.9.0.5", 40000);
	ep(&dst, "10.9.0.6", port);
	ck_assert_int_eq(ferry_egress_tcp_open(h.eg, 1, &src, &dst, now_ms()), 0);
	ck_assert_int_eq(h.n_watch, 1);
	ck_assert_int_eq(getsockopt(h.w[0].fd, SOL_IP, IP_TRANSPARENT, &on, &ol), 0);
	ck_assert_int_eq(on, 1);
	PUMP_UNTIL(&h, h.connected[1], 2000);
	fd = accept4(lfd, (struct sockaddr *)&peer, &sl, SOCK_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_mem_eq(&peer.sin_addr, a5, 4); /* the application's address, preserved */
	close(fd);
	/* IP_TRANSPARENT is what lets the bind take an address this host does not have. */
	ep(&src, "10.123.0.9", 40000);
	ck_assert_int_eq(ferry_egress_tcp_open(h.eg, 2, &src, &dst, now_ms()), 0);
	ck_assert_int_eq(ferry_egress_tcp_reset(h.eg, 2), 0);
	/* Mixed families cannot be preserved. */
	ep(&src, "2001:db8::5", 1);
	ck_assert_int_eq(ferry_egress_tcp_open(h.eg, 3, &src, &dst, now_ms()), -EAFNOSUPPORT);
	close(lfd);
	teardown(&h);
}
END_TEST

START_TEST(config_checked)
{
	struct ferry_egress_config cfg;
	struct ferry_egress *eg = NULL;
	struct ferry_egress_ops ops = test_ops;

	ferry_egress_config_default(&cfg);
	cfg.max_flows = 0;
	ck_assert_int_eq(ferry_egress_create(&eg, &cfg, &test_ops, NULL), -EINVAL);
	cfg.max_flows = FERRY_EGRESS_FLOWS_MAX + 1;
	ck_assert_int_eq(ferry_egress_create(&eg, &cfg, &test_ops, NULL), -EINVAL);
	ferry_egress_config_default(&cfg);
	cfg.connect_timeout_ms = 0;
	ck_assert_int_eq(ferry_egress_create(&eg, &cfg, &test_ops, NULL), -EINVAL);
	ferry_egress_config_default(&cfg);
	ops.tcp_data = NULL;
	ck_assert_int_eq(ferry_egress_create(&eg, &cfg, &ops, NULL), -EINVAL);
	ck_assert_ptr_null(eg);
	ferry_egress_destroy(NULL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("egress");
	TCase *tc = ferry_tcase("egress", 10);

	if (geteuid() != 0) {
		printf("egress: needs root (network namespaces); skipped\n");
		return SKIP_STATUS;
	}
	tcase_add_test(tc, default_policy_denies_loopback);
	tcase_add_test(tc, connect_mark_and_reset_toward_destination);
	tcase_add_test(tc, refused_and_unreachable);
	tcase_add_test(tc, connect_timeout);
	tcase_add_test(tc, host_unreachable_from_icmp);
	tcase_add_test(tc, host_addresses_denied);
	tcase_add_test(tc, relay_one_megabyte_both_ways);
	tcase_add_test(tc, half_close_app_first);
	tcase_add_test(tc, half_close_destination_first);
	tcase_add_test(tc, reset_from_destination);
	tcase_add_test(tc, reset_after_destination_fin);
	tcase_add_test(tc, reset_from_inside_a_callback);
	tcase_add_test(tc, udp_full_cone);
	tcase_add_test(tc, udp_idle_timeout);
	tcase_add_test(tc, ping_real_echo);
	tcase_add_test(tc, ping_not_permitted);
	tcase_add_test(tc, flow_table_limit);
	tcase_add_test(tc, transparent_source);
	tcase_add_test(tc, config_checked);
	suite_add_tcase(s, tc);
	return ferry_run_suite(s);
}
