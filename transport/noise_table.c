// SPDX-License-Identifier: MIT
/*
 * The local's two tables of peers, so that no datagram walks the list of peers:
 *
 *   by static key  - the responder's lookup after it decrypts an initiator's static key;
 *   by local index - the data path's lookup (every datagram names the session it is for
 *                    by our local index), and the handshake's (a response or a cookie
 *                    reply names our pending handshake's index).
 *
 * Both are chained hash tables whose links live in the peers themselves, so a lookup
 * allocates nothing and a table holds at most one entry per peer (by key) and four (by
 * index: the three session slots and the pending handshake). The bucket arrays grow with
 * the number of peers (ferry_noise_table_add), to about one peer per key bucket.
 *
 * The key table hashes with SipHash (crypto_shorthash) under a random key per local: the
 * keys are the peers', and an attacker who chose many could otherwise fill one bucket.
 * Indices are our own random numbers, so their low bits are a fair bucket.
 *
 * The index entries follow the peer's state lazily: ferry_noise_table_sync puts each of
 * the peer's four entries where its slot or handshake is now. noise.c and session.c call
 * it wherever an index comes into use (a handshake starts, a session is derived) and
 * where one goes (expiry, a new handshake replacing the last); between calls an entry may
 * name an index its peer no longer uses, so every lookup checks what it finds against the
 * peer itself (ferry_noise_table_index_first/next hand out candidates, never answers).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "transport/noise.h"
#include "transport/noise_internal.h"

enum {
	TABLE_MIN_BUCKETS = 16,
	INDEX_PER_KEY_BUCKETS = 4, /* index buckets per key bucket: four entries per peer */
};

static size_t key_bucket(const struct ferry_noise_local *local, const uint8_t *key)
{
	uint8_t h[crypto_shorthash_BYTES];
	uint64_t v;

	crypto_shorthash(h, key, FERRY_NOISE_KEY_LEN, local->table.hash_key);
	memcpy(&v, h, sizeof(v));
	return (size_t)v & (local->table.buckets - 1);
}

static size_t index_bucket(const struct ferry_noise_local *local, uint32_t index)
{
	return (size_t)index & (local->table.buckets * INDEX_PER_KEY_BUCKETS - 1);
}

static void index_unlink(struct ferry_noise_local *local, struct ferry_noise_index_entry *e)
{
	struct ferry_noise_index_entry **pp;

	if (!e->linked)
		return;
	for (pp = &local->table.by_index[index_bucket(local, e->index)]; *pp; pp = &(*pp)->next) {
		if (*pp == e) {
			*pp = e->next;
			break;
		}
	}
	e->linked = false;
	e->next = NULL;
}

static void index_link(struct ferry_noise_local *local, struct ferry_noise_index_entry *e,
		       uint32_t index)
{
	struct ferry_noise_index_entry **head;

	if (e->linked && e->index == index)
		return;
	index_unlink(local, e);
	head = &local->table.by_index[index_bucket(local, index)];
	e->index = index;
	e->next = *head;
	*head = e;
	e->linked = true;
}

void ferry_noise_table_sync(struct ferry_noise_peer *peer)
{
	struct ferry_noise_local *local = peer->local;
	int i;

	if (!local || !local->table.buckets)
		return;
	for (i = 0; i < 3; i++) {
		struct ferry_noise_index_entry *e = &peer->index_entries[i];

		if (peer->slots[i].valid)
			index_link(local, e, peer->slots[i].local_index);
		else
			index_unlink(local, e);
	}
	if (peer->hs.pending)
		index_link(local, &peer->index_entries[3], peer->hs.local_index);
	else
		index_unlink(local, &peer->index_entries[3]);
}

static void key_link(struct ferry_noise_local *local, struct ferry_noise_peer *peer)
{
	struct ferry_noise_peer **head =
	    &local->table.by_key[key_bucket(local, peer->remote_static)];

	peer->next_by_key = *head;
	*head = peer;
}

