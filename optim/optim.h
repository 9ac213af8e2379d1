/* optim/optim.h - optimizers, regularisation modes, learning-rate schedules,
 * gradient clipping and optimizer checkpoints over a tn_params store.
 *
 * A training loop picks an optimizer, a regularisation mode per parameter
 * group and a schedule in a few lines:
 *
 *   tn_optim_config cfg = tn_optim_sgd(0.1);      // PyTorch's defaults, lr 0.1
 *   cfg.momentum = 0.9;
 *   cfg.reg = TN_REG_COUPLED;                     // PyTorch's weight_decay
 *   cfg.lambda = 5e-4;
 *   tn_optim *opt;                                // group 0: every TN_PARAM
 *   if (tn_optim_new(ps, &cfg, &opt) != TN_OK) die(tn_error_message());
 *   tn_optim_group_add(opt, &(tn_optim_group){    // the head: its own lr,
 *       .prefix = "fc.", .lr = 0.01, .reg = TN_REG_NONE}, NULL);  // no decay
 *   tn_sched sched = tn_sched_cosine(total_steps, 0.0);
 *   sched.warmup = 500;                           // linear warm-up, any schedule
 *
 *   for (int64_t t = tn_optim_steps(opt); t < total_steps; t++) {
 *       tn_graph_reset(g);
 *       tn_params_zero_grad(ps);
 *       tn_tensor *loss = model_loss(g, ...);
 *       tn_tensor *penalty = tn_optim_penalty(opt, g);  // L1/L2-in-the-loss groups
 *       if (tn_backward(g, tn_add(g, loss, penalty)) != TN_OK) break;
 *       tn_optim_clip_grad_norm(ps, 5.0f);
 *       tn_optim_step(opt, tn_sched_lr(&sched, cfg.lr, (double)t));
 *   }
 *
 * Presets: tn_optim_sgdw (SGD + decay scaled by the schedule, the AdamW
 * paper's SGDW), tn_optim_adamw_torch (PyTorch's AdamW: decay by lr_t·λ),
 * tn_optim_adamw_paper (the paper's AdamW: decay by η_t·λ), tn_optim_adamprox
 * (proximal L2).  Every optimizer takes every mode.
 *
 * Notation: α = cfg.lr the base learning rate, lr_t the learning rate passed
 * to tn_optim_step() (a group with base lr α_g uses lr_t·α_g/α), η_t = lr_t/α
 * the schedule multiplier, λ a group's coefficient, t the step count from 1.
 * The update rules are PyTorch 1.13's, operation for operation in float32;
 * docs/optim.md writes out the equations of every optimizer and mode. */
#ifndef TENET_OPTIM_H
#define TENET_OPTIM_H

#include "../tensor/safetensors.h"
#include "../tensor/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tn_optim tn_optim;

