/* SPDX-License-Identifier: MIT */
/*
 * The daemon's own structures, shared by its files and by nobody else:
 *   daemon.c   the owner: start and teardown, the loop's timers and end of turn, egress's
 *              descriptors, signals
 *   device.c   the TUN device: creation, MTU, addresses, routes, queue length; reading
 *              it in batches and writing to it
 *   fulldev.c  full-device mode: ferry's routing table, its rules, the sysctl it needs
 *   dns.c      the DNS servers of the configuration in /etc/resolv.conf while up
 *   net.c      the link's UDP sockets: receiving in batches, sending the links' batches
 *   peers.c    the peers: their links, endpoints, AllowedIPs routing, link callbacks
 *   control.c  the control socket: status, down, join
 *   control_client.c  its client half: where the sockets are, one request
 *   status.c   the counters as text (log, ferry status) and JSON (ferry status --json)
 *   privilege.c  at the start: not dumpable; once up: the capabilities still needed,
 *              User, the seccomp filter
 */
#ifndef FERRY_CLI_DAEMON_INTERNAL_H
#define FERRY_CLI_DAEMON_INTERNAL_H

#include <net/if.h>
#include <stdbool.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/un.h>
#include <stddef.h>
#include <stdint.h>

#include "cli/config.h"
#include "cli/daemon/daemon.h"
#include "cli/loop.h"
#include "stack/bridge.h"
#include "stack/egress.h"
#include "stack/stack.h"
#include "transport/link.h"
#include "transport/pool.h"
#include "transport/udp.h"
#include "tun/netlink.h"
#include "tun/tun.h"

enum {
	FERRY_DAEMON_TUN_BATCH = 256, /* packets read from the TUN per turn at most */
	FERRY_DAEMON_UDP_ROUNDS = 4,  /* recvmmsg batches per turn at most */
	FERRY_DAEMON_TUN_QLEN = 4096, /* the TUN's transmit queue (the kernel's: 500) */
	/* a received datagram: the largest message of a peer at any path MTU (IPv4's) */
	FERRY_DAEMON_UDP_BUF = FERRY_WIRE_MTU_MAX - FERRY_WIRE_IPV4_HDR - FERRY_WIRE_UDP_HDR,
	FERRY_DAEMON_CONTROL_CLIENTS = 64, /* control connections at once (joined commands too) */
	FERRY_DAEMON_SAMPLE_MS = 1000,	   /* rates are measured over this */
};

/* Full-device mode (fulldev.c): the table and mark, the rules' priorities (the first
 * suppresses the main table's default, the next sends the rest into the table) and the
 * protocol number that marks ferry's rules as its own. */
#define FERRY_FULLDEV_TABLE	 52820u
#define FERRY_FULLDEV_PRIORITY	 32764u
#define FERRY_FULLDEV_RULE_PROTO 77
#define FERRY_FULLDEV_MAIN	 254u		     /* RT_TABLE_MAIN */
#define FERRY_FULLDEV_SCRIPT_MAX ((size_t)64 * 1024) /* bytes of the nftables script */

/* Site-to-site mode (site.c): the mark of replies to transparent egress sockets, their
 * table and rule priority. */
#define FERRY_SITE_MARK	    0xce55u
#define FERRY_SITE_TABLE    52821u
#define FERRY_SITE_PRIORITY 32763u

struct ferry_daemon;

/* What site.c added, to take away again. */
struct ferry_daemon_site {
	unsigned int nrules;
	struct ferry_nl_rule rules[2];
	bool nft;
	char nft_table[32]; /* "ferry-NAME-site" */
};

/* Sysctls changed while up (sysctl.c), with the values to put back. */
#define FERRY_DAEMON_SYSCTL_PATH 128
enum {
	FERRY_DAEMON_SYSCTLS = 4
};
struct ferry_daemon_sysctl {
	char path[FERRY_DAEMON_SYSCTL_PATH];
	int old;
};
struct ferry_daemon_sysctls {
	unsigned int n;
	struct ferry_daemon_sysctl v[FERRY_DAEMON_SYSCTLS];
};

