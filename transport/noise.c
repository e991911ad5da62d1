// SPDX-License-Identifier: MIT
/*
 * Noise IKpsk2: keys, peers and the handshake (theory in noise.h; the protocol and its
 * guarantees in docs/crypto.md). Sessions and the data path are in session.c.
 *
 * Symmetric state, as in the Noise specification (revision 34), section 5.2, with
 * HASH = BLAKE2b (HASHLEN 64, BLOCKLEN 128) and the handshake cipher ChaChaPoly:
 *   MixHash(data):        h = HASH(h || data)
 *   MixKey(ikm):          ck, k = HKDF(ck, ikm, 2)         (k truncated to 32 bytes)
 *   MixKeyAndHash(ikm):   ck, t, k = HKDF(ck, ikm, 3); MixHash(t)
 *   EncryptAndHash(p):    c = ENCRYPT(k, n = 0, ad = h, p); MixHash(c)
 * Every key in this handshake encrypts exactly one message (each MixKey resets the
 * nonce), so the nonce is always 0. HKDF is RFC 5869 with HMAC-BLAKE2b (RFC 2104 over
 * crypto_generichash), exactly as Noise defines it.
 *
 * The order of checks on a received handshake message is chosen by cost: exact size and
 * type, then mac1 (one BLAKE2b), then the cookie when under load, and only then X25519.
 * Every failure wipes the temporaries and leaves the peer's state as it was: a forged
 * response does not destroy a pending handshake, a forged initiation does not touch the
 * sessions or the stored timestamp.
 */
#include "transport/noise.h"
#include "transport/noise_internal.h"
#include "transport/secret.h"

#include <endian.h>
#include <errno.h>
#include <string.h>

static const char noise_protocol_name[] = "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2b";
static const char noise_prologue[] = "ferry secure link v1";

enum {
	BLAKE2B_BLOCK_LEN = 128,
};

/* ---------------------------- Noise symmetric state ---------------------------- */

static void hmac_blake2b(uint8_t out[FERRY_NOISE_HASH_LEN], const uint8_t *key, size_t key_len,
			 const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
	uint8_t pad[BLAKE2B_BLOCK_LEN], inner[FERRY_NOISE_HASH_LEN];
	crypto_generichash_state st;
	size_t i;

	/* Keys here are at most HASHLEN long, never longer than a block: each pad is its
	 * constant with the key XORed into its first bytes. */
	memset(pad, 0x36, sizeof(pad));
	for (i = 0; i < key_len; i++)
		pad[i] ^= key[i];
	crypto_generichash_init(&st, NULL, 0, FERRY_NOISE_HASH_LEN);
	crypto_generichash_update(&st, pad, sizeof(pad));
	crypto_generichash_update(&st, a, a_len);
	if (b_len)
		crypto_generichash_update(&st, b, b_len);
	crypto_generichash_final(&st, inner, sizeof(inner));

	memset(pad, 0x5c, sizeof(pad));
	for (i = 0; i < key_len; i++)
		pad[i] ^= key[i];
	crypto_generichash_init(&st, NULL, 0, FERRY_NOISE_HASH_LEN);
	crypto_generichash_update(&st, pad, sizeof(pad));
	crypto_generichash_update(&st, inner, sizeof(inner));
	crypto_generichash_final(&st, out, FERRY_NOISE_HASH_LEN);

	sodium_memzero(pad, sizeof(pad));
	sodium_memzero(inner, sizeof(inner));
	sodium_memzero(&st, sizeof(st));
}

/* HKDF(ck, ikm) with two or three outputs of HASHLEN bytes; out3 may be NULL. */
static void hkdf(uint8_t out1[FERRY_NOISE_HASH_LEN], uint8_t out2[FERRY_NOISE_HASH_LEN],
		 uint8_t out3[FERRY_NOISE_HASH_LEN], const uint8_t ck[FERRY_NOISE_HASH_LEN],
		 const uint8_t *ikm, size_t ikm_len)
{
	uint8_t prk[FERRY_NOISE_HASH_LEN], t[FERRY_NOISE_HASH_LEN];
	uint8_t ctr;

	hmac_blake2b(prk, ck, FERRY_NOISE_HASH_LEN, ikm, ikm_len, NULL, 0);
	ctr = 1;
	hmac_blake2b(t, prk, sizeof(prk), &ctr, 1, NULL, 0);
	memcpy(out1, t, sizeof(t));
	ctr = 2;
	hmac_blake2b(t, prk, sizeof(prk), out1, FERRY_NOISE_HASH_LEN, &ctr, 1);
	memcpy(out2, t, sizeof(t));
	if (out3) {
		ctr = 3;
		hmac_blake2b(t, prk, sizeof(prk), out2, FERRY_NOISE_HASH_LEN, &ctr, 1);
		memcpy(out3, t, sizeof(t));
	}
	sodium_memzero(prk, sizeof(prk));
	sodium_memzero(t, sizeof(t));
}

