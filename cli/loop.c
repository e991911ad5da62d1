// SPDX-License-Identifier: MIT
#include "cli/loop.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

uint64_t ferry_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

const char *ferry_io_kind_name(enum ferry_io_kind kind)
{
	static const char *const names[FERRY_IO_KINDS] = {
	    [FERRY_IO_TUN] = "tun",	    [FERRY_IO_UDP] = "udp",
	    [FERRY_IO_CONTROL] = "control", [FERRY_IO_EGRESS] = "egress",
	    [FERRY_IO_SIGNAL] = "signal",   [FERRY_IO_OTHER] = "other",
	};

	return (unsigned)kind < FERRY_IO_KINDS ? names[kind] : "invalid";
}

int ferry_loop_init(struct ferry_loop *loop)
{
	memset(loop, 0, sizeof(*loop));
	loop->signal_io.fd = -1;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0)
		return -errno;
	loop->now = ferry_clock_ms();
	return 0;
}

void ferry_loop_destroy(struct ferry_loop *loop)
{
	if (loop->signals_on) {
		ferry_loop_del(loop, &loop->signal_io);
		close(loop->signal_io.fd);
		sigprocmask(SIG_SETMASK, &loop->old_mask, NULL);
		loop->signals_on = 0;
	}
	if (loop->epfd >= 0)
		close(loop->epfd);
	loop->epfd = -1;
	free(loop->heap);
	loop->heap = NULL;
	loop->nr_timers = loop->heap_cap = 0;
}

/* ---- descriptors ----------------------------------------------------------------------- */

int ferry_loop_add(struct ferry_loop *loop, struct ferry_io *io)
{
	struct epoll_event ev = {.events = io->events, .data.ptr = io};

	if (io->registered)
		return -EEXIST;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, io->fd, &ev) < 0)
		return -errno;
	io->registered = 1;
	return 0;
}

int ferry_loop_mod(struct ferry_loop *loop, struct ferry_io *io, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = io};

	if (!io->registered)
		return -ENOENT;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, io->fd, &ev) < 0)
		return -errno;
	io->events = events;
	return 0;
}

void ferry_loop_del(struct ferry_loop *loop, struct ferry_io *io)
{
	int i;

	if (!io->registered)
		return;
	/* Fails only if the fd was already closed, which removed it from the set anyway. */
	epoll_ctl(loop->epfd, EPOLL_CTL_DEL, io->fd, NULL);
	io->registered = 0;
	for (i = 0; i < loop->batch_len; i++)
		if (loop->batch[i].data.ptr == io)
			loop->batch[i].data.ptr = NULL;
}

/* ---- timers: a binary min-heap; each timer knows its slot, so cancel is O(log n) ------- */

static void heap_place(struct ferry_loop *loop, uint32_t i, struct ferry_timer *timer)
{
	loop->heap[i] = timer;
	timer->slot = i + 1;
}

static void heap_up(struct ferry_loop *loop, uint32_t i)
{
	struct ferry_timer *timer = loop->heap[i];

	while (i > 0) {
		uint32_t parent = (i - 1) / 2;

		if (loop->heap[parent]->deadline <= timer->deadline)
			break;
		heap_place(loop, i, loop->heap[parent]);
		i = parent;
	}
	heap_place(loop, i, timer);
}

static void heap_down(struct ferry_loop *loop, uint32_t i)
{
	struct ferry_timer *timer = loop->heap[i];

	for (;;) {
		uint32_t child = 2 * i + 1;

		if (child >= loop->nr_timers)
			break;
		if (child + 1 < loop->nr_timers &&
		    loop->heap[child + 1]->deadline < loop->heap[child]->deadline)
			child++;
		if (timer->deadline <= loop->heap[child]->deadline)
			break;
		heap_place(loop, i, loop->heap[child]);
		i = child;
	}
	heap_place(loop, i, timer);
}

int ferry_timer_arm(struct ferry_loop *loop, struct ferry_timer *timer, uint64_t deadline)
{
	uint64_t old;

	if (timer->slot) {
		old = timer->deadline;
		timer->deadline = deadline;
		if (deadline < old)
			heap_up(loop, timer->slot - 1);
		else
			heap_down(loop, timer->slot - 1);
		return 0;
	}
	if (loop->nr_timers == loop->heap_cap) {
		uint32_t cap = loop->heap_cap ? loop->heap_cap * 2 : 64;
		struct ferry_timer **heap;

		if (cap > UINT32_MAX / 2)
			return -ENOMEM;
		heap = realloc(loop->heap, cap * sizeof(struct ferry_timer *));
		if (!heap)
			return -ENOMEM;
		loop->heap = heap;
		loop->heap_cap = cap;
	}
	timer->deadline = deadline;
	loop->heap[loop->nr_timers++] = timer;
	heap_up(loop, loop->nr_timers - 1);
	return 0;
}

void ferry_timer_cancel(struct ferry_loop *loop, struct ferry_timer *timer)
{
	uint32_t i;
	struct ferry_timer *last;

	if (!timer->slot)
		return;
	i = timer->slot - 1;
	timer->slot = 0;
	last = loop->heap[--loop->nr_timers];
	if (last == timer)
		return;
	heap_place(loop, i, last);
	if (i > 0 && loop->heap[(i - 1) / 2]->deadline > last->deadline)
		heap_up(loop, i);
	else
		heap_down(loop, i);
}

