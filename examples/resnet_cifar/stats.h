/* examples/resnet_cifar/stats.h - the statistics of repeated runs: mean,
 * standard deviation, Student-t intervals over seeds, and the optimum of
 * a heat-map column with the slope of the optimum across columns. */
#ifndef RESNET_CIFAR_STATS_H
#define RESNET_CIFAR_STATS_H

#include <stdbool.h>

/* Mean of x[0..n-1]; NAN for n < 1. */
double stats_mean(const double *x, int n);

/* Sample standard deviation (divisor n - 1); NAN for n < 2. */
double stats_sd(const double *x, int n);

/* The Student-t CDF P(T <= t) with df > 0 degrees of freedom. */
double stats_t_cdf(double t, double df);

/* The quantile t_{p,df}: P(T <= t) = p, 0 < p < 1, df > 0. */
double stats_t_quantile(double p, double df);

/* A mean with its 95% Student-t interval over n samples:
 * mean +- t_{0.975,n-1} * sd / sqrt(n).  With n < 2, sd and half are NAN. */
typedef struct stats_interval {
    int n;
    double mean, sd;
    double half;      /* half-width of the 95% interval */
} stats_interval;

stats_interval stats_interval95(const double *x, int n);

/* Whether the interval lies entirely on one side of 0 (false without one). */
bool stats_excludes_zero(stats_interval s);

/* The minimum of y over x (x increasing, n >= 1): the best sample, refined
 * by the parabola through it and its two neighbours when it is inside the
 * range and the parabola opens upwards (its vertex clamped to the
 * neighbours' span).  *at_edge (may be NULL) is set when the best sample
 * is the first or last one.  NAN samples are ignored; NAN if all are. */
double stats_argmin_parabola(const double *x, const double *y, int n, bool *at_edge);

/* Least-squares slope of y on x over the n pairs where both are finite;
 * NAN with fewer than 2 such pairs or no spread in x. */
double stats_slope(const double *x, const double *y, int n);

#endif
