/* tensor/conv_internal.h - what the conv2d files share; not installed.
 *
 *   ops_conv.c     the op: check, forward and backward, choosing a path
 *   conv_gemm.c    im2col + sgemm, any geometry
 *   conv_direct.c  3x3 kernels without im2col on x86-64: when they apply,
 *                  layouts, packing, threads (tn_conv_direct_*)
 *   conv_avx2.c, conv_avx512.c   those kernels for one image or tile
 *
 * Layouts are PyTorch's: x (N, C, H, W), w (O, C, KH, KW), y (N, O, OH, OW). */
#ifndef TENET_TENSOR_CONV_INTERNAL_H
#define TENET_TENSOR_CONV_INTERNAL_H

#include "internal.h"

#include <cblas.h>
#include <stdint.h>

#ifdef _OPENMP
#include <omp.h>
#endif

static inline int imin(int a, int b) { return a < b ? a : b; }
static inline int imax(int a, int b) { return a > b ? a : b; }

/* Sum in double, in four independent chains (not latency-bound). */
static inline double sum_d(const float *x, size_t n)
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

/* Floats rounded up to a whole 64-byte line. */
static inline size_t line_up(size_t n) { return (n + 15) & ~(size_t)15; }

/* ------------------------------------------------------------- geometry */

typedef struct conv_geom {
    int n, c, h, w;        /* input */
    int o, kh, kw;         /* weight */
    int oh, ow;            /* output */
    int stride, pad, dil;
    size_t p;              /* oh * ow */
    size_t ckk;            /* c * kh * kw: rows of the im2col matrix */
} conv_geom;

/* The input is its own (C, P) column matrix: 1x1, stride 1, padding 0. */
static inline bool conv_is_pointwise(const conv_geom *gm)
{
    return gm->kh == 1 && gm->kw == 1 && gm->stride == 1 && gm->pad == 0;
}

/* The GEMM path cuts work into tiles whose columns take about
 * CONV_TILE_FLOATS floats, with at least CONV_TILE_MIN_COLS columns. */
enum { CONV_TILE_FLOATS = 48 * 1024, CONV_TILE_MIN_COLS = 128 };

/* ------------------------------------------------------------ threading */

/* Threads for `tiles` pieces of work.  Inside someone else's parallel
 * region (a user's omp parallel) the team would be smaller than asked: run
 * serially there, since every thread's share of tiles must be done. */
static inline int conv_threads(int tiles)
{
#ifdef _OPENMP
    if (omp_in_parallel()) return 1;
#endif
    int t = tn_threads();
    return t < tiles ? t : tiles;
}

/* The tile range [*k0, *k1) of thread t of nthr over n tiles. */
static inline void thread_tiles(int t, int nthr, int n, int *k0, int *k1)
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

/* ------------------------------------------------------------- backward */

/* The gradients one backward produces, NULL when not wanted.  gx as
 * conv_backward prepared it: fresh, to be written rather than added to;
 * in place, gy's own buffer (each chunk of gy is read before its rows of
 * gx are written). */
typedef struct conv_grads {
    float *gx, *gw, *gb;
    bool gx_fresh, in_place;
    /* x when it is a batch norm's output whose gradient this backward
     * finishes (tn_bn_dsums_begin): each data pass calls
     * tn_bn_dsums_images for the images of gx it has written.  Else NULL. */
    const tn_tensor *bn_y;
} conv_grads;

/* The backward's scratch, one block of the graph's scratch memory:
 *   shared     what all threads read (a repacked kernel)
 *   gw_parts   the weight gradients of threads 1..nthr-1 (thread 0 adds
 *              into gw itself), line_up(wsize) floats each
 *   per thread its parts, in order, each line_up'd, then its bias sums
 *              (o doubles, in line_up(2 o) floats). */
enum { CONV_PARTS = 4 };

typedef struct conv_scratch {
    int nthr, o;
    size_t wsize;                /* floats of gw; 0 without a weight gradient */
    size_t per_thr;              /* floats of one thread's block */
    size_t off[CONV_PARTS + 1];  /* the parts in a thread's block; last: the bias sums */
    float *shared, *gw_parts, *threads;
} conv_scratch;

