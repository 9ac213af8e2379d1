/* fuzz/fuzz_config.c - libFuzzer target for resnet_cifar's option parser
 * (examples/resnet_cifar/config.c): the input, split at NUL bytes, is the
 * argument list after "resnet_cifar train"; it is parsed as cmd_train does
 * (config_parse_option until an unknown or bad option, then config_finish).
 * Any arguments must give a configuration or a message, never a crash; an
 * accepted configuration must be one a run can use.  Messages go to
 * stderr: run with -close_fd_mask=2. */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { MAX_ARGS = 64 };

static bool terminated(const char *s, size_t size) { return memchr(s, 0, size) != NULL; }

/* What config_finish promises to the rest of the program. */
static void check_config(const run_config *c)
{
    if (c->depth < 8 || (c->depth - 2) % 6 != 0) __builtin_trap();
    if (c->width < 2 || c->width > 1024) __builtin_trap();
    if (c->shortcut == TN_RESNET_SHORTCUT_A && c->width % 4 != 0) __builtin_trap();
    if (!(c->lr > 0 && c->lr <= 100) || !(c->wd >= 0) || !isfinite(c->wd)) __builtin_trap();
    if (c->method < 0 || c->method >= METHOD_COUNT) __builtin_trap();
    if (c->batch < 1 || c->epochs < 1 || c->threads < 1 || c->t_mult < 1) __builtin_trap();
    if (c->n_milestones < 0 || c->n_milestones > TN_SCHED_MAX_MILESTONES) __builtin_trap();
    for (int i = 1; i < c->n_milestones; i++)
        if (c->milestones[i] < c->milestones[i - 1]) __builtin_trap();
    if (c->patience > 0 && !(c->val_fraction > 0)) __builtin_trap();
    if (c->optimizer == TN_OPTIM_SGD && isnan(c->momentum)) __builtin_trap();
    if (c->nesterov && !(c->momentum > 0)) __builtin_trap();
    if (!(c->dropout >= 0 && c->dropout < 1)) __builtin_trap();
    if (!terminated(c->data, sizeof c->data) || !terminated(c->cache, sizeof c->cache) ||
        !terminated(c->out, sizeof c->out) || !terminated(c->init, sizeof c->init))
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* argv: "resnet_cifar" "train" and the NUL-separated pieces of the input. */
    char *copy = malloc(size + 1);
    if (!copy) abort();
    memcpy(copy, data, size);
    copy[size] = 0;
    char *argv[MAX_ARGS + 3] = {"resnet_cifar", "train"};
    int argc = 2;
    for (size_t at = 0; at <= size && argc < MAX_ARGS + 2;) {
        argv[argc++] = copy + at;
        at += strlen(copy + at) + 1;
    }
    argv[argc] = NULL;

    run_config c;
    config_defaults(&c);
    int r = 1;
    for (int i = 2; i < argc; i++) {
        int before = i;
        r = config_parse_option(&c, argc, argv, &i);
        if (i < before || i >= argc) __builtin_trap(); /* consumed at most what is there */
        if (r <= 0) break;
    }
    if (r > 0 && config_finish(&c) == 0) check_config(&c);
    free(copy);
    return 0;
}
