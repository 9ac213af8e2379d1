/* tensor/ops_loss.c - losses, each a 0-dim mean over the batch:
 * cross-entropy from logits (fused log-softmax, label smoothing), its
 * soft-target form (mixup, cutmix), negative log-likelihood and mean squared
 * error.  Sums run in double. */
#include "internal.h"

#include <math.h>

/* Per-row log-sum-exp of z (N, K) into lse (N). */
static void row_lse(const float *z, int n, int k, float *lse)
{
#pragma omp parallel for schedule(static) if ((size_t)n * k >= TN_PAR_MIN)
    for (int i = 0; i < n; i++) {
        const float *zi = z + (size_t)i * k;
        float m = zi[0];
        for (int j = 1; j < k; j++) m = zi[j] > m ? zi[j] : m;
        double s = 0.0;
        for (int j = 0; j < k; j++) s += exp((double)zi[j] - m);
        lse[i] = (float)(m + log(s));
    }
}

/* Labels are copied into the arena so the caller's array may change after
 * the call; their range is checked by the op's check (naming index, value). */
static int32_t *labels_copy(tn_graph *g, const char *op, const tn_tensor *x,
                            const int32_t *labels)
{
    char buf[64];
    if (!x) tn_misuse(op, "input is NULL");
    if (!labels) tn_misuse(op, "labels is NULL");
    if (x->ndim != 2)
        tn_misuse(op, "input must be (N, K), got %s", tn_shape_str(x, buf, sizeof buf));
    int32_t *copy = tn_graph_alloc(g, (size_t)x->shape[0] * sizeof(int32_t));
    if (copy) memcpy(copy, labels, (size_t)x->shape[0] * sizeof(int32_t));
    return copy;
}

typedef struct label_attr {
    float smoothing;
    const int32_t *labels; /* (N), arena copy */
    float *lse;            /* (N), saved by cross_entropy's forward */
} label_attr;

static void label_check(tn_tensor *out)
{
    const label_attr *at = out->attr;
    const tn_tensor *x = out->in[0];
    TN_REQUIRE(out, x->ndim == 2, "input must be (N, K)");
    TN_REQUIRE(out, at->smoothing >= 0.0f && at->smoothing < 1.0f,
               "label smoothing %g must be in [0, 1)", (double)at->smoothing);
    const int n = x->shape[0], k = x->shape[1];
    for (int i = 0; i < n; i++)
        TN_REQUIRE(out, at->labels[i] >= 0 && at->labels[i] < k,
                   "label %d is %d, must be in [0, %d)", i, (int)at->labels[i], k);
    tn_set_shape(out, 0, (int[]){1});
}

/* ---------------------------------------------------------- cross entropy
 * loss_i = (1 - s) (lse_i - z_{i,y_i}) + s mean_k (lse_i - z_ik)  (PyTorch's
 * label smoothing); d loss_i / dz_ik = softmax_ik - (1 - s) [k = y_i] - s / K. */

static void ce_forward(tn_graph *g, tn_tensor *out)
{
    label_attr *at = out->attr;
    const tn_tensor *z = out->in[0];
    const int n = z->shape[0], k = z->shape[1];
    if (!(at->lse = tn_graph_floats(g, (size_t)n))) return;
    row_lse(z->data, n, k, at->lse);
    const double s = at->smoothing;
    double total = 0.0;
    for (int i = 0; i < n; i++) {
        const float *zi = z->data + (size_t)i * k;
        double nll = (double)at->lse[i] - zi[at->labels[i]], loss = (1.0 - s) * nll;
        if (s > 0.0) {
            double zsum = 0.0;
            for (int j = 0; j < k; j++) zsum += zi[j];
            loss += s * ((double)at->lse[i] - zsum / k);
        }
        total += loss;
    }
    out->data[0] = (float)(total / n);
}

static void ce_backward(tn_graph *g, tn_tensor *out)
{
    const label_attr *at = out->attr;
    tn_tensor *z = out->in[0];
    float *gz = tn_grad(g, z);
    if (!gz) return;
    const int n = z->shape[0], k = z->shape[1];
    const float c = out->grad[0] / (float)n, s = at->smoothing, s_k = s / (float)k;
#pragma omp parallel for schedule(static) if ((size_t)n * k >= TN_PAR_MIN)
    for (int i = 0; i < n; i++) {
        const float *zi = z->data + (size_t)i * k;
        float *gi = gz + (size_t)i * k;
        for (int j = 0; j < k; j++) {
            float t = s_k + (j == at->labels[i] ? 1.0f - s : 0.0f);
            gi[j] += c * (expf(zi[j] - at->lse[i]) - t);
        }
    }
}

const tn_op tn_op_cross_entropy = {.name = "cross_entropy", .check = label_check,
                                   .forward = ce_forward, .backward = ce_backward};

tn_tensor *tn_cross_entropy(tn_graph *g, tn_tensor *logits, const int32_t *labels,
                            float smoothing)
{
    if (tn_graph_status(g) != TN_OK) return NULL;
    int32_t *copy = labels_copy(g, "cross_entropy", logits, labels);
    if (!copy) return NULL;
    label_attr at = {.smoothing = smoothing, .labels = copy};
    return tn_op_apply(g, &tn_op_cross_entropy, 1, &logits, &at, sizeof at);
}

/* ----------------------------------------------------- soft cross entropy
 * loss_i = sum_k t_ik (lse_i - z_ik);  dz_ik = softmax_ik sum_k t_ik - t_ik,
 * dt_ik = lse_i - z_ik (targets may be differentiated too). */

typedef struct soft_attr {
    float *lse; /* (N) */
} soft_attr;

