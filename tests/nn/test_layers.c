/* tests/nn/test_layers.c - layers, initialisers and the sequential
 * container; a PyTorch nn.Sequential's state_dict loads into the equivalent
 * tn_nn_seq and gives the same output. */
#include "nn/nn.h"

#include "nn_test_util.h"

#include <criterion/criterion.h>
#include <math.h>

Test(layers, seq_matches_pytorch_sequential)
{
    tn_params *ps = tn_params_new();
    tn_rng rng;
    tn_rng_seed(&rng, 1, 0);
    /* torch.nn.Sequential(Conv2d(3, 4, 3, padding=1), BatchNorm2d(4), ReLU(),
     *                     Flatten(), Linear(16, 5)) */
    tn_nn_seq *net = tn_nn_seq_new(ps, "", &rng);
    tn_nn_seq_conv2d(net, 3, 4, 3, 1, 1, true);
    tn_nn_seq_batch_norm(net, 4);
    tn_nn_seq_act(net, TN_NN_ACT_RELU, 0);
    tn_nn_seq_flatten(net);
    tn_nn_seq_linear(net, 16, 5, true);
    cr_assert_eq(tn_nn_seq_status(net), TN_OK);
    cr_assert_eq(tn_nn_seq_len(net), 5);
    cr_assert_str_eq(tn_nn_seq_at(net, 2)->kind, "relu");
    static const char *const names[] = {"0.weight", "0.bias", "1.weight", "1.bias",
                                        "1.running_mean", "1.running_var", "4.weight", "4.bias"};
    cr_assert_eq(tn_params_count(ps), 8);
    for (int i = 0; i < 8; i++) cr_assert_str_eq(tn_params_at(ps, (size_t)i)->name, names[i]);

    const char *path = nt_fixture("torch_state.safetensors");
    cr_assert_eq(tn_nn_load(ps, path, ""), TN_OK, "%s", tn_error_message());
    tn_st_file *f;
    cr_assert_eq(tn_st_open(path, &f), TN_OK);
    const tn_st_entry *in = tn_st_find(f, "io.input"), *want = tn_st_find(f, "io.output");
    tn_graph *g = tn_graph_new();
    tn_graph_set_training(g, false);
    tn_tensor *y = tn_nn_seq_forward(g, net, tn_from_data(g, in->ndim, in->shape, in->data));
    cr_assert(y->ndim == 2 && y->shape[0] == 3 && y->shape[1] == 5);
    for (size_t i = 0; i < y->numel; i++)
        cr_assert_float_eq(y->data[i], want->data[i], 1e-5, "output %zu: %g vs %g", i, y->data[i],
                           want->data[i]);
    tn_graph_free(g);
    tn_st_close(f);
    tn_nn_seq_free(net);
    tn_nn_seq_free(NULL);
    tn_params_free(ps);
}

/* A user layer (outside the library) in a container: y = x * w + b with
 * per-feature w, b named like any other layer's. */
typedef struct affine_layer {
    tn_nn_layer base;
    tn_tensor *w, *b;
    int *destroyed; /* counts destroy calls */
} affine_layer;

static tn_tensor *affine_forward(tn_graph *g, tn_nn_layer *self, tn_tensor *x)
{
    affine_layer *a = (affine_layer *)self;
    return tn_add(g, tn_mul(g, x, a->w), a->b);
}

static void affine_destroy(tn_nn_layer *self) { (*((affine_layer *)self)->destroyed)++; }

