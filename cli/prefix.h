/* SPDX-License-Identifier: MIT */
/*
 * IP prefixes as the configuration file writes them: "10.0.0.0/24", "fd00::1/64", or a
 * bare address meaning a host prefix (/32, /128). Parsing is strict: no spaces, no sign,
 * no trailing text, the address as inet_pton(3) reads it (IPv4 dotted quad only).
 */
#ifndef FERRY_CLI_PREFIX_H
#define FERRY_CLI_PREFIX_H

#include <stdbool.h>
#include <stdint.h>

/* An IPv4 or IPv6 prefix. addr holds 4 or 16 bytes in network order; the rest is zero. */
struct ferry_prefix {
	int family; /* AF_INET or AF_INET6 */
	uint8_t len;
	uint8_t addr[16];
	unsigned int line; /* line of the file it came from, 0 if none */
};

/* Longest text form of a prefix, NUL included ("ffff:...:ffff/128"). */
#define FERRY_PREFIX_STRLEN (46 + 4)

/* Parses "a.b.c.d[/len]" or "x:y::z[/len]" strictly (no spaces, no sign, no trailing
 * text; no /len means a host prefix). Returns 0 and sets *host_bits if bits beyond len are
 * set (they are kept), or -EINVAL with *why naming the problem (a static string). */
int ferry_prefix_parse(struct ferry_prefix *p, const char *s, bool *host_bits, const char **why);

/* Clears the bits of p beyond its length. */
void ferry_prefix_mask(struct ferry_prefix *p);

/* Writes p as "addr/len" into out. */
void ferry_prefix_format(char out[FERRY_PREFIX_STRLEN], const struct ferry_prefix *p);

#endif