/* New bucket arrays for at least `peers` peers; every linked peer re-linked. */
static int table_grow(struct ferry_noise_local *local, size_t peers)
{
	struct ferry_noise_table *t = &local->table;
	struct ferry_noise_peer **by_key;
	struct ferry_noise_index_entry **by_index;
	struct ferry_noise_peer *p;
	size_t buckets = t->buckets ? t->buckets : TABLE_MIN_BUCKETS;
	int i;

	while (buckets < peers)
		buckets *= 2;
	if (buckets == t->buckets)
		return 0;
	/* arrays of bucket heads: pointers, as the sizes say */
	by_key = calloc(buckets, sizeof(*by_key)); // NOLINT(bugprone-sizeof-expression)
	// NOLINTNEXTLINE(bugprone-sizeof-expression)
	by_index = calloc(buckets * (size_t)INDEX_PER_KEY_BUCKETS, sizeof(*by_index));
	if (!by_key || !by_index) {
		free(by_key);
		free(by_index);
		return -ENOMEM;
	}
	if (!t->buckets)
		randombytes_buf(t->hash_key, sizeof(t->hash_key));
	free(t->by_key);
	free(t->by_index);
	t->by_key = by_key;
	t->by_index = by_index;
	t->buckets = buckets;
	for (p = local->peers; p; p = p->next_peer) {
		key_link(local, p);
		for (i = 0; i < 4; i++)
			p->index_entries[i].linked = false;
		ferry_noise_table_sync(p);
	}
	return 0;
}

int ferry_noise_table_add(struct ferry_noise_local *local, struct ferry_noise_peer *peer)
{
	int err = table_grow(local, local->npeers + 1);
	int i;

	if (err)
		return err;
	for (i = 0; i < 4; i++)
		peer->index_entries[i].peer = peer;
	key_link(local, peer);
	ferry_noise_table_sync(peer);
	local->npeers++;
	return 0;
}

void ferry_noise_table_remove(struct ferry_noise_peer *peer)
{
	struct ferry_noise_local *local = peer->local;
	struct ferry_noise_peer **pp;
	int i;

	if (!local || !local->table.buckets)
		return;
	for (i = 0; i < 4; i++)
		index_unlink(local, &peer->index_entries[i]);
	for (pp = &local->table.by_key[key_bucket(local, peer->remote_static)]; *pp;
	     pp = &(*pp)->next_by_key) {
		if (*pp == peer) {
			*pp = peer->next_by_key;
			break;
		}
	}
	local->npeers--;
}

void ferry_noise_table_destroy(struct ferry_noise_local *local)
{
	free(local->table.by_key);
	free(local->table.by_index);
	memset(&local->table, 0, sizeof(local->table));
}

struct ferry_noise_peer *ferry_noise_table_by_static(const struct ferry_noise_local *local,
						     const uint8_t key[FERRY_NOISE_KEY_LEN])
{
	struct ferry_noise_peer *p;

	if (!local->table.buckets)
		return NULL;
	for (p = local->table.by_key[key_bucket(local, key)]; p; p = p->next_by_key)
		if (sodium_memcmp(p->remote_static, key, FERRY_NOISE_KEY_LEN) == 0)
			return p;
	return NULL;
}

static const struct ferry_noise_index_entry *scan(const struct ferry_noise_index_entry *e,
						  uint32_t index)
{
	for (; e; e = e->next)
		if (e->index == index)
			return e;
	return NULL;
}

const struct ferry_noise_index_entry *
ferry_noise_table_index_first(const struct ferry_noise_local *local, uint32_t index)
{
	if (!local->table.buckets)
		return NULL;
	return scan(local->table.by_index[index_bucket(local, index)], index);
}

const struct ferry_noise_index_entry *
ferry_noise_table_index_next(const struct ferry_noise_index_entry *e, uint32_t index)
{
	return scan(e->next, index);
}
