/* examples/resnet_cifar/train.c - one training run, top to bottom: data,
 * model, optimizer and schedule; then epochs of (forward, loss + penalty,
 * backward, step), an evaluation, a CSV row and a checkpoint each (train_run
 * at the end of the file is that loop).  A run resumes from its checkpoint,
 * written at every epoch's end and every few minutes mid-epoch, to the same
 * result as an uninterrupted one: the checkpoint holds the weights, the
 * optimizer state, the step, the loader's position, the dropout RNG and the
 * partial-epoch sums.  A NaN or infinite loss, gradient norm, weight or test
 * loss stops the run before it reaches the checkpoint. */
#include "progress.h"
#include "report.h"
#include "run.h"

#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------- utilities */

static volatile sig_atomic_t interrupted = 0;

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

void install_interrupt_handler(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int make_dirs(const char *path)
{
    char buf[1024];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return fail("%s: path too long", path);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == 0) {
            char c = *p;
            *p = 0;
            if (mkdir(buf, 0755) != 0 && errno != EEXIST)
                return fail("cannot create folder '%s': %s", buf, strerror(errno));
            *p = c;
            if (!c) break;
        }
    }
    return 0;
}

static bool file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Write text to path atomically. */
static int write_text(const char *path, const char *text)
{
    if (tn_write_file_atomic(path, text, strlen(text)) != TN_OK)
        return fail("%s", tn_error_message());
    return 0;
}

/* A growable string for the CSV history. */
typedef struct text {
    char *s;
    size_t len, cap;
} text;

static void text_printf(text *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void text_printf(text *t, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(t->s ? t->s + t->len : NULL, t->s ? t->cap - t->len : 0, fmt, ap);
        va_end(ap);
        if (n >= 0 && t->s && t->len + (size_t)n < t->cap) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = t->cap ? 2 * t->cap : 4096;
        while (cap < t->len + (size_t)n + 1) cap *= 2;
        char *s = realloc(t->s, cap);
        if (!s) abort(); /* a few KB of CSV: out of memory here is fatal */
        t->s = s;
        t->cap = cap;
    }
}

/* -------------------------------------------------------------- the data */

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ULL;
    return h;
}

/* The training split (ref NULL), or the test split with the labels of ref's
 * classes, by name: a test folder with fewer classes keeps the training
 * labels, one with an unknown class is an error. */
static int load_split(const run_config *c, const tn_dataset *ref, tn_dataset **out)
{
    const bool train = ref == NULL;
    char path[1100], marker[1100];
    snprintf(path, sizeof path, "%s/%s", c->data, train ? "train" : "test");
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        char cache[1200] = "";
        if (c->cache[0] && make_dirs(c->cache) == 0) {
            char *real = realpath(path, NULL);
            snprintf(cache, sizeof cache, "%s/images-%016" PRIx64 ".bin", c->cache,
                     fnv1a(real ? real : path));
            free(real);
        }
        tn_image_folder_options opt = {.channels = 3, .cache_path = cache[0] ? cache : NULL};
        tn_image_folder_info info;
        tn_status s = train ? tn_image_folder_load(out, path, &opt, &info)
                            : tn_image_folder_load_classes(out, path,
                                                           (const char *const *)ref->class_names,
                                                           ref->n_classes, &opt, &info);
        if (s != TN_OK) return fail("--data: %s", tn_error_message());
        if (!c->quiet)
            fprintf(stderr, "loaded %s: %d images in %.2f s%s\n", path, (*out)->n, info.seconds,
                    info.from_cache ? " (from cache)" : "");
        if (info.missing_classes > 0) {
            int *counts = calloc((size_t)(*out)->n_classes, sizeof *counts);
            if (!counts) return fail("out of memory");
            tn_dataset_class_counts(*out, counts);
            for (int k = 0; k < (*out)->n_classes; k++)
                if (counts[k] == 0)
                    fprintf(stderr, "warning: %s has no images of the training class '%s'\n",
                            path, (*out)->class_names[k]);
            free(counts);
        }
        return 0;
    }
    snprintf(marker, sizeof marker, "%s/data_batch_1.bin", c->data);
    bool c10 = file_exists(marker);
    snprintf(marker, sizeof marker, "%s/train.bin", c->data);
    bool c100 = file_exists(marker);
    if (!c10 && !c100)
        return fail("--data %s: neither an image folder with train/ and test/ nor a CIFAR "
                    "binary folder (data_batch_1.bin or train.bin)",
                    c->data);
    if (tn_cifar_load(out, c->data, c10 ? TN_CIFAR_10 : TN_CIFAR_100, train) != TN_OK)
        return fail("--data: %s", tn_error_message());
    return 0;
}

int data_load(const run_config *c, run_data *d)
{
    memset(d, 0, sizeof *d);
    tn_dataset *full = NULL, *test = NULL;
    if (load_split(c, NULL, &full) || load_split(c, full, &test)) goto fail;
    if (test->n_classes != full->n_classes) {
        fail("--data %s: the test split has %d classes, the training split %d", c->data,
             test->n_classes, full->n_classes);
        goto fail;
    }
    if (full->c != 3 || test->c != 3 || full->h != test->h || full->w != test->w) {
        fail("--data %s: train and test images differ in size or are not RGB", c->data);
        goto fail;
    }
    tn_norm_from_dataset(&d->norm, full);
    d->n_classes = full->n_classes;

    tn_dataset *train = full;
    if (c->subset > 0) {
        if (tn_dataset_subset_stratified(&train, full, c->subset) != TN_OK) goto tn_fail;
        tn_dataset_free(full);
        full = NULL;
    }
    if (c->val_fraction > 0) {
        if (tn_dataset_split_stratified(train, (float)c->val_fraction, c->seed, &d->train,
                                        &d->val) != TN_OK) {
            if (train != full) tn_dataset_free(train);
            goto tn_fail;
        }
        tn_dataset_free(train);
        if (d->val->n == 0 || d->train->n == 0) {
            fail("--val %g leaves %d validation and %d training images: no class has enough",
                 c->val_fraction, d->val->n, d->train->n);
            data_free(d);
            tn_dataset_free(test);
            return -1;
        }
    } else {
        d->train = train;
    }
    full = NULL;
    if (c->test_subset > 0) {
        if (tn_dataset_subset_stratified(&d->test, test, c->test_subset) != TN_OK) goto tn_fail;
        tn_dataset_free(test);
    } else {
        d->test = test;
    }
    return 0;
tn_fail:
    fail("%s", tn_error_message());
fail:
    tn_dataset_free(full);
    tn_dataset_free(test);
    data_free(d);
    return -1;
}

