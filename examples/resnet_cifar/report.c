/* examples/resnet_cifar/report.c - results.md tables and gnuplot plots. */
#include "report.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Run gnuplot on a script file; a missing gnuplot is a warning, not an error. */
int run_gnuplot(const char *script_path)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "gnuplot '%s' 2>&1", script_path);
    if (system("command -v gnuplot >/dev/null 2>&1") != 0) {
        fprintf(stderr, "resnet_cifar: gnuplot not found: plots skipped (scripts/setup.sh installs "
                        "gnuplot-nox); the script is %s\n",
                script_path);
        return 0;
    }
    int st = system(cmd);
    if (st != 0) {
        fprintf(stderr, "resnet_cifar: gnuplot failed on %s\n", script_path);
        return -1;
    }
    return 0;
}

int write_compare_report(const char *out, const compare_entry *e, int n, const char *title)
{
    char path[1100], gp[1100];

    /* results.md */
    snprintf(path, sizeof path, "%s/results.md", out);
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "resnet_cifar: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    fprintf(f, "# %s\n\n", title);
    fprintf(f, "| configuration | optimizer | regularisation | lr | λ | best test acc | final test "
               "acc | final train loss | epochs | time (s) | img/s |\n");
    fprintf(f, "|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < n; i++)
        fprintf(f, "| %s | %s | %s | %g | %g | %.4f | %.4f | %.4f | %d | %.0f | %.0f |\n",
                e[i].name, e[i].optimizer, e[i].reg, e[i].lr, e[i].wd, e[i].r.best_test_acc,
                e[i].r.test_acc, e[i].r.train_loss, e[i].r.epochs, e[i].r.seconds,
                e[i].r.images_per_s);
    fprintf(f, "\n![test error](test_error.png) ![train loss](train_loss.png)\n");
    fclose(f);

    /* plots: one curve per configuration from its metrics.csv */
    snprintf(gp, sizeof gp, "%s/plots.gp", out);
    f = fopen(gp, "w");
    if (!f) {
        fprintf(stderr, "resnet_cifar: cannot write %s: %s\n", gp, strerror(errno));
        return -1;
    }
    fprintf(f, "set terminal pngcairo size 800,500 noenhanced font ',10'\n"
               "set datafile separator ','\nset key top right\nset grid\n"
               "set xlabel 'epoch'\n");
    const char *plots[][3] = {{"test_error.png", "test error (%)", "(100*(1-$8))"},
                              {"train_loss.png", "train loss (data)", "3"}};
    for (int p = 0; p < 2; p++) {
        fprintf(f, "set output '%s/%s'\nset ylabel '%s'\nset title '%s'\nplot ", out, plots[p][0],
                plots[p][1], title);
        for (int i = 0; i < n; i++)
            fprintf(f, "%s'%s/metrics.csv' every ::1 using 1:%s with linespoints title '%s'",
                    i ? ", " : "", e[i].dir, plots[p][2], e[i].name);
        fputc('\n', f);
    }
    fclose(f);
    return run_gnuplot(gp);
}

int write_heatmap(const char *out, const char *png, const sweep_grid *const *grids, int n_grids,
                  const char *title)
{
    char gp[1100];
    snprintf(gp, sizeof gp, "%s/%s.gp", out, png);
    FILE *f = fopen(gp, "w");
    if (!f) {
        fprintf(stderr, "resnet_cifar: cannot write %s: %s\n", gp, strerror(errno));
        return -1;
    }
    fprintf(f,
            "set terminal pngcairo size %d,480 noenhanced font ',10'\n"
            "set output '%s/%s'\nset datafile separator ','\n"
            "set multiplot layout 1,%d title '%s'\n"
            "set xlabel 'learning rate'\nset ylabel 'weight decay'\n"
            "set palette rgbformulae 33,13,10\nset cblabel 'test error (%%)'\n"
            "set view map\nunset key\n",
            460 * n_grids, out, png, n_grids, title);
    /* One colour scale for every panel, so that they compare. */
    double lo = INFINITY, hi = -INFINITY;
    for (int k = 0; k < n_grids; k++)
        for (int i = 0; i < grids[k]->n_lr * grids[k]->n_wd; i++) {
            const double e = 100 * (1 - grids[k]->acc[i]);
            if (isfinite(e)) lo = e < lo ? e : lo, hi = e > hi ? e : hi;
        }
    if (lo < hi) fprintf(f, "set cbrange [%.2f:%.2f]\n", lo, hi);
    for (int k = 0; k < n_grids; k++) {
        const sweep_grid *s = grids[k];
        /* Cells on an index grid, labelled with their log-spaced values. */
        fprintf(f, "set title '%s'\nset xrange [-0.5:%g]\nset yrange [-0.5:%g]\n", s->name,
                s->n_lr - 0.5, s->n_wd - 0.5);
        fprintf(f, "set xtics (");
        for (int i = 0; i < s->n_lr; i++) fprintf(f, "%s'%.2g' %d", i ? ", " : "", s->lr[i], i);
        fprintf(f, ")\nset ytics (");
        for (int j = 0; j < s->n_wd; j++) fprintf(f, "%s'%.2g' %d", j ? ", " : "", s->wd[j], j);
        fprintf(f, ")\nplot '-' using 1:2:3 with image, '-' using 1:2:(sprintf('%%.1f', $3)) "
                   "with labels font ',9'\n");
        for (int pass = 0; pass < 2; pass++) {
            for (int i = 0; i < s->n_lr; i++)
                for (int j = 0; j < s->n_wd; j++)
                    fprintf(f, "%d,%d,%.2f\n", i, j, 100 * (1 - s->acc[i * s->n_wd + j]));
            fprintf(f, "e\n");
        }
    }
    fprintf(f, "unset multiplot\n");
    fclose(f);
    return run_gnuplot(gp);
}

int write_layer_plot(const char *out)
{
    char gp[1100];
    snprintf(gp, sizeof gp, "%s/layers.gp", out);
    FILE *f = fopen(gp, "w");
    if (!f) {
        fprintf(stderr, "resnet_cifar: cannot write %s: %s\n", gp, strerror(errno));
        return -1;
    }
    /* One line per layer: gnuplot's pseudo-column -2 is the data block,
     * so the rows are read grouped by layer name. */
    fprintf(f,
            "set terminal pngcairo size 1200,480 noenhanced font ',10'\n"
            "set output '%s/layers.png'\nset datafile separator ','\nset key off\n"
            "set multiplot layout 1,2 title 'per-layer weight norm and rotation per epoch'\n"
            "set xlabel 'epoch'\nset ylabel '||w||'\nset logscale y\n"
            "plot for [L in system(\"tail -n +2 '%s/layers.csv' | cut -d, -f2 | sort -u\")] "
            "'%s/layers.csv' using 1:(strcol(2) eq L ? $3 : NaN) with lines title L\n"
            "unset logscale y\nset ylabel 'angle between epochs (rad)'\n"
            "plot for [L in system(\"tail -n +2 '%s/layers.csv' | cut -d, -f2 | sort -u\")] "
            "'%s/layers.csv' using 1:(strcol(2) eq L ? $4 : NaN) with lines title L\n"
            "unset multiplot\n",
            out, out, out, out, out);
    fclose(f);
    return run_gnuplot(gp);
}
