/* tensor/safetensors.c - read and write named float32 arrays in the
 * safetensors format (see safetensors.h).
 *
 * Reader: the whole file is read and validated before anything is returned:
 * the header length against the file size, the header (st_header.c: dtype
 * "F32" only, rank <= TN_MAX_DIMS, numel * 4 == end - begin, offsets inside
 * the data), then here: offsets not overlapping, unique names.  Gaps between
 * tensors are allowed.
 *
 * Writer: tensors sorted by name (as the reference implementation orders
 * tensors of one dtype), data in that order, the header padded with spaces
 * to a multiple of 8 bytes; written to a temporary file beside the target,
 * flushed and fsync'ed, then renamed over it. */
#include "safetensors.h"

#include "internal.h"
#include "st_internal.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>

/* The reference implementation refuses headers above 100 MB. */
#define ST_MAX_HEADER ((uint64_t)100000000)

static bool host_is_little_endian(void)
{
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

static void swap32(void *p, size_t n)
{
    unsigned char *b = p;
    for (size_t i = 0; i < n; i++, b += 4) {
        unsigned char t0 = b[0], t1 = b[1];
        b[0] = b[3];
        b[1] = b[2];
        b[2] = t1;
        b[3] = t0;
    }
}

/* ================================================================ writer */

typedef struct st_item {
    char *name;
    int ndim;
    int shape[TN_MAX_DIMS];
    size_t numel;
    const float *data;
} st_item;

struct tn_st_writer {
    st_item *items;
    size_t count, cap;
    st_meta *meta;
    size_t n_meta, cap_meta;
};

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *c = malloc(n);
    if (c) memcpy(c, s, n);
    return c;
}

tn_st_writer *tn_st_writer_new(void)
{
    tn_st_writer *w = calloc(1, sizeof *w);
    if (!w) tn_error_set(TN_ERR_NOMEM, "tenet: tn_st_writer_new: out of memory");
    return w;
}

void tn_st_writer_free(tn_st_writer *w)
{
    if (!w) return;
    for (size_t i = 0; i < w->count; i++) free(w->items[i].name);
    for (size_t i = 0; i < w->n_meta; i++) {
        free(w->meta[i].key);
        free(w->meta[i].value);
    }
    free(w->items);
    free(w->meta);
    free(w);
}

tn_status tn_st_add(tn_st_writer *w, const char *name, int ndim, const int *shape,
                    const float *data)
{
    if (!w || !name) tn_misuse("tn_st_add", "writer and name are required");
    if (ndim < 0 || ndim > TN_MAX_DIMS)
        tn_misuse("tn_st_add", "'%s': rank %d is not in 0..%d", name, ndim, TN_MAX_DIMS);
    if (ndim > 0 && !shape) tn_misuse("tn_st_add", "'%s': shape is NULL", name);
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0) tn_misuse("tn_st_add", "'%s': dim %d is %d", name, i, shape[i]);
    size_t numel = tn_shape_numel(ndim, shape);
    if (numel > 0 && !data) tn_misuse("tn_st_add", "'%s': data is NULL", name);
    if (!*name || strcmp(name, "__metadata__") == 0)
        return tn_error_set(TN_ERR_ARG, "tenet: tn_st_add: '%s' is not a valid tensor name",
                            name);
    for (size_t i = 0; i < w->count; i++)
        if (strcmp(w->items[i].name, name) == 0)
            return tn_error_set(TN_ERR_ARG, "tenet: tn_st_add: tensor '%.200s' added twice",
                                name);
    if (w->count == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 64;
        st_item *items = realloc(w->items, cap * sizeof *items);
        if (!items) return tn_error_set(TN_ERR_NOMEM, "tenet: tn_st_add: out of memory");
        w->items = items;
        w->cap = cap;
    }
    st_item *it = &w->items[w->count];
    if (!(it->name = dup_str(name)))
        return tn_error_set(TN_ERR_NOMEM, "tenet: tn_st_add: out of memory");
    it->ndim = ndim;
    for (int i = 0; i < ndim; i++) it->shape[i] = shape[i];
    it->numel = numel;
    it->data = data;
    w->count++;
    return TN_OK;
}

