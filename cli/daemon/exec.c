// SPDX-License-Identifier: MIT
/*
 * Per-app mode: `ferry exec -- CMD` runs CMD in a network namespace whose only links are
 * lo and ferry's TUN, so that CMD -- and nothing else on the machine -- goes through the
 * tunnel.
 *
 * The daemon makes the namespace (tun/netns.h: held by a descriptor, no name under
 * /run/netns, gone when its last holder goes), creates the TUN in its own namespace and
 * moves the device in (device.c): the TUN's descriptor keeps working, and the link's UDP
 * sockets stay where they were, on the machine's real routes. Then it starts CMD (spawn,
 * below): in the namespace, in a mount namespace of its own where the configuration's DNS
 * servers are bind-mounted over /etc/resolv.conf, with the signal mask ferry found, and as
 * the invoking user when ferry was started through sudo (SUDO_UID, SUDO_GID) or as
 * --user. Its end is watched through a pidfd in the loop.
 *
 * Other commands join by name: `ferry exec --name NAME -- CMD2` finds NAME's control
 * socket and asks to join; the daemon answers with the namespace's descriptor (SCM_RIGHTS)
 * and the path of its resolv.conf, and counts the connection as a user until it closes.
 * The joining process spawns CMD2 the same way and waits for it. The daemon stops when
 * its own command has ended and no joined one remains; its exit status is its command's
 * (128 + the signal if a signal ended it, 127 if it could not be found, 126 if it could
 * not run, 125 if ferry could not set it up).
 *
 * SIGINT and SIGTERM are passed on to the command (a ^C reaches it anyway through the
 * terminal); a second one stops ferry at once. `ferry down NAME` stops the tunnel: the
 * command is sent SIGTERM, and SIGKILL if it has not ended 3 s later.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/command.h"
#include "cli/daemon/internal.h"

enum {
	EXIT_SETUP = 125, /* ferry could not set the command up */
	EXIT_CANNOT_RUN = 126,
	EXIT_NOT_FOUND = 127,
	STOP_GRACE_MS = 3000, /* SIGTERM, then this long, then SIGKILL */
};

/* ---- the command's user ------------------------------------------------------------- */

int ferry_exec_user_resolve(const char *user, struct ferry_exec_user *u, char *err, size_t cap)
{
	const struct passwd *pw = NULL;
	const char *sudo_uid = getenv("SUDO_UID");

	memset(u, 0, sizeof(*u));
	if (user) {
		char *end;
		unsigned long id = strtoul(user, &end, 10);

		pw = getpwnam(user);
		if (!pw && *user && !*end && id < 0xffffffffUL)
			pw = getpwuid((uid_t)id);
		if (!pw) {
			snprintf(err, cap, "--user %s: no such user", user);
			return -ENOENT;
		}
	} else if (sudo_uid && geteuid() == 0) {
		char *end;
		unsigned long id = strtoul(sudo_uid, &end, 10);

		if (!*sudo_uid || *end || id >= 0xffffffffUL) {
			snprintf(err, cap, "SUDO_UID=\"%.20s\" is not a user id", sudo_uid);
			return -EINVAL;
		}
		pw = getpwuid((uid_t)id);
		if (!pw) {
			snprintf(err, cap, "SUDO_UID=%lu: no such user", id);
			return -ENOENT;
		}
	} else {
		return 0; /* as it is */
	}
	u->set = true;
	u->uid = pw->pw_uid;
	u->gid = pw->pw_gid;
	snprintf(u->name, sizeof(u->name), "%s", pw->pw_name);
	snprintf(u->home, sizeof(u->home), "%s", pw->pw_dir);
	return 0;
}

/* ---- the command ---------------------------------------------------------------------- */

/* In the child: everything between fork and exec; nofile is the descriptor limit the
 * command gets (the one ferry itself was given, before raising its own), or
 * RLIM_INFINITY to leave it. Never returns. */
