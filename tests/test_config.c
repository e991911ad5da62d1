// SPDX-License-Identifier: MIT
/*
 * The configuration file: good files read into the right values and defaults; each kind
 * of bad input is refused with its own message on the right line; all errors of a file are
 * reported; the permission warning; files that cannot be read. (The prefix parser itself
 * is tested in test_addr.c.)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/config.h"
#include "tests/support/configrig.h"
#include "tests/support/fixture.h"

/* ---- good files ---- */

START_TEST(minimal_file_gets_defaults)
{
	struct fixture f;
	char text[FERRY_KEY_B64_LEN + 1];

	ck_assert_int_eq(parse(&f, IFACE), 0);
	ck_assert_uint_eq(f.diag.errors, 0);
	ck_assert_uint_eq(f.diag.warnings, 0);
	ck_assert_uint_eq(f.diag.count, 0);
	ck_assert_uint_eq(f.cfg.iface.line, 1);
	ck_assert_uint_eq(f.cfg.iface.listen_port, 0);
	ck_assert_uint_eq(f.cfg.iface.mtu, FERRY_CONFIG_DEFAULT_MTU);
	ck_assert_uint_eq(f.cfg.iface.addresses.n, 0);
	ck_assert_int_eq(f.cfg.iface.arq.profile, FERRY_ARQ_PROFILE_FAST2);
	ck_assert(f.cfg.iface.arq.nodelay);
	ck_assert_uint_eq(f.cfg.iface.arq.interval_ms, 20);
	ck_assert_uint_eq(f.cfg.iface.arq.resend, 2);
	ck_assert(f.cfg.iface.arq.nocongestion);
	ck_assert_uint_eq(f.cfg.iface.fec_data, 10);
	ck_assert_uint_eq(f.cfg.iface.fec_parity, 3);
	ck_assert_uint_eq(f.cfg.npeers, 0);
	ck_assert_uint_eq(f.cfg.iface.dns.nservers, 0);
	ck_assert_uint_eq(f.cfg.iface.dns.nsearch, 0);
	ck_assert_uint_eq(f.cfg.iface.dns.line, 0);
	ferry_key_to_base64(text, f.cfg.iface.public_key);
	ck_assert_str_eq(text, ALICE_PUB);
	ferry_config_free(&f.cfg);
}
END_TEST

static const char full_file[] = "\xef\xbb\xbf# ferry client, every key\r\n" /* 1: BOM, CRLF */
				"[Interface]\r\n"			    /* 2 */
				"PrivateKey = " ALICE_PRIV "\r\n"	    /* 3 */
				"ListenPort = 51820 ; inline comment\r\n"   /* 4 */
				"Address = 10.9.0.2/24, fd00:9::2/64\r\n"   /* 5 */
				"address = 10.9.1.2\r\n"		    /* 6: case, repeat */
				"MTU = 1420\r\n"			    /* 7 */
				"Profile = FAST3   # wg-style comment\r\n"  /* 8 */
				"FecData = 20\r\n"			    /* 9 */
				"FecParity = 0\r\n"			    /* 10 */
				"\r\n"					    /* 11 */
				"; a comment\r\n"			    /* 12 */
				"[peer]\r\n"				    /* 13 */
				"PublicKey = " BOB_PUB "\r\n"		    /* 14 */
				"PresharedKey = " CAROL_PUB "\r\n"	    /* 15 */
				"Endpoint = [2001:db8::1]:51820\r\n"	    /* 16 */
				"AllowedIPs = 0.0.0.0/0, ::/0\r\n"	    /* 17 */
				"PersistentKeepalive = 25\r\n"		    /* 18 */
				"[Peer]\r\n"				    /* 19 */
				"PublicKey = " CAROL_PUB "\r\n"		    /* 20 */
				"Endpoint = vpn.example.org:443\r\n"	    /* 21 */
				"AllowedIPs = 192.168.7.0/24\r\n"	    /* 22 */
				"AllowedIPs = fd00:7::/48\r\n"		    /* 23 */
				"PersistentKeepalive = off\r\n";	    /* 24 */

