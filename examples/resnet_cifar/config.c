/* examples/resnet_cifar/config.c - run options: defaults, parsing, checks. */
#include "config.h"

#include <unistd.h>

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int fail(const char *fmt, ...)
{
    va_list ap;
    fputs("resnet_cifar: ", stderr);
    if (tn_dist_world_size() > 1) fprintf(stderr, "rank %d: ", tn_dist_world_rank());
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
    /* lr: each optimizer's default (tn_optim_defaults: the paper's / reference
     * code's).  λ: L2 forms 5e-4 as sgd-l2 and adam-l2 (AdaBelief's CIFAR
     * runs too); lion-w 5 keeps adamw-torch's per-step decay lr·λ = 5e-4 at
     * a tenth of the lr (the Lion paper: λ 3-10x AdamW's, lr 3-10x smaller);
     * lambw 0.01 is timm's Lamb default; adan-prox 2e-5 = lr·0.02 and adanw
     * 0.02 are the Adan reference's recommended 0.02 in each form (prox-l2
     * decays by η_t·λ, the reference by lr_t·λ); adabeliefw 0.5 as adamw-torch. */
    [METHOD_LION_L2] = {"lion-l2", TN_OPTIM_LION, TN_REG_L2, 1e-4, 5e-4},
    [METHOD_LION_W] = {"lion-w", TN_OPTIM_LION, TN_REG_DECOUPLED_LR, 1e-4, 5.0},
    [METHOD_LAMB_L2] = {"lamb-l2", TN_OPTIM_LAMB, TN_REG_L2, 1e-3, 5e-4},
    [METHOD_LAMBW] = {"lambw", TN_OPTIM_LAMB, TN_REG_DECOUPLED_LR, 1e-3, 0.01},
    [METHOD_ADAN_PROX] = {"adan-prox", TN_OPTIM_ADAN, TN_REG_PROX_L2, 1e-3, 2e-5},
    [METHOD_ADANW] = {"adanw", TN_OPTIM_ADAN, TN_REG_DECOUPLED_LR, 1e-3, 0.02},
    [METHOD_ADABELIEF_L2] = {"adabelief-l2", TN_OPTIM_ADABELIEF, TN_REG_L2, 1e-3, 5e-4},
    [METHOD_ADABELIEFW] = {"adabeliefw", TN_OPTIM_ADABELIEF, TN_REG_DECOUPLED_LR, 1e-3, 0.5},
    [METHOD_SF_SGD] = {"sf-sgd", TN_OPTIM_SF_SGD, TN_REG_COUPLED, 1.0, 5e-4},
    [METHOD_SF_ADAMW] = {"sf-adamw", TN_OPTIM_SF_ADAMW, TN_REG_DECOUPLED_LR, 2.5e-3, 0.5},
    [METHOD_ADAMC] = {"adamc", TN_OPTIM_ADAM, TN_REG_DECOUPLED_LR, 1e-3, 0.5},
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
    {"bn", TN_RESNET_BN}, {"preact", TN_RESNET_PREACT}, {"nobn", TN_RESNET_NO_BN},
    {"gn", TN_RESNET_GN}, {"ln", TN_RESNET_LN}, {NULL, 0}};

static const char *name_of(const named *t, int v)
{
    for (; t->name; t++)
        if (t->value == v) return t->name;
    return "?";
}

/* The optimizer and mode names are the library's (optim.h). */
typedef struct lib_names {
    const char *(*name)(int v);
    tn_status (*parse)(const char *s, int *v);
} lib_names;

static const char *optimizer_name(int v) { return tn_optim_kind_name((tn_optim_kind)v); }
static const char *reg_name(int v) { return tn_reg_name((tn_reg)v); }
static tn_status optimizer_parse(const char *s, int *v)
{
    tn_optim_kind k;
    tn_status st = tn_optim_kind_parse(s, &k);
    if (st == TN_OK) *v = (int)k;
    return st;
}
static tn_status reg_parse(const char *s, int *v)
{
    tn_reg r;
    tn_status st = tn_reg_parse(s, &r);
    if (st == TN_OK) *v = (int)r;
    return st;
}
static const lib_names OPTIMIZER_NAMES = {optimizer_name, optimizer_parse};
static const lib_names REG_NAMES = {reg_name, reg_parse};

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

static const named SHORTCUTS[] = {{"A", TN_RESNET_SHORTCUT_A},
                                  {"B", TN_RESNET_SHORTCUT_B},
                                  {"a", TN_RESNET_SHORTCUT_A},
                                  {"b", TN_RESNET_SHORTCUT_B},
                                  {NULL, 0}};
