// SPDX-License-Identifier: MIT
/*
 * transport/addr.h on its own: prefixes (strict parsing with the reason for each refusal,
 * host bits reported and kept, masking, the text round trip, containment without mixing
 * families, ordering) and endpoints (equality, the sockaddr conversions both ways, text
 * with and without the port, numeric addresses read into a sockaddr).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "tests/support/fixture.h"
#include "transport/addr.h"

/* ---- prefixes ---- */

START_TEST(prefix_parse)
{
	static const struct {
		const char *in, *out;
		bool host_bits;
	} good[] = {
	    {"10.0.0.0/8", "10.0.0.0/8", false},
	    {"10.1.0.0/8", "10.1.0.0/8", true},
	    {"192.0.2.1", "192.0.2.1/32", false},
	    {"0.0.0.0/0", "0.0.0.0/0", false},
	    {"::/0", "::/0", false},
	    {"fd00::1", "fd00::1/128", false},
	    {"fd00::1/64", "fd00::1/64", true},
	    {"::ffff:1.2.3.4/128", "::ffff:1.2.3.4/128", false},
	    {"10.0.0.0/008", "10.0.0.0/8", false},
	};
	static const char *const bad[] = {
	    "",
	    "/8",
	    "10.0.0.0/",
	    "10.0.0.0/33",
	    "10.0.0.0/-1",
	    "10.0.0.0/+8",
	    "10.0.0.0/8 ",
	    " 10.0.0.0/8",
	    "10.0.0/8",
	    "10.0.0.0.0",
	    "010.0.0.0",
	    "10.0.0.0/8/8",
	    "fd00::1%eth0",
	    "fd00::/129",
	    "fd00::/1000",
	    "fd00:::1",
	    "1.2.3.4/3x",
	    "10.0.0.0/8,",
	};
	char text[FERRY_PREFIX_STRLEN];
	struct ferry_prefix p;
	const char *why;
	bool host;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ck_assert_msg(ferry_prefix_parse(&p, good[i].in, &host, &why) == 0, "refused %s",
			      good[i].in);
		ck_assert_msg(host == good[i].host_bits, "host bits of %s", good[i].in);
		ferry_prefix_format(text, &p);
		ck_assert_str_eq(text, good[i].out);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		ck_assert_msg(ferry_prefix_parse(&p, bad[i], &host, &why) == -EINVAL,
			      "accepted \"%s\"", bad[i]);
		ck_assert_ptr_nonnull(why);
	}
	ck_assert_int_eq(ferry_prefix_parse(&p, "fd00::ff:1/100", &host, &why), 0);
	ferry_prefix_mask(&p);
	ferry_prefix_format(text, &p);
	ck_assert_str_eq(text, "fd00::/100");
}
END_TEST

