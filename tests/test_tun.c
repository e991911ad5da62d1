// SPDX-License-Identifier: MIT
/*
 * TUN device and netlink, for real: every test forks (Check) and moves into a network
 * namespace of its own with unshare(CLONE_NEWNET), so nothing touches the host's links.
 * A UDP socket sends through a route over the TUN; the test reads the packet with
 * ferry_tun_read, turns it into the reply a peer would send, writes it back with
 * ferry_tun_write, and the socket must receive it.
 *
 * Needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN) and /dev/net/tun; without them the suite
 * exits 77, which CTest reports as skipped -- not as passed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "tests/support/fixture.h"
#include "tun/netlink.h"
#include "tun/netns.h"
#include "tun/nft.h"
#include "tun/tun.h"

#define SKIP_STATUS 77
#define TUN_MTU	    1400

static void enter_private_netns(void)
{
	ck_assert_msg(unshare(CLONE_NEWNET) == 0, "unshare(CLONE_NEWNET): %s", strerror(errno));
}

static uint32_t sum16(const uint8_t *p, size_t len, uint32_t sum)
{
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

static uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* Reads packets until one carries protocol `proto` to `dst` (skipping IPv6 router
 * solicitations and the like). Returns its length; fails the test after 2 s. */
static size_t read_packet_to(struct ferry_tun *tun, uint8_t *buf, size_t cap, int family,
			     const void *dst)
{
	int tries;

	for (tries = 0; tries < 50; tries++) {
		struct pollfd pfd = {.fd = tun->fd, .events = POLLIN};
		ssize_t n;

		ck_assert_int_ge(poll(&pfd, 1, 40), 0);
		n = ferry_tun_read(tun, buf, cap);
		if (n == -EAGAIN)
			continue;
		ck_assert_int_gt(n, 0);
		if (family == AF_INET && n >= 20 && buf[0] >> 4 == 4 && buf[9] == IPPROTO_UDP &&
		    memcmp(buf + 16, dst, 4) == 0)
			return (size_t)n;
		if (family == AF_INET6 && n >= 40 && buf[0] >> 4 == 6 && buf[6] == IPPROTO_UDP &&
		    memcmp(buf + 24, dst, 16) == 0)
			return (size_t)n;
	}
	ck_abort_msg("no UDP packet to the expected destination came out of the TUN");
	return 0;
}

/* Swaps addresses and ports of a UDP packet in place and fixes its checksums, as the
 * far end's answer would look. */
static void make_reply(uint8_t *pkt, size_t len, int family)
{
	size_t ip_len = family == AF_INET ? (size_t)(pkt[0] & 0x0f) * 4 : 40;
	size_t alen = family == AF_INET ? 4 : 16;
	size_t src = family == AF_INET ? 12 : 8;
	uint8_t tmp[16], *udp = pkt + ip_len;
	size_t udp_len = len - ip_len;
	uint32_t sum;

	memcpy(tmp, pkt + src, alen);
	memcpy(pkt + src, pkt + src + alen, alen);
	memcpy(pkt + src + alen, tmp, alen);
	memcpy(tmp, udp, 2);
	memcpy(udp, udp + 2, 2);
	memcpy(udp + 2, tmp, 2);

	udp[6] = udp[7] = 0;
	sum = sum16(pkt + src, 2 * alen, 0) + IPPROTO_UDP + (uint32_t)udp_len;
	sum = fold(sum16(udp, udp_len, sum));
	udp[6] = (uint8_t)(sum >> 8);
	udp[7] = (uint8_t)sum;
	if (family == AF_INET) {
		pkt[10] = pkt[11] = 0;
		sum = fold(sum16(pkt, ip_len, 0));
		pkt[10] = (uint8_t)(sum >> 8);
		pkt[11] = (uint8_t)sum;
	}
}

