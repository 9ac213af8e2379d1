/* tests/optim/test_schedules.c - learning-rate schedules against
 * torch.optim.lr_scheduler, 300 steps each (fixture: metadata of
 * tests/fixtures/optim/schedules.safetensors, exact doubles), plus the
 * decay helpers. */
#include "optim_test_util.h"

#define N 300
/* PyTorch steps its schedulers in their chainable (recursive) forms, which
 * round differently from the closed forms: ~1e-15 relative. */
#define TOL 1e-12

static const double base_lr = 0.1;

/* The 300 values of metadata `key`. */
static void read_values(const tn_st_file *f, const char *key, double *out)
{
    const char *s = tn_st_meta(f, key);
    cr_assert(s, "fixture metadata '%s' is missing", key);
    for (int i = 0; i < N; i++) {
        char *end;
        out[i] = strtod(s, &end);
        cr_assert(end != s, "'%s': value %d is not a number", key, i);
        s = end;
    }
    while (*s == ' ') s++;
    cr_assert_eq(*s, '\0', "'%s' has more than %d values", key, N);
}

static double rel(double a, double b) { return fabs(a - b) / fmax(fabs(b), 1e-300); }

static double worst_seen = 0.0;

/* Compare lr(s, t) (t = t_of(i)) to the fixture's lr.<name>. */
static void check_lrs(const char *name, const tn_sched *s, int per_batch)
{
    tn_st_file *f = ot_open("schedules.safetensors");
    double ref[N];
    char key[64];
    snprintf(key, sizeof key, "lr.%s", name);
    read_values(f, key, ref);
    double worst = 0.0;
    for (int i = 0; i < N; i++) {
        double t = per_batch ? (double)(i / per_batch) + (double)(i % per_batch) / per_batch
                             : (double)i;
        double lr = tn_sched_lr(s, base_lr, t);
        double r = ref[i] == 0.0 ? fabs(lr) : rel(lr, ref[i]);
        if (r > worst) worst = r;
        cr_assert(r <= TOL, "%s: step %d (t %.4f): lr %.17g, PyTorch %.17g (relative %.3g)", name,
                  i, t, lr, ref[i], r);
    }
    if (worst > worst_seen) worst_seen = worst;
    cr_log_info("schedule %s: max relative deviation from PyTorch %.3g (worst so far %.3g)", name,
                worst, worst_seen);
    tn_st_close(f);
}

Test(schedule, step)
{
    tn_sched s = tn_sched_step(30, 0.5);
    check_lrs("step", &s, 0);
}

Test(schedule, multistep)
{
    tn_sched s = tn_sched_multistep(3, (int[]){50, 120, 200}, 0.3);
    check_lrs("multistep", &s, 0);
}

Test(schedule, linear)
{
    tn_sched s = tn_sched_linear(1.0 / 3, 1.0, 5); /* PyTorch's defaults */
    check_lrs("linear_default", &s, 0);
    s = tn_sched_linear(1.0, 0.05, 250);
    check_lrs("linear_decay", &s, 0);
}

Test(schedule, exponential)
{
    tn_sched s = tn_sched_exponential(0.98);
    check_lrs("exponential", &s, 0);
}

Test(schedule, cosine)
{
    tn_sched s = tn_sched_cosine(100, 0.001); /* runs past T_max: back up, as PyTorch */
    check_lrs("cosine", &s, 0);
}

Test(schedule, cosine_warm_restarts)
{
    tn_sched s = tn_sched_cosine_restarts(10, 2, 1e-4);
    check_lrs("restarts", &s, 0);
    s = tn_sched_cosine_restarts(7, 1, 0.01);
    check_lrs("restarts_mult1", &s, 0);
}

Test(schedule, cosine_warm_restarts_per_batch)
{
    /* scheduler.step(epoch + i / iters), 10 batches an epoch */
    tn_sched s = tn_sched_cosine_restarts(3, 2, 0.0);
    check_lrs("restarts_batch", &s, 10);
}

