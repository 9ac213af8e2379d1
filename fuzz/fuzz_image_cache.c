/* fuzz/fuzz_image_cache.c - libFuzzer target for the image-folder cache
 * reader (data/image_folder.c, cache_read through tn_image_folder_load).
 *
 * At start: a folder root/{a,b}/ with one 4x4 BMP each is loaded once with
 * a cache path, which writes a valid cache (the reference); then the images
 * are overwritten with bytes that are no image, with the same sizes and
 * modification times (the listing's fingerprint is unchanged).  From then
 * on a load succeeds only from a valid cache and fails on decoding
 * otherwise, so no input ever rewrites the cache file.
 *
 * Input: a flags byte, then the cache.  With flag 0x80 the rest is the
 * cache file as it is.  Otherwise the rest is the 64-byte cache header
 * followed by labels and pixels, and the file is header + the reference's
 * names (root path and class names) + the rest, with fields fixed up so
 * that the fuzzer reaches the deep checks: 0x01 names_bytes, 0x02 the
 * fingerprint, 0x04 the checksum over labels and pixels; 0x08 asks for 1
 * channel instead of 3. */
#include "data/internal.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The cache header's layout (cache_header in data/image_folder.c). */
enum {
    HDR_N = 16, HDR_C = 20, HDR_H = 24, HDR_W = 28,
    HDR_FINGERPRINT = 40, HDR_CHECKSUM = 48, HDR_NAMES = 56, HDR_SIZE = 64
};

static char root[256], cache[300], images[2][320];
static uint8_t ref_fingerprint[8];
static uint8_t *ref_names;
static size_t ref_names_len;

static void write_file(const char *p, const void *buf, size_t n)
{
    FILE *f = fopen(p, "wb");
    if (!f || (n && fwrite(buf, 1, n, f) != n) || fclose(f) != 0) abort();
}

/* A 4x4 24-bit BMP of one colour, with a fixed modification time. */
static void write_bmp(const char *p, uint8_t shade)
{
    uint8_t b[54 + 48] = {'B', 'M', sizeof b, 0, 0, 0, 0, 0, 0, 0, 54, 0, 0, 0, 40, 0, 0, 0,
                          4,   0,   0,        0, 4, 0, 0, 0, 1, 0, 24, 0};
    memset(b + 54, shade, 48);
    write_file(p, b, sizeof b);
}

static void fix_mtime(const char *p)
{
    struct timespec t[2] = {{1000000000, 0}, {1000000000, 0}};
    if (utimensat(AT_FDCWD, p, t, 0) != 0) abort();
}

/* Leave nothing behind. */
static void remove_folder(void)
{
    for (int k = 0; k < 2; k++) {
        unlink(images[k]);
        *strrchr(images[k], '/') = 0;
        rmdir(images[k]);
    }
    unlink(cache);
    rmdir(root);
}

