/* tests/data/test_cifar.c - the CIFAR-10 and CIFAR-100 binary readers on
 * files written here in the official layout, and their errors. */
#include "data/data.h"
#include "util.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A pixel value that tells record, channel, row and column apart. */
static uint8_t px_value(int rec, int c, int y, int x)
{
    return (uint8_t)(rec * 7 + c * 85 + y * 3 + x * 11);
}

/* n records of CIFAR-10 (label_bytes 1) or CIFAR-100 (2), labels from f. */
static uint8_t *make_records(int n, int label_bytes, int first_rec, const uint8_t *labels,
                             size_t *size)
{
    size_t rec = (size_t)label_bytes + 3072;
    uint8_t *b = malloc((size_t)n * rec);
    cr_assert_not_null(b);
    for (int r = 0; r < n; r++) {
        uint8_t *p = b + (size_t)r * rec;
        memcpy(p, labels + r * label_bytes, (size_t)label_bytes);
        /* R plane, then G, then B; each row-major (the official layout). */
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < 32; y++)
                for (int x = 0; x < 32; x++)
                    p[label_bytes + c * 1024 + y * 32 + x] = px_value(first_rec + r, c, y, x);
    }
    *size = (size_t)n * rec;
    return b;
}

static void check_pixels(const tn_dataset *ds, int i, int rec)
{
    const uint8_t *img = tn_dataset_image(ds, i);
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < 32; y++)
            for (int x = 0; x < 32; x++)
                cr_assert_eq(img[c * 1024 + y * 32 + x], px_value(rec, c, y, x),
                             "image %d c%d y%d x%d", i, c, y, x);
}

static const char *C10_NAMES[] = {"airplane", "automobile", "bird", "cat", "deer",
                                  "dog", "frog", "horse", "ship", "truck"};

Test(cifar, cifar10_official_layout)
{
    char *dir = tmp_dir_new();
    int rec = 0;
    for (int f = 1; f <= 5; f++) {
        uint8_t labels[3] = {(uint8_t)(f % 10), (uint8_t)((f + 3) % 10), 9};
        size_t size;
        uint8_t *b = make_records(3, 1, rec, labels, &size);
        char name[32];
        snprintf(name, sizeof name, "data_batch_%d.bin", f);
        char *p = path_join(dir, name);
        write_bytes(p, b, size);
        free(p);
        free(b);
        rec += 3;
    }
    uint8_t tl[2] = {0, 7};
    size_t size;
    uint8_t *b = make_records(2, 1, 100, tl, &size);
    char *p = path_join(dir, "test_batch.bin");
    write_bytes(p, b, size);
    free(p);
    free(b);
    /* The official meta file: one name a line and a blank line at the end. */
    char meta[256] = "";
    for (int k = 0; k < 10; k++) strcat(strcat(meta, C10_NAMES[k]), "\n");
    strcat(meta, "\n");
    p = path_join(dir, "batches.meta.txt");
    write_bytes(p, meta, strlen(meta));
    free(p);

    tn_dataset *ds = NULL;
    cr_assert_eq(tn_cifar_load(&ds, dir, TN_CIFAR_10, true), TN_OK, "%s", tn_error_message());
    cr_assert_eq(ds->n, 15);
    cr_assert(ds->c == 3 && ds->h == 32 && ds->w == 32);
    cr_assert_eq(ds->n_classes, 10);
    for (int f = 1; f <= 5; f++) {
        cr_assert_eq(ds->labels[(f - 1) * 3 + 0], f % 10);
        cr_assert_eq(ds->labels[(f - 1) * 3 + 1], (f + 3) % 10);
        cr_assert_eq(ds->labels[(f - 1) * 3 + 2], 9);
    }
    for (int i = 0; i < 15; i++) check_pixels(ds, i, i);
    for (int k = 0; k < 10; k++) cr_assert_str_eq(ds->class_names[k], C10_NAMES[k]);
    cr_assert_null(ds->coarse_labels);
    tn_dataset_free(ds);

    cr_assert_eq(tn_cifar_load(&ds, dir, TN_CIFAR_10, false), TN_OK, "%s", tn_error_message());
    cr_assert_eq(ds->n, 2);
    cr_assert_eq(ds->labels[0], 0);
    cr_assert_eq(ds->labels[1], 7);
    check_pixels(ds, 0, 100);
    check_pixels(ds, 1, 101);
    cr_assert_str_eq(ds->class_names[3], "cat");
    tn_dataset_free(ds);
    tmp_dir_free(dir);
}

