/* tensor/ops_activation.c - element-wise activations, and softmax and
 * log_softmax over the last dim (numerically stable: the row's max is
 * subtracted before exponentiating). */
#include "internal.h"

#include <math.h>

/* a (..., K) -> (..., K), K the last dim. */
static void check_last_dim(tn_tensor *out)
{
    TN_REQUIRE(out, out->in[0]->ndim >= 1, "needs at least 1 dim (works over the last)");
    tn_check_same_shape(out);
}

/* ---------------------------------------------------------- element-wise */

/* 1 / (1 + e^-x) without overflow for large |x|. */
static inline float sigmoid1(float x)
{
    if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
    float e = expf(x);
    return e / (1.0f + e);
}

/* gelu(x) = x * Phi(x), Phi the standard normal CDF (PyTorch's default,
 * approximate='none'); gelu'(x) = Phi(x) + x * phi(x). */
#define TN_SQRT1_2 0.70710678118654752440f
#define TN_INV_SQRT_2PI 0.39894228040143267794f

static inline float gelu1(float x) { return 0.5f * x * (1.0f + erff(x * TN_SQRT1_2)); }

static inline float gelu_grad(float x)
{
    return 0.5f * (1.0f + erff(x * TN_SQRT1_2)) + x * TN_INV_SQRT_2PI * expf(-0.5f * x * x);
}

/* relu: vectorised, and its backward writes into the output's gradient
 * buffer (dead after it) when x has no gradient buffer yet. */
static void relu_forward(tn_graph *g, tn_tensor *out)
{
    (void)g;
    const float *x = out->in[0]->data;
    float *y = out->data;
    const long n = (long)out->numel;
#pragma omp parallel for simd if (n >= TN_PAR_MIN) schedule(static)
    for (long i = 0; i < n; i++) {
        const float v = x[i];
        y[i] = v > 0.0f ? v : 0.0f;
    }
}

static void relu_backward(tn_graph *g, tn_tensor *out)
{
    tn_tensor *a = out->in[0];
    if (!a->requires_grad) return;
    const float *x = a->data, *gy = out->grad;
    const long n = (long)out->numel;
    if (!a->grad) { /* gx = gy * (x > 0), in gy's buffer */
        float *gx = a->grad = out->grad;
#pragma omp parallel for simd if (n >= TN_PAR_MIN) schedule(static)
        for (long i = 0; i < n; i++) {
            const float d = gy[i];
            gx[i] = x[i] > 0.0f ? d : 0.0f;
        }
        return;
    }
    float *gx = tn_grad(g, a);
#pragma omp parallel for simd if (n >= TN_PAR_MIN) schedule(static)
    for (long i = 0; i < n; i++) {
        const float d = gy[i];
        gx[i] += x[i] > 0.0f ? d : 0.0f;
    }
}

const tn_op tn_op_relu = {.name = "relu", .check = tn_check_same_shape, .forward = relu_forward,
                          .backward = relu_backward};

/* Gradients at the kinks as in PyTorch: relu' (0) = 0, leaky_relu'(0) = slope. */
TN_UNARY_OP(leaky_relu, x[i] > 0.0f ? x[i] : s * x[i], x[i] > 0.0f ? 1.0f : s)
TN_UNARY_OP(sigmoid, sigmoid1(x[i]), y[i] * (1.0f - y[i]))
TN_UNARY_OP(tanh, tanhf(x[i]), 1.0f - y[i] * y[i])
TN_UNARY_OP(gelu, gelu1(x[i]), gelu_grad(x[i]))

tn_tensor *tn_relu(tn_graph *g, tn_tensor *a)
{
    return tn_op_apply(g, &tn_op_relu, 1, &a, NULL, 0);
}

tn_tensor *tn_leaky_relu(tn_graph *g, tn_tensor *a, float slope)
{
    return tn_op_apply(g, &tn_op_leaky_relu, 1, &a, &slope, sizeof slope);
}

tn_tensor *tn_sigmoid(tn_graph *g, tn_tensor *a)
{
    return tn_op_apply(g, &tn_op_sigmoid, 1, &a, NULL, 0);
}

tn_tensor *tn_tanh(tn_graph *g, tn_tensor *a)
{
    return tn_op_apply(g, &tn_op_tanh, 1, &a, NULL, 0);
}

tn_tensor *tn_gelu(tn_graph *g, tn_tensor *a)
{
    return tn_op_apply(g, &tn_op_gelu, 1, &a, NULL, 0);
}

