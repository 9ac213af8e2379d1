/* tests/data/util.c - temporary folders and file helpers. */
#define _XOPEN_SOURCE 700
#include "util.h"

#include <criterion/criterion.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *tmp_dir_new(void)
{
    const char *base = getenv("TMPDIR");
    char *tpl = path_join(base && *base ? base : "/tmp", "tenet-data-XXXXXX");
    cr_assert_not_null(mkdtemp(tpl), "mkdtemp %s failed", tpl);
    return tpl;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void tmp_dir_free(char *dir)
{
    if (!dir) return;
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}

char *path_join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = malloc(n);
    cr_assert_not_null(p);
    snprintf(p, n, "%s/%s", a, b);
    return p;
}

void make_dir(const char *path) { cr_assert_eq(mkdir(path, 0755), 0, "mkdir %s", path); }

void write_bytes(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot write %s", path);
    cr_assert_eq(fwrite(data, 1, size, f), size);
    cr_assert_eq(fclose(f), 0);
}

uint8_t *read_bytes(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot read %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(n > 0 ? (size_t)n : 1);
    cr_assert_not_null(b);
    cr_assert_eq(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *size = (size_t)n;
    return b;
}

void copy_file(const char *from, const char *to)
{
    size_t n;
    uint8_t *b = read_bytes(from, &n);
    write_bytes(to, b, n);
    free(b);
}

const char *shared_cifar10(void)
{
    static char buf[4096];
    const char *s = getenv("TENET_SHARED");
    snprintf(buf, sizeof buf, "%s/datasets/cifar10-jpg", s ? s : "../shared");
    struct stat sb;
    return stat(buf, &sb) == 0 && S_ISDIR(sb.st_mode) ? buf : NULL;
}

char *fixture_path(const char *name)
{
    const char *root = getenv("TENET_SOURCE_ROOT");
    char *dir = path_join(root ? root : ".", "tests/fixtures/data");
    char *p = path_join(dir, name);
    free(dir);
    return p;
}
