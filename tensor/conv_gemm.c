/* tensor/conv_gemm.c - conv2d as im2col + sgemm, for any geometry.
 *
 * Work goes in tiles of a few images (enough for a GEMM dimension of about
 * 256 output positions, so that a tile's columns stay in the L2 cache), or
 * of an image's output rows: im2col of the tile, then one single-threaded
 * sgemm.  With T threads the tiles are split over T OpenMP threads, each
 * calling sgemm with OpenBLAS held to one thread: the GEMMs never contend
 * with OpenBLAS's own worker threads, and the im2col/reorder work runs in
 * parallel too.
 *
 * forward          y_chunk (O, nb*P) = w (O, CKK) . cols (CKK, nb*P)
 * backward-weights gw (O, CKK) += gy_chunk (O, nb*P) . cols^T
 * backward-data    stride 1: a convolution of gy with the flipped, transposed
 *                  kernel w' (C, O*KK) (im2col of gy, then a GEMM with the
 *                  deep K = O*KK, no scatter); otherwise
 *                  dcols (CKK, nb*P) = w^T . gy_chunk, then col2im.
 * 1x1, stride 1, padding 0: the input is its own column matrix. */
#include "conv_internal.h"

/* ceil(a / b) for b > 0 and any sign of a. */
static int ceil_div(int a, int b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }

/* ------------------------------------------------------------- im2col */

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
 * output rows.  Kept out of line: inlined into the data-gradient loop it
 * ran about 4% slower (stride-2 backward, one thread). */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
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

/* Backward-data as the convolution of gy (N, O, OH, OW) with the flipped
 * kernel: stride 1, a square kernel, and padding dil*(K-1) - pad >= 0. */
bool tn_conv_bwd_data_is_conv(const conv_geom *gm)
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
 * floats per output position) take about CONV_TILE_FLOATS and the GEMM
 * gets at least CONV_TILE_MIN_COLS columns. */

typedef struct conv_tiles {
    int nb, rows;      /* images per tile; output rows per tile (of one image) */
    int per_chunk;     /* tiles per chunk of nb images */
    int count;         /* tiles in all */
    size_t max_cols;   /* the most output positions in a tile */
} conv_tiles;

