/* optim/kernels_recent.c - the steps of Lion, LAMB, LARS, Adan and
 * AdaBelief on flat arrays (the optimizers after PyTorch 1.13's set).
 *
 * Each follows its paper's pseudo-code and its reference implementation
 * (docs/optim.md names them): scalars (bias corrections, step sizes, trust
 * ratios) in double, rounded to float once; element math in float32, with
 * fmaf() for each multiply-add, as the kernels of kernels.c.  LAMB and LARS
 * need the L2 norms of a whole tensor: the step loop hands a kernel one
 * tensor at a time, so they take them in a sequential double pass (the same
 * sum whatever the number of threads) between the element loops. */
#include "internal.h"

#include <math.h>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define KERNEL __attribute__((target_clones("fma", "default")))
#else
#define KERNEL
#endif

/* g + wd·w: the coupled mode's gradient. */
static inline float coupled(float g, float w, float wd)
{
    return wd != 0.0f ? fmaf(w, wd, g) : g;
}

/* √Σx² in double over n floats, in index order. */
static double norm2(const float *x, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)x[i] * x[i];
    return sqrt(s);
}

/* Lion: c = β1·m + (1 − β1)·g; w ← w − lr_t·sign(c); m ← β2·m + (1 − β2)·g.
 * sign(0) = 0 (torch.sign, jnp.sign). */
KERNEL void tn_kernel_lion(size_t n, float *w, const float *g, float *const *s,
                           const tn_kernel_args *a)
{
    float *m = s[0];
    const float wd = a->wd, lr = (float)a->lr;
    const float b1 = (float)a->h->beta1, one_m_b1 = (float)(1.0 - a->h->beta1);
    const float b2 = (float)a->h->beta2, one_m_b2 = (float)(1.0 - a->h->beta2);
#pragma omp parallel for if (n >= TN_OPTIM_PAR_MIN) schedule(static)
    for (size_t i = 0; i < n; i++) {
        float gi = coupled(g[i], w[i], wd);
        float c = fmaf(gi, one_m_b1, m[i] * b1);
        float sg = c > 0.0f ? 1.0f : c < 0.0f ? -1.0f : 0.0f;
        w[i] = fmaf(sg, -lr, w[i]);
        m[i] = fmaf(gi, one_m_b2, m[i] * b2);
    }
}

/* LAMB's update before the trust ratio: m̂/(√v̂ + ε) + λ_u·w. */
static inline float lamb_u(float m, float v, float w, float inv_bc1, float bc2_sqrt, float eps,
                           float wu)
{
    float u = (m * inv_bc1) / (sqrtf(v) / bc2_sqrt + eps);
    return wu != 0.0f ? fmaf(w, wu, u) : u;
}

/* LAMB: m, v as Adam's; u = m̂/(√v̂ + ε) (+ λ·w in mode decoupled-lr);
 * r = ‖w‖/‖u‖ (1 when either is 0); w ← w − lr_t·r·u. */
KERNEL void tn_kernel_lamb(size_t n, float *w, const float *g, float *const *s,
                           const tn_kernel_args *a)
{
    const tn_optim_config *h = a->h;
    float *m = s[0], *v = s[1];
    const float wd = a->wd, wu = a->wd_update;
    const double t = (double)a->t;
    const float inv_bc1 = (float)(1.0 / (1.0 - pow(h->beta1, t)));
    const float bc2_sqrt = (float)sqrt(1.0 - pow(h->beta2, t)), eps = (float)h->eps;
    const float b1 = (float)h->beta1, one_m_b1 = (float)(1.0 - h->beta1);
    const float b2 = (float)h->beta2, one_m_b2 = (float)(1.0 - h->beta2);
#pragma omp parallel for if (n >= TN_OPTIM_PAR_MIN) schedule(static)
    for (size_t i = 0; i < n; i++) {
        float gi = coupled(g[i], w[i], wd);
        m[i] = fmaf(gi, one_m_b1, m[i] * b1);
        v[i] = fmaf(one_m_b2 * gi, gi, v[i] * b2);
    }
    double uu = 0.0;
    for (size_t i = 0; i < n; i++) {
        double u = lamb_u(m[i], v[i], w[i], inv_bc1, bc2_sqrt, eps, wu);
        uu += u * u;
    }
    const double wn = norm2(w, n), un = sqrt(uu);
    const double ratio = wn > 0.0 && un > 0.0 ? wn / un : 1.0;
    const float neg_step = (float)(-a->lr * ratio);
#pragma omp parallel for if (n >= TN_OPTIM_PAR_MIN) schedule(static)
    for (size_t i = 0; i < n; i++)
        w[i] = fmaf(lamb_u(m[i], v[i], w[i], inv_bc1, bc2_sqrt, eps, wu), neg_step, w[i]);
}

/* LARS: r = κ·‖w‖/(‖g‖ + λ·‖w‖ + ε) (1 when either norm is 0; λ the coupled
 * mode's, else 0); d = r·(g + λ·w); b ← d at t = 1, μ·b + d afterwards;
 * w ← w − lr_t·b (w ← w − lr_t·d without momentum). */
