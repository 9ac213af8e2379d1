/* tensor/st_internal.h - what the safetensors writer and reader
 * (safetensors.c) share with the header parser (st_header.c); not
 * installed. */
#ifndef TENET_ST_INTERNAL_H
#define TENET_ST_INTERNAL_H

#include "safetensors.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct st_meta {
    char *key, *value;
} st_meta;

struct tn_st_file {
    tn_st_entry *entries; /* sorted by name */
    size_t count, cap;
    st_meta *meta;
    size_t n_meta, cap_meta;
    float *data; /* the data section, aligned */
    size_t data_len; /* bytes */
    char *path;      /* for messages */
};

/* A growable byte buffer; `failed` is sticky. */
typedef struct sbuf {
    char *p;
    size_t len, cap;
    bool failed;
} sbuf;

/* Append n bytes (and keep a NUL after them). */
void tn_st_sb_put(sbuf *b, const char *s, size_t n);

/* Where a tensor's bytes lie in the data section; index: its entry. */
typedef struct tn_st_span {
    uint64_t begin, end;
    size_t index;
} tn_st_span;

/* Parse the JSON header (len bytes, not NUL-terminated) of the file `path`
 * whose data section has data_len bytes: fill f->entries (names, shapes,
 * numel) and f->meta, and *spans (malloc'd, f->count of them, in entry
 * order; the caller frees it, also on error).  Checks each tensor's dtype,
 * rank, size against its offsets and offsets inside the data; the message
 * names the file and the problem. */
tn_status tn_st_parse_header(const char *header, size_t len, const char *path, tn_st_file *f,
                             tn_st_span **spans, uint64_t data_len);

#endif