Test(schedule, one_cycle_lr_and_momentum)
{
    tn_sched s = tn_sched_one_cycle(N);
    check_lrs("one_cycle", &s, 0);
    tn_st_file *f = ot_open("schedules.safetensors");
    double ref[N];
    read_values(f, "momentum.one_cycle", ref);
    for (int i = 0; i < N; i++) {
        double m = tn_sched_momentum(&s, i, 0.0);
        cr_assert(rel(m, ref[i]) <= TOL, "one_cycle momentum step %d: %.17g, PyTorch %.17g", i, m,
                  ref[i]);
    }
    tn_st_close(f);
    /* Other schedules leave the momentum alone. */
    tn_sched c = tn_sched_cosine(10, 0);
    cr_assert_eq(tn_sched_momentum(&c, 3, 0.9), 0.9);
}

Test(schedule, warmup_composes_with_cosine)
{
    /* PyTorch: ChainedScheduler(LinearLR(1/20, 1, 19), CosineAnnealingLR(300)) */
    tn_sched s = tn_sched_cosine(N, 0.0);
    s.warmup = 20;
    check_lrs("warmup_cosine", &s, 0);
}

Test(schedule, warmup_multiplies_any_schedule)
{
    tn_sched kinds[] = {tn_sched_constant(), tn_sched_step(7, 0.5),
                        tn_sched_multistep(2, (int[]){3, 9}, 0.1), tn_sched_exponential(0.9),
                        tn_sched_cosine_restarts(5, 2, 0.0), tn_sched_one_cycle(50),
                        tn_sched_linear(0.5, 1.0, 10)};
    for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
        tn_sched w = kinds[k];
        w.warmup = 12;
        for (int t = 0; t < 40; t++) {
            double plain = tn_sched_lr(&kinds[k], 0.3, t), warm = tn_sched_lr(&w, 0.3, t);
            double want = t + 1 < 12 ? plain * ((t + 1) / 12.0) : plain;
            cr_assert_eq(warm, want, "kind %d step %d: %.17g, want %.17g", (int)kinds[k].kind, t,
                         warm, want);
        }
    }
}

Test(schedule, constant_and_periods)
{
    tn_sched c = tn_sched_constant();
    for (int t = 0; t < 1000; t += 37) cr_assert_eq(tn_sched_lr(&c, 0.25, t), 0.25);
    tn_sched r = tn_sched_cosine_restarts(10, 2, 0.0);
    /* periods [0, 10), [10, 30), [30, 70), [70, 150) */
    double want[][2] = {{0, 10}, {9.99, 10}, {10, 20}, {29.5, 20}, {30, 40}, {69, 40}, {70, 80}};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        cr_assert_eq(tn_sched_period(&r, want[i][0]), want[i][1], "t %g", want[i][0]);
    /* A restart brings the lr back to α. */
    cr_assert_eq(tn_sched_lr(&r, 0.1, 30), 0.1);
    cr_assert_lt(tn_sched_lr(&r, 0.1, 29.9), 1e-4);
    tn_sched cos = tn_sched_cosine(50, 0.0);
    cr_assert_eq(tn_sched_period(&cos, 12), 50);
    tn_sched oc = tn_sched_one_cycle(80);
    cr_assert_eq(tn_sched_period(&oc, 12), 80);
    cr_assert_eq(tn_sched_period(&c, 12), 0);
}

Test(schedule, bad_config_aborts, .signal = SIGABRT)
{
    tn_sched s = tn_sched_cosine(0, 0.0);
    tn_sched_lr(&s, 0.1, 1);
}

/* --------------------------------------------------------- decay helpers */

Test(decay, normalized_and_conversions)
{
    /* λ = λ_norm·sqrt(b/(B·T)): b 128, B 50000, T 200 -> 0.05·sqrt(128/1e7) */
    double l = tn_optim_decay_normalized(0.05, 128, 50000, 200);
    cr_assert_float_eq(l, 0.05 * sqrt(128.0 / 1e7), 1e-18);
    /* per restart period: a period twice as long decays by 1/sqrt(2) */
    tn_sched r = tn_sched_cosine_restarts(10, 2, 0.0);
    double l1 = tn_optim_decay_normalized(0.05, 128, 50000, tn_sched_period(&r, 5));
    double l2 = tn_optim_decay_normalized(0.05, 128, 50000, tn_sched_period(&r, 15));
    cr_assert_float_eq(l2 / l1, 1.0 / sqrt(2.0), 1e-15);
    cr_assert_float_eq(tn_optim_decay_paper_from_torch(1e-3, 0.01), 1e-5, 1e-20);
    cr_assert_float_eq(tn_optim_decay_torch_from_paper(1e-3, 1e-5), 0.01, 1e-17);
}
