/* tensor/st_header.c - the safetensors header parser: a small strict JSON
 * parser (objects, strings with escapes and valid UTF-8, arrays of
 * non-negative integers; nothing else is expected in a safetensors header)
 * and the checks of each tensor entry against the data section. */
#include "internal.h"
#include "st_internal.h"

#include <limits.h>
#include <stdlib.h>

void tn_st_sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->failed) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->failed = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}



typedef struct jp {
    const char *p, *end;
    const char *path; /* for messages */
    tn_status status;
} jp;

static bool jp_fail(jp *j, tn_status st, const char *fmt, const char *a, const char *b)
{
    if (j->status == TN_OK) {
        char what[512];
        snprintf(what, sizeof what, fmt, a ? a : "", b ? b : "");
        j->status = tn_error_set(st, "tenet: '%s': bad safetensors header: %s", j->path, what);
    }
    return false;
}

/* Describe the position for messages: "at byte 123". */
static const char *jp_where(jp *j, const char *start, char *buf, size_t size)
{
    snprintf(buf, size, "at byte %zu of the header", (size_t)(j->p - start));
    return buf;
}

static void jp_ws(jp *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static bool jp_expect(jp *j, char c)
{
    jp_ws(j);
    if (j->p < j->end && *j->p == c) {
        j->p++;
        return true;
    }
    return false;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static bool jp_hex4(jp *j, unsigned *out)
{
    if (j->end - j->p < 4) return false;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(j->p[i]);
        if (h < 0) return false;
        v = v * 16 + (unsigned)h;
    }
    j->p += 4;
    *out = v;
    return true;
}

/* Length of the valid UTF-8 sequence at s (s < end), or 0. */
static size_t utf8_len(const unsigned char *s, const unsigned char *end)
{
    unsigned c = s[0];
    size_t n;
    unsigned min;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) n = 2, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF) n = 3, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4) n = 4, min = 0x10000;
    else return 0;
    if ((size_t)(end - s) < n) return 0;
    unsigned cp = c & (0x7F >> n);
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return n;
}

/* Parse a JSON string into a malloc'ed C string (no embedded NULs). */
static char *jp_string(jp *j, const char *start)
{
    char where[64];
    jp_ws(j);
    if (j->p >= j->end || *j->p != '"') {
        jp_fail(j, TN_ERR_FORMAT, "expected a string %s%s", jp_where(j, start, where, sizeof where), "");
        return NULL;
    }
    j->p++;
    sbuf b = {0};
    tn_st_sb_put(&b, "", 0);
    for (;;) {
        if (j->p >= j->end) {
            free(b.p);
            jp_fail(j, TN_ERR_FORMAT, "unterminated string%s%s", "", "");
            return NULL;
        }
        unsigned char c = (unsigned char)*j->p;
        if (c == '"') {
            j->p++;
            break;
        }
        if (c < 0x20) {
            free(b.p);
            jp_fail(j, TN_ERR_FORMAT, "control character in a string %s%s",
                    jp_where(j, start, where, sizeof where), "");
            return NULL;
        }
        if (c != '\\') {
            size_t n = utf8_len((const unsigned char *)j->p, (const unsigned char *)j->end);
            if (!n) {
                free(b.p);
                jp_fail(j, TN_ERR_FORMAT, "invalid UTF-8 in a string %s%s",
                        jp_where(j, start, where, sizeof where), "");
                return NULL;
            }
            tn_st_sb_put(&b, j->p, n);
            j->p += n;
            continue;
        }
        j->p++;
        if (j->p >= j->end) continue; /* reported as unterminated */
        char e = *j->p++;
        char out[4];
        switch (e) {
        case '"': tn_st_sb_put(&b, "\"", 1); break;
        case '\\': tn_st_sb_put(&b, "\\", 1); break;
        case '/': tn_st_sb_put(&b, "/", 1); break;
        case 'b': tn_st_sb_put(&b, "\b", 1); break;
        case 'f': tn_st_sb_put(&b, "\f", 1); break;
        case 'n': tn_st_sb_put(&b, "\n", 1); break;
        case 'r': tn_st_sb_put(&b, "\r", 1); break;
        case 't': tn_st_sb_put(&b, "\t", 1); break;
        case 'u': {
            unsigned cp, lo;
            bool ok = jp_hex4(j, &cp);
            if (ok && cp >= 0xD800 && cp <= 0xDBFF) {
                ok = j->end - j->p >= 2 && j->p[0] == '\\' && j->p[1] == 'u';
                if (ok) j->p += 2;
                ok = ok && jp_hex4(j, &lo) && lo >= 0xDC00 && lo <= 0xDFFF;
                if (ok) cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (ok && cp >= 0xDC00 && cp <= 0xDFFF) {
                ok = false;
            }
            if (!ok || cp == 0) {
                free(b.p);
                jp_fail(j, TN_ERR_FORMAT, "bad \\u escape in a string %s%s",
                        jp_where(j, start, where, sizeof where), "");
                return NULL;
            }
            size_t n;
            if (cp < 0x80) {
                out[0] = (char)cp;
                n = 1;
            } else if (cp < 0x800) {
                out[0] = (char)(0xC0 | (cp >> 6));
                out[1] = (char)(0x80 | (cp & 0x3F));
                n = 2;
            } else if (cp < 0x10000) {
                out[0] = (char)(0xE0 | (cp >> 12));
                out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
                out[2] = (char)(0x80 | (cp & 0x3F));
                n = 3;
            } else {
                out[0] = (char)(0xF0 | (cp >> 18));
                out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
                out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
                out[3] = (char)(0x80 | (cp & 0x3F));
                n = 4;
            }
            tn_st_sb_put(&b, out, n);
            break;
        }
        default:
            free(b.p);
            jp_fail(j, TN_ERR_FORMAT, "bad escape in a string %s%s",
                    jp_where(j, start, where, sizeof where), "");
            return NULL;
        }
    }
    if (b.failed) {
        free(b.p);
        jp_fail(j, TN_ERR_NOMEM, "out of memory%s%s", "", "");
        return NULL;
    }
    return b.p;
}

/* A non-negative JSON integer (no sign, fraction or exponent), <= 2^53. */
static bool jp_uint(jp *j, uint64_t *out)
{
    jp_ws(j);
    const char *s = j->p;
    uint64_t v = 0;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
        v = v * 10 + (uint64_t)(*j->p - '0');
        j->p++;
        if (v > ((uint64_t)1 << 53)) return false;
    }
    size_t n = (size_t)(j->p - s);
    if (n == 0 || (n > 1 && s[0] == '0')) return false;
    if (j->p < j->end && (*j->p == '.' || *j->p == 'e' || *j->p == 'E')) return false;
    *out = v;
    return true;
}

