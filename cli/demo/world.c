// SPDX-License-Identifier: MIT
/*
 * The demo's world (see demo.h): three namespaces, two veth pairs, the emulator between
 * them, a ferry at each end. Every process of the demo is forked here, into its own
 * process group (Ctrl-C reaches the demo alone, which then stops them in order) and with
 * PR_SET_PDEATHSIG (they die if the demo is killed). The private directory holds the keys,
 * the two configurations, the logs and the control sockets; it is removed at the end.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "cli/daemon/daemon.h"
#include "cli/demo/internal.h"
#include "cli/key.h"
#include "tun/netlink.h"
#include "tun/netns.h"

enum {
	STOP_GRACE_MS = 2000, /* SIGTERM, then this long, then SIGKILL */
	READY_MS = 5000,      /* the emulator and each ferry must be up within this */
	POLL_MS = 20,
};

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* ---- processes ---------------------------------------------------------------------- */

pid_t demo_fork(struct demo_world *w, enum demo_ns ns, int (*fn)(void *arg), void *arg)
{
	pid_t parent = getpid(), pid;
	int i;

	if (w->nprocs == DEMO_PROCS_MAX)
		return -EMFILE;
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(1); /* the demo died before we could ask */
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		if (setns(w->ns[ns], CLONE_NEWNET) < 0)
			_exit(1);
		for (i = 0; i < DEMO_NS_COUNT; i++)
			close(w->ns[i]);
		_exit(fn(arg));
	}
	w->procs[w->nprocs++] = pid;
	return pid;
}

static bool reaped(pid_t pid, unsigned wait_ms)
{
	unsigned waited;

	for (waited = 0;; waited += POLL_MS) {
		pid_t r = waitpid(pid, NULL, WNOHANG);

		if (r == pid || (r < 0 && errno == ECHILD))
			return true;
		if (waited >= wait_ms)
			return false;
		sleep_ms(POLL_MS);
	}
}

void demo_stop_proc(struct demo_world *w, pid_t pid)
{
	size_t i;

	for (i = 0; i < w->nprocs && w->procs[i] != pid; i++)
		;
	if (i == w->nprocs)
		return;
	w->procs[i] = w->procs[--w->nprocs];
	kill(pid, SIGTERM);
	if (!reaped(pid, STOP_GRACE_MS)) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
}

/* A program run in a namespace, its output to a log in the directory. */
struct exec_args {
	char *const *argv;
	const char *log;
	const char *run_dir; /* FERRY_RUN_DIR, or NULL */
};

static int run_exec(void *arg)
{
	const struct exec_args *a = arg;
	int fd = open(a->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

	if (fd >= 0) {
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
	}
	if (a->run_dir)
		setenv("FERRY_RUN_DIR", a->run_dir, 1);
	execv(a->argv[0], a->argv);
	fprintf(stderr, "exec %s: %s\n", a->argv[0], strerror(errno));
	return 127;
}

/* ---- files --------------------------------------------------------------------------- */

static int write_file(const char *dir, const char *name, const char *text)
{
	char path[256];
	FILE *f;
	int fd, ok;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600); /* it holds a key */
	if (fd < 0)
		return -errno;
	f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		return -ENOMEM;
	}
	ok = fputs(text, f) >= 0;
	return fclose(f) == 0 && ok ? 0 : -EIO;
}

