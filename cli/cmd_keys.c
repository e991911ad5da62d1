// SPDX-License-Identifier: MIT
/* genkey and pubkey: X25519 keys in the same base64 form as wg genkey / wg
 * pubkey. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "cli/command.h"
#include "cli/key.h"

/* Longest line pubkey reads: a key is 44 characters; a little slack for \r\n.
 */
#define PUBKEY_INPUT_MAX 128

int ferry_cmd_genkey(int argc, char **argv)
{
	uint8_t priv[FERRY_KEY_LEN];
	char text[FERRY_KEY_B64_LEN + 1];
	struct stat st;
	int status;

	status = ferry_command_common_args(ferry_command_find("genkey"), argc, argv, 0, 0);
	if (status >= 0)
		return status;

	if (fstat(STDOUT_FILENO, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0077))
		fprintf(stderr,
			"ferry genkey: warning: writing a private key to a file that "
			"others can read (mode %04o); use umask 077\n",
			(unsigned)(st.st_mode & 07777));

	if (ferry_key_generate(priv) != 0) {
		fprintf(stderr, "ferry genkey: cannot initialise libsodium\n");
		return FERRY_EXIT_FAIL;
	}
	ferry_key_to_base64(text, priv);
	sodium_memzero(priv, sizeof(priv));
	status = puts(text) < 0 || fflush(stdout) != 0 ? FERRY_EXIT_FAIL : FERRY_EXIT_OK;
	sodium_memzero(text, sizeof(text));
	if (status != FERRY_EXIT_OK)
		perror("ferry genkey: stdout");
	return status;
}

int ferry_cmd_pubkey(int argc, char **argv)
{
	uint8_t priv[FERRY_KEY_LEN], pub[FERRY_KEY_LEN];
	char line[PUBKEY_INPUT_MAX + 2], text[FERRY_KEY_B64_LEN + 1];
	size_t n;
	int status;

	status = ferry_command_common_args(ferry_command_find("pubkey"), argc, argv, 0, 0);
	if (status >= 0)
		return status;

	n = fread(line, 1, sizeof(line) - 1, stdin);
	line[n] = '\0';
	/* Like wg pubkey: the key, optionally followed by a line end; nothing else.
	 */
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	if (n > PUBKEY_INPUT_MAX || strchr(line, '\n') || ferry_key_from_base64(priv, line) != 0) {
		fprintf(stderr,
			"ferry pubkey: standard input is not a private key "
			"(expected %d base64 characters, as printed by ferry genkey)\n",
			FERRY_KEY_B64_LEN);
		status = FERRY_EXIT_FAIL;
		goto out;
	}
	if (ferry_key_public(pub, priv) != 0) {
		fprintf(stderr, "ferry pubkey: that private key gives no valid public key\n");
		status = FERRY_EXIT_FAIL;
		goto out;
	}
	ferry_key_to_base64(text, pub);
	status = puts(text) < 0 || fflush(stdout) != 0 ? FERRY_EXIT_FAIL : FERRY_EXIT_OK;
	if (status != FERRY_EXIT_OK)
		perror("ferry pubkey: stdout");
out:
	sodium_memzero(line, sizeof(line));
	sodium_memzero(priv, sizeof(priv));
	return status;
}
