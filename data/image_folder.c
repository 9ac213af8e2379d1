/* data/image_folder.c - root/<class>/<image> folders decoded with stb_image
 * on several threads, resizing, and the decoded cache file. */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include <stb/stb_image.h>

/* Images larger than this many pixels are refused before decoding. */
#define MAX_PIXELS (1L << 26)

/* ----------------------------------------------------------------- resize */

void tn_image_resize(const uint8_t *src, int c, int sh, int sw, uint8_t *dst, int dh, int dw,
                     tn_resize_mode mode)
{
    size_t sp = (size_t)sh * (size_t)sw, dp = (size_t)dh * (size_t)dw;
    for (int ch = 0; ch < c; ch++) {
        const uint8_t *s = src + (size_t)ch * sp;
        uint8_t *d = dst + (size_t)ch * dp;
        for (int y = 0; y < dh; y++) {
            if (mode == TN_RESIZE_BILINEAR) {
                double fy = ((double)y + 0.5) * sh / dh - 0.5;
                if (fy < 0) fy = 0;
                int y0 = (int)fy, y1 = y0 + 1 < sh ? y0 + 1 : sh - 1;
                double wy = fy - y0;
                for (int x = 0; x < dw; x++) {
                    double fx = ((double)x + 0.5) * sw / dw - 0.5;
                    if (fx < 0) fx = 0;
                    int x0 = (int)fx, x1 = x0 + 1 < sw ? x0 + 1 : sw - 1;
                    double wx = fx - x0;
                    double top = s[(size_t)y0 * sw + x0] * (1 - wx) + s[(size_t)y0 * sw + x1] * wx;
                    double bot = s[(size_t)y1 * sw + x0] * (1 - wx) + s[(size_t)y1 * sw + x1] * wx;
                    double v = top * (1 - wy) + bot * wy + 0.5;
                    d[(size_t)y * dw + x] = (uint8_t)(v > 255 ? 255 : v);
                }
            } else {
                int sy = (int)(((double)y + 0.5) * sh / dh);
                if (sy >= sh) sy = sh - 1;
                for (int x = 0; x < dw; x++) {
                    int sx = (int)(((double)x + 0.5) * sw / dw);
                    if (sx >= sw) sx = sw - 1;
                    d[(size_t)y * dw + x] = s[(size_t)sy * sw + sx];
                }
            }
        }
    }
}

/* ----------------------------------------------------------------- decode */

static bool has_ext(const char *name, const char *ext)
{
    size_t n = strlen(name), e = strlen(ext);
    return n > e && name[n - e - 1] == '.' && strcasecmp(name + n - e, ext) == 0;
}

static bool image_name(const char *name)
{
    return has_ext(name, "png") || has_ext(name, "jpg") || has_ext(name, "jpeg") ||
           has_ext(name, "bmp") || has_ext(name, "tga");
}

/* Recognise the format by its first bytes (TGA has none: by extension), so
 * that stb_image only ever sees the four formats we accept. */
static const char *sniff(const uint8_t *buf, size_t size, const char *name)
{
    if (size >= 8 && memcmp(buf, "\x89PNG\r\n\x1a\n", 8) == 0) return "PNG";
    if (size >= 3 && buf[0] == 0xFF && buf[1] == 0xD8 && buf[2] == 0xFF) return "JPEG";
    if (size >= 2 && buf[0] == 'B' && buf[1] == 'M') return "BMP";
    /* TGA: by extension, and only if no other format stb_image knows would
     * claim the contents first (GIF, PSD, PIC, PNM, HDR). */
    if (name && has_ext(name, "tga") && size >= 18 && memcmp(buf, "GIF8", 4) != 0 &&
        memcmp(buf, "8BPS", 4) != 0 && memcmp(buf, "\x53\x80\xF6\x34", 4) != 0 &&
        !(buf[0] == 'P' && (buf[1] == '5' || buf[1] == '6')) && memcmp(buf, "#?", 2) != 0)
        return "TGA";
    return NULL;
}

/* PNG chunk structure and CRCs (stb_image checks neither, so a damaged PNG
 * could otherwise decode to garbage): every chunk inside the file, its CRC
 * right, and an IEND chunk at the end. */
