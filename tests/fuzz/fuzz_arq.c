// SPDX-License-Identifier: MIT
/*
 * Fuzzes ARQ segment input. The input is a flags byte, then datagrams framed as
 * [u16 little-endian length][bytes], fed to one conversation (conv 0x01020304) that has
 * data of its own in flight, so ACK, una, window and retransmission paths all run. Between
 * datagrams the clock moves by the low bits of the length's high byte and the application
 * reads everything. Flags: bit 0 message mode, bit 1 sn near 2^32, bit 2 congestion window.
 * Every buffer must be back in the pool at the end.
 *
 * Deep path: the conversation accepted a segment of the input (a PUSH into its receive
 * window, or an ACK), past the header, conversation and window checks.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fuzz.h"
#include "transport/arq.h"

static int sink(void *ctx, const uint8_t *dgram, size_t len)
{
	struct ferry_arq_seg h;
	size_t *total = ctx;

	/* Everything the engine emits must parse back. */
	while (len >= FERRY_ARQ_HDR_LEN) {
		ssize_t n = ferry_arq_seg_decode(dgram, len, &h);

		if (n < 0)
			abort();
		dgram += n;
		len -= (size_t)n;
	}
	if (len)
		abort();
	(*total)++;
	return 0;
}

static bool run(const uint8_t *data, size_t size)
{
	static uint8_t payload[20000], out[4096];
	struct ferry_arq_config cfg;
	struct ferry_arq_stats st;
	struct ferry_arq_seg h;
	struct ferry_pool pool;
	struct ferry_arq *arq;
	size_t off = 1, emitted = 0;
	uint64_t now = 1000;
	uint32_t conv;
	int rounds = 0;

	if (size < 1)
		return false;
	(void)ferry_arq_peek_conv(data, size, &conv);
	(void)ferry_arq_seg_decode(data, size, &h);
	ferry_arq_config_init(&cfg, FERRY_ARQ_PROFILE_FAST3);
	cfg.mtu = 512;
	cfg.snd_wnd = 16;
	cfg.rcv_wnd = 16;
	cfg.snd_queue_max = 64;
	cfg.stream = !(data[0] & 1);
	cfg.initial_sn = (data[0] & 2) ? UINT32_MAX - 20 : 0;
	cfg.nc = (data[0] & 4) ? 0 : 1;
	if (ferry_pool_init(&pool, 2 * 64 + 16 + 16, cfg.mtu - FERRY_ARQ_HDR_LEN, 32))
		abort();
	if (ferry_arq_create(&arq, 0x01020304, &cfg, &pool, sink, &emitted))
		abort();
	memset(payload, 0xa5, sizeof(payload));
	(void)ferry_arq_send(arq, payload, cfg.stream ? sizeof(payload) : 3000);
	ferry_arq_timer(arq, now);

	while (size - off >= 2 && rounds++ < 4096) {
		size_t len = (size_t)data[off] | (size_t)(data[off + 1] & 0x0f) << 8;

		now += data[off + 1] >> 4;
		off += 2;
		if (len > size - off)
			len = size - off;
		ferry_arq_input(arq, data + off, len, now);
		off += len;
		ferry_arq_timer(arq, now);
		while (ferry_arq_recv(arq, out, sizeof(out)) > 0)
			;
		if (ferry_arq_next_deadline(arq, now) < now)
			abort();
		(void)ferry_arq_send(arq, payload, 700);
	}
	/* Let every timer fire once more; then tear down. */
	now += 120000;
	ferry_arq_timer(arq, now);
	ferry_arq_stats(arq, &st);
	ferry_arq_destroy(arq);
	if (pool.stats.in_use)
		abort();
	ferry_pool_destroy(&pool);
	return st.segs_recv + st.segs_dup + st.acks_recv > 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const struct fuzz_spec spec = {
	    .name = "fuzz_arq",
	    .deep = "a segment accepted by the conversation",
	    .min_inputs = 6,
	    .floor_permille = 100,
	};

	return fuzz_init(argc, argv, &spec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_deep(run(data, size));
	return 0;
}
