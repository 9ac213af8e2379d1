/* tests/tensor/test_fixtures.c - conv2d, batch, group and layer norm, linear, the losses
 * (cross-entropy, nll, mse) and pooling against PyTorch references
 * (tests/tensor/gen_fixtures.py, files in tests/fixtures/tensor/).
 *
 * Each tensor is compared by  max |a - b| / max(max |b|, 1e-30)  (relative
 * to the reference's largest magnitude) and must stay <= 1e-5.  Backward
 * runs on f = sum(out * R) with the fixture's fixed random R, through a tiny
 * custom op, so no other op under test takes part. */
#include "tensor/safetensors.h"
#include "gradcheck.h"
#include "tensor/tensor.h"

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define FIXTURE_TOL 1e-5

/* ------------------------------------------------------------ helpers */

static tn_st_file *open_fixture(const char *name)
{
    const char *root = getenv("TENET_SOURCE_ROOT");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fixtures/tensor/%s.safetensors", root ? root : ".",
             name);
    tn_st_file *f = NULL;
    tn_status st = tn_st_open(path, &f);
    cr_assert_eq(st, TN_OK, "%s: %s (run from the source root or set TENET_SOURCE_ROOT)", path,
                 tn_error_message());
    return f;
}

static const tn_st_entry *entry(const tn_st_file *f, const char *name)
{
    const tn_st_entry *e = tn_st_find(f, name);
    cr_assert_not_null(e, "fixture tensor '%s' is missing", name);
    return e;
}

static tn_tensor *load(tn_graph *g, const tn_st_file *f, const char *name, bool grad)
{
    const tn_st_entry *e = entry(f, name);
    tn_tensor *t = tn_from_data(g, e->ndim, e->shape, e->data);
    cr_assert_not_null(t);
    return grad ? tn_requires_grad(g, t) : t;
}

static double meta_num(const tn_st_file *f, const char *key)
{
    const char *v = tn_st_meta(f, key);
    cr_assert_not_null(v, "fixture metadata '%s' is missing", key);
    return atof(v);
}

/* Compare got (numel floats) with the fixture's tensor `name`. */
static void expect_close(const char *fx, const tn_st_file *f, const char *name, const float *got,
                         size_t numel, double tol)
{
    const tn_st_entry *e = entry(f, name);
    cr_assert_eq(e->numel, numel, "%s/%s: %zu elements, expected %zu", fx, name, numel, e->numel);
    cr_assert_not_null(got, "%s/%s: no values (gradient did not flow)", fx, name);
    double diff = 0.0, mag = 0.0;
    size_t worst = 0;
    for (size_t i = 0; i < numel; i++) {
        double d = fabs((double)got[i] - e->data[i]);
        if (!(d <= diff)) {
            diff = d;
            worst = i;
        }
        if (fabs(e->data[i]) > mag) mag = fabs(e->data[i]);
    }
    double rel = diff / (mag > 1e-30 ? mag : 1e-30);
    cr_log_info("fixture %s/%s: relative error %.3g", fx, name, rel);
    cr_expect(rel <= tol, "%s/%s: relative error %.3g > %.1g (element %zu: %.9g vs %.9g)", fx, name,
              rel, tol, worst, (double)got[worst], (double)e->data[worst]);
}

static void backward_with(tn_graph *g, tn_tensor *out, tn_tensor *r)
{
    tn_tensor *f = gc_dot(g, out, r);
    cr_assert_not_null(f);
    cr_assert_eq(tn_backward(g, f), TN_OK, "%s", tn_error_message());
}

/* ------------------------------------------------------------- conv2d */

