/* tests/tensor/gradcheck_nn.c - gradcheck cases for convolution, pooling,
 * normalisation (batch, group, layer), dropout and the losses. */
#include "gradcheck.h"

#include <stddef.h>

#define IN(lo_, hi_, ...) {.ndim = (int)(sizeof((int[]){__VA_ARGS__}) / sizeof(int)), \
                           .shape = {__VA_ARGS__}, .lo = (lo_), .hi = (hi_)}
#define IN_CONST(lo_, hi_, ...) {.ndim = (int)(sizeof((int[]){__VA_ARGS__}) / sizeof(int)), \
                                 .shape = {__VA_ARGS__}, .lo = (lo_), .hi = (hi_), .no_grad = true}

/* Tolerances (the harness's defaults are atol 1e-4, rtol 1e-3).  The
 * central difference of f = sum(out * r) carries float32 rounding of every
 * output element divided by 2 eps.  conv2d is linear in each input, so a
 * step of 1e-2 has no truncation error and ten times less rounding noise;
 * batch norm is not linear (mean and variance of the batch), and its
 * finite difference keeps ~1e-4 of rounding noise at the default step. */
#define GC_EPS_LINEAR 1e-2f
#define GC_ATOL_BN 5e-4

/* ------------------------------------------------------------------ conv */

typedef struct conv_arg {
    int stride, padding, dilation;
    bool bias;
} conv_arg;

static tn_tensor *b_conv(tn_graph *g, tn_tensor **in, const void *arg)
{
    const conv_arg *a = arg;
    return tn_conv2d(g, in[0], in[1], a->bias ? in[2] : NULL, a->stride, a->padding, a->dilation);
}

/* relu(conv2d(x, w, b)), all outputs positive (the inputs' ranges). */
static tn_tensor *b_conv_relu(tn_graph *g, tn_tensor **in, const void *arg)
{
    const conv_arg *a = arg;
    return tn_conv2d_relu(g, in[0], in[1], in[2], NULL, a->stride, a->padding);
}

/* relu(conv2d(x, w, b) + r), r = in[3] + a pattern of +-1.5: with |conv2d|
 * below 1 by the inputs' ranges, the pattern decides the sign of every
 * output and keeps it at least 0.4 from relu's kink. */
static tn_tensor *b_conv_relu_res(tn_graph *g, tn_tensor **in, const void *arg)
{
    const conv_arg *a = arg;
    tn_tensor *r = in[3];
    float sign[512];
    for (size_t i = 0; i < r->numel && i < 512; i++) sign[i] = (i * 7) % 3 ? 1.5f : -1.5f;
    r = tn_add(g, r, tn_from_data(g, r->ndim, r->shape, sign));
    return tn_conv2d_relu(g, in[0], in[1], in[2], r, a->stride, a->padding);
}

static const conv_arg conv_s1p0_bias = {.stride = 1, .padding = 0, .dilation = 1, .bias = true};
static const conv_arg conv_s1p1 = {.stride = 1, .padding = 1, .dilation = 1};
static const conv_arg conv_s2p1_bias = {.stride = 2, .padding = 1, .dilation = 1, .bias = true};
static const conv_arg conv_s2p0 = {.stride = 2, .padding = 0, .dilation = 1};
static const conv_arg conv_d2p2_bias = {.stride = 1, .padding = 2, .dilation = 2, .bias = true};
static const conv_arg conv_s2p1d2 = {.stride = 2, .padding = 1, .dilation = 2};
static const conv_arg conv_1x1_bias = {.stride = 1, .padding = 0, .dilation = 1, .bias = true};
static const conv_arg conv_s1p3 = {.stride = 1, .padding = 3, .dilation = 1};

/* --------------------------------------------------------------- pooling
 * Max pooling is only differentiable away from ties: the input is offset by a
 * constant pattern of distinct values 0.05 apart, and drawn from a range far
 * narrower than that, so no two values of a window come within the
 * finite-difference step. */

typedef struct pool_arg {
    int kernel, stride, padding;
} pool_arg;

