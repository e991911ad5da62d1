// SPDX-License-Identifier: MIT
/*
 * The ferry command as a user meets it: the built binary (FERRY_BIN, set by CTest) run
 * with arguments and standard input, asserting on exit status, stdout and stderr.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/support/fixture.h"

#define OUT_MAX 8192

struct run {
	int status;
	char out[OUT_MAX];
	char err[OUT_MAX];
};

/* Reads what a child writes to two pipes until both close (bounded by the test timeout). */
static void drain(int out_fd, int err_fd, struct run *r)
{
	struct pollfd pfd[2] = {{.fd = out_fd, .events = POLLIN}, {.fd = err_fd, .events = POLLIN}};
	size_t used[2] = {0, 0};
	char *dst[2] = {r->out, r->err};
	int open_fds = 2;

	while (open_fds > 0) {
		int i;

		ck_assert_int_ge(poll(pfd, 2, 10000), 1);
		for (i = 0; i < 2; i++) {
			ssize_t n;

			if (pfd[i].fd < 0 || !(pfd[i].revents & (POLLIN | POLLHUP)))
				continue;
			n = read(pfd[i].fd, dst[i] + used[i], OUT_MAX - 1 - used[i]);
			if (n <= 0) {
				close(pfd[i].fd);
				pfd[i].fd = -1;
				open_fds--;
				continue;
			}
			used[i] += (size_t)n;
		}
	}
	r->out[used[0]] = '\0';
	r->err[used[1]] = '\0';
}

/* Runs ferry with argv (NULL-terminated, without the program name) and the len bytes of
 * input on stdin (input may hold NULs). */
static void run_ferry(struct run *r, const char *input, size_t len, const char *const *args)
{
	const char *bin = getenv("FERRY_BIN");
	int in[2], out[2], err[2], status;
	char *argv[16];
	pid_t pid;
	int i;

	ck_assert_msg(bin != NULL, "FERRY_BIN is not set (CTest sets it)");
	argv[0] = (char *)bin;
	for (i = 0; args[i]; i++)
		argv[i + 1] = (char *)args[i];
	argv[i + 1] = NULL;

	ck_assert_int_eq(pipe2(in, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(out, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(err, O_CLOEXEC), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(in[0], STDIN_FILENO);
		dup2(out[1], STDOUT_FILENO);
		dup2(err[1], STDERR_FILENO);
		execv(bin, argv);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	close(err[1]);
	if (len)
		ck_assert_int_eq(write(in[1], input, len), (ssize_t)len);
	close(in[1]);
	drain(out[0], err[0], r);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status), "ferry died with signal %d", WTERMSIG(status));
	r->status = WEXITSTATUS(status);
}

static size_t text_len(const char *text)
{
	return text ? strlen(text) : 0;
}

#define RUN(r, input, ...) \
	run_ferry((r), (input), text_len(input), (const char *const[]){__VA_ARGS__, NULL})
/* The same with input of len bytes: a string literal's own size, NULs included. */
#define RUN_BYTES(r, input, len, ...) \
	run_ferry((r), (input), (len), (const char *const[]){__VA_ARGS__, NULL})

/* RFC 7748, section 6.1: Alice's private and public X25519 keys, in base64. */
#define ALICE_PRIVATE "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo="
#define ALICE_PUBLIC  "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo="
/* RFC 7748, section 6.1: Bob's public key, a peer distinct from Alice. */
#define BOB_PUBLIC    "3p7bfXt9wbTTW2HC7OQ1Nz+DQ8hbeGdNrfx+FG+IK08="

START_TEST(pubkey_matches_rfc7748)
{
	struct run r;

	RUN(&r, ALICE_PRIVATE "\n", "pubkey");
	ck_assert_int_eq(r.status, 0);
	ck_assert_str_eq(r.out, ALICE_PUBLIC "\n");
	ck_assert_str_eq(r.err, "");
	RUN(&r, ALICE_PRIVATE, "pubkey"); /* no newline: accepted too */
	ck_assert_int_eq(r.status, 0);
	ck_assert_str_eq(r.out, ALICE_PUBLIC "\n");
}
END_TEST

START_TEST(genkey_then_pubkey)
{
	struct run a, b, pub;

	RUN(&a, NULL, "genkey");
	ck_assert_int_eq(a.status, 0);
	ck_assert_uint_eq(strlen(a.out), 45);
	ck_assert_int_eq(a.out[43], '=');
	RUN(&b, NULL, "genkey");
	ck_assert_str_ne(a.out, b.out);
	RUN(&pub, a.out, "pubkey");
	ck_assert_int_eq(pub.status, 0);
	ck_assert_uint_eq(strlen(pub.out), 45);
	ck_assert_str_ne(pub.out, a.out);
}
END_TEST

/* A preshared key: 32 random bytes in the same base64 form, new each time, accepted by
 * the config as PresharedKey. */
START_TEST(genpsk_prints_fresh_keys)
{
	struct run a, b;

	RUN(&a, NULL, "genpsk");
	ck_assert_int_eq(a.status, 0);
	ck_assert_uint_eq(strlen(a.out), 45);
	ck_assert_int_eq(a.out[43], '=');
	ck_assert_int_eq(a.out[44], '\n');
	RUN(&b, NULL, "genpsk");
	ck_assert_str_ne(a.out, b.out);
	RUN(&b, NULL, "genpsk", "extra");
	ck_assert_int_eq(b.status, 2);
}
END_TEST

START_TEST(pubkey_rejects_bad_input)
{
	static const char *const bad[] = {
	    "",
	    "\n",
	    "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LC=\n",   /* 43 characters */
	    "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCoA=\n", /* 45 characters */
	    "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LC*=\n",  /* not base64 */
	    " dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=\n", /* as wg: no leading blanks */
	    "\tdwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=",
	    "\ndwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=\n",
	};
	struct run r;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		RUN(&r, bad[i], "pubkey");
		ck_assert_msg(r.status == 1, "input %zu: status %d", i, r.status);
		ck_assert_str_eq(r.out, "");
		ck_assert_msg(strstr(r.err, "not a private key") != NULL, "input %zu: %s", i,
			      r.err);
	}
}
END_TEST

