// SPDX-License-Identifier: MIT
#include "tun/netns.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/if_link.h>
#include <linux/sockios.h>
#include <linux/veth.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tun/netlink.h"

static int open_own(void)
{
	int fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

int ferry_netns_enter(int fd, int *saved)
{
	int own = open_own();

	if (own < 0)
		return own;
	if (setns(fd, CLONE_NEWNET) < 0) {
		int err = -errno;

		close(own);
		return err;
	}
	*saved = own;
	return 0;
}

int ferry_netns_leave(int saved)
{
	int err = setns(saved, CLONE_NEWNET) < 0 ? -errno : 0;

	close(saved);
	return err;
}

int ferry_netns_new(void)
{
	struct ferry_nl nl;
	int own = open_own(), fd, err;

	if (own < 0)
		return own;
	if (unshare(CLONE_NEWNET) < 0) {
		err = -errno;
		close(own);
		return err;
	}
	fd = open_own();
	err = ferry_nl_open(&nl);
	if (!err) {
		err = ferry_nl_link_set(&nl, if_nametoindex("lo"), 1, 0);
		ferry_nl_close(&nl);
	}
	if (setns(own, CLONE_NEWNET) < 0 && !err)
		err = -errno;
	close(own);
	if (fd >= 0 && err) {
		close(fd);
		return err;
	}
	return fd;
}

int ferry_netns_veth(const char *name, int ns_fd, const char *peer, int peer_ns_fd)
{
	struct ferry_nl nl;
	int err = ferry_nl_open(&nl);

	if (err)
		return err;
	err = ferry_nl_veth_add(&nl, name, ns_fd, peer, peer_ns_fd);
	ferry_nl_close(&nl);
	return err;
}

int ferry_netns_offloads_off(const char *ifname)
{
	static const unsigned int cmds[] = {ETHTOOL_STSO, ETHTOOL_SGSO, ETHTOOL_SGRO};
	struct ifreq ifr = {0};
	unsigned int i;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), err = 0;

	if (s < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]) && !err; i++) {
		struct ethtool_value v = {.cmd = cmds[i], .data = 0};

		ifr.ifr_data = (char *)&v;
		if (ioctl(s, SIOCETHTOOL, &ifr) < 0)
			err = -errno;
	}
	close(s);
	return err;
}
