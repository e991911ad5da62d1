// SPDX-License-Identifier: MIT
/*
 * The configuration keys and the grammar of their values.
 *
 * One table entry per key (ferry_config_keys): its section, whether it may repeat, whether
 * its value is secret (never echoed), its value parser, and the "expected ..." text every
 * message about it ends with. A value parser either stores the value in the config or
 * reports exactly what is wrong with it; it never stops the parse. The line reader and
 * the checks that need a whole section or file are in config.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <sodium.h>

#include "cli/config_internal.h"

static const char *const profile_names[] = {
    [FERRY_ARQ_PROFILE_NORMAL] = "normal", [FERRY_ARQ_PROFILE_FAST] = "fast",
    [FERRY_ARQ_PROFILE_FAST2] = "fast2",   [FERRY_ARQ_PROFILE_FAST3] = "fast3",
    [FERRY_ARQ_PROFILE_MANUAL] = "manual",
};

const char *ferry_config_profile_name(enum ferry_arq_profile profile)
{
	if ((unsigned int)profile >= sizeof(profile_names) / sizeof(profile_names[0]))
		return "?";
	return profile_names[profile];
}

const char *ferry_config_quote(struct quoted *q, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0, i;

	q->s[o++] = '"';
	for (i = 0; s[i] && o < sizeof(q->s) - 8; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\') {
			q->s[o++] = '\\';
			q->s[o++] = (char)c;
		} else if (c < 0x20 || c > 0x7e) {
			q->s[o++] = '\\';
			q->s[o++] = 'x';
			q->s[o++] = hex[c >> 4];
			q->s[o++] = hex[c & 15];
		} else {
			q->s[o++] = (char)c;
		}
	}
	if (s[i]) {
		memcpy(q->s + o, "...", 3);
		o += 3;
	}
	q->s[o++] = '"';
	q->s[o] = '\0';
	return q->s;
}

/* ---- values shared by several keys ---- */

/* The value of a string of decimal digits, leading zeros allowed, as wg reads numbers;
 * ULONG_MAX for more than ten digits (beyond every range here). False if s is empty or
 * holds anything but digits. Every number of the file, ports included, goes through it. */
static bool decimal(const char *s, unsigned long *out)
{
	size_t len = strlen(s);

	if (len == 0 || strspn(s, "0123456789") != len)
		return false;
	*out = len > 10 ? ULONG_MAX : strtoul(s, NULL, 10);
	return true;
}

bool ferry_config_number(struct parse_ctx *ctx, const char *v, unsigned long min, unsigned long max,
			 unsigned long *out)
{
	struct quoted q;
	unsigned long n;

	if (!decimal(v, &n)) {
		ferry_config_key_error(ctx, "%s is not a number, expected %s",
				       ferry_config_quote(&q, v), ctx->key->expected);
		return false;
	}
	if (n < min || n > max) {
		ferry_config_key_error(ctx, "%s is out of range, expected %s",
				       ferry_config_quote(&q, v), ctx->key->expected);
		return false;
	}
	*out = n;
	return true;
}

bool ferry_config_bool(struct parse_ctx *ctx, const char *v, bool *out)
{
	static const char *const yes[] = {"1", "true", "yes", "on"};
	static const char *const no[] = {"0", "false", "no", "off"};
	struct quoted q;
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = true;
			return true;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = false;
			return true;
		}
	}
	ferry_config_key_error(ctx, "%s is not a boolean, expected %s", ferry_config_quote(&q, v),
			       ctx->key->expected);
	return false;
}

