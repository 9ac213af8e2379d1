/* tests/data/test_folder.c - image folders: the shared CIFAR-10 JPEG folder
 * against PIL's decoding, lossless formats exactly, resizing, the decoded
 * cache, and every error on damaged copies in a temporary folder. */
#include "data/data.h"
#include "tensor/safetensors.h"
#include "util.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <stb/stb_image_write.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *C10[] = {"airplane", "automobile", "bird", "cat", "deer",
                            "dog", "frog", "horse", "ship", "truck"};

/* stb_image and PIL (libjpeg) decode the same baseline JPEG with different
 * IDCT and chroma-upsampling rounding, so their pixels may differ by a few
 * levels; measured on the fixture images the largest difference is 2 (see
 * the report printed by shared_cifar10_matches_pil).  PNG, BMP and TGA
 * must match exactly. */
#define JPEG_PIL_TOLERANCE 2

static int class_of(const char *name)
{
    for (int k = 0; k < 10; k++)
        if (strcmp(name, C10[k]) == 0) return k;
    return -1;
}

/* Max |stb - PIL| over the image "split/class/NNNN.jpg" of ds. */
static int compare_named(const tn_dataset *ds, const tn_st_file *fx, const char *name,
                         int per_class, int *checked)
{
    char split[16], cls[32];
    int num;
    cr_assert_eq(sscanf(name, "%15[^/]/%31[^/]/%d.jpg", split, cls, &num), 3);
    int k = class_of(cls);
    cr_assert_geq(k, 0);
    int i = k * per_class + num;
    cr_assert_eq(ds->labels[i], k);
    const tn_st_entry *e = tn_st_find(fx, name);
    cr_assert_not_null(e, "fixture lacks %s", name);
    cr_assert_eq(e->numel, 3u * 32 * 32);
    const uint8_t *img = tn_dataset_image(ds, i);
    int maxd = 0;
    for (size_t j = 0; j < e->numel; j++) {
        int d = abs((int)img[j] - (int)e->data[j]);
        if (d > maxd) maxd = d;
    }
    (*checked)++;
    return maxd;
}

Test(folder, shared_cifar10_matches_pil)
{
    const char *root = shared_cifar10();
    if (!root) cr_skip_test("no shared CIFAR-10 folder");
    char *fxp = fixture_path("cifar10_pil.safetensors");
    tn_st_file *fx = NULL;
    cr_assert_eq(tn_st_open(fxp, &fx), TN_OK, "%s", tn_error_message());
    free(fxp);
    int maxd = 0, checked = 0;
    for (int s = 0; s < 2; s++) {
        const char *split = s == 0 ? "train" : "test";
        int per = s == 0 ? 5000 : 1000;
        char *dir = path_join(root, split);
        tn_dataset *ds = NULL;
        tn_image_folder_options opt = {.threads = 2};
        tn_image_folder_info info;
        cr_assert_eq(tn_image_folder_load(&ds, dir, &opt, &info), TN_OK, "%s",
                     tn_error_message());
        cr_assert_eq(ds->n, 10 * per);
        cr_assert_eq(info.files, 10 * per);
        cr_assert(!info.from_cache && !info.cache_written);
        cr_assert(ds->c == 3 && ds->h == 32 && ds->w == 32);
        cr_assert_eq(ds->n_classes, 10);
        int counts[10];
        tn_dataset_class_counts(ds, counts);
        for (int k = 0; k < 10; k++) {
            cr_assert_str_eq(ds->class_names[k], C10[k]);
            cr_assert_eq(counts[k], per);
        }
        for (int i = 0; i < ds->n; i++) cr_assert_eq(ds->labels[i], i / per);
        for (size_t t = 0; t < tn_st_count(fx); t++) {
            const char *name = tn_st_at(fx, t)->name;
            if (strncmp(name, split, strlen(split)) != 0 || name[strlen(split)] != '/') continue;
            int d = compare_named(ds, fx, name, per, &checked);
            if (d > maxd) maxd = d;
        }
        tn_dataset_free(ds);
        free(dir);
    }
    cr_log_info("stb_image vs PIL on %d JPEGs: max |difference| = %d", checked, maxd);
    fprintf(stderr, "data: stb_image vs PIL on %d JPEGs: max |difference| = %d levels\n",
            checked, maxd);
    cr_assert_eq(checked, 9);
    cr_assert_leq(maxd, JPEG_PIL_TOLERANCE);
    tn_st_close(fx);
}

