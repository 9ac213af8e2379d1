/* optim/optim.c - the optimizer object: hyper-parameters, parameter groups
 * with their regularisation modes, flat state buffers, the step (one loop
 * over the store's parameter segments running each tensor's mode around
 * its optimizer's kernel, both from the tables of table.c), the loss penalty,
 * gradient clipping and checkpoints. */
#include "internal.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tn_optim {
    tn_params *ps;
    const tn_optim_row *row;
    tn_optim_config cfg; /* as made: checked when a checkpoint is loaded */
    double momentum;     /* current momentum (SGD, RMSprop) or β1 (Adam family) */
    int64_t t;           /* steps taken */
    float mu_product;   /* NAdam: Π μ_1..μ_t, float32 as in PyTorch */
    size_t size;        /* floats in the store when the optimizer was made */

    /* The row's buffers, each `size` floats laid out like the store; NULL
     * for a buffer this config does not use. */
    float *state[TN_OPTIM_MAX_BUFFERS];

    tn_optim_group *groups; /* current settings, changeable between steps */
    tn_optim_group *made;   /* as added (owning the prefix copies): checked on load */
    int64_t *penalty_for;   /* per group: the step its loss penalty was built for */
    size_t n_groups, cap_groups;
    size_t *group_of; /* per store tensor; SIZE_MAX for buffers */
    size_t n_tensors;

    /* Schedule-free: the largest lr so far, Σ of the average's weights, c of
     * the last step, and whether the store holds x (eval) instead of y.
     * Cautious decay: the weights before the kernel (the largest tensor). */
    double sf_lr_max, sf_weight_sum, sf_c;
    bool eval;
    float *scratch;
};

/* ------------------------------------------------------------ configs */

tn_optim_config tn_optim_sgd(double lr)
{
    tn_optim_config c = tn_optim_defaults(TN_OPTIM_SGD);
    c.lr = lr;
    return c;
}

tn_optim_config tn_optim_adam(double lr)
{
    tn_optim_config c = tn_optim_defaults(TN_OPTIM_ADAM);
    c.lr = lr;
    return c;
}

static tn_optim_config with_reg(tn_optim_config c, tn_reg reg, double lambda)
{
    c.reg = reg;
    c.lambda = lambda;
    return c;
}

tn_optim_config tn_optim_sgdw(double lr, double momentum, double lambda)
{
    tn_optim_config c = tn_optim_sgd(lr);
    c.momentum = momentum;
    return with_reg(c, TN_REG_DECOUPLED, lambda);
}

tn_optim_config tn_optim_sgdw_paper(double lr, double momentum, double lambda)
{
    tn_optim_config c = tn_optim_defaults(TN_OPTIM_SGD_PAPER);
    c.lr = lr;
    c.momentum = momentum;
    return with_reg(c, TN_REG_DECOUPLED, lambda);
}

tn_optim_config tn_optim_adamw_torch(double lr, double lambda)
{
    return with_reg(tn_optim_adam(lr), TN_REG_DECOUPLED_LR, lambda);
}

tn_optim_config tn_optim_adamw_paper(double lr, double lambda)
{
    return with_reg(tn_optim_adam(lr), TN_REG_DECOUPLED, lambda);
}

tn_optim_config tn_optim_adamprox(double lr, double lambda)
{
    return with_reg(tn_optim_adam(lr), TN_REG_PROX_L2, lambda);
}

/* The mode and its λ: `who` names the function, `option` the field. */
static tn_status check_reg(const char *who, const char *option, tn_reg reg, double lambda)
{
    if ((unsigned)reg >= TN_REG_COUNT)
        return tn_error_set(TN_ERR_ARG, "tenet: %s: unknown regularisation mode %s = %d", who,
                            option, (int)reg);
    if (!(lambda >= 0.0) || isinf(lambda))
        return tn_error_set(TN_ERR_ARG, "tenet: %s: lambda must be finite and >= 0, got %g", who,
                            lambda);
    return TN_OK;
}

/* Cautious decay needs a decoupled mode (one with a per-step rate) that is
 * applied apart from the update (not LAMB's decoupled-lr, inside its ratio). */
static tn_status check_cautious(const char *who, tn_optim_kind kind, tn_reg reg, bool cautious)
{
    if (cautious && (unsigned)reg < TN_REG_COUNT && !tn_reg_rows[reg].rate)
        return tn_error_set(TN_ERR_ARG,
                            "tenet: %s: cautious decay needs mode decoupled, decoupled-lr or "
                            "corrected, got %s",
                            who, tn_reg_rows[reg].name);
    if (cautious && reg == TN_REG_DECOUPLED_LR &&
        (tn_optim_rows[kind].flags & TN_OPTIM_DECAY_IN_UPDATE))
        return tn_error_set(TN_ERR_ARG,
                            "tenet: %s: %s's decoupled-lr decay is part of its update: cautious "
                            "decay needs decoupled or corrected",
                            who, tn_optim_rows[kind].name);
    return TN_OK;
}

