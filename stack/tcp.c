// SPDX-License-Identifier: MIT
/*
 * TCP flows over lwIP's raw API: backpressure, half-close and resets once open.
 *
 * Honest connect: a connection's opening, up to lwIP's pcb for it, is tcp_open.c's.
 *
 * Backpressure. lwIP's recv callback always takes the segment (never ERR_MEM: lwIP would
 * then drop later segments); the bytes wait in flow->rx until ops->tcp_data takes them.
 * Only then is the window given back (tcp_recved), as far as the memory budget allows
 * (budget.c), so the application's window is the caller's flow control and a flow holds
 * at most its share of the budget. Toward the application, sends take what lwIP's send
 * buffer and the budget allow; a short send owes tcp_sendable, which tcp_sent, or the
 * budget's wake-up when memory held it back, pays.
 *
 * Latency. Nagle is off toward the application (its own TCP coalesced already), and the
 * ACK for bytes the caller took is sent at the end of the entry point (one per flow per
 * turn), not at lwIP's 250 ms delayed-ACK timer: an application that writes twice before
 * it reads never waits for a delayed ACK.
 *
 * Ending. Every end goes through ferry_stack_tcp_end(), which marks the flow DEAD and finishes it
 * -- pcb detached and aborted or closed, held pbufs freed, the caller told -- at once, or, when an
 * ops callback of this flow is running (in_cb), once the outermost one returned. So a caller may
 * reset a flow from inside any callback. lwIP's error callback means the pcb is already freed: the
 * flow forgets it first.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "lwip/ip.h"
#include "lwip/priv/tcp_priv.h" /* tcp_tw_pcbs (drop_time_wait), tcp_ack_now */
#include "stack/internal.h"

/* ---- ending ---- */

static void pcb_detach(struct tcp_pcb *pcb)
{
	tcp_arg(pcb, NULL);
	tcp_recv(pcb, NULL);
	tcp_sent(pcb, NULL);
	tcp_err(pcb, NULL);
	tcp_ext_arg_set(pcb, ferry_stack_lwip_ext_id(), NULL);
}

/* Carries out a DEAD flow's end. Returns 1 if its pcb was aborted (an lwIP callback
 * running for it must return ERR_ABRT), else 0. */
static int flow_finish(struct ferry_flow *flow)
{
	struct ferry_stack *stack = flow->stack;
	struct pbuf *q;
	int aborted = 0;

	if (flow->pcb) {
		struct tcp_pcb *pcb = flow->pcb;

		flow->pcb = NULL;
		pcb_detach(pcb);
		/* A clean end comes after every byte was delivered, but the window the budget
		 * keeps may be smaller than lwIP's maximum, which tcp_close takes for unread
		 * data (and answers with an RST). */
		if (flow->end_how == FERRY_END_NONE)
			pcb->rcv_wnd = TCP_WND_MAX(pcb);
		/* lwIP's LAST_ACK lasts 2 MSL (10 s here) from the application's last segment,
		 * which may be far older than this close */
		pcb->tmr = tcp_ticks;
		if (flow->end_how != FERRY_END_NONE || tcp_close(pcb) != ERR_OK) {
			tcp_abort(pcb);
			aborted = 1;
		}
	} else if (flow->end_how == FERRY_END_RST) {
		ferry_stack_tcp_send_rst(flow);
	} else if (flow->end_how == FERRY_END_UNREACH) {
		ferry_stack_tcp_send_unreach(flow, flow->end_reason);
	}
	if (flow->syn)
		pbuf_free(flow->syn);
	flow->syn = NULL;
	while ((q = flow->rx_head) != NULL) {
		flow->rx_head = q->next;
		q->next = NULL;
		pbuf_free(q);
	}
	ferry_stack_budget_release(flow);
	if (flow->end_notify) {
		stack->stats.tcp_closed++;
		ferry_stack_cb_enter(stack);
		stack->ops->tcp_closed(stack->ctx, flow, flow->end_reason);
		ferry_stack_cb_leave(stack);
	}
	ferry_stack_flow_release(flow);
	return aborted;
}

/* Ends the flow: how toward the application, tcp_closed(reason) toward the caller if
 * notify. At once, or when the running callback of this flow returned. */
