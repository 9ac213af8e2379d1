/* tensor/ops_norm.c - batch normalisation (fused forward and backward), the
 * fused relu(batch_norm(x) + residual), and inverted dropout. */
#include "internal.h"

#include "conv_internal.h"
#include "dist.h"

#include <math.h>

/* Hot loops are cloned for AVX2 where the toolchain can (the reductions are
 * vectorised, so a clone sums in a different order: results differ in the
 * last bits between machines, never between runs or thread counts). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define NORM_KERNEL __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define NORM_KERNEL
#endif

/* The reductions sum runs of BN_CHUNK floats in float vector lanes (at most
 * 16 terms a lane with AVX-512) and the runs in double: as accurate as
 * summing in double at these lengths, and twice as fast. */
#define BN_CHUNK 256

static size_t chunk_len(size_t n, size_t i0) { return n - i0 < BN_CHUNK ? n - i0 : BN_CHUNK; }

NORM_KERNEL double tn_norm_sum(const float *x, size_t n)
{
    double s = 0.0;
    for (size_t i0 = 0; i0 < n; i0 += BN_CHUNK) {
        const float *xc = x + i0;
        const size_t len = chunk_len(n, i0);
        float c = 0.0f;
#pragma omp simd reduction(+ : c)
        for (size_t i = 0; i < len; i++) c += xc[i];
        s += c;
    }
    return s;
}

/* sum (x - mu)^2 */
NORM_KERNEL double tn_norm_sum_sq_centered(const float *x, size_t n, double mu)
{
    const float m = (float)mu;
    double s = 0.0;
    for (size_t i0 = 0; i0 < n; i0 += BN_CHUNK) {
        const float *xc = x + i0;
        const size_t len = chunk_len(n, i0);
        float c = 0.0f;
#pragma omp simd reduction(+ : c)
        for (size_t i = 0; i < len; i++) {
            const float t = xc[i] - m;
            c += t * t;
        }
        s += c;
    }
    return s;
}

/* sum dz and sum dz * (x - mu), added to *sum_dz and *sum_dz_xc, with dz = dy,
 * or dy where y > 0 when y is given (after a relu). */
NORM_KERNEL void tn_norm_sums_dy(const float *dy, const float *y, const float *x, size_t n,
                                 float mu, double *sum_dz, double *sum_dz_xc)
{
    double a = 0.0, b = 0.0;
    for (size_t i0 = 0; i0 < n; i0 += BN_CHUNK) {
        const float *gb = dy + i0, *xb = x + i0, *yb = y ? y + i0 : NULL;
        const size_t len = chunk_len(n, i0);
        float ca = 0.0f, cb = 0.0f;
        if (yb) {
#pragma omp simd reduction(+ : ca, cb)
            for (size_t i = 0; i < len; i++) {
                const float dz = yb[i] > 0.0f ? gb[i] : 0.0f;
                ca += dz;
                cb += dz * (xb[i] - mu);
            }
        } else {
#pragma omp simd reduction(+ : ca, cb)
            for (size_t i = 0; i < len; i++) {
                ca += gb[i];
                cb += gb[i] * (xb[i] - mu);
            }
        }
        a += ca;
        b += cb;
    }
    *sum_dz += a;
    *sum_dz_xc += b;
}

/* ------------------------------------------------------------ batch norm
 * x (N, C) or (N, C, H, W) is seen as (N, C, S) with S = H*W (or 1); the
 * statistics of channel c run over its N*S values.  tn_batch_norm and the
 * fused tn_batch_norm_relu (relu(bn(x) + residual)) share this code; the
 * fused op keeps one output instead of three and makes one pass instead of
 * three in each direction.
 *
 * Statistics: per (n, c) plane its mean and centred sum of squares (float
 * runs summed in double, see BN_CHUNK) while the plane is in cache; planes
 * are combined exactly (Chan et al.), in a fixed order: results do not
 * depend on the thread count. */

