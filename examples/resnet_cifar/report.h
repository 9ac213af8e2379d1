/* examples/resnet_cifar/report.h - results.md tables and gnuplot plots. */
#ifndef RESNET_CIFAR_REPORT_H
#define RESNET_CIFAR_REPORT_H

#include "run.h"

#include <math.h>

/* One finished configuration of a comparison. */
typedef struct compare_entry {
    char name[64];
    char dir[1100];        /* its run folder (metrics.csv) */
    const char *optimizer, *reg;
    double lr, wd;
    run_result r;
} compare_entry;

/* results.md plus test_error.png and train_loss.png (one curve per entry). */
int write_compare_report(const char *out, const compare_entry *e, int n, const char *title);

/* A learning-rate x weight-decay grid of final test accuracies. */
typedef struct sweep_grid {
    const char *name;
    int n_lr, n_wd;
    double lr[16], wd[16];
    double acc[256];       /* acc[i * n_wd + j] for lr[i], wd[j] */
} sweep_grid;

/* Heat maps of test error, side by side, into out/png. */
int write_heatmap(const char *out, const char *png, const sweep_grid *const *grids, int n_grids,
                  const char *title);

int run_gnuplot(const char *script_path);
/* layers.png from <out>/layers.csv (epoch,layer,norm,angle): each layer's
 * weight norm and its angle per epoch, via <out>/layers.gp. */
int write_layer_plot(const char *out);

#endif
