/* optim/kernels.c - one optimizer step on flat arrays, per algorithm.
 *
 * Each kernel mirrors PyTorch 1.13's _single_tensor_<name>() (torch/optim/
 * <name>.py) operation for operation: Python-side scalars (bias corrections,
 * step sizes) are computed in double and rounded to float where PyTorch
 * hands them to a float32 tensor op; tensor ops are float32 in PyTorch's
 * order, e.g. addcmul_(a, b, value=s) is self + (s·a)·b and addcdiv_(a, b,
 * value=s) is self + (s·a)/b.  PyTorch's AVX2 kernels fuse add_(x, alpha=s)
 * (self + s·x) and addcmul into one rounding (vec::fmadd, contracted
 * multiply-adds), so those are fmaf() here: with them every kernel matches
 * torch.optim to the bit on the fixture's gradients (tests/optim).  The
 * element loops are independent, so a parallel loop gives identical results. */
#include "internal.h"

#include <math.h>

/* With hardware FMA, fmaf() is one instruction and the loops vectorise; the
 * default clone calls libm's fmaf().  Both round exactly once, so the two
 * clones give bit-identical results. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define KERNEL __attribute__((target_clones("fma", "default")))
#else
#define KERNEL
#endif

/* torch.maximum: NaN if either is NaN. */
static inline float max_nan(float a, float b)
{
    if (isnan(a) || isnan(b)) return NAN;
    return a > b ? a : b;
}

/* g + wd·w: PyTorch's weight_decay (grad.add(param, alpha=wd)). */
static inline float coupled(float g, float w, float wd)
{
    return wd != 0.0f ? fmaf(w, wd, g) : g;
}

KERNEL void tn_kernel_sgd(size_t n, float *w, const float *g, float *const *s,
                          const tn_kernel_args *a)
{
    const tn_optim_config *h = a->h;
    float *buf = s[0];
    const float wd = a->wd;
    const double lr = a->lr;
    const int64_t t = a->t;
    const float mu = (float)h->momentum, damp = (float)(1.0 - h->dampening);
    const float neg_lr = (float)-lr;
    const bool use_buf = h->momentum != 0.0 && buf, nesterov = h->nesterov, first = t == 1;
#pragma omp parallel for if (n >= TN_OPTIM_PAR_MIN) schedule(static)
    for (size_t i = 0; i < n; i++) {
        float d = coupled(g[i], w[i], wd);
        if (use_buf) {
            /* The buffer starts as the first gradient (no dampening). */
            buf[i] = first ? d : fmaf(d, damp, buf[i] * mu);
            d = nesterov ? fmaf(buf[i], mu, d) : buf[i];
        }
        w[i] = fmaf(d, neg_lr, w[i]);
    }
}

KERNEL void tn_kernel_adagrad(size_t n, float *w, const float *g, float *const *s,
                              const tn_kernel_args *a)
{
    const tn_optim_config *h = a->h;
    float *sum = s[0];
    const float wd = a->wd;
    const double lr = a->lr;
    const int64_t t = a->t;
    const double clr = lr / (1.0 + (double)(t - 1) * h->lr_decay);
    const float neg_clr = (float)-clr, eps = (float)h->eps;
#pragma omp parallel for if (n >= TN_OPTIM_PAR_MIN) schedule(static)
    for (size_t i = 0; i < n; i++) {
        float gi = coupled(g[i], w[i], wd);
        sum[i] = fmaf(gi, gi, sum[i]);
        float std = sqrtf(sum[i]) + eps;
        w[i] = w[i] + neg_clr * gi / std;
    }
}

