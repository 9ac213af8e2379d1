/* tensor/pool.c - max and average pooling, and global average pooling, of
 * x (N, C, H, W).
 *
 * Output size floor((H + 2 pad - k) / stride) + 1 (PyTorch, ceil_mode off);
 * PyTorch also requires pad <= k / 2, so no window lies wholly in padding. */
#include "internal.h"

#include <math.h>

static int imin(int a, int b) { return a < b ? a : b; }
static int imax(int a, int b) { return a > b ? a : b; }

typedef struct pool_attr {
    int kernel, stride, padding;
    int32_t *argmax; /* max pool: the winner's index in its (H, W) plane */
} pool_attr;

static void pool_check(tn_tensor *out)
{
    const pool_attr *at = out->attr;
    const tn_tensor *x = out->in[0];
    TN_REQUIRE(out, x->ndim == 4, "x must be (N, C, H, W)");
    TN_REQUIRE(out, at->kernel >= 1 && at->stride >= 1 && at->padding >= 0 &&
                        at->padding <= at->kernel / 2,
               "kernel %d, stride %d, padding %d: need kernel, stride >= 1 and "
               "0 <= padding <= kernel / 2", at->kernel, at->stride, at->padding);
    int oh = x->shape[2] + 2 * at->padding - at->kernel;
    int ow = x->shape[3] + 2 * at->padding - at->kernel;
    TN_REQUIRE(out, oh >= 0 && ow >= 0, "kernel %d does not fit the padded input",
               at->kernel);
    tn_set_shape(out, 4, (int[]){x->shape[0], x->shape[1], oh / at->stride + 1,
                                 ow / at->stride + 1});
}

static void max_pool_forward(tn_graph *g, tn_tensor *out)
{
    pool_attr *at = out->attr;
    const tn_tensor *x = out->in[0];
    const int h = x->shape[2], w = x->shape[3], oh = out->shape[2], ow = out->shape[3];
    const int k = at->kernel, s = at->stride, pad = at->padding;
    const int planes = x->shape[0] * x->shape[1];
    at->argmax = NULL;
    if (out->requires_grad && !(at->argmax = tn_graph_alloc(g, out->numel * sizeof(int32_t))))
        return;
    int32_t *argmax = at->argmax;
#pragma omp parallel for schedule(static) if (x->numel >= TN_PAR_MIN)
    for (int pl = 0; pl < planes; pl++) {
        const float *xp = x->data + (size_t)pl * h * w;
        float *yp = out->data + (size_t)pl * oh * ow;
        int32_t *ap = argmax ? argmax + (size_t)pl * oh * ow : NULL;
        for (int i = 0; i < oh; i++) {
            int h0 = i * s - pad, h1 = imin(h0 + k, h);
            h0 = imax(h0, 0);
            for (int j = 0; j < ow; j++) {
                int w0 = j * s - pad, w1 = imin(w0 + k, w);
                w0 = imax(w0, 0);
                /* Padding is -inf; the first maximum wins; NaN propagates. */
                int best_i = h0 * w + w0;
                float best = -INFINITY;
                for (int y = h0; y < h1; y++)
                    for (int xx = w0; xx < w1; xx++) {
                        float v = xp[y * w + xx];
                        if (v > best || isnan(v)) {
                            best = v;
                            best_i = y * w + xx;
                        }
                    }
                yp[i * ow + j] = best;
                if (ap) ap[i * ow + j] = best_i;
            }
        }
    }
}

static void max_pool_backward(tn_graph *g, tn_tensor *out)
{
    const pool_attr *at = out->attr;
    tn_tensor *x = out->in[0];
    float *gx = tn_grad(g, x);
    if (!gx) return;
    const size_t plane_in = (size_t)x->shape[2] * x->shape[3];
    const size_t plane_out = (size_t)out->shape[2] * out->shape[3];
    const int planes = x->shape[0] * x->shape[1];
#pragma omp parallel for schedule(static) if (x->numel >= TN_PAR_MIN)
    for (int pl = 0; pl < planes; pl++) {
        float *gp = gx + (size_t)pl * plane_in;
        const float *gy = out->grad + (size_t)pl * plane_out;
        const int32_t *ap = at->argmax + (size_t)pl * plane_out;
        for (size_t i = 0; i < plane_out; i++) gp[ap[i]] += gy[i];
    }
}

const tn_op tn_op_max_pool2d = {.name = "max_pool2d", .check = pool_check,
                                .forward = max_pool_forward, .backward = max_pool_backward};

tn_tensor *tn_max_pool2d(tn_graph *g, tn_tensor *x, int kernel, int stride, int padding)
{
    pool_attr at = {.kernel = kernel, .stride = stride, .padding = padding};
    return tn_op_apply(g, &tn_op_max_pool2d, 1, &x, &at, sizeof at);
}

