/* tensor/ops_shape.c */
#include "internal.h"
