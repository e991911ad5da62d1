// SPDX-License-Identifier: MIT
/*
 * The egress policy on its own: rule text parsed (and refused with a specific reason),
 * first match wins, the built-in denies after the caller's rules, IPv4 and IPv6,
 * IPv4-mapped IPv6, protocols and port ranges.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "stack/policy.h"
#include "tests/support/fixture.h"

static int check(const struct ferry_policy *p, uint8_t proto, const char *addr, uint16_t port)
{
	uint8_t a[16];
	int family = strchr(addr, ':') ? AF_INET6 : AF_INET;

	ck_assert_int_eq(inet_pton(family, addr, a), 1);
	return ferry_policy_check(p, proto, family, a, port);
}

#define ALLOW FERRY_POLICY_ALLOW
#define DENY  FERRY_POLICY_DENY
#define TCP   FERRY_POLICY_TCP
#define UDP   FERRY_POLICY_UDP
#define ICMP  FERRY_POLICY_ICMP

static struct ferry_policy *new_policy(void)
{
	struct ferry_policy *p = malloc(sizeof(*p));

	ck_assert_ptr_nonnull(p);
	ferry_policy_init(p);
	return p;
}

START_TEST(builtin_denies)
{
	struct ferry_policy *p = new_policy();

	ck_assert_int_eq(check(p, TCP, "127.0.0.1", 80), DENY);
	ck_assert_int_eq(check(p, UDP, "127.255.0.9", 53), DENY);
	ck_assert_int_eq(check(p, ICMP, "127.0.0.1", 0), DENY);
	ck_assert_int_eq(check(p, TCP, "0.0.0.0", 22), DENY);
	ck_assert_int_eq(check(p, TCP, "169.254.169.254", 80), DENY);
	ck_assert_int_eq(check(p, TCP, "::1", 80), DENY);
	ck_assert_int_eq(check(p, TCP, "::", 80), DENY);
	ck_assert_int_eq(check(p, TCP, "fe80::1", 80), DENY);
	ck_assert_int_eq(check(p, TCP, "febf:ffff::1", 80), DENY);
	ck_assert_int_eq(check(p, TCP, "::ffff:127.0.0.1", 80), DENY); /* mapped loopback */
	ck_assert_int_eq(check(p, TCP, "128.0.0.1", 80), ALLOW);
	ck_assert_int_eq(check(p, TCP, "169.255.0.1", 80), ALLOW);
	ck_assert_int_eq(check(p, TCP, "fec0::1", 80), ALLOW);
	ck_assert_int_eq(check(p, TCP, "2001:db8::1", 443), ALLOW);
	ck_assert_int_eq(check(p, TCP, "::2", 443), ALLOW);
	ck_assert_int_eq(
	    ferry_policy_check(p, TCP, AF_UNIX, (const uint8_t *)"xxxxxxxxxxxxxxxx", 1), DENY);

	p->builtin_denies = false;
	ck_assert_int_eq(check(p, TCP, "127.0.0.1", 80), ALLOW);
	p->default_action = FERRY_POLICY_DENY;
	ck_assert_int_eq(check(p, TCP, "192.0.2.1", 80), DENY);
	free(p);
}
END_TEST

START_TEST(first_match_wins)
{
	struct ferry_policy *p = new_policy();
	const char *why = NULL;

	ck_assert_int_eq(ferry_policy_add_text(p, "allow 10.1.0.0/16 port 443", &why), 0);
	ck_assert_int_eq(ferry_policy_add_text(p, "deny 10.0.0.0/8", &why), 0);
	ck_assert_int_eq(ferry_policy_add_text(p, "allow 127.0.0.1 port 8000-8080", &why), 0);
	ck_assert_int_eq(ferry_policy_add_text(p, "deny tcp ::/0 port 25", &why), 0);
	ck_assert_int_eq(ferry_policy_add_text(p, "deny udp any", &why), 0);
	ck_assert_int_eq(ferry_policy_add_text(p, "allow icmp 192.0.2.0/24", &why), 0);
	ck_assert_int_eq(ferry_policy_add_text(p, "deny icmp any", &why), 0);
	ck_assert_int_eq(p->n_rules, 7);

	ck_assert_int_eq(check(p, TCP, "10.1.2.3", 443), ALLOW);
	ck_assert_int_eq(check(p, TCP, "10.1.2.3", 444), DENY);
	ck_assert_int_eq(check(p, TCP, "10.200.0.1", 443), DENY);
	ck_assert_int_eq(check(p, TCP, "11.0.0.1", 443), ALLOW);
	/* An explicit allow overrides the built-in loopback deny, only where it says. */
	ck_assert_int_eq(check(p, TCP, "127.0.0.1", 8000), ALLOW);
	ck_assert_int_eq(check(p, TCP, "127.0.0.1", 8080), ALLOW);
	ck_assert_int_eq(check(p, TCP, "127.0.0.1", 8081), DENY);
	ck_assert_int_eq(check(p, TCP, "127.0.0.2", 8000), DENY);
	ck_assert_int_eq(check(p, TCP, "::ffff:127.0.0.1", 8000), ALLOW);
	/* Protocol-specific rules. */
	ck_assert_int_eq(check(p, TCP, "2001:db8::25", 25), DENY);
	ck_assert_int_eq(check(p, TCP, "2001:db8::25", 26), ALLOW);
	ck_assert_int_eq(check(p, TCP, "192.0.2.9", 25), ALLOW); /* ::/0 is IPv6 only */
	ck_assert_int_eq(check(p, UDP, "2001:db8::25", 25), DENY);
	ck_assert_int_eq(check(p, UDP, "192.0.2.9", 53), DENY);
	/* A port range never matches ICMP; 10.0.0.0/8 without ports does. */
	ck_assert_int_eq(check(p, ICMP, "10.1.2.3", 0), DENY);
	ck_assert_int_eq(check(p, ICMP, "127.0.0.1", 8000), DENY);
	ck_assert_int_eq(check(p, ICMP, "192.0.2.200", 0), ALLOW);
	ck_assert_int_eq(check(p, ICMP, "198.51.100.1", 0), DENY);
	free(p);
}
END_TEST

