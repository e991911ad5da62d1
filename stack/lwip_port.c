// SPDX-License-Identifier: MIT
/*
 * lwIP's process-wide state, kept in one place.
 *
 * lwIP with NO_SYS=1 is a set of globals: its pools, its pcb lists, its timer list, and
 * the clock it reads through sys_now(). ferry therefore allows one stack per process
 * (ferry_stack_lwip_acquire fails with -EBUSY while another holds lwIP) and keeps
 * everything else of its own in struct ferry_stack. These three variables are the only
 * mutable globals of the stack, and they mirror lwIP's own:
 *   - port_now: the millisecond clock the event loop last handed in (ferry_stack_timer);
 *     lwIP reads it through sys_now() and never sees a clock of its own;
 *   - port_owner: the stack that holds lwIP now;
 *   - port_ready/port_ext_id: lwip_init() runs once per process -- running it again would
 *     re-arm lwIP's cyclic timers a second time -- and so does tcp_ext_arg_alloc_id();
 *   - ferry_stack_lwip_heap: lwIP's heap (see lwipopts.h), mapped before lwip_init and
 *     kept for the life of the process, like lwIP's static pools;
 *   - port_isn_key: the secret of the initial sequence numbers, drawn with lwip_init.
 *
 * Initial sequence numbers follow RFC 6528: a 4 µs clock plus a keyed hash (SipHash) of
 * the connection's addresses and ports. lwIP's own would be a global counter advanced by
 * its timer ticks, which lets anyone who sees one connection guess the next one's.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <sodium.h>

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
static unsigned char port_isn_key[crypto_shorthash_KEYBYTES];

u32_t sys_now(void)
{
	return port_now;
}

uint32_t ferry_stack_lwip_rand(void)
{
	return arc4random();
}

/* Appends an address's bytes (4 or 16) to the hash input at *o. */
static void isn_put_addr(uint8_t *in, size_t *o, const ip_addr_t *a)
{
	if (IP_IS_V6(a)) {
		memcpy(in + *o, ip_2_ip6(a)->addr, 16);
		*o += 16;
	} else {
		memcpy(in + *o, &ip_2_ip4(a)->addr, 4);
		*o += 4;
	}
}

unsigned int ferry_stack_lwip_tcp_isn(const struct ip_addr *local_ip, unsigned short local_port,
				      const struct ip_addr *remote_ip, unsigned short remote_port)
{
	uint8_t in[2 * 16 + 4], out[crypto_shorthash_BYTES];
	uint32_t f;
	size_t o = 0;

	isn_put_addr(in, &o, local_ip);
	isn_put_addr(in, &o, remote_ip);
	memcpy(in + o, &local_port, 2);
	memcpy(in + o + 2, &remote_port, 2);
	crypto_shorthash(out, in, o + 4, port_isn_key);
	memcpy(&f, out, sizeof(f));
	return f + port_now * 250u; /* M: one tick per 4 µs of the millisecond clock */
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
		randombytes_buf(port_isn_key, sizeof(port_isn_key));
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
