// SPDX-License-Identifier: MIT
/*
 * The relay harness (see relay.h for the topology and the namespaces): ferry's stack and
 * egress joined by a fake transport, driven by one epoll loop.
 *
 * The fake transport stands in for ARQ and link: one relay flow per connection, an id
 * per flow (the egress id), and a ring of WINDOW bytes per direction -- the bytes "in
 * flight". It takes from one side only what fits its ring (a short return), forwards
 * from its rings on the next turn, and hands over only what the other side accepts, so
 * backpressure engages on both APIs: ferry_stack_tcp_writable / ferry_egress_tcp_writable
 * after a short take, ops->tcp_sendable after a short send. Connect outcome, FINs and
 * resets cross it too, one turn later, as they would cross a network. UDP datagrams and
 * ICMP echoes cross at once.
 *
 * One epoll loop drives everything: the TUN (read into ferry_stack_input; ops->tun_write
 * writes to it), the fds egress asks to watch, the caller's fds (its clients, listeners
 * and servers, handed to its ops->io), and the two modules' timers at their deadlines.
 * Every loop is bounded by a turn limit and a wall-clock budget and fails with what was
 * still pending.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tests/support/fixture.h"
#include "tests/support/relay.h"
#include "tun/netlink.h"
#include "tun/tun.h"

#define TUN_NAME  "relay0"
#define TUN_MTU	  1500
#define TUN_QLEN  4096
#define DST_NET	  "10.9.0.0"
#define WINDOW	  ((size_t)16 << 10) /* bytes in flight per direction per relay flow */
#define FLOWS	  128
#define FD_MAX	  FERRY_RELAY_FD_MAX
#define CONNS	  FERRY_RELAY_CONNS_MAX
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

/* One fd the loop polls. Its generation goes into epoll's data, so an event of an fd
 * that was closed (and its number reused) in the same batch is recognised as stale. */
struct slot {
	bool used;
	uint8_t owner;
	uint32_t gen;
	uint32_t kind, index; /* the caller's */
	uint64_t cookie;      /* egress's */
};

struct ring {
	uint8_t buf[WINDOW];
	size_t head, len;
};

/* One flow of the fake transport. Callbacks only record; transport_turn acts. */
struct rflow {
	bool used, udp;
	uint32_t id;
	int conn; /* ops->conn_of of the application's socket, -1 if none */
	struct ferry_flow *sflow;
	bool stack_alive, egress_alive, egress_open;
	bool open_pending, connected_pending;
	int failed_pending;
	bool reset_to_egress, reset_to_stack;
	struct ferry_endpoint src, dst;
	/* up: application to destination; down: back. stalled: a short take from the
	 * sender's side, whose writable call is owed; blocked: a short send to the receiver's
	 * side, waiting for its tcp_sendable; eof: the sender's FIN, to pass on after the ring */
	struct ring up, down;
	bool up_stalled, up_blocked, up_eof, up_eof_sent;
	bool down_stalled, down_blocked, down_eof, down_eof_sent;
};

