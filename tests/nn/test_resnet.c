/* tests/nn/test_resnet.c - CIFAR ResNets: parameter counts and names against
 * PyTorch, golden logits/loss/gradients/running statistics against
 * tests/fixtures/nn/resnet20_{A,B}.safetensors and the group/layer-norm
 * ResNet-8s resnet8_{gn_B,ln_A}.safetensors (tests/nn/gen_fixtures.py),
 * save -> load, the variants, and the option-A shortcut op's gradient. */
#include "nn/nn.h"

#include "../tensor/gradcheck.h"
#include "nn_test_util.h"

#include <criterion/criterion.h>
#include <math.h>

static tn_resnet *build(tn_params *ps, int depth, tn_resnet_variant v, tn_resnet_shortcut sc,
                        uint64_t seed)
{
    tn_rng rng;
    tn_rng_seed(&rng, seed, 0);
    tn_resnet *net;
    tn_resnet_config cfg = {.depth = depth, .variant = v, .shortcut = sc};
    cr_assert_eq(tn_resnet_new(&net, ps, &cfg, &rng), TN_OK, "%s", tn_error_message());
    return net;
}

Test(resnet, parameter_counts_match_pytorch)
{
    /* ResNet-20: option A 269,722 and option B 272,474 (PyTorch's numbers). */
    struct {
        int depth;
        tn_resnet_shortcut sc;
        size_t params;
    } cases[] = {{20, TN_RESNET_SHORTCUT_A, 269722}, {20, TN_RESNET_SHORTCUT_B, 272474},
                 {32, TN_RESNET_SHORTCUT_A, 464154}, {44, TN_RESNET_SHORTCUT_A, 658586},
                 {56, TN_RESNET_SHORTCUT_A, 853018}, {110, TN_RESNET_SHORTCUT_A, 1727962}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        tn_params *ps = tn_params_new();
        tn_resnet *net = build(ps, cases[i].depth, TN_RESNET_BN, cases[i].sc, 1);
        cr_assert_eq(tn_params_numel(ps, TN_PARAM), cases[i].params, "depth %d: %zu",
                     cases[i].depth, tn_params_numel(ps, TN_PARAM));
        cr_assert_eq(net->n_blocks, 3 * (cases[i].depth - 2) / 6);
        tn_resnet_free(net);
        tn_params_free(ps);
    }
    /* Bad configurations are errors, not aborts. */
    tn_params *ps = tn_params_new();
    tn_rng rng;
    tn_rng_seed(&rng, 1, 0);
    tn_resnet *net = (tn_resnet *)1;
    tn_resnet_config bad = {.depth = 21};
    cr_assert_eq(tn_resnet_new(&net, ps, &bad, &rng), TN_ERR_ARG);
    cr_assert_null(net);
    cr_assert(strstr(tn_error_message(), "6n+2"), "%s", tn_error_message());
    bad = (tn_resnet_config){.depth = 20, .width = 15};
    cr_assert_eq(tn_resnet_new(&net, ps, &bad, &rng), TN_ERR_ARG);
    cr_assert_eq(tn_params_count(ps), 0);
    tn_resnet_free(NULL);
    tn_params_free(ps);
}

/* Names in the store equal the fixture's: parameters <-> grad.<name>,
 * buffers <-> the stored running statistics. */