void ferry_stack_tcp_end(struct ferry_flow *flow, enum ferry_flow_end how, int notify, int reason)
{
	if (flow->state == FERRY_FLOW_DEAD)
		return;
	if (ferry_stack_tcp_in_handshake(flow))
		ferry_stack_tcp_listener_unref(flow);
	if (flow->state == FERRY_FLOW_DRAINING)
		how = FERRY_END_NONE; /* the application's side is closed already */
	flow->state = FERRY_FLOW_DEAD;
	flow->end_how = (uint8_t)how;
	flow->end_notify = (uint8_t)notify;
	flow->end_reason = reason;
	ferry_stack_flow_deadline_clear(flow);
	if (!flow->in_cb)
		flow_finish(flow);
}

void ferry_stack_tcp_enter(struct ferry_flow *flow)
{
	flow->in_cb++;
}

/* Leaves a callback or entry point; finishes the flow if it died meanwhile. Returns what
 * an lwIP callback for it must return. */
err_t ferry_stack_tcp_leave(struct ferry_flow *flow)
{
	if (--flow->in_cb == 0 && flow->state == FERRY_FLOW_DEAD)
		return flow_finish(flow) ? ERR_ABRT : ERR_OK;
	return ERR_OK;
}

void ferry_stack_tcp_kill(struct ferry_flow *flow, enum ferry_flow_end how, int reason)
{
	ferry_stack_tcp_end(flow, how, 1, reason);
}

/* ---- the budget's decisions, applied to lwIP ---- */

/* What a flow may always hold each way: two of its segments (budget.c). */
static uint32_t floor_of(const struct tcp_pcb *pcb)
{
	return 2u * pcb->mss;
}

/* lwIP now holds these bytes of the flow's toward the application. */
static void tx_sync(struct ferry_flow *flow)
{
	ferry_stack_budget_tx_set(flow, flow->pcb ? TCP_SND_BUF - flow->pcb->snd_buf : 0);
}

/* The flow has output for the application waiting for the end of the entry point. */
static void out_owe(struct ferry_flow *flow)
{
	if (!flow->out_owed) {
		flow->out_owed = 1;
		ferry_stack_list_append(&flow->stack->out_owed, flow, &flow->out);
	}
}

/* Gives the application n more bytes of window; the ACK announcing it is owed. */
static void window_give(struct ferry_flow *flow, uint32_t n)
{
	while (n > 0 && flow->pcb) {
		u16_t chunk = n > 0xffff ? 0xffff : (u16_t)n;

		tcp_recved(flow->pcb, chunk);
		n -= chunk;
	}
	if (flow->pcb)
		out_owe(flow);
}

/* The caller took n of the application's bytes: window back, as the budget allows. */
static void app_bytes_taken(struct ferry_flow *flow, uint32_t n)
{
	ferry_stack_budget_rx_taken(flow, n);
	flow->count.bytes_in += n;
	if (flow->pcb && n)
		window_give(flow, ferry_stack_budget_rx_grant(flow, TCP_WND_MAX(flow->pcb),
							      floor_of(flow->pcb)));
}

/* What ferry_stack_tcp_send may queue now: lwIP's send buffer and queue, and the budget. */
static size_t tx_space(const struct ferry_flow *flow)
{
	size_t n = tcp_sndbuf(flow->pcb);
	size_t room = ferry_stack_budget_tx_room(flow, TCP_SND_BUF, floor_of(flow->pcb));

	if (tcp_sndqueuelen(flow->pcb) >= TCP_SND_QUEUELEN - 2)
		return 0;
	return n < room ? n : room;
}

static void call_sendable(struct ferry_flow *flow, size_t space)
{
	struct ferry_stack *stack = flow->stack;

	flow->sendable_owed = 0;
	ferry_stack_tcp_enter(flow);
	ferry_stack_cb_enter(stack);
	stack->ops->tcp_sendable(stack->ctx, flow, space);
	ferry_stack_cb_leave(stack);
	ferry_stack_tcp_leave(flow);
}

/* Whether lwIP could take a segment of the flow's now: a probe of what tcp_write needs
 * (a segment descriptor and a pbuf of one MSS), given back at once. */
