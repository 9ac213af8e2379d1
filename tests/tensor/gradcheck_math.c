/* tests/tensor/gradcheck_math.c - gradcheck cases for the element-wise,
 * activation, linear-algebra, reduction and shape ops.
 *
 * Input ranges keep away from kinks and singularities: abs, relu,
 * leaky_relu and sum_abs get one all-positive and one all-negative case;
 * log, sqrt, pow and the divisor of div get positive inputs. */
#include "gradcheck.h"

#include <stddef.h>

#define IN(lo_, hi_, ...) {.ndim = (int)(sizeof((int[]){__VA_ARGS__}) / sizeof(int)), \
                           .shape = {__VA_ARGS__}, .lo = (lo_), .hi = (hi_)}
/* An input that is not differentiated: checks that backward skips it. */
#define IN_NOGRAD(lo_, hi_, ...) {.ndim = (int)(sizeof((int[]){__VA_ARGS__}) / sizeof(int)), \
                                  .shape = {__VA_ARGS__}, .lo = (lo_), .hi = (hi_),           \
                                  .no_grad = true}
/* A 0-dim input (a scalar). */
#define IN0(lo_, hi_) {.ndim = 0, .lo = (lo_), .hi = (hi_)}

/* A float or int argument for a build function, with static storage. */
#define F(x) (&(const float){(x)})
#define I(x) (&(const int){(x)})

static float farg(const void *arg) { return *(const float *)arg; }
static int iarg(const void *arg) { return *(const int *)arg; }

/* ------------------------------------------------------------ element-wise */

#define BINARY_BUILD(op)                                                       \
    static tn_tensor *b_##op(tn_graph *g, tn_tensor **in, const void *arg)     \
    {                                                                          \
        (void)arg;                                                             \
        return tn_##op(g, in[0], in[1]);                                       \
    }
BINARY_BUILD(add)
BINARY_BUILD(sub)
BINARY_BUILD(mul)
BINARY_BUILD(div)

/* a * a: the same tensor twice, so both gradient contributions must add up. */
static tn_tensor *b_mul_self(tn_graph *g, tn_tensor **in, const void *arg)
{
    (void)arg;
    return tn_mul(g, in[0], in[0]);
}

#define UNARY_BUILD(op)                                                        \
    static tn_tensor *b_##op(tn_graph *g, tn_tensor **in, const void *arg)     \
    {                                                                          \
        (void)arg;                                                             \
        return tn_##op(g, in[0]);                                              \
    }
UNARY_BUILD(neg)
UNARY_BUILD(exp)
UNARY_BUILD(log)
UNARY_BUILD(sqrt)
UNARY_BUILD(square)
UNARY_BUILD(abs)
UNARY_BUILD(relu)
UNARY_BUILD(sigmoid)
UNARY_BUILD(tanh)
UNARY_BUILD(gelu)
UNARY_BUILD(softmax)
UNARY_BUILD(log_softmax)
UNARY_BUILD(sum)
UNARY_BUILD(mean)
UNARY_BUILD(sum_squares)
UNARY_BUILD(sum_abs)
UNARY_BUILD(flatten)

#define SCALAR_BUILD(op)                                                       \
    static tn_tensor *b_##op(tn_graph *g, tn_tensor **in, const void *arg)     \
    {                                                                          \
        return tn_##op(g, in[0], farg(arg));                                   \
    }
SCALAR_BUILD(scale)
SCALAR_BUILD(add_scalar)
SCALAR_BUILD(pow)
SCALAR_BUILD(leaky_relu)

/* ------------------------------------------------------------------ linalg */

typedef struct mm_arg {
    bool ta, tb;
} mm_arg;

static tn_tensor *b_matmul(tn_graph *g, tn_tensor **in, const void *arg)
{
    const mm_arg *m = arg;
    return tn_matmul(g, in[0], in[1], m->ta, m->tb);
}

static tn_tensor *b_linear(tn_graph *g, tn_tensor **in, const void *arg)
{
    (void)arg;
    return tn_linear(g, in[0], in[1], in[2]);
}

static tn_tensor *b_linear_nobias(tn_graph *g, tn_tensor **in, const void *arg)
{
    (void)arg;
    return tn_linear(g, in[0], in[1], NULL);
}

/* ------------------------------------------------------------------ reduce */

static tn_tensor *b_sum_axis(tn_graph *g, tn_tensor **in, const void *arg)
{
    return tn_sum_axis(g, in[0], iarg(arg));
}

static tn_tensor *b_mean_axis(tn_graph *g, tn_tensor **in, const void *arg)
{
    return tn_mean_axis(g, in[0], iarg(arg));
}

/* ------------------------------------------------------------------- shape */

