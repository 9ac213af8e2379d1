/* tensor/ops_conv.c - 2-D convolution, max and average pooling, and global
 * average pooling.  Layouts are PyTorch's: x (N, C, H, W), w (O, C, KH, KW).
 *
 * conv2d works on chunks of a few images (enough for a GEMM dimension of
 * about 256 output positions, so that a chunk's columns stay in the L2
 * cache): im2col of the chunk, then one single-threaded sgemm.  With T
 * threads the chunks are split over T OpenMP threads, each calling sgemm
 * with OpenBLAS held to one thread: the GEMMs never contend with OpenBLAS's
 * own worker threads, and the im2col/reorder work runs in parallel too.
 *
 * forward          y_chunk (O, nb*P) = w (O, CKK) . cols (CKK, nb*P)
 * backward-weights gw (O, CKK) += gy_chunk (O, nb*P) . cols^T
 * backward-data    stride 1: a convolution of gy with the flipped, transposed
 *                  kernel w' (C, O*KK) (im2col of gy, then a GEMM with the
 *                  deep K = O*KK, no scatter); otherwise
 *                  dcols (CKK, nb*P) = w^T . gy_chunk, then col2im.
 * 1x1, stride 1, padding 0: the input is its own column matrix. */
#include "internal.h"

#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>

#ifdef _OPENMP
#include <omp.h>
#endif

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

/* Output rows [oh0, oh1) of one image x (C, H, W) into cols: row r = (c, kh,
 * kw) at cols + r * ld holds (oh1 - oh0) * OW floats. */
static void im2col_img(const conv_geom *gm, const float *x, float *cols, size_t ld, int oh0,
                       int oh1)
{
    const size_t hw = (size_t)gm->h * gm->w;
    const int kh_n = gm->kh, kw_n = gm->kw, ow_n = gm->ow, stride = gm->stride;
    if (stride == 1 && ow_n == gm->w) {
        /* "Same" width: the rows of a tap are one contiguous run of the
         * plane, shifted; copy it whole, then zero the taps that fall in
         * the padding (rows outside [0, H), columns outside [lo, hi)). */
        const long run = (long)(oh1 - oh0) * ow_n;
        for (int c = 0; c < gm->c; c++) {
            const float *xp = x + (size_t)c * hw;
            for (int kh = 0; kh < kh_n; kh++) {
                const int dh = kh * gm->dil - gm->pad;
                for (int kw = 0; kw < kw_n; kw++) {
                    const int off_w = kw * gm->dil - gm->pad;
                    int lo, hi;
                    valid_range(off_w, 1, gm->w, ow_n, &lo, &hi);
                    float *restrict dst = cols + (((size_t)c * kh_n + kh) * kw_n + kw) * ld;
                    const long s0 = (long)(oh0 + dh) * gm->w + off_w; /* source of dst[0] */
                    long j0 = s0 < 0 ? -s0 : 0, j1 = (long)hw - s0;
                    if (j1 > run) j1 = run;
                    if (j0 > run) j0 = run;
                    if (j1 < j0) j1 = j0;
                    for (long j = 0; j < j0; j++) dst[j] = 0.0f;
                    if (j1 > j0) memcpy(dst + j0, xp + s0 + j0, (size_t)(j1 - j0) * sizeof(float));
                    for (long j = j1; j < run; j++) dst[j] = 0.0f;
                    for (int oh = oh0; oh < oh1; oh++) {
                        float *d = dst + (size_t)(oh - oh0) * ow_n;
                        const int ih = oh + dh;
                        if (ih < 0 || ih >= gm->h) {
                            memset(d, 0, (size_t)ow_n * sizeof(float));
                            continue;
                        }
                        for (int ow = 0; ow < lo; ow++) d[ow] = 0.0f;
                        for (int ow = hi; ow < ow_n; ow++) d[ow] = 0.0f;
                    }
                }
            }
        }
        return;
    }
    for (int c = 0; c < gm->c; c++) {
        const float *xp = x + (size_t)c * hw;
        for (int kh = 0; kh < kh_n; kh++) {
            for (int kw = 0; kw < kw_n; kw++) {
                const size_t r = ((size_t)c * kh_n + kh) * kw_n + kw;
                int off_w = kw * gm->dil - gm->pad, lo, hi;
                valid_range(off_w, stride, gm->w, ow_n, &lo, &hi);
                float *restrict dst = cols + r * ld;
                for (int oh = oh0; oh < oh1; oh++, dst += ow_n) {
                    int ih = oh * stride + kh * gm->dil - gm->pad;
                    if (ih < 0 || ih >= gm->h) {
                        memset(dst, 0, (size_t)ow_n * sizeof(float));
                        continue;
                    }
                    const float *restrict row = xp + (size_t)ih * gm->w + off_w;
                    for (int ow = 0; ow < lo; ow++) dst[ow] = 0.0f;
                    if (stride == 1)
                        for (int ow = lo; ow < hi; ow++) dst[ow] = row[ow];
                    else if (stride == 2)
                        for (int ow = lo; ow < hi; ow++) dst[ow] = row[2 * ow];
                    else
                        for (int ow = lo; ow < hi; ow++) dst[ow] = row[ow * stride];
                    for (int ow = hi; ow < ow_n; ow++) dst[ow] = 0.0f;
                }
            }
        }
    }
}

/* gx (C, H, W) of one image += col2im(cols), rows at cols + r * ld, all OH
 * output rows. */
