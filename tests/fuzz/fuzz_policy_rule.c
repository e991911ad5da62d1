// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness for the egress policy's rule parser: the input is text, one rule per
 * line (as the config file will carry them), each given to ferry_policy_parse_rule and
 * ferry_policy_add_text on one policy. Beyond "no crash, no sanitizer report" it checks
 * the parser's promises: 0 or -EINVAL, a reason on -EINVAL; a parsed rule has a known
 * action, protocol and family, a prefix within its family's range with the host bits
 * zero and never inside ::ffff:0:0/96, ordered ports (and none for ICMP); add_text
 * agrees with parse (and adds the same rule, or refuses with -ENOSPC when full); a rule
 * alone in a policy matches its own address; and checking fixed destinations against the
 * grown policy answers ALLOW or DENY.
 *
 * Deep path: a line that parsed as a rule.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "stack/policy.h"
#include "tests/fuzz/fuzz.h"

#define INPUT_MAX 4096 /* bytes of the input read as rule text */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct dest {
	uint8_t addr[16];
	int family;
	uint16_t port;
	uint8_t proto;
};

static const struct dest dests[] = {
    {{127, 0, 0, 1}, AF_INET, 80, FERRY_POLICY_TCP},
    {{10, 1, 2, 3}, AF_INET, 53, FERRY_POLICY_UDP},
    {{169, 254, 169, 254}, AF_INET, 0, FERRY_POLICY_ICMP},
    {{192, 0, 2, 7}, AF_INET, 65535, FERRY_POLICY_TCP},
    {{[15] = 1}, AF_INET6, 443, FERRY_POLICY_TCP},
    {{0x20, 0x01, 0x0d, 0xb8, [15] = 1}, AF_INET6, 0, FERRY_POLICY_UDP},
    {{0xfe, 0x80, [15] = 1}, AF_INET6, 0, FERRY_POLICY_ICMP},
    {{[10] = 0xff, [11] = 0xff, 10, 1, 2, 3}, AF_INET6, 8080, FERRY_POLICY_TCP},
    {{0}, AF_UNIX, 1, FERRY_POLICY_TCP},
};

/* The first 12 bytes of an IPv4-mapped IPv6 address (::ffff:a.b.c.d). */
static const uint8_t v4mapped[12] = {[10] = 0xff, [11] = 0xff};

static bool rule_eq(const struct ferry_policy_rule *a, const struct ferry_policy_rule *b)
{
	return a->action == b->action && a->proto == b->proto &&
	       ferry_prefix_cmp(&a->prefix, &b->prefix) == 0 && a->port_min == b->port_min &&
	       a->port_max == b->port_max && a->has_ports == b->has_ports;
}

static bool host_bits_zero(const uint8_t *addr, unsigned int plen)
{
	unsigned int i;

	for (i = plen; i < 128; i++)
		if (addr[i / 8] & (0x80 >> (i % 8)))
			return false;
	return true;
}

static void check_rule(const struct ferry_policy_rule *r)
{
	const struct ferry_prefix *p = &r->prefix;

	if (r->action != FERRY_POLICY_ALLOW && r->action != FERRY_POLICY_DENY)
		abort();
	if (r->proto != FERRY_POLICY_ANY && r->proto != FERRY_POLICY_TCP &&
	    r->proto != FERRY_POLICY_UDP && r->proto != FERRY_POLICY_ICMP)
		abort();
	if (p->family == 0) {
		if (p->len != 0 || !host_bits_zero(p->addr, 0))
			abort();
	} else if (p->family == AF_INET) {
		if (p->len > 32 || !host_bits_zero(p->addr, p->len))
			abort();
	} else if (p->family == AF_INET6) {
		if (p->len > 128 || !host_bits_zero(p->addr, p->len))
			abort();
		/* Kept as the IPv4 prefix it stands for: ::ffff:0:0/96 and longer never stay. */
		if (p->len >= 96 && memcmp(p->addr, v4mapped, sizeof(v4mapped)) == 0)
			abort();
	} else {
		abort();
	}
	if (r->port_min > r->port_max)
		abort();
	if (!r->has_ports && (r->port_min != 0 || r->port_max != 65535))
		abort();
	if (r->has_ports && r->proto == FERRY_POLICY_ICMP)
		abort();
}

