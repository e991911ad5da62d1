/* SPDX-License-Identifier: MIT */
/*
 * Guarded memory for key material: libsodium's sodium_malloc and sodium_free behind two
 * names, so that every place that keeps a key asks for it the same way.
 *
 * What an allocation gets (libsodium 1.0.18, sodium/utils.c):
 *   - pages of its own (an mmap), never shared with a heap object: the object ends where
 *     a PROT_NONE guard page begins, and the page before it holds the allocation's size,
 *     read-only, behind a second guard page; a 16-byte canary sits just in front of the
 *     object and sodium_free checks it. A linear overflow out of a neighbour, or out of
 *     the object, faults instead of reading or spoiling a key;
 *   - MADV_DONTDUMP: not in a core dump, whatever the process's dumpable flag;
 *   - mlock: never written to swap. libsodium does not check mlock's result: past
 *     RLIMIT_MEMLOCK (8 MiB by default on Linux since 5.16; no limit for CAP_IPC_LOCK, which
 *     root has while ferry sets up) the memory is still guarded, left out of dumps and
 *     wiped, but may be swapped. ferry_secret_lock() says which it is;
 *   - sodium_free wipes the pages (sodium_memzero), unlocks and unmaps them: a pointer kept
 *     after the free faults rather than read the key back.
 *
 * What it costs: the object's size plus the canary, rounded up to whole pages, locked;
 * three more pages of address space that are never touched (guards) or hold 8 bytes (the
 * size); four mappings; and about ten system calls for an allocation and its free (an
 * mmap, three mprotect, madvise and mlock; mprotect, madvise, munlock and munmap): some
 * 25 us on this project's VMs. So secrets are allocated once per owner, never per packet
 * or per handshake, and many small secrets go into one allocation: the daemon's peers are
 * one array, 11,056 bytes each on x86-64 (the link and its Noise peer: handshake state,
 * three sessions' AEAD key schedules, preshared key, cached static DH), so 1,024 peers
 * lock 10.8 MiB -- above the default RLIMIT_MEMLOCK, which is why the daemon warns when
 * the lock fails (cli/daemon/peers.c) -- against 12 MiB and 4,096 mappings for one
 * allocation per peer. A Noise local's secrets take one page, a configuration's keys one
 * page up to 126 peers (cli/config.c).
 *
 * No state of ours: libsodium's own (its page size, the canary) is set by sodium_init,
 * which ferry_secret_alloc calls (idempotent).
 */
#ifndef FERRY_TRANSPORT_SECRET_H
#define FERRY_TRANSPORT_SECRET_H

#include <stddef.h>

/* Zeroed memory for size bytes (> 0), placed so that an object of that size ends right at
 * the guard page when size is a multiple of FERRY_SECRET_ALIGN (else at most
 * FERRY_SECRET_ALIGN - 1 bytes of slack lie in between). Aligned to FERRY_SECRET_ALIGN.
 * Returns NULL when libsodium cannot initialise or the mapping fails. */
void *ferry_secret_alloc(size_t size);

/* ferry_secret_alloc(count * size), NULL also when the product overflows or is 0. */
void *ferry_secret_allocarray(size_t count, size_t size);

/* Wipes, unlocks and unmaps what ferry_secret_alloc returned. NULL is ignored. A pointer
 * it did not return, or a canary overwritten (an underflow), aborts the process. */
void ferry_secret_free(void *p);

/* Locks [p, p + size) of an allocation in RAM, as ferry_secret_alloc already tried to:
 * asking again (mlock is idempotent) tells whether that worked. Returns 0, or the
 * negative errno of mlock: -ENOMEM or -EAGAIN past RLIMIT_MEMLOCK, -EPERM when the limit
 * is 0. */
int ferry_secret_lock(const void *p, size_t size);

enum {
	FERRY_SECRET_ALIGN = 16, /* of every allocation: any object type on x86-64 and arm64 */
};

#endif
