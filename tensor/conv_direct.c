/* tensor/conv_direct.c - direct 3x3 convolution, without im2col and GEMM
 * packing, for 3x3 kernels at stride 1 and 2 (the bulk of a CIFAR ResNet)
 * on x86-64, in two widths chosen at run time: AVX2 + FMA (conv_avx2.c)
 * and AVX-512F (conv_avx512.c).
 *
 * Here: when they apply, the images laid out for them (zero-padded for
 * AVX2, the wide layout for AVX-512), the weights packed in blocks of 4
 * output channels, and the work spread over threads: images for the
 * forward and the data gradient, tiles of images for the weight gradient
 * (each thread its own partial gw, summed in thread order).  The data
 * gradient at stride 1 is the forward kernel over gy with the flipped,
 * transposed weights; at stride 2 (an even input) both widths compute it as
 * its 4 phase planes, each a sum of 1, 2 or 4 taps over gy. */
#include "conv_internal.h"

#include <stdlib.h>

#ifdef TN_DIRECT_CONV
/* The widest direct kernels this CPU runs: 0 none, 1 AVX2 + FMA, 2 AVX-512F;
 * TENET_MAX_ISA=generic|avx2 caps it (tests use it to cover every path on
 * one machine). */
static int direct_conv_isa(void)
{
    static int isa = -1;
    if (isa < 0) {
        int level = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
        if (level && __builtin_cpu_supports("avx512f")) level = 2;
        const char *cap = getenv("TENET_MAX_ISA");
        if (cap && strcmp(cap, "generic") == 0) level = 0;
        if (cap && strcmp(cap, "avx2") == 0 && level > 1) level = 1;
        isa = level;
    }
    return isa;
}

/* The wide layout's lmask and rmask (used when OW < 16). */
static void dz_row_masks(dc_geom *d)
{
    d->lmask = d->rmask = 0xFFFF;
    if (d->ow < 16)
        for (int l = 0; l < 16; l++) {
            if (l % d->ow == 0) d->lmask &= (uint16_t)~(1u << l);
            if (l % d->ow == d->ow - 1) d->rmask &= (uint16_t)~(1u << l);
        }
}

static dc_geom dc_geometry(int ci, int co, int h, int w, int pad, int stride, bool wide)
{
    dc_geom d = {.ci = ci, .co = co, .h = h, .w = w, .pad = pad, .stride = stride, .wide = wide};
    d.oh = (h + 2 * pad - 3) / stride + 1;
    d.ow = (w + 2 * pad - 3) / stride + 1;
    d.ph = h + 2 * pad;
    if (wide) {
        /* Padding 1.  Stride 1: each channel (h + 2, w), a zero row above
         * and below, rows unpadded, so output pixel q = r * w + j of tap
         * (kh, kw) reads element q + kh * w + kw - 1: the column padding is
         * a masked lane.  Stride 2: each channel as its 4 phase planes
         * x[2r + a][2j + b], (oh + 1, ow) each with a zero row above: tap
         * (kh, kw) reads phase (kh != 1, kw != 1) one row up when kh = 0
         * and one column left (masked at j = 0) when kw = 0. */
        const size_t ow = (size_t)d.ow;
        d.row = ow;
        d.plane = stride == 1 ? (size_t)(h + 2) * w : 4 * (size_t)(d.oh + 1) * ow;
        d.size = (size_t)ci * d.plane + 2 * DZ_GUARD;
        for (int k = 0; k < 9; k++) {
            const int kh = k / 3, kw = k % 3;
            if (stride == 1) {
                d.off[k] = DZ_GUARD + (size_t)kh * ow + (size_t)kw - 1;
            } else {
                const size_t phase = 2 * (size_t)(kh != 1) + (size_t)(kw != 1);
                d.off[k] = DZ_GUARD + phase * (size_t)(d.oh + 1) * ow + (kh == 0 ? 0 : ow) -
                           (kw == 0 ? 1 : 0);
            }
        }
        dz_row_masks(&d);
        return d;
    }
    if (stride == 1) {
        d.wp = d.ow + 2;
        d.plane = (size_t)d.ph * d.wp;
        d.row = (size_t)d.wp;
        for (int k = 0; k < 9; k++) d.off[k] = (size_t)(k / 3) * d.wp + (size_t)(k % 3);
    } else {
        d.wp = d.ow + 1; /* columns 2j and 2j + 1 for j <= ow */
        d.plane = 2 * (size_t)d.ph * d.wp;
        d.row = 2 * (size_t)d.wp;
        for (int k = 0; k < 9; k++) {
            int kh = k / 3, kw = k % 3;
            d.off[k] = (size_t)(kw & 1) * d.ph * d.wp + (size_t)kh * d.wp + (size_t)(kw >> 1);
        }
    }
    d.size = (size_t)ci * d.plane;
    return d;
}

