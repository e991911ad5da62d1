// SPDX-License-Identifier: MIT
/*
 * Least privilege once up (cli/daemon/privilege.c): the seccomp filter kills a process
 * that makes a system call outside its list and lets the loop's and teardown's own calls
 * through; the capabilities kept after the drop are exactly those claimed, across a change
 * of user too; and what is kept follows what was set up. Before all that, the start
 * leaves the process not dumpable.
 *
 * A filter or a drop cannot be undone, so each runs in a child forked for it, which says
 * how it went by its exit status (0: all as expected, else the number of the check that
 * failed) or dies by the filter's SIGSYS. Dropping capabilities and changing user need
 * root: without it those cases are left out, and said so.
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/random.h>
#include <sys/reboot.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include <linux/capability.h>
#include <linux/netlink.h>

#include "cli/daemon/internal.h"
#include "tests/support/fixture.h"

/* As privilege.c: sanitizer builds allow their runtime's clone and ptrace. */
#if defined(__SANITIZE_ADDRESS__)
#define SANITIZER_RUNTIME 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZER_RUNTIME 1
#endif
#endif

#define CAP(c) (1ull << (c))

/* Runs fn(arg) in a child without core dumps and returns its wait status. */
static int in_child(int (*fn)(void *), void *arg)
{
	struct rlimit none = {0, 0};
	int st = 0;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		setrlimit(RLIMIT_CORE, &none);
		_exit(fn(arg)); /* no atexit handlers: nothing after the filter but fn */
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	return st;
}

static void expect_exit_0(int st, const char *what)
{
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: %s %d", what,
		      WIFEXITED(st) ? "check failed:" : "killed by signal",
		      WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
}

/* A field of /proc/self/status ("CapEff", "Seccomp"), read as hex or decimal. */
static int status_field(const char *name, int base, unsigned long long *out)
{
	char line[256];
	size_t len = strlen(name);
	FILE *f = fopen("/proc/self/status", "re");
	int found = -1;

	if (!f)
		return -1;
	while (found < 0 && fgets(line, sizeof(line), f))
		if (strncmp(line, name, len) == 0 && line[len] == ':') {
			*out = strtoull(line + len + 1, NULL, base);
			found = 0;
		}
	fclose(f);
	return found;
}

/* ---- the filter ---------------------------------------------------------------------- */

enum forbidden {
	F_REBOOT,
	F_MOUNT,
	F_UNSHARE,
	F_SETUID,
	F_EXECVE,
	F_PACKET_SOCKET,
	F_IOCTL,
	F_FORK,	  /* clone: LeakSanitizer's own in sanitizer builds */
	F_PTRACE, /* likewise */
	F_COUNT,
};

static int make_forbidden_call(void *arg)
{
	enum forbidden which = *(const enum forbidden *)arg;
	char *const argv[] = {"true", NULL};
	int fd = socket(AF_INET, SOCK_DGRAM, 0), one = 1;

	if (fd < 0 || ferry_privilege_filter(false) < 0)
		return 90;
	switch (which) {
	case F_REBOOT: /* harmless if it got through: no magic numbers */
		syscall(SYS_reboot, 0, 0, 0, NULL);
		break;
	case F_MOUNT:
		mount("none", "/nonexistent", "tmpfs", 0, NULL);
		break;
	case F_UNSHARE:
		unshare(CLONE_NEWNET);
		break;
	case F_SETUID:
		setuid(getuid());
		break;
	case F_EXECVE:
		execve("/bin/true", argv, NULL);
		break;
	case F_PACKET_SOCKET:
		socket(AF_PACKET, SOCK_DGRAM, 0);
		break;
	case F_IOCTL: /* a request the list does not hold */
		ioctl(fd, FIOASYNC, &one);
		break;
	case F_FORK:
		if (fork() == 0)
			_exit(0);
		break;
	case F_PTRACE:
		ptrace(PTRACE_TRACEME, 0, NULL, NULL);
		break;
	default:
		break;
	}
	return 91; /* it went through */
}

