/* SPDX-License-Identifier: MIT */
/*
 * What the configuration suites share: RFC 7748's key pairs as the interface and its
 * peers, the lines every test file starts with, and a parse with its messages at hand.
 */
#ifndef FERRY_TESTS_CONFIGRIG_H
#define FERRY_TESTS_CONFIGRIG_H

#include <stdbool.h>
#include <stddef.h>

#include "cli/config.h"

/* RFC 7748 section 6.1 key pairs: Alice is the interface, Bob a peer. */
#define ALICE_PRIV "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo="
#define ALICE_PUB  "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo="
#define BOB_PUB	   "3p7bfXt9wbTTW2HC7OQ1Nz+DQ8hbeGdNrfx+FG+IK08="
#define CAROL_PUB  "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="

/* Two lines: [Interface] on line 1, its key on line 2. */
#define IFACE	  "[Interface]\nPrivateKey = " ALICE_PRIV "\n"
/* Three lines more: [Peer] on line 3 (after IFACE), its key on line 4, a blank line. */
#define PEER(pub) "[Peer]\nPublicKey = " pub "\n\n"

struct fixture {
	struct ferry_config cfg;
	struct ferry_config_diag diag;
};

/* Parses text as the file "t.conf" into f. */
int parse_len(struct fixture *f, const char *text, size_t len);
int parse(struct fixture *f, const char *text);

/* Prints every message of the last parse to stderr. */
void dump(const struct fixture *f);

/* The message on `line` (warning or error as asked) that contains `needle`, or NULL. */
const struct ferry_config_msg *find_msg(const struct fixture *f, unsigned int line, bool warning,
					const char *needle);

/* Fails the test, with every message printed, unless find_msg() finds one. */
void expect_msg(const struct fixture *f, unsigned int line, bool warning, const char *needle);

#endif
