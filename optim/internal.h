/* optim/internal.h - the optimizer kernels; not installed.
 *
 * Each kernel is one optimizer step on flat arrays of n floats: parameters
 * w (n), gradients g (n), the optimizer's state arrays (n each), the
 * hyper-parameters h, the coupled decay coefficient wd (g + wd·w, PyTorch's
 * weight_decay; 0 for none), the learning rate lr and the step t (from 1).
 * They follow PyTorch 1.13's _single_tensor_* functions operation for
 * operation: scalars are computed in double and rounded to float, element
 * math is float32 in PyTorch's order. */
#ifndef TENET_OPTIM_INTERNAL_H
#define TENET_OPTIM_INTERNAL_H

#include "optim.h"

/* Loops over this many elements or more run on all threads. */
#define TN_OPTIM_PAR_MIN 32768

/* buf (n): momentum buffer, or NULL when h->momentum == 0. */
void tn_kernel_sgd(size_t n, float *w, const float *g, float *buf, const tn_optim_config *h,
                   float wd, double lr, int64_t t);
/* sum (n): accumulated squared gradients. */
void tn_kernel_adagrad(size_t n, float *w, const float *g, float *sum,
                       const tn_optim_config *h, float wd, double lr, int64_t t);
/* sq (n), acc (n): running averages of g² and of the squared updates. */
void tn_kernel_adadelta(size_t n, float *w, const float *g, float *sq, float *acc,
                        const tn_optim_config *h, float wd, double lr, int64_t t);
/* sq (n); gavg (n) or NULL unless centered; buf (n) or NULL unless momentum > 0. */
void tn_kernel_rmsprop(size_t n, float *w, const float *g, float *sq, float *gavg, float *buf,
                       const tn_optim_config *h, float wd, double lr, int64_t t);
/* m, v (n); vmax (n) or NULL unless amsgrad. */
void tn_kernel_adam(size_t n, float *w, const float *g, float *m, float *v, float *vmax,
                    const tn_optim_config *h, float wd, double lr, int64_t t);
/* m, v (n); mu_product: Π μ_1..μ_t, already updated for step t (a float,
 * as PyTorch keeps it in a float32 tensor). */
void tn_kernel_nadam(size_t n, float *w, const float *g, float *m, float *v,
                     const tn_optim_config *h, float wd, double lr, int64_t t,
                     float mu_product);
void tn_kernel_radam(size_t n, float *w, const float *g, float *m, float *v,
                     const tn_optim_config *h, float wd, double lr, int64_t t);
/* m (n), u (n): first moment and exponentially weighted infinity norm. */
void tn_kernel_adamax(size_t n, float *w, const float *g, float *m, float *u,
                      const tn_optim_config *h, float wd, double lr, int64_t t);

/* NAdam's μ_t = β1·(1 − ½·0.96^(t·ψ)). */
double tn_nadam_mu(const tn_optim_config *h, int64_t t);

#endif
