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
 * (replies to the marked socket then pass reverse-path filtering), and put back after
 * (sysctl.c).
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
 * The rules carry protocol FERRY_FULLDEV_RULE_PROTO (`ip rule` shows "proto 77"), as do
 * site-to-site mode's (site.c): at start, rules of that protocol whose table has no
 * routes left were made by a ferry that was killed (its TUN, and with it the table's
 * routes, went with the process) and are removed (ferry_daemon_rules_recover); a table
 * that still has routes belongs to a running ferry, and using it is refused. Everything is undone
 * in reverse order on exit, and on any failure half-way. The routes need no undoing: closing the
 * TUN takes them.
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
	if (d->opts.exec_argv)
		return; /* the namespace has no other route: a plain default one does */
	if (d->cfg.iface.table != FERRY_TABLE_AUTO)
		return; /* as wg-quick: a /0 goes where Table says, or nowhere */
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

/* The table a rule of ferry's serves: its own, or for a main-table rule (full-device
 * mode's suppress rule), the table of ferry's rule right after it. 0: none left. */
static uint32_t owner(const struct ferry_nl_rule *r, const struct ferry_nl_rule *all, size_t n)
{
	size_t k;

	if (r->table != FERRY_FULLDEV_MAIN)
		return r->table;
	for (k = 0; k < n; k++)
		if (all[k].priority == r->priority + 1 && all[k].table != FERRY_FULLDEV_MAIN)
			return all[k].table;
	return 0;
}

int ferry_daemon_rules_recover(struct ferry_daemon *d, struct ferry_nl *nl, const uint32_t *ours,
			       size_t nours)
{
	struct ferry_nl_rule rules[32];
	size_t n, i, k, routes, removed = 0;
	bool live[32] = {false};
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
			uint32_t t = owner(&rules[i], rules, n);

			routes = 0;
			err = t ? ferry_nl_route_count(nl, families[fi], t, &routes) : 0;
			if (err) {
				nl_fail(d, nl, "listing routes", err);
				return err;
			}
			live[i] = routes > 0; /* its table's routes go with a ferry's TUN */
			for (k = 0; live[i] && k < nours; k++) {
				if (ours[k] != t)
					continue;
				ferry_log(&d->log, FERRY_LOG_ERROR,
					  "table %u is in use by another ferry (its rules have "
					  "protocol %d); stop it first",
					  t, FERRY_FULLDEV_RULE_PROTO);
				return -EBUSY;
			}
		}
		for (i = 0; i < n; i++) {
			if (live[i])
				continue; /* another ferry's, running */
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
			  "removed %zu rule%s left by a ferry that was killed", removed,
			  removed == 1 ? "" : "s");
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

void ferry_daemon_nft_delete(struct ferry_daemon *d, const char *table, bool *exists)
{
	char script[64], error[FERRY_NFT_ERROR_MAX];
	int err;

	if (!*exists)
		return;
	snprintf(script, sizeof(script), "delete table inet %s", table);
	err = ferry_nft_run(script, NULL, 0, error);
	if (err)
		ferry_log(&d->log, FERRY_LOG_ERROR, "removing nftables table inet %s: %s", table,
			  err == -EINVAL ? error : strerror(-err));
	*exists = false;
}

int ferry_daemon_fulldev_up(struct ferry_daemon *d, struct ferry_nl *nl)
{
	static const uint8_t any[16] = {0};
	struct ferry_daemon_fulldev *f = &d->fulldev;
	int fi, err;

	if (!f->on)
		return 0;
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
	err = ferry_daemon_sysctl_set(d, SRC_VALID_MARK, 1);
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

void ferry_daemon_rules_remove(struct ferry_daemon *d, const struct ferry_nl_rule *rules,
			       unsigned int *n)
{
	struct ferry_nl nl;
	int err;

	if (!*n)
		return;
	err = ferry_nl_open(&nl);
	if (err) {
		ferry_log(&d->log, FERRY_LOG_ERROR,
			  "netlink: %s; %u rule%s left behind (the next start removes them)",
			  strerror(-err), *n, *n == 1 ? "" : "s");
		*n = 0;
		return;
	}
	while (*n) {
		err = ferry_nl_rule_del(&nl, &rules[--*n]);
		if (err && err != -ENOENT)
			ferry_log(&d->log, FERRY_LOG_ERROR, "removing a rule: %s%s%s",
				  strerror(-err), nl.error[0] ? ": " : "", nl.error);
	}
	ferry_nl_close(&nl);
}

void ferry_daemon_fulldev_down(struct ferry_daemon *d)
{
	ferry_daemon_nft_delete(d, d->fulldev.nft_table, &d->fulldev.nft);
	/* the tunnel rule first: traffic goes back to the main table's default at once */
	ferry_daemon_rules_remove(d, d->fulldev.rules, &d->fulldev.nrules);
}
