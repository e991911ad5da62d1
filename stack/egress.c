// SPDX-License-Identifier: MIT
/*
 * Egress: real sockets at the peer for the flows a client's stack reported.
 *
 * Theory of operation. A fixed table of config.max_flows slots, found by (protocol, id)
 * through a SipHash-keyed chained hash (ids come from the other end of the link), holds
 * every TCP and UDP flow. A slot owns one nonblocking socket and nothing else: the
 * kernel's socket buffers are the per-flow buffers, so a flow costs its slot and the
 * kernel's memory, never a malloc per packet.
 *
 * A TCP flow is CONNECTING (watched for WRITE, in the connect FIFO whose head has the
 * earliest deadline since the timeout is one value per egress) and then OPEN with one
 * state per direction:
 *
 *   from the destination (rx): OPEN --tcp_data took less--> PAUSED --writable--> OPEN
 *                              OPEN --FIN, all bytes taken--> DONE (ops->tcp_eof)
 *   toward the destination (tx): OPEN --short send--> BLOCKED --WRITE ready--> OPEN
 *                                OPEN/BLOCKED --ferry_egress_tcp_shutdown--> DONE
 *
 * The flow ends cleanly when both are DONE; an error or RST from the socket ends it with
 * that errno. Reading peeks, offers the bytes, and consumes only what the transport took,
 * so what it refused stays in the kernel and throttles the destination's TCP.
 *
 * A UDP flow is one unconnected socket (full cone: replies from any address and port are
 * the flow's), kept in an LRU list by last activity; the head is the next to idle out.
 *
 * ICMP echo goes through one unprivileged ping socket per family, opened on first use.
 * The kernel owns the echo identifier of a ping socket, so requests carry a sequence
 * number of ours; a ring of FERRY_EGRESS_PINGS_MAX remembered requests maps a reply back
 * to the application's id, sequence and send time.
 *
 * Watch cookies are (slot generation << 32 | slot index), so a readiness report for a
 * flow that ended (and whose fd number may be reused) is recognised and ignored.
 */
#include "stack/egress.h"

#include <errno.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define NIL	       UINT32_MAX
#define SCRATCH_SIZE   65536 /* one read: a TCP chunk or a whole datagram */
#define ICMP_HDR       8
#define PING_COOKIE4   ((uint64_t)0xfffffffe)
#define PING_COOKIE6   ((uint64_t)0xffffffff)
#define PING_WINDOW_MS 60000 /* a reply later than this is not matched */

enum egress_state {
	EG_FREE,
	EG_CONNECTING,
	EG_OPEN, /* TCP established; see rx and tx */
	EG_UDP,
};

enum egress_rx {
	RX_OPEN,
	RX_PAUSED,
	RX_DONE,
};

enum egress_tx {
	TX_OPEN,
	TX_BLOCKED,
	TX_DONE,
};

struct egress_flow {
	uint32_t id;
	uint32_t gen;	     /* bumped when the slot is freed; high half of the cookie */
	uint32_t hash_next;  /* next slot in the bucket, or NIL */
	uint32_t prev, next; /* connect FIFO or UDP LRU (or free list through next) */
	int fd;
	uint8_t state; /* enum egress_state */
	uint8_t rx;    /* enum egress_rx */
	uint8_t tx;    /* enum egress_tx */
	bool watched;
	uint32_t events; /* mask last given to ops->watch */
	int err;	 /* a send error, reported when the socket hangs up */
	uint64_t time;	 /* connect deadline, or UDP last activity */
	struct ferry_endpoint dst;
};

struct egress_list {
	uint32_t head, tail;
};

struct egress_ping {
	bool used;
	uint16_t wire_seq;
	uint16_t seq;
	uint64_t sent;
	struct ferry_endpoint app;
	struct ferry_endpoint dst;
};

