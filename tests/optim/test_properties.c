/* tests/optim/test_properties.c - closed-form and structural properties of
 * the optimizers and regularisation modes, on the tiny MLP of the fixtures
 * (its data and initial parameters) with tenet's own gradients:
 *   L2-in-the-loss = coupled; SGD-L2 = SGDW with λ' = lr·λ; the torch and
 *   paper AdamW conventions agree under λ_paper = α·λ_torch; Adam with
 *   β1 = β2 = ε = 0, lr 1 is sign descent; scale-freeness of AdamW/AdamProx
 *   (ε = 0) but not of Adam-L2; proximal L1 gives exact zeros, the
 *   subgradient does not; AdamProx - AdamW = O(λη²); decay masks; groups;
 *   clipping; bad options. */
#include "optim_test_util.h"

#define STEPS 20

/* Every optimizer: the kinds 0 .. TN_OPTIM_COUNT - 1. */
#define N_KINDS ((size_t)TN_OPTIM_COUNT)
#define all_kinds(k) ((tn_optim_kind)(k))

typedef struct run_opts {
    float loss_scale;
    bool ce;
    const tn_sched *sched; /* NULL: constant lr */
    int steps;
} run_opts;

/* Train the fixture MLP with cfg for opts.steps steps (biases decayed too
 * unless mask); returns the final store values (malloc'ed). */
static float *train(const tn_optim_config *cfg, run_opts opts, bool mask)
{
    tn_st_file *f = ot_open("trajectories.safetensors");
    ot_mlp *m = ot_mlp_new(f);
    tn_st_close(f);
    tn_optim *o = ot_optim_new(m->ps, cfg);
    cr_assert(o, "%s", tn_error_message());
    tn_optim_group_at(o, 0)->decay_no_decay = !mask;
    int steps = opts.steps ? opts.steps : STEPS;
    float scale = opts.loss_scale != 0.0f ? opts.loss_scale : 1.0f;
    for (int t = 0; t < steps; t++) {
        ot_mlp_grad(m, o, opts.ce, scale);
        tn_optim_step(o, opts.sched ? tn_sched_lr(opts.sched, cfg->lr, t) : cfg->lr);
    }
    float *v = ot_snapshot(m->ps);
    tn_optim_free(o);
    ot_mlp_free(m);
    return v;
}

static size_t store_size(void)
{
    tn_st_file *f = ot_open("trajectories.safetensors");
    ot_mlp *m = ot_mlp_new(f);
    size_t n = tn_params_size(m->ps);
    ot_mlp_free(m);
    tn_st_close(f);
    return n;
}

/* max |a - b| / max(|b|, 1e-2) over the store */
static double deviation(const float *a, const float *b)
{
    return ot_max_rel(a, b, store_size(), 1e-2);
}

static tn_optim_config with_reg(tn_optim_config c, tn_reg reg, double lambda)
{
    c.reg = reg;
    c.lambda = lambda;
    return c;
}

/* ------------------------------------------------------------ L2 = coupled */

Test(properties, l2_in_the_loss_equals_coupled_for_every_optimizer)
{
    tn_sched cos = tn_sched_cosine(STEPS, 0.0);
    for (size_t k = 0; k < N_KINDS; k++) {
        tn_optim_config c = tn_optim_defaults(all_kinds(k));
        /* LARS's coupled mode also puts λ·‖w‖ in its trust ratio's denominator
         * (the paper's and timm's form), which ‖g + λw‖ of L2 in the loss does
         * not: test_recent.c checks both modes against float64 references. */
        if (c.kind == TN_OPTIM_LARS) continue;
        if (tn_optim_kind_flags(c.kind) & TN_OPTIM_USES_MOMENTUM) c.momentum = 0.9;
        for (int mask = 0; mask < 2; mask++) {
            run_opts o = {.sched = &cos, .ce = mask};
            tn_optim_config a = with_reg(c, TN_REG_L2, 0.05), b = with_reg(c, TN_REG_COUPLED, 0.05);
            float *l2 = train(&a, o, mask), *cp = train(&b, o, mask);
            float *none = train(&c, o, mask);
            double d = deviation(l2, cp);
            cr_assert(d <= 1e-5, "kind %d mask %d: L2-in-the-loss vs coupled differ by %.3g",
                      (int)c.kind, mask, d);
            /* ... and the decay did something */
            cr_assert(deviation(none, cp) > 1e-4, "kind %d: decay had no effect", (int)c.kind);
            free(l2);
            free(cp);
            free(none);
        }
    }
}

