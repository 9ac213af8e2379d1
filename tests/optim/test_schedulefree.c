/* tests/optim/test_schedulefree.c - schedule-free SGD and AdamW against the
 * float64 trajectories of tests/optim/gen_schedulefree.py (every mode, the
 * cautious flag, other averaging weights), their averaging weights c_t in
 * closed form, the eval/train swap and a bit-identical resume; the cautious
 * and corrected decays on ordinary optimizers; the weights a batch norm
 * follows in a ResNet-20; decay timescales; per-layer angles. */
#include "optim_test_util.h"

#include "nn/nn.h"

#define STEPS 20
#define NW 24
#define SF_TOL 1e-5

typedef struct sf_case {
    const char *name;
    tn_optim_kind kind;
    double alpha;
    tn_reg reg;
    double lambda;
    bool cautious;
    double r, power;
} sf_case;

/* The cases of gen_schedulefree.py, in its order. */
static const sf_case CASES[] = {
    {"sgd.none", TN_OPTIM_SF_SGD, 0.1, TN_REG_NONE, 0.0, false, 0.0, 2.0},
    {"sgd.coupled", TN_OPTIM_SF_SGD, 0.1, TN_REG_COUPLED, 0.5, false, 0.0, 2.0},
    {"sgd.decoupled_lr", TN_OPTIM_SF_SGD, 0.1, TN_REG_DECOUPLED_LR, 0.5, false, 0.0, 2.0},
    {"sgd.decoupled", TN_OPTIM_SF_SGD, 0.1, TN_REG_DECOUPLED, 0.05, false, 0.0, 2.0},
    {"sgd.corrected", TN_OPTIM_SF_SGD, 0.1, TN_REG_CORRECTED, 0.5, false, 0.0, 2.0},
    {"sgd.prox_l2", TN_OPTIM_SF_SGD, 0.1, TN_REG_PROX_L2, 0.05, false, 0.0, 2.0},
    {"sgd.prox_l1", TN_OPTIM_SF_SGD, 0.1, TN_REG_PROX_L1, 0.01, false, 0.0, 2.0},
    {"sgd.cautious", TN_OPTIM_SF_SGD, 0.1, TN_REG_DECOUPLED_LR, 0.5, true, 0.0, 2.0},
    {"sgd.r1_p1", TN_OPTIM_SF_SGD, 0.1, TN_REG_NONE, 0.0, false, 1.0, 1.0},
    {"adamw.none", TN_OPTIM_SF_ADAMW, 0.01, TN_REG_NONE, 0.0, false, 0.0, 2.0},
    {"adamw.coupled", TN_OPTIM_SF_ADAMW, 0.01, TN_REG_COUPLED, 0.5, false, 0.0, 2.0},
    {"adamw.decoupled_lr", TN_OPTIM_SF_ADAMW, 0.01, TN_REG_DECOUPLED_LR, 5.0, false, 0.0, 2.0},
    {"adamw.decoupled", TN_OPTIM_SF_ADAMW, 0.01, TN_REG_DECOUPLED, 0.05, false, 0.0, 2.0},
    {"adamw.corrected", TN_OPTIM_SF_ADAMW, 0.01, TN_REG_CORRECTED, 5.0, false, 0.0, 2.0},
    {"adamw.prox_l2", TN_OPTIM_SF_ADAMW, 0.01, TN_REG_PROX_L2, 0.05, false, 0.0, 2.0},
    {"adamw.cautious", TN_OPTIM_SF_ADAMW, 0.01, TN_REG_DECOUPLED, 0.05, true, 0.0, 2.0},
};
#define N_CASES (sizeof CASES / sizeof *CASES)

typedef struct sf_data {
    float init[NW], a[NW], b[NW], noise[STEPS * NW];
} sf_data;