static void check_names(const tn_params *ps, const tn_st_file *f)
{
    size_t n_grad = 0, n_buf = 0;
    for (size_t i = 0; i < tn_st_count(f); i++) {
        const char *name = tn_st_at(f, i)->name;
        if (strncmp(name, "grad.", 5) == 0) {
            n_grad++;
            tn_tensor *t = tn_params_find(ps, name + 5);
            cr_assert(t, "fixture has a gradient for '%s', the store has no such parameter", name + 5);
        } else if (strstr(name, "running_") && strncmp(name, "after.", 6) != 0) {
            n_buf++;
            cr_assert(tn_params_find(ps, name), "fixture buffer '%s' not in the store", name);
        }
    }
    size_t params = 0, buffers = 0;
    for (size_t i = 0; i < tn_params_count(ps); i++) {
        const tn_tensor *t = tn_params_at(ps, i);
        char key[300];
        if (tn_params_flags(ps, i) & TN_PARAM) {
            params++;
            snprintf(key, sizeof key, "grad.%s", t->name);
            cr_assert(tn_st_find(f, key), "store parameter '%s' has no gradient in the fixture", t->name);
        } else {
            buffers++;
            cr_assert(tn_st_find(f, t->name), "store buffer '%s' not in the fixture", t->name);
        }
    }
    cr_assert_eq(params, n_grad);
    cr_assert_eq(buffers, n_buf);
}

/* max |a - b| and max |b| over n. */
static void max_err(const float *a, const float *b, size_t n, double *err, double *ref)
{
    *err = 0;
    *ref = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= *err)) *err = d; /* NaN propagates */
        if (fabs(b[i]) > *ref) *ref = fabs(b[i]);
    }
}

static void golden(const char *fixture, int depth, tn_resnet_variant v, tn_resnet_shortcut sc)
{
    tn_st_file *f;
    cr_assert_eq(tn_st_open(nt_fixture(fixture), &f), TN_OK, "%s", tn_error_message());
    tn_params *ps = tn_params_new();
    tn_resnet *net = build(ps, depth, v, sc, 123);
    check_names(ps, f);

    /* The fixture is a PyTorch state_dict (plus the batch and the
     * references): loaded like any PyTorch checkpoint. */
    cr_assert_eq(tn_nn_load(ps, nt_fixture(fixture), ""), TN_OK, "%s", tn_error_message());
    const tn_st_entry *xin = tn_st_find(f, "input"), *lab = tn_st_find(f, "labels");
    cr_assert(xin && lab);
    int n = xin->shape[0];
    int32_t labels[64];
    for (int i = 0; i < n; i++) labels[i] = (int32_t)lab->data[i];

    tn_graph *g = tn_graph_new();
    tn_params_zero_grad(ps);
    tn_tensor *x = tn_from_data(g, xin->ndim, xin->shape, xin->data);
    tn_tensor *logits = tn_resnet_forward(g, net, x);
    tn_tensor *loss = tn_cross_entropy(g, logits, labels, 0.0f);
    cr_assert_eq(tn_backward(g, loss), TN_OK);

    double err, ref, worst_grad = 0;
    const char *worst_name = "";
    max_err(logits->data, tn_st_find(f, "logits_train")->data, logits->numel, &err, &ref);
    fprintf(stderr, "%s: train logits max err %.3g (max |ref| %.3g)\n", fixture, err, ref);
    cr_assert_leq(err, 1e-5 + 1e-4 * ref, "train logits: %g", err);
    double want_loss = tn_st_find(f, "loss")->data[0];
    fprintf(stderr, "%s: loss %.9g vs %.9g, err %.3g\n", fixture, loss->data[0], want_loss,
            fabs(loss->data[0] - want_loss));
    cr_assert_leq(fabs(loss->data[0] - want_loss), 1e-5 * fabs(want_loss));

    for (size_t i = 0; i < tn_params_count(ps); i++) {
        tn_tensor *t = tn_params_at(ps, i);
        char key[300];
        if (tn_params_flags(ps, i) & TN_PARAM) {
            snprintf(key, sizeof key, "grad.%s", t->name);
            max_err(t->grad, tn_st_find(f, key)->data, t->numel, &err, &ref);
            /* Per tensor: relative to the tensor's largest gradient. */
            cr_assert_leq(err, 1e-7 + 5e-5 * ref, "%s: max err %g, max |ref| %g", key, err, ref);
            if (err / (ref + 1e-12) > worst_grad) {
                worst_grad = err / (ref + 1e-12);
                worst_name = t->name;
            }
        } else {
            snprintf(key, sizeof key, "after.%s", t->name);
            max_err(t->data, tn_st_find(f, key)->data, t->numel, &err, &ref);
            cr_assert_leq(err, 1e-6 + 1e-5 * ref, "%s: max err %g", key, err);
        }
    }
    fprintf(stderr, "%s: worst gradient max err / max |ref| = %.3g (%s)\n", fixture, worst_grad,
            worst_name);

    /* Eval mode: the running statistics as updated by the train forward. */
    tn_graph_reset(g);
    tn_graph_set_training(g, false);
    tn_graph_set_grad(g, false);
    x = tn_from_data(g, xin->ndim, xin->shape, xin->data);
    logits = tn_resnet_forward(g, net, x);
    max_err(logits->data, tn_st_find(f, "logits_eval")->data, logits->numel, &err, &ref);
    fprintf(stderr, "%s: eval logits max err %.3g (max |ref| %.3g)\n", fixture, err, ref);
    cr_assert_leq(err, 1e-5 + 1e-4 * ref, "eval logits: %g", err);
    /* Without gradients a batch norm is folded into its conv: the last
     * block's output comes from conv2d_relu.  With them it is not, and the
     * logits match PyTorch's as well. */
    const tn_tensor *features = logits->in[0]->in[0];
    if (v == TN_RESNET_BN)
        cr_assert_str_eq(features->op->name, "conv2d_relu", "eval without gradients: %s",
                         features->op->name);
    tn_graph_reset(g);
    tn_graph_set_grad(g, true);
    x = tn_from_data(g, xin->ndim, xin->shape, xin->data);
    logits = tn_resnet_forward(g, net, x);
    cr_assert_str_neq(logits->in[0]->in[0]->op->name, "conv2d_relu");
    max_err(logits->data, tn_st_find(f, "logits_eval")->data, logits->numel, &err, &ref);
    fprintf(stderr, "%s: eval logits (gradients on, not folded) max err %.3g\n", fixture, err);
    cr_assert_leq(err, 1e-5 + 1e-4 * ref, "eval logits, not folded: %g", err);

    tn_graph_free(g);
    tn_resnet_free(net);
    tn_params_free(ps);
    tn_st_close(f);
}

