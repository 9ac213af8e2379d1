/* examples/resnet_cifar/report.c - results.md tables and gnuplot plots. */
#include "report.h"

#include "stats.h"

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

/* Open the gnuplot script out/<name>.gp for writing (its path in gp), or
 * NULL with a message. */
static FILE *open_script(const char *out, const char *name, char *gp, size_t size)
{
    snprintf(gp, size, "%s/%s.gp", out, name);
    FILE *f = fopen(gp, "w");
    if (!f) fail("cannot write %s: %s", gp, strerror(errno));
    return f;
}

/* The L2 (or proximal) method of each pair first, its decoupled twin second. */
static const char *const PAIRS[][2] = {
    {"sgd-l2", "sgdw"},         {"adam-l2", "adamw"},         {"adam-l2", "adamw-torch"},
    {"adam-l2", "adamprox"},    {"adam-l2", "adamc"},         {"lion-l2", "lion-w"},
    {"lamb-l2", "lambw"},       {"adan-prox", "adanw"},       {"adabelief-l2", "adabeliefw"},
    {"adam-l2", "sf-adamw"},    {"sgd-l2", "sf-sgd"}};

static int find_entry(const compare_entry *e, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(e[i].name, name) == 0) return i;
    return -1;
}

/* "0.4455 +- 0.0050" (or the value alone with one seed). */
static void put_mean_sd(FILE *f, const double *x, int n, const char *fmt)
{
    fprintf(f, fmt, stats_mean(x, n));
    if (n >= 2) {
        fprintf(f, " ± ");
        fprintf(f, fmt, stats_sd(x, n));
    }
}

void put_interval(FILE *f, stats_interval s, double scale, const char *fmt)
{
    fprintf(f, fmt, scale * s.mean);
    if (isfinite(s.half)) {
        fprintf(f, " [");
        fprintf(f, fmt, scale * (s.mean - s.half));
        fprintf(f, ", ");
        fprintf(f, fmt, scale * (s.mean + s.half));
        fprintf(f, "]");
    } else {
        fprintf(f, " (no interval)");
    }
}