static void udp_round_trip(int family, const char *local, uint8_t plen, const char *route,
			   uint8_t route_len, const char *remote)
{
	uint8_t local_addr[16], route_addr[16], remote_addr[16], pkt[TUN_MTU + 1];
	struct sockaddr_storage to = {0}, from;
	socklen_t from_len = sizeof(from);
	struct ferry_tun tun;
	struct ferry_nl nl;
	struct timeval tv = {.tv_usec = 200000};
	int sock, attempt;
	ssize_t got = -1;
	char reply[64];
	size_t n;

	enter_private_netns();
	ck_assert_int_eq(inet_pton(family, local, local_addr), 1);
	ck_assert_int_eq(inet_pton(family, route, route_addr), 1);
	ck_assert_int_eq(inet_pton(family, remote, remote_addr), 1);

	ck_assert_int_eq(ferry_tun_open(&tun, "ferrytest0"), 0);
	ck_assert_str_eq(tun.name, "ferrytest0");
	ck_assert_int_eq(ferry_nl_open(&nl), 0);
	ck_assert_int_eq(ferry_nl_link_set(&nl, tun.ifindex, 1, TUN_MTU), 0);
	ck_assert_int_eq(ferry_nl_addr_add(&nl, tun.ifindex, family, local_addr, plen), 0);
	ck_assert_int_eq(ferry_nl_addr_add(&nl, tun.ifindex, family, local_addr, plen), -EEXIST);
	ck_assert_int_eq(ferry_nl_route_add(&nl, tun.ifindex, family, route_addr, route_len, 0), 0);

	sock = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(sock, 0);
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&to;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(9999);
		memcpy(&sin->sin_addr, remote_addr, 4);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&to;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(9999);
		memcpy(&sin6->sin6_addr, remote_addr, 16);
	}
	ck_assert_int_eq(connect(sock, (struct sockaddr *)&to, sizeof(to)), 0);
	/* The kernel installs the local route of a new IPv6 address asynchronously (even
	 * with nodad), so the first reply may meet Ip6InAddrErrors: retry, bounded. */
	ck_assert_int_eq(setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	for (attempt = 0; attempt < 25 && got != 18; attempt++) {
		ck_assert_int_eq(send(sock, "ping through ferry", 18, 0), 18);
		n = read_packet_to(&tun, pkt, sizeof(pkt), family, remote_addr);
		ck_assert_mem_eq(pkt + n - 18, "ping through ferry", 18);
		make_reply(pkt, n, family);
		ck_assert_int_eq(ferry_tun_write(&tun, pkt, n), 0);
		got = recvfrom(sock, reply, sizeof(reply), 0, (struct sockaddr *)&from, &from_len);
	}
	ck_assert_msg(got == 18, "no reply after %d attempts: %s", attempt, strerror(errno));
	ck_assert_mem_eq(reply, "ping through ferry", 18);

	close(sock);
	ferry_nl_close(&nl);
	ferry_tun_close(&tun);
	ferry_tun_close(&tun);
}

START_TEST(ipv4_udp_round_trip)
{
	udp_round_trip(AF_INET, "10.77.0.1", 24, "10.88.0.0", 16, "10.88.1.1");
}
END_TEST

START_TEST(ipv6_udp_round_trip)
{
	udp_round_trip(AF_INET6, "fd77::1", 64, "fd88::", 48, "fd88::1:1");
}
END_TEST