static void mix_hash(struct ferry_noise_symmetric *sym, const uint8_t *data, size_t len)
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, FERRY_NOISE_HASH_LEN);
	crypto_generichash_update(&st, sym->h, sizeof(sym->h));
	crypto_generichash_update(&st, data, len);
	crypto_generichash_final(&st, sym->h, sizeof(sym->h));
	sodium_memzero(&st, sizeof(st)); /* its buffer: data, which may be HKDF output */
}

static void mix_key(struct ferry_noise_symmetric *sym, const uint8_t *ikm, size_t len)
{
	uint8_t k[FERRY_NOISE_HASH_LEN];

	hkdf(sym->ck, k, NULL, sym->ck, ikm, len);
	memcpy(sym->k, k, sizeof(sym->k));
	sodium_memzero(k, sizeof(k));
}

static void mix_key_and_hash(struct ferry_noise_symmetric *sym, const uint8_t *ikm, size_t len)
{
	uint8_t t[FERRY_NOISE_HASH_LEN], k[FERRY_NOISE_HASH_LEN];

	hkdf(sym->ck, t, k, sym->ck, ikm, len);
	mix_hash(sym, t, sizeof(t));
	memcpy(sym->k, k, sizeof(sym->k));
	sodium_memzero(t, sizeof(t));
	sodium_memzero(k, sizeof(k));
}

static void encrypt_and_hash(struct ferry_noise_symmetric *sym, const uint8_t *pt, size_t len,
			     uint8_t *out)
{
	uint8_t nonce[crypto_aead_chacha20poly1305_IETF_NPUBBYTES] = {0};

	crypto_aead_chacha20poly1305_ietf_encrypt(out, NULL, pt, len, sym->h, sizeof(sym->h), NULL,
						  nonce, sym->k);
	mix_hash(sym, out, len + FERRY_AEAD_TAG_LEN);
}

static int decrypt_and_hash(struct ferry_noise_symmetric *sym, const uint8_t *ct, size_t len,
			    uint8_t *out)
{
	uint8_t nonce[crypto_aead_chacha20poly1305_IETF_NPUBBYTES] = {0};

	if (crypto_aead_chacha20poly1305_ietf_decrypt(out, NULL, NULL, ct, len, sym->h,
						      sizeof(sym->h), nonce, sym->k) != 0)
		return -EBADMSG;
	mix_hash(sym, ct, len);
	return 0;
}

/* Initialize(protocol name), MixHash(prologue), MixHash(responder's static key). */
static void symmetric_init(struct ferry_noise_symmetric *sym,
			   const uint8_t responder_static[FERRY_NOISE_KEY_LEN])
{
	memset(sym, 0, sizeof(*sym));
	_Static_assert(sizeof(noise_protocol_name) - 1 <= FERRY_NOISE_HASH_LEN, "name fits");
	memcpy(sym->h, noise_protocol_name, sizeof(noise_protocol_name) - 1);
	memcpy(sym->ck, sym->h, sizeof(sym->ck));
	mix_hash(sym, (const uint8_t *)noise_prologue, sizeof(noise_prologue) - 1);
	mix_hash(sym, responder_static, FERRY_NOISE_KEY_LEN);
}

/* X25519 that refuses an all-zero result (a low-order public key). */
static int dh(uint8_t out[FERRY_NOISE_KEY_LEN], const uint8_t private_key[FERRY_NOISE_KEY_LEN],
	      const uint8_t public_key[FERRY_NOISE_KEY_LEN])
{
	if (crypto_scalarmult(out, private_key, public_key) != 0 ||
	    sodium_is_zero(out, FERRY_NOISE_KEY_LEN)) {
		sodium_memzero(out, FERRY_NOISE_KEY_LEN);
		return -EBADMSG;
	}
	return 0;
}

