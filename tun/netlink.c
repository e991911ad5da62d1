// SPDX-License-Identifier: MIT
#include "tun/netlink.h"

#include <errno.h>
#include <limits.h>
#include <libmnl/libmnl.h>
#include <linux/fib_rules.h>
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

#define NL_ERRNO_MAX 4095 /* the kernel's MAX_ERRNO: error codes are -1 .. -4095 */

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

/* Copies the kernel's extended-ack message (NLMSGERR_ATTR_MSG), if any, into nl->error.
 * on_error checked that the message holds a whole struct nlmsgerr. */
static void keep_ext_ack(struct ferry_nl *nl, const struct nlmsghdr *nlh)
{
	const struct nlmsgerr *err = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *attr;
	size_t offset = sizeof(*err);

	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return;
	/* Without NLM_F_CAPPED the kernel echoes our whole request after the error code, and
	 * the attributes follow it. The echo's length is the reply's word: it must fit in
	 * this message, or the walk would start outside it. */
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED)) {
		if (err->msg.nlmsg_len < sizeof(struct nlmsghdr) ||
		    err->msg.nlmsg_len > mnl_nlmsg_get_payload_len(nlh) - sizeof(err->error))
			return;
		offset += err->msg.nlmsg_len - sizeof(struct nlmsghdr);
	}
	mnl_attr_for_each(attr, nlh, offset)
	{
		if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG &&
		    mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) == 0) {
			snprintf(nl->error, sizeof(nl->error), "%s", mnl_attr_get_str(attr));
			return;
		}
	}
}

/* One answer's callbacks see this: the socket (for the error text) and what the answer is
 * read into. */
struct exchange {
	struct ferry_nl *nl;
	struct ferry_nl_answer *a;
};

static int on_error(const struct nlmsghdr *nlh, void *data)
{
	const struct nlmsgerr *err = mnl_nlmsg_get_payload(nlh);
	struct exchange *x = data;

	/* the kernel's codes are -1 .. -NL_ERRNO_MAX; anything else is not an errno */
	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*err)) || err->error > 0 ||
	    err->error < -NL_ERRNO_MAX) {
		errno = EBADMSG;
		return MNL_CB_ERROR;
	}
	if (err->error == 0)
		return MNL_CB_STOP;
	keep_ext_ack(x->nl, nlh);
	errno = -err->error;
	return MNL_CB_ERROR;
}

/* The end of a dump. Its payload, when there is one, is the dump's own outcome: a dump
 * that failed part-way ends with a negative errno there, not with an NLMSG_ERROR. */
static int on_done(const struct nlmsghdr *nlh, void *data)
{
	int32_t status;

	(void)data;
	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(status))
		return MNL_CB_STOP;
	memcpy(&status, mnl_nlmsg_get_payload(nlh), sizeof(status));
	if (status >= 0)
		return MNL_CB_STOP;
	errno = status >= -NL_ERRNO_MAX ? -status : EBADMSG;
	return MNL_CB_ERROR;
}

static void on_route(const struct nlmsghdr *nlh, struct ferry_nl_answer *a)
{
	const struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *attr;
	uint32_t table;

	if (nlh->nlmsg_type != RTM_NEWROUTE || nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*rtm)))
		return;
	table = rtm->rtm_table;
	mnl_attr_for_each(attr, nlh, sizeof(*rtm))
	{
		if (mnl_attr_get_type(attr) == RTA_TABLE &&
		    mnl_attr_validate(attr, MNL_TYPE_U32) == 0)
			table = mnl_attr_get_u32(attr);
	}
	if (table == a->table)
		a->n++;
}

static void on_rule(const struct nlmsghdr *nlh, struct ferry_nl_answer *a)
{
	const struct fib_rule_hdr *frh = mnl_nlmsg_get_payload(nlh);
	struct ferry_nl_rule r = {.suppress_prefixlen = -1};
	const struct nlattr *attr;

	if (nlh->nlmsg_type != RTM_NEWRULE || nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*frh)))
		return;
	r.family = frh->family;
	r.table = frh->table;
	mnl_attr_for_each(attr, nlh, sizeof(*frh))
	{
		uint16_t type = mnl_attr_get_type(attr);

		if (type == FRA_PROTOCOL && mnl_attr_validate(attr, MNL_TYPE_U8) == 0)
			r.protocol = mnl_attr_get_u8(attr);
		if (mnl_attr_validate(attr, MNL_TYPE_U32) != 0)
			continue;
		if (type == FRA_PRIORITY)
			r.priority = mnl_attr_get_u32(attr);
		else if (type == FRA_TABLE)
			r.table = mnl_attr_get_u32(attr);
		else if (type == FRA_FWMARK) {
			r.match_mark = true;
			r.mark = mnl_attr_get_u32(attr);
		} else if (type == FRA_SUPPRESS_PREFIXLEN && mnl_attr_get_u32(attr) <= 128)
			r.suppress_prefixlen = (int)mnl_attr_get_u32(attr);
	}
	r.invert = r.match_mark && (frh->flags & FIB_RULE_INVERT);
	if (a->protocol && r.protocol != a->protocol)
		return;
	if (a->n < a->cap)
		a->out[a->n] = r;
	a->n++;
}