/* Average pooling counts the zero padding (count_include_pad), as PyTorch's
 * default: the divisor is the window clipped to the padded input. */
static void avg_pool_pass(tn_tensor *out, float *gx, bool forward)
{
    const pool_attr *at = out->attr;
    const tn_tensor *x = out->in[0];
    const int h = x->shape[2], w = x->shape[3], oh = out->shape[2], ow = out->shape[3];
    const int k = at->kernel, s = at->stride, pad = at->padding;
    const int planes = x->shape[0] * x->shape[1];
#pragma omp parallel for schedule(static) if (x->numel >= TN_PAR_MIN)
    for (int pl = 0; pl < planes; pl++) {
        const float *xp = x->data + (size_t)pl * h * w;
        float *gp = forward ? NULL : gx + (size_t)pl * h * w;
        float *yp = out->data + (size_t)pl * oh * ow;
        const float *gy = forward ? NULL : out->grad + (size_t)pl * oh * ow;
        for (int i = 0; i < oh; i++) {
            int h0 = i * s - pad, h1 = imin(h0 + k, h + pad);
            int hn = h1 - h0;
            h0 = imax(h0, 0);
            h1 = imin(h1, h);
            for (int j = 0; j < ow; j++) {
                int w0 = j * s - pad, w1 = imin(w0 + k, w + pad);
                float div = (float)(hn * (w1 - w0));
                w0 = imax(w0, 0);
                w1 = imin(w1, w);
                if (forward) {
                    float acc = 0.0f;
                    for (int y = h0; y < h1; y++)
                        for (int xx = w0; xx < w1; xx++) acc += xp[y * w + xx];
                    yp[i * ow + j] = acc / div;
                } else {
                    float d = gy[i * ow + j] / div;
                    for (int y = h0; y < h1; y++)
                        for (int xx = w0; xx < w1; xx++) gp[y * w + xx] += d;
                }
            }
        }
    }
}

static void avg_pool_forward(tn_graph *g, tn_tensor *out)
{
    (void)g;
    avg_pool_pass(out, NULL, true);
}

static void avg_pool_backward(tn_graph *g, tn_tensor *out)
{
    float *gx = tn_grad(g, out->in[0]);
    if (gx) avg_pool_pass(out, gx, false);
}

const tn_op tn_op_avg_pool2d = {.name = "avg_pool2d", .check = pool_check,
                                .forward = avg_pool_forward, .backward = avg_pool_backward};

tn_tensor *tn_avg_pool2d(tn_graph *g, tn_tensor *x, int kernel, int stride, int padding)
{
    pool_attr at = {.kernel = kernel, .stride = stride, .padding = padding};
    return tn_op_apply(g, &tn_op_avg_pool2d, 1, &x, &at, sizeof at);
}

/* ------------------------------------------------------ global avg pool */

static void gap_check(tn_tensor *out)
{
    const tn_tensor *x = out->in[0];
    TN_REQUIRE(out, x->ndim == 4, "x must be (N, C, H, W)");
    tn_set_shape(out, 2, x->shape);
}

static void gap_forward(tn_graph *g, tn_tensor *out)
{
    (void)g;
    const tn_tensor *x = out->in[0];
    const size_t hw = (size_t)x->shape[2] * x->shape[3];
    const long planes = (long)out->numel;
#pragma omp parallel for schedule(static) if (x->numel >= TN_PAR_MIN)
    for (long pl = 0; pl < planes; pl++) {
        const float *xp = x->data + (size_t)pl * hw;
        float acc = 0.0f;
        for (size_t i = 0; i < hw; i++) acc += xp[i];
        out->data[pl] = acc / (float)hw;
    }
}

static void gap_backward(tn_graph *g, tn_tensor *out)
{
    tn_tensor *x = out->in[0];
    float *gx = tn_grad(g, x);
    if (!gx) return;
    const size_t hw = (size_t)x->shape[2] * x->shape[3];
    const long planes = (long)out->numel;
#pragma omp parallel for schedule(static) if (x->numel >= TN_PAR_MIN)
    for (long pl = 0; pl < planes; pl++) {
        float d = out->grad[pl] / (float)hw;
        float *gp = gx + (size_t)pl * hw;
        for (size_t i = 0; i < hw; i++) gp[i] += d;
    }
}

const tn_op tn_op_global_avg_pool = {.name = "global_avg_pool", .check = gap_check,
                                     .forward = gap_forward, .backward = gap_backward};

tn_tensor *tn_global_avg_pool(tn_graph *g, tn_tensor *x)
{
    return tn_op_apply(g, &tn_op_global_avg_pool, 1, &x, NULL, 0);
}