/* MixKey(DH(private, public)). */
static int mix_dh(struct ferry_noise_symmetric *sym, const uint8_t *private_key,
		  const uint8_t *public_key)
{
	uint8_t shared[FERRY_NOISE_KEY_LEN];
	int err = dh(shared, private_key, public_key);

	if (!err)
		mix_key(sym, shared, sizeof(shared));
	sodium_memzero(shared, sizeof(shared));
	return err;
}

/* ------------------------------- keys and peers -------------------------------- */

int ferry_noise_public_key(const uint8_t private_key[FERRY_NOISE_KEY_LEN],
			   uint8_t public_key[FERRY_NOISE_KEY_LEN])
{
	if (ferry_aead_global_init() != 0)
		return -EIO;
	if (crypto_scalarmult_base(public_key, private_key) != 0 ||
	    sodium_is_zero(public_key, FERRY_NOISE_KEY_LEN))
		return -EINVAL;
	return 0;
}

int ferry_noise_keygen(uint8_t private_key[FERRY_NOISE_KEY_LEN],
		       uint8_t public_key[FERRY_NOISE_KEY_LEN])
{
	if (ferry_aead_global_init() != 0)
		return -EIO;
	randombytes_buf(private_key, FERRY_NOISE_KEY_LEN);
	/* Clamp as X25519 does anyway, so the stored key is canonical. */
	private_key[0] &= 248;
	private_key[31] = (private_key[31] & 127) | 64;
	return ferry_noise_public_key(private_key, public_key) == 0 ? 0 : -EIO;
}

int ferry_noise_local_init(struct ferry_noise_local *local, const struct ferry_noise_config *cfg)
{
	uint32_t available;
	int err;

	memset(local, 0, sizeof(*local));
	if (ferry_aead_global_init() != 0)
		return -EIO;
	available = ferry_aead_available();
	local->aead_mask = cfg->aead_mask ? cfg->aead_mask : available;
	if (local->aead_mask & ~FERRY_AEAD_MASK_ALL)
		return -EINVAL;
	if (local->aead_mask & ~available)
		return -ENOTSUP;
	err = ferry_noise_public_key(cfg->static_private, local->static_public);
	if (err)
		return err;
	local->rekey_after_messages = cfg->rekey_after_messages ? cfg->rekey_after_messages
								: FERRY_NOISE_REKEY_AFTER_MESSAGES;
	local->reject_after_messages = cfg->reject_after_messages
					   ? cfg->reject_after_messages
					   : FERRY_NOISE_REJECT_AFTER_MESSAGES;
	if (!cfg->rekey_after_messages &&
	    local->rekey_after_messages > local->reject_after_messages)
		local->rekey_after_messages = local->reject_after_messages; /* the default: below */
	if (local->rekey_after_messages > local->reject_after_messages) {
		sodium_memzero(local, sizeof(*local));
		return -EINVAL; /* a session would be refused before it asked for a new one */
	}
	local->secret = ferry_secret_alloc(sizeof(*local->secret));
	if (!local->secret) {
		sodium_memzero(local, sizeof(*local));
		return -ENOMEM;
	}
	memcpy(local->secret->static_private, cfg->static_private, FERRY_NOISE_KEY_LEN);
	ferry_cookie_checker_init(&local->secret->cookie, local->static_public);
	return 0;
}

void ferry_noise_local_destroy(struct ferry_noise_local *local)
{
	while (local->peers)
		ferry_noise_peer_remove(local->peers);
	ferry_noise_table_destroy(local);
	ferry_secret_free(local->secret); /* wipes it */
	sodium_memzero(local, sizeof(*local));
}

int ferry_noise_peer_init(struct ferry_noise_local *local, struct ferry_noise_peer *peer,
			  const uint8_t remote_static[FERRY_NOISE_KEY_LEN],
			  const uint8_t psk[FERRY_NOISE_KEY_LEN])
{
	int err;

	memset(peer, 0, sizeof(*peer));
	if (sodium_memcmp(remote_static, local->static_public, FERRY_NOISE_KEY_LEN) == 0)
		return -EINVAL;
	if (ferry_noise_table_by_static(local, remote_static))
		return -EEXIST;
	if (dh(peer->static_static, local->secret->static_private, remote_static) != 0) {
		sodium_memzero(peer, sizeof(*peer));
		return -EINVAL;
	}
	memcpy(peer->remote_static, remote_static, FERRY_NOISE_KEY_LEN);
	if (psk)
		memcpy(peer->psk, psk, FERRY_NOISE_KEY_LEN);
	ferry_cookie_maker_init(&peer->cookie, remote_static);
	peer->local = local;
	err = ferry_noise_table_add(local, peer);
	if (err) {
		sodium_memzero(peer, sizeof(*peer));
		return err;
	}
	peer->next_peer = local->peers;
	local->peers = peer;
	return 0;
}

