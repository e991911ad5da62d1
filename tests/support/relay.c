// SPDX-License-Identifier: MIT
/*
 * The relay harness (see relay.h for the topology and the namespaces): the namespaces,
 * the TUN, and the one epoll loop that drives ferry's stack and egress, joined by the fake
 * transport of relay_transport.c (relay_internal.h is where the two halves meet).
 *
 * One epoll loop drives everything: the TUN (read into ferry_stack_input; the stack's
 * tun_write writes to it), the fds egress asks to watch, the caller's fds (its clients,
 * listeners and servers, handed to its ops->io), and the two modules' timers at their
 * deadlines. Each turn the transport first moves what it holds, then the loop waits for
 * one batch of events (not at all if the transport moved something). Every loop is
 * bounded by a turn limit and a wall-clock budget and fails with what was still pending.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tests/support/fixture.h"
#include "tests/support/netns.h"
#include "tests/support/relay.h"
#include "tests/support/relay_internal.h"
#include "tun/netlink.h"
#include "tun/tun.h"

#define TUN_NAME  "relay0"
#define TUN_MTU	  1500
#define TUN_QLEN  4096
#define DST_NET	  "10.9.0.0"
#define FD_MAX	  FERRY_RELAY_FD_MAX
#define TUN_BATCH 256
#define TURNS_MAX 4000000
#define BUDGET_MS 20000 /* wall clock per loop, times CK_TIMEOUT_MULTIPLIER */

/* Per-namespace TCP buffer limits (min default max): the path's capacity is known. */
#define TCP_RMEM "4096 65536 131072"
#define TCP_WMEM "4096 16384 131072"

/* Who handles an fd's events: the harness (TUN, egress) or the caller (ops->io). */
enum owner {
	O_NONE,
	O_TUN,
	O_EGRESS,
	O_CALLER
};

/* ---- time, namespaces ----------------------------------------------------------------- */

uint64_t ferry_relay_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t budget_ms(void)
{
	const char *m = getenv("CK_TIMEOUT_MULTIPLIER");
	long mult = m ? strtol(m, NULL, 10) : 1;

	return BUDGET_MS * (uint64_t)(mult > 0 ? mult : 1);
}

void ferry_relay_sysctl_set(const char *path, const char *value)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	size_t len = strlen(value);

	ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
	ck_assert_msg(write(fd, value, len) == (ssize_t)len, "write %s: %s", path, strerror(errno));
	close(fd);
}

/* A fresh network namespace with lo up and bounded TCP buffers; nl open in it. */
static void netns_enter(struct ferry_nl *nl)
{
	ferry_test_netns_enter();
	ck_assert_int_eq(ferry_nl_open(nl), 0);
	ferry_relay_sysctl_set("/proc/sys/net/ipv4/tcp_rmem", TCP_RMEM);
	ferry_relay_sysctl_set("/proc/sys/net/ipv4/tcp_wmem", TCP_WMEM);
}

/* ---- the loop's fds ----------------------------------------------------------------- */

static uint32_t epoll_events_of(uint32_t egress_events)
{
	return (egress_events & FERRY_EGRESS_READ ? EPOLLIN : 0) |
	       (egress_events & FERRY_EGRESS_WRITE ? EPOLLOUT : 0);
}

static void fd_watch(struct ferry_relay *r, int fd, enum owner owner, uint32_t kind, uint32_t index,
		     uint32_t events)
{
	struct ferry_relay_slot *s;
	struct epoll_event ev = {.events = events};
	int op = EPOLL_CTL_MOD;

	ck_assert_msg(fd >= 0 && fd < FD_MAX, "fd %d beyond the loop's table", fd);
	s = &r->slots[fd];
	if (!s->used) {
		op = EPOLL_CTL_ADD;
		s->used = true;
	}
	s->owner = (uint8_t)owner;
	s->kind = kind;
	s->index = index;
	ev.data.u64 = (uint64_t)s->gen << 32 | (uint32_t)fd;
	ck_assert_msg(epoll_ctl(r->ep, op, fd, &ev) == 0,
		      "epoll_ctl(%d) of fd %d (owner %d, kind %u): %s", op, fd, owner, kind,
		      strerror(errno));
}

void ferry_relay_watch(struct ferry_relay *r, int fd, uint32_t kind, uint32_t index,
		       uint32_t events)
{
	fd_watch(r, fd, O_CALLER, kind, index, events);
}

void ferry_relay_egress_watch(struct ferry_relay *r, int fd, uint32_t events, uint64_t cookie)
{
	fd_watch(r, fd, O_EGRESS, 0, 0, epoll_events_of(events));
	r->slots[fd].cookie = cookie;
}

void ferry_relay_unwatch(struct ferry_relay *r, int fd)
{
	ck_assert_msg(fd >= 0 && fd < FD_MAX && r->slots[fd].used, "unwatch of fd %d", fd);
	ck_assert_int_eq(epoll_ctl(r->ep, EPOLL_CTL_DEL, fd, NULL), 0);
	r->slots[fd].used = false;
	r->slots[fd].gen++;
}

