/* tensor/dist.h - data-parallel training over MPI: the process group (rank
 * r of n), collectives on doubles and floats, deterministic batch slices,
 * the DDP gradient all-reduce in buckets that overlaps backward, batch norm
 * synchronised across ranks, and the start-up consistency check.
 *
 * Built without MPI (meson -Dmpi=disabled, or no MPI found) every function
 * exists and reports a single process: rank 0 of 1, collectives are the
 * identity, tn_ddp_* only keeps its bookkeeping.
 *
 * A data-parallel step (every rank runs the same program):
 *
 *   tn_dist_init(&argc, &argv);
 *   tn_ddp *ddp = tn_ddp_new(ps, 0);              // 0: default bucket size
 *   tn_ddp_broadcast_values(ddp);                 // rank 0's weights to all
 *   for (step...) {
 *       long lo, n;                               // this rank's rows of the
 *       tn_dist_slice(batch, &lo, &n);            // global batch (same order
 *       tn_graph_reset(g);                        // on every rank)
 *       tn_params_zero_grad(ps);
 *       loss = model(g, rows lo .. lo+n-1);       // mean over the n rows
 *       tn_ddp_begin(ddp, g, n, batch);           // hook into this backward
 *       tn_backward(g, loss);                     // buckets all-reduced as
 *       tn_ddp_finish(ddp);                       // they finish; wait
 *       tn_optim_step(opt, lr);                   // identical on every rank
 *   }
 *   tn_ddp_free(ddp);
 *   tn_dist_finalize();
 *
 * Task parallel (independent runs on separate ranks): tn_dist_split(color)
 * makes the ranks of one color a group of their own; everything above
 * (rank, size, slices, collectives, DDP, synchronised batch norm) then
 * works within that group, so that code written for the whole job runs a
 * job of its own on each group; tn_dist_unsplit() returns to the whole job
 * (tn_dist_world_rank/size never change).  With one rank per color every
 * group is a group of one: no communication at all.
 */
#ifndef TENET_TENSOR_DIST_H
#define TENET_TENSOR_DIST_H

#include "tensor.h"

#include <stdint.h>

/* ------------------------------------------------------------ the group */

/* Whether the library was built with MPI. */
bool tn_dist_built(void);

/* Start the process group (MPI_Init_thread, funneled) unless MPI is already
 * initialised.  A process started without a launcher (no mpirun/mpiexec/srun
 * in its environment) is a group of one and does not initialise MPI at all
 * (TENET_MPI=1 forces MPI_Init, TENET_MPI=0 forbids it).  argc/argv may be
 * NULL. */
tn_status tn_dist_init(int *argc, char ***argv);

/* End it (MPI_Finalize) if tn_dist_init started it. */
void tn_dist_finalize(void);

int tn_dist_rank(void); /* in the current group; 0 before tn_dist_init */
int tn_dist_size(void); /* in the current group; 1 before tn_dist_init */
int tn_dist_world_rank(void); /* in the whole job, split or not */
int tn_dist_world_size(void);

/* Split the job into groups (MPI_Comm_split): the ranks calling it with
 * the same color >= 0 form the current group, ranked in their order in
 * the job.  Every rank of the job must call it, and each group must call
 * tn_dist_unsplit before the next split.  Without MPI, or in a job of one,
 * only the bookkeeping. */
tn_status tn_dist_split(int color);
/* Back to the whole job as the group (frees the split's communicator;
 * every rank of the current group calls it). */
tn_status tn_dist_unsplit(void);

/* Wait until every rank of the current group has called it. */
tn_status tn_dist_barrier(void);

/* End every rank of the whole job, split or not, now with `code`
 * (MPI_Abort; exit() in a job of one): for a rank that failed alone, after
 * it printed why. */
_Noreturn void tn_dist_abort(int code);

/* This rank's contiguous rows [*start, *start + *count) of n rows split
 * over the group: the first n % size ranks take one row more.  A rank may
 * get no rows when n < size. */
void tn_dist_slice(long n, long *start, long *count);

/* ----------------------------------------------------------- collectives
 * Blocking, every rank must call them in the same order. */