static void sf_data_read(const tn_st_file *f, sf_data *d)
{
    cr_assert_eq(tn_st_read_into(f, "init", TN_SHAPE(4, 6), d->init), TN_OK);
    cr_assert_eq(tn_st_read_into(f, "a", TN_SHAPE(4, 6), d->a), TN_OK);
    cr_assert_eq(tn_st_read_into(f, "b", TN_SHAPE(4, 6), d->b), TN_OK);
    cr_assert_eq(tn_st_read_into(f, "noise", TN_SHAPE(STEPS, 4, 6), d->noise), TN_OK);
}

/* g = a·(y − b) + noise[t] at the store's weights y. */
static void sf_grad(tn_params *ps, const sf_data *d, int t)
{
    const float *y = tn_params_values(ps);
    float *g = tn_params_grads(ps);
    for (int i = 0; i < NW; i++) g[i] = d->a[i] * (y[i] - d->b[i]) + d->noise[t * NW + i];
}

static tn_optim_config sf_config(const sf_case *c)
{
    tn_optim_config cfg = tn_optim_defaults(c->kind);
    cfg.lr = c->alpha;
    cfg.reg = c->reg;
    cfg.lambda = c->lambda;
    cfg.cautious = c->cautious;
    cfg.sf_r = c->r;
    cfg.weight_lr_power = c->power;
    return cfg;
}

/* The lr of step t, as the fixture's metadata writes it. */
static double sf_lr(const tn_st_file *f, const char *name, int t)
{
    char key[128];
    snprintf(key, sizeof key, "lr.%s", name);
    const char *s = tn_st_meta(f, key);
    cr_assert(s, "%s", key);
    for (int i = 0; i < t; i++) s = strchr(s, ',') + 1;
    return strtod(s, NULL);
}

Test(schedulefree, trajectories_match_the_float64_reference)
{
    tn_st_file *f = ot_open("schedulefree.safetensors");
    sf_data d;
    sf_data_read(f, &d);
    for (size_t ci = 0; ci < N_CASES; ci++) {
        const sf_case *c = &CASES[ci];
        tn_params *ps = tn_params_new();
        tn_tensor *w = tn_params_add(ps, "w", TN_SHAPE(4, 6), TN_PARAM);
        memcpy(w->data, d.init, sizeof d.init);
        tn_optim_config cfg = sf_config(c);
        tn_optim *o = ot_optim_new(ps, &cfg);
        float want[3][STEPS * NW];
        const char *what[3] = {"y", "x", "z"};
        for (int k = 0; k < 3; k++) {
            char name[128];
            snprintf(name, sizeof name, "%s.%s", c->name, what[k]);
            cr_assert_eq(tn_st_read_into(f, name, TN_SHAPE(STEPS, 4, 6), want[k]), TN_OK, "%s",
                         name);
        }
        const double beta = c->kind == TN_OPTIM_SF_ADAMW ? cfg.beta1 : cfg.momentum;
        double worst = 0.0;
        for (int t = 0; t < STEPS; t++) {
            sf_grad(ps, &d, t);
            tn_optim_step(o, sf_lr(f, c->name, t));
            float y[NW], x[NW], z[NW];
            memcpy(y, w->data, sizeof y);
            tn_optim_eval_weights(o);
            memcpy(x, w->data, sizeof x);
            tn_optim_train_weights(o);
            cr_assert_eq(memcmp(y, w->data, sizeof y), 0, "%s: the swap back changed y", c->name);
            for (int i = 0; i < NW; i++) z[i] = (float)((y[i] - beta * x[i]) / (1.0 - beta));
            const float *got[3] = {y, x, z};
            for (int k = 0; k < 3; k++) {
                /* z is recovered from y and x: 1/(1 − β) = 10 times their rounding */
                const double tol = k == 2 ? 10.0 * SF_TOL : SF_TOL;
                double r = ot_max_rel(got[k], want[k] + t * NW, NW, 1e-2);
                worst = fmax(worst, k == 2 ? r / 10.0 : r);
                cr_assert(r <= tol, "%s step %d: %s off by %.3g relative", c->name, t + 1,
                          what[k], r);
            }
        }
        cr_log_info("%s: worst relative deviation %.3g", c->name, worst);
        tn_optim_free(o);
        tn_params_free(ps);
    }
    tn_st_close(f);
}