Test(layers, user_layer_in_seq_and_names)
{
    tn_params *ps = tn_params_new();
    tn_rng rng;
    tn_rng_seed(&rng, 2, 0);
    tn_nn_seq *net = tn_nn_seq_new(ps, "head", &rng);
    tn_nn_seq_linear(net, 6, 4, true);
    int destroyed = 0;
    cr_assert_str_eq(tn_nn_seq_next_name(net), "head.1");
    affine_layer *a = calloc(1, sizeof *a);
    a->base = (tn_nn_layer){.kind = "affine", .forward = affine_forward, .destroy = affine_destroy};
    a->destroyed = &destroyed;
    char name[300];
    snprintf(name, sizeof name, "%s.w", tn_nn_seq_next_name(net));
    a->w = tn_params_add(tn_nn_seq_params(net), name, TN_SHAPE(4), TN_PARAM);
    snprintf(name, sizeof name, "%s.b", tn_nn_seq_next_name(net));
    a->b = tn_params_add(tn_nn_seq_params(net), name, TN_SHAPE(4), TN_PARAM);
    tn_nn_init_constant(a->w, 2.0f);
    tn_nn_init_constant(a->b, 0.5f);
    cr_assert_eq(tn_nn_seq_push(net, &a->base), &a->base);
    tn_nn_seq_dropout(net, 0.5f);
    cr_assert_eq(tn_nn_seq_status(net), TN_OK);
    cr_assert(tn_params_find(ps, "head.0.weight") && tn_params_find(ps, "head.0.bias"));
    cr_assert(tn_params_find(ps, "head.1.w") && tn_params_find(ps, "head.1.b"));

    tn_graph *g = tn_graph_new();
    tn_graph_set_training(g, false); /* dropout off */
    tn_tensor *x = tn_normal(g, TN_SHAPE(3, 6), 0, 1, &rng);
    tn_tensor *y = tn_nn_seq_forward(g, net, x);
    tn_tensor *lin = tn_linear(g, x, tn_params_find(ps, "head.0.weight"), tn_params_find(ps, "head.0.bias"));
    for (size_t i = 0; i < y->numel; i++) cr_assert_float_eq(y->data[i], 2.0f * lin->data[i] + 0.5f, 1e-6);
    /* Train mode: dropout zeroes about half and scales the rest by 2. */
    tn_graph_reset(g);
    tn_graph_set_training(g, true);
    tn_tensor *big = tn_normal(g, TN_SHAPE(200, 6), 0, 1, &rng);
    y = tn_nn_seq_forward(g, net, big);
    int zeros = 0;
    for (size_t i = 0; i < y->numel; i++) zeros += y->data[i] == 0.0f;
    cr_assert(zeros > 300 && zeros < 500, "%d zeros of 800", zeros);
    tn_graph_free(g);
    tn_nn_seq_free(net);
    cr_assert_eq(destroyed, 1);

    /* A name that is too long, and a duplicate name: errors, not aborts. */
    char longp[400];
    memset(longp, 'x', sizeof longp - 1);
    longp[sizeof longp - 1] = '\0';
    net = tn_nn_seq_new(ps, longp, &rng);
    cr_assert_null(tn_nn_seq_linear(net, 2, 2, true));
    cr_assert_eq(tn_nn_seq_status(net), TN_ERR_ARG);
    cr_assert_null(tn_nn_seq_act(net, TN_NN_ACT_TANH, 0), "errors are sticky");
    tn_nn_seq_free(net);
    tn_nn_linear dup;
    cr_assert_eq(tn_nn_linear_init(&dup, ps, "head.0", 6, 4, true, &rng), TN_ERR_ARG);
    cr_assert(strstr(tn_error_message(), "head.0.weight"), "%s", tn_error_message());
    tn_params_free(ps);
}

