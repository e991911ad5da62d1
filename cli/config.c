// SPDX-License-Identifier: MIT
/*
 * The configuration file reader.
 *
 * Theory of operation. libinih does the INI parsing (ini_parse_stream), but its handler
 * is told neither the line number nor where a section begins, and it reports only the
 * first syntax error. So the text is fed to it through our own reader function, which
 * inih calls exactly once per line, in order. The reader:
 *
 *  - counts lines, so every handler call knows its line;
 *  - refuses lines longer than FERRY_CONFIG_MAX_LINE or holding a NUL byte (reported, and
 *    handed to inih as an empty line, so the tail never turns into a line of its own);
 *  - cuts a line at '#', which starts a comment anywhere, as in WireGuard's files;
 *  - classifies the line (blank or comment, section header, key line) and hands it to
 *    inih without its indentation: WireGuard reads an indented key as a key, where inih
 *    would read a continuation of the previous value;
 *  - parses section headers itself, so that each [Peer] starts a new peer, an empty
 *    section is noticed and a broken header gets its own message;
 *  - keeps the key line as inih got it, for the hooks, whose commands may hold " ;" that
 *    inih would cut as a comment;
 *  - notices, when asked for the next line, that a key line never reached the handler:
 *    that is inih's syntax error (no '=' on the line), reported for every such line.
 *
 * The handler looks the key up in the table of config_keys.c (one entry per key: section,
 * repeatable or not, value parser, what is expected), and the value parser there fills the
 * structs or reports. Checks that need a whole section (required keys, Profile against the
 * manual keys, MTU against IPv6 addresses, FEC shard sum) run when the section ends; checks
 * across sections (own public key, duplicate peers, a prefix listed twice) at the end of
 * the file. Every message goes through ferry_config_report(), which formats it completely,
 * so the caller only prints. Values of secret keys are never echoed into messages.
 *
 * Secrets: the file's text is read into guarded memory (transport/secret.h), the decoded
 * keys go into the config's own guarded allocation (struct ferry_config_secrets), and the
 * copies of a line that parsing leaves behind (inih's line buffer, ctx->raw) are wiped
 * once the file is read.
 */
#include "cli/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>
#include <sodium.h>

#include "cli/config_internal.h"
#include "transport/secret.h"

/* inih's reader hands us a buffer of INI_MAX_LINE bytes: a full line and its NUL must fit. */
_Static_assert(FERRY_CONFIG_MAX_LINE < INI_MAX_LINE, "libinih's line buffer is too small");

#define DEFAULT_PROFILE FERRY_ARQ_PROFILE_FAST2

/* A preset's four values, as the ARQ defines them (transport/arq_wire.c). */
static struct ferry_config_arq profile_knobs(enum ferry_arq_profile profile)
{
	struct ferry_arq_config arq;

	ferry_arq_config_init(&arq, profile);
	return (struct ferry_config_arq){
	    .profile = profile,
	    .nodelay = arq.nodelay != 0,
	    .interval_ms = arq.interval,
	    .resend = arq.resend,
	    .nocongestion = arq.nc != 0,
	};
}

static const char *const section_names[] = {
    [SEC_NONE] = "",
    [SEC_INTERFACE] = "Interface",
    [SEC_PEER] = "Peer",
    [SEC_IGNORED] = "",
};

/* ---- messages ---- */

static void diag_reset(struct ferry_config_diag *diag)
{
	memset(diag, 0, sizeof(*diag));
}

/* Formats one message: "FILE[:LINE]: [warning: ][[Section] [Key]: ]text". */
static void __attribute__((format(printf, 6, 0)))
vreport(struct parse_ctx *ctx, bool warning, unsigned int line, enum section sec, const char *key,
	const char *fmt, va_list ap)
{
	struct ferry_config_diag *diag = ctx->diag;
	struct ferry_config_msg *m;
	size_t o = 0, cap = sizeof(m->text);
	int n;

	if (warning)
		diag->warnings++;
	else
		diag->errors++;
	if (diag->count >= FERRY_CONFIG_MAX_MSGS - 1) {
		ctx->dropped++;
		return;
	}
	m = &diag->msg[diag->count++];
	m->line = line;
	m->warning = warning;
	if (line)
		n = snprintf(m->text, cap, "%s:%u: ", ctx->file, line);
	else
		n = snprintf(m->text, cap, "%s: ", ctx->file);
	o = n < 0 ? 0 : (size_t)n;
	if (o < cap && warning)
		o += (size_t)snprintf(m->text + o, cap - o, "warning: ");
	if (o < cap && (sec == SEC_INTERFACE || sec == SEC_PEER))
		o += (size_t)snprintf(m->text + o, cap - o, "[%s]%s%s: ", section_names[sec],
				      key ? " " : "", key ? key : "");
	else if (o < cap && key)
		o += (size_t)snprintf(m->text + o, cap - o, "%s: ", key);
	/* clang-analyzer 14 cannot see that every caller va_start()s ap before passing it. */
	if (o < cap)
		// NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized)
		vsnprintf(m->text + o, cap - o, fmt, ap);
}

