/* tests/data/test_augment.c - normalisation, crop/flip/cutout/noise, mixup,
 * cutmix, label smoothing, Beta deviates, subsets and splits. */
#include "data/data.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A data set of n random images (c, h, w) with labels i % k. */
static tn_dataset *random_dataset(int n, int c, int h, int w, int k, uint64_t seed)
{
    tn_dataset *ds = NULL;
    cr_assert_eq(tn_dataset_new(&ds, n, c, h, w, k), TN_OK);
    tn_rng r;
    tn_rng_seed(&r, seed, 0);
    for (size_t i = 0; i < (size_t)n * c * h * w; i++) ds->pixels[i] = (uint8_t)tn_rng_below(&r, 256);
    for (int i = 0; i < n; i++) ds->labels[i] = i % k;
    return ds;
}

Test(norm, statistics_and_apply)
{
    tn_dataset *ds = NULL;
    cr_assert_eq(tn_dataset_new(&ds, 2, 2, 1, 2, 1), TN_OK);
    /* channel 0: 0, 255, 0, 255 -> mean 0.5, std 0.5; channel 1: all 51 */
    uint8_t px[8] = {0, 255, 51, 51, 0, 255, 51, 51};
    memcpy(ds->pixels, px, 8);
    tn_norm n;
    tn_norm_from_dataset(&n, ds);
    cr_assert_eq(n.c, 2);
    cr_assert_float_eq(n.mean[0], 0.5f, 1e-6);
    cr_assert_float_eq(n.std[0], 0.5f, 1e-6);
    cr_assert_float_eq(n.mean[1], 0.2f, 1e-6);
    cr_assert_float_eq(n.std[1], 1.0f, 0); /* zero variance: std 1 */
    float out[8];
    tn_norm_apply(&n, ds->pixels, 2, 1, 2, out);
    cr_assert_float_eq(out[0], -1.0f, 1e-6);
    cr_assert_float_eq(out[1], 1.0f, 1e-6);
    cr_assert_float_eq(out[2], 0.0f, 1e-6);
    tn_dataset_free(ds);
}

/* The reference: pad with zeros, crop at (dy, dx), flip, as documented. */
static uint8_t ref_pixel(const uint8_t *src, int h, int w, int pad, const tn_augment_params *p,
                         int c, int y, int x)
{
    int xx = p->flip ? w - 1 - x : x;
    int sy = y + p->dy - pad, sx = xx + p->dx - pad;
    if (sy < 0 || sy >= h || sx < 0 || sx >= w) return 0;
    return src[(c * h + sy) * w + sx];
}