typedef enum tn_optim_kind {
    TN_OPTIM_SGD,      /* "sgd": momentum, dampening, Nesterov */
    TN_OPTIM_ADAGRAD,  /* "adagrad": lr_decay, initial_accumulator_value */
    TN_OPTIM_ADADELTA, /* "adadelta": rho */
    TN_OPTIM_RMSPROP,  /* "rmsprop": alpha, momentum, centered */
    TN_OPTIM_ADAM,     /* "adam": beta1, beta2, amsgrad */
    TN_OPTIM_NADAM,    /* "nadam": beta1, beta2, momentum_decay; PyTorch 1.13's step, see below */
    TN_OPTIM_RADAM,    /* "radam": beta1, beta2 */
    TN_OPTIM_ADAMAX,   /* "adamax": beta1, beta2 */
    TN_OPTIM_SGD_PAPER, /* "sgd-paper": the AdamW paper's SGD momentum (its Algorithm 1),
                           m ← μ·m + lr_t·g; w ← w − m; momentum only (no Nesterov,
                           no dampening).  With TN_REG_DECOUPLED it is the paper's SGDW. */
    /* Optimizers after PyTorch 1.13's set, from their papers and reference
     * code (docs/optim.md writes out each and its sources): */
    TN_OPTIM_LION,      /* "lion": beta1, beta2 (0.9, 0.99), lr 1e-4; update sign(β1·m + (1 − β1)·g) */
    TN_OPTIM_LAMB,      /* "lamb": beta1, beta2, eps 1e-6; Adam step × per-tensor trust ratio */
    TN_OPTIM_LARS,      /* "lars": momentum 0.9, trust_coeff 1e-3, lr 1; per-tensor trust ratio */
    TN_OPTIM_ADAN,      /* "adan": beta1, beta2, beta3 (0.98, 0.92, 0.99), lr 1e-3 */
    TN_OPTIM_ADABELIEF, /* "adabelief": beta1, beta2, eps 1e-16 inside the second moment */
    /* Schedule-free (Defazio et al. 2024, "The Road Less Scheduled"): the
     * store holds y = (1 − β)·z + β·x, z the base sequence, x its weighted
     * average (docs/optim.md); evaluate and checkpoint the model between
     * tn_optim_eval_weights() and tn_optim_train_weights(). */
    TN_OPTIM_SF_SGD,   /* "sf-sgd": momentum β 0.9, weight_lr_power 2, sf_r 0 */
    TN_OPTIM_SF_ADAMW, /* "sf-adamw": beta1 β 0.9, beta2 0.999, eps 1e-8, lr 0.0025 */
    TN_OPTIM_COUNT
} tn_optim_kind;

/* NAdam is PyTorch 1.13's default (single-tensor) NAdam, quirk included:
 * with μ_t = β1·(1 − ½·0.96^(t·momentum_decay)), Π_t = μ_1···μ_t (a float32,
 * as in PyTorch) and denom = sqrt(v/(1 − β2^t)) + ε,
 *   w ← w − lr_t·(1 − μ_t)/(1 − Π_t)·g/denom − lr_t·μ_{t+1}/(1 − P)·m/denom
 * where P = Π_t·μ_t·μ_{t+1} (1.13's mu_product_next = mu_product * mu *
 * mu_next counts μ_t twice) instead of Dozat's Π_{t+1} = Π_t·μ_{t+1}.
 * PyTorch 2.0 fixed it (pull request #92699; 1.13's foreach=True path
 * already used Π_t·μ_{t+1}).  So tenet matches torch 1.13's default to float
 * rounding but not torch >= 2.0 or the paper in the first steps: with the
 * defaults the m term is 12% smaller at t = 1, 5% at t = 2, under 1% from
 * t = 4 on (both products vanish as t grows). */

/* What an optimizer reads from its config (tn_optim_kind_flags). */
enum {
    TN_OPTIM_USES_MOMENTUM = 1u << 0, /* cfg.momentum; tn_optim_set_momentum() sets it */
    TN_OPTIM_USES_BETAS = 1u << 1,    /* the Adam family: cfg.beta1, cfg.beta2;
                                         tn_optim_set_momentum() sets β1 */
    TN_OPTIM_USES_NESTEROV = 1u << 2, /* cfg.nesterov and cfg.dampening */
    /* TN_REG_DECOUPLED_LR's λ·w joins the optimizer's update instead of
     * w·(1 − lr_t·λ) before the step: LAMB's u = adam_step + λ·w, inside
     * its trust ratio (the LAMB paper's and Optax's decay). */
    TN_OPTIM_DECAY_IN_UPDATE = 1u << 8,
    TN_OPTIM_SCHEDULE_FREE = 1u << 9, /* sf-*: the store holds y; cfg.weight_lr_power,
                                         cfg.sf_r; tn_optim_eval_weights() swaps to x */
};

/* The optimizer's name ("sgd", "adam", ... as in the comments above);
 * aborts on a kind out of range. */