typedef struct bn_attr {
    float momentum, eps;
    int gamma, beta, residual;             /* input index, 0 when absent */
    bool relu;
    tn_tensor *running_mean, *running_var; /* (C) or NULL */
    bool training;
    bool sync;                             /* statistics over every rank (dist.h) */
    float *mean, *invstd;                  /* (C) each, saved by forward */
    /* (N, C, 2): each plane's sums of dz and dz * (x - mean), made by the
     * conv2d whose backward finishes the output's gradient; else NULL. */
    double *dsums;
} bn_attr;

typedef struct bn_dims {
    int n, c;
    size_t s; /* spatial size */
} bn_dims;

static bn_dims bn_dims_of(const tn_tensor *x)
{
    bn_dims d = {.n = x->shape[0], .c = x->shape[1], .s = 1};
    for (int i = 2; i < x->ndim; i++) d.s *= (size_t)x->shape[i];
    return d;
}

static void bn_check(tn_tensor *out)
{
    const bn_attr *at = out->attr;
    const tn_tensor *x = out->in[0];
    TN_REQUIRE(out, x->ndim >= 2, "x must be (N, C), (N, C, L) or (N, C, H, W)");
    const int c = x->shape[1];
    if (at->gamma)
        TN_REQUIRE(out, out->in[at->gamma]->ndim == 1 && out->in[at->gamma]->shape[0] == c,
                   "gamma must be (C) = (%d)", c);
    if (at->beta)
        TN_REQUIRE(out, out->in[at->beta]->ndim == 1 && out->in[at->beta]->shape[0] == c,
                   "beta must be (C) = (%d)", c);
    if (at->residual)
        TN_REQUIRE(out, tn_same_shape(out->in[at->residual], x),
                   "the residual must have x's shape");
    const tn_tensor *rm = at->running_mean, *rv = at->running_var;
    TN_REQUIRE(out, (rm == NULL) == (rv == NULL),
               "running_mean and running_var must both be given or both be NULL");
    if (rm) {
        char b1[64], b2[64];
        TN_REQUIRE(out, rm->ndim == 1 && rm->shape[0] == c && rv->ndim == 1 && rv->shape[0] == c,
                   "running_mean %s and running_var %s must be (C) = (%d)",
                   tn_shape_str(rm, b1, sizeof b1), tn_shape_str(rv, b2, sizeof b2), c);
    }
    TN_REQUIRE(out, at->training || rm, "eval mode needs running_mean and running_var");
    TN_REQUIRE(out, !at->training || x->numel / (size_t)c > 1,
               "train mode needs more than 1 value per channel");
    TN_REQUIRE(out, at->eps >= 0.0f && at->momentum >= 0.0f && at->momentum <= 1.0f,
               "eps %g must be >= 0 and momentum %g in [0, 1]", (double)at->eps,
               (double)at->momentum);
    tn_set_shape(out, x->ndim, x->shape);
}

/* y = (x - mu) * k + b (+ r), then max(y, 0) if relu: one plane of s floats. */
NORM_KERNEL static void bn_apply(float *y, const float *x, const float *r, size_t s, float mu,
                                 float k, float b, bool relu)
{
    if (r && relu) {
#pragma omp simd
        for (size_t i = 0; i < s; i++) {
            float v = (x[i] - mu) * k + b + r[i];
            y[i] = v > 0.0f ? v : 0.0f;
        }
    } else if (r) {
#pragma omp simd
        for (size_t i = 0; i < s; i++) y[i] = (x[i] - mu) * k + b + r[i];
    } else if (relu) {
#pragma omp simd
        for (size_t i = 0; i < s; i++) {
            float v = (x[i] - mu) * k + b;
            y[i] = v > 0.0f ? v : 0.0f;
        }
    } else {
#pragma omp simd
        for (size_t i = 0; i < s; i++) y[i] = (x[i] - mu) * k + b;
    }
}

