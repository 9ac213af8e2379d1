/* data/loader.c - shuffled, augmented, normalised batches prepared on a
 * background thread into two slots (double buffering).
 *
 * Every random choice is a pure function of (base rng, epoch, ...): the
 * epoch's permutation of (epoch), a sample's augmentation of (epoch, data-set
 * index), a batch's mix of (epoch, batch).  So the batches do not depend on
 * thread timing or on how many threads prepare them, and a position
 * (epoch, batch, base rng) is all that is needed to resume bit-identically. */
#include "internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

enum { PURPOSE_SHUFFLE = 1, PURPOSE_SAMPLE = 2, PURPOSE_MIX = 3 };
enum { SLOT_FREE, SLOT_BUSY, SLOT_READY };

typedef struct slot {
    float *x;          /* (bs, c, h, w) */
    float *tmp;        /* (bs, c, h, w) mix scratch, or NULL */
    float *soft;       /* (bs, k) or NULL */
    int32_t *labels;   /* (bs) */
    int32_t *index;    /* (bs) */
    int n;
    uint64_t epoch, batch;
    tn_mix_info mix;
    int state;
} slot;

struct tn_loader {
    const tn_dataset *ds;
    tn_loader_options opt;
    size_t img;        /* floats per image */
    uint64_t bpe;      /* batches per epoch */
    bool soft;
    slot slots[2];

    /* The producer's permutation cache (only the producer touches it). */
    int32_t *perm;     /* (n) */
    uint64_t perm_epoch;
    bool perm_valid;

    /* Background thread. */
    pthread_t thread;
    bool running, stop;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t prod_epoch, prod_batch;
    int prod_slot, cons_slot, held;

    /* Consumer side. */
    tn_loader_pos pos;
    uint64_t batches;
    double wait_s, t_first, t_last;
};

static void make_perm(tn_loader *ld, uint64_t epoch)
{
    if (ld->perm_valid && ld->perm_epoch == epoch) return;
    int n = ld->ds->n;
    for (int i = 0; i < n; i++) ld->perm[i] = i;
    if (ld->opt.shuffle) {
        tn_rng r;
        tn_data_derive_rng(&r, &ld->pos.rng, epoch, 0, PURPOSE_SHUFFLE);
        tn_data_shuffle(ld->perm, n, &r);
    }
    ld->perm_epoch = epoch;
    ld->perm_valid = true;
}

/* Prepare batch (epoch, batch) into s.  The base rng is ld->pos.rng, which
 * only tn_loader_seek() changes, with the producer stopped. */
static void fill(tn_loader *ld, slot *s, uint64_t epoch, uint64_t batch)
{
    const tn_dataset *ds = ld->ds;
    make_perm(ld, epoch);
    size_t start = (size_t)batch * (size_t)ld->opt.batch_size;
    int n = ld->opt.batch_size;
    if (start + (size_t)n > (size_t)ds->n) n = (int)((size_t)ds->n - start);
    s->n = n;
    s->epoch = epoch;
    s->batch = batch;
    const tn_rng base = ld->pos.rng;
    const tn_augment *aug = &ld->opt.aug;
    const tn_norm *norm = &ld->opt.norm;
    int threads = ld->opt.threads > 1 ? ld->opt.threads : 1;
    (void)threads;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
#endif
    for (int i = 0; i < n; i++) {
        int32_t idx = ld->perm[start + (size_t)i];
        tn_rng r;
        tn_data_derive_rng(&r, &base, epoch, (uint64_t)idx, PURPOSE_SAMPLE);
        tn_augment_params p;
        tn_augment_draw(aug, ds->h, ds->w, &r, &p);
        tn_augment_apply(aug, &p, norm, tn_dataset_image(ds, idx), ds->c, ds->h, ds->w,
                         s->x + (size_t)i * ld->img, &r);
        s->labels[i] = ds->labels[idx];
        s->index[i] = idx;
    }
    s->mix = (tn_mix_info){.kind = 0, .lambda = 1.0f};
    if (ld->soft) {
        tn_rng r;
        tn_data_derive_rng(&r, &base, epoch, batch, PURPOSE_MIX);
        tn_augment_mix(aug, s->x, n, ds->c, ds->h, ds->w, s->labels, ds->n_classes, s->soft,
                       s->tmp, &r, &s->mix);
    }
}

static void *producer(void *arg)
{
    tn_loader *ld = arg;
    pthread_mutex_lock(&ld->mu);
    for (;;) {
        slot *s = &ld->slots[ld->prod_slot];
        while (!ld->stop && s->state != SLOT_FREE) pthread_cond_wait(&ld->cv, &ld->mu);
        if (ld->stop) break;
        s->state = SLOT_BUSY;
        uint64_t e = ld->prod_epoch, b = ld->prod_batch;
        pthread_mutex_unlock(&ld->mu);
        fill(ld, s, e, b);
        pthread_mutex_lock(&ld->mu);
        s->state = SLOT_READY;
        if (++ld->prod_batch == ld->bpe) {
            ld->prod_batch = 0;
            ld->prod_epoch++;
        }
        ld->prod_slot ^= 1;
        pthread_cond_broadcast(&ld->cv);
    }
    pthread_mutex_unlock(&ld->mu);
    return NULL;
}