uint64_t ferry_loop_next_deadline(const struct ferry_loop *loop)
{
	return loop->nr_timers ? loop->heap[0]->deadline : UINT64_MAX;
}

/* Fires the timers due at now. At most as many as were armed when it started, so a timer
 * that keeps re-arming itself in the past yields to I/O between rounds. */
static int fire_timers(struct ferry_loop *loop)
{
	uint32_t budget = loop->nr_timers;
	int fired = 0;

	while (budget-- > 0 && loop->nr_timers && loop->heap[0]->deadline <= loop->now) {
		struct ferry_timer *timer = loop->heap[0];

		ferry_timer_cancel(loop, timer);
		loop->stats.timers_fired++;
		fired++;
		timer->fn(loop, timer, loop->now);
	}
	return fired;
}

/* ---- signals --------------------------------------------------------------------------- */

static void on_signal(struct ferry_loop *loop, struct ferry_io *io, uint32_t events, uint64_t now)
{
	struct signalfd_siginfo info;

	(void)events;
	(void)now;
	while (read(io->fd, &info, sizeof(info)) == (ssize_t)sizeof(info)) {
		loop->stats.signals++;
		if (info.ssi_signo == SIGUSR1) {
			if (loop->dump)
				loop->dump(loop, loop->dump_ctx);
		} else if (!loop->on_stop ||
			   loop->on_stop(loop, loop->stop_ctx, (int)info.ssi_signo)) {
			ferry_loop_stop(loop);
		}
	}
}

void ferry_loop_on_stop_signal(struct ferry_loop *loop, ferry_stop_fn fn, void *ctx)
{
	loop->on_stop = fn;
	loop->stop_ctx = ctx;
}

int ferry_loop_handle_signals(struct ferry_loop *loop, ferry_dump_fn dump, void *ctx)
{
	sigset_t mask;
	int fd, err;

	if (loop->signals_on)
		return -EEXIST;
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &mask, &loop->old_mask) < 0)
		return -errno;
	fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		goto err_mask;
	}
	loop->signal_io = (struct ferry_io){
	    .fd = fd, .events = EPOLLIN, .kind = FERRY_IO_SIGNAL, .fn = on_signal};
	err = ferry_loop_add(loop, &loop->signal_io);
	if (err)
		goto err_close;
	loop->dump = dump;
	loop->dump_ctx = ctx;
	loop->signals_on = 1;
	return 0;

err_close:
	close(fd);
	loop->signal_io.fd = -1;
err_mask:
	sigprocmask(SIG_SETMASK, &loop->old_mask, NULL);
	return err;
}

/* ---- running --------------------------------------------------------------------------- */

static int wait_ms(const struct ferry_loop *loop, int max_wait_ms)
{
	uint64_t deadline = ferry_loop_next_deadline(loop);
	uint64_t until;

	if (deadline == UINT64_MAX)
		return max_wait_ms;
	until = deadline > loop->now ? deadline - loop->now : 0;
	if (max_wait_ms >= 0 && until > (uint64_t)max_wait_ms)
		return max_wait_ms;
	return until > INT_MAX ? INT_MAX : (int)until;
}

/* Reads the clock for what runs next. Once per callback, not once per turn: a turn with
 * thousands of flows can take milliseconds, and a datagram read late in it, stamped with
 * the turn's start, arrived "before" it did: an ACK so stamped made the controller's RTT
 * samples read 5 to 12 ms on a 20 ms path (docs/soak.md). Never backwards. */
static void tick(struct ferry_loop *loop)
{
	uint64_t now = ferry_clock_ms();

	if (now > loop->now)
		loop->now = now;
}

int ferry_loop_run_once(struct ferry_loop *loop, int max_wait_ms)
{
	int n, i, ran = 0;

	n = epoll_wait(loop->epfd, loop->batch, FERRY_LOOP_MAX_EVENTS, wait_ms(loop, max_wait_ms));
	if (n < 0) {
		if (errno != EINTR)
			return -errno;
		n = 0;
	}
	loop->stats.iterations++;
	loop->batch_len = n;
	for (i = 0; i < loop->batch_len; i++) {
		struct ferry_io *io = loop->batch[i].data.ptr;

		if (!io)
			continue; /* removed by an earlier callback of this batch */
		loop->stats.io_events[io->kind < FERRY_IO_KINDS ? io->kind : FERRY_IO_OTHER]++;
		tick(loop);
		io->fn(loop, io, loop->batch[i].events, loop->now);
		ran++;
	}
	loop->batch_len = 0;
	tick(loop);
	ran += fire_timers(loop);
	if (loop->turn_end)
		loop->turn_end(loop, loop->turn_ctx, loop->now);
	return ran;
}

void ferry_loop_on_turn_end(struct ferry_loop *loop, ferry_turn_fn fn, void *ctx)
{
	loop->turn_end = fn;
	loop->turn_ctx = ctx;
}

int ferry_loop_run(struct ferry_loop *loop)
{
	loop->running = 1;
	while (loop->running) {
		int err = ferry_loop_run_once(loop, -1);

		if (err < 0)
			return err;
	}
	return 0;
}

void ferry_loop_stop(struct ferry_loop *loop)
{
	loop->running = 0;
}
