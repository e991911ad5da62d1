// SPDX-License-Identifier: MIT
/*
 * The control socket (see daemon.h): a unix stream socket DIR/NAME.sock (DIR: see
 * control_client.c), the directories 0700 and the socket 0600, so only root speaks to a
 * running ferry. One request per connection, one line: "status", "status json" or "down";
 * the answer is written and the connection closed. "join" (ferry exec, exec.c) is
 * answered with the namespace and the connection kept while the joined command runs. A
 * socket file whose daemon is gone (killed) is removed at the next start; one that still
 * answers means a ferry of that name runs, and this one does not start.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli/daemon/internal.h"

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

static void handle(struct ferry_daemon_client *c)
{
	struct ferry_daemon *d = c->d;
	char *out = d->answer;
	size_t n;

	if (strcmp(c->req, "status") == 0 || strcmp(c->req, "status json") == 0) {
		n = ferry_daemon_status(d, strcmp(c->req, "status json") == 0, out,
					sizeof(d->answer));
		answer(c, out, n);
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

int ferry_daemon_control_up(struct ferry_daemon *d)
{
	char dir[PATH_MAX];
	struct sockaddr_un sun;
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
	unlink(sun.sun_path); /* a killed ferry's */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || chmod(sun.sun_path, 0600) < 0 ||
	    listen(fd, FERRY_DAEMON_CONTROL_CLIENTS) < 0) {
		err = -errno;
		ferry_log(&d->log, FERRY_LOG_ERROR, "control socket %s: %s", sun.sun_path,
			  strerror(errno));
		close(fd);
		unlink(sun.sun_path);
		return err;
	}
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