void ferry_relay_close(struct ferry_relay *r, int *fd)
{
	if (*fd < 0)
		return;
	if (r->slots[*fd].used)
		ferry_relay_unwatch(r, *fd);
	close(*fd);
	*fd = -1;
}

/* ---- the loop ------------------------------------------------------------------------- */

static void tun_drain(struct ferry_relay *r)
{
	int k;

	for (k = 0; k < TUN_BATCH; k++) {
		ssize_t n = ferry_tun_read(&r->tun, r->pkt, sizeof(r->pkt));

		if (n == -EAGAIN)
			return;
		ck_assert_msg(n > 0, "TUN read: %s", strerror((int)-n));
		(void)ferry_stack_input(r->stack, r->pkt, (size_t)n); /* drops are counted */
	}
}

static void dispatch(struct ferry_relay *r, const struct epoll_event *ev)
{
	int fd = (int)(uint32_t)ev->data.u64;
	struct ferry_relay_slot *s = &r->slots[fd];
	uint32_t e = ev->events, mask = 0;

	if (!s->used || s->gen != (uint32_t)(ev->data.u64 >> 32))
		return; /* closed (and maybe reused) earlier in this batch */
	switch (s->owner) {
	case O_TUN:
		tun_drain(r);
		break;
	case O_EGRESS:
		mask = (e & EPOLLIN ? FERRY_EGRESS_READ : 0) |
		       (e & EPOLLOUT ? FERRY_EGRESS_WRITE : 0) |
		       (e & (EPOLLERR | EPOLLHUP) ? FERRY_EGRESS_ERROR : 0);
		ferry_egress_io(r->egress, s->cookie, mask, r->now);
		break;
	case O_CALLER:
		r->ops->io(r->ctx, fd, s->kind, s->index, e);
		break;
	default:
		ck_abort_msg("event for fd %d of no owner", fd);
	}
}

static int wait_ms(struct ferry_relay *r, bool busy)
{
	uint64_t next = ferry_stack_next_deadline(r->stack, r->now);
	uint64_t eg = ferry_egress_next_deadline(r->egress, r->now);

	if (busy)
		return 0;
	if (eg < next)
		next = eg;
	if (r->bridged && ferry_relay_bridged_deadline(r) < next)
		next = ferry_relay_bridged_deadline(r);
	if (next <= r->now)
		return 0;
	return next - r->now > 50 ? 50 : (int)(next - r->now);
}

/* One turn: the transport moves what it holds, then one epoll batch, then timers. */
static void relay_turn(struct ferry_relay *r)
{
	struct epoll_event evs[64];
	bool busy;
	int n, k;

	r->now = ferry_relay_clock_ms();
	busy = r->bridged ? ferry_relay_bridged_turn(r) : ferry_relay_transport_turn(r);
	r->ops->turn(r->ctx);
	if (r->bridged)
		ferry_relay_bridged_flush(r);
	n = epoll_wait(r->ep, evs, 64, wait_ms(r, busy));
	ck_assert_msg(n >= 0 || errno == EINTR, "epoll_wait: %s", strerror(errno));
	r->now = ferry_relay_clock_ms();
	ferry_stack_timer(r->stack, r->now); /* input uses the stack's last clock */
	for (k = 0; k < n; k++)
		dispatch(r, &evs[k]);
	ferry_egress_timer(r->egress, r->now);
	if (r->bridged)
		ferry_relay_bridged_flush(r);
}

static void report_pending(struct ferry_relay *r, const char *what, unsigned turns)
{
	char msg[1024];
	int off;

	off = snprintf(msg, sizeof(msg),
		       "%s: not done after %u turns: relay flows %u, stack flows %u, "
		       "egress flows %u; ",
		       what, turns, r->count.live_flows, ferry_stack_get_stats(r->stack)->tcp_flows,
		       ferry_egress_get_stats(r->egress)->tcp_flows);
	if (off > 0 && (size_t)off < sizeof(msg))
		r->ops->describe(r->ctx, msg + off, sizeof(msg) - (size_t)off);
	ck_abort_msg("%s", msg);
}

void ferry_relay_run(struct ferry_relay *r, bool (*done)(const void *ctx), const char *what)
{
	uint64_t deadline = ferry_relay_clock_ms() + r->budget_ms;
	unsigned turns;

	for (turns = 0; !done(r->ctx); turns++) {
		if (turns >= TURNS_MAX || ferry_relay_clock_ms() > deadline)
			report_pending(r, what, turns);
		relay_turn(r);
	}
}

/* ---- set-up and tear-down ------------------------------------------------------------- */

/* The TUN's transmit queue (packets toward ferry). Its default of 500 overflows when 100
 * connections start at once, and the kernel drops silently: the test would then wait for
 * the applications' retransmission timeouts (1 s and more) instead of testing the relay. */
static void tun_queue_len(int qlen)
{
	struct ifreq ifr = {.ifr_qlen = qlen};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", TUN_NAME);
	ck_assert_msg(ioctl(fd, SIOCSIFTXQLEN, &ifr) == 0, "SIOCSIFTXQLEN: %s", strerror(errno));
	close(fd);
}

