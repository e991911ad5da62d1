// SPDX-License-Identifier: MIT
/*
 * wg-quick's hooks: PreUp, PostUp, PreDown and PostDown, each a list of commands that
 * bash runs, in file order, with every "%i" replaced by the interface's name.
 *
 * When they run (ferry up only; ferry exec's namespace is its own and runs none):
 *   PreUp     before the TUN exists;
 *   PostUp    once its addresses, routes, rules and DNS are in place;
 *   PreDown   when ferry stops, before any of that is taken down;
 *   PostDown  after all of it is taken down.
 * PreDown and PostDown run only for a tunnel that came up (its PostUp ran), as wg-quick
 * runs them only in "down". A PreUp or PostUp command that fails stops ferry up, which
 * undoes what it had set up; a failing PreDown or PostDown is logged and the rest of the
 * teardown goes on.
 *
 * Each command runs with ferry's environment and output, with the signal mask and
 * dispositions a shell expects (ferry blocks the signals its loop reads). ferry waits for
 * it, as wg-quick does: a command that never ends keeps ferry from coming up or going.
 */
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "cli/daemon/internal.h"

extern char **environ;

static const char *const hook_names[FERRY_HOOK_COUNT] = {
    [FERRY_HOOK_PRE_UP] = "PreUp",
    [FERRY_HOOK_POST_UP] = "PostUp",
    [FERRY_HOOK_PRE_DOWN] = "PreDown",
    [FERRY_HOOK_POST_DOWN] = "PostDown",
};

/* cmd with every "%i" replaced by name, into out (a config line and a few names fit). */
static int expand(char *out, size_t cap, const char *cmd, const char *name)
{
	size_t o = 0, nlen = strlen(name);

	while (*cmd) {
		if (cmd[0] == '%' && cmd[1] == 'i') {
			if (o + nlen >= cap)
				return -ENAMETOOLONG;
			memcpy(out + o, name, nlen);
			o += nlen;
			cmd += 2;
			continue;
		}
		if (o + 1 >= cap)
			return -ENAMETOOLONG;
		out[o++] = *cmd++;
	}
	out[o] = '\0';
	return 0;
}

/* Runs one command under bash and waits for it. 0 if it exited 0, else -1 (logged). */
static int run_one(struct ferry_daemon *d, enum ferry_config_hook hook, const char *cmd)
{
	char text[4 * FERRY_CONFIG_MAX_LINE];
	char *argv[] = {"bash", "-c", text, NULL};
	enum ferry_log_level failed = hook == FERRY_HOOK_PRE_UP || hook == FERRY_HOOK_POST_UP
					  ? FERRY_LOG_ERROR
					  : FERRY_LOG_WARN;
	posix_spawnattr_t attr;
	sigset_t none, all;
	int err, status;
	pid_t pid;

	if (expand(text, sizeof(text), cmd, d->name) != 0) {
		ferry_log(&d->log, failed, "%s: the command is too long with %%i expanded",
			  hook_names[hook]);
		return -1;
	}
	ferry_log(&d->log, FERRY_LOG_INFO, "%s: %s", hook_names[hook], text);
	sigemptyset(&none);
	sigfillset(&all);
	err = posix_spawnattr_init(&attr);
	if (!err)
		err =
		    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	if (!err)
		err = posix_spawnattr_setsigmask(&attr, &none);
	if (!err)
		err = posix_spawnattr_setsigdefault(&attr, &all);
	if (!err)
		err = posix_spawnp(&pid, "bash", NULL, &attr, argv, environ);
	posix_spawnattr_destroy(&attr);
	if (err) {
		ferry_log(&d->log, failed, "%s: cannot run bash: %s", hook_names[hook],
			  strerror(err));
		return -1;
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			ferry_log(&d->log, failed, "%s: waiting for bash: %s", hook_names[hook],
				  strerror(errno));
			return -1;
		}
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status))
		ferry_log(&d->log, failed, "%s: the command exited with status %d",
			  hook_names[hook], WEXITSTATUS(status));
	else
		ferry_log(&d->log, failed, "%s: the command was killed by signal %d",
			  hook_names[hook], WTERMSIG(status));
	return -1;
}

int ferry_daemon_hooks_run(struct ferry_daemon *d, enum ferry_config_hook hook)
{
	const struct ferry_config_hooks *hooks = &d->cfg.iface.hooks;
	bool down = hook == FERRY_HOOK_PRE_DOWN || hook == FERRY_HOOK_POST_DOWN;
	unsigned int i;

	if (d->opts.exec_argv)
		return 0;
	if (down && !d->hooks_up)
		return 0;
	for (i = 0; i < hooks->n[hook]; i++) {
		if (run_one(d, hook, hooks->cmd[hook][i]) != 0 && !down)
			return -ECANCELED;
	}
	if (hook == FERRY_HOOK_POST_UP)
		d->hooks_up = true;
	return 0;
}
