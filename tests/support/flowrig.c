// SPDX-License-Identifier: MIT
/*
 * The flow protocol's test rig (see flowrig.h): decoders on exact-length heap copies, and
 * field-by-field comparisons.
 */
#include "tests/support/flowrig.h"

#include <stdlib.h>
#include <string.h>

#include "tests/support/fixture.h"

uint8_t *ferry_flowrig_dup(const uint8_t *p, size_t n)
{
	uint8_t *c = malloc(n ? n : 1);

	ck_assert_ptr_nonnull(c);
	if (n)
		memcpy(c, p, n);
	return c;
}

int ferry_flowrig_dg_decode(const uint8_t *p, size_t n, struct ferry_flowmsg_dg *m)
{
	uint8_t *c = ferry_flowrig_dup(p, n);
	int err = ferry_flowmsg_dg_decode(c, n, m);

	m->payload = NULL;
	free(c);
	return err;
}

int ferry_flowrig_open_decode(const uint8_t *p, size_t n, struct ferry_flowmsg_open *o)
{
	uint8_t *c = ferry_flowrig_dup(p, n);
	int err = ferry_flowmsg_open_decode(c, n, o);

	free(c);
	return err;
}

int ferry_flowrig_result_decode(const uint8_t *p, size_t n, struct ferry_flowmsg_result *r)
{
	uint8_t *c = ferry_flowrig_dup(p, n);
	int err = ferry_flowmsg_result_decode(c, n, r);

	free(c);
	return err;
}

int ferry_flowrig_open_in_segments(const uint8_t *p, size_t n, struct ferry_flowmsg_open *o)
{
	uint8_t *c = ferry_flowrig_dup(p, n);
	int err = ferry_flowmsg_open_in_segments(c, n, o);

	free(c);
	return err;
}

void ferry_flowrig_ep_eq(const struct ferry_endpoint *a, const struct ferry_endpoint *b)
{
	ck_assert_uint_eq(a->family, b->family);
	ck_assert_uint_eq(a->port, b->port);
	ck_assert_mem_eq(a->addr, b->addr, sizeof(a->addr));
}

void ferry_flowrig_open_eq(const struct ferry_flowmsg_open *a, const struct ferry_flowmsg_open *b)
{
	ck_assert_uint_eq(a->version, b->version);
	ck_assert_uint_eq(a->proto, b->proto);
	ck_assert_uint_eq(a->instance, b->instance);
	ferry_flowrig_ep_eq(&a->src, &b->src);
	ferry_flowrig_ep_eq(&a->dst, &b->dst);
}
