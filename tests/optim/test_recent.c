/* tests/optim/test_recent.c - Lion, LAMB, LARS, Adan and AdaBelief:
 *   - every optimizer x every mode of the table against the float64
 *     reference trajectories of tests/optim/gen_recent.py (fixture
 *     recent.safetensors: three tensors, a 1-dim one among them, one group
 *     at half the base lr, a cosine schedule, 8 steps);
 *   - closed forms: Lion moves each weight by exactly ±lr_t, LAMB's and
 *     LARS's per-tensor trust ratios, Adan's and AdaBelief's first step;
 *   - a checkpoint after 3 steps, loaded into a fresh optimizer, continues
 *     bit-identically to the uninterrupted run, for each optimizer and mode;
 *   - their defaults and option checks. */
#include "optim_test_util.h"

#include <unistd.h>

#define STEPS 8
#define N_PARAMS 3
/* |tenet − reference| ≤ TOL·max(|reference|, FLOOR·max|reference tensor|):
 * float32 steps against float64 ones; the floor covers weights that pass
 * near zero, whose error is absolute (a few float32 roundings of the
 * tensor's scale). */
#define TOL 1e-5
#define FLOOR 0.1

static const tn_optim_kind RECENT[] = {TN_OPTIM_LION, TN_OPTIM_LAMB, TN_OPTIM_LARS, TN_OPTIM_ADAN,
                                       TN_OPTIM_ADABELIEF};
#define N_RECENT (sizeof RECENT / sizeof *RECENT)

static const char *const NAMES[N_PARAMS] = {"body.weight", "body.bias", "head.weight"};

typedef struct store {
    tn_params *ps;
    tn_tensor *p[N_PARAMS];
    const tn_st_entry *grads[N_PARAMS]; /* (STEPS, ...) */
    tn_graph *g;
} store;

static store store_new(const tn_st_file *f)
{
    store s = {.ps = tn_params_new(), .g = tn_graph_new()};
    cr_assert(s.ps && s.g);
    s.p[0] = tn_params_add(s.ps, NAMES[0], TN_SHAPE(4, 6), TN_PARAM);
    s.p[1] = tn_params_add(s.ps, NAMES[1], TN_SHAPE(6), TN_PARAM);
    s.p[2] = tn_params_add(s.ps, NAMES[2], TN_SHAPE(3, 5), TN_PARAM);
    cr_assert(tn_params_flags(s.ps, 1) & TN_NO_DECAY);
    for (int i = 0; i < N_PARAMS; i++) {
        char k[64];
        snprintf(k, sizeof k, "init.%s", NAMES[i]);
        cr_assert_eq(tn_st_read_into(f, k, s.p[i]->ndim, s.p[i]->shape, s.p[i]->data), TN_OK,
                     "%s", tn_error_message());
        snprintf(k, sizeof k, "grads.%s", NAMES[i]);
        s.grads[i] = ot_entry(f, k);
        cr_assert_eq(s.grads[i]->numel, STEPS * s.p[i]->numel);
    }
    return s;
}

static void store_free(store *s)
{
    tn_graph_free(s->g);
    tn_params_free(s->ps);
}

/* A cell of the fixture: "<optimizer>.<mode>", its lr and λ
 * ("lr=<α> lambda=<λ>"); close f when done. */
typedef struct cell {
    tn_st_file *f;
    char name[96];
    double lr, lam;
} cell;

static cell cell_open(tn_optim_kind kind, tn_reg reg)
{
    cell c = {.f = ot_open("recent.safetensors")};
    snprintf(c.name, sizeof c.name, "%s.%s", tn_optim_kind_name(kind), tn_reg_name(reg));
    const char *m = tn_st_meta(c.f, c.name);
    cr_assert(m, "recent.safetensors has no cell '%s': add it to tests/optim/gen_recent.py",
              c.name);
    cr_assert_eq(sscanf(m, "lr=%lf lambda=%lf", &c.lr, &c.lam), 2, "'%s': %s", c.name, m);
    return c;
}

