/* tensor/ops_elementwise.c - arithmetic with a bias broadcast over leading
 * dims, and the element-wise math functions. */
#include "internal.h"

/* ------------------------------------------------------------ binary ops
 * b has a's shape, or the shape of a's trailing dims (a bias (C) on (N, C)):
 * then out[r*nb + j] = a[r*nb + j] (op) b[j]. */

static void check_binary(tn_tensor *out)
{
    const tn_tensor *a = out->in[0], *b = out->in[1];
    bool ok = b->ndim <= a->ndim;
    for (int i = 0; ok && i < b->ndim; i++) ok = b->shape[i] == a->shape[a->ndim - b->ndim + i];
    TN_REQUIRE(out, ok, "b must have a's shape or a's trailing dims");
    tn_set_shape(out, a->ndim, a->shape);
}

static void add_forward(tn_graph *g, tn_tensor *out)
{
    (void)g;
    const float *a = out->in[0]->data, *b = out->in[1]->data;
    size_t n = out->numel, nb = out->in[1]->numel;
    float *y = out->data;
#pragma omp parallel for if (n >= TN_PAR_MIN) schedule(static)
    for (size_t i = 0; i < n; i++) y[i] = a[i] + b[i % nb];
}

/* d/db of a broadcast b: sum the incoming gradient over the leading rows. */
static void reduce_rows_into(float *gb, const float *gy, size_t n, size_t nb)
{
    for (size_t r = 0; r < n; r += nb)
        for (size_t j = 0; j < nb; j++) gb[j] += gy[r + j];
}

static void add_backward(tn_graph *g, tn_tensor *out)
{
    size_t n = out->numel, nb = out->in[1]->numel;
    const float *gy = out->grad;
    float *ga = tn_grad(g, out->in[0]), *gb = tn_grad(g, out->in[1]);
    if (ga)
        for (size_t i = 0; i < n; i++) ga[i] += gy[i];
    if (gb) reduce_rows_into(gb, gy, n, nb);
}

const tn_op tn_op_add = {.name = "add", .check = check_binary, .forward = add_forward,
                         .backward = add_backward};

tn_tensor *tn_add(tn_graph *g, tn_tensor *a, tn_tensor *b)
{
    return tn_op_apply(g, &tn_op_add, 2, (tn_tensor *[]){a, b}, NULL, 0);
}