__attribute__((noreturn)) static void child(int ns_fd, const char *resolv,
					    const struct ferry_exec_user *u, const sigset_t *mask,
					    rlim_t nofile, char *const argv[])
{
	const char *step;
	struct rlimit rl;

	signal(SIGPIPE, SIG_DFL);
	sigprocmask(SIG_SETMASK, mask, NULL);
	if (nofile != RLIM_INFINITY && getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = nofile; /* a select() loop breaks past 1,024 */
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	step = "entering the tunnel's network namespace";
	if (setns(ns_fd, CLONE_NEWNET) < 0)
		goto fail;
	close(ns_fd);
	if (resolv && resolv[0]) {
		step = "a mount namespace for its resolv.conf";
		if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
			goto fail;
		step = "mounting the tunnel's resolv.conf over /etc/resolv.conf";
		if (mount(resolv, "/etc/resolv.conf", NULL, MS_BIND, NULL) < 0)
			goto fail;
	}
	if (u->set) {
		step = "becoming the user";
		if (initgroups(u->name, u->gid) < 0 || setgid(u->gid) < 0 || setuid(u->uid) < 0)
			goto fail;
		setenv("HOME", u->home, 1);
		setenv("USER", u->name, 1);
		setenv("LOGNAME", u->name, 1);
	}
	/* after setuid, which clears it: the command ends with ferry */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	execvp(argv[0], argv);
	fprintf(stderr, "ferry exec: %s: %s\n", argv[0], strerror(errno));
	_exit(errno == ENOENT ? EXIT_NOT_FOUND : EXIT_CANNOT_RUN);
fail:
	fprintf(stderr, "ferry exec: %s: %s\n", step, strerror(errno));
	_exit(EXIT_SETUP);
}

/* Starts argv in the namespace ns_fd; *pidfd watches it. Returns its PID or -errno. */
static pid_t spawn(int ns_fd, const char *resolv, const struct ferry_exec_user *u,
		   const sigset_t *mask, rlim_t nofile, char *const argv[], int *pidfd)
{
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0)
		child(ns_fd, resolv, u, mask, nofile, argv);
	*pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (*pidfd < 0) {
		int err = -errno;

		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return err;
	}
	fcntl(*pidfd, F_SETFD, FD_CLOEXEC);
	return pid;
}

/* The shell's convention for a child's end. */
static int exit_status(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return EXIT_SETUP;
}

/* Waits for pid to end and returns its exit status; with stop, sends it SIGTERM first and
 * SIGKILL if it is still there STOP_GRACE_MS later. */
static int reap(pid_t pid, bool stop)
{
	int st = 0, waited = 0;

	if (stop)
		kill(pid, SIGTERM);
	for (;;) {
		pid_t r = waitpid(pid, &st, stop ? WNOHANG : 0);

		if (r == pid)
			return exit_status(st);
		if (r < 0 && errno != EINTR)
			return EXIT_SETUP;
		if (r == 0 && waited == STOP_GRACE_MS)
			kill(pid, SIGKILL);
		if (r == 0) {
			poll(NULL, 0, 10);
			waited += 10;
		}
	}
}

/* ---- the daemon's side -------------------------------------------------------------------- */

static void maybe_finish(struct ferry_daemon *d)
{
	if (!d->exec.running && !d->exec.joined) {
		ferry_log(&d->log, FERRY_LOG_INFO, "the last command in the namespace ended");
		ferry_loop_stop(&d->loop);
	}
}

static void child_io(struct ferry_loop *loop, struct ferry_io *io, uint32_t events, uint64_t now)
{
	struct ferry_daemon *d = ferry_container_of(io, struct ferry_daemon, exec.io);
	int st;

	(void)events;
	(void)now;
	if (waitpid(d->exec.pid, &st, WNOHANG) != d->exec.pid)
		return;
	d->exec.status = exit_status(st);
	d->exec.running = false;
	ferry_loop_del(loop, io);
	close(io->fd);
	io->fd = -1;
	ferry_log(&d->log, FERRY_LOG_INFO, "%s ended (exit status %d)", d->opts.exec_argv[0],
		  d->exec.status);
	maybe_finish(d);
}

static bool on_stop_signal(struct ferry_loop *loop, void *ctx, int signo)
{
	struct ferry_daemon *d = ctx;

	(void)loop;
	if (!d->exec.running || d->exec.signals++)
		return true; /* nothing to wait for, or asked twice */
	ferry_log(&d->log, FERRY_LOG_INFO, "passing %s on to %s", strsignal(signo),
		  d->opts.exec_argv[0]);
	kill(d->exec.pid, signo);
	return false;
}

