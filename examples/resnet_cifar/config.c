/* examples/resnet_cifar/config.c - run options: defaults, parsing, checks. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int fail(const char *fmt, ...)
{
    va_list ap;
    fputs("resnet_cifar: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return -1;
}

/* --------------------------------------------------------------- methods */

static const struct {
    const char *name;
    tn_optim_kind optimizer;
    tn_reg reg;
    double lr, wd;
} METHODS[METHOD_COUNT] = {
    [METHOD_CUSTOM] = {"custom", TN_OPTIM_SGD, TN_REG_NONE, 0.1, 0.0},
    [METHOD_SGD_L2] = {"sgd-l2", TN_OPTIM_SGD, TN_REG_L2, 0.1, 5e-4},
    [METHOD_SGDW] = {"sgdw", TN_OPTIM_SGD, TN_REG_DECOUPLED, 0.1, 5e-4},
    [METHOD_ADAM_L2] = {"adam-l2", TN_OPTIM_ADAM, TN_REG_L2, 1e-3, 5e-4},
    [METHOD_ADAMW] = {"adamw", TN_OPTIM_ADAM, TN_REG_DECOUPLED, 1e-3, 5e-4},
    [METHOD_ADAMW_TORCH] = {"adamw-torch", TN_OPTIM_ADAM, TN_REG_DECOUPLED_LR, 1e-3, 0.5},
    [METHOD_ADAMPROX] = {"adamprox", TN_OPTIM_ADAM, TN_REG_PROX_L2, 1e-3, 5e-4},
};

const char *method_name(method m) { return METHODS[m].name; }
double method_default_wd(method m) { return METHODS[m].wd; }
double method_default_lr(method m) { return METHODS[m].lr; }

int method_parse(const char *s, method *m)
{
    for (int i = 0; i < METHOD_COUNT; i++)
        if (strcmp(s, METHODS[i].name) == 0) {
            *m = (method)i;
            return 0;
        }
    return -1;
}

/* ------------------------------------------------------------ name tables */

typedef struct named {
    const char *name;
    int value;
} named;

/* Optimizers and modes: the library's names (tn_optim_kind_name, tn_reg_name). */
static const named SCHEDULES[] = {{"constant", TN_SCHED_CONSTANT},
                                  {"linear", TN_SCHED_LINEAR},
                                  {"step", TN_SCHED_STEP},
                                  {"multistep", TN_SCHED_MULTISTEP},
                                  {"exponential", TN_SCHED_EXPONENTIAL},
                                  {"cosine", TN_SCHED_COSINE},
                                  {"restarts", TN_SCHED_COSINE_RESTARTS},
                                  {"onecycle", TN_SCHED_ONE_CYCLE},
                                  {NULL, 0}};
static const named VARIANTS[] = {
    {"bn", TN_RESNET_BN}, {"preact", TN_RESNET_PREACT}, {"nobn", TN_RESNET_NO_BN}, {NULL, 0}};

static const char *name_of(const named *t, int v)
{
    for (; t->name; t++)
        if (t->value == v) return t->name;
    return "?";
}

static int parse_named(const named *t, const char *opt, const char *s, int *v)
{
    for (const named *p = t; p->name; p++)
        if (strcmp(p->name, s) == 0) {
            *v = p->value;
            return 0;
        }
    char list[256] = "";
    for (const named *p = t; p->name; p++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", p == t ? "" : ", ",
                 p->name);
    return fail("%s: unknown value '%s' (one of: %s)", opt, s, list);
}

/* --------------------------------------------------------------- parsing */