Test(resnet, golden_resnet20_option_a) { golden("resnet20_A.safetensors", 20, TN_RESNET_BN, TN_RESNET_SHORTCUT_A); }
Test(resnet, golden_resnet20_option_b) { golden("resnet20_B.safetensors", 20, TN_RESNET_BN, TN_RESNET_SHORTCUT_B); }
/* Group norm (1, 2 and 4 groups of 16 channels; option B: the projection's
 * norm too) and layer norm (one group), names and counts as the BN net's. */
Test(resnet, golden_resnet8_group_norm_option_b) { golden("resnet8_gn_B.safetensors", 8, TN_RESNET_GN, TN_RESNET_SHORTCUT_B); }
Test(resnet, golden_resnet8_layer_norm_option_a) { golden("resnet8_ln_A.safetensors", 8, TN_RESNET_LN, TN_RESNET_SHORTCUT_A); }

/* tn_nn_infer: 13 images in chunks of 4 on 2 threads give the rows of one
 * eval forward over all 13, with batch norm folded (option B: the
 * projection's too) and with group norm (nothing folded); every image is computed apart, but a 1x1
 * convolution's sgemm spans the images of its tile, so the rows may differ
 * by rounding in the last bits. */
static void infer_matches(tn_resnet_variant v)
{
    tn_set_threads(2);
    tn_params *ps = tn_params_new();
    tn_resnet *net = build(ps, 8, v, TN_RESNET_SHORTCUT_B, 5);
    tn_rng rng;
    tn_rng_seed(&rng, 6, 0);
    tn_graph *g = tn_graph_new();
    tn_resnet_forward(g, net, tn_normal(g, TN_SHAPE(8, 3, 16, 16), 0.3f, 1.5f, &rng)); /* running stats */
    enum { N = 13 };
    float x[N * 3 * 16 * 16], out[N * 10];
    tn_fill_normal(x, sizeof x / sizeof *x, 0.0f, 1.0f, &rng);
    tn_graph_reset(g);
    tn_graph_set_training(g, false);
    tn_graph_set_grad(g, false);
    tn_tensor *want = tn_resnet_forward(g, net, tn_from_data(g, TN_SHAPE(N, 3, 16, 16), x));
    cr_assert_not_null(want);
    tn_nn_infer *inf = tn_nn_infer_new(tn_resnet_forward_fn, net, 4);
    cr_assert_not_null(inf);
    for (int run = 0; run < 2; run++) { /* the second on the graphs of the first */
        for (int i = 0; i < N * 10; i++) out[i] = NAN;
        cr_assert_eq(tn_nn_infer_run(inf, x, N, 3, 16, 16, out, 10), TN_OK, "%s", tn_error_message());
        double err, ref;
        max_err(out, want->data, N * 10, &err, &ref);
        fprintf(stderr, "tn_nn_infer, variant %d, run %d: max err %.3g (max |ref| %.3g)\n", v, run,
                err, ref);
        cr_assert_gt(ref, 0.01, "the logits are not all zero");
        cr_expect_leq(err, 1e-6 * ref, "variant %d, run %d: max err %g", v, run, err);
    }
    /* The wrong row length is an error naming the shapes, not a silent copy. */
    cr_assert_eq(tn_nn_infer_run(inf, x, N, 3, 16, 16, out, 7), TN_ERR_ARG);
    cr_expect(strstr(tn_error_message(), "not (") != NULL, "%s", tn_error_message());
    tn_nn_infer_free(inf);
    tn_graph_free(g);
    tn_resnet_free(net);
    tn_params_free(ps);
}

