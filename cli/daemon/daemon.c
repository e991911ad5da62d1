// SPDX-License-Identifier: MIT
/*
 * The daemon's owner (see daemon.h for the theory of operation): start in order, run the
 * loop, tear down in reverse. This file also holds what joins the modules to the loop:
 * one loop timer per module (stack, egress, links, bridge) armed at its next deadline at
 * the end of every turn, the descriptors egress asks to watch, and the end of a turn,
 * where what the turn produced leaves: the stack's ACKs, the bridge's conversations, the
 * links' payloads and, through them, one sendmmsg per batch.
 *
 * Teardown order matters (stack/bridge.h): the bridge's peers are removed first (their
 * flows reset, the peers told), their resets flushed through the links, then the stack
 * (its flows' ends reach the bridge), egress (it unwatches through the bridge), the
 * bridge, the links, the sockets, the TUN (the device goes with it), the control socket.
 */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "cli/command.h"
#include "cli/daemon/internal.h"
#include "tun/netns.h"

/* ---- the modules' timers and the end of a turn -------------------------------------- */

static void stack_timer(struct ferry_loop *loop, struct ferry_timer *t, uint64_t now)
{
	struct ferry_daemon *d = ferry_container_of(t, struct ferry_daemon, t_stack);

	(void)loop;
	ferry_stack_timer(d->stack, now);
}

static void egress_timer(struct ferry_loop *loop, struct ferry_timer *t, uint64_t now)
{
	struct ferry_daemon *d = ferry_container_of(t, struct ferry_daemon, t_egress);

	(void)loop;
	ferry_egress_timer(d->egress, now);
}

static void link_timer(struct ferry_loop *loop, struct ferry_timer *t, uint64_t now)
{
	struct ferry_daemon *d = ferry_container_of(t, struct ferry_daemon, t_link);

	(void)loop;
	ferry_link_set_timer(&d->set, now);
}

static void bridge_timer(struct ferry_loop *loop, struct ferry_timer *t, uint64_t now)
{
	struct ferry_daemon *d = ferry_container_of(t, struct ferry_daemon, t_bridge);

	(void)loop;
	ferry_bridge_timer(d->bridge, now);
}

/* Whether this process may open ping sockets (net.ipv4.ping_group_range holds its group),
 * which egress needs to answer peers' pings; the daemon says at start if not. */
static bool ping_permitted(unsigned *lo, unsigned *hi)
{
	FILE *f = fopen("/proc/sys/net/ipv4/ping_group_range", "re");
	char line[64], *end;
	bool ok = true;

	if (!f)
		return true; /* cannot tell: egress will count it */
	if (fgets(line, sizeof(line), f)) {
		unsigned long a = strtoul(line, &end, 10), b = strtoul(end, NULL, 10);

		*lo = (unsigned)a;
		*hi = (unsigned)b;
		ok = getgid() >= a && getgid() <= b;
	}
	fclose(f);
	return ok;
}

static void ping_warning(struct ferry_daemon *d)
{
	unsigned lo = 1, hi = 0;

	if (d->warned_ping || ping_permitted(&lo, &hi))
		return;
	d->warned_ping = true;
	ferry_log(&d->log, FERRY_LOG_WARN,
		  "pings from the peers go unanswered: ICMP echo needs net.ipv4.ping_group_range "
		  "(now \"%u %u\") to include group %u: sysctl -w "
		  "net.ipv4.ping_group_range=\"0 2147483647\"",
		  lo, hi, (unsigned)getgid());
}

static void sample_timer(struct ferry_loop *loop, struct ferry_timer *t, uint64_t now)
{
	struct ferry_daemon *d = ferry_container_of(t, struct ferry_daemon, t_sample);

	ferry_daemon_peers_sample(d);
	if (ferry_bridge_get_stats(d->bridge)->echo_not_permitted)
		ping_warning(d); /* the sysctl changed since the start */
	ferry_timer_arm(loop, t, now + FERRY_DAEMON_SAMPLE_MS);
}

static void arm(struct ferry_loop *loop, struct ferry_timer *t, uint64_t deadline)
{
	if (deadline == UINT64_MAX)
		ferry_timer_cancel(loop, t);
	else if (!ferry_timer_armed(t) || t->deadline != deadline)
		ferry_timer_arm(loop, t, deadline); /* -ENOMEM: the next turn tries again */
}

