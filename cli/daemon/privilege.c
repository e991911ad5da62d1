// SPDX-License-Identifier: MIT
/*
 * Not dumpable from the start, least privilege once up (docs/hardening.md).
 *
 * The first thing the daemon does, before it reads the configuration's keys, is to clear
 * its dumpable flag (prctl PR_SET_DUMPABLE): the kernel then writes no core dump of it
 * (keys in guarded memory are kept out of one anyway, the rest of the heap is not), and
 * only CAP_SYS_PTRACE may ptrace it or read its /proc/PID/mem, environ, maps or fds -- not
 * merely a process of the same user, which matters once it runs as User. Its /proc/PID
 * files become root's; status and stat stay readable by all. The kernel clears the flag
 * anyway when the daemon changes to User (fs.suid_dumpable 0, the default); this holds
 * from the start, as root too. ferry exec's command gets a flag of its own at execve.
 *
 * Setting up needs root's rights: the TUN, addresses, routes, rules, nftables, sysctls,
 * resolv.conf, forced socket buffers. Once all of it exists, ferry keeps only the
 * capabilities that the running loop or its teardown still use, optionally becomes the
 * configuration's User, and installs a seccomp filter that allows only the system calls
 * the loop and the teardown make.
 *
 * What needs what is decided from what was set up (ferry_daemon_privilege_needs), never
 * from the mode's name:
 *
 *   SO_MARK on an egress socket opened while up (FwMark, full-device)   CAP_NET_ADMIN
 *   IP_TRANSPARENT on one (EgressTransparent)                           CAP_NET_ADMIN
 *   ... bound to the client's own port, which may be below 1024         CAP_NET_BIND_SERVICE
 *   policy rules and nftables tables deleted at exit                    CAP_NET_ADMIN
 *   sysctls under /proc/sys/net written back at exit                    CAP_NET_ADMIN
 *   files written or removed at exit that the user's modes do not allow CAP_DAC_OVERRIDE
 *   ferry exec's command, running as another user, signalled to stop    CAP_KILL
 *
 * Nothing else: the TUN and sockets are open descriptors; ping sockets are governed by
 * net.ipv4.ping_group_range alone, which no capability bypasses (so never CAP_NET_RAW);
 * roaming changes only the peer's address, no route. The seccomp filter comes last
 * (changing capabilities and user are not in it) and is inherited by any child: so no
 * hardening at all when PreDown or PostDown hooks will start bash as root at teardown.
 * ferry exec's command is started before, and keeps ferry's original rights; commands
 * that join later are started by their own `ferry exec`, not by the daemon.
 *
 * The state of libcap-ng is its own (per thread); nothing here keeps any of ours.
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <linux/sockios.h>
#include <pwd.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cap-ng.h>

#include "cli/daemon/internal.h"

#define RESOLV_CONF "/etc/resolv.conf" /* what dns.c writes back */

/* Sanitizer builds: their runtime makes system calls of its own (below). */
#if defined(__SANITIZE_ADDRESS__)
#define FERRY_SANITIZER_RUNTIME 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FERRY_SANITIZER_RUNTIME 1
#endif
#endif

static const struct {
	int cap;
	const char *why;
} need_caps[FERRY_NEED_COUNT] = {
    [FERRY_NEED_MARK] = {CAP_NET_ADMIN, "SO_MARK on egress sockets opened while up"},
    [FERRY_NEED_TRANSPARENT] = {CAP_NET_ADMIN, "IP_TRANSPARENT on egress sockets"},
    [FERRY_NEED_LOW_PORT] = {CAP_NET_BIND_SERVICE,
			     "transparent egress from a client's port below 1024"},
    [FERRY_NEED_RULES] = {CAP_NET_ADMIN, "deleting its policy rules at exit"},
    [FERRY_NEED_NFT] = {CAP_NET_ADMIN, "deleting its nftables tables at exit"},
    [FERRY_NEED_SYSCTL] = {CAP_NET_ADMIN, "putting sysctls back at exit"},
    [FERRY_NEED_FILES] = {CAP_DAC_OVERRIDE,
			  "files put back or removed at exit that the user may not write"},
    [FERRY_NEED_KILL] = {CAP_KILL, "stopping ferry exec's command, another user's"},
};

/* ---- what is still needed -------------------------------------------------------------- */

