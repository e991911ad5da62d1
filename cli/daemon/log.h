/* SPDX-License-Identifier: MIT */
/*
 * The daemon's log: one line per event on stderr, "ferry[NAME]: level: message", with a
 * threshold set by --quiet (errors only) and --verbose (debug too). Nothing else of the
 * daemon prints; the protocol cores never log (they count).
 */
#ifndef FERRY_CLI_DAEMON_LOG_H
#define FERRY_CLI_DAEMON_LOG_H

enum ferry_log_level {
	FERRY_LOG_ERROR,
	FERRY_LOG_WARN,
	FERRY_LOG_INFO,
	FERRY_LOG_DEBUG,
};

struct ferry_log {
	const char *name;	    /* the interface's name */
	enum ferry_log_level level; /* lines above it are not written */
};

/* Writes one line if level passes the threshold. */
void ferry_log(const struct ferry_log *log, enum ferry_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
