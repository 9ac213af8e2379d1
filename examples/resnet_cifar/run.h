/* examples/resnet_cifar/run.h - loading the data once, training one run
 * (resumable), and evaluating a model. */
#ifndef RESNET_CIFAR_RUN_H
#define RESNET_CIFAR_RUN_H

#include "config.h"

/* The data of a process, loaded once and shared by every run in it. */
typedef struct run_data {
    tn_dataset *train, *val, *test; /* val NULL without --val */
    tn_norm norm;                   /* statistics of the full training set */
    int n_classes;
} run_data;

int data_load(const run_config *c, run_data *d);
void data_free(run_data *d);

typedef struct run_result {
    double test_acc, test_loss;   /* final (or best-val, with early stopping) */
    double best_test_acc;         /* best over the epochs */
    double train_loss;            /* data loss of the last epoch */
    int epochs;                   /* epochs trained */
    double seconds;               /* training + evaluation wall time */
    double images_per_s;          /* training images per second */
    double data_wait_fraction;    /* share of training time spent waiting for data */
} run_result;

enum { RUN_DONE = 0, RUN_INTERRUPTED = 1, RUN_DIVERGED = 2, RUN_ERROR = -1 };

/* Train (or resume) the run of c in c->out: metrics.csv, checkpoint.safetensors
 * after every epoch and every --checkpoint-every minutes / --checkpoint-steps
 * steps, result.txt when finished.  Returns RUN_DONE, RUN_INTERRUPTED
 * (Ctrl-C or --stop-after-steps: a checkpoint was saved), RUN_DIVERGED (a
 * NaN or infinite loss, gradient norm or weight without --allow-nonfinite:
 * message printed, the checkpoint on disk is the last finite state, no
 * result.txt) or RUN_ERROR (message printed). */
int train_run(const run_config *c, const run_data *d, run_result *r);

/* Read result.txt of a finished run: 0 if present, complete and made with
 * these options (config_fingerprint; NULL: any), 1 (message printed) if
 * made with others, -1 if absent or incomplete. */
int result_read(const char *out_dir, const char *options, run_result *r);
void result_print(FILE *f, const run_result *r);

/* Install the Ctrl-C handler (a flag checked after every step). */
void install_interrupt_handler(void);

/* Evaluate in eval mode without gradients: mean loss, accuracy, and (if not
 * NULL) the confusion matrix confusion[true * k + predicted]. */
int evaluate(const tn_resnet *net, tn_graph *g, const tn_dataset *ds, const tn_norm *norm,
             int batch, double *loss, double *acc, long *confusion);

/* The model of a configuration, into ps (initialised from seed, or loaded
 * from c->init); its dropout draws from *dropout_rng (may be NULL without). */
int model_build(const run_config *c, int n_classes, tn_params *ps, tn_resnet **net,
                tn_rng *dropout_rng);

/* mkdir -p; 0 or -1 (message printed). */
int make_dirs(const char *path);

#endif