/* Whether the file at path (followed) may be written by uid/gid by its mode bits alone, or
 * with dir, whether an entry of directory path may be created or removed. ACLs are not
 * read: a file they open to the user costs a capability kept too many, never a failure. */
static bool may_write(const char *path, bool dir, uid_t uid, gid_t gid)
{
	mode_t w = dir ? S_IWOTH | S_IXOTH : S_IWOTH;
	struct stat st;

	if (stat(path, &st) < 0)
		return false;
	if (st.st_uid == uid)
		w <<= 6;
	else if (st.st_gid == gid)
		w <<= 3;
	if (dir && (st.st_mode & S_ISVTX) && st.st_uid != uid)
		return false; /* sticky: only the owners of the entries may remove them */
	return (st.st_mode & w) == w;
}

/* The directory path is in (path is copied: dirname writes). */
static bool may_write_in(const char *path, uid_t uid, gid_t gid)
{
	char copy[PATH_MAX];

	snprintf(copy, sizeof(copy), "%s", path);
	return may_write(dirname(copy), true, uid, gid);
}

/* What teardown writes or removes by path: the control socket and its namespace's
 * directory (control.c), the sysctls' note (sysctl.c, beside the socket), resolv.conf and
 * its backup (dns.c), ferry exec's resolv.conf (exec.c). */
static bool files_need_override(const struct ferry_daemon *d, uid_t uid, gid_t gid)
{
	bool ok = true;

	if (d->control_path[0]) {
		ok &= may_write_in(d->control_path, uid, gid);
		if (!d->opts.run_dir && !getenv("FERRY_RUN_DIR") &&
		    strncmp(d->control_path, FERRY_RUN_DIR "/netns/",
			    sizeof(FERRY_RUN_DIR "/netns/") - 1) == 0)
			ok &= may_write(FERRY_RUN_DIR "/netns", true, uid, gid); /* its rmdir */
	}
	if (d->dns.set) {
		ok &= d->dns.absent ? may_write_in(RESOLV_CONF, uid, gid)
				    : may_write(RESOLV_CONF, false, uid, gid);
		ok &= may_write_in(d->dns.backup_path, uid, gid);
	}
	if (d->exec.resolv[0])
		ok &= may_write_in(d->exec.resolv, uid, gid);
	return !ok;
}

uint32_t ferry_daemon_privilege_needs(const struct ferry_daemon *d, uid_t uid, gid_t gid)
{
	const struct ferry_config_interface *iface = &d->cfg.iface;
	uint32_t n = 0;

	if (iface->fwmark) /* egress marks its sockets as net.c marked the link's */
		n |= 1u << FERRY_NEED_MARK;
	if (iface->egress_transparent) /* egress sets it whatever the mode (stack/egress.c) */
		n |= 1u << FERRY_NEED_TRANSPARENT | 1u << FERRY_NEED_LOW_PORT;
	if (d->fulldev.nrules || d->site.nrules)
		n |= 1u << FERRY_NEED_RULES;
	if (d->fulldev.nft || d->site.nft)
		n |= 1u << FERRY_NEED_NFT;
	/* not only a question of the files' owner: the forwarding sysctls' handlers ask for
	 * CAP_NET_ADMIN themselves, of root too */
	if (d->sysctls.n)
		n |= 1u << FERRY_NEED_SYSCTL;
	if (files_need_override(d, uid, gid))
		n |= 1u << FERRY_NEED_FILES;
	/* the command runs as its user, else as ferry was started */
	if (d->exec.running && (d->exec.user.set ? d->exec.user.uid : geteuid()) != uid)
		n |= 1u << FERRY_NEED_KILL;
	return n;
}

uint64_t ferry_privilege_caps_for(uint32_t n)
{
	uint64_t caps = 0;
	int i;

	for (i = 0; i < FERRY_NEED_COUNT; i++)
		if (n & 1u << i)
			caps |= 1ull << need_caps[i].cap;
	return caps;
}

/* ---- the start: not dumpable, FERRY_HARDENING and User ------------------------------------ */

int ferry_daemon_privilege_undumpable(struct ferry_daemon *d)
{
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
		int err = -errno;

		ferry_log(&d->log, FERRY_LOG_ERROR, "privileges: clearing the dumpable flag: %s",
			  strerror(-err));
		return err;
	}
	return 0;
}