/* The PIL-encoded PNG, BMP and TGA fixtures, arranged as a folder (with
 * upper-case extensions too), must decode exactly to PIL's pixels. */
Test(folder, lossless_formats_exact)
{
    char *fxp = fixture_path("cifar10_pil.safetensors");
    tn_st_file *fx = NULL;
    cr_assert_eq(tn_st_open(fxp, &fx), TN_OK, "%s", tn_error_message());
    free(fxp);
    /* "0.png=train/airplane/0000.jpg,..." */
    const char *map = tn_st_meta(fx, "lossless");
    cr_assert_not_null(map);
    char *dir = tmp_dir_new();
    char *ca = path_join(dir, "a_class"), *cb = path_join(dir, "b_class");
    make_dir(ca);
    make_dir(cb);
    const char *dst_names[5] = {"x0.png", "x1.PNG", "y2.Png", "y3.BMP", "y4.tga"};
    char srcs[5][64];
    int n = 0;
    for (const char *p = map; *p && n < 5;) {
        char file[16], src[64];
        cr_assert_eq(sscanf(p, "%15[^=]=%63[^,]", file, src), 2);
        char *from = fixture_path("lossless"), *f2 = path_join(from, file);
        char *to = path_join(n < 2 ? ca : cb, dst_names[n]);
        copy_file(f2, to);
        snprintf(srcs[n], sizeof srcs[n], "%s", src);
        free(from);
        free(f2);
        free(to);
        n++;
        p = strchr(p, ',');
        if (!p) break;
        p++;
    }
    cr_assert_eq(n, 5);
    tn_dataset *ds = NULL;
    cr_assert_eq(tn_image_folder_load(&ds, dir, NULL, NULL), TN_OK, "%s", tn_error_message());
    cr_assert_eq(ds->n, 5);
    cr_assert_str_eq(ds->class_names[0], "a_class");
    cr_assert_str_eq(ds->class_names[1], "b_class");
    int want_label[5] = {0, 0, 1, 1, 1};
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(ds->labels[i], want_label[i]);
        const tn_st_entry *e = tn_st_find(fx, srcs[i]);
        cr_assert_not_null(e);
        const uint8_t *img = tn_dataset_image(ds, i);
        for (size_t j = 0; j < e->numel; j++)
            cr_assert_eq(img[j], (uint8_t)e->data[j], "%s (%s) element %zu: %d vs %g",
                         dst_names[i], srcs[i], j, img[j], (double)e->data[j]);
    }
    tn_dataset_free(ds);
    tn_st_close(fx);
    free(ca);
    free(cb);
    tmp_dir_free(dir);
}

/* An interleaved RGB image (h, w, 3) with a known pattern, as a PNG. */
static void write_png(const char *path, int h, int w, int seed)
{
    uint8_t *px = malloc((size_t)h * w * 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++)
                px[(y * w + x) * 3 + c] = (uint8_t)(seed * 31 + y * 5 + x * 9 + c * 70);
    cr_assert(stbi_write_png(path, w, h, 3, px, w * 3), "cannot write %s", path);
    free(px);
}

static uint8_t pattern(int seed, int y, int x, int c)
{
    return (uint8_t)(seed * 31 + y * 5 + x * 9 + c * 70);
}