START_TEST(full_file_all_keys)
{
	const struct ferry_config_peer *p;
	char text[FERRY_PREFIX_STRLEN];
	struct fixture f;

	if (parse(&f, full_file) != 0)
		dump(&f);
	ck_assert_uint_eq(f.diag.errors, 0);
	ck_assert_uint_eq(f.diag.warnings, 0);
	ck_assert_uint_eq(f.cfg.iface.line, 2);
	ck_assert_uint_eq(f.cfg.iface.listen_port, 51820);
	ck_assert_uint_eq(f.cfg.iface.addresses.n, 3);
	ferry_prefix_format(text, &f.cfg.iface.addresses.v[0].prefix);
	ck_assert_str_eq(text, "10.9.0.2/24");
	ferry_prefix_format(text, &f.cfg.iface.addresses.v[1].prefix);
	ck_assert_str_eq(text, "fd00:9::2/64");
	ck_assert_int_eq(f.cfg.iface.addresses.v[1].prefix.family, AF_INET6);
	ck_assert_uint_eq(f.cfg.iface.addresses.v[1].line, 5);
	ferry_prefix_format(text, &f.cfg.iface.addresses.v[2].prefix);
	ck_assert_str_eq(text, "10.9.1.2/32");
	ck_assert_uint_eq(f.cfg.iface.mtu, 1420);
	ck_assert_int_eq(f.cfg.iface.arq.profile, FERRY_ARQ_PROFILE_FAST3);
	ck_assert_uint_eq(f.cfg.iface.arq.interval_ms, 10);
	ck_assert_uint_eq(f.cfg.iface.fec_data, 20);
	ck_assert_uint_eq(f.cfg.iface.fec_parity, 0);

	ck_assert_uint_eq(f.cfg.npeers, 2);
	p = &f.cfg.peers[0];
	ck_assert_uint_eq(p->line, 13);
	ck_assert(p->has_preshared_key);
	ck_assert(p->endpoint.set);
	ck_assert_str_eq(p->endpoint.host, "2001:db8::1");
	ck_assert_uint_eq(p->endpoint.port, 51820);
	ck_assert_uint_eq(p->allowed_ips.n, 2);
	ferry_prefix_format(text, &p->allowed_ips.v[1].prefix);
	ck_assert_str_eq(text, "::/0");
	ck_assert_uint_eq(p->persistent_keepalive, 25);
	p = &f.cfg.peers[1];
	ck_assert_uint_eq(p->line, 19);
	ck_assert(!p->has_preshared_key);
	ck_assert_str_eq(p->endpoint.host, "vpn.example.org");
	ck_assert_uint_eq(p->endpoint.port, 443);
	ck_assert_uint_eq(p->allowed_ips.n, 2);
	ferry_prefix_format(text, &p->allowed_ips.v[1].prefix);
	ck_assert_str_eq(text, "fd00:7::/48");
	ck_assert_uint_eq(p->persistent_keepalive, 0);
	ferry_config_free(&f.cfg);
	ferry_config_free(&f.cfg); /* safe twice */
	ck_assert_ptr_null(f.cfg.peers);
}
END_TEST

START_TEST(many_peers)
{
	char text[64 * 1024], key[FERRY_KEY_B64_LEN + 1];
	uint8_t raw[FERRY_KEY_LEN] = {1};
	size_t o;
	struct fixture f;
	int i;

	o = (size_t)snprintf(text, sizeof(text), IFACE);
	for (i = 0; i < 100; i++) {
		raw[1] = (uint8_t)i;
		ferry_key_to_base64(key, raw);
		o +=
		    (size_t)snprintf(text + o, sizeof(text) - o,
				     "[Peer]\nPublicKey = %s\nAllowedIPs = 10.%d.0.0/16\n", key, i);
	}
	ck_assert_uint_lt(o, sizeof(text));
	ck_assert_int_eq(parse(&f, text), 0);
	ck_assert_uint_eq(f.cfg.npeers, 100);
	ck_assert_uint_eq(f.cfg.peers[99].allowed_ips.v[0].prefix.addr[1], 99);
	ck_assert_uint_eq(f.cfg.peers[99].line, 3 + 99 * 3);
	ferry_config_free(&f.cfg);
}
END_TEST

START_TEST(manual_profile)
{
	struct fixture f;

	ck_assert_int_eq(parse(&f, IFACE "Profile = manual\nNoDelay = off\nInterval = 15\n"
					 "NoCongestion = no\n"),
			 0);
	ck_assert_int_eq(f.cfg.iface.arq.profile, FERRY_ARQ_PROFILE_MANUAL);
	ck_assert(!f.cfg.iface.arq.nodelay);
	ck_assert_uint_eq(f.cfg.iface.arq.interval_ms, 15);
	ck_assert_uint_eq(f.cfg.iface.arq.resend, 2); /* not given: fast2's */
	ck_assert(!f.cfg.iface.arq.nocongestion);
	ferry_config_free(&f.cfg);

	/* The manual keys may come before Profile. */
	ck_assert_int_eq(parse(&f, IFACE "Resend = 0\nNoDelay = TRUE\nProfile = manual\n"), 0);
	ck_assert_uint_eq(f.cfg.iface.arq.resend, 0);
	ck_assert(f.cfg.iface.arq.nodelay);
	ferry_config_free(&f.cfg);

	ck_assert_int_eq(parse(&f, IFACE "Profile = normal\n"), 0);
	ck_assert(!f.cfg.iface.arq.nodelay);
	ck_assert_uint_eq(f.cfg.iface.arq.interval_ms, 40);
	ck_assert_str_eq(ferry_config_profile_name(f.cfg.iface.arq.profile), "normal");
	ferry_config_free(&f.cfg);
}
END_TEST

