/* nn/inference.c - batch-parallel inference: each thread takes whole chunks
 * of images through the whole network on its own graph, so that a chunk's
 * activations stay in its core's cache from one layer to the next and no
 * op waits for the other threads. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { INFER_MAX_THREADS = 256 };

struct tn_nn_infer {
    tn_nn_forward_fn forward;
    const void *model;
    int chunk;
    tn_graph *g[INFER_MAX_THREADS]; /* one per thread, made on first use */
};

tn_nn_infer *tn_nn_infer_new(tn_nn_forward_fn forward, const void *model, int chunk)
{
    if (!forward || chunk < 1)
        tn_misuse("tn_nn_infer_new", "forward %s, chunk %d: need a forward and chunk >= 1",
                  forward ? "given" : "NULL", chunk);
    tn_nn_infer *inf = calloc(1, sizeof *inf);
    if (!inf) {
        tn_error_set(TN_ERR_NOMEM, "tenet: tn_nn_infer_new: out of memory");
        return NULL;
    }
    *inf = (tn_nn_infer){.forward = forward, .model = model, .chunk = chunk};
    return inf;
}

void tn_nn_infer_free(tn_nn_infer *inf)
{
    if (!inf) return;
    for (int t = 0; t < INFER_MAX_THREADS; t++) tn_graph_free(inf->g[t]);
    free(inf);
}

typedef struct infer_job {
    tn_nn_infer *inf;
    const float *x;
    int n, shape[3], k, n_chunks;
    float *out;
    tn_status st[INFER_MAX_THREADS];
    char message[INFER_MAX_THREADS][256];
} infer_job;

/* Thread tid: chunks tid, tid + nthr, ... in eval mode without gradients. */
static void infer_thread(void *ctx, int tid, int nthr)
{
    infer_job *j = ctx;
    tn_nn_infer *inf = j->inf;
    tn_status *st = &j->st[tid];
    if (!inf->g[tid] && !(inf->g[tid] = tn_graph_new())) *st = TN_ERR_NOMEM;
    tn_graph *g = inf->g[tid];
    const size_t img = (size_t)j->shape[0] * j->shape[1] * j->shape[2];
    for (int c = tid; c < j->n_chunks && *st == TN_OK; c += nthr) {
        const int i0 = c * inf->chunk, m = j->n - i0 < inf->chunk ? j->n - i0 : inf->chunk;
        tn_graph_reset(g);
        tn_graph_set_training(g, false);
        tn_graph_set_grad(g, false);
        tn_tensor *x = tn_from_data(g, TN_SHAPE(m, j->shape[0], j->shape[1], j->shape[2]),
                                    j->x + (size_t)i0 * img);
        tn_tensor *y = x ? inf->forward(g, inf->model, x) : NULL;
        if (!y) {
            *st = tn_graph_status(g) != TN_OK ? tn_graph_status(g) : TN_ERR_NOMEM;
        } else if (y->ndim != 2 || y->shape[0] != m || y->shape[1] != j->k) {
            *st = TN_ERR_ARG;
            snprintf(j->message[tid], sizeof j->message[tid],
                     "the forward gave (%d, %d) for %d images, not (%d, %d)", y->shape[0],
                     y->ndim > 1 ? y->shape[1] : 0, m, m, j->k);
        } else {
            memcpy(j->out + (size_t)i0 * j->k, y->data, (size_t)m * j->k * sizeof(float));
        }
    }
    if (*st != TN_OK && !j->message[tid][0]) {
        const char *m = tn_error_message();
        snprintf(j->message[tid], sizeof j->message[tid], "%s",
                 strncmp(m, "tenet: ", 7) == 0 ? m + 7 : m);
    }
}

tn_status tn_nn_infer_run(tn_nn_infer *inf, const float *x, int n, int c, int h, int w,
                          float *out, int k)
{
    if (!x || !out || n < 0 || c < 1 || h < 1 || w < 1 || k < 1)
        tn_misuse("tn_nn_infer_run", "x %p, out %p, n %d, (c, h, w) (%d, %d, %d), k %d",
                  (const void *)x, (void *)out, n, c, h, w, k);
    if (n == 0) return TN_OK;
    infer_job *j = calloc(1, sizeof *j);
    if (!j) return tn_error_set(TN_ERR_NOMEM, "tenet: tn_nn_infer_run: out of memory");
    *j = (infer_job){.inf = inf, .x = x, .n = n, .shape = {c, h, w}, .k = k, .out = out,
                     .n_chunks = (n + inf->chunk - 1) / inf->chunk};
    int nthr = tn_threads();
    if (nthr > j->n_chunks) nthr = j->n_chunks;
    if (nthr > INFER_MAX_THREADS) nthr = INFER_MAX_THREADS;
    tn_parallel(nthr, infer_thread, j);
    tn_status st = TN_OK;
    for (int t = 0; t < INFER_MAX_THREADS && st == TN_OK; t++)
        if (j->st[t] != TN_OK)
            st = tn_error_set(j->st[t], "tenet: tn_nn_infer_run: %s", j->message[t]);
    free(j);
    return st;
}