/* The data gradient of a 3x3, stride-2, padding-1 convolution as the AVX2
 * kernels see it: as below, but each gy channel laid out (oh + 1, ow + 1),
 * a zero row below and a zero column on the right. */
static dc_geom dc_up2_geometry(int ci, int co, int oh, int ow)
{
    dc_geom d = {.ci = ci, .co = co, .h = 2 * oh, .w = 2 * ow, .pad = 1, .stride = 1,
                 .oh = oh, .ow = ow, .wp = ow + 1, .up2 = true};
    d.ph = oh + 1;
    d.row = (size_t)d.wp;
    d.plane = (size_t)d.ph * d.wp;
    d.size = (size_t)ci * d.plane;
    return d;
}

/* The data gradient of a 3x3, stride-2, padding-1 convolution as the wide
 * kernels see it: ci channels of gy (oh, ow) in, co channels of gx (2 oh,
 * 2 ow) out, computed as its 4 phases gx[2i + a][2j + b], each of the size
 * of gy.  Phase row a takes kernel row kh = 1 from gy row i (a = 0), or kh
 * = 0 from row i + 1 and kh = 2 from row i (a = 1); columns alike.  Each gy
 * channel is laid out (oh + 1, ow), a zero row below; a tap one column to
 * the right masks the lanes at column ow - 1 (rmask). */
static dc_geom dz_up2_geometry(int ci, int co, int oh, int ow)
{
    dc_geom d = {.ci = ci, .co = co, .h = 2 * oh, .w = 2 * ow, .pad = 1, .stride = 1,
                 .oh = oh, .ow = ow, .wide = true, .up2 = true};
    d.row = (size_t)ow;
    d.plane = (size_t)(oh + 1) * ow;
    d.size = (size_t)ci * d.plane + 2 * DZ_GUARD;
    dz_row_masks(&d);
    return d;
}

static bool dc_fits(const dc_geom *d)
{
    if (d->up2 && !d->wide) return d->oh >= 1 && d->ow >= 8 && d->ow % 8 == 0 && d->co % 4 == 0;
    if (d->up2)
        return d->oh >= 1 && ((size_t)d->oh * d->ow) % 16 == 0 &&
               (d->ow % 16 == 0 || 16 % d->ow == 0) && d->co % 4 == 0;
    if (d->wide)
        return d->pad == 1 && d->oh >= 1 && ((size_t)d->oh * d->ow) % 16 == 0 &&
               (d->ow % 16 == 0 || 16 % d->ow == 0) && d->co % 4 == 0 &&
               (d->stride == 1 || (d->stride == 2 && d->h % 2 == 0 && d->w % 2 == 0));
    if (d->oh < 1 || d->ow < 8 || d->ow % 8 != 0 || d->co % 4 != 0 || d->pad > 2) return false;
    if (d->stride == 1) return d->wp == d->w + 2 * d->pad;
    /* Stride 2: every input column lands in a phase plane. */
    return d->stride == 2 && 2 * d->wp >= d->w + 2 * d->pad;
}

/* x (ci, h, w) into the wide layout (see dc_geometry), zero padding rows. */
static void dz_layout(const dc_geom *d, const float *x, float *xs)
{
    const size_t hw = d->up2 ? (size_t)d->oh * d->ow : (size_t)d->h * d->w, ow = (size_t)d->ow;
    memset(xs, 0, DZ_GUARD * sizeof(float));
    memset(xs + DZ_GUARD + (size_t)d->ci * d->plane, 0, DZ_GUARD * sizeof(float));
    for (int c = 0; c < d->ci; c++) {
        float *dst = xs + DZ_GUARD + (size_t)c * d->plane;
        const float *src = x + (size_t)c * hw;
        if (d->up2) { /* x is gy here, (oh, ow): a zero row below */
            const size_t p = (size_t)d->oh * ow;
            memcpy(dst, src, p * sizeof(float));
            memset(dst + p, 0, ow * sizeof(float));
            continue;
        }
        if (d->stride == 1) {
            memset(dst, 0, (size_t)d->w * sizeof(float));
            memcpy(dst + d->w, src, hw * sizeof(float));
            memset(dst + (size_t)(d->h + 1) * d->w, 0, (size_t)d->w * sizeof(float));
            continue;
        }
        for (int ph = 0; ph < 4; ph++) {
            const int a = ph >> 1, b = ph & 1;
            float *pl = dst + (size_t)ph * (d->oh + 1) * ow;
            memset(pl, 0, ow * sizeof(float));
            for (int r = 0; r < d->oh; r++) {
                const float *sr = src + (size_t)(2 * r + a) * d->w + b;
                float *dr = pl + (size_t)(r + 1) * ow;
                for (size_t j = 0; j < ow; j++) dr[j] = sr[2 * j];
            }
        }
    }
}

