/* data/dataset.c - the in-memory data set, subsets, splits, normalisation,
 * and the shared helpers (checksum, whole-file reads). */
#include "internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --------------------------------------------------------------- helpers */

uint64_t tn_data_checksum(uint64_t h, const void *data, size_t size)
{
    const uint8_t *p = data;
    const uint64_t m = 0x9fb21c651e98df25ULL;
    size_t i = 0;
    for (; i + 8 <= size; i += 8) {
        uint64_t v;
        memcpy(&v, p + i, 8);
        h = (h ^ v) * m;
        h ^= h >> 29;
    }
    uint64_t tail = 0;
    for (size_t j = 0; i + j < size; j++) tail |= (uint64_t)p[i + j] << (8 * j);
    h = (h ^ tail ^ ((uint64_t)size << 56)) * m;
    return tn_data_mix64(h);
}

tn_status tn_data_read_file(const char *path, uint8_t **buf, size_t *size)
{
    *buf = NULL;
    *size = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return tn_error_set(TN_ERR_IO, "tenet: %s: cannot open: %s", path, strerror(errno));
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return tn_error_set(TN_ERR_IO, "tenet: %s: cannot seek: %s", path, strerror(errno));
    }
    long len = ftell(f);
    if (len < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return tn_error_set(TN_ERR_IO, "tenet: %s: cannot size the file: %s", path,
                            strerror(errno));
    }
    uint8_t *b = malloc(len > 0 ? (size_t)len : 1);
    if (!b) {
        fclose(f);
        return tn_error_set(TN_ERR_NOMEM, "tenet: %s: out of memory for %ld bytes", path, len);
    }
    size_t got = fread(b, 1, (size_t)len, f);
    int err = ferror(f);
    fclose(f);
    if (got != (size_t)len || err) {
        free(b);
        return tn_error_set(TN_ERR_IO, "tenet: %s: short read (%zu of %ld bytes)", path, got, len);
    }
    *buf = b;
    *size = (size_t)len;
    return TN_OK;
}

/* --------------------------------------------------------------- data set */

static char **names_new(int k)
{
    char **names = calloc((size_t)k, sizeof *names);
    if (!names) return NULL;
    for (int i = 0; i < k; i++) {
        char buf[16];
        snprintf(buf, sizeof buf, "%d", i);
        names[i] = strdup(buf);
        if (!names[i]) {
            for (int j = 0; j < i; j++) free(names[j]);
            free(names);
            return NULL;
        }
    }
    return names;
}

static void names_free(char **names, int k)
{
    if (!names) return;
    for (int i = 0; i < k; i++) free(names[i]);
    free(names);
}

tn_status tn_dataset_new(tn_dataset **out, int n, int c, int h, int w, int n_classes)
{
    *out = NULL;
    if (n < 0 || c < 1 || c > TN_DATA_MAX_CHANNELS || h < 1 || w < 1 || n_classes < 1)
        return tn_error_set(TN_ERR_ARG,
                            "tenet: tn_dataset_new: bad size n=%d c=%d h=%d w=%d classes=%d", n, c,
                            h, w, n_classes);
    size_t px = (size_t)n * (size_t)c * (size_t)h * (size_t)w;
    tn_dataset *ds = calloc(1, sizeof *ds);
    if (!ds) return tn_error_set(TN_ERR_NOMEM, "tenet: tn_dataset_new: out of memory");
    ds->n = n;
    ds->c = c;
    ds->h = h;
    ds->w = w;
    ds->n_classes = n_classes;
    ds->pixels = calloc(px ? px : 1, 1);
    ds->labels = calloc(n ? (size_t)n : 1, sizeof *ds->labels);
    ds->class_names = names_new(n_classes);
    if (!ds->pixels || !ds->labels || !ds->class_names) {
        tn_dataset_free(ds);
        return tn_error_set(TN_ERR_NOMEM,
                            "tenet: tn_dataset_new: out of memory for %d images of %dx%dx%d", n, c,
                            h, w);
    }
    *out = ds;
    return TN_OK;
}

void tn_dataset_free(tn_dataset *ds)
{
    if (!ds) return;
    free(ds->pixels);
    free(ds->labels);
    names_free(ds->class_names, ds->n_classes);
    free(ds->coarse_labels);
    names_free(ds->coarse_names, ds->n_coarse);
    free(ds);
}

tn_status tn_dataset_set_class_name(tn_dataset *ds, int k, const char *name)
{
    if (k < 0 || k >= ds->n_classes)
        return tn_error_set(TN_ERR_ARG, "tenet: tn_dataset_set_class_name: class %d not in [0, %d)",
                            k, ds->n_classes);
    char *s = strdup(name);
    if (!s) return tn_error_set(TN_ERR_NOMEM, "tenet: tn_dataset_set_class_name: out of memory");
    free(ds->class_names[k]);
    ds->class_names[k] = s;
    return TN_OK;
}