Test(resnet, batch_parallel_inference_equals_one_forward)
{
    infer_matches(TN_RESNET_BN);
    infer_matches(TN_RESNET_GN);
}

Test(resnet, save_load_bit_exact)
{
    const char *dir = nt_tmpdir();
    char path[4200];
    snprintf(path, sizeof path, "%s/resnet20.safetensors", dir);
    tn_params *ps = tn_params_new();
    tn_resnet *net = build(ps, 20, TN_RESNET_BN, TN_RESNET_SHORTCUT_B, 1);
    /* Non-trivial running statistics. */
    tn_rng rng;
    tn_rng_seed(&rng, 3, 0);
    tn_graph *g = tn_graph_new();
    tn_resnet_forward(g, net, tn_normal(g, TN_SHAPE(4, 3, 16, 16), 0.5f, 2.0f, &rng));
    const char *keys[] = {"arch", "step"}, *vals[] = {"resnet20-B", "17"};
    cr_assert_eq(tn_nn_save(ps, path, 2, keys, vals), TN_OK, "%s", tn_error_message());

    tn_params *qs = tn_params_new();
    tn_resnet *net2 = build(qs, 20, TN_RESNET_BN, TN_RESNET_SHORTCUT_B, 2);
    cr_assert_neq(memcmp(tn_params_values(ps), tn_params_values(qs), tn_params_size(ps) * 4), 0);
    cr_assert_eq(tn_nn_load(qs, path, NULL), TN_OK, "%s", tn_error_message());
    cr_assert_eq(tn_params_size(ps), tn_params_size(qs));
    for (size_t i = 0; i < tn_params_count(ps); i++) {
        tn_tensor *a = tn_params_at(ps, i), *b = tn_params_at(qs, i);
        cr_assert_str_eq(a->name, b->name);
        cr_assert_eq(memcmp(a->data, b->data, a->numel * 4), 0, "%s differs", a->name);
    }
    /* Same outputs, bit for bit. */
    tn_graph_reset(g);
    tn_graph_set_training(g, false);
    tn_tensor *x = tn_normal(g, TN_SHAPE(2, 3, 16, 16), 0.0f, 1.0f, &rng);
    tn_tensor *y1 = tn_resnet_forward(g, net, x), *y2 = tn_resnet_forward(g, net2, x);
    cr_assert_eq(memcmp(y1->data, y2->data, y1->numel * 4), 0);

    tn_st_file *f;
    cr_assert_eq(tn_st_open(path, &f), TN_OK);
    cr_assert_str_eq(tn_st_meta(f, "arch"), "resnet20-B");
    cr_assert_eq(tn_st_count(f), tn_params_count(ps));
    tn_st_close(f);

    /* Option A's tensors are a subset of option B's: B's checkpoint is not
     * A's (its projection weights are unexpected), unless the caller
     * accepts extra tensors. */
    tn_params *as = tn_params_new();
    tn_resnet *na = build(as, 20, TN_RESNET_BN, TN_RESNET_SHORTCUT_A, 5);
    float before = tn_params_values(as)[0];
    cr_assert_eq(tn_nn_load(as, path, NULL), TN_ERR_FORMAT);
    cr_assert(strstr(tn_error_message(), "shortcut"), "%s", tn_error_message());
    cr_assert_eq(tn_params_values(as)[0], before);
    cr_assert_eq(tn_nn_load(as, path, ""), TN_OK, "A's tensors are a subset of B's: loads");
    cr_assert_neq(tn_params_values(as)[0], before);
    cr_assert_eq(tn_nn_load(qs, "/nonexistent-tenet/x.safetensors", NULL), TN_ERR_IO);
    tn_params *deep = tn_params_new();
    tn_resnet *n32 = build(deep, 32, TN_RESNET_BN, TN_RESNET_SHORTCUT_B, 5);
    before = tn_params_values(deep)[0];
    cr_assert_eq(tn_nn_load(deep, path, NULL), TN_ERR_FORMAT);
    cr_assert(strstr(tn_error_message(), "layer1.3"), "%s", tn_error_message());
    cr_assert_eq(tn_params_values(deep)[0], before);

    tn_resnet_free(n32);
    tn_params_free(deep);
    tn_resnet_free(na);
    tn_params_free(as);
    tn_graph_free(g);
    tn_resnet_free(net);
    tn_resnet_free(net2);
    tn_params_free(ps);
    tn_params_free(qs);
}

