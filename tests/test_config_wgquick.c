// SPDX-License-Identifier: MIT
/*
 * A file written for wg-quick reads as it is: indented keys, DNS, Table, the hooks with
 * their commands whole, SaveConfig; one number parser for every port. (The rest of the
 * file format is test_config.c's.)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/config.h"
#include "tests/support/configrig.h"
#include "tests/support/fixture.h"

/* ---- indentation ---- */

/* WireGuard reads an indented line as any other line: after a blank line, after a comment
 * and right after a key line alike; a section header too. */
START_TEST(indented_keys_are_keys)
{
	struct fixture f;

	if (parse(&f, "[Interface]\n"			    /* 1 */
		      "    PrivateKey = " ALICE_PRIV "\n"   /* 2 */
		      "    Address = 10.0.0.2/24\n"	    /* 3: right after a key line */
		      "\n"				    /* 4 */
		      "    MTU = 1400\n"		    /* 5: after a blank line */
		      "    # the port\n"		    /* 6 */
		      "\tListenPort = 51000\n"		    /* 7: after a comment, a tab */
		      "  [Peer]\n"			    /* 8 */
		      "\tPublicKey = " BOB_PUB "\n"	    /* 9 */
		      "\tAllowedIPs = 10.0.0.0/24\n") != 0) /* 10 */
		dump(&f);
	ck_assert_uint_eq(f.diag.errors, 0);
	ck_assert_uint_eq(f.cfg.iface.mtu, 1400);
	ck_assert_uint_eq(f.cfg.iface.listen_port, 51000);
	ck_assert_uint_eq(f.cfg.iface.addresses.n, 1);
	ck_assert_uint_eq(f.cfg.npeers, 1);
	ck_assert_uint_eq(f.cfg.peers[0].line, 8);
	ck_assert_uint_eq(f.cfg.peers[0].allowed_ips.n, 1);
	ferry_config_free(&f.cfg);

	/* An indented line without "=" right after a key line: the one message about it. */
	ck_assert_int_eq(parse(&f, IFACE "Address = 10.0.0.2/24\n  10.1.0.2/24\n"), -EINVAL);
	ck_assert_uint_eq(f.diag.errors, 1);
	expect_msg(&f, 4, false, "indented line without \"=\" after a key line");
	/* After a blank line it is just a line without "=". */
	ck_assert_int_eq(parse(&f, IFACE "\n  10.1.0.0/24\n"), -EINVAL);
	ck_assert_uint_eq(f.diag.errors, 1);
	expect_msg(&f, 4, false, "missing \"=\", expected \"Key = Value\"");
}
END_TEST

/* ---- DNS ---- */

/* wg-quick's DNS: addresses are servers, other entries search domains, in file order
 * across lines; a trailing dot is dropped, the case kept. */