tn_status tn_st_add_meta(tn_st_writer *w, const char *key, const char *value)
{
    if (!w || !key || !value) tn_misuse("tn_st_add_meta", "writer, key and value are required");
    char *v = dup_str(value);
    if (!v) return tn_error_set(TN_ERR_NOMEM, "tenet: tn_st_add_meta: out of memory");
    for (size_t i = 0; i < w->n_meta; i++)
        if (strcmp(w->meta[i].key, key) == 0) {
            free(w->meta[i].value);
            w->meta[i].value = v;
            return TN_OK;
        }
    if (w->n_meta == w->cap_meta) {
        size_t cap = w->cap_meta ? 2 * w->cap_meta : 8;
        st_meta *m = realloc(w->meta, cap * sizeof *m);
        if (!m) {
            free(v);
            return tn_error_set(TN_ERR_NOMEM, "tenet: tn_st_add_meta: out of memory");
        }
        w->meta = m;
        w->cap_meta = cap;
    }
    char *k = dup_str(key);
    if (!k) {
        free(v);
        return tn_error_set(TN_ERR_NOMEM, "tenet: tn_st_add_meta: out of memory");
    }
    w->meta[w->n_meta].key = k;
    w->meta[w->n_meta].value = v;
    w->n_meta++;
    return TN_OK;
}

static void sb_str(sbuf *b, const char *s) { tn_st_sb_put(b, s, strlen(s)); }

static void sb_fmt_u(sbuf *b, unsigned long long v)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%llu", v);
    tn_st_sb_put(b, tmp, (size_t)n);
}

/* A JSON string literal with the escapes JSON requires. */
static void sb_json_str(sbuf *b, const char *s)
{
    tn_st_sb_put(b, "\"", 1);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        char esc[8];
        switch (*c) {
        case '"': tn_st_sb_put(b, "\\\"", 2); break;
        case '\\': tn_st_sb_put(b, "\\\\", 2); break;
        case '\n': tn_st_sb_put(b, "\\n", 2); break;
        case '\r': tn_st_sb_put(b, "\\r", 2); break;
        case '\t': tn_st_sb_put(b, "\\t", 2); break;
        case '\b': tn_st_sb_put(b, "\\b", 2); break;
        case '\f': tn_st_sb_put(b, "\\f", 2); break;
        default:
            if (*c < 0x20) {
                snprintf(esc, sizeof esc, "\\u%04x", *c);
                tn_st_sb_put(b, esc, 6);
            } else {
                tn_st_sb_put(b, (const char *)c, 1);
            }
        }
    }
    tn_st_sb_put(b, "\"", 1);
}

static int cmp_item_ptr(const void *a, const void *b)
{
    return strcmp((*(const st_item *const *)a)->name, (*(const st_item *const *)b)->name);
}

static int cmp_meta(const void *a, const void *b)
{
    return strcmp(((const st_meta *)a)->key, ((const st_meta *)b)->key);
}

tn_status tn_st_save(const tn_st_writer *w, const char *path)
{
    if (!w || !path) tn_misuse("tn_st_save", "writer and path are required");

    /* Header: metadata first, then tensors sorted by name. */
    const st_item **order = malloc((w->count ? w->count : 1) * sizeof *order);
    st_meta *meta = malloc((w->n_meta ? w->n_meta : 1) * sizeof *meta);
    if (!order || !meta) {
        free(order);
        free(meta);
        return tn_error_set(TN_ERR_NOMEM, "tenet: tn_st_save: '%s': out of memory", path);
    }
    for (size_t i = 0; i < w->count; i++) order[i] = &w->items[i];
    if (w->count) qsort(order, w->count, sizeof *order, cmp_item_ptr);
    if (w->n_meta) memcpy(meta, w->meta, w->n_meta * sizeof *meta);
    if (w->n_meta) qsort(meta, w->n_meta, sizeof *meta, cmp_meta);

    sbuf h = {0};
    sb_str(&h, "{");
    bool first = true;
    if (w->n_meta) {
        sb_str(&h, "\"__metadata__\":{");
        for (size_t i = 0; i < w->n_meta; i++) {
            if (i) sb_str(&h, ",");
            sb_json_str(&h, meta[i].key);
            sb_str(&h, ":");
            sb_json_str(&h, meta[i].value);
        }
        sb_str(&h, "}");
        first = false;
    }
    size_t offset = 0;
    for (size_t i = 0; i < w->count; i++) {
        const st_item *it = order[i];
        if (!first) sb_str(&h, ",");
        first = false;
        sb_json_str(&h, it->name);
        sb_str(&h, ":{\"dtype\":\"F32\",\"shape\":[");
        for (int d = 0; d < it->ndim; d++) {
            if (d) sb_str(&h, ",");
            sb_fmt_u(&h, (unsigned long long)it->shape[d]);
        }
        sb_str(&h, "],\"data_offsets\":[");
        sb_fmt_u(&h, offset);
        sb_str(&h, ",");
        offset += it->numel * sizeof(float);
        sb_fmt_u(&h, offset);
        sb_str(&h, "]}");
    }
    sb_str(&h, "}");
    while (!h.failed && h.len % 8 != 0) sb_str(&h, " ");
    free(meta);
    if (h.failed) {
        free(order);
        free(h.p);
        return tn_error_set(TN_ERR_NOMEM, "tenet: tn_st_save: '%s': out of memory", path);
    }

    /* The whole file in memory (checkpoints are megabytes), then one atomic
     * write: 8-byte little-endian header length, header, data. */
    size_t total = 8 + h.len + offset;
    unsigned char *file = malloc(total);
    if (!file) {
        free(order);
        free(h.p);
        return tn_error_set(TN_ERR_NOMEM, "tenet: tn_st_save: '%s': out of memory", path);
    }
    for (int i = 0; i < 8; i++) file[i] = (unsigned char)((uint64_t)h.len >> (8 * i));
    memcpy(file + 8, h.p, h.len);
    unsigned char *at = file + 8 + h.len;
    for (size_t i = 0; i < w->count; i++) {
        size_t bytes = order[i]->numel * sizeof(float);
        if (bytes) memcpy(at, order[i]->data, bytes);
        if (!host_is_little_endian()) swap32(at, order[i]->numel);
        at += bytes;
    }
    tn_status st = tn_write_file_atomic(path, file, total);
    free(file);
    free(order);
    free(h.p);
    return st;
}

