/* tests/examples/test_stats.c - the statistics of resnet_cifar's compare
 * and sweep: Student-t quantiles against the printed table, mean and
 * standard deviation, 95% intervals, the parabola through a heat-map
 * column's best cell, and the slope of the optimum across columns on
 * synthetic grids with a known answer. */
#include "../../examples/resnet_cifar/stats.h"

#include <criterion/criterion.h>
#include <math.h>

/* t_{0.975, df}, df = 1..30, to the 3 decimals of the standard table. */
static const double T975[30] = {12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306,
                                2.262,  2.228, 2.201, 2.179, 2.160, 2.145, 2.131, 2.120,
                                2.110,  2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
                                2.060,  2.056, 2.052, 2.048, 2.045, 2.042};

Test(stats, t_quantile_975_table)
{
    for (int df = 1; df <= 30; df++) {
        const double t = stats_t_quantile(0.975, df);
        cr_assert(fabs(t - T975[df - 1]) <= 6e-4, "df %d: t = %.5f, table %.3f", df, t,
                  T975[df - 1]);
    }
    /* More digits where they are known in closed form or widely printed. */
    cr_assert_float_eq(stats_t_quantile(0.975, 1), tan(M_PI * 0.475), 1e-8);
    cr_assert_float_eq(stats_t_quantile(0.975, 2), 4.302652729749464, 1e-8);
    cr_assert_float_eq(stats_t_quantile(0.975, 1e7), 1.959963984540054, 1e-5);
}

Test(stats, t_quantile_other_levels_and_symmetry)
{
    cr_assert_float_eq(stats_t_quantile(0.995, 4), 4.604, 6e-4);
    cr_assert_float_eq(stats_t_quantile(0.95, 10), 1.812, 6e-4);
    cr_assert_float_eq(stats_t_quantile(0.5, 3), 0.0, 1e-9);
    cr_assert_float_eq(stats_t_quantile(0.025, 5), -stats_t_quantile(0.975, 5), 1e-9);
    cr_assert_float_eq(stats_t_cdf(stats_t_quantile(0.9, 7), 7), 0.9, 1e-10);
    /* df = 2 has a closed form: F(t) = 1/2 + t / (2 sqrt(2 + t^2)). */
    cr_assert_float_eq(stats_t_cdf(1.5, 2), 0.5 + 1.5 / (2 * sqrt(2 + 2.25)), 1e-12);
    cr_assert(isnan(stats_t_quantile(0, 3)) && isnan(stats_t_quantile(0.9, 0)));
}

Test(stats, mean_sd)
{
    const double x[] = {2, 4, 4, 4, 5, 5, 7, 9};
    cr_assert_float_eq(stats_mean(x, 8), 5.0, 1e-12);
    cr_assert_float_eq(stats_sd(x, 8), sqrt(32.0 / 7), 1e-12);
    cr_assert_float_eq(stats_sd(x, 2), sqrt(2.0), 1e-12);
    cr_assert(isnan(stats_sd(x, 1)) && isnan(stats_mean(x, 0)));
}

Test(stats, interval95)
{
    /* Three seeds' paired differences 0.02, 0.04, 0.06: mean 0.04,
     * sd 0.02, half-width 4.303 * 0.02 / sqrt(3). */
    const double d[] = {0.02, 0.04, 0.06};
    stats_interval s = stats_interval95(d, 3);
    cr_assert_eq(s.n, 3);
    cr_assert_float_eq(s.mean, 0.04, 1e-12);
    cr_assert_float_eq(s.sd, 0.02, 1e-12);
    cr_assert_float_eq(s.half, 4.302652729749464 * 0.02 / sqrt(3.0), 1e-9);
    cr_assert(!stats_excludes_zero(s)); /* 0.04 - 0.0497 < 0 */
    const double e[] = {-0.05, -0.04, -0.03};
    stats_interval t = stats_interval95(e, 3); /* -0.04 +- 0.0248 */
    cr_assert_float_eq(t.half, 4.302652729749464 * 0.01 / sqrt(3.0), 1e-9);
    cr_assert(stats_excludes_zero(t));
    stats_interval one = stats_interval95(e, 1);
    cr_assert_float_eq(one.mean, -0.05, 1e-12);
    cr_assert(isnan(one.half) && !stats_excludes_zero(one));
}

/* A column with a known optimum: y = (x - x*)^2 + c is a parabola, so
 * three samples around x* give it exactly, on uneven spacing too. */
Test(stats, argmin_parabola_exact)
{
    const double x[] = {-9, -8, -6.5, -6, -4};
    double y[5];
    for (int i = 0; i < 5; i++) y[i] = 2 * (x[i] + 6.8) * (x[i] + 6.8) + 0.3;
    bool edge = true;
    cr_assert_float_eq(stats_argmin_parabola(x, y, 5, &edge), -6.8, 1e-12);
    cr_assert(!edge);
    /* Best at the edge: that sample, flagged. */
    for (int i = 0; i < 5; i++) y[i] = x[i];
    cr_assert_float_eq(stats_argmin_parabola(x, y, 5, &edge), -9.0, 1e-12);
    cr_assert(edge);
    /* Two equal best cells: the vertex halfway between them. */
    const double flat[] = {1, 0.5, 0.5, 0.7, 1};
    cr_assert_float_eq(stats_argmin_parabola(x, flat, 5, &edge), -7.25, 1e-12);
    /* NAN cells are skipped. */
    const double gap[] = {NAN, 3, 1, NAN, 2};
    cr_assert_float_eq(stats_argmin_parabola(x, gap, 5, &edge), -6.5, 1e-12);
}

/* A synthetic heat map whose valley follows log lambda* = -14 - 0.75 log lr
 * (error quadratic in log lambda around it): the parabola finds each
 * column's optimum and the least-squares slope is -0.75. */
Test(stats, slope_of_optimum_on_a_synthetic_grid)
{
    enum { NLR = 5, NWD = 7 };
    double loglr[NLR], logwd[NWD], best[NLR];
    for (int i = 0; i < NLR; i++) loglr[i] = log(1e-4) + i * log(2.0);
    for (int j = 0; j < NWD; j++) logwd[j] = log(1e-6) + j * log(4.0);
    for (int i = 0; i < NLR; i++) {
        const double opt = -14 - 0.75 * loglr[i];
        double err[NWD];
        for (int j = 0; j < NWD; j++) err[j] = 0.1 + 0.02 * (logwd[j] - opt) * (logwd[j] - opt);
        bool edge;
        best[i] = stats_argmin_parabola(logwd, err, NWD, &edge);
        cr_assert(!edge, "column %d", i);
        cr_assert_float_eq(best[i], opt, 1e-9, "column %d: %g vs %g", i, best[i], opt);
    }
    cr_assert_float_eq(stats_slope(loglr, best, NLR), -0.75, 1e-9);
    /* A noisy line: the least-squares answer computed by hand. */
    const double x[] = {0, 1, 2, 3}, y[] = {1, 3, 2, 5};
    cr_assert_float_eq(stats_slope(x, y, 4), 1.1, 1e-12);
    const double z[] = {NAN, 1, 2, 3}, w[] = {7, 1, 2, 3};
    cr_assert_float_eq(stats_slope(z, w, 4), 1.0, 1e-12);
    cr_assert(isnan(stats_slope(x, y, 1)));
}