static tn_status check_config(const tn_optim_config *c)
{
    if ((unsigned)c->kind >= TN_OPTIM_COUNT)
        return tn_error_set(TN_ERR_ARG, "tenet: tn_optim_new: unknown optimizer kind %d",
                            (int)c->kind);
    if (!(c->lr >= 0.0) || isinf(c->lr))
        return tn_error_set(TN_ERR_ARG, "tenet: tn_optim_new: lr must be finite and >= 0, got %g",
                            c->lr);
    if (!(c->eps >= 0.0))
        return tn_error_set(TN_ERR_ARG, "tenet: tn_optim_new: eps must be >= 0, got %g", c->eps);
    const tn_optim_row *row = &tn_optim_rows[c->kind];
    tn_status st = row->check ? row->check(c) : TN_OK;
    if (st == TN_OK) st = check_reg("tn_optim_new", "reg", c->reg, c->lambda);
    return st != TN_OK ? st : check_cautious("tn_optim_new", c->kind, c->reg, c->cautious);
}

static bool buffer_used(const tn_buffer_spec *b, const tn_optim_config *c)
{
    if (!b->key) return false;
    switch (b->when) {
    case TN_BUF_ALWAYS: return true;
    case TN_BUF_IF_MOMENTUM: return c->momentum != 0.0;
    case TN_BUF_IF_CENTERED: return c->centered;
    case TN_BUF_IF_AMSGRAD: return c->amsgrad;
    }
    return false;
}

tn_status tn_optim_new(tn_params *ps, const tn_optim_config *cfg, tn_optim **out)
{
    if (!ps || !cfg || !out)
        tn_misuse("tn_optim_new", "a parameter store, a config and an out pointer are required");
    *out = NULL;
    tn_status st = check_config(cfg);
    if (st != TN_OK) return st;
    tn_optim *o = calloc(1, sizeof *o);
    if (!o) goto nomem;
    o->ps = ps;
    o->row = &tn_optim_rows[cfg->kind];
    o->cfg = *cfg;
    o->momentum = (o->row->flags & TN_OPTIM_USES_BETAS) ? cfg->beta1 : cfg->momentum;
    o->mu_product = 1.0f;
    o->size = tn_params_size(ps);
    o->n_tensors = tn_params_count(ps);
    for (int k = 0; k < TN_OPTIM_MAX_BUFFERS; k++) {
        const tn_buffer_spec *b = &o->row->buffers[k];
        if (!buffer_used(b, cfg)) continue;
        o->state[k] = calloc(o->size ? o->size : 1, sizeof(float));
        if (!o->state[k]) goto nomem;
        if (b->init == TN_INIT_ACCUMULATOR) {
            const float v = (float)cfg->initial_accumulator_value;
            for (size_t j = 0; j < o->size; j++) o->state[k][j] = v;
        }
    }
    o->group_of = malloc((o->n_tensors ? o->n_tensors : 1) * sizeof *o->group_of);
    o->groups = malloc(4 * sizeof *o->groups);
    o->made = malloc(4 * sizeof *o->made);
    o->penalty_for = malloc(4 * sizeof *o->penalty_for);
    if (!o->group_of || !o->groups || !o->made || !o->penalty_for) goto nomem;
    o->cap_groups = 4;
    o->n_groups = 1;
    o->groups[0] = (tn_optim_group){.prefix = NULL, .flags = 0, .lr = cfg->lr,
                                    .reg = cfg->reg, .lambda = cfg->lambda,
                                    .cautious = cfg->cautious};
    size_t largest = 1;
    for (size_t i = 0; i < o->n_tensors; i++)
        if (tn_params_at(ps, i)->numel > largest) largest = tn_params_at(ps, i)->numel;
    o->scratch = malloc(largest * sizeof(float));
    if (!o->scratch) goto nomem;
    o->made[0] = o->groups[0];
    o->penalty_for[0] = -1;
    for (size_t i = 0; i < o->n_tensors; i++)
        o->group_of[i] = (tn_params_flags(ps, i) & TN_PARAM) ? 0 : SIZE_MAX;
    *out = o;
    return TN_OK;
nomem:
    tn_optim_free(o);
    return tn_error_set(TN_ERR_NOMEM, "tenet: tn_optim_new: out of memory");
}

void tn_optim_free(tn_optim *o)
{
    if (!o) return;
    for (int k = 0; k < TN_OPTIM_MAX_BUFFERS; k++) free(o->state[k]);
    for (size_t i = 0; i < o->n_groups; i++) free((char *)o->made[i].prefix);
    free(o->groups);
    free(o->made);
    free(o->penalty_for);
    free(o->group_of);
    free(o->scratch);
    free(o);
}

const tn_optim_config *tn_optim_config_of(const tn_optim *o) { return &o->cfg; }
int64_t tn_optim_steps(const tn_optim *o) { return o->t; }