START_TEST(dns_servers_and_search_domains)
{
	static const uint8_t v4[16] = {10, 99, 0, 1}, v4b[16] = {10, 99, 0, 2},
			     v6[16] = {0xfd, 0x99, [15] = 1};
	const struct ferry_config_dns *dns;
	struct fixture f;

	if (parse(&f, IFACE "DNS = 10.99.0.1, fd99::1, corp.example\n"	     /* 3 */
			    "Address = 10.99.0.2/24\n"			     /* 4 */
			    "dns =Lab.Example. ,10.99.0.2 # the lab's own\n" /* 5 */
			    "DNS = " /* 6: a label of 63, the longest */
			    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa."
			    "x-1.b0\n") != 0)
		dump(&f);
	ck_assert_uint_eq(f.diag.errors, 0);
	dns = &f.cfg.iface.dns;
	ck_assert_uint_eq(dns->line, 3);
	ck_assert_uint_eq(dns->nservers, 3);
	ck_assert_uint_eq(dns->servers[0].family, AF_INET);
	ck_assert_mem_eq(dns->servers[0].addr, v4, 16);
	ck_assert_uint_eq(dns->servers[1].family, AF_INET6);
	ck_assert_mem_eq(dns->servers[1].addr, v6, 16);
	ck_assert_uint_eq(dns->servers[2].family, AF_INET);
	ck_assert_mem_eq(dns->servers[2].addr, v4b, 16);
	ck_assert_uint_eq(dns->nsearch, 3);
	ck_assert_str_eq(dns->search[0], "corp.example");
	ck_assert_str_eq(dns->search[1], "Lab.Example");
	ck_assert_str_eq(dns->search[2],
			 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.x-1.b0");
	ferry_config_free(&f.cfg);

	/* Search domains alone; the limits exactly. */
	ck_assert_int_eq(parse(&f, IFACE "DNS = a.example, b, c, d.\nDNS = e, f\n"), 0);
	ck_assert_uint_eq(f.cfg.iface.dns.nservers, 0);
	ck_assert_uint_eq(f.cfg.iface.dns.nsearch, FERRY_CONFIG_MAX_DNS_SEARCH);
	ck_assert_str_eq(f.cfg.iface.dns.search[3], "d");
	ck_assert_str_eq(f.cfg.iface.dns.search[5], "f");
	ck_assert_uint_eq(f.cfg.iface.dns.line, 3);
	ferry_config_free(&f.cfg);
	ck_assert_int_eq(parse(&f, IFACE "DNS = 1.1.1.1\nDNS = 8.8.8.8, 2001:4860:4860::8888\n"),
			 0);
	ck_assert_uint_eq(f.cfg.iface.dns.nservers, FERRY_CONFIG_MAX_DNS_SERVERS);
	ck_assert_uint_eq(f.cfg.iface.dns.nsearch, 0);
	ferry_config_free(&f.cfg);
}
END_TEST

#define DNS_EXPECTED                                                                          \
	", expected IP addresses of DNS servers and search domains, like 10.0.0.1, fd00::1, " \
	"example.org"
#define LABEL64 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

/* Each bad DNS value gives exactly one error, this one. */
START_TEST(dns_errors)
{
	static const struct {
		const char *text;
		const char *msg;
	} cases[] = {
	    {IFACE "DNS = 10.99.0.1, bad_name!\n",
	     "t.conf:3: [Interface] DNS: \"bad_name!\" is neither an IP address nor a domain "
	     "name" DNS_EXPECTED},
	    {IFACE "DNS = 10.0.0.1, 10.0.0.2\nDNS = fd00::1, 10.0.0.4\n",
	     "t.conf:4: [Interface] DNS: \"10.0.0.4\": more than 3 servers, glibc's resolver "
	     "reads no more"},
	    {IFACE "DNS = a.example, b.example, c.example, d.example, e.example, f.example, "
		   "g.example\n",
	     "t.conf:3: [Interface] DNS: \"g.example\": more than 6 search domains"},
	    {IFACE "DNS = 10.0.0.1\nDNS = fd00::1, 10.0.0.1\n",
	     "t.conf:4: [Interface] DNS: 10.0.0.1 is already listed at line 3"},
	    {IFACE "DNS = fd00::1, fd00:0:0::0001\n",
	     "t.conf:3: [Interface] DNS: fd00::1 is already listed at line 3"},
	    {IFACE "DNS = corp.example\nMTU = 1400\nDNS = CORP.example.\n",
	     "t.conf:5: [Interface] DNS: CORP.example is already listed at line 3"},
	    {IFACE "DNS = 10.0.0.1,,corp.example\n",
	     "t.conf:3: [Interface] DNS: empty entry in the list" DNS_EXPECTED},
	    {IFACE "DNS = 10.0.0.1,\n",
	     "t.conf:3: [Interface] DNS: empty entry in the list" DNS_EXPECTED},
	    {IFACE "DNS = " LABEL64 "\n",
	     "t.conf:3: [Interface] DNS: \"" LABEL64 "\" is neither an IP address nor a domain "
	     "name" DNS_EXPECTED},
	    {IFACE "DNS = -corp.example\n",
	     "t.conf:3: [Interface] DNS: \"-corp.example\" is neither an IP address nor a domain "
	     "name" DNS_EXPECTED},
	    {IFACE "DNS = corp.-x.example\n", "\"corp.-x.example\" is neither"},
	    {IFACE "DNS = corp-.example\n", "\"corp-.example\" is neither"},
	    {IFACE "DNS = corp..example\n", "\"corp..example\" is neither"},
	    {IFACE "DNS = corp.example..\n", "\"corp.example..\" is neither"},
	    {IFACE "DNS = .corp.example\n", "\".corp.example\" is neither"},
	    {IFACE "DNS = .\n", "\".\" is neither"},
	    {IFACE "DNS = corp_x.example\n", "\"corp_x.example\" is neither"},
	    {IFACE "DNS = 10.0.0.300\n", "\"10.0.0.300\" is neither"},
	    {IFACE "DNS = 10.0.0.1/32\n", "\"10.0.0.1/32\" is neither"},
	    {IFACE "DNS = 10.0.0.1:53\n", "\"10.0.0.1:53\" is neither"},
	    {IFACE "DNS = [fd00::1]\n", "\"[fd00::1]\" is neither"},
	    {IFACE "DNS = fe80::1%eth0\n", "\"fe80::1%eth0\" is neither"},
	    {IFACE "DNS = 10.0.0.1 10.0.0.2\n", "\"10.0.0.1 10.0.0.2\" is neither"},
	    {IFACE "DNS =\n", "t.conf:3: [Interface] DNS: missing value" DNS_EXPECTED},
	    {IFACE PEER(BOB_PUB) "DNS = 10.0.0.1\n", "key DNS belongs in [Interface]"},
	};
	struct fixture f;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *text;
		int ret;

		ret = parse(&f, cases[i].text);
		text = f.diag.count ? f.diag.msg[0].text : "";
		if (ret != -EINVAL || f.diag.errors != 1 || !strstr(text, cases[i].msg))
			dump(&f);
		ck_assert_msg(ret == -EINVAL, "case %zu: returned %d", i, ret);
		ck_assert_msg(f.diag.errors == 1, "case %zu: %u errors", i, f.diag.errors);
		/* Whole messages are compared whole, the rest by the part that varies. */
		if (strncmp(cases[i].msg, "t.conf:", 7) == 0)
			ck_assert_str_eq(text, cases[i].msg);
		else
			ck_assert_msg(strstr(text, cases[i].msg), "case %zu: %s", i, text);
		ferry_config_free(&f.cfg);
	}
}
END_TEST
/* ---- Table ---- */

