/* tensor/ops_elementwise.c - arithmetic with a bias broadcast over leading
 * dims, and the element-wise math functions. */
#include "internal.h"

#include <math.h>

/* ------------------------------------------------------------ binary ops
 * a (...), b with a's shape or the shape of a's trailing dims (a bias (C) on
 * (N, C)): then a is `rows` rows of nb elements and
 * out[r*nb + j] = a[r*nb + j] (op) b[j]. */

static void check_binary(tn_tensor *out)
{
    const tn_tensor *a = out->in[0], *b = out->in[1];
    bool ok = b->ndim <= a->ndim;
    for (int i = 0; ok && i < b->ndim; i++) ok = b->shape[i] == a->shape[a->ndim - b->ndim + i];
    TN_REQUIRE(out, ok, "b must have a's shape or a's trailing dims");
    tn_set_shape(out, a->ndim, a->shape);
}

/* The loop shared by every binary forward: over rows of b's size, in
 * parallel over rows when b is a broadcast bias and over elements when b has
 * a's shape.  EXPR computes y[k] from a[k] and b[j]. */
#define BINARY_FORWARD(out, EXPR)                                                   \
    do {                                                                            \
        const float *a = (out)->in[0]->data, *b = (out)->in[1]->data;               \
        float *y = (out)->data;                                                     \
        size_t n = (out)->numel, nb = (out)->in[1]->numel, rows = n / nb;           \
        if (rows == 1) {                                                            \
            _Pragma("omp parallel for if (n >= TN_PAR_MIN) schedule(static)")       \
            for (size_t k = 0; k < n; k++) {                                        \
                size_t j = k;                                                       \
                y[k] = (EXPR);                                                      \
            }                                                                       \
        } else {                                                                    \
            _Pragma("omp parallel for if (n >= TN_PAR_MIN) schedule(static)")       \
            for (size_t r = 0; r < rows; r++)                                       \
                for (size_t j = 0; j < nb; j++) {                                   \
                    size_t k = r * nb + j;                                          \
                    y[k] = (EXPR);                                                  \
                }                                                                   \
        }                                                                           \
    } while (0)

static void add_forward(tn_graph *g, tn_tensor *out)
{
    (void)g;
    BINARY_FORWARD(out, a[k] + b[j]);
}

static void sub_forward(tn_graph *g, tn_tensor *out)
{
    (void)g;
    BINARY_FORWARD(out, a[k] - b[j]);
}

static void mul_forward(tn_graph *g, tn_tensor *out)
{
    (void)g;
    BINARY_FORWARD(out, a[k] * b[j]);
}

static void div_forward(tn_graph *g, tn_tensor *out)
{
    (void)g;
    BINARY_FORWARD(out, a[k] / b[j]);
}

/* ga += s * gy, element-wise over a's shape. */
static void accumulate_scaled(float *ga, const float *gy, size_t n, float s)
{
#pragma omp parallel for if (n >= TN_PAR_MIN) schedule(static)
    for (size_t i = 0; i < n; i++) ga[i] += s * gy[i];
}

/* d/db of a broadcast b: gb[j] += s * sum over rows of gy[r*nb + j].  When b
 * has a's shape (one row) the columns are independent and run in parallel. */
static void reduce_rows_into(float *gb, const float *gy, size_t n, size_t nb, float s)
{
    if (n == nb) {
        accumulate_scaled(gb, gy, n, s);
        return;
    }
    for (size_t r = 0; r < n; r += nb)
        for (size_t j = 0; j < nb; j++) gb[j] += s * gy[r + j];
}

static void add_backward(tn_graph *g, tn_tensor *out)
{
    size_t n = out->numel, nb = out->in[1]->numel;
    float *ga = tn_grad(g, out->in[0]), *gb = tn_grad(g, out->in[1]);
    if (ga) accumulate_scaled(ga, out->grad, n, 1.0f);
    if (gb) reduce_rows_into(gb, out->grad, n, nb, 1.0f);
}

static void sub_backward(tn_graph *g, tn_tensor *out)
{
    size_t n = out->numel, nb = out->in[1]->numel;
    float *ga = tn_grad(g, out->in[0]), *gb = tn_grad(g, out->in[1]);
    if (ga) accumulate_scaled(ga, out->grad, n, 1.0f);
    if (gb) reduce_rows_into(gb, out->grad, n, nb, -1.0f);
}

/* mul: ga = gy * b (broadcast), gb = sum over rows of gy * a.
 * div: ga = gy / b,             gb = sum over rows of -gy * y / b. */