/* What the parser fills in: family, length, the address bytes and zeros after them. */
START_TEST(prefix_parse_fields)
{
	static const uint8_t zero[16];
	struct ferry_prefix p;
	const char *why = NULL;
	bool host = true;

	ck_assert_int_eq(ferry_prefix_parse(&p, "192.0.2.1", &host, &why), 0);
	ck_assert_uint_eq(p.family, AF_INET);
	ck_assert_uint_eq(p.len, 32); /* a bare address is a host prefix */
	ck_assert_mem_eq(p.addr, "\xc0\x00\x02\x01", 4);
	ck_assert_mem_eq(p.addr + 4, zero, 12);
	ck_assert(!host);

	ck_assert_int_eq(ferry_prefix_parse(&p, "2001:db8::1", &host, &why), 0);
	ck_assert_uint_eq(p.family, AF_INET6);
	ck_assert_uint_eq(p.len, 128);
	ck_assert_mem_eq(p.addr, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01", 16);

	ck_assert_int_eq(ferry_prefix_parse(&p, "0.0.0.0/0", &host, &why), 0);
	ck_assert_uint_eq(p.len, 0);
	ck_assert_int_eq(ferry_prefix_parse(&p, "10.0.0.0/32", &host, &why), 0);
	ck_assert_uint_eq(p.len, 32);
	ck_assert_int_eq(ferry_prefix_parse(&p, "::/128", &host, &why), 0);
	ck_assert_uint_eq(p.family, AF_INET6);
	ck_assert_uint_eq(p.len, 128);
	ck_assert_mem_eq(p.addr, zero, 16);
	/* Leading zeros: up to three digits in all ("/008", "/000"), never four. */
	ck_assert_int_eq(ferry_prefix_parse(&p, "::/000", &host, &why), 0);
	ck_assert_uint_eq(p.len, 0);
	ck_assert_int_eq(ferry_prefix_parse(&p, "fd00::/064", &host, &why), 0);
	ck_assert_uint_eq(p.len, 64);
}
END_TEST

static void refused(const char *text, const char *expect)
{
	struct ferry_prefix p;
	const char *why = NULL;
	bool host;

	ck_assert_int_eq(ferry_prefix_parse(&p, text, &host, &why), -EINVAL);
	ck_assert_msg(why && strcmp(why, expect) == 0, "'%s': got '%s', expected '%s'", text,
		      why ? why : "(null)", expect);
}

/* Each refusal names its own reason, for the family the address part reads as. */
START_TEST(prefix_parse_reasons)
{
	refused("", "missing address");
	refused("/24", "missing address");
	refused("10.0.0.300/24", "not a valid IPv4 address");
	refused("example.org", "not a valid IPv4 address");
	refused("10.0.0.0 /8", "not a valid IPv4 address");
	refused(" 10.0.0.0/8", "not a valid IPv4 address");
	refused("+10.0.0.0/8", "not a valid IPv4 address");
	refused("-10.0.0.0/8", "not a valid IPv4 address");
	refused("0x0a.0.0.0/8", "not a valid IPv4 address");
	refused("fd00:::1/64", "not a valid IPv6 address");
	refused("fd00::1%lo/64", "not a valid IPv6 address");
	refused("[fd00::1]/64", "not a valid IPv6 address");
	refused("1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa:bbbb/64",
		"not a valid IPv6 address"); /* longer than any address text */
	refused("10.0.0.0/", "missing prefix length after \"/\"");
	refused("fd00::/", "missing prefix length after \"/\"");
	refused("10.0.0.0/x", "prefix length is not a number");
	refused("10.0.0.0/+8", "prefix length is not a number");
	refused("10.0.0.0/-0", "prefix length is not a number");
	refused("10.0.0.0/ 8", "prefix length is not a number");
	refused("10.0.0.0/8 ", "prefix length is not a number");
	refused("10.0.0.0/8x", "prefix length is not a number");
	refused("10.0.0.0/8/8", "prefix length is not a number");
	refused("10.0.0.0/33", "prefix length out of range (0..32 for IPv4)");
	refused("10.0.0.0/0008", "prefix length out of range (0..32 for IPv4)");
	refused("10.0.0.0/4294967304", "prefix length out of range (0..32 for IPv4)");
	refused("fd00::/129", "prefix length out of range (0..128 for IPv6)");
	refused("fd00::/256", "prefix length out of range (0..128 for IPv6)");
}
END_TEST

/* Host bits are reported and kept; ferry_prefix_mask clears them. */
START_TEST(prefix_host_bits_and_mask)
{
	static const struct {
		const char *in;
		bool host_bits;
		const char *masked;
	} cases[] = {
	    {"10.0.0.1/31", true, "10.0.0.0/31"},
	    {"10.0.0.0/31", false, "10.0.0.0/31"},
	    {"10.0.0.1/32", false, "10.0.0.1/32"},
	    {"0.0.0.1/0", true, "0.0.0.0/0"},
	    {"10.255.255.255/9", true, "10.128.0.0/9"},
	    {"::1/127", true, "::/127"},
	    {"::1/128", false, "::1/128"},
	    {"8000::/0", true, "::/0"},
	    {"ffff:ffff::/17", true, "ffff:8000::/17"},
	    {"2001:db8::/32", false, "2001:db8::/32"},
	};
	char text[FERRY_PREFIX_STRLEN];
	struct ferry_prefix p, kept;
	const char *why;
	bool host;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_assert_int_eq(ferry_prefix_parse(&p, cases[i].in, &host, &why), 0);
		ck_assert_msg(host == cases[i].host_bits, "host bits of %s", cases[i].in);
		ferry_prefix_format(text, &p);
		ck_assert_str_eq(text, cases[i].in); /* kept as written */
		kept = p;
		ferry_prefix_mask(&p);
		ferry_prefix_format(text, &p);
		ck_assert_str_eq(text, cases[i].masked);
		ck_assert_uint_eq(p.family, kept.family);
		ck_assert_uint_eq(p.len, kept.len);
		ck_assert_int_eq(ferry_prefix_cmp(&p, &kept) == 0, !cases[i].host_bits);
		ferry_prefix_mask(&p); /* twice is once */
		ferry_prefix_format(text, &p);
		ck_assert_str_eq(text, cases[i].masked);
	}
}
END_TEST