int ferry_daemon_privilege_init(struct ferry_daemon *d)
{
	static const char *const modes[] = {
	    [FERRY_HARDENING_ON] = "on",
	    [FERRY_HARDENING_LOG] = "log",
	    [FERRY_HARDENING_NOFILTER] = "nofilter",
	    [FERRY_HARDENING_OFF] = "off",
	};
	struct ferry_privilege *p = &d->privilege;
	const char *env = getenv("FERRY_HARDENING"), *user = d->cfg.iface.user;
	const struct passwd *pw;
	size_t i;

	memset(p, 0, sizeof(*p));
	p->mode = FERRY_HARDENING_ON;
	for (i = 0; env && *env && i < sizeof(modes) / sizeof(modes[0]); i++)
		if (strcmp(env, modes[i]) == 0)
			break;
	if (env && *env && i == sizeof(modes) / sizeof(modes[0])) {
		ferry_log(&d->log, FERRY_LOG_ERROR,
			  "FERRY_HARDENING=\"%.20s\": expected on, log, nofilter or off", env);
		return -EINVAL;
	}
	if (env && *env)
		p->mode = (enum ferry_hardening)i;
	if (!user[0])
		return 0;
	if (p->mode == FERRY_HARDENING_OFF) {
		ferry_log(&d->log, FERRY_LOG_WARN,
			  "User = %s (line %u) is not used: FERRY_HARDENING=off keeps root", user,
			  d->cfg.iface.user_line);
		return 0;
	}
	/* a name first: a user may be called by digits, as wg-quick's tools allow */
	pw = getpwnam(user);
	if (!pw && strspn(user, "0123456789") == strlen(user))
		pw = getpwuid((uid_t)strtoul(user, NULL, 10));
	if (!pw) {
		ferry_log(&d->log, FERRY_LOG_ERROR,
			  "%s:%u: [Interface] User: no user \"%s\" on this machine, expected one "
			  "that getent passwd lists",
			  d->opts.config_path, d->cfg.iface.user_line, user);
		return -ENOENT;
	}
	p->user_set = true;
	p->uid = pw->pw_uid;
	p->gid = pw->pw_gid;
	snprintf(p->user, sizeof(p->user), "%s", pw->pw_name);
	return 0;
}

/* ---- capabilities -------------------------------------------------------------------------- */

uint64_t ferry_privilege_effective(void)
{
	uint64_t caps = 0;
	int c;

	if (capng_get_caps_process() != 0)
		return 0;
	for (c = 0; c <= CAP_LAST_CAP && c < 64; c++)
		if (capng_have_capability(CAPNG_EFFECTIVE, (unsigned int)c))
			caps |= 1ull << c;
	return caps;
}

int ferry_privilege_apply(const struct ferry_privilege *p)
{
	bool bounds;
	int c, rc;

	if (capng_get_caps_process() != 0)
		return -EIO;
	/* emptying the bounding set takes CAP_SETPCAP: a ferry started with file
	 * capabilities may lack it, and keeps its bounding set then */
	bounds = capng_have_capability(CAPNG_EFFECTIVE, CAP_SETPCAP);
	capng_clear(CAPNG_SELECT_BOTH);
	for (c = 0; c <= CAP_LAST_CAP && c < 64; c++)
		if (p->caps & 1ull << c)
			capng_update(CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED, (unsigned int)c);
	if (!p->user_set)
		return capng_apply(bounds ? CAPNG_SELECT_BOTH : CAPNG_SELECT_CAPS) == 0 ? 0
											: -EPERM;
	/* keeps the set above across setresgid and setresuid, supplementary groups dropped */
	rc = capng_change_id((int)p->uid, (int)p->gid,
			     CAPNG_DROP_SUPP_GRP | (bounds ? CAPNG_CLEAR_BOUNDING : 0));
	return rc == 0 ? 0 : -EPERM;
}

/* ---- the seccomp filter ---------------------------------------------------------------------- */

/* Everything the loop and the teardown call, by who calls it, as space-separated names.
 * Taken from the code (cli/, stack/, transport/, tun/, and what glibc, libsodium, libmnl
 * and libnftables do for them), then checked: every namespace test run with the filter
 * in log mode leaves no call outside the list in the kernel's audit log
 * (docs/hardening.md). Not in it: execve, fork and clone, ptrace, mount, setns, unshare,
 * bpf, module and key management, io_uring, changing ids or capabilities, ... */
