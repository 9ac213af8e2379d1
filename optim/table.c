/* optim/table.c - one row per optimizer and one per regularisation mode
 * (see internal.h), their names and PyTorch's defaults. */
#include "internal.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define BAD(...) tn_error_set(TN_ERR_ARG, "tenet: tn_optim_new: " __VA_ARGS__)

/* ------------------------------------------------------ option checks */

static tn_status check_sgd(const tn_optim_config *c)
{
    if (!(c->momentum >= 0.0)) return BAD("SGD momentum must be >= 0, got %g", c->momentum);
    if (c->nesterov && (c->momentum <= 0.0 || c->dampening != 0.0))
        return BAD("Nesterov momentum needs momentum > 0 and dampening 0 (got %g, %g)",
                   c->momentum, c->dampening);
    return TN_OK;
}

static tn_status check_sgd_paper(const tn_optim_config *c)
{
    if (!(c->momentum >= 0.0)) return BAD("sgd-paper momentum must be >= 0, got %g", c->momentum);
    if (c->nesterov) return BAD("sgd-paper has no Nesterov momentum (nesterov = 1)");
    if (c->dampening != 0.0)
        return BAD("sgd-paper has no dampening (dampening = %g; use sgd)", c->dampening);
    return TN_OK;
}

static tn_status check_adagrad(const tn_optim_config *c)
{
    if (!(c->lr_decay >= 0.0)) return BAD("Adagrad lr_decay must be >= 0, got %g", c->lr_decay);
    if (!(c->initial_accumulator_value >= 0.0))
        return BAD("Adagrad initial_accumulator_value must be >= 0, got %g",
                   c->initial_accumulator_value);
    return TN_OK;
}

static tn_status check_adadelta(const tn_optim_config *c)
{
    if (!(c->rho >= 0.0 && c->rho <= 1.0)) return BAD("Adadelta rho must be in [0, 1], got %g", c->rho);
    return TN_OK;
}

static tn_status check_rmsprop(const tn_optim_config *c)
{
    if (!(c->alpha >= 0.0)) return BAD("RMSprop alpha must be >= 0, got %g", c->alpha);
    if (!(c->momentum >= 0.0)) return BAD("RMSprop momentum must be >= 0, got %g", c->momentum);
    return TN_OK;
}

static tn_status check_betas(const tn_optim_config *c)
{
    if (!(c->beta1 >= 0.0 && c->beta1 < 1.0)) return BAD("beta1 must be in [0, 1), got %g", c->beta1);
    if (!(c->beta2 >= 0.0 && c->beta2 < 1.0)) return BAD("beta2 must be in [0, 1), got %g", c->beta2);
    return TN_OK;
}

static tn_status check_nadam(const tn_optim_config *c)
{
    tn_status st = check_betas(c);
    if (st == TN_OK && !(c->momentum_decay >= 0.0))
        return BAD("NAdam momentum_decay must be >= 0, got %g", c->momentum_decay);
    return st;
}

/* Lion, LAMB, AdaBelief read β1, β2 only: check_betas. */

static tn_status check_lars(const tn_optim_config *c)
{
    if (!(c->momentum >= 0.0)) return BAD("LARS momentum must be >= 0, got %g", c->momentum);
    if (!(c->trust_coeff > 0.0) || isinf(c->trust_coeff))
        return BAD("LARS trust_coeff must be finite and > 0, got %g", c->trust_coeff);
    if (c->nesterov || c->dampening != 0.0)
        return BAD("LARS has no Nesterov momentum or dampening (nesterov %d, dampening %g)",
                   (int)c->nesterov, c->dampening);
    return TN_OK;
}

static tn_status check_adan(const tn_optim_config *c)
{
    tn_status st = check_betas(c);
    if (st == TN_OK && !(c->beta3 >= 0.0 && c->beta3 < 1.0))
        return BAD("Adan beta3 must be in [0, 1), got %g", c->beta3);
    return st;
}

