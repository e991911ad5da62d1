/* SPDX-License-Identifier: MIT */
/*
 * nftables through libnftables: a script of nft commands run as one transaction (it
 * applies whole or not at all), in the caller's network namespace, with no nft process.
 * On failure the first line of libnftables' own message is kept for the user.
 */
#ifndef FERRY_TUN_NFT_H
#define FERRY_TUN_NFT_H

#include <stddef.h>

#define FERRY_NFT_ERROR_MAX 256

/* Runs script (nft's syntax, commands separated by newlines or ';'). out (may be NULL)
 * receives what list commands print, up to cap bytes, always NUL-terminated; error (may
 * be NULL) the first line of the failure's message. Returns 0, -EINVAL when nftables
 * refused the script (error says why), or another negative errno. */
int ferry_nft_run(const char *script, char *out, size_t cap, char error[FERRY_NFT_ERROR_MAX]);

#endif
