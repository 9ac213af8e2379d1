/* tests/tensor/gradcheck_nn.c - gradcheck cases for convolution, pooling,
 * normalisation, dropout and the losses. */
#include "gradcheck.h"

const gc_case gc_cases_nn[1];
const size_t gc_n_cases_nn = 0;