const char *tn_optim_kind_name(tn_optim_kind kind);
/* The kind named `name`; TN_ERR_ARG, with a message listing the names, if
 * there is none (*out unchanged). */
tn_status tn_optim_kind_parse(const char *name, tn_optim_kind *out);
/* TN_OPTIM_USES_* of `kind`. */
unsigned tn_optim_kind_flags(tn_optim_kind kind);

/* Regularisation of a group; λ is the group's `lambda`, the string its name
 * (tn_reg_name, tn_reg_parse).  docs/optim.md has the equations.
 *
 * The float32 floor: a per-step decay d = η_t·λ (or lr_t·λ) below 2^-25 ≈
 * 3e-8 changes no weight in any form, since w − d·w rounds back to w when
 * d·|w| < ulp(w)/2 (ulp(w)/2 >= 2^-25·|w|); between 3e-8 and 6e-8 only part
 * of the weights move.  Above it, TN_REG_DECOUPLED and TN_REG_PROX_L2
 * compute w − d·w with one rounding per weight (fmaf), so over many weights
 * the mean decay is d within 0.075% at d = 1e-6 and 3.9% at 1e-7;
 * TN_REG_DECOUPLED_LR keeps PyTorch AdamW's w·float32(1 − lr_t·λ), whose one
 * rounded factor biases every weight the same way (1.5% at 1e-6, 15% at
 * 1e-7).  docs/optim.md has the table. */
typedef enum tn_reg {
    TN_REG_NONE,     /* "none" */
    TN_REG_L2,       /* "l2": (λ/2)·Σw² added to the loss: tn_optim_penalty() */
    TN_REG_L1,       /* "l1": λ·Σ|w| added to the loss (subgradient 0 at 0) */
    TN_REG_COUPLED,  /* "coupled": g += λ·w inside the optimizer: PyTorch's
                        weight_decay; equals TN_REG_L2 */
    TN_REG_DECOUPLED_LR, /* "decoupled-lr": w ← w·(1 − lr_t·λ) before the step:
                            PyTorch's AdamW */
    TN_REG_DECOUPLED,    /* "decoupled": w ← w − η_t·λ·w before the step: the AdamW
                            paper's SGDW/AdamW (λ_paper = α·λ_torch) */
    TN_REG_PROX_L2,  /* "prox-l2": w ← (w − step)/(1 + η_t·λ): AdamProx, for any optimizer */
    TN_REG_PROX_L1,  /* "prox-l1": w ← sign(w)·max(|w| − η_t·λ, 0) after the step */
    TN_REG_CORRECTED, /* "corrected": w ← w − (lr_t²/α_g)·λ·w before the step: Defazio 2025's
                         corrected decay (AdamC, SGDC) for weights followed by a normalization:
                         λ_t = λ·lr_t/α_g in the lr-scaled convention (lr_max = α_g) */
    TN_REG_COUNT
} tn_reg;

/* The mode's name ("decoupled-lr", ...); aborts on a mode out of range. */
const char *tn_reg_name(tn_reg reg);
/* The mode named `name`; TN_ERR_ARG, with a message listing the names, if
 * there is none (*out unchanged). */
tn_status tn_reg_parse(const char *name, tn_reg *out);

/* Hyper-parameters.  tn_optim_defaults() fills PyTorch's defaults; fields
 * an optimizer does not use are ignored. */
