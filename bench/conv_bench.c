/* bench/conv_bench.c - conv2d throughput on ResNet-20's CIFAR shapes at
 * batch 128, next to the rate of one plain cblas_sgemm of the forward's
 * size on this machine, with 1 and 2 threads.
 *
 *   conv_bench [reps]     (default 5 timed repetitions after 1 warm-up)
 *
 * forward  = tn_conv2d as the engine runs it (the direct 3x3 kernels of the
 *            CPU, TENET_MAX_ISA to cap them, else im2col + sgemm)
 * backward = data and weight gradients
 * sgemm    = one (O, C*KH*KW) x (C*KH*KW, N*OH*OW) cblas_sgemm, the forward's
 *            product as a single GEMM
 * FLOPs counted as 2 * N*O*OH*OW * C*KH*KW per GEMM-sized product: once for
 * the forward, twice for the backward.  The median of the reps is shown. */
#include "tensor/tensor.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct shape {
    const char *name;
    int c, hw, o, stride;
} shape;

static const shape shapes[] = {
    {"16ch 32x32 s1", 16, 32, 16, 1},
    {"32ch 16x16 s1", 32, 16, 32, 1},
    {"64ch 8x8 s1", 64, 8, 64, 1},
    {"16->32 32x32 s2", 16, 32, 32, 2},
    {"32->64 16x16 s2", 32, 16, 64, 2},
};

enum { BATCH = 128, K = 3, MAX_REPS = 64 };

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *t, int n)
{
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

typedef struct timing {
    double fwd, bwd, gemm; /* seconds, medians */
} timing;

static int run_shape(const shape *s, int reps, timing *out)
{
    tn_graph *g = tn_graph_new();
    if (!g) return fprintf(stderr, "conv_bench: %s\n", tn_error_message()), 1;
    tn_rng rng;
    tn_rng_seed(&rng, 1, 1);
    const int oh = (s->hw + 2 - K) / s->stride + 1;
    const size_t xn = (size_t)BATCH * s->c * s->hw * s->hw, wn = (size_t)s->o * s->c * K * K;
    const size_t yn = (size_t)BATCH * s->o * oh * oh;
    float *xd = malloc(xn * sizeof(float)), *wd = malloc(wn * sizeof(float));
    float *gy = malloc(yn * sizeof(float));
    if (!xd || !wd || !gy) return fprintf(stderr, "conv_bench: out of memory\n"), 1;
    tn_fill_normal(xd, xn, 0, 1, &rng);
    tn_fill_normal(wd, wn, 0, 0.1f, &rng);
    tn_fill_uniform(gy, yn, -1, 1, &rng);

    double tf[MAX_REPS], tb[MAX_REPS], tg[MAX_REPS];
    for (int r = -1; r < reps; r++) { /* r = -1: warm-up */
        tn_graph_reset(g);
        tn_tensor *x = tn_from_data(g, 4, (int[]){BATCH, s->c, s->hw, s->hw}, xd);
        tn_requires_grad(g, x);
        tn_tensor *w = tn_requires_grad(g, tn_from_data(g, 4, (int[]){s->o, s->c, K, K}, wd));
        tn_tensor *b = tn_requires_grad(g, tn_zeros(g, 1, (int[]){s->o}));
        double t0 = now_s();
        tn_tensor *y = tn_conv2d(g, x, w, b, s->stride, 1, 1);
        double t1 = now_s();
        if (!y) return fprintf(stderr, "conv_bench: %s\n", tn_error_message()), 1;
        /* Backward of the op alone, from a fixed upstream gradient. */
        y->grad = tn_graph_floats(g, yn);
        if (!y->grad) return fprintf(stderr, "conv_bench: %s\n", tn_error_message()), 1;
        memcpy(y->grad, gy, yn * sizeof(float));
        double t2 = now_s();
        y->op->backward(g, y);
        double t3 = now_s();
        if (tn_graph_status(g) != TN_OK)
            return fprintf(stderr, "conv_bench: %s\n", tn_error_message()), 1;
        if (r >= 0) tf[r] = t1 - t0, tb[r] = t3 - t2;
    }
    tn_graph_free(g);

    /* The forward's GEMM: (O, CKK) x (CKK, N*OH*OW). */
    const int m = s->o, n = BATCH * oh * oh, k = s->c * K * K;
    float *a = malloc((size_t)m * k * sizeof(float)), *bm = malloc((size_t)k * n * sizeof(float));
    float *c = malloc((size_t)m * n * sizeof(float));
    if (!a || !bm || !c) return fprintf(stderr, "conv_bench: out of memory\n"), 1;
    tn_fill_uniform(a, (size_t)m * k, -1, 1, &rng);
    tn_fill_uniform(bm, (size_t)k * n, -1, 1, &rng);
    for (int r = -1; r < reps; r++) {
        double t0 = now_s();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a, k, bm, n, 0.0f,
                    c, n);
        if (r >= 0) tg[r] = now_s() - t0;
    }
    free(a);
    free(bm);
    free(c);
    free(xd);
    free(wd);
    free(gy);
    out->fwd = median(tf, reps);
    out->bwd = median(tb, reps);
    out->gemm = median(tg, reps);
    return 0;
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 5;
    if (reps < 1 || reps > MAX_REPS) {
        fprintf(stderr, "usage: conv_bench [reps in 1..%d]\n", MAX_REPS);
        return 2;
    }
    printf("conv2d, batch %d, 3x3 kernels, padding 1; median of %d reps; GFLOP/s\n", BATCH, reps);
    printf("%-17s %3s %9s %9s %9s %9s %9s\n", "shape", "thr", "fwd", "bwd", "sgemm", "fwd ms",
           "bwd ms");
    for (int threads = 1; threads <= 2; threads++) {
        tn_set_threads(threads);
        for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
            const shape *s = &shapes[i];
            timing t;
            if (run_shape(s, reps, &t)) return 1;
            const int oh = (s->hw + 2 - K) / s->stride + 1;
            double flop = 2.0 * BATCH * s->o * oh * oh * (double)s->c * K * K;
            printf("%-17s %3d %9.1f %9.1f %9.1f %9.2f %9.2f\n", s->name, threads,
                   flop / t.fwd * 1e-9, 2.0 * flop / t.bwd * 1e-9, flop / t.gemm * 1e-9,
                   t.fwd * 1e3, t.bwd * 1e3);
            fflush(stdout);
        }
    }
    return 0;
}
