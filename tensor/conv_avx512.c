/* tensor/conv_avx512.c - the direct 3x3 convolution kernels in AVX-512F.
 *
 * The wide layout (padding 1; conv_direct.c lays it out) keeps rows
 * unpadded with a zero row above and below (stride 2: the 4 phase planes),
 * so 16 consecutive output pixels of a tap read 16 consecutive floats
 * across rows; the column padding is a masked-off lane.  4 output channels
 * x 4 vectors of 16 pixels per block.  Needs OH * OW % 16 == 0 and OW a
 * multiple or a divisor of 16.  Each output sums over (c, kh, kw) in the
 * AVX2 kernels' order, so the forward and the data gradient round alike on
 * both paths.  The weight gradient sums per-lane partial products over a
 * tile of pixels, across lanes once per tile; the data gradient of a
 * stride-2 convolution is computed as 4 phase planes
 * (tn_conv_avx512_up2_img). */
#include "conv_internal.h"

#ifdef TN_DIRECT_CONV
#include <immintrin.h>

#define DZ_TARGET __attribute__((target("avx512f,avx2,fma")))

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

/* The block to y (4 planes of p floats, V vectors from q0), finished as st
 * says (st's bias and res at the block's first channel). */
static inline __attribute__((always_inline)) DZ_TARGET void
dz_block_store(__m512 acc[4][4], float *y, size_t p, size_t q0, int V, const dc_store *st)
{
#pragma GCC unroll 4
    for (int b = 0; b < 4; b++)
#pragma GCC unroll 4
        for (int v = 0; v < V; v++) {
            const size_t at = (size_t)b * p + q0 + 16 * (size_t)v;
            __m512 r = acc[b][v];
            if (st->bias) r = _mm512_add_ps(r, _mm512_set1_ps(st->bias[b]));
            if (st->add) r = _mm512_add_ps(r, _mm512_loadu_ps(y + at));
            if (st->res) r = _mm512_add_ps(r, _mm512_loadu_ps(st->res + at));
            if (st->relu) r = _mm512_max_ps(r, _mm512_setzero_ps());
            _mm512_storeu_ps(y + at, r);
        }
}

/* Tap kw's load mask at stride S (a compile-time constant), from the
 * vector's left and right masks. */
#define DZ_TAP_MASK(S, kw, lm, rm) ((kw) == 0 ? (lm) : (kw) == 2 && (S) == 1 ? (rm) : 0xFFFF)

static inline __attribute__((always_inline)) DZ_TARGET void
dz_fwd_block(const dc_geom *d, const float *xs, const float *wk, float *y, size_t q0, int V,
             int S, const __mmask16 *lm, const __mmask16 *rm, const dc_store *st)
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
    dz_block_store(acc, y, (size_t)d->oh * d->ow, q0, V, st);
}

/* One image: y (co, oh, ow) = conv(xs), finished as st says; xs in the wide
 * layout, wk packed by dc_pack (conv_direct.c).  Blocks of 64 pixels
 * outside, output channels inside, so a block's inputs stay in L1 over all
 * the output channels. */
DZ_TARGET static void dz_forward_img(const dc_geom *d, const float *xs, const float *wk, float *y,
                                     const dc_store *st)
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
            const float *w = wk + (size_t)ob * d->ci * 36;
            const dc_store sb = dc_store_block(st, ob, p);
            float *yb = y + (size_t)ob * 4 * p;
            /* Constant V and stride: accumulators and masks in registers. */
#define DZ_FWD(V_)                                                                         \
    (d->stride == 1 ? dz_fwd_block(d, xs, w, yb, q0, V_, 1, lm, rm, &sb)                   \
                    : dz_fwd_block(d, xs, w, yb, q0, V_, 2, lm, rm, &sb))
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

/* Phase (A, B) of the stride-2 data gradient (dz_up2_geometry in
 * conv_direct.c) for 4 gx channels x V vectors of 16 phase pixels from q0:
 * ph[b][q] = sum over the gy channels o and the phase's taps of
 * w'[b][o][kh][kw] * gy[o][i + dr][j + dc].  wk packed DC_PACK_TRANSPOSE. */
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
    dz_block_store(acc, ph, (size_t)d->oh * d->ow, q0, V, &(const dc_store){.bias = NULL});
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
DZ_TARGET void tn_conv_avx512_up2_img(const dc_geom *d, const float *gs, const float *wk,
                                      float *gx, bool add, float *ph)
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

const dc_kernels tn_conv_avx512_kernels = {.forward_img = dz_forward_img,
                                           .weight_tile = dz_weight_tile};
#endif