static void soft_check(tn_tensor *out)
{
    const tn_tensor *z = out->in[0], *t = out->in[1];
    TN_REQUIRE(out, z->ndim == 2, "logits must be (N, K)");
    TN_REQUIRE(out, tn_same_shape(z, t), "targets must have the logits' shape (N, K)");
    tn_set_shape(out, 0, (int[]){1});
}

static void soft_forward(tn_graph *g, tn_tensor *out)
{
    soft_attr *at = out->attr;
    const tn_tensor *z = out->in[0], *t = out->in[1];
    const int n = z->shape[0], k = z->shape[1];
    if (!(at->lse = tn_graph_floats(g, (size_t)n))) return;
    row_lse(z->data, n, k, at->lse);
    double total = 0.0;
    for (int i = 0; i < n; i++) {
        const float *zi = z->data + (size_t)i * k, *ti = t->data + (size_t)i * k;
        for (int j = 0; j < k; j++) total += (double)ti[j] * ((double)at->lse[i] - zi[j]);
    }
    out->data[0] = (float)(total / n);
}

static void soft_backward(tn_graph *g, tn_tensor *out)
{
    const soft_attr *at = out->attr;
    tn_tensor *z = out->in[0], *t = out->in[1];
    float *gz = tn_grad(g, z), *gt = tn_grad(g, t);
    if (tn_graph_status(g) != TN_OK) return;
    const int n = z->shape[0], k = z->shape[1];
    const float c = out->grad[0] / (float)n;
#pragma omp parallel for schedule(static) if ((size_t)n * k >= TN_PAR_MIN)
    for (int i = 0; i < n; i++) {
        const float *zi = z->data + (size_t)i * k, *ti = t->data + (size_t)i * k;
        if (gz) {
            float tsum = 0.0f;
            for (int j = 0; j < k; j++) tsum += ti[j];
            for (int j = 0; j < k; j++)
                gz[(size_t)i * k + j] += c * (expf(zi[j] - at->lse[i]) * tsum - ti[j]);
        }
        if (gt)
            for (int j = 0; j < k; j++) gt[(size_t)i * k + j] += c * (at->lse[i] - zi[j]);
    }
}

const tn_op tn_op_cross_entropy_soft = {.name = "cross_entropy_soft", .check = soft_check,
                                        .forward = soft_forward, .backward = soft_backward};

tn_tensor *tn_cross_entropy_soft(tn_graph *g, tn_tensor *logits, tn_tensor *targets)
{
    soft_attr at = {0};
    return tn_op_apply(g, &tn_op_cross_entropy_soft, 2, (tn_tensor *[]){logits, targets}, &at,
                       sizeof at);
}

/* -------------------------------------------------------------- nll loss
 * loss = -mean_i logp_{i, y_i}. */

static void nll_forward(tn_graph *g, tn_tensor *out)
{
    (void)g;
    const label_attr *at = out->attr;
    const tn_tensor *lp = out->in[0];
    const int n = lp->shape[0], k = lp->shape[1];
    double total = 0.0;
    for (int i = 0; i < n; i++) total -= lp->data[(size_t)i * k + at->labels[i]];
    out->data[0] = (float)(total / n);
}

static void nll_backward(tn_graph *g, tn_tensor *out)
{
    const label_attr *at = out->attr;
    tn_tensor *lp = out->in[0];
    float *gl = tn_grad(g, lp);
    if (!gl) return;
    const int n = lp->shape[0], k = lp->shape[1];
    const float c = out->grad[0] / (float)n;
    for (int i = 0; i < n; i++) gl[(size_t)i * k + at->labels[i]] -= c;
}

const tn_op tn_op_nll_loss = {.name = "nll_loss", .check = label_check, .forward = nll_forward,
                              .backward = nll_backward};

tn_tensor *tn_nll_loss(tn_graph *g, tn_tensor *logp, const int32_t *labels)
{
    if (tn_graph_status(g) != TN_OK) return NULL;
    int32_t *copy = labels_copy(g, "nll_loss", logp, labels);
    if (!copy) return NULL;
    label_attr at = {.labels = copy};
    return tn_op_apply(g, &tn_op_nll_loss, 1, &logp, &at, sizeof at);
}

/* -------------------------------------------------------------- mse loss
 * loss = mean (a - b)^2 over every element. */

static void mse_check(tn_tensor *out)
{
    TN_REQUIRE(out, tn_same_shape(out->in[0], out->in[1]), "a and b must have the same shape");
    tn_set_shape(out, 0, (int[]){1});
}

static void mse_forward(tn_graph *g, tn_tensor *out)
{
    (void)g;
    const float *a = out->in[0]->data, *b = out->in[1]->data;
    const size_t n = out->in[0]->numel;
    double total = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - b[i];
        total += d * d;
    }
    out->data[0] = (float)(total / (double)n);
}

static void mse_backward(tn_graph *g, tn_tensor *out)
{
    float *ga = tn_grad(g, out->in[0]), *gb = tn_grad(g, out->in[1]);
    if (tn_graph_status(g) != TN_OK) return;
    const float *a = out->in[0]->data, *b = out->in[1]->data;
    const size_t n = out->in[0]->numel;
    const float c = 2.0f * out->grad[0] / (float)n;
    for (size_t i = 0; i < n; i++) {
        float d = c * (a[i] - b[i]);
        if (ga) ga[i] += d;
        if (gb) gb[i] -= d;
    }
}

const tn_op tn_op_mse_loss = {.name = "mse_loss", .check = mse_check, .forward = mse_forward,
                              .backward = mse_backward};

tn_tensor *tn_mse_loss(tn_graph *g, tn_tensor *a, tn_tensor *b)
{
    return tn_op_apply(g, &tn_op_mse_loss, 2, (tn_tensor *[]){a, b}, NULL, 0);
}