/* Fills len bytes (no NUL) with Alice's private key and spaces after it. */
static void key_then_blanks(char *buf, size_t len)
{
	static const char key[] = ALICE_PRIVATE;
	size_t i;

	memset(buf, ' ', len);
	for (i = 0; i < len && i < sizeof(key) - 1; i++)
		buf[i] = key[i];
}

/* As wg pubkey: any whitespace may follow the key (a CRLF, an editor's blanks, empty
 * lines), up to a bound. */
START_TEST(pubkey_accepts_trailing_whitespace)
{
	static const char *const good[] = {
	    ALICE_PRIVATE " ",
	    ALICE_PRIVATE "\r\n",
	    ALICE_PRIVATE " \t \r\n\n\n",
	    ALICE_PRIVATE "\n\v\f  \n",
	};
	char input[1024];
	struct run r;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		RUN(&r, good[i], "pubkey");
		ck_assert_msg(r.status == 0, "input %zu: status %d: %s", i, r.status, r.err);
		ck_assert_str_eq(r.out, ALICE_PUBLIC "\n");
		ck_assert_str_eq(r.err, "");
	}
	/* The whole bound: the key and 980 blanks, 1024 bytes. */
	key_then_blanks(input, sizeof(input));
	input[sizeof(input) - 1] = '\n';
	RUN_BYTES(&r, input, sizeof(input), "pubkey");
	ck_assert_msg(r.status == 0, "status %d: %s", r.status, r.err);
	ck_assert_str_eq(r.out, ALICE_PUBLIC "\n");
}
END_TEST

/* Anything but whitespace after the key is refused and named as such: other words, and a
 * NUL, which a C string would silently end at (the rest unread). Past the bound, too. */