/* Channel c from its mean and centred sum of squares m2 over m values: the
 * running statistics, the saved mean and 1/std. */
static void bn_channel_forward(tn_tensor *out, int c, double mean, double m2, double m)
{
    const bn_attr *at = out->attr;
    float *rm = at->running_mean ? at->running_mean->data : NULL;
    float *rv = at->running_var ? at->running_var->data : NULL;
    const double mom = at->momentum;
    const double invstd = 1.0 / sqrt(m2 / m + (double)at->eps);
    if (rm) {
        rm[c] = (float)((1.0 - mom) * rm[c] + mom * mean);
        rv[c] = (float)((1.0 - mom) * rv[c] + mom * (m2 / (m - 1.0)));
    }
    at->mean[c] = (float)mean;
    at->invstd[c] = (float)invstd;
}

static void bn_forward(tn_graph *g, tn_tensor *out)
{
    bn_attr *at = out->attr;
    const tn_tensor *x = out->in[0];
    const bn_dims d = bn_dims_of(x);
    const float *gamma = at->gamma ? out->in[at->gamma]->data : NULL;
    const float *beta = at->beta ? out->in[at->beta]->data : NULL;
    const float *res = at->residual ? out->in[at->residual]->data : NULL;
    float *rm = at->running_mean ? at->running_mean->data : NULL;
    float *rv = at->running_var ? at->running_var->data : NULL;
    if (!(at->mean = tn_graph_floats(g, (size_t)d.c)) ||
        !(at->invstd = tn_graph_floats(g, (size_t)d.c)))
        return;
    float *mean_s = at->mean, *invstd_s = at->invstd;
    const double m = (double)d.n * (double)d.s;
    const size_t cs = (size_t)d.c * d.s;
    const bool training = at->training, relu = at->relu;
    const double eps = at->eps;

    if (training) {
        /* Every channel's moments (synchronised: merged over the ranks),
         * then the planes applied in memory order. */
        double *cnt = NULL, *mean_d = NULL, *m2_d = NULL;
        const double *pmom = tn_conv2d_plane_moments(x); /* made by x's conv2d, or NULL */
        if (at->sync && !((cnt = tn_graph_alloc(g, 3 * (size_t)d.c * sizeof(double))))) return;
        if (cnt) mean_d = cnt + d.c, m2_d = cnt + 2 * d.c;
#pragma omp parallel for schedule(static) if (x->numel >= TN_PAR_MIN)
        for (int c = 0; c < d.c; c++) {
            /* Plane by plane: its mean, its centred squares; merged. */
            double mean = 0.0, m2 = 0.0, count = 0.0;
            for (int n = 0; n < d.n; n++) {
                double mom[2];
                if (pmom) {
                    mom[0] = pmom[2 * ((size_t)n * d.c + c)];
                    mom[1] = pmom[2 * ((size_t)n * d.c + c) + 1];
                } else {
                    tn_bn_plane_moments(x->data + (size_t)n * cs + (size_t)c * d.s, d.s, mom);
                }
                const double pm = mom[0], pq = mom[1];
                const double total = count + (double)d.s, delta = pm - mean;
                mean += delta * ((double)d.s / total);
                m2 += pq + delta * delta * (count * (double)d.s / total);
                count = total;
            }
            if (cnt) {
                cnt[c] = count, mean_d[c] = mean, m2_d[c] = m2;
                continue;
            }
            bn_channel_forward(out, c, mean, m2, m);
        }
        if (cnt) {
            tn_status st = tn_dist_merge_moments((size_t)d.c, cnt, mean_d, m2_d);
            if (st != TN_OK) {
                tn_graph_poison(g, st);
                return;
            }
            for (int c = 0; c < d.c; c++) bn_channel_forward(out, c, mean_d[c], m2_d[c], cnt[c]);
        }
    } else {
        for (int c = 0; c < d.c; c++) {
            mean_s[c] = rm[c];
            invstd_s[c] = (float)(1.0 / sqrt((double)rv[c] + eps));
        }
    }
    /* Independent planes in memory order, all threads. */
    const long planes = (long)d.n * d.c;
#pragma omp parallel for schedule(static) if (x->numel >= TN_PAR_MIN)
    for (long pl = 0; pl < planes; pl++) {
        const int c = (int)(pl % d.c);
        const size_t off = (size_t)pl * d.s;
        const float k = invstd_s[c] * (gamma ? gamma[c] : 1.0f);
        bn_apply(out->data + off, x->data + off, res ? res + off : NULL, d.s, mean_s[c], k,
                 beta ? beta[c] : 0.0f, relu);
    }
}

