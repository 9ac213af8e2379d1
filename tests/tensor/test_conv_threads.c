/* tests/tensor/test_conv_threads.c - the im2col + sgemm conv backward on
 * several threads: that its tiles really are spread over them, and what
 * that changes in the results.
 *
 * This program defines cblas_sgemm itself (exported, so the library's calls
 * reach it first): it notes which OpenMP thread made each call, by the
 * call's transposes, and passes the call on to OpenBLAS.  The weight pass
 * calls sgemm (NoTrans, Trans); the data pass (Trans, NoTrans) through
 * col2im and for 1x1, (NoTrans, NoTrans) as a convolution of gy. */
#define _GNU_SOURCE
#include "gradcheck.h"
#include "tensor/tensor.h"

#include <cblas.h>
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

typedef void (*sgemm_fn)(OPENBLAS_CONST enum CBLAS_ORDER, OPENBLAS_CONST enum CBLAS_TRANSPOSE,
                         OPENBLAS_CONST enum CBLAS_TRANSPOSE, OPENBLAS_CONST blasint,
                         OPENBLAS_CONST blasint, OPENBLAS_CONST blasint, OPENBLAS_CONST float,
                         OPENBLAS_CONST float *, OPENBLAS_CONST blasint, OPENBLAS_CONST float *,
                         OPENBLAS_CONST blasint, OPENBLAS_CONST float, float *,
                         OPENBLAS_CONST blasint);

/* threads_by[ta][tb]: bit t set when thread t called sgemm with those
 * transposes (ta, tb: 1 for CblasTrans). */
static unsigned threads_by[2][2];

