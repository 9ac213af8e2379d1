/* optim/decay.c - the corrected and cautious decays, the search for the
 * weights a batch norm follows, λ from a decay timescale, and per-layer
 * norms and rotation angles. */
#include "internal.h"

#include "../tensor/internal.h"

#include <math.h>

/* The decoupled modes' per-step decay d (w ← w − d·w). */
double tn_reg_rate_lr(double lr_g, double eta, double lambda)
{
    (void)eta;
    return lr_g * lambda;
}

double tn_reg_rate_eta(double lr_g, double eta, double lambda)
{
    (void)lr_g;
    return eta * lambda;
}

/* Defazio 2025: λ_t = λ·lr_t/lr_max with lr_max the group's base lr α_g, so
 * d = lr_t·λ_t = lr_t²·λ/α_g = lr_g·η_t·λ. */
double tn_reg_rate_corrected(double lr_g, double eta, double lambda) { return lr_g * eta * lambda; }

void tn_reg_corrected(size_t n, float *w, double lr_g, double eta, double lambda)
{
    const float d = (float)tn_reg_rate_corrected(lr_g, eta, lambda);
#pragma omp parallel for if (n >= TN_OPTIM_PAR_MIN) schedule(static)
    for (size_t i = 0; i < n; i++) w[i] = fmaf(-d, w[i], w[i]);
}

void tn_reg_cautious(size_t n, float *w, const float *w0, float d)
{
#pragma omp parallel for if (n >= TN_OPTIM_PAR_MIN) schedule(static)
    for (size_t i = 0; i < n; i++)
        if ((w0[i] - w[i]) * w0[i] > 0.0f) w[i] = fmaf(-d, w0[i], w[i]);
}

/* ------------------------------------------- weights before a batch norm */

static bool is_batch_norm(const tn_op *op)
{
    return op == &tn_op_batch_norm || op == &tn_op_batch_norm_relu;
}

tn_status tn_optim_mark_normalized(tn_params *ps, tn_graph *g,
                                   tn_tensor *(*forward)(tn_graph *g, void *ctx), void *ctx,
                                   size_t *count)
{
    if (!ps || !g || !forward)
        tn_misuse("tn_optim_mark_normalized", "a store, a graph and a forward function are required");
    const bool training = tn_graph_training(g), grad = tn_graph_grad_enabled(g);
    tn_graph_reset(g);
    tn_graph_set_training(g, false);
    tn_graph_set_grad(g, true);
    forward(g, ctx);
    tn_status st = tn_graph_status(g);
    size_t marked = 0;
    const size_t np = tn_params_count(ps);
    if (st == TN_OK) {
        for (size_t i = 0; i < np; i++)
            tn_params_set_flags(ps, i, tn_params_flags(ps, i) & ~TN_OPTIM_NORMALIZED);
        for (size_t k = 0; k < tn_graph_tape_len(g); k++) {
            const tn_tensor *node = tn_graph_tape_node(g, k);
            if (!is_batch_norm(node->op)) continue;
            const tn_tensor *x = node->in[0];
            while (x->op && (x->op->flags & TN_OP_VIEW)) x = x->in[0];
            if (x->op != &tn_op_conv2d && x->op != &tn_op_linear) continue;
            for (size_t i = 0; i < np; i++) {
                const unsigned f = tn_params_flags(ps, i);
                if (tn_params_at(ps, i) != x->in[1] || (f & TN_OPTIM_NORMALIZED)) continue;
                tn_params_set_flags(ps, i, f | TN_OPTIM_NORMALIZED);
                marked++;
            }
        }
    }
    tn_graph_reset(g);
    tn_graph_set_training(g, training);
    tn_graph_set_grad(g, grad);
    if (count) *count = marked;
    return st;
}

/* ------------------------------------------------------- decay timescale */

/* How λ enters the per-step shrink at the peak lr: d = lr·λ (1), λ (0), or
 * no timescale (-1). */
static int tau_units(tn_reg mode)
{
    switch (mode) {
    case TN_REG_DECOUPLED_LR:
    case TN_REG_CORRECTED:
    case TN_REG_COUPLED:
    case TN_REG_L2: return 1;
    case TN_REG_DECOUPLED:
    case TN_REG_PROX_L2: return 0;
    default: return -1;
    }
}

static tn_status tau_check(const char *who, double a, double lr, double iters, tn_reg mode)
{
    if ((unsigned)mode >= TN_REG_COUNT) tn_misuse(who, "unknown regularisation mode %d", (int)mode);
    if (!(a > 0.0) || isinf(a) || !(lr > 0.0) || isinf(lr) || !(iters > 0.0) || isinf(iters))
        return tn_error_set(TN_ERR_ARG,
                            "tenet: %s: the timescale or lambda (%g), lr (%g) and iterations "
                            "per epoch (%g) must be finite and > 0",
                            who, a, lr, iters);
    if (mode != TN_REG_NONE && tau_units(mode) < 0)
        return tn_error_set(TN_ERR_ARG, "tenet: %s: mode %s shrinks by a constant, it has no "
                            "decay timescale", who, tn_reg_name(mode));
    return TN_OK;
}

/* λ from τ_epoch and τ_epoch from λ are the same expression: 1/(τ·iters·lr^u). */
static double tau_invert(double a, double lr, double iters, tn_reg mode)
{
    if (mode == TN_REG_NONE) return 0.0;
    return 1.0 / (a * iters * (tau_units(mode) ? lr : 1.0));
}

tn_status tn_optim_decay_from_tau(double tau_epoch, double lr, double iters_per_epoch, tn_reg mode,
                                  double *lambda)
{
    tn_status st = tau_check("tn_optim_decay_from_tau", tau_epoch, lr, iters_per_epoch, mode);
    if (st == TN_OK) *lambda = tau_invert(tau_epoch, lr, iters_per_epoch, mode);
    return st;
}

tn_status tn_optim_tau_from_decay(double lambda, double lr, double iters_per_epoch, tn_reg mode,
                                  double *tau_epoch)
{
    tn_status st = tau_check("tn_optim_tau_from_decay", lambda, lr, iters_per_epoch, mode);
    if (st == TN_OK) *tau_epoch = tau_invert(lambda, lr, iters_per_epoch, mode);
    return st;
}

/* ------------------------------------------------------ per-layer stats */

size_t tn_optim_layer_stats(const tn_params *ps, const float *prev, tn_layer_stat *out, size_t cap)
{
    if (!ps || !prev || (!out && cap))
        tn_misuse("tn_optim_layer_stats", "a store and the previous values are required");
    const float *values = tn_params_values(ps);
    size_t k = 0;
    for (size_t i = 0; i < tn_params_count(ps); i++) {
        const tn_tensor *t = tn_params_at(ps, i);
        if (!(tn_params_flags(ps, i) & TN_PARAM) || t->ndim < 2) continue;
        if (k < cap) {
            const size_t off = tn_params_offset(ps, i);
            double ww = 0.0, pp = 0.0, wp = 0.0;
            for (size_t j = 0; j < t->numel; j++) {
                const double a = values[off + j], b = prev[off + j];
                ww += a * a, pp += b * b, wp += a * b;
            }
            double cosv = ww > 0.0 && pp > 0.0 ? wp / sqrt(ww * pp) : 1.0;
            if (cosv > 1.0) cosv = 1.0;
            if (cosv < -1.0) cosv = -1.0;
            out[k] = (tn_layer_stat){t->name, sqrt(ww), acos(cosv)};
        }
        k++;
    }
    return k;
}