struct ferry_egress {
	struct ferry_egress_config cfg;
	struct ferry_policy policy;
	const struct ferry_egress_ops *ops;
	void *ctx;
	struct egress_flow *flows;
	uint32_t *buckets;
	uint32_t bucket_mask;
	uint32_t free_head;
	struct egress_list connecting;
	struct egress_list udp_lru;
	uint8_t hash_key[crypto_shorthash_KEYBYTES];
	int ping_fd[2]; /* IPv4, IPv6; -1 until first use */
	uint16_t ping_seq;
	struct egress_ping pings[FERRY_EGRESS_PINGS_MAX];
	struct ferry_egress_stats stats;
	uint8_t rx_buf[SCRATCH_SIZE]; /* what is read, handed to ops during the call */
	uint8_t tx_buf[SCRATCH_SIZE]; /* echo requests built here */
};

void ferry_egress_config_default(struct ferry_egress_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->max_flows = 4096;
	cfg->connect_timeout_ms = 10000;
	cfg->udp_idle_timeout_ms = 60000;
}

/* --- endpoints and sockaddrs ---------------------------------------------------------- */

static size_t to_sockaddr(const struct ferry_endpoint *ep, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (ep->family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(ep->port);
		memcpy(&sin->sin_addr, ep->addr, 4);
		return sizeof(*sin);
	}
	if (ep->family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(ep->port);
		memcpy(&sin6->sin6_addr, ep->addr, 16);
		return sizeof(*sin6);
	}
	return 0;
}

static int from_sockaddr(const struct sockaddr_storage *ss, struct ferry_endpoint *ep)
{
	memset(ep, 0, sizeof(*ep));
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;

		ep->family = AF_INET;
		ep->port = ntohs(sin->sin_port);
		memcpy(ep->addr, &sin->sin_addr, 4);
		return 0;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;

		ep->family = AF_INET6;
		ep->port = ntohs(sin6->sin6_port);
		memcpy(ep->addr, &sin6->sin6_addr, 16);
		return 0;
	}
	return -EAFNOSUPPORT;
}

static bool family_ok(const struct ferry_endpoint *ep)
{
	return ep && (ep->family == AF_INET || ep->family == AF_INET6);
}

static bool allowed(struct ferry_egress *eg, uint8_t proto, const struct ferry_endpoint *ep)
{
	if (ferry_policy_check(&eg->policy, proto, ep->family, ep->addr, ep->port) ==
	    FERRY_POLICY_ALLOW)
		return true;
	eg->stats.denied++;
	return false;
}

/* --- the table ------------------------------------------------------------------------- */

static uint32_t bucket_of(const struct ferry_egress *eg, uint8_t proto, uint32_t id)
{
	uint8_t key[5] = {proto, (uint8_t)id, (uint8_t)(id >> 8), (uint8_t)(id >> 16),
			  (uint8_t)(id >> 24)};
	uint8_t out[crypto_shorthash_BYTES];
	uint32_t h;

	crypto_shorthash(out, key, sizeof(key), eg->hash_key);
	memcpy(&h, out, sizeof(h));
	return h & eg->bucket_mask;
}

static bool is_tcp(const struct egress_flow *f)
{
	return f->state == EG_CONNECTING || f->state == EG_OPEN;
}

static struct egress_flow *find(struct ferry_egress *eg, uint8_t proto, uint32_t id)
{
	uint32_t i = eg->buckets[bucket_of(eg, proto, id)];

	while (i != NIL) {
		struct egress_flow *f = &eg->flows[i];

		if (f->id == id && (proto == FERRY_FLOW_TCP) == is_tcp(f))
			return f;
		i = f->hash_next;
	}
	return NULL;
}

static uint32_t index_of(const struct ferry_egress *eg, const struct egress_flow *f)
{
	return (uint32_t)(f - eg->flows);
}

static uint64_t cookie_of(const struct ferry_egress *eg, const struct egress_flow *f)
{
	return (uint64_t)f->gen << 32 | index_of(eg, f);
}

static void list_append(struct ferry_egress *eg, struct egress_list *l, struct egress_flow *f)
{
	uint32_t i = index_of(eg, f);

	f->prev = l->tail;
	f->next = NIL;
	if (l->tail != NIL)
		eg->flows[l->tail].next = i;
	else
		l->head = i;
	l->tail = i;
}