static uint32_t crc_table[256];

static void crc_table_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

static uint32_t crc32_png(uint32_t crc, const uint8_t *p, size_t n)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, crc_table_init);
    crc = ~crc;
    for (size_t i = 0; i < n; i++) crc = crc_table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static tn_status png_check(const uint8_t *buf, size_t size, const char *name)
{
    size_t at = 8;
    for (;;) {
        if (size - at < 12)
            return tn_error_set(TN_ERR_FORMAT,
                                "tenet: %s: truncated PNG (no IEND chunk at the end)",
                                name);
        uint32_t len = be32(buf + at);
        char type[5] = {0};
        for (int i = 0; i < 4; i++)
            type[i] = buf[at + 4 + i] >= 32 && buf[at + 4 + i] < 127 ? (char)buf[at + 4 + i] : '?';
        if (len > size - at - 12)
            return tn_error_set(TN_ERR_FORMAT,
                                "tenet: %s: truncated PNG (chunk %s at byte %zu needs %u bytes)",
                                name, type, at, len);
        if (crc32_png(0, buf + at + 4, (size_t)len + 4) != be32(buf + at + 8 + len))
            return tn_error_set(TN_ERR_FORMAT,
                                "tenet: %s: corrupt PNG (CRC mismatch in chunk %s at byte %zu)",
                                name, type, at);
        at += 12 + (size_t)len;
        if (memcmp(type, "IEND", 4) == 0) return TN_OK;
    }
}

tn_status tn_image_decode(const uint8_t *buf, size_t size, const char *name, int channels,
                          int height, int width, tn_resize_mode resize, uint8_t *dst)
{
    if (!name) name = "(memory)";
    if (channels != 1 && channels != 3)
        return tn_error_set(TN_ERR_ARG,
                            "tenet: %s: channels must be 1 or 3, not %d", name, channels);
    if (height < 1 || width < 1)
        return tn_error_set(TN_ERR_ARG, "tenet: %s: bad target size %dx%d", name, height, width);
    const char *fmt = sniff(buf, size, name);
    if (!fmt)
        return tn_error_set(TN_ERR_FORMAT,
                            "tenet: %s: not an image (the contents are not PNG, JPEG, BMP or TGA)",
                            name);
    if (size > INT_MAX) return tn_error_set(TN_ERR_FORMAT, "tenet: %s: file too large", name);
    if (strcmp(fmt, "PNG") == 0) {
        tn_status st = png_check(buf, size, name);
        if (st != TN_OK) return st;
    }
    int w, h, comp;
    if (!stbi_info_from_memory(buf, (int)size, &w, &h, &comp))
        return tn_error_set(TN_ERR_FORMAT,
                            "tenet: %s: truncated or corrupt %s header (decoder: %s)",
                            name, fmt,
                            stbi_failure_reason() ? stbi_failure_reason() : "unknown");
    if (w < 1 || h < 1 || (long)w * (long)h > MAX_PIXELS)
        return tn_error_set(TN_ERR_FORMAT,
                            "tenet: %s: %s of %dx%d pixels is too large or empty", name,
                            fmt, w, h);
    if ((h != height || w != width) && resize == TN_RESIZE_NONE)
        return tn_error_set(TN_ERR_FORMAT,
                            "tenet: %s: image is %dx%d (HxW), expected %dx%d", name, h, w,
                            height, width);
    int dw, dh, dc;
    uint8_t *px = stbi_load_from_memory(buf, (int)size, &dw, &dh, &dc, channels);
    if (!px)
        return tn_error_set(TN_ERR_FORMAT,
                            "tenet: %s: truncated or corrupt %s (decoder: %s)", name, fmt,
                            stbi_failure_reason() ? stbi_failure_reason() : "unknown");
    if (dw != w || dh != h) {
        stbi_image_free(px);
        return tn_error_set(TN_ERR_FORMAT,
                            "tenet: %s: %s decodes to %dx%d, its header says %dx%d", name,
                            fmt, dh, dw, h, w);
    }
    size_t plane = (size_t)h * (size_t)w;
    if (h == height && w == width) {
        for (int c = 0; c < channels; c++)
            for (size_t j = 0; j < plane; j++) dst[(size_t)c * plane + j] = px[j * channels + c];
    } else {
        uint8_t *tmp = malloc(plane * (size_t)channels);
        if (!tmp) {
            stbi_image_free(px);
            return tn_error_set(TN_ERR_NOMEM, "tenet: %s: out of memory", name);
        }
        for (int c = 0; c < channels; c++)
            for (size_t j = 0; j < plane; j++) tmp[(size_t)c * plane + j] = px[j * channels + c];
        tn_image_resize(tmp, channels, h, w, dst, height, width, resize);
        free(tmp);
    }
    stbi_image_free(px);
    return TN_OK;
}