void ferry_config_report(struct parse_ctx *ctx, bool warning, unsigned int line, enum section sec,
			 const char *key, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(ctx, warning, line, sec, key, fmt, ap);
	va_end(ap);
}

/* An error about the value of the key being parsed, on the current line. */
void ferry_config_key_error(struct parse_ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(ctx, false, ctx->line, ctx->sec, ctx->key->name, fmt, ap);
	va_end(ap);
}

void ferry_config_oom(struct parse_ctx *ctx)
{
	if (!ctx->oom)
		ferry_config_report(ctx, false, ctx->line, SEC_NONE, NULL, "out of memory");
	ctx->oom = true;
}

/* Sorts messages by line (stable; whole-file messages first) and adds the overflow note. */
static void diag_finish(struct parse_ctx *ctx)
{
	struct ferry_config_diag *diag = ctx->diag;
	struct ferry_config_msg tmp;
	unsigned int i, j;

	for (i = 1; i < diag->count; i++) {
		for (j = i; j > 0 && diag->msg[j - 1].line > diag->msg[j].line; j--) {
			tmp = diag->msg[j];
			diag->msg[j] = diag->msg[j - 1];
			diag->msg[j - 1] = tmp;
		}
	}
	if (ctx->dropped) {
		struct ferry_config_msg *m = &diag->msg[diag->count++];

		m->line = 0;
		m->warning = false;
		snprintf(m->text, sizeof(m->text), "%s: too many problems, %u more not shown",
			 ctx->file, ctx->dropped);
	}
}

/* ---- sections ---- */

static void begin_interface(struct parse_ctx *ctx)
{
	struct ferry_config_interface *iface = &ctx->cfg->iface;

	ctx->have_iface = true;
	iface->line = ctx->line;
	iface->mtu = FERRY_CONFIG_DEFAULT_MTU;
	iface->arq = profile_knobs(DEFAULT_PROFILE);
	iface->fec_data = FERRY_CONFIG_DEFAULT_FEC_DATA;
	iface->fec_parity = FERRY_CONFIG_DEFAULT_FEC_PARITY;
	ferry_policy_init(&iface->egress);
}

/* Keys of peers the first allocation of a config's secrets holds: a page with
 * libsodium's canary, so that a file of up to that many peers costs one allocation. */
#define SECRETS_FIRST_CAP ((4096 - 16 - sizeof(struct ferry_config_secrets)) / FERRY_KEY_LEN)

/* Gives cfg's secrets room for the keys of cap peers (cap > ctx->secrets_cap): a new
 * guarded allocation, the keys copied over, the old one wiped and unmapped, and every
 * pointer into it moved. 0 or -ENOMEM (cfg unchanged). */
static int secrets_grow(struct parse_ctx *ctx, size_t cap)
{
	struct ferry_config *cfg = ctx->cfg;
	struct ferry_config_secrets *s;
	size_t i;

	s = ferry_secret_alloc(sizeof(*s) + cap * sizeof(s->preshared_key[0]));
	if (!s)
		return -ENOMEM;
	if (cfg->secrets)
		memcpy(s, cfg->secrets,
		       sizeof(*s) + ctx->secrets_cap * sizeof(s->preshared_key[0]));
	ferry_secret_free(cfg->secrets);
	cfg->secrets = s;
	ctx->secrets_cap = cap;
	cfg->iface.private_key = s->private_key;
	for (i = 0; i < cfg->npeers; i++)
		cfg->peers[i].preshared_key = s->preshared_key[i];
	return 0;
}