START_TEST(forbidden_calls_kill_the_process)
{
	static const char *const names[F_COUNT] = {
	    "reboot",	       "mount", "unshare", "setuid", "execve", "socket(AF_PACKET)",
	    "ioctl(FIOASYNC)", "fork",	"ptrace",
	};
	enum forbidden which;

	for (which = 0; which < F_COUNT; which++) {
		int st;

#ifdef SANITIZER_RUNTIME
		if (which == F_FORK || which == F_PTRACE)
			continue;
#endif
		st = in_child(make_forbidden_call, &which);
		ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS,
			      "%s: expected death by SIGSYS, got %s %d", names[which],
			      WIFEXITED(st) ? "exit" : "signal",
			      WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
	}
}
END_TEST

/* What the loop and teardown do, each a numbered check. */
static int make_allowed_calls(void *arg)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sin);
	struct epoll_event ev = {.events = EPOLLIN};
	int ep = epoll_create1(EPOLL_CLOEXEC), fd, nl, n = 0, one = 1;
	unsigned long long seccomp = 0;
	char buf[64], path[] = "/tmp/ferry-privilege-XXXXXX";
	struct timespec ts;
	int tmp = mkstemp(path);

	(void)arg;
	if (ep < 0 || tmp < 0)
		return 1;
	close(tmp);
	if (ferry_privilege_filter(false) < 0)
		return 2;
	if (status_field("Seccomp", 10, &seccomp) != 0 || seccomp != 2)
		return 3;
	if (syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts) != 0 || getpid() <= 0)
		return 4;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &one, sizeof(one)) != 0)
		return 5;
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) != 0)
		return 6;
	if (sendto(fd, "x", 1, 0, (struct sockaddr *)&sin, sizeof(sin)) != 1 ||
	    ioctl(fd, FIONREAD, &n) != 0 || recv(fd, buf, sizeof(buf), 0) != 1)
		return 7;
	ev.data.fd = fd;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0 || epoll_wait(ep, &ev, 1, 0) < 0)
		return 8;
	nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (nl < 0)
		return 9;
	if (getrandom(buf, sizeof(buf), 0) != (ssize_t)sizeof(buf))
		return 10;
	if (unlink(path) != 0 || kill(getpid(), 0) != 0)
		return 11;
	close(nl);
	close(fd);
	close(ep);
	return 0;
}

START_TEST(loop_and_teardown_calls_are_allowed)
{
	expect_exit_0(in_child(make_allowed_calls, NULL), "allowed calls");
}
END_TEST

/* The log-only filter lets everything through and still counts as one. */
static int log_only_filter(void *arg)
{
	unsigned long long seccomp = 0;

	(void)arg;
	if (ferry_privilege_filter(true) < 0)
		return 1;
	if (status_field("Seccomp", 10, &seccomp) != 0 || seccomp != 2)
		return 2;
	syscall(SYS_reboot, 0, 0, 0, NULL); /* logged; refused by the kernel as always */
	return 0;
}

START_TEST(log_only_filter_does_not_kill)
{
	expect_exit_0(in_child(log_only_filter, NULL), "log-only filter");
}
END_TEST

/* ---- capabilities (root) ------------------------------------------------------------- */

struct drop_case {
	struct ferry_privilege p;
	const char *root_file; /* a root-owned 0600 file: written only with DAC_OVERRIDE */
};

/* Applies c->p; then the process's sets must be exactly c->p.caps (effective, permitted),
 * nothing else (inheritable, ambient, bounding), and each kept one must work. */
