/* tensor/internal.h - what op implementations share; not installed. */
#ifndef TENET_TENSOR_INTERNAL_H
#define TENET_TENSOR_INTERNAL_H

#include "tensor.h"

#include <stdio.h>
#include <string.h>

/* Abort with the op's name and the shapes of its inputs when `cond` fails.
 * Use inside check functions: TN_REQUIRE(out, a->ndim == 2, "a must be 2-D"). */
#define TN_REQUIRE(out, cond, ...)                                             \
    do {                                                                       \
        if (!(cond)) tn_misuse_node((out), __FILE__, __LINE__, __VA_ARGS__);   \
    } while (0)

_Noreturn void tn_misuse_node(const tn_tensor *out, const char *file, int line,
                              const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* Set out's shape from a list of dims. */
void tn_set_shape(tn_tensor *out, int ndim, const int *shape);

/* Loops over this many elements or more run on all threads. */
#define TN_PAR_MIN 32768

/* Sums of the normalisation ops (tensor/ops_norm.c): float runs of 256 in
 * vector lanes, the runs in double.  sum x[i] and sum (x[i] - mu)^2. */
double tn_norm_sum(const float *x, size_t n);
double tn_norm_sum_sq_centered(const float *x, size_t n, double mu);
/* Adds sum dz and sum dz (x[i] - mu) to *sum_dz and *sum_dz_xc, dz = dy, or
 * dy where y > 0 when y is given (after a relu). */
void tn_norm_sums_dy(const float *dy, const float *y, const float *x, size_t n, float mu,
                     double *sum_dz, double *sum_dz_xc);

/* ------------------------------------------------------- element-wise ops
 * An op y = f(x) over all elements of a (...) -> (...), with an optional
 * float scalar `s` in out->attr:
 *   TN_UNARY_OP(name, y[i] expression, dy/dx expression)
 * defines name_forward, name_backward and `const tn_op tn_op_<name>`; the
 * expressions may use x[i], y[i] (backward) and s. */
void tn_check_same_shape(tn_tensor *out); /* out gets in[0]'s shape */

#define TN_UNARY_FORWARD(out, EXPR)                                                 \
    do {                                                                            \
        const float *x = (out)->in[0]->data;                                        \
        float *y = (out)->data;                                                     \
        size_t n = (out)->numel;                                                    \
        float s = (out)->attr ? *(const float *)(out)->attr : 0.0f;                 \
        (void)s;                                                                    \
        _Pragma("omp parallel for if (n >= TN_PAR_MIN) schedule(static)")           \
        for (size_t i = 0; i < n; i++) y[i] = (EXPR);                               \
    } while (0)

/* gx[i] += gy[i] * DYDX; nothing when x needs no gradient. */
#define TN_UNARY_BACKWARD(g, out, DYDX)                                             \
    do {                                                                            \
        float *gx = tn_grad((g), (out)->in[0]);                                     \
        if (!gx) break;                                                             \
        const float *x = (out)->in[0]->data, *y = (out)->data, *gy = (out)->grad;   \
        size_t n = (out)->numel;                                                    \
        float s = (out)->attr ? *(const float *)(out)->attr : 0.0f;                 \
        (void)x, (void)y, (void)s;                                                  \
        _Pragma("omp parallel for if (n >= TN_PAR_MIN) schedule(static)")           \
        for (size_t i = 0; i < n; i++) gx[i] += gy[i] * (DYDX);                     \
    } while (0)

#define TN_UNARY_OP(name_, FWD, DYDX)                                               \
    static void name_##_forward(tn_graph *g, tn_tensor *out)                        \
    {                                                                               \
        (void)g;                                                                    \
        TN_UNARY_FORWARD(out, FWD);                                                 \
    }                                                                               \
    static void name_##_backward(tn_graph *g, tn_tensor *out)                       \
    {                                                                               \
        TN_UNARY_BACKWARD(g, out, DYDX);                                            \
    }                                                                               \
    const tn_op tn_op_##name_ = {.name = #name_, .check = tn_check_same_shape,      \
                                 .forward = name_##_forward,                        \
                                 .backward = name_##_backward};

/* ---------------------------------------------------------------- op table
 * Every built-in op is one row here; each family file defines
 * `const tn_op tn_op_<name>` and a missing definition is a link error.
 * Each family keeps its own list. */
#define TN_OPS_ELEMENTWISE(X) X(add) X(sub) X(mul) X(div) X(scale) X(add_scalar) X(neg) X(exp) X(log) X(sqrt) X(square) X(abs) X(pow)
#define TN_OPS_ACTIVATION(X) X(relu) X(leaky_relu) X(sigmoid) X(tanh) X(gelu) X(softmax) X(log_softmax)
#define TN_OPS_LINALG(X) X(matmul) X(linear)
#define TN_OPS_REDUCE(X) X(sum) X(mean) X(sum_axis) X(mean_axis) X(sum_squares) X(sum_abs)
#define TN_OPS_SHAPE(X) X(reshape) X(flatten) X(transpose) X(permute) X(concat)
#define TN_OPS_CONV(X) X(conv2d) X(conv2d_relu) X(max_pool2d) X(avg_pool2d) X(global_avg_pool)
#define TN_OPS_NORM(X) X(batch_norm) X(batch_norm_relu) X(dropout) X(group_norm) X(layer_norm)
#define TN_OPS_LOSS(X) X(cross_entropy) X(cross_entropy_soft) X(nll_loss) X(mse_loss)

#define TN_BUILTIN_OPS(X)                                                      \
    TN_OPS_ELEMENTWISE(X) TN_OPS_ACTIVATION(X) TN_OPS_LINALG(X)                \
    TN_OPS_REDUCE(X) TN_OPS_SHAPE(X) TN_OPS_CONV(X) TN_OPS_NORM(X)             \
    TN_OPS_LOSS(X)

#define TN_DECLARE_OP(name) extern const tn_op tn_op_##name;
TN_BUILTIN_OPS(TN_DECLARE_OP)
#undef TN_DECLARE_OP

#endif
