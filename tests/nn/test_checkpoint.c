/* tests/nn/test_checkpoint.c - the safetensors reader and writer: round
 * trips, damaged files, atomic writes, parameter stores, and a file written
 * on the PyTorch side (tests/nn/gen_fixtures.py). */
#include "nn/nn.h"
#include "tensor/safetensors.h"

#include "nn_test_util.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <sys/stat.h>

static uint32_t bits(float x)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    return u;
}

static float from_bits(uint32_t u)
{
    float x;
    memcpy(&x, &u, 4);
    return x;
}

static char path_buf[4200];
static const char *tmp_path(const char *dir, const char *name)
{
    snprintf(path_buf, sizeof path_buf, "%s/%s", dir, name);
    return path_buf;
}

/* Number of entries in dir whose name contains ".tmp." (leftover temps). */
static int count_temps(const char *dir)
{
    DIR *d = opendir(dir);
    cr_assert(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp.")) n++;
    closedir(d);
    return n;
}

Test(safetensors, round_trip_bit_exact)
{
    const char *dir = nt_tmpdir();
    char path[4200];
    snprintf(path, sizeof path, "%s/rt.safetensors", dir);

    /* Every kind of float: NaN payloads, infinities, -0, denormals. */
    float a[2 * 3 * 4 * 5], b[7], s = 3.25f;
    tn_rng r;
    tn_rng_seed(&r, 1, 2);
    for (size_t i = 0; i < sizeof a / sizeof *a; i++) a[i] = from_bits(tn_rng_u32(&r));
    b[0] = NAN;
    b[1] = INFINITY;
    b[2] = -INFINITY;
    b[3] = -0.0f;
    b[4] = from_bits(1);          /* smallest denormal */
    b[5] = from_bits(0x7fc12345); /* NaN with a payload */
    b[6] = 1e-38f;

    tn_st_writer *w = tn_st_writer_new();
    cr_assert(w);
    cr_assert_eq(tn_st_add(w, "z.big", TN_SHAPE(2, 3, 4, 5), a), TN_OK);
    cr_assert_eq(tn_st_add(w, "a.special", TN_SHAPE(7), b), TN_OK);
    cr_assert_eq(tn_st_add(w, "scalar", 0, NULL, &s), TN_OK);
    cr_assert_eq(tn_st_add(w, "empty", TN_SHAPE(0, 3), NULL), TN_OK);
    cr_assert_eq(tn_st_add(w, "quote\"back\\slash\nnl", TN_SHAPE(1), &s), TN_OK);
    cr_assert_eq(tn_st_add_meta(w, "step", "1"), TN_OK);
    cr_assert_eq(tn_st_add_meta(w, "step", "42"), TN_OK); /* replaced */
    cr_assert_eq(tn_st_add_meta(w, "note", "tab\there \"q\" \xc3\xa9"), TN_OK);
    cr_assert_eq(tn_st_add(w, "scalar", TN_SHAPE(1), &s), TN_ERR_ARG, "duplicate name");
    cr_assert(strstr(tn_error_message(), "scalar"));
    cr_assert_eq(tn_st_add(w, "__metadata__", TN_SHAPE(1), &s), TN_ERR_ARG);
    cr_assert_eq(tn_st_save(w, path), TN_OK, "%s", tn_error_message());
    tn_st_writer_free(w);
    cr_assert_eq(count_temps(dir), 0);

    /* Header length is a multiple of 8 and the file size adds up. */
    size_t size;
    unsigned char *raw = nt_read_file(path, &size);
    cr_assert(raw);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = hl << 8 | raw[i];
    cr_assert_eq(hl % 8, 0);
    cr_assert_eq(size, 8 + hl + (120 + 7 + 1 + 0 + 1) * 4);
    cr_assert_eq(raw[8], '{');
    free(raw);

    tn_st_file *f;
    cr_assert_eq(tn_st_open(path, &f), TN_OK, "%s", tn_error_message());
    cr_assert_eq(tn_st_count(f), 5);
    /* Sorted by name. */
    for (size_t i = 1; i < tn_st_count(f); i++)
        cr_assert_lt(strcmp(tn_st_at(f, i - 1)->name, tn_st_at(f, i)->name), 0);
    const tn_st_entry *e = tn_st_find(f, "z.big");
    cr_assert(e);
    cr_assert_eq(e->ndim, 4);
    cr_assert_eq(e->shape[3], 5);
    cr_assert_eq(e->numel, 120);
    for (int i = 0; i < 120; i++) cr_assert_eq(bits(e->data[i]), bits(a[i]), "element %d", i);
    e = tn_st_find(f, "a.special");
    for (int i = 0; i < 7; i++) cr_assert_eq(bits(e->data[i]), bits(b[i]), "special %d", i);
    e = tn_st_find(f, "scalar");
    cr_assert_eq(e->ndim, 0);
    cr_assert_eq(e->numel, 1);
    cr_assert_eq(e->data[0], 3.25f);
    e = tn_st_find(f, "empty");
    cr_assert_eq(e->numel, 0);
    cr_assert_eq(e->shape[0], 0);
    cr_assert(tn_st_find(f, "quote\"back\\slash\nnl"));
    cr_assert_null(tn_st_find(f, "missing"));
    cr_assert_str_eq(tn_st_meta(f, "step"), "42");
    cr_assert_str_eq(tn_st_meta(f, "note"), "tab\there \"q\" \xc3\xa9");
    cr_assert_null(tn_st_meta(f, "absent"));

    float back[7];
    cr_assert_eq(tn_st_read_into(f, "a.special", TN_SHAPE(7), back), TN_OK);
    cr_assert_eq(memcmp(back, b, sizeof b), 0);
    cr_assert_eq(tn_st_read_into(f, "a.special", TN_SHAPE(1, 7), back), TN_ERR_FORMAT);
    cr_assert(strstr(tn_error_message(), "a.special") &&
                  strstr(tn_error_message(), "(7)") && strstr(tn_error_message(), "(1, 7)") &&
                  strstr(tn_error_message(), "rt.safetensors"),
              "%s", tn_error_message());
    cr_assert_eq(tn_st_read_into(f, "nope", TN_SHAPE(7), back), TN_ERR_FORMAT);
    cr_assert(strstr(tn_error_message(), "nope"), "%s", tn_error_message());
    tn_st_close(f);
    tn_st_close(NULL);
    tn_st_writer_free(NULL);
}

Test(safetensors, save_is_atomic)
{
    const char *dir = nt_tmpdir();
    char target[4200];
    snprintf(target, sizeof target, "%s/model.safetensors", dir);
    float x[3] = {1, 2, 3};
    tn_st_writer *w = tn_st_writer_new();
    cr_assert_eq(tn_st_add(w, "x", TN_SHAPE(3), x), TN_OK);
    cr_assert_eq(tn_st_save(w, target), TN_OK);
    /* Overwrite with new values: the reader sees the new file. */
    x[0] = 10;
    cr_assert_eq(tn_st_save(w, target), TN_OK);
    tn_st_file *f;
    cr_assert_eq(tn_st_open(target, &f), TN_OK);
    cr_assert_eq(tn_st_find(f, "x")->data[0], 10.0f);
    tn_st_close(f);

    /* A target that cannot be replaced (a non-empty directory): an error,
     * the target untouched, no temporary left behind. */
    char blocked[4200], inner[4300];
    snprintf(blocked, sizeof blocked, "%s/blocked", dir);
    cr_assert_eq(mkdir(blocked, 0755), 0);
    snprintf(inner, sizeof inner, "%s/keep", blocked);
    nt_write_file(inner, "k", 1);
    cr_assert_eq(tn_st_save(w, blocked), TN_ERR_IO);
    cr_assert(strstr(tn_error_message(), "blocked"), "%s", tn_error_message());
    struct stat sb;
    cr_assert_eq(stat(inner, &sb), 0);
    cr_assert_eq(count_temps(dir), 0);

    /* A missing directory. */
    cr_assert_eq(tn_st_save(w, "/nonexistent-tenet-dir/x.safetensors"), TN_ERR_IO);
    cr_assert(strstr(tn_error_message(), "/nonexistent-tenet-dir/x.safetensors"));
    tn_st_writer_free(w);

    cr_assert_eq(tn_st_open("/nonexistent-tenet-dir/x.safetensors", &f), TN_ERR_IO);
    cr_assert_null(f);
    cr_assert(strstr(tn_error_message(), "/nonexistent-tenet-dir/x.safetensors"));
}

/* Write a file from a header string and `data_bytes` bytes of data; the
 * length field is the header's true length unless `hl` is non-zero. */
static const char *craft(const char *dir, const char *name, const char *header, size_t data_bytes,
                         uint64_t hl)
{
    size_t n = strlen(header);
    if (!hl) hl = n;
    unsigned char *buf = calloc(1, 8 + n + data_bytes);
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)(hl >> (8 * i));
    memcpy(buf + 8, header, n);
    for (size_t i = 0; i < data_bytes; i++) buf[8 + n + i] = (unsigned char)i;
    const char *p = tmp_path(dir, name);
    nt_write_file(p, buf, 8 + n + data_bytes);
    free(buf);
    return p;
}

