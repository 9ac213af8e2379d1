/* examples/resnet_cifar/experiments.c - `compare` (L2 in the loss against
 * decoupled decay, same initial weights and batch order) and `sweep` (the
 * learning-rate x weight-decay heat maps of the AdamW paper). */
#include "experiments.h"

#include "report.h"
#include "runner.h"
#include "sharpness.h"
#include "stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Parse a comma-separated list of methods. */
static int parse_methods(const char *s, method *out, int max)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    int n = 0;
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        if (n == max) return fail("--methods: at most %d", max);
        if (method_parse(tok, &out[n]) || out[n] == METHOD_CUSTOM)
            return fail("--methods: unknown method '%s' (sgd-l2, sgdw, adam-l2, adamw, "
                        "adamw-torch, adamprox, lion-l2, lion-w, lamb-l2, lambw, adan-prox, "
                        "adanw, adabelief-l2, adabeliefw)",
                        tok);
        n++;
    }
    return n > 0 ? n : fail("--methods: empty list");
}

/* The run of method m in the comparison: lr and λ per method. */
static void method_config(run_config *rc, const experiment_options *x, method m)
{
    rc->method = m;
    rc->optimizer = 0;
    rc->reg = 0;
    bool sgd = method_default_lr(m) >= 0.01;
    rc->lr = sgd ? (x->lr_sgd > 0 ? x->lr_sgd : method_default_lr(m))
                 : (x->lr_adam > 0 ? x->lr_adam : method_default_lr(m));
    rc->wd = x->wd[m] >= 0 ? x->wd[m] : method_default_wd(m);
}

void experiment_defaults(experiment_options *x)
{
    memset(x, 0, sizeof *x);
    for (int i = 0; i < METHOD_COUNT; i++) x->wd[i] = -1;
    x->n_lr = 4;
    x->n_wd = 4;
}

int experiment_parse_option(experiment_options *x, run_config *c, int argc, char **argv, int *i)
{
    const char *a = argv[*i];
    const char *eq = strchr(a, '=');
    const char *v = eq ? eq + 1 : (*i + 1 < argc ? argv[*i + 1] : NULL);
    size_t klen = eq ? (size_t)(eq - a) : strlen(a);
#define KEY(s) (klen == strlen(s) && strncmp(a, s, klen) == 0)
#define NEED() \
    do { \
        if (!v || (!eq && strncmp(v, "--", 2) == 0)) return fail("%.*s: missing value", (int)klen, a); \
        if (!eq) ++*i; \
    } while (0)
    if (KEY("--full") || KEY("--sharpness")) {
        if (KEY("--full")) x->full = true; else x->sharpness = true;
        return 1;
    }
    if (KEY("--methods")) {
        NEED();
        return (x->n_methods = parse_methods(v, x->methods, METHOD_COUNT)) < 0 ? -1 : 1;
    }
    if (KEY("--lr-sgd") || KEY("--lr-adam")) {
        NEED();
        char *end;
        double d = strtod(v, &end);
        if (*end || !(d > 0 && d < 100)) return fail("%.*s: '%s' is not a learning rate", (int)klen, a, v);
        if (KEY("--lr-sgd")) x->lr_sgd = d; else x->lr_adam = d;
        return 1;
    }
    if (klen > 5 && strncmp(a, "--wd-", 5) == 0 && strncmp(a, "--wd-norm", 9) != 0 &&
        !KEY("--wd-axis") && !KEY("--wd-range")) {
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)klen - 5, a + 5);
        method m;
        if (method_parse(name, &m) || m == METHOD_CUSTOM)
            return fail("%.*s: unknown method '%s'", (int)klen, a, name);
        NEED();
        char *end;
        double d = strtod(v, &end);
        if (*end || end == v || !(d >= 0 && d < 100))
            return fail("%.*s: '%s' is not a weight decay", (int)klen, a, v);
        x->wd[m] = d;
        return 1;
    }
    if (KEY("--jobs") || KEY("--lrs") || KEY("--wds") || KEY("--seeds") || KEY("--ranks-per-run")) {
        NEED();
        char *end;
        const long max = KEY("--seeds")           ? MAX_SEEDS
                         : KEY("--jobs")          ? 64
                         : KEY("--ranks-per-run") ? 65536
                                                  : GRID_MAX;
        long n = strtol(v, &end, 10);
        if (*end || end == v || n < 1 || n > max)
            return fail("%.*s: '%s' is not in 1..%ld", (int)klen, a, v, max);
        if (KEY("--jobs")) x->jobs = (int)n;
        else if (KEY("--ranks-per-run")) x->ranks_per_run = (int)n;
        else if (KEY("--lrs")) x->n_lr = (int)n;
        else if (KEY("--seeds")) x->n_seeds = (int)n;
        else x->n_wd = (int)n;
        return 1;
    }
    if (KEY("--wd-axis")) {
        NEED();
        if (strcmp(v, "lambda") && strcmp(v, "tau"))
            return fail("--wd-axis: expected lambda or tau, got '%s'", v);
        x->wd_axis_tau = strcmp(v, "tau") == 0;
        return 1;
    }
    if (KEY("--tau-min") || KEY("--tau-max")) {
        NEED();
        char *end;
        double d = strtod(v, &end);
        if (*end || end == v || !(d > 0 && d < 1e6))
            return fail("%.*s: '%s' is not a timescale in run lengths (> 0)", (int)klen, a, v);
        if (KEY("--tau-min")) x->tau_lo = d; else x->tau_hi = d;
        return 1;
    }
    if (KEY("--lr-range") || KEY("--wd-range")) {
        NEED();
        double lo, hi;
        if (sscanf(v, "%lf:%lf", &lo, &hi) != 2 || !(lo > 0 && hi > lo))
            return fail("%.*s: expected LO:HI with 0 < LO < HI, got '%s'", (int)klen, a, v);
        if (KEY("--lr-range")) { x->lr_lo = lo; x->lr_hi = hi; }
        else { x->wd_lo = lo; x->wd_hi = hi; }
        return 1;
    }
    if (KEY("--subset")) x->set_subset = true;
    if (KEY("--test-subset")) x->set_test_subset = true;
    if (KEY("--epochs")) x->set_epochs = true;
    if (KEY("--batch")) x->set_batch = true;
    if (KEY("--model") || KEY("--depth") || KEY("--variant") || KEY("--no-bn") || KEY("--width"))
        x->set_model = true;
