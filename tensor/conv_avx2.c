/* tensor/conv_avx2.c - the direct 3x3 convolution kernels in AVX2 + FMA.
 *
 * Each image is copied once into a zero-padded buffer xp (C, PH, WP), PH =
 * H + 2 pad, WP = OW + 2 (stride 2: even/odd column planes; conv_direct.c
 * lays it out); then, for a block of 4 output channels and 3 vectors of 8
 * output pixels (12 accumulators), every (c, kh, kw) tap costs 4
 * broadcasts of weights, 3 unaligned loads of xp and 12 FMAs.  Needs OW % 8
 * == 0.  The weight gradient accumulates, per block of 4 output channels,
 * one input channel and kernel row, vectors of per-lane partial sums over
 * a tile of pixels, summed across lanes once per tile. */
#include "conv_internal.h"

#ifdef TN_DIRECT_CONV
#include <immintrin.h>

#define DC_TARGET __attribute__((target("avx2,fma")))

/* y[4 channels][V vectors] (+)= conv over all ci of xp at the vectors
 * starting at output offsets pix[v] (multiples of 8 in the (oh, ow) plane). */
static inline __attribute__((always_inline)) DC_TARGET void
dc_fwd_block(const dc_geom *d, const float *xp, const float *wk, float *y, const int *pix, int V,
             const dc_store *st)
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
            if (st->bias) r = _mm256_add_ps(r, _mm256_broadcast_ss(st->bias + b));
            if (st->add) r = _mm256_add_ps(r, _mm256_loadu_ps(dst));
            if (st->res) r = _mm256_add_ps(r, _mm256_loadu_ps(st->res + (size_t)b * p + pix[v]));
            if (st->relu) r = _mm256_max_ps(r, _mm256_setzero_ps());
            _mm256_storeu_ps(dst, r);
        }
}

/* One image: y (co, oh, ow) = conv(xp), finished as st says; wk packed by
 * dc_pack (conv_direct.c). */