tn_status tn_image_load_file(const char *path, int channels, int height, int width,
                             tn_resize_mode resize, uint8_t *dst)
{
    uint8_t *buf;
    size_t size;
    tn_status st = tn_data_read_file(path, &buf, &size);
    if (st != TN_OK) return st;
    st = tn_image_decode(buf, size, path, channels, height, width, resize, dst);
    free(buf);
    return st;
}

/* ---------------------------------------------------------------- listing */

typedef struct file_entry {
    char *path;
    int label;
} file_entry;

typedef struct listing {
    char **classes;   /* the label space: the caller's list or the folders */
    int n_classes;
    char **folders;   /* class folders found, sorted */
    int n_folders;
    int missing;      /* classes without a folder */
    file_entry *files;
    int n_files, cap_files;
    uint64_t fingerprint; /* names, sizes, modification times */
} listing;

static void listing_free(listing *l)
{
    for (int i = 0; i < l->n_classes; i++) free(l->classes[i]);
    free(l->classes);
    for (int i = 0; i < l->n_folders; i++) free(l->folders[i]);
    free(l->folders);
    for (int i = 0; i < l->n_files; i++) free(l->files[i].path);
    free(l->files);
    memset(l, 0, sizeof *l);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}


/* Sorted names in dir: sub-folders (want_dirs) or image files. */
static tn_status list_dir(const char *dir, bool want_dirs, char ***out, int *n_out,
                          uint64_t *fp)
{
    *out = NULL;
    *n_out = 0;
    DIR *d = opendir(dir);
    if (!d)
        return tn_error_set(TN_ERR_IO, "tenet: %s: cannot open the folder: %s", dir,
                            strerror(errno));
    char **names = NULL;
    int n = 0, cap = 0;
    tn_status st = TN_OK;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        if (!want_dirs && !image_name(e->d_name)) continue;
        char *full = tn_data_join(dir, e->d_name);
        if (!full) {
            st = TN_ERR_NOMEM;
            break;
        }
        struct stat sb;
        bool keep = stat(full, &sb) == 0 && (want_dirs ? S_ISDIR(sb.st_mode) : S_ISREG(sb.st_mode));
        free(full);
        if (!keep) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **nn = realloc(names, (size_t)cap * sizeof *nn);
            if (!nn) {
                st = TN_ERR_NOMEM;
                break;
            }
            names = nn;
        }
        if (!(names[n] = strdup(e->d_name))) {
            st = TN_ERR_NOMEM;
            break;
        }
        n++;
        if (!want_dirs) {
            uint64_t meta[3] = {(uint64_t)sb.st_size, (uint64_t)sb.st_mtim.tv_sec,
                                (uint64_t)sb.st_mtim.tv_nsec};
            /* Order-independent here; names are hashed again in sorted order. */
            *fp += tn_data_checksum(tn_data_checksum(0, e->d_name, strlen(e->d_name)), meta,
                                    sizeof meta);
        }
    }
    closedir(d);
    if (st != TN_OK) {
        for (int i = 0; i < n; i++) free(names[i]);
        free(names);
        return tn_error_set(st, "tenet: %s: out of memory while listing", dir);
    }
    if (n) qsort(names, (size_t)n, sizeof *names, cmp_str);
    *out = names;
    *n_out = n;
    return TN_OK;
}

/* The label space: a copy of the caller's class list (checked: names
 * non-empty and distinct), or of the folder names. */
