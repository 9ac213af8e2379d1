/* tensor/graph.c - the per-step graph: a chunked bump arena that resets in
 * O(1), the tape of recorded nodes, tn_op_apply() and tn_backward(). */
#include "internal.h"

#include "dist.h"

#include <stdlib.h>

#define ARENA_ALIGN 64
#define ARENA_MIN_CHUNK ((size_t)4 << 20)

typedef struct chunk {
    struct chunk *next;
    size_t size, used;
    unsigned char *mem;
} chunk;

struct tn_graph {
    chunk *first, *cur;
    size_t used_before; /* bytes used in the chunks before cur */
    size_t high_water, reserved;

    tn_tensor **tape;
    size_t tape_len, tape_cap;

    float *scratch;
    size_t scratch_cap;

    bool training, grad_enabled;
    tn_status status;

    tn_backward_hook hook; /* tn_graph_set_backward_hook */
    void *hook_ctx;
    bool sync_bn;
    double rank_weight;
};

/* ----------------------------------------------------------------- arena */

static tn_status poison(tn_graph *g, size_t bytes)
{
    if (g->status == TN_OK)
        g->status = tn_error_set(TN_ERR_NOMEM, "tenet: graph arena: cannot allocate %zu bytes",
                                 bytes);
    return g->status;
}

static chunk *chunk_new(size_t size)
{
    chunk *c = malloc(sizeof *c);
    if (!c) return NULL;
    c->mem = aligned_alloc(ARENA_ALIGN, size);
    if (!c->mem) {
        free(c);
        return NULL;
    }
    c->size = size;
    c->used = 0;
    c->next = NULL;
    return c;
}