/* x (ci, h, w) into the padded layout, zero borders. */
static void dc_pad(const dc_geom *d, const float *x, float *xp)
{
    if (d->wide) {
        dz_layout(d, x, xp);
        return;
    }
    if (d->up2) { /* x is gy (ci, oh, ow): a zero row below, a zero column right */
        memset(xp, 0, d->size * sizeof(float));
        for (int c = 0; c < d->ci; c++)
            for (int i = 0; i < d->oh; i++)
                memcpy(xp + (size_t)c * d->plane + (size_t)i * d->row,
                       x + ((size_t)c * d->oh + i) * d->ow, (size_t)d->ow * sizeof(float));
        return;
    }
    const size_t hw = (size_t)d->h * d->w;
    if (d->stride == 2) {
        memset(xp, 0, (size_t)d->ci * d->plane * sizeof(float));
        for (int c = 0; c < d->ci; c++) {
            float *ev = xp + (size_t)c * d->plane, *od = ev + (size_t)d->ph * d->wp;
            for (int i = 0; i < d->h; i++) {
                const float *src = x + (size_t)c * hw + (size_t)i * d->w;
                float *e = ev + (size_t)(i + d->pad) * d->wp, *o = od + (size_t)(i + d->pad) * d->wp;
                for (int j = 0; j < d->w; j++) {
                    int q = j + d->pad;
                    if (q & 1)
                        o[q >> 1] = src[j];
                    else
                        e[q >> 1] = src[j];
                }
            }
        }
        return;
    }
    for (int c = 0; c < d->ci; c++) {
        float *dst = xp + (size_t)c * d->plane;
        memset(dst, 0, (size_t)d->pad * d->wp * sizeof(float));
        for (int i = 0; i < d->h; i++) {
            float *row = dst + (size_t)(i + d->pad) * d->wp;
            for (int j = 0; j < d->pad; j++) row[j] = 0.0f;
            memcpy(row + d->pad, x + (size_t)c * hw + (size_t)i * d->w, (size_t)d->w * sizeof(float));
            for (int j = d->pad + d->w; j < d->wp; j++) row[j] = 0.0f;
        }
        memset(dst + (size_t)(d->h + d->pad) * d->wp, 0, (size_t)d->pad * d->wp * sizeof(float));
    }
}

/* Weights for blocks of 4 output channels: wk[((ob * ci + c) * 9 + k) * 4 + b]
 * = w[ob*4 + b][c][k] (data gradients: w is (ci', co') = the forward's (O,
 * C) read as the data gradient's kernel, w'[c][o][k] = w[o][c][8 - k] at
 * stride 1, w[o][c][k] at stride 2). */
typedef enum dc_pack_mode {
    DC_PACK_FORWARD,   /* wk blocks over the forward's output channels */
    DC_PACK_FLIP,      /* the stride-1 data gradient's kernel w'[c][o][8 - k] */
    DC_PACK_TRANSPOSE, /* the stride-2 data gradient's w'[c][o][k] */
} dc_pack_mode;

static void dc_pack(const float *w, int o_n, int c_n, dc_pack_mode mode, float *wk)
{
    if (mode == DC_PACK_FORWARD) {
        for (int o = 0; o < o_n; o++)
            for (int c = 0; c < c_n; c++)
                for (int k = 0; k < 9; k++)
                    wk[(((size_t)(o / 4) * c_n + c) * 9 + k) * 4 + o % 4] =
                        w[((size_t)o * c_n + c) * 9 + k];
        return;
    }
    /* The data gradient: output channels are the forward's c, inputs its o. */
    for (int o = 0; o < o_n; o++)
        for (int c = 0; c < c_n; c++)
            for (int k = 0; k < 9; k++)
                wk[(((size_t)(c / 4) * o_n + o) * 9 + k) * 4 + c % 4] =
                    w[((size_t)o * c_n + c) * 9 + (mode == DC_PACK_FLIP ? 8 - k : k)];
}

static const dc_kernels *dc_kernels_of(const dc_geom *d)
{
    return d->wide ? &tn_conv_avx512_kernels : &tn_conv_avx2_kernels;
}