void tn_dataset_class_counts(const tn_dataset *ds, int *counts)
{
    memset(counts, 0, (size_t)ds->n_classes * sizeof *counts);
    for (int i = 0; i < ds->n; i++)
        if (ds->labels[i] >= 0 && ds->labels[i] < ds->n_classes) counts[ds->labels[i]]++;
}

tn_status tn_dataset_check_labels(const tn_dataset *ds, const char *what)
{
    for (int i = 0; i < ds->n; i++)
        if (ds->labels[i] < 0 || ds->labels[i] >= ds->n_classes)
            return tn_error_set(TN_ERR_FORMAT, "tenet: %s: image %d has label %d, not in [0, %d)",
                                what, i, (int)ds->labels[i], ds->n_classes);
    return TN_OK;
}

static tn_status copy_names(char ***dst, char *const *src, int k)
{
    *dst = calloc((size_t)k, sizeof **dst);
    if (!*dst) return TN_ERR_NOMEM;
    for (int i = 0; i < k; i++) {
        (*dst)[i] = strdup(src[i]);
        if (!(*dst)[i]) return TN_ERR_NOMEM;
    }
    return TN_OK;
}

tn_status tn_dataset_select(tn_dataset **out, const tn_dataset *ds, const int *idx, int n_idx)
{
    *out = NULL;
    for (int i = 0; i < n_idx; i++)
        if (idx[i] < 0 || idx[i] >= ds->n)
            return tn_error_set(TN_ERR_ARG, "tenet: tn_dataset_select: index %d is not in [0, %d)",
                                idx[i], ds->n);
    tn_dataset *s = calloc(1, sizeof *s);
    if (!s) return tn_error_set(TN_ERR_NOMEM, "tenet: tn_dataset_select: out of memory");
    *s = (tn_dataset){.n = n_idx, .c = ds->c, .h = ds->h, .w = ds->w,
                      .n_classes = ds->n_classes, .n_coarse = ds->coarse_labels ? ds->n_coarse : 0};
    size_t img = (size_t)ds->c * (size_t)ds->h * (size_t)ds->w;
    s->pixels = malloc(n_idx ? (size_t)n_idx * img : 1);
    s->labels = malloc(n_idx ? (size_t)n_idx * sizeof *s->labels : 1);
    bool ok = s->pixels && s->labels && copy_names(&s->class_names, ds->class_names,
                                                   ds->n_classes) == TN_OK;
    if (ok && ds->coarse_labels) {
        s->coarse_labels = malloc(n_idx ? (size_t)n_idx * sizeof *s->coarse_labels : 1);
        ok = s->coarse_labels &&
             copy_names(&s->coarse_names, ds->coarse_names, ds->n_coarse) == TN_OK;
    }
    if (!ok) {
        tn_dataset_free(s);
        return tn_error_set(TN_ERR_NOMEM, "tenet: tn_dataset_select: out of memory for %d images",
                            n_idx);
    }
    for (int i = 0; i < n_idx; i++) {
        memcpy(s->pixels + (size_t)i * img, tn_dataset_image(ds, idx[i]), img);
        s->labels[i] = ds->labels[idx[i]];
        if (ds->coarse_labels) s->coarse_labels[i] = ds->coarse_labels[idx[i]];
    }
    *out = s;
    return TN_OK;
}

tn_status tn_dataset_subset_stratified(tn_dataset **out, const tn_dataset *ds, int per_class)
{
    *out = NULL;
    if (per_class < 0)
        return tn_error_set(TN_ERR_ARG, "tenet: tn_dataset_subset_stratified: per_class %d < 0",
                            per_class);
    int *taken = calloc((size_t)ds->n_classes, sizeof *taken);
    int *idx = malloc((ds->n ? (size_t)ds->n : 1) * sizeof *idx);
    if (!taken || !idx) {
        free(taken);
        free(idx);
        return tn_error_set(TN_ERR_NOMEM, "tenet: tn_dataset_subset_stratified: out of memory");
    }
    int m = 0;
    for (int i = 0; i < ds->n; i++) {
        int y = ds->labels[i];
        if (y >= 0 && y < ds->n_classes && taken[y] < per_class) {
            taken[y]++;
            idx[m++] = i;
        }
    }
    tn_status st = tn_dataset_select(out, ds, idx, m);
    free(taken);
    free(idx);
    return st;
}

