// SPDX-License-Identifier: MIT
/*
 * The whole stack in a loopback: real applications' TCP and UDP go into a TUN, through
 * ferry's stack, across a fake transport, out of egress as real sockets, to real servers,
 * and back -- all in this process, with byte-exact checks of every stream. The namespaces,
 * the TUN, the fake transport and the loop are the harness in tests/support/relay.h; the
 * applications and servers here are these cases' own.
 *
 * The 100 connections: each client sends a header naming it and then its own seeded
 * stream; its server checks every byte and answers with another seeded stream, which the
 * client checks. Two connections have a server that does not read, and two a client that
 * does not read, until backpressure has crossed the whole path (both sides of the relay
 * refused at once and the sender's socket is full); a fifth of the clients send their FIN
 * only after the server's (the destination's half-close first), the others before it.
 *
 * Smaller cases: a refused connect and an unroutable destination reach the application
 * as ECONNREFUSED and ENETUNREACH; UDP replies come from the destination and, full cone,
 * from another address; ping is answered by the real destination; and the destination's
 * FIN arriving while the application's last bytes and FIN still wait in the stack (the
 * clean close lwIP then reports must not cost those bytes).
 *
 * Needs root (namespaces, CAP_NET_ADMIN) and /dev/net/tun; otherwise the suite exits 77,
 * which CTest reports as skipped -- not as passed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "stack/egress.h"
#include "stack/stack.h"
#include "tests/support/fixture.h"
#include "tests/support/relay.h"

#define SKIP_STATUS 77

#define CONNS	  100
#define DESTS	  4 /* 2 addresses x 2 ports */
#define HELD_UP	  2 /* connections 0, 1: the server holds its reads */
#define HELD_DOWN 2 /* connections 2, 3: the client holds its reads */
#define HELD_SIZE ((size_t)1 << 20)
#define SIZE_MIN  ((size_t)4 << 10)
#define SIZE_SPAN ((size_t)156 << 10)
#define IO_CHUNK  ((size_t)64 << 10)
#define HDR_LEN	  8
#define HDR_MAGIC 0x66727279u
#define UDP_COUNT 12

_Static_assert(CONNS <= FERRY_RELAY_CONNS_MAX, "every connection needs a path of its own");

/* What a watched fd is, for scene_io. */
enum kind {
	K_CLIENT,
	K_LISTEN,
	K_SERVER,
	K_UCLIENT,
	K_USERVER,
	K_PING
};

struct client {
	int fd;
	uint16_t port;
	size_t up_len, down_len, sent, rcvd;
	bool connected, wr_done, eof, done;
	bool hold_reads, blocked_under_pressure;
	bool fin_after_eof; /* its server FINs first; it sends its own FIN after reading EOF */
	int err;	    /* of its connect */
};

struct server {
	int fd;
	int conn; /* -1 until the header came */
	uint8_t hdr[HDR_LEN];
	size_t sent, rcvd;
	bool eof, wr_done, done, hold_reads, blocked_under_pressure;
};

/* The applications at both ends, and what they saw. */
struct scene {
	struct ferry_relay *relay;

	int nclients, nservers, listeners[DESTS], nlisteners;
	struct client clients[CONNS];
	struct server servers[CONNS];
	struct ferry_endpoint dests[DESTS];

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
	uint8_t scratch[IO_CHUNK], expect[IO_CHUNK];
};

/* ---- addresses ------------------------------------------------------------------------ */

static void ep4(struct ferry_endpoint *e, const char *addr, uint16_t port)
{
	memset(e, 0, sizeof(*e));
	e->family = AF_INET;
	ck_assert_int_eq(inet_pton(AF_INET, addr, e->addr), 1);
	e->port = port;
}

static struct sockaddr_in sin_of(const struct ferry_endpoint *e)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(e->port)};

	memcpy(&sin.sin_addr, e->addr, 4);
	return sin;
}

static uint16_t local_port(int fd)
{
	struct sockaddr_in sin = {0};
	socklen_t sl = sizeof(sin);

	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
	return ntohs(sin.sin_port);
}

/* A nonblocking socket of type bound to addr:0 (the kernel picks the port). */
static int bound_socket(int type, const char *addr)
{
	struct ferry_endpoint e;
	struct sockaddr_in sin;
	int fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	ep4(&e, addr, 0);
	sin = sin_of(&e);
	ck_assert_msg(bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0, "bind %s: %s", addr,
		      strerror(errno));
	return fd;
}

/* ---- the streams: seeded, regenerated at any offset -------------------------------- */

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static void stream_fill(uint64_t seed, size_t off, uint8_t *buf, size_t len)
{
	while (len > 0) {
		uint64_t w = mix64(seed + (off >> 3) * 0x9e3779b97f4a7c15ull);
		size_t shift = off & 7, n = 8 - shift < len ? 8 - shift : len, k;

		for (k = 0; k < n; k++)
			buf[k] = (uint8_t)(w >> (8 * (shift + k)));
		buf += n;
		off += n;
		len -= n;
	}
}

/* Client to server: a header naming the connection, then its seeded bytes. */
static void stream_up(unsigned conn, size_t off, uint8_t *buf, size_t len)
{
	uint8_t hdr[HDR_LEN];
	size_t k;

	stream_fill(0x7570000000000000ull + conn, off, buf, len);
	for (k = 0; k < 4; k++) {
		hdr[k] = (uint8_t)(HDR_MAGIC >> (8 * k));
		hdr[4 + k] = (uint8_t)(conn >> (8 * k));
	}
	for (k = off; k < HDR_LEN && k < off + len; k++)
		buf[k - off] = hdr[k];
}

