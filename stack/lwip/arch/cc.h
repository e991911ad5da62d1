/* SPDX-License-Identifier: MIT */
/* lwIP's compiler/platform glue for Linux userspace. */
#ifndef FERRY_LWIP_ARCH_CC_H
#define FERRY_LWIP_ARCH_CC_H
#include <stdio.h>
#include <stdlib.h>
#define LWIP_NO_UNISTD_H 0
#define LWIP_PLATFORM_DIAG(x) \
	do {                  \
		printf x;     \
	} while (0)
#define LWIP_PLATFORM_ASSERT(x)                                                         \
	do {                                                                            \
		fprintf(stderr, "lwIP assertion: %s (%s:%d)\n", x, __FILE__, __LINE__); \
		abort();                                                                \
	} while (0)
#endif