void *tn_graph_alloc(tn_graph *g, size_t bytes)
{
    if (g->status != TN_OK) return NULL;
    bytes = (bytes + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (bytes == 0) bytes = ARENA_ALIGN;
    chunk *c = g->cur;
    if (c->used + bytes > c->size) {
        /* Move on to the next chunk if it fits, else insert a new one here:
         * the same allocation sequence reuses the same chunks every step. */
        chunk *next = c->next;
        if (!next || next->size < bytes) {
            size_t size = g->reserved > ARENA_MIN_CHUNK ? g->reserved : ARENA_MIN_CHUNK;
            if (size < bytes) size = bytes;
            chunk *n = chunk_new(size);
            if (!n) return poison(g, bytes), NULL;
            n->next = next;
            c->next = n;
            g->reserved += size;
            next = n;
        }
        g->used_before += c->used;
        c = g->cur = next;
        c->used = 0;
    }
    void *p = c->mem + c->used;
    c->used += bytes;
    size_t used = g->used_before + c->used;
    if (used > g->high_water) g->high_water = used;
    return p;
}

float *tn_graph_floats(tn_graph *g, size_t n) { return tn_graph_alloc(g, n * sizeof(float)); }

float *tn_graph_zeros(tn_graph *g, size_t n)
{
    float *p = tn_graph_floats(g, n);
    if (p) memset(p, 0, n * sizeof(float));
    return p;
}

float *tn_graph_scratch(tn_graph *g, size_t n)
{
    if (g->status != TN_OK) return NULL;
    if (n > g->scratch_cap) {
        free(g->scratch);
        g->scratch = aligned_alloc(ARENA_ALIGN, (n * sizeof(float) + ARENA_ALIGN - 1) &
                                                    ~(size_t)(ARENA_ALIGN - 1));
        g->scratch_cap = g->scratch ? n : 0;
        if (!g->scratch) return poison(g, n * sizeof(float)), NULL;
    }
    return g->scratch;
}

size_t tn_graph_arena_used(const tn_graph *g) { return g->used_before + g->cur->used; }
size_t tn_graph_arena_high_water(const tn_graph *g) { return g->high_water; }
size_t tn_graph_arena_reserved(const tn_graph *g) { return g->reserved; }

/* ----------------------------------------------------------------- graph */

tn_graph *tn_graph_new(void)
{
    tn_graph *g = calloc(1, sizeof *g);
    if (!g || !(g->first = chunk_new(ARENA_MIN_CHUNK))) {
        free(g);
        tn_error_set(TN_ERR_NOMEM, "tenet: tn_graph_new: out of memory");
        return NULL;
    }
    g->cur = g->first;
    g->reserved = ARENA_MIN_CHUNK;
    g->training = true;
    g->grad_enabled = true;
    g->rank_weight = 1.0 / tn_dist_size();
    return g;
}

void tn_graph_free(tn_graph *g)
{
    if (!g) return;
    for (chunk *c = g->first, *next; c; c = next) {
        next = c->next;
        free(c->mem);
        free(c);
    }
    free(g->tape);
    free(g->scratch);
    free(g);
}

void tn_graph_reset(tn_graph *g)
{
    g->cur = g->first;
    g->first->used = 0;
    g->used_before = 0;
    g->tape_len = 0;
    g->status = TN_OK;
}

void tn_graph_set_training(tn_graph *g, bool training) { g->training = training; }
bool tn_graph_training(const tn_graph *g) { return g->training; }
void tn_graph_set_grad(tn_graph *g, bool enabled) { g->grad_enabled = enabled; }
bool tn_graph_grad_enabled(const tn_graph *g) { return g->grad_enabled; }
tn_status tn_graph_status(const tn_graph *g) { return g->status; }
size_t tn_graph_tape_len(const tn_graph *g) { return g->tape_len; }
const tn_tensor *tn_graph_tape_node(const tn_graph *g, size_t i)
{
    return i < g->tape_len ? g->tape[i] : NULL;
}

void tn_graph_poison(tn_graph *g, tn_status st)
{
    if (g->status == TN_OK) g->status = st;
}

void tn_graph_set_backward_hook(tn_graph *g, tn_backward_hook fn, void *ctx)
{
    g->hook = fn;
    g->hook_ctx = ctx;
}

void tn_graph_set_sync_bn(tn_graph *g, bool sync)
{
    g->sync_bn = sync;
    g->rank_weight = 1.0 / tn_dist_size();
}
bool tn_graph_sync_bn(const tn_graph *g) { return g->sync_bn; }
void tn_graph_set_rank_weight(tn_graph *g, double w) { g->rank_weight = w; }
double tn_graph_rank_weight(const tn_graph *g) { return g->rank_weight; }

/* -------------------------------------------------------------- creation */

static tn_tensor *new_tensor(tn_graph *g, const char *who, int ndim, const int *shape)
{
    if (ndim < 0 || ndim > TN_MAX_DIMS) tn_misuse(who, "rank %d is not in 0..%d", ndim, TN_MAX_DIMS);
    for (int i = 0; i < ndim; i++)
        if (shape[i] <= 0) tn_misuse(who, "dim %d is %d, must be > 0", i, shape[i]);
    tn_tensor *t = tn_graph_alloc(g, sizeof *t);
    if (!t) return NULL;
    memset(t, 0, sizeof *t);
    t->ndim = ndim;
    if (ndim) memcpy(t->shape, shape, (size_t)ndim * sizeof(int));
    t->numel = tn_shape_numel(ndim, shape);
    t->data = tn_graph_floats(g, t->numel);
    return t->data ? t : NULL;
}

tn_tensor *tn_empty(tn_graph *g, int ndim, const int *shape)
{
    return new_tensor(g, "tn_empty", ndim, shape);
}

tn_tensor *tn_full(tn_graph *g, int ndim, const int *shape, float value)
{
    tn_tensor *t = new_tensor(g, "tn_full", ndim, shape);
    if (t)
        for (size_t i = 0; i < t->numel; i++) t->data[i] = value;
    return t;
}

tn_tensor *tn_zeros(tn_graph *g, int ndim, const int *shape)
{
    return tn_full(g, ndim, shape, 0.0f);
}

tn_tensor *tn_ones(tn_graph *g, int ndim, const int *shape)
{
    return tn_full(g, ndim, shape, 1.0f);
}

tn_tensor *tn_from_data(tn_graph *g, int ndim, const int *shape, const float *data)
{
    if (!data) tn_misuse("tn_from_data", "data is NULL");
    tn_tensor *t = new_tensor(g, "tn_from_data", ndim, shape);
    if (t) memcpy(t->data, data, t->numel * sizeof(float));
    return t;
}

tn_tensor *tn_uniform(tn_graph *g, int ndim, const int *shape, float lo, float hi, tn_rng *rng)
{
    tn_tensor *t = new_tensor(g, "tn_uniform", ndim, shape);
    if (t) tn_fill_uniform(t->data, t->numel, lo, hi, rng);
    return t;
}

tn_tensor *tn_normal(tn_graph *g, int ndim, const int *shape, float mean, float std,
                     tn_rng *rng)
{
    tn_tensor *t = new_tensor(g, "tn_normal", ndim, shape);
    if (t) tn_fill_normal(t->data, t->numel, mean, std, rng);
    return t;
}

tn_tensor *tn_requires_grad(tn_graph *g, tn_tensor *t)
{
    (void)g;
    if (!t) return NULL;
    if (t->op) tn_misuse("tn_requires_grad", "only leaves can be marked (this is an op output)");
    t->requires_grad = true;
    return t;
}

/* ------------------------------------------------------------- profiling */

#define PROFILE_MAX 128

static bool profile_on;
static tn_profile_entry profile_tab[PROFILE_MAX];
static size_t profile_len;

void tn_profile_enable(bool on) { profile_on = on; }
bool tn_profile_enabled(void) { return profile_on; }
void tn_profile_reset(void) { profile_len = 0; }
size_t tn_profile_count(void) { return profile_len; }
const tn_profile_entry *tn_profile_at(size_t i) { return i < profile_len ? &profile_tab[i] : NULL; }

void tn_profile_add(const char *name, bool backward, double seconds)
{
    if (!profile_on || !name) return;
    tn_profile_entry *e = NULL;
    for (size_t i = 0; i < profile_len && !e; i++)
        if (profile_tab[i].name == name || strcmp(profile_tab[i].name, name) == 0)
            e = &profile_tab[i];
    if (!e) {
        if (profile_len == PROFILE_MAX) return; /* full: further names are not recorded */
        e = &profile_tab[profile_len++];
        *e = (tn_profile_entry){.name = name};
    }
    if (backward) {
        e->backward_s += seconds;
        e->backward_calls++;
    } else {
        e->forward_s += seconds;
        e->forward_calls++;
    }
}

/* ------------------------------------------------------------ ops, tape */

float *tn_grad(tn_graph *g, tn_tensor *t)
{
    if (!t->requires_grad) return NULL;
    if (!t->grad) t->grad = tn_graph_zeros(g, t->numel);
    return t->grad;
}

static bool tape_push(tn_graph *g, tn_tensor *t)
{
    if (g->tape_len == g->tape_cap) {
        size_t cap = g->tape_cap ? 2 * g->tape_cap : 256;
        tn_tensor **tape = realloc(g->tape, cap * sizeof *tape);
        if (!tape) return poison(g, cap * sizeof *tape), false;
        g->tape = tape;
        g->tape_cap = cap;
    }
    g->tape[g->tape_len++] = t;
    return true;
}

tn_tensor *tn_op_apply(tn_graph *g, const tn_op *op, int n_in, tn_tensor *const *in,
                       const void *attr, size_t attr_size)
{
    if (!g || !op || !op->check || !op->forward)
        tn_misuse(op && op->name ? op->name : "tn_op_apply", "graph, op, check and forward are required");
    if (n_in < 0 || n_in > TN_MAX_INPUTS)
        tn_misuse(op->name, "%d inputs, at most %d", n_in, TN_MAX_INPUTS);
    if (g->status != TN_OK) return NULL;
    for (int i = 0; i < n_in; i++)
        if (!in[i]) tn_misuse(op->name, "input %d is NULL", i);

    tn_tensor *out = tn_graph_alloc(g, sizeof *out);
    if (!out) return NULL;
    memset(out, 0, sizeof *out);
    out->op = op;
    out->n_in = n_in;
    for (int i = 0; i < n_in; i++) out->in[i] = in[i];
    if (attr_size) {
        out->attr = tn_graph_alloc(g, attr_size);
        if (!out->attr) return NULL;
        memcpy(out->attr, attr, attr_size);
    }
    op->check(out);
    out->numel = tn_shape_numel(out->ndim, out->shape);

    if (g->grad_enabled && op->backward)
        for (int i = 0; i < n_in; i++) out->requires_grad |= in[i]->requires_grad;

    if (op->flags & TN_OP_VIEW) {
        TN_REQUIRE(out, n_in >= 1 && out->numel == in[0]->numel, "a view must keep numel");
        out->data = in[0]->data;
        if (out->requires_grad && !(out->grad = tn_grad(g, in[0]))) return NULL;
    } else if (!(out->data = tn_graph_floats(g, out->numel))) {
        return NULL;
    }
    if (profile_on) {
        double t0 = tn_clock_now();
        op->forward(g, out);
        tn_profile_add(op->name, false, tn_clock_now() - t0);
    } else {
        op->forward(g, out);
    }
    if (g->status != TN_OK) return NULL;
    if (out->requires_grad && !(op->flags & TN_OP_VIEW) && !tape_push(g, out)) return NULL;
    return out;
}

tn_status tn_backward(tn_graph *g, tn_tensor *loss)
{
    if (g->status != TN_OK) return g->status;
    if (!loss) tn_misuse("tn_backward", "loss is NULL");
    if (loss->numel != 1) {
        char buf[64];
        tn_misuse("tn_backward", "loss must have one element, got shape %s",
                  tn_shape_str(loss, buf, sizeof buf));
    }
    if (!loss->requires_grad)
        tn_misuse("tn_backward", "loss does not depend on anything that requires a gradient "
                                 "(no parameters, or recorded with gradients disabled)");
    float *dl = tn_grad(g, loss);
    if (!dl) return g->status;
    dl[0] = 1.0f;
    if (g->hook) g->hook(g->hook_ctx, g, g->tape_len);
    for (size_t i = g->tape_len; i-- > 0;) {
        tn_tensor *node = g->tape[i];
        if (!node->grad) { /* nothing flowed into it */
            if (g->hook) g->hook(g->hook_ctx, g, i);
            continue;
        }
        if (profile_on) {
            double t0 = tn_clock_now();
            node->op->backward(g, node);
            tn_profile_add(node->op->name, true, tn_clock_now() - t0);
        } else {
            node->op->backward(g, node);
        }
        if (g->status != TN_OK) return g->status;
        if (g->hook) g->hook(g->hook_ctx, g, i);
    }
    return TN_OK;
}

/* ------------------------------------------------------------ op listing */

#define TN_OP_ADDRESS(name) &tn_op_##name,
const tn_op *const tn_builtin_ops[] = {TN_BUILTIN_OPS(TN_OP_ADDRESS) NULL};
const size_t tn_builtin_ops_count = sizeof tn_builtin_ops / sizeof tn_builtin_ops[0] - 1;
