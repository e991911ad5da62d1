// SPDX-License-Identifier: MIT
/*
 * The sysctls a mode needs while ferry runs (src_valid_mark for full-device mode,
 * forwarding for a site-to-site gateway), each put back at exit to the value it had.
 *
 * A value ferry changes is noted first -- in memory, and as a line "PATH OLD" in
 * NAME.sysctl beside the control socket -- and only then written, so that a ferry killed
 * at any moment leaves a note of everything it changed. The next start of that name puts
 * those values back before anything else (ferry_daemon_sysctl_recover) and says so.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/daemon/internal.h"

/* Reads an integer sysctl; -1 if it cannot. */
static int sysctl_get(const char *path)
{
	char buf[16] = {0}, *end;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;
	long v;

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	v = strtol(buf, &end, 10);
	return end != buf && (*end == '\n' || !*end) && v >= 0 && v <= 1000000 ? (int)v : -1;
}

static int sysctl_put(const char *path, int value)
{
	char buf[16];
	int fd = open(path, O_WRONLY | O_CLOEXEC), len, err = 0;

	if (fd < 0)
		return -errno;
	len = snprintf(buf, sizeof(buf), "%d\n", value);
	if (write(fd, buf, (size_t)len) != len)
		err = -errno;
	close(fd);
	return err;
}

/* NAME.sysctl beside the control socket. */
static int note_path(const struct ferry_daemon *d, char *out, size_t cap)
{
	char dir[96];
	int err = ferry_control_dir(d->opts.run_dir, dir, sizeof(dir));

	if (!err && (size_t)snprintf(out, cap, "%s/%s.sysctl", dir, d->name) >= cap)
		err = -ENAMETOOLONG;
	return err;
}

/* Only ferry's own kind of path is ever written back from the note. */
static bool path_ok(const char *path)
{
	return strncmp(path, "/proc/sys/net/", 14) == 0 && !strstr(path, "..");
}

void ferry_daemon_sysctl_recover(struct ferry_daemon *d)
{
	char note[160], line[FERRY_DAEMON_SYSCTL_PATH + 16];
	unsigned int restored = 0;
	FILE *f;
	int old;

	if (note_path(d, note, sizeof(note)) != 0 || !(f = fopen(note, "re")))
		return;
	while (fgets(line, sizeof(line), f)) {
		char *space = strchr(line, ' '), *end;
		long v;

		if (!space)
			continue;
		*space = '\0';
		v = strtol(space + 1, &end, 10);
		if (end == space + 1 || (*end != '\n' && *end) || v < 0 || v > 1000000)
			continue;
		old = (int)v;
		if (path_ok(line) && sysctl_put(line, old) == 0)
			restored++;
	}
	fclose(f);
	unlink(note);
	if (restored)
		ferry_log(&d->log, FERRY_LOG_WARN,
			  "put back %u sysctl%s changed by a ferry of this name that was killed",
			  restored, restored == 1 ? "" : "s");
}

int ferry_daemon_sysctl_set(struct ferry_daemon *d, const char *path, int value)
{
	struct ferry_daemon_sysctls *s = &d->sysctls;
	char note[160];
	int old = sysctl_get(path), err;
	FILE *f;

	if (old == value)
		return 0;
	if (old < 0 || s->n == FERRY_DAEMON_SYSCTLS) {
		ferry_log(&d->log, FERRY_LOG_ERROR, "%s: cannot read it", path);
		return -EIO;
	}
	err = note_path(d, note, sizeof(note));
	if (err)
		return err;
	f = fopen(note, "ae");
	if (!f || fprintf(f, "%s %d\n", path, old) < 0 || fflush(f) != 0) {
		err = -errno;
		if (f)
			fclose(f);
		ferry_log(&d->log, FERRY_LOG_ERROR, "%s: %s", note, strerror(-err));
		return err;
	}
	fclose(f);
	snprintf(s->v[s->n].path, sizeof(s->v[s->n].path), "%s", path);
	s->v[s->n++].old = old;
	err = sysctl_put(path, value);
	if (err)
		ferry_log(&d->log, FERRY_LOG_ERROR, "%s = %d: %s", path, value, strerror(-err));
	return err;
}

void ferry_daemon_sysctl_restore(struct ferry_daemon *d)
{
	struct ferry_daemon_sysctls *s = &d->sysctls;
	char note[160];
	bool ok = true;

	if (!s->n)
		return;
	while (s->n) {
		const struct ferry_daemon_sysctl *v = &s->v[--s->n];
		int err = sysctl_put(v->path, v->old);

		if (err) {
			ok = false;
			ferry_log(&d->log, FERRY_LOG_ERROR, "putting back %s = %d: %s", v->path,
				  v->old, strerror(-err));
		}
	}
	if (ok && note_path(d, note, sizeof(note)) == 0)
		unlink(note);
}
