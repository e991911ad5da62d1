// SPDX-License-Identifier: MIT
#include "tests/support/configrig.h"

#include <stdio.h>
#include <string.h>

#include <check.h>

int parse_len(struct fixture *f, const char *text, size_t len)
{
	return ferry_config_parse_string(&f->cfg, "t.conf", text, len, &f->diag);
}

int parse(struct fixture *f, const char *text)
{
	return parse_len(f, text, strlen(text));
}

void dump(const struct fixture *f)
{
	unsigned int i;

	for (i = 0; i < f->diag.count; i++)
		fprintf(stderr, "  [%u%s] %s\n", f->diag.msg[i].line,
			f->diag.msg[i].warning ? " W" : "", f->diag.msg[i].text);
}

const struct ferry_config_msg *find_msg(const struct fixture *f, unsigned int line, bool warning,
					const char *needle)
{
	unsigned int i;

	for (i = 0; i < f->diag.count; i++)
		if (f->diag.msg[i].line == line && f->diag.msg[i].warning == warning &&
		    strstr(f->diag.msg[i].text, needle))
			return &f->diag.msg[i];
	return NULL;
}

void expect_msg(const struct fixture *f, unsigned int line, bool warning, const char *needle)
{
	if (!find_msg(f, line, warning, needle)) {
		dump(f);
		ck_abort_msg("no %s on line %u containing '%s'", warning ? "warning" : "error",
			     line, needle);
	}
}
