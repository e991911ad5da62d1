// SPDX-License-Identifier: MIT
/*
 * ferry-wanem: a WAN emulator for ferry's namespace tests. This kernel has no netem, so
 * delay, jitter, loss, duplication, reordering and a rate-limited bottleneck are emulated
 * here, in user space, on a layer-2 bridge between two interfaces (normally veth ends
 * towards a client and a server namespace). --help lists the options; wanem_core.c
 * describes the model; wanem_options.c the command line.
 *
 * Theory of operation.
 *
 * Sockets. One AF_PACKET SOCK_RAW socket per interface, bound to it for every protocol,
 * with PACKET_IGNORE_OUTGOING (and a check of sll_pkttype for kernels without it) so the
 * frames we send never come back to us as input, promiscuous membership so a real NIC
 * hands over frames for other hosts (veth does anyway), and PACKET_VNET_HDR: the kernel
 * tells us per frame whether its checksum is still to be filled (checksum offload of the
 * sender) and whether it is a GSO super-frame. A partial checksum is handed on with the
 * frame, so checksum offload may stay on. Super-frames (TSO, GSO, GRO) are dropped and
 * counted as `oversize`: the emulator works on wire frames, so TSO and GSO must be off
 * where frames are sent towards it and GRO on its own interfaces (netns-tests/wanem.sh
 * runs `ethtool -K DEV tso off gso off` on the ends and `gro off` on wa and wb).
 *
 * Buffers. Each direction owns a pool of --pool frame buffers of --frame-max bytes,
 * allocated at start; nothing is allocated per packet. recvmmsg reads a batch straight into
 * free buffers; the core (ferry_wanem_path_input) decides each frame's fate and returns how
 * many copies it scheduled (0, 1, or 2 with duplication), which becomes the buffer's
 * reference count. When the pool is empty, frames are read into a scratch buffer and
 * dropped (`nobuf`), so the socket never backs up behind a stalled path.
 *
 * Time. One thread, one epoll loop over the two sockets, a signalfd and a timerfd. The
 * clock is CLOCK_MONOTONIC in nanoseconds; the timerfd is armed (absolute time) for the
 * earliest departure of both directions, which the core keeps exact in virtual time, so a
 * late wake-up delays one batch but never drifts the rate. Every wake-up sends all that
 * is due in batches with sendmmsg, and drops a buffer's reference for each copy sent.
 * A wake-up is late by tens of microseconds on an idle machine; on a busy one the
 * scheduler may keep us waiting for milliseconds, which --rt-priority (SCHED_FIFO)
 * prevents. The loop sleeps whenever nothing is due, so it never spins at that priority.
 *
 * Backpressure. A receiver slower than the emulator (a veth peer whose ring is full)
 * makes sendmmsg fail with ENOBUFS. Those drops would be the test set-up's, not the
 * emulated path's, so the unsent rest of the batch is held, in order and ahead of
 * everything else of its direction, and retried TX_RETRY_NS later (`txbusy` counts the
 * stalls). Only a receiver that refuses for longer than TX_STALL_MAX_NS loses copies,
 * counted as `txerr` like any other send error.
 *
 * Statistics. SIGUSR1 prints them to stdout and rewrites the --stats file; SIGTERM and
 * SIGINT stop the loop and do both once more. The stats file holds one line per direction:
 *   dir=a2b pkts_in=.. bytes_in=.. pkts_out=.. bytes_out=.. lost=.. qdrop=.. dup=..
 *   reordered=.. qmax_pkts=.. qmax_bytes=.. oversize=.. nobuf=.. txerr=.. txbusy=..
 *   kdrop=.. pending=.. late_avg_us=.. late_max_us=.. late_1ms=..
 * in which pkts_in = oversize + nobuf + lost + qdrop + pkts_out + txerr + pending - dup.
 * kdrop counts frames the kernel dropped before we read them (PACKET_STATISTICS), which
 * pkts_in never saw. late_* say how long after their scheduled time copies left (the
 * precision of the timer and of the loop); late_1ms counts those more than 1 ms late.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/if_packet.h>
#include <linux/virtio_net.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "netns-tests/wanem/wanem_core.h"
#include "netns-tests/wanem/wanem_options.h"

#define PROG		"ferry-wanem"
#define BATCH		64
#define VNET_LEN	sizeof(struct virtio_net_hdr)
#define SOCK_RCVBUF	(16 << 20) /* absorbs ~10k frames while we are busy elsewhere */
#define SOCK_SNDBUF	(4 << 20)
#define L2_OVERHEAD	18	     /* Ethernet header and one VLAN tag on top of the MTU */
#define TX_RETRY_NS	50000ull     /* a stalled direction tries again after 50 us */
#define LATE_NS		1000000ull   /* a departure this late counts in late_1ms */
#define TX_STALL_MAX_NS 100000000ull /* and gives copies up after 100 ms of refusals */