static tn_status check_sf(const tn_optim_config *c)
{
    const bool adam = c->kind == TN_OPTIM_SF_ADAMW;
    const double beta = adam ? c->beta1 : c->momentum;
    if (!(beta >= 0.0 && beta <= 1.0))
        return BAD("schedule-free %s must be in [0, 1], got %g", adam ? "beta1" : "momentum", beta);
    if (adam && !(c->beta2 >= 0.0 && c->beta2 < 1.0))
        return BAD("beta2 must be in [0, 1), got %g", c->beta2);
    if (!(c->weight_lr_power >= 0.0) || isinf(c->weight_lr_power))
        return BAD("weight_lr_power must be finite and >= 0, got %g", c->weight_lr_power);
    if (!(c->sf_r >= 0.0) || isinf(c->sf_r)) return BAD("sf_r must be finite and >= 0, got %g", c->sf_r);
    return TN_OK;
}

#undef BAD

/* Π μ_1..μ_t in float32, as PyTorch's mu_product tensor. */
static void nadam_prepare(const tn_optim_config *h, int64_t t, float *mu_product)
{
    *mu_product = *mu_product * (float)tn_nadam_mu(h, t);
}

/* -------------------------------------------------------- optimizers */

#define MOMENTUM TN_OPTIM_USES_MOMENTUM
#define BETAS TN_OPTIM_USES_BETAS
#define NESTEROV TN_OPTIM_USES_NESTEROV
#define BUF(key, when) {key, when, TN_INIT_ZERO}