Test(schedulefree, the_modes_change_the_trajectory)
{
    /* Each decayed case differs from the undecayed one of its optimizer by
     * far more than the tolerance, so the comparison above can fail. */
    tn_st_file *f = ot_open("schedulefree.safetensors");
    float none[2][STEPS * NW], got[STEPS * NW];
    cr_assert_eq(tn_st_read_into(f, "sgd.none.y", TN_SHAPE(STEPS, 4, 6), none[0]), TN_OK);
    cr_assert_eq(tn_st_read_into(f, "adamw.none.y", TN_SHAPE(STEPS, 4, 6), none[1]), TN_OK);
    for (size_t ci = 0; ci < N_CASES; ci++) {
        if (CASES[ci].reg == TN_REG_NONE && CASES[ci].r == 0.0) continue;
        char name[128];
        snprintf(name, sizeof name, "%s.y", CASES[ci].name);
        cr_assert_eq(tn_st_read_into(f, name, TN_SHAPE(STEPS, 4, 6), got), TN_OK);
        const float *ref = none[CASES[ci].kind == TN_OPTIM_SF_ADAMW];
        double r = ot_max_rel(got + (STEPS - 1) * NW, ref + (STEPS - 1) * NW, NW, 1e-2);
        cr_assert(r > 1e-3, "%s differs from no decay by only %.3g", CASES[ci].name, r);
    }
    /* cautious differs from its plain mode */
    float plain[STEPS * NW];
    cr_assert_eq(tn_st_read_into(f, "sgd.decoupled_lr.y", TN_SHAPE(STEPS, 4, 6), plain), TN_OK);
    cr_assert_eq(tn_st_read_into(f, "sgd.cautious.y", TN_SHAPE(STEPS, 4, 6), got), TN_OK);
    cr_assert(ot_max_rel(got + (STEPS - 1) * NW, plain + (STEPS - 1) * NW, NW, 1e-2) > 1e-3);
    tn_st_close(f);
}

/* c_t = t^r·lr_max^p / Σ_i i^r·lr_max_i^p: 1/t at a constant lr with r = 0,
 * 2/(t + 1) with r = 1; after a warm-up the weights of the warm-up steps
 * are smaller.  And x is the c-weighted average of the z's. */
Test(schedulefree, averaging_weights_in_closed_form)
{
    for (int variant = 0; variant < 3; variant++) {
        tn_params *ps = tn_params_new();
        tn_tensor *w = tn_params_add(ps, "w", TN_SHAPE(2, 3), TN_PARAM);
        for (int i = 0; i < 6; i++) w->data[i] = (float)(i - 2);
        tn_optim_config cfg = tn_optim_defaults(TN_OPTIM_SF_SGD);
        cfg.lr = 0.5;
        if (variant == 1) cfg.sf_r = 1.0;
        tn_optim *o = ot_optim_new(ps, &cfg);
        cr_assert_eq(tn_optim_sf_average_weight(o), 0.0);
        double sum = 0.0, zsum[6] = {0}, z[6];
        for (int i = 0; i < 6; i++) z[i] = w->data[i];
        for (int t = 1; t <= 30; t++) {
            const double lr = variant == 2 ? 0.5 * fmin(1.0, t / 10.0) : 0.5;
            for (int i = 0; i < 6; i++) tn_params_grads(ps)[i] = (float)(0.1 * (i + 1));
            tn_optim_step(o, lr);
            const double wt = (variant == 1 ? t : 1.0) * lr * lr; /* lr_max = lr here */
            sum += wt;
            const double c = tn_optim_sf_average_weight(o);
            cr_assert_float_eq(c, wt / sum, 1e-15, "variant %d t %d: c %.17g", variant, t, c);
            if (variant == 0) cr_assert_float_eq(c, 1.0 / t, 1e-15);
            if (variant == 1) cr_assert_float_eq(c, 2.0 / (t + 1), 1e-15);
            cr_assert_eq(tn_optim_sf_lr_max(o), lr);
            for (int i = 0; i < 6; i++) {
                z[i] -= lr * 0.1 * (i + 1);
                zsum[i] += wt * z[i];
            }
        }
        /* x = Σ c-weights·z_t / Σ weights; y = 0.1·z + 0.9·x */
        float y[6];
        memcpy(y, w->data, sizeof y);
        tn_optim_eval_weights(o);
        for (int i = 0; i < 6; i++) {
            const double x = zsum[i] / sum;
            cr_assert(fabs(w->data[i] - x) <= 1e-5 * fmax(1.0, fabs(x)), "x[%d] %g, want %g", i,
                      w->data[i], x);
            const double yy = 0.1 * z[i] + 0.9 * x;
            cr_assert(fabs(y[i] - yy) <= 1e-5 * fmax(1.0, fabs(yy)), "y[%d] %g, want %g", i, y[i],
                      yy);
        }
        tn_optim_free(o);
        tn_params_free(ps);
    }
}