static tn_tensor *spread(tn_graph *g, tn_tensor *x)
{
    float off[512];
    size_t n = x->numel;
    for (size_t i = 0; i < n && i < 512; i++) off[i] = 0.05f * (float)((i * 37) % n);
    return tn_add(g, x, tn_from_data(g, x->ndim, x->shape, off));
}

static tn_tensor *b_max_pool(tn_graph *g, tn_tensor **in, const void *arg)
{
    const pool_arg *a = arg;
    return tn_max_pool2d(g, spread(g, in[0]), a->kernel, a->stride, a->padding);
}

static tn_tensor *b_avg_pool(tn_graph *g, tn_tensor **in, const void *arg)
{
    const pool_arg *a = arg;
    return tn_avg_pool2d(g, in[0], a->kernel, a->stride, a->padding);
}

static tn_tensor *b_gap(tn_graph *g, tn_tensor **in, const void *arg)
{
    (void)arg;
    return tn_global_avg_pool(g, in[0]);
}

static const pool_arg pool_k3s2p1 = {.kernel = 3, .stride = 2, .padding = 1};
static const pool_arg pool_k2s2p0 = {.kernel = 2, .stride = 2, .padding = 0};
static const pool_arg pool_k3s1p1 = {.kernel = 3, .stride = 1, .padding = 1};

/* ------------------------------------------------------------ batch norm */

typedef struct bn_arg {
    bool gamma, beta, running;
} bn_arg;

/* in: x, then gamma and beta when used.  Running statistics, when used, are
 * fixed constants made here (eval mode reads them; train mode updates them). */
static tn_tensor *b_bn(tn_graph *g, tn_tensor **in, const void *arg)
{
    const bn_arg *a = arg;
    int c = in[0]->shape[1], k = 1;
    tn_tensor *gamma = a->gamma ? in[k++] : NULL, *beta = a->beta ? in[k++] : NULL;
    tn_tensor *rm = NULL, *rv = NULL;
    if (a->running) {
        float m[16], v[16];
        for (int i = 0; i < c && i < 16; i++) {
            m[i] = 0.1f * (float)i - 0.2f;
            v[i] = 0.5f + 0.25f * (float)i;
        }
        rm = tn_from_data(g, 1, (int[]){c}, m);
        rv = tn_from_data(g, 1, (int[]){c}, v);
    }
    return tn_batch_norm(g, in[0], gamma, beta, rm, rv, 0.1f, 1e-5f);
}

static const bn_arg bn_affine = {.gamma = true, .beta = true};
static const bn_arg bn_plain = {0};
static const bn_arg bn_gamma_only = {.gamma = true};
static const bn_arg bn_affine_running = {.gamma = true, .beta = true, .running = true};
static const bn_arg bn_plain_running = {.running = true};

/* relu(batch_norm(x) + residual): in = x, gamma, beta, then the residual
 * when used (or x itself as the residual with `self_residual`). */
typedef struct bn_relu_arg {
    bool residual, self_residual, running;
} bn_relu_arg;

static tn_tensor *b_bn_relu(tn_graph *g, tn_tensor **in, const void *arg)
{
    const bn_relu_arg *a = arg;
    int c = in[0]->shape[1];
    tn_tensor *rm = NULL, *rv = NULL;
    if (a->running) {
        float m[16], v[16];
        for (int i = 0; i < c && i < 16; i++) {
            m[i] = 0.1f * (float)i - 0.2f;
            v[i] = 0.5f + 0.25f * (float)i;
        }
        rm = tn_from_data(g, 1, (int[]){c}, m);
        rv = tn_from_data(g, 1, (int[]){c}, v);
    }
    tn_tensor *r = a->self_residual ? in[0] : a->residual ? in[3] : NULL;
    return tn_batch_norm_relu(g, in[0], in[1], in[2], rm, rv, 0.1f, 1e-5f, r);
}

static const bn_relu_arg bnr_plain = {0};
static const bn_relu_arg bnr_residual = {.residual = true, .running = true};
static const bn_relu_arg bnr_self = {.self_residual = true};