START_TEST(errors_are_specific)
{
	uint8_t small[16], addr[4] = {10, 1, 2, 3};
	struct ferry_tun tun;
	struct ferry_nl nl;

	enter_private_netns();
	ck_assert_int_eq(ferry_tun_open(&tun, "a-name-much-too-long-for-linux"), -EINVAL);
	ck_assert_int_eq(ferry_tun_open(&tun, NULL), 0);
	ck_assert_msg(strncmp(tun.name, "tun", 3) == 0, "kernel-picked name %s", tun.name);
	ck_assert_int_eq(ferry_tun_read(&tun, small, sizeof(small)), -EAGAIN);

	ck_assert_int_eq(ferry_nl_open(&nl), 0);
	ck_assert_int_eq(ferry_nl_addr_add(&nl, tun.ifindex, AF_UNIX, addr, 8), -EINVAL);
	ck_assert_int_eq(ferry_nl_addr_add(&nl, tun.ifindex, AF_INET, addr, 33), -EINVAL);
	ck_assert_int_eq(ferry_nl_link_set(&nl, 999999, 1, 0), -ENODEV);
	ck_assert_int_eq(ferry_nl_link_set(&nl, tun.ifindex, 1, 1u << 30), -EINVAL);
	ck_assert_msg(nl.error[0] != '\0', "the kernel's extended ack text is kept");

	/* The transmit queue length is set (the kernel's 500 overflows under load). */
	ck_assert_int_eq(ferry_nl_link_set_txqlen(&nl, tun.ifindex, 4096), 0);
	{
		struct ifreq ifr = {0};
		int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", tun.name);
		ck_assert_int_eq(ioctl(s, SIOCGIFTXQLEN, &ifr), 0);
		ck_assert_int_eq(ifr.ifr_qlen, 4096);
		close(s);
	}
	ck_assert_int_eq(ferry_nl_link_set_txqlen(&nl, 999999, 4096), -ENODEV);

	/* A packet larger than the caller's buffer is reported, not silently cut. */
	ck_assert_int_eq(ferry_nl_link_set(&nl, tun.ifindex, 1, 1400), 0);
	ck_assert_int_eq(ferry_nl_addr_add(&nl, tun.ifindex, AF_INET, addr, 24), 0);
	{
		struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(7)};
		char payload[200] = {0};
		int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		uint8_t dst[4] = {10, 1, 2, 77};
		struct pollfd pfd = {.fd = tun.fd, .events = POLLIN};

		memcpy(&to.sin_addr, dst, 4);
		ck_assert_int_eq(
		    sendto(sock, payload, sizeof(payload), 0, (struct sockaddr *)&to, sizeof(to)),
		    (ssize_t)sizeof(payload));
		ck_assert_int_eq(poll(&pfd, 1, 2000), 1);
		ck_assert_int_eq(ferry_tun_read(&tun, small, sizeof(small)), -EMSGSIZE);
		close(sock);
	}
	ferry_nl_close(&nl);
	ferry_tun_close(&tun);
}
END_TEST

/* Two anonymous namespaces joined by a veth: each end lives in its own, a UDP datagram
 * crosses, and the namespaces vanish with their descriptors. */
START_TEST(namespaces_and_veth)
{
	static const uint8_t a_addr[4] = {192, 0, 2, 1}, b_addr[4] = {192, 0, 2, 2};
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(9)};
	int a, b, saved, rx, tx;
	struct ferry_nl nl;
	char got[8] = {0};
	ino_t a_ino;
	struct stat st;

	enter_private_netns();
	a = ferry_netns_new();
	b = ferry_netns_new();
	ck_assert_int_ge(a, 0);
	ck_assert_int_ge(b, 0);
	ck_assert_int_eq(fstat(a, &st), 0);
	a_ino = st.st_ino;
	ck_assert_int_eq(ferry_netns_veth("va", a, "vb", b), 0);
	ck_assert_int_eq(ferry_netns_veth("va", a, "vb", b), -EEXIST);
	ck_assert_uint_eq(if_nametoindex("va"), 0); /* not in the caller's namespace */

	ck_assert_int_eq(ferry_netns_enter(b, &saved), 0);
	ck_assert_int_eq(ferry_nl_open(&nl), 0);
	ck_assert_int_eq(ferry_nl_addr_add(&nl, if_nametoindex("vb"), AF_INET, b_addr, 24), 0);
	ck_assert_int_eq(ferry_nl_link_set(&nl, if_nametoindex("vb"), 1, 0), 0);
	ferry_nl_close(&nl);
	ck_assert_int_eq(ferry_netns_offloads_off("vb"), 0);
	ck_assert_int_eq(ferry_netns_offloads_off("nosuch0"), -ENODEV);
	rx = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	to.sin_addr.s_addr = htonl(INADDR_ANY);
	ck_assert_int_eq(bind(rx, (struct sockaddr *)&to, sizeof(to)), 0);
	ck_assert_int_eq(ferry_netns_leave(saved), 0);

	ck_assert_int_eq(ferry_netns_enter(a, &saved), 0);
	ck_assert_int_eq(stat("/proc/self/ns/net", &st), 0);
	ck_assert_uint_eq(st.st_ino, a_ino); /* entered: this thread is in a now */
	ck_assert_int_eq(ferry_nl_open(&nl), 0);
	ck_assert_int_eq(ferry_nl_addr_add(&nl, if_nametoindex("va"), AF_INET, a_addr, 24), 0);
	ck_assert_int_eq(ferry_nl_link_set(&nl, if_nametoindex("va"), 1, 0), 0);
	ferry_nl_close(&nl);
	tx = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	memcpy(&to.sin_addr, b_addr, 4);
	{
		struct timeval tv = {.tv_sec = 2};
		int tries;

		setsockopt(rx, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		/* the first datagram may wait for ARP; a few are enough */
		for (tries = 0; tries < 3; tries++)
			ck_assert_int_eq(
			    sendto(tx, "across", 6, 0, (struct sockaddr *)&to, sizeof(to)), 6);
	}
	ck_assert_int_eq(recv(rx, got, sizeof(got), 0), 6);
	ck_assert_str_eq(got, "across");
	close(tx);
	close(rx);
	ck_assert_int_eq(ferry_netns_leave(saved), 0);
	ck_assert_int_eq(stat("/proc/self/ns/net", &st), 0);
	ck_assert_uint_ne(st.st_ino, a_ino); /* left */
	close(a);
	close(b);
}
END_TEST