/* Canonical text survives parse and format; other spellings come back canonical. */
START_TEST(prefix_format_round_trip)
{
	static const char *const canonical[] = {
	    "0.0.0.0/0",
	    "255.255.255.255/32",
	    "192.0.2.0/24",
	    "::/0",
	    "::1/128",
	    "2001:db8::/32",
	    "fe80::/10",
	    "::ffff:1.2.3.4/128",
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128",
	};
	static const struct {
		const char *in, *out;
	} spelled[] = {
	    {"2001:0DB8:0000::/32", "2001:db8::/32"},
	    {"fd00:0:0:0:0:0:0:1", "fd00::1/128"},
	    {"10.0.0.0/008", "10.0.0.0/8"},
	};
	char text[FERRY_PREFIX_STRLEN];
	struct ferry_prefix p, again;
	const char *why;
	bool host;
	size_t i;

	for (i = 0; i < sizeof(canonical) / sizeof(canonical[0]); i++) {
		ck_assert_int_eq(ferry_prefix_parse(&p, canonical[i], &host, &why), 0);
		ferry_prefix_format(text, &p);
		ck_assert_str_eq(text, canonical[i]);
		ck_assert_int_eq(ferry_prefix_parse(&again, text, &host, &why), 0);
		ck_assert_int_eq(ferry_prefix_cmp(&p, &again), 0);
	}
	/* The longest text inet_ntop(3) makes fits, NUL included. */
	ck_assert_uint_lt(strlen(canonical[8]), FERRY_PREFIX_STRLEN);
	for (i = 0; i < sizeof(spelled) / sizeof(spelled[0]); i++) {
		ck_assert_int_eq(ferry_prefix_parse(&p, spelled[i].in, &host, &why), 0);
		ferry_prefix_format(text, &p);
		ck_assert_str_eq(text, spelled[i].out);
	}
	/* A prefix of neither family ("any" in a policy rule) has no address to show. */
	memset(&p, 0, sizeof(p));
	ferry_prefix_format(text, &p);
	ck_assert_str_eq(text, "?/0");
}
END_TEST

static struct ferry_prefix prefix(const char *text)
{
	struct ferry_prefix p;
	const char *why = NULL;
	bool host;

	ck_assert_msg(ferry_prefix_parse(&p, text, &host, &why) == 0, "%s: %s", text, why);
	return p;
}

/* Whether text (an address) lies in p. */
static bool holds(const struct ferry_prefix *p, const char *text)
{
	int family = strchr(text, ':') ? AF_INET6 : AF_INET;
	uint8_t addr[16];

	ck_assert_int_eq(inet_pton(family, text, addr), 1);
	return ferry_prefix_contains(p, family, addr);
}