static const named METHOD_NAMES[] = {
    {"custom", METHOD_CUSTOM},         {"sgd-l2", METHOD_SGD_L2},     {"sgdw", METHOD_SGDW},
    {"adam-l2", METHOD_ADAM_L2},       {"adamw", METHOD_ADAMW},       {"adamw-torch", METHOD_ADAMW_TORCH},
    {"adamprox", METHOD_ADAMPROX},
    {"lion-l2", METHOD_LION_L2},       {"lion-w", METHOD_LION_W},     {"lamb-l2", METHOD_LAMB_L2},
    {"lambw", METHOD_LAMBW},           {"adan-prox", METHOD_ADAN_PROX}, {"adanw", METHOD_ADANW},
    {"adabelief-l2", METHOD_ADABELIEF_L2}, {"adabeliefw", METHOD_ADABELIEFW},
    {"sf-sgd", METHOD_SF_SGD},         {"sf-adamw", METHOD_SF_ADAMW}, {"adamc", METHOD_ADAMC},
    {NULL, 0}};

/* The enum fields the table writes as int. */
_Static_assert(sizeof(tn_resnet_variant) == sizeof(int) && sizeof(tn_resnet_shortcut) == sizeof(int) &&
                   sizeof(method) == sizeof(int) && sizeof(tn_optim_kind) == sizeof(int) &&
                   sizeof(tn_reg) == sizeof(int) && sizeof(tn_sched_kind) == sizeof(int),
               "enum fields are int-sized");

/* ----------------------------------------------------------- the options */

typedef enum opt_kind {
    OPT_HEADING, /* a section of the help; no option */
    OPT_INT,     /* int field in [lo, hi] */
    OPT_LONG,    /* long field in [lo, hi] */
    OPT_SEED,    /* uint64_t field in [lo, hi] */
    OPT_DOUBLE,  /* double field in [lo, hi] */
    OPT_FLOAT,   /* float field in [lo, hi] */
    OPT_ENUM,    /* int-sized enum field: one of `names` */
    OPT_PATH,    /* char[PATH] field */
    OPT_SET,     /* no value: the bool field becomes true */
    OPT_CLEAR,   /* no value: the bool field becomes false, the path field "" */
    OPT_SPECIAL, /* parsed by `parse` alone (no field) */
} opt_kind;

/* How config_args records an option (the fingerprint: its order and these
 * rules are those of every run folder written so far). */
typedef enum opt_record {
    REC_NEVER,    /* does not change the trajectory (or another row records it) */
    REC_ALWAYS,   /* option and value */
    REC_IF_GIVEN, /* a flag in effect, a path not "", a number not NaN */
    REC_IF_POSITIVE,
    REC_CUSTOM,   /* by the row's record_fn */
} opt_record;

#define NO_FIELD SIZE_MAX
#define PATH sizeof ((run_config *)0)->data

typedef struct option_row {
    const char *name; /* "--lr", or a heading's text */
    opt_kind kind;
    size_t field;     /* offsetof(run_config, ...) or NO_FIELD */
    double lo, hi;    /* a number's range */
    double def;       /* default of a number, a bool (0, 1) or an enum (its value) */
    const char *def_path;
    const named *names; /* an enum's values */
    const lib_names *lib; /* ... or the library's names for them */
    opt_record record;
    bool help_default;  /* help appends "(default ...)" */
    const char *meta;   /* the value's placeholder in the help; NULL: takes none */
    const char *help;   /* continuation lines after '\n' */
    /* OPT_SPECIAL: parse the value (NULL without one); others: check and
     * complete after the value is stored.  0, or -1 with a message. */
    int (*parse)(run_config *c, const char *opt, const char *v);
    void (*record_fn)(const run_config *c, arg_list *a); /* REC_CUSTOM */
    const char *describe; /* key in config_describe, or NULL */
} option_row;

static int parse_model(run_config *c, const char *opt, const char *v)
{
    char *end = NULL;
    long l = strncmp(v, "resnet", 6) == 0 ? strtol(v + 6, &end, 10) : 0;
    if (l < 8 || l > 10000 || *end)
        return fail("%s: expected resnetN (20, 32, 44, 56, 110), got '%s'", opt, v);
    if ((l - 2) % 6) return fail("%s: depth %ld is not 6n+2", opt, l);
    c->depth = (int)l;
    return 0;
}

static int check_depth(run_config *c, const char *opt, const char *v)
{
    (void)v;
    return (c->depth - 2) % 6 ? fail("%s: depth %d is not 6n+2", opt, c->depth) : 0;
}

static int set_no_bn(run_config *c, const char *opt, const char *v)
{
    (void)opt, (void)v;
    c->variant = TN_RESNET_NO_BN;
    return 0;
}

/* --accumulate 1 is the plain step: stored as 0, so it is not recorded. */
static int check_accumulate(run_config *c, const char *opt, const char *v)
{
    (void)opt, (void)v;
    if (c->accumulate == 1) c->accumulate = 0;
    return 0;
}

static int method_given(run_config *c, const char *opt, const char *v)
{
    (void)opt, (void)v;
    c->method_given = true;
    return 0;
}

static int method_custom(run_config *c, const char *opt, const char *v)
{
    c->method = METHOD_CUSTOM;
    return method_given(c, opt, v);
}

static int to_double(const char *opt, const char *s, double lo, double hi, double *out);

