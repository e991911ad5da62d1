// SPDX-License-Identifier: MIT
/*
 * lwIP's process-wide state, kept in one place.
 *
 * lwIP with NO_SYS=1 is a set of globals: its pools, its pcb lists, its timer list, and
 * the clock it reads through sys_now(). ferry therefore allows one stack per process
 * (ferry_stack_lwip_acquire fails with -EBUSY while another holds lwIP) and keeps
 * everything else of its own in struct ferry_stack. These three variables are the only
 * mutable globals of the stack, and they mirror lwIP's own:
 *   - port_now: the millisecond clock the event loop last handed in (ferry_stack_poll);
 *     lwIP reads it through sys_now() and never sees a clock of its own;
 *   - port_owner: the stack that holds lwIP now;
 *   - port_ready/port_ext_id: lwip_init() runs once per process -- running it again would
 *     re-arm lwIP's cyclic timers a second time -- and so does tcp_ext_arg_alloc_id();
 *   - ferry_stack_lwip_heap: lwIP's heap (see lwipopts.h), mapped before lwip_init and
 *     kept for the life of the process, like lwIP's static pools.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "lwip/init.h"
#include "lwip/sys.h"
#include "lwip/tcp.h"
#include "lwip/timeouts.h"
#include "stack/internal.h"

static u32_t port_now;
static struct ferry_stack *port_owner;
static int port_ready;
static u8_t port_ext_id;
unsigned char *ferry_stack_lwip_heap;

u32_t sys_now(void)
{
	return port_now;
}

uint32_t ferry_stack_lwip_rand(void)
{
	return arc4random();
}

void ferry_stack_lwip_set_now(uint64_t now)
{
	port_now = (u32_t)now; /* lwIP compares times modulo 2^32 */
}

int ferry_stack_lwip_acquire(struct ferry_stack *stack, uint64_t now)
{
	if (port_owner)
		return -EBUSY;
	ferry_stack_lwip_set_now(now);
	if (!port_ready) {
		void *heap = mmap(NULL, FERRY_LWIP_HEAP_BYTES, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

		if (heap == MAP_FAILED)
			return -ENOMEM;
		ferry_stack_lwip_heap = heap;
		lwip_init();
		port_ext_id = tcp_ext_arg_alloc_id();
		port_ready = 1;
	}
	port_owner = stack;
	return 0;
}

void ferry_stack_lwip_release(struct ferry_stack *stack)
{
	if (port_owner == stack)
		port_owner = NULL;
}

uint8_t ferry_stack_lwip_ext_id(void)
{
	return port_ext_id;
}