void data_free(run_data *d)
{
    tn_dataset_free(d->train);
    tn_dataset_free(d->val);
    tn_dataset_free(d->test);
    memset(d, 0, sizeof *d);
}

/* ------------------------------------------------------------- the model */

int model_build(const run_config *c, int n_classes, tn_params *ps, tn_resnet **net,
                tn_rng *dropout_rng)
{
    tn_rng rng;
    tn_rng_seed(&rng, c->seed, 1);
    tn_resnet_config rc = {
        .depth = c->depth,
        .num_classes = n_classes,
        .width = c->width,
        .variant = c->variant,
        .shortcut = c->shortcut,
        .init = TN_NN_INIT_KAIMING_NORMAL_FAN_OUT,
        .zero_init_residual = c->zero_init_residual,
        .dropout = c->dropout,
        .dropout_rng = dropout_rng,
    };
    if (tn_resnet_new(net, ps, &rc, &rng) != TN_OK) return fail("model: %s", tn_error_message());
    if (c->init[0] && tn_nn_load(ps, c->init, "optim.") != TN_OK)
        return fail("--init: %s", tn_error_message());
    return 0;
}

/* Correct argmax predictions of logits (N, K) against labels; counts into
 * confusion[true * K + predicted] too when it is not NULL. */
static long count_hits(const tn_tensor *logits, const int32_t *labels, long *confusion)
{
    int n = logits->shape[0], k = logits->shape[1];
    long hits = 0;
    for (int i = 0; i < n; i++) {
        const float *row = logits->data + (size_t)i * (size_t)k;
        int best = 0;
        for (int q = 1; q < k; q++)
            if (row[q] > row[best]) best = q;
        hits += best == labels[i];
        if (confusion) confusion[labels[i] * k + best]++;
    }
    return hits;
}

int evaluate(const tn_resnet *net, tn_graph *g, const tn_dataset *ds, const tn_norm *norm,
             int batch, double *loss, double *acc, long *confusion)
{
    bool was_training = tn_graph_training(g), had_grad = tn_graph_grad_enabled(g);
    tn_graph_set_training(g, false);
    tn_graph_set_grad(g, false);
    double loss_sum = 0;
    long correct = 0;
    int rc = 0;
    long lo, cnt; /* under mpirun: this rank's slice, the sums over all */
    tn_dist_slice(ds->n, &lo, &cnt);
    for (int i = (int)lo; i < lo + cnt; i += batch) {
        int n = (int)(lo + cnt) - i < batch ? (int)(lo + cnt) - i : batch;
        tn_graph_reset(g);
        tn_tensor *x = tn_empty(g, TN_SHAPE(n, ds->c, ds->h, ds->w));
        if (!x) { rc = fail("evaluate: %s", tn_error_message()); break; }
        tn_norm_apply(norm, tn_dataset_image(ds, i), n, ds->h, ds->w, x->data);
        tn_tensor *logits = tn_resnet_forward(g, net, x);
        tn_tensor *l = logits ? tn_cross_entropy(g, logits, ds->labels + i, 0.0f) : NULL;
        if (!l) { rc = fail("evaluate: %s", tn_error_message()); break; }
        loss_sum += (double)l->data[0] * n;
        correct += count_hits(logits, ds->labels + i, confusion);
    }
    tn_graph_set_training(g, was_training);
    tn_graph_set_grad(g, had_grad);
    if (!tn_dist_all_ok(rc == 0)) return rc ? rc : fail("evaluate: another rank failed");
    long sums[1] = {correct};
    if (tn_dist_sum_d(&loss_sum, 1) || tn_dist_sum_l(sums, 1) ||
        (confusion && tn_dist_sum_l(confusion, (size_t)ds->n_classes * (size_t)ds->n_classes)))
        return fail("evaluate: %s", tn_error_message());
    correct = sums[0];
    *loss = loss_sum / ds->n;
    *acc = (double)correct / ds->n;
    return rc;
}

/* --------------------------------------------------------- the schedule */

/* Epochs to steps, at least one. */
static int steps_of(double epochs, int spe)
{
    long n = lround(epochs * spe);
    return n < 1 ? 1 : n > INT_MAX ? INT_MAX : (int)n;
}

static tn_sched make_schedule(const run_config *c, int spe, int total)
{
    tn_sched s;
    switch (c->schedule) {
    case TN_SCHED_STEP: s = tn_sched_step(steps_of(c->step_epochs, spe), c->gamma); break;
    case TN_SCHED_MULTISTEP: {
        int m[TN_SCHED_MAX_MILESTONES];
        for (int i = 0; i < c->n_milestones; i++) m[i] = steps_of(c->milestones[i], spe);
        s = tn_sched_multistep(c->n_milestones, m, c->gamma);
        break;
    }
    case TN_SCHED_EXPONENTIAL: s = tn_sched_exponential(pow(c->gamma, 1.0 / spe)); break;
    case TN_SCHED_COSINE: s = tn_sched_cosine(total, c->eta_min * c->lr); break;
    case TN_SCHED_COSINE_RESTARTS:
        s = tn_sched_cosine_restarts(steps_of(c->t0_epochs, spe), c->t_mult,
                                     c->eta_min * c->lr);
        break;
    case TN_SCHED_ONE_CYCLE: s = tn_sched_one_cycle(total); break;
    case TN_SCHED_LINEAR: s = tn_sched_linear(1.0, 0.0, total); break;
    default: s = tn_sched_constant(); break;
    }
    s.warmup = c->warmup_epochs * spe;
    return s;
}

/* λ for the run, or for the restart period containing step t (normalized). */
static double decay_at(const run_config *c, const tn_sched *s, int n_train, int spe, double t)
{
    if (c->wd_norm <= 0) return c->wd;
    double period = tn_sched_period(s, t);
    double epochs = period > 0 ? period / spe : c->epochs;
    return tn_optim_decay_normalized(c->wd_norm, c->batch, n_train, epochs);
}

/* ------------------------------------------------------- the checkpoint */

