/* examples/resnet_cifar/pair.c - `resnet_cifar pair A B`: two comparisons
 * made with the same seeds and methods but one setting changed (batch 32
 * and batch 512, batch norm and group norm, ...), method by method, as the
 * paired difference B - A over the seeds they share (one initial checkpoint
 * per seed: `compare` derives it from the seed and the model alone). */
#include "pair.h"

#include "report.h"
#include "sharpness.h"

#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { PAIR_METHODS = 64 };

/* A run folder of a comparison: dir/seed<s>/<m>, or dir/<m> for one seed
 * (s = 0). */
static void run_dir(char *out, size_t size, const char *dir, int seed, const char *m)
{
    if (seed) snprintf(out, size, "%s/seed%d/%s", dir, seed, m);
    else snprintf(out, size, "%s/%s", dir, m);
}

/* The seeds of a comparison (ascending), or {0} for the one-seed layout. */
static int list_seeds(const char *dir, int *seeds, int max)
{
    DIR *d = opendir(dir);
    if (!d) return fail("pair: cannot open %s", dir);
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) && n < max;) {
        int s;
        char tail;
        if (sscanf(e->d_name, "seed%d%c", &s, &tail) == 1 && s > 0) seeds[n++] = s;
    }
    closedir(d);
    for (int i = 1; i < n; i++) /* insertion sort */
        for (int j = i; j > 0 && seeds[j - 1] > seeds[j]; j--) {
            const int t = seeds[j];
            seeds[j] = seeds[j - 1];
            seeds[j - 1] = t;
        }
    if (n == 0) seeds[n++] = 0;
    return n;
}

/* The methods of a comparison: the folders of its first seed that hold a
 * result.txt, sorted by name. */