Test(resnet, variants_build_run_and_flags)
{
    tn_resnet_variant vs[] = {TN_RESNET_BN, TN_RESNET_PREACT, TN_RESNET_NO_BN, TN_RESNET_GN,
                              TN_RESNET_LN};
    tn_resnet_shortcut scs[] = {TN_RESNET_SHORTCUT_A, TN_RESNET_SHORTCUT_B};
    tn_rng rng;
    tn_rng_seed(&rng, 11, 0);
    for (int v = 0; v < 5; v++)
        for (int s = 0; s < 2; s++) {
            tn_params *ps = tn_params_new();
            tn_resnet *net = build(ps, 8, vs[v], scs[s], 7);
            /* Flags: running stats are buffers; < 2-dim params no decay. */
            for (size_t i = 0; i < tn_params_count(ps); i++) {
                const tn_tensor *t = tn_params_at(ps, i);
                unsigned fl = tn_params_flags(ps, i);
                if (strstr(t->name, "running_")) cr_assert(fl & TN_BUFFER, "%s", t->name);
                else cr_assert(fl & TN_PARAM, "%s", t->name);
                if ((fl & TN_PARAM) && t->ndim < 2) cr_assert(fl & TN_NO_DECAY, "%s", t->name);
            }
            if (vs[v] == TN_RESNET_NO_BN) {
                cr_assert_eq(tn_params_numel(ps, TN_BUFFER), 0);
                cr_assert(tn_params_find(ps, "layer1.0.scale"));
                cr_assert(tn_params_find(ps, "layer1.0.conv1.bias"));
            }
            if (vs[v] == TN_RESNET_PREACT) cr_assert(tn_params_find(ps, "bn_final.weight"));
            if (vs[v] == TN_RESNET_GN || vs[v] == TN_RESNET_LN) {
                cr_assert_eq(tn_params_numel(ps, TN_BUFFER), 0);
                cr_assert(tn_params_find(ps, "layer3.0.bn2.weight"));
                /* 16 channels a group (GN) or one group (LN). */
                cr_assert_eq(net->blocks[net->n_blocks - 1].gn2.groups, vs[v] == TN_RESNET_GN ? 4 : 1);
            }
            if (scs[s] == TN_RESNET_SHORTCUT_B)
                cr_assert(tn_params_find(ps, "layer2.0.shortcut.0.weight"));
            else
                cr_assert_null(tn_params_find(ps, "layer2.0.shortcut.0.weight"));

            tn_graph *g = tn_graph_new();
            tn_tensor *x = tn_normal(g, TN_SHAPE(4, 3, 8, 8), 0, 1, &rng);
            tn_tensor *y = tn_resnet_forward(g, net, x);
            cr_assert_eq(y->ndim, 2);
            cr_assert(y->shape[0] == 4 && y->shape[1] == 10);
            tn_tensor *loss = tn_cross_entropy(g, y, (int32_t[]){1, 2, 3, 4}, 0.0f);
            cr_assert_eq(tn_backward(g, loss), TN_OK);
            double gs = 0;
            for (size_t i = 0; i < tn_params_size(ps); i++) gs += fabs(tn_params_grads(ps)[i]);
            cr_assert(isfinite(gs) && gs > 0, "variant %d shortcut %d: gradient sum %g", v, s, gs);
            if (vs[v] == TN_RESNET_NO_BN) {
                /* Fixup-style start: zero classifier -> uniform prediction. */
                for (size_t i = 0; i < y->numel; i++) cr_assert_eq(y->data[i], 0.0f);
                cr_assert_float_eq(loss->data[0], logf(10.0f), 1e-5);
            }
            tn_graph_free(g);
            tn_resnet_free(net);
            tn_params_free(ps);
        }
}

