/* SPDX-License-Identifier: MIT */
/*
 * The applications at both ends of the relay harness (tests/support/relay.h), shared by
 * the tests/test_relay_*.c suites: TCP clients in namespace A and their servers in B, a
 * UDP client and two UDP servers, a ping socket. struct ferry_relay_apps owns them and the
 * relay, and is the relay's caller (its ops: conn_of, turn, io, describe).
 *
 * TCP: each client sends an 8-byte header naming its connection (its index), then a
 * seeded stream of up_len bytes; its server reads the header, checks every byte after it
 * and answers with another seeded stream of the client's down_len bytes, which the client
 * checks. Streams are regenerated at any offset, so nothing is stored. By default a
 * client sends its FIN once its bytes are out and a server once it read the client's FIN
 * and sent its bytes; fin_after_eof (the client waits for the server's FIN first),
 * early_fin and hold_server_writes change that order.
 *
 * Held reads: the servers of connections 0..FERRY_RELAY_APPS_HELD_UP-1 do not read, and
 * a client with hold_reads does not read, until backpressure has crossed the whole path
 * (the relay saw both of its sides refuse at once, and the sender's socket is full); then
 * the reader starts and the sender is marked blocked_under_pressure. A bridged relay
 * (relay.h) has no such view of pressure: there servers never hold.
 *
 * UDP: datagram seq (ferry_relay_apps_udp_fill) goes from uclient to userver[0], which
 * checks it and answers with each byte inverted; for seq 0 userver[1] also sends "from
 * elsewhere" (full cone). ICMP: echo requests (ferry_relay_apps_ping_fill) go to udst[0]
 * and their replies are checked. A test watches these fds itself, with the kinds below.
 *
 * Every mismatch fails the test at once, naming the connection and the byte offset.
 * Everything lives in the heap object from ferry_relay_apps_new to ferry_relay_apps_free.
 */
#ifndef FERRY_TESTS_RELAY_APPS_H
#define FERRY_TESTS_RELAY_APPS_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stack/stack.h"
#include "tests/support/relay.h"

#define FERRY_RELAY_APPS_IO_CHUNK ((size_t)64 << 10) /* bytes per send or recv */
#define FERRY_RELAY_APPS_HDR_LEN  8		     /* the header that names a connection */

enum {
	FERRY_RELAY_APPS_DESTS = 4,	 /* listeners: 2 addresses x 2 ports */
	FERRY_RELAY_APPS_HELD_UP = 2,	 /* connections 0, 1: the server holds its reads */
	FERRY_RELAY_APPS_UDP_COUNT = 12, /* datagrams the UDP client may send: seq 0..11 */
	FERRY_RELAY_APPS_PINGS = 3,	 /* echo requests: seq 1..3 */
	FERRY_RELAY_APPS_PING_LEN = 56,	 /* echo payload bytes */
};

/* What a watched fd is, for the apps' ops->io (the index is the client's or server's). */
enum ferry_relay_apps_kind {
	FERRY_RELAY_APPS_K_CLIENT,
	FERRY_RELAY_APPS_K_LISTEN,
	FERRY_RELAY_APPS_K_SERVER,
	FERRY_RELAY_APPS_K_UCLIENT,
	FERRY_RELAY_APPS_K_USERVER,
	FERRY_RELAY_APPS_K_PING
};

struct ferry_relay_apps_client {
	int fd;
	uint16_t port;
	size_t up_len, down_len, sent, rcvd;
	bool connected, wr_done, eof, done;
	bool hold_reads, blocked_under_pressure;
	bool fin_after_eof; /* its server FINs first; it sends its own FIN after reading EOF */
	int err;	    /* of its connect */
};

struct ferry_relay_apps_server {
	int fd;
	int conn; /* -1 until the header came */
	uint8_t hdr[FERRY_RELAY_APPS_HDR_LEN];
	size_t sent, rcvd;
	bool eof, wr_done, done, hold_reads, blocked_under_pressure;
};

