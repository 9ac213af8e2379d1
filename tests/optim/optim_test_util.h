/* tests/optim/optim_test_util.h - fixture paths, the tiny MLP of the
 * trajectory and property tests, and comparison helpers. */
#ifndef TENET_OPTIM_TEST_UTIL_H
#define TENET_OPTIM_TEST_UTIL_H

#include "optim/optim.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>

#ifndef TENET_SOURCE_ROOT_DEFAULT
#define TENET_SOURCE_ROOT_DEFAULT "."
#endif

/* "<root>/tests/fixtures/optim/<name>" in a static buffer. */
static inline const char *ot_fixture(const char *name)
{
    static char buf[4096];
    const char *r = getenv("TENET_SOURCE_ROOT");
    snprintf(buf, sizeof buf, "%s/tests/fixtures/optim/%s", r && *r ? r : TENET_SOURCE_ROOT_DEFAULT,
             name);
    return buf;
}

static inline tn_st_file *ot_open(const char *name)
{
    tn_st_file *f = NULL;
    tn_status st = tn_st_open(ot_fixture(name), &f);
    cr_assert_eq(st, TN_OK, "open %s: %s", name, tn_error_message());
    return f;
}

static inline const tn_st_entry *ot_entry(const tn_st_file *f, const char *name)
{
    const tn_st_entry *e = tn_st_find(f, name);
    cr_assert(e, "fixture tensor '%s' is missing", name);
    return e;
}

/* ------------------------------------------------------------------ MLP
 * 4 -> 8 -> 3 with tanh, on 16 fixed points: PyTorch's layout and names. */

#define OT_N 16
#define OT_IN 4
#define OT_HID 8
#define OT_OUT 3

typedef struct ot_mlp {
    tn_params *ps;
    tn_tensor *w1, *b1, *w2, *b2; /* (8, 4), (8), (3, 8), (3) */
    float x[OT_N * OT_IN], y[OT_N * OT_OUT];
    int32_t labels[OT_N];
    tn_graph *g;
} ot_mlp;

/* The MLP with the fixture's initial parameters and data. */
static inline ot_mlp *ot_mlp_new(const tn_st_file *f)
{
    ot_mlp *m = calloc(1, sizeof *m);
    cr_assert(m);
    m->ps = tn_params_new();
    m->w1 = tn_params_add(m->ps, "fc1.weight", TN_SHAPE(OT_HID, OT_IN), TN_PARAM);
    m->b1 = tn_params_add(m->ps, "fc1.bias", TN_SHAPE(OT_HID), TN_PARAM);
    m->w2 = tn_params_add(m->ps, "fc2.weight", TN_SHAPE(OT_OUT, OT_HID), TN_PARAM);
    m->b2 = tn_params_add(m->ps, "fc2.bias", TN_SHAPE(OT_OUT), TN_PARAM);
    tn_tensor *ts[4] = {m->w1, m->b1, m->w2, m->b2};
    for (int i = 0; i < 4; i++) {
        char name[64];
        snprintf(name, sizeof name, "init.%s", ts[i]->name);
        cr_assert_eq(tn_st_read_into(f, name, ts[i]->ndim, ts[i]->shape, ts[i]->data), TN_OK,
                     "%s", tn_error_message());
    }
    cr_assert_eq(tn_st_read_into(f, "data.x", TN_SHAPE(OT_N, OT_IN), m->x), TN_OK);
    cr_assert_eq(tn_st_read_into(f, "data.y", TN_SHAPE(OT_N, OT_OUT), m->y), TN_OK);
    float lab[OT_N];
    cr_assert_eq(tn_st_read_into(f, "data.labels", TN_SHAPE(OT_N), lab), TN_OK);
    for (int i = 0; i < OT_N; i++) m->labels[i] = (int32_t)lab[i];
    m->g = tn_graph_new();
    cr_assert(m->g);
    return m;
}

static inline void ot_mlp_free(ot_mlp *m)
{
    if (!m) return;
    tn_graph_free(m->g);
    tn_params_free(m->ps);
    free(m);
}

/* The data loss (MSE or cross-entropy) times `scale`, as graph ops. */
static inline tn_tensor *ot_mlp_loss(ot_mlp *m, bool ce, float scale)
{
    tn_graph *g = m->g;
    tn_tensor *x = tn_from_data(g, TN_SHAPE(OT_N, OT_IN), m->x);
    tn_tensor *h = tn_tanh(g, tn_linear(g, x, m->w1, m->b1));
    tn_tensor *out = tn_linear(g, h, m->w2, m->b2);
    tn_tensor *loss = ce ? tn_cross_entropy(g, out, m->labels, 0.0f)
                         : tn_mse_loss(g, out, tn_from_data(g, TN_SHAPE(OT_N, OT_OUT), m->y));
    return scale == 1.0f ? loss : tn_scale(g, loss, scale);
}

/* Gradients of loss×scale (+ the optimizer's penalty when opt is given)
 * into the store; returns the data loss. */
static inline float ot_mlp_grad(ot_mlp *m, tn_optim *opt, bool ce, float scale)
{
    tn_graph_reset(m->g);
    tn_params_zero_grad(m->ps);
    tn_tensor *loss = ot_mlp_loss(m, ce, scale);
    tn_tensor *total = loss;
    if (opt) total = tn_add(m->g, loss, tn_optim_penalty(opt, m->g));
    cr_assert_eq(tn_backward(m->g, total), TN_OK, "%s", tn_error_message());
    return loss->data[0];
}

/* An optimizer that must be made. */
static inline tn_optim *ot_optim_new(tn_params *ps, const tn_optim_config *cfg)
{
    tn_optim *o = NULL;
    tn_status st = tn_optim_new(ps, cfg, &o);
    cr_assert_eq(st, TN_OK, "tn_optim_new: %s", tn_error_message());
    cr_assert(o);
    return o;
}

/* Add a group that must be added; returns its index. */
static inline size_t ot_group_add(tn_optim *o, tn_optim_group spec)
{
    size_t gi = SIZE_MAX;
    tn_status st = tn_optim_group_add(o, &spec, &gi);
    cr_assert_eq(st, TN_OK, "tn_optim_group_add: %s", tn_error_message());
    return gi;
}

/* Largest |a - b| / max(|b|, floor) over n floats; *at (if not NULL)
 * gets its index. */
static inline double ot_max_rel_at(const float *a, const float *b, size_t n, double floor,
                                   size_t *at)
{
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        double r = d / fmax(fabs((double)b[i]), floor);
        if (!(r <= worst)) { /* NaN wins */
            worst = r;
            if (at) *at = i;
        }
    }
    return worst;
}

static inline double ot_max_rel(const float *a, const float *b, size_t n, double floor)
{
    return ot_max_rel_at(a, b, n, floor, NULL);
}

/* A copy of the store's values. */
static inline float *ot_snapshot(const tn_params *ps)
{
    size_t n = tn_params_size(ps);
    float *v = malloc((n ? n : 1) * sizeof *v);
    cr_assert(v);
    memcpy(v, tn_params_values(ps), n * sizeof *v);
    return v;
}

#endif
