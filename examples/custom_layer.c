/* examples/custom_layer.c - writing your own layers, outside the library.
 *
 *   (a) a layer composed of existing ops: conv -> batch norm, with its
 *       parameters in the model's store under PyTorch-style names;
 *   (b) a layer with its own forward and backward, registered as a custom
 *       tn_op: Swish with a learnable beta, y = x * sigmoid(beta * x)
 *       (Ramachandran et al. 2017).
 *
 * Then a small convolutional network built from both trains on a few hundred
 * CIFAR-10 images (decoded with stb_image), and reports loss and accuracy.
 *
 *   custom_layer [cifar10-jpg folder] [images per class] [epochs]
 *
 * The default folder is ../shared/datasets/cifar10-jpg (from the repository
 * root).  tests/nn/test_custom.c checks the Swish backward by finite
 * differences (it includes this file with CUSTOM_LAYER_NO_MAIN). */
#include "tenet.h"

#include <math.h>
#include <stb/stb_image.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ----------------------------------------------------------------------
 * (b) Swish as a custom op.  An op is check (validate, set the output
 * shape), forward (compute out->data from out->in[...]) and backward
 * (accumulate into the inputs' gradients, obtained with tn_grad()).
 * Inputs: x (...) and beta, a one-element tensor. */

static void swish_check(tn_tensor *out)
{
    const tn_tensor *x = out->in[0], *beta = out->in[1];
    if (beta->numel != 1) {
        char buf[64];
        tn_misuse("swish", "beta must have one element, got %s", tn_shape_str(beta, buf, sizeof buf));
    }
    out->ndim = x->ndim;
    memcpy(out->shape, x->shape, sizeof out->shape);
}

static float sigmoidf(float z) { return 1.0f / (1.0f + expf(-z)); }

static void swish_forward(tn_graph *g, tn_tensor *out)
{
    (void)g;
    const float *x = out->in[0]->data, b = out->in[1]->data[0];
    for (size_t i = 0; i < out->numel; i++) out->data[i] = x[i] * sigmoidf(b * x[i]);
}

/* s = sigmoid(b x):  dy/dx = s + b x s (1 - s),  dy/db = x^2 s (1 - s). */
static void swish_backward(tn_graph *g, tn_tensor *out)
{
    const float *x = out->in[0]->data, b = out->in[1]->data[0], *gy = out->grad;
    float *gx = tn_grad(g, out->in[0]), *gb = tn_grad(g, out->in[1]);
    double db = 0;
    for (size_t i = 0; i < out->numel; i++) {
        float s = sigmoidf(b * x[i]), ds = s * (1.0f - s);
        if (gx) gx[i] += gy[i] * (s + b * x[i] * ds);
        db += (double)gy[i] * x[i] * x[i] * ds;
    }
    if (gb) gb[0] += (float)db;
}

static const tn_op swish_op = {.name = "swish",
                               .check = swish_check,
                               .forward = swish_forward,
                               .backward = swish_backward};

static tn_tensor *swish(tn_graph *g, tn_tensor *x, tn_tensor *beta)
{
    return tn_op_apply(g, &swish_op, 2, (tn_tensor *[]){x, beta}, NULL, 0);
}

/* The layer around the op: one learnable beta, named "<name>.beta". */
typedef struct swish_layer {
    tn_tensor *beta; /* () */
} swish_layer;

static tn_status swish_layer_init(swish_layer *s, tn_params *ps, const char *name)
{
    char full[TN_NN_NAME_MAX];
    snprintf(full, sizeof full, "%s.beta", name);
    if (!(s->beta = tn_params_add(ps, full, 0, NULL, TN_PARAM))) return TN_ERR_NOMEM;
    s->beta->data[0] = 1.0f; /* Swish-1 = SiLU at the start */
    return TN_OK;
}

/* ----------------------------------------------------------------------
 * (a) A composed layer: conv (no bias) -> batch norm.  Its forward is plain
 * calls of library layers; nothing to differentiate by hand. */

typedef struct conv_bn {
    tn_nn_conv2d conv; /* "<name>.conv" */
    tn_nn_batch_norm bn; /* "<name>.bn" */
} conv_bn;

static tn_status conv_bn_init(conv_bn *l, tn_params *ps, const char *name, int in, int out,
                              int stride, tn_rng *rng)
{
    char sub[TN_NN_NAME_MAX];
    snprintf(sub, sizeof sub, "%s.conv", name);
    tn_status st = tn_nn_conv2d_init(&l->conv, ps, sub, in, out, 3, stride, 1, false, rng);
    if (st != TN_OK) return st;
    tn_nn_init_kaiming_normal(l->conv.weight, 0.0f, true, rng);
    snprintf(sub, sizeof sub, "%s.bn", name);
    return tn_nn_batch_norm_init(&l->bn, ps, sub, out, true);
}

static tn_tensor *conv_bn_forward(tn_graph *g, const conv_bn *l, tn_tensor *x)
{
    return tn_nn_batch_norm_forward(g, &l->bn, tn_nn_conv2d_forward(g, &l->conv, x));
}

/* ----------------------------------------------------------------------
 * The model: x (N, 3, 32, 32) -> logits (N, 10). */

typedef struct model {
    conv_bn block1, block2, block3; /* 3->16 (32x32), 16->32 (/2), 32->64 (/2) */
    swish_layer act1, act2, act3;
    tn_nn_linear fc;
} model;

static tn_status model_init(model *m, tn_params *ps, tn_rng *rng)
{
    tn_status st;
    if ((st = conv_bn_init(&m->block1, ps, "block1", 3, 16, 1, rng)) ||
        (st = swish_layer_init(&m->act1, ps, "act1")) ||
        (st = conv_bn_init(&m->block2, ps, "block2", 16, 32, 2, rng)) ||
        (st = swish_layer_init(&m->act2, ps, "act2")) ||
        (st = conv_bn_init(&m->block3, ps, "block3", 32, 64, 2, rng)) ||
        (st = swish_layer_init(&m->act3, ps, "act3")) ||
        (st = tn_nn_linear_init(&m->fc, ps, "fc", 64, 10, true, rng)))
        return st;
    return TN_OK;
}

static tn_tensor *model_forward(tn_graph *g, const model *m, tn_tensor *x)
{
    x = swish(g, conv_bn_forward(g, &m->block1, x), m->act1.beta);
    x = swish(g, conv_bn_forward(g, &m->block2, x), m->act2.beta);
    x = swish(g, conv_bn_forward(g, &m->block3, x), m->act3.beta);
    return tn_nn_linear_forward(g, &m->fc, tn_global_avg_pool(g, x));
}

/* ---------------------------------------------------------------------- data */

static const char *const classes[10] = {"airplane", "automobile", "bird", "cat", "deer",
                                        "dog", "frog", "horse", "ship", "truck"};

/* per_class images of every class from <dir>/<split>/<class>/NNNN.jpg into
 * x (n, 3, 32, 32) normalised, y (n); image i is of class i % 10. */
static int load_split(const char *dir, const char *split, int per_class, float *x, int32_t *y)
{
    static const float mean[3] = {0.4914f, 0.4822f, 0.4465f}, sd[3] = {0.2470f, 0.2435f, 0.2616f};
    for (int j = 0; j < per_class; j++)
        for (int c = 0; c < 10; c++) {
            char path[8192];
            snprintf(path, sizeof path, "%s/%s/%s/%04d.jpg", dir, split, classes[c], j);
            int w, h, ch;
            unsigned char *px = stbi_load(path, &w, &h, &ch, 3);
            if (!px || w != 32 || h != 32) {
                fprintf(stderr, "custom_layer: cannot load %s: %s\n", path,
                        px ? "not 32x32" : stbi_failure_reason());
                stbi_image_free(px);
                return -1;
            }
            int i = j * 10 + c;
            y[i] = c;
            for (int k = 0; k < 3; k++)
                for (int p = 0; p < 1024; p++)
                    x[((size_t)i * 3 + k) * 1024 + p] = (px[p * 3 + k] / 255.0f - mean[k]) / sd[k];
            stbi_image_free(px);
        }
    return 0;
}

/* Mean loss and accuracy over n images in eval mode. */
static void evaluate(tn_graph *g, const model *m, const float *x, const int32_t *y, int n,
                     float *loss, float *acc)
{
    tn_graph_set_training(g, false);
    tn_graph_set_grad(g, false);
    double l = 0;
    int correct = 0;
    for (int b = 0; b < n; b += 100) {
        int nb = n - b < 100 ? n - b : 100;
        tn_graph_reset(g);
        tn_tensor *logits = model_forward(g, m, tn_from_data(g, TN_SHAPE(nb, 3, 32, 32), x + (size_t)b * 3072));
        l += tn_cross_entropy(g, logits, y + b, 0.0f)->data[0] * nb;
        for (int i = 0; i < nb; i++) {
            int best = 0;
            for (int k = 1; k < 10; k++)
                if (logits->data[i * 10 + k] > logits->data[i * 10 + best]) best = k;
            correct += best == y[b + i];
        }
    }
    *loss = (float)(l / n);
    *acc = (float)correct / n;
    tn_graph_set_training(g, true);
    tn_graph_set_grad(g, true);
}

#ifndef CUSTOM_LAYER_NO_MAIN
int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "../shared/datasets/cifar10-jpg";
    int per_class = argc > 2 ? atoi(argv[2]) : 50;
    int epochs = argc > 3 ? atoi(argv[3]) : 8;
    if (per_class < 1 || per_class > 1000 || epochs < 1) {
        fprintf(stderr, "usage: custom_layer [cifar10-jpg folder] [images per class 1..1000] [epochs]\n");
        return 2;
    }
    int n = 10 * per_class, n_test = 200, batch = 50;
    float *x = malloc(sizeof(float) * 3072 * (size_t)n), *xt = malloc(sizeof(float) * 3072 * (size_t)n_test);
    int32_t *y = malloc(sizeof(int32_t) * (size_t)n), yt[200];
    if (!x || !xt || !y || load_split(dir, "train", per_class, x, y) || load_split(dir, "test", n_test / 10, xt, yt)) {
        fprintf(stderr, "custom_layer: no data (give the cifar10-jpg folder as the first argument)\n");
        return 1;
    }

    /* The model's parameters live in one store. */
    tn_rng rng;
    tn_rng_seed(&rng, 1, 0);
    tn_params *ps = tn_params_new();
    model m;
    if (!ps || model_init(&m, ps, &rng) != TN_OK) {
        fprintf(stderr, "custom_layer: %s\n", tn_error_message());
        return 1;
    }
    printf("model: %zu parameters in %zu tensors\n", tn_params_numel(ps, TN_PARAM), tn_params_count(ps));

    tn_graph *g = tn_graph_new();
    float *w = tn_params_values(ps), *gr = tn_params_grads(ps);
    float *v = calloc(tn_params_size(ps), sizeof(float));
    float *xb = malloc(sizeof(float) * 3072 * (size_t)batch);
    int32_t *yb = malloc(sizeof(int32_t) * (size_t)batch);
    int *order = malloc(sizeof(int) * (size_t)n);
    for (int i = 0; i < n; i++) order[i] = i;
    const float lr = 0.05f, momentum = 0.9f;

    float loss, acc, tloss, tacc;
    evaluate(g, &m, x, y, n, &loss, &acc);
    printf("before: train loss %.3f acc %.3f\n", loss, acc);
    for (int epoch = 0; epoch < epochs; epoch++) {
        for (int i = n - 1; i > 0; i--) { /* shuffle */
            int j = (int)tn_rng_below(&rng, (uint32_t)i + 1), t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        for (int b = 0; b + batch <= n; b += batch) {
            for (int i = 0; i < batch; i++) {
                memcpy(xb + (size_t)i * 3072, x + (size_t)order[b + i] * 3072, sizeof(float) * 3072);
                yb[i] = y[order[b + i]];
            }
            tn_graph_reset(g);
            tn_params_zero_grad(ps);
            tn_tensor *logits = model_forward(g, &m, tn_from_data(g, TN_SHAPE(batch, 3, 32, 32), xb));
            if (tn_backward(g, tn_cross_entropy(g, logits, yb, 0.0f)) != TN_OK) {
                fprintf(stderr, "custom_layer: %s\n", tn_error_message());
                return 1;
            }
            for (size_t i = 0; i < tn_params_size(ps); i++) { /* SGD with momentum */
                v[i] = momentum * v[i] + gr[i];
                w[i] -= lr * v[i];
            }
        }
        evaluate(g, &m, x, y, n, &loss, &acc);
        evaluate(g, &m, xt, yt, n_test, &tloss, &tacc);
        printf("epoch %d: train loss %.3f acc %.3f | test loss %.3f acc %.3f | swish beta %.3f %.3f %.3f\n",
               epoch + 1, loss, acc, tloss, tacc, m.act1.beta->data[0], m.act2.beta->data[0],
               m.act3.beta->data[0]);
    }
    free(order);
    free(yb);
    free(xb);
    free(v);
    tn_graph_free(g);
    tn_params_free(ps);
    free(x);
    free(xt);
    free(y);
    return 0;
}
#endif
