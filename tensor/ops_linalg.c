/* tensor/ops_linalg.c - matmul and linear through cblas_sgemm.  Transposes
 * are sgemm flags, never copies; backward accumulates with beta = 1. */
#include "internal.h"

#include <cblas.h>

/* ---------------------------------------------------------------- matmul
 * a (M, K) or (K, M) if trans_a; b (K, N) or (N, K) if trans_b -> (M, N). */

typedef struct matmul_attr {
    bool trans_a, trans_b;
} matmul_attr;

static void matmul_check(tn_tensor *out)
{
    const matmul_attr *at = out->attr;
    const tn_tensor *a = out->in[0], *b = out->in[1];
    TN_REQUIRE(out, a->ndim == 2 && b->ndim == 2, "a and b must be 2-D");
    int m = at->trans_a ? a->shape[1] : a->shape[0];
    int ka = at->trans_a ? a->shape[0] : a->shape[1];
    int kb = at->trans_b ? b->shape[1] : b->shape[0];
    int n = at->trans_b ? b->shape[0] : b->shape[1];
    TN_REQUIRE(out, ka == kb, "inner dims differ: %d vs %d (trans_a %d, trans_b %d)", ka, kb,
               at->trans_a, at->trans_b);
    tn_set_shape(out, 2, (int[]){m, n});
}

static void matmul_forward(tn_graph *g, tn_tensor *out)
{
    (void)g;
    const matmul_attr *at = out->attr;
    const tn_tensor *a = out->in[0], *b = out->in[1];
    int m = out->shape[0], n = out->shape[1];
    int k = at->trans_a ? a->shape[0] : a->shape[1];
    cblas_sgemm(CblasRowMajor, at->trans_a ? CblasTrans : CblasNoTrans,
                at->trans_b ? CblasTrans : CblasNoTrans, m, n, k, 1.0f, a->data, a->shape[1],
                b->data, b->shape[1], 0.0f, out->data, n);
}

/* C = op(A) op(B), G = dC (M, N):
 *   dA = G op(B)^T (M, K), or its transpose op(B) G^T (K, M) when trans_a;
 *   dB = op(A)^T G (K, N), or its transpose G^T op(A) (N, K) when trans_b. */
static void matmul_backward(tn_graph *g, tn_tensor *out)
{
    const matmul_attr *at = out->attr;
    tn_tensor *a = out->in[0], *b = out->in[1];
    int m = out->shape[0], n = out->shape[1];
    int k = at->trans_a ? a->shape[0] : a->shape[1];
    int lda = a->shape[1], ldb = b->shape[1];
    const float *gy = out->grad;
    float *ga = tn_grad(g, a), *gb = tn_grad(g, b);
    if (ga) {
        if (!at->trans_a)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, at->trans_b ? CblasNoTrans : CblasTrans, m,
                        k, n, 1.0f, gy, n, b->data, ldb, 1.0f, ga, k);
        else
            cblas_sgemm(CblasRowMajor, at->trans_b ? CblasTrans : CblasNoTrans, CblasTrans, k,
                        m, n, 1.0f, b->data, ldb, gy, n, 1.0f, ga, m);
    }
    if (gb) {
        if (!at->trans_b)
            cblas_sgemm(CblasRowMajor, at->trans_a ? CblasNoTrans : CblasTrans, CblasNoTrans, k,
                        n, m, 1.0f, a->data, lda, gy, n, 1.0f, gb, n);
        else
            cblas_sgemm(CblasRowMajor, CblasTrans, at->trans_a ? CblasTrans : CblasNoTrans, n,
                        k, m, 1.0f, gy, n, a->data, lda, 1.0f, gb, k);
    }
}

const tn_op tn_op_matmul = {.name = "matmul", .check = matmul_check, .forward = matmul_forward,
                            .backward = matmul_backward};

tn_tensor *tn_matmul(tn_graph *g, tn_tensor *a, tn_tensor *b, bool trans_a, bool trans_b)
{
    matmul_attr at = {trans_a, trans_b};
    return tn_op_apply(g, &tn_op_matmul, 2, (tn_tensor *[]){a, b}, &at, sizeof at);
}

/* ---------------------------------------------------------------- linear
 * x (N, in), w (out, in), b (out) or absent -> y (N, out) = x w^T + b. */

static void linear_check(tn_tensor *out)
{
    const tn_tensor *x = out->in[0], *w = out->in[1];
    TN_REQUIRE(out, x->ndim == 2 && w->ndim == 2, "x (N, in) and w (out, in) must be 2-D");
    TN_REQUIRE(out, x->shape[1] == w->shape[1], "x has %d features, w expects %d", x->shape[1],
               w->shape[1]);
    if (out->n_in == 3) {
        const tn_tensor *b = out->in[2];
        TN_REQUIRE(out, b->ndim == 1 && b->shape[0] == w->shape[0], "b must be (%d)",
                   w->shape[0]);
    }
    tn_set_shape(out, 2, (int[]){x->shape[0], w->shape[0]});
}

static void linear_forward(tn_graph *g, tn_tensor *out)
{
    (void)g;
    const tn_tensor *x = out->in[0], *w = out->in[1];
    int n = x->shape[0], in = x->shape[1], no = w->shape[0];
    float *y = out->data;
    float beta = 0.0f;
    if (out->n_in == 3) {
        const float *b = out->in[2]->data;
        for (int r = 0; r < n; r++) memcpy(y + (size_t)r * no, b, (size_t)no * sizeof(float));
        beta = 1.0f;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, no, in, 1.0f, x->data, in, w->data,
                in, beta, y, no);
}

/* dx += gy w, dw += gy^T x, db += column sums of gy. */
static void linear_backward(tn_graph *g, tn_tensor *out)
{
    tn_tensor *x = out->in[0], *w = out->in[1];
    int n = x->shape[0], in = x->shape[1], no = w->shape[0];
    const float *gy = out->grad;
    float *gx = tn_grad(g, x), *gw = tn_grad(g, w);
    if (gx)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, in, no, 1.0f, gy, no, w->data,
                    in, 1.0f, gx, in);
    if (gw)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, no, in, n, 1.0f, gy, no, x->data,
                    in, 1.0f, gw, in);
    float *gb = out->n_in == 3 ? tn_grad(g, out->in[2]) : NULL;
    if (gb)
        for (int r = 0; r < n; r++)
            for (int j = 0; j < no; j++) gb[j] += gy[(size_t)r * no + j];
}

const tn_op tn_op_linear = {.name = "linear", .check = linear_check, .forward = linear_forward,
                            .backward = linear_backward};

tn_tensor *tn_linear(tn_graph *g, tn_tensor *x, tn_tensor *w, tn_tensor *b)
{
    return tn_op_apply(g, &tn_op_linear, b ? 3 : 2, (tn_tensor *[]){x, w, b}, NULL, 0);
}