static void check_conv(const char *fx)
{
    tn_st_file *f = open_fixture(fx);
    tn_graph *g = tn_graph_new();
    bool bias = meta_num(f, "bias") != 0.0;
    tn_tensor *x = load(g, f, "x", true), *w = load(g, f, "w", true);
    tn_tensor *b = bias ? load(g, f, "b", true) : NULL;
    tn_tensor *y = tn_conv2d(g, x, w, b, (int)meta_num(f, "stride"), (int)meta_num(f, "padding"),
                             (int)meta_num(f, "dilation"));
    cr_assert_not_null(y);
    expect_close(fx, f, "out", y->data, y->numel, FIXTURE_TOL);
    backward_with(g, y, load(g, f, "R", false));
    expect_close(fx, f, "grad_x", x->grad, x->numel, FIXTURE_TOL);
    expect_close(fx, f, "grad_w", w->grad, w->numel, FIXTURE_TOL);
    if (bias) expect_close(fx, f, "grad_b", b->grad, b->numel, FIXTURE_TOL);
    tn_graph_free(g);
    tn_st_close(f);
}

Test(fixtures, conv2d_stride1_pad1_bias) { check_conv("conv2d_s1_p1_bias"); }
Test(fixtures, conv2d_stride1_pad0_no_bias) { check_conv("conv2d_s1_p0_nobias"); }
Test(fixtures, conv2d_stride2_pad1_bias) { check_conv("conv2d_s2_p1_bias"); }
Test(fixtures, conv2d_stride2_pad0_no_bias) { check_conv("conv2d_s2_p0_nobias"); }
Test(fixtures, conv2d_dilation2_pad2_bias) { check_conv("conv2d_d2_p2_bias"); }
Test(fixtures, conv2d_stride1_pad1_no_bias) { check_conv("conv2d_s1_p1_nobias"); }
Test(fixtures, conv2d_stride1_pad0_bias) { check_conv("conv2d_s1_p0_bias"); }
/* ResNet-20's shapes: the direct 3x3 kernels. */
Test(fixtures, conv2d_resnet_stride1_pad1) { check_conv("conv2d_resnet_s1_p1"); }
Test(fixtures, conv2d_resnet_stride2_pad1) { check_conv("conv2d_resnet_s2_p1"); }

/* --------------------------------------------------------- batch norm */

/* Backward of a normalisation's output y with the fixture's R; x's, gamma's
 * and beta's gradients against the fixture's. */
static void check_norm_grads(const char *fx, tn_st_file *f, tn_graph *g, tn_tensor *y,
                             const tn_tensor *x, const tn_tensor *gamma, const tn_tensor *beta)
{
    backward_with(g, y, load(g, f, "R", false));
    expect_close(fx, f, "grad_x", x->grad, x->numel, FIXTURE_TOL);
    expect_close(fx, f, "grad_gamma", gamma->grad, gamma->numel, FIXTURE_TOL);
    expect_close(fx, f, "grad_beta", beta->grad, beta->numel, FIXTURE_TOL);
    tn_graph_free(g);
    tn_st_close(f);
}

static void check_batch_norm(const char *fx)
{
    tn_st_file *f = open_fixture(fx);
    tn_graph *g = tn_graph_new();
    bool training = meta_num(f, "training") != 0.0;
    tn_graph_set_training(g, training);
    tn_tensor *x = load(g, f, "x", true), *gamma = load(g, f, "gamma", true);
    tn_tensor *beta = load(g, f, "beta", true);
    tn_tensor *rm = load(g, f, "running_mean", false), *rv = load(g, f, "running_var", false);
    tn_tensor *y = tn_batch_norm(g, x, gamma, beta, rm, rv, (float)meta_num(f, "momentum"),
                                 (float)meta_num(f, "eps"));
    cr_assert_not_null(y);
    expect_close(fx, f, "out", y->data, y->numel, FIXTURE_TOL);
    expect_close(fx, f, "running_mean_after", rm->data, rm->numel, FIXTURE_TOL);
    expect_close(fx, f, "running_var_after", rv->data, rv->numel, FIXTURE_TOL);
    check_norm_grads(fx, f, g, y, x, gamma, beta);
}

