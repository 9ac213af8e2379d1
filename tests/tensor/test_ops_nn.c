/* tests/tensor/test_ops_nn.c - conv2d and pooling against direct loops at
 * sizes that take the threaded paths, batch norm and dropout properties,
 * and misuse aborts of the conv, norm and loss ops. */
#include "gradcheck.h"
#include "tensor/tensor.h"

#include <criterion/criterion.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

/* max |a - b| / max |b| over n elements. */
static double rel_err(const float *a, const double *b, size_t n)
{
    double diff = 0.0, mag = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        diff = d > diff ? d : diff;
        mag = fabs(b[i]) > mag ? fabs(b[i]) : mag;
    }
    return diff / (mag > 1e-30 ? mag : 1e-30);
}


/* ---------------------------------------------------------------- conv2d */

typedef struct conv_case {
    int n, c, h, w, o, k, stride, pad, dil;
} conv_case;

static void check_conv_direct(conv_case cc, int threads)
{
    tn_set_threads(threads);
    tn_rng rng;
    tn_rng_seed(&rng, 5, 5);
    tn_graph *g = tn_graph_new();
    tn_tensor *x = tn_uniform(g, 4, (int[]){cc.n, cc.c, cc.h, cc.w}, -1, 1, &rng);
    tn_tensor *w = tn_uniform(g, 4, (int[]){cc.o, cc.c, cc.k, cc.k}, -1, 1, &rng);
    tn_requires_grad(g, x);
    tn_requires_grad(g, w);
    tn_tensor *b = tn_requires_grad(g, tn_uniform(g, 1, (int[]){cc.o}, -1, 1, &rng));
    tn_tensor *y = tn_conv2d(g, x, w, b, cc.stride, cc.pad, cc.dil);
    cr_assert_not_null(y);
    const int oh = (cc.h + 2 * cc.pad - cc.dil * (cc.k - 1) - 1) / cc.stride + 1;
    const int ow = (cc.w + 2 * cc.pad - cc.dil * (cc.k - 1) - 1) / cc.stride + 1;
    cr_assert(y->ndim == 4 && y->shape[0] == cc.n && y->shape[1] == cc.o && y->shape[2] == oh &&
              y->shape[3] == ow);
    tn_tensor *r = tn_uniform(g, 4, y->shape, -1, 1, &rng);
    cr_assert_eq(tn_backward(g, gc_dot(g, y, r)), TN_OK);

    double *ref = calloc(y->numel, sizeof(double)), *gx = calloc(x->numel, sizeof(double));
    double *gw = calloc(w->numel, sizeof(double)), *gb = calloc(b->numel, sizeof(double));
    for (int n = 0; n < cc.n; n++)
        for (int o = 0; o < cc.o; o++)
            for (int i = 0; i < oh; i++)
                for (int j = 0; j < ow; j++) {
                    size_t yi = (((size_t)n * cc.o + o) * oh + i) * ow + j;
                    double s = b->data[o], ry = r->data[yi];
                    gb[o] += ry;
                    for (int c = 0; c < cc.c; c++)
                        for (int kh = 0; kh < cc.k; kh++)
                            for (int kw = 0; kw < cc.k; kw++) {
                                int ih = i * cc.stride - cc.pad + kh * cc.dil;
                                int iw = j * cc.stride - cc.pad + kw * cc.dil;
                                if (ih < 0 || ih >= cc.h || iw < 0 || iw >= cc.w) continue;
                                size_t xi = (((size_t)n * cc.c + c) * cc.h + ih) * cc.w + iw;
                                size_t wi = (((size_t)o * cc.c + c) * cc.k + kh) * cc.k + kw;
                                s += (double)x->data[xi] * w->data[wi];
                                gx[xi] += ry * w->data[wi];
                                gw[wi] += ry * x->data[xi];
                            }
                    ref[yi] = s;
                }
    cr_expect_leq(rel_err(y->data, ref, y->numel), 1e-5, "forward");
    cr_expect_leq(rel_err(x->grad, gx, x->numel), 1e-5, "grad x");
    cr_expect_leq(rel_err(w->grad, gw, w->numel), 1e-5, "grad w");
    cr_expect_leq(rel_err(b->grad, gb, b->numel), 1e-5, "grad b");
    free(ref);
    free(gx);
    free(gw);
    free(gb);
    tn_graph_free(g);
}

/* im2col is (72, 4*12*12) and the output 4*64*12*12: both above the
 * threading threshold. */