static void stop_producer(tn_loader *ld)
{
    if (!ld->running) return;
    pthread_mutex_lock(&ld->mu);
    ld->stop = true;
    pthread_cond_broadcast(&ld->cv);
    pthread_mutex_unlock(&ld->mu);
    pthread_join(ld->thread, NULL);
    ld->running = false;
}

static tn_status start_producer(tn_loader *ld)
{
    for (int i = 0; i < 2; i++) ld->slots[i].state = SLOT_FREE;
    ld->prod_epoch = ld->pos.epoch;
    ld->prod_batch = ld->pos.batch;
    if (ld->prod_batch == ld->bpe) {
        ld->prod_batch = 0;
        ld->prod_epoch++;
    }
    ld->prod_slot = ld->cons_slot = 0;
    ld->held = -1;
    ld->perm_valid = false;
    ld->stop = false;
    if (ld->opt.synchronous) return TN_OK;
    if (pthread_create(&ld->thread, NULL, producer, ld) != 0)
        return tn_error_set(TN_ERR_STATE, "tenet: tn_loader: cannot start the background thread");
    ld->running = true;
    return TN_OK;
}

tn_status tn_loader_new(tn_loader **out, const tn_dataset *ds, const tn_loader_options *opt)
{
    *out = NULL;
    if (opt->batch_size < 1)
        return tn_error_set(TN_ERR_ARG, "tenet: tn_loader_new: batch_size %d < 1", opt->batch_size);
    if (ds->n < 1) return tn_error_set(TN_ERR_ARG, "tenet: tn_loader_new: the data set is empty");
    if (opt->threads < 0)
        return tn_error_set(TN_ERR_ARG, "tenet: tn_loader_new: threads %d < 0", opt->threads);
    if (opt->norm.c != 0 && opt->norm.c != ds->c)
        return tn_error_set(TN_ERR_ARG,
                            "tenet: tn_loader_new: normalisation for %d channels, images have %d",
                            opt->norm.c, ds->c);
    for (int ch = 0; ch < opt->norm.c; ch++)
        if (!(opt->norm.std[ch] > 0.0f))
            return tn_error_set(TN_ERR_ARG, "tenet: tn_loader_new: std[%d] = %g must be > 0", ch,
                                (double)opt->norm.std[ch]);
    const tn_augment *a = &opt->aug;
    if (a->crop_pad < 0 || a->cutout < 0 || a->noise_std < 0 || a->mixup_alpha < 0 ||
        a->cutmix_alpha < 0 || a->mix_prob < 0 || a->mix_prob > 1 || a->label_smoothing < 0 ||
        a->label_smoothing >= 1)
        return tn_error_set(
            TN_ERR_ARG,
            "tenet: tn_loader_new: bad augmentation (crop_pad %d, cutout %d, noise %g, "
            "mixup %g, cutmix %g, mix_prob %g, smoothing %g)",
            a->crop_pad, a->cutout, (double)a->noise_std, (double)a->mixup_alpha,
            (double)a->cutmix_alpha, (double)a->mix_prob, (double)a->label_smoothing);
    tn_status st = tn_dataset_check_labels(ds, "tn_loader_new");
    if (st != TN_OK) return st;
    uint64_t bpe = opt->drop_last ? (uint64_t)(ds->n / opt->batch_size)
                                  : (uint64_t)((ds->n + opt->batch_size - 1) / opt->batch_size);
    if (bpe == 0)
        return tn_error_set(TN_ERR_ARG,
                            "tenet: tn_loader_new: %d images make no batch of %d with drop_last",
                            ds->n, opt->batch_size);
    tn_loader *ld = calloc(1, sizeof *ld);
    if (!ld) return tn_error_set(TN_ERR_NOMEM, "tenet: tn_loader_new: out of memory");
    pthread_mutex_init(&ld->mu, NULL);
    pthread_cond_init(&ld->cv, NULL);
    ld->ds = ds;
    ld->opt = *opt;
    if (ld->opt.norm.c == 0) tn_norm_identity(&ld->opt.norm, ds->c);
    ld->img = (size_t)ds->c * (size_t)ds->h * (size_t)ds->w;
    ld->bpe = bpe;
    ld->soft = tn_augment_soft(&opt->aug);
    ld->pos = (tn_loader_pos){.epoch = 0, .batch = 0, .rng = opt->rng};
    size_t bs = (size_t)opt->batch_size;
    bool ok = (ld->perm = malloc((size_t)ds->n * sizeof *ld->perm)) != NULL;
    for (int i = 0; i < 2 && ok; i++) {
        slot *s = &ld->slots[i];
        s->x = malloc(bs * ld->img * sizeof *s->x);
        s->labels = malloc(bs * sizeof *s->labels);
        s->index = malloc(bs * sizeof *s->index);
        ok = s->x && s->labels && s->index;
        if (ok && ld->soft) {
            s->soft = malloc(bs * (size_t)ds->n_classes * sizeof *s->soft);
            s->tmp = malloc(bs * ld->img * sizeof *s->tmp);
            ok = s->soft && s->tmp;
        }
    }
    if (!ok) {
        tn_loader_free(ld);
        return tn_error_set(TN_ERR_NOMEM, "tenet: tn_loader_new: out of memory for batches of %d",
                            (int)bs);
    }
    ld->t_first = -1.0;
    st = start_producer(ld);
    if (st != TN_OK) {
        tn_loader_free(ld);
        return st;
    }
    *out = ld;
    return TN_OK;
}