START_TEST(table_values)
{
	static const struct {
		const char *value;
		enum ferry_config_table table;
		uint32_t id;
	} good[] = {
	    {"auto", FERRY_TABLE_AUTO, 0},   {"Off", FERRY_TABLE_OFF, 0},
	    {"main", FERRY_TABLE_ID, 254},   {"1234", FERRY_TABLE_ID, 1234},
	    {"01234", FERRY_TABLE_ID, 1234}, {"4294967295", FERRY_TABLE_ID, 4294967295U},
	};
	char text[256];
	struct fixture f;
	size_t i;

	ck_assert_int_eq(parse(&f, IFACE), 0);
	ck_assert_int_eq(f.cfg.iface.table, FERRY_TABLE_AUTO);
	ck_assert_uint_eq(f.cfg.iface.table_line, 0);
	ferry_config_free(&f.cfg);
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(text, sizeof(text), IFACE "Table = %s\n", good[i].value);
		if (parse(&f, text) != 0)
			dump(&f);
		ck_assert_uint_eq(f.diag.errors, 0);
		ck_assert_int_eq(f.cfg.iface.table, good[i].table);
		ck_assert_uint_eq(f.cfg.iface.table_id, good[i].id);
		ck_assert_uint_eq(f.cfg.iface.table_line, 3);
		ferry_config_free(&f.cfg);
	}
}
END_TEST

START_TEST(table_errors)
{
	static const struct {
		const char *text;
		unsigned int line;
		const char *msg;
	} cases[] = {
	    {IFACE "Table = 0\n", 3,
	     "t.conf:3: [Interface] Table: \"0\" is out of range, expected auto, off, main or "
	     "a table number 1..4294967295"},
	    {IFACE "Table = 4294967296\n", 3, "\"4294967296\" is out of range"},
	    {IFACE "Table = wg\n", 3,
	     "t.conf:3: [Interface] Table: \"wg\" is a table name, which ferry does not look up "
	     "in /etc/iproute2/rt_tables, expected auto, off, main or a table number"},
	    {IFACE "Table = -1\n", 3, "\"-1\" is a table name"},
	    {IFACE "Table = off\nTable = auto\n", 4, "Table: set twice, first at line 3"},
	    {IFACE "Table = off\nKillSwitch = on\n" PEER(BOB_PUB) "AllowedIPs = 0.0.0.0/0\n", 4,
	     "t.conf:4: [Interface] KillSwitch: needs full-device mode, which Table = off turns "
	     "off, expected Table = auto"},
	    {IFACE "Table = 7\nKillSwitch = on\n" PEER(BOB_PUB) "AllowedIPs = ::/0\n", 4,
	     "which Table = N turns off"},
	    {IFACE PEER(BOB_PUB) "Table = off\n", 6, "key Table belongs in [Interface]"},
	};
	struct fixture f;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_assert_int_eq(parse(&f, cases[i].text), -EINVAL);
		if (f.diag.errors != 1)
			dump(&f);
		ck_assert_msg(f.diag.errors == 1, "case %zu: %u errors", i, f.diag.errors);
		expect_msg(&f, cases[i].line, false, cases[i].msg);
	}
}
END_TEST

