/* tests/tensor/test_ops_math.c - forward values of the element-wise,
 * activation, linear-algebra, reduction and shape ops against hand-computed
 * numbers, a few backward values, and misuse aborts. */
#include "tensor/tensor.h"

#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>

static tn_graph *g;

static void setup(void) { g = tn_graph_new(); }
static void teardown(void) { tn_graph_free(g); }

TestSuite(ops_math, .init = setup, .fini = teardown);

/* Misuse tests abort; keep their message out of the test log. */
static void setup_quiet(void)
{
    cr_redirect_stderr();
    setup();
}

#define T(ndim_shape, ...) tn_from_data(g, ndim_shape, (const float[]){__VA_ARGS__})
#define TG(ndim_shape, ...) \
    tn_requires_grad(g, tn_from_data(g, ndim_shape, (const float[]){__VA_ARGS__}))

static void expect_data(const tn_tensor *t, const float *want, size_t n, float tol)
{
    cr_assert_eq(t->numel, n, "numel %zu, want %zu", t->numel, n);
    for (size_t i = 0; i < n; i++)
        cr_expect(fabsf(t->data[i] - want[i]) <= tol, "element %zu: got %.9g, want %.9g", i,
                  (double)t->data[i], (double)want[i]);
}

#define EXPECT(t, tol, ...)                                                              \
    expect_data((t), (const float[]){__VA_ARGS__},                                       \
                sizeof((const float[]){__VA_ARGS__}) / sizeof(float), (tol))

static void expect_shape(const tn_tensor *t, int ndim, const int *shape)
{
    cr_assert_eq(t->ndim, ndim, "ndim %d, want %d", t->ndim, ndim);
    for (int i = 0; i < ndim; i++)
        cr_expect_eq(t->shape[i], shape[i], "dim %d is %d, want %d", i, t->shape[i], shape[i]);
}

/* t's gradient as a tensor, for EXPECT. */
static const tn_tensor *grad_of(const tn_tensor *t)
{
    static tn_tensor view;
    cr_assert(t->grad, "no gradient reached the tensor");
    view = (tn_tensor){.ndim = t->ndim, .numel = t->numel, .data = t->grad};
    return &view;
}

/* Backward from y with upstream gradient r: loss = sum(y * r). */
static void backward_with(tn_tensor *y, tn_tensor *r)
{
    cr_assert_eq(tn_backward(g, tn_sum(g, tn_mul(g, y, r))), TN_OK);
}

/* ------------------------------------------------------------ arithmetic */

Test(ops_math, arithmetic_with_broadcast)
{
    tn_tensor *a = T(TN_SHAPE(2, 3), 1, 2, 3, 4, 5, 6);
    tn_tensor *b = T(TN_SHAPE(3), 10, 20, 40);
    EXPECT(tn_add(g, a, b), 0, 11, 22, 43, 14, 25, 46);
    EXPECT(tn_sub(g, a, b), 0, -9, -18, -37, -6, -15, -34);
    EXPECT(tn_mul(g, a, b), 0, 10, 40, 120, 40, 100, 240);
    EXPECT(tn_div(g, a, b), 1e-7f, 0.1f, 0.1f, 0.075f, 0.4f, 0.25f, 0.15f);
    tn_tensor *c = T(TN_SHAPE(2, 3), 2, 2, 2, -1, -1, -1);
    EXPECT(tn_mul(g, a, c), 0, 2, 4, 6, -4, -5, -6);
    EXPECT(tn_div(g, a, c), 0, 0.5f, 1, 1.5f, -4, -5, -6);
}

Test(ops_math, arithmetic_backward_values)
{
    tn_tensor *a = TG(TN_SHAPE(2, 2), 1, 2, 3, 4);
    tn_tensor *b = TG(TN_SHAPE(2), 2, 4);
    backward_with(tn_div(g, a, b), T(TN_SHAPE(2, 2), 1, 1, 1, 1));
    EXPECT(grad_of(a), 1e-7f, 0.5f, 0.25f, 0.5f, 0.25f);
    /* d/db_j sum_r a_rj / b_j = -sum_r a_rj / b_j^2: -(1+3)/4, -(2+4)/16 */
    EXPECT(grad_of(b), 1e-7f, -1.0f, -0.375f);
}

