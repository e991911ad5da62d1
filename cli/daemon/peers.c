// SPDX-License-Identifier: MIT
/*
 * The daemon's peers (see daemon.h): one secure link and one bridge peer per [Peer], and
 * cryptokey routing over their AllowedIPs.
 *
 * Routing is WireGuard's: a packet from the TUN goes to the peer whose AllowedIPs hold its
 * destination, the longest prefix winning; a flow from a peer is accepted only from a
 * source that routes back to that peer. The table is every prefix of every peer, sorted longest
 * first, walked once per new flow (never per packet: the bridge keeps each flow's peer).
 *
 * A peer's Endpoint is resolved once, at start (a name that does not resolve stops the
 * start, as with wg-quick). Without one, the link learns the peer's address from its
 * first authenticated datagram and follows it when it roams.
 *
 * The peers are one array in guarded, locked memory (transport/secret.h): each holds its
 * link, and the link its keys (the Noise peer: preshared key, handshake state, session
 * keys). One allocation for all of them locks their size rounded up to a page; one per
 * peer would lock up to a page more each, with three more pages of address space and four
 * mappings. It is made before any privilege is dropped, so root's CAP_IPC_LOCK lifts
 * RLIMIT_MEMLOCK for it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "cli/daemon/internal.h"
#include "cli/key.h"
#include "transport/secret.h"

static void on_segments(void *ctx, struct ferry_link *link, uint32_t conv, const uint8_t *segs,
			size_t len, uint64_t now)
{
	struct ferry_daemon_peer *p = ctx;

	(void)link;
	ferry_bridge_segments(p->bp, conv, segs, len, now);
}

static void on_datagram(void *ctx, struct ferry_link *link, uint32_t flow_id, const uint8_t *data,
			size_t len, uint64_t now)
{
	struct ferry_daemon_peer *p = ctx;

	(void)link;
	ferry_bridge_datagram(p->bp, flow_id, data, len, now);
}

static void on_state(void *ctx, struct ferry_link *link, enum ferry_link_state state)
{
	struct ferry_daemon_peer *p = ctx;
	struct ferry_daemon *d = p->d;

	ferry_log(&d->log, state == FERRY_LINK_DEAD ? FERRY_LOG_WARN : FERRY_LOG_INFO,
		  "peer %s: %s", p->key, ferry_link_state_name(state));
	if (state == FERRY_LINK_UP) {
		p->last_handshake_ms = link->now;
		ferry_bridge_peer_up(p->bp, link->now); /* announce this side's instance */
	}
}

/* Resolves host:port (a name or an address) to the first address it has. */
static int resolve(struct ferry_daemon *d, const struct ferry_config_endpoint *ep,
		   struct ferry_sockaddr *out)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM}, *res, *ai;
	char port[8];
	int err;

	snprintf(port, sizeof(port), "%u", ep->port);
	err = getaddrinfo(ep->host, port, &hints, &res);
	if (err) {
		ferry_log(&d->log, FERRY_LOG_ERROR, "Endpoint %s:%u: %s", ep->host, ep->port,
			  gai_strerror(err));
		return -EHOSTUNREACH;
	}
	for (ai = res; ai; ai = ai->ai_next)
		if ((ai->ai_family == AF_INET && d->udp[0].fd >= 0) ||
		    (ai->ai_family == AF_INET6 && d->udp[1].fd >= 0))
			break;
	if (!ai) {
		freeaddrinfo(res);
		ferry_log(&d->log, FERRY_LOG_ERROR,
			  "Endpoint %s:%u: no address of a family this "
			  "host has a socket for",
			  ep->host, ep->port);
		return -EAFNOSUPPORT;
	}
	memset(out, 0, sizeof(*out));
	memcpy(&out->sa, ai->ai_addr, ai->ai_addrlen);
	out->len = (socklen_t)ai->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static int route_cmp(const void *a, const void *b)
{
	const struct ferry_daemon_route *x = a, *y = b;

	return (int)y->prefix.len - (int)x->prefix.len; /* longest first */
}