START_TEST(prefix_contains)
{
	struct ferry_prefix p;

	p = prefix("10.0.0.0/8");
	ck_assert(holds(&p, "10.0.0.0"));
	ck_assert(holds(&p, "10.255.1.2"));
	ck_assert(!holds(&p, "11.0.0.0"));
	ck_assert(!holds(&p, "9.255.255.255"));
	ck_assert(!holds(&p, "::a00:1")); /* the same bytes, the other family */
	ck_assert(!holds(&p, "::ffff:10.0.0.1"));
	p = prefix("192.0.2.128/25");
	ck_assert(holds(&p, "192.0.2.200"));
	ck_assert(!holds(&p, "192.0.2.127"));
	p = prefix("192.0.2.7");
	ck_assert(holds(&p, "192.0.2.7"));
	ck_assert(!holds(&p, "192.0.2.6"));
	p = prefix("0.0.0.0/0");
	ck_assert(holds(&p, "0.0.0.0"));
	ck_assert(holds(&p, "255.255.255.255"));
	ck_assert(!holds(&p, "::"));
	ck_assert(!holds(&p, "2001:db8::1"));

	p = prefix("2001:db8::/32");
	ck_assert(holds(&p, "2001:db8::1"));
	ck_assert(holds(&p, "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"));
	ck_assert(!holds(&p, "2001:db9::"));
	ck_assert(!holds(&p, "32.1.13.184")); /* 2001:db8 as IPv4 */
	p = prefix("2001:db8:80::/41");
	ck_assert(holds(&p, "2001:db8:ff::1"));
	ck_assert(holds(&p, "2001:db8:80::"));
	ck_assert(!holds(&p, "2001:db8:7f:ffff::1"));
	p = prefix("::1");
	ck_assert(holds(&p, "::1"));
	ck_assert(!holds(&p, "::2"));
	p = prefix("::/0");
	ck_assert(holds(&p, "::"));
	ck_assert(holds(&p, "ffff::1"));
	ck_assert(!holds(&p, "0.0.0.0"));
	/* Mapped addresses are IPv6 here; the egress policy unmaps them itself. */
	p = prefix("::ffff:0:0/96");
	ck_assert(holds(&p, "::ffff:10.1.2.3"));
	ck_assert(!holds(&p, "10.1.2.3"));

	/* Family 0 ("any") holds every IPv4 and IPv6 address, nothing else. */
	memset(&p, 0, sizeof(p));
	ck_assert(holds(&p, "192.0.2.1"));
	ck_assert(holds(&p, "2001:db8::1"));
	ck_assert(!ferry_prefix_contains(&p, AF_UNIX, (const uint8_t *)"xxxxxxxxxxxxxxxx"));
	/* A length beyond the family's bits holds nothing (and reads nothing past it). */
	p = prefix("10.0.0.0/8");
	p.len = 33;
	ck_assert(!holds(&p, "10.0.0.0"));
	p = prefix("::/0");
	p.len = 129;
	ck_assert(!holds(&p, "::"));
}
END_TEST

START_TEST(prefix_host_and_cmp)
{
	static const uint8_t v4[4] = {192, 0, 2, 1};
	static const uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};
	struct ferry_prefix p, q;

	ck_assert_int_eq(ferry_prefix_host(&p, AF_INET, v4), 0);
	q = prefix("192.0.2.1/32");
	ck_assert_int_eq(ferry_prefix_cmp(&p, &q), 0);
	ck_assert_int_eq(ferry_prefix_host(&p, AF_INET6, v6), 0);
	q = prefix("2001:db8::1/128");
	ck_assert_int_eq(ferry_prefix_cmp(&p, &q), 0);
	ck_assert_int_eq(ferry_prefix_host(&p, AF_UNIX, v6), -EAFNOSUPPORT);

	/* Family first, then length, then address. */
	p = prefix("255.0.0.0/8");
	q = prefix("::/0");
	ck_assert_int_lt(ferry_prefix_cmp(&p, &q), 0);
	ck_assert_int_gt(ferry_prefix_cmp(&q, &p), 0);
	p = prefix("10.0.0.0/16");
	q = prefix("10.0.0.0/8");
	ck_assert_int_gt(ferry_prefix_cmp(&p, &q), 0);
	p = prefix("10.0.0.0/8");
	q = prefix("11.0.0.0/8");
	ck_assert_int_lt(ferry_prefix_cmp(&p, &q), 0);
	q = prefix("10.0.0.0/8");
	ck_assert_int_eq(ferry_prefix_cmp(&p, &q), 0);
}
END_TEST

/* ---- endpoints ---- */

