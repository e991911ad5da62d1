/* SPDX-License-Identifier: MIT */
/*
 * Packet buffers: a bounded pool of fixed-size buffers with headroom.
 *
 * Every buffer is carved from one allocation made at init; nothing is allocated per
 * packet. A buffer's payload starts `headroom` bytes into its storage so that each layer
 * below the one that filled it can prepend its header in place (ferry_buf_push), and
 * strip it again on the way in (ferry_buf_pull). When the pool is empty, get returns NULL
 * and the failure is counted: callers drop and count, they never wait or grow.
 *
 * Lifetime: a buffer belongs to exactly one owner at a time (a queue, a layer, or the
 * pool's free list); `next` is the owner's to use for linking.
 */
#ifndef FERRY_TRANSPORT_POOL_H
#define FERRY_TRANSPORT_POOL_H

#include <stddef.h>
#include <stdint.h>

struct ferry_buf {
	struct ferry_buf *next; /* free list or the current owner's queue */
	uint8_t *data;		/* first payload byte */
	uint32_t len;		/* payload bytes from data */
	uint32_t user;		/* free for the owner (e.g. a sequence number) */
	uint8_t *head;		/* first byte of storage */
	uint8_t *end;		/* one past the last byte of storage */
};

struct ferry_pool_stats {
	uint64_t gets;	   /* successful ferry_pool_get calls */
	uint64_t puts;	   /* buffers returned */
	uint64_t empty;	   /* gets refused because every buffer was in use */
	uint32_t in_use;   /* buffers out of the pool right now */
	uint32_t high_use; /* most buffers ever out at once */
};

struct ferry_pool {
	struct ferry_buf *free;
	struct ferry_buf *bufs; /* descriptors, one per buffer */
	uint8_t *storage;	/* count * (headroom + size) bytes */
	uint32_t count;
	uint32_t size;	   /* payload capacity after headroom */
	uint32_t headroom; /* bytes reserved in front of the payload */
	uint32_t senders;  /* the ARQ's: its conversations holding send buffers (arq.h) */
	struct ferry_pool_stats stats;
};

/* Allocates `count` buffers of `size` payload bytes with `headroom` bytes in front.
 * Returns 0, -EINVAL for a zero count or size or a total that overflows, -ENOMEM. */
int ferry_pool_init(struct ferry_pool *pool, uint32_t count, uint32_t size, uint32_t headroom);

/* Frees the pool's memory. Buffers still out become invalid; callers check in_use first
 * where that matters (tests do). Safe on a zeroed or already destroyed pool. */
void ferry_pool_destroy(struct ferry_pool *pool);

/* Takes a buffer, reset to len 0 with the full headroom. NULL when the pool is empty
 * (counted in stats.empty). */
struct ferry_buf *ferry_pool_get(struct ferry_pool *pool);

/* Returns a buffer taken from this pool. NULL is ignored. */
void ferry_pool_put(struct ferry_pool *pool, struct ferry_buf *buf);

/* Returns the whole chain linked through `next`. */
void ferry_pool_put_chain(struct ferry_pool *pool, struct ferry_buf *chain);

/* Bytes that can still be prepended in front of data. */
static inline uint32_t ferry_buf_headroom(const struct ferry_buf *buf)
{
	return (uint32_t)(buf->data - buf->head);
}

/* Bytes that can still be appended after the payload. */
static inline uint32_t ferry_buf_tailroom(const struct ferry_buf *buf)
{
	return (uint32_t)(buf->end - (buf->data + buf->len));
}

/* Prepends n bytes; returns where to write them, or NULL if the headroom is too small. */
static inline uint8_t *ferry_buf_push(struct ferry_buf *buf, uint32_t n)
{
	if (n > ferry_buf_headroom(buf))
		return NULL;
	buf->data -= n;
	buf->len += n;
	return buf->data;
}

/* Strips n bytes from the front; returns the stripped bytes, or NULL if len < n. */
static inline uint8_t *ferry_buf_pull(struct ferry_buf *buf, uint32_t n)
{
	uint8_t *old = buf->data;

	if (n > buf->len)
		return NULL;
	buf->data += n;
	buf->len -= n;
	return old;
}

/* Appends n bytes; returns where to write them, or NULL if the tailroom is too small. */
static inline uint8_t *ferry_buf_put(struct ferry_buf *buf, uint32_t n)
{
	uint8_t *tail = buf->data + buf->len;

	if (n > ferry_buf_tailroom(buf))
		return NULL;
	buf->len += n;
	return tail;
}

#endif
