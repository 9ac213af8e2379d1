/* tensor/ops_norm.c - batch normalisation (fused forward and backward) and
 * inverted dropout. */
#include "internal.h"

#include <math.h>

/* Sums in double, in four independent chains (not latency-bound). */
static double sum_d(const float *x, size_t n)
{
    double s[4] = {0.0, 0.0, 0.0, 0.0};
    size_t i = 0;
    for (; i + 4 <= n; i += 4)
        for (int k = 0; k < 4; k++) s[k] += x[i + k];
    for (; i < n; i++) s[0] += x[i];
    return (s[0] + s[1]) + (s[2] + s[3]);
}

/* sum (x - mu)^2 */
static double sum_sq_centered(const float *x, size_t n, double mu)
{
    double s[4] = {0.0, 0.0, 0.0, 0.0};
    size_t i = 0;
    for (; i + 4 <= n; i += 4)
        for (int k = 0; k < 4; k++) {
            double t = x[i + k] - mu;
            s[k] += t * t;
        }
    for (; i < n; i++) s[0] += (x[i] - mu) * (x[i] - mu);
    return (s[0] + s[1]) + (s[2] + s[3]);
}

/* sum dy and sum dy * (x - mu), added to *sum_dy and *sum_dy_xc. */
static void sums_dy(const float *dy, const float *x, size_t n, float mu, double *sum_dy,
                    double *sum_dy_xc)
{
    double a[4] = {0.0, 0.0, 0.0, 0.0}, b[4] = {0.0, 0.0, 0.0, 0.0};
    size_t i = 0;
    for (; i + 4 <= n; i += 4)
        for (int k = 0; k < 4; k++) {
            a[k] += dy[i + k];
            b[k] += (double)dy[i + k] * (double)(x[i + k] - mu);
        }
    for (; i < n; i++) {
        a[0] += dy[i];
        b[0] += (double)dy[i] * (double)(x[i] - mu);
    }
    *sum_dy += (a[0] + a[1]) + (a[2] + a[3]);
    *sum_dy_xc += (b[0] + b[1]) + (b[2] + b[3]);
}

/* ------------------------------------------------------------ batch norm
 * x (N, C) or (N, C, H, W) is seen as (N, C, S) with S = H*W (or 1); the
 * statistics of channel c run over its N*S values. */

typedef struct bn_attr {
    float momentum, eps;
    int gamma, beta;                    /* input index, 0 when absent */
    tn_tensor *running_mean, *running_var; /* (C) or NULL */
    bool training;
    float *mean, *invstd;               /* (C) each, saved by forward */
} bn_attr;

typedef struct bn_dims {
    int n, c;
    size_t s; /* spatial size */
} bn_dims;

static bn_dims bn_dims_of(const tn_tensor *x)
{
    bn_dims d = {.n = x->shape[0], .c = x->shape[1], .s = 1};
    if (x->ndim == 4) d.s = (size_t)x->shape[2] * x->shape[3];
    return d;
}