static bool rule_eq(const struct ferry_nl_rule *a, const struct ferry_nl_rule *b)
{
	return a->family == b->family && a->priority == b->priority && a->table == b->table &&
	       a->match_mark == b->match_mark && a->invert == b->invert && a->mark == b->mark &&
	       a->suppress_prefixlen == b->suppress_prefixlen && a->protocol == b->protocol;
}

/* Policy routing as full-device mode uses it: rules with [not] fwmark, suppress_prefixlength
 * and a protocol of their own are added, found again by that protocol (and only theirs),
 * deleted exactly; routes are counted per table. */
START_TEST(rules_and_tables)
{
	static const uint8_t any4[4] = {0}, any6[16] = {0}, addr[4] = {10, 7, 0, 1};
	const struct ferry_nl_rule mine[] = {
	    {AF_INET, 30001, 52820, true, true, 52820, -1, 77},
	    {AF_INET, 30000, 254, false, false, 0, 0, 77},
	    {AF_INET6, 30001, 52820, true, true, 52820, -1, 77},
	    {AF_INET, 30002, 300, true, false, 5, -1, 0}, /* someone else's */
	};
	struct ferry_nl_rule got[8];
	struct ferry_tun tun;
	struct ferry_nl nl;
	size_t i, n, k;

	enter_private_netns();
	ck_assert_int_eq(ferry_tun_open(&tun, "rt0"), 0);
	ck_assert_int_eq(ferry_nl_open(&nl), 0);
	ck_assert_int_eq(ferry_nl_link_set(&nl, tun.ifindex, 1, 1400), 0);
	ck_assert_int_eq(ferry_nl_addr_add(&nl, tun.ifindex, AF_INET, addr, 24), 0);
	for (i = 0; i < sizeof(mine) / sizeof(mine[0]); i++)
		ck_assert_int_eq(ferry_nl_rule_add(&nl, &mine[i]), 0);
	ck_assert_int_eq(ferry_nl_rule_add(&nl, &mine[0]), -EEXIST);

	ck_assert_int_eq(ferry_nl_rule_list(&nl, AF_INET, 77, got, 8, &n), 0);
	ck_assert_uint_eq(n, 2);
	for (i = 0; i < 2; i++) {
		for (k = 0; k < n && !rule_eq(&mine[i], &got[k]); k++)
			;
		ck_assert_msg(k < n, "rule %zu is listed as it was made", i);
	}
	ck_assert_int_eq(ferry_nl_rule_list(&nl, AF_INET6, 77, got, 8, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert(rule_eq(&mine[2], &got[0]));
	ck_assert_int_eq(ferry_nl_rule_list(&nl, AF_INET, 0, got, 1, &n), 0);
	ck_assert_uint_ge(n, 6); /* the kernel's three, ours two, the other one; cap 1 */

	ck_assert_int_eq(ferry_nl_route_count(&nl, AF_INET, 52820, &n), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(ferry_nl_route_add(&nl, tun.ifindex, AF_INET, any4, 0, 52820), 0);
	ck_assert_int_eq(ferry_nl_route_add(&nl, tun.ifindex, AF_INET6, any6, 0, 52820), 0);
	ck_assert_int_eq(ferry_nl_route_count(&nl, AF_INET, 52820, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(ferry_nl_route_count(&nl, AF_INET6, 52820, &n), 0);
	ck_assert_uint_eq(n, 1);

	for (i = 0; i < 3; i++)
		ck_assert_int_eq(ferry_nl_rule_del(&nl, &mine[i]), 0);
	ck_assert_int_eq(ferry_nl_rule_del(&nl, &mine[0]), -ENOENT);
	ck_assert_int_eq(ferry_nl_rule_list(&nl, AF_INET, 77, got, 8, &n), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(ferry_nl_rule_list(&nl, AF_INET, 0, got, 8, &n), 0);
	ck_assert_uint_eq(n, 4); /* the other one stays */

	/* the device's routes go with it */
	ferry_tun_close(&tun);
	ck_assert_int_eq(ferry_nl_route_count(&nl, AF_INET, 52820, &n), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(ferry_nl_route_count(&nl, AF_INET6, 52820, &n), 0);
	ck_assert_uint_eq(n, 0);
	ferry_nl_close(&nl);
}
END_TEST

/* nftables scripts run whole or not at all, and a refusal comes with nftables' own words. */
START_TEST(nft_scripts)
{
	char out[4096], error[FERRY_NFT_ERROR_MAX];

	enter_private_netns();
	ck_assert_int_eq(ferry_nft_run("add table inet ferry-t\n"
				       "add chain inet ferry-t out { type filter hook output "
				       "priority 0; policy accept; }\n"
				       "add rule inet ferry-t out meta mark 0xce54 accept\n",
				       NULL, 0, error),
			 0);
	ck_assert_int_eq(ferry_nft_run("list table inet ferry-t", out, sizeof(out), error), 0);
	ck_assert_msg(strstr(out, "meta mark 0x0000ce54 accept") != NULL, "listed: %s", out);

	/* the second command is wrong: the first must not have been applied either */
	ck_assert_int_eq(ferry_nft_run("add table inet ferry-u\nadd rule inet ferry-u nosuch drop",
				       NULL, 0, error),
			 -EINVAL);
	ck_assert_msg(strncmp(error, "Error:", 6) == 0, "error text: %s", error);
	ck_assert_ptr_null(strchr(error, '\n'));
	ck_assert_int_eq(ferry_nft_run("list table inet ferry-u", out, sizeof(out), error),
			 -EINVAL);

	ck_assert_int_eq(ferry_nft_run("delete table inet ferry-t", NULL, 0, NULL), 0);
	ck_assert_int_eq(ferry_nft_run("list ruleset", out, sizeof(out), error), 0);
	ck_assert_str_eq(out, "");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tun");
	TCase *tc = ferry_tcase("tun", 10);

	if (geteuid() != 0 || access("/dev/net/tun", R_OK | W_OK) != 0) {
		printf("tun: needs root and /dev/net/tun; skipped\n");
		return SKIP_STATUS;
	}
	tcase_add_test(tc, ipv4_udp_round_trip);
	tcase_add_test(tc, ipv6_udp_round_trip);
	tcase_add_test(tc, errors_are_specific);
	tcase_add_test(tc, namespaces_and_veth);
	tcase_add_test(tc, rules_and_tables);
	tcase_add_test(tc, nft_scripts);
	suite_add_tcase(s, tc);
	return ferry_run_suite(s);
}