static void turn_end(struct ferry_loop *loop, void *ctx, uint64_t now)
{
	struct ferry_daemon *d = ctx;

	ferry_stack_flush(d->stack); /* flows woken for memory: the bridge runs them now */
	ferry_bridge_flush(d->bridge, now);
	ferry_stack_flush(d->stack); /* and what it queued toward applications leaves */
	ferry_link_set_flush(&d->set, now);
	arm(loop, &d->t_stack, ferry_stack_next_deadline(d->stack, now));
	arm(loop, &d->t_egress, ferry_egress_next_deadline(d->egress, now));
	arm(loop, &d->t_link, ferry_link_set_next_deadline(&d->set, now));
	arm(loop, &d->t_bridge, ferry_bridge_next_deadline(d->bridge, now));
}

static void dump(struct ferry_loop *loop, void *ctx)
{
	struct ferry_daemon *d = ctx;
	char *line, *next;

	(void)loop;
	ferry_daemon_status(d, false, d->answer, sizeof(d->answer));
	for (line = d->answer; *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		else
			next = line + strlen(line);
		ferry_log(&d->log, FERRY_LOG_INFO, "%s", line);
	}
}

/* ---- egress's descriptors ------------------------------------------------------------ */

static void watch_io(struct ferry_loop *loop, struct ferry_io *io, uint32_t events, uint64_t now)
{
	struct ferry_daemon_watch *w = ferry_container_of(io, struct ferry_daemon_watch, io);
	uint32_t mask = (events & EPOLLIN ? FERRY_EGRESS_READ : 0) |
			(events & EPOLLOUT ? FERRY_EGRESS_WRITE : 0) |
			(events & (EPOLLERR | EPOLLHUP) ? FERRY_EGRESS_ERROR : 0);

	(void)loop;
	ferry_egress_io(w->d->egress, w->cookie, mask, now);
}

static int d_watch(void *ctx, int fd, uint32_t events, uint64_t cookie)
{
	struct ferry_daemon *d = ctx;
	uint32_t ev = (events & FERRY_EGRESS_READ ? EPOLLIN : 0) |
		      (events & FERRY_EGRESS_WRITE ? EPOLLOUT : 0);
	struct ferry_daemon_watch *w;
	int err;

	if (fd < 0)
		return -EBADF;
	if ((size_t)fd >= d->nwatches) {
		size_t n = (size_t)fd * 2 + 64;
		struct ferry_daemon_watch **grown =
		    realloc(d->watches, n * sizeof(struct ferry_daemon_watch *));

		if (!grown)
			return -ENOMEM;
		memset(grown + d->nwatches, 0,
		       (n - d->nwatches) * sizeof(struct ferry_daemon_watch *));
		d->watches = grown;
		d->nwatches = n;
	}
	w = d->watches[fd];
	if (w) {
		w->cookie = cookie;
		return ferry_loop_mod(&d->loop, &w->io, ev);
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->d = d;
	w->cookie = cookie;
	w->io = (struct ferry_io){.fd = fd, .events = ev, .kind = FERRY_IO_EGRESS, .fn = watch_io};
	err = ferry_loop_add(&d->loop, &w->io);
	if (err) {
		free(w);
		return err;
	}
	d->watches[fd] = w;
	return 0;
}

static void d_unwatch(void *ctx, int fd)
{
	struct ferry_daemon *d = ctx;
	struct ferry_daemon_watch *w = fd >= 0 && (size_t)fd < d->nwatches ? d->watches[fd] : NULL;

	if (!w)
		return;
	ferry_loop_del(&d->loop, &w->io);
	free(w);
	d->watches[fd] = NULL;
}

/* ---- the bridge's ops --------------------------------------------------------------- */

static int d_tun_write(void *ctx, const uint8_t *pkt, size_t len)
{
	return ferry_daemon_tun_write(ctx, pkt, len);
}

static int d_send_segments(void *ctx, void *link, const uint8_t *segs, size_t len, bool thin,
			   uint64_t now)
{
	(void)ctx;
	return ferry_link_send_segments(link, segs, len, thin, now);
}

static int d_send_datagram(void *ctx, void *link, uint32_t flow_id, const uint8_t *data, size_t len,
			   uint64_t now)
{
	(void)ctx;
	return ferry_link_send_datagram(link, flow_id, data, len, now);
}

static uint32_t d_room(void *ctx, void *link)
{
	(void)ctx;
	return ferry_link_room(link);
}

static uint32_t d_urgent_room(void *ctx, void *link)
{
	(void)ctx;
	return ferry_link_urgent_room(link);
}

static const struct ferry_bridge_ops bridge_ops = {
    .tun_write = d_tun_write,
    .watch = d_watch,
    .unwatch = d_unwatch,
    .send_segments = d_send_segments,
    .send_datagram = d_send_datagram,
    .room = d_room,
    .urgent_room = d_urgent_room,
    .route = ferry_daemon_route,
    .source_ok = ferry_daemon_source_ok,
};

/* ---- start --------------------------------------------------------------------------- */

static bool ifname_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len >= IFNAMSIZ)
		return false;
	for (i = 0; i < len; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_=+.-",
			    s[i]))
			return false;
	return true;
}

