/* tensor/ops_groupnorm.c - group norm (instance norm is its one channel per
 * group case) and layer norm over the trailing dims, with PyTorch's
 * semantics (torch.nn.GroupNorm, InstanceNorm2d(affine=True), LayerNorm).
 *
 * Both see x as `rows` rows of `k` values and normalise each row by its own
 * mean and biased variance (statistics in double, two passes); they differ
 * only in which affine entry an element takes:
 *   group norm  x (N, C, *), G groups: row (n, g) holds channels
 *               g*C/G .. (g+1)*C/G - 1, each of s = prod(*) values; the
 *               affine index of element j of row r is (r % G) * C/G + j / s.
 *   layer norm  x (..., D1..Dk) over the last k dims: the affine index of
 *               element j is j (gamma, beta have the normalised shape).
 * With gx = G groups and s the run length, both are
 *   p(r, j) = (r % gx) * (k / s) + j / s   (layer norm: gx = 1, s = 1). */
#include "internal.h"

#include <math.h>

typedef struct gn_attr {
    int groups;     /* group norm: G; layer norm: 0 */
    int norm_ndim;  /* layer norm: the number of trailing dims normalised */
    float eps;
    int gamma, beta; /* input index, 0 when absent */
    float *mean, *invstd; /* (rows) each, saved by forward */
} gn_attr;

typedef struct gn_dims {
    size_t rows, k, s; /* rows of k values; affine runs of s values */
    int gx;            /* rows cycle through gx affine blocks */
    size_t n_affine;   /* gx * k / s entries of gamma and beta */
} gn_dims;

static gn_dims gn_dims_of(const tn_tensor *out)
{
    const gn_attr *at = out->attr;
    const tn_tensor *x = out->in[0];
    gn_dims d;
    if (at->groups > 0) {
        size_t s = 1;
        for (int i = 2; i < x->ndim; i++) s *= (size_t)x->shape[i];
        d.gx = at->groups;
        d.rows = (size_t)x->shape[0] * (size_t)at->groups;
        d.s = s;
        d.k = (size_t)(x->shape[1] / at->groups) * s;
        d.n_affine = (size_t)x->shape[1];
    } else {
        size_t k = 1;
        for (int i = x->ndim - at->norm_ndim; i < x->ndim; i++) k *= (size_t)x->shape[i];
        d.gx = 1;
        d.s = 1;
        d.k = k;
        d.rows = k ? x->numel / k : 0;
        d.n_affine = k;
    }
    return d;
}

static void gn_check_affine(tn_tensor *out, int idx, const char *what)
{
    const gn_attr *at = out->attr;
    const tn_tensor *x = out->in[0], *p = out->in[idx];
    char b1[64], b2[64];
    if (at->groups > 0) {
        TN_REQUIRE(out, p->ndim == 1 && p->shape[0] == x->shape[1], "%s %s must be (C) = (%d)",
                   what, tn_shape_str(p, b1, sizeof b1), x->shape[1]);
        return;
    }
    bool ok = p->ndim == at->norm_ndim;
    for (int i = 0; ok && i < at->norm_ndim; i++)
        ok = p->shape[i] == x->shape[x->ndim - at->norm_ndim + i];
    TN_REQUIRE(out, ok, "%s %s must have x %s's last %d dims", what,
               tn_shape_str(p, b1, sizeof b1), tn_shape_str(x, b2, sizeof b2), at->norm_ndim);
}

static void gn_check(tn_tensor *out)
{
    const gn_attr *at = out->attr;
    const tn_tensor *x = out->in[0];
    if (at->groups > 0) {
        TN_REQUIRE(out, x->ndim >= 2, "x must be (N, C, *)");
        TN_REQUIRE(out, x->shape[1] % at->groups == 0, "C = %d must be a multiple of groups %d",
                   x->shape[1], at->groups);
    } else {
        TN_REQUIRE(out, at->norm_ndim >= 1 && at->norm_ndim <= x->ndim,
                   "normalised dims %d must be in [1, %d]", at->norm_ndim, x->ndim);
    }
    TN_REQUIRE(out, at->eps >= 0.0f, "eps %g must be >= 0", (double)at->eps);
    if (at->gamma) gn_check_affine(out, at->gamma, "gamma");
    if (at->beta) gn_check_affine(out, at->beta, "beta");
    tn_set_shape(out, x->ndim, x->shape);
}

