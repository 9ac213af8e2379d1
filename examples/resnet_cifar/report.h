/* examples/resnet_cifar/report.h - results.md tables and gnuplot plots. */
#ifndef RESNET_CIFAR_REPORT_H
#define RESNET_CIFAR_REPORT_H

#include "run.h"
#include "stats.h"

#include <math.h>

enum { MAX_SEEDS = 32 };

/* One configuration of a comparison, run once per seed. */
typedef struct compare_entry {
    char name[64];
    const char *optimizer, *reg;
    double lr, wd;
    int n_seeds;
    const char *dir[MAX_SEEDS]; /* its run folder per seed (metrics.csv) */
    run_result r[MAX_SEEDS];
    bool has_sharpness;         /* compare --sharpness */
    double sharpness[MAX_SEEDS];
} compare_entry;

/* The tables of a comparison: per configuration the mean +- sd over seeds,
 * per L2 method beside its decoupled twin the paired difference with its
 * 95% Student-t interval, and a sentence per pair saying whether the
 * interval excludes 0.  Markdown for results.md and the terminal alike. */
void print_compare_tables(FILE *f, const compare_entry *e, int n);

/* "+1.23 [+0.45, +2.01]": a mean and its 95% interval, scaled, each number
 * in fmt; "(no interval)" after the mean when there is none. */
void put_interval(FILE *f, stats_interval s, double scale, const char *fmt);

/* results.md, plus test_error.png and train_loss.png (per configuration the
 * mean over seeds with a +-1 sd band, curves in out/curves/). */
int write_compare_report(const char *out, const compare_entry *e, int n, const char *title);

enum { GRID_MAX = 16 };

/* A learning-rate x weight-decay grid of final test accuracies, mean over
 * seeds; the weight-decay axis is lambda or the timescale tau. */
typedef struct sweep_grid {
    const char *name;
    int n_lr, n_wd;
    double lr[GRID_MAX];
    double axis[GRID_MAX];      /* the y axis: lambda, or tau in run lengths */
    const char *axis_label;     /* "weight decay" or "tau (run lengths)" */
    double wd[GRID_MAX * GRID_MAX];   /* lambda of cell i * n_wd + j */
    double acc[GRID_MAX * GRID_MAX];  /* mean final test accuracy of the cell */
    /* The best lambda per lr column, as a fractional index on the axis
     * (NAN: none), and the fitted slope d log lambda* / d log lr. */
    double best_pos[GRID_MAX];
    char slope_text[160];
} sweep_grid;

/* Heat maps of test error, side by side, into out/png; the best lambda of
 * each column drawn over them. */
int write_heatmap(const char *out, const char *png, const sweep_grid *const *grids, int n_grids,
                  const char *title);

int run_gnuplot(const char *script_path);
/* layers.png from <out>/layers.csv (epoch,layer,norm,angle): each layer's
 * weight norm and its angle per epoch, via <out>/layers.gp. */
int write_layer_plot(const char *out);

#endif
