// SPDX-License-Identifier: MIT
/* Batched UDP over loopback, IPv4 and IPv6: contents, order, senders, truncation, options. */
#include <errno.h>
#include <netinet/ip.h>
#include <string.h>
#include <unistd.h>

#include "tests/support/fixture.h"
#include "transport/udp.h"

static void fill(struct ferry_buf *buf, unsigned int i)
{
	uint32_t len = 1 + (i * 97) % 1400;
	uint8_t *p = ferry_buf_put(buf, len);
	uint32_t k;

	ck_assert_ptr_nonnull(p);
	for (k = 0; k < len; k++)
		p[k] = (uint8_t)(i + k);
}

static void check_contents(const struct ferry_buf *buf, unsigned int i)
{
	uint32_t k;

	ck_assert_uint_eq(buf->len, 1 + (i * 97) % 1400);
	for (k = 0; k < buf->len; k++)
		ck_assert_uint_eq(buf->data[k], (uint8_t)(i + k));
}

/* Receives until n datagrams arrived or 200 empty polls passed. */
static unsigned int recv_all(struct ferry_udp *rx, struct ferry_buf **bufs,
			     struct ferry_sockaddr *from, unsigned int n)
{
	unsigned int got = 0, idle = 0;

	while (got < n && idle < 200) {
		int r = ferry_udp_recv_batch(rx, bufs + got, from + got,
					     n - got < FERRY_UDP_BATCH ? n - got : FERRY_UDP_BATCH);

		ck_assert_int_ge(r, 0);
		if (r == 0) {
			idle++;
			usleep(1000);
		}
		got += (unsigned int)r;
	}
	return got;
}

static void batch_round_trip(const char *addr)
{
	enum {
		N = 200
	};
	struct ferry_buf *out[N], *in[N];
	struct ferry_sockaddr local, to[N], from[N];
	struct ferry_udp a, b;
	struct ferry_pool pool;
	unsigned int i, sent = 0;

	ck_assert_int_eq(ferry_pool_init(&pool, 2 * N, 2048, 64), 0);
	ck_assert_int_eq(ferry_sockaddr_from(&local, addr, 0), 0);
	ck_assert_int_eq(ferry_udp_open(&a, &local, NULL), 0);
	ck_assert_int_eq(ferry_udp_open(&b, &local, NULL), 0);
	ck_assert_uint_ne(ntohs(b.local.in4.sin_port), 0); /* same offset in both families */

	for (i = 0; i < N; i++) {
		out[i] = ferry_pool_get(&pool);
		in[i] = ferry_pool_get(&pool);
		fill(out[i], i);
		to[i] = b.local;
	}
	ck_assert_int_eq(ferry_udp_recv_batch(&b, in, from, FERRY_UDP_BATCH), 0);
	/* One batch in flight at a time: the default receive buffer holds about a hundred
	 * datagrams' worth of kernel memory on loopback, and this is not a buffer test. */
	while (sent < N) {
		unsigned int n = N - sent < FERRY_UDP_BATCH ? N - sent : FERRY_UDP_BATCH;
		unsigned int k = 0;

		while (k < n) {
			int r = ferry_udp_send_batch(&a, out + sent + k, to + sent + k, n - k);

			ck_assert_int_ge(r, 0);
			k += (unsigned int)r;
		}
		ck_assert_uint_eq(recv_all(&b, in + sent, from + sent, n), n);
		sent += n;
	}
	for (i = 0; i < N; i++) {
		check_contents(in[i], i);
		ck_assert_uint_eq(from[i].len, a.local.len);
		ck_assert_mem_eq(&from[i].sa, &a.local.sa, a.local.len);
	}
	ck_assert_uint_eq(a.stats.tx_datagrams, N);
	ck_assert_uint_eq(b.stats.rx_datagrams, N);
	ck_assert_uint_eq(b.stats.rx_bytes, a.stats.tx_bytes);

	for (i = 0; i < N; i++) {
		ferry_pool_put(&pool, out[i]);
		ferry_pool_put(&pool, in[i]);
	}
	ferry_udp_close(&a);
	ferry_udp_close(&b);
	ferry_udp_close(&b);
	ferry_ck_pool_idle(&pool);
	ferry_pool_destroy(&pool);
}

START_TEST(ipv4_batches)
{
	batch_round_trip("127.0.0.1");
}
END_TEST

START_TEST(ipv6_batches)
{
	batch_round_trip("::1");
}
END_TEST