KERNEL void tn_kernel_lars(size_t n, float *w, const float *g, float *const *s,
                           const tn_kernel_args *a)
{
    const tn_optim_config *h = a->h;
    float *buf = s[0];
    const float wd = a->wd, mu = (float)h->momentum, neg_lr = (float)-a->lr;
    const bool use_buf = h->momentum != 0.0 && buf, first = a->t == 1;
    const double wn = norm2(w, n), gn = norm2(g, n);
    const double ratio = wn > 0.0 && gn > 0.0
                             ? h->trust_coeff * wn / (gn + (double)wd * wn + h->eps)
                             : 1.0;
    const float r = (float)ratio;
#pragma omp parallel for if (n >= TN_OPTIM_PAR_MIN) schedule(static)
    for (size_t i = 0; i < n; i++) {
        float d = coupled(g[i], w[i], wd) * r;
        if (use_buf) {
            buf[i] = first ? d : fmaf(buf[i], mu, d);
            d = buf[i];
        }
        w[i] = fmaf(d, neg_lr, w[i]);
    }
}

/* Adan (the reference implementation's step, β's as its code writes them):
 * Δ = g − g_prev (0 at t = 1: g_0 = g_1); m ← β1·m + (1 − β1)·g;
 * d ← β2·d + (1 − β2)·Δ; z = g + β2·Δ; n ← β3·n + (1 − β3)·z²;
 * D = √n/√(1 − β3^t) + ε;
 * w ← w − lr_t/(1 − β1^t)·m/D − lr_t·β2/(1 − β2^t)·d/D; g_prev ← g. */
KERNEL void tn_kernel_adan(size_t n, float *w, const float *g, float *const *s,
                           const tn_kernel_args *a)
{
    const tn_optim_config *h = a->h;
    float *m = s[0], *d = s[1], *v = s[2], *prev = s[3];
    const float wd = a->wd;
    const double t = (double)a->t, lr = a->lr;
    const float neg_step = (float)(-lr / (1.0 - pow(h->beta1, t)));
    const float neg_step_diff = (float)(-lr * h->beta2 / (1.0 - pow(h->beta2, t)));
    const float bc3_sqrt = (float)sqrt(1.0 - pow(h->beta3, t)), eps = (float)h->eps;
    const float b1 = (float)h->beta1, one_m_b1 = (float)(1.0 - h->beta1);
    const float b2 = (float)h->beta2, one_m_b2 = (float)(1.0 - h->beta2);
    const float b3 = (float)h->beta3, one_m_b3 = (float)(1.0 - h->beta3);
    const bool first = a->t == 1;
#pragma omp parallel for if (n >= TN_OPTIM_PAR_MIN) schedule(static)
    for (size_t i = 0; i < n; i++) {
        float gi = coupled(g[i], w[i], wd);
        float diff = first ? 0.0f : gi - prev[i];
        m[i] = fmaf(gi, one_m_b1, m[i] * b1);
        d[i] = fmaf(diff, one_m_b2, d[i] * b2);
        float z = fmaf(diff, b2, gi);
        v[i] = fmaf(one_m_b3 * z, z, v[i] * b3);
        float denom = sqrtf(v[i]) / bc3_sqrt + eps;
        float wi = fmaf(neg_step, m[i] / denom, w[i]);
        w[i] = fmaf(neg_step_diff, d[i] / denom, wi);
        prev[i] = gi;
    }
}

/* AdaBelief (adabelief-pytorch 0.2, no rectification, no AMSGrad):
 * m ← β1·m + (1 − β1)·g; s ← β2·s + (1 − β2)·(g − m)² + ε;
 * w ← w − lr_t/(1 − β1^t)·m/(√s/√(1 − β2^t) + ε). */
KERNEL void tn_kernel_adabelief(size_t n, float *w, const float *g, float *const *s,
                                const tn_kernel_args *a)
{
    const tn_optim_config *h = a->h;
    float *m = s[0], *var = s[1];
    const float wd = a->wd;
    const double t = (double)a->t;
    const float neg_step = (float)(-a->lr / (1.0 - pow(h->beta1, t)));
    const float bc2_sqrt = (float)sqrt(1.0 - pow(h->beta2, t)), eps = (float)h->eps;
    const float b1 = (float)h->beta1, one_m_b1 = (float)(1.0 - h->beta1);
    const float b2 = (float)h->beta2, one_m_b2 = (float)(1.0 - h->beta2);
#pragma omp parallel for if (n >= TN_OPTIM_PAR_MIN) schedule(static)
    for (size_t i = 0; i < n; i++) {
        float gi = coupled(g[i], w[i], wd);
        m[i] = fmaf(gi, one_m_b1, m[i] * b1);
        float r = gi - m[i];
        var[i] = fmaf(one_m_b2 * r, r, var[i] * b2) + eps;
        float denom = sqrtf(var[i]) / bc2_sqrt + eps;
        w[i] = fmaf(neg_step, m[i] / denom, w[i]);
    }
}