Test(fixtures, batch_norm_train_4d) { check_batch_norm("batch_norm_train_4d"); }
Test(fixtures, batch_norm_train_2d) { check_batch_norm("batch_norm_train_2d"); }
Test(fixtures, batch_norm_eval_4d) { check_batch_norm("batch_norm_eval_4d"); }
Test(fixtures, batch_norm_train_3d) { check_batch_norm("batch_norm_train_3d"); }

/* ----------------------------------- group norm, instance norm, layer norm */

static void check_group_norm(const char *fx)
{
    tn_st_file *f = open_fixture(fx);
    tn_graph *g = tn_graph_new();
    const int groups = (int)meta_num(f, "groups"), norm_ndim = (int)meta_num(f, "norm_ndim");
    const float eps = (float)meta_num(f, "eps");
    tn_tensor *x = load(g, f, "x", true), *gamma = load(g, f, "gamma", true);
    tn_tensor *beta = load(g, f, "beta", true);
    tn_tensor *y = groups ? tn_group_norm(g, x, groups, gamma, beta, eps)
                          : tn_layer_norm(g, x, norm_ndim, gamma, beta, eps);
    cr_assert_not_null(y);
    expect_close(fx, f, "out", y->data, y->numel, FIXTURE_TOL);
    check_norm_grads(fx, f, g, y, x, gamma, beta);
}

Test(fixtures, group_norm_4d) { check_group_norm("group_norm_4d"); }
Test(fixtures, group_norm_4d_one_group) { check_group_norm("group_norm_4d_1group"); }
Test(fixtures, group_norm_resnet_shape) { check_group_norm("group_norm_resnet"); }
Test(fixtures, instance_norm_4d) { check_group_norm("instance_norm_4d"); }
Test(fixtures, layer_norm_over_chw) { check_group_norm("layer_norm_chw"); }
Test(fixtures, layer_norm_over_last_dim) { check_group_norm("layer_norm_last"); }

/* ------------------------------------------------------------- linear */

Test(fixtures, linear)
{
    const char *fx = "linear";
    tn_st_file *f = open_fixture(fx);
    tn_graph *g = tn_graph_new();
    tn_tensor *x = load(g, f, "x", true), *w = load(g, f, "w", true), *b = load(g, f, "b", true);
    tn_tensor *y = tn_linear(g, x, w, b);
    cr_assert_not_null(y);
    expect_close(fx, f, "out", y->data, y->numel, FIXTURE_TOL);
    backward_with(g, y, load(g, f, "R", false));
    expect_close(fx, f, "grad_x", x->grad, x->numel, FIXTURE_TOL);
    expect_close(fx, f, "grad_w", w->grad, w->numel, FIXTURE_TOL);
    expect_close(fx, f, "grad_b", b->grad, b->numel, FIXTURE_TOL);
    tn_graph_free(g);
    tn_st_close(f);
}

/* ------------------------------------------------------ cross-entropy */

static void check_cross_entropy(const char *fx)
{
    tn_st_file *f = open_fixture(fx);
    tn_graph *g = tn_graph_new();
    tn_tensor *z = load(g, f, "logits", true);
    const tn_st_entry *le = entry(f, "labels");
    cr_assert_eq(le->numel, (size_t)z->shape[0]);
    int32_t labels[64];
    cr_assert(le->numel <= 64);
    for (size_t i = 0; i < le->numel; i++) labels[i] = (int32_t)le->data[i];
    tn_tensor *loss = tn_cross_entropy(g, z, labels, (float)meta_num(f, "smoothing"));
    cr_assert_not_null(loss);
    expect_close(fx, f, "loss", loss->data, 1, FIXTURE_TOL);
    cr_assert_eq(tn_backward(g, loss), TN_OK);
    expect_close(fx, f, "grad_logits", z->grad, z->numel, FIXTURE_TOL);
    tn_graph_free(g);
    tn_st_close(f);
}

