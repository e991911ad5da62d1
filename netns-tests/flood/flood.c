// SPDX-License-Identifier: MIT
/*
 * ferry-flood: replays one handshake initiation at a peer, as fast as asked, for the
 * namespace tests of handshake load (netns-tests/flood.sh).
 *
 *   ferry-flood --key FILE --peer PUBKEY --to ADDR:PORT [--rate PPS] [--seconds S]
 *
 * It makes one genuine initiation from the private key in FILE to the peer PUBKEY (as a
 * ferry with that key would, mac1 included), then sends that same datagram over and over:
 * what an attacker who captured one initiation on the wire can do from anywhere. The first
 * copy may be accepted (it is new); every other one is a replay that only a Diffie-Hellman
 * shows to be one -- unless the peer's cookies are on. Prints what it sent.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cli/key.h"
#include "transport/noise.h"

enum {
	BATCH = 32
};

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static int usage(void)
{
	fprintf(stderr, "usage: ferry-flood --key FILE --peer PUBKEY --to ADDR:PORT "
			"[--rate PPS] [--seconds S]\n");
	return 2;
}

static int read_key(const char *path, uint8_t key[32])
{
	char text[128] = "";
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return -errno;
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	text[strcspn(text, " \t\r\n")] = '\0';
	return ferry_key_from_base64(key, text);
}

static int parse_to(const char *arg, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[64];
	const char *colon = strrchr(arg, ':');
	char *end = NULL;
	unsigned long port;
	size_t hlen;

	if (!colon || (size_t)(colon - arg) >= sizeof(host))
		return -EINVAL;
	port = strtoul(colon + 1, &end, 10);
	if (!end || *end || port == 0 || port > 65535)
		return -EINVAL;
	hlen = (size_t)(colon - arg);
	memcpy(host, arg, hlen);
	host[hlen] = '\0';
	if (host[0] == '[' && hlen > 2 && host[hlen - 1] == ']') {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		host[hlen - 1] = '\0';
		memset(a, 0, sizeof(*a));
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		*len = sizeof(*a);
		return inet_pton(AF_INET6, host + 1, &a->sin6_addr) == 1 ? 0 : -EINVAL;
	}
	struct sockaddr_in *a = (struct sockaddr_in *)ss;

	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)port);
	*len = sizeof(*a);
	return inet_pton(AF_INET, host, &a->sin_addr) == 1 ? 0 : -EINVAL;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"key", required_argument, NULL, 'k'},     {"peer", required_argument, NULL, 'p'},
	    {"to", required_argument, NULL, 't'},      {"rate", required_argument, NULL, 'r'},
	    {"seconds", required_argument, NULL, 's'}, {NULL, 0, NULL, 0},
	};
	const char *key_path = NULL, *peer_text = NULL, *to_text = NULL;
	unsigned long rate = 20000, seconds = 5;
	struct ferry_noise_config cfg = {0};
	static struct ferry_noise_local local_storage;
	static struct ferry_noise_peer peer_storage;
	struct ferry_noise_local *local = &local_storage;
	struct ferry_noise_peer *peer = &peer_storage;
	uint8_t peer_pub[32], init[FERRY_MSG_INITIATION_LEN];
	struct mmsghdr msgs[BATCH];
	struct iovec iov = {.iov_base = init, .iov_len = sizeof(init)};
	struct sockaddr_storage to;
	struct timespec rt, ts;
	socklen_t to_len = 0;
	uint64_t start, next, sent = 0, refused = 0;
	int c, fd, i;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'k':
			key_path = optarg;
			break;
		case 'p':
			peer_text = optarg;
			break;
		case 't':
			to_text = optarg;
			break;
		case 'r':
			rate = strtoul(optarg, NULL, 10);
			break;
		case 's':
			seconds = strtoul(optarg, NULL, 10);
			break;
		default:
			return usage();
		}
	}
	if (!key_path || !peer_text || !to_text || !rate || !seconds)
		return usage();
	if (read_key(key_path, cfg.static_private) != 0 ||
	    ferry_key_from_base64(peer_pub, peer_text) != 0 || parse_to(to_text, &to, &to_len)) {
		fprintf(stderr, "ferry-flood: bad --key, --peer or --to\n");
		return 2;
	}
	if (ferry_noise_local_init(local, &cfg) != 0 ||
	    ferry_noise_peer_init(local, peer, peer_pub, NULL) != 0) {
		fprintf(stderr, "ferry-flood: cannot set up the handshake\n");
		return 1;
	}
	clock_gettime(CLOCK_REALTIME, &rt);
	if (ferry_noise_create_initiation(
		peer, 0, (uint64_t)rt.tv_sec * 1000000000ULL + (uint64_t)rt.tv_nsec, init) != 0)
		return 1;
	fd = socket(to.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		perror("ferry-flood: socket");
		return 1;
	}
	memset(msgs, 0, sizeof(msgs));
	for (i = 0; i < BATCH; i++) {
		msgs[i].msg_hdr.msg_name = &to;
		msgs[i].msg_hdr.msg_namelen = to_len;
		msgs[i].msg_hdr.msg_iov = &iov;
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	start = next = now_ns();
	while (!stop && next - start < seconds * 1000000000ULL) {
		int n = sendmmsg(fd, msgs, BATCH, 0);

		if (n > 0)
			sent += (uint64_t)n;
		else
			refused += BATCH;
		next += BATCH * 1000000000ULL / rate;
		/* asleep between batches: the flood must not take a CPU from what it floods */
		ts.tv_sec = (time_t)(next / 1000000000ULL);
		ts.tv_nsec = (long)(next % 1000000000ULL);
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
			;
	}
	printf("sent %llu initiations in %.1f s (%llu refused by the socket)\n",
	       (unsigned long long)sent, (double)(now_ns() - start) / 1e9,
	       (unsigned long long)refused);
	close(fd);
	ferry_noise_local_destroy(local);
	return 0;
}
