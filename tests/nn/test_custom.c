/* tests/nn/test_custom.c - the user-defined layers of examples/custom_layer.c:
 * the Swish custom op's backward against finite differences, and the
 * composed layers in a model that trains. */
#define CUSTOM_LAYER_NO_MAIN
#include "../../examples/custom_layer.c"

#include "../tensor/gradcheck.h"
#include "nn_test_util.h"

#include <criterion/criterion.h>

static tn_tensor *build_swish(tn_graph *g, tn_tensor **in, const void *arg)
{
    (void)arg;
    return swish(g, in[0], in[1]);
}

Test(custom, swish_backward_matches_finite_differences)
{
    /* beta around 1 and negative, x of mixed signs, several shapes. */
    gc_case cases[] = {
        {.name = "swish (2, 3, 4, 5)", .op = "swish", .build = build_swish, .n_in = 2,
         .in = {{.ndim = 4, .shape = {2, 3, 4, 5}, .lo = -3, .hi = 3},
                {.ndim = 0, .lo = 0.5f, .hi = 1.5f}}},
        {.name = "swish (7), negative beta", .op = "swish", .build = build_swish, .n_in = 2,
         .in = {{.ndim = 1, .shape = {7}, .lo = -2, .hi = 2}, {.ndim = 1, .shape = {1}, .lo = -1.5f, .hi = -0.5f}}},
        {.name = "swish, beta not differentiated", .op = "swish", .build = build_swish, .n_in = 2,
         .in = {{.ndim = 2, .shape = {4, 6}, .lo = -4, .hi = 4},
                {.ndim = 0, .lo = 0.8f, .hi = 1.2f, .no_grad = true}}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char report[512] = "";
        cr_assert(gc_run(&cases[i], report, sizeof report), "%s: %s", cases[i].name, report);
        cr_assert(gc_covers(&cases[i], "swish"));
    }
}

Test(custom, swish_forward_values)
{
    tn_graph *g = tn_graph_new();
    tn_tensor *x = tn_from_data(g, TN_SHAPE(3), (float[]){-1.0f, 0.0f, 2.0f});
    tn_tensor *b = tn_from_data(g, 0, NULL, (float[]){1.0f});
    tn_tensor *y = swish(g, x, b);
    cr_assert_float_eq(y->data[0], -1.0f / (1.0f + expf(1.0f)), 1e-7);
    cr_assert_eq(y->data[1], 0.0f);
    cr_assert_float_eq(y->data[2], 2.0f / (1.0f + expf(-2.0f)), 1e-6);
    tn_graph_free(g);
}

/* The example's model on 20 real images: a few steps on one batch lower its
 * (train-mode) loss, and every parameter (Swish betas included) receives a
 * gradient. */
Test(custom, model_of_custom_layers_learns_a_batch)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/datasets/cifar10-jpg", nt_shared());
    float *x = malloc(sizeof(float) * 3072 * 20);
    int32_t y[20];
    cr_assert_eq(load_split(dir, "train", 2, x, y), 0);
    tn_rng rng;
    tn_rng_seed(&rng, 1, 0);
    tn_params *ps = tn_params_new();
    model m;
    cr_assert_eq(model_init(&m, ps, &rng), TN_OK);
    cr_assert(tn_params_find(ps, "block2.bn.running_var") && tn_params_find(ps, "act3.beta"));
    tn_graph *g = tn_graph_new();
    float first = 0, last = 0, eval_loss, eval_acc;
    for (int step = 0; step < 20; step++) {
        tn_graph_reset(g);
        tn_params_zero_grad(ps);
        tn_tensor *logits = model_forward(g, &m, tn_from_data(g, TN_SHAPE(20, 3, 32, 32), x));
        tn_tensor *loss = tn_cross_entropy(g, logits, y, 0.0f);
        cr_assert_eq(tn_backward(g, loss), TN_OK);
        if (step == 0) first = loss->data[0];
        last = loss->data[0];
        if (step == 0)
            for (size_t i = 0; i < tn_params_count(ps); i++)
                if (tn_params_flags(ps, i) & TN_PARAM) {
                    const tn_tensor *t = tn_params_at(ps, i);
                    double s = 0;
                    for (size_t j = 0; j < t->numel; j++) s += fabs(t->grad[j]);
                    cr_assert_gt(s, 0, "%s has no gradient", t->name);
                }
        for (size_t i = 0; i < tn_params_size(ps); i++)
            tn_params_values(ps)[i] -= 0.1f * tn_params_grads(ps)[i];
    }
    cr_assert_lt(last, 0.75f * first, "loss %g -> %g", first, last);
    evaluate(g, &m, x, y, 20, &eval_loss, &eval_acc);
    cr_assert(isfinite(eval_loss) && eval_acc >= 0.0f && eval_acc <= 1.0f);
    tn_graph_free(g);
    tn_params_free(ps);
    free(x);
}