/* The first affine entry of row r: its runs take entries p0, p0 + 1, ... */
static size_t gn_p0(const gn_dims *d, size_t r) { return (r % (size_t)d->gx) * (d->k / d->s); }

/* y = (x - mu) * a + b over one run of n floats (one affine entry). */
static void gn_apply_run(float *y, const float *x, size_t n, float mu, float a, float b)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++) y[i] = (x[i] - mu) * a + b;
}

static void gn_forward(tn_graph *g, tn_tensor *out)
{
    gn_attr *at = out->attr;
    const tn_tensor *x = out->in[0];
    const gn_dims d = gn_dims_of(out);
    const float *gamma = at->gamma ? out->in[at->gamma]->data : NULL;
    const float *beta = at->beta ? out->in[at->beta]->data : NULL;
    if (!(at->mean = tn_graph_floats(g, d.rows)) || !(at->invstd = tn_graph_floats(g, d.rows)))
        return;
    const long rows = (long)d.rows;
    const size_t runs = d.k / d.s;
#pragma omp parallel for schedule(static) if (x->numel >= TN_PAR_MIN)
    for (long r = 0; r < rows; r++) {
        const float *xr = x->data + (size_t)r * d.k;
        float *yr = out->data + (size_t)r * d.k;
        const double mean = tn_norm_sum(xr, d.k) / (double)d.k;
        const double var = tn_norm_sum_sq_centered(xr, d.k, mean) / (double)d.k;
        const float mu = (float)mean, is = (float)(1.0 / sqrt(var + (double)at->eps));
        at->mean[r] = mu;
        at->invstd[r] = is;
        const size_t p0 = gn_p0(&d, (size_t)r);
        for (size_t q = 0; q < runs; q++)
            gn_apply_run(yr + q * d.s, xr + q * d.s, d.s, mu, is * (gamma ? gamma[p0 + q] : 1.0f),
                         beta ? beta[p0 + q] : 0.0f);
    }
}

/* *a = sum dy, *b = sum dy (x - mu) over a run of s values (layer norm's
 * runs of 1 without a call to the vectorised sums). */
static void run_sums(const float *dy, const float *x, size_t s, float mu, double *a, double *b)
{
    *a = *b = 0.0;
    if (s == 1) {
        *a = dy[0];
        *b = (double)dy[0] * (x[0] - mu);
    } else {
        tn_norm_sums_dy(dy, NULL, x, s, mu, a, b);
    }
}

/* dgamma[p] += sum dy * x_hat, dbeta[p] += sum dy over the elements of
 * entry p: rows r = b*gx + p / runs, values (p % runs) * s .. + s; in a
 * fixed order, one entry per thread. */
static void gn_affine_grads(const gn_attr *at, const gn_dims *d, const float *x, const float *gy,
                            float *ggamma, float *gbeta)
{
    const size_t runs = d->k / d->s;
    const long n_affine = (long)d->n_affine;
#pragma omp parallel for schedule(static) if (d->rows * d->k >= TN_PAR_MIN)
    for (long p = 0; p < n_affine; p++) {
        double sg = 0.0, sb = 0.0;
        const size_t j0 = ((size_t)p % runs) * d->s;
        for (size_t r = (size_t)p / runs; r < d->rows; r += (size_t)d->gx) {
            double a, b;
            run_sums(gy + r * d->k + j0, x + r * d->k + j0, d->s, at->mean[r], &a, &b);
            sb += a;
            sg += b * at->invstd[r];
        }
        if (ggamma) ggamma[p] += (float)sg;
        if (gbeta) gbeta[p] += (float)sb;
    }
}

