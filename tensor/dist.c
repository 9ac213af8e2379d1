/* tensor/dist.c - the process group, collectives, DDP buckets and the
 * moments merge of synchronised batch norm; MPI when built with it, a group
 * of one otherwise. */
#include "dist.h"

#include "internal.h"

#include <stdlib.h>

#ifdef TENET_HAVE_MPI
#include <mpi.h>
#endif

static int g_rank = 0, g_size = 1;             /* in the current group */
static int g_world_rank = 0, g_world_size = 1; /* in the whole job */
static bool g_started; /* tn_dist_init called MPI_Init */
static bool g_split;   /* tn_dist_split made the current group */
#ifdef TENET_HAVE_MPI
static MPI_Comm g_comm; /* the current group: MPI_COMM_WORLD or the split's */
#endif

bool tn_dist_built(void)
{
#ifdef TENET_HAVE_MPI
    return true;
#else
    return false;
#endif
}

#ifdef TENET_HAVE_MPI
static tn_status mpi_error(const char *who, int rc)
{
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    return tn_error_set(TN_ERR_STATE, "tenet: %s: MPI error: %s", who, msg);
}
#define MPI_TRY(who, call)                                                     \
    do {                                                                       \
        int rc_ = (call);                                                      \
        if (rc_ != MPI_SUCCESS) return mpi_error(who, rc_);                    \
    } while (0)
#endif

#ifdef TENET_HAVE_MPI
/* Whether a launcher (mpirun/mpiexec of Open MPI or MPICH, srun with PMI)
 * started this process, or TENET_MPI=1 asks for MPI anyway.  A process
 * started alone does not initialise MPI: a singleton MPI_Init starts the
 * runtime's daemons and shared-memory store for a group of one, which
 * costs time and fails where they cannot run (a file size limit, say). */
static bool launched(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK",
                                       "PMI_SIZE", "MPI_LOCALNRANKS"};
    const char *force = getenv("TENET_MPI");
    if (force && *force) return strcmp(force, "0") != 0;
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i])) return true;
    return false;
}
#endif

tn_status tn_dist_init(int *argc, char ***argv)
{
#ifdef TENET_HAVE_MPI
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited && !launched()) return TN_OK; /* a group of one, without MPI */
    if (!inited) {
        int provided;
        if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
            return tn_error_set(TN_ERR_STATE, "tenet: tn_dist_init: MPI_Init_thread failed");
        g_started = true;
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_world_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_world_size);
    g_comm = MPI_COMM_WORLD;
    g_rank = g_world_rank;
    g_size = g_world_size;
#else
    (void)argc, (void)argv;
#endif
    return TN_OK;
}

void tn_dist_finalize(void)
{
    if (g_split) tn_dist_unsplit();
#ifdef TENET_HAVE_MPI
    if (g_started) MPI_Finalize();
#endif
    g_started = false;
    g_rank = g_world_rank = 0;
    g_size = g_world_size = 1;
}

int tn_dist_rank(void) { return g_rank; }
int tn_dist_size(void) { return g_size; }
int tn_dist_world_rank(void) { return g_world_rank; }
int tn_dist_world_size(void) { return g_world_size; }

tn_status tn_dist_split(int color)
{
    if (g_split) tn_misuse("tn_dist_split", "the group is already split (tn_dist_unsplit first)");
    if (color < 0) tn_misuse("tn_dist_split", "color %d, expected >= 0", color);
#ifdef TENET_HAVE_MPI
    if (g_world_size > 1) {
        MPI_Comm sub;
        MPI_TRY("tn_dist_split", MPI_Comm_split(MPI_COMM_WORLD, color, g_world_rank, &sub));
        MPI_Comm_set_errhandler(sub, MPI_ERRORS_RETURN);
        g_comm = sub;
        MPI_Comm_rank(sub, &g_rank);
        MPI_Comm_size(sub, &g_size);
    }
#endif
    g_split = true;
    return TN_OK;
}

tn_status tn_dist_unsplit(void)
{
    if (!g_split) tn_misuse("tn_dist_unsplit", "the group is not split (tn_dist_split)");
    g_split = false;
    g_rank = g_world_rank;
    g_size = g_world_size;
#ifdef TENET_HAVE_MPI
    if (g_world_size > 1) {
        MPI_Comm sub = g_comm;
        g_comm = MPI_COMM_WORLD;
        MPI_TRY("tn_dist_unsplit", MPI_Comm_free(&sub));
    }
#endif
    return TN_OK;
}

tn_status tn_dist_barrier(void)
{
#ifdef TENET_HAVE_MPI
    if (g_size > 1) MPI_TRY("tn_dist_barrier", MPI_Barrier(g_comm));
#endif
    return TN_OK;
}

