// SPDX-License-Identifier: MIT
/* lwIP's clock under NO_SYS (stack/ helper refines). */
#include <stdint.h>
#include <time.h>
#include "lwip/arch.h"
#include "lwip/sys.h"
u32_t sys_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (u32_t)((uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u);
}
