// SPDX-License-Identifier: MIT
/*
 * The flow protocol's codec (see flowmsg.h; layouts in wire.h). Every read is preceded by
 * a check of the bytes left; reserved fields must be zero; an endpoint's family byte says
 * how long it is.
 */
#include "transport/flowmsg.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

/* ---- a bounds-checked reader and writer ---- */

struct rd {
	const uint8_t *p;
	size_t left;
	bool bad;
};

static const uint8_t *take(struct rd *r, size_t n)
{
	const uint8_t *p = r->p;

	if (r->bad || n > r->left) {
		r->bad = true;
		return NULL;
	}
	r->p += n;
	r->left -= n;
	return p;
}

static uint8_t rd8(struct rd *r)
{
	const uint8_t *p = take(r, 1);

	return p ? p[0] : 0;
}

static uint16_t rd16(struct rd *r)
{
	const uint8_t *p = take(r, 2);

	return p ? ferry_wire_get_le16(p) : 0;
}

static uint64_t rd64(struct rd *r)
{
	const uint8_t *p = take(r, 8);

	return p ? ferry_wire_get_le64(p) : 0;
}

static void rd_endpoint(struct rd *r, struct ferry_endpoint *ep)
{
	uint8_t fam = rd8(r);
	size_t alen = fam == 4 ? 4 : fam == 6 ? 16 : 0;
	const uint8_t *a;

	memset(ep, 0, sizeof(*ep));
	if (!alen) {
		r->bad = true;
		return;
	}
	ep->family = fam == 4 ? AF_INET : AF_INET6;
	ep->port = rd16(r);
	a = take(r, alen);
	if (a)
		memcpy(ep->addr, a, alen);
}

struct wr {
	uint8_t *p;
	size_t left;
	size_t len;
	bool bad;
};

static uint8_t *put(struct wr *w, size_t n)
{
	uint8_t *p = w->p;

	if (w->bad || n > w->left) {
		w->bad = true;
		return NULL;
	}
	w->p += n;
	w->left -= n;
	w->len += n;
	return p;
}

static void wr8(struct wr *w, uint8_t v)
{
	uint8_t *p = put(w, 1);

	if (p)
		p[0] = v;
}

static void wr16(struct wr *w, uint16_t v)
{
	uint8_t *p = put(w, 2);

	if (p)
		ferry_wire_put_le16(p, v);
}

static void wr64(struct wr *w, uint64_t v)
{
	uint8_t *p = put(w, 8);

	if (p)
		ferry_wire_put_le64(p, v);
}

static void wr_bytes(struct wr *w, const uint8_t *b, size_t n)
{
	uint8_t *p = put(w, n);

	if (p && n)
		memcpy(p, b, n);
}

static void wr_endpoint(struct wr *w, const struct ferry_endpoint *ep)
{
	size_t alen = ferry_addr_len(ep->family);

	if (!alen) {
		w->bad = true;
		return;
	}
	wr8(w, alen == 4 ? 4 : 6);
	wr16(w, ep->port);
	wr_bytes(w, ep->addr, alen);
}

size_t ferry_flowmsg_endpoint_len(const struct ferry_endpoint *ep)
{
	size_t alen = ferry_addr_len(ep->family);

	return alen ? 3 + alen : 0;
}

/* ---- TCP frames ---- */

int ferry_flowmsg_frame_header(const uint8_t *p, size_t len, struct ferry_flowmsg_frame *f)
{
	if (len < FERRY_FRAME_HDR_LEN)
		return -EAGAIN;
	f->type = p[0];
	f->len = ferry_wire_get_le16(p + 1);
	if (f->type < FERRY_FRAME_OPEN || f->type > FERRY_FRAME_FIN)
		return -EPROTO;
	return 0;
}

size_t ferry_flowmsg_frame_put(uint8_t *out, uint8_t type, uint16_t len)
{
	out[0] = type;
	ferry_wire_put_le16(out + 1, len);
	return FERRY_FRAME_HDR_LEN;
}

/* The OPEN body, shared by the TCP frame (proto 6) and UDP_OPEN (proto 17). */
static void wr_open(struct wr *w, const struct ferry_flowmsg_open *o)
{
	wr8(w, o->version);
	wr8(w, o->proto);
	wr16(w, 0);
	wr64(w, o->instance);
	wr_endpoint(w, &o->src);
	wr_endpoint(w, &o->dst);
}

static int rd_open(struct rd *r, struct ferry_flowmsg_open *o, uint8_t proto)
{
	memset(o, 0, sizeof(*o));
	o->version = rd8(r);
	if (!r->bad && o->version != FERRY_FLOW_VERSION)
		return -EPROTONOSUPPORT; /* the rest may be laid out otherwise */
	o->proto = rd8(r);
	if (rd16(r) != 0)
		r->bad = true;
	o->instance = rd64(r);
	rd_endpoint(r, &o->src);
	rd_endpoint(r, &o->dst);
	if (r->bad || o->src.family != o->dst.family || o->proto != proto)
		return -EBADMSG;
	return 0;
}