void config_defaults(run_config *c)
{
    memset(c, 0, sizeof *c);
    c->depth = 20;
    c->variant = TN_RESNET_BN;
    c->shortcut = TN_RESNET_SHORTCUT_A;
    c->width = 16;
    c->method = METHOD_SGD_L2;
    c->optimizer = TN_OPTIM_SGD;
    c->reg = TN_REG_L2;
    c->lr = -1;
    c->wd = -1;
    c->momentum = c->beta1 = c->beta2 = c->eps = NAN;
    c->schedule = TN_SCHED_COSINE;
    c->t0_epochs = 10;
    c->t_mult = 2;
    c->step_epochs = 30;
    c->gamma = 0.1;
    snprintf(c->data, sizeof c->data, "%s", "../shared/datasets/cifar10-jpg");
    const char *home = getenv("HOME");
    snprintf(c->cache, sizeof c->cache, "%s/.cache/tenet", home ? home : "/tmp");
    c->batch = 128;
    c->augment = true;
    c->epochs = 15;
    c->threads = 2;
    c->seed = 1;
    snprintf(c->out, sizeof c->out, "%s", "runs/train");
}

static int value_of(int argc, char **argv, int *i, const char **v)
{
    const char *a = argv[*i], *eq = strchr(a, '=');
    if (eq) {
        *v = eq + 1;
        return 0;
    }
    if (*i + 1 >= argc) return fail("%s: missing value", a);
    *v = argv[++*i];
    return 0;
}

static int to_double(const char *opt, const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(x))
        return fail("%s: '%s' is not a number", opt, s);
    if (x < lo || x > hi) return fail("%s: %s is outside [%g, %g]", opt, s, lo, hi);
    *out = x;
    return 0;
}

static int to_int(const char *opt, const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long x = strtol(s, &end, 10);
    if (errno || end == s || *end) return fail("%s: '%s' is not an integer", opt, s);
    if (x < lo || x > hi) return fail("%s: %s is outside [%ld, %ld]", opt, s, lo, hi);
    *out = x;
    return 0;
}

static int to_path(const char *opt, const char *s, char *dst, size_t size)
{
    if (strlen(s) >= size) return fail("%s: path longer than %zu characters", opt, size - 1);
    snprintf(dst, size, "%s", s);
    return 0;
}

/* Option names match up to '='. */
static bool is(const char *arg, const char *name)
{
    size_t n = strlen(name);
    return strncmp(arg, name, n) == 0 && (arg[n] == 0 || arg[n] == '=');
}

