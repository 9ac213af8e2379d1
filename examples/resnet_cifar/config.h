/* examples/resnet_cifar/config.h - one training run's configuration: the
 * model, the optimizer and its regularisation, the schedule, the data and
 * its augmentation; parsed from --options shared by every subcommand. */
#ifndef RESNET_CIFAR_CONFIG_H
#define RESNET_CIFAR_CONFIG_H

#include "tenet.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* The regularisation styles the program compares, as presets over the
 * optimizer kind and tn_reg mode. */
typedef enum method {
    METHOD_CUSTOM,   /* --optimizer and --reg given separately */
    METHOD_SGD_L2,   /* SGD + momentum, (λ/2)·Σw² in the loss */
    METHOD_SGDW,     /* SGD + momentum, decay η_t·λ·w (the AdamW paper's SGDW) */
    METHOD_ADAM_L2,  /* Adam, (λ/2)·Σw² in the loss */
    METHOD_ADAMW,    /* Adam, decay η_t·λ·w (the paper's AdamW) */
    METHOD_ADAMW_TORCH, /* Adam, decay lr_t·λ·w (torch.optim.AdamW) */
    METHOD_ADAMPROX, /* Adam, proximal L2 w ← (w − step)/(1 + η_t·λ) */
    /* The later optimizers, each in L2 (or proximal) and decoupled form: */
    METHOD_LION_L2,      /* Lion, (λ/2)·Σw² in the loss */
    METHOD_LION_W,       /* Lion, decay lr_t·λ·w (the Lion paper, Optax, timm) */
    METHOD_LAMB_L2,      /* LAMB, (λ/2)·Σw² in the loss */
    METHOD_LAMBW,        /* LAMB, λ·w in the update inside the trust ratio (paper, Optax) */
    METHOD_ADAN_PROX,    /* Adan, proximal L2 (the reference code's default decay) */
    METHOD_ADANW,        /* Adan, decay lr_t·λ·w (the reference code's no_prox) */
    METHOD_ADABELIEF_L2, /* AdaBelief, (λ/2)·Σw² in the loss */
    METHOD_ADABELIEFW,   /* AdaBelief, decay lr_t·λ·w (adabelief-pytorch's weight_decouple) */
    METHOD_SF_SGD,   /* schedule-free SGD, coupled decay λ·y (the package's weight_decay) */
    METHOD_SF_ADAMW, /* schedule-free AdamW, decay lr_t·λ·y (the package's weight_decay) */
    METHOD_ADAMC,    /* Adam, decay lr_t·λ·w; corrected lr_t²/α·λ·w on weights before a BN */
    METHOD_COUNT
} method;

typedef struct run_config {
    /* model */
    int depth;                 /* 6n+2 */
    tn_resnet_variant variant;
    tn_resnet_shortcut shortcut;
    int width;
    bool zero_init_residual;
    float dropout;             /* before the classifier */

    /* optimizer and regularisation */
    method method;
    tn_optim_kind optimizer;
    tn_reg reg;
    double lr;
    double wd;                 /* λ; < 0: the method's default */
    double wd_norm;            /* > 0: λ = wd_norm·sqrt(b/(B·T)) instead */
    double momentum, beta1, beta2, eps; /* NAN: the optimizer's default (SGD: 0.9) */
    bool nesterov;
    double clip;               /* > 0: clip the global grad norm */
    bool cautious;             /* cautious decay (decoupled modes) */
    bool corrected;            /* corrected decay on the weights a batch norm follows */
    double wd_tau;             /* > 0: λ from this decay timescale in epochs */
    int accumulate;            /* > 1: K micro-batches of batch/K a step (0: one) */
    float weight_noise;        /* > 0: Gaussian weight noise, std relative to each tensor's RMS */

    /* schedule (epochs are converted to steps at run time) */
    tn_sched_kind schedule;
    double warmup_epochs;
    double t0_epochs;          /* warm restarts */
    int t_mult;
    double step_epochs, gamma; /* step / multistep / exponential */
    int n_milestones;
    double milestones[TN_SCHED_MAX_MILESTONES]; /* in epochs */
    double eta_min;            /* fraction of lr */

    /* data */
    char data[1024];           /* image folder root (train/, test/) or CIFAR binary folder */
    char cache[1024];          /* decoded-images cache folder; "" = none */
    int subset;                /* > 0: first n training images per class */
    int test_subset;           /* > 0: first n test images per class */
    double val_fraction;       /* > 0: held out of the training set for early stopping */
    int patience;              /* > 0: stop after this many epochs without a better val acc */
    int batch;
    bool augment;              /* random crop (pad 4) + horizontal flip */
    int cutout;
    float mixup, cutmix, label_smoothing, noise;

    /* run */
    int epochs;
    int threads;
    uint64_t seed;
    char out[1024];            /* run folder */
    bool resume;
    char init[1024];           /* initial weights (a checkpoint), or "" */
    long stop_after_steps;     /* > 0: behave as if interrupted after this many steps */
    double checkpoint_minutes; /* > 0: also checkpoint mid-epoch after this long */
    long checkpoint_steps;     /* > 0: also checkpoint every this many steps */
    bool allow_nonfinite;      /* train on through NaN/inf instead of stopping */
    bool sync_bn;              /* under mpirun: batch norm statistics over every rank */
    bool quiet;
    bool method_given;         /* --method, --optimizer or --reg was on the command line */
} run_config;

/* The default data folder, relative to the working directory; the
 * environment variable TENET_DATA overrides it, --data both. */
#define DEFAULT_DATA "../shared/datasets/cifar10-jpg"

/* The defaults of `train` (the recipe of He et al. with cosine annealing). */
void config_defaults(run_config *c);

/* Parse one option at argv[*i] (and its value); returns 1 if consumed,
 * 0 if not a run option, -1 on a bad value (message printed). */
int config_parse_option(run_config *c, int argc, char **argv, int *i);

/* Check combinations, fill method presets and default λ; -1 on error. */
int config_finish(run_config *c);

/* The option help of run options, for --help. */
void config_print_help(FILE *out);

/* A one-line description ("resnet20 bn/A adamw lr=0.001 wd=..."). */
void config_describe(const run_config *c, char *buf, size_t size);

/* The options that determine a run's trajectory, as command-line arguments
 * in a fixed order (numbers exact): to start the same run in another
 * process, and, joined, as the fingerprint a resumed run must match. */
typedef struct arg_list {
    int argc;
    char *argv[96];
    char store[8192];
    size_t used;
    bool overflow;
} arg_list;
void arg_push(arg_list *a, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
void config_args(const run_config *c, arg_list *a);
/* config_args joined by spaces; -1 if it does not fit. */
int config_fingerprint(const run_config *c, char *buf, size_t size);

const char *method_name(method m);
/* The default λ of a method (documented in the README). */
double method_default_wd(method m);
/* The default base learning rate of a method. */
double method_default_lr(method m);
int method_parse(const char *s, method *m);

/* Print "resnet_cifar: <message>" to stderr; returns -1. */
int fail(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

#endif
