/* tests/nn/nn_test_util.h - paths and small file helpers for the nn tests. */
#ifndef TENET_NN_TEST_UTIL_H
#define TENET_NN_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef TENET_SOURCE_ROOT_DEFAULT
#define TENET_SOURCE_ROOT_DEFAULT "."
#endif

/* The source tree (TENET_SOURCE_ROOT from meson's test environment, or the
 * path compiled in). */
static inline const char *nt_source_root(void)
{
    const char *r = getenv("TENET_SOURCE_ROOT");
    return r && *r ? r : TENET_SOURCE_ROOT_DEFAULT;
}

/* ../shared beside the source tree (TENET_SHARED overrides). */
static inline const char *nt_shared(void)
{
    static char buf[4096];
    const char *s = getenv("TENET_SHARED");
    if (s && *s) return s;
    snprintf(buf, sizeof buf, "%s/../shared", nt_source_root());
    return buf;
}

/* "<root>/tests/fixtures/nn/<name>" in a static buffer. */
static inline const char *nt_fixture(const char *name)
{
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/tests/fixtures/nn/%s", nt_source_root(), name);
    return buf;
}

/* A fresh temporary directory (never removed while in use). */
static inline const char *nt_tmpdir(void)
{
    static char buf[4096];
    const char *t = getenv("TMPDIR");
    snprintf(buf, sizeof buf, "%s/tenet_nn_XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(buf)) {
        perror("mkdtemp");
        abort();
    }
    return buf;
}

/* Read a whole file into malloc'ed memory; *size gets its length. */
static inline unsigned char *nt_read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *p = malloc(n > 0 ? (size_t)n : 1);
    if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
        free(p);
        p = NULL;
    }
    fclose(f);
    *size = (size_t)n;
    return p;
}

static inline void nt_write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n) {
        perror(path);
        abort();
    }
    fclose(f);
}

#endif
