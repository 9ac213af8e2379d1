/* tensor/ops_shape.c - reshape and flatten (views that share the input's
 * data and gradient), transpose and permute (copies), concat. */
#include "internal.h"

/* ------------------------------------------------------ reshape, flatten
 * Views: tn_op_apply aliases out->data and out->grad to the input's, so the
 * gradient needs no backward pass; the function only marks the op
 * differentiable and is never put on the tape. */

typedef struct reshape_attr {
    int ndim;
    int shape[TN_MAX_DIMS];
} reshape_attr;

static void view_backward(tn_graph *g, tn_tensor *out)
{
    (void)g;
    (void)out;
}

/* a (...) -> shape, numel kept, one -1 inferred. */
static void reshape_check(tn_tensor *out)
{
    const reshape_attr *at = out->attr;
    const tn_tensor *a = out->in[0];
    int shape[TN_MAX_DIMS], infer = -1;
    size_t known = 1;
    for (int i = 0; i < at->ndim; i++) {
        shape[i] = at->shape[i];
        if (shape[i] == -1) {
            TN_REQUIRE(out, infer < 0, "only one dim may be -1");
            infer = i;
        } else {
            TN_REQUIRE(out, shape[i] > 0, "dim %d is %d, must be > 0 or -1", i, shape[i]);
            known *= (size_t)shape[i];
        }
    }
    if (infer >= 0) {
        TN_REQUIRE(out, a->numel % known == 0, "cannot infer dim %d: %zu elements over %zu",
                   infer, a->numel, known);
        shape[infer] = (int)(a->numel / known);
        known = a->numel;
    }
    TN_REQUIRE(out, known == a->numel, "new shape has %zu elements, input has %zu", known,
               a->numel);
    tn_set_shape(out, at->ndim, shape);
}

/* a (N, ...) -> (N, rest) */
static void flatten_check(tn_tensor *out)
{
    const tn_tensor *a = out->in[0];
    TN_REQUIRE(out, a->ndim >= 2, "needs (N, ...) with at least 2 dims");
    tn_set_shape(out, 2, (int[]){a->shape[0], (int)(a->numel / (size_t)a->shape[0])});
}

static void view_forward(tn_graph *g, tn_tensor *out)
{
    (void)g;
    (void)out; /* out->data already aliases the input's */
}

const tn_op tn_op_reshape = {.name = "reshape", .check = reshape_check, .forward = view_forward,
                             .backward = view_backward, .flags = TN_OP_VIEW};
const tn_op tn_op_flatten = {.name = "flatten", .check = flatten_check, .forward = view_forward,
                             .backward = view_backward, .flags = TN_OP_VIEW};

tn_tensor *tn_reshape(tn_graph *g, tn_tensor *a, int ndim, const int *shape)
{
    if (ndim < 0 || ndim > TN_MAX_DIMS)
        tn_misuse("reshape", "rank %d is not in 0..%d", ndim, TN_MAX_DIMS);
    if (ndim > 0 && !shape) tn_misuse("reshape", "shape is NULL");
    reshape_attr at = {.ndim = ndim};
    for (int i = 0; i < ndim; i++) at.shape[i] = shape[i];
    return tn_op_apply(g, &tn_op_reshape, 1, &a, &at, sizeof at);
}

tn_tensor *tn_flatten(tn_graph *g, tn_tensor *a)
{
    return tn_op_apply(g, &tn_op_flatten, 1, &a, NULL, 0);
}

/* ----------------------------------------------------- permute, transpose
 * out dim i is a's dim perm[i]: out[i0, .., ik] = a[j] with j_perm[i] = i_i.
 * Both are copies through one strided loop over the output, padded to 4 dims. */

typedef struct permute_attr {
    int perm[TN_MAX_DIMS]; /* as given (negative allowed); check normalises */
    int dim0, dim1;        /* transpose only */
} permute_attr;