/* Opening must fail with `status`, a message naming the file and containing
 * each of the fragments, and *out NULL. */
static void expect_bad(const char *path, tn_status status, const char *frag1, const char *frag2)
{
    tn_st_file *f = (tn_st_file *)(uintptr_t)1;
    tn_status st = tn_st_open(path, &f);
    const char *msg = tn_error_message();
    cr_assert_eq(st, status, "%s: status %d, message: %s", path, st, msg);
    cr_assert_null(f);
    cr_assert(strstr(msg, path), "message does not name the file: %s", msg);
    if (frag1) cr_assert(strstr(msg, frag1), "'%s' not in: %s", frag1, msg);
    if (frag2) cr_assert(strstr(msg, frag2), "'%s' not in: %s", frag2, msg);
}

#define T(name) "\"" name "\":{\"dtype\":\"F32\","

Test(safetensors, damaged_files)
{
    const char *d = nt_tmpdir();
    const char *ok = "{" T("w") "\"shape\":[2,2],\"data_offsets\":[0,16]}}";
    tn_st_file *f;
    cr_assert_eq(tn_st_open(craft(d, "good", ok, 16, 0), &f), TN_OK, "%s", tn_error_message());
    tn_st_close(f);

    /* Truncated: no length, a header cut short, data cut short. */
    nt_write_file(tmp_path(d, "empty"), "", 0);
    expect_bad(tmp_path(d, "empty"), TN_ERR_FORMAT, "truncated", NULL);
    expect_bad(craft(d, "zero_len", "", 0, 0), TN_ERR_FORMAT, "header length 0", NULL);
    nt_write_file(tmp_path(d, "five"), "\x10\0\0\0\0", 5);
    expect_bad(tmp_path(d, "five"), TN_ERR_FORMAT, "truncated", NULL);
    expect_bad(craft(d, "cut_header", "{\"w\":{", 0, 64), TN_ERR_FORMAT, "header length 64", NULL);
    expect_bad(craft(d, "cut_data", ok, 10, 0), TN_ERR_FORMAT, "'w'", "past the end of the data");

    /* Headers that lie about sizes and offsets. */
    expect_bad(craft(d, "shape_lies", "{" T("w") "\"shape\":[3,2],\"data_offsets\":[0,16]}}", 16, 0),
               TN_ERR_FORMAT, "'w'", "6 elements");
    expect_bad(craft(d, "backwards", "{" T("w") "\"shape\":[0],\"data_offsets\":[8,4]}}", 16, 0),
               TN_ERR_FORMAT, "'w'", "end before");
    expect_bad(craft(d, "beyond", "{" T("w") "\"shape\":[4],\"data_offsets\":[16,32]}}", 16, 0),
               TN_ERR_FORMAT, "'w'", "past the end");
    expect_bad(craft(d, "overlap",
                     "{" T("a") "\"shape\":[2],\"data_offsets\":[0,8]}," T("b")
                     "\"shape\":[2],\"data_offsets\":[4,12]}}",
                     16, 0),
               TN_ERR_FORMAT, "'a' and 'b' overlap", NULL);
    expect_bad(craft(d, "misaligned", "{" T("w") "\"shape\":[1],\"data_offsets\":[2,6]}}", 16, 0),
               TN_ERR_FORMAT, "'w'", "multiple of 4");
    expect_bad(craft(d, "huge_dims",
                     "{" T("w") "\"shape\":[4294967296,4294967296],\"data_offsets\":[0,16]}}", 16, 0),
               TN_ERR_FORMAT, "'w'", "too large");
    expect_bad(craft(d, "rank5", "{" T("w") "\"shape\":[1,1,1,1,4],\"data_offsets\":[0,16]}}", 16, 0),
               TN_ERR_FORMAT, "'w'", "at most 4");
    expect_bad(craft(d, "dup",
                     "{" T("a") "\"shape\":[2],\"data_offsets\":[0,8]}," T("a")
                     "\"shape\":[2],\"data_offsets\":[8,16]}}",
                     16, 0),
               TN_ERR_FORMAT, "'a' appears twice", NULL);

    /* dtypes. */
    expect_bad(craft(d, "f16", "{\"w\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}", 16, 0),
               TN_ERR_FORMAT, "unsupported dtype \"F16\"", "'w'");
    expect_bad(craft(d, "i64",
                     "{\"num_batches_tracked\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[0,8]}}",
                     16, 0),
               TN_ERR_FORMAT, "unsupported dtype", "num_batches_tracked");

    /* Garbage JSON. */
    static const char *const garbage[] = {
        "garbage!",
        "[1, 2, 3]",
        "{\"w\":",
        "{\"w\" {}}",
        "{'w': 1}",
        "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}} x",
        "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],}}",
        "{\"w\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}",
        "{\"w\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}",
        "{\"w\":{\"dtype\":\"F32\",\"shape\":[02],\"data_offsets\":[0,8]}}",
        "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}",
        "{\"w\":{\"dtype\":\"F32\",\"shape\":[2]}}",
        "{\"w\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
        "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"extra\":1}}",
        "{\"w\":{\"dtype\":F32,\"shape\":[2],\"data_offsets\":[0,8]}}",
        "{\"w\\x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
        "{\"w\\ud800\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
        "{\"w\\u0000\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
        "{\"w\xff\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
        "{\"w\n\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
        "{\"__metadata__\":{\"k\":1}}",
        "{\"__metadata__\":{\"k\":\"v\",\"k\":\"w\"}}",
        "{\"__metadata__\":{},\"__metadata__\":{}}",
        "{\"__metadata__\":[]}",
        "{\"\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
        "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,99999999999999999999]}}",
        "{\"w\":{}}",
        "{\"w\":[]}",
        "{}}",
    };
    for (size_t i = 0; i < sizeof garbage / sizeof *garbage; i++) {
        char name[32];
        snprintf(name, sizeof name, "garbage%zu", i);
        expect_bad(craft(d, name, garbage[i], 16, 0), TN_ERR_FORMAT, "header", NULL);
    }

    /* Valid but unusual: escapes, whitespace, empty header, metadata only. */
    cr_assert_eq(tn_st_open(craft(d, "ws",
                                  " { \"w\\u00e9\\n\" : { \"shape\" : [ 2 ] , \"dtype\" : \"F32\" , "
                                  "\"data_offsets\" : [ 8 , 16 ] } }   ",
                                  16, 0),
                            &f),
                 TN_OK, "%s", tn_error_message());
    cr_assert(tn_st_find(f, "w\xc3\xa9\n"));
    cr_assert_eq(tn_st_find(f, "w\xc3\xa9\n")->data[0], from_bits(0x0b0a0908));
    tn_st_close(f);
    cr_assert_eq(tn_st_open(craft(d, "empty_obj", "{}      ", 0, 0), &f), TN_OK);
    cr_assert_eq(tn_st_count(f), 0);
    tn_st_close(f);
    cr_assert_eq(tn_st_open(craft(d, "meta_only", "{\"__metadata__\":{\"a\":\"\\ud83d\\ude00\"}}", 0, 0), &f),
                 TN_OK, "%s", tn_error_message());
    cr_assert_str_eq(tn_st_meta(f, "a"), "\xf0\x9f\x98\x80");
    tn_st_close(f);

    /* Huge header lengths. */
    expect_bad(craft(d, "huge1", ok, 16, (uint64_t)1 << 63), TN_ERR_FORMAT, "header length", NULL);
    expect_bad(craft(d, "huge2", ok, 16, UINT64_MAX), TN_ERR_FORMAT, "header length", NULL);
    expect_bad(craft(d, "huge3", ok, 16, (uint64_t)1 << 40), TN_ERR_FORMAT, "header length", NULL);
    expect_bad(d, TN_ERR_IO, "not a regular file", NULL);
}