static tn_status set_classes(listing *l, const char *root, const char *const *classes,
                             int n_classes)
{
    const char *const *names = classes ? classes : (const char *const *)l->folders;
    int n = classes ? n_classes : l->n_folders;
    for (int k = 0; classes && k < n; k++) {
        if (!names[k] || !names[k][0])
            return tn_error_set(TN_ERR_ARG, "tenet: tn_image_folder_load_classes: %s: class %d "
                                "of the list has no name", root, k);
        for (int j = 0; j < k; j++)
            if (strcmp(names[j], names[k]) == 0)
                return tn_error_set(TN_ERR_ARG, "tenet: tn_image_folder_load_classes: %s: class "
                                    "'%s' is in the list twice (%d and %d)", root, names[k], j, k);
    }
    if (!(l->classes = calloc((size_t)n, sizeof *l->classes)))
        return tn_error_set(TN_ERR_NOMEM, "tenet: %s: out of memory", root);
    for (; l->n_classes < n; l->n_classes++)
        if (!(l->classes[l->n_classes] = strdup(names[l->n_classes])))
            return tn_error_set(TN_ERR_NOMEM, "tenet: %s: out of memory", root);
    return TN_OK;
}

/* The label of class folder `name`: its index in the label space, or -1. */
static int class_index(const listing *l, const char *name)
{
    for (int k = 0; k < l->n_classes; k++)
        if (strcmp(l->classes[k], name) == 0) return k;
    return -1;
}

/* List root's class folders and their images.  Labels index `classes`
 * (n_classes names) or, when it is NULL, the sorted folder names; a folder
 * outside the list is an error naming it, a class without a folder is
 * counted in l->missing. */
static tn_status list_root(const char *root, const char *const *classes, int n_classes,
                           listing *l)
{
    memset(l, 0, sizeof *l);
    struct stat sb;
    if (stat(root, &sb) != 0)
        return tn_error_set(TN_ERR_IO, "tenet: %s: cannot open the image folder: %s", root,
                            strerror(errno));
    if (!S_ISDIR(sb.st_mode)) return tn_error_set(TN_ERR_IO, "tenet: %s: not a folder", root);
    uint64_t fp = 0;
    tn_status st = list_dir(root, true, &l->folders, &l->n_folders, &fp);
    if (st != TN_OK) return st;
    if (l->n_folders == 0) {
        listing_free(l);
        return tn_error_set(TN_ERR_FORMAT, "tenet: %s: no class folders", root);
    }
    st = set_classes(l, root, classes, n_classes);
    for (int k = 0; k < l->n_folders && st == TN_OK; k++)
        if (class_index(l, l->folders[k]) < 0)
            st = tn_error_set(TN_ERR_FORMAT,
                              "tenet: tn_image_folder_load_classes: %s: class folder '%s' is not "
                              "one of the %d known classes (%s%s%s)",
                              root, l->folders[k], l->n_classes, l->classes[0],
                              l->n_classes > 2 ? ", ..., " : l->n_classes > 1 ? ", " : "",
                              l->n_classes > 1 ? l->classes[l->n_classes - 1] : "");
    if (st != TN_OK) {
        listing_free(l);
        return st;
    }
    l->missing = l->n_classes - l->n_folders;
    uint64_t h = 0;
    for (int f = 0; f < l->n_folders && st == TN_OK; f++) {
        int k = class_index(l, l->folders[f]);
        char *cdir = tn_data_join(root, l->folders[f]);
        char **names = NULL;
        int n = 0;
        uint64_t cfp = 0;
        st = cdir ? list_dir(cdir, false, &names, &n, &cfp)
                  : tn_error_set(TN_ERR_NOMEM, "tenet: %s: out of memory", root);
        if (st == TN_OK && n == 0)
            st = tn_error_set(TN_ERR_FORMAT,
                              "tenet: %s: empty class folder (no .png, .jpg, .jpeg, .bmp or "
                              ".tga files)",
                              cdir);
        h = tn_data_checksum(h, l->folders[f], strlen(l->folders[f]) + 1);
        h = tn_data_checksum(h ^ cfp, &n, sizeof n);
        for (int i = 0; i < n; i++) {
            h = tn_data_checksum(h, names[i], strlen(names[i]) + 1);
            if (st != TN_OK) {
                free(names[i]);
                continue;
            }
            if (l->n_files == l->cap_files) {
                int cap = l->cap_files ? 2 * l->cap_files : 1024;
                file_entry *nf = realloc(l->files, (size_t)cap * sizeof *nf);
                if (!nf) {
                    st = tn_error_set(TN_ERR_NOMEM, "tenet: %s: out of memory", root);
                    free(names[i]);
                    continue;
                }
                l->files = nf;
                l->cap_files = cap;
            }
            char *p = tn_data_join(cdir, names[i]);
            free(names[i]);
            if (!p) {
                st = tn_error_set(TN_ERR_NOMEM, "tenet: %s: out of memory", root);
                continue;
            }
            l->files[l->n_files++] = (file_entry){p, k};
        }
        free(names);
        free(cdir);
    }
    if (st != TN_OK) {
        listing_free(l);
        return st;
    }
    l->fingerprint = h;
    return TN_OK;
}