/* The gradient buffer of t for this backward: t's own, to add into, or, when
 * t has none yet, `dead` (a buffer of t's size that nothing reads after this
 * backward) or a fresh one, to write into (*fresh set).  NULL if t needs no
 * gradient. */
static float *grad_for(tn_graph *g, tn_tensor *t, float *dead, bool *fresh)
{
    *fresh = false;
    if (!t->requires_grad) return NULL;
    if (t->grad) return t->grad;
    *fresh = true;
    t->grad = dead ? dead : tn_graph_floats(g, t->numel);
    return t->grad;
}

typedef struct bn_dx_coef {
    float mu, mean_dz, proj, k;
} bn_dx_coef;

/* One plane of s values: dz = gp, or gp where yp > 0 (yp given: after a
 * relu); rp = dz or rp += dz (rp given); dp = dx or dp += dx (dp given), dx =
 * (dz - mean_dz - (xp - mu) * proj) * k.  dp may be gp itself (the same
 * index only): no restrict, and omp simd. */
NORM_KERNEL static void bn_dx_plane(size_t s, const float *gp, const float *yp, const float *xp,
                                    float *dp, bool dp_fresh, float *rp, bool rp_fresh,
                                    bn_dx_coef cf)
{
    const float mu = cf.mu, mean_dz = cf.mean_dz, proj = cf.proj, k = cf.k;
#define BN_LOOP(DZ, BODY)                                                                  \
    do {                                                                                   \
        _Pragma("omp simd") for (size_t i = 0; i < s; i++)                                 \
        {                                                                                  \
            const float g = gp[i], dz = (DZ);                                              \
            BODY;                                                                          \
        }                                                                                  \
    } while (0)
#define BN_DX ((dz - mean_dz - (xp[i] - mu) * proj) * k)
#define MASKED (yp[i] > 0.0f ? g : 0.0f)
    if (yp) {
        if (rp && rp_fresh) BN_LOOP(MASKED, rp[i] = dz);
        else if (rp) BN_LOOP(MASKED, rp[i] += dz);
        if (dp && dp_fresh) BN_LOOP(MASKED, dp[i] = BN_DX);
        else if (dp) BN_LOOP(MASKED, dp[i] += BN_DX);
    } else {
        if (rp && rp_fresh) BN_LOOP(g, rp[i] = dz);
        else if (rp) BN_LOOP(g, rp[i] += dz);
        if (dp && dp_fresh) BN_LOOP(g, dp[i] = BN_DX);
        else if (dp) BN_LOOP(g, dp[i] += BN_DX);
    }
#undef MASKED
#undef BN_DX
#undef BN_LOOP
}

/* The dx coefficients of channel c from the means of dz and dz * (x - mean)
 * over the statistics' values. */
static bn_dx_coef bn_channel_coef(const tn_tensor *out, int c, double mean_dz, double mean_dz_xc)
{
    const bn_attr *at = out->attr;
    const float *gamma = at->gamma ? out->in[at->gamma]->data : NULL;
    const float mu = at->mean[c], is = at->invstd[c];
    const float k = is * (gamma ? gamma[c] : 1.0f);
    const float mdz = at->training ? (float)mean_dz : 0.0f;
    const float proj = at->training ? (float)(mean_dz_xc * is * is) : 0.0f;
    return (bn_dx_coef){mu, mdz, proj, k};
}