Test(resnet, zero_init_residual_and_init_kinds)
{
    tn_rng rng;
    tn_rng_seed(&rng, 1, 0);
    tn_params *ps = tn_params_new();
    tn_resnet *net;
    tn_resnet_config cfg = {.depth = 20, .init = TN_NN_INIT_KAIMING_NORMAL_FAN_OUT,
                            .zero_init_residual = true};
    cr_assert_eq(tn_resnet_new(&net, ps, &cfg, &rng), TN_OK);
    for (int b = 0; b < net->n_blocks; b++) {
        const tn_tensor *gm = net->blocks[b].bn2.weight, *g1 = net->blocks[b].bn1.weight;
        for (size_t i = 0; i < gm->numel; i++) cr_assert_eq(gm->data[i], 0.0f);
        cr_assert_eq(g1->data[0], 1.0f);
    }
    /* Kaiming normal fan_out: std sqrt(2 / (64 * 9)) for layer3 convs. */
    const tn_tensor *w = tn_params_find(ps, "layer3.1.conv1.weight");
    double s2 = 0;
    for (size_t i = 0; i < w->numel; i++) s2 += (double)w->data[i] * w->data[i];
    cr_assert_float_eq(sqrt(s2 / w->numel), sqrt(2.0 / (64 * 9)), 0.002);
    tn_resnet_free(net);
    tn_params_free(ps);
}

/* ------------------------------------------------- option-A shortcut op */

