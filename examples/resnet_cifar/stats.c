/* examples/resnet_cifar/stats.c - the statistics of repeated runs. */
#include "stats.h"

#include <math.h>

double stats_mean(const double *x, int n)
{
    if (n < 1) return NAN;
    double s = 0;
    for (int i = 0; i < n; i++) s += x[i];
    return s / n;
}

double stats_sd(const double *x, int n)
{
    if (n < 2) return NAN;
    const double m = stats_mean(x, n);
    double s = 0;
    for (int i = 0; i < n; i++) s += (x[i] - m) * (x[i] - m);
    return sqrt(s / (n - 1));
}

/* The continued fraction of the regularised incomplete beta function
 * (modified Lentz), converging for x < (a + 1) / (a + b + 2). */
static double beta_cf(double a, double b, double x)
{
    const double tiny = 1e-300;
    double c = 1, d = 1 - (a + b) * x / (a + 1);
    if (fabs(d) < tiny) d = tiny;
    d = 1 / d;
    double h = d;
    for (int m = 1; m <= 300; m++) {
        for (int odd = 0; odd < 2; odd++) {
            const double aa = odd ? -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
                                  : m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m));
            d = 1 + aa * d;
            if (fabs(d) < tiny) d = tiny;
            c = 1 + aa / c;
            if (fabs(c) < tiny) c = tiny;
            d = 1 / d;
            h *= d * c;
            if (odd && fabs(d * c - 1) < 1e-15) return h;
        }
    }
    return h;
}

/* I_x(a, b), the regularised incomplete beta function. */
static double beta_inc(double a, double b, double x)
{
    if (x <= 0) return 0;
    if (x >= 1) return 1;
    const double front =
        exp(lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x));
    if (x < (a + 1) / (a + b + 2)) return front * beta_cf(a, b, x) / a;
    return 1 - front * beta_cf(b, a, 1 - x) / b;
}

double stats_t_cdf(double t, double df)
{
    if (isnan(t) || !(df > 0)) return NAN;
    if (isinf(t)) return t > 0 ? 1 : 0;
    const double tail = 0.5 * beta_inc(df / 2, 0.5, df / (df + t * t)); /* P(T > |t|) */
    return t >= 0 ? 1 - tail : tail;
}

double stats_t_quantile(double p, double df)
{
    if (!(p > 0 && p < 1) || !(df > 0)) return NAN;
    if (p < 0.5) return -stats_t_quantile(1 - p, df);
    /* Bisection on [0, hi]: the CDF is increasing; 1e-12 relative. */
    double lo = 0, hi = 1;
    while (stats_t_cdf(hi, df) < p && hi < 1e300) hi *= 2;
    for (int i = 0; i < 200 && hi - lo > 1e-12 * hi; i++) {
        const double mid = 0.5 * (lo + hi);
        if (stats_t_cdf(mid, df) < p) lo = mid;
        else hi = mid;
    }
    return 0.5 * (lo + hi);
}

stats_interval stats_interval95(const double *x, int n)
{
    stats_interval s = {.n = n, .mean = stats_mean(x, n), .sd = stats_sd(x, n), .half = NAN};
    if (n >= 2) s.half = stats_t_quantile(0.975, n - 1) * s.sd / sqrt(n);
    return s;
}

bool stats_excludes_zero(stats_interval s)
{
    return isfinite(s.half) && (s.mean - s.half > 0 || s.mean + s.half < 0);
}

double stats_argmin_parabola(const double *x, const double *y, int n, bool *at_edge)
{
    int best = -1;
    for (int i = 0; i < n; i++)
        if (!isnan(y[i]) && (best < 0 || y[i] < y[best])) best = i;
    if (at_edge) *at_edge = best == 0 || best == n - 1;
    if (best < 0) return NAN;
    if (best == 0 || best == n - 1 || isnan(y[best - 1]) || isnan(y[best + 1])) return x[best];
    /* The parabola through (x0, y0), (x1, y1), (x2, y2): its vertex. */
    const double x0 = x[best - 1], x1 = x[best], x2 = x[best + 1];
    const double y0 = y[best - 1], y1 = y[best], y2 = y[best + 1];
    const double d01 = (y1 - y0) / (x1 - x0), d12 = (y2 - y1) / (x2 - x1);
    const double curv = (d12 - d01) / (x2 - x0); /* half the second derivative */
    if (!(curv > 0)) return x1;
    const double v = 0.5 * (x0 + x1) - d01 / (2 * curv);
    return v < x0 ? x0 : v > x2 ? x2 : v;
}

double stats_slope(const double *x, const double *y, int n)
{
    double sx = 0, sy = 0;
    int m = 0;
    for (int i = 0; i < n; i++)
        if (isfinite(x[i]) && isfinite(y[i])) sx += x[i], sy += y[i], m++;
    if (m < 2) return NAN;
    const double mx = sx / m, my = sy / m;
    double sxx = 0, sxy = 0;
    for (int i = 0; i < n; i++)
        if (isfinite(x[i]) && isfinite(y[i]))
            sxx += (x[i] - mx) * (x[i] - mx), sxy += (x[i] - mx) * (y[i] - my);
    return sxx > 0 ? sxy / sxx : NAN;
}