typedef struct run_state {
    int epoch;              /* completed epochs */
    double loss_sum, pen_sum; /* partial epoch: sums over samples */
    long correct, seen;
    double seconds;         /* wall time spent so far */
    double train_seconds;   /* of which training steps */
    double wait_seconds;    /* and waiting for the loader's next batch */
    double best_val;        /* early stopping */
    int best_epoch, bad_epochs;
    double best_test;
    double last_train_loss; /* data loss of the last finished epoch */
    tn_rng dropout_rng;
    tn_nn_weight_noise noise; /* --weight-noise; its rng is checkpointed */
    tn_loader_pos pos;
    text csv;
} run_state;

static void put_rng(char *buf, size_t size, const tn_rng *r)
{
    snprintf(buf, size, "%016" PRIx64 " %016" PRIx64 " %a %d", r->state, r->inc, (double)r->spare,
             (int)r->has_spare);
}

static int get_rng(const char *s, tn_rng *r)
{
    double spare;
    int has;
    if (!s || sscanf(s, "%" SCNx64 " %" SCNx64 " %la %d", &r->state, &r->inc, &spare, &has) != 4)
        return -1;
    r->spare = (float)spare;
    r->has_spare = has != 0;
    return 0;
}

/* The weight-noise rng, with --weight-noise only (older runs have none). */
static tn_status save_noise_rng(tn_st_writer *w, const run_state *st)
{
    if (st->noise.std <= 0) return TN_OK;
    char buf[128];
    put_rng(buf, sizeof buf, &st->noise.rng);
    return tn_st_add_meta(w, "run.weight_noise_rng", buf);
}

static int load_noise_rng(const tn_st_file *f, run_state *st)
{
    return st->noise.std > 0 ? get_rng(tn_st_meta(f, "run.weight_noise_rng"), &st->noise.rng) : 0;
}

static int save_checkpoint(const run_config *c, const char *path, const tn_params *ps,
                           const tn_resnet *net, const tn_optim *opt, const run_state *st)
{
    char opts[4096], rng1[128], rng2[128], sums[256], prog[256], pos[64];
    if (config_fingerprint(c, opts, sizeof opts)) return fail("options too long to record");
    put_rng(rng1, sizeof rng1, &st->dropout_rng);
    put_rng(rng2, sizeof rng2, &st->pos.rng);
    snprintf(sums, sizeof sums, "%a %a %ld %ld %a %a %a", st->loss_sum, st->pen_sum, st->correct,
             st->seen, st->seconds, st->train_seconds, st->wait_seconds);
    snprintf(prog, sizeof prog, "%d %a %d %d %a %a", st->epoch, st->best_val, st->best_epoch,
             st->bad_epochs, st->best_test, st->last_train_loss);
    snprintf(pos, sizeof pos, "%" PRIu64 " %" PRIu64, st->pos.epoch, st->pos.batch);
    tn_st_writer *w = tn_st_writer_new();
    tn_status s = w ? TN_OK : TN_ERR_NOMEM;
    if (!s) s = tn_st_add_params(w, ps);
    if (!s) s = tn_resnet_meta_write(w, &net->cfg);
    if (!s) s = tn_optim_save(opt, w, "optim.");
    const char *meta[][2] = {{"run.options", opts},      {"run.progress", prog},
                             {"run.sums", sums},        {"run.dropout_rng", rng1},
                             {"run.loader_rng", rng2},  {"run.loader_pos", pos},
                             {"run.metrics_csv", st->csv.s ? st->csv.s : ""}};
    for (size_t i = 0; !s && i < sizeof meta / sizeof meta[0]; i++)
        s = tn_st_add_meta(w, meta[i][0], meta[i][1]);
    if (!s) s = save_noise_rng(w, st);
    if (!s) s = tn_st_save(w, path);
    tn_st_writer_free(w);
    return s ? fail("saving %s: %s", path, tn_error_message()) : 0;
}

static int load_checkpoint(const run_config *c, const char *path, tn_params *ps, tn_optim *opt,
                           run_state *st)
{
    tn_st_file *f;
    if (tn_st_open(path, &f) != TN_OK) return fail("--resume: %s", tn_error_message());
    char opts[4096];
    if (config_fingerprint(c, opts, sizeof opts)) {
        tn_st_close(f);
        return fail("options too long to record");
    }
    const char *cfg = tn_st_meta(f, "run.options"), *prog = tn_st_meta(f, "run.progress"),
               *sums = tn_st_meta(f, "run.sums"), *pos = tn_st_meta(f, "run.loader_pos"),
               *csv = tn_st_meta(f, "run.metrics_csv");
    int rc = 0;
    if (!cfg || !prog || !sums || !pos || !csv)
        rc = fail("--resume: %s is not a resnet_cifar checkpoint (run metadata missing)", path);
    else if (strcmp(cfg, opts) != 0)
        rc = fail("--resume: %s was written with other options (resume with the same ones, or "
                  "use another --out): it has '%s'",
                  path, cfg);
    else if (tn_st_load_params(f, ps, "optim.") != TN_OK || tn_optim_load(opt, f, "optim.") != TN_OK)
        rc = fail("--resume: %s", tn_error_message());
    else if (sscanf(prog, "%d %la %d %d %la %la", &st->epoch, &st->best_val, &st->best_epoch,
                    &st->bad_epochs, &st->best_test, &st->last_train_loss) != 6 ||
             /* Checkpoints from before the wait time was kept have 6 fields:
              * their wait is unknown (NaN), not zero. */
             (st->wait_seconds = NAN,
              sscanf(sums, "%la %la %ld %ld %la %la %la", &st->loss_sum, &st->pen_sum, &st->correct,
                     &st->seen, &st->seconds, &st->train_seconds, &st->wait_seconds) < 6) ||
             sscanf(pos, "%" SCNu64 " %" SCNu64, &st->pos.epoch, &st->pos.batch) != 2 ||
             get_rng(tn_st_meta(f, "run.dropout_rng"), &st->dropout_rng) ||
             get_rng(tn_st_meta(f, "run.loader_rng"), &st->pos.rng) || load_noise_rng(f, st))
        rc = fail("--resume: %s: run metadata is malformed", path);
    else {
        st->csv.len = 0;
        text_printf(&st->csv, "%s", csv);
    }
    tn_st_close(f);
    return rc;
}

/* ---------------------------------------------------------------- result */

void result_print(FILE *f, const run_result *r)
{
    fprintf(f, "RESULT test_acc=%.4f test_loss=%.4f train_loss=%.4f epochs=%d seconds=%.1f\n",
            r->test_acc, r->test_loss, r->train_loss, r->epochs, r->seconds);
}