static int parse_milestones(run_config *c, const char *opt, const char *v)
{
    c->n_milestones = 0;
    char buf[256];
    if (strlen(v) >= sizeof buf) return fail("%s: list too long", opt);
    snprintf(buf, sizeof buf, "%s", v);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        double d = 0;
        if (c->n_milestones == TN_SCHED_MAX_MILESTONES)
            return fail("%s: at most %d milestones", opt, TN_SCHED_MAX_MILESTONES);
        if (to_double(opt, tok, 0, 1e4, &d)) return -1;
        if (c->n_milestones && d < c->milestones[c->n_milestones - 1])
            return fail("%s: milestones must be ascending (%s after %g)", opt, tok,
                        c->milestones[c->n_milestones - 1]);
        c->milestones[c->n_milestones++] = d;
    }
    return 0;
}

static void record_method(const run_config *c, arg_list *a)
{
    if (c->method != METHOD_CUSTOM) {
        arg_push(a, "--method");
        arg_push(a, "%s", method_name(c->method));
    } else {
        arg_push(a, "--optimizer");
        arg_push(a, "%s", tn_optim_kind_name(c->optimizer));
        arg_push(a, "--reg");
        arg_push(a, "%s", tn_reg_name(c->reg));
    }
}

/* `path` as absolute components ("." dropped, ".." applied), in buf. */
static int path_parts(const char *path, char *buf, size_t size, char **part, int max)
{
    char cwd[1024] = "";
    if (path[0] != '/' && !getcwd(cwd, sizeof cwd)) return -1;
    if (snprintf(buf, size, "%s/%s", cwd, path) >= (int)size) return -1;
    int n = 0;
    for (char *tok = strtok(buf, "/"); tok; tok = strtok(NULL, "/")) {
        if (strcmp(tok, ".") == 0) continue;
        if (strcmp(tok, "..") == 0) {
            if (n > 0) n--;
            continue;
        }
        if (n == max) return -1;
        part[n++] = tok;
    }
    return n;
}

/* --init relative to the run folder, so a run's recorded options name no
 * place outside it: runs/compare/seed1/init.safetensors from the run
 * folder runs/compare/seed1/adamw is ../init.safetensors. */
static void record_init(const run_config *c, arg_list *a)
{
    if (!c->init[0]) return;
    enum { MAX = 256 };
    char bi[2048], bo[2048], rel[2048] = "";
    char *pi[MAX], *po[MAX];
    int ni = path_parts(c->init, bi, sizeof bi, pi, MAX);
    int no = path_parts(c->out, bo, sizeof bo, po, MAX);
    arg_push(a, "--init");
    if (ni < 0 || no < 0) { /* too long to rewrite: as given */
        arg_push(a, "%s", c->init);
        return;
    }
    int k = 0;
    while (k < ni - 1 && k < no && strcmp(pi[k], po[k]) == 0) k++;
    for (int i = k; i < no; i++) snprintf(rel + strlen(rel), sizeof rel - strlen(rel), "../");
    for (int i = k; i < ni; i++)
        snprintf(rel + strlen(rel), sizeof rel - strlen(rel), "%s%s", pi[i], i + 1 < ni ? "/" : "");
    arg_push(a, "%s", rel);
}

static void record_milestones(const run_config *c, arg_list *a)
{
    if (!c->n_milestones) return;
    char buf[256] = "";
    for (int i = 0; i < c->n_milestones; i++)
        snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%.17g", i ? "," : "",
                 c->milestones[i]);
    arg_push(a, "--milestones");
    arg_push(a, "%s", buf);
}