/* ------------------------------------------------- softmax, log_softmax
 * Rows of K = the last dim; each row independent, in parallel when large.
 * The row's exponential sum is accumulated in double. */

/* A row's largest entry m, and Σ exp(x_j − m) in double (the terms also
 * written to e unless it is NULL). */
static float row_max(const float *x, size_t k)
{
    float m = x[0];
    for (size_t j = 1; j < k; j++) m = x[j] > m ? x[j] : m;
    return m;
}

static double row_exp_sum(const float *x, size_t k, float m, float *e)
{
    double sum = 0.0;
    for (size_t j = 0; j < k; j++) {
        float t = expf(x[j] - m);
        if (e) e[j] = t;
        sum += t;
    }
    return sum;
}

static void softmax_forward(tn_graph *g, tn_tensor *out)
{
    (void)g;
    const tn_tensor *a = out->in[0];
    size_t k = (size_t)a->shape[a->ndim - 1], rows = a->numel / k, n = a->numel;
    const float *x = a->data;
    float *y = out->data;
#pragma omp parallel for if (n >= TN_PAR_MIN) schedule(static)
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * k;
        float *yr = y + r * k;
        double sum = row_exp_sum(xr, k, row_max(xr, k), yr);
        float inv = (float)(1.0 / sum);
        for (size_t j = 0; j < k; j++) yr[j] *= inv;
    }
}

/* gx = y * (gy - sum_j gy_j y_j) per row. */
static void softmax_backward(tn_graph *g, tn_tensor *out)
{
    float *gx = tn_grad(g, out->in[0]);
    if (!gx) return;
    size_t k = (size_t)out->shape[out->ndim - 1], rows = out->numel / k, n = out->numel;
    const float *y = out->data, *gy = out->grad;
#pragma omp parallel for if (n >= TN_PAR_MIN) schedule(static)
    for (size_t r = 0; r < rows; r++) {
        const float *yr = y + r * k, *gr = gy + r * k;
        double dot = 0.0;
        for (size_t j = 0; j < k; j++) dot += (double)gr[j] * yr[j];
        float d = (float)dot;
        for (size_t j = 0; j < k; j++) gx[r * k + j] += yr[j] * (gr[j] - d);
    }
}

/* y = x - max - log(sum exp(x - max)) per row. */
static void log_softmax_forward(tn_graph *g, tn_tensor *out)
{
    (void)g;
    const tn_tensor *a = out->in[0];
    size_t k = (size_t)a->shape[a->ndim - 1], rows = a->numel / k, n = a->numel;
    const float *x = a->data;
    float *y = out->data;
#pragma omp parallel for if (n >= TN_PAR_MIN) schedule(static)
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * k;
        float *yr = y + r * k;
        float m = row_max(xr, k);
        float lse = m + (float)log(row_exp_sum(xr, k, m, NULL));
        for (size_t j = 0; j < k; j++) yr[j] = xr[j] - lse;
    }
}

/* gx = gy - exp(y) * sum_j gy_j per row. */
static void log_softmax_backward(tn_graph *g, tn_tensor *out)
{
    float *gx = tn_grad(g, out->in[0]);
    if (!gx) return;
    size_t k = (size_t)out->shape[out->ndim - 1], rows = out->numel / k, n = out->numel;
    const float *y = out->data, *gy = out->grad;
#pragma omp parallel for if (n >= TN_PAR_MIN) schedule(static)
    for (size_t r = 0; r < rows; r++) {
        const float *yr = y + r * k, *gr = gy + r * k;
        double sum = 0.0;
        for (size_t j = 0; j < k; j++) sum += gr[j];
        float s = (float)sum;
        for (size_t j = 0; j < k; j++) gx[r * k + j] += gr[j] - expf(yr[j]) * s;
    }
}

const tn_op tn_op_softmax = {.name = "softmax", .check = check_last_dim,
                             .forward = softmax_forward, .backward = softmax_backward};
const tn_op tn_op_log_softmax = {.name = "log_softmax", .check = check_last_dim,
                                 .forward = log_softmax_forward,
                                 .backward = log_softmax_backward};

tn_tensor *tn_softmax(tn_graph *g, tn_tensor *a)
{
    return tn_op_apply(g, &tn_op_softmax, 1, &a, NULL, 0);
}

tn_tensor *tn_log_softmax(tn_graph *g, tn_tensor *a)
{
    return tn_op_apply(g, &tn_op_log_softmax, 1, &a, NULL, 0);
}
