/* SPDX-License-Identifier: MIT */
/*
 * The daemon: one end of a ferry tunnel, run in the foreground by `ferry up CONFIG`.
 *
 * Theory of operation. One process, one thread, one event loop (cli/loop.h). At start it
 * reads the configuration, creates the TUN device and gives it its MTU, addresses and a
 * route for every peer's AllowedIPs (device.c), opens the UDP sockets the link uses
 * (net.c), sets up one secure link per peer, the stack, egress and the bridge that joins
 * them (peers.c, daemon.c), and a control socket (control.c). Then the loop turns:
 *
 *   TUN readable  -> up to a batch of packets -> ferry_stack_input_batch   (device.c)
 *   UDP readable  -> recvmmsg batches -> ferry_link_set_input -> the bridge (net.c)
 *   egress fds    -> ferry_egress_io                                       (daemon.c)
 *   timers        -> stack, egress, links, bridge: each at its deadline    (daemon.c)
 *   end of turn   -> the stack's ACKs, the bridge's conversations, the links' payloads,
 *                    then one sendmmsg per batch of sealed datagrams; timers re-armed
 *
 * SIGINT and SIGTERM stop the loop; SIGUSR1 writes the status to the log; `ferry down`
 * and `ferry status` speak to the control socket. Teardown runs in reverse and removes
 * everything the daemon added: closing the TUN takes the device, its addresses and routes
 * with it, and the control socket's file is unlinked. A device or control socket left by
 * a ferry that was killed is taken over (or removed) at the next start.
 */
#ifndef FERRY_CLI_DAEMON_DAEMON_H
#define FERRY_CLI_DAEMON_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "cli/daemon/log.h"

#define FERRY_RUN_DIR "/run/ferry" /* control sockets: NAME.sock, mode 0600 (control.c) */

struct ferry_daemon_options {
	const char *config_path;
	const char *name;	    /* the interface; NULL: the file's base name, else ferry0 */
	const char *run_dir;	    /* the control socket's directory; NULL: ferry_control_dir's */
	enum ferry_log_level level; /* of the log */
	char *const *exec_argv;	    /* ferry exec: the command for the namespace; NULL: up */
	const char *exec_user;	    /* ferry exec --user; NULL: the sudo caller, else as is */
	bool insecure_key_file;	    /* keys others may read: a warning, not an error */
};

/* The directory of the control sockets: dir if not NULL, else $FERRY_RUN_DIR if set, else
 * the caller's network namespace's own: /run/ferry/netns/NAME in one `ip netns` named,
 * /run/ferry/netns/ns-INODE in another that is not PID 1's, /run/ferry in the host's.
 * Returns 0 or a negative errno. */
int ferry_control_dir(const char *dir, char *out, size_t cap);

/* Sends one request line to the ferry named name (its control socket in
 * ferry_control_dir(dir)) and copies the answer to out (may be NULL). Returns 0, -ENOENT
 * when no ferry of that name runs, or another negative errno. */
int ferry_control_call(const char *dir, const char *name, const char *request, FILE *out);

/* Connects to the control socket of the ferry named name. Returns the socket, -ENOENT
 * when no ferry of that name runs, or another negative errno. */
int ferry_control_connect(const char *dir, const char *name);

/* ferry exec joining the namespace of the ferry exec named name (cli/daemon/exec.c): runs
 * argv there as `user` would be resolved for the first one, waits for it and returns its
 * exit status; -ENOENT when no ferry of that name runs (nothing was started). */
int ferry_exec_join(const char *run_dir, const char *name, const char *user, char *const argv[]);

/* Runs one end of the tunnel until it is stopped. Returns a process exit status
 * (FERRY_EXIT_OK after a clean stop, FERRY_EXIT_FAIL when it could not start; with
 * exec_argv, the command's once it ran, see cli/daemon/exec.c). */
int ferry_daemon_run(const struct ferry_daemon_options *opts);

#endif
