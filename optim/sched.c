/* optim/sched.c - learning-rate schedules as pure functions of (schedule, t).
 *
 * The formulas are PyTorch 1.13's closed forms (torch/optim/lr_scheduler.py,
 * _get_closed_form_lr and OneCycleLR/CosineAnnealingWarmRestarts.get_lr),
 * written in the same operation order so that they agree in double to the
 * last bits; PyTorch's chainable forms (used by scheduler.step()) round a
 * little differently (~1e-15 relative). */
#include "internal.h"

#include <math.h>

static const double pi = 3.14159265358979323846;

tn_sched tn_sched_constant(void) { return (tn_sched){.kind = TN_SCHED_CONSTANT}; }

tn_sched tn_sched_step(int step_size, double gamma)
{
    return (tn_sched){.kind = TN_SCHED_STEP, .step_size = step_size, .gamma = gamma};
}

tn_sched tn_sched_multistep(int n, const int *milestones, double gamma)
{
    if (n < 0 || n > TN_SCHED_MAX_MILESTONES || (n > 0 && !milestones))
        tn_misuse("tn_sched_multistep", "%d milestones (at most %d)", n, TN_SCHED_MAX_MILESTONES);
    tn_sched s = {.kind = TN_SCHED_MULTISTEP, .n_milestones = n, .gamma = gamma};
    for (int i = 0; i < n; i++) {
        if (i > 0 && milestones[i] < milestones[i - 1])
            tn_misuse("tn_sched_multistep", "milestones must be ascending (%d after %d)",
                      milestones[i], milestones[i - 1]);
        s.milestones[i] = milestones[i];
    }
    return s;
}

tn_sched tn_sched_linear(double start_factor, double end_factor, int total_iters)
{
    return (tn_sched){.kind = TN_SCHED_LINEAR, .start_factor = start_factor,
                      .end_factor = end_factor, .total_iters = total_iters};
}

tn_sched tn_sched_exponential(double gamma)
{
    return (tn_sched){.kind = TN_SCHED_EXPONENTIAL, .gamma = gamma};
}

tn_sched tn_sched_cosine(double t_max, double eta_min)
{
    return (tn_sched){.kind = TN_SCHED_COSINE, .t_max = t_max, .eta_min = eta_min};
}

tn_sched tn_sched_cosine_restarts(int t_0, int t_mult, double eta_min)
{
    return (tn_sched){.kind = TN_SCHED_COSINE_RESTARTS, .t_0 = t_0, .t_mult = t_mult,
                      .eta_min = eta_min};
}

tn_sched tn_sched_one_cycle(int total_steps)
{
    return (tn_sched){.kind = TN_SCHED_ONE_CYCLE, .total_steps = total_steps, .pct_start = 0.3,
                      .div_factor = 25.0, .final_div_factor = 1e4, .base_momentum = 0.85,
                      .max_momentum = 0.95};
}

static void check(const tn_sched *s)
{
    const char *who = "tn_sched_lr";
    if (!s) tn_misuse(who, "schedule is NULL");
    if (!(s->warmup >= 0.0)) tn_misuse(who, "warmup %g must be >= 0", s->warmup);
    switch (s->kind) {
    case TN_SCHED_CONSTANT: case TN_SCHED_EXPONENTIAL: break;
    case TN_SCHED_STEP:
        if (s->step_size <= 0) tn_misuse(who, "step: step_size %d must be > 0", s->step_size);
        break;
    case TN_SCHED_MULTISTEP:
        if (s->n_milestones < 0 || s->n_milestones > TN_SCHED_MAX_MILESTONES)
            tn_misuse(who, "multistep: %d milestones", s->n_milestones);
        break;
    case TN_SCHED_LINEAR:
        if (s->total_iters <= 0) tn_misuse(who, "linear: total_iters %d must be > 0", s->total_iters);
        break;
    case TN_SCHED_COSINE:
        if (!(s->t_max > 0.0)) tn_misuse(who, "cosine: t_max %g must be > 0", s->t_max);
        break;
    case TN_SCHED_COSINE_RESTARTS:
        if (s->t_0 <= 0 || s->t_mult < 1)
            tn_misuse(who, "cosine restarts: t_0 %d must be > 0 and t_mult %d >= 1", s->t_0,
                      s->t_mult);
        break;
    case TN_SCHED_ONE_CYCLE:
        if (s->total_steps <= 1 || !(s->pct_start > 0.0 && s->pct_start < 1.0) ||
            !(s->div_factor > 0.0) || !(s->final_div_factor > 0.0))
            tn_misuse(who, "one-cycle: total_steps %d, pct_start %g, div_factor %g, "
                      "final_div_factor %g", s->total_steps, s->pct_start, s->div_factor,
                      s->final_div_factor);
        break;
    default: tn_misuse(who, "unknown schedule kind %d", (int)s->kind);
    }
}

