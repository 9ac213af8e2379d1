/* tensor/ops_conv.c - the conv2d op: its check, forward and backward, each
 * choosing a path: the direct 3x3 kernels where they apply (conv_direct.c;
 * x86-64 with AVX2 + FMA or AVX-512F, chosen at run time, capped by
 * TENET_MAX_ISA=avx2|generic), im2col + sgemm otherwise (conv_gemm.c).
 * Layouts are PyTorch's: x (N, C, H, W), w (O, C, KH, KW), b (O).  Also
 * the backward's threads, scratch and per-thread gradients, which both
 * paths share (conv_internal.h). */
#include "conv_internal.h"

#include <limits.h>

typedef struct conv_attr {
    int stride, padding, dilation;
    /* Training: each output plane's moments (N, O, 2) for a batch norm
     * (direct path; else NULL).  first_use: this conv2d was the first op
     * recorded on x, x a batch norm's output, so its backward finishes x's
     * gradient (conv_internal.h). */
    double *moments;
    bool first_use;
    bool relu; /* conv2d_relu: relu(conv + b + r), inputs x, w, b and an optional r */
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
    gm.ckk = (size_t)gm.c * gm.kh * gm.kw;
    return gm;
}

static void conv_check(tn_tensor *out)
{
    const conv_attr *at = out->attr;
    const tn_tensor *x = out->in[0], *w = out->in[1];
    if (at->relu)
        TN_REQUIRE(out, out->n_in == 3 || out->n_in == 4, "takes x, w, b and an optional r");
    else
        TN_REQUIRE(out, out->n_in == 2 || out->n_in == 3, "takes x, w and an optional b");
    TN_REQUIRE(out, at->stride >= 1 && at->padding >= 0 && at->dilation >= 1,
               "stride %d, padding %d, dilation %d: need stride >= 1, padding >= 0, "
               "dilation >= 1", at->stride, at->padding, at->dilation);
    TN_REQUIRE(out, x->ndim == 4, "x must be (N, C, H, W)");
    TN_REQUIRE(out, w->ndim == 4 && w->shape[1] == x->shape[1],
               "w must be (O, C, KH, KW) with x's C = %d", x->shape[1]);
    if (out->n_in >= 3)
        TN_REQUIRE(out, out->in[2]->ndim == 1 && out->in[2]->shape[0] == w->shape[0],
                   "b must be (O) = (%d)", w->shape[0]);
    conv_geom gm = conv_geometry(out);
    TN_REQUIRE(out, gm.oh >= 1 && gm.ow >= 1,
               "the kernel (dilated) does not fit the padded input (padding %d, dilation %d)",
               at->padding, at->dilation);
    const size_t okk = (size_t)gm.o * gm.kh * gm.kw, hw = (size_t)gm.h * gm.w;
    const size_t big = gm.p > hw ? gm.p : hw, rows = gm.ckk > okk ? gm.ckk : okk;
    TN_REQUIRE(out, rows <= INT_MAX / 4 && big <= INT_MAX / CONV_TILE_FLOATS &&
                        rows * big <= SIZE_MAX / 64,
               "the im2col matrix (%zu, %zu) of an image is too large for one sgemm", gm.ckk,
               gm.p);
    if (out->n_in == 4) {
        const tn_tensor *r = out->in[3];
        TN_REQUIRE(out, r->ndim == 4 && r->shape[0] == gm.n && r->shape[1] == gm.o &&
                            r->shape[2] == gm.oh && r->shape[3] == gm.ow,
                   "r must have the output's shape (%d, %d, %d, %d)", gm.n, gm.o, gm.oh, gm.ow);
    }
    tn_set_shape(out, 4, (int[]){gm.n, gm.o, gm.oh, gm.ow});
}

void tn_conv_epilogue(const conv_epilogue *ep, float *y, size_t off, size_t n)
{
    y += off;
    if (ep->res) {
        const float *r = ep->res + off;
        for (size_t i = 0; i < n; i++) {
            const float v = y[i] + r[i];
            y[i] = v > 0.0f ? v : 0.0f;
        }
    } else {
        for (size_t i = 0; i < n; i++) y[i] = y[i] > 0.0f ? y[i] : 0.0f;
    }
}

