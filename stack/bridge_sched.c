// SPDX-License-Identifier: MIT
/*
 * When the bridge's conversations run: the heap of their deadlines, the list of those
 * touched this turn (run once each at the flush), and the two queues they wait in, for
 * segment buffers and for their link's room, with the wake-ups that end each flush and
 * timer run. bridge.c owns the tables; bridge_tcp.c decides, after each run, whether a
 * conversation waits.
 */
#include "stack/bridge_internal.h"

/* Waiting conversations wake_pool_waiters considers per flush (the queue can be long). */
#define WAKE_LOOK    64
/* Datagrams one run of a conversation may send while others wait for the link's room. */
#define ROOM_QUANTUM 8

static uint64_t min64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* ---- the deadline heap and the dirty list ------------------------------------------ */

static uint64_t key(const struct ferry_bridge *b, uint32_t i)
{
	return b->convs[b->heap[i]].deadline;
}

static void heap_place(struct ferry_bridge *b, uint32_t i, uint32_t slot)
{
	b->heap[i] = slot;
	b->convs[slot].heap = i + 1;
}

static void heap_up(struct ferry_bridge *b, uint32_t i)
{
	uint32_t slot = b->heap[i];

	while (i > 0) {
		uint32_t parent = (i - 1) / 2;

		if (key(b, parent) <= b->convs[slot].deadline)
			break;
		heap_place(b, i, b->heap[parent]);
		i = parent;
	}
	heap_place(b, i, slot);
}

static void heap_down(struct ferry_bridge *b, uint32_t i)
{
	uint32_t slot = b->heap[i];

	for (;;) {
		uint32_t child = 2 * i + 1;

		if (child >= b->nheap)
			break;
		if (child + 1 < b->nheap && key(b, child + 1) < key(b, child))
			child++;
		if (b->convs[slot].deadline <= key(b, child))
			break;
		heap_place(b, i, b->heap[child]);
		i = child;
	}
	heap_place(b, i, slot);
}

void ferry_bridge_conv_schedule(struct br_conv *c, uint64_t deadline)
{
	struct ferry_bridge *b = c->peer->b;
	uint32_t slot = br_conv_slot(b, c);

	if (c->heap) {
		uint32_t i = c->heap - 1;

		if (deadline == UINT64_MAX) {
			uint32_t last = b->heap[--b->nheap];

			c->heap = 0;
			c->deadline = UINT64_MAX;
			if (i < b->nheap) {
				heap_place(b, i, last);
				heap_up(b, i);
				heap_down(b, b->convs[last].heap - 1);
			}
			return;
		}
		c->deadline = deadline;
		heap_up(b, i);
		heap_down(b, c->heap - 1);
		return;
	}
	c->deadline = deadline;
	if (deadline == UINT64_MAX)
		return;
	heap_place(b, b->nheap++, slot);
	heap_up(b, b->nheap - 1);
}

void ferry_bridge_conv_dirty(struct br_conv *c)
{
	struct ferry_bridge *b = c->peer->b;
	uint32_t slot = br_conv_slot(b, c);

	if (c->dirty)
		return;
	c->dirty = true;
	c->dirty_turn = b->turn;
	c->dirty_prev = b->dirty_tail;
	c->dirty_next = BR_NIL;
	if (b->dirty_tail != BR_NIL)
		b->convs[b->dirty_tail].dirty_next = slot;
	else
		b->dirty_head = slot;
	b->dirty_tail = slot;
}

static struct br_list *queue_of(struct br_conv *c, enum br_queue q)
{
	return q == BR_WAIT_POOL ? &c->peer->b->pool_waiters : &c->peer->room_waiters;
}

void ferry_bridge_conv_wait(struct br_conv *c, enum br_queue q)
{
	struct ferry_bridge *b = c->peer->b;
	struct br_list *l = queue_of(c, q);
	struct br_node *n = &c->wait[q];
	uint32_t slot = br_conv_slot(b, c);

	if (n->on)
		return;
	n->on = true;
	n->prev = l->tail;
	n->next = BR_NIL;
	if (l->tail != BR_NIL)
		b->convs[l->tail].wait[q].next = slot;
	else
		l->head = slot;
	l->tail = slot;
	l->n++;
	if (q == BR_WAIT_POOL)
		b->stats.tcp_waits++;
	else
		b->room_waiting++;
}