/* The namespace's resolv.conf: the configuration's DNS, readable by the command's user. */
static int write_resolv(struct ferry_daemon *d)
{
	char dir[96], text[2048];
	size_t len;
	int fd, err = 0;

	if (!d->cfg.iface.dns.line)
		return 0;
	err = ferry_control_dir(d->opts.run_dir, dir, sizeof(dir));
	if (err)
		return err;
	snprintf(d->exec.resolv, sizeof(d->exec.resolv), "%s/%s.exec-resolv.conf", dir, d->name);
	len = ferry_daemon_dns_text(d, text, sizeof(text));
	fd = open(d->exec.resolv, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, text, len) != (ssize_t)len)
		err = -errno;
	if (fd >= 0)
		close(fd);
	if (!err)
		err = chmod(d->exec.resolv, 0644) < 0 ? -errno : 0; /* whatever the umask */
	if (err) {
		ferry_log(&d->log, FERRY_LOG_ERROR, "%s: %s", d->exec.resolv, strerror(-err));
		unlink(d->exec.resolv);
		d->exec.resolv[0] = '\0';
	}
	return err;
}

int ferry_daemon_exec_start(struct ferry_daemon *d)
{
	struct ferry_daemon_exec *x = &d->exec;
	char why[160];
	pid_t pid;
	int err;

	err = ferry_exec_user_resolve(d->opts.exec_user, &x->user, why, sizeof(why));
	if (err) {
		ferry_log(&d->log, FERRY_LOG_ERROR, "%s", why);
		return err;
	}
	err = write_resolv(d);
	if (err)
		return err;
	pid = spawn(x->ns_fd, x->resolv, &x->user, &d->loop.old_mask, d->nofile_given,
		    d->opts.exec_argv, &x->io.fd);
	if (pid < 0) {
		ferry_log(&d->log, FERRY_LOG_ERROR, "starting %s: %s", d->opts.exec_argv[0],
			  strerror((int)-pid));
		return (int)pid;
	}
	x->pid = pid;
	x->running = true;
	x->io.events = EPOLLIN;
	x->io.kind = FERRY_IO_OTHER;
	x->io.fn = child_io;
	err = ferry_loop_add(&d->loop, &x->io);
	if (err)
		return err; /* the teardown reaps it */
	ferry_loop_on_stop_signal(&d->loop, on_stop_signal, d);
	ferry_log(&d->log, FERRY_LOG_INFO, "running %s (PID %d) in the tunnel's namespace%s%s",
		  d->opts.exec_argv[0], (int)pid, x->user.set ? " as " : "",
		  x->user.set ? x->user.name : "");
	return 0;
}

void ferry_daemon_exec_stop(struct ferry_daemon *d)
{
	struct ferry_daemon_exec *x = &d->exec;

	if (x->running) {
		ferry_loop_del(&d->loop, &x->io);
		close(x->io.fd);
		x->io.fd = -1;
		x->status = reap(x->pid, true);
		x->running = false;
	}
	if (x->resolv[0])
		unlink(x->resolv);
	x->resolv[0] = '\0';
	if (x->ns_fd >= 0)
		close(x->ns_fd);
	x->ns_fd = -1;
}

