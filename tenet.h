/* tenet.h - the umbrella header: the engine, layers, optimizers and data. */
#ifndef TENET_H
#define TENET_H

#include "tensor/tensor.h"
#include "tensor/safetensors.h"
#include "tensor/dist.h"
#include "nn/nn.h"
#include "nn/onnx.h"
#include "optim/optim.h"
#include "data/data.h"

#endif
