// SPDX-License-Identifier: MIT
/*
 * The TUN device of the daemon (see daemon.h): created non-persistent, so that closing it
 * -- at exit, or when the kernel reaps a killed ferry -- removes the device with its
 * addresses and routes; nothing of it outlives the process. Everything is set through
 * rtnetlink with acknowledged requests (tun/netlink.h), each failure logged with the
 * kernel's own text.
 *
 * Routes: one per prefix of every peer's AllowedIPs, in the main table. A prefix the
 * kernel already routes into the device (the subnet of an Address) is fine as it is. A /0
 * is not routed here: a default route in the main table would also carry the tunnel's
 * own packets to the peer; it turns on full-device mode instead (fulldev.c: a table and
 * rules of its own).
 *
 * Reading: the TUN is drained in batches of up to FERRY_DAEMON_TUN_BATCH packets per turn
 * into buffers of MTU + 1 bytes (a packet that fills one was cut: counted and dropped),
 * handed to the stack in one call; a TUN still readable is read again next turn.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "cli/daemon/internal.h"
#include "tun/netns.h"

static void nl_fail(struct ferry_daemon *d, const struct ferry_nl *nl, const char *what, int err)
{
	ferry_log(&d->log, FERRY_LOG_ERROR, "%s: %s%s%s", what, strerror(-err),
		  nl->error[0] ? ": " : "", nl->error);
}

static int add_addresses(struct ferry_daemon *d, struct ferry_nl *nl)
{
	size_t i;

	for (i = 0; i < d->cfg.iface.addresses.n; i++) {
		const struct ferry_prefix *p = &d->cfg.iface.addresses.v[i].prefix;
		char text[FERRY_PREFIX_STRLEN], what[FERRY_PREFIX_STRLEN + 32];
		int err = ferry_nl_addr_add(nl, d->tun.ifindex, p->family, p->addr, p->len);

		ferry_prefix_format(text, p);
		if (err && err != -EEXIST) {
			snprintf(what, sizeof(what), "address %s", text);
			nl_fail(d, nl, what, err);
			return err;
		}
		ferry_log(&d->log, FERRY_LOG_DEBUG, "address %s", text);
	}
	return 0;
}

/* Routes every prefix of every peer's AllowedIPs into the TUN: in the main table, a /0
 * left to full-device mode (Table = auto); every prefix in table N (Table = N); none
 * (Table = off). ferry exec's namespace is its own: there, always the main table. */
static int add_routes(struct ferry_daemon *d, struct ferry_nl *nl)
{
	const struct ferry_config_interface *iface = &d->cfg.iface;
	bool own_ns = d->opts.exec_argv != NULL;
	uint32_t table = !own_ns && iface->table == FERRY_TABLE_ID ? iface->table_id : 0;
	size_t i, k;

	if (!own_ns && iface->table == FERRY_TABLE_OFF) {
		ferry_log(&d->log, FERRY_LOG_INFO, "Table = off: no routes added");
		return 0;
	}
	for (i = 0; i < d->cfg.npeers; i++) {
		const struct ferry_prefix_list *l = &d->cfg.peers[i].allowed_ips;

		for (k = 0; k < l->n; k++) {
			const struct ferry_prefix *p = &l->v[k].prefix;
			char text[FERRY_PREFIX_STRLEN], what[FERRY_PREFIX_STRLEN + 32];
			int err;

			ferry_prefix_format(text, p);
			if (p->len == 0 && !own_ns && iface->table == FERRY_TABLE_AUTO)
				continue; /* full-device mode's */
			err = ferry_nl_route_add(nl, d->tun.ifindex, p->family, p->addr, p->len,
						 table);
			if (err && err != -EEXIST) {
				snprintf(what, sizeof(what), "route %s", text);
				nl_fail(d, nl, what, err);
				return err;
			}
			ferry_log(&d->log, FERRY_LOG_DEBUG, "route %s dev %s table %u", text,
				  d->name, table ? table : FERRY_TABLE_MAIN);
		}
	}
	return 0;
}

/* ferry exec: moves the TUN into the namespace and opens *nl there, where the rest of the
 * set-up happens; the device's index is the one it has there. 0 or a negative errno. */
static int move_into_namespace(struct ferry_daemon *d, struct ferry_nl *nl)
{
	int err = ferry_nl_open(nl), saved;

	if (!err) {
		err = ferry_nl_link_move(nl, d->tun.ifindex, d->exec.ns_fd);
		ferry_nl_close(nl);
	}
	if (err)
		return err;
	err = ferry_netns_enter(d->exec.ns_fd, &saved);
	if (err)
		return err;
	err = ferry_nl_open(nl); /* bound to the namespace it was made in */
	d->tun.ifindex = if_nametoindex(d->name);
	if (!err && !d->tun.ifindex) {
		err = -ENODEV;
		ferry_nl_close(nl);
	}
	if (ferry_netns_leave(saved) != 0 && !err) {
		ferry_nl_close(nl);
		err = -EIO;
	}
	return err;
}