KERNEL void tn_kernel_adadelta(size_t n, float *w, const float *g, float *const *s,
                               const tn_kernel_args *a)
{
    const tn_optim_config *h = a->h;
    float *sq = s[0], *acc = s[1];
    const float wd = a->wd;
    const double lr = a->lr;
    const float rho = (float)h->rho, one_m_rho = (float)(1.0 - h->rho);
    const float eps = (float)h->eps, neg_lr = (float)-lr;
#pragma omp parallel for if (n >= TN_OPTIM_PAR_MIN) schedule(static)
    for (size_t i = 0; i < n; i++) {
        float gi = coupled(g[i], w[i], wd);
        sq[i] = fmaf(one_m_rho * gi, gi, sq[i] * rho);
        float std = sqrtf(sq[i] + eps);
        float delta = sqrtf(acc[i] + eps) / std * gi;
        acc[i] = fmaf(one_m_rho * delta, delta, acc[i] * rho);
        w[i] = fmaf(delta, neg_lr, w[i]);
    }
}

KERNEL void tn_kernel_rmsprop(size_t n, float *w, const float *g, float *const *s,
                              const tn_kernel_args *args)
{
    const tn_optim_config *h = args->h;
    float *sq = s[0], *buf = s[1], *gavg = s[2];
    const float wd = args->wd;
    const double lr = args->lr;
    const float a = (float)h->alpha, one_m_a = (float)(1.0 - h->alpha);
    const float eps = (float)h->eps, mu = (float)h->momentum, neg_lr = (float)-lr;
    const bool centered = h->centered && gavg, use_buf = h->momentum > 0.0 && buf;
#pragma omp parallel for if (n >= TN_OPTIM_PAR_MIN) schedule(static)
    for (size_t i = 0; i < n; i++) {
        float gi = coupled(g[i], w[i], wd);
        sq[i] = fmaf(one_m_a * gi, gi, sq[i] * a);
        float avg;
        if (centered) {
            gavg[i] = fmaf(gi, one_m_a, gavg[i] * a);
            avg = sqrtf(fmaf(-1.0f * gavg[i], gavg[i], sq[i]));
        } else {
            avg = sqrtf(sq[i]);
        }
        avg = avg + eps;
        if (use_buf) {
            buf[i] = buf[i] * mu + gi / avg;
            w[i] = fmaf(buf[i], neg_lr, w[i]);
        } else {
            w[i] = w[i] + neg_lr * gi / avg;
        }
    }
}

KERNEL void tn_kernel_adam(size_t n, float *w, const float *g, float *const *s,
                           const tn_kernel_args *a)
{
    const tn_optim_config *h = a->h;
    float *m = s[0], *v = s[1], *vmax = s[2];
    const float wd = a->wd;
    const double lr = a->lr;
    const int64_t t = a->t;
    const double bc1 = 1.0 - pow(h->beta1, (double)t);
    const double bc2 = 1.0 - pow(h->beta2, (double)t);
    const float neg_step = (float)-(lr / bc1), bc2_sqrt = (float)sqrt(bc2);
    const float b1 = (float)h->beta1, one_m_b1 = (float)(1.0 - h->beta1);
    const float b2 = (float)h->beta2, one_m_b2 = (float)(1.0 - h->beta2);
    const float eps = (float)h->eps;
    const bool ams = h->amsgrad && vmax;
#pragma omp parallel for if (n >= TN_OPTIM_PAR_MIN) schedule(static)
    for (size_t i = 0; i < n; i++) {
        float gi = coupled(g[i], w[i], wd);
        m[i] = fmaf(gi, one_m_b1, m[i] * b1);
        v[i] = fmaf(one_m_b2 * gi, gi, v[i] * b2);
        float s = v[i];
        if (ams) s = vmax[i] = max_nan(vmax[i], v[i]);
        float denom = sqrtf(s) / bc2_sqrt + eps;
        w[i] = w[i] + neg_step * m[i] / denom;
    }
}

double tn_nadam_mu(const tn_optim_config *h, int64_t t)
{
    return h->beta1 * (1.0 - 0.5 * pow(0.96, (double)t * h->momentum_decay));
}

