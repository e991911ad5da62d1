// SPDX-License-Identifier: MIT
/*
 * Sessions and the data path of the secure link (theory in noise.h): the lifetime policy
 * of a session (rekey, expiry), the rotation current <- next, and sealing and opening
 * data messages in place. Sessions are made by the handshake in noise.c.
 *
 * Opening checks are ordered by cost and by what they may change: parse, find the session
 * by receiver index, expiry, a read-only replay check (cheap early out), authentication,
 * and only then the replay window moves -- a forged datagram never changes any state.
 */
#include "transport/noise.h"
#include "transport/noise_internal.h"

#include <errno.h>
#include <string.h>

#include <sodium.h>

void ferry_noise_session_drop(struct ferry_noise_session **slot)
{
	if (*slot) {
		sodium_memzero(*slot, sizeof(**slot));
		*slot = NULL;
	}
}

void ferry_noise_handshake_clear(struct ferry_noise_handshake *hs)
{
	sodium_memzero(hs, sizeof(*hs));
}

/* -------------------------------- sessions -------------------------------------- */

bool ferry_noise_session_expired(const struct ferry_noise_session *session, uint64_t now)
{
	return !session->valid || now - session->created_ms >= FERRY_NOISE_REJECT_AFTER_TIME_MS ||
	       now < session->created_ms || session->send_counter >= session->reject_after_messages;
}

bool ferry_noise_session_should_rekey(const struct ferry_noise_session *session, uint64_t now)
{
	uint64_t after = FERRY_NOISE_REKEY_AFTER_TIME_MS;

	if (!session->valid)
		return true;
	if (session->send_counter >= session->rekey_after_messages)
		return true;
	if (session->role == FERRY_NOISE_RESPONDER)
		after += FERRY_NOISE_REKEY_RESPONDER_SLACK_MS;
	return now - session->created_ms >= after;
}

bool ferry_noise_peer_wants_handshake(const struct ferry_noise_peer *peer, uint64_t now,
				      uint64_t retry_ms)
{
	if (peer->hs.pending && now - peer->hs.created_ms < retry_ms)
		return false;
	return !peer->current || ferry_noise_session_expired(peer->current, now) ||
	       ferry_noise_session_should_rekey(peer->current, now);
}

/* An unconfirmed next session lives no longer than a pending handshake: an initiator
 * that has not used it by then never will. */
static bool next_expired(const struct ferry_noise_session *next, uint64_t now)
{
	return ferry_noise_session_expired(next, now) ||
	       now - next->created_ms >= FERRY_NOISE_HANDSHAKE_MAX_AGE_MS;
}

void ferry_noise_peer_expire(struct ferry_noise_peer *peer, uint64_t now)
{
	if (peer->current && ferry_noise_session_expired(peer->current, now))
		ferry_noise_session_drop(&peer->current);
	if (peer->previous && ferry_noise_session_expired(peer->previous, now))
		ferry_noise_session_drop(&peer->previous);
	if (peer->next && next_expired(peer->next, now))
		ferry_noise_session_drop(&peer->next);
	if (peer->hs.pending && now - peer->hs.created_ms >= FERRY_NOISE_HANDSHAKE_MAX_AGE_MS)
		ferry_noise_handshake_clear(&peer->hs);
	ferry_noise_table_sync(peer);
}

/* When a session turns expired by time, after `age` (0: it is already, by its counter). */
static uint64_t session_expiry(const struct ferry_noise_session *s, uint64_t age)
{
	if (!s->valid || s->send_counter >= s->reject_after_messages)
		return 0;
	return s->created_ms + age;
}

static uint64_t min64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

uint64_t ferry_noise_peer_next_expiry(const struct ferry_noise_peer *peer)
{
	uint64_t t = UINT64_MAX;

	if (peer->current)
		t = min64(t, session_expiry(peer->current, FERRY_NOISE_REJECT_AFTER_TIME_MS));
	if (peer->previous)
		t = min64(t, session_expiry(peer->previous, FERRY_NOISE_REJECT_AFTER_TIME_MS));
	if (peer->next)
		t = min64(t, session_expiry(peer->next, FERRY_NOISE_HANDSHAKE_MAX_AGE_MS));
	if (peer->hs.pending)
		t = min64(t, peer->hs.created_ms + FERRY_NOISE_HANDSHAKE_MAX_AGE_MS);
	return t;
}

