// SPDX-License-Identifier: MIT
/* check-config: parse a configuration file, or standard input ("-"), and report every
 * problem in it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/command.h"
#include "cli/config.h"
#include "transport/secret.h"

/* What messages call standard input, in place of a file name. */
#define STDIN_NAME "<stdin>"

/* Reads standard input (at most FERRY_CONFIG_MAX_FILE bytes) and parses it as a
 * configuration file named STDIN_NAME. Returns as ferry_config_parse_string(), or -EIO or
 * -EFBIG after printing why. */
static int load_stdin(struct ferry_config *cfg, struct ferry_config_diag *diag)
{
	/* One buffer of the largest size, never grown, in guarded memory as the file's text
	 * is (cli/config.c): no copy of the keys is left behind. */
	char *text = ferry_secret_alloc((size_t)FERRY_CONFIG_MAX_FILE + 1);
	size_t len;
	int err;

	if (!text)
		return -ENOMEM;
	len = fread(text, 1, (size_t)FERRY_CONFIG_MAX_FILE + 1, stdin);
	if (ferror(stdin)) {
		fprintf(stderr, "%s: cannot read standard input\n", STDIN_NAME);
		err = -EIO;
	} else if (len > FERRY_CONFIG_MAX_FILE) {
		fprintf(stderr, "%s: too large, expected at most %d bytes\n", STDIN_NAME,
			FERRY_CONFIG_MAX_FILE);
		err = -EFBIG;
	} else {
		err = ferry_config_parse_string(cfg, STDIN_NAME, text, len, diag);
	}
	ferry_secret_free(text); /* wiped */
	return err;
}

int ferry_cmd_check_config(int argc, char **argv)
{
	const struct ferry_command *cmd = ferry_command_find("check-config");
	struct ferry_config_diag diag = {0};
	struct ferry_config cfg = {0};
	const char *path, *name;
	unsigned int i, flags = 0;
	char **args = calloc((size_t)argc + 1, sizeof(*args));
	int status, err, n = 0;

	if (!args)
		return FERRY_EXIT_FAIL;
	/* --insecure-key-file (before any --) is this command's own; the rest are common */
	for (i = 0; i < (unsigned int)argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			while (i < (unsigned int)argc)
				args[n++] = argv[i++];
			break;
		}
		if (i > 0 && strcmp(argv[i], "--insecure-key-file") == 0)
			flags |= FERRY_CONFIG_INSECURE_KEY_FILE;
		else
			args[n++] = argv[i];
	}
	status = ferry_command_common_args(cmd, n, args, 1, 1);
	path = ferry_command_positional(n, args, 0);
	free(args);
	if (status >= 0)
		return status;
	if (!path)
		return FERRY_EXIT_USAGE;

	if (strcmp(path, "-") == 0) {
		name = STDIN_NAME;
		err = load_stdin(&cfg, &diag);
	} else {
		name = path;
		err = ferry_config_load_flags(&cfg, path, flags, &diag);
	}
	for (i = 0; i < diag.count; i++)
		fprintf(stderr, "%s\n", diag.msg[i].text);
	if (err == 0)
		printf("%s: valid: %zu peer%s, profile %s, MTU %u, FEC %u+%u, congestion %s%s\n",
		       name, cfg.npeers, cfg.npeers == 1 ? "" : "s",
		       ferry_config_profile_name(cfg.iface.arq.profile), cfg.iface.mtu,
		       cfg.iface.fec_data, cfg.iface.fec_parity,
		       ferry_cc_mode_name(cfg.iface.congestion),
		       diag.warnings ? " (with warnings)" : "");
	else if (diag.errors)
		fprintf(stderr, "%s: %u error%s\n", name, diag.errors, diag.errors == 1 ? "" : "s");
	else if (err == -ENOMEM)
		fprintf(stderr, "%s: %s\n", name, strerror(-err));
	ferry_config_free(&cfg);
	return err == 0 ? FERRY_EXIT_OK : FERRY_EXIT_FAIL;
}