static void list_remove(struct ferry_egress *eg, struct egress_list *l, struct egress_flow *f)
{
	if (f->prev != NIL)
		eg->flows[f->prev].next = f->next;
	else
		l->head = f->next;
	if (f->next != NIL)
		eg->flows[f->next].prev = f->prev;
	else
		l->tail = f->prev;
	f->prev = f->next = NIL;
}

/* Takes a free slot for (proto, id) with socket fd; NULL when the table is full. */
static struct egress_flow *slot_take(struct ferry_egress *eg, uint8_t proto, uint32_t id, int fd,
				     uint8_t state)
{
	struct egress_flow *f;
	uint32_t b;

	if (eg->free_head == NIL)
		return NULL;
	f = &eg->flows[eg->free_head];
	eg->free_head = f->next;
	b = bucket_of(eg, proto, id);
	f->id = id;
	f->fd = fd;
	f->state = state;
	f->rx = RX_OPEN;
	f->tx = TX_OPEN;
	f->watched = false;
	f->events = 0;
	f->err = 0;
	f->hash_next = eg->buckets[b];
	eg->buckets[b] = index_of(eg, f);
	f->prev = f->next = NIL;
	if (state == EG_UDP) {
		eg->stats.udp_flows++;
		list_append(eg, &eg->udp_lru, f);
	} else {
		eg->stats.tcp_flows++;
		list_append(eg, &eg->connecting, f);
	}
	return f;
}