Test(schedulefree, swaps_are_no_ops_for_other_optimizers)
{
    tn_params *ps = tn_params_new();
    tn_tensor *w = tn_params_add(ps, "w", TN_SHAPE(2, 3), TN_PARAM);
    for (int i = 0; i < 6; i++) w->data[i] = (float)i, w->grad[i] = 1.0f;
    tn_optim_config cfg = tn_optim_adam(0.1);
    tn_optim *o = ot_optim_new(ps, &cfg);
    tn_optim_step(o, 0.1);
    float before[6];
    memcpy(before, w->data, sizeof before);
    tn_optim_eval_weights(o);
    cr_assert_eq(memcmp(before, w->data, sizeof before), 0);
    tn_optim_step(o, 0.1); /* no eval state: steps */
    tn_optim_train_weights(o);
    cr_assert_eq(tn_optim_sf_average_weight(o), 0.0);
    tn_optim_free(o);
    tn_params_free(ps);
}

Test(schedulefree, step_in_eval_state_aborts, .signal = SIGABRT)
{
    tn_params *ps = tn_params_new();
    tn_tensor *w = tn_params_add(ps, "w", TN_SHAPE(2, 3), TN_PARAM);
    (void)w;
    tn_optim_config cfg = tn_optim_defaults(TN_OPTIM_SF_ADAMW);
    tn_optim *o = ot_optim_new(ps, &cfg);
    tn_optim_step(o, 0.01);
    tn_optim_eval_weights(o);
    tn_optim_step(o, 0.01);
}

Test(schedulefree, options_are_checked)
{
    tn_params *ps = tn_params_new();
    tn_params_add(ps, "w", TN_SHAPE(2, 3), TN_PARAM);
    tn_optim *o = NULL;
    tn_optim_config cfg = tn_optim_defaults(TN_OPTIM_SF_SGD);
    cr_assert_eq(cfg.momentum, 0.9);
    cr_assert_eq(cfg.weight_lr_power, 2.0);
    cr_assert_eq(cfg.sf_r, 0.0);
    cr_assert_eq(tn_optim_defaults(TN_OPTIM_SF_ADAMW).lr, 2.5e-3);
    cfg.momentum = 1.5;
    cr_assert_eq(tn_optim_new(ps, &cfg, &o), TN_ERR_ARG);
    cr_assert(strstr(tn_error_message(), "momentum"), "%s", tn_error_message());
    cfg = tn_optim_defaults(TN_OPTIM_SF_ADAMW);
    cfg.weight_lr_power = -1.0;
    cr_assert_eq(tn_optim_new(ps, &cfg, &o), TN_ERR_ARG);
    /* cautious only with the decoupled modes */
    cfg = tn_optim_adam(1e-3);
    cfg.reg = TN_REG_COUPLED;
    cfg.lambda = 0.1;
    cfg.cautious = true;
    cr_assert_eq(tn_optim_new(ps, &cfg, &o), TN_ERR_ARG);
    cr_assert(strstr(tn_error_message(), "cautious") && strstr(tn_error_message(), "coupled"),
              "%s", tn_error_message());
    cfg.reg = TN_REG_CORRECTED;
    cr_assert_eq(tn_optim_new(ps, &cfg, &o), TN_OK, "%s", tn_error_message());
    tn_optim_free(o);
    tn_params_free(ps);
}

