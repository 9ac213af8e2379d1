/* nn/internal.h - what the nn sources share; not installed. */
#ifndef TENET_NN_INTERNAL_H
#define TENET_NN_INTERNAL_H

#include "nn.h"

/* "<prefix>.<suffix>" (or suffix alone for an empty prefix) into buf of
 * TN_NN_NAME_MAX bytes; TN_ERR_ARG with a message when it does not fit. */
tn_status tn_nn_name(char *buf, const char *prefix, const char *suffix);

/* Add "<prefix>.<suffix>" to the store; TN_ERR_ARG if the name is too long
 * or taken, TN_ERR_NOMEM if out of memory. */
tn_status tn_nn_param(tn_params *ps, const char *prefix, const char *suffix, int ndim,
                      const int *shape, unsigned flags, tn_tensor **out);

#endif
