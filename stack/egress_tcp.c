// SPDX-License-Identifier: MIT
/*
 * Egress TCP flows (egress as a whole, and the per-direction states, are described at the
 * top of egress.c). ferry_egress_tcp_open starts a nonblocking connect; the flow waits in
 * the connect FIFO until writable (ferry_egress_tcp_connect_done) or its deadline
 * (ferry_egress_timer). Once OPEN, ferry_egress_tcp_io reads by peeking, offering the bytes
 * to ops->tcp_data and consuming only what was taken, and reports send space after a
 * short send. Shutdown sends our FIN; reset ends the flow with an RST (SO_LINGER 0). A
 * send error is kept in the flow and reported when the socket hangs up.
 */
#include "stack/egress.h"
#include "stack/egress_internal.h"

#include <errno.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

static int sock_error(int fd)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return errno;
	return err;
}

int ferry_egress_tcp_open(struct ferry_egress *eg, uint32_t id, const struct ferry_endpoint *src,
			  const struct ferry_endpoint *dst, uint64_t now)
{
	struct ferry_sockaddr sa;
	struct egress_flow *f;
	int fd, err;

	if (!family_ok(dst))
		return -EAFNOSUPPORT;
	if (!ferry_egress_allowed(eg, FERRY_POLICY_TCP, dst))
		return -EACCES;
	if (ferry_egress_find(eg, FERRY_FLOW_TCP, id))
		return -EEXIST;
	if (eg->free_head == NIL)
		return -ENOSPC;
	fd = ferry_egress_open_socket(eg, SOCK_STREAM, src, dst);
	if (fd < 0)
		return fd;
	ferry_endpoint_to_sockaddr(dst, &sa); /* the family was checked above */
	eg->stats.tcp_opened++;
	if (connect(fd, &sa.sa, sa.len) < 0 && errno != EINPROGRESS) {
		err = -errno;
		close(fd);
		eg->stats.tcp_failed++;
		return err;
	}
	/* Even a connect done at once is reported from ferry_egress_io: it is writable. */
	f = ferry_egress_slot_take(eg, FERRY_FLOW_TCP, id, fd, EG_CONNECTING);
	f->dst = *dst;
	f->time = now + eg->cfg.connect_timeout_ms;
	err = eg->ops->watch(eg->ctx, fd, FERRY_EGRESS_WRITE, cookie_of(eg, f));
	if (err) {
		ferry_egress_release(eg, f, true);
		eg->stats.tcp_failed++;
		return err;
	}
	f->watched = true;
	f->events = FERRY_EGRESS_WRITE;
	return 0;
}

/* The flow ended with reason (0 clean): release first, then tell the caller. */
static void tcp_end(struct ferry_egress *eg, struct egress_flow *f, int reason)
{
	uint32_t id = f->id;

	ferry_egress_release(eg, f, false);
	eg->stats.tcp_closed++;
	eg->ops->tcp_closed(eg->ctx, id, reason);
}

void ferry_egress_tcp_connect_done(struct ferry_egress *eg, struct egress_flow *f, uint32_t events)
{
	int err = sock_error(f->fd);
	uint32_t id = f->id;

	if (err == 0 && !(events & FERRY_EGRESS_WRITE))
		return; /* nothing decided yet */
	if (err) {
		ferry_egress_release(eg, f, false);
		eg->stats.tcp_failed++;
		eg->ops->tcp_failed(eg->ctx, id, -err);
		return;
	}
	ferry_egress_list_remove(eg, &eg->connecting, f);
	f->state = EG_OPEN;
	f->rx = RX_OPEN;
	f->tx = TX_OPEN;
	ferry_egress_update_watch(eg, f);
	eg->stats.tcp_connected++;
	eg->ops->tcp_connected(eg->ctx, id);
}