Test(properties, penalty_values)
{
    tn_st_file *f = ot_open("trajectories.safetensors");
    ot_mlp *m = ot_mlp_new(f);
    tn_st_close(f);
    tn_optim_config c = with_reg(tn_optim_sgd(0.1), TN_REG_L2, 0.3);
    tn_optim *o = ot_optim_new(m->ps, &c);
    size_t gi = ot_group_add(o, (tn_optim_group){.prefix = "fc2.", .reg = TN_REG_L1,
                                                     .lambda = 0.7});
    cr_assert_eq(gi, 1);
    double want = 0.0, sq = 0.0, ab = 0.0;
    for (size_t j = 0; j < m->w1->numel; j++) sq += (double)m->w1->data[j] * m->w1->data[j];
    for (size_t j = 0; j < m->w2->numel; j++) ab += fabs((double)m->w2->data[j]);
    want = 0.3 / 2 * sq + 0.7 * ab; /* biases are TN_NO_DECAY: not in the penalty */
    tn_tensor *p = tn_optim_penalty(o, m->g);
    cr_assert_eq(p->ndim, 0);
    cr_assert_float_eq(p->data[0], want, 1e-6 * want);
    /* Its gradient: λ·w for fc1.weight, λ·sign(w) for fc2.weight, 0 for biases. */
    tn_params_zero_grad(m->ps);
    cr_assert_eq(tn_backward(m->g, p), TN_OK);
    for (size_t j = 0; j < m->w1->numel; j++)
        cr_assert_float_eq(m->w1->grad[j], 0.3f * m->w1->data[j], 1e-7);
    for (size_t j = 0; j < m->w2->numel; j++)
        cr_assert_eq(m->w2->grad[j], m->w2->data[j] > 0 ? 0.7f : -0.7f);
    for (size_t j = 0; j < m->b1->numel; j++) cr_assert_eq(m->b1->grad[j], 0.0f);
    /* No group in a loss mode: a 0-dim zero. */
    tn_graph_reset(m->g);
    tn_optim_group_at(o, 0)->reg = TN_REG_COUPLED;
    tn_optim_group_at(o, 1)->reg = TN_REG_PROX_L1;
    p = tn_optim_penalty(o, m->g);
    cr_assert_eq(p->ndim, 0);
    cr_assert_eq(p->data[0], 0.0f);
    tn_optim_free(o);
    ot_mlp_free(m);
}

/* --------------------------------------------------- SGD-L2 = SGDW (μ = 0) */

Test(properties, sgd_l2_equals_sgdw_with_lr_times_lambda)
{
    const double lr = 0.1, lam = 0.2;
    tn_sched cos = tn_sched_cosine(STEPS, 0.0);
    for (int sched = 0; sched < 2; sched++) {
        run_opts o = {.sched = sched ? &cos : NULL};
        tn_optim_config l2 = with_reg(tn_optim_sgd(lr), TN_REG_L2, lam);
        tn_optim_config w = tn_optim_sgdw(lr, 0.0, lr * lam);
        float *a = train(&l2, o, false), *b = train(&w, o, false);
        double d = deviation(a, b);
        cr_assert(d <= 1e-5, "schedule %d: SGD-L2 vs SGDW differ by %.3g", sched, d);
        free(a);
        free(b);
    }
}

