// SPDX-License-Identifier: MIT
/*
 * The daemon's counters for people (text, in the manner of `wg show`) and for programs
 * (JSON, the schema in docs/operations.md, stable: fields are only ever added). Both are
 * written from the same reads, so they never disagree. Nothing here changes state.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli/daemon/internal.h"
#include "cli/key.h"

struct out {
	char *p;
	size_t cap, len;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->len + 1 >= o->cap)
		return;
	va_start(ap, fmt);
	/* clang-analyzer 14 misreads va_start here, as in cli/config.c */
	// NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized)
	n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->len = o->len + (size_t)n < o->cap ? o->len + (size_t)n : o->cap - 1;
}

/* A JSON string of printable ASCII (what ferry's names, keys and addresses are). */
static void put_str(struct out *o, const char *s)
{
	put(o, "\"");
	for (; *s; s++)
		if (*s == '"' || *s == '\\')
			put(o, "\\%c", *s);
		else if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			put(o, "\\u%04x", (unsigned char)*s);
		else
			put(o, "%c", *s);
	put(o, "\"");
}

static void endpoint_text(const struct ferry_link *link, char *buf, size_t cap)
{
	struct ferry_endpoint ep;

	if (!link->endpoint.len || ferry_endpoint_from_sockaddr(&ep, &link->endpoint.sa)) {
		snprintf(buf, cap, "(none)");
		return;
	}
	ferry_endpoint_format(buf, cap, &ep, true);
}

/* Fraction of data shards the FEC had to rebuild: the loss it saw, before the ARQ. */
static double fec_loss(const struct ferry_fec_decoder_stats *s)
{
	uint64_t got = s->data_in + s->recovered;

	return got ? (double)s->recovered / (double)got : 0.0;
}

/* What one peer looks like, read once. */
struct peer_view {
	char key[FERRY_KEY_B64_LEN + 1];
	char endpoint[FERRY_ENDPOINT_STRLEN];
	struct ferry_link_stats ls;
	struct ferry_bridge_peer_stats bs;
	struct ferry_cc_info cc;
	const char *state;
	int64_t handshake_s; /* seconds ago, -1: never */
};

static void view(const struct ferry_daemon *d, const struct ferry_daemon_peer *p,
		 struct peer_view *v)
{
	ferry_key_to_base64(v->key, p->cfg->public_key);
	endpoint_text(&p->link, v->endpoint, sizeof(v->endpoint));
	ferry_link_stats(&p->link, &v->ls);
	ferry_bridge_peer_stats(p->bp, &v->bs);
	ferry_link_cc_info(&p->link, &v->cc);
	v->state = ferry_link_state_name(ferry_link_state(&p->link));
	v->handshake_s =
	    p->last_handshake_ms ? (int64_t)((d->loop.now - p->last_handshake_ms) / 1000) : -1;
}

/* The controller's line: bandwidth, min RTT, pacing rate, flight, state, loss, parity. */
static void congestion_text(struct out *o, const struct peer_view *v)
{
	const struct ferry_cc_info *c = &v->cc;
	uint64_t shards = v->ls.data_out + v->ls.parity_out;

	put(o, "  congestion: %s, %s; bandwidth %.2f Mbit/s, min rtt %u ms, pacing %.2f Mbit/s",
	    ferry_cc_mode_name(c->mode), ferry_cc_state_name(c->state), (double)c->bw * 8 / 1e6,
	    c->min_rtt_ms, (double)c->pacing_rate * 8 / 1e6);
	if (c->cwnd == UINT64_MAX)
		put(o, ", in flight %llu B (no cap)", (unsigned long long)c->inflight);
	else
		put(o, ", in flight %llu of %llu B", (unsigned long long)c->inflight,
		    (unsigned long long)c->cwnd);
	put(o, "; loss %.1f%%, parity %.1f%% of shards\n", c->loss_pm / 10.0,
	    shards ? (double)v->ls.parity_out * 100 / (double)shards : 0.0);
}

