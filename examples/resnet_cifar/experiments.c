/* examples/resnet_cifar/experiments.c - `compare` (L2 in the loss against
 * decoupled decay, same initial weights and batch order) and `sweep` (the
 * learning-rate x weight-decay heat maps of the AdamW paper). */
#include "experiments.h"

#include "report.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
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
    x->jobs = 2;
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
    if (KEY("--full")) {
        x->full = true;
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
    if (klen > 5 && strncmp(a, "--wd-", 5) == 0 && strncmp(a, "--wd-norm", 9) != 0) {
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
    if (KEY("--jobs") || KEY("--lrs") || KEY("--wds")) {
        NEED();
        char *end;
        long n = strtol(v, &end, 10);
        if (*end || n < 1 || n > 16) return fail("%.*s: '%s' is not in 1..16", (int)klen, a, v);
        if (KEY("--jobs")) x->jobs = (int)n;
        else if (KEY("--lrs")) x->n_lr = (int)n;
        else x->n_wd = (int)n;
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
#undef KEY
#undef NEED
    return config_parse_option(c, argc, argv, i);
}

/* The quick version unless --full: a stratified subset and few epochs. */
static void apply_budget(run_config *c, const experiment_options *x, const quick_budget *q)
{
    if (x->full) return;
    if (!x->set_subset) c->subset = q->subset;
    if (!x->set_test_subset) c->test_subset = q->test_subset;
    if (!x->set_epochs) c->epochs = q->epochs;
}

/* ---------------------------------------------------------------- compare */

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

int run_compare(run_config *base, experiment_options *x)
{
    if (x->n_methods == 0) {
        method def[] = {METHOD_SGD_L2, METHOD_SGDW, METHOD_ADAM_L2, METHOD_ADAMW, METHOD_ADAMPROX};
        x->n_methods = 5;
        memcpy(x->methods, def, sizeof def);
    }
    apply_budget(base, x, &(quick_budget){.subset = 500, .test_subset = 200, .epochs = 8});
    if (make_dirs(base->out)) return -1;

    run_data d;
    if (data_load(base, &d)) return -1;

    /* One initial checkpoint for every configuration, made once and reused
     * only by the same model and seed. */
    char init[sizeof base->init], model[256];
    if (snprintf(init, sizeof init, "%s/init.safetensors", base->out) >= (int)sizeof init) {
        data_free(&d);
        return fail("--out: path too long");
    }
    snprintf(model, sizeof model, "depth=%d variant=%d shortcut=%d width=%d zero_init=%d "
             "classes=%d seed=%llu", base->depth, (int)base->variant, (int)base->shortcut,
             base->width, (int)base->zero_init_residual, d.n_classes,
             (unsigned long long)base->seed);
    if (init_checkpoint(base, &d, init, model)) {
        data_free(&d);
        return -1;
    }

    compare_entry e[METHOD_COUNT];
    int rc = 0;
    for (int k = 0; k < x->n_methods && rc == 0; k++) {
        method m = x->methods[k];
        run_config c = *base;
        method_config(&c, x, m);
        memcpy(c.init, init, sizeof c.init);
        if (snprintf(c.out, sizeof c.out, "%s/%s", base->out, method_name(m)) >= (int)sizeof c.out) {
            rc = fail("--out: path too long");
            break;
        }
        c.resume = true; /* an interrupted run continues; a finished one is skipped */
        if (config_finish(&c)) { rc = -1; break; }
        compare_entry *en = &e[k];
        memset(en, 0, sizeof *en);
        snprintf(en->name, sizeof en->name, "%s", method_name(m));
        snprintf(en->dir, sizeof en->dir, "%s", c.out);
        en->optimizer = tn_optim_kind_name(c.optimizer);
        en->reg = tn_reg_name(c.reg);
        en->lr = c.lr;
        en->wd = c.wd;
        char opts[4096];
        if (config_fingerprint(&c, opts, sizeof opts)) { rc = fail("options too long"); break; }
        int have = result_read(c.out, opts, &en->r);
        if (have > 0) { rc = -1; break; }
        if (have == 0) {
            fprintf(stderr, "[%d/%d] %s: finished earlier, skipped\n", k + 1, x->n_methods, en->name);
            continue;
        }
        fprintf(stderr, "[%d/%d] %s\n", k + 1, x->n_methods, en->name);
        int st = train_run(&c, &d, &en->r);
        if (st != RUN_DONE) rc = st == RUN_INTERRUPTED ? RUN_INTERRUPTED : -1;
    }
    if (rc == 0) {
        char title[256];
        snprintf(title, sizeof title, "ResNet-%d%s on %s: L2 in the loss vs decoupled decay",
                 base->depth, base->variant == TN_RESNET_NO_BN ? " (no BN)" : "",
                 x->full ? "CIFAR-10" : "a CIFAR-10 subset");
        if (write_compare_report(base->out, e, x->n_methods, title)) rc = -1;
        printf("\n| configuration | best test acc | final test acc | final train loss | time (s) | img/s |\n"
               "|---|---|---|---|---|---|\n");
        for (int k = 0; k < x->n_methods; k++)
            printf("| %s | %.4f | %.4f | %.4f | %.0f | %.0f |\n", e[k].name, e[k].r.best_test_acc,
                   e[k].r.test_acc, e[k].r.train_loss, e[k].r.seconds, e[k].r.images_per_s);
        printf("\nwritten: %s/results.md, %s/test_error.png, %s/train_loss.png\n", base->out,
               base->out, base->out);
    }
    data_free(&d);
    return rc;
}

/* ------------------------------------------------------------------ sweep */

static void log_space(double lo, double hi, int n, double *out)
{
    for (int i = 0; i < n; i++)
        out[i] = n == 1 ? sqrt(lo * hi) : lo * pow(hi / lo, (double)i / (n - 1));
}

/* Start one grid cell as `resnet_cifar train ...` in a child process (a
 * fresh process: OpenMP's threads do not survive a fork), its output in
 * <out>/train.log. */
static pid_t spawn_cell(const run_config *c)
{
    arg_list a = {0};
    arg_push(&a, "resnet_cifar");
    arg_push(&a, "train");
    config_args(c, &a);
    arg_push(&a, "--out");
    arg_push(&a, "%s", c->out);
    arg_push(&a, "--resume");
    arg_push(&a, "--quiet");
    if (c->cache[0]) {
        arg_push(&a, "--cache");
        arg_push(&a, "%s", c->cache);
    } else {
        arg_push(&a, "--no-cache");
    }
    char log[1100];
    snprintf(log, sizeof log, "%s/train.log", c->out);
    if (a.overflow) return fail("sweep: options too long"), -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid != 0) return pid;
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
    }
    execv("/proc/self/exe", a.argv);
    fprintf(stderr, "resnet_cifar: cannot run /proc/self/exe: %s\n", strerror(errno));
    _exit(127);
}

