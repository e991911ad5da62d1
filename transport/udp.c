// SPDX-License-Identifier: MIT
#include "transport/udp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

/* Forcing (SO_*BUFFORCE) passes the system's limit and needs CAP_NET_ADMIN; without it,
 * ask for the size and take what the kernel allows. */
static int set_buffer(int fd, int force_opt, int opt, int bytes)
{
	if (bytes <= 0)
		return 0;
	if (setsockopt(fd, SOL_SOCKET, force_opt, &bytes, sizeof(bytes)) == 0)
		return 0;
	return setsockopt(fd, SOL_SOCKET, opt, &bytes, sizeof(bytes)) == 0 ? 0 : -errno;
}

int ferry_udp_open(struct ferry_udp *udp, const struct ferry_sockaddr *local,
		   const struct ferry_udp_opts *opts)
{
	int family = local->sa.sa_family, one = 1, tos, err, fd;
	struct ferry_udp_opts none = {0};

	memset(udp, 0, sizeof(*udp));
	udp->fd = -1;
	if (!opts)
		opts = &none;
	if (opts->dscp < 0 || opts->dscp > 63)
		return -EINVAL;
	if ((family == AF_INET && local->len != sizeof(local->in4)) ||
	    (family == AF_INET6 && local->len != sizeof(local->in6)))
		return -EINVAL;

	fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
	if (fd < 0)
		return -errno;
	if (family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
		goto err_errno;
	err = set_buffer(fd, SO_RCVBUFFORCE, SO_RCVBUF, opts->rcvbuf);
	if (!err)
		err = set_buffer(fd, SO_SNDBUFFORCE, SO_SNDBUF, opts->sndbuf);
	if (err)
		goto err_close;
	if (opts->dscp) {
		tos = opts->dscp << 2; /* DSCP is the upper six bits; ECN stays ours to leave */
		if (family == AF_INET
			? setsockopt(fd, IPPROTO_IP, IP_TOS, &tos, sizeof(tos))
			: setsockopt(fd, IPPROTO_IPV6, IPV6_TCLASS, &tos, sizeof(tos)))
			goto err_errno;
	}
	if (bind(fd, &local->sa, local->len) < 0)
		goto err_errno;
	udp->local.len = sizeof(udp->local.in6);
	if (getsockname(fd, &udp->local.sa, &udp->local.len) < 0)
		goto err_errno;
	udp->fd = fd;
	return 0;

err_errno:
	err = -errno;
err_close:
	close(fd);
	return err;
}

void ferry_udp_close(struct ferry_udp *udp)
{
	if (udp->fd >= 0)
		close(udp->fd);
	udp->fd = -1;
}

int ferry_udp_recv_batch(struct ferry_udp *udp, struct ferry_buf *const *bufs,
			 struct ferry_sockaddr *from, unsigned int n)
{
	struct mmsghdr msgs[FERRY_UDP_BATCH];
	struct iovec iov[FERRY_UDP_BATCH];
	unsigned int i, kept = 0;
	int got;

	if (n > FERRY_UDP_BATCH)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		bufs[i]->len = 0;
		iov[i].iov_base = bufs[i]->data;
		iov[i].iov_len = ferry_buf_tailroom(bufs[i]);
		memset(&msgs[i], 0, sizeof(msgs[i]));
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
		msgs[i].msg_hdr.msg_name = &from[i].sa;
		msgs[i].msg_hdr.msg_namelen = sizeof(from[i].in6);
	}
	got = recvmmsg(udp->fd, msgs, n, MSG_DONTWAIT, NULL);
	if (got < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;

	/* Compact: keep whole datagrams only, in arrival order. */
	for (i = 0; i < (unsigned int)got; i++) {
		if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) {
			udp->stats.rx_truncated++;
			continue;
		}
		if (kept != i) {
			struct ferry_buf *dst = bufs[kept];

			memcpy(dst->data, bufs[i]->data, msgs[i].msg_len);
			from[kept] = from[i];
		}
		bufs[kept]->len = msgs[i].msg_len;
		from[kept].len = msgs[i].msg_hdr.msg_namelen;
		udp->stats.rx_datagrams++;
		udp->stats.rx_bytes += msgs[i].msg_len;
		kept++;
	}
	return (int)kept;
}

int ferry_udp_send_batch(struct ferry_udp *udp, struct ferry_buf *const *bufs,
			 const struct ferry_sockaddr *to, unsigned int n)
{
	struct mmsghdr msgs[FERRY_UDP_BATCH];
	struct iovec iov[FERRY_UDP_BATCH];
	unsigned int i, done = 0;

	if (n > FERRY_UDP_BATCH)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		iov[i].iov_base = bufs[i]->data;
		iov[i].iov_len = bufs[i]->len;
		memset(&msgs[i], 0, sizeof(msgs[i]));
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
		msgs[i].msg_hdr.msg_name = (void *)&to[i].sa;
		msgs[i].msg_hdr.msg_namelen = to[i].len;
	}
	/* sendmmsg stops at the first datagram that fails: a full buffer ends the batch
	 * for now; any other error drops that one datagram (counted) and goes on. */
	while (done < n) {
		int sent = sendmmsg(udp->fd, msgs + done, n - done, MSG_DONTWAIT);

		if (sent < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
				udp->stats.tx_blocked++;
				break;
			}
			if (errno == EINTR)
				continue;
			udp->stats.tx_errors++;
			done++;
			continue;
		}
		for (i = done; i < done + (unsigned int)sent; i++) {
			udp->stats.tx_datagrams++;
			udp->stats.tx_bytes += msgs[i].msg_len;
		}
		done += (unsigned int)sent;
	}
	return (int)done;
}
