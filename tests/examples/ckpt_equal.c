/* tests/examples/ckpt_equal.c - exit 0 if two safetensors files hold the
 * same tensors with bit-identical values (metadata is not compared).
 *   ckpt_equal A B [prefix]   compare only tensors whose name starts with prefix */
#include "tensor/safetensors.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: ckpt_equal A B [prefix]\n");
        return 2;
    }
    const char *prefix = argc > 3 ? argv[3] : "";
    tn_st_file *a, *b;
    if (tn_st_open(argv[1], &a) != TN_OK || tn_st_open(argv[2], &b) != TN_OK) {
        fprintf(stderr, "ckpt_equal: %s\n", tn_error_message());
        return 2;
    }
    int differ = 0, compared = 0;
    for (size_t i = 0; i < tn_st_count(a); i++) {
        const tn_st_entry *ea = tn_st_at(a, i);
        if (strncmp(ea->name, prefix, strlen(prefix)) != 0) continue;
        const tn_st_entry *eb = tn_st_find(b, ea->name);
        compared++;
        if (!eb || eb->numel != ea->numel ||
            memcmp(ea->data, eb->data, ea->numel * sizeof(float)) != 0) {
            fprintf(stderr, "ckpt_equal: '%s' differs\n", ea->name);
            differ++;
        }
    }
    if (tn_st_count(a) != tn_st_count(b)) {
        fprintf(stderr, "ckpt_equal: %zu vs %zu tensors\n", tn_st_count(a), tn_st_count(b));
        differ++;
    }
    printf("ckpt_equal: %d tensors compared, %d differ\n", compared, differ);
    tn_st_close(a);
    tn_st_close(b);
    return differ || !compared ? 1 : 0;
}