/* The optimizer of a cell: group 0 all tensors, group 1 "head." at α/2. */
static tn_optim *cell_optim(store *s, tn_optim_kind kind, tn_reg reg, double lr, double lam)
{
    tn_optim_config c = tn_optim_defaults(kind);
    c.lr = lr;
    c.reg = reg;
    c.lambda = lam;
    tn_optim *o = ot_optim_new(s->ps, &c);
    ot_group_add(o, (tn_optim_group){.prefix = "head.", .lr = lr / 2, .reg = reg, .lambda = lam});
    return o;
}

/* Step t (from 0): the gradient of Σ sum(w·G_t) plus the modes' penalty,
 * then the cosine schedule's lr. */
static void cell_step(store *s, tn_optim *o, int t)
{
    tn_graph *g = s->g;
    tn_graph_reset(g);
    tn_params_zero_grad(s->ps);
    tn_tensor *loss = tn_optim_penalty(o, g);
    for (int i = 0; i < N_PARAMS; i++) {
        const float *gt = s->grads[i]->data + (size_t)t * s->p[i]->numel;
        tn_tensor *G = tn_from_data(g, s->p[i]->ndim, s->p[i]->shape, gt);
        loss = tn_add(g, loss, tn_sum(g, tn_mul(g, s->p[i], G)));
    }
    cr_assert_eq(tn_backward(g, loss), TN_OK, "%s", tn_error_message());
    tn_sched sc = tn_sched_cosine(STEPS, 0.0);
    tn_optim_step(o, tn_sched_lr(&sc, tn_optim_config_of(o)->lr, t));
}

static double worst_seen = 0.0;

static void check_cell(tn_optim_kind kind, tn_reg reg)
{
    cell c = cell_open(kind, reg);
    tn_st_file *f = c.f;
    const char *name = c.name;
    store s = store_new(f);
    tn_optim *o = cell_optim(&s, kind, reg, c.lr, c.lam);
    const tn_st_entry *ref[N_PARAMS];
    for (int i = 0; i < N_PARAMS; i++) {
        char k[128];
        snprintf(k, sizeof k, "%s.%s", name, NAMES[i]);
        ref[i] = ot_entry(f, k);
    }
    double worst = 0.0;
    for (int t = 0; t < STEPS; t++) {
        cell_step(&s, o, t);
        for (int i = 0; i < N_PARAMS; i++) {
            const size_t n = s.p[i]->numel;
            const float *want = ref[i]->data + (size_t)t * n;
            double big = 0.0;
            for (size_t j = 0; j < n; j++) big = fmax(big, fabs(want[j]));
            size_t at = 0;
            double r = ot_max_rel_at(s.p[i]->data, want, n, FLOOR * big, &at);
            worst = fmax(worst, r);
            cr_assert(r <= TOL, "%s step %d %s[%zu]: %.9g, the reference %.9g (relative %.3g)",
                      name, t + 1, NAMES[i], at, s.p[i]->data[at], want[at], r);
        }
    }
    worst_seen = fmax(worst_seen, worst);
    cr_log_info("%s: max relative deviation from the float64 reference %.3g (worst %.3g)", name,
                worst, worst_seen);
    tn_optim_free(o);
    store_free(&s);
    tn_st_close(f);
}

/* Every mode of the table, for one optimizer. */
static void check_all_modes(tn_optim_kind kind)
{
    for (int r = 0; r < TN_REG_COUNT; r++) check_cell(kind, (tn_reg)r);
}

Test(recent, lion_every_mode_matches_the_reference) { check_all_modes(TN_OPTIM_LION); }
Test(recent, lamb_every_mode_matches_the_reference) { check_all_modes(TN_OPTIM_LAMB); }
Test(recent, lars_every_mode_matches_the_reference) { check_all_modes(TN_OPTIM_LARS); }
Test(recent, adan_every_mode_matches_the_reference) { check_all_modes(TN_OPTIM_ADAN); }
Test(recent, adabelief_every_mode_matches_the_reference) { check_all_modes(TN_OPTIM_ADABELIEF); }