/* ------------------------------------------------------------------ cache */

static const char CACHE_MAGIC[8] = {'T', 'N', 'I', 'M', 'G', 'C', 'A', 'C'};
/* Version 2: the names after the root are the label space (the caller's
 * class list or the folders), then the class folders found. */
#define CACHE_VERSION 2u
#define CACHE_ENDIAN 0x01020304u

typedef struct cache_header {
    char magic[8];
    uint32_t version, endian;
    int32_t n, c, h, w, n_classes, resize;
    uint64_t fingerprint, checksum;
    uint64_t names_bytes; /* root path, class names, folder names, each with its NUL */
} cache_header;

static uint64_t options_key(const listing *l, int c, int h, int w, int resize, int want_h,
                            int want_w)
{
    int32_t o[6] = {c, h, w, resize, want_h, want_w};
    return tn_data_checksum(l->fingerprint, o, sizeof o);
}

static uint64_t data_checksum(const tn_dataset *ds)
{
    uint64_t h = tn_data_checksum(0, ds->labels, (size_t)ds->n * sizeof *ds->labels);
    return tn_data_checksum(h, ds->pixels,
                            (size_t)ds->n * (size_t)ds->c * (size_t)ds->h * (size_t)ds->w);
}

static size_t names_blob(const char *root, const listing *l, char *dst)
{
    size_t n = strlen(root) + 1;
    if (dst) memcpy(dst, root, n);
    for (int k = 0; k < l->n_classes + l->n_folders; k++) {
        const char *name = k < l->n_classes ? l->classes[k] : l->folders[k - l->n_classes];
        size_t m = strlen(name) + 1;
        if (dst) memcpy(dst + n, name, m);
        n += m;
    }
    return n;
}

/* The cached data set if the cache is valid for this listing, else NULL. */
static tn_dataset *cache_read(const char *path, const char *root, const listing *l, int c,
                              int want_h, int want_w, int resize)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    tn_dataset *ds = NULL;
    char *blob = NULL, *want = NULL;
    cache_header hd;
    if (fread(&hd, sizeof hd, 1, f) != 1) goto fail;
    if (memcmp(hd.magic, CACHE_MAGIC, 8) != 0 || hd.version != CACHE_VERSION ||
        hd.endian != CACHE_ENDIAN)
        goto fail;
    if (hd.n != l->n_files || hd.c != c || hd.n_classes != l->n_classes || hd.resize != resize ||
        hd.h < 1 || hd.w < 1 || (long)hd.h * hd.w > MAX_PIXELS || (want_h && hd.h != want_h) ||
        (want_w && hd.w != want_w))
        goto fail;
    if (hd.fingerprint != options_key(l, c, hd.h, hd.w, resize, want_h, want_w)) goto fail;
    size_t nb = names_blob(root, l, NULL);
    if (hd.names_bytes != nb) goto fail;
    blob = malloc(nb);
    want = malloc(nb);
    if (!blob || !want || fread(blob, 1, nb, f) != nb) goto fail;
    names_blob(root, l, want);
    if (memcmp(blob, want, nb) != 0) goto fail;
    /* The size must be exact before allocating anything large. */
    size_t px = (size_t)hd.n * (size_t)c * (size_t)hd.h * (size_t)hd.w;
    size_t expect = sizeof hd + nb + (size_t)hd.n * sizeof(int32_t) + px;
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || (size_t)sb.st_size != expect) goto fail;
    if (tn_dataset_new(&ds, hd.n, c, hd.h, hd.w, hd.n_classes) != TN_OK) goto fail;
    if (fread(ds->labels, sizeof(int32_t), (size_t)hd.n, f) != (size_t)hd.n) goto fail;
    if (fread(ds->pixels, 1, px, f) != px) goto fail;
    if (data_checksum(ds) != hd.checksum) goto fail;
    for (int i = 0; i < ds->n; i++)
        if (ds->labels[i] != l->files[i].label) goto fail;
    for (int k = 0; k < l->n_classes; k++)
        if (tn_dataset_set_class_name(ds, k, l->classes[k]) != TN_OK) goto fail;
    fclose(f);
    free(blob);
    free(want);
    return ds;