static int begin_peer(struct parse_ctx *ctx)
{
	struct ferry_config *cfg = ctx->cfg;

	if (cfg->npeers == ctx->peer_cap) {
		size_t cap = ctx->peer_cap ? ctx->peer_cap * 2 : 4;
		struct ferry_config_peer *peers;

		if (cap > FERRY_CONFIG_MAX_PEERS)
			cap = FERRY_CONFIG_MAX_PEERS;
		peers = calloc(cap, sizeof(*peers));
		if (!peers)
			return -ENOMEM;
		if (cfg->npeers)
			memcpy(peers, cfg->peers, cfg->npeers * sizeof(*peers));
		free(cfg->peers);
		cfg->peers = peers;
		ctx->peer_cap = cap;
	}
	if (cfg->npeers == ctx->secrets_cap) {
		size_t cap = ctx->secrets_cap * 2;

		if (secrets_grow(ctx, cap > FERRY_CONFIG_MAX_PEERS ? FERRY_CONFIG_MAX_PEERS : cap))
			return -ENOMEM;
	}
	ctx->peer = &cfg->peers[cfg->npeers++];
	ctx->peer->line = ctx->line;
	ctx->peer->preshared_key = cfg->secrets->preshared_key[cfg->npeers - 1];
	return 0;
}

static bool iface_has_ipv6(const struct ferry_config_interface *iface)
{
	size_t i;

	for (i = 0; i < iface->addresses.n; i++)
		if (iface->addresses.v[i].prefix.family == AF_INET6)
			return true;
	return false;
}

static void end_interface(struct parse_ctx *ctx)
{
	struct ferry_config_interface *iface = &ctx->cfg->iface;
	enum ferry_arq_profile profile = iface->arq.profile;
	enum key_id k;

	if (!ctx->seen[K_PRIVATE_KEY])
		ferry_config_report(ctx, false, ctx->sec_line, SEC_INTERFACE, NULL,
				    "missing PrivateKey, expected %s",
				    ferry_config_keys[K_PRIVATE_KEY].expected);
	if (iface->congestion == FERRY_CC_FIXED && !ctx->seen[K_RATE])
		ferry_config_report(ctx, false, ctx->seen[K_CONGESTION], SEC_INTERFACE,
				    ferry_config_keys[K_CONGESTION].name,
				    "Congestion = fixed needs a Rate, expected %s",
				    ferry_config_keys[K_RATE].expected);
	if (iface->congestion != FERRY_CC_FIXED && ctx->seen[K_RATE])
		ferry_config_report(
		    ctx, false, ctx->seen[K_RATE], SEC_INTERFACE, ferry_config_keys[K_RATE].name,
		    "only allowed with Congestion = fixed (MaxRate caps the others)");
	if (profile != FERRY_ARQ_PROFILE_MANUAL) {
		for (k = K_NODELAY; k <= K_NOCONGESTION; k++)
			if (ctx->seen[k])
				ferry_config_report(
				    ctx, false, ctx->seen[k], SEC_INTERFACE,
				    ferry_config_keys[k].name,
				    "only allowed with Profile = manual (the profile is %s)",
				    ferry_config_profile_name(profile));
		iface->arq = profile_knobs(profile);
	}
	if (ctx->seen[K_MTU] && iface->mtu < FERRY_CONFIG_MTU_MIN_IPV6 && iface_has_ipv6(iface))
		ferry_config_report(ctx, false, ctx->seen[K_MTU], SEC_INTERFACE, "MTU",
				    "%u is too small for the IPv6 Address, expected %d..%d",
				    iface->mtu, FERRY_CONFIG_MTU_MIN_IPV6, FERRY_CONFIG_MTU_MAX);
}

/* Each key's own range keeps every combination valid for the FEC module. */
_Static_assert(FERRY_CONFIG_FEC_DATA_MAX + FERRY_CONFIG_FEC_PARITY_MAX <= FERRY_FEC_MAX_SHARDS,
	       "FecData + FecParity within the code's limit");

static void end_section(struct parse_ctx *ctx)
{
	if (ctx->sec == SEC_INTERFACE)
		end_interface(ctx);
	else if (ctx->sec == SEC_PEER && !ctx->seen[K_PUBLIC_KEY])
		ferry_config_report(ctx, false, ctx->sec_line, SEC_PEER, NULL,
				    "missing PublicKey, expected %s",
				    ferry_config_keys[K_PUBLIC_KEY].expected);
	ctx->sec = SEC_NONE;
	ctx->peer = NULL;
	memset(ctx->seen, 0, sizeof(ctx->seen));
}

