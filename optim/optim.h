/* optim/optim.h */
#ifndef TENET_OPTIM_H
#define TENET_OPTIM_H
#include "../tensor/tensor.h"
#endif
