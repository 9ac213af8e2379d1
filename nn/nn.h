/* nn/nn.h */
#ifndef TENET_NN_H
#define TENET_NN_H
#include "../tensor/tensor.h"
#endif