static void stream_down(unsigned conn, size_t off, uint8_t *buf, size_t len)
{
	stream_fill(0x646f776e00000000ull + conn, off, buf, len);
}

/* Fails the test at the first byte of data (at offset off of the stream) that differs. */
static void check_bytes(const char *who, unsigned conn, size_t off, const uint8_t *data,
			const uint8_t *expect, size_t len)
{
	size_t i;

	if (memcmp(data, expect, len) == 0)
		return;
	for (i = 0; data[i] == expect[i]; i++)
		;
	ck_abort_msg("%s of connection %u: byte %zu is 0x%02x, expected 0x%02x", who, conn, off + i,
		     data[i], expect[i]);
}

/* ---- clients (namespace A) ------------------------------------------------------------ */

static uint32_t client_interest(const struct client *c)
{
	if (!c->connected)
		return EPOLLOUT;
	return (c->hold_reads || c->eof ? 0 : EPOLLIN) | (c->sent < c->up_len ? EPOLLOUT : 0);
}

static void client_finish(struct scene *t, struct client *c)
{
	ferry_relay_close(t->relay, &c->fd);
	c->done = true;
	t->clients_done++;
}

static void client_write(struct scene *t, struct client *c, unsigned i)
{
	while (c->sent < c->up_len) {
		size_t n = c->up_len - c->sent < IO_CHUNK ? c->up_len - c->sent : IO_CHUNK;
		ssize_t w;

		stream_up(i, c->sent, t->scratch, n);
		w = send(c->fd, t->scratch, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EAGAIN)
			return;
		ck_assert_msg(w > 0, "client %u: send after %zu of %zu bytes: %s", i, c->sent,
			      c->up_len, strerror(errno));
		c->sent += (size_t)w;
	}
	if (c->fin_after_eof && !c->eof)
		return;
	ck_assert_int_eq(shutdown(c->fd, SHUT_WR), 0);
	c->wr_done = true;
}

static void client_read(struct scene *t, struct client *c, unsigned i)
{
	int rounds;

	for (rounds = 0; rounds < 4 && !c->eof; rounds++) {
		ssize_t n = recv(c->fd, t->scratch, IO_CHUNK, 0);

		if (n < 0 && errno == EAGAIN)
			return;
		ck_assert_msg(n >= 0, "client %u: recv after %zu of %zu bytes: %s", i, c->rcvd,
			      c->down_len, strerror(errno));
		if (n == 0) {
			ck_assert_msg(c->rcvd == c->down_len,
				      "client %u: EOF after %zu bytes, expected %zu", i, c->rcvd,
				      c->down_len);
			c->eof = true;
			return;
		}
		ck_assert_msg(c->rcvd + (size_t)n <= c->down_len,
			      "client %u: more than the %zu bytes expected", i, c->down_len);
		stream_down(i, c->rcvd, t->expect, (size_t)n);
		check_bytes("reply", i, c->rcvd, t->scratch, t->expect, (size_t)n);
		c->rcvd += (size_t)n;
	}
}

static void client_io(struct scene *t, unsigned i, uint32_t events)
{
	struct client *c = &t->clients[i];

	if (!c->connected) {
		int err = 0;
		socklen_t sl = sizeof(err);

		ck_assert_int_eq(getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &sl), 0);
		if (err) {
			c->err = err;
			client_finish(t, c);
			return;
		}
		if (!(events & EPOLLOUT))
			return;
		c->connected = true;
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR) && !c->hold_reads)
		client_read(t, c, i);
	if (!c->wr_done)
		client_write(t, c, i);
	if (c->wr_done && c->eof)
		client_finish(t, c);
	else
		ferry_relay_watch(t->relay, c->fd, K_CLIENT, i, client_interest(c));
}

/* A nonblocking client socket in the current namespace (A), bound to the TUN's address. */
static void client_add(struct scene *t, size_t up_len, size_t down_len)
{
	struct client *c = &t->clients[t->nclients++];

	memset(c, 0, sizeof(*c));
	c->fd = bound_socket(SOCK_STREAM, FERRY_RELAY_CLIENT_ADDR);
	c->port = local_port(c->fd);
	c->up_len = up_len;
	c->down_len = down_len;
}