/* Closes the flow's socket (with an RST if `abort`) and frees its slot. */
static void release(struct ferry_egress *eg, struct egress_flow *f, bool abort)
{
	uint8_t proto = f->state == EG_UDP ? FERRY_FLOW_UDP : FERRY_FLOW_TCP;
	uint32_t *link = &eg->buckets[bucket_of(eg, proto, f->id)];
	uint32_t i = index_of(eg, f);

	while (*link != i)
		link = &eg->flows[*link].hash_next;
	*link = f->hash_next;
	if (f->state == EG_CONNECTING)
		list_remove(eg, &eg->connecting, f);
	else if (f->state == EG_UDP)
		list_remove(eg, &eg->udp_lru, f);
	if (proto == FERRY_FLOW_UDP)
		eg->stats.udp_flows--;
	else
		eg->stats.tcp_flows--;

	if (f->watched)
		eg->ops->unwatch(eg->ctx, f->fd);
	if (abort) {
		struct linger lg = {.l_onoff = 1, .l_linger = 0};

		setsockopt(f->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	close(f->fd);
	f->fd = -1;
	f->state = EG_FREE;
	f->gen++;
	f->next = eg->free_head;
	eg->free_head = i;
}

/* Tells the owner what to watch for f now; unwatches a paused flow that can only wait. */
static void update_watch(struct ferry_egress *eg, struct egress_flow *f)
{
	uint32_t want = 0;

	if (f->state == EG_CONNECTING) {
		want = FERRY_EGRESS_WRITE;
	} else if (f->state == EG_UDP) {
		want = FERRY_EGRESS_READ;
	} else {
		if (f->rx == RX_OPEN)
			want |= FERRY_EGRESS_READ;
		if (f->tx == TX_BLOCKED)
			want |= FERRY_EGRESS_WRITE;
		/* Paused with our FIN sent: a hang-up would fire without end until the
		 * transport drains; errors surface when reading resumes. */
		if (f->rx == RX_PAUSED && f->tx == TX_DONE) {
			if (f->watched)
				eg->ops->unwatch(eg->ctx, f->fd);
			f->watched = false;
			return;
		}
	}
	if (f->watched && f->events == want)
		return;
	/* A modify of a watched fd is not expected to fail; if it does, the flow still
	 * ends by its timers or its other direction. */
	if (eg->ops->watch(eg->ctx, f->fd, want, cookie_of(eg, f)) == 0) {
		f->watched = true;
		f->events = want;
	}
}

/* --- create and destroy ---------------------------------------------------------------- */

int ferry_egress_create(struct ferry_egress **out, const struct ferry_egress_config *cfg,
			const struct ferry_egress_ops *ops, void *ctx)
{
	struct ferry_egress *eg;
	uint32_t nb = 16, i;

	if (!cfg || !ops || !ops->watch || !ops->unwatch || !ops->tcp_connected ||
	    !ops->tcp_failed || !ops->tcp_data || !ops->tcp_eof || !ops->tcp_sendable ||
	    !ops->tcp_closed || !ops->udp_datagram)
		return -EINVAL;
	if (cfg->max_flows < 1 || cfg->max_flows > FERRY_EGRESS_FLOWS_MAX ||
	    cfg->connect_timeout_ms < 1 || cfg->udp_idle_timeout_ms < 1)
		return -EINVAL;
	if (sodium_init() < 0)
		return -ENOMEM;
	eg = calloc(1, sizeof(*eg));
	if (!eg)
		return -ENOMEM;
	eg->flows = calloc(cfg->max_flows, sizeof(*eg->flows));
	if (!eg->flows)
		goto free_eg;
	while (nb < 2 * cfg->max_flows)
		nb <<= 1;
	eg->buckets = malloc(nb * sizeof(*eg->buckets));
	if (!eg->buckets)
		goto free_flows;
	eg->bucket_mask = nb - 1;
	for (i = 0; i < nb; i++)
		eg->buckets[i] = NIL;
	for (i = 0; i < cfg->max_flows; i++) {
		eg->flows[i].fd = -1;
		eg->flows[i].gen = 1;
		eg->flows[i].next = i + 1 < cfg->max_flows ? i + 1 : NIL;
	}
	eg->free_head = 0;
	eg->connecting.head = eg->connecting.tail = NIL;
	eg->udp_lru.head = eg->udp_lru.tail = NIL;
	eg->cfg = *cfg;
	if (cfg->policy)
		eg->policy = *cfg->policy;
	else
		ferry_policy_init(&eg->policy);
	eg->cfg.policy = NULL;
	eg->ops = ops;
	eg->ctx = ctx;
	eg->ping_fd[0] = eg->ping_fd[1] = -1;
	randombytes_buf(eg->hash_key, sizeof(eg->hash_key));
	*out = eg;
	return 0;

free_flows:
	free(eg->flows);
free_eg:
	free(eg);
	return -ENOMEM;
}

void ferry_egress_destroy(struct ferry_egress *eg)
{
	uint32_t i;

	if (!eg)
		return;
	for (i = 0; i < eg->cfg.max_flows; i++)
		if (eg->flows[i].state != EG_FREE)
			release(eg, &eg->flows[i], eg->flows[i].state != EG_UDP);
	for (i = 0; i < 2; i++) {
		if (eg->ping_fd[i] < 0)
			continue;
		eg->ops->unwatch(eg->ctx, eg->ping_fd[i]);
		close(eg->ping_fd[i]);
	}
	free(eg->buckets);
	free(eg->flows);
	sodium_memzero(eg->hash_key, sizeof(eg->hash_key));
	free(eg);
}

const struct ferry_egress_stats *ferry_egress_get_stats(const struct ferry_egress *eg)
{
	return &eg->stats;
}

/* --- sockets --------------------------------------------------------------------------- */

/* A nonblocking socket with the egress's mark and, in transparent mode, bound to src
 * (port 0 for TCP: the kernel picks it at connect). Returns the fd or a negative errno. */
static int open_socket(struct ferry_egress *eg, int type, const struct ferry_endpoint *src,
		       const struct ferry_endpoint *dst)
{
	int fd, one = 1, err;

	fd = socket(dst->family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (eg->cfg.mark &&
	    setsockopt(fd, SOL_SOCKET, SO_MARK, &eg->cfg.mark, sizeof(eg->cfg.mark)) < 0)
		goto fail;
	if (type == SOCK_STREAM && eg->cfg.sndbuf &&
	    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &eg->cfg.sndbuf, sizeof(eg->cfg.sndbuf)) < 0)
		goto fail;
	if (eg->cfg.transparent) {
		struct sockaddr_storage ss;
		struct ferry_endpoint at;
		size_t sl;

		if (!family_ok(src) || src->family != dst->family) {
			close(fd);
			return -EAFNOSUPPORT;
		}
		if (dst->family == AF_INET)
			err = setsockopt(fd, SOL_IP, IP_TRANSPARENT, &one, sizeof(one));
		else
			err = setsockopt(fd, SOL_IPV6, IPV6_TRANSPARENT, &one, sizeof(one));
		if (err < 0)
			goto fail;
		at = *src;
		if (type == SOCK_STREAM) {
			at.port = 0;
			if (dst->family == AF_INET &&
			    setsockopt(fd, SOL_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one)) < 0)
				goto fail;
		}
		sl = to_sockaddr(&at, &ss);
		if (bind(fd, (struct sockaddr *)&ss, (socklen_t)sl) < 0)
			goto fail;
	}
	return fd;

fail:
	err = -errno;
	close(fd);
	return err;
}

static int sock_error(int fd)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return errno;
	return err;
}