Test(folder, resize_nearest_and_bilinear)
{
    char *dir = tmp_dir_new();
    char *cls = path_join(dir, "only");
    make_dir(cls);
    char *a = path_join(cls, "a.png"), *b = path_join(cls, "b.png");
    write_png(a, 8, 8, 1);
    write_png(b, 16, 12, 2); /* a different size */
    tn_dataset *ds = NULL;
    /* Without resizing the odd one out is an error naming it. */
    cr_assert_eq(tn_image_folder_load(&ds, dir, NULL, NULL), TN_ERR_FORMAT);
    cr_assert_not_null(strstr(tn_error_message(), "b.png"), "%s", tn_error_message());
    cr_assert_not_null(strstr(tn_error_message(), "16x12"), "%s", tn_error_message());
    cr_assert_null(ds);

    tn_image_folder_options opt = {.height = 8, .width = 6, .resize = TN_RESIZE_NEAREST};
    cr_assert_eq(tn_image_folder_load(&ds, dir, &opt, NULL), TN_OK, "%s", tn_error_message());
    cr_assert(ds->h == 8 && ds->w == 6 && ds->n == 2);
    /* Nearest: source pixel floor((i + 0.5) * s / d). */
    for (int k = 0; k < 2; k++) {
        int sh = k ? 16 : 8, sw = k ? 12 : 8;
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < 8; y++)
                for (int x = 0; x < 6; x++) {
                    int sy = (2 * y + 1) * sh / 16, sx = (2 * x + 1) * sw / 12;
                    cr_assert_eq(tn_dataset_image(ds, k)[(c * 8 + y) * 6 + x],
                                 pattern(k + 1, sy, sx, c));
                }
    }
    tn_dataset_free(ds);

    /* Bilinear halving averages 2x2 blocks (the pattern is linear, so exact
     * up to rounding of .5). */
    opt = (tn_image_folder_options){.height = 8, .width = 6, .resize = TN_RESIZE_BILINEAR};
    cr_assert_eq(tn_image_folder_load(&ds, dir, &opt, NULL), TN_OK, "%s", tn_error_message());
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < 8; y++)
            for (int x = 0; x < 6; x++) {
                double v = 0;
                for (int i = 0; i < 4; i++) v += pattern(2, 2 * y + i / 2, 2 * x + i % 2, c);
                int got = tn_dataset_image(ds, 1)[(c * 8 + y) * 6 + x];
                /* the pattern wraps modulo 256 in places: compare only where it does not */
                bool wraps = false;
                for (int i = 0; i < 4; i++) {
                    int raw = 2 * 31 + (2 * y + i / 2) * 5 + (2 * x + i % 2) * 9 + c * 70;
                    wraps |= raw / 256 != (2 * 31 + 2 * y * 5 + 2 * x * 9 + c * 70) / 256;
                }
                if (!wraps) cr_assert_leq(abs(got - (int)(v / 4 + 0.5)), 1);
            }
    tn_dataset_free(ds);
    free(a);
    free(b);
    free(cls);
    tmp_dir_free(dir);
}

/* A solid-colour RGB image (h, w, 3) as a baseline JPEG of quality 100. */
static void write_jpeg(const char *path, int h, int w, const uint8_t rgb[3])
{
    uint8_t *px = malloc((size_t)h * w * 3);
    for (int i = 0; i < h * w; i++) memcpy(px + 3 * i, rgb, 3);
    cr_assert(stbi_write_jpg(path, w, h, 3, px, 100), "cannot write %s", path);
    free(px);
}

/* .jpeg (and .jpg) in any case are images; names that only look like them
 * (no dot, another extension after, .jpe) are not.  The decoded pixels equal
 * a direct decode of the same file and, for solid colours, the colour
 * written (JPEG's rounding: a few levels). */