static tn_status load(tn_dataset **ds, int channels, tn_image_folder_info *info)
{
    tn_image_folder_options o = {.channels = channels, .threads = 1, .cache_path = cache};
    return tn_image_folder_load(ds, root, &o, info);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *tmp = getenv("TMPDIR");
    snprintf(root, sizeof root, "%s/tenet-fuzz-cache-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(root)) abort();
    char *real = realpath(root, NULL); /* the cache records the real path */
    if (!real || strlen(real) >= sizeof root) abort();
    snprintf(root, sizeof root, "%s", real);
    free(real);
    snprintf(cache, sizeof cache, "%s/cache.bin", root);
    for (int k = 0; k < 2; k++) {
        char dir[300];
        snprintf(dir, sizeof dir, "%s/%c", root, 'a' + k);
        if (mkdir(dir, 0700) != 0) abort();
        snprintf(images[k], sizeof images[k], "%s/%d.bmp", dir, k);
        write_bmp(images[k], (uint8_t)(40 + 160 * k));
        fix_mtime(images[k]);
    }
    atexit(remove_folder);
    tn_dataset *ds = NULL;
    tn_image_folder_info info;
    if (load(&ds, 3, &info) != TN_OK || !info.cache_written) abort();
    tn_dataset_free(ds);
    uint8_t *ref;
    size_t ref_len;
    if (tn_data_read_file(cache, &ref, &ref_len) != TN_OK || ref_len < HDR_SIZE) abort();
    uint64_t names;
    memcpy(&names, ref + HDR_NAMES, 8);
    if (names > ref_len - HDR_SIZE) abort();
    memcpy(ref_fingerprint, ref + HDR_FINGERPRINT, 8);
    ref_names_len = (size_t)names;
    if (!(ref_names = malloc(ref_names_len))) abort();
    memcpy(ref_names, ref + HDR_SIZE, ref_names_len);
    free(ref);
    /* Now only the cache can give a data set. */
    for (int k = 0; k < 2; k++) {
        uint8_t junk[54 + 48];
        memset(junk, 'x', sizeof junk);
        write_file(images[k], junk, sizeof junk);
        fix_mtime(images[k]);
    }
    if (load(&ds, 3, &info) != TN_OK || !info.from_cache) abort(); /* the reference reads back */
    tn_dataset_free(ds);
    return 0;
}

static int32_t get_i32(const uint8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    unsigned flags = data[0];
    const uint8_t *body = data + 1;
    size_t n_body = size - 1;
    if ((flags & 0x80) || n_body < HDR_SIZE) {
        write_file(cache, body, n_body);
    } else {
        size_t rest = n_body - HDR_SIZE, total = HDR_SIZE + ref_names_len + rest;
        uint8_t *file = malloc(total);
        if (!file) abort();
        memcpy(file, body, HDR_SIZE);
        memcpy(file + HDR_SIZE, ref_names, ref_names_len);
        memcpy(file + HDR_SIZE + ref_names_len, body + HDR_SIZE, rest);
        if (flags & 0x01) {
            uint64_t nb = ref_names_len;
            memcpy(file + HDR_NAMES, &nb, 8);
        }
        if (flags & 0x02) memcpy(file + HDR_FINGERPRINT, ref_fingerprint, 8);
        int32_t n = get_i32(file + HDR_N), c = get_i32(file + HDR_C), h = get_i32(file + HDR_H),
                w = get_i32(file + HDR_W);
        if ((flags & 0x04) && n >= 0 && c >= 0 && h >= 0 && w >= 0 && n <= 1024 && c <= 4 &&
            h <= 1024 && w <= 1024) {
            size_t lb = (size_t)n * 4, px = (size_t)n * (size_t)c * (size_t)h * (size_t)w;
            if (lb + px <= rest) {
                const uint8_t *lab = file + HDR_SIZE + ref_names_len;
                uint64_t sum = tn_data_checksum(tn_data_checksum(0, lab, lb), lab + lb, px);
                memcpy(file + HDR_CHECKSUM, &sum, 8);
            }
        }
        write_file(cache, file, total);
        free(file);
    }

    int channels = (flags & 0x08) ? 1 : 3;
    tn_dataset *ds = NULL;
    tn_image_folder_info info;
    tn_status st = load(&ds, channels, &info);
    if (st == TN_OK) {
        /* Only a valid cache can give a data set, and it must be this one. */
        if (!ds || !info.from_cache || info.cache_written || ds->n != 2 || ds->c != channels ||
            ds->n_classes != 2 || ds->labels[0] != 0 || ds->labels[1] != 1 ||
            strcmp(ds->class_names[0], "a") != 0 || strcmp(ds->class_names[1], "b") != 0)
            __builtin_trap();
        volatile uint8_t sum = 0; /* touch every pixel */
        for (size_t i = 0; i < (size_t)ds->n * ds->c * ds->h * ds->w; i++) sum += ds->pixels[i];
        (void)sum;
    } else if (ds != NULL || info.cache_written || strstr(tn_error_message(), ".bmp") == NULL) {
        __builtin_trap(); /* a bad cache falls back to decoding, which names the image */
    }
    tn_dataset_free(ds);
    return 0;
}
