/* SPDX-License-Identifier: MIT */
/*
 * The TUN device: open, read and write IP packets.
 *
 * The device is opened with IFF_TUN|IFF_NO_PI and non-blocking, so a read returns one IP
 * packet, or -EAGAIN when the queue is drained. Reads go into buffers the caller provides
 * (a pool buffer's payload area), so this layer owns no memory per packet.
 */
#ifndef FERRY_TUN_TUN_H
#define FERRY_TUN_TUN_H

#include <net/if.h>
#include <stddef.h>
#include <sys/types.h>

struct ferry_tun {
	int fd;
	char name[IFNAMSIZ];
	unsigned int ifindex;
};

/* Opens (creating if needed) the TUN device `name` ("" or NULL: the kernel picks
 * ferryN-style "tunN"). Returns 0, or a negative errno (-EPERM without CAP_NET_ADMIN,
 * -ENOENT if /dev/net/tun is missing, -EINVAL for a name longer than IFNAMSIZ-1). */
int ferry_tun_open(struct ferry_tun *tun, const char *name);

/* Closes the device; a non-persistent device disappears with it. Safe twice. */
void ferry_tun_close(struct ferry_tun *tun);

/* Reads one packet into buf (cap bytes). Returns its length, -EAGAIN when none is queued,
 * -EMSGSIZE if it did not fit (the packet is lost: cap must be >= the device MTU), or
 * another negative errno. */
ssize_t ferry_tun_read(struct ferry_tun *tun, void *buf, size_t cap);

/* Writes one IP packet. Returns 0, -EAGAIN if the device queue is full (the caller drops
 * and counts), -EINVAL for a short write, or another negative errno. */
int ferry_tun_write(struct ferry_tun *tun, const void *pkt, size_t len);

#endif
