/* tensor/ops_reduce.c */
#include "internal.h"
