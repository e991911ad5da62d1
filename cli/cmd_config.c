// SPDX-License-Identifier: MIT
/* check-config: parse a configuration file and report every problem in it. */
#include <stdio.h>
#include <string.h>

#include "cli/command.h"
#include "cli/config.h"

int ferry_cmd_check_config(int argc, char **argv)
{
	const struct ferry_command *cmd = ferry_command_find("check-config");
	struct ferry_config_diag diag = {0};
	struct ferry_config cfg = {0};
	const char *path = NULL;
	unsigned int i;
	int status, err;

	status = ferry_command_common_args(cmd, argc, argv, 1, 1);
	if (status >= 0)
		return status;
	for (i = 1; i < (unsigned int)argc; i++)
		if (argv[i][0] != '-' || argv[i][1] == '\0')
			path = argv[i];

	err = ferry_config_load(&cfg, path, &diag);
	for (i = 0; i < diag.count; i++)
		fprintf(stderr, "%s\n", diag.msg[i].text);
	if (err == 0)
		printf("%s: valid: %zu peer%s, profile %s, MTU %u, FEC %u+%u, congestion %s%s\n",
		       path, cfg.npeers, cfg.npeers == 1 ? "" : "s",
		       ferry_config_profile_name(cfg.iface.arq.profile), cfg.iface.mtu,
		       cfg.iface.fec_data, cfg.iface.fec_parity,
		       ferry_cc_mode_name(cfg.iface.congestion),
		       diag.warnings ? " (with warnings)" : "");
	else if (diag.errors)
		fprintf(stderr, "%s: %u error%s\n", path, diag.errors, diag.errors == 1 ? "" : "s");
	ferry_config_free(&cfg);
	return err == 0 ? FERRY_EXIT_OK : FERRY_EXIT_FAIL;
}
