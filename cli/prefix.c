// SPDX-License-Identifier: MIT
/*
 * IP prefixes: strict parsing and formatting (see prefix.h). The address part goes to
 * inet_pton(3), which rejects what is not a plain dotted quad or RFC 4291 text (no zone
 * index); the length is checked by hand, so "/+8", "/ 8" and "/08x" are refused too.
 */
#include "cli/prefix.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

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
	if (alen >= sizeof(addr)) {
		*why = "is not a valid address";
		return -EINVAL;
	}
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	if (memchr(addr, ':', alen)) {
		p->family = AF_INET6;
		max = 128;
		if (inet_pton(AF_INET6, addr, p->addr) != 1) {
			*why = "is not a valid IPv6 address";
			return -EINVAL;
		}
	} else {
		p->family = AF_INET;
		max = 32;
		if (inet_pton(AF_INET, addr, p->addr) != 1) {
			*why = "is not a valid IPv4 address";
			return -EINVAL;
		}
	}
	len = max;
	if (slash) {
		const char *l = slash + 1;
		size_t n = strlen(l);

		if (n == 0) {
			*why = "is missing the prefix length after \"/\"";
			return -EINVAL;
		}
		if (strspn(l, "0123456789") != n) {
			*why = "has a prefix length that is not a number";
			return -EINVAL;
		}
		if (n > 3 || (len = (unsigned int)strtoul(l, NULL, 10)) > max) {
			*why = max == 32 ? "has a prefix length out of range (0..32 for IPv4)"
					 : "has a prefix length out of range (0..128 for IPv6)";
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

	if (!inet_ntop(p->family == AF_INET6 ? AF_INET6 : AF_INET, p->addr, addr, sizeof(addr)))
		snprintf(addr, sizeof(addr), "?");
	snprintf(out, FERRY_PREFIX_STRLEN, "%s/%u", addr, p->len);
}