/* ----------------------------------------------------------- closed forms
 * One (4, 6) tensor (TN_DECAY, so decayed), the fixture's first values and
 * gradients, one step at lr. */

#define NW 24

typedef struct one {
    tn_params *ps;
    tn_tensor *w;
    float w0[NW], g[NW];
} one;

static one one_new(void)
{
    tn_st_file *f = ot_open("recent.safetensors");
    one x = {.ps = tn_params_new()};
    x.w = tn_params_add(x.ps, "w", TN_SHAPE(4, 6), TN_PARAM | TN_DECAY);
    cr_assert_eq(tn_st_read_into(f, "init.body.weight", TN_SHAPE(4, 6), x.w0), TN_OK);
    memcpy(x.g, ot_entry(f, "grads.body.weight")->data, sizeof x.g);
    memcpy(x.w->data, x.w0, sizeof x.w0);
    tn_st_close(f);
    return x;
}

/* One step of `c` from x's weights and gradient (the gradient set anew). */
static void one_step(one *x, tn_optim *o, double lr)
{
    memcpy(x->w->grad, x->g, sizeof x->g);
    tn_optim_step(o, lr);
}

Test(recent, lion_moves_each_weight_by_exactly_lr)
{
    const double lr = 0.01, lam = 2.0;
    for (int mode = 0; mode < 2; mode++) { /* none, decoupled-lr */
        one x = one_new();
        tn_optim_config c = tn_optim_defaults(TN_OPTIM_LION);
        c.lr = lr;
        if (mode) c.reg = TN_REG_DECOUPLED_LR, c.lambda = lam;
        tn_optim *o = ot_optim_new(x.ps, &c);
        for (int t = 0; t < 5; t++) {
            float before[NW];
            memcpy(before, x.w->data, sizeof before);
            for (int j = 0; j < NW; j++) x.g[j] = x.g[j] * (t % 2 ? -0.5f : 1.5f) + 0.1f * (float)j;
            one_step(&x, o, lr * (1.0 - 0.1 * t));
            const float lrf = (float)(lr * (1.0 - 0.1 * t));
            const float keep = (float)(1.0 - lr * (1.0 - 0.1 * t) * lam);
            for (int j = 0; j < NW; j++) {
                const float decayed = mode ? before[j] * keep : before[j];
                const float up = decayed - lrf, down = decayed + lrf;
                cr_assert(x.w->data[j] == up || x.w->data[j] == down,
                          "mode %d step %d w[%d]: %.9g is not %.9g ± %.9g", mode, t + 1, j,
                          x.w->data[j], decayed, lrf);
            }
        }
        tn_optim_free(o);
        tn_params_free(x.ps);
    }
}

/* LAMB's first step: m̂ = g, v̂ = g², u = g/(|g| + ε) (+ λ·w); the update
 * over lr·u must be ‖w‖/‖u‖ for every element. */