_Noreturn void tn_dist_abort(int code)
{
    fflush(stdout);
    fflush(stderr);
#ifdef TENET_HAVE_MPI
    if (g_world_size > 1) MPI_Abort(MPI_COMM_WORLD, code);
#endif
    exit(code);
}

void tn_dist_slice(long n, long *start, long *count)
{
    long q = n / g_size, r = n % g_size;
    *count = q + (g_rank < r);
    *start = q * g_rank + (g_rank < r ? g_rank : r);
}

/* ----------------------------------------------------------- collectives */

#ifdef TENET_HAVE_MPI
static tn_status sum_of(void *buf, size_t n, MPI_Datatype type, const char *who)
{
    if (g_size == 1 || n == 0) return TN_OK;
    if (n > INT32_MAX) tn_misuse(who, "%zu elements, at most %d", n, INT32_MAX);
    MPI_TRY(who, MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, type, MPI_SUM, g_comm));
    return TN_OK;
}
#endif

#ifdef TENET_HAVE_MPI
#define DIST_SUM(name, type, mpi_type) \
    tn_status name(type *buf, size_t n) { return sum_of(buf, n, mpi_type, #name); }
#else
#define DIST_SUM(name, type, mpi_type) \
    tn_status name(type *buf, size_t n) { return (void)buf, (void)n, TN_OK; }
#endif
DIST_SUM(tn_dist_sum_d, double, MPI_DOUBLE)
DIST_SUM(tn_dist_sum_f, float, MPI_FLOAT)
DIST_SUM(tn_dist_sum_l, long, MPI_LONG)
#undef DIST_SUM

tn_status tn_dist_broadcast(void *buf, size_t bytes, int root)
{
#ifdef TENET_HAVE_MPI
    if (g_size == 1 || bytes == 0) return TN_OK;
    if (bytes > INT32_MAX) tn_misuse("tn_dist_broadcast", "%zu bytes, at most %d", bytes, INT32_MAX);
    MPI_TRY("tn_dist_broadcast", MPI_Bcast(buf, (int)bytes, MPI_BYTE, root, g_comm));
#else
    (void)buf, (void)bytes, (void)root;
#endif
    return TN_OK;
}

tn_status tn_dist_allgather(const void *send, void *recv, size_t bytes)
{
#ifdef TENET_HAVE_MPI
    if (g_size > 1) {
        if (bytes > INT32_MAX) tn_misuse("tn_dist_allgather", "%zu bytes, at most %d", bytes, INT32_MAX);
        MPI_TRY("tn_dist_allgather", MPI_Allgather(send, (int)bytes, MPI_BYTE, recv, (int)bytes,
                                                   MPI_BYTE, g_comm));
        return TN_OK;
    }
#endif
    memcpy(recv, send, bytes);
    return TN_OK;
}

bool tn_dist_all_ok(bool ok)
{
    long bad = !ok;
    if (tn_dist_sum_l(&bad, 1) != TN_OK) return false;
    return bad == 0;
}

uint64_t tn_dist_hash(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) h = (h ^ p[i]) * UINT64_C(0x100000001b3);
    return h;
}

tn_status tn_dist_check_same(const char *what, const void *data, size_t len)
{
    if (g_size == 1) return TN_OK;
    uint64_t h = tn_dist_hash(TN_DIST_HASH_INIT, data, len);
    uint64_t *all = malloc((size_t)g_size * sizeof *all);
    if (!all) return tn_error_set(TN_ERR_NOMEM, "tenet: tn_dist_check_same: out of memory");
    tn_status st = tn_dist_allgather(&h, all, sizeof h);
    int differs = -1;
    for (int r = 1; st == TN_OK && r < g_size && differs < 0; r++)
        if (all[r] != all[0]) differs = r;
    free(all);
    if (st != TN_OK) return st;
    if (differs >= 0)
        return tn_error_set(TN_ERR_ARG,
                            "tenet: the ranks disagree: rank %d's %s differs from rank 0's "
                            "(start every rank with the same build, options and model)",
                            differs, what);
    return TN_OK;
}

/* ------------------------------------------------- synchronised moments */

tn_status tn_dist_merge_moments(size_t c, double *count, double *mean, double *m2)
{
    if (g_size == 1) return TN_OK;
    const size_t per = 3 * c;
    double *mine = malloc(per * sizeof *mine), *all = malloc(per * (size_t)g_size * sizeof *all);
    tn_status st = mine && all ? TN_OK : tn_error_set(TN_ERR_NOMEM, "tenet: sync batch norm: out of memory");
    if (st == TN_OK) {
        memcpy(mine, count, c * sizeof *mine);
        memcpy(mine + c, mean, c * sizeof *mine);
        memcpy(mine + 2 * c, m2, c * sizeof *mine);
        st = tn_dist_allgather(mine, all, per * sizeof *mine);
    }
    if (st == TN_OK) {
        /* Chan et al.'s pairwise merge, rank 0 first: the same on every rank. */
        for (size_t k = 0; k < c; k++) {
            double n = 0, mu = 0, q = 0;
            for (int r = 0; r < g_size; r++) {
                const double *a = all + (size_t)r * per;
                const double nb = a[k], mb = a[c + k], qb = a[2 * c + k];
                if (nb == 0) continue;
                const double total = n + nb, delta = mb - mu;
                mu += delta * (nb / total);
                q += qb + delta * delta * (n * nb / total);
                n = total;
            }
            count[k] = n;
            mean[k] = mu;
            m2[k] = q;
        }
    }
    free(mine);
    free(all);
    return st;
}

/* ------------------------------------------------------------------ DDP */

typedef struct bucket {
    size_t lo, hi;     /* float range of the flat gradient buffer */
    size_t first_node; /* the lowest tape index reading one of its tensors */
    bool started;
} bucket;

struct tn_ddp {
    tn_params *ps;
    bucket *b;
    size_t nb, next; /* buckets; the next to start */
    size_t *owner;   /* item index -> bucket, SIZE_MAX for buffers */
    double *buf;     /* the buffers, packed, for their average */
    size_t buf_floats;
    tn_graph *g;
    double w;
    bool active;
    double wait_s;
    long steps;
#ifdef TENET_HAVE_MPI
    MPI_Request *req;
#endif
};

#define DEFAULT_BUCKET_FLOATS ((size_t)1 << 18)

tn_ddp *tn_ddp_new(tn_params *ps, size_t bucket_floats)
{
    if (!ps) tn_misuse("tn_ddp_new", "the parameter store is NULL");
    if (!bucket_floats) bucket_floats = DEFAULT_BUCKET_FLOATS;
    const size_t count = tn_params_count(ps);
    tn_ddp *d = calloc(1, sizeof *d);
    if (!d) goto nomem;
    d->ps = ps;
    d->b = calloc(count ? count : 1, sizeof *d->b);
    d->owner = calloc(count ? count : 1, sizeof *d->owner);
#ifdef TENET_HAVE_MPI
    d->req = calloc(count ? count : 1, sizeof *d->req);
    if (!d->req) goto nomem;
#endif
    if (!d->b || !d->owner) goto nomem;
    /* Last tensor first; a bucket closes once it holds bucket_floats. */
    bucket *cur = NULL;
    for (size_t i = count; i-- > 0;) {
        const tn_tensor *t = tn_params_at(ps, i);
        const size_t off = tn_params_offset(ps, i);
        if (!(tn_params_flags(ps, i) & TN_PARAM)) {
            d->owner[i] = SIZE_MAX;
            d->buf_floats += t->numel;
            continue;
        }
        if (!cur || cur->hi - cur->lo >= bucket_floats) {
            cur = &d->b[d->nb++];
            cur->hi = off + t->numel;
        }
        cur->lo = off;
        d->owner[i] = (size_t)(cur - d->b);
    }
    if (d->buf_floats && !(d->buf = malloc(d->buf_floats * sizeof *d->buf))) goto nomem;
    return d;
nomem:
    tn_ddp_free(d);
    tn_error_set(TN_ERR_NOMEM, "tenet: tn_ddp_new: out of memory");
    return NULL;
}

void tn_ddp_free(tn_ddp *d)
{
    if (!d) return;
    if (d->active && d->g) tn_graph_set_backward_hook(d->g, NULL, NULL);
    free(d->b);
    free(d->owner);
    free(d->buf);
#ifdef TENET_HAVE_MPI
    free(d->req);
#endif
    free(d);
}

tn_status tn_ddp_broadcast_values(tn_ddp *d)
{
    return tn_dist_broadcast(tn_params_values(d->ps), tn_params_size(d->ps) * sizeof(float), 0);
}

/* The bucket holding the parameter whose values contain p, or SIZE_MAX. */
static size_t bucket_of(const tn_ddp *d, const float *p)
{
    const float *v = tn_params_values(d->ps);
    if (p < v || p >= v + tn_params_size(d->ps)) return SIZE_MAX;
    const size_t off = (size_t)(p - v);
    for (size_t k = 0; k < d->nb; k++)
        if (off >= d->b[k].lo && off < d->b[k].hi) return k;
    return SIZE_MAX;
}

static void start_bucket(tn_ddp *d, size_t k)
{
    bucket *b = &d->b[k];
    b->started = true;
    if (g_size == 1) return;
    float *gr = tn_params_grads(d->ps) + b->lo;
    const size_t n = b->hi - b->lo;
    const float w = (float)d->w;
    for (size_t i = 0; i < n; i++) gr[i] *= w;
#ifdef TENET_HAVE_MPI
    MPI_Iallreduce(MPI_IN_PLACE, gr, (int)n, MPI_FLOAT, MPI_SUM, g_comm, &d->req[k]);
#endif
}

static void ddp_hook(void *ctx, tn_graph *g, size_t i)
{
    tn_ddp *d = ctx;
    if (i == tn_graph_tape_len(g)) {
        /* Before the first node: where each bucket is read last in backward. */
        for (size_t k = 0; k < d->nb; k++) d->b[k].first_node = SIZE_MAX;
        for (size_t n = 0; n < i; n++) {
            const tn_tensor *t = tn_graph_tape_node(g, n);
            for (int j = 0; j < t->n_in; j++) {
                size_t k = bucket_of(d, t->in[j]->data);
                if (k != SIZE_MAX && (d->b[k].first_node == SIZE_MAX || n < d->b[k].first_node))
                    d->b[k].first_node = n;
            }
        }
    }
    /* Start, in order, the buckets no node at or below i reads any more. */
    while (d->next < d->nb && (d->b[d->next].first_node == SIZE_MAX || d->b[d->next].first_node >= i))
        start_bucket(d, d->next++);
#ifdef TENET_HAVE_MPI
    if (g_size > 1 && d->next) {
        int flag; /* let MPI progress the started ones */
        MPI_Testall((int)d->next, d->req, &flag, MPI_STATUSES_IGNORE);
    }
#endif
}

tn_status tn_ddp_begin(tn_ddp *d, tn_graph *g, long rows, long global_rows)
{
    if (rows < 0 || global_rows <= 0 || rows > global_rows)
        tn_misuse("tn_ddp_begin", "rows %ld of %ld", rows, global_rows);
    if (d->active) tn_misuse("tn_ddp_begin", "the previous step was not finished (tn_ddp_finish)");
    d->g = g;
    d->w = (double)rows / (double)global_rows;
    d->next = 0;
    for (size_t k = 0; k < d->nb; k++) {
        d->b[k].started = false;
        d->b[k].first_node = SIZE_MAX;
#ifdef TENET_HAVE_MPI
        d->req[k] = MPI_REQUEST_NULL;
#endif
    }
    d->active = true;
    tn_graph_set_rank_weight(g, d->w);
    tn_graph_set_backward_hook(g, ddp_hook, d);
    return TN_OK;
}

/* The buffers' average over the ranks, weighted by w, in double. */
static tn_status average_buffers(tn_ddp *d)
{
    if (!d->buf_floats || g_size == 1) return TN_OK;
    size_t n = 0;
    for (size_t i = 0; i < tn_params_count(d->ps); i++) {
        if (d->owner[i] != SIZE_MAX) continue;
        const tn_tensor *t = tn_params_at(d->ps, i);
        for (size_t j = 0; j < t->numel; j++) d->buf[n++] = d->w * t->data[j];
    }
    tn_status st = tn_dist_sum_d(d->buf, n);
    if (st != TN_OK) return st;
    n = 0;
    for (size_t i = 0; i < tn_params_count(d->ps); i++) {
        if (d->owner[i] != SIZE_MAX) continue;
        tn_tensor *t = tn_params_at(d->ps, i);
        for (size_t j = 0; j < t->numel; j++) t->data[j] = (float)d->buf[n++];
    }
    return TN_OK;
}

tn_status tn_ddp_finish(tn_ddp *d)
{
    if (!d->active) tn_misuse("tn_ddp_finish", "no step was begun (tn_ddp_begin)");
    tn_graph_set_backward_hook(d->g, NULL, NULL);
    d->active = false;
    while (d->next < d->nb) start_bucket(d, d->next++);
    const double t0 = tn_clock_now();
#ifdef TENET_HAVE_MPI
    if (g_size > 1 && d->nb) MPI_TRY("tn_ddp_finish", MPI_Waitall((int)d->nb, d->req, MPI_STATUSES_IGNORE));
#endif
    d->wait_s += tn_clock_now() - t0;
    d->steps++;
    /* Synchronised statistics are already the same on every rank. */
    return tn_graph_sync_bn(d->g) ? TN_OK : average_buffers(d);
}

double tn_ddp_wait_seconds(const tn_ddp *d) { return d->wait_s; }
long tn_ddp_steps(const tn_ddp *d) { return d->steps; }
