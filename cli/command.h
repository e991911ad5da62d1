/* SPDX-License-Identifier: MIT */
/*
 * The ferry command's subcommands. Each takes the arguments after its own name
 * (argv[0] is the subcommand) and returns a process exit status.
 *
 * Exit statuses, the same for every subcommand (docs/cli.md):
 *   0  success;
 *   1  the operation failed: bad input data, an invalid configuration, a system error;
 *   2  usage error: unknown subcommand, option or wrong number of arguments.
 */
#ifndef FERRY_CLI_COMMAND_H
#define FERRY_CLI_COMMAND_H

enum ferry_exit {
	FERRY_EXIT_OK = 0,
	FERRY_EXIT_FAIL = 1,
	FERRY_EXIT_USAGE = 2,
};

struct ferry_command {
	const char *name;
	const char *args;    /* argument synopsis after the name */
	const char *summary; /* one line for `ferry --help` */
	const char *help;    /* the rest of `ferry NAME --help` */
	int (*run)(int argc, char **argv);
};

/* The subcommands, in the order `ferry --help` lists them; ends with a NULL name. */
extern const struct ferry_command ferry_commands[];

/* Finds a subcommand by name; NULL if there is none. */
const struct ferry_command *ferry_command_find(const char *name);

/* Prints `ferry NAME --help` to stdout. */
void ferry_command_usage(const struct ferry_command *cmd);

/* Handles the arguments every subcommand shares: returns -1 to go on, or an exit status
 * (after printing help for -h/--help, or a usage error for an unknown option or a wrong
 * count of positional arguments, which must be between min and max). */
int ferry_command_common_args(const struct ferry_command *cmd, int argc, char **argv, int min,
			      int max);

int ferry_cmd_up(int argc, char **argv);
int ferry_cmd_down(int argc, char **argv);
int ferry_cmd_exec(int argc, char **argv);
int ferry_cmd_status(int argc, char **argv);
int ferry_cmd_demo(int argc, char **argv);
int ferry_cmd_genkey(int argc, char **argv);
int ferry_cmd_genpsk(int argc, char **argv);
int ferry_cmd_pubkey(int argc, char **argv);
int ferry_cmd_check_config(int argc, char **argv);
int ferry_cmd_version(int argc, char **argv);

#endif