/* Parses a key; the value is echoed only for keys that are not secret. */
static bool parse_key(struct parse_ctx *ctx, const char *v, uint8_t key[FERRY_KEY_LEN])
{
	size_t len = strlen(v);
	struct quoted q;
	char shown[sizeof(q.s) + 16];

	if (ferry_key_from_base64(key, v) == 0) {
		if (!sodium_is_zero(key, FERRY_KEY_LEN))
			return true;
		ferry_config_key_error(ctx, "the key is all zeros, expected %s",
				       ctx->key->expected);
		return false;
	}
	if (ctx->key->secret)
		snprintf(shown, sizeof(shown), "the value (not shown)");
	else
		snprintf(shown, sizeof(shown), "%s", ferry_config_quote(&q, v));
	if (len != FERRY_KEY_B64_LEN)
		ferry_config_key_error(ctx, "%s is %zu character%s long, expected %s", shown, len,
				       len == 1 ? "" : "s", ctx->key->expected);
	else if (strpbrk(v, "-_"))
		ferry_config_key_error(ctx, "%s uses the URL-safe base64 alphabet, expected %s",
				       shown, ctx->key->expected);
	else
		ferry_config_key_error(ctx, "%s is not valid base64, expected %s", shown,
				       ctx->key->expected);
	return false;
}

/* ---- prefix lists ---- */

static bool prefix_is_zero(const struct ferry_prefix *p)
{
	return sodium_is_zero(p->addr, sizeof(p->addr)) == 1;
}

static int prefix_list_add(struct ferry_prefix_list *list, const struct ferry_prefix *p,
			   unsigned int line)
{
	if (list->n == list->cap) {
		size_t cap = list->cap ? list->cap * 2 : 4;
		struct ferry_config_prefix *v = reallocarray(list->v, cap, sizeof(*v));

		if (!v)
			return -ENOMEM;
		list->v = v;
		list->cap = cap;
	}
	list->v[list->n].prefix = *p;
	list->v[list->n++].line = line;
	return 0;
}

bool ferry_config_next_entry(const char **pos, char buf[FERRY_CONFIG_MAX_LINE + 1])
{
	const char *item = *pos, *comma;
	size_t n;

	if (!item)
		return false;
	comma = strchr(item, ',');
	n = comma ? (size_t)(comma - item) : strlen(item);
	while (n && (*item == ' ' || *item == '\t')) {
		item++;
		n--;
	}
	while (n && (item[n - 1] == ' ' || item[n - 1] == '\t'))
		n--;
	memcpy(buf, item, n);
	buf[n] = '\0';
	*pos = comma ? comma + 1 : NULL;
	return true;
}

/* Parses "p1, p2, ..." into list. Address keeps host bits (they are the address);
 * AllowedIPs clears them, with a warning, as WireGuard does silently. */
static void parse_prefix_list(struct parse_ctx *ctx, const char *v, struct ferry_prefix_list *list,
			      bool is_address)
{
	char buf[FERRY_CONFIG_MAX_LINE + 1];
	const char *pos = v;

	while (ferry_config_next_entry(&pos, buf)) {
		char text[FERRY_PREFIX_STRLEN];
		struct ferry_prefix p;
		struct quoted q;
		const char *why;
		bool host_bits;

		if (!buf[0]) {
			ferry_config_key_error(ctx, "empty entry in the list, expected %s",
					       ctx->key->expected);
		} else if (ferry_prefix_parse(&p, buf, &host_bits, &why) != 0) {
			ferry_config_key_error(ctx, "%s: %s, expected %s",
					       ferry_config_quote(&q, buf), why,
					       ctx->key->expected);
		} else if (is_address && prefix_is_zero(&p)) {
			ferry_config_key_error(ctx,
					       "%s is not a usable interface address, expected %s",
					       ferry_config_quote(&q, buf), ctx->key->expected);
		} else if (list->n >= FERRY_CONFIG_MAX_PREFIXES) {
			ferry_config_key_error(ctx, "more than %d entries",
					       FERRY_CONFIG_MAX_PREFIXES);
			return;
		} else {
			if (host_bits && !is_address) {
				ferry_prefix_mask(&p);
				ferry_prefix_format(text, &p);
				ferry_config_report(ctx, true, ctx->line, ctx->sec, ctx->key->name,
						    "%s has host bits set, read as %s",
						    ferry_config_quote(&q, buf), text);
			}
			if (prefix_list_add(list, &p, ctx->line) != 0) {
				ferry_config_oom(ctx);
				return;
			}
		}
	}
}

