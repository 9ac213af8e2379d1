/* fuzz/fuzz_safetensors.c - libFuzzer target for the safetensors reader
 * (tensor/safetensors.c): the input is written to a temporary file and
 * opened with tn_st_open(), which validates the header length, the JSON
 * header (strings, escapes, UTF-8, metadata, dtypes, shapes, offsets) and
 * the data.  Any bytes must give a file or an error naming the path, never
 * a crash or a leak; an opened file must keep every promise of the API:
 * entries sorted by unique non-empty name, numel the product of the shape,
 * data inside the file, lookups by name and shape that agree with it. */
#include "tensor/safetensors.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[256];

static void remove_file(void) { unlink(path); }

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *tmp = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/tenet-fuzz-st-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0) abort();
    close(fd);
    atexit(remove_file);
    return 0;
}

/* Everything an opened file promises. */
static void check_file(const tn_st_file *f)
{
    size_t n = tn_st_count(f);
    float *buf = NULL;
    for (size_t i = 0; i < n; i++) {
        const tn_st_entry *e = tn_st_at(f, i);
        if (!e->name || !e->name[0] || e->ndim < 0 || e->ndim > TN_MAX_DIMS) __builtin_trap();
        if (i > 0 && strcmp(tn_st_at(f, i - 1)->name, e->name) >= 0) __builtin_trap();
        size_t numel = 1;
        for (int d = 0; d < e->ndim; d++) {
            if (e->shape[d] < 0) __builtin_trap();
            numel *= (size_t)e->shape[d];
        }
        if (numel != e->numel) __builtin_trap();
        if (tn_st_find(f, e->name) != e) __builtin_trap();
        /* The data is readable (ASan checks the bounds) and read_into copies it. */
        if (e->numel > 0 && e->numel <= (1u << 20)) {
            float *b = realloc(buf, e->numel * sizeof *b);
            if (!b) abort();
            buf = b;
            if (tn_st_read_into(f, e->name, e->ndim, e->shape, buf) != TN_OK) __builtin_trap();
            if (memcmp(buf, e->data, e->numel * sizeof *buf) != 0) __builtin_trap();
        }
        /* A wrong shape is an error naming the tensor, and copies nothing. */
        int wrong[TN_MAX_DIMS] = {0};
        for (int d = 0; d < e->ndim; d++) wrong[d] = e->shape[d];
        int wn = e->ndim > 0 ? e->ndim : 1;
        wrong[wn - 1] = wrong[wn - 1] > 0 ? wrong[wn - 1] - 1 : 1;
        if (tn_st_read_into(f, e->name, wn, wrong, NULL) == TN_OK) __builtin_trap();
        if (!strstr(tn_error_message(), "has shape")) __builtin_trap();
    }
    free(buf);
    if (tn_st_find(f, "") != NULL) __builtin_trap();
    if (tn_st_find(f, "__metadata__") != NULL) __builtin_trap();
    /* Metadata lookups: any key, present or not, returns a string or NULL. */
    const char *keys[] = {"format", "run.options", "resnet.depth", "", "__metadata__"};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        const char *v = tn_st_meta(f, keys[k]);
        if (v) (void)strlen(v);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FILE *fp = fopen(path, "wb");
    if (!fp) abort();
    if (size && fwrite(data, 1, size, fp) != size) abort();
    if (fclose(fp) != 0) abort();
    tn_st_file *f = (tn_st_file *)1;
    tn_status st = tn_st_open(path, &f);
    if (st == TN_OK) {
        if (!f) __builtin_trap();
        check_file(f);
        tn_st_close(f);
    } else if (f != NULL || !strstr(tn_error_message(), path)) {
        __builtin_trap(); /* an error must name the file */
    }
    return 0;
}
