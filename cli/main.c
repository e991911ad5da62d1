// SPDX-License-Identifier: MIT
/* ferry: the command-line entry point. Dispatches to cli/cmd_*.c through
 * cli/command.c. */
#include <stdio.h>
#include <string.h>

#include "cli/command.h"

static void usage(FILE *out)
{
	const struct ferry_command *cmd;

	fprintf(out, "Usage: ferry COMMAND [ARGS]\n\n"
		     "ferry is a userspace VPN: a TUN device, a userspace TCP/IP "
		     "stack, and an\n"
		     "encrypted, loss-tolerant UDP link to a peer.\n\nCommands:\n");
	for (cmd = ferry_commands; cmd->name; cmd++)
		fprintf(out, "  %-14s %s\n", cmd->name, cmd->summary);
	fprintf(out, "\n`ferry COMMAND --help` describes each. Exit status: 0 success, "
		     "1 failure, 2 usage error.\n");
}

int main(int argc, char **argv)
{
	const struct ferry_command *cmd;
	const char *name;

	if (argc < 2) {
		usage(stderr);
		return FERRY_EXIT_USAGE;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		if (argc > 2 && (cmd = ferry_command_find(argv[2])) != NULL) {
			ferry_command_usage(cmd);
			return FERRY_EXIT_OK;
		}
		if (argc > 2) { /* as `ferry NOSUCH` */
			fprintf(stderr, "ferry: unknown command '%s' (see ferry --help)\n",
				argv[2]);
			return FERRY_EXIT_USAGE;
		}
		usage(stdout);
		return FERRY_EXIT_OK;
	}
	name = strcmp(argv[1], "--version") == 0 ? "version" : argv[1];
	cmd = ferry_command_find(name);
	if (!cmd) {
		fprintf(stderr, "ferry: unknown command '%s' (see ferry --help)\n", argv[1]);
		return FERRY_EXIT_USAGE;
	}
	return cmd->run(argc - 1, argv + 1);
}