/* ---- the keys ---- */

static void parse_private_key(struct parse_ctx *ctx, const char *v)
{
	ctx->holds_keys = true;
	parse_key(ctx, v, ctx->cfg->iface.private_key);
}

static void parse_listen_port(struct parse_ctx *ctx, const char *v)
{
	unsigned long n;

	if (ferry_config_number(ctx, v, 0, 65535, &n))
		ctx->cfg->iface.listen_port = (uint16_t)n;
}

static void parse_address(struct parse_ctx *ctx, const char *v)
{
	parse_prefix_list(ctx, v, &ctx->cfg->iface.addresses, true);
}

static void parse_mtu(struct parse_ctx *ctx, const char *v)
{
	unsigned long n;

	if (ferry_config_number(ctx, v, FERRY_CONFIG_MTU_MIN, FERRY_CONFIG_MTU_MAX, &n))
		ctx->cfg->iface.mtu = (unsigned int)n;
}

static void parse_profile(struct parse_ctx *ctx, const char *v)
{
	struct quoted q;
	size_t i;

	for (i = 0; i <= FERRY_ARQ_PROFILE_MANUAL; i++) {
		if (strcasecmp(v, profile_names[i]) == 0) {
			ctx->cfg->iface.arq.profile = (enum ferry_arq_profile)i;
			return;
		}
	}
	ferry_config_key_error(ctx, "unknown profile %s, expected %s", ferry_config_quote(&q, v),
			       ctx->key->expected);
}

static void parse_nodelay(struct parse_ctx *ctx, const char *v)
{
	ferry_config_bool(ctx, v, &ctx->cfg->iface.arq.nodelay);
}

static void parse_interval(struct parse_ctx *ctx, const char *v)
{
	unsigned long n;

	if (ferry_config_number(ctx, v, FERRY_CONFIG_INTERVAL_MIN, FERRY_CONFIG_INTERVAL_MAX, &n))
		ctx->cfg->iface.arq.interval_ms = (unsigned int)n;
}

static void parse_resend(struct parse_ctx *ctx, const char *v)
{
	unsigned long n;

	if (ferry_config_number(ctx, v, 0, FERRY_CONFIG_RESEND_MAX, &n))
		ctx->cfg->iface.arq.resend = (unsigned int)n;
}

static void parse_nocongestion(struct parse_ctx *ctx, const char *v)
{
	ferry_config_bool(ctx, v, &ctx->cfg->iface.arq.nocongestion);
}

/* The expected ranges above are spelled out; keep them in step with the FEC module. */
_Static_assert(FERRY_CONFIG_FEC_DATA_MAX == 64 && FERRY_CONFIG_FEC_PARITY_MAX == 32,
	       "update the FecData/FecParity ranges in the key table");

static void parse_fec_data(struct parse_ctx *ctx, const char *v)
{
	unsigned long n;

	if (ferry_config_number(ctx, v, 1, FERRY_CONFIG_FEC_DATA_MAX, &n))
		ctx->cfg->iface.fec_data = (unsigned int)n;
}

static void parse_fec_parity(struct parse_ctx *ctx, const char *v)
{
	unsigned long n;

	if (ferry_config_number(ctx, v, 0, FERRY_CONFIG_FEC_PARITY_MAX, &n))
		ctx->cfg->iface.fec_parity = (unsigned int)n;
}

static void parse_congestion(struct parse_ctx *ctx, const char *v)
{
	static const enum ferry_cc_mode modes[] = {FERRY_CC_BBR, FERRY_CC_FIXED, FERRY_CC_OFF};
	struct quoted q;
	size_t i;

	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		if (strcasecmp(v, ferry_cc_mode_name(modes[i])) == 0) {
			ctx->cfg->iface.congestion = modes[i];
			return;
		}
	}
	ferry_config_key_error(ctx, "unknown controller %s, expected %s", ferry_config_quote(&q, v),
			       ctx->key->expected);
}

