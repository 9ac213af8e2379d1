/* tests/tensor/test_core.c - the graph, its arena and tape, the parameter
 * store, the RNG, the clock, and misuse aborts. */
#include "tensor/tensor.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* The one clock: monotonic, in seconds, and it measures a sleep. */
Test(clock, monotonic_seconds)
{
    double t0 = tn_clock_now(), prev = t0;
    for (int i = 0; i < 10000; i++) {
        double t = tn_clock_now();
        cr_assert_geq(t, prev);
        prev = t;
    }
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
    double dt = tn_clock_now() - t0;
    cr_assert(dt >= 0.020 && dt < 5.0, "a 20 ms sleep measured %g s", dt);
}

Test(rng, same_seed_same_stream_and_ranges)
{
    tn_rng a, b, c;
    tn_rng_seed(&a, 42, 1);
    tn_rng_seed(&b, 42, 1);
    tn_rng_seed(&c, 43, 1);
    int differ = 0;
    for (int i = 0; i < 1000; i++) {
        uint32_t x = tn_rng_u32(&a), y = tn_rng_u32(&b);
        cr_assert_eq(x, y);
        differ += x != tn_rng_u32(&c);
        float u = tn_rng_uniform(&a);
        tn_rng_uniform(&b);
        cr_assert(u >= 0.0f && u < 1.0f);
        cr_assert(tn_rng_below(&a, 7) < 7);
        tn_rng_below(&b, 7);
    }
    cr_assert_gt(differ, 990);
}

Test(rng, normal_moments)
{
    tn_rng r;
    tn_rng_seed(&r, 7, 0);
    double s = 0, s2 = 0;
    int n = 200000;
    for (int i = 0; i < n; i++) {
        double x = tn_rng_normal(&r);
        s += x;
        s2 += x * x;
    }
    cr_assert_float_eq(s / n, 0.0, 0.01);
    cr_assert_float_eq(s2 / n, 1.0, 0.01);
}

Test(graph, backward_accumulates_into_leaves)
{
    tn_graph *g = tn_graph_new();
    tn_tensor *a = tn_requires_grad(g, tn_from_data(g, TN_SHAPE(2, 2), (float[]){1, 2, 3, 4}));
    tn_tensor *b = tn_requires_grad(g, tn_from_data(g, TN_SHAPE(2), (float[]){10, 20}));
    tn_tensor *y = tn_add(g, a, b);
    cr_assert_eq(y->data[3], 24.0f);
    tn_add(g, y, a);
    cr_assert_eq(tn_graph_tape_len(g), 2);
    tn_graph_set_grad(g, false);
    tn_tensor *w = tn_add(g, a, b);
    cr_assert(!w->requires_grad, "no-grad mode must not record");
    cr_assert_eq(tn_graph_tape_len(g), 2);
    tn_graph_set_grad(g, true);
    tn_graph_free(g);
}

Test(graph, reset_is_flat_and_status_clears)
{
    tn_graph *g = tn_graph_new();
    size_t hw = 0;
    for (int step = 0; step < 50; step++) {
        tn_graph_reset(g);
        cr_assert_eq(tn_graph_arena_used(g), 0);
        for (int k = 0; k < 20; k++) tn_zeros(g, TN_SHAPE(256, 1024)); /* 20 MiB a step */
        if (step == 1) hw = tn_graph_arena_reserved(g);
        if (step > 1) cr_assert_eq(tn_graph_arena_reserved(g), hw, "arena grew at step %d", step);
    }
    cr_assert_geq(tn_graph_arena_high_water(g), (size_t)20 * 256 * 1024 * 4);
    tn_graph_free(g);
}

Test(graph, scratch_and_alloc_alignment)
{
    tn_graph *g = tn_graph_new();
    for (int i = 1; i < 100; i += 7) {
        void *p = tn_graph_alloc(g, (size_t)i);
        cr_assert_eq((uintptr_t)p % 64, 0);
    }
    float *s = tn_graph_scratch(g, 1000);
    cr_assert_not_null(s);
    cr_assert_eq((uintptr_t)s % 64, 0);
    tn_graph_free(g);
    tn_graph_free(NULL);
}

Test(params, flat_buffers_names_flags)
{
    tn_params *ps = tn_params_new();
    tn_tensor *w = tn_params_add(ps, "fc.weight", TN_SHAPE(3, 5), TN_PARAM);
    tn_tensor *b = tn_params_add(ps, "fc.bias", TN_SHAPE(3), TN_PARAM);
    tn_tensor *rm = tn_params_add(ps, "bn.running_mean", TN_SHAPE(3), TN_BUFFER);
    tn_tensor *bd = tn_params_add(ps, "scale", TN_SHAPE(1), TN_PARAM | TN_DECAY);
    /* Many more adds force the buffers to move; the views must follow. */
    char name[32];
    for (int i = 0; i < 200; i++) {
        snprintf(name, sizeof name, "extra.%d", i);
        tn_params_add(ps, name, TN_SHAPE(7, 11), TN_PARAM);
    }
    cr_assert_eq(tn_params_count(ps), 204);
    cr_assert_eq(tn_params_find(ps, "fc.bias"), b);
    cr_assert_null(tn_params_find(ps, "nope"));
    cr_assert_eq(w->data, tn_params_values(ps) + tn_params_offset(ps, 0));
    cr_assert_eq(b->grad, tn_params_grads(ps) + tn_params_offset(ps, 1));
    cr_assert(w->requires_grad && !rm->requires_grad && rm->grad == NULL);
    cr_assert_eq(tn_params_flags(ps, 0), TN_PARAM);
    cr_assert_eq(tn_params_flags(ps, 1), TN_PARAM | TN_NO_DECAY);
    cr_assert_eq(tn_params_flags(ps, 2), TN_BUFFER);
    cr_assert(!(tn_params_flags(ps, 3) & TN_NO_DECAY));
    cr_assert_eq(tn_params_numel(ps, TN_PARAM), 15 + 3 + 1 + 200 * 77);
    cr_assert_eq(tn_params_numel(ps, TN_BUFFER), 3);
    for (size_t i = 0; i < tn_params_count(ps); i++)
        cr_assert_eq(tn_params_offset(ps, i) % 16, 0);
    w->grad[0] = 5;
    tn_params_zero_grad(ps);
    cr_assert_eq(w->grad[0], 0);
    (void)bd;
    tn_params_free(ps);
    tn_params_free(NULL);
}