Test(conv2d, direct_loops_stride1_two_threads)
{
    check_conv_direct((conv_case){.n = 4, .c = 8, .h = 12, .w = 12, .o = 64, .k = 3, .stride = 1,
                                  .pad = 1, .dil = 1}, 2);
}

Test(conv2d, direct_loops_stride2_two_threads)
{
    check_conv_direct((conv_case){.n = 8, .c = 8, .h = 16, .w = 16, .o = 64, .k = 3, .stride = 2,
                                  .pad = 1, .dil = 1}, 2);
}

/* The direct 3x3 kernels (AVX-512F or AVX2/FMA, whichever the CPU has)
 * take ResNet's shapes: output channels a multiple of 4, output width a
 * multiple of 8 (AVX2) or of 16 or a divisor of 16 (AVX-512, padding 1).
 * Forward, data and weight gradient at stride 1 with padding 1 and 0, odd
 * channel counts, several 16-pixel blocks per row and weight-gradient tiles
 * of >= 512 pixels; then stride 2 at ResNet's 32->16. */
Test(conv2d, direct_kernels_stride1_resnet_shapes)
{
    check_conv_direct((conv_case){.n = 4, .c = 16, .h = 16, .w = 16, .o = 16, .k = 3, .stride = 1,
                                  .pad = 1, .dil = 1}, 2);
    check_conv_direct((conv_case){.n = 3, .c = 5, .h = 8, .w = 24, .o = 12, .k = 3, .stride = 1,
                                  .pad = 1, .dil = 1}, 1);
    check_conv_direct((conv_case){.n = 2, .c = 3, .h = 10, .w = 10, .o = 4, .k = 3, .stride = 1,
                                  .pad = 0, .dil = 1}, 2);
    /* An odd number of input channels (ResNet's first convolution). */
    check_conv_direct((conv_case){.n = 2, .c = 3, .h = 16, .w = 16, .o = 8, .k = 3, .stride = 1,
                                  .pad = 1, .dil = 1}, 2);
    /* Rows shorter than an AVX-512 vector (two rows per vector). */
    check_conv_direct((conv_case){.n = 5, .c = 6, .h = 8, .w = 8, .o = 8, .k = 3, .stride = 1,
                                  .pad = 1, .dil = 1}, 2);
}

Test(conv2d, direct_kernels_stride2_resnet_shapes)
{
    check_conv_direct((conv_case){.n = 2, .c = 16, .h = 32, .w = 32, .o = 32, .k = 3, .stride = 2,
                                  .pad = 1, .dil = 1}, 2);
    check_conv_direct((conv_case){.n = 3, .c = 8, .h = 16, .w = 16, .o = 8, .k = 3, .stride = 2,
                                  .pad = 1, .dil = 1}, 1);
}

/* The same shapes on each narrower path the CPU could take (AVX-512 ->
 * AVX2 -> im2col + GEMM): TENET_MAX_ISA is read at the first convolution,
 * and each Criterion test runs in a process of its own. */
