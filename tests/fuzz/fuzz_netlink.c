// SPDX-License-Identifier: MIT
/*
 * Fuzzes the netlink reply parser (tun/netlink.c, ferry_nl_answer_parse): the kernel's
 * answers to ferry's requests -- acknowledgements, errors with their extended-ack text,
 * route and rule dumps -- with bytes no kernel would send.
 *
 * Input: a control byte, then datagrams framed as [u16 little-endian length][bytes] (a
 * short tail is one last datagram), read as one answer until the parser says it ended.
 * Control byte:
 *   bits 0-1  what the answer is read as: 0 an acknowledgement, 1 a route dump, 2 and 3 a
 *             rule dump (3: only the rules of protocol 77)
 *   bits 2-4  room for that many rules (0..7)
 *   bit 5     stamp every message header with the request's sequence number and our port
 *             id, so that mutated messages get past libmnl's header checks
 *   bit 6     count the routes of table 52820 (else of main, 254)
 * Each datagram is an exact-size copy, so a read past its end is ASan's to see.
 *
 * Checks: the parser returns 1 (more to come), 0 (the end) or a negative errno the kernel
 * could have sent (-1 .. -4095); an error text is kept only with an error, always
 * terminated; rules are written only within the room given, with a protocol that matches
 * the filter, suppress_prefixlength within -1 .. 128 and invert only with a mark; no more
 * routes or rules are counted than messages could fit.
 *
 * Deep path: a message's body was read -- the answer ended or failed with the kernel's
 * errno, or a route or rule was counted.
 *
 * Seeds: `fuzz_netlink --write-seeds tests/fuzz/corpus/netlink`.
 */
#include <errno.h>
#include <linux/fib_rules.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fuzz.h"
#include "tun/netlink.h"

#define SEQ	    0x5eed0001u
#define PORTID	    0x00c0ffeeu
#define RULES_MAX   7
#define TABLE_OTHER 52820u
#define PROTO_OURS  77
#define MSG_MIN	    16u /* a message header: the least a counted message takes */

enum {
	CTL_KIND = 0x03,
	CTL_CAP = 0x1c,
	CTL_STAMP = 0x20,
	CTL_TABLE = 0x40,
};

static const struct ferry_nl_rule sentinel = {.family = -7, .priority = 0xdeadbeef};

/* Gives every message header in buf the request's sequence number and our port id. */
static void stamp(uint8_t *buf, size_t len)
{
	size_t off = 0;

	while (len - off >= sizeof(struct nlmsghdr)) {
		struct nlmsghdr h;

		memcpy(&h, buf + off, sizeof(h));
		h.nlmsg_seq = SEQ;
		h.nlmsg_pid = PORTID;
		memcpy(buf + off, &h, sizeof(h));
		if (h.nlmsg_len < sizeof(h) || h.nlmsg_len > len - off)
			return;
		off += NLMSG_ALIGN(h.nlmsg_len);
		if (off > len)
			return;
	}
}

static void check_rules(const struct ferry_nl_answer *a, const struct ferry_nl_rule *rules)
{
	size_t i, kept = a->n < a->cap ? a->n : a->cap;

	for (i = 0; i < kept; i++) {
		const struct ferry_nl_rule *r = &rules[i];

		if (r->suppress_prefixlen < -1 || r->suppress_prefixlen > 128)
			abort();
		if (r->invert && !r->match_mark)
			abort();
		if (a->protocol && r->protocol != a->protocol)
			abort();
	}
	for (i = kept; i <= RULES_MAX; i++)
		if (rules[i].family != sentinel.family || rules[i].priority != sentinel.priority)
			abort(); /* written beyond what was found, or beyond the room */
}