Test(params, backward_into_store)
{
    tn_params *ps = tn_params_new();
    tn_tensor *b = tn_params_add(ps, "b", TN_SHAPE(3), TN_PARAM);
    tn_tensor *r = tn_params_add(ps, "r", TN_SHAPE(3), TN_BUFFER);
    tn_graph *g = tn_graph_new();
    tn_tensor *x = tn_from_data(g, TN_SHAPE(4, 3), (float[12]){0});
    tn_tensor *y = tn_add(g, x, b);
    cr_assert(y->requires_grad, "a parameter makes the output require grad");
    cr_assert(!tn_add(g, x, r)->requires_grad, "a buffer does not");
    tn_graph_free(g);
    tn_params_free(ps);
}

Test(misuse, add_shape_mismatch_aborts, .signal = SIGABRT)
{
    tn_graph *g = tn_graph_new();
    tn_add(g, tn_zeros(g, TN_SHAPE(2, 3)), tn_zeros(g, TN_SHAPE(3, 2)));
}

Test(misuse, null_input_aborts, .signal = SIGABRT)
{
    tn_graph *g = tn_graph_new();
    tn_add(g, tn_zeros(g, TN_SHAPE(2, 3)), NULL);
}

Test(misuse, backward_of_non_scalar_aborts, .signal = SIGABRT)
{
    tn_graph *g = tn_graph_new();
    tn_tensor *a = tn_requires_grad(g, tn_zeros(g, TN_SHAPE(2, 3)));
    tn_backward(g, tn_add(g, a, a));
}

Test(misuse, bad_rank_aborts, .signal = SIGABRT)
{
    tn_graph *g = tn_graph_new();
    tn_zeros(g, 5, (int[]){1, 1, 1, 1, 1});
}

Test(graph, out_of_memory_poisons_the_step_and_reset_clears_it)
{
    tn_graph *g = tn_graph_new();
    tn_tensor *a = tn_requires_grad(g, tn_ones(g, TN_SHAPE(4)));
    /* 2^40 floats (4 TiB): no machine here can back it. */
    tn_tensor *huge = tn_empty(g, TN_SHAPE(1 << 16, 1 << 16, 1 << 8));
    cr_assert_null(huge);
    cr_assert_eq(tn_graph_status(g), TN_ERR_NOMEM);
    cr_assert(strstr(tn_error_message(), "cannot allocate") != NULL, "message: %s",
              tn_error_message());
    /* Later ops of the step return NULL instead of crashing; backward reports. */
    cr_assert_null(tn_add(g, a, a));
    cr_assert_eq(tn_backward(g, a), TN_ERR_NOMEM);
    tn_graph_reset(g);
    cr_assert_eq(tn_graph_status(g), TN_OK);
    cr_assert_not_null(tn_add(g, tn_ones(g, TN_SHAPE(4)), tn_ones(g, TN_SHAPE(4))));
    tn_graph_free(g);
}

Test(graph, every_op_returns_null_on_a_poisoned_step)
{
    tn_graph *g = tn_graph_new();
    cr_assert_null(tn_empty(g, TN_SHAPE(1 << 16, 1 << 16, 1 << 8)));
    tn_tensor *n = NULL; /* what the failed op returned, passed on */
    int32_t labels[1] = {0};
    tn_rng rng;
    tn_rng_seed(&rng, 1, 0);
    tn_tensor *outs[] = {
        tn_add(g, n, n), tn_mul(g, n, n), tn_exp(g, n), tn_relu(g, n), tn_softmax(g, n),
        tn_matmul(g, n, n, false, true), tn_linear(g, n, n, NULL), tn_sum(g, n),
        tn_sum_axis(g, n, 1), tn_reshape(g, n, TN_SHAPE(2, 2)), tn_flatten(g, n),
        tn_transpose(g, n, 0, 1), tn_permute(g, n, (int[]){1, 0}),
        tn_concat(g, 2, (tn_tensor *[]){n, n}, 0), tn_conv2d(g, n, n, NULL, 1, 1, 1),
        tn_max_pool2d(g, n, 2, 2, 0), tn_global_avg_pool(g, n),
        tn_batch_norm(g, n, NULL, NULL, NULL, NULL, 0.1f, 1e-5f), tn_dropout(g, n, 0.5f, &rng),
        tn_cross_entropy(g, n, labels, 0.0f), tn_cross_entropy_soft(g, n, n),
        tn_nll_loss(g, n, labels), tn_mse_loss(g, n, n)};
    for (size_t i = 0; i < sizeof outs / sizeof outs[0]; i++)
        cr_expect_null(outs[i], "op %zu did not return NULL on a poisoned step", i);
    cr_assert_eq(tn_graph_status(g), TN_ERR_NOMEM);
    tn_graph_free(g);
}
