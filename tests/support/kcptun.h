/* SPDX-License-Identifier: MIT */
/*
 * The kcptun peer harness: ferry's ARQ against an independent KCP implementation,
 * kcptun-server (Debian's kcptun, built on kcp-go and smux), over real UDP on loopback.
 * tests/test_kcp_interop.c uses it.
 *
 * Topology, private to each test (unshare(CLONE_NEWNET), lo up, kcptun forked + exec'd):
 *
 *   this process                                         kcptun-server (fork + exec)
 *   smux client --> ferry ARQ --UDP 127.0.0.1:29900--> kcp-go session --> smux server
 *   (seeded bytes)  (conv random,  (loss injected                          |  one TCP
 *        ^           stream mode)   here, both ways)                       v  per stream
 *        +------------- byte-exact check <----------- echo server on 127.0.0.1:<port>
 *                                                     (in this process, same poll loop)
 *
 * What kcptun puts around KCP segments (read in the Debian sources, not copied):
 * - kcp-go sess.go, UDPSession.output / packetInput / Listener.packetInput: with any
 *   --crypt, "none" included (crypt.go, noneBlockCrypt: Encrypt/Decrypt only copy), every
 *   datagram is nonce[16] | crc32[4] | KCP segments, where crc32 is CRC-32/IEEE
 *   (hash/crc32.ChecksumIEEE) of everything after those 20 bytes, stored little-endian. A
 *   datagram whose CRC does not match is dropped (InCsumErrors). The nonce is random and
 *   never checked. So our ARQ's MTU is kcptun's --mtu minus 20, and both MSS agree
 *   (kcp-go: mtu - 24 - 20 via KCP.ReserveBytes/SetMtu; ferry: arq mtu - 24).
 * - fec.go newFECEncoder/newFECDecoder return nil for --datashard 0 --parityshard 0: no
 *   FEC header (6 bytes + 2 size bytes, types 0xf1/0xf2 at offset 4) is added.
 * - Listener.packetInput accepts a new conversation from a new address with whatever conv
 *   its first segment carries (no SYN, no sn 0 needed); the server then sets stream mode,
 *   the fast3 knobs (1, 10, 2, 1), --mtu and --sndwnd/--rcvwnd, ack nodelay off
 *   (kcptun server/main.go). kcp-go's own KCP defaults are 32/32 segments (kcp.go), and
 *   they apply to the first segments, which arrive before kcptun accepts the session: so
 *   our first flight is 32 segments (rmt_wnd_init), or kcp-go drops the rest unacked.
 * - kcp-go's flush acknowledges only segments at or above its rcv_nxt, plus the last of
 *   each batch ("filter jitters"); una covers the others. So few ACKs are in-order ones.
 * - smux v1 (smux frame.go, session.go recvLoop): 8-byte header ver u8 | cmd u8 (SYN 0,
 *   FIN 1, PSH 2, NOP 3) | length u16 LE | stream id u32 LE, then length bytes (PSH only).
 *   A client opens odd stream ids from 1 up; a sender splits at MaxFrameSize (32768 by
 *   default); the receiver takes any u16 length. A wrong version or cmd kills the session.
 * - kcptun's handleClient copies both ways and closes both ends when either direction
 *   ends, so each stream sends its FIN only after all its echo came back.
 * - kcp-go (kcp.go Input) takes the peer's window from every segment, the last one
 *   winning, and one RTT sample per datagram, from the ts its last ACK segment echoes;
 *   its writer (sess.go WriteBuffers) blocks while the segments it holds reach that
 *   window, so a zero window stops the application behind it.
 *
 * The harness is one poll loop (ferry_kcptun_run): smux frames of seeded bytes go into
 * the ARQ until it pushes back, the ARQ runs at its next deadline, datagrams go out with
 * kcp-go's nonce and CRC and come in through the CRC check, the echo target moves bytes,
 * and the returning smux frames are checked byte by byte against each stream's seed.
 * Loss is injected at our socket, both ways, from a seeded PRNG (which also draws the
 * conv, the nonces and the PSH frame sizes). On the wire it checks as it goes: every ACK
 * either side sends must echo the ts of a transmission of the acked sn; every segment
 * kcp-go sends is decoded and counted (bad CRC, framing, conv, PUSHes, probes).
 *
 * Impairments a test may set after ferry_kcptun_start, before ferry_kcptun_run:
 * - delay_ms: two delay lines (FIFOs, so no reordering) hold each datagram that long, ours
 *   before the socket, kcp-go's between the socket and the ARQ: a path of 2 * delay_ms;
 * - echo.rate: the echo target sends back at most that many bytes per ms, a slow producer
 *   behind kcp-go, so kcp-go sends data as it comes instead of in whole windows;
 * - pause_after, pause_ms: our reader stops for pause_ms once it has read pause_after
 *   bytes (exactly: its last read before the pause is cut there);
 * - hold_wnd: with the reader stopped, our first datagram that advertises a window of
 *   1..hold_wnd segments is held back and sent right after the first that advertises 0
 *   (one reordered ACK, the case where a KCP sender overruns a receiver).
 * It also follows what kcp-go makes of us: the edge we advertise and the new segments it
 * sends past it (peer_overrun), and its RTT estimate built from our ACKs as they reach
 * it (peer_rtt; loopback, so its clock is ours minus the smallest offset its PUSHes show).
 * The delay lines are timers in this process and run late when it is descheduled, which
 * peer_rtt includes; held_rtt is the estimate over an exact path: 2 * delay_ms plus the
 * time our ARQ held each echoed transmission, which is ferry's part.
 *
 * kcptun-server is stopped by PID in the normal path (SIGTERM, bounded waitpid, SIGKILL);
 * if a test fails or times out, PR_SET_PDEATHSIG kills it with its parent. Needs root (the
 * namespace) and FERRY_KCPTUN_BIN: the caller checks first. FERRY_INTEROP_LOG=1 keeps
 * kcptun's log on stderr. Failures are Check assertions: every function here runs inside
 * a Check test. The rig is one heap object, from ferry_kcptun_start() to
 * ferry_kcptun_stop().
 */