/* ================================================================ reader */

void tn_st_close(tn_st_file *f)
{
    if (!f) return;
    for (size_t i = 0; i < f->count; i++) free((char *)f->entries[i].name);
    for (size_t i = 0; i < f->n_meta; i++) {
        free(f->meta[i].key);
        free(f->meta[i].value);
    }
    free(f->entries);
    free(f->meta);
    free(f->data);
    free(f->path);
    free(f);
}

size_t tn_st_count(const tn_st_file *f) { return f->count; }

const tn_st_entry *tn_st_at(const tn_st_file *f, size_t i)
{
    if (i >= f->count) tn_misuse("tn_st_at", "index %zu, file has %zu tensors", i, f->count);
    return &f->entries[i];
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const tn_st_entry *)a)->name, ((const tn_st_entry *)b)->name);
}

const tn_st_entry *tn_st_find(const tn_st_file *f, const char *name)
{
    if (!f->count) return NULL;
    tn_st_entry key = {.name = name};
    return bsearch(&key, f->entries, f->count, sizeof key, cmp_entry);
}

const char *tn_st_meta(const tn_st_file *f, const char *key)
{
    for (size_t i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta[i].key, key) == 0) return f->meta[i].value;
    return NULL;
}

static int cmp_span(const void *a, const void *b)
{
    const tn_st_span *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

static tn_status read_fail(FILE *fp, tn_st_file *f, char *header, tn_st_span *spans, tn_status st)
{
    if (fp) fclose(fp);
    tn_st_close(f);
    free(header);
    free(spans);
    return st;
}

tn_status tn_st_open(const char *path, tn_st_file **out)
{
    if (!path || !out) tn_misuse("tn_st_open", "path and out are required");
    *out = NULL;
    FILE *fp = fopen(path, "rb");
    if (!fp) return tn_error_set(TN_ERR_IO, "tenet: cannot open '%s': %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(fp), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fclose(fp);
        return tn_error_set(TN_ERR_IO, "tenet: '%s' is not a regular file", path);
    }
    uint64_t size = (uint64_t)sb.st_size;
    tn_st_file *f = calloc(1, sizeof *f);
    if (f && !(f->path = dup_str(path))) {
        free(f);
        f = NULL;
    }
    if (!f) {
        fclose(fp);
        return tn_error_set(TN_ERR_NOMEM, "tenet: tn_st_open: '%s': out of memory", path);
    }
    unsigned char len8[8];
    if (size < 8 || fread(len8, 1, 8, fp) != 8)
        return read_fail(fp, f, NULL, NULL,
                         tn_error_set(TN_ERR_FORMAT,
                                      "tenet: '%s': truncated: %llu bytes, too short for the "
                                      "8-byte header length",
                                      path, (unsigned long long)size));
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = (hl << 8) | len8[i];
    if (hl > size - 8)
        return read_fail(fp, f, NULL, NULL,
                         tn_error_set(TN_ERR_FORMAT,
                                      "tenet: '%s': header length %llu exceeds the %llu bytes "
                                      "that follow it (truncated or not a safetensors file)",
                                      path, (unsigned long long)hl,
                                      (unsigned long long)(size - 8)));
    if (hl > ST_MAX_HEADER)
        return read_fail(fp, f, NULL, NULL,
                         tn_error_set(TN_ERR_FORMAT,
                                      "tenet: '%s': header length %llu is over the %llu-byte limit",
                                      path, (unsigned long long)hl,
                                      (unsigned long long)ST_MAX_HEADER));
    if (hl < 2)
        return read_fail(fp, f, NULL, NULL,
                         tn_error_set(TN_ERR_FORMAT, "tenet: '%s': header length %llu is too small",
                                      path, (unsigned long long)hl));
    char *header = malloc((size_t)hl);
    if (!header)
        return read_fail(fp, f, NULL, NULL,
                         tn_error_set(TN_ERR_NOMEM, "tenet: '%s': out of memory for the header",
                                      path));
    if (fread(header, 1, (size_t)hl, fp) != (size_t)hl)
        return read_fail(fp, f, header, NULL,
                         tn_error_set(TN_ERR_IO, "tenet: '%s': cannot read the header", path));

    uint64_t data_len = size - 8 - hl;
    tn_st_span *spans = NULL;
    tn_status hs = tn_st_parse_header(header, (size_t)hl, path, f, &spans, data_len);
    if (hs != TN_OK) return read_fail(fp, f, header, spans, hs);
    free(header);
    header = NULL;

    /* Unique names (sort by name; keep spans aligned through .index). */
    size_t *where = malloc((f->count ? f->count : 1) * sizeof *where);
    if (!where)
        return read_fail(fp, f, NULL, spans,
                         tn_error_set(TN_ERR_NOMEM, "tenet: '%s': out of memory", path));
    /* Data section, aligned for floats. */
    if (data_len > SIZE_MAX - 64) {
        free(where);
        return read_fail(fp, f, NULL, spans,
                         tn_error_set(TN_ERR_NOMEM, "tenet: '%s': data too large", path));
    }
    f->data_len = (size_t)data_len;
    f->data = aligned_alloc(64, ((size_t)data_len + 63) / 64 * 64 + 64);
    if (!f->data) {
        free(where);
        return read_fail(fp, f, NULL, spans,
                         tn_error_set(TN_ERR_NOMEM,
                                      "tenet: '%s': out of memory for %llu bytes of data", path,
                                      (unsigned long long)data_len));
    }
    if (data_len && fread(f->data, 1, (size_t)data_len, fp) != (size_t)data_len) {
        free(where);
        return read_fail(fp, f, NULL, spans,
                         tn_error_set(TN_ERR_IO, "tenet: '%s': cannot read %llu bytes of data",
                                      path, (unsigned long long)data_len));
    }
    fclose(fp);
    fp = NULL;

    /* Overlaps: sort the spans by offset. */
    if (f->count) qsort(spans, f->count, sizeof *spans, cmp_span);
    for (size_t i = 1; i < f->count; i++)
        if (spans[i].begin < spans[i - 1].end) {
            const char *a = f->entries[spans[i - 1].index].name;
            const char *b = f->entries[spans[i].index].name;
            free(where);
            return read_fail(NULL, f, NULL, spans,
                             tn_error_set(TN_ERR_FORMAT,
                                          "tenet: '%s': tensors '%.200s' and '%.200s' overlap "
                                          "in the data ([%llu, %llu] and [%llu, %llu])",
                                          path, a, b, (unsigned long long)spans[i - 1].begin,
                                          (unsigned long long)spans[i - 1].end,
                                          (unsigned long long)spans[i].begin,
                                          (unsigned long long)spans[i].end));
        }
    for (size_t i = 0; i < f->count; i++) where[spans[i].index] = (size_t)spans[i].begin;
    free(spans);

    for (size_t i = 0; i < f->count; i++) {
        f->entries[i].data = (const float *)((const unsigned char *)f->data + where[i]);
        if (!host_is_little_endian()) swap32((void *)f->entries[i].data, f->entries[i].numel);
    }
    free(where);
    if (f->count) qsort(f->entries, f->count, sizeof *f->entries, cmp_entry);
    for (size_t i = 1; i < f->count; i++)
        if (strcmp(f->entries[i].name, f->entries[i - 1].name) == 0) {
            tn_status st = tn_error_set(TN_ERR_FORMAT, "tenet: '%s': tensor '%.200s' appears twice",
                                        path, f->entries[i].name);
            return read_fail(NULL, f, NULL, NULL, st);
        }
    *out = f;
    return TN_OK;
}

/* ------------------------------------------------------ typed read-back */

static void shape_text(int ndim, const int *shape, char *buf, size_t size)
{
    size_t n = (size_t)snprintf(buf, size, "(");
    for (int i = 0; i < ndim && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, i ? ", %d" : "%d", shape[i]);
    if (n < size) snprintf(buf + n, size - n, ")");
}

static tn_status check_entry(const tn_st_file *f, const char *name, int ndim, const int *shape,
                             const tn_st_entry **out)
{
    const tn_st_entry *e = tn_st_find(f, name);
    *out = e;
    if (!e)
        return tn_error_set(TN_ERR_FORMAT, "tenet: '%s': no tensor '%.200s'", f->path, name);
    bool same = e->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = e->shape[i] == shape[i];
    if (!same) {
        char want[96], have[96];
        shape_text(ndim, shape, want, sizeof want);
        shape_text(e->ndim, e->shape, have, sizeof have);
        return tn_error_set(TN_ERR_FORMAT,
                            "tenet: '%s': tensor '%.200s' has shape %s, expected %s", f->path,
                            name, have, want);
    }
    return TN_OK;
}

tn_status tn_st_read_into(const tn_st_file *f, const char *name, int ndim, const int *shape,
                          float *dst)
{
    if (!f || !name || (ndim > 0 && !shape)) tn_misuse("tn_st_read_into", "file, name and shape are required");
    const tn_st_entry *e;
    tn_status st = check_entry(f, name, ndim, shape, &e);
    if (st != TN_OK) return st;
    if (e->numel) memcpy(dst, e->data, e->numel * sizeof(float));
    return TN_OK;
}

tn_status tn_st_add_params(tn_st_writer *w, const tn_params *ps)
{
    if (!w || !ps) tn_misuse("tn_st_add_params", "writer and store are required");
    for (size_t i = 0; i < tn_params_count(ps); i++) {
        const tn_tensor *t = tn_params_at(ps, i);
        tn_status st = tn_st_add(w, t->name, t->ndim, t->shape, t->data);
        if (st != TN_OK) return st;
    }
    return TN_OK;
}

static bool has_prefix(const char *name, const char *prefix)
{
    return prefix && strncmp(name, prefix, strlen(prefix)) == 0;
}

/* PyTorch's batch-norm step counter, which a model in PyTorch's state_dict
 * names carries and tenet's batch norm does not keep. */
static bool torch_only(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && strcmp(dot + 1, "num_batches_tracked") == 0;
}

tn_status tn_st_load_params(const tn_st_file *f, tn_params *ps, const char *extra_prefix)
{
    if (!f || !ps) tn_misuse("tn_st_load_params", "file and store are required");
    size_t n = tn_params_count(ps);
    for (size_t i = 0; i < n; i++) {
        const tn_tensor *t = tn_params_at(ps, i);
        const tn_st_entry *e;
        tn_status st = check_entry(f, t->name, t->ndim, t->shape, &e);
        if (st != TN_OK) return st; /* nothing loaded yet */
    }
    size_t extra = 0;
    const char *first = NULL;
    for (size_t i = 0; i < f->count; i++) {
        const char *name = f->entries[i].name;
        if (has_prefix(name, extra_prefix) || tn_params_find(ps, name) || torch_only(name)) continue;
        if (!extra++) first = name;
    }
    if (extra)
        return tn_error_set(TN_ERR_FORMAT,
                            "tenet: '%s': tensor '%.200s'%s is not in the model (%zu such "
                            "tensors; expected ones are skipped by their prefix)",
                            f->path, first, extra > 1 ? " and others" : "", extra);
    for (size_t i = 0; i < n; i++) {
        tn_tensor *t = tn_params_at(ps, i);
        const tn_st_entry *e = tn_st_find(f, t->name);
        memcpy(t->data, e->data, t->numel * sizeof(float));
    }
    return TN_OK;
}