/* A rate in bits per second: digits, then an optional k, M or G (powers of 1000) and an
 * optional "bit/s" or "bps": "50M", "2.5G" is not accepted (whole numbers only). */
static bool parse_rate(struct parse_ctx *ctx, const char *v, uint64_t *out)
{
	size_t digits = strspn(v, "0123456789");
	const char *unit = v + digits;
	uint64_t n, mult = 1;
	struct quoted q;

	if (!digits || digits > 12)
		goto bad;
	if (*unit == 'k' || *unit == 'K')
		mult = 1000, unit++;
	else if (*unit == 'M')
		mult = 1000000, unit++;
	else if (*unit == 'G')
		mult = 1000000000, unit++;
	if (*unit && strcasecmp(unit, "bit/s") != 0 && strcasecmp(unit, "bps") != 0)
		goto bad;
	n = strtoull(v, NULL, 10) * mult;
	if (n < FERRY_CONFIG_RATE_MIN || n > FERRY_CONFIG_RATE_MAX) {
		ferry_config_key_error(ctx, "%s is out of range, expected %s",
				       ferry_config_quote(&q, v), ctx->key->expected);
		return false;
	}
	*out = n;
	return true;
bad:
	ferry_config_key_error(ctx, "%s is not a rate, expected %s", ferry_config_quote(&q, v),
			       ctx->key->expected);
	return false;
}

static void parse_rate_key(struct parse_ctx *ctx, const char *v)
{
	parse_rate(ctx, v, &ctx->cfg->iface.rate);
}

static void parse_max_rate(struct parse_ctx *ctx, const char *v)
{
	parse_rate(ctx, v, &ctx->cfg->iface.max_rate);
}

static void parse_fwmark(struct parse_ctx *ctx, const char *v)
{
	struct quoted q;
	unsigned long n;
	char *end;

	if (strcasecmp(v, "off") == 0) {
		ctx->cfg->iface.fwmark = 0;
		return;
	}
	if (strncasecmp(v, "0x", 2) != 0) {
		if (ferry_config_number(ctx, v, 0, UINT32_MAX, &n))
			ctx->cfg->iface.fwmark = (uint32_t)n;
		return;
	}
	errno = 0;
	n = strtoul(v + 2, &end, 16);
	if (!v[2] || *end || strspn(v + 2, "0123456789abcdefABCDEF") != strlen(v + 2)) {
		ferry_config_key_error(ctx, "%s is not a number, expected %s",
				       ferry_config_quote(&q, v), ctx->key->expected);
		return;
	}
	if (errno == ERANGE || n > UINT32_MAX) {
		ferry_config_key_error(ctx, "%s is out of range, expected %s",
				       ferry_config_quote(&q, v), ctx->key->expected);
		return;
	}
	ctx->cfg->iface.fwmark = (uint32_t)n;
}

/* "rule, rule, ...": each appended to the egress policy in file order. */
static void parse_egress(struct parse_ctx *ctx, const char *v)
{
	struct ferry_policy *policy = &ctx->cfg->iface.egress;
	char buf[FERRY_CONFIG_MAX_LINE + 1];
	const char *pos = v;

	while (ferry_config_next_entry(&pos, buf)) {
		struct quoted q;
		const char *why = "is not a rule";
		int ret;

		if (!buf[0]) {
			ferry_config_key_error(ctx, "empty entry in the list, expected %s",
					       ctx->key->expected);
		} else {
			ret = ferry_policy_add_text(policy, buf, &why);
			if (ret == -ENOSPC) {
				ferry_config_key_error(ctx, "more than %d rules",
						       FERRY_POLICY_RULES_MAX);
				return;
			}
			if (ret != 0)
				ferry_config_key_error(ctx, "%s: %s, expected %s",
						       ferry_config_quote(&q, buf), why,
						       ctx->key->expected);
		}
	}
}