static bool lwip_has_room(const struct ferry_flow *flow)
{
	struct tcp_seg *seg = memp_malloc(MEMP_TCP_SEG);
	struct pbuf *p;

	if (!seg)
		return false;
	memp_free(MEMP_TCP_SEG, seg);
	p = pbuf_alloc(PBUF_TRANSPORT, flow->pcb->mss, PBUF_RAM);
	if (!p)
		return false;
	pbuf_free(p);
	return true;
}

bool ferry_stack_tcp_serve(struct ferry_flow *flow)
{
	size_t space;

	if (!flow->sendable_owed || !flow->pcb ||
	    (flow->state != FERRY_FLOW_OPEN && flow->state != FERRY_FLOW_APP_DONE))
		return true;
	space = tx_space(flow);
	if (!space || !lwip_has_room(flow))
		return false;
	call_sendable(flow, space); /* may end the flow */
	return true;
}

void ferry_stack_tcp_flush_out(struct ferry_stack *stack)
{
	struct ferry_flow *flow;

	if (stack->lwip_depth)
		return;
	while ((flow = stack->out_owed.head) != NULL) {
		bool push = flow->push_owed;

		ferry_stack_list_remove(&stack->out_owed, flow, &flow->out);
		flow->out_owed = 0;
		flow->push_owed = 0;
		if (!flow->pcb)
			continue;
		/* the ACK, unless lwIP sent it meanwhile (every second segment, or a big window
		 * update); with the bytes queued, if any */
		if (flow->pcb->flags & (TF_ACK_DELAY | TF_ACK_NOW))
			tcp_ack_now(flow->pcb);
		else if (!push)
			continue;
		tcp_output(flow->pcb);
	}
}

/* ---- lwIP callbacks ---- */

/* lwIP finishes the connection with the application on its own from here and frees the
 * pcb without telling us (LAST_ACK, CLOSING, TIME_WAIT): the flow lets go of it. The
 * application's bytes lwIP acknowledged, and its FIN, still wait in the flow and are
 * delivered as usual; nothing is sent to the application any more. */
static void flow_let_go(struct ferry_flow *flow)
{
	if (flow->pcb)
		pcb_detach(flow->pcb);
	flow->pcb = NULL;
	flow->state = FERRY_FLOW_DRAINING;
	flow->sendable_owed = 0;
	tx_sync(flow);
}

/* Offers the queued bytes to the caller; delivers the application's FIN after them. */
static void flow_deliver(struct ferry_flow *flow)
{
	struct ferry_stack *stack = flow->stack;
	struct pbuf *q;

	while ((q = flow->rx_head) != NULL && flow->state != FERRY_FLOW_DEAD) {
		size_t avail = q->len - flow->rx_off, n = 0;

		if (avail) {
			ferry_stack_cb_enter(stack);
			n = stack->ops->tcp_data(stack->ctx, flow,
						 (const uint8_t *)q->payload + flow->rx_off, avail);
			ferry_stack_cb_leave(stack);
			if (flow->state == FERRY_FLOW_DEAD)
				return;
			if (n > avail)
				n = avail;
			if (n)
				ferry_stack_flow_touch(flow);
			flow->rx_off = (uint16_t)(flow->rx_off + n);
			app_bytes_taken(flow, (uint32_t)n);
			if (n < avail)
				return;
		}
		flow->rx_head = q->next;
		if (!flow->rx_head)
			flow->rx_tail = NULL;
		q->next = NULL;
		pbuf_free(q);
		flow->rx_off = 0;
	}
	if (flow->rx_fin && !flow->rx_head && flow->state != FERRY_FLOW_DEAD) {
		flow->rx_fin = 0;
		ferry_stack_cb_enter(stack);
		stack->ops->tcp_eof(stack->ctx, flow);
		ferry_stack_cb_leave(stack);
		if (flow->state == FERRY_FLOW_OPEN)
			flow->state = FERRY_FLOW_APP_DONE;
		else if (flow->state == FERRY_FLOW_PEER_DONE || flow->state == FERRY_FLOW_DRAINING)
			ferry_stack_tcp_end(flow, FERRY_END_NONE, 1, 0);
	}
}

