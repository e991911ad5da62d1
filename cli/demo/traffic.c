// SPDX-License-Identifier: MIT
/*
 * The demo's traffic (see demo.h), each function the body of one process forked into a
 * namespace by world.c. Goodput is counted where it matters, at the receiver: the sink
 * writes its running total to a pipe every DEMO_REPORT_MS, and demo.c turns the totals
 * into rates. Request/response uses one connection with Nagle off, one 64-byte request
 * at a time, so each sample is one round trip through whatever the path does to it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cli/demo/internal.h"

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int listener(uint16_t port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(fd, 8) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int connect_to(const char *addr, uint16_t port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || inet_pton(AF_INET, addr, &sin.sin_addr) != 1 ||
	    connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* All of len bytes written (out) or read (!out); false on an error or the end. */
static bool io_all(int fd, void *buf, size_t len, bool out)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = out ? write(fd, p, len) : read(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

static bool write_all(int fd, const void *buf, size_t len)
{
	return io_all(fd, (void *)buf, len, true);
}

static bool read_all(int fd, void *buf, size_t len)
{
	return io_all(fd, buf, len, false);
}

int demo_sink(void *arg)
{
	const struct demo_sink *s = arg;
	static uint8_t buf[1 << 16];
	uint64_t total = 0, last = now_us();
	struct pollfd pfd[2] = {{.fd = listener(DEMO_BULK_PORT), .events = POLLIN},
				{.fd = -1, .events = POLLIN}};

	if (pfd[0].fd < 0)
		return 1;
	for (;;) {
		int r = poll(pfd, 2, DEMO_REPORT_MS);

		if (r > 0 && (pfd[0].revents & POLLIN) && pfd[1].fd < 0)
			pfd[1].fd = accept4(pfd[0].fd, NULL, NULL, SOCK_CLOEXEC);
		if (r > 0 && pfd[1].fd >= 0 && (pfd[1].revents & (POLLIN | POLLHUP | POLLERR))) {
			ssize_t n = read(pfd[1].fd, buf, sizeof(buf));

			if (n > 0) {
				total += (uint64_t)n;
			} else if (n == 0 || errno != EINTR) {
				close(pfd[1].fd); /* the sender stopped: ready for the next */
				pfd[1].fd = -1;
			}
		}
		if (now_us() - last >= (uint64_t)DEMO_REPORT_MS * 1000u) {
			last = now_us();
			if (!write_all(s->report_fd, &total, sizeof(total)))
				return 0; /* the demo is gone */
		}
	}
}

int demo_source(void *arg)
{
	const struct demo_source *s = arg;
	static uint8_t buf[1 << 16];
	int fd = connect_to(s->addr, DEMO_BULK_PORT);

	if (fd < 0)
		return 1;
	if (s->cc && setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, s->cc, strlen(s->cc)) < 0)
		return 2;
	memset(buf, 0x5a, sizeof(buf));
	while (write_all(fd, buf, sizeof(buf)))
		;
	return 0;
}

static void serve_rr(int fd)
{
	uint8_t req[DEMO_RR_SIZE];
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	while (read_all(fd, req, sizeof(req)) && write_all(fd, req, sizeof(req)))
		;
	close(fd);
}

int demo_rr_server(void *arg)
{
	int lfd = listener(DEMO_RR_PORT), fd;

	(void)arg;
	if (lfd < 0)
		return 1;
	/* one connection at a time: the client asks over one, sequentially */
	while ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0 || errno == EINTR)
		if (fd >= 0)
			serve_rr(fd);
	return 1;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int demo_rr_client(void *arg)
{
	const struct demo_rr *r = arg;
	uint8_t req[DEMO_RR_SIZE], resp[DEMO_RR_SIZE];
	uint64_t *t = r->count ? calloc(r->count, sizeof(*t)) : NULL, out[2];
	int one = 1, ret = 1, fd = t ? connect_to(r->addr, DEMO_RR_PORT) : -1;
	unsigned i;

	if (fd < 0)
		goto out;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	for (i = 0; i < DEMO_RR_SIZE; i++)
		req[i] = (uint8_t)i;
	for (i = 0; i < r->count; i++) {
		uint64_t start = now_us();

		if (!write_all(fd, req, sizeof(req)) || !read_all(fd, resp, sizeof(resp)) ||
		    memcmp(req, resp, sizeof(req)) != 0)
			goto out;
		t[i] = now_us() - start;
	}
	qsort(t, r->count, sizeof(*t), cmp_u64);
	/* nearest rank: the smallest sample at or above the percentile */
	out[0] = t[(r->count * 50 + 99) / 100 - 1];
	out[1] = t[(r->count * 99 + 99) / 100 - 1];
	ret = write_all(r->report_fd, out, sizeof(out)) ? 0 : 1;
out:
	if (fd >= 0)
		close(fd);
	free(t);
	return ret;
}