START_TEST(pubkey_refuses_trailing_junk)
{
	static const struct {
		const char *text;
		size_t len;
	} bad[] = {
#define BYTES(s) {s, sizeof(s) - 1}
	    BYTES(ALICE_PRIVATE "\nmore\n"),
	    BYTES(ALICE_PRIVATE " x"),
	    BYTES(ALICE_PRIVATE "="),
	    BYTES(ALICE_PRIVATE "\0"),
	    BYTES(ALICE_PRIVATE "\0junk"),
	    BYTES(ALICE_PRIVATE "\n\0"),
	    BYTES(ALICE_PRIVATE "\n\n" ALICE_PRIVATE "\n"),
#undef BYTES
	};
	char input[1025];
	struct run r;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		RUN_BYTES(&r, bad[i].text, bad[i].len, "pubkey");
		ck_assert_msg(r.status == 1, "input %zu: status %d", i, r.status);
		ck_assert_str_eq(r.out, "");
		ck_assert_msg(strstr(r.err, "trailing characters after the key") != NULL,
			      "input %zu: %s", i, r.err);
	}
	key_then_blanks(input, sizeof(input));
	RUN_BYTES(&r, input, sizeof(input), "pubkey");
	ck_assert_int_eq(r.status, 1);
	ck_assert_str_eq(r.out, "");
	ck_assert_msg(strstr(r.err, "more than 1024 bytes") != NULL, "%s", r.err);
}
END_TEST

/* A usage error says which word was wrong, then the usage line, as wg does. */
START_TEST(usage_errors_name_the_argument)
{
	struct run r;

	RUN(&r, NULL, "genkey", "extra");
	ck_assert_int_eq(r.status, 2);
	ck_assert_str_eq(r.out, "");
	ck_assert_str_eq(r.err, "ferry genkey: unexpected argument 'extra'\nUsage: ferry genkey\n");
	RUN(&r, NULL, "genkey", "--x");
	ck_assert_int_eq(r.status, 2);
	ck_assert_str_eq(r.err, "ferry genkey: unknown option '--x'\nUsage: ferry genkey\n");
	RUN(&r, NULL, "pubkey", "-", "key");
	ck_assert_int_eq(r.status, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "ferry pubkey: unexpected argument '-'\n"));
	RUN(&r, NULL, "check-config", "a.conf", "b.conf", "c.conf");
	ck_assert_int_eq(r.status, 2);
	ck_assert_str_eq(r.err, "ferry check-config: unexpected argument 'b.conf'\n"
				"Usage: ferry check-config FILE [--insecure-key-file]\n");
	RUN(&r, NULL, "check-config");
	ck_assert_int_eq(r.status, 2);
	ck_assert_str_eq(r.err, "ferry check-config: too few arguments\n"
				"Usage: ferry check-config FILE [--insecure-key-file]\n");
	RUN(&r, NULL, "status", "a", "b");
	ck_assert_int_eq(r.status, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "ferry status: unexpected argument 'b'\n"));
	ck_assert_ptr_nonnull(strstr(r.err, "Usage: ferry status [NAME] [--json]\n"));
	RUN(&r, NULL, "status", "--jsn");
	ck_assert_int_eq(r.status, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "ferry status: unknown option '--jsn'\n"));
	RUN(&r, NULL, "up", "a.conf", "--verbos");
	ck_assert_int_eq(r.status, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "ferry up: unknown option '--verbos'\n"));
	ck_assert_ptr_nonnull(strstr(r.err, "Usage: ferry up CONFIG"));
}
END_TEST