int result_read(const char *out_dir, const char *options, run_result *r)
{
    char path[1100];
    snprintf(path, sizeof path, "%s/result.txt", out_dir);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    memset(r, 0, sizeof *r);
    char line[4200] = "";
    int n = fscanf(f,
                   "RESULT test_acc=%lf test_loss=%lf train_loss=%lf epochs=%d seconds=%lf\n"
                   "best_test_acc=%lf images_per_s=%lf data_wait_fraction=%lf\n",
                   &r->test_acc, &r->test_loss, &r->train_loss, &r->epochs, &r->seconds,
                   &r->best_test_acc, &r->images_per_s, &r->data_wait_fraction);
    bool have = n == 8 && fgets(line, sizeof line, f) != NULL;
    fclose(f);
    if (!have || strncmp(line, "options=", 8) != 0) return -1;
    line[strcspn(line, "\n")] = 0;
    if (options && strcmp(line + 8, options) != 0)
        return fail("%s holds the result of other options: use another --out (it has '%s')", path,
                    line + 8),
               1;
    return 0;
}

static int result_write(const char *out_dir, const char *options, const run_result *r)
{
    char path[1100], buf[4608];
    snprintf(path, sizeof path, "%s/result.txt", out_dir);
    snprintf(buf, sizeof buf,
             "RESULT test_acc=%.4f test_loss=%.4f train_loss=%.4f epochs=%d seconds=%.1f\n"
             "best_test_acc=%.4f images_per_s=%.1f data_wait_fraction=%.4f\noptions=%s\n",
             r->test_acc, r->test_loss, r->train_loss, r->epochs, r->seconds, r->best_test_acc,
             r->images_per_s, r->data_wait_fraction, options);
    return write_text(path, buf);
}

/* ----------------------------------------------------------------- a run */

/* A run in progress: what the parts of train_run share. */
typedef struct trainer {
    const run_config *c;
    const run_data *d;
    char ckpt[1100], csv_path[1100], best_path[1100], label[64];
    tn_params *ps;
    tn_graph *g;
    tn_resnet *net;
    tn_optim *opt;
    tn_loader *ld;
    tn_ddp *ddp;            /* under mpirun: the gradient all-reduce */
    tn_sched sched;
    int spe;                /* steps per epoch */
    double base_momentum;   /* what one-cycle cycles: momentum, or the Adam family's beta1 */
    run_state st;
    double t_start;         /* the clock reading the run's time counts from */
    double t_step;          /* the clock reading the current step started at */
    double last_save;       /* the clock reading of the last checkpoint */
    int64_t saved_step;     /* the step of the checkpoint on disk; -1: none */
    long steps_this_process;
    double lr_t;            /* the learning rate of the current step */
    bool evaluated;         /* r's test figures are this process's last evaluation */
    float *layer_prev;      /* the weights at the last evaluation (layers.csv angles) */
    bool stop_all;          /* some rank was interrupted (agreed after each step) */
    bool bar_open;
    progress bar;
} trainer;

static double weight_norm(const tn_params *ps)
{
    double s = 0;
    for (size_t i = 0; i < tn_params_count(ps); i++) {
        unsigned fl = tn_params_flags(ps, i);
        if (!(fl & TN_PARAM) || (fl & TN_NO_DECAY)) continue;
        const tn_tensor *t = tn_params_at(ps, i);
        for (size_t j = 0; j < t->numel; j++) s += (double)t->data[j] * t->data[j];
    }
    return sqrt(s);
}

/* The global L2 norm of the gradients of every TN_PARAM tensor. */
static double grad_norm(const tn_params *ps)
{
    const float *g = tn_params_grads(ps);
    double s = 0;
    for (size_t i = 0; i < tn_params_count(ps); i++) {
        if (!(tn_params_flags(ps, i) & TN_PARAM)) continue;
        const float *p = g + tn_params_offset(ps, i);
        for (size_t j = 0; j < tn_params_at(ps, i)->numel; j++) s += (double)p[j] * p[j];
    }
    return sqrt(s);
}

/* Whether every weight and running statistic is finite (x·0 is 0 for a
 * finite x and NaN otherwise). */
static bool values_finite(const tn_params *ps)
{
    const float *v = tn_params_values(ps);
    float acc = 0;
    for (size_t i = 0, n = tn_params_size(ps); i < n; i++) acc += v[i] * 0.0f;
    return acc == 0;
}

/* Files a run folder holds, whose "<name>.tmp.*" a crash mid-write leaves. */
static const char *const RUN_FILES[] = {"checkpoint.safetensors", "best.safetensors", "metrics.csv",
                                        "result.txt"};

/* Remove the temporaries an earlier process left in the run folder. */
static int remove_stale_temporaries(const run_config *c)
{
    DIR *dir = opendir(c->out);
    if (!dir) return fail("cannot read folder '%s': %s", c->out, strerror(errno));
    int rc = 0;
    for (struct dirent *e; rc == 0 && (e = readdir(dir));) {
        for (size_t i = 0; i < sizeof RUN_FILES / sizeof RUN_FILES[0]; i++) {
            size_t n = strlen(RUN_FILES[i]);
            if (strncmp(e->d_name, RUN_FILES[i], n) || strncmp(e->d_name + n, ".tmp.", 5)) continue;
            char path[1400];
            snprintf(path, sizeof path, "%s/%s", c->out, e->d_name);
            if (unlink(path) != 0) rc = fail("cannot remove '%s': %s", path, strerror(errno));
            else if (!c->quiet) fprintf(stderr, "removed %s (left by an interrupted write)\n", path);
        }
    }
    closedir(dir);
    return rc;
}

/* The loader: one shuffled pass per epoch, augmented on a background thread. */
static int open_loader(trainer *t)
{
    const run_config *c = t->c;
    tn_loader_options lo = {
        .batch_size = c->batch,
        .shuffle = true,
        .norm = t->d->norm,
        .aug = {.crop_pad = c->augment ? 4 : 0,
                .hflip = c->augment,
                .cutout = c->cutout,
                .noise_std = c->noise,
                .mixup_alpha = c->mixup,
                .cutmix_alpha = c->cutmix,
                .label_smoothing = c->label_smoothing},
        .threads = 1,
    };
    tn_rng_seed(&lo.rng, c->seed, 2);
    if (tn_loader_new(&t->ld, t->d->train, &lo) != TN_OK)
        return fail("loader: %s", tn_error_message());
    t->spe = (int)tn_loader_batches_per_epoch(t->ld);
    if ((long long)t->spe * c->epochs > INT_MAX)
        return fail("--epochs %d x %d steps per epoch: too many steps", c->epochs, t->spe);
    t->sched = make_schedule(c, t->spe, t->spe * c->epochs);
    return 0;
}

