/* optim/schedulefree.c - schedule-free SGD and AdamW (Defazio et al. 2024,
 * "The Road Less Scheduled"), after the authors' schedulefree package
 * (SGDScheduleFree, AdamWScheduleFree) and Optax's contrib.schedule_free:
 *
 *   y_t = (1 − β)·z_t + β·x_t            the store's weights while training
 *   z_{t+1} = z_t − γ_t·u_t              u_t the base direction at y_t
 *   x_{t+1} = (1 − c_{t+1})·x_t + c_{t+1}·z_{t+1}
 *   c_{t+1} = w_{t+1}/Σ_{i<=t+1} w_i,  w_i = i^r·lr_max^p
 *
 * γ_t is the lr given to tn_optim_step (warm-up and any schedule come from
 * there), lr_max the largest γ so far, p = weight_lr_power.  sf-sgd: u = g;
 * sf-adamw: v ← β2·v + (1 − β2)·g², u = g/(√(v/(1 − β2^t)) + ε).  The
 * package keeps only z and recovers x from y and z by a lerp; tenet keeps x
 * too, so the eval weights are x exactly and y is always recomputed from
 * (z, x) by the same expression (bit-identical resume).  Decay (coupled:
 * λ·y added to g; decoupled modes: k·y added to u) is applied at y, as the
 * package does. */
#include "internal.h"

#include <math.h>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define KERNEL __attribute__((target_clones("fma", "default")))
#else
#define KERNEL
#endif

double tn_sf_prepare(const tn_optim_config *h, int64_t t, double lr, double *lr_max,
                     double *weight_sum)
{
    if (lr > *lr_max) *lr_max = lr;
    const double weight = pow((double)t, h->sf_r) * pow(*lr_max, h->weight_lr_power);
    *weight_sum += weight;
    return *weight_sum > 0.0 ? weight / *weight_sum : 0.0;
}

/* u + k·y, the decay term dropped where cautious and sign(u) != sign(y). */
static inline float with_decay(float u, float y, float k, bool cautious)
{
    if (k == 0.0f || (cautious && !(u * y > 0.0f))) return u;
    return fmaf(k, y, u);
}

KERNEL void tn_kernel_sf_sgd(size_t n, float *w, const float *g, float *const *s,
                             const tn_kernel_args *a)
{
    float *z = s[0];
    const float wd = a->wd, k = (float)a->decay, neg_lr = (float)-a->lr;
    const bool cautious = a->cautious;
#pragma omp parallel for if (n >= TN_OPTIM_PAR_MIN) schedule(static)
    for (size_t i = 0; i < n; i++) {
        const float u = wd != 0.0f ? fmaf(w[i], wd, g[i]) : g[i];
        z[i] = fmaf(neg_lr, with_decay(u, w[i], k, cautious), z[i]);
    }
}

KERNEL void tn_kernel_sf_adamw(size_t n, float *w, const float *g, float *const *s,
                               const tn_kernel_args *a)
{
    const tn_optim_config *h = a->h;
    float *z = s[0], *v = s[2];
    const float wd = a->wd, k = (float)a->decay, neg_lr = (float)-a->lr;
    const float b2 = (float)h->beta2, one_m_b2 = (float)(1.0 - h->beta2), eps = (float)h->eps;
    const float bc2 = (float)(1.0 - pow(h->beta2, (double)a->t));
    const bool cautious = a->cautious;
#pragma omp parallel for if (n >= TN_OPTIM_PAR_MIN) schedule(static)
    for (size_t i = 0; i < n; i++) {
        const float gi = wd != 0.0f ? fmaf(w[i], wd, g[i]) : g[i];
        v[i] = fmaf(one_m_b2 * gi, gi, v[i] * b2);
        const float u = gi / (sqrtf(v[i] / bc2) + eps);
        z[i] = fmaf(neg_lr, with_decay(u, w[i], k, cautious), z[i]);
    }
}

KERNEL void tn_sf_finish(size_t n, float *y, const float *z, float *x, double c, double beta)
{
    const float cf = (float)c, bf = (float)beta;
#pragma omp parallel for if (n >= TN_OPTIM_PAR_MIN) schedule(static)
    for (size_t i = 0; i < n; i++) {
        if (cf != 0.0f) x[i] = fmaf(cf, z[i] - x[i], x[i]);
        y[i] = fmaf(bf, x[i] - z[i], z[i]);
    }
}