/* "--" ends the options: what follows is an argument even if it starts with '-'. */
START_TEST(double_dash_ends_options)
{
	char cwd[4096], dir[] = "/tmp/ferry-cli-dash-XXXXXX";
	struct run r;
	int fd;

	RUN(&r, NULL, "genkey", "--");
	ck_assert_int_eq(r.status, 0);
	ck_assert_uint_eq(strlen(r.out), 45);
	RUN(&r, NULL, "genkey", "--", "-x");
	ck_assert_int_eq(r.status, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "unexpected argument '-x'"));
	RUN(&r, NULL, "genkey", "--", "--help");
	ck_assert_int_eq(r.status, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "unexpected argument '--help'"));

	/* check-config of a file whose name starts with '-', in a directory of its own. */
	ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(chdir(dir), 0);
	fd = open("-weird.conf", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_gt(dprintf(fd, "[Interface]\nPrivateKey = %s\n", ALICE_PRIVATE), 0);
	close(fd);
	RUN(&r, NULL, "check-config", "-weird.conf");
	ck_assert_int_eq(r.status, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "unknown option '-weird.conf'"));
	RUN(&r, NULL, "check-config", "--", "-weird.conf");
	ck_assert_msg(r.status == 0, "status %d: %s", r.status, r.err);
	ck_assert_ptr_nonnull(strstr(r.out, "-weird.conf: valid: 0 peers"));
	ck_assert_int_eq(unlink("-weird.conf"), 0);
	ck_assert_int_eq(chdir(cwd), 0);
	ck_assert_int_eq(rmdir(dir), 0);

	RUN(&r, NULL, "up", "--", "-nosuch.conf");
	ck_assert_int_eq(r.status, 1);
	ck_assert_ptr_nonnull(strstr(r.err, "-nosuch.conf"));
	RUN(&r, NULL, "up", "--", "a.conf", "b.conf");
	ck_assert_int_eq(r.status, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "not also 'b.conf'"));
}
END_TEST

/* ferry exec names its tunnel after the file, as up does: a file named without a
 * directory once gave the name "" (basename's result printed onto itself). */
START_TEST(exec_names_the_tunnel_after_a_bare_file_name)
{
	struct run r;

	RUN(&r, NULL, "exec", "-c", "nosuch-ferry.conf", "--", "true");
	ck_assert_int_eq(r.status, 1);
	ck_assert_msg(strstr(r.err, "nosuch-ferry.conf: cannot open") && !strstr(r.err, "--name"),
		      "%s", r.err);
}
END_TEST

START_TEST(usage_errors_exit_2)
{
	struct run r;

	RUN(&r, NULL, "frobnicate");
	ck_assert_int_eq(r.status, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "unknown command 'frobnicate'"));
	RUN(&r, NULL, "help", "frobnicate"); /* as wg: help for nothing is a usage error */
	ck_assert_int_eq(r.status, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "unknown command 'frobnicate'"));
	RUN(&r, NULL, "help", "up");
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "Usage: ferry up"));
	RUN(&r, NULL, "genkey", "--bogus");
	ck_assert_int_eq(r.status, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "unknown option '--bogus'"));
	RUN(&r, NULL, "genkey", "extra");
	ck_assert_int_eq(r.status, 2);
	RUN(&r, NULL, "check-config");
	ck_assert_int_eq(r.status, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "Usage: ferry check-config FILE"));
	RUN(&r, NULL, "exec", "--bogus", "--", "true");
	ck_assert_int_eq(r.status, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "unknown option '--bogus'"));
	RUN(&r, NULL, "exec", "--name", "x");
	ck_assert_int_eq(r.status, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "which command?"));
}
END_TEST

START_TEST(help_lists_only_working_commands)
{
	static const char *const cmds[] = {"up",     "exec",   "down",	       "status", "genkey",
					   "genpsk", "pubkey", "check-config", "version"};
	struct run r;
	size_t i;

	RUN(&r, NULL, "--help");
	ck_assert_int_eq(r.status, 0);
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		ck_assert_msg(strstr(r.out, cmds[i]) != NULL, "%s missing from --help", cmds[i]);
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		RUN(&r, NULL, cmds[i], "--help");
		ck_assert_int_eq(r.status, 0);
		ck_assert_ptr_nonnull(strstr(r.out, "Usage: ferry "));
	}
	RUN(&r, NULL, "version");
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "lwIP 2."));
}
END_TEST