static struct ferry_endpoint endpoint(const char *text, uint16_t port)
{
	struct ferry_endpoint ep = {.port = port};

	ep.family = strchr(text, ':') ? AF_INET6 : AF_INET;
	ck_assert_int_eq(inet_pton(ep.family, text, ep.addr), 1);
	return ep;
}

START_TEST(addr_len)
{
	ck_assert_uint_eq(ferry_addr_len(AF_INET), 4);
	ck_assert_uint_eq(ferry_addr_len(AF_INET6), 16);
	ck_assert_uint_eq(ferry_addr_len(AF_UNIX), 0);
	ck_assert_uint_eq(ferry_addr_len(0), 0);
}
END_TEST

START_TEST(endpoint_eq)
{
	struct ferry_endpoint a = endpoint("192.0.2.1", 53), b = a;

	ck_assert(ferry_endpoint_eq(&a, &b));
	b.port = 54;
	ck_assert(!ferry_endpoint_eq(&a, &b));
	b = endpoint("192.0.2.2", 53);
	ck_assert(!ferry_endpoint_eq(&a, &b));
	b = a;
	b.family = AF_INET6; /* the same bytes, the other family */
	ck_assert(!ferry_endpoint_eq(&a, &b));

	a = endpoint("2001:db8::1", 443);
	b = a;
	ck_assert(ferry_endpoint_eq(&a, &b));
	b.addr[15] = 2;
	ck_assert(!ferry_endpoint_eq(&a, &b));
	b = endpoint("2001:db8::1", 444);
	ck_assert(!ferry_endpoint_eq(&a, &b));
}
END_TEST

START_TEST(endpoint_sockaddr_round_trip)
{
	static const char *const addrs[] = {"192.0.2.1", "0.0.0.0", "2001:db8::1", "::"};
	static const uint16_t ports[] = {0, 53, 65535};
	struct ferry_endpoint ep, back;
	struct ferry_sockaddr sa;
	size_t i, j;

	for (i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		for (j = 0; j < sizeof(ports) / sizeof(ports[0]); j++) {
			ep = endpoint(addrs[i], ports[j]);
			ck_assert_int_eq(ferry_endpoint_to_sockaddr(&ep, &sa), 0);
			ck_assert_int_eq(sa.sa.sa_family, ep.family);
			if (ep.family == AF_INET) {
				ck_assert_uint_eq(sa.len, sizeof(struct sockaddr_in));
				ck_assert_uint_eq(sa.in4.sin_port, htons(ports[j]));
				ck_assert_mem_eq(&sa.in4.sin_addr, ep.addr, 4);
			} else {
				ck_assert_uint_eq(sa.len, sizeof(struct sockaddr_in6));
				ck_assert_uint_eq(sa.in6.sin6_port, htons(ports[j]));
				ck_assert_mem_eq(&sa.in6.sin6_addr, ep.addr, 16);
			}
			ck_assert_int_eq(ferry_endpoint_from_sockaddr(&back, &sa.sa), 0);
			ck_assert(ferry_endpoint_eq(&ep, &back));
		}
	}
}
END_TEST

START_TEST(endpoint_sockaddr_other_family)
{
	struct ferry_endpoint ep = {.family = AF_UNIX, .port = 1};
	struct sockaddr_un un = {.sun_family = AF_UNIX};
	struct ferry_sockaddr sa;

	ck_assert_int_eq(ferry_endpoint_to_sockaddr(&ep, &sa), -EAFNOSUPPORT);
	ep.family = 0;
	ck_assert_int_eq(ferry_endpoint_to_sockaddr(&ep, &sa), -EAFNOSUPPORT);
	ck_assert_int_eq(ferry_endpoint_from_sockaddr(&ep, (const struct sockaddr *)&un),
			 -EAFNOSUPPORT);
}
END_TEST