typedef struct shape_arg {
    int ndim;
    int shape[TN_MAX_DIMS];
} shape_arg;

static tn_tensor *b_reshape(tn_graph *g, tn_tensor **in, const void *arg)
{
    const shape_arg *s = arg;
    return tn_reshape(g, in[0], s->ndim, s->shape);
}

/* A view of an op's output, then an op on the view: the gradient must flow
 * through the shared buffer into tanh's backward. */
static tn_tensor *b_reshape_chain(tn_graph *g, tn_tensor **in, const void *arg)
{
    const shape_arg *s = arg;
    return tn_square(g, tn_reshape(g, tn_tanh(g, in[0]), s->ndim, s->shape));
}

static tn_tensor *b_transpose(tn_graph *g, tn_tensor **in, const void *arg)
{
    const int *d = arg;
    return tn_transpose(g, in[0], d[0], d[1]);
}

static tn_tensor *b_permute(tn_graph *g, tn_tensor **in, const void *arg)
{
    return tn_permute(g, in[0], arg);
}

typedef struct concat_arg {
    int n, axis;
} concat_arg;

static tn_tensor *b_concat(tn_graph *g, tn_tensor **in, const void *arg)
{
    const concat_arg *c = arg;
    return tn_concat(g, c->n, in, c->axis);
}

/* ------------------------------------------------------------------ cases */