/* Starts client i's connect to dst (from B: the socket stays in A). */
static void client_connect(struct scene *t, unsigned i, const struct ferry_endpoint *dst)
{
	struct client *c = &t->clients[i];
	struct sockaddr_in sin = sin_of(dst);

	ck_assert_msg(connect(c->fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 &&
			  errno == EINPROGRESS,
		      "client %u: connect did not start: %s", i, strerror(errno));
	ferry_relay_watch(t->relay, c->fd, K_CLIENT, i, EPOLLOUT);
}

/* ---- servers (namespace B) ------------------------------------------------------------ */

static uint32_t server_interest(const struct server *s, const struct scene *t)
{
	uint32_t ev = s->eof || s->hold_reads ? 0 : EPOLLIN;

	if (s->conn >= 0 && !s->wr_done && !t->hold_server_writes &&
	    s->sent < t->clients[s->conn].down_len)
		ev |= EPOLLOUT;
	return ev;
}

static void server_shutdown(struct server *s)
{
	ck_assert_int_eq(shutdown(s->fd, SHUT_WR), 0);
	s->wr_done = true;
}

/* Reads the 8-byte header that names the connection. Returns false until it is complete. */
static bool server_header(struct scene *t, struct server *s)
{
	uint32_t magic = 0, conn = 0;
	ssize_t n;
	int k;

	n = recv(s->fd, s->hdr + s->rcvd, HDR_LEN - s->rcvd, 0);
	if (n < 0 && errno == EAGAIN)
		return false;
	ck_assert_msg(n > 0, "server: header cut short after %zu bytes (%s)", s->rcvd,
		      n == 0 ? "EOF" : strerror(errno));
	s->rcvd += (size_t)n;
	if (s->rcvd < HDR_LEN)
		return false;
	for (k = 3; k >= 0; k--) {
		magic = magic << 8 | s->hdr[k];
		conn = conn << 8 | s->hdr[4 + k];
	}
	ck_assert_msg(magic == HDR_MAGIC && conn < (uint32_t)t->nclients,
		      "server: bad header %08x %u", magic, conn);
	for (k = 0; k < t->nservers; k++)
		ck_assert_msg(&t->servers[k] == s || t->servers[k].conn != (int)conn,
			      "server: connection %u arrived twice", conn);
	s->conn = (int)conn;
	s->hold_reads = conn < HELD_UP;
	return true;
}

static void server_read(struct scene *t, struct server *s)
{
	int rounds;

	if (s->conn < 0 && !server_header(t, s))
		return;
	for (rounds = 0; rounds < 4 && !s->eof && !s->hold_reads; rounds++) {
		unsigned i = (unsigned)s->conn;
		size_t want = t->clients[i].up_len;
		ssize_t n = recv(s->fd, t->scratch, IO_CHUNK, 0);

		if (n < 0 && errno == EAGAIN)
			return;
		ck_assert_msg(n >= 0, "server %u: recv after %zu of %zu bytes: %s", i, s->rcvd,
			      want, strerror(errno));
		if (n == 0) {
			ck_assert_msg(s->rcvd == want,
				      "server %u: EOF after %zu bytes, expected %zu", i, s->rcvd,
				      want);
			s->eof = true;
			if (!s->wr_done && s->sent == t->clients[i].down_len)
				server_shutdown(s);
			return;
		}
		ck_assert_msg(s->rcvd + (size_t)n <= want,
			      "server %u: more than the %zu bytes sent", i, want);
		stream_up(i, s->rcvd, t->expect, (size_t)n);
		check_bytes("request", i, s->rcvd, t->scratch, t->expect, (size_t)n);
		s->rcvd += (size_t)n;
	}
}

static void server_write(struct scene *t, struct server *s)
{
	unsigned i = (unsigned)s->conn;
	size_t total = t->clients[i].down_len;

	while (s->sent < total) {
		size_t n = total - s->sent < IO_CHUNK ? total - s->sent : IO_CHUNK;
		ssize_t w;

		stream_down(i, s->sent, t->scratch, n);
		w = send(s->fd, t->scratch, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EAGAIN)
			return;
		ck_assert_msg(w > 0, "server %u: send after %zu of %zu bytes: %s", i, s->sent,
			      total, strerror(errno));
		s->sent += (size_t)w;
	}
	/* The destination's FIN follows the client's, unless the client waits for it, or
	 * early_fin (see destination_fin_while_application_bytes_queued). */
	if (!s->wr_done && (s->eof || t->clients[i].fin_after_eof || t->early_fin))
		server_shutdown(s);
}

static void server_io(struct scene *t, unsigned k, uint32_t events)
{
	struct server *s = &t->servers[k];

	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		server_read(t, s);
	if (s->conn >= 0 && !s->wr_done && !t->hold_server_writes)
		server_write(t, s);
	if (s->eof && s->wr_done) {
		ferry_relay_close(t->relay, &s->fd);
		s->done = true;
		t->servers_done++;
		return;
	}
	ferry_relay_watch(t->relay, s->fd, K_SERVER, k, server_interest(s, t));
}

static void listener_accept(struct scene *t, int lfd)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct server *s;

		if (fd < 0 && errno == EAGAIN)
			return;
		ck_assert_msg(fd >= 0, "accept: %s", strerror(errno));
		ck_assert_msg(t->nservers < CONNS, "more connections accepted than made");
		s = &t->servers[t->nservers];
		memset(s, 0, sizeof(*s));
		s->fd = fd;
		s->conn = -1;
		ferry_relay_watch(t->relay, fd, K_SERVER, (uint32_t)t->nservers++, EPOLLIN);
	}
}

static void listener_add(struct scene *t, const char *addr)
{
	int fd = bound_socket(SOCK_STREAM, addr);

	ck_assert_int_eq(listen(fd, SOMAXCONN), 0);
	ep4(&t->dests[t->nlisteners], addr, local_port(fd));
	t->listeners[t->nlisteners] = fd;
	ferry_relay_watch(t->relay, fd, K_LISTEN, (uint32_t)t->nlisteners++, EPOLLIN);
}

/* The kernel would take no more from fd: its send buffer is full. */
static bool send_buffer_full(int fd)
{
	struct pollfd pfd = {.fd = fd, .events = POLLOUT};

	ck_assert_int_ge(poll(&pfd, 1, 0), 0);
	return !(pfd.revents & POLLOUT);
}

/* A held reader starts once backpressure crossed the whole path and reached the far
 * application: the relay saw a short take while its other side was blocked, and the
 * sender's own send buffer is full. Every bounded buffer between them is then full. */