tn_status tn_dist_sum_d(double *buf, size_t n);  /* in place: sum over ranks */
tn_status tn_dist_sum_f(float *buf, size_t n);
tn_status tn_dist_sum_l(long *buf, size_t n);
tn_status tn_dist_broadcast(void *buf, size_t bytes, int root);
/* recv (size * bytes): every rank's `bytes` of send, in rank order. */
tn_status tn_dist_allgather(const void *send, void *recv, size_t bytes);

/* Whether every rank passed ok = true (a logical-and over the group). */
bool tn_dist_all_ok(bool ok);

/* TN_ERR_ARG naming `what` and the first rank that differs when the bytes
 * of data are not the same on every rank (compared by a 64-bit hash). */
tn_status tn_dist_check_same(const char *what, const void *data, size_t len);

/* FNV-1a over bytes, continuing from h (start with TN_DIST_HASH_INIT). */
#define TN_DIST_HASH_INIT UINT64_C(0xcbf29ce484222325)
uint64_t tn_dist_hash(uint64_t h, const void *data, size_t len);

/* ------------------------------------------------------------------ DDP */

typedef struct tn_ddp tn_ddp;

/* Gradient all-reduce for every TN_PARAM tensor of ps (whose layout must
 * not change afterwards), in buckets of whole tensors of at least
 * bucket_floats floats (0: 256 Ki floats, 1 MiB), last parameter first: the
 * order in which backward finishes them.  NULL (and a message) if out of
 * memory. */
tn_ddp *tn_ddp_new(tn_params *ps, size_t bucket_floats);
void tn_ddp_free(tn_ddp *d);

/* Rank 0's values (parameters and buffers) to every rank. */
tn_status tn_ddp_broadcast_values(tn_ddp *d);

/* Hook the next tn_backward(g, ...): this rank's loss is a mean over
 * `rows` of `global_rows` rows; each bucket is scaled by rows/global_rows
 * and summed over ranks (MPI_Iallreduce) as soon as backward has finished
 * its gradients, so that the result is the gradient of the mean over all
 * global_rows rows. */
tn_status tn_ddp_begin(tn_ddp *d, tn_graph *g, long rows, long global_rows);

/* Start the buckets not yet started, wait for all, unhook the graph, and
 * average the TN_BUFFER tensors (batch-norm running statistics) over the
 * ranks, weighted as the gradients, so that every rank holds the same
 * state.  Must be called on every rank after tn_ddp_begin. */
tn_status tn_ddp_finish(tn_ddp *d);

/* Seconds spent in tn_ddp_finish waiting for the all-reduce, and the number
 * of finished steps, since tn_ddp_new. */
double tn_ddp_wait_seconds(const tn_ddp *d);
long tn_ddp_steps(const tn_ddp *d);

/* --------------------------------------------------- synchronised BN
 * With sync on, batch norm in train mode on g computes its statistics over
 * every rank's rows (per-channel moments gathered in forward, the two
 * per-channel sums of backward all-reduced): N ranks x B/N rows normalise
 * as 1 rank x B rows.  Off (the default): each rank its own rows. */
void tn_graph_set_sync_bn(tn_graph *g, bool sync);
bool tn_graph_sync_bn(const tn_graph *g);
/* The weight rows / global_rows of this rank's loss (tn_ddp_begin sets it;
 * 1 / size until then): synchronised backward needs it to combine ranks
 * whose slices differ in size. */
void tn_graph_set_rank_weight(tn_graph *g, double w);
double tn_graph_rank_weight(const tn_graph *g);

/* --------------------------------------------------------- backward hook
 * fn(ctx, g, i) runs in tn_backward on the calling thread: once with
 * i = tn_graph_tape_len(g) before the first node, then after each tape
 * node i (from the last to the first, also after nodes that received no
 * gradient): node i's inputs have received everything they will from it. */
typedef void (*tn_backward_hook)(void *ctx, tn_graph *g, size_t i);
void tn_graph_set_backward_hook(tn_graph *g, tn_backward_hook fn, void *ctx);

/* Internal to the engine (ops_norm.c): the per-channel moments (count,
 * mean, centred sum of squares m2) of every rank merged in rank order. */
tn_status tn_dist_merge_moments(size_t c, double *count, double *mean, double *m2);
/* Poison g with st (an error message already set) unless it already is. */
void tn_graph_poison(tn_graph *g, tn_status st);

#endif