static conv_tiles conv_tiling(const conv_geom *gm, size_t col_rows, bool whole_images)
{
    size_t target = CONV_TILE_FLOATS / (col_rows ? col_rows : 1);
    if (target < CONV_TILE_MIN_COLS) target = CONV_TILE_MIN_COLS;
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


/* The column matrix of a tile of m images from x0 (the tile's first image),
 * output rows [r0, r1): im2col into cols, tp = (r1 - r0) OW columns an
 * image; pointwise, x itself.  *ldb: its leading dimension. */
static const float *tile_columns(const conv_geom *gm, const float *x0, int m, int r0, int r1,
                                 bool pointwise, float *cols, size_t *ldb)
{
    const size_t chw = (size_t)gm->c * gm->h * gm->w, tp = (size_t)(r1 - r0) * gm->ow;
    if (pointwise) {
        *ldb = gm->p;
        return x0 + (size_t)r0 * gm->ow;
    }
    *ldb = (size_t)m * tp;
    for (int i = 0; i < m; i++)
        im2col_img(gm, x0 + (size_t)i * chw, cols + (size_t)i * tp, *ldb, r0, r1);
    return cols;
}

/* gy of a tile, from gy0 (its first image, output row r0), as an (O, m*tp)
 * matrix: gy itself when m == 1, else whole images (m > 1 only for whole
 * images) gathered into gyt.  *lda: its leading dimension. */
static const float *tile_gy(const conv_geom *gm, const float *gy0, int m, float *gyt, size_t *lda)
{
    const size_t ohw = (size_t)gm->o * gm->p, ld = (size_t)m * gm->p;
    *lda = gm->p;
    if (m == 1) return gy0;
    for (int o = 0; o < gm->o; o++)
        for (int i = 0; i < m; i++)
            memcpy(gyt + (size_t)o * ld + (size_t)i * gm->p, gy0 + (size_t)i * ohw + (size_t)o * gm->p,
                   gm->p * sizeof(float));
    *lda = ld;
    return gyt;
}

void tn_conv_gemm_forward(tn_graph *g, tn_tensor *out, const conv_geom *gm)
{
    const float *x = out->in[0]->data, *w = out->in[1]->data;
    const float *b = out->n_in >= 3 ? out->in[2]->data : NULL;
    const bool pointwise = conv_is_pointwise(gm);
    const conv_tiles tl = conv_tiling(gm, pointwise ? 0 : gm->ckk, pointwise);
    const int nthr = conv_threads(tl.count);
    const size_t chw = (size_t)gm->c * gm->h * gm->w, p = gm->p;
    /* Per thread: the columns, then the (O, nb*P) product when nb > 1. */
    const size_t cols_n = line_up(pointwise ? 0 : gm->ckk * tl.max_cols);
    const size_t per_thr = cols_n + line_up(tl.nb > 1 ? gm->o * tl.max_cols : 0);
    float *scratch = per_thr ? tn_graph_scratch(g, per_thr * (size_t)nthr) : NULL;
    if (per_thr && !scratch) return;
    CONV_PARALLEL(nthr, tid, {
        float *cols = scratch ? scratch + per_thr * (size_t)tid : NULL;
        float *tmp = tl.nb > 1 ? cols + cols_n : NULL;
        int k0, k1;
        thread_tiles(tid, nthr, tl.count, &k0, &k1);
        for (int k = k0; k < k1; k++) {
            int n0, m, r0, r1;
            tile_at(&tl, gm, k, &n0, &m, &r0, &r1);
            const size_t tp = (size_t)(r1 - r0) * gm->ow, ld = (size_t)m * tp;
            size_t ldb;
            const float *bm =
                tile_columns(gm, x + (size_t)n0 * chw, m, r0, r1, pointwise, cols, &ldb);
            float *y = out->data + (size_t)n0 * gm->o * p + (size_t)r0 * gm->ow;
            if (m == 1) {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, gm->o, (int)tp,
                            (int)gm->ckk, 1.0f, w, (int)gm->ckk, bm, (int)ldb, 0.0f, y, (int)p);
                if (b)
                    for (int o = 0; o < gm->o; o++)
                        for (size_t q = 0; q < tp; q++) y[(size_t)o * p + q] += b[o];
                continue;
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, gm->o, (int)ld, (int)gm->ckk,
                        1.0f, w, (int)gm->ckk, bm, (int)ldb, 0.0f, tmp, (int)ld);
            /* (O, m, P) -> (m, O, P), adding the bias on the way. */
            for (int i = 0; i < m; i++)
                for (int o = 0; o < gm->o; o++) {
                    const float *s = tmp + (size_t)o * ld + (size_t)i * p;
                    float *d = y + ((size_t)i * gm->o + o) * p;
                    const float add = b ? b[o] : 0.0f;
                    for (size_t q = 0; q < p; q++) d[q] = s[q] + add;
                }
        }
    });
}

/* A GEMM backward.  Scratch: shared, the flipped kernel w' (C, O*KK) when
 * dconv; per thread, the parts GB_* below. */
enum {
    GB_GYT,    /* gy of a tile as (O, nb*P) when nb > 1 */
    GB_COLS,   /* the columns: of x, of gy when dconv, or dcols */
    GB_GXT,    /* dconv, nb > 1: the (C, nb*H*W) data gradient of a tile */
    GB_GYCOPY, /* in place: a chunk of gy, copied before gx overwrites it */
};

typedef struct gemm_backward {
    const conv_geom *gm;
    conv_geom tg;     /* dconv: the data gradient's convolution */
    conv_tiles tw;    /* weight and bias gradients: tiles over the output (x's columns) */
    conv_tiles td;    /* data gradient: tiles over gx when dconv, whole images otherwise */
    bool pointwise, dconv;
    const conv_grads *gr;
    const conv_scratch *s;
    const float *x, *w, *gy;
} gemm_backward;

/* Thread tid's weight tiles: gwt += gy_tile . cols^T, its bias sums +=
 * gy_tile's sums. */