/* Take the scratch; false (the graph's status set) when out of memory. */
bool tn_conv_scratch_get(tn_graph *g, conv_scratch *s, int nthr, size_t shared_n, size_t wsize,
                         int o, const size_t part_n[CONV_PARTS]);

/* Thread tid's part k. */
static inline float *conv_part(const conv_scratch *s, int tid, int k)
{
    return s->threads + s->per_thr * (size_t)tid + s->off[k];
}

static inline double *conv_bias_sums(const conv_scratch *s, int tid)
{
    return (double *)conv_part(s, tid, CONV_PARTS);
}

/* Run a backward on s->nthr threads.  Thread tid runs weights(ctx, tid,
 * gwt), gwt the weight gradient it adds into (gw for thread 0, else its
 * part) with its part and bias sums zeroed; then, once every thread's
 * weights pass has read gy when gx is gy's buffer, data(ctx, tid).  Then
 * gb += the threads' bias sums, added in thread order (deterministic), gw
 * += the parts of threads 1..; with profiling on, the time since t_start
 * goes to conv2d.bwd_weight and conv2d.bwd_data as thread 0's split. */
void tn_conv_backward_run(const conv_scratch *s, const conv_grads *gr, double t_start,
                          void (*weights)(const void *ctx, int tid, float *gwt),
                          void (*data)(const void *ctx, int tid), const void *ctx);

/* ------------------------------------------- batch norm, fused (ops_norm.c)
 *
 * A batch norm's statistics and its backward's sums run per (n, c) plane,
 * so the convolution next to it can make them while a plane is in cache:
 *   forward   the conv2d behind a batch norm's input leaves each output
 *             plane's moments (tn_bn_plane_moments) for it to merge;
 *   backward  the conv2d that consumes a batch norm's output first (so its
 *             backward is the last to add to that gradient) makes each
 *             plane's sums of dz and dz * (x - mean) once it has written
 *             the plane's gradient.
 * The same functions as the batch norm's own passes, merged in the same
 * order: the results are bit-identical. */

extern const tn_op tn_op_conv2d, tn_op_batch_norm, tn_op_batch_norm_relu;

/* x: s floats; mom[0] its mean, mom[1] its centred sum of squares. */
void tn_bn_plane_moments(const float *x, size_t s, double mom[2]);

/* The planes' moments a conv2d output y (N, C, H, W) left, (N, C, 2)
 * doubles, or NULL (ops_conv.c). */
const double *tn_conv2d_plane_moments(const tn_tensor *y);

/* Whether y is a training batch norm's output that wants the sums from its
 * consumer's backward; if so, makes room for them (false if out of memory,
 * the graph's status set). */
bool tn_bn_dsums_begin(tn_graph *g, const tn_tensor *y);

/* The sums of images [n0, n0 + m) of y->grad, which is final there. */
void tn_bn_dsums_images(const tn_tensor *y, int n0, int m);

/* ------------------------------------------------ conv2d_relu's epilogue */

/* y = relu(y + r) over the output (r NULL: relu(y)), in place. */
typedef struct conv_epilogue {
    const float *res; /* the residual, out's shape, or NULL */
} conv_epilogue;

/* The epilogue over out->data[off, off + n). */
void tn_conv_epilogue(const conv_epilogue *ep, float *y, size_t off, size_t n);

/* ----------------------------------------------------------- the paths */

/* im2col + sgemm: y (N, O, OH, OW) = conv(x, w) + b; the gradients. */
void tn_conv_gemm_forward(tn_graph *g, tn_tensor *out, const conv_geom *gm);
void tn_conv_gemm_backward(tn_graph *g, tn_tensor *out, const conv_geom *gm,
                           const conv_grads *gr);

/* Whether backward-data runs as the convolution of gy with the flipped
 * kernel (gx then may be written instead of added to). */
bool tn_conv_bwd_data_is_conv(const conv_geom *gm);


/* Geometry of one direct convolution: ci input channels of h x w, padded by
 * pad, 3x3, stride 1 or 2, into co channels of oh x ow.  The padded image
 * is (ci, ph, wp) at stride 1; at stride 2 each channel holds its even and
 * its odd padded columns as two planes (ph, wp) (wp = half the padded
 * width), so that 8 outputs of a tap read 8 consecutive floats.  off[k] is
 * tap k's offset from an output vector's base oh * row + ow0. */