typedef struct tn_optim_config {
    tn_optim_kind kind;
    double lr;        /* base learning rate α (PyTorch's SGD has none: 0.01 here) */
    double momentum;  /* SGD, RMSprop: 0 */
    double dampening; /* SGD: 0 */
    bool nesterov;    /* SGD: false (needs momentum > 0, dampening 0) */
    double beta1;     /* Adam family: 0.9 */
    double beta2;     /* Adam family: 0.999 */
    bool amsgrad;     /* Adam: false */
    double eps;       /* 1e-8; Adagrad 1e-10, Adadelta 1e-6 */
    double alpha;     /* RMSprop: 0.99 */
    bool centered;    /* RMSprop: false */
    double rho;       /* Adadelta: 0.9 */
    double lr_decay;  /* Adagrad: 0 */
    double initial_accumulator_value; /* Adagrad: 0 */
    double momentum_decay;            /* NAdam: 4e-3 */
    double beta3;       /* Adan: 0.99 (its β1, β2 default to 0.98, 0.92) */
    double trust_coeff; /* LARS: 1e-3 */
    tn_reg reg;       /* regularisation of the default group (group 0) */
    double lambda;    /* its coefficient */
    /* Schedule-free and cautious decay. */
    double weight_lr_power; /* sf-*: 2; the average's weights are t^r·lr_max^power */
    double sf_r;            /* sf-*: 0 (the package's r) */
    bool cautious;          /* group 0's cautious decay (tn_optim_group.cautious) */
} tn_optim_config;

/* PyTorch's defaults for `kind` (lr: Adagrad/RMSprop/SGD 1e-2, Adadelta 1,
 * Adam/RAdam 1e-3, NAdam/Adamax 2e-3), no regularisation. */
tn_optim_config tn_optim_defaults(tn_optim_kind kind);
tn_optim_config tn_optim_sgd(double lr);
tn_optim_config tn_optim_adam(double lr);
/* SGD with momentum and decay w ← w − η_t·λ·w (the AdamW paper's SGDW
 * decay).  The momentum is PyTorch's (buf ← μ·buf + g; w ← w − lr_t·buf),
 * not the paper's Algorithm 1 (m ← β1·m + η_t·α·g; w ← w − m): the two
 * agree while the lr is constant (m = lr·buf), but when the lr changes
 * between steps PyTorch's form scales the whole buffer, past gradients
 * included, by the current lr_t, while the paper's keeps each gradient at
 * the lr of its own step.  For the paper's form set kind to
 * TN_OPTIM_SGD_PAPER (tn_optim_sgdw_paper). */
tn_optim_config tn_optim_sgdw(double lr, double momentum, double lambda);
/* The AdamW paper's SGDW exactly: TN_OPTIM_SGD_PAPER + TN_REG_DECOUPLED. */
tn_optim_config tn_optim_sgdw_paper(double lr, double momentum, double lambda);
/* Adam + decay by lr_t·λ: torch.optim.AdamW (its default λ is 0.01). */
tn_optim_config tn_optim_adamw_torch(double lr, double lambda);
/* Adam + decay by η_t·λ: the AdamW paper's convention. */
tn_optim_config tn_optim_adamw_paper(double lr, double lambda);
/* Adam + proximal L2: w ← (w − step)/(1 + η_t·λ). */
tn_optim_config tn_optim_adamprox(double lr, double lambda);

/* An optimizer over the TN_PARAM tensors of `ps` (TN_BUFFER tensors are
 * never touched), with one group (index 0) holding them all with cfg's lr,
 * reg and lambda, into *out.  Its state is flat arrays the length of the
 * store, zeroed (Adagrad's sum: initial_accumulator_value).  TN_ERR_ARG
 * with a message naming the option and its value if an option is invalid,
 * TN_ERR_NOMEM if memory runs out (*out NULL on error).  Build the model
 * first. */
tn_status tn_optim_new(tn_params *ps, const tn_optim_config *cfg, tn_optim **out);
void tn_optim_free(tn_optim *o);
/* The config as made (tn_optim_set_momentum() does not change it). */
const tn_optim_config *tn_optim_config_of(const tn_optim *o);

/* ------------------------------------------------------------- groups */

typedef struct tn_optim_group {
    const char *prefix;  /* select tensors whose name starts with this (NULL, "": all) */
    unsigned flags;      /* ... and that have all these flags (0: any) */
    double lr;           /* the group's base lr α_g (0: the optimizer's α) */
    tn_reg reg;          /* regularisation mode */
    double lambda;       /* its coefficient λ >= 0 */
    bool decay_no_decay; /* regularise TN_NO_DECAY tensors too (default: never) */
    /* Cautious decay (decoupled, decoupled-lr and corrected only): decay w_i
     * only where the optimizer's update u (w ← w − u, before decay) has the
     * sign of w_i. */
    bool cautious;
} tn_optim_group;

