/* tests/nn/test_train.c - a BN ResNet-20 and a no-BN ResNet-20 each reduce
 * the training loss on a few hundred real CIFAR-10 images
 * (../shared/datasets/cifar10-jpg, decoded with stb_image) in a few dozen
 * steps of SGD with momentum 0.9 written inline over the store's flat
 * buffers.
 * Suite "slow" (about 20 s per model on 2 idle cores). */
#include "nn/nn.h"

#include "nn_test_util.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stb/stb_image.h>
#include <time.h>

#define PER_CLASS 25
#define N_IMAGES (10 * PER_CLASS)
#define BATCH 32
#define STEPS 30
#define EVAL_N 64

static const char *const classes[10] = {"airplane", "automobile", "bird", "cat", "deer",
                                        "dog", "frog", "horse", "ship", "truck"};

static float *images; /* (N_IMAGES, 3, 32, 32), normalised */
static int32_t labels[N_IMAGES];

static void load_cifar(void)
{
    static const float mean[3] = {0.4914f, 0.4822f, 0.4465f}, std[3] = {0.2470f, 0.2435f, 0.2616f};
    images = malloc(sizeof(float) * N_IMAGES * 3 * 32 * 32);
    cr_assert(images);
    /* Interleave classes: image i is class i % 10. */
    for (int j = 0; j < PER_CLASS; j++)
        for (int c = 0; c < 10; c++) {
            char path[4200];
            snprintf(path, sizeof path, "%s/datasets/cifar10-jpg/train/%s/%04d.jpg", nt_shared(),
                     classes[c], j);
            int w, h, ch;
            unsigned char *px = stbi_load(path, &w, &h, &ch, 3);
            cr_assert(px, "cannot decode %s: %s", path, stbi_failure_reason());
            cr_assert(w == 32 && h == 32, "%s is %dx%d", path, w, h);
            int i = j * 10 + c;
            labels[i] = c;
            for (int k = 0; k < 3; k++)
                for (int p = 0; p < 32 * 32; p++)
                    images[((size_t)i * 3 + k) * 1024 + p] = (px[p * 3 + k] / 255.0f - mean[k]) / std[k];
            stbi_image_free(px);
        }
}

/* Mean loss over the first EVAL_N images, train-mode statistics, no grad. */
static float eval_loss(tn_graph *g, const tn_resnet *net)
{
    tn_graph_reset(g);
    tn_graph_set_grad(g, false);
    tn_tensor *x = tn_from_data(g, TN_SHAPE(EVAL_N, 3, 32, 32), images);
    float l = tn_cross_entropy(g, tn_resnet_forward(g, net, x), labels, 0.0f)->data[0];
    tn_graph_set_grad(g, true);
    return l;
}

static void train(tn_resnet_variant variant, float lr)
{
    tn_set_threads(2);
    load_cifar();
    tn_params *ps = tn_params_new();
    tn_rng rng;
    tn_rng_seed(&rng, 2024, 0);
    tn_resnet *net;
    tn_resnet_config cfg = {.depth = 20, .variant = variant, .shortcut = TN_RESNET_SHORTCUT_A,
                            .init = TN_NN_INIT_KAIMING_NORMAL_FAN_IN};
    cr_assert_eq(tn_resnet_new(&net, ps, &cfg, &rng), TN_OK, "%s", tn_error_message());
    tn_graph *g = tn_graph_new();

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    float before = eval_loss(g, net), first = 0, last = 0;
    float *w = tn_params_values(ps), *gr = tn_params_grads(ps);
    size_t size = tn_params_size(ps);
    float *v = calloc(size, sizeof(float)); /* momentum */
    int order[N_IMAGES];
    for (int i = 0; i < N_IMAGES; i++) order[i] = i;
    float *xb = malloc(sizeof(float) * BATCH * 3 * 1024);
    int32_t yb[BATCH];
    int pos = N_IMAGES;
    for (int step = 0; step < STEPS; step++) {
        if (pos + BATCH > N_IMAGES) { /* reshuffle each epoch */
            for (int i = N_IMAGES - 1; i > 0; i--) {
                int j = (int)tn_rng_below(&rng, (uint32_t)i + 1), t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
            pos = 0;
        }
        for (int b = 0; b < BATCH; b++, pos++) {
            memcpy(xb + (size_t)b * 3 * 1024, images + (size_t)order[pos] * 3 * 1024, sizeof(float) * 3 * 1024);
            yb[b] = labels[order[pos]];
        }
        tn_graph_reset(g);
        tn_params_zero_grad(ps);
        tn_tensor *x = tn_from_data(g, TN_SHAPE(BATCH, 3, 32, 32), xb);
        tn_tensor *loss = tn_cross_entropy(g, tn_resnet_forward(g, net, x), yb, 0.0f);
        cr_assert_eq(tn_backward(g, loss), TN_OK);
        cr_assert(isfinite(loss->data[0]), "step %d: loss %g", step, loss->data[0]);
        if (step == 0) first = loss->data[0];
        last = loss->data[0];
        /* SGD with momentum over the flat buffers (buffers: zero gradients). */
        for (size_t i = 0; i < size; i++) {
            v[i] = 0.9f * v[i] + gr[i];
            w[i] -= lr * v[i];
        }
    }
    float after = eval_loss(g, net);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    fprintf(stderr,
            "resnet20 %s: loss on %d training images %.4f -> %.4f; batch loss step 0 %.4f, "
            "step %d %.4f; %.1f s\n",
            variant == TN_RESNET_BN ? "BN" : "no-BN", EVAL_N, before, after, first, STEPS - 1,
            last, secs);
    /* Deterministic for a given build: a fixed seed, data and order. */
    cr_assert_lt(after, 0.92f * before, "loss %g -> %g", before, after);
    cr_assert_lt(last, first, "batch loss %g -> %g", first, last);
    free(xb);
    free(v);
    free(images);
    tn_graph_free(g);
    tn_resnet_free(net);
    tn_params_free(ps);
}

/* The no-BN network starts as its shortcut path with a zero classifier
 * (Fixup-style), so its residual branches grow in slowly: it takes a larger
 * step size to show progress within 30 steps. */
Test(train, resnet20_bn_reduces_loss, .timeout = 300) { train(TN_RESNET_BN, 0.05f); }
Test(train, resnet20_no_bn_reduces_loss, .timeout = 300) { train(TN_RESNET_NO_BN, 0.2f); }
