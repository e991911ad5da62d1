// SPDX-License-Identifier: MIT
/*
 * The control socket (see daemon.h): a unix stream socket DIR/NAME.sock (DIR: see
 * control_client.c). One request per connection, one line: "status", "status json" or
 * "down"; the answer is written and the connection closed. "join" (ferry exec, exec.c) is
 * answered with the namespace and the connection kept while the joined command runs. A
 * socket file whose daemon is gone (killed) is removed at the next start; one that still
 * answers means a ferry of that name runs, and this one does not start.
 *
 * Who may speak to it. By default only root: the directories 0700, the socket 0600. If a
 * group named "ferry" (FERRY_CONTROL_GROUP) exists when the daemon starts, the socket is
 * 0660 and the directories 0750, in that group: its members may connect and list the
 * sockets, never add or remove a file there (root's notes live beside the sockets). The
 * daemon then asks the kernel who connected (SO_PEERCRED, as of connect()): anyone but
 * uid 0 (or the user who started this ferry, with capabilities of its own: the owner of
 * the socket's file) may only ask for the status; "down", "join" and anything else are
 * refused with an "error: refused: ..." line, which the client prints (control_client.c).
 * Without the group the modes are root's alone again at the next start, so removing the
 * group takes the access away as each tunnel restarts.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli/daemon/internal.h"

#define FERRY_CONTROL_GROUP "ferry" /* its members may ask for the status */

enum {
	CONTROL_GROUP_BUF_MAX = 1 << 20, /* getgrnam_r's buffer at most (a group of many members) */
};

/* ---- the daemon's side ------------------------------------------------------------- */

static void client_close(struct ferry_daemon_client *c)
{
	ferry_loop_del(&c->d->loop, &c->io);
	close(c->io.fd);
	c->io.fd = -1;
	c->len = 0;
	if (c->joined) {
		c->joined = false;
		ferry_daemon_exec_left(c->d);
	}
}

