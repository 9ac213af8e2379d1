/* tests/data/test_loader.c - the background loader: coverage of an epoch,
 * determinism whatever the thread timing, resuming mid-epoch, wait stats. */
#include "data/data.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static tn_dataset *random_dataset(int n, int c, int h, int w, int k, uint64_t seed)
{
    tn_dataset *ds = NULL;
    cr_assert_eq(tn_dataset_new(&ds, n, c, h, w, k), TN_OK);
    tn_rng r;
    tn_rng_seed(&r, seed, 0);
    for (size_t i = 0; i < (size_t)n * c * h * w; i++) ds->pixels[i] = (uint8_t)tn_rng_below(&r, 256);
    for (int i = 0; i < n; i++) ds->labels[i] = (i * 7) % k;
    return ds;
}

static tn_loader_options full_options(uint64_t seed)
{
    tn_loader_options o = {.batch_size = 16, .shuffle = true};
    o.norm = (tn_norm){.c = 3, .mean = {0.49f, 0.48f, 0.45f}, .std = {0.25f, 0.24f, 0.26f}};
    o.aug = (tn_augment){.crop_pad = 2, .hflip = true, .cutout = 3, .noise_std = 0.05f,
                         .mixup_alpha = 0.5f, .cutmix_alpha = 1.0f, .label_smoothing = 0.1f};
    tn_rng_seed(&o.rng, seed, 0);
    return o;
}

/* A running digest of batches, and a copy of everything for comparisons. */
typedef struct record {
    size_t n_batches;
    float *x;
    float *soft;
    int32_t *labels, *index;
    size_t nx, ns, nl;
} record;

static void record_add(record *r, const tn_batch *b)
{
    size_t fx = (size_t)b->n * b->c * b->h * b->w, fs = b->soft ? (size_t)b->n * b->k : 0;
    r->x = realloc(r->x, (r->nx + fx) * sizeof *r->x);
    memcpy(r->x + r->nx, b->x, fx * sizeof *r->x);
    r->nx += fx;
    r->soft = realloc(r->soft, (r->ns + fs + 1) * sizeof *r->soft);
    if (fs) memcpy(r->soft + r->ns, b->soft, fs * sizeof *r->soft);
    r->ns += fs;
    r->labels = realloc(r->labels, (r->nl + (size_t)b->n) * sizeof *r->labels);
    r->index = realloc(r->index, (r->nl + (size_t)b->n) * sizeof *r->index);
    memcpy(r->labels + r->nl, b->labels, (size_t)b->n * sizeof *r->labels);
    memcpy(r->index + r->nl, b->index, (size_t)b->n * sizeof *r->index);
    r->nl += (size_t)b->n;
    r->n_batches++;
}

static void record_free(record *r)
{
    free(r->x);
    free(r->soft);
    free(r->labels);
    free(r->index);
    memset(r, 0, sizeof *r);
}

static void assert_same_record(const record *a, const record *b)
{
    cr_assert_eq(a->n_batches, b->n_batches);
    cr_assert_eq(a->nx, b->nx);
    cr_assert_eq(a->ns, b->ns);
    cr_assert_eq(a->nl, b->nl);
    cr_assert_eq(memcmp(a->x, b->x, a->nx * sizeof *a->x), 0, "inputs differ");
    cr_assert_eq(memcmp(a->soft, b->soft, a->ns * sizeof *a->soft), 0, "soft targets differ");
    cr_assert_eq(memcmp(a->labels, b->labels, a->nl * sizeof *a->labels), 0);
    cr_assert_eq(memcmp(a->index, b->index, a->nl * sizeof *a->index), 0);
}

static void sleep_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

/* Run `epochs` epochs, sleeping a pseudo-random time per batch if jitter. */
static void run(tn_loader *ld, int epochs, record *r, bool jitter)
{
    unsigned s = 12345;
    for (int e = 0; e < epochs; e++) {
        tn_batch b;
        while (tn_loader_next(ld, &b)) {
            record_add(r, &b);
            if (jitter) {
                s = s * 1103515245u + 12345u;
                sleep_us((long)(s >> 16) % 3000);
            }
        }
    }
}

