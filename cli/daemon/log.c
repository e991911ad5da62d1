// SPDX-License-Identifier: MIT
/* The daemon's log (see log.h): one line per call on stderr, formatted first and written
 * by one fprintf (one write() with glibc's unbuffered stderr), so lines stay whole. */
#include "cli/daemon/log.h"

#include <stdarg.h>
#include <stdio.h>

void ferry_log(const struct ferry_log *log, enum ferry_log_level level, const char *fmt, ...)
{
	static const char *const names[] = {"error", "warning", "info", "debug"};
	char line[512];
	va_list ap;

	if (level > log->level)
		return;
	va_start(ap, fmt);
	/* clang-analyzer 14 misreads va_start here, as in cli/config.c */
	// NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized)
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "ferry[%s]: %s: %s\n", log->name ? log->name : "-", names[level], line);
}
