// SPDX-License-Identifier: MIT
/*
 * The tunnel's commands: up runs one end in the foreground (cli/daemon/), down and status
 * speak to a running one through its control socket, found in the directory of the
 * caller's network namespace (ferry_control_dir: /run/ferry on the host itself).
 */
#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli/command.h"
#include "cli/daemon/daemon.h"

enum {
	DOWN_WAIT_MS = 10000, /* ferry down waits this long for the daemon to be gone */
	DOWN_POLL_MS = 20,
};

int ferry_cmd_up(int argc, char **argv)
{
	const struct ferry_command *cmd = ferry_command_find("up");
	struct ferry_daemon_options opts = {.level = FERRY_LOG_INFO};
	const char *extra = NULL;
	bool options = true;
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!options || a[0] != '-' || a[1] == '\0') { /* positional */
			if (!opts.config_path)
				opts.config_path = a;
			else if (!extra)
				extra = a;
		} else if (strcmp(a, "--") == 0) {
			options = false;
		} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			ferry_command_usage(cmd);
			return FERRY_EXIT_OK;
		} else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
			opts.level = FERRY_LOG_ERROR;
		} else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
			opts.level = FERRY_LOG_DEBUG;
		} else if (strcmp(a, "--insecure-key-file") == 0) {
			opts.insecure_key_file = true;
		} else if (strcmp(a, "--name") == 0) {
			if (++i == argc)
				return ferry_command_usage_error(
				    cmd, "an interface name must follow", a);
			opts.name = argv[i];
		} else if (strncmp(a, "--name=", 7) == 0) {
			opts.name = a + 7;
		} else {
			return ferry_command_usage_error(cmd, "unknown option", a);
		}
	}
	if (extra)
		return ferry_command_usage_error(cmd, "one configuration file only, not also",
						 extra);
	if (!opts.config_path)
		return ferry_command_usage_error(cmd, "which configuration file?", NULL);
	return ferry_daemon_run(&opts);
}

/* NAME, or a configuration file's path as wg-quick takes it (/etc/ferry/wg0.conf: wg0). */
static const char *name_of(const char *arg, char *buf, size_t cap)
{
	const char *base;
	size_t len;

	if (!strchr(arg, '/') && !strstr(arg, ".conf"))
		return arg;
	snprintf(buf, cap, "%s", arg);
	base = basename(buf); /* a pointer into buf: moved, never printed onto itself */
	memmove(buf, base, strlen(base) + 1);
	len = strlen(buf);
	if (len > 5 && strcmp(buf + len - 5, ".conf") == 0)
		buf[len - 5] = '\0';
	return buf;
}

static bool socket_exists(const char *dir, const char *name)
{
	char path[PATH_MAX + 32];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s.sock", dir, name);
	return stat(path, &st) == 0;
}

int ferry_cmd_down(int argc, char **argv)
{
	const struct ferry_command *cmd = ferry_command_find("down");
	const struct timespec tick = {.tv_nsec = DOWN_POLL_MS * 1000000L};
	char dir[PATH_MAX];
	const char *name;
	char buf[256];
	int status, err, waited;

	status = ferry_command_common_args(cmd, argc, argv, 1, 1);
	if (status >= 0)
		return status;
	name = name_of(ferry_command_positional(argc, argv, 0), buf, sizeof(buf));
	err = ferry_control_dir(NULL, dir, sizeof(dir));
	if (!err)
		err = ferry_control_call(dir, name, "down", NULL);
	if (err == -ENOENT) {
		fprintf(stderr, "ferry down: no ferry named %s runs (no control socket in %s)\n",
			name, dir);
		return FERRY_EXIT_FAIL;
	}
	if (err) {
		fprintf(stderr, "ferry down: %s: %s\n", name, strerror(-err));
		return FERRY_EXIT_FAIL;
	}
	/* The daemon removes its socket last, after its device: wait for that. */
	for (waited = 0; waited < DOWN_WAIT_MS && socket_exists(dir, name); waited += DOWN_POLL_MS)
		nanosleep(&tick, NULL);
	if (socket_exists(dir, name)) {
		fprintf(stderr, "ferry down: %s was told to stop but still runs after %d s\n", name,
			DOWN_WAIT_MS / 1000);
		return FERRY_EXIT_FAIL;
	}
	return FERRY_EXIT_OK;
}