/* Random corruption of a valid file: every variant opens or fails cleanly. */
Test(safetensors, random_corruption_never_crashes)
{
    const char *d = nt_tmpdir();
    char path[4200];
    snprintf(path, sizeof path, "%s/src.safetensors", d);
    float x[6] = {1, 2, 3, 4, 5, 6};
    tn_st_writer *w = tn_st_writer_new();
    tn_st_add(w, "layer.weight", TN_SHAPE(2, 3), x);
    tn_st_add(w, "layer.bias", TN_SHAPE(2), x);
    tn_st_add_meta(w, "k", "v");
    cr_assert_eq(tn_st_save(w, path), TN_OK);
    tn_st_writer_free(w);
    size_t size = 0;
    unsigned char *src = nt_read_file(path, &size);
    cr_assert(src && size > 64);
    unsigned char *buf = malloc(size);
    tn_rng r;
    tn_rng_seed(&r, 99, 0);
    int ok = 0, bad = 0;
    for (int it = 0; it < 2000; it++) {
        memcpy(buf, src, size);
        size_t n = size;
        int kind = (int)tn_rng_below(&r, 3);
        if (kind == 0) { /* flip bytes */
            for (int k = 0; k < 1 + (int)tn_rng_below(&r, 4); k++)
                buf[tn_rng_below(&r, (uint32_t)size)] = (unsigned char)tn_rng_u32(&r);
        } else if (kind == 1) { /* truncate */
            n = tn_rng_below(&r, (uint32_t)size);
        } else { /* a printable character in the header */
            buf[8 + tn_rng_below(&r, (uint32_t)(size - 8 - 32))] = "{}[],:\"\\0123456789 eE.-u"[tn_rng_below(&r, 24)];
        }
        snprintf(path, sizeof path, "%s/c.safetensors", d);
        nt_write_file(path, buf, n);
        tn_st_file *f;
        if (tn_st_open(path, &f) == TN_OK) {
            ok++;
            for (size_t i = 0; i < tn_st_count(f); i++) {
                const tn_st_entry *e = tn_st_at(f, i);
                volatile float s = 0;
                for (size_t j = 0; j < e->numel; j++) s += e->data[j]; /* readable */
            }
            tn_st_close(f);
        } else {
            bad++;
            cr_assert(strstr(tn_error_message(), "c.safetensors"), "%s", tn_error_message());
        }
    }
    cr_assert_gt(bad, 1000);
    cr_assert_gt(ok, 10);
    free(src);
    free(buf);
}

