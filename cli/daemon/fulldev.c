// SPDX-License-Identifier: MIT
/*
 * Full-device mode: everything the machine sends goes through the tunnel, except the
 * tunnel's own datagrams -- wg-quick's policy routing, with ferry's own table and mark.
 *
 * It is on when a peer's AllowedIPs hold a /0 (0.0.0.0/0 or ::/0), except under ferry
 * exec (exec.c), whose namespace has no other link to keep the tunnel out of. Then, with T the
 * table and the mark (FwMark if set, else FERRY_FULLDEV_TABLE):
 *
 *   every socket ferry opens carries SO_MARK T              (net.c, egress: cfg fwmark)
 *   table T:   default dev TUN, for IPv4 and IPv6          (both, whatever AllowedIPs say)
 *   rule 32764: lookup main suppress_prefixlength 0        (the main table's routes win,
 *                                                           but not its default route)
 *   rule 32765: not fwmark T lookup T                      (everything else: the tunnel)
 *
 * A family without a /0 in any AllowedIPs is routed into the TUN all the same, where
 * ferry has no peer for it and refuses it (ICMP unreachable, TCP reset): blocked, never
 * leaked around the tunnel. For IPv4 net.ipv4.conf.all.src_valid_mark is set while up
 * (replies to the marked socket then pass reverse-path filtering), and put back after;
 * its old value is also kept in NAME.src_valid_mark beside the control socket, for the
 * next start after a kill to put back.
 *
 * nftables (table inet ferry-NAME, one transaction through libnftables): as wg-quick, a
 * packet that arrives on another interface addressed to one of the TUN's addresses, from
 * a source that is not local, is dropped before routing (prerouting, raw priority):
 * otherwise anyone on the LAN could reach the tunnel's address from outside it. With
 * `KillSwitch = on`, an output chain lets out only loopback, the TUN, ferry's marked
 * sockets, IPv6 neighbour discovery and DHCP, and rejects the rest: nothing leaves around
 * the tunnel while ferry runs, also while the peer cannot be reached. A table left by a
 * killed ferry of the same name is replaced in the same transaction; until then it keeps
 * blocking (a kill switch fails closed).
 *
 * The rules carry protocol FERRY_FULLDEV_RULE_PROTO (`ip rule` shows "proto 77"): at
 * start, rules of that protocol whose table has no routes left were made by a ferry that
 * was killed (its TUN, and with it the table's routes, went with the process) and are
 * removed; one whose table still has routes belongs to a running ferry, and full-device
 * mode is refused. Everything is undone in reverse order on exit, and on any failure
 * half-way. The routes need no undoing: closing the TUN takes them.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/daemon/internal.h"
#include "tun/nft.h"

#define SRC_VALID_MARK "/proc/sys/net/ipv4/conf/all/src_valid_mark"

static const int families[2] = {AF_INET, AF_INET6};

static void nl_fail(struct ferry_daemon *d, const struct ferry_nl *nl, const char *what, int err)
{
	ferry_log(&d->log, FERRY_LOG_ERROR, "full-device: %s: %s%s%s", what, strerror(-err),
		  nl->error[0] ? ": " : "", nl->error);
}

void ferry_daemon_fulldev_plan(struct ferry_daemon *d)
{
	struct ferry_daemon_fulldev *f = &d->fulldev;
	size_t i, k;

	memset(f, 0, sizeof(*f));
	f->src_valid_mark = -1;
	if (d->opts.exec_argv)
		return; /* the namespace has no other route: a plain default one does */
	for (i = 0; i < d->cfg.npeers; i++)
		for (k = 0; k < d->cfg.peers[i].allowed_ips.n; k++)
			if (d->cfg.peers[i].allowed_ips.v[k].prefix.len == 0)
				f->on = true;
	if (!f->on)
		return;
	if (!d->cfg.iface.fwmark)
		d->cfg.iface.fwmark = FERRY_FULLDEV_TABLE;
	f->table = d->cfg.iface.fwmark;
}

/* Reads an integer sysctl; -1 if it cannot. */
static int sysctl_get(const char *path)
{
	char buf[16] = {0}, *end;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;
	long v;

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	v = strtol(buf, &end, 10);
	return end != buf && (*end == '\n' || !*end) && v >= 0 && v <= 1000000 ? (int)v : -1;
}