static tn_tensor *build_shortcut(tn_graph *g, tn_tensor **in, const void *arg)
{
    const int *sp = arg;
    return tn_nn_shortcut_a(g, in[0], sp[0], sp[1]);
}

Test(resnet, shortcut_a_forward_and_gradient)
{
    tn_graph *g = tn_graph_new();
    tn_rng rng;
    tn_rng_seed(&rng, 4, 0);
    tn_tensor *x = tn_normal(g, TN_SHAPE(2, 3, 5, 4), 0, 1, &rng);
    tn_tensor *y = tn_nn_shortcut_a(g, x, 2, 2);
    cr_assert(y->shape[0] == 2 && y->shape[1] == 7 && y->shape[2] == 3 && y->shape[3] == 2);
    for (int n = 0; n < 2; n++)
        for (int c = 0; c < 7; c++)
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 2; j++) {
                    float v = y->data[((n * 7 + c) * 3 + i) * 2 + j];
                    float want = (c < 2 || c >= 5) ? 0.0f : x->data[((n * 3 + c - 2) * 5 + 2 * i) * 4 + 2 * j];
                    cr_assert_eq(v, want);
                }
    tn_graph_free(g);

    static const int args[][2] = {{2, 2}, {1, 0}, {2, 0}, {3, 1}};
    for (int k = 0; k < 4; k++) {
        gc_case c = {.name = "nn_shortcut_a", .op = "nn_shortcut_a", .build = build_shortcut,
                     .arg = args[k], .n_in = 1,
                     .in = {{.ndim = 4, .shape = {2, 3, 5, 6}, .lo = -1, .hi = 1}}};
        char report[512] = "";
        cr_assert(gc_run(&c, report, sizeof report), "stride %d pad %d: %s", args[k][0],
                  args[k][1], report);
    }
}

/* Checkpoints for scripts/safetensors_to_torch.py: every variant with random
 * weights, its architecture in the metadata, and "check.input" /
 * "check.logits" (eval mode).  Written to $TENET_TORCH_EXPORT_DIR when set
 * (then: /usr/bin/python3 scripts/safetensors_to_torch.py DIR/NAME.safetensors),
 * else to a temporary folder; the metadata must read back. */
