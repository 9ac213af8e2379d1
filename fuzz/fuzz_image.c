/* fuzz/fuzz_image.c - libFuzzer target for image decoding through the
 * image-folder loader's file path: the input becomes root/cls/x.<ext> in a
 * temporary folder and is loaded with tn_image_folder_load() (listing,
 * first-image size, format sniffing, PNG chunk checks, stb_image, resize).
 * The first byte picks the extension and whether to resize. */
#include "data/data.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char root[256], cls[300];
static const char *EXT[4] = {"png", "jpg", "bmp", "tga"};

/* Leave nothing behind. */
static void remove_folder(void)
{
    char path[400];
    for (int e = 0; e < 4; e++) {
        snprintf(path, sizeof path, "%s/x.%s", cls, EXT[e]);
        unlink(path);
    }
    rmdir(cls);
    rmdir(root);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *tmp = getenv("TMPDIR");
    snprintf(root, sizeof root, "%s/tenet-fuzz-image-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(root)) abort();
    snprintf(cls, sizeof cls, "%s/cls", root);
    if (mkdir(cls, 0700) != 0) abort();
    atexit(remove_folder);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    int sel = data[0];
    char path[400];
    for (int e = 0; e < 4; e++) { /* only one image in the folder */
        snprintf(path, sizeof path, "%s/x.%s", cls, EXT[e]);
        unlink(path);
    }
    snprintf(path, sizeof path, "%s/x.%s", cls, EXT[sel & 3]);
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (size > 1 && fwrite(data + 1, 1, size - 1, f) != size - 1) abort();
    fclose(f);
    tn_image_folder_options opt = {.threads = 1};
    if (sel & 4) {
        opt.height = 8 + (sel >> 4);
        opt.width = 8 + ((sel >> 3) & 1) * 5;
        opt.resize = (sel & 8) ? TN_RESIZE_BILINEAR : TN_RESIZE_NEAREST;
    }
    tn_dataset *ds = NULL;
    tn_status st = tn_image_folder_load(&ds, root, &opt, NULL);
    if (st == TN_OK) {
        if (!ds || ds->n != 1 || ds->c != 3 || ds->labels[0] != 0) __builtin_trap();
        volatile uint8_t sum = 0; /* touch every pixel */
        for (size_t i = 0; i < (size_t)ds->c * ds->h * ds->w; i++) sum += ds->pixels[i];
        (void)sum;
    } else if (ds != NULL || strstr(tn_error_message(), "x.") == NULL) {
        __builtin_trap(); /* an error must name the file */
    }
    tn_dataset_free(ds);
    return 0;
}