#undef KEY
#undef NEED
    return config_parse_option(c, argc, argv, i);
}

void experiment_print_help(FILE *out, const char *cmd)
{
    const bool sweep = strcmp(cmd, "sweep") == 0;
    fprintf(out,
            "  --seeds N              seeds seed..seed+N-1 (default %s);\n"
            "                         per seed one initial checkpoint and one batch order for\n"
            "                         every method; tables\n"
            "                         give mean +- sd and, per L2 method and its decoupled\n"
            "                         twin, the paired difference with its 95%% Student-t\n"
            "                         interval over seeds\n"
            "  --jobs N               runs at once as child processes (default %s)\n"
            "  --ranks-per-run K      under mpirun: whole runs on separate groups of K ranks\n"
            "                         (default 1), each run data parallel within its group,\n"
            "                         one after another per group (--jobs is not used);\n"
            "                         rank 0 writes the tables from every run's result.txt\n",
            sweep ? "1" : "3 for the quick comparison, 1 with --full", sweep ? "2" : "1: in this process");
    if (!sweep)
        fputs("  --sharpness            after training, each run's epsilon-sharpness (eps 1e-3,\n"
              "                         10 ascent steps, 50 training images per class; see\n"
              "                         `sharpness`) into its folder and a column of the tables\n",
              out);
    if (sweep)
        fputs("  --wd-axis lambda|tau   the decay axis as lambda or as the decay timescale tau\n"
              "                         (Wang & Aitchison: tau_iter = 1/(lr*lambda) for adamw-torch,\n"
              "                         1/lambda for the schedule-scaled, proximal and L2 forms)\n"
              "  --tau-min X --tau-max Y  tau range in run lengths (default 0.05 and 5)\n"
              "Per learning rate the best lambda (a parabola through the best cell and its\n"
              "neighbours in log lambda) and the slope d log lambda* / d log lr are printed\n"
              "and drawn, with a 95% interval over seeds when there are several.\n",
              out);
}

