/* tests/examples/config_probe.c ARGS... - parse run options as `train` does
 * and print the fingerprint (config_fingerprint), the description
 * (config_describe) and config_args one per line: the option table's
 * output, compared with strings recorded from the option code before it. */
#include "config.h"

#include <string.h>

int main(int argc, char **argv)
{
    run_config c;
    config_defaults(&c);
    for (int i = 1; i < argc; i++) {
        int r = config_parse_option(&c, argc, argv, &i);
        if (r < 0) return 2;
        if (r == 0) return fail("config_probe: unknown option '%s'", argv[i]), 2;
    }
    if (config_finish(&c)) return 2;
    char fp[4096], desc[512];
    if (config_fingerprint(&c, fp, sizeof fp)) return fail("config_probe: fingerprint overflow"), 1;
    config_describe(&c, desc, sizeof desc);
    printf("fingerprint: %s\ndescribe: %s\n", fp, desc);
    arg_list a = {0};
    config_args(&c, &a);
    printf("args: %d\n", a.argc);
    return 0;
}
