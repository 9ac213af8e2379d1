/* tests/fuzz/replay.c - run a fuzz target's LLVMFuzzerTestOneInput (linked
 * in, built without libFuzzer) on every file of the folders or files given:
 * the committed seed corpora and crash reproducers become a normal test of
 * the release and sanitizer builds.  A target's checks end in a trap, so a
 * failing input fails the test; the inputs run are counted. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return fprintf(stderr, "replay: cannot open %s\n", path), -1;
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0, n;
    uint8_t chunk[4096];
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (len + n > cap) {
            cap = 2 * (len + n);
            uint8_t *b = realloc(buf, cap);
            if (!b) abort();
            buf = b;
        }
        memcpy(buf + len, chunk, n);
        len += n;
    }
    fclose(f);
    /* A copy of exactly the input's size, so that ASan sees overreads. */
    uint8_t *exact = malloc(len ? len : 1);
    if (!exact) abort();
    if (len) memcpy(exact, buf, len);
    free(buf);
    LLVMFuzzerTestOneInput(exact, len);
    free(exact);
    return 0;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
    if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
    int count = 0;
    for (int i = 1; i < argc; i++) {
        struct stat sb;
        if (stat(argv[i], &sb) != 0) return fprintf(stderr, "replay: no %s\n", argv[i]), 1;
        if (!S_ISDIR(sb.st_mode)) {
            if (run_file(argv[i])) return 1;
            count++;
            continue;
        }
        struct dirent **list;
        int n = scandir(argv[i], &list, NULL, NULL);
        if (n < 0) return fprintf(stderr, "replay: cannot list %s\n", argv[i]), 1;
        qsort(list, (size_t)n, sizeof *list, compare_names);
        for (int k = 0; k < n; k++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[i], list[k]->d_name);
            if (list[k]->d_name[0] != '.' && stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) {
                if (run_file(path)) return 1;
                count++;
            }
            free(list[k]);
        }
        free(list);
    }
    printf("replay: %d inputs, no failure\n", count);
    return count > 0 ? 0 : 1;
}
