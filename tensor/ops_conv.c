/* tensor/ops_conv.c - 2-D convolution (im2col + one sgemm over the whole
 * batch), max and average pooling, and global average pooling.  Layouts are
 * PyTorch's: x (N, C, H, W), w (O, C, KH, KW). */
#include "internal.h"

#include <cblas.h>
#include <limits.h>
#include <math.h>

static int imin(int a, int b) { return a < b ? a : b; }
static int imax(int a, int b) { return a > b ? a : b; }

/* Sum in double, in four independent chains (not latency-bound). */
static double sum_d(const float *x, size_t n)
{
    double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += x[i];
        s1 += x[i + 1];
        s2 += x[i + 2];
        s3 += x[i + 3];
    }
    for (; i < n; i++) s0 += x[i];
    return (s0 + s1) + (s2 + s3);
}

/* ceil(a / b) for b > 0 and any sign of a. */
static int ceil_div(int a, int b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }

/* ------------------------------------------------------------- geometry */

typedef struct conv_geom {
    int n, c, h, w;        /* input */
    int o, kh, kw;         /* weight */
    int oh, ow;            /* output */
    int stride, pad, dil;
    size_t p;              /* oh * ow */
    size_t np;             /* n * oh * ow: columns of the im2col matrix */
    size_t ckk;            /* c * kh * kw: rows of the im2col matrix */
} conv_geom;

/* The output columns ow in [*lo, *hi) read input columns inside [0, w) for a
 * kernel tap at offset `off` = k * dil - pad; the others read the padding. */
static void valid_range(int off, int stride, int w, int ow, int *lo, int *hi)
{
    int l = ceil_div(-off, stride), h = ceil_div(w - off, stride);
    l = imax(0, imin(l, ow));
    h = imax(l, imin(h, ow));
    *lo = l;
    *hi = h;
}

/* cols (C*KH*KW, N*OH*OW): row (c, kh, kw), column (n, oh, ow). */
static void im2col(const conv_geom *gm, const float *x, float *cols)
{
    const int rows = (int)gm->ckk, n_img = gm->n;
    const size_t hw = (size_t)gm->h * gm->w;
#pragma omp parallel for collapse(2) schedule(static) if (gm->ckk * gm->np >= TN_PAR_MIN)
    for (int r = 0; r < rows; r++) {
        for (int n = 0; n < n_img; n++) {
            int c = r / (gm->kh * gm->kw), kh = r / gm->kw % gm->kh, kw = r % gm->kw;
            int off_w = kw * gm->dil - gm->pad, lo, hi;
            valid_range(off_w, gm->stride, gm->w, gm->ow, &lo, &hi);
            const float *xp = x + ((size_t)n * gm->c + c) * hw;
            float *dst = cols + (size_t)r * gm->np + (size_t)n * gm->p;
            for (int oh = 0; oh < gm->oh; oh++, dst += gm->ow) {
                int ih = oh * gm->stride + kh * gm->dil - gm->pad;
                if (ih < 0 || ih >= gm->h) {
                    memset(dst, 0, (size_t)gm->ow * sizeof(float));
                    continue;
                }
                const float *row = xp + (size_t)ih * gm->w;
                for (int ow = 0; ow < lo; ow++) dst[ow] = 0.0f;
                if (gm->stride == 1)
                    memcpy(dst + lo, row + lo + off_w, (size_t)(hi - lo) * sizeof(float));
                else
                    for (int ow = lo; ow < hi; ow++) dst[ow] = row[ow * gm->stride + off_w];
                for (int ow = hi; ow < gm->ow; ow++) dst[ow] = 0.0f;
            }
        }
    }
}

/* gx (N, C, H, W) += col2im(cols); each (n, c) plane is written by one thread. */
static void col2im_add(const conv_geom *gm, const float *cols, float *gx)
{
    const int n_img = gm->n, chans = gm->c;
    const size_t hw = (size_t)gm->h * gm->w;
#pragma omp parallel for collapse(2) schedule(static) if (gm->ckk * gm->np >= TN_PAR_MIN)
    for (int n = 0; n < n_img; n++) {
        for (int c = 0; c < chans; c++) {
            float *gp = gx + ((size_t)n * gm->c + c) * hw;
            for (int kh = 0; kh < gm->kh; kh++) {
                for (int kw = 0; kw < gm->kw; kw++) {
                    size_t r = ((size_t)c * gm->kh + kh) * gm->kw + kw;
                    int off_w = kw * gm->dil - gm->pad, lo, hi;
                    valid_range(off_w, gm->stride, gm->w, gm->ow, &lo, &hi);
                    const float *src = cols + r * gm->np + (size_t)n * gm->p;
                    for (int oh = 0; oh < gm->oh; oh++, src += gm->ow) {
                        int ih = oh * gm->stride + kh * gm->dil - gm->pad;
                        if (ih < 0 || ih >= gm->h) continue;
                        float *row = gp + (size_t)ih * gm->w;
                        if (gm->stride == 1)
                            for (int ow = lo; ow < hi; ow++) row[ow + off_w] += src[ow];
                        else
                            for (int ow = lo; ow < hi; ow++)
                                row[ow * gm->stride + off_w] += src[ow];
                    }
                }
            }
        }
    }
}