static void tcp_read(struct ferry_egress *eg, struct egress_flow *f)
{
	uint32_t id = f->id, gen = f->gen;
	size_t taken;
	ssize_t n;

	n = recv(f->fd, eg->rx_buf, sizeof(eg->rx_buf), MSG_PEEK | MSG_DONTWAIT);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		tcp_end(eg, f, -errno);
		return;
	}
	if (n == 0) {
		if (f->err) { /* the hang-up after a failed send, not a FIN */
			tcp_end(eg, f, f->err);
			return;
		}
		f->rx = RX_DONE;
		ferry_egress_update_watch(eg, f);
		eg->ops->tcp_eof(eg->ctx, id);
		if (still(f, gen) && f->tx == TX_DONE)
			tcp_end(eg, f, 0);
		return;
	}
	taken = eg->ops->tcp_data(eg->ctx, id, eg->rx_buf, (size_t)n);
	if (!still(f, gen))
		return;
	if (taken > (size_t)n)
		taken = (size_t)n;
	/* Consumes exactly what was peeked and taken (MSG_TRUNC: discard, no copy). */
	if (taken > 0 && recv(f->fd, NULL, taken, MSG_DONTWAIT | MSG_TRUNC) < 0 &&
	    errno != EAGAIN) {
		tcp_end(eg, f, -errno);
		return;
	}
	if (taken < (size_t)n) {
		f->rx = RX_PAUSED;
		ferry_egress_update_watch(eg, f);
	}
}

void ferry_egress_tcp_io(struct ferry_egress *eg, struct egress_flow *f, uint32_t events)
{
	uint32_t gen = f->gen;

	if (events & FERRY_EGRESS_ERROR) {
		int err = sock_error(f->fd);

		/* Linux reports an RST after the destination's FIN (CLOSE_WAIT) as EPIPE. */
		if (err == EPIPE)
			err = ECONNRESET;
		if (!err)
			err = -f->err;
		if (!err && f->rx != RX_OPEN)
			err = ECONNRESET; /* hang-up with our side still sending */
		if (err) {
			tcp_end(eg, f, -err);
			return;
		}
	}
	if ((events & (FERRY_EGRESS_READ | FERRY_EGRESS_ERROR)) && f->rx == RX_OPEN) {
		tcp_read(eg, f);
		if (!still(f, gen))
			return;
	}
	if ((events & FERRY_EGRESS_WRITE) && f->tx == TX_BLOCKED) {
		int sndbuf = 0, queued = 0;
		socklen_t sl = sizeof(sndbuf);
		size_t space = 0;

		f->tx = TX_OPEN;
		ferry_egress_update_watch(eg, f);
		if (getsockopt(f->fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, &sl) == 0 &&
		    ioctl(f->fd, SIOCOUTQ, &queued) == 0 && sndbuf > queued)
			space = (size_t)(sndbuf - queued);
		eg->ops->tcp_sendable(eg->ctx, f->id, space);
	}
}

size_t ferry_egress_tcp_send(struct ferry_egress *eg, uint32_t id, const uint8_t *data, size_t len)
{
	struct egress_flow *f = ferry_egress_find(eg, FERRY_FLOW_TCP, id);
	ssize_t n;

	if (!f || f->state != EG_OPEN || f->tx == TX_DONE || f->err || len == 0)
		return 0;
	n = send(f->fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR) {
			/* Ended by the socket's hang-up in ferry_egress_io, not from here. */
			f->err = errno == EPIPE ? -ECONNRESET : -errno;
			return 0;
		}
		n = 0;
	}
	if ((size_t)n < len) {
		f->tx = TX_BLOCKED;
		ferry_egress_update_watch(eg, f);
	}
	return (size_t)n;
}

void ferry_egress_tcp_writable(struct ferry_egress *eg, uint32_t id)
{
	struct egress_flow *f = ferry_egress_find(eg, FERRY_FLOW_TCP, id);

	if (!f || f->state != EG_OPEN || f->rx != RX_PAUSED)
		return;
	f->rx = RX_OPEN;
	ferry_egress_update_watch(eg, f);
}

int ferry_egress_tcp_shutdown(struct ferry_egress *eg, uint32_t id)
{
	struct egress_flow *f = ferry_egress_find(eg, FERRY_FLOW_TCP, id);

	if (!f)
		return -ENOENT;
	if (f->state != EG_OPEN)
		return -EINVAL;
	if (f->tx == TX_DONE)
		return 0;
	shutdown(f->fd, SHUT_WR);
	f->tx = TX_DONE;
	if (f->rx == RX_DONE) {
		ferry_egress_release(eg, f, false);
		eg->stats.tcp_closed++;
		return 1;
	}
	ferry_egress_update_watch(eg, f);
	return 0;
}

int ferry_egress_tcp_reset(struct ferry_egress *eg, uint32_t id)
{
	struct egress_flow *f = ferry_egress_find(eg, FERRY_FLOW_TCP, id);

	if (!f)
		return -ENOENT;
	if (f->state == EG_OPEN)
		eg->stats.tcp_closed++;
	ferry_egress_release(eg, f, true);
	return 0;
}