START_TEST(endpoint_format)
{
	struct ferry_endpoint ep = endpoint("192.0.2.1", 53);
	char text[FERRY_ENDPOINT_STRLEN];

	ferry_endpoint_format(text, sizeof(text), &ep, true);
	ck_assert_str_eq(text, "192.0.2.1:53");
	ferry_endpoint_format(text, sizeof(text), &ep, false);
	ck_assert_str_eq(text, "192.0.2.1");
	ep = endpoint("2001:db8::1", 53);
	ferry_endpoint_format(text, sizeof(text), &ep, true);
	ck_assert_str_eq(text, "[2001:db8::1]:53");
	ferry_endpoint_format(text, sizeof(text), &ep, false);
	ck_assert_str_eq(text, "2001:db8::1");
	ep = endpoint("::ffff:192.0.2.1", 0);
	ferry_endpoint_format(text, sizeof(text), &ep, true);
	ck_assert_str_eq(text, "[::ffff:192.0.2.1]:0");

	/* The longest endpoint fits FERRY_ENDPOINT_STRLEN, NUL included. */
	ep = endpoint("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535);
	ferry_endpoint_format(text, sizeof(text), &ep, true);
	ck_assert_str_eq(text, "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535");
	ck_assert_uint_lt(strlen(text), FERRY_ENDPOINT_STRLEN);

	/* A smaller buffer gets a cut, terminated text. */
	ep = endpoint("192.0.2.1", 53);
	ferry_endpoint_format(text, 8, &ep, true);
	ck_assert_str_eq(text, "192.0.2");
}
END_TEST

START_TEST(sockaddr_from)
{
	static const char *const bad[] = {
	    "",
	    "192.0.2.300",
	    "192.0.2",
	    " 192.0.2.1",
	    "192.0.2.1 ",
	    "192.0.2.1:53",
	    "example.org",
	    "[2001:db8::1]",
	    "2001:db8:::1",
	    "fe80::1%lo",
	};
	struct ferry_sockaddr sa;
	size_t i;

	ck_assert_int_eq(ferry_sockaddr_from(&sa, "192.0.2.1", 53), 0);
	ck_assert_int_eq(sa.in4.sin_family, AF_INET);
	ck_assert_uint_eq(sa.len, sizeof(struct sockaddr_in));
	ck_assert_uint_eq(sa.in4.sin_port, htons(53));
	ck_assert_mem_eq(&sa.in4.sin_addr, "\xc0\x00\x02\x01", 4);

	ck_assert_int_eq(ferry_sockaddr_from(&sa, "2001:db8::1", 65535), 0);
	ck_assert_int_eq(sa.in6.sin6_family, AF_INET6);
	ck_assert_uint_eq(sa.len, sizeof(struct sockaddr_in6));
	ck_assert_uint_eq(sa.in6.sin6_port, htons(65535));
	ck_assert_mem_eq(&sa.in6.sin6_addr, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01", 16);
	ck_assert_uint_eq(sa.in6.sin6_scope_id, 0);

	ck_assert_int_eq(ferry_sockaddr_from(&sa, "::ffff:192.0.2.1", 1), 0);
	ck_assert_int_eq(sa.sa.sa_family, AF_INET6); /* mapped stays IPv6 */

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(ferry_sockaddr_from(&sa, bad[i], 1) == -EINVAL, "accepted \"%s\"",
			      bad[i]);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("addr");
	TCase *prefixes = ferry_tcase("prefix", 5);
	TCase *endpoints = ferry_tcase("endpoint", 5);

	tcase_add_test(prefixes, prefix_parse);
	tcase_add_test(prefixes, prefix_parse_fields);
	tcase_add_test(prefixes, prefix_parse_reasons);
	tcase_add_test(prefixes, prefix_host_bits_and_mask);
	tcase_add_test(prefixes, prefix_format_round_trip);
	tcase_add_test(prefixes, prefix_contains);
	tcase_add_test(prefixes, prefix_host_and_cmp);
	suite_add_tcase(s, prefixes);

	tcase_add_test(endpoints, addr_len);
	tcase_add_test(endpoints, endpoint_eq);
	tcase_add_test(endpoints, endpoint_sockaddr_round_trip);
	tcase_add_test(endpoints, endpoint_sockaddr_other_family);
	tcase_add_test(endpoints, endpoint_format);
	tcase_add_test(endpoints, sockaddr_from);
	suite_add_tcase(s, endpoints);
	return ferry_run_suite(s);
}