START_TEST(ipv6_prefixes)
{
	struct ferry_policy *p = new_policy();

	ck_assert_int_eq(ferry_policy_add_text(p, "deny 2001:db8:80::/41", NULL), 0);
	ck_assert_int_eq(ferry_policy_add_text(p, "allow 2001:db8::/32", NULL), 0);
	ck_assert_int_eq(ferry_policy_add_text(p, "deny ::/0", NULL), 0);
	ck_assert_int_eq(check(p, TCP, "2001:db8:7f:ffff::1", 1), ALLOW);
	ck_assert_int_eq(check(p, TCP, "2001:db8:80::1", 1), DENY);
	ck_assert_int_eq(check(p, TCP, "2001:db8:ff::1", 1), DENY);
	ck_assert_int_eq(check(p, TCP, "2001:db9::1", 1), DENY);
	ck_assert_int_eq(check(p, TCP, "192.0.2.1", 1), ALLOW);
	free(p);
}
END_TEST

/* A rule written in IPv4-mapped form is the IPv4 prefix it stands for: destinations are
 * checked as IPv4 either way, so without this it could never match (found by fuzzing). */
START_TEST(ipv4_mapped_rules)
{
	struct ferry_policy *p = new_policy();
	struct ferry_policy_rule r = {.action = DENY, .prefix = {.family = AF_INET6, .len = 120}};

	ck_assert_int_eq(ferry_policy_add_text(p, "deny ::ffff:10.0.0.0/104", NULL), 0);
	ck_assert_uint_eq(p->rules[0].prefix.family, AF_INET);
	ck_assert_uint_eq(p->rules[0].prefix.len, 8);
	ck_assert_int_eq(check(p, TCP, "10.1.2.3", 1), DENY);
	ck_assert_int_eq(check(p, TCP, "::ffff:10.1.2.3", 1), DENY);
	ck_assert_int_eq(check(p, TCP, "11.1.2.3", 1), ALLOW);
	/* The same through ferry_policy_add. */
	r.port_max = 65535;
	memcpy(r.prefix.addr, "\0\0\0\0\0\0\0\0\0\0\xff\xff\xc0\x00\x02\x00", 16);
	ck_assert_int_eq(ferry_policy_add(p, &r), 0);
	ck_assert_int_eq(check(p, UDP, "192.0.2.9", 53), DENY);
	ck_assert_int_eq(check(p, UDP, "192.0.3.9", 53), ALLOW);
	free(p);
}
END_TEST

START_TEST(parse_fields)
{
	struct ferry_policy_rule r;

	ck_assert_int_eq(ferry_policy_parse_rule("  deny\ttcp ::/0 port 25  ", &r, NULL), 0);
	ck_assert_int_eq(r.action, DENY);
	ck_assert_int_eq(r.proto, TCP);
	ck_assert_int_eq(r.prefix.family, AF_INET6);
	ck_assert_int_eq(r.prefix.len, 0);
	ck_assert(r.has_ports);
	ck_assert_int_eq(r.port_min, 25);
	ck_assert_int_eq(r.port_max, 25);

	ck_assert_int_eq(ferry_policy_parse_rule("allow 192.0.2.7 port 1000-2000", &r, NULL), 0);
	ck_assert_int_eq(r.prefix.family, AF_INET);
	ck_assert_int_eq(r.prefix.len, 32);
	ck_assert_int_eq(r.proto, 0);
	ck_assert_int_eq(r.port_min, 1000);
	ck_assert_int_eq(r.port_max, 2000);

	ck_assert_int_eq(ferry_policy_parse_rule("allow any # everything", &r, NULL), 0);
	ck_assert_int_eq(r.prefix.family, 0);
	ck_assert(!r.has_ports);
}
END_TEST

