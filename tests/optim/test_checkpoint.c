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
    tn_optim *o = tn_optim_new(ps, &k->cfg);
    cr_assert(o, "%s", tn_error_message());
    cr_assert_eq(tn_optim_group_add(o, &k->head), 1, "%s", tn_error_message());
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
    ckpt_case k = with(tn_optim_defaults(TN_OPTIM_ADADELTA), TN_REG_DECOUPLED, 0.01, TN_REG_NONE);
    resume_is_bit_identical(&k, "adadelta");
}

Test(checkpoint, resume_rmsprop_centered_momentum)
{
    tn_optim_config c = tn_optim_defaults(TN_OPTIM_RMSPROP);
    c.centered = true;
    c.momentum = 0.5;
    ckpt_case k = with(c, TN_REG_DECOUPLED_SCHEDULED, 0.01, TN_REG_COUPLED);
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
    ckpt_case k = with(tn_optim_defaults(TN_OPTIM_RADAM), TN_REG_PROX_L1, 1e-3, TN_REG_DECOUPLED);
    resume_is_bit_identical(&k, "radam");
}

Test(checkpoint, resume_adamax)
{
    ckpt_case k = with(tn_optim_defaults(TN_OPTIM_ADAMAX), TN_REG_COUPLED, 0.01,
                       TN_REG_DECOUPLED_SCHEDULED);
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
    tn_optim *o = tn_optim_new(m->ps, &c);
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
    tn_optim *o = tn_optim_new(m->ps, &cfg);
    cr_assert(o);
    if (grp) cr_assert_eq(tn_optim_group_add(o, grp), 1);
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
    tn_optim *o = tn_optim_new(m->ps, &c);
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
    tn_optim *o = tn_optim_new(ps, &c);
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