Test(folder, jpeg_extensions_in_any_case)
{
    static const struct {
        const char *rel;
        uint8_t rgb[3];
    } files[] = {
        {"a_class/p.jpeg", {200, 30, 40}},  {"a_class/q.JPEG", {20, 180, 60}},
        {"a_class/r.Jpg", {40, 50, 220}},   {"b_class/s.jpg", {250, 250, 10}},
        {"b_class/t.JpEg", {90, 90, 90}},
    };
    static const char *decoys[] = {"a_class/jpeg", "a_class/u.jpe", "b_class/v.jpeg.bak",
                                   "b_class/w.jpegx"};
    enum { NF = sizeof files / sizeof *files, ND = sizeof decoys / sizeof *decoys };
    char *dir = tmp_dir_new();
    char *ca = path_join(dir, "a_class"), *cb = path_join(dir, "b_class");
    make_dir(ca);
    make_dir(cb);
    for (int i = 0; i < NF; i++) {
        char *p = path_join(dir, files[i].rel);
        write_jpeg(p, 8, 8, files[i].rgb);
        free(p);
    }
    static const uint8_t grey[3] = {128, 128, 128};
    for (int i = 0; i < ND; i++) { /* real JPEG contents under names that are not images */
        char *p = path_join(dir, decoys[i]);
        write_jpeg(p, 8, 8, grey);
        free(p);
    }
    tn_dataset *ds = NULL;
    tn_image_folder_info info;
    cr_assert_eq(tn_image_folder_load(&ds, dir, NULL, &info), TN_OK, "%s", tn_error_message());
    cr_assert_eq(info.files, NF);
    cr_assert_eq(ds->n, NF);
    cr_assert(ds->c == 3 && ds->h == 8 && ds->w == 8);
    cr_assert_eq(ds->n_classes, 2);
    cr_assert_str_eq(ds->class_names[0], "a_class");
    cr_assert_str_eq(ds->class_names[1], "b_class");
    static const int want_label[NF] = {0, 0, 0, 1, 1};
    uint8_t direct[3 * 8 * 8];
    for (int i = 0; i < NF; i++) {
        cr_assert_eq(ds->labels[i], want_label[i], "%s", files[i].rel);
        const uint8_t *img = tn_dataset_image(ds, i);
        char *p = path_join(dir, files[i].rel);
        cr_assert_eq(tn_image_load_file(p, 3, 8, 8, TN_RESIZE_NONE, direct), TN_OK, "%s",
                     tn_error_message());
        free(p);
        cr_assert_eq(memcmp(img, direct, sizeof direct), 0, "%s: folder and direct decode differ",
                     files[i].rel);
        for (int c = 0; c < 3; c++)
            for (int j = 0; j < 64; j++)
                cr_assert_leq(abs((int)img[c * 64 + j] - (int)files[i].rgb[c]), 3,
                              "%s channel %d pixel %d: %d, written %d", files[i].rel, c, j,
                              img[c * 64 + j], files[i].rgb[c]);
    }
    tn_dataset_free(ds);

    /* A class folder holding only decoys is empty. */
    char *cc = path_join(dir, "c_class"), *only = path_join(cc, "x.jpe");
    make_dir(cc);
    write_jpeg(only, 8, 8, grey);
    cr_assert_eq(tn_image_folder_load(&ds, dir, NULL, NULL), TN_ERR_FORMAT);
    cr_assert_not_null(strstr(tn_error_message(), "c_class"), "%s", tn_error_message());
    cr_assert_not_null(strstr(tn_error_message(), "empty class folder"), "%s",
                       tn_error_message());
    cr_assert_null(ds);
    free(only);
    free(cc);
    free(ca);
    free(cb);
    tmp_dir_free(dir);
}

/* A small folder of PNGs for the cache tests. */
static char *small_folder(int per_class)
{
    char *dir = tmp_dir_new();
    for (int k = 0; k < 3; k++) {
        char name[16];
        snprintf(name, sizeof name, "c%d", k);
        char *cls = path_join(dir, name);
        make_dir(cls);
        for (int i = 0; i < per_class; i++) {
            snprintf(name, sizeof name, "%03d.png", i);
            char *p = path_join(cls, name);
            write_png(p, 10, 10, k * 100 + i);
            free(p);
        }
        free(cls);
    }
    return dir;
}

static void assert_same(const tn_dataset *a, const tn_dataset *b)
{
    cr_assert(a->n == b->n && a->c == b->c && a->h == b->h && a->w == b->w);
    cr_assert_eq(memcmp(a->labels, b->labels, (size_t)a->n * sizeof *a->labels), 0);
    cr_assert_eq(memcmp(a->pixels, b->pixels, (size_t)a->n * a->c * a->h * a->w), 0);
    for (int k = 0; k < a->n_classes; k++) cr_assert_str_eq(a->class_names[k], b->class_names[k]);
}

