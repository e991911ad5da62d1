// SPDX-License-Identifier: MIT
/*
 * Replays files through a libFuzzer harness without libFuzzer, so that every build (gcc,
 * sanitizers) runs each harness over its seed corpus. Arguments are files or folders;
 * an empty or missing corpus is an error, so a harness cannot pass by running nothing.
 *
 * As libFuzzer does, it calls the harness's LLVMFuzzerInitialize first. Every harness
 * defines one (tests/fuzz/fuzz.h): it registers the deep-path check that fails the run at
 * exit if too few seeds reached the code the harness exists for, and it writes generated
 * seeds (--write-seeds DIR). A harness without it does not link here.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *data;
	long size;

	if (!f) {
		perror(path);
		return -1;
	}
	if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
		fclose(f);
		return -1;
	}
	data = malloc(size ? (size_t)size : 1);
	if (!data || fread(data, 1, (size_t)size, f) != (size_t)size) {
		free(data);
		fclose(f);
		return -1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(data, (size_t)size);
	free(data);
	return 0;
}

static int replay_path(const char *path, unsigned *count)
{
	struct stat st;
	struct dirent *entry;
	DIR *dir;
	int err = 0;

	if (stat(path, &st) != 0) {
		perror(path);
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		(*count)++;
		return replay_file(path);
	}
	dir = opendir(path);
	if (!dir)
		return -1;
	while (!err && (entry = readdir(dir)) != NULL) {
		char child[4096];

		if (entry->d_name[0] == '.')
			continue;
		snprintf(child, sizeof(child), "%s/%s", path, entry->d_name);
		err = replay_path(child, count);
	}
	closedir(dir);
	return err;
}

int main(int argc, char **argv)
{
	unsigned count = 0;
	int i;

	LLVMFuzzerInitialize(&argc, &argv);
	for (i = 1; i < argc; i++)
		if (replay_path(argv[i], &count) != 0)
			return EXIT_FAILURE;
	if (count == 0) {
		fprintf(stderr, "replay: no inputs found\n");
		return EXIT_FAILURE;
	}
	printf("replay: %u inputs ran\n", count);
	return EXIT_SUCCESS;
}