static const char *const allowed[] = {
    /* the loop: epoll, the signalfd, the clock, logging to stderr */
    "epoll_wait epoll_pwait epoll_pwait2 epoll_ctl read readv write writev",
    "clock_gettime clock_getres gettimeofday time nanosleep clock_nanosleep",
    "rt_sigprocmask rt_sigreturn restart_syscall getpid gettid getuid geteuid getgid getegid",
    /* memory: malloc, the pools, lwIP's heap; keys' guarded memory (transport/secret.h),
     * unlocked as it is freed at teardown */
    "brk mmap munmap mremap mprotect madvise mlock munlock",
    /* the link's sockets, egress's sockets (TCP, UDP, ping), the control socket; socket()
     * and ioctl() are below, with their arguments checked */
    "recvmmsg sendmmsg recvfrom sendto recvmsg sendmsg connect bind accept4 getsockname",
    "getpeername getsockopt setsockopt shutdown close fcntl poll ppoll",
    /* libsodium's random numbers (rekeying, new flows' keys) */
    "getrandom",
    /* teardown: sysctls, resolv.conf, notes and sockets' files; netlink (libmnl,
     * libnftables: its select(), its reading of /etc/iproute2 and /etc/nftables) */
    "openat open lseek pread64 fstat newfstatat stat lstat statx fsync unlink unlinkat",
    "rmdir getdents64 access faccessat faccessat2 readlink select pselect6 uname",
    "sched_getaffinity",
    /* ferry exec's command stopped: a signal, its status */
    "kill wait4 waitid",
    /* the end; abort() and assert() */
    "exit exit_group rt_sigaction tgkill tkill",
};

#ifdef FERRY_SANITIZER_RUNTIME
/* AddressSanitizer's: LeakSanitizer stops the process at exit to look for leaks from a
 * clone of it that ptraces it; reports read /proc/self/maps. Only in sanitizer builds,
 * which have no other way to check that teardown leaks nothing. */
static const char *const sanitizer_allowed[] = {
    "clone ptrace prctl sched_yield sigaltstack getppid futex set_robust_list getdents",
    "process_vm_readv getrlimit prlimit64 setrlimit",
};
#endif

/* socket(): the families ferry opens; ioctl(): SIOCOUTQ, what egress asks a TCP socket
 * (stack/egress_tcp.c), FIONREAD and FIONBIO, and TCGETS (isatty, for stdio). Other
 * families (packet, alg, vsock, ...) and requests are the kernel's larger surface. */
static const int families[] = {AF_INET, AF_INET6, AF_UNIX, AF_NETLINK};
static const unsigned long ioctls[] = {SIOCOUTQ, FIONREAD, FIONBIO, TCGETS};

/* Allows every system call named in groups (space-separated names); one this
 * architecture does not have is skipped. Counts them in *count. 0 or a negative errno. */
static int allow_list(scmp_filter_ctx ctx, const char *const *groups, size_t n, int *count)
{
	char name[32];
	size_t i, len;
	int nr, rc;

	for (i = 0; i < n; i++) {
		const char *p = groups[i];

		while (*p) {
			len = strcspn(p, " ");
			if (len && len < sizeof(name)) {
				memcpy(name, p, len);
				name[len] = '\0';
				nr = seccomp_syscall_resolve_name(name);
				rc = nr == __NR_SCMP_ERROR
					 ? 0
					 : seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
				if (rc < 0)
					return rc;
				*count += nr != __NR_SCMP_ERROR;
			}
			p += len + (p[len] == ' ');
		}
	}
	return 0;
}

int ferry_privilege_filter(bool log_only)
{
	scmp_filter_ctx ctx = seccomp_init(log_only ? SCMP_ACT_LOG : SCMP_ACT_KILL_PROCESS);
	int rc, count = 0;
	size_t i;

	if (!ctx)
		return -ENOMEM;
	rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	if (!rc)
		rc = allow_list(ctx, allowed, sizeof(allowed) / sizeof(allowed[0]), &count);
#ifdef FERRY_SANITIZER_RUNTIME
	if (!rc)
		rc = allow_list(ctx, sanitizer_allowed,
				sizeof(sanitizer_allowed) / sizeof(sanitizer_allowed[0]), &count);
#endif
	for (i = 0; !rc && i < sizeof(families) / sizeof(families[0]); i++)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
				      (struct scmp_arg_cmp){.arg = 0,
							    .op = SCMP_CMP_EQ,
							    .datum_a = (scmp_datum_t)families[i],
							    .datum_b = 0});
	for (i = 0; !rc && i < sizeof(ioctls) / sizeof(ioctls[0]); i++)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
				      (struct scmp_arg_cmp){.arg = 1,
							    .op = SCMP_CMP_MASKED_EQ,
							    .datum_a = 0xffffffffu,
							    .datum_b = ioctls[i]});
	if (!rc)
		rc = seccomp_load(ctx);
	seccomp_release(ctx);
	return rc < 0 ? rc : count + 2;
}