#define F(name) offsetof(run_config, name)
#define HEADING(text) {.name = text, .kind = OPT_HEADING, .field = NO_FIELD}
/* The rows in fingerprint order (config_args): help and parsing follow it. */
static const option_row OPTIONS[] = {
    HEADING("Model:"),
    {"--model", OPT_SPECIAL, NO_FIELD, .meta = "resnetN", .parse = parse_model,
     .help = "depth 6n+2: resnet20, 32, 44, 56, 110 (default resnet20)"},
    {"--depth", OPT_INT, F(depth), 8, 10000, 20, .record = REC_ALWAYS, .meta = "N",
     .parse = check_depth, .help = "the same, as a number"},
    {"--variant", OPT_ENUM, F(variant), .def = TN_RESNET_BN, .names = VARIANTS,
     .record = REC_ALWAYS, .meta = "bn|preact|nobn|gn|ln",
     .help = "post-activation with BN (default), pre-activation,\n"
             "without batch norm (Fixup-style; see README), or\n"
             "post-activation with group norm (16 channels a group)\n"
             "or layer norm (one group) in place of every BN"},
    {"--no-bn", OPT_SPECIAL, NO_FIELD, .parse = set_no_bn, .help = "the same as --variant nobn"},
    {"--shortcut", OPT_ENUM, F(shortcut), .def = TN_RESNET_SHORTCUT_A, .names = SHORTCUTS,
     .record = REC_ALWAYS, .meta = "A|B",
     .help = "zero-padded identity (A, default) or 1x1 projection (B)"},
    {"--width", OPT_INT, F(width), 2, 1024, 16, .record = REC_ALWAYS, .help_default = true,
     .meta = "N", .help = "channels of the first stage"},
    {"--zero-init-residual", OPT_SET, F(zero_init_residual), .record = REC_IF_GIVEN,
     .help = "start each block's last BN scale at zero"},
    {"--dropout", OPT_FLOAT, F(dropout), 0, 0.99, 0, .record = REC_ALWAYS, .help_default = true,
     .meta = "P", .help = "dropout before the classifier"},

    HEADING("Optimizer and regularisation:"),
    {"--method", OPT_ENUM, F(method), .def = METHOD_SGD_L2, .names = METHOD_NAMES,
     .record = REC_CUSTOM, .record_fn = record_method, .meta = "M", .parse = method_given,
     .help = "sgd-l2 (default), sgdw, adam-l2, adamw (paper: decay\n"
             "eta_t*wd), adamw-torch (decay lr_t*wd), adamprox;\n"
             "lion-l2, lion-w (decay lr_t*wd), lamb-l2, lambw (wd*w inside\n"
             "the trust ratio), adan-prox (proximal), adanw (decay lr_t*wd),\n"
             "adabelief-l2, adabeliefw (decay lr_t*wd), sf-sgd, sf-adamw\n"
             "(schedule-free: use --schedule constant), adamc"},
    {"--optimizer", OPT_ENUM, F(optimizer), .def = TN_OPTIM_SGD, .lib = &OPTIMIZER_NAMES,
     .meta = "O", .parse = method_custom, .describe = "optimizer",
     .help = "sgd, sgd-paper (the AdamW paper's SGD momentum), adagrad,\n"
             "adadelta, rmsprop, adam, nadam, radam, adamax, lion, lamb,\n"
             "lars (trust ratio, momentum 0.9), adan, adabelief"},
    {"--reg", OPT_ENUM, F(reg), .def = TN_REG_L2, .lib = &REG_NAMES, .meta = "R",
     .parse = method_custom, .describe = "reg",
     .help = "none, l2, l1 (in the loss), coupled (g += wd*w),\n"
             "decoupled (w -= eta_t*wd*w), decoupled-lr (w *= 1-lr_t*wd),\n"
             "prox-l2, prox-l1 (lamb: decoupled-lr puts wd*w inside\n"
             "its trust ratio)"},
    {"--lr", OPT_DOUBLE, F(lr), 1e-8, 100, -1, .record = REC_ALWAYS, .meta = "X",
     .describe = "lr",
     .help = "base learning rate (sgd 0.1, adam 1e-3, lion 1e-4, lars 1)"},
    {"--wd", OPT_DOUBLE, F(wd), 0, 100, -1, .record = REC_ALWAYS, .meta = "X", .describe = "wd",
     .help = "lambda (method default; see README)"},
    {"--wd-norm", OPT_DOUBLE, F(wd_norm), 0, 100, 0, .record = REC_IF_POSITIVE, .meta = "X",
     .describe = "wd-norm", .help = "normalized decay: lambda = X*sqrt(batch/(n_train*epochs))"},
    {"--momentum", OPT_DOUBLE, F(momentum), 0, 0.9999, NAN, .record = REC_IF_GIVEN, .meta = "X",
     .help = "sgd (default 0.9), rmsprop (default 0)"},
    {"--beta1", OPT_DOUBLE, F(beta1), 0, 0.9999, NAN, .record = REC_IF_GIVEN, .meta = "X",
     .help = "Adam family (default: PyTorch's, as for the next two)"},
    {"--beta2", OPT_DOUBLE, F(beta2), 0, 0.99999, NAN, .record = REC_IF_GIVEN, .meta = "X",
     .help = ""},
    {"--eps", OPT_DOUBLE, F(eps), 0, 1, NAN, .record = REC_IF_GIVEN, .meta = "X", .help = ""},
    {"--nesterov", OPT_SET, F(nesterov), .record = REC_IF_GIVEN, .help = "Nesterov momentum (sgd)"},
    {"--cautious", OPT_SET, F(cautious), .record = REC_IF_GIVEN,
     .help = "cautious decay: only where the update has the weight's sign"},
    {"--corrected", OPT_SET, F(corrected), .record = REC_IF_GIVEN,
     .help = "corrected decay lr_t^2/lr*wd on weights before a batch norm"},
    {"--wd-tau", OPT_DOUBLE, F(wd_tau), 0, 1e6, 0, .record = REC_IF_POSITIVE, .meta = "T",
     .describe = "wd-tau", .help = "lambda from a decay timescale of T epochs"},
    {"--clip", OPT_DOUBLE, F(clip), 0, 1e6, 0, .record = REC_IF_POSITIVE, .meta = "NORM",
     .help = "clip the global gradient norm"},
    {"--accumulate", OPT_INT, F(accumulate), 0, 4096, 0, .record = REC_IF_POSITIVE, .meta = "K",
     .parse = check_accumulate,
     .help = "sum the gradients of K micro-batches of batch/K before\n"
             "each step (memory of batch/K; batch norm normalises by\n"
             "micro-batch statistics)"},
    {"--weight-noise", OPT_FLOAT, F(weight_noise), 0, 10, 0, .record = REC_IF_POSITIVE,
     .meta = "S",
     .help = "Gaussian noise of std S x each weight tensor's RMS on\n"
             "the conv/linear weights for the forward and backward;\n"
             "the update applies to the clean weights"},

    HEADING("Schedule (per batch, in fractional epochs):"),
    {"--schedule", OPT_ENUM, F(schedule), .def = TN_SCHED_COSINE, .names = SCHEDULES,
     .record = REC_ALWAYS, .meta = "S", .describe = "schedule",
     .help = "cosine (default), restarts, step, multistep, exponential,\n"
             "linear (to zero), onecycle, constant"},
    {"--warmup", OPT_DOUBLE, F(warmup_epochs), 0, 1e4, 0, .record = REC_ALWAYS, .meta = "E",
     .help = "linear warm-up over E epochs, with any schedule"},
    {"--t0", OPT_DOUBLE, F(t0_epochs), 0.01, 1e4, 10, .record = REC_ALWAYS, .help_default = true,
     .meta = "E", .help = "warm restarts: the first period, in epochs"},
    {"--tmult", OPT_INT, F(t_mult), 1, 16, 2, .record = REC_ALWAYS, .help_default = true,
     .meta = "M", .help = "warm restarts: each next period is M times longer"},
    {"--step-epochs", OPT_DOUBLE, F(step_epochs), 0.01, 1e4, 30, .record = REC_ALWAYS,
     .help_default = true, .meta = "E", .help = "step schedule: decay every E epochs"},
    {"--gamma", OPT_DOUBLE, F(gamma), 1e-6, 1, 0.1, .record = REC_ALWAYS, .help_default = true,
     .meta = "G", .help = "step, multistep, exponential: decay factor (per epoch)"},
    {"--milestones", OPT_SPECIAL, NO_FIELD, .record = REC_CUSTOM, .record_fn = record_milestones,
     .meta = "E1,E2,...", .parse = parse_milestones, .help = "multistep: decay at these epochs"},
    {"--eta-min", OPT_DOUBLE, F(eta_min), 0, 1, 0, .record = REC_ALWAYS, .meta = "F",
     .help = "cosine floor, as a fraction of lr"},

    HEADING("Data and augmentation:"),
    {"--data", OPT_PATH, F(data), .def_path = DEFAULT_DATA, .record = REC_ALWAYS, .meta = "DIR",
     .help = "image folder with train/ and test/ or a CIFAR binary folder\n"
             "(default: $TENET_DATA if set, else " DEFAULT_DATA ")"},
    {"--cache", OPT_PATH, F(cache), .meta = "DIR", .help = "decoded-image cache (default ~/.cache/tenet)"},
    {"--no-cache", OPT_CLEAR, F(cache), .help = "no decoded-image cache"},
    {"--subset", OPT_INT, F(subset), 0, 1000000, 0, .record = REC_ALWAYS, .meta = "N",
     .help = "first N training images per class"},
    {"--test-subset", OPT_INT, F(test_subset), 0, 1000000, 0, .record = REC_ALWAYS, .meta = "N",
     .help = "first N test images per class"},
    {"--val", OPT_DOUBLE, F(val_fraction), 0, 0.9, 0, .record = REC_ALWAYS, .meta = "F",
     .help = "hold out a fraction F of training images (early stopping)"},
    {"--patience", OPT_INT, F(patience), 0, 100000, 0, .record = REC_ALWAYS, .meta = "P",
     .help = "stop after P epochs without a better val accuracy"},
    {"--batch", OPT_INT, F(batch), 1, 65536, 128, .record = REC_ALWAYS, .help_default = true,
     .meta = "N", .describe = "batch", .help = "batch size"},
    {"--no-augment", OPT_CLEAR, F(augment), .def = 1, .record = REC_IF_GIVEN,
     .help = "no random crop + flip"},
    {"--cutout", OPT_INT, F(cutout), 0, 32, 0, .record = REC_ALWAYS, .meta = "N",
     .help = "cut out an NxN square"},
    {"--mixup", OPT_FLOAT, F(mixup), 0, 100, 0, .record = REC_ALWAYS, .meta = "A",
     .help = "mixup with Beta(A, A)"},
    {"--cutmix", OPT_FLOAT, F(cutmix), 0, 100, 0, .record = REC_ALWAYS, .meta = "A",
     .help = "cutmix with Beta(A, A)"},
    {"--label-smoothing", OPT_FLOAT, F(label_smoothing), 0, 0.99, 0, .record = REC_ALWAYS,
     .meta = "S", .help = "label smoothing"},
    {"--noise", OPT_FLOAT, F(noise), 0, 100, 0, .record = REC_ALWAYS, .meta = "SIGMA",
     .help = "Gaussian pixel noise"},

    HEADING("Run:"),
    {"--epochs", OPT_INT, F(epochs), 1, 10000, 15, .record = REC_ALWAYS, .help_default = true,
     .meta = "N", .describe = "epochs", .help = "epochs to train"},
    /* The thread count splits some sums: it is part of the trajectory. */
    {"--threads", OPT_INT, F(threads), 1, 256, 2, .record = REC_ALWAYS, .help_default = true,
     .meta = "N", .help = "threads"},
    {"--seed", OPT_SEED, F(seed), 0, 0x7fffffff, 1, .record = REC_ALWAYS, .help_default = true,
     .meta = "N", .describe = "seed", .help = "initial weights, batch order, augmentation"},
    {"--init", OPT_PATH, F(init), .record = REC_CUSTOM, .record_fn = record_init, .meta = "CKPT",
     .help = "start from these weights (recorded relative to the run folder)"},
    {"--out", OPT_PATH, F(out), .def_path = "runs/train", .help_default = true, .meta = "DIR",
     .help = "run folder (metrics.csv, checkpoint.safetensors)"},
    {"--resume", OPT_SET, F(resume), .help = "continue the run in --out from its checkpoint"},
    {"--checkpoint-every", OPT_DOUBLE, F(checkpoint_minutes), 0, 1e6, 5, .help_default = true,
     .meta = "MIN", .help = "checkpoint mid-epoch too, every MIN minutes (0: off)"},
    {"--checkpoint-steps", OPT_LONG, F(checkpoint_steps), 0, 1L << 40, 0, .meta = "N",
     .help = "also checkpoint every N steps (default 0: off)"},
    {"--allow-nonfinite", OPT_SET, F(allow_nonfinite),
     .help = "train on through a NaN or infinite loss, gradient or weight\n"
             "(default: stop with exit code 3, keeping the last finite checkpoint)"},
    {"--stop-after-steps", OPT_LONG, F(stop_after_steps), 1, 1L << 40, 0, .meta = "N",
     .help = "stop as if interrupted after N steps (for tests)"},
    {"--quiet", OPT_SET, F(quiet), .help = "no progress bar"},
    {"--sync-bn", OPT_SET, F(sync_bn), .record = REC_IF_GIVEN,
     .help = "under mpirun: batch norm statistics over every rank's rows (N ranks x B/N\n"
             "compute what 1 x B does; default: each rank its own rows)"},
};
#undef F
#undef HEADING
enum { N_OPTIONS = sizeof OPTIONS / sizeof OPTIONS[0] };