/* One interface and its socket. */
struct port {
	const char *name;
	int ifindex;
	int fd;
};

/* The frame buffers of one direction: a free stack of indices into data. */
struct pool {
	uint8_t *data; /* n * frame_max bytes */
	struct virtio_net_hdr *vnet;
	uint8_t *refs; /* copies still to send */
	uint32_t *free;
	uint32_t nfree, n, frame_max;
};

/* Counters of a direction the core never sees: they happen at the sockets. */
struct io_stats {
	uint64_t pkts_in, bytes_in;   /* frames read */
	uint64_t pkts_out, bytes_out; /* copies sent */
	uint64_t oversize, nobuf, txerr, kdrop;
	uint64_t txbusy; /* times the kernel had no room and the direction stalled */
	/* how late copies left against their scheduled time, ns: the timer's precision */
	uint64_t late_sum, late_n, late_max;
	uint64_t late_1ms; /* copies sent more than LATE_NS after their time */
};

struct dir {
	const char *name;
	struct ferry_wanem_path path;
	struct pool pool;
	struct port *rx, *tx;
	struct io_stats io;
	/* copies taken from the core that the kernel had no room for yet, oldest first;
	 * nothing of this direction leaves before them */
	uint32_t held_slot[BATCH], held_len[BATCH], nheld;
	uint64_t retry_at;   /* when to try them again */
	uint64_t busy_since; /* first refusal of the current stall; 0: none */
};

enum ev_tag {
	EV_PORT_A,
	EV_PORT_B,
	EV_TIMER,
	EV_SIGNAL,
};

struct wanem {
	struct ferry_wanem_options opt;
	struct port port[FERRY_WANEM_DIRS];
	struct dir dir[FERRY_WANEM_DIRS];
	int epfd, timerfd, sigfd;
	uint64_t armed; /* when the timerfd fires; UINT64_MAX: disarmed */
	char stats_tmp[PATH_MAX];
	uint8_t *scratch; /* VNET_LEN + frame_max bytes, for frames we drop unread */

	/* one batch of messages, reused by every receive and send */
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH][2];
	struct sockaddr_ll from[BATCH];
	uint32_t slot[BATCH];
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* --- frame buffers ------------------------------------------------------------------- */

static int pool_init(struct pool *p, uint32_t n, uint32_t frame_max)
{
	uint32_t i;

	memset(p, 0, sizeof(*p));
	p->data = malloc((size_t)n * frame_max);
	p->vnet = calloc(n, sizeof(*p->vnet));
	p->refs = calloc(n, sizeof(*p->refs));
	p->free = calloc(n, sizeof(*p->free));
	if (!p->data || !p->vnet || !p->refs || !p->free) {
		free(p->free);
		free(p->refs);
		free(p->vnet);
		free(p->data);
		return -ENOMEM;
	}
	for (i = 0; i < n; i++)
		p->free[i] = n - 1 - i;
	p->nfree = n;
	p->n = n;
	p->frame_max = frame_max;
	return 0;
}

static void pool_destroy(struct pool *p)
{
	free(p->free);
	free(p->refs);
	free(p->vnet);
	free(p->data);
	memset(p, 0, sizeof(*p));
}

static uint8_t *pool_frame(const struct pool *p, uint32_t i)
{
	return p->data + (size_t)i * p->frame_max;
}

static void pool_put(struct pool *p, uint32_t i)
{
	p->free[p->nfree++] = i;
}

/* --- sockets ------------------------------------------------------------------------- */

static int setopt_int(int fd, int level, int name, int val)
{
	return setsockopt(fd, level, name, &val, sizeof(val)) ? -errno : 0;
}

/* Opens an AF_PACKET socket on ifname (see the theory of operation). Returns 0 or a
 * negative errno after printing what failed. */