/* With dz = dy * gamma:  dx = (dz - mean(dz) - x_hat * mean(dz * x_hat)) * invstd,
 * the means over the row; dgamma = sum dy * x_hat, dbeta = sum dy.  Per
 * run of s values: dx = dy * gamma_p * is - mean(dz) * is - (x - mu) * c2,
 * c2 = mean(dz * (x - mu)) * is^3. */
static void gn_backward(tn_graph *g, tn_tensor *out)
{
    const gn_attr *at = out->attr;
    tn_tensor *x = out->in[0];
    const gn_dims d = gn_dims_of(out);
    float *gx = tn_grad(g, x);
    float *ggamma = at->gamma ? tn_grad(g, out->in[at->gamma]) : NULL;
    float *gbeta = at->beta ? tn_grad(g, out->in[at->beta]) : NULL;
    if (tn_graph_status(g) != TN_OK) return;
    const float *gamma = at->gamma ? out->in[at->gamma]->data : NULL;
    const float *gy = out->grad;
    if (ggamma || gbeta) gn_affine_grads(at, &d, x->data, gy, ggamma, gbeta);
    if (!gx) return;
    const long rows = (long)d.rows;
    const size_t runs = d.k / d.s;
#pragma omp parallel for schedule(static) if (x->numel >= TN_PAR_MIN)
    for (long r = 0; r < rows; r++) {
        const float *xr = x->data + (size_t)r * d.k, *gr = gy + (size_t)r * d.k;
        float *dr = gx + (size_t)r * d.k;
        const size_t p0 = gn_p0(&d, (size_t)r);
        const float mu = at->mean[r], is = at->invstd[r];
        double sdz = 0.0, sdzx = 0.0; /* sum dz, sum dz (x - mu) */
        for (size_t q = 0; q < runs; q++) {
            double a, b;
            run_sums(gr + q * d.s, xr + q * d.s, d.s, mu, &a, &b);
            const double gm = gamma ? gamma[p0 + q] : 1.0;
            sdz += gm * a;
            sdzx += gm * b;
        }
        const float c0 = (float)(sdz / (double)d.k * is);
        const float c2 = (float)(sdzx / (double)d.k * is * is * is);
        for (size_t q = 0; q < runs; q++) {
            const float c1 = (gamma ? gamma[p0 + q] : 1.0f) * is;
            const float *gq = gr + q * d.s, *xq = xr + q * d.s;
            float *dq = dr + q * d.s;
#pragma omp simd
            for (size_t i = 0; i < d.s; i++) dq[i] += gq[i] * c1 - c0 - (xq[i] - mu) * c2;
        }
    }
}

const tn_op tn_op_group_norm = {.name = "group_norm", .check = gn_check, .forward = gn_forward,
                                .backward = gn_backward};
const tn_op tn_op_layer_norm = {.name = "layer_norm", .check = gn_check, .forward = gn_forward,
                                .backward = gn_backward};

static tn_tensor *gn_apply(tn_graph *g, const tn_op *op, tn_tensor *x, tn_tensor *gamma,
                           tn_tensor *beta, gn_attr at)
{
    tn_tensor *in[3] = {x};
    int n_in = 1;
    if (gamma) at.gamma = n_in, in[n_in++] = gamma;
    if (beta) at.beta = n_in, in[n_in++] = beta;
    return tn_op_apply(g, op, n_in, in, &at, sizeof at);
}

tn_tensor *tn_group_norm(tn_graph *g, tn_tensor *x, int groups, tn_tensor *gamma, tn_tensor *beta,
                         float eps)
{
    if (groups <= 0) tn_misuse("group_norm", "groups %d must be > 0", groups);
    return gn_apply(g, &tn_op_group_norm, x, gamma, beta,
                    (gn_attr){.groups = groups, .eps = eps});
}

tn_tensor *tn_layer_norm(tn_graph *g, tn_tensor *x, int norm_ndim, tn_tensor *gamma,
                         tn_tensor *beta, float eps)
{
    return gn_apply(g, &tn_op_layer_norm, x, gamma, beta,
                    (gn_attr){.norm_ndim = norm_ndim, .eps = eps});
}
