/* SPDX-License-Identifier: MIT */
/*
 * Private to the configuration reader: the parser state shared by config.c (the line
 * reader, sections, messages), config_check.c (checks across sections) and config_keys.c
 * (the keys and the grammar of their values). Nothing outside cli/config*.c includes this.
 */
#ifndef FERRY_CLI_CONFIG_INTERNAL_H
#define FERRY_CLI_CONFIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "cli/config.h"

enum section {
	SEC_NONE, /* before the first header */
	SEC_INTERFACE,
	SEC_PEER,
	SEC_IGNORED, /* after a bad header: its keys are skipped, the header was reported */
};

enum line_kind {
	LINE_BLANK, /* empty, comment, or replaced after an error */
	LINE_SECTION,
	LINE_KEY,
};

enum key_id {
	K_PRIVATE_KEY,
	K_LISTEN_PORT,
	K_ADDRESS,
	K_DNS,
	K_MTU,
	K_PROFILE,
	K_NODELAY,
	K_INTERVAL,
	K_RESEND,
	K_NOCONGESTION,
	K_FEC_DATA,
	K_FEC_PARITY,
	K_FWMARK,
	K_CONGESTION,
	K_RATE,
	K_MAX_RATE,
	K_EGRESS,
	K_EGRESS_TRANSPARENT,
	K_KILL_SWITCH,
	K_FORWARD,
	K_TABLE,
	K_USER,
	K_PRE_UP,
	K_POST_UP,
	K_PRE_DOWN,
	K_POST_DOWN,
	K_SAVE_CONFIG,
	K_PUBLIC_KEY,
	K_PRESHARED_KEY,
	K_ENDPOINT,
	K_ALLOWED_IPS,
	K_KEEPALIVE,
	K_COUNT,
};

struct parse_ctx;

struct key_desc {
	const char *name;
	enum section sec;
	bool repeatable;
	bool secret; /* never echo the value */
	void (*parse)(struct parse_ctx *ctx, const char *value);
	const char *expected;
};

struct parse_ctx {
	const char *file;
	const char *text;
	size_t len;
	size_t pos;
	unsigned int line;

	/* What the reader made of the current line. */
	enum line_kind kind;
	char sep; /* '=' or ':' on a key line */
	bool handler_called;
	unsigned int key_line;		     /* of the last key line */
	char raw[FERRY_CONFIG_MAX_LINE + 1]; /* the line as inih got it, before it cuts at " ;" */

	enum section sec;
	unsigned int sec_line;
	struct ferry_config_peer *peer; /* in SEC_PEER */
	const struct key_desc *key;	/* being parsed */
	unsigned int seen[K_COUNT];	/* line each key was set on in this section */
	bool have_iface;
	size_t peer_cap;
	size_t secrets_cap; /* peers' keys cfg->secrets has room for */
	bool holds_keys;
	/* Lines of the DNS servers and search domains kept, for "already listed at line". */
	unsigned int dns_server_line[FERRY_CONFIG_MAX_DNS_SERVERS];
	unsigned int dns_search_line[FERRY_CONFIG_MAX_DNS_SEARCH];
	bool oom;

	struct ferry_config *cfg;
	struct ferry_config_diag *diag;
	unsigned int dropped;
};

/* A value quoted for a message: non-printable bytes escaped, long values shortened. */
struct quoted {
	char s[80];
};

/* Quotes s into q; returns q->s. */
const char *ferry_config_quote(struct quoted *q, const char *s);

/* Adds one message "FILE[:LINE]: [warning: ][[Section] [Key]: ]text" to ctx's diag (or
 * counts it once the diag is full). sec SEC_NONE and key NULL leave those parts out. */
void ferry_config_report(struct parse_ctx *ctx, bool warning, unsigned int line, enum section sec,
			 const char *key, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* An error about the value of the key being parsed (ctx->key), on the current line. */
void ferry_config_key_error(struct parse_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Reports "out of memory" once and makes the parse fail with -ENOMEM. */
void ferry_config_oom(struct parse_ctx *ctx);

/* The checks across sections, once the whole file is read (config_check.c). */
void ferry_config_check_whole_file(struct parse_ctx *ctx);

/* The value parsers shared by config_keys.c and config_wgquick.c: each reports what is
 * wrong with the value and returns false, or stores it in *out and returns true. */
bool ferry_config_number(struct parse_ctx *ctx, const char *v, unsigned long min, unsigned long max,
			 unsigned long *out);
bool ferry_config_bool(struct parse_ctx *ctx, const char *v, bool *out);

/* Copies the next entry of the comma-separated value at *pos into buf (its value line
 * fits), without surrounding blanks, and moves *pos past it. Returns false after the last. */
bool ferry_config_next_entry(const char **pos, char buf[FERRY_CONFIG_MAX_LINE + 1]);

/* wg-quick's keys (config_wgquick.c). */
void ferry_config_parse_dns(struct parse_ctx *ctx, const char *v);
void ferry_config_parse_table(struct parse_ctx *ctx, const char *v);
void ferry_config_parse_pre_up(struct parse_ctx *ctx, const char *v);
void ferry_config_parse_post_up(struct parse_ctx *ctx, const char *v);
void ferry_config_parse_pre_down(struct parse_ctx *ctx, const char *v);
void ferry_config_parse_post_down(struct parse_ctx *ctx, const char *v);
void ferry_config_parse_save_config(struct parse_ctx *ctx, const char *v);
void ferry_config_free_hooks(struct ferry_config_hooks *hooks);

/* One entry per key, indexed by enum key_id (config_keys.c). */
extern const struct key_desc ferry_config_keys[K_COUNT];

#endif