void ferry_bridge_conv_unwait(struct br_conv *c, enum br_queue q)
{
	struct ferry_bridge *b = c->peer->b;
	struct br_list *l = queue_of(c, q);
	struct br_node *n = &c->wait[q];

	if (!n->on)
		return;
	if (n->prev != BR_NIL)
		b->convs[n->prev].wait[q].next = n->next;
	else
		l->head = n->next;
	if (n->next != BR_NIL)
		b->convs[n->next].wait[q].prev = n->prev;
	else
		l->tail = n->prev;
	n->on = false;
	n->prev = n->next = BR_NIL;
	l->n--;
	if (q == BR_WAIT_ROOM)
		b->room_waiting--;
}

void ferry_bridge_conv_ran(struct br_conv *c)
{
	if (c->pool_woken) {
		c->pool_woken = false;
		c->peer->b->pool_woken--;
	}
}

/* Buffers freed this turn go to the conversations that waited longest: once the pool has
 * room for what any waiter needs to be offered room again (WRITABLE_SEGMENTS, or half of
 * what data may take of a pool too small for that), the first WAKE_LOOK in the queue run
 * at the next flush, as many as the free data buffers could give their minimum share to
 * (one at least). Until they ran, and while any still wait, no conversation takes buffers
 * without its turn (bridge_tcp.c); one that finds them taken by those woken before it
 * waits again, at the tail. With less room, only a FIN that fits (a control frame may use
 * the reserve) is let go. A waiter is woken whatever its own state says: one that no
 * longer waits leaves the queue at its run (checking first let such entries hold the
 * queue's head, and a download waited 60 s for nothing). */
static void wake_pool_waiters(struct ferry_bridge *b)
{
	uint32_t room = ferry_arq_pool_data_room(&b->pool), looked = 0, n = 0;
	uint32_t enough = ferry_arq_pool_data_max(&b->pool) / 2;
	uint32_t i = b->pool_waiters.head;

	if (enough > WRITABLE_SEGMENTS)
		enough = WRITABLE_SEGMENTS;
	if (room && room >= enough)
		n = room / FERRY_ARQ_SHARE_MIN ? room / FERRY_ARQ_SHARE_MIN : 1;

	for (; i != BR_NIL && looked < WAKE_LOOK; looked++) {
		struct br_conv *c = &b->convs[i];

		i = c->wait[BR_WAIT_POOL].next;
		if (n)
			n--;
		else if (c->tx != BR_TX_FIN_OWED || !ferry_bridge_tcp_can_write(c))
			continue;
		ferry_bridge_conv_unwait(c, BR_WAIT_POOL);
		c->pool_turn = true;
		if (!c->pool_woken) {
			c->pool_woken = true;
			b->pool_woken++;
		}
		ferry_bridge_conv_dirty(c);
	}
}

/* A link's room goes to its conversations in turn: as many of those that waited longest
 * run at the next flush as the room has quanta for; one still holding data after its run
 * queues again at the tail. While any wait, no other conversation takes room (a thin
 * flow needs none, unless the link's urgent queue is half full: conv_run holds thin
 * flows then): one that runs on its own input queues behind them. So a thousand conversations
 * with data cost one look at the link per millisecond, not a run each (they once did:
 * with 10,000 flows, that polling took the whole core), and a newcomer's data waits
 * behind no one's backlog, only for its turn. */
static void wake_room_waiters(struct ferry_bridge *b)
{
	struct ferry_bridge_peer *peer;

	for (peer = b->peers; peer && b->room_waiting; peer = peer->next) {
		uint32_t room;

		if (!peer->room_waiters.n)
			continue;
		room = b->ops->room ? b->ops->room(b->ctx, peer->link) : UINT32_MAX;
		room = room / ROOM_QUANTUM + (room % ROOM_QUANTUM != 0); /* runs it pays for */
		while (room-- > 0 && peer->room_waiters.head != BR_NIL) {
			struct br_conv *c = &b->convs[peer->room_waiters.head];

			ferry_bridge_conv_unwait(c, BR_WAIT_ROOM);
			c->room_turn = true;
			ferry_bridge_conv_dirty(c);
		}
	}
}

/* The end of a flush or a timer run: the queues get what was freed, the figures follow. */
static void wake(struct ferry_bridge *b)
{
	wake_pool_waiters(b);
	wake_room_waiters(b);
	b->stats.buffers_in_use = b->pool.stats.in_use;
	b->stats.tcp_waiting = b->pool_waiters.n;
	b->stats.room_waiting = b->room_waiting;
}

