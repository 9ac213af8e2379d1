/* examples/resnet_cifar/progress.c */
#include "progress.h"

#include "tenet.h"

#include <string.h>
#include <unistd.h>

static void format_time(char *buf, size_t size, double s)
{
    if (s < 0 || s > 1e7) {
        snprintf(buf, size, "--:--");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, size, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, size, "%02ld:%02ld", t / 60, t % 60);
}

static void draw(progress *p, bool final)
{
    double t = tn_clock_now(), el = t - p->start;
    double rate = el > 0 ? (double)p->done / el : 0;
    double eta = rate > 0 ? (double)(p->total - p->done) / rate : -1;
    char e1[32], e2[32];
    format_time(e1, sizeof e1, el);
    format_time(e2, sizeof e2, final ? 0 : eta);
    enum { WIDTH = 24 };
    int fill = p->total > 0 ? (int)((double)WIDTH * (double)p->done / (double)p->total) : 0;
    if (fill > WIDTH) fill = WIDTH;
    char bar[WIDTH + 1];
    memset(bar, '#', (size_t)fill);
    memset(bar + fill, '.', (size_t)(WIDTH - fill));
    bar[WIDTH] = 0;
    fprintf(p->out, "%s%s [%s] %3d%% %ld/%ld %.0f %s/s %s<%s %s%s", p->tty ? "\r" : "", p->label,
            bar, p->total > 0 ? (int)(100.0 * (double)p->done / (double)p->total) : 0, p->done,
            p->total, rate, p->unit, e1, e2, p->extra, p->tty ? "\033[K" : "\n");
    fflush(p->out);
    p->last_draw = t;
}

void progress_begin(progress *p, FILE *out, const char *label, long total, const char *unit)
{
    memset(p, 0, sizeof *p);
    p->out = out;
    p->label = label;
    p->total = total;
    p->unit = unit;
    p->tty = isatty(fileno(out));
    p->start = p->last_draw = tn_clock_now();
}

void progress_update(progress *p, long done, const char *extra)
{
    p->done = done;
    if (extra) snprintf(p->extra, sizeof p->extra, "%s", extra);
    /* On a terminal redraw 4x a second; in a log, a line every 30 s. */
    double every = p->tty ? 0.25 : 30.0;
    if (tn_clock_now() - p->last_draw >= every) draw(p, false);
}

void progress_end(progress *p)
{
    draw(p, true);
    if (p->tty) fputc('\n', p->out);
}