static void permute_set_shape(tn_tensor *out)
{
    permute_attr *at = out->attr;
    const tn_tensor *a = out->in[0];
    int shape[TN_MAX_DIMS];
    bool seen[TN_MAX_DIMS] = {false};
    for (int i = 0; i < a->ndim; i++) {
        int p = at->perm[i];
        TN_REQUIRE(out, p >= -a->ndim && p < a->ndim, "perm[%d] = %d out of range for %d dims",
                   i, p, a->ndim);
        if (p < 0) p += a->ndim;
        TN_REQUIRE(out, !seen[p], "perm repeats dim %d", p);
        seen[p] = true;
        at->perm[i] = p;
        shape[i] = a->shape[p];
    }
    tn_set_shape(out, a->ndim, shape);
}

static void permute_check(tn_tensor *out) { permute_set_shape(out); }

static void transpose_check(tn_tensor *out)
{
    permute_attr *at = out->attr;
    const tn_tensor *a = out->in[0];
    int d0 = at->dim0, d1 = at->dim1, nd = a->ndim;
    TN_REQUIRE(out, nd >= 1, "needs at least 1 dim");
    TN_REQUIRE(out, d0 >= -nd && d0 < nd && d1 >= -nd && d1 < nd,
               "dims %d, %d out of range for %d dims", d0, d1, nd);
    if (d0 < 0) d0 += nd;
    if (d1 < 0) d1 += nd;
    for (int i = 0; i < nd; i++) at->perm[i] = i;
    at->perm[d0] = d1;
    at->perm[d1] = d0;
    permute_set_shape(out);
}

/* For each output element, the flat index of its source in a.  Iterating
 * the output in order with the source strides permuted. */
static void permute_strides(const tn_tensor *out, int dims[4], size_t src_stride[4])
{
    const permute_attr *at = out->attr;
    const tn_tensor *a = out->in[0];
    size_t a_stride[TN_MAX_DIMS], s = 1;
    for (int i = a->ndim - 1; i >= 0; i--) {
        a_stride[i] = s;
        s *= (size_t)a->shape[i];
    }
    int pad = TN_MAX_DIMS - a->ndim;
    for (int i = 0; i < TN_MAX_DIMS; i++) {
        dims[i] = i < pad ? 1 : out->shape[i - pad];
        src_stride[i] = i < pad ? 0 : a_stride[at->perm[i - pad]];
    }
}

/* dst[out index] = src[a index] (forward), or src_a[a index] += gy[out index]. */
static void permute_run(const tn_tensor *out, const float *from, float *to, bool backward)
{
    int d[4];
    size_t st[4];
    permute_strides(out, d, st);
    size_t rows = (size_t)d[0] * d[1] * d[2];
#pragma omp parallel for if (out->numel >= TN_PAR_MIN) schedule(static)
    for (size_t r = 0; r < rows; r++) {
        size_t i0 = r / ((size_t)d[1] * d[2]), i1 = (r / d[2]) % d[1], i2 = r % d[2];
        size_t base = i0 * st[0] + i1 * st[1] + i2 * st[2], o = r * d[3];
        if (backward)
            for (int i3 = 0; i3 < d[3]; i3++) to[base + i3 * st[3]] += from[o + i3];
        else
            for (int i3 = 0; i3 < d[3]; i3++) to[o + i3] = from[base + i3 * st[3]];
    }
}

static void permute_forward(tn_graph *g, tn_tensor *out)
{
    (void)g;
    permute_run(out, out->in[0]->data, out->data, false);
}

static void permute_backward(tn_graph *g, tn_tensor *out)
{
    float *ga = tn_grad(g, out->in[0]);
    if (ga) permute_run(out, out->grad, ga, true);
}

const tn_op tn_op_permute = {.name = "permute", .check = permute_check,
                             .forward = permute_forward, .backward = permute_backward};
const tn_op tn_op_transpose = {.name = "transpose", .check = transpose_check,
                               .forward = permute_forward, .backward = permute_backward};

tn_tensor *tn_transpose(tn_graph *g, tn_tensor *a, int dim0, int dim1)
{
    permute_attr at = {.dim0 = dim0, .dim1 = dim1};
    return tn_op_apply(g, &tn_op_transpose, 1, &a, &at, sizeof at);
}

