/* tests/dist/test_ddp.c - data parallel against one process, under
 * mpirun -np 2: every rank also computes the one-process reference itself
 * (no collectives), then trains the same model data-parallel, and the two
 * parameter stores are compared after STEPS steps.
 *
 *   sync BN, 2 x B/2 (and an uneven 5 + 4 split)  ==  1 x B
 *   no BN,   2 x B/2                              ==  1 x B
 *   per-rank BN, 2 x B/2  ==  1 x B with each half normalised by its own
 *     statistics: per step, the gradients of w_h * loss(half h) summed over
 *     the halves (w_h = rows of h / B), and the running statistics the
 *     average (weight w_h) of what each half alone makes of them.
 *
 * And tn_dist_split: every rank a group of its own, then the whole job.
 *
 * Exits 0 when every case matches within TOL (relative, over the store). */
#include <tenet.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STEPS 20
#define TOL 1e-5
#define HW 8 /* image side */

typedef enum mode { REF_FULL, REF_HALVES, DDP } mode;

static int rank;

static void die(const char *what)
{
    fprintf(stderr, "rank %d: %s: %s\n", rank, what, tn_error_message());
    tn_dist_abort(2);
}

/* A tiny ResNet-20 (width 4) with SGD + momentum + coupled decay. */
static void build(tn_resnet_variant v, tn_params **ps, tn_resnet **net, tn_optim **opt)
{
    tn_rng rng;
    tn_rng_seed(&rng, 7, 0);
    *ps = tn_params_new();
    tn_resnet_config cfg = {.depth = 20, .num_classes = 10, .width = 4, .variant = v};
    if (!*ps || tn_resnet_new(net, *ps, &cfg, &rng) != TN_OK) die("resnet");
    tn_optim_config oc = tn_optim_sgd(0.05);
    oc.momentum = 0.9;
    oc.reg = TN_REG_COUPLED;
    oc.lambda = 5e-4;
    if (tn_optim_new(*ps, &oc, opt) != TN_OK) die("optimizer");
}

/* Loss (mean over rows lo..lo+n-1 of the batch), scaled by s. */
static tn_tensor *loss_of(tn_graph *g, const tn_resnet *net, const float *x, const int32_t *y,
                          long lo, long n, float s)
{
    const size_t img = 3 * HW * HW;
    tn_tensor *in = tn_from_data(g, TN_SHAPE((int)n, 3, HW, HW), x + (size_t)lo * img);
    tn_tensor *l = in ? tn_cross_entropy(g, tn_resnet_forward(g, net, in), y + lo, 0.0f) : NULL;
    return l && s != 1.0f ? tn_scale(g, l, s) : l;
}

static void copy_buffers(tn_params *ps, float *dst, bool save)
{
    size_t k = 0;
    for (size_t i = 0; i < tn_params_count(ps); i++) {
        if (!(tn_params_flags(ps, i) & TN_BUFFER)) continue;
        tn_tensor *t = tn_params_at(ps, i);
        if (save) memcpy(dst + k, t->data, t->numel * sizeof(float));
        else memcpy(t->data, dst + k, t->numel * sizeof(float));
        k += t->numel;
    }
}

/* The parameter store after STEPS steps on batches of B rows. */
static float *train(tn_resnet_variant v, mode md, bool sync, long batch, size_t *size)
{
    tn_params *ps;
    tn_resnet *net;
    tn_optim *opt;
    build(v, &ps, &net, &opt);
    tn_graph *g = tn_graph_new();
    tn_ddp *ddp = md == DDP ? tn_ddp_new(ps, 4096) : NULL;
    if (!g || (md == DDP && !ddp)) die("setup");
    if (ddp && tn_ddp_broadcast_values(ddp) != TN_OK) die("broadcast");
    tn_graph_set_sync_bn(g, md == DDP && sync);
    const size_t img = 3 * HW * HW, nbuf = tn_params_numel(ps, TN_BUFFER);
    float *x = malloc((size_t)batch * img * sizeof *x), *b0 = malloc((nbuf + 1) * sizeof *b0),
          *acc = malloc((nbuf + 1) * sizeof *acc);
    int32_t *y = malloc((size_t)batch * sizeof *y);
    tn_rng data;
    tn_rng_seed(&data, 11, 1);
    for (int t = 0; t < STEPS; t++) {
        tn_fill_normal(x, (size_t)batch * img, 0.0f, 1.0f, &data);
        for (long i = 0; i < batch; i++) y[i] = (int32_t)tn_rng_below(&data, 10);
        tn_params_zero_grad(ps);
        if (md == REF_FULL) {
            tn_graph_reset(g);
            tn_tensor *l = loss_of(g, net, x, y, 0, batch, 1.0f);
            if (!l || tn_backward(g, l) != TN_OK) die("reference step");
        } else if (md == REF_HALVES) {
            copy_buffers(ps, b0, true);
            memset(acc, 0, nbuf * sizeof *acc);
            for (long h = 0, lo = 0; h < 2; h++) {
                const long n = batch / 2 + (h < batch % 2);
                copy_buffers(ps, b0, false);
                tn_graph_reset(g);
                tn_tensor *l = loss_of(g, net, x, y, lo, n, (float)n / (float)batch);
                if (!l || tn_backward(g, l) != TN_OK) die("half-batch step");
                size_t k = 0;
                for (size_t i = 0; i < tn_params_count(ps); i++) {
                    if (!(tn_params_flags(ps, i) & TN_BUFFER)) continue;
                    const tn_tensor *bt = tn_params_at(ps, i);
                    for (size_t j = 0; j < bt->numel; j++)
                        acc[k++] += (float)((double)n / (double)batch * bt->data[j]);
                }
                lo += n;
            }
            copy_buffers(ps, acc, false);
        } else {
            long lo, n;
            tn_dist_slice(batch, &lo, &n);
            tn_graph_reset(g);
            tn_tensor *l = loss_of(g, net, x, y, lo, n, 1.0f);
            if (!l || tn_ddp_begin(ddp, g, n, batch) != TN_OK || tn_backward(g, l) != TN_OK ||
                tn_ddp_finish(ddp) != TN_OK)
                die("data-parallel step");
        }
        tn_optim_step(opt, 0.05);
    }
    *size = tn_params_size(ps);
    float *out = malloc(*size * sizeof *out);
    memcpy(out, tn_params_values(ps), *size * sizeof *out);
    free(x);
    free(y);
    free(b0);
    free(acc);
    tn_ddp_free(ddp);
    tn_graph_free(g);
    tn_optim_free(opt);
    tn_resnet_free(net);
    tn_params_free(ps);
    return out;
}