Test(layers, plain_layers_forward)
{
    tn_params *ps = tn_params_new();
    tn_rng rng;
    tn_rng_seed(&rng, 3, 0);
    tn_nn_conv2d conv;
    tn_nn_batch_norm bn1d, bn2d;
    tn_nn_linear fc;
    cr_assert_eq(tn_nn_conv2d_init(&conv, ps, "conv", 3, 8, 3, 2, 1, false, &rng), TN_OK);
    cr_assert_null(conv.bias);
    cr_assert_eq(tn_nn_batch_norm_init(&bn2d, ps, "bn", 8, true), TN_OK);
    cr_assert_eq(tn_nn_batch_norm_init(&bn1d, ps, "bn1d", 8, false), TN_OK);
    cr_assert_null(bn1d.weight);
    cr_assert_eq(tn_nn_linear_init(&fc, ps, "fc", 8, 5, false, &rng), TN_OK);
    cr_assert_eq(tn_params_numel(ps, TN_BUFFER), 32);
    cr_assert_eq(tn_params_numel(ps, TN_PARAM), 8 * 3 * 9 + 16 + 40);

    tn_graph *g = tn_graph_new();
    tn_tensor *x = tn_normal(g, TN_SHAPE(4, 3, 9, 9), 0, 1, &rng);
    tn_tensor *y = tn_nn_conv2d_forward(g, &conv, x);
    cr_assert(y->shape[1] == 8 && y->shape[2] == 5 && y->shape[3] == 5);
    y = tn_nn_batch_norm_forward(g, &bn2d, y);
    /* Per channel mean 0, variance 1 in train mode. */
    double m = 0;
    for (int n = 0; n < 4; n++)
        for (int k = 0; k < 25; k++) m += y->data[(n * 8 + 3) * 25 + k];
    cr_assert_float_eq(m / 100, 0.0, 1e-5);
    cr_assert_neq(bn2d.running_mean->data[3], 0.0f);

    tn_nn_pool mp, ap, gp;
    tn_nn_pool_init(&mp, TN_NN_POOL_MAX, 2, 0, 0);
    tn_nn_pool_init(&ap, TN_NN_POOL_AVG, 3, 1, 1);
    tn_nn_pool_init(&gp, TN_NN_POOL_GLOBAL_AVG, 0, 0, 0);
    cr_assert_eq(mp.stride, 2);
    tn_tensor *p = tn_nn_pool_forward(g, &mp, y);
    cr_assert(p->shape[2] == 2 && p->shape[3] == 2);
    p = tn_nn_pool_forward(g, &ap, y);
    cr_assert(p->shape[2] == 5 && p->shape[3] == 5);
    p = tn_nn_pool_forward(g, &gp, y);
    cr_assert(p->ndim == 2 && p->shape[1] == 8);
    p = tn_nn_batch_norm_forward(g, &bn1d, p); /* BatchNorm1d on (N, C) */
    tn_nn_act act;
    tn_nn_act_init(&act, TN_NN_ACT_LEAKY_RELU, 0.1f);
    p = tn_nn_act_forward(g, &act, p);
    tn_tensor *logits = tn_nn_linear_forward(g, &fc, p);
    cr_assert(logits->shape[0] == 4 && logits->shape[1] == 5);
    tn_tensor *loss = tn_cross_entropy(g, logits, (int32_t[]){0, 1, 2, 3}, 0.0f);
    cr_assert_eq(tn_backward(g, loss), TN_OK);
    cr_assert_neq(conv.weight->grad[0], 0.0f);
    tn_graph_free(g);
    tn_params_free(ps);
}

static double mean_of(const tn_tensor *t, double *std)
{
    double s = 0, s2 = 0;
    for (size_t i = 0; i < t->numel; i++) {
        s += t->data[i];
        s2 += (double)t->data[i] * t->data[i];
    }
    double m = s / t->numel;
    *std = sqrt(s2 / t->numel - m * m);
    return m;
}

static float max_abs(const tn_tensor *t)
{
    float m = 0;
    for (size_t i = 0; i < t->numel; i++) m = fmaxf(m, fabsf(t->data[i]));
    return m;
}

