/* tests/optim/test_decay_modes.c - every optimizer (the kinds 0 ..
 * TN_OPTIM_COUNT - 1 by their library names, and some with non-default
 * options) x every decoupled and proximal mode against its closed form, step by step, with real numbers;
 * and L1-in-the-loss for every optimizer against λ·sign(w) added to the
 * gradient.
 *
 * With a gradient sequence that does not depend on w (the fixture's
 * kern.grads, written into the store before each step), an optimizer's
 * state evolves identically with and without decay, so a run in mode
 * "none" gives each step's update δ_t = w_none(t) − w_none(t+1), and the
 * decayed run must satisfy, from its own w(t) (η_t = lr_t/α the schedule
 * multiplier, lr_t^g = lr_t·α_g/α a group's learning rate):
 *   decoupled-lr  w(t+1) = (1 − lr_t^g·λ)·w(t) − δ_t
 *   decoupled     w(t+1) = (1 − η_t·λ)·w(t) − δ_t
 *   prox-l2       w(t+1) = (w(t) − δ_t)/(1 + η_t·λ)
 *   prox-l1       u = w(t) − δ_t;  w(t+1) = sign(u)·max(|u| − η_t·λ, 0)
 * The lr follows a cosine over the 20 steps and one decayed tensor sits in a
 * group at half the base lr, so lr_t, α·η_t, η_t and lr_t^g all differ; λ is
 * large enough (a factor ~0.05 per step) that swapping any two of them, a
 * constant lr, or decaying after instead of before the step (or the reverse
 * for the proximal modes) misses the closed form by orders of magnitude
 * more than the tolerance.  TN_NO_DECAY tensors must follow the "none"
 * trajectory to the bit. */
#include "optim_test_util.h"

#define STEPS 20
#define NW 24 /* kern.init: (4, 6) */
#define NB 6  /* the bias: (6) */
/* |got − want| ≤ TOL·(the largest |value| involved): the update is a few
 * float32 roundings of values of that size (~6e-8 each). */
#define TOL 1e-6

typedef struct variant {
    const char *name;
    tn_optim_config cfg;
} variant;

/* Variants 0 .. TN_OPTIM_COUNT - 1: every optimizer with PyTorch's defaults,
 * named as the library names it (the base lr of SGD raised to 0.05, and no
 * base lr is 1: for Adadelta PyTorch's default lr is 1, where lr_t = η_t);
 * then optimizers with non-default options. */
#define N_EXTRA 5
#define N_VARIANTS (TN_OPTIM_COUNT + N_EXTRA)

static variant variant_at(size_t i)
{
    tn_optim_config c;
    if (i < TN_OPTIM_COUNT) {
        c = tn_optim_defaults((tn_optim_kind)i);
        if (c.lr == 1.0) c.lr = 0.5;
        if (c.kind == TN_OPTIM_SGD || c.kind == TN_OPTIM_SGD_PAPER) c.lr = 0.05;
        return (variant){tn_optim_kind_name((tn_optim_kind)i), c};
    }
    switch (i - TN_OPTIM_COUNT) {
    case 0: c = tn_optim_sgd(0.05); c.momentum = 0.9; return (variant){"sgd_momentum", c};
    case 1:
        c = tn_optim_sgd(0.05); c.momentum = 0.9; c.nesterov = true;
        return (variant){"sgd_nesterov", c};
    case 2:
        c = tn_optim_defaults(TN_OPTIM_RMSPROP); c.centered = true; c.momentum = 0.5;
        return (variant){"rmsprop_centered_momentum", c};
    case 3: c = tn_optim_defaults(TN_OPTIM_ADAM); c.amsgrad = true; return (variant){"amsgrad", c};
    case 4:
        c = tn_optim_defaults(TN_OPTIM_SGD_PAPER); c.lr = 0.05; c.momentum = 0.9;
        return (variant){"sgd_paper_momentum", c};
    default: return (variant){NULL, {0}};
    }
}

/* The modes acting on the weights around the optimizer's step, which the
 * closed forms below cover (the others act through the gradient or the
 * loss: test_properties.c and the L1 test at the end). */
static bool has_closed_form(tn_reg r)
{
    return r == TN_REG_DECOUPLED_LR || r == TN_REG_DECOUPLED || r == TN_REG_PROX_L2 ||
           r == TN_REG_PROX_L1 || r == TN_REG_CORRECTED;
}

/* λ giving a per-step factor of 0.05·η_t: decoupled-lr decays by lr_t·λ,
 * corrected by lr_t·η_t·λ. */
static double lambda_for(tn_reg r, double lr0)
{
    return r == TN_REG_DECOUPLED_LR || r == TN_REG_CORRECTED ? 0.05 / lr0 : 0.05;
}