bool tn_conv_direct_plan(const conv_geom *gm, conv_direct_plan *plan)
{
    const int isa = direct_conv_isa();
    if (!(gm->kh == 3 && gm->kw == 3 && gm->stride <= 2 && gm->dil == 1 && gm->pad <= 2) || !isa)
        return false;
    dc_geom *fwd = &plan->fwd, *bwd = &plan->bwd;
    bool wide = isa == 2;
    *fwd = dc_geometry(gm->c, gm->o, gm->h, gm->w, gm->pad, gm->stride, wide);
    if (wide && !dc_fits(fwd)) { /* e.g. OH * OW not a multiple of 16: the AVX2 kernels */
        wide = false;
        *fwd = dc_geometry(gm->c, gm->o, gm->h, gm->w, gm->pad, gm->stride, false);
    }
    *bwd = dc_geometry(gm->o, gm->c, gm->oh, gm->ow, 2 - gm->pad, 1, wide);
    if (gm->stride != 1) { /* the data gradient is not a plain conv */
        if (gm->h == 2 * gm->oh && gm->w == 2 * gm->ow)
            *bwd = wide ? dz_up2_geometry(gm->o, gm->c, gm->oh, gm->ow)
                        : dc_up2_geometry(gm->o, gm->c, gm->oh, gm->ow);
        else
            bwd->oh = 0;
    }
    return dc_fits(fwd);
}

bool tn_conv_direct_data_fits(const conv_direct_plan *plan) { return dc_fits(&plan->bwd); }

void tn_conv_direct_forward(tn_graph *g, tn_tensor *out, const conv_geom *gm,
                            const conv_direct_plan *plan, double *moments,
                            const conv_epilogue *ep)
{
    const dc_geom *d = &plan->fwd;
    const dc_kernels *kern = dc_kernels_of(d);
    const float *x = out->in[0]->data, *w = out->in[1]->data;
    const float *b = out->n_in >= 3 ? out->in[2]->data : NULL;
    const int nthr = conv_threads(gm->n);
    const size_t wk_n = line_up((size_t)gm->o * gm->ckk), xp_n = line_up(d->size);
    float *scratch = tn_graph_scratch(g, wk_n + xp_n * (size_t)nthr);
    if (!scratch) return;
    dc_pack(w, gm->o, gm->c, DC_PACK_FORWARD, scratch);
    const size_t chw = (size_t)gm->c * gm->h * gm->w, ohw = (size_t)gm->o * gm->p;
    CONV_PARALLEL(nthr, tid, {
        float *xp = scratch + wk_n + xp_n * (size_t)tid;
        int n0, n1;
        thread_tiles(tid, nthr, gm->n, &n0, &n1);
        for (int n = n0; n < n1; n++) {
            dc_pad(d, x + (size_t)n * chw, xp);
            float *y = out->data + (size_t)n * ohw;
            const dc_store st = {.bias = b, .res = ep && ep->res ? ep->res + (size_t)n * ohw : NULL,
                                 .relu = ep != NULL};
            kern->forward_img(d, xp, scratch, y, &st);
            if (moments) /* while the image is in cache */
                for (int o = 0; o < gm->o; o++)
                    tn_bn_plane_moments(y + (size_t)o * gm->p, gm->p,
                                        moments + 2 * ((size_t)n * gm->o + o));
        }
    });
}

/* A direct backward.  Scratch: shared, the data gradient's packed kernel;
 * per thread, part 0 the laid-out inputs of a weight tile, part 1 gy laid
 * out (and, up2, the 4 phases of gx). */
typedef struct dc_backward {
    const conv_geom *gm;
    const dc_geom *d, *db;
    const conv_grads *gr;
    const conv_scratch *s;
    const float *x, *gy;
    int m_w, tiles; /* images per weight tile; weight tiles */
} dc_backward;

/* Thread tid's weight tiles: gwt += their weight gradient, its bias sums
 * += their gy sums. */
static void dc_backward_weights(const void *ctx, int tid, float *gwt)
{
    const dc_backward *c = ctx;
    const conv_geom *gm = c->gm;
    const dc_geom *d = c->d;
    const bool gw = c->gr->gw, gb = c->gr->gb;
    const size_t chw = (size_t)gm->c * gm->h * gm->w, ohw = (size_t)gm->o * gm->p;
    float *xps = conv_part(c->s, tid, 0);
    double *bsum = conv_bias_sums(c->s, tid);
    int k0, k1;
    thread_tiles(tid, c->s->nthr, c->tiles, &k0, &k1);
    for (int k = k0; k < k1 && (gw || gb); k++) {
        const int n0 = k * c->m_w, m = imin(c->m_w, gm->n - n0);
        const float *xs[64], *gs[64];
        for (int i = 0; i < m; i++) {
            gs[i] = c->gy + (size_t)(n0 + i) * ohw;
            if (gb)
                for (int o = 0; o < gm->o; o++) bsum[o] += sum_d(gs[i] + (size_t)o * gm->p, gm->p);
            if (!gw) continue;
            float *xpi = xps + (size_t)i * d->size;
            dc_pad(d, c->x + (size_t)(n0 + i) * chw, xpi);
            xs[i] = xpi;
        }
        if (gw) dc_kernels_of(d)->weight_tile(d, xs, gs, m, gwt);
    }
}

