/* data/cifar.c - the CIFAR-10 and CIFAR-100 binary formats: fixed-size
 * records of label byte(s) followed by 3072 pixel bytes, R, G, B planes of
 * 32x32, row-major. */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CIFAR_PIXELS 3072

static int label_bytes(tn_cifar_kind kind) { return kind == TN_CIFAR_100 ? 2 : 1; }
static int fine_classes(tn_cifar_kind kind) { return kind == TN_CIFAR_100 ? 100 : 10; }

static tn_status check_kind(tn_cifar_kind kind, const char *fn)
{
    if (kind != TN_CIFAR_10 && kind != TN_CIFAR_100)
        return tn_error_set(TN_ERR_ARG, "tenet: %s: unknown CIFAR kind %d", fn, (int)kind);
    return TN_OK;
}

/* Records of one buffer into ds starting at image `at`. */
static tn_status parse_into(tn_dataset *ds, int at, const uint8_t *buf, size_t n_rec,
                            tn_cifar_kind kind, const char *name)
{
    int lb = label_bytes(kind), k = fine_classes(kind);
    size_t rec = (size_t)lb + CIFAR_PIXELS;
    for (size_t i = 0; i < n_rec; i++) {
        const uint8_t *r = buf + i * rec;
        int fine = r[lb - 1];
        if (fine >= k)
            return tn_error_set(TN_ERR_FORMAT, "tenet: %s: record %zu has label %d, not in [0, %d)",
                                name, i, fine, k);
        if (kind == TN_CIFAR_100 && r[0] >= 20)
            return tn_error_set(TN_ERR_FORMAT,
                                "tenet: %s: record %zu has coarse label %d, not in [0, 20)", name,
                                i, r[0]);
        ds->labels[at + (int)i] = fine;
        if (kind == TN_CIFAR_100) ds->coarse_labels[at + (int)i] = r[0];
        memcpy(tn_dataset_image(ds, at + (int)i), r + lb, CIFAR_PIXELS);
    }
    return TN_OK;
}

static tn_status record_count(size_t size, tn_cifar_kind kind, const char *name, size_t *n_rec)
{
    size_t rec = (size_t)label_bytes(kind) + CIFAR_PIXELS;
    if (size == 0)
        return tn_error_set(TN_ERR_FORMAT, "tenet: %s: empty file, not a CIFAR-%d batch", name,
                            fine_classes(kind));
    if (size % rec != 0)
        return tn_error_set(
            TN_ERR_FORMAT,
            "tenet: %s: %zu bytes is not a whole number of %zu-byte CIFAR-%d records "
            "(%zu left over)",
            name, size, rec, fine_classes(kind), size % rec);
    if (size / rec > (size_t)(1 << 30))
        return tn_error_set(TN_ERR_FORMAT, "tenet: %s: too many records (%zu)", name, size / rec);
    *n_rec = size / rec;
    return TN_OK;
}

static tn_status new_cifar(tn_dataset **out, size_t n, tn_cifar_kind kind)
{
    tn_status st = tn_dataset_new(out, (int)n, 3, 32, 32, fine_classes(kind));
    if (st != TN_OK || kind != TN_CIFAR_100) return st;
    tn_dataset *ds = *out;
    ds->coarse_labels = calloc(n ? n : 1, sizeof *ds->coarse_labels);
    ds->coarse_names = calloc(20, sizeof *ds->coarse_names);
    if (ds->coarse_labels && ds->coarse_names) {
        ds->n_coarse = 20;
        for (int i = 0; i < 20; i++) {
            char b[8];
            snprintf(b, sizeof b, "%d", i);
            if (!(ds->coarse_names[i] = strdup(b))) break;
            if (i == 19) return TN_OK;
        }
    }
    ds->n_coarse = 20;
    tn_dataset_free(ds);
    *out = NULL;
    return tn_error_set(TN_ERR_NOMEM, "tenet: CIFAR-100: out of memory");
}

tn_status tn_cifar_parse(tn_dataset **out, const uint8_t *buf, size_t size, tn_cifar_kind kind,
                         const char *name)
{
    *out = NULL;
    tn_status st = check_kind(kind, "tn_cifar_parse");
    size_t n = 0;
    if (st == TN_OK) st = record_count(size, kind, name, &n);
    if (st == TN_OK) st = new_cifar(out, n, kind);
    if (st == TN_OK) st = parse_into(*out, 0, buf, n, kind, name);
    if (st != TN_OK) {
        tn_dataset_free(*out);
        *out = NULL;
    }
    return st;
}

