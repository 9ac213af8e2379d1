/* bench/resnet_bench.c - ResNet training / inference throughput on CIFAR
 * shapes, the twin of bench/bench_torch.py (same model, same step).
 *
 *   resnet_bench [--model resnet20|resnet56] [--mode train|eval] [--batch N]
 *                [--threads N] [--steps N] [--warmup N] [--train-warmup N]
 *                [--profile] [--save FILE]
 *
 * The model is tn_resnet (BN, option-A shortcuts: tests/nn/torch_resnet.py's
 * CifarResNet(depth, variant="bn", shortcut="A")).  A train step is: reset
 * the graph, zero the gradients, forward, cross-entropy, backward, SGD with
 * momentum 0.9 (lr 0.05, weight decay 5e-4 coupled: torch.optim.SGD's).  An
 * eval step is a forward in eval mode without gradients, timed after
 * --train-warmup training steps (default 0; bench/compare.sh passes 3 to
 * both sides).  Inputs are fixed
 * random images and labels (no data loading is timed).
 *
 * Prints one line:
 *   RESULT impl=tenet model=resnet20 mode=train batch=128 threads=2 steps=20
 *          img_s=... step_ms=... rss_mb=...
 * (rss_mb: the peak resident set, getrusage's ru_maxrss).  With --profile,
 * before it: per-op forward/backward times over the timed steps, a summary
 * by category, and the conv work's GFLOP/s beside a large sgemm measured
 * in the same run.  --save FILE writes the initial weights as a checkpoint
 * (for resnet_cifar export-onnx and bench/bench_ort.js) and exits. */
#include "nn/nn.h"
#include "optim/optim.h"
#include "tensor/tensor.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static int usage(void)
{
    fprintf(stderr, "usage: resnet_bench [--model resnet20|resnet56] [--mode train|eval] "
                    "[--batch N] [--threads N] [--steps N] [--warmup N] [--train-warmup N] "
                    "[--profile] [--save FILE] [--chunk N]\n"
                    "  --chunk N  eval: batch-parallel inference (tn_nn_infer), each thread taking\n"
                    "             N images at a time through the whole network (not with --profile)\n");
    return 2;
}

static double peak_rss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0; /* Linux: kilobytes */
}

/* FLOPs of the conv products of one step, from the tape of a recorded
 * forward: 2 * N*O*OH*OW * C*KH*KW each; backward-data only where the input
 * needs a gradient. */
typedef struct conv_flops {
    double fwd, bwd_data, bwd_weight;
} conv_flops;

static conv_flops count_conv_flops(tn_graph *g)
{
    conv_flops f = {0};
    for (size_t i = 0; i < tn_graph_tape_len(g); i++) {
        const tn_tensor *t = tn_graph_tape_node(g, i);
        if (strcmp(t->op->name, "conv2d") != 0) continue;
        const tn_tensor *x = t->in[0], *w = t->in[1];
        double flop = 2.0 * (double)t->numel * w->shape[1] * w->shape[2] * w->shape[3];
        f.fwd += flop;
        f.bwd_weight += flop;
        if (x->requires_grad) f.bwd_data += flop;
    }
    return f;
}

/* The best of a few square sgemms of size n on the current thread count. */
static double sgemm_peak_gflops(int n)
{
    size_t nn = (size_t)n * n;
    float *a = malloc(nn * sizeof(float)), *b = malloc(nn * sizeof(float));
    float *c = malloc(nn * sizeof(float));
    if (!a || !b || !c) {
        free(a), free(b), free(c);
        return 0.0;
    }
    tn_rng rng;
    tn_rng_seed(&rng, 7, 7);
    tn_fill_uniform(a, nn, -1, 1, &rng);
    tn_fill_uniform(b, nn, -1, 1, &rng);
    double best = 1e30;
    for (int r = 0; r < 6; r++) {
        double t0 = tn_clock_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f,
                    c, n);
        double t = tn_clock_now() - t0;
        if (r > 0 && t < best) best = t; /* r = 0: warm-up */
    }
    free(a), free(b), free(c);
    return 2.0 * (double)n * n * n / best * 1e-9;
}

static const tn_profile_entry *find_entry(const char *name)
{
    for (size_t i = 0; i < tn_profile_count(); i++)
        if (strcmp(tn_profile_at(i)->name, name) == 0) return tn_profile_at(i);
    return NULL;
}

static double entry_s(const char *name, int which) /* 0 forward, 1 backward, 2 both */
{
    const tn_profile_entry *e = find_entry(name);
    if (!e) return 0.0;
    return which == 0 ? e->forward_s : which == 1 ? e->backward_s : e->forward_s + e->backward_s;
}