Test(resnet, export_for_torch)
{
    const char *dir = getenv("TENET_TORCH_EXPORT_DIR");
    if (!dir || !*dir) dir = nt_tmpdir();
    struct {
        const char *file;
        tn_resnet_config cfg;
    } cases[] = {
        {"resnet20_bn_A.safetensors", {.depth = 20, .variant = TN_RESNET_BN, .shortcut = TN_RESNET_SHORTCUT_A}},
        {"resnet20_bn_B.safetensors", {.depth = 20, .variant = TN_RESNET_BN, .shortcut = TN_RESNET_SHORTCUT_B}},
        {"resnet8_preact_A.safetensors", {.depth = 8, .variant = TN_RESNET_PREACT, .shortcut = TN_RESNET_SHORTCUT_A}},
        {"resnet14_preact_B.safetensors", {.depth = 14, .variant = TN_RESNET_PREACT, .shortcut = TN_RESNET_SHORTCUT_B,
                                           .width = 8, .num_classes = 7}},
        {"resnet8_nobn_A.safetensors", {.depth = 8, .variant = TN_RESNET_NO_BN, .shortcut = TN_RESNET_SHORTCUT_A}},
        {"resnet8_nobn_B.safetensors", {.depth = 8, .variant = TN_RESNET_NO_BN, .shortcut = TN_RESNET_SHORTCUT_B}},
        {"resnet8_gn_B.safetensors", {.depth = 8, .variant = TN_RESNET_GN, .shortcut = TN_RESNET_SHORTCUT_B,
                                      .gn_group_channels = 8}},
        {"resnet8_ln_A.safetensors", {.depth = 8, .variant = TN_RESNET_LN, .shortcut = TN_RESNET_SHORTCUT_A}},
    };
    tn_rng rng;
    tn_rng_seed(&rng, 77, 0);
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        tn_params *ps = tn_params_new();
        tn_resnet *net;
        cr_assert_eq(tn_resnet_new(&net, ps, &cases[k].cfg, &rng), TN_OK);
        /* Random weights everywhere (no zero inits), non-trivial statistics. */
        for (size_t i = 0; i < tn_params_count(ps); i++)
            if (tn_params_flags(ps, i) & TN_PARAM) {
                tn_tensor *t = tn_params_at(ps, i);
                int fi = 1, fo;
                if (t->ndim >= 1) tn_nn_fans(t, &fi, &fo);
                float s = t->ndim >= 2 ? 1.0f / sqrtf((float)fi) : 0.2f;
                tn_fill_normal(t->data, t->numel, t->ndim >= 2 ? 0.0f : (strstr(t->name, "weight") || strstr(t->name, "scale") ? 1.0f : 0.0f), s, &rng);
            }
        tn_graph *g = tn_graph_new();
        int c = net->cfg.in_channels;
        tn_resnet_forward(g, net, tn_normal(g, TN_SHAPE(6, c, 12, 12), 0.3f, 1.5f, &rng));
        tn_graph_reset(g);
        tn_graph_set_training(g, false);
        tn_tensor *x = tn_normal(g, TN_SHAPE(3, c, 12, 12), 0.0f, 1.0f, &rng);
        tn_tensor *y = tn_resnet_forward(g, net, x);

        tn_st_writer *w = tn_st_writer_new();
        cr_assert_eq(tn_st_add_params(w, ps), TN_OK);
        cr_assert_eq(tn_resnet_meta_write(w, &cases[k].cfg), TN_OK);
        cr_assert_eq(tn_st_add(w, "check.input", x->ndim, x->shape, x->data), TN_OK);
        cr_assert_eq(tn_st_add(w, "check.logits", y->ndim, y->shape, y->data), TN_OK);
        char path[4300];
        snprintf(path, sizeof path, "%s/%s", dir, cases[k].file);
        cr_assert_eq(tn_st_save(w, path), TN_OK, "%s", tn_error_message());
        tn_st_writer_free(w);

        tn_st_file *f;
        tn_resnet_config back;
        cr_assert_eq(tn_st_open(path, &f), TN_OK);
        cr_assert_eq(tn_resnet_meta_read(f, &back), TN_OK, "%s", tn_error_message());
        cr_assert(back.depth == net->cfg.depth && back.width == net->cfg.width &&
                  back.num_classes == net->cfg.num_classes && back.variant == net->cfg.variant &&
                  back.shortcut == net->cfg.shortcut && back.in_channels == net->cfg.in_channels &&
                  back.gn_group_channels == net->cfg.gn_group_channels);
        tn_st_close(f);
        tn_graph_free(g);
        tn_resnet_free(net);
        tn_params_free(ps);
    }
    /* Metadata errors name the key. */
    tn_st_writer *w = tn_st_writer_new();
    tn_st_add_meta(w, "tenet.arch", "cifar_resnet");
    tn_st_add_meta(w, "resnet.depth", "twenty");
    char path[4300];
    snprintf(path, sizeof path, "%s/bad_meta.safetensors", nt_tmpdir());
    cr_assert_eq(tn_st_save(w, path), TN_OK);
    tn_st_writer_free(w);
    tn_st_file *f;
    tn_resnet_config cfg;
    cr_assert_eq(tn_st_open(path, &f), TN_OK);
    cr_assert_eq(tn_resnet_meta_read(f, &cfg), TN_ERR_FORMAT);
    cr_assert(strstr(tn_error_message(), "resnet.depth") && strstr(tn_error_message(), "twenty"),
              "%s", tn_error_message());
    tn_st_close(f);
}