Test(ops_math, large_broadcast_runs_parallel_path)
{
    int rows = 50000, cols = 3; /* 150000 elements >= TN_PAR_MIN */
    tn_tensor *a = tn_full(g, TN_SHAPE(rows, cols), 1.0f);
    tn_tensor *b = T(TN_SHAPE(3), 1, 2, 3);
    tn_tensor *y = tn_mul(g, tn_add(g, a, b), b);
    for (int r = 0; r < rows; r += 997)
        for (int j = 0; j < cols; j++)
            cr_assert_eq(y->data[r * cols + j], (float)((2 + j) * (1 + j)));
}

Test(ops_math, scalar_and_unary)
{
    tn_tensor *a = T(TN_SHAPE(4), -2, -0.5f, 1, 4);
    EXPECT(tn_scale(g, a, -2), 0, 4, 1, -2, -8);
    EXPECT(tn_add_scalar(g, a, 0.5f), 0, -1.5f, 0, 1.5f, 4.5f);
    EXPECT(tn_neg(g, a), 0, 2, 0.5f, -1, -4);
    EXPECT(tn_square(g, a), 0, 4, 0.25f, 1, 16);
    EXPECT(tn_abs(g, a), 0, 2, 0.5f, 1, 4);
    EXPECT(tn_exp(g, a), 1e-5f, 0.13533528f, 0.60653066f, 2.7182818f, 54.59815f);
    tn_tensor *p = T(TN_SHAPE(3), 0.25f, 1, 4);
    EXPECT(tn_log(g, p), 1e-6f, -1.3862944f, 0, 1.3862944f);
    EXPECT(tn_sqrt(g, p), 0, 0.5f, 1, 2);
    EXPECT(tn_pow(g, p, 1.5f), 1e-6f, 0.125f, 1, 8);
    EXPECT(tn_pow(g, p, -0.5f), 1e-6f, 2, 1, 0.5f);
}

Test(ops_math, abs_and_relu_gradient_is_zero_at_zero)
{
    tn_tensor *a = TG(TN_SHAPE(3), -1, 0, 2);
    tn_tensor *ones = tn_ones(g, TN_SHAPE(3));
    backward_with(tn_add(g, tn_abs(g, a), tn_relu(g, a)), ones);
    EXPECT(grad_of(a), 0, -1, 0, 2);
}

Test(ops_math, pow_zero_exponent_has_zero_gradient)
{
    tn_tensor *a = TG(TN_SHAPE(2), 0, 3);
    tn_tensor *y = tn_pow(g, a, 0);
    EXPECT(y, 0, 1, 1);
    backward_with(y, tn_ones(g, TN_SHAPE(2)));
    EXPECT(grad_of(a), 0, 0, 0);
}

/* ----------------------------------------------------------- activations */

Test(ops_math, elementwise_activations)
{
    tn_tensor *a = T(TN_SHAPE(5), -100, -1, 0, 1, 100);
    EXPECT(tn_relu(g, a), 0, 0, 0, 0, 1, 100);
    EXPECT(tn_leaky_relu(g, a, 0.01f), 1e-6f, -1, -0.01f, 0, 1, 100);
    EXPECT(tn_sigmoid(g, a), 1e-7f, 0, 0.26894142f, 0.5f, 0.73105858f, 1);
    EXPECT(tn_tanh(g, a), 1e-7f, -1, -0.76159416f, 0, 0.76159416f, 1);
    /* torch.nn.functional.gelu (exact): gelu(1) = 0.8413447, gelu(-1) = -0.1586553 */
    EXPECT(tn_gelu(g, a), 1e-6f, 0, -0.1586553f, 0, 0.8413447f, 100);
    tn_tensor *s = tn_sigmoid(g, T(TN_SHAPE(2), -1000, 1000));
    cr_expect(!isnan(s->data[0]) && !isnan(s->data[1]), "sigmoid must not overflow to NaN");
}