tn_tensor *tn_permute(tn_graph *g, tn_tensor *a, const int *perm)
{
    if (tn_graph_status(g) != TN_OK) return NULL; /* a poisoned step: no checks */
    if (!a) tn_misuse("permute", "input 0 is NULL");
    if (!perm) tn_misuse("permute", "perm is NULL");
    permute_attr at = {.dim0 = 0};
    for (int i = 0; i < a->ndim; i++) at.perm[i] = perm[i];
    return tn_op_apply(g, &tn_op_permute, 1, &a, &at, sizeof at);
}

/* ---------------------------------------------------------------- concat
 * n tensors with equal shapes except along `axis` -> the sum along it.
 * Each input is (outer, len_t, inner): out row o is the inputs' rows o
 * side by side. */

typedef struct concat_attr {
    int axis; /* as given; check normalises */
} concat_attr;

static void concat_check(tn_tensor *out)
{
    concat_attr *at = out->attr;
    const tn_tensor *a = out->in[0];
    TN_REQUIRE(out, out->n_in >= 1, "needs at least one tensor");
    int nd = a->ndim;
    TN_REQUIRE(out, nd >= 1, "tensors need at least 1 dim");
    TN_REQUIRE(out, at->axis >= -nd && at->axis < nd, "axis %d out of range for %d dims",
               at->axis, nd);
    if (at->axis < 0) at->axis += nd;
    int shape[TN_MAX_DIMS];
    for (int i = 0; i < nd; i++) shape[i] = a->shape[i];
    for (int t = 1; t < out->n_in; t++) {
        const tn_tensor *b = out->in[t];
        TN_REQUIRE(out, b->ndim == nd, "tensor %d has %d dims, tensor 0 has %d", t, b->ndim, nd);
        for (int i = 0; i < nd; i++)
            TN_REQUIRE(out, i == at->axis || b->shape[i] == a->shape[i],
                       "tensor %d differs from tensor 0 in dim %d (%d vs %d), not the axis %d", t,
                       i, b->shape[i], a->shape[i], at->axis);
        shape[at->axis] += b->shape[at->axis];
    }
    tn_set_shape(out, nd, shape);
}

static void concat_dims(const tn_tensor *out, size_t *outer, size_t *inner)
{
    int axis = ((const concat_attr *)out->attr)->axis;
    *outer = tn_shape_numel(axis, out->shape);
    *inner = tn_shape_numel(out->ndim - axis - 1, out->shape + axis + 1);
}

static void concat_forward(tn_graph *g, tn_tensor *out)
{
    (void)g;
    int axis = ((const concat_attr *)out->attr)->axis;
    size_t outer, inner;
    concat_dims(out, &outer, &inner);
    size_t row = (size_t)out->shape[axis] * inner;
    for (size_t o = 0; o < outer; o++) {
        float *dst = out->data + o * row;
        for (int t = 0; t < out->n_in; t++) {
            size_t chunk = (size_t)out->in[t]->shape[axis] * inner;
            memcpy(dst, out->in[t]->data + o * chunk, chunk * sizeof(float));
            dst += chunk;
        }
    }
}

static void concat_backward(tn_graph *g, tn_tensor *out)
{
    int axis = ((const concat_attr *)out->attr)->axis;
    size_t outer, inner;
    concat_dims(out, &outer, &inner);
    size_t row = (size_t)out->shape[axis] * inner, off = 0;
    for (int t = 0; t < out->n_in; t++) {
        size_t chunk = (size_t)out->in[t]->shape[axis] * inner;
        float *gt = tn_grad(g, out->in[t]);
        if (gt)
            for (size_t o = 0; o < outer; o++) {
                const float *src = out->grad + o * row + off;
                for (size_t i = 0; i < chunk; i++) gt[o * chunk + i] += src[i];
            }
        off += chunk;
    }
}

const tn_op tn_op_concat = {.name = "concat", .check = concat_check, .forward = concat_forward,
                            .backward = concat_backward};

tn_tensor *tn_concat(tn_graph *g, int n, tn_tensor *const *ts, int axis)
{
    if (n < 1 || n > TN_MAX_INPUTS)
        tn_misuse("concat", "%d tensors, must be 1..%d", n, TN_MAX_INPUTS);
    if (!ts) tn_misuse("concat", "ts is NULL");
    return tn_op_apply(g, &tn_op_concat, n, ts, &(concat_attr){axis}, sizeof(concat_attr));
}
