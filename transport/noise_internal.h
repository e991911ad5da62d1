/* SPDX-License-Identifier: MIT */
/* Shared between noise.c (handshake) and session.c (sessions, data path); not an API. */
#ifndef FERRY_TRANSPORT_NOISE_INTERNAL_H
#define FERRY_TRANSPORT_NOISE_INTERNAL_H

#include "transport/noise.h"

/* Wipes the session *slot points at and clears the pointer; NULL is ignored. */
void ferry_noise_session_drop(struct ferry_noise_session **slot);

/* Wipes a half-finished handshake. */
void ferry_noise_handshake_clear(struct ferry_noise_handshake *hs);

#endif
