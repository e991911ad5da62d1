/* SPDX-License-Identifier: MIT */
/* Shared between noise.c (handshake) and session.c (sessions, data path); not an API. */
#ifndef FERRY_TRANSPORT_NOISE_INTERNAL_H
#define FERRY_TRANSPORT_NOISE_INTERNAL_H

#include "transport/noise.h"

/* Wipes the session *slot points at and clears the pointer; NULL is ignored. */
void ferry_noise_session_drop(struct ferry_noise_session **slot);

/* Wipes a half-finished handshake. */
void ferry_noise_handshake_clear(struct ferry_noise_handshake *hs);

/* The tables of peers (noise_table.c). */
/* Grows the tables for one more peer and links peer (its local set, not yet in the list).
 * 0 or -ENOMEM. */
int ferry_noise_table_add(struct ferry_noise_local *local, struct ferry_noise_peer *peer);
/* Unlinks peer from both tables. */
void ferry_noise_table_remove(struct ferry_noise_peer *peer);
/* Frees the bucket arrays (every peer already removed). */
void ferry_noise_table_destroy(struct ferry_noise_local *local);
/* Puts peer's index entries where its session slots and pending handshake are now. */
void ferry_noise_table_sync(struct ferry_noise_peer *peer);
/* The peer with that static key, or NULL. */
struct ferry_noise_peer *ferry_noise_table_by_static(const struct ferry_noise_local *local,
						     const uint8_t key[FERRY_NOISE_KEY_LEN]);
/* The entries that name index, first and next: candidates, which the caller checks against
 * the peer's state (an entry may be stale between syncs). NULL after the last. */
const struct ferry_noise_index_entry *
ferry_noise_table_index_first(const struct ferry_noise_local *local, uint32_t index);
const struct ferry_noise_index_entry *
ferry_noise_table_index_next(const struct ferry_noise_index_entry *e, uint32_t index);

#endif
