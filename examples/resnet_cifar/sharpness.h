/* examples/resnet_cifar/sharpness.h - the `sharpness` command, and the
 * checkpoint options it shares with `eval`. */
#ifndef RESNET_CIFAR_SHARPNESS_H
#define RESNET_CIFAR_SHARPNESS_H

#include "run.h"

/* --checkpoint FILE (or --checkpoint=FILE) at argv[*i]: 1 consumed (*ckpt
 * set), 0 not this option, -1 missing value (message printed). */
int checkpoint_option(int argc, char **argv, int *i, const char **ckpt);

/* The model options of a training checkpoint (its resnet.* metadata) into
 * c, and c->init = ckpt; a checkpoint without them keeps c's.  -1 if the
 * file cannot be opened (message printed). */
int checkpoint_model(run_config *c, const char *ckpt);

/* The data and the model of a checkpoint command, built from c (after
 * checkpoint_model).  0, or -1 with a message (close it either way). */
typedef struct ckpt_model {
    run_data d;
    tn_params *ps;
    tn_graph *g;
    tn_resnet *net;
    tn_rng dropout_rng; /* unused in eval mode, but a model with dropout needs one */
} ckpt_model;
int ckpt_model_open(const run_config *c, ckpt_model *m);
void ckpt_model_close(ckpt_model *m);

/* Keskar et al.'s measurement: the box's relative radius eps, projected
 * ascent steps, and the 1-D scan of points alphas in [-range, range]. */
typedef struct sharp_options {
    double eps;
    int steps, points;
    double range;
} sharp_options;
#define SHARP_DEFAULTS ((sharp_options){.eps = 1e-3, .steps = 10, .points = 41, .range = 1.0})

/* The epsilon-sharpness of checkpoint ckpt (c: its model, after
 * checkpoint_model, and the data: the first c->subset training images per
 * class) into *sharpness and out/sharpness.txt, and the loss along a random
 * direction (seed c->seed) into out/loss_direction.{csv,png}.  0, or -1
 * with a message. */
int sharpness_measure(const run_config *c, const char *ckpt, const sharp_options *o,
                      const char *out, double *sharpness);

/* The sharpness recorded in dir/sharpness.txt: 0, or -1 if there is none. */
int sharpness_read(const char *dir, double *sharpness);

/* resnet_cifar sharpness --checkpoint FILE [options]: exit status. */
int cmd_sharpness(int argc, char **argv);

#endif
