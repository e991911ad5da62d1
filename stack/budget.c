// SPDX-License-Identifier: MIT
/*
 * The memory budget: how many bytes each TCP flow may hold in lwIP's heap.
 *
 * Theory of operation. lwIP keeps the applications' bytes in its one heap: what an
 * application sent and the caller has not taken yet (the flow's receive queue), and what
 * the caller sent toward an application that has not acknowledged it yet (lwIP's send
 * queue). Left alone, each flow may hold TCP_WND plus TCP_SND_BUF (512 KiB), so a few
 * hundred busy flows would fill the heap, and lwIP's first-fit allocator slows down by
 * orders of magnitude well before it is full (docs/stack.md has the figures). So:
 *
 * - The budget (config.mem_budget) is split in two limits, one per direction.
 * - Receive side: a flow's commitment is the window it advertised to its application plus
 *   the bytes waiting in its queue -- everything the application may put into the heap.
 *   A new connection opens with a window from the budget; when the caller takes bytes,
 *   the window is given back only as far as the flow's share and the limit allow. Under
 *   pressure windows close, and TCP's flow control holds the applications back; a window
 *   is never shrunk below what was promised.
 * - Send side: ferry_stack_tcp_send takes only what the flow's share and the limit allow
 *   beyond what lwIP holds for it (besides lwIP's own send buffer).
 * - A flow's share is its direction's limit divided by the flows holding bytes in that
 *   direction (itself included), at most lwIP's per-connection maximum: one busy flow
 *   gets all lwIP allows, ten thousand a fair slice each.
 * - A new connection opens with at most OPEN_WND (or its floor) of window: idle connections, whose
 *   windows the budget cannot take back (TCP never shrinks a window), commit little; a
 *   busy one grows toward its share as the caller takes its bytes.
 * - Every flow may always hold its floor each way (two of its segments, so that lwIP's
 *   silly-window avoidance, which announces a window only once it grew by a segment, can
 *   always move it), whatever the others hold: an idle flow keeps a working window, and a
 *   flow whose send the budget cut short has bytes in flight, so tcp_sent follows. The
 *   limits can therefore be exceeded by at most one floor per flow and direction
 *   (docs/stack.md gives the worst case).
 * - lwIP's own refusals (tcp_write's ERR_MEM when its heap or segment pool is out) are
 *   not the budget's: such a flow waits on budget_wait and is served when memory is
 *   released -- bytes taken or acknowledged, a flow ended -- at the end of the entry
 *   point, and, because lwIP frees memory the budget does not see, at least every
 *   WAIT_RETRY_MS while anyone waits. So every "try again later" has a wake-up coming.
 */
#include "stack/internal.h"

enum {
	OPEN_WND = 64 * 1024, /* bytes: the most a new connection's window commits */
	WAIT_RETRY_MS = 100,  /* waiters are retried at least this often */
};

static uint64_t min64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

void ferry_stack_budget_init(struct ferry_stack *stack)
{
	struct ferry_stack_budget *b = &stack->budget;

	b->rx_limit = stack->cfg.mem_budget / 2;
	b->tx_limit = stack->cfg.mem_budget - b->rx_limit;
}

static void publish(struct ferry_stack *stack)
{
	stack->stats.rx_committed = stack->budget.rx_commit;
	stack->stats.tx_held = stack->budget.tx_held;
}

/* How much more a flow holding `held` may take: up to its share of limit among `busy`
 * flows (at most max), within what the limit has left (`total` is taken), and at least up
 * to its floor. */
static uint64_t allowance(uint64_t held, uint64_t limit, uint64_t total, uint32_t busy,
			  uint64_t max, uint64_t floor)
{
	uint64_t share = limit / (busy ? busy : 1), room = limit > total ? limit - total : 0;
	uint64_t more = 0;

	if (share > max)
		share = max;
	if (floor > max)
		floor = max;
	if (held < share)
		more = min64(share - held, room);
	if (held + more < floor)
		more = floor - held;
	return more;
}

uint32_t ferry_stack_budget_rx_open(struct ferry_flow *flow, uint32_t rx_max, uint32_t floor)
{
	uint32_t open = floor > OPEN_WND ? floor : OPEN_WND;

	return ferry_stack_budget_rx_grant(flow, rx_max < open ? rx_max : open, floor);
}

