/* tests/dist/ckpt_close.c - exit 0 if two safetensors files hold the same
 * tensors whose values agree within a relative tolerance over the store:
 * ||a - b|| <= tol * ||a|| (tensors whose name starts with prefix).
 *   ckpt_close A B TOL [prefix] */
#include <tenet.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: ckpt_close A B TOL [prefix]\n");
        return 2;
    }
    const double tol = atof(argv[3]);
    const char *prefix = argc > 4 ? argv[4] : "";
    tn_st_file *a, *b;
    if (tn_st_open(argv[1], &a) != TN_OK || tn_st_open(argv[2], &b) != TN_OK) {
        fprintf(stderr, "ckpt_close: %s\n", tn_error_message());
        return 2;
    }
    double d2 = 0, r2 = 0;
    int missing = 0, compared = 0;
    for (size_t i = 0; i < tn_st_count(a); i++) {
        const tn_st_entry *ea = tn_st_at(a, i);
        if (strncmp(ea->name, prefix, strlen(prefix)) != 0) continue;
        const tn_st_entry *eb = tn_st_find(b, ea->name);
        if (!eb || eb->numel != ea->numel) {
            fprintf(stderr, "ckpt_close: '%s' is missing or of another size\n", ea->name);
            missing++;
            continue;
        }
        const float *x = ea->data, *y = eb->data;
        for (size_t j = 0; j < ea->numel; j++) {
            d2 += ((double)x[j] - y[j]) * ((double)x[j] - y[j]);
            r2 += (double)x[j] * x[j];
        }
        compared++;
    }
    const double rel = r2 > 0 ? sqrt(d2 / r2) : sqrt(d2);
    printf("ckpt_close: %d tensors, relative difference %.3g (tolerance %.3g)\n", compared, rel, tol);
    tn_st_close(a);
    tn_st_close(b);
    return !missing && compared && rel <= tol ? 0 : 1;
}