static void parse_egress_transparent(struct parse_ctx *ctx, const char *v)
{
	ferry_config_bool(ctx, v, &ctx->cfg->iface.egress_transparent);
}

static void parse_kill_switch(struct parse_ctx *ctx, const char *v)
{
	ferry_config_bool(ctx, v, &ctx->cfg->iface.kill_switch);
	ctx->cfg->iface.kill_switch_line = ctx->line;
}

static void parse_forward(struct parse_ctx *ctx, const char *v)
{
	ferry_config_bool(ctx, v, &ctx->cfg->iface.forward);
}

/* A user name (letters, digits, '.', '_', '-', not starting with '-', a '$' at the end
 * allowed, as shadow's useradd takes them) or a user number, looked up only at start
 * (cli/daemon/privilege.c): the file may be checked on another machine. */
static void parse_user(struct parse_ctx *ctx, const char *v)
{
	static const char name_chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
					 "0123456789._-";
	size_t len = strlen(v), body = len && v[len - 1] == '$' ? len - 1 : len;
	struct quoted q;
	unsigned long n;

	if (len && strspn(v, "0123456789") == len) {
		if (!ferry_config_number(ctx, v, 0, UINT32_MAX - 1, &n))
			return;
	} else if (len > FERRY_CONFIG_MAX_USER) {
		ferry_config_key_error(ctx, "%s is longer than %d characters, expected %s",
				       ferry_config_quote(&q, v), FERRY_CONFIG_MAX_USER,
				       ctx->key->expected);
		return;
	} else if (!body || v[0] == '-' || strspn(v, name_chars) != body) {
		ferry_config_key_error(ctx, "%s is not a user name, expected %s",
				       ferry_config_quote(&q, v), ctx->key->expected);
		return;
	}
	snprintf(ctx->cfg->iface.user, sizeof(ctx->cfg->iface.user), "%s", v);
	ctx->cfg->iface.user_line = ctx->line;
}

static void parse_public_key(struct parse_ctx *ctx, const char *v)
{
	parse_key(ctx, v, ctx->peer->public_key);
}

static void parse_preshared_key(struct parse_ctx *ctx, const char *v)
{
	ctx->holds_keys = true;
	ctx->peer->has_preshared_key = parse_key(ctx, v, ctx->peer->preshared_key);
}

/* A host name (letters, digits, '-', dot-separated labels of 1..63) or an IPv4 literal.
 * Returns NULL if acceptable, else what is wrong. */
