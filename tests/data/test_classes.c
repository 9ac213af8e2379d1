/* tests/data/test_classes.c - image folders loaded against a known class
 * list (a test split against its training split's classes): labels by
 * name, unknown and missing classes, and the cache's record of the classes;
 * the prefix of data/ messages. */
#include "data/data.h"
#include "util.h"

#include <criterion/criterion.h>
#include <stb/stb_image_write.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIDE 4

/* root/<cls>/<i>.png for i < n, 4x4 RGB, every byte = value + i. */
static void add_class(const char *root, const char *cls, int n, int value)
{
    char *cdir = path_join(root, cls);
    make_dir(cdir);
    for (int i = 0; i < n; i++) {
        uint8_t px[SIDE * SIDE * 3];
        memset(px, value + i, sizeof px);
        char name[32];
        snprintf(name, sizeof name, "%d.png", i);
        char *path = path_join(cdir, name);
        cr_assert(stbi_write_png(path, SIDE, SIDE, 3, px, SIDE * 3), "cannot write %s", path);
        free(path);
    }
    free(cdir);
}

/* dir/<split> with the given classes (NULL-terminated), 3 images each. */
static char *split_dir(const char *dir, const char *split, const char *const *classes)
{
    char *root = path_join(dir, split);
    make_dir(root);
    for (int k = 0; classes[k]; k++) add_class(root, classes[k], 3, 10 * (k + 1));
    return root;
}

static const char *const CAT_DOG[] = {"cat", "dog", NULL};
static const char *const DOG[] = {"dog", NULL};

/* The case that used to score 1.0: train/{cat,dog}, test/{dog}.  Alone,
 * test's only folder is class 0, which is "cat" for the model; against
 * the training classes every test image is a dog, label 1. */
Test(classes, test_split_keeps_training_labels)
{
    char *dir = tmp_dir_new();
    char *train_dir = split_dir(dir, "train", CAT_DOG), *test_dir = split_dir(dir, "test", DOG);
    tn_dataset *train = NULL, *alone = NULL, *test = NULL;
    cr_assert_eq(tn_image_folder_load(&train, train_dir, NULL, NULL), TN_OK, "%s",
                 tn_error_message());
    cr_assert_eq(train->n_classes, 2);
    cr_assert_str_eq(train->class_names[1], "dog");

    cr_assert_eq(tn_image_folder_load(&alone, test_dir, NULL, NULL), TN_OK);
    cr_assert_eq(alone->n_classes, 1);
    for (int i = 0; i < alone->n; i++) cr_assert_eq(alone->labels[i], 0);

    tn_image_folder_info info;
    cr_assert_eq(tn_image_folder_load_classes(&test, test_dir,
                                              (const char *const *)train->class_names,
                                              train->n_classes, NULL, &info),
                 TN_OK, "%s", tn_error_message());
    cr_assert_eq(test->n, 3);
    cr_assert_eq(test->n_classes, 2);
    cr_assert_str_eq(test->class_names[0], "cat");
    cr_assert_str_eq(test->class_names[1], "dog");
    for (int i = 0; i < test->n; i++) cr_assert_eq(test->labels[i], 1, "image %d", i);
    /* The missing class is reported and keeps its index. */
    cr_assert_eq(info.missing_classes, 1);
    int counts[2];
    tn_dataset_class_counts(test, counts);
    cr_assert(counts[0] == 0 && counts[1] == 3, "counts %d %d", counts[0], counts[1]);
    /* Same pixels as the folder alone: only the labels differ. */
    cr_assert_eq(memcmp(test->pixels, alone->pixels, (size_t)test->n * 3 * SIDE * SIDE), 0);
    /* A model that always says "dog" (training label 1) is right on every
     * test image, and one that always says "cat" on none. */
    int right_dog = 0, right_cat = 0;
    for (int i = 0; i < test->n; i++) {
        right_dog += test->labels[i] == 1;
        right_cat += test->labels[i] == 0;
    }
    cr_assert_eq(right_dog, 3);
    cr_assert_eq(right_cat, 0);

    tn_dataset_free(train);
    tn_dataset_free(alone);
    tn_dataset_free(test);
    free(train_dir);
    free(test_dir);
    tmp_dir_free(dir);
}

