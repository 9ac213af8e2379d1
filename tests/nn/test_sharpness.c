/* tests/nn/test_sharpness.c - epsilon-sharpness by projected gradient ascent
 * against the box's exact maximum for a linear and a convex quadratic loss,
 * the store restored, and filter-normalised directions. */
#include "nn/nn.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const float W0[6] = {0.5f, -1.5f, 2.0f, -0.25f, 3.0f, -4.0f};
static const float C[6] = {1.0f, -2.0f, 0.5f, 3.0f, -1.0f, 0.25f};

typedef struct quad_ctx {
    bool quadratic; /* f = sum w^2, else sum c w */
    int calls;
} quad_ctx;

/* f over the store's parameter "w"; the gradient written into the store. */
static tn_status toy_loss(void *ctx, tn_params *ps, bool grad, double *loss)
{
    quad_ctx *q = ctx;
    q->calls++;
    tn_tensor *w = tn_params_find(ps, "w");
    float *g = tn_params_grads(ps) + tn_params_offset(ps, 0);
    double f = 0;
    for (int i = 0; i < 6; i++) {
        f += q->quadratic ? (double)w->data[i] * w->data[i] : (double)C[i] * w->data[i];
        if (grad) g[i] += q->quadratic ? 2.0f * w->data[i] : C[i];
    }
    *loss = f;
    return TN_OK;
}

static tn_params *toy_store(void)
{
    tn_params *ps = tn_params_new();
    tn_tensor *w = tn_params_add(ps, "w", TN_SHAPE(6), TN_PARAM);
    tn_tensor *b = tn_params_add(ps, "stat", TN_SHAPE(2), TN_BUFFER);
    memcpy(w->data, W0, sizeof W0);
    b->data[0] = 7.0f;
    b->data[1] = -7.0f;
    return ps;
}

Test(sharpness, box_maximum_of_linear_and_quadratic_losses)
{
    const double eps = 1e-2;
    for (int quad = 0; quad < 2; quad++) {
        tn_params *ps = toy_store();
        quad_ctx q = {.quadratic = quad};
        tn_nn_sharpness_result r;
        cr_assert_eq(tn_nn_sharpness(ps, eps, 4, toy_loss, &q, &r), TN_OK);
        /* The exact maximum: delta_i = b_i sign(df/dw_i), b_i = eps (|w_i| + 1). */
        double f0 = 0, fmax = 0;
        for (int i = 0; i < 6; i++) {
            const double b = eps * (fabs(W0[i]) + 1.0);
            if (quad) {
                f0 += (double)W0[i] * W0[i];
                fmax += (fabs(W0[i]) + b) * (fabs(W0[i]) + b);
            } else {
                f0 += (double)C[i] * W0[i];
                fmax += (double)C[i] * W0[i] + fabs(C[i]) * b;
            }
        }
        cr_log_info("%s: f %.9g, max %.9g (exact %.9g), sharpness %.6g", quad ? "quadratic" : "linear",
                    r.loss, r.loss_max, fmax, r.sharpness);
        cr_assert_float_eq(r.loss, f0, 1e-6 * fabs(f0));
        cr_assert_float_eq(r.loss_max, fmax, 1e-5 * fabs(fmax));
        cr_assert_float_eq(r.sharpness, 100.0 * (fmax - f0) / (1.0 + f0), 1e-3);
        cr_assert_eq(q.calls, 4 + 2);
        /* Everything restored. */
        cr_assert_eq(memcmp(tn_params_find(ps, "w")->data, W0, sizeof W0), 0);
        cr_assert(tn_params_find(ps, "stat")->data[0] == 7.0f);
        tn_params_free(ps);
    }
}

Test(sharpness, filter_normalized_direction)
{
    tn_params *ps = tn_params_new();
    tn_tensor *w = tn_params_add(ps, "conv.weight", TN_SHAPE(4, 3, 3, 3), TN_PARAM);
    tn_tensor *b = tn_params_add(ps, "conv.bias", TN_SHAPE(4), TN_PARAM);
    tn_params_add(ps, "bn.running_var", TN_SHAPE(4), TN_BUFFER);
    for (size_t i = 0; i < w->numel; i++) w->data[i] = (float)((int)(i % 7) - 3) * (1.0f + (float)(i / 27));
    for (size_t i = 0; i < b->numel; i++) b->data[i] = 1.0f;
    const size_t n = tn_params_size(ps);
    float *d = malloc(n * sizeof *d), *d2 = malloc(n * sizeof *d2);
    tn_rng rng;
    tn_rng_seed(&rng, 3, 0);
    tn_nn_filter_normalized_direction(ps, &rng, d);
    for (int o = 0; o < 4; o++) {
        double dn = 0, wn = 0;
        for (int j = 0; j < 27; j++) {
            dn += (double)d[o * 27 + j] * d[o * 27 + j];
            wn += (double)w->data[o * 27 + j] * w->data[o * 27 + j];
        }
        cr_assert_float_eq(sqrt(dn), sqrt(wn), 1e-5 * sqrt(wn), "filter %d: %g vs %g", o, sqrt(dn), sqrt(wn));
    }
    for (size_t i = 108; i < n; i++) cr_assert_eq(d[i], 0.0f, "bias and buffer entries are zero");
    tn_rng_seed(&rng, 3, 0);
    tn_nn_filter_normalized_direction(ps, &rng, d2);
    cr_assert_eq(memcmp(d, d2, n * sizeof *d), 0, "the same seed, the same direction");
    free(d);
    free(d2);
    tn_params_free(ps);
}