Test(cifar, cifar100_official_layout)
{
    char *dir = tmp_dir_new();
    uint8_t labels[4 * 2] = {0, 99, 19, 0, 7, 42, 3, 3}; /* (coarse, fine) pairs */
    size_t size;
    uint8_t *b = make_records(4, 2, 0, labels, &size);
    char *p = path_join(dir, "train.bin");
    write_bytes(p, b, size);
    free(p);
    free(b);
    uint8_t tl[2] = {5, 50};
    b = make_records(1, 2, 9, tl, &size);
    p = path_join(dir, "test.bin");
    write_bytes(p, b, size);
    free(p);
    free(b);
    char fine[2048] = "", coarse[512] = "";
    for (int k = 0; k < 100; k++) snprintf(fine + strlen(fine), 32, "fine_%d\r\n", k);
    for (int k = 0; k < 20; k++) snprintf(coarse + strlen(coarse), 32, "coarse_%d\n", k);
    p = path_join(dir, "fine_label_names.txt");
    write_bytes(p, fine, strlen(fine));
    free(p);
    p = path_join(dir, "coarse_label_names.txt");
    write_bytes(p, coarse, strlen(coarse));
    free(p);

    tn_dataset *ds = NULL;
    cr_assert_eq(tn_cifar_load(&ds, dir, TN_CIFAR_100, true), TN_OK, "%s", tn_error_message());
    cr_assert_eq(ds->n, 4);
    cr_assert_eq(ds->n_classes, 100);
    cr_assert_eq(ds->n_coarse, 20);
    int fine_want[4] = {99, 0, 42, 3}, coarse_want[4] = {0, 19, 7, 3};
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(ds->labels[i], fine_want[i]);
        cr_assert_eq(ds->coarse_labels[i], coarse_want[i]);
        check_pixels(ds, i, i);
    }
    cr_assert_str_eq(ds->class_names[42], "fine_42");
    cr_assert_str_eq(ds->coarse_names[19], "coarse_19");

    /* A subset keeps the coarse labels. */
    tn_dataset *sub = NULL;
    int idx[2] = {2, 0};
    cr_assert_eq(tn_dataset_select(&sub, ds, idx, 2), TN_OK);
    cr_assert_eq(sub->coarse_labels[0], 7);
    cr_assert_eq(sub->labels[1], 99);
    cr_assert_str_eq(sub->coarse_names[0], "coarse_0");
    tn_dataset_free(sub);
    tn_dataset_free(ds);

    cr_assert_eq(tn_cifar_load(&ds, dir, TN_CIFAR_100, false), TN_OK, "%s", tn_error_message());
    cr_assert_eq(ds->n, 1);
    cr_assert_eq(ds->labels[0], 50);
    cr_assert_eq(ds->coarse_labels[0], 5);
    check_pixels(ds, 0, 9);
    tn_dataset_free(ds);
    tmp_dir_free(dir);
}

Test(cifar, names_default_to_numbers_without_meta)
{
    char *dir = tmp_dir_new();
    uint8_t l[1] = {4};
    size_t size;
    uint8_t *b = make_records(1, 1, 0, l, &size);
    char *p = path_join(dir, "test_batch.bin");
    write_bytes(p, b, size);
    free(p);
    free(b);
    tn_dataset *ds = NULL;
    cr_assert_eq(tn_cifar_load(&ds, dir, TN_CIFAR_10, false), TN_OK, "%s", tn_error_message());
    cr_assert_str_eq(ds->class_names[4], "4");
    tn_dataset_free(ds);
    tmp_dir_free(dir);
}