/* Writes an integer to a sysctl (or, creating it, to the file that keeps one). */
static int sysctl_set(const char *path, int value)
{
	char buf[16];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600), len, err = 0;

	if (fd < 0)
		return -errno;
	len = snprintf(buf, sizeof(buf), "%d\n", value);
	if (write(fd, buf, (size_t)len) != len)
		err = -errno;
	close(fd);
	return err;
}

/* The file that keeps the sysctl's old value: beside the control socket. */
static int saved_path(const struct ferry_daemon *d, char *out, size_t cap)
{
	char dir[96];
	int err = ferry_control_dir(d->opts.run_dir, dir, sizeof(dir));

	if (!err && (size_t)snprintf(out, cap, "%s/%s.src_valid_mark", dir, d->name) >= cap)
		err = -ENAMETOOLONG;
	return err;
}

/* Puts back the sysctl a killed ferry of this name changed. */
static void restore_left_sysctl(struct ferry_daemon *d, const char *saved)
{
	int old = sysctl_get(saved), err;

	if (old < 0)
		return;
	err = sysctl_set(SRC_VALID_MARK, old);
	if (err) {
		ferry_log(&d->log, FERRY_LOG_ERROR, "full-device: putting back %s from %s: %s",
			  SRC_VALID_MARK, saved, strerror(-err));
		return;
	}
	unlink(saved);
	ferry_log(&d->log, FERRY_LOG_WARN,
		  "full-device: put back src_valid_mark = %d, left by a ferry that was killed",
		  old);
}

/* Sets src_valid_mark if it is off, keeping the old value. 0 or a negative errno. */
static int src_valid_mark_on(struct ferry_daemon *d)
{
	struct ferry_daemon_fulldev *f = &d->fulldev;
	char saved[160];
	int old, err = saved_path(d, saved, sizeof(saved));

	if (err)
		return err;
	restore_left_sysctl(d, saved);
	old = sysctl_get(SRC_VALID_MARK);
	if (old != 0)
		return 0;
	err = sysctl_set(saved, 0) == 0 ? 0 : -EIO;
	if (!err) {
		f->src_valid_mark = 0;
		err = sysctl_set(SRC_VALID_MARK, 1);
	}
	if (err)
		ferry_log(&d->log, FERRY_LOG_ERROR, "full-device: %s: %s", SRC_VALID_MARK,
			  strerror(-err));
	return err;
}

/* Removes the rules a killed ferry left; refuses (-EBUSY) if a running one owns some. */
static int clear_stale(struct ferry_daemon *d, struct ferry_nl *nl)
{
	struct ferry_nl_rule rules[16];
	size_t n, i, routes, removed = 0;
	int fi, err;

	for (fi = 0; fi < 2; fi++) {
		err = ferry_nl_rule_list(nl, families[fi], FERRY_FULLDEV_RULE_PROTO, rules,
					 sizeof(rules) / sizeof(rules[0]), &n);
		if (err) {
			nl_fail(d, nl, "listing rules", err);
			return err;
		}
		n = n < sizeof(rules) / sizeof(rules[0]) ? n : sizeof(rules) / sizeof(rules[0]);
		for (i = 0; i < n; i++) {
			if (rules[i].table == FERRY_FULLDEV_MAIN)
				continue;
			err = ferry_nl_route_count(nl, families[fi], rules[i].table, &routes);
			if (err) {
				nl_fail(d, nl, "listing routes", err);
				return err;
			}
			if (routes) {
				ferry_log(&d->log, FERRY_LOG_ERROR,
					  "full-device: table %u is in use by another ferry in "
					  "full-device mode; stop it first",
					  rules[i].table);
				return -EBUSY;
			}
		}
		for (i = 0; i < n; i++) {
			err = ferry_nl_rule_del(nl, &rules[i]);
			if (err && err != -ENOENT) {
				nl_fail(d, nl, "removing a stale rule", err);
				return err;
			}
			removed++;
		}
	}
	if (removed)
		ferry_log(&d->log, FERRY_LOG_WARN,
			  "full-device: removed %zu rule%s left by a ferry that was killed",
			  removed, removed == 1 ? "" : "s");
	return 0;
}

static int add_rule(struct ferry_daemon *d, struct ferry_nl *nl, const struct ferry_nl_rule *r)
{
	struct ferry_daemon_fulldev *f = &d->fulldev;
	int err = ferry_nl_rule_add(nl, r);

	if (err) {
		nl_fail(d, nl, "adding a rule", err);
		return err;
	}
	f->rules[f->nrules++] = *r;
	return 0;
}