DC_TARGET static void dc_forward_img(const dc_geom *d, const float *xp, const float *wk, float *y,
                                     const dc_store *st)
{
    const int nv = d->oh * d->ow / 8;
    const size_t p = (size_t)d->oh * d->ow;
    int v = 0;
    for (; v + 2 <= nv; v += 2) {
        const int pix[3] = {v * 8, v * 8 + 8, 0};
        for (int ob = 0; ob < d->co / 4; ob++) {
            const dc_store sb = dc_store_block(st, ob, p);
            dc_fwd_block(d, xp, wk + (size_t)ob * d->ci * 36, y + (size_t)ob * 4 * p, pix, 2, &sb);
        }
    }
    for (; v < nv; v++) {
        const int pix[3] = {v * 8, 0, 0};
        for (int ob = 0; ob < d->co / 4; ob++) {
            const dc_store sb = dc_store_block(st, ob, p);
            dc_fwd_block(d, xp, wk + (size_t)ob * d->ci * 36, y + (size_t)ob * 4 * p, pix, 1, &sb);
        }
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

/* Phase (A, B) of the stride-2 data gradient (dc_up2_geometry in
 * conv_direct.c) for 4 gx channels x V vectors of 8 phase pixels at pix[v]:
 * ph[b][q] = sum over the gy channels o and the phase's taps of
 * w'[b][o][kh][kw] * gy[o][i + dr][j + dc], gy laid out with a zero row
 * below and a zero column on the right.  wk packed DC_PACK_TRANSPOSE. */
static inline __attribute__((always_inline)) DC_TARGET void
dc_up2_block(const dc_geom *d, const float *gs, const float *wk, float *ph, const int *pix, int V,
             int A, int B)
{
    /* Taps of a phase row (col) parity: kernel row kh, gy row offset dr. */
    static const int KH[2][2] = {{1, 1}, {0, 2}}, DR[2][2] = {{0, 0}, {1, 0}};
    __m256 acc[4][3];
    size_t base[3];
    for (int v = 0; v < V; v++) {
        base[v] = (size_t)(pix[v] / d->ow) * d->row + (size_t)(pix[v] % d->ow);
        for (int b = 0; b < 4; b++) acc[b][v] = _mm256_setzero_ps();
    }
    for (int o = 0; o < d->ci; o++) {
        const float *go = gs + (size_t)o * d->plane;
        const float *wo = wk + (size_t)o * 36;
        for (int r = 0; r < (A ? 2 : 1); r++)
            for (int t = 0; t < (B ? 2 : 1); t++) {
                const float *wt = wo + (KH[A][r] * 3 + KH[B][t]) * 4;
                const float *xr = go + (size_t)DR[A][r] * d->row + (size_t)DR[B][t];
                __m256 xv[3];
                for (int v = 0; v < V; v++) xv[v] = _mm256_loadu_ps(xr + base[v]);
                for (int b = 0; b < 4; b++) {
                    const __m256 wb = _mm256_broadcast_ss(wt + b);
                    for (int v = 0; v < V; v++) acc[b][v] = _mm256_fmadd_ps(wb, xv[v], acc[b][v]);
                }
            }
    }
    const size_t p = (size_t)d->oh * d->ow;
    for (int b = 0; b < 4; b++)
        for (int v = 0; v < V; v++) _mm256_storeu_ps(ph + (size_t)b * p + pix[v], acc[b][v]);
}

/* One phase (A, B) of all gx channels into ph (co, oh, ow). */
static inline __attribute__((always_inline)) DC_TARGET void
dc_up2_phase(const dc_geom *d, const float *gs, const float *wk, float *ph, int A, int B)
{
    const int nv = d->oh * d->ow / 8;
    const size_t p = (size_t)d->oh * d->ow;
    for (int v = 0; v < nv; v += 3) {
        const int V = imin(3, nv - v);
        const int pix[3] = {v * 8, v * 8 + 8, v * 8 + 16};
        for (int cb = 0; cb < d->co / 4; cb++) {
            const float *w = wk + (size_t)cb * d->ci * 36;
            float *dst = ph + (size_t)cb * 4 * p;
            if (V == 3)
                dc_up2_block(d, gs, w, dst, pix, 3, A, B);
            else if (V == 2)
                dc_up2_block(d, gs, w, dst, pix, 2, A, B);
            else
                dc_up2_block(d, gs, w, dst, pix, 1, A, B);
        }
    }
}

/* dst[2j] (+)= e[j], dst[2j + 1] (+)= o[j] for j < n (n % 8 == 0). */
static inline DC_TARGET void dc_interleave(const float *e, const float *o, float *dst, size_t n,
                                           bool add)
{
    for (size_t j = 0; j < n; j += 8) {
        const __m256 ev = _mm256_loadu_ps(e + j), ov = _mm256_loadu_ps(o + j);
        const __m256 lo = _mm256_unpacklo_ps(ev, ov), hi = _mm256_unpackhi_ps(ev, ov);
        __m256 a = _mm256_permute2f128_ps(lo, hi, 0x20), b = _mm256_permute2f128_ps(lo, hi, 0x31);
        if (add) {
            a = _mm256_add_ps(a, _mm256_loadu_ps(dst + 2 * j));
            b = _mm256_add_ps(b, _mm256_loadu_ps(dst + 2 * j + 8));
        }
        _mm256_storeu_ps(dst + 2 * j, a);
        _mm256_storeu_ps(dst + 2 * j + 8, b);
    }
}

DC_TARGET void tn_conv_avx2_up2_img(const dc_geom *d, const float *gs, const float *wk, float *gx,
                                    bool add, float *ph)
{
    const size_t p = (size_t)d->oh * d->ow, ow = (size_t)d->ow, co = (size_t)d->co;
    dc_up2_phase(d, gs, wk, ph, 0, 0);
    dc_up2_phase(d, gs, wk, ph + co * p, 0, 1);
    dc_up2_phase(d, gs, wk, ph + 2 * co * p, 1, 0);
    dc_up2_phase(d, gs, wk, ph + 3 * co * p, 1, 1);
    const size_t w2 = 2 * ow, plane = 4 * p;
    for (size_t c = 0; c < co; c++)
        for (int i = 0; i < d->oh; i++)
            for (int a = 0; a < 2; a++) {
                const float *e = ph + ((size_t)(2 * a) * co + c) * p + (size_t)i * ow;
                const float *o = ph + ((size_t)(2 * a + 1) * co + c) * p + (size_t)i * ow;
                dc_interleave(e, o, gx + c * plane + (size_t)(2 * i + a) * w2, ow, add);
            }
}

const dc_kernels tn_conv_avx2_kernels = {.forward_img = dc_forward_img,
                                         .weight_tile = dc_weight_tile};
#endif