/* One forward pass on a zero batch, for tn_optim_mark_normalized. */
static tn_tensor *forward_zeros(tn_graph *g, void *net)
{
    return tn_resnet_forward(g, net, tn_zeros(g, TN_SHAPE(2, 3, 32, 32)));
}

/* --corrected: the weights whose output feeds a batch norm, found from the
 * model's graph, in a group of their own with corrected decay. */
static int add_corrected_group(trainer *t, double lambda)
{
    size_t n = 0;
    if (tn_optim_mark_normalized(t->ps, t->g, forward_zeros, t->net, &n) != TN_OK)
        return fail("--corrected: %s", tn_error_message());
    if (n == 0) return fail("--corrected: no weight of this model feeds a batch norm");
    tn_optim_group grp = {.flags = TN_OPTIM_NORMALIZED, .reg = TN_REG_CORRECTED,
                          .lambda = lambda, .cautious = t->c->cautious};
    if (tn_optim_group_add(t->opt, &grp, NULL) != TN_OK)
        return fail("--corrected: %s", tn_error_message());
    if (!t->c->quiet) fprintf(stderr, "corrected decay on %zu weights before batch norms\n", n);
    return 0;
}

/* The optimizer: every parameter in one group; biases and BN scales are
 * excluded from decay by their TN_NO_DECAY flag. */
static int open_optimizer(trainer *t)
{
    const run_config *c = t->c;
    tn_optim_config oc = tn_optim_defaults(c->optimizer); /* PyTorch's defaults */
    oc.lr = c->lr;
    oc.nesterov = c->nesterov;
    if (!isnan(c->momentum)) oc.momentum = c->momentum;
    if (!isnan(c->beta1)) oc.beta1 = c->beta1;
    if (!isnan(c->beta2)) oc.beta2 = c->beta2;
    if (!isnan(c->eps)) oc.eps = c->eps;
    /* One-cycle cycles SGD/RMSprop's momentum or the Adam family's beta1. */
    bool cycles_beta1 = tn_optim_kind_flags(c->optimizer) & TN_OPTIM_USES_BETAS;
    t->base_momentum = cycles_beta1 ? oc.beta1 : oc.momentum;
    oc.reg = c->reg;
    oc.lambda = decay_at(c, &t->sched, t->d->train->n, t->spe, 0);
    oc.cautious = c->cautious;
    if (c->wd_tau > 0 && tn_optim_decay_from_tau(c->wd_tau, c->lr, t->spe, c->reg, &oc.lambda))
        return fail("--wd-tau: %s", tn_error_message());
    if (tn_optim_new(t->ps, &oc, &t->opt) != TN_OK) return fail("optimizer: %s", tn_error_message());
    return c->corrected ? add_corrected_group(t, oc.lambda) : 0;
}

/* Under mpirun: every rank runs the same build, options and model (a hash
 * of the options' fingerprint, the build and the store's layout). */
static int check_ranks_agree(const trainer *t)
{
    char id[4096 + 256];
    if (config_fingerprint(t->c, id, 4096)) return fail("the options are too long");
    size_t n = strlen(id);
    snprintf(id + n, sizeof id - n, " | build %s %s %s | %zu tensors, %zu floats, %zu parameters",
             __DATE__, __TIME__, tn_dist_built() ? "mpi" : "", tn_params_count(t->ps),
             tn_params_size(t->ps), tn_params_numel(t->ps, TN_PARAM));
    if (tn_dist_check_same("build, options or model", id, strlen(id)) != TN_OK)
        return fail("%s", tn_error_message());
    return 0;
}

/* The run folder, the model, the loader, the schedule and the optimizer. */
static int trainer_open(trainer *t, const run_config *c, const run_data *d)
{
    memset(t, 0, sizeof *t);
    t->c = c;
    t->d = d;
    t->st = (run_state){.best_val = -1, .best_epoch = -1};
    t->saved_step = -1;
    tn_rng_seed(&t->st.dropout_rng, c->seed, 3);
    tn_nn_weight_noise_init(&t->st.noise, c->weight_noise, c->seed);
    snprintf(t->ckpt, sizeof t->ckpt, "%s/checkpoint.safetensors", c->out);
    snprintf(t->csv_path, sizeof t->csv_path, "%s/metrics.csv", c->out);
    snprintf(t->best_path, sizeof t->best_path, "%s/best.safetensors", c->out);
    if (tn_dist_rank() == 0 && (make_dirs(c->out) || remove_stale_temporaries(c))) return -1;
    tn_set_threads(c->threads);
    t->ps = tn_params_new();
    t->g = tn_graph_new();
    if (!t->ps || !t->g) return fail("%s", tn_error_message());
    if (model_build(c, d->n_classes, t->ps, &t->net, &t->st.dropout_rng)) return -1;
    if (open_loader(t) || open_optimizer(t)) return -1;
    if (c->batch < tn_dist_size())
        return fail("--batch %d is smaller than the %d ranks", c->batch, tn_dist_size());
    tn_graph_set_sync_bn(t->g, c->sync_bn);
    return (t->ddp = tn_ddp_new(t->ps, 0)) ? check_ranks_agree(t) : fail("%s", tn_error_message());
}

static void trainer_close(trainer *t)
{
    free(t->st.csv.s);
    free(t->layer_prev);
    tn_nn_weight_noise_free(&t->st.noise);
    tn_loader_free(t->ld);
    tn_ddp_free(t->ddp);
    tn_optim_free(t->opt);
    tn_resnet_free(t->net);
    tn_graph_free(t->g);
    tn_params_free(t->ps);
}