Test(loader, epoch_covers_every_sample_once_in_new_order)
{
    tn_dataset *ds = random_dataset(50, 3, 8, 8, 10, 1);
    tn_loader_options o = {.batch_size = 16, .shuffle = true};
    tn_rng_seed(&o.rng, 99, 0);
    tn_loader *ld = NULL;
    cr_assert_eq(tn_loader_new(&ld, ds, &o), TN_OK, "%s", tn_error_message());
    cr_assert_eq(tn_loader_batches_per_epoch(ld), 4u);
    int32_t order[2][50];
    for (int e = 0; e < 2; e++) {
        int seen[50] = {0}, got = 0, sizes[4], nb = 0;
        tn_batch b;
        while (tn_loader_next(ld, &b)) {
            cr_assert_eq(b.epoch, (uint64_t)e);
            cr_assert_eq(b.batch, (uint64_t)nb);
            cr_assert_null(b.soft);
            sizes[nb++] = b.n;
            for (int i = 0; i < b.n; i++) {
                int idx = b.index[i];
                seen[idx]++;
                order[e][got++] = idx;
                cr_assert_eq(b.labels[i], ds->labels[idx]);
                /* No augmentation, identity normalisation: x = p / 255. */
                for (int j = 0; j < 3 * 64; j++)
                    cr_assert_eq(b.x[i * 192 + j], (float)tn_dataset_image(ds, idx)[j] / 255.0f);
            }
        }
        cr_assert_eq(nb, 4);
        cr_assert(sizes[0] == 16 && sizes[3] == 2);
        for (int i = 0; i < 50; i++) cr_assert_eq(seen[i], 1);
    }
    cr_assert_neq(memcmp(order[0], order[1], sizeof order[0]), 0);
    tn_loader_free(ld);

    /* drop_last and no shuffle: data-set order, the short batch dropped. */
    o.drop_last = true;
    o.shuffle = false;
    cr_assert_eq(tn_loader_new(&ld, ds, &o), TN_OK);
    cr_assert_eq(tn_loader_batches_per_epoch(ld), 3u);
    tn_batch b;
    int nb = 0;
    while (tn_loader_next(ld, &b)) {
        cr_assert_eq(b.n, 16);
        for (int i = 0; i < 16; i++) cr_assert_eq(b.index[i], nb * 16 + i);
        nb++;
    }
    cr_assert_eq(nb, 3);
    tn_loader_free(ld);
    tn_dataset_free(ds);
}

Test(loader, deterministic_across_thread_timing_and_threads)
{
    tn_dataset *ds = random_dataset(70, 3, 12, 12, 10, 2);
    tn_loader_options o = full_options(2024);
    record a = {0}, b = {0}, c = {0};
    tn_loader *ld = NULL;
    /* Background thread, the consumer sleeping at random. */
    cr_assert_eq(tn_loader_new(&ld, ds, &o), TN_OK, "%s", tn_error_message());
    run(ld, 3, &a, true);
    tn_loader_free(ld);
    /* Synchronous, one thread. */
    o.synchronous = true;
    cr_assert_eq(tn_loader_new(&ld, ds, &o), TN_OK);
    run(ld, 3, &b, false);
    tn_loader_free(ld);
    /* Background, two preparing threads, a consumer that never waits. */
    o.synchronous = false;
    o.threads = 2;
    cr_assert_eq(tn_loader_new(&ld, ds, &o), TN_OK);
    run(ld, 3, &c, false);
    tn_loader_free(ld);
    assert_same_record(&a, &b);
    assert_same_record(&a, &c);
    cr_assert_eq(a.n_batches, 15u);
    /* Soft targets: rows sum to one. */
    for (size_t i = 0; i < a.nl; i++) {
        double s = 0;
        for (int k = 0; k < 10; k++) s += a.soft[i * 10 + k];
        cr_assert_float_eq(s, 1.0, 1e-5);
    }
    /* Another seed gives other batches. */
    record d = {0};
    tn_loader_options o2 = full_options(2025);
    cr_assert_eq(tn_loader_new(&ld, ds, &o2), TN_OK);
    run(ld, 1, &d, false);
    tn_loader_free(ld);
    cr_assert_neq(memcmp(a.x, d.x, d.nx * sizeof *d.x), 0);
    record_free(&a);
    record_free(&b);
    record_free(&c);
    record_free(&d);
    tn_dataset_free(ds);
}

