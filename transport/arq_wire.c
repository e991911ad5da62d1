// SPDX-License-Identifier: MIT
/*
 * KCP segment codec and the profiles' configuration. The header is 24 bytes, every field
 * little-endian, written and read byte by byte so that neither host order nor alignment
 * matters; decode checks the announced payload length against the bytes present before
 * anyone looks at the payload.
 */
#include "transport/arq.h"

#include <errno.h>
#include <string.h>

void ferry_arq_hdr_write(uint8_t *p, const struct ferry_arq_seg *h)
{
	ferry_wire_put_le32(p, h->conv);
	p[4] = h->cmd;
	p[5] = h->frg;
	ferry_wire_put_le16(p + 6, h->wnd);
	ferry_wire_put_le32(p + 8, h->ts);
	ferry_wire_put_le32(p + 12, h->sn);
	ferry_wire_put_le32(p + 16, h->una);
	ferry_wire_put_le32(p + 20, h->len);
}

ssize_t ferry_arq_seg_encode(uint8_t *out, size_t cap, const struct ferry_arq_seg *hdr,
			     const uint8_t *payload)
{
	if (cap < FERRY_ARQ_HDR_LEN || hdr->len > cap - FERRY_ARQ_HDR_LEN)
		return -ENOSPC;
	ferry_arq_hdr_write(out, hdr);
	if (hdr->len)
		memcpy(out + FERRY_ARQ_HDR_LEN, payload, hdr->len);
	return (ssize_t)FERRY_ARQ_HDR_LEN + hdr->len;
}

ssize_t ferry_arq_seg_decode(const uint8_t *in, size_t len, struct ferry_arq_seg *hdr)
{
	if (len < FERRY_ARQ_HDR_LEN)
		return -EMSGSIZE;
	hdr->conv = ferry_wire_get_le32(in);
	hdr->cmd = in[4];
	hdr->frg = in[5];
	hdr->wnd = ferry_wire_get_le16(in + 6);
	hdr->ts = ferry_wire_get_le32(in + 8);
	hdr->sn = ferry_wire_get_le32(in + 12);
	hdr->una = ferry_wire_get_le32(in + 16);
	hdr->len = ferry_wire_get_le32(in + 20);
	if (hdr->len > len - FERRY_ARQ_HDR_LEN)
		return -EMSGSIZE;
	return (ssize_t)FERRY_ARQ_HDR_LEN + hdr->len;
}

int ferry_arq_peek_conv(const uint8_t *dgram, size_t len, uint32_t *conv)
{
	if (len < FERRY_ARQ_HDR_LEN)
		return -EMSGSIZE;
	*conv = ferry_wire_get_le32(dgram);
	return 0;
}

int ferry_arq_config_init(struct ferry_arq_config *cfg, enum ferry_arq_profile profile)
{
	static const uint32_t knobs[][4] = {
	    [FERRY_ARQ_PROFILE_NORMAL] = {0, 40, 2, 1}, [FERRY_ARQ_PROFILE_FAST] = {0, 30, 2, 1},
	    [FERRY_ARQ_PROFILE_FAST2] = {1, 20, 2, 1},	[FERRY_ARQ_PROFILE_FAST3] = {1, 10, 2, 1},
	    [FERRY_ARQ_PROFILE_MANUAL] = {0, 40, 2, 1},
	};

	if ((unsigned)profile > FERRY_ARQ_PROFILE_MANUAL)
		return -EINVAL;
	memset(cfg, 0, sizeof(*cfg));
	cfg->mtu = FERRY_ARQ_MTU_DEFAULT;
	cfg->snd_wnd = 128;
	cfg->rcv_wnd = 256;
	cfg->snd_queue_max = 256;
	cfg->nodelay = knobs[profile][0];
	cfg->interval = knobs[profile][1];
	cfg->resend = knobs[profile][2];
	cfg->nc = knobs[profile][3];
	cfg->fast_limit = 5;
	cfg->dead_link = 20;
	cfg->dead_time = 30000;
	cfg->rmt_wnd_init = 128;
	cfg->ack_repeat = 2;
	cfg->stream = true;
	return 0;
}
