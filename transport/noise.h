/* SPDX-License-Identifier: MIT */
/*
 * The secure link's handshake and sessions: Noise IKpsk2 built from libsodium.
 *
 * Theory of operation. Each ferry has a static X25519 key pair (`ferry genkey`); peers are
 * configured by their static public keys. The initiator already knows the responder's
 * static key (the "K" of IK) and sends its own encrypted (the "I"):
 *
 *   pre-message  <- s
 *   initiation   -> e, es, s, ss, {timestamp, aead mask}
 *   response     <- e, ee, se, psk, {chosen aead}
 *
 * with HASH = BLAKE2b (64-byte output), the KDF = Noise's HKDF over HMAC-BLAKE2b (built
 * from crypto_generichash, libsodium 1.0.18 has no HKDF), DH = X25519 and the handshake's
 * own AEAD = ChaCha20-Poly1305-IETF. The optional 32-byte preshared key is mixed in at the
 * end of the response (psk2); a peer without one uses 32 zero bytes. After the response,
 * both sides split the chaining key into two session keys, one per direction. See
 * docs/crypto.md for what this guarantees and what it does not.
 *
 * Structure: a struct ferry_noise_local (our static key, cookie secret, counters, the
 * list of peers) owns struct ferry_noise_peer entries, each holding its initiator
 * handshake state and up to three sessions:
 *   current  - used to send; receives too;
 *   previous - the session current replaced; still opens datagrams that were in flight
 *              during the rotation, until it expires;
 *   next     - a responder's new session, unconfirmed until the first datagram from the
 *              initiator opens under it; then it becomes current (the responder must not
 *              send first under a session the initiator may never have completed); one
 *              never confirmed is wiped after FERRY_NOISE_HANDSHAKE_MAX_AGE_MS.
 * Data messages are routed by their receiver index: every session has a random 32-bit
 * local index that the peer puts into the messages it sends us.
 *
 * Silence: nothing on the data path ever produces a reply. A datagram that is malformed,
 * for an unknown index, expired, forged or replayed costs a counter in
 * local->stats and returns a negative errno. Only ferry_noise_handle_handshake may ask the
 * caller to send something (a response, or a cookie reply when under load).
 *
 * The module does no I/O and reads no clock: `now` is monotonic milliseconds, `realtime_ns`
 * (initiation timestamps only) is wall-clock nanoseconds since the Unix epoch. Randomness
 * (ephemeral keys, indices, cookie secrets) comes from libsodium's randombytes.
 *
 * Lifetimes: the caller owns the memory of local and peers (a peer must not move while
 * linked). A peer is linked into its local by ferry_noise_peer_init and unlinked by
 * ferry_noise_peer_remove, which wipes it. ferry_noise_local_destroy removes (and wipes)
 * every peer still linked, then itself. The local finds its peers through hash tables
 * (noise_table.c), which it allocates as peers are added.
 *
 * Where the keys live. A peer holds its keys in itself (preshared key, cached static DH,
 * the handshake's ephemeral key and chaining key, the sessions' AEAD key schedules), so
 * its caller decides where they are: ferry keeps them in guarded, locked memory
 * (transport/secret.h), the daemon's peers all in one allocation (cli/daemon/peers.c).
 * The local keeps its own (static private key, cookie secrets) in a guarded allocation
 * that ferry_noise_local_init makes and ferry_noise_local_destroy frees, since the local
 * itself is usually a member of something larger (the daemon's link set). Temporaries
 * on the stack are wiped before every return.
 */
#ifndef FERRY_TRANSPORT_NOISE_H
#define FERRY_TRANSPORT_NOISE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "transport/aead.h"
#include "transport/cookie.h"
#include "transport/pool.h"
#include "transport/ratelimit.h"
#include "transport/replay.h"
#include "transport/wire.h"