/* --name, else the file's name without ".conf" (as wg-quick: wg0.conf is wg0), else
 * ferry0. */
static int choose_name(struct ferry_daemon *d)
{
	char path[4096];
	const char *base;
	size_t len;

	if (d->opts.name) {
		if (!ifname_ok(d->opts.name, strlen(d->opts.name))) {
			fprintf(stderr,
				"ferry up: --name \"%s\": expected an interface name of 1..15 "
				"letters, digits or _=+.-\n",
				d->opts.name);
			return -EINVAL;
		}
		snprintf(d->name, sizeof(d->name), "%s", d->opts.name);
		return 0;
	}
	snprintf(path, sizeof(path), "%s", d->opts.config_path);
	base = basename(path);
	len = strlen(base);
	if (len > 5 && strcmp(base + len - 5, ".conf") == 0)
		len -= 5;
	if (ifname_ok(base, len))
		snprintf(d->name, sizeof(d->name), "%.*s", (int)len, base);
	else
		snprintf(d->name, sizeof(d->name), "ferry0");
	return 0;
}

static int load_config(struct ferry_daemon *d)
{
	struct ferry_config_diag diag = {0};
	unsigned int i;
	int err = ferry_config_load_flags(
	    &d->cfg, d->opts.config_path,
	    d->opts.insecure_key_file ? FERRY_CONFIG_INSECURE_KEY_FILE : 0, &diag);

	for (i = 0; i < diag.count; i++)
		fprintf(stderr, "%s\n", diag.msg[i].text);
	if (err && diag.errors)
		fprintf(stderr, "ferry up: %s: %u error%s, not starting\n", d->opts.config_path,
			diag.errors, diag.errors == 1 ? "" : "s");
	return err;
}

/* The interface's Egress rules, then its own tunnel addresses allowed (a peer reaches a
 * service on this end's tunnel address, as with WireGuard), then every other address of
 * this host denied, then egress's built-in denies (loopback, link-local). */
static int build_policy(struct ferry_daemon *d, struct ferry_policy *policy)
{
	size_t i;
	int err;

	*policy = d->cfg.iface.egress;
	for (i = 0; i < d->cfg.iface.addresses.n; i++) {
		const struct ferry_prefix *a = &d->cfg.iface.addresses.v[i].prefix;
		struct ferry_policy_rule rule = {.action = FERRY_POLICY_ALLOW, .port_max = 65535};

		ferry_prefix_host(&rule.prefix, a->family, a->addr);
		err = ferry_policy_add(policy, &rule);
		if (err)
			return err;
	}
	err = ferry_policy_deny_host_addresses(policy);
	return err < 0 ? err : 0;
}

_Static_assert((int)FERRY_CONFIG_MTU_MIN >= (int)FERRY_STACK_MTU_MIN &&
		   (int)FERRY_CONFIG_MTU_MAX <= (int)FERRY_STACK_MTU_MAX,
	       "the stack takes every TUN MTU the configuration accepts");

static void arq_from_config(struct ferry_bridge_config *bc, const struct ferry_config_arq *arq)
{
	ferry_bridge_config_default(bc, arq->profile);
	if (arq->profile == FERRY_ARQ_PROFILE_MANUAL) {
		bc->arq.nodelay = arq->nodelay;
		bc->arq.interval = arq->interval_ms;
		bc->arq.resend = arq->resend;
		bc->arq.nc = arq->nocongestion;
		bc->arq.min_rto = 0;
	}
}