/* The script is built with snprintf at *len; past the end, *len only grows (and the
 * script is refused as too long), so that no write goes beyond the buffer. */
static size_t room(size_t len)
{
	return len < FERRY_FULLDEV_SCRIPT_MAX ? FERRY_FULLDEV_SCRIPT_MAX - len : 0;
}

static void advance(size_t *len, int n)
{
	*len = n < 0 ? FERRY_FULLDEV_SCRIPT_MAX : *len + (size_t)n;
}

#define PUT(buf, len, ...)                                                                \
	advance((len), snprintf((buf) + (*(len) < FERRY_FULLDEV_SCRIPT_MAX ? *(len) : 0), \
				room(*(len)), __VA_ARGS__))

/* The anti-spoofing rule for the TUN's addresses of one family (none: no rule). */
static void put_spoof_rule(const struct ferry_daemon *d, char *buf, size_t *len, int family)
{
	const struct ferry_prefix_list *a = &d->cfg.iface.addresses;
	bool first = true;
	size_t i;

	for (i = 0; i < a->n; i++) {
		char text[INET6_ADDRSTRLEN];

		if (a->v[i].prefix.family != family)
			continue;
		inet_ntop(family, a->v[i].prefix.addr, text, sizeof(text));
		PUT(buf, len, "%s%s", first ? "" : ", ", text);
		first = false;
	}
}

/* Builds the nftables script: the table replaced, the raw anti-spoofing chain, and the
 * kill switch's output chain. Returns false if it does not fit (it always should). */
static bool nft_script(const struct ferry_daemon *d, char *buf, size_t *len)
{
	static const int fams[2] = {AF_INET, AF_INET6};
	static const char *const kw[2] = {"ip", "ip6"};
	const char *t = d->fulldev.nft_table;
	int fi;
	size_t i;

	*len = 0;
	/* add first, so that the delete finds a table whether or not one was left */
	PUT(buf, len, "add table inet %s\ndelete table inet %s\nadd table inet %s\n", t, t, t);
	PUT(buf, len,
	    "add chain inet %s preraw { type filter hook prerouting priority raw; policy "
	    "accept; }\n",
	    t);
	for (fi = 0; fi < 2; fi++) {
		bool any = false;

		for (i = 0; i < d->cfg.iface.addresses.n; i++)
			any |= d->cfg.iface.addresses.v[i].prefix.family == fams[fi];
		if (!any)
			continue;
		PUT(buf, len, "add rule inet %s preraw iifname != \"%s\" %s daddr { ", t, d->name,
		    kw[fi]);
		put_spoof_rule(d, buf, len, fams[fi]);
		PUT(buf, len, " } fib saddr type != local counter drop\n");
	}
	if (d->cfg.iface.kill_switch) {
		PUT(buf, len,
		    "add chain inet %s output { type filter hook output priority filter; policy "
		    "accept; }\n",
		    t);
		PUT(buf, len, "add rule inet %s output oifname \"lo\" accept\n", t);
		PUT(buf, len, "add rule inet %s output oifname \"%s\" accept\n", t, d->name);
		PUT(buf, len, "add rule inet %s output meta mark 0x%x accept\n", t,
		    d->fulldev.table);
		PUT(buf, len,
		    "add rule inet %s output icmpv6 type { nd-router-solicit, nd-neighbor-solicit, "
		    "nd-neighbor-advert } accept\n",
		    t);
		PUT(buf, len, "add rule inet %s output udp sport 68 udp dport 67 accept\n", t);
		PUT(buf, len, "add rule inet %s output udp sport 546 udp dport 547 accept\n", t);
		PUT(buf, len,
		    "add rule inet %s output counter reject with icmpx type admin-prohibited\n", t);
	}
	return *len < FERRY_FULLDEV_SCRIPT_MAX;
}

static int nft_up(struct ferry_daemon *d)
{
	struct ferry_daemon_fulldev *f = &d->fulldev;
	char *script = malloc(FERRY_FULLDEV_SCRIPT_MAX), error[FERRY_NFT_ERROR_MAX];
	size_t len;
	int err;

	if (!script)
		return -ENOMEM;
	snprintf(f->nft_table, sizeof(f->nft_table), "ferry-%s", d->name);
	err = nft_script(d, script, &len) ? ferry_nft_run(script, NULL, 0, error) : -E2BIG;
	free(script);
	if (err) {
		ferry_log(&d->log, FERRY_LOG_ERROR, "full-device: nftables table inet %s: %s",
			  f->nft_table, err == -EINVAL ? error : strerror(-err));
		return err;
	}
	f->nft = true;
	return 0;
}