#ifndef FERRY_TESTS_KCPTUN_H
#define FERRY_TESTS_KCPTUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "transport/arq.h"
#include "transport/pool.h"

#define FERRY_KCPTUN_BIN "/usr/bin/kcptun-server"

enum {
	FERRY_KCPTUN_MTU = 1350,       /* kcptun's default --mtu, whole UDP payload */
	FERRY_KCPTUN_CRYPT_NONCE = 16, /* kcp-go nonceSize */
	FERRY_KCPTUN_CRYPT_CRC = 4,    /* kcp-go crcSize */
	FERRY_KCPTUN_CRYPT_HDR = FERRY_KCPTUN_CRYPT_NONCE + FERRY_KCPTUN_CRYPT_CRC,
	FERRY_KCPTUN_ARQ_MTU = FERRY_KCPTUN_MTU - FERRY_KCPTUN_CRYPT_HDR,
	FERRY_KCPTUN_ARQ_WND = 256,	      /* ours, and kcptun's --sndwnd and --rcvwnd */
	FERRY_KCPTUN_KCP_GO_WND_DEFAULT = 32, /* kcp-go kcp.go IKCP_WND_RCV */
	FERRY_KCPTUN_DGRAM_MAX = 1500,	      /* kcp-go mtuLimit */

	FERRY_KCPTUN_SMUX_VER = 1,
	FERRY_KCPTUN_SMUX_SYN = 0,
	FERRY_KCPTUN_SMUX_FIN = 1,
	FERRY_KCPTUN_SMUX_PSH = 2,
	FERRY_KCPTUN_SMUX_NOP = 3,
	FERRY_KCPTUN_SMUX_HDR = 8,
	FERRY_KCPTUN_SMUX_FRAME_MAX = 32768, /* smux DefaultConfig MaxFrameSize */

	FERRY_KCPTUN_STREAMS_MAX = 4,
	FERRY_KCPTUN_TS_RING = 4096,  /* sn slots remembered for the ts echo check (> any window) */
	FERRY_KCPTUN_LINE_MAX = 2048, /* datagrams a delay line holds (> two windows) */
	FERRY_KCPTUN_ECHO_BUF = 65536,
	FERRY_KCPTUN_ARRIVALS = 4, /* arrivals remembered per sn for the held-echo estimate */
};

/* One smux stream: what we sent and what came back, both checked against a seeded stream. */
struct ferry_kcptun_stream {
	uint32_t id;
	uint64_t seed;
	size_t total;  /* bytes to send, and to get back */
	size_t sent;   /* bytes handed to the ARQ in PSH frames */
	size_t echoed; /* bytes received back, all verified */
	bool syn_sent, fin_sent, fin_recv;
};

/* The one reordered datagram of hold_wnd, from waiting for it to having sent it. */
enum ferry_kcptun_hold {
	FERRY_KCPTUN_HOLD_WAIT,	    /* none held yet */
	FERRY_KCPTUN_HOLD_HELD,	    /* held until a zero window goes out */
	FERRY_KCPTUN_HOLD_RELEASED, /* sent after that zero window */
};