/* ----------------------------------------------- group norm, layer norm
 * in = x, then gamma and beta when `affine`. */
typedef struct gn_arg {
    int groups;    /* group norm; 0: layer norm */
    int norm_ndim; /* layer norm */
    bool affine;
} gn_arg;

static tn_tensor *b_gn(tn_graph *g, tn_tensor **in, const void *arg)
{
    const gn_arg *a = arg;
    tn_tensor *gamma = a->affine ? in[1] : NULL, *beta = a->affine ? in[2] : NULL;
    if (a->groups) return tn_group_norm(g, in[0], a->groups, gamma, beta, 1e-5f);
    return tn_layer_norm(g, in[0], a->norm_ndim, gamma, beta, 1e-5f);
}

static const gn_arg gn_g2_affine = {.groups = 2, .affine = true};
static const gn_arg gn_g1_plain = {.groups = 1};
static const gn_arg gn_instance = {.groups = 4, .affine = true};
static const gn_arg ln_last_affine = {.norm_ndim = 1, .affine = true};
static const gn_arg ln_chw_affine = {.norm_ndim = 3, .affine = true};
static const gn_arg ln_last_plain = {.norm_ndim = 1};

/* --------------------------------------------------------------- dropout
 * The rng is re-seeded on every build, so every pass draws the same mask. */

static tn_tensor *b_dropout(tn_graph *g, tn_tensor **in, const void *arg)
{
    static tn_rng rng;
    tn_rng_seed(&rng, 99, 3);
    return tn_dropout(g, in[0], *(const float *)arg, &rng);
}

static const float dropout_p03 = 0.3f, dropout_p05 = 0.5f;

/* ---------------------------------------------------------------- losses */

static const int32_t labels5[] = {1, 0, 4, 2, 4, 3};

static tn_tensor *b_ce(tn_graph *g, tn_tensor **in, const void *arg)
{
    return tn_cross_entropy(g, in[0], labels5, *(const float *)arg);
}

static tn_tensor *b_ce_soft(tn_graph *g, tn_tensor **in, const void *arg)
{
    (void)arg;
    return tn_cross_entropy_soft(g, in[0], in[1]);
}

static tn_tensor *b_nll(tn_graph *g, tn_tensor **in, const void *arg)
{
    (void)arg;
    return tn_nll_loss(g, in[0], labels5);
}

static tn_tensor *b_mse(tn_graph *g, tn_tensor **in, const void *arg)
{
    (void)arg;
    return tn_mse_loss(g, in[0], in[1]);
}

static const float smooth0 = 0.0f, smooth01 = 0.1f;

/* ----------------------------------------------------------------- table */