Test(properties, adamw_torch_and_paper_conventions_agree)
{
    const double lr = 0.01, lam_torch = 0.5;
    tn_sched cos = tn_sched_cosine(STEPS, 0.0);
    run_opts o = {.sched = &cos};
    tn_optim_config t = tn_optim_adamw_torch(lr, lam_torch);
    tn_optim_config p = tn_optim_adamw_paper(lr, tn_optim_decay_paper_from_torch(lr, lam_torch));
    float *a = train(&t, o, false), *b = train(&p, o, false);
    double d = deviation(a, b);
    /* Equal decays; they differ by rounding only: torch's form multiplies by
     * float32(1 − lr_t·λ), the paper's computes w − η_t·λ·w in one fmaf. */
    cr_assert(d <= 1e-5, "AdamW torch vs paper convention differ by %.3g", d);
    /* With the same λ in both, they are far apart (the paper's decays α times more). */
    tn_optim_config p2 = tn_optim_adamw_paper(lr, lam_torch);
    float *c = train(&p2, o, false);
    cr_assert(deviation(c, a) > 1e-2);
    free(a);
    free(b);
    free(c);
}

/* --------------------------------------------------------- sign descent */

Test(properties, adam_without_betas_and_eps_is_sign_descent)
{
    tn_params *ps = tn_params_new();
    tn_tensor *p = tn_params_add(ps, "w", TN_SHAPE(5, 7), TN_PARAM);
    tn_rng rng;
    tn_rng_seed(&rng, 11, 0);
    tn_fill_normal(p->data, p->numel, 0.0f, 1.0f, &rng);
    tn_optim_config c = tn_optim_adam(1.0);
    c.beta1 = c.beta2 = c.eps = 0.0;
    tn_optim *o = ot_optim_new(ps, &c);
    cr_assert(o, "%s", tn_error_message());
    float before[35];
    for (int t = 0; t < 10; t++) {
        memcpy(before, p->data, sizeof before);
        for (size_t j = 0; j < p->numel; j++) {
            float g = tn_rng_normal(&rng) * powf(10.0f, (float)(j % 7) - 3.0f);
            p->grad[j] = g == 0.0f ? 1.0f : g;
        }
        tn_optim_step(o, 1.0);
        for (size_t j = 0; j < p->numel; j++)
            cr_assert_eq(p->data[j], before[j] - (p->grad[j] > 0 ? 1.0f : -1.0f),
                         "step %d [%zu]: %.9g from %.9g, grad %.3g", t, j, p->data[j], before[j],
                         p->grad[j]);
    }
    tn_optim_free(o);
    tn_params_free(ps);
}

/* -------------------------------------------------------- scale-freeness */

Test(properties, scale_freeness_of_adamw_and_adamprox_not_adam_l2)
{
    const double lr = 0.01, lam = 0.1;
    tn_optim_config kinds[3] = {tn_optim_adamw_torch(lr, lam), tn_optim_adamw_paper(lr, lam),
                                tn_optim_adamprox(lr, lam)};
    for (int k = 0; k < 3; k++) {
        kinds[k].eps = 0.0;
        float *ref = train(&kinds[k], (run_opts){.loss_scale = 1.0f}, false);
        for (float c = 10.0f; c <= 100.0f; c *= 10.0f) {
            float *s = train(&kinds[k], (run_opts){.loss_scale = c}, false);
            double d = deviation(s, ref);
            cr_assert(d <= 1e-5, "mode %d: loss x%g changes the trajectory by %.3g",
                      (int)kinds[k].reg, c, d);
            free(s);
        }
        free(ref);
    }
    /* Adam-L2 (the penalty in the loss) is not scale-free... */
    tn_optim_config l2 = with_reg(tn_optim_adam(lr), TN_REG_L2, lam);
    l2.eps = 0.0;
    float *ref = train(&l2, (run_opts){.loss_scale = 1.0f}, false);
    for (float c = 10.0f; c <= 100.0f; c *= 10.0f) {
        float *s = train(&l2, (run_opts){.loss_scale = c}, false);
        double d = deviation(s, ref);
        cr_assert(d > 1e-3, "Adam-L2: loss x%g changed the trajectory by only %.3g", c, d);
        /* ... loss×c with λ is Adam-L2 on the plain loss with λ/c. */
        tn_optim_config l2c = with_reg(l2, TN_REG_L2, lam / c);
        float *e = train(&l2c, (run_opts){.loss_scale = 1.0f}, false);
        double d2 = deviation(s, e);
        cr_assert(d2 <= 1e-5, "Adam-L2: loss x%g, λ vs loss, λ/%g differ by %.3g", c, c, d2);
        free(s);
        free(e);
    }
    free(ref);
}

