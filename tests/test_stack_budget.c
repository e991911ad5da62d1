// SPDX-License-Identifier: MIT
/*
 * The stack's memory: the budget that caps what TCP flows hold in lwIP's heap, each
 * flow's share of it, the wake-up every refused flow gets, and the flow table's memory
 * (touched only as flows are used).
 *
 * The harness is tests/support/stackfake.h: crafted packets in, every packet out parsed.
 */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lwip/mem.h"
#include "lwip/stats.h"
#include "stack/stack.h"
#include "tests/support/fixture.h"
#include "tests/support/pkt.h"
#include "tests/support/rss.h"
#include "tests/support/stackfake.h"

enum {
	FLOOR = 2 * 1460, /* two segments of the apps' MSS: what any flow may always hold */
	FLOWS = 16,
	SEG = 1460,
};

/* lwIP's heap, filled by hand until it refuses even small blocks. */
struct hog {
	void *block[4096];
	unsigned n;
	size_t bytes;
};

static void hog_fill(struct hog *h)
{
	mem_size_t size = 1u << 24;

	while (size >= 16 && h->n < sizeof(h->block) / sizeof(h->block[0])) {
		void *p = mem_malloc(size);

		if (p) {
			h->block[h->n++] = p;
			h->bytes += size;
		} else {
			size /= 2;
		}
	}
}

static void hog_free(struct hog *h)
{
	while (h->n)
		mem_free(h->block[--h->n]);
}

/* Defect: a send lwIP refused for memory, with nothing in flight, owed tcp_sendable that
 * nothing would ever pay (no tcp_sent comes, nothing polled). Now the flow waits for
 * memory and is retried: the wake-up comes once the heap has room again. */
START_TEST(send_refused_by_lwip_memory_is_woken)
{
	struct ferry_stackfake *f = ferry_stackfake_new(1500);
	struct ferry_stackfake_app a = ferry_stackfake_app4(44000);
	static struct hog hog;
	struct ferry_tpkt t;
	uint8_t data[1000] = {7};

	ferry_stackfake_establish(f, &a);
	hog_fill(&hog);
	ck_assert_uint_gt(hog.n, 0);
	/* the C library's blocks, within MEM_SIZE in all (lwip_port.c) */
	ck_assert_uint_le(hog.bytes, MEM_SIZE);
	ck_assert_uint_ge(hog.bytes, MEM_SIZE - (4u << 20));
	ck_assert_uint_eq(ferry_stack_tcp_send(a.flow, data, sizeof(data)), 0);
	ck_assert_uint_eq(ferry_stack_get_stats(f->stack)->mem_waits, 1);
	ferry_stackfake_advance(f, 1000); /* still full: no wake-up yet, the retry goes on */
	ck_assert_int_eq(f->sendables, 0);
	ck_assert_uint_le(ferry_stack_next_deadline(f->stack, f->now), f->now + 100);
	hog_free(&hog);
	ferry_stackfake_advance(f, 100);
	ck_assert_int_eq(f->sendables, 1);
	ck_assert_uint_ge(f->sendable_space, sizeof(data));
	ck_assert_uint_eq(ferry_stack_tcp_send(a.flow, data, sizeof(data)), sizeof(data));
	ferry_stackfake_next_out(f, &t);
	ck_assert_uint_eq(t.payload_len, sizeof(data));
	/* nobody waits any more: no retry timer */
	ck_assert_uint_gt(ferry_stack_next_deadline(f->stack, f->now), f->now + 100);
	ferry_stackfake_free(f);
}
END_TEST

static struct ferry_stackfake *budget_fake(uint64_t budget)
{
	struct ferry_stack_config cfg;

	ferry_stack_config_default(&cfg);
	cfg.mem_budget = budget;
	cfg.keepalive_idle_ms = 0;
	return ferry_stackfake_new_cfg(&cfg);
}

/* The application sends segments until its window is shut (below one unit of its scale,
 * 16 bytes); returns the bytes it sent, all held by the stack (the caller takes none). */
static size_t fill_window(struct ferry_stackfake *f, struct ferry_stackfake_app *a)
{
	static const uint8_t seg[SEG];
	struct ferry_tpkt t = {0};
	size_t sent = 0, n = SEG;
	uint32_t wnd;

	for (;;) {
		ck_assert_uint_lt(sent, 1u << 20);
		ferry_stackfake_app_send(f, a, 0, seg, n);
		sent += n;
		ferry_stackfake_advance(f, 300); /* any delayed ACK */
		ck_assert_uint_ge(ferry_stackfake_pending_out(f), 1);
		while (ferry_stackfake_pending_out(f))
			ferry_stackfake_next_out(f, &t);
		ck_assert_uint_eq(t.ack, a->seq);
		wnd = (uint32_t)t.wnd << 4;
		if (wnd < 16)
			return sent;
		n = wnd < SEG ? wnd : SEG;
	}
}

/* Sixteen applications send while the caller takes nothing: together they hold no more
 * than the receive half of the budget (plus a floor each), and each gets its slice. */
