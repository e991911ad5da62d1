// SPDX-License-Identifier: MIT
#include "tun/netlink.h"

#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/veth.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* libmnl's MNL_SOCKET_BUFFER_SIZE is computed at run time; requests and acks here are small,
 * and 8 KiB is what the kernel uses for its own dumps. */
#define NL_BUF_SIZE 8192

#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif

int ferry_nl_open(struct ferry_nl *nl)
{
	int one = 1, err;

	memset(nl, 0, sizeof(*nl));
	nl->sock = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (!nl->sock)
		return -errno;
	if (mnl_socket_bind(nl->sock, 0, MNL_SOCKET_AUTOPID) < 0) {
		err = -errno;
		goto err_close;
	}
	/* Best effort: older kernels simply give no text. */
	mnl_socket_setsockopt(nl->sock, NETLINK_EXT_ACK, &one, sizeof(one));
	nl->portid = mnl_socket_get_portid(nl->sock);
	nl->seq = (uint32_t)time(NULL);
	return 0;

err_close:
	mnl_socket_close(nl->sock);
	nl->sock = NULL;
	return err;
}

void ferry_nl_close(struct ferry_nl *nl)
{
	if (nl->sock)
		mnl_socket_close(nl->sock);
	nl->sock = NULL;
}

/* Copies the kernel's extended-ack message (NLMSGERR_ATTR_MSG), if any, into nl->error. */
static void keep_ext_ack(struct ferry_nl *nl, const struct nlmsghdr *nlh)
{
	const struct nlmsgerr *err = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *attr;
	size_t offset = sizeof(*err);

	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return;
	/* Without NLM_F_CAPPED the kernel echoes our whole request after the error. */
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		offset += err->msg.nlmsg_len - sizeof(struct nlmsghdr);
	mnl_attr_for_each(attr, nlh, offset)
	{
		if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG &&
		    mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) == 0) {
			snprintf(nl->error, sizeof(nl->error), "%s", mnl_attr_get_str(attr));
			return;
		}
	}
}

static int on_error(const struct nlmsghdr *nlh, void *data)
{
	const struct nlmsgerr *err = mnl_nlmsg_get_payload(nlh);

	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*err))) {
		errno = EBADMSG;
		return MNL_CB_ERROR;
	}
	if (err->error == 0)
		return MNL_CB_STOP;
	keep_ext_ack(data, nlh);
	errno = -err->error;
	return MNL_CB_ERROR;
}

/* Sends nlh and waits for its acknowledgement. Returns 0 or the kernel's negative errno. */
static int request(struct ferry_nl *nl, struct nlmsghdr *nlh)
{
	char buf[NL_BUF_SIZE];
	mnl_cb_t ctl[NLMSG_MIN_TYPE] = {[NLMSG_ERROR] = on_error};
	ssize_t n;
	int ret;

	nl->error[0] = '\0';
	nlh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = ++nl->seq;
	if (mnl_socket_sendto(nl->sock, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	do {
		n = mnl_socket_recvfrom(nl->sock, buf, sizeof(buf));
		if (n < 0)
			return -errno;
		ret = mnl_cb_run2(buf, (size_t)n, nlh->nlmsg_seq, nl->portid, NULL, nl, ctl,
				  NLMSG_MIN_TYPE);
	} while (ret == MNL_CB_OK);
	return ret == MNL_CB_ERROR ? -errno : 0;
}

static size_t addr_len(int family)
{
	return family == AF_INET ? 4 : family == AF_INET6 ? 16 : 0;
}

/* Starts an RTM_NEWLINK request for ifindex in buf; attributes follow. */
static struct nlmsghdr *newlink(char *buf, unsigned int ifindex, struct ifinfomsg **ifm)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);

	nlh->nlmsg_type = RTM_NEWLINK;
	*ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(**ifm));
	(*ifm)->ifi_family = AF_UNSPEC;
	(*ifm)->ifi_index = (int)ifindex;
	return nlh;
}

int ferry_nl_link_set(struct ferry_nl *nl, unsigned int ifindex, int up, uint32_t mtu)
{
	char buf[NL_BUF_SIZE];
	struct ifinfomsg *ifm;
	struct nlmsghdr *nlh = newlink(buf, ifindex, &ifm);

	ifm->ifi_change = IFF_UP;
	ifm->ifi_flags = up ? IFF_UP : 0;
	if (mtu)
		mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
	return request(nl, nlh);
}

int ferry_nl_link_set_txqlen(struct ferry_nl *nl, unsigned int ifindex, uint32_t qlen)
{
	char buf[NL_BUF_SIZE];
	struct ifinfomsg *ifm;
	struct nlmsghdr *nlh = newlink(buf, ifindex, &ifm);

	mnl_attr_put_u32(nlh, IFLA_TXQLEN, qlen);
	return request(nl, nlh);
}

int ferry_nl_veth_add(struct ferry_nl *nl, const char *name, int ns_fd, const char *peer,
		      int peer_ns_fd)
{
	char buf[NL_BUF_SIZE];
	struct ifinfomsg *ifm, *peer_ifm;
	struct nlmsghdr *nlh = newlink(buf, 0, &ifm);
	struct nlattr *info, *data, *veth;

	nlh->nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	if (ns_fd >= 0)
		mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, (uint32_t)ns_fd);
	info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "veth");
	data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
	veth = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
	/* the peer's own link message: an ifinfomsg, then its attributes */
	peer_ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*peer_ifm));
	peer_ifm->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, peer);
	if (peer_ns_fd >= 0)
		mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, (uint32_t)peer_ns_fd);
	mnl_attr_nest_end(nlh, veth);
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, info);
	return request(nl, nlh);
}

int ferry_nl_addr_add(struct ferry_nl *nl, unsigned int ifindex, int family, const void *addr,
		      uint8_t prefixlen)
{
	char buf[NL_BUF_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	size_t len = addr_len(family);
	struct ifaddrmsg *ifa;

	if (!len || prefixlen > len * 8)
		return -EINVAL;
	nlh->nlmsg_type = RTM_NEWADDR;
	nlh->nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
	ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = (uint8_t)family;
	ifa->ifa_prefixlen = prefixlen;
	ifa->ifa_index = ifindex;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	mnl_attr_put(nlh, IFA_LOCAL, len, addr);
	mnl_attr_put(nlh, IFA_ADDRESS, len, addr);
	if (family == AF_INET6)
		mnl_attr_put_u32(nlh, IFA_FLAGS, IFA_F_NODAD);
	return request(nl, nlh);
}

int ferry_nl_route_add(struct ferry_nl *nl, unsigned int ifindex, int family, const void *dst,
		       uint8_t prefixlen, uint32_t table)
{
	char buf[NL_BUF_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	size_t len = addr_len(family);
	struct rtmsg *rtm;

	if (!len || prefixlen > len * 8)
		return -EINVAL;
	nlh->nlmsg_type = RTM_NEWROUTE;
	nlh->nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
	rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = (uint8_t)family;
	rtm->rtm_dst_len = prefixlen;
	rtm->rtm_table = table && table < 256 ? (uint8_t)table : RT_TABLE_MAIN;
	rtm->rtm_protocol = RTPROT_STATIC;
	rtm->rtm_scope = RT_SCOPE_LINK;
	rtm->rtm_type = RTN_UNICAST;
	mnl_attr_put(nlh, RTA_DST, len, dst);
	mnl_attr_put_u32(nlh, RTA_OIF, ifindex);
	if (table >= 256)
		mnl_attr_put_u32(nlh, RTA_TABLE, table);
	return request(nl, nlh);
}
