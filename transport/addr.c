// SPDX-License-Identifier: MIT
#include "transport/addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t ferry_addr_len(int family)
{
	return family == AF_INET ? 4 : family == AF_INET6 ? 16 : 0;
}

bool ferry_endpoint_eq(const struct ferry_endpoint *a, const struct ferry_endpoint *b)
{
	return a->family == b->family && a->port == b->port &&
	       memcmp(a->addr, b->addr, a->family == AF_INET ? 4 : 16) == 0;
}

int ferry_sockaddr_from(struct ferry_sockaddr *sa, const char *addr, uint16_t port)
{
	memset(sa, 0, sizeof(*sa));
	if (inet_pton(AF_INET, addr, &sa->in4.sin_addr) == 1) {
		sa->in4.sin_family = AF_INET;
		sa->in4.sin_port = htons(port);
		sa->len = sizeof(sa->in4);
		return 0;
	}
	if (inet_pton(AF_INET6, addr, &sa->in6.sin6_addr) == 1) {
		sa->in6.sin6_family = AF_INET6;
		sa->in6.sin6_port = htons(port);
		sa->len = sizeof(sa->in6);
		return 0;
	}
	return -EINVAL;
}

int ferry_endpoint_to_sockaddr(const struct ferry_endpoint *ep, struct ferry_sockaddr *sa)
{
	memset(sa, 0, sizeof(*sa));
	if (ep->family == AF_INET) {
		sa->in4.sin_family = AF_INET;
		sa->in4.sin_port = htons(ep->port);
		memcpy(&sa->in4.sin_addr, ep->addr, 4);
		sa->len = sizeof(sa->in4);
		return 0;
	}
	if (ep->family == AF_INET6) {
		sa->in6.sin6_family = AF_INET6;
		sa->in6.sin6_port = htons(ep->port);
		memcpy(&sa->in6.sin6_addr, ep->addr, 16);
		sa->len = sizeof(sa->in6);
		return 0;
	}
	return -EAFNOSUPPORT;
}

int ferry_endpoint_from_sockaddr(struct ferry_endpoint *ep, const struct sockaddr *sa)
{
	memset(ep, 0, sizeof(*ep));
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)sa;

		ep->family = AF_INET;
		ep->port = ntohs(sin->sin_port);
		memcpy(ep->addr, &sin->sin_addr, 4);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)(const void *)sa;

		ep->family = AF_INET6;
		ep->port = ntohs(sin6->sin6_port);
		memcpy(ep->addr, &sin6->sin6_addr, 16);
		return 0;
	}
	return -EAFNOSUPPORT;
}

void ferry_endpoint_format(char *out, size_t cap, const struct ferry_endpoint *ep, bool port)
{
	char text[INET6_ADDRSTRLEN];

	if (!inet_ntop(ep->family == AF_INET6 ? AF_INET6 : AF_INET, ep->addr, text, sizeof(text)))
		snprintf(text, sizeof(text), "?");
	if (!port)
		snprintf(out, cap, "%s", text);
	else if (ep->family == AF_INET6)
		snprintf(out, cap, "[%s]:%u", text, ep->port);
	else
		snprintf(out, cap, "%s:%u", text, ep->port);
}

/*
 * Prefixes. The address part goes to inet_pton(3), which refuses what is not a plain
 * dotted quad or RFC 4291 text; the length is checked by hand, so "/+8", "/ 8" and "/08x"
 * are refused too, while "/008" is 8 (at most three digits).
 */
int ferry_prefix_parse(struct ferry_prefix *p, const char *s, bool *host_bits, const char **why)
{
	char addr[INET6_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	unsigned int max, len, i;

	memset(p, 0, sizeof(*p));
	*host_bits = false;
	if (alen == 0) {
		*why = "missing address";
		return -EINVAL;
	}
	if (memchr(s, ':', alen)) {
		p->family = AF_INET6;
		max = 128;
		*why = "not a valid IPv6 address";
	} else {
		p->family = AF_INET;
		max = 32;
		*why = "not a valid IPv4 address";
	}
	if (alen >= sizeof(addr))
		return -EINVAL;
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	if (inet_pton(p->family, addr, p->addr) != 1)
		return -EINVAL;
	len = max;
	if (slash) {
		const char *l = slash + 1;
		size_t n = strlen(l);

		if (n == 0) {
			*why = "missing prefix length after \"/\"";
			return -EINVAL;
		}
		if (strspn(l, "0123456789") != n) {
			*why = "prefix length is not a number";
			return -EINVAL;
		}
		if (n > 3 || (len = (unsigned int)strtoul(l, NULL, 10)) > max) {
			*why = max == 32 ? "prefix length out of range (0..32 for IPv4)"
					 : "prefix length out of range (0..128 for IPv6)";
			return -EINVAL;
		}
	}
	p->len = (uint8_t)len;
	for (i = len; i < max; i++)
		if (p->addr[i / 8] & (0x80 >> (i % 8)))
			*host_bits = true;
	return 0;
}

void ferry_prefix_mask(struct ferry_prefix *p)
{
	unsigned int i;

	for (i = p->len; i < 128; i++)
		p->addr[i / 8] &= (uint8_t) ~(0x80 >> (i % 8));
}

void ferry_prefix_format(char out[FERRY_PREFIX_STRLEN], const struct ferry_prefix *p)
{
	char addr[INET6_ADDRSTRLEN];

	if (!ferry_addr_len(p->family) || !inet_ntop(p->family, p->addr, addr, sizeof(addr)))
		snprintf(addr, sizeof(addr), "?");
	snprintf(out, FERRY_PREFIX_STRLEN, "%s/%u", addr, p->len);
}

int ferry_prefix_host(struct ferry_prefix *p, int family, const uint8_t *addr)
{
	size_t alen = ferry_addr_len(family);

	memset(p, 0, sizeof(*p));
	if (!alen)
		return -EAFNOSUPPORT;
	p->family = (uint8_t)family;
	p->len = (uint8_t)(alen * 8);
	memcpy(p->addr, addr, alen);
	return 0;
}

bool ferry_prefix_contains(const struct ferry_prefix *p, int family, const uint8_t *addr)
{
	unsigned int whole = p->len / 8, rest = p->len % 8;

	if (family != AF_INET && family != AF_INET6)
		return false;
	if (p->family == 0)
		return true;
	if (p->family != family || p->len > ferry_addr_len(family) * 8)
		return false;
	if (memcmp(p->addr, addr, whole) != 0)
		return false;
	return rest == 0 || ((p->addr[whole] ^ addr[whole]) & (0xff00 >> rest)) == 0;
}

int ferry_prefix_cmp(const struct ferry_prefix *a, const struct ferry_prefix *b)
{
	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	if (a->len != b->len)
		return a->len < b->len ? -1 : 1;
	return memcmp(a->addr, b->addr, sizeof(a->addr));
}
