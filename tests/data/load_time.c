/* tests/data/load_time.c - time loading an image folder's train/ and test/
 * splits: decoded from the image files, then from the decoded cache.
 *   load_time <root with train/ and test/> <cache folder> [threads]
 * (Not a test: a measurement, run by hand.) */
#include "data/data.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s <root with train/ and test/> <cache folder> [threads]\n",
                argv[0]);
        return 2;
    }
    int threads = argc > 3 ? atoi(argv[3]) : 2;
    const char *split[2] = {"train", "test"};
    for (int pass = 0; pass < 2; pass++) {
        double total = 0;
        int files = 0;
        for (int s = 0; s < 2; s++) {
            char dir[4096], cache[4096];
            snprintf(dir, sizeof dir, "%s/%s", argv[1], split[s]);
            snprintf(cache, sizeof cache, "%s/%s.cache", argv[2], split[s]);
            if (pass == 0) remove(cache);
            tn_image_folder_options opt = {.threads = threads, .cache_path = cache};
            tn_image_folder_info info;
            tn_dataset *ds = NULL;
            tn_status st = tn_image_folder_load(&ds, dir, &opt, &info);
            if (st != TN_OK) {
                fprintf(stderr, "load_time: %s\n", tn_error_message());
                return 1;
            }
            printf("%-5s %-5s %6d images %dx%dx%d  %.3f s, of which cache %s %.3f s\n",
                   pass ? "cache" : "cold", split[s], ds->n, ds->c, ds->h, ds->w, info.seconds,
                   info.from_cache ? "read" : info.cache_written ? "write" : "miss",
                   info.cache_seconds);
            total += info.seconds;
            files += ds->n;
            tn_dataset_free(ds);
        }
        printf("%-5s total %6d images  %.3f s with %d threads\n", pass ? "cache" : "cold", files,
               total, threads);
    }
    return 0;
}