/* ------------------------------------------------------------ the runs
 * The store: body.weight (4, 6) in group 0 (base lr α), head.weight (4, 6)
 * in group 1 (base lr α/2), body.bias (6) (TN_NO_DECAY) in group 0. */

typedef struct run {
    float w[STEPS + 1][NW];    /* body.weight before step 1, after each step */
    float h[STEPS + 1][NW];    /* head.weight */
    float b[STEPS + 1][NB];    /* body.bias */
    double lr[STEPS];          /* lr_t of each step */
} run;

static const tn_sched *schedule(void)
{
    static tn_sched s;
    s = tn_sched_cosine(STEPS, 0.0);
    return &s;
}

static void train(const tn_optim_config *base, tn_reg reg, run *out)
{
    tn_st_file *f = ot_open("trajectories.safetensors");
    float init[NW];
    cr_assert_eq(tn_st_read_into(f, "kern.init", TN_SHAPE(4, 6), init), TN_OK);
    const tn_st_entry *grads = ot_entry(f, "kern.grads");
    cr_assert_eq(grads->numel, (size_t)STEPS * NW);
    tn_params *ps = tn_params_new();
    tn_tensor *w = tn_params_add(ps, "body.weight", TN_SHAPE(4, 6), TN_PARAM);
    tn_tensor *b = tn_params_add(ps, "body.bias", TN_SHAPE(NB), TN_PARAM);
    tn_tensor *h = tn_params_add(ps, "head.weight", TN_SHAPE(4, 6), TN_PARAM);
    cr_assert(tn_params_flags(ps, 1) & TN_NO_DECAY);
    cr_assert(!(tn_params_flags(ps, 0) & TN_NO_DECAY));
    for (int j = 0; j < NW; j++) {
        w->data[j] = init[j];
        h->data[j] = -init[NW - 1 - j];
    }
    for (int j = 0; j < NB; j++) b->data[j] = init[j + 6];
    tn_optim_config c = *base;
    c.reg = reg;
    c.lambda = reg == TN_REG_NONE ? 0.0 : lambda_for(reg, c.lr);
    tn_optim *o = ot_optim_new(ps, &c);
    cr_assert(o, "%s", tn_error_message());
    cr_assert_eq(ot_group_add(o, (tn_optim_group){.prefix = "head.", .lr = c.lr / 2,
                                                 .reg = c.reg, .lambda = c.lambda}),
                 1);
    memcpy(out->w[0], w->data, sizeof out->w[0]);
    memcpy(out->h[0], h->data, sizeof out->h[0]);
    memcpy(out->b[0], b->data, sizeof out->b[0]);
    for (int t = 0; t < STEPS; t++) {
        const float *g = grads->data + (size_t)t * NW;
        for (int j = 0; j < NW; j++) {
            w->grad[j] = g[j];
            h->grad[j] = g[NW - 1 - j];
        }
        for (int j = 0; j < NB; j++) b->grad[j] = g[j + 12];
        out->lr[t] = tn_sched_lr(schedule(), c.lr, t);
        tn_optim_step(o, out->lr[t]);
        memcpy(out->w[t + 1], w->data, sizeof out->w[0]);
        memcpy(out->h[t + 1], h->data, sizeof out->h[0]);
        memcpy(out->b[t + 1], b->data, sizeof out->b[0]);
    }
    tn_optim_free(o);
    tn_params_free(ps);
    tn_st_close(f);
}

/* The closed form of one step from x = w(t), δ = the "none" run's update. */
static double closed_form(tn_reg reg, double x, double delta, double lr_g, double eta, double lam)
{
    switch (reg) {
    case TN_REG_DECOUPLED_LR: return (1.0 - lr_g * lam) * x - delta;
    case TN_REG_DECOUPLED: return (1.0 - eta * lam) * x - delta;
    case TN_REG_CORRECTED: return (1.0 - lr_g * eta * lam) * x - delta;
    case TN_REG_PROX_L2: return (x - delta) / (1.0 + eta * lam);
    case TN_REG_PROX_L1: {
        double u = x - delta, a = fabs(u) - eta * lam;
        return a > 0.0 ? copysign(a, u) : 0.0;
    }
    default: cr_assert_fail("mode %d has no closed form here", (int)reg); return 0.0;
    }
}

static double worst_seen = 0.0;

/* Check one decayed tensor's steps (d: decayed run, n: the "none" run) at
 * group lr factor `gf` (α_g/α); returns the largest error/tolerance scale. */
