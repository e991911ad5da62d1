/* SPDX-License-Identifier: MIT */
/*
 * Batched UDP I/O: one non-blocking socket per local address, datagrams moved in batches
 * with recvmmsg/sendmmsg (one system call for up to FERRY_UDP_BATCH datagrams; a syscall
 * costs about a microsecond on this class of machine, so per-packet calls would dominate).
 *
 * Datagrams live in pool buffers (transport/pool.h): a receive fills each buffer's
 * payload area up to its tailroom; a send takes each buffer's payload as one datagram.
 * Receiving never blocks and never allocates. A datagram larger than its buffer is
 * counted and dropped, never delivered cut short.
 */
#ifndef FERRY_TRANSPORT_UDP_H
#define FERRY_TRANSPORT_UDP_H

#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>

#include "transport/addr.h"
#include "transport/pool.h"

#define FERRY_UDP_BATCH 64

struct ferry_udp_opts {
	int rcvbuf; /* bytes; 0: the system default */
	int sndbuf; /* bytes; 0: the system default */
	int dscp;   /* 0..63, written into the TOS / traffic class byte; 0: none */
};

struct ferry_udp_stats {
	uint64_t rx_datagrams;
	uint64_t rx_bytes;
	uint64_t rx_truncated; /* larger than the buffer: dropped */
	uint64_t tx_datagrams;
	uint64_t tx_bytes;
	uint64_t tx_blocked; /* the socket buffer was full: left to the caller */
	uint64_t tx_errors;  /* refused by the kernel (unreachable, too big, ...): dropped */
};

struct ferry_udp {
	int fd;
	struct ferry_sockaddr local; /* the bound address, port filled in */
	struct ferry_udp_stats stats;
};

/* Opens a socket bound to `local` (port 0: any free port). IPv6 sockets are IPv6-only:
 * IPv4 gets a socket of its own. Buffer sizes are forced when privileged (as root) and
 * requested otherwise. Returns 0 or a negative errno (-EADDRINUSE, -EAFNOSUPPORT, ...). */
int ferry_udp_open(struct ferry_udp *udp, const struct ferry_sockaddr *local,
		   const struct ferry_udp_opts *opts);

/* Closes the socket; safe twice. */
void ferry_udp_close(struct ferry_udp *udp);

/* Receives up to n (<= FERRY_UDP_BATCH) datagrams into bufs[i] (each reset to its full
 * tailroom) and their senders into from[i]. Returns how many were filled, 0 when none is
 * queued, or a negative errno. Truncated datagrams are dropped and counted, so the
 * filled buffers are bufs[0 .. return-1] in order. */
int ferry_udp_recv_batch(struct ferry_udp *udp, struct ferry_buf *const *bufs,
			 struct ferry_sockaddr *from, unsigned int n);

/* Sends bufs[i] to to[i] for i < n (<= FERRY_UDP_BATCH). Returns how many the kernel
 * took or dropped for good (the caller frees those); the rest, from the return value on,
 * met a full socket buffer and may be retried when the socket is writable. Never
 * negative except for a bad argument (-EINVAL). */
int ferry_udp_send_batch(struct ferry_udp *udp, struct ferry_buf *const *bufs,
			 const struct ferry_sockaddr *to, unsigned int n);

#endif