static void release_holds(struct scene *t)
{
	int k;

	for (k = 0; k < t->nservers; k++) {
		struct server *s = &t->servers[k];
		struct client *c;

		if (!s->hold_reads || !ferry_relay_path(t->relay, s->conn)->up_pressure)
			continue;
		c = &t->clients[s->conn];
		if (c->wr_done || !send_buffer_full(c->fd))
			continue;
		c->blocked_under_pressure = true;
		s->hold_reads = false;
		ferry_relay_watch(t->relay, s->fd, K_SERVER, (uint32_t)k, server_interest(s, t));
	}
	for (k = 0; k < t->nservers; k++) {
		struct server *s = &t->servers[k];
		struct client *c;

		if (s->conn < 0 || !t->clients[s->conn].hold_reads ||
		    !ferry_relay_path(t->relay, s->conn)->down_pressure)
			continue;
		c = &t->clients[s->conn];
		if (s->wr_done || !send_buffer_full(s->fd))
			continue;
		s->blocked_under_pressure = true;
		c->hold_reads = false;
		ferry_relay_watch(t->relay, c->fd, K_CLIENT, (uint32_t)s->conn, client_interest(c));
	}
}

/* ---- UDP endpoints -------------------------------------------------------------------- */

/* Datagram seq: byte 0 is seq, the rest seeded; the server answers with each byte
 * inverted, from where it was sent to; seq 0 also gets a datagram from the other server. */
static size_t udp_len(unsigned seq)
{
	return 1 + (seq * 337u) % 1400u;
}

static void udp_fill(unsigned seq, uint8_t *buf)
{
	stream_fill(0x7564700000000000ull + seq, 0, buf, udp_len(seq));
	buf[0] = (uint8_t)seq;
}

static void userver_io(struct scene *t, unsigned k)
{
	struct sockaddr_in from = {0};
	socklen_t sl = sizeof(from);
	ssize_t n = recvfrom(t->userver[k], t->scratch, IO_CHUNK, 0, (struct sockaddr *)&from, &sl);
	unsigned seq;
	size_t i;

	if (n < 0 && errno == EAGAIN)
		return;
	ck_assert_msg(k == 0 && n > 0, "UDP server %u: unexpected datagram (%zd)", k, n);
	seq = t->scratch[0];
	ck_assert_uint_lt(seq, UDP_COUNT);
	ck_assert_uint_eq((size_t)n, udp_len(seq));
	udp_fill(seq, t->expect);
	check_bytes("datagram", seq, 0, t->scratch, t->expect, (size_t)n);
	t->udp_server_got++;
	for (i = 0; i < (size_t)n; i++)
		t->scratch[i] = (uint8_t)~t->scratch[i];
	ck_assert_int_eq(
	    sendto(t->userver[0], t->scratch, (size_t)n, 0, (struct sockaddr *)&from, sl), n);
	if (seq == 0) {
		static const char hello[] = "from elsewhere";

		ck_assert_int_eq(
		    sendto(t->userver[1], hello, sizeof(hello), 0, (struct sockaddr *)&from, sl),
		    (ssize_t)sizeof(hello));
	}
}

static void uclient_io(struct scene *t)
{
	struct sockaddr_in from = {0};
	socklen_t sl = sizeof(from);
	ssize_t n = recvfrom(t->uclient, t->scratch, IO_CHUNK, 0, (struct sockaddr *)&from, &sl);
	struct sockaddr_in s0 = sin_of(&t->udst[0]), s1 = sin_of(&t->udst[1]);
	unsigned seq;
	size_t i;

	if (n < 0 && errno == EAGAIN)
		return;
	ck_assert_int_gt(n, 0);
	if (from.sin_addr.s_addr == s1.sin_addr.s_addr && from.sin_port == s1.sin_port) {
		ck_assert_str_eq((const char *)t->scratch, "from elsewhere");
		t->udp_elsewhere++;
		return;
	}
	ck_assert_msg(from.sin_addr.s_addr == s0.sin_addr.s_addr && from.sin_port == s0.sin_port,
		      "UDP reply from %s:%u, not from the destination", inet_ntoa(from.sin_addr),
		      ntohs(from.sin_port));
	seq = (uint8_t)~t->scratch[0];
	ck_assert_uint_lt(seq, UDP_COUNT);
	ck_assert_uint_eq((size_t)n, udp_len(seq));
	udp_fill(seq, t->expect);
	for (i = 0; i < (size_t)n; i++)
		t->expect[i] = (uint8_t)~t->expect[i];
	check_bytes("UDP reply", seq, 0, t->scratch, t->expect, (size_t)n);
	t->udp_replies++;
}

/* ---- ICMP echo ------------------------------------------------------------------------ */

#define PINGS	 3
#define PING_LEN 56

/* Echo request seq: an ICMP header (id and checksum are the ping socket's) and a seeded
 * payload. */
static void ping_fill(unsigned seq, uint8_t *buf)
{
	memset(buf, 0, 8);
	buf[0] = 8; /* echo request */
	buf[6] = (uint8_t)(seq >> 8);
	buf[7] = (uint8_t)seq;
	stream_fill(0x70696e6700000000ull + seq, 0, buf + 8, PING_LEN);
}

static void ping_io(struct scene *t)
{
	struct sockaddr_in from = {0};
	socklen_t sl = sizeof(from);
	struct sockaddr_in dst = sin_of(&t->udst[0]);
	ssize_t n = recvfrom(t->ping, t->scratch, IO_CHUNK, 0, (struct sockaddr *)&from, &sl);
	unsigned seq;

	if (n < 0 && errno == EAGAIN)
		return;
	ck_assert_int_eq(n, 8 + PING_LEN);
	ck_assert_uint_eq(t->scratch[0], 0); /* echo reply */
	ck_assert_msg(from.sin_addr.s_addr == dst.sin_addr.s_addr, "echo reply from %s",
		      inet_ntoa(from.sin_addr));
	seq = (unsigned)t->scratch[6] << 8 | t->scratch[7];
	ck_assert_uint_ge(seq, 1);
	ck_assert_uint_le(seq, PINGS);
	ping_fill(seq, t->expect);
	check_bytes("echo payload", seq, 0, t->scratch + 8, t->expect + 8, PING_LEN);
	t->ping_replies++;
}

