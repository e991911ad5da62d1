// SPDX-License-Identifier: MIT
/*
 * The keys of wg-quick's that ferry reads: DNS, Table, the hooks (PreUp, PostUp, PreDown,
 * PostDown) and SaveConfig. wg-quick is a shell script around wg(8) with its own keys in
 * [Interface]; a file written for it comes up under ferry as it is, apart from the keys
 * ferry adds. What ferry does with each is in docs/configuration.md.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "cli/config_internal.h"

/* ---- DNS servers and search domains ---- */

/* A search domain, its trailing dot dropped: dot-separated labels of 1..63 letters, digits
 * and '-', none beginning or ending with '-', 1..253 characters in all. A last label of
 * digits only is refused as well: no top-level domain is all-numeric (RFC 3696 section 2),
 * so "10.0.0.300" is a mistyped server, not a name. */
static bool is_domain(const char *name)
{
	size_t len = strlen(name), label = 0, i;
	bool numeric = true;

	if (len == 0 || len > FERRY_CONFIG_MAX_HOST)
		return false;
	for (i = 0; i <= len; i++) {
		char c = name[i];

		if (c == '.' || c == '\0') {
			if (label == 0 || label > FERRY_CONFIG_MAX_LABEL || name[i - 1] == '-' ||
			    name[i - label] == '-')
				return false;
			label = 0;
			if (c == '.')
				numeric = true;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-'))
			return false;
		if (c < '0' || c > '9')
			numeric = false;
		label++;
	}
	return !numeric;
}

/* Appends a server (len bytes of address) unless it is listed already or the list is full. */
static void dns_add_server(struct parse_ctx *ctx, const char *entry, int family, const void *addr,
			   size_t len)
{
	struct ferry_config_dns *dns = &ctx->cfg->iface.dns;
	char text[INET6_ADDRSTRLEN];
	uint8_t bytes[16] = {0};
	struct quoted q;
	unsigned int i;

	memcpy(bytes, addr, len);
	for (i = 0; i < dns->nservers; i++) {
		if (dns->servers[i].family == family &&
		    memcmp(dns->servers[i].addr, bytes, sizeof(bytes)) == 0) {
			inet_ntop(family, addr, text, sizeof(text));
			ferry_config_key_error(ctx, "%s is already listed at line %u", text,
					       ctx->dns_server_line[i]);
			return;
		}
	}
	if (dns->nservers >= FERRY_CONFIG_MAX_DNS_SERVERS) {
		ferry_config_key_error(ctx,
				       "%s: more than %d servers, glibc's resolver reads no more",
				       ferry_config_quote(&q, entry), FERRY_CONFIG_MAX_DNS_SERVERS);
		return;
	}
	ctx->dns_server_line[dns->nservers] = ctx->line;
	dns->servers[dns->nservers].family = (uint8_t)family;
	memcpy(dns->servers[dns->nservers++].addr, bytes, sizeof(bytes));
}

/* Appends a search domain (any entry that is not an address, as in wg-quick) unless it is
 * not a domain name, is listed already (in any case) or the list is full. */
static void dns_add_search(struct parse_ctx *ctx, const char *entry)
{
	struct ferry_config_dns *dns = &ctx->cfg->iface.dns;
	char name[FERRY_CONFIG_MAX_LINE + 1];
	size_t len = strlen(entry);
	struct quoted q;
	unsigned int i;

	memcpy(name, entry, len + 1);
	if (len && name[len - 1] == '.')
		name[--len] = '\0';
	if (!is_domain(name)) {
		ferry_config_key_error(ctx,
				       "%s is neither an IP address nor a domain name, expected %s",
				       ferry_config_quote(&q, entry), ctx->key->expected);
		return;
	}
	for (i = 0; i < dns->nsearch; i++) {
		if (strcasecmp(dns->search[i], name) == 0) {
			ferry_config_key_error(ctx, "%s is already listed at line %u", name,
					       ctx->dns_search_line[i]);
			return;
		}
	}
	if (dns->nsearch >= FERRY_CONFIG_MAX_DNS_SEARCH) {
		ferry_config_key_error(ctx, "%s: more than %d search domains",
				       ferry_config_quote(&q, entry), FERRY_CONFIG_MAX_DNS_SEARCH);
		return;
	}
	ctx->dns_search_line[dns->nsearch] = ctx->line;
	memcpy(dns->search[dns->nsearch++], name, len + 1);
}

/* "server, domain, ...", wg-quick's DNS: an IPv4 or IPv6 literal is a server, anything
 * else a search domain; repeated lines add up. */
void ferry_config_parse_dns(struct parse_ctx *ctx, const char *v)
{
	struct ferry_config_dns *dns = &ctx->cfg->iface.dns;
	char buf[FERRY_CONFIG_MAX_LINE + 1];
	const char *pos = v;

	if (!dns->line)
		dns->line = ctx->line;
	while (ferry_config_next_entry(&pos, buf)) {
		struct in6_addr a6;
		struct in_addr a4;

		if (!buf[0])
			ferry_config_key_error(ctx, "empty entry in the list, expected %s",
					       ctx->key->expected);
		else if (inet_pton(AF_INET, buf, &a4) == 1)
			dns_add_server(ctx, buf, AF_INET, &a4, sizeof(a4));
		else if (inet_pton(AF_INET6, buf, &a6) == 1)
			dns_add_server(ctx, buf, AF_INET6, &a6, sizeof(a6));
		else
			dns_add_search(ctx, buf);
	}
}

/* ---- Table ---- */

/* auto, off, main or a table number, as wg-quick takes them (it also looks names up in
 * /etc/iproute2/rt_tables; ferry does not). */
void ferry_config_parse_table(struct parse_ctx *ctx, const char *v)
{
	struct ferry_config_interface *iface = &ctx->cfg->iface;
	unsigned long n;
	struct quoted q;

	iface->table_line = ctx->line;
	if (strcasecmp(v, "auto") == 0) {
		iface->table = FERRY_TABLE_AUTO;
	} else if (strcasecmp(v, "off") == 0) {
		iface->table = FERRY_TABLE_OFF;
	} else if (strcasecmp(v, "main") == 0) {
		iface->table = FERRY_TABLE_ID;
		iface->table_id = FERRY_TABLE_MAIN;
	} else if (strspn(v, "0123456789") != strlen(v)) {
		ferry_config_key_error(ctx,
				       "%s is a table name, which ferry does not look up in "
				       "/etc/iproute2/rt_tables, expected %s",
				       ferry_config_quote(&q, v), ctx->key->expected);
	} else if (ferry_config_number(ctx, v, 1, UINT32_MAX, &n)) {
		iface->table = FERRY_TABLE_ID;
		iface->table_id = (uint32_t)n;
	}
}

/* ---- hooks ---- */

/* The command of the current key line, from the line as inih got it: inih cuts a value at
 * " ;" (its inline comment), which in a shell command separates two commands. */
static const char *whole_value(const struct parse_ctx *ctx, const char *v)
{
	const char *eq = strchr(ctx->raw, '=');

	if (!eq)
		return v;
	eq++;
	return eq + strspn(eq, " \t");
}

static void add_hook(struct parse_ctx *ctx, enum ferry_config_hook hook, const char *v)
{
	struct ferry_config_hooks *hooks = &ctx->cfg->iface.hooks;
	char *cmd;

	if (hooks->n[hook] >= FERRY_CONFIG_MAX_HOOKS) {
		ferry_config_key_error(ctx, "more than %d commands, expected them in a script",
				       FERRY_CONFIG_MAX_HOOKS);
		return;
	}
	cmd = strdup(whole_value(ctx, v));
	if (!cmd) {
		ferry_config_oom(ctx);
		return;
	}
	if (!hooks->first_line)
		hooks->first_line = ctx->line;
	hooks->cmd[hook][hooks->n[hook]++] = cmd;
}

void ferry_config_parse_pre_up(struct parse_ctx *ctx, const char *v)
{
	add_hook(ctx, FERRY_HOOK_PRE_UP, v);
}

void ferry_config_parse_post_up(struct parse_ctx *ctx, const char *v)
{
	add_hook(ctx, FERRY_HOOK_POST_UP, v);
}

void ferry_config_parse_pre_down(struct parse_ctx *ctx, const char *v)
{
	add_hook(ctx, FERRY_HOOK_PRE_DOWN, v);
}

void ferry_config_parse_post_down(struct parse_ctx *ctx, const char *v)
{
	add_hook(ctx, FERRY_HOOK_POST_DOWN, v);
}

void ferry_config_free_hooks(struct ferry_config_hooks *hooks)
{
	unsigned int h, i;

	for (h = 0; h < FERRY_HOOK_COUNT; h++)
		for (i = 0; i < hooks->n[h]; i++)
			free(hooks->cmd[h][i]);
	memset(hooks, 0, sizeof(*hooks));
}

/* ---- SaveConfig ---- */

/* wg-quick writes the running state back into the file at down; ferry never writes its
 * configuration, so only false (wg-quick's default) is accepted. */
void ferry_config_parse_save_config(struct parse_ctx *ctx, const char *v)
{
	bool save = false;

	if (ferry_config_bool(ctx, v, &save) && save)
		ferry_config_key_error(ctx,
				       "a wg-quick key ferry handles as false: ferry never writes "
				       "its configuration file, expected false or no SaveConfig");
}
