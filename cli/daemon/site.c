// SPDX-License-Identifier: MIT
/*
 * Site-to-site mode: a gateway that carries its LAN's traffic to the other site's LAN.
 *
 * The routes to the other site's prefixes are the peer's AllowedIPs (device.c). What a
 * gateway needs on top, while ferry runs, and nothing of it after:
 *
 *   Forward = on            net.ipv4.ip_forward and net.ipv6.conf.all.forwarding set to 1
 *                           (sysctl.c puts them back): the LAN's packets to the other site
 *                           are forwarded into the TUN.
 *   EgressTransparent = on  the far hosts see the other site's own addresses: egress binds
 *                           its sockets to them (IP_TRANSPARENT). Their replies are
 *                           addressed to the other site, which this host routes into the
 *                           TUN; they must reach the transparent sockets instead:
 *
 *     nft: table inet ferry-NAME-site, chain pre (prerouting, priority mangle):
 *          meta l4proto { tcp, udp } socket transparent 1 meta mark set 0xce55
 *     rule 32763: fwmark 0xce55 lookup 52821              (protocol 77, both families)
 *     table 52821: local default dev TUN                   (both families)
 *
 * Only packets of an existing transparent socket are marked: a LAN host's new connection
 * to the other site still goes into the TUN. The local routes name the TUN so that they
 * go with it, like full-device mode's, and a killed ferry's rules are found the same way
 * (ferry_daemon_rules_recover). Other protocols than TCP, UDP and ICMP echo are refused
 * at the TUN with ICMP protocol unreachable (stack/stack.c), never dropped in silence.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli/daemon/internal.h"
#include "tun/nft.h"

#define IP_FORWARD  "/proc/sys/net/ipv4/ip_forward"
#define IP6_FORWARD "/proc/sys/net/ipv6/conf/all/forwarding"

static const int families[2] = {AF_INET, AF_INET6};

static void nl_fail(struct ferry_daemon *d, const struct ferry_nl *nl, const char *what, int err)
{
	ferry_log(&d->log, FERRY_LOG_ERROR, "site-to-site: %s: %s%s%s", what, strerror(-err),
		  nl->error[0] ? ": " : "", nl->error);
}

static int nft_up(struct ferry_daemon *d)
{
	struct ferry_daemon_site *s = &d->site;
	char script[768], error[FERRY_NFT_ERROR_MAX];
	const char *t = s->nft_table;
	int err;

	snprintf(s->nft_table, sizeof(s->nft_table), "ferry-%s-site", d->name);
	/* add first, so that the delete finds a table whether or not a killed ferry left one */
	snprintf(script, sizeof(script),
		 "add table inet %s\ndelete table inet %s\nadd table inet %s\n"
		 "add chain inet %s pre { type filter hook prerouting priority mangle; policy "
		 "accept; }\n"
		 "add rule inet %s pre meta l4proto { tcp, udp } socket transparent 1 meta mark "
		 "set 0x%x\n",
		 t, t, t, t, t, FERRY_SITE_MARK);
	err = ferry_nft_run(script, NULL, 0, error);
	if (err) {
		ferry_log(&d->log, FERRY_LOG_ERROR, "site-to-site: nftables table inet %s: %s", t,
			  err == -EINVAL ? error : strerror(-err));
		return err;
	}
	s->nft = true;
	return 0;
}

int ferry_daemon_site_up(struct ferry_daemon *d, struct ferry_nl *nl)
{
	struct ferry_daemon_site *s = &d->site;
	int fi, err = 0;

	if (d->cfg.iface.forward && !d->opts.exec_argv) {
		err = ferry_daemon_sysctl_set(d, IP_FORWARD, 1);
		if (!err)
			err = ferry_daemon_sysctl_set(d, IP6_FORWARD, 1);
		if (err)
			return err;
	}
	if (!d->cfg.iface.egress_transparent || d->opts.exec_argv)
		return 0;
	for (fi = 0; fi < 2; fi++) {
		struct ferry_nl_rule r = {.family = families[fi],
					  .priority = FERRY_SITE_PRIORITY,
					  .table = FERRY_SITE_TABLE,
					  .match_mark = true,
					  .mark = FERRY_SITE_MARK,
					  .suppress_prefixlen = -1,
					  .protocol = FERRY_FULLDEV_RULE_PROTO};

		err = ferry_nl_route_add_local(nl, d->tun.ifindex, families[fi], FERRY_SITE_TABLE);
		if (err) {
			nl_fail(d, nl, "local route for the transparent sockets' replies", err);
			goto undo;
		}
		err = ferry_nl_rule_add(nl, &r);
		if (err) {
			nl_fail(d, nl, "adding a rule", err);
			goto undo;
		}
		s->rules[s->nrules++] = r;
	}
	err = nft_up(d);
	if (err)
		goto undo;
	ferry_log(&d->log, FERRY_LOG_INFO,
		  "site-to-site: replies to transparent egress delivered here (mark 0x%x, table "
		  "%u, rule %u, nftables table inet %s)",
		  FERRY_SITE_MARK, FERRY_SITE_TABLE, FERRY_SITE_PRIORITY, s->nft_table);
	return 0;

undo:
	ferry_daemon_site_down(d);
	return err;
}

void ferry_daemon_site_down(struct ferry_daemon *d)
{
	ferry_daemon_nft_delete(d, d->site.nft_table, &d->site.nft);
	ferry_daemon_rules_remove(d, d->site.rules, &d->site.nrules);
}