static err_t on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
	struct ferry_flow *flow = arg;
	struct pbuf *tail;
	uint32_t n = 0;

	(void)err;
	if (!flow) { /* detached: nobody wants the bytes */
		if (p) {
			tcp_recved(pcb, p->tot_len);
			pbuf_free(p);
		}
		return ERR_OK;
	}
	if (!p) {
		flow->rx_fin = 1;
		/* Our FIN went first: the pcb is now in CLOSING or TIME_WAIT. */
		if (flow->state == FERRY_FLOW_PEER_DONE)
			flow_let_go(flow);
	} else {
		/* Chains are linked through next without summing tot_len (a u16 in lwIP 2.1,
		 * too small for a window's worth); they are freed one pbuf at a time. */
		for (tail = p;; tail = tail->next) {
			n += tail->len;
			if (!tail->next)
				break;
		}
		if (flow->rx_tail)
			flow->rx_tail->next = p;
		else
			flow->rx_head = p;
		flow->rx_tail = tail;
		ferry_stack_budget_rx_arrived(flow, n);
	}
	ferry_stack_tcp_enter(flow);
	flow_deliver(flow);
	return ferry_stack_tcp_leave(flow);
}

static err_t on_sent(void *arg, struct tcp_pcb *pcb, u16_t len)
{
	struct ferry_flow *flow = arg;
	size_t space;

	(void)len;
	if (!flow)
		return ERR_OK;
	ferry_stack_flow_touch(flow);
	tx_sync(flow);
	if (flow->close_owed) {
		if (!pcb->unsent && !pcb->unacked) {
			ferry_stack_tcp_enter(flow);
			ferry_stack_tcp_end(flow, FERRY_END_NONE, 1, 0);
			return ferry_stack_tcp_leave(flow);
		}
		return ERR_OK; /* nothing more for the caller to send */
	}
	if (!flow->sendable_owed ||
	    (flow->state != FERRY_FLOW_OPEN && flow->state != FERRY_FLOW_APP_DONE))
		return ERR_OK;
	space = tx_space(flow);
	if (!space)
		return ERR_OK; /* bytes are still in flight: tcp_sent comes again */
	ferry_stack_tcp_enter(flow);
	call_sendable(flow, space);
	return ferry_stack_tcp_leave(flow);
}

static void on_err(void *arg, err_t err)
{
	struct ferry_flow *flow = arg;

	if (!flow)
		return;
	flow->pcb = NULL; /* lwIP freed it before calling us */
	/* ERR_CLSD is a clean close in LAST_ACK: the application's FIN came first, then the
	 * caller's shutdown sent ours and the application acknowledged it. */
	if (err == ERR_CLSD && flow->state == FERRY_FLOW_PEER_DONE &&
	    (flow->rx_head || flow->rx_fin)) {
		flow_let_go(flow);
		return;
	}
	ferry_stack_tcp_end(flow, FERRY_END_NONE, 1, err == ERR_RST ? -ECONNRESET : -ECONNABORTED);
}

void ferry_stack_tcp_adopt(struct ferry_flow *flow, struct tcp_pcb *pcb)
{
	struct ferry_stack *stack = flow->stack;
	uint32_t wnd;

	flow->pcb = pcb;
	tcp_arg(pcb, flow);
	tcp_recv(pcb, on_recv);
	tcp_sent(pcb, on_sent);
	tcp_err(pcb, on_err);
	tcp_nagle_disable(pcb);
	if (stack->cfg.keepalive_idle_ms) {
		ip_set_option(pcb, SOF_KEEPALIVE);
		pcb->keep_idle = stack->cfg.keepalive_idle_ms;
		pcb->keep_intvl = stack->cfg.keepalive_interval_ms;
		pcb->keep_cnt = stack->cfg.keepalive_count;
	}
	wnd = ferry_stack_budget_rx_open(flow, TCP_WND_MAX(pcb), floor_of(pcb));
	pcb->rcv_wnd = pcb->rcv_ann_wnd = (tcpwnd_size_t)wnd;
}