static int drop_and_look(void *arg)
{
	const struct drop_case *c = arg;
	unsigned long long eff, prm, inh, bnd, amb;
	int fd, mark = 1, err, rc;

	if (ferry_privilege_apply(&c->p) != 0)
		return 1;
	if (status_field("CapEff", 16, &eff) || status_field("CapPrm", 16, &prm) ||
	    status_field("CapInh", 16, &inh) || status_field("CapBnd", 16, &bnd) ||
	    status_field("CapAmb", 16, &amb))
		return 2;
	if (eff != c->p.caps || prm != c->p.caps)
		return 3;
	if (inh || bnd || amb)
		return 4;
	if (ferry_privilege_effective() != c->p.caps)
		return 5;
	if (c->p.user_set) {
		uid_t r, e, s;

		if (getresuid(&r, &e, &s) != 0 || r != c->p.uid || e != c->p.uid || s != c->p.uid)
			return 6;
		if (getgid() != c->p.gid || getegid() != c->p.gid || getgroups(0, NULL) != 0)
			return 7;
	}
	/* SO_MARK: what CAP_NET_ADMIN is kept for */
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	err = setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) == 0 ? 0 : errno;
	close(fd);
	if ((c->p.caps & CAP(CAP_NET_ADMIN)) ? err != 0 : err != EPERM)
		return 8;
	/* CAP_SYS_ADMIN is never kept */
	if (unshare(CLONE_NEWNS) == 0 || errno != EPERM)
		return 9;
	if (c->root_file) {
		fd = open(c->root_file, O_WRONLY | O_CLOEXEC);
		rc = fd >= 0 ? 0 : errno;
		if (fd >= 0)
			close(fd);
		if ((c->p.caps & CAP(CAP_DAC_OVERRIDE)) ? rc != 0 : rc != EACCES)
			return 10;
	}
	return 0;
}

START_TEST(drop_keeps_exactly_what_it_claims)
{
	static const uint64_t sets[] = {
	    0,
	    CAP(CAP_NET_ADMIN),
	    CAP(CAP_NET_ADMIN) | CAP(CAP_NET_BIND_SERVICE),
	    CAP(CAP_NET_ADMIN) | CAP(CAP_DAC_OVERRIDE) | CAP(CAP_KILL),
	};
	size_t i;

	for (i = 0; i < sizeof(sets) / sizeof(sets[0]); i++) {
		struct drop_case c = {.p = {.caps = sets[i]}};
		char what[64];

		snprintf(what, sizeof(what), "keeping 0x%llx", (unsigned long long)sets[i]);
		expect_exit_0(in_child(drop_and_look, &c), what);
	}
}
END_TEST

START_TEST(user_change_keeps_the_capabilities)
{
	const struct passwd *pw = getpwnam("nobody");
	char path[] = "/tmp/ferry-privilege-XXXXXX";
	int fd = mkstemp(path);
	struct drop_case c = {.root_file = path};

	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(chmod(path, 0600), 0);
	if (!pw) {
		unlink(path);
		printf("privilege: no user nobody here; the change of user is not tested\n");
		return;
	}
	c.p.user_set = true;
	c.p.uid = pw->pw_uid;
	c.p.gid = pw->pw_gid;
	c.p.caps = CAP(CAP_NET_ADMIN);
	expect_exit_0(in_child(drop_and_look, &c), "nobody with cap_net_admin");
	c.p.caps = CAP(CAP_NET_ADMIN) | CAP(CAP_DAC_OVERRIDE);
	expect_exit_0(in_child(drop_and_look, &c), "nobody with cap_net_admin, cap_dac_override");
	c.p.caps = 0;
	expect_exit_0(in_child(drop_and_look, &c), "nobody with nothing");
	unlink(path);
}
END_TEST

/* ---- what is kept follows what was set up ---------------------------------------------- */

struct rig {
	struct ferry_daemon *d;
	char dir[32];
	uid_t uid;
	gid_t gid;
};

