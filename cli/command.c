// SPDX-License-Identifier: MIT
#include "cli/command.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

const struct ferry_command ferry_commands[] = {
    {
	.name = "up",
	.args = "CONFIG [--name NAME] [--quiet | --verbose] [--insecure-key-file]",
	.summary = "run one end of a tunnel in the foreground",
	.help = "Reads CONFIG (docs/configuration.md), creates the TUN device with its\n"
		"addresses and a route for every peer's AllowedIPs, and carries every TCP,\n"
		"UDP and ICMP echo flow to the peers until SIGINT, SIGTERM or `ferry down`.\n"
		"The device is named NAME, else after the file (wg0.conf: wg0), else ferry0.\n"
		"Logs go to stderr; SIGUSR1 writes the counters of `ferry status` there.\n"
		"Everything ferry added is removed at exit. See docs/operations.md.\n"
		"A CONFIG holding keys that group or others may read is refused unless\n"
		"--insecure-key-file is given.\n",
	.run = ferry_cmd_up,
    },
    {
	.name = "exec",
	.args = "[--config FILE] [--name NAME] [--user USER] [-q | -v] [--insecure-key-file] -- "
		"CMD [ARGS...]",
	.summary = "run one command, and only it, through a tunnel",
	.help = "Runs CMD in a network namespace whose only links are lo and the tunnel's\n"
		"device, with the configuration's DNS servers as its resolv.conf; the rest\n"
		"of the machine keeps its routes. The tunnel (FILE, else\n"
		"/etc/ferry/NAME.conf) is named NAME, else after the file; if a ferry exec of\n"
		"that name runs already, CMD joins its namespace instead. CMD runs as USER,\n"
		"else as the user who called sudo, else as ferry does. ferry exits with\n"
		"CMD's status once the last command in the namespace has ended (125: ferry\n"
		"could not set CMD up, 126: CMD could not run, 127: not found).\n"
		"See docs/per-app.md.\n",
	.run = ferry_cmd_exec,
    },
    {
	.name = "down",
	.args = "NAME",
	.summary = "stop the ferry running as NAME",
	.help = "Asks the ferry whose device is NAME (or a configuration file's path, as\n"
		"wg-quick takes it) to stop, and waits until its device is gone.\n",
	.run = ferry_cmd_down,
    },
    {
	.name = "status",
	.args = "[NAME] [--json]",
	.summary = "show running tunnels: peers, rates, flows, drops",
	.help = "Shows the ferry named NAME, or every one running: per peer its endpoint,\n"
		"state, last handshake, RTT, loss, FEC recoveries, rates, flows and drops.\n"
		"--json prints the same as JSON (its schema: docs/operations.md).\n",
	.run = ferry_cmd_status,
    },
    {
	.name = "demo",
	.args = "[--rate MBIT] [--rtt MS] [--loss PCT] [--time S] [--cc NAME]",
	.summary = "plain TCP against ferry on an emulated bad path, on this machine",
	.help = "Builds three private network namespaces joined by the WAN emulator\n"
		"(ferry-wanem), runs ferry at both ends, and measures the same bulk transfer\n"
		"and 64-byte request/response over plain kernel TCP and through ferry.\n"
		"Needs root; everything it makes is gone when it ends, also on Ctrl-C.\n"
		"\n"
		"  --rate MBIT      the path's rate each way, Mbit/s, 0 unlimited (100)\n"
		"  --rtt MS         its round-trip time (60)\n"
		"  --loss PCT       random loss each way, percent (2)\n"
		"  --time S         seconds of each bulk transfer (10)\n"
		"  --requests N     request/response samples per path (100)\n"
		"  --cc NAME        plain TCP's congestion control only (cubic and bbr)\n"
		"  --wanem PATH     the emulator (default: found beside ferry)\n",
	.run = ferry_cmd_demo,
    },
    {
	.name = "genkey",
	.args = "",
	.summary = "print a new private key (base64, as wg genkey)",
	.help = "Generates an X25519 private key from the system's random "
		"source and\n"
		"prints it in base64. Keep it secret: `umask 077; ferry genkey "
		"> key`.\n",
	.run = ferry_cmd_genkey,
    },
    {
	.name = "genpsk",
	.args = "",
	.summary = "print a new preshared key (base64, as wg genpsk)",
	.help = "Generates 32 random bytes for a [Peer]'s PresharedKey, the same on both\n"
		"ends, and prints them in base64. Keep it secret: `umask 077; ferry genpsk\n"
		"> psk`.\n",
	.run = ferry_cmd_genpsk,
    },
    {
	.name = "pubkey",
	.args = "< PRIVATE-KEY",
	.summary = "read a private key on stdin, print its public key",
	.help = "Reads a base64 private key (as printed by genkey or wg genkey) on\n"
		"standard input and prints the matching public key:\n"
		"  ferry genkey | tee private.key | ferry pubkey > public.key\n"
		"The input is the key's 44 characters, then only whitespace if anything.\n",
	.run = ferry_cmd_pubkey,
    },
    {
	.name = "check-config",
	.args = "FILE [--insecure-key-file]",
	.summary = "validate a configuration file",
	.help = "Parses FILE (- for standard input) and reports every problem with its\n"
		"line, section and key. Exits 0 if the file is valid (warnings may still\n"
		"be printed), 1 if not. The format is described in docs/configuration.md.\n"
		"Keys in a file group or others may read are an error, as for ferry up,\n"
		"unless --insecure-key-file is given.\n",
	.run = ferry_cmd_check_config,
    },
    {
	.name = "version",
	.args = "",
	.summary = "print ferry's version and its libraries'",
	.help = "",
	.run = ferry_cmd_version,
    },
    {0},
};