/* ---- the harness's side --------------------------------------------------------------- */

/* The server of connection conn, NULL before its header came. */
static const struct server *server_of(const struct scene *t, int conn)
{
	int k;

	for (k = 0; k < t->nservers; k++)
		if (t->servers[k].conn == conn)
			return &t->servers[k];
	return NULL;
}

/* The client whose socket is the application's end src (the last one added wins). */
static int scene_conn_of(void *ctx, const struct ferry_endpoint *src)
{
	const struct scene *t = ctx;
	int i, conn = -1;

	for (i = 0; i < t->nclients; i++)
		if (t->clients[i].port == src->port)
			conn = i;
	return conn;
}

static void scene_turn(void *ctx)
{
	release_holds(ctx);
}

static void scene_io(void *ctx, int fd, uint32_t kind, uint32_t index, uint32_t events)
{
	struct scene *t = ctx;

	switch (kind) {
	case K_CLIENT:
		client_io(t, index, events);
		break;
	case K_LISTEN:
		listener_accept(t, fd);
		break;
	case K_SERVER:
		server_io(t, index, events);
		break;
	case K_UCLIENT:
		uclient_io(t);
		break;
	case K_USERVER:
		userver_io(t, index);
		break;
	case K_PING:
		ping_io(t);
		break;
	default:
		ck_abort_msg("event for fd %d of no kind", fd);
	}
}

static void scene_describe(void *ctx, char *msg, size_t size)
{
	const struct scene *t = ctx;
	size_t off = 0;
	int i, shown = 0;

	off += (size_t)snprintf(msg, size, "clients %u/%d, servers %u/%d accepted %d;",
				t->clients_done, t->nclients, t->servers_done, t->nclients,
				t->nservers);
	for (i = 0; i < t->nclients && shown < 4 && off + 160 < size; i++) {
		const struct client *c = &t->clients[i];
		const struct ferry_relay_path *p = ferry_relay_path(t->relay, i);
		const struct server *sv = server_of(t, i);

		if (c->done)
			continue;
		shown++;
		off += (size_t)snprintf(
		    msg + off, size - off,
		    " [%d: client sent %zu/%zu rcvd %zu/%zu hold %d; server rcvd %zu sent %zu "
		    "hold %d; pressure up %d down %d]",
		    i, c->sent, c->up_len, c->rcvd, c->down_len, c->hold_reads, sv ? sv->rcvd : 0,
		    sv ? sv->sent : 0, sv ? sv->hold_reads : 0, p->up_pressure, p->down_pressure);
	}
}

static const struct ferry_relay_ops scene_ops = {
    .conn_of = scene_conn_of,
    .turn = scene_turn,
    .io = scene_io,
    .describe = scene_describe,
};

static struct scene *scene_new(void)
{
	struct scene *t = calloc(1, sizeof(*t));
	int k;

	ck_assert_ptr_nonnull(t);
	t->relay = ferry_relay_new(&scene_ops, t);
	t->uclient = -1;
	t->ping = -1;
	for (k = 0; k < 2; k++)
		t->userver[k] = -1;
	return t;
}

/* Closes what the applications still hold, then the harness. */
static void scene_free(struct scene *t)
{
	int k;

	for (k = 0; k < t->nclients; k++)
		ferry_relay_close(t->relay, &t->clients[k].fd);
	for (k = 0; k < t->nservers; k++)
		ferry_relay_close(t->relay, &t->servers[k].fd);
	for (k = 0; k < t->nlisteners; k++)
		ferry_relay_close(t->relay, &t->listeners[k]);
	ferry_relay_close(t->relay, &t->uclient);
	ferry_relay_close(t->relay, &t->ping);
	for (k = 0; k < 2; k++)
		ferry_relay_close(t->relay, &t->userver[k]);
	ferry_relay_free(t->relay);
	free(t);
}

/* ---- 100 connections ------------------------------------------------------------------ */

static size_t size_of(unsigned i, unsigned salt)
{
	return SIZE_MIN +
	       (size_t)(mix64(0x73697a6500000000ull + (uint64_t)i * 2 + salt) % SIZE_SPAN);
}

static bool all_connections_done(const void *arg)
{
	const struct scene *t = arg;

	return t->clients_done == CONNS && t->servers_done == CONNS &&
	       ferry_relay_counters(t->relay)->live_flows == 0 &&
	       ferry_relay_stack_stats(t->relay)->tcp_flows == 0 &&
	       ferry_relay_egress_stats(t->relay)->tcp_flows == 0;
}

static void check_connection(const struct scene *t, unsigned i)
{
	const struct client *c = &t->clients[i];
	const struct ferry_relay_path *p = ferry_relay_path(t->relay, (int)i);
	const struct server *s = server_of(t, (int)i);

	ck_assert_msg(c->err == 0 && c->sent == c->up_len && c->rcvd == c->down_len && c->eof,
		      "client %u: error %d, sent %zu/%zu, received %zu/%zu", i, c->err, c->sent,
		      c->up_len, c->rcvd, c->down_len);
	ck_assert_msg(s != NULL, "connection %u never reached a server", i);
	ck_assert_msg(s->done && s->rcvd == c->up_len && s->sent == c->down_len,
		      "server %u: done %d, received %zu/%zu, sent %zu/%zu", i, s->done, s->rcvd,
		      c->up_len, s->sent, c->down_len);
	ck_assert_msg(p->stack_ended && p->stack_reason == 0 && p->egress_ended &&
			  p->egress_reason == 0,
		      "connection %u ended uncleanly: stack %d (%d), egress %d (%d)", i,
		      p->stack_ended, p->stack_reason, p->egress_ended, p->egress_reason);
}