Test(ops_math, softmax_rows_sum_to_one_and_are_stable)
{
    tn_tensor *a = T(TN_SHAPE(3, 3), 0, 1, 2, 1000, 1001, 1002, -5, -5, -5);
    tn_tensor *y = tn_softmax(g, a);
    for (int r = 0; r < 3; r++) {
        float s = y->data[3 * r] + y->data[3 * r + 1] + y->data[3 * r + 2];
        cr_expect(fabsf(s - 1.0f) <= 1e-6f, "row %d sums to %.9g", r, (double)s);
    }
    /* softmax([0, 1, 2]), and the same for logits shifted by 1000. */
    EXPECT(y, 1e-6f, 0.09003057f, 0.24472847f, 0.66524096f, 0.09003057f, 0.24472847f,
           0.66524096f, 1 / 3.0f, 1 / 3.0f, 1 / 3.0f);
}

Test(ops_math, log_softmax_of_large_logits)
{
    EXPECT(tn_log_softmax(g, T(TN_SHAPE(1, 2), 1000, 0)), 1e-6f, 0, -1000);
    EXPECT(tn_log_softmax(g, T(TN_SHAPE(3), 0, 1, 2)), 1e-6f, -2.4076059f, -1.4076059f,
           -0.4076059f);
}

Test(ops_math, softmax_backward_values)
{
    /* y = softmax([0, ln 3]) = [0.25, 0.75]; with upstream [1, 0]:
     * gx = y * (gy - y.gy) = [0.25 * 0.75, 0.75 * -0.25]. */
    tn_tensor *a = TG(TN_SHAPE(2), 0, logf(3.0f));
    backward_with(tn_softmax(g, a), T(TN_SHAPE(2), 1, 0));
    EXPECT(grad_of(a), 1e-6f, 0.1875f, -0.1875f);
}

/* ---------------------------------------------------------------- linalg */

Test(ops_math, matmul_each_transpose)
{
    /* a = [[1, 2, 3], [4, 5, 6]] (2, 3), b = [[1, 0], [0, 1], [1, 1]] (3, 2):
     * a b = [[4, 5], [10, 11]]. */
    tn_tensor *a = T(TN_SHAPE(2, 3), 1, 2, 3, 4, 5, 6);
    tn_tensor *at = T(TN_SHAPE(3, 2), 1, 4, 2, 5, 3, 6);
    tn_tensor *b = T(TN_SHAPE(3, 2), 1, 0, 0, 1, 1, 1);
    tn_tensor *bt = T(TN_SHAPE(2, 3), 1, 0, 1, 0, 1, 1);
    tn_tensor *ys[4] = {tn_matmul(g, a, b, false, false), tn_matmul(g, at, b, true, false),
                        tn_matmul(g, a, bt, false, true), tn_matmul(g, at, bt, true, true)};
    for (int i = 0; i < 4; i++) {
        expect_shape(ys[i], 2, (int[]){2, 2});
        EXPECT(ys[i], 0, 4, 5, 10, 11);
    }
    /* a^T a (3, 3) */
    tn_tensor *ata = tn_matmul(g, a, a, true, false);
    expect_shape(ata, 2, (int[]){3, 3});
    EXPECT(ata, 0, 17, 22, 27, 22, 29, 36, 27, 36, 45);
}

