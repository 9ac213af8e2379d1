/* tests/tensor/gradcheck_math.c - gradcheck cases for the element-wise,
 * activation, linear-algebra, reduction and shape ops. */
#include "gradcheck.h"

static tn_tensor *b_add(tn_graph *g, tn_tensor **in, const void *arg)
{
    (void)arg;
    return tn_add(g, in[0], in[1]);
}

#define IN(lo_, hi_, ...) {.ndim = (int)(sizeof((int[]){__VA_ARGS__}) / sizeof(int)), \
                           .shape = {__VA_ARGS__}, .lo = (lo_), .hi = (hi_)}

const gc_case gc_cases_math[] = {
    {"add same shape", "add", b_add, NULL, 2, {IN(-1, 1, 3, 4), IN(-1, 1, 3, 4)}},
    {"add bias over leading dims", "add", b_add, NULL, 2, {IN(-1, 1, 2, 3, 4), IN(-1, 1, 4)}},
};
const size_t gc_n_cases_math = sizeof gc_cases_math / sizeof gc_cases_math[0];
