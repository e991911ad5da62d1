/* SPDX-License-Identifier: MIT */
/*
 * The configuration file: an INI file in the manner of WireGuard's, one [Interface]
 * section and any number of [Peer] sections, read into plain structs.
 *
 * Reading never stops at the first problem: every bad line is reported, each as one
 * ready-to-print message "FILE:LINE: [Section] Key: problem, expected ..." collected in a
 * struct ferry_config_diag (bounded; sorted by line). Warnings (a key file others can
 * read, an AllowedIPs prefix with host bits) go into the same list, marked as such, and do
 * not fail the load. Nothing here prints. docs/configuration.md describes every key.
 *
 * The secret keys (PrivateKey, every PresharedKey) are kept in guarded, locked memory of
 * their own (struct ferry_config_secrets, transport/secret.h), as is the file's text while
 * it is parsed; the key fields point into it.
 *
 * Limits are named below; every list in the result is bounded by one of them.
 */
#ifndef FERRY_CLI_CONFIG_H
#define FERRY_CLI_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cli/key.h"
#include "stack/policy.h"
#include "transport/addr.h"
#include "transport/arq.h"
#include "transport/cc.h"
#include "transport/fec.h"

enum {
	FERRY_CONFIG_MAX_LINE = 199,	     /* characters per line, without the newline */
	FERRY_CONFIG_MAX_FILE = 1024 * 1024, /* bytes per file */
	FERRY_CONFIG_MAX_PEERS = 1024,	     /* [Peer] sections per file */
	FERRY_CONFIG_MAX_PREFIXES = 16384,   /* entries per Address or AllowedIPs list */
	FERRY_CONFIG_MAX_HOST = 253,	     /* characters of an Endpoint host or DNS domain */
	FERRY_CONFIG_MAX_LABEL = 63,	     /* characters of one label of such a name */
	FERRY_CONFIG_MAX_DNS_SERVERS = 3,    /* glibc's resolver reads no more (MAXNS) */
	FERRY_CONFIG_MAX_DNS_SEARCH = 6,     /* search domains, resolv.conf's classic limit */
	FERRY_CONFIG_MAX_HOOKS = 16,	     /* commands per hook (PreUp, PostUp, ...) */
	FERRY_CONFIG_MAX_USER = 32,	     /* characters of a User name (utmp's limit) */
	FERRY_TABLE_MAIN = 254,		     /* the kernel's main routing table */
	FERRY_CONFIG_MAX_MSGS = 50,	     /* messages kept in a diag, the last a note */
	FERRY_CONFIG_MSG_LEN = 256,	     /* bytes per message, NUL included */
	FERRY_CONFIG_DEFAULT_MTU = 1400,     /* TUN MTU when MTU is not given */
	FERRY_CONFIG_MTU_MIN = 576,
	FERRY_CONFIG_MTU_MIN_IPV6 = 1280, /* RFC 8200: any link carrying IPv6 */
	FERRY_CONFIG_MTU_MAX = 65535,
	FERRY_CONFIG_INTERVAL_MIN = 1, /* ms, Profile = manual */
	FERRY_CONFIG_INTERVAL_MAX = 5000,
	FERRY_CONFIG_RESEND_MAX = 100,
	FERRY_CONFIG_DEFAULT_FEC_DATA = 10,
	FERRY_CONFIG_DEFAULT_FEC_PARITY = 3,
	FERRY_CONFIG_FEC_DATA_MAX = FERRY_FEC_MAX_DATA,	    /* the FEC module's limits */
	FERRY_CONFIG_FEC_PARITY_MAX = FERRY_FEC_MAX_PARITY, /* (transport/fec.h) */
};

/* Rate and MaxRate, bits per second. */
#define FERRY_CONFIG_RATE_MIN 1000000ULL
#define FERRY_CONFIG_RATE_MAX 100000000000ULL