static uint64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int modules_up(struct ferry_daemon *d)
{
	struct ferry_link_set_config sc = {
	    .now = d->loop.now,
	    .realtime_ns = realtime_ns(),
	    .ops = {.output = ferry_daemon_net_output, .ctx = d},
	};
	struct ferry_bridge_config bc;
	struct ferry_stack_config stc;
	struct ferry_egress_config ec;
	struct ferry_wire_sizes sizes;
	struct ferry_policy *policy;
	int err;

	memcpy(sc.noise.static_private, d->cfg.iface.private_key, FERRY_KEY_LEN);
	err = ferry_link_set_init(&d->set, &sc);
	sodium_memzero(&sc, sizeof(sc));
	if (err) {
		ferry_log(&d->log, FERRY_LOG_ERROR, "secure link: %s", strerror(-err));
		return err;
	}
	/* Two MTUs, each the start of its own chain (docs/mtu.md): the links' path MTU gives
	 * the ARQ's datagrams and the datagram channel's room, the TUN's gives the stack's
	 * netif and the applications' MSS. */
	arq_from_config(&bc, &d->cfg.iface.arq);
	err = ferry_daemon_link_sizes(d, &sizes);
	if (!err)
		err = ferry_bridge_create(&d->bridge, &bc, &sizes, &bridge_ops, d);
	if (err) {
		ferry_log(&d->log, FERRY_LOG_ERROR, "bridge: %s", strerror(-err));
		return err;
	}
	ferry_log(&d->log, FERRY_LOG_DEBUG,
		  "sizes: TUN MTU %u; path MTU %u: ARQ datagram %u (MSS %u), UDP payload up to %u",
		  d->cfg.iface.mtu, sizes.mtu, sizes.record_body, sizes.arq_mss, sizes.udp_max);
	ferry_stack_config_default(&stc);
	stc.mtu = d->cfg.iface.mtu;
	err = ferry_stack_create(&d->stack, &stc, &ferry_bridge_stack_ops, d->bridge, d->loop.now);
	if (err) {
		ferry_log(&d->log, FERRY_LOG_ERROR, "stack: %s", strerror(-err));
		return err;
	}
	policy = malloc(sizeof(*policy));
	if (!policy)
		return -ENOMEM;
	err = build_policy(d, policy);
	ferry_egress_config_default(&ec);
	ec.mark = d->cfg.iface.fwmark;
	ec.transparent = d->cfg.iface.egress_transparent;
	ec.policy = policy;
	if (!err)
		err = ferry_egress_create(&d->egress, &ec, &ferry_bridge_egress_ops, d->bridge);
	free(policy);
	if (err) {
		ferry_log(&d->log, FERRY_LOG_ERROR, "egress: %s", strerror(-err));
		return err;
	}
	ferry_bridge_attach(d->bridge, d->stack, d->egress);
	return 0;
}

static void teardown(struct ferry_daemon *d)
{
	size_t i;

	ferry_daemon_exec_stop(d); /* the command first: it loses its tunnel next */
	ferry_daemon_hooks_run(d, FERRY_HOOK_PRE_DOWN);
	/* the bridge's peers: flows reset, peers told, the resets flushed */
	for (i = 0; i < d->npeers; i++)
		if (d->peers[i].bp) {
			ferry_bridge_peer_remove(d->peers[i].bp);
			d->peers[i].bp = NULL;
		}
	if (d->set.ops.output)
		ferry_link_set_flush(&d->set, d->loop.now);
	ferry_stack_destroy(d->stack);
	ferry_egress_destroy(d->egress);
	ferry_bridge_destroy(d->bridge);
	ferry_daemon_peers_down(d); /* the links */
	ferry_link_set_destroy(&d->set);
	ferry_daemon_net_down(d);
	ferry_daemon_dns_down(d);
	ferry_daemon_site_down(d);
	ferry_daemon_fulldev_down(d); /* before the TUN: its rules, then its table */
	ferry_daemon_sysctl_restore(d);
	if (d->tun.fd >= 0) {
		ferry_loop_del(&d->loop, &d->tun_io);
		ferry_daemon_device_down(d);
	}
	ferry_daemon_hooks_run(d, FERRY_HOOK_POST_DOWN);
	ferry_daemon_control_down(d);
	for (i = 0; i < d->nwatches; i++)
		free(d->watches[i]);
	free(d->watches);
	ferry_loop_destroy(&d->loop);
	ferry_config_free(&d->cfg);
}

/* Egress holds one descriptor per flow it opened (16,384 at most), so ferry raises its own
 * soft limit to the hard one, as the kernel's defaults (1,024 soft, 4,096 or systemd's
 * 524,288 hard) expect of a program that needs many; the command of ferry exec gets
 * the limit ferry was given. */
