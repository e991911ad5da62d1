// SPDX-License-Identifier: MIT
/* genkey, genpsk and pubkey: X25519 keys and preshared keys in the same base64 form as
 * wg genkey, wg genpsk and wg pubkey. */
#include <errno.h>
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

/* Prints a new secret made by generate (what names it in messages), warning first when
 * standard output is a file others can read. */
static int print_new_secret(const char *cmd, const char *what,
			    int (*generate)(uint8_t key[FERRY_KEY_LEN]), int argc, char **argv)
{
	uint8_t key[FERRY_KEY_LEN];
	char text[FERRY_KEY_B64_LEN + 1];
	struct stat st;
	int status;

	status = ferry_command_common_args(ferry_command_find(cmd), argc, argv, 0, 0);
	if (status >= 0)
		return status;

	if (fstat(STDOUT_FILENO, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0077))
		fprintf(stderr,
			"ferry %s: warning: writing a %s to a file that others can read "
			"(mode %04o); use umask 077\n",
			cmd, what, (unsigned)(st.st_mode & 07777));

	if (generate(key) != 0) {
		fprintf(stderr, "ferry %s: cannot initialise libsodium\n", cmd);
		return FERRY_EXIT_FAIL;
	}
	ferry_key_to_base64(text, key);
	sodium_memzero(key, sizeof(key));
	status = puts(text) < 0 || fflush(stdout) != 0 ? FERRY_EXIT_FAIL : FERRY_EXIT_OK;
	sodium_memzero(text, sizeof(text));
	if (status != FERRY_EXIT_OK)
		fprintf(stderr, "ferry %s: stdout: %s\n", cmd, strerror(errno));
	return status;
}

int ferry_cmd_genkey(int argc, char **argv)
{
	return print_new_secret("genkey", "private key", ferry_key_generate, argc, argv);
}

int ferry_cmd_genpsk(int argc, char **argv)
{
	return print_new_secret("genpsk", "preshared key", ferry_key_generate_preshared, argc,
				argv);
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