/* The applications at both ends, and what they saw. */
struct ferry_relay_apps {
	struct ferry_relay *relay;

	int nclients, nservers, listeners[FERRY_RELAY_APPS_DESTS], nlisteners;
	struct ferry_relay_apps_client clients[FERRY_RELAY_CONNS_MAX];
	struct ferry_relay_apps_server servers[FERRY_RELAY_CONNS_MAX];
	struct ferry_endpoint dests[FERRY_RELAY_APPS_DESTS]; /* the listeners', in order */

	/* UDP case (udst[0] is also the ICMP case's destination) */
	int uclient, userver[2];
	struct ferry_endpoint udst[2];
	unsigned udp_replies, udp_elsewhere, udp_server_got;

	/* ICMP case */
	int ping;
	unsigned ping_replies;

	bool early_fin;		 /* servers FIN once their bytes are out, before the client's FIN */
	bool hold_server_writes; /* servers neither write nor FIN */
	unsigned clients_done, servers_done;
	uint8_t scratch[FERRY_RELAY_APPS_IO_CHUNK], expect[FERRY_RELAY_APPS_IO_CHUNK];
};

/* New apps with their relay (ferry_relay_new) and no sockets; fails the test if not. */
struct ferry_relay_apps *ferry_relay_apps_new(void);

/* Closes what the applications still hold, then frees the relay and t. */
void ferry_relay_apps_free(struct ferry_relay_apps *t);

/* Sets e to the IPv4 endpoint addr:port; fails the test if addr is not one. */
void ferry_relay_apps_ep4(struct ferry_endpoint *e, const char *addr, uint16_t port);

/* The sockaddr of IPv4 endpoint e. */
struct sockaddr_in ferry_relay_apps_sin_of(const struct ferry_endpoint *e);

/* The local port of socket fd. */
uint16_t ferry_relay_apps_local_port(int fd);

/* A nonblocking socket of type bound to addr:0 (the kernel picks the port). */
int ferry_relay_apps_bound_socket(int type, const char *addr);

/* A 64-bit mixing function: the seeds of every stream, size and payload. */
uint64_t ferry_relay_apps_mix64(uint64_t x);

/* Adds a client (the next index) with a nonblocking socket in the current namespace (A),
 * bound to the TUN's address, that will send up_len bytes and expect down_len. */
void ferry_relay_apps_client_add(struct ferry_relay_apps *t, size_t up_len, size_t down_len);

/* Starts client i's connect to dst (from B: the socket stays in A) and watches it. */
void ferry_relay_apps_client_connect(struct ferry_relay_apps *t, unsigned i,
				     const struct ferry_endpoint *dst);

/* A listener on addr:0 in the current namespace (B); its endpoint is the next dests[]. */
void ferry_relay_apps_listener_add(struct ferry_relay_apps *t, const char *addr);

/* Watches client i again for what it now waits for (after a test changed its holds). */
void ferry_relay_apps_client_watch(struct ferry_relay_apps *t, unsigned i);

/* Watches server k again for what it now waits for (after a test changed its holds). */
void ferry_relay_apps_server_watch(struct ferry_relay_apps *t, unsigned k);

/* The server of connection conn, NULL before its header came. */
const struct ferry_relay_apps_server *ferry_relay_apps_server_of(const struct ferry_relay_apps *t,
								 int conn);

/* Fails the test unless connection i carried every byte both ways and ended cleanly on
 * both sides of the relay. */
void ferry_relay_apps_check_connection(const struct ferry_relay_apps *t, unsigned i);

/* The length of UDP datagram seq, and its bytes into buf (byte 0 is seq). */
size_t ferry_relay_apps_udp_len(unsigned seq);
void ferry_relay_apps_udp_fill(unsigned seq, uint8_t *buf);

/* Echo request seq into buf (8 + FERRY_RELAY_APPS_PING_LEN bytes): an ICMP header (id
 * and checksum are the ping socket's) and a seeded payload. */
void ferry_relay_apps_ping_fill(unsigned seq, uint8_t *buf);

#endif
