/* tests/tensor/gradcheck.c - the finite-difference harness. */
#include "gradcheck.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* f = sum(x * r): a small custom op, so that feeding a fixed upstream
 * gradient r relies on no op under test. */
static void dot_check(tn_tensor *out)
{
    if (!tn_same_shape(out->in[0], out->in[1])) tn_misuse("gc_dot", "x and r shapes differ");
    out->ndim = 0;
}

static void dot_forward(tn_graph *g, tn_tensor *out)
{
    (void)g;
    const tn_tensor *x = out->in[0], *r = out->in[1];
    double s = 0.0;
    for (size_t i = 0; i < x->numel; i++) s += (double)x->data[i] * r->data[i];
    out->data[0] = (float)s;
}

static void dot_backward(tn_graph *g, tn_tensor *out)
{
    const float *r = out->in[1]->data;
    float *gx = tn_grad(g, out->in[0]);
    if (gx)
        for (size_t i = 0; i < out->in[0]->numel; i++) gx[i] += out->grad[0] * r[i];
}

static const tn_op dot_op = {.name = "gc_dot", .check = dot_check, .forward = dot_forward,
                             .backward = dot_backward};

tn_tensor *gc_dot(tn_graph *g, tn_tensor *x, tn_tensor *r)
{
    return tn_op_apply(g, &dot_op, 2, (tn_tensor *[]){x, r}, NULL, 0);
}

typedef struct harness {
    const gc_case *c;
    float *x[TN_MAX_INPUTS];
    float *r;
    size_t r_n;
    tn_graph *g;
} harness;

static tn_tensor *build(harness *h, tn_tensor **in)
{
    const gc_case *c = h->c;
    tn_graph_reset(h->g);
    tn_graph_set_training(h->g, !c->eval);
    for (int i = 0; i < c->n_in; i++) {
        in[i] = tn_from_data(h->g, c->in[i].ndim, c->in[i].shape, h->x[i]);
        if (!c->in[i].no_grad) tn_requires_grad(h->g, in[i]);
    }
    return c->build(h->g, in, c->arg);
}

/* f(x) in double, from the output of one forward pass. */
static double eval_f(harness *h)
{
    tn_tensor *in[TN_MAX_INPUTS];
    tn_tensor *out = build(h, in);
    double s = 0.0;
    for (size_t i = 0; i < out->numel; i++) s += (double)out->data[i] * h->r[i];
    return s;
}

static bool setup(harness *h, const gc_case *c)
{
    memset(h, 0, sizeof *h);
    h->c = c;
    h->g = tn_graph_new();
    tn_rng rng;
    tn_rng_seed(&rng, 1234, 7);
    for (int i = 0; i < c->n_in; i++) {
        size_t n = tn_shape_numel(c->in[i].ndim, c->in[i].shape);
        h->x[i] = malloc(n * sizeof(float));
        tn_fill_uniform(h->x[i], n, c->in[i].lo, c->in[i].hi, &rng);
    }
    tn_tensor *in[TN_MAX_INPUTS];
    tn_tensor *out = build(h, in);
    h->r_n = out->numel;
    h->r = malloc(h->r_n * sizeof(float));
    tn_fill_uniform(h->r, h->r_n, -1.0f, 1.0f, &rng);
    return true;
}

static void teardown(harness *h)
{
    for (int i = 0; i < h->c->n_in; i++) free(h->x[i]);
    free(h->r);
    tn_graph_free(h->g);
}

bool gc_run(const gc_case *c, char *report, size_t size)
{
    harness h;
    setup(&h, c);
    double eps = c->eps > 0 ? c->eps : 1e-3, atol = c->atol > 0 ? c->atol : 1e-4,
           rtol = c->rtol > 0 ? c->rtol : 1e-3;

    /* Analytic gradients, copied out before the numeric passes reset the graph. */
    tn_tensor *in[TN_MAX_INPUTS];
    tn_tensor *out = build(&h, in);
    tn_tensor *f = gc_dot(h.g, out, tn_from_data(h.g, out->ndim, out->shape, h.r));
    bool ok = true;
    snprintf(report, size, "%s: ok", c->name);
    if (!f->requires_grad) {
        snprintf(report, size, "%s: output does not require grad", c->name);
        teardown(&h);
        return false;
    }
    tn_backward(h.g, f);
    float *grads[TN_MAX_INPUTS] = {0};
    for (int i = 0; i < c->n_in; i++) {
        if (c->in[i].no_grad) continue;
        size_t n = in[i]->numel;
        grads[i] = calloc(n, sizeof(float));
        if (in[i]->grad) memcpy(grads[i], in[i]->grad, n * sizeof(float));
    }

    double worst = 0.0;
    for (int i = 0; i < c->n_in && ok; i++) {
        if (c->in[i].no_grad) continue;
        size_t n = tn_shape_numel(c->in[i].ndim, c->in[i].shape);
        for (size_t j = 0; j < n && ok; j++) {
            float x0 = h.x[i][j];
            h.x[i][j] = (float)(x0 + eps);
            double fp = eval_f(&h);
            h.x[i][j] = (float)(x0 - eps);
            double fm = eval_f(&h);
            h.x[i][j] = x0;
            double num = (fp - fm) / (2 * eps), ana = grads[i][j];
            double err = fabs(ana - num), tol = atol + rtol * fabs(num);
            if (err / tol > worst) worst = err / tol;
            if (!(err <= tol)) {
                snprintf(report, size,
                         "%s: input %d element %zu: analytic %.7g, numeric %.7g "
                         "(|diff| %.3g > tol %.3g)",
                         c->name, i, j, ana, num, err, tol);
                ok = false;
            }
        }
    }
    if (ok) snprintf(report, size, "%s: ok (worst error/tolerance %.3f)", c->name, worst);
    for (int i = 0; i < c->n_in; i++) free(grads[i]);
    teardown(&h);
    return ok;
}

static bool reaches(const tn_tensor *t, const char *name, int depth)
{
    if (!t || depth > 64) return false;
    if (t->op && strcmp(t->op->name, name) == 0) return true;
    for (int i = 0; i < t->n_in; i++)
        if (reaches(t->in[i], name, depth + 1)) return true;
    return false;
}

bool gc_covers(const gc_case *c, const char *name)
{
    harness h;
    setup(&h, c);
    tn_tensor *in[TN_MAX_INPUTS];
    bool found = reaches(build(&h, in), name, 0);
    teardown(&h);
    return found;
}

float *gc_copy(const float *p, size_t n)
{
    float *q = malloc(n * sizeof(float));
    if (!q) {
        fprintf(stderr, "gc_copy: out of memory\n");
        abort();
    }
    memcpy(q, p, n * sizeof(float));
    return q;
}
