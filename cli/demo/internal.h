/* SPDX-License-Identifier: MIT */
/*
 * The demo's own structures, shared by its files (see demo.h for the whole):
 *   demo.c     the run: options checked, the world up, the measurements, the report
 *   world.c    the namespaces, their links and addresses, the emulator, both ferries,
 *              processes forked into a namespace, and taking all of it down
 *   traffic.c  what runs in those processes: a bulk sender and a receiver that counts,
 *              a request/response client and server
 */
#ifndef FERRY_CLI_DEMO_INTERNAL_H
#define FERRY_CLI_DEMO_INTERNAL_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cli/demo/demo.h"

enum demo_ns {
	DEMO_CLIENT,
	DEMO_WAN,
	DEMO_SERVER,
	DEMO_NS_COUNT,
};

enum {
	DEMO_PROCS_MAX = 16,
	DEMO_BULK_PORT = 5001,
	DEMO_RR_PORT = 5002,
	DEMO_RR_SIZE = 64,
	DEMO_REPORT_MS = 100, /* the receiver reports its count this often */
};

#define DEMO_CLIENT_WAN "198.51.100.1"
#define DEMO_SERVER_WAN "198.51.100.2"
#define DEMO_CLIENT_TUN "10.99.0.2"
#define DEMO_SERVER_TUN "10.99.0.1"
#define DEMO_PORT	51820

struct demo_world {
	int ns[DEMO_NS_COUNT]; /* descriptors holding the namespaces; -1 when not made */
	pid_t procs[DEMO_PROCS_MAX];
	size_t nprocs;
	pid_t wanem, ferry_client, ferry_server;
	char dir[64];	 /* the demo's private directory: keys, configs, logs, sockets */
	char self[4096]; /* this ferry executable */
	char wanem_path[4096];
};

/* Set by SIGINT and SIGTERM: every wait in the demo gives up when it is. */
extern volatile sig_atomic_t demo_stop;

/* world.c */
/* Builds the world for opts. Returns 0, or a negative errno after saying what failed. */
int demo_world_up(struct demo_world *w, const struct ferry_demo_options *opts);
/* Stops every process of the demo (SIGTERM, then SIGKILL after 2 s), lets the namespaces
 * go and removes the directory. Safe after a partial demo_world_up. */
void demo_world_down(struct demo_world *w);
/* Forks a process into namespace ns that dies with the demo, and records it; the child
 * runs fn(arg) and exits with its return value. Returns its PID or a negative errno. */
pid_t demo_fork(struct demo_world *w, enum demo_ns ns, int (*fn)(void *arg), void *arg);
/* Stops one recorded process (SIGTERM, then SIGKILL after 2 s) and reaps it. */
void demo_stop_proc(struct demo_world *w, pid_t pid);
/* The control socket directory of the client's or server's ferry. */
void demo_run_dir(const struct demo_world *w, char side, char *out, size_t cap);

/* traffic.c: each runs in a process of its own, inside a namespace. */
struct demo_sink {
	int report_fd; /* the count of bytes received (uint64_t) goes here, every 100 ms */
};
struct demo_source {
	const char *addr;
	const char *cc; /* NULL: the kernel's default */
};
struct demo_rr {
	const char *addr;
	unsigned count;
	int report_fd; /* p50 and p99 in microseconds (two uint64_t), or nothing on failure */
};
int demo_sink(void *arg);      /* receives bulk transfers on DEMO_BULK_PORT, forever */
int demo_source(void *arg);    /* sends to addr's DEMO_BULK_PORT until killed */
int demo_rr_server(void *arg); /* echoes DEMO_RR_SIZE-byte requests on DEMO_RR_PORT */
int demo_rr_client(void *arg); /* count sequential requests; their latencies */

#endif
