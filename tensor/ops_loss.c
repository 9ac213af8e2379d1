/* tensor/ops_loss.c */
#include "internal.h"