/* dx (into gx) and dresidual (into gr) of every plane, in memory order. */
static void bn_planes_backward(const tn_tensor *out, bn_dims d, const bn_dx_coef *cf, float *gx,
                               bool gx_fresh, float *gr, bool gr_fresh)
{
    const bn_attr *at = out->attr;
    const tn_tensor *x = out->in[0];
    const long planes = (long)d.n * d.c;
#pragma omp parallel for schedule(static) if (x->numel >= TN_PAR_MIN)
    for (long pl = 0; pl < planes; pl++) {
        const size_t off = (size_t)pl * d.s;
        bn_dx_plane(d.s, out->grad + off, at->relu ? out->data + off : NULL, x->data + off,
                    gx ? gx + off : NULL, gx_fresh, gr ? gr + off : NULL, gr_fresh,
                    cf[pl % d.c]);
    }
}

/* Train:  dx = (dz - mean(dz) - x_hat * mean(dz * x_hat)) * invstd * gamma
 * Eval:   dx = dz * invstd * gamma  (the statistics are constants)
 * Both:   dgamma = sum(dz * x_hat), dbeta = sum(dz), dresidual = dz, with
 *         dz = dy, or dy * (y > 0) after a relu; x_hat is recomputed.
 * The output's gradient is dead after this: x's gradient takes its buffer
 * when x has none yet (computed in place, element by element). */
static void bn_backward(tn_graph *g, tn_tensor *out)
{
    const bn_attr *at = out->attr;
    tn_tensor *x = out->in[0];
    tn_tensor *rt = at->residual ? out->in[at->residual] : NULL;
    const bn_dims d = bn_dims_of(x);
    bool gx_fresh = false, gr_fresh = false;
    /* The residual first: if it is x itself, both share one buffer, added to. */
    float *gr = rt && rt != x ? grad_for(g, rt, NULL, &gr_fresh) : NULL;
    float *gx = grad_for(g, x, rt == x ? NULL : out->grad, &gx_fresh);
    if (rt == x && gx_fresh) memset(gx, 0, x->numel * sizeof(float));
    if (rt == x && gx) gr = gx, gr_fresh = gx_fresh = false;
    float *ggamma = at->gamma ? tn_grad(g, out->in[at->gamma]) : NULL;
    float *gbeta = at->beta ? tn_grad(g, out->in[at->beta]) : NULL;
    if (tn_graph_status(g) != TN_OK || (gx_fresh && !gx) || (gr_fresh && !gr)) return;
    const double m = (double)d.n * (double)d.s;
    const size_t cs = (size_t)d.c * d.s;
    const float *gy = out->grad, *y = out->data;
    const bool relu = at->relu, training = at->training;
    /* Synchronised: the sums of every channel first, weighted by this
     * rank's share of the loss and summed over the ranks, for dx; dgamma and
     * dbeta keep this rank's own sums (the gradient all-reduce adds them). */
    double *sums = NULL;
    if (at->sync && training && !(sums = tn_graph_alloc(g, 4 * (size_t)d.c * sizeof(double)))) return;
    bn_dx_coef *cf = tn_graph_alloc(g, (size_t)d.c * sizeof *cf);
    if (!cf) return;
#pragma omp parallel for schedule(static) if (x->numel >= TN_PAR_MIN)
    for (int c = 0; c < d.c; c++) {
        const float mu = at->mean[c], is = at->invstd[c];
        double sum_dz = 0.0, sum_dz_xc = 0.0; /* xc = x - mean */
        for (int n = 0; n < d.n; n++) {
            if (at->dsums) { /* the planes' sums, as sums_dy adds them */
                sum_dz += at->dsums[2 * ((size_t)n * d.c + c)];
                sum_dz_xc += at->dsums[2 * ((size_t)n * d.c + c) + 1];
                continue;
            }
            const size_t off = (size_t)n * cs + (size_t)c * d.s;
            tn_norm_sums_dy(gy + off, relu ? y + off : NULL, x->data + off, d.s, mu, &sum_dz,
                            &sum_dz_xc);
        }
        if (ggamma) ggamma[c] += (float)(sum_dz_xc * is);
        if (gbeta) gbeta[c] += (float)sum_dz;
        if (sums) {
            sums[c] = sum_dz, sums[d.c + c] = sum_dz_xc;
            continue;
        }
        cf[c] = bn_channel_coef(out, c, sum_dz / m, sum_dz_xc / m);
    }
    if (!gx && !gr) return;
    if (!sums) {
        bn_planes_backward(out, d, cf, gx, gx_fresh, gr, gr_fresh);
        return;
    }
    const double w = tn_graph_rank_weight(g);
    for (int c = 0; c < 2 * d.c; c++) sums[2 * d.c + c] = sums[c] * w;
    tn_status st = tn_dist_sum_d(sums + 2 * d.c, 2 * (size_t)d.c);
    if (st != TN_OK) {
        tn_graph_poison(g, st);
        return;
    }
    /* The global means of dz and dz * xc in this rank's units: over the
     * global count M, divided by w; M * w = m (w = this rank's rows / all). */
    const double *all = sums + 2 * d.c;
    for (int c = 0; c < d.c; c++) cf[c] = bn_channel_coef(out, c, all[c] / m, all[d.c + c] / m);
    bn_planes_backward(out, d, cf, gx, gx_fresh, gr, gr_fresh);
}