static double check_tensor(const variant *v, tn_reg reg, const char *tname, float d[][NW],
                           float n[][NW], const double *lr, double gf)
{
    const double lr0 = v->cfg.lr, lam = lambda_for(reg, lr0);
    double worst = 0.0;
    for (int t = 0; t < STEPS; t++) {
        const double eta = lr[t] / lr0, lr_g = lr[t] * gf;
        for (int j = 0; j < NW; j++) {
            double x = d[t][j], delta = (double)n[t][j] - (double)n[t + 1][j];
            double want = closed_form(reg, x, delta, lr_g, eta, lam), got = d[t + 1][j];
            double big = fmax(fmax(fabs(x), fabs(want)), fmax(fabs((double)n[t][j]),
                                                              fabs((double)n[t + 1][j])));
            double r = fabs(got - want) / fmax(big, 1e-30);
            if (r > worst) worst = r;
            cr_assert(r <= TOL,
                      "%s/%s %s step %d [%d]: %.9g, closed form %.9g from w %.9g, update %.9g "
                      "(lr_t %.6g, eta_t %.6g, lambda %.6g): relative error %.3g > %.0e",
                      v->name, tn_reg_name(reg), tname, t + 1, j, got, want, x, delta, lr[t], eta,
                      lam, r, TOL);
        }
    }
    return worst;
}

static void check_variant(size_t vi)
{
    const variant v = variant_at(vi);
    run *none = malloc(sizeof *none), *dec = malloc(sizeof *dec);
    cr_assert(none && dec);
    train(&v.cfg, TN_REG_NONE, none);
    int checked = 0;
    for (int m = 0; m < TN_REG_COUNT; m++) {
        const tn_reg reg = (tn_reg)m;
        if (!has_closed_form(reg)) continue;
        checked++;
        train(&v.cfg, reg, dec);
        for (int t = 0; t < STEPS; t++) cr_assert_eq(dec->lr[t], none->lr[t]);
        double worst = fmax(check_tensor(&v, reg, "body.weight", dec->w, none->w, dec->lr, 1.0),
                            check_tensor(&v, reg, "head.weight", dec->h, none->h, dec->lr, 0.5));
        if (worst > worst_seen) worst_seen = worst;
        /* The decay did something: the weights left the "none" trajectory. */
        double moved = 0.0;
        for (int j = 0; j < NW; j++)
            moved = fmax(moved, fabs((double)dec->w[STEPS][j] - none->w[STEPS][j]));
        cr_assert(moved > 1e-2, "%s/%s: the decay moved the weights by only %.3g", v.name,
                  tn_reg_name(reg), moved);
        /* Proximal L1 zeroes some weights exactly, not all. */
        if (reg == TN_REG_PROX_L1) {
            int zeros = 0;
            for (int j = 0; j < NW; j++) zeros += dec->w[STEPS][j] == 0.0f;
            cr_assert(zeros > 0 && zeros < NW, "%s/prox_l1: %d exact zeros of %d", v.name, zeros,
                      NW);
        }
        /* The no-decay bias follows the "none" trajectory to the bit. */
        cr_assert_eq(memcmp(dec->b, none->b, sizeof dec->b), 0,
                     "%s/%s: the TN_NO_DECAY bias left the no-decay trajectory", v.name,
                     tn_reg_name(reg));
        cr_log_info("%s/%s: closed form met to %.3g relative (worst so far %.3g)", v.name,
                    tn_reg_name(reg), worst, worst_seen);
    }
    cr_assert_eq(checked, 5, "%s: %d modes with a closed form", v.name, checked);
    free(none);
    free(dec);
}

#define VARIANT(i, name) \
    Test(decay_modes, name) { check_variant(i); }

VARIANT(TN_OPTIM_SGD, sgd)
VARIANT(TN_OPTIM_ADAGRAD, adagrad)
VARIANT(TN_OPTIM_ADADELTA, adadelta)
VARIANT(TN_OPTIM_RMSPROP, rmsprop)
VARIANT(TN_OPTIM_ADAM, adam)
VARIANT(TN_OPTIM_NADAM, nadam)
VARIANT(TN_OPTIM_RADAM, radam)
VARIANT(TN_OPTIM_ADAMAX, adamax)
VARIANT(TN_OPTIM_SGD_PAPER, sgd_paper)
VARIANT(TN_OPTIM_LION, lion)
VARIANT(TN_OPTIM_ADAN, adan)
VARIANT(TN_OPTIM_ADABELIEF, adabelief)
/* lamb and lars have no closed form here: their step scales with ‖w‖ (the
 * trust ratio), so the "none" run's update is not the decayed run's.
 * test_recent.c checks their every mode against float64 references. */