void print_compare_tables(FILE *f, const compare_entry *e, int n)
{
    const bool sharp = n > 0 && e[0].has_sharpness;
    fprintf(f, "| configuration | optimizer | regularisation | lr | λ | seeds | final test acc | "
               "best test acc | final train loss |%s time per run (s) |\n"
               "|---|---|---|---|---|---|---|---|---|%s---|\n",
            sharp ? " ε-sharpness |" : "", sharp ? "---|" : "");
    for (int i = 0; i < n; i++) {
        double acc[MAX_SEEDS], best[MAX_SEEDS], loss[MAX_SEEDS], sec[MAX_SEEDS];
        const int k = e[i].n_seeds;
        for (int s = 0; s < k; s++) {
            acc[s] = e[i].r[s].test_acc;
            best[s] = e[i].r[s].best_test_acc;
            loss[s] = e[i].r[s].train_loss;
            sec[s] = e[i].r[s].seconds;
        }
        fprintf(f, "| %s | %s | %s | %g | %g | %d | ", e[i].name, e[i].optimizer, e[i].reg,
                e[i].lr, e[i].wd, k);
        put_mean_sd(f, acc, k, "%.4f");
        fprintf(f, " | ");
        put_mean_sd(f, best, k, "%.4f");
        fprintf(f, " | ");
        put_mean_sd(f, loss, k, "%.4f");
        if (sharp) {
            fprintf(f, " | ");
            put_mean_sd(f, e[i].sharpness, k, "%.3f");
        }
        fprintf(f, " | %.0f |\n", stats_mean(sec, k));
    }

    int n_pairs = 0;
    for (size_t p = 0; p < sizeof PAIRS / sizeof PAIRS[0]; p++)
        n_pairs += find_entry(e, n, PAIRS[p][0]) >= 0 && find_entry(e, n, PAIRS[p][1]) >= 0;
    if (!n_pairs) return;
    fprintf(f, "\nPaired differences, decoupled − L2, per seed (same initial weights and batch "
               "order), in points of accuracy and in train loss; mean over n seeds with its 95%% "
               "Student-t interval mean ± t(0.975, n−1)·sd/√n:\n\n"
               "| pair | seeds | final test acc (points) | per seed | final train loss |%s\n"
               "|---|---|---|---|---|%s\n",
            sharp ? " ε-sharpness |" : "", sharp ? "---|" : "");
    char words[sizeof PAIRS / sizeof PAIRS[0]][900]; /* one per pair at most */
    int n_words = 0;
    for (size_t p = 0; p < sizeof PAIRS / sizeof PAIRS[0]; p++) {
        int a = find_entry(e, n, PAIRS[p][0]), b = find_entry(e, n, PAIRS[p][1]);
        if (a < 0 || b < 0) continue;
        const int k = e[a].n_seeds < e[b].n_seeds ? e[a].n_seeds : e[b].n_seeds;
        double dacc[MAX_SEEDS], dloss[MAX_SEEDS], dsharp[MAX_SEEDS];
        for (int s = 0; s < k; s++) {
            dacc[s] = e[b].r[s].test_acc - e[a].r[s].test_acc;
            dloss[s] = e[b].r[s].train_loss - e[a].r[s].train_loss;
            dsharp[s] = e[b].sharpness[s] - e[a].sharpness[s];
        }
        stats_interval ia = stats_interval95(dacc, k), il = stats_interval95(dloss, k),
                       is = stats_interval95(dsharp, k);
        fprintf(f, "| %s − %s | %d | ", e[b].name, e[a].name, k);
        put_interval(f, ia, 100, "%+.2f");
        fprintf(f, " | ");
        for (int s = 0; s < k; s++) fprintf(f, "%s%+.2f", s ? ", " : "", 100 * dacc[s]);
        fprintf(f, " | ");
        put_interval(f, il, 1, "%+.4f");
        if (sharp) {
            fprintf(f, " | ");
            put_interval(f, is, 1, "%+.3f");
        }
        fprintf(f, " |\n");
        char *w = words[n_words++];
        if (!isfinite(ia.half))
            snprintf(w, 900, "- **%s vs %s**: %+.2f points with one seed, so no interval: run "
                     "with `--seeds 3` or more to tell it from seed-to-seed noise.",
                     e[b].name, e[a].name, 100 * ia.mean);
        else if (stats_excludes_zero(ia))
            snprintf(w, 900, "- **%s vs %s**: %s is %s by %.2f points (95%% interval %.2f to "
                     "%.2f over %d seeds); the interval excludes 0, so the difference exceeds "
                     "the seed-to-seed spread.",
                     e[b].name, e[a].name, e[b].name, ia.mean > 0 ? "ahead" : "behind",
                     fabs(100 * ia.mean), 100 * (ia.mean - ia.half), 100 * (ia.mean + ia.half), k);
        else
            snprintf(w, 900, "- **%s vs %s**: %+.2f points, 95%% interval %.2f to %.2f over %d "
                     "seeds; the interval includes 0, so this difference is within the "
                     "seed-to-seed spread.",
                     e[b].name, e[a].name, 100 * ia.mean, 100 * (ia.mean - ia.half),
                     100 * (ia.mean + ia.half), k);
        if (isfinite(il.half)) {
            const size_t used = strlen(w);
            snprintf(w + used, 900 - used, " Final train loss: %+.4f (95%% interval %+.4f to "
                     "%+.4f), %s.", il.mean, il.mean - il.half, il.mean + il.half,
                     stats_excludes_zero(il) ? "the interval excludes 0"
                                             : "the interval includes 0");
        }
        if (sharp && isfinite(is.half)) {
            const size_t used = strlen(w);
            snprintf(w + used, 900 - used, " ε-sharpness: %+.3f (95%% interval %+.3f to "
                     "%+.3f), %s.", is.mean, is.mean - is.half, is.mean + is.half,
                     stats_excludes_zero(is) ? "the interval excludes 0"
                                             : "the interval includes 0");
        }
    }
    fputc('\n', f);
    for (int i = 0; i < n_words; i++) fprintf(f, "%s\n", words[i]);
}

/* Per epoch, the mean and sd over seeds of test error (%) and train loss,
 * from each seed's metrics.csv, into path; the number of epochs or -1. */
static int write_mean_curve(const compare_entry *e, const char *path)
{
    enum { MAX_EPOCHS = 4096 };
    static double err[MAX_SEEDS][MAX_EPOCHS], loss[MAX_SEEDS][MAX_EPOCHS];
    int epochs = MAX_EPOCHS;
    for (int s = 0; s < e->n_seeds; s++) {
        char csv[1100];
        snprintf(csv, sizeof csv, "%s/metrics.csv", e->dir[s]);
        FILE *f = fopen(csv, "r");
        if (!f) return fail("cannot read %s: %s", csv, strerror(errno));
        char line[1024];
        int n = 0;
        while (fgets(line, sizeof line, f) && n < MAX_EPOCHS) {
            int ep;
            double lr, tl, pen, tacc, vacc, tel, tea;
            if (sscanf(line, "%d,%lf,%lf,%lf,%lf,%lf,%lf,%lf", &ep, &lr, &tl, &pen, &tacc, &vacc,
                       &tel, &tea) != 8)
                continue;
            err[s][n] = 100 * (1 - tea);
            loss[s][n++] = tl;
        }
        fclose(f);
        if (n < epochs) epochs = n;
    }
    FILE *f = fopen(path, "w");
    if (!f) return fail("cannot write %s: %s", path, strerror(errno));
    fprintf(f, "epoch,test_error_mean,test_error_sd,train_loss_mean,train_loss_sd\n");
    for (int t = 0; t < epochs; t++) {
        double a[MAX_SEEDS], b[MAX_SEEDS];
        for (int s = 0; s < e->n_seeds; s++) a[s] = err[s][t], b[s] = loss[s][t];
        const double sa = e->n_seeds > 1 ? stats_sd(a, e->n_seeds) : 0,
                     sb = e->n_seeds > 1 ? stats_sd(b, e->n_seeds) : 0;
        fprintf(f, "%d,%.4f,%.4f,%.6f,%.6f\n", t + 1, stats_mean(a, e->n_seeds), sa,
                stats_mean(b, e->n_seeds), sb);
    }
    if (fclose(f) != 0) return fail("cannot write %s", path);
    return epochs;
}

