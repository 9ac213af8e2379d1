/* examples/resnet_cifar/sharpness.c - `resnet_cifar sharpness`: Keskar et
 * al.'s epsilon-sharpness of a checkpoint on a fixed subset of the training
 * set, and its loss along a random filter-normalised direction (Li et al.
 * 2018) as a CSV and a gnuplot plot.  The model runs in eval mode (batch
 * norm with its running statistics), so the loss is a function of the
 * weights alone. */
#include "sharpness.h"

#include "report.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int checkpoint_option(int argc, char **argv, int *i, const char **ckpt)
{
    const char *a = argv[*i];
    if (strncmp(a, "--checkpoint", 12) != 0 || (a[12] != 0 && a[12] != '=')) return 0;
    *ckpt = a[12] == '=' ? a + 13 : (*i + 1 < argc ? argv[++*i] : NULL);
    return *ckpt ? 1 : (fail("--checkpoint: missing value"), -1);
}

int checkpoint_model(run_config *c, const char *ckpt)
{
    tn_st_file *f;
    if (tn_st_open(ckpt, &f) != TN_OK) return fail("--checkpoint: %s", tn_error_message());
    tn_resnet_config arch;
    if (tn_resnet_meta_read(f, &arch) == TN_OK) {
        c->depth = arch.depth;
        c->width = arch.width;
        c->variant = arch.variant;
        c->shortcut = arch.shortcut;
    }
    tn_st_close(f);
    snprintf(c->init, sizeof c->init, "%s", ckpt);
    return 0;
}

int ckpt_model_open(const run_config *c, ckpt_model *m)
{
    memset(m, 0, sizeof *m);
    if (data_load(c, &m->d)) return -1;
    tn_set_threads(c->threads);
    m->ps = tn_params_new();
    m->g = tn_graph_new();
    tn_rng_seed(&m->dropout_rng, c->seed, 3);
    if (!m->ps || !m->g) return fail("%s", tn_error_message());
    return model_build(c, m->d.n_classes, m->ps, &m->net, &m->dropout_rng);
}

void ckpt_model_close(ckpt_model *m)
{
    tn_resnet_free(m->net);
    tn_graph_free(m->g);
    tn_params_free(m->ps);
    data_free(&m->d);
}

/* The loss of the model on a data set in eval mode, batch by batch; with
 * grad, the gradient of the mean loss added to the store's. */
typedef struct subset_ctx {
    const tn_resnet *net;
    tn_graph *g;
    const tn_dataset *ds;
    const tn_norm *norm;
    int batch;
    double acc; /* of the last call */
} subset_ctx;

static tn_status subset_loss(void *ctx, tn_params *ps, bool grad, double *loss)
{
    (void)ps;
    subset_ctx *s = ctx;
    const tn_dataset *ds = s->ds;
    tn_graph_set_training(s->g, false);
    tn_graph_set_grad(s->g, grad);
    double sum = 0;
    long hits = 0;
    for (int i = 0; i < ds->n; i += s->batch) {
        const int n = ds->n - i < s->batch ? ds->n - i : s->batch;
        tn_graph_reset(s->g);
        tn_tensor *x = tn_empty(s->g, TN_SHAPE(n, ds->c, ds->h, ds->w));
        if (!x) return tn_graph_status(s->g);
        tn_norm_apply(s->norm, tn_dataset_image(ds, i), n, ds->h, ds->w, x->data);
        tn_tensor *logits = tn_resnet_forward(s->g, s->net, x);
        tn_tensor *l = logits ? tn_cross_entropy(s->g, logits, ds->labels + i, 0.0f) : NULL;
        if (l && grad) l = tn_scale(s->g, l, (float)n / (float)ds->n);
        if (!l || (grad && tn_backward(s->g, l) != TN_OK)) return TN_ERR_NOMEM;
        sum += (double)l->data[0] * (grad ? ds->n : n);
        for (int r = 0; r < n; r++) {
            const float *row = logits->data + (size_t)r * logits->shape[1];
            int best = 0;
            for (int q = 1; q < logits->shape[1]; q++)
                if (row[q] > row[best]) best = q;
            hits += best == ds->labels[i + r];
        }
    }
    *loss = sum / ds->n;
    s->acc = (double)hits / ds->n;
    return TN_OK;
}