static int on_message(const struct nlmsghdr *nlh, void *data)
{
	struct exchange *x = data;

	if (x->a->kind == FERRY_NL_ANSWER_ROUTES)
		on_route(nlh, x->a);
	else if (x->a->kind == FERRY_NL_ANSWER_RULES)
		on_rule(nlh, x->a);
	return MNL_CB_OK;
}

/* True if buf is a run of whole messages, each inside it, as the kernel sends them. This
 * must hold before libmnl walks it: mnl_nlmsg_ok() compares a message's length as a
 * signed int, so a length of 2 GiB or more passes, and the step to the next message
 * (MNL_ALIGN of that length) then jumps up to 4 GiB past the buffer or, from 0xfffffffd
 * on, wraps to 0 and the walk never ends. */
static bool whole_messages(const uint8_t *p, size_t len)
{
	while (len) {
		struct nlmsghdr h;
		size_t step;

		if (len < sizeof(h))
			return false;
		memcpy(&h, p, sizeof(h));
		if (h.nlmsg_len < sizeof(h) || h.nlmsg_len > len)
			return false;
		step = MNL_ALIGN(h.nlmsg_len); /* <= len: len is a multiple of MNL_ALIGNTO */
		p += step;
		len -= step;
	}
	return true;
}

int ferry_nl_answer_parse(struct ferry_nl *nl, struct ferry_nl_answer *a, const void *buf,
			  size_t len, uint32_t seq)
{
	/* a control type left out of the table would be skipped: the end too */
	mnl_cb_t ctl[NLMSG_MIN_TYPE] = {[NLMSG_ERROR] = on_error, [NLMSG_DONE] = on_done};
	struct exchange x = {.nl = nl, .a = a};
	int ret;

	/* The kernel pads every message to MNL_ALIGNTO, and libmnl's attribute walks run to a
	 * message's padded end: in a datagram of another length they would read past it. */
	if (len % MNL_ALIGNTO || len > INT_MAX || !whole_messages(buf, len))
		return -EBADMSG;
	errno = 0;
	ret = mnl_cb_run2(buf, len, seq, nl->portid, on_message, &x, ctl, NLMSG_MIN_TYPE);
	if (ret == MNL_CB_ERROR)
		return errno > 0 ? -errno : -EBADMSG;
	return ret == MNL_CB_STOP ? 0 : 1;
}

/* Sends nlh with `flags` (NLM_F_ACK or NLM_F_DUMP) and reads the answer into a until its
 * end (the acknowledgement, or a dump's NLMSG_DONE). Returns 0 or a negative errno (the
 * kernel's, or ferry_nl_answer_parse's). */
static int exchange(struct ferry_nl *nl, struct nlmsghdr *nlh, uint16_t flags,
		    struct ferry_nl_answer *a)
{
	char buf[NL_BUF_SIZE];
	ssize_t n;
	int ret;

