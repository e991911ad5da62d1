// SPDX-License-Identifier: MIT
/*
 * The link's UDP sockets (see daemon.h): one IPv4 and one IPv6 socket (IPv6-only) on the
 * same port, either of which may be missing on a host without that family. Received
 * datagrams are read with recvmmsg in batches of FERRY_UDP_BATCH, a few batches per turn,
 * into one pool of buffers, and each goes to the link set, which finds its peer. The link
 * set hands its sealed datagrams over in batches at the end of a turn; they leave here
 * with one sendmmsg per family, straight from the links' buffers.
 *
 * Socket buffers are large (7 MiB, forced when privileged): a burst of a fast link must
 * not be lost in the kernel before the loop comes round.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "cli/daemon/internal.h"

#define SOCKET_BUFFER (7 << 20)

static void udp4_io(struct ferry_loop *loop, struct ferry_io *io, uint32_t events, uint64_t now);
static void udp6_io(struct ferry_loop *loop, struct ferry_io *io, uint32_t events, uint64_t now);

static int open_family(struct ferry_daemon *d, int slot, const char *any)
{
	struct ferry_udp_opts opts = {.rcvbuf = SOCKET_BUFFER, .sndbuf = SOCKET_BUFFER};
	struct ferry_sockaddr local;
	uint32_t mark = d->cfg.iface.fwmark;
	int err;

	ferry_sockaddr_from(&local, any, d->port);
	err = ferry_udp_open(&d->udp[slot], &local, &opts);
	if (err)
		return err;
	if (mark && setsockopt(d->udp[slot].fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) < 0) {
		err = -errno;
		ferry_udp_close(&d->udp[slot]);
		return err;
	}
	if (!d->port)
		d->port = ntohs(slot == 0 ? d->udp[slot].local.in4.sin_port
					  : d->udp[slot].local.in6.sin6_port);
	d->udp_io[slot] = (struct ferry_io){.fd = d->udp[slot].fd,
					    .events = EPOLLIN,
					    .kind = FERRY_IO_UDP,
					    .fn = slot == 0 ? udp4_io : udp6_io};
	err = ferry_loop_add(&d->loop, &d->udp_io[slot]);
	if (err)
		ferry_udp_close(&d->udp[slot]);
	return err;
}

int ferry_daemon_net_up(struct ferry_daemon *d)
{
	int err4, err6;

	d->udp[0].fd = d->udp[1].fd = -1;
	d->port = d->cfg.iface.listen_port;
	err4 = open_family(d, 0, "0.0.0.0");
	err6 = open_family(d, 1, "::");
	if (err4 && err6) {
		ferry_log(&d->log, FERRY_LOG_ERROR, "UDP port %u: IPv4: %s, IPv6: %s", d->port,
			  strerror(-err4), strerror(-err6));
		return err4;
	}
	if (err4 || err6)
		ferry_log(&d->log, FERRY_LOG_WARN, "UDP port %u: no %s socket: %s", d->port,
			  err4 ? "IPv4" : "IPv6", strerror(-(err4 ? err4 : err6)));
	err4 = ferry_pool_init(&d->udp_pool, FERRY_UDP_BATCH, FERRY_DAEMON_UDP_BUF, 0);
	if (err4) {
		ferry_daemon_net_down(d);
		return err4;
	}
	ferry_log(&d->log, FERRY_LOG_INFO, "listening on UDP port %u", d->port);
	return 0;
}

void ferry_daemon_net_down(struct ferry_daemon *d)
{
	int i;

	for (i = 0; i < 2; i++) {
		if (d->udp[i].fd >= 0)
			ferry_loop_del(&d->loop, &d->udp_io[i]);
		ferry_udp_close(&d->udp[i]);
	}
	ferry_pool_destroy(&d->udp_pool);
}

/* A socket is readable: up to FERRY_DAEMON_UDP_ROUNDS batches to the link set. */
static void udp_input(struct ferry_daemon *d, struct ferry_udp *udp, uint64_t now)
{
	struct ferry_buf *bufs[FERRY_UDP_BATCH];
	struct ferry_sockaddr from[FERRY_UDP_BATCH];
	int round, n, i;

	ferry_stack_clock(d->stack, now); /* the peers' flows reach the stack with this time */
	for (i = 0; i < FERRY_UDP_BATCH; i++)
		bufs[i] = ferry_pool_get(&d->udp_pool); /* the pool holds exactly a batch */
	for (round = 0; round < FERRY_DAEMON_UDP_ROUNDS; round++) {
		n = ferry_udp_recv_batch(udp, bufs, from, FERRY_UDP_BATCH);
		if (n <= 0)
			break;
		if (round) { /* the batch before may have taken a while: ACKs carry times */
			uint64_t t = ferry_clock_ms();

			now = t > now ? t : now;
			ferry_stack_clock(d->stack, now);
		}
		d->stats.udp_batches_in++;
		for (i = 0; i < n; i++)
			ferry_link_set_input(&d->set, bufs[i], &from[i], now); /* drops counted */
		if (n < FERRY_UDP_BATCH)
			break;
	}
	for (i = 0; i < FERRY_UDP_BATCH; i++)
		ferry_pool_put(&d->udp_pool, bufs[i]);
}

static void udp4_io(struct ferry_loop *loop, struct ferry_io *io, uint32_t events, uint64_t now)
{
	struct ferry_daemon *d = ferry_container_of(io, struct ferry_daemon, udp_io[0]);

	(void)loop;
	(void)events;
	udp_input(d, &d->udp[0], now);
}

static void udp6_io(struct ferry_loop *loop, struct ferry_io *io, uint32_t events, uint64_t now)
{
	struct ferry_daemon *d = ferry_container_of(io, struct ferry_daemon, udp_io[1]);

	(void)loop;
	(void)events;
	udp_input(d, &d->udp[1], now);
}

/* One sendmmsg of datagrams of one family; how many the kernel took (the link counts the
 * rest, as when no socket of that family is open). */
static unsigned send_family(struct ferry_daemon *d, int f, struct ferry_buf *const *bufs,
			    const struct ferry_sockaddr *to, unsigned n)
{
	int sent;

	if (d->udp[f].fd < 0)
		return 0;
	sent = ferry_udp_send_batch(&d->udp[f], bufs, to, n);
	d->stats.udp_batches_out++;
	return sent > 0 ? (unsigned)sent : 0;
}

unsigned ferry_daemon_net_output(void *ctx, struct ferry_buf *const *bufs,
				 const struct ferry_sockaddr *to, unsigned n)
{
	struct ferry_daemon *d = ctx;
	struct ferry_buf *fb[2][FERRY_LINK_OUT_BATCH];
	struct ferry_sockaddr ft[2][FERRY_LINK_OUT_BATCH];
	unsigned count[2] = {0, 0}, taken = 0, i;
	int f;

	for (i = 0; i < n; i++)
		count[to[i].sa.sa_family == AF_INET6]++;
	/* the usual batch is of one family: it leaves as it is, without a copy */
	if (count[0] == n || count[1] == n)
		return send_family(d, count[1] == n, bufs, to, n);
	count[0] = count[1] = 0;
	for (i = 0; i < n; i++) {
		f = to[i].sa.sa_family == AF_INET6;
		fb[f][count[f]] = bufs[i];
		ft[f][count[f]++] = to[i];
	}
	for (f = 0; f < 2; f++)
		if (count[f])
			taken += send_family(d, f, fb[f], ft[f], count[f]);
	return taken;
}