/* The field of a row in c. */
static void *field_of(const run_config *c, const option_row *o)
{
    return (char *)c + o->field;
}

static const char *enum_name(const option_row *o, int v)
{
    return o->lib ? o->lib->name(v) : name_of(o->names, v);
}

void config_defaults(run_config *c)
{
    memset(c, 0, sizeof *c);
    for (const option_row *o = OPTIONS; o < OPTIONS + N_OPTIONS; o++) {
        if (o->field == NO_FIELD) continue;
        void *f = field_of(c, o);
        switch (o->kind) {
        case OPT_INT: *(int *)f = (int)o->def; break;
        case OPT_LONG: *(long *)f = (long)o->def; break;
        case OPT_SEED: *(uint64_t *)f = (uint64_t)o->def; break;
        case OPT_DOUBLE: *(double *)f = o->def; break;
        case OPT_FLOAT: *(float *)f = (float)o->def; break;
        case OPT_ENUM: *(int *)f = (int)o->def; break;
        case OPT_PATH: snprintf(f, PATH, "%s", o->def_path ? o->def_path : ""); break;
        case OPT_CLEAR:
            if (o->def != 0) *(bool *)f = true; /* a flag that turns a bool off */
            break;
        default: break; /* OPT_SET: false */
        }
    }
    /* The environment's data folder; a path too long is reported by
     * config_finish. */
    const char *env = getenv("TENET_DATA");
    if (env && *env) {
        if (strlen(env) < sizeof c->data)
            snprintf(c->data, sizeof c->data, "%s", env);
        else
            c->data[0] = 0;
    }
    const char *home = getenv("HOME");
    snprintf(c->cache, sizeof c->cache, "%s/.cache/tenet", home ? home : "/tmp");
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
    if (!errno && end != s && (*end == 'e' || *end == 'E')) {
        /* config_args writes 1000000 as 1e+06: read it back exactly. */
        double d = strtod(s, &end);
        if (!*end && fabs(d) <= 1e15 && d == floor(d)) x = (long)d;
        else end = (char *)s;
    }
    if (errno || end == s || *end) return fail("%s: '%s' is not an integer", opt, s);
    if (x < lo || x > hi) return fail("%s: %s is outside [%ld, %ld]", opt, s, lo, hi);
    *out = x;
    return 0;
}

