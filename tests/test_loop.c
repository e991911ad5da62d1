// SPDX-License-Identifier: MIT
/* Event loop: real descriptors, real timers, real signals. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include "cli/loop.h"
#include "tests/support/fixture.h"

struct pipe_watch {
	struct ferry_io io;
	int wfd;
	int hits;
	struct pipe_watch *victim; /* removed by this watch's callback, if set */
};

static void on_readable(struct ferry_loop *loop, struct ferry_io *io, uint32_t events, uint64_t now)
{
	struct pipe_watch *w = ferry_container_of(io, struct pipe_watch, io);
	char c;

	(void)now;
	ck_assert(events & EPOLLIN);
	ck_assert_int_eq(read(io->fd, &c, 1), 1);
	w->hits++;
	if (w->victim)
		ferry_loop_del(loop, &w->victim->io);
}

static void pipe_watch_open(struct pipe_watch *w)
{
	int fds[2];

	ck_assert_int_eq(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
	*w = (struct pipe_watch){
	    .io = {.fd = fds[0], .events = EPOLLIN, .kind = FERRY_IO_OTHER, .fn = on_readable},
	    .wfd = fds[1],
	};
}

static void pipe_watch_close(struct pipe_watch *w)
{
	close(w->io.fd);
	close(w->wfd);
}

struct slow_watch {
	struct ferry_io io;
	int wfd;
	uint64_t seen; /* the now it was called with */
};

/* Reads its byte, notes its now, and takes 30 ms. */
static void on_slow(struct ferry_loop *loop, struct ferry_io *io, uint32_t events, uint64_t now)
{
	struct slow_watch *w = ferry_container_of(io, struct slow_watch, io);
	struct timespec nap = {.tv_nsec = 30 * 1000000L};
	char c;

	(void)loop;
	(void)events;
	ck_assert_int_eq(read(io->fd, &c, 1), 1);
	w->seen = now;
	nanosleep(&nap, NULL);
}

/* Each callback of one turn gets the clock as it is when it runs, not as the turn began:
 * a datagram read after a slow callback was otherwise stamped tens of milliseconds early
 * (its ACK's RTT read that much short: docs/soak.md). */
START_TEST(each_callback_reads_the_clock)
{
	struct ferry_loop loop;
	struct slow_watch w[2];
	int i, fds[2];

	ck_assert_int_eq(ferry_loop_init(&loop), 0);
	for (i = 0; i < 2; i++) {
		ck_assert_int_eq(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
		w[i] = (struct slow_watch){
		    .io = {.fd = fds[0], .events = EPOLLIN, .kind = FERRY_IO_OTHER, .fn = on_slow},
		    .wfd = fds[1]};
		ck_assert_int_eq(ferry_loop_add(&loop, &w[i].io), 0);
		ck_assert_int_eq(write(w[i].wfd, "x", 1), 1);
	}
	ck_assert_int_eq(ferry_loop_run_once(&loop, 1000), 2); /* both in one turn */
	ck_assert_uint_gt(w[0].seen, 0);
	ck_assert_uint_gt(w[1].seen, 0);
	ck_assert_uint_ge(w[0].seen > w[1].seen ? w[0].seen - w[1].seen : w[1].seen - w[0].seen,
			  30);
	ck_assert_uint_ge(loop.now, (w[0].seen > w[1].seen ? w[0].seen : w[1].seen) + 30);
	for (i = 0; i < 2; i++) {
		close(w[i].io.fd);
		close(w[i].wfd);
	}
	ferry_loop_destroy(&loop);
}
END_TEST

START_TEST(dispatches_readable_fd)
{
	struct ferry_loop loop;
	struct pipe_watch w;

	ck_assert_int_eq(ferry_loop_init(&loop), 0);
	pipe_watch_open(&w);
	ck_assert_int_eq(ferry_loop_add(&loop, &w.io), 0);
	ck_assert_int_eq(ferry_loop_add(&loop, &w.io), -EEXIST);

	ck_assert_int_eq(ferry_loop_run_once(&loop, 0), 0);
	ck_assert_int_eq(write(w.wfd, "x", 1), 1);
	ck_assert_int_eq(ferry_loop_run_once(&loop, 1000), 1);
	ck_assert_int_eq(w.hits, 1);
	ck_assert_uint_eq(loop.stats.io_events[FERRY_IO_OTHER], 1);

	/* Not waiting for input any more: the byte stays unread. */
	ck_assert_int_eq(ferry_loop_mod(&loop, &w.io, 0), 0);
	ck_assert_int_eq(write(w.wfd, "y", 1), 1);
	ck_assert_int_eq(ferry_loop_run_once(&loop, 0), 0);
	ck_assert_int_eq(ferry_loop_mod(&loop, &w.io, EPOLLIN), 0);
	ck_assert_int_eq(ferry_loop_run_once(&loop, 1000), 1);
	ck_assert_int_eq(w.hits, 2);

	ferry_loop_del(&loop, &w.io);
	ferry_loop_del(&loop, &w.io);
	ck_assert_int_eq(ferry_loop_mod(&loop, &w.io, EPOLLIN), -ENOENT);
	ck_assert_int_eq(write(w.wfd, "z", 1), 1);
	ck_assert_int_eq(ferry_loop_run_once(&loop, 0), 0);
	ck_assert_int_eq(w.hits, 2);

	pipe_watch_close(&w);
	ferry_loop_destroy(&loop);
}
END_TEST

START_TEST(removal_inside_a_batch_discards_pending_events)
{
	struct ferry_loop loop;
	struct pipe_watch a, b;

	ck_assert_int_eq(ferry_loop_init(&loop), 0);
	pipe_watch_open(&a);
	pipe_watch_open(&b);
	a.victim = &b;
	b.victim = &a;
	ck_assert_int_eq(ferry_loop_add(&loop, &a.io), 0);
	ck_assert_int_eq(ferry_loop_add(&loop, &b.io), 0);
	ck_assert_int_eq(write(a.wfd, "x", 1), 1);
	ck_assert_int_eq(write(b.wfd, "x", 1), 1);

	/* Both are ready in one batch; whichever runs first removes the other. */
	ck_assert_int_eq(ferry_loop_run_once(&loop, 1000), 1);
	ck_assert_int_eq(a.hits + b.hits, 1);

	pipe_watch_close(&a);
	pipe_watch_close(&b);
	ferry_loop_destroy(&loop);
}
END_TEST

struct turn_log {
	struct pipe_watch *watch;
	int turns;
	int hits_seen; /* the watch's hits when the hook last ran */
	uint64_t now;
};

static void on_turn_end(struct ferry_loop *loop, void *ctx, uint64_t now)
{
	struct turn_log *t = ctx;

	t->turns++;
	t->hits_seen = t->watch->hits;
	t->now = now;
	ck_assert_uint_eq(now, loop->now);
}

START_TEST(turn_end_hook_runs_once_per_turn_after_io)
{
	struct ferry_loop loop;
	struct pipe_watch w;
	struct turn_log t = {.watch = &w};

	ck_assert_int_eq(ferry_loop_init(&loop), 0);
	pipe_watch_open(&w);
	ck_assert_int_eq(ferry_loop_add(&loop, &w.io), 0);
	ferry_loop_on_turn_end(&loop, on_turn_end, &t);

	ck_assert_int_eq(ferry_loop_run_once(&loop, 0), 0);
	ck_assert_int_eq(t.turns, 1); /* also after an empty turn */
	ck_assert_int_eq(write(w.wfd, "ab", 2), 2);
	ck_assert_int_eq(ferry_loop_run_once(&loop, 1000), 1);
	ck_assert_int_eq(t.turns, 2);
	ck_assert_int_eq(t.hits_seen, 1); /* after the descriptor's callback of that turn */
	ck_assert_uint_eq(t.now, loop.now);

	ferry_loop_on_turn_end(&loop, NULL, NULL);
	ck_assert_int_eq(ferry_loop_run_once(&loop, 1000), 1);
	ck_assert_int_eq(t.turns, 2);

	pipe_watch_close(&w);
	ferry_loop_destroy(&loop);
}
END_TEST

struct order_timer {
	struct ferry_timer timer;
	uint64_t *log;
	int *nlog;
	uint64_t id;
};

static void log_fire(struct ferry_loop *loop, struct ferry_timer *timer, uint64_t now)
{
	struct order_timer *t = ferry_container_of(timer, struct order_timer, timer);

	(void)loop;
	ck_assert_uint_ge(now, timer->deadline);
	t->log[(*t->nlog)++] = t->id;
}

START_TEST(timers_fire_in_deadline_order_and_cancel_works)
{
	enum {
		N = 500
	};
	static struct order_timer timers[N];
	static uint64_t log[N];
	struct ferry_loop loop;
	int nlog = 0, i, fired;
	unsigned seed = 12345;

	ck_assert_int_eq(ferry_loop_init(&loop), 0);
	/* Deadlines in the past relative to a later now, armed in random order; some are
	 * moved and some cancelled, exercising up and down sifts. */
	for (i = 0; i < N; i++) {
		timers[i] = (struct order_timer){
		    .timer = {.fn = log_fire}, .log = log, .nlog = &nlog, .id = (uint64_t)i};
		ck_assert_int_eq(ferry_timer_arm(&loop, &timers[i].timer, rand_r(&seed) % 100000),
				 0);
	}
	for (i = 0; i < N; i += 7)
		ck_assert_int_eq(ferry_timer_arm(&loop, &timers[i].timer, rand_r(&seed) % 100000),
				 0);
	for (i = 3; i < N; i += 5)
		ferry_timer_cancel(&loop, &timers[i].timer);
	ferry_timer_cancel(&loop, &timers[3].timer); /* already cancelled: no-op */

	loop.now = 100000;
	/* Run the timers directly: a zero-wait iteration fires everything due. */
	fired = ferry_loop_run_once(&loop, 0);
	ck_assert_int_eq(fired, N - N / 5);
	ck_assert_int_eq(nlog, fired);
	for (i = 1; i < nlog; i++)
		ck_assert_uint_le(timers[log[i - 1]].timer.deadline, timers[log[i]].timer.deadline);
	for (i = 0; i < nlog; i++)
		ck_assert_uint_ne(log[i] % 5, 3);
	ck_assert_uint_eq(ferry_loop_next_deadline(&loop), UINT64_MAX);
	ferry_loop_destroy(&loop);
}
END_TEST

struct rearm_timer {
	struct ferry_timer timer;
	int runs;
};

static void rearm_now(struct ferry_loop *loop, struct ferry_timer *timer, uint64_t now)
{
	struct rearm_timer *t = ferry_container_of(timer, struct rearm_timer, timer);

	t->runs++;
	ck_assert_int_eq(ferry_timer_arm(loop, timer, now), 0);
}

START_TEST(a_self_rearming_timer_does_not_starve_io)
{
	struct rearm_timer busy = {.timer = {.fn = rearm_now}};
	struct ferry_loop loop;
	struct pipe_watch w;
	int i;

	ck_assert_int_eq(ferry_loop_init(&loop), 0);
	pipe_watch_open(&w);
	ck_assert_int_eq(ferry_loop_add(&loop, &w.io), 0);
	ck_assert_int_eq(ferry_timer_arm(&loop, &busy.timer, 0), 0);
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(write(w.wfd, "x", 1), 1);
		ck_assert_int_eq(ferry_loop_run_once(&loop, 1000), 2);
	}
	ck_assert_int_eq(w.hits, 3);
	ck_assert_int_eq(busy.runs, 3);
	ferry_timer_cancel(&loop, &busy.timer);
	pipe_watch_close(&w);
	ferry_loop_destroy(&loop);
}
END_TEST

struct stop_timer {
	struct ferry_timer timer;
	uint64_t fired_at;
};

static void stop_on_fire(struct ferry_loop *loop, struct ferry_timer *timer, uint64_t now)
{
	struct stop_timer *t = ferry_container_of(timer, struct stop_timer, timer);

	t->fired_at = now;
	ferry_loop_stop(loop);
}

START_TEST(run_sleeps_until_the_nearest_deadline)
{
	struct stop_timer near = {.timer = {.fn = stop_on_fire}};
	struct stop_timer far = {.timer = {.fn = stop_on_fire}};
	struct ferry_loop loop;
	uint64_t start, elapsed;

	ck_assert_int_eq(ferry_loop_init(&loop), 0);
	start = ferry_clock_ms();
	ck_assert_int_eq(ferry_timer_arm(&loop, &far.timer, start + 5000), 0);
	ck_assert_int_eq(ferry_timer_arm(&loop, &near.timer, start + 30), 0);
	ck_assert_uint_eq(ferry_loop_next_deadline(&loop), start + 30);

	ck_assert_int_eq(ferry_loop_run(&loop), 0);
	elapsed = ferry_clock_ms() - start;
	ck_assert_uint_ge(near.fired_at, start + 30);
	ck_assert_uint_ge(elapsed, 30);
	ck_assert_uint_lt(elapsed, 2000); /* bounded, not exact: the machine may be busy */
	ck_assert_uint_eq(far.fired_at, 0);
	ck_assert(ferry_timer_armed(&far.timer));
	ck_assert_uint_ge(loop.stats.iterations, 1);
	ferry_timer_cancel(&loop, &far.timer);
	ferry_loop_destroy(&loop);
}
END_TEST

static int dumps;

static void count_dump(struct ferry_loop *loop, void *ctx)
{
	(void)loop;
	ck_assert_ptr_eq(ctx, &dumps);
	dumps++;
}

static void raise_sig(struct ferry_loop *loop, struct ferry_timer *timer, uint64_t now)
{
	(void)loop;
	(void)now;
	(void)timer;
	ck_assert_int_eq(raise(SIGUSR1), 0);
	ck_assert_int_eq(raise(SIGTERM), 0);
}

static void check_signals_stop(int signo)
{
	struct ferry_timer t = {.fn = raise_sig};
	struct ferry_loop loop;
	sigset_t now_blocked;

	dumps = 0;
	ck_assert_int_eq(ferry_loop_init(&loop), 0);
	ck_assert_int_eq(ferry_loop_handle_signals(&loop, count_dump, &dumps), 0);
	ck_assert_int_eq(ferry_loop_handle_signals(&loop, count_dump, &dumps), -EEXIST);
	if (signo == SIGTERM) {
		ck_assert_int_eq(ferry_timer_arm(&loop, &t, 0), 0);
	} else {
		ck_assert_int_eq(raise(SIGUSR1), 0);
		ck_assert_int_eq(raise(signo), 0);
	}
	ck_assert_int_eq(ferry_loop_run(&loop), 0);
	ck_assert_int_eq(dumps, 1);
	ck_assert_uint_eq(loop.stats.signals, 2);
	ferry_loop_destroy(&loop);

	/* The mask is restored. */
	ck_assert_int_eq(sigprocmask(SIG_BLOCK, NULL, &now_blocked), 0);
	ck_assert(!sigismember(&now_blocked, SIGTERM));
}

START_TEST(sigterm_stops_and_sigusr1_dumps)
{
	check_signals_stop(SIGTERM);
}
END_TEST

START_TEST(sigint_stops)
{
	check_signals_stop(SIGINT);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("loop");
	TCase *tc = ferry_tcase("loop", 10);

	tcase_add_test(tc, dispatches_readable_fd);
	tcase_add_test(tc, each_callback_reads_the_clock);
	tcase_add_test(tc, removal_inside_a_batch_discards_pending_events);
	tcase_add_test(tc, turn_end_hook_runs_once_per_turn_after_io);
	tcase_add_test(tc, timers_fire_in_deadline_order_and_cancel_works);
	tcase_add_test(tc, a_self_rearming_timer_does_not_starve_io);
	tcase_add_test(tc, run_sleeps_until_the_nearest_deadline);
	tcase_add_test(tc, sigterm_stops_and_sigusr1_dumps);
	tcase_add_test(tc, sigint_stops);
	suite_add_tcase(s, tc);
	return ferry_run_suite(s);
}