/* Namespace A: the TUN with the client's address and the route to the destinations. */
void ferry_relay_enter_a(struct ferry_relay *r)
{
	struct ferry_nl nl;
	uint8_t local[4], net[4];

	netns_enter(&nl);
	ck_assert_int_eq(ferry_tun_open(&r->tun, TUN_NAME), 0);
	ck_assert_int_eq(ferry_nl_link_set(&nl, r->tun.ifindex, 1, TUN_MTU), 0);
	ck_assert_int_eq(inet_pton(AF_INET, FERRY_RELAY_CLIENT_ADDR, local), 1);
	ck_assert_int_eq(inet_pton(AF_INET, DST_NET, net), 1);
	ck_assert_int_eq(ferry_nl_addr_add(&nl, r->tun.ifindex, AF_INET, local, 24), 0);
	ck_assert_int_eq(ferry_nl_route_add(&nl, r->tun.ifindex, AF_INET, net, 24, 0), 0);
	ferry_nl_close(&nl);
	tun_queue_len(TUN_QLEN);
}

/* Namespace B: the destination addresses on lo. */
void ferry_relay_enter_b(void)
{
	struct ferry_nl nl;
	uint8_t a1[4], a2[4];

	netns_enter(&nl);
	ck_assert_int_eq(inet_pton(AF_INET, FERRY_RELAY_DST_ADDR_1, a1), 1);
	ck_assert_int_eq(inet_pton(AF_INET, FERRY_RELAY_DST_ADDR_2, a2), 1);
	ck_assert_int_eq(ferry_nl_addr_add(&nl, if_nametoindex("lo"), AF_INET, a1, 32), 0);
	ck_assert_int_eq(ferry_nl_addr_add(&nl, if_nametoindex("lo"), AF_INET, a2, 32), 0);
	ferry_nl_close(&nl);
}

bool ferry_relay_available(void)
{
	return geteuid() == 0 && access("/dev/net/tun", R_OK | W_OK) == 0;
}

struct ferry_relay *ferry_relay_new(const struct ferry_relay_ops *ops, void *ctx)
{
	struct ferry_relay *r = calloc(1, sizeof(*r));

	ck_assert_ptr_nonnull(r);
	r->ops = ops;
	r->ctx = ctx;
	r->ep = epoll_create1(EPOLL_CLOEXEC);
	ck_assert_int_ge(r->ep, 0);
	r->tun.fd = -1;
	r->budget_ms = budget_ms();
	return r;
}

void ferry_relay_start(struct ferry_relay *r)
{
	struct ferry_stack_config scfg;
	struct ferry_egress_config ecfg;

	r->now = ferry_relay_clock_ms();
	ferry_stack_config_default(&scfg);
	scfg.mtu = TUN_MTU;
	ck_assert_int_eq(ferry_stack_create(&r->stack, &scfg, &ferry_relay_stack_ops, r, r->now),
			 0);
	ferry_egress_config_default(&ecfg);
	ecfg.sndbuf = 32 << 10; /* bounded toward the destination, as the path's capacity */
	ck_assert_int_eq(ferry_egress_create(&r->egress, &ecfg, &ferry_relay_egress_ops, r), 0);
	fd_watch(r, r->tun.fd, O_TUN, 0, 0, EPOLLIN);
}

void ferry_relay_start_bridged(struct ferry_relay *r, const struct ferry_relay_wan *wan)
{
	struct ferry_stack_config scfg;
	struct ferry_egress_config ecfg;

	r->now = ferry_relay_clock_ms();
	ferry_stack_config_default(&scfg);
	scfg.mtu = TUN_MTU;
	ferry_egress_config_default(&ecfg);
	ecfg.sndbuf = 32 << 10;
	ferry_relay_bridged_create(r, wan, &scfg, &ecfg);
	fd_watch(r, r->tun.fd, O_TUN, 0, 0, EPOLLIN);
}

bool ferry_relay_bridged(const struct ferry_relay *r)
{
	return r->bridged != NULL;
}

void ferry_relay_free(struct ferry_relay *r)
{
	if (r->bridged)
		ferry_relay_bridged_free(r);
	ferry_stack_destroy(r->stack); /* before egress: its callbacks may reach egress */
	ferry_egress_destroy(r->egress);
	if (r->tun.fd >= 0 && r->slots[r->tun.fd].used)
		ferry_relay_unwatch(r, r->tun.fd);
	ferry_tun_close(&r->tun);
	close(r->ep);
	free(r);
}

const struct ferry_relay_counters *ferry_relay_counters(const struct ferry_relay *r)
{
	return &r->count;
}

const struct ferry_stack_stats *ferry_relay_stack_stats(const struct ferry_relay *r)
{
	return ferry_stack_get_stats(r->stack);
}

const struct ferry_egress_stats *ferry_relay_egress_stats(const struct ferry_relay *r)
{
	return ferry_egress_get_stats(r->egress);
}
