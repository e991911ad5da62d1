/* SPDX-License-Identifier: MIT */
/*
 * ferry demo: the tunnel against plain TCP on a bad path, on one machine, with nothing
 * configured.
 *
 * Theory of operation. The demo builds a world of three network namespaces that belong to
 * it alone (tun/netns.h: held by descriptors, never named, so they vanish with the demo
 * even if it is killed):
 *
 *   client 198.51.100.1 ── veth ── wan: ferry-wanem ── veth ── server 198.51.100.2
 *   ferry0 10.99.0.2                 (rate, delay, loss)        ferry0 10.99.0.1
 *
 * (world.c). The emulator (netns-tests/wanem/) bridges the wan namespace's two veth ends
 * and gives the path its rate, delay and loss; a `ferry up` runs in the client and in the
 * server with configurations and keys the demo writes to a private directory (the keys
 * are deleted once both ferries have read them). Then, in processes forked into the
 * namespaces (traffic.c), the same measurements run on each path: plain kernel TCP to the
 * server's address across the emulated path, with cubic (Linux's default) and with bbr,
 * and through ferry to the server's tunnel address. Each path gets a bulk transfer for a
 * fixed time, its goodput counted by the receiver and shown live, then sequential 64-byte
 * requests/responses, their p50 and p99. demo.c prints the paths side by side, with what
 * ferry counted (its status), and takes the world down -- also on Ctrl-C, and by the
 * kernel if the demo is killed: every child dies with it (PR_SET_PDEATHSIG) and the
 * namespaces with them; only the private directory in /tmp (logs, no keys) is left then.
 */
#ifndef FERRY_CLI_DEMO_DEMO_H
#define FERRY_CLI_DEMO_DEMO_H

#include <stdbool.h>

struct ferry_demo_options {
	unsigned rate_mbit; /* the path's rate each way, Mbit/s (0: unlimited) */
	unsigned rtt_ms;    /* its round trip: half of it each way */
	double loss_pct;    /* random loss each way, percent */
	unsigned seconds;   /* length of each bulk transfer */
	unsigned requests;  /* request/response samples per path */
	const char *cc;	    /* the plain TCP's congestion control; NULL: the kernel's */
	const char *wanem;  /* the emulator's path; NULL: found beside ferry */
	bool progress;	    /* a live progress line (stdout is a terminal) */
};

/* Runs the demo. Returns a process exit status. */
int ferry_demo_run(const struct ferry_demo_options *opts);

#endif