/* Warm restarts: the position T_cur in the period of length T_i holding t. */
static void restart_period(const tn_sched *s, double t, double *t_cur, double *t_i)
{
    if (t < s->t_0) {
        *t_cur = t;
        *t_i = s->t_0;
    } else if (s->t_mult == 1) {
        *t_cur = fmod(t, (double)s->t_0);
        *t_i = s->t_0;
    } else {
        double start = 0.0, len = s->t_0;
        while (t >= start + len) {
            start += len;
            len *= s->t_mult;
        }
        *t_cur = t - start;
        *t_i = len;
    }
}

static double anneal_cos(double start, double end, double pct)
{
    double cos_out = cos(pi * pct) + 1.0;
    return end + (start - end) / 2.0 * cos_out;
}

/* One-cycle's phase at t: pct through it, and which of the two. */
static int one_cycle_phase(const tn_sched *s, double t, double *pct)
{
    double end1 = s->pct_start * s->total_steps - 1.0;
    double end2 = (double)s->total_steps - 1.0;
    if (t <= end1) {
        *pct = t / end1;
        return 0;
    }
    *pct = (t - end1) / (end2 - end1);
    return 1;
}

double tn_sched_lr(const tn_sched *s, double lr0, double t)
{
    check(s);
    double lr = lr0;
    switch (s->kind) {
    case TN_SCHED_CONSTANT: break;
    case TN_SCHED_STEP: lr = lr0 * pow(s->gamma, floor(t / s->step_size)); break;
    case TN_SCHED_MULTISTEP: {
        int passed = 0; /* bisect_right: milestones <= t */
        while (passed < s->n_milestones && s->milestones[passed] <= t) passed++;
        lr = lr0 * pow(s->gamma, passed);
        break;
    }
    case TN_SCHED_LINEAR: {
        double it = t < s->total_iters ? t : (double)s->total_iters;
        lr = lr0 * (s->start_factor + (s->end_factor - s->start_factor) * it / s->total_iters);
        break;
    }
    case TN_SCHED_EXPONENTIAL: lr = lr0 * pow(s->gamma, t); break;
    case TN_SCHED_COSINE:
        lr = s->eta_min + (lr0 - s->eta_min) * (1.0 + cos(pi * t / s->t_max)) / 2.0;
        break;
    case TN_SCHED_COSINE_RESTARTS: {
        double t_cur, t_i;
        restart_period(s, t, &t_cur, &t_i);
        lr = s->eta_min + (lr0 - s->eta_min) * (1.0 + cos(pi * t_cur / t_i)) / 2.0;
        break;
    }
    case TN_SCHED_ONE_CYCLE: {
        double initial = lr0 / s->div_factor, min_lr = initial / s->final_div_factor, pct;
        lr = one_cycle_phase(s, t, &pct) == 0 ? anneal_cos(initial, lr0, pct)
                                              : anneal_cos(lr0, min_lr, pct);
        break;
    }
    }
    if (s->warmup > 0.0 && t + 1.0 < s->warmup) lr = lr * ((t + 1.0) / s->warmup);
    return lr;
}

double tn_sched_momentum(const tn_sched *s, double t, double other)
{
    check(s);
    if (s->kind != TN_SCHED_ONE_CYCLE) return other;
    double pct;
    return one_cycle_phase(s, t, &pct) == 0 ? anneal_cos(s->max_momentum, s->base_momentum, pct)
                                            : anneal_cos(s->base_momentum, s->max_momentum, pct);
}

double tn_sched_period(const tn_sched *s, double t)
{
    check(s);
    switch (s->kind) {
    case TN_SCHED_COSINE: return s->t_max;
    case TN_SCHED_ONE_CYCLE: return s->total_steps;
    case TN_SCHED_COSINE_RESTARTS: {
        double t_cur, t_i;
        restart_period(s, t, &t_cur, &t_i);
        return t_i;
    }
    default: return 0.0;
    }
}