Test(loader, resume_mid_epoch_is_bit_identical)
{
    tn_dataset *ds = random_dataset(45, 3, 8, 8, 10, 3);
    tn_loader_options o = full_options(7);
    o.batch_size = 10; /* 5 batches an epoch, the last of 5 */
    tn_loader *ld = NULL;
    cr_assert_eq(tn_loader_new(&ld, ds, &o), TN_OK);
    record all = {0}, head = {0}, tail = {0};
    run(ld, 3, &all, false);
    tn_loader_free(ld);

    /* Stop in epoch 1 after 2 batches, save the position, resume in a fresh
     * loader (created with another seed: the position carries the rng). */
    cr_assert_eq(tn_loader_new(&ld, ds, &o), TN_OK);
    tn_batch b;
    run(ld, 1, &head, false);
    for (int i = 0; i < 2; i++) {
        cr_assert(tn_loader_next(ld, &b));
        record_add(&head, &b);
    }
    tn_loader_pos pos;
    tn_loader_position(ld, &pos);
    cr_assert_eq(pos.epoch, 1u);
    cr_assert_eq(pos.batch, 2u);
    tn_loader_free(ld);

    tn_loader_options other = full_options(999);
    other.batch_size = 10;
    cr_assert_eq(tn_loader_new(&ld, ds, &other), TN_OK);
    cr_assert(tn_loader_next(ld, &b)); /* consume something first: seek must reset */
    cr_assert_eq(tn_loader_seek(ld, &pos), TN_OK);
    int batches = 0;
    while (tn_loader_next(ld, &b)) { /* the rest of epoch 1 */
        record_add(&tail, &b);
        batches++;
    }
    cr_assert_eq(batches, 3);
    run(ld, 1, &tail, false); /* epoch 2 */
    tn_loader_free(ld);

    /* head + tail == all */
    cr_assert_eq(head.n_batches + tail.n_batches, all.n_batches);
    cr_assert_eq(head.nx + tail.nx, all.nx);
    cr_assert_eq(memcmp(all.x, head.x, head.nx * sizeof *all.x), 0);
    cr_assert_eq(memcmp(all.x + head.nx, tail.x, tail.nx * sizeof *all.x), 0);
    cr_assert_eq(memcmp(all.soft + head.ns, tail.soft, tail.ns * sizeof *all.soft), 0);
    cr_assert_eq(memcmp(all.index + head.nl, tail.index, tail.nl * sizeof *all.index), 0);

    pos.batch = 6;
    cr_assert_eq(tn_loader_new(&ld, ds, &o), TN_OK);
    cr_assert_eq(tn_loader_seek(ld, &pos), TN_ERR_ARG);
    tn_loader_free(ld);
    record_free(&all);
    record_free(&head);
    record_free(&tail);
    tn_dataset_free(ds);
}