/* --- TCP ------------------------------------------------------------------------------- */

int ferry_egress_tcp_open(struct ferry_egress *eg, uint32_t id, const struct ferry_endpoint *src,
			  const struct ferry_endpoint *dst, uint64_t now)
{
	struct sockaddr_storage ss;
	struct egress_flow *f;
	size_t sl;
	int fd, err;

	if (!family_ok(dst))
		return -EAFNOSUPPORT;
	if (!allowed(eg, FERRY_POLICY_TCP, dst))
		return -EACCES;
	if (find(eg, FERRY_FLOW_TCP, id))
		return -EEXIST;
	if (eg->free_head == NIL)
		return -ENOSPC;
	fd = open_socket(eg, SOCK_STREAM, src, dst);
	if (fd < 0)
		return fd;
	sl = to_sockaddr(dst, &ss);
	eg->stats.tcp_opened++;
	if (connect(fd, (struct sockaddr *)&ss, (socklen_t)sl) < 0 && errno != EINPROGRESS) {
		err = -errno;
		close(fd);
		eg->stats.tcp_failed++;
		return err;
	}
	/* Even a connect done at once is reported from ferry_egress_io: it is writable. */
	f = slot_take(eg, FERRY_FLOW_TCP, id, fd, EG_CONNECTING);
	f->dst = *dst;
	f->time = now + eg->cfg.connect_timeout_ms;
	err = eg->ops->watch(eg->ctx, fd, FERRY_EGRESS_WRITE, cookie_of(eg, f));
	if (err) {
		release(eg, f, true);
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

	release(eg, f, false);
	eg->stats.tcp_closed++;
	eg->ops->tcp_closed(eg->ctx, id, reason);
}

static bool still(const struct egress_flow *f, uint32_t gen)
{
	return f->gen == gen && f->state != EG_FREE;
}

static void tcp_connect_done(struct ferry_egress *eg, struct egress_flow *f, uint32_t events)
{
	int err = sock_error(f->fd);
	uint32_t id = f->id;

	if (err == 0 && !(events & FERRY_EGRESS_WRITE))
		return; /* nothing decided yet */
	if (err) {
		release(eg, f, false);
		eg->stats.tcp_failed++;
		eg->ops->tcp_failed(eg->ctx, id, -err);
		return;
	}
	list_remove(eg, &eg->connecting, f);
	f->state = EG_OPEN;
	f->rx = RX_OPEN;
	f->tx = TX_OPEN;
	update_watch(eg, f);
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
		update_watch(eg, f);
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
		update_watch(eg, f);
	}
}

static void tcp_io(struct ferry_egress *eg, struct egress_flow *f, uint32_t events)
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
		update_watch(eg, f);
		if (getsockopt(f->fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, &sl) == 0 &&
		    ioctl(f->fd, SIOCOUTQ, &queued) == 0 && sndbuf > queued)
			space = (size_t)(sndbuf - queued);
		eg->ops->tcp_sendable(eg->ctx, f->id, space);
	}
}

size_t ferry_egress_tcp_send(struct ferry_egress *eg, uint32_t id, const uint8_t *data, size_t len)
{
	struct egress_flow *f = find(eg, FERRY_FLOW_TCP, id);
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
		update_watch(eg, f);
	}
	return (size_t)n;
}

