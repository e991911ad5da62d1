// SPDX-License-Identifier: MIT
/*
 * Egress UDP flows and ICMP echo (egress as a whole is described at the top of egress.c).
 * A UDP flow is one unconnected socket, full cone: datagrams from any source the policy
 * allows are the flow's; every datagram in either direction moves the flow to the tail of
 * the LRU that ferry_egress_timer idles out from the head. Echo requests leave through one
 * unprivileged ping socket per family, opened on first use and watched with a fixed
 * cookie; the kernel owns the echo id, so a ring of FERRY_EGRESS_PINGS_MAX requests keyed
 * by our wire sequence number maps each reply back to the application's id and sequence.
 */
#include "stack/egress.h"
#include "stack/egress_internal.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define ICMP_HDR       8
#define PING_WINDOW_MS 60000 /* a reply later than this is not matched */

static void udp_touch(struct ferry_egress *eg, struct egress_flow *f, uint64_t now)
{
	f->time = now;
	ferry_egress_list_remove(eg, &eg->udp_lru, f);
	ferry_egress_list_append(eg, &eg->udp_lru, f);
}

int ferry_egress_udp_open(struct ferry_egress *eg, uint32_t id, const struct ferry_endpoint *src,
			  const struct ferry_endpoint *dst, uint64_t now)
{
	struct egress_flow *f;
	int fd, err;

	if (!family_ok(dst))
		return -EAFNOSUPPORT;
	if (!ferry_egress_allowed(eg, FERRY_POLICY_UDP, dst))
		return -EACCES;
	if (ferry_egress_find(eg, FERRY_FLOW_UDP, id))
		return -EEXIST;
	if (eg->free_head == NIL)
		return -ENOSPC;
	fd = ferry_egress_open_socket(eg, SOCK_DGRAM, src, dst);
	if (fd < 0)
		return fd;
	f = ferry_egress_slot_take(eg, FERRY_FLOW_UDP, id, fd, EG_UDP);
	f->dst = *dst;
	f->time = now;
	err = eg->ops->watch(eg->ctx, fd, FERRY_EGRESS_READ, cookie_of(eg, f));
	if (err) {
		ferry_egress_release(eg, f, false);
		return err;
	}
	f->watched = true;
	f->events = FERRY_EGRESS_READ;
	eg->stats.udp_opened++;
	return 0;
}

int ferry_egress_udp_send(struct ferry_egress *eg, uint32_t id, const struct ferry_endpoint *dst,
			  const uint8_t *data, size_t len, uint64_t now)
{
	struct egress_flow *f = ferry_egress_find(eg, FERRY_FLOW_UDP, id);
	struct ferry_sockaddr sa;

	if (!f)
		return -ENOENT;
	if (!dst || dst->family != f->dst.family)
		return -EINVAL;
	if (memcmp(dst->addr, f->dst.addr, sizeof(dst->addr)) != 0 || dst->port != f->dst.port) {
		if (!ferry_egress_allowed(eg, FERRY_POLICY_UDP, dst))
			return -EACCES;
	}
	ferry_endpoint_to_sockaddr(dst, &sa); /* the flow's family, checked above */
	udp_touch(eg, f, now);
	if (sendto(f->fd, data, len, MSG_DONTWAIT, &sa.sa, sa.len) < 0) {
		if (errno == EAGAIN || errno == ENOBUFS) {
			eg->stats.udp_send_drops++;
			return -EAGAIN;
		}
		return -errno;
	}
	return 0;
}

int ferry_egress_udp_close(struct ferry_egress *eg, uint32_t id)
{
	struct egress_flow *f = ferry_egress_find(eg, FERRY_FLOW_UDP, id);

	if (!f)
		return -ENOENT;
	ferry_egress_release(eg, f, false);
	return 0;
}

void ferry_egress_udp_io(struct ferry_egress *eg, struct egress_flow *f, uint64_t now)
{
	uint32_t gen = f->gen, id = f->id;
	int i;

	for (i = 0; i < FERRY_EGRESS_READ_BATCH; i++) {
		struct sockaddr_storage ss = {.ss_family = AF_UNSPEC};
		socklen_t sl = sizeof(ss);
		struct ferry_endpoint from;
		ssize_t n;

		n = recvfrom(f->fd, eg->rx_buf, sizeof(eg->rx_buf), MSG_DONTWAIT,
			     (struct sockaddr *)&ss, &sl);
		if (n < 0)
			return; /* drained (or an error of an unconnected socket: nothing to do) */
		if (ferry_endpoint_from_sockaddr(&from, (struct sockaddr *)&ss))
			continue;
		if (ferry_policy_check(&eg->policy, FERRY_POLICY_UDP, from.family, from.addr,
				       from.port) != FERRY_POLICY_ALLOW) {
			eg->stats.udp_denied_from++;
			continue;
		}
		udp_touch(eg, f, now);
		eg->ops->udp_datagram(eg->ctx, id, &from, eg->rx_buf, (size_t)n);
		if (!still(f, gen))
			return;
	}
}