static void text(const struct ferry_daemon *d, struct out *o)
{
	const struct ferry_stack_stats *ss = ferry_stack_get_stats(d->stack);
	const struct ferry_egress_stats *es = ferry_egress_get_stats(d->egress);
	const struct ferry_bridge_stats *bs = ferry_bridge_get_stats(d->bridge);
	char key[FERRY_KEY_B64_LEN + 1];
	size_t i;

	ferry_key_to_base64(key, d->cfg.iface.public_key);
	put(o, "interface: %s\n  public key: %s\n  listening port: %u\n  mtu: %u\n", d->name, key,
	    d->port, d->cfg.iface.mtu);
	put(o, "  uptime: %llu s\n", (unsigned long long)((d->loop.now - d->started_ms) / 1000));
	put(o, "  flows: tcp %u, udp %u (stack); %u conversations, %u datagram flows (tunnel)\n",
	    ss->tcp_flows, ss->udp_flows, bs->convs, bs->udp_flows);
	put(o,
	    "  segment buffers: %u of %u in use; %u conversations waiting for them now, %llu "
	    "waits in all; %llu flows refused or reset for none\n",
	    bs->buffers_in_use, bs->buffers, bs->tcp_waiting, (unsigned long long)bs->tcp_waits,
	    (unsigned long long)bs->tcp_nobuf);
	put(o,
	    "  tun: %llu packets in, %llu out; %llu refused by a full queue; %llu of other "
	    "protocols than TCP, UDP and ICMP refused\n",
	    (unsigned long long)d->stats.tun_packets_in,
	    (unsigned long long)d->stats.tun_packets_out,
	    (unsigned long long)d->stats.tun_write_full, (unsigned long long)ss->proto_unreach);
	put(o,
	    "  egress: %llu connects, %llu failed, %llu denied; %llu udp flows, %llu pings (%llu "
	    "not permitted by ping_group_range)\n",
	    (unsigned long long)es->tcp_opened, (unsigned long long)es->tcp_failed,
	    (unsigned long long)es->denied, (unsigned long long)es->udp_opened,
	    (unsigned long long)es->pings_sent, (unsigned long long)bs->echo_not_permitted);
	put(o,
	    "  dropped: %llu malformed datagrams, %llu failed handshakes, %llu data not "
	    "authentic or replayed, %llu protocol errors, %llu no route\n",
	    (unsigned long long)d->set.stats.malformed,
	    (unsigned long long)d->set.stats.handshake_dropped,
	    (unsigned long long)d->set.stats.data_dropped, (unsigned long long)bs->proto_errors,
	    (unsigned long long)bs->no_route);
	put(o,
	    "  handshake load: %s; %llu times on, %llu cookie replies, %llu over an address's "
	    "rate, %llu replayed\n",
	    d->loop.now < d->set.load.until_ms ? "cookies on" : "normal",
	    (unsigned long long)d->set.stats.under_load,
	    (unsigned long long)d->set.stats.cookie_replies_out,
	    (unsigned long long)d->set.noise.stats.hs_source_limited,
	    (unsigned long long)d->set.noise.stats.hs_replayed);
	for (i = 0; i < d->npeers; i++) {
		struct peer_view v;

		view(d, &d->peers[i], &v);
		put(o, "\npeer: %s\n  endpoint: %s\n  state: %s", v.key, v.endpoint, v.state);
		if (v.handshake_s >= 0)
			put(o, ", latest handshake %lld s ago", (long long)v.handshake_s);
		if (v.bs.rtt_ms)
			put(o, ", rtt %u ms", v.bs.rtt_ms);
		put(o, "\n  transfer: %llu B received, %llu B sent; now %.2f Mbit/s in, %.2f out\n",
		    (unsigned long long)v.ls.bytes_in, (unsigned long long)v.ls.bytes_out,
		    (double)d->peers[i].rate_rx * 8 / 1e6, (double)d->peers[i].rate_tx * 8 / 1e6);
		put(o, "  flows open now: tcp %u from here, %u from the peer; udp %u, %u\n",
		    v.bs.tcp_out, v.bs.tcp_in, v.bs.udp_out, v.bs.udp_in);
		put(o,
		    "  loss: %.2f%% seen by FEC, %llu shards rebuilt, %llu groups lost; %llu "
		    "retransmissions\n",
		    fec_loss(&v.ls.fec_dec) * 100, (unsigned long long)v.ls.fec_dec.recovered,
		    (unsigned long long)v.ls.fec_dec.unrecovered,
		    (unsigned long long)v.bs.retransmits);
		put(o,
		    "  dropped: %llu waiting for a session, %llu no buffer, %llu pacer full (%llu "
		    "of them urgent)\n",
		    (unsigned long long)v.ls.wait_dropped, (unsigned long long)v.ls.pool_empty,
		    (unsigned long long)v.ls.pacer_dropped,
		    (unsigned long long)v.ls.pacer_dropped_high);
		congestion_text(o, &v);
	}
}