static int add_routes(struct ferry_daemon *d)
{
	size_t i, k, n = 0;

	for (i = 0; i < d->npeers; i++)
		n += d->peers[i].cfg->allowed_ips.n;
	d->routes = calloc(n ? n : 1, sizeof(*d->routes));
	if (!d->routes)
		return -ENOMEM;
	for (i = 0; i < d->npeers; i++)
		for (k = 0; k < d->peers[i].cfg->allowed_ips.n && d->nroutes < n; k++) {
			d->routes[d->nroutes].prefix = d->peers[i].cfg->allowed_ips.v[k].prefix;
			d->routes[d->nroutes++].peer = &d->peers[i];
		}
	qsort(d->routes, d->nroutes, sizeof(*d->routes), route_cmp);
	return 0;
}

/* What every peer's link shares. Its mtu and ip_hdr stay 0: the path MTU is
 * FERRY_WIRE_MTU_DEFAULT over IPv6 (a peer may roam between families), which
 * ferry_daemon_link_sizes hands the bridge too (docs/mtu.md). */
static void link_config_base(const struct ferry_daemon *d, struct ferry_link_config *lc)
{
	memset(lc, 0, sizeof(*lc));
	lc->fec_data = (uint8_t)d->cfg.iface.fec_data;
	lc->fec_parity = (uint8_t)d->cfg.iface.fec_parity;
	lc->congestion = d->cfg.iface.congestion;
	lc->rate = d->cfg.iface.rate / 8;
	lc->max_rate = d->cfg.iface.max_rate / 8;
}

int ferry_daemon_link_sizes(const struct ferry_daemon *d, struct ferry_wire_sizes *out)
{
	struct ferry_link_config lc;

	link_config_base(d, &lc);
	return ferry_link_config_sizes(&lc, out);
}

static int peer_up(struct ferry_daemon *d, struct ferry_daemon_peer *p,
		   const struct ferry_config_peer *cfg, uint64_t now)
{
	struct ferry_link_config lc;
	struct ferry_link_ops ops = {
	    .segments = on_segments, .datagram = on_datagram, .state = on_state, .ctx = p};
	struct ferry_sockaddr endpoint;
	char b64[FERRY_KEY_B64_LEN + 1];
	int err;

	link_config_base(d, &lc);
	lc.keepalive_ms = (uint32_t)cfg->persistent_keepalive * 1000;
	p->d = d;
	p->cfg = cfg;
	ferry_key_to_base64(b64, cfg->public_key);
	snprintf(p->key, sizeof(p->key), "%.8s", b64);
	if (cfg->endpoint.set) {
		err = resolve(d, &cfg->endpoint, &endpoint);
		if (err)
			return err;
	}
	err = ferry_link_init(&p->link, &d->set, cfg->public_key,
			      cfg->has_preshared_key ? cfg->preshared_key : NULL,
			      cfg->endpoint.set ? &endpoint : NULL, &lc, &ops, now);
	if (err) {
		ferry_log(&d->log, FERRY_LOG_ERROR, "peer %s (line %u): %s", p->key, cfg->line,
			  strerror(-err));
		return err;
	}
	err = ferry_bridge_peer_add(
	    d->bridge, &p->link,
	    memcmp(d->cfg.iface.public_key, cfg->public_key, FERRY_KEY_LEN) > 0, p, &p->bp);
	if (err) {
		ferry_link_destroy(&p->link);
		return err;
	}
	if (cfg->endpoint.set)
		ferry_log(&d->log, FERRY_LOG_INFO, "peer %s at %s%s%s:%u", p->key,
			  strchr(cfg->endpoint.host, ':') ? "[" : "", cfg->endpoint.host,
			  strchr(cfg->endpoint.host, ':') ? "]" : "", cfg->endpoint.port);
	else
		ferry_log(&d->log, FERRY_LOG_INFO, "peer %s (waits to be contacted)", p->key);
	return 0;
}