/* The held connections prove backpressure end to end, and that each side resumed. */
static void check_backpressure(const struct scene *t)
{
	unsigned i;

	for (i = 0; i < HELD_UP; i++) {
		const struct ferry_relay_path *p = ferry_relay_path(t->relay, (int)i);

		ck_assert_msg(p->up_pressure && p->egress_short_sends > 0 &&
				  p->egress_sendables > 0 && p->stack_short_takes > 0 &&
				  p->stack_writables > 0 && t->clients[i].blocked_under_pressure,
			      "connection %u: no backpressure toward the destination", i);
	}
	for (i = HELD_UP; i < HELD_UP + HELD_DOWN; i++) {
		const struct ferry_relay_path *p = ferry_relay_path(t->relay, (int)i);

		ck_assert_msg(p->down_pressure && p->stack_short_sends > 0 &&
				  p->stack_sendables > 0 && p->egress_short_takes > 0 &&
				  p->egress_writables > 0 &&
				  server_of(t, (int)i)->blocked_under_pressure,
			      "connection %u: no backpressure toward the application", i);
	}
}

static void check_counters(const struct scene *t)
{
	const struct ferry_stack_stats *ss = ferry_relay_stack_stats(t->relay);
	const struct ferry_egress_stats *es = ferry_relay_egress_stats(t->relay);
	static const enum ferry_stack_drop never[] = {
	    FERRY_STACK_DROP_SHORT,	 FERRY_STACK_DROP_VERSION, FERRY_STACK_DROP_HEADER,
	    FERRY_STACK_DROP_FRAGMENT,	 FERRY_STACK_DROP_OPTIONS, FERRY_STACK_DROP_NOMEM,
	    FERRY_STACK_DROP_FLOWS_FULL, FERRY_STACK_DROP_REFUSED,
	};
	size_t k;

	for (k = 0; k < sizeof(never) / sizeof(never[0]); k++)
		ck_assert_msg(ss->drops[never[k]] == 0, "stack drop counter %d is %llu", never[k],
			      (unsigned long long)ss->drops[never[k]]);
	ck_assert_uint_eq(ss->tcp_opened, CONNS);
	ck_assert_uint_eq(ss->tcp_accepted, CONNS);
	ck_assert_uint_eq(ss->tcp_closed, CONNS);
	ck_assert_uint_eq(ss->tcp_refused + ss->tcp_unreach + ss->tcp_evicted, 0);
	ck_assert_uint_eq(ss->tcp_idle_timeouts, 0);
	ck_assert_uint_eq(ss->tcp_flows, 0);
	ck_assert_uint_eq(es->tcp_opened, CONNS);
	ck_assert_uint_eq(es->tcp_connected, CONNS);
	ck_assert_uint_eq(es->tcp_failed, 0);
	ck_assert_uint_eq(es->tcp_closed, CONNS);
	ck_assert_uint_eq(es->tcp_flows, 0);
	ck_assert_uint_eq(es->denied, 0);
	ck_assert_uint_eq(ferry_relay_counters(t->relay)->tun_write_errors, 0);
	ck_assert_uint_eq(ferry_relay_counters(t->relay)->opened, CONNS);
}

START_TEST(hundred_connections_byte_exact)
{
	struct scene *t = scene_new();
	size_t up = 0, down = 0;
	uint64_t start;
	unsigned i;

	ferry_relay_enter_a(t->relay);
	for (i = 0; i < CONNS; i++)
		client_add(t, i < HELD_UP ? HELD_SIZE : size_of(i, 0),
			   i >= HELD_UP && i < HELD_UP + HELD_DOWN ? HELD_SIZE : size_of(i, 1));
	ferry_relay_enter_b();
	listener_add(t, FERRY_RELAY_DST_ADDR_1);
	listener_add(t, FERRY_RELAY_DST_ADDR_1);
	listener_add(t, FERRY_RELAY_DST_ADDR_2);
	listener_add(t, FERRY_RELAY_DST_ADDR_2);
	ferry_relay_start(t->relay);
	start = ferry_relay_clock_ms();
	for (i = 0; i < CONNS; i++) {
		t->clients[i].hold_reads = i >= HELD_UP && i < HELD_UP + HELD_DOWN;
		t->clients[i].fin_after_eof = i % 5 == 4;
		client_connect(t, i, &t->dests[i % DESTS]);
	}
	ferry_relay_run(t->relay, all_connections_done, "100 connections");
	for (i = 0; i < CONNS; i++) {
		check_connection(t, i);
		ck_assert_msg(ferry_relay_path(t->relay, (int)i)->peer_first ==
				  t->clients[i].fin_after_eof,
			      "connection %d: FIN order not as planned", i);
		up += t->clients[i].up_len;
		down += t->clients[i].down_len;
	}
	check_backpressure(t);
	check_counters(t);
	printf("relay: %d connections, %zu bytes up, %zu down, in %llu ms\n", CONNS, up, down,
	       (unsigned long long)(ferry_relay_clock_ms() - start));
	scene_free(t);
}
END_TEST

/* ---- refused and unreachable ---------------------------------------------------------- */

static bool both_failed(const void *arg)
{
	const struct scene *t = arg;

	return t->clients_done == 2 && ferry_relay_counters(t->relay)->live_flows == 0 &&
	       ferry_relay_stack_stats(t->relay)->tcp_flows == 0;
}

