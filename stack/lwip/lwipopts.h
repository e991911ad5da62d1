/* SPDX-License-Identifier: MIT */
/*
 * ferry's lwIP configuration (lwIP 2.1.x, NO_SYS=1).
 *
 * lwIP runs inside ferry's event loop: no threads, no sockets or netconn API, no
 * Ethernet/ARP (the netif is a TUN, IP in and IP out). lwIP's clock is the value the
 * event loop last handed to ferry_stack_timer() (stack/lwip_port.c).
 *
 * Only TCP goes through lwIP. UDP and ICMP echo are caught before lwIP sees them
 * (stack/stack.c) and answered with packets ferry builds itself, so lwIP's UDP, raw and
 * ICMP input paths are compiled out or never fed.
 *
 * Any-destination capture: lwIP accepts a packet only for one of its netif's addresses.
 * The IP input hooks below run before that check; ferry's hook sets the netif's address
 * to the packet's destination, so every packet that ferry decided to hand to lwIP is "for
 * us". See docs/stack.md for why this and not a NAT, and for its limits.
 *
 * Sizing: pools are static (BSS, committed as used) and sized for tens of thousands of
 * connections; the flow table's limit (struct ferry_stack_config) must stay below
 * MEMP_NUM_TCP_PCB so that closing and TIME_WAIT pcbs have room.
 */
#ifndef FERRY_LWIPOPTS_H
#define FERRY_LWIPOPTS_H

/* ---- system ---- */
#define NO_SYS		     1
#define LWIP_TIMERS	     1
#define SYS_LIGHTWEIGHT_PROT 0
#define LWIP_SOCKET	     0
#define LWIP_NETCONN	     0
#define LWIP_NETIF_API	     0
#define LWIP_SINGLE_NETIF    1
#define LWIP_NETIF_LOOPBACK  0
#define LWIP_HAVE_LOOPIF     0

/* ---- memory ---- */
#define MEM_ALIGNMENT 8
/* lwIP's heap holds every input packet (copied from the TUN) and every queued outgoing
 * segment. It bounds the bytes held in all flows together; exhausting it drops packets
 * (the applications retransmit), it never grows. */
#ifndef FERRY_LWIP_MEM_SIZE
#define FERRY_LWIP_MEM_SIZE (64u * 1024 * 1024)
#endif
#define MEM_SIZE FERRY_LWIP_MEM_SIZE
/* The heap's blocks come from the C library's allocator, through stack/lwip_port.c, which
 * refuses any that would take the bytes held past MEM_SIZE. lwIP's own heap is first fit:
 * with ten thousand flows holding small blocks, its allocation took 74% of the client's
 * core in the soak (docs/soak.md; 0.2 to 121 us per allocation, measured before). */
#include <stddef.h>
#define MEM_LIBC_MALLOC 1
void *ferry_stack_lwip_malloc(size_t size);
void *ferry_stack_lwip_calloc(size_t count, size_t size);
void ferry_stack_lwip_free(void *p);
#define mem_clib_malloc ferry_stack_lwip_malloc
#define mem_clib_calloc ferry_stack_lwip_calloc
#define mem_clib_free	ferry_stack_lwip_free
#ifndef FERRY_LWIP_TCP_PCBS
#define FERRY_LWIP_TCP_PCBS 16384
#endif
#define MEMP_NUM_TCP_PCB	       FERRY_LWIP_TCP_PCBS
/* Listeners live only while a connection to their port is in its handshake. */
#define MEMP_NUM_TCP_PCB_LISTEN	       256
#define MEMP_NUM_TCP_SEG	       32768
#define MEMP_NUM_PBUF		       64
#define MEMP_NUM_UDP_PCB	       1
#define MEMP_NUM_RAW_PCB	       1
#define PBUF_POOL_SIZE		       64
#define PBUF_POOL_BUFSIZE	       2048
/* lwIP's sanity check assumes input arrives in PBUF_POOL buffers and wants the pool to
 * cover TCP_WND; ferry copies input into the heap (MEM_SIZE), which does. */
#define LWIP_DISABLE_TCP_SANITY_CHECKS 1

/* ---- IP ---- */
#define LWIP_IPV4	   1
#define LWIP_IPV6	   1
#define LWIP_ARP	   0
#define LWIP_ETHERNET	   0
#define IP_FORWARD	   0
#define IP_REASSEMBLY	   0 /* fragments are dropped (and counted) before lwIP */
#define IP_FRAG		   0 /* lwIP never sends more than the MTU: segments are MSS-sized */
#define IP_OPTIONS_ALLOWED 0
#define IP_DEFAULT_TTL	   64
#define LWIP_ICMP	   0 /* ICMP never reaches lwIP: ferry forwards echo, drops the rest */
#define LWIP_RAW	   0
#define LWIP_UDP	   0 /* UDP is handled by ferry before lwIP */
#define LWIP_IGMP	   0
#define LWIP_DHCP	   0
#define LWIP_AUTOIP	   0
#define LWIP_DNS	   0