void tn_optim_set_momentum(tn_optim *o, double momentum)
{
    const char *who = "tn_optim_set_momentum";
    const unsigned flags = o->row->flags;
    if (flags & TN_OPTIM_USES_BETAS) {
        if (!(momentum >= 0.0 && momentum < 1.0)) tn_misuse(who, "beta1 %g is not in [0, 1)", momentum);
    } else if (flags & TN_OPTIM_USES_MOMENTUM) {
        if (!(momentum >= 0.0) || (momentum != 0.0) != (o->cfg.momentum != 0.0))
            tn_misuse(who,
                      "momentum %g: the optimizer was made with momentum %g (a momentum buffer "
                      "exists only if it was made with momentum != 0)",
                      momentum, o->cfg.momentum);
    } else {
        tn_misuse(who, "%s has no momentum", o->row->name);
    }
    o->momentum = momentum;
}

/* ------------------------------------------------------------- groups */

static bool selects(const tn_optim_group *s, const char *name, unsigned flags)
{
    if (s->prefix && strncmp(name, s->prefix, strlen(s->prefix)) != 0) return false;
    return (flags & s->flags) == s->flags;
}

tn_status tn_optim_group_add(tn_optim *o, const tn_optim_group *spec, size_t *index_out)
{
    if (!o || !spec) tn_misuse("tn_optim_group_add", "optimizer and group are required");
    tn_status st = check_reg("tn_optim_group_add", "reg", spec->reg, spec->lambda);
    if (st == TN_OK) st = check_cautious("tn_optim_group_add", o->cfg.kind, spec->reg, spec->cautious);
    if (st != TN_OK) return st;
    if (!(spec->lr >= 0.0) || isinf(spec->lr))
        return tn_error_set(TN_ERR_ARG,
                            "tenet: tn_optim_group_add: lr must be finite and >= 0, got %g",
                            spec->lr);
    size_t hits = 0;
    for (size_t i = 0; i < o->n_tensors; i++)
        if (o->group_of[i] != SIZE_MAX && selects(spec, tn_params_at(o->ps, i)->name,
                                                  tn_params_flags(o->ps, i)))
            hits++;
    if (hits == 0)
        return tn_error_set(TN_ERR_ARG,
                            "tenet: tn_optim_group_add: the group (prefix '%s', flags 0x%x) "
                            "selects no parameter",
                            spec->prefix ? spec->prefix : "", spec->flags);
    if (o->n_groups == o->cap_groups) {
        const size_t cap = 2 * o->cap_groups;
        tn_optim_group *gs = realloc(o->groups, cap * sizeof *gs);
        if (gs) o->groups = gs;
        tn_optim_group *ms = realloc(o->made, cap * sizeof *ms);
        if (ms) o->made = ms;
        int64_t *pf = realloc(o->penalty_for, cap * sizeof *pf);
        if (pf) o->penalty_for = pf;
        if (!gs || !ms || !pf) goto nomem;
        o->cap_groups = cap;
    }
    tn_optim_group g = *spec;
    if (g.lr == 0.0) g.lr = o->cfg.lr;
    if (spec->prefix) {
        char *p = malloc(strlen(spec->prefix) + 1);
        if (!p) goto nomem;
        strcpy(p, spec->prefix);
        g.prefix = p;
    }
    size_t gi = o->n_groups++;
    o->groups[gi] = o->made[gi] = g;
    o->penalty_for[gi] = -1;
    for (size_t i = 0; i < o->n_tensors; i++)
        if (o->group_of[i] != SIZE_MAX &&
            selects(spec, tn_params_at(o->ps, i)->name, tn_params_flags(o->ps, i)))
            o->group_of[i] = gi;
    if (index_out) *index_out = gi;
    return TN_OK;
nomem:
    return tn_error_set(TN_ERR_NOMEM, "tenet: tn_optim_group_add: out of memory");
}

size_t tn_optim_group_count(const tn_optim *o) { return o->n_groups; }

tn_optim_group *tn_optim_group_at(tn_optim *o, size_t i)
{
    if (i >= o->n_groups)
        tn_misuse("tn_optim_group_at", "group %zu, the optimizer has %zu", i, o->n_groups);
    return &o->groups[i];
}

size_t tn_optim_group_of(const tn_optim *o, size_t i)
{
    if (i >= o->n_tensors)
        tn_misuse("tn_optim_group_of", "tensor %zu, the optimizer knows %zu", i, o->n_tensors);
    return o->group_of[i];
}

/* Does group g regularise tensor i? */
static bool decays(const tn_optim *o, const tn_optim_group *g, size_t i)
{
    if (g->reg == TN_REG_NONE || g->lambda == 0.0) return false;
    return g->decay_no_decay || !(tn_params_flags(o->ps, i) & TN_NO_DECAY);
}

/* --------------------------------------------------------------- step */

static void check_store(const tn_optim *o, const char *who)
{
    if (tn_params_size(o->ps) != o->size || tn_params_count(o->ps) != o->n_tensors)
        tn_misuse(who,
                  "the parameter store changed after tn_optim_new (%zu tensors, %zu floats; "
                  "now %zu, %zu): build the model first",
                  o->n_tensors, o->size, tn_params_count(o->ps), tn_params_size(o->ps));
}

/* Does group gi need its loss penalty (a mode in the loss, λ > 0, and a
 * tensor it decays)? */