START_TEST(busy_senders_share_the_receive_budget)
{
	struct ferry_stackfake *f = budget_fake((uint64_t)1024 * 1024);
	struct ferry_stackfake_app a[FLOWS];
	size_t held[FLOWS], total = 0;
	const uint64_t limit = (uint64_t)512 * 1024;
	unsigned i;

	f->take_limit = 0;
	for (i = 0; i < FLOWS; i++) {
		a[i] = ferry_stackfake_app4((uint16_t)(44100 + i));
		ferry_stackfake_establish(f, &a[i]);
	}
	for (i = 0; i < FLOWS; i++) {
		held[i] = fill_window(f, &a[i]);
		total += held[i];
		ck_assert_uint_ge(held[i], FLOOR - 16); /* everyone could send its floor */
	}
	ck_assert_uint_le(total, limit + (uint64_t)FLOWS * FLOOR);
	ck_assert_uint_le(ferry_stack_get_stats(f->stack)->rx_committed,
			  limit + (uint64_t)FLOWS * FLOOR);
	ck_assert_uint_lt(held[FLOWS - 1], held[0]); /* later ones got what was left */

	/* The caller takes flow 0's bytes: its window reopens only to its share now. */
	f->take_limit = SIZE_MAX;
	ferry_stack_tcp_writable(a[0].flow);
	ck_assert_uint_eq(f->nrx, held[0]);
	ck_assert_uint_le(ferry_stack_get_stats(f->stack)->rx_committed,
			  limit + (uint64_t)FLOWS * FLOOR);
	ferry_stackfake_free(f);
}
END_TEST

/* The caller sends toward sixteen applications that acknowledge nothing: lwIP holds no
 * more than the send half of the budget (plus a floor each); a flow the budget cut short
 * gets tcp_sendable when its application acknowledges. */
START_TEST(sends_toward_slow_apps_share_the_send_budget)
{
	struct ferry_stackfake *f = budget_fake((uint64_t)1024 * 1024);
	struct ferry_stackfake_app a[FLOWS];
	static uint8_t data[(size_t)256 * 1024];
	size_t taken[FLOWS], total = 0;
	const uint64_t limit = (uint64_t)512 * 1024;
	struct ferry_tpkt t;
	unsigned i;

	for (i = 0; i < FLOWS; i++) {
		a[i] = ferry_stackfake_app4((uint16_t)(44200 + i));
		ferry_stackfake_establish(f, &a[i]);
	}
	for (i = 0; i < FLOWS; i++) {
		taken[i] = ferry_stack_tcp_send(a[i].flow, data, sizeof(data));
		total += taken[i];
		ck_assert_uint_ge(taken[i], FLOOR);
		ck_assert_uint_lt(taken[i], sizeof(data));
	}
	ck_assert_uint_le(total, limit + (uint64_t)FLOWS * FLOOR);
	ck_assert_uint_eq(ferry_stack_get_stats(f->stack)->tx_held, total);

	/* The last application acknowledges everything it got: the debt is paid. */
	while (ferry_stackfake_pending_out(f)) {
		ferry_stackfake_next_out(f, &t);
		if (ferry_tpkt_to(&t, FERRY_STACKFAKE_APP4, a[FLOWS - 1].sport))
			a[FLOWS - 1].ack = t.seq + (uint32_t)t.payload_len;
	}
	f->sendables = 0;
	ferry_stackfake_app_send(f, &a[FLOWS - 1], 0, NULL, 0);
	ck_assert_int_eq(f->sendables, 1);
	ck_assert_uint_lt(ferry_stack_get_stats(f->stack)->tx_held, total);
	ferry_stackfake_free(f);
}
END_TEST

/* Resident memory is the allocator's business: AddressSanitizer replaces it (its calloc
 * touches what it hands out, and mallopt is not there), so this case runs in the plain
 * build only. */
#if defined(__SANITIZE_ADDRESS__)
#define FERRY_PLAIN_ALLOCATOR 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FERRY_PLAIN_ALLOCATOR 0
#endif
#endif
#ifndef FERRY_PLAIN_ALLOCATOR
#define FERRY_PLAIN_ALLOCATOR 1
#endif

#if FERRY_PLAIN_ALLOCATOR
/* The flow table is as large as its limits (16,384 flows by default) but costs memory
 * only as flows are used: a stack with no flow touches almost none of it. */
START_TEST(flow_table_is_touched_only_as_used)
{
	struct ferry_stackfake *f;
	long before;

	ck_assert_int_eq(mallopt(M_MMAP_THRESHOLD, 128 << 10), 1); /* fresh pages each time */
	f = ferry_stackfake_new(1500); /* lwIP's own pools are set up by the first stack */
	ferry_stackfake_free(f);
	before = ferry_test_rss_kib();
	ck_assert_int_gt(before, 0);
	f = ferry_stackfake_new(1500);
	ck_assert_int_lt(ferry_test_rss_kib() - before, 512);
	ferry_stackfake_free(f);
}
END_TEST
#endif

int main(void)
{
	Suite *s = suite_create("stack_budget");
	TCase *tc = ferry_tcase("budget", 20);

	tcase_add_test(tc, send_refused_by_lwip_memory_is_woken);
	tcase_add_test(tc, busy_senders_share_the_receive_budget);
	tcase_add_test(tc, sends_toward_slow_apps_share_the_send_budget);
#if FERRY_PLAIN_ALLOCATOR
	tcase_add_test(tc, flow_table_is_touched_only_as_used);
#endif
	suite_add_tcase(s, tc);
	return ferry_run_suite(s);
}