/* dst (B, A, P) = src (A, B, P) (+ bias[a]): a transpose of P-float items,
 * in tiles of T x T items (about 2 KiB of items per side) so that both the
 * reads and the writes stay in cache when P is small. */
static void transpose_items(float *dst, const float *src, int A, int B, size_t P,
                            const float *bias)
{
    int T = P >= 512 ? 1 : (int)(512 / P);
    if (T > 32) T = 32;
    const int nb_a = (A + T - 1) / T, nb_b = (B + T - 1) / T;
#pragma omp parallel for collapse(2) schedule(static) if ((size_t)A * B * P >= TN_PAR_MIN)
    for (int jb = 0; jb < nb_b; jb++) {
        for (int ib = 0; ib < nb_a; ib++) {
            int b_end = imin(B, (jb + 1) * T), a_end = imin(A, (ib + 1) * T);
            for (int b = jb * T; b < b_end; b++) {
                for (int a = ib * T; a < a_end; a++) {
                    const float *s = src + ((size_t)a * B + b) * P;
                    float *d = dst + ((size_t)b * A + a) * P;
                    float add = bias ? bias[a] : 0.0f;
                    for (size_t i = 0; i < P; i++) d[i] = s[i] + add;
                }
            }
        }
    }
}

/* ---------------------------------------------------------------- conv2d */

typedef struct conv_attr {
    int stride, padding, dilation;
} conv_attr;

static conv_geom conv_geometry(const tn_tensor *out)
{
    const conv_attr *at = out->attr;
    const tn_tensor *x = out->in[0], *w = out->in[1];
    conv_geom gm = {.n = x->shape[0], .c = x->shape[1], .h = x->shape[2], .w = x->shape[3],
                    .o = w->shape[0], .kh = w->shape[2], .kw = w->shape[3],
                    .stride = at->stride, .pad = at->padding, .dil = at->dilation};
    gm.oh = (gm.h + 2 * gm.pad - gm.dil * (gm.kh - 1) - 1) / gm.stride + 1;
    gm.ow = (gm.w + 2 * gm.pad - gm.dil * (gm.kw - 1) - 1) / gm.stride + 1;
    if (gm.h + 2 * gm.pad - gm.dil * (gm.kh - 1) - 1 < 0) gm.oh = 0;
    if (gm.w + 2 * gm.pad - gm.dil * (gm.kw - 1) - 1 < 0) gm.ow = 0;
    gm.p = (size_t)gm.oh * gm.ow;
    gm.np = (size_t)gm.n * gm.p;
    gm.ckk = (size_t)gm.c * gm.kh * gm.kw;
    return gm;
}

static void conv_check(tn_tensor *out)
{
    const conv_attr *at = out->attr;
    const tn_tensor *x = out->in[0], *w = out->in[1];
    TN_REQUIRE(out, out->n_in == 2 || out->n_in == 3, "takes x, w and an optional b");
    TN_REQUIRE(out, at->stride >= 1 && at->padding >= 0 && at->dilation >= 1,
               "stride %d, padding %d, dilation %d: need stride >= 1, padding >= 0, "
               "dilation >= 1", at->stride, at->padding, at->dilation);
    TN_REQUIRE(out, x->ndim == 4, "x must be (N, C, H, W)");
    TN_REQUIRE(out, w->ndim == 4 && w->shape[1] == x->shape[1],
               "w must be (O, C, KH, KW) with x's C = %d", x->shape[1]);
    if (out->n_in == 3)
        TN_REQUIRE(out, out->in[2]->ndim == 1 && out->in[2]->shape[0] == w->shape[0],
                   "b must be (O) = (%d)", w->shape[0]);
    conv_geom gm = conv_geometry(out);
    TN_REQUIRE(out, gm.oh >= 1 && gm.ow >= 1,
               "the kernel (dilated) does not fit the padded input (padding %d, dilation %d)",
               at->padding, at->dilation);
    TN_REQUIRE(out, gm.np <= INT_MAX && gm.ckk <= INT_MAX && gm.ckk * gm.np <= SIZE_MAX / 8,
               "the im2col matrix (%zu, %zu) is too large for one sgemm", gm.ckk, gm.np);
    tn_set_shape(out, 4, (int[]){gm.n, gm.o, gm.oh, gm.ow});
}