static bool needs_penalty(const tn_optim *o, size_t gi)
{
    const tn_optim_group *grp = &o->groups[gi];
    if ((unsigned)grp->reg >= TN_REG_COUNT || !tn_reg_rows[grp->reg].reduce) return false;
    for (size_t i = 0; i < o->n_tensors; i++)
        if (o->group_of[i] == gi && decays(o, grp, i)) return true;
    return false;
}

void tn_optim_step(tn_optim *o, double lr)
{
    if (!o) tn_misuse("tn_optim_step", "optimizer is NULL");
    check_store(o, "tn_optim_step");
    if (!(lr >= 0.0) || isinf(lr)) tn_misuse("tn_optim_step", "lr %g is not finite and >= 0", lr);
    if (o->eval)
        tn_misuse("tn_optim_step", "the store holds the schedule-free average x (eval weights): "
                  "call tn_optim_train_weights() before training");
    for (size_t gi = 0; gi < o->n_groups; gi++) {
        const tn_optim_group *grp = &o->groups[gi];
        if ((unsigned)grp->reg >= TN_REG_COUNT)
            tn_misuse("tn_optim_step", "group %zu: unknown regularisation mode %d", gi,
                      (int)grp->reg);
        if (check_cautious("tn_optim_step", o->cfg.kind, grp->reg, grp->cautious) != TN_OK)
            tn_misuse("tn_optim_step", "group %zu: %s", gi, tn_error_message());
        if (needs_penalty(o, gi) && o->penalty_for[gi] != o->t + 1)
            tn_misuse("tn_optim_step",
                      "group %zu (prefix '%s') is in mode %s (lambda %g), which decays only "
                      "through the loss, but tn_optim_penalty() was not built for step %" PRId64
                      ": add tn_optim_penalty(opt, g) to the loss before tn_backward(), or use "
                      "mode coupled",
                      gi, grp->prefix ? grp->prefix : "", tn_reg_rows[grp->reg].name,
                      grp->lambda, o->t + 1);
    }
    /* The hyper-parameters of this step: the config with the current momentum. */
    tn_optim_config h = o->cfg;
    if (o->row->flags & TN_OPTIM_USES_BETAS) h.beta1 = o->momentum;
    else h.momentum = o->momentum;
    const bool sf = o->row->flags & TN_OPTIM_SCHEDULE_FREE;
    for (int k = 0; o->t == 0 && k < TN_OPTIM_MAX_BUFFERS; k++)
        if (o->state[k] && o->row->buffers[k].init == TN_INIT_WEIGHTS)
            memcpy(o->state[k], tn_params_values(o->ps), o->size * sizeof(float));
    o->t++;
    if (o->row->prepare) o->row->prepare(&h, o->t, &o->mu_product);
    if (sf) o->sf_c = tn_sf_prepare(&h, o->t, lr, &o->sf_lr_max, &o->sf_weight_sum);
    tn_kernel_args args = {.h = &h, .t = o->t, .mu_product = o->mu_product};
    const double base = o->cfg.lr;
    const double eta = base > 0.0 ? lr / base : 0.0; /* the schedule multiplier η_t */
    float *values = tn_params_values(o->ps);
    const float *grads = tn_params_grads(o->ps);
    for (size_t i = 0; i < o->n_tensors; i++) {
        if (o->group_of[i] == SIZE_MAX) continue;
        const tn_optim_group *grp = &o->groups[o->group_of[i]];
        /* The group's lr_t = lr_t·α_g/α (exactly lr_t when α_g = α). */
        const double glr = grp->lr == base ? lr : (base > 0.0 ? lr * (grp->lr / base) : 0.0);
        const size_t off = tn_params_offset(o->ps, i), n = tn_params_at(o->ps, i)->numel;
        float *w = values + off;
        const tn_reg_row *mode = &tn_reg_rows[decays(o, grp, i) ? grp->reg : TN_REG_NONE];
        const double lam = grp->lambda;
        float *s[TN_OPTIM_MAX_BUFFERS];
        for (int k = 0; k < TN_OPTIM_MAX_BUFFERS; k++) s[k] = o->state[k] ? o->state[k] + off : NULL;
        args.lr = glr;
        args.wd = mode->coupled ? (float)lam : 0.0f;
        /* LAMB's decoupled-lr decay goes into its update (inside the trust
         * ratio); other decoupled decay: before the kernel, cautious after
         * it, or for schedule-free inside it at y, as k·y added to the
         * direction. */
        const bool in_update = (o->row->flags & TN_OPTIM_DECAY_IN_UPDATE) &&
                               mode == &tn_reg_rows[TN_REG_DECOUPLED_LR];
        args.wd_update = in_update ? (float)lam : 0.0f;
        const double rate = mode->rate ? mode->rate(glr, eta, lam) : 0.0;
        const bool cautious = grp->cautious && mode->rate && !sf && !in_update;
        args.decay = sf && glr > 0.0 ? rate / glr : 0.0;
        args.cautious = grp->cautious;
        if (cautious) memcpy(o->scratch, w, n * sizeof(float));
        else if (mode->before && !sf && !in_update) mode->before(n, w, glr, eta, lam);
        o->row->kernel(n, w, grads + off, s, &args);
        if (cautious) tn_reg_cautious(n, w, o->scratch, (float)rate);
        /* Proximal modes act on z, the base sequence, for schedule-free. */
        if (mode->after) mode->after(n, sf ? s[0] : w, glr, eta, lam);
        if (sf) tn_sf_finish(n, w, s[0], s[1], o->sf_c, o->momentum);
    }
}