/* Labels follow the list's order, not the sorted folder names; a list
 * equal to the sorted folders gives what the folder alone gives. */
Test(classes, labels_follow_the_list)
{
    char *dir = tmp_dir_new();
    char *root = split_dir(dir, "train", CAT_DOG);
    const char *const rev[] = {"dog", "cat"};
    tn_dataset *ds = NULL, *plain = NULL, *same = NULL;
    cr_assert_eq(tn_image_folder_load_classes(&ds, root, rev, 2, NULL, NULL), TN_OK, "%s",
                 tn_error_message());
    cr_assert_eq(tn_image_folder_load(&plain, root, NULL, NULL), TN_OK);
    cr_assert_eq(ds->n, 6);
    for (int i = 0; i < ds->n; i++) {
        /* Files are in folder order (cat, then dog) in both. */
        cr_assert_eq(ds->labels[i], 1 - plain->labels[i], "image %d", i);
        cr_assert_eq(tn_dataset_image(ds, i)[0], tn_dataset_image(plain, i)[0]);
    }
    cr_assert_str_eq(ds->class_names[0], "dog");
    cr_assert_eq(tn_image_folder_load_classes(&same, root, (const char *const *)CAT_DOG, 2, NULL,
                                              NULL),
                 TN_OK);
    cr_assert_eq(memcmp(same->labels, plain->labels, sizeof(int32_t) * 6), 0);
    tn_dataset_free(ds);
    tn_dataset_free(plain);
    tn_dataset_free(same);
    free(root);
    tmp_dir_free(dir);
}

/* A test folder with a class the training split lacks: an error naming the
 * folder and the class (it used to abort inside cross-entropy). */
Test(classes, unknown_class_is_an_error)
{
    char *dir = tmp_dir_new();
    const char *const three[] = {"bird", "cat", "dog", NULL};
    char *root = split_dir(dir, "test", three);
    tn_dataset *ds = (tn_dataset *)1;
    tn_status st = tn_image_folder_load_classes(&ds, root, (const char *const *)CAT_DOG, 2, NULL,
                                                NULL);
    cr_assert_eq(st, TN_ERR_FORMAT, "got %s", tn_status_name(st));
    cr_assert_null(ds);
    const char *msg = tn_error_message();
    cr_assert_eq(strncmp(msg, "tenet: tn_image_folder_load_classes: ", 37), 0, "%s", msg);
    cr_assert_not_null(strstr(msg, root), "%s", msg);
    cr_assert_not_null(strstr(msg, "class folder 'bird'"), "%s", msg);
    cr_assert_not_null(strstr(msg, "2 known classes (cat, dog)"), "%s", msg);

    /* A list with a repeated or empty name is the caller's error. */
    const char *const twice[] = {"cat", "dog", "cat"};
    cr_assert_eq(tn_image_folder_load_classes(&ds, root, twice, 3, NULL, NULL), TN_ERR_ARG);
    cr_assert_not_null(strstr(tn_error_message(), "'cat' is in the list twice"), "%s",
                       tn_error_message());
    const char *const empty[] = {"bird", "", "dog"};
    cr_assert_eq(tn_image_folder_load_classes(&ds, root, empty, 3, NULL, NULL), TN_ERR_ARG);
    cr_assert_not_null(strstr(tn_error_message(), "class 1 of the list has no name"), "%s",
                       tn_error_message());
    free(root);
    tmp_dir_free(dir);
}

