// SPDX-License-Identifier: MIT
/*
 * The configuration's checks across sections (config_internal.h), run once the whole
 * file is read: an [Interface] at all, peers' keys (not this interface's own, each peer
 * once), the same prefix twice among the addresses or among all AllowedIPs, a
 * KillSwitch without full-device mode, and a User with hooks that run at teardown.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <sodium.h>

#include "cli/config_internal.h"

struct prefix_ref {
	const struct ferry_config_prefix *p;
};

static int prefix_ref_cmp(const void *a, const void *b)
{
	const struct ferry_config_prefix *x = ((const struct prefix_ref *)a)->p;
	const struct ferry_config_prefix *y = ((const struct prefix_ref *)b)->p;
	int c = ferry_prefix_cmp(&x->prefix, &y->prefix);

	if (c)
		return c;
	return x->line < y->line ? -1 : x->line > y->line;
}

/* Reports every prefix of refs that equals an earlier one (by line); sorts refs. */
static void report_duplicates(struct parse_ctx *ctx, enum section sec, const char *key,
			      struct prefix_ref *refs, size_t n)
{
	char text[FERRY_PREFIX_STRLEN];
	size_t i;

	qsort(refs, n, sizeof(*refs), prefix_ref_cmp);
	for (i = 1; i < n; i++) {
		const struct ferry_config_prefix *a = refs[i - 1].p, *b = refs[i].p;

		if (ferry_prefix_cmp(&a->prefix, &b->prefix) != 0)
			continue;
		ferry_prefix_format(text, &b->prefix);
		ferry_config_report(ctx, false, b->line, sec, key,
				    "%s is already listed at line %u", text, a->line);
	}
}

/* The same prefix twice among the interface's addresses, or among all AllowedIPs. */
static void check_duplicate_prefixes(struct parse_ctx *ctx)
{
	const struct ferry_prefix_list *addr = &ctx->cfg->iface.addresses;
	const struct ferry_config *cfg = ctx->cfg;
	size_t total = addr->n, i, j, n = 0;
	struct prefix_ref *refs;

	for (i = 0; i < cfg->npeers; i++)
		total += cfg->peers[i].allowed_ips.n;
	if (total < 2)
		return;
	refs = calloc(total, sizeof(*refs));
	if (!refs) {
		ferry_config_oom(ctx);
		return;
	}
	for (j = 0; j < addr->n; j++)
		refs[n++].p = &addr->v[j];
	report_duplicates(ctx, SEC_INTERFACE, "Address", refs, n);
	n = 0;
	for (i = 0; i < cfg->npeers; i++)
		for (j = 0; j < cfg->peers[i].allowed_ips.n; j++)
			refs[n++].p = &cfg->peers[i].allowed_ips.v[j];
	report_duplicates(ctx, SEC_PEER, "AllowedIPs", refs, n);
	free(refs);
}

/* A kill switch belongs to full-device mode: it is the mode's guard while it runs. */
static void check_kill_switch(struct parse_ctx *ctx)
{
	const struct ferry_config *cfg = ctx->cfg;
	size_t i, j;

	if (!cfg->iface.kill_switch)
		return;
	if (cfg->iface.table != FERRY_TABLE_AUTO) {
		ferry_config_report(ctx, false, cfg->iface.kill_switch_line, SEC_INTERFACE,
				    "KillSwitch",
				    "needs full-device mode, which Table = %s turns off, expected "
				    "Table = auto",
				    cfg->iface.table == FERRY_TABLE_OFF ? "off" : "N");
		return;
	}
	for (i = 0; i < cfg->npeers; i++)
		for (j = 0; j < cfg->peers[i].allowed_ips.n; j++)
			if (cfg->peers[i].allowed_ips.v[j].prefix.len == 0)
				return;
	ferry_config_report(ctx, false, cfg->iface.kill_switch_line, SEC_INTERFACE, "KillSwitch",
			    "needs full-device mode, expected a peer with AllowedIPs 0.0.0.0/0 "
			    "or ::/0");
}

/* An IPv6 route needs a device of 1280 bytes or more (RFC 8200): the kernel refuses it on
 * a smaller one, so a file that would fail at ferry up fails here. */
static void check_mtu_for_ipv6_routes(struct parse_ctx *ctx)
{
	const struct ferry_config *cfg = ctx->cfg;
	size_t i, j;

	if (cfg->iface.mtu >= FERRY_CONFIG_MTU_MIN_IPV6)
		return;
	for (i = 0; i < cfg->npeers; i++) {
		for (j = 0; j < cfg->peers[i].allowed_ips.n; j++) {
			const struct ferry_config_prefix *p = &cfg->peers[i].allowed_ips.v[j];

			if (p->prefix.family != AF_INET6)
				continue;
			ferry_config_report(ctx, false, p->line, SEC_PEER, "AllowedIPs",
					    "an IPv6 prefix needs MTU %d or more (MTU is %u), "
					    "expected IPv4 prefixes only or a larger MTU",
					    FERRY_CONFIG_MTU_MIN_IPV6, cfg->iface.mtu);
			return;
		}
	}
}

/* PreDown and PostDown run at teardown with the rights a wg-quick hook expects, root's;
 * once ferry has changed to User it cannot give them those (cli/daemon/privilege.c). */
static void check_user_with_down_hooks(struct parse_ctx *ctx)
{
	const struct ferry_config_interface *iface = &ctx->cfg->iface;

	if (!iface->user_line ||
	    !(iface->hooks.n[FERRY_HOOK_PRE_DOWN] || iface->hooks.n[FERRY_HOOK_POST_DOWN]))
		return;
	ferry_config_report(ctx, false, iface->user_line, SEC_INTERFACE, "User",
			    "PreDown and PostDown run as root when ferry stops, which it no "
			    "longer is as another user, expected no User with them");
}

void ferry_config_check_whole_file(struct parse_ctx *ctx)
{
	struct ferry_config *cfg = ctx->cfg;
	bool own = false;
	size_t i, j;

	if (!ctx->have_iface)
		ferry_config_report(
		    ctx, false, 0, SEC_NONE, NULL,
		    "no [Interface] section, expected one with at least PrivateKey");
	if (!sodium_is_zero(cfg->iface.private_key, FERRY_KEY_LEN))
		own = ferry_key_public(cfg->iface.public_key, cfg->iface.private_key) == 0;
	for (i = 0; i < cfg->npeers; i++) {
		const struct ferry_config_peer *p = &cfg->peers[i];

		if (sodium_is_zero(p->public_key, FERRY_KEY_LEN))
			continue;
		if (own && memcmp(p->public_key, cfg->iface.public_key, FERRY_KEY_LEN) == 0)
			ferry_config_report(
			    ctx, false, p->line, SEC_PEER, "PublicKey",
			    "is this interface's own public key, expected the peer's");
		for (j = 0; j < i; j++) {
			if (memcmp(p->public_key, cfg->peers[j].public_key, FERRY_KEY_LEN) == 0) {
				ferry_config_report(
				    ctx, false, p->line, SEC_PEER, "PublicKey",
				    "the same peer as the [Peer] at line %u, expected each peer "
				    "once",
				    cfg->peers[j].line);
				break;
			}
		}
	}
	check_duplicate_prefixes(ctx);
	check_kill_switch(ctx);
	check_mtu_for_ipv6_routes(ctx);
	check_user_with_down_hooks(ctx);
}