Test(safetensors, params_store_round_trip_and_checks)
{
    const char *d = nt_tmpdir();
    char path[4200];
    snprintf(path, sizeof path, "%s/p.safetensors", d);
    tn_params *ps = tn_params_new();
    tn_tensor *w = tn_params_add(ps, "fc.weight", TN_SHAPE(3, 4), TN_PARAM);
    tn_tensor *b = tn_params_add(ps, "fc.bias", TN_SHAPE(3), TN_PARAM);
    tn_tensor *m = tn_params_add(ps, "bn.running_mean", TN_SHAPE(3), TN_BUFFER);
    w = tn_params_find(ps, "fc.weight");
    b = tn_params_find(ps, "fc.bias");
    tn_rng r;
    tn_rng_seed(&r, 5, 0);
    tn_fill_normal(tn_params_values(ps), tn_params_size(ps), 0, 1, &r);
    tn_st_writer *wr = tn_st_writer_new();
    cr_assert_eq(tn_st_add_params(wr, ps), TN_OK);
    float extra = 7;
    cr_assert_eq(tn_st_add(wr, "optimizer.step", TN_SHAPE(1), &extra), TN_OK);
    cr_assert_eq(tn_st_save(wr, path), TN_OK);
    tn_st_writer_free(wr);

    tn_params *q = tn_params_new();
    tn_params_add(q, "fc.weight", TN_SHAPE(3, 4), TN_PARAM);
    tn_params_add(q, "fc.bias", TN_SHAPE(3), TN_PARAM);
    tn_params_add(q, "bn.running_mean", TN_SHAPE(3), TN_BUFFER);
    tn_st_file *f;
    cr_assert_eq(tn_st_open(path, &f), TN_OK);
    /* An extra tensor is refused unless its prefix is declared expected. */
    cr_assert_eq(tn_st_load_params(f, q, NULL), TN_ERR_FORMAT);
    cr_assert(strstr(tn_error_message(), "'optimizer.step' is not in the model"), "%s",
              tn_error_message());
    cr_assert(strstr(tn_error_message(), "p.safetensors"), "%s", tn_error_message());
    for (size_t i = 0; i < tn_params_size(q); i++)
        cr_assert_eq(tn_params_values(q)[i], 0.0f, "partially loaded");
    cr_assert_eq(tn_st_load_params(f, q, "optim."), TN_ERR_FORMAT, "'optim.' is not 'optimizer.'");
    cr_assert_eq(tn_st_load_params(f, q, "optimizer."), TN_OK, "%s", tn_error_message());
    for (size_t i = 0; i < tn_params_count(ps); i++) {
        tn_tensor *a = tn_params_at(ps, i), *c = tn_params_find(q, a->name);
        cr_assert_eq(memcmp(a->data, c->data, a->numel * 4), 0, "%s", a->name);
    }
    tn_st_close(f);
    (void)m;
    (void)w;
    (void)b;

    /* A store with a tensor the file lacks, or of another shape: an error
     * naming it, and nothing loaded. */
    tn_params *bad = tn_params_new();
    tn_tensor *bw = tn_params_add(bad, "fc.weight", TN_SHAPE(3, 4), TN_PARAM);
    tn_params_add(bad, "fc.extra", TN_SHAPE(2), TN_PARAM);
    bw = tn_params_find(bad, "fc.weight");
    cr_assert_eq(tn_st_open(path, &f), TN_OK);
    cr_assert_eq(tn_st_load_params(f, bad, ""), TN_ERR_FORMAT);
    cr_assert(strstr(tn_error_message(), "fc.extra"), "%s", tn_error_message());
    for (size_t i = 0; i < bw->numel; i++) cr_assert_eq(bw->data[i], 0.0f, "partially loaded");
    tn_params_free(bad);

    bad = tn_params_new();
    tn_params_add(bad, "bn.running_mean", TN_SHAPE(3), TN_BUFFER);
    tn_params_add(bad, "fc.weight", TN_SHAPE(4, 3), TN_PARAM);
    tn_tensor *rm = tn_params_find(bad, "bn.running_mean");
    cr_assert_eq(tn_st_load_params(f, bad, ""), TN_ERR_FORMAT);
    cr_assert(strstr(tn_error_message(), "fc.weight") && strstr(tn_error_message(), "(3, 4)") &&
                  strstr(tn_error_message(), "(4, 3)"),
              "%s", tn_error_message());
    cr_assert_eq(rm->data[0], 0.0f, "partially loaded");
    tn_params_free(bad);
    tn_st_close(f);
    tn_params_free(ps);
    tn_params_free(q);
}