static int cmp_entry(const void *a, const void *b)
{
    const tn_profile_entry *x = *(const tn_profile_entry *const *)a;
    const tn_profile_entry *y = *(const tn_profile_entry *const *)b;
    double tx = x->forward_s + x->backward_s, ty = y->forward_s + y->backward_s;
    return (tx < ty) - (tx > ty);
}

static bool starts_with(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

static void print_profile(int steps, int batch, double total_s, double optim_s,
                          conv_flops fl, double peak)
{
    const double ms = 1e3 / steps;
    size_t n = tn_profile_count();
    const tn_profile_entry **es = malloc(n * sizeof *es);
    if (!es) return;
    for (size_t i = 0; i < n; i++) es[i] = tn_profile_at(i);
    qsort(es, n, sizeof *es, cmp_entry);
    printf("per-op time, ms per step (%d steps, batch %d); phases (name.phase) are part "
           "of their op\n", steps, batch);
    printf("  %-28s %9s %9s %9s %7s %7s\n", "op", "fwd ms", "bwd ms", "total", "calls", "%step");
    double ops_s = 0.0;
    for (size_t i = 0; i < n; i++) {
        const tn_profile_entry *e = es[i];
        bool phase = strchr(e->name, '.') != NULL;
        if (!phase) ops_s += e->forward_s + e->backward_s;
        printf("  %-28s %9.2f %9.2f %9.2f %7ld %6.1f%%\n", e->name, e->forward_s * ms,
               e->backward_s * ms, (e->forward_s + e->backward_s) * ms,
               (e->forward_calls + e->backward_calls) / steps,
               100.0 * (e->forward_s + e->backward_s) / total_s);
    }
    free(es);

    /* Categories (ops named by prefix, so fused variants land with their family). */
    /* Eval folds each batch norm into its conv: conv2d_relu is conv forward. */
    double conv_f = entry_s("conv2d", 0) + entry_s("conv2d_relu", 0), conv_bd = entry_s("conv2d.bwd_data", 1);
    double conv_bw = entry_s("conv2d.bwd_weight", 1);
    double conv_b = entry_s("conv2d", 1), conv_bo = conv_b - conv_bd - conv_bw;
    double bn = 0, relu = 0, pool = 0, loss = 0, add = 0, other = 0;
    for (size_t i = 0; i < tn_profile_count(); i++) {
        const tn_profile_entry *e = tn_profile_at(i);
        double t = e->forward_s + e->backward_s;
        if (strchr(e->name, '.') || starts_with(e->name, "conv2d")) continue;
        if (starts_with(e->name, "batch_norm")) bn += t;
        else if (strcmp(e->name, "relu") == 0) relu += t;
        else if (strstr(e->name, "pool")) pool += t;
        else if (starts_with(e->name, "cross_entropy")) loss += t;
        else if (strcmp(e->name, "add") == 0 || starts_with(e->name, "add_")) add += t;
        else other += t;
    }
    double rest = total_s - ops_s - optim_s;
    printf("by category, ms per step\n");
    printf("  %-36s %9.2f  %6.1f GFLOP/s\n", "conv forward", conv_f * ms,
           conv_f > 0 ? fl.fwd * steps / conv_f * 1e-9 : 0.0);
    if (conv_b > 0) {
        printf("  %-36s %9.2f  %6.1f GFLOP/s\n", "conv backward-data", conv_bd * ms,
               conv_bd > 0 ? fl.bwd_data * steps / conv_bd * 1e-9 : 0.0);
        printf("  %-36s %9.2f  %6.1f GFLOP/s\n", "conv backward-weights", conv_bw * ms,
               conv_bw > 0 ? fl.bwd_weight * steps / conv_bw * 1e-9 : 0.0);
        printf("  %-36s %9.2f\n", "conv backward, rest (bias, reorders)", conv_bo * ms);
    }
    printf("  %-36s %9.2f\n", "batch norm (incl. fused variants)", bn * ms);
    printf("  %-36s %9.2f\n", "relu", relu * ms);
    printf("  %-36s %9.2f\n", "add (incl. fused variants)", add * ms);
    printf("  %-36s %9.2f\n", "pooling", pool * ms);
    printf("  %-36s %9.2f\n", "loss", loss * ms);
    printf("  %-36s %9.2f\n", "other ops (shortcut, linear, ...)", other * ms);
    printf("  %-36s %9.2f\n", "optimizer", optim_s * ms);
    printf("  %-36s %9.2f\n", "arena/other (outside ops)", rest * ms);
    printf("  %-36s %9.2f\n", "step", total_s * ms);
    double conv_t = conv_f + conv_b, conv_fl = (fl.fwd + (conv_b > 0 ? fl.bwd_data + fl.bwd_weight : 0));
    printf("conv work: %.2f GFLOP per step, %.1f GFLOP/s over conv time (%.0f%% of the step); "
           "sgemm peak (2048^3, same threads) %.1f GFLOP/s; conv at %.0f%% of it\n",
           conv_fl * 1e-9, conv_t > 0 ? conv_fl * steps / conv_t * 1e-9 : 0.0,
           100.0 * conv_t / total_s, peak,
           conv_t > 0 && peak > 0 ? 100.0 * conv_fl * steps / conv_t * 1e-9 / peak : 0.0);
    printf("GEMM-bound limit: %.0f img/s (all conv FLOPs at the sgemm peak, nothing else)\n",
           peak > 0 ? peak * 1e9 / conv_fl * batch : 0.0);
}

int main(int argc, char **argv)
{
    const char *model = "resnet20", *mode = "train", *save = NULL;
    int batch = 128, threads = 2, steps = 10, warmup = 3, train_warmup = 0;
    bool profile = false;
    int chunk = 0; /* eval: batch-parallel inference in chunks of this many images */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool more = i + 1 < argc;
        if (strcmp(a, "--model") == 0 && more) model = argv[++i];
        else if (strcmp(a, "--mode") == 0 && more) mode = argv[++i];
        else if (strcmp(a, "--batch") == 0 && more) batch = atoi(argv[++i]);
        else if (strcmp(a, "--threads") == 0 && more) threads = atoi(argv[++i]);
        else if (strcmp(a, "--steps") == 0 && more) steps = atoi(argv[++i]);
        else if (strcmp(a, "--warmup") == 0 && more) warmup = atoi(argv[++i]);
        else if (strcmp(a, "--profile") == 0) profile = true;
        else if (strcmp(a, "--train-warmup") == 0 && more) train_warmup = atoi(argv[++i]);
        else if (strcmp(a, "--save") == 0 && more) save = argv[++i];
        else if (strcmp(a, "--chunk") == 0 && more) chunk = atoi(argv[++i]);
        else return usage();
    }
    int depth = strcmp(model, "resnet20") == 0 ? 20 : strcmp(model, "resnet56") == 0 ? 56 : 0;
    bool train = strcmp(mode, "train") == 0;
    if (!depth || (!train && strcmp(mode, "eval") != 0) || batch < 2 || threads < 1 ||
        steps < 1 || warmup < 0 || train_warmup < 0 || chunk < 0 || (chunk && (train || profile)))
        return usage();
    tn_set_threads(threads);

    tn_rng rng;
    tn_rng_seed(&rng, 42, 1);
    tn_params *ps = tn_params_new();
    tn_resnet *net = NULL;
    tn_resnet_config cfg = {.depth = depth, .variant = TN_RESNET_BN,
                            .shortcut = TN_RESNET_SHORTCUT_A};
    if (!ps || tn_resnet_new(&net, ps, &cfg, &rng) != TN_OK) {
        fprintf(stderr, "resnet_bench: %s\n", tn_error_message());
        return 1;
    }
    if (save) {
        tn_st_writer *w = tn_st_writer_new();
        tn_status st = w ? tn_resnet_meta_write(w, &cfg) : TN_ERR_NOMEM;
        if (st == TN_OK) st = tn_st_add_params(w, ps);
        if (st == TN_OK) st = tn_st_save(w, save);
        tn_st_writer_free(w);
        if (st != TN_OK) fprintf(stderr, "resnet_bench: %s\n", tn_error_message());
        tn_resnet_free(net);
        tn_params_free(ps);
        return st == TN_OK ? 0 : 1;
    }
    tn_optim_config oc = tn_optim_sgd(0.05);
    oc.momentum = 0.9;
    oc.reg = TN_REG_COUPLED;
    oc.lambda = 5e-4;
    tn_optim *opt = NULL;
    tn_optim_new(ps, &oc, &opt); /* opt stays NULL on error: reported below */
    tn_graph *g = tn_graph_new();
    size_t xn = (size_t)batch * 3 * 32 * 32;
    float *xd = malloc(xn * sizeof(float));
    int32_t *labels = malloc((size_t)batch * sizeof(int32_t));
    if (!opt || !g || !xd || !labels) {
        fprintf(stderr, "resnet_bench: %s\n", tn_error_message());
        return 1;
    }
    tn_fill_normal(xd, xn, 0.0f, 1.0f, &rng);
    for (int i = 0; i < batch; i++) labels[i] = (int32_t)tn_rng_below(&rng, 10);
    if (!train && train_warmup > 0) {
        tn_graph_set_training(g, true);
        tn_graph_set_grad(g, true);
        for (int s = 0; s < train_warmup; s++) {
            tn_graph_reset(g);
            tn_tensor *x = tn_from_data(g, TN_SHAPE(batch, 3, 32, 32), xd);
            tn_params_zero_grad(ps);
            tn_tensor *logits = tn_resnet_forward(g, net, x);
            tn_tensor *loss = logits ? tn_cross_entropy(g, logits, labels, 0.0f) : NULL;
            if (!loss || tn_backward(g, loss) != TN_OK) {
                fprintf(stderr, "resnet_bench: %s\n", tn_error_message());
                return 1;
            }
            tn_optim_step(opt, oc.lr);
        }
    }
    tn_graph_set_training(g, train);

    /* The conv FLOPs of a step, from one recorded pass (not timed). */
    conv_flops fl = {0};
    {
        tn_graph_reset(g);
        tn_graph_set_grad(g, true);
        tn_tensor *x = tn_from_data(g, TN_SHAPE(batch, 3, 32, 32), xd);
        if (!tn_resnet_forward(g, net, x)) {
            fprintf(stderr, "resnet_bench: %s\n", tn_error_message());
            return 1;
        }
        fl = count_conv_flops(g);
        if (!train) fl.bwd_data = fl.bwd_weight = 0.0;
    }
    tn_graph_set_grad(g, train);
    double peak = profile ? sgemm_peak_gflops(2048) : 0.0;

    tn_nn_infer *inf = chunk ? tn_nn_infer_new(tn_resnet_forward_fn, net, chunk) : NULL;
    float *logits_out = chunk ? malloc((size_t)batch * 10 * sizeof(float)) : NULL;
    if (chunk && (!inf || !logits_out)) {
        fprintf(stderr, "resnet_bench: %s\n", tn_error_message());
        return 1;
    }
    double t_start = 0.0, optim_s = 0.0;
    float first_loss = 0.0f;
    for (int s = -warmup; s < steps; s++) {
        if (s == 0) {
            if (profile) {
                tn_profile_reset();
                tn_profile_enable(true);
            }
            t_start = tn_clock_now();
        }
        if (inf) {
            if (tn_nn_infer_run(inf, xd, batch, 3, 32, 32, logits_out, 10) != TN_OK) {
                fprintf(stderr, "resnet_bench: %s\n", tn_error_message());
                return 1;
            }
            continue;
        }
        tn_graph_reset(g);
        tn_tensor *x = tn_from_data(g, TN_SHAPE(batch, 3, 32, 32), xd);
        if (train) {
            tn_params_zero_grad(ps);
            tn_tensor *logits = tn_resnet_forward(g, net, x);
            tn_tensor *loss = logits ? tn_cross_entropy(g, logits, labels, 0.0f) : NULL;
            if (loss && s == -warmup) first_loss = loss->data[0];
            if (!loss || tn_backward(g, loss) != TN_OK) {
                fprintf(stderr, "resnet_bench: %s\n", tn_error_message());
                return 1;
            }
            double t0 = tn_clock_now();
            tn_optim_step(opt, oc.lr);
            if (s >= 0) optim_s += tn_clock_now() - t0;
        } else if (!tn_resnet_forward(g, net, x)) {
            fprintf(stderr, "resnet_bench: %s\n", tn_error_message());
            return 1;
        }
    }
    double total = tn_clock_now() - t_start;
    tn_profile_enable(false);
    if (profile) {
        printf("tenet %s %s batch %d threads %d: arena high water %.1f MB", model, mode, batch,
               threads, (double)tn_graph_arena_high_water(g) / 1048576.0);
        if (train) printf(", loss of the first step %.7g", (double)first_loss);
        printf("\n");
        print_profile(steps, batch, total, optim_s, fl, peak);
    }
    printf("RESULT impl=tenet model=%s mode=%s batch=%d threads=%d steps=%d img_s=%.1f "
           "step_ms=%.2f rss_mb=%.1f\n",
           model, mode, batch, threads, steps, (double)batch * steps / total, total / steps * 1e3,
           peak_rss_mb());
    tn_graph_free(g);
    tn_optim_free(opt);
    tn_resnet_free(net);
    tn_params_free(ps);
    free(xd);
    free(labels);
    return 0;
}