/* Continue from the checkpoint in the run folder (with --resume), or start. */
static int start_or_resume(trainer *t)
{
    const run_config *c = t->c;
    tn_loader_position(t->ld, &t->st.pos);
    if (c->resume && file_exists(t->ckpt)) {
        if (load_checkpoint(c, t->ckpt, t->ps, t->opt, &t->st)) return -1;
        if (tn_loader_seek(t->ld, &t->st.pos) != TN_OK) return fail("--resume: %s", tn_error_message());
        t->saved_step = tn_optim_steps(t->opt);
        if (!c->quiet)
            fprintf(stderr, "resuming %s at epoch %d, step %" PRId64 "\n", c->out, t->st.epoch + 1,
                    t->saved_step);
    } else {
        if (c->resume && !c->quiet) fprintf(stderr, "no checkpoint in %s: starting\n", c->out);
        text_printf(&t->st.csv, "epoch,lr,train_loss,penalty,train_acc,val_acc,test_loss,test_acc,"
                                "weight_norm,seconds,images_per_s\n");
    }
    if (!c->quiet) {
        char desc[512];
        config_describe(c, desc, sizeof desc);
        fprintf(stderr, "%s\n", desc);
    }
    t->t_start = tn_clock_now() - t->st.seconds;
    t->last_save = tn_clock_now();
    /* Every rank built and loaded the same; rank 0's weights to be sure. */
    if (tn_ddp_broadcast_values(t->ddp) != TN_OK) return fail("%s", tn_error_message());
    /* layers.csv's first angles of this process: from the loaded or initial weights */
    t->layer_prev = malloc(tn_params_size(t->ps) * sizeof(float));
    if (!t->layer_prev) return fail("out of memory");
    memcpy(t->layer_prev, tn_params_values(t->ps), tn_params_size(t->ps) * sizeof(float));
    return 0;
}

/* ---------------------------------------------------------- checkpoints */

/* The run's time so far, over every process of it. */
static double run_seconds(const trainer *t) { return tn_clock_now() - t->t_start; }

/* Checkpoint the run as it stands, mid-epoch or at an epoch's end. */
static int save_progress(trainer *t)
{
    tn_loader_position(t->ld, &t->st.pos);
    tn_optim_eval_weights(t->opt); /* schedule-free: the model saved is x */
    if (tn_dist_rank() == 0 && save_checkpoint(t->c, t->ckpt, t->ps, t->net, t->opt, &t->st))
        return -1;
    t->saved_step = tn_optim_steps(t->opt);
    t->last_save = tn_clock_now();
    return 0;
}

/* A mid-epoch checkpoint is due: every --checkpoint-steps steps of the run,
 * or --checkpoint-every minutes after the last. */
static bool checkpoint_due(const trainer *t)
{
    const run_config *c = t->c;
    return (c->checkpoint_steps > 0 && tn_optim_steps(t->opt) % c->checkpoint_steps == 0) ||
           (c->checkpoint_minutes > 0 && tn_clock_now() - t->last_save >= 60 * c->checkpoint_minutes);
}

/* ------------------------------------------------------------ divergence */

/* Stop a diverged run: RUN_DIVERGED, message printed (what went wrong,
 * where, and which step the checkpoint on disk, the last finite state,
 * holds). */
static int diverged(const trainer *t, const char *what, int64_t step)
{
    char kept[1300];
    if (t->saved_step >= 0)
        snprintf(kept, sizeof kept, "%s holds step %" PRId64 ", the last finite state", t->ckpt,
                 t->saved_step);
    else
        snprintf(kept, sizeof kept, "no checkpoint was written");
    fail("diverged at epoch %d, step %" PRId64 " (step %" PRId64 " of the epoch): %s; %s "
         "(lower --lr, or --allow-nonfinite to train on)",
         t->st.epoch + 1, step, step - (int64_t)t->st.epoch * t->spe, what, kept);
    return RUN_DIVERGED;
}

/* RUN_DIVERGED if x, the step's `what`, is NaN or infinite and
 * --allow-nonfinite is off; RUN_DONE otherwise. */
static int check_finite(const trainer *t, const char *what, double x, int64_t step)
{
    if (isfinite(x) || t->c->allow_nonfinite) return RUN_DONE;
    char buf[128];
    snprintf(buf, sizeof buf, "%s is %s", what, isnan(x) ? "NaN" : x > 0 ? "inf" : "-inf");
    return diverged(t, buf, step);
}

/* ----------------------------------------------------------------- steps */

static void begin_epoch(trainer *t)
{
    snprintf(t->label, sizeof t->label, "epoch %d/%d", t->st.epoch + 1, t->c->epochs);
    if (!t->c->quiet) progress_begin(&t->bar, stderr, t->label, (long)t->d->train->n, "img");
    t->bar_open = !t->c->quiet;
    tn_graph_set_training(t->g, true);
}

static void end_progress(trainer *t)
{
    if (t->bar_open) progress_end(&t->bar);
    t->bar_open = false;
}

/* The loader's next batch; the time waited for it counts as data wait. */
static bool next_batch(trainer *t, tn_batch *b)
{
    const double t_wait = tn_clock_now();
    if (!tn_loader_next(t->ld, b)) return false;
    t->t_step = tn_clock_now();
    t->st.wait_seconds += t->t_step - t_wait;
    return true;
}

/* The schedule's learning rate, λ and momentum for the next step. */
static void set_hyperparameters(trainer *t)
{
    const run_config *c = t->c;
    double step = (double)tn_optim_steps(t->opt);
    t->lr_t = tn_sched_lr(&t->sched, c->lr, step);
    tn_optim_train_weights(t->opt); /* schedule-free: y, after an evaluation or a load */
    if (c->wd_norm > 0)
        tn_optim_group_at(t->opt, 0)->lambda = decay_at(c, &t->sched, t->d->train->n, t->spe, step);
    if (c->schedule == TN_SCHED_ONE_CYCLE)
        tn_optim_set_momentum(t->opt, tn_sched_momentum(&t->sched, step, t->base_momentum));
}

/* Sums of a step over this rank's rows (as sums, not means), the penalty
 * once per rank: summed over the ranks, every rank decides alike. */
typedef struct step_sums {
    double loss, penalty, hits, rows;
} step_sums;

/* One micro-batch of a step, rows [start, start + n) of b out of this
 * rank's `rows`: forward, its loss scaled by its share n / rows (the
 * penalty added once, with the first part), backward into the store's
 * gradients; with the last part the gradients are all-reduced over the
 * ranks during backward.  -1 with a message on error. */