void cblas_sgemm(OPENBLAS_CONST enum CBLAS_ORDER order, OPENBLAS_CONST enum CBLAS_TRANSPOSE ta,
                 OPENBLAS_CONST enum CBLAS_TRANSPOSE tb, OPENBLAS_CONST blasint m,
                 OPENBLAS_CONST blasint n, OPENBLAS_CONST blasint k, OPENBLAS_CONST float alpha,
                 OPENBLAS_CONST float *a, OPENBLAS_CONST blasint lda, OPENBLAS_CONST float *b,
                 OPENBLAS_CONST blasint ldb, OPENBLAS_CONST float beta, float *c,
                 OPENBLAS_CONST blasint ldc)
{
    static sgemm_fn real;
#pragma omp critical(test_sgemm)
    {
        if (!real) {
            void *sym = dlsym(RTLD_NEXT, "cblas_sgemm");
            memcpy(&real, &sym, sizeof real);
        }
        const int t = omp_get_thread_num();
        if (t < 32) threads_by[ta == CblasTrans][tb == CblasTrans] |= 1u << t;
    }
    cr_assert_not_null(real, "OpenBLAS's cblas_sgemm not found");
    real(order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

typedef struct conv_case {
    int n, c, h, w, o, k, stride, pad;
} conv_case;

typedef struct conv_result {
    float *gx, *gw, *gb;
    unsigned weight_threads, data_threads; /* the backward's sgemm callers */
} conv_result;

/* The gradients of sum(conv(x, w, b) * r) on `threads` threads. */
static conv_result run_conv(conv_case cc, int threads)
{
    tn_set_threads(threads);
    tn_rng rng;
    tn_rng_seed(&rng, 21, 4);
    tn_graph *g = tn_graph_new();
    tn_tensor *x = tn_requires_grad(g, tn_uniform(g, 4, (int[]){cc.n, cc.c, cc.h, cc.w}, -1, 1, &rng));
    tn_tensor *w = tn_requires_grad(g, tn_uniform(g, 4, (int[]){cc.o, cc.c, cc.k, cc.k}, -1, 1, &rng));
    tn_tensor *b = tn_requires_grad(g, tn_uniform(g, 1, (int[]){cc.o}, -1, 1, &rng));
    tn_tensor *y = tn_conv2d(g, x, w, b, cc.stride, cc.pad, 1);
    cr_assert_not_null(y);
    tn_tensor *loss = gc_dot(g, y, tn_uniform(g, 4, y->shape, -1, 1, &rng));
    memset(threads_by, 0, sizeof threads_by);
    cr_assert_eq(tn_backward(g, loss), TN_OK);
    conv_result res = {.gx = gc_copy(x->grad, x->numel), .gw = gc_copy(w->grad, w->numel),
                       .gb = gc_copy(b->grad, b->numel),
                       .weight_threads = threads_by[0][1],
                       .data_threads = threads_by[1][0] | threads_by[0][0]};
    tn_graph_free(g);
    return res;
}

static void result_free(conv_result *r)
{
    free(r->gx);
    free(r->gw);
    free(r->gb);
}

/* max |a - b| / max |b|. */
static double rel_diff(const float *a, const float *b, size_t n)
{
    double d = 0.0, m = 0.0;
    for (size_t i = 0; i < n; i++) {
        d = fmax(d, fabs((double)a[i] - b[i]));
        m = fmax(m, fabs((double)b[i]));
    }
    return d / (m > 0.0 ? m : 1.0);
}

/* On 2 threads both threads run sgemms of the weight and of the data pass;
 * the data gradient is bit-identical to 1 thread's (the same tiles, each
 * computed alike); the weight gradient is the sum of 2 fixed partitions in
 * a fixed order: bit-identical from run to run, within 1e-6 of 1 thread's
 * (float sums in another order); the bias gradient (double sums) too. */
static void check_threads(conv_case cc, const char *isa)
{
    if (isa) setenv("TENET_MAX_ISA", isa, 1);
    conv_result one = run_conv(cc, 1), two = run_conv(cc, 2), again = run_conv(cc, 2);
    const size_t nx = (size_t)cc.n * cc.c * cc.h * cc.w, nw = (size_t)cc.o * cc.c * cc.k * cc.k;
    cr_expect_eq(one.weight_threads, 1u, "1 thread: weight sgemms on threads %#x", one.weight_threads);
    cr_expect_eq(two.weight_threads, 3u, "2 threads: weight sgemms on threads %#x (want both)",
                 two.weight_threads);
    cr_expect_eq(two.data_threads, 3u, "2 threads: data sgemms on threads %#x (want both)",
                 two.data_threads);
    cr_expect(memcmp(one.gx, two.gx, nx * sizeof(float)) == 0, "gx differs on 2 threads");
    cr_expect(memcmp(two.gw, again.gw, nw * sizeof(float)) == 0, "gw not reproducible");
    cr_expect(memcmp(two.gb, again.gb, cc.o * sizeof(float)) == 0, "gb not reproducible");
    cr_expect_leq(rel_diff(two.gw, one.gw, nw), 1e-6, "gw, 2 threads vs 1");
    cr_expect_leq(rel_diff(two.gb, one.gb, (size_t)cc.o), 1e-6, "gb, 2 threads vs 1");
    result_free(&one);
    result_free(&two);
    result_free(&again);
}

/* The AVX2 kernels take a stride-2 backward whole, the data gradient too
 * (4 phase planes): no sgemm at all. */
Test(conv_threads, avx2_stride2_backward_runs_no_sgemm)
{
    setenv("TENET_MAX_ISA", "avx2", 1);
    conv_result r = run_conv((conv_case){.n = 8, .c = 16, .h = 16, .w = 16, .o = 32, .k = 3,
                                         .stride = 2, .pad = 1}, 2);
    cr_expect_eq(r.weight_threads | r.data_threads, 0u, "sgemm called by threads %#x",
                 r.weight_threads | r.data_threads);
    result_free(&r);
}

/* 1x1 (ResNet's projection shortcut): the GEMM path on every CPU. */
Test(conv_threads, pointwise_backward_uses_both_threads)
{
    check_threads((conv_case){.n = 8, .c = 16, .h = 16, .w = 16, .o = 32, .k = 1, .stride = 1}, NULL);
}

Test(conv_threads, strided_pointwise_backward_uses_both_threads)
{
    check_threads((conv_case){.n = 32, .c = 64, .h = 16, .w = 16, .o = 32, .k = 1, .stride = 2}, NULL);
}

/* 3x3 on the GEMM path: the data gradient as a convolution of gy (stride
 * 1) and through col2im (stride 2). */
Test(conv_threads, gemm_3x3_stride1_backward_uses_both_threads)
{
    check_threads((conv_case){.n = 8, .c = 16, .h = 16, .w = 16, .o = 16, .k = 3, .stride = 1,
                              .pad = 1}, "generic");
}

Test(conv_threads, gemm_3x3_stride2_backward_uses_both_threads)
{
    check_threads((conv_case){.n = 16, .c = 16, .h = 16, .w = 16, .o = 32, .k = 3, .stride = 2,
                              .pad = 1}, "generic");
}