START_TEST(refused_and_unreachable)
{
	struct scene *t = scene_new();
	struct ferry_endpoint closed, nowhere;
	const struct ferry_stack_stats *ss;
	const struct ferry_egress_stats *es;
	int fd;

	ferry_relay_enter_a(t->relay);
	client_add(t, 1, 0);
	client_add(t, 1, 0);
	ferry_relay_enter_b();
	fd = bound_socket(SOCK_STREAM, FERRY_RELAY_DST_ADDR_1); /* a port nobody listens on */
	ep4(&closed, FERRY_RELAY_DST_ADDR_1, local_port(fd));
	close(fd);
	ep4(&nowhere, FERRY_RELAY_NO_ROUTE, 80);
	ferry_relay_start(t->relay);
	client_connect(t, 0, &closed);
	client_connect(t, 1, &nowhere);
	ferry_relay_run(t->relay, both_failed, "refused and unreachable");
	ck_assert_msg(t->clients[0].err == ECONNREFUSED, "refused: client saw %s",
		      strerror(t->clients[0].err));
	ck_assert_msg(t->clients[1].err == ENETUNREACH, "unreachable: client saw %s",
		      strerror(t->clients[1].err));
	ck_assert_int_eq(ferry_relay_path(t->relay, 0)->egress_reason, -ECONNREFUSED);
	ck_assert_int_eq(ferry_relay_path(t->relay, 1)->egress_reason, -ENETUNREACH);
	ss = ferry_relay_stack_stats(t->relay);
	es = ferry_relay_egress_stats(t->relay);
	ck_assert_uint_eq(ss->tcp_opened, 2);
	ck_assert_uint_eq(ss->tcp_refused, 1);
	ck_assert_uint_eq(ss->tcp_unreach, 1);
	ck_assert_uint_eq(ss->tcp_accepted, 0);
	ck_assert_uint_eq(es->tcp_failed, 2);
	ck_assert_uint_eq(es->tcp_connected, 0);
	ck_assert_uint_eq(es->tcp_flows, 0);
	scene_free(t);
}
END_TEST

/* ---- UDP ------------------------------------------------------------------------------ */

static bool udp_done(const void *arg)
{
	const struct scene *t = arg;

	return t->udp_replies == UDP_COUNT && t->udp_elsewhere == 1;
}

START_TEST(udp_replies_from_destination_and_elsewhere)
{
	struct scene *t = scene_new();
	struct sockaddr_in to;
	uint8_t buf[1500];
	unsigned seq;
	int k;

	ferry_relay_enter_a(t->relay);
	t->uclient = bound_socket(SOCK_DGRAM, FERRY_RELAY_CLIENT_ADDR);
	ferry_relay_enter_b();
	t->userver[0] = bound_socket(SOCK_DGRAM, FERRY_RELAY_DST_ADDR_1);
	t->userver[1] = bound_socket(SOCK_DGRAM, FERRY_RELAY_DST_ADDR_2);
	ep4(&t->udst[0], FERRY_RELAY_DST_ADDR_1, local_port(t->userver[0]));
	ep4(&t->udst[1], FERRY_RELAY_DST_ADDR_2, local_port(t->userver[1]));
	ferry_relay_start(t->relay);
	ferry_relay_watch(t->relay, t->uclient, K_UCLIENT, 0, EPOLLIN);
	for (k = 0; k < 2; k++)
		ferry_relay_watch(t->relay, t->userver[k], K_USERVER, (uint32_t)k, EPOLLIN);
	to = sin_of(&t->udst[0]);
	for (seq = 0; seq < UDP_COUNT; seq++) {
		udp_fill(seq, buf);
		ck_assert_int_eq(
		    sendto(t->uclient, buf, udp_len(seq), 0, (struct sockaddr *)&to, sizeof(to)),
		    (ssize_t)udp_len(seq));
	}
	ferry_relay_run(t->relay, udp_done, "UDP");
	ck_assert_uint_eq(t->udp_server_got, UDP_COUNT);
	ck_assert_uint_eq(ferry_relay_stack_stats(t->relay)->udp_opened, 1);
	ck_assert_uint_eq(ferry_relay_egress_stats(t->relay)->udp_opened, 1);
	ck_assert_uint_eq(ferry_relay_egress_stats(t->relay)->udp_send_drops, 0);
	ck_assert_uint_eq(ferry_relay_counters(t->relay)->live_flows, 1);
	scene_free(t); /* the stack ends the flow: udp_closed closes egress's socket */
}
END_TEST

/* ---- ICMP echo ------------------------------------------------------------------------ */

static bool pings_done(const void *arg)
{
	const struct scene *t = arg;

	return t->ping_replies == PINGS;
}