/* Store value v of row o into c; 0 or -1 (message printed). */
static int store(run_config *c, const option_row *o, const char *v)
{
    void *f = field_of(c, o);
    double d = 0;
    long l = 0;
    int e = 0;
    switch (o->kind) {
    case OPT_INT:
    case OPT_LONG:
    case OPT_SEED:
        if (to_int(o->name, v, (long)o->lo, (long)o->hi, &l)) return -1;
        if (o->kind == OPT_INT) *(int *)f = (int)l;
        else if (o->kind == OPT_LONG) *(long *)f = l;
        else *(uint64_t *)f = (uint64_t)l;
        return 0;
    case OPT_DOUBLE:
    case OPT_FLOAT:
        if (to_double(o->name, v, o->lo, o->hi, &d)) return -1;
        if (o->kind == OPT_DOUBLE) *(double *)f = d;
        else *(float *)f = (float)d;
        return 0;
    case OPT_ENUM:
        if (o->lib ? o->lib->parse(v, &e) != TN_OK && fail("%s: %s", o->name, tn_error_message())
                   : parse_named(o->names, o->name, v, &e) != 0)
            return -1;
        *(int *)f = e;
        return 0;
    case OPT_PATH:
        if (strlen(v) >= PATH) return fail("%s: path longer than %zu characters", o->name, PATH - 1);
        snprintf(f, PATH, "%s", v);
        return 0;
    case OPT_SET: *(bool *)f = true; return 0;
    case OPT_CLEAR:
        if (o->def != 0) *(bool *)f = false;
        else *(char *)f = 0; /* a path */
        return 0;
    default: return 0;
    }
}

