/* examples/resnet_cifar/export_onnx.c - a checkpoint as an ONNX model for
 * inference runtimes (nn/onnx.h). */
#include "export_onnx.h"

#include "config.h"

#include <stdlib.h>
#include <string.h>

static void help(void)
{
    fputs("usage: resnet_cifar export-onnx --checkpoint FILE --out FILE.onnx [--batch N|dynamic]\n"
          "                              [model options]\n\n"
          "Writes the eval-mode model of a checkpoint as ONNX (opset 13): input \"input\"\n"
          "(N, 3, 32, 32), the images normalised as in training, output \"logits\" (N, classes);\n"
          "batch norm as BatchNormalization nodes with the running statistics.  A training\n"
          "checkpoint names its model; for others (init, best) give the model options it was\n"
          "trained with (--depth, --variant, --shortcut, --width).\n\n"
          "  --checkpoint FILE      a checkpoint.safetensors, best.safetensors or init.safetensors\n"
          "  --out FILE             the .onnx file to write\n"
          "  --batch N|dynamic      a fixed batch size, or a dynamic one \"N\" (default)\n",
          stdout);
}

/* "--name VALUE" or "--name=VALUE" at argv[*i]: the value (NULL if absent,
 * after a message), or NULL with *match false when argv[*i] is another option. */
static const char *value_of(const char *name, int argc, char **argv, int *i, bool *match)
{
    size_t n = strlen(name);
    *match = strncmp(argv[*i], name, n) == 0 && (argv[*i][n] == 0 || argv[*i][n] == '=');
    if (!*match) return NULL;
    const char *v = argv[*i][n] == '=' ? argv[*i] + n + 1 : (*i + 1 < argc ? argv[++*i] : NULL);
    if (!v) fail("%s: missing value", name);
    return v;
}

int cmd_export_onnx(int argc, char **argv)
{
    run_config c;
    config_defaults(&c);
    const char *ckpt = NULL, *out = NULL;
    tn_onnx_options o = {0};
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            help();
            return 0;
        }
        bool m;
        const char *v;
        if ((v = value_of("--checkpoint", argc, argv, &i, &m)) || m) {
            if (!(ckpt = v)) return 2;
            continue;
        }
        if ((v = value_of("--out", argc, argv, &i, &m)) || m) {
            if (!(out = v)) return 2;
            continue;
        }
        if ((v = value_of("--batch", argc, argv, &i, &m)) || m) {
            if (!v) return 2;
            char *end;
            long b = strcmp(v, "dynamic") == 0 ? 0 : strtol(v, &end, 10);
            if (strcmp(v, "dynamic") != 0 && (!*v || *end || b < 1 || b > 1000000))
                return fail("--batch: '%s' is not a positive integer or 'dynamic'", v), 2;
            o.batch = (int)b;
            continue;
        }
        int r = config_parse_option(&c, argc, argv, &i);
        if (r < 0) return 2;
        if (r == 0) return fail("export-onnx: unknown option '%s' (see --help)", argv[i]), 2;
    }
    if (!ckpt || !out) return fail("export-onnx: --checkpoint FILE and --out FILE are required"), 2;
    if (config_finish(&c)) return 2;

    /* The model: the checkpoint's metadata, else the options and the
     * classifier's size in the file. */
    tn_st_file *f;
    if (tn_st_open(ckpt, &f) != TN_OK) return fail("--checkpoint: %s", tn_error_message()), 1;
    tn_resnet_config rc = {.depth = c.depth, .width = c.width, .variant = c.variant,
                           .shortcut = c.shortcut};
    if (tn_resnet_meta_read(f, &rc) != TN_OK) {
        const tn_st_entry *e = tn_st_find(f, "linear.bias");
        rc.num_classes = e && e->ndim == 1 ? e->shape[0] : 10;
    }
    tn_st_close(f);
    tn_params *ps = tn_params_new();
    tn_resnet *net = NULL;
    tn_rng rng;
    tn_rng_seed(&rng, c.seed, 1);
    int rc_exit = 1;
    if (!ps) fail("out of memory");
    else if (tn_resnet_new(&net, ps, &rc, &rng) != TN_OK) fail("model: %s", tn_error_message());
    else if (tn_nn_load(ps, ckpt, "optim.") != TN_OK) fail("--checkpoint: %s", tn_error_message());
    else if (tn_resnet_export_onnx(net, out, &o) != TN_OK) fail("--out: %s", tn_error_message());
    else {
        const char *const variants[] = {"bn", "preact", "nobn"};
        char batch[16];
        snprintf(batch, sizeof batch, "%d", o.batch);
        printf("wrote %s: resnet%d %s/%c width %d, %d classes, batch %s, opset %d\n", out,
               rc.depth, variants[rc.variant], rc.shortcut == TN_RESNET_SHORTCUT_A ? 'A' : 'B',
               rc.width ? rc.width : 16, rc.num_classes, o.batch ? batch : "dynamic", TN_ONNX_OPSET);
        rc_exit = 0;
    }
    tn_resnet_free(net);
    tn_params_free(ps);
    return rc_exit;
}