uint32_t ferry_stack_budget_rx_grant(struct ferry_flow *flow, uint32_t rx_max, uint32_t floor)
{
	struct ferry_stack_budget *b = &flow->stack->budget;
	uint32_t g = (uint32_t)allowance(flow->rx_commit, b->rx_limit, b->rx_commit,
					 b->rx_busy + (flow->rx_held ? 0 : 1), rx_max, floor);

	flow->rx_commit += g;
	b->rx_commit += g;
	publish(flow->stack);
	return g;
}

void ferry_stack_budget_rx_arrived(struct ferry_flow *flow, uint32_t n)
{
	/* The window shrank by n as the bytes arrived: the commitment stays the same. */
	if (!flow->rx_held && n)
		flow->stack->budget.rx_busy++;
	flow->rx_held += n;
}

void ferry_stack_budget_rx_taken(struct ferry_flow *flow, uint32_t n)
{
	struct ferry_stack_budget *b = &flow->stack->budget;

	if (!n)
		return;
	flow->rx_held -= n;
	flow->rx_commit -= n;
	b->rx_commit -= n;
	if (!flow->rx_held)
		b->rx_busy--;
	b->released = 1;
	publish(flow->stack);
}

uint32_t ferry_stack_budget_tx_room(const struct ferry_flow *flow, uint32_t tx_max, uint32_t floor)
{
	const struct ferry_stack_budget *b = &flow->stack->budget;

	return (uint32_t)allowance(flow->tx_held, b->tx_limit, b->tx_held,
				   b->tx_busy + (flow->tx_held ? 0 : 1), tx_max, floor);
}

void ferry_stack_budget_tx_set(struct ferry_flow *flow, uint32_t held)
{
	struct ferry_stack_budget *b = &flow->stack->budget;

	if (held < flow->tx_held)
		b->released = 1;
	if (!flow->tx_held && held)
		b->tx_busy++;
	else if (flow->tx_held && !held)
		b->tx_busy--;
	b->tx_held = b->tx_held - flow->tx_held + held;
	flow->tx_held = held;
	publish(flow->stack);
}

void ferry_stack_budget_release(struct ferry_flow *flow)
{
	struct ferry_stack_budget *b = &flow->stack->budget;

	ferry_stack_budget_tx_set(flow, 0);
	if (flow->rx_held)
		b->rx_busy--;
	if (flow->rx_commit)
		b->released = 1;
	b->rx_commit -= flow->rx_commit;
	flow->rx_commit = flow->rx_held = 0;
	ferry_stack_budget_unwait(flow);
	publish(flow->stack);
}

static void enqueue(struct ferry_flow *flow)
{
	struct ferry_stack *stack = flow->stack;

	flow->wait_budget = 1;
	stack->budget.waiters++;
	ferry_stack_list_append(&stack->budget_wait, flow, &flow->wait);
}

void ferry_stack_budget_wait(struct ferry_flow *flow)
{
	if (flow->wait_budget)
		return;
	flow->stack->stats.mem_waits++;
	enqueue(flow);
}

void ferry_stack_budget_unwait(struct ferry_flow *flow)
{
	if (!flow->wait_budget)
		return;
	flow->wait_budget = 0;
	flow->stack->budget.waiters--;
	ferry_stack_list_remove(&flow->stack->budget_wait, flow, &flow->wait);
}

void ferry_stack_budget_wake(struct ferry_stack *stack)
{
	uint32_t n = stack->budget.waiters;
	struct ferry_flow *flow;

	if (!stack->budget.released || stack->cb_depth || stack->lwip_depth)
		return;
	stack->budget.released = 0;
	/* Each waiter is taken off the list while tcp.c serves it (its callback may end it
	 * or other waiters); one still refused goes back at the tail. */
	while (n-- > 0 && (flow = stack->budget_wait.head) != NULL) {
		uint64_t id = ferry_stack_flow_id(flow);

		ferry_stack_budget_unwait(flow);
		if (!ferry_stack_tcp_serve(flow)) {
			flow = ferry_stack_flow_lookup(stack, id);
			if (flow && !flow->wait_budget)
				enqueue(flow);
		}
	}
}

uint64_t ferry_stack_budget_deadline(const struct ferry_stack *stack)
{
	return stack->budget_wait.head ? stack->now + WAIT_RETRY_MS : UINT64_MAX;
}

void ferry_stack_budget_timer(struct ferry_stack *stack)
{
	if (stack->budget_wait.head)
		stack->budget.released = 1;
	ferry_stack_budget_wake(stack);
}
