/* tests/tensor/gradcheck.h - finite-difference gradient checks.
 *
 * A case builds an output from its inputs; the harness checks, for every
 * input element, the analytic d/dx of  f = sum(out * r)  (r a fixed random
 * projection, so every output element's gradient is exercised) against the
 * central difference (f(x + eps) - f(x - eps)) / (2 eps), with f summed in
 * double.  It passes when |analytic - numeric| <= atol + rtol * |numeric|
 * for every element. */
#ifndef TENET_TESTS_GRADCHECK_H
#define TENET_TESTS_GRADCHECK_H

#include "tensor/tensor.h"

#include <stdbool.h>
#include <stddef.h>

typedef tn_tensor *(*gc_build_fn)(tn_graph *g, tn_tensor **in, const void *arg);

typedef struct gc_input {
    int ndim;
    int shape[TN_MAX_DIMS];
    float lo, hi;     /* values drawn uniformly from [lo, hi] */
    bool no_grad;     /* an input that is not differentiated (e.g. targets) */
} gc_input;

typedef struct gc_case {
    const char *name;  /* what is being checked, for the report */
    const char *op;    /* the built-in op this case covers */
    gc_build_fn build;
    const void *arg;   /* passed to build */
    int n_in;
    gc_input in[TN_MAX_INPUTS];
    float eps;         /* finite-difference step; 0 means 1e-3 */
    double atol, rtol; /* 0 means 1e-4 and 1e-3 */
    bool eval;         /* build in eval mode */
} gc_case;

/* Run one case; on failure write what failed (input, index, both values)
 * into report.  Also returns, through covered (may be NULL), a bitmask of
 * whether case->op appeared among the nodes reachable from the output. */
bool gc_run(const gc_case *c, char *report, size_t size);

/* True when a node of op `name` is reachable from the output of case c. */
bool gc_covers(const gc_case *c, const char *name);

/* f = sum(x * r) (x, r the same shape; only x is differentiated): backward
 * from it feeds x the fixed upstream gradient r. */
tn_tensor *gc_dot(tn_graph *g, tn_tensor *x, tn_tensor *r);

/* A malloc'ed copy of n floats (a failed test when out of memory). */
float *gc_copy(const float *p, size_t n);

/* The case tables, one per family of ops. */
extern const gc_case gc_cases_math[]; /* elementwise, activation, linalg, reduce, shape */
extern const size_t gc_n_cases_math;
extern const gc_case gc_cases_nn[];   /* conv, pooling, norm, dropout, losses */
extern const size_t gc_n_cases_nn;

#endif