START_TEST(allowed_ips_host_bits_warn_and_normalize)
{
	char text[FERRY_PREFIX_STRLEN];
	struct fixture f;

	ck_assert_int_eq(parse(&f, IFACE PEER(BOB_PUB) "AllowedIPs = 10.1.2.3/16, fd00::1/8\n"), 0);
	ck_assert_uint_eq(f.diag.errors, 0);
	ck_assert_uint_eq(f.diag.warnings, 2);
	expect_msg(&f, 6, true,
		   "t.conf:6: warning: [Peer] AllowedIPs: \"10.1.2.3/16\" has "
		   "host bits set, read as 10.1.0.0/16");
	expect_msg(&f, 6, true, "read as fd00::/8");
	ferry_prefix_format(text, &f.cfg.peers[0].allowed_ips.v[0].prefix);
	ck_assert_str_eq(text, "10.1.0.0/16");
	ferry_config_free(&f.cfg);
	/* Address keeps them: they are the interface's own address. */
	ck_assert_int_eq(parse(&f, IFACE "Address = 10.1.2.3/16\n"), 0);
	ck_assert_uint_eq(f.diag.warnings, 0);
	ferry_prefix_format(text, &f.cfg.iface.addresses.v[0].prefix);
	ck_assert_str_eq(text, "10.1.2.3/16");
	ferry_config_free(&f.cfg);
}
END_TEST

START_TEST(egress_keys)
{
	static const uint8_t lo[4] = {127, 0, 0, 1}, lan[4] = {192, 168, 1, 10},
			     web[4] = {192, 0, 2, 7};
	const struct ferry_policy *pol;
	struct fixture f;

	/* Defaults: no mark, not transparent, only the built-in denies. */
	ck_assert_int_eq(parse(&f, IFACE), 0);
	ck_assert_uint_eq(f.cfg.iface.fwmark, 0);
	ck_assert(!f.cfg.iface.egress_transparent);
	ck_assert(!f.cfg.iface.kill_switch);
	ck_assert(!f.cfg.iface.forward);
	ck_assert_uint_eq(f.cfg.iface.egress.n_rules, 0);
	ck_assert_int_eq(ferry_policy_check(&f.cfg.iface.egress, FERRY_POLICY_TCP, AF_INET, lo, 22),
			 FERRY_POLICY_DENY);
	ck_assert_int_eq(
	    ferry_policy_check(&f.cfg.iface.egress, FERRY_POLICY_TCP, AF_INET, web, 80),
	    FERRY_POLICY_ALLOW);
	ferry_config_free(&f.cfg);

	/* Rules keep file order across lines and commas; first match wins. */
	ck_assert_int_eq(
	    parse(&f, IFACE "FwMark = 0x1f\n"
			    "EgressTransparent = yes\n"
			    "KillSwitch = on\n"
			    "Forward = yes\n"
			    "Egress = allow tcp 192.0.2.0/24 port 443, deny 192.0.2.0/24\n"
			    "Egress = deny 192.168.0.0/16\n" PEER(BOB_PUB) "AllowedIPs = ::/0\n"),
	    0);
	pol = &f.cfg.iface.egress;
	ck_assert_uint_eq(f.cfg.iface.fwmark, 0x1f);
	ck_assert(f.cfg.iface.egress_transparent);
	ck_assert(f.cfg.iface.kill_switch);
	ck_assert(f.cfg.iface.forward);
	ck_assert_uint_eq(pol->n_rules, 3);
	ck_assert_uint_eq(pol->rules[0].action, FERRY_POLICY_ALLOW);
	ck_assert_uint_eq(pol->rules[1].action, FERRY_POLICY_DENY);
	ck_assert_uint_eq(pol->rules[2].prefix.len, 16);
	ck_assert_int_eq(ferry_policy_check(pol, FERRY_POLICY_TCP, AF_INET, web, 443),
			 FERRY_POLICY_ALLOW);
	ck_assert_int_eq(ferry_policy_check(pol, FERRY_POLICY_TCP, AF_INET, web, 80),
			 FERRY_POLICY_DENY);
	ck_assert_int_eq(ferry_policy_check(pol, FERRY_POLICY_UDP, AF_INET, lan, 53),
			 FERRY_POLICY_DENY);
	ferry_config_free(&f.cfg);

	ck_assert_int_eq(parse(&f, IFACE "FwMark = 4294967295\n"), 0);
	ck_assert_uint_eq(f.cfg.iface.fwmark, UINT32_MAX);
	ferry_config_free(&f.cfg);
	ck_assert_int_eq(parse(&f, IFACE "FwMark = off\n"), 0);
	ck_assert_uint_eq(f.cfg.iface.fwmark, 0);
	ferry_config_free(&f.cfg);
}
END_TEST

/* The 257th rule is refused, naming the limit. */
START_TEST(egress_rule_limit)
{
	static char text[FERRY_POLICY_RULES_MAX * 40 + 200];
	struct fixture f;
	size_t o;
	int i;

	o = (size_t)snprintf(text, sizeof(text), "%s", IFACE);
	for (i = 0; i <= FERRY_POLICY_RULES_MAX; i++)
		o += (size_t)snprintf(text + o, sizeof(text) - o, "Egress = deny 10.%d.%d.0/24\n",
				      i / 256, i % 256);
	ck_assert_int_eq(parse(&f, text), -EINVAL);
	ck_assert_uint_eq(f.diag.errors, 1);
	expect_msg(&f, 3 + FERRY_POLICY_RULES_MAX, false, "Egress: more than 256 rules");
	ferry_config_free(&f.cfg);
}
END_TEST