err_t ferry_stack_tcp_accept(void *arg, struct tcp_pcb *newpcb, err_t err)
{
	struct ferry_flow *flow = arg;
	int shut;

	if (!newpcb || err != ERR_OK)
		return ERR_OK; /* out of pcbs: ferry_stack_tcp_connected sees no pcb */
	if (!flow || flow->pcb != newpcb || !ferry_stack_tcp_in_handshake(flow)) {
		tcp_abort(newpcb);
		return ERR_ABRT;
	}
	shut = flow->state == FERRY_FLOW_HANDSHAKE_SHUT;
	ferry_stack_tcp_listener_unref(flow);
	flow->state = FERRY_FLOW_OPEN;
	ferry_stack_flow_deadline_clear(flow);
	ferry_stack_flow_touch(flow);
	flow->stack->stats.tcp_accepted++;
	if (!flow->sendable_owed && !shut)
		return ERR_OK;
	/* The far side spoke or closed before the app's ACK: catch up now. */
	ferry_stack_tcp_enter(flow);
	if (flow->sendable_owed) {
		size_t space = tx_space(flow);

		if (space)
			call_sendable(flow, space);
		else
			ferry_stack_budget_wait(flow);
	}
	if (shut && flow->state == FERRY_FLOW_OPEN)
		ferry_stack_tcp_shutdown(flow);
	return ferry_stack_tcp_leave(flow);
}

/* ---- input ---- */

/* Hands a packet to lwIP (the hook makes its destination ours). */
static int lwip_input(struct ferry_stack *stack, const uint8_t *data, size_t len)
{
	struct pbuf *p = pbuf_alloc(PBUF_RAW, (u16_t)len, PBUF_RAM);

	if (!p) {
		ferry_stack_count_drop(stack, FERRY_STACK_DROP_NOMEM);
		return -ENOMEM;
	}
	memcpy(p->payload, data, len);
	stack->lwip_depth++;
	stack->netif.input(p, &stack->netif);
	stack->lwip_depth--;
	ferry_stack_tcp_inject_deferred(stack);
	return 0;
}

int ferry_stack_tcp_input(struct ferry_stack *stack, const struct ferry_pkt *pkt)
{
	uint8_t flags = pkt->tcp_flags;
	struct ferry_flow *flow;

	flow = ferry_stack_flow_find(stack, FERRY_FLOW_TCP, &pkt->src, &pkt->dst);
	if (!flow) {
		if ((flags & (FERRY_PKT_TCP_SYN | FERRY_PKT_TCP_ACK | FERRY_PKT_TCP_RST)) ==
		    FERRY_PKT_TCP_SYN)
			return ferry_stack_tcp_open(stack, pkt);
		/* A pcb lwIP still closes on its own, or nothing: lwIP answers with RST. */
		return lwip_input(stack, pkt->ip, pkt->len);
	}
	flow->count.packets_in++;
	switch (flow->state) {
	case FERRY_FLOW_CONNECTING:
		if (flags & FERRY_PKT_TCP_RST) { /* the application gave up */
			ferry_stack_tcp_end(flow, FERRY_END_NONE, 1, -ECONNRESET);
			return 0;
		}
		ferry_stack_count_drop(stack, FERRY_STACK_DROP_DUP_SYN);
		return -EALREADY;
	case FERRY_FLOW_DEAD:
		return 0;
	default:
		ferry_stack_flow_touch(flow);
		return lwip_input(stack, pkt->ip, pkt->len);
	}
}

/* ---- the caller's side ---- */

static size_t send_bytes(struct ferry_flow *flow, const uint8_t *data, size_t len, bool push)
{
	struct tcp_pcb *pcb = flow->pcb;
	int refused = 0;
	size_t n;

	if (ferry_stack_tcp_in_handshake(flow)) {
		flow->sendable_owed = 1; /* paid at accept */
		return 0;
	}
	if (!pcb || flow->close_owed ||
	    (flow->state != FERRY_FLOW_OPEN && flow->state != FERRY_FLOW_APP_DONE))
		return 0;
	n = tx_space(flow);
	if (n > len)
		n = len;
	if (n && tcp_write(pcb, data, (u16_t)n, TCP_WRITE_FLAG_COPY) != ERR_OK) {
		n = 0; /* lwIP's heap or segment pool refused */
		refused = 1;
	}
	if (n < len) {
		flow->sendable_owed = 1;
		/* When lwIP's buffer or the budget was the limit, bytes are in flight (the budget
		 * always allows FLOOR bytes) and tcp_sent pays the debt; when lwIP's memory
		 * refused, the budget's wake-up does. */
		if (refused)
			ferry_stack_budget_wait(flow);
	}
	if (n) {
		flow->count.bytes_out += n;
		ferry_stack_flow_touch(flow);
		if (push) {
			tcp_output(pcb);
		} else {
			flow->push_owed = 1;
			out_owe(flow);
		}
		tx_sync(flow);
	}
	return n;
}