static int check(const char *name, tn_resnet_variant v, mode ref, bool sync, long batch)
{
    size_t n1, n2;
    float *a = train(v, ref, false, batch, &n1);
    float *b = train(v, DDP, sync, batch, &n2);
    double d2 = 0, r2 = 0, dmax = 0;
    for (size_t i = 0; i < n1; i++) {
        const double d = (double)a[i] - b[i];
        d2 += d * d;
        r2 += (double)a[i] * a[i];
        if (fabs(d) > dmax) dmax = fabs(d);
    }
    const double rel = sqrt(d2 / r2);
    const bool ok = n1 == n2 && rel <= TOL && isfinite(rel);
    if (rank == 0)
        printf("%-44s ranks %d, batch %ld: relative difference %.3g (max abs %.3g) %s\n", name,
               tn_dist_size(), batch, rel, dmax, ok ? "ok" : "FAILED");
    free(a);
    free(b);
    return ok ? 0 : 1;
}

/* tn_dist_split(world rank): every rank a group of its own, where a sum
 * is the rank's own value and data parallel training with synchronised
 * batch norm is the one-process run bit for bit; tn_dist_unsplit: the
 * whole job again.  Checked on every rank, reported by rank 0. */
static int check_split(void)
{
    const int world = tn_dist_world_size();
    if (tn_dist_split(tn_dist_world_rank()) != TN_OK) die("split");
    long mine = 1 + tn_dist_world_rank(), start, count;
    const bool alone = tn_dist_rank() == 0 && tn_dist_size() == 1 && tn_dist_sum_l(&mine, 1) == TN_OK &&
                       mine == 1 + tn_dist_world_rank() && tn_dist_barrier() == TN_OK;
    tn_dist_slice(9, &start, &count);
    size_t n1, n2;
    float *a = train(TN_RESNET_BN, REF_FULL, false, 8, &n1);
    float *b = train(TN_RESNET_BN, DDP, true, 8, &n2);
    const bool same = n1 == n2 && memcmp(a, b, n1 * sizeof *a) == 0;
    free(a);
    free(b);
    if (tn_dist_unsplit() != TN_OK) die("unsplit");
    long n = 1;
    const bool back = tn_dist_sum_l(&n, 1) == TN_OK && n == world && tn_dist_size() == world &&
                      tn_dist_rank() == tn_dist_world_rank();
    const bool ok = tn_dist_all_ok(alone && start == 0 && count == 9 && same && back);
    if (rank == 0)
        printf("%-44s ranks %d: groups of one %s, sync-BN DDP alone == 1 x B bit for bit %s, "
               "the whole job again %s: %s\n", "tn_dist_split per rank", world,
               alone ? "ok" : "no", same ? "ok" : "no", back ? "ok" : "no", ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (tn_dist_init(&argc, &argv) != TN_OK) die("init");
    rank = tn_dist_rank();
    tn_set_threads(1);
    int failed = 0;
    failed += check("sync BN, data parallel vs 1 x B", TN_RESNET_BN, REF_FULL, true, 8);
    failed += check("sync BN, uneven slices vs 1 x B", TN_RESNET_BN, REF_FULL, true, 9);
    failed += check("no BN, data parallel vs 1 x B", TN_RESNET_NO_BN, REF_FULL, false, 8);
    if (tn_dist_size() == 2)
        failed += check("per-rank BN vs 1 x B, halves normalised alone", TN_RESNET_BN, REF_HALVES,
                        false, 8);
    /* And the per-rank run really differs from the synchronised one. */
    if (tn_dist_size() == 2) {
        size_t n1, n2;
        float *a = train(TN_RESNET_BN, REF_FULL, false, 8, &n1);
        float *b = train(TN_RESNET_BN, DDP, false, 8, &n2);
        double d2 = 0, r2 = 0;
        for (size_t i = 0; i < n1; i++) d2 += ((double)a[i] - b[i]) * ((double)a[i] - b[i]), r2 += (double)a[i] * a[i];
        const bool ok = sqrt(d2 / r2) > 100 * TOL;
        if (rank == 0)
            printf("per-rank BN differs from 1 x B: relative difference %.3g %s\n", sqrt(d2 / r2),
                   ok ? "ok" : "FAILED");
        failed += !ok;
        free(a);
        free(b);
    }
    failed += check_split();
    long f = failed;
    tn_dist_sum_l(&f, 1);
    tn_dist_finalize();
    return f ? 1 : 0;
}