void ferry_egress_tcp_writable(struct ferry_egress *eg, uint32_t id)
{
	struct egress_flow *f = find(eg, FERRY_FLOW_TCP, id);

	if (!f || f->state != EG_OPEN || f->rx != RX_PAUSED)
		return;
	f->rx = RX_OPEN;
	update_watch(eg, f);
}

int ferry_egress_tcp_shutdown(struct ferry_egress *eg, uint32_t id)
{
	struct egress_flow *f = find(eg, FERRY_FLOW_TCP, id);

	if (!f)
		return -ENOENT;
	if (f->state != EG_OPEN)
		return -EINVAL;
	if (f->tx == TX_DONE)
		return 0;
	shutdown(f->fd, SHUT_WR);
	f->tx = TX_DONE;
	if (f->rx == RX_DONE) {
		release(eg, f, false);
		eg->stats.tcp_closed++;
		return 1;
	}
	update_watch(eg, f);
	return 0;
}

int ferry_egress_tcp_reset(struct ferry_egress *eg, uint32_t id)
{
	struct egress_flow *f = find(eg, FERRY_FLOW_TCP, id);

	if (!f)
		return -ENOENT;
	if (f->state == EG_OPEN)
		eg->stats.tcp_closed++;
	release(eg, f, true);
	return 0;
}

/* --- UDP ------------------------------------------------------------------------------- */

static void udp_touch(struct ferry_egress *eg, struct egress_flow *f, uint64_t now)
{
	f->time = now;
	list_remove(eg, &eg->udp_lru, f);
	list_append(eg, &eg->udp_lru, f);
}