int ferry_daemon_exec_join(struct ferry_daemon_client *c)
{
	struct ferry_daemon *d = c->d;
	char text[160];
	struct iovec iov = {.iov_base = text};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
	struct cmsghdr *cm;

	if (!d->opts.exec_argv || d->exec.ns_fd < 0) {
		iov.iov_len = (size_t)snprintf(text, sizeof(text),
					       "error: %s is not a ferry exec namespace (it was "
					       "started by ferry up)\n",
					       d->name);
		sendmsg(c->io.fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		return -EINVAL;
	}
	iov.iov_len = (size_t)snprintf(text, sizeof(text), "ok %s\n",
				       d->exec.resolv[0] ? d->exec.resolv : "-");
	memset(&u, 0, sizeof(u));
	msg.msg_control = u.buf;
	msg.msg_controllen = sizeof(u.buf);
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &d->exec.ns_fd, sizeof(int));
	if (sendmsg(c->io.fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		return -errno;
	d->exec.joined++;
	ferry_log(&d->log, FERRY_LOG_INFO, "a command joined the namespace (%u joined)",
		  d->exec.joined);
	return 0;
}

void ferry_daemon_exec_left(struct ferry_daemon *d)
{
	d->exec.joined--;
	ferry_log(&d->log, FERRY_LOG_INFO, "a joined command ended (%u left)", d->exec.joined);
	maybe_finish(d);
}

/* ---- the joining side --------------------------------------------------------------------- */

/* Receives the daemon's answer to "join": the namespace's descriptor and the resolv.conf
 * path (empty: none). Returns the descriptor or a negative errno (why says what). */
static int join_answer(int sock, char *resolv, size_t cap, char *why, size_t why_cap)
{
	char text[200];
	struct iovec iov = {.iov_base = text, .iov_len = sizeof(text) - 1};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr msg = {.msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = u.buf,
			     .msg_controllen = sizeof(u.buf)};
	struct cmsghdr *cm;
	ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	int fd = -1;

	if (n <= 0) {
		snprintf(why, why_cap, "no answer from the running ferry");
		return n < 0 ? -errno : -EPIPE;
	}
	text[n] = '\0';
	text[strcspn(text, "\n")] = '\0';
	for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm))
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
		    cm->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	if (strncmp(text, "ok ", 3) != 0 || fd < 0) {
		if (fd >= 0)
			close(fd);
		snprintf(why, why_cap, "%s", strncmp(text, "error: ", 7) == 0 ? text + 7 : text);
		return -EINVAL;
	}
	snprintf(resolv, cap, "%s", strcmp(text + 3, "-") == 0 ? "" : text + 3);
	return fd;
}

int ferry_exec_join(const char *run_dir, const char *name, const char *user, char *const argv[])
{
	struct ferry_exec_user u;
	char resolv[256] = "", why[200];
	sigset_t mask, old;
	int sock, ns_fd, pidfd = -1, status, err;
	pid_t pid;

	err = ferry_exec_user_resolve(user, &u, why, sizeof(why));
	if (err) {
		fprintf(stderr, "ferry exec: %s\n", why);
		return FERRY_EXIT_FAIL;
	}
	sock = ferry_control_connect(run_dir, name);
	if (sock < 0)
		return sock; /* -ENOENT: nobody of that name */
	if (write(sock, "join\n", 5) != 5) {
		close(sock);
		return -EPIPE;
	}
	ns_fd = join_answer(sock, resolv, sizeof(resolv), why, sizeof(why));
	if (ns_fd < 0) {
		fprintf(stderr, "ferry exec: joining %s: %s\n", name, why);
		close(sock);
		return FERRY_EXIT_FAIL;
	}
	/* SIGINT and SIGTERM go to the command; ferry waits for it */
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_BLOCK, &mask, &old);
	pid = spawn(ns_fd, resolv, &u, &old, RLIM_INFINITY, argv, &pidfd);
	close(ns_fd);
	if (pid < 0) {
		fprintf(stderr, "ferry exec: starting %s: %s\n", argv[0], strerror((int)-pid));
		close(sock);
		sigprocmask(SIG_SETMASK, &old, NULL);
		return FERRY_EXIT_FAIL;
	}
	for (;;) {
		struct pollfd p[2] = {{.fd = pidfd, .events = POLLIN},
				      {.fd = sock, .events = POLLIN}};
		struct timespec zero = {0};
		int sig;

		while ((sig = sigtimedwait(&mask, NULL, &zero)) > 0)
			kill(pid, sig);
		if (poll(p, 2, 100) < 0 && errno != EINTR)
			break;
		if (p[0].revents)
			break;
		if (p[1].revents) { /* the tunnel went away: so does the command */
			fprintf(stderr, "ferry exec: the tunnel %s stopped; ending %s\n", name,
				argv[0]);
			status = reap(pid, true);
			goto done;
		}
	}
	status = reap(pid, false);
done:
	close(pidfd);
	close(sock); /* the daemon counts this user gone */
	sigprocmask(SIG_SETMASK, &old, NULL);
	return status;
}