size_t ferry_stack_tcp_send(struct ferry_flow *flow, const uint8_t *data, size_t len)
{
	return send_bytes(flow, data, len, true);
}

size_t ferry_stack_tcp_send_more(struct ferry_flow *flow, const uint8_t *data, size_t len)
{
	return send_bytes(flow, data, len, false);
}

void ferry_stack_tcp_writable(struct ferry_flow *flow)
{
	struct ferry_stack *stack = flow->stack;

	if (flow->state == FERRY_FLOW_DEAD || (!flow->rx_head && !flow->rx_fin))
		return;
	ferry_stack_tcp_enter(flow);
	flow_deliver(flow);
	ferry_stack_tcp_leave(flow);
	if (!stack->cb_depth)
		ferry_stack_tcp_flush_out(stack);
}

int ferry_stack_tcp_shutdown(struct ferry_flow *flow)
{
	switch (flow->state) {
	case FERRY_FLOW_OPEN:
		flow->state = FERRY_FLOW_PEER_DONE;
		if (tcp_shutdown(flow->pcb, 0, 1) != ERR_OK)
			ferry_stack_tcp_end(flow, FERRY_END_RST, 1, -ECONNABORTED);
		return 0;
	case FERRY_FLOW_APP_DONE:
		/* tcp_close sends our FIN after what lwIP holds, but puts the pcb in LAST_ACK,
		 * whose timer (2 MSL from the application's last segment) freed pcbs with bytes
		 * still to deliver: their application got an RST (the soak saw it by the dozen,
		 * after replies that came long after the request). So the close waits until
		 * every byte is acknowledged (on_sent). */
		if (flow->pcb && (flow->pcb->unsent || flow->pcb->unacked))
			flow->close_owed = 1;
		else
			ferry_stack_tcp_end(flow, FERRY_END_NONE, 1,
					    0); /* tcp_close sends our FIN */
		return 0;
	case FERRY_FLOW_HANDSHAKE:
		/* A FIN in SYN_RCVD would move lwIP's pcb past the state whose ACK calls
		 * accept; it is sent once the handshake is done. */
		flow->state = FERRY_FLOW_HANDSHAKE_SHUT;
		return 0;
	default:
		return -EINVAL;
	}
}

void ferry_stack_tcp_reset(struct ferry_flow *flow)
{
	ferry_stack_tcp_end(flow, FERRY_END_RST, 0, -ECONNRESET);
}

/* ---- timers ---- */

void ferry_stack_tcp_timers(struct ferry_stack *stack)
{
	uint64_t now = stack->now, idle = stack->cfg.tcp_idle_timeout_ms;
	struct ferry_flow *flow;

	while ((flow = stack->connecting.head) != NULL && flow->deadline <= now) {
		stack->stats.tcp_unreach++;
		ferry_stack_tcp_end(flow, FERRY_END_UNREACH, 1, -ETIMEDOUT);
	}
	while ((flow = stack->handshake.head) != NULL && flow->deadline <= now)
		ferry_stack_tcp_end(flow, FERRY_END_RST, 1, -ETIMEDOUT);
	while (idle && (flow = stack->tcp_lru.tail) != NULL && flow->last_active + idle <= now &&
	       flow->state >= FERRY_FLOW_OPEN && flow->state != FERRY_FLOW_DEAD) {
		stack->stats.tcp_idle_timeouts++;
		ferry_stack_tcp_end(flow, FERRY_END_RST, 1, -ETIMEDOUT);
	}
	ferry_stack_tcp_listeners_sweep(stack);
}

uint64_t ferry_stack_tcp_deadline(const struct ferry_stack *stack)
{
	uint64_t next = UINT64_MAX;
	const struct ferry_flow *flow;

	if (stack->connecting.head)
		next = stack->connecting.head->deadline;
	if (stack->handshake.head && stack->handshake.head->deadline < next)
		next = stack->handshake.head->deadline;
	flow = stack->tcp_lru.tail;
	if (stack->cfg.tcp_idle_timeout_ms && flow && flow->state >= FERRY_FLOW_OPEN &&
	    flow->last_active + stack->cfg.tcp_idle_timeout_ms < next)
		next = flow->last_active + stack->cfg.tcp_idle_timeout_ms;
	return next;
}