/* Loss and accuracy at w + alpha d for `points` alphas into out/loss_direction.csv,
 * a gnuplot script and its plot. */
static int direction_scan(subset_ctx *s, tn_params *ps, const sharp_options *o, uint64_t seed,
                          const char *out)
{
    const size_t n = tn_params_size(ps);
    float *w0 = malloc(n * sizeof *w0), *d = malloc(n * sizeof *d);
    size_t cap = 64 + (size_t)o->points * 64;
    char *csv = malloc(cap);
    int rc = 0;
    if (!w0 || !d || !csv) rc = fail("sharpness: out of memory");
    if (!rc) {
        float *v = tn_params_values(ps);
        memcpy(w0, v, n * sizeof *w0);
        tn_rng rng;
        tn_rng_seed(&rng, seed, 11);
        tn_nn_filter_normalized_direction(ps, &rng, d);
        size_t len = (size_t)snprintf(csv, cap, "alpha,loss,accuracy\n");
        for (int k = 0; k < o->points && !rc; k++) {
            const double alpha = o->points > 1 ? -o->range + 2 * o->range * k / (o->points - 1) : 0;
            for (size_t j = 0; j < n; j++) v[j] = w0[j] + (float)alpha * d[j];
            double loss = 0;
            if (subset_loss(s, ps, false, &loss) != TN_OK) rc = fail("sharpness: %s", tn_error_message());
            else len += (size_t)snprintf(csv + len, cap - len, "%.6g,%.6f,%.5f\n", alpha, loss, s->acc);
        }
        memcpy(v, w0, n * sizeof *w0);
    }
    char path[1200], gp[1200], script[3000];
    snprintf(path, sizeof path, "%s/loss_direction.csv", out);
    snprintf(gp, sizeof gp, "%s/loss_direction.gp", out);
    snprintf(script, sizeof script,
             "set terminal pngcairo size 800,500\nset output '%s/loss_direction.png'\n"
             "set datafile separator ','\nset xlabel 'alpha (filter-normalised direction)'\n"
             "set ylabel 'training loss'\nset y2label 'training accuracy'\nset y2tics\nset ytics nomirror\n"
             "set grid\nplot '%s' every ::1 using 1:2 with linespoints title 'loss', "
             "'' every ::1 using 1:3 axes x1y2 with lines title 'accuracy'\n",
             out, path);
    if (!rc && (tn_write_file_atomic(path, csv, strlen(csv)) != TN_OK ||
                tn_write_file_atomic(gp, script, strlen(script)) != TN_OK))
        rc = fail("%s", tn_error_message());
    if (!rc) rc = run_gnuplot(gp);
    free(w0);
    free(d);
    free(csv);
    return rc;
}

static int parse_sharp_option(sharp_options *o, int argc, char **argv, int *i)
{
    const char *a = argv[*i];
    const bool eps = !strcmp(a, "--eps"), steps = !strcmp(a, "--steps"),
               points = !strcmp(a, "--points"), range = !strcmp(a, "--range");
    if (!eps && !steps && !points && !range) return 0;
    if (*i + 1 >= argc) return fail("%s: missing value", a);
    char *end;
    const double v = strtod(argv[++*i], &end);
    if (*end || !(v > 0) || v > 1e6 || ((steps || points) && (v != floor(v) || v > 10000)))
        return fail("%s: expected a positive %s, got '%s'", a, steps || points ? "integer" : "number",
                    argv[*i]);
    if (eps) o->eps = v;
    if (steps) o->steps = (int)v;
    if (points) o->points = (int)v;
    if (range) o->range = v;
    return 1;
}