/* The ARQ tuning in effect. Profile names the KCP presets of transport/arq.h (normal,
 * fast, fast2 -- the default -- fast3) or manual; for a preset the four values are the
 * ARQ's own for it, for manual the file's (keys left out take fast2's values). */
struct ferry_config_arq {
	enum ferry_arq_profile profile;
	bool nodelay;
	unsigned int interval_ms;
	unsigned int resend;
	bool nocongestion;
};

/* A prefix of the file, with the line it came from (for messages about it). */
struct ferry_config_prefix {
	struct ferry_prefix prefix;
	unsigned int line;
};

struct ferry_prefix_list {
	struct ferry_config_prefix *v;
	size_t n;
	size_t cap;
};

struct ferry_config_endpoint {
	bool set;
	char host[FERRY_CONFIG_MAX_HOST + 1]; /* a name or an address literal, no brackets */
	uint16_t port;
};

/* The DNS key: servers and search domains, each list in file order. */
struct ferry_config_dns {
	unsigned int nservers;
	struct {
		uint8_t family;	  /* AF_INET or AF_INET6 */
		uint8_t addr[16]; /* network order; IPv4 in the first 4 bytes */
	} servers[FERRY_CONFIG_MAX_DNS_SERVERS];
	unsigned int nsearch;
	char search[FERRY_CONFIG_MAX_DNS_SEARCH][FERRY_CONFIG_MAX_HOST + 1]; /* no trailing dot */
	unsigned int line; /* of the first DNS line; 0: no DNS key */
};

/* wg-quick's Table: where the routes of AllowedIPs go. */
enum ferry_config_table {
	FERRY_TABLE_AUTO, /* the main table; a /0 turns on full-device mode */
	FERRY_TABLE_OFF,  /* no routes at all: the hooks or the administrator add them */
	FERRY_TABLE_ID,	  /* every prefix, /0 included, in table table_id, and no rules */
};

/* wg-quick's hooks, run by bash with %i replaced by the interface's name. */
enum ferry_config_hook {
	FERRY_HOOK_PRE_UP,    /* before the TUN exists; a failure stops ferry up */
	FERRY_HOOK_POST_UP,   /* once routes, rules and DNS are in place; likewise */
	FERRY_HOOK_PRE_DOWN,  /* before any of it is taken down */
	FERRY_HOOK_POST_DOWN, /* after all of it is taken down */
	FERRY_HOOK_COUNT,
};

struct ferry_config_hooks {
	char *cmd[FERRY_HOOK_COUNT][FERRY_CONFIG_MAX_HOOKS]; /* as written, %i unexpanded */
	unsigned int n[FERRY_HOOK_COUNT];
	unsigned int first_line; /* of the first hook in the file; 0: none */
};

struct ferry_config_interface {
	unsigned int line;		    /* of the [Interface] header */
	uint8_t *private_key;		    /* FERRY_KEY_LEN bytes in the config's secrets */
	uint8_t public_key[FERRY_KEY_LEN];  /* derived from private_key */
	uint16_t listen_port;		    /* 0: any free port */
	struct ferry_prefix_list addresses; /* host bits kept: 10.0.0.2/24 */
	unsigned int mtu;
	struct ferry_config_arq arq;
	unsigned int fec_data;
	unsigned int fec_parity;       /* 0: FEC off */
	uint32_t fwmark;	       /* SO_MARK of every socket ferry opens; 0: none */
	enum ferry_cc_mode congestion; /* each peer link's controller (transport/cc.h) */
	uint64_t rate;		       /* Congestion = fixed: bits per second */
	uint64_t max_rate;	       /* ceiling in every mode, bits per second; 0: none */
	/* What clients of this end may reach through it (Egress lines in file order, then
	 * the built-in denies, then allow). */
	struct ferry_policy egress;
	bool egress_transparent; /* connect from the application's own source address */
	struct ferry_config_dns dns;
	bool kill_switch; /* full-device mode: nothing but the tunnel leaves while it runs */
	bool forward;	  /* a site-to-site gateway: IP forwarding on while up */
	unsigned int kill_switch_line;
	enum ferry_config_table table;
	uint32_t table_id;	 /* FERRY_TABLE_ID: 1..0xffffffff (main is 254) */
	unsigned int table_line; /* 0: Table not given */
	struct ferry_config_hooks hooks;
	/* User: who ferry runs as once it is up (cli/daemon/privilege.c), a name or a number
	 * as written, resolved at start; empty: as started */
	char user[FERRY_CONFIG_MAX_USER + 1];
	unsigned int user_line; /* 0: User not given */
};