static int micro_step(trainer *t, const tn_batch *b, int start, int n, int rows, bool first,
                      bool last, step_sums *s)
{
    tn_graph *g = t->g;
    const size_t px = (size_t)b->c * b->h * b->w;
    tn_graph_reset(g);
    tn_tensor *x = tn_from_data(g, TN_SHAPE(n, b->c, b->h, b->w), b->x + (size_t)start * px);
    tn_tensor *logits = x ? tn_resnet_forward(g, t->net, x) : NULL;
    tn_tensor *loss = NULL;
    if (logits)
        loss = b->soft ? tn_cross_entropy_soft(g, logits, tn_from_data(g, TN_SHAPE(n, b->k),
                                                                       b->soft + (size_t)start * b->k))
                       : tn_cross_entropy(g, logits, b->labels + start, 0.0f);
    tn_tensor *share = loss && n != rows ? tn_scale(g, loss, (float)n / (float)rows) : loss;
    tn_tensor *penalty = share && first ? tn_optim_penalty(t->opt, g) : NULL;
    tn_tensor *total = penalty ? tn_add(g, share, penalty) : share;
    if (!total || (first && !penalty)) return -1;
    if (last && tn_ddp_begin(t->ddp, g, rows, b->n) != TN_OK) return -1;
    if (tn_backward(g, total) != TN_OK || (last && tn_ddp_finish(t->ddp) != TN_OK)) return -1;
    s->loss += (double)loss->data[0] * n;
    if (penalty) s->penalty += (double)penalty->data[0] * rows;
    s->hits += (double)count_hits(logits, b->labels + start, NULL);
    s->rows += n;
    return 0;
}

/* The forward and backward passes of a step: under mpirun this rank's rows
 * of the global batch (every rank draws the same batches), in --accumulate
 * micro-batches, at the weights perturbed by --weight-noise (restored
 * after). */
static int step_gradients(trainer *t, const tn_batch *b, step_sums *s)
{
    long lo, rows;
    tn_dist_slice(b->n, &lo, &rows);
    if (rows == 0)
        return tn_error_set(TN_ERR_ARG, "a batch of %d rows for %d ranks", b->n, tn_dist_size()), -1;
    const int k = t->c->accumulate > 1 ? (t->c->accumulate < rows ? t->c->accumulate : (int)rows) : 1;
    if (tn_nn_weight_noise_perturb(&t->st.noise, t->ps) != TN_OK) return -1;
    int rc = 0;
    for (int i = 0; rc == 0 && i < k; i++) {
        int start, n = tn_nn_micro_batch((int)rows, k, i, &start);
        rc = micro_step(t, b, (int)lo + start, n, (int)rows, i == 0, i == k - 1, s);
    }
    tn_nn_weight_noise_restore(&t->st.noise, t->ps);
    return rc;
}

/* One step: forward, loss + penalty, backward (step_gradients), clip,
 * update; the epoch's sums.  RUN_DONE, RUN_DIVERGED or RUN_ERROR. */
static int train_step(trainer *t, const tn_batch *b)
{
    const run_config *c = t->c;
    const int64_t step = tn_optim_steps(t->opt) + 1; /* counted from 1 in messages */
    set_hyperparameters(t);
    tn_params_zero_grad(t->ps);
    step_sums s = {0};
    if (step_gradients(t, b, &s)) {
        fail("step %" PRId64 ": %s", step, tn_error_message());
        return RUN_ERROR;
    }
    double sums[5] = {s.loss, s.penalty, s.hits, s.rows, interrupted};
    if (tn_dist_sum_d(sums, 5) != TN_OK)
        return fail("step %" PRId64 ": %s", step, tn_error_message()), RUN_ERROR;
    s = (step_sums){sums[0], sums[1], sums[2], sums[3]};
    t->stop_all = sums[4] > 0;
    double norm = c->clip > 0 ? tn_optim_clip_grad_norm(t->ps, (float)c->clip) : grad_norm(t->ps);
    int rc = check_finite(t, "the loss", (s.loss + s.penalty) / s.rows, step);
    if (rc == RUN_DONE) rc = check_finite(t, "the gradient norm", norm, step);
    if (rc != RUN_DONE) return rc;
    tn_optim_step(t->opt, t->lr_t);
    if (!c->allow_nonfinite && !values_finite(t->ps))
        return diverged(t, "a weight or running statistic is NaN or infinite", step);

    run_state *st = &t->st;
    st->loss_sum += s.loss;
    st->pen_sum += s.penalty;
    st->correct += (long)s.hits;
    st->seen += (long)s.rows;
    st->train_seconds += tn_clock_now() - t->t_step;
    return RUN_DONE;
}

/* After a step: the progress line, a mid-epoch checkpoint when due, and
 * the stop on Ctrl-C or --stop-after-steps (RUN_INTERRUPTED, checkpoint
 * saved). */
static int after_step(trainer *t)
{
    const run_config *c = t->c;
    const run_state *st = &t->st;
    t->steps_this_process++;
    if (t->bar_open) {
        char extra[96];
        snprintf(extra, sizeof extra, " loss %.3f acc %.3f lr %.2g", st->loss_sum / st->seen,
                 (double)st->correct / st->seen, t->lr_t);
        progress_update(&t->bar, st->seen, extra);
    }
    bool stop = t->stop_all || (c->stop_after_steps > 0 && t->steps_this_process >= c->stop_after_steps);
    if (!stop && !checkpoint_due(t)) return RUN_DONE;
    if (stop) end_progress(t);
    t->st.seconds = run_seconds(t);
    if (save_progress(t)) return RUN_ERROR;
    if (!stop) return RUN_DONE;
    if (tn_dist_rank() == 0)
        fprintf(stderr, "stopped at step %" PRId64 "; checkpoint saved; continue with --resume\n",
                tn_optim_steps(t->opt));
    return RUN_INTERRUPTED;
}

/* ------------------------------------------------------------- an epoch */

/* Early stopping on the validation accuracy: keep the best model in
 * best.safetensors; *stop after --patience epochs without a better one. */
static int early_stopping(trainer *t, double val_acc, bool *stop)
{
    run_state *st = &t->st;
    const run_config *c = t->c;
    if (val_acc > st->best_val) {
        st->best_val = val_acc;
        st->best_epoch = st->epoch;
        st->bad_epochs = 0;
        if (tn_dist_rank() == 0 && tn_nn_save(t->ps, t->best_path, 0, NULL, NULL) != TN_OK)
            return fail("%s", tn_error_message());
    } else if (c->patience > 0 && ++st->bad_epochs >= c->patience) {
        *stop = true;
        if (!c->quiet)
            fprintf(stderr, "early stop: no better validation accuracy for %d epochs (best %.4f at epoch %d)\n",
                    c->patience, st->best_val, st->best_epoch);
    }
    return 0;
}

/* Append each layer's norm and its angle since the last evaluation to
 * layers.csv (Kosson et al. 2024's rotation view). */
