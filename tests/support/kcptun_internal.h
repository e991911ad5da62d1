/* SPDX-License-Identifier: MIT */
/*
 * The kcptun harness's own header, shared by its two halves and by nothing else (suites
 * include tests/support/kcptun.h): kcptun.c starts kcptun-server and the echo target,
 * speaks smux and runs the poll loop; kcptun_wire.c is the wire between our ARQ and
 * kcp-go -- its framing, the loss, the delay lines, the held window -- with the checks on
 * every segment that crosses it. Both work on the one struct ferry_kcptun of kcptun.h.
 */
#ifndef FERRY_TESTS_KCPTUN_INTERNAL_H
#define FERRY_TESTS_KCPTUN_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "tests/support/kcptun.h"

enum {
	CRYPT_NONCE = FERRY_KCPTUN_CRYPT_NONCE,
	CRYPT_HDR = FERRY_KCPTUN_CRYPT_HDR,
	ARQ_MTU = FERRY_KCPTUN_ARQ_MTU,
	ARQ_WND = FERRY_KCPTUN_ARQ_WND,
	SMUX_VER = FERRY_KCPTUN_SMUX_VER,
	SMUX_SYN = FERRY_KCPTUN_SMUX_SYN,
	SMUX_FIN = FERRY_KCPTUN_SMUX_FIN,
	SMUX_PSH = FERRY_KCPTUN_SMUX_PSH,
	SMUX_NOP = FERRY_KCPTUN_SMUX_NOP,
	SMUX_HDR = FERRY_KCPTUN_SMUX_HDR,
	SMUX_FRAME_MAX = FERRY_KCPTUN_SMUX_FRAME_MAX,
	STREAMS_MAX = FERRY_KCPTUN_STREAMS_MAX,
	TS_RING = FERRY_KCPTUN_TS_RING,
	ECHO_BUF = FERRY_KCPTUN_ECHO_BUF,

	RECV_BATCH = 64,	/* datagrams read per poll turn */
	POLL_MAX_MS = 50,	/* longest sleep, so the wall budget is checked */
	WALL_BUDGET_MS = 20000, /* per transfer; a healthy run takes well under 2 s */
	TURNS_MAX = 2000000,
	READY_WAIT_MS = 5000, /* kcptun-server bound to its port */
	STOP_WAIT_MS = 2000,  /* after SIGTERM, before SIGKILL */
	SOCKBUF = 4 << 20,    /* our UDP socket's buffers, as kcptun's --sockbuf */
	ECHO_BURST_MS = 2,    /* a rate-limited echo sends at most this many ms of rate at once */
};

static inline uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static inline uint64_t rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dULL;
}

/* The ARQ's output: frames a datagram as kcp-go does, loses, delays or holds it. */
int ferry_kcptun_wire_output(void *ctx, const uint8_t *dgram, size_t len);

/* Reads up to RECV_BATCH datagrams from kcp-go, checks them and feeds (or delays) them. */
void ferry_kcptun_wire_input(struct ferry_kcptun *t, uint64_t now);

/* Moves what is due on both delay lines: ours to the socket, kcp-go's into the ARQ. */
void ferry_kcptun_lines_run(struct ferry_kcptun *t, uint64_t now);

/* The earliest time a delayed datagram is due (UINT64_MAX: none). */
uint64_t ferry_kcptun_lines_next(const struct ferry_kcptun *t);

#endif