/* --------------------------------------------------------- proximal L1 */

static size_t zeros_in_weights(const float *v)
{
    tn_st_file *f = ot_open("trajectories.safetensors");
    ot_mlp *m = ot_mlp_new(f);
    tn_st_close(f);
    size_t z = 0;
    tn_tensor *ws[2] = {m->w1, m->w2};
    for (int i = 0; i < 2; i++) {
        size_t off = (size_t)(ws[i]->data - tn_params_values(m->ps));
        for (size_t j = 0; j < ws[i]->numel; j++) z += v[off + j] == 0.0f;
    }
    ot_mlp_free(m);
    return z;
}

/* Penalties that zero some weights in 200 steps but not all. */
#define LAM_SGD 0.002
#define LAM_ADAM 0.005

Test(properties, proximal_l1_gives_exact_zeros_subgradient_does_not)
{
    for (int k = 0; k < 2; k++) {
        tn_optim_config base = k == 0 ? tn_optim_sgd(0.05) : tn_optim_adam(0.01);
        double lam = k == 0 ? LAM_SGD : LAM_ADAM;
        tn_optim_config prox = with_reg(base, TN_REG_PROX_L1, lam);
        tn_optim_config sub = with_reg(base, TN_REG_L1, lam);
        run_opts o = {.steps = 200};
        float *a = train(&prox, o, true), *b = train(&sub, o, true);
        size_t za = zeros_in_weights(a), zb = zeros_in_weights(b);
        cr_log_info("%s: proximal L1 %zu exact zeros of 56 weights, subgradient L1 %zu",
                    k == 0 ? "SGD" : "Adam", za, zb);
        cr_assert(za >= 5 && za < 56, "proximal L1 made %zu exact zeros", za);
        cr_assert_eq(zb, 0, "subgradient L1 made %zu exact zeros", zb);
        free(a);
        free(b);
    }
}

/* ----------------------------------------------- AdamProx vs AdamW: O(λη²) */

/* One step from the MLP's state after 5 Adam steps: AdamW (torch, decay
 * lr·λ) against AdamProx with the same per-step decay (λ' = lr·λ at
 * constant lr): they differ by lr·λ·step + (lr·λ)²·w = O(λ·lr²). */
static double prox_vs_adamw(double lr, double lam)
{
    float *res[2];
    for (int k = 0; k < 2; k++) {
        tn_st_file *f = ot_open("trajectories.safetensors");
        ot_mlp *m = ot_mlp_new(f);
        tn_st_close(f);
        tn_optim_config c = k == 0 ? tn_optim_adamw_torch(lr, lam)
                                   : tn_optim_adamprox(lr, lr * lam);
        tn_optim *o = ot_optim_new(m->ps, &c);
        tn_optim_group_at(o, 0)->decay_no_decay = true;
        tn_optim_group_at(o, 0)->reg = TN_REG_NONE;
        for (int t = 0; t < 5; t++) {
            ot_mlp_grad(m, NULL, false, 1.0f);
            tn_optim_step(o, lr);
        }
        tn_optim_group_at(o, 0)->reg = c.reg;
        ot_mlp_grad(m, NULL, false, 1.0f);
        tn_optim_step(o, lr);
        res[k] = ot_snapshot(m->ps);
        tn_optim_free(o);
        ot_mlp_free(m);
    }
    double d = 0.0;
    for (size_t j = 0; j < store_size(); j++) d = fmax(d, fabs((double)res[0][j] - res[1][j]));
    free(res[0]);
    free(res[1]);
    return d;
}