int config_parse_option(run_config *c, int argc, char **argv, int *i)
{
    const char *a = argv[*i], *v = NULL;
    double d = 0;
    long l = 0;
    int e = 0;
#define VAL() \
    if (value_of(argc, argv, i, &v)) return -1
#define DBL(lo, hi, dst) \
    do { VAL(); if (to_double(a, v, lo, hi, &d)) return -1; dst = d; } while (0)
#define INT(lo, hi, dst) \
    do { VAL(); if (to_int(a, v, lo, hi, &l)) return -1; dst = l; } while (0)
#define NAMED(table, dst) \
    do { VAL(); if (parse_named(table, a, v, &e)) return -1; dst = e; } while (0)

    if (is(a, "--model")) {
        VAL();
        char *end;
        l = strncmp(v, "resnet", 6) == 0 ? strtol(v + 6, &end, 10) : 0;
        if (l < 8 || l > 10000 || *end) return fail("%s: expected resnetN (20, 32, 44, 56, 110), got '%s'", a, v);
        if ((l - 2) % 6) return fail("%s: depth %ld is not 6n+2", a, l);
        c->depth = (int)l;
    } else if (is(a, "--depth")) {
        INT(8, 10000, c->depth);
        if ((c->depth - 2) % 6) return fail("%s: depth %d is not 6n+2", a, c->depth);
    } else if (is(a, "--variant")) NAMED(VARIANTS, c->variant);
    else if (is(a, "--no-bn")) c->variant = TN_RESNET_NO_BN;
    else if (is(a, "--shortcut")) {
        VAL();
        if (strcmp(v, "A") && strcmp(v, "a") && strcmp(v, "B") && strcmp(v, "b"))
            return fail("%s: expected A or B, got '%s'", a, v);
        c->shortcut = (*v == 'A' || *v == 'a') ? TN_RESNET_SHORTCUT_A : TN_RESNET_SHORTCUT_B;
    } else if (is(a, "--width")) INT(2, 1024, c->width);
    else if (is(a, "--zero-init-residual")) c->zero_init_residual = true;
    else if (is(a, "--dropout")) DBL(0, 0.99, c->dropout);
    else if (is(a, "--method")) {
        VAL();
        method m;
        if (method_parse(v, &m)) return fail("%s: unknown method '%s' (sgd-l2, sgdw, adam-l2, adamw, adamw-torch, adamprox)", a, v);
        c->method = m;
        c->method_given = true;
    } else if (is(a, "--optimizer")) {
        VAL();
        if (tn_optim_kind_parse(v, &c->optimizer) != TN_OK) return fail("%s: %s", a, tn_error_message());
        c->method = METHOD_CUSTOM;
        c->method_given = true;
    } else if (is(a, "--reg")) {
        VAL();
        if (tn_reg_parse(v, &c->reg) != TN_OK) return fail("%s: %s", a, tn_error_message());
        c->method = METHOD_CUSTOM;
        c->method_given = true;
    }
    else if (is(a, "--lr")) DBL(1e-8, 100, c->lr);
    else if (is(a, "--wd")) DBL(0, 100, c->wd);
    else if (is(a, "--wd-norm")) DBL(0, 100, c->wd_norm);
    else if (is(a, "--momentum")) DBL(0, 0.9999, c->momentum);
    else if (is(a, "--nesterov")) c->nesterov = true;
    else if (is(a, "--beta1")) DBL(0, 0.9999, c->beta1);
    else if (is(a, "--beta2")) DBL(0, 0.99999, c->beta2);
    else if (is(a, "--eps")) DBL(0, 1, c->eps);
    else if (is(a, "--clip")) DBL(0, 1e6, c->clip);
    else if (is(a, "--schedule")) NAMED(SCHEDULES, c->schedule);
    else if (is(a, "--warmup")) DBL(0, 1e4, c->warmup_epochs);
    else if (is(a, "--t0")) DBL(0.01, 1e4, c->t0_epochs);
    else if (is(a, "--tmult")) INT(1, 16, c->t_mult);
    else if (is(a, "--step-epochs")) DBL(0.01, 1e4, c->step_epochs);
    else if (is(a, "--gamma")) DBL(1e-6, 1, c->gamma);
    else if (is(a, "--eta-min")) DBL(0, 1, c->eta_min);
    else if (is(a, "--milestones")) {
        VAL();
        c->n_milestones = 0;
        char buf[256];
        if (strlen(v) >= sizeof buf) return fail("%s: list too long", a);
        snprintf(buf, sizeof buf, "%s", v);
        for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
            if (c->n_milestones == TN_SCHED_MAX_MILESTONES)
                return fail("%s: at most %d milestones", a, TN_SCHED_MAX_MILESTONES);
            if (to_double(a, tok, 0, 1e4, &d)) return -1;
            if (c->n_milestones && d < c->milestones[c->n_milestones - 1])
                return fail("%s: milestones must be ascending (%s after %g)", a, tok,
                            c->milestones[c->n_milestones - 1]);
            c->milestones[c->n_milestones++] = d;
        }
    } else if (is(a, "--data")) { VAL(); if (to_path(a, v, c->data, sizeof c->data)) return -1; }
    else if (is(a, "--cache")) { VAL(); if (to_path(a, v, c->cache, sizeof c->cache)) return -1; }
    else if (is(a, "--no-cache")) c->cache[0] = 0;
    else if (is(a, "--subset")) INT(0, 1000000, c->subset);
    else if (is(a, "--test-subset")) INT(0, 1000000, c->test_subset);
    else if (is(a, "--val")) DBL(0, 0.9, c->val_fraction);
    else if (is(a, "--patience")) INT(0, 100000, c->patience);
    else if (is(a, "--batch")) INT(1, 65536, c->batch);
    else if (is(a, "--no-augment")) c->augment = false;
    else if (is(a, "--cutout")) INT(0, 32, c->cutout);
    else if (is(a, "--mixup")) DBL(0, 100, c->mixup);
    else if (is(a, "--cutmix")) DBL(0, 100, c->cutmix);
    else if (is(a, "--label-smoothing")) DBL(0, 0.99, c->label_smoothing);
    else if (is(a, "--noise")) DBL(0, 100, c->noise);
    else if (is(a, "--epochs")) INT(1, 10000, c->epochs);
    else if (is(a, "--threads")) INT(1, 256, c->threads);
    else if (is(a, "--seed")) { long s; VAL(); if (to_int(a, v, 0, 0x7fffffffL, &s)) return -1; c->seed = (uint64_t)s; }
    else if (is(a, "--out")) { VAL(); if (to_path(a, v, c->out, sizeof c->out)) return -1; }
    else if (is(a, "--resume")) c->resume = true;
    else if (is(a, "--init")) { VAL(); if (to_path(a, v, c->init, sizeof c->init)) return -1; }
    else if (is(a, "--stop-after-steps")) INT(1, 1L << 40, c->stop_after_steps);
    else if (is(a, "--quiet")) c->quiet = true;
    else return 0;
    return 1;
