// SPDX-License-Identifier: MIT
/*
 * The applications at both ends of the relay (see relay_apps.h for what they do and
 * relay.h for the harness): seeded streams, TCP clients and servers with their held
 * reads, the UDP endpoints and the ping socket, and the relay ops that dispatch to them.
 *
 * Each fd's handler does what its socket allows now (bounded rounds of nonblocking I/O),
 * then watches it again for exactly what it still waits for; a finished socket is closed
 * at once, so the fd fixture of every case sees none left.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "stack/stack.h"
#include "tests/support/fixture.h"
#include "tests/support/relay.h"
#include "tests/support/relay_apps.h"

#define CONNS	  FERRY_RELAY_CONNS_MAX
#define IO_CHUNK  FERRY_RELAY_APPS_IO_CHUNK
#define HDR_LEN	  FERRY_RELAY_APPS_HDR_LEN
#define HDR_MAGIC 0x66727279u

/* ---- addresses ------------------------------------------------------------------------ */

void ferry_relay_apps_ep4(struct ferry_endpoint *e, const char *addr, uint16_t port)
{
	memset(e, 0, sizeof(*e));
	e->family = AF_INET;
	ck_assert_int_eq(inet_pton(AF_INET, addr, e->addr), 1);
	e->port = port;
}

struct sockaddr_in ferry_relay_apps_sin_of(const struct ferry_endpoint *e)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(e->port)};

	memcpy(&sin.sin_addr, e->addr, 4);
	return sin;
}

uint16_t ferry_relay_apps_local_port(int fd)
{
	struct sockaddr_in sin = {0};
	socklen_t sl = sizeof(sin);

	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
	return ntohs(sin.sin_port);
}

/* A nonblocking socket of type bound to addr:0 (the kernel picks the port). */
int ferry_relay_apps_bound_socket(int type, const char *addr)
{
	struct ferry_endpoint e;
	struct sockaddr_in sin;
	int fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	ferry_relay_apps_ep4(&e, addr, 0);
	sin = ferry_relay_apps_sin_of(&e);
	ck_assert_msg(bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0, "bind %s: %s", addr,
		      strerror(errno));
	return fd;
}

/* ---- the streams: seeded, regenerated at any offset -------------------------------- */

uint64_t ferry_relay_apps_mix64(uint64_t x)
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
		uint64_t w = ferry_relay_apps_mix64(seed + (off >> 3) * 0x9e3779b97f4a7c15ull);
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

static uint32_t client_interest(const struct ferry_relay_apps_client *c)
{
	if (!c->connected)
		return EPOLLOUT;
	return (c->hold_reads || c->eof ? 0 : EPOLLIN) | (c->sent < c->up_len ? EPOLLOUT : 0);
}

static void client_finish(struct ferry_relay_apps *t, struct ferry_relay_apps_client *c)
{
	ferry_relay_close(t->relay, &c->fd);
	c->done = true;
	t->clients_done++;
}

static void client_write(struct ferry_relay_apps *t, struct ferry_relay_apps_client *c, unsigned i)
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

static void client_read(struct ferry_relay_apps *t, struct ferry_relay_apps_client *c, unsigned i)
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

static void client_io(struct ferry_relay_apps *t, unsigned i, uint32_t events)
{
	struct ferry_relay_apps_client *c = &t->clients[i];

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
		ferry_relay_watch(t->relay, c->fd, FERRY_RELAY_APPS_K_CLIENT, i,
				  client_interest(c));
}

/* A nonblocking client socket in the current namespace (A), bound to the TUN's address. */
void ferry_relay_apps_client_add(struct ferry_relay_apps *t, size_t up_len, size_t down_len)
{
	struct ferry_relay_apps_client *c = &t->clients[t->nclients++];

	memset(c, 0, sizeof(*c));
	c->fd = ferry_relay_apps_bound_socket(SOCK_STREAM, FERRY_RELAY_CLIENT_ADDR);
	c->port = ferry_relay_apps_local_port(c->fd);
	c->up_len = up_len;
	c->down_len = down_len;
}