struct ferry_relay {
	const struct ferry_relay_ops *ops;
	void *ctx;
	struct ferry_stack *stack;
	struct ferry_egress *egress;
	struct ferry_tun tun;
	int ep;
	uint64_t now, budget_ms;
	struct slot slots[FD_MAX];
	struct rflow flows[FLOWS];
	struct ferry_relay_path paths[CONNS + 1]; /* [CONNS]: flows of no known connection */
	struct ferry_relay_counters count;
	uint8_t pkt[65536];
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

/* A fresh network namespace with lo up and bounded TCP buffers. */
static void netns_enter(struct ferry_nl *nl)
{
	ck_assert_msg(unshare(CLONE_NEWNET) == 0, "unshare(CLONE_NEWNET): %s", strerror(errno));
	ck_assert_int_eq(ferry_nl_open(nl), 0);
	ck_assert_int_eq(ferry_nl_link_set(nl, if_nametoindex("lo"), 1, 0), 0);
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
	struct slot *s;
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

static void fd_unwatch(struct ferry_relay *r, int fd)
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
		fd_unwatch(r, *fd);
	close(*fd);
	*fd = -1;
}

/* ---- the fake transport: rings -------------------------------------------------------- */

static size_t ring_put(struct ring *g, const uint8_t *data, size_t len)
{
	size_t n = WINDOW - g->len < len ? WINDOW - g->len : len, done = 0;

	while (done < n) {
		size_t tail = (g->head + g->len) % WINDOW;
		size_t chunk = WINDOW - tail < n - done ? WINDOW - tail : n - done;

		memcpy(g->buf + tail, data + done, chunk);
		g->len += chunk;
		done += chunk;
	}
	return n;
}

/* The contiguous bytes at the ring's head. */
static size_t ring_peek(const struct ring *g, const uint8_t **p)
{
	*p = g->buf + g->head;
	return WINDOW - g->head < g->len ? WINDOW - g->head : g->len;
}

static void ring_drop(struct ring *g, size_t n)
{
	g->head = (g->head + n) % WINDOW;
	g->len -= n;
}

static struct ferry_relay_path *path_of(struct ferry_relay *r, const struct rflow *f)
{
	return &r->paths[f->conn >= 0 ? f->conn : CONNS];
}

static struct rflow *flow_new(struct ferry_relay *r, struct ferry_flow *sflow, bool udp,
			      const struct ferry_endpoint *src, const struct ferry_endpoint *dst)
{
	struct rflow *f = NULL;
	int i;

	for (i = 0; i < FLOWS && !f; i++)
		if (!r->flows[i].used)
			f = &r->flows[i];
	ck_assert_msg(f != NULL, "fake transport: more than %d flows", FLOWS);
	memset(f, 0, sizeof(*f));
	f->used = true;
	f->udp = udp;
	f->id = (uint32_t)(f - r->flows);
	f->sflow = sflow;
	f->stack_alive = true;
	f->src = *src;
	f->dst = *dst;
	f->conn = r->ops->conn_of(r->ctx, src);
	ck_assert_msg(f->conn >= -1 && f->conn < CONNS, "conn_of: connection %d", f->conn);
	ferry_stack_flow_set_user(sflow, f);
	r->count.live_flows++;
	r->count.opened++;
	return f;
}

static struct rflow *flow_by_id(struct ferry_relay *r, uint32_t id)
{
	ck_assert_msg(id < FLOWS && r->flows[id].used, "egress reported unknown id %u", id);
	return &r->flows[id];
}

static void stack_side_ended(struct ferry_relay *r, struct rflow *f, int reason)
{
	struct ferry_relay_path *p = path_of(r, f);

	f->stack_alive = false;
	f->sflow = NULL;
	p->stack_ended = true;
	p->stack_reason = reason;
}

static void egress_side_ended(struct ferry_relay *r, struct rflow *f, int reason)
{
	struct ferry_relay_path *p = path_of(r, f);

	f->egress_alive = false;
	f->egress_open = false;
	p->egress_ended = true;
	p->egress_reason = reason;
}

/* ---- stack ops ------------------------------------------------------------------------ */

static void st_tun_write(void *ctx, const uint8_t *pkt, size_t len)
{
	struct ferry_relay *r = ctx;

	if (ferry_tun_write(&r->tun, pkt, len) != 0)
		r->count.tun_write_errors++;
}

static int st_tcp_open(void *ctx, struct ferry_flow *flow, const struct ferry_endpoint *src,
		       const struct ferry_endpoint *dst)
{
	struct rflow *f = flow_new(ctx, flow, false, src, dst);

	f->open_pending = true; /* the open crosses the transport on the next turn */
	return 0;
}

static size_t st_tcp_data(void *ctx, struct ferry_flow *flow, const uint8_t *data, size_t len)
{
	struct rflow *f = ferry_stack_flow_user(flow);
	struct ferry_relay_path *p = path_of(ctx, f);
	size_t n = ring_put(&f->up, data, len);

	if (n < len) {
		f->up_stalled = true;
		p->stack_short_takes++;
	}
	return n;
}

static void st_tcp_eof(void *ctx, struct ferry_flow *flow)
{
	struct rflow *f = ferry_stack_flow_user(flow);

	(void)ctx;
	f->up_eof = true;
}

static void st_tcp_sendable(void *ctx, struct ferry_flow *flow, size_t space)
{
	struct rflow *f = ferry_stack_flow_user(flow);

	(void)space;
	f->down_blocked = false;
	path_of(ctx, f)->stack_sendables++;
}

static void st_tcp_closed(void *ctx, struct ferry_flow *flow, int reason)
{
	struct rflow *f = ferry_stack_flow_user(flow);

	stack_side_ended(ctx, f, reason);
	if (reason != 0 && f->egress_alive)
		f->reset_to_egress = true;
}

static int st_udp_open(void *ctx, struct ferry_flow *flow, const struct ferry_endpoint *src,
		       const struct ferry_endpoint *dst)
{
	struct ferry_relay *r = ctx;
	struct rflow *f = flow_new(r, flow, true, src, dst);
	int err = ferry_egress_udp_open(r->egress, f->id, src, dst, r->now);

	if (err) {
		f->used = false;
		r->count.live_flows--;
		return err;
	}
	f->egress_alive = true;
	return 0;
}

static void st_udp_datagram(void *ctx, struct ferry_flow *flow, const uint8_t *data, size_t len)
{
	struct ferry_relay *r = ctx;
	struct rflow *f = ferry_stack_flow_user(flow);

	ck_assert_msg(f->egress_alive, "UDP flow %u: egress ended it (idle) before the stack",
		      f->id);
	ck_assert_int_eq(
	    ferry_egress_udp_send(r->egress, f->id, ferry_stack_flow_dst(flow), data, len, r->now),
	    0);
}

static void st_udp_closed(void *ctx, struct ferry_flow *flow)
{
	struct ferry_relay *r = ctx;
	struct rflow *f = ferry_stack_flow_user(flow);

	if (f->egress_alive)
		ck_assert_int_eq(ferry_egress_udp_close(r->egress, f->id), 0);
	f->used = false;
	r->count.live_flows--;
}

static void st_icmp_echo(void *ctx, const struct ferry_endpoint *src,
			 const struct ferry_endpoint *dst, uint16_t seq, const uint8_t *data,
			 size_t len)
{
	struct ferry_relay *r = ctx;

	ck_assert_int_eq(ferry_egress_ping(r->egress, src, dst, seq, data, len, r->now), 0);
	r->count.pings_forwarded++;
}

static const struct ferry_stack_ops stack_ops = {
    .tun_write = st_tun_write,
    .tcp_open = st_tcp_open,
    .tcp_data = st_tcp_data,
    .tcp_eof = st_tcp_eof,
    .tcp_sendable = st_tcp_sendable,
    .tcp_closed = st_tcp_closed,
    .udp_open = st_udp_open,
    .udp_datagram = st_udp_datagram,
    .udp_closed = st_udp_closed,
    .icmp_echo = st_icmp_echo,
};

/* ---- egress ops ----------------------------------------------------------------------- */

static int eg_watch(void *ctx, int fd, uint32_t events, uint64_t cookie)
{
	struct ferry_relay *r = ctx;

	fd_watch(r, fd, O_EGRESS, 0, 0, epoll_events_of(events));
	r->slots[fd].cookie = cookie;
	return 0;
}

static void eg_unwatch(void *ctx, int fd)
{
	fd_unwatch(ctx, fd);
}

static void eg_tcp_connected(void *ctx, uint32_t id)
{
	struct rflow *f = flow_by_id(ctx, id);

	f->egress_open = true;
	f->connected_pending = true;
}

static void eg_tcp_failed(void *ctx, uint32_t id, int err)
{
	struct rflow *f = flow_by_id(ctx, id);

	ck_assert_int_lt(err, 0);
	egress_side_ended(ctx, f, err);
	f->failed_pending = err;
}

static size_t eg_tcp_data(void *ctx, uint32_t id, const uint8_t *data, size_t len)
{
	struct rflow *f = flow_by_id(ctx, id);
	struct ferry_relay_path *p = path_of(ctx, f);
	size_t n = ring_put(&f->down, data, len);

	if (n < len) {
		f->down_stalled = true;
		p->egress_short_takes++;
	}
	return n;
}

static void eg_tcp_eof(void *ctx, uint32_t id)
{
	flow_by_id(ctx, id)->down_eof = true;
}

static void eg_tcp_sendable(void *ctx, uint32_t id, size_t space)
{
	struct rflow *f = flow_by_id(ctx, id);

	(void)space;
	f->up_blocked = false;
	path_of(ctx, f)->egress_sendables++;
}

static void eg_tcp_closed(void *ctx, uint32_t id, int reason)
{
	struct rflow *f = flow_by_id(ctx, id);

	egress_side_ended(ctx, f, reason);
	if (reason != 0 && f->stack_alive)
		f->reset_to_stack = true;
}

static void eg_udp_datagram(void *ctx, uint32_t id, const struct ferry_endpoint *from,
			    const uint8_t *data, size_t len)
{
	struct rflow *f = flow_by_id(ctx, id);

	if (f->stack_alive)
		ck_assert_int_eq(ferry_stack_udp_send(f->sflow, from, data, len), 0);
}

static void eg_udp_closed(void *ctx, uint32_t id)
{
	egress_side_ended(ctx, flow_by_id(ctx, id), 0);
}

static void eg_icmp_reply(void *ctx, const struct ferry_endpoint *app,
			  const struct ferry_endpoint *from, uint16_t seq, const uint8_t *data,
			  size_t len, uint32_t rtt_ms)
{
	struct ferry_relay *r = ctx;

	(void)rtt_ms;
	ck_assert_int_eq(ferry_stack_icmp_echo_reply(r->stack, app, from, seq, data, len), 0);
	r->count.ping_replies_relayed++;
}

static const struct ferry_egress_ops egress_ops = {
    .watch = eg_watch,
    .unwatch = eg_unwatch,
    .tcp_connected = eg_tcp_connected,
    .tcp_failed = eg_tcp_failed,
    .tcp_data = eg_tcp_data,
    .tcp_eof = eg_tcp_eof,
    .tcp_sendable = eg_tcp_sendable,
    .tcp_closed = eg_tcp_closed,
    .udp_datagram = eg_udp_datagram,
    .udp_closed = eg_udp_closed,
    .icmp_reply = eg_icmp_reply,
};

/* ---- the fake transport: one turn of one flow ---------------------------------------- */

/* Connect outcome and resets, crossing the transport. */
static bool flow_control(struct ferry_relay *r, struct rflow *f)
{
	bool moved = f->open_pending || f->failed_pending || f->connected_pending ||
		     f->reset_to_egress || f->reset_to_stack;

	if (f->open_pending) {
		int err = 0;

		f->open_pending = false;
		if (f->stack_alive)
			err = ferry_egress_tcp_open(r->egress, f->id, &f->src, &f->dst, r->now);
		if (err) {
			path_of(r, f)->egress_reason = err;
			ferry_stack_tcp_refused(f->sflow, err);
			stack_side_ended(r, f, err);
		} else if (f->stack_alive) {
			f->egress_alive = true;
		}
	}
	if (f->failed_pending) {
		if (f->stack_alive) {
			ferry_stack_tcp_refused(f->sflow, f->failed_pending);
			stack_side_ended(r, f, f->failed_pending);
		}
		f->failed_pending = 0;
	}
	if (f->connected_pending) {
		f->connected_pending = false;
		if (f->stack_alive && ferry_stack_tcp_connected(f->sflow) != 0) {
			stack_side_ended(r, f, -ENOMEM);
			f->reset_to_egress = f->egress_alive;
		}
	}
	if (f->reset_to_egress) {
		f->reset_to_egress = false;
		if (f->egress_alive)
			ck_assert_int_eq(ferry_egress_tcp_reset(r->egress, f->id), 0);
		egress_side_ended(r, f, -ECONNRESET);
	}
	if (f->reset_to_stack) {
		f->reset_to_stack = false;
		if (f->stack_alive) {
			ferry_stack_tcp_reset(f->sflow);
			stack_side_ended(r, f, -ECONNRESET);
		}
	}
	return moved;
}

/* Application to destination: ring -> egress; room again -> stack; FIN after the bytes. */
static bool flow_up(struct ferry_relay *r, struct rflow *f)
{
	struct ferry_relay_path *p = path_of(r, f);
	bool moved = false;

	while (f->egress_open && f->up.len > 0 && !f->up_blocked) {
		const uint8_t *data;
		size_t len = ring_peek(&f->up, &data);
		size_t n = ferry_egress_tcp_send(r->egress, f->id, data, len);

		ring_drop(&f->up, n);
		moved |= n > 0;
		if (n < len) {
			f->up_blocked = true;
			p->egress_short_sends++;
		}
	}
	if (f->up_stalled && f->up_blocked)
		p->up_pressure = true; /* both sides refused: the ring is full and stuck */
	if (f->up_stalled && f->stack_alive && f->up.len <= WINDOW / 2) {
		f->up_stalled = false;
		p->stack_writables++;
		ferry_stack_tcp_writable(f->sflow); /* may refill the ring, deliver the FIN, end */
		moved = true;
	}
	if (f->up_eof && !f->up_eof_sent && f->up.len == 0 && f->egress_open) {
		int rc = ferry_egress_tcp_shutdown(r->egress, f->id);

		ck_assert_msg(rc == 0 || rc == 1, "egress shutdown of %u: %d", f->id, rc);
		f->up_eof_sent = true;
		if (rc == 1) /* the destination's FIN had come: the egress flow ended */
			egress_side_ended(r, f, 0);
		moved = true;
	}
	return moved;
}

/* Destination to application: ring -> stack; room again -> egress; FIN after the bytes. */
static bool flow_down(struct ferry_relay *r, struct rflow *f)
{
	struct ferry_relay_path *p = path_of(r, f);
	bool moved = false;

	while (f->stack_alive && f->down.len > 0 && !f->down_blocked) {
		const uint8_t *data;
		size_t len = ring_peek(&f->down, &data);
		size_t n = ferry_stack_tcp_send(f->sflow, data, len);

		ring_drop(&f->down, n);
		moved |= n > 0;
		if (n < len) {
			f->down_blocked = true;
			p->stack_short_sends++;
		}
	}
	if (f->down_stalled && f->down_blocked)
		p->down_pressure = true;
	if (f->down_stalled && f->egress_open && f->down.len <= WINDOW / 2) {
		f->down_stalled = false;
		p->egress_writables++;
		ferry_egress_tcp_writable(r->egress, f->id);
		moved = true;
	}
	if (f->down_eof && !f->down_eof_sent && f->down.len == 0 && f->stack_alive) {
		f->down_eof_sent = true;
		p->peer_first = !f->up_eof;
		/* may end the flow at once (tcp_closed(0)) if the application's FIN came */
		ck_assert_int_eq(ferry_stack_tcp_shutdown(f->sflow), 0);
		moved = true;
	}
	return moved;
}

/* Runs every TCP relay flow once; frees those whose both sides ended. Returns whether
 * anything moved (then the loop does not sleep). */
static bool transport_turn(struct ferry_relay *r)
{
	bool moved = false;
	int i;

	for (i = 0; i < FLOWS; i++) {
		struct rflow *f = &r->flows[i];

		if (!f->used || f->udp)
			continue;
		moved |= flow_control(r, f);
		moved |= flow_up(r, f);
		moved |= flow_down(r, f);
		if (!f->stack_alive && !f->egress_alive && !f->open_pending) {
			f->used = false;
			r->count.live_flows--;
		}
	}
	return moved;
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
	struct slot *s = &r->slots[fd];
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
	uint64_t eg = ferry_egress_next_deadline(r->egress);

	if (busy)
		return 0;
	if (eg < next)
		next = eg;
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
	busy = transport_turn(r);
	r->ops->turn(r->ctx);
	n = epoll_wait(r->ep, evs, 64, wait_ms(r, busy));
	ck_assert_msg(n >= 0 || errno == EINTR, "epoll_wait: %s", strerror(errno));
	r->now = ferry_relay_clock_ms();
	ferry_stack_poll(r->stack, r->now); /* input uses the stack's last clock */
	for (k = 0; k < n; k++)
		dispatch(r, &evs[k]);
	ferry_egress_poll(r->egress, r->now);
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
	ck_assert_int_eq(ferry_stack_create(&r->stack, &scfg, &stack_ops, r, r->now), 0);
	ferry_egress_config_default(&ecfg);
	ecfg.sndbuf = 32 << 10; /* bounded toward the destination, as the path's capacity */
	ck_assert_int_eq(ferry_egress_create(&r->egress, &ecfg, &egress_ops, r), 0);
	fd_watch(r, r->tun.fd, O_TUN, 0, 0, EPOLLIN);
}

void ferry_relay_free(struct ferry_relay *r)
{
	ferry_stack_destroy(r->stack); /* before egress: its callbacks may reach egress */
	ferry_egress_destroy(r->egress);
	if (r->tun.fd >= 0 && r->slots[r->tun.fd].used)
		fd_unwatch(r, r->tun.fd);
	ferry_tun_close(&r->tun);
	close(r->ep);
	free(r);
}

/* ---- what the caller reads ------------------------------------------------------------ */

const struct ferry_relay_path *ferry_relay_path(const struct ferry_relay *r, int conn)
{
	ck_assert_msg(conn >= -1 && conn < CONNS, "path of connection %d", conn);
	return &r->paths[conn >= 0 ? conn : CONNS];
}

bool ferry_relay_up_stalled(const struct ferry_relay *r, int conn)
{
	int i;

	for (i = 0; i < FLOWS; i++)
		if (r->flows[i].used && !r->flows[i].udp && r->flows[i].conn == conn)
			return r->flows[i].up_stalled;
	return false;
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
