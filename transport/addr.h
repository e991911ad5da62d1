/* SPDX-License-Identifier: MIT */
/*
 * Addresses, once for every layer: an endpoint (address and port, as flows name their
 * ends), the socket address the kernel's calls take (struct ferry_sockaddr), with the
 * conversions between them, and IP prefixes (the config's Address and AllowedIPs, the
 * egress policy's rules). Everything above transport/ uses these types; nothing else of
 * ferry's spells an address or a prefix its own way.
 *
 * Prefix text is read strictly: "10.0.0.0/24", "fd00::1/64", or a bare address meaning a
 * host prefix (/32, /128); no spaces, no sign, no trailing text, the address as
 * inet_pton(3) reads it (IPv4 dotted quad only, no IPv6 zone index).
 */
#ifndef FERRY_TRANSPORT_ADDR_H
#define FERRY_TRANSPORT_ADDR_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* An IP address and port. family is AF_INET or AF_INET6; an IPv4 address uses addr[0..3]
 * and the rest is zero. port is in host order (for ICMP echo: the identifier). */
struct ferry_endpoint {
	uint8_t family;
	uint8_t addr[16];
	uint16_t port;
};

/* A socket address as the kernel's calls take it: IPv4 or IPv6, with its length. */
struct ferry_sockaddr {
	union {
		struct sockaddr sa;
		struct sockaddr_in in4;
		struct sockaddr_in6 in6;
	};
	socklen_t len;
};

/* Longest text of an endpoint, NUL included: "[ffff:...:ffff]:65535". */
#define FERRY_ENDPOINT_STRLEN (46 + 2 + 6 + 1)

/* An IP prefix. family is AF_INET or AF_INET6, len 0..32 or 0..128, addr 4 or 16 bytes
 * in network order and the rest zero. family 0 with len 0 (and addr zero) stands for every
 * address of both families, as the egress policy's "any"; the parser never makes it. */
struct ferry_prefix {
	uint8_t family;
	uint8_t len;
	uint8_t addr[16];
};

/* Longest text form of a prefix, NUL included ("ffff:...:ffff/128"). */
#define FERRY_PREFIX_STRLEN (46 + 4)

/* Bytes of an address of family: 4, 16, or 0 for anything else. */
size_t ferry_addr_len(int family);

/* True when both are the same family, address and port. */
bool ferry_endpoint_eq(const struct ferry_endpoint *a, const struct ferry_endpoint *b);

/* Fills sa from a numeric address ("192.0.2.1", "2001:db8::1") and a port.
 * Returns 0 or -EINVAL. */
int ferry_sockaddr_from(struct ferry_sockaddr *sa, const char *addr, uint16_t port);

/* sa for ep. Returns 0 or -EAFNOSUPPORT (the family is neither). */
int ferry_endpoint_to_sockaddr(const struct ferry_endpoint *ep, struct ferry_sockaddr *sa);

/* ep for sa (its length is not consulted). Returns 0 or -EAFNOSUPPORT. */
int ferry_endpoint_from_sockaddr(struct ferry_endpoint *ep, const struct sockaddr *sa);

/* Writes "192.0.2.1:53" or "[2001:db8::1]:53" (with port) or the bare address (without)
 * into out (cap bytes, at least FERRY_ENDPOINT_STRLEN for any endpoint). */
void ferry_endpoint_format(char *out, size_t cap, const struct ferry_endpoint *ep, bool port);

/* Parses "a.b.c.d[/len]" or "x:y::z[/len]" strictly (no /len: a host prefix). Returns 0,
 * with *host_bits telling whether bits beyond len are set (they are kept), or -EINVAL with
 * *why a static text that names the problem on its own ("not a valid IPv4 address",
 * "prefix length out of range (0..32 for IPv4)"), for callers to show after the input. */
int ferry_prefix_parse(struct ferry_prefix *p, const char *s, bool *host_bits, const char **why);

/* Clears the bits of p beyond its length. */
void ferry_prefix_mask(struct ferry_prefix *p);

/* Writes p as "addr/len" into out ("?/len" for a family that is neither). */
void ferry_prefix_format(char out[FERRY_PREFIX_STRLEN], const struct ferry_prefix *p);

/* p for the one address addr of family (/32 or /128). Returns 0 or -EAFNOSUPPORT. */
int ferry_prefix_host(struct ferry_prefix *p, int family, const uint8_t *addr);

/* True when addr (4 or 16 bytes) of family lies in p: same family and the first len bits
 * equal; a family-0 prefix holds every AF_INET and AF_INET6 address. Families are never
 * mixed: an IPv4-mapped IPv6 address is an IPv6 address here (the caller that reads it
 * as IPv4, the egress policy, unmaps it first). A len beyond the family's bits holds
 * nothing. */
bool ferry_prefix_contains(const struct ferry_prefix *p, int family, const uint8_t *addr);

/* Orders prefixes by family, then length, then address: <0, 0 (the same prefix) or >0. */
int ferry_prefix_cmp(const struct ferry_prefix *a, const struct ferry_prefix *b);

#endif
