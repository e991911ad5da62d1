// SPDX-License-Identifier: MIT
/* Guarded memory for key material (see secret.h). */
#include "transport/secret.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include <sodium.h>

void *ferry_secret_alloc(size_t size)
{
	void *p;

	if (size == 0 || size > SIZE_MAX - FERRY_SECRET_ALIGN || sodium_init() < 0)
		return NULL;
	/* sodium_malloc puts the object at the very end of its pages: a size that is a
	 * multiple of the alignment keeps the object aligned and against the guard page */
	size = (size + FERRY_SECRET_ALIGN - 1) & ~(size_t)(FERRY_SECRET_ALIGN - 1);
	p = sodium_malloc(size);
	if (p)
		memset(p, 0, size); /* sodium_malloc fills with 0xdb */
	return p;
}

void *ferry_secret_allocarray(size_t count, size_t size)
{
	if (size && count > SIZE_MAX / size)
		return NULL;
	return ferry_secret_alloc(count * size);
}

void ferry_secret_free(void *p)
{
	sodium_free(p);
}

int ferry_secret_lock(const void *p, size_t size)
{
	return mlock(p, size) == 0 ? 0 : -errno;
}