/* Writes text to a fresh 0600 file in /tmp; the caller unlinks path. */
static void write_temp(char path[64], const char *text)
{
	int fd;

	snprintf(path, 64, "/tmp/ferry-cli-XXXXXX");
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

/* The tunnel's commands where no tunnel runs: usage errors exit 2, a missing config or
 * tunnel exits 1 and says which; status of nothing is empty. (The daemon itself runs in
 * the namespace suite, netns-tests/.) */
START_TEST(tunnel_commands_without_a_tunnel)
{
	char dir[] = "/tmp/ferry-cli-run-XXXXXX";
	char path[64];
	struct run r;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(setenv("FERRY_RUN_DIR", dir, 1), 0);

	RUN(&r, NULL, "up");
	ck_assert_int_eq(r.status, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "which configuration file?"));
	RUN(&r, NULL, "up", "a.conf", "b.conf");
	ck_assert_int_eq(r.status, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "not also 'b.conf'"));
	RUN(&r, NULL, "up", "a.conf", "--name");
	ck_assert_int_eq(r.status, 2);
	RUN(&r, NULL, "up", "--bogus", "a.conf");
	ck_assert_int_eq(r.status, 2);
	RUN(&r, NULL, "up", "/nonexistent/ferry.conf");
	ck_assert_int_eq(r.status, 1);
	ck_assert_ptr_nonnull(strstr(r.err, "/nonexistent/ferry.conf"));
	RUN(&r, NULL, "up", "--name", "a-name-far-too-long", "x.conf");
	ck_assert_int_eq(r.status, 1);
	ck_assert_ptr_nonnull(strstr(r.err, "expected an interface name"));

	write_temp(path, "[Interface]\nListenPort = 51820\n");
	RUN(&r, NULL, "up", path);
	ck_assert_int_eq(r.status, 1);
	ck_assert_ptr_nonnull(strstr(r.err, "PrivateKey"));
	ck_assert_ptr_nonnull(strstr(r.err, "not starting"));
	unlink(path);

	RUN(&r, NULL, "down");
	ck_assert_int_eq(r.status, 2);
	RUN(&r, NULL, "down", "nosuch");
	ck_assert_int_eq(r.status, 1);
	ck_assert_ptr_nonnull(strstr(r.err, "no ferry named nosuch runs"));
	RUN(&r, NULL, "down", "/etc/ferry/nosuch.conf"); /* a config's path names it, as wg-quick */
	ck_assert_int_eq(r.status, 1);
	ck_assert_ptr_nonnull(strstr(r.err, "no ferry named nosuch runs"));
	RUN(&r, NULL, "status", "nosuch");
	ck_assert_int_eq(r.status, 1);
	ck_assert_ptr_nonnull(strstr(r.err, "no ferry named nosuch runs"));
	RUN(&r, NULL, "status", "a", "b");
	ck_assert_int_eq(r.status, 2);
	RUN(&r, NULL, "status");
	ck_assert_int_eq(r.status, 0);
	ck_assert_str_eq(r.out, "");
	RUN(&r, NULL, "status", "--json");
	ck_assert_int_eq(r.status, 0);
	ck_assert_str_eq(r.out, "[]\n");

	ck_assert_int_eq(rmdir(dir), 0);
	unsetenv("FERRY_RUN_DIR");
}
END_TEST

START_TEST(check_config_accepts_a_good_file)
{
	char path[64];
	struct run r;

	write_temp(path, "[Interface]\nPrivateKey = " ALICE_PRIVATE "\nListenPort = 51900\n"
			 "Address = 10.9.0.1/24\n\n[Peer]\nPublicKey = " BOB_PUBLIC "\n"
			 "AllowedIPs = 10.9.0.2/32\n");
	RUN(&r, NULL, "check-config", path);
	ck_assert_msg(r.status == 0, "status %d: %s", r.status, r.err);
	ck_assert_ptr_nonnull(strstr(r.out, ": valid: 1 peer"));
	ck_assert_str_eq(r.err, "");
	unlink(path);
}
END_TEST