/* User: a name or a number as written, looked up only when ferry starts. */
START_TEST(user_key)
{
	static const char *const good[] = {"nobody", "65534",	  "0",	   "www-data",
					   "_apt",   "build.bot", "host$", "4294967294"};
	struct fixture f;
	char text[256];
	size_t i;

	ck_assert_int_eq(parse(&f, IFACE), 0);
	ck_assert_str_eq(f.cfg.iface.user, "");
	ck_assert_uint_eq(f.cfg.iface.user_line, 0);
	ferry_config_free(&f.cfg);
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(text, sizeof(text), IFACE "MTU = 1400\nUser = %s\n", good[i]);
		if (parse(&f, text) != 0)
			dump(&f);
		ck_assert_uint_eq(f.diag.errors, 0);
		ck_assert_str_eq(f.cfg.iface.user, good[i]);
		ck_assert_uint_eq(f.cfg.iface.user_line, 4);
		ferry_config_free(&f.cfg);
	}
	/* hooks that run at the start are no obstacle: they run before the change */
	ck_assert_int_eq(parse(&f, IFACE "User = nobody\nPostUp = true\nPreUp = true\n"), 0);
	ferry_config_free(&f.cfg);
}
END_TEST

/* ---- bad input: one kind per case, each with its message and line ---- */

struct bad_case {
	const char *text;
	size_t len;
	unsigned int line;
	const char *needle;
};

#define BAD(text, line, needle)                      \
	{                                            \
		text, sizeof(text) - 1, line, needle \
	}

