// SPDX-License-Identifier: MIT
#include "transport/addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
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