int ferry_egress_udp_open(struct ferry_egress *eg, uint32_t id, const struct ferry_endpoint *src,
			  const struct ferry_endpoint *dst, uint64_t now)
{
	struct egress_flow *f;
	int fd, err;

	if (!family_ok(dst))
		return -EAFNOSUPPORT;
	if (!allowed(eg, FERRY_POLICY_UDP, dst))
		return -EACCES;
	if (find(eg, FERRY_FLOW_UDP, id))
		return -EEXIST;
	if (eg->free_head == NIL)
		return -ENOSPC;
	fd = open_socket(eg, SOCK_DGRAM, src, dst);
	if (fd < 0)
		return fd;
	f = slot_take(eg, FERRY_FLOW_UDP, id, fd, EG_UDP);
	f->dst = *dst;
	f->time = now;
	err = eg->ops->watch(eg->ctx, fd, FERRY_EGRESS_READ, cookie_of(eg, f));
	if (err) {
		release(eg, f, false);
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
	struct egress_flow *f = find(eg, FERRY_FLOW_UDP, id);
	struct sockaddr_storage ss;
	size_t sl;

	if (!f)
		return -ENOENT;
	if (!dst || dst->family != f->dst.family)
		return -EINVAL;
	if (memcmp(dst->addr, f->dst.addr, sizeof(dst->addr)) != 0 || dst->port != f->dst.port) {
		if (!allowed(eg, FERRY_POLICY_UDP, dst))
			return -EACCES;
	}
	sl = to_sockaddr(dst, &ss);
	udp_touch(eg, f, now);
	if (sendto(f->fd, data, len, MSG_DONTWAIT, (struct sockaddr *)&ss, (socklen_t)sl) < 0) {
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
	struct egress_flow *f = find(eg, FERRY_FLOW_UDP, id);

	if (!f)
		return -ENOENT;
	release(eg, f, false);
	return 0;
}

static void udp_io(struct ferry_egress *eg, struct egress_flow *f, uint64_t now)
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
		if (from_sockaddr(&ss, &from))
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

/* --- ICMP echo ------------------------------------------------------------------------- */

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
	struct sockaddr_storage ss;
	struct egress_ping *p;
	uint16_t wire;
	size_t sl;
	int fd;

	if (!family_ok(dst) || !app)
		return -EAFNOSUPPORT;
	if (len > sizeof(eg->tx_buf) - ICMP_HDR - 48)
		return -EMSGSIZE;
	if (!allowed(eg, FERRY_POLICY_ICMP, dst))
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
	sl = to_sockaddr(dst, &ss);
	if (sendto(fd, eg->tx_buf, ICMP_HDR + len, MSG_DONTWAIT, (struct sockaddr *)&ss,
		   (socklen_t)sl) < 0)
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

static void ping_io(struct ferry_egress *eg, int slot, uint64_t now)
{
	int i;

	for (i = 0; i < FERRY_EGRESS_READ_BATCH && eg->ping_fd[slot] >= 0; i++) {
		struct sockaddr_storage ss = {.ss_family = AF_UNSPEC};
		socklen_t sl = sizeof(ss);
		struct ferry_endpoint from;
		struct egress_ping *p;
		uint16_t wire;
		ssize_t n;

		n = recvfrom(eg->ping_fd[slot], eg->rx_buf, sizeof(eg->rx_buf), MSG_DONTWAIT,
			     (struct sockaddr *)&ss, &sl);
		if (n < 0)
			return;
		if (n < ICMP_HDR || from_sockaddr(&ss, &from) ||
		    eg->rx_buf[0] != (slot ? 129 : 0)) {
			eg->stats.ping_unmatched++;
			continue;
		}
		from.port = 0;
		wire = (uint16_t)(eg->rx_buf[6] << 8 | eg->rx_buf[7]);
		p = &eg->pings[wire % FERRY_EGRESS_PINGS_MAX];
		if (!p->used || p->wire_seq != wire || now - p->sent > PING_WINDOW_MS ||
		    memcmp(p->dst.addr, from.addr, sizeof(from.addr)) != 0) {
			eg->stats.ping_unmatched++;
			continue;
		}
		p->used = false;
		eg->stats.ping_replies++;
		if (eg->ops->icmp_reply)
			eg->ops->icmp_reply(eg->ctx, &p->app, &p->dst, p->seq,
					    eg->rx_buf + ICMP_HDR, (size_t)n - ICMP_HDR,
					    (uint32_t)(now - p->sent));
	}
}

/* --- loop entry points ----------------------------------------------------------------- */

void ferry_egress_io(struct ferry_egress *eg, uint64_t cookie, uint32_t events, uint64_t now)
{
	uint32_t idx = (uint32_t)cookie, gen = (uint32_t)(cookie >> 32);
	struct egress_flow *f;

	if (cookie == PING_COOKIE4 || cookie == PING_COOKIE6) {
		ping_io(eg, cookie == PING_COOKIE6, now);
		return;
	}
	if (idx >= eg->cfg.max_flows)
		return;
	f = &eg->flows[idx];
	if (!still(f, gen))
		return;
	switch (f->state) {
	case EG_CONNECTING:
		tcp_connect_done(eg, f, events);
		break;
	case EG_OPEN:
		tcp_io(eg, f, events);
		break;
	case EG_UDP:
		udp_io(eg, f, now);
		break;
	default:
		break;
	}
}

void ferry_egress_poll(struct ferry_egress *eg, uint64_t now)
{
	while (eg->connecting.head != NIL) {
		struct egress_flow *f = &eg->flows[eg->connecting.head];
		uint32_t id = f->id;

		if (f->time > now)
			break;
		release(eg, f, true);
		eg->stats.tcp_failed++;
		eg->ops->tcp_failed(eg->ctx, id, -ETIMEDOUT);
	}
	while (eg->udp_lru.head != NIL) {
		struct egress_flow *f = &eg->flows[eg->udp_lru.head];
		uint32_t id = f->id;

		if (f->time + eg->cfg.udp_idle_timeout_ms > now)
			break;
		release(eg, f, false);
		eg->stats.udp_idle_closed++;
		if (eg->ops->udp_closed)
			eg->ops->udp_closed(eg->ctx, id);
	}
}

uint64_t ferry_egress_next_deadline(const struct ferry_egress *eg)
{
	uint64_t next = UINT64_MAX;

	if (eg->connecting.head != NIL)
		next = eg->flows[eg->connecting.head].time;
	if (eg->udp_lru.head != NIL) {
		uint64_t t = eg->flows[eg->udp_lru.head].time + eg->cfg.udp_idle_timeout_ms;

		if (t < next)
			next = t;
	}
	return next;
}