Test(folder, cache_used_when_valid_and_rebuilt_when_not)
{
    char *dir = small_folder(5);
    char *cache_dir = tmp_dir_new();
    char *cache = path_join(cache_dir, "imgs.cache");
    tn_image_folder_options opt = {.cache_path = cache, .threads = 2};
    tn_image_folder_info info;
    tn_dataset *ref = NULL, *ds = NULL;
    cr_assert_eq(tn_image_folder_load(&ref, dir, NULL, NULL), TN_OK);

    cr_assert_eq(tn_image_folder_load(&ds, dir, &opt, &info), TN_OK, "%s", tn_error_message());
    cr_assert(!info.from_cache && info.cache_written);
    assert_same(ds, ref);
    tn_dataset_free(ds);
    cr_assert_eq(tn_image_folder_load(&ds, dir, &opt, &info), TN_OK);
    cr_assert(info.from_cache && !info.cache_written);
    assert_same(ds, ref);
    tn_dataset_free(ds);

    /* A flipped pixel byte fails the checksum: decoded again, rewritten. */
    size_t size;
    uint8_t *b = read_bytes(cache, &size);
    b[size - 7] ^= 0x40;
    write_bytes(cache, b, size);
    cr_assert_eq(tn_image_folder_load(&ds, dir, &opt, &info), TN_OK);
    cr_assert(!info.from_cache && info.cache_written);
    assert_same(ds, ref);
    tn_dataset_free(ds);
    /* A truncated cache, a bad magic, garbage: never used. */
    write_bytes(cache, b, size / 2);
    cr_assert_eq(tn_image_folder_load(&ds, dir, &opt, &info), TN_OK);
    cr_assert(!info.from_cache);
    assert_same(ds, ref);
    tn_dataset_free(ds);
    b[0] ^= 1;
    write_bytes(cache, b, size);
    cr_assert_eq(tn_image_folder_load(&ds, dir, &opt, &info), TN_OK);
    cr_assert(!info.from_cache);
    tn_dataset_free(ds);
    write_bytes(cache, "garbage", 7);
    cr_assert_eq(tn_image_folder_load(&ds, dir, &opt, &info), TN_OK);
    cr_assert(!info.from_cache && info.cache_written);
    tn_dataset_free(ds);
    free(b);

    /* Other options (a resize) do not use the cache of the plain load. */
    tn_image_folder_options o2 = opt;
    o2.height = o2.width = 8;
    o2.resize = TN_RESIZE_BILINEAR;
    cr_assert_eq(tn_image_folder_load(&ds, dir, &o2, &info), TN_OK);
    cr_assert(!info.from_cache && ds->h == 8);
    tn_dataset_free(ds);

    /* A changed image (new contents, size and time) invalidates the cache. */
    cr_assert_eq(tn_image_folder_load(&ds, dir, &opt, &info), TN_OK);
    tn_dataset_free(ds);
    char *p = path_join(dir, "c1/002.png");
    write_png(p, 10, 10, 7777);
    struct timespec ts[2] = {{.tv_sec = 1000000000}, {.tv_sec = 1000000000}};
    utimensat(AT_FDCWD, p, ts, 0);
    cr_assert_eq(tn_image_folder_load(&ds, dir, &opt, &info), TN_OK);
    cr_assert(!info.from_cache);
    cr_assert_neq(memcmp(tn_dataset_image(ds, 7), tn_dataset_image(ref, 7), 300), 0);
    tn_dataset_free(ds);
    /* An added image too. */
    free(p);
    p = path_join(dir, "c2/zzz.png");
    write_png(p, 10, 10, 5);
    cr_assert_eq(tn_image_folder_load(&ds, dir, &opt, &info), TN_OK);
    cr_assert(!info.from_cache && ds->n == 16);
    tn_dataset_free(ds);
    /* The same images under another root do not use this root's cache. */
    char *dir2 = small_folder(5);
    cr_assert_eq(tn_image_folder_load(&ds, dir2, &opt, &info), TN_OK);
    cr_assert(!info.from_cache && info.cache_written);
    tn_dataset_free(ds);
    tmp_dir_free(dir2);
    /* A cache that cannot be written is not an error. */
    tn_image_folder_options o3 = {.cache_path = "/nonexistent/tenet/x.cache"};
    cr_assert_eq(tn_image_folder_load(&ds, dir, &o3, &info), TN_OK);
    cr_assert(!info.from_cache && !info.cache_written);
    tn_dataset_free(ds);
    /* No temporary files are left beside the cache. */
    DIR *d = opendir(cache_dir);
    cr_assert_not_null(d);
    struct dirent *e;
    int entries = 0;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        cr_assert_str_eq(e->d_name, "imgs.cache");
        entries++;
    }
    closedir(d);
    cr_assert_eq(entries, 1);
    free(p);
    tn_dataset_free(ref);
    free(cache);
    tmp_dir_free(cache_dir);
    tmp_dir_free(dir);
}