/* --- ICMP echo ------------------------------------------------------------------------ */

static int ping_socket(struct ferry_egress *eg, int family)
{
	int slot = family == AF_INET ? 0 : 1, fd, err;

	if (eg->ping_fd[slot] >= 0)
		return eg->ping_fd[slot];
	fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    family == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6);
	if (fd < 0)
		return errno == EACCES ? -EPERM : -errno;
	if (eg->cfg.mark &&
	    setsockopt(fd, SOL_SOCKET, SO_MARK, &eg->cfg.mark, sizeof(eg->cfg.mark)) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	err = eg->ops->watch(eg->ctx, fd, FERRY_EGRESS_READ, slot ? PING_COOKIE6 : PING_COOKIE4);
	if (err) {
		close(fd);
		return err;
	}
	eg->ping_fd[slot] = fd;
	return fd;
}

int ferry_egress_ping(struct ferry_egress *eg, const struct ferry_endpoint *app,
		      const struct ferry_endpoint *dst, uint16_t seq, const uint8_t *data,
		      size_t len, uint64_t now)
{
	struct ferry_sockaddr sa;
	struct egress_ping *p;
	uint16_t wire;
	int fd;

	if (!family_ok(dst) || !app)
		return -EAFNOSUPPORT;
	if (len > sizeof(eg->tx_buf) - ICMP_HDR - 48)
		return -EMSGSIZE;
	if (!ferry_egress_allowed(eg, FERRY_POLICY_ICMP, dst))
		return -EACCES;
	fd = ping_socket(eg, dst->family);
	if (fd < 0)
		return fd;
	wire = eg->ping_seq++;
	/* type, code, checksum and id are the kernel's to fill (checksum, id) or fixed. */
	eg->tx_buf[0] = dst->family == AF_INET ? 8 : 128;
	memset(eg->tx_buf + 1, 0, 5);
	eg->tx_buf[6] = (uint8_t)(wire >> 8);
	eg->tx_buf[7] = (uint8_t)wire;
	if (len)
		memcpy(eg->tx_buf + ICMP_HDR, data, len);
	ferry_endpoint_to_sockaddr(dst, &sa); /* family_ok above */
	if (sendto(fd, eg->tx_buf, ICMP_HDR + len, MSG_DONTWAIT, &sa.sa, sa.len) < 0)
		return -errno;
	p = &eg->pings[wire % FERRY_EGRESS_PINGS_MAX];
	p->used = true;
	p->wire_seq = wire;
	p->seq = seq;
	p->sent = now;
	p->app = *app;
	p->dst = *dst;
	p->dst.port = 0;
	eg->stats.pings_sent++;
	return 0;
}

void ferry_egress_ping_reply(struct ferry_egress *eg, int slot, const uint8_t *msg, size_t n,
			     const struct sockaddr *src, uint64_t now)
{
	struct ferry_endpoint from;
	struct egress_ping *p;
	uint16_t wire;

	if (n < ICMP_HDR || ferry_endpoint_from_sockaddr(&from, src) ||
	    msg[0] != (slot ? 129 : 0)) {
		eg->stats.ping_unmatched++;
		return;
	}
	from.port = 0;
	wire = (uint16_t)(msg[6] << 8 | msg[7]);
	p = &eg->pings[wire % FERRY_EGRESS_PINGS_MAX];
	/* the family too: an IPv4 address's bytes, zero-padded, are also an IPv6 address's */
	if (!p->used || p->wire_seq != wire || now - p->sent > PING_WINDOW_MS ||
	    p->dst.family != from.family ||
	    memcmp(p->dst.addr, from.addr, sizeof(from.addr)) != 0) {
		eg->stats.ping_unmatched++;
		return;
	}
	p->used = false;
	eg->stats.ping_replies++;
	if (eg->ops->icmp_reply)
		eg->ops->icmp_reply(eg->ctx, &p->app, &p->dst, p->seq, msg + ICMP_HDR, n - ICMP_HDR,
				    (uint32_t)(now - p->sent));
}

void ferry_egress_ping_io(struct ferry_egress *eg, int slot, uint64_t now)
{
	int i;

	for (i = 0; i < FERRY_EGRESS_READ_BATCH && eg->ping_fd[slot] >= 0; i++) {
		struct sockaddr_storage ss = {.ss_family = AF_UNSPEC};
		socklen_t sl = sizeof(ss);
		ssize_t n;

		n = recvfrom(eg->ping_fd[slot], eg->rx_buf, sizeof(eg->rx_buf), MSG_DONTWAIT,
			     (struct sockaddr *)&ss, &sl);
		if (n < 0)
			return;
		ferry_egress_ping_reply(eg, slot, eg->rx_buf, (size_t)n, (struct sockaddr *)&ss,
					now);
	}
}