/* Mirrors inih's search for the end of a section name or name: stops at one of `chars`
 * or at an inline comment (';' after whitespace). */
static const char *find_chars_or_comment(const char *s, const char *chars)
{
	bool was_space = false;

	while (*s && !strchr(chars, *s) && !(was_space && *s == ';')) {
		was_space =
		    *s == ' ' || *s == '\t' || *s == '\n' || *s == '\v' || *s == '\f' || *s == '\r';
		s++;
	}
	return s;
}

/* A "[Name]" line, start pointing at '['. */
static void section_line(struct parse_ctx *ctx, const char *start)
{
	const char *close = find_chars_or_comment(start + 1, "]");
	char name[FERRY_CONFIG_MAX_LINE + 1];
	const char *rest;
	struct quoted q;
	size_t n;

	end_section(ctx);
	ctx->sec_line = ctx->line;
	if (*close != ']') {
		/* inih keeps the previous section; we skip the keys up to the next header. */
		ferry_config_report(
		    ctx, false, ctx->line, SEC_NONE, NULL,
		    "section header without \"]\", expected \"[Interface]\" or \"[Peer]\"");
		ctx->sec = SEC_IGNORED;
		return;
	}
	n = (size_t)(close - start - 1);
	memcpy(name, start + 1, n);
	name[n] = '\0';
	rest = close + 1 + strspn(close + 1, " \t");
	if (*rest && *rest != ';')
		ferry_config_report(ctx, false, ctx->line, SEC_NONE, NULL,
				    "unexpected text after \"]\", expected a comment or nothing");
	if (strcasecmp(name, "Interface") == 0) {
		if (ctx->have_iface) {
			ferry_config_report(
			    ctx, false, ctx->line, SEC_NONE, NULL,
			    "a second [Interface] section, the first is at line %u, expected one",
			    ctx->cfg->iface.line);
			ctx->sec = SEC_IGNORED;
			return;
		}
		ctx->sec = SEC_INTERFACE;
		begin_interface(ctx);
	} else if (strcasecmp(name, "Peer") == 0) {
		if (ctx->cfg->npeers >= FERRY_CONFIG_MAX_PEERS) {
			ferry_config_report(ctx, false, ctx->line, SEC_NONE, NULL,
					    "more than %d [Peer] sections", FERRY_CONFIG_MAX_PEERS);
			ctx->sec = SEC_IGNORED;
			return;
		}
		if (begin_peer(ctx) != 0) {
			ferry_config_oom(ctx);
			ctx->sec = SEC_IGNORED;
			return;
		}
		ctx->sec = SEC_PEER;
	} else {
		char shown[sizeof(name) + 2];

		snprintf(shown, sizeof(shown), "[%s]", name);
		ferry_config_report(ctx, false, ctx->line, SEC_NONE, NULL,
				    "unknown section %s, expected [Interface] or [Peer]",
				    ferry_config_quote(&q, shown));
		ctx->sec = SEC_IGNORED;
	}
}

/* ---- the reader and handler given to inih ---- */

/* Called by inih after it has fully handled the previous line. */
static void finish_line(struct parse_ctx *ctx)
{
	if (ctx->kind == LINE_KEY && !ctx->handler_called)
		ferry_config_report(
		    ctx, false, ctx->line, SEC_NONE, NULL,
		    "missing \"=\", expected \"Key = Value\", \"[Section]\" or a comment");
	ctx->kind = LINE_BLANK;
	ctx->handler_called = false;
}