const tn_optim_row tn_optim_rows[] = {
    [TN_OPTIM_SGD] = {"sgd", MOMENTUM | NESTEROV, 1e-2, 1e-8,
                      {BUF("momentum_buffer", TN_BUF_IF_MOMENTUM)},
                      check_sgd, NULL, tn_kernel_sgd},
    [TN_OPTIM_ADAGRAD] = {"adagrad", 0, 1e-2, 1e-10,
                          {{"sum", TN_BUF_ALWAYS, TN_INIT_ACCUMULATOR}},
                          check_adagrad, NULL, tn_kernel_adagrad},
    [TN_OPTIM_ADADELTA] = {"adadelta", 0, 1.0, 1e-6,
                           {BUF("square_avg", TN_BUF_ALWAYS), BUF("acc_delta", TN_BUF_ALWAYS)},
                           check_adadelta, NULL, tn_kernel_adadelta},
    [TN_OPTIM_RMSPROP] = {"rmsprop", MOMENTUM, 1e-2, 1e-8,
                          {BUF("square_avg", TN_BUF_ALWAYS),
                           BUF("momentum_buffer", TN_BUF_IF_MOMENTUM),
                           BUF("grad_avg", TN_BUF_IF_CENTERED)},
                          check_rmsprop, NULL, tn_kernel_rmsprop},
    [TN_OPTIM_ADAM] = {"adam", BETAS, 1e-3, 1e-8,
                       {BUF("exp_avg", TN_BUF_ALWAYS), BUF("exp_avg_sq", TN_BUF_ALWAYS),
                        BUF("max_exp_avg_sq", TN_BUF_IF_AMSGRAD)},
                       check_betas, NULL, tn_kernel_adam},
    [TN_OPTIM_NADAM] = {"nadam", BETAS, 2e-3, 1e-8,
                        {BUF("exp_avg", TN_BUF_ALWAYS), BUF("exp_avg_sq", TN_BUF_ALWAYS)},
                        check_nadam, nadam_prepare, tn_kernel_nadam},
    [TN_OPTIM_RADAM] = {"radam", BETAS, 1e-3, 1e-8,
                        {BUF("exp_avg", TN_BUF_ALWAYS), BUF("exp_avg_sq", TN_BUF_ALWAYS)},
                        check_betas, NULL, tn_kernel_radam},
    [TN_OPTIM_ADAMAX] = {"adamax", BETAS, 2e-3, 1e-8,
                         {BUF("exp_avg", TN_BUF_ALWAYS), BUF("exp_inf", TN_BUF_ALWAYS)},
                         check_betas, NULL, tn_kernel_adamax},
    [TN_OPTIM_SGD_PAPER] = {"sgd-paper", MOMENTUM, 1e-2, 1e-8,
                            {BUF("momentum_buffer", TN_BUF_IF_MOMENTUM)},
                            check_sgd_paper, NULL, tn_kernel_sgd_paper},
    /* Lion: Chen et al. 2023; timm's / Optax's defaults. */
    [TN_OPTIM_LION] = {"lion", BETAS, 1e-4, 0.0, {BUF("exp_avg", TN_BUF_ALWAYS)},
                       check_betas, NULL, tn_kernel_lion},
    /* LAMB: You et al. 2019; timm's Lamb defaults. */
    [TN_OPTIM_LAMB] = {"lamb", BETAS | TN_OPTIM_DECAY_IN_UPDATE, 1e-3, 1e-6,
                       {BUF("exp_avg", TN_BUF_ALWAYS), BUF("exp_avg_sq", TN_BUF_ALWAYS)},
                       check_betas, NULL, tn_kernel_lamb},
    /* LARS: You et al. 2017; timm's Lars defaults (lr 1, momentum 0.9 here). */
    [TN_OPTIM_LARS] = {"lars", MOMENTUM, 1.0, 1e-8, {BUF("momentum_buffer", TN_BUF_IF_MOMENTUM)},
                       check_lars, NULL, tn_kernel_lars},
    /* Adan: Xie et al. 2022; the reference implementation's defaults. */
    [TN_OPTIM_ADAN] = {"adan", BETAS, 1e-3, 1e-8,
                       {BUF("exp_avg", TN_BUF_ALWAYS), BUF("exp_avg_diff", TN_BUF_ALWAYS),
                        BUF("exp_avg_sq", TN_BUF_ALWAYS), BUF("pre_grad", TN_BUF_ALWAYS)},
                       check_adan, NULL, tn_kernel_adan},
    /* AdaBelief: Zhuang et al. 2020; adabelief-pytorch 0.2's defaults. */
    [TN_OPTIM_ADABELIEF] = {"adabelief", BETAS, 1e-3, 1e-16,
                            {BUF("exp_avg", TN_BUF_ALWAYS), BUF("exp_avg_var", TN_BUF_ALWAYS)},
                            check_betas, NULL, tn_kernel_adabelief},
    /* Schedule-free: defaults of the authors' schedulefree package (SGDScheduleFree has no
     * default lr: 1.0 here, its examples' order of magnitude; AdamWScheduleFree 0.0025). */
    [TN_OPTIM_SF_SGD] = {"sf-sgd", MOMENTUM | TN_OPTIM_SCHEDULE_FREE, 1.0, 1e-8,
                         {{"z", TN_BUF_ALWAYS, TN_INIT_WEIGHTS}, {"x", TN_BUF_ALWAYS, TN_INIT_WEIGHTS}},
                         check_sf, NULL, tn_kernel_sf_sgd},
    [TN_OPTIM_SF_ADAMW] = {"sf-adamw", BETAS | TN_OPTIM_SCHEDULE_FREE, 2.5e-3, 1e-8,
                           {{"z", TN_BUF_ALWAYS, TN_INIT_WEIGHTS}, {"x", TN_BUF_ALWAYS, TN_INIT_WEIGHTS},
                            BUF("exp_avg_sq", TN_BUF_ALWAYS)},
                           check_sf, NULL, tn_kernel_sf_adamw},
};
static_assert(sizeof tn_optim_rows / sizeof *tn_optim_rows == TN_OPTIM_COUNT,
              "one row per tn_optim_kind");

#undef BUF
#undef MOMENTUM
#undef BETAS
#undef NESTEROV

/* ------------------------------------------------------------- modes */

const tn_reg_row tn_reg_rows[] = {
    [TN_REG_NONE] = {"none", "none", false, NULL, 0.0, NULL, NULL, NULL},
    [TN_REG_L2] = {"l2", "l2", false, tn_sum_squares, 0.5, NULL, NULL, NULL},
    [TN_REG_L1] = {"l1", "l1", false, tn_sum_abs, 1.0, NULL, NULL, NULL},
    [TN_REG_COUPLED] = {"coupled", "coupled", true, NULL, 0.0, NULL, NULL, NULL},
    [TN_REG_DECOUPLED_LR] = {"decoupled-lr", "decoupled", false, NULL, 0.0,
                             tn_reg_decoupled_lr, NULL, tn_reg_rate_lr},
    [TN_REG_DECOUPLED] = {"decoupled", "decoupled_scheduled", false, NULL, 0.0,
                          tn_reg_decoupled, NULL, tn_reg_rate_eta},
    [TN_REG_PROX_L2] = {"prox-l2", "prox_l2", false, NULL, 0.0, NULL, tn_reg_prox_l2, NULL},
    [TN_REG_PROX_L1] = {"prox-l1", "prox_l1", false, NULL, 0.0, NULL, tn_reg_prox_l1, NULL},
    [TN_REG_CORRECTED] = {"corrected", "corrected", false, NULL, 0.0, tn_reg_corrected, NULL,
                          tn_reg_rate_corrected},
};
static_assert(sizeof tn_reg_rows / sizeof *tn_reg_rows == TN_REG_COUNT, "one row per tn_reg");