static bool run(const uint8_t *data, size_t size)
{
	struct ferry_nl_rule rules[RULES_MAX + 1];
	struct ferry_nl nl = {.portid = PORTID};
	struct ferry_nl_answer a = {0};
	size_t off = 1, total = 0, i;
	bool deep = false;
	uint8_t ctl;
	int ret = 1;

	if (size < 1)
		return false;
	ctl = data[0];
	for (i = 0; i <= RULES_MAX; i++)
		rules[i] = sentinel;
	a.kind = (ctl & CTL_KIND) == 0	 ? FERRY_NL_ANSWER_ACK
		 : (ctl & CTL_KIND) == 1 ? FERRY_NL_ANSWER_ROUTES
					 : FERRY_NL_ANSWER_RULES;
	a.table = (ctl & CTL_TABLE) ? TABLE_OTHER : RT_TABLE_MAIN;
	a.protocol = (ctl & CTL_KIND) == 3 ? PROTO_OURS : 0;
	a.out = rules;
	a.cap = (ctl & CTL_CAP) >> 2;

	while (ret == 1 && off < size) {
		size_t len = size - off;
		uint8_t *dgram;

		if (len >= 2) {
			size_t want = (size_t)data[off] | (size_t)data[off + 1] << 8;

			off += 2;
			len = size - off < want ? size - off : want;
		}
		dgram = malloc(len ? len : 1);
		if (!dgram)
			abort();
		memcpy(dgram, data + off, len);
		off += len;
		total += len;
		if (ctl & CTL_STAMP)
			stamp(dgram, len);
		ret = ferry_nl_answer_parse(&nl, &a, dgram, len, SEQ);
		free(dgram);

		if (ret > 1 || ret < -4095)
			abort();
		if (!memchr(nl.error, '\0', sizeof(nl.error)) || (nl.error[0] && ret >= 0))
			abort();
		if (a.n > total / MSG_MIN)
			abort();
		if (ret == 0 || a.n ||
		    (ret < 0 && ret != -EBADMSG && ret != -ESRCH && ret != -EPROTO &&
		     ret != -EINTR))
			deep = true;
	}
	if (a.kind == FERRY_NL_ANSWER_ACK && a.n)
		abort();
	check_rules(&a, rules);
	return deep;
}

/* ---- seeds ---- */

struct seed {
	uint8_t b[1024];
	size_t len;
	size_t dgram; /* where the current datagram's length prefix is */
};

static void put(struct seed *s, const void *p, size_t n)
{
	if (s->len + n > sizeof(s->b))
		abort();
	memcpy(s->b + s->len, p, n);
	s->len += n;
}

/* Pads the current datagram to MNL_ALIGNTO, as the kernel does messages and attributes. */
static void pad(struct seed *s)
{
	while ((s->len - s->dgram - 2) % 4)
		put(s, "", 1);
}

static void put_u16(struct seed *s, uint16_t v)
{
	uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)};

	put(s, b, 2);
}

/* Starts a seed: the control byte. */
static void seed_start(struct seed *s, uint8_t ctl)
{
	s->len = 0;
	put(s, &ctl, 1);
}

/* Starts a datagram: its length is filled in by dgram_end. */
static void dgram_start(struct seed *s)
{
	s->dgram = s->len;
	put_u16(s, 0);
}

static void dgram_end(struct seed *s)
{
	size_t n = s->len - s->dgram - 2;

	s->b[s->dgram] = (uint8_t)n;
	s->b[s->dgram + 1] = (uint8_t)(n >> 8);
}

/* Appends a message header; msg_end sets its length. Returns its offset. */
static size_t msg_start(struct seed *s, uint16_t type, uint16_t flags, uint32_t seq)
{
	struct nlmsghdr h = {.nlmsg_type = type, .nlmsg_flags = flags, .nlmsg_seq = seq};
	size_t at = s->len;

	put(s, &h, sizeof(h));
	return at;
}

static void msg_end(struct seed *s, size_t at)
{
	uint32_t len = (uint32_t)(s->len - at);

	memcpy(s->b + at, &len, sizeof(len));
	pad(s);
}

static void attr(struct seed *s, uint16_t type, const void *p, uint16_t n)
{
	struct nlattr a = {.nla_len = (uint16_t)(sizeof(a) + n), .nla_type = type};

	put(s, &a, sizeof(a));
	put(s, p, n);
	pad(s);
}

static void attr_u32(struct seed *s, uint16_t type, uint32_t v)
{
	attr(s, type, &v, sizeof(v));
}

/* An NLMSG_ERROR: code, the echoed request (its header with echo_len, then echo_body
 * bytes of it), and an extended-ack text if text is not NULL. */