static const struct bad_case bad_cases[] = {
    /* structure */
    BAD(IFACE "[Peers]\n", 3, "unknown section \"[Peers]\", expected [Interface] or [Peer]"),
    BAD(IFACE "Foo = 1\n", 3, "[Interface]: unknown key \"Foo\", expected one of PrivateKey,"),
    BAD(IFACE PEER(BOB_PUB) "Port = 1\n", 6,
	"[Peer]: unknown key \"Port\", expected one of PublicKey,"),
    BAD(IFACE PEER(BOB_PUB) "ListenPort = 1\n", 6, "key ListenPort belongs in [Interface]"),
    BAD(IFACE "PublicKey = " BOB_PUB "\n", 3, "key PublicKey belongs in [Peer]"),
    BAD("MTU = 1400\n" IFACE, 1, "key \"MTU\" outside any section, expected \"[Interface]\""),
    BAD(IFACE "MTU 1400\n", 3, "t.conf:3: missing \"=\", expected \"Key = Value\""),
    BAD(IFACE "MTU: 1400\n", 3, "\":\" between key and value"),
    BAD(IFACE "= 1400\n", 3, "missing key before \"=\""),
    BAD(IFACE "MTU =\n", 3, "[Interface] MTU: missing value, expected 576..65535"),
    BAD(IFACE "MTU = 1400\nMTU = 1500\n", 4, "MTU: set twice, first at line 3"),
    BAD(IFACE "[Interface]\nMTU = 1400\n", 3,
	"a second [Interface] section, the first is at line 1"),
    BAD(IFACE "[Peer\nPublicKey = " BOB_PUB "\n", 3, "section header without \"]\""),
    BAD(IFACE "[Peer] extra\nPublicKey = " BOB_PUB "\n", 3, "unexpected text after \"]\""),
    BAD("", 0, "t.conf: no [Interface] section"),
    BAD("# only a comment\n\n; another\n", 0, "no [Interface] section"),
    BAD(PEER(BOB_PUB), 0, "no [Interface] section"),
    BAD("[Interface]\nListenPort = 1\n", 1, "t.conf:1: [Interface]: missing PrivateKey"),
    BAD(IFACE "[Peer]\nEndpoint = 192.0.2.1:1\n", 3, "[Peer]: missing PublicKey"),
    BAD(IFACE "[Peer]\n[Peer]\nPublicKey = " BOB_PUB "\n", 3, "[Peer]: missing PublicKey"),
    BAD(IFACE "Address = 10.0.0.2/24\n  fd00::2/64\n", 4,
	"indented line without \"=\" after a key line: a value does not continue"),
    BAD(IFACE "# 0123456789012345678901234567890123456789012345678901234567890123456789"
	      "0123456789012345678901234567890123456789012345678901234567890123456789"
	      "0123456789012345678901234567890123456789012345678901234567890123456789\n",
	3, "line too long (212 characters), expected at most 199"),
    BAD(IFACE "MTU = 14\0"
	      "00\n",
	3, "line holds a NUL byte"),
    /* keys */
    BAD("[Interface]\nPrivateKey = dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LC!=\n", 2,
	"[Interface] PrivateKey: the value (not shown) is not valid base64"),
    BAD(IFACE "[Peer]\nPublicKey = 3p7bfXt9wbTTW2HC7OQ1Nz+DQ8hbeGdNrfx+FG+IK08\n", 4,
	"\"3p7bfXt9wbTTW2HC7OQ1Nz+DQ8hbeGdNrfx+FG+IK08\" is 43 characters long"),
    BAD(IFACE "[Peer]\nPublicKey = 3p7bfXt9wbTTW2HC7OQ1Nz-DQ8hbeGdNrfx_FG-IK08=\n", 4,
	"uses the URL-safe base64 alphabet"),
    BAD(IFACE "[Peer]\nPublicKey = AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n", 4,
	"the key is all zeros"),
    BAD(IFACE PEER(ALICE_PUB), 3, "PublicKey: is this interface's own public key"),
    BAD(IFACE PEER(BOB_PUB) PEER(BOB_PUB), 6,
	"t.conf:6: [Peer] PublicKey: the same peer as the [Peer] at line 3"),
    /* numbers */
    BAD(IFACE "ListenPort = 65536\n", 3, "\"65536\" is out of range, expected 0..65535"),
    BAD(IFACE "ListenPort = 51820x\n", 3, "\"51820x\" is not a number, expected 0..65535"),
    BAD(IFACE "ListenPort = -1\n", 3, "\"-1\" is not a number"),
    BAD(IFACE "ListenPort = 99999999999999999999\n", 3, "is out of range"),
    BAD(IFACE "MTU = 90000\n", 3,
	"t.conf:3: [Interface] MTU: \"90000\" is out of range, expected 576..65535"),
    BAD(IFACE "Address = fd00::2/64\nMTU = 1200\n", 4,
	"MTU: 1200 is too small for the IPv6 Address, expected 1280..65535"),
    BAD(IFACE "MTU = 1000\n" PEER(BOB_PUB) "AllowedIPs = 10.0.0.0/8, fd00::/64\n", 7,
	"t.conf:7: [Peer] AllowedIPs: an IPv6 prefix needs MTU 1280 or more (MTU is 1000)"),
    BAD(IFACE "FecData = 0\n", 3, "FecData: \"0\" is out of range, expected 1..64"),
    BAD(IFACE "FecParity = 33\n", 3, "FecParity: \"33\" is out of range, expected 0..32"),
    BAD(IFACE "FecData = 65\n", 3, "FecData: \"65\" is out of range, expected 1..64"),
    /* congestion control */
    BAD(IFACE "Congestion = cubic\n", 3,
	"Congestion: unknown controller \"cubic\", expected bbr, fixed or off"),
    BAD(IFACE "Congestion = fixed\n", 3, "Congestion = fixed needs a Rate, expected a rate"),
    BAD(IFACE "Rate = 50M\n", 3, "Rate: only allowed with Congestion = fixed"),
    BAD(IFACE "MaxRate = 12x\n", 3, "MaxRate: \"12x\" is not a rate, expected"),
    BAD(IFACE "MaxRate = 999k\n", 3, "MaxRate: \"999k\" is out of range, expected"),
    BAD(IFACE "MaxRate = 2.5G\n", 3, "MaxRate: \"2.5G\" is not a rate"),
    BAD(IFACE "MaxRate = 200G\n", 3, "is out of range"),
    BAD(IFACE PEER(BOB_PUB) "PersistentKeepalive = sometimes\n", 6, "is not a number"),
    /* ARQ profile */
    BAD(IFACE "Profile = turbo\n", 3, "unknown profile \"turbo\", expected normal, fast,"),
    BAD(IFACE "Profile = fast\nInterval = 10\n", 4,
	"Interval: only allowed with Profile = manual (the profile is fast)"),
    BAD(IFACE "NoDelay = 1\n", 3, "only allowed with Profile = manual (the profile is fast2)"),
    BAD(IFACE "Profile = manual\nNoDelay = maybe\n", 4, "\"maybe\" is not a boolean"),
    BAD(IFACE "Profile = manual\nInterval = 0\n", 4, "expected 1..5000"),
    BAD(IFACE "Profile = manual\nResend = 101\n", 4, "\"101\" is out of range, expected 0..100"),
    /* prefixes */
    BAD(IFACE "Address = 10.0.0.300/24\n", 3, "\"10.0.0.300/24\": not a valid IPv4 address"),
    BAD(IFACE "Address = 10.0.0.2/33\n", 3,
	"\"10.0.0.2/33\": prefix length out of range (0..32 for IPv4)"),
    BAD(IFACE "Address = fd00::2/129\n", 3, "prefix length out of range (0..128 for IPv6)"),
    BAD(IFACE "Address = fd00:::2/64\n", 3, "\"fd00:::2/64\": not a valid IPv6 address"),
    BAD(IFACE "Address = 10.0.0.2/+8\n", 3, "\"10.0.0.2/+8\": prefix length is not a number"),
    BAD(IFACE "Address = 10.0.0.2/\n", 3, "\"10.0.0.2/\": missing prefix length after \"/\""),
    BAD(IFACE "Address = 10.0.0.2 /24\n", 3, "\"10.0.0.2 /24\": not a valid IPv4 address"),
    BAD(IFACE "Address = 0.0.0.0/0\n", 3, "not a usable interface address"),
    BAD(IFACE "Address = 10.0.0.2/24\nAddress = 10.0.0.2/24\n", 4,
	"Address: 10.0.0.2/24 is already listed at line 3"),
    BAD(IFACE PEER(BOB_PUB) "AllowedIPs = 10.0.0.0/8,,fd00::/8\n", 6, "empty entry in the list"),
    BAD(IFACE PEER(BOB_PUB) "AllowedIPs = 10.0.0.0/8\n" PEER(CAROL_PUB) "AllowedIPs = 10.0.0.0/8\n",
	10, "[Peer] AllowedIPs: 10.0.0.0/8 is already listed at line 6"),
    /* endpoints */
    BAD(IFACE PEER(BOB_PUB) "Endpoint = vpn.example.org\n", 6, "has no port, expected host:port"),
    BAD(IFACE PEER(BOB_PUB) "Endpoint = [fd00::1:51820\n", 6, "has no \"]\" after the IPv6"),
    BAD(IFACE PEER(BOB_PUB) "Endpoint = [fd00::1]51820\n", 6, "has no \":port\" after \"]\""),
    BAD(IFACE PEER(BOB_PUB) "Endpoint = [vpn.example.org]:1\n", 6,
	"is not a valid IPv6 address in brackets"),
    BAD(IFACE PEER(BOB_PUB) "Endpoint = fd00::1:51820\n", 6, "IPv6 address without brackets"),
    BAD(IFACE PEER(BOB_PUB) "Endpoint = 192.0.2.1:0\n", 6, "port out of range (1..65535)"),
    BAD(IFACE PEER(BOB_PUB) "Endpoint = 192.0.2.1:\n", 6, "port that is not a number"),
    BAD(IFACE PEER(BOB_PUB) "Endpoint = 192.0.2.300:1\n", 6, "is not a valid IPv4 address"),
    BAD(IFACE PEER(BOB_PUB) "Endpoint = vpn_x.example.org:1\n", 6, "not allowed in a host name"),
    BAD(IFACE PEER(BOB_PUB) "Endpoint = vpn..example.org:1\n", 6, "empty label"),
    BAD(IFACE PEER(BOB_PUB) "Endpoint = :51820\n", 6, "has an empty host"),
    /* egress */
    BAD(IFACE "Egress = permit 10.0.0.0/8\n", 3,
	"[Interface] Egress: \"permit 10.0.0.0/8\": the first word is neither 'allow' nor "
	"'deny', expected rules"),
    BAD(IFACE "Egress = deny 10.0.0.0/33\n", 3, "\"deny 10.0.0.0/33\": prefix length out of range"),
    BAD(IFACE "Egress = deny 10.0.0.1/8\n", 3, "host bits set after the prefix"),
    BAD(IFACE "Egress = allow icmp any port 1\n", 3, "icmp has no ports"),
    BAD(IFACE "Egress = allow any port 90-80\n", 3, "port range reversed"),
    BAD(IFACE "Egress = deny 10.0.0.0/8,\n", 3, "Egress: empty entry in the list"),
    BAD(IFACE PEER(BOB_PUB) "Egress = deny any\n", 6, "key Egress belongs in [Interface]"),
    BAD(IFACE "EgressTransparent = sure\n", 3, "\"sure\" is not a boolean"),
    /* the kill switch guards full-device mode only */
    BAD(IFACE "KillSwitch = on\n" PEER(BOB_PUB) "AllowedIPs = 10.0.0.0/8\n", 3,
	"[Interface] KillSwitch: needs full-device mode, expected a peer with AllowedIPs "
	"0.0.0.0/0 or ::/0"),
    BAD(IFACE "KillSwitch = maybe\n", 3, "\"maybe\" is not a boolean"),
    BAD(IFACE "Forward = 2\n", 3, "[Interface] Forward: \"2\" is not a boolean"),
    BAD(IFACE "FwMark = 0x100000000\n", 3, "FwMark: \"0x100000000\" is out of range"),
    BAD(IFACE "FwMark = 0x\n", 3, "FwMark: \"0x\" is not a number"),
    BAD(IFACE "FwMark = 0x12g\n", 3, "\"0x12g\" is not a number"),
    BAD(IFACE "FwMark = 4294967296\n", 3, "is out of range, expected off, 0..4294967295"),
    /* User */
    BAD(IFACE "User = -nobody\n", 3,
	"[Interface] User: \"-nobody\" is not a user name, expected a user name (letters, "
	"digits, '.', '_', '-') or a user number 0..4294967294"),
    BAD(IFACE "User = no body\n", 3, "\"no body\" is not a user name"),
    BAD(IFACE "User = $\n", 3, "\"$\" is not a user name"),
    BAD(IFACE "User = b\xc3\xb6\n", 3, "is not a user name"),
    BAD(IFACE "User = 4294967295\n", 3, "User: \"4294967295\" is out of range"),
    BAD(IFACE "User = abcdefghijklmnopqrstuvwxyz0123456\n", 3,
	"is longer than 32 characters, expected a user name"),
    BAD(IFACE "User = nobody\nUser = root\n", 4, "User: set twice, first at line 3"),
    BAD(IFACE "User = nobody\nPostDown = ip rule del table 7\n", 3,
	"[Interface] User: PreDown and PostDown run as root when ferry stops, which it no "
	"longer is as another user, expected no User with them"),
    BAD(IFACE "PreDown = true\nUser = 65534\n", 4, "User: PreDown and PostDown run as root"),
    BAD(IFACE PEER(BOB_PUB) "User = nobody\n", 6, "key User belongs in [Interface]"),
};