static void refused(const char *text, const char *expect)
{
	struct ferry_policy_rule r;
	const char *why = NULL;

	ck_assert_int_eq(ferry_policy_parse_rule(text, &r, &why), -EINVAL);
	ck_assert_msg(why && strstr(why, expect), "'%s': got '%s', expected '%s'", text,
		      why ? why : "(null)", expect);
	/* The config's message appends ", expected RULE-SYNTAX" to why: a why that said
	 * what it expected itself read "expected ..., expected ...". */
	ck_assert_msg(strncmp(why, "expected", 8) != 0 && !strstr(why, " expected") &&
			  !strstr(why, "(expected"),
		      "'%s': '%s' says what it expected", text, why);
}

START_TEST(parse_errors)
{
	refused("", "empty rule");
	refused("   # only a comment", "empty rule");
	refused("permit 10.0.0.0/8", "neither 'allow' nor 'deny'");
	refused("deny", "missing destination");
	refused("deny tcp", "missing destination");
	refused("deny 10.0.0.300/8", "not a valid IPv4 address");
	refused("deny example.org", "not a valid IPv4 address");
	refused("deny fd00:::1", "not a valid IPv6 address");
	refused("deny /8", "missing address");
	refused("deny 10.0.0.0/33", "prefix length out of range (0..32 for IPv4)");
	refused("deny ::/129", "prefix length out of range (0..128 for IPv6)");
	refused("deny 10.0.0.0/x", "prefix length is not a number");
	refused("deny 10.0.0.0/", "missing prefix length");
	refused("deny 10.0.0.1/8", "host bits set");
	refused("deny 2001:db8::1/32", "host bits set");
	refused("deny 10.0.0.0/8 port", "missing port");
	refused("deny 10.0.0.0/8 port 65536", "bad port");
	refused("deny 10.0.0.0/8 port -1", "bad port");
	refused("deny 10.0.0.0/8 port 80-", "bad port");
	refused("deny 10.0.0.0/8 port 90-80", "port range reversed");
	refused("deny icmp 10.0.0.0/8 port 1", "icmp has no ports");
	refused("deny 10.0.0.0/8 443", "unexpected word");
	refused("deny tcp 10.0.0.0/8 port 1 extra", "unexpected word");
	refused("deny tcp udp 10.0.0.0/8", "not a valid IPv4 address");
	refused("deny 1111111111111111111111111111111111111111111111111111111111111111111",
		"word too long");
}
END_TEST

/* Like every keyword of the config file, the rule's words are case-insensitive. */
START_TEST(parse_keywords_any_case)
{
	struct ferry_policy_rule r;

	ck_assert_int_eq(ferry_policy_parse_rule("DENY TCP ANY PORT 25", &r, NULL), 0);
	ck_assert_int_eq(r.action, DENY);
	ck_assert_int_eq(r.proto, TCP);
	ck_assert_int_eq(r.prefix.family, 0);
	ck_assert(r.has_ports);
	ck_assert_int_eq(r.port_min, 25);
	ck_assert_int_eq(ferry_policy_parse_rule("Allow Udp 10.0.0.0/8 Port 53", &r, NULL), 0);
	ck_assert_int_eq(r.action, ALLOW);
	ck_assert_int_eq(r.proto, UDP);
	ck_assert_int_eq(r.prefix.family, AF_INET);
	ck_assert_int_eq(r.port_max, 53);
	ck_assert_int_eq(ferry_policy_parse_rule("deny ICMP FD00::/8", &r, NULL), 0);
	ck_assert_int_eq(r.proto, ICMP);
	ck_assert_int_eq(r.prefix.family, AF_INET6);
	refused("Permit any", "neither 'allow' nor 'deny'");
}
END_TEST

START_TEST(rule_limit)
{
	struct ferry_policy *p = new_policy();
	struct ferry_policy_rule r;
	unsigned int i;

	ck_assert_int_eq(ferry_policy_parse_rule("deny 10.0.0.0/8", &r, NULL), 0);
	for (i = 0; i < FERRY_POLICY_RULES_MAX; i++)
		ck_assert_int_eq(ferry_policy_add(p, &r), 0);
	ck_assert_int_eq(ferry_policy_add(p, &r), -ENOSPC);
	ck_assert_int_eq(ferry_policy_add_text(p, "allow any", NULL), -ENOSPC);
	ck_assert_int_eq(ferry_policy_add_text(p, "nonsense", NULL), -EINVAL);
	free(p);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("policy");
	TCase *tc = ferry_tcase("policy", 5);

	tcase_add_test(tc, builtin_denies);
	tcase_add_test(tc, first_match_wins);
	tcase_add_test(tc, ipv6_prefixes);
	tcase_add_test(tc, ipv4_mapped_rules);
	tcase_add_test(tc, parse_fields);
	tcase_add_test(tc, parse_errors);
	tcase_add_test(tc, parse_keywords_any_case);
	tcase_add_test(tc, rule_limit);
	suite_add_tcase(s, tc);
	return ferry_run_suite(s);
}