int run_sweep(run_config *base, experiment_options *x)
{
    if (x->n_methods == 0) {
        method def[] = {METHOD_SGD_L2, METHOD_SGDW, METHOD_ADAM_L2, METHOD_ADAMW};
        x->n_methods = 4;
        memcpy(x->methods, def, sizeof def);
    }
    if (x->n_lr * x->n_wd > 256) return fail("--lrs x --wds: at most 256 cells");
    apply_budget(base, x, &(quick_budget){.subset = 200, .test_subset = 100, .epochs = 4});
    if (make_dirs(base->out)) return -1;

    sweep_grid grids[METHOD_COUNT];
    int rc = 0;
    for (int k = 0; k < x->n_methods && rc == 0; k++) {
        method m = x->methods[k];
        sweep_grid *s = &grids[k];
        memset(s, 0, sizeof *s);
        s->name = method_name(m);
        s->n_lr = x->n_lr;
        s->n_wd = x->n_wd;
        bool sgd = method_default_lr(m) >= 0.01;
        log_space(x->lr_lo > 0 ? x->lr_lo : (sgd ? 0.0125 : 1.25e-4),
                  x->lr_hi > 0 ? x->lr_hi : (sgd ? 0.4 : 4e-3), s->n_lr, s->lr);
        log_space(x->wd_lo > 0 ? x->wd_lo : 1e-4, x->wd_hi > 0 ? x->wd_hi : 1e-2, s->n_wd, s->wd);

        /* Cells in parallel, `jobs` processes of threads/jobs threads each. */
        int n_cells = s->n_lr * s->n_wd, next = 0, running = 0, done = 0;
        pid_t pids[16] = {0};
        int cell_of[16];
        static char fingerprints[16][4096];
        while ((next < n_cells || running) && rc == 0) {
            while (next < n_cells && running < x->jobs) {
                int i = next / s->n_wd, j = next % s->n_wd;
                run_config c = *base;
                method_config(&c, x, m);
                c.lr = s->lr[i];
                c.wd = s->wd[j];
                c.threads = base->threads / x->jobs > 0 ? base->threads / x->jobs : 1;
                c.quiet = true;
                c.resume = true;
                if (snprintf(c.out, sizeof c.out, "%s/%s/lr%d_wd%d", base->out, s->name, i, j) >=
                    (int)sizeof c.out) {
                    rc = fail("--out: path too long");
                    break;
                }
                if (config_finish(&c) || make_dirs(c.out)) { rc = -1; break; }
                char opts[4096];
                if (config_fingerprint(&c, opts, sizeof opts)) { rc = fail("options too long"); break; }
                run_result r;
                int have = result_read(c.out, opts, &r);
                if (have > 0) { rc = -1; break; }
                if (have == 0) {
                    s->acc[next] = r.test_acc;
                    done++;
                    next++;
                    continue;
                }
                int slot = 0;
                while (pids[slot]) slot++;
                pids[slot] = spawn_cell(&c);
                memcpy(fingerprints[slot], opts, sizeof opts);
                if (pids[slot] < 0) { rc = fail("fork: cannot start a sweep process"); break; }
                cell_of[slot] = next++;
                running++;
            }
            if (!running) break;
            int status;
            pid_t pid = wait(&status);
            for (int slot = 0; slot < 16; slot++) {
                if (pids[slot] != pid || pid <= 0) continue;
                pids[slot] = 0;
                running--;
                int cell = cell_of[slot], i = cell / s->n_wd, j = cell % s->n_wd;
                char dir[1100];
                snprintf(dir, sizeof dir, "%s/%s/lr%d_wd%d", base->out, s->name, i, j);
                run_result r;
                if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
                    result_read(dir, fingerprints[slot], &r)) {
                    rc = fail("sweep cell %s failed (see %s/train.log); rerun to resume", dir, dir);
                } else {
                    s->acc[cell] = r.test_acc;
                    done++;
                    fprintf(stderr, "[%s %d/%d] lr %.3g wd %.3g: test error %.2f%%\n", s->name,
                            done, n_cells, s->lr[i], s->wd[j], 100 * (1 - r.test_acc));
                }
            }
        }
        while (running > 0 && wait(NULL) > 0) running--;
        if (rc) break;

        /* grid.csv */
        char path[1100];
        snprintf(path, sizeof path, "%s/%s/grid.csv", base->out, s->name);
        FILE *f = fopen(path, "w");
        if (!f) { rc = fail("cannot write %s", path); break; }
        fprintf(f, "lr,wd,test_acc,test_error\n");
        for (int c = 0; c < n_cells; c++)
            fprintf(f, "%g,%g,%.4f,%.4f\n", s->lr[c / s->n_wd], s->wd[c % s->n_wd], s->acc[c],
                    1 - s->acc[c]);
        if (fclose(f) != 0) { rc = fail("cannot write %s", path); break; }
        printf("%s: %s\n", s->name, path);
    }

    /* Heat maps side by side: the L2 method next to its decoupled twin. */
    for (int k = 0; k < x->n_methods && rc == 0; k += 2) {
        const sweep_grid *pair[2] = {&grids[k], k + 1 < x->n_methods ? &grids[k + 1] : NULL};
        char png[128];
        snprintf(png, sizeof png, "heatmap_%s%s%s.png", grids[k].name, pair[1] ? "_vs_" : "",
                 pair[1] ? grids[k + 1].name : "");
        if (write_heatmap(base->out, png, pair, pair[1] ? 2 : 1,
                          "final test error (%), learning rate x weight decay"))
            rc = -1;
        else
            printf("heat map: %s/%s\n", base->out, png);
    }
    return rc;
}