static const char *check_host(const char *h)
{
	size_t len = strlen(h), label = 0, i;

	if (len == 0)
		return "has an empty host";
	if (len > FERRY_CONFIG_MAX_HOST)
		return "has a host name longer than 253 characters";
	if (strspn(h, "0123456789.") == len) {
		struct in_addr a;

		return inet_pton(AF_INET, h, &a) == 1 ? NULL : "is not a valid IPv4 address";
	}
	if (strchr(h, ':'))
		return "has an IPv6 address without brackets";
	for (i = 0; i <= len; i++) {
		char c = h[i];

		if (c == '.' || c == '\0') {
			if (label == 0 && !(c == '\0' && i > 0 && h[i - 1] == '.'))
				return "has an empty label in the host name";
			if (label > FERRY_CONFIG_MAX_LABEL)
				return "has a host name label longer than 63 characters";
			if (label && (h[i - 1] == '-' || h[i - label] == '-'))
				return "has a host name label that begins or ends with '-'";
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-'))
			return "has a character not allowed in a host name";
		label++;
	}
	return NULL;
}

static void parse_endpoint(struct parse_ctx *ctx, const char *v)
{
	struct ferry_config_endpoint *ep = &ctx->peer->endpoint;
	char host[FERRY_CONFIG_MAX_LINE + 1];
	const char *port, *why = NULL;
	struct quoted q;
	unsigned long n;
	size_t hlen;

	if (v[0] == '[') {
		const char *close = strchr(v, ']');
		struct in6_addr a;

		if (!close) {
			ferry_config_key_error(
			    ctx, "%s has no \"]\" after the IPv6 address, expected %s",
			    ferry_config_quote(&q, v), ctx->key->expected);
			return;
		}
		if (close[1] != ':') {
			ferry_config_key_error(ctx, "%s has no \":port\" after \"]\", expected %s",
					       ferry_config_quote(&q, v), ctx->key->expected);
			return;
		}
		hlen = (size_t)(close - v - 1);
		memcpy(host, v + 1, hlen);
		host[hlen] = '\0';
		if (inet_pton(AF_INET6, host, &a) != 1)
			why = "is not a valid IPv6 address in brackets";
		port = close + 2;
	} else {
		const char *colon = strrchr(v, ':');

		if (!colon) {
			ferry_config_key_error(ctx, "%s has no port, expected %s",
					       ferry_config_quote(&q, v), ctx->key->expected);
			return;
		}
		hlen = (size_t)(colon - v);
		memcpy(host, v, hlen);
		host[hlen] = '\0';
		why = check_host(host);
		port = colon + 1;
	}
	if (why) {
		ferry_config_key_error(ctx, "%s %s, expected %s", ferry_config_quote(&q, v), why,
				       ctx->key->expected);
		return;
	}
	if (!decimal(port, &n)) {
		ferry_config_key_error(ctx, "%s has a port that is not a number, expected %s",
				       ferry_config_quote(&q, v), ctx->key->expected);
		return;
	}
	if (n < 1 || n > 65535) {
		ferry_config_key_error(ctx, "%s has a port out of range (1..65535), expected %s",
				       ferry_config_quote(&q, v), ctx->key->expected);
		return;
	}
	memcpy(ep->host, host, hlen + 1);
	ep->port = (uint16_t)n;
	ep->set = true;
}

static void parse_allowed_ips(struct parse_ctx *ctx, const char *v)
{
	parse_prefix_list(ctx, v, &ctx->peer->allowed_ips, false);
}

static void parse_keepalive(struct parse_ctx *ctx, const char *v)
{
	unsigned long n;

	if (strcasecmp(v, "off") == 0)
		ctx->peer->persistent_keepalive = 0;
	else if (ferry_config_number(ctx, v, 0, 65535, &n))
		ctx->peer->persistent_keepalive = (uint16_t)n;
}

#define KEY_B64		 "a 44-character base64 key"
#define PREFIXES(v4, v6) "a comma-separated list of prefixes like " v4 " or " v6
#define BOOLS		 "0, 1, true, false, yes, no, on or off"
#define HOOK		 "a command for bash, %i standing for the interface's name"

const struct key_desc ferry_config_keys[K_COUNT] = {
    [K_PRIVATE_KEY] = {"PrivateKey", SEC_INTERFACE, false, true, parse_private_key,
		       KEY_B64 " from \"ferry genkey\""},
    [K_LISTEN_PORT] = {"ListenPort", SEC_INTERFACE, false, false, parse_listen_port,
		       "0..65535 (0: any free port)"},
    [K_ADDRESS] = {"Address", SEC_INTERFACE, true, false, parse_address,
		   PREFIXES("10.0.0.2/24", "fd00::2/64")},
    [K_DNS] = {"DNS", SEC_INTERFACE, true, false, ferry_config_parse_dns,
	       "IP addresses of DNS servers and search domains, like 10.0.0.1, fd00::1, "
	       "example.org"},
    [K_MTU] = {"MTU", SEC_INTERFACE, false, false, parse_mtu, "576..65535"},
    [K_PROFILE] = {"Profile", SEC_INTERFACE, false, false, parse_profile,
		   "normal, fast, fast2, fast3 or manual"},
    [K_NODELAY] = {"NoDelay", SEC_INTERFACE, false, false, parse_nodelay, BOOLS},
    [K_INTERVAL] = {"Interval", SEC_INTERFACE, false, false, parse_interval,
		    "1..5000 (milliseconds)"},
    [K_RESEND] = {"Resend", SEC_INTERFACE, false, false, parse_resend, "0..100"},
    [K_NOCONGESTION] = {"NoCongestion", SEC_INTERFACE, false, false, parse_nocongestion, BOOLS},
    [K_FEC_DATA] = {"FecData", SEC_INTERFACE, false, false, parse_fec_data, "1..64"},
    [K_FEC_PARITY] = {"FecParity", SEC_INTERFACE, false, false, parse_fec_parity,
		      "0..32 (0: FEC off)"},
    [K_FWMARK] = {"FwMark", SEC_INTERFACE, false, false, parse_fwmark,
		  "off, 0..4294967295 or 0x0..0xffffffff"},
    [K_CONGESTION] = {"Congestion", SEC_INTERFACE, false, false, parse_congestion,
		      "bbr, fixed or off"},
    [K_RATE] = {"Rate", SEC_INTERFACE, false, false, parse_rate_key,
		"a rate in bit/s like 50M, 800k or 1G (1 Mbit/s .. 100 Gbit/s)"},
    [K_MAX_RATE] = {"MaxRate", SEC_INTERFACE, false, false, parse_max_rate,
		    "a rate in bit/s like 50M, 800k or 1G (1 Mbit/s .. 100 Gbit/s)"},
    [K_EGRESS] = {"Egress", SEC_INTERFACE, true, false, parse_egress,
		  "rules like \"allow|deny [tcp|udp|icmp] PREFIX|any [port N|N-M]\""},
    [K_EGRESS_TRANSPARENT] = {"EgressTransparent", SEC_INTERFACE, false, false,
			      parse_egress_transparent, BOOLS},
    [K_KILL_SWITCH] = {"KillSwitch", SEC_INTERFACE, false, false, parse_kill_switch, BOOLS},
    [K_FORWARD] = {"Forward", SEC_INTERFACE, false, false, parse_forward, BOOLS},
    [K_TABLE] = {"Table", SEC_INTERFACE, false, false, ferry_config_parse_table,
		 "auto, off, main or a table number 1..4294967295"},
    [K_USER] = {"User", SEC_INTERFACE, false, false, parse_user,
		"a user name (letters, digits, '.', '_', '-') or a user number 0..4294967294"},
    [K_PRE_UP] = {"PreUp", SEC_INTERFACE, true, false, ferry_config_parse_pre_up, HOOK},
    [K_POST_UP] = {"PostUp", SEC_INTERFACE, true, false, ferry_config_parse_post_up, HOOK},
    [K_PRE_DOWN] = {"PreDown", SEC_INTERFACE, true, false, ferry_config_parse_pre_down, HOOK},
    [K_POST_DOWN] = {"PostDown", SEC_INTERFACE, true, false, ferry_config_parse_post_down, HOOK},
    [K_SAVE_CONFIG] = {"SaveConfig", SEC_INTERFACE, false, false, ferry_config_parse_save_config,
		       "false (ferry never writes the file)"},
    [K_PUBLIC_KEY] = {"PublicKey", SEC_PEER, false, false, parse_public_key,
		      KEY_B64 " from \"ferry pubkey\""},
    [K_PRESHARED_KEY] = {"PresharedKey", SEC_PEER, false, true, parse_preshared_key,
			 KEY_B64 " from \"ferry genpsk\", the same on both peers"},
    [K_ENDPOINT] = {"Endpoint", SEC_PEER, false, false, parse_endpoint, "host:port or [IPv6]:port"},
    [K_ALLOWED_IPS] = {"AllowedIPs", SEC_PEER, true, false, parse_allowed_ips,
		       PREFIXES("10.0.0.0/24", "fd00::/64")},
    [K_KEEPALIVE] = {"PersistentKeepalive", SEC_PEER, false, false, parse_keepalive,
		     "off or 0..65535 (seconds)"},
};
