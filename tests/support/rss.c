// SPDX-License-Identifier: MIT
#include "tests/support/rss.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

long ferry_test_rss_kib(void)
{
	char buf[128], *end;
	long pages;
	ssize_t n;
	int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	strtol(buf, &end, 10); /* size, then resident */
	pages = strtol(end, &end, 10);
	if (pages <= 0)
		return -1;
	return pages * (sysconf(_SC_PAGESIZE) / 1024);
}