static void gemm_backward_weights(const void *ctx, int tid, float *gwt)
{
    const gemm_backward *c = ctx;
    const conv_geom *gm = c->gm;
    const conv_tiles *tw = &c->tw;
    const bool gw = c->gr->gw, gb = c->gr->gb;
    const size_t chw = (size_t)gm->c * gm->h * gm->w, ohw = (size_t)gm->o * gm->p;
    float *gyt = conv_part(c->s, tid, GB_GYT), *cols = conv_part(c->s, tid, GB_COLS);
    double *bsum = conv_bias_sums(c->s, tid);
    /* The team's size, not conv_threads(): inside this parallel region
     * that would say 1 and leave every tile to thread 0. */
    const int nthr_w = imin(c->s->nthr, tw->count);
    int k0, k1;
    thread_tiles(tid, nthr_w, tw->count, &k0, &k1);
    if (tid >= nthr_w) k0 = k1 = 0;
    for (int k = k0; k < k1 && (gw || gb); k++) {
        int n0, m, r0, r1;
        tile_at(tw, gm, k, &n0, &m, &r0, &r1);
        const size_t ld = (size_t)m * (r1 - r0) * gm->ow;
        size_t lda, ldb;
        const float *gyc =
            tile_gy(gm, c->gy + (size_t)n0 * ohw + (size_t)r0 * gm->ow, m, gyt, &lda);
        if (gb)
            for (int o = 0; o < gm->o; o++) bsum[o] += sum_d(gyc + (size_t)o * lda, ld);
        if (!gw) continue;
        const float *bm =
            tile_columns(gm, c->x + (size_t)n0 * chw, m, r0, r1, c->pointwise, cols, &ldb);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, gm->o, (int)gm->ckk, (int)ld, 1.0f,
                    gyc, (int)lda, bm, (int)ldb, 1.0f, gwt, (int)gm->ckk);
    }
}

/* Data-gradient tile k as a convolution of gy: gx tile (C, m*rows*W) (+)=
 * w' (C, O*KK) . im2col(gy). */
static void gemm_data_conv_tile(const gemm_backward *c, int tid, int k)
{
    const conv_geom *gm = c->gm, *tg = &c->tg;
    const bool fresh = c->gr->gx_fresh;
    const size_t chw = (size_t)gm->c * gm->h * gm->w, ohw = (size_t)gm->o * gm->p;
    float *cols = conv_part(c->s, tid, GB_COLS), *gxt = conv_part(c->s, tid, GB_GXT);
    int n0, m, r0, r1;
    tile_at(&c->td, tg, k, &n0, &m, &r0, &r1);
    const size_t tp = (size_t)(r1 - r0) * tg->ow;
    const float *gy_src = c->gy + (size_t)n0 * ohw;
    if (c->gr->in_place) {
        float *gy_copy = conv_part(c->s, tid, GB_GYCOPY);
        if (k % c->td.per_chunk == 0) memcpy(gy_copy, gy_src, (size_t)m * ohw * sizeof(float));
        gy_src = gy_copy;
    }
    size_t ld;
    tile_columns(tg, gy_src, m, r0, r1, false, cols, &ld);
    float *gxn = c->gr->gx + (size_t)n0 * chw + (size_t)r0 * tg->ow;
    if (m == 1) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, gm->c, (int)tp, (int)tg->ckk,
                    1.0f, c->s->shared, (int)tg->ckk, cols, (int)ld, fresh ? 0.0f : 1.0f, gxn,
                    (int)tg->p);
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, gm->c, (int)ld, (int)tg->ckk, 1.0f,
                c->s->shared, (int)tg->ckk, cols, (int)ld, 0.0f, gxt, (int)ld);
    for (int i = 0; i < m; i++)
        for (int ch = 0; ch < gm->c; ch++) {
            const float *s = gxt + (size_t)ch * ld + (size_t)i * tg->p;
            float *d = gxn + ((size_t)i * gm->c + ch) * tg->p;
            if (fresh)
                memcpy(d, s, tg->p * sizeof(float));
            else
                for (size_t q = 0; q < tg->p; q++) d[q] += s[q];
        }
}

/* Data-gradient tile k (whole images) otherwise: pointwise gx (C, P) (+)=
 * w^T (C, O) . gy; else dcols (CKK, m*P) = w^T (CKK, O) . gy, added into gx
 * by col2im. */
static void gemm_data_col2im_tile(const gemm_backward *c, int tid, int k)
{
    const conv_geom *gm = c->gm;
    const size_t chw = (size_t)gm->c * gm->h * gm->w, ohw = (size_t)gm->o * gm->p;
    float *gyt = conv_part(c->s, tid, GB_GYT), *cols = conv_part(c->s, tid, GB_COLS);
    int n0, m, r0, r1;
    tile_at(&c->td, gm, k, &n0, &m, &r0, &r1);
    const size_t ld = (size_t)m * gm->p;
    size_t lda;
    const float *gyc = tile_gy(gm, c->gy + (size_t)n0 * ohw, m, gyt, &lda);
    if (c->pointwise) { /* nb == 1 here */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, gm->c, (int)ld, gm->o, 1.0f, c->w,
                    gm->c, gyc, (int)ld, c->gr->gx_fresh ? 0.0f : 1.0f,
                    c->gr->gx + (size_t)n0 * chw, (int)ld);
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)gm->ckk, (int)ld, gm->o, 1.0f, c->w,
                (int)gm->ckk, gyc, (int)ld, 0.0f, cols, (int)ld);
    for (int i = 0; i < m; i++)
        col2im_add_img(gm, cols + (size_t)i * gm->p, ld, c->gr->gx + (size_t)(n0 + i) * chw);
}