/* What full-device mode added, to take away again. */
struct ferry_daemon_fulldev {
	bool on;	     /* a peer's AllowedIPs hold a /0 */
	uint32_t table;	     /* the table, and the mark of ferry's own sockets */
	unsigned int nrules; /* rules added, in order */
	struct ferry_nl_rule rules[4];
	bool nft;	    /* its nftables table exists */
	char nft_table[24]; /* "ferry-NAME" */
};

/* What dns.c changed in the resolver's file, to put back. */
struct ferry_daemon_dns {
	bool set;    /* resolv.conf holds ferry's servers */
	bool absent; /* there was none before: it is removed after */
	char *saved; /* its content before */
	size_t saved_len;
	char backup_path[128]; /* the same, on disk, for a start after a kill */
};

/* One peer: its secure link, its bridge peer, its AllowedIPs, its rates. */
struct ferry_daemon_peer {
	struct ferry_daemon *d;
	const struct ferry_config_peer *cfg;
	struct ferry_link link;
	struct ferry_bridge_peer *bp;
	char key[12]; /* the first characters of its public key, for the log */
	uint64_t last_handshake_ms;
	/* rates, bytes per second over the last sample */
	uint64_t sample_tx, sample_rx;
	uint64_t rate_tx, rate_rx;
};

/* A route: the peer whose AllowedIPs hold the prefix. Sorted longest first. */
struct ferry_daemon_route {
	struct ferry_prefix prefix;
	struct ferry_daemon_peer *peer;
};

/* A descriptor egress asked to watch. */
struct ferry_daemon_watch {
	struct ferry_io io;
	struct ferry_daemon *d;
	uint64_t cookie;
};

struct ferry_daemon_client {
	struct ferry_io io;
	struct ferry_daemon *d;
	char req[64];
	size_t len;
	bool joined; /* a ferry exec that joined the namespace: open while its command runs */
};

/* ferry exec's command: its user (exec.c). */
struct ferry_exec_user {
	bool set; /* false: as ferry runs */
	uid_t uid;
	gid_t gid;
	char name[64];
	char home[256];
};

/* ferry exec (exec.c): the namespace, the command, the commands that joined. */
struct ferry_daemon_exec {
	int ns_fd; /* the namespace; -1: ferry up */
	struct ferry_exec_user user;
	char resolv[160]; /* the namespace's resolv.conf; empty: none */
	pid_t pid;
	struct ferry_io io; /* its pidfd */
	bool running;
	int status;	      /* its exit status, once ended */
	unsigned int signals; /* stopping signals received */
	unsigned int joined;  /* connections of joined commands */
};

/* How far ferry hardens itself once up (privilege.c): FERRY_HARDENING in the environment. */
enum ferry_hardening {
	FERRY_HARDENING_ON,	  /* capabilities dropped; the seccomp filter kills */
	FERRY_HARDENING_LOG,	  /* likewise, but the filter only logs what it would kill */
	FERRY_HARDENING_NOFILTER, /* capabilities dropped, no filter */
	FERRY_HARDENING_OFF,	  /* nothing changes */
};

/* What the running daemon or its teardown still needs a capability for (privilege.c). */
enum ferry_privilege_need {
	FERRY_NEED_MARK,	/* SO_MARK on egress sockets opened while up: NET_ADMIN */
	FERRY_NEED_TRANSPARENT, /* IP_TRANSPARENT on egress sockets: NET_ADMIN */
	FERRY_NEED_LOW_PORT, /* such a socket bound to a client's port < 1024: NET_BIND_SERVICE */
	FERRY_NEED_RULES,    /* policy rules deleted at exit: NET_ADMIN */
	FERRY_NEED_NFT,	     /* nftables tables deleted at exit: NET_ADMIN */
	FERRY_NEED_SYSCTL,   /* sysctls under /proc/sys/net written back at exit: NET_ADMIN */
	FERRY_NEED_FILES,    /* files written back or removed at exit: DAC_OVERRIDE */
	FERRY_NEED_KILL,     /* ferry exec's command, of another user, stopped: KILL */
	FERRY_NEED_COUNT,
};

