// SPDX-License-Identifier: MIT
/*
 * Keys live in guarded memory (transport/secret.h): an allocation is zeroed, aligned,
 * locked and left out of core dumps (the mapping's VmFlags in /proc/self/smaps: lo, dd); a
 * write one byte past its end or a read before its page faults; once freed, a pointer
 * kept to it faults rather than read the key back; freeing it is allowed by the daemon's
 * seccomp filter. Then each owner of keys keeps them there: the Noise local (its static
 * private key is not in the caller's struct at all), the daemon's peers (their links with
 * the Noise peers: preshared key, handshake and session keys) and the configuration (its
 * private and preshared keys, through a file and through a string, past the point where
 * its allocation grows). Last, the fixture's leak check sees a guarded allocation that a
 * test does not free, which LeakSanitizer cannot.
 *
 * Faults are provoked in a forked child, which must die of SIGSEGV (its own handler: a
 * sanitizer's would turn the signal into an exit). AddressSanitizer's mlock does nothing
 * and says it worked, so sanitizer builds check everything but the locking.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/config.h"
#include "cli/daemon/internal.h"
#include "cli/key.h"
#include "tests/support/fixture.h"
#include "transport/noise.h"
#include "transport/secret.h"

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZER_RUNTIME 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZER_RUNTIME 1
#endif
#endif

/* ---- helpers --------------------------------------------------------------------------------- */

struct touch {
	volatile uint8_t *at;
	bool write;
};

/* Runs in a forked child: reads or writes one byte at t->at, then exits 0. */
static void touch_child(const struct touch *t)
{
	struct rlimit none = {0, 0};

	signal(SIGSEGV, SIG_DFL);
	signal(SIGBUS, SIG_DFL);
	setrlimit(RLIMIT_CORE, &none);
	if (t->write)
		*t->at = 0x5a;
	else
		(void)*t->at;
	_exit(0);
}

/* The wait status of a child that touched one byte at `at`. */
static int touch(const void *at, bool write)
{
	struct touch t = {(volatile uint8_t *)(uintptr_t)at, write};
	int st = 0;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		touch_child(&t);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	return st;
}

#define ck_assert_segv(at, write)                                                               \
	do {                                                                                    \
		int st_ = touch((at), (write));                                                 \
		ck_assert_msg(WIFSIGNALED(st_) && WTERMSIG(st_) == SIGSEGV,                     \
			      "%s %s: expected SIGSEGV, got %s %d", (write) ? "write" : "read", \
			      #at, WIFSIGNALED(st_) ? "signal" : "exit",                        \
			      WIFSIGNALED(st_) ? WTERMSIG(st_) : WEXITSTATUS(st_));             \
	} while (0)

#define ck_assert_no_fault(at, write)                                                            \
	do {                                                                                     \
		int st_ = touch((at), (write));                                                  \
		ck_assert_msg(WIFEXITED(st_) && WEXITSTATUS(st_) == 0,                           \
			      "%s %s: expected no fault, got %s %d", (write) ? "write" : "read", \
			      #at, WIFSIGNALED(st_) ? "signal" : "exit",                         \
			      WIFSIGNALED(st_) ? WTERMSIG(st_) : WEXITSTATUS(st_));              \
	} while (0)

/* The VmFlags of the mapping holding p (/proc/self/smaps), "" if none does. */
static void vm_flags(const void *p, char *out, size_t cap)
{
	FILE *f = fopen("/proc/self/smaps", "re");
	unsigned long lo, hi, a = (unsigned long)(uintptr_t)p;
	char line[512];
	bool in = false;

	ck_assert_ptr_nonnull(f);
	out[0] = '\0';
	while (fgets(line, sizeof(line), f)) {
		char *end;

		lo = strtoul(line, &end, 16);
		if (end != line && *end == '-') { /* "lo-hi perms ...": a mapping begins */
			hi = strtoul(end + 1, &end, 16);
			in = *end == ' ' && a >= lo && a < hi;
		} else if (in && strncmp(line, "VmFlags:", 8) == 0) {
			snprintf(out, cap, "%s", line + 8);
			break;
		}
	}
	fclose(f);
}

