/* tensor/ops_norm.c */
#include "internal.h"