Test(augment, crop_and_flip_move_pixels_exactly)
{
    const int c = 3, h = 7, w = 9, pad = 3;
    tn_dataset *ds = random_dataset(1, c, h, w, 1, 5);
    tn_augment aug = {.crop_pad = pad, .hflip = true};
    tn_norm id;
    tn_norm_identity(&id, c);
    tn_rng r;
    tn_rng_seed(&r, 11, 0);
    int seen_flip = 0, seen_dy[2 * 3 + 1] = {0}, seen_dx[2 * 3 + 1] = {0};
    float out[3 * 7 * 9];
    for (int t = 0; t < 400; t++) {
        tn_augment_params p;
        tn_augment_draw(&aug, h, w, &r, &p);
        cr_assert(p.dy >= 0 && p.dy <= 2 * pad && p.dx >= 0 && p.dx <= 2 * pad);
        seen_flip += p.flip;
        seen_dy[p.dy]++;
        seen_dx[p.dx]++;
        tn_augment_apply(&aug, &p, &id, ds->pixels, c, h, w, out, &r);
        for (int ch = 0; ch < c; ch++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                    cr_assert_eq(out[(ch * h + y) * w + x],
                                 (float)ref_pixel(ds->pixels, h, w, pad, &p, ch, y, x) / 255.0f);
    }
    cr_assert(seen_flip > 150 && seen_flip < 250);
    for (int i = 0; i <= 2 * pad; i++) cr_assert(seen_dy[i] > 20 && seen_dx[i] > 20);

    /* Hand-made cases: (dy, dx) = (pad, pad) unflipped is the identity; the
     * flip mirrors columns; a shift down by one brings a zero row on top. */
    tn_augment_params p = {.dy = pad, .dx = pad, .flip = false, .cut_y = -1, .cut_x = -1};
    tn_augment_apply(&aug, &p, &id, ds->pixels, c, h, w, out, &r);
    for (int i = 0; i < c * h * w; i++) cr_assert_eq(out[i], (float)ds->pixels[i] / 255.0f);
    p.flip = true;
    tn_augment_apply(&aug, &p, &id, ds->pixels, c, h, w, out, &r);
    cr_assert_eq(out[0], (float)ds->pixels[w - 1] / 255.0f);
    p = (tn_augment_params){.dy = pad - 1, .dx = pad + 2, .cut_y = -1, .cut_x = -1};
    tn_augment_apply(&aug, &p, &id, ds->pixels, c, h, w, out, &r);
    for (int x = 0; x < w; x++) cr_assert_eq(out[x], 0.0f);
    cr_assert_eq(out[w + 0], (float)ds->pixels[2] / 255.0f); /* (1, 0) <- (0, 2) */
    cr_assert_eq(out[w + w - 1], 0.0f);                      /* beyond the right edge */
    tn_dataset_free(ds);
}

Test(augment, padding_is_black_before_normalisation)
{
    uint8_t src[4] = {10, 20, 30, 40}; /* 1 x 2 x 2 */
    tn_norm n = {.c = 1, .mean = {0.5f}, .std = {0.25f}};
    tn_augment aug = {.crop_pad = 1};
    tn_augment_params p = {.dy = 0, .dx = 0, .cut_y = -1, .cut_x = -1};
    float out[4];
    tn_rng r;
    tn_rng_seed(&r, 1, 1);
    tn_augment_apply(&aug, &p, &n, src, 1, 2, 2, out, &r);
    cr_assert_float_eq(out[0], (0.0f - 0.5f) / 0.25f, 1e-6);
    cr_assert_float_eq(out[3], (10.0f / 255.0f - 0.5f) / 0.25f, 1e-6);
}

Test(augment, cutout_and_noise)
{
    const int h = 8, w = 8;
    uint8_t src[64];
    memset(src, 200, sizeof src);
    tn_augment aug = {.cutout = 4};
    tn_norm id;
    tn_norm_identity(&id, 1);
    tn_augment_params p = {.dy = 0, .dx = 0, .cut_y = 1, .cut_x = 6};
    float out[64];
    tn_rng r;
    tn_rng_seed(&r, 3, 0);
    tn_augment_apply(&aug, &p, &id, src, 1, h, w, out, &r);
    int zeros = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            bool in = y >= 0 && y < 3 && x >= 4 && x < 8; /* [-1, 3) x [4, 8) clipped */
            cr_assert_eq(out[y * w + x], in ? 0.0f : 200.0f / 255.0f, "(%d, %d)", y, x);
            zeros += in;
        }
    cr_assert_eq(zeros, 12);

    tn_augment noisy = {.noise_std = 0.5f};
    uint8_t *big = calloc(100000, 1);
    float *o = malloc(100000 * sizeof *o);
    tn_augment_params q = {.cut_y = -1, .cut_x = -1};
    tn_augment_apply(&noisy, &q, &id, big, 1, 1000, 100, o, &r);
    double s = 0, s2 = 0;
    for (int i = 0; i < 100000; i++) {
        s += o[i];
        s2 += (double)o[i] * o[i];
    }
    cr_assert_float_eq(s / 1e5, 0.0, 0.01);
    cr_assert_float_eq(sqrt(s2 / 1e5), 0.5, 0.01);
    free(big);
    free(o);
}

Test(augment, same_seed_same_output)
{
    tn_dataset *ds = random_dataset(1, 3, 16, 16, 1, 9);
    tn_augment aug = {.crop_pad = 4, .hflip = true, .cutout = 5, .noise_std = 0.1f};
    tn_norm n = {.c = 3, .mean = {0.4f, 0.5f, 0.6f}, .std = {0.2f, 0.25f, 0.3f}};
    float a[768], b[768];
    tn_rng r1, r2;
    tn_rng_seed(&r1, 77, 3);
    tn_rng_seed(&r2, 77, 3);
    for (int t = 0; t < 20; t++) {
        tn_augment_params p1, p2;
        tn_augment_draw(&aug, 16, 16, &r1, &p1);
        tn_augment_draw(&aug, 16, 16, &r2, &p2);
        tn_augment_apply(&aug, &p1, &n, ds->pixels, 3, 16, 16, a, &r1);
        tn_augment_apply(&aug, &p2, &n, ds->pixels, 3, 16, 16, b, &r2);
        cr_assert_eq(memcmp(a, b, sizeof a), 0);
    }
    tn_dataset_free(ds);
}