static int port_open(struct port *pt, const char *ifname, uint32_t frame_max)
{
	struct sockaddr_ll sll = {0};
	struct packet_mreq mr = {0};
	struct ifreq ifr = {0};
	int err;

	pt->name = ifname;
	pt->fd = -1;
	if (strlen(ifname) >= IFNAMSIZ) {
		fprintf(stderr, PROG ": %s: interface name too long\n", ifname);
		return -EINVAL;
	}
	pt->ifindex = (int)if_nametoindex(ifname);
	if (!pt->ifindex) {
		err = -errno;
		fprintf(stderr, PROG ": %s: no such interface: %s\n", ifname, strerror(-err));
		return err;
	}
	/* protocol 0 until bind: no frames of other interfaces slip in before it */
	pt->fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (pt->fd < 0) {
		err = -errno;
		fprintf(stderr, PROG ": AF_PACKET socket: %s\n", strerror(-err));
		return err;
	}
	memcpy(ifr.ifr_name, ifname, strlen(ifname) + 1);
	if (ioctl(pt->fd, SIOCGIFMTU, &ifr) == 0 &&
	    (uint32_t)ifr.ifr_mtu + L2_OVERHEAD > frame_max) {
		fprintf(stderr, PROG ": %s: MTU %d needs --frame-max %d or more\n", ifname,
			ifr.ifr_mtu, ifr.ifr_mtu + L2_OVERHEAD);
		err = -EINVAL;
		goto err_close;
	}
	err = setopt_int(pt->fd, SOL_PACKET, PACKET_VNET_HDR, 1);
	if (err) {
		fprintf(stderr, PROG ": %s: PACKET_VNET_HDR: %s\n", ifname, strerror(-err));
		goto err_close;
	}
	/* best effort: without it (kernel < 4.20) the sll_pkttype check does the work */
	(void)setopt_int(pt->fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, 1);
	if (setopt_int(pt->fd, SOL_SOCKET, SO_RCVBUFFORCE, SOCK_RCVBUF))
		(void)setopt_int(pt->fd, SOL_SOCKET, SO_RCVBUF, SOCK_RCVBUF);
	if (setopt_int(pt->fd, SOL_SOCKET, SO_SNDBUFFORCE, SOCK_SNDBUF))
		(void)setopt_int(pt->fd, SOL_SOCKET, SO_SNDBUF, SOCK_SNDBUF);

	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETH_P_ALL);
	sll.sll_ifindex = pt->ifindex;
	if (bind(pt->fd, (struct sockaddr *)&sll, sizeof(sll))) {
		err = -errno;
		fprintf(stderr, PROG ": %s: bind: %s\n", ifname, strerror(-err));
		goto err_close;
	}
	mr.mr_ifindex = pt->ifindex;
	mr.mr_type = PACKET_MR_PROMISC;
	if (setsockopt(pt->fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr))) {
		err = -errno;
		fprintf(stderr, PROG ": %s: promiscuous mode: %s\n", ifname, strerror(-err));
		goto err_close;
	}
	return 0;

err_close:
	close(pt->fd);
	pt->fd = -1;
	return err;
}

/* Frames the kernel dropped on pt's receive queue since the last call. */
static uint64_t port_kernel_drops(const struct port *pt)
{
	struct tpacket_stats st = {0};
	socklen_t len = sizeof(st);

	if (getsockopt(pt->fd, SOL_PACKET, PACKET_STATISTICS, &st, &len))
		return 0;
	return st.tp_drops;
}

/* --- the data path ------------------------------------------------------------------- */

