// SPDX-License-Identifier: MIT
/*
 * Fuzzes the link's ACK record (transport/ack.c) and what the controller does with one
 * (transport/cc.c); an ACK record comes from the peer, inside an authenticated message,
 * but a buggy or hostile peer writes what it likes.
 *
 * 1. The input as an ACK record body: ferry_ack_parse returns 0 or -EBADMSG; what parses
 *    has 1..FERRY_ACK_RANGES_MAX ranges, the first ending at `largest`, each range
 *    ordered and strictly below the one before with a gap between. The parsed ACK then
 *    goes to a controller that sent packets 0..(largest + 40) of that session: its
 *    bytes in flight never exceed what it sent, and after the loss timer nothing is left.
 * 2. The input as a run of counters a receiver sees (u16 steps, wrapping into a window):
 *    every record the tracker writes parses, and names only counters that arrived.
 *
 * Deep path: the input parsed as an ACK record (part 1 past ferry_ack_parse).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fuzz.h"
#include "transport/ack.h"
#include "transport/cc.h"

#define CHECK(c)                 \
	do {                     \
		if (!(c))        \
			abort(); \
	} while (0)

static void check_ack(const struct ferry_ack *a)
{
	uint32_t i;

	CHECK(a->n >= 1 && a->n <= FERRY_ACK_RANGES_MAX);
	CHECK(a->ranges[0].hi == a->largest);
	for (i = 0; i < a->n; i++) {
		CHECK(a->ranges[i].lo <= a->ranges[i].hi);
		if (i)
			CHECK(a->ranges[i].hi + 1 < a->ranges[i - 1].lo);
	}
}

static bool as_record(const uint8_t *data, size_t size)
{
	struct ferry_cc_config cfg = {.mode = FERRY_CC_BBR, .mss = 1400, .seed = 1};
	struct ferry_ack a;
	struct ferry_cc cc;
	uint64_t pn, sent, n;
	int err = ferry_ack_parse(data, size, &a);

	CHECK(err == 0 || err == -EBADMSG);
	if (err)
		return false;
	check_ack(&a);
	CHECK(ferry_cc_init(&cc, &cfg, 0) == 0);
	/* a controller that sent the packets the ACK speaks of, up to a bound */
	n = a.largest < 20000 ? a.largest + 40 : 20040;
	for (pn = 0, sent = 0; pn < n; pn++) {
		ferry_cc_on_sent(&cc, a.session, pn, 1000 + (uint32_t)(pn % 400),
				 pn % 11 ? FERRY_CC_TRACKED : FERRY_CC_QUIET, pn / 16);
		sent += 1000 + pn % 400;
		CHECK(cc.inflight <= sent);
	}
	ferry_cc_on_ack(&cc, &a, n / 16 + a.delay_ms % 500);
	CHECK(cc.inflight <= sent);
	ferry_cc_on_ack(&cc, &a, n / 16 + 600); /* the same again, later */
	ferry_cc_timer(&cc, UINT64_MAX / 4);
	CHECK(cc.inflight == 0);
	CHECK(ferry_cc_next_deadline(&cc) == UINT64_MAX);
	ferry_cc_destroy(&cc);
	return true;
}

static void as_counters(const uint8_t *data, size_t size)
{
	static uint8_t seen[1 << 16];
	struct ferry_ack_tracker t;
	uint8_t body[FERRY_ACK_RECORD_MAX];
	struct ferry_ack a;
	uint64_t pn = 0, p;
	size_t i, len;
	uint32_t r;

	memset(&t, 0, sizeof(t));
	memset(seen, 0, sizeof(seen));
	for (i = 0; i + 1 < size; i += 2) {
		uint16_t step = (uint16_t)(data[i] | data[i + 1] << 8);

		/* mostly forward, now and then back: a reordering receiver */
		pn = step & 0x8000 ? (pn > (step & 0xff) ? pn - (step & 0xff) : 0)
				   : pn + (step & 0x3ff);
		if (pn >= sizeof(seen))
			break;
		ferry_ack_received(&t, 9, pn, step & 1, i);
		seen[pn] = 1;
		if (!ferry_ack_due(&t, i) && (step & 0x6000) != 0x6000)
			continue;
		len = ferry_ack_write(&t, body, sizeof(body), i);
		CHECK(len >= FERRY_ACK_FIXED_LEN && len <= FERRY_ACK_RECORD_MAX);
		CHECK(ferry_ack_parse(body, len, &a) == 0);
		check_ack(&a);
		CHECK(a.session == 9);
		for (r = 0; r < a.n; r++)
			for (p = a.ranges[r].lo; p <= a.ranges[r].hi; p++)
				CHECK(p < sizeof(seen) && seen[p]);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const struct fuzz_spec spec = {
	    .name = "fuzz_link_ack",
	    .deep = "an ACK record that parsed",
	    .min_inputs = 4,
	    .floor_permille = 2,
	};

	return fuzz_init(argc, argv, &spec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	bool deep = as_record(data, size);

	as_counters(data, size);
	fuzz_deep(deep);
	return 0;
}