Test(layers, initialisers)
{
    tn_params *ps = tn_params_new();
    tn_tensor *w = tn_params_add(ps, "w", TN_SHAPE(64, 32, 3, 3), TN_PARAM);
    tn_tensor *l = tn_params_add(ps, "l", TN_SHAPE(300, 200), TN_PARAM);
    tn_tensor *b = tn_params_add(ps, "b", TN_SHAPE(300), TN_PARAM);
    int fi, fo;
    tn_nn_fans(w, &fi, &fo);
    cr_assert(fi == 32 * 9 && fo == 64 * 9);
    tn_nn_fans(l, &fi, &fo);
    cr_assert(fi == 200 && fo == 300);
    tn_rng rng;
    double sd, m;

    /* PyTorch default: U(+-1/sqrt(fan_in)) for both weight and bias. */
    tn_rng_seed(&rng, 1, 0);
    tn_nn_init_torch_default(l, b, &rng);
    float bound = 1.0f / sqrtf(200.0f);
    cr_assert_leq(max_abs(l), bound);
    cr_assert_geq(max_abs(l), 0.99f * bound);
    cr_assert_leq(max_abs(b), bound);
    m = mean_of(l, &sd);
    cr_assert_float_eq(sd, bound / sqrt(3.0), 0.01 * bound);

    tn_nn_init_kaiming_normal(w, 0.0f, true, &rng);
    m = mean_of(w, &sd);
    cr_assert_float_eq(m, 0.0, 0.002);
    cr_assert_float_eq(sd, sqrt(2.0 / (64 * 9)), 0.01 * sqrt(2.0 / (64 * 9)));
    tn_nn_init_kaiming_normal(w, 0.0f, false, &rng);
    mean_of(w, &sd);
    cr_assert_float_eq(sd, sqrt(2.0 / (32 * 9)), 0.01 * sqrt(2.0 / (32 * 9)));
    tn_nn_init_kaiming_uniform(w, 0.0f, false, &rng);
    cr_assert_leq(max_abs(w), sqrtf(6.0f / (32 * 9)));
    tn_nn_init_xavier_uniform(l, 1.0f, &rng);
    cr_assert_leq(max_abs(l), sqrtf(6.0f / 500));
    cr_assert_geq(max_abs(l), 0.99f * sqrtf(6.0f / 500));
    tn_nn_init_xavier_normal(l, 2.0f, &rng);
    mean_of(l, &sd);
    cr_assert_float_eq(sd, 2.0 * sqrt(2.0 / 500), 0.02 * 2.0 * sqrt(2.0 / 500));
    cr_assert_float_eq(tn_nn_gain_leaky_relu(0.0f), sqrtf(2.0f), 1e-6);
    tn_nn_init_ones(b);
    cr_assert_eq(b->data[299], 1.0f);
    tn_nn_init_zeros(b);
    cr_assert_eq(b->data[7], 0.0f);

    /* Reproducible: the same seed gives the same values. */
    float first[16];
    tn_rng_seed(&rng, 42, 0);
    tn_nn_init_apply(TN_NN_INIT_XAVIER_NORMAL, w, b, &rng);
    memcpy(first, w->data, sizeof first);
    tn_rng_seed(&rng, 42, 0);
    tn_nn_init_apply(TN_NN_INIT_XAVIER_NORMAL, w, b, &rng);
    cr_assert_eq(memcmp(first, w->data, sizeof first), 0);
    (void)m;
    tn_params_free(ps);
}

/* Group and layer norm layers: names, shapes, ones/zeros, TN_NO_DECAY even
 * for layer norm's 3-D scale, and the forward equals the op's. */
Test(layers, group_and_layer_norm_layers)
{
    tn_params *ps = tn_params_new();
    tn_nn_group_norm gn;
    tn_nn_layer_norm ln;
    cr_assert_eq(tn_nn_group_norm_init(&gn, ps, "gn", 2, 4, true), TN_OK);
    cr_assert_eq(tn_nn_layer_norm_init(&ln, ps, "ln", 3, (int[]){4, 3, 2}, true), TN_OK);
    cr_assert_eq(tn_params_count(ps), 4);
    const char *names[] = {"gn.weight", "gn.bias", "ln.weight", "ln.bias"};
    for (size_t i = 0; i < 4; i++) {
        cr_assert_str_eq(tn_params_at(ps, i)->name, names[i]);
        cr_assert(tn_params_flags(ps, i) & TN_NO_DECAY, "%s decays", names[i]);
    }
    cr_assert(ln.weight->ndim == 3 && ln.weight->numel == 24 && ln.weight->data[23] == 1.0f);
    cr_assert(gn.bias->numel == 4 && gn.bias->data[3] == 0.0f);

    tn_graph *g = tn_graph_new();
    float xs[48];
    for (int i = 0; i < 48; i++) xs[i] = (float)((i * 7) % 11) - 3.0f;
    tn_tensor *x = tn_from_data(g, 4, (int[]){2, 4, 3, 2}, xs);
    tn_tensor *a = tn_nn_group_norm_forward(g, &gn, x);
    tn_tensor *b = tn_nn_layer_norm_forward(g, &ln, x);
    tn_tensor *c = tn_group_norm(g, x, 1, NULL, NULL, 1e-5f);
    /* Each (sample, group) has mean 0, variance ~1; layer norm over (C, H, W)
     * with unit scale equals group norm with one group. */
    for (int r = 0; r < 4; r++) {
        double s = 0, q = 0;
        for (int j = 0; j < 12; j++) s += a->data[r * 12 + j], q += a->data[r * 12 + j] * a->data[r * 12 + j];
        cr_assert_float_eq(s / 12, 0.0, 1e-6);
        cr_assert_float_eq(q / 12, 1.0, 1e-4);
    }
    for (int i = 0; i < 48; i++) cr_assert_float_eq(b->data[i], c->data[i], 1e-6);
    tn_graph_free(g);
    tn_params_free(ps);
}
