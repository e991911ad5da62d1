/* SPDX-License-Identifier: MIT */
/*
 * Egress policy: which destinations the peer may open sockets to.
 *
 * A policy is an ordered list of rules -- allow or deny, an address prefix, optionally a
 * protocol and a port range -- checked first match wins. After the caller's rules come
 * the built-in denies (this host's loopback, link-local and unspecified addresses, so a
 * client cannot reach services bound to the peer's 127.0.0.1 or cloud metadata at
 * 169.254.169.254), and last the default action. An explicit allow before them overrides
 * a built-in deny. IPv4-mapped IPv6 destinations (::ffff:a.b.c.d) are matched as the
 * IPv4 address they reach, and a rule written inside ::ffff:0:0/96 is read as the IPv4
 * prefix it stands for.
 *
 * Rule text (one rule per string, as the config file's Egress lines carry it):
 *
 *     allow|deny [tcp|udp|icmp] PREFIX|ADDRESS|any [port N|N-M]
 *
 * e.g. "deny 10.0.0.0/8", "allow 192.0.2.0/24 port 443", "deny tcp ::/0 port 25". The
 * keywords are case-insensitive ("DENY TCP ANY PORT 25").
 * A port range never matches ICMP (which has no ports). See docs/egress.md.
 */
#ifndef FERRY_STACK_POLICY_H
#define FERRY_STACK_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#include "transport/addr.h"

/* At most this many rules of the caller's per policy. */
#define FERRY_POLICY_RULES_MAX 256

enum ferry_policy_action {
	FERRY_POLICY_ALLOW = 1,
	FERRY_POLICY_DENY = 2,
};

/* Protocol numbers as in IP headers; 0 = any. ICMPv6 destinations use FERRY_POLICY_ICMP. */
enum ferry_policy_proto {
	FERRY_POLICY_ANY = 0,
	FERRY_POLICY_ICMP = 1,
	FERRY_POLICY_TCP = 6,
	FERRY_POLICY_UDP = 17,
};

struct ferry_policy_rule {
	uint8_t action; /* enum ferry_policy_action */
	uint8_t proto;	/* enum ferry_policy_proto */
	/* Host bits zero; family 0 (len 0) for "any", every address of both families. A
	 * prefix inside ::ffff:0:0/96 is parsed, and stored by ferry_policy_add, as the IPv4
	 * prefix it stands for. */
	struct ferry_prefix prefix;
	uint16_t port_min; /* 0..65535; a rule without ports has 0..65535 */
	uint16_t port_max;
	bool has_ports;
};

struct ferry_policy {
	struct ferry_policy_rule rules[FERRY_POLICY_RULES_MAX];
	uint32_t n_rules;
	bool builtin_denies; /* check the built-in denies after the rules (default true) */
	uint8_t default_action;
};

/* An empty policy: built-in denies on, then allow everything else. */
void ferry_policy_init(struct ferry_policy *policy);

/* Parses one rule. Returns 0, or -EINVAL with *why (if why is not NULL) pointing at a
 * static text that names what was wrong, never what was expected (the caller says that):
 * "the first word is neither 'allow' nor 'deny'", for the destination ferry_prefix_parse's
 * own ("not a valid IPv4 address", "prefix length out of range (0..32 for IPv4)", ...),
 * "host bits set after the prefix", "bad port (...)", "port range reversed",
 * "icmp has no ports", "unexpected word after the rule", ... */
int ferry_policy_parse_rule(const char *text, struct ferry_policy_rule *rule, const char **why);

/* Appends a rule (one inside ::ffff:0:0/96 as its IPv4 prefix). Returns 0, -ENOSPC past
 * FERRY_POLICY_RULES_MAX. */
int ferry_policy_add(struct ferry_policy *policy, const struct ferry_policy_rule *rule);

/* Parses and appends. Returns 0, -EINVAL (with *why as for parse), -ENOSPC. */
int ferry_policy_add_text(struct ferry_policy *policy, const char *text, const char **why);

/* Appends a deny rule (/32 or /128) for every address this host has now (getifaddrs),
 * so clients cannot reach the egress host's own services through its LAN or public
 * address. Addresses added later are not covered. Returns how many rules were added,
 * -ENOSPC when the rule list filled up (the rules before stay), or the errno of
 * getifaddrs. */
int ferry_policy_deny_host_addresses(struct ferry_policy *policy);

/* The action for a destination: proto (enum ferry_policy_proto, never ANY), family
 * AF_INET or AF_INET6, addr (4 or 16 bytes), port (ignored for ICMP). Returns
 * FERRY_POLICY_ALLOW or FERRY_POLICY_DENY (also for an unknown family). */
enum ferry_policy_action ferry_policy_check(const struct ferry_policy *policy, uint8_t proto,
					    int family, const uint8_t *addr, uint16_t port);

#endif