/* ---- once up ----------------------------------------------------------------------------------
 */

static void log_kept(struct ferry_daemon *d, const struct ferry_privilege *p)
{
	int c, i;

	for (c = 0; c <= CAP_LAST_CAP && c < 64; c++) {
		char why[256];
		size_t len = 0;

		if (!(p->caps & 1ull << c))
			continue;
		why[0] = '\0';
		for (i = 0; i < FERRY_NEED_COUNT; i++)
			if (p->needs & 1u << i && need_caps[i].cap == c && len < sizeof(why))
				len += (size_t)snprintf(why + len, sizeof(why) - len, "%s%s",
							len ? "; " : "", need_caps[i].why);
		ferry_log(&d->log, FERRY_LOG_INFO, "privileges: keeping cap_%s: %s",
			  capng_capability_to_name((unsigned int)c), why);
	}
}

int ferry_daemon_privilege_drop(struct ferry_daemon *d)
{
	struct ferry_privilege *p = &d->privilege;
	const struct ferry_config_hooks *hooks = &d->cfg.iface.hooks;
	uid_t uid = p->user_set ? p->uid : geteuid();
	gid_t gid = p->user_set ? p->gid : getegid();
	uint64_t had = ferry_privilege_effective();
	char as[96];
	int err;

	if (p->mode == FERRY_HARDENING_OFF) {
		ferry_log(&d->log, FERRY_LOG_WARN,
			  "privileges: all kept, no seccomp filter (FERRY_HARDENING=off)");
		return 0;
	}
	if (!d->opts.exec_argv && d->hooks_up &&
	    (hooks->n[FERRY_HOOK_PRE_DOWN] || hooks->n[FERRY_HOOK_POST_DOWN])) {
		ferry_log(&d->log, FERRY_LOG_INFO,
			  "privileges: all kept, no seccomp filter: PreDown and PostDown run as "
			  "root when ferry stops");
		return 0;
	}
	p->needs = ferry_daemon_privilege_needs(d, uid, gid);
	p->caps = ferry_privilege_caps_for(p->needs) & had; /* what it never had: not kept */
	err = ferry_privilege_apply(p);
	if (err) {
		ferry_log(&d->log, FERRY_LOG_ERROR,
			  "privileges: %s%s failed: %s (FERRY_HARDENING=off runs without)",
			  p->user_set ? "changing to user " : "dropping capabilities",
			  p->user_set ? p->user : "", strerror(-err));
		return err;
	}
	log_kept(d, p);
	snprintf(as, sizeof(as), "as %s (uid %u, gid %u)", p->user_set ? p->user : "it was started",
		 (unsigned)getuid(), (unsigned)getgid());
	if (p->mode == FERRY_HARDENING_NOFILTER) {
		ferry_log(&d->log, FERRY_LOG_INFO,
			  "privileges: %s, %s; no seccomp filter (FERRY_HARDENING=nofilter)",
			  p->caps ? "other capabilities dropped" : "no capabilities kept", as);
		return 0;
	}
	err = ferry_privilege_filter(p->mode == FERRY_HARDENING_LOG);
	if (err < 0) {
		ferry_log(&d->log, FERRY_LOG_ERROR,
			  "privileges: installing the seccomp filter: %s (FERRY_HARDENING=nofilter "
			  "runs without)",
			  strerror(-err));
		return err;
	}
	ferry_log(&d->log, FERRY_LOG_INFO,
		  "privileges: %s, running %s; seccomp filter: %d system calls allowed, any other "
		  "%s",
		  p->caps ? "other capabilities dropped" : "no capabilities kept", as, err,
		  p->mode == FERRY_HARDENING_LOG ? "logged (FERRY_HARDENING=log)"
						 : "kills the process");
	return 0;
}
