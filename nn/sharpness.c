/* nn/sharpness.c - the epsilon-sharpness of Keskar et al. (2017) by
 * projected gradient ascent, and filter-normalised random directions (Li et
 * al. 2018).  See nn.h. */
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static bool is_param(const tn_params *ps, size_t i) { return tn_params_flags(ps, i) & TN_PARAM; }

tn_status tn_nn_sharpness(tn_params *ps, double eps, int steps, tn_nn_loss_fn loss, void *ctx,
                          tn_nn_sharpness_result *out)
{
    if (!ps || !loss || !out || !(eps > 0) || steps < 1)
        tn_misuse("tn_nn_sharpness", "ps, loss and out are required, eps %g must be > 0 and "
                  "steps %d >= 1", eps, steps);
    const size_t n = tn_params_size(ps);
    float *w0 = malloc(n * sizeof *w0);
    if (!w0) return tn_error_set(TN_ERR_NOMEM, "tenet: sharpness: out of memory");
    float *v = tn_params_values(ps);
    memcpy(w0, v, n * sizeof *w0);
    *out = (tn_nn_sharpness_result){0};
    double f;
    tn_status st = loss(ctx, ps, false, &f);
    out->loss = out->loss_max = f;
    /* delta_i <- clip(delta_i + (2 / steps) b_i sign(g_i), -b_i, b_i),
     * b_i = eps (|w_i| + 1), from delta = 0; the largest loss seen. */
    const float rate = 2.0f / (float)steps;
    for (int k = 0; st == TN_OK && k < steps; k++) {
        tn_params_zero_grad(ps);
        if ((st = loss(ctx, ps, true, &f)) != TN_OK) break;
        if (f > out->loss_max) out->loss_max = f;
        const float *g = tn_params_grads(ps);
        for (size_t i = 0; i < tn_params_count(ps); i++) {
            if (!is_param(ps, i)) continue;
            const size_t off = tn_params_offset(ps, i), m = tn_params_at(ps, i)->numel;
            for (size_t j = off; j < off + m; j++) {
                const float b = (float)eps * (fabsf(w0[j]) + 1.0f);
                const float s = g[j] > 0 ? 1.0f : g[j] < 0 ? -1.0f : 0.0f;
                float d = v[j] - w0[j] + rate * b * s;
                d = d > b ? b : d < -b ? -b : d;
                v[j] = w0[j] + d;
            }
        }
    }
    if (st == TN_OK && (st = loss(ctx, ps, false, &f)) == TN_OK && f > out->loss_max)
        out->loss_max = f;
    out->sharpness = 100.0 * (out->loss_max - out->loss) / (1.0 + out->loss);
    /* Every tensor back: the parameters, and what the passes may have touched. */
    memcpy(v, w0, n * sizeof *w0);
    free(w0);
    return st;
}

/* The filters of a tensor: its first dim's slices (output channels of a
 * conv, rows of a linear weight). */
void tn_nn_filter_normalized_direction(const tn_params *ps, tn_rng *rng, float *dir)
{
    if (!ps || !rng || !dir) tn_misuse("tn_nn_filter_normalized_direction", "NULL argument");
    memset(dir, 0, tn_params_size(ps) * sizeof *dir);
    for (size_t i = 0; i < tn_params_count(ps); i++) {
        const tn_tensor *t = tn_params_at(ps, i);
        if (!is_param(ps, i) || t->ndim < 2) continue;
        const size_t per = t->numel / (size_t)t->shape[0];
        float *d = dir + tn_params_offset(ps, i);
        for (int o = 0; o < t->shape[0]; o++) {
            float *df = d + (size_t)o * per;
            const float *wf = t->data + (size_t)o * per;
            double dn = 0, wn = 0;
            for (size_t j = 0; j < per; j++) {
                df[j] = tn_rng_normal(rng);
                dn += (double)df[j] * df[j];
                wn += (double)wf[j] * wf[j];
            }
            const float s = dn > 0 ? (float)sqrt(wn / dn) : 0.0f;
            for (size_t j = 0; j < per; j++) df[j] *= s;
        }
    }
}
