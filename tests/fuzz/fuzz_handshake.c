// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness for the secure link's parsers: every byte a responder with a fixed
 * static key can receive, handshake messages (initiation, response, cookie reply) and
 * data messages, goes through ferry_noise_handle_handshake / ferry_noise_open exactly as
 * the link hands them over.
 *
 * Input: one control byte, then the datagram. Random bytes almost never carry a valid
 * mac1 or a known receiver index, so the control byte lets the fuzzer reach the stages
 * behind those checks:
 *   0x01  recompute mac1 (as anyone who knows the responder's public key can)
 *   0x02  responder under load (mac2 required; cookie replies)
 *   0x04  establish a session first, and route a data message to it (receiver index
 *         overwritten); the AEAD then decides
 *   0x08  the responder has an initiation pending toward the peer; a response's or cookie
 *         reply's receiver index is overwritten with it
 *   0x10  (with 0x04) the rest is a stream of [counter u64][len u8][len bytes] records,
 *         each sealed authentically and opened: exercises the replay window, and checks
 *         that no counter is ever accepted twice
 * Everything is rebuilt for each input, so a crash reproduces from its input alone.
 *
 * Deep path: past the cheap checks -- a handshake message with the right length, type and
 * mac1 (refused later or accepted), a data message whose receiver index named a session
 * (the AEAD then decided), or an authentic record of a stream.
 */
#include <endian.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fuzz.h"
#include "transport/noise.h"

static const uint8_t responder_private[32] = {
    0x58, 0x4b, 0x2e, 0x11, 0x90, 0x0a, 0x6c, 0x3d, 0x21, 0x77, 0x1c, 0x5e, 0x08, 0xf1, 0x39, 0xa4,
    0x6b, 0x02, 0xde, 0x4f, 0x93, 0x27, 0xc0, 0x15, 0x8e, 0x61, 0x4a, 0x3b, 0xb2, 0x06, 0x7d, 0x40};
static const uint8_t initiator_private[32] = {
    0x70, 0x1f, 0x8c, 0x42, 0x0d, 0xe9, 0x55, 0x36, 0xa1, 0x0b, 0x7e, 0x64, 0xc3, 0x19, 0x2a, 0x88,
    0x4d, 0xf0, 0x13, 0x9b, 0x26, 0x5c, 0x71, 0xe4, 0x0e, 0xb7, 0x32, 0xd5, 0x68, 0x1a, 0xc9, 0x43};
static const uint8_t src[18] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,    0,
				0,    0,    0,	  0,	0, 0, 1, 0x1f, 0x90};

enum {
	CTL_FIX_MAC1 = 0x01,
	CTL_UNDER_LOAD = 0x02,
	CTL_SESSION = 0x04,
	CTL_PENDING = 0x08,
	CTL_STREAM = 0x10,
	STREAM_MAX = 512,
	BUF_SIZE = 2048,
	HEADROOM = 64,
};

struct world {
	struct ferry_noise_local r, i;		/* responder under test, its peer */
	struct ferry_noise_peer r_peer, i_peer; /* r's view of i, i's view of r */
	struct ferry_pool pool;
};

static int world_init(struct world *w, unsigned ctl)
{
	struct ferry_noise_config cfg = {0};
	uint8_t init[FERRY_MSG_INITIATION_LEN], resp[FERRY_NOISE_MAX_REPLY_LEN];
	size_t resp_len, none;
	struct ferry_buf *buf;

	memset(w, 0, sizeof(*w));
	if (ferry_pool_init(&w->pool, 1, BUF_SIZE, HEADROOM) != 0)
		return -1;
	memcpy(cfg.static_private, responder_private, 32);
	if (ferry_noise_local_init(&w->r, &cfg) != 0)
		return -1;
	memcpy(cfg.static_private, initiator_private, 32);
	if (ferry_noise_local_init(&w->i, &cfg) != 0)
		return -1;
	if (ferry_noise_peer_init(&w->r, &w->r_peer, w->i.static_public, NULL) != 0 ||
	    ferry_noise_peer_init(&w->i, &w->i_peer, w->r.static_public, NULL) != 0)
		return -1;
	if (ctl & CTL_SESSION) {
		/* i initiates, r responds, i confirms with a keepalive. */
		if (ferry_noise_create_initiation(&w->i_peer, 0, 1, init) != 0 ||
		    ferry_noise_handle_handshake(&w->r, 0, src, sizeof(src), init, sizeof(init),
						 resp, &resp_len, NULL) != 0 ||
		    ferry_noise_handle_handshake(&w->i, 0, src, sizeof(src), resp, resp_len, NULL,
						 &none, NULL) != 0)
			abort();
		buf = ferry_pool_get(&w->pool);
		if (ferry_noise_seal(&w->i_peer, 0, buf) != 0 ||
		    ferry_noise_open(&w->r, 0, buf, NULL) != 0)
			abort();
		ferry_pool_put(&w->pool, buf);
	}
	if (ctl & CTL_PENDING) {
		if (ferry_noise_create_initiation(&w->r_peer, 0, 1, init) != 0)
			abort();
	}
	w->r.under_load = !!(ctl & CTL_UNDER_LOAD);
	return 0;
}