/* A batch (n, 1, 4, 4) whose image i is filled with the value i. */
static void fill_batch(float *x, int n)
{
    for (int i = 0; i < n; i++)
        for (int j = 0; j < 16; j++) x[i * 16 + j] = (float)i;
}

Test(mix, mixup_labels_sum_to_one_and_mix_inputs)
{
    enum { N = 16, K = 5 };
    float x[N * 16], tmp[N * 16], soft[N * K];
    int32_t labels[N];
    for (int i = 0; i < N; i++) labels[i] = i % K;
    tn_augment aug = {.mixup_alpha = 0.4f};
    tn_rng r;
    tn_rng_seed(&r, 5, 0);
    for (int t = 0; t < 50; t++) {
        fill_batch(x, N);
        tn_mix_info info;
        tn_augment_mix(&aug, x, N, 1, 4, 4, labels, K, soft, tmp, &r, &info);
        cr_assert_eq(info.kind, 1);
        float lam = info.lambda;
        cr_assert(lam >= 0.0f && lam <= 1.0f);
        for (int i = 0; i < N; i++) {
            double sum = 0;
            for (int k = 0; k < K; k++) {
                cr_assert(soft[i * K + k] >= 0.0f);
                sum += soft[i * K + k];
            }
            cr_assert_float_eq(sum, 1.0, 1e-6);
            /* x_i = lam * i + (1 - lam) * j for one partner j, whose label
             * carries the other weight. */
            int found = -1;
            for (int j = 0; j < N && found < 0; j++)
                if (fabsf(x[i * 16] - (lam * (float)i + (1.0f - lam) * (float)j)) < 1e-5f) found = j;
            cr_assert_geq(found, 0, "image %d is not a mix of itself and another", i);
            for (int q = 1; q < 16; q++) cr_assert_eq(x[i * 16 + q], x[i * 16]);
            if (labels[found] != labels[i]) {
                cr_assert_float_eq(soft[i * K + labels[i]], lam, 1e-6);
                cr_assert_float_eq(soft[i * K + labels[found]], 1.0f - lam, 1e-6);
            }
        }
    }
}

Test(mix, cutmix_box_and_area_weights)
{
    enum { N = 8, K = 8 };
    float x[N * 16], tmp[N * 16], soft[N * K];
    int32_t labels[N];
    for (int i = 0; i < N; i++) labels[i] = i;
    tn_augment aug = {.cutmix_alpha = 1.0f};
    tn_rng r;
    tn_rng_seed(&r, 6, 0);
    int boxes = 0;
    for (int t = 0; t < 50; t++) {
        fill_batch(x, N);
        tn_mix_info info;
        tn_augment_mix(&aug, x, N, 1, 4, 4, labels, K, soft, tmp, &r, &info);
        cr_assert_eq(info.kind, 2);
        int area = (info.y1 - info.y0) * (info.x1 - info.x0);
        boxes += area > 0;
        cr_assert_float_eq(info.lambda, 1.0f - area / 16.0f, 1e-6);
        for (int i = 0; i < N; i++) {
            int partner = -1;
            for (int y = 0; y < 4; y++)
                for (int xx = 0; xx < 4; xx++) {
                    float v = x[i * 16 + y * 4 + xx];
                    bool in = y >= info.y0 && y < info.y1 && xx >= info.x0 && xx < info.x1;
                    if (!in) cr_assert_eq(v, (float)i);
                    else if (partner < 0) partner = (int)v;
                    else cr_assert_eq(v, (float)partner);
                }
            double sum = 0;
            for (int k = 0; k < K; k++) sum += soft[i * K + k];
            cr_assert_float_eq(sum, 1.0, 1e-6);
            if (partner >= 0 && partner != i)
                cr_assert_float_eq(soft[i * K + partner], 1.0f - info.lambda, 1e-6);
        }
    }
    cr_assert_gt(boxes, 30);
}