void ferry_noise_peer_remove(struct ferry_noise_peer *peer)
{
	if (peer->local) {
		struct ferry_noise_peer **pp;

		ferry_noise_table_remove(peer);
		for (pp = &peer->local->peers; *pp; pp = &(*pp)->next_peer) {
			if (*pp == peer) {
				*pp = peer->next_peer;
				break;
			}
		}
	}
	sodium_memzero(peer, sizeof(*peer));
}

/* Is index in use by any session or pending handshake of local? */
static bool index_in_use(const struct ferry_noise_local *local, uint32_t index)
{
	const struct ferry_noise_peer *p;
	int i;

	for (p = local->peers; p; p = p->next_peer) {
		if (p->hs.pending && p->hs.local_index == index)
			return true;
		for (i = 0; i < 3; i++)
			if (p->slots[i].valid && p->slots[i].local_index == index)
				return true;
	}
	return false;
}

/* A fresh random local index. Collisions are a 2^-32 event per live index; the loop is
 * bounded and falls back to a value that is merely unlikely to collide. */
static uint32_t new_index(const struct ferry_noise_local *local)
{
	uint32_t index = 0;
	int tries;

	for (tries = 0; tries < 16; tries++) {
		index = randombytes_random();
		if (!index_in_use(local, index))
			break;
	}
	return index;
}

/* A slot that no role points at. There are three slots and three roles, and callers
 * drop the session they replace first, so one is always free. */
static struct ferry_noise_session *session_slot(struct ferry_noise_peer *peer)
{
	int i;

	for (i = 0; i < 3; i++) {
		struct ferry_noise_session *s = &peer->slots[i];

		if (s != peer->current && s != peer->previous && s != peer->next)
			return s;
	}
	return NULL;
}

/* Split() into a new session. Initiator sends with the first key. */
static int session_derive(struct ferry_noise_session *s, const struct ferry_noise_local *local,
			  const struct ferry_noise_symmetric *sym, enum ferry_noise_role role,
			  enum ferry_aead_alg alg, uint32_t local_index, uint32_t remote_index,
			  uint64_t now)
{
	uint8_t k1[FERRY_NOISE_HASH_LEN], k2[FERRY_NOISE_HASH_LEN];
	int err;

	memset(s, 0, sizeof(*s));
	hkdf(k1, k2, NULL, sym->ck, NULL, 0);
	err = ferry_aead_key_init(&s->send, alg, role == FERRY_NOISE_INITIATOR ? k1 : k2);
	if (!err)
		err = ferry_aead_key_init(&s->recv, alg, role == FERRY_NOISE_INITIATOR ? k2 : k1);
	sodium_memzero(k1, sizeof(k1));
	sodium_memzero(k2, sizeof(k2));
	if (err) {
		sodium_memzero(s, sizeof(*s));
		return err;
	}
	ferry_replay_init(&s->replay);
	s->created_ms = now;
	s->rekey_after_messages = local->rekey_after_messages;
	s->reject_after_messages = local->reject_after_messages;
	if (alg == FERRY_AEAD_AES256GCM) { /* the algorithm's own limits, if lower */
		if (s->rekey_after_messages > FERRY_NOISE_AESGCM_REKEY_AFTER_MESSAGES)
			s->rekey_after_messages = FERRY_NOISE_AESGCM_REKEY_AFTER_MESSAGES;
		if (s->reject_after_messages > FERRY_NOISE_AESGCM_REJECT_AFTER_MESSAGES)
			s->reject_after_messages = FERRY_NOISE_AESGCM_REJECT_AFTER_MESSAGES;
	}
	s->local_index = local_index;
	s->remote_index = remote_index;
	s->role = role;
	s->valid = true;
	return 0;
}

/* ----------------------------- timestamps --------------------------------------- */