static void resnet_shapes_on(const char *isa)
{
    setenv("TENET_MAX_ISA", isa, 1);
    const conv_case cases[] = {
        {.n = 4, .c = 16, .h = 16, .w = 16, .o = 16, .k = 3, .stride = 1, .pad = 1, .dil = 1},
        {.n = 3, .c = 5, .h = 8, .w = 24, .o = 12, .k = 3, .stride = 1, .pad = 1, .dil = 1},
        {.n = 2, .c = 6, .h = 8, .w = 8, .o = 8, .k = 3, .stride = 1, .pad = 1, .dil = 1},
        {.n = 2, .c = 3, .h = 10, .w = 10, .o = 4, .k = 3, .stride = 1, .pad = 0, .dil = 1},
        {.n = 2, .c = 16, .h = 32, .w = 32, .o = 32, .k = 3, .stride = 2, .pad = 1, .dil = 1},
        {.n = 3, .c = 8, .h = 16, .w = 16, .o = 8, .k = 3, .stride = 2, .pad = 1, .dil = 1},
        /* Stride 2, rows of 3 AVX2 vectors; then an odd input height (its
         * data gradient on the GEMM path). */
        {.n = 2, .c = 4, .h = 48, .w = 48, .o = 8, .k = 3, .stride = 2, .pad = 1, .dil = 1},
        {.n = 2, .c = 4, .h = 17, .w = 16, .o = 8, .k = 3, .stride = 2, .pad = 1, .dil = 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) check_conv_direct(cases[i], 2);
}

Test(conv2d, resnet_shapes_on_the_avx2_path) { resnet_shapes_on("avx2"); }
Test(conv2d, resnet_shapes_on_the_gemm_path) { resnet_shapes_on("generic"); }

/* Called from inside a user's parallel region (one thread of a team of 2),
 * conv must still do all of its work. */
Test(conv2d, inside_a_users_parallel_region)
{
    int ok = 1;
#pragma omp parallel num_threads(2)
#pragma omp single
    {
        check_conv_direct((conv_case){.n = 4, .c = 8, .h = 12, .w = 12, .o = 64, .k = 3,
                                      .stride = 1, .pad = 1, .dil = 1}, 2);
        check_conv_direct((conv_case){.n = 4, .c = 8, .h = 12, .w = 12, .o = 16, .k = 1,
                                      .stride = 1, .pad = 0, .dil = 1}, 2);
        ok = 2;
    }
    cr_assert_eq(ok, 2);
}

Test(conv2d, direct_loops_dilated_one_thread)
{
    check_conv_direct((conv_case){.n = 3, .c = 4, .h = 11, .w = 9, .o = 5, .k = 3, .stride = 2,
                                  .pad = 2, .dil = 2}, 1);
}

Test(conv2d, batch_of_one_and_weight_only_gradient)
{
    tn_graph *g = tn_graph_new();
    tn_rng rng;
    tn_rng_seed(&rng, 9, 1);
    tn_tensor *x = tn_uniform(g, 4, (int[]){1, 2, 5, 5}, -1, 1, &rng); /* no gradient */
    tn_tensor *w = tn_requires_grad(g, tn_uniform(g, 4, (int[]){3, 2, 3, 3}, -1, 1, &rng));
    tn_tensor *y = tn_conv2d(g, x, w, NULL, 1, 0, 1);
    cr_assert_eq(tn_backward(g, gc_dot(g, y, tn_ones(g, 4, y->shape))), TN_OK);
    /* d/dw[o,c,kh,kw] of sum(y) = sum of the 3x3 input window sums. */
    for (int c = 0; c < 2; c++)
        for (int kh = 0; kh < 3; kh++)
            for (int kw = 0; kw < 3; kw++) {
                double s = 0.0;
                for (int i = 0; i < 3; i++)
                    for (int j = 0; j < 3; j++) s += x->data[(c * 5 + i + kh) * 5 + j + kw];
                for (int o = 0; o < 3; o++)
                    cr_expect_float_eq(w->grad[((o * 2 + c) * 3 + kh) * 3 + kw], (float)s, 1e-5);
            }
    cr_assert_null(x->grad);
    tn_graph_free(g);
}

/* --------------------------------------------------------------- pooling */

Test(pool, max_pool_threaded_matches_direct_loops)
{
    tn_set_threads(2);
    tn_graph *g = tn_graph_new();
    tn_rng rng;
    tn_rng_seed(&rng, 3, 3);
    const int n = 4, c = 16, h = 24, w = 24, k = 3, s = 2, p = 1, oh = 12, ow = 12;
    tn_tensor *x = tn_requires_grad(g, tn_normal(g, 4, (int[]){n, c, h, w}, 0, 1, &rng));
    tn_tensor *y = tn_max_pool2d(g, x, k, s, p);
    cr_assert(y->shape[2] == oh && y->shape[3] == ow);
    tn_tensor *r = tn_uniform(g, 4, y->shape, -1, 1, &rng);
    cr_assert_eq(tn_backward(g, gc_dot(g, y, r)), TN_OK);
    double *gx = calloc(x->numel, sizeof(double));
    for (int pl = 0; pl < n * c; pl++)
        for (int i = 0; i < oh; i++)
            for (int j = 0; j < ow; j++) {
                float best = -INFINITY;
                size_t at = 0;
                for (int a = i * s - p; a < i * s - p + k; a++)
                    for (int bb = j * s - p; bb < j * s - p + k; bb++) {
                        if (a < 0 || a >= h || bb < 0 || bb >= w) continue;
                        size_t xi = ((size_t)pl * h + a) * w + bb;
                        if (x->data[xi] > best) best = x->data[xi], at = xi;
                    }
                size_t yi = ((size_t)pl * oh + i) * ow + j;
                cr_assert_eq(y->data[yi], best);
                gx[at] += r->data[yi];
            }
    cr_expect_leq(rel_err(x->grad, gx, x->numel), 1e-6);
    free(gx);
    tn_graph_free(g);
}

Test(pool, max_pool_ties_go_to_the_first_and_avg_counts_padding)
{
    tn_graph *g = tn_graph_new();
    tn_tensor *x = tn_requires_grad(g, tn_full(g, 4, (int[]){1, 1, 2, 2}, 7.0f));
    tn_tensor *y = tn_max_pool2d(g, x, 2, 2, 0);
    cr_assert_eq(tn_backward(g, gc_dot(g, y, tn_ones(g, 4, y->shape))), TN_OK);
    cr_expect_eq(y->data[0], 7.0f);
    cr_expect(x->grad[0] == 1.0f && x->grad[1] == 0.0f && x->grad[2] == 0.0f && x->grad[3] == 0.0f);

    /* 3x3 window, padding 1, on a 2x2 of ones: each corner output sees 4 ones
     * out of 9 (zero padding counted). */
    tn_tensor *a = tn_avg_pool2d(g, tn_ones(g, 4, (int[]){1, 1, 2, 2}), 3, 1, 1);
    for (int i = 0; i < 4; i++) cr_expect_float_eq(a->data[i], 4.0f / 9.0f, 1e-7);
    /* Max pooling pads with -inf: a window of negatives never yields 0. */
    tn_tensor *m = tn_max_pool2d(g, tn_full(g, 4, (int[]){1, 1, 2, 2}, -3.0f), 3, 1, 1);
    for (int i = 0; i < 4; i++) cr_expect_eq(m->data[i], -3.0f);
    tn_graph_free(g);
}

/* ------------------------------------------------------------ batch norm */

/* Per-channel work does not depend on the thread count: bit-identical. */
Test(batch_norm, threads_do_not_change_results_and_stats_are_normalised)
{
    float *out[2], *grad[2];
    const int n = 8, c = 16, hw = 16 * 16;
    for (int t = 0; t < 2; t++) {
        tn_set_threads(t + 1);
        tn_graph *g = tn_graph_new();
        tn_rng rng;
        tn_rng_seed(&rng, 11, 2);
        tn_tensor *x = tn_requires_grad(g, tn_normal(g, 4, (int[]){n, c, 16, 16}, 3, 2, &rng));
        tn_tensor *y = tn_batch_norm(g, x, NULL, NULL, NULL, NULL, 0.1f, 1e-5f);
        tn_tensor *r = tn_uniform(g, 4, y->shape, -1, 1, &rng);
        cr_assert_eq(tn_backward(g, gc_dot(g, y, r)), TN_OK);
        out[t] = malloc(y->numel * sizeof(float));
        grad[t] = malloc(x->numel * sizeof(float));
        memcpy(out[t], y->data, y->numel * sizeof(float));
        memcpy(grad[t], x->grad, x->numel * sizeof(float));
        tn_graph_free(g);
    }
    const size_t total = (size_t)n * c * hw;
    cr_expect(memcmp(out[0], out[1], total * sizeof(float)) == 0);
    cr_expect(memcmp(grad[0], grad[1], total * sizeof(float)) == 0);
    for (int ch = 0; ch < c; ch++) {
        double s = 0, s2 = 0, gs = 0;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < hw; j++) {
                size_t k = ((size_t)i * c + ch) * hw + j;
                s += out[0][k];
                s2 += (double)out[0][k] * out[0][k];
                gs += grad[0][k];
            }
        cr_expect_lt(fabs(s / (n * hw)), 1e-5);
        cr_expect_lt(fabs(s2 / (n * hw) - 1.0), 1e-4);
        cr_expect_lt(fabs(gs), 1e-3); /* train-mode dx sums to 0 per channel */
    }
    for (int t = 0; t < 2; t++) free(out[t]), free(grad[t]);
}

