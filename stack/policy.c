// SPDX-License-Identifier: MIT
/*
 * Egress policy: an ordered rule list, first match wins, then the built-in denies, then
 * the default. Checking is a linear walk (a policy holds at most a few hundred rules and
 * is consulted once per new flow, not per packet). Parsing reads the rule text word by
 * word into fixed buffers; its keywords are case-insensitive, as every keyword of the
 * config file is, and every failure names what is wrong (the config's message adds what it
 * expected). A destination in IPv4-mapped IPv6 form is checked as the IPv4 address it
 * reaches, so a rule written inside ::ffff:0:0/96 is parsed into the IPv4 prefix it
 * denotes.
 */
#include "stack/policy.h"

#include <errno.h>
#include <ifaddrs.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#define WORD_MAX  64 /* longer than any address/prefix or keyword */
#define WORDS_MAX 6  /* action proto target "port" range + one too many */

/* The texts name the problem only: the config's message adds ", expected RULE-SYNTAX". */
#define BAD_PORT "bad port (not a number 0..65535 or a range N-M)"

/* The first 12 bytes of an IPv4-mapped IPv6 address (::ffff:a.b.c.d). */
static const uint8_t v4mapped[12] = {[10] = 0xff, [11] = 0xff};

/* Checks see an IPv4-mapped destination as the IPv4 address it reaches, so a prefix inside
 * ::ffff:0:0/96 is kept as the IPv4 prefix it stands for (else it could never match).
 * ferry_prefix_contains never mixes families; this equivalence is the policy's alone. */
static void unmap_v4(struct ferry_prefix *p)
{
	if (p->family != AF_INET6 || p->len < 96 ||
	    memcmp(p->addr, v4mapped, sizeof(v4mapped)) != 0)
		return;
	memmove(p->addr, p->addr + 12, 4);
	memset(p->addr + 4, 0, 12);
	p->family = AF_INET;
	p->len -= 96;
}

/* Loopback, link-local and unspecified: services of the egress host itself. Each denies
 * every protocol and port. */
static const struct ferry_prefix builtin_denies[] = {
    {AF_INET, 8, {127}},	  /* 127.0.0.0/8, loopback */
    {AF_INET, 8, {0}},		  /* 0.0.0.0/8, "this host" */
    {AF_INET, 16, {169, 254}},	  /* 169.254.0.0/16, link-local and cloud metadata */
    {AF_INET6, 128, {[15] = 1}},  /* ::1, loopback */
    {AF_INET6, 128, {0}},	  /* ::, unspecified */
    {AF_INET6, 10, {0xfe, 0x80}}, /* fe80::/10, link-local */
};

void ferry_policy_init(struct ferry_policy *policy)
{
	memset(policy, 0, sizeof(*policy));
	policy->builtin_denies = true;
	policy->default_action = FERRY_POLICY_ALLOW;
}

static int fail(const char **why, const char *text)
{
	if (why)
		*why = text;
	return -EINVAL;
}

/* Splits text at blanks into at most WORDS_MAX words. Returns the count or -EINVAL. */
static int split_words(const char *text, char words[WORDS_MAX][WORD_MAX], const char **why)
{
	int n = 0;

	for (;;) {
		size_t len;

		while (*text == ' ' || *text == '\t')
			text++;
		if (*text == '\0' || *text == '#')
			return n;
		len = strcspn(text, " \t");
		if (n == WORDS_MAX)
			return fail(why, "unexpected word after the rule");
		if (len >= WORD_MAX)
			return fail(why, "word too long");
		memcpy(words[n], text, len);
		words[n][len] = '\0';
		n++;
		text += len;
	}
}

static int parse_u16(const char *s, uint16_t *out)
{
	unsigned long v;
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end != '\0' || v > 65535)
		return -EINVAL;
	*out = (uint16_t)v;
	return 0;
}

static int parse_ports(char *s, struct ferry_policy_rule *rule, const char **why)
{
	char *dash = strchr(s, '-');

	if (dash)
		*dash = '\0';
	if (parse_u16(s, &rule->port_min))
		return fail(why, BAD_PORT);
	rule->port_max = rule->port_min;
	if (dash && parse_u16(dash + 1, &rule->port_max))
		return fail(why, BAD_PORT);
	if (rule->port_max < rule->port_min)
		return fail(why, "port range reversed");
	rule->has_ports = true;
	return 0;
}

/* "any", or a prefix as ferry_prefix_parse reads it (its texts name what is wrong). Unlike
 * AllowedIPs, a rule with host bits is refused rather than masked: "deny 10.0.0.1/8" more
 * likely means a typo than all of 10/8. */