Test(properties, adamprox_and_adamw_agree_to_second_order)
{
    const double lam = 2.0;
    double d1 = prox_vs_adamw(0.02, lam), d2 = prox_vs_adamw(0.01, lam),
           d3 = prox_vs_adamw(0.005, lam);
    cr_log_info("AdamProx - AdamW after one step: %.3g, %.3g, %.3g at lr 0.02, 0.01, 0.005", d1,
                d2, d3);
    /* |w| <= 1, |Adam step| <= ~lr: bounded by lr²λ(1 + λ) */
    cr_assert_leq(d1, 0.02 * 0.02 * lam * (1 + lam));
    cr_assert_gt(d1, 0.0);
    /* halving lr divides the difference by ~4 */
    cr_assert(d1 / d2 > 3.0 && d1 / d2 < 5.0, "ratio %.3g", d1 / d2);
    cr_assert(d2 / d3 > 3.0 && d2 / d3 < 5.0, "ratio %.3g", d2 / d3);
}

/* ------------------------------------------------ masks, buffers, groups */


/* Every optimizer x every decaying mode, zero data gradient: weights decay,
 * TN_NO_DECAY tensors and TN_BUFFER entries stay bit-identical, unless the
 * group asks to decay no-decay tensors too. */
Test(properties, no_decay_tensors_and_buffers_never_decay)
{
    for (size_t k = 0; k < N_KINDS; k++)
        for (int r = TN_REG_NONE + 1; r < TN_REG_COUNT; r++) /* every decaying mode */
            for (int override = 0; override < 2; override++) {
                tn_params *ps = tn_params_new();
                tn_tensor *w = tn_params_add(ps, "fc.weight", TN_SHAPE(3, 4), TN_PARAM);
                tn_tensor *b = tn_params_add(ps, "fc.bias", TN_SHAPE(3), TN_PARAM);
                tn_tensor *gm = tn_params_add(ps, "bn.weight", TN_SHAPE(3), TN_PARAM);
                tn_tensor *rm = tn_params_add(ps, "bn.running_mean", TN_SHAPE(3), TN_BUFFER);
                cr_assert(tn_params_flags(ps, 1) & TN_NO_DECAY);
                for (size_t j = 0; j < tn_params_size(ps); j++)
                    tn_params_values(ps)[j] = 0.5f + 0.01f * (float)j;
                tn_optim_config c = with_reg(tn_optim_defaults(all_kinds(k)), (tn_reg)r,
                                             0.1);
                tn_optim *o = ot_optim_new(ps, &c);
                cr_assert(o, "%s", tn_error_message());
                if (override) {
                    /* a group of the no-decay tensors that decays them */
                    size_t gi = ot_group_add(o, (tn_optim_group){
                        .flags = TN_NO_DECAY, .reg = c.reg, .lambda = 0.1,
                        .decay_no_decay = true});
                    cr_assert_eq(gi, 1);
                    cr_assert_eq(tn_optim_group_of(o, 0), 0);
                    cr_assert_eq(tn_optim_group_of(o, 1), 1);
                    cr_assert_eq(tn_optim_group_of(o, 3), SIZE_MAX);
                }
                float *before = ot_snapshot(ps);
                tn_graph *g = tn_graph_new();
                for (int t = 0; t < 3; t++) {
                    tn_graph_reset(g);
                    tn_params_zero_grad(ps);
                    tn_tensor *pen = tn_optim_penalty(o, g);
                    if (c.reg == TN_REG_L2 || c.reg == TN_REG_L1)
                        cr_assert_eq(tn_backward(g, pen), TN_OK);
                    tn_optim_step(o, c.lr);
                }
                size_t ow = (size_t)(w->data - tn_params_values(ps));
                size_t ob = (size_t)(b->data - tn_params_values(ps));
                size_t og = (size_t)(gm->data - tn_params_values(ps));
                size_t orm = (size_t)(rm->data - tn_params_values(ps));
                cr_assert_neq(memcmp(w->data, before + ow, 12 * sizeof(float)), 0,
                              "kind %d mode %d: the weight did not decay", (int)c.kind, (int)c.reg);
                bool bias_same = memcmp(b->data, before + ob, 3 * sizeof(float)) == 0;
                bool gamma_same = memcmp(gm->data, before + og, 3 * sizeof(float)) == 0;
                cr_assert_eq(bias_same, !override, "kind %d mode %d override %d: bias",
                             (int)c.kind, (int)c.reg, override);
                cr_assert_eq(gamma_same, !override, "kind %d mode %d override %d: BN weight",
                             (int)c.kind, (int)c.reg, override);
                cr_assert_eq(memcmp(rm->data, before + orm, 3 * sizeof(float)), 0,
                             "a buffer changed");
                free(before);
                tn_graph_free(g);
                tn_optim_free(o);
                tn_params_free(ps);
            }
}