static void col2im_add_img(const conv_geom *gm, const float *cols, size_t ld, float *gx)
{
    const size_t hw = (size_t)gm->h * gm->w;
    for (int c = 0; c < gm->c; c++) {
        float *gp = gx + (size_t)c * hw;
        for (int kh = 0; kh < gm->kh; kh++) {
            for (int kw = 0; kw < gm->kw; kw++) {
                size_t r = ((size_t)c * gm->kh + kh) * gm->kw + kw;
                int off_w = kw * gm->dil - gm->pad, lo, hi;
                valid_range(off_w, gm->stride, gm->w, gm->ow, &lo, &hi);
                const float *src = cols + r * ld;
                for (int oh = 0; oh < gm->oh; oh++, src += gm->ow) {
                    int ih = oh * gm->stride + kh * gm->dil - gm->pad;
                    if (ih < 0 || ih >= gm->h) continue;
                    float *row = gp + (size_t)ih * gm->w + off_w;
                    if (gm->stride == 1)
                        for (int ow = lo; ow < hi; ow++) row[ow] += src[ow];
                    else
                        for (int ow = lo; ow < hi; ow++) row[ow * gm->stride] += src[ow];
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
    gm.ckk = (size_t)gm.c * gm.kh * gm.kw;
    return gm;
}

/* The input is its own (C, P) column matrix. */
static bool conv_is_pointwise(const conv_geom *gm)
{
    return gm->kh == 1 && gm->kw == 1 && gm->stride == 1 && gm->pad == 0;
}

/* Backward-data as the convolution of gy (N, O, OH, OW) with the flipped
 * kernel: stride 1, a square kernel, and padding dil*(K-1) - pad >= 0. */
static bool conv_bwd_data_is_conv(const conv_geom *gm)
{
    return gm->stride == 1 && gm->kh == gm->kw && gm->pad <= gm->dil * (gm->kh - 1) &&
           !conv_is_pointwise(gm);
}

/* That convolution's geometry: input gy (O, OH, OW), output (C, H, W). */
static conv_geom conv_bwd_data_geometry(const conv_geom *gm)
{
    conv_geom t = {.n = gm->n, .c = gm->o, .h = gm->oh, .w = gm->ow, .o = gm->c,
                   .kh = gm->kh, .kw = gm->kw, .oh = gm->h, .ow = gm->w, .stride = 1,
                   .pad = gm->dil * (gm->kh - 1) - gm->pad, .dil = gm->dil};
    t.p = (size_t)t.oh * t.ow;
    t.ckk = (size_t)t.c * t.kh * t.kw;
    return t;
}

/* Work is cut into tiles: nb whole images, or one image's output rows
 * [k * rows, (k + 1) * rows), sized so that a tile's columns (col_rows
 * floats per output position) take about TILE_FLOATS and the GEMM gets at
 * least TILE_MIN_COLS columns. */
enum { TILE_FLOATS = 48 * 1024, TILE_MIN_COLS = 128 };

typedef struct conv_tiles {
    int nb, rows;      /* images per tile; output rows per tile (of one image) */
    int per_chunk;     /* tiles per chunk of nb images */
    int count;         /* tiles in all */
    size_t max_cols;   /* the most output positions in a tile */
} conv_tiles;

static conv_tiles conv_tiling(const conv_geom *gm, size_t col_rows, bool whole_images)
{
    size_t target = TILE_FLOATS / (col_rows ? col_rows : 1);
    if (target < TILE_MIN_COLS) target = TILE_MIN_COLS;
    conv_tiles t = {.nb = 1, .rows = gm->oh, .per_chunk = 1};
    if (!col_rows) {
        /* Pointwise: the input is the column matrix, one image at a time. */
    } else if (gm->p >= target) {
        if (!whole_images) {
            int n_blocks = (int)((gm->p + target - 1) / target);
            t.rows = (gm->oh + n_blocks - 1) / n_blocks;
            t.per_chunk = (gm->oh + t.rows - 1) / t.rows;
        }
    } else {
        size_t nb = target / gm->p;
        t.nb = (int)(nb < (size_t)gm->n ? nb : (size_t)gm->n);
    }
    t.count = (gm->n + t.nb - 1) / t.nb * t.per_chunk;
    t.max_cols = (size_t)t.nb * t.rows * gm->ow;
    return t;
}

/* Tile k: images [*n0, *n0 + *m), output rows [*r0, *r1). */
static void tile_at(const conv_tiles *t, const conv_geom *gm, int k, int *n0, int *m, int *r0,
                    int *r1)
{
    int chunk = k / t->per_chunk, blk = k % t->per_chunk;
    *n0 = chunk * t->nb;
    *m = imin(t->nb, gm->n - *n0);
    *r0 = blk * t->rows;
    *r1 = imin(gm->oh, *r0 + t->rows);
}

/* Threads for `tiles` pieces of work.  Inside someone else's parallel
 * region (a user's omp parallel) the team would be smaller than asked: run
 * serially there, since every thread's share of tiles must be done. */
static int conv_threads(int tiles)
{
#ifdef _OPENMP
    if (omp_in_parallel()) return 1;
#endif
    int t = tn_threads();
    return t < tiles ? t : tiles;
}

/* Floats rounded up to a whole 64-byte line. */
static size_t line_up(size_t n) { return (n + 15) & ~(size_t)15; }

/* The tile range [*k0, *k1) of thread t of nthr over n tiles. */
static void thread_tiles(int t, int nthr, int n, int *k0, int *k1)
{
    *k0 = (int)((long)n * t / nthr);
    *k1 = (int)((long)n * (t + 1) / nthr);
}

/* Run the block on nthr threads with each sgemm single-threaded (OpenBLAS
 * held to one thread meanwhile), or on this thread when nthr == 1. */
#ifdef _OPENMP
#define CONV_PARALLEL(nthr, tid, ...)                                                      \
    do {                                                                                   \
        if ((nthr) > 1) {                                                                  \
            int blas_threads_ = openblas_get_num_threads();                                \
            openblas_set_num_threads(1);                                                   \
            _Pragma("omp parallel num_threads(nthr)") {                                    \
                int tid = omp_get_thread_num();                                            \
                __VA_ARGS__                                                                \
            }                                                                              \
            openblas_set_num_threads(blas_threads_);                                       \
        } else {                                                                           \
            int tid = 0;                                                                   \
            __VA_ARGS__                                                                    \
        }                                                                                  \
    } while (0)
#else
#define CONV_PARALLEL(nthr, tid, ...)                                                      \
    do {                                                                                   \
        int tid = 0;                                                                       \
        (void)(nthr);                                                                      \
        __VA_ARGS__                                                                        \
    } while (0)
#endif

/* ------------------------------------------------- direct 3x3 convolution
 * For 3x3 kernels at stride 1 and 2 (the bulk of a CIFAR ResNet) on x86-64:
 * no im2col and no GEMM packing, in two widths chosen at run time.
 *
 * AVX2 + FMA: each image is copied once into a zero-padded buffer xp (C,
 * PH, WP), PH = H + 2 pad, WP = OW + 2 (stride 2: even/odd column planes);
 * then, for a block of 4 output channels and 3 vectors of 8 output pixels
 * (12 accumulators), every (c, kh, kw) tap costs 4 broadcasts of weights,
 * 3 unaligned loads of xp and 12 FMAs.  Needs OW % 8 == 0.
 *
 * AVX-512F (padding 1): the copy keeps rows unpadded with a zero row above
 * and below (stride 2: the 4 phase planes), so 16 consecutive output pixels
 * of a tap read 16 consecutive floats across rows; the column padding is a
 * masked-off lane.  4 output channels x 4 vectors of 16 pixels per block.
 * Needs OH * OW % 16 == 0 and OW a multiple or a divisor of 16.
 *
 * Both: output channels in blocks of 4.  The weight gradient accumulates,
 * per block of 4 output channels, one input channel and kernel rows,
 * vectors of per-lane partial sums over a tile of pixels, summed across
 * lanes once per tile.  The data gradient at stride 1 is the forward
 * kernel over gy with the flipped, transposed weights; at stride 2 the
 * AVX-512 path computes it as 4 phase planes (dz_up2_img), the AVX2 path
 * as a GEMM and col2im. */
#if defined(__GNUC__) && defined(__x86_64__) && !defined(TN_NO_DIRECT_CONV)
#define TN_DIRECT_CONV 1
#include <immintrin.h>

#define DC_TARGET __attribute__((target("avx2,fma")))
#define DZ_TARGET __attribute__((target("avx512f,avx2,fma")))

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

/* Geometry of one direct convolution: ci input channels of h x w, padded by
 * pad, 3x3, stride 1 or 2, into co channels of oh x ow.  The padded image
 * is (ci, ph, wp) at stride 1; at stride 2 each channel holds its even and
 * its odd padded columns as two planes (ph, wp) (wp = half the padded
 * width), so that 8 outputs of a tap read 8 consecutive floats.  off[k] is
 * tap k's offset from an output vector's base oh * row + ow0. */
typedef struct dc_geom {
    int ci, co, h, w, pad, stride, oh, ow, ph, wp;
    bool wide;    /* the AVX-512 kernels' layout (see dz_layout) */
    bool up2;     /* wide: the data gradient of a stride-2 convolution (dz_up2_img) */
    size_t plane; /* floats per channel of the padded image */
    size_t row;   /* floats from one output row's base to the next */
    size_t size;  /* floats of one laid-out image */
    size_t off[9];
    /* wide: the column masks of a vector when rows are shorter than one
     * (OW divides 16): lanes at column 0, and at column OW - 1, cleared. */
    uint16_t lmask, rmask;
} dc_geom;

/* Guard floats before and after a wide image: loads that run past a plane
 * (into masked lanes) stay inside the buffer. */
#define DZ_GUARD 16

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

/* y[4 channels][V vectors] (+)= conv over all ci of xp at the vectors
 * starting at output offsets pix[v] (multiples of 8 in the (oh, ow) plane). */
static inline __attribute__((always_inline)) DC_TARGET void
dc_fwd_block(const dc_geom *d, const float *xp, const float *wk, float *y, const int *pix, int V,
             bool add, const float *bias)
{
    __m256 acc[4][3];
    size_t base[3];
    for (int v = 0; v < V; v++) {
        int oh = pix[v] / d->ow, ow0 = pix[v] % d->ow;
        base[v] = (size_t)oh * d->row + ow0;
        for (int b = 0; b < 4; b++) acc[b][v] = _mm256_setzero_ps();
    }
    for (int c = 0; c < d->ci; c++) {
        const float *xc = xp + (size_t)c * d->plane;
        const float *wc = wk + (size_t)c * 36;
        /* 12 accumulators, V pixel vectors, one broadcast weight: 16
         * registers at V = 3. */
        for (int kh = 0; kh < 3; kh++) {
            for (int kw = 0; kw < 3; kw++) {
                const float *wt = wc + (kh * 3 + kw) * 4;
                const float *xr = xc + d->off[kh * 3 + kw];
                __m256 xv[3];
                for (int v = 0; v < V; v++) xv[v] = _mm256_loadu_ps(xr + base[v]);
                for (int b = 0; b < 4; b++) {
                    __m256 wb = _mm256_broadcast_ss(wt + b);
                    for (int v = 0; v < V; v++) acc[b][v] = _mm256_fmadd_ps(wb, xv[v], acc[b][v]);
                }
            }
        }
    }
    const size_t p = (size_t)d->oh * d->ow;
    for (int b = 0; b < 4; b++)
        for (int v = 0; v < V; v++) {
            float *dst = y + (size_t)b * p + pix[v];
            __m256 r = acc[b][v];
            if (bias) r = _mm256_add_ps(r, _mm256_broadcast_ss(bias + b));
            if (add) r = _mm256_add_ps(r, _mm256_loadu_ps(dst));
            _mm256_storeu_ps(dst, r);
        }
}

/* One image: y (co, oh, ow) (+)= conv(xp); wk packed by dc_pack. */
DC_TARGET static void dc_forward_img(const dc_geom *d, const float *xp, const float *wk, float *y,
                                     bool add, const float *bias)
{
    const int nv = d->oh * d->ow / 8;
    const size_t p = (size_t)d->oh * d->ow;
    int v = 0;
    for (; v + 2 <= nv; v += 2) {
        const int pix[3] = {v * 8, v * 8 + 8, 0};
        for (int ob = 0; ob < d->co / 4; ob++)
            dc_fwd_block(d, xp, wk + (size_t)ob * d->ci * 36, y + (size_t)ob * 4 * p, pix, 2, add,
                         bias ? bias + ob * 4 : NULL);
    }
    for (; v < nv; v++) {
        const int pix[3] = {v * 8, 0, 0};
        for (int ob = 0; ob < d->co / 4; ob++)
            dc_fwd_block(d, xp, wk + (size_t)ob * d->ci * 36, y + (size_t)ob * 4 * p, pix, 1, add,
                         bias ? bias + ob * 4 : NULL);
    }
}

static inline DC_TARGET float dc_hsum(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* gw (co, ci, 3, 3) += sum over the m images of a tile of gy (co, oh, ow)
 * times the padded inputs xp[i] (ci, ph, wp). */
DC_TARGET static void dc_weight_tile(const dc_geom *d, const float *const *xps,
                                     const float *const *gys, int m, float *gw)
{
    const int vpr = d->ow / 8;
    const size_t p = (size_t)d->oh * d->ow;
    for (int ob = 0; ob < d->co / 4; ob++) {
        for (int c = 0; c < d->ci; c++) {
            for (int kh = 0; kh < 3; kh++) {
                __m256 acc[4][3];
                for (int b = 0; b < 4; b++)
                    for (int t = 0; t < 3; t++) acc[b][t] = _mm256_setzero_ps();
                for (int i = 0; i < m; i++) {
                    const float *g = gys[i] + (size_t)ob * 4 * p;
                    const float *xr = xps[i] + (size_t)c * d->plane;
                    const size_t o0 = d->off[kh * 3], o1 = d->off[kh * 3 + 1];
                    const size_t o2 = d->off[kh * 3 + 2];
                    for (int r = 0; r < d->oh; r++, xr += d->row, g += d->ow) {
                        for (int j = 0; j < vpr; j++) {
                            /* The gy vectors stay in registers; x is read
                             * straight into the FMAs (memory operands). */
                            const float *xv = xr + 8 * j, *gv = g + 8 * j;
                            const size_t tap_off[3] = {o0, o1, o2};
                            const __m256 g0 = _mm256_loadu_ps(gv), g1 = _mm256_loadu_ps(gv + p);
                            const __m256 g2 = _mm256_loadu_ps(gv + 2 * p);
                            const __m256 g3 = _mm256_loadu_ps(gv + 3 * p);
                            for (int tap = 0; tap < 3; tap++) {
                                const __m256 xt = _mm256_loadu_ps(xv + tap_off[tap]);
                                acc[0][tap] = _mm256_fmadd_ps(g0, xt, acc[0][tap]);
                                acc[1][tap] = _mm256_fmadd_ps(g1, xt, acc[1][tap]);
                                acc[2][tap] = _mm256_fmadd_ps(g2, xt, acc[2][tap]);
                                acc[3][tap] = _mm256_fmadd_ps(g3, xt, acc[3][tap]);
                            }
                        }
                    }
                }
                for (int b = 0; b < 4; b++) {
                    float *dst = gw + (((size_t)(ob * 4 + b) * d->ci + c) * 3 + kh) * 3;
                    for (int t = 0; t < 3; t++) dst[t] += dc_hsum(acc[b][t]);
                }
            }
        }
    }
}

/* AVX-512F on the wide layout: 16 output pixels per vector, rows one after
 * another (OH * OW % 16 == 0), 4 output channels x up to 4 vectors per
 * block; the column padding is masked out of the loads.  Each output sums
 * over (c, kh, kw) in the AVX2 kernel's order, so the forward and the data
 * gradient round alike on both paths. */

/* The load masks of the vector at pixel q: m[0] all lanes, m[1] without
 * the lanes at column 0, m[2] without those at column OW - 1. */
static inline DZ_TARGET void dz_masks(const dc_geom *d, size_t q, __mmask16 m[3])
{
    m[0] = 0xFFFF;
    if (d->ow < 16) {
        m[1] = d->lmask;
        m[2] = d->rmask;
        return;
    }
    const size_t j = q % (size_t)d->ow;
    m[1] = j == 0 ? 0xFFFE : 0xFFFF;
    m[2] = j + 16 == (size_t)d->ow ? 0x7FFF : 0xFFFF;
}

/* One tap into a block of 4 channels x V vectors: acc[b][v] += w4[b] *
 * x[v], x[v] the 16 floats at xr + 16 v under mask mk[v]. */
static inline __attribute__((always_inline)) DZ_TARGET void
dz_tap(__m512 acc[4][4], const float *xr, const float *w4, const __mmask16 *mk, int V)
{
    __m512 xv[4];
#pragma GCC unroll 4
    for (int v = 0; v < V; v++) xv[v] = _mm512_maskz_loadu_ps(mk[v], xr + 16 * v);
#pragma GCC unroll 4
    for (int b = 0; b < 4; b++) {
        const __m512 wb = _mm512_set1_ps(w4[b]);
#pragma GCC unroll 4
        for (int v = 0; v < V; v++) acc[b][v] = _mm512_fmadd_ps(wb, xv[v], acc[b][v]);
    }
}

/* The block to y (4 planes of p floats, V vectors from q0): (+ y if add)
 * (+ bias[b] if bias). */
static inline __attribute__((always_inline)) DZ_TARGET void
dz_block_store(__m512 acc[4][4], float *y, size_t p, size_t q0, int V, bool add,
               const float *bias)
{
#pragma GCC unroll 4
    for (int b = 0; b < 4; b++)
#pragma GCC unroll 4
        for (int v = 0; v < V; v++) {
            float *dst = y + (size_t)b * p + q0 + 16 * (size_t)v;
            __m512 r = acc[b][v];
            if (bias) r = _mm512_add_ps(r, _mm512_set1_ps(bias[b]));
            if (add) r = _mm512_add_ps(r, _mm512_loadu_ps(dst));
            _mm512_storeu_ps(dst, r);
        }
}

/* Tap kw's load mask at stride S (a compile-time constant), from the
 * vector's left and right masks. */
#define DZ_TAP_MASK(S, kw, lm, rm) ((kw) == 0 ? (lm) : (kw) == 2 && (S) == 1 ? (rm) : 0xFFFF)

static inline __attribute__((always_inline)) DZ_TARGET void
dz_fwd_block(const dc_geom *d, const float *xs, const float *wk, float *y, size_t q0, int V,
             int S, const __mmask16 *lm, const __mmask16 *rm, bool add, const float *bias)
{
    __m512 acc[4][4]; /* loops over it unrolled: kept in registers */
#pragma GCC unroll 4
    for (int b = 0; b < 4; b++)
#pragma GCC unroll 4
        for (int v = 0; v < V; v++) acc[b][v] = _mm512_setzero_ps();
    for (int c = 0; c < d->ci; c++) {
        const float *xc = xs + (size_t)c * d->plane + q0;
        const float *wc = wk + (size_t)c * 36;
        /* Stride 1: three row pointers and constant displacements (off[k]
         * = DZ_GUARD - 1 + kh * ow + kw) leave the registers to the block. */
        const float *r0 = xc + DZ_GUARD - 1, *r1 = r0 + d->ow, *r2 = r1 + d->ow;
#pragma GCC unroll 9
        for (int k = 0; k < 9; k++) {
            const float *xr =
                S == 1 ? (k / 3 == 0 ? r0 : k / 3 == 1 ? r1 : r2) + k % 3 : xc + d->off[k];
            __mmask16 mk[4];
#pragma GCC unroll 4
            for (int v = 0; v < V; v++) mk[v] = DZ_TAP_MASK(S, k % 3, lm[v], rm[v]);
            dz_tap(acc, xr, wc + k * 4, mk, V);
        }
    }
    dz_block_store(acc, y, (size_t)d->oh * d->ow, q0, V, add, bias);
}

/* One image: y (co, oh, ow) (+)= conv(xs); xs in the wide layout, wk packed
 * by dc_pack.  Blocks of 64 pixels outside, output channels inside, so a
 * block's inputs stay in L1 over all the output channels. */
DZ_TARGET static void dz_forward_img(const dc_geom *d, const float *xs, const float *wk, float *y,
                                     bool add, const float *bias)
{
    const size_t p = (size_t)d->oh * d->ow;
    const int nv = (int)(p / 16);
    for (int v = 0; v < nv; v += 4) {
        const int V = imin(4, nv - v);
        const size_t q0 = (size_t)v * 16;
        __mmask16 lm[4], rm[4];
        for (int u = 0; u < V; u++) {
            __mmask16 m[3];
            dz_masks(d, q0 + 16 * (size_t)u, m);
            lm[u] = m[1];
            rm[u] = m[2];
        }
        for (int ob = 0; ob < d->co / 4; ob++) {
            const float *w = wk + (size_t)ob * d->ci * 36, *bb = bias ? bias + ob * 4 : NULL;
            float *yb = y + (size_t)ob * 4 * p;
            /* Constant V and stride: accumulators and masks in registers. */
#define DZ_FWD(V_)                                                                         \
    (d->stride == 1 ? dz_fwd_block(d, xs, w, yb, q0, V_, 1, lm, rm, add, bb)               \
                    : dz_fwd_block(d, xs, w, yb, q0, V_, 2, lm, rm, add, bb))
            if (V == 4)
                DZ_FWD(4);
            else if (V == 3)
                DZ_FWD(3);
            else if (V == 2)
                DZ_FWD(2);
            else
                DZ_FWD(1);
#undef DZ_FWD
        }
    }
}

/* Two kernel rows (all kw) of 4 output channels, or one when R = 1: row A
 * reads the tile's images at offset oa (its kw = 0 tap; kw = 1, 2 at + o1,
 * + o2, the same for every row), row B at ob.  pa[b][kw] (pb[b][kw]) sum
 * gy[b][q] * x(tap)[q] lane by lane over every pixel q of the m images;
 * then the lanes go to da[b * ci * 9 + kw] (db[...]).  Two arrays of 12, and
 * every loop over them unrolled: gcc keeps all 24 in registers. */
static inline __attribute__((always_inline)) DZ_TARGET void
dz_weight_rows(const dc_geom *d, const float *const *xss, const float *const *gys, int m, int ob,
               size_t oa, size_t obb, int R, int S, float *da, float *db)
{
    const size_t p = (size_t)d->oh * d->ow;
    const size_t vpr = d->ow >= 16 ? (size_t)d->ow / 16 : 0; /* vectors per row */
    const ptrdiff_t o1 = (ptrdiff_t)(d->off[1] - d->off[0]), o2 = (ptrdiff_t)(d->off[2] - d->off[0]);
    __m512 pa[4][3], pb[4][3];
#pragma GCC unroll 4
    for (int b = 0; b < 4; b++)
#pragma GCC unroll 3
        for (int t = 0; t < 3; t++) pa[b][t] = pb[b][t] = _mm512_setzero_ps();
    for (int i = 0; i < m; i++) {
        const float *g = gys[i] + (size_t)ob * 4 * p;
        const float *xa = xss[i] + oa, *xb = xss[i] + obb;
        size_t jv = 0;
        for (size_t q = 0; q < p; q += 16) {
            __mmask16 lm = d->lmask, rm = d->rmask;
            if (vpr) { /* row by row: the first and last vectors are masked */
                lm = jv == 0 ? 0xFFFE : 0xFFFF;
                rm = jv + 1 == vpr ? 0x7FFF : 0xFFFF;
                jv = jv + 1 == vpr ? 0 : jv + 1;
            }
            /* 4 gy vectors in registers, one x vector at a time: 24 + 4 + 1
             * registers at R = 2. */
            const __m512 g0 = _mm512_loadu_ps(g + q), g1 = _mm512_loadu_ps(g + p + q);
            const __m512 g2 = _mm512_loadu_ps(g + 2 * p + q);
            const __m512 g3 = _mm512_loadu_ps(g + 3 * p + q);
#define DZ_W_TAP(acc, xr, kw, off)                                                         \
    do {                                                                                   \
        const __m512 xv =                                                                  \
            _mm512_maskz_loadu_ps(DZ_TAP_MASK(S, kw, lm, rm), (xr) + (off) + (ptrdiff_t)q); \
        acc[0][kw] = _mm512_fmadd_ps(g0, xv, acc[0][kw]);                                  \
        acc[1][kw] = _mm512_fmadd_ps(g1, xv, acc[1][kw]);                                  \
        acc[2][kw] = _mm512_fmadd_ps(g2, xv, acc[2][kw]);                                  \
        acc[3][kw] = _mm512_fmadd_ps(g3, xv, acc[3][kw]);                                  \
    } while (0)
            DZ_W_TAP(pa, xa, 0, 0);
            DZ_W_TAP(pa, xa, 1, o1);
            DZ_W_TAP(pa, xa, 2, o2);
            if (R == 2) {
                DZ_W_TAP(pb, xb, 0, 0);
                DZ_W_TAP(pb, xb, 1, o1);
                DZ_W_TAP(pb, xb, 2, o2);
            }
#undef DZ_W_TAP
        }
    }
    const size_t bstride = (size_t)d->ci * 9;
#pragma GCC unroll 4
    for (int b = 0; b < 4; b++) {
#pragma GCC unroll 3
        for (int t = 0; t < 3; t++) da[b * bstride + t] += _mm512_reduce_add_ps(pa[b][t]);
        if (R == 2)
#pragma GCC unroll 3
            for (int t = 0; t < 3; t++) db[b * bstride + t] += _mm512_reduce_add_ps(pb[b][t]);
    }
}

/* gw (co, ci, 3, 3) += sum over the m images of a tile of gy (co, oh, ow)
 * times the inputs xs[i] in the wide layout, two kernel rows per pass over
 * the tile (24 accumulators, 10 loads per 24 FMAs): rows 0 and 1 of each
 * input channel, then row 2 of two channels at a time. */
DZ_TARGET static void dz_weight_tile(const dc_geom *d, const float *const *xss,
                                     const float *const *gys, int m, float *gw)
{
#define DZ_ROWS(oa, obb, R, da, db)                                                        \
    (d->stride == 1 ? dz_weight_rows(d, xss, gys, m, ob, oa, obb, R, 1, da, db)            \
                    : dz_weight_rows(d, xss, gys, m, ob, oa, obb, R, 2, da, db))
    for (int ob = 0; ob < d->co / 4; ob++) {
        float *gb = gw + (size_t)ob * 4 * d->ci * 9;
        for (int c = 0; c < d->ci; c++) {
            const size_t base = (size_t)c * d->plane;
            DZ_ROWS(base + d->off[0], base + d->off[3], 2, gb + (size_t)c * 9,
                    gb + (size_t)c * 9 + 3);
        }
        int c = 0;
        for (; c + 1 < d->ci; c += 2)
            DZ_ROWS((size_t)c * d->plane + d->off[6], (size_t)(c + 1) * d->plane + d->off[6], 2,
                    gb + (size_t)c * 9 + 6, gb + (size_t)(c + 1) * 9 + 6);
        if (c < d->ci)
            DZ_ROWS((size_t)c * d->plane + d->off[6], (size_t)c * d->plane + d->off[6], 1,
                    gb + (size_t)c * 9 + 6, gb + (size_t)c * 9 + 6);
    }
#undef DZ_ROWS
}

/* Phase (A, B) of the stride-2 data gradient (dz_up2_geometry) for 4 gx
 * channels x V vectors of 16 phase pixels from q0: ph[b][q] = sum over the
 * gy channels o and the phase's taps of w'[b][o][kh][kw] * gy[o][i + dr][j
 * + dc].  wk packed DC_PACK_TRANSPOSE. */
static inline __attribute__((always_inline)) DZ_TARGET void
dz_up2_block(const dc_geom *d, const float *gs, const float *wk, float *ph, size_t q0, int V,
             int A, int B, const __mmask16 *rm)
{
    /* Taps of a phase row (col) parity: kernel row kh, gy row offset dr. */
    static const int KH[2][2] = {{1, 1}, {0, 2}}, DR[2][2] = {{0, 0}, {1, 0}};
    __m512 acc[4][4];
#pragma GCC unroll 4
    for (int b = 0; b < 4; b++)
#pragma GCC unroll 4
        for (int v = 0; v < V; v++) acc[b][v] = _mm512_setzero_ps();
    for (int o = 0; o < d->ci; o++) {
        const float *go = gs + DZ_GUARD + (size_t)o * d->plane + q0;
        const float *wo = wk + (size_t)o * 36;
        for (int r = 0; r < (A ? 2 : 1); r++)     /* constant trip counts: unrolled */
            for (int t = 0; t < (B ? 2 : 1); t++) {
                const int k = KH[A][r] * 3 + KH[B][t], dc = DR[B][t];
                const float *xr = go + (size_t)DR[A][r] * d->ow + (size_t)dc;
                __mmask16 mk[4];
#pragma GCC unroll 4
                for (int v = 0; v < V; v++) mk[v] = dc ? rm[v] : 0xFFFF;
                dz_tap(acc, xr, wo + k * 4, mk, V);
            }
    }
    dz_block_store(acc, ph, (size_t)d->oh * d->ow, q0, V, false, NULL);
}

/* dst[2j] (+)= e[j], dst[2j + 1] (+)= o[j] for j < n. */
static inline DZ_TARGET void dz_interleave(const float *e, const float *o, float *dst, size_t n,
                                           bool add)
{
    const __m512i lo = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    const __m512i hi =
        _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
    size_t j = 0;
    for (; j + 16 <= n; j += 16) {
        const __m512 ev = _mm512_loadu_ps(e + j), ov = _mm512_loadu_ps(o + j);
        __m512 l = _mm512_permutex2var_ps(ev, lo, ov), h = _mm512_permutex2var_ps(ev, hi, ov);
        if (add) {
            l = _mm512_add_ps(l, _mm512_loadu_ps(dst + 2 * j));
            h = _mm512_add_ps(h, _mm512_loadu_ps(dst + 2 * j + 16));
        }
        _mm512_storeu_ps(dst + 2 * j, l);
        _mm512_storeu_ps(dst + 2 * j + 16, h);
    }
    for (; j < n; j++) {
        dst[2 * j] = (add ? dst[2 * j] : 0.0f) + e[j];
        dst[2 * j + 1] = (add ? dst[2 * j + 1] : 0.0f) + o[j];
    }
}

/* One image of the stride-2 data gradient: gx (co, 2 oh, 2 ow) (+)= the
 * 4 phases computed into ph (4, co, oh, ow), then interleaved. */
DZ_TARGET static void dz_up2_img(const dc_geom *d, const float *gs, const float *wk, float *gx,
                                 bool add, float *ph)
{
    const size_t p = (size_t)d->oh * d->ow, ow = (size_t)d->ow;
    const int nv = (int)(p / 16);
    for (int v = 0; v < nv; v += 4) {
        const int V = imin(4, nv - v);
        const size_t q0 = (size_t)v * 16;
        __mmask16 rm[4];
        for (int u = 0; u < V; u++) {
            __mmask16 m[3];
            dz_masks(d, q0 + 16 * (size_t)u, m);
            rm[u] = m[2];
        }
        for (int cb = 0; cb < d->co / 4; cb++) {
            const float *w = wk + (size_t)cb * d->ci * 36;
            for (int ab = 0; ab < 4; ab++) {
                float *dst = ph + ((size_t)ab * d->co + (size_t)cb * 4) * p;
#define DZ_UP2(A, B)                                                                       \
    do {                                                                                   \
        if (V == 4)                                                                        \
            dz_up2_block(d, gs, w, dst, q0, 4, A, B, rm);                                  \
        else if (V == 3)                                                                   \
            dz_up2_block(d, gs, w, dst, q0, 3, A, B, rm);                                  \
        else if (V == 2)                                                                   \
            dz_up2_block(d, gs, w, dst, q0, 2, A, B, rm);                                  \
        else                                                                               \
            dz_up2_block(d, gs, w, dst, q0, 1, A, B, rm);                                  \
    } while (0)
                if (ab == 0)
                    DZ_UP2(0, 0);
                else if (ab == 1)
                    DZ_UP2(0, 1);
                else if (ab == 2)
                    DZ_UP2(1, 0);
                else
                    DZ_UP2(1, 1);
#undef DZ_UP2
            }
        }
    }
    const size_t w2 = 2 * ow, plane = 4 * p;
    for (int c = 0; c < d->co; c++)
        for (int i = 0; i < d->oh; i++)
            for (int a = 0; a < 2; a++) {
                const float *e = ph + ((size_t)(2 * a) * d->co + c) * p + (size_t)i * ow;
                const float *o = ph + ((size_t)(2 * a + 1) * d->co + c) * p + (size_t)i * ow;
                dz_interleave(e, o, gx + (size_t)c * plane + (size_t)(2 * i + a) * w2, ow, add);
            }
}

static void dc_forward_any(const dc_geom *d, const float *xp, const float *wk, float *y, bool add,
                           const float *bias)
{
    if (d->wide)
        dz_forward_img(d, xp, wk, y, add, bias);
    else
        dc_forward_img(d, xp, wk, y, add, bias);
}
#endif

#ifdef TN_DIRECT_CONV
/* The direct path's geometries: forward (x -> y) and data gradient (gy -> gx). */
static bool dc_usable(const conv_geom *gm, dc_geom *fwd, dc_geom *bwd)
{
    const int isa = direct_conv_isa();
    if (!(gm->kh == 3 && gm->kw == 3 && gm->stride <= 2 && gm->dil == 1 && gm->pad <= 2) || !isa)
        return false;
    bool wide = isa == 2;
    *fwd = dc_geometry(gm->c, gm->o, gm->h, gm->w, gm->pad, gm->stride, wide);
    if (wide && !dc_fits(fwd)) { /* e.g. OH * OW not a multiple of 16: the AVX2 kernels */
        wide = false;
        *fwd = dc_geometry(gm->c, gm->o, gm->h, gm->w, gm->pad, gm->stride, false);
    }
    *bwd = dc_geometry(gm->o, gm->c, gm->oh, gm->ow, 2 - gm->pad, 1, wide);
    if (gm->stride != 1) { /* the data gradient is not a plain conv */
        if (wide && gm->h == 2 * gm->oh && gm->w == 2 * gm->ow)
            *bwd = dz_up2_geometry(gm->o, gm->c, gm->oh, gm->ow);
        else
            bwd->oh = 0;
    }
    return dc_fits(fwd);
}

static void dc_conv_forward(tn_graph *g, tn_tensor *out, const conv_geom *gm, const dc_geom *d)
{
    const float *x = out->in[0]->data, *w = out->in[1]->data;
    const float *b = out->n_in == 3 ? out->in[2]->data : NULL;
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
            dc_forward_any(d, xp, scratch, out->data + (size_t)n * ohw, false, b);
        }
    });
}

/* Backward on the direct path; gx as conv_backward prepared it (fresh: to
 * be written; in place: gy's own buffer). */
static void dc_conv_backward(tn_graph *g, tn_tensor *out, const conv_geom *gm, const dc_geom *d,
                             const dc_geom *db, float *gx, bool gx_fresh, bool in_place,
                             float *gw, float *gb)
{
    const tn_tensor *x = out->in[0], *wt = out->in[1];
    const bool prof = tn_profile_enabled();
    const double t_start = prof ? tn_profile_now() : 0.0;
    const size_t chw = (size_t)gm->c * gm->h * gm->w, ohw = (size_t)gm->o * gm->p;
    /* Weight tiles of m images: at least 512 pixels (wide: 2048, fewer
     * lane sums). */
    const size_t tile_px = d->wide ? 2048 : 512;
    const int m_w = gm->p >= tile_px ? 1 : imin(imin(gm->n, 64), (int)(tile_px / gm->p));
    const int tiles = (gm->n + m_w - 1) / m_w;
    const int nthr = conv_threads(tiles > gm->n ? tiles : gm->n);
    const size_t wsize = (size_t)gm->o * gm->ckk;
    const size_t wk_n = gx ? line_up(wsize) : 0, gw_part = gw ? line_up(wsize) : 0;
    const size_t xps_n = gw ? line_up((size_t)m_w * d->size) : 0;
    const size_t gyp_n =
        gx ? line_up(db->size) + (db->up2 ? line_up(4 * (size_t)db->co * db->oh * db->ow) : 0) : 0;
    const size_t per_thr = xps_n + gyp_n + line_up(2 * (size_t)gm->o);
    float *scratch = tn_graph_scratch(g, wk_n + gw_part * (size_t)(nthr - 1) +
                                             per_thr * (size_t)nthr);
    if (!scratch) return;
    float *wk = scratch, *gw_parts = scratch + wk_n;
    float *thr_base = gw_parts + gw_part * (size_t)(nthr - 1);
    if (gx) dc_pack(wt->data, gm->o, gm->c, db->up2 ? DC_PACK_TRANSPOSE : DC_PACK_FLIP, wk);
    double t_w = 0.0, t_d = 0.0;
    CONV_PARALLEL(nthr, tid, {
        float *xps = thr_base + per_thr * (size_t)tid, *gyp = xps + xps_n;
        double *bsum = (double *)(gyp + gyp_n);
        float *gwt = tid == 0 ? gw : gw_parts + gw_part * (size_t)(tid - 1);
        double t0 = prof && tid == 0 ? tn_profile_now() : 0.0;
        int k0, k1;
        if (gw && tid > 0) memset(gwt, 0, wsize * sizeof(float));
        if (gb)
            for (int o = 0; o < gm->o; o++) bsum[o] = 0.0;
        thread_tiles(tid, nthr, tiles, &k0, &k1);
        for (int k = k0; k < k1 && (gw || gb); k++) {
            const int n0 = k * m_w, m = imin(m_w, gm->n - n0);
            const float *xs[64], *gs[64];
            for (int i = 0; i < m; i++) {
                gs[i] = out->grad + (size_t)(n0 + i) * ohw;
                if (gb)
                    for (int o = 0; o < gm->o; o++) bsum[o] += sum_d(gs[i] + (size_t)o * gm->p, gm->p);
                if (!gw) continue;
                float *xpi = xps + (size_t)i * d->size;
                dc_pad(d, x->data + (size_t)(n0 + i) * chw, xpi);
                xs[i] = xpi;
            }
            if (gw && d->wide)
                dz_weight_tile(d, xs, gs, m, gwt);
            else if (gw)
                dc_weight_tile(d, xs, gs, m, gwt);
        }
        double t1 = prof && tid == 0 ? tn_profile_now() : 0.0;
        if (in_place && nthr > 1) {
            _Pragma("omp barrier")
        }
        thread_tiles(tid, nthr, gm->n, &k0, &k1);
        for (int n = k0; n < k1 && gx; n++) {
            dc_pad(db, out->grad + (size_t)n * ohw, gyp); /* gy copied before gx is written */
            if (db->up2)
                dz_up2_img(db, gyp, wk, gx + (size_t)n * chw, !gx_fresh, gyp + line_up(db->size));
            else
                dc_forward_any(db, gyp, wk, gx + (size_t)n * chw, !gx_fresh, NULL);
        }
        if (prof && tid == 0) t_w = t1 - t0, t_d = tn_profile_now() - t1;
    });
    if (gb) /* each thread's bias sums, added in thread order: deterministic */
        for (int o = 0; o < gm->o; o++) {
            double s = 0.0;
            for (int t = 0; t < nthr; t++)
                s += ((const double *)(thr_base + per_thr * (size_t)t + xps_n + gyp_n))[o];
            gb[o] += (float)s;
        }
    if (gw)
        for (int t = 1; t < nthr; t++) {
            const float *part = gw_parts + gw_part * (size_t)(t - 1);
            for (size_t i = 0; i < wsize; i++) gw[i] += part[i];
        }
    if (prof) {
        double total = tn_profile_now() - t_start, busy = t_w + t_d;
        if (busy > 0.0) {
            tn_profile_add("conv2d.bwd_weight", true, total * t_w / busy);
            tn_profile_add("conv2d.bwd_data", true, total * t_d / busy);
        }
    }
}
#endif

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
    const size_t okk = (size_t)gm.o * gm.kh * gm.kw, hw = (size_t)gm.h * gm.w;
    const size_t big = gm.p > hw ? gm.p : hw, rows = gm.ckk > okk ? gm.ckk : okk;
    TN_REQUIRE(out, rows <= INT_MAX / 4 && big <= INT_MAX / TILE_FLOATS &&
                        rows * big <= SIZE_MAX / 64,
               "the im2col matrix (%zu, %zu) of an image is too large for one sgemm", gm.ckk,
               gm.p);
    tn_set_shape(out, 4, (int[]){gm.n, gm.o, gm.oh, gm.ow});
}

static void conv_forward(tn_graph *g, tn_tensor *out)
{
    const conv_geom gm = conv_geometry(out);
#ifdef TN_DIRECT_CONV
    dc_geom dcf, dcb;
    if (dc_usable(&gm, &dcf, &dcb)) {
        dc_conv_forward(g, out, &gm, &dcf);
        return;
    }
#endif
    const float *x = out->in[0]->data, *w = out->in[1]->data;
    const float *b = out->n_in == 3 ? out->in[2]->data : NULL;
    const bool pointwise = conv_is_pointwise(&gm);
    const conv_tiles tl = conv_tiling(&gm, pointwise ? 0 : gm.ckk, pointwise);
    const int nthr = conv_threads(tl.count);
    const size_t chw = (size_t)gm.c * gm.h * gm.w;
    /* Per thread: the columns, then the (O, nb*P) product when nb > 1. */
    const size_t cols_n = line_up(pointwise ? 0 : gm.ckk * tl.max_cols);
    const size_t per_thr = cols_n + line_up(tl.nb > 1 ? gm.o * tl.max_cols : 0);
    float *scratch = per_thr ? tn_graph_scratch(g, per_thr * (size_t)nthr) : NULL;
    if (per_thr && !scratch) return;
    CONV_PARALLEL(nthr, tid, {
        float *cols = scratch ? scratch + per_thr * (size_t)tid : NULL;
        float *tmp = tl.nb > 1 ? cols + cols_n : NULL;
        int k0, k1;
        thread_tiles(tid, nthr, tl.count, &k0, &k1);
        for (int k = k0; k < k1; k++) {
            int n0, m, r0, r1;
            tile_at(&tl, &gm, k, &n0, &m, &r0, &r1);
            const size_t tp = (size_t)(r1 - r0) * gm.ow, ld = (size_t)m * tp;
            const float *bm = x + (size_t)n0 * chw + (size_t)r0 * gm.ow; /* pointwise */
            size_t ldb = gm.p;
            if (!pointwise) {
                for (int i = 0; i < m; i++)
                    im2col_img(&gm, x + (size_t)(n0 + i) * chw, cols + (size_t)i * tp, ld, r0,
                               r1);
                bm = cols;
                ldb = ld;
            }
            float *y = out->data + (size_t)n0 * gm.o * gm.p + (size_t)r0 * gm.ow;
            if (m == 1) {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, gm.o, (int)tp,
                            (int)gm.ckk, 1.0f, w, (int)gm.ckk, bm, (int)ldb, 0.0f, y, (int)gm.p);
                if (b)
                    for (int o = 0; o < gm.o; o++)
                        for (size_t q = 0; q < tp; q++) y[(size_t)o * gm.p + q] += b[o];
                continue;
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, gm.o, (int)ld, (int)gm.ckk,
                        1.0f, w, (int)gm.ckk, bm, (int)ldb, 0.0f, tmp, (int)ld);
            /* (O, m, P) -> (m, O, P), adding the bias on the way. */
            for (int i = 0; i < m; i++)
                for (int o = 0; o < gm.o; o++) {
                    const float *s = tmp + (size_t)o * ld + (size_t)i * gm.p;
                    float *d = y + ((size_t)i * gm.o + o) * gm.p;
                    const float add = b ? b[o] : 0.0f;
                    for (size_t q = 0; q < gm.p; q++) d[q] = s[q] + add;
                }
        }
    });
}