Test(recent, lamb_trust_ratio_is_norm_w_over_norm_u)
{
    const double lr = 0.05, lam = 0.5;
    for (int mode = 0; mode < 3; mode++) { /* none, decoupled-lr, zero weights */
        one x = one_new();
        if (mode == 2) memset(x.w->data, 0, sizeof x.w0), memset(x.w0, 0, sizeof x.w0);
        tn_optim_config c = tn_optim_defaults(TN_OPTIM_LAMB);
        c.lr = lr;
        if (mode == 1) c.reg = TN_REG_DECOUPLED_LR, c.lambda = lam;
        tn_optim *o = ot_optim_new(x.ps, &c);
        one_step(&x, o, lr);
        double u[NW], uu = 0.0, ww = 0.0;
        for (int j = 0; j < NW; j++) {
            u[j] = x.g[j] / (fabs(x.g[j]) + 1e-6) + (mode == 1 ? lam * x.w0[j] : 0.0);
            uu += u[j] * u[j];
            ww += (double)x.w0[j] * x.w0[j];
        }
        const double ratio = ww > 0.0 ? sqrt(ww) / sqrt(uu) : 1.0;
        cr_assert(mode == 2 || fabs(ratio - 1.0) > 0.1, "a ratio of %g tests nothing", ratio);
        for (int j = 0; j < NW; j++) {
            double r = ((double)x.w0[j] - x.w->data[j]) / (lr * u[j]);
            cr_assert(fabs(r - ratio) <= 1e-5 * ratio, "mode %d w[%d]: ratio %.9g, want %.9g",
                      mode, j, r, ratio);
        }
        tn_optim_free(o);
        tn_params_free(x.ps);
    }
}

/* LARS's first step with the coupled mode: w − lr·r·(g + λw),
 * r = κ‖w‖/(‖g‖ + λ‖w‖ + ε) — λ inside the ratio, as the paper and timm. */
Test(recent, lars_trust_ratio)
{
    const double lr = 2.0, lam = 0.05;
    one x = one_new();
    tn_optim_config c = tn_optim_defaults(TN_OPTIM_LARS);
    c.lr = lr;
    c.reg = TN_REG_COUPLED;
    c.lambda = lam;
    tn_optim *o = ot_optim_new(x.ps, &c);
    one_step(&x, o, lr);
    double gg = 0.0, ww = 0.0;
    for (int j = 0; j < NW; j++) {
        gg += (double)x.g[j] * x.g[j];
        ww += (double)x.w0[j] * x.w0[j];
    }
    const double ratio = 1e-3 * sqrt(ww) / (sqrt(gg) + lam * sqrt(ww) + 1e-8);
    for (int j = 0; j < NW; j++) {
        double r = ((double)x.w0[j] - x.w->data[j]) / (lr * (x.g[j] + lam * x.w0[j]));
        cr_assert(fabs(r - ratio) <= 1e-4 * ratio, "w[%d]: ratio %.9g, want %.9g", j, r, ratio);
    }
    tn_optim_free(o);
    tn_params_free(x.ps);
}

/* Adan's first step (g_0 = g_1, so no difference term): w − lr·g/(|g| + ε);
 * AdaBelief's: s = (1 − β2)·(0.1·g)²·... so w − lr·g/(0.9·|g| + ε'). */
Test(recent, adan_and_adabelief_first_step)
{
    const double lr = 0.01;
    const tn_optim_kind kinds[2] = {TN_OPTIM_ADAN, TN_OPTIM_ADABELIEF};
    for (int k = 0; k < 2; k++) {
        one x = one_new();
        tn_optim_config c = tn_optim_defaults(kinds[k]);
        c.lr = lr;
        tn_optim *o = ot_optim_new(x.ps, &c);
        one_step(&x, o, lr);
        for (int j = 0; j < NW; j++) {
            /* AdaBelief: g − m = 0.9·g, ŝ = 0.81·g² (the ε in s is below float's reach). */
            const double denom = k == 0 ? fabs(x.g[j]) + 1e-8 : 0.9 * fabs(x.g[j]);
            const double want = x.w0[j] - lr * x.g[j] / denom;
            cr_assert(fabs(x.w->data[j] - want) <= 1e-6 * fmax(fabs(want), 0.1), "%s w[%d]: %.9g, want %.9g",
                      tn_optim_kind_name(kinds[k]), j, x.w->data[j], want);
        }
        tn_optim_free(o);
        tn_params_free(x.ps);
    }
}

/* ------------------------------------------------------------ checkpoints */

static const char *tmp_path(void)
{
    static char path[4200];
    const char *t = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/tenet_recent_%ld.safetensors", t && *t ? t : "/tmp",
             (long)getpid());
    return path;
}