/* Thread tid's images of the data gradient. */
static void dc_backward_data(const void *ctx, int tid)
{
    const dc_backward *c = ctx;
    const conv_geom *gm = c->gm;
    const dc_geom *db = c->db;
    float *gx = c->gr->gx, *gyp = conv_part(c->s, tid, 1);
    const bool add = !c->gr->gx_fresh;
    const size_t chw = (size_t)gm->c * gm->h * gm->w, ohw = (size_t)gm->o * gm->p;
    int n0, n1;
    thread_tiles(tid, c->s->nthr, gm->n, &n0, &n1);
    for (int n = n0; n < n1 && gx; n++) {
        dc_pad(db, c->gy + (size_t)n * ohw, gyp); /* gy copied before gx is written */
        if (db->up2)
            (db->wide ? tn_conv_avx512_up2_img : tn_conv_avx2_up2_img)(
                db, gyp, c->s->shared, gx + (size_t)n * chw, add, gyp + line_up(db->size));
        else
            dc_kernels_of(db)->forward_img(db, gyp, c->s->shared, gx + (size_t)n * chw,
                                           &(const dc_store){.add = add});
        if (c->gr->bn_y) tn_bn_dsums_images(c->gr->bn_y, n, 1);
    }
}

void tn_conv_direct_backward(tn_graph *g, tn_tensor *out, const conv_geom *gm,
                             const conv_direct_plan *plan, const conv_grads *gr)
{
    const double t_start = tn_profile_enabled() ? tn_clock_now() : 0.0;
    const dc_geom *d = &plan->fwd, *db = &plan->bwd;
    /* Weight tiles of m images: at least 512 pixels (wide: 2048, fewer
     * lane sums). */
    const size_t tile_px = d->wide ? 2048 : 512;
    const int m_w = gm->p >= tile_px ? 1 : imin(imin(gm->n, 64), (int)(tile_px / gm->p));
    const int tiles = (gm->n + m_w - 1) / m_w;
    const int nthr = conv_threads(tiles > gm->n ? tiles : gm->n);
    const size_t wsize = (size_t)gm->o * gm->ckk;
    const size_t parts[CONV_PARTS] = {
        gr->gw ? (size_t)m_w * d->size : 0,
        gr->gx ? line_up(db->size) + (db->up2 ? 4 * (size_t)db->co * db->oh * db->ow : 0) : 0,
    };
    conv_scratch s;
    if (!tn_conv_scratch_get(g, &s, nthr, gr->gx ? wsize : 0, gr->gw ? wsize : 0, gm->o, parts))
        return;
    if (gr->gx)
        dc_pack(out->in[1]->data, gm->o, gm->c, db->up2 ? DC_PACK_TRANSPOSE : DC_PACK_FLIP,
                s.shared);
    const dc_backward c = {.gm = gm, .d = d, .db = db, .gr = gr, .s = &s,
                           .x = out->in[0]->data, .gy = out->grad, .m_w = m_w, .tiles = tiles};
    tn_conv_backward_run(&s, gr, t_start, dc_backward_weights, dc_backward_data, &c);
}
#else
bool tn_conv_direct_plan(const conv_geom *gm, conv_direct_plan *plan)
{
    (void)gm, (void)plan;
    return false;
}

bool tn_conv_direct_data_fits(const conv_direct_plan *plan)
{
    (void)plan;
    return false;
}

void tn_conv_direct_forward(tn_graph *g, tn_tensor *out, const conv_geom *gm,
                            const conv_direct_plan *plan, double *moments,
                            const conv_epilogue *ep)
{
    (void)g, (void)out, (void)gm, (void)plan, (void)moments, (void)ep;
}

void tn_conv_direct_backward(tn_graph *g, tn_tensor *out, const conv_geom *gm,
                             const conv_direct_plan *plan, const conv_grads *gr)
{
    (void)g, (void)out, (void)gm, (void)plan, (void)gr;
}
#endif
