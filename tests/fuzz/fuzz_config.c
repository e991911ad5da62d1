// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness for the configuration reader: arbitrary bytes as a config file. Beyond
 * "no crash, no leak, no sanitizer report" it checks the reader's promises: the result
 * agrees with the error count, every kept message is NUL-terminated and names the file,
 * and a refused file hands nothing out.
 *
 * Deep path: the reader got as far as a key's value -- it accepted the file, or a message
 * names a "[Section] Key:" (a value refused, a duplicate, a cross-section check). Few
 * mutated files are accepted whole (about one in a thousand), so acceptance alone would
 * say little about a run.
 */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli/config.h"
#include "tests/fuzz/fuzz.h"

/* True if text holds "] Key:": a message about a key of a section. */
static bool names_key(const char *text)
{
	const char *p = strstr(text, "] ");
	size_t n = 0;

	if (!p)
		return false;
	for (p += 2; isalpha((unsigned char)p[n]); n++)
		;
	return n && p[n] == ':';
}

static bool run(const uint8_t *data, size_t size)
{
	struct ferry_config_diag diag;
	struct ferry_config cfg;
	unsigned int i;
	bool deep;
	int ret;

	ret = ferry_config_parse_string(&cfg, "fuzz.conf", (const char *)data, size, &diag);
	deep = ret == 0;
	if (ret != 0 && ret != -EINVAL && ret != -ENOMEM)
		abort();
	if ((ret == 0) != (diag.errors == 0))
		abort();
	if (diag.count > FERRY_CONFIG_MAX_MSGS || diag.count > diag.errors + diag.warnings + 1)
		abort();
	for (i = 0; i < diag.count; i++) {
		if (!memchr(diag.msg[i].text, '\0', sizeof(diag.msg[i].text)))
			abort();
		if (strncmp(diag.msg[i].text, "fuzz.conf", 9) != 0)
			abort();
		if (names_key(diag.msg[i].text))
			deep = true;
	}
	if (ret == 0) {
		if (cfg.npeers > FERRY_CONFIG_MAX_PEERS || (cfg.npeers && !cfg.peers))
			abort();
		if (cfg.iface.mtu < FERRY_CONFIG_MTU_MIN ||
		    cfg.iface.fec_data + cfg.iface.fec_parity > FERRY_FEC_MAX_SHARDS)
			abort();
		for (size_t j = 0; j < cfg.npeers; j++)
			if (cfg.peers[j].allowed_ips.n > FERRY_CONFIG_MAX_PREFIXES)
				abort();
	} else if (cfg.peers || cfg.npeers || cfg.iface.addresses.v) {
		abort();
	}
	ferry_config_free(&cfg);
	return deep;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const struct fuzz_spec spec = {
	    .name = "fuzz_config",
	    .deep = "a file accepted, or a key's value checked",
	    .min_inputs = 7,
	    .floor_permille = 100,
	};

	return fuzz_init(argc, argv, &spec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_deep(run(data, size));
	return 0;
}
