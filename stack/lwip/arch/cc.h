/* SPDX-License-Identifier: MIT */
/*
 * lwIP's compiler and platform glue for Linux user space (glibc, gcc or clang).
 * Diagnostics go to stderr; an lwIP assertion is a bug in ferry or lwIP and aborts.
 */
#ifndef FERRY_LWIP_ARCH_CC_H
#define FERRY_LWIP_ARCH_CC_H

#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>

#define LWIP_NO_UNISTD_H     0
#define LWIP_TIMEVAL_PRIVATE 0

#define LWIP_PLATFORM_DIAG(x) \
	do {                  \
		printf x;     \
	} while (0)
#define LWIP_PLATFORM_ASSERT(x)                                                         \
	do {                                                                            \
		fprintf(stderr, "lwIP assertion: %s (%s:%d)\n", x, __FILE__, __LINE__); \
		abort();                                                                \
	} while (0)

/* Initial sequence numbers and ephemeral ports (stack/lwip_port.c). */
uint32_t ferry_stack_lwip_rand(void);
#define LWIP_RAND() ferry_stack_lwip_rand()

#endif