static bool has_flag(const char *flags, const char *flag)
{
	char word[8];

	snprintf(word, sizeof(word), " %s ", flag);
	if (strstr(flags, word))
		return true;
	snprintf(word, sizeof(word), " %s\n", flag);
	return strstr(flags, word) != NULL;
}

/* Whether this process may lock what the tests allocate (a MiB at most): root's
 * CAP_IPC_LOCK, or a RLIMIT_MEMLOCK that large (Linux's default is 8 MiB), and not in a
 * sanitizer build. Where it may not, locking is not checked, and said so. */
static bool may_lock(void)
{
#ifdef SANITIZER_RUNTIME
	printf("secret: AddressSanitizer's mlock does nothing: locking is not checked\n");
	return false;
#else
	struct rlimit rl;

	if (geteuid() == 0)
		return true;
	if (getrlimit(RLIMIT_MEMLOCK, &rl) == 0 && rl.rlim_cur >= 1024UL * 1024)
		return true;
	printf("secret: RLIMIT_MEMLOCK below 1 MiB: mlock is not checked\n");
	return false;
#endif
}

/* p is in guarded memory: its own mapping, locked (where this process may lock) and left
 * out of core dumps. */
static void ck_assert_guarded(const void *p, const char *what)
{
	char flags[512];

	vm_flags(p, flags, sizeof(flags));
	ck_assert_msg(flags[0], "%s: no mapping holds it", what);
	ck_assert_msg(has_flag(flags, "dd"), "%s: not left out of core dumps (VmFlags:%s)", what,
		      flags);
	if (may_lock())
		ck_assert_msg(has_flag(flags, "lo"), "%s: not locked (VmFlags:%s)", what, flags);
}

static size_t rounded(size_t size)
{
	return (size + FERRY_SECRET_ALIGN - 1) & ~(size_t)(FERRY_SECRET_ALIGN - 1);
}

static bool holds(const void *hay, size_t len, const uint8_t key[FERRY_KEY_LEN])
{
	return memmem(hay, len, key, FERRY_KEY_LEN) != NULL;
}

/* ---- the allocator --------------------------------------------------------------------------- */

START_TEST(allocation_is_guarded)
{
	uint8_t *p = ferry_secret_alloc(100), *page;
	size_t size = rounded(100), i;

	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq((uintptr_t)p % FERRY_SECRET_ALIGN, 0);
	for (i = 0; i < size; i++)
		ck_assert_uint_eq(p[i], 0); /* sodium_malloc's own fill is 0xdb */
	ck_assert_guarded(p, "ferry_secret_alloc(100)");
	if (may_lock())
		ck_assert_int_eq(ferry_secret_lock(p, size), 0);
	memset(p, 0xa5, size);
	/* the last byte is ours, the next is the guard page */
	ck_assert_no_fault(p + size - 1, true);
	ck_assert_segv(p + size, true);
	ck_assert_segv(p + size, false);
	/* in front: libsodium's canary on the same page, then a guard page */
	page = (uint8_t *)((uintptr_t)p & ~(uintptr_t)(sysconf(_SC_PAGESIZE) - 1));
	ck_assert_segv(page - 1, false);
	ck_assert_segv(page - 1, true);
	ferry_secret_free(p);
	/* a pointer kept after the free does not read the bytes back: it faults */
	ck_assert_segv(p, false);
	ck_assert_segv(p + size - 1, false);
	ferry_secret_free(NULL);
}
END_TEST

START_TEST(allocation_sizes)
{
	void *p;

	ck_assert_ptr_null(ferry_secret_alloc(0));
	ck_assert_ptr_null(ferry_secret_alloc(SIZE_MAX));
	ck_assert_ptr_null(ferry_secret_allocarray(SIZE_MAX / 2, 3));
	ck_assert_ptr_null(ferry_secret_allocarray(0, 16));
	p = ferry_secret_allocarray(3, 7); /* 21 bytes, rounded to 32 */
	ck_assert_ptr_nonnull(p);
	ck_assert_segv((uint8_t *)p + rounded(21), true);
	ferry_secret_free(p);
}
END_TEST

/* The daemon frees keys at teardown, after its seccomp filter is in (munlock must be in
 * the allow-list, else the filter kills it there). */