fail:
    fclose(f);
    free(blob);
    free(want);
    tn_dataset_free(ds);
    return NULL;
}

/* Write the cache in one piece with tn_write_file_atomic(). */
static bool cache_write(const char *path, const char *root, const listing *l,
                        const tn_dataset *ds, int want_h, int want_w, int resize)
{
    cache_header hd;
    memset(&hd, 0, sizeof hd);
    memcpy(hd.magic, CACHE_MAGIC, 8);
    hd.version = CACHE_VERSION;
    hd.endian = CACHE_ENDIAN;
    hd.n = ds->n;
    hd.c = ds->c;
    hd.h = ds->h;
    hd.w = ds->w;
    hd.n_classes = ds->n_classes;
    hd.resize = resize;
    hd.fingerprint = options_key(l, ds->c, ds->h, ds->w, resize, want_h, want_w);
    hd.checksum = data_checksum(ds);
    size_t nb = names_blob(root, l, NULL);
    hd.names_bytes = nb;
    size_t lb = (size_t)ds->n * sizeof(int32_t);
    size_t px = (size_t)ds->n * (size_t)ds->c * (size_t)ds->h * (size_t)ds->w;
    size_t total = sizeof hd + nb + lb + px;
    unsigned char *file = malloc(total);
    if (!file) return false;
    memcpy(file, &hd, sizeof hd);
    names_blob(root, l, (char *)file + sizeof hd);
    memcpy(file + sizeof hd + nb, ds->labels, lb);
    memcpy(file + sizeof hd + nb + lb, ds->pixels, px);
    bool ok = tn_write_file_atomic(path, file, total) == TN_OK;
    free(file);
    return ok;
}

/* ------------------------------------------------------------------- load */

typedef struct first_error {
    int index; /* lowest failing file index so far, INT_MAX if none */
    tn_status status;
    char message[1024];
} first_error;

tn_status tn_image_folder_load(tn_dataset **out, const char *root,
                               const tn_image_folder_options *opt, tn_image_folder_info *info)
{
    return tn_image_folder_load_classes(out, root, NULL, 0, opt, info);
}