/* Who the daemon becomes once up and what it keeps. */
struct ferry_privilege {
	enum ferry_hardening mode;
	bool user_set; /* User: the uid and gid below */
	uid_t uid;
	gid_t gid;
	char user[64];	/* the user's name, for the log */
	uint32_t needs; /* bit n: enum ferry_privilege_need n */
	uint64_t caps;	/* kept: bit n is capability n */
};

struct ferry_daemon_stats {
	uint64_t tun_packets_in, tun_packets_out, tun_bytes_in, tun_bytes_out;
	uint64_t tun_write_full; /* the TUN's queue refused a packet */
	uint64_t tun_errors;
	uint64_t udp_batches_in, udp_batches_out;
};

struct ferry_daemon {
	struct ferry_daemon_options opts;
	struct ferry_log log;
	char name[IFNAMSIZ];
	struct ferry_config cfg;
	uint64_t started_ms;
	rlim_t nofile_given; /* the soft descriptor limit ferry was started with (exec's) */
	struct ferry_loop loop;

	/* the TUN */
	struct ferry_tun tun;
	struct ferry_io tun_io;
	struct ferry_pool tun_pool; /* one batch of packets read */

	/* the link's sockets */
	struct ferry_udp udp[2]; /* IPv4, IPv6; fd -1 when not open */
	struct ferry_io udp_io[2];
	struct ferry_pool udp_pool;
	uint16_t port; /* the bound port, the same on both */

	struct ferry_link_set set;
	struct ferry_daemon_peer *peers;
	size_t npeers;
	struct ferry_daemon_route *routes;
	size_t nroutes;

	struct ferry_stack *stack;
	struct ferry_egress *egress;
	struct ferry_bridge *bridge;
	struct ferry_daemon_watch **watches; /* by fd */
	size_t nwatches;

	struct ferry_timer t_stack, t_egress, t_link, t_bridge, t_sample;

	/* control */
	char control_path[108];
	struct ferry_io control_io;
	struct ferry_daemon_client clients[FERRY_DAEMON_CONTROL_CLIENTS];
	char answer[256 * 1024]; /* a control answer being written */
	bool stopping;
	bool warned_ping; /* the ping_group_range warning is logged once */
	bool hooks_up;	  /* PostUp ran: PreDown and PostDown will */

	struct ferry_daemon_fulldev fulldev;
	struct ferry_daemon_dns dns;
	struct ferry_daemon_exec exec;
	struct ferry_daemon_site site;
	struct ferry_daemon_sysctls sysctls;
	struct ferry_privilege privilege;

	struct ferry_daemon_stats stats;
};

/* device.c */
/* Creates the TUN named d->name (taking over one a killed ferry left), sets its MTU,
 * queue length and addresses, brings it up, and routes every peer's AllowedIPs into it.
 * Returns 0 or a negative errno (logged). */
int ferry_daemon_device_up(struct ferry_daemon *d);
/* Closes the TUN: the device, its addresses and routes go with it. */
void ferry_daemon_device_down(struct ferry_daemon *d);
/* The stack's tun_write. */
int ferry_daemon_tun_write(struct ferry_daemon *d, const uint8_t *pkt, size_t len);
/* The TUN is readable: a batch of packets to the stack. */
void ferry_daemon_tun_io(struct ferry_loop *loop, struct ferry_io *io, uint32_t events,
			 uint64_t now);

/* fulldev.c */
/* Decides whether full-device mode is on (a /0 in some AllowedIPs) and, if so, gives the
 * configuration its mark (FwMark, else FERRY_FULLDEV_TABLE) before any socket opens. */
void ferry_daemon_fulldev_plan(struct ferry_daemon *d);
/* Routes everything into the TUN (its table, its rules, src_valid_mark), after removing
 * what a killed ferry left. Undoes itself on failure. 0 or a negative errno (logged). */
