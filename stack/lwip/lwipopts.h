/* SPDX-License-Identifier: MIT */
/* ferry's lwIP configuration: NO_SYS=1, driven by ferry's event loop. (stack/ refines.) */
#ifndef FERRY_LWIPOPTS_H
#define FERRY_LWIPOPTS_H
#define NO_SYS 1
#define LWIP_SOCKET 0
#define LWIP_NETCONN 0
#define LWIP_IPV4 1
#define LWIP_IPV6 1
#define LWIP_TCP 1
#define LWIP_UDP 1
#define LWIP_ARP 0
#define LWIP_ETHERNET 0
#define SYS_LIGHTWEIGHT_PROT 0
#endif
