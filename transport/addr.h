/* SPDX-License-Identifier: MIT */
/*
 * Addresses, once for every layer: an endpoint (address and port, as flows name their
 * ends), and the socket address the kernel's calls take (struct ferry_sockaddr), with the
 * conversions between them. Everything above transport/ uses these types; nothing else of
 * ferry's spells an address its own way.
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

#endif