Test(loader, wait_statistics)
{
    tn_dataset *ds = random_dataset(64, 3, 16, 16, 10, 4);
    tn_loader_options o = full_options(1);
    tn_loader *ld = NULL;
    cr_assert_eq(tn_loader_new(&ld, ds, &o), TN_OK);
    tn_batch b;
    while (tn_loader_next(ld, &b)) sleep_us(2000); /* a "model" slower than the loader */
    tn_loader_stats st;
    tn_loader_stats_get(ld, &st);
    cr_assert_eq(st.batches, 4u);
    cr_assert(st.total_s > 0.006);
    cr_assert(st.wait_s >= 0.0 && st.wait_s <= st.total_s);
    cr_assert(st.wait_fraction >= 0.0 && st.wait_fraction <= 1.0);
    tn_loader_free(ld);

    /* Synchronous: all preparation is waiting. */
    o.synchronous = true;
    cr_assert_eq(tn_loader_new(&ld, ds, &o), TN_OK);
    while (tn_loader_next(ld, &b)) {
    }
    tn_loader_stats_get(ld, &st);
    cr_assert_gt(st.wait_s, 0.0);
    cr_assert_gt(st.wait_fraction, 0.5);
    tn_loader_free(ld);
    tn_dataset_free(ds);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double seconds_between(const struct timespec *t0, const struct timespec *t1)
{
    return (double)(t1->tv_sec - t0->tv_sec) + 1e-9 * (double)(t1->tv_nsec - t0->tv_nsec);
}

/* Stats of one run of `epochs` epochs, the consumer sleeping `sleep_per_batch`
 * microseconds after each batch. */
static tn_loader_stats timed_run(const tn_dataset *ds, const tn_loader_options *o, int epochs,
                                 long sleep_per_batch)
{
    tn_loader *ld = NULL;
    cr_assert_eq(tn_loader_new(&ld, ds, o), TN_OK, "%s", tn_error_message());
    for (int e = 0; e < epochs; e++) {
        tn_batch b;
        while (tn_loader_next(ld, &b))
            if (sleep_per_batch > 0) sleep_us(sleep_per_batch);
    }
    tn_loader_stats st;
    tn_loader_stats_get(ld, &st);
    tn_loader_free(ld);
    return st;
}

/* The point of the background thread: while the consumer (the "model") is
 * busy for longer than a batch takes to prepare, the next batch is made, so
 * the consumer hardly waits; a synchronous loader makes it wait the whole
 * preparation every batch.  The preparation time P is measured first (full
 * augmentation with per-pixel noise on 3x32x32 images, batches of 32: about
 * 1.5 ms on the 2-core development machine), and the consumer sleeps 8 P (at
 * least 4 ms) per batch.  Synchronously the wait fraction is then about
 * P / (P + 8 P) = 0.11; in the background only the first batch must be waited
 * for, 1/16 of that.  The test asks for less than half, so a machine whose
 * cores are busy with other work (the producer getting only part of a core
 * while the consumer sleeps) still passes; a loader that prepares on demand
 * does not. */
Test(loader, background_thread_hides_preparation_from_a_slow_consumer)
{
    enum { BS = 32, BATCHES = 8, EPOCHS = 2, TOTAL = BATCHES * EPOCHS };
    tn_dataset *ds = random_dataset(BS * BATCHES, 3, 32, 32, 10, 6);
    tn_loader_options o = full_options(31);
    o.batch_size = BS;

    /* Calibrate: the median time to prepare a batch, synchronously, over two
     * epochs (the first batches also fault the buffers in: not typical). */
    o.synchronous = true;
    tn_loader *ld = NULL;
    cr_assert_eq(tn_loader_new(&ld, ds, &o), TN_OK, "%s", tn_error_message());
    double times[TOTAL];
    int nt = 0;
    for (int e = 0; e < EPOCHS; e++) {
        tn_batch b;
        for (;;) {
            struct timespec t0, t1;
            clock_gettime(CLOCK_MONOTONIC, &t0);
            bool more = tn_loader_next(ld, &b);
            clock_gettime(CLOCK_MONOTONIC, &t1);
            if (!more) break;
            cr_assert_lt(nt, TOTAL);
            times[nt++] = seconds_between(&t0, &t1);
        }
    }
    tn_loader_free(ld);
    cr_assert_eq(nt, TOTAL);
    qsort(times, (size_t)nt, sizeof *times, cmp_double);
    double prep_s = 0.5 * (times[nt / 2 - 1] + times[nt / 2]);
    cr_assert_gt(prep_s, 1e-4, "preparing a batch took %.3g s: too little to measure", prep_s);
    double sleep_s = 8.0 * prep_s;
    if (sleep_s < 0.004) sleep_s = 0.004;
    if (sleep_s > 0.1) sleep_s = 0.1; /* a very loaded machine: keep the test short */
    long sleep_per_batch = (long)(sleep_s * 1e6);

    tn_loader_stats sync = timed_run(ds, &o, EPOCHS, sleep_per_batch);
    o.synchronous = false;
    tn_loader_stats bg = timed_run(ds, &o, EPOCHS, sleep_per_batch);

    fprintf(stderr,
            "data: prepare %.2f ms/batch, consumer %.2f ms/batch: wait fraction synchronous "
            "%.3f (%.1f ms), background %.3f (%.1f ms)\n",
            prep_s * 1e3, sleep_s * 1e3, sync.wait_fraction, sync.wait_s * 1e3,
            bg.wait_fraction, bg.wait_s * 1e3);
    cr_assert_eq(sync.batches, (uint64_t)TOTAL);
    cr_assert_eq(bg.batches, (uint64_t)TOTAL);
    /* Both consumers slept the same: the totals are at least the sleeps
     * (the last sleep ends after the last return, so not counted). */
    double slept = (double)(TOTAL - 1) * sleep_s;
    cr_assert_geq(sync.total_s, slept);
    cr_assert_geq(bg.total_s, slept);
    /* Synchronously every batch is prepared while the consumer waits: at
     * least half the fastest calibration batch each (the median can be
     * inflated by other work on the cores during the calibration). */
    const double fastest = times[0];
    cr_assert_geq(sync.wait_s, 0.5 * TOTAL * fastest,
                  "synchronous wait %.3g s for %d batches of at least %.3g s", sync.wait_s, TOTAL,
                  fastest);
    /* In the background most of that is hidden. */
    cr_assert_lt(bg.wait_fraction, 0.5 * sync.wait_fraction,
                 "background wait fraction %.3f is not well below the synchronous %.3f",
                 bg.wait_fraction, sync.wait_fraction);
    cr_assert_lt(bg.wait_s, 0.5 * sync.wait_s);
    tn_dataset_free(ds);
}

Test(loader, bad_options)
{
    tn_dataset *ds = random_dataset(10, 3, 4, 4, 10, 5);
    tn_loader *ld = (tn_loader *)1;
    tn_loader_options o = {.batch_size = 0};
    cr_assert_eq(tn_loader_new(&ld, ds, &o), TN_ERR_ARG);
    cr_assert_null(ld);
    o.batch_size = 11;
    o.drop_last = true;
    cr_assert_eq(tn_loader_new(&ld, ds, &o), TN_ERR_ARG);
    o = (tn_loader_options){.batch_size = 4, .norm = {.c = 1}};
    cr_assert_eq(tn_loader_new(&ld, ds, &o), TN_ERR_ARG);
    o = (tn_loader_options){.batch_size = 4, .aug = {.label_smoothing = 1.0f}};
    cr_assert_eq(tn_loader_new(&ld, ds, &o), TN_ERR_ARG);
    ds->labels[3] = 10;
    o = (tn_loader_options){.batch_size = 4};
    cr_assert_eq(tn_loader_new(&ld, ds, &o), TN_ERR_FORMAT);
    cr_assert_not_null(strstr(tn_error_message(), "label 10"));
    tn_dataset_free(ds);
}