size_t ferry_flowmsg_open_encode(uint8_t *out, size_t cap, const struct ferry_flowmsg_open *o)
{
	struct wr w = {.p = out, .left = cap};
	uint8_t *hdr = put(&w, FERRY_FRAME_HDR_LEN);

	wr_open(&w, o);
	if (w.bad)
		return 0;
	ferry_flowmsg_frame_put(hdr, FERRY_FRAME_OPEN, (uint16_t)(w.len - FERRY_FRAME_HDR_LEN));
	return w.len;
}

int ferry_flowmsg_open_decode(const uint8_t *body, size_t len, struct ferry_flowmsg_open *o)
{
	struct rd r = {.p = body, .left = len};
	int err = rd_open(&r, o, 6);

	if (!err && r.left)
		err = -EBADMSG;
	return err;
}

static void wr_result(struct wr *w, const struct ferry_flowmsg_result *res)
{
	wr8(w, res->code);
	wr8(w, 0);
	wr64(w, res->instance);
}

static int rd_result(struct rd *r, struct ferry_flowmsg_result *res)
{
	memset(res, 0, sizeof(*res));
	res->code = rd8(r);
	if (rd8(r) != 0)
		r->bad = true;
	res->instance = rd64(r);
	if (r->bad || r->left || res->code >= FERRY_FLOW_CODES)
		return -EBADMSG;
	return 0;
}

size_t ferry_flowmsg_result_encode(uint8_t *out, size_t cap, const struct ferry_flowmsg_result *r)
{
	struct wr w = {.p = out, .left = cap};
	uint8_t *hdr = put(&w, FERRY_FRAME_HDR_LEN);

	wr_result(&w, r);
	if (w.bad)
		return 0;
	ferry_flowmsg_frame_put(hdr, FERRY_FRAME_RESULT, FERRY_FRAME_RESULT_LEN);
	return w.len;
}

int ferry_flowmsg_result_decode(const uint8_t *body, size_t len, struct ferry_flowmsg_result *r)
{
	struct rd rd = {.p = body, .left = len};

	return rd_result(&rd, r);
}

int ferry_flowmsg_open_in_segments(const uint8_t *segs, size_t len, struct ferry_flowmsg_open *o)
{
	size_t off = 0;

	while (len - off >= FERRY_ARQ_HDR_LEN) {
		const uint8_t *s = segs + off;
		uint32_t seg_len = ferry_wire_get_le32(s + 20), sn = ferry_wire_get_le32(s + 12);
		struct ferry_flowmsg_frame f;

		if (seg_len > len - off - FERRY_ARQ_HDR_LEN)
			return -ENOENT; /* cut short */
		off += FERRY_ARQ_HDR_LEN + seg_len;
		if (s[4] != FERRY_ARQ_CMD_PUSH || sn != 0)
			continue;
		if (ferry_flowmsg_frame_header(s + FERRY_ARQ_HDR_LEN, seg_len, &f) ||
		    f.type != FERRY_FRAME_OPEN || f.len > seg_len - FERRY_FRAME_HDR_LEN)
			return -ENOENT;
		return ferry_flowmsg_open_decode(s + FERRY_ARQ_HDR_LEN + FERRY_FRAME_HDR_LEN, f.len,
						 o);
	}
	return -ENOENT;
}

/* ---- datagram-channel messages ---- */

int ferry_flowmsg_dg_decode(const uint8_t *p, size_t len, struct ferry_flowmsg_dg *m)
{
	struct rd r = {.p = p, .left = len};
	int err;

	memset(m, 0, sizeof(*m));
	m->type = rd8(&r);
	if (r.bad)
		return -EBADMSG;
	switch (m->type) {
	case FERRY_DG_UDP_OPEN:
		err = rd_open(&r, &m->open, 17);
		if (err)
			return err;
		break;
	case FERRY_DG_UDP:
		break;
	case FERRY_DG_UDP_FROM:
		rd_endpoint(&r, &m->from);
		break;
	case FERRY_DG_UDP_ACCEPT:
		return rd_result(&r, &m->result);
	case FERRY_DG_UDP_UNKNOWN:
	case FERRY_DG_TCP_UNKNOWN:
		return r.left ? -EBADMSG : 0;
	case FERRY_DG_ECHO_REQUEST:
	case FERRY_DG_ECHO_REPLY:
		m->ident = rd16(&r);
		m->seq = rd16(&r);
		rd_endpoint(&r, &m->src);
		rd_endpoint(&r, &m->dst);
		if (!r.bad && m->src.family != m->dst.family)
			return -EBADMSG;
		break;
	case FERRY_DG_TCP_RESET:
		m->code = rd8(&r);
		return r.bad || r.left || m->code >= FERRY_FLOW_CODES ? -EBADMSG : 0;
	case FERRY_DG_HELLO:
		m->version = rd8(&r);
		if (!r.bad && m->version != FERRY_FLOW_VERSION)
			return -EPROTONOSUPPORT;
		m->flags = rd8(&r);
		if (rd16(&r) != 0)
			r.bad = true;
		m->instance = rd64(&r);
		return r.bad || r.left ? -EBADMSG : 0;
	default:
		return -EPROTO;
	}
	if (r.bad)
		return -EBADMSG;
	m->payload = r.p;
	m->payload_len = r.left;
	return 0;
}