typedef struct dc_geom {
    int ci, co, h, w, pad, stride, oh, ow, ph, wp;
    bool wide;    /* the AVX-512 kernels' layout (conv_direct.c) */
    bool up2;     /* a stride-2 convolution's data gradient (up2_img) */
    size_t plane; /* floats per channel of the padded image */
    size_t row;   /* floats from one output row's base to the next */
    size_t size;  /* floats of one laid-out image */
    size_t off[9];
    /* wide: the column masks of a vector when rows are shorter than one
     * (OW divides 16): lanes at column 0, and at column OW - 1, cleared. */
    uint16_t lmask, rmask;
} dc_geom;

/* The direct path for one convolution: fwd (x -> y) and bwd (gy -> gx). */
typedef struct conv_direct_plan {
    dc_geom fwd, bwd;
} conv_direct_plan;

/* Whether the direct kernels run this convolution's forward (and its
 * weight and bias gradients); fills the plan.  False off x86-64, on a CPU
 * without AVX2 + FMA, or under TENET_MAX_ISA=generic. */
bool tn_conv_direct_plan(const conv_geom *gm, conv_direct_plan *plan);

/* Whether they also run its data gradient. */
bool tn_conv_direct_data_fits(const conv_direct_plan *plan);

/* moments: NULL, or (N, O, 2) for each output plane's tn_bn_plane_moments;
 * ep: NULL, or conv2d_relu's epilogue, applied in the kernels' stores. */
void tn_conv_direct_forward(tn_graph *g, tn_tensor *out, const conv_geom *gm,
                            const conv_direct_plan *plan, double *moments,
                            const conv_epilogue *ep);
/* gr->gx NULL: the weight and bias gradients only. */
void tn_conv_direct_backward(tn_graph *g, tn_tensor *out, const conv_geom *gm,
                             const conv_direct_plan *plan, const conv_grads *gr);

/* The kernels behind tn_conv_direct_*, one set per ISA (x86-64, GCC/clang). */
#if defined(__GNUC__) && defined(__x86_64__) && !defined(TN_NO_DIRECT_CONV)
#define TN_DIRECT_CONV 1

/* Guard floats before and after a wide image: loads that run past a plane
 * (into masked lanes) stay inside the buffer. */
#define DZ_GUARD 16

/* What a forward kernel does to each output vector before storing it, in
 * this order: + bias[o], + the old y (add), + res (an image of y's shape),
 * relu.  The same float additions as separate ops would make. */
typedef struct dc_store {
    const float *bias, *res; /* or NULL */
    bool add, relu;
} dc_store;

/* st moved to the block of output channels 4 ob .. 4 ob + 3 (planes of p). */
static inline dc_store dc_store_block(const dc_store *st, int ob, size_t p)
{
    dc_store s = *st;
    if (s.bias) s.bias += (size_t)ob * 4;
    if (s.res) s.res += (size_t)ob * 4 * p;
    return s;
}

typedef struct dc_kernels {
    /* One image: y (co, oh, ow) = conv(xp), finished as st says; xp laid
     * out by conv_direct.c, wk packed in blocks of 4 output channels. */
    void (*forward_img)(const dc_geom *d, const float *xp, const float *wk, float *y,
                        const dc_store *st);
    /* gw (co, ci, 3, 3) += sum over the m images of a tile of gy (co, oh,
     * ow) times the laid-out inputs xps[i]. */
    void (*weight_tile)(const dc_geom *d, const float *const *xps, const float *const *gys,
                        int m, float *gw);
} dc_kernels;

extern const dc_kernels tn_conv_avx2_kernels;   /* the padded layout, !wide */
extern const dc_kernels tn_conv_avx512_kernels; /* the wide layout */

/* One image of the data gradient of a stride-2 convolution (d->up2): gx
 * (co, 2 oh, 2 ow) (+)= its 4 phases, computed into ph (4, co, oh, ow);
 * gs gy laid out by conv_direct.c for the wide or the padded layout. */
void tn_conv_avx512_up2_img(const dc_geom *d, const float *gs, const float *wk, float *gx,
                            bool add, float *ph);
void tn_conv_avx2_up2_img(const dc_geom *d, const float *gs, const float *wk, float *gx,
                          bool add, float *ph);
#endif

#endif