Test(cifar, parse_from_memory)
{
    uint8_t l[2] = {1, 8};
    size_t size;
    uint8_t *b = make_records(2, 1, 3, l, &size);
    tn_dataset *ds = NULL;
    cr_assert_eq(tn_cifar_parse(&ds, b, size, TN_CIFAR_10, "mem"), TN_OK);
    cr_assert_eq(ds->n, 2);
    cr_assert_eq(ds->labels[1], 8);
    check_pixels(ds, 1, 4);
    tn_dataset_free(ds);
    free(b);
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

Test(cifar_errors, size_not_whole_records)
{
    char *dir = tmp_dir_new();
    uint8_t l[2] = {1, 2};
    size_t size;
    uint8_t *b = make_records(2, 1, 0, l, &size);
    char *p = path_join(dir, "test_batch.bin");
    write_bytes(p, b, size - 100);
    tn_dataset *ds = (tn_dataset *)1;
    expect_error(tn_cifar_load(&ds, dir, TN_CIFAR_10, false), TN_ERR_FORMAT, "test_batch.bin",
                 "not a whole number");
    cr_assert_null(ds);
    /* The same bytes are 2 - 100/3073 CIFAR-100 records: also not whole. */
    expect_error(tn_cifar_load_files(&ds, (const char *const *)&p, 1, TN_CIFAR_100),
                 TN_ERR_FORMAT, "test_batch.bin", "not a whole number");
    write_bytes(p, b, 0);
    expect_error(tn_cifar_load(&ds, dir, TN_CIFAR_10, false), TN_ERR_FORMAT, "test_batch.bin",
                 "empty");
    free(p);
    free(b);
    tmp_dir_free(dir);
}

Test(cifar_errors, label_out_of_range)
{
    char *dir = tmp_dir_new();
    uint8_t l[3] = {1, 10, 2};
    size_t size;
    uint8_t *b = make_records(3, 1, 0, l, &size);
    char *p = path_join(dir, "test_batch.bin");
    write_bytes(p, b, size);
    tn_dataset *ds = NULL;
    expect_error(tn_cifar_load(&ds, dir, TN_CIFAR_10, false), TN_ERR_FORMAT, "test_batch.bin",
                 "record 1 has label 10");
    cr_assert_null(ds);
    free(b);
    free(p);
    uint8_t l100[4] = {3, 100, 0, 0};
    b = make_records(2, 2, 0, l100, &size);
    p = path_join(dir, "test.bin");
    write_bytes(p, b, size);
    expect_error(tn_cifar_load(&ds, dir, TN_CIFAR_100, false), TN_ERR_FORMAT, "test.bin",
                 "record 0 has label 100");
    l100[1] = 5;
    l100[2] = 20;
    free(b);
    b = make_records(2, 2, 0, l100, &size);
    write_bytes(p, b, size);
    expect_error(tn_cifar_load(&ds, dir, TN_CIFAR_100, false), TN_ERR_FORMAT, "test.bin",
                 "coarse label 20");
    free(b);
    free(p);
    tmp_dir_free(dir);
}

Test(cifar_errors, missing_files_and_folder)
{
    char *dir = tmp_dir_new();
    tn_dataset *ds = NULL;
    expect_error(tn_cifar_load(&ds, dir, TN_CIFAR_10, true), TN_ERR_IO, "data_batch_1.bin",
                 "cannot open");
    char *missing = path_join(dir, "nope");
    expect_error(tn_cifar_load(&ds, missing, TN_CIFAR_10, true), TN_ERR_IO, "nope", NULL);
    cr_assert_null(ds);
    /* Four of five batches present: the fifth is named. */
    uint8_t l[1] = {0};
    size_t size;
    uint8_t *b = make_records(1, 1, 0, l, &size);
    for (int f = 1; f <= 4; f++) {
        char name[32];
        snprintf(name, sizeof name, "data_batch_%d.bin", f);
        char *p = path_join(dir, name);
        write_bytes(p, b, size);
        free(p);
    }
    expect_error(tn_cifar_load(&ds, dir, TN_CIFAR_10, true), TN_ERR_IO, "data_batch_5.bin",
                 NULL);
    /* A meta file with the wrong number of names. */
    char *p = path_join(dir, "test_batch.bin");
    write_bytes(p, b, size);
    free(p);
    p = path_join(dir, "batches.meta.txt");
    write_bytes(p, "a\nb\n", 4);
    expect_error(tn_cifar_load(&ds, dir, TN_CIFAR_10, false), TN_ERR_FORMAT, "batches.meta.txt",
                 "2 class names, expected 10");
    free(p);
    free(b);
    free(missing);
    tmp_dir_free(dir);
}
