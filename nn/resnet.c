/* nn/resnet.c - CIFAR ResNets (He et al. 2016): post-activation with batch,
 * group or layer norm, pre-activation, and a variant without normalisation; option A
 * (parameter-free) and option B (projection) shortcuts.  See nn.h. */
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* -------------------------------------------------------- option-A shortcut
 * A user-style custom op (tensor/tensor.h's tn_op, nothing internal): one
 * pass that subsamples and zero-pads, instead of a pooling op, two zero
 * tensors and a concat.  x (N, C, H, W) -> (N, C + 2 pad, OH, OW),
 * OH = ceil(H / stride), OW = ceil(W / stride). */

typedef struct shortcut_attr {
    int stride, pad;
} shortcut_attr;

static void shortcut_check(tn_tensor *out)
{
    const shortcut_attr *at = out->attr;
    const tn_tensor *x = out->in[0];
    char buf[64];
    if (x->ndim != 4)
        tn_misuse("nn_shortcut_a", "x must be (N, C, H, W), got %s", tn_shape_str(x, buf, sizeof buf));
    if (at->stride < 1 || at->pad < 0)
        tn_misuse("nn_shortcut_a", "stride %d must be >= 1 and pad %d >= 0", at->stride, at->pad);
    out->ndim = 4;
    out->shape[0] = x->shape[0];
    out->shape[1] = x->shape[1] + 2 * at->pad;
    out->shape[2] = (x->shape[2] + at->stride - 1) / at->stride;
    out->shape[3] = (x->shape[3] + at->stride - 1) / at->stride;
}

static void shortcut_forward(tn_graph *g, tn_tensor *out)
{
    (void)g;
    const shortcut_attr *at = out->attr;
    const tn_tensor *x = out->in[0];
    const int n = x->shape[0], c = x->shape[1], h = x->shape[2], w = x->shape[3];
    const int oc = out->shape[1], oh = out->shape[2], ow = out->shape[3], s = at->stride;
    const size_t plane = (size_t)oh * ow;
#pragma omp parallel for schedule(static) if (out->numel >= 65536)
    for (int i = 0; i < n * oc; i++) {
        int b = i / oc, k = i % oc - at->pad;
        float *y = out->data + (size_t)i * plane;
        if (k < 0 || k >= c) {
            memset(y, 0, plane * sizeof(float));
            continue;
        }
        const float *xp = x->data + ((size_t)b * c + k) * h * w;
        for (int r = 0; r < oh; r++)
            for (int q = 0; q < ow; q++) y[r * ow + q] = xp[(size_t)r * s * w + (size_t)q * s];
    }
}

static void shortcut_backward(tn_graph *g, tn_tensor *out)
{
    const shortcut_attr *at = out->attr;
    tn_tensor *x = out->in[0];
    float *gx = tn_grad(g, x);
    if (!gx) return;
    const int n = x->shape[0], c = x->shape[1], h = x->shape[2], w = x->shape[3];
    const int oc = out->shape[1], oh = out->shape[2], ow = out->shape[3], s = at->stride;
    const size_t plane = (size_t)oh * ow;
#pragma omp parallel for schedule(static) if (out->numel >= 65536)
    for (int i = 0; i < n * c; i++) {
        int b = i / c, k = i % c;
        const float *gy = out->grad + ((size_t)b * oc + k + at->pad) * plane;
        float *gp = gx + (size_t)i * h * w;
        for (int r = 0; r < oh; r++)
            for (int q = 0; q < ow; q++) gp[(size_t)r * s * w + (size_t)q * s] += gy[r * ow + q];
    }
}

static const tn_op nn_shortcut_a_op = {.name = "nn_shortcut_a",
                                       .check = shortcut_check,
                                       .forward = shortcut_forward,
                                       .backward = shortcut_backward};

tn_tensor *tn_nn_shortcut_a(tn_graph *g, tn_tensor *x, int stride, int pad)
{
    shortcut_attr at = {stride, pad};
    return tn_op_apply(g, &nn_shortcut_a_op, 1, &x, &at, sizeof at);
}

/* ------------------------------------------------------------------ build */

static tn_status bad_config(const char *what, int value)
{
    return tn_error_set(TN_ERR_ARG, "tenet: tn_resnet_new: %s (got %d)", what, value);
}

/* Post-activation variants: conv -> norm -> relu, the norm a batch norm or
 * (GN, LN) a group norm. */
static bool post_act(const tn_resnet_config *cfg)
{
    return cfg->variant == TN_RESNET_BN || cfg->variant == TN_RESNET_GN ||
           cfg->variant == TN_RESNET_LN;
}

static bool group_normed(const tn_resnet_config *cfg)
{
    return cfg->variant == TN_RESNET_GN || cfg->variant == TN_RESNET_LN;
}

/* GN: channels / gn_group_channels groups (at least 1, lowered to a divisor
 * of channels); LN: 1. */
static int norm_groups(const tn_resnet_config *cfg, int channels)
{
    if (cfg->variant == TN_RESNET_LN) return 1;
    int per = cfg->gn_group_channels > 0 ? cfg->gn_group_channels : 16;
    int groups = channels / per > 1 ? channels / per : 1;
    while (channels % groups) groups--;
    return groups;
}

/* The post-activation norm `name` of a block or the stem: bn, or gn for GN and LN. */
static tn_status norm_init(const tn_resnet_config *cfg, tn_params *ps, const char *name,
                           int channels, tn_nn_batch_norm *bn, tn_nn_group_norm *gn)
{
    if (group_normed(cfg))
        return tn_nn_group_norm_init(gn, ps, name, norm_groups(cfg, channels), channels, true);
    return tn_nn_batch_norm_init(bn, ps, name, channels, true);
}

static tn_status block_init(tn_resnet_block *b, tn_params *ps, const char *name,
                            const tn_resnet_config *cfg, int in_planes, int planes, int stride,
                            float no_bn_scale, tn_rng *rng)
{
    char sub[TN_NN_NAME_MAX];
    const bool bn = cfg->variant != TN_RESNET_NO_BN, conv_bias = !bn;
    b->in_planes = in_planes;
    b->planes = planes;
    b->stride = stride;
    b->project = stride != 1 || in_planes != planes;
    tn_status st;

#define TRY(expr)                                                                          \
    do {                                                                                   \
        if ((st = (expr)) != TN_OK) return st;                                             \
    } while (0)
#define SUB(s) (tn_nn_name(sub, name, s) == TN_OK ? sub : "")

    TRY(tn_nn_name(sub, name, "shortcut.1")); /* the longest name fits: SUB cannot fail */
    if (cfg->variant == TN_RESNET_PREACT) TRY(tn_nn_batch_norm_init(&b->bn1, ps, SUB("bn1"), in_planes, true));
    TRY(tn_nn_conv2d_init(&b->conv1, ps, SUB("conv1"), in_planes, planes, 3, stride, 1, conv_bias, rng));
    if (post_act(cfg)) TRY(norm_init(cfg, ps, SUB("bn1"), planes, &b->bn1, &b->gn1));
    if (cfg->variant == TN_RESNET_PREACT) TRY(tn_nn_batch_norm_init(&b->bn2, ps, SUB("bn2"), planes, true));
    TRY(tn_nn_conv2d_init(&b->conv2, ps, SUB("conv2"), planes, planes, 3, 1, 1, conv_bias, rng));
    if (post_act(cfg)) TRY(norm_init(cfg, ps, SUB("bn2"), planes, &b->bn2, &b->gn2));
    if (b->project && cfg->shortcut == TN_RESNET_SHORTCUT_B) {
        TRY(tn_nn_conv2d_init(&b->shortcut_conv, ps, SUB("shortcut.0"), in_planes, planes, 1,
                              stride, 0, conv_bias, rng));
        if (post_act(cfg))
            TRY(norm_init(cfg, ps, SUB("shortcut.1"), planes, &b->shortcut_bn, &b->shortcut_gn));
    }
    if (!bn) TRY(tn_nn_param(ps, name, "scale", 0, NULL, TN_PARAM, &b->scale));

    /* Initialisation. */
    if (cfg->init != TN_NN_INIT_TORCH_DEFAULT) {
        tn_nn_init_apply(cfg->init, b->conv1.weight, b->conv1.bias, rng);
        tn_nn_init_apply(cfg->init, b->conv2.weight, b->conv2.bias, rng);
        if (b->shortcut_conv.weight)
            tn_nn_init_apply(cfg->init, b->shortcut_conv.weight, b->shortcut_conv.bias, rng);
    }
    if (bn) {
        if (cfg->zero_init_residual)
            tn_nn_init_zeros(group_normed(cfg) ? b->gn2.weight : b->bn2.weight);
    } else {
        /* Fixup-style: conv1 scaled by L^(-1/2), the branch's last conv at
         * zero, biases at zero, the branch multiplier at one. */
        for (size_t i = 0; i < b->conv1.weight->numel; i++) b->conv1.weight->data[i] *= no_bn_scale;
        tn_nn_init_zeros(b->conv1.bias);
        tn_nn_init_zeros(b->conv2.weight);
        tn_nn_init_zeros(b->conv2.bias);
        if (b->shortcut_conv.bias) tn_nn_init_zeros(b->shortcut_conv.bias);
        tn_nn_init_ones(b->scale);
    }
    return TN_OK;
#undef SUB
}

tn_status tn_resnet_new(tn_resnet **out, tn_params *ps, const tn_resnet_config *config,
                        tn_rng *rng)
{
    if (!out || !ps || !config || !rng) tn_misuse("tn_resnet_new", "out, ps, config and rng are required");
    *out = NULL;
    tn_resnet_config cfg = *config;
    if (!cfg.num_classes) cfg.num_classes = 10;
    if (!cfg.width) cfg.width = 16;
    if (!cfg.in_channels) cfg.in_channels = 3;
    if (cfg.depth < 8 || (cfg.depth - 2) % 6 != 0)
        return bad_config("depth must be 6n+2 with n >= 1 (20, 32, 44, 56, 110, ...)", cfg.depth);
    if (cfg.num_classes < 1) return bad_config("num_classes must be > 0", cfg.num_classes);
    if (cfg.width < 1) return bad_config("width must be > 0", cfg.width);
    if (cfg.in_channels < 1) return bad_config("in_channels must be > 0", cfg.in_channels);
    if ((unsigned)cfg.variant > TN_RESNET_LN) return bad_config("unknown variant", (int)cfg.variant);
    if ((unsigned)cfg.shortcut > TN_RESNET_SHORTCUT_B)
        return bad_config("unknown shortcut", (int)cfg.shortcut);
    if ((unsigned)cfg.init > TN_NN_INIT_XAVIER_NORMAL) return bad_config("unknown init", (int)cfg.init);
    if (!(cfg.dropout >= 0 && cfg.dropout < 1) || (cfg.dropout > 0 && !cfg.dropout_rng))
        return tn_error_set(TN_ERR_ARG, "tenet: tn_resnet_new: dropout %g must be in [0, 1) and "
                                        "needs dropout_rng", (double)cfg.dropout);
    if (cfg.shortcut == TN_RESNET_SHORTCUT_A && cfg.width % 2 != 0)
        return bad_config("option A pads planes/4 channels on each side: width must be even",
                          cfg.width);

    tn_resnet *net = calloc(1, sizeof *net);
    int n = (cfg.depth - 2) / 6;
    if (net) net->blocks = calloc((size_t)3 * n, sizeof *net->blocks);
    if (!net || !net->blocks) {
        free(net);
        return tn_error_set(TN_ERR_NOMEM, "tenet: tn_resnet_new: out of memory");
    }
    net->cfg = cfg;
    net->blocks_per_stage = n;
    net->n_blocks = 3 * n;
    const bool bn = cfg.variant != TN_RESNET_NO_BN;
    tn_status st;
#define TRY_NET(expr)                                                                      \
    do {                                                                                   \
        if ((st = (expr)) != TN_OK) {                                                      \
            tn_resnet_free(net);                                                           \
            return st;                                                                     \
        }                                                                                  \
    } while (0)

    TRY_NET(tn_nn_conv2d_init(&net->conv1, ps, "conv1", cfg.in_channels, cfg.width, 3, 1, 1, !bn, rng));
    if (cfg.init != TN_NN_INIT_TORCH_DEFAULT)
        tn_nn_init_apply(cfg.init, net->conv1.weight, net->conv1.bias, rng);
    if (!bn) tn_nn_init_zeros(net->conv1.bias);
    if (post_act(&cfg)) TRY_NET(norm_init(&cfg, ps, "bn1", cfg.width, &net->bn1, &net->gn1));

    const float no_bn_scale = (float)(1.0 / sqrt((double)net->n_blocks));
    int in_planes = cfg.width;
    for (int stage = 0; stage < 3; stage++) {
        int planes = cfg.width << stage;
        for (int i = 0; i < n; i++) {
            char name[64];
            snprintf(name, sizeof name, "layer%d.%d", stage + 1, i);
            int stride = (stage > 0 && i == 0) ? 2 : 1;
            TRY_NET(block_init(&net->blocks[stage * n + i], ps, name, &cfg, in_planes, planes,
                               stride, no_bn_scale, rng));
            in_planes = planes;
        }
    }
    if (cfg.variant == TN_RESNET_PREACT)
        TRY_NET(tn_nn_batch_norm_init(&net->bn_final, ps, "bn_final", in_planes, true));
    TRY_NET(tn_nn_linear_init(&net->linear, ps, "linear", in_planes, cfg.num_classes, true, rng));
    if (!bn) {
        tn_nn_init_zeros(net->linear.weight);
        tn_nn_init_zeros(net->linear.bias);
    }
#undef TRY_NET
    *out = net;
    return TN_OK;
}

void tn_resnet_free(tn_resnet *net)
{
    if (!net) return;
    free(net->blocks);
    free(net);
}

/* ---------------------------------------------------------------- forward */

/* relu(bn(x) + r) as one fused op (tn_batch_norm_relu): one output instead
 * of three, one pass each way; bit-identical to relu(add(bn(x), r)). */
static tn_tensor *bn_relu(tn_graph *g, const tn_nn_batch_norm *bn, tn_tensor *x, tn_tensor *r)
{
    return tn_batch_norm_relu(g, x, bn->weight, bn->bias, bn->running_mean, bn->running_var,
                              bn->momentum, bn->eps, r);
}

/* relu(norm(x) + r), r may be NULL: the fused batch norm op, or group norm,
 * add and relu for GN and LN. */
static tn_tensor *norm_relu(tn_graph *g, const tn_resnet *net, const tn_nn_batch_norm *bn,
                            const tn_nn_group_norm *gn, tn_tensor *x, tn_tensor *r)
{
    if (!group_normed(&net->cfg)) return bn_relu(g, bn, x, r);
    tn_tensor *y = tn_nn_group_norm_forward(g, gn, x);
    return tn_relu(g, r ? tn_add(g, y, r) : y);
}

/* ------------------------------------------ inference: batch norm folded
 * In eval mode without gradients a batch norm is an affine map per
 * channel, s = gamma / sqrt(running_var + eps), t = beta - running_mean * s,
 * folded into the convolution before it: w' = w * s (per output channel),
 * b' = b * s + t.  conv, bias, residual and relu then take one output pass
 * (tn_conv2d_relu) where conv + bn_relu took two, as ONNX Runtime and
 * PyTorch's fuse_conv_bn_eval do.  The logits differ from the unfolded
 * graph's by float rounding only (w * s, s rounded to float, per weight). */

static bool folds(const tn_graph *g, const tn_resnet *net)
{
    return net->cfg.variant == TN_RESNET_BN && !tn_graph_training(g) && !tn_graph_grad_enabled(g);
}

/* conv followed by bn, folded: relu(conv'(x) + r) with relu, else conv'(x). */
static tn_tensor *conv_bn_folded(tn_graph *g, const tn_nn_conv2d *conv, const tn_nn_batch_norm *bn,
                                 tn_tensor *x, tn_tensor *r, bool relu)
{
    const tn_tensor *w = conv->weight;
    tn_tensor *wf = tn_empty(g, w->ndim, w->shape), *bf = tn_empty(g, 1, (int[]){conv->out});
    if (!x || !wf || !bf) return NULL;
    const size_t per = w->numel / (size_t)conv->out;
    for (int o = 0; o < conv->out; o++) {
        const double gamma = bn->weight ? bn->weight->data[o] : 1.0;
        const double beta = bn->bias ? bn->bias->data[o] : 0.0;
        const double s = gamma / sqrt((double)bn->running_var->data[o] + (double)bn->eps);
        const double b0 = conv->bias ? conv->bias->data[o] : 0.0;
        bf->data[o] = (float)(beta + (b0 - bn->running_mean->data[o]) * s);
        const float sf = (float)s, *wo = w->data + (size_t)o * per;
        float *fo = wf->data + (size_t)o * per;
        for (size_t k = 0; k < per; k++) fo[k] = wo[k] * sf;
    }
    if (relu) return tn_conv2d_relu(g, x, wf, bf, r, conv->stride, conv->padding);
    return tn_conv2d(g, x, wf, bf, conv->stride, conv->padding, conv->dilation);
}

static tn_tensor *shortcut(tn_graph *g, const tn_resnet *net, const tn_resnet_block *b,
                           tn_tensor *x, tn_tensor *pre)
{
    if (!b->project) return x;
    if (net->cfg.shortcut == TN_RESNET_SHORTCUT_A)
        return tn_nn_shortcut_a(g, x, b->stride, b->planes / 4);
    switch (net->cfg.variant) {
    case TN_RESNET_BN:
        if (folds(g, net)) return conv_bn_folded(g, &b->shortcut_conv, &b->shortcut_bn, x, NULL, false);
        return tn_nn_batch_norm_forward(g, &b->shortcut_bn, tn_nn_conv2d_forward(g, &b->shortcut_conv, x));
    case TN_RESNET_GN:
    case TN_RESNET_LN:
        return tn_nn_group_norm_forward(g, &b->shortcut_gn, tn_nn_conv2d_forward(g, &b->shortcut_conv, x));
    case TN_RESNET_PREACT: return tn_nn_conv2d_forward(g, &b->shortcut_conv, pre);
    case TN_RESNET_NO_BN: return tn_nn_conv2d_forward(g, &b->shortcut_conv, x);
    }
    return NULL;
}

static tn_tensor *block_forward(tn_graph *g, const tn_resnet *net, const tn_resnet_block *b,
                                tn_tensor *x)
{
    tn_tensor *y, *pre = NULL;
    if (folds(g, net)) {
        y = conv_bn_folded(g, &b->conv1, &b->bn1, x, NULL, true);
        return conv_bn_folded(g, &b->conv2, &b->bn2, y, shortcut(g, net, b, x, NULL), true);
    }
    switch (net->cfg.variant) {
    case TN_RESNET_BN:
    case TN_RESNET_GN:
    case TN_RESNET_LN:
        y = norm_relu(g, net, &b->bn1, &b->gn1, tn_nn_conv2d_forward(g, &b->conv1, x), NULL);
        y = tn_nn_conv2d_forward(g, &b->conv2, y);
        return norm_relu(g, net, &b->bn2, &b->gn2, y, shortcut(g, net, b, x, NULL));
    case TN_RESNET_PREACT:
        pre = bn_relu(g, &b->bn1, x, NULL);
        y = tn_nn_conv2d_forward(g, &b->conv1, pre);
        y = tn_nn_conv2d_forward(g, &b->conv2, bn_relu(g, &b->bn2, y, NULL));
        return tn_add(g, y, shortcut(g, net, b, x, pre));
    case TN_RESNET_NO_BN:
        y = tn_relu(g, tn_nn_conv2d_forward(g, &b->conv1, x));
        y = tn_mul(g, tn_nn_conv2d_forward(g, &b->conv2, y), b->scale);
        return tn_relu(g, tn_add(g, y, shortcut(g, net, b, x, NULL)));
    }
    return NULL;
}

tn_tensor *tn_resnet_forward(tn_graph *g, const tn_resnet *net, tn_tensor *x)
{
    if (!x) return NULL;
    if (x->ndim != 4 || x->shape[1] != net->cfg.in_channels) {
        char buf[64];
        tn_misuse("tn_resnet_forward", "x must be (N, %d, H, W), got %s", net->cfg.in_channels,
                  tn_shape_str(x, buf, sizeof buf));
    }
    tn_tensor *y;
    if (folds(g, net)) {
        y = conv_bn_folded(g, &net->conv1, &net->bn1, x, NULL, true);
    } else {
        y = tn_nn_conv2d_forward(g, &net->conv1, x);
        if (post_act(&net->cfg)) y = norm_relu(g, net, &net->bn1, &net->gn1, y, NULL);
        else if (net->cfg.variant == TN_RESNET_NO_BN) y = tn_relu(g, y);
    }
    for (int i = 0; i < net->n_blocks && y; i++) y = block_forward(g, net, &net->blocks[i], y);
    if (net->cfg.variant == TN_RESNET_PREACT)
        y = bn_relu(g, &net->bn_final, y, NULL);
    y = tn_global_avg_pool(g, y);
    if (net->cfg.dropout > 0 && y) y = tn_dropout(g, y, net->cfg.dropout, net->cfg.dropout_rng);
    return tn_nn_linear_forward(g, &net->linear, y);
}

tn_tensor *tn_resnet_forward_fn(tn_graph *g, const void *net, tn_tensor *x)
{
    return tn_resnet_forward(g, net, x);
}

/* ---------------------------------------------------------------- metadata */

static const char *const variant_names[] = {"bn", "preact", "nobn", "gn", "ln"};
#define N_VARIANTS ((int)(sizeof variant_names / sizeof variant_names[0]))

tn_status tn_resnet_meta_write(tn_st_writer *w, const tn_resnet_config *cfg)
{
    if ((unsigned)cfg->variant > TN_RESNET_LN || (unsigned)cfg->shortcut > TN_RESNET_SHORTCUT_B)
        tn_misuse("tn_resnet_meta_write", "unknown variant %d or shortcut %d", (int)cfg->variant,
                  (int)cfg->shortcut);
    char buf[5][16];
    snprintf(buf[0], sizeof buf[0], "%d", cfg->depth);
    snprintf(buf[1], sizeof buf[1], "%d", cfg->width ? cfg->width : 16);
    snprintf(buf[2], sizeof buf[2], "%d", cfg->num_classes ? cfg->num_classes : 10);
    snprintf(buf[3], sizeof buf[3], "%d", cfg->in_channels ? cfg->in_channels : 3);
    snprintf(buf[4], sizeof buf[4], "%d", cfg->gn_group_channels > 0 ? cfg->gn_group_channels : 16);
    tn_status st = tn_st_add_meta(w, "tenet.arch", "cifar_resnet");
    if (st == TN_OK) st = tn_st_add_meta(w, "resnet.depth", buf[0]);
    if (st == TN_OK) st = tn_st_add_meta(w, "resnet.width", buf[1]);
    if (st == TN_OK) st = tn_st_add_meta(w, "resnet.num_classes", buf[2]);
    if (st == TN_OK) st = tn_st_add_meta(w, "resnet.in_channels", buf[3]);
    if (st == TN_OK) st = tn_st_add_meta(w, "resnet.variant", variant_names[cfg->variant]);
    if (st == TN_OK)
        st = tn_st_add_meta(w, "resnet.shortcut", cfg->shortcut == TN_RESNET_SHORTCUT_A ? "A" : "B");
    if (st == TN_OK && cfg->variant == TN_RESNET_GN)
        st = tn_st_add_meta(w, "resnet.gn_group_channels", buf[4]);
    return st;
}

static tn_status meta_int(const tn_st_file *f, const char *key, int *out)
{
    const char *v = tn_st_meta(f, key);
    char *end;
    long x = v ? strtol(v, &end, 10) : 0;
    if (!v || !*v || *end || x < 1 || x > 1000000)
        return tn_error_set(TN_ERR_FORMAT, "tenet: checkpoint metadata '%s' is %s%s%s", key,
                            v ? "'" : "missing", v ? v : "", v ? "', not a positive integer" : "");
    *out = (int)x;
    return TN_OK;
}

tn_status tn_resnet_meta_read(const tn_st_file *f, tn_resnet_config *cfg)
{
    tn_resnet_config c = {0};
    const char *arch = tn_st_meta(f, "tenet.arch");
    if (!arch || strcmp(arch, "cifar_resnet") != 0)
        return tn_error_set(TN_ERR_FORMAT, "tenet: checkpoint metadata 'tenet.arch' is %s%s%s",
                            arch ? "'" : "missing", arch ? arch : "", arch ? "', not 'cifar_resnet'" : "");
    tn_status st = meta_int(f, "resnet.depth", &c.depth);
    if (st == TN_OK) st = meta_int(f, "resnet.width", &c.width);
    if (st == TN_OK) st = meta_int(f, "resnet.num_classes", &c.num_classes);
    if (st == TN_OK) st = meta_int(f, "resnet.in_channels", &c.in_channels);
    if (st != TN_OK) return st;
    const char *v = tn_st_meta(f, "resnet.variant"), *s = tn_st_meta(f, "resnet.shortcut");
    int vi = -1;
    for (int i = 0; v && i < N_VARIANTS; i++)
        if (strcmp(v, variant_names[i]) == 0) vi = i;
    if (vi < 0)
        return tn_error_set(TN_ERR_FORMAT, "tenet: checkpoint metadata 'resnet.variant' is %s%s%s",
                            v ? "'" : "missing", v ? v : "", v ? "', not bn, preact, nobn, gn or ln" : "");
    if (!s || (strcmp(s, "A") != 0 && strcmp(s, "B") != 0))
        return tn_error_set(TN_ERR_FORMAT, "tenet: checkpoint metadata 'resnet.shortcut' is %s%s%s",
                            s ? "'" : "missing", s ? s : "", s ? "', not A or B" : "");
    c.variant = (tn_resnet_variant)vi;
    if (c.variant == TN_RESNET_GN && tn_st_meta(f, "resnet.gn_group_channels") &&
        (st = meta_int(f, "resnet.gn_group_channels", &c.gn_group_channels)) != TN_OK)
        return st;
    c.shortcut = s[0] == 'A' ? TN_RESNET_SHORTCUT_A : TN_RESNET_SHORTCUT_B;
    *cfg = c;
    return TN_OK;
}
