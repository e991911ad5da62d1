// SPDX-License-Identifier: MIT
/*
 * Egress policy: an ordered rule list, first match wins, then the built-in denies, then
 * the default. Checking is a linear walk (a policy holds at most a few hundred rules and
 * is consulted once per new flow, not per packet). Parsing reads the rule text word by
 * word into fixed buffers; every failure names what was expected. A destination in
 * IPv4-mapped IPv6 form is checked as the IPv4 address it reaches, so a rule written
 * inside ::ffff:0:0/96 is parsed into the IPv4 prefix it denotes.
 */
#include "stack/policy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define WORD_MAX  64 /* longer than any address/prefix or keyword */
#define WORDS_MAX 6  /* action proto target "port" range + one too many */

/* The first 12 bytes of an IPv4-mapped IPv6 address (::ffff:a.b.c.d). */
static const uint8_t v4mapped[12] = {[10] = 0xff, [11] = 0xff};

/* Checks see an IPv4-mapped destination as the IPv4 address it reaches, so a rule inside
 * ::ffff:0:0/96 is kept as the IPv4 prefix it stands for (else it could never match). */
static void unmap_v4(struct ferry_policy_rule *rule)
{
	if (rule->family != AF_INET6 || rule->prefix_len < 96 ||
	    memcmp(rule->addr, v4mapped, sizeof(v4mapped)) != 0)
		return;
	memmove(rule->addr, rule->addr + 12, 4);
	memset(rule->addr + 4, 0, 12);
	rule->family = AF_INET;
	rule->prefix_len -= 96;
}

/* Loopback, link-local and unspecified: services of the egress host itself. */
static const struct ferry_policy_rule builtin_denies[] = {
    {FERRY_POLICY_DENY, FERRY_POLICY_ANY, AF_INET, 8, {127}, 0, 65535, false},
    {FERRY_POLICY_DENY, FERRY_POLICY_ANY, AF_INET, 8, {0}, 0, 65535, false},
    {FERRY_POLICY_DENY, FERRY_POLICY_ANY, AF_INET, 16, {169, 254}, 0, 65535, false},
    {FERRY_POLICY_DENY, FERRY_POLICY_ANY, AF_INET6, 128, {[15] = 1}, 0, 65535, false},
    {FERRY_POLICY_DENY, FERRY_POLICY_ANY, AF_INET6, 128, {0}, 0, 65535, false},
    {FERRY_POLICY_DENY, FERRY_POLICY_ANY, AF_INET6, 10, {0xfe, 0x80}, 0, 65535, false},
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
		return fail(why, "bad port (expected 0..65535 or N-M)");
	rule->port_max = rule->port_min;
	if (dash && parse_u16(dash + 1, &rule->port_max))
		return fail(why, "bad port (expected 0..65535 or N-M)");
	if (rule->port_max < rule->port_min)
		return fail(why, "port range reversed");
	rule->has_ports = true;
	return 0;
}

static bool host_bits_clear(const uint8_t *addr, unsigned int alen, unsigned int plen)
{
	unsigned int i;

	for (i = plen; i < alen * 8; i++)
		if (addr[i / 8] & (0x80 >> (i % 8)))
			return false;
	return true;
}

static int parse_target(char *s, struct ferry_policy_rule *rule, const char **why)
{
	char *slash = strchr(s, '/');
	unsigned int alen, plen;

	if (strcmp(s, "any") == 0) {
		rule->family = 0;
		rule->prefix_len = 0;
		return 0;
	}
	if (slash)
		*slash = '\0';
	if (inet_pton(AF_INET, s, rule->addr) == 1) {
		rule->family = AF_INET;
		alen = 4;
	} else if (inet_pton(AF_INET6, s, rule->addr) == 1) {
		rule->family = AF_INET6;
		alen = 16;
	} else {
		return fail(why, "bad address (expected an IPv4 or IPv6 prefix, or 'any')");
	}
	plen = alen * 8;
	if (slash) {
		uint16_t v;

		if (parse_u16(slash + 1, &v) || v > alen * 8)
			return fail(why, "prefix length out of range");
		plen = v;
	}
	if (!host_bits_clear(rule->addr, alen, plen))
		return fail(why, "host bits set after the prefix");
	rule->prefix_len = (uint8_t)plen;
	unmap_v4(rule);
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
	if (strcmp(words[0], "allow") == 0)
		rule->action = FERRY_POLICY_ALLOW;
	else if (strcmp(words[0], "deny") == 0)
		rule->action = FERRY_POLICY_DENY;
	else
		return fail(why, "expected 'allow' or 'deny'");
	i = 1;
	if (i < n && strcmp(words[i], "tcp") == 0)
		rule->proto = FERRY_POLICY_TCP, i++;
	else if (i < n && strcmp(words[i], "udp") == 0)
		rule->proto = FERRY_POLICY_UDP, i++;
	else if (i < n && strcmp(words[i], "icmp") == 0)
		rule->proto = FERRY_POLICY_ICMP, i++;
	if (i == n)
		return fail(why, "missing destination (a prefix, an address or 'any')");
	err = parse_target(words[i++], rule, why);
	if (err)
		return err;
	if (i < n && strcmp(words[i], "port") == 0) {
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
	unmap_v4(&policy->rules[policy->n_rules++]);
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

		if (!ifa->ifa_addr)
			continue;
		if (ifa->ifa_addr->sa_family == AF_INET) {
			rule.family = AF_INET;
			rule.prefix_len = 32;
			memcpy(rule.addr, &((struct sockaddr_in *)ifa->ifa_addr)->sin_addr, 4);
		} else if (ifa->ifa_addr->sa_family == AF_INET6) {
			rule.family = AF_INET6;
			rule.prefix_len = 128;
			memcpy(rule.addr, &((struct sockaddr_in6 *)ifa->ifa_addr)->sin6_addr, 16);
		} else {
			continue;
		}
		err = ferry_policy_add(policy, &rule);
		if (err)
			break;
		added++;
	}
	freeifaddrs(list);
	return err ? err : added;
}

static bool prefix_match(const uint8_t *a, const uint8_t *b, unsigned int plen)
{
	unsigned int whole = plen / 8, rest = plen % 8;

	if (memcmp(a, b, whole) != 0)
		return false;
	return rest == 0 || ((a[whole] ^ b[whole]) & (0xff00 >> rest)) == 0;
}

static bool rule_matches(const struct ferry_policy_rule *r, uint8_t proto, int family,
			 const uint8_t *addr, uint16_t port)
{
	if (r->proto != FERRY_POLICY_ANY && r->proto != proto)
		return false;
	if (r->family != 0 && (r->family != family || !prefix_match(r->addr, addr, r->prefix_len)))
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
			if (rule_matches(&builtin_denies[i], proto, family, addr, port))
				return FERRY_POLICY_DENY;
	return policy->default_action == FERRY_POLICY_DENY ? FERRY_POLICY_DENY : FERRY_POLICY_ALLOW;
}