static void conv_forward(tn_graph *g, tn_tensor *out)
{
    conv_geom gm = conv_geometry(out);
    const float *w = out->in[1]->data, *b = out->n_in == 3 ? out->in[2]->data : NULL;
    /* One scratch block: the columns, then the (O, N*P) product unless N == 1,
     * where the product already has the output's layout. */
    size_t tmp_n = gm.n == 1 ? 0 : (size_t)gm.o * gm.np;
    float *cols = tn_graph_scratch(g, gm.ckk * gm.np + tmp_n);
    if (!cols) return;
    float *tmp = gm.n == 1 ? out->data : cols + gm.ckk * gm.np;
    im2col(&gm, out->in[0]->data, cols);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, gm.o, (int)gm.np, (int)gm.ckk, 1.0f,
                w, (int)gm.ckk, cols, (int)gm.np, 0.0f, tmp, (int)gm.np);
    /* (O, N, P) -> (N, O, P), adding the bias on the way. */
    if (gm.n > 1)
        transpose_items(out->data, tmp, gm.o, gm.n, gm.p, b);
    else if (b)
        for (int o = 0; o < gm.o; o++)
            for (size_t i = 0; i < gm.p; i++) out->data[(size_t)o * gm.p + i] += b[o];
}

static void conv_backward(tn_graph *g, tn_tensor *out)
{
    conv_geom gm = conv_geometry(out);
    tn_tensor *x = out->in[0], *wt = out->in[1];
    float *gx = tn_grad(g, x), *gw = tn_grad(g, wt);
    float *gb = out->n_in == 3 ? tn_grad(g, out->in[2]) : NULL;
    if (tn_graph_status(g) != TN_OK) return;
    if (!gx && !gw && !gb) return;

    /* gy (N, O, P) -> gy_r (O, N*P); for N == 1 they coincide. */
    size_t gy_n = gm.n == 1 ? 0 : (size_t)gm.o * gm.np;
    size_t col_n = (gx || gw) ? gm.ckk * gm.np : 0;
    float *scratch = tn_graph_scratch(g, gy_n + col_n);
    if (!scratch) return;
    const float *gy = out->grad;
    if (gm.n > 1) {
        transpose_items(scratch, out->grad, gm.n, gm.o, gm.p, NULL);
        gy = scratch;
    }
    float *cols = scratch + gy_n;

    if (gb) {
#pragma omp parallel for schedule(static) if ((size_t)gm.o * gm.np >= TN_PAR_MIN)
        for (int o = 0; o < gm.o; o++) {
            gb[o] += (float)sum_d(gy + (size_t)o * gm.np, gm.np);
        }
    }
    if (gw) {
        /* gw (O, CKK) += gy_r (O, NP) . cols^T; the columns are recomputed, not kept. */
        im2col(&gm, x->data, cols);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, gm.o, (int)gm.ckk, (int)gm.np, 1.0f,
                    gy, (int)gm.np, cols, (int)gm.np, 1.0f, gw, (int)gm.ckk);
    }
    if (gx) {
        /* dcols (CKK, NP) = w^T (CKK, O) . gy_r (O, NP), then scattered back. */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)gm.ckk, (int)gm.np, gm.o, 1.0f,
                    wt->data, (int)gm.ckk, gy, (int)gm.np, 0.0f, cols, (int)gm.np);
        col2im_add(&gm, cols, gx);
    }
}

const tn_op tn_op_conv2d = {.name = "conv2d", .check = conv_check, .forward = conv_forward,
                            .backward = conv_backward};

tn_tensor *tn_conv2d(tn_graph *g, tn_tensor *x, tn_tensor *w, tn_tensor *b, int stride,
                     int padding, int dilation)
{
    conv_attr at = {.stride = stride, .padding = padding, .dilation = dilation};
    return tn_op_apply(g, &tn_op_conv2d, b ? 3 : 2, (tn_tensor *[]){x, w, b}, &at, sizeof at);
}

/* --------------------------------------------------------------- pooling
 * Output size floor((H + 2 pad - k) / stride) + 1 (PyTorch, ceil_mode off);
 * PyTorch also requires pad <= k / 2, so no window lies wholly in padding. */

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