void ferry_bridge_dirty_remove(struct br_conv *c)
{
	struct ferry_bridge *b = c->peer->b;

	if (c->dirty_prev != BR_NIL)
		b->convs[c->dirty_prev].dirty_next = c->dirty_next;
	else
		b->dirty_head = c->dirty_next;
	if (c->dirty_next != BR_NIL)
		b->convs[c->dirty_next].dirty_prev = c->dirty_prev;
	else
		b->dirty_tail = c->dirty_prev;
	c->dirty = false;
	c->dirty_prev = c->dirty_next = BR_NIL;
}

/* Runs c's ARQ at now and its own timers, then sets its next deadline. */
static void conv_run(struct br_conv *c)
{
	struct ferry_bridge *b = c->peer->b;

	uint32_t room = b->ops->room ? b->ops->room(b->ctx, c->peer->link) : UINT32_MAX;
	uint64_t next;

	/* while others wait for room, it is theirs, in turn, a quantum per run (a thin flow
	 * sends without: arq.h); one not woken for its turn queues behind them */
	if (c->room_turn) {
		if (c->peer->room_waiters.n && room > ROOM_QUANTUM)
			room = ROOM_QUANTUM;
	} else if (c->peer->room_waiters.n) {
		room = 0;
	}
	c->room_turn = false;
	/* ... unless the queue ahead of bulk is half full: then a thin flow waits its turn too
	 * (ten thousand of them at once overflowed it, docs/soak.md). Not an opener's OPEN,
	 * all its queue can hold before the peer answers (the application sends nothing
	 * before its connection is accepted): new connections waiting behind the data of
	 * those open timed out by the thousand in the soak */
	ferry_arq_hold_thin(c->arq, c->state != BR_OPENING && b->ops->urgent_room &&
					!b->ops->urgent_room(b->ctx, c->peer->link));

	/* the conversation sends at most what the link takes now (with none, only its ACKs,
	 * and its data if it is a thin flow: arq.h); the rest stays in its own send queue,
	 * so a newcomer's first bytes queue behind no one's bulk */
	ferry_arq_set_credit(c->arq, room);
	/* What the end gave this turn leaves now, a partial segment too: the application's
	 * own TCP already coalesced its writes, and waiting the ARQ's interval for more would
	 * add it to every request's and every response's latency (kcp-go flushes on write
	 * likewise). Everything else runs at its deadline. */
	if (c->push)
		ferry_arq_flush(c->arq, b->now);
	else
		ferry_arq_timer(c->arq, b->now);
	c->push = false;
	if (!ferry_bridge_tcp_after_arq(c) || !ferry_bridge_tcp_timer(c))
		return;
	next = min64(ferry_arq_next_deadline(c->arq, b->now), ferry_bridge_tcp_deadline(c));
	if (!ferry_arq_credit(c->arq) && ferry_arq_wants_credit(c->arq))
		ferry_bridge_conv_wait(c, BR_WAIT_ROOM); /* out of room with data left: its turn */
	else
		ferry_bridge_conv_unwait(c, BR_WAIT_ROOM);
	ferry_bridge_conv_schedule(c, next);
}

void ferry_bridge_timer(struct ferry_bridge *b, uint64_t now)
{
	uint32_t budget = b->nheap;

	b->now = now;
	/* at most once each per call: a conversation due again at once waits for the next */
	while (budget-- > 0 && b->nheap && key(b, 0) <= now) {
		struct br_conv *c = &b->convs[b->heap[0]];

		ferry_bridge_conv_schedule(c, UINT64_MAX);
		conv_run(c);
	}
	wake(b);
}

uint64_t ferry_bridge_next_deadline(const struct ferry_bridge *b, uint64_t now)
{
	uint64_t d = b->nheap ? key(b, 0) : UINT64_MAX;

	if (b->dirty_head != BR_NIL)
		return now;
	if (b->room_waiting) /* the pacer drains as time passes: look again in a millisecond */
		d = min64(d, now + 1);
	return d;
}

void ferry_bridge_flush(struct ferry_bridge *b, uint64_t now)
{
	uint32_t this_turn = b->turn++;

	b->now = now;
	/* The conversations touched up to this flush, once each; one touched anew while it
	 * runs (an end offered room writes again) is for the next flush, which is due at once
	 * (ferry_bridge_next_deadline). Freeing a conversation takes it off the list. */
	while (b->dirty_head != BR_NIL) {
		struct br_conv *c = &b->convs[b->dirty_head];

		if (c->dirty_turn != this_turn)
			break; /* everything from here on was touched during this flush */
		ferry_bridge_dirty_remove(c);
		conv_run(c);
	}
	wake(b);
}
