// SPDX-License-Identifier: MIT
/*
 * Arbitrary bytes into the FEC decoder. The input is a sequence of shards, each framed as
 * `len u16 LE | bytes[len]` (a short tail is one last shard), so the fuzzer can build
 * whole groups and reach recovery, duplicates, contradictions and eviction, not only the
 * header checks. A small decoder (8 groups, 48 slots) makes eviction reachable. After each
 * shard the decoder's invariants are checked: it never delivers more than it received and
 * rebuilt, never more than the maximum payload, and its slot accounting balances.
 *
 * Deep path: a shard that passed the header checks (a well-formed data or parity shard
 * the decoder took into a group).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fuzz.h"
#include "transport/fec.h"

#define FUZZ_MAX_PAYLOAD 1400

struct fuzz_sink {
	uint64_t delivered;
	uint64_t sum;
};

static void fuzz_deliver(void *ctx, const uint8_t *payload, size_t len)
{
	struct fuzz_sink *s = ctx;

	if (len > FUZZ_MAX_PAYLOAD)
		abort();
	s->delivered++;
	if (len)
		s->sum += payload[0] + payload[len - 1]; /* touch both ends for ASan */
}

static bool run(const uint8_t *data, size_t size)
{
	struct ferry_fec_decoder dec;
	struct ferry_fec_header hdr;
	struct fuzz_sink sink = {0};
	size_t off = 0;
	bool deep;

	if (ferry_fec_decoder_init(&dec, FUZZ_MAX_PAYLOAD, 8, 48, fuzz_deliver, &sink) != 0)
		abort();
	while (off < size) {
		size_t len = size - off;
		const uint8_t *shard;
		uint8_t *copy;

		if (len >= 2) {
			size_t want = (size_t)data[off] | (size_t)data[off + 1] << 8;

			off += 2;
			len = size - off < want ? size - off : want;
		}
		shard = data + off;
		off += len;
		/* an exact-size copy so ASan sees any read past the shard */
		copy = malloc(len ? len : 1);
		if (!copy)
			break;
		memcpy(copy, shard, len);
		(void)ferry_fec_parse_header(copy, len, FUZZ_MAX_PAYLOAD + 2, &hdr);
		(void)ferry_fec_decode(&dec, copy, len);
		free(copy);
		if (sink.delivered != dec.stats.delivered ||
		    dec.stats.delivered > dec.stats.data_in + dec.stats.recovered ||
		    dec.nfree > dec.nslots)
			abort();
	}
	deep = dec.stats.data_in + dec.stats.parity_in > 0;
	ferry_fec_decoder_destroy(&dec);
	return deep;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const struct fuzz_spec spec = {
	    .name = "fuzz_fec",
	    .deep = "a well-formed shard taken into a group",
	    .min_inputs = 5,
	    .floor_permille = 100,
	};

	return fuzz_init(argc, argv, &spec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_deep(run(data, size));
	return 0;
}