/* tn_nn_load() of a training checkpoint: the model's tensors plus the
 * optimizer's under "optim.".  Loaded with that prefix declared; a tensor
 * of another model (here a classifier head the model lacks) is refused and
 * named, with how many there are, and nothing is loaded. */
Test(safetensors, nn_load_reports_unexpected_tensors)
{
    const char *d = nt_tmpdir();
    char path[4200], other[4200];
    snprintf(path, sizeof path, "%s/train.safetensors", d);
    snprintf(other, sizeof other, "%s/other.safetensors", d);
    tn_params *ps = tn_params_new();
    tn_params_add(ps, "fc.weight", TN_SHAPE(2, 3), TN_PARAM);
    tn_params_add(ps, "fc.bias", TN_SHAPE(2), TN_PARAM);
    for (size_t i = 0; i < tn_params_size(ps); i++) tn_params_values(ps)[i] = (float)i + 1.0f;
    float state[6] = {9, 9, 9, 9, 9, 9};
    tn_st_writer *w = tn_st_writer_new();
    cr_assert_eq(tn_st_add_params(w, ps), TN_OK);
    cr_assert_eq(tn_st_add(w, "optim.fc.weight.m", TN_SHAPE(2, 3), state), TN_OK);
    cr_assert_eq(tn_st_save(w, path), TN_OK, "%s", tn_error_message());
    cr_assert_eq(tn_st_add(w, "head.weight", TN_SHAPE(6), state), TN_OK);
    cr_assert_eq(tn_st_add(w, "head.bias", TN_SHAPE(1), state), TN_OK);
    cr_assert_eq(tn_st_save(w, other), TN_OK, "%s", tn_error_message());
    tn_st_writer_free(w);

    tn_params *q = tn_params_new();
    tn_params_add(q, "fc.weight", TN_SHAPE(2, 3), TN_PARAM);
    tn_params_add(q, "fc.bias", TN_SHAPE(2), TN_PARAM);
    cr_assert_eq(tn_nn_load(q, path, NULL), TN_ERR_FORMAT);
    cr_assert(strstr(tn_error_message(), "optim.fc.weight.m"), "%s", tn_error_message());
    cr_assert_eq(tn_nn_load(q, other, "optim."), TN_ERR_FORMAT);
    const char *msg = tn_error_message();
    cr_assert(strncmp(msg, "tenet: '", 8) == 0 && strstr(msg, "other.safetensors") &&
                  strstr(msg, "'head.bias' and others is not in the model (2 such"),
              "%s", msg);
    for (size_t i = 0; i < tn_params_size(q); i++)
        cr_assert_eq(tn_params_values(q)[i], 0.0f, "partially loaded");
    cr_assert_eq(tn_nn_load(q, path, "optim."), TN_OK, "%s", tn_error_message());
    for (size_t i = 0; i < tn_params_count(ps); i++) {
        const tn_tensor *a = tn_params_at(ps, i), *b = tn_params_at(q, i);
        cr_assert_eq(memcmp(a->data, b->data, a->numel * sizeof(float)), 0, "%s", a->name);
    }
    tn_params_free(q);
    tn_params_free(ps);
}