Test(mix, label_smoothing_and_mix_prob)
{
    enum { N = 4, K = 10 };
    float x[N * 16], tmp[N * 16], soft[N * K];
    int32_t labels[N] = {0, 3, 9, 3};
    tn_augment aug = {.label_smoothing = 0.1f};
    tn_rng r;
    tn_rng_seed(&r, 8, 0);
    fill_batch(x, N);
    tn_augment_mix(&aug, x, N, 1, 4, 4, labels, K, soft, tmp, &r, NULL);
    for (int i = 0; i < N; i++)
        for (int k = 0; k < K; k++)
            cr_assert_float_eq(soft[i * K + k], k == labels[i] ? 0.91f : 0.01f, 1e-6);
    for (int i = 0; i < N * 16; i++) cr_assert_eq(x[i], (float)(i / 16)); /* untouched */

    /* mix_prob 0.3: about 30% of batches mixed. */
    tn_augment m = {.mixup_alpha = 1.0f, .cutmix_alpha = 1.0f, .mix_prob = 0.3f};
    int mixed = 0, kinds[3] = {0};
    for (int t = 0; t < 1000; t++) {
        tn_mix_info info;
        fill_batch(x, N);
        tn_augment_mix(&m, x, N, 1, 4, 4, labels, K, soft, tmp, &r, &info);
        mixed += info.kind != 0;
        kinds[info.kind]++;
    }
    cr_assert(mixed > 250 && mixed < 350, "%d", mixed);
    cr_assert(kinds[1] > 100 && kinds[2] > 100);
}

Test(mix, beta_moments)
{
    tn_rng r;
    tn_rng_seed(&r, 12, 0);
    const float as[3] = {0.2f, 1.0f, 3.0f};
    for (int t = 0; t < 3; t++) {
        float a = as[t];
        double s = 0, s2 = 0;
        int n = 40000;
        for (int i = 0; i < n; i++) {
            double v = tn_sample_beta(&r, a, a);
            cr_assert(v >= 0.0 && v <= 1.0);
            s += v;
            s2 += v * v;
        }
        double mean = s / n, var = s2 / n - mean * mean;
        cr_assert_float_eq(mean, 0.5, 0.01);
        cr_assert_float_eq(var, 1.0 / (4.0 * (2.0 * a + 1.0)), 0.01, "alpha %g var %g", (double)a,
                           var);
    }
}

/* Image i of a 1x2x2 data set carries its own index in its pixels, so a
 * subset's images name the data-set indices they came from. */
static int image_index(const tn_dataset *ds, int i)
{
    const uint8_t *p = tn_dataset_image(ds, i);
    cr_assert_eq(p[2], 0x5A, "image %d is not an indexed image", i);
    return p[0] | p[1] << 8;
}

/* Labels in runs of uneven length, classes of sizes 10, 8, 7, 1 and 0: the
 * first n of each class, in data-set order, are not the first n * k images
 * nor every k-th one. */