/* Add a group: the selected parameters leave their group for this one (the
 * last group that selects a tensor owns it); its index goes to *index_out
 * (index_out may be NULL).  TN_ERR_ARG with a message if it selects nothing
 * or an option is invalid, TN_ERR_NOMEM if memory runs out; the groups are
 * unchanged on error. */
tn_status tn_optim_group_add(tn_optim *o, const tn_optim_group *spec, size_t *index_out);
size_t tn_optim_group_count(const tn_optim *o);
/* lr, reg, lambda and decay_no_decay may be changed between steps (say a
 * normalized λ per restart period); prefix and flags are not re-read.
 * Checkpoints check the groups as they were added and restore the current
 * settings. */
tn_optim_group *tn_optim_group_at(tn_optim *o, size_t i);
/* The group of parameter `i` of the store (SIZE_MAX for a TN_BUFFER). */
size_t tn_optim_group_of(const tn_optim *o, size_t i);

/* --------------------------------------------------------------- step */

/* One step with learning rate lr_t (for the base lr α; a group with base lr
 * α_g uses lr_t·α_g/α), reading the gradients in the store.  A group in
 * TN_REG_L2 or TN_REG_L1 mode (λ > 0, with a tensor it decays) regularises
 * only through the loss: if tn_optim_penalty() was not called since the
 * last step, its decay would silently be lost, so the step aborts naming
 * the group and its mode (programmer misuse). */
void tn_optim_step(tn_optim *o, double lr);
/* Steps taken so far (the t of the next step is this + 1). */
int64_t tn_optim_steps(const tn_optim *o);
/* Set SGD/RMSprop momentum or the Adam family's β1 for the next steps
 * (one-cycle's cycling); saved by checkpoints, but not part of the config
 * they check. */
void tn_optim_set_momentum(tn_optim *o, double momentum);

/* The loss penalty of the groups in TN_REG_L2 / TN_REG_L1 mode:
 * Σ_groups (λ/2)·Σw² or λ·Σ|w| over their decayed tensors, as graph ops
 * (tn_sum_squares, tn_sum_abs, tn_scale, tn_add), 0-dim; a 0-dim zero when
 * no group is in those modes.  Marks those groups' penalty as built for the
 * next tn_optim_step().  NULL only if the graph is poisoned. */
tn_tensor *tn_optim_penalty(tn_optim *o, tn_graph *g);

/* Scale the gradients of every TN_PARAM tensor so that their global L2 norm
 * is at most max_norm (torch.nn.utils.clip_grad_norm_: coefficient
 * max_norm/(norm + 1e-6), clamped to 1); returns the norm before clipping. */
float tn_optim_clip_grad_norm(tn_params *ps, float max_norm);

/* ---------------------------------------------------------- checkpoint */

/* Add every state buffer (per parameter, as "<prefix><buffer>.<param name>",
 * buffers named as PyTorch's state keys: exp_avg, momentum_buffer, ...) and,
 * as metadata, the format ("<prefix>format" = 2), the step count (the
 * schedule's step), the current momentum, and the hyper-parameters of the
 * optimizer and its groups to a writer; the buffers are referenced until
 * tn_st_save(). */
tn_status tn_optim_save(const tn_optim *o, tn_st_writer *w, const char *prefix);
/* Restore what tn_optim_save() wrote, after checking that the optimizer,
 * its hyper-parameters and groups match; nothing changes on error.
 * Checkpoints without a format key (format 1) name the modes as older
 * builds did: "decoupled" was TN_REG_DECOUPLED_LR, "decoupled_scheduled"
 * TN_REG_DECOUPLED, "prox_l2" and "prox_l1" TN_REG_PROX_L2/L1; they load. */
