// SPDX-License-Identifier: MIT
#include <stdio.h>

#include <isa-l.h>
#include <sodium.h>

#include "cli/command.h"

int ferry_cmd_version(int argc, char **argv)
{
	int status = ferry_command_common_args(ferry_command_find("version"), argc, argv, 0, 0);

	if (status >= 0)
		return status;
	printf("ferry %s (lwIP %s, libsodium %s, ISA-L %d.%d.%d%s)\n", FERRY_VERSION,
	       FERRY_LWIP_VERSION, sodium_version_string(), ISAL_MAJOR_VERSION, ISAL_MINOR_VERSION,
	       ISAL_PATCH_VERSION,
	       sodium_init() >= 0 && crypto_aead_aes256gcm_is_available() ? ", AES-NI" : "");
	return FERRY_EXIT_OK;
}