Test(subset, stratified_first_n_of_uneven_blocked_classes)
{
    static const int runs[][2] = {{2, 3}, {0, 7}, {1, 2}, {2, 4}, {3, 1}, {0, 3}, {1, 6}};
    enum { N = 26, K = 5 };
    tn_dataset *ds = NULL;
    cr_assert_eq(tn_dataset_new(&ds, N, 1, 2, 2, K), TN_OK);
    int n = 0;
    for (size_t r = 0; r < sizeof runs / sizeof *runs; r++)
        for (int j = 0; j < runs[r][1]; j++, n++) {
            uint8_t *p = tn_dataset_image(ds, n);
            p[0] = (uint8_t)(n & 255);
            p[1] = (uint8_t)(n >> 8);
            p[2] = 0x5A;
            p[3] = (uint8_t)runs[r][0];
            ds->labels[n] = runs[r][0];
        }
    cr_assert_eq(n, N);
    cr_assert_eq(tn_dataset_set_class_name(ds, 3, "rare"), TN_OK);
    int counts[K];
    tn_dataset_class_counts(ds, counts);
    cr_assert(counts[0] == 10 && counts[1] == 8 && counts[2] == 7 && counts[3] == 1 &&
              counts[4] == 0);

    /* 5 per class: class 2 is 0-2 and 12-13, class 0 is 3-7, class 1 is
     * 10-11 and 20-22, class 3 has only 16 and keeps it, class 4 none. */
    static const int want[] = {0, 1, 2, 3, 4, 5, 6, 7, 10, 11, 12, 13, 16, 20, 21, 22};
    const int n_want = (int)(sizeof want / sizeof *want);
    tn_dataset *sub = NULL;
    cr_assert_eq(tn_dataset_subset_stratified(&sub, ds, 5), TN_OK, "%s", tn_error_message());
    cr_assert_eq(sub->n, n_want);
    cr_assert(sub->c == 1 && sub->h == 2 && sub->w == 2);
    cr_assert_eq(sub->n_classes, K);
    cr_assert_str_eq(sub->class_names[3], "rare");
    for (int i = 0; i < n_want; i++) {
        cr_assert_eq(image_index(sub, i), want[i], "subset image %d is data-set image %d, not %d",
                     i, image_index(sub, i), want[i]);
        cr_assert_eq(sub->labels[i], ds->labels[want[i]]);
    }
    int sc[K];
    tn_dataset_class_counts(sub, sc);
    cr_assert(sc[0] == 5 && sc[1] == 5 && sc[2] == 5 && sc[3] == 1 && sc[4] == 0);
    tn_dataset_free(sub);

    /* 1 per class: the first image of classes 2, 0, 1 and 3, in data-set order. */
    static const int want1[] = {0, 3, 10, 16};
    cr_assert_eq(tn_dataset_subset_stratified(&sub, ds, 1), TN_OK);
    cr_assert_eq(sub->n, 4);
    for (int i = 0; i < 4; i++) cr_assert_eq(image_index(sub, i), want1[i]);
    tn_dataset_free(sub);

    /* More per class than any class has: everything, in order. */
    cr_assert_eq(tn_dataset_subset_stratified(&sub, ds, 11), TN_OK);
    cr_assert_eq(sub->n, N);
    for (int i = 0; i < N; i++) cr_assert_eq(image_index(sub, i), i);
    tn_dataset_free(sub);

    sub = (tn_dataset *)1;
    cr_assert_eq(tn_dataset_subset_stratified(&sub, ds, -1), TN_ERR_ARG);
    cr_assert_null(sub);
    tn_dataset_free(ds);
}

Test(subset, stratified_split)
{
    tn_dataset *ds = random_dataset(103, 1, 2, 2, 4, 1);
    tn_dataset *tr = NULL, *va = NULL, *tr2 = NULL, *va2 = NULL;
    cr_assert_eq(tn_dataset_split_stratified(ds, 0.2f, 42, &tr, &va), TN_OK);
    int ct[4], cv[4];
    tn_dataset_class_counts(tr, ct);
    tn_dataset_class_counts(va, cv);
    /* class sizes 26, 26, 26, 25: round(0.2 * n) = 5 each */
    for (int k = 0; k < 4; k++) cr_assert_eq(cv[k], 5);
    cr_assert_eq(tr->n + va->n, 103);
    cr_assert_eq(ct[0] + ct[1] + ct[2] + ct[3], 83);
    /* Deterministic, and another seed picks other images. */
    cr_assert_eq(tn_dataset_split_stratified(ds, 0.2f, 42, &tr2, &va2), TN_OK);
    cr_assert_eq(memcmp(va->pixels, va2->pixels, (size_t)va->n * 4), 0);
    tn_dataset_free(tr2);
    tn_dataset_free(va2);
    cr_assert_eq(tn_dataset_split_stratified(ds, 0.2f, 43, &tr2, &va2), TN_OK);
    cr_assert_neq(memcmp(va->pixels, va2->pixels, (size_t)va->n * 4), 0);
    /* Every image lands in exactly one part: the multiset of pixels is kept. */
    long sum = 0, sum2 = 0;
    for (int i = 0; i < 103 * 4; i++) sum += ds->pixels[i];
    for (int i = 0; i < tr->n * 4; i++) sum2 += tr->pixels[i];
    for (int i = 0; i < va->n * 4; i++) sum2 += va->pixels[i];
    cr_assert_eq(sum, sum2);
    tn_dataset_free(tr2);
    tn_dataset_free(va2);
    cr_assert_eq(tn_dataset_split_stratified(ds, 1.0f, 1, &tr2, &va2), TN_ERR_ARG);
    cr_assert_null(tr2);
    tn_dataset_free(tr);
    tn_dataset_free(va);
    tn_dataset_free(ds);
}
