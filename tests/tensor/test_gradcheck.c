/* tests/tensor/test_gradcheck.c - every op's gradient by finite differences,
 * and a coverage test that fails when a built-in op has no case. */
#include "gradcheck.h"

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <string.h>

static void run_table(const gc_case *cases, size_t n)
{
    cr_assert(n > 0, "empty gradcheck table");
    for (size_t i = 0; i < n; i++) {
        char report[512];
        bool ok = gc_run(&cases[i], report, sizeof report);
        cr_expect(ok, "%s", report);
        cr_log_info("%s", report);
    }
}

Test(gradcheck, math_ops) { run_table(gc_cases_math, gc_n_cases_math); }
Test(gradcheck, nn_ops) { run_table(gc_cases_nn, gc_n_cases_nn); }

Test(gradcheck, every_builtin_op_has_a_case)
{
    cr_assert(tn_builtin_ops_count > 0);
    for (size_t k = 0; k < tn_builtin_ops_count; k++) {
        const char *name = tn_builtin_ops[k]->name;
        bool covered = false;
        for (size_t i = 0; i < gc_n_cases_math && !covered; i++)
            covered = strcmp(gc_cases_math[i].op, name) == 0 && gc_covers(&gc_cases_math[i], name);
        for (size_t i = 0; i < gc_n_cases_nn && !covered; i++)
            covered = strcmp(gc_cases_nn[i].op, name) == 0 && gc_covers(&gc_cases_nn[i], name);
        cr_expect(covered, "op '%s' has no gradcheck case that reaches it", name);
    }
}