/* ------------------------------------------------- schedule-free weights */

/* Write x (eval) or y = (1 − β)·z + β·x (train) into the store. */
static void sf_weights(tn_optim *o, bool eval)
{
    if (!(o->row->flags & TN_OPTIM_SCHEDULE_FREE) || o->eval == eval) return;
    check_store(o, eval ? "tn_optim_eval_weights" : "tn_optim_train_weights");
    o->eval = eval;
    if (o->t == 0) return; /* z = x = y: the weights as they are */
    float *values = tn_params_values(o->ps);
    for (size_t i = 0; i < o->n_tensors; i++) {
        if (o->group_of[i] == SIZE_MAX) continue;
        const size_t off = tn_params_offset(o->ps, i), n = tn_params_at(o->ps, i)->numel;
        if (eval) memcpy(values + off, o->state[1] + off, n * sizeof(float));
        else tn_sf_finish(n, values + off, o->state[0] + off, o->state[1] + off, 0.0, o->momentum);
    }
}

void tn_optim_eval_weights(tn_optim *o)
{
    if (!o) tn_misuse("tn_optim_eval_weights", "optimizer is NULL");
    sf_weights(o, true);
}

void tn_optim_train_weights(tn_optim *o)
{
    if (!o) tn_misuse("tn_optim_train_weights", "optimizer is NULL");
    sf_weights(o, false);
}

double tn_optim_sf_average_weight(const tn_optim *o) { return o->sf_c; }
double tn_optim_sf_lr_max(const tn_optim *o) { return o->sf_lr_max; }

/* ------------------------------------------------------------ penalty */

tn_tensor *tn_optim_penalty(tn_optim *o, tn_graph *g)
{
    if (!o || !g) tn_misuse("tn_optim_penalty", "optimizer and graph are required");
    check_store(o, "tn_optim_penalty");
    tn_tensor *total = NULL;
    for (size_t gi = 0; gi < o->n_groups; gi++) {
        const tn_optim_group *grp = &o->groups[gi];
        if ((unsigned)grp->reg >= TN_REG_COUNT)
            tn_misuse("tn_optim_penalty", "group %zu: unknown regularisation mode %d", gi,
                      (int)grp->reg);
        const tn_reg_row *mode = &tn_reg_rows[grp->reg];
        if (!mode->reduce) continue;
        o->penalty_for[gi] = o->t + 1; /* built for the next step */
        tn_tensor *sum = NULL;
        for (size_t i = 0; i < o->n_tensors; i++) {
            if (o->group_of[i] != gi || !decays(o, grp, i)) continue;
            tn_tensor *s = mode->reduce(g, tn_params_at(o->ps, i));
            sum = sum ? tn_add(g, sum, s) : s;
            if (!sum) return NULL;
        }
        if (!sum) continue;
        tn_tensor *term = tn_scale(g, sum, (float)(mode->scale * grp->lambda));
        total = total ? tn_add(g, total, term) : term;
        if (!total) return NULL;
    }
    static const int no_dims[1] = {1}; /* a 0-dim shape (non-NULL for memcpy) */
    return total ? total : tn_zeros(g, 0, no_dims);
}

/* ----------------------------------------------------------- clipping */

float tn_optim_clip_grad_norm(tn_params *ps, float max_norm)
{
    if (!ps) tn_misuse("tn_optim_clip_grad_norm", "store is NULL");
    float *grads = tn_params_grads(ps);
    /* torch.norm of the stacked per-tensor norms, each a float32. */
    double total_sq = 0.0;
    for (size_t i = 0; i < tn_params_count(ps); i++) {
        if (!(tn_params_flags(ps, i) & TN_PARAM)) continue;
        const float *g = grads + tn_params_offset(ps, i);
        size_t n = tn_params_at(ps, i)->numel;
        double s = 0.0;
        for (size_t j = 0; j < n; j++) s += (double)g[j] * g[j];
        float norm = (float)sqrt(s);
        total_sq += (double)norm * norm;
    }
    const float total = (float)sqrt(total_sq);
    float coef = max_norm / (total + 1e-6f);
    if (coef > 1.0f) coef = 1.0f; /* NaN stays NaN, as torch.clamp */
    if (coef != 1.0f)
        for (size_t i = 0; i < tn_params_count(ps); i++) {
            if (!(tn_params_flags(ps, i) & TN_PARAM)) continue;
            tn_optim_scale(grads + tn_params_offset(ps, i), tn_params_at(ps, i)->numel, coef);
        }
    return total;
}

/* ------------------------------------------------------------ helpers */