void tn_loader_free(tn_loader *ld)
{
    if (!ld) return;
    if (ld->running) stop_producer(ld);
    pthread_mutex_destroy(&ld->mu);
    pthread_cond_destroy(&ld->cv);
    for (int i = 0; i < 2; i++) {
        free(ld->slots[i].x);
        free(ld->slots[i].tmp);
        free(ld->slots[i].soft);
        free(ld->slots[i].labels);
        free(ld->slots[i].index);
    }
    free(ld->perm);
    free(ld);
}

size_t tn_loader_batches_per_epoch(const tn_loader *ld) { return (size_t)ld->bpe; }

bool tn_loader_next(tn_loader *ld, tn_batch *b)
{
    double t0 = tn_clock_now();
    if (ld->t_first < 0) ld->t_first = t0;
    /* The batch handed out last is given back. */
    if (ld->held >= 0) {
        pthread_mutex_lock(&ld->mu);
        ld->slots[ld->held].state = SLOT_FREE;
        ld->held = -1;
        pthread_cond_broadcast(&ld->cv);
        pthread_mutex_unlock(&ld->mu);
    }
    if (ld->pos.batch >= ld->bpe) {
        ld->pos.epoch++;
        ld->pos.batch = 0;
        memset(b, 0, sizeof *b);
        ld->t_last = tn_clock_now();
        return false;
    }
    slot *s;
    if (ld->opt.synchronous) {
        s = &ld->slots[0];
        fill(ld, s, ld->pos.epoch, ld->pos.batch);
        ld->held = 0;
    } else {
        s = &ld->slots[ld->cons_slot];
        pthread_mutex_lock(&ld->mu);
        while (s->state != SLOT_READY) pthread_cond_wait(&ld->cv, &ld->mu);
        pthread_mutex_unlock(&ld->mu);
        if (s->epoch != ld->pos.epoch || s->batch != ld->pos.batch)
            tn_misuse("tn_loader_next", "internal: got batch (%llu, %llu), expected (%llu, %llu)",
                      (unsigned long long)s->epoch, (unsigned long long)s->batch,
                      (unsigned long long)ld->pos.epoch, (unsigned long long)ld->pos.batch);
        ld->held = ld->cons_slot;
        ld->cons_slot ^= 1;
    }
    double t1 = tn_clock_now();
    ld->wait_s += t1 - t0;
    ld->t_last = t1;
    ld->batches++;
    ld->pos.batch++;
    *b = (tn_batch){.n = s->n, .c = ld->ds->c, .h = ld->ds->h, .w = ld->ds->w, .x = s->x,
                    .labels = s->labels, .soft = ld->soft ? s->soft : NULL,
                    .k = ld->ds->n_classes, .index = s->index, .epoch = s->epoch,
                    .batch = s->batch, .mix = s->mix};
    return true;
}

void tn_loader_position(const tn_loader *ld, tn_loader_pos *pos) { *pos = ld->pos; }

tn_status tn_loader_seek(tn_loader *ld, const tn_loader_pos *pos)
{
    if (pos->batch > ld->bpe)
        return tn_error_set(TN_ERR_ARG, "tenet: tn_loader_seek: batch %llu of an epoch of %llu",
                            (unsigned long long)pos->batch, (unsigned long long)ld->bpe);
    stop_producer(ld);
    ld->pos = *pos;
    tn_status st = start_producer(ld);
    if (st != TN_OK) ld->opt.synchronous = true; /* still usable, never waits on no thread */
    return st;
}

void tn_loader_stats_get(const tn_loader *ld, tn_loader_stats *st)
{
    st->batches = ld->batches;
    st->wait_s = ld->wait_s;
    st->total_s = ld->t_first >= 0 ? ld->t_last - ld->t_first : 0.0;
    st->wait_fraction = st->total_s > 0 ? st->wait_s / st->total_s : 0.0;
}
