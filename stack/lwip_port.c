// SPDX-License-Identifier: MIT
/*
 * lwIP's process-wide state, kept in one place.
 *
 * lwIP with NO_SYS=1 is a set of globals: its pools, its pcb lists, its timer list, and
 * the clock it reads through sys_now(). ferry therefore allows one stack per process
 * (ferry_stack_lwip_acquire fails with -EBUSY while another holds lwIP) and keeps
 * everything else of its own in struct ferry_stack. These variables are the only
 * mutable globals of the stack, and they mirror lwIP's own:
 *   - port_now: the millisecond clock the event loop last handed in (ferry_stack_timer);
 *     lwIP reads it through sys_now() and never sees a clock of its own;
 *   - port_owner: the stack that holds lwIP now;
 *   - port_ready/port_ext_id: lwip_init() runs once per process -- running it again would
 *     re-arm lwIP's cyclic timers a second time -- and so does tcp_ext_arg_alloc_id();
 *   - port_heap_used: the bytes lwIP's heap holds (see lwipopts.h: its blocks come from
 *     the C library, within MEM_SIZE);
 *   - port_isn_key: the secret of the initial sequence numbers, drawn with lwip_init.
 *
 * Initial sequence numbers follow RFC 6528: a 4 µs clock plus a keyed hash (SipHash) of
 * the connection's addresses and ports. lwIP's own would be a global counter advanced by
 * its timer ticks, which lets anyone who sees one connection guess the next one's.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

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
static size_t port_heap_used; /* bytes of lwIP's heap blocks held, headers included */
static unsigned char port_isn_key[crypto_shorthash_KEYBYTES];

/* lwIP's heap (lwipopts.h): the C library's blocks, each with its size in front, within
 * MEM_SIZE bytes in all. */
#define BLOCK_HDR sizeof(max_align_t)

void *ferry_stack_lwip_malloc(size_t size)
{
	unsigned char *p;

	if (size > (size_t)FERRY_LWIP_MEM_SIZE - BLOCK_HDR ||
	    size + BLOCK_HDR > (size_t)FERRY_LWIP_MEM_SIZE - port_heap_used)
		return NULL;
	p = malloc(size + BLOCK_HDR);
	if (!p)
		return NULL;
	memcpy(p, &size, sizeof(size));
	port_heap_used += size + BLOCK_HDR;
	return p + BLOCK_HDR;
}

void *ferry_stack_lwip_calloc(size_t count, size_t size)
{
	void *p;

	if (size && count > (size_t)FERRY_LWIP_MEM_SIZE / size)
		return NULL;
	p = ferry_stack_lwip_malloc(count * size);
	if (p)
		memset(p, 0, count * size);
	return p;
}

void ferry_stack_lwip_free(void *mem)
{
	unsigned char *p = (unsigned char *)mem - BLOCK_HDR;
	size_t size;

	memcpy(&size, p, sizeof(size));
	port_heap_used -= size + BLOCK_HDR;
	free(p);
}

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