Test(properties, group_lr_scales_the_step_and_groups_take_the_last_match)
{
    /* Two independent tensors with fixed gradients: group "b." at half the
     * lr moves exactly as a separate optimizer at that lr. */
    for (size_t k = 0; k < N_KINDS; k++) {
        tn_optim_config c = tn_optim_defaults(all_kinds(k));
        tn_params *ps = tn_params_new(), *ref = tn_params_new();
        tn_tensor *a = tn_params_add(ps, "a.w", TN_SHAPE(2, 5), TN_PARAM);
        tn_tensor *b = tn_params_add(ps, "b.w", TN_SHAPE(2, 5), TN_PARAM);
        tn_tensor *r = tn_params_add(ref, "b.w", TN_SHAPE(2, 5), TN_PARAM);
        for (int j = 0; j < 10; j++) a->data[j] = b->data[j] = r->data[j] = 0.1f * (float)(j - 4);
        tn_optim *o = ot_optim_new(ps, &c);
        tn_optim_config half = c;
        half.lr = c.lr / 2;
        tn_optim *o2 = ot_optim_new(ref, &half);
        cr_assert_eq(ot_group_add(o, (tn_optim_group){.prefix = "b", .lr = c.lr / 4}), 1);
        cr_assert_eq(ot_group_add(o, (tn_optim_group){.prefix = "b.", .lr = c.lr / 2}), 2);
        cr_assert_eq(tn_optim_group_count(o), 3);
        cr_assert_eq(tn_optim_group_of(o, 0), 0);
        cr_assert_eq(tn_optim_group_of(o, 1), 2);
        for (int t = 0; t < 10; t++) {
            for (int j = 0; j < 10; j++)
                a->grad[j] = b->grad[j] = r->grad[j] = sinf(0.7f * (float)(j + 3 * t));
            tn_optim_step(o, c.lr);
            tn_optim_step(o2, half.lr);
        }
        cr_assert_eq(memcmp(b->data, r->data, 10 * sizeof(float)), 0, "kind %d", (int)c.kind);
        cr_assert_neq(memcmp(a->data, r->data, 10 * sizeof(float)), 0);
        tn_optim_free(o);
        tn_optim_free(o2);
        tn_params_free(ps);
        tn_params_free(ref);
    }
}

/* ------------------------------------------------------------- clipping */

Test(properties, clip_grad_norm)
{
    tn_params *ps = tn_params_new();
    tn_tensor *w = tn_params_add(ps, "w", TN_SHAPE(3, 4), TN_PARAM);
    tn_tensor *b = tn_params_add(ps, "b", TN_SHAPE(3), TN_PARAM);
    tn_params_add(ps, "buf", TN_SHAPE(5), TN_BUFFER);
    double sq = 0.0;
    for (int j = 0; j < 12; j++) {
        w->grad[j] = 0.5f * (float)(j - 5);
        sq += (double)w->grad[j] * w->grad[j];
    }
    for (int j = 0; j < 3; j++) {
        b->grad[j] = 2.0f + (float)j;
        sq += (double)b->grad[j] * b->grad[j];
    }
    float gw[12], gb[3];
    memcpy(gw, w->grad, sizeof gw);
    memcpy(gb, b->grad, sizeof gb);
    /* Above the norm: nothing changes, the norm is returned. */
    float norm = tn_optim_clip_grad_norm(ps, 100.0f);
    cr_assert_float_eq(norm, sqrt(sq), 1e-5);
    cr_assert_eq(memcmp(w->grad, gw, sizeof gw), 0);
    /* Below: scaled by max_norm/(norm + 1e-6) to norm ~max_norm. */
    norm = tn_optim_clip_grad_norm(ps, 1.5f);
    float coef = 1.5f / ((float)sqrt(sq) + 1e-6f);
    double after = 0.0;
    for (int j = 0; j < 12; j++) {
        cr_assert_eq(w->grad[j], gw[j] * coef);
        after += (double)w->grad[j] * w->grad[j];
    }
    for (int j = 0; j < 3; j++) after += (double)b->grad[j] * b->grad[j];
    cr_assert_float_eq(sqrt(after), 1.5, 1e-5);
    cr_assert_float_eq(norm, sqrt(sq), 1e-5);
    tn_params_free(ps);
}