/* Reads one batch from d's receive port and hands it to the core. */
static void dir_receive(struct wanem *w, struct dir *d)
{
	struct pool *pool = &d->pool;
	uint32_t i, want = pool->nfree < BATCH ? pool->nfree : BATCH;
	bool drop_all = want == 0;
	uint64_t now;
	int n;

	if (drop_all)
		want = BATCH;
	for (i = 0; i < want; i++) {
		struct msghdr *mh = &w->msgs[i].msg_hdr;

		if (drop_all) {
			w->iov[i][0] = (struct iovec){w->scratch, VNET_LEN};
			w->iov[i][1] = (struct iovec){w->scratch + VNET_LEN, pool->frame_max};
		} else {
			uint32_t s = pool->free[--pool->nfree];

			w->slot[i] = s;
			w->iov[i][0] = (struct iovec){&pool->vnet[s], VNET_LEN};
			w->iov[i][1] = (struct iovec){pool_frame(pool, s), pool->frame_max};
		}
		*mh = (struct msghdr){.msg_name = &w->from[i],
				      .msg_namelen = sizeof(w->from[i]),
				      .msg_iov = w->iov[i],
				      .msg_iovlen = 2};
	}
	n = recvmmsg(d->rx->fd, w->msgs, want, MSG_DONTWAIT | MSG_TRUNC, NULL);
	if (n < 0)
		n = 0; /* EAGAIN, or an error the next readiness will report again */
	now = now_ns();
	for (i = 0; i < (uint32_t)n; i++) {
		const struct mmsghdr *m = &w->msgs[i];
		uint32_t len = m->msg_len > VNET_LEN ? m->msg_len - (uint32_t)VNET_LEN : 0;
		unsigned copies;
		uint32_t s;

		if (w->from[i].sll_pkttype == PACKET_OUTGOING) {
			if (!drop_all)
				pool_put(pool, w->slot[i]);
			continue;
		}
		d->io.pkts_in++;
		d->io.bytes_in += len;
		if (drop_all) {
			d->io.nobuf++;
			continue;
		}
		s = w->slot[i];
		if ((m->msg_hdr.msg_flags & MSG_TRUNC) || len > pool->frame_max ||
		    pool->vnet[s].gso_type != VIRTIO_NET_HDR_GSO_NONE) {
			d->io.oversize++;
			pool_put(pool, s);
			continue;
		}
		/* only a checksum still to fill travels on; the rest described the receive */
		pool->vnet[s].flags &= VIRTIO_NET_HDR_F_NEEDS_CSUM;
		copies = ferry_wanem_path_input(&d->path, now, len, s);
		if (copies)
			pool->refs[s] = (uint8_t)copies;
		else
			pool_put(pool, s);
	}
	/* buffers of the batch that no frame filled, last taken first back */
	for (i = want; !drop_all && i-- > (uint32_t)n;)
		pool_put(pool, w->slot[i]);
}

/* Puts copy (slot s, len bytes) at position i of the message batch. */
static void batch_set(struct wanem *w, struct pool *pool, uint32_t i, uint32_t s, uint32_t len)
{
	w->slot[i] = s;
	w->iov[i][0] = (struct iovec){&pool->vnet[s], VNET_LEN};
	w->iov[i][1] = (struct iovec){pool_frame(pool, s), len};
	w->msgs[i].msg_hdr = (struct msghdr){.msg_iov = w->iov[i], .msg_iovlen = 2};
}

/* Sends msgs[0..m) on d's transmit port. Returns true if every copy was sent or given up,
 * false if the kernel had no room: the rest is then held in d for a retry. */
static bool dir_send_batch(struct wanem *w, struct dir *d, uint32_t m, uint64_t now)
{
	uint32_t off = 0, i;
	bool stalled = false;

	while (off < m) {
		int r = sendmmsg(d->tx->fd, w->msgs + off, m - off, 0);

		if (r >= 0) {
			for (i = off; i < off + (uint32_t)r; i++) {
				d->io.pkts_out++;
				d->io.bytes_out += w->iov[i][1].iov_len;
			}
			off += (uint32_t)r;
			d->busy_since = 0;
			continue;
		}
		if (errno == EINTR)
			continue;
		if ((errno == ENOBUFS || errno == EAGAIN) &&
		    (!d->busy_since || now - d->busy_since < TX_STALL_MAX_NS)) {
			stalled = true;
			break;
		}
		d->io.txerr++; /* this one is given up; the next may pass */
		off++;
	}
	for (i = 0; i < off; i++)
		if (--d->pool.refs[w->slot[i]] == 0)
			pool_put(&d->pool, w->slot[i]);
	if (!stalled)
		return true;
	for (i = off; i < m; i++) {
		d->held_slot[d->nheld] = w->slot[i];
		d->held_len[d->nheld++] = (uint32_t)w->iov[i][1].iov_len;
	}
	d->io.txbusy++;
	d->retry_at = now + TX_RETRY_NS;
	if (!d->busy_since)
		d->busy_since = now;
	return false;
}