static void rig_init(struct rig *r)
{
	r->d = calloc(1, sizeof(*r->d));
	ck_assert_ptr_nonnull(r->d);
	snprintf(r->dir, sizeof(r->dir), "/tmp/ferry-priv-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(r->dir)); /* 0700, this user's: a control directory */
	snprintf(r->d->control_path, sizeof(r->d->control_path), "%s/t0.sock", r->dir);
	r->d->opts.run_dir = r->dir;
	r->d->log.name = "t0";
	r->d->log.level = FERRY_LOG_ERROR;
	r->uid = geteuid();
	r->gid = getegid();
}

static void rig_free(struct rig *r)
{
	rmdir(r->dir);
	free(r->d);
}

#define NEED(n) (1u << FERRY_NEED_##n)

START_TEST(needs_follow_what_was_set_up)
{
	struct rig r;
	uid_t other;

	rig_init(&r);
	other = r.uid == 65534 ? 65533 : 65534;
	/* a plain tunnel: sockets and the TUN are open descriptors, nothing more */
	ck_assert_uint_eq(ferry_daemon_privilege_needs(r.d, r.uid, r.gid), 0);
	ck_assert_uint_eq(ferry_privilege_caps_for(0), 0);

	r.d->cfg.iface.fwmark = 0xce54; /* FwMark, or full-device mode's own */
	ck_assert_uint_eq(ferry_daemon_privilege_needs(r.d, r.uid, r.gid), NEED(MARK));
	r.d->cfg.iface.fwmark = 0;

	r.d->fulldev.nrules = 4;
	r.d->fulldev.nft = true;
	ck_assert_uint_eq(ferry_daemon_privilege_needs(r.d, r.uid, r.gid), NEED(RULES) | NEED(NFT));
	ck_assert_uint_eq(ferry_privilege_caps_for(NEED(RULES) | NEED(NFT)), CAP(CAP_NET_ADMIN));
	r.d->fulldev.nrules = 0;
	r.d->fulldev.nft = false;
	r.d->site.nrules = 2;
	ck_assert_uint_eq(ferry_daemon_privilege_needs(r.d, r.uid, r.gid), NEED(RULES));
	r.d->site.nrules = 0;

	r.d->cfg.iface.egress_transparent = true;
	ck_assert_uint_eq(ferry_daemon_privilege_needs(r.d, r.uid, r.gid),
			  NEED(TRANSPARENT) | NEED(LOW_PORT));
	ck_assert_uint_eq(ferry_privilege_caps_for(NEED(TRANSPARENT) | NEED(LOW_PORT)),
			  CAP(CAP_NET_ADMIN) | CAP(CAP_NET_BIND_SERVICE));
	r.d->cfg.iface.egress_transparent = false;

	/* sysctls: writing forwarding back takes CAP_NET_ADMIN, of root too; another user
	 * cannot write in the control directory (this user's, 0700) either */
	r.d->sysctls.n = 1;
	ck_assert_uint_eq(ferry_daemon_privilege_needs(r.d, r.uid, r.gid), NEED(SYSCTL));
	ck_assert_uint_eq(ferry_daemon_privilege_needs(r.d, other, other),
			  NEED(SYSCTL) | NEED(FILES));
	ck_assert_uint_eq(ferry_privilege_caps_for(NEED(SYSCTL) | NEED(FILES)),
			  CAP(CAP_NET_ADMIN) | CAP(CAP_DAC_OVERRIDE));
	r.d->sysctls.n = 0;

	/* ferry exec's command: another user's takes CAP_KILL to stop */
	r.d->exec.running = true;
	r.d->exec.user.set = true;
	r.d->exec.user.uid = other;
	ck_assert_uint_eq(ferry_daemon_privilege_needs(r.d, r.uid, r.gid), NEED(KILL));
	ck_assert_uint_eq(ferry_privilege_caps_for(NEED(KILL)), CAP(CAP_KILL));
	r.d->exec.user.uid = r.uid;
	ck_assert_uint_eq(ferry_daemon_privilege_needs(r.d, r.uid, r.gid), 0);
	r.d->exec.running = false;
	rig_free(&r);
}
END_TEST

/* The start clears the dumpable flag (from a dumpable process: the check could fail). */
static int undumpable(void *arg)
{
	struct ferry_daemon *d = arg;

	if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) != 0 || prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 1)
		return 1;
	if (ferry_daemon_privilege_undumpable(d) != 0)
		return 2;
	if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0)
		return 3;
	return 0;
}

