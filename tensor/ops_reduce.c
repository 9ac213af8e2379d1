/* tensor/ops_reduce.c - sums and means, over everything (to a 0-dim tensor)
 * or along one axis, and the L2/L1 penalties.  Sums accumulate in double. */
#include "internal.h"

#include <math.h>

/* ------------------------------------------------------ to a 0-dim tensor
 * a (...) -> () */

static void check_scalar(tn_tensor *out) { tn_set_shape(out, 0, NULL); }

enum reduce_kind { REDUCE_SUM, REDUCE_SQUARES, REDUCE_ABS };

/* Sum of x, x^2 or |x| in double.  Large inputs are cut into a fixed number
 * of chunks whatever the thread count, and the chunks' sums are added in
 * order: the result is the same run after run. */
#define REDUCE_CHUNKS 64

static double reduce_all(const float *x, size_t n, enum reduce_kind kind)
{
    double part[REDUCE_CHUNKS];
    const size_t nchunk = n >= TN_PAR_MIN ? REDUCE_CHUNKS : 1;
#pragma omp parallel for if (nchunk > 1) schedule(static)
    for (size_t c = 0; c < nchunk; c++) {
        const size_t i0 = n * c / nchunk, i1 = n * (c + 1) / nchunk;
        double s = 0.0;
        switch (kind) {
        case REDUCE_SUM:
            for (size_t i = i0; i < i1; i++) s += x[i];
            break;
        case REDUCE_SQUARES:
            for (size_t i = i0; i < i1; i++) s += (double)x[i] * x[i];
            break;
        case REDUCE_ABS:
            for (size_t i = i0; i < i1; i++) s += fabs((double)x[i]);
            break;
        }
        part[c] = s;
    }
    double s = 0.0;
    for (size_t c = 0; c < nchunk; c++) s += part[c];
    return s;
}

static void sum_forward(tn_graph *g, tn_tensor *out)
{
    (void)g;
    out->data[0] = (float)reduce_all(out->in[0]->data, out->in[0]->numel, REDUCE_SUM);
}

static void mean_forward(tn_graph *g, tn_tensor *out)
{
    (void)g;
    size_t n = out->in[0]->numel;
    out->data[0] = (float)(reduce_all(out->in[0]->data, n, REDUCE_SUM) / (double)n);
}

static void sum_squares_forward(tn_graph *g, tn_tensor *out)
{
    (void)g;
    out->data[0] = (float)reduce_all(out->in[0]->data, out->in[0]->numel, REDUCE_SQUARES);
}

static void sum_abs_forward(tn_graph *g, tn_tensor *out)
{
    (void)g;
    out->data[0] = (float)reduce_all(out->in[0]->data, out->in[0]->numel, REDUCE_ABS);
}

/* gx[i] += DYDX * gy, gy the scalar incoming gradient. */
#define SCALAR_BACKWARD(g, out, DYDX)                                               \
    do {                                                                            \
        float *gx = tn_grad((g), (out)->in[0]);                                     \
        if (!gx) break;                                                             \
        const float *x = (out)->in[0]->data;                                        \
        size_t n = (out)->in[0]->numel;                                             \
        float gy = (out)->grad[0];                                                  \
        (void)x;                                                                    \
        _Pragma("omp parallel for if (n >= TN_PAR_MIN) schedule(static)")           \
        for (size_t i = 0; i < n; i++) gx[i] += (DYDX) * gy;                        \
    } while (0)

static void sum_backward(tn_graph *g, tn_tensor *out) { SCALAR_BACKWARD(g, out, 1.0f); }

static void mean_backward(tn_graph *g, tn_tensor *out)
{
    float inv = (float)(1.0 / (double)out->in[0]->numel);
    SCALAR_BACKWARD(g, out, inv);
}

static void sum_squares_backward(tn_graph *g, tn_tensor *out)
{
    SCALAR_BACKWARD(g, out, 2.0f * x[i]);
}

/* Subgradient 0 at 0, as torch.abs. */
static void sum_abs_backward(tn_graph *g, tn_tensor *out)
{
    SCALAR_BACKWARD(g, out, (float)((x[i] > 0.0f) - (x[i] < 0.0f)));
}

const tn_op tn_op_sum = {.name = "sum", .check = check_scalar, .forward = sum_forward,
                         .backward = sum_backward};
const tn_op tn_op_mean = {.name = "mean", .check = check_scalar, .forward = mean_forward,
                          .backward = mean_backward};
const tn_op tn_op_sum_squares = {.name = "sum_squares", .check = check_scalar,
                                 .forward = sum_squares_forward,
                                 .backward = sum_squares_backward};
const tn_op tn_op_sum_abs = {.name = "sum_abs", .check = check_scalar,
                             .forward = sum_abs_forward, .backward = sum_abs_backward};

tn_tensor *tn_sum(tn_graph *g, tn_tensor *a) { return tn_op_apply(g, &tn_op_sum, 1, &a, NULL, 0); }
tn_tensor *tn_mean(tn_graph *g, tn_tensor *a)
{
    return tn_op_apply(g, &tn_op_mean, 1, &a, NULL, 0);
}
tn_tensor *tn_sum_squares(tn_graph *g, tn_tensor *a)
{
    return tn_op_apply(g, &tn_op_sum_squares, 1, &a, NULL, 0);
}
tn_tensor *tn_sum_abs(tn_graph *g, tn_tensor *a)
{
    return tn_op_apply(g, &tn_op_sum_abs, 1, &a, NULL, 0);
}

