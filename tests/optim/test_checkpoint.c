/* tests/optim/test_checkpoint.c - optimizer state through safetensors: one
 * file holds the model, the optimizer (prefix "optim.") and so the schedule
 * step; saving mid-run, loading into fresh objects and continuing gives
 * bit-identical parameters to an uninterrupted run, for every optimizer.
 * Mismatched optimizers, groups and shapes are refused without changes. */
#include "optim_test_util.h"

#include <unistd.h>

#define STEPS 20
#define SAVE_AT 9

static const char *tmp_file(const char *name)
{
    static char dir[4096], path[4200];
    if (!dir[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/tenet_optim_XXXXXX", t && *t ? t : "/tmp");
        cr_assert(mkdtemp(dir), "mkdtemp");
    }
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return path;
}

typedef struct ckpt_case {
    tn_optim_config cfg;
    tn_optim_group head; /* a second group for "fc2." */
    bool one_cycle;      /* else cosine warm restarts with warm-up */
} ckpt_case;

static tn_sched schedule(const ckpt_case *k)
{
    if (k->one_cycle) return tn_sched_one_cycle(STEPS);
    tn_sched s = tn_sched_cosine_restarts(4, 2, 1e-4);
    s.warmup = 3;
    return s;
}

static tn_optim *make_optim(const ckpt_case *k, tn_params *ps)
{
    tn_optim *o = ot_optim_new(ps, &k->cfg);
    cr_assert(o, "%s", tn_error_message());
    cr_assert_eq(ot_group_add(o, k->head), 1);
    return o;
}

/* Steps from tn_optim_steps(o) up to `until`, the lr (and one-cycle's
 * momentum) a pure function of the optimizer's step count. */
static void run(const ckpt_case *k, ot_mlp *m, tn_optim *o, int until)
{
    tn_sched s = schedule(k);
    for (int64_t t = tn_optim_steps(o); t < until; t++) {
        if (t == 5) { /* runtime changes to a group: the checkpoint carries them */
            tn_optim_group_at(o, 1)->lambda *= 2.0;
            tn_optim_group_at(o, 1)->lr *= 0.5;
        }
        ot_mlp_grad(m, o, false, 1.0f);
        if (k->one_cycle) tn_optim_set_momentum(o, tn_sched_momentum(&s, (double)t, 0.0));
        tn_optim_step(o, tn_sched_lr(&s, k->cfg.lr, (double)t));
    }
}

static void resume_is_bit_identical(const ckpt_case *k, const char *label)
{
    tn_st_file *fix = ot_open("trajectories.safetensors");
    /* Uninterrupted. */
    ot_mlp *m = ot_mlp_new(fix);
    tn_optim *o = make_optim(k, m->ps);
    run(k, m, o, STEPS);
    float *straight = ot_snapshot(m->ps);
    tn_optim_free(o);
    ot_mlp_free(m);

    /* Interrupted at SAVE_AT: model + optimizer in one file. */
    m = ot_mlp_new(fix);
    o = make_optim(k, m->ps);
    run(k, m, o, SAVE_AT);
    tn_st_writer *w = tn_st_writer_new();
    cr_assert_eq(tn_st_add_params(w, m->ps), TN_OK, "%s", tn_error_message());
    cr_assert_eq(tn_optim_save(o, w, "optim."), TN_OK, "%s", tn_error_message());
    const char *path = tmp_file("resume.safetensors");
    cr_assert_eq(tn_st_save(w, path), TN_OK, "%s", tn_error_message());
    tn_st_writer_free(w);
    tn_optim_free(o);
    ot_mlp_free(m);

    /* Fresh objects (perturbed parameters: the load must overwrite them). */
    m = ot_mlp_new(fix);
    for (size_t i = 0; i < tn_params_count(m->ps); i++) {
        tn_tensor *p = tn_params_at(m->ps, i);
        for (size_t j = 0; j < p->numel; j++) p->data[j] += 1.0f;
    }
    o = make_optim(k, m->ps);
    tn_st_file *f = NULL;
    cr_assert_eq(tn_st_open(path, &f), TN_OK, "%s", tn_error_message());
    cr_assert_eq(tn_st_load_params(f, m->ps, "optim."), TN_OK, "%s", tn_error_message());
    cr_assert_eq(tn_optim_load(o, f, "optim."), TN_OK, "%s: %s", label, tn_error_message());
    cr_assert_eq(tn_optim_steps(o), SAVE_AT);
    cr_assert_eq(tn_optim_group_at(o, 1)->lambda, 2.0 * k->head.lambda);
    tn_st_close(f);
    run(k, m, o, STEPS);
    for (size_t i = 0; i < tn_params_count(m->ps); i++) {
        const tn_tensor *p = tn_params_at(m->ps, i);
        cr_assert_eq(memcmp(p->data, straight + tn_params_offset(m->ps, i),
                            p->numel * sizeof(float)),
                     0, "%s: %s differs from the uninterrupted run", label, p->name);
    }
    free(straight);
    tn_optim_free(o);
    ot_mlp_free(m);
    tn_st_close(fix);
    unlink(path);
}

static ckpt_case with(tn_optim_config c, tn_reg reg, double lam, tn_reg head_reg)
{
    c.reg = reg;
    c.lambda = lam;
    return (ckpt_case){.cfg = c, .head = {.prefix = "fc2.", .lr = c.lr / 2, .reg = head_reg,
                                          .lambda = 0.01}};
}

Test(checkpoint, resume_sgd_nesterov_one_cycle)
{
    tn_optim_config c = tn_optim_sgd(0.1);
    c.momentum = 0.9;
    c.nesterov = true;
    ckpt_case k = with(c, TN_REG_COUPLED, 5e-4, TN_REG_PROX_L1);
    k.one_cycle = true;
    resume_is_bit_identical(&k, "sgd");
}

Test(checkpoint, resume_adagrad)
{
    tn_optim_config c = tn_optim_defaults(TN_OPTIM_ADAGRAD);
    c.lr_decay = 0.01;
    c.initial_accumulator_value = 0.1;
    ckpt_case k = with(c, TN_REG_PROX_L2, 0.01, TN_REG_L2);
    resume_is_bit_identical(&k, "adagrad");
}

Test(checkpoint, resume_adadelta)
{
    ckpt_case k = with(tn_optim_defaults(TN_OPTIM_ADADELTA), TN_REG_DECOUPLED_LR, 0.01, TN_REG_NONE);
    resume_is_bit_identical(&k, "adadelta");
}

Test(checkpoint, resume_rmsprop_centered_momentum)
{
    tn_optim_config c = tn_optim_defaults(TN_OPTIM_RMSPROP);
    c.centered = true;
    c.momentum = 0.5;
    ckpt_case k = with(c, TN_REG_DECOUPLED, 0.01, TN_REG_COUPLED);
    resume_is_bit_identical(&k, "rmsprop");
}

Test(checkpoint, resume_adam_amsgrad)
{
    tn_optim_config c = tn_optim_adamw_torch(0.01, 0.05);
    c.amsgrad = true;
    ckpt_case k = with(c, c.reg, c.lambda, TN_REG_L1);
    resume_is_bit_identical(&k, "adam");
}

Test(checkpoint, resume_nadam)
{
    ckpt_case k = with(tn_optim_defaults(TN_OPTIM_NADAM), TN_REG_L2, 0.01, TN_REG_PROX_L2);
    resume_is_bit_identical(&k, "nadam");
}

Test(checkpoint, resume_radam)
{
    ckpt_case k = with(tn_optim_defaults(TN_OPTIM_RADAM), TN_REG_PROX_L1, 1e-3, TN_REG_DECOUPLED_LR);
    resume_is_bit_identical(&k, "radam");
}

Test(checkpoint, resume_adamax)
{
    ckpt_case k = with(tn_optim_defaults(TN_OPTIM_ADAMAX), TN_REG_COUPLED, 0.01,
                       TN_REG_DECOUPLED);
    resume_is_bit_identical(&k, "adamax");
}

/* --------------------------------------------------------------- refusals */

/* An Adam(amsgrad) optimizer on the fixture MLP after 3 steps, saved. */
static const char *saved_adam(void)
{
    tn_st_file *fix = ot_open("trajectories.safetensors");
    ot_mlp *m = ot_mlp_new(fix);
    tn_st_close(fix);
    tn_optim_config c = tn_optim_adam(0.01);
    c.amsgrad = true;
    tn_optim *o = ot_optim_new(m->ps, &c);
    for (int t = 0; t < 3; t++) {
        ot_mlp_grad(m, NULL, false, 1.0f);
        tn_optim_step(o, 0.01);
    }
    tn_st_writer *w = tn_st_writer_new();
    cr_assert_eq(tn_optim_save(o, w, "opt/"), TN_OK);
    const char *path = tmp_file("adam.safetensors");
    cr_assert_eq(tn_st_save(w, path), TN_OK, "%s", tn_error_message());
    tn_st_writer_free(w);
    tn_optim_free(o);
    ot_mlp_free(m);
    return path;
}

/* Load `path` into an optimizer made from cfg (+ an optional group) and
 * expect `want`, with a message containing `needle`, and no change. */
static void expect_refused(const char *path, tn_optim_config cfg, const tn_optim_group *grp,
                           tn_status want, const char *needle)
{
    tn_st_file *fix = ot_open("trajectories.safetensors");
    ot_mlp *m = ot_mlp_new(fix);
    tn_st_close(fix);
    tn_optim *o = ot_optim_new(m->ps, &cfg);
    cr_assert(o);
    if (grp) cr_assert_eq(ot_group_add(o, *grp), 1);
    tn_st_file *f = NULL;
    cr_assert_eq(tn_st_open(path, &f), TN_OK, "%s", tn_error_message());
    tn_status st = tn_optim_load(o, f, "opt/");
    cr_assert_eq(st, want, "got %s: %s", tn_status_name(st), tn_error_message());
    cr_assert(strstr(tn_error_message(), needle), "message '%s' lacks '%s'", tn_error_message(),
              needle);
    cr_assert_eq(tn_optim_steps(o), 0, "a refused load changed the step count");
    tn_st_close(f);
    /* The state is still zero: a step now is the first step of a fresh Adam. */
    tn_optim_free(o);
    ot_mlp_free(m);
}

Test(checkpoint, refuses_other_hyper_parameters_groups_and_optimizers)
{
    const char *path = saved_adam();
    tn_optim_config c = tn_optim_adam(0.01);
    c.amsgrad = true;
    tn_optim_config lr = c;
    lr.lr = 0.02;
    expect_refused(path, lr, NULL, TN_ERR_ARG, "opt/config");
    tn_optim_config ams = c;
    ams.amsgrad = false;
    expect_refused(path, ams, NULL, TN_ERR_ARG, "amsgrad=1");
    expect_refused(path, tn_optim_sgd(0.01), NULL, TN_ERR_ARG, "kind=adam");
    expect_refused(path, c, &(tn_optim_group){.prefix = "fc2.", .lr = 0.1}, TN_ERR_ARG,
                   "opt/groups");
    tn_optim_config reg = c;
    reg.reg = TN_REG_COUPLED;
    reg.lambda = 0.1;
    expect_refused(path, reg, NULL, TN_ERR_ARG, "opt/group.0");
    /* The right optimizer under the wrong prefix: nothing there. */
    tn_st_file *fix = ot_open("trajectories.safetensors");
    ot_mlp *m = ot_mlp_new(fix);
    tn_st_close(fix);
    tn_optim *o = ot_optim_new(m->ps, &c);
    tn_st_file *f = NULL;
    cr_assert_eq(tn_st_open(path, &f), TN_OK);
    cr_assert_eq(tn_optim_load(o, f, "optim."), TN_ERR_FORMAT);
    cr_assert_eq(tn_optim_load(o, f, "opt/"), TN_OK, "%s", tn_error_message());
    cr_assert_eq(tn_optim_steps(o), 3);
    tn_st_close(f);
    tn_optim_free(o);
    ot_mlp_free(m);
    unlink(path);
}

Test(checkpoint, refuses_a_model_of_other_shapes)
{
    const char *path = saved_adam();
    /* Same names and optimizer, fc2 of another shape. */
    tn_params *ps = tn_params_new();
    tn_params_add(ps, "fc1.weight", TN_SHAPE(8, 4), TN_PARAM);
    tn_params_add(ps, "fc1.bias", TN_SHAPE(8), TN_PARAM);
    tn_params_add(ps, "fc2.weight", TN_SHAPE(3, 9), TN_PARAM);
    tn_params_add(ps, "fc2.bias", TN_SHAPE(3), TN_PARAM);
    tn_optim_config c = tn_optim_adam(0.01);
    c.amsgrad = true;
    tn_optim *o = ot_optim_new(ps, &c);
    tn_st_file *f = NULL;
    cr_assert_eq(tn_st_open(path, &f), TN_OK);
    cr_assert_eq(tn_optim_load(o, f, "opt/"), TN_ERR_FORMAT);
    cr_assert(strstr(tn_error_message(), "fc2.weight") && strstr(tn_error_message(), "(3, 8)"),
              "%s", tn_error_message());
    cr_assert_eq(tn_optim_steps(o), 0);
    tn_st_close(f);
    tn_optim_free(o);
    tn_params_free(ps);
    unlink(path);
}

Test(checkpoint, file_layout)
{
    const char *path = saved_adam();
    tn_st_file *f = NULL;
    cr_assert_eq(tn_st_open(path, &f), TN_OK);
    /* 3 buffers x 4 tensors, each the shape of its parameter */
    cr_assert_eq(tn_st_count(f), 12);
    const tn_st_entry *e = tn_st_find(f, "opt/max_exp_avg_sq.fc1.weight");
    cr_assert(e);
    cr_assert_eq(e->ndim, 2);
    cr_assert_eq(e->shape[0], 8);
    cr_assert(tn_st_find(f, "opt/exp_avg.fc2.bias"));
    cr_assert_str_eq(tn_st_meta(f, "opt/step"), "3");
    cr_assert_str_eq(tn_st_meta(f, "opt/groups"), "1");
    cr_assert(strstr(tn_st_meta(f, "opt/config"), "kind=adam lr=0.01"));
    cr_assert(strstr(tn_st_meta(f, "opt/group.0"), "reg=none"));
    tn_st_close(f);
    unlink(path);
}

/* ------------------------------------------------------- format 1 files
 * tests/fixtures/optim/legacy_v1.safetensors was written by tenet before
 * the modes were renamed (no "optim.format" key; modes named "decoupled"
 * for the lr-scaled decay, "decoupled_scheduled", "prox_l2", "prox_l1"):
 * a store a.weight, b.weight, c.weight, d.weight (3, 4) and d.bias (3),
 * initialised sin(1 + 0.7·(16·i + j)) (tensor i, element j); AdamW (torch
 * convention, lr 0.01, λ 0.05, amsgrad) with groups "b." (schedule-scaled,
 * λ 0.02, changed to 0.04 before step 3), "c." (lr 0.005, proximal L2, λ
 * 0.03) and "d." (proximal L1, λ 0.001); 5 steps of a cosine over 10 with
 * the gradients sin(0.37·(16·i + j) + t); saved under "optim." with the
 * parameters. */

static tn_params *legacy_store(void)
{
    tn_params *ps = tn_params_new();
    const char *names[] = {"a.weight", "b.weight", "c.weight", "d.weight"};
    for (int i = 0; i < 4; i++) tn_params_add(ps, names[i], TN_SHAPE(3, 4), TN_PARAM);
    tn_params_add(ps, "d.bias", TN_SHAPE(3), TN_PARAM);
    for (size_t i = 0; i < tn_params_count(ps); i++) {
        tn_tensor *p = tn_params_at(ps, i);
        for (size_t j = 0; j < p->numel; j++) p->data[j] = (float)sin(1.0 + 0.7 * (double)(i * 16 + j));
    }
    return ps;
}

/* The legacy run's optimizer in today's names: decoupled-lr, decoupled,
 * prox-l2, prox-l1.  `b_mode`: group 1's mode. */
static tn_optim *legacy_optim(tn_params *ps, tn_reg b_mode)
{
    tn_optim_config c = tn_optim_adamw_torch(0.01, 0.05);
    c.amsgrad = true;
    cr_assert_eq(c.reg, TN_REG_DECOUPLED_LR);
    tn_optim *o = ot_optim_new(ps, &c);
    cr_assert_eq(ot_group_add(o, (tn_optim_group){.prefix = "b.", .reg = b_mode, .lambda = 0.02}), 1);
    cr_assert_eq(ot_group_add(o, (tn_optim_group){.prefix = "c.", .lr = 0.005,
                                                  .reg = TN_REG_PROX_L2, .lambda = 0.03}),
                 2);
    cr_assert_eq(ot_group_add(o, (tn_optim_group){.prefix = "d.", .reg = TN_REG_PROX_L1,
                                                  .lambda = 0.001}),
                 3);
    return o;
}

Test(checkpoint, format_1_files_load_with_the_old_mode_names)
{
    tn_st_file *f = ot_open("legacy_v1.safetensors");
    cr_assert_null(tn_st_meta(f, "optim.format"), "the fixture must be a format 1 file");
    cr_assert(strstr(tn_st_meta(f, "optim.group.0"), "reg=decoupled "));
    cr_assert(strstr(tn_st_meta(f, "optim.group.1"), "reg=decoupled_scheduled "));

    /* Loaded into today's optimizer: groups and their current settings. */
    tn_params *ps = legacy_store();
    tn_optim *o = legacy_optim(ps, TN_REG_DECOUPLED);
    cr_assert_eq(tn_st_load_params(f, ps, "optim."), TN_OK, "%s", tn_error_message());
    cr_assert_eq(tn_optim_load(o, f, "optim."), TN_OK, "%s", tn_error_message());
    cr_assert_eq(tn_optim_steps(o), 5);
    const tn_reg want[4] = {TN_REG_DECOUPLED_LR, TN_REG_DECOUPLED, TN_REG_PROX_L2,
                            TN_REG_PROX_L1};
    for (size_t gi = 0; gi < 4; gi++)
        cr_assert_eq(tn_optim_group_at(o, gi)->reg, want[gi], "group %zu: mode %s", gi,
                     tn_reg_name(tn_optim_group_at(o, gi)->reg));
    cr_assert_eq(tn_optim_group_at(o, 1)->lambda, 0.04);

    /* Saved again: format 2, today's names, the same buffers to the bit. */
    tn_st_writer *w = tn_st_writer_new();
    cr_assert_eq(tn_optim_save(o, w, "optim."), TN_OK, "%s", tn_error_message());
    const char *path = tmp_file("legacy_resaved.safetensors");
    cr_assert_eq(tn_st_save(w, path), TN_OK, "%s", tn_error_message());
    tn_st_writer_free(w);
    tn_st_file *g = NULL;
    cr_assert_eq(tn_st_open(path, &g), TN_OK, "%s", tn_error_message());
    cr_assert_str_eq(tn_st_meta(g, "optim.format"), "2");
    cr_assert(strstr(tn_st_meta(g, "optim.group.0"), "reg=decoupled-lr "));
    cr_assert(strstr(tn_st_meta(g, "optim.group.1.now"), "reg=decoupled lambda=0.04"));
    cr_assert_eq(tn_st_count(g), 15);
    for (size_t i = 0; i < tn_st_count(g); i++) {
        const tn_st_entry *e = tn_st_at(g, i), *old = tn_st_find(f, e->name);
        cr_assert(old, "%s is not in the format 1 file", e->name);
        cr_assert_eq(memcmp(e->data, old->data, e->numel * sizeof(float)), 0, "%s differs",
                     e->name);
    }
    tn_st_close(g);
    unlink(path);
    tn_optim_free(o);
    tn_params_free(ps);

    /* The same run today: the lr-scaled and proximal-L1 groups round as they
     * did, to the bit; the schedule-scaled and proximal-L2 groups now round
     * w − d·w once per weight (within a few float32 roundings of the old). */
    ps = legacy_store();
    tn_optim_config c = tn_optim_adamw_torch(0.01, 0.05);
    o = legacy_optim(ps, TN_REG_DECOUPLED);
    tn_sched s = tn_sched_cosine(10, 0.0);
    for (int t = 0; t < 5; t++) {
        if (t == 2) tn_optim_group_at(o, 1)->lambda = 0.04;
        for (size_t i = 0; i < tn_params_count(ps); i++) {
            tn_tensor *p = tn_params_at(ps, i);
            for (size_t j = 0; j < p->numel; j++)
                p->grad[j] = (float)sin(0.37 * (double)(i * 16 + j) + t);
        }
        tn_optim_step(o, tn_sched_lr(&s, c.lr, t));
    }
    for (size_t i = 0; i < tn_params_count(ps); i++) {
        const tn_tensor *p = tn_params_at(ps, i);
        const tn_st_entry *e = ot_entry(f, p->name);
        if (i == 0 || i == 3 || i == 4)
            cr_assert_eq(memcmp(p->data, e->data, p->numel * sizeof(float)), 0,
                         "%s differs from the format 1 run", p->name);
        else
            cr_assert_leq(ot_max_rel(p->data, e->data, p->numel, 1e-2), 1e-6, "%s", p->name);
    }
    tn_optim_free(o);
    tn_params_free(ps);

    /* Read as the schedule-scaled mode, the old "decoupled" is refused. */
    ps = legacy_store();
    tn_optim_config wrong = tn_optim_adamw_paper(0.01, 0.05);
    wrong.amsgrad = true;
    o = ot_optim_new(ps, &wrong);
    ot_group_add(o, (tn_optim_group){.prefix = "b.", .reg = TN_REG_DECOUPLED, .lambda = 0.02});
    ot_group_add(o, (tn_optim_group){.prefix = "c.", .lr = 0.005, .reg = TN_REG_PROX_L2,
                                     .lambda = 0.03});
    ot_group_add(o, (tn_optim_group){.prefix = "d.", .reg = TN_REG_PROX_L1, .lambda = 0.001});
    cr_assert_eq(tn_optim_load(o, f, "optim."), TN_ERR_ARG);
    cr_assert(strstr(tn_error_message(), "optim.group.0"), "%s", tn_error_message());
    cr_assert_eq(tn_optim_steps(o), 0);
    tn_optim_free(o);
    tn_params_free(ps);
    tn_st_close(f);
}

Test(checkpoint, unknown_format_is_refused)
{
    tn_params *ps = tn_params_new();
    tn_params_add(ps, "w", TN_SHAPE(2, 2), TN_PARAM);
    tn_optim_config c = tn_optim_adam(0.01);
    tn_optim *o = ot_optim_new(ps, &c);
    tn_st_writer *w = tn_st_writer_new();
    cr_assert_eq(tn_optim_save(o, w, "o."), TN_OK);
    const char *path = tmp_file("format3.safetensors");
    cr_assert_eq(tn_st_save(w, path), TN_OK, "%s", tn_error_message());
    tn_st_writer_free(w);
    /* A file that says format 3 (a later build's). */
    tn_st_file *f = NULL;
    cr_assert_eq(tn_st_open(path, &f), TN_OK);
    cr_assert_str_eq(tn_st_meta(f, "o.format"), "2");
    w = tn_st_writer_new();
    for (size_t i = 0; i < tn_st_count(f); i++) {
        const tn_st_entry *e = tn_st_at(f, i);
        cr_assert_eq(tn_st_add(w, e->name, e->ndim, e->shape, e->data), TN_OK);
    }
    const char *keys[] = {"o.step", "o.mu_product", "o.momentum", "o.config", "o.groups",
                          "o.group.0", "o.group.0.now"};
    for (int i = 0; i < 7; i++) cr_assert_eq(tn_st_add_meta(w, keys[i], tn_st_meta(f, keys[i])), TN_OK);
    cr_assert_eq(tn_st_add_meta(w, "o.format", "3"), TN_OK);
    const char *path3 = tmp_file("format3b.safetensors");
    cr_assert_eq(tn_st_save(w, path3), TN_OK, "%s", tn_error_message());
    tn_st_writer_free(w);
    tn_st_close(f);
    cr_assert_eq(tn_st_open(path3, &f), TN_OK);
    cr_assert_eq(tn_optim_load(o, f, "o."), TN_ERR_FORMAT);
    cr_assert(strstr(tn_error_message(), "o.format"), "%s", tn_error_message());
    tn_st_close(f);
    tn_optim_free(o);
    tn_params_free(ps);
    unlink(path);
    unlink(path3);
}