/* "-" is standard input, named <stdin> in the messages. */
START_TEST(check_config_reads_stdin)
{
	static const char good[] = "[Interface]\nPrivateKey = " ALICE_PRIVATE "\n"
				   "[Peer]\nPublicKey = " BOB_PUBLIC "\nAllowedIPs = 10.9.0.2/32\n";
	struct run r;

	RUN(&r, good, "check-config", "-");
	ck_assert_msg(r.status == 0, "status %d: %s", r.status, r.err);
	ck_assert_ptr_nonnull(strstr(r.out, "<stdin>: valid: 1 peer,"));
	ck_assert_str_eq(r.err, "");
	RUN(&r, good, "check-config", "--", "-");
	ck_assert_int_eq(r.status, 0);

	RUN(&r, "[Interface]\nPrivateKey = " ALICE_PRIVATE "\nMTU = 90000\n", "check-config", "-");
	ck_assert_int_eq(r.status, 1);
	ck_assert_str_eq(r.out, "");
	ck_assert_msg(strstr(r.err, "<stdin>:3: [Interface] MTU:") != NULL, "%s", r.err);
	ck_assert_ptr_nonnull(strstr(r.err, "<stdin>: 1 error"));
	RUN(&r, NULL, "check-config", "-"); /* empty: no [Interface] */
	ck_assert_int_eq(r.status, 1);
	ck_assert_ptr_nonnull(strstr(r.err, "<stdin>"));
}
END_TEST

/* How often word occurs in the line of text that starts with prefix; -1: no such line. */
static int count_in_line(const char *text, const char *prefix, const char *word)
{
	const char *line = strstr(text, prefix), *end, *p;
	int n = 0;

	if (!line)
		return -1;
	end = strchr(line, '\n');
	if (!end)
		end = line + strlen(line);
	for (p = strstr(line, word); p && p < end; p = strstr(p + 1, word))
		n++;
	return n;
}

/* Egress rules read in any case, as every keyword of the file; a bad one says once what
 * was expected. */
START_TEST(check_config_egress_messages)
{
	struct run r;

	RUN(&r,
	    "[Interface]\nPrivateKey = " ALICE_PRIVATE "\n"
	    "Egress = DENY TCP ANY PORT 25, Allow Udp 10.0.0.0/8 Port 53\n",
	    "check-config", "-");
	ck_assert_msg(r.status == 0, "status %d: %s", r.status, r.err);
	RUN(&r,
	    "[Interface]\nPrivateKey = " ALICE_PRIVATE "\n"
	    "Egress = permit any\nEgress = deny any port 99999\n",
	    "check-config", "-");
	ck_assert_int_eq(r.status, 1);
	ck_assert_int_eq(
	    count_in_line(r.err, "<stdin>:3: [Interface] Egress: \"permit any\": ", "expected"), 1);
	ck_assert_int_eq(
	    count_in_line(r.err, "<stdin>:4: [Interface] Egress: \"deny any port 99999\": bad port",
			  "expected"),
	    1);
}
END_TEST