START_TEST(ping_answered_by_the_real_destination)
{
	struct scene *t = scene_new();
	const struct ferry_egress_stats *es;
	struct sockaddr_in to;
	uint8_t buf[8 + PING_LEN];
	unsigned seq;

	ferry_relay_enter_a(t->relay);
	ferry_relay_sysctl_set("/proc/sys/net/ipv4/ping_group_range", "0 2147483647");
	t->ping = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMP);
	ck_assert_msg(t->ping >= 0, "ping socket: %s", strerror(errno));
	ferry_relay_enter_b();
	/* and in B, for egress's ping socket */
	ferry_relay_sysctl_set("/proc/sys/net/ipv4/ping_group_range", "0 2147483647");
	ep4(&t->udst[0], FERRY_RELAY_DST_ADDR_1, 0);
	ferry_relay_start(t->relay);
	ferry_relay_watch(t->relay, t->ping, K_PING, 0, EPOLLIN);
	to = sin_of(&t->udst[0]);
	for (seq = 1; seq <= PINGS; seq++) {
		ping_fill(seq, buf);
		ck_assert_int_eq(
		    sendto(t->ping, buf, sizeof(buf), 0, (struct sockaddr *)&to, sizeof(to)),
		    (ssize_t)sizeof(buf));
	}
	ferry_relay_run(t->relay, pings_done, "ping");
	es = ferry_relay_egress_stats(t->relay);
	ck_assert_uint_eq(ferry_relay_counters(t->relay)->pings_forwarded, PINGS);
	ck_assert_uint_eq(ferry_relay_counters(t->relay)->ping_replies_relayed, PINGS);
	ck_assert_uint_eq(es->pings_sent, PINGS);
	ck_assert_uint_eq(es->ping_replies, PINGS);
	ck_assert_uint_eq(es->ping_unmatched, 0);
	scene_free(t);
}
END_TEST

/* ---- known bug: the destination's FIN while the application's bytes are queued ------- */

static bool client_fin_acked(const void *arg)
{
	const struct scene *t = arg;
	struct tcp_info ti;
	socklen_t sl = sizeof(ti);

	if (!t->clients[0].wr_done || t->nservers != 1 || t->servers[0].conn != 0)
		return false;
	ck_assert_int_eq(getsockopt(t->clients[0].fd, IPPROTO_TCP, TCP_INFO, &ti, &sl), 0);
	return ti.tcpi_state == TCP_FIN_WAIT2;
}

static bool client_finished(const void *arg)
{
	const struct scene *t = arg;

	return t->clients_done == 1;
}

static bool one_connection_done(const void *arg)
{
	const struct scene *t = arg;

	return t->clients_done == 1 && t->servers_done == 1 &&
	       ferry_relay_counters(t->relay)->live_flows == 0 &&
	       ferry_relay_stack_stats(t->relay)->tcp_flows == 0;
}

/*
 * The application sent QUEUED_UP bytes and its FIN; the destination does not read, so
 * part of the bytes wait in the stack's flow (taken by lwIP, not yet by the caller) with
 * the FIN behind them, and lwIP's pcb is in CLOSE_WAIT. Now the destination answers and
 * closes: ferry_stack_tcp_shutdown sends our FIN (LAST_ACK), the application acknowledges
 * it, and lwIP, having closed the pcb without TF_RXCLOSED, calls the error callback with
 * ERR_CLSD. The application saw a clean close, so the queued bytes and the FIN must
 * still reach the caller, then tcp_closed(0). (The stack once took ERR_CLSD for an abort:
 * tcp_closed(-ECONNABORTED), the bytes dropped, the destination reset.)
 */
#define QUEUED_UP ((size_t)224 << 10) /* below lwIP's 256 KiB window: the FIN gets in */

START_TEST(destination_fin_while_application_bytes_queued)
{
	struct scene *t = scene_new();
	const struct ferry_relay_path *p = ferry_relay_path(t->relay, 0);

	ferry_relay_enter_a(t->relay);
	client_add(t, QUEUED_UP, 1000);
	ferry_relay_enter_b();
	listener_add(t, FERRY_RELAY_DST_ADDR_1);
	ferry_relay_start(t->relay);
	t->early_fin = true;
	t->hold_server_writes = true;
	client_connect(t, 0, &t->dests[0]); /* connection 0: the server holds its reads */
	ferry_relay_run(t->relay, client_fin_acked, "client's FIN acknowledged by the stack");
	ck_assert_msg(ferry_relay_up_stalled(t->relay, 0) && t->servers[0].rcvd < QUEUED_UP,
		      "precondition: the application's bytes should wait in the stack");
	t->hold_server_writes = false;
	ferry_relay_watch(t->relay, t->servers[0].fd, K_SERVER, 0,
			  server_interest(&t->servers[0], t));
	ferry_relay_run(t->relay, client_finished, "reply and FIN to the client");
	ck_assert_msg(!p->stack_ended || p->stack_reason == 0,
		      "the stack ended the flow with %d while the application's bytes and FIN "
		      "were still queued in it (the destination has %zu of %zu bytes)",
		      p->stack_reason, t->servers[0].rcvd, QUEUED_UP);
	t->servers[0].hold_reads = false;
	ferry_relay_watch(t->relay, t->servers[0].fd, K_SERVER, 0,
			  server_interest(&t->servers[0], t));
	ferry_relay_run(t->relay, one_connection_done, "the rest of the bytes to the destination");
	/* The destination's FIN crossed first: the application's waited behind its bytes. */
	ck_assert(p->peer_first);
	check_connection(t, 0);
	scene_free(t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("relay");
	TCase *tcp = ferry_tcase("tcp", 30);
	TCase *other = ferry_tcase("refused_udp_icmp", 10);

	if (geteuid() != 0 || access("/dev/net/tun", R_OK | W_OK) != 0) {
		printf("relay: needs root and /dev/net/tun; skipped\n");
		return SKIP_STATUS;
	}
	tcase_add_test(tcp, hundred_connections_byte_exact);
	tcase_add_test(other, refused_and_unreachable);
	tcase_add_test(other, udp_replies_from_destination_and_elsewhere);
	tcase_add_test(other, ping_answered_by_the_real_destination);
	tcase_add_test(other, destination_fin_while_application_bytes_queued);
	suite_add_tcase(s, tcp);
	suite_add_tcase(s, other);
	return ferry_run_suite(s);
}