Test(ops_math, linear_forward_and_backward)
{
    /* x (2, 3), w (2, 3), b (2): y = x w^T + b */
    tn_tensor *x = TG(TN_SHAPE(2, 3), 1, 2, 3, -1, 0, 1);
    tn_tensor *w = TG(TN_SHAPE(2, 3), 1, 0, -1, 2, 1, 0);
    tn_tensor *b = TG(TN_SHAPE(2), 0.5f, -0.5f);
    tn_tensor *y = tn_linear(g, x, w, b);
    expect_shape(y, 2, (int[]){2, 2});
    EXPECT(y, 0, -1.5f, 3.5f, -1.5f, -2.5f);
    EXPECT(tn_linear(g, x, w, NULL), 0, -2, 4, -2, -2);
    /* upstream gy = [[1, 0], [0, 2]]: dx = gy w, dw = gy^T x, db = col sums. */
    backward_with(y, T(TN_SHAPE(2, 2), 1, 0, 0, 2));
    EXPECT(grad_of(x), 0, 1, 0, -1, 4, 2, 0);
    EXPECT(grad_of(w), 0, 1, 2, 3, -2, 0, 2);
    EXPECT(grad_of(b), 0, 1, 2);
}

/* ------------------------------------------------------------ reductions */

static tn_tensor *iota(int ndim, const int *shape)
{
    tn_tensor *t = tn_empty(g, ndim, shape);
    for (size_t i = 0; i < t->numel; i++) t->data[i] = (float)i;
    return t;
}

Test(ops_math, sums_and_means)
{
    tn_tensor *a = iota(TN_SHAPE(2, 3, 4)); /* a[i, j, k] = 12 i + 4 j + k */
    tn_tensor *s = tn_sum(g, a);
    cr_assert_eq(s->ndim, 0);
    EXPECT(s, 0, 276);
    EXPECT(tn_mean(g, a), 0, 11.5f);
    /* sum over j: 36 i + 12 + 3 k */
    tn_tensor *s1 = tn_sum_axis(g, a, 1);
    expect_shape(s1, 2, (int[]){2, 4});
    EXPECT(s1, 0, 12, 15, 18, 21, 48, 51, 54, 57);
    /* sum over i: 12 + 8 j + 2 k */
    tn_tensor *s0 = tn_sum_axis(g, a, 0);
    expect_shape(s0, 2, (int[]){3, 4});
    EXPECT(s0, 0, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 34);
    /* sum over k (axis -1): 48 i + 16 j + 6 */
    tn_tensor *s2 = tn_sum_axis(g, a, -1);
    expect_shape(s2, 2, (int[]){2, 3});
    EXPECT(s2, 0, 6, 22, 38, 54, 70, 86);
    /* mean over j (axis -2): 12 i + 4 + k */
    EXPECT(tn_mean_axis(g, a, -2), 0, 4, 5, 6, 7, 16, 17, 18, 19);
    tn_tensor *v = tn_sum_axis(g, T(TN_SHAPE(3), 1, 2, 3), 0);
    cr_assert_eq(v->ndim, 0);
    EXPECT(v, 0, 6);
}

Test(ops_math, penalties)
{
    tn_tensor *a = T(TN_SHAPE(2, 2), -3, 4, 0, -1);
    EXPECT(tn_sum_squares(g, a), 0, 26);
    EXPECT(tn_sum_abs(g, a), 0, 8);
}

Test(ops_math, long_sums_are_accurate)
{
    /* 2^21 copies of 0.1f: a float running sum drifts by about 1%; the exact
     * sum of the float value 0.100000001490116 is 209715.2031... */
    int n = 1 << 21;
    tn_tensor *a = tn_full(g, TN_SHAPE(n), 0.1f);
    double want = (double)n * (double)0.1f;
    cr_expect(fabs(tn_sum(g, a)->data[0] - want) <= 0.02, "sum %.9g, want %.9g",
              (double)tn_sum(g, a)->data[0], want);
    cr_expect(fabs(tn_sum_abs(g, a)->data[0] - want) <= 0.02);
    cr_expect(fabs(tn_sum_squares(g, a)->data[0] - (double)n * 0.1f * 0.1f) <= 0.01);
    tn_tensor *m = tn_mean_axis(g, tn_reshape(g, a, TN_SHAPE(-1, 64)), 0);
    cr_expect(fabsf(m->data[0] - 0.1f) <= 1e-8f, "mean_axis %.9g", (double)m->data[0]);
}