/* Thread tid's share of the data gradient: whole chunks of images. */
static void gemm_backward_data(const void *ctx, int tid)
{
    const gemm_backward *c = ctx;
    const conv_tiles *td = &c->td;
    const int chunks_d = td->count / td->per_chunk, nthr_d = imin(c->s->nthr, chunks_d);
    int k0, k1;
    thread_tiles(tid, nthr_d, chunks_d, &k0, &k1);
    k0 *= td->per_chunk;
    k1 *= td->per_chunk;
    if (!c->gr->gx || tid >= nthr_d) k0 = k1 = 0;
    for (int k = k0; k < k1; k++) {
        if (c->dconv)
            gemm_data_conv_tile(c, tid, k);
        else
            gemm_data_col2im_tile(c, tid, k);
        if (c->gr->bn_y && k % td->per_chunk == td->per_chunk - 1) { /* a chunk is done */
            const int n0 = k / td->per_chunk * td->nb;
            tn_bn_dsums_images(c->gr->bn_y, n0, imin(td->nb, c->gm->n - n0));
        }
    }
}

void tn_conv_gemm_backward(tn_graph *g, tn_tensor *out, const conv_geom *gm,
                           const conv_grads *gr)
{
    const double t_start = tn_profile_enabled() ? tn_clock_now() : 0.0;
    const bool pointwise = conv_is_pointwise(gm), gx = gr->gx, gw = gr->gw;
    const bool dconv = gx && tn_conv_bwd_data_is_conv(gm);
    const conv_geom tg = conv_bwd_data_geometry(gm);
    const conv_tiles tw = conv_tiling(gm, pointwise ? 0 : gm->ckk, pointwise);
    /* Tiles over gx when it is a convolution of gy, whole images otherwise
     * (col2im writes rows that tiles would share). */
    const conv_tiles td = dconv ? conv_tiling(&tg, tg.ckk, false)
                                : conv_tiling(gm, pointwise ? 0 : gm->ckk, true);
    const int tiles = (gw || gr->gb) && tw.count > td.count ? tw.count : td.count;
    const size_t wsize = (size_t)gm->o * gm->ckk, ohw = (size_t)gm->o * gm->p;
    size_t col_n = pointwise ? 0 : gm->ckk * (gw ? tw.max_cols : 0);
    if (dconv && tg.ckk * td.max_cols > col_n) col_n = tg.ckk * td.max_cols;
    if (gx && !dconv && !pointwise && gm->ckk * td.max_cols > col_n) col_n = gm->ckk * td.max_cols;
    size_t gyt_n = tw.nb > 1 ? gm->o * tw.max_cols : 0;
    if (gx && !dconv && td.nb > 1 && gm->o * td.max_cols > gyt_n) gyt_n = gm->o * td.max_cols;
    size_t parts[CONV_PARTS];
    parts[GB_GYT] = gyt_n;
    parts[GB_COLS] = col_n;
    parts[GB_GXT] = dconv && td.nb > 1 ? (size_t)gm->c * td.max_cols : 0;
    parts[GB_GYCOPY] = gr->in_place ? (size_t)td.nb * ohw : 0;
    conv_scratch s;
    if (!tn_conv_scratch_get(g, &s, conv_threads(tiles), dconv ? wsize : 0, gw ? wsize : 0,
                             gm->o, parts))
        return;
    const float *w = out->in[1]->data;
    if (dconv) { /* w'[c][o][kh][kw] = w[o][c][KH-1-kh][KW-1-kw] */
        const int kk = gm->kh * gm->kw;
        for (int o = 0; o < gm->o; o++)
            for (int ch = 0; ch < gm->c; ch++)
                for (int k = 0; k < kk; k++)
                    s.shared[((size_t)ch * gm->o + o) * kk + k] =
                        w[((size_t)o * gm->c + ch) * kk + (kk - 1 - k)];
    }
    const gemm_backward c = {.gm = gm, .tg = tg, .tw = tw, .td = td, .pointwise = pointwise,
                             .dconv = dconv, .gr = gr, .s = &s, .x = out->in[0]->data, .w = w,
                             .gy = out->grad};
    tn_conv_backward_run(&s, gr, t_start, gemm_backward_weights, gemm_backward_data, &c);
}
