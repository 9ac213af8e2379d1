/* data/data.h */
#ifndef TENET_DATA_H
#define TENET_DATA_H
#include "../tensor/tensor.h"
#endif