/* ---------------------------------------------------------------- shapes */

Test(ops_math, reshape_and_flatten_share_data)
{
    tn_tensor *a = TG(TN_SHAPE(2, 3, 2), 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11);
    tn_tensor *r = tn_reshape(g, a, TN_SHAPE(3, -1));
    expect_shape(r, 2, (int[]){3, 4});
    cr_assert_eq(r->data, a->data, "reshape must be a view");
    tn_tensor *f = tn_flatten(g, a);
    expect_shape(f, 2, (int[]){2, 6});
    cr_assert_eq(f->data, a->data, "flatten must be a view");
    a->data[5] = 50;
    cr_expect_eq(r->data[5], 50);
    tn_tensor *s = tn_reshape(g, tn_from_data(g, TN_SHAPE(1), (float[]){7}), 0, NULL);
    cr_assert_eq(s->ndim, 0);
    /* The view's gradient lands in the input's. */
    backward_with(r, tn_full(g, TN_SHAPE(3, 4), 2));
    cr_assert_eq(r->grad, a->grad);
    for (int i = 0; i < 12; i++) cr_expect_eq(a->grad[i], 2);
}

Test(ops_math, transpose_and_permute_move_elements)
{
    tn_tensor *a = iota(TN_SHAPE(2, 3, 4)); /* a[i, j, k] = 12 i + 4 j + k */
    tn_tensor *t = tn_transpose(g, a, 0, 2);  /* t[k, j, i] */
    expect_shape(t, 3, (int[]){4, 3, 2});
    cr_expect_eq(t->data[(3 * 3 + 1) * 2 + 1], 12 + 4 + 3); /* t[3, 1, 1] = a[1, 1, 3] */
    tn_tensor *m = tn_transpose(g, T(TN_SHAPE(2, 3), 1, 2, 3, 4, 5, 6), -1, -2);
    expect_shape(m, 2, (int[]){3, 2});
    EXPECT(m, 0, 1, 4, 2, 5, 3, 6);
    tn_tensor *p = tn_permute(g, a, (int[]){1, 2, 0}); /* p[j, k, i] = a[i, j, k] */
    expect_shape(p, 3, (int[]){3, 4, 2});
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++)
            for (int k = 0; k < 4; k++)
                cr_expect_eq(p->data[(j * 4 + k) * 2 + i], (float)(12 * i + 4 * j + k));
    tn_tensor *b = iota(TN_SHAPE(2, 3, 4, 5));
    tn_tensor *q = tn_permute(g, b, (int[]){0, 2, 3, 1}); /* NCHW -> NHWC */
    expect_shape(q, 4, (int[]){2, 4, 5, 3});
    cr_expect_eq(q->data[((1 * 4 + 2) * 5 + 3) * 3 + 1], (float)(((1 * 3 + 1) * 4 + 2) * 5 + 3));
}

Test(ops_math, concat_moves_elements)
{
    tn_tensor *a = T(TN_SHAPE(2, 1), 1, 2);
    tn_tensor *b = T(TN_SHAPE(2, 2), 3, 4, 5, 6);
    tn_tensor *c = tn_concat(g, 2, (tn_tensor *[]){a, b}, 1);
    expect_shape(c, 2, (int[]){2, 3});
    EXPECT(c, 0, 1, 3, 4, 2, 5, 6);
    tn_tensor *d = tn_concat(g, 3, (tn_tensor *[]){b, a, b}, -1);
    expect_shape(d, 2, (int[]){2, 5});
    EXPECT(d, 0, 3, 4, 1, 3, 4, 5, 6, 2, 5, 6);
}