/* TAI64N label: 2^62 + 10 + seconds (big-endian), then nanoseconds (big-endian), so that
 * memcmp orders timestamps. */
static void tai64n(uint8_t out[FERRY_TIMESTAMP_LEN], uint64_t realtime_ns)
{
	uint64_t secs = htobe64((UINT64_C(1) << 62) + 10 + realtime_ns / 1000000000u);
	/* The nanoseconds rounded down to 2^24 (16.8 ms), below the initiations' minimum
	 * gap: the clock's fine grain would tell an observer of the handshake (who can see
	 * its timing anyway) about the sender's clock and scheduling, and is of no use. */
	uint32_t nsec = htobe32((uint32_t)(realtime_ns % 1000000000u) &
				~(uint32_t)(FERRY_TIMESTAMP_GRAIN_NS - 1));

	memcpy(out, &secs, sizeof(secs));
	memcpy(out + sizeof(secs), &nsec, sizeof(nsec));
}

/* ------------------------------- handshake -------------------------------------- */

static bool header_ok(const struct ferry_msg_header *h, uint8_t type)
{
	return h->type == type && !h->reserved[0] && !h->reserved[1] && !h->reserved[2];
}

int ferry_noise_create_initiation(struct ferry_noise_peer *peer, uint64_t now, uint64_t realtime_ns,
				  uint8_t out[FERRY_MSG_INITIATION_LEN])
{
	struct ferry_noise_local *local = peer->local;
	struct ferry_noise_handshake *hs = &peer->hs;
	struct ferry_msg_initiation msg;
	uint8_t payload[FERRY_INITIATION_PAYLOAD_LEN];
	int err;

	ferry_noise_handshake_clear(hs);
	memset(&msg, 0, sizeof(msg));
	msg.header.type = FERRY_MSG_INITIATION;
	hs->local_index = new_index(local);
	msg.sender_index = htole32(hs->local_index);

	symmetric_init(&hs->sym, peer->remote_static);
	/* -> e */
	crypto_box_keypair(msg.ephemeral, hs->ephemeral_private);
	mix_hash(&hs->sym, msg.ephemeral, sizeof(msg.ephemeral));
	mix_key(&hs->sym, msg.ephemeral, sizeof(msg.ephemeral)); /* psk modifier */
	/* es */
	err = mix_dh(&hs->sym, hs->ephemeral_private, peer->remote_static);
	if (err)
		goto clear_handshake;
	/* s */
	encrypt_and_hash(&hs->sym, local->static_public, FERRY_NOISE_KEY_LEN, msg.encrypted_static);
	/* ss, cached */
	mix_key(&hs->sym, peer->static_static, sizeof(peer->static_static));
	/* payload: timestamp, the algorithms we accept */
	memset(payload, 0, sizeof(payload));
	tai64n(payload, realtime_ns);
	payload[FERRY_TIMESTAMP_LEN] = (uint8_t)local->aead_mask;
	memset(payload + FERRY_TIMESTAMP_LEN + 1, local->reserved_fill,
	       FERRY_INITIATION_PAYLOAD_LEN - FERRY_TIMESTAMP_LEN - 1);
	encrypt_and_hash(&hs->sym, payload, sizeof(payload), msg.encrypted_payload);

	hs->aead_mask = local->aead_mask;
	hs->created_ms = now;
	hs->pending = true;
	ferry_noise_table_sync(peer);
	ferry_cookie_add_macs(&peer->cookie, now, (uint8_t *)&msg, sizeof(msg));
	memcpy(out, &msg, sizeof(msg));
	return 0;

clear_handshake:
	ferry_noise_handshake_clear(hs);
	return -EIO;
}

static struct ferry_noise_peer *peer_by_static(struct ferry_noise_local *local,
					       const uint8_t key[FERRY_NOISE_KEY_LEN])
{
	return ferry_noise_table_by_static(local, key);
}

/* The responder's pick: AES-256-GCM when both accept it, else ChaCha20-Poly1305. */
static int choose_aead(uint32_t ours, uint32_t theirs, enum ferry_aead_alg *alg)
{
	uint32_t both = ours & theirs;

	if (both & FERRY_AEAD_MASK(FERRY_AEAD_AES256GCM))
		*alg = FERRY_AEAD_AES256GCM;
	else if (both & FERRY_AEAD_MASK(FERRY_AEAD_CHACHA20POLY1305))
		*alg = FERRY_AEAD_CHACHA20POLY1305;
	else
		return -ENOTSUP;
	return 0;
}