	nl->error[0] = '\0';
	nlh->nlmsg_flags |= NLM_F_REQUEST | flags;
	nlh->nlmsg_seq = ++nl->seq;
	if (mnl_socket_sendto(nl->sock, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	do {
		n = mnl_socket_recvfrom(nl->sock, buf, sizeof(buf));
		if (n < 0)
			return -errno;
		ret = ferry_nl_answer_parse(nl, a, buf, (size_t)n, nlh->nlmsg_seq);
	} while (ret == 1);
	return ret;
}

/* Sends nlh and waits for its acknowledgement. Returns 0 or the kernel's negative errno. */
static int request(struct ferry_nl *nl, struct nlmsghdr *nlh)
{
	struct ferry_nl_answer a = {.kind = FERRY_NL_ANSWER_ACK};

	return exchange(nl, nlh, NLM_F_ACK, &a);
}

/* Sends the dump request nlh and reads its answer into a. */
static int dump(struct ferry_nl *nl, struct nlmsghdr *nlh, struct ferry_nl_answer *a)
{
	return exchange(nl, nlh, NLM_F_DUMP, a);
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

int ferry_nl_link_move(struct ferry_nl *nl, unsigned int ifindex, int ns_fd)
{
	char buf[NL_BUF_SIZE];
	struct ifinfomsg *ifm;
	struct nlmsghdr *nlh = newlink(buf, ifindex, &ifm);

	if (ns_fd < 0)
		return -EBADF;
	mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, (uint32_t)ns_fd);
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

/* Adds a route of type `type` (RTN_UNICAST, RTN_LOCAL) to dst/prefixlen through ifindex
 * in `table`. */
static int route_add(struct ferry_nl *nl, unsigned int ifindex, int family, const void *dst,
		     uint8_t prefixlen, uint32_t table, uint8_t type)
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
	rtm->rtm_scope = type == RTN_LOCAL ? RT_SCOPE_HOST : RT_SCOPE_LINK;
	rtm->rtm_type = type;
	mnl_attr_put(nlh, RTA_DST, len, dst);
	mnl_attr_put_u32(nlh, RTA_OIF, ifindex);
	if (table >= 256)
		mnl_attr_put_u32(nlh, RTA_TABLE, table);
	return request(nl, nlh);
}

int ferry_nl_route_add(struct ferry_nl *nl, unsigned int ifindex, int family, const void *dst,
		       uint8_t prefixlen, uint32_t table)
{
	return route_add(nl, ifindex, family, dst, prefixlen, table, RTN_UNICAST);
}

int ferry_nl_route_add_local(struct ferry_nl *nl, unsigned int ifindex, int family, uint32_t table)
{
	static const uint8_t any[16];

	return route_add(nl, ifindex, family, any, 0, table, RTN_LOCAL);
}

int ferry_nl_route_count(struct ferry_nl *nl, int family, uint32_t table, size_t *count)
{
	char buf[NL_BUF_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct ferry_nl_answer a = {.kind = FERRY_NL_ANSWER_ROUTES, .table = table};
	struct rtmsg *rtm;
	int err;

	nlh->nlmsg_type = RTM_GETROUTE;
	rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = (uint8_t)family;
	err = dump(nl, nlh, &a);
	*count = a.n;
	return err;
}

/* Builds an RTM_NEWRULE or RTM_DELRULE request for r in buf. */
static struct nlmsghdr *rule_msg(char *buf, uint16_t type, const struct ferry_nl_rule *r)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct fib_rule_hdr *frh;

	nlh->nlmsg_type = type;
	if (type == RTM_NEWRULE)
		nlh->nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
	frh = mnl_nlmsg_put_extra_header(nlh, sizeof(*frh));
	frh->family = (uint8_t)r->family;
	frh->action = FR_ACT_TO_TBL;
	frh->table = r->table < 256 ? (uint8_t)r->table : RT_TABLE_UNSPEC;
	if (r->match_mark && r->invert)
		frh->flags |= FIB_RULE_INVERT;
	mnl_attr_put_u32(nlh, FRA_PRIORITY, r->priority);
	mnl_attr_put_u32(nlh, FRA_TABLE, r->table);
	if (r->match_mark) {
		mnl_attr_put_u32(nlh, FRA_FWMARK, r->mark);
		mnl_attr_put_u32(nlh, FRA_FWMASK, UINT32_MAX);
	}
	if (r->suppress_prefixlen >= 0)
		mnl_attr_put_u32(nlh, FRA_SUPPRESS_PREFIXLEN, (uint32_t)r->suppress_prefixlen);
	if (r->protocol)
		mnl_attr_put_u8(nlh, FRA_PROTOCOL, r->protocol);
	return nlh;
}

int ferry_nl_rule_add(struct ferry_nl *nl, const struct ferry_nl_rule *r)
{
	char buf[NL_BUF_SIZE];

	if (r->family != AF_INET && r->family != AF_INET6)
		return -EINVAL;
	return request(nl, rule_msg(buf, RTM_NEWRULE, r));
}

int ferry_nl_rule_del(struct ferry_nl *nl, const struct ferry_nl_rule *r)
{
	char buf[NL_BUF_SIZE];

	if (r->family != AF_INET && r->family != AF_INET6)
		return -EINVAL;
	return request(nl, rule_msg(buf, RTM_DELRULE, r));
}

int ferry_nl_rule_list(struct ferry_nl *nl, int family, uint8_t protocol, struct ferry_nl_rule *out,
		       size_t cap, size_t *n)
{
	char buf[NL_BUF_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct ferry_nl_answer a = {
	    .kind = FERRY_NL_ANSWER_RULES, .protocol = protocol, .out = out, .cap = cap};
	struct fib_rule_hdr *frh;
	int err;

	nlh->nlmsg_type = RTM_GETRULE;
	frh = mnl_nlmsg_put_extra_header(nlh, sizeof(*frh));
	frh->family = (uint8_t)family;
	err = dump(nl, nlh, &a);
	*n = a.n;
	return err;
}