Test(batch_norm, eval_uses_running_stats)
{
    tn_graph *g = tn_graph_new();
    tn_graph_set_training(g, false);
    tn_tensor *x = tn_from_data(g, 2, (int[]){2, 2}, (float[]){1, 2, 3, 4});
    tn_tensor *rm = tn_from_data(g, 1, (int[]){2}, (float[]){1, -1});
    tn_tensor *rv = tn_from_data(g, 1, (int[]){2}, (float[]){4, 0.25f});
    tn_tensor *gm = tn_from_data(g, 1, (int[]){2}, (float[]){2, 1});
    tn_tensor *bt = tn_from_data(g, 1, (int[]){2}, (float[]){0.5f, 0});
    tn_tensor *y = tn_batch_norm(g, x, gm, bt, rm, rv, 0.1f, 0.0f);
    const float want[] = {0.5f, 6.0f, 2.5f, 10.0f};
    for (int i = 0; i < 4; i++) cr_expect_float_eq(y->data[i], want[i], 1e-5);
    cr_expect(rm->data[0] == 1.0f && rv->data[1] == 0.25f, "eval must not update the stats");
    tn_graph_free(g);
}

/* --------------------------------------------------------------- dropout */

Test(dropout, rate_scale_eval_identity)
{
    tn_graph *g = tn_graph_new();
    tn_rng rng;
    tn_rng_seed(&rng, 1, 1);
    tn_tensor *x = tn_ones(g, 2, (int[]){100, 100});
    tn_tensor *y = tn_dropout(g, x, 0.3f, &rng);
    size_t dropped = 0;
    for (size_t i = 0; i < y->numel; i++) {
        cr_assert(y->data[i] == 0.0f || fabsf(y->data[i] - 1.0f / 0.7f) < 1e-6f);
        dropped += y->data[i] == 0.0f;
    }
    cr_expect(dropped > 2800 && dropped < 3200, "dropped %zu of 10000 at p = 0.3", dropped);
    tn_tensor *z = tn_dropout(g, x, 1.0f, &rng);
    for (size_t i = 0; i < z->numel; i++) cr_assert_eq(z->data[i], 0.0f);
    tn_graph_set_training(g, false);
    cr_expect_eq(tn_dropout(g, x, 0.5f, &rng), x, "eval mode returns the input itself");
    tn_graph_free(g);
}