tn_status tn_optim_load(tn_optim *o, const tn_st_file *f, const char *prefix);

/* ------------------------------------------------------ decay helpers */

/* Normalized weight decay λ = λ_norm·sqrt(b/(B·T)): b the batch size, B the
 * number of training points, T the epochs of the run or restart period. */
double tn_optim_decay_normalized(double lambda_norm, double batch, double n_train, double epochs);
/* Between PyTorch's AdamW convention (decay lr_t·λ_torch) and the paper's
 * (decay η_t·λ_paper): λ_paper = α·λ_torch. */
double tn_optim_decay_paper_from_torch(double lr0, double lambda_torch);
double tn_optim_decay_torch_from_paper(double lr0, double lambda_paper);

/* -------------------------------------- schedule-free, corrected decay,
 * decay timescales and per-layer diagnostics (optim/schedulefree.c,
 * optim/decay.c) */

/* Schedule-free optimizers keep y (where gradients are taken) in the store
 * while training; tn_optim_eval_weights() writes the average x there (for
 * evaluation and for saving the model), tn_optim_train_weights() writes y
 * back, recomputed from the saved z and x, so a run resumed from a
 * checkpoint saved in between continues bit-identically.  Both are no-ops
 * for other optimizers and when already in that state; tn_optim_step()
 * aborts in the eval state.  tn_optim_load() leaves a schedule-free
 * optimizer in the eval state (the store then holds whatever the model
 * checkpoint held, x): call tn_optim_train_weights() before training. */
void tn_optim_eval_weights(tn_optim *o);
void tn_optim_train_weights(tn_optim *o);
/* Schedule-free: the averaging weight c_t of the last step (0 before the
 * first) and the largest lr seen; 0 for other optimizers. */
double tn_optim_sf_average_weight(const tn_optim *o);
double tn_optim_sf_lr_max(const tn_optim *o);

/* The flag tn_optim_mark_normalized() sets on a weight whose output feeds a
 * batch norm; a group with .flags = TN_OPTIM_NORMALIZED selects them. */
#define TN_OPTIM_NORMALIZED (1u << 16)

/* Run forward(g, ctx) once (eval mode, gradients recorded, the graph reset
 * before and after, so running statistics do not move), then walk the tape
 * from each batch-norm op back (through view ops) to the conv2d or linear
 * op that produced its input, and flag that op's weight TN_OPTIM_NORMALIZED
 * (the flag is cleared on every other tensor of ps); the number flagged to
 * *count (may be NULL).  TN_ERR_* if the forward pass fails (the graph's
 * error). */
tn_status tn_optim_mark_normalized(tn_params *ps, tn_graph *g,
                                   tn_tensor *(*forward)(tn_graph *g, void *ctx), void *ctx,
                                   size_t *count);

/* λ from a decay timescale (Wang & Aitchison 2024): τ_iter = τ_epoch·iters
 * steps is 1/(per-step shrink).  decoupled-lr, corrected, coupled and l2
 * shrink by lr·λ per step at the peak lr (for SGD; coupled/l2 have no exact
 * timescale under adaptive optimizers): λ = 1/(lr·τ_iter); decoupled and
 * prox-l2 by η·λ with η = 1 at the peak: λ = 1/τ_iter; none: 0.  TN_ERR_ARG
 * for l1/prox-l1 (a constant shrink, no timescale) or a τ, lr or iters
 * that is not finite and > 0.  tn_optim_tau_from_decay is the inverse. */
tn_status tn_optim_decay_from_tau(double tau_epoch, double lr, double iters_per_epoch, tn_reg mode,
                                  double *lambda);
tn_status tn_optim_tau_from_decay(double lambda, double lr, double iters_per_epoch, tn_reg mode,
                                  double *tau_epoch);