const struct ferry_command *ferry_command_find(const char *name)
{
	const struct ferry_command *cmd;

	for (cmd = ferry_commands; cmd->name; cmd++)
		if (strcmp(cmd->name, name) == 0)
			return cmd;
	return NULL;
}

void ferry_command_usage(const struct ferry_command *cmd)
{
	printf("Usage: ferry %s%s%s\n\n%s: %s.\n", cmd->name, *cmd->args ? " " : "", cmd->args,
	       cmd->name, cmd->summary);
	if (*cmd->help)
		printf("\n%s", cmd->help);
}

int ferry_command_usage_error(const struct ferry_command *cmd, const char *what, const char *arg)
{
	if (arg)
		fprintf(stderr, "ferry %s: %s '%s'\n", cmd->name, what, arg);
	else
		fprintf(stderr, "ferry %s: %s\n", cmd->name, what);
	fprintf(stderr, "Usage: ferry %s%s%s\n", cmd->name, *cmd->args ? " " : "", cmd->args);
	return FERRY_EXIT_USAGE;
}

/* An option: a word starting with '-' other than "-" itself (which names stdin). */
static bool is_option(const char *arg)
{
	return arg[0] == '-' && arg[1] != '\0';
}

int ferry_command_common_args(const struct ferry_command *cmd, int argc, char **argv, int min,
			      int max)
{
	const char *extra = NULL;
	bool options = true;
	int i, positional = 0;

	for (i = 1; i < argc; i++) {
		if (options && strcmp(argv[i], "--") == 0) {
			options = false;
			continue;
		}
		if (options && (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)) {
			ferry_command_usage(cmd);
			return FERRY_EXIT_OK;
		}
		if (options && is_option(argv[i]))
			return ferry_command_usage_error(cmd, "unknown option", argv[i]);
		if (positional++ == max)
			extra = argv[i];
	}
	if (extra)
		return ferry_command_usage_error(cmd, "unexpected argument", extra);
	if (positional < min)
		return ferry_command_usage_error(cmd, "too few arguments", NULL);
	return -1;
}

const char *ferry_command_positional(int argc, char **argv, int index)
{
	bool options = true;
	int i;

	for (i = 1; i < argc; i++) {
		if (options && strcmp(argv[i], "--") == 0)
			options = false;
		else if ((!options || !is_option(argv[i])) && index-- == 0)
			return argv[i];
	}
	return NULL;
}