/* Consumes an initiation (size and MACs checked) and writes the response into reply. */
static int consume_initiation(struct ferry_noise_local *local, uint64_t now,
			      const struct ferry_msg_initiation *init, uint8_t *reply,
			      struct ferry_noise_peer **peer_out)
{
	struct ferry_noise_symmetric sym;
	struct ferry_msg_response resp;
	struct ferry_noise_peer *peer;
	struct ferry_noise_session *s;
	uint8_t initiator_static[FERRY_NOISE_KEY_LEN];
	uint8_t payload[FERRY_INITIATION_PAYLOAD_LEN];
	uint8_t resp_payload[FERRY_RESPONSE_PAYLOAD_LEN];
	uint8_t e_private[FERRY_NOISE_KEY_LEN];
	enum ferry_aead_alg alg;
	uint32_t remote_index = le32toh(init->sender_index), local_index;
	int err;

	symmetric_init(&sym, local->static_public);
	/* -> e */
	mix_hash(&sym, init->ephemeral, sizeof(init->ephemeral));
	mix_key(&sym, init->ephemeral, sizeof(init->ephemeral));
	/* es */
	err = mix_dh(&sym, local->secret->static_private, init->ephemeral);
	if (err)
		goto auth_failed;
	/* s */
	err = decrypt_and_hash(&sym, init->encrypted_static, sizeof(init->encrypted_static),
			       initiator_static);
	if (err)
		goto auth_failed;
	peer = peer_by_static(local, initiator_static);
	if (!peer) {
		local->stats.hs_unknown++;
		err = -ENOENT;
		goto wipe;
	}
	/* ss */
	mix_key(&sym, peer->static_static, sizeof(peer->static_static));
	err = decrypt_and_hash(&sym, init->encrypted_payload, sizeof(init->encrypted_payload),
			       payload);
	if (err)
		goto auth_failed;

	/* Authentic. Now: well formed, new, not too soon, an algorithm we share? */
	if (!sodium_is_zero(payload + FERRY_TIMESTAMP_LEN + 1,
			    FERRY_INITIATION_PAYLOAD_LEN - FERRY_TIMESTAMP_LEN - 1)) {
		local->stats.hs_malformed++; /* reserved bytes: zero, so they can mean something */
		err = -EPROTO;
		goto wipe;
	}
	if (peer->have_initiation &&
	    memcmp(payload, peer->latest_timestamp, FERRY_TIMESTAMP_LEN) <= 0) {
		local->stats.hs_replayed++;
		err = -EALREADY;
		goto wipe;
	}
	if (peer->have_initiation &&
	    now - peer->last_initiation_ms < FERRY_NOISE_INITIATION_MIN_GAP_MS) {
		local->stats.hs_rate_limited++;
		err = -EAGAIN;
		goto wipe;
	}
	err = choose_aead(local->aead_mask, payload[FERRY_TIMESTAMP_LEN], &alg);
	if (err) {
		local->stats.hs_auth_failed++;
		goto wipe;
	}

	/* <- e, ee, se, psk, {chosen aead} */
	memset(&resp, 0, sizeof(resp));
	resp.header.type = FERRY_MSG_RESPONSE;
	local_index = new_index(local);
	resp.sender_index = htole32(local_index);
	resp.receiver_index = htole32(remote_index);
	crypto_box_keypair(resp.ephemeral, e_private);
	mix_hash(&sym, resp.ephemeral, sizeof(resp.ephemeral));
	mix_key(&sym, resp.ephemeral, sizeof(resp.ephemeral));
	err = mix_dh(&sym, e_private, init->ephemeral); /* ee */
	if (!err)
		err = mix_dh(&sym, e_private, initiator_static); /* se */
	if (err)
		goto auth_failed;
	mix_key_and_hash(&sym, peer->psk, sizeof(peer->psk));
	memset(resp_payload, 0, sizeof(resp_payload));
	resp_payload[0] = (uint8_t)alg;
	memset(resp_payload + 1, local->reserved_fill, FERRY_RESPONSE_PAYLOAD_LEN - 1);
	encrypt_and_hash(&sym, resp_payload, sizeof(resp_payload), resp.encrypted_payload);

