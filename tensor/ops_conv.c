/* tensor/ops_conv.c */
#include "internal.h"
