// SPDX-License-Identifier: MIT
/* genkey, genpsk and pubkey: X25519 keys and preshared keys in the same base64 form as
 * wg genkey, wg genpsk and wg pubkey. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "cli/command.h"
#include "cli/key.h"

/* Most bytes pubkey reads: the 44-character key and the whitespace that may follow it (a
 * line end, an editor's blanks). Input beyond is refused rather than read without end. */
#define PUBKEY_INPUT_MAX 1024

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

/* The whitespace wg pubkey lets follow the key: C's isspace() in the "C" locale. */
static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Like wg pubkey: the key's 44 characters first, then nothing but whitespace. Leading
 * whitespace is not skipped; a NUL is not whitespace (it would hide what follows it). */
int ferry_cmd_pubkey(int argc, char **argv)
{
	uint8_t priv[FERRY_KEY_LEN], pub[FERRY_KEY_LEN];
	char input[PUBKEY_INPUT_MAX + 1], key[FERRY_KEY_B64_LEN + 1], text[FERRY_KEY_B64_LEN + 1];
	size_t n, i;
	int status;

	status = ferry_command_common_args(ferry_command_find("pubkey"), argc, argv, 0, 0);
	if (status >= 0)
		return status;

	n = fread(input, 1, sizeof(input), stdin);
	memset(key, 0, sizeof(key));
	if (ferror(stdin)) {
		fprintf(stderr, "ferry pubkey: cannot read standard input\n");
		status = FERRY_EXIT_FAIL;
		goto out;
	}
	if (n > PUBKEY_INPUT_MAX) {
		fprintf(stderr,
			"ferry pubkey: more than %d bytes on standard input; a private key is %d "
			"base64 characters\n",
			PUBKEY_INPUT_MAX, FERRY_KEY_B64_LEN);
		status = FERRY_EXIT_FAIL;
		goto out;
	}
	if (n >= FERRY_KEY_B64_LEN)
		memcpy(key, input, FERRY_KEY_B64_LEN);
	/* A NUL among the 44 ends the string early: the length check below refuses it. */
	if (n < FERRY_KEY_B64_LEN || ferry_key_from_base64(priv, key) != 0) {
		fprintf(stderr,
			"ferry pubkey: standard input is not a private key "
			"(expected %d base64 characters, as printed by ferry genkey)\n",
			FERRY_KEY_B64_LEN);
		status = FERRY_EXIT_FAIL;
		goto out;
	}
	for (i = FERRY_KEY_B64_LEN; i < n; i++)
		if (!is_blank(input[i]))
			break;
	if (i < n) {
		fprintf(stderr,
			"ferry pubkey: trailing characters after the key (byte %zu; only "
			"whitespace may follow it)\n",
			i + 1);
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
	sodium_memzero(input, sizeof(input));
	sodium_memzero(key, sizeof(key));
	sodium_memzero(priv, sizeof(priv));
	return status;
}