KERNEL void tn_kernel_nadam(size_t n, float *w, const float *g, float *const *s,
                            const tn_kernel_args *a)
{
    const tn_optim_config *h = a->h;
    float *m = s[0], *v = s[1];
    const float wd = a->wd, mu_product = a->mu_product;
    const double lr = a->lr;
    const int64_t t = a->t;
    const double bc2 = 1.0 - pow(h->beta2, (double)t);
    const double mu = tn_nadam_mu(h, t), mu_next = tn_nadam_mu(h, t + 1);
    /* mu_product_next = mu_product * mu * mu_next, in float32 tensors. */
    const float mu_product_next = (mu_product * (float)mu) * (float)mu_next;
    const float c_grad = (float)(-lr * (1.0 - mu) / (1.0 - (double)mu_product));
    const float c_avg = (float)(-lr * mu_next / (1.0 - (double)mu_product_next));
    const float b1 = (float)h->beta1, one_m_b1 = (float)(1.0 - h->beta1);
    const float b2 = (float)h->beta2, one_m_b2 = (float)(1.0 - h->beta2);
    const float eps = (float)h->eps, bc2f = (float)bc2;
#pragma omp parallel for if (n >= TN_OPTIM_PAR_MIN) schedule(static)
    for (size_t i = 0; i < n; i++) {
        float gi = coupled(g[i], w[i], wd);
        m[i] = fmaf(gi, one_m_b1, m[i] * b1);
        v[i] = fmaf(one_m_b2 * gi, gi, v[i] * b2);
        float denom = sqrtf(v[i] / bc2f) + eps;
        float wi = w[i] + c_grad * gi / denom;
        w[i] = wi + c_avg * m[i] / denom;
    }
}

KERNEL void tn_kernel_radam(size_t n, float *w, const float *g, float *const *s,
                            const tn_kernel_args *a)
{
    const tn_optim_config *h = a->h;
    float *m = s[0], *v = s[1];
    const float wd = a->wd;
    const double lr = a->lr;
    const int64_t t = a->t;
    const double step = (double)t;
    const double bc1 = 1.0 - pow(h->beta1, step), bc2 = 1.0 - pow(h->beta2, step);
    const double rho_inf = 2.0 / (1.0 - h->beta2) - 1.0;
    const double rho_t = rho_inf - 2.0 * step * pow(h->beta2, step) / bc2;
    const bool rectify = rho_t > 5.0;
    const double rect =
        rectify ? sqrt((rho_t - 4.0) * (rho_t - 2.0) * rho_inf /
                       ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t))
                : 0.0;
    const float b1 = (float)h->beta1, one_m_b1 = (float)(1.0 - h->beta1);
    const float b2 = (float)h->beta2, one_m_b2 = (float)(1.0 - h->beta2);
    const float eps = (float)h->eps, bc1f = (float)bc1, lrf = (float)lr;
    const float rectf = (float)rect, bc2_sqrt = (float)sqrt(bc2);
#pragma omp parallel for if (n >= TN_OPTIM_PAR_MIN) schedule(static)
    for (size_t i = 0; i < n; i++) {
        float gi = coupled(g[i], w[i], wd);
        m[i] = fmaf(gi, one_m_b1, m[i] * b1);
        v[i] = fmaf(one_m_b2 * gi, gi, v[i] * b2);
        float corrected = m[i] / bc1f;
        float upd;
        if (rectify) {
            /* scalar / tensor is tensor.reciprocal() * scalar in PyTorch */
            float adaptive = (1.0f / (sqrtf(v[i]) + eps)) * bc2_sqrt;
            upd = corrected * lrf * adaptive * rectf;
        } else {
            upd = corrected * lrf;
        }
        w[i] = w[i] + -1.0f * upd;
    }
}

KERNEL void tn_kernel_adamax(size_t n, float *w, const float *g, float *const *s,
                             const tn_kernel_args *a)
{
    const tn_optim_config *h = a->h;
    float *m = s[0], *u = s[1];
    const float wd = a->wd;
    const double lr = a->lr;
    const int64_t t = a->t;
    const double clr = lr / (1.0 - pow(h->beta1, (double)t));
    const float neg_clr = (float)-clr, eps = (float)h->eps;
    const float b1 = (float)h->beta1, one_m_b1 = (float)(1.0 - h->beta1);
    const float b2 = (float)h->beta2;
#pragma omp parallel for if (n >= TN_OPTIM_PAR_MIN) schedule(static)
    for (size_t i = 0; i < n; i++) {
        float gi = coupled(g[i], w[i], wd);
        m[i] = fmaf(gi, one_m_b1, m[i] * b1);
        u[i] = max_nan(u[i] * b2, fabsf(gi) + eps);
        w[i] = w[i] + neg_clr * m[i] / u[i];
    }
}