static char *reader(char *str, int num, void *stream)
{
	struct parse_ctx *ctx = stream;
	const char *line, *nl, *eol, *start;
	size_t n, indent, limit = FERRY_CONFIG_MAX_LINE;
	char *end, *hash;

	finish_line(ctx);
	if (ctx->pos >= ctx->len || ctx->oom) {
		if (num > 0) /* inih's line buffer, the last time we see it: lines held keys */
			sodium_memzero(str, (size_t)num);
		return NULL;
	}
	line = ctx->text + ctx->pos;
	nl = memchr(line, '\n', ctx->len - ctx->pos);
	eol = nl ? nl : ctx->text + ctx->len;
	ctx->pos = (size_t)(eol - ctx->text) + (nl ? 1 : 0);
	ctx->line++;
	if (eol > line && eol[-1] == '\r')
		eol--;
	n = (size_t)(eol - line);
	if (num < 1)
		return NULL;
	if ((size_t)num - 1 < limit)
		limit = (size_t)num - 1;

	str[0] = '\0';
	if (n > limit) {
		ferry_config_report(ctx, false, ctx->line, SEC_NONE, NULL,
				    "line too long (%zu characters), expected at most %zu", n,
				    limit);
		return str;
	}
	if (memchr(line, '\0', n)) {
		ferry_config_report(ctx, false, ctx->line, SEC_NONE, NULL,
				    "line holds a NUL byte, expected text");
		return str;
	}
	memcpy(str, line, n);
	str[n] = '\0';
	hash = strchr(str, '#');
	if (hash)
		*hash = '\0';

	/* Classify as inih will: BOM, then trim, then comment / section / key. */
	start = str;
	if (ctx->line == 1 && (unsigned char)str[0] == 0xef && (unsigned char)str[1] == 0xbb &&
	    (unsigned char)str[2] == 0xbf)
		start += 3;
	end = str + strlen(str);
	while (end > start && strchr(" \t\n\v\f\r", end[-1]))
		end--;
	indent = strspn(start, " \t\n\v\f\r");
	start += indent;
	if (start >= end || *start == ';') {
		ctx->kind = LINE_BLANK;
		return str;
	}
	/* WireGuard reads an indented line as any other; inih would take it for the
	 * continuation of the previous value, so it never sees the indentation. */
	n = (size_t)(end - start);
	if (indent && ctx->key_line && ctx->key_line == ctx->line - 1 && *start != '[' &&
	    *find_chars_or_comment(start, "=") != '=') {
		ferry_config_report(ctx, false, ctx->line, SEC_NONE, NULL,
				    "indented line without \"=\" after a key line: a value does "
				    "not continue on the next line, expected one \"Key = Value\" "
				    "per line");
		ctx->key_line = ctx->line;
		str[0] = '\0';
		return str;
	}
	memmove(str, start, n);
	str[n] = '\0';
	memcpy(ctx->raw, str, n + 1);
	if (*str == '[') {
		char header[FERRY_CONFIG_MAX_LINE + 1];

		ctx->kind = LINE_SECTION;
		memcpy(header, str, n + 1);
		section_line(ctx, header);
	} else {
		ctx->kind = LINE_KEY;
		ctx->key_line = ctx->line;
		ctx->sep = *find_chars_or_comment(str, "=:");
	}
	return str;
}

static const struct key_desc *find_key(const char *name)
{
	size_t i;

	for (i = 0; i < K_COUNT; i++)
		if (strcasecmp(name, ferry_config_keys[i].name) == 0)
			return &ferry_config_keys[i];
	return NULL;
}

static void unknown_key(struct parse_ctx *ctx, const char *name)
{
	char list[FERRY_CONFIG_MSG_LEN] = "";
	size_t o = 0, i;
	struct quoted q;

	for (i = 0; i < K_COUNT; i++)
		if (ferry_config_keys[i].sec == ctx->sec && o < sizeof(list))
			o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s", o ? ", " : "",
					      ferry_config_keys[i].name);
	ferry_config_report(ctx, false, ctx->line, ctx->sec, NULL,
			    "unknown key %s, expected one of %s", ferry_config_quote(&q, name),
			    list);
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct parse_ctx *ctx = user;
	const struct key_desc *key;
	struct quoted q;

	(void)section; /* ours is tracked by the reader, per [Peer] instance */
	ctx->handler_called = true;
	if (ctx->sec == SEC_IGNORED || ctx->oom)
		return 1;
	if (ctx->sep == ':') {
		ferry_config_report(ctx, false, ctx->line, ctx->sec, NULL,
				    "\":\" between key and value, expected \"Key = Value\"");
		return 1;
	}
	if (name[0] == '\0') {
		ferry_config_report(ctx, false, ctx->line, ctx->sec, NULL,
				    "missing key before \"=\", expected \"Key = Value\"");
		return 1;
	}
	if (ctx->sec == SEC_NONE) {
		ferry_config_report(
		    ctx, false, ctx->line, SEC_NONE, NULL,
		    "key %s outside any section, expected \"[Interface]\" or \"[Peer]\" first",
		    ferry_config_quote(&q, name));
		return 1;
	}
	key = find_key(name);
	if (!key) {
		unknown_key(ctx, name);
		return 1;
	}
	if (key->sec != ctx->sec) {
		ferry_config_report(ctx, false, ctx->line, ctx->sec, NULL,
				    "key %s belongs in [%s], expected one of the [%s] keys",
				    key->name, section_names[key->sec], section_names[ctx->sec]);
		return 1;
	}
	ctx->key = key;
	if (!key->repeatable && ctx->seen[key - ferry_config_keys]) {
		ferry_config_key_error(ctx,
				       "set twice, first at line %u, expected it once per section",
				       ctx->seen[key - ferry_config_keys]);
		return 1;
	}
	if (!ctx->seen[key - ferry_config_keys])
		ctx->seen[key - ferry_config_keys] = ctx->line;
	if (value[0] == '\0') {
		ferry_config_key_error(ctx, "missing value, expected %s", key->expected);
		return 1;
	}
	key->parse(ctx, value);
	return 1;
}