struct ferry_config_peer {
	unsigned int line; /* of its [Peer] header */
	uint8_t public_key[FERRY_KEY_LEN];
	bool has_preshared_key;
	uint8_t *preshared_key; /* FERRY_KEY_LEN bytes in the config's secrets, zero if unset */
	struct ferry_config_endpoint endpoint;
	struct ferry_prefix_list allowed_ips; /* host bits cleared */
	uint16_t persistent_keepalive;	      /* seconds, 0: off */
};

/* The file's secret keys, in guarded memory: one allocation, one page for up to 126 peers,
 * grown (moved) past that: nine pages for FERRY_CONFIG_MAX_PEERS. */
struct ferry_config_secrets {
	uint8_t private_key[FERRY_KEY_LEN];
	uint8_t preshared_key[][FERRY_KEY_LEN]; /* one per peer it has room for */
};

struct ferry_config {
	struct ferry_config_interface iface;
	struct ferry_config_peer *peers;
	size_t npeers;
	struct ferry_config_secrets *secrets; /* set by a load; NULL after ferry_config_free */
};

struct ferry_config_msg {
	unsigned int line; /* 0 for the whole file */
	bool warning;
	char text[FERRY_CONFIG_MSG_LEN];
};

struct ferry_config_diag {
	unsigned int errors;   /* all errors found, also those not kept */
	unsigned int warnings; /* likewise */
	unsigned int count;    /* messages kept in msg[] */
	struct ferry_config_msg msg[FERRY_CONFIG_MAX_MSGS];
};

/* Reads the file at path into cfg. diag (may be NULL) receives every message; its text
 * names the file as `path` was given. Returns 0 if there were no errors (warnings
 * allowed), -EINVAL if there were (cfg is then empty), -EFBIG for a file over
 * FERRY_CONFIG_MAX_FILE, or the negative errno of open/read (-ENOENT, -EACCES, -EISDIR...),
 * with a message in diag in every case. cfg is overwritten (not freed) first; free it with
 * ferry_config_free() whatever the result. */
int ferry_config_load(struct ferry_config *cfg, const char *path, struct ferry_config_diag *diag);

/* What ferry_config_load_flags may be asked to allow. */
enum {
	/* secret keys in a file group or others may read: a warning, not an error */
	FERRY_CONFIG_INSECURE_KEY_FILE = 1,
};

/* ferry_config_load with flags (0: as ferry_config_load). */
int ferry_config_load_flags(struct ferry_config *cfg, const char *path, unsigned int flags,
			    struct ferry_config_diag *diag);

/* Same as ferry_config_load() on len bytes of text (any bytes: NULs are reported), with
 * `name` standing for the file name in messages. No permission check. Returns 0, -EINVAL
 * or -ENOMEM. */
int ferry_config_parse_string(struct ferry_config *cfg, const char *name, const char *text,
			      size_t len, struct ferry_config_diag *diag);

/* Releases what cfg holds and wipes its keys (its secrets are wiped and unmapped); cfg is
 * left empty. Safe twice. */
void ferry_config_free(struct ferry_config *cfg);

/* The profile's name as the file spells it ("fast2"); "?" for an unknown value. */
const char *ferry_config_profile_name(enum ferry_arq_profile profile);
#endif
