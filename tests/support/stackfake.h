/* SPDX-License-Identifier: MIT */
/*
 * A fake transport for driving ferry's lwIP stack in process, shared by the
 * tests/test_stack_*.c suites.
 *
 * struct ferry_stackfake owns one stack (stack/stack.h allows one per process) and plays
 * its caller through ferry_stackfake_ops: every packet the stack writes to the "TUN" is
 * copied and queued for ferry_stackfake_next_out, which parses it with tests/support/pkt.h
 * (never with the stack's own code) and fails the test on a bad checksum; every callback
 * is recorded in the fields below, and a few fields steer the callbacks (take_limit,
 * open_ret, echo, reset_in_data, ...). A test sets those fields directly.
 *
 * struct ferry_stackfake_app is the application's side of one TCP connection: it tracks
 * the sequence numbers, so a test can send segments into the stack by hand.
 *
 * Time is virtual: `now` starts at 1000 ms and moves only through ferry_stackfake_advance.
 * All state lives in the struct; nothing here is global.
 */
#ifndef FERRY_TESTS_STACKFAKE_H
#define FERRY_TESTS_STACKFAKE_H

#include <stddef.h>
#include <stdint.h>

#include "stack/stack.h"
#include "tests/support/pkt.h"

/* The application's addresses and the destinations it talks to. */
#define FERRY_STACKFAKE_APP4 "10.7.0.2"
#define FERRY_STACKFAKE_DST4 "203.0.113.9"
#define FERRY_STACKFAKE_APP6 "fd07::2"
#define FERRY_STACKFAKE_DST6 "2001:db8::9"

enum {
	FERRY_STACKFAKE_MAX_OUT = 512,	/* packets written to the TUN and not yet recycled */
	FERRY_STACKFAKE_MAX_FLOWS = 64, /* TCP flows remembered in opened[] */
};

/* One fake: the stack, its virtual clock, and what its callbacks reported. */
struct ferry_stackfake {
	struct ferry_stack *stack;
	struct ferry_stack_config cfg;
	uint64_t now;
	/* packets written to the TUN */
	uint8_t *out[FERRY_STACKFAKE_MAX_OUT];
	size_t out_len[FERRY_STACKFAKE_MAX_OUT];
	unsigned nout, seen;
	/* TCP */
	struct ferry_flow *opened[FERRY_STACKFAKE_MAX_FLOWS];
	unsigned nopened;
	struct ferry_endpoint open_src, open_dst;
	int open_ret;
	int connect_in_open;
	size_t take_limit; /* tcp_data takes at most this many more bytes */
	uint8_t *rx;	   /* what tcp_data took, 1 MiB */
	size_t nrx;
	int eofs;
	int closed, closed_reason;
	struct ferry_flow *closed_flow;
	int sendables;
	size_t sendable_space;
	int reset_in_data;
	int echo;			    /* loopback: tcp_data sends the bytes straight back */
	struct ferry_flow *connect_in_data; /* tcp_data completes this flow's connect */
	int nested_input_ret;
	/* Re-entrancy probes: the callback feeds the stack a packet (and records what
	 * ferry_stack_input returned in nested_input_ret, ferry_stack_input_batch's count in
	 * nested_batch_ret) from tcp_open, udp_datagram or tcp_data. */
	int input_in_open, input_in_udp, input_in_data;
	unsigned nested_batch_ret;
	int tun_full; /* tun_write refuses every packet with -EAGAIN */
	/* UDP */
	int udp_opens, udp_datagrams, udp_closes;
	struct ferry_flow *udp_flow;
	uint8_t udp_data[2048];
	size_t udp_len;
	/* ICMP */
	int echoes;
	struct ferry_endpoint echo_src, echo_dst;
	uint16_t echo_seq;
	uint8_t echo_data[256];
	size_t echo_len;
	int echo_ret; /* what icmp_echo returns */
};

/* The application's side of one connection. */
struct ferry_stackfake_app {
	const char *src, *dst;
	uint16_t sport, dport;
	uint32_t seq; /* next sequence number the app sends */
	uint32_t ack; /* next sequence number the app expects */
	struct ferry_flow *flow;
};

/* The callbacks that record into (and are steered by) the struct ferry_stackfake passed
 * as their context. */
extern const struct ferry_stack_ops ferry_stackfake_ops;

/* A fake with a stack created from cfg at now = 1000; fails the test on any error.
 * Returns it (never NULL); free with ferry_stackfake_free. */
struct ferry_stackfake *ferry_stackfake_new_cfg(const struct ferry_stack_config *cfg);

/* As ferry_stackfake_new_cfg with the default configuration and the given MTU. */
struct ferry_stackfake *ferry_stackfake_new(uint32_t mtu);

/* Destroys the stack (if f->stack is not NULL) and frees f with every packet it kept. */
void ferry_stackfake_free(struct ferry_stackfake *f);

/* Builds t and feeds it to ferry_stack_input. Returns what that returned. */
int ferry_stackfake_inject(struct ferry_stackfake *f, const struct ferry_tpkt *t);

/* Moves the virtual clock by ms and polls the stack's timers. */
void ferry_stackfake_advance(struct ferry_stackfake *f, uint64_t ms);

/* Returns the number of packets the stack wrote that the test has not read yet. */
unsigned ferry_stackfake_pending_out(const struct ferry_stackfake *f);

/* Parses the next packet the stack wrote into t; fails the test if there is none or it is
 * corrupt. */
void ferry_stackfake_next_out(struct ferry_stackfake *f, struct ferry_tpkt *t);

/* The app sends one segment (ACK always set, plus flags) carrying len bytes of data and
 * advances a->seq; fails the test unless the stack took it. */
void ferry_stackfake_app_send(struct ferry_stackfake *f, struct ferry_stackfake_app *a,
			      uint8_t flags, const void *data, size_t len);

/* The app sends its SYN (MSS 1460, window scale 7); fails the test unless
 * ferry_stack_input returned expect. */
void ferry_stackfake_app_syn(struct ferry_stackfake *f, struct ferry_stackfake_app *a, int expect);

/* SYN, connected, SYN-ACK, ACK: returns with the flow OPEN in a->flow and no packet
 * unread; fails the test otherwise. */
void ferry_stackfake_establish(struct ferry_stackfake *f, struct ferry_stackfake_app *a);

/* Returns an IPv4 app from FERRY_STACKFAKE_APP4:sport to FERRY_STACKFAKE_DST4:443, first
 * sequence number 1001. */
struct ferry_stackfake_app ferry_stackfake_app4(uint16_t sport);

#endif