/* All cases in one test: under the sanitizers a forked test costs more than all of these
 * together. A failure names the case. */
START_TEST(bad_input)
{
	struct fixture f;
	size_t i;
	int ret;

	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];

		ret = parse_len(&f, c->text, c->len);
		if (ret != -EINVAL || !find_msg(&f, c->line, false, c->needle))
			dump(&f);
		ck_assert_msg(ret == -EINVAL, "case %zu (%s): returned %d", i, c->needle, ret);
		ck_assert_msg(find_msg(&f, c->line, false, c->needle),
			      "case %zu: no error on line %u containing '%s'", i, c->line,
			      c->needle);
		/* On failure nothing is handed out. */
		ck_assert_ptr_null(f.cfg.peers);
		ck_assert_uint_eq(f.cfg.npeers, 0);
		ck_assert_ptr_null(f.cfg.iface.addresses.v);
		ferry_config_free(&f.cfg);
	}
	ck_assert_uint_ge(i, 60);
}
END_TEST

START_TEST(all_errors_reported_in_line_order)
{
	static const char text[] = "[Interface]\n"     /* 1: PrivateKey missing */
				   "MTU = 10\n"	       /* 2 */
				   "Bogus = 1\n"       /* 3 */
				   "[Peer]\n"	       /* 4: PublicKey missing */
				   "Endpoint = nope\n" /* 5 */
				   "AllowedIPs = 1.2.3.4/40, 10.0.0.0/8, x\n" /* 6: two errors */
				   "[Wat]\n";				      /* 7 */
	static const unsigned int lines[] = {1, 2, 3, 4, 5, 6, 6, 7};
	struct fixture f;
	unsigned int i;

	ck_assert_int_eq(parse(&f, text), -EINVAL);
	if (f.diag.errors != 8)
		dump(&f);
	ck_assert_uint_eq(f.diag.errors, 8);
	ck_assert_uint_eq(f.diag.count, 8);
	for (i = 0; i < 8; i++)
		ck_assert_uint_eq(f.diag.msg[i].line, lines[i]);
	expect_msg(&f, 6, false, "\"1.2.3.4/40\": prefix length out of range");
	expect_msg(&f, 6, false, "\"x\": not a valid IPv4 address");
	ferry_config_free(&f.cfg);
}
END_TEST

