/* SPDX-License-Identifier: MIT */
/*
 * rtnetlink through libmnl: links, addresses, routes and policy routing rules.
 *
 * Every request asks for an acknowledgement (NLM_F_ACK) with a fresh sequence number and
 * waits for it, so a failure is never lost; with NETLINK_EXT_ACK the kernel's own text for
 * the failure is kept in nl->error and can be shown to the user next to the errno.
 */
#ifndef FERRY_TUN_NETLINK_H
#define FERRY_TUN_NETLINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct mnl_socket;

#define FERRY_NL_ERROR_MAX 128

struct ferry_nl {
	struct mnl_socket *sock;
	uint32_t portid;
	uint32_t seq;
	char error[FERRY_NL_ERROR_MAX]; /* kernel's extended ack text of the last failure */
};

/* Opens a NETLINK_ROUTE socket in the caller's network namespace. 0 or negative errno. */
int ferry_nl_open(struct ferry_nl *nl);

/* Closes it; safe twice. */
void ferry_nl_close(struct ferry_nl *nl);

/* Sets a link up or down and, if mtu is non-zero, its MTU. 0 or negative errno. */
int ferry_nl_link_set(struct ferry_nl *nl, unsigned int ifindex, int up, uint32_t mtu);

/* Moves a link into the network namespace ns_fd (a TUN's descriptor keeps working: the
 * device moves, the file does not). Its index there may differ: look it up by name.
 * Returns 0 or a negative errno. */
int ferry_nl_link_move(struct ferry_nl *nl, unsigned int ifindex, int ns_fd);

/* Sets a link's transmit queue length (packets). 0 or negative errno. */
int ferry_nl_link_set_txqlen(struct ferry_nl *nl, unsigned int ifindex, uint32_t qlen);

/* Creates a veth pair: name in the namespace ns_fd, peer in peer_ns_fd (-1: the socket's
 * own namespace). Returns 0, -EEXIST if a link of either name exists, or a negative errno. */
int ferry_nl_veth_add(struct ferry_nl *nl, const char *name, int ns_fd, const char *peer,
		      int peer_ns_fd);

/* Adds an address (addr: 4 or 16 bytes by family AF_INET/AF_INET6) with its prefix
 * length. IPv6 addresses skip duplicate address detection (IFA_F_NODAD): a TUN has no
 * neighbours. Returns 0, -EEXIST if present, or another negative errno. */
int ferry_nl_addr_add(struct ferry_nl *nl, unsigned int ifindex, int family, const void *addr,
		      uint8_t prefixlen);

/* Adds a route to dst/prefixlen through the link ifindex in routing table `table`
 * (0: main). Returns 0, -EEXIST if present, or another negative errno. */
int ferry_nl_route_add(struct ferry_nl *nl, unsigned int ifindex, int family, const void *dst,
		       uint8_t prefixlen, uint32_t table);

/* Adds `local default dev IFINDEX table TABLE`: everything that reaches the table is
 * delivered on this host (as TPROXY setups do), for as long as the link exists.
 * Returns 0, -EEXIST if present, or another negative errno. */
int ferry_nl_route_add_local(struct ferry_nl *nl, unsigned int ifindex, int family, uint32_t table);

/* Counts the routes of family in routing table `table` (main: 254). 0 or negative errno. */
int ferry_nl_route_count(struct ferry_nl *nl, int family, uint32_t table, size_t *count);

/* A policy routing rule that sends what it matches to a table: `ip rule` with
 * [not] fwmark, suppress_prefixlength and the protocol of whoever made it. */
struct ferry_nl_rule {
	int family; /* AF_INET or AF_INET6 */
	uint32_t priority;
	uint32_t table;
	bool match_mark; /* fwmark `mark` (all 32 bits) ... */
	bool invert;	 /* ... or, with invert, not fwmark `mark` */
	uint32_t mark;
	int suppress_prefixlen; /* -1: none */
	uint8_t protocol;	/* FRA_PROTOCOL: who made the rule (0: unspecified) */
};

/* Adds rule r. Returns 0 or a negative errno. */
int ferry_nl_rule_add(struct ferry_nl *nl, const struct ferry_nl_rule *r);

/* Deletes the first rule that matches r in every field. 0, -ENOENT or a negative errno. */
int ferry_nl_rule_del(struct ferry_nl *nl, const struct ferry_nl_rule *r);

/* Lists the rules of family made by protocol (0: all) into out (up to cap; *n gets the
 * number found, which may exceed cap). Returns 0 or a negative errno. */
int ferry_nl_rule_list(struct ferry_nl *nl, int family, uint8_t protocol, struct ferry_nl_rule *out,
		       size_t cap, size_t *n);

/*
 * The reply parser. A request's answer is read datagram by datagram, each handed to
 * ferry_nl_answer_parse. It is declared here for the fuzzer (tests/fuzz/fuzz_netlink.c),
 * which feeds it what no kernel would send; nothing else outside netlink.c needs it.
 */
enum ferry_nl_answer_kind {
	FERRY_NL_ANSWER_ACK,	/* a request's acknowledgement */
	FERRY_NL_ANSWER_ROUTES, /* a route dump: counts the routes of one table */
	FERRY_NL_ANSWER_RULES,	/* a rule dump: collects the rules of one protocol */
};

/* What an answer is read into. */
struct ferry_nl_answer {
	enum ferry_nl_answer_kind kind;
	uint32_t table;		   /* ROUTES: the table whose routes count */
	uint8_t protocol;	   /* RULES: only rules made by it (0: all) */
	struct ferry_nl_rule *out; /* RULES: room for cap rules */
	size_t cap;
	size_t n; /* ROUTES: routes counted; RULES: rules found (may exceed cap) */
};

/* Parses one datagram (len bytes at buf) of the answer to request number seq into a; the
 * kernel's text for a failure goes to nl->error. Returns 1 when the answer goes on in
 * another datagram, 0 when it ended (the acknowledgement, or a dump's NLMSG_DONE), the
 * kernel's negative errno for a refused request or a dump that failed, -EBADMSG for a
 * malformed reply (a length that is not the kernel's padding, a message that does not
 * fit, an error code that is not one), or libmnl's verdicts on the headers: -ESRCH (another
 * sender), -EPROTO (another request's answer), -EINTR (a dump interrupted by a change). */
int ferry_nl_answer_parse(struct ferry_nl *nl, struct ferry_nl_answer *a, const void *buf,
			  size_t len, uint32_t seq);

#endif
