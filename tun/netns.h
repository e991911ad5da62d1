/* SPDX-License-Identifier: MIT */
/*
 * Network namespaces without names, and the links between them.
 *
 * A namespace made here is held by one file descriptor of the process that made it (no
 * bind mount under /run/netns, no holder process): it lives while that descriptor is open
 * or a process runs inside it, and vanishes by itself when the last of them goes -- also
 * when the maker is killed. `ferry demo` builds its little world this way, so nothing of
 * it can outlive the demo. The calling process must be single-threaded (setns of a
 * network namespace moves the calling thread only).
 */
#ifndef FERRY_TUN_NETNS_H
#define FERRY_TUN_NETNS_H

/* Makes a new network namespace with its loopback up, without entering it. Returns a
 * descriptor that holds it (close it to let go), or a negative errno. */
int ferry_netns_new(void);

/* Enters the namespace fd; *saved gets a descriptor of the one left, for
 * ferry_netns_leave. Returns 0 or a negative errno. */
int ferry_netns_enter(int fd, int *saved);

/* Goes back to the namespace saved by ferry_netns_enter and closes saved. */
int ferry_netns_leave(int saved);

/* Creates a veth pair: name in namespace ns_fd, peer in peer_ns_fd (-1: the caller's
 * namespace for either), both down. Names are per namespace, so the caller's own links
 * never collide with them. Returns 0 or a negative errno. */
int ferry_netns_veth(const char *name, int ns_fd, const char *peer, int peer_ns_fd);

/* Turns off segmentation and receive offloads (TSO, GSO, GRO) of a link in the caller's
 * namespace, so that every frame on it is a wire frame (an emulator in user space sees
 * one packet where the wire would carry one). Returns 0 or a negative errno. */
int ferry_netns_offloads_off(const char *ifname);

#endif
