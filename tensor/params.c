/* tensor/params.c - the parameter store: one flat value buffer, one flat
 * gradient buffer, and named views into them with flags. */
#include "internal.h"

#include <stdlib.h>

#define SLOT_ALIGN 16 /* floats: every view starts on a 64-byte boundary */

struct tn_params {
    tn_tensor **items;
    size_t *offsets;
    unsigned *flags;
    size_t count, cap;
    float *values, *grads;
    size_t size, cap_floats;
};

tn_params *tn_params_new(void)
{
    tn_params *ps = calloc(1, sizeof *ps);
    if (!ps) tn_error_set(TN_ERR_NOMEM, "tenet: tn_params_new: out of memory");
    return ps;
}

void tn_params_free(tn_params *ps)
{
    if (!ps) return;
    for (size_t i = 0; i < ps->count; i++) {
        free((char *)ps->items[i]->name);
        free(ps->items[i]);
    }
    free(ps->items);
    free(ps->offsets);
    free(ps->flags);
    free(ps->values);
    free(ps->grads);
    free(ps);
}

/* Point every view at its slot (after the buffers moved). */
static void rebind(tn_params *ps)
{
    for (size_t i = 0; i < ps->count; i++) {
        tn_tensor *t = ps->items[i];
        t->data = ps->values + ps->offsets[i];
        t->grad = (ps->flags[i] & TN_PARAM) ? ps->grads + ps->offsets[i] : NULL;
        t->requires_grad = (ps->flags[i] & TN_PARAM) != 0;
    }
}

static bool grow_floats(tn_params *ps, size_t need)
{
    if (need <= ps->cap_floats) return true;
    size_t cap = ps->cap_floats ? ps->cap_floats : 4096;
    while (cap < need) cap *= 2;
    float *v = aligned_alloc(64, cap * sizeof(float));
    float *g = aligned_alloc(64, cap * sizeof(float));
    if (!v || !g) {
        free(v);
        free(g);
        return false;
    }
    memset(v, 0, cap * sizeof(float));
    memset(g, 0, cap * sizeof(float));
    if (ps->size) {
        memcpy(v, ps->values, ps->size * sizeof(float));
        memcpy(g, ps->grads, ps->size * sizeof(float));
    }
    free(ps->values);
    free(ps->grads);
    ps->values = v;
    ps->grads = g;
    ps->cap_floats = cap;
    return true;
}

static bool grow_items(tn_params *ps)
{
    if (ps->count < ps->cap) return true;
    size_t cap = ps->cap ? 2 * ps->cap : 32;
    tn_tensor **items = realloc(ps->items, cap * sizeof *items);
    if (items) ps->items = items;
    size_t *offsets = realloc(ps->offsets, cap * sizeof *offsets);
    if (offsets) ps->offsets = offsets;
    unsigned *flags = realloc(ps->flags, cap * sizeof *flags);
    if (flags) ps->flags = flags;
    if (!items || !offsets || !flags) return false;
    ps->cap = cap;
    return true;
}

tn_tensor *tn_params_add(tn_params *ps, const char *name, int ndim, const int *shape,
                         unsigned flags)
{
    if (!ps || !name || !*name) tn_misuse("tn_params_add", "store and a non-empty name are required");
    if (ndim < 0 || ndim > TN_MAX_DIMS) tn_misuse("tn_params_add", "'%s': rank %d is not in 0..%d", name, ndim, TN_MAX_DIMS);
    for (int i = 0; i < ndim; i++)
        if (shape[i] <= 0) tn_misuse("tn_params_add", "'%s': dim %d is %d", name, i, shape[i]);
    if (!(flags & TN_PARAM) == !(flags & TN_BUFFER))
        tn_misuse("tn_params_add", "'%s': flags need exactly one of TN_PARAM and TN_BUFFER", name);
    if (tn_params_find(ps, name)) tn_misuse("tn_params_add", "'%s' is already in the store", name);
    if ((flags & TN_PARAM) && ndim < 2 && !(flags & TN_DECAY)) flags |= TN_NO_DECAY;

    size_t numel = tn_shape_numel(ndim, shape);
    size_t offset = (ps->size + SLOT_ALIGN - 1) / SLOT_ALIGN * SLOT_ALIGN;
    tn_tensor *t = calloc(1, sizeof *t);
    char *copy = malloc(strlen(name) + 1);
    if (!t || !copy || !grow_items(ps) || !grow_floats(ps, offset + numel)) {
        free(t);
        free(copy);
        tn_error_set(TN_ERR_NOMEM, "tenet: tn_params_add: out of memory adding '%s'", name);
        return NULL;
    }
    strcpy(copy, name);
    t->name = copy;
    t->ndim = ndim;
    if (ndim) memcpy(t->shape, shape, (size_t)ndim * sizeof(int));
    t->numel = numel;
    ps->items[ps->count] = t;
    ps->offsets[ps->count] = offset;
    ps->flags[ps->count] = flags;
    ps->count++;
    ps->size = offset + numel;
    rebind(ps);
    return t;
}

size_t tn_params_count(const tn_params *ps) { return ps->count; }

static void check_index(const tn_params *ps, size_t i, const char *who)
{
    if (i >= ps->count) tn_misuse(who, "index %zu, store has %zu tensors", i, ps->count);
}

tn_tensor *tn_params_at(const tn_params *ps, size_t i)
{
    check_index(ps, i, "tn_params_at");
    return ps->items[i];
}

tn_tensor *tn_params_find(const tn_params *ps, const char *name)
{
    for (size_t i = 0; i < ps->count; i++)
        if (strcmp(ps->items[i]->name, name) == 0) return ps->items[i];
    return NULL;
}

unsigned tn_params_flags(const tn_params *ps, size_t i)
{
    check_index(ps, i, "tn_params_flags");
    return ps->flags[i];
}

void tn_params_set_flags(tn_params *ps, size_t i, unsigned flags)
{
    check_index(ps, i, "tn_params_set_flags");
    if (!(flags & TN_PARAM) == !(flags & TN_BUFFER))
        tn_misuse("tn_params_set_flags", "'%s': flags need exactly one of TN_PARAM and TN_BUFFER",
                  ps->items[i]->name);
    ps->flags[i] = flags;
    rebind(ps);
}

size_t tn_params_offset(const tn_params *ps, size_t i)
{
    check_index(ps, i, "tn_params_offset");
    return ps->offsets[i];
}

float *tn_params_values(const tn_params *ps) { return ps->values; }
float *tn_params_grads(const tn_params *ps) { return ps->grads; }
size_t tn_params_size(const tn_params *ps) { return ps->size; }

size_t tn_params_numel(const tn_params *ps, unsigned flag)
{
    size_t n = 0;
    for (size_t i = 0; i < ps->count; i++)
        if (ps->flags[i] & flag) n += ps->items[i]->numel;
    return n;
}

void tn_params_zero_grad(tn_params *ps)
{
    if (ps->size) memset(ps->grads, 0, ps->size * sizeof(float));
}