#undef VAL
#undef DBL
#undef INT
#undef NAMED
}

int config_finish(run_config *c)
{
    if (c->method != METHOD_CUSTOM) {
        c->optimizer = METHODS[c->method].optimizer;
        c->reg = METHODS[c->method].reg;
    }
    if (c->lr < 0) c->lr = c->method == METHOD_CUSTOM ? (c->optimizer == TN_OPTIM_SGD ? 0.1 : 1e-3)
                                                      : METHODS[c->method].lr;
    if (c->wd < 0) c->wd = c->method == METHOD_CUSTOM ? 0.0 : METHODS[c->method].wd;
    bool has_momentum = c->optimizer == TN_OPTIM_SGD || c->optimizer == TN_OPTIM_RMSPROP;
    bool adam_family = c->optimizer == TN_OPTIM_ADAM || c->optimizer == TN_OPTIM_NADAM ||
                       c->optimizer == TN_OPTIM_RADAM || c->optimizer == TN_OPTIM_ADAMAX;
    if (!isnan(c->momentum) && !has_momentum)
        return fail("--momentum applies to sgd and rmsprop (the Adam family has --beta1)");
    if ((!isnan(c->beta1) || !isnan(c->beta2)) && !adam_family)
        return fail("--beta1/--beta2 apply to adam, nadam, radam and adamax");
    if (c->optimizer == TN_OPTIM_SGD && isnan(c->momentum)) c->momentum = 0.9; /* the recipe */
    if (c->nesterov && (c->optimizer != TN_OPTIM_SGD || !(c->momentum > 0)))
        return fail("--nesterov needs --optimizer sgd (or an SGD method) with --momentum > 0");
    if (c->schedule == TN_SCHED_ONE_CYCLE && !adam_family && !(c->momentum > 0))
        return fail("--schedule onecycle cycles the momentum: it needs an optimizer with one "
                    "(sgd or rmsprop with --momentum > 0, or the Adam family)");
    if (c->shortcut == TN_RESNET_SHORTCUT_A && c->width % 4)
        return fail("--width %d: shortcut A needs a multiple of 4", c->width);
    if (c->patience > 0 && !(c->val_fraction > 0))
        return fail("--patience needs a validation split (--val F)");
    return 0;
}