static void error_msg(struct seed *s, int32_t code, uint16_t flags, uint32_t echo_len,
		      size_t echo_body, const char *text)
{
	struct nlmsghdr echo = {.nlmsg_len = echo_len, .nlmsg_type = RTM_NEWLINK, .nlmsg_seq = SEQ};
	size_t at = msg_start(s, NLMSG_ERROR, flags, SEQ), i;

	put(s, &code, sizeof(code));
	put(s, &echo, sizeof(echo));
	for (i = 0; i < echo_body; i++)
		put(s, "\x01", 1);
	if (text)
		attr(s, NLMSGERR_ATTR_MSG, text, (uint16_t)(strlen(text) + 1));
	msg_end(s, at);
}

static void done_msg(struct seed *s, int32_t status)
{
	size_t at = msg_start(s, NLMSG_DONE, NLM_F_MULTI, SEQ);

	put(s, &status, sizeof(status));
	msg_end(s, at);
}

static void route_msg(struct seed *s, uint8_t table, int extra_table, uint32_t seq)
{
	struct rtmsg rtm = {.rtm_family = 2, .rtm_table = table, .rtm_type = RTN_UNICAST};
	size_t at = msg_start(s, RTM_NEWROUTE, NLM_F_MULTI, seq);
	uint8_t dst[4] = {10, 9, 0, 0};

	put(s, &rtm, sizeof(rtm));
	attr(s, RTA_DST, dst, sizeof(dst));
	attr_u32(s, RTA_OIF, 3);
	if (extra_table >= 0)
		attr_u32(s, RTA_TABLE, (uint32_t)extra_table);
	msg_end(s, at);
}

static void rule_msg(struct seed *s, uint32_t prio, uint32_t table, int mark, uint8_t flags,
		     int suppress, uint8_t proto)
{
	struct fib_rule_hdr frh = {.family = 2, .action = FR_ACT_TO_TBL, .flags = flags};
	size_t at = msg_start(s, RTM_NEWRULE, NLM_F_MULTI, SEQ);

	frh.table = table < 256 ? (uint8_t)table : 0;
	put(s, &frh, sizeof(frh));
	attr_u32(s, FRA_PRIORITY, prio);
	attr_u32(s, FRA_TABLE, table);
	if (mark >= 0) {
		attr_u32(s, FRA_FWMARK, (uint32_t)mark);
		attr_u32(s, FRA_FWMASK, UINT32_MAX);
	}
	if (suppress >= 0)
		attr_u32(s, FRA_SUPPRESS_PREFIXLEN, (uint32_t)suppress);
	if (proto)
		attr(s, FRA_PROTOCOL, &proto, 1);
	msg_end(s, at);
}