#define SAVE_AT 3

static void resume_cell(tn_optim_kind kind, tn_reg reg)
{
    cell c = cell_open(kind, reg);
    tn_st_file *f = c.f;
    const char *name = c.name;
    /* Uninterrupted. */
    store s = store_new(f);
    tn_optim *o = cell_optim(&s, kind, reg, c.lr, c.lam);
    for (int t = 0; t < STEPS; t++) cell_step(&s, o, t);
    float *straight = ot_snapshot(s.ps);
    tn_optim_free(o);
    store_free(&s);
    /* Saved after SAVE_AT steps. */
    s = store_new(f);
    o = cell_optim(&s, kind, reg, c.lr, c.lam);
    for (int t = 0; t < SAVE_AT; t++) cell_step(&s, o, t);
    tn_st_writer *w = tn_st_writer_new();
    cr_assert_eq(tn_st_add_params(w, s.ps), TN_OK, "%s", tn_error_message());
    cr_assert_eq(tn_optim_save(o, w, "optim."), TN_OK, "%s", tn_error_message());
    cr_assert_eq(tn_st_save(w, tmp_path()), TN_OK, "%s", tn_error_message());
    tn_st_writer_free(w);
    tn_optim_free(o);
    store_free(&s);
    /* Loaded into fresh objects, continued. */
    s = store_new(f);
    o = cell_optim(&s, kind, reg, c.lr, c.lam);
    tn_st_file *ck = NULL;
    cr_assert_eq(tn_st_open(tmp_path(), &ck), TN_OK, "%s", tn_error_message());
    cr_assert_eq(tn_st_load_params(ck, s.ps, "optim."), TN_OK, "%s", tn_error_message());
    cr_assert_eq(tn_optim_load(o, ck, "optim."), TN_OK, "%s: %s", name, tn_error_message());
    tn_st_close(ck);
    unlink(tmp_path());
    cr_assert_eq(tn_optim_steps(o), SAVE_AT);
    for (int t = SAVE_AT; t < STEPS; t++) cell_step(&s, o, t);
    cr_assert_eq(memcmp(tn_params_values(s.ps), straight, tn_params_size(s.ps) * sizeof(float)), 0,
                 "%s: the resumed run differs from the uninterrupted one", name);
    free(straight);
    tn_optim_free(o);
    store_free(&s);
    tn_st_close(f);
}

Test(recent, resume_is_bit_identical_for_every_optimizer_and_mode)
{
    for (size_t k = 0; k < N_RECENT; k++)
        for (int r = 0; r < TN_REG_COUNT; r++) resume_cell(RECENT[k], (tn_reg)r);
}

/* A checkpoint of Adan with another β3 (or LARS with another trust
 * coefficient) is refused: the config check covers the new options. */
Test(recent, load_refuses_other_beta3_and_trust_coeff)
{
    for (int k = 0; k < 2; k++) {
        one x = one_new();
        tn_optim_config c = tn_optim_defaults(k ? TN_OPTIM_LARS : TN_OPTIM_ADAN);
        tn_optim *o = ot_optim_new(x.ps, &c);
        one_step(&x, o, c.lr);
        tn_st_writer *w = tn_st_writer_new();
        cr_assert_eq(tn_optim_save(o, w, NULL), TN_OK, "%s", tn_error_message());
        cr_assert_eq(tn_st_save(w, tmp_path()), TN_OK, "%s", tn_error_message());
        tn_st_writer_free(w);
        if (k) c.trust_coeff = 2e-3;
        else c.beta3 = 0.9;
        tn_optim *other = ot_optim_new(x.ps, &c);
        tn_st_file *f = NULL;
        cr_assert_eq(tn_st_open(tmp_path(), &f), TN_OK);
        cr_assert_eq(tn_optim_load(other, f, NULL), TN_ERR_ARG);
        cr_assert(strstr(tn_error_message(), k ? "trust_coeff" : "beta3"), "%s", tn_error_message());
        cr_assert_eq(tn_optim_steps(other), 0);
        cr_assert_eq(tn_optim_load(o, f, NULL), TN_OK, "%s", tn_error_message());
        tn_st_close(f);
        unlink(tmp_path());
        tn_optim_free(other);
        tn_optim_free(o);
        tn_params_free(x.ps);
    }
}