/* A datagram on a delay line, and the line (a FIFO: every datagram waits as long). */
struct ferry_kcptun_delayed {
	uint64_t due;
	size_t len;
	uint8_t d[FERRY_KCPTUN_DGRAM_MAX];
};

struct ferry_kcptun_line {
	struct ferry_kcptun_delayed q[FERRY_KCPTUN_LINE_MAX];
	uint32_t head, n;
};

struct ferry_kcptun_echo_conn {
	int fd; /* -1 once closed */
	size_t head, tail;
	uint8_t buf[FERRY_KCPTUN_ECHO_BUF];
};

/* The target kcptun-server dials for every stream: sends back what it reads, at most
 * `rate` bytes per ms when rate is set (a slow producer behind kcp-go). */
struct ferry_kcptun_echo {
	int lfd;
	uint16_t port;
	int accepted, closed;
	uint32_t rate;	   /* bytes per ms, all connections together; 0: no limit */
	size_t budget;	   /* bytes that may be sent back now (rate only) */
	uint64_t refilled; /* when budget was last topped up */
	struct ferry_kcptun_echo_conn c[FERRY_KCPTUN_STREAMS_MAX];
};

/* The ts of the first and the latest transmission of one sn, to check ACK echoes; for
 * kcp-go's, also when its last few transmissions reached our ARQ (after the delay line). */
struct ferry_kcptun_ts_seen {
	uint32_t sn, first, last;
	bool used;
	struct {
		uint32_t ts;
		uint64_t at; /* our ms clock */
	} arrived[FERRY_KCPTUN_ARRIVALS];
	unsigned narrived; /* transmissions that arrived (the last ARRIVALS kept) */
};

struct ferry_kcptun_ts_ring {
	struct ferry_kcptun_ts_seen e[FERRY_KCPTUN_TS_RING];
	uint64_t checked; /* ACKs whose echo was checked */
};

/* kcp-go's RTT estimate as our ACKs feed it: one sample per datagram, now - the ts that its
 * last ACK segment echoes, whether that ACK frees anything or not (kcp-go kcp.go, Input
 * and update_ack), smoothed as RFC 6298 does. Our side of the computation: kcp-go's clock
 * is ours minus the smallest (our arrival time - ts) of its PUSHes (loopback: no delay). */
struct ferry_kcptun_rtt {
	bool seen;
	double srtt, rttvar;
	double srtt_max; /* after the first ten samples (the start is noisy) */
	uint64_t samples;
};

/* Feeds one RTT sample (ms) to a KCP-style estimator (tests/test_arq_peer.c uses it too). */
void ferry_kcptun_rtt_sample(struct ferry_kcptun_rtt *e, double r);

struct ferry_kcptun {
	pid_t kcptun;
	int udp;
	struct ferry_kcptun_echo echo;
	struct ferry_pool pool;
	struct ferry_arq *arq;
	uint32_t conv;
	uint64_t rng;	   /* xorshift64*: loss, nonces, frame sizes */
	unsigned loss_pct; /* each direction */
	uint32_t delay_ms; /* added each way by the delay lines (0: none; set before run) */
	struct ferry_kcptun_line out_line, in_line;
	uint64_t line_send_errors; /* delayed datagrams the socket refused */

	/* the wire, as this test sees it */
	uint64_t out_dgrams, out_lost, send_errors;
	uint64_t in_dgrams, in_lost, in_short, in_bad_crc, in_refused;
	uint64_t peer_push;   /* PUSH segments kcp-go transmitted (before our loss) */
	uint32_t peer_sn_end; /* highest sn seen + 1 = distinct segments */
	uint64_t peer_wrong_conv, peer_bad_seg;
	struct ferry_kcptun_ts_ring our_ts, peer_ts; /* PUSH transmissions of each side, by sn */
	uint64_t peer_wask, peer_wins;		     /* kcp-go's window probes and announcements */
	uint64_t our_zero_wnd; /* our segments that advertised a closed window */
	uint32_t our_edge;     /* the furthest una + wnd we advertised: our receive edge */
	uint64_t peer_overrun; /* new sn kcp-go sent at or beyond that edge */
	struct ferry_kcptun_rtt peer_rtt; /* kcp-go's estimate from our ACKs that arrive */
	/* the same estimate had the delay lines been exact: each sample is 2 * delay_ms plus
	 * how long our ARQ held the echoed transmission before the ACK left it (so the
	 * harness's own timer lateness, on both lines, is not in it) */
	struct ferry_kcptun_rtt held_rtt;
	uint64_t held_unknown;	 /* last ACKs whose echoed transmission's arrival was not kept */
	uint32_t peer_clock_off; /* our ms clock minus kcp-go's (valid once set) */
	bool peer_clock_set;