const gc_case gc_cases_math[] = {
    /* element-wise arithmetic */
    {.name = "add same shape", .op = "add", .build = b_add, .n_in = 2,
     .in = {IN(-1, 1, 3, 4), IN(-1, 1, 3, 4)}},
    {.name = "add bias over leading dims", .op = "add", .build = b_add, .n_in = 2,
     .in = {IN(-1, 1, 2, 3, 4), IN(-1, 1, 4)}},
    {.name = "add (N, C) bias (C), a needs no grad", .op = "add", .build = b_add, .n_in = 2,
     .in = {IN_NOGRAD(-1, 1, 5, 3), IN(-1, 1, 3)}},
    {.name = "sub same shape", .op = "sub", .build = b_sub, .n_in = 2,
     .in = {IN(-1, 1, 3, 4), IN(-1, 1, 3, 4)}},
    {.name = "sub over leading dims", .op = "sub", .build = b_sub, .n_in = 2,
     .in = {IN(-1, 1, 2, 3, 4), IN(-1, 1, 3, 4)}},
    {.name = "mul same shape", .op = "mul", .build = b_mul, .n_in = 2,
     .in = {IN(-2, 2, 3, 4), IN(-2, 2, 3, 4)}},
    {.name = "mul over leading dims", .op = "mul", .build = b_mul, .n_in = 2,
     .in = {IN(-2, 2, 2, 3, 4), IN(-2, 2, 4)}},
    {.name = "mul b needs no grad", .op = "mul", .build = b_mul, .n_in = 2,
     .in = {IN(-2, 2, 3, 4), IN_NOGRAD(-2, 2, 4)}},
    {.name = "mul a*a accumulates both uses", .op = "mul", .build = b_mul_self, .n_in = 1,
     .in = {IN(-2, 2, 3, 4)}},
    {.name = "div same shape", .op = "div", .build = b_div, .n_in = 2,
     .in = {IN(-2, 2, 3, 4), IN(0.5f, 2, 3, 4)}},
    {.name = "div negative divisor over leading dims", .op = "div", .build = b_div, .n_in = 2,
     .in = {IN(-2, 2, 2, 3, 4), IN(-2, -0.5f, 3, 4)}},
    {.name = "scale by -1.5", .op = "scale", .build = b_scale, .arg = F(-1.5f), .n_in = 1,
     .in = {IN(-1, 1, 2, 3, 4)}},
    {.name = "add_scalar 3", .op = "add_scalar", .build = b_add_scalar, .arg = F(3.0f),
     .n_in = 1, .in = {IN(-1, 1, 3, 4)}},
    {.name = "neg", .op = "neg", .build = b_neg, .n_in = 1, .in = {IN(-1, 1, 3, 4)}},
    {.name = "exp", .op = "exp", .build = b_exp, .n_in = 1, .in = {IN(-2, 2, 3, 4)}},
    {.name = "log of positives", .op = "log", .build = b_log, .n_in = 1,
     .in = {IN(0.3f, 3, 3, 4)}},
    {.name = "sqrt of positives", .op = "sqrt", .build = b_sqrt, .n_in = 1,
     .in = {IN(0.3f, 3, 3, 4)}},
    {.name = "square", .op = "square", .build = b_square, .n_in = 1, .in = {IN(-2, 2, 3, 4)}},
    {.name = "abs of positives", .op = "abs", .build = b_abs, .n_in = 1,
     .in = {IN(0.1f, 2, 3, 4)}},
    {.name = "abs of negatives", .op = "abs", .build = b_abs, .n_in = 1,
     .in = {IN(-2, -0.1f, 3, 4)}},
    {.name = "pow 2.5", .op = "pow", .build = b_pow, .arg = F(2.5f), .n_in = 1,
     .in = {IN(0.5f, 2, 3, 4)}},
    {.name = "pow -1.5", .op = "pow", .build = b_pow, .arg = F(-1.5f), .n_in = 1,
     .in = {IN(0.5f, 2, 3, 4)}},
    {.name = "pow 3 of mixed signs", .op = "pow", .build = b_pow, .arg = F(3.0f), .n_in = 1,
     .in = {IN(-2, 2, 3, 4)}},

    /* activations */
    {.name = "relu of positives", .op = "relu", .build = b_relu, .n_in = 1,
     .in = {IN(0.1f, 2, 3, 4)}},
    {.name = "relu of negatives", .op = "relu", .build = b_relu, .n_in = 1,
     .in = {IN(-2, -0.1f, 3, 4)}},
    {.name = "leaky_relu 0.1 of positives", .op = "leaky_relu", .build = b_leaky_relu,
     .arg = F(0.1f), .n_in = 1, .in = {IN(0.1f, 2, 3, 4)}},
    {.name = "leaky_relu 0.1 of negatives", .op = "leaky_relu", .build = b_leaky_relu,
     .arg = F(0.1f), .n_in = 1, .in = {IN(-2, -0.1f, 3, 4)}},
    {.name = "sigmoid", .op = "sigmoid", .build = b_sigmoid, .n_in = 1,
     .in = {IN(-4, 4, 3, 4)}},
    {.name = "tanh", .op = "tanh", .build = b_tanh, .n_in = 1, .in = {IN(-3, 3, 3, 4)}},
    {.name = "gelu", .op = "gelu", .build = b_gelu, .n_in = 1, .in = {IN(-3, 3, 3, 4)}},
    {.name = "softmax rows of 5", .op = "softmax", .build = b_softmax, .n_in = 1,
     .in = {IN(-3, 3, 4, 5)}},
    {.name = "softmax last dim of 3-D", .op = "softmax", .build = b_softmax, .n_in = 1,
     .in = {IN(-3, 3, 2, 3, 4)}},
    {.name = "log_softmax rows of 5", .op = "log_softmax", .build = b_log_softmax, .n_in = 1,
     .in = {IN(-3, 3, 4, 5)}},
    {.name = "log_softmax 1-D", .op = "log_softmax", .build = b_log_softmax, .n_in = 1,
     .in = {IN(-3, 3, 7)}},

    /* linear algebra */
    {.name = "matmul a b", .op = "matmul", .build = b_matmul, .arg = &(const mm_arg){0, 0},
     .n_in = 2, .in = {IN(-1, 1, 3, 4), IN(-1, 1, 4, 5)}},
    {.name = "matmul a^T b", .op = "matmul", .build = b_matmul, .arg = &(const mm_arg){1, 0},
     .n_in = 2, .in = {IN(-1, 1, 4, 3), IN(-1, 1, 4, 5)}},
    {.name = "matmul a b^T", .op = "matmul", .build = b_matmul, .arg = &(const mm_arg){0, 1},
     .n_in = 2, .in = {IN(-1, 1, 3, 4), IN(-1, 1, 5, 4)}},
    {.name = "matmul a^T b^T", .op = "matmul", .build = b_matmul, .arg = &(const mm_arg){1, 1},
     .n_in = 2, .in = {IN(-1, 1, 4, 3), IN(-1, 1, 5, 4)}},
    {.name = "matmul b needs no grad", .op = "matmul", .build = b_matmul,
     .arg = &(const mm_arg){0, 1}, .n_in = 2, .in = {IN(-1, 1, 3, 4), IN_NOGRAD(-1, 1, 5, 4)}},
    {.name = "linear with bias", .op = "linear", .build = b_linear, .n_in = 3,
     .in = {IN(-1, 1, 4, 3), IN(-1, 1, 5, 3), IN(-1, 1, 5)}},
    {.name = "linear without bias", .op = "linear", .build = b_linear_nobias, .n_in = 2,
     .in = {IN(-1, 1, 4, 3), IN(-1, 1, 5, 3)}},
    {.name = "linear, x needs no grad", .op = "linear", .build = b_linear, .n_in = 3,
     .in = {IN_NOGRAD(-1, 1, 6, 2), IN(-1, 1, 3, 2), IN(-1, 1, 3)}},

    /* reductions */
    {.name = "sum", .op = "sum", .build = b_sum, .n_in = 1, .in = {IN(-1, 1, 2, 3, 4)}},
    {.name = "sum of a 0-dim", .op = "sum", .build = b_sum, .n_in = 1, .in = {IN0(-1, 1)}},
    {.name = "mean", .op = "mean", .build = b_mean, .n_in = 1, .in = {IN(-1, 1, 2, 3, 4)}},
    {.name = "sum_axis 0 of 3-D", .op = "sum_axis", .build = b_sum_axis, .arg = I(0),
     .n_in = 1, .in = {IN(-1, 1, 2, 3, 4)}},
    {.name = "sum_axis 1 of 3-D", .op = "sum_axis", .build = b_sum_axis, .arg = I(1),
     .n_in = 1, .in = {IN(-1, 1, 2, 3, 4)}},
    {.name = "sum_axis -1 of 3-D", .op = "sum_axis", .build = b_sum_axis, .arg = I(-1),
     .n_in = 1, .in = {IN(-1, 1, 2, 3, 4)}},
    {.name = "sum_axis 0 of 1-D to 0-dim", .op = "sum_axis", .build = b_sum_axis, .arg = I(0),
     .n_in = 1, .in = {IN(-1, 1, 6)}},
    {.name = "mean_axis -2 of 4-D", .op = "mean_axis", .build = b_mean_axis, .arg = I(-2),
     .n_in = 1, .in = {IN(-1, 1, 2, 3, 4, 2)}},
    {.name = "mean_axis 0 of 2-D", .op = "mean_axis", .build = b_mean_axis, .arg = I(0),
     .n_in = 1, .in = {IN(-1, 1, 5, 3)}},
    {.name = "sum_squares", .op = "sum_squares", .build = b_sum_squares, .n_in = 1,
     .in = {IN(-1, 1, 2, 3, 4)}},
    {.name = "sum_abs of positives", .op = "sum_abs", .build = b_sum_abs, .n_in = 1,
     .in = {IN(0.1f, 1, 3, 4)}},
    {.name = "sum_abs of negatives", .op = "sum_abs", .build = b_sum_abs, .n_in = 1,
     .in = {IN(-1, -0.1f, 3, 4)}},

    /* shapes */
    {.name = "reshape (2, 3, 4) -> (4, -1)", .op = "reshape", .build = b_reshape,
     .arg = &(const shape_arg){2, {4, -1}}, .n_in = 1, .in = {IN(-1, 1, 2, 3, 4)}},
    {.name = "reshape of an op output, then an op", .op = "reshape", .build = b_reshape_chain,
     .arg = &(const shape_arg){3, {3, 2, 2}}, .n_in = 1, .in = {IN(-1, 1, 2, 6)}},
    {.name = "flatten (2, 3, 2, 2) -> (2, 12)", .op = "flatten", .build = b_flatten, .n_in = 1,
     .in = {IN(-1, 1, 2, 3, 2, 2)}},
    {.name = "transpose 0, 2 of 3-D", .op = "transpose", .build = b_transpose,
     .arg = (const int[]){0, 2}, .n_in = 1, .in = {IN(-1, 1, 2, 3, 4)}},
    {.name = "transpose -1, -2 of 2-D", .op = "transpose", .build = b_transpose,
     .arg = (const int[]){-1, -2}, .n_in = 1, .in = {IN(-1, 1, 3, 5)}},
    {.name = "permute (2, 0, 3, 1) of 4-D", .op = "permute", .build = b_permute,
     .arg = (const int[]){2, 0, 3, 1}, .n_in = 1, .in = {IN(-1, 1, 2, 3, 4, 5)}},
    {.name = "permute (-1, 0, 1) of 3-D", .op = "permute", .build = b_permute,
     .arg = (const int[]){-1, 0, 1}, .n_in = 1, .in = {IN(-1, 1, 2, 3, 4)}},
    {.name = "concat 3 along axis 1", .op = "concat", .build = b_concat,
     .arg = &(const concat_arg){3, 1}, .n_in = 3,
     .in = {IN(-1, 1, 2, 1, 3), IN(-1, 1, 2, 2, 3), IN(-1, 1, 2, 3, 3)}},
    {.name = "concat 2 along axis -1", .op = "concat", .build = b_concat,
     .arg = &(const concat_arg){2, -1}, .n_in = 2, .in = {IN(-1, 1, 3, 2), IN(-1, 1, 3, 4)}},
    {.name = "concat along axis 0, one input needs no grad", .op = "concat", .build = b_concat,
     .arg = &(const concat_arg){2, 0}, .n_in = 2,
     .in = {IN(-1, 1, 2, 3), IN_NOGRAD(-1, 1, 1, 3)}},
};
const size_t gc_n_cases_math = sizeof gc_cases_math / sizeof gc_cases_math[0];
