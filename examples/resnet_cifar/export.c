/* examples/resnet_cifar/export.c - `resnet_cifar export`: the model part of
 * a checkpoint (a training checkpoint also holds the optimizer state and the
 * run's metadata) as a model-only safetensors file in the names of
 * PyTorch's state_dict for the twin model (tests/nn/torch_resnet.py):
 *
 *   sd = {k: torch.from_numpy(v) for k, v in safetensors.numpy.load_file(f).items()}
 *   model.load_state_dict(sd, strict=True)
 *
 * The architecture comes from the checkpoint's metadata (resnet.*), which
 * the export keeps.  Every parameter and buffer of that model must be in the
 * checkpoint with its shape; nothing else is written but one
 * "<bn>.num_batches_tracked" per batch norm, which PyTorch's state_dict has
 * and tenet does not keep (its batch norm has a fixed momentum): 0, as F32
 * (load_state_dict copies it into the int64 buffer). */
#include "export.h"

#include "config.h"

#include <string.h>

/* "a.running_mean" -> "a.num_batches_tracked" in buf; false if not a BN buffer. */
static bool batches_name(const char *name, char *buf, size_t size)
{
    static const char suffix[] = ".running_mean";
    size_t n = strlen(name), s = sizeof suffix - 1;
    if (n <= s || strcmp(name + n - s, suffix) != 0) return false;
    return snprintf(buf, size, "%.*s.num_batches_tracked", (int)(n - s), name) < (int)size;
}

/* The model of checkpoint `in` into `out`; 0 or -1 (message printed). */
static int export_model(const char *in, const char *out)
{
    tn_st_file *f = NULL;
    if (tn_st_open(in, &f) != TN_OK) return fail("--checkpoint: %s", tn_error_message());
    tn_resnet_config arch;
    tn_params *ps = tn_params_new();
    tn_st_writer *w = tn_st_writer_new();
    tn_resnet *net = NULL;
    tn_rng rng;
    tn_rng_seed(&rng, 1, 1); /* the initial values are overwritten */
    size_t n_names = 0;
    int rc = -1;
    if (!ps || !w) {
        fail("export: %s", tn_error_message());
        goto out;
    }
    if (tn_resnet_meta_read(f, &arch) != TN_OK) {
        fail("--checkpoint: %s (not a resnet_cifar checkpoint?)", tn_error_message());
        goto out;
    }
    if (tn_resnet_new(&net, ps, &arch, &rng) != TN_OK || tn_st_load_params(f, ps, "optim.") != TN_OK) {
        fail("--checkpoint: %s", tn_error_message());
        goto out;
    }
    static const float zero = 0.0f;
    size_t n = tn_params_count(ps);
    tn_status s = tn_st_add_params(w, ps);
    for (size_t i = 0; s == TN_OK && i < n; i++) {
        char buf[512];
        if (!batches_name(tn_params_at(ps, i)->name, buf, sizeof buf)) continue;
        s = tn_st_add(w, buf, 0, NULL, &zero);
        n_names++;
    }
    if (s == TN_OK) s = tn_resnet_meta_write(w, &arch);
    if (s == TN_OK) s = tn_st_add_meta(w, "format", "pt");
    if (s == TN_OK) s = tn_st_save(w, out);
    if (s != TN_OK) {
        fail("--out: %s", tn_error_message());
        goto out;
    }
    fprintf(stderr, "exported %zu tensors (%zu batch norms) of resnet%d from %s to %s\n",
            n + n_names, n_names, arch.depth, in, out);
    rc = 0;
out:
    tn_resnet_free(net);
    tn_params_free(ps);
    tn_st_writer_free(w);
    tn_st_close(f);
    return rc;
}

int cmd_export(int argc, char **argv)
{
    const char *in = NULL, *out = NULL;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs("usage: resnet_cifar export --checkpoint FILE --out FILE\n\n"
                  "Writes the model of a checkpoint (training, best or init) alone, in the\n"
                  "names of PyTorch's state_dict for the same ResNet (tests/nn/torch_resnet.py;\n"
                  "num_batches_tracked added as 0), with its architecture as metadata: a\n"
                  "plain safetensors read gives a dict that load_state_dict(strict=True)\n"
                  "accepts.\n",
                  stdout);
            return 0;
        }
        const char **dst = !strncmp(a, "--checkpoint", 12) && (a[12] == 0 || a[12] == '=') ? &in
                           : !strncmp(a, "--out", 5) && (a[5] == 0 || a[5] == '=')       ? &out
                                                                                           : NULL;
        if (!dst) return fail("export: unknown option '%s' (see --help)", a), 2;
        const char *eq = strchr(a, '=');
        *dst = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!*dst || !**dst) return fail("%.12s: missing value", a), 2;
    }
    if (!in || !out) return fail("export: --checkpoint FILE and --out FILE are required"), 2;
    return export_model(in, out) ? 1 : 0;
}