/* Sends every copy of d due by now, the held ones first. */
static void dir_send_due(struct wanem *w, struct dir *d, uint64_t now)
{
	uint32_t m, i, s, len;

	if (d->nheld && now < d->retry_at)
		return;
	do {
		for (m = 0, i = 0; i < d->nheld; i++, m++)
			batch_set(w, &d->pool, m, d->held_slot[i], d->held_len[i]);
		d->nheld = 0;
		for (; m < BATCH; m++) {
			uint64_t due = ferry_wanem_path_next_due(&d->path);

			if (!ferry_wanem_path_pop(&d->path, now, &s, &len))
				break;
			batch_set(w, &d->pool, m, s, len);
			d->io.late_sum += now - due;
			d->io.late_n++;
			if (now - due > d->io.late_max)
				d->io.late_max = now - due;
			d->io.late_1ms += now - due > LATE_NS;
		}
		if (m && !dir_send_batch(w, d, m, now))
			return;
	} while (m == BATCH);
}

/* When d next has something to do: a retry, a departure, or UINT64_MAX for nothing. */
static uint64_t dir_next_event(const struct dir *d)
{
	return d->nheld ? d->retry_at : ferry_wanem_path_next_due(&d->path);
}

/* Copies d scheduled and has not sent or given up yet. */
static uint32_t dir_pending(const struct dir *d)
{
	return ferry_wanem_path_pending(&d->path) + d->nheld;
}

/* Arms the timer for the earliest departure of either direction, if that changed. */
static void timer_rearm(struct wanem *w)
{
	uint64_t a = dir_next_event(&w->dir[FERRY_WANEM_A2B]);
	uint64_t b = dir_next_event(&w->dir[FERRY_WANEM_B2A]);
	uint64_t next = a < b ? a : b;
	struct itimerspec its = {0};

	if (next == w->armed)
		return;
	if (next != UINT64_MAX) {
		/* an all-zero it_value would disarm: time 0 is long past anyway */
		its.it_value.tv_sec = (time_t)(next / 1000000000ull);
		its.it_value.tv_nsec = (long)(next % 1000000000ull);
		if (!next)
			its.it_value.tv_nsec = 1;
	}
	if (timerfd_settime(w->timerfd, TFD_TIMER_ABSTIME, &its, NULL) == 0)
		w->armed = next;
}

/* --- statistics ---------------------------------------------------------------------- */

/* The stats of d as one line of key=value pairs (the --stats format), no newline. */
static void stats_line(FILE *f, const struct dir *d)
{
	const struct ferry_wanem_path_stats *c = &d->path.stats;
	uint64_t nobuf = d->io.nobuf + c->nobuf;
	uint64_t late_avg = d->io.late_n ? d->io.late_sum / d->io.late_n : 0;

	fprintf(f,
		"dir=%s pkts_in=%" PRIu64 " bytes_in=%" PRIu64 " pkts_out=%" PRIu64
		" bytes_out=%" PRIu64 " lost=%" PRIu64 " qdrop=%" PRIu64 " dup=%" PRIu64
		" reordered=%" PRIu64 " qmax_pkts=%" PRIu64 " qmax_bytes=%" PRIu64
		" oversize=%" PRIu64 " nobuf=%" PRIu64 " txerr=%" PRIu64 " txbusy=%" PRIu64
		" kdrop=%" PRIu64 " pending=%" PRIu32 " late_avg_us=%" PRIu64
		" late_max_us=%" PRIu64 " late_1ms=%" PRIu64,
		d->name, d->io.pkts_in, d->io.bytes_in, d->io.pkts_out, d->io.bytes_out, c->lost,
		c->qdrop, c->dup, c->reordered, c->qmax_pkts, c->qmax_bytes, d->io.oversize, nobuf,
		d->io.txerr, d->io.txbusy, d->io.kdrop, dir_pending(d), late_avg / 1000,
		d->io.late_max / 1000, d->io.late_1ms);
}