START_TEST(truncated_datagrams_are_dropped_and_counted)
{
	struct ferry_buf *small[3], *big;
	struct ferry_sockaddr local, from[3], to[3];
	struct ferry_pool pool, big_pool;
	struct ferry_udp a, b;
	int i;

	ck_assert_int_eq(ferry_pool_init(&pool, 3, 100, 0), 0);
	ck_assert_int_eq(ferry_pool_init(&big_pool, 3, 1000, 0), 0);
	ck_assert_int_eq(ferry_sockaddr_from(&local, "127.0.0.1", 0), 0);
	ck_assert_int_eq(ferry_udp_open(&a, &local, NULL), 0);
	ck_assert_int_eq(ferry_udp_open(&b, &local, NULL), 0);

	/* small, too big, small: the receiver keeps the two small ones, in order. */
	for (i = 0; i < 3; i++) {
		big = ferry_pool_get(&big_pool);
		memset(ferry_buf_put(big, i == 1 ? 500 : 50), 'a' + i, i == 1 ? 500 : 50);
		to[i] = b.local;
		ck_assert_int_eq(ferry_udp_send_batch(&a, &big, &to[i], 1), 1);
		ferry_pool_put(&big_pool, big);
		small[i] = ferry_pool_get(&pool);
	}
	ck_assert_uint_eq(recv_all(&b, small, from, 2), 2);
	ck_assert_uint_eq(b.stats.rx_truncated, 1);
	ck_assert_uint_eq(small[0]->len, 50);
	ck_assert_uint_eq(small[0]->data[0], 'a');
	ck_assert_uint_eq(small[1]->len, 50);
	ck_assert_uint_eq(small[1]->data[0], 'c');

	for (i = 0; i < 3; i++)
		ferry_pool_put(&pool, small[i]);
	ferry_udp_close(&a);
	ferry_udp_close(&b);
	ferry_ck_pool_idle(&pool);
	ferry_ck_pool_idle(&big_pool);
	ferry_pool_destroy(&pool);
	ferry_pool_destroy(&big_pool);
}
END_TEST

START_TEST(options_and_errors)
{
	struct ferry_udp_opts opts = {.rcvbuf = 4 << 20, .sndbuf = 4 << 20, .dscp = 46};
	struct ferry_sockaddr local, taken;
	struct ferry_udp a, b;
	socklen_t len = sizeof(int);
	int tos = 0, rcvbuf = 0;

	ck_assert_int_eq(ferry_sockaddr_from(&local, "not an address", 1), -EINVAL);
	ck_assert_int_eq(ferry_sockaddr_from(&local, "127.0.0.1", 0), 0);
	opts.dscp = 64;
	ck_assert_int_eq(ferry_udp_open(&a, &local, &opts), -EINVAL);
	opts.dscp = 46; /* EF */
	ck_assert_int_eq(ferry_udp_open(&a, &local, &opts), 0);
	ck_assert_int_eq(getsockopt(a.fd, IPPROTO_IP, IP_TOS, &tos, &len), 0);
	ck_assert_int_eq(tos, 46 << 2);
	len = sizeof(int);
	ck_assert_int_eq(getsockopt(a.fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, &len), 0);
	if (geteuid() == 0) /* forced past the system limit only when privileged */
		ck_assert_int_ge(rcvbuf, 4 << 20);

	taken = a.local;
	ck_assert_int_eq(ferry_udp_open(&b, &taken, NULL), -EADDRINUSE);
	ck_assert_int_eq(b.fd, -1);

	ck_assert_int_eq(ferry_udp_send_batch(&a, NULL, NULL, FERRY_UDP_BATCH + 1), -EINVAL);
	ck_assert_int_eq(ferry_udp_recv_batch(&a, NULL, NULL, FERRY_UDP_BATCH + 1), -EINVAL);
	ferry_udp_close(&a);
}
END_TEST

START_TEST(send_errors_drop_one_datagram_and_go_on)
{
	struct ferry_sockaddr local, to[3];
	struct ferry_buf *bufs[3];
	struct ferry_pool pool;
	struct ferry_udp a, b;
	int i;

	ck_assert_int_eq(ferry_pool_init(&pool, 3, 100, 0), 0);
	ck_assert_int_eq(ferry_sockaddr_from(&local, "127.0.0.1", 0), 0);
	ck_assert_int_eq(ferry_udp_open(&a, &local, NULL), 0);
	ck_assert_int_eq(ferry_udp_open(&b, &local, NULL), 0);
	for (i = 0; i < 3; i++) {
		bufs[i] = ferry_pool_get(&pool);
		memset(ferry_buf_put(bufs[i], 10), 'x', 10);
		to[i] = b.local;
	}
	/* An IPv6 destination on an IPv4 socket is refused for that datagram only. */
	ck_assert_int_eq(ferry_sockaddr_from(&to[1], "::1", 9), 0);
	ck_assert_int_eq(ferry_udp_send_batch(&a, bufs, to, 3), 3);
	ck_assert_uint_eq(a.stats.tx_errors, 1);
	ck_assert_uint_eq(a.stats.tx_datagrams, 2);

	for (i = 0; i < 3; i++)
		ferry_pool_put(&pool, bufs[i]);
	ferry_udp_close(&a);
	ferry_udp_close(&b);
	ferry_ck_pool_idle(&pool);
	ferry_pool_destroy(&pool);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("udp");
	TCase *tc = ferry_tcase("udp", 10);

	tcase_add_test(tc, ipv4_batches);
	tcase_add_test(tc, ipv6_batches);
	tcase_add_test(tc, truncated_datagrams_are_dropped_and_counted);
	tcase_add_test(tc, options_and_errors);
	tcase_add_test(tc, send_errors_drop_one_datagram_and_go_on);
	suite_add_tcase(s, tc);
	return ferry_run_suite(s);
}
