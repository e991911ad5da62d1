// SPDX-License-Identifier: MIT
/*
 * DNS while the tunnel is up: the configuration's `DNS` servers and search domains
 * replace the resolver's file, /etc/resolv.conf, and what was there comes back when ferry
 * stops -- as wg-quick does through resolvconf, without needing it.
 *
 * The file is rewritten in place (truncated and written, never renamed over), so that a
 * bind-mounted one -- `ip netns exec` mounts /etc/netns/NAME/resolv.conf there -- is the
 * one changed. Its old content is kept in memory and in NAME.resolv.conf next to the
 * control socket: if ferry is killed, the next `ferry up` of that name puts it back
 * before anything else. With systemd-resolved the file is a link to resolved's stub,
 * which resolved may rewrite on its own; docs/full-device.md says so.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/daemon/internal.h"

#define RESOLV_CONF	"/etc/resolv.conf"
#define RESOLV_MAX_SIZE ((size_t)64 * 1024)

/* Reads the whole file at path (at most RESOLV_MAX_SIZE bytes) into *out (malloc'd, may be
 * empty). Returns 0 or a negative errno. */
static int read_file(const char *path, char **out, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), err = 0;
	char *buf = malloc(RESOLV_MAX_SIZE);
	size_t n = 0;

	if (fd < 0 || !buf) {
		err = fd < 0 ? -errno : -ENOMEM;
		goto out;
	}
	while (n < RESOLV_MAX_SIZE) {
		ssize_t r = read(fd, buf + n, RESOLV_MAX_SIZE - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err = -errno;
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n == RESOLV_MAX_SIZE)
		err = -EFBIG;
out:
	if (fd >= 0)
		close(fd);
	if (err) {
		free(buf);
		return err;
	}
	*out = buf;
	*len = n;
	return 0;
}

/* Writes len bytes to path, in place (flags: O_TRUNC for the resolver's file, O_CREAT
 * too for the backup). Returns 0 or a negative errno. */
static int write_file(const char *path, int flags, const char *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC | flags, 0600), err = 0;
	size_t n = 0;

	if (fd < 0)
		return -errno;
	while (n < len) {
		ssize_t w = write(fd, data + n, len - n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			err = -errno;
			break;
		}
		n += (size_t)w;
	}
	if (!err && fsync(fd) != 0)
		err = -errno;
	close(fd);
	return err;
}

size_t ferry_daemon_dns_text(const struct ferry_daemon *d, char *out, size_t cap)
{
	const struct ferry_config_dns *dns = &d->cfg.iface.dns;
	size_t n = 0;
	unsigned int i;

	n += (size_t)snprintf(out + n, cap - n,
			      "# written by ferry for %s while it runs; the previous file comes "
			      "back when it stops\n",
			      d->name);
	for (i = 0; i < dns->nservers && n < cap; i++) {
		char text[INET6_ADDRSTRLEN];

		inet_ntop(dns->servers[i].family, dns->servers[i].addr, text, sizeof(text));
		n += (size_t)snprintf(out + n, cap - n, "nameserver %s\n", text);
	}
	for (i = 0; i < dns->nsearch && n < cap; i++)
		n += (size_t)snprintf(out + n, cap - n, "%s%s%s", i ? " " : "search ",
				      dns->search[i], i + 1 == dns->nsearch ? "\n" : "");
	return n < cap ? n : cap - 1;
}

/* Puts back the content a killed ferry of this name saved, and forgets it. */
static void restore_left_backup(struct ferry_daemon *d)
{
	char *old;
	size_t len;
	int err;

	if (read_file(d->dns.backup_path, &old, &len) != 0)
		return;
	err = write_file(RESOLV_CONF, O_TRUNC, old, len);
	free(old);
	if (err) {
		ferry_log(&d->log, FERRY_LOG_ERROR,
			  "DNS: putting back %s from %s (left by a ferry that was killed): %s",
			  RESOLV_CONF, d->dns.backup_path, strerror(-err));
		return;
	}
	unlink(d->dns.backup_path);
	ferry_log(&d->log, FERRY_LOG_WARN,
		  "DNS: put back %s as it was before a ferry of this name was killed", RESOLV_CONF);
}

int ferry_daemon_dns_up(struct ferry_daemon *d)
{
	struct ferry_daemon_dns *s = &d->dns;
	char dir[96], text[2048];
	size_t len;
	int err;

	if (!d->cfg.iface.dns.line || d->opts.exec_argv)
		return 0; /* ferry exec mounts its own over it, in the command's namespace */
	err = ferry_control_dir(d->opts.run_dir, dir, sizeof(dir));
	if (err)
		return err;
	snprintf(s->backup_path, sizeof(s->backup_path), "%s/%s.resolv.conf", dir, d->name);
	restore_left_backup(d);
	err = read_file(RESOLV_CONF, &s->saved, &s->saved_len);
	if (err == -ENOENT) { /* none before: none after */
		s->absent = true;
		s->saved = calloc(1, 1);
		s->saved_len = 0;
		err = s->saved ? 0 : -ENOMEM;
	}
	if (!err)
		err = write_file(s->backup_path, O_CREAT | O_TRUNC, s->saved, s->saved_len);
	if (err) {
		ferry_log(&d->log, FERRY_LOG_ERROR, "DNS: keeping %s: %s", RESOLV_CONF,
			  strerror(-err));
		goto fail;
	}
	len = ferry_daemon_dns_text(d, text, sizeof(text));
	err = write_file(RESOLV_CONF, O_TRUNC | O_CREAT, text, len);
	if (err) {
		ferry_log(&d->log, FERRY_LOG_ERROR, "DNS: writing %s: %s", RESOLV_CONF,
			  strerror(-err));
		unlink(s->backup_path);
		goto fail;
	}
	s->set = true;
	ferry_log(&d->log, FERRY_LOG_INFO, "DNS: %u server%s in %s while up",
		  d->cfg.iface.dns.nservers, d->cfg.iface.dns.nservers == 1 ? "" : "s",
		  RESOLV_CONF);
	return 0;

fail:
	free(s->saved);
	s->saved = NULL;
	return err;
}

void ferry_daemon_dns_down(struct ferry_daemon *d)
{
	struct ferry_daemon_dns *s = &d->dns;
	int err;

	if (!s->set)
		return;
	err = s->absent ? (unlink(RESOLV_CONF) == 0 ? 0 : -errno)
			: write_file(RESOLV_CONF, O_TRUNC, s->saved, s->saved_len);
	if (err)
		ferry_log(&d->log, FERRY_LOG_ERROR,
			  "DNS: putting back %s: %s (the old one is in %s)", RESOLV_CONF,
			  strerror(-err), s->backup_path);
	else
		unlink(s->backup_path);
	free(s->saved);
	s->saved = NULL;
	s->set = false;
	s->absent = false;
}
