/* examples/resnet_cifar/experiments.h - compare and sweep. */
#ifndef RESNET_CIFAR_EXPERIMENTS_H
#define RESNET_CIFAR_EXPERIMENTS_H

#include "run.h"

typedef struct experiment_options {
    bool full;                   /* the full data set and 15 epochs */
    int n_methods;
    method methods[METHOD_COUNT];
    double lr_sgd, lr_adam;      /* > 0: override the methods' lr */
    double wd[METHOD_COUNT];     /* >= 0: override a method's λ */
    int jobs;                    /* runs at once (> 1: child processes); 0: the default */
    int ranks_per_run;           /* under mpirun: ranks per run (0: 1) */
    int n_seeds;                 /* seeds seed, seed+1, ...; 0: the command's default */
    int n_lr, n_wd;              /* sweep: grid size */
    double lr_lo, lr_hi, wd_lo, wd_hi; /* sweep: ranges (0: defaults) */
    bool wd_axis_tau;            /* sweep: the decay axis as the timescale tau */
    double tau_lo, tau_hi;       /* sweep: tau range in run lengths (0: defaults) */
    bool sharpness;              /* compare: measure each run's final epsilon-sharpness */
    bool set_subset, set_test_subset, set_epochs, set_model, set_batch; /* on the command line */
} experiment_options;

/* The budget of the quick (default) version of a command; each part
 * applies unless given on the command line.  depth 0: the run options'
 * model; batch 0: theirs; n_methods 0: the command's full list. */
typedef struct quick_budget {
    int subset, test_subset, epochs, batch;
    int depth, width;
    tn_resnet_variant variant;
    int seeds;
    int n_methods;
    method methods[METHOD_COUNT];
} quick_budget;

void experiment_defaults(experiment_options *x);
/* Experiment options first, then run options; as config_parse_option. */
int experiment_parse_option(experiment_options *x, run_config *c, int argc, char **argv, int *i);

/* The help of the options added for repeated runs and the timescale axis
 * (cmd "compare" or "sweep"). */
void experiment_print_help(FILE *out, const char *cmd);

int run_compare(run_config *base, experiment_options *x);
int run_sweep(run_config *base, experiment_options *x);

#endif