static void conv_forward(tn_graph *g, tn_tensor *out)
{
    conv_attr *at = out->attr;
    const conv_geom gm = conv_geometry(out);
    const tn_tensor *x = out->in[0];
    const size_t tape = tn_graph_tape_len(g);
    at->moments = NULL;
    at->first_use = out->requires_grad && tape > 0 && tn_graph_tape_node(g, tape - 1) == x &&
                    (x->op == &tn_op_batch_norm || x->op == &tn_op_batch_norm_relu);
    const conv_epilogue ep = {.res = out->n_in == 4 ? out->in[3]->data : NULL};
    conv_direct_plan plan;
    if (tn_conv_direct_plan(&gm, &plan)) {
        if (tn_graph_training(g) && !at->relu &&
            !(at->moments = tn_graph_alloc(g, 2 * (size_t)gm.n * gm.o * sizeof(double))))
            return;
        tn_conv_direct_forward(g, out, &gm, &plan, at->moments, at->relu ? &ep : NULL);
    } else {
        tn_conv_gemm_forward(g, out, &gm);
        if (at->relu) tn_conv_epilogue(&ep, out->data, 0, out->numel);
    }
}

const double *tn_conv2d_plane_moments(const tn_tensor *y)
{
    return y->op == &tn_op_conv2d ? ((const conv_attr *)y->attr)->moments : NULL;
}

static void conv_backward(tn_graph *g, tn_tensor *out)
{
    const conv_geom gm = conv_geometry(out);
    tn_tensor *x = out->in[0];
    const bool dconv = x->requires_grad && tn_conv_bwd_data_is_conv(&gm);
    /* x's gradient: added into when it exists; else written (no zeroing)
     * by the GEMM paths, and when it has gy's shape it takes gy's buffer,
     * dead after this backward (each chunk of gy is copied before its rows
     * are overwritten). */
    conv_grads gr = {.gx = NULL};
    if (x->requires_grad && !x->grad && (dconv || conv_is_pointwise(&gm))) {
        gr.gx_fresh = true;
        gr.in_place = dconv && x->numel == out->numel && gm.c == gm.o && gm.h == gm.oh;
        x->grad = gr.in_place ? out->grad : tn_graph_floats(g, x->numel);
        gr.gx = x->grad;
    } else {
        gr.gx = tn_grad(g, x);
    }
    gr.gw = tn_grad(g, out->in[1]);
    gr.gb = out->n_in >= 3 ? tn_grad(g, out->in[2]) : NULL;
    if (tn_graph_status(g) != TN_OK) return;
    if (!gr.gx && !gr.gw && !gr.gb) return;
    const conv_attr *at = out->attr;
    if (gr.gx && at->first_use && tn_bn_dsums_begin(g, x)) gr.bn_y = x;
    if (tn_graph_status(g) != TN_OK) return;
    conv_direct_plan plan;
    if (tn_conv_direct_plan(&gm, &plan)) {
        if (!gr.gx || tn_conv_direct_data_fits(&plan)) {
            tn_conv_direct_backward(g, out, &gm, &plan, &gr);
            return;
        }
        /* A data gradient the direct kernels do not take (stride 2 with an
         * odd input, or an AVX2 row not a multiple of 8): weights and bias
         * here, the data gradient below. */
        const conv_grads wb = {.gw = gr.gw, .gb = gr.gb};
        if (gr.gw || gr.gb) tn_conv_direct_backward(g, out, &gm, &plan, &wb);
        if (tn_graph_status(g) != TN_OK) return;
        gr.gw = gr.gb = NULL;
    }
    tn_conv_gemm_backward(g, out, &gm, &gr);
}

/* conv2d_relu: the gradient through the relu (zero where the output is),
 * into r's gradient as well, then conv2d's backward. */
static void conv_relu_backward(tn_graph *g, tn_tensor *out)
{
    float *gy = out->grad;
    const float *y = out->data;
    for (size_t i = 0; i < out->numel; i++)
        if (!(y[i] > 0.0f)) gy[i] = 0.0f;
    if (out->n_in == 4 && out->in[3]->requires_grad) {
        float *gr = tn_grad(g, out->in[3]);
        if (!gr) return;
        for (size_t i = 0; i < out->numel; i++) gr[i] += gy[i];
    }
    conv_backward(g, out);
}

const tn_op tn_op_conv2d = {.name = "conv2d", .check = conv_check, .forward = conv_forward,
                            .backward = conv_backward};
const tn_op tn_op_conv2d_relu = {.name = "conv2d_relu", .check = conv_check,
                                 .forward = conv_forward, .backward = conv_relu_backward};