/* [int, int, ...] with at most max_n items; *n receives the count. */
static bool jp_uint_array(jp *j, uint64_t *vals, int max_n, int *n)
{
    *n = 0;
    if (!jp_expect(j, '[')) return false;
    if (jp_expect(j, ']')) return true;
    for (;;) {
        if (*n >= max_n) return false;
        if (!jp_uint(j, &vals[*n])) return false;
        (*n)++;
        if (jp_expect(j, ']')) return true;
        if (!jp_expect(j, ',')) return false;
    }
}

/* Entry being parsed, before it is committed to the file. */
typedef struct raw_entry {
    int ndim;
    uint64_t shape[TN_MAX_DIMS];
    uint64_t begin, end;
} raw_entry;

static bool parse_entry(jp *j, const char *start, const char *name, raw_entry *e)
{
    char where[64];
    bool have_dtype = false, have_shape = false, have_offsets = false;
    if (!jp_expect(j, '{'))
        return jp_fail(j, TN_ERR_FORMAT, "tensor '%.200s': expected an object %s", name,
                       jp_where(j, start, where, sizeof where));
    if (jp_expect(j, '}'))
        return jp_fail(j, TN_ERR_FORMAT, "tensor '%.200s': empty entry%s", name, "");
    for (;;) {
        char *key = jp_string(j, start);
        if (!key) return false;
        if (!jp_expect(j, ':')) {
            free(key);
            return jp_fail(j, TN_ERR_FORMAT, "tensor '%.200s': expected ':' %s", name,
                           jp_where(j, start, where, sizeof where));
        }
        bool ok = true;
        if (strcmp(key, "dtype") == 0 && !have_dtype) {
            have_dtype = true;
            char *dt = jp_string(j, start);
            if (!dt) ok = false;
            else if (strcmp(dt, "F32") != 0) {
                char msg[64];
                snprintf(msg, sizeof msg, "%.40s", dt);
                free(dt);
                free(key);
                return jp_fail(j, TN_ERR_FORMAT,
                               "tensor '%.200s': unsupported dtype \"%s\" (only F32 is supported)",
                               name, msg);
            }
            free(dt);
        } else if (strcmp(key, "shape") == 0 && !have_shape) {
            have_shape = true;
            int n;
            if (!jp_uint_array(j, e->shape, TN_MAX_DIMS, &n)) {
                free(key);
                return jp_fail(j, TN_ERR_FORMAT,
                               "tensor '%.200s': shape must be a list of at most 4 "
                               "non-negative integers %s",
                               name, jp_where(j, start, where, sizeof where));
            }
            e->ndim = n;
        } else if (strcmp(key, "data_offsets") == 0 && !have_offsets) {
            have_offsets = true;
            uint64_t v[2];
            int n;
            if (!jp_uint_array(j, v, 2, &n) || n != 2) {
                free(key);
                return jp_fail(j, TN_ERR_FORMAT,
                               "tensor '%.200s': data_offsets must be [begin, end] %s", name,
                               jp_where(j, start, where, sizeof where));
            }
            e->begin = v[0];
            e->end = v[1];
        } else {
            char k[64];
            snprintf(k, sizeof k, "%.40s", key);
            free(key);
            return jp_fail(j, TN_ERR_FORMAT, "tensor '%.200s': unexpected or repeated key \"%s\"",
                           name, k);
        }
        free(key);
        if (!ok) return false;
        if (jp_expect(j, '}')) break;
        if (!jp_expect(j, ','))
            return jp_fail(j, TN_ERR_FORMAT, "tensor '%.200s': expected ',' or '}' %s", name,
                           jp_where(j, start, where, sizeof where));
    }
    if (!have_dtype || !have_shape || !have_offsets)
        return jp_fail(j, TN_ERR_FORMAT, "tensor '%.200s': missing %s", name,
                       !have_dtype ? "dtype" : !have_shape ? "shape" : "data_offsets");
    return true;
}