void config_print_help(FILE *out)
{
    fputs("Model:\n"
          "  --model resnetN        depth 6n+2: resnet20, 32, 44, 56, 110 (default resnet20)\n"
          "  --depth N              the same, as a number\n"
          "  --variant bn|preact|nobn  post-activation with BN (default), pre-activation,\n"
          "                         or without batch norm (Fixup-style; see README)\n"
          "  --no-bn                the same as --variant nobn\n"
          "  --shortcut A|B         zero-padded identity (A, default) or 1x1 projection (B)\n"
          "  --width N              channels of the first stage (default 16)\n"
          "  --zero-init-residual   start each block's last BN scale at zero\n"
          "  --dropout P            dropout before the classifier (default 0)\n"
          "Optimizer and regularisation:\n"
          "  --method M             sgd-l2 (default), sgdw, adam-l2, adamw (paper: decay\n"
          "                         eta_t*wd), adamw-torch (decay lr_t*wd), adamprox\n"
          "  --optimizer O          sgd, adagrad, adadelta, rmsprop, adam, nadam, radam, adamax\n"
          "  --reg R                none, l2, l1 (in the loss), coupled (g += wd*w),\n"
          "                         decoupled (w -= eta_t*wd*w), decoupled-lr (w *= 1-lr_t*wd),\n"
          "                         prox-l2, prox-l1\n"
          "  --lr X                 base learning rate (sgd 0.1, adam 1e-3)\n"
          "  --wd X                 lambda (method default; see README)\n"
          "  --wd-norm X            normalized decay: lambda = X*sqrt(batch/(n_train*epochs))\n"
          "  --momentum X           sgd (default 0.9), rmsprop (default 0)\n"
          "  --nesterov --beta1 X --beta2 X --eps X   (defaults: PyTorch's)\n"
          "  --clip NORM            clip the global gradient norm\n"
          "Schedule (per batch, in fractional epochs):\n"
          "  --schedule S           cosine (default), restarts, step, multistep, exponential,\n"
          "                         linear (to zero), onecycle, constant\n"
          "  --warmup E             linear warm-up over E epochs, with any schedule\n"
          "  --t0 E --tmult M       warm restarts: first period E epochs, then x M\n"
          "  --step-epochs E --gamma G --milestones E1,E2,...  step schedules\n"
          "  --eta-min F            cosine floor, as a fraction of lr\n"
          "Data and augmentation:\n"
          "  --data DIR             image folder with train/ and test/ (default\n"
          "                         ../shared/datasets/cifar10-jpg) or a CIFAR binary folder\n"
          "  --cache DIR | --no-cache  decoded-image cache (default ~/.cache/tenet)\n"
          "  --subset N             first N training images per class\n"
          "  --test-subset N        first N test images per class\n"
          "  --val F                hold out a fraction F of training images (early stopping)\n"
          "  --patience P           stop after P epochs without a better val accuracy\n"
          "  --batch N              batch size (default 128)\n"
          "  --no-augment           no random crop + flip\n"
          "  --cutout N --mixup A --cutmix A --label-smoothing S --noise SIGMA\n"
          "Run:\n"
          "  --epochs N             (default 15)  --threads N (default 2)  --seed N (default 1)\n"
          "  --out DIR              run folder (metrics.csv, checkpoint.safetensors)\n"
          "  --resume               continue the run in --out from its checkpoint\n"
          "  --init CKPT            start from these weights\n"
          "  --stop-after-steps N   stop as if interrupted after N steps (for tests)\n"
          "  --quiet                no progress bar\n",
          out);
}

void arg_push(arg_list *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t room = sizeof a->store - a->used;
    int n = vsnprintf(a->store + a->used, room, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= room || a->argc + 1 >= (int)(sizeof a->argv / sizeof a->argv[0])) {
        a->overflow = true;
        return;
    }
    a->argv[a->argc++] = a->store + a->used;
    a->argv[a->argc] = NULL;
    a->used += (size_t)n + 1;
}

/* An option and its value, in the shortest form that reads back exactly. */
static void opt_num(arg_list *a, const char *name, double v)
{
    char buf[32];
    for (int digits = 6; digits <= 17; digits++) {
        snprintf(buf, sizeof buf, "%.*g", digits, v);
        if (strtod(buf, NULL) == v) break;
    }
    arg_push(a, "%s", name);
    arg_push(a, "%s", buf);
}