/* The quick version unless --full: a stratified subset and few epochs. */
static void apply_budget(run_config *c, experiment_options *x, const quick_budget *q)
{
    if (x->n_seeds == 0) x->n_seeds = x->full ? 1 : q->seeds;
    if (x->full) return;
    if (!x->set_subset) c->subset = q->subset;
    if (!x->set_test_subset) c->test_subset = q->test_subset;
    if (!x->set_epochs) c->epochs = q->epochs;
    if (!x->set_batch && q->batch) c->batch = q->batch;
    if (x->n_methods == 0 && q->n_methods) {
        x->n_methods = q->n_methods;
        memcpy(x->methods, q->methods, sizeof q->methods);
    }
    if (!x->set_model && q->depth) {
        c->depth = q->depth;
        c->width = q->width;
        c->variant = q->variant;
    }
}


/* ---------------------------------------------------------------- compare */

/* The quick comparison, Adam+L2 against AdamW where they differ most: a
 * ResNet-32 without batch norm, whose residual branches start with their
 * last convolution at zero, so that their first convolution sees almost no
 * data gradient and Adam+L2's normalised decay gradient drives it to zero
 * within the first epoch while AdamW's decay leaves it to grow in.  2,000
 * training images in batches of 16 (1,250 steps), 1,000 test images, 3 seeds. */
static const quick_budget QUICK_COMPARE = {.subset = 200, .test_subset = 100, .epochs = 10,
                                           .batch = 16, .depth = 32, .width = 16,
                                           .variant = TN_RESNET_NO_BN, .seeds = 3, .n_methods = 2,
                                           .methods = {METHOD_ADAM_L2, METHOD_ADAMW}};
static const quick_budget QUICK_SWEEP = {.subset = 200, .test_subset = 100, .epochs = 4, .seeds = 1};

/* Write the shared initial weights, or check that an existing file was
 * made for this model (its "init.model" metadata). */
static int init_checkpoint(const run_config *base, const run_data *d, const char *path,
                           const char *model)
{
    tn_st_file *f;
    if (access(path, F_OK) == 0) {
        if (tn_st_open(path, &f) != TN_OK) return fail("%s", tn_error_message());
        const char *m = tn_st_meta(f, "init.model");
        int rc = m && strcmp(m, model) == 0
                     ? 0
                     : fail("%s was made for another model or seed (%s): use another --out", path,
                            m ? m : "no description");
        tn_st_close(f);
        return rc;
    }
    tn_params *ps = tn_params_new();
    tn_resnet *net = NULL;
    tn_rng dropout_rng;
    tn_rng_seed(&dropout_rng, base->seed, 3);
    run_config c = *base;
    c.init[0] = 0;
    int rc = ps ? model_build(&c, d->n_classes, ps, &net, &dropout_rng) : fail("out of memory");
    const char *key = "init.model";
    if (!rc && tn_nn_save(ps, path, 1, &key, &model) != TN_OK) rc = fail("%s", tn_error_message());
    tn_resnet_free(net);
    tn_params_free(ps);
    return rc;
}

/* The folder of one seed's runs: <out> itself with one seed (the layout
 * of a single comparison), <out>/seed<s> with several; nonzero if too long. */
static int seed_dir(char *dir, size_t size, const char *out, int n_seeds, uint64_t seed)
{
    int len = n_seeds == 1 ? snprintf(dir, size, "%s", out)
                           : snprintf(dir, size, "%s/seed%llu", out, (unsigned long long)seed);
    return len + 20 >= (int)size;
}

/* One initial checkpoint per seed, shared by every run of that seed:
 * init.safetensors in the seed's folder.  Written in this process with one
 * thread, so that forked runs start from a process without OpenMP
 * threads; under mpirun by rank 0 while the others wait. */
static int seed_inits(const run_config *base, const run_data *d, int n_seeds,
                      char (*init)[1024])
{
    tn_set_threads(1);
    int rc = 0;
    for (int k = 0; k < n_seeds && rc == 0; k++) {
        run_config c = *base;
        c.seed = base->seed + (uint64_t)k;
        char dir[1100], model[256];
        if (seed_dir(dir, sizeof dir, base->out, n_seeds, c.seed) ||
            snprintf(init[k], 1024, "%s/init.safetensors", dir) >= 1024) {
            rc = fail("--out: path too long");
            break;
        }
        if (tn_dist_world_rank() > 0) continue;
        snprintf(model, sizeof model, "depth=%d variant=%d shortcut=%d width=%d zero_init=%d "
                 "classes=%d seed=%llu", c.depth, (int)c.variant, (int)c.shortcut, c.width,
                 (int)c.zero_init_residual, d->n_classes, (unsigned long long)c.seed);
        rc = make_dirs(dir) ? -1 : init_checkpoint(&c, d, init[k], model);
    }
    /* Every rank waits for rank 0's files (and learns whether it failed). */
    if (!tn_dist_all_ok(rc == 0)) return rc ? rc : fail("the initial checkpoints: rank 0 failed");
    return 0;
}

