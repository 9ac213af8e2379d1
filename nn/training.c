/* nn/training.c - training aids: the micro-batch split of gradient
 * accumulation and weight noise.  See nn.h. */
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int tn_nn_micro_batch(int n, int k, int i, int *start)
{
    if (n < 0 || k < 1 || i < 0 || i >= k || !start)
        tn_misuse("tn_nn_micro_batch", "n %d must be >= 0, k %d >= 1 and i %d in [0, k)", n, k, i);
    /* The first n % k parts get one sample more. */
    const int base = n / k, extra = n % k;
    *start = i * base + (i < extra ? i : extra);
    return base + (i < extra ? 1 : 0);
}

/* Whether tensor i of the store takes noise: parameters that decay. */
static bool noisy(const tn_params *ps, size_t i)
{
    const unsigned fl = tn_params_flags(ps, i);
    return (fl & TN_PARAM) && !(fl & TN_NO_DECAY);
}

void tn_nn_weight_noise_init(tn_nn_weight_noise *wn, float std, uint64_t seed)
{
    if (!wn || !(std >= 0.0f && isfinite(std)))
        tn_misuse("tn_nn_weight_noise_init", "std %g must be finite and >= 0", (double)std);
    *wn = (tn_nn_weight_noise){.std = std};
    tn_rng_seed(&wn->rng, seed, 7);
}

tn_status tn_nn_weight_noise_perturb(tn_nn_weight_noise *wn, tn_params *ps)
{
    if (wn->perturbed) tn_misuse("tn_nn_weight_noise_perturb", "already perturbed: restore first");
    if (wn->std == 0.0f) return TN_OK;
    const size_t n = tn_params_size(ps);
    if (wn->n != n) {
        float *p = realloc(wn->clean, n * sizeof *p);
        if (!p) return tn_error_set(TN_ERR_NOMEM, "tenet: weight noise: out of memory");
        wn->clean = p;
        wn->n = n;
    }
    float *v = tn_params_values(ps);
    memcpy(wn->clean, v, n * sizeof *v);
    for (size_t i = 0; i < tn_params_count(ps); i++) {
        if (!noisy(ps, i)) continue;
        tn_tensor *t = tn_params_at(ps, i);
        double sq = 0.0;
        for (size_t j = 0; j < t->numel; j++) sq += (double)t->data[j] * t->data[j];
        const float sd = wn->std * (float)sqrt(sq / (double)(t->numel ? t->numel : 1));
        for (size_t j = 0; j < t->numel; j++) t->data[j] += sd * tn_rng_normal(&wn->rng);
    }
    wn->perturbed = true;
    return TN_OK;
}

void tn_nn_weight_noise_restore(tn_nn_weight_noise *wn, tn_params *ps)
{
    if (!wn->perturbed) return;
    /* Parameters only: the running statistics keep this step's update. */
    float *v = tn_params_values(ps);
    for (size_t i = 0; i < tn_params_count(ps); i++) {
        if (!noisy(ps, i)) continue;
        const size_t off = tn_params_offset(ps, i);
        memcpy(v + off, wn->clean + off, tn_params_at(ps, i)->numel * sizeof *v);
    }
    wn->perturbed = false;
}

void tn_nn_weight_noise_free(tn_nn_weight_noise *wn)
{
    if (!wn) return;
    free(wn->clean);
    wn->clean = NULL;
    wn->n = 0;
}