/* Session lifetime policy (milliseconds, messages). */
#define FERRY_NOISE_REKEY_AFTER_TIME_MS		 120000ULL /* initiator starts a new handshake */
#define FERRY_NOISE_REKEY_RESPONDER_SLACK_MS	 30000ULL  /* responder steps in this much later */
#define FERRY_NOISE_REJECT_AFTER_TIME_MS	 180000ULL /* session unusable in both directions */
#define FERRY_NOISE_REKEY_AFTER_MESSAGES	 (1ULL << 60)
#define FERRY_NOISE_REJECT_AFTER_MESSAGES	 (UINT64_MAX - FERRY_REPLAY_WINDOW - 1)
#define FERRY_NOISE_HANDSHAKE_MAX_AGE_MS	 90000ULL /* a pending initiation is forgotten */
#define FERRY_NOISE_INITIATION_MIN_GAP_MS	 20ULL	  /* per peer, after a valid initiation */
/* AES-256-GCM's own message limits, far below the defaults: with 96-bit counter nonces
 * and datagrams of at most 2^7 blocks, 2^28 messages under one key keep an attacker's
 * advantage against confidentiality near 2^-57 (the bound of the CFRG's AEAD usage limits
 * draft, q * (l + 1) <= 2^36). ChaCha20-Poly1305 keeps the defaults. At 120 s per session
 * neither is reached below two million datagrams a second. */
#define FERRY_NOISE_AESGCM_REKEY_AFTER_MESSAGES	 (1ULL << 28)
#define FERRY_NOISE_AESGCM_REJECT_AFTER_MESSAGES (1ULL << 29)
/* Initiation timestamps carry nanoseconds rounded down to this (2^24 ns, 16.8 ms). */
#define FERRY_TIMESTAMP_GRAIN_NS		 (1U << 24)

struct ferry_noise_stats {
	/* data path: each drop reason, never a reply */
	uint64_t data_ok;
	uint64_t data_malformed;
	uint64_t data_unknown_index;
	uint64_t data_expired;
	uint64_t data_auth_failed;
	uint64_t data_replayed;
	/* handshake path */
	uint64_t hs_malformed;
	uint64_t hs_bad_mac1;
	uint64_t hs_cookie_sent;    /* under load, no valid mac2: cookie reply instead */
	uint64_t hs_unknown;	    /* unknown static key or index, or no pending handshake */
	uint64_t hs_auth_failed;    /* failed DH or decryption */
	uint64_t hs_replayed;	    /* initiation timestamp not newer than the last one */
	uint64_t hs_rate_limited;   /* an initiation sooner than the peer's minimum gap */
	uint64_t hs_source_limited; /* under load, over its source address's rate */
	uint64_t hs_initiations_ok;
	uint64_t hs_responses_ok;
	uint64_t cookie_replies_ok;
	uint64_t cookie_replies_bad;
};

enum ferry_noise_role {
	FERRY_NOISE_INITIATOR,
	FERRY_NOISE_RESPONDER,
};

struct ferry_noise_session {
	struct ferry_aead_key send;
	struct ferry_aead_key recv;
	struct ferry_replay replay;
	uint64_t send_counter; /* next counter to send */
	uint64_t created_ms;
	uint64_t rekey_after_messages; /* copied from the local config */
	uint64_t reject_after_messages;
	uint32_t local_index;  /* what the peer writes into data for us */
	uint32_t remote_index; /* what we write into data for the peer */
	enum ferry_noise_role role;
	bool valid;
};

struct ferry_noise_symmetric {
	uint8_t ck[FERRY_NOISE_HASH_LEN];
	uint8_t h[FERRY_NOISE_HASH_LEN];
	uint8_t k[FERRY_NOISE_KEY_LEN];
};

/* The initiator's half-finished handshake with one peer. */
struct ferry_noise_handshake {
	struct ferry_noise_symmetric sym;
	uint8_t ephemeral_private[FERRY_NOISE_KEY_LEN];
	uint64_t created_ms;
	uint32_t local_index;
	uint32_t aead_mask; /* what we offered */
	bool pending;	    /* an initiation was sent, no response yet */
};

struct ferry_noise_local;
struct ferry_noise_peer;

/* A peer's place in its local's table by index (noise_table.c): one per session slot, one
 * for the pending handshake. */
struct ferry_noise_index_entry {
	struct ferry_noise_index_entry *next; /* the bucket's chain */
	struct ferry_noise_peer *peer;
	uint32_t index;
	bool linked;
};