	/* Install the unconfirmed session, replacing an older unconfirmed one. */
	ferry_noise_session_drop(&peer->next);
	s = session_slot(peer);
	err = session_derive(s, local, &sym, FERRY_NOISE_RESPONDER, alg, local_index, remote_index,
			     now);
	if (err)
		goto wipe;
	peer->next = s;
	memcpy(peer->latest_timestamp, payload, FERRY_TIMESTAMP_LEN);
	peer->have_initiation = true;
	peer->last_initiation_ms = now;
	peer->response_index = local_index;

	ferry_cookie_add_macs(&peer->cookie, now, (uint8_t *)&resp, sizeof(resp));
	memcpy(reply, &resp, sizeof(resp));
	local->stats.hs_initiations_ok++;
	*peer_out = peer;
	err = 0;
	goto wipe;

auth_failed:
	local->stats.hs_auth_failed++;
	err = -EBADMSG;
wipe:
	sodium_memzero(&sym, sizeof(sym));
	sodium_memzero(initiator_static, sizeof(initiator_static));
	sodium_memzero(payload, sizeof(payload));
	sodium_memzero(e_private, sizeof(e_private));
	return err;
}

static struct ferry_noise_peer *peer_by_pending_index(struct ferry_noise_local *local,
						      uint32_t index)
{
	const struct ferry_noise_index_entry *e;

	for (e = ferry_noise_table_index_first(local, index); e;
	     e = ferry_noise_table_index_next(e, index))
		if (e->peer->hs.pending && e->peer->hs.local_index == index)
			return e->peer;
	return NULL;
}

static int consume_response(struct ferry_noise_local *local, uint64_t now,
			    const struct ferry_msg_response *resp,
			    struct ferry_noise_peer **peer_out)
{
	struct ferry_noise_symmetric sym;
	struct ferry_noise_peer *peer;
	struct ferry_noise_session *s;
	uint8_t payload[FERRY_RESPONSE_PAYLOAD_LEN];
	enum ferry_aead_alg alg;
	int err;

	peer = peer_by_pending_index(local, le32toh(resp->receiver_index));
	if (!peer || now - peer->hs.created_ms >= FERRY_NOISE_HANDSHAKE_MAX_AGE_MS) {
		local->stats.hs_unknown++;
		return -ENOENT;
	}
	/* Work on a copy: a forged response must not spoil the pending handshake. */
	memcpy(&sym, &peer->hs.sym, sizeof(sym));
	mix_hash(&sym, resp->ephemeral, sizeof(resp->ephemeral));
	mix_key(&sym, resp->ephemeral, sizeof(resp->ephemeral));
	err = mix_dh(&sym, peer->hs.ephemeral_private, resp->ephemeral); /* ee */
	if (!err)
		err = mix_dh(&sym, local->secret->static_private, resp->ephemeral); /* se */
	if (err)
		goto auth_failed;
	mix_key_and_hash(&sym, peer->psk, sizeof(peer->psk));
	err = decrypt_and_hash(&sym, resp->encrypted_payload, sizeof(resp->encrypted_payload),
			       payload);
	if (err)
		goto auth_failed;
	alg = payload[0];
	if (!sodium_is_zero(payload + 1, FERRY_RESPONSE_PAYLOAD_LEN - 1)) {
		local->stats.hs_malformed++; /* reserved bytes */
		err = -EPROTO;
		goto wipe;
	}
	if (alg > FERRY_AEAD_AES256GCM || !(peer->hs.aead_mask & FERRY_AEAD_MASK(alg))) {
		/* Authentic but not something we offered: refuse rather than downgrade. */
		err = -ENOTSUP;
		goto auth_failed_keep_err;
	}

	/* Rotate: old current becomes previous (in-flight datagrams still open). */
	ferry_noise_session_drop(&peer->previous);
	peer->previous = peer->current;
	peer->current = NULL;
	s = session_slot(peer);
	err = session_derive(s, local, &sym, FERRY_NOISE_INITIATOR, alg, peer->hs.local_index,
			     le32toh(resp->sender_index), now);
	if (err)
		goto wipe;
	peer->current = s;
	ferry_noise_handshake_clear(&peer->hs);
	local->stats.hs_responses_ok++;
	*peer_out = peer;
	goto wipe;

auth_failed:
	err = -EBADMSG;
auth_failed_keep_err:
	local->stats.hs_auth_failed++;
wipe:
	sodium_memzero(&sym, sizeof(sym));
	return err;
}