Test(ops_math, concat_along_axis_0)
{
    tn_tensor *a = T(TN_SHAPE(1, 2), 1, 2);
    tn_tensor *b = T(TN_SHAPE(2, 2), 3, 4, 5, 6);
    tn_tensor *c = tn_concat(g, 2, (tn_tensor *[]){a, b}, -2);
    expect_shape(c, 2, (int[]){3, 2});
    EXPECT(c, 0, 1, 2, 3, 4, 5, 6);
}

/* ---------------------------------------------------------------- misuse */

Test(ops_math, matmul_inner_dim_mismatch_aborts, .init = setup_quiet, .signal = SIGABRT)
{
    tn_matmul(g, tn_zeros(g, TN_SHAPE(2, 3)), tn_zeros(g, TN_SHAPE(4, 2)), false, false);
}

Test(ops_math, matmul_of_1d_aborts, .init = setup_quiet, .signal = SIGABRT)
{
    tn_matmul(g, tn_zeros(g, TN_SHAPE(3)), tn_zeros(g, TN_SHAPE(3, 2)), false, false);
}

Test(ops_math, concat_shape_mismatch_aborts, .init = setup_quiet, .signal = SIGABRT)
{
    tn_concat(g, 2, (tn_tensor *[]){tn_zeros(g, TN_SHAPE(2, 3)), tn_zeros(g, TN_SHAPE(3, 3))},
              1);
}

Test(ops_math, concat_too_many_aborts, .init = setup_quiet, .signal = SIGABRT)
{
    tn_tensor *a = tn_zeros(g, TN_SHAPE(2));
    tn_tensor *ts[TN_MAX_INPUTS + 1];
    for (int i = 0; i <= TN_MAX_INPUTS; i++) ts[i] = a;
    tn_concat(g, TN_MAX_INPUTS + 1, ts, 0);
}

Test(ops_math, reshape_numel_mismatch_aborts, .init = setup_quiet, .signal = SIGABRT)
{
    tn_reshape(g, tn_zeros(g, TN_SHAPE(2, 3)), TN_SHAPE(4, 2));
}

Test(ops_math, reshape_two_inferred_dims_aborts, .init = setup_quiet, .signal = SIGABRT)
{
    tn_reshape(g, tn_zeros(g, TN_SHAPE(2, 3)), TN_SHAPE(-1, -1));
}

Test(ops_math, reshape_uninferrable_aborts, .init = setup_quiet, .signal = SIGABRT)
{
    tn_reshape(g, tn_zeros(g, TN_SHAPE(2, 3)), TN_SHAPE(4, -1));
}

Test(ops_math, add_shape_mismatch_aborts, .init = setup_quiet, .signal = SIGABRT)
{
    tn_add(g, tn_zeros(g, TN_SHAPE(2, 3)), tn_zeros(g, TN_SHAPE(2)));
}

Test(ops_math, linear_bias_mismatch_aborts, .init = setup_quiet, .signal = SIGABRT)
{
    tn_linear(g, tn_zeros(g, TN_SHAPE(4, 3)), tn_zeros(g, TN_SHAPE(5, 3)),
              tn_zeros(g, TN_SHAPE(3)));
}

Test(ops_math, sum_axis_out_of_range_aborts, .init = setup_quiet, .signal = SIGABRT)
{
    tn_sum_axis(g, tn_zeros(g, TN_SHAPE(2, 3)), -3);
}

Test(ops_math, permute_repeated_dim_aborts, .init = setup_quiet, .signal = SIGABRT)
{
    tn_permute(g, tn_zeros(g, TN_SHAPE(2, 3)), (int[]){1, 1});
}

Test(ops_math, softmax_of_0dim_aborts, .init = setup_quiet, .signal = SIGABRT)
{
    tn_softmax(g, tn_zeros(g, 0, (int[]){1}));
}

Test(ops_math, flatten_of_1d_aborts, .init = setup_quiet, .signal = SIGABRT)
{
    tn_flatten(g, tn_zeros(g, TN_SHAPE(5)));
}