static void raise_nofile(struct ferry_daemon *d)
{
	struct rlimit rl;

	d->nofile_given = RLIM_INFINITY;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	d->nofile_given = rl.rlim_cur;
	if (rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		ferry_log(&d->log, FERRY_LOG_WARN, "raising the descriptor limit to %llu: %s",
			  (unsigned long long)rl.rlim_max, strerror(errno));
}

int ferry_daemon_run(const struct ferry_daemon_options *opts)
{
	struct ferry_daemon *d = calloc(1, sizeof(*d));
	int err, status = FERRY_EXIT_FAIL;

	if (!d)
		return FERRY_EXIT_FAIL;
	d->opts = *opts;
	d->log.level = opts->level;
	d->tun.fd = -1;
	d->udp[0].fd = d->udp[1].fd = -1;
	d->exec.ns_fd = -1;
	d->exec.io.fd = -1;
	d->t_stack.fn = stack_timer;
	d->t_egress.fn = egress_timer;
	d->t_link.fn = link_timer;
	d->t_bridge.fn = bridge_timer;
	d->t_sample.fn = sample_timer;
	if (ferry_daemon_privilege_undumpable(d) || choose_name(d) || load_config(d)) {
		free(d);
		return FERRY_EXIT_FAIL;
	}
	d->log.name = d->name;
	raise_nofile(d);
	if (ferry_daemon_privilege_init(d)) { /* User resolved before anything is set up */
		ferry_config_free(&d->cfg);
		free(d);
		return FERRY_EXIT_FAIL;
	}
	if (opts->exec_argv && d->cfg.iface.hooks.first_line)
		ferry_log(&d->log, FERRY_LOG_WARN,
			  "the hooks (line %u) are not run: ferry exec's namespace is its own",
			  d->cfg.iface.hooks.first_line);
	if (opts->exec_argv && d->cfg.iface.table_line)
		ferry_log(&d->log, FERRY_LOG_WARN,
			  "Table (line %u) is not used: ferry exec routes in its own namespace",
			  d->cfg.iface.table_line);
	ferry_daemon_fulldev_plan(d); /* the mark, before the sockets open */
	err = ferry_loop_init(&d->loop);
	if (err) {
		ferry_config_free(&d->cfg);
		free(d);
		return FERRY_EXIT_FAIL;
	}
	d->started_ms = d->loop.now;
	err = ferry_loop_handle_signals(&d->loop, dump, d);
	if (!err)
		err = ferry_daemon_control_up(d);
	if (!err)
		ferry_daemon_sysctl_recover(d); /* a killed ferry's note: beside its socket */
	if (!err)
		err = ferry_daemon_net_up(d);
	if (!err && d->opts.exec_argv) {
		d->exec.ns_fd = ferry_netns_new(); /* the sockets above stay outside it */
		err = d->exec.ns_fd < 0 ? d->exec.ns_fd : 0;
		if (err)
			ferry_log(&d->log, FERRY_LOG_ERROR, "a network namespace: %s",
				  strerror(-err));
	}
	if (!err)
		err = modules_up(d);
	if (!err)
		err = ferry_daemon_peers_up(d);
	if (!err)
		err = ferry_daemon_hooks_run(d, FERRY_HOOK_PRE_UP);
	if (!err)
		err = ferry_daemon_device_up(d);
	if (!err)
		err = ferry_daemon_dns_up(d);
	if (!err)
		err = ferry_daemon_hooks_run(d, FERRY_HOOK_POST_UP);
	if (!err && d->opts.exec_argv)
		err = ferry_daemon_exec_start(d);
	if (!err) {
		d->tun_io = (struct ferry_io){.fd = d->tun.fd,
					      .events = EPOLLIN,
					      .kind = FERRY_IO_TUN,
					      .fn = ferry_daemon_tun_io};
		err = ferry_loop_add(&d->loop, &d->tun_io);
	}
	if (!err)
		err = ferry_daemon_privilege_drop(d); /* all is set up: keep only what is needed */
	if (!err) {
		ping_warning(d);
		ferry_loop_on_turn_end(&d->loop, turn_end, d);
		ferry_timer_arm(&d->loop, &d->t_sample, d->loop.now + FERRY_DAEMON_SAMPLE_MS);
		ferry_log(&d->log, FERRY_LOG_INFO, "up: %zu peer%s, control socket %s", d->npeers,
			  d->npeers == 1 ? "" : "s", d->control_path);
		err = ferry_loop_run(&d->loop);
		if (!err)
			status = FERRY_EXIT_OK;
		ferry_log(&d->log, FERRY_LOG_INFO, "stopped");
	}
	teardown(d);
	if (d->exec.pid > 0)
		status = d->exec.status; /* the command ran: its status is ferry exec's */
	free(d);
	return status;
}