static void bn_check(tn_tensor *out)
{
    const bn_attr *at = out->attr;
    const tn_tensor *x = out->in[0];
    TN_REQUIRE(out, x->ndim == 2 || x->ndim == 4, "x must be (N, C) or (N, C, H, W)");
    const int c = x->shape[1];
    if (at->gamma)
        TN_REQUIRE(out, out->in[at->gamma]->ndim == 1 && out->in[at->gamma]->shape[0] == c,
                   "gamma must be (C) = (%d)", c);
    if (at->beta)
        TN_REQUIRE(out, out->in[at->beta]->ndim == 1 && out->in[at->beta]->shape[0] == c,
                   "beta must be (C) = (%d)", c);
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

static void bn_forward(tn_graph *g, tn_tensor *out)
{
    bn_attr *at = out->attr;
    const tn_tensor *x = out->in[0];
    const bn_dims d = bn_dims_of(x);
    const float *gamma = at->gamma ? out->in[at->gamma]->data : NULL;
    const float *beta = at->beta ? out->in[at->beta]->data : NULL;
    float *rm = at->running_mean ? at->running_mean->data : NULL;
    float *rv = at->running_var ? at->running_var->data : NULL;
    if (!(at->mean = tn_graph_floats(g, (size_t)d.c)) ||
        !(at->invstd = tn_graph_floats(g, (size_t)d.c)))
        return;
    float *mean_s = at->mean, *invstd_s = at->invstd;
    const double m = (double)d.n * (double)d.s;
    const size_t cs = (size_t)d.c * d.s;
#pragma omp parallel for schedule(static) if (x->numel >= TN_PAR_MIN)
    for (int c = 0; c < d.c; c++) {
        double mean, invstd;
        if (at->training) {
            /* Two passes in double: the mean, then the centred sum of squares. */
            double sum = 0.0, sq = 0.0;
            for (int n = 0; n < d.n; n++)
                sum += sum_d(x->data + (size_t)n * cs + (size_t)c * d.s, d.s);
            mean = sum / m;
            for (int n = 0; n < d.n; n++)
                sq += sum_sq_centered(x->data + (size_t)n * cs + (size_t)c * d.s, d.s, mean);
            invstd = 1.0 / sqrt(sq / m + (double)at->eps);
            if (rm) {
                double mom = at->momentum;
                rm[c] = (float)((1.0 - mom) * rm[c] + mom * mean);
                rv[c] = (float)((1.0 - mom) * rv[c] + mom * (sq / (m - 1.0)));
            }
        } else {
            mean = rm[c];
            invstd = 1.0 / sqrt((double)rv[c] + (double)at->eps);
        }
        mean_s[c] = (float)mean;
        invstd_s[c] = (float)invstd;
        const float mu = (float)mean, k = (float)invstd * (gamma ? gamma[c] : 1.0f);
        const float b = beta ? beta[c] : 0.0f;
        for (int n = 0; n < d.n; n++) {
            const float *xp = x->data + (size_t)n * cs + (size_t)c * d.s;
            float *yp = out->data + (size_t)n * cs + (size_t)c * d.s;
            for (size_t i = 0; i < d.s; i++) yp[i] = (xp[i] - mu) * k + b;
        }
    }
}

/* Train:  dx = (dy - mean(dy) - x_hat * mean(dy * x_hat)) * invstd * gamma
 * Eval:   dx = dy * invstd * gamma  (the statistics are constants)
 * Both:   dgamma = sum(dy * x_hat), dbeta = sum(dy); x_hat is recomputed. */
static void bn_backward(tn_graph *g, tn_tensor *out)
{
    const bn_attr *at = out->attr;
    tn_tensor *x = out->in[0];
    const bn_dims d = bn_dims_of(x);
    float *gx = tn_grad(g, x);
    float *ggamma = at->gamma ? tn_grad(g, out->in[at->gamma]) : NULL;
    float *gbeta = at->beta ? tn_grad(g, out->in[at->beta]) : NULL;
    if (tn_graph_status(g) != TN_OK) return;
    const float *gamma = at->gamma ? out->in[at->gamma]->data : NULL;
    const double m = (double)d.n * (double)d.s;
    const size_t cs = (size_t)d.c * d.s;
    const float *gy = out->grad;
#pragma omp parallel for schedule(static) if (x->numel >= TN_PAR_MIN)
    for (int c = 0; c < d.c; c++) {
        const float mu = at->mean[c], is = at->invstd[c];
        double sum_dy = 0.0, sum_dy_xc = 0.0; /* xc = x - mean */
        for (int n = 0; n < d.n; n++)
            sums_dy(gy + (size_t)n * cs + (size_t)c * d.s,
                    x->data + (size_t)n * cs + (size_t)c * d.s, d.s, mu, &sum_dy, &sum_dy_xc);
        if (ggamma) ggamma[c] += (float)(sum_dy_xc * is);
        if (gbeta) gbeta[c] += (float)sum_dy;
        if (!gx) continue;
        const float k = is * (gamma ? gamma[c] : 1.0f);
        const float mean_dy = at->training ? (float)(sum_dy / m) : 0.0f;
        const float proj = at->training ? (float)(sum_dy_xc / m * is * is) : 0.0f;
        for (int n = 0; n < d.n; n++) {
            const float *xp = x->data + (size_t)n * cs + (size_t)c * d.s;
            const float *gp = gy + (size_t)n * cs + (size_t)c * d.s;
            float *dp = gx + (size_t)n * cs + (size_t)c * d.s;
            for (size_t i = 0; i < d.s; i++)
                dp[i] += (gp[i] - mean_dy - (xp[i] - mu) * proj) * k;
        }
    }
}

const tn_op tn_op_batch_norm = {.name = "batch_norm", .check = bn_check, .forward = bn_forward,
                                .backward = bn_backward};

tn_tensor *tn_batch_norm(tn_graph *g, tn_tensor *x, tn_tensor *gamma, tn_tensor *beta,
                         tn_tensor *running_mean, tn_tensor *running_var, float momentum,
                         float eps)
{
    tn_tensor *in[3] = {x};
    int n_in = 1;
    bn_attr at = {.momentum = momentum, .eps = eps, .running_mean = running_mean,
                  .running_var = running_var, .training = tn_graph_training(g)};
    if (gamma) at.gamma = n_in, in[n_in++] = gamma;
    if (beta) at.beta = n_in, in[n_in++] = beta;
    return tn_op_apply(g, &tn_op_batch_norm, n_in, in, &at, sizeof at);
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
    if (!x) tn_misuse("dropout", "x is NULL");
    if (!(p >= 0.0f && p <= 1.0f)) tn_misuse("dropout", "p = %g must be in [0, 1]", (double)p);
    if (tn_graph_status(g) != TN_OK) return NULL;
    if (!tn_graph_training(g)) return x;
    dropout_attr at = {.p = p, .rng = rng};
    return tn_op_apply(g, &tn_op_dropout, 1, &x, &at, sizeof at);
}