Test(fixtures, cross_entropy) { check_cross_entropy("cross_entropy"); }
Test(fixtures, cross_entropy_label_smoothing) { check_cross_entropy("cross_entropy_smooth"); }

/* A loss of two differentiable inputs: its value and both gradients. */
static void check_loss2(const char *fx, const char *a_name, const char *b_name,
                        tn_tensor *(*loss_fn)(tn_graph *, tn_tensor *, tn_tensor *))
{
    tn_st_file *f = open_fixture(fx);
    tn_graph *g = tn_graph_new();
    tn_tensor *a = load(g, f, a_name, true), *b = load(g, f, b_name, true);
    tn_tensor *loss = loss_fn(g, a, b);
    cr_assert_not_null(loss);
    expect_close(fx, f, "loss", loss->data, 1, FIXTURE_TOL);
    cr_assert_eq(tn_backward(g, loss), TN_OK);
    char grad_name[64];
    snprintf(grad_name, sizeof grad_name, "grad_%s", a_name);
    expect_close(fx, f, grad_name, a->grad, a->numel, FIXTURE_TOL);
    snprintf(grad_name, sizeof grad_name, "grad_%s", b_name);
    expect_close(fx, f, grad_name, b->grad, b->numel, FIXTURE_TOL);
    tn_graph_free(g);
    tn_st_close(f);
}

Test(fixtures, cross_entropy_soft_targets)
{
    check_loss2("cross_entropy_soft", "logits", "targets", tn_cross_entropy_soft);
}

/* --------------------------------------------------------- nll, mse */

Test(fixtures, nll_loss)
{
    const char *fx = "nll_loss";
    tn_st_file *f = open_fixture(fx);
    tn_graph *g = tn_graph_new();
    tn_tensor *lp = load(g, f, "log_probs", true);
    const tn_st_entry *le = entry(f, "labels");
    cr_assert(le->numel == (size_t)lp->shape[0] && le->numel <= 64);
    int32_t labels[64];
    for (size_t i = 0; i < le->numel; i++) labels[i] = (int32_t)le->data[i];
    tn_tensor *loss = tn_nll_loss(g, lp, labels);
    cr_assert_not_null(loss);
    expect_close(fx, f, "loss", loss->data, 1, FIXTURE_TOL);
    cr_assert_eq(tn_backward(g, loss), TN_OK);
    expect_close(fx, f, "grad_log_probs", lp->grad, lp->numel, FIXTURE_TOL);
    tn_graph_free(g);
    tn_st_close(f);
}

Test(fixtures, mse_loss) { check_loss2("mse_loss", "pred", "target", tn_mse_loss); }

/* ------------------------------------------------------------ pooling */

static void check_pool(const char *fx, bool max)
{
    tn_st_file *f = open_fixture(fx);
    tn_graph *g = tn_graph_new();
    tn_tensor *x = load(g, f, "x", true);
    int k = (int)meta_num(f, "kernel"), s = (int)meta_num(f, "stride"),
        p = (int)meta_num(f, "padding");
    tn_tensor *y = max ? tn_max_pool2d(g, x, k, s, p) : tn_avg_pool2d(g, x, k, s, p);
    cr_assert_not_null(y);
    expect_close(fx, f, "out", y->data, y->numel, FIXTURE_TOL);
    backward_with(g, y, load(g, f, "R", false));
    expect_close(fx, f, "grad_x", x->grad, x->numel, FIXTURE_TOL);
    tn_graph_free(g);
    tn_st_close(f);
}

Test(fixtures, max_pool2d_k3_s2_p1) { check_pool("max_pool2d_k3_s2_p1", true); }
Test(fixtures, max_pool2d_k2_s2_p0) { check_pool("max_pool2d_k2_s2_p0", true); }
Test(fixtures, avg_pool2d_k3_s2_p1) { check_pool("avg_pool2d_k3_s2_p1", false); }
Test(fixtures, avg_pool2d_k2_s2_p0) { check_pool("avg_pool2d_k2_s2_p0", false); }