/* Starts client i's connect to dst (from B: the socket stays in A). */
void ferry_relay_apps_client_connect(struct ferry_relay_apps *t, unsigned i,
				     const struct ferry_endpoint *dst)
{
	struct ferry_relay_apps_client *c = &t->clients[i];
	struct sockaddr_in sin = ferry_relay_apps_sin_of(dst);

	ck_assert_msg(connect(c->fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 &&
			  errno == EINPROGRESS,
		      "client %u: connect did not start: %s", i, strerror(errno));
	ferry_relay_watch(t->relay, c->fd, FERRY_RELAY_APPS_K_CLIENT, i, EPOLLOUT);
}

/* ---- servers (namespace B) ------------------------------------------------------------ */

static uint32_t server_interest(const struct ferry_relay_apps_server *s,
				const struct ferry_relay_apps *t)
{
	uint32_t ev = s->eof || s->hold_reads ? 0 : EPOLLIN;

	if (s->conn >= 0 && !s->wr_done && !t->hold_server_writes &&
	    s->sent < t->clients[s->conn].down_len)
		ev |= EPOLLOUT;
	return ev;
}

static void server_shutdown(struct ferry_relay_apps_server *s)
{
	ck_assert_int_eq(shutdown(s->fd, SHUT_WR), 0);
	s->wr_done = true;
}

/* Reads the 8-byte header that names the connection. Returns false until it is complete. */
static bool server_header(struct ferry_relay_apps *t, struct ferry_relay_apps_server *s)
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
	/* held reads wait for the fake transport's view of pressure, which a bridged relay
	 * does not have */
	s->hold_reads = conn < FERRY_RELAY_APPS_HELD_UP && !ferry_relay_bridged(t->relay);
	return true;
}

static void server_read(struct ferry_relay_apps *t, struct ferry_relay_apps_server *s)
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

static void server_write(struct ferry_relay_apps *t, struct ferry_relay_apps_server *s)
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

static void server_io(struct ferry_relay_apps *t, unsigned k, uint32_t events)
{
	struct ferry_relay_apps_server *s = &t->servers[k];

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
	ferry_relay_watch(t->relay, s->fd, FERRY_RELAY_APPS_K_SERVER, k, server_interest(s, t));
}

void ferry_relay_apps_client_watch(struct ferry_relay_apps *t, unsigned i)
{
	struct ferry_relay_apps_client *c = &t->clients[i];

	ferry_relay_watch(t->relay, c->fd, FERRY_RELAY_APPS_K_CLIENT, i, client_interest(c));
}

void ferry_relay_apps_server_watch(struct ferry_relay_apps *t, unsigned k)
{
	struct ferry_relay_apps_server *s = &t->servers[k];

	ferry_relay_watch(t->relay, s->fd, FERRY_RELAY_APPS_K_SERVER, k, server_interest(s, t));
}

static void listener_accept(struct ferry_relay_apps *t, int lfd)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct ferry_relay_apps_server *s;

		if (fd < 0 && errno == EAGAIN)
			return;
		ck_assert_msg(fd >= 0, "accept: %s", strerror(errno));
		ck_assert_msg(t->nservers < CONNS, "more connections accepted than made");
		s = &t->servers[t->nservers];
		memset(s, 0, sizeof(*s));
		s->fd = fd;
		s->conn = -1;
		ferry_relay_watch(t->relay, fd, FERRY_RELAY_APPS_K_SERVER, (uint32_t)t->nservers++,
				  EPOLLIN);
	}
}

