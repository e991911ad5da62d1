// SPDX-License-Identifier: MIT
/*
 * The control socket's client half (see control.c for the daemon's): where the sockets
 * are, and one request and its answer. `ferry status`, `ferry down` and a joining
 * `ferry exec` use it; so does a starting daemon, to see whether its name is taken.
 *
 * DIR belongs to the caller's network namespace, so that ferries in different namespaces
 * of one host (a test bed, containers) neither clash nor see each other, as WireGuard's
 * interfaces do not: /run/ferry/netns/NAME in a namespace `ip netns` named NAME,
 * /run/ferry/netns/ns-INODE in another that is not PID 1's, /run/ferry in the host's own.
 * FERRY_RUN_DIR in the environment overrides it (ferry demo keeps its sockets private).
 *
 * An answer that is an error line (a refusal: control.c) is not copied to the caller's
 * output but printed on standard error, and the call fails.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli/daemon/internal.h"

#define NETNS_NAMES  "/run/netns" /* where `ip netns add` mounts the namespaces it names */
#define ERROR_PREFIX "error: "	  /* the daemon's answer when it did not do what was asked */

/* The name `ip netns` gave the namespace with this identity, if any. */
static bool netns_name(const struct stat *self, char *out, size_t cap)
{
	DIR *dir = opendir(NETNS_NAMES);
	struct dirent *e;
	bool found = false;

	if (!dir)
		return false;
	while (!found && (e = readdir(dir)) != NULL) {
		char path[sizeof(NETNS_NAMES) + 256];
		struct stat st;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", NETNS_NAMES, e->d_name);
		if (stat(path, &st) == 0 && st.st_ino == self->st_ino &&
		    st.st_dev == self->st_dev) {
			snprintf(out, cap, "%s", e->d_name);
			found = true;
		}
	}
	closedir(dir);
	return found;
}

int ferry_control_dir(const char *dir, char *out, size_t cap)
{
	const char *env = getenv("FERRY_RUN_DIR");
	struct stat self, init;
	char name[256];

	if (!dir && env && *env)
		dir = env;
	if (dir) {
		snprintf(out, cap, "%s", dir);
		return 0;
	}
	if (stat("/proc/self/ns/net", &self) < 0)
		return -errno;
	/* PID 1's namespace is the host's; where PID 1 cannot be looked at (a container, or
	 * not root), a namespace without a name is taken for the host's */
	if (netns_name(&self, name, sizeof(name)))
		snprintf(out, cap, "%s/netns/%s", FERRY_RUN_DIR, name);
	else if (stat("/proc/1/ns/net", &init) == 0 &&
		 (init.st_ino != self.st_ino || init.st_dev != self.st_dev))
		snprintf(out, cap, "%s/netns/ns-%llu", FERRY_RUN_DIR,
			 (unsigned long long)self.st_ino);
	else
		snprintf(out, cap, "%s", FERRY_RUN_DIR);
	return 0;
}

int ferry_control_socket_path(struct sockaddr_un *sun, const char *dir, const char *name)
{
	char d[PATH_MAX];
	int err = ferry_control_dir(dir, d, sizeof(d));

	if (err)
		return err;
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if ((size_t)snprintf(sun->sun_path, sizeof(sun->sun_path), "%s/%s.sock", d, name) >=
	    sizeof(sun->sun_path))
		return -ENAMETOOLONG;
	return 0;
}

static int connect_to(const char *dir, const char *name)
{
	struct sockaddr_un sun;
	int fd, err = ferry_control_socket_path(&sun, dir, name);

	if (err)
		return err;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

int ferry_control_connect(const char *dir, const char *name)
{
	int fd = connect_to(dir, name);

	return fd == -ECONNREFUSED ? -ENOENT : fd; /* a stale socket: nobody runs */
}

/* A refusal or another error of the daemon ("error: TEXT"): printed on standard error as
 * "ferry REQUEST: NAME: TEXT" (REQUEST's first word). -EACCES for a refusal ("error:
 * refused: ...", a client that is not root asking for more than the status, control.c),
 * else -EPROTO. */
static int daemon_error(const char *name, const char *request, char *text, size_t len)
{
	static const char refused[] = "refused: ";
	size_t verb = strcspn(request, " ");

	text[len] = '\0';
	text[strcspn(text, "\n")] = '\0';
	text += sizeof(ERROR_PREFIX) - 1;
	fprintf(stderr, "ferry %.*s: %s: %s\n", (int)verb, request, name, text);
	return strncmp(text, refused, sizeof(refused) - 1) == 0 ? -EACCES : -EPROTO;
}

/* A daemon's answer is copied to out as it comes, unless it is an error line: the first
 * bytes are held until they tell. */
int ferry_control_call(const char *dir, const char *name, const char *request, FILE *out)
{
	char buf[4096];
	struct timeval tv = {.tv_sec = 5};
	size_t len = strlen(request), have = 0;
	int fd = ferry_control_connect(dir, name);
	ssize_t n = 1;

	if (fd < 0)
		return fd;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (write(fd, request, len) != (ssize_t)len || write(fd, "\n", 1) != 1) {
		n = -errno;
		close(fd);
		return (int)n;
	}
	/* the head: enough to tell an error line, or all there is */
	while (have < sizeof(ERROR_PREFIX) - 1 &&
	       (n = read(fd, buf + have, sizeof(buf) - 1 - have)) > 0)
		have += (size_t)n;
	if (n >= 0 && have >= sizeof(ERROR_PREFIX) - 1 &&
	    memcmp(buf, ERROR_PREFIX, sizeof(ERROR_PREFIX) - 1) == 0) { /* the rest of its line */
		while (!memchr(buf, '\n', have) && have < sizeof(buf) - 1 &&
		       (n = read(fd, buf + have, sizeof(buf) - 1 - have)) > 0)
			have += (size_t)n;
		close(fd);
		return daemon_error(name, request, buf, have);
	}
	if (out && have)
		fwrite(buf, 1, have, out);
	while (n > 0 && (n = read(fd, buf, sizeof(buf))) > 0)
		if (out)
			fwrite(buf, 1, (size_t)n, out);
	n = n < 0 ? -errno : 0;
	close(fd);
	return (int)n;
}
