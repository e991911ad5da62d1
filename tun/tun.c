// SPDX-License-Identifier: MIT
#include "tun/tun.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

int ferry_tun_open(struct ferry_tun *tun, const char *name)
{
	struct ifreq ifr;
	int fd, err;

	memset(tun, 0, sizeof(*tun));
	tun->fd = -1;
	if (name && strlen(name) >= IFNAMSIZ)
		return -EINVAL;

	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;

	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	if (name)
		memcpy(ifr.ifr_name, name, strlen(name));
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		err = -errno;
		goto err_close;
	}

	memcpy(tun->name, ifr.ifr_name, IFNAMSIZ);
	tun->name[IFNAMSIZ - 1] = '\0';
	tun->ifindex = if_nametoindex(tun->name);
	if (tun->ifindex == 0) {
		err = -errno;
		goto err_close;
	}
	tun->fd = fd;
	return 0;

err_close:
	close(fd);
	return err;
}

void ferry_tun_close(struct ferry_tun *tun)
{
	if (tun->fd >= 0)
		close(tun->fd);
	tun->fd = -1;
}

ssize_t ferry_tun_read(struct ferry_tun *tun, void *buf, size_t cap)
{
	ssize_t n;

	/* A TUN read truncates silently; one spare byte tells a full fit from a cut. */
	n = read(tun->fd, buf, cap);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	if ((size_t)n == cap && cap > 0) {
		/* The kernel gives min(packet, cap); a packet of exactly cap bytes is fine,
		 * but we cannot tell it from a longer one without the vnet header's length.
		 * Callers size buffers at MTU + 1 so that n == cap means truncation. */
		return -EMSGSIZE;
	}
	return n;
}

int ferry_tun_write(struct ferry_tun *tun, const void *pkt, size_t len)
{
	ssize_t n = write(tun->fd, pkt, len);

	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return (size_t)n == len ? 0 : -EINVAL;
}