tn_status tn_image_folder_load_classes(tn_dataset **out, const char *root,
                                       const char *const *classes, int n_classes,
                                       const tn_image_folder_options *opt,
                                       tn_image_folder_info *info)
{
    if (!out || !root) tn_misuse("tn_image_folder_load", "out and root are required");
    if (classes && n_classes < 1)
        tn_misuse("tn_image_folder_load_classes", "a class list of %d names", n_classes);
    double t0 = tn_clock_now();
    *out = NULL;
    tn_image_folder_options o = {0};
    if (opt) o = *opt;
    if (o.channels == 0) o.channels = 3;
    tn_image_folder_info inf = {0};
    if (info) *info = inf;
    if (o.channels != 1 && o.channels != 3)
        return tn_error_set(TN_ERR_ARG,
                            "tenet: tn_image_folder_load: channels must be 1 or 3, not %d",
                            o.channels);
    if (o.height < 0 || o.width < 0 || (o.height == 0) != (o.width == 0))
        return tn_error_set(TN_ERR_ARG, "tenet: tn_image_folder_load: bad size %dx%d", o.height,
                            o.width);
    if (o.resize != TN_RESIZE_NONE && o.resize != TN_RESIZE_NEAREST &&
        o.resize != TN_RESIZE_BILINEAR)
        return tn_error_set(TN_ERR_ARG, "tenet: tn_image_folder_load: unknown resize mode %d",
                            (int)o.resize);
    if (o.threads < 0)
        return tn_error_set(TN_ERR_ARG, "tenet: tn_image_folder_load: threads %d < 0", o.threads);

    listing l;
    tn_status st = list_root(root, classes, n_classes, &l);
    if (st != TN_OK) return st;
    inf.files = l.n_files;
    inf.missing_classes = l.missing;
    char *abs_root = realpath(root, NULL);
    const char *src = abs_root ? abs_root : root;

    tn_dataset *ds = NULL;
    if (o.cache_path) {
        double tc = tn_clock_now();
        ds = cache_read(o.cache_path, src, &l, o.channels, o.height, o.width, (int)o.resize);
        inf.from_cache = ds != NULL;
        inf.cache_seconds += tn_clock_now() - tc;
    }
    if (!ds) {
        /* The size: wanted, or that of the first image. */
        int h = o.height, w = o.width;
        if (h == 0) {
            uint8_t *buf;
            size_t size;
            st = tn_data_read_file(l.files[0].path, &buf, &size);
            if (st == TN_OK) {
                int comp;
                if (!sniff(buf, size, l.files[0].path))
                    st = tn_error_set(TN_ERR_FORMAT,
                                      "tenet: %s: not an image (the contents are not PNG, JPEG, "
                                      "BMP or TGA)",
                                      l.files[0].path);
                else if (size > INT_MAX ||
                         !stbi_info_from_memory(buf, (int)size, &w, &h, &comp) || w < 1 ||
                         h < 1 || (long)w * h > MAX_PIXELS)
                    st = tn_error_set(TN_ERR_FORMAT, "tenet: %s: truncated or corrupt image header",
                                      l.files[0].path);
                free(buf);
            }
        }
        if (st == TN_OK) st = tn_dataset_new(&ds, l.n_files, o.channels, h, w, l.n_classes);
        if (st == TN_OK) {
            first_error fe = {.index = INT_MAX};
            int nthreads = o.threads;
#ifdef _OPENMP
            if (nthreads == 0) nthreads = omp_get_max_threads();
#pragma omp parallel for schedule(dynamic, 64) num_threads(nthreads)
#endif
            for (int i = 0; i < l.n_files; i++) {
                int first;
#ifdef _OPENMP
#pragma omp atomic read
#endif
                first = fe.index;
                if (i > first) continue;
                ds->labels[i] = l.files[i].label;
                tn_status s = tn_image_load_file(l.files[i].path, o.channels, h, w, o.resize,
                                                 tn_dataset_image(ds, i));
                if (s != TN_OK) {
#ifdef _OPENMP
#pragma omp critical(tn_image_folder_error)
#endif
                    if (i < fe.index) {
                        fe.status = s;
                        snprintf(fe.message, sizeof fe.message, "%s", tn_error_message());
#ifdef _OPENMP
#pragma omp atomic write
#endif
                        fe.index = i;
                    }
                }
            }
            (void)nthreads;
            if (fe.index != INT_MAX) st = tn_error_set(fe.status, "%s", fe.message);
        }
        if (st == TN_OK)
            for (int k = 0; k < l.n_classes && st == TN_OK; k++)
                st = tn_dataset_set_class_name(ds, k, l.classes[k]);
        if (st == TN_OK && o.cache_path) {
            double tc = tn_clock_now();
            inf.cache_written = cache_write(o.cache_path, src, &l, ds, o.height, o.width,
                                            (int)o.resize);
            inf.cache_seconds += tn_clock_now() - tc;
        }
    }
    free(abs_root);
    listing_free(&l);
    if (st != TN_OK) {
        tn_dataset_free(ds);
        return st;
    }
    *out = ds;
    inf.seconds = tn_clock_now() - t0;
    if (info) *info = inf;
    return TN_OK;
}