static void show_log(const struct demo_world *w, const char *name)
{
	char path[256], line[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", w->dir, name);
	f = fopen(path, "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		fprintf(stderr, "  %s: %s", name, line);
	fclose(f);
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

void demo_run_dir(const struct demo_world *w, char side, char *out, size_t cap)
{
	snprintf(out, cap, "%s/run-%c", w->dir, side);
}

/* ---- the world ------------------------------------------------------------------------ */

/* The emulator: opts->wanem, $FERRY_WANEM, beside this ferry, or where the build puts it. */
static int find_wanem(struct demo_world *w, const struct ferry_demo_options *opts)
{
	char dir[4096];
	const char *env = getenv("FERRY_WANEM");
	const char *tries[3];
	char beside[4096 + 32], build[4096 + 48];
	int i;

	snprintf(dir, sizeof(dir), "%s", w->self);
	snprintf(beside, sizeof(beside), "%s/ferry-wanem", dirname(dir));
	snprintf(build, sizeof(build), "%s/../netns-tests/ferry-wanem", dir);
	tries[0] = opts->wanem ? opts->wanem : env;
	tries[1] = beside;
	tries[2] = build;
	for (i = 0; i < 3; i++)
		if (tries[i] && access(tries[i], X_OK) == 0) {
			snprintf(w->wanem_path, sizeof(w->wanem_path), "%s", tries[i]);
			return 0;
		}
	fprintf(stderr, "ferry demo: cannot find ferry-wanem, the WAN emulator built with "
			"ferry (build/netns-tests/ferry-wanem): give --wanem PATH or set "
			"FERRY_WANEM\n");
	return -ENOENT;
}

/* Addresses and links of one namespace: each "name addr" (addr may be NULL: link up). */
static int configure(struct demo_world *w, enum demo_ns ns, const char *const links[][2], size_t n)
{
	struct ferry_nl nl;
	int saved, err;
	size_t i;

	err = ferry_netns_enter(w->ns[ns], &saved);
	if (err)
		return err;
	err = ferry_nl_open(&nl);
	for (i = 0; i < n && !err; i++) {
		unsigned idx = if_nametoindex(links[i][0]);
		uint8_t addr[4];

		if (!idx) {
			err = -ENODEV;
			break;
		}
		err = ferry_netns_offloads_off(links[i][0]);
		if (!err && links[i][1] && inet_pton(AF_INET, links[i][1], addr) == 1)
			err = ferry_nl_addr_add(&nl, idx, AF_INET, addr, 24);
		if (!err)
			err = ferry_nl_link_set(&nl, idx, 1, 0);
	}
	if (nl.sock)
		ferry_nl_close(&nl);
	ferry_netns_leave(saved);
	return err;
}

static int network(struct demo_world *w)
{
	static const char *const client[][2] = {{"c0", DEMO_CLIENT_WAN}};
	static const char *const wan[][2] = {{"wa", NULL}, {"wb", NULL}};
	static const char *const server[][2] = {{"s0", DEMO_SERVER_WAN}};
	int i, err = 0;

	for (i = 0; i < DEMO_NS_COUNT && !err; i++) {
		w->ns[i] = ferry_netns_new();
		if (w->ns[i] < 0)
			err = w->ns[i];
	}
	if (!err)
		err = ferry_netns_veth("c0", w->ns[DEMO_CLIENT], "wa", w->ns[DEMO_WAN]);
	if (!err)
		err = ferry_netns_veth("s0", w->ns[DEMO_SERVER], "wb", w->ns[DEMO_WAN]);
	if (!err)
		err = configure(w, DEMO_CLIENT, client, 1);
	if (!err)
		err = configure(w, DEMO_WAN, wan, 2);
	if (!err)
		err = configure(w, DEMO_SERVER, server, 1);
	if (err)
		fprintf(stderr, "ferry demo: network namespaces and veth pairs: %s\n",
			strerror(-err));
	return err;
}

static int emulator(struct demo_world *w, const struct ferry_demo_options *opts)
{
	char delay[16], loss[16], rate[24], stats[128], log[128];
	char *argv[16];
	struct exec_args a = {.argv = argv, .log = log};
	unsigned waited;
	int n = 0;
	pid_t pid;

	snprintf(delay, sizeof(delay), "%.1f", opts->rtt_ms / 2.0);
	snprintf(loss, sizeof(loss), "%g", opts->loss_pct);
	snprintf(rate, sizeof(rate), "%uM", opts->rate_mbit);
	snprintf(stats, sizeof(stats), "%s/wanem.stats", w->dir);
	snprintf(log, sizeof(log), "%s/wanem.log", w->dir);
	argv[n++] = w->wanem_path;
	argv[n++] = "--delay";
	argv[n++] = delay;
	argv[n++] = "--loss";
	argv[n++] = loss;
	if (opts->rate_mbit) {
		argv[n++] = "--rate";
		argv[n++] = rate;
	}
	argv[n++] = "--stats";
	argv[n++] = stats;
	argv[n++] = "--rt-priority";
	argv[n++] = "10";
	argv[n++] = "wa";
	argv[n++] = "wb";
	argv[n] = NULL;
	pid = demo_fork(w, DEMO_WAN, run_exec, &a);
	if (pid < 0)
		return (int)pid;
	w->wanem = pid;
	for (waited = 0; waited < READY_MS && !demo_stop; waited += POLL_MS) {
		if (access(stats, F_OK) == 0)
			return 0;
		if (waitpid(pid, NULL, WNOHANG) == pid)
			break;
		sleep_ms(POLL_MS);
	}
	fprintf(stderr, "ferry demo: the WAN emulator did not start:\n");
	show_log(w, "wanem.log");
	return -EIO;
}

static int configs(struct demo_world *w)
{
	uint8_t priv[2][FERRY_KEY_LEN], pub[2][FERRY_KEY_LEN];
	char b64[4][FERRY_KEY_B64_LEN + 1], text[1024];
	int i, err = 0;

	for (i = 0; i < 2 && !err; i++) {
		err = ferry_key_generate(priv[i]);
		if (!err)
			err = ferry_key_public(pub[i], priv[i]);
		ferry_key_to_base64(b64[i], priv[i]);
		ferry_key_to_base64(b64[2 + i], pub[i]);
	}
	sodium_memzero(priv, sizeof(priv));
	if (!err) {
		snprintf(
		    text, sizeof(text),
		    "# ferry demo: the client\n[Interface]\nPrivateKey = %s\nAddress = %s/24\n\n"
		    "[Peer]\nPublicKey = %s\nEndpoint = %s:%d\nAllowedIPs = %s/32\n",
		    b64[0], DEMO_CLIENT_TUN, b64[3], DEMO_SERVER_WAN, DEMO_PORT, DEMO_SERVER_TUN);
		err = write_file(w->dir, "client.conf", text);
	}
	if (!err) {
		snprintf(text, sizeof(text),
			 "# ferry demo: the server\n[Interface]\nPrivateKey = %s\nListenPort = %d\n"
			 "Address = %s/24\n\n[Peer]\nPublicKey = %s\nAllowedIPs = %s/32\n",
			 b64[1], DEMO_PORT, DEMO_SERVER_TUN, b64[2], DEMO_CLIENT_TUN);
		err = write_file(w->dir, "server.conf", text);
	}
	sodium_memzero(b64, sizeof(b64));
	sodium_memzero(text, sizeof(text));
	if (err)
		fprintf(stderr, "ferry demo: keys and configurations: %s\n", strerror(-err));
	return err;
}

/* `ferry up` at one end (side 'c' or 's'); ready once its control socket answers. */
static int ferry_end(struct demo_world *w, char side, pid_t *out)
{
	const char *name = side == 'c' ? "client" : "server";
	char conf[128], log[128], logname[32], run[128];
	char *argv[] = {w->self, "up", conf, "--name", "ferry0", NULL};
	struct exec_args a = {.argv = argv, .log = log, .run_dir = run};
	unsigned waited;
	pid_t pid;

	snprintf(conf, sizeof(conf), "%s/%s.conf", w->dir, name);
	snprintf(logname, sizeof(logname), "%s.log", name);
	snprintf(log, sizeof(log), "%s/%s", w->dir, logname);
	demo_run_dir(w, side, run, sizeof(run));
	pid = demo_fork(w, side == 'c' ? DEMO_CLIENT : DEMO_SERVER, run_exec, &a);
	if (pid < 0)
		return (int)pid;
	*out = pid;
	for (waited = 0; waited < READY_MS && !demo_stop; waited += POLL_MS) {
		if (ferry_control_call(run, "ferry0", "status", NULL) == 0)
			return 0;
		if (waitpid(pid, NULL, WNOHANG) == pid)
			break;
		sleep_ms(POLL_MS);
	}
	fprintf(stderr, "ferry demo: the %s's ferry did not start:\n", name);
	show_log(w, logname);
	return -EIO;
}

int demo_world_up(struct demo_world *w, const struct ferry_demo_options *opts)
{
	ssize_t n;
	int i, err;

	memset(w, 0, sizeof(*w));
	for (i = 0; i < DEMO_NS_COUNT; i++)
		w->ns[i] = -1;
	n = readlink("/proc/self/exe", w->self, sizeof(w->self) - 1);
	if (n <= 0)
		return -errno;
	w->self[n] = '\0';
	err = find_wanem(w, opts);
	if (err)
		return err;
	snprintf(w->dir, sizeof(w->dir), "/tmp/ferry-demo-XXXXXX");
	if (!mkdtemp(w->dir)) {
		err = -errno;
		w->dir[0] = '\0';
		fprintf(stderr, "ferry demo: a private directory in /tmp: %s\n", strerror(-err));
		return err;
	}
	err = network(w);
	if (!err)
		err = emulator(w, opts);
	if (!err)
		err = configs(w);
	if (!err)
		err = ferry_end(w, 's', &w->ferry_server);
	if (!err)
		err = ferry_end(w, 'c', &w->ferry_client);
	if (!err) {
		/* both ferries have read them: the keys need not lie on disk any longer */
		char path[128];

		snprintf(path, sizeof(path), "%s/client.conf", w->dir);
		unlink(path);
		snprintf(path, sizeof(path), "%s/server.conf", w->dir);
		unlink(path);
	}
	return demo_stop ? -EINTR : err;
}

void demo_world_down(struct demo_world *w)
{
	int i;

	/* the ferries first (the client, then the server), each told to tidy up */
	if (w->ferry_client)
		demo_stop_proc(w, w->ferry_client);
	if (w->ferry_server)
		demo_stop_proc(w, w->ferry_server);
	while (w->nprocs)
		demo_stop_proc(w, w->procs[w->nprocs - 1]);
	for (i = 0; i < DEMO_NS_COUNT; i++)
		if (w->ns[i] >= 0) {
			close(w->ns[i]);
			w->ns[i] = -1;
		}
	if (w->dir[0])
		nftw(w->dir, remove_one, 8, FTW_DEPTH | FTW_PHYS);
	w->dir[0] = '\0';
}