/* ------------------------------------------------------------ along an axis
 * a (d0, ..., d_axis, ..., dk) -> (d0, ..., dk) without d_axis; a negative
 * axis counts from the end.  a is viewed as (outer, len, inner). */

typedef struct axis_attr {
    int axis; /* as given; check normalises it to 0..ndim-1 */
} axis_attr;

static void axis_check(tn_tensor *out)
{
    axis_attr *at = out->attr;
    const tn_tensor *a = out->in[0];
    TN_REQUIRE(out, a->ndim >= 1, "needs at least 1 dim");
    TN_REQUIRE(out, at->axis >= -a->ndim && at->axis < a->ndim, "axis %d out of range for %d dims",
               at->axis, a->ndim);
    if (at->axis < 0) at->axis += a->ndim;
    int shape[TN_MAX_DIMS], nd = 0;
    for (int i = 0; i < a->ndim; i++)
        if (i != at->axis) shape[nd++] = a->shape[i];
    tn_set_shape(out, nd, shape);
}

static void axis_dims(const tn_tensor *out, size_t *outer, size_t *len, size_t *inner)
{
    const tn_tensor *a = out->in[0];
    int axis = ((const axis_attr *)out->attr)->axis;
    *outer = tn_shape_numel(axis, a->shape);
    *len = (size_t)a->shape[axis];
    *inner = tn_shape_numel(a->ndim - axis - 1, a->shape + axis + 1);
}

#define AXIS_BLOCK 64

/* y[o, i] = scale * sum_k a[o, k, i], in double over blocks of inner. */
static void axis_reduce(tn_tensor *out, double scale)
{
    size_t outer, len, inner;
    axis_dims(out, &outer, &len, &inner);
    const float *x = out->in[0]->data;
    float *y = out->data;
    size_t nblk = (inner + AXIS_BLOCK - 1) / AXIS_BLOCK, ntask = outer * nblk;
#pragma omp parallel for if (out->in[0]->numel >= TN_PAR_MIN) schedule(static)
    for (size_t t = 0; t < ntask; t++) {
        size_t o = t / nblk, i0 = (t % nblk) * AXIS_BLOCK;
        size_t bi = inner - i0 < AXIS_BLOCK ? inner - i0 : AXIS_BLOCK;
        double acc[AXIS_BLOCK] = {0};
        for (size_t k = 0; k < len; k++) {
            const float *row = x + (o * len + k) * inner + i0;
            for (size_t i = 0; i < bi; i++) acc[i] += row[i];
        }
        for (size_t i = 0; i < bi; i++) y[o * inner + i0 + i] = (float)(acc[i] * scale);
    }
}

/* gx[o, k, i] += scale * gy[o, i]. */
static void axis_spread(tn_graph *g, tn_tensor *out, float scale)
{
    float *gx = tn_grad(g, out->in[0]);
    if (!gx) return;
    size_t outer, len, inner;
    axis_dims(out, &outer, &len, &inner);
    const float *gy = out->grad;
    size_t rows = outer * len;
#pragma omp parallel for if (out->in[0]->numel >= TN_PAR_MIN) schedule(static)
    for (size_t r = 0; r < rows; r++) {
        const float *gr = gy + (r / len) * inner;
        for (size_t i = 0; i < inner; i++) gx[r * inner + i] += scale * gr[i];
    }
}

static void sum_axis_forward(tn_graph *g, tn_tensor *out)
{
    (void)g;
    axis_reduce(out, 1.0);
}

static void mean_axis_forward(tn_graph *g, tn_tensor *out)
{
    (void)g;
    int axis = ((const axis_attr *)out->attr)->axis;
    axis_reduce(out, 1.0 / out->in[0]->shape[axis]);
}

static void sum_axis_backward(tn_graph *g, tn_tensor *out) { axis_spread(g, out, 1.0f); }

static void mean_axis_backward(tn_graph *g, tn_tensor *out)
{
    int axis = ((const axis_attr *)out->attr)->axis;
    axis_spread(g, out, 1.0f / (float)out->in[0]->shape[axis]);
}

const tn_op tn_op_sum_axis = {.name = "sum_axis", .check = axis_check,
                              .forward = sum_axis_forward, .backward = sum_axis_backward};
const tn_op tn_op_mean_axis = {.name = "mean_axis", .check = axis_check,
                               .forward = mean_axis_forward, .backward = mean_axis_backward};

tn_tensor *tn_sum_axis(tn_graph *g, tn_tensor *a, int axis)
{
    return tn_op_apply(g, &tn_op_sum_axis, 1, &a, &(axis_attr){axis}, sizeof(axis_attr));
}

tn_tensor *tn_mean_axis(tn_graph *g, tn_tensor *a, int axis)
{
    return tn_op_apply(g, &tn_op_mean_axis, 1, &a, &(axis_attr){axis}, sizeof(axis_attr));
}