/* First match wins: the rule alone in a policy decides for its own address and ports. */
static void check_self_match(const struct ferry_policy_rule *r, struct ferry_policy *one)
{
	static const uint8_t elsewhere[16] = {192, 0, 2, 1};
	uint8_t proto = r->proto == FERRY_POLICY_ANY ? FERRY_POLICY_TCP : r->proto;
	int family = r->prefix.family ? r->prefix.family : AF_INET;
	const uint8_t *addr = r->prefix.family ? r->prefix.addr : elsewhere;

	ferry_policy_init(one);
	one->default_action =
	    r->action == FERRY_POLICY_ALLOW ? FERRY_POLICY_DENY : FERRY_POLICY_ALLOW;
	if (ferry_policy_add(one, r) != 0)
		abort();
	if (ferry_policy_check(one, proto, family, addr, r->port_min) != r->action ||
	    ferry_policy_check(one, proto, family, addr, r->port_max) != r->action)
		abort();
}

/* Returns true when the line parsed as a rule. */
static bool check_line(struct ferry_policy *policy, struct ferry_policy *one, const char *line)
{
	struct ferry_policy_rule rule, again;
	const char *why = NULL, *why2 = NULL;
	uint32_t before = policy->n_rules;
	int ret, ret2;

	ret = ferry_policy_parse_rule(line, &rule, &why);
	if (ret != 0 && ret != -EINVAL)
		abort();
	if (ret == -EINVAL && (!why || why[0] == '\0'))
		abort();
	if (ferry_policy_parse_rule(line, &again, NULL) != ret)
		abort();
	if (ret == 0) {
		check_rule(&rule);
		if (!rule_eq(&rule, &again))
			abort();
		check_self_match(&rule, one);
	}

	ret2 = ferry_policy_add_text(policy, line, &why2);
	if (ret == -EINVAL) {
		if (ret2 != -EINVAL || why2 != why || policy->n_rules != before)
			abort();
	} else if (before >= FERRY_POLICY_RULES_MAX) {
		if (ret2 != -ENOSPC || policy->n_rules != before)
			abort();
	} else if (ret2 != 0 || policy->n_rules != before + 1 ||
		   !rule_eq(&policy->rules[before], &rule)) {
		abort();
	}
	return ret == 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const struct fuzz_spec spec = {
	    .name = "fuzz_policy_rule",
	    .deep = "a line that parsed as a rule",
	    .min_inputs = 4,
	    .floor_permille = 100,
	};

	return fuzz_init(argc, argv, &spec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ferry_policy *policy, *one;
	size_t n = size < INPUT_MAX ? size : INPUT_MAX, start, i;
	bool deep = false;
	char *text;

	text = malloc(n + 1);
	policy = malloc(sizeof(*policy));
	one = malloc(sizeof(*one));
	if (!text || !policy || !one)
		abort();
	memcpy(text, data, n);
	text[n] = '\0';
	ferry_policy_init(policy);

	/* Lines end at '\n' (a NUL inside one ends its text early, as it would for C). */
	for (start = 0; start <= n;) {
		char *nl = memchr(text + start, '\n', n - start);
		size_t end = nl ? (size_t)(nl - text) : n;

		text[end] = '\0';
		if (check_line(policy, one, text + start))
			deep = true;
		start = end + 1;
	}

	for (i = 0; i < sizeof(dests) / sizeof(dests[0]); i++) {
		const struct dest *d = &dests[i];
		enum ferry_policy_action a;

		a = ferry_policy_check(policy, d->proto, d->family, d->addr, d->port);
		if (a != FERRY_POLICY_ALLOW && a != FERRY_POLICY_DENY)
			abort();
		if (d->family == AF_UNIX && a != FERRY_POLICY_DENY)
			abort();
	}
	free(one);
	free(policy);
	free(text);
	fuzz_deep(deep);
	return 0;
}