void tn_bn_plane_moments(const float *x, size_t s, double mom[2])
{
    mom[0] = tn_norm_sum(x, s) / (double)s;
    mom[1] = tn_norm_sum_sq_centered(x, s, mom[0]);
}

bool tn_bn_dsums_begin(tn_graph *g, const tn_tensor *y)
{
    bn_attr *at = y->attr;
    if (!(y->op == &tn_op_batch_norm || y->op == &tn_op_batch_norm_relu) || !at->training)
        return false;
    const bn_dims d = bn_dims_of(y);
    at->dsums = tn_graph_alloc(g, 2 * (size_t)d.n * d.c * sizeof(double));
    return at->dsums != NULL;
}

void tn_bn_dsums_images(const tn_tensor *y, int n0, int m)
{
    const bn_attr *at = y->attr;
    const bn_dims d = bn_dims_of(y);
    const size_t cs = (size_t)d.c * d.s;
    for (int n = n0; n < n0 + m; n++)
        for (int c = 0; c < d.c; c++) {
            const size_t off = (size_t)n * cs + (size_t)c * d.s;
            double *ps = at->dsums + 2 * ((size_t)n * d.c + c);
            ps[0] = ps[1] = 0.0;
            tn_norm_sums_dy(y->grad + off, at->relu ? y->data + off : NULL, y->in[0]->data + off, d.s,
                            at->mean[c], &ps[0], &ps[1]);
        }
}

const tn_op tn_op_batch_norm = {.name = "batch_norm", .check = bn_check, .forward = bn_forward,
                                .backward = bn_backward};
const tn_op tn_op_batch_norm_relu = {.name = "batch_norm_relu", .check = bn_check,
                                     .forward = bn_forward, .backward = bn_backward};

static tn_tensor *bn_apply_op(tn_graph *g, const tn_op *op, tn_tensor *x, tn_tensor *gamma,
                              tn_tensor *beta, tn_tensor *running_mean, tn_tensor *running_var,
                              float momentum, float eps, tn_tensor *residual, bool relu)
{
    tn_tensor *in[4] = {x};
    int n_in = 1;
    bn_attr at = {.momentum = momentum, .eps = eps, .running_mean = running_mean,
                  .running_var = running_var, .training = tn_graph_training(g), .relu = relu,
                  .sync = tn_graph_sync_bn(g) && tn_graph_training(g)};
    if (gamma) at.gamma = n_in, in[n_in++] = gamma;
    if (beta) at.beta = n_in, in[n_in++] = beta;
    if (residual) at.residual = n_in, in[n_in++] = residual;
    return tn_op_apply(g, op, n_in, in, &at, sizeof at);
}