static int free_under_filter(void)
{
	void *p = ferry_secret_alloc(64);

	if (!p || ferry_privilege_filter(false) < 0)
		return 1;
	ferry_secret_free(p);
	p = ferry_secret_alloc(64); /* and anything made later: mlock */
	if (!p)
		return 2;
	ferry_secret_free(p);
	return 0;
}

START_TEST(freed_under_the_seccomp_filter)
{
	struct rlimit none = {0, 0};
	int st = 0;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		setrlimit(RLIMIT_CORE, &none);
		_exit(free_under_filter());
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "expected exit 0, got %s %d",
		      WIFEXITED(st) ? "exit" : "signal",
		      WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
}
END_TEST

/* ---- the Noise local ------------------------------------------------------------------------- */

START_TEST(noise_local_key_is_guarded)
{
	struct ferry_noise_config cfg = {0};
	struct ferry_noise_local local;
	uint8_t pub[FERRY_NOISE_KEY_LEN], key[FERRY_NOISE_KEY_LEN];
	const uint8_t *secret;
	size_t size;

	ck_assert_int_eq(ferry_noise_keygen(key, pub), 0);
	memcpy(cfg.static_private, key, sizeof(key));
	ck_assert_int_eq(ferry_noise_local_init(&local, &cfg), 0);
	secret = (const uint8_t *)local.secret;
	size = rounded(sizeof(*local.secret));
	ck_assert_ptr_nonnull(secret);
	ck_assert_mem_eq(local.secret->static_private, key, sizeof(key));
	ck_assert(!holds(&local, sizeof(local), key)); /* nowhere in the caller's struct */
	ck_assert_guarded(secret, "the local's secrets");
	ck_assert_segv(secret + size, true);

	ferry_noise_local_destroy(&local);
	ck_assert_ptr_null(local.secret);
	ck_assert_segv(secret, false); /* the key is not there to be read any more */
	sodium_memzero(key, sizeof(key));
}
END_TEST

/* ---- the configuration ----------------------------------------------------------------------- */

struct keyset {
	uint8_t priv[FERRY_KEY_LEN];
	uint8_t psk[200][FERRY_KEY_LEN];
	char text[32768];
};

/* A configuration of n peers (n <= 200), each with a preshared key, into k->text. */
static void make_config(struct keyset *k, size_t n)
{
	char b64[FERRY_KEY_B64_LEN + 1];
	uint8_t pub[FERRY_KEY_LEN], peer_priv[FERRY_KEY_LEN];
	size_t len, i;

	ck_assert_int_eq(ferry_key_generate(k->priv), 0);
	ferry_key_to_base64(b64, k->priv);
	len = (size_t)snprintf(k->text, sizeof(k->text), "[Interface]\nPrivateKey = %s\n", b64);
	for (i = 0; i < n; i++) {
		ck_assert_int_eq(ferry_key_generate(peer_priv), 0);
		ck_assert_int_eq(ferry_key_public(pub, peer_priv), 0);
		ck_assert_int_eq(ferry_key_generate_preshared(k->psk[i]), 0);
		ferry_key_to_base64(b64, pub);
		len += (size_t)snprintf(k->text + len, sizeof(k->text) - len,
					"[Peer]\nPublicKey = %s\n", b64);
		ferry_key_to_base64(b64, k->psk[i]);
		len += (size_t)snprintf(k->text + len, sizeof(k->text) - len,
					"PresharedKey = %s\nAllowedIPs = 10.%zu.0.0/16\n", b64, i);
		ck_assert_uint_lt(len, sizeof(k->text));
	}
}

/* cfg's keys are the ones of k, in its guarded secrets and nowhere else in its memory. */
static void ck_assert_config_keys(const struct ferry_config *cfg, const struct keyset *k)
{
	const uint8_t *s = (const uint8_t *)cfg->secrets;
	size_t i, size = rounded(sizeof(*cfg->secrets) +
				 cfg->npeers * sizeof(cfg->secrets->preshared_key[0]));

	ck_assert_ptr_nonnull(s);
	ck_assert_ptr_eq(cfg->iface.private_key, cfg->secrets->private_key);
	ck_assert_mem_eq(cfg->iface.private_key, k->priv, FERRY_KEY_LEN);
	ck_assert(!holds(cfg, sizeof(*cfg), k->priv));
	for (i = 0; i < cfg->npeers; i++) {
		const struct ferry_config_peer *p = &cfg->peers[i];

		ck_assert(p->has_preshared_key);
		ck_assert_ptr_eq(p->preshared_key, cfg->secrets->preshared_key[i]);
		ck_assert_mem_eq(p->preshared_key, k->psk[i], FERRY_KEY_LEN);
		ck_assert(!holds(cfg->peers, cfg->npeers * sizeof(*p), k->psk[i]));
	}
	ck_assert_guarded(s, "the configuration's secrets");
	/* the last peer's key ends within the allocation, whatever room is left */
	ck_assert_no_fault(s + size - 1, false);
}