/* Writes the whole answer, waiting at most a second for a slow reader. */
static void answer(struct ferry_daemon_client *c, const char *text, size_t len)
{
	size_t done = 0;

	while (done < len) {
		struct pollfd pfd = {.fd = c->io.fd, .events = POLLOUT};
		ssize_t n = send(c->io.fd, text + done, len - done, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n > 0) {
			done += (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN)
			return;
		if (poll(&pfd, 1, 1000) <= 0)
			return;
	}
}

/* Whether the client may do more than ask for the status: root (uid 0), or the user who
 * started this ferry (one with file or ambient capabilities), who owns its socket's file.
 * A client whose credentials cannot be read may not. */
static bool client_may_control(const struct ferry_daemon_client *c, struct ucred *cred)
{
	socklen_t len = sizeof(*cred);
	struct stat st;

	if (getsockopt(c->io.fd, SOL_SOCKET, SO_PEERCRED, cred, &len) < 0 || len != sizeof(*cred)) {
		*cred = (struct ucred){.pid = 0, .uid = (uid_t)-1, .gid = (gid_t)-1};
		return false;
	}
	if (cred->uid == 0)
		return true;
	return stat(c->d->control_path, &st) == 0 && st.st_uid == cred->uid;
}

/* A client other than root (or this ferry's owner) asked for more than the status: says
 * no, and why, to it and to the log (the request printable only: it is the client's). */
static void refuse(struct ferry_daemon_client *c, const struct ucred *cred)
{
	struct ferry_daemon *d = c->d;
	char req[41], what[96];
	size_t i, n;

	for (i = 0; i < sizeof(req) - 1 && c->req[i]; i++) {
		const char ch = c->req[i];

		req[i] = '?';
		if (ch >= 0x20 && ch < 0x7f)
			req[i] = ch;
	}
	req[i] = '\0';
	if (strcmp(c->req, "down") == 0)
		snprintf(what, sizeof(what), "stop %s", d->name);
	else if (strcmp(c->req, "join") == 0)
		snprintf(what, sizeof(what), "run commands in the namespace of %s", d->name);
	else
		snprintf(what, sizeof(what), "send \"%s\" to %s", req, d->name);
	n = (size_t)snprintf(
	    d->answer, sizeof(d->answer),
	    "error: refused: only root may %s; group %s may only read its status\n", what,
	    FERRY_CONTROL_GROUP);
	answer(c, d->answer, n);
	ferry_log(&d->log, FERRY_LOG_WARN,
		  "control socket: refused \"%s\" from uid %ld (PID %ld): only root may do that",
		  req, cred->uid == (uid_t)-1 ? -1L : (long)cred->uid, (long)cred->pid);
}

static void handle(struct ferry_daemon_client *c)
{
	struct ferry_daemon *d = c->d;
	bool status = strcmp(c->req, "status") == 0 || strcmp(c->req, "status json") == 0;
	char *out = d->answer;
	struct ucred cred;
	size_t n;

	if (status) {
		n = ferry_daemon_status(d, strcmp(c->req, "status json") == 0, out,
					sizeof(d->answer));
		answer(c, out, n);
	} else if (!client_may_control(c, &cred)) {
		refuse(c, &cred);
	} else if (strcmp(c->req, "join") == 0) {
		c->joined = ferry_daemon_exec_join(c) == 0;
	} else if (strcmp(c->req, "down") == 0) {
		ferry_log(&d->log, FERRY_LOG_INFO, "stopping (ferry down)");
		answer(c, "stopping\n", 9);
		d->stopping = true;
		ferry_loop_stop(&d->loop);
	} else {
		n = (size_t)snprintf(out, sizeof(d->answer), "error: unknown request \"%.40s\"\n",
				     c->req);
		answer(c, out, n);
	}
}

static void client_io(struct ferry_loop *loop, struct ferry_io *io, uint32_t events, uint64_t now)
{
	struct ferry_daemon_client *c = ferry_container_of(io, struct ferry_daemon_client, io);
	char *nl;
	ssize_t n;

	(void)loop;
	(void)events;
	(void)now;
	n = read(io->fd, c->req + c->len, sizeof(c->req) - 1 - c->len);
	if (n <= 0) {
		if (n == 0 || errno != EAGAIN)
			client_close(c);
		return;
	}
	if (c->joined) { /* a joined command's connection: only its end matters */
		c->len = 0;
		return;
	}
	c->len += (size_t)n;
	c->req[c->len] = '\0';
	nl = strchr(c->req, '\n');
	if (!nl) {
		if (c->len == sizeof(c->req) - 1)
			client_close(c); /* a line longer than any request */
		return;
	}
	*nl = '\0';
	handle(c);
	if (!c->joined)
		client_close(c);
}

static void control_io(struct ferry_loop *loop, struct ferry_io *io, uint32_t events, uint64_t now)
{
	struct ferry_daemon *d = ferry_container_of(io, struct ferry_daemon, control_io);
	int fd, k;

	(void)events;
	(void)now;
	while ((fd = accept4(io->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		struct ferry_daemon_client *c = NULL;

		for (k = 0; k < FERRY_DAEMON_CONTROL_CLIENTS && !c; k++)
			if (d->clients[k].io.fd < 0)
				c = &d->clients[k];
		if (!c) {
			close(fd); /* busy: the caller tries again */
			continue;
		}
		c->io = (struct ferry_io){
		    .fd = fd, .events = EPOLLIN, .kind = FERRY_IO_CONTROL, .fn = client_io};
		c->d = d;
		c->len = 0;
		if (ferry_loop_add(loop, &c->io)) {
			close(fd);
			c->io.fd = -1;
		}
	}
}

/* mkdir -p, each new directory 0700 */
static int make_dirs(const char *path)
{
	char p[PATH_MAX];
	char *slash;

	snprintf(p, sizeof(p), "%s", path);
	for (slash = strchr(p + 1, '/');; slash = strchr(slash + 1, '/')) {
		if (slash)
			*slash = '\0';
		if (mkdir(p, 0700) < 0 && errno != EEXIST)
			return -errno;
		if (!slash)
			return 0;
		*slash = '/';
	}
}

/* The group whose members may ask for the status: 1 and its id in *gid if a group named
 * FERRY_CONTROL_GROUP exists, 0 if not, or a negative errno if it cannot be looked up. */
static int control_group(gid_t *gid)
{
	struct group gr, *found = NULL;
	size_t cap = 1024;
	int err;

	for (;;) {
		char *buf = malloc(cap);

		if (!buf)
			return -ENOMEM;
		err = getgrnam_r(FERRY_CONTROL_GROUP, &gr, buf, cap, &found);
		if (!err && found)
			*gid = gr.gr_gid;
		free(buf);
		if (err != ERANGE || cap >= CONTROL_GROUP_BUF_MAX)
			break;
		cap *= 4;
	}
	/* getgrnam_r(3): these too mean "no such group" for some NSS modules */
	if (err == ENOENT || err == ESRCH || err == EBADF || err == EPERM)
		return 0;
	if (err)
		return -err;
	return found ? 1 : 0;
}

/* One directory's mode, and its group unless gid is -1, not through a symbolic link.
 * 0 or a negative errno. */
static int dir_access(const char *path, mode_t mode, gid_t gid)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), err = 0;

	if (fd < 0)
		return -errno;
	if ((gid != (gid_t)-1 && fchown(fd, (uid_t)-1, gid) < 0) || fchmod(fd, mode) < 0)
		err = -errno;
	close(fd);
	return err;
}

/* Opens the control directory dir to the group gid (0750) or, with group false, closes
 * it to all but its owner (0700); so too each directory from FERRY_RUN_DIR down to it
 * when it lies there, since the members must pass through them. A directory chosen
 * otherwise (FERRY_RUN_DIR in the environment, a run_dir) is left as it is without the
 * group, as it always was. 0 or a negative errno. */
static int dirs_access(const char *dir, bool group, gid_t gid)
{
	const size_t top = sizeof(FERRY_RUN_DIR) - 1;
	const mode_t mode = group ? 0750 : 0700;
	char p[PATH_MAX];
	size_t i;

	if (!group)
		gid = (gid_t)-1;
	if (strncmp(dir, FERRY_RUN_DIR, top) != 0 || (dir[top] != '\0' && dir[top] != '/'))
		return group ? dir_access(dir, mode, gid) : 0;
	if ((size_t)snprintf(p, sizeof(p), "%s", dir) >= sizeof(p))
		return -ENAMETOOLONG;
	for (i = top;; i++) {
		char end = p[i];
		int err;

		if (end != '/' && end != '\0')
			continue;
		p[i] = '\0';
		err = dir_access(p, mode, gid);
		p[i] = end;
		if (err || end == '\0')
			return err;
	}
}

/* The socket's file: 0660 in the group gid, or root's alone (0600). 0 or a negative errno. */
static int socket_access(const char *path, bool group, gid_t gid)
{
	if (group && chown(path, (uid_t)-1, gid) < 0)
		return -errno;
	return chmod(path, group ? 0660 : 0600) < 0 ? -errno : 0;
}

/* Whether members of FERRY_CONTROL_GROUP may reach the control socket in dir (its id in
 * *gid): the group exists, and dir and the directories above it are opened to it. Sets
 * the directories' modes either way; a failure leaves them root's (logged). */
static bool open_to_group(struct ferry_daemon *d, const char *dir, gid_t *gid)
{
	int found = control_group(gid), err;

	if (found < 0)
		ferry_log(&d->log, FERRY_LOG_WARN,
			  "group %s: cannot look it up (%s): the control socket is root's only",
			  FERRY_CONTROL_GROUP, strerror(-found));
	err = dirs_access(dir, found > 0, *gid);
	if (err && found > 0) {
		ferry_log(&d->log, FERRY_LOG_WARN,
			  "control directory %s: cannot open it to group %s (%s): the control "
			  "socket is root's only",
			  dir, FERRY_CONTROL_GROUP, strerror(-err));
		dirs_access(dir, false, (gid_t)-1);
	}
	return found > 0 && !err;
}

int ferry_daemon_control_up(struct ferry_daemon *d)
{
	char dir[PATH_MAX];
	struct sockaddr_un sun;
	gid_t gid = (gid_t)-1;
	bool group;
	int fd, err, k;

	for (k = 0; k < FERRY_DAEMON_CONTROL_CLIENTS; k++)
		d->clients[k].io.fd = -1;
	err = ferry_control_dir(d->opts.run_dir, dir, sizeof(dir));
	if (!err)
		err = make_dirs(dir);
	if (err) {
		ferry_log(&d->log, FERRY_LOG_ERROR, "control directory %s: %s", dir,
			  strerror(-err));
		return err;
	}
	err = ferry_control_socket_path(&sun, d->opts.run_dir, d->name);
	if (err)
		return err;
	fd = ferry_control_connect(dir, d->name);
	if (fd >= 0) {
		close(fd);
		ferry_log(&d->log, FERRY_LOG_ERROR,
			  "a ferry named %s runs already in this network namespace (%s answers): "
			  "stop it first (ferry down %s) or name this one otherwise (--name)",
			  d->name, sun.sun_path, d->name);
		return -EADDRINUSE;
	}
	group = open_to_group(d, dir, &gid);
	unlink(sun.sun_path); /* a killed ferry's */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	err = bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ? -errno : 0;
	if (!err && group && (err = socket_access(sun.sun_path, true, gid)) != 0) {
		ferry_log(&d->log, FERRY_LOG_WARN,
			  "control socket %s: cannot give it to group %s (%s): root's only",
			  sun.sun_path, FERRY_CONTROL_GROUP, strerror(-err));
		group = false;
	}
	if (!err && !group)
		err = socket_access(sun.sun_path, false, gid);
	if (!err)
		err = listen(fd, FERRY_DAEMON_CONTROL_CLIENTS) < 0 ? -errno : 0;
	if (err) {
		ferry_log(&d->log, FERRY_LOG_ERROR, "control socket %s: %s", sun.sun_path,
			  strerror(-err));
		close(fd);
		unlink(sun.sun_path);
		return err;
	}
	if (group)
		ferry_log(&d->log, FERRY_LOG_INFO,
			  "control socket %s: group %s may read the status (mode 0660)",
			  sun.sun_path, FERRY_CONTROL_GROUP);
	snprintf(d->control_path, sizeof(d->control_path), "%s", sun.sun_path);
	d->control_io = (struct ferry_io){
	    .fd = fd, .events = EPOLLIN, .kind = FERRY_IO_CONTROL, .fn = control_io};
	err = ferry_loop_add(&d->loop, &d->control_io);
	if (err) {
		close(fd);
		unlink(d->control_path);
		d->control_path[0] = '\0';
	}
	return err;
}

void ferry_daemon_control_down(struct ferry_daemon *d)
{
	int k;

	for (k = 0; k < FERRY_DAEMON_CONTROL_CLIENTS; k++)
		if (d->clients[k].io.fd >= 0) {
			d->clients[k].joined = false; /* going: its command is told by the close */
			client_close(&d->clients[k]);
		}
	if (!d->control_path[0])
		return;
	ferry_loop_del(&d->loop, &d->control_io);
	close(d->control_io.fd);
	unlink(d->control_path);
	/* a namespace's own directory goes with its last ferry (rmdir fails while others run) */
	if (!d->opts.run_dir && !getenv("FERRY_RUN_DIR") &&
	    strncmp(d->control_path, FERRY_RUN_DIR "/netns/",
		    sizeof(FERRY_RUN_DIR "/netns/") - 1) == 0) {
		char *slash = strrchr(d->control_path, '/');

		*slash = '\0';
		rmdir(d->control_path);
	}
	d->control_path[0] = '\0';
}