/* Every running ferry, by its control socket; stale sockets (killed daemons) are skipped. */
static int status_all(const char *dir, bool json)
{
	const char *request = json ? "status json" : "status";
	struct dirent **names;
	int n, i, shown = 0;

	n = scandir(dir, &names, NULL, alphasort);
	if (n < 0) {
		if (errno == ENOENT) {
			if (json)
				printf("[]\n");
			else
				fprintf(stderr,
					"ferry status: no ferry runs in this network namespace "
					"(no control socket in %s)\n",
					dir);
			return FERRY_EXIT_OK;
		}
		fprintf(stderr, "ferry status: %s: %s\n", dir, strerror(errno));
		return FERRY_EXIT_FAIL;
	}
	if (json)
		printf("[");
	for (i = 0; i < n; i++) {
		char *dot = strrchr(names[i]->d_name, '.');

		if (dot && strcmp(dot, ".sock") == 0 && dot != names[i]->d_name) {
			*dot = '\0';
			char *text = NULL;
			size_t len = 0;
			FILE *out = open_memstream(&text, &len);

			if (out && ferry_control_call(dir, names[i]->d_name, request, out) == 0) {
				fclose(out);
				out = NULL;
				printf("%s%s", shown ? (json ? "," : "\n") : "", text);
				shown++;
			}
			if (out)
				fclose(out);
			free(text);
		}
		free(names[i]);
	}
	free(names);
	if (json)
		printf("]\n");
	else if (!shown)
		fprintf(stderr,
			"ferry status: no ferry runs in this network namespace (no control "
			"socket in %s)\n",
			dir);
	return FERRY_EXIT_OK;
}

int ferry_cmd_status(int argc, char **argv)
{
	const struct ferry_command *cmd = ferry_command_find("status");
	char dir[PATH_MAX];
	const char *arg = NULL, *extra = NULL;
	bool json = false, options = true;
	char buf[256];
	int i, err;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!options || a[0] != '-' || a[1] == '\0') { /* positional */
			if (!arg)
				arg = a;
			else if (!extra)
				extra = a;
		} else if (strcmp(a, "--") == 0) {
			options = false;
		} else if (strcmp(a, "--json") == 0) {
			json = true;
		} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			ferry_command_usage(cmd);
			return FERRY_EXIT_OK;
		} else {
			return ferry_command_usage_error(cmd, "unknown option", a);
		}
	}
	if (extra)
		return ferry_command_usage_error(cmd, "unexpected argument", extra);
	err = ferry_control_dir(NULL, dir, sizeof(dir));
	if (err) {
		fprintf(stderr, "ferry status: %s\n", strerror(-err));
		return FERRY_EXIT_FAIL;
	}
	if (!arg)
		return status_all(dir, json);
	arg = name_of(arg, buf, sizeof(buf));
	fflush(stdout);
	err = ferry_control_call(dir, arg, json ? "status json" : "status", stdout);
	if (err == -ENOENT) {
		fprintf(stderr, "ferry status: no ferry named %s runs (no control socket in %s)\n",
			arg, dir);
		return FERRY_EXIT_FAIL;
	}
	if (err) {
		fprintf(stderr, "ferry status: %s: %s\n", arg, strerror(-err));
		return FERRY_EXIT_FAIL;
	}
	return FERRY_EXIT_OK;
}

/* ferry exec: joins the namespace of a ferry exec of that name if one runs, else starts
 * the tunnel with the command in a namespace of its own (cli/daemon/exec.c). */
int ferry_cmd_exec(int argc, char **argv)
{
	const struct ferry_command *cmd = ferry_command_find("exec");
	struct ferry_daemon_options opts = {.level = FERRY_LOG_WARN};
	char buf[256], path[PATH_MAX];
	const char *name = NULL;
	struct stat st;
	int i, status;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--") == 0) {
			i++;
			break;
		} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			ferry_command_usage(cmd);
			return FERRY_EXIT_OK;
		} else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
			opts.level = FERRY_LOG_ERROR;
		} else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
			opts.level = FERRY_LOG_INFO;
		} else if (strcmp(a, "--insecure-key-file") == 0) {
			opts.insecure_key_file = true;
		} else if (strcmp(a, "--name") == 0 || strcmp(a, "--user") == 0 ||
			   strcmp(a, "--config") == 0 || strcmp(a, "-c") == 0) {
			if (++i == argc)
				return ferry_command_usage_error(cmd, "a value must follow", a);
			if (a[2] == 'n')
				name = argv[i];
			else if (a[2] == 'u')
				opts.exec_user = argv[i];
			else
				opts.config_path = argv[i];
		} else if (a[0] == '-' && a[1] != '\0') {
			return ferry_command_usage_error(cmd, "unknown option", a);
		} else {
			break; /* the command, without "--" */
		}
	}
	if (i == argc)
		return ferry_command_usage_error(cmd, "which command?", NULL);
	opts.exec_argv = argv + i;
	if (!name)
		name = opts.config_path ? name_of(opts.config_path, buf, sizeof(buf)) : "ferry0";
	opts.name = name;

	status = ferry_exec_join(NULL, name, opts.exec_user, opts.exec_argv);
	if (status != -ENOENT)
		return status < 0 ? FERRY_EXIT_FAIL : status;
	if (!opts.config_path) {
		snprintf(path, sizeof(path), "/etc/ferry/%s.conf", name);
		if (stat(path, &st) != 0) {
			fprintf(stderr,
				"ferry exec: no ferry exec named %s runs, and there is no "
				"configuration to start one (--config FILE, or %s)\n",
				name, path);
			return FERRY_EXIT_FAIL;
		}
		opts.config_path = path;
	}
	return ferry_daemon_run(&opts);
}