/* Writes the stats file through a temporary and a rename, so a reader never sees half. */
static int stats_write_file(const struct wanem *w)
{
	const char *path = w->opt.stats_path;
	FILE *f;
	int d, err;

	if (!path)
		return 0;
	f = fopen(w->stats_tmp, "w");
	if (!f)
		goto err;
	for (d = 0; d < FERRY_WANEM_DIRS; d++) {
		stats_line(f, &w->dir[d]);
		fputc('\n', f);
	}
	if (fclose(f))
		goto err;
	if (rename(w->stats_tmp, path))
		goto err;
	return 0;
err:
	err = -errno;
	fprintf(stderr, PROG ": %s: %s\n", path, strerror(-err));
	return err;
}

static void stats_report(struct wanem *w)
{
	int i;

	for (i = 0; i < FERRY_WANEM_DIRS; i++)
		w->dir[i].io.kdrop += port_kernel_drops(w->dir[i].rx);
	printf(PROG " stats (seed %" PRIu64 ")\n", w->opt.seed);
	for (i = 0; i < FERRY_WANEM_DIRS; i++) {
		const struct dir *d = &w->dir[i];
		const struct ferry_wanem_path_stats *c = &d->path.stats;
		uint64_t nobuf = d->io.nobuf + c->nobuf;
		uint64_t late_avg = d->io.late_n ? d->io.late_sum / d->io.late_n : 0;

		printf("  %s  %s -> %s\n"
		       "    in   %12" PRIu64 " packets %15" PRIu64 " bytes\n"
		       "    out  %12" PRIu64 " packets %15" PRIu64 " bytes\n"
		       "    dropped: loss %" PRIu64 ", queue %" PRIu64 ", oversize %" PRIu64
		       ", no buffer %" PRIu64 ", send error %" PRIu64 ", kernel %" PRIu64 "\n"
		       "    duplicated %" PRIu64 ", reordered %" PRIu64 ", pending %" PRIu32
		       ", receiver busy %" PRIu64 " times\n"
		       "    queue high-water %" PRIu64 " packets %" PRIu64 " bytes\n"
		       "    sent late by %" PRIu64 " us on average, %" PRIu64 " us at most, by more"
		       " than 1 ms %" PRIu64 " times\n",
		       d->name, d->rx->name, d->tx->name, d->io.pkts_in, d->io.bytes_in,
		       d->io.pkts_out, d->io.bytes_out, c->lost, c->qdrop, d->io.oversize, nobuf,
		       d->io.txerr, d->io.kdrop, c->dup, c->reordered, dir_pending(d), d->io.txbusy,
		       c->qmax_pkts, c->qmax_bytes, late_avg / 1000, d->io.late_max / 1000,
		       d->io.late_1ms);
	}
	fflush(stdout);
	(void)stats_write_file(w);
}

/* --- set-up and the loop ------------------------------------------------------------- */

static int epoll_watch(int epfd, int fd, enum ev_tag tag)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u32 = tag};

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) ? -errno : 0;
}

/* Blocks the signals we take through the signalfd and opens the descriptors of the loop. */
static int loop_open(struct wanem *w)
{
	sigset_t sigs;
	int err;

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGUSR1);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	w->sigfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	if (w->sigfd < 0)
		return -errno;
	w->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (w->timerfd < 0) {
		err = -errno;
		goto err_sig;
	}
	w->armed = UINT64_MAX;
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (w->epfd < 0) {
		err = -errno;
		goto err_timer;
	}
	err = epoll_watch(w->epfd, w->port[0].fd, EV_PORT_A);
	if (!err)
		err = epoll_watch(w->epfd, w->port[1].fd, EV_PORT_B);
	if (!err)
		err = epoll_watch(w->epfd, w->timerfd, EV_TIMER);
	if (!err)
		err = epoll_watch(w->epfd, w->sigfd, EV_SIGNAL);
	if (err)
		goto err_epoll;
	return 0;

err_epoll:
	close(w->epfd);
err_timer:
	close(w->timerfd);
err_sig:
	close(w->sigfd);
	return err;
}

static void loop_close(struct wanem *w)
{
	close(w->epfd);
	close(w->timerfd);
	close(w->sigfd);
}

/* Handles pending signals; returns true if the loop is to stop. */
static bool loop_signals(struct wanem *w)
{
	struct signalfd_siginfo si;
	bool stop = false;

	while (read(w->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGUSR1)
			stats_report(w);
		else
			stop = true;
	}
	return stop;
}