static int write_seeds(const char *dir)
{
	struct seed s;
	int err = 0; /* any write's failure, ORed */

	/* an acknowledgement: error 0, the request's header echoed */
	seed_start(&s, 0);
	dgram_start(&s);
	error_msg(&s, 0, NLM_F_CAPPED, 32, 0, NULL);
	dgram_end(&s);
	err |= fuzz_seed_write(dir, "ack", s.b, s.len);

	/* a refusal with the kernel's text, the request capped to its header */
	seed_start(&s, 0);
	dgram_start(&s);
	error_msg(&s, -22, NLM_F_CAPPED | NLM_F_ACK_TLVS, 40, 0, "Invalid MTU");
	dgram_end(&s);
	err |= fuzz_seed_write(dir, "error_text_capped", s.b, s.len);

	/* ... with the whole request echoed before the text */
	seed_start(&s, 0);
	dgram_start(&s);
	error_msg(&s, -19, NLM_F_ACK_TLVS, 40, 24, "No such device");
	dgram_end(&s);
	err |= fuzz_seed_write(dir, "error_text_echoed", s.b, s.len);

	/* regression: an echo that claims 4 GiB; the text walk started outside the message */
	seed_start(&s, 0);
	dgram_start(&s);
	error_msg(&s, -22, NLM_F_ACK_TLVS, 0xfffffff0u, 0, "Invalid MTU");
	dgram_end(&s);
	err |= fuzz_seed_write(dir, "regress_error_echo_len", s.b, s.len);

	/* an error code no kernel sends (positive): malformed, not success */
	seed_start(&s, 0);
	dgram_start(&s);
	error_msg(&s, 5, NLM_F_CAPPED, 32, 0, NULL);
	dgram_end(&s);
	err |= fuzz_seed_write(dir, "error_positive", s.b, s.len);

	/* regressions: a message length of 2 GiB and more passed libmnl's signed check; its
	 * walk then read 2 GiB past the datagram, or looped for ever once the aligned length
	 * wrapped to 0 */
	seed_start(&s, 1);
	dgram_start(&s);
	route_msg(&s, RT_TABLE_MAIN, -1, SEQ);
	memcpy(s.b + s.dgram + 2, &(uint32_t){0x80000010u}, 4);
	dgram_end(&s);
	err |= fuzz_seed_write(dir, "regress_msg_len_2g", s.b, s.len);
	seed_start(&s, 1);
	dgram_start(&s);
	route_msg(&s, RT_TABLE_MAIN, -1, SEQ);
	memcpy(s.b + s.dgram + 2, &(uint32_t){0xffffffffu}, 4);
	dgram_end(&s);
	err |= fuzz_seed_write(dir, "regress_msg_len_wraps", s.b, s.len);

	/* a route dump over two datagrams: two routes in table 52820 (one by RTA_TABLE), one
	 * in main, then the end */
	seed_start(&s, 1 | CTL_TABLE);
	dgram_start(&s);
	route_msg(&s, RT_TABLE_UNSPEC, TABLE_OTHER, SEQ);
	route_msg(&s, RT_TABLE_MAIN, -1, SEQ);
	dgram_end(&s);
	dgram_start(&s);
	route_msg(&s, RT_TABLE_UNSPEC, TABLE_OTHER, SEQ);
	done_msg(&s, 0);
	dgram_end(&s);
	err |= fuzz_seed_write(dir, "routes_two_datagrams", s.b, s.len);

	/* a dump that failed part-way: NLMSG_DONE carries the errno */
	seed_start(&s, 1);
	dgram_start(&s);
	route_msg(&s, RT_TABLE_MAIN, -1, SEQ);
	done_msg(&s, -16);
	dgram_end(&s);
	err |= fuzz_seed_write(dir, "routes_dump_failed", s.b, s.len);

	/* another request's answer (its sequence number) */
	seed_start(&s, 1);
	dgram_start(&s);
	route_msg(&s, RT_TABLE_MAIN, -1, SEQ + 1);
	dgram_end(&s);
	err |= fuzz_seed_write(dir, "routes_foreign_seq", s.b, s.len);

	/* a rule dump, only protocol 77's, room for 2 of the 3 that match */
	seed_start(&s, 3 | 2 << 2);
	dgram_start(&s);
	rule_msg(&s, 32764, 52820, 0xca6c, FIB_RULE_INVERT, -1, PROTO_OURS);
	rule_msg(&s, 32765, RT_TABLE_MAIN, -1, 0, 0, PROTO_OURS);
	rule_msg(&s, 32766, RT_TABLE_MAIN, -1, 0, -1, 0);
	rule_msg(&s, 32767, 253, 7, 0, 200, PROTO_OURS);
	done_msg(&s, 0);
	dgram_end(&s);
	err |= fuzz_seed_write(dir, "rules_filtered", s.b, s.len);

	/* every rule, headers to be stamped */
	seed_start(&s, 2 | 7 << 2 | CTL_STAMP);
	dgram_start(&s);
	rule_msg(&s, 0, 255, -1, 0, -1, 0);
	rule_msg(&s, 100, 52820, 0x1, 0, 0, 4);
	done_msg(&s, 0);
	dgram_end(&s);
	err |= fuzz_seed_write(dir, "rules_all_stamped", s.b, s.len);
	return err ? -EIO : 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const struct fuzz_spec spec = {
	    .name = "fuzz_netlink",
	    .deep = "a message body read: an end, a kernel errno, a route or rule",
	    .min_inputs = 10,
	    .floor_permille = 30,
	    .write_seeds = write_seeds,
	};

	return fuzz_init(argc, argv, &spec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_deep(run(data, size));
	return 0;
}