static void nft_down(struct ferry_daemon *d)
{
	struct ferry_daemon_fulldev *f = &d->fulldev;
	char script[64], error[FERRY_NFT_ERROR_MAX];
	int err;

	if (!f->nft)
		return;
	snprintf(script, sizeof(script), "delete table inet %s", f->nft_table);
	err = ferry_nft_run(script, NULL, 0, error);
	if (err)
		ferry_log(&d->log, FERRY_LOG_ERROR, "full-device: removing table inet %s: %s",
			  f->nft_table, err == -EINVAL ? error : strerror(-err));
	f->nft = false;
}

int ferry_daemon_fulldev_up(struct ferry_daemon *d, struct ferry_nl *nl)
{
	static const uint8_t any[16] = {0};
	struct ferry_daemon_fulldev *f = &d->fulldev;
	int fi, err;

	if (!f->on)
		return 0;
	err = clear_stale(d, nl);
	if (err)
		return err;
	for (fi = 0; fi < 2; fi++) {
		struct ferry_nl_rule suppress = {.family = families[fi],
						 .priority = FERRY_FULLDEV_PRIORITY,
						 .table = FERRY_FULLDEV_MAIN,
						 .suppress_prefixlen = 0,
						 .protocol = FERRY_FULLDEV_RULE_PROTO};
		struct ferry_nl_rule tunnel = {.family = families[fi],
					       .priority = FERRY_FULLDEV_PRIORITY + 1,
					       .table = f->table,
					       .match_mark = true,
					       .invert = true,
					       .mark = f->table,
					       .suppress_prefixlen = -1,
					       .protocol = FERRY_FULLDEV_RULE_PROTO};

		err = ferry_nl_route_add(nl, d->tun.ifindex, families[fi], any, 0, f->table);
		if (err) {
			nl_fail(d, nl,
				families[fi] == AF_INET ? "default route" : "IPv6 default route",
				err);
			goto undo;
		}
		err = add_rule(d, nl, &suppress);
		if (!err)
			err = add_rule(d, nl, &tunnel);
		if (err)
			goto undo;
	}
	err = src_valid_mark_on(d);
	if (!err)
		err = nft_up(d);
	if (err)
		goto undo;
	ferry_log(&d->log, FERRY_LOG_INFO,
		  "full-device: all traffic through %s (table %u, mark 0x%x, rules %u and %u, "
		  "nftables table inet %s%s)",
		  d->name, f->table, f->table, FERRY_FULLDEV_PRIORITY, FERRY_FULLDEV_PRIORITY + 1,
		  f->nft_table, d->cfg.iface.kill_switch ? " with the kill switch" : "");
	return 0;

undo:
	ferry_daemon_fulldev_down(d);
	return err;
}

void ferry_daemon_fulldev_down(struct ferry_daemon *d)
{
	struct ferry_daemon_fulldev *f = &d->fulldev;
	struct ferry_nl nl;
	int err;

	nft_down(d);
	if (!f->nrules && f->src_valid_mark < 0)
		return;
	if (f->src_valid_mark >= 0) {
		char saved[160];

		err = sysctl_set(SRC_VALID_MARK, f->src_valid_mark);
		if (err)
			ferry_log(&d->log, FERRY_LOG_ERROR, "full-device: restoring %s: %s",
				  SRC_VALID_MARK, strerror(-err));
		else if (saved_path(d, saved, sizeof(saved)) == 0)
			unlink(saved);
		f->src_valid_mark = -1;
	}
	err = ferry_nl_open(&nl);
	if (err) {
		ferry_log(&d->log, FERRY_LOG_ERROR,
			  "full-device: netlink: %s; rules left behind "
			  "(the next start removes them)",
			  strerror(-err));
		f->nrules = 0;
		return;
	}
	/* the tunnel rule first: traffic goes back to the main table's default at once */
	while (f->nrules) {
		const struct ferry_nl_rule *r = &f->rules[--f->nrules];

		err = ferry_nl_rule_del(&nl, r);
		if (err && err != -ENOENT)
			nl_fail(d, &nl, "removing a rule", err);
	}
	ferry_nl_close(&nl);
}