static void mul_div_backward(tn_graph *g, tn_tensor *out, bool is_div)
{
    const float *a = out->in[0]->data, *b = out->in[1]->data, *y = out->data;
    const float *gy = out->grad;
    size_t n = out->numel, nb = out->in[1]->numel, rows = n / nb;
    float *ga = tn_grad(g, out->in[0]), *gb = tn_grad(g, out->in[1]);
    if (ga) {
#pragma omp parallel for if (n >= TN_PAR_MIN) schedule(static)
        for (size_t r = 0; r < rows; r++)
            for (size_t j = 0; j < nb; j++) {
                size_t k = r * nb + j;
                ga[k] += is_div ? gy[k] / b[j] : gy[k] * b[j];
            }
    }
    if (gb) {
        if (rows == 1) {
#pragma omp parallel for if (n >= TN_PAR_MIN) schedule(static)
            for (size_t j = 0; j < nb; j++) gb[j] += is_div ? -gy[j] * y[j] / b[j] : gy[j] * a[j];
        } else {
            for (size_t r = 0; r < rows; r++)
                for (size_t j = 0; j < nb; j++) {
                    size_t k = r * nb + j;
                    gb[j] += is_div ? -gy[k] * y[k] / b[j] : gy[k] * a[k];
                }
        }
    }
}

static void mul_backward(tn_graph *g, tn_tensor *out) { mul_div_backward(g, out, false); }
static void div_backward(tn_graph *g, tn_tensor *out) { mul_div_backward(g, out, true); }

const tn_op tn_op_add = {.name = "add", .check = check_binary, .forward = add_forward,
                         .backward = add_backward};
const tn_op tn_op_sub = {.name = "sub", .check = check_binary, .forward = sub_forward,
                         .backward = sub_backward};
const tn_op tn_op_mul = {.name = "mul", .check = check_binary, .forward = mul_forward,
                         .backward = mul_backward};
const tn_op tn_op_div = {.name = "div", .check = check_binary, .forward = div_forward,
                         .backward = div_backward};

tn_tensor *tn_add(tn_graph *g, tn_tensor *a, tn_tensor *b)
{
    return tn_op_apply(g, &tn_op_add, 2, (tn_tensor *[]){a, b}, NULL, 0);
}

tn_tensor *tn_sub(tn_graph *g, tn_tensor *a, tn_tensor *b)
{
    return tn_op_apply(g, &tn_op_sub, 2, (tn_tensor *[]){a, b}, NULL, 0);
}

tn_tensor *tn_mul(tn_graph *g, tn_tensor *a, tn_tensor *b)
{
    return tn_op_apply(g, &tn_op_mul, 2, (tn_tensor *[]){a, b}, NULL, 0);
}

tn_tensor *tn_div(tn_graph *g, tn_tensor *a, tn_tensor *b)
{
    return tn_op_apply(g, &tn_op_div, 2, (tn_tensor *[]){a, b}, NULL, 0);
}

/* ------------------------------------------------------------- unary ops
 * a (...) -> (...).  Ops with a scalar keep it in out->attr (a float). */

/* sign(x) with 0 at 0, as torch.sign: the subgradient of |x| PyTorch uses. */
static inline float sign0(float x) { return (float)((x > 0.0f) - (x < 0.0f)); }

/* d(x^p)/dx = p x^(p-1); 0 when p == 0 (x^0 is constant), as in PyTorch. */
static inline float pow_grad(float x, float p) { return p == 0.0f ? 0.0f : p * powf(x, p - 1.0f); }

TN_UNARY_OP(scale, x[i] * s, s)
TN_UNARY_OP(add_scalar, x[i] + s, 1.0f)
TN_UNARY_OP(neg, -x[i], -1.0f)
TN_UNARY_OP(exp, expf(x[i]), y[i])
TN_UNARY_OP(log, logf(x[i]), 1.0f / x[i])
TN_UNARY_OP(sqrt, sqrtf(x[i]), 0.5f / y[i])
TN_UNARY_OP(square, x[i] * x[i], 2.0f * x[i])
TN_UNARY_OP(abs, fabsf(x[i]), sign0(x[i]))
TN_UNARY_OP(pow, powf(x[i], s), pow_grad(x[i], s))

static tn_tensor *unary(tn_graph *g, const tn_op *op, tn_tensor *a)
{
    return tn_op_apply(g, op, 1, &a, NULL, 0);
}

static tn_tensor *unary_scalar(tn_graph *g, const tn_op *op, tn_tensor *a, float s)
{
    return tn_op_apply(g, op, 1, &a, &s, sizeof s);
}

tn_tensor *tn_scale(tn_graph *g, tn_tensor *a, float s) { return unary_scalar(g, &tn_op_scale, a, s); }
tn_tensor *tn_add_scalar(tn_graph *g, tn_tensor *a, float s)
{
    return unary_scalar(g, &tn_op_add_scalar, a, s);
}
tn_tensor *tn_neg(tn_graph *g, tn_tensor *a) { return unary(g, &tn_op_neg, a); }
tn_tensor *tn_exp(tn_graph *g, tn_tensor *a) { return unary(g, &tn_op_exp, a); }
tn_tensor *tn_log(tn_graph *g, tn_tensor *a) { return unary(g, &tn_op_log, a); }
tn_tensor *tn_sqrt(tn_graph *g, tn_tensor *a) { return unary(g, &tn_op_sqrt, a); }
tn_tensor *tn_square(tn_graph *g, tn_tensor *a) { return unary(g, &tn_op_square, a); }
tn_tensor *tn_abs(tn_graph *g, tn_tensor *a) { return unary(g, &tn_op_abs, a); }
tn_tensor *tn_pow(tn_graph *g, tn_tensor *a, float p) { return unary_scalar(g, &tn_op_pow, a, p); }