static bool parse_metadata(jp *j, const char *start, tn_st_file *f)
{
    char where[64];
    if (f->meta)
        return jp_fail(j, TN_ERR_FORMAT, "__metadata__ appears twice%s%s", "", "");
    if (!jp_expect(j, '{'))
        return jp_fail(j, TN_ERR_FORMAT, "__metadata__ must be an object %s%s",
                       jp_where(j, start, where, sizeof where), "");
    f->meta = malloc(sizeof *f->meta); /* marks "seen" even when empty */
    f->cap_meta = f->meta ? 1 : 0;
    if (!f->meta) return jp_fail(j, TN_ERR_NOMEM, "out of memory%s%s", "", "");
    if (jp_expect(j, '}')) return true;
    for (;;) {
        char *key = jp_string(j, start);
        if (!key) return false;
        if (!jp_expect(j, ':')) {
            free(key);
            return jp_fail(j, TN_ERR_FORMAT, "__metadata__: expected ':' %s%s",
                           jp_where(j, start, where, sizeof where), "");
        }
        char *val = jp_string(j, start);
        if (!val) {
            char k[64];
            snprintf(k, sizeof k, "%.40s", key);
            free(key);
            j->status = TN_OK; /* replace the generic message */
            return jp_fail(j, TN_ERR_FORMAT, "__metadata__: the value of \"%s\" must be a string%s",
                           k, "");
        }
        for (size_t i = 0; i < f->n_meta; i++)
            if (strcmp(f->meta[i].key, key) == 0) {
                char k[64];
                snprintf(k, sizeof k, "%.40s", key);
                free(key);
                free(val);
                return jp_fail(j, TN_ERR_FORMAT, "__metadata__: key \"%s\" appears twice%s", k, "");
            }
        if (f->n_meta == f->cap_meta) {
            size_t cap = 2 * f->cap_meta;
            st_meta *m = realloc(f->meta, cap * sizeof *m);
            if (!m) {
                free(key);
                free(val);
                return jp_fail(j, TN_ERR_NOMEM, "out of memory%s%s", "", "");
            }
            f->meta = m;
            f->cap_meta = cap;
        }
        f->meta[f->n_meta].key = key;
        f->meta[f->n_meta].value = val;
        f->n_meta++;
        if (jp_expect(j, '}')) return true;
        if (!jp_expect(j, ','))
            return jp_fail(j, TN_ERR_FORMAT, "__metadata__: expected ',' or '}' %s%s",
                           jp_where(j, start, where, sizeof where), "");
    }
}