Test(folder, grey_channels)
{
    char *dir = small_folder(1);
    tn_image_folder_options opt = {.channels = 1};
    tn_dataset *ds = NULL;
    cr_assert_eq(tn_image_folder_load(&ds, dir, &opt, NULL), TN_OK, "%s", tn_error_message());
    cr_assert_eq(ds->c, 1);
    cr_assert_eq(ds->n, 3);
    tn_dataset_free(ds);
    tmp_dir_free(dir);
}

/* ------------------------------------------------------------------ errors */

static void expect_error(tn_status got, tn_status want, const char *needle1, const char *needle2)
{
    cr_assert_eq(got, want, "status %s, wanted %s: %s", tn_status_name(got),
                 tn_status_name(want), tn_error_message());
    cr_assert_not_null(strstr(tn_error_message(), needle1), "message '%s' lacks '%s'",
                       tn_error_message(), needle1);
    if (needle2)
        cr_assert_not_null(strstr(tn_error_message(), needle2), "message '%s' lacks '%s'",
                           tn_error_message(), needle2);
}

/* A copy of two classes of real JPEGs (from the shared folder if present,
 * else PNGs made here), to damage. */
static char *jpeg_copy(const char **real_jpeg)
{
    const char *root = shared_cifar10();
    char *dir = tmp_dir_new();
    *real_jpeg = NULL;
    for (int k = 0; k < 2; k++) {
        char *cls = path_join(dir, C10[k]);
        make_dir(cls);
        for (int i = 0; i < 3; i++) {
            char name[64];
            snprintf(name, sizeof name, "%04d.jpg", i);
            char *to = path_join(cls, name);
            if (root) {
                char from[512];
                snprintf(from, sizeof from, "%s/test/%s/%s", root, C10[k], name);
                copy_file(from, to);
                *real_jpeg = "yes";
            } else {
                write_png(to, 32, 32, i); /* a .jpg named PNG still decodes */
            }
            free(to);
        }
        free(cls);
    }
    return dir;
}

static void damage(const char *dir, const char *rel, size_t keep, long flip_at)
{
    char *p = path_join(dir, rel);
    size_t size;
    uint8_t *b = read_bytes(p, &size);
    if (flip_at >= 0)
        for (long i = flip_at; i < flip_at + 16 && (size_t)i < size; i++) b[i] ^= 0xA5;
    write_bytes(p, b, keep < size ? keep : size);
    free(b);
    free(p);
}

Test(folder_errors, missing_root_and_no_classes)
{
    tn_dataset *ds = (tn_dataset *)1;
    expect_error(tn_image_folder_load(&ds, "/nonexistent/tenet-data", NULL, NULL), TN_ERR_IO,
                 "/nonexistent/tenet-data", "cannot open");
    cr_assert_null(ds);
    char *dir = tmp_dir_new();
    expect_error(tn_image_folder_load(&ds, dir, NULL, NULL), TN_ERR_FORMAT, dir,
                 "no class folders");
    char *f = path_join(dir, "file.png");
    write_png(f, 4, 4, 0);
    expect_error(tn_image_folder_load(&ds, f, NULL, NULL), TN_ERR_IO, "file.png", "not a folder");
    free(f);
    tmp_dir_free(dir);
}

Test(folder_errors, empty_class_folder)
{
    const char *real;
    char *dir = jpeg_copy(&real);
    char *empty = path_join(dir, "zebra");
    make_dir(empty);
    char *txt = path_join(empty, "notes.txt"); /* not an image name: ignored */
    write_bytes(txt, "hello", 5);
    tn_dataset *ds = NULL;
    expect_error(tn_image_folder_load(&ds, dir, NULL, NULL), TN_ERR_FORMAT, "zebra",
                 "empty class folder");
    cr_assert_null(ds);
    free(txt);
    free(empty);
    tmp_dir_free(dir);
}