static int list_methods(const char *dir, int seed, char (*names)[64], int max)
{
    char base[1100];
    if (seed) snprintf(base, sizeof base, "%s/seed%d", dir, seed);
    else snprintf(base, sizeof base, "%s", dir);
    DIR *d = opendir(base);
    if (!d) return fail("pair: cannot open %s", base);
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) && n < max;) {
        if (e->d_name[0] == '.' || strlen(e->d_name) >= 64) continue;
        char path[1200];
        snprintf(path, sizeof path, "%s/%s/result.txt", base, e->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        fclose(f);
        snprintf(names[n++], 64, "%s", e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, (int (*)(const void *, const void *))strcmp);
    return n;
}

/* The last component of a folder path (trailing slashes dropped) into out. */
static void base_name(const char *path, char *out, size_t size)
{
    snprintf(out, size, "%s", path);
    size_t n = strlen(out);
    while (n > 1 && out[n - 1] == '/') out[--n] = 0;
    const char *s = strrchr(out, '/');
    if (s) memmove(out, s + 1, strlen(s + 1) + 1);
}

/* A sentence on whether an interval excludes 0. */
static const char *verdict(stats_interval s)
{
    if (!isfinite(s.half)) return "one seed, no interval";
    return stats_excludes_zero(s) ? "beyond the seed-to-seed spread" : "within the seed-to-seed spread";
}

int cmd_pair(int argc, char **argv)
{
    if (argc == 3 && (!strcmp(argv[2], "--help") || !strcmp(argv[2], "-h"))) {
        puts("usage: resnet_cifar pair A B\n\n"
             "Two comparisons (compare's --out folders) made with the same seeds and methods\n"
             "and one setting changed: per method, the paired difference B - A over the\n"
             "seeds both have (each seed's initial weights are the same in both when the\n"
             "model is) in final test accuracy, final train loss and, where both measured\n"
             "it (compare --sharpness), epsilon-sharpness, with its 95% Student-t interval.");
        return 0;
    }
    if (argc != 4) return fail("pair: expected two comparison folders A B (see --help)"), 2;
    const char *a = argv[2], *b = argv[3];
    int sa[MAX_SEEDS], sb[MAX_SEEDS];
    const int na = list_seeds(a, sa, MAX_SEEDS);
    if (na < 0) return 1;
    const int nb = list_seeds(b, sb, MAX_SEEDS);
    if (nb < 0) return 1;
    char (*methods)[64] = calloc(PAIR_METHODS, sizeof *methods);
    if (!methods) return fail("pair: out of memory"), 1;
    const int nm = list_methods(a, sa[0], methods, PAIR_METHODS);
    if (nm <= 0) {
        free(methods);
        return nm < 0 ? 1 : (fail("pair: no finished run in %s", a), 1);
    }
    char la[256], lb[256];
    base_name(a, la, sizeof la);
    base_name(b, lb, sizeof lb);
    char words[PAIR_METHODS][400];
    printf("Paired differences %s − %s per method, per seed (the same seeds' runs), mean over "
           "n seeds with its 95%% Student-t interval:\n\n"
           "| method | seeds | test acc %s | test acc %s | %s − %s (points) | train loss %s − %s | "
           "ε-sharpness %s | ε-sharpness %s | sharpness %s − %s |\n"
           "|---|---|---|---|---|---|---|---|---|\n",
           lb, la, la, lb, lb, la, lb, la, la, lb, lb, la);
    int rows = 0;
    for (int m = 0; m < nm; m++) {
        double acc_a[MAX_SEEDS], acc_b[MAX_SEEDS], dacc[MAX_SEEDS], dloss[MAX_SEEDS];
        double sh_a[MAX_SEEDS], sh_b[MAX_SEEDS], dsh[MAX_SEEDS];
        int k = 0, ks = 0;
        for (int i = 0; i < na; i++) {
            int j = 0;
            while (j < nb && sb[j] != sa[i]) j++;
            if (j == nb) continue;
            char da[1200], db[1200];
            run_dir(da, sizeof da, a, sa[i], methods[m]);
            run_dir(db, sizeof db, b, sb[j], methods[m]);
            run_result ra, rb;
            if (result_read(da, NULL, &ra) || result_read(db, NULL, &rb)) continue;
            acc_a[k] = ra.test_acc;
            acc_b[k] = rb.test_acc;
            dacc[k] = rb.test_acc - ra.test_acc;
            dloss[k++] = rb.train_loss - ra.train_loss;
            if (sharpness_read(da, &sh_a[ks]) == 0 && sharpness_read(db, &sh_b[ks]) == 0) {
                dsh[ks] = sh_b[ks] - sh_a[ks];
                ks++;
            }
        }
        if (k == 0) continue;
        rows++;
        const stats_interval ia = stats_interval95(dacc, k), il = stats_interval95(dloss, k);
        printf("| %s | %d | %.4f | %.4f | ", methods[m], k, stats_mean(acc_a, k),
               stats_mean(acc_b, k));
        put_interval(stdout, ia, 100, "%+.2f");
        printf(" | ");
        put_interval(stdout, il, 1, "%+.4f");
        int len = snprintf(words[rows - 1], sizeof words[0],
                           "- **%s**: test accuracy %+.2f points (%s), train loss %+.4f (%s)",
                           methods[m], 100 * ia.mean, verdict(ia), il.mean, verdict(il));
        if (len < 0 || len >= (int)sizeof words[0]) len = (int)sizeof words[0] - 1;
        if (ks == k) {
            const stats_interval is = stats_interval95(dsh, ks);
            printf(" | %.3f | %.3f | ", stats_mean(sh_a, ks), stats_mean(sh_b, ks));
            put_interval(stdout, is, 1, "%+.3f");
            printf(" |\n");
            snprintf(words[rows - 1] + len, sizeof words[0] - (size_t)len,
                     ", ε-sharpness %+.3f (%s)", is.mean, verdict(is));
        } else {
            printf(" | - | - | - |\n");
        }
    }
    free(methods);
    if (!rows) return fail("pair: %s and %s share no finished run of a seed", a, b), 1;
    printf("\n%s − %s:\n", lb, la);
    for (int r = 0; r < rows; r++) printf("%s.\n", words[r]);
    return 0;
}