/* ---- entry points ---- */

void ferry_config_free(struct ferry_config *cfg)
{
	size_t i;

	for (i = 0; i < cfg->npeers; i++)
		free(cfg->peers[i].allowed_ips.v);
	if (cfg->peers) {
		sodium_memzero(cfg->peers, cfg->npeers * sizeof(*cfg->peers));
		free(cfg->peers);
	}
	free(cfg->iface.addresses.v);
	ferry_config_free_hooks(&cfg->iface.hooks);
	ferry_secret_free(cfg->secrets); /* wiped */
	sodium_memzero(cfg, sizeof(*cfg));
}

/* Parses text; leaves the messages unsorted so that the caller can add its own. */
static int parse(struct parse_ctx *ctx)
{
	int ret;

	if (secrets_grow(ctx, SECRETS_FIRST_CAP) != 0) {
		ferry_config_oom(ctx);
		return -ENOMEM;
	}
	ret = ini_parse_stream(reader, ctx, handler, ctx);
	sodium_memzero(ctx->raw, sizeof(ctx->raw)); /* the last line: it may hold a key */
	if (ctx->oom)
		return -ENOMEM;
	end_section(ctx);
	ferry_config_check_whole_file(ctx);
	/* Every syntax error inih can find was reported by finish_line(); this is a guard
	 * against a libinih that classifies lines differently. */
	if (ret != 0 && ctx->diag->errors == 0)
		ferry_config_report(ctx, false, ret > 0 ? (unsigned int)ret : 0, SEC_NONE, NULL,
				    "libinih rejected the file");
	if (ctx->oom)
		return -ENOMEM;
	return ctx->diag->errors ? -EINVAL : 0;
}

static void ctx_init(struct parse_ctx *ctx, struct ferry_config *cfg, const char *name,
		     struct ferry_config_diag *diag)
{
	memset(ctx, 0, sizeof(*ctx));
	memset(cfg, 0, sizeof(*cfg));
	diag_reset(diag);
	ctx->cfg = cfg;
	ctx->file = name;
	ctx->diag = diag;
}

int ferry_config_parse_string(struct ferry_config *cfg, const char *name, const char *text,
			      size_t len, struct ferry_config_diag *diag)
{
	struct ferry_config_diag local;
	struct parse_ctx ctx;
	int ret;

	if (!diag)
		diag = &local;
	ctx_init(&ctx, cfg, name, diag);
	ctx.text = text;
	ctx.len = len;
	ret = parse(&ctx);
	diag_finish(&ctx);
	if (ret)
		ferry_config_free(cfg);
	return ret;
}

/* Reads the whole file (at most FERRY_CONFIG_MAX_FILE bytes) into *text, guarded memory
 * (the keys are in it, in base64) to be freed with ferry_secret_free. The buffer grows by
 * copying, each old one wiped as it is freed. */
