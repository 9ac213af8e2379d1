/* examples/mlp.c - the smallest tenet program: a 2-layer MLP learns to
 * separate two interleaved spirals in the plane, trained with plain SGD
 * written out over the parameter store's flat buffers.
 *
 *   ./mlp        prints the loss every 200 epochs and the final accuracy;
 *                exits 0 only if the accuracy is above 90%.
 */
#include "tensor/tensor.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

enum {
    N_PER_CLASS = 200, /* points per spiral */
    N = 2 * N_PER_CLASS,
    IN = 2,            /* (x, y) */
    HIDDEN = 32,
    CLASSES = 2,
    EPOCHS = 2000,     /* full-batch gradient steps */
};

static const float LR = 0.5f;
/* A wide first layer: tanh units with varied slopes along the spiral. */
static const float W1_STD = 2.0f;

/* Two spirals: point i of class c at angle t (0.25 to 1.4 turns), radius
 * proportional to t, the second spiral rotated by half a turn; plus a little
 * Gaussian noise.  x: (N, 2), labels: N in {0, 1}. */
static void make_spirals(float *x, int32_t *labels, tn_rng *rng)
{
    const float pi = 3.14159265f;
    for (int c = 0; c < CLASSES; c++)
        for (int i = 0; i < N_PER_CLASS; i++) {
            float t = 0.5f * pi + 2.3f * pi * (float)i / N_PER_CLASS;
            float r = t / (2.8f * pi);
            int k = c * N_PER_CLASS + i;
            x[2 * k] = r * cosf(t + pi * (float)c) + 0.02f * tn_rng_normal(rng);
            x[2 * k + 1] = r * sinf(t + pi * (float)c) + 0.02f * tn_rng_normal(rng);
            labels[k] = c;
        }
}

int main(void)
{
    tn_rng rng;
    tn_rng_seed(&rng, 42, 0);

    /* ---- data */
    static float xs[N * IN];
    static int32_t labels[N];
    make_spirals(xs, labels, &rng);

    /* ---- model: x -> linear -> tanh -> linear -> logits; w (out, in) as in PyTorch */
    tn_params *ps = tn_params_new();
    tn_graph *g = tn_graph_new();
    if (!ps || !g) {
        fprintf(stderr, "mlp: %s\n", tn_error_message());
        return 1;
    }
    tn_tensor *w1 = tn_params_add(ps, "fc1.weight", TN_SHAPE(HIDDEN, IN), TN_PARAM);
    tn_tensor *b1 = tn_params_add(ps, "fc1.bias", TN_SHAPE(HIDDEN), TN_PARAM);
    tn_tensor *w2 = tn_params_add(ps, "fc2.weight", TN_SHAPE(CLASSES, HIDDEN), TN_PARAM);
    tn_tensor *b2 = tn_params_add(ps, "fc2.bias", TN_SHAPE(CLASSES), TN_PARAM);
    if (!w1 || !b1 || !w2 || !b2) {
        fprintf(stderr, "mlp: %s\n", tn_error_message());
        return 1;
    }
    /* The store starts zero-filled, so the biases begin at 0. */
    tn_fill_normal(w1->data, w1->numel, 0.0f, W1_STD, &rng);
    tn_fill_normal(w2->data, w2->numel, 0.0f, sqrtf(1.0f / HIDDEN), &rng);

    /* Raw buffers only once the model is built: tn_params_add may move them. */
    float *values = tn_params_values(ps), *grads = tn_params_grads(ps);
    size_t n_values = tn_params_size(ps);

    /* ---- training: forward, backward, SGD step */
    for (int epoch = 1; epoch <= EPOCHS; epoch++) {
        tn_graph_reset(g);
        tn_tensor *x = tn_from_data(g, TN_SHAPE(N, IN), xs);         /* (N, 2) */
        tn_tensor *h = tn_tanh(g, tn_linear(g, x, w1, b1));           /* (N, HIDDEN) */
        tn_tensor *logits = tn_linear(g, h, w2, b2);                  /* (N, CLASSES) */
        tn_tensor *loss = tn_cross_entropy(g, logits, labels, 0.0f); /* () */

        tn_params_zero_grad(ps);
        if (tn_backward(g, loss) != TN_OK) {
            fprintf(stderr, "mlp: %s\n", tn_error_message());
            return 1;
        }
        for (size_t i = 0; i < n_values; i++) values[i] -= LR * grads[i];

        if (epoch == 1 || epoch % 200 == 0) printf("epoch %4d  loss %.4f\n", epoch, loss->data[0]);
    }

    /* ---- evaluation: no gradients, arg-max of the logits */
    tn_graph_reset(g);
    tn_graph_set_grad(g, false);
    tn_tensor *x = tn_from_data(g, TN_SHAPE(N, IN), xs);
    tn_tensor *logits = tn_linear(g, tn_tanh(g, tn_linear(g, x, w1, b1)), w2, b2);
    if (!logits) {
        fprintf(stderr, "mlp: %s\n", tn_error_message());
        return 1;
    }
    int correct = 0;
    for (int i = 0; i < N; i++) {
        const float *z = logits->data + i * CLASSES;
        correct += (z[1] > z[0]) == (labels[i] == 1);
    }
    double accuracy = (double)correct / N;
    printf("accuracy %.3f (%d of %d)\n", accuracy, correct, N);

    tn_graph_free(g);
    tn_params_free(ps);
    return accuracy > 0.9 ? 0 : 1;
}