/* Per-layer norm and rotation (Kosson et al. 2024, rotational equilibrium):
 * for each TN_PARAM tensor of >= 2 dims, ||w|| and the angle in radians
 * between w and its value in `prev` (a copy of tn_params_values() laid out
 * like the store, taken e.g. an epoch earlier); 0 when either is zero.
 * Writes at most `cap` entries, returns how many there are. */
typedef struct tn_layer_stat {
    const char *name; /* the tensor's name (owned by the store) */
    double norm, angle;
} tn_layer_stat;
size_t tn_optim_layer_stats(const tn_params *ps, const float *prev, tn_layer_stat *out, size_t cap);

/* ----------------------------------------------------------- schedules
 * A schedule is a value; tn_sched_lr() is a pure function of it and of the
 * step t (a double: fractional epochs for warm restarts stepped per batch).
 * The closed forms equal PyTorch's lr_scheduler (to ~1e-15, their chainable
 * forms round differently). */

#define TN_SCHED_MAX_MILESTONES 16

typedef enum tn_sched_kind {
    TN_SCHED_CONSTANT,
    TN_SCHED_STEP,             /* α·γ^⌊t/step_size⌋ */
    TN_SCHED_MULTISTEP,        /* α·γ^(milestones <= t) */
    TN_SCHED_LINEAR,           /* α·(s + (e − s)·min(T, t)/T) */
    TN_SCHED_EXPONENTIAL,      /* α·γ^t */
    TN_SCHED_COSINE,           /* η_min + (α − η_min)(1 + cos(π·t/T_max))/2 */
    TN_SCHED_COSINE_RESTARTS,  /* cosine within periods T_0, T_0·T_mult, ... */
    TN_SCHED_ONE_CYCLE,        /* α/div → α over pct·total, cos down to α/div/final_div */
} tn_sched_kind;

typedef struct tn_sched {
    tn_sched_kind kind;
    double gamma;                 /* step, multistep, exponential */
    int step_size;                /* step */
    int n_milestones;             /* multistep, milestones ascending */
    int milestones[TN_SCHED_MAX_MILESTONES];
    double start_factor, end_factor; /* linear (1/3, 1) */
    int total_iters;                 /* linear (5) */
    double t_max;                 /* cosine */
    double eta_min;               /* cosine, cosine restarts (absolute lr) */
    int t_0, t_mult;              /* cosine restarts */
    int total_steps;              /* one-cycle; its α is max_lr */
    double pct_start;             /* one-cycle: 0.3 */
    double div_factor;            /* one-cycle: 25 */
    double final_div_factor;      /* one-cycle: 1e4 */
    double base_momentum, max_momentum; /* one-cycle: 0.85, 0.95 */
    double warmup;                /* linear warm-up over this many steps: × min(1, (t+1)/w) */
} tn_sched;

tn_sched tn_sched_constant(void);
tn_sched tn_sched_step(int step_size, double gamma);
tn_sched tn_sched_multistep(int n, const int *milestones, double gamma);
tn_sched tn_sched_linear(double start_factor, double end_factor, int total_iters);
tn_sched tn_sched_exponential(double gamma);
tn_sched tn_sched_cosine(double t_max, double eta_min);
tn_sched tn_sched_cosine_restarts(int t_0, int t_mult, double eta_min);
tn_sched tn_sched_one_cycle(int total_steps); /* PyTorch's defaults, cos, two phases */

/* The learning rate at step t (t = 0 for the first step) for base lr α. */
double tn_sched_lr(const tn_sched *s, double lr0, double t);
/* One-cycle's momentum at step t (max → base → max); `other` for the rest. */
double tn_sched_momentum(const tn_sched *s, double t, double other);
/* The length of the period that contains t: T_i for warm restarts, T_max
 * for cosine, total_steps for one-cycle, 0 otherwise (for normalized λ). */
double tn_sched_period(const tn_sched *s, double t);

#ifdef __cplusplus
}
#endif
#endif