tn_status tn_cifar_load_files(tn_dataset **out, const char *const *paths, int n_paths,
                              tn_cifar_kind kind)
{
    *out = NULL;
    tn_status st = check_kind(kind, "tn_cifar_load_files");
    if (st != TN_OK) return st;
    if (n_paths < 1) return tn_error_set(TN_ERR_ARG, "tenet: tn_cifar_load_files: no files given");
    size_t total = 0, *counts = calloc((size_t)n_paths, sizeof *counts);
    if (!counts) return tn_error_set(TN_ERR_NOMEM, "tenet: tn_cifar_load_files: out of memory");
    /* Sizes first, so that one allocation holds everything. */
    for (int i = 0; i < n_paths && st == TN_OK; i++) {
        struct stat sb;
        if (stat(paths[i], &sb) != 0)
            st = tn_error_set(TN_ERR_IO, "tenet: %s: cannot open: %s", paths[i], strerror(errno));
        else if (!S_ISREG(sb.st_mode))
            st = tn_error_set(TN_ERR_IO, "tenet: %s: not a regular file", paths[i]);
        else
            st = record_count((size_t)sb.st_size, kind, paths[i], &counts[i]);
        total += counts[i];
    }
    if (st == TN_OK && total > (size_t)(1 << 30))
        st = tn_error_set(TN_ERR_FORMAT, "tenet: tn_cifar_load_files: too many records (%zu)",
                          total);
    if (st == TN_OK) st = new_cifar(out, total, kind);
    size_t at = 0;
    for (int i = 0; i < n_paths && st == TN_OK; i++) {
        uint8_t *buf;
        size_t size, n;
        st = tn_data_read_file(paths[i], &buf, &size);
        if (st != TN_OK) break;
        st = record_count(size, kind, paths[i], &n);
        if (st == TN_OK && n != counts[i])
            st = tn_error_set(TN_ERR_IO, "tenet: %s: the file changed size while being read",
                              paths[i]);
        if (st == TN_OK) st = parse_into(*out, (int)at, buf, n, kind, paths[i]);
        free(buf);
        at += n;
    }
    free(counts);
    if (st != TN_OK) {
        tn_dataset_free(*out);
        *out = NULL;
    }
    return st;
}

/* Class names, one a line (blank lines ignored), into names[0..k). A missing
 * file keeps the numbered names; a file with the wrong count is an error. */
static tn_status read_names(const char *path, char **names, int k)
{
    FILE *f = fopen(path, "rb");
    if (!f) return TN_OK; /* optional */
    fclose(f);
    uint8_t *buf;
    size_t size;
    tn_status st = tn_data_read_file(path, &buf, &size);
    if (st != TN_OK) return st;
    char *lines[256];
    int n = 0;
    size_t i = 0;
    while (i < size) {
        size_t j = i;
        while (j < size && buf[j] != '\n') j++;
        size_t e = j;
        while (e > i && (buf[e - 1] == '\r' || buf[e - 1] == ' ' || buf[e - 1] == '\t')) e--;
        if (e > i) {
            if (n == k) {
                n++;
                break;
            }
            lines[n] = malloc(e - i + 1);
            if (!lines[n]) {
                st = tn_error_set(TN_ERR_NOMEM, "tenet: %s: out of memory", path);
                break;
            }
            memcpy(lines[n], buf + i, e - i);
            lines[n][e - i] = 0;
            n++;
        }
        i = j + 1;
    }
    free(buf);
    if (st == TN_OK && n != k)
        st = tn_error_set(TN_ERR_FORMAT, "tenet: %s: %s%d class names, expected %d", path,
                          n > k ? "more than " : "", n > k ? k : n, k);
    int made = n > k ? k : n;
    for (int c = 0; c < made; c++) {
        if (st == TN_OK) {
            free(names[c]);
            names[c] = lines[c];
        } else {
            free(lines[c]);
        }
    }
    return st;
}


tn_status tn_cifar_load(tn_dataset **out, const char *dir, tn_cifar_kind kind, bool train)
{
    *out = NULL;
    tn_status st = check_kind(kind, "tn_cifar_load");
    if (st != TN_OK) return st;
    struct stat sb;
    if (stat(dir, &sb) != 0)
        return tn_error_set(TN_ERR_IO, "tenet: %s: cannot open the CIFAR folder: %s", dir,
                            strerror(errno));
    if (!S_ISDIR(sb.st_mode)) return tn_error_set(TN_ERR_IO, "tenet: %s: not a folder", dir);
    const char *c10_train[] = {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
                               "data_batch_4.bin", "data_batch_5.bin"};
    const char *c10_test[] = {"test_batch.bin"};
    const char *c100_train[] = {"train.bin"};
    const char *c100_test[] = {"test.bin"};
    const char **files;
    int nf;
    if (kind == TN_CIFAR_10) {
        files = train ? c10_train : c10_test;
        nf = train ? 5 : 1;
    } else {
        files = train ? c100_train : c100_test;
        nf = 1;
    }
    char *paths[5] = {0};
    for (int i = 0; i < nf; i++)
        if (!(paths[i] = tn_data_join(dir, files[i]))) st = TN_ERR_NOMEM;
    if (st != TN_OK) st = tn_error_set(st, "tenet: tn_cifar_load: out of memory");
    if (st == TN_OK) st = tn_cifar_load_files(out, (const char *const *)paths, nf, kind);
    for (int i = 0; i < nf; i++) free(paths[i]);
    if (st != TN_OK) return st;

    char *p = tn_data_join(dir, kind == TN_CIFAR_10 ? "batches.meta.txt" : "fine_label_names.txt");
    st = p ? read_names(p, (*out)->class_names, (*out)->n_classes)
           : tn_error_set(TN_ERR_NOMEM, "tenet: tn_cifar_load: out of memory");
    free(p);
    if (st == TN_OK && kind == TN_CIFAR_100) {
        p = tn_data_join(dir, "coarse_label_names.txt");
        st = p ? read_names(p, (*out)->coarse_names, (*out)->n_coarse)
               : tn_error_set(TN_ERR_NOMEM, "tenet: tn_cifar_load: out of memory");
        free(p);
    }
    if (st != TN_OK) {
        tn_dataset_free(*out);
        *out = NULL;
    }
    return st;
}