/* A state_dict written by PyTorch with tests/safetensors_io.py. */
Test(safetensors, pytorch_written_file)
{
    tn_st_file *f;
    const char *path = nt_fixture("torch_state.safetensors");
    cr_assert_eq(tn_st_open(path, &f), TN_OK, "%s", tn_error_message());
    cr_assert_str_eq(tn_st_meta(f, "format"), "pt");
    cr_assert_eq(tn_st_count(f), 13);

    const tn_st_entry *e = tn_st_find(f, "exact.ramp");
    cr_assert(e);
    cr_assert_eq(e->ndim, 3);
    for (int i = 0; i < 24; i++) cr_assert_eq(e->data[i], i * 0.25f - 1.0f);
    e = tn_st_find(f, "exact.scalar");
    cr_assert_eq(e->ndim, 0);
    cr_assert_eq(e->data[0], -2.5f);
    e = tn_st_find(f, "odd \"name\"\\ caf\xc3\xa9");
    cr_assert(e, "escaped name");
    cr_assert_eq(e->data[1], 2.0f);

    e = tn_st_find(f, "0.weight");
    cr_assert_eq(e->ndim, 4);
    cr_assert(e->shape[0] == 4 && e->shape[1] == 3 && e->shape[2] == 3 && e->shape[3] == 3);
    cr_assert_eq(tn_st_find(f, "4.weight")->shape[1], 16);
    cr_assert_null(tn_st_find(f, "1.num_batches_tracked"));

    /* Every tensor's sum equals the float64 sum computed by PyTorch. */
    for (size_t i = 0; i < tn_st_count(f); i++) {
        e = tn_st_at(f, i);
        char key[256];
        snprintf(key, sizeof key, "sum:%s", e->name);
        const char *want = tn_st_meta(f, key);
        cr_assert(want, "no sum for %s", e->name);
        double s = 0;
        for (size_t j = 0; j < e->numel; j++) s += e->data[j];
        cr_assert_float_eq(s, strtod(want, NULL), 1e-9, "%s: %.17g vs %s", e->name, s, want);
    }
    tn_st_close(f);
}
