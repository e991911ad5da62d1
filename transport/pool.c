// SPDX-License-Identifier: MIT
#include "transport/pool.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void buf_reset(const struct ferry_pool *pool, struct ferry_buf *buf)
{
	buf->next = NULL;
	buf->data = buf->head + pool->headroom;
	buf->len = 0;
	buf->user = 0;
}

int ferry_pool_init(struct ferry_pool *pool, uint32_t count, uint32_t size, uint32_t headroom)
{
	size_t stride = (size_t)size + headroom;
	uint32_t i;

	memset(pool, 0, sizeof(*pool));
	if (count == 0 || size == 0 || stride > UINT32_MAX || stride > SIZE_MAX / count)
		return -EINVAL;

	pool->bufs = calloc(count, sizeof(*pool->bufs));
	if (!pool->bufs)
		return -ENOMEM;
	pool->storage = malloc(stride * count);
	if (!pool->storage) {
		free(pool->bufs);
		pool->bufs = NULL;
		return -ENOMEM;
	}
	pool->count = count;
	pool->size = size;
	pool->headroom = headroom;

	/* Link in reverse so the first get hands out buffer 0: easier to read in a debugger. */
	for (i = count; i-- > 0;) {
		struct ferry_buf *buf = &pool->bufs[i];

		buf->head = pool->storage + stride * i;
		buf->end = buf->head + stride;
		buf_reset(pool, buf);
		buf->next = pool->free;
		pool->free = buf;
	}
	return 0;
}

void ferry_pool_destroy(struct ferry_pool *pool)
{
	free(pool->storage);
	free(pool->bufs);
	memset(pool, 0, sizeof(*pool));
}

struct ferry_buf *ferry_pool_get(struct ferry_pool *pool)
{
	struct ferry_buf *buf = pool->free;

	if (!buf) {
		pool->stats.empty++;
		return NULL;
	}
	pool->free = buf->next;
	buf_reset(pool, buf);
	pool->stats.gets++;
	if (++pool->stats.in_use > pool->stats.high_use)
		pool->stats.high_use = pool->stats.in_use;
	return buf;
}

void ferry_pool_put(struct ferry_pool *pool, struct ferry_buf *buf)
{
	if (!buf)
		return;
	buf->next = pool->free;
	pool->free = buf;
	pool->stats.puts++;
	pool->stats.in_use--;
}

void ferry_pool_put_chain(struct ferry_pool *pool, struct ferry_buf *chain)
{
	while (chain) {
		struct ferry_buf *next = chain->next;

		ferry_pool_put(pool, chain);
		chain = next;
	}
}