size_t ferry_flowmsg_dg_encode(uint8_t *out, size_t cap, const struct ferry_flowmsg_dg *m)
{
	struct wr w = {.p = out, .left = cap};

	wr8(&w, m->type);
	switch (m->type) {
	case FERRY_DG_UDP_OPEN:
		wr_open(&w, &m->open);
		break;
	case FERRY_DG_UDP:
		break;
	case FERRY_DG_UDP_FROM:
		wr_endpoint(&w, &m->from);
		break;
	case FERRY_DG_UDP_ACCEPT:
		wr_result(&w, &m->result);
		return w.bad ? 0 : w.len;
	case FERRY_DG_UDP_UNKNOWN:
	case FERRY_DG_TCP_UNKNOWN:
		return w.bad ? 0 : w.len;
	case FERRY_DG_ECHO_REQUEST:
	case FERRY_DG_ECHO_REPLY:
		wr16(&w, m->ident);
		wr16(&w, m->seq);
		wr_endpoint(&w, &m->src);
		wr_endpoint(&w, &m->dst);
		break;
	case FERRY_DG_TCP_RESET:
		wr8(&w, m->code);
		return w.bad ? 0 : w.len;
	case FERRY_DG_HELLO:
		wr8(&w, m->version);
		wr8(&w, m->flags);
		wr16(&w, 0);
		wr64(&w, m->instance);
		return w.bad ? 0 : w.len;
	default:
		return 0;
	}
	wr_bytes(&w, m->payload, m->payload_len);
	return w.bad ? 0 : w.len;
}

/* ---- codes ---- */

uint8_t ferry_flowmsg_code(int err)
{
	switch (err) {
	case 0:
		return FERRY_FLOW_OK;
	case -ECONNREFUSED:
		return FERRY_FLOW_REFUSED;
	case -ENETUNREACH:
	case -ENETDOWN:
		return FERRY_FLOW_NET_UNREACH;
	case -EHOSTUNREACH:
	case -EHOSTDOWN:
	case -EADDRNOTAVAIL:
		return FERRY_FLOW_HOST_UNREACH;
	case -ETIMEDOUT:
		return FERRY_FLOW_TIMEDOUT;
	case -EACCES:
		return FERRY_FLOW_DENIED;
	case -ENOSPC:
	case -ENOMEM:
	case -ENOBUFS:
	case -EMFILE:
	case -ENFILE:
		return FERRY_FLOW_NO_RESOURCES;
	case -ECONNRESET:
		return FERRY_FLOW_RESET;
	case -EPERM:
		return FERRY_FLOW_SOURCE;
	case -EPROTONOSUPPORT:
		return FERRY_FLOW_VERSION_BAD;
	default:
		return FERRY_FLOW_ABORTED;
	}
}

int ferry_flowmsg_errno(uint8_t code)
{
	static const int errs[FERRY_FLOW_CODES] = {
	    [FERRY_FLOW_OK] = 0,
	    [FERRY_FLOW_REFUSED] = -ECONNREFUSED,
	    [FERRY_FLOW_NET_UNREACH] = -ENETUNREACH,
	    [FERRY_FLOW_HOST_UNREACH] = -EHOSTUNREACH,
	    [FERRY_FLOW_TIMEDOUT] = -ETIMEDOUT,
	    [FERRY_FLOW_DENIED] = -EACCES,
	    [FERRY_FLOW_NO_RESOURCES] = -ENOSPC,
	    [FERRY_FLOW_RESET] = -ECONNRESET,
	    [FERRY_FLOW_ABORTED] = -ECONNABORTED,
	    [FERRY_FLOW_SOURCE] = -EPERM,
	    [FERRY_FLOW_VERSION_BAD] = -EPROTONOSUPPORT,
	};

	return code < FERRY_FLOW_CODES ? errs[code] : -ECONNABORTED;
}

const char *ferry_flowmsg_code_name(uint8_t code)
{
	static const char *const names[FERRY_FLOW_CODES] = {
	    [FERRY_FLOW_OK] = "ok",
	    [FERRY_FLOW_REFUSED] = "refused",
	    [FERRY_FLOW_NET_UNREACH] = "network unreachable",
	    [FERRY_FLOW_HOST_UNREACH] = "host unreachable",
	    [FERRY_FLOW_TIMEDOUT] = "timed out",
	    [FERRY_FLOW_DENIED] = "denied by egress policy",
	    [FERRY_FLOW_NO_RESOURCES] = "no resources",
	    [FERRY_FLOW_RESET] = "reset",
	    [FERRY_FLOW_ABORTED] = "aborted",
	    [FERRY_FLOW_SOURCE] = "source not allowed",
	    [FERRY_FLOW_VERSION_BAD] = "unsupported version",
	};

	return code < FERRY_FLOW_CODES ? names[code] : "?";
}