const gc_case gc_cases_nn[] = {
    {.name = "conv2d stride 1 pad 0 bias", .op = "conv2d", .eps = GC_EPS_LINEAR, .build = b_conv,
     .arg = &conv_s1p0_bias, .n_in = 3,
     .in = {IN(-1, 1, 2, 3, 5, 5), IN(-1, 1, 4, 3, 3, 3), IN(-1, 1, 4)}},
    {.name = "conv2d stride 1 pad 1 no bias", .op = "conv2d", .eps = GC_EPS_LINEAR, .build = b_conv,
     .arg = &conv_s1p1, .n_in = 2, .in = {IN(-1, 1, 2, 2, 5, 4), IN(-1, 1, 3, 2, 3, 3)}},
    {.name = "conv2d stride 2 pad 1 bias", .op = "conv2d", .eps = GC_EPS_LINEAR, .build = b_conv,
     .arg = &conv_s2p1_bias, .n_in = 3,
     .in = {IN(-1, 1, 2, 3, 6, 5), IN(-1, 1, 2, 3, 3, 3), IN(-1, 1, 2)}},
    {.name = "conv2d stride 2 pad 0 batch 1", .op = "conv2d", .eps = GC_EPS_LINEAR, .build = b_conv,
     .arg = &conv_s2p0, .n_in = 2, .in = {IN(-1, 1, 1, 2, 7, 7), IN(-1, 1, 3, 2, 3, 3)}},
    {.name = "conv2d dilation 2 pad 2 bias", .op = "conv2d", .eps = GC_EPS_LINEAR, .build = b_conv,
     .arg = &conv_d2p2_bias, .n_in = 3,
     .in = {IN(-1, 1, 2, 2, 6, 7), IN(-1, 1, 2, 2, 3, 3), IN(-1, 1, 2)}},
    {.name = "conv2d 2x1 kernel stride 2 pad 1 dilation 2", .op = "conv2d", .build = b_conv,
     .eps = GC_EPS_LINEAR, .arg = &conv_s2p1d2, .n_in = 2,
     .in = {IN(-1, 1, 2, 2, 6, 5), IN(-1, 1, 3, 2, 2, 1)}},
    {.name = "conv2d C = O pad 1, batch chunks (data gradient in gy's buffer)",
     .op = "conv2d", .eps = GC_EPS_LINEAR, .build = b_conv, .arg = &conv_s1p1, .n_in = 2,
     .in = {IN(-1, 1, 3, 3, 5, 4), IN(-1, 1, 3, 3, 3, 3)}},
    {.name = "conv2d 1x1 bias (pointwise GEMMs)", .op = "conv2d", .build = b_conv,
     .eps = GC_EPS_LINEAR, .arg = &conv_1x1_bias, .n_in = 3,
     .in = {IN(-1, 1, 3, 4, 3, 5), IN(-1, 1, 5, 4, 1, 1), IN(-1, 1, 5)}},
    {.name = "conv2d stride 1 pad 3 > K-1 (col2im backward)", .op = "conv2d", .build = b_conv,
     .eps = GC_EPS_LINEAR, .arg = &conv_s1p3, .n_in = 2,
     .in = {IN(-1, 1, 2, 2, 4, 3), IN(-1, 1, 3, 2, 3, 3)}},

    {.name = "conv2d_relu stride 1 pad 1, all positive", .op = "conv2d_relu",
     .eps = GC_EPS_LINEAR, .build = b_conv_relu, .arg = &conv_s1p1, .n_in = 3,
     .in = {IN(0.1f, 0.5f, 2, 2, 5, 4), IN(0.1f, 0.5f, 3, 2, 3, 3), IN(0.5f, 1, 3)}},
    {.name = "conv2d_relu stride 2 pad 1 with a residual, mixed signs", .op = "conv2d_relu",
     .eps = GC_EPS_LINEAR, .build = b_conv_relu_res, .arg = &conv_s2p1_bias, .n_in = 4,
     .in = {IN(-0.5f, 0.5f, 2, 2, 6, 5), IN(-0.1f, 0.1f, 3, 2, 3, 3), IN(-0.1f, 0.1f, 3),
            IN(-0.1f, 0.1f, 2, 3, 3, 3)}},

    {.name = "max_pool2d k3 s2 p1", .op = "max_pool2d", .build = b_max_pool,
     .arg = &pool_k3s2p1, .n_in = 1, .in = {IN(-0.01f, 0.01f, 2, 2, 7, 6)}},
    {.name = "max_pool2d k2 s2 p0", .op = "max_pool2d", .build = b_max_pool,
     .arg = &pool_k2s2p0, .n_in = 1, .in = {IN(-0.01f, 0.01f, 1, 3, 4, 6)}},
    {.name = "max_pool2d k3 s1 p1", .op = "max_pool2d", .build = b_max_pool,
     .arg = &pool_k3s1p1, .n_in = 1, .in = {IN(-0.01f, 0.01f, 2, 1, 5, 5)}},
    {.name = "avg_pool2d k3 s2 p1", .op = "avg_pool2d", .build = b_avg_pool,
     .arg = &pool_k3s2p1, .n_in = 1, .in = {IN(-1, 1, 2, 2, 7, 6)}},
    {.name = "avg_pool2d k2 s2 p0", .op = "avg_pool2d", .build = b_avg_pool,
     .arg = &pool_k2s2p0, .n_in = 1, .in = {IN(-1, 1, 1, 3, 4, 6)}},
    {.name = "avg_pool2d k3 s1 p1", .op = "avg_pool2d", .build = b_avg_pool,
     .arg = &pool_k3s1p1, .n_in = 1, .in = {IN(-1, 1, 2, 1, 5, 5)}},
    {.name = "global_avg_pool", .op = "global_avg_pool", .build = b_gap, .n_in = 1,
     .in = {IN(-1, 1, 2, 3, 4, 5)}},

    {.name = "batch_norm train 2-D affine", .op = "batch_norm", .build = b_bn,
     .atol = GC_ATOL_BN, .arg = &bn_affine, .n_in = 3,
     .in = {IN(-1, 2, 6, 4), IN(0.5f, 1.5f, 4), IN(-1, 1, 4)}},
    {.name = "batch_norm train 2-D no affine", .op = "batch_norm", .build = b_bn,
     .atol = GC_ATOL_BN, .arg = &bn_plain, .n_in = 1, .in = {IN(-1, 2, 6, 4)}},
    {.name = "batch_norm train 4-D affine, running stats updated", .op = "batch_norm",
     .build = b_bn, .atol = GC_ATOL_BN, .arg = &bn_affine_running, .n_in = 3,
     .in = {IN(-1, 2, 3, 2, 3, 3), IN(0.5f, 1.5f, 2), IN(-1, 1, 2)}},
    {.name = "batch_norm train 3-D (N, C, L) affine, running stats updated", .op = "batch_norm",
     .build = b_bn, .atol = GC_ATOL_BN, .arg = &bn_affine_running, .n_in = 3,
     .in = {IN(-1, 2, 3, 2, 5), IN(0.5f, 1.5f, 2), IN(-1, 1, 2)}},
    {.name = "batch_norm train 4-D no affine", .op = "batch_norm", .build = b_bn,
     .atol = GC_ATOL_BN, .arg = &bn_plain, .n_in = 1, .in = {IN(-1, 2, 3, 2, 3, 3)}},
    {.name = "batch_norm train 4-D gamma only", .op = "batch_norm", .build = b_bn,
     .atol = GC_ATOL_BN, .arg = &bn_gamma_only, .n_in = 2,
     .in = {IN(-1, 2, 2, 3, 2, 2), IN(0.5f, 1.5f, 3)}},
    {.name = "batch_norm eval 4-D affine", .op = "batch_norm", .build = b_bn,
     .atol = GC_ATOL_BN, .arg = &bn_affine_running, .n_in = 3, .eval = true,
     .in = {IN(-1, 2, 3, 2, 3, 3), IN(0.5f, 1.5f, 2), IN(-1, 1, 2)}},
    {.name = "batch_norm eval 2-D no affine", .op = "batch_norm", .build = b_bn,
     .atol = GC_ATOL_BN, .arg = &bn_plain_running, .n_in = 1, .eval = true,
     .in = {IN(-1, 2, 5, 3)}},

    {.name = "batch_norm_relu train 4-D", .op = "batch_norm_relu", .build = b_bn_relu,
     .atol = GC_ATOL_BN, .arg = &bnr_plain, .n_in = 3,
     .in = {IN(-1, 2, 3, 2, 3, 3), IN(0.5f, 1.5f, 2), IN(-1, 1, 2)}},
    {.name = "batch_norm_relu train 4-D + residual, running stats updated",
     .op = "batch_norm_relu", .build = b_bn_relu, .atol = GC_ATOL_BN, .arg = &bnr_residual,
     .n_in = 4,
     .in = {IN(-1, 2, 3, 2, 3, 3), IN(0.5f, 1.5f, 2), IN(-1, 1, 2), IN(-1, 1, 3, 2, 3, 3)}},
    {.name = "batch_norm_relu train 2-D, x is its own residual", .op = "batch_norm_relu",
     .build = b_bn_relu, .atol = GC_ATOL_BN, .arg = &bnr_self, .n_in = 3,
     .in = {IN(-1, 2, 6, 4), IN(0.5f, 1.5f, 4), IN(-1, 1, 4)}},
    {.name = "batch_norm_relu eval 4-D + residual", .op = "batch_norm_relu",
     .build = b_bn_relu, .atol = GC_ATOL_BN, .arg = &bnr_residual, .n_in = 4, .eval = true,
     .in = {IN(-1, 2, 3, 2, 3, 3), IN(0.5f, 1.5f, 2), IN(-1, 1, 2), IN(-1, 1, 3, 2, 3, 3)}},

    {.name = "group_norm 4-D 2 groups affine", .op = "group_norm", .build = b_gn,
     .atol = GC_ATOL_BN, .arg = &gn_g2_affine, .n_in = 3,
     .in = {IN(-1, 2, 2, 4, 3, 2), IN(0.5f, 1.5f, 4), IN(-1, 1, 4)}},
    {.name = "group_norm 3-D 1 group no affine", .op = "group_norm", .build = b_gn,
     .atol = GC_ATOL_BN, .arg = &gn_g1_plain, .n_in = 1, .in = {IN(-1, 2, 3, 2, 5)}},
    {.name = "group_norm 4-D one channel per group (instance norm)", .op = "group_norm",
     .build = b_gn, .atol = GC_ATOL_BN, .arg = &gn_instance, .n_in = 3,
     .in = {IN(-1, 2, 2, 4, 3, 3), IN(0.5f, 1.5f, 4), IN(-1, 1, 4)}},
    {.name = "layer_norm last dim affine", .op = "layer_norm", .build = b_gn,
     .atol = GC_ATOL_BN, .arg = &ln_last_affine, .n_in = 3,
     .in = {IN(-1, 2, 3, 2, 6), IN(0.5f, 1.5f, 6), IN(-1, 1, 6)}},
    {.name = "layer_norm over (C, H, W) affine", .op = "layer_norm", .build = b_gn,
     .atol = GC_ATOL_BN, .arg = &ln_chw_affine, .n_in = 3,
     .in = {IN(-1, 2, 2, 2, 3, 2), IN(0.5f, 1.5f, 2, 3, 2), IN(-1, 1, 2, 3, 2)}},
    {.name = "layer_norm last dim no affine", .op = "layer_norm", .build = b_gn,
     .atol = GC_ATOL_BN, .arg = &ln_last_plain, .n_in = 1, .in = {IN(-1, 2, 5, 4)}},

    {.name = "dropout p 0.3 2-D", .op = "dropout", .build = b_dropout, .arg = &dropout_p03,
     .n_in = 1, .in = {IN(-1, 1, 4, 5)}},
    {.name = "dropout p 0.5 4-D", .op = "dropout", .build = b_dropout, .arg = &dropout_p05,
     .n_in = 1, .in = {IN(-1, 1, 2, 3, 2, 2)}},

    {.name = "cross_entropy smoothing 0", .op = "cross_entropy", .build = b_ce,
     .arg = &smooth0, .n_in = 1, .in = {IN(-2, 2, 6, 5)}},
    {.name = "cross_entropy smoothing 0.1", .op = "cross_entropy", .build = b_ce,
     .arg = &smooth01, .n_in = 1, .in = {IN(-2, 2, 6, 5)}},
    {.name = "cross_entropy_soft, both inputs", .op = "cross_entropy_soft", .build = b_ce_soft,
     .n_in = 2, .in = {IN(-2, 2, 3, 4), IN(0, 1, 3, 4)}},
    {.name = "cross_entropy_soft, constant targets", .op = "cross_entropy_soft",
     .build = b_ce_soft, .n_in = 2, .in = {IN(-2, 2, 4, 3), IN_CONST(0, 1, 4, 3)}},
    {.name = "nll_loss", .op = "nll_loss", .build = b_nll, .n_in = 1,
     .in = {IN(-3, 0, 6, 5)}},
    {.name = "mse_loss", .op = "mse_loss", .build = b_mse, .n_in = 2,
     .in = {IN(-1, 1, 3, 4), IN(-1, 1, 3, 4)}},
};
const size_t gc_n_cases_nn = sizeof gc_cases_nn / sizeof gc_cases_nn[0];
