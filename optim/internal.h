/* optim/internal.h - the optimizer and mode tables and their kernels; not
 * installed.
 *
 * One row per optimizer (tn_optim_rows, optim/table.c): its name, PyTorch's
 * defaults, its state buffers (PyTorch's state keys, when each exists, its
 * initial value), its option check, its flags and its kernel.  One row per
 * regularisation mode (tn_reg_rows): its name, what it does before and
 * after the kernel, in the gradient or in the loss.  The step loop
 * (optim/optim.c) runs a tensor's mode around its optimizer's kernel.
 * Adding an optimizer is one tn_optim_kind value, one row, one kernel.
 *
 * Each kernel is one optimizer step on flat arrays of n floats: parameters
 * w (n), gradients g (n), the row's state buffers s[k] (n each, NULL for a
 * buffer the config does not use) and the step's arguments.  They follow
 * PyTorch 1.13's _single_tensor_* functions operation for operation:
 * scalars are computed in double and rounded to float, element math is
 * float32 in PyTorch's order. */
#ifndef TENET_OPTIM_INTERNAL_H
#define TENET_OPTIM_INTERNAL_H

#include "optim.h"

/* Loops over this many elements or more run on all threads. */
#define TN_OPTIM_PAR_MIN 32768

/* State buffers of one optimizer, at most. */
#define TN_OPTIM_MAX_BUFFERS 4

typedef struct tn_kernel_args {
    const tn_optim_config *h; /* the config with this step's momentum (or β1) */
    float wd;                 /* coupled decay: g + wd·w (PyTorch's weight_decay; 0: none) */
    double lr;                /* the group's lr_t */
    int64_t t;                /* the step, from 1 */
    float mu_product;         /* the optimizer's scalar state after the row's prepare() */
    float wd_update;          /* TN_OPTIM_DECAY_IN_UPDATE rows in mode decoupled-lr: λ of
                                 the update's + λ·w (0: none) */
    /* Schedule-free: the decoupled modes' decay at y as a direction term
     * k·y added to the base update (0: none), cautious-masked if cautious. */
    double decay;
    bool cautious;
} tn_kernel_args;

/* w, g (n); s[k] (n) the row's buffer k at this tensor's offset, or NULL. */
typedef void tn_kernel_fn(size_t n, float *w, const float *g, float *const *s,
                          const tn_kernel_args *a);

/* When a state buffer exists. */
typedef enum tn_buffer_when {
    TN_BUF_ALWAYS,
    TN_BUF_IF_MOMENTUM, /* cfg.momentum != 0 */
    TN_BUF_IF_CENTERED, /* cfg.centered */
    TN_BUF_IF_AMSGRAD,  /* cfg.amsgrad */
} tn_buffer_when;

/* A state buffer's value before the first step. */
typedef enum tn_buffer_init {
    TN_INIT_ZERO,
    TN_INIT_ACCUMULATOR, /* cfg.initial_accumulator_value */
    TN_INIT_WEIGHTS,     /* a copy of the parameter, taken at the first step */
} tn_buffer_init;

typedef struct tn_buffer_spec {
    const char *key;     /* PyTorch's state key (checkpoint names); NULL: no buffer */
    tn_buffer_when when;
    tn_buffer_init init;
} tn_buffer_spec;

typedef struct tn_optim_row {
    const char *name;
    unsigned flags;       /* TN_OPTIM_USES_* */
    double lr, eps;       /* PyTorch's defaults (the rest: tn_optim_defaults) */
    tn_buffer_spec buffers[TN_OPTIM_MAX_BUFFERS];
    /* The options only this optimizer reads (tn_error_set naming the option
     * and value); NULL: none.  lr, eps and the mode are checked for all. */
    tn_status (*check)(const tn_optim_config *c);
    /* Update the scalar state before the step t (NAdam's Π μ); NULL: none. */
    void (*prepare)(const tn_optim_config *h, int64_t t, float *mu_product);
    tn_kernel_fn *kernel;
} tn_optim_row;

extern const tn_optim_row tn_optim_rows[TN_OPTIM_COUNT];

/* A mode's action on a tensor's weights w (n): lr_g the group's lr_t, eta
 * the schedule multiplier η_t, lambda the group's λ. */
typedef void tn_reg_fn(size_t n, float *w, double lr_g, double eta, double lambda);