static void json(const struct ferry_daemon *d, struct out *o)
{
	const struct ferry_stack_stats *ss = ferry_stack_get_stats(d->stack);
	const struct ferry_egress_stats *es = ferry_egress_get_stats(d->egress);
	const struct ferry_bridge_stats *bs = ferry_bridge_get_stats(d->bridge);
	char key[FERRY_KEY_B64_LEN + 1];
	size_t i;

	ferry_key_to_base64(key, d->cfg.iface.public_key);
	put(o, "{\"version\":1,\"interface\":{\"name\":");
	put_str(o, d->name);
	put(o, ",\"public_key\":");
	put_str(o, key);
	put(o, ",\"listen_port\":%u,\"mtu\":%u,\"uptime_s\":%llu,\"instance\":\"%016llx\"", d->port,
	    d->cfg.iface.mtu, (unsigned long long)((d->loop.now - d->started_ms) / 1000),
	    (unsigned long long)ferry_bridge_instance(d->bridge));
	put(o,
	    ",\"tun\":{\"packets_in\":%llu,\"packets_out\":%llu,\"bytes_in\":%llu,"
	    "\"bytes_out\":%llu,\"write_full\":%llu,\"errors\":%llu}",
	    (unsigned long long)d->stats.tun_packets_in,
	    (unsigned long long)d->stats.tun_packets_out, (unsigned long long)d->stats.tun_bytes_in,
	    (unsigned long long)d->stats.tun_bytes_out, (unsigned long long)d->stats.tun_write_full,
	    (unsigned long long)d->stats.tun_errors);
	put(o,
	    ",\"stack\":{\"tcp_flows\":%u,\"udp_flows\":%u,\"tcp_opened\":%llu,"
	    "\"tcp_refused\":%llu,\"tcp_unreach\":%llu,\"proto_unreach\":%llu,"
	    "\"mem_waits\":%llu,\"drops\":%llu,\"syn_deferred\":%llu}",
	    ss->tcp_flows, ss->udp_flows, (unsigned long long)ss->tcp_opened,
	    (unsigned long long)ss->tcp_refused, (unsigned long long)ss->tcp_unreach,
	    (unsigned long long)ss->proto_unreach, (unsigned long long)ss->mem_waits,
	    (unsigned long long)ss->drops[FERRY_STACK_DROP_NOMEM] +
		(unsigned long long)ss->drops[FERRY_STACK_DROP_FLOWS_FULL],
	    (unsigned long long)ss->drops[FERRY_STACK_DROP_BUSY]);
	put(o,
	    ",\"egress\":{\"tcp_opened\":%llu,\"tcp_failed\":%llu,\"denied\":%llu,"
	    "\"udp_opened\":%llu,\"pings\":%llu,\"pings_not_permitted\":%llu}",
	    (unsigned long long)es->tcp_opened, (unsigned long long)es->tcp_failed,
	    (unsigned long long)es->denied, (unsigned long long)es->udp_opened,
	    (unsigned long long)es->pings_sent, (unsigned long long)bs->echo_not_permitted);
	put(o,
	    ",\"tunnel\":{\"conversations\":%u,\"datagram_flows\":%u,\"resets_out\":%llu,"
	    "\"resets_in\":%llu,\"protocol_errors\":%llu,\"no_route\":%llu,"
	    "\"peer_restarts\":%llu,\"buffers\":%u,\"buffers_in_use\":%u,\"waiting\":%u,"
	    "\"waits\":%llu,\"no_buffer\":%llu,\"room_waiting\":%u,\"dead\":%llu,\"idle\":%llu,"
	    "\"lingered\":%llu}",
	    bs->convs, bs->udp_flows, (unsigned long long)bs->tcp_resets_out,
	    (unsigned long long)bs->tcp_resets_in, (unsigned long long)bs->proto_errors,
	    (unsigned long long)bs->no_route, (unsigned long long)bs->peer_restarts, bs->buffers,
	    bs->buffers_in_use, bs->tcp_waiting, (unsigned long long)bs->tcp_waits,
	    (unsigned long long)bs->tcp_nobuf, bs->room_waiting, (unsigned long long)bs->tcp_dead,
	    (unsigned long long)bs->tcp_idle, (unsigned long long)bs->tcp_lingered);
	put(o, ",\"dropped\":{\"malformed\":%llu,\"handshake\":%llu,\"data\":%llu}",
	    (unsigned long long)d->set.stats.malformed,
	    (unsigned long long)d->set.stats.handshake_dropped,
	    (unsigned long long)d->set.stats.data_dropped);
	put(o,
	    ",\"handshake_load\":{\"under_load\":%s,\"times_on\":%llu,\"cookie_replies\":%llu,"
	    "\"source_limited\":%llu,\"replayed\":%llu}}",
	    d->loop.now < d->set.load.until_ms ? "true" : "false",
	    (unsigned long long)d->set.stats.under_load,
	    (unsigned long long)d->set.stats.cookie_replies_out,
	    (unsigned long long)d->set.noise.stats.hs_source_limited,
	    (unsigned long long)d->set.noise.stats.hs_replayed);
	put(o, ",\"peers\":[");
	for (i = 0; i < d->npeers; i++) {
		struct peer_view v;

		view(d, &d->peers[i], &v);
		put(o, "%s{\"public_key\":", i ? "," : "");
		put_str(o, v.key);
		put(o, ",\"endpoint\":");
		if (d->peers[i].link.endpoint.len)
			put_str(o, v.endpoint);
		else
			put(o, "null");
		put(o, ",\"state\":");
		put_str(o, v.state);
		if (v.handshake_s >= 0)
			put(o, ",\"latest_handshake_s\":%lld", (long long)v.handshake_s);
		else
			put(o, ",\"latest_handshake_s\":null");
		put(o,
		    ",\"rtt_ms\":%u,\"rx_bytes\":%llu,\"tx_bytes\":%llu,\"rx_rate_bps\":%llu,"
		    "\"tx_rate_bps\":%llu,\"flow_rx_bytes\":%llu,\"flow_tx_bytes\":%llu",
		    v.bs.rtt_ms, (unsigned long long)v.ls.bytes_in,
		    (unsigned long long)v.ls.bytes_out, (unsigned long long)d->peers[i].rate_rx * 8,
		    (unsigned long long)d->peers[i].rate_tx * 8, (unsigned long long)v.bs.bytes_in,
		    (unsigned long long)v.bs.bytes_out);
		put(o, ",\"flows\":{\"tcp_out\":%u,\"tcp_in\":%u,\"udp_out\":%u,\"udp_in\":%u}",
		    v.bs.tcp_out, v.bs.tcp_in, v.bs.udp_out, v.bs.udp_in);
		put(o,
		    ",\"loss\":%.4f,\"fec\":{\"data_in\":%llu,\"recovered\":%llu,"
		    "\"unrecovered\":%llu,\"parity_out\":%llu},\"retransmits\":%llu",
		    fec_loss(&v.ls.fec_dec), (unsigned long long)v.ls.fec_dec.data_in,
		    (unsigned long long)v.ls.fec_dec.recovered,
		    (unsigned long long)v.ls.fec_dec.unrecovered,
		    (unsigned long long)v.ls.fec_enc.parity_out,
		    (unsigned long long)v.bs.retransmits);
		put(o,
		    ",\"handshakes\":%llu,\"roams\":%llu,\"dropped\":{\"wait\":%llu,"
		    "\"no_buffer\":%llu,\"pacer\":%llu,\"pacer_urgent\":%llu,\"no_endpoint\":%llu}",
		    (unsigned long long)v.ls.handshakes, (unsigned long long)v.ls.roams,
		    (unsigned long long)v.ls.wait_dropped, (unsigned long long)v.ls.pool_empty,
		    (unsigned long long)v.ls.pacer_dropped,
		    (unsigned long long)v.ls.pacer_dropped_high,
		    (unsigned long long)v.ls.no_endpoint);
		put(o, ",\"queued\":{\"urgent\":%u,\"bulk\":%u}",
		    ferry_pacer_depth(&d->peers[i].link.pacer, FERRY_PACER_HIGH),
		    ferry_pacer_depth(&d->peers[i].link.pacer, FERRY_PACER_LOW));
		put(o,
		    ",\"congestion\":{\"mode\":\"%s\",\"state\":\"%s\",\"bandwidth_bps\":%llu,"
		    "\"min_rtt_ms\":%u,\"pacing_bps\":%llu,\"inflight_bytes\":%llu,"
		    "\"cwnd_bytes\":%lld,\"loss\":%.4f,\"parity_ratio\":%.4f,\"lost\":%llu,"
		    "\"acked\":%llu,\"srtt_ms\":%u,\"bw_lo_bps\":%llu,\"rounds\":%llu,"
		    "\"congested_rounds\":%llu,\"queue_rounds\":%llu,\"app_limited_rounds\":%llu,"
		    "\"restarts\":%llu}}",
		    ferry_cc_mode_name(v.cc.mode), ferry_cc_state_name(v.cc.state),
		    (unsigned long long)v.cc.bw * 8, v.cc.min_rtt_ms,
		    (unsigned long long)v.cc.pacing_rate * 8, (unsigned long long)v.cc.inflight,
		    v.cc.cwnd == UINT64_MAX ? -1LL : (long long)v.cc.cwnd, v.cc.loss_pm / 1000.0,
		    v.ls.data_out + v.ls.parity_out
			? (double)v.ls.parity_out / (double)(v.ls.data_out + v.ls.parity_out)
			: 0.0,
		    (unsigned long long)v.cc.lost, (unsigned long long)v.cc.acked, v.cc.srtt_ms,
		    (unsigned long long)v.cc.bw_lo * 8, (unsigned long long)v.cc.rounds,
		    (unsigned long long)v.cc.congested_rounds,
		    (unsigned long long)v.cc.queue_rounds,
		    (unsigned long long)v.cc.app_limited_rounds, (unsigned long long)v.cc.restarts);
	}
	put(o, "]}\n");
}

size_t ferry_daemon_status(const struct ferry_daemon *d, bool as_json, char *buf, size_t cap)
{
	struct out o = {.p = buf, .cap = cap};

	if (!cap)
		return 0;
	buf[0] = '\0';
	if (as_json)
		json(d, &o);
	else
		text(d, &o);
	return o.len;
}