/* Runs until SIGTERM or SIGINT. Returns 0 or a negative errno. */
static int loop_run(struct wanem *w)
{
	struct epoll_event ev[4];
	uint64_t expirations;
	int n, i, d;

	for (;;) {
		n = epoll_wait(w->epfd, ev, 4, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (i = 0; i < n; i++) {
			switch ((enum ev_tag)ev[i].data.u32) {
			case EV_PORT_A:
				dir_receive(w, &w->dir[FERRY_WANEM_A2B]);
				break;
			case EV_PORT_B:
				dir_receive(w, &w->dir[FERRY_WANEM_B2A]);
				break;
			case EV_TIMER:
				if (read(w->timerfd, &expirations, sizeof(expirations)) > 0)
					w->armed = UINT64_MAX;
				break;
			case EV_SIGNAL:
				if (loop_signals(w))
					return 0;
				break;
			}
		}
		for (d = 0; d < FERRY_WANEM_DIRS; d++)
			dir_send_due(w, &w->dir[d], now_ns());
		timer_rearm(w);
	}
}

static int wanem_open(struct wanem *w)
{
	static const char *const names[FERRY_WANEM_DIRS] = {"a2b", "b2a"};
	const struct ferry_wanem_options *o = &w->opt;
	int d, err;

	if (o->stats_path && snprintf(w->stats_tmp, sizeof(w->stats_tmp), "%s.tmp",
				      o->stats_path) >= (int)sizeof(w->stats_tmp)) {
		fprintf(stderr, PROG ": --stats: path too long\n");
		return -ENAMETOOLONG;
	}
	w->scratch = malloc(VNET_LEN + o->frame_max);
	if (!w->scratch)
		return -ENOMEM;
	for (d = 0; d < FERRY_WANEM_DIRS; d++) {
		err = port_open(&w->port[d], o->ifname[d], o->frame_max);
		if (err)
			goto err_ports;
	}
	for (d = 0; d < FERRY_WANEM_DIRS; d++) {
		struct dir *dir = &w->dir[d];

		dir->name = names[d];
		dir->rx = &w->port[d];
		dir->tx = &w->port[1 - d];
		err = pool_init(&dir->pool, o->pool, o->frame_max);
		if (err)
			goto err_dirs;
		/* two schedule entries per buffer: each may be sent twice */
		err = ferry_wanem_path_init(&dir->path, &o->path[d], o->seed, (uint32_t)d,
					    2 * o->pool);
		if (err) {
			pool_destroy(&dir->pool);
			goto err_dirs;
		}
	}
	err = loop_open(w);
	if (err)
		goto err_dirs;
	return 0;

err_dirs:
	while (d-- > 0) {
		ferry_wanem_path_destroy(&w->dir[d].path);
		pool_destroy(&w->dir[d].pool);
	}
	d = FERRY_WANEM_DIRS;
err_ports:
	while (d-- > 0)
		if (w->port[d].fd >= 0)
			close(w->port[d].fd);
	free(w->scratch);
	return err;
}

static void wanem_close(struct wanem *w)
{
	int d;

	loop_close(w);
	for (d = 0; d < FERRY_WANEM_DIRS; d++) {
		ferry_wanem_path_destroy(&w->dir[d].path);
		pool_destroy(&w->dir[d].pool);
		close(w->port[d].fd);
	}
	free(w->scratch);
}

int main(int argc, char **argv)
{
	struct wanem w = {0};
	int err;

	if (ferry_wanem_options_parse(&w.opt, argc, argv, stderr))
		return 2;
	if (w.opt.help) {
		ferry_wanem_options_usage(stdout);
		return 0;
	}
	/* departures are scheduled to the nanosecond: ask the kernel not to round timers */
	(void)prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
	if (w.opt.rt_priority) {
		struct sched_param sp = {.sched_priority = w.opt.rt_priority};

		if (sched_setscheduler(0, SCHED_FIFO, &sp)) {
			fprintf(stderr, PROG ": --rt-priority: %s\n", strerror(errno));
			return 1;
		}
	}
	if (wanem_open(&w))
		return 1;
	/* written once at start: its appearance tells a script the sockets are bound */
	err = stats_write_file(&w);
	if (!err)
		err = loop_run(&w);
	if (err && err != -EINTR)
		fprintf(stderr, PROG ": %s\n", strerror(-err));
	stats_report(&w);
	wanem_close(&w);
	return err ? 1 : 0;
}