typedef struct tn_reg_row {
    const char *name;   /* the library's and the programs' name */
    const char *legacy; /* its name in checkpoints of format 1 */
    bool coupled;       /* λ goes to the kernel as its weight_decay */
    /* In the loss: penalty scale·λ·reduce(w) (tn_optim_penalty); NULL: not. */
    tn_tensor *(*reduce)(tn_graph *g, tn_tensor *w);
    double scale;
    tn_reg_fn *before, *after; /* around the kernel; NULL: nothing */
    /* The decoupled modes' per-step decay d (w ← w − d·w), used for cautious
     * decay and by schedule-free optimizers; NULL: not a decoupled mode. */
    double (*rate)(double lr_g, double eta, double lambda);
} tn_reg_row;

extern const tn_reg_row tn_reg_rows[TN_REG_COUNT];

/* The kernels (optim/kernels.c).  Buffers, in row order:
 * sgd: momentum_buffer (if momentum); adagrad: sum; adadelta: square_avg,
 * acc_delta; rmsprop: square_avg, momentum_buffer (if momentum), grad_avg
 * (if centered); adam: exp_avg, exp_avg_sq, max_exp_avg_sq (if amsgrad);
 * nadam, radam: exp_avg, exp_avg_sq (nadam reads a->mu_product: Π μ_1..μ_t,
 * already updated for step t, a float as PyTorch keeps it in a float32
 * tensor); adamax: exp_avg, exp_inf; sgd-paper: momentum_buffer (m, if
 * momentum). */
tn_kernel_fn tn_kernel_sgd, tn_kernel_adagrad, tn_kernel_adadelta, tn_kernel_rmsprop,
    tn_kernel_adam, tn_kernel_nadam, tn_kernel_radam, tn_kernel_adamax, tn_kernel_sgd_paper;

/* The kernels of optim/kernels_recent.c.  Kernels that need a tensor's
 * norms (LAMB, LARS) compute them in a sequential double pass over the
 * tensor the step loop hands them, so the result does not depend on the
 * number of threads.  Buffers, in row order: lion: exp_avg; lamb: exp_avg,
 * exp_avg_sq; lars: momentum_buffer (if momentum); adan: exp_avg,
 * exp_avg_diff, exp_avg_sq, pre_grad (the previous step's gradient);
 * adabelief: exp_avg, exp_avg_var. */
tn_kernel_fn tn_kernel_lion, tn_kernel_lamb, tn_kernel_lars, tn_kernel_adan, tn_kernel_adabelief;
/* The defaults of these optimizers that differ from the common ones of
 * tn_optim_defaults (betas, LARS's momentum and trust coefficient). */
void tn_optim_recent_defaults(tn_optim_config *c);

/* NAdam's μ_t = β1·(1 − ½·0.96^(t·ψ)). */
double tn_nadam_mu(const tn_optim_config *h, int64_t t);

/* The modes' actions (optim/kernels.c). */
tn_reg_fn tn_reg_decoupled_lr, tn_reg_decoupled, tn_reg_prox_l2, tn_reg_prox_l1;

/* Schedule-free and the corrected and cautious decays (optim/schedulefree.c).
 * sf-sgd, sf-adamw: z, x (TN_INIT_WEIGHTS), sf-adamw also exp_avg_sq; the
 * kernels take w = y and update z only; after the mode's proximal action on
 * z, tn_sf_finish() updates x and writes y. */
tn_kernel_fn tn_kernel_sf_sgd, tn_kernel_sf_adamw;
/* c = weight_t/Σ weights after updating lr_max and the weight sum for step t. */
double tn_sf_prepare(const tn_optim_config *h, int64_t t, double lr, double *lr_max,
                     double *weight_sum);
/* x ← x + c·(z − x); y ← (1 − β)·z + β·x (c = 0: y from z and x only). */
void tn_sf_finish(size_t n, float *y, const float *z, float *x, double c, double beta);
tn_reg_fn tn_reg_corrected;
double tn_reg_rate_lr(double lr_g, double eta, double lambda);
double tn_reg_rate_eta(double lr_g, double eta, double lambda);
double tn_reg_rate_corrected(double lr_g, double eta, double lambda);
/* Cautious decay after the kernel: w ← w − d·w0 where (w0 − w)·w0 > 0,
 * w0 (n) the weights before the kernel. */
void tn_reg_cautious(size_t n, float *w, const float *w0, float d);

/* w·c over n floats (clipping, the lr-scaled decay). */
void tn_optim_scale(float *w, size_t n, float c);

#endif