/* Before full-device or site-to-site mode makes its rules: a killed ferry's go. */
static int recover_rules(struct ferry_daemon *d, struct ferry_nl *nl)
{
	uint32_t ours[2];
	size_t n = 0;

	if (d->fulldev.on)
		ours[n++] = d->fulldev.table;
	if (d->cfg.iface.egress_transparent && !d->opts.exec_argv)
		ours[n++] = FERRY_SITE_TABLE;
	return n ? ferry_daemon_rules_recover(d, nl, ours, n) : 0;
}

int ferry_daemon_device_up(struct ferry_daemon *d)
{
	struct ferry_nl nl;
	int err;

	err = ferry_tun_open(&d->tun, d->name);
	if (err) {
		ferry_log(&d->log, FERRY_LOG_ERROR, "TUN device %s: %s%s", d->name, strerror(-err),
			  err == -EBUSY ? " (is another ferry running with this name?)" : "");
		return err;
	}
	err = ferry_pool_init(&d->tun_pool, FERRY_DAEMON_TUN_BATCH, d->cfg.iface.mtu + 1, 0);
	if (err)
		goto close_tun;
	err = d->exec.ns_fd >= 0 ? move_into_namespace(d, &nl) : ferry_nl_open(&nl);
	if (err) {
		ferry_log(&d->log, FERRY_LOG_ERROR, "netlink: %s", strerror(-err));
		goto free_pool;
	}
	err = ferry_nl_link_set_txqlen(&nl, d->tun.ifindex, FERRY_DAEMON_TUN_QLEN);
	if (err) {
		nl_fail(d, &nl, "TUN queue length", err);
		goto close_nl;
	}
	err = ferry_nl_link_set(&nl, d->tun.ifindex, 1, d->cfg.iface.mtu);
	if (err) {
		nl_fail(d, &nl, "TUN up and MTU", err);
		goto close_nl;
	}
	err = add_addresses(d, &nl);
	if (!err)
		err = add_routes(d, &nl);
	if (!err)
		err = recover_rules(d, &nl);
	if (!err)
		err = ferry_daemon_fulldev_up(d, &nl);
	if (!err)
		err = ferry_daemon_site_up(d, &nl);
	if (err)
		ferry_daemon_fulldev_down(d);
	if (err)
		goto close_nl;
	ferry_nl_close(&nl);
	ferry_log(&d->log, FERRY_LOG_INFO, "device %s up, MTU %u", d->name, d->cfg.iface.mtu);
	return 0;

close_nl:
	ferry_nl_close(&nl);
free_pool:
	ferry_pool_destroy(&d->tun_pool);
close_tun:
	ferry_tun_close(&d->tun);
	return err;
}

void ferry_daemon_device_down(struct ferry_daemon *d)
{
	ferry_tun_close(&d->tun);
	ferry_pool_destroy(&d->tun_pool);
}

int ferry_daemon_tun_write(struct ferry_daemon *d, const uint8_t *pkt, size_t len)
{
	int err = ferry_tun_write(&d->tun, pkt, len);

	if (!err) {
		d->stats.tun_packets_out++;
		d->stats.tun_bytes_out += len;
	} else if (err == -EAGAIN) {
		d->stats.tun_write_full++;
	} else {
		d->stats.tun_errors++;
	}
	return err;
}

void ferry_daemon_tun_io(struct ferry_loop *loop, struct ferry_io *io, uint32_t events,
			 uint64_t now)
{
	struct ferry_daemon *d = ferry_container_of(io, struct ferry_daemon, tun_io);
	struct ferry_buf *head = NULL, **tail = &head;
	unsigned k;

	(void)loop;
	(void)events;
	for (k = 0; k < FERRY_DAEMON_TUN_BATCH; k++) {
		struct ferry_buf *b = ferry_pool_get(&d->tun_pool);
		ssize_t n;

		if (!b)
			break;
		n = ferry_tun_read(&d->tun, b->data, ferry_buf_tailroom(b));
		if (n < 0) {
			ferry_pool_put(&d->tun_pool, b);
			if (n == -EAGAIN)
				break;
			d->stats.tun_errors++; /* cut short (-EMSGSIZE) or worse: dropped */
			if (n != -EMSGSIZE)
				break;
			continue;
		}
		b->len = (uint32_t)n;
		b->next = NULL;
		*tail = b;
		tail = &b->next;
		d->stats.tun_packets_in++;
		d->stats.tun_bytes_in += (uint64_t)n;
	}
	if (!head)
		return;
	ferry_stack_clock(d->stack, now); /* what the batch starts counts from now */
	ferry_stack_input_batch(d->stack, head);
	ferry_pool_put_chain(&d->tun_pool, head);
}
