/* tests/nn/onnx_ref.c - a reference case for the ONNX Runtime check
 * (test_onnx_ort.sh): a CIFAR ResNet with random weights and random running
 * statistics, exported to DIR/model.onnx, with DIR/input.bin (N, 3, 32, 32)
 * and tenet's eval-mode logits DIR/logits.bin (N, 10), raw float32, and the
 * weights as a checkpoint with the model's metadata, DIR/model.safetensors
 * (for resnet_cifar export-onnx).
 *
 *   onnx_ref DIR VARIANT(bn|preact|nobn) SHORTCUT(A|B) DEPTH BATCH [fixed|dynamic] */
#include "tenet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int write_raw(const char *dir, const char *name, const float *v, size_t n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (tn_write_file_atomic(path, v, n * sizeof *v) != TN_OK) {
        fprintf(stderr, "onnx_ref: %s\n", tn_error_message());
        return 1;
    }
    return 0;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Every parameter and buffer drawn at random, so that no term of the
 * forward is trivial (zero-initialised branches, unit statistics); the
 * residual branches' last gamma smaller, as in trained networks, so that
 * the logits stay O(10) through 20 layers. */
static void randomise(tn_params *ps, tn_rng *rng)
{
    for (size_t i = 0; i < tn_params_count(ps); i++) {
        tn_tensor *t = tn_params_at(ps, i);
        const char *name = t->name;
        if (t->ndim >= 2) {
            tn_nn_init_kaiming_normal(t, 0.0f, false, rng);
        } else if (ends_with(name, "bn2.weight")) {
            tn_nn_init_uniform(t, 0.2f, 0.6f, rng);
        } else if (ends_with(name, "running_var") || ends_with(name, ".scale")) {
            tn_nn_init_uniform(t, 0.5f, 1.5f, rng);
        } else if (strstr(name, "bn") && ends_with(name, ".weight")) {
            tn_nn_init_uniform(t, 0.5f, 1.5f, rng);
        } else {
            tn_nn_init_uniform(t, -0.2f, 0.2f, rng);
        }
    }
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: onnx_ref DIR bn|preact|nobn A|B DEPTH BATCH [fixed|dynamic]\n");
        return 2;
    }
    if (!tn_onnx_available()) {
        fprintf(stderr, "onnx_ref: this build has no ONNX export (-Donnx)\n");
        return 77;
    }
    const char *dir = argv[1];
    tn_resnet_config cfg = {.depth = atoi(argv[4])};
    cfg.variant = !strcmp(argv[2], "preact") ? TN_RESNET_PREACT
                  : !strcmp(argv[2], "nobn") ? TN_RESNET_NO_BN
                                             : TN_RESNET_BN;
    cfg.shortcut = argv[3][0] == 'B' ? TN_RESNET_SHORTCUT_B : TN_RESNET_SHORTCUT_A;
    int batch = atoi(argv[5]);
    bool fixed = argc > 6 && !strcmp(argv[6], "fixed");
    tn_set_threads(1);
    tn_rng rng;
    tn_rng_seed(&rng, 2024, (uint64_t)cfg.variant * 2 + cfg.shortcut);
    tn_params *ps = tn_params_new();
    tn_graph *g = tn_graph_new();
    tn_resnet *net = NULL;
    if (!ps || !g || tn_resnet_new(&net, ps, &cfg, &rng) != TN_OK) {
        fprintf(stderr, "onnx_ref: %s\n", tn_error_message());
        return 1;
    }
    randomise(ps, &rng);
    char path[4096];
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    tn_onnx_options o = {.batch = fixed ? batch : 0};
    if (tn_resnet_export_onnx(net, path, &o) != TN_OK) {
        fprintf(stderr, "onnx_ref: %s\n", tn_error_message());
        return 1;
    }
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    tn_st_writer *w = tn_st_writer_new();
    tn_status st = w ? tn_resnet_meta_write(w, &cfg) : TN_ERR_NOMEM;
    if (st == TN_OK) st = tn_st_add_params(w, ps);
    if (st == TN_OK) st = tn_st_save(w, path);
    tn_st_writer_free(w);
    if (st != TN_OK) {
        fprintf(stderr, "onnx_ref: %s\n", tn_error_message());
        return 1;
    }
    size_t xn = (size_t)batch * 3 * 32 * 32;
    float *x = malloc(xn * sizeof *x);
    if (!x) return 1;
    tn_fill_normal(x, xn, 0.0f, 1.0f, &rng);
    tn_graph_set_training(g, false);
    tn_graph_set_grad(g, false);
    tn_tensor *logits = tn_resnet_forward(g, net, tn_from_data(g, TN_SHAPE(batch, 3, 32, 32), x));
    int rc = !logits || write_raw(dir, "input.bin", x, xn) ||
             write_raw(dir, "logits.bin", logits->data, logits->numel);
    free(x);
    tn_resnet_free(net);
    tn_graph_free(g);
    tn_params_free(ps);
    return rc;
}
