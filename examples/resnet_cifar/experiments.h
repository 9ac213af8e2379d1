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
    int jobs;                    /* sweep: parallel processes */
    int n_lr, n_wd;              /* sweep: grid size */
    double lr_lo, lr_hi, wd_lo, wd_hi; /* sweep: ranges (0: defaults) */
    bool set_subset, set_test_subset, set_epochs; /* given on the command line */
} experiment_options;

typedef struct quick_budget {
    int subset, test_subset, epochs;
} quick_budget;

void experiment_defaults(experiment_options *x);
/* Experiment options first, then run options; as config_parse_option. */
int experiment_parse_option(experiment_options *x, run_config *c, int argc, char **argv, int *i);

int run_compare(run_config *base, experiment_options *x);
int run_sweep(run_config *base, experiment_options *x);

#endif
