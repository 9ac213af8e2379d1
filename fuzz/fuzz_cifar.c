/* fuzz/fuzz_cifar.c - libFuzzer target for the CIFAR-10/100 record parser:
 * any bytes must give a data set or an error, never a crash or a leak. */
#include "data/data.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (int kind = 0; kind < 2; kind++) {
        tn_dataset *ds = NULL;
        tn_status st = tn_cifar_parse(&ds, data, size, kind ? TN_CIFAR_100 : TN_CIFAR_10, "fuzz");
        if (st == TN_OK) {
            /* What a reader promises: whole records, labels in range. */
            size_t rec = (kind ? 2u : 1u) + 3072u;
            if (size % rec != 0 || (size_t)ds->n != size / rec) __builtin_trap();
            if (tn_dataset_check_labels(ds, "fuzz") != TN_OK) __builtin_trap();
            if (ds->n > 0 && memcmp(tn_dataset_image(ds, ds->n - 1), data + size - 3072, 3072) != 0)
                __builtin_trap();
        } else if (ds != NULL || tn_error_message()[0] == 0) {
            __builtin_trap();
        }
        tn_dataset_free(ds);
    }
    return 0;
}