static int write_layer_stats(trainer *t)
{
    const size_t size = tn_params_size(t->ps), cap = tn_params_count(t->ps);
    tn_layer_stat *s = malloc(cap * sizeof *s);
    char path[1100];
    snprintf(path, sizeof path, "%s/layers.csv", t->c->out);
    const bool fresh = !file_exists(path);
    FILE *f = s ? fopen(path, "a") : NULL;
    if (!f) {
        free(s);
        return fail("cannot append to %s", path);
    }
    if (fresh) fputs("epoch,layer,norm,angle\n", f);
    const size_t n = tn_optim_layer_stats(t->ps, t->layer_prev, s, cap);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%d,%s,%.6g,%.6g\n", t->st.epoch, s[i].name, s[i].norm, s[i].angle);
    free(s);
    memcpy(t->layer_prev, tn_params_values(t->ps), size * sizeof(float));
    return fclose(f) == 0 ? 0 : fail("cannot write %s", path);
}

/* End of an epoch: evaluate, a metrics.csv row, early stopping, a
 * checkpoint.  RUN_DONE (*stop: early stop), RUN_DIVERGED or RUN_ERROR. */
static int end_epoch(trainer *t, run_result *r, bool *stop)
{
    const run_config *c = t->c;
    const run_data *d = t->d;
    run_state *st = &t->st;
    const int64_t step = tn_optim_steps(t->opt);
    double lr_t = tn_sched_lr(&t->sched, c->lr, (double)(step - 1)); /* its last step */
    double train_loss = st->loss_sum / st->seen, pen = st->pen_sum / st->seen,
           train_acc = (double)st->correct / st->seen, test_loss, test_acc, val_loss,
           val_acc = NAN;
    tn_optim_eval_weights(t->opt); /* schedule-free: evaluate x */
    if (evaluate(t->net, t->g, d->test, &d->norm, c->batch, &test_loss, &test_acc, NULL) ||
        (d->val && evaluate(t->net, t->g, d->val, &d->norm, c->batch, &val_loss, &val_acc, NULL)))
        return RUN_ERROR;
    int rc = check_finite(t, "the test loss after the epoch", test_loss, step);
    if (rc == RUN_DONE && d->val)
        rc = check_finite(t, "the validation loss after the epoch", val_loss, step);
    if (rc != RUN_DONE) return rc;

    st->epoch++;
    st->seconds = run_seconds(t);
    double ips = st->train_seconds > 0 ? (double)st->epoch * d->train->n / st->train_seconds : 0;
    text_printf(&st->csv, "%d,%.6g,%.6f,%.6f,%.5f,%.5f,%.6f,%.5f,%.4f,%.1f,%.1f\n", st->epoch, lr_t,
                train_loss, pen, train_acc, val_acc, test_loss, test_acc, weight_norm(t->ps),
                st->seconds, ips);
    if (test_acc > st->best_test) st->best_test = test_acc;
    if (!c->quiet)
        fprintf(stderr, "epoch %d: train loss %.4f (+ penalty %.4f) acc %.4f | test loss %.4f acc %.4f\n",
                st->epoch, train_loss, pen, train_acc, test_loss, test_acc);
    st->last_train_loss = train_loss;
    st->loss_sum = st->pen_sum = 0;
    st->correct = st->seen = 0;

    if (write_layer_stats(t)) return RUN_ERROR;
    if (d->val && early_stopping(t, val_acc, stop)) return RUN_ERROR;
    if ((tn_dist_rank() == 0 && write_text(t->csv_path, st->csv.s)) || save_progress(t))
        return RUN_ERROR;
    r->test_acc = test_acc;
    r->test_loss = test_loss;
    t->evaluated = true;
    return RUN_DONE;
}

/* The run's result into r and result.txt.  With a validation split it is
 * the best-validation model's; a run resumed after its last epoch
 * evaluates what it loaded. */
static int finish(trainer *t, run_result *r)
{
    const run_config *c = t->c;
    const run_data *d = t->d;
    const run_state *st = &t->st;
    bool restore_best = d->val && st->best_epoch > 0;
    tn_optim_eval_weights(t->opt);
    if (st->epoch > 0) write_layer_plot(c->out); /* a missing gnuplot is only a warning */
    if (restore_best && tn_nn_load(t->ps, t->best_path, NULL) != TN_OK)
        return fail("%s", tn_error_message());
    if ((restore_best || !t->evaluated) &&
        evaluate(t->net, t->g, d->test, &d->norm, c->batch, &r->test_loss, &r->test_acc, NULL))
        return -1;
    r->epochs = st->epoch;
    /* The run's time up to its last epoch's evaluation: a finished run
     * resumed only to report keeps its figure. */
    r->seconds = st->seconds;
    r->best_test_acc = st->best_test;
    r->images_per_s = st->train_seconds > 0 ? (double)st->epoch * d->train->n / st->train_seconds : 0;
    /* Of the time in the training loop (steps and waits), over every
     * process of the run. */
    r->data_wait_fraction = isnan(st->wait_seconds) ? NAN
                            : st->wait_seconds + st->train_seconds > 0
                                ? st->wait_seconds / (st->wait_seconds + st->train_seconds)
                                : 0;
    r->train_loss = st->last_train_loss;
    char opts[4096];
    return config_fingerprint(c, opts, sizeof opts) ||
                   (tn_dist_rank() == 0 && result_write(c->out, opts, r))
               ? -1
               : 0;
}

int train_run(const run_config *c, const run_data *d, run_result *r)
{
    memset(r, 0, sizeof *r);
    trainer t;
    int rc = trainer_open(&t, c, d) || start_or_resume(&t) ? RUN_ERROR : RUN_DONE;
    bool stop = false;
    while (rc == RUN_DONE && !stop && t.st.epoch < c->epochs) {
        begin_epoch(&t);
        tn_batch b;
        while (rc == RUN_DONE && next_batch(&t, &b)) {
            rc = train_step(&t, &b);
            if (rc == RUN_DONE) rc = after_step(&t);
        }
        end_progress(&t);
        if (rc == RUN_DONE) rc = end_epoch(&t, r, &stop);
    }
    if (rc == RUN_DONE && finish(&t, r)) rc = RUN_ERROR;
    if (tn_dist_size() > 1 && !c->quiet && t.ddp && tn_ddp_steps(t.ddp))
        fprintf(stderr, "data parallel: %d ranks; waited %.2f ms a step for the gradient all-reduce\n",
                tn_dist_size(), 1e3 * tn_ddp_wait_seconds(t.ddp) / (double)tn_ddp_steps(t.ddp));
    trainer_close(&t);
    return rc;
}
