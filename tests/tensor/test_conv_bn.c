/* tests/tensor/test_conv_bn.c - batch norm between two conv2d ops takes
 * its statistics from the first one's forward and its backward sums from
 * the second one's data pass (conv_internal.h); the results must be
 * bit-identical to a batch norm that computes everything itself, reached
 * here by putting exact identities (x * 1) between the ops. */
#include "gradcheck.h"
#include "tensor/conv_internal.h"
#include "tensor/tensor.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

typedef struct bn_case {
    int n, c, hw, o, stride;
    bool residual;
} bn_case;

typedef struct bn_run {
    float *y, *z, *gx, *gw1, *gw2, *gg, *gb, *rm, *rv;
    bool moments; /* the first conv2d left its planes' moments */
} bn_run;

/* z = conv2(bn_relu(conv1(x) [+ r])), loss = sum(z * rand); with
 * `separate`, conv1's output and bn's output each pass through * 1 first. */
static bn_run run(bn_case bc, bool separate, int threads)
{
    tn_set_threads(threads);
    tn_rng rng;
    tn_rng_seed(&rng, 7, 3);
    tn_graph *g = tn_graph_new();
    tn_tensor *x = tn_requires_grad(g, tn_uniform(g, 4, (int[]){bc.n, bc.c, bc.hw, bc.hw}, -1, 1, &rng));
    tn_tensor *w1 = tn_requires_grad(g, tn_uniform(g, 4, (int[]){bc.o, bc.c, 3, 3}, -1, 1, &rng));
    tn_tensor *w2 = tn_requires_grad(g, tn_uniform(g, 4, (int[]){bc.o, bc.o, 3, 3}, -1, 1, &rng));
    tn_tensor *gm = tn_requires_grad(g, tn_uniform(g, 1, (int[]){bc.o}, 0.5f, 1.5f, &rng));
    tn_tensor *bt = tn_requires_grad(g, tn_uniform(g, 1, (int[]){bc.o}, -0.5f, 0.5f, &rng));
    tn_tensor *rm = tn_zeros(g, 1, (int[]){bc.o}), *rv = tn_ones(g, 1, (int[]){bc.o});
    tn_tensor *c1 = tn_conv2d(g, x, w1, NULL, bc.stride, 1, 1);
    tn_tensor *r = bc.residual ? tn_uniform(g, 4, c1->shape, -1, 1, &rng) : NULL;
    tn_tensor *bin = separate ? tn_mul(g, c1, tn_ones(g, 4, c1->shape)) : c1;
    tn_tensor *y = tn_batch_norm_relu(g, bin, gm, bt, rm, rv, 0.1f, 1e-5f, r);
    tn_tensor *cin = separate ? tn_mul(g, y, tn_ones(g, 4, y->shape)) : y;
    tn_tensor *z = tn_conv2d(g, cin, w2, NULL, 1, 1, 1);
    tn_tensor *loss = gc_dot(g, z, tn_uniform(g, 4, z->shape, -1, 1, &rng));
    cr_assert_eq(tn_backward(g, loss), TN_OK);
    bn_run out = {.y = gc_copy(y->data, y->numel), .z = gc_copy(z->data, z->numel),
                  .gx = gc_copy(x->grad, x->numel), .gw1 = gc_copy(w1->grad, w1->numel),
                  .gw2 = gc_copy(w2->grad, w2->numel), .gg = gc_copy(gm->grad, gm->numel),
                  .gb = gc_copy(bt->grad, bt->numel), .rm = gc_copy(rm->data, rm->numel),
                  .rv = gc_copy(rv->data, rv->numel),
                  .moments = tn_conv2d_plane_moments(c1) != NULL};
    tn_graph_free(g);
    return out;
}

static void run_free(bn_run *r)
{
    float *p[] = {r->y, r->z, r->gx, r->gw1, r->gw2, r->gg, r->gb, r->rm, r->rv};
    for (size_t i = 0; i < sizeof p / sizeof *p; i++) free(p[i]);
}

#define SAME(a, b, n, what) cr_expect(memcmp((a), (b), (n) * sizeof(float)) == 0, "%s differs", what)

/* moments: whether the first conv2d should have left its moments (the
 * direct kernels do, the GEMM path does not). */
static void check(bn_case bc, int threads, bool moments)
{
    bn_run f = run(bc, false, threads), s = run(bc, true, threads);
    const int oh = bc.stride == 1 ? bc.hw : bc.hw / 2;
    const size_t ny = (size_t)bc.n * bc.o * oh * oh, nx = (size_t)bc.n * bc.c * bc.hw * bc.hw;
    SAME(f.y, s.y, ny, "bn output");
    SAME(f.z, s.z, ny, "conv2 output");
    SAME(f.gx, s.gx, nx, "grad x");
    SAME(f.gw1, s.gw1, (size_t)bc.o * bc.c * 9, "grad w1");
    SAME(f.gw2, s.gw2, (size_t)bc.o * bc.o * 9, "grad w2");
    SAME(f.gg, s.gg, (size_t)bc.o, "grad gamma");
    SAME(f.gb, s.gb, (size_t)bc.o, "grad beta");
    SAME(f.rm, s.rm, (size_t)bc.o, "running mean");
    SAME(f.rv, s.rv, (size_t)bc.o, "running var");
    cr_expect_eq(f.moments, moments, "conv1 left moments: %d", f.moments);
    run_free(&f);
    run_free(&s);
}