Test(folder_errors, not_an_image)
{
    const char *real;
    char *dir = jpeg_copy(&real);
    char *p = path_join(dir, "automobile/0001.jpg");
    write_bytes(p, "this is a text file, not a JPEG\n", 32);
    tn_dataset *ds = NULL;
    expect_error(tn_image_folder_load(&ds, dir, NULL, NULL), TN_ERR_FORMAT,
                 "automobile/0001.jpg", "not an image");
    cr_assert_null(ds);
    /* An empty file too, and as the first image (whose size is taken). */
    char *first = path_join(dir, "airplane/0000.jpg");
    write_bytes(first, "", 0);
    expect_error(tn_image_folder_load(&ds, dir, NULL, NULL), TN_ERR_FORMAT, "airplane/0000.jpg",
                 "not an image");
    free(first);
    free(p);
    tmp_dir_free(dir);
}

Test(folder_errors, truncated_and_corrupt_jpeg)
{
    const char *real;
    char *dir = jpeg_copy(&real);
    if (!real) {
        tmp_dir_free(dir);
        cr_skip_test("no shared CIFAR-10 folder to copy JPEGs from");
    }
    tn_dataset *ds = NULL;
    size_t keeps[] = {600, 300, 100, 10};
    for (size_t t = 0; t < sizeof keeps / sizeof *keeps; t++) {
        char *fresh = jpeg_copy(&real);
        damage(fresh, "automobile/0002.jpg", keeps[t], -1);
        expect_error(tn_image_folder_load(&ds, fresh, NULL, NULL), TN_ERR_FORMAT,
                     "automobile/0002.jpg", "truncated or corrupt JPEG");
        cr_assert_null(ds);
        tmp_dir_free(fresh);
    }
    /* Garbage over the quantisation/Huffman tables and the frame header. */
    damage(dir, "airplane/0001.jpg", (size_t)-1, 2);
    expect_error(tn_image_folder_load(&ds, dir, NULL, NULL), TN_ERR_FORMAT, "airplane/0001.jpg",
                 "JPEG");
    cr_assert_null(ds);
    tmp_dir_free(dir);
}

Test(folder_errors, truncated_and_corrupt_png)
{
    char *dir = small_folder(2);
    tn_dataset *ds = NULL;
    char *p0 = path_join(dir, "c2/001.png");
    size_t full;
    free(read_bytes(p0, &full));
    free(p0);
    size_t keeps[] = {full - 1, full - 12, full * 2 / 3, 40, 20, 9};
    for (size_t t = 0; t < sizeof keeps / sizeof *keeps; t++) {
        char *p = path_join(dir, "c2/001.png");
        write_png(p, 10, 10, 201);
        free(p);
        damage(dir, "c2/001.png", keeps[t], -1);
        expect_error(tn_image_folder_load(&ds, dir, NULL, NULL), TN_ERR_FORMAT, "c2/001.png",
                     "truncated");
        cr_assert_null(ds);
    }
    char *p = path_join(dir, "c2/001.png");
    write_png(p, 10, 10, 201);
    damage(dir, "c2/001.png", (size_t)-1, 40); /* inside the compressed data */
    expect_error(tn_image_folder_load(&ds, dir, NULL, NULL), TN_ERR_FORMAT, "c2/001.png",
                 "corrupt PNG");
    free(p);
    tmp_dir_free(dir);
}

Test(folder_errors, wrong_size_and_bad_options)
{
    char *dir = small_folder(2);
    char *p = path_join(dir, "c0/001.png");
    write_png(p, 12, 10, 3);
    tn_dataset *ds = NULL;
    expect_error(tn_image_folder_load(&ds, dir, NULL, NULL), TN_ERR_FORMAT, "c0/001.png",
                 "12x10");
    tn_image_folder_options opt = {.height = 10, .width = 10};
    expect_error(tn_image_folder_load(&ds, dir, &opt, NULL), TN_ERR_FORMAT, "c0/001.png",
                 "expected 10x10");
    opt = (tn_image_folder_options){.channels = 2};
    expect_error(tn_image_folder_load(&ds, dir, &opt, NULL), TN_ERR_ARG, "channels", NULL);
    opt = (tn_image_folder_options){.height = 5};
    expect_error(tn_image_folder_load(&ds, dir, &opt, NULL), TN_ERR_ARG, "size", NULL);
    cr_assert_null(ds);
    free(p);
    tmp_dir_free(dir);
}