/* The AdamW paper's Algorithm 1: m ← μ·m + lr_t·g (m_0 = 0, so m_1 = lr_1·g
 * as PyTorch's first step), w ← w − m.  lr_t = η_t·α: each gradient enters
 * the buffer at the lr of its own step. */
KERNEL void tn_kernel_sgd_paper(size_t n, float *w, const float *g, float *const *s,
                                const tn_kernel_args *a)
{
    float *m = s[0];
    const float wd = a->wd, mu = (float)a->h->momentum, lr = (float)a->lr;
    const bool use_m = a->h->momentum != 0.0 && m;
#pragma omp parallel for if (n >= TN_OPTIM_PAR_MIN) schedule(static)
    for (size_t i = 0; i < n; i++) {
        float d = coupled(g[i], w[i], wd);
        if (use_m) {
            m[i] = fmaf(d, lr, m[i] * mu);
            w[i] = w[i] - m[i];
        } else {
            w[i] = fmaf(d, -lr, w[i]);
        }
    }
}

/* ------------------------------------------------------------- modes
 * The decay of the schedule-scaled and proximal modes is w − d·w in one
 * fmaf: each weight's rounding is its own, so they average out over many
 * weights.  Multiplying by float32(1 − d) instead rounds one common factor,
 * which biases every weight the same way (at d = 1e-7 the mean decay is
 * ~15% too strong; below ~3e-8 the factor is 1 and nothing decays).  The
 * lr-scaled mode keeps PyTorch AdamW's own w·(1 − lr_t·λ). */

void tn_optim_scale(float *w, size_t n, float c)
{
#pragma omp parallel for if (n >= TN_OPTIM_PAR_MIN) schedule(static)
    for (size_t i = 0; i < n; i++) w[i] = w[i] * c;
}

/* PyTorch's AdamW: param.mul_(1 - lr * weight_decay). */
void tn_reg_decoupled_lr(size_t n, float *w, double lr_g, double eta, double lambda)
{
    (void)eta;
    tn_optim_scale(w, n, (float)(1.0 - lr_g * lambda));
}

/* w − d·w, one rounding per weight */
static KERNEL void decay_by(float *w, size_t n, float d)
{
#pragma omp parallel for if (n >= TN_OPTIM_PAR_MIN) schedule(static)
    for (size_t i = 0; i < n; i++) w[i] = fmaf(-d, w[i], w[i]);
}

void tn_reg_decoupled(size_t n, float *w, double lr_g, double eta, double lambda)
{
    (void)lr_g;
    decay_by(w, n, (float)(eta * lambda));
}

/* (w − step)/(1 + η_t·λ) = u − (η_t·λ/(1 + η_t·λ))·u with u = w − step, the
 * weight after the kernel: the same one-rounding form as the decoupled
 * decay (dividing by float32(1 + η_t·λ) would round a common factor). */
void tn_reg_prox_l2(size_t n, float *w, double lr_g, double eta, double lambda)
{
    (void)lr_g;
    const double d = eta * lambda;
    decay_by(w, n, (float)(d / (1.0 + d)));
}

/* Soft-thresholding: sign(w)·max(|w| − η_t·λ, 0), each weight's own rounding. */
void tn_reg_prox_l1(size_t n, float *w, double lr_g, double eta, double lambda)
{
    (void)lr_g;
    const float th = (float)(eta * lambda);
#pragma omp parallel for if (n >= TN_OPTIM_PAR_MIN) schedule(static)
    for (size_t j = 0; j < n; j++) {
        float a = fabsf(w[j]) - th;
        w[j] = a > 0.0f ? copysignf(a, w[j]) : 0.0f;
    }
}
