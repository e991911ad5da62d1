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
 *
 * The code is in three files around egress_internal.h, which holds the state: this one
 * (config, create/destroy, the table and its lists, watches, sockets, io dispatch and
 * timers), egress_tcp.c (TCP flows) and egress_udp.c (UDP flows and ICMP echo).
 */
#include "stack/egress.h"
#include "stack/egress_internal.h"

#include <errno.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

void ferry_egress_config_default(struct ferry_egress_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->max_flows = 16384;
	cfg->connect_timeout_ms = 10000;
	cfg->udp_idle_timeout_ms = 60000;
}

bool ferry_egress_allowed(struct ferry_egress *eg, uint8_t proto, const struct ferry_endpoint *ep)
{
	if (ferry_policy_check(&eg->policy, proto, ep->family, ep->addr, ep->port) ==
	    FERRY_POLICY_ALLOW)
		return true;
	eg->stats.denied++;
	return false;
}

/* --- the table ------------------------------------------------------------------------ */

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

struct egress_flow *ferry_egress_find(struct ferry_egress *eg, uint8_t proto, uint32_t id)
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

void ferry_egress_list_append(struct ferry_egress *eg, struct egress_list *l, struct egress_flow *f)
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

void ferry_egress_list_remove(struct ferry_egress *eg, struct egress_list *l, struct egress_flow *f)
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
struct egress_flow *ferry_egress_slot_take(struct ferry_egress *eg, uint8_t proto, uint32_t id,
					   int fd, uint8_t state)
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
		ferry_egress_list_append(eg, &eg->udp_lru, f);
	} else {
		eg->stats.tcp_flows++;
		ferry_egress_list_append(eg, &eg->connecting, f);
	}
	return f;
}

/* Closes the flow's socket (with an RST if `abort`) and frees its slot. */
void ferry_egress_release(struct ferry_egress *eg, struct egress_flow *f, bool abort)
{
	uint8_t proto = f->state == EG_UDP ? FERRY_FLOW_UDP : FERRY_FLOW_TCP;
	uint32_t *link = &eg->buckets[bucket_of(eg, proto, f->id)];
	uint32_t i = index_of(eg, f);

	while (*link != i)
		link = &eg->flows[*link].hash_next;
	*link = f->hash_next;
	if (f->state == EG_CONNECTING)
		ferry_egress_list_remove(eg, &eg->connecting, f);
	else if (f->state == EG_UDP)
		ferry_egress_list_remove(eg, &eg->udp_lru, f);
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
void ferry_egress_update_watch(struct ferry_egress *eg, struct egress_flow *f)
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

/* --- create and destroy --------------------------------------------------------------- */

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
			ferry_egress_release(eg, &eg->flows[i], eg->flows[i].state != EG_UDP);
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

/* --- sockets -------------------------------------------------------------------------- */

/* A nonblocking socket with the egress's mark and, in transparent mode, bound to src
 * (port 0 for TCP: the kernel picks it at connect). Returns the fd or a negative errno. */
int ferry_egress_open_socket(struct ferry_egress *eg, int type, const struct ferry_endpoint *src,
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
		struct ferry_endpoint at;
		struct ferry_sockaddr sa;

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
		ferry_endpoint_to_sockaddr(&at, &sa); /* the family was checked above */
		if (bind(fd, &sa.sa, sa.len) < 0)
			goto fail;
	}
	return fd;

fail:
	err = -errno;
	close(fd);
	return err;
}

/* --- loop entry points ---------------------------------------------------------------- */

void ferry_egress_io(struct ferry_egress *eg, uint64_t cookie, uint32_t events, uint64_t now)
{
	uint32_t idx = (uint32_t)cookie, gen = (uint32_t)(cookie >> 32);
	struct egress_flow *f;

	if (cookie == PING_COOKIE4 || cookie == PING_COOKIE6) {
		ferry_egress_ping_io(eg, cookie == PING_COOKIE6, now);
		return;
	}
	if (idx >= eg->cfg.max_flows)
		return;
	f = &eg->flows[idx];
	if (!still(f, gen))
		return;
	switch (f->state) {
	case EG_CONNECTING:
		ferry_egress_tcp_connect_done(eg, f, events);
		break;
	case EG_OPEN:
		ferry_egress_tcp_io(eg, f, events);
		break;
	case EG_UDP:
		ferry_egress_udp_io(eg, f, now);
		break;
	default:
		break;
	}
}

void ferry_egress_timer(struct ferry_egress *eg, uint64_t now)
{
	while (eg->connecting.head != NIL) {
		struct egress_flow *f = &eg->flows[eg->connecting.head];
		uint32_t id = f->id;

		if (f->time > now)
			break;
		ferry_egress_release(eg, f, true);
		eg->stats.tcp_failed++;
		eg->ops->tcp_failed(eg->ctx, id, -ETIMEDOUT);
	}
	while (eg->udp_lru.head != NIL) {
		struct egress_flow *f = &eg->flows[eg->udp_lru.head];
		uint32_t id = f->id;

		if (f->time + eg->cfg.udp_idle_timeout_ms > now)
			break;
		ferry_egress_release(eg, f, false);
		eg->stats.udp_idle_closed++;
		if (eg->ops->udp_closed)
			eg->ops->udp_closed(eg->ctx, id);
	}
}

uint64_t ferry_egress_next_deadline(const struct ferry_egress *eg, uint64_t now)
{
	uint64_t next = UINT64_MAX;

	(void)now; /* every deadline here is absolute already */

	if (eg->connecting.head != NIL)
		next = eg->flows[eg->connecting.head].time;
	if (eg->udp_lru.head != NIL) {
		uint64_t t = eg->flows[eg->udp_lru.head].time + eg->cfg.udp_idle_timeout_ms;

		if (t < next)
			next = t;
	}
	return next;
}