int ferry_daemon_fulldev_up(struct ferry_daemon *d, struct ferry_nl *nl);
/* Takes away every rule it added and puts the sysctl back. Safe when nothing was added. */
void ferry_daemon_fulldev_down(struct ferry_daemon *d);

/* Removes the policy rules (protocol 77) a killed ferry left: those whose table has no
 * routes left. A table in `ours` (the tables this ferry is about to use) that still has
 * routes belongs to a running ferry: -EBUSY (logged). 0 or a negative errno. */
int ferry_daemon_rules_recover(struct ferry_daemon *d, struct ferry_nl *nl, const uint32_t *ours,
			       size_t nours);

/* Deletes rules[*n - 1] .. rules[0], last added first; *n becomes 0. */
void ferry_daemon_rules_remove(struct ferry_daemon *d, const struct ferry_nl_rule *rules,
			       unsigned int *n);

/* Deletes nftables table inet `table` if *exists, and clears it. */
void ferry_daemon_nft_delete(struct ferry_daemon *d, const char *table, bool *exists);

/* site.c */
/* Forwarding (Forward = on) and the reply path of transparent egress (EgressTransparent):
 * rules, a local table, an nftables mark. Undoes itself on failure. 0 or a negative errno. */
int ferry_daemon_site_up(struct ferry_daemon *d, struct ferry_nl *nl);
/* Takes away its rules and nftables table (the sysctls go with sysctl.c's restore). */
void ferry_daemon_site_down(struct ferry_daemon *d);

/* sysctl.c */
/* Puts back the sysctls a killed ferry of this name changed (its note beside the control
 * socket), before this one changes any. */
void ferry_daemon_sysctl_recover(struct ferry_daemon *d);
/* Sets the integer sysctl at path (under /proc/sys/net/) to value, noting the old value
 * first. 0 or a negative errno (logged). */
int ferry_daemon_sysctl_set(struct ferry_daemon *d, const char *path, int value);
/* Puts back every sysctl set, last first. */
void ferry_daemon_sysctl_restore(struct ferry_daemon *d);

/* dns.c */
/* Writes the configuration's DNS servers and search domains to the resolver's file,
 * keeping what was there (in memory and, for a start after a kill, next to the control
 * socket). Puts back a file a killed ferry left changed first. 0 or a negative errno. */
int ferry_daemon_dns_up(struct ferry_daemon *d);
/* Puts the file back as it was. Safe when nothing was changed. */
void ferry_daemon_dns_down(struct ferry_daemon *d);
/* The resolv.conf text of the configuration's DNS into out; returns its length. */
size_t ferry_daemon_dns_text(const struct ferry_daemon *d, char *out, size_t cap);

/* exec.c */
/* The user ferry exec runs its command as: `user` (a name or a number) if given, else the
 * one sudo was called by (SUDO_UID) when ferry runs as root through it, else unset (as
 * ferry runs). Returns 0, or a negative errno with err saying why. */
int ferry_exec_user_resolve(const char *user, struct ferry_exec_user *u, char *err, size_t cap);
/* Starts the command in the namespace and watches for its end. 0 or a negative errno. */
int ferry_daemon_exec_start(struct ferry_daemon *d);
/* Ends the command (SIGTERM, SIGKILL 3 s later) if it still runs; closes the namespace. */
void ferry_daemon_exec_stop(struct ferry_daemon *d);
/* A control client asked to join: sends it the namespace. 0 or a negative errno. */
int ferry_daemon_exec_join(struct ferry_daemon_client *c);
/* A joined client's connection closed. */
void ferry_daemon_exec_left(struct ferry_daemon *d);

/* hooks.c */
/* Runs the commands of one of wg-quick's hooks in file order (ferry up only). PreDown and
 * PostDown run only once PostUp has. 0, or for PreUp and PostUp -ECANCELED when a command
 * failed (logged); a failing PreDown or PostDown is logged and the others still run. */
int ferry_daemon_hooks_run(struct ferry_daemon *d, enum ferry_config_hook hook);

/* net.c */
/* Opens the IPv4 and IPv6 sockets on ListenPort (either may be missing, not both).
 * Returns 0 or a negative errno (logged). */