Test(conv_bn, fused_statistics_and_sums_are_bit_identical)
{
    check((bn_case){.n = 6, .c = 8, .hw = 16, .o = 16, .stride = 1}, 1, true);
    check((bn_case){.n = 6, .c = 8, .hw = 16, .o = 16, .stride = 1, .residual = true}, 2, true);
    check((bn_case){.n = 5, .c = 8, .hw = 16, .o = 16, .stride = 2, .residual = true}, 2, true);
}

/* On the AVX2 kernels and on the GEMM path (no moments there: the batch
 * norm computes them; the backward sums still come from the data pass). */
Test(conv_bn, fused_on_the_avx2_path)
{
    setenv("TENET_MAX_ISA", "avx2", 1);
    check((bn_case){.n = 5, .c = 8, .hw = 16, .o = 16, .stride = 2, .residual = true}, 2, true);
    check((bn_case){.n = 4, .c = 8, .hw = 16, .o = 16, .stride = 1}, 1, true);
}

Test(conv_bn, fused_on_the_gemm_path)
{
    setenv("TENET_MAX_ISA", "generic", 1);
    check((bn_case){.n = 5, .c = 8, .hw = 16, .o = 16, .stride = 1, .residual = true}, 2, false);
}

/* conv2d_relu(x, w, b, r) against relu(conv2d(x, w, b) + r): the same
 * convolution and the same float additions, so the output and every
 * gradient (x, w, b and r) are bit-identical; on each path, 2 threads. */
typedef struct relu_run {
    float *y, *gx, *gw, *gb, *gr;
} relu_run;

static relu_run run_relu(bn_case bc, bool fused)
{
    tn_set_threads(2);
    tn_rng rng;
    tn_rng_seed(&rng, 9, 1);
    tn_graph *g = tn_graph_new();
    tn_tensor *x = tn_requires_grad(g, tn_uniform(g, 4, (int[]){bc.n, bc.c, bc.hw, bc.hw}, -1, 1, &rng));
    tn_tensor *w = tn_requires_grad(g, tn_uniform(g, 4, (int[]){bc.o, bc.c, 3, 3}, -1, 1, &rng));
    tn_tensor *b = tn_requires_grad(g, tn_uniform(g, 1, (int[]){bc.o}, -1, 1, &rng));
    const int oh = bc.stride == 1 ? bc.hw : bc.hw / 2;
    tn_tensor *r = bc.residual
                       ? tn_requires_grad(g, tn_uniform(g, 4, (int[]){bc.n, bc.o, oh, oh}, -2, 2, &rng))
                       : NULL;
    tn_tensor *y;
    if (fused) {
        y = tn_conv2d_relu(g, x, w, b, r, bc.stride, 1);
    } else {
        y = tn_conv2d(g, x, w, b, bc.stride, 1, 1);
        y = tn_relu(g, r ? tn_add(g, y, r) : y);
    }
    tn_tensor *loss = gc_dot(g, y, tn_uniform(g, 4, y->shape, -1, 1, &rng));
    cr_assert_eq(tn_backward(g, loss), TN_OK);
    relu_run out = {.y = gc_copy(y->data, y->numel), .gx = gc_copy(x->grad, x->numel),
                    .gw = gc_copy(w->grad, w->numel), .gb = gc_copy(b->grad, b->numel),
                    .gr = r ? gc_copy(r->grad, r->numel) : NULL};
    tn_graph_free(g);
    return out;
}

static void check_relu(bn_case bc)
{
    relu_run f = run_relu(bc, true), u = run_relu(bc, false);
    const int oh = bc.stride == 1 ? bc.hw : bc.hw / 2;
    const size_t ny = (size_t)bc.n * bc.o * oh * oh;
    SAME(f.y, u.y, ny, "output");
    SAME(f.gx, u.gx, (size_t)bc.n * bc.c * bc.hw * bc.hw, "grad x");
    SAME(f.gw, u.gw, (size_t)bc.o * bc.c * 9, "grad w");
    SAME(f.gb, u.gb, (size_t)bc.o, "grad b");
    if (bc.residual) SAME(f.gr, u.gr, ny, "grad r");
    float *p[] = {f.y, f.gx, f.gw, f.gb, f.gr, u.y, u.gx, u.gw, u.gb, u.gr};
    for (size_t i = 0; i < sizeof p / sizeof *p; i++) free(p[i]);
}

Test(conv_bn, conv2d_relu_equals_conv_add_relu)
{
    check_relu((bn_case){.n = 4, .c = 16, .hw = 32, .o = 16, .stride = 1, .residual = true});
    check_relu((bn_case){.n = 3, .c = 16, .hw = 32, .o = 32, .stride = 2});
}

Test(conv_bn, conv2d_relu_on_the_avx2_path)
{
    setenv("TENET_MAX_ISA", "avx2", 1);
    check_relu((bn_case){.n = 4, .c = 16, .hw = 16, .o = 16, .stride = 1, .residual = true});
    check_relu((bn_case){.n = 3, .c = 16, .hw = 16, .o = 32, .stride = 2, .residual = true});
}

Test(conv_bn, conv2d_relu_on_the_gemm_path)
{
    setenv("TENET_MAX_ISA", "generic", 1);
    check_relu((bn_case){.n = 3, .c = 8, .hw = 16, .o = 16, .stride = 1, .residual = true});
}
