/* tensor/ops_activation.c */
#include "internal.h"