/* ------------------------------------------------------------- names */

const char *tn_optim_kind_name(tn_optim_kind kind)
{
    if ((unsigned)kind >= TN_OPTIM_COUNT)
        tn_misuse("tn_optim_kind_name", "unknown optimizer kind %d", (int)kind);
    return tn_optim_rows[kind].name;
}

unsigned tn_optim_kind_flags(tn_optim_kind kind)
{
    if ((unsigned)kind >= TN_OPTIM_COUNT)
        tn_misuse("tn_optim_kind_flags", "unknown optimizer kind %d", (int)kind);
    return tn_optim_rows[kind].flags;
}

const char *tn_reg_name(tn_reg reg)
{
    if ((unsigned)reg >= TN_REG_COUNT) tn_misuse("tn_reg_name", "unknown mode %d", (int)reg);
    return tn_reg_rows[reg].name;
}

static const char *kind_at(int i) { return tn_optim_rows[i].name; }
static const char *reg_at(int i) { return tn_reg_rows[i].name; }

/* The i < n with name_at(i) equal to `name`, or an error naming `what` and
 * listing the names. */
static tn_status parse_name(const char *name, const char *what, const char *(*name_at)(int),
                            int n, int *out)
{
    if (!name) tn_misuse("tn_optim_kind_parse/tn_reg_parse", "the %s name is NULL", what);
    for (int i = 0; i < n; i++)
        if (strcmp(name, name_at(i)) == 0) {
            *out = i;
            return TN_OK;
        }
    char list[256] = "";
    for (int i = 0; i < n; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
                 name_at(i));
    return tn_error_set(TN_ERR_ARG, "tenet: unknown %s '%s' (one of: %s)", what, name, list);
}

tn_status tn_optim_kind_parse(const char *name, tn_optim_kind *out)
{
    int i = 0;
    tn_status st = parse_name(name, "optimizer", kind_at, TN_OPTIM_COUNT, &i);
    if (st == TN_OK) *out = (tn_optim_kind)i;
    return st;
}

tn_status tn_reg_parse(const char *name, tn_reg *out)
{
    int i = 0;
    tn_status st = parse_name(name, "regularisation mode", reg_at, TN_REG_COUNT, &i);
    if (st == TN_OK) *out = (tn_reg)i;
    return st;
}

/* ---------------------------------------------------------- defaults */

tn_optim_config tn_optim_defaults(tn_optim_kind kind)
{
    if ((unsigned)kind >= TN_OPTIM_COUNT)
        tn_misuse("tn_optim_defaults", "unknown optimizer kind %d", (int)kind);
    tn_optim_config c = {.kind = kind, .lr = tn_optim_rows[kind].lr, .beta1 = 0.9,
                         .beta2 = 0.999, .eps = tn_optim_rows[kind].eps, .alpha = 0.99,
                         .rho = 0.9, .momentum_decay = 4e-3, .reg = TN_REG_NONE,
                         .weight_lr_power = 2.0};
    tn_optim_recent_defaults(&c);
    return c;
}

void tn_optim_recent_defaults(tn_optim_config *c)
{
    switch (c->kind) {
    case TN_OPTIM_LION: c->beta2 = 0.99; break;
    case TN_OPTIM_LARS: c->momentum = 0.9; c->trust_coeff = 1e-3; break;
    case TN_OPTIM_ADAN: c->beta1 = 0.98; c->beta2 = 0.92; c->beta3 = 0.99; break;
    case TN_OPTIM_SF_SGD: c->momentum = 0.9; break;
    default: break;
    }
}