/* ---------------------------------------------------- defaults and checks */

Test(recent, defaults_are_the_papers_and_reference_codes)
{
    tn_optim_config c = tn_optim_defaults(TN_OPTIM_LION);
    cr_assert(c.lr == 1e-4 && c.beta1 == 0.9 && c.beta2 == 0.99);
    c = tn_optim_defaults(TN_OPTIM_LAMB);
    cr_assert(c.lr == 1e-3 && c.beta1 == 0.9 && c.beta2 == 0.999 && c.eps == 1e-6);
    c = tn_optim_defaults(TN_OPTIM_LARS);
    cr_assert(c.lr == 1.0 && c.momentum == 0.9 && c.trust_coeff == 1e-3 && c.eps == 1e-8);
    c = tn_optim_defaults(TN_OPTIM_ADAN);
    cr_assert(c.lr == 1e-3 && c.beta1 == 0.98 && c.beta2 == 0.92 && c.beta3 == 0.99 &&
              c.eps == 1e-8);
    c = tn_optim_defaults(TN_OPTIM_ADABELIEF);
    cr_assert(c.lr == 1e-3 && c.beta1 == 0.9 && c.beta2 == 0.999 && c.eps == 1e-16);
    const char *names[N_RECENT] = {"lion", "lamb", "lars", "adan", "adabelief"};
    for (size_t k = 0; k < N_RECENT; k++) {
        tn_optim_kind back = TN_OPTIM_COUNT;
        cr_assert_eq(tn_optim_kind_parse(names[k], &back), TN_OK);
        cr_assert_eq(back, RECENT[k]);
    }
    cr_assert(tn_optim_kind_flags(TN_OPTIM_LAMB) & TN_OPTIM_DECAY_IN_UPDATE);
    cr_assert(!(tn_optim_kind_flags(TN_OPTIM_LION) & TN_OPTIM_DECAY_IN_UPDATE));
}

static void refused(tn_optim_config c, const char *what)
{
    one x = one_new();
    tn_optim *o = NULL;
    cr_assert_eq(tn_optim_new(x.ps, &c, &o), TN_ERR_ARG, "%s accepted", what);
    cr_assert_null(o);
    cr_assert(strstr(tn_error_message(), what), "%s: %s", what, tn_error_message());
    tn_params_free(x.ps);
}

Test(recent, bad_options_are_refused)
{
    tn_optim_config c = tn_optim_defaults(TN_OPTIM_ADAN);
    c.beta3 = 1.0;
    refused(c, "beta3");
    c = tn_optim_defaults(TN_OPTIM_LION);
    c.beta2 = -0.1;
    refused(c, "beta2");
    c = tn_optim_defaults(TN_OPTIM_LARS);
    c.trust_coeff = 0.0;
    refused(c, "trust_coeff");
    c = tn_optim_defaults(TN_OPTIM_LARS);
    c.nesterov = true;
    refused(c, "Nesterov");
    /* LAMB's decoupled-lr decay sits inside its trust ratio: no cautious mask. */
    c = tn_optim_defaults(TN_OPTIM_LAMB);
    c.reg = TN_REG_DECOUPLED_LR;
    c.lambda = 0.01;
    c.cautious = true;
    refused(c, "part of its update");
    c.reg = TN_REG_DECOUPLED; /* applied apart from the update: fine */
    one x = one_new();
    tn_optim *o = NULL;
    cr_assert_eq(tn_optim_new(x.ps, &c, &o), TN_OK, "%s", tn_error_message());
    tn_optim_free(o);
    tn_params_free(x.ps);
}