/* ---- hooks ---- */

/* Each hook keeps its commands in file order, whole: " ;" separates two shell commands
 * here, not a comment; "#" still starts one, as in wg-quick; %i is left for the runner. */
START_TEST(hooks_keep_whole_commands_in_order)
{
	const struct ferry_config_hooks *h;
	struct fixture f;

	if (parse(&f, IFACE "PreUp = echo pre > /tmp/x ; true\n"		      /* 3 */
			    "PostUp = ip rule add table 7 ; ip route flush cache\n"   /* 4 */
			    "postup = echo %i   # the interface\n"		      /* 5 */
			    "PreDown = a;b\n"					      /* 6 */
			    "PostDown = iptables -D FORWARD -i %i -j ACCEPT\n") != 0) /* 7 */
		dump(&f);
	ck_assert_uint_eq(f.diag.errors, 0);
	h = &f.cfg.iface.hooks;
	ck_assert_uint_eq(h->first_line, 3);
	ck_assert_uint_eq(h->n[FERRY_HOOK_PRE_UP], 1);
	ck_assert_str_eq(h->cmd[FERRY_HOOK_PRE_UP][0], "echo pre > /tmp/x ; true");
	ck_assert_uint_eq(h->n[FERRY_HOOK_POST_UP], 2);
	ck_assert_str_eq(h->cmd[FERRY_HOOK_POST_UP][0],
			 "ip rule add table 7 ; ip route flush cache");
	ck_assert_str_eq(h->cmd[FERRY_HOOK_POST_UP][1], "echo %i");
	ck_assert_uint_eq(h->n[FERRY_HOOK_PRE_DOWN], 1);
	ck_assert_str_eq(h->cmd[FERRY_HOOK_PRE_DOWN][0], "a;b");
	ck_assert_uint_eq(h->n[FERRY_HOOK_POST_DOWN], 1);
	ck_assert_str_eq(h->cmd[FERRY_HOOK_POST_DOWN][0], "iptables -D FORWARD -i %i -j ACCEPT");
	ferry_config_free(&f.cfg);
}
END_TEST

START_TEST(hook_errors)
{
	char text[4096];
	struct fixture f;
	size_t o;
	int i;

	ck_assert_int_eq(parse(&f, IFACE "PostUp =\n"), -EINVAL);
	expect_msg(&f, 3, false, "[Interface] PostUp: missing value, expected a command for bash");
	ck_assert_int_eq(parse(&f, IFACE PEER(BOB_PUB) "PostUp = true\n"), -EINVAL);
	expect_msg(&f, 6, false, "key PostUp belongs in [Interface]");

	o = (size_t)snprintf(text, sizeof(text), IFACE);
	for (i = 0; i <= FERRY_CONFIG_MAX_HOOKS; i++)
		o += (size_t)snprintf(text + o, sizeof(text) - o, "PreUp = true %d\n", i);
	ck_assert_int_eq(parse(&f, text), -EINVAL);
	ck_assert_uint_eq(f.diag.errors, 1);
	expect_msg(&f, 3 + FERRY_CONFIG_MAX_HOOKS, false,
		   "PreUp: more than 16 commands, expected them in a script");
}
END_TEST

static void expect_msg_in(const struct ferry_config_diag *diag, const char *needle)
{
	unsigned int i;

	for (i = 0; i < diag->count; i++)
		if (strstr(diag->msg[i].text, needle))
			return;
	ck_abort_msg("no message containing '%s'", needle);
}

/* Hooks run as root: a file with hooks that others may change is refused, whatever else
 * is in it. (As root: the test gives the file another owner.) */