START_TEST(config_keys_are_guarded)
{
	struct keyset *k = calloc(1, sizeof(*k));
	struct ferry_config cfg;
	struct ferry_config_diag diag;
	const uint8_t *old;

	ck_assert_ptr_nonnull(k);
	/* 130 peers: the secrets outgrow their first page (126 peers' room) and move */
	make_config(k, 130);
	ck_assert_int_eq(ferry_config_parse_string(&cfg, "t.conf", k->text, strlen(k->text), &diag),
			 0);
	ck_assert_uint_eq(cfg.npeers, 130);
	ck_assert_config_keys(&cfg, k);
	/* the room for 252 peers ends at the guard page */
	old = (const uint8_t *)cfg.secrets;
	ck_assert_segv(old + sizeof(*cfg.secrets) + 252 * sizeof(cfg.secrets->preshared_key[0]),
		       true);

	ferry_config_free(&cfg);
	ck_assert_ptr_null(cfg.secrets);
	ck_assert_segv(old, false);
	sodium_memzero(k, sizeof(*k));
	free(k);
}
END_TEST

START_TEST(config_file_keys_are_guarded)
{
	struct keyset *k = calloc(1, sizeof(*k));
	char path[] = "/tmp/ferry-secret-XXXXXX";
	struct ferry_config cfg;
	struct ferry_config_diag diag;
	int fd;

	ck_assert_ptr_nonnull(k);
	make_config(k, 40); /* some 6 KiB: the file's buffer grows once */
	ck_assert_uint_gt(strlen(k->text), 4096);
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, k->text, strlen(k->text)), (ssize_t)strlen(k->text));
	close(fd);
	ck_assert_int_eq(ferry_config_load(&cfg, path, &diag), 0);
	unlink(path);
	ck_assert_uint_eq(cfg.npeers, 40);
	ck_assert_config_keys(&cfg, k);
	ferry_config_free(&cfg);
	sodium_memzero(k, sizeof(*k));
	free(k);
}
END_TEST

/* ---- the daemon's peers ---------------------------------------------------------------------- */

static unsigned no_output(void *ctx, struct ferry_buf *const *bufs, const struct ferry_sockaddr *to,
			  unsigned n)
{
	(void)ctx;
	(void)bufs;
	(void)to;
	return n;
}

static int no_segments(void *ctx, void *link, const uint8_t *segs, size_t len, bool thin,
		       uint64_t now)
{
	(void)ctx;
	(void)link;
	(void)segs;
	(void)len;
	(void)thin;
	(void)now;
	return 0;
}

static int no_datagram(void *ctx, void *link, uint32_t flow_id, const uint8_t *data, size_t len,
		       uint64_t now)
{
	(void)ctx;
	(void)link;
	(void)flow_id;
	(void)data;
	(void)len;
	(void)now;
	return 0;
}

static const struct ferry_bridge_ops bridge_ops = {
    .send_segments = no_segments,
    .send_datagram = no_datagram,
    .route = ferry_daemon_route,
    .source_ok = ferry_daemon_source_ok,
};