void ferry_relay_apps_listener_add(struct ferry_relay_apps *t, const char *addr)
{
	int fd = ferry_relay_apps_bound_socket(SOCK_STREAM, addr);

	ck_assert_int_eq(listen(fd, SOMAXCONN), 0);
	ferry_relay_apps_ep4(&t->dests[t->nlisteners], addr, ferry_relay_apps_local_port(fd));
	t->listeners[t->nlisteners] = fd;
	ferry_relay_watch(t->relay, fd, FERRY_RELAY_APPS_K_LISTEN, (uint32_t)t->nlisteners++,
			  EPOLLIN);
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
static void release_holds(struct ferry_relay_apps *t)
{
	int k;

	for (k = 0; k < t->nservers; k++) {
		struct ferry_relay_apps_server *s = &t->servers[k];
		struct ferry_relay_apps_client *c;

		if (!s->hold_reads || !ferry_relay_path(t->relay, s->conn)->up_pressure)
			continue;
		c = &t->clients[s->conn];
		if (c->wr_done || !send_buffer_full(c->fd))
			continue;
		c->blocked_under_pressure = true;
		s->hold_reads = false;
		ferry_relay_watch(t->relay, s->fd, FERRY_RELAY_APPS_K_SERVER, (uint32_t)k,
				  server_interest(s, t));
	}
	for (k = 0; k < t->nservers; k++) {
		struct ferry_relay_apps_server *s = &t->servers[k];
		struct ferry_relay_apps_client *c;

		if (s->conn < 0 || !t->clients[s->conn].hold_reads ||
		    !ferry_relay_path(t->relay, s->conn)->down_pressure)
			continue;
		c = &t->clients[s->conn];
		if (s->wr_done || !send_buffer_full(s->fd))
			continue;
		s->blocked_under_pressure = true;
		c->hold_reads = false;
		ferry_relay_watch(t->relay, c->fd, FERRY_RELAY_APPS_K_CLIENT, (uint32_t)s->conn,
				  client_interest(c));
	}
}

/* ---- UDP endpoints -------------------------------------------------------------------- */

/* Datagram seq: byte 0 is seq, the rest seeded; the server answers with each byte
 * inverted, from where it was sent to; seq 0 also gets a datagram from the other server. */
size_t ferry_relay_apps_udp_len(unsigned seq)
{
	return 1 + (seq * 337u) % 1400u;
}

void ferry_relay_apps_udp_fill(unsigned seq, uint8_t *buf)
{
	stream_fill(0x7564700000000000ull + seq, 0, buf, ferry_relay_apps_udp_len(seq));
	buf[0] = (uint8_t)seq;
}

static void userver_io(struct ferry_relay_apps *t, unsigned k)
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
	ck_assert_uint_lt(seq, FERRY_RELAY_APPS_UDP_COUNT);
	ck_assert_uint_eq((size_t)n, ferry_relay_apps_udp_len(seq));
	ferry_relay_apps_udp_fill(seq, t->expect);
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

static void uclient_io(struct ferry_relay_apps *t)
{
	struct sockaddr_in from = {0};
	socklen_t sl = sizeof(from);
	ssize_t n = recvfrom(t->uclient, t->scratch, IO_CHUNK, 0, (struct sockaddr *)&from, &sl);
	struct sockaddr_in s0 = ferry_relay_apps_sin_of(&t->udst[0]),
			   s1 = ferry_relay_apps_sin_of(&t->udst[1]);
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
	ck_assert_uint_lt(seq, FERRY_RELAY_APPS_UDP_COUNT);
	ck_assert_uint_eq((size_t)n, ferry_relay_apps_udp_len(seq));
	ferry_relay_apps_udp_fill(seq, t->expect);
	for (i = 0; i < (size_t)n; i++)
		t->expect[i] = (uint8_t)~t->expect[i];
	check_bytes("UDP reply", seq, 0, t->scratch, t->expect, (size_t)n);
	t->udp_replies++;
}

/* ---- ICMP echo ------------------------------------------------------------------------ */

/* Echo request seq: an ICMP header (id and checksum are the ping socket's) and a seeded
 * payload. */
void ferry_relay_apps_ping_fill(unsigned seq, uint8_t *buf)
{
	memset(buf, 0, 8);
	buf[0] = 8; /* echo request */
	buf[6] = (uint8_t)(seq >> 8);
	buf[7] = (uint8_t)seq;
	stream_fill(0x70696e6700000000ull + seq, 0, buf + 8, FERRY_RELAY_APPS_PING_LEN);
}

static void ping_io(struct ferry_relay_apps *t)
{
	struct sockaddr_in from = {0};
	socklen_t sl = sizeof(from);
	struct sockaddr_in dst = ferry_relay_apps_sin_of(&t->udst[0]);
	ssize_t n = recvfrom(t->ping, t->scratch, IO_CHUNK, 0, (struct sockaddr *)&from, &sl);
	unsigned seq;

	if (n < 0 && errno == EAGAIN)
		return;
	ck_assert_int_eq(n, 8 + FERRY_RELAY_APPS_PING_LEN);
	ck_assert_uint_eq(t->scratch[0], 0); /* echo reply */
	ck_assert_msg(from.sin_addr.s_addr == dst.sin_addr.s_addr, "echo reply from %s",
		      inet_ntoa(from.sin_addr));
	seq = (unsigned)t->scratch[6] << 8 | t->scratch[7];
	ck_assert_uint_ge(seq, 1);
	ck_assert_uint_le(seq, FERRY_RELAY_APPS_PINGS);
	ferry_relay_apps_ping_fill(seq, t->expect);
	check_bytes("echo payload", seq, 0, t->scratch + 8, t->expect + 8,
		    FERRY_RELAY_APPS_PING_LEN);
	t->ping_replies++;
}

/* ---- checks -------------------------------------------------------------------------- */

/* The server of connection conn, NULL before its header came. */
const struct ferry_relay_apps_server *ferry_relay_apps_server_of(const struct ferry_relay_apps *t,
								 int conn)
{
	int k;

	for (k = 0; k < t->nservers; k++)
		if (t->servers[k].conn == conn)
			return &t->servers[k];
	return NULL;
}

void ferry_relay_apps_check_connection(const struct ferry_relay_apps *t, unsigned i)
{
	const struct ferry_relay_apps_client *c = &t->clients[i];
	const struct ferry_relay_path *p = ferry_relay_path(t->relay, (int)i);
	const struct ferry_relay_apps_server *s = ferry_relay_apps_server_of(t, (int)i);

	ck_assert_msg(c->err == 0 && c->sent == c->up_len && c->rcvd == c->down_len && c->eof,
		      "client %u: error %d, sent %zu/%zu, received %zu/%zu", i, c->err, c->sent,
		      c->up_len, c->rcvd, c->down_len);
	ck_assert_msg(s != NULL, "connection %u never reached a server", i);
	ck_assert_msg(s->done && s->rcvd == c->up_len && s->sent == c->down_len,
		      "server %u: done %d, received %zu/%zu, sent %zu/%zu", i, s->done, s->rcvd,
		      c->up_len, s->sent, c->down_len);
	ck_assert_msg(
	    p->stack_ended && p->stack_reason == 0 &&
		((p->egress_ended && p->egress_reason == 0) || ferry_relay_bridged(t->relay)),
	    "connection %u ended uncleanly: stack %d (%d), egress %d (%d)", i, p->stack_ended,
	    p->stack_reason, p->egress_ended, p->egress_reason);
}

/* ---- the relay's caller --------------------------------------------------------------- */

/* The client whose socket is the application's end src (the last one added wins). */
static int scene_conn_of(void *ctx, const struct ferry_endpoint *src)
{
	const struct ferry_relay_apps *t = ctx;
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
	struct ferry_relay_apps *t = ctx;

	switch (kind) {
	case FERRY_RELAY_APPS_K_CLIENT:
		client_io(t, index, events);
		break;
	case FERRY_RELAY_APPS_K_LISTEN:
		listener_accept(t, fd);
		break;
	case FERRY_RELAY_APPS_K_SERVER:
		server_io(t, index, events);
		break;
	case FERRY_RELAY_APPS_K_UCLIENT:
		uclient_io(t);
		break;
	case FERRY_RELAY_APPS_K_USERVER:
		userver_io(t, index);
		break;
	case FERRY_RELAY_APPS_K_PING:
		ping_io(t);
		break;
	default:
		ck_abort_msg("event for fd %d of no kind", fd);
	}
}

static void scene_describe(void *ctx, char *msg, size_t size)
{
	const struct ferry_relay_apps *t = ctx;
	size_t off = 0;
	int i, shown = 0;

	off += (size_t)snprintf(msg, size, "clients %u/%d, servers %u/%d accepted %d;",
				t->clients_done, t->nclients, t->servers_done, t->nclients,
				t->nservers);
	for (i = 0; i < t->nclients && shown < 4 && off + 160 < size; i++) {
		const struct ferry_relay_apps_client *c = &t->clients[i];
		const struct ferry_relay_path *p = ferry_relay_path(t->relay, i);
		const struct ferry_relay_apps_server *sv = ferry_relay_apps_server_of(t, i);

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

struct ferry_relay_apps *ferry_relay_apps_new(void)
{
	struct ferry_relay_apps *t = calloc(1, sizeof(*t));
	int k;

	ck_assert_ptr_nonnull(t);
	t->relay = ferry_relay_new(&scene_ops, t);
	t->uclient = -1;
	t->ping = -1;
	for (k = 0; k < 2; k++)
		t->userver[k] = -1;
	return t;
}

void ferry_relay_apps_free(struct ferry_relay_apps *t)
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