/* ----------------------------------------------------------- bad options */

/* tn_optim_new on a config that must be refused: TN_ERR_ARG, *out NULL,
 * and a message containing `needle` (the option and its value). */
static void refused(tn_params *ps, tn_optim_config c, const char *needle)
{
    tn_optim *o = (tn_optim *)&o; /* not NULL: the call must clear it */
    tn_status st = tn_optim_new(ps, &c, &o);
    cr_assert_eq(st, TN_ERR_ARG, "%s: got %s", needle, tn_status_name(st));
    cr_assert_null(o);
    cr_assert(strstr(tn_error_message(), needle), "message '%s' lacks '%s'", tn_error_message(),
              needle);
}

Test(properties, bad_options_return_errors)
{
    tn_params *ps = tn_params_new();
    tn_params_add(ps, "w", TN_SHAPE(2, 2), TN_PARAM);
    tn_optim_config c = tn_optim_sgd(0.1);
    c.nesterov = true; /* needs momentum */
    refused(ps, c, "Nesterov");
    refused(ps, tn_optim_adam(-1.0), "lr must be finite and >= 0, got -1");
    c = tn_optim_adam(1e-3);
    c.beta2 = 1.0;
    refused(ps, c, "beta2 must be in [0, 1), got 1");
    refused(ps, tn_optim_adamw_torch(1e-3, -0.1), "lambda must be finite and >= 0, got -0.1");
    c = tn_optim_sgdw_paper(0.1, 0.9, 1e-4);
    c.nesterov = true;
    refused(ps, c, "sgd-paper has no Nesterov");
    c = tn_optim_sgdw_paper(0.1, 0.9, 1e-4);
    c.dampening = 0.5;
    refused(ps, c, "dampening = 0.5");
    c = tn_optim_adam(1e-3);
    c.kind = TN_OPTIM_COUNT;
    refused(ps, c, "unknown optimizer kind");
    c = tn_optim_adam(1e-3);
    c.reg = TN_REG_COUNT;
    refused(ps, c, "unknown regularisation mode");
    c = tn_optim_adam(1e-3);
    tn_optim *o = ot_optim_new(ps, &c);
    size_t gi = 77;
    cr_assert_eq(tn_optim_group_add(o, &(tn_optim_group){.prefix = "nope."}, &gi), TN_ERR_ARG);
    cr_assert(strstr(tn_error_message(), "nope."), "%s", tn_error_message());
    cr_assert_eq(gi, 77, "a refused group wrote its index");
    cr_assert_eq(tn_optim_group_add(o, &(tn_optim_group){.lambda = NAN}, NULL), TN_ERR_ARG);
    cr_assert(strstr(tn_error_message(), "lambda"), "%s", tn_error_message());
    cr_assert_eq(tn_optim_group_count(o), 1);
    /* index_out may be NULL */
    cr_assert_eq(tn_optim_group_add(o, &(tn_optim_group){.prefix = "w"}, NULL), TN_OK);
    cr_assert_eq(tn_optim_group_count(o), 2);
    tn_optim_free(o);
    tn_optim_free(NULL);
    tn_params_free(ps);
}

Test(properties, store_growing_after_creation_aborts, .signal = SIGABRT)
{
    tn_params *ps = tn_params_new();
    tn_params_add(ps, "w", TN_SHAPE(2, 2), TN_PARAM);
    tn_optim_config c = tn_optim_adam(1e-3);
    tn_optim *o = ot_optim_new(ps, &c);
    tn_params_add(ps, "late", TN_SHAPE(2, 2), TN_PARAM);
    tn_optim_step(o, 1e-3);
}