START_TEST(daemon_peers_are_guarded)
{
	struct ferry_daemon *d = calloc(1, sizeof(*d));
	struct keyset *k = calloc(1, sizeof(*k));
	struct ferry_link_set_config sc = {.ops = {.output = no_output}};
	struct ferry_config_diag diag;
	struct ferry_bridge_config bc;
	struct ferry_wire_sizes sizes;
	const uint8_t *peers;
	size_t i;

	ck_assert_ptr_nonnull(d);
	ck_assert_ptr_nonnull(k);
	d->log.level = FERRY_LOG_ERROR;
	d->udp[0].fd = d->udp[1].fd = -1;
	make_config(k, 3);
	ck_assert_int_eq(
	    ferry_config_parse_string(&d->cfg, "t.conf", k->text, strlen(k->text), &diag), 0);
	memcpy(sc.noise.static_private, d->cfg.iface.private_key, FERRY_KEY_LEN);
	sc.ops.ctx = d;
	ck_assert_int_eq(ferry_link_set_init(&d->set, &sc), 0);
	sodium_memzero(&sc, sizeof(sc));
	ferry_bridge_config_default(&bc, FERRY_ARQ_PROFILE_FAST2);
	ck_assert_int_eq(ferry_daemon_link_sizes(d, &sizes), 0);
	ck_assert_int_eq(ferry_bridge_create(&d->bridge, &bc, &sizes, &bridge_ops, d), 0);

	ck_assert_int_eq(ferry_daemon_peers_up(d), 0);
	ck_assert_uint_eq(d->npeers, 3);
	peers = (const uint8_t *)d->peers;
	ck_assert_guarded(peers, "the daemon's peers");
	for (i = 0; i < d->npeers; i++) {
		const struct ferry_noise_peer *np = &d->peers[i].link.peer;

		ck_assert_mem_eq(np->psk, k->psk[i], FERRY_KEY_LEN);
		ck_assert_guarded(np, "a peer's Noise state");
	}
	ck_assert_guarded(d->set.noise.secret, "the daemon's static key");
	ck_assert(!holds(&d->set, sizeof(d->set), k->priv));
	/* the array ends at the guard page: one byte past the last peer faults */
	ck_assert_uint_eq(sizeof(*d->peers) % FERRY_SECRET_ALIGN, 0);
	ck_assert_segv(peers + d->npeers * sizeof(*d->peers), true);

	ferry_daemon_peers_down(d);
	ck_assert_segv(peers, false);
	ck_assert_segv(peers + sizeof(*d->peers) - 1, false);
	ferry_bridge_destroy(d->bridge);
	ferry_link_set_destroy(&d->set);
	ferry_config_free(&d->cfg);
	sodium_memzero(k, sizeof(*k));
	free(k);
	free(d);
}
END_TEST

/* ---- the fixture catches a guarded allocation left behind ------------------------------------ */

START_TEST(leaks_secret)
{
	ck_assert_ptr_nonnull(ferry_secret_alloc(32));
}
END_TEST

START_TEST(frees_secret)
{
	ferry_secret_free(ferry_secret_alloc(32));
}
END_TEST

START_TEST(fixture_catches_a_secret_leak)
{
	SRunner *runner;
	TestResult **results;
	TCase *tc;
	Suite *s;
	int failed;

	if (!may_lock())
		return; /* the fixture counts locked memory */
	s = suite_create("secret (expected failure)");
	tc = ferry_tcase("leaky", 5);
	tcase_add_test(tc, leaks_secret);
	tcase_add_test(tc, frees_secret);
	suite_add_tcase(s, tc);
	runner = srunner_create(s);
	srunner_set_fork_status(runner, CK_FORK);
	srunner_run_all(runner, CK_SILENT);
	failed = srunner_ntests_failed(runner);
	ck_assert_int_eq(srunner_ntests_run(runner), 2);
	ck_assert_int_eq(failed, 1);
	results = srunner_failures(runner);
	ck_assert_str_eq(tr_tcname(results[0]), "leaky");
	ck_assert_ptr_nonnull(strstr(tr_msg(results[0]), "guarded memory"));
	free(results);
	srunner_free(runner);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("secret");
	TCase *alloc = ferry_tcase("allocator", 10);
	TCase *owners = ferry_tcase("owners", 20);

	tcase_add_test(alloc, allocation_is_guarded);
	tcase_add_test(alloc, allocation_sizes);
	tcase_add_test(alloc, freed_under_the_seccomp_filter);
	tcase_add_test(alloc, fixture_catches_a_secret_leak);
	suite_add_tcase(s, alloc);
	tcase_add_test(owners, noise_local_key_is_guarded);
	tcase_add_test(owners, config_keys_are_guarded);
	tcase_add_test(owners, config_file_keys_are_guarded);
	tcase_add_test(owners, daemon_peers_are_guarded);
	suite_add_tcase(s, owners);
	return ferry_run_suite(s);
}