static void assert_all_labels(const tn_dataset *ds, int n_classes, int label)
{
    cr_assert_eq(ds->n_classes, n_classes);
    for (int i = 0; i < ds->n; i++) cr_assert_eq(ds->labels[i], label, "image %d", i);
}

/* One cache file used with and without the class list: never the other
 * labels; and a cache of the previous format is rebuilt. */
Test(classes, cache_records_the_classes)
{
    char *dir = tmp_dir_new();
    char *root = split_dir(dir, "test", DOG);
    char *cache = path_join(dir, "test.cache");
    tn_image_folder_options opt = {.cache_path = cache};
    tn_image_folder_info info;
    const char *const *cd = (const char *const *)CAT_DOG;
    tn_dataset *ds = NULL;

    cr_assert_eq(tn_image_folder_load(&ds, root, &opt, &info), TN_OK);
    cr_assert(!info.from_cache && info.cache_written);
    assert_all_labels(ds, 1, 0);
    tn_dataset_free(ds);

    /* The folder-alone cache is not used for the class list ... */
    cr_assert_eq(tn_image_folder_load_classes(&ds, root, cd, 2, &opt, &info), TN_OK);
    cr_assert(!info.from_cache && info.cache_written);
    assert_all_labels(ds, 2, 1);
    cr_assert_eq(info.missing_classes, 1);
    tn_dataset_free(ds);
    /* ... its own is, with the same labels and names ... */
    cr_assert_eq(tn_image_folder_load_classes(&ds, root, cd, 2, &opt, &info), TN_OK);
    cr_assert(info.from_cache && !info.cache_written);
    assert_all_labels(ds, 2, 1);
    cr_assert_str_eq(ds->class_names[0], "cat");
    cr_assert_eq(info.missing_classes, 1);
    tn_dataset_free(ds);
    /* ... a list of the same length in another order is another label space ... */
    const char *const dc[] = {"dog", "cat"};
    cr_assert_eq(tn_image_folder_load_classes(&ds, root, dc, 2, &opt, &info), TN_OK);
    cr_assert(!info.from_cache);
    assert_all_labels(ds, 2, 0);
    tn_dataset_free(ds);
    /* ... and the folder alone does not get the list's labels back. */
    cr_assert_eq(tn_image_folder_load(&ds, root, &opt, &info), TN_OK);
    cr_assert(!info.from_cache && info.cache_written);
    assert_all_labels(ds, 1, 0);
    tn_dataset_free(ds);

    /* A cache of format version 1 (version: the 4 bytes after the magic)
     * is not read: decoded again and rewritten. */
    size_t size;
    uint8_t *b = read_bytes(cache, &size);
    uint32_t v;
    memcpy(&v, b + 8, 4);
    cr_assert_eq(v, 2u);
    v = 1;
    memcpy(b + 8, &v, 4);
    write_bytes(cache, b, size);
    free(b);
    cr_assert_eq(tn_image_folder_load(&ds, root, &opt, &info), TN_OK);
    cr_assert(!info.from_cache && info.cache_written);
    assert_all_labels(ds, 1, 0);
    tn_dataset_free(ds);

    free(cache);
    free(root);
    tmp_dir_free(dir);
}

/* data/ messages start "tenet: " and the function or the file, as every
 * other module's. */
Test(messages, data_errors_start_with_tenet)
{
    tn_dataset *ds = NULL;
    cr_assert_eq(tn_dataset_new(&ds, -1, 3, 4, 4, 2), TN_ERR_ARG);
    cr_assert_eq(strncmp(tn_error_message(), "tenet: tn_dataset_new: bad size", 31), 0, "%s",
                 tn_error_message());
    cr_assert_eq(tn_cifar_load(&ds, "/nonexistent-tenet-dir", TN_CIFAR_10, true), TN_ERR_IO);
    cr_assert_eq(strncmp(tn_error_message(), "tenet: /nonexistent-tenet-dir: ", 31), 0, "%s",
                 tn_error_message());
}