double tn_optim_decay_normalized(double lambda_norm, double batch, double n_train, double epochs)
{
    if (!(batch > 0.0 && n_train > 0.0 && epochs > 0.0))
        tn_misuse("tn_optim_decay_normalized", "batch %g, n_train %g and epochs %g must be > 0", batch,
                  n_train, epochs);
    return lambda_norm * sqrt(batch / (n_train * epochs));
}

double tn_optim_decay_paper_from_torch(double lr0, double lambda_torch) { return lr0 * lambda_torch; }

double tn_optim_decay_torch_from_paper(double lr0, double lambda_paper)
{
    if (!(lr0 > 0.0)) tn_misuse("tn_optim_decay_torch_from_paper", "lr0 %g must be > 0", lr0);
    return lambda_paper / lr0;
}

/* ---------------------------------------------------------- checkpoint
 * Format 2 (this one) names the modes by tn_reg_name() and writes
 * "<prefix>format"; format 1 (no such key) by their legacy names. */

#define FORMAT 2

static const char *mode_name(tn_reg r, int format)
{
    return format == 1 ? tn_reg_rows[r].legacy : tn_reg_rows[r].name;
}

/* "kind=adam lr=0.001 ..." with every field, exact (%.17g). */
static void describe_config(const tn_optim_config *c, char *buf, size_t size)
{
    snprintf(buf, size,
             "kind=%s lr=%.17g momentum=%.17g dampening=%.17g nesterov=%d beta1=%.17g "
             "beta2=%.17g amsgrad=%d eps=%.17g alpha=%.17g centered=%d rho=%.17g "
             "lr_decay=%.17g initial_accumulator_value=%.17g momentum_decay=%.17g",
             tn_optim_kind_name(c->kind), c->lr, c->momentum, c->dampening, (int)c->nesterov,
             c->beta1, c->beta2, (int)c->amsgrad, c->eps, c->alpha, (int)c->centered, c->rho,
             c->lr_decay, c->initial_accumulator_value, c->momentum_decay);
    /* The options of the later optimizers, only for them (older checkpoints keep their text). */
    const size_t len = strlen(buf);
    if (c->kind == TN_OPTIM_ADAN) snprintf(buf + len, size - len, " beta3=%.17g", c->beta3);
    if (c->kind == TN_OPTIM_LARS)
        snprintf(buf + len, size - len, " trust_coeff=%.17g", c->trust_coeff);
    /* Fields only schedule-free reads, and only for it (older files load). */
    const size_t used = strlen(buf);
    if (tn_optim_rows[c->kind].flags & TN_OPTIM_SCHEDULE_FREE && used < size)
        snprintf(buf + used, size - used, " weight_lr_power=%.17g sf_r=%.17g", c->weight_lr_power,
                 c->sf_r);
}

/* " cautious=1" when set: files without it load as not cautious. */
static void describe_cautious(const tn_optim_group *g, char *buf, size_t size)
{
    const size_t used = strlen(buf);
    if (g->cautious && used < size) snprintf(buf + used, size - used, " cautious=1");
}

static void describe_group(const tn_optim_group *g, int format, char *buf, size_t size)
{
    snprintf(buf, size, "prefix=%s flags=0x%x lr=%.17g reg=%s lambda=%.17g decay_no_decay=%d",
             g->prefix ? g->prefix : "", g->flags, g->lr, mode_name(g->reg, format), g->lambda,
             (int)g->decay_no_decay);
    describe_cautious(g, buf, size);
}

/* The settings that may change between steps, saved and restored. */
static void describe_now(const tn_optim_group *g, char *buf, size_t size)
{
    snprintf(buf, size, "lr=%.17g reg=%s lambda=%.17g decay_no_decay=%d", g->lr,
             mode_name(g->reg, FORMAT), g->lambda, (int)g->decay_no_decay);
    describe_cautious(g, buf, size);
}

static bool parse_now(const char *s, int format, tn_optim_kind kind, tn_optim_group *g)
{
    char reg[32];
    int dnd, n = 0;
    if (sscanf(s, "lr=%lf reg=%31s lambda=%lf decay_no_decay=%d%n", &g->lr, reg, &g->lambda, &dnd,
               &n) != 4)
        return false;
    g->cautious = strcmp(s + n, " cautious=1") == 0;
    if (s[n] != '\0' && !g->cautious) return false;
    for (int r = 0; r < TN_REG_COUNT; r++)
        if (strcmp(reg, mode_name((tn_reg)r, format)) == 0) {
            g->reg = (tn_reg)r;
            g->decay_no_decay = dnd != 0;
            return check_reg("tn_optim_load", "reg", g->reg, g->lambda) == TN_OK &&
                   check_cautious("tn_optim_load", kind, g->reg, g->cautious) == TN_OK &&
                   g->lr >= 0.0;
        }
    return false;
}

static bool key(char *buf, size_t size, const char *prefix, const char *a, const char *b)
{
    int n = snprintf(buf, size, "%s%s%s%s", prefix, a, b ? "." : "", b ? b : "");
    return n >= 0 && (size_t)n < size;
}

#define KEY_MAX 512
#define DESC_MAX 1024