static int consume_cookie_reply(struct ferry_noise_local *local, uint64_t now, const uint8_t *msg,
				size_t len, struct ferry_noise_peer **peer_out)
{
	struct ferry_msg_cookie_reply reply;
	const struct ferry_noise_index_entry *e;
	struct ferry_noise_peer *p = NULL;
	uint32_t index;

	memcpy(&reply, msg, sizeof(reply));
	index = le32toh(reply.receiver_index);
	/* our pending initiation's index, or our last response's (its next session's) */
	for (e = ferry_noise_table_index_first(local, index); e && !p;
	     e = ferry_noise_table_index_next(e, index)) {
		if ((e->peer->hs.pending && e->peer->hs.local_index == index) ||
		    (e->peer->next && e->peer->response_index == index))
			p = e->peer;
	}
	if (!p || ferry_cookie_reply_consume(&p->cookie, now, msg, len) != 0) {
		local->stats.cookie_replies_bad++;
		return p ? -EBADMSG : -ENOENT;
	}
	local->stats.cookie_replies_ok++;
	*peer_out = p;
	return 0;
}

int ferry_noise_handle_handshake(struct ferry_noise_local *local, uint64_t now, const uint8_t *src,
				 size_t src_len, const uint8_t *msg, size_t len, uint8_t *reply,
				 size_t *reply_len, struct ferry_noise_peer **peer_out)
{
	struct ferry_msg_initiation init;
	struct ferry_msg_response resp;
	struct ferry_noise_peer *peer = NULL;
	struct ferry_msg_header hdr;
	uint32_t sender_index;
	int err;

	*reply_len = 0;
	if (peer_out)
		*peer_out = NULL;
	if (len < sizeof(hdr))
		goto malformed;
	memcpy(&hdr, msg, sizeof(hdr));

	switch (hdr.type) {
	case FERRY_MSG_INITIATION:
		if (len != sizeof(init) || !header_ok(&hdr, FERRY_MSG_INITIATION))
			goto malformed;
		memcpy(&init, msg, sizeof(init));
		sender_index = le32toh(init.sender_index);
		break;
	case FERRY_MSG_RESPONSE:
		if (len != sizeof(resp) || !header_ok(&hdr, FERRY_MSG_RESPONSE))
			goto malformed;
		memcpy(&resp, msg, sizeof(resp));
		sender_index = le32toh(resp.sender_index);
		break;
	case FERRY_MSG_COOKIE_REPLY:
		if (len != FERRY_MSG_COOKIE_REPLY_LEN || !header_ok(&hdr, FERRY_MSG_COOKIE_REPLY))
			goto malformed;
		err = consume_cookie_reply(local, now, msg, len, &peer);
		goto out;
	default:
		goto malformed;
	}

	err = ferry_cookie_check(&local->secret->cookie, now, msg, len, src, src_len,
				 local->under_load);
	if (err == -EACCES) {
		local->stats.hs_bad_mac1++;
		return err;
	}
	if (err == -EBUSY) {
		if (ferry_cookie_reply_create(&local->secret->cookie, now, msg, len, sender_index,
					      src, src_len, reply) != 0)
			return -EIO;
		*reply_len = FERRY_MSG_COOKIE_REPLY_LEN;
		local->stats.hs_cookie_sent++;
		return -EBUSY;
	}

	/* A sender that proved its address (mac2) may still not have a DH whenever it likes;
	 * src is the address's bytes then the port's two, and the limit is the address's. */
	if (hdr.type == FERRY_MSG_INITIATION && local->under_load && local->ratelimit &&
	    !ferry_ratelimit_allow(local->ratelimit, src, src_len > 2 ? src_len - 2 : src_len,
				   now)) {
		local->stats.hs_source_limited++;
		return -EAGAIN;
	}
	if (hdr.type == FERRY_MSG_INITIATION) {
		err = consume_initiation(local, now, &init, reply, &peer);
		if (!err)
			*reply_len = FERRY_MSG_RESPONSE_LEN;
	} else {
		err = consume_response(local, now, &resp, &peer);
	}
out:
	if (peer)
		ferry_noise_table_sync(peer); /* a session made, a handshake done or dropped */
	if (!err && peer_out)
		*peer_out = peer;
	return err;

malformed:
	local->stats.hs_malformed++;
	return -EPROTO;
}