struct ferry_noise_peer {
	struct ferry_noise_peer *next_peer;		 /* local's list */
	struct ferry_noise_peer *next_by_key;		 /* the key table's bucket chain */
	struct ferry_noise_index_entry index_entries[4]; /* slots[0..2], then hs */
	struct ferry_noise_local *local;
	uint8_t remote_static[FERRY_NOISE_KEY_LEN];
	uint8_t psk[FERRY_NOISE_KEY_LEN];	    /* zero when none is configured */
	uint8_t static_static[FERRY_NOISE_KEY_LEN]; /* DH(our static, their static), cached */
	struct ferry_cookie_maker cookie;	    /* mac1/mac2 on what we send this peer */
	struct ferry_noise_handshake hs;
	uint8_t latest_timestamp[FERRY_TIMESTAMP_LEN]; /* greatest accepted from this peer */
	uint64_t last_initiation_ms;		       /* when we last accepted one */
	bool have_initiation;
	uint32_t response_index; /* sender index of our last response (for cookie replies) */
	struct ferry_noise_session *current, *previous, *next;
	struct ferry_noise_session slots[3];
};

struct ferry_noise_config {
	uint8_t static_private[FERRY_NOISE_KEY_LEN];
	uint32_t aead_mask;		/* algorithms we offer/accept; 0 = all available */
	uint64_t rekey_after_messages;	/* 0 = FERRY_NOISE_REKEY_AFTER_MESSAGES */
	uint64_t reject_after_messages; /* 0 = FERRY_NOISE_REJECT_AFTER_MESSAGES */
};

/* The peers by static key and by local index (noise_table.c). */
struct ferry_noise_table {
	struct ferry_noise_peer **by_key;
	struct ferry_noise_index_entry **by_index; /* INDEX_PER_KEY_BUCKETS times as many */
	size_t buckets;	      /* of by_key; a power of two, 0 before any peer */
	uint8_t hash_key[16]; /* SipHash's, random */
};

/* The local's secrets, in guarded memory of their own (transport/secret.h). */
struct ferry_noise_local_secret {
	uint8_t static_private[FERRY_NOISE_KEY_LEN];
	struct ferry_cookie_checker cookie; /* mac1/mac2 on what we receive: its secrets */
};

struct ferry_noise_local {
	struct ferry_noise_local_secret *secret; /* NULL before init and after destroy */
	uint8_t static_public[FERRY_NOISE_KEY_LEN];
	struct ferry_noise_peer *peers;
	size_t npeers;
	struct ferry_noise_table table;
	uint32_t aead_mask;
	uint64_t rekey_after_messages;
	uint64_t reject_after_messages;
	bool under_load; /* set by the caller: require a valid mac2 before any DH */
	/* under load, the handshakes each source address may have (the caller's; NULL: no
	 * limit): an initiation over its rate is dropped after the mac2 check, before any DH */
	struct ferry_ratelimit *ratelimit;
	/* written into the reserved payload bytes of the handshake messages we make: 0 on the
	 * wire; tests set it to show that a peer refuses anything else */
	uint8_t reserved_fill;
	struct ferry_noise_stats stats;
};

/* Makes a new static key pair (what `ferry genkey` stores). Returns 0 or -EIO. */
int ferry_noise_keygen(uint8_t private_key[FERRY_NOISE_KEY_LEN],
		       uint8_t public_key[FERRY_NOISE_KEY_LEN]);

/* Derives the public key of a static private key. Returns 0, -EINVAL if the result is
 * unusable (all zero), -EIO. */
int ferry_noise_public_key(const uint8_t private_key[FERRY_NOISE_KEY_LEN],
			   uint8_t public_key[FERRY_NOISE_KEY_LEN]);

/* Sets up local from cfg (copies the key into local->secret, guarded memory). Returns 0,
 * -EINVAL for a bad key, unknown bits in aead_mask or rekey_after_messages above
 * reject_after_messages, -ENOTSUP if aead_mask asks for an algorithm this CPU lacks, -EIO
 * if libsodium fails to initialise, -ENOMEM without guarded memory. */
int ferry_noise_local_init(struct ferry_noise_local *local, const struct ferry_noise_config *cfg);

/* Removes and wipes every linked peer, then frees local->secret (wiped) and wipes local.
 * Safe on a zeroed local. */
void ferry_noise_local_destroy(struct ferry_noise_local *local);

/* Initialises peer for remote_static (and psk, NULL for none) and links it into local.
 * Returns 0, -EINVAL for our own key or a key that gives an all-zero DH, -EEXIST if a peer
 * with that key is already linked, -ENOMEM if local's tables cannot grow. */
int ferry_noise_peer_init(struct ferry_noise_local *local, struct ferry_noise_peer *peer,
			  const uint8_t remote_static[FERRY_NOISE_KEY_LEN],
			  const uint8_t psk[FERRY_NOISE_KEY_LEN]);