tn_status tn_optim_save(const tn_optim *o, tn_st_writer *w, const char *prefix)
{
    if (!o || !w) tn_misuse("tn_optim_save", "optimizer and writer are required");
    check_store(o, "tn_optim_save");
    if (!prefix) prefix = "";
    /* The fixed keys below are "<prefix>group.<index>.now" at the longest. */
    if (strlen(prefix) > KEY_MAX - 64)
        return tn_error_set(TN_ERR_ARG, "tenet: tn_optim_save: prefix longer than %d characters",
                            KEY_MAX - 64);
    char k[KEY_MAX], d[DESC_MAX];
    tn_status st = TN_OK;
    for (int s = 0; s < TN_OPTIM_MAX_BUFFERS; s++)
        for (size_t i = 0; o->state[s] && i < o->n_tensors; i++) {
            if (o->group_of[i] == SIZE_MAX) continue;
            const tn_tensor *p = tn_params_at(o->ps, i);
            if (!key(k, sizeof k, prefix, o->row->buffers[s].key, p->name))
                return tn_error_set(TN_ERR_ARG, "tenet: tn_optim_save: name too long: '%s'",
                                    p->name);
            st = tn_st_add(w, k, p->ndim, p->shape, o->state[s] + tn_params_offset(o->ps, i));
            if (st != TN_OK) return st;
        }
    snprintf(d, sizeof d, "%d", FORMAT);
    key(k, sizeof k, prefix, "format", NULL);
    if ((st = tn_st_add_meta(w, k, d)) != TN_OK) return st;
    snprintf(d, sizeof d, "%" PRId64, o->t);
    key(k, sizeof k, prefix, "step", NULL);
    if ((st = tn_st_add_meta(w, k, d)) != TN_OK) return st;
    snprintf(d, sizeof d, "%.9g", (double)o->mu_product);
    key(k, sizeof k, prefix, "mu_product", NULL);
    if ((st = tn_st_add_meta(w, k, d)) != TN_OK) return st;
    snprintf(d, sizeof d, "%.17g", o->momentum);
    key(k, sizeof k, prefix, "momentum", NULL);
    if ((st = tn_st_add_meta(w, k, d)) != TN_OK) return st;
    if (o->row->flags & TN_OPTIM_SCHEDULE_FREE) {
        snprintf(d, sizeof d, "%a %a %a", o->sf_lr_max, o->sf_weight_sum, o->sf_c);
        key(k, sizeof k, prefix, "schedule_free", NULL);
        if ((st = tn_st_add_meta(w, k, d)) != TN_OK) return st;
    }
    describe_config(&o->cfg, d, sizeof d);
    key(k, sizeof k, prefix, "config", NULL);
    if ((st = tn_st_add_meta(w, k, d)) != TN_OK) return st;
    snprintf(d, sizeof d, "%zu", o->n_groups);
    key(k, sizeof k, prefix, "groups", NULL);
    if ((st = tn_st_add_meta(w, k, d)) != TN_OK) return st;
    for (size_t gi = 0; gi < o->n_groups; gi++) {
        char idx[32];
        snprintf(idx, sizeof idx, "%zu", gi);
        describe_group(&o->made[gi], FORMAT, d, sizeof d);
        key(k, sizeof k, prefix, "group", idx);
        if ((st = tn_st_add_meta(w, k, d)) != TN_OK) return st;
        describe_now(&o->groups[gi], d, sizeof d);
        snprintf(idx, sizeof idx, "%zu.now", gi);
        key(k, sizeof k, prefix, "group", idx);
        if ((st = tn_st_add_meta(w, k, d)) != TN_OK) return st;
    }
    return TN_OK;
}

/* The metadata `name` must read `want`. */
static tn_status expect_meta(const tn_st_file *f, const char *prefix, const char *name,
                             const char *idx, const char *want)
{
    char k[KEY_MAX];
    key(k, sizeof k, prefix, name, idx);
    const char *got = tn_st_meta(f, k);
    if (!got)
        return tn_error_set(TN_ERR_FORMAT, "tenet: tn_optim_load: the checkpoint has no '%s'", k);
    if (strcmp(got, want) != 0)
        return tn_error_set(TN_ERR_ARG,
                            "tenet: tn_optim_load: '%s' differs: the checkpoint has \"%s\", this "
                            "optimizer \"%s\"",
                            k, got, want);
    return TN_OK;
}