static void world_destroy(struct world *w)
{
	ferry_noise_local_destroy(&w->r);
	ferry_noise_local_destroy(&w->i);
	ferry_pool_destroy(&w->pool);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, sizeof(v));
}

/* One datagram to the responder, as the link would hand it over. Returns true when it got
 * past the cheap checks (the deep path). */
static bool deliver(struct world *w, unsigned ctl, uint8_t *msg, size_t len)
{
	uint8_t reply[FERRY_NOISE_MAX_REPLY_LEN];
	struct ferry_noise_peer *peer;
	struct ferry_buf *buf;
	size_t reply_len;
	int err;

	if (len >= 1 && msg[0] == FERRY_MSG_DATA) {
		if ((ctl & CTL_SESSION) && len >= 8 && w->r_peer.current)
			put_le32(msg + 4, w->r_peer.current->local_index);
		if (len > BUF_SIZE)
			len = BUF_SIZE;
		buf = ferry_pool_get(&w->pool);
		memcpy(ferry_buf_put(buf, (uint32_t)len), msg, len);
		err = ferry_noise_open(&w->r, 1, buf, &peer);
		if (err == 0 && peer != &w->r_peer)
			abort();
		ferry_pool_put(&w->pool, buf);
		return err != -EPROTO && err != -ENOENT;
	}
	if ((ctl & CTL_PENDING) && w->r_peer.hs.pending) {
		if (len == FERRY_MSG_RESPONSE_LEN)
			put_le32(msg + 8, w->r_peer.hs.local_index);
		if (len == FERRY_MSG_COOKIE_REPLY_LEN)
			put_le32(msg + 4, w->r_peer.hs.local_index);
	}
	if ((ctl & CTL_FIX_MAC1) && len >= FERRY_MACS_LEN)
		ferry_cookie_add_macs(&w->i_peer.cookie, 1, msg, len);
	err = ferry_noise_handle_handshake(&w->r, 1, src, sizeof(src), msg, len, reply, &reply_len,
					   &peer);
	if (err == 0 && peer != &w->r_peer)
		abort();
	if (reply_len > sizeof(reply))
		abort();
	return err != -EPROTO && err != -EACCES;
}

/* Authentic datagrams with fuzzer-chosen counters: each counter opens at most once.
 * Returns true if one opened. */
static bool stream(struct world *w, const uint8_t *data, size_t size)
{
	uint64_t accepted[STREAM_MAX];
	size_t n = 0, k;

	while (size >= 9 && n < STREAM_MAX && w->i_peer.current) {
		struct ferry_noise_session *s = w->i_peer.current;
		struct ferry_buf *buf = ferry_pool_get(&w->pool);
		uint64_t counter;
		size_t len = data[8];
		uint8_t *msg;

		memcpy(&counter, data, 8);
		counter = le64toh(counter);
		data += 9;
		size -= 9;
		if (len > size)
			len = size;
		msg = ferry_buf_put(buf, (uint32_t)(len + FERRY_DATA_OVERHEAD));
		memcpy(msg + FERRY_DATA_HEADER_LEN, data, len);
		data += len;
		size -= len;
		if (ferry_aead_data_seal(&s->send, s->remote_index, counter, msg, len) != 0)
			abort();
		if (ferry_noise_open(&w->r, 1, buf, NULL) == 0) {
			if (buf->len != len || memcmp(buf->data, data - len, len) != 0)
				abort();
			for (k = 0; k < n; k++)
				if (accepted[k] == counter)
					abort(); /* a replay got through */
			accepted[n++] = counter;
		}
		ferry_pool_put(&w->pool, buf);
	}
	return n > 0;
}

static bool run(const uint8_t *data, size_t size)
{
	struct world *w;
	uint8_t *msg;
	unsigned ctl;
	bool deep;

	if (size < 1)
		return false;
	ctl = data[0];
	w = malloc(sizeof(*w));
	msg = malloc(size);
	if (!w || !msg)
		abort();
	if (world_init(w, ctl) != 0)
		abort();
	memcpy(msg, data + 1, size - 1);
	if ((ctl & CTL_STREAM) && (ctl & CTL_SESSION))
		deep = stream(w, msg, size - 1);
	else
		deep = deliver(w, ctl, msg, size - 1);
	world_destroy(w);
	free(msg);
	free(w);
	return deep;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const struct fuzz_spec spec = {
	    .name = "fuzz_handshake",
	    .deep = "past length, type, mac1 and receiver index",
	    .min_inputs = 9,
	    .floor_permille = 100,
	};

	return fuzz_init(argc, argv, &spec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_deep(run(data, size));
	return 0;
}