/* The jobs in this process (in_process), as children (jobs_at_once at a
 * time) or, under mpirun, on the ranks (runner_run_ranks). */
static int run_jobs(run_job *jobs, int n, const run_data *d, const experiment_options *x,
                    int at_once, bool in_process)
{
    if (tn_dist_world_size() > 1)
        return runner_run_ranks(jobs, n, d, x->ranks_per_run > 0 ? x->ranks_per_run : 1);
    return runner_run(jobs, n, d, at_once, in_process);
}

/* The run of method m with seed number k of the experiment, in <sub> of
 * the seed's folder, from that seed's initial weights. */
static int job_config(run_job *j, const run_config *base, const experiment_options *x, method m,
                      int k, const char *init, const char *sub)
{
    run_config *c = &j->config;
    *c = *base;
    method_config(c, x, m);
    c->seed = base->seed + (uint64_t)k;
    snprintf(c->init, sizeof c->init, "%s", init);
    char dir[1024];
    if (seed_dir(dir, sizeof dir, base->out, x->n_seeds, c->seed) ||
        snprintf(c->out, sizeof c->out, "%s/%s", dir, sub) >= (int)sizeof c->out)
        return fail("--out: path too long");
    c->resume = true; /* an interrupted run continues; a finished one is skipped */
    snprintf(j->label, sizeof j->label, "%s seed %llu", sub, (unsigned long long)c->seed);
    return config_finish(c);
}

/* The epsilon-sharpness of a finished run's final weights, measured once:
 * kept in its folder (sharpness.txt) and read back on a rerun. */
static int run_sharpness(run_job *j)
{
    const char *dir = j->config.out;
    if (sharpness_read(dir, &j->sharpness) == 0) return 0;
    run_config c = j->config;
    c.subset = 50;
    c.test_subset = 1;
    c.batch = 128;
    c.resume = false;
    char ckpt[1200];
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.safetensors", dir);
    printf("sharpness of %s\n", j->label);
    const sharp_options o = SHARP_DEFAULTS;
    return checkpoint_model(&c, ckpt) || sharpness_measure(&c, ckpt, &o, dir, &j->sharpness) ? -1 : 0;
}

int run_compare(run_config *base, experiment_options *x)
{
    apply_budget(base, x, &QUICK_COMPARE);
    if (x->n_methods == 0) {
        method def[] = {METHOD_SGD_L2, METHOD_SGDW, METHOD_ADAM_L2, METHOD_ADAMW, METHOD_ADAMPROX};
        x->n_methods = 5;
        memcpy(x->methods, def, sizeof def);
    }
    if (make_dirs(base->out)) return -1;

    run_data d;
    if (data_load(base, &d)) return -1;
    const int ns = x->n_seeds, nm = x->n_methods, n = ns * nm;
    char(*init)[1024] = malloc(sizeof *init * (size_t)ns);
    run_job *jobs = calloc((size_t)n, sizeof *jobs);
    compare_entry *e = calloc((size_t)nm, sizeof *e);
    int rc = init && jobs && e ? seed_inits(base, &d, ns, init) : fail("out of memory");
    /* Seed by seed, every method: the first seeds' pairs are complete first. */
    for (int k = 0; k < ns && rc == 0; k++)
        for (int i = 0; i < nm && rc == 0; i++)
            rc = job_config(&jobs[k * nm + i], base, x, x->methods[i], k, init[k],
                            method_name(x->methods[i]));
    if (rc == 0) {
        const int at_once = x->jobs > 0 && tn_dist_world_size() == 1 ? x->jobs : 1;
        for (int k = 0; k < n; k++)
            if (at_once > 1) {
                jobs[k].config.quiet = true;
                jobs[k].config.threads = base->threads / at_once > 0 ? base->threads / at_once : 1;
            }
        rc = run_jobs(jobs, n, &d, x, at_once, at_once == 1);
    }
    if (rc == 0 && x->sharpness && tn_dist_world_rank() == 0)
        for (int k = 0; k < n && rc == 0; k++) rc = run_sharpness(&jobs[k]);
    if (rc == 0 && tn_dist_world_rank() == 0) {
        for (int i = 0; i < nm; i++) {
            method m = x->methods[i];
            snprintf(e[i].name, sizeof e[i].name, "%s", method_name(m));
            e[i].optimizer = tn_optim_kind_name(jobs[i].config.optimizer);
            e[i].reg = tn_reg_name(jobs[i].config.reg);
            e[i].lr = jobs[i].config.lr;
            e[i].wd = jobs[i].config.wd;
            e[i].n_seeds = ns;
            e[i].has_sharpness = x->sharpness;
            for (int k = 0; k < ns; k++) {
                e[i].dir[k] = jobs[k * nm + i].config.out;
                e[i].r[k] = jobs[k * nm + i].result;
                e[i].sharpness[k] = jobs[k * nm + i].sharpness;
            }
        }
        static const char *const norm[] = {[TN_RESNET_BN] = "", [TN_RESNET_PREACT] = " (pre-activation)",
                                           [TN_RESNET_NO_BN] = " (no BN)",
                                           [TN_RESNET_GN] = " (group norm)",
                                           [TN_RESNET_LN] = " (layer norm)"};
        char title[256];
        snprintf(title, sizeof title, "ResNet-%d%s on %s: L2 in the loss vs decoupled decay, %d seed%s",
                 base->depth, norm[base->variant], x->full ? "CIFAR-10" : "a CIFAR-10 subset", ns,
                 ns > 1 ? "s" : "");
        if (write_compare_report(base->out, e, nm, title)) rc = -1;
        printf("\n");
        print_compare_tables(stdout, e, nm);
        printf("\nwritten: %s/results.md, %s/test_error.png, %s/train_loss.png\n", base->out,
               base->out, base->out);
    }
    free(e);
    free(jobs);
    free(init);
    data_free(&d);
    return rc;
}