START_TEST(hooks_in_a_file_others_may_change_are_refused)
{
	static const char text[] = IFACE "PostUp = true\n";
	char path[] = "/tmp/ferry-hooks-XXXXXX";
	struct ferry_config cfg;
	struct ferry_config_diag diag;
	int fd;

	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, sizeof(text) - 1), (ssize_t)(sizeof(text) - 1));
	close(fd);

	ck_assert_int_eq(chmod(path, 0620), 0);
	ck_assert_int_eq(ferry_config_load(&cfg, path, &diag), -EINVAL);
	ck_assert_uint_eq(diag.errors, 2); /* and the key others may read */
	ck_assert_uint_eq(diag.count, 2);
	ck_assert_ptr_nonnull(strstr(diag.msg[1].text, ":3: [Interface]: hooks run as root, but "
						       "others may change this file (owner uid 0, "
						       "mode 0620)"));
	ferry_config_free(&cfg);

	/* Owned by someone else than root or the one reading it, even at mode 0600. */
	ck_assert_int_eq(chmod(path, 0600), 0);
	ck_assert_msg(chown(path, 4242, 4242) == 0, "chown: the suite runs as root (CI does)");
	ck_assert_int_eq(ferry_config_load(&cfg, path, &diag), -EINVAL);
	expect_msg_in(&diag, "(owner uid 4242, mode 0600)");
	ferry_config_free(&cfg);
	ck_assert_int_eq(chown(path, geteuid(), getegid()), 0);

	ck_assert_int_eq(chmod(path, 0600), 0);
	ck_assert_int_eq(ferry_config_load(&cfg, path, &diag), 0);
	ck_assert_uint_eq(diag.count, 0);
	ck_assert_uint_eq(cfg.iface.hooks.n[FERRY_HOOK_POST_UP], 1);
	ferry_config_free(&cfg);
	unlink(path);
}
END_TEST

/* ---- SaveConfig ---- */

START_TEST(save_config)
{
	struct fixture f;

	ck_assert_int_eq(parse(&f, IFACE "SaveConfig = false\n"), 0);
	ferry_config_free(&f.cfg);
	ck_assert_int_eq(parse(&f, IFACE "SaveConfig = true\n"), -EINVAL);
	ck_assert_uint_eq(f.diag.errors, 1);
	ck_assert_str_eq(f.diag.msg[0].text,
			 "t.conf:3: [Interface] SaveConfig: a wg-quick key ferry handles as false: "
			 "ferry never writes its configuration file, expected false or no "
			 "SaveConfig");
	ck_assert_int_eq(parse(&f, IFACE "SaveConfig = maybe\n"), -EINVAL);
	expect_msg(&f, 3, false, "\"maybe\" is not a boolean");
}
END_TEST

/* ---- ports ---- */

/* ListenPort and Endpoint's port are read by the one number parser: leading zeros are
 * allowed in both, and both refuse the same things. */
START_TEST(ports_read_alike)
{
	static const char *const bad[] = {"65536", "0x10", "+1", "-1", "1.0", "99999999999"};
	char text[256];
	struct fixture f;
	size_t i;

	if (parse(&f,
		  IFACE "ListenPort = 051820\n" PEER(BOB_PUB) "Endpoint = 192.0.2.1:051820\n") != 0)
		dump(&f);
	ck_assert_uint_eq(f.diag.errors, 0);
	ck_assert_uint_eq(f.cfg.iface.listen_port, 51820);
	ck_assert_uint_eq(f.cfg.peers[0].endpoint.port, 51820);
	ferry_config_free(&f.cfg);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), IFACE "ListenPort = %s\n", bad[i]);
		ck_assert_msg(parse(&f, text) == -EINVAL, "ListenPort = %s", bad[i]);
		snprintf(text, sizeof(text), IFACE PEER(BOB_PUB) "Endpoint = 192.0.2.1:%s\n",
			 bad[i]);
		ck_assert_msg(parse(&f, text) == -EINVAL, "Endpoint port %s", bad[i]);
	}
	/* Port 0 is "any free port" for ListenPort and no port at all for an Endpoint. */
	ck_assert_int_eq(parse(&f, IFACE "ListenPort = 00\n"), 0);
	ferry_config_free(&f.cfg);
	ck_assert_int_eq(parse(&f, IFACE PEER(BOB_PUB) "Endpoint = 192.0.2.1:00\n"), -EINVAL);
	expect_msg(&f, 6, false, "has a port out of range (1..65535)");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("config_wgquick");
	TCase *tc = ferry_tcase("wgquick", 5);

	tcase_add_test(tc, indented_keys_are_keys);
	tcase_add_test(tc, dns_servers_and_search_domains);
	tcase_add_test(tc, dns_errors);
	tcase_add_test(tc, table_values);
	tcase_add_test(tc, table_errors);
	tcase_add_test(tc, hooks_keep_whole_commands_in_order);
	tcase_add_test(tc, hook_errors);
	tcase_add_test(tc, hooks_in_a_file_others_may_change_are_refused);
	tcase_add_test(tc, save_config);
	tcase_add_test(tc, ports_read_alike);
	suite_add_tcase(s, tc);
	return ferry_run_suite(s);
}