START_TEST(start_is_not_dumpable)
{
	struct rig r;

	rig_init(&r);
	expect_exit_0(in_child(undumpable, r.d), "not dumpable");
	rig_free(&r);
}
END_TEST

/* The whole drop as the daemon does it: in full-device mode it keeps CAP_NET_ADMIN
 * alone, says so in d->privilege, and the filter is on. */
static int daemon_drop(void *arg)
{
	struct ferry_daemon *d = arg;
	unsigned long long eff = 0, seccomp = 0;

	if (ferry_daemon_privilege_drop(d) != 0)
		return 1;
	if (d->privilege.caps != CAP(CAP_NET_ADMIN) ||
	    d->privilege.needs != (NEED(MARK) | NEED(RULES) | NEED(NFT)))
		return 2;
	if (status_field("CapEff", 16, &eff) || eff != d->privilege.caps)
		return 3;
	if (status_field("Seccomp", 10, &seccomp) || seccomp != 2)
		return 4;
	syscall(SYS_reboot, 0, 0, 0, NULL);
	return 5; /* the filter should have killed it */
}

START_TEST(daemon_drop_in_full_device_mode)
{
	struct rig r;
	int st;

	rig_init(&r);
	r.d->cfg.iface.fwmark = 0xce54;
	r.d->fulldev.nrules = 4;
	r.d->fulldev.nft = true;
	st = in_child(daemon_drop, r.d);
	ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS, "expected SIGSYS, got %s %d",
		      WIFEXITED(st) ? "check failed:" : "signal",
		      WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
	rig_free(&r);
}
END_TEST

/* With PreDown/PostDown hooks, or FERRY_HARDENING=off, nothing changes. */
static int daemon_keeps_all(void *arg)
{
	struct ferry_daemon *d = arg;
	uint64_t before = ferry_privilege_effective();
	unsigned long long seccomp = 1;

	if (ferry_daemon_privilege_drop(d) != 0)
		return 1;
	if (ferry_privilege_effective() != before)
		return 2;
	if (status_field("Seccomp", 10, &seccomp) || seccomp != 0)
		return 3;
	return 0;
}

START_TEST(down_hooks_or_off_keep_everything)
{
	char cmd[] = "true";
	struct rig r;

	rig_init(&r);
	r.d->cfg.iface.hooks.n[FERRY_HOOK_POST_DOWN] = 1;
	r.d->cfg.iface.hooks.cmd[FERRY_HOOK_POST_DOWN][0] = cmd;
	r.d->hooks_up = true;
	expect_exit_0(in_child(daemon_keeps_all, r.d), "PostDown hook");
	r.d->cfg.iface.hooks.n[FERRY_HOOK_POST_DOWN] = 0;
	r.d->hooks_up = false;
	r.d->privilege.mode = FERRY_HARDENING_OFF;
	expect_exit_0(in_child(daemon_keeps_all, r.d), "FERRY_HARDENING=off");
	rig_free(&r);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("privilege");
	TCase *filter = ferry_tcase("filter", 10);
	TCase *plan = ferry_tcase("plan", 5);
	TCase *caps = ferry_tcase("capabilities", 10);

	tcase_add_test(filter, forbidden_calls_kill_the_process);
	tcase_add_test(filter, loop_and_teardown_calls_are_allowed);
	tcase_add_test(filter, log_only_filter_does_not_kill);
	suite_add_tcase(s, filter);
	tcase_add_test(plan, needs_follow_what_was_set_up);
	tcase_add_test(plan, down_hooks_or_off_keep_everything);
	tcase_add_test(plan, start_is_not_dumpable);
	suite_add_tcase(s, plan);
	if (geteuid() == 0) {
		tcase_add_test(caps, drop_keeps_exactly_what_it_claims);
		tcase_add_test(caps, user_change_keeps_the_capabilities);
		tcase_add_test(caps, daemon_drop_in_full_device_mode);
		suite_add_tcase(s, caps);
	} else {
		printf("privilege: not root: dropping capabilities and changing user are not "
		       "tested\n");
	}
	return ferry_run_suite(s);
}