/* Option names match up to '='. */
static bool is(const char *arg, const char *name)
{
    size_t n = strlen(name);
    return strncmp(arg, name, n) == 0 && (arg[n] == 0 || arg[n] == '=');
}

int config_parse_option(run_config *c, int argc, char **argv, int *i)
{
    const char *a = argv[*i];
    for (const option_row *o = OPTIONS; o < OPTIONS + N_OPTIONS; o++) {
        if (o->kind == OPT_HEADING || !is(a, o->name)) continue;
        const char *v = NULL;
        if (o->meta && value_of(argc, argv, i, &v)) return -1;
        if (!o->meta && strchr(a, '=')) return fail("%s takes no value", o->name);
        if (o->kind == OPT_SPECIAL) return o->parse(c, o->name, v) ? -1 : 1;
        if (store(c, o, v) || (o->parse && o->parse(c, o->name, v))) return -1;
        return 1;
    }
    return 0;
}

void config_print_help(FILE *out)
{
    enum { COLUMN = 25 };
    for (const option_row *o = OPTIONS; o < OPTIONS + N_OPTIONS; o++) {
        if (o->kind == OPT_HEADING) {
            fprintf(out, "%s\n", o->name);
            continue;
        }
        char head[64];
        snprintf(head, sizeof head, "  %s%s%s", o->name, o->meta ? " " : "", o->meta ? o->meta : "");
        if (!o->help[0]) { /* described with the row before */
            fprintf(out, "%s\n", head);
            continue;
        }
        fprintf(out, "%-*s", COLUMN - 1, head);
        if (strlen(head) >= COLUMN - 1) fprintf(out, "\n%*s", COLUMN - 1, "");
        for (const char *h = o->help; *h;) {
            size_t n = strcspn(h, "\n");
            fprintf(out, " %.*s", (int)n, h);
            h += n;
            if (*h) fprintf(out, "\n%*s", COLUMN - 1, ""), h++;
        }
        if (o->help_default) {
            if (o->kind == OPT_PATH) fprintf(out, " (default %s)", o->def_path);
            else fprintf(out, " (default %g)", o->def);
        }
        fputc('\n', out);
    }
}

