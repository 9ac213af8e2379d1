/* tests/data/util.h - temporary folders and small file helpers for the data
 * tests.  Every damaged file is made in a temporary folder, never in the
 * shared data set. */
#ifndef TENET_TESTS_DATA_UTIL_H
#define TENET_TESTS_DATA_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* A new empty folder under $TMPDIR (or /tmp); abort the test on failure. */
char *tmp_dir_new(void);
/* Remove the folder and everything in it, then free the string. */
void tmp_dir_free(char *dir);
/* "a/b" into a static-free malloc'd string. */
char *path_join(const char *a, const char *b);
void make_dir(const char *path);
void write_bytes(const char *path, const void *data, size_t size);
/* Whole file (malloc'd); aborts the test if it cannot be read. */
uint8_t *read_bytes(const char *path, size_t *size);
void copy_file(const char *from, const char *to);
/* $TENET_SHARED/datasets/cifar10-jpg, or NULL if absent. */
const char *shared_cifar10(void);
/* $TENET_SOURCE_ROOT/tests/fixtures/data/<name> (malloc'd). */
char *fixture_path(const char *name);

#endif