tn_status tn_dataset_split_stratified(const tn_dataset *ds, float val_fraction, uint64_t seed,
                                      tn_dataset **train, tn_dataset **val)
{
    *train = *val = NULL;
    if (!(val_fraction > 0.0f && val_fraction < 1.0f))
        return tn_error_set(TN_ERR_ARG,
                            "tenet: tn_dataset_split_stratified: val_fraction %g is not in (0, 1)",
                            (double)val_fraction);
    tn_status st = tn_dataset_check_labels(ds, "tn_dataset_split_stratified");
    if (st != TN_OK) return st;
    size_t nn = ds->n ? (size_t)ds->n : 1;
    int *counts = calloc((size_t)ds->n_classes, sizeof *counts);
    int *start = calloc((size_t)ds->n_classes + 1, sizeof *start);
    int *byclass = malloc(nn * sizeof *byclass);
    char *is_val = calloc(nn, 1);
    int *ti = malloc(nn * sizeof *ti), *vi = malloc(nn * sizeof *vi);
    if (!counts || !start || !byclass || !is_val || !ti || !vi) {
        st = tn_error_set(TN_ERR_NOMEM, "tenet: tn_dataset_split_stratified: out of memory");
        goto done;
    }
    tn_dataset_class_counts(ds, counts);
    for (int k = 0; k < ds->n_classes; k++) start[k + 1] = start[k] + counts[k];
    memset(counts, 0, (size_t)ds->n_classes * sizeof *counts);
    for (int i = 0; i < ds->n; i++) {
        int y = ds->labels[i];
        byclass[start[y] + counts[y]++] = i;
    }
    for (int k = 0; k < ds->n_classes; k++) {
        int cnt = counts[k], *p = byclass + start[k];
        tn_rng r;
        tn_rng_seed(&r, tn_data_mix64(seed), (uint64_t)k);
        tn_data_shuffle(p, cnt, &r);
        int nv = (int)lround((double)val_fraction * cnt);
        for (int i = 0; i < nv; i++) is_val[p[i]] = 1;
    }
    int nt = 0, nv = 0;
    for (int i = 0; i < ds->n; i++) {
        if (is_val[i]) vi[nv++] = i;
        else ti[nt++] = i;
    }
    st = tn_dataset_select(train, ds, ti, nt);
    if (st == TN_OK) st = tn_dataset_select(val, ds, vi, nv);
    if (st != TN_OK) {
        tn_dataset_free(*train);
        *train = NULL;
    }
done:
    free(counts);
    free(start);
    free(byclass);
    free(is_val);
    free(ti);
    free(vi);
    return st;
}

/* ----------------------------------------------------------- normalisation */

void tn_norm_identity(tn_norm *norm, int c)
{
    memset(norm, 0, sizeof *norm);
    norm->c = c;
    for (int i = 0; i < TN_DATA_MAX_CHANNELS; i++) norm->std[i] = 1.0f;
}

void tn_norm_from_dataset(tn_norm *norm, const tn_dataset *ds)
{
    tn_norm_identity(norm, ds->c);
    size_t plane = (size_t)ds->h * (size_t)ds->w;
    for (int ch = 0; ch < ds->c; ch++) {
        uint64_t hist[256] = {0};
        for (int i = 0; i < ds->n; i++) {
            const uint8_t *p = tn_dataset_image(ds, i) + (size_t)ch * plane;
            for (size_t j = 0; j < plane; j++) hist[p[j]]++;
        }
        double cnt = 0, s = 0, s2 = 0;
        for (int v = 0; v < 256; v++) {
            double x = v / 255.0;
            cnt += (double)hist[v];
            s += (double)hist[v] * x;
            s2 += (double)hist[v] * x * x;
        }
        if (cnt == 0) continue;
        double mean = s / cnt, var = s2 / cnt - mean * mean;
        norm->mean[ch] = (float)mean;
        norm->std[ch] = var > 1e-12 ? (float)sqrt(var) : 1.0f;
    }
}

void tn_norm_lut(const tn_norm *norm, int ch, float lut[256])
{
    float mean = norm->c ? norm->mean[ch] : 0.0f, sd = norm->c ? norm->std[ch] : 1.0f;
    for (int v = 0; v < 256; v++) lut[v] = ((float)v / 255.0f - mean) / sd;
}

void tn_norm_apply(const tn_norm *norm, const uint8_t *src, int n, int h, int w, float *dst)
{
    if (norm->c < 1 || norm->c > TN_DATA_MAX_CHANNELS)
        tn_misuse("tn_norm_apply", "norm has %d channels (tn_norm_identity() makes one)", norm->c);
    size_t plane = (size_t)h * (size_t)w;
    float lut[256];
    for (int ch = 0; ch < norm->c; ch++) {
        tn_norm_lut(norm, ch, lut);
        for (int i = 0; i < n; i++) {
            size_t o = ((size_t)i * (size_t)norm->c + (size_t)ch) * plane;
            for (size_t j = 0; j < plane; j++) dst[o + j] = lut[src[o + j]];
        }
    }
}

char *tn_data_join(const char *dir, const char *file)
{
    size_t n = strlen(dir) + strlen(file) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, file);
    return p;
}