tn_tensor *tn_conv2d(tn_graph *g, tn_tensor *x, tn_tensor *w, tn_tensor *b, int stride,
                     int padding, int dilation)
{
    conv_attr at = {.stride = stride, .padding = padding, .dilation = dilation};
    return tn_op_apply(g, &tn_op_conv2d, b ? 3 : 2, (tn_tensor *[]){x, w, b}, &at, sizeof at);
}

tn_tensor *tn_conv2d_relu(tn_graph *g, tn_tensor *x, tn_tensor *w, tn_tensor *b, tn_tensor *r,
                          int stride, int padding)
{
    if (!b) tn_misuse("conv2d_relu", "b is required (the folded batch norm's shift)");
    conv_attr at = {.stride = stride, .padding = padding, .dilation = 1, .relu = true};
    return tn_op_apply(g, &tn_op_conv2d_relu, r ? 4 : 3, (tn_tensor *[]){x, w, b, r}, &at,
                       sizeof at);
}

/* ------------------------------------------- the backward's shared parts */

bool tn_conv_scratch_get(tn_graph *g, conv_scratch *s, int nthr, size_t shared_n, size_t wsize,
                         int o, const size_t part_n[CONV_PARTS])
{
    *s = (conv_scratch){.nthr = nthr, .o = o, .wsize = wsize};
    size_t at = 0;
    for (int k = 0; k < CONV_PARTS; k++) {
        s->off[k] = at;
        at += line_up(part_n[k]);
    }
    s->off[CONV_PARTS] = at;
    s->per_thr = at + line_up(2 * (size_t)o);
    const size_t shared = line_up(shared_n), gw_n = line_up(wsize);
    float *base = tn_graph_scratch(g, shared + gw_n * (size_t)(nthr - 1) +
                                          s->per_thr * (size_t)nthr);
    if (!base) return false;
    s->shared = base;
    s->gw_parts = base + shared;
    s->threads = s->gw_parts + gw_n * (size_t)(nthr - 1);
    return true;
}

/* The weight gradient thread tid adds into. */
static float *thread_gw(const conv_scratch *s, const conv_grads *gr, int tid)
{
    return tid == 0 ? gr->gw : s->gw_parts + line_up(s->wsize) * (size_t)(tid - 1);
}

void tn_conv_backward_run(const conv_scratch *s, const conv_grads *gr, double t_start,
                          void (*weights)(const void *ctx, int tid, float *gwt),
                          void (*data)(const void *ctx, int tid), const void *ctx)
{
    const bool prof = tn_profile_enabled();
    const int nthr = s->nthr;
    double t_w = 0.0, t_d = 0.0; /* thread 0's time in each phase */
    CONV_PARALLEL(nthr, tid, {
        const double t0 = prof && tid == 0 ? tn_clock_now() : 0.0;
        float *gwt = thread_gw(s, gr, tid);
        if (gr->gb) {
            double *bsum = conv_bias_sums(s, tid);
            for (int o = 0; o < s->o; o++) bsum[o] = 0.0;
        }
        if (gr->gw && tid > 0) memset(gwt, 0, s->wsize * sizeof(float));
        weights(ctx, tid, gwt);
        const double t1 = prof && tid == 0 ? tn_clock_now() : 0.0;
        /* In place, gy must be read by every thread's weights pass first. */
        if (gr->in_place && nthr > 1) {
            _Pragma("omp barrier")
        }
        data(ctx, tid);
        if (prof && tid == 0) t_w = t1 - t0, t_d = tn_clock_now() - t1;
    });
    if (gr->gb) /* each thread's bias sums, added in thread order: deterministic */
        for (int o = 0; o < s->o; o++) {
            double sum = 0.0;
            for (int t = 0; t < nthr; t++) sum += conv_bias_sums(s, t)[o];
            gr->gb[o] += (float)sum;
        }
    if (gr->gw)
        for (int t = 1; t < nthr; t++) {
            const float *part = thread_gw(s, gr, t);
            for (size_t i = 0; i < s->wsize; i++) gr->gw[i] += part[i];
        }
    if (prof) {
        /* Thread 0's split of its time, applied to the whole op's time. */
        double total = tn_clock_now() - t_start, busy = t_w + t_d;
        if (busy > 0.0) {
            tn_profile_add("conv2d.bwd_weight", true, total * t_w / busy);
            tn_profile_add("conv2d.bwd_data", true, total * t_d / busy);
        }
    }
}