#define LWIP_ICMP6		      1 /* required by lwIP's IPv6 core; never fed */
#define LWIP_IPV6_MLD		      0
#define LWIP_IPV6_AUTOCONFIG	      0
#define LWIP_IPV6_DHCP6		      0
#define LWIP_IPV6_REASS		      0
#define LWIP_IPV6_FRAG		      0
#define LWIP_IPV6_SEND_ROUTER_SOLICIT 0
#define LWIP_IPV6_DUP_DETECT_ATTEMPTS 0
#define LWIP_ND6_QUEUEING	      0
#define LWIP_ND6_ALLOW_RA_UPDATES     0
#define LWIP_IPV6_NUM_ADDRESSES	      1
#define LWIP_IPV6_SCOPES	      0
#define LWIP_IPV6_ADDRESS_LIFETIMES   0

/* Packets come from our own kernel through the TUN (or with offloads, carry only a
 * partial checksum): verifying them costs time and finds nothing. */
#define CHECKSUM_CHECK_IP    0
#define CHECKSUM_CHECK_TCP   0
#define CHECKSUM_CHECK_UDP   0
#define CHECKSUM_CHECK_ICMP  0
#define CHECKSUM_CHECK_ICMP6 0
#define CHECKSUM_GEN_IP	     1
#define CHECKSUM_GEN_TCP     1
#define CHECKSUM_GEN_ICMP6   1

/* ---- TCP ---- */
#define LWIP_TCP		   1
#define LWIP_CALLBACK_API	   1
/* The largest MSS a 64 KiB-class TUN MTU allows over IPv6 (65535 - 40 - 20); the MSS
 * actually advertised is derived per connection from the netif's MTU. */
#define TCP_MSS			   65475
#define TCP_CALCULATE_EFF_SEND_MSS 1
#define LWIP_WND_SCALE		   1
#define TCP_RCV_SCALE		   4
#define TCP_WND			   (256u * 1024)
#define TCP_SND_BUF		   (256u * 1024)
#define TCP_SND_QUEUELEN	   1024
#define TCP_SNDLOWAT		   (TCP_SND_BUF / 2)
#define TCP_SNDQUEUELOWAT	   (TCP_SND_QUEUELEN / 2)
/* Room lwIP leaves behind a small write for the next one to fill. lwIP's default (one
 * MSS) would make every small write toward a 64 KiB-MSS connection take 64 KiB of heap. */
#define TCP_OVERSIZE		   1536
#define TCP_QUEUE_OOSEQ		   1
#define TCP_OOSEQ_MAX_BYTES	   (TCP_WND)
#define TCP_OOSEQ_MAX_PBUFS	   64
#define LWIP_TCP_SACK_OUT	   0
#define LWIP_TCP_TIMESTAMPS	   0
#define TCP_LISTEN_BACKLOG	   0
#define LWIP_TCP_KEEPALIVE	   1
/* Listeners are bound to any address per port while accepted connections to the same
 * port exist; SOF_REUSEADDR (inherited by those connections) lets them coexist. */
#define SO_REUSE		   1
/* SYN-ACKs are retried 4 times (about 15 s with lwIP's back-off) before lwIP gives up. */
#define TCP_SYNMAXRTX		   4
/* The app <-> lwIP leg is one host's TUN: old duplicates cannot linger for minutes, and
 * TIME_WAIT pcbs hold pool slots. TIME_WAIT lasts 2 * TCP_MSL. */
#define TCP_MSL			   5000u
/* ferry keeps one pointer per pcb in an ext arg, to learn of new pcbs at SYN time. */
#define LWIP_TCP_PCB_NUM_EXT_ARGS  1

/* ---- netif ---- */
#define LWIP_NETIF_HOSTNAME	   0
#define LWIP_NETIF_STATUS_CALLBACK 0
#define LWIP_NETIF_LINK_CALLBACK   0
#define LWIP_NETIF_TX_SINGLE_PBUF  0

/* ---- statistics and debugging ---- */
#define LWIP_STATS	   1
#define LWIP_STATS_DISPLAY 0
#define MEMP_STATS	   1
#define MEM_STATS	   1
#define LINK_STATS	   0
#define ETHARP_STATS	   0
#define IP_STATS	   0
#define IP6_STATS	   0
#define ICMP6_STATS	   0
#define ND6_STATS	   0
#define TCP_STATS	   0
#define SYS_STATS	   0

/* ---- hooks (stack/stack.c) ---- */
struct pbuf;
struct netif;
int ferry_stack_lwip_ip4_input_hook(struct pbuf *p, struct netif *inp);
int ferry_stack_lwip_ip6_input_hook(struct pbuf *p, struct netif *inp);
#define LWIP_HOOK_IP4_INPUT(p, inp) ferry_stack_lwip_ip4_input_hook((p), (inp))
#define LWIP_HOOK_IP6_INPUT(p, inp) ferry_stack_lwip_ip6_input_hook((p), (inp))

/* RFC 6528 initial sequence numbers (stack/lwip_port.c) instead of lwIP's counter. */
struct ip_addr;
unsigned int ferry_stack_lwip_tcp_isn(const struct ip_addr *local_ip, unsigned short local_port,
				      const struct ip_addr *remote_ip, unsigned short remote_port);
#define LWIP_HOOK_TCP_ISN(lip, lport, rip, rport) ferry_stack_lwip_tcp_isn(lip, lport, rip, rport)

#endif