void config_args(const run_config *c, arg_list *a)
{
    opt_num(a, "--depth", c->depth);
    arg_push(a, "--variant");
    arg_push(a, "%s", name_of(VARIANTS, (int)c->variant));
    arg_push(a, "--shortcut");
    arg_push(a, "%s", c->shortcut == TN_RESNET_SHORTCUT_A ? "A" : "B");
    opt_num(a, "--width", c->width);
    if (c->zero_init_residual) arg_push(a, "--zero-init-residual");
    opt_num(a, "--dropout", c->dropout);
    if (c->method != METHOD_CUSTOM) {
        arg_push(a, "--method");
        arg_push(a, "%s", method_name(c->method));
    } else {
        arg_push(a, "--optimizer");
        arg_push(a, "%s", tn_optim_kind_name(c->optimizer));
        arg_push(a, "--reg");
        arg_push(a, "%s", tn_reg_name(c->reg));
    }
    opt_num(a, "--lr", c->lr);
    opt_num(a, "--wd", c->wd);
    if (c->wd_norm > 0) opt_num(a, "--wd-norm", c->wd_norm);
    const char *hyper[] = {"--momentum", "--beta1", "--beta2", "--eps"};
    const double hv[] = {c->momentum, c->beta1, c->beta2, c->eps};
    for (int i = 0; i < 4; i++)
        if (!isnan(hv[i])) opt_num(a, hyper[i], hv[i]);
    if (c->nesterov) arg_push(a, "--nesterov");
    if (c->clip > 0) opt_num(a, "--clip", c->clip);
    arg_push(a, "--schedule");
    arg_push(a, "%s", name_of(SCHEDULES, (int)c->schedule));
    opt_num(a, "--warmup", c->warmup_epochs);
    opt_num(a, "--t0", c->t0_epochs);
    opt_num(a, "--tmult", c->t_mult);
    opt_num(a, "--step-epochs", c->step_epochs);
    opt_num(a, "--gamma", c->gamma);
    if (c->n_milestones) {
        char buf[256] = "";
        for (int i = 0; i < c->n_milestones; i++)
            snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%.17g", i ? "," : "",
                     c->milestones[i]);
        arg_push(a, "--milestones");
        arg_push(a, "%s", buf);
    }
    opt_num(a, "--eta-min", c->eta_min);
    arg_push(a, "--data");
    arg_push(a, "%s", c->data);
    opt_num(a, "--subset", c->subset);
    opt_num(a, "--test-subset", c->test_subset);
    opt_num(a, "--val", c->val_fraction);
    opt_num(a, "--patience", c->patience);
    opt_num(a, "--batch", c->batch);
    if (!c->augment) arg_push(a, "--no-augment");
    opt_num(a, "--cutout", c->cutout);
    opt_num(a, "--mixup", c->mixup);
    opt_num(a, "--cutmix", c->cutmix);
    opt_num(a, "--label-smoothing", c->label_smoothing);
    opt_num(a, "--noise", c->noise);
    opt_num(a, "--epochs", c->epochs);
    opt_num(a, "--threads", c->threads); /* the thread count splits some sums */
    opt_num(a, "--seed", (double)c->seed);
    if (c->init[0]) {
        arg_push(a, "--init");
        arg_push(a, "%s", c->init);
    }
}

int config_fingerprint(const run_config *c, char *buf, size_t size)
{
    arg_list a = {0};
    config_args(c, &a);
    if (a.overflow) return -1;
    size_t n = 0;
    buf[0] = 0;
    for (int i = 0; i < a.argc; i++) {
        int k = snprintf(buf + n, size - n, "%s%s", i ? " " : "", a.argv[i]);
        if (k < 0 || (size_t)k >= size - n) return -1;
        n += (size_t)k;
    }
    return 0;
}

void config_describe(const run_config *c, char *buf, size_t size)
{
    snprintf(buf, size,
             "resnet%d %s/%s %s optimizer=%s reg=%s lr=%g wd=%g%s schedule=%s epochs=%d batch=%d "
             "seed=%llu",
             c->depth, name_of(VARIANTS, (int)c->variant),
             c->shortcut == TN_RESNET_SHORTCUT_A ? "A" : "B", method_name(c->method),
             tn_optim_kind_name(c->optimizer), tn_reg_name(c->reg), c->lr, c->wd,
             c->wd_norm > 0 ? " (normalized)" : "", name_of(SCHEDULES, (int)c->schedule),
             c->epochs, c->batch, (unsigned long long)c->seed);
}
