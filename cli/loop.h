/* SPDX-License-Identifier: MIT */
/*
 * The event loop: one per process, epoll for descriptors, a binary min-heap of timers.
 *
 * Theory of operation. Each iteration reads the monotonic clock once and passes that
 * `now` (milliseconds) to everything it calls; protocol code never reads a clock itself.
 * The loop sleeps in epoll_wait exactly until the nearest timer deadline (no periodic
 * tick), dispatches the ready descriptors, fires the timers that are due, and ends the
 * turn with the owner's end-of-turn hook, where output batched during the turn leaves. A timer
 * that re-arms itself for a time already past runs again on the next iteration, after the
 * descriptors have had their turn, so a busy timer cannot starve I/O.
 *
 * Registrations are typed: a struct ferry_io or ferry_timer is embedded in its owner,
 * which gets it back with container_of in the callback. The kind names the owner for
 * counters and debugging. SIGINT and SIGTERM stop the loop cleanly; SIGUSR1 calls the
 * dump hook (counters to the log) -- both through a signalfd, so handlers run in the loop,
 * not in signal context.
 *
 * Lifetimes: a registration may be removed from inside any callback, including its own;
 * events already collected for it in the current batch are discarded.
 */
#ifndef FERRY_CLI_LOOP_H
#define FERRY_CLI_LOOP_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>

#define ferry_container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr)-offsetof(type, member)))

enum ferry_io_kind {
	FERRY_IO_TUN,
	FERRY_IO_UDP,
	FERRY_IO_CONTROL,
	FERRY_IO_EGRESS,
	FERRY_IO_SIGNAL,
	FERRY_IO_OTHER,
	FERRY_IO_KINDS,
};

struct ferry_loop;
struct ferry_io;
struct ferry_timer;

typedef void (*ferry_io_fn)(struct ferry_loop *loop, struct ferry_io *io, uint32_t events,
			    uint64_t now);
typedef void (*ferry_timer_fn)(struct ferry_loop *loop, struct ferry_timer *timer, uint64_t now);
typedef void (*ferry_dump_fn)(struct ferry_loop *loop, void *ctx);
typedef void (*ferry_turn_fn)(struct ferry_loop *loop, void *ctx, uint64_t now);
/* Told of SIGINT or SIGTERM (signo); returns true to stop the loop, false to go on. */
typedef bool (*ferry_stop_fn)(struct ferry_loop *loop, void *ctx, int signo);

struct ferry_io {
	int fd;
	uint32_t events; /* EPOLLIN, EPOLLOUT, ... as registered */
	enum ferry_io_kind kind;
	ferry_io_fn fn;
	int registered;
};

struct ferry_timer {
	uint64_t deadline; /* valid while armed */
	uint32_t slot;	   /* heap index + 1; 0 when not armed */
	ferry_timer_fn fn;
};

struct ferry_loop_stats {
	uint64_t iterations;
	uint64_t io_events[FERRY_IO_KINDS];
	uint64_t timers_fired;
	uint64_t signals;
};

#define FERRY_LOOP_MAX_EVENTS 64

struct ferry_loop {
	int epfd;
	int running;
	uint64_t now;

	struct ferry_timer **heap; /* min-heap on deadline */
	uint32_t nr_timers;
	uint32_t heap_cap;

	/* The batch being dispatched, so that removal can discard pending events. */
	struct epoll_event batch[FERRY_LOOP_MAX_EVENTS];
	int batch_len;

	struct ferry_io signal_io;
	sigset_t old_mask;
	int signals_on;
	ferry_dump_fn dump;
	void *dump_ctx;
	ferry_turn_fn turn_end;
	void *turn_ctx;
	ferry_stop_fn on_stop; /* NULL: SIGINT and SIGTERM stop the loop */
	void *stop_ctx;

	struct ferry_loop_stats stats;
};

/* Monotonic clock in milliseconds (CLOCK_MONOTONIC). */
uint64_t ferry_clock_ms(void);

/* Creates the epoll instance. Returns 0 or a negative errno. */
int ferry_loop_init(struct ferry_loop *loop);

/* Closes everything the loop owns and restores the signal mask. Registrations still
 * present are simply forgotten; their owners close their own descriptors. */
void ferry_loop_destroy(struct ferry_loop *loop);

/* Blocks SIGINT, SIGTERM and SIGUSR1 and handles them in the loop: the first two stop
 * it, SIGUSR1 calls dump(loop, ctx) if set. Returns 0 or a negative errno. */
int ferry_loop_handle_signals(struct ferry_loop *loop, ferry_dump_fn dump, void *ctx);

/* Sets the hook asked before SIGINT or SIGTERM stops the loop (NULL: stop at once); a
 * process that waits for a child of its own forwards the signal and stops later. */
void ferry_loop_on_stop_signal(struct ferry_loop *loop, ferry_stop_fn fn, void *ctx);

/* Sets the end-of-turn hook (NULL: none): it runs once per iteration, after the ready
 * descriptors and the due timers, with the iteration's now. The owner flushes there what
 * its callbacks batched during the turn (links' payloads, UDP and TUN output, ACKs). */
void ferry_loop_on_turn_end(struct ferry_loop *loop, ferry_turn_fn fn, void *ctx);

/* Registers io (fd, events, kind and fn filled in by the caller). Returns 0 or a
 * negative errno (-EEXIST if io is already registered). */
int ferry_loop_add(struct ferry_loop *loop, struct ferry_io *io);

/* Changes the events io waits for. Returns 0 or a negative errno. */
int ferry_loop_mod(struct ferry_loop *loop, struct ferry_io *io, uint32_t events);

/* Unregisters io; safe from any callback and on an io that is not registered. */
void ferry_loop_del(struct ferry_loop *loop, struct ferry_io *io);

/* Arms (or moves) timer to fire at deadline. Returns 0 or -ENOMEM. */
int ferry_timer_arm(struct ferry_loop *loop, struct ferry_timer *timer, uint64_t deadline);

/* Disarms timer; a no-op if it is not armed. */
void ferry_timer_cancel(struct ferry_loop *loop, struct ferry_timer *timer);

static inline int ferry_timer_armed(const struct ferry_timer *timer)
{
	return timer->slot != 0;
}

/* The nearest armed deadline, or UINT64_MAX when no timer is armed. */
uint64_t ferry_loop_next_deadline(const struct ferry_loop *loop);

/* One iteration: waits at most max_wait_ms (-1: until the next timer or event), then
 * dispatches and runs the end-of-turn hook. Returns the number of I/O and timer callbacks
 * run, or a negative errno. */
int ferry_loop_run_once(struct ferry_loop *loop, int max_wait_ms);

/* Iterates until ferry_loop_stop or a stopping signal. Returns 0, or a negative errno
 * if epoll fails. */
int ferry_loop_run(struct ferry_loop *loop);

/* Makes ferry_loop_run return after the current iteration. */
void ferry_loop_stop(struct ferry_loop *loop);

/* Human-readable name of an io kind ("tun", "udp", ...). */
const char *ferry_io_kind_name(enum ferry_io_kind kind);

#endif