	/* a reader that stops: no ferry_arq_recv for pause_ms once it has read pause_after
	 * bytes of the ARQ stream (smux headers included) */
	size_t app_read; /* bytes read from the ARQ */
	size_t pause_after;
	uint64_t pause_ms, pause_until;
	uint64_t resumed_at; /* when the stopped reader read again (0: not yet) */
	uint64_t started_at; /* when ferry_kcptun_run started (the same clock) */

	/* ACK reordering at the stopped reader (hold_wnd > 0): while the reader is stopped,
	 * our first datagram that advertises a window of at most hold_wnd segments (but not
	 * 0) is held back and sent right after our first datagram that advertises 0, so the
	 * older, larger window reaches kcp-go last */
	uint16_t hold_wnd;
	enum ferry_kcptun_hold hold_state;
	size_t held_len;
	uint16_t held_wnd; /* the window the held datagram advertised */
	uint8_t held[FERRY_KCPTUN_DGRAM_MAX];

	/* smux, our side */
	struct ferry_kcptun_stream s[FERRY_KCPTUN_STREAMS_MAX];
	int n_streams;
	int next_stream; /* round robin for frames */
	size_t tx_len, tx_off;
	uint8_t tx[FERRY_KCPTUN_SMUX_HDR + FERRY_KCPTUN_SMUX_FRAME_MAX];
	uint8_t rx_hdr[FERRY_KCPTUN_SMUX_HDR];
	size_t rx_hdr_len;
	size_t rx_left; /* PSH payload bytes still to come */
	struct ferry_kcptun_stream *rx_stream;

	uint8_t out[FERRY_KCPTUN_DGRAM_MAX];
	uint8_t in[FERRY_KCPTUN_DGRAM_MAX];
	uint8_t app[65536];
	uint8_t expect[65536];
};

/* CRC-32/IEEE (reflected 0xEDB88320, init and final xor all ones) of p[0..len), as kcp-go
 * puts after the nonce. Returns the CRC. */
uint32_t ferry_kcptun_crc32(const uint8_t *p, size_t len);

/* Enters a new network namespace with lo up, starts the echo target and kcptun-server
 * (waiting until it is bound), and creates the UDP socket and ferry's ARQ (FAST3, windows
 * FERRY_KCPTUN_ARQ_WND, first flight FERRY_KCPTUN_KCP_GO_WND_DEFAULT). `streams` smux
 * streams (at most FERRY_KCPTUN_STREAMS_MAX, ids 1, 3, ...) each carry `bytes` seeded
 * bytes; loss_pct of the datagrams are dropped each way; everything random derives from
 * seed. Asserts every step; never returns NULL. */
struct ferry_kcptun *ferry_kcptun_start(uint64_t seed, unsigned loss_pct, int streams,
					size_t bytes);

/* Runs the poll loop until every stream got its whole echo and its FIN, the ARQ has
 * nothing pending and kcptun closed every target connection. Returns the transfer's
 * duration in ms; fails the test past a turn limit or a 20 s wall-clock budget. */
uint64_t ferry_kcptun_run(struct ferry_kcptun *t);

/* Prints the run's figures under `name` (ms from ferry_kcptun_run) and asserts what every
 * case must show: every stream echoed in full; no bad CRC, short datagram, undecodable or
 * foreign-conv segment from kcp-go; no ferry drop (truncated, malformed, conv, nobuf, and
 * window unless hold_wnd made kcp-go overrun); output errors only as counted sends failed;
 * ACK echoes checked both ways; the window ferry saw in 1..FERRY_KCPTUN_ARQ_WND segments. */
void ferry_kcptun_report(const struct ferry_kcptun *t, const char *name, uint64_t ms);

/* Stops kcptun-server (failing the test if it had died on its own), destroys the ARQ
 * (failing the test if a pool buffer is missing), closes every socket and frees t. */
void ferry_kcptun_stop(struct ferry_kcptun *t);

/* The kernel's count of UDP datagrams dropped for a full receive buffer in the calling
 * thread's network namespace. Fails the test if /proc/self/net/snmp lacks it. */
uint64_t ferry_kcptun_udp_rcvbuf_errors(void);

#endif