tn_status tn_optim_load(tn_optim *o, const tn_st_file *f, const char *prefix)
{
    if (!o || !f) tn_misuse("tn_optim_load", "optimizer and file are required");
    check_store(o, "tn_optim_load");
    if (!prefix) prefix = "";
    char k[KEY_MAX], d[DESC_MAX];
    tn_status st;
    key(k, sizeof k, prefix, "format", NULL);
    const char *fmt = tn_st_meta(f, k);
    const int format = !fmt ? 1 : strcmp(fmt, "2") == 0 ? 2 : 0;
    if (!format)
        return tn_error_set(TN_ERR_FORMAT,
                            "tenet: tn_optim_load: '%s' is \"%s\": this build reads formats 1 "
                            "and 2",
                            k, fmt);
    describe_config(&o->cfg, d, sizeof d);
    if ((st = expect_meta(f, prefix, "config", NULL, d)) != TN_OK) return st;
    snprintf(d, sizeof d, "%zu", o->n_groups);
    if ((st = expect_meta(f, prefix, "groups", NULL, d)) != TN_OK) return st;
    for (size_t gi = 0; gi < o->n_groups; gi++) {
        char idx[32];
        snprintf(idx, sizeof idx, "%zu", gi);
        describe_group(&o->made[gi], format, d, sizeof d);
        if ((st = expect_meta(f, prefix, "group", idx, d)) != TN_OK) return st;
        snprintf(idx, sizeof idx, "%zu.now", gi);
        key(k, sizeof k, prefix, "group", idx);
        const char *now = tn_st_meta(f, k);
        tn_optim_group g = o->groups[gi];
        if (!now || !parse_now(now, format, o->cfg.kind, &g))
            return tn_error_set(TN_ERR_FORMAT, "tenet: tn_optim_load: '%s' is missing or malformed",
                                k);
    }
    /* The step count and NAdam's product. */
    key(k, sizeof k, prefix, "step", NULL);
    const char *s = tn_st_meta(f, k);
    char *end = NULL;
    long long t = s ? strtoll(s, &end, 10) : -1;
    if (!s || end == s || *end || t < 0)
        return tn_error_set(TN_ERR_FORMAT, "tenet: tn_optim_load: '%s' is missing or not a step "
                            "count", k);
    key(k, sizeof k, prefix, "mu_product", NULL);
    s = tn_st_meta(f, k);
    float mu = s ? strtof(s, &end) : 0.0f;
    if (!s || end == s || *end)
        return tn_error_set(TN_ERR_FORMAT, "tenet: tn_optim_load: '%s' is missing or not a number",
                            k);
    key(k, sizeof k, prefix, "momentum", NULL);
    s = tn_st_meta(f, k);
    double momentum = s ? strtod(s, &end) : -1.0;
    if (!s || end == s || *end || !(momentum >= 0.0))
        return tn_error_set(TN_ERR_FORMAT, "tenet: tn_optim_load: '%s' is missing or not a "
                            "momentum", k);
    /* Schedule-free: lr_max, the weight sum and c (exact, in hex). */
    double sf[3] = {0.0, 0.0, 0.0};
    if (o->row->flags & TN_OPTIM_SCHEDULE_FREE) {
        key(k, sizeof k, prefix, "schedule_free", NULL);
        s = tn_st_meta(f, k);
        int used = 0;
        if (!s || sscanf(s, "%la %la %la%n", &sf[0], &sf[1], &sf[2], &used) != 3 || s[used])
            return tn_error_set(TN_ERR_FORMAT, "tenet: tn_optim_load: '%s' is missing or "
                                "malformed", k);
    }
    /* Every buffer present with its parameter's shape before anything is copied. */
    for (int pass = 0; pass < 2; pass++)
        for (int b = 0; b < TN_OPTIM_MAX_BUFFERS; b++)
            for (size_t i = 0; o->state[b] && i < o->n_tensors; i++) {
                if (o->group_of[i] == SIZE_MAX) continue;
                const tn_tensor *p = tn_params_at(o->ps, i);
                if (!key(k, sizeof k, prefix, o->row->buffers[b].key, p->name))
                    return tn_error_set(TN_ERR_ARG, "tenet: tn_optim_load: name too long: '%s'",
                                        p->name);
                const tn_st_entry *e = tn_st_find(f, k);
                if (pass == 1) {
                    memcpy(o->state[b] + tn_params_offset(o->ps, i), e->data,
                           p->numel * sizeof(float));
                    continue;
                }
                if (!e)
                    return tn_error_set(TN_ERR_FORMAT,
                                        "tenet: tn_optim_load: the checkpoint has no '%s'", k);
                bool same = e->ndim == p->ndim;
                for (int j = 0; same && j < p->ndim; j++) same = e->shape[j] == p->shape[j];
                if (!same) {
                    char a[64], want[64];
                    tn_shape_str(p, want, sizeof want);
                    tn_tensor tmp = {.ndim = e->ndim};
                    memcpy(tmp.shape, e->shape, sizeof tmp.shape);
                    tn_shape_str(&tmp, a, sizeof a);
                    return tn_error_set(TN_ERR_FORMAT,
                                        "tenet: tn_optim_load: '%s' has shape %s, the parameter %s",
                                        k, a, want);
                }
            }
    for (size_t gi = 0; gi < o->n_groups; gi++) {
        char idx[32];
        snprintf(idx, sizeof idx, "%zu.now", gi);
        key(k, sizeof k, prefix, "group", idx);
        parse_now(tn_st_meta(f, k), format, o->cfg.kind, &o->groups[gi]); /* checked above */
    }
    o->t = (int64_t)t;
    o->mu_product = mu;
    o->momentum = momentum;
    o->sf_lr_max = sf[0], o->sf_weight_sum = sf[1], o->sf_c = sf[2];
    o->eval = (o->row->flags & TN_OPTIM_SCHEDULE_FREE) && o->t > 0;
    return TN_OK;
}