int config_finish(run_config *c)
{
    if (!c->data[0])
        return fail("no data folder: --data is empty, or TENET_DATA is longer than %zu characters",
                    sizeof c->data - 1);
    if (c->method != METHOD_CUSTOM) {
        c->optimizer = METHODS[c->method].optimizer;
        c->reg = METHODS[c->method].reg;
    }
    unsigned flags = tn_optim_kind_flags(c->optimizer);
    bool sgd_like = (flags & TN_OPTIM_USES_MOMENTUM) && c->optimizer != TN_OPTIM_RMSPROP;
    bool adam_family = flags & TN_OPTIM_USES_BETAS;
    /* Lion and LARS start from their own default lr (1e-4, 1), not 1e-3 or 0.1. */
    if (c->lr < 0 && c->method == METHOD_CUSTOM &&
        (c->optimizer == TN_OPTIM_LION || c->optimizer == TN_OPTIM_LARS))
        c->lr = tn_optim_defaults(c->optimizer).lr;
    if (c->lr < 0) c->lr = c->method == METHOD_CUSTOM ? (sgd_like ? 0.1 : 1e-3) : METHODS[c->method].lr;
    if (c->wd < 0) c->wd = c->method == METHOD_CUSTOM ? 0.0 : METHODS[c->method].wd;
    if (!isnan(c->momentum) && !(flags & TN_OPTIM_USES_MOMENTUM))
        return fail("--momentum applies to %s, which has none (the Adam family has --beta1)",
                    tn_optim_kind_name(c->optimizer));
    if ((!isnan(c->beta1) || !isnan(c->beta2)) && !adam_family)
        return fail("--beta1/--beta2 apply to the Adam family, not %s", tn_optim_kind_name(c->optimizer));
    if (sgd_like && isnan(c->momentum)) c->momentum = 0.9; /* the recipe */
    if (c->nesterov && (!(flags & TN_OPTIM_USES_NESTEROV) || !(c->momentum > 0)))
        return fail("--nesterov needs --optimizer sgd (or an SGD method) with --momentum > 0");
    if (c->schedule == TN_SCHED_ONE_CYCLE && !adam_family && !(c->momentum > 0))
        return fail("--schedule onecycle cycles the momentum: it needs an optimizer with one "
                    "(sgd or rmsprop with --momentum > 0, or the Adam family)");
    if (c->shortcut == TN_RESNET_SHORTCUT_A && c->width % 4)
        return fail("--width %d: shortcut A needs a multiple of 4", c->width);
    if (c->method == METHOD_ADAMC) c->corrected = true;
    if (c->cautious && c->reg != TN_REG_DECOUPLED && c->reg != TN_REG_DECOUPLED_LR &&
        c->reg != TN_REG_CORRECTED)
        return fail("--cautious needs a decoupled mode (decoupled, decoupled-lr, corrected)");
    if (c->wd_tau > 0 && c->wd_norm > 0) return fail("--wd-tau and --wd-norm both set lambda");
    if (c->patience > 0 && !(c->val_fraction > 0))
        return fail("--patience needs a validation split (--val F)");
    return 0;
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


/* A number's row as a double (exact for every int the table allows). */
static double number_of(const run_config *c, const option_row *o)
{
    const void *f = field_of(c, o);
    switch (o->kind) {
    case OPT_INT: return *(const int *)f;
    case OPT_LONG: return (double)*(const long *)f;
    case OPT_SEED: return (double)*(const uint64_t *)f;
    case OPT_FLOAT: return *(const float *)f;
    default: return *(const double *)f;
    }
}

static bool is_number(const option_row *o)
{
    return o->kind == OPT_INT || o->kind == OPT_LONG || o->kind == OPT_SEED ||
           o->kind == OPT_DOUBLE || o->kind == OPT_FLOAT;
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

/* Whether a row's option is in effect: a flag given, a path not "", a
 * number not NaN (REC_IF_GIVEN) or > 0 (REC_IF_POSITIVE). */
static bool in_effect(const run_config *c, const option_row *o)
{
    const void *f = field_of(c, o);
    switch (o->kind) {
    case OPT_SET: return *(const bool *)f;
    case OPT_CLEAR: return !*(const bool *)f;
    case OPT_PATH: return *(const char *)f != 0;
    default: return o->record == REC_IF_POSITIVE ? number_of(c, o) > 0 : !isnan(number_of(c, o));
    }
}

static void record(const run_config *c, const option_row *o, arg_list *a)
{
    if (o->record == REC_NEVER) return;
    if (o->record == REC_CUSTOM) {
        o->record_fn(c, a);
        return;
    }
    if (o->record != REC_ALWAYS && !in_effect(c, o)) return;
    if (is_number(o)) {
        opt_num(a, o->name, number_of(c, o));
        return;
    }
    arg_push(a, "%s", o->name);
    if (o->kind == OPT_ENUM) arg_push(a, "%s", enum_name(o, *(const int *)field_of(c, o)));
    else if (o->kind == OPT_PATH) arg_push(a, "%s", (const char *)field_of(c, o));
}

void config_args(const run_config *c, arg_list *a)
{
    for (const option_row *o = OPTIONS; o < OPTIONS + N_OPTIONS; o++) record(c, o, a);
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
    size_t n = (size_t)snprintf(buf, size, "resnet%d %s/%s %s", c->depth,
                                name_of(VARIANTS, (int)c->variant),
                                name_of(SHORTCUTS, (int)c->shortcut), method_name(c->method));
    for (const option_row *o = OPTIONS; o < OPTIONS + N_OPTIONS && n < size; o++) {
        if (!o->describe || (o->record == REC_IF_POSITIVE && !in_effect(c, o))) continue;
        const char *key = o->describe;
        if (o->kind == OPT_ENUM)
            n += (size_t)snprintf(buf + n, size - n, " %s=%s", key,
                                  enum_name(o, *(const int *)field_of(c, o)));
        else if (o->kind == OPT_DOUBLE || o->kind == OPT_FLOAT)
            n += (size_t)snprintf(buf + n, size - n, " %s=%g", key, number_of(c, o));
        else
            n += (size_t)snprintf(buf + n, size - n, " %s=%.0f", key, number_of(c, o));
    }
}