/* ------------------------------------------------------------------ sweep */

static void log_space(double lo, double hi, int n, double *out)
{
    for (int i = 0; i < n; i++)
        out[i] = n == 1 ? sqrt(lo * hi) : lo * pow(hi / lo, (double)i / (n - 1));
}

/* The decay per step of lambda (Wang & Aitchison's 1/tau_iter): lr*lambda
 * when the decay is scaled by the learning rate (torch's AdamW), eta*lambda
 * (eta = 1, the schedule's peak) for the schedule-scaled decoupled forms,
 * the proximal form and, in their own units, the L2 forms. */
static double decay_per_step(method m, double lr, double lambda)
{
    return m == METHOD_ADAMW_TORCH ? lr * lambda : lambda;
}

/* Per lr column, log lambda* (the parabola through the best cell of the
 * test error and its neighbours, in log lambda); NAN where the best cell
 * is on the grid's edge.  Returns the least-squares slope of log lambda*
 * on log lr over the interior columns (NAN with fewer than 2). */
static double best_lambda_slope(const sweep_grid *s, const double *acc, double *log_best,
                                double *pos, int *n_edge)
{
    double loglr[GRID_MAX];
    *n_edge = 0;
    for (int i = 0; i < s->n_lr; i++) {
        double x[GRID_MAX], y[GRID_MAX];
        for (int j = 0; j < s->n_wd; j++) {
            x[j] = log(s->wd[i * s->n_wd + j]);
            y[j] = 1 - acc[i * s->n_wd + j];
        }
        /* The axis may run downwards in lambda (tau up): keep x increasing. */
        bool down = s->n_wd > 1 && x[1] < x[0];
        if (down)
            for (int j = 0; j < s->n_wd / 2; j++) {
                double t = x[j]; x[j] = x[s->n_wd - 1 - j]; x[s->n_wd - 1 - j] = t;
                t = y[j]; y[j] = y[s->n_wd - 1 - j]; y[s->n_wd - 1 - j] = t;
            }
        bool edge;
        double b = stats_argmin_parabola(x, y, s->n_wd, &edge);
        loglr[i] = log(s->lr[i]);
        log_best[i] = edge || s->n_wd < 3 ? NAN : b;
        *n_edge += edge || s->n_wd < 3;
        if (pos) {
            /* The fractional index of b on the (log-uniform) axis. */
            double f = s->n_wd > 1 ? (b - x[0]) / ((x[s->n_wd - 1] - x[0]) / (s->n_wd - 1)) : 0;
            pos[i] = isnan(b) ? NAN : down ? s->n_wd - 1 - f : f;
        }
    }
    return stats_slope(loglr, log_best, s->n_lr);
}