/* Unlinks peer from its local and wipes all its keys. Safe to call twice. */
void ferry_noise_peer_remove(struct ferry_noise_peer *peer);

/* Writes a handshake initiation to peer into out, replacing any pending one. realtime_ns
 * is the wall clock (the responder rejects timestamps not newer than the last it
 * accepted, so it must grow across restarts). Returns 0, -EIO. */
int ferry_noise_create_initiation(struct ferry_noise_peer *peer, uint64_t now, uint64_t realtime_ns,
				  uint8_t out[FERRY_MSG_INITIATION_LEN]);

/*
 * Processes one handshake message (initiation, response or cookie reply) that arrived
 * from src (the source address's bytes followed by its port's two: cookies bind to all of
 * it, the rate limit under load to the address). Sets *reply_len
 * to the size of a message written into reply (which must have room for
 * FERRY_NOISE_MAX_REPLY_LEN bytes, whatever the message type) that the caller must send back
 * to src, 0 when there is nothing to send; *peer_out
 * (may be NULL) to the peer concerned on success.
 * Returns 0: initiation accepted (response in reply, new session in peer->next),
 *            response accepted (new current session; the caller should send data or a
 *            keepalive now so that the responder can confirm it),
 *            cookie reply accepted (the next handshake message to that peer carries mac2);
 *   -EBUSY: under load without a valid mac2; a cookie reply is in reply;
 *   other negative errno, nothing to send (counted): -EPROTO malformed, -EACCES bad mac1,
 *   -ENOENT unknown peer/index or no pending handshake, -EBADMSG authentication failed,
 *   -EALREADY replayed timestamp, -EAGAIN initiations too frequent (from the peer, or
 *   under load from the source address), -ENOTSUP no common algorithm.
 */
int ferry_noise_handle_handshake(struct ferry_noise_local *local, uint64_t now, const uint8_t *src,
				 size_t src_len, const uint8_t *msg, size_t len, uint8_t *reply,
				 size_t *reply_len, struct ferry_noise_peer **peer_out);

/* Seals buf's payload in place into a data message under peer's current session: pushes
 * FERRY_DATA_HEADER_LEN bytes of header and appends the tag. Returns 0, -ENOKEY when there
 * is no current session, -EKEYEXPIRED when it is too old or used up (start a handshake),
 * -ENOSPC without enough headroom or tailroom (buf unchanged). */
int ferry_noise_seal(struct ferry_noise_peer *peer, uint64_t now, struct ferry_buf *buf);

/* Opens the data message in buf in place: on success buf holds the payload (possibly
 * empty, a keepalive) and *peer_out the sending peer; a next session that opens becomes
 * current. Never produces a reply. Returns 0 or (counted in local->stats): -EPROTO
 * malformed, -ENOENT unknown receiver index, -EKEYEXPIRED expired session, -EBADMSG
 * authentication failed, -EALREADY duplicate, -ESTALE older than the replay window. */
int ferry_noise_open(struct ferry_noise_local *local, uint64_t now, struct ferry_buf *buf,
		     struct ferry_noise_peer **peer_out);

/* True when the session should be replaced by a new handshake: the initiator after
 * REKEY_AFTER_TIME, the responder REKEY_RESPONDER_SLACK later, or once
 * rekey_after_messages datagrams were sent. */
bool ferry_noise_session_should_rekey(const struct ferry_noise_session *session, uint64_t now);

/* True when the session may no longer send or receive (REJECT_AFTER_TIME, or the
 * counter limit). */
bool ferry_noise_session_expired(const struct ferry_noise_session *session, uint64_t now);

/* True when the caller should start a handshake with peer: no usable current session, or
 * it should rekey, and no initiation is pending younger than retry_ms. */
bool ferry_noise_peer_wants_handshake(const struct ferry_noise_peer *peer, uint64_t now,
				      uint64_t retry_ms);

/* Wipes peer's expired sessions, a next session never confirmed and a pending handshake
 * past FERRY_NOISE_HANDSHAKE_MAX_AGE_MS. */
void ferry_noise_peer_expire(struct ferry_noise_peer *peer, uint64_t now);

/* When ferry_noise_peer_expire next has something to wipe (<= now: at once), UINT64_MAX
 * when nothing: the caller's timer runs then, so keys leave memory on time. */
uint64_t ferry_noise_peer_next_expiry(const struct ferry_noise_peer *peer);

#endif
