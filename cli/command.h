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

/* Prints a usage error to stderr: "ferry NAME: WHAT 'ARG'" (arg NULL: "ferry NAME: WHAT"),
 * then the usage line. Returns FERRY_EXIT_USAGE. */
int ferry_command_usage_error(const struct ferry_command *cmd, const char *what, const char *arg);

/* Handles the arguments every subcommand shares: returns -1 to go on, or an exit status
 * (after printing help for -h/--help, or a usage error naming an unknown option or the
 * first positional argument past max, or saying there are fewer than min). Options come
 * anywhere before "--"; every word after it is positional, and so is "-" (stdin). */
int ferry_command_common_args(const struct ferry_command *cmd, int argc, char **argv, int min,
			      int max);

/* The positional argument number index (0 the first) as ferry_command_common_args counts
 * them; NULL if there are not that many. */
const char *ferry_command_positional(int argc, char **argv, int index);

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