START_TEST(too_many_errors_are_counted_not_kept)
{
	char text[4096];
	size_t o;
	struct fixture f;
	int i;

	o = (size_t)snprintf(text, sizeof(text), IFACE);
	for (i = 0; i < 100; i++)
		o += (size_t)snprintf(text + o, sizeof(text) - o, "Bogus%d = 1\n", i);
	ck_assert_uint_lt(o, sizeof(text));
	ck_assert_int_eq(parse(&f, text), -EINVAL);
	ck_assert_uint_eq(f.diag.errors, 100);
	ck_assert_uint_eq(f.diag.count, FERRY_CONFIG_MAX_MSGS);
	ck_assert_uint_eq(f.diag.msg[0].line, 3);
	ck_assert_str_eq(f.diag.msg[FERRY_CONFIG_MAX_MSGS - 1].text,
			 "t.conf: too many problems, 51 more not shown");
	ferry_config_free(&f.cfg);
}
END_TEST

START_TEST(secret_values_are_not_echoed)
{
	struct fixture f;
	unsigned int i;

	ck_assert_int_eq(
	    parse(&f,
		  "[Interface]\nPrivateKey = c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2Vj\n" PEER(
		      BOB_PUB) "PresharedKey = c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2Vj\n"),
	    -EINVAL);
	ck_assert_uint_eq(f.diag.errors, 2);
	for (i = 0; i < f.diag.count; i++) {
		ck_assert_ptr_null(strstr(f.diag.msg[i].text, "c2Vj"));
		ck_assert_ptr_nonnull(strstr(f.diag.msg[i].text, "(not shown)"));
	}
	ferry_config_free(&f.cfg);
}
END_TEST

/* ---- files ---- */

/* Writes text to a new file in /tmp with the given mode; returns its path in path. */
static void write_temp(char path[64], const char *text, mode_t mode)
{
	int fd;

	snprintf(path, 64, "/tmp/ferry-test-config-XXXXXX");
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	ck_assert_int_eq(fchmod(fd, mode), 0);
	ck_assert_int_eq(close(fd), 0);
}