/* Says so when the peers' keys are not locked in RAM (they may then be swapped; they
 * are still guarded, left out of core dumps and wiped): libsodium does not check mlock. */
static void check_locked(struct ferry_daemon *d, size_t n)
{
	struct rlimit rl;
	char limit[32] = "unlimited";
	int err = ferry_secret_lock(d->peers, n * sizeof(*d->peers));

	if (!err)
		return;
	if (getrlimit(RLIMIT_MEMLOCK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		snprintf(limit, sizeof(limit), "%llu KiB", (unsigned long long)rl.rlim_cur / 1024);
	ferry_log(&d->log, FERRY_LOG_WARN,
		  "the peers' keys are not locked in memory and may be swapped: locking %zu KiB "
		  "failed (%s), RLIMIT_MEMLOCK is %s; raise it (LimitMEMLOCK=, ulimit -l) or "
		  "start ferry with CAP_IPC_LOCK",
		  (n * sizeof(*d->peers) + 1023) / 1024, strerror(-err), limit);
}

int ferry_daemon_peers_up(struct ferry_daemon *d)
{
	uint64_t now = d->loop.now;
	size_t i, n = d->cfg.npeers ? d->cfg.npeers : 1;
	int err;

	d->npeers = 0;
	d->peers = ferry_secret_allocarray(n, sizeof(*d->peers));
	if (!d->peers)
		return -ENOMEM;
	check_locked(d, n);
	for (i = 0; i < d->cfg.npeers; i++) {
		err = peer_up(d, &d->peers[i], &d->cfg.peers[i], now);
		if (err)
			return err; /* peers_down undoes the ones made */
		d->npeers++;
	}
	return add_routes(d);
}

void ferry_daemon_peers_down(struct ferry_daemon *d)
{
	size_t i;

	for (i = 0; i < d->npeers; i++) {
		if (d->peers[i].bp)
			ferry_bridge_peer_remove(d->peers[i].bp);
		ferry_link_destroy(&d->peers[i].link);
	}
	ferry_secret_free(d->peers); /* wiped */
	free(d->routes);
	d->peers = NULL;
	d->routes = NULL;
	d->npeers = d->nroutes = 0;
}

static struct ferry_daemon_peer *route_of(const struct ferry_daemon *d,
					  const struct ferry_endpoint *addr)
{
	size_t i;

	for (i = 0; i < d->nroutes; i++)
		if (ferry_prefix_contains(&d->routes[i].prefix, addr->family, addr->addr))
			return d->routes[i].peer;
	return NULL;
}

struct ferry_bridge_peer *ferry_daemon_route(void *ctx, const struct ferry_endpoint *dst)
{
	struct ferry_daemon_peer *p = route_of(ctx, dst);

	return p ? p->bp : NULL;
}

/* As WireGuard: the source must route back to the peer it came from (with overlapping
 * AllowedIPs, the peer with the longest prefix holding it, not merely any that holds it). */
bool ferry_daemon_source_ok(void *ctx, struct ferry_bridge_peer *peer,
			    const struct ferry_endpoint *src)
{
	return route_of(ctx, src) == ferry_bridge_peer_user(peer);
}

void ferry_daemon_peers_sample(struct ferry_daemon *d)
{
	size_t i;

	for (i = 0; i < d->npeers; i++) {
		struct ferry_daemon_peer *p = &d->peers[i];
		uint64_t tx = p->link.stats.bytes_out, rx = p->link.stats.bytes_in;

		p->rate_tx = (tx - p->sample_tx) * 1000 / FERRY_DAEMON_SAMPLE_MS;
		p->rate_rx = (rx - p->sample_rx) * 1000 / FERRY_DAEMON_SAMPLE_MS;
		p->sample_tx = tx;
		p->sample_rx = rx;
	}
}