static bool parse_header(jp *j, tn_st_file *f, tn_st_span **spans_out, uint64_t data_len)
{
    const char *start = j->p;
    char where[64];
    tn_st_span *spans = NULL;
    size_t cap_spans = 0;
    *spans_out = NULL;
    if (!jp_expect(j, '{'))
        return jp_fail(j, TN_ERR_FORMAT, "the header is not a JSON object%s%s", "", "");
    if (!jp_expect(j, '}')) {
        for (;;) {
            char *name = jp_string(j, start);
            if (!name) break;
            if (!jp_expect(j, ':')) {
                free(name);
                jp_fail(j, TN_ERR_FORMAT, "expected ':' %s%s", jp_where(j, start, where, sizeof where), "");
                break;
            }
            if (strcmp(name, "__metadata__") == 0) {
                free(name);
                if (!parse_metadata(j, start, f)) break;
            } else {
                raw_entry e = {0};
                if (!*name) {
                    free(name);
                    jp_fail(j, TN_ERR_FORMAT, "a tensor has an empty name%s%s", "", "");
                    break;
                }
                if (!parse_entry(j, start, name, &e)) {
                    free(name);
                    break;
                }
                /* Shape, size and offsets. */
                uint64_t numel = 1;
                bool big = false;
                for (int d = 0; d < e.ndim; d++) {
                    if (e.shape[d] > (uint64_t)INT_MAX) big = true;
                    else if (e.shape[d] && numel > (((uint64_t)1 << 62) / e.shape[d])) big = true;
                    else numel *= e.shape[d];
                }
                char msg[200];
                bool bad = true;
                if (big)
                    snprintf(msg, sizeof msg, "shape is too large");
                else if (e.end < e.begin)
                    snprintf(msg, sizeof msg, "data_offsets [%llu, %llu] end before they begin",
                             (unsigned long long)e.begin, (unsigned long long)e.end);
                else if (e.end - e.begin != numel * 4)
                    snprintf(msg, sizeof msg,
                             "shape has %llu elements (%llu bytes) but data_offsets [%llu, %llu] "
                             "span %llu bytes",
                             (unsigned long long)numel, (unsigned long long)(numel * 4),
                             (unsigned long long)e.begin, (unsigned long long)e.end,
                             (unsigned long long)(e.end - e.begin));
                else if (e.end > data_len)
                    snprintf(msg, sizeof msg,
                             "data_offsets [%llu, %llu] run past the end of the data (%llu bytes)",
                             (unsigned long long)e.begin, (unsigned long long)e.end,
                             (unsigned long long)data_len);
                else if (e.begin % 4 != 0)
                    snprintf(msg, sizeof msg, "data_offsets begin %llu is not a multiple of 4",
                             (unsigned long long)e.begin);
                else
                    bad = false;
                if (bad) {
                    jp_fail(j, TN_ERR_FORMAT, "tensor '%.200s': %s", name, msg);
                    free(name);
                    break;
                }
                if (f->count == f->cap) {
                    size_t cap = f->cap ? 2 * f->cap : 64;
                    tn_st_entry *en = realloc(f->entries, cap * sizeof *en);
                    if (en) f->entries = en;
                    tn_st_span *sp = realloc(spans, cap * sizeof *sp);
                    if (sp) spans = sp;
                    if (!en || !sp) {
                        free(name);
                        jp_fail(j, TN_ERR_NOMEM, "out of memory%s%s", "", "");
                        break;
                    }
                    f->cap = cap_spans = cap;
                }
                tn_st_entry *en = &f->entries[f->count];
                memset(en, 0, sizeof *en);
                en->name = name;
                en->ndim = e.ndim;
                for (int d = 0; d < e.ndim; d++) en->shape[d] = (int)e.shape[d];
                en->numel = (size_t)numel;
                spans[f->count].begin = e.begin;
                spans[f->count].end = e.end;
                spans[f->count].index = f->count;
                f->count++;
            }
            if (jp_expect(j, '}')) {
                jp_ws(j);
                if (j->p != j->end)
                    jp_fail(j, TN_ERR_FORMAT, "unexpected text after the header object %s%s",
                            jp_where(j, start, where, sizeof where), "");
                break;
            }
            if (!jp_expect(j, ',')) {
                jp_fail(j, TN_ERR_FORMAT, "expected ',' or '}' %s%s",
                        jp_where(j, start, where, sizeof where), "");
                break;
            }
        }
    } else {
        jp_ws(j);
        if (j->p != j->end)
            jp_fail(j, TN_ERR_FORMAT, "unexpected text after the header object %s%s",
                    jp_where(j, start, where, sizeof where), "");
    }
    (void)cap_spans;
    *spans_out = spans;
    return j->status == TN_OK;
}

tn_status tn_st_parse_header(const char *header, size_t len, const char *path, tn_st_file *f,
                             tn_st_span **spans, uint64_t data_len)
{
    jp j = {.p = header, .end = header + len, .path = path, .status = TN_OK};
    parse_header(&j, f, spans, data_len);
    return j.status;
}