START_TEST(load_refuses_readable_key_file)
{
	char path[64];
	struct fixture f;
	const struct ferry_config_msg *m;

	/* Keys others may read: an error, naming the way out. */
	write_temp(path, IFACE, 0644);
	ck_assert_int_eq(ferry_config_load(&f.cfg, path, &f.diag), -EINVAL);
	ck_assert_uint_eq(f.diag.errors, 1);
	m = find_msg(&f, 0, false,
		     "holds secret keys but group or others may access it "
		     "(mode 0644), expected mode 0600: chmod 600 /tmp/ferry-test-config-");
	ck_assert_ptr_nonnull(m);
	ck_assert_ptr_nonnull(strstr(m->text, "(or --insecure-key-file)"));
	ck_assert(strncmp(m->text, path, strlen(path)) == 0);
	ck_assert_uint_eq(f.cfg.npeers, 0);

	/* With --insecure-key-file: the warning wg-quick gives. */
	ck_assert_int_eq(
	    ferry_config_load_flags(&f.cfg, path, FERRY_CONFIG_INSECURE_KEY_FILE, &f.diag), 0);
	ck_assert_uint_eq(f.diag.errors, 0);
	ck_assert_uint_eq(f.diag.warnings, 1);
	ck_assert_ptr_nonnull(find_msg(&f, 0, true, "(mode 0644)"));
	ferry_config_free(&f.cfg);

	ck_assert_int_eq(chmod(path, 0600), 0);
	ck_assert_int_eq(ferry_config_load(&f.cfg, path, &f.diag), 0);
	ck_assert_uint_eq(f.diag.warnings + f.diag.errors, 0);
	ferry_config_free(&f.cfg);

	/* Group access alone is refused too; the file's own errors come with it. */
	ck_assert_int_eq(unlink(path), 0);
	write_temp(path, IFACE "MTU = 1\n", 0640);
	ck_assert_int_eq(ferry_config_load(&f.cfg, path, &f.diag), -EINVAL);
	ck_assert_uint_eq(f.diag.errors, 2);
	ck_assert_ptr_nonnull(find_msg(&f, 0, false, "(mode 0640)"));
	ck_assert_ptr_nonnull(find_msg(&f, 3, false, "MTU"));
	ck_assert_int_eq(unlink(path), 0);
	ferry_config_free(&f.cfg);
}
END_TEST

START_TEST(load_without_keys_does_not_warn)
{
	char path[64];
	struct fixture f;

	/* No key in the file (it fails for the missing PrivateKey), so no permission warning. */
	write_temp(path, "[Interface]\nMTU = 1400\n", 0644);
	ck_assert_int_eq(ferry_config_load(&f.cfg, path, &f.diag), -EINVAL);
	ck_assert_uint_eq(f.diag.warnings, 0);
	ck_assert_int_eq(unlink(path), 0);
}
END_TEST

START_TEST(load_missing_file_and_directory)
{
	struct fixture f;

	ck_assert_int_eq(ferry_config_load(&f.cfg, "/nonexistent/ferry.conf", &f.diag), -ENOENT);
	ck_assert_uint_eq(f.diag.count, 1);
	ck_assert_str_eq(f.diag.msg[0].text,
			 "/nonexistent/ferry.conf: cannot open: No such file or directory");
	ck_assert_int_eq(ferry_config_load(&f.cfg, "/tmp", &f.diag), -EISDIR);
	ck_assert_str_eq(f.diag.msg[0].text, "/tmp: is a directory, expected a file");
	/* A NULL diag is allowed. */
	ck_assert_int_eq(ferry_config_load(&f.cfg, "/nonexistent/ferry.conf", NULL), -ENOENT);
}
END_TEST

START_TEST(load_too_large)
{
	char path[64] = "/tmp/ferry-test-config-XXXXXX";
	struct fixture f;
	int fd;

	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, FERRY_CONFIG_MAX_FILE + 1), 0);
	ck_assert_int_eq(close(fd), 0);
	ck_assert_int_eq(ferry_config_load(&f.cfg, path, &f.diag), -EFBIG);
	ck_assert_ptr_nonnull(strstr(f.diag.msg[0].text, "file too large"));
	ck_assert_int_eq(unlink(path), 0);
}
END_TEST

/* The shipped examples must stay valid. Their path comes from this file's own. */
START_TEST(examples_are_valid)
{
	static const char *const names[] = {"client.conf", "server.conf"};
	char file[512], path[1024];
	const char *dir;
	struct fixture f;
	size_t i;

	snprintf(file, sizeof(file), "%s", __FILE__);
	dir = dirname(file);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/../docs/examples/%s", dir, names[i]);
		/* public test keys (RFC 7748's), in files git leaves readable: allowed here */
		if (ferry_config_load_flags(&f.cfg, path, FERRY_CONFIG_INSECURE_KEY_FILE,
					    &f.diag) != 0)
			dump(&f);
		ck_assert_uint_eq(f.diag.errors, 0);
		ck_assert_uint_ge(f.cfg.npeers, 1);
		ferry_config_free(&f.cfg);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("config");
	TCase *good = ferry_tcase("good", 5);
	TCase *bad = ferry_tcase("bad", 5);
	TCase *files = ferry_tcase("files", 5);

	tcase_add_test(good, minimal_file_gets_defaults);
	tcase_add_test(good, full_file_all_keys);
	tcase_add_test(good, many_peers);
	tcase_add_test(good, manual_profile);
	tcase_add_test(good, allowed_ips_host_bits_warn_and_normalize);
	tcase_add_test(good, egress_keys);
	tcase_add_test(good, egress_rule_limit);
	tcase_add_test(good, user_key);
	suite_add_tcase(s, good);

	tcase_add_test(bad, bad_input);
	tcase_add_test(bad, all_errors_reported_in_line_order);
	tcase_add_test(bad, too_many_errors_are_counted_not_kept);
	tcase_add_test(bad, secret_values_are_not_echoed);
	suite_add_tcase(s, bad);

	tcase_add_test(files, load_refuses_readable_key_file);
	tcase_add_test(files, load_without_keys_does_not_warn);
	tcase_add_test(files, load_missing_file_and_directory);
	tcase_add_test(files, load_too_large);
	tcase_add_test(files, examples_are_valid);
	suite_add_tcase(s, files);
	return ferry_run_suite(s);
}