VARIANT(TN_OPTIM_COUNT + 0, sgd_momentum)
VARIANT(TN_OPTIM_COUNT + 1, sgd_nesterov)
VARIANT(TN_OPTIM_COUNT + 2, rmsprop_centered_momentum)
VARIANT(TN_OPTIM_COUNT + 3, amsgrad)
VARIANT(TN_OPTIM_COUNT + 4, sgd_paper_momentum)

Test(decay_modes, every_variant_has_a_test)
{
    size_t n = 0;
    while (variant_at(n).name) n++;
    cr_assert_eq(n, N_VARIANTS);
    /* One VARIANT() above per optimizer: a new kind needs its line.  The
     * schedule-free kinds decay at y inside their step (no closed form
     * here): test_schedulefree.c checks every mode against its reference. */
    cr_assert_eq(TN_OPTIM_COUNT, 16, "a new optimizer: add its VARIANT() line and update this count");
    for (int k = 0; k < TN_OPTIM_COUNT; k++) {
        tn_optim_kind back;
        cr_assert_eq(tn_optim_kind_parse(variant_at((size_t)k).name, &back), TN_OK);
        cr_assert_eq(back, (tn_optim_kind)k);
    }
}

/* ------------------------------------------------- L1 in the loss
 * On the fixture MLP with its real gradients, for every optimizer: mode
 * TN_REG_L1 (λ·Σ|w| from tn_optim_penalty() added to the loss) equals mode
 * "none" with λ·sign(w) added to the weights' gradients by hand; the biases
 * (TN_NO_DECAY) get no penalty.  And the penalty changes the trajectory. */

#define L1_LAMBDA 0.02

static void l1_runs(const tn_optim_config *base, bool by_hand, bool penalty, float *out)
{
    tn_st_file *f = ot_open("trajectories.safetensors");
    ot_mlp *m = ot_mlp_new(f);
    tn_st_close(f);
    tn_optim_config c = *base;
    c.reg = by_hand || !penalty ? TN_REG_NONE : TN_REG_L1;
    c.lambda = c.reg == TN_REG_L1 ? L1_LAMBDA : 0.0;
    tn_optim *o = ot_optim_new(m->ps, &c);
    cr_assert(o, "%s", tn_error_message());
    tn_tensor *ws[2] = {m->w1, m->w2};
    const size_t n = tn_params_size(m->ps);
    for (int t = 0; t < STEPS; t++) {
        ot_mlp_grad(m, c.reg == TN_REG_L1 ? o : NULL, false, 1.0f);
        if (by_hand && penalty)
            for (int i = 0; i < 2; i++)
                for (size_t j = 0; j < ws[i]->numel; j++) {
                    float x = ws[i]->data[j];
                    ws[i]->grad[j] += x > 0.0f ? (float)L1_LAMBDA : x < 0.0f ? -(float)L1_LAMBDA
                                                                              : 0.0f;
                }
        tn_optim_step(o, tn_sched_lr(schedule(), c.lr, t));
        memcpy(out + (size_t)t * n, tn_params_values(m->ps), n * sizeof *out);
    }
    tn_optim_free(o);
    ot_mlp_free(m);
}

Test(decay_modes, l1_in_the_loss_is_lambda_sign_w_in_the_gradient_for_every_optimizer)
{
    tn_st_file *f = ot_open("trajectories.safetensors");
    ot_mlp *m = ot_mlp_new(f);
    const size_t n = tn_params_size(m->ps);
    ot_mlp_free(m);
    tn_st_close(f);
    float *pen = malloc(STEPS * n * sizeof *pen), *hand = malloc(STEPS * n * sizeof *hand);
    float *none = malloc(STEPS * n * sizeof *none);
    cr_assert(pen && hand && none);
    for (size_t vi = 0; vi < N_VARIANTS; vi++) {
        const variant v = variant_at(vi);
        l1_runs(&v.cfg, false, true, pen);
        l1_runs(&v.cfg, true, true, hand);
        l1_runs(&v.cfg, false, false, none);
        double worst = 0.0;
        for (int t = 0; t < STEPS; t++) {
            double r = ot_max_rel(pen + (size_t)t * n, hand + (size_t)t * n, n, 1e-2);
            worst = fmax(worst, r);
            cr_assert(r <= TOL, "%s step %d: L1 in the loss vs lambda*sign(w) in the gradient: "
                      "relative deviation %.3g", v.name, t + 1, r);
        }
        double d = ot_max_rel(pen + (size_t)(STEPS - 1) * n, none + (size_t)(STEPS - 1) * n, n,
                              1e-2);
        cr_assert(d > 1e-3, "%s: the L1 penalty changed the trajectory by only %.3g", v.name, d);
        cr_log_info("%s: L1 in the loss vs by hand %.3g; vs no penalty %.3g", v.name, worst, d);
    }
    free(pen);
    free(hand);
    free(none);
}