int write_compare_report(const char *out, const compare_entry *e, int n, const char *title)
{
    char path[1100], gp[1100];
    snprintf(path, sizeof path, "%s/curves", out);
    if (make_dirs(path)) return -1;
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/curves/%s.csv", out, e[i].name);
        if (write_mean_curve(&e[i], path) < 0) return -1;
    }

    /* results.md, written whole or not at all */
    char tmp[1100];
    snprintf(path, sizeof path, "%s/results.md", out);
    snprintf(tmp, sizeof tmp, "%s/results.md.tmp", out);
    FILE *f = fopen(tmp, "w");
    if (!f) return fail("cannot write %s: %s", tmp, strerror(errno));
    fprintf(f, "# %s\n\n", title);
    print_compare_tables(f, e, n);
    fprintf(f, "\nCurves: the mean over seeds, the band ± 1 sd "
               "(`curves/<configuration>.csv`).\n\n"
               "![test error](test_error.png) ![train loss](train_loss.png)\n");
    if (fclose(f) != 0 || rename(tmp, path) != 0) return fail("cannot write %s", path);

    if (!(f = open_script(out, "plots", gp, sizeof gp))) return -1;
    fprintf(f, "set terminal pngcairo size 800,500 noenhanced font ',10'\n"
               "set datafile separator ','\nset key top right\nset grid\n"
               "set xlabel 'epoch'\nset style fill transparent solid 0.2 noborder\n");
    const char *plots[][3] = {{"test_error.png", "test error (%), mean and +-1 sd over seeds", "2"},
                              {"train_loss.png", "train loss (data), mean and +-1 sd over seeds", "4"}};
    for (int p = 0; p < 2; p++) {
        const int col = atoi(plots[p][2]);
        fprintf(f, "set output '%s/%s'\nset ylabel '%s'\nset title '%s'\nplot ", out, plots[p][0],
                plots[p][1], title);
        for (int i = 0; i < n; i++)
            fprintf(f, "%s'%s/curves/%s.csv' every ::1 using 1:($%d-$%d):($%d+$%d) with "
                       "filledcurves lc %d notitle, '' every ::1 using 1:%d with linespoints lc %d "
                       "title '%s'",
                    i ? ", " : "", out, e[i].name, col, col + 1, col, col + 1, i + 1, col, i + 1,
                    e[i].name);
        fputc('\n', f);
    }
    fclose(f);
    return run_gnuplot(gp);
}

int write_heatmap(const char *out, const char *png, const sweep_grid *const *grids, int n_grids,
                  const char *title)
{
    char gp[1100];
    FILE *f = open_script(out, png, gp, sizeof gp);
    if (!f) return -1;
    fprintf(f,
            "set terminal pngcairo size %d,520 noenhanced font ',10'\n"
            "set output '%s/%s'\nset datafile separator ','\n"
            "set multiplot layout 1,%d title '%s'\n"
            "set xlabel 'learning rate'\n"
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
        /* Cells on an index grid, labelled with their log-spaced values;
         * the best lambda per column (interpolated) as white points. */
        fprintf(f, "set title \"%s\\n%s\"\nset ylabel '%s'\nset xrange [-0.5:%g]\nset yrange [-0.5:%g]\n",
                s->name, s->slope_text, s->axis_label, s->n_lr - 0.5, s->n_wd - 0.5);
        fprintf(f, "set xtics (");
        for (int i = 0; i < s->n_lr; i++) fprintf(f, "%s'%.2g' %d", i ? ", " : "", s->lr[i], i);
        fprintf(f, ")\nset ytics (");
        for (int j = 0; j < s->n_wd; j++) fprintf(f, "%s'%.2g' %d", j ? ", " : "", s->axis[j], j);
        fprintf(f, ")\nplot '-' using 1:2:3 with image, '-' using 1:2:(sprintf('%%.1f', $3)) "
                   "with labels font ',9', '-' using 1:2 with linespoints lw 2 pt 6 ps 2 lc rgb 'white'\n");
        for (int pass = 0; pass < 2; pass++) {
            for (int i = 0; i < s->n_lr; i++)
                for (int j = 0; j < s->n_wd; j++)
                    fprintf(f, "%d,%d,%.2f\n", i, j, 100 * (1 - s->acc[i * s->n_wd + j]));
            fprintf(f, "e\n");
        }
        for (int i = 0; i < s->n_lr; i++)
            if (isfinite(s->best_pos[i])) fprintf(f, "%d,%.4f\n", i, s->best_pos[i]);
        fprintf(f, "e\n");
    }
    fprintf(f, "unset multiplot\n");
    fclose(f);
    return run_gnuplot(gp);
}

int write_layer_plot(const char *out)
{
    char gp[1100];
    FILE *f = open_script(out, "layers", gp, sizeof gp);
    if (!f) return -1;
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