START_TEST(check_config_names_every_problem)
{
	char path[64], want[128];
	struct run r;

	write_temp(path, "[Interface]\nPrivateKey = " ALICE_PRIVATE "\nMTU = 90000\n"
			 "Profile = turbo\n[Peer]\nEndpoint = 192.0.2.1\nColour = blue\n");
	RUN(&r, NULL, "check-config", path);
	ck_assert_int_eq(r.status, 1);
	ck_assert_str_eq(r.out, "");
	snprintf(want, sizeof(want), "%s:3: [Interface] MTU:", path);
	ck_assert_msg(strstr(r.err, want) != NULL, "%s", r.err);
	snprintf(want, sizeof(want), "%s:4: [Interface] Profile:", path);
	ck_assert_msg(strstr(r.err, want) != NULL, "%s", r.err);
	snprintf(want, sizeof(want), "%s:5: [Peer]: missing PublicKey", path);
	ck_assert_msg(strstr(r.err, want) != NULL, "%s", r.err);
	snprintf(want, sizeof(want), "%s:6: [Peer] Endpoint:", path);
	ck_assert_msg(strstr(r.err, want) != NULL, "%s", r.err);
	snprintf(want, sizeof(want), "%s:7: [Peer]: unknown key \"Colour\"", path);
	ck_assert_msg(strstr(r.err, want) != NULL, "%s", r.err);
	ck_assert_ptr_nonnull(strstr(r.err, "5 errors"));
	unlink(path);

	RUN(&r, NULL, "check-config", "/nonexistent/ferry.conf");
	ck_assert_int_eq(r.status, 1);
	ck_assert_ptr_nonnull(strstr(r.err, "/nonexistent/ferry.conf: cannot open"));
}
END_TEST

/* Keys group or others may read: refused, as ferry up refuses them, unless
 * --insecure-key-file, wherever it stands before `--`. */
START_TEST(check_config_refuses_readable_keys)
{
	char path[64];
	struct run r;

	write_temp(path, "[Interface]\nPrivateKey = " ALICE_PRIVATE "\n");
	ck_assert_int_eq(chmod(path, 0644), 0);
	RUN(&r, NULL, "check-config", path);
	ck_assert_int_eq(r.status, 1);
	ck_assert_msg(strstr(r.err, "holds secret keys but group or others may access it (mode "
				    "0644)") &&
			  strstr(r.err, "(or --insecure-key-file)") && strstr(r.err, "1 error"),
		      "%s", r.err);
	RUN(&r, NULL, "check-config", "--insecure-key-file", path);
	ck_assert_msg(r.status == 0 && strstr(r.err, "warning: holds secret keys"), "%s", r.err);
	ck_assert_ptr_nonnull(strstr(r.out, "valid: 0 peers"));
	RUN(&r, NULL, "check-config", path, "--insecure-key-file");
	ck_assert_int_eq(r.status, 0);
	RUN(&r, NULL, "check-config", "--", "--insecure-key-file");
	ck_assert_int_eq(r.status, 1);
	ck_assert_ptr_nonnull(strstr(r.err, "--insecure-key-file: cannot open"));
	ck_assert_int_eq(chmod(path, 0600), 0);
	RUN(&r, NULL, "check-config", path);
	ck_assert_int_eq(r.status, 0);
	unlink(path);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cli");
	TCase *tc = ferry_tcase("cli", 20);

	tcase_add_test(tc, pubkey_matches_rfc7748);
	tcase_add_test(tc, genkey_then_pubkey);
	tcase_add_test(tc, genpsk_prints_fresh_keys);
	tcase_add_test(tc, pubkey_rejects_bad_input);
	tcase_add_test(tc, pubkey_accepts_trailing_whitespace);
	tcase_add_test(tc, pubkey_refuses_trailing_junk);
	tcase_add_test(tc, usage_errors_exit_2);
	tcase_add_test(tc, usage_errors_name_the_argument);
	tcase_add_test(tc, double_dash_ends_options);
	tcase_add_test(tc, help_lists_only_working_commands);
	tcase_add_test(tc, check_config_accepts_a_good_file);
	tcase_add_test(tc, check_config_reads_stdin);
	tcase_add_test(tc, check_config_egress_messages);
	tcase_add_test(tc, check_config_names_every_problem);
	tcase_add_test(tc, tunnel_commands_without_a_tunnel);
	tcase_add_test(tc, exec_names_the_tunnel_after_a_bare_file_name);
	tcase_add_test(tc, check_config_refuses_readable_keys);
	suite_add_tcase(s, tc);
	return ferry_run_suite(s);
}