static int read_file(int fd, char **text, size_t *len)
{
	size_t cap = 4096 - 16, n = 0; /* one page with libsodium's canary */
	char *buf = ferry_secret_alloc(cap), *grown;
	ssize_t got;
	int ret;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		if (n == cap) {
			if (cap > FERRY_CONFIG_MAX_FILE) {
				ret = -EFBIG;
				goto out_free;
			}
			grown = ferry_secret_alloc(cap * 2);
			if (!grown) {
				ret = -ENOMEM;
				goto out_free;
			}
			memcpy(grown, buf, n);
			ferry_secret_free(buf);
			buf = grown;
			cap *= 2;
		}
		got = read(fd, buf + n, cap - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			ret = -errno;
			goto out_free;
		}
		if (got == 0)
			break;
		n += (size_t)got;
	}
	if (n > FERRY_CONFIG_MAX_FILE) {
		ret = -EFBIG;
		goto out_free;
	}
	*text = buf;
	*len = n;
	return 0;
out_free:
	ferry_secret_free(buf);
	return ret;
}

int ferry_config_load(struct ferry_config *cfg, const char *path, struct ferry_config_diag *diag)
{
	return ferry_config_load_flags(cfg, path, 0, diag);
}

int ferry_config_load_flags(struct ferry_config *cfg, const char *path, unsigned int flags,
			    struct ferry_config_diag *diag)
{
	struct ferry_config_diag local;
	struct parse_ctx ctx;
	char *text = NULL, errbuf[128];
	struct stat st;
	size_t len = 0;
	bool parsed;
	int fd, ret;

	if (!diag)
		diag = &local;
	ctx_init(&ctx, cfg, path, diag);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		ret = -errno;
		ferry_config_report(&ctx, false, 0, SEC_NONE, NULL, "cannot open: %s",
				    strerror_r(-ret, errbuf, sizeof(errbuf)));
		goto out;
	}
	if (fstat(fd, &st) != 0) {
		ret = -errno;
		ferry_config_report(&ctx, false, 0, SEC_NONE, NULL, "cannot stat: %s",
				    strerror_r(-ret, errbuf, sizeof(errbuf)));
		goto out_close;
	}
	if (S_ISDIR(st.st_mode)) {
		ret = -EISDIR;
		ferry_config_report(&ctx, false, 0, SEC_NONE, NULL,
				    "is a directory, expected a file");
		goto out_close;
	}
	ret = read_file(fd, &text, &len);
	if (ret == -EFBIG) {
		ferry_config_report(&ctx, false, 0, SEC_NONE, NULL,
				    "file too large, expected at most %d bytes",
				    FERRY_CONFIG_MAX_FILE);
		goto out_close;
	}
	if (ret) {
		ferry_config_report(&ctx, false, 0, SEC_NONE, NULL, "cannot read: %s",
				    strerror_r(-ret, errbuf, sizeof(errbuf)));
		goto out_close;
	}
	ctx.text = text;
	ctx.len = len;
	ret = parse(&ctx);
	parsed = ret == 0;
	/* Keys others may read are refused, as a key in a world-readable file is no secret;
	 * --insecure-key-file makes it the warning it is in wg-quick. */
	if (ctx.holds_keys && S_ISREG(st.st_mode) && (st.st_mode & 0077)) {
		bool insecure = flags & FERRY_CONFIG_INSECURE_KEY_FILE;

		ferry_config_report(&ctx, insecure, 0, SEC_NONE, NULL,
				    "holds secret keys but group or others may access it (mode "
				    "%04o), expected mode 0600: chmod 600 %s%s",
				    (unsigned int)(st.st_mode & 07777), path,
				    insecure ? "" : " (or --insecure-key-file)");
		if (!insecure && ret == 0)
			ret = -EINVAL;
	}
	/* The hooks run as root: a file others may change is a root shell for them. */
	if (parsed && ctx.cfg->iface.hooks.first_line &&
	    ((st.st_mode & 0022) || (st.st_uid != 0 && st.st_uid != geteuid()))) {
		ferry_config_report(&ctx, false, ctx.cfg->iface.hooks.first_line, SEC_INTERFACE,
				    NULL,
				    "hooks run as root, but others may change this file (owner uid "
				    "%u, mode %04o), expected it owned by root or by you and "
				    "writable by its owner only",
				    (unsigned int)st.st_uid, (unsigned int)(st.st_mode & 07777));
		ret = -EINVAL;
	}
	ferry_secret_free(text); /* wiped */
out_close:
	close(fd);
out:
	diag_finish(&ctx);
	if (ret)
		ferry_config_free(cfg);
	return ret;
}