static int parse_target(const char *s, struct ferry_prefix *prefix, const char **why)
{
	const char *bad;
	bool host_bits;

	if (strcasecmp(s, "any") == 0) {
		memset(prefix, 0, sizeof(*prefix));
		return 0;
	}
	if (ferry_prefix_parse(prefix, s, &host_bits, &bad) != 0)
		return fail(why, bad);
	if (host_bits)
		return fail(why, "host bits set after the prefix");
	unmap_v4(prefix);
	return 0;
}

int ferry_policy_parse_rule(const char *text, struct ferry_policy_rule *rule, const char **why)
{
	char words[WORDS_MAX][WORD_MAX];
	int n, i = 0, err;

	memset(rule, 0, sizeof(*rule));
	rule->port_max = 65535;
	n = split_words(text, words, why);
	if (n < 0)
		return n;
	if (n == 0)
		return fail(why, "empty rule");
	if (strcasecmp(words[0], "allow") == 0)
		rule->action = FERRY_POLICY_ALLOW;
	else if (strcasecmp(words[0], "deny") == 0)
		rule->action = FERRY_POLICY_DENY;
	else
		return fail(why, "the first word is neither 'allow' nor 'deny'");
	i = 1;
	if (i < n && strcasecmp(words[i], "tcp") == 0)
		rule->proto = FERRY_POLICY_TCP, i++;
	else if (i < n && strcasecmp(words[i], "udp") == 0)
		rule->proto = FERRY_POLICY_UDP, i++;
	else if (i < n && strcasecmp(words[i], "icmp") == 0)
		rule->proto = FERRY_POLICY_ICMP, i++;
	if (i == n)
		return fail(why, "missing destination (a prefix, an address or 'any')");
	err = parse_target(words[i++], &rule->prefix, why);
	if (err)
		return err;
	if (i < n && strcasecmp(words[i], "port") == 0) {
		if (++i == n)
			return fail(why, "missing port after 'port'");
		if (rule->proto == FERRY_POLICY_ICMP)
			return fail(why, "icmp has no ports");
		err = parse_ports(words[i++], rule, why);
		if (err)
			return err;
	}
	if (i != n)
		return fail(why, "unexpected word after the rule");
	return 0;
}

int ferry_policy_add(struct ferry_policy *policy, const struct ferry_policy_rule *rule)
{
	if (policy->n_rules >= FERRY_POLICY_RULES_MAX)
		return -ENOSPC;
	policy->rules[policy->n_rules] = *rule;
	unmap_v4(&policy->rules[policy->n_rules++].prefix);
	return 0;
}

int ferry_policy_add_text(struct ferry_policy *policy, const char *text, const char **why)
{
	struct ferry_policy_rule rule;
	int err = ferry_policy_parse_rule(text, &rule, why);

	return err ? err : ferry_policy_add(policy, &rule);
}

int ferry_policy_deny_host_addresses(struct ferry_policy *policy)
{
	struct ifaddrs *list, *ifa;
	int added = 0, err = 0;

	if (getifaddrs(&list) < 0)
		return -errno;
	for (ifa = list; ifa; ifa = ifa->ifa_next) {
		struct ferry_policy_rule rule = {.action = FERRY_POLICY_DENY, .port_max = 65535};
		struct ferry_endpoint ep;

		if (!ifa->ifa_addr || ferry_endpoint_from_sockaddr(&ep, ifa->ifa_addr) != 0)
			continue;
		ferry_prefix_host(&rule.prefix, ep.family, ep.addr);
		err = ferry_policy_add(policy, &rule);
		if (err)
			break;
		added++;
	}
	freeifaddrs(list);
	return err ? err : added;
}

static bool rule_matches(const struct ferry_policy_rule *r, uint8_t proto, int family,
			 const uint8_t *addr, uint16_t port)
{
	if (r->proto != FERRY_POLICY_ANY && r->proto != proto)
		return false;
	if (!ferry_prefix_contains(&r->prefix, family, addr))
		return false;
	if (r->has_ports &&
	    (proto == FERRY_POLICY_ICMP || port < r->port_min || port > r->port_max))
		return false;
	return true;
}

enum ferry_policy_action ferry_policy_check(const struct ferry_policy *policy, uint8_t proto,
					    int family, const uint8_t *addr, uint16_t port)
{
	size_t i;

	if (family == AF_INET6 && memcmp(addr, v4mapped, 12) == 0) {
		family = AF_INET;
		addr += 12;
	}
	if (family != AF_INET && family != AF_INET6)
		return FERRY_POLICY_DENY;
	for (i = 0; i < policy->n_rules; i++)
		if (rule_matches(&policy->rules[i], proto, family, addr, port))
			return policy->rules[i].action;
	if (policy->builtin_denies)
		for (i = 0; i < sizeof(builtin_denies) / sizeof(builtin_denies[0]); i++)
			if (ferry_prefix_contains(&builtin_denies[i], family, addr))
				return FERRY_POLICY_DENY;
	return policy->default_action == FERRY_POLICY_DENY ? FERRY_POLICY_DENY : FERRY_POLICY_ALLOW;
}