tn_tensor *tn_batch_norm(tn_graph *g, tn_tensor *x, tn_tensor *gamma, tn_tensor *beta,
                         tn_tensor *running_mean, tn_tensor *running_var, float momentum,
                         float eps)
{
    return bn_apply_op(g, &tn_op_batch_norm, x, gamma, beta, running_mean, running_var,
                       momentum, eps, NULL, false);
}

tn_tensor *tn_batch_norm_relu(tn_graph *g, tn_tensor *x, tn_tensor *gamma, tn_tensor *beta,
                              tn_tensor *running_mean, tn_tensor *running_var, float momentum,
                              float eps, tn_tensor *residual)
{
    return bn_apply_op(g, &tn_op_batch_norm_relu, x, gamma, beta, running_mean, running_var,
                       momentum, eps, residual, true);
}

/* --------------------------------------------------------------- dropout
 * Train mode: each element is kept with probability 1 - p (one uniform draw
 * per element, in order, from the caller's rng) and scaled by 1 / (1 - p);
 * p = 1 drops everything.  Eval mode returns x itself. */

typedef struct dropout_attr {
    float p;
    tn_rng *rng;
    unsigned char *keep; /* numel flags, saved when a gradient is wanted */
} dropout_attr;

static void dropout_check(tn_tensor *out)
{
    const dropout_attr *at = out->attr;
    TN_REQUIRE(out, at->p >= 0.0f && at->p <= 1.0f, "p = %g must be in [0, 1]", (double)at->p);
    TN_REQUIRE(out, at->rng, "train mode needs an rng");
    tn_set_shape(out, out->in[0]->ndim, out->in[0]->shape);
}

static float dropout_scale(float p) { return p < 1.0f ? 1.0f / (1.0f - p) : 0.0f; }

static void dropout_forward(tn_graph *g, tn_tensor *out)
{
    dropout_attr *at = out->attr;
    const float *x = out->in[0]->data;
    const float scale = dropout_scale(at->p);
    at->keep = NULL;
    if (out->requires_grad && !(at->keep = tn_graph_alloc(g, out->numel))) return;
    for (size_t i = 0; i < out->numel; i++) {
        bool keep = tn_rng_uniform(at->rng) >= at->p;
        if (at->keep) at->keep[i] = keep;
        out->data[i] = keep ? x[i] * scale : 0.0f;
    }
}

static void dropout_backward(tn_graph *g, tn_tensor *out)
{
    const dropout_attr *at = out->attr;
    float *gx = tn_grad(g, out->in[0]);
    if (!gx) return;
    const float scale = dropout_scale(at->p);
    const float *gy = out->grad;
    const size_t n = out->numel;
#pragma omp parallel for schedule(static) if (n >= TN_PAR_MIN)
    for (size_t i = 0; i < n; i++)
        if (at->keep[i]) gx[i] += gy[i] * scale;
}

const tn_op tn_op_dropout = {.name = "dropout", .check = dropout_check,
                             .forward = dropout_forward, .backward = dropout_backward};

tn_tensor *tn_dropout(tn_graph *g, tn_tensor *x, float p, tn_rng *rng)
{
    if (tn_graph_status(g) != TN_OK) return NULL; /* a poisoned step: no checks */
    if (!x) tn_misuse("dropout", "x is NULL");
    if (!(p >= 0.0f && p <= 1.0f)) tn_misuse("dropout", "p = %g must be in [0, 1]", (double)p);
    if (!tn_graph_training(g)) return x;
    dropout_attr at = {.p = p, .rng = rng};
    return tn_op_apply(g, &tn_op_dropout, 1, &x, &at, sizeof at);
}
