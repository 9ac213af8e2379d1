/* tensor/ops_linalg.c */
#include "internal.h"