/* ---------------------------------------------------------- resume */

static void sf_run(tn_params *ps, tn_optim *o, const sf_data *d, int from, int to)
{
    tn_optim_train_weights(o);
    for (int t = from; t < to; t++) {
        sf_grad(ps, d, t % STEPS);
        tn_optim_step(o, 0.05 * fmin(1.0, (t + 1) / 4.0));
    }
}

static const char *sf_tmp(void)
{
    static char dir[4096], path[4200];
    if (!dir[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/tenet_sf_XXXXXX", t && *t ? t : "/tmp");
        cr_assert(mkdtemp(dir), "mkdtemp");
    }
    snprintf(path, sizeof path, "%s/ckpt.safetensors", dir);
    return path;
}

Test(schedulefree, resume_is_bit_identical)
{
    tn_st_file *f = ot_open("schedulefree.safetensors");
    sf_data d;
    sf_data_read(f, &d);
    tn_st_close(f);
    for (int k = 0; k < 2; k++) {
        tn_optim_config cfg = tn_optim_defaults(k ? TN_OPTIM_SF_ADAMW : TN_OPTIM_SF_SGD);
        cfg.lr = 0.05;
        cfg.reg = TN_REG_DECOUPLED;
        cfg.lambda = 0.1;
        cfg.cautious = k == 1;
        /* straight through, with an evaluation at step 7 */
        tn_params *ps = tn_params_new();
        tn_tensor *w = tn_params_add(ps, "w", TN_SHAPE(4, 6), TN_PARAM);
        memcpy(w->data, d.init, sizeof d.init);
        tn_optim *o = ot_optim_new(ps, &cfg);
        sf_run(ps, o, &d, 0, 7);
        tn_optim_eval_weights(o);
        float x7[NW];
        memcpy(x7, w->data, sizeof x7);
        sf_run(ps, o, &d, 7, 15);
        float straight[NW];
        memcpy(straight, w->data, sizeof straight);
        tn_optim_eval_weights(o);
        float straight_x[NW];
        memcpy(straight_x, w->data, sizeof straight_x);
        tn_optim_free(o);
        tn_params_free(ps);
        /* interrupted at 7: the model saved in the eval state (x) */
        ps = tn_params_new();
        w = tn_params_add(ps, "w", TN_SHAPE(4, 6), TN_PARAM);
        memcpy(w->data, d.init, sizeof d.init);
        o = ot_optim_new(ps, &cfg);
        sf_run(ps, o, &d, 0, 7);
        tn_optim_eval_weights(o);
        tn_st_writer *wr = tn_st_writer_new();
        cr_assert_eq(tn_st_add_params(wr, ps), TN_OK);
        cr_assert_eq(tn_optim_save(o, wr, "optim."), TN_OK, "%s", tn_error_message());
        cr_assert_eq(tn_st_save(wr, sf_tmp()), TN_OK, "%s", tn_error_message());
        tn_st_writer_free(wr);
        tn_optim_free(o);
        tn_params_free(ps);
        /* a fresh run loads it */
        ps = tn_params_new();
        w = tn_params_add(ps, "w", TN_SHAPE(4, 6), TN_PARAM);
        o = ot_optim_new(ps, &cfg);
        tn_st_file *ck = NULL;
        cr_assert_eq(tn_st_open(sf_tmp(), &ck), TN_OK);
        cr_assert_eq(tn_st_load_params(ck, ps, "optim."), TN_OK, "%s", tn_error_message());
        cr_assert_eq(tn_optim_load(o, ck, "optim."), TN_OK, "%s", tn_error_message());
        tn_st_close(ck);
        cr_assert_eq(memcmp(w->data, x7, sizeof x7), 0, "the saved model is x");
        sf_run(ps, o, &d, 7, 15);
        cr_assert_eq(memcmp(w->data, straight, sizeof straight), 0, "k %d: y after resume", k);
        tn_optim_eval_weights(o);
        cr_assert_eq(memcmp(w->data, straight_x, sizeof straight_x), 0, "k %d: x after resume",
                     k);
        tn_optim_free(o);
        tn_params_free(ps);
    }
}

/* -------------------------------------------- cautious, corrected */

/* SGD (update u = lr·g) with cautious decoupled decay: a weight whose
 * update has the other sign (or none) moves exactly as without decay; one
 * with the same sign is also shrunk by d·w. */
Test(cautious, decays_only_where_the_update_has_the_weights_sign)
{
    const float w0[8] = {1.0f, 1.0f, -1.0f, -1.0f, 2.0f, -3.0f, 0.5f, -0.5f};
    const float g[8] = {0.5f, -0.5f, 0.5f, -0.5f, 0.0f, 1.0f, 2.0f, -2.0f};
    float out[2][8];
    for (int cautious = 0; cautious < 2; cautious++) {
        tn_params *ps = tn_params_new();
        tn_tensor *w = tn_params_add(ps, "w", TN_SHAPE(2, 4), TN_PARAM);
        memcpy(w->data, w0, sizeof w0);
        memcpy(w->grad, g, sizeof g);
        tn_optim_config cfg = tn_optim_sgdw(0.1, 0.0, 0.2); /* d = η·λ = 0.2 */
        cfg.cautious = cautious;
        tn_optim *o = ot_optim_new(ps, &cfg);
        tn_optim_step(o, 0.1);
        memcpy(out[cautious], w->data, sizeof out[0]);
        tn_optim_free(o);
        tn_params_free(ps);
    }
    for (int i = 0; i < 8; i++) {
        const float moved = w0[i] - 0.1f * g[i];
        cr_assert_float_eq(out[0][i], moved - 0.2f * w0[i], 1e-6, "plain decay %d", i);
        const bool same = g[i] * w0[i] > 0.0f;
        const float want = same ? moved - 0.2f * w0[i] : moved;
        cr_assert_float_eq(out[1][i], want, 1e-6, "cautious %d: %g, want %g", i, out[1][i], want);
        if (!same) cr_assert(fabsf(out[1][i]) >= fabsf(moved), "cautious shrank weight %d", i);
    }
}

/* Adam with zero gradients makes no update, so the corrected mode's shrink
 * per step is exactly its rate: 1 − w(t+1)/w(t) = λ·lr_t²/α_g, for the
 * default group and one at another base lr, under a schedule. */
Test(corrected, per_step_decay_is_lambda_lr_squared_over_lr_max)
{
    tn_params *ps = tn_params_new();
    tn_tensor *a = tn_params_add(ps, "a.weight", TN_SHAPE(2, 3), TN_PARAM);
    tn_tensor *b = tn_params_add(ps, "b.weight", TN_SHAPE(2, 3), TN_PARAM);
    for (int i = 0; i < 6; i++) a->data[i] = b->data[i] = 1.0f + (float)i;
    tn_optim_config cfg = tn_optim_adam(0.1);
    cfg.reg = TN_REG_CORRECTED;
    cfg.lambda = 0.5;
    tn_optim *o = ot_optim_new(ps, &cfg);
    cr_assert_eq(tn_optim_group_add(o, &(tn_optim_group){.prefix = "b.", .lr = 0.05,
                                                         .reg = TN_REG_CORRECTED, .lambda = 0.5},
                                    NULL),
                 TN_OK);
    tn_sched s = tn_sched_cosine(10, 0.0);
    for (int t = 0; t < 8; t++) {
        const double lr = tn_sched_lr(&s, 0.1, t);
        const float a0 = a->data[3], b0 = b->data[3];
        tn_params_zero_grad(ps);
        tn_optim_step(o, lr);
        const double lr_b = lr * 0.5;
        cr_assert_float_eq(1.0 - a->data[3] / a0, 0.5 * lr * lr / 0.1, 2e-6, "a at %d", t);
        cr_assert_float_eq(1.0 - b->data[3] / b0, 0.5 * lr_b * lr_b / 0.05, 2e-6, "b at %d", t);
    }
    tn_optim_free(o);
    tn_params_free(ps);
}

/* ---------------------------------------- weights before a batch norm */

static tn_tensor *resnet_forward(tn_graph *g, void *ctx)
{
    static float x[2 * 3 * 8 * 8];
    for (size_t i = 0; i < sizeof x / sizeof *x; i++) x[i] = (float)((i * 37) % 11) / 11.0f;
    return tn_resnet_forward(g, ctx, tn_from_data(g, TN_SHAPE(2, 3, 8, 8), x));
}

static size_t marked_resnet(tn_resnet_variant variant, tn_resnet_shortcut shortcut,
                            bool (*expect)(const char *name))
{
    tn_params *ps = tn_params_new();
    tn_rng rng;
    tn_rng_seed(&rng, 1, 0);
    tn_resnet *net = NULL;
    tn_resnet_config rc = {.depth = 20, .variant = variant, .shortcut = shortcut};
    cr_assert_eq(tn_resnet_new(&net, ps, &rc, &rng), TN_OK, "%s", tn_error_message());
    tn_graph *g = tn_graph_new();
    /* stale flags must go */
    tn_params_set_flags(ps, 0, tn_params_flags(ps, 0) | TN_OPTIM_NORMALIZED);
    const size_t last = tn_params_count(ps) - 1;
    if (tn_params_flags(ps, last) & TN_PARAM)
        tn_params_set_flags(ps, last, tn_params_flags(ps, last) | TN_OPTIM_NORMALIZED);
    float *before = ot_snapshot(ps);
    size_t count = 0;
    cr_assert_eq(tn_optim_mark_normalized(ps, g, resnet_forward, net, &count), TN_OK);
    cr_assert_eq(memcmp(before, tn_params_values(ps), tn_params_size(ps) * sizeof(float)), 0,
                 "the forward pass changed the store (running statistics)");
    cr_assert(tn_graph_training(g), "training mode restored");
    size_t flagged = 0;
    for (size_t i = 0; i < tn_params_count(ps); i++) {
        const char *name = tn_params_at(ps, i)->name;
        const bool f = tn_params_flags(ps, i) & TN_OPTIM_NORMALIZED;
        cr_assert_eq(f, expect(name), "%s: flagged %d", name, f);
        flagged += f;
    }
    cr_assert_eq(flagged, count);
    free(before);
    tn_graph_free(g);
    tn_resnet_free(net);
    tn_params_free(ps);
    return count;
}

static bool conv_weight(const char *name)
{
    const size_t n = strlen(name);
    return n >= 12 && strcmp(name + n - 12, "conv1.weight") == 0 ? true
           : n >= 12 && strcmp(name + n - 12, "conv2.weight") == 0 ? true
           : strstr(name, "shortcut.0.weight") != NULL;
}

static bool nothing(const char *name)
{
    (void)name;
    return false;
}

Test(normalized, resnet20_conv_weights_before_batch_norms)
{
    /* stem + 9 blocks × 2 convs, option A: 19 */
    cr_assert_eq(marked_resnet(TN_RESNET_BN, TN_RESNET_SHORTCUT_A, conv_weight), 19);
    /* option B adds the two projections, each followed by its BN */
    cr_assert_eq(marked_resnet(TN_RESNET_BN, TN_RESNET_SHORTCUT_B, conv_weight), 21);
    cr_assert_eq(marked_resnet(TN_RESNET_NO_BN, TN_RESNET_SHORTCUT_A, nothing), 0);
}

/* ------------------------------------------------------ timescale */

Test(tau, round_trip_and_units)
{
    const tn_reg modes[] = {TN_REG_DECOUPLED_LR, TN_REG_CORRECTED, TN_REG_COUPLED, TN_REG_L2,
                            TN_REG_DECOUPLED, TN_REG_PROX_L2};
    for (size_t i = 0; i < sizeof modes / sizeof *modes; i++) {
        double lam = 0.0, tau = 0.0;
        cr_assert_eq(tn_optim_decay_from_tau(50.0, 1e-3, 391.0, modes[i], &lam), TN_OK);
        cr_assert_eq(tn_optim_tau_from_decay(lam, 1e-3, 391.0, modes[i], &tau), TN_OK);
        cr_assert_float_eq(tau, 50.0, 1e-12, "%s", tn_reg_name(modes[i]));
        /* per-step shrink at the peak lr = 1/τ_iter */
        const bool lr_scaled = i < 4;
        const double shrink = lr_scaled ? 1e-3 * lam : lam;
        cr_assert_float_eq(shrink * 50.0 * 391.0, 1.0, 1e-12, "%s", tn_reg_name(modes[i]));
    }
    double lam = 1.0;
    cr_assert_eq(tn_optim_decay_from_tau(10.0, 0.1, 100.0, TN_REG_NONE, &lam), TN_OK);
    cr_assert_eq(lam, 0.0);
    lam = 7.0;
    cr_assert_eq(tn_optim_decay_from_tau(10.0, 0.1, 100.0, TN_REG_L1, &lam), TN_ERR_ARG);
    cr_assert(strstr(tn_error_message(), "l1"), "%s", tn_error_message());
    cr_assert_eq(tn_optim_decay_from_tau(0.0, 0.1, 100.0, TN_REG_DECOUPLED, &lam), TN_ERR_ARG);
    cr_assert_eq(lam, 7.0, "a failed call wrote its output");
}

/* ------------------------------------------------------ layer stats */

Test(layer_stats, norms_and_angles)
{
    tn_params *ps = tn_params_new();
    tn_tensor *w = tn_params_add(ps, "fc.weight", TN_SHAPE(1, 2), TN_PARAM);
    tn_params_add(ps, "fc.bias", TN_SHAPE(2), TN_PARAM);
    tn_tensor *v = tn_params_add(ps, "v.weight", TN_SHAPE(2, 2), TN_PARAM);
    w->data[0] = 3.0f, w->data[1] = 4.0f;
    for (int i = 0; i < 4; i++) v->data[i] = 1.0f;
    float *prev = ot_snapshot(ps);
    w->data[0] = -4.0f, w->data[1] = 3.0f;    /* rotated by 90° */
    for (int i = 0; i < 4; i++) v->data[i] = 2.0f; /* scaled only */
    tn_layer_stat st[4];
    cr_assert_eq(tn_optim_layer_stats(ps, prev, st, 4), 2, "the bias (1 dim) is left out");
    cr_assert_str_eq(st[0].name, "fc.weight");
    cr_assert_float_eq(st[0].norm, 5.0, 1e-12);
    cr_assert_float_eq(st[0].angle, acos(0.0), 1e-9);
    cr_assert_float_eq(st[1].norm, 4.0, 1e-12);
    cr_assert_float_eq(st[1].angle, 0.0, 1e-6);
    cr_assert_eq(tn_optim_layer_stats(ps, prev, st, 1), 2, "the count beyond cap");
    free(prev);
    tn_params_free(ps);
}
