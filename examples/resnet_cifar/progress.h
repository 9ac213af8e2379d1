/* examples/resnet_cifar/progress.h - a one-line terminal progress bar with
 * rate and ETA, redrawn at most a few times a second; timed by the
 * library's monotonic clock (tn_clock_now). */
#ifndef RESNET_CIFAR_PROGRESS_H
#define RESNET_CIFAR_PROGRESS_H

#include <stdbool.h>
#include <stdio.h>

typedef struct progress {
    FILE *out;
    const char *label;
    long total, done;   /* in units (e.g. images) */
    const char *unit;
    double start, last_draw;
    bool tty;
    char extra[96];     /* e.g. "loss 1.234 acc 0.56" */
} progress;

void progress_begin(progress *p, FILE *out, const char *label, long total, const char *unit);
void progress_update(progress *p, long done, const char *extra);
/* Draw the final state and end the line. */
void progress_end(progress *p);

#endif