int ferry_daemon_net_up(struct ferry_daemon *d);
void ferry_daemon_net_down(struct ferry_daemon *d);
/* The link set's output: one batch of sealed datagrams. */
unsigned ferry_daemon_net_output(void *ctx, struct ferry_buf *const *bufs,
				 const struct ferry_sockaddr *to, unsigned n);

/* peers.c */
/* Adds every [Peer]: its link (endpoint resolved), its bridge peer, its routes.
 * Returns 0 or a negative errno (logged). */
int ferry_daemon_peers_up(struct ferry_daemon *d);
void ferry_daemon_peers_down(struct ferry_daemon *d);
/* The sizes every peer's link will have (ferry_link_config_sizes of the links'
 * configuration): the bridge's, before any link exists. 0 or a negative errno. */
int ferry_daemon_link_sizes(const struct ferry_daemon *d, struct ferry_wire_sizes *out);
/* The bridge's route and source_ok. */
struct ferry_bridge_peer *ferry_daemon_route(void *ctx, const struct ferry_endpoint *dst);
bool ferry_daemon_source_ok(void *ctx, struct ferry_bridge_peer *peer,
			    const struct ferry_endpoint *src);
/* Samples the peers' byte counters into rates (every FERRY_DAEMON_SAMPLE_MS). */
void ferry_daemon_peers_sample(struct ferry_daemon *d);

/* privilege.c */
/* Makes the process not dumpable, before any key is read: no core dump, and no ptrace or
 * /proc/PID/mem of it without CAP_SYS_PTRACE. 0 or a negative errno (logged): ferry then
 * does not start. */
int ferry_daemon_privilege_undumpable(struct ferry_daemon *d);
/* Reads FERRY_HARDENING and resolves the configuration's User, before anything is set up.
 * 0 or a negative errno (logged). */
int ferry_daemon_privilege_init(struct ferry_daemon *d);
/* What the running daemon and its teardown still need (bits of enum ferry_privilege_need),
 * from what was set up, were it to run as uid and gid. */
uint32_t ferry_daemon_privilege_needs(const struct ferry_daemon *d, uid_t uid, gid_t gid);
/* The capabilities those needs take (bit n: capability n). */
uint64_t ferry_privilege_caps_for(uint32_t needs);
/* Once up: keeps only the capabilities still needed, becomes User, installs the seccomp
 * filter, and logs what it kept; nothing with FERRY_HARDENING=off or PreDown/PostDown
 * hooks. 0 or a negative errno (logged): ferry then stops. */
int ferry_daemon_privilege_drop(struct ferry_daemon *d);
/* Keeps p->caps (effective and permitted; inheritable, ambient and bounding sets emptied),
 * after changing to p->uid and p->gid without supplementary groups if p->user_set.
 * 0 or a negative errno. */
int ferry_privilege_apply(const struct ferry_privilege *p);
/* This process's effective capabilities (bit n: capability n). */
uint64_t ferry_privilege_effective(void);
/* Installs the allow-list of the system calls the running daemon and its teardown make;
 * any other kills the process (log_only: is logged by the kernel and allowed). Returns how
 * many system calls it allows, or a negative errno. */
int ferry_privilege_filter(bool log_only);

/* control_client.c */
/* DIR/NAME.sock for the ferry named name (DIR: ferry_control_dir(dir)) into *sun.
 * 0 or a negative errno. */
int ferry_control_socket_path(struct sockaddr_un *sun, const char *dir, const char *name);

/* control.c */
/* Listens on RUN_DIR/NAME.sock (refusing to start if a live ferry answers there).
 * Returns 0 or a negative errno (logged). */
int ferry_daemon_control_up(struct ferry_daemon *d);
void ferry_daemon_control_down(struct ferry_daemon *d);

/* status.c */
/* The status as text (json false) or JSON into out (cap bytes); returns its length
 * (truncated at cap - 1, always NUL-terminated). */
size_t ferry_daemon_status(const struct ferry_daemon *d, bool json, char *out, size_t cap);

#endif
