// SPDX-License-Identifier: MIT
/*
 * The egress harness of tests/support/egressrig.h: the fake transport's callbacks, the
 * poll() loop that stands in for the daemon's, and the sockets a test plays destination
 * with. Every helper asserts (Check) instead of returning an error.
 */
#include "tests/support/egressrig.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "stack/policy.h"

uint64_t ferry_egressrig_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int h_watch(void *ctx, int fd, uint32_t events, uint64_t cookie)
{
	struct ferry_egressrig *h = ctx;
	int i;

	h->watch_calls++;
	for (i = 0; i < h->n_watch; i++)
		if (h->w[i].fd == fd)
			break;
	if (i == h->n_watch) {
		ck_assert_int_lt(h->n_watch, FERRY_EGRESSRIG_WATCH_MAX);
		h->n_watch++;
	}
	h->w[i] = (struct ferry_egressrig_watch){fd, events, cookie};
	return 0;
}

static void h_unwatch(void *ctx, int fd)
{
	struct ferry_egressrig *h = ctx;
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
	((struct ferry_egressrig *)ctx)->connected[id]++;
}

static void h_tcp_failed(void *ctx, uint32_t id, int err)
{
	struct ferry_egressrig *h = ctx;

	ck_assert_int_lt(err, 0);
	h->failed[id] = err;
}

static size_t h_tcp_data(void *ctx, uint32_t id, const uint8_t *data, size_t len)
{
	struct ferry_egressrig *h = ctx;
	size_t take = len;

	h->data_calls++;
	if (h->reset_in_data) {
		ck_assert_int_eq(ferry_egress_tcp_reset(h->eg, id), 0);
		return 0;
	}

	if (h->window && take > FERRY_EGRESSRIG_WINDOW - h->window_used)
		take = FERRY_EGRESSRIG_WINDOW - h->window_used;
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
	((struct ferry_egressrig *)ctx)->eof[id] = true;
}

static void h_tcp_sendable(void *ctx, uint32_t id, size_t space)
{
	(void)space;
	((struct ferry_egressrig *)ctx)->sendable[id]++;
}

static void h_tcp_closed(void *ctx, uint32_t id, int reason)
{
	struct ferry_egressrig *h = ctx;

	h->closed[id] = true;
	h->closed_reason[id] = reason;
}

static void h_udp_datagram(void *ctx, uint32_t id, const struct ferry_endpoint *from,
			   const uint8_t *data, size_t len)
{
	struct ferry_egressrig *h = ctx;

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
	((struct ferry_egressrig *)ctx)->udp_closed++;
}

static void h_icmp_reply(void *ctx, const struct ferry_endpoint *app,
			 const struct ferry_endpoint *from, uint16_t seq, const uint8_t *data,
			 size_t len, uint32_t rtt_ms)
{
	struct ferry_egressrig *h = ctx;

	ck_assert_uint_lt(rtt_ms, 1000);
	ck_assert_uint_le(len, sizeof(h->reply_data));
	h->replies++;
	h->reply_app = *app;
	h->reply_from = *from;
	h->reply_seq = seq;
	memcpy(h->reply_data, data, len);
	h->reply_len = len;
}

const struct ferry_egress_ops ferry_egressrig_ops = {
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
short ferry_egressrig_pump(struct ferry_egressrig *h, int extra, short extra_events, int ms)
{
	struct pollfd pfd[FERRY_EGRESSRIG_WATCH_MAX + 1];
	uint64_t cookies[FERRY_EGRESSRIG_WATCH_MAX];
	uint64_t deadline = ferry_egress_next_deadline(h->eg, 0), now = ferry_egressrig_now_ms();
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
	now = ferry_egressrig_now_ms();
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
	ferry_egress_timer(h->eg, ferry_egressrig_now_ms());
	h->window_used = 0;
	if (h->paused) {
		h->paused = false;
		ferry_egress_tcp_writable(h->eg, h->paused_id);
	}
	return extra_revents;
}

void ferry_egressrig_ep(struct ferry_endpoint *e, const char *addr, uint16_t port)
{
	memset(e, 0, sizeof(*e));
	e->family = strchr(addr, ':') ? AF_INET6 : AF_INET;
	ck_assert_int_eq(inet_pton(e->family, addr, e->addr), 1);
	e->port = port;
}

void ferry_egressrig_ep_eq(const struct ferry_endpoint *a, const struct ferry_endpoint *b)
{
	ck_assert_uint_eq(a->family, b->family);
	ck_assert_mem_eq(a->addr, b->addr, a->family == AF_INET ? 4 : 16);
	ck_assert_uint_eq(a->port, b->port);
}

const struct ferry_endpoint *ferry_egressrig_app_src(void)
{
	static const struct ferry_endpoint src = {
	    .family = AF_INET, .addr = {10, 0, 0, 2}, .port = 40000};
	return &src;
}

void ferry_egressrig_setup(struct ferry_egressrig *h, struct ferry_egress_config *cfg,
			   bool allow_loopback)
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
	ck_assert_int_eq(ferry_egress_create(&h->eg, cfg, &ferry_egressrig_ops, h), 0);
	free(policy); /* copied at create */
}

void ferry_egressrig_teardown(struct ferry_egressrig *h)
{
	ferry_egress_destroy(h->eg);
	ck_assert_int_eq(h->n_watch, 0);
	free(h->rx);
}

/* A listening TCP socket on addr; its port in *port. */
int ferry_egressrig_listener(const char *addr, uint16_t *port)
{
	struct sockaddr_storage ss = {0};
	socklen_t sl = sizeof(ss);
	struct ferry_endpoint e;
	int fd, one = 1;

	ferry_egressrig_ep(&e, addr, 0);
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
int ferry_egressrig_open_wait(struct ferry_egressrig *h, uint32_t id,
			      const struct ferry_endpoint *dst, int max_ms)
{
	uint64_t start = ferry_egressrig_now_ms();
	int err = ferry_egress_tcp_open(h->eg, id, ferry_egressrig_app_src(), dst, start);

	if (err)
		return err;
	while (!h->connected[id] && !h->failed[id]) {
		ck_assert_msg(ferry_egressrig_now_ms() - start < (uint64_t)max_ms,
			      "no connect outcome");
		ferry_egressrig_pump(h, -1, 0, 20);
	}
	return h->connected[id] ? 1 : h->failed[id];
}

/* Opens flow id to a fresh listener on 127.0.0.1 and returns the accepted socket. */
int ferry_egressrig_connect_pair(struct ferry_egressrig *h, uint32_t id, int *lfd)
{
	struct ferry_endpoint dst;
	uint16_t port;
	int fd;

	*lfd = ferry_egressrig_listener("127.0.0.1", &port);
	ferry_egressrig_ep(&dst, "127.0.0.1", port);
	ck_assert_int_eq(ferry_egressrig_open_wait(h, id, &dst, 2000), 1);
	fd = accept4(*lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	ck_assert_int_ge(fd, 0);
	return fd;
}

int ferry_egressrig_udp_socket(const char *addr, uint16_t *port)
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