static void conv_backward(tn_graph *g, tn_tensor *out)
{
    const conv_geom gm = conv_geometry(out);
    tn_tensor *x = out->in[0], *wt = out->in[1];
    const bool pointwise = conv_is_pointwise(&gm);
    const bool dconv = x->requires_grad && conv_bwd_data_is_conv(&gm);
    /* x's gradient: added into when it exists; else written (no zeroing)
     * by the GEMM paths, and when it has gy's shape it takes gy's buffer,
     * dead after this backward (each chunk of gy is copied before its rows
     * are overwritten). */
    bool gx_fresh = false, in_place = false;
    float *gx = NULL;
    if (x->requires_grad && !x->grad && (dconv || pointwise)) {
        gx_fresh = true;
        in_place = dconv && x->numel == out->numel && gm.c == gm.o && gm.h == gm.oh;
        x->grad = in_place ? out->grad : tn_graph_floats(g, x->numel);
        gx = x->grad;
    } else {
        gx = tn_grad(g, x);
    }
    float *gw = tn_grad(g, wt);
    float *gb = out->n_in == 3 ? tn_grad(g, out->in[2]) : NULL;
    if (tn_graph_status(g) != TN_OK) return;
    if (!gx && !gw && !gb) return;
#ifdef TN_DIRECT_CONV
    dc_geom dcf, dcb;
    if (dc_usable(&gm, &dcf, &dcb)) {
        if (!gx || dc_fits(&dcb)) {
            dc_conv_backward(g, out, &gm, &dcf, &dcb, gx, gx_fresh, in_place, gw, gb);
            return;
        }
        /* Stride 2: weights and bias here, the data gradient below. */
        if (gw || gb) dc_conv_backward(g, out, &gm, &dcf, &dcb, NULL, false, false, gw, gb);
        if (tn_graph_status(g) != TN_OK) return;
        gw = gb = NULL;
    }
#endif
    const bool prof = tn_profile_enabled();
    const double t_start = prof ? tn_profile_now() : 0.0;

    const conv_geom tg = conv_bwd_data_geometry(&gm);
    const size_t chw = (size_t)gm.c * gm.h * gm.w, ohw = (size_t)gm.o * gm.p;
    /* Weight and bias gradients: tiles over the output (columns of x). */
    const conv_tiles tw = conv_tiling(&gm, pointwise ? 0 : gm.ckk, pointwise);
    /* Data gradient: tiles over gx when it is a convolution of gy, whole
     * images otherwise (col2im writes rows that tiles would share). */
    const conv_tiles td = dconv ? conv_tiling(&tg, tg.ckk, false)
                                : conv_tiling(&gm, pointwise ? 0 : gm.ckk, true);
    const int tiles = (gw || gb) && tw.count > td.count ? tw.count : td.count;
    const int nthr = conv_threads(tiles);
    const size_t wsize = (size_t)gm.o * gm.ckk;
    /* Shared: the flipped kernel w' (C, O*KK) for dconv, and the weight
     * gradients of threads 1.. (thread 0 adds into gw).  Per thread: gy of a
     * tile as (O, nb*P) when nb > 1; the columns (of x, of gy for dconv, or
     * dcols); the (C, nb*H*W) data gradient of a tile when dconv and nb > 1;
     * the bias sums (doubles). */
    const size_t w_flip = dconv ? line_up(wsize) : 0;
    const size_t gw_part = gw ? line_up(wsize) : 0;
    size_t col_n = pointwise ? 0 : gm.ckk * (gw ? tw.max_cols : 0);
    if (dconv && tg.ckk * td.max_cols > col_n) col_n = tg.ckk * td.max_cols;
    if (gx && !dconv && !pointwise && gm.ckk * td.max_cols > col_n) col_n = gm.ckk * td.max_cols;
    col_n = line_up(col_n);
    size_t gyt_n = tw.nb > 1 ? gm.o * tw.max_cols : 0;
    if (gx && !dconv && td.nb > 1 && gm.o * td.max_cols > gyt_n) gyt_n = gm.o * td.max_cols;
    gyt_n = line_up(gyt_n);
    const size_t gxt_n = line_up(dconv && td.nb > 1 ? (size_t)gm.c * td.max_cols : 0);
    const size_t gyc_n = line_up(in_place ? (size_t)td.nb * ohw : 0); /* gy chunk copy */
    const size_t per_thr = gyt_n + col_n + gxt_n + gyc_n + line_up(2 * (size_t)gm.o);
    float *scratch = tn_graph_scratch(g, w_flip + gw_part * (size_t)(nthr - 1) +
                                             per_thr * (size_t)nthr);
    if (!scratch) return;
    float *wf = scratch, *gw_parts = scratch + w_flip;
    float *thr_base = gw_parts + gw_part * (size_t)(nthr - 1);
    if (dconv) { /* w'[c][o][kh][kw] = w[o][c][KH-1-kh][KW-1-kw] */
        const int kk = gm.kh * gm.kw;
        for (int o = 0; o < gm.o; o++)
            for (int c = 0; c < gm.c; c++)
                for (int k = 0; k < kk; k++)
                    wf[((size_t)c * gm.o + o) * kk + k] =
                        wt->data[((size_t)o * gm.c + c) * kk + (kk - 1 - k)];
    }
    double t_w = 0.0, t_d = 0.0; /* thread 0's time in each phase */

    CONV_PARALLEL(nthr, tid, {
        float *gyt = thr_base + per_thr * (size_t)tid;
        float *cols = gyt + gyt_n, *gxt = cols + col_n, *gy_copy = gxt + gxt_n;
        double *bsum = (double *)(gy_copy + gyc_n);
        float *gwt = tid == 0 ? gw : gw_parts + gw_part * (size_t)(tid - 1);
        double t0 = prof && tid == 0 ? tn_profile_now() : 0.0;
        int k0, k1;
        /* ---- weight and bias gradients */
        if (gb)
            for (int o = 0; o < gm.o; o++) bsum[o] = 0.0;
        if (gw && tid > 0) memset(gwt, 0, wsize * sizeof(float));
        const int nthr_w = conv_threads(tw.count);
        thread_tiles(tid, nthr_w, tw.count, &k0, &k1);
        if (tid >= nthr_w) k0 = k1 = 0;
        for (int k = k0; k < k1 && (gw || gb); k++) {
            int n0, m, r0, r1;
            tile_at(&tw, &gm, k, &n0, &m, &r0, &r1);
            const size_t tp = (size_t)(r1 - r0) * gm.ow, ld = (size_t)m * tp;
            /* gy of the tile as (O, ld) with leading dim lda. */
            const float *gyc = out->grad + (size_t)n0 * ohw + (size_t)r0 * gm.ow;
            size_t lda = gm.p;
            if (m > 1) {
                for (int o = 0; o < gm.o; o++)
                    for (int i = 0; i < m; i++)
                        memcpy(gyt + (size_t)o * ld + (size_t)i * gm.p,
                               gyc + (size_t)i * ohw + (size_t)o * gm.p, gm.p * sizeof(float));
                gyc = gyt;
                lda = ld;
            }
            if (gb)
                for (int o = 0; o < gm.o; o++) bsum[o] += sum_d(gyc + (size_t)o * lda, ld);
            if (!gw) continue;
            const float *bm = x->data + (size_t)n0 * chw + (size_t)r0 * gm.ow; /* pointwise */
            size_t ldb = gm.p;
            if (!pointwise) {
                for (int i = 0; i < m; i++)
                    im2col_img(&gm, x->data + (size_t)(n0 + i) * chw, cols + (size_t)i * tp, ld,
                               r0, r1);
                bm = cols;
                ldb = ld;
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, gm.o, (int)gm.ckk, (int)ld,
                        1.0f, gyc, (int)lda, bm, (int)ldb, 1.0f, gwt, (int)gm.ckk);
        }
        double t1 = prof && tid == 0 ? tn_profile_now() : 0.0;
        /* ---- data gradient; in place, gy must be read by every thread's
         * weight tiles first.  Threads take whole chunks of images. */
        if (in_place && nthr > 1) {
            _Pragma("omp barrier")
        }
        const int chunks_d = td.count / td.per_chunk, nthr_d = conv_threads(chunks_d);
        thread_tiles(tid, nthr_d, chunks_d, &k0, &k1);
        k0 *= td.per_chunk;
        k1 *= td.per_chunk;
        if (!gx || tid >= nthr_d) k0 = k1 = 0;
        const float beta_d = gx_fresh ? 0.0f : 1.0f;
        for (int k = k0; k < k1; k++) {
            int n0, m, r0, r1;
            if (dconv) {
                /* gx tile (C, m*rows*W) (+)= w' (C, O*KK) . im2col(gy). */
                tile_at(&td, &tg, k, &n0, &m, &r0, &r1);
                const size_t tp = (size_t)(r1 - r0) * tg.ow, ld = (size_t)m * tp;
                const float *gy_src = out->grad + (size_t)n0 * ohw;
                if (in_place) {
                    if (k % td.per_chunk == 0)
                        memcpy(gy_copy, gy_src, (size_t)m * ohw * sizeof(float));
                    gy_src = gy_copy;
                }
                for (int i = 0; i < m; i++)
                    im2col_img(&tg, gy_src + (size_t)i * ohw, cols + (size_t)i * tp, ld, r0, r1);
                float *gxn = gx + (size_t)n0 * chw + (size_t)r0 * tg.ow;
                if (m == 1) {
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, gm.c, (int)tp,
                                (int)tg.ckk, 1.0f, wf, (int)tg.ckk, cols, (int)ld, beta_d, gxn,
                                (int)tg.p);
                    continue;
                }
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, gm.c, (int)ld,
                            (int)tg.ckk, 1.0f, wf, (int)tg.ckk, cols, (int)ld, 0.0f, gxt,
                            (int)ld);
                for (int i = 0; i < m; i++)
                    for (int c = 0; c < gm.c; c++) {
                        const float *s = gxt + (size_t)c * ld + (size_t)i * tg.p;
                        float *d = gxn + ((size_t)i * gm.c + c) * tg.p;
                        if (gx_fresh)
                            memcpy(d, s, tg.p * sizeof(float));
                        else
                            for (size_t q = 0; q < tg.p; q++) d[q] += s[q];
                    }
                continue;
            }
            tile_at(&td, &gm, k, &n0, &m, &r0, &r1);
            const size_t ld = (size_t)m * gm.p;
            const float *gyc = out->grad + (size_t)n0 * ohw;
            if (m > 1) {
                for (int o = 0; o < gm.o; o++)
                    for (int i = 0; i < m; i++)
                        memcpy(gyt + (size_t)o * ld + (size_t)i * gm.p,
                               gyc + (size_t)i * ohw + (size_t)o * gm.p, gm.p * sizeof(float));
                gyc = gyt;
            }
            if (pointwise) {
                /* gx_img (C, P) += w^T (C, O) . gy_img (O, P); nb == 1 here. */
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, gm.c, (int)ld, gm.o, 1.0f,
                            wt->data, gm.c, gyc, (int)ld, beta_d, gx + (size_t)n0 * chw, (int)ld);
                continue;
            }
            /* dcols (CKK, m*P) = w^T (CKK, O) . gy_chunk, scattered back. */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)gm.ckk, (int)ld, gm.o,
                        1.0f, wt->data, (int)gm.ckk, gyc, (int)ld, 0.0f, cols, (int)ld);
            for (int i = 0; i < m; i++)
                col2im_add_img(&gm, cols + (size_t)i * gm.p, ld, gx + (size_t)(n0 + i) * chw);
        }
        if (prof && tid == 0) t_w = t1 - t0, t_d = tn_profile_now() - t1;
    });
    if (gb) /* each thread's bias sums, added in thread order: deterministic */
        for (int o = 0; o < gm.o; o++) {
            double s = 0.0;
            for (int t = 0; t < nthr; t++)
                s += ((const double *)(thr_base + per_thr * (size_t)t + gyt_n + col_n + gxt_n +
                                       gyc_n))[o];
            gb[o] += (float)s;
        }
    /* The other threads' weight gradients. */
    if (gw)
        for (int t = 1; t < nthr; t++) {
            const float *part = gw_parts + gw_part * (size_t)(t - 1);
            for (size_t i = 0; i < wsize; i++) gw[i] += part[i];
        }
    if (prof) {
        /* Thread 0's split of its time, applied to the whole op's time. */
        double total = tn_profile_now() - t_start, busy = t_w + t_d;
        if (busy > 0.0) {
            tn_profile_add("conv2d.bwd_weight", true, total * t_w / busy);
            tn_profile_add("conv2d.bwd_data", true, total * t_d / busy);
        }
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