/* ----------------------------------------------------------------- misuse */

Test(misuse_nn, conv_channel_mismatch_aborts, .signal = SIGABRT)
{
    tn_graph *g = tn_graph_new();
    tn_conv2d(g, tn_zeros(g, 4, (int[]){1, 3, 5, 5}), tn_zeros(g, 4, (int[]){4, 2, 3, 3}), NULL,
              1, 0, 1);
}

Test(misuse_nn, conv_kernel_larger_than_input_aborts, .signal = SIGABRT)
{
    tn_graph *g = tn_graph_new();
    tn_conv2d(g, tn_zeros(g, 4, (int[]){1, 1, 2, 2}), tn_zeros(g, 4, (int[]){1, 1, 3, 3}), NULL,
              1, 0, 1);
}

Test(misuse_nn, pool_padding_over_half_kernel_aborts, .signal = SIGABRT)
{
    tn_graph *g = tn_graph_new();
    tn_max_pool2d(g, tn_zeros(g, 4, (int[]){1, 1, 4, 4}), 2, 2, 2);
}

Test(misuse_nn, cross_entropy_label_out_of_range_aborts, .signal = SIGABRT)
{
    tn_graph *g = tn_graph_new();
    tn_cross_entropy(g, tn_zeros(g, 2, (int[]){2, 3}), (const int32_t[]){0, 3}, 0.0f);
}

Test(misuse_nn, nll_negative_label_aborts, .signal = SIGABRT)
{
    tn_graph *g = tn_graph_new();
    tn_nll_loss(g, tn_zeros(g, 2, (int[]){2, 3}), (const int32_t[]){-1, 0});
}

Test(misuse_nn, batch_norm_eval_without_running_stats_aborts, .signal = SIGABRT)
{
    tn_graph *g = tn_graph_new();
    tn_graph_set_training(g, false);
    tn_batch_norm(g, tn_zeros(g, 2, (int[]){4, 3}), NULL, NULL, NULL, NULL, 0.1f, 1e-5f);
}

Test(misuse_nn, batch_norm_gamma_shape_aborts, .signal = SIGABRT)
{
    tn_graph *g = tn_graph_new();
    tn_batch_norm(g, tn_zeros(g, 2, (int[]){4, 3}), tn_ones(g, 1, (int[]){4}), NULL, NULL, NULL,
                  0.1f, 1e-5f);
}

Test(misuse_nn, mse_shape_mismatch_aborts, .signal = SIGABRT)
{
    tn_graph *g = tn_graph_new();
    tn_mse_loss(g, tn_zeros(g, 2, (int[]){2, 3}), tn_zeros(g, 2, (int[]){3, 2}));
}
