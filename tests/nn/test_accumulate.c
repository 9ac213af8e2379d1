/* tests/nn/test_accumulate.c - gradient accumulation (K micro-batches of
 * B/K against one batch of B: equal to float rounding without batch norm,
 * measurably different with it) and weight noise (which tensors, how much,
 * restored exactly, reproducible and resumable from its rng). */
#include "nn/nn.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define BATCH 12
#define SIDE 12

typedef struct model {
    tn_params *ps;
    tn_resnet *net;
    float x[BATCH * 3 * SIDE * SIDE];
    int32_t labels[BATCH];
} model;

static void model_new(model *m, tn_resnet_variant v)
{
    tn_rng rng;
    tn_rng_seed(&rng, 5, 0);
    m->ps = tn_params_new();
    tn_resnet_config cfg = {.depth = 8, .width = 16, .variant = v,
                            .shortcut = TN_RESNET_SHORTCUT_B};
    cr_assert_eq(tn_resnet_new(&m->net, m->ps, &cfg, &rng), TN_OK, "%s", tn_error_message());
    for (size_t i = 0; i < sizeof m->x / sizeof m->x[0]; i++) m->x[i] = tn_rng_normal(&rng);
    for (int i = 0; i < BATCH; i++) m->labels[i] = (int32_t)tn_rng_below(&rng, 10);
}

static void model_free(model *m)
{
    tn_resnet_free(m->net);
    tn_params_free(m->ps);
}

/* The store's gradients after k micro-batches (train mode), copied into a
 * fresh array; the summed scaled losses into *loss. */
static float *accumulated_grads(model *m, int k, double *loss)
{
    tn_graph *g = tn_graph_new();
    tn_params_zero_grad(m->ps);
    const size_t per = 3 * SIDE * SIDE;
    *loss = 0;
    for (int i = 0; i < k; i++) {
        int start, n = tn_nn_micro_batch(BATCH, k, i, &start);
        if (!n) continue;
        tn_graph_reset(g);
        tn_tensor *x = tn_from_data(g, TN_SHAPE(n, 3, SIDE, SIDE), m->x + (size_t)start * per);
        tn_tensor *l = tn_cross_entropy(g, tn_resnet_forward(g, m->net, x), m->labels + start, 0.0f);
        if (n != BATCH) l = tn_scale(g, l, (float)n / BATCH);
        cr_assert_eq(tn_backward(g, l), TN_OK, "%s", tn_error_message());
        *loss += l->data[0];
    }
    tn_graph_free(g);
    float *out = malloc(tn_params_size(m->ps) * sizeof *out);
    memcpy(out, tn_params_grads(m->ps), tn_params_size(m->ps) * sizeof *out);
    return out;
}

/* The worst over the parameters of max |a - b| / max |b| per tensor. */
static double worst_rel(const tn_params *ps, const float *a, const float *b)
{
    double worst = 0;
    for (size_t i = 0; i < tn_params_count(ps); i++) {
        if (!(tn_params_flags(ps, i) & TN_PARAM)) continue;
        const size_t off = tn_params_offset(ps, i), n = tn_params_at(ps, i)->numel;
        double d = 0, r = 0;
        for (size_t j = 0; j < n; j++) {
            d = fmax(d, fabs((double)a[off + j] - b[off + j]));
            r = fmax(r, fabs((double)b[off + j]));
        }
        if (r > 0 && d / r > worst) worst = d / r;
    }
    return worst;
}

Test(accumulate, micro_batch_split)
{
    int start, total = 0;
    const int want[5] = {3, 3, 2, 2, 2}; /* 12 in 5 parts */
    for (int i = 0; i < 5; i++) {
        int n = tn_nn_micro_batch(12, 5, i, &start);
        cr_assert_eq(n, want[i]);
        cr_assert_eq(start, total);
        total += n;
    }
    cr_assert_eq(total, 12);
    cr_assert_eq(tn_nn_micro_batch(2, 4, 3, &start), 0);
    cr_assert_eq(start, 2);
}

/* Group norm: the samples do not interact, so K micro-batches give the
 * full batch's loss and gradient to float rounding.  Measured worst
 * per-tensor max error / max |ref|: about 1e-6; bound 2e-5. */
Test(accumulate, equals_full_batch_without_batch_norm)
{
    model m;
    model_new(&m, TN_RESNET_GN);
    double l1, lk;
    float *full = accumulated_grads(&m, 1, &l1);
    const int ks[] = {2, 3, 5, 12};
    for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++) {
        float *acc = accumulated_grads(&m, ks[i], &lk);
        double rel = worst_rel(m.ps, acc, full);
        cr_log_info("group norm, K = %d: loss %.9g vs %.9g, gradient rel. err %.3g", ks[i], lk,
                    l1, rel);
        cr_assert_leq(fabs(lk - l1), 2e-6 * fabs(l1), "K = %d: loss %.9g vs %.9g", ks[i], lk, l1);
        cr_assert_leq(rel, 2e-5, "K = %d: gradient relative error %g", ks[i], rel);
        free(acc);
    }
    free(full);
    model_free(&m);
}

/* Batch norm: each micro-batch is normalised by its own statistics, so the
 * gradient differs from the full batch's (measured: the worst tensor's max
 * error is 1.3 times its max |ref| at K = 4, 3 samples a micro-batch), and the running statistics move K times
 * a step.  K = 1 is the full batch exactly. */