static const char SHARP_HELP[] =
    "usage: resnet_cifar sharpness --checkpoint FILE [options]\n\n"
    "Keskar et al.'s epsilon-sharpness of a checkpoint: the largest loss within the\n"
    "box |delta_i| <= eps (|w_i| + 1) around the weights, 100 (max - f) / (1 + f), by\n"
    "projected sign-gradient ascent (a lower bound of the maximum), on the first\n"
    "--subset images per class of the training set (default 50), eval mode, no\n"
    "augmentation; then the loss along a random filter-normalised direction (seed\n"
    "--seed) into OUT/loss_direction.csv and .png (gnuplot).  OUT is --out\n"
    "(default runs/sharpness).\n\n"
    "  --checkpoint FILE      a checkpoint.safetensors or best.safetensors\n"
    "  --eps X                the box's relative radius (default 1e-3)\n"
    "  --steps N              ascent steps (default 10)\n"
    "  --points N             points along the direction (default 41)\n"
    "  --range X              alpha in [-X, X] (default 1)\n\n";

int sharpness_measure(const run_config *c, const char *ckpt, const sharp_options *o,
                      const char *out, double *sharpness)
{
    if (make_dirs(out)) return -1;
    ckpt_model m;
    int rc = -1;
    if (ckpt_model_open(c, &m) == 0) {
        tn_params *ps = m.ps;
        const run_data *d = &m.d;
        subset_ctx s = {.net = m.net, .g = m.g, .ds = d->train, .norm = &d->norm, .batch = c->batch};
        tn_nn_sharpness_result r;
        const double t0 = tn_clock_now();
        if (tn_nn_sharpness(ps, o->eps, o->steps, subset_loss, &s, &r) != TN_OK) {
            fail("sharpness: %s", tn_error_message());
        } else {
            char text[1600];
            snprintf(text, sizeof text,
                     "checkpoint %s: %d training images\nloss %.6f\nmax loss in the box %.6f "
                     "(eps %g, %d steps)\nsharpness %.4f\nseconds %.1f\n",
                     ckpt, d->train->n, r.loss, r.loss_max, o->eps, o->steps, r.sharpness,
                     tn_clock_now() - t0);
            char path[1200];
            snprintf(path, sizeof path, "%s/sharpness.txt", out);
            fputs(text, stdout);
            *sharpness = r.sharpness;
            if (tn_write_file_atomic(path, text, strlen(text)) != TN_OK)
                fail("%s", tn_error_message());
            else
                rc = direction_scan(&s, ps, o, c->seed, out) ? -1 : 0;
        }
    }
    ckpt_model_close(&m);
    return rc;
}

int sharpness_read(const char *dir, double *sharpness)
{
    char path[1200], line[1600];
    snprintf(path, sizeof path, "%s/sharpness.txt", dir);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    int found = 0;
    while (!found && fgets(line, sizeof line, f)) found = sscanf(line, "sharpness %lf", sharpness) == 1;
    fclose(f);
    return found ? 0 : -1;
}

int cmd_sharpness(int argc, char **argv)
{
    run_config c;
    config_defaults(&c);
    c.subset = 50;
    snprintf(c.out, sizeof c.out, "runs/sharpness");
    sharp_options o = SHARP_DEFAULTS;
    const char *ckpt = NULL;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(SHARP_HELP, stdout);
            config_print_help(stdout);
            return 0;
        }
        int r = checkpoint_option(argc, argv, &i, &ckpt);
        if (r == 0) r = parse_sharp_option(&o, argc, argv, &i);
        if (r == 0) r = config_parse_option(&c, argc, argv, &i);
        if (r < 0) return 2;
        if (r == 0) return fail("sharpness: unknown option '%s' (see --help)", argv[i]), 2;
    }
    if (!ckpt) return fail("sharpness: --checkpoint FILE is required"), 2;
    if (config_finish(&c)) return 2;
    if (checkpoint_model(&c, ckpt)) return 1;
    double sharp;
    return sharpness_measure(&c, ckpt, &o, c.out, &sharp) ? 1 : 0;
}