/* The next session opened a datagram: the initiator has it, so it becomes current. */
static void session_confirm_next(struct ferry_noise_peer *peer)
{
	ferry_noise_session_drop(&peer->previous);
	peer->previous = peer->current;
	peer->current = peer->next;
	peer->next = NULL;
}

/* -------------------------------- data path ------------------------------------- */

int ferry_noise_seal(struct ferry_noise_peer *peer, uint64_t now, struct ferry_buf *buf)
{
	struct ferry_noise_session *s = peer->current;
	uint32_t payload_len = buf->len;
	uint8_t *msg;

	if (!s)
		return -ENOKEY;
	if (ferry_noise_session_expired(s, now))
		return -EKEYEXPIRED;
	if (ferry_buf_headroom(buf) < FERRY_DATA_HEADER_LEN ||
	    ferry_buf_tailroom(buf) < FERRY_AEAD_TAG_LEN)
		return -ENOSPC;
	msg = ferry_buf_push(buf, FERRY_DATA_HEADER_LEN);
	ferry_buf_put(buf, FERRY_AEAD_TAG_LEN);
	if (ferry_aead_data_seal(&s->send, s->remote_index, s->send_counter, msg, payload_len)) {
		ferry_buf_pull(buf, FERRY_DATA_HEADER_LEN);
		buf->len = payload_len;
		return -EIO;
	}
	s->send_counter++;
	return 0;
}

/* The session of local index `index`, and its peer: found in the table by index, checked
 * against the peer (an entry may be stale), and only a session a role points at. */
static struct ferry_noise_session *session_by_index(struct ferry_noise_local *local, uint32_t index,
						    struct ferry_noise_peer **peer_out)
{
	const struct ferry_noise_index_entry *e;

	for (e = ferry_noise_table_index_first(local, index); e;
	     e = ferry_noise_table_index_next(e, index)) {
		struct ferry_noise_peer *p = e->peer;
		struct ferry_noise_session *cand[3] = {p->current, p->previous, p->next};
		int i;

		for (i = 0; i < 3; i++) {
			if (cand[i] && cand[i]->local_index == index) {
				*peer_out = p;
				return cand[i];
			}
		}
	}
	return NULL;
}

int ferry_noise_open(struct ferry_noise_local *local, uint64_t now, struct ferry_buf *buf,
		     struct ferry_noise_peer **peer_out)
{
	struct ferry_noise_session *s;
	struct ferry_noise_peer *peer = NULL;
	uint32_t index;
	uint64_t counter;
	int err;

	if (ferry_aead_data_parse(buf->data, buf->len, &index, &counter) != 0) {
		local->stats.data_malformed++;
		return -EPROTO;
	}
	s = session_by_index(local, index, &peer);
	if (!s) {
		local->stats.data_unknown_index++;
		return -ENOENT;
	}
	if (ferry_noise_session_expired(s, now) || counter >= s->reject_after_messages) {
		local->stats.data_expired++;
		return -EKEYEXPIRED;
	}
	/* Cheap early out for replays; the window itself moves only after authentication. */
	err = ferry_replay_check(&s->replay, counter);
	if (err)
		goto replayed;
	if (ferry_aead_data_open(&s->recv, buf->data, buf->len) != 0) {
		local->stats.data_auth_failed++;
		return -EBADMSG;
	}
	err = ferry_replay_accept(&s->replay, counter);
	if (err)
		goto replayed;
	if (s == peer->next)
		session_confirm_next(peer);
	ferry_buf_pull(buf, FERRY_DATA_HEADER_LEN);
	buf->len -= FERRY_AEAD_TAG_LEN;
	local->stats.data_ok++;
	if (peer_out)
		*peer_out = peer;
	return 0;

replayed:
	local->stats.data_replayed++;
	return err;
}