static int write_grid_csv(const char *out, const sweep_grid *s, method m, const double *sd,
                          int ns, double iters, double spe)
{
    char path[1100], tmp[1110];
    snprintf(path, sizeof path, "%s/%s", out, s->name);
    if (make_dirs(path)) return -1;
    snprintf(path, sizeof path, "%s/%s/grid.csv", out, s->name);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return fail("cannot write %s", tmp);
    fprintf(f, "lr,wd,tau_iter,tau_epoch,tau_run,seeds,test_acc_mean,test_acc_sd,test_error_mean\n");
    for (int c = 0; c < s->n_lr * s->n_wd; c++) {
        const int i = c / s->n_wd;
        const double tau = 1 / decay_per_step(m, s->lr[i], s->wd[c]);
        fprintf(f, "%g,%g,%.6g,%.6g,%.6g,%d,%.4f,%.4f,%.4f\n", s->lr[i], s->wd[c], tau, tau / spe,
                tau / iters, ns, s->acc[c], sd[c], 1 - s->acc[c]);
    }
    if (fclose(f) != 0 || rename(tmp, path) != 0) return fail("cannot write %s", path);
    printf("%s: %s\n", s->name, path);
    return 0;
}

int run_sweep(run_config *base, experiment_options *x)
{
    apply_budget(base, x, &QUICK_SWEEP);
    if (x->n_methods == 0) {
        method def[] = {METHOD_SGD_L2, METHOD_SGDW, METHOD_ADAM_L2, METHOD_ADAMW};
        x->n_methods = 4;
        memcpy(x->methods, def, sizeof def);
    }
    if (make_dirs(base->out)) return -1;
    run_data d;
    if (data_load(base, &d)) return -1;

    /* The run length in steps, for the timescale axis. */
    const double spe = ceil((double)d.train->n / base->batch), iters = spe * base->epochs;
    const double tau_lo = x->tau_lo > 0 ? x->tau_lo : 0.05, tau_hi = x->tau_hi > 0 ? x->tau_hi : 5;
    if (x->wd_axis_tau && !(tau_hi > tau_lo)) {
        data_free(&d);
        return fail("--tau-min %g must be below --tau-max %g", tau_lo, tau_hi);
    }
    const int ns = x->n_seeds, nm = x->n_methods, nc = x->n_lr * x->n_wd, n = ns * nm * nc;
    sweep_grid *grids = calloc((size_t)nm, sizeof *grids);
    run_job *jobs = calloc((size_t)n, sizeof *jobs);
    char(*init)[1024] = malloc(sizeof *init * (size_t)ns);
    int rc = grids && jobs && init ? seed_inits(base, &d, ns, init) : fail("out of memory");
    const int at_once = tn_dist_world_size() > 1 ? 1 : x->jobs > 0 ? x->jobs : 2;
    for (int q = 0; q < nm && rc == 0; q++) {
        method m = x->methods[q];
        sweep_grid *s = &grids[q];
        s->name = method_name(m);
        s->n_lr = x->n_lr;
        s->n_wd = x->n_wd;
        bool sgd = method_default_lr(m) >= 0.01;
        log_space(x->lr_lo > 0 ? x->lr_lo : (sgd ? 0.0125 : 1.25e-4),
                  x->lr_hi > 0 ? x->lr_hi : (sgd ? 0.4 : 4e-3), s->n_lr, s->lr);
        if (x->wd_axis_tau) {
            s->axis_label = "tau (run lengths)";
            log_space(tau_lo, tau_hi, s->n_wd, s->axis);
        } else {
            s->axis_label = "weight decay";
            log_space(x->wd_lo > 0 ? x->wd_lo : 1e-4, x->wd_hi > 0 ? x->wd_hi : 1e-2, s->n_wd, s->axis);
        }
        for (int c = 0; c < nc; c++)
            s->wd[c] = x->wd_axis_tau ? 1 / (s->axis[c % s->n_wd] * iters *
                                             decay_per_step(m, s->lr[c / s->n_wd], 1))
                                      : s->axis[c % s->n_wd];
        for (int k = 0; k < ns && rc == 0; k++)
            for (int c = 0; c < nc && rc == 0; c++) {
                run_job *j = &jobs[(k * nm + q) * nc + c];
                char sub[160];
                snprintf(sub, sizeof sub, "%s/lr%d_wd%d", s->name, c / s->n_wd, c % s->n_wd);
                rc = job_config(j, base, x, m, k, init[k], sub);
                j->config.lr = s->lr[c / s->n_wd];
                j->config.wd = s->wd[c];
                j->config.quiet = true;
                j->config.threads = base->threads / at_once > 0 ? base->threads / at_once : 1;
            }
    }
    if (rc == 0) rc = run_jobs(jobs, n, &d, x, at_once, false);
    const bool report = tn_dist_world_rank() == 0; /* under mpirun rank 0 alone */

    /* Per method: the mean grid over seeds, its best lambda per column and
     * the slope of log lambda* on log lr, per seed with its interval. */
    for (int q = 0; q < nm && rc == 0 && report; q++) {
        sweep_grid *s = &grids[q];
        double sd[GRID_MAX * GRID_MAX], slopes[MAX_SEEDS], log_best[GRID_MAX];
        for (int c = 0; c < nc; c++) {
            double a[MAX_SEEDS];
            for (int k = 0; k < ns; k++) a[k] = jobs[(k * nm + q) * nc + c].result.test_acc;
            s->acc[c] = stats_mean(a, ns);
            sd[c] = ns > 1 ? stats_sd(a, ns) : NAN;
        }
        int n_edge, ns_slope = 0;
        const double mean_slope = best_lambda_slope(s, s->acc, log_best, s->best_pos, &n_edge);
        for (int k = 0; k < ns; k++) {
            double a[GRID_MAX * GRID_MAX], lb[GRID_MAX];
            int e;
            for (int c = 0; c < nc; c++) a[c] = jobs[(k * nm + q) * nc + c].result.test_acc;
            const double sl = best_lambda_slope(s, a, lb, NULL, &e);
            if (isfinite(sl)) slopes[ns_slope++] = sl;
        }
        stats_interval si = stats_interval95(slopes, ns_slope);
        printf("%s: best lambda per learning rate (mean grid; parabola through the best cell and "
               "its neighbours in log lambda):\n", s->name);
        for (int i = 0; i < s->n_lr; i++) {
            printf("  lr %-9.3g ", s->lr[i]);
            if (isfinite(log_best[i]))
                printf("lambda* %.3g (tau* %.3g steps)\n", exp(log_best[i]),
                       1 / decay_per_step(x->methods[q], s->lr[i], exp(log_best[i])));
            else
                printf("best on the grid's edge\n");
        }
        if (!isfinite(mean_slope))
            snprintf(s->slope_text, sizeof s->slope_text,
                     "slope d log lambda*/d log lr: none (fewer than 2 interior optima)");
        else if (isfinite(si.half))
            snprintf(s->slope_text, sizeof s->slope_text,
                     "slope d log lambda*/d log lr = %.2f +- %.2f (95%% t, %d seeds)", si.mean,
                     si.half, ns_slope);
        else
            snprintf(s->slope_text, sizeof s->slope_text,
                     "slope d log lambda*/d log lr = %.2f (%s: no interval)", mean_slope,
                     ns == 1 ? "1 seed" : "fewer than 2 seeds with a slope");
        printf("%s: %s; the mean grid's slope %.3g; %d of %d columns have their best lambda on the "
               "grid's edge and are left out of the fit%s\n",
               s->name, s->slope_text, mean_slope, n_edge, s->n_lr,
               ns > 1 ? " (per seed likewise)" : "");
        rc = write_grid_csv(base->out, s, x->methods[q], sd, ns, iters, spe);
    }

    /* Heat maps side by side: the L2 method next to its decoupled twin. */
    for (int k = 0; k < nm && rc == 0 && report; k += 2) {
        const sweep_grid *pair[2] = {&grids[k], k + 1 < nm ? &grids[k + 1] : NULL};
        char png[128], title[200];
        snprintf(png, sizeof png, "heatmap_%s%s%s.png", grids[k].name, pair[1] ? "_vs_" : "",
                 pair[1] ? grids[k + 1].name : "");
        snprintf(title, sizeof title, "final test error (%%), mean of %d seed%s; white: best %s per "
                 "learning rate", ns, ns > 1 ? "s" : "", x->wd_axis_tau ? "tau" : "lambda");
        if (write_heatmap(base->out, png, pair, pair[1] ? 2 : 1, title))
            rc = -1;
        else
            printf("heat map: %s/%s\n", base->out, png);
    }
    free(init);
    free(jobs);
    free(grids);
    data_free(&d);
    return rc;
}