Test(accumulate, differs_with_batch_norm)
{
    model m;
    model_new(&m, TN_RESNET_BN);
    tn_tensor *rm = tn_params_find(m.ps, "bn1.running_mean");
    cr_assert_not_null(rm);
    float *saved = malloc(tn_params_size(m.ps) * sizeof *saved);
    memcpy(saved, tn_params_values(m.ps), tn_params_size(m.ps) * sizeof *saved);
    double l1, l1b, l4;
    float *full = accumulated_grads(&m, 1, &l1);
    float rm_full = rm->data[0];
    memcpy(tn_params_values(m.ps), saved, tn_params_size(m.ps) * sizeof *saved);
    float *again = accumulated_grads(&m, 1, &l1b);
    cr_assert_eq(memcmp(again, full, tn_params_size(m.ps) * sizeof *full), 0);
    cr_assert_eq(l1, l1b);
    memcpy(tn_params_values(m.ps), saved, tn_params_size(m.ps) * sizeof *saved);
    float *acc = accumulated_grads(&m, 4, &l4);
    double rel = worst_rel(m.ps, acc, full);
    cr_log_info("batch norm, K = 4: loss %.6g vs %.6g, gradient rel. err %.3g, running_mean[0] "
                "%.6g vs %.6g", l4, l1, rel, (double)rm->data[0], (double)rm_full);
    cr_assert_geq(rel, 0.05, "batch norm over B/K should change the gradient (rel %g)", rel);
    cr_assert_neq(l4, l1);
    /* Four updates with momentum 0.1 from 0: 1 - 0.9^4 = 34% of the way to
     * the micro-batch means, against 10% for one update. */
    cr_assert_gt(fabs(rm->data[0]), 2.0f * fabsf(rm_full));
    free(saved);
    free(full);
    free(again);
    free(acc);
    model_free(&m);
}

/* ------------------------------------------------------------ weight noise */

/* Whether the TN_PARAM tensors of the store equal those in vals. */
static bool params_equal(const tn_params *ps, const float *vals)
{
    for (size_t i = 0; i < tn_params_count(ps); i++) {
        if (!(tn_params_flags(ps, i) & TN_PARAM)) continue;
        const size_t off = tn_params_offset(ps, i);
        if (memcmp(tn_params_values(ps) + off, vals + off, tn_params_at(ps, i)->numel * sizeof *vals))
            return false;
    }
    return true;
}

Test(weight_noise, perturbs_weights_relative_to_rms_and_restores_exactly)
{
    model m;
    model_new(&m, TN_RESNET_BN);
    const size_t n = tn_params_size(m.ps);
    float *clean = malloc(n * sizeof *clean);
    float *first = malloc(n * sizeof *first);
    memcpy(clean, tn_params_values(m.ps), n * sizeof *clean);
    tn_nn_weight_noise wn;
    tn_nn_weight_noise_init(&wn, 0.1f, 42);
    cr_assert_eq(tn_nn_weight_noise_perturb(&wn, m.ps), TN_OK);
    memcpy(first, tn_params_values(m.ps), n * sizeof *first);
    for (size_t i = 0; i < tn_params_count(m.ps); i++) {
        const tn_tensor *t = tn_params_at(m.ps, i);
        const size_t off = tn_params_offset(m.ps, i);
        const unsigned fl = tn_params_flags(m.ps, i);
        double dd = 0, ww = 0;
        for (size_t j = 0; j < t->numel; j++) {
            double d = (double)first[off + j] - clean[off + j];
            dd += d * d;
            ww += (double)clean[off + j] * clean[off + j];
        }
        if (!(fl & TN_PARAM) || (fl & TN_NO_DECAY)) {
            cr_assert_eq(dd, 0.0, "%s: no noise expected", t->name);
        } else if (t->numel >= 2000) {
            /* The noise's RMS is 0.1 of the weights' (sampling error < 5%). */
            double ratio = sqrt(dd / ww);
            cr_assert(ratio > 0.095 && ratio < 0.105, "%s: noise/weight RMS %g", t->name, ratio);
        }
    }
    /* Gradients at the perturbed weights, then the clean weights back, bit for bit. */
    double loss;
    free(accumulated_grads(&m, 1, &loss));
    tn_nn_weight_noise_restore(&wn, m.ps);
    cr_assert(params_equal(m.ps, clean), "weights not restored bit for bit");

    /* Resumable: a copy of the rng (what a checkpoint stores) draws the next
     * step's noise exactly as the original does. */
    tn_nn_weight_noise resumed;
    tn_nn_weight_noise_init(&resumed, 0.1f, 999);
    resumed.rng = wn.rng;
    float *next = malloc(n * sizeof *next);
    cr_assert_eq(tn_nn_weight_noise_perturb(&wn, m.ps), TN_OK);
    memcpy(next, tn_params_values(m.ps), n * sizeof *next);
    tn_nn_weight_noise_restore(&wn, m.ps);
    cr_assert_eq(tn_nn_weight_noise_perturb(&resumed, m.ps), TN_OK);
    cr_assert_eq(memcmp(next, tn_params_values(m.ps), n * sizeof *next), 0);
    cr_assert_neq(memcmp(next, first, n * sizeof *next), 0, "a new draw each step");
    tn_nn_weight_noise_restore(&resumed, m.ps);

    /* The same seed, the same first draw. */
    tn_nn_weight_noise same;
    tn_nn_weight_noise_init(&same, 0.1f, 42);
    cr_assert_eq(tn_nn_weight_noise_perturb(&same, m.ps), TN_OK);
    cr_assert(params_equal(m.ps, first));
    tn_nn_weight_noise_restore(&same, m.ps);

    tn_nn_weight_noise_free(&wn);
    tn_nn_weight_noise_free(&resumed);
    tn_nn_weight_noise_free(&same);
    tn_nn_weight_noise_free(NULL);
    free(clean);
    free(first);
    free(next);
    model_free(&m);
}
