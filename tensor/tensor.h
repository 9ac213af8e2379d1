/* tensor/tensor.h - tenet's engine: float32 tensors, a per-step graph whose
 * nodes live in an arena, reverse-mode autodiff over the tape, a parameter
 * store, and every differentiable op.
 *
 * Conventions
 *   - Tensors are float32, row-major, 0..4 dims, in PyTorch layouts:
 *     activations (N, C, H, W), linear weight (out, in), conv weight
 *     (O, C, KH, KW).  A loss is a 0-dim tensor (numel 1).
 *   - Every op takes the graph first and returns a new tensor owned by the
 *     graph's arena; it is valid until tn_graph_reset().
 *   - Programmer misuse (shape mismatch, wrong rank, NULL where a tensor is
 *     required) aborts with a message naming the op and the shapes.
 *   - Failures from outside (memory, files, user options) return a status and
 *     leave a message in tn_error_message().  A graph that ran out of memory
 *     becomes "poisoned": later ops return NULL and tn_backward() returns the
 *     error, so a training loop checks once per step.
 */
#ifndef TENET_TENSOR_H
#define TENET_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Errors, misuse, the rng, the clock and atomic file writes. */
#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TN_MAX_DIMS 4
#define TN_MAX_INPUTS 8

typedef struct tn_graph tn_graph;
typedef struct tn_params tn_params;
typedef struct tn_tensor tn_tensor;
typedef struct tn_op tn_op;

/* "(2, 3, 4)" into buf (at least 64 bytes); returns buf. */
char *tn_shape_str(const tn_tensor *t, char *buf, size_t size);

/* --------------------------------------------------------------- threads */

/* Threads used by GEMM (OpenBLAS) and the engine's own parallel loops.
 * Kernels are chosen for the CPU at run time (3x3 convolutions: AVX-512F,
 * else AVX2 + FMA, else im2col + GEMM); the environment variable
 * TENET_MAX_ISA=avx2 or =generic, read at the first convolution, caps the
 * choice (to compare paths, or to reproduce another machine's rounding). */
void tn_set_threads(int n);
int tn_threads(void);

/* fn(ctx, tid, nthr) on nthr threads (tid 0 .. nthr - 1; nthr <= 0: the
 * thread count), each running its ops on one thread (OpenBLAS too), so
 * that independent work (one graph per thread) runs side by side with no
 * synchronisation per op.  Profiling records nothing meanwhile. */
void tn_parallel(int nthr, void (*fn)(void *ctx, int tid, int nthr), void *ctx);

/* ---------------------------------------------------------------- tensor */

struct tn_tensor {
    int ndim;
    int shape[TN_MAX_DIMS];
    size_t numel;
    float *data;        /* numel floats */
    float *grad;        /* numel floats, or NULL until a gradient flows */
    bool requires_grad; /* gradients are wanted for this tensor */

    /* Graph node (all NULL/0 for leaves). */
    const tn_op *op;
    int n_in;
    tn_tensor *in[TN_MAX_INPUTS];
    void *attr; /* per-call attributes and saved state, arena-owned */

    const char *name; /* parameters only: the state_dict name */
};

/* Number of elements in a shape. */
size_t tn_shape_numel(int ndim, const int *shape);
bool tn_same_shape(const tn_tensor *a, const tn_tensor *b);

/* A compound literal for shapes: tn_zeros(g, TN_SHAPE(2, 3)). */
#define TN_SHAPE(...)                                                      \
    (int)(sizeof((int[]){__VA_ARGS__}) / sizeof(int)), (int[]) { __VA_ARGS__ }

/* Creation: arena-owned leaves, valid until tn_graph_reset(). */
tn_tensor *tn_empty(tn_graph *g, int ndim, const int *shape);
tn_tensor *tn_zeros(tn_graph *g, int ndim, const int *shape);
tn_tensor *tn_ones(tn_graph *g, int ndim, const int *shape);
tn_tensor *tn_full(tn_graph *g, int ndim, const int *shape, float value);
tn_tensor *tn_from_data(tn_graph *g, int ndim, const int *shape, const float *data);
tn_tensor *tn_uniform(tn_graph *g, int ndim, const int *shape, float lo, float hi,
                      tn_rng *rng);
tn_tensor *tn_normal(tn_graph *g, int ndim, const int *shape, float mean, float std,
                     tn_rng *rng);
/* Make a leaf created above collect a gradient in tn_backward(). */
tn_tensor *tn_requires_grad(tn_graph *g, tn_tensor *t);

/* Fill helpers on raw arrays (used by initialisers and tests). */
void tn_fill_uniform(float *x, size_t n, float lo, float hi, tn_rng *rng);
void tn_fill_normal(float *x, size_t n, float mean, float std, tn_rng *rng);

/* ----------------------------------------------------------------- graph */

tn_graph *tn_graph_new(void); /* NULL (and a message) if out of memory */
void tn_graph_free(tn_graph *g);
/* Forget every node and gradient of the step; O(1), keeps the memory. */
void tn_graph_reset(tn_graph *g);

/* Train mode (batch statistics, dropout active) or eval mode. Default train. */
void tn_graph_set_training(tn_graph *g, bool training);
bool tn_graph_training(const tn_graph *g);
/* Record ops for backward (default) or not (inference, no-grad). */
void tn_graph_set_grad(tn_graph *g, bool enabled);
bool tn_graph_grad_enabled(const tn_graph *g);

/* TN_OK, or the error that poisoned the graph during this step. */
tn_status tn_graph_status(const tn_graph *g);

/* Seed d(loss)/d(loss) = 1 and run the tape backwards, accumulating into the
 * .grad of every tensor that requires it (parameters: their store slots).
 * Afterwards the gradients of leaves (parameters, tn_requires_grad()
 * tensors) are defined; those of op outputs are working storage: a built-in
 * op may hand its output's gradient buffer, dead once its backward has run,
 * to an input that has none yet (as PyTorch keeps no non-leaf .grad). */
tn_status tn_backward(tn_graph *g, tn_tensor *loss);

/* Arena use in bytes: now, the most ever, and what is reserved from the OS. */
size_t tn_graph_arena_used(const tn_graph *g);
size_t tn_graph_arena_high_water(const tn_graph *g);
size_t tn_graph_arena_reserved(const tn_graph *g);
/* Number of nodes recorded on the tape this step. */
size_t tn_graph_tape_len(const tn_graph *g);
const tn_tensor *tn_graph_tape_node(const tn_graph *g, size_t i);

/* Step-lifetime memory, 64-byte aligned; NULL (graph poisoned) when out of
 * memory.  For ops' saved state and for user code. */
void *tn_graph_alloc(tn_graph *g, size_t bytes);
float *tn_graph_floats(tn_graph *g, size_t n);
float *tn_graph_zeros(tn_graph *g, size_t n);
/* Scratch that lives until the next tn_graph_scratch() call on this graph
 * (im2col columns and the like); grows, never shrinks. */
float *tn_graph_scratch(tn_graph *g, size_t n);

/* ------------------------------------------------------------- parameters */

/* Flags of a stored tensor. */
enum tn_param_flag {
    TN_PARAM = 1u << 0,    /* optimised */
    TN_BUFFER = 1u << 1,   /* saved with the model, never optimised */
    TN_NO_DECAY = 1u << 2, /* excluded from weight decay by default */
    TN_DECAY = 1u << 3,    /* force decay even for a tensor of < 2 dims */
};

/* One flat value buffer and one flat gradient buffer, with named views.
 * tn_params_add() may move the buffers: take raw pointers after the model is
 * built.  Parameters of fewer than 2 dims get TN_NO_DECAY unless TN_DECAY. */
tn_params *tn_params_new(void);
void tn_params_free(tn_params *ps);
tn_tensor *tn_params_add(tn_params *ps, const char *name, int ndim, const int *shape,
                         unsigned flags);
size_t tn_params_count(const tn_params *ps);
tn_tensor *tn_params_at(const tn_params *ps, size_t i);
tn_tensor *tn_params_find(const tn_params *ps, const char *name);
unsigned tn_params_flags(const tn_params *ps, size_t i);
void tn_params_set_flags(tn_params *ps, size_t i, unsigned flags);
size_t tn_params_offset(const tn_params *ps, size_t i); /* in floats */
float *tn_params_values(const tn_params *ps);
float *tn_params_grads(const tn_params *ps);
size_t tn_params_size(const tn_params *ps);                    /* all floats */
size_t tn_params_numel(const tn_params *ps, unsigned flag);    /* with flag */
void tn_params_zero_grad(tn_params *ps);

/* ---------------------------------------------------------------- custom ops
 *
 * An op is three functions and a context.  tn_op_apply() validates with
 * check (which sets out->ndim and out->shape), allocates out->data (unless
 * TN_OP_VIEW), runs forward, and records the node for backward when
 * gradients are enabled and an input requires them.  backward accumulates
 * (+=) into the inputs' gradients obtained with tn_grad(); it builds no new
 * nodes.  User code defines its own tn_op the same way as the library. */

enum tn_op_flag {
    TN_OP_VIEW = 1u << 0, /* forward sets out->data to alias an input */
};

struct tn_op {
    const char *name;
    void (*check)(tn_tensor *out);                  /* set out's shape or tn_misuse */
    void (*forward)(tn_graph *g, tn_tensor *out);   /* compute out->data */
    void (*backward)(tn_graph *g, tn_tensor *out);  /* NULL: not differentiable */
    void *ctx;                                      /* op-wide user context */
    unsigned flags;
};

/* Apply `op` to n_in inputs; attr (attr_size bytes) is copied to the arena
 * and reachable as out->attr.  Returns NULL only if the graph is poisoned. */
tn_tensor *tn_op_apply(tn_graph *g, const tn_op *op, int n_in, tn_tensor *const *in,
                       const void *attr, size_t attr_size);

/* The gradient buffer of t for accumulation (zeroed on first use), or NULL
 * if t does not require a gradient. */
float *tn_grad(tn_graph *g, tn_tensor *t);

/* The library's own ops, for listing (gradcheck coverage, profiling). */
extern const tn_op *const tn_builtin_ops[];
extern const size_t tn_builtin_ops_count;

/* ------------------------------------------------------------- profiling
 * Wall time and call counts per op name, of forward (in tn_op_apply) and
 * backward (in tn_backward), process-wide; off by default, and then the
 * cost is one branch per op.  Ops may also record named phases of their
 * own work with tn_profile_add() (conv2d's "conv2d.bwd_data", ...): these
 * are parts of the op's time, not additions to it, timed with
 * tn_clock_now().  Record from one thread at a time (the one that runs the
 * graph). */
typedef struct tn_profile_entry {
    const char *name;
    double forward_s, backward_s;
    long forward_calls, backward_calls;
} tn_profile_entry;

void tn_profile_enable(bool on);
bool tn_profile_enabled(void);
void tn_profile_reset(void); /* forget every entry */
size_t tn_profile_count(void);
const tn_profile_entry *tn_profile_at(size_t i); /* NULL past the end */
/* Add `seconds` and one call to entry `name` (a string that outlives the
 * profile, e.g. a literal), in its backward column if `backward`; nothing
 * when profiling is off. */
void tn_profile_add(const char *name, bool backward, double seconds);

/* ------------------------------------------------------------------- ops
 * Shapes in comments; "b over leading dims": b's shape equals the trailing
 * dims of a (a bias (C) on (N, C)), or b has a's shape. */

/* Arithmetic: a (...), b (...) or trailing dims of a. */
tn_tensor *tn_add(tn_graph *g, tn_tensor *a, tn_tensor *b);
tn_tensor *tn_sub(tn_graph *g, tn_tensor *a, tn_tensor *b);
tn_tensor *tn_mul(tn_graph *g, tn_tensor *a, tn_tensor *b);
tn_tensor *tn_div(tn_graph *g, tn_tensor *a, tn_tensor *b);
tn_tensor *tn_scale(tn_graph *g, tn_tensor *a, float s);      /* a*s */
tn_tensor *tn_add_scalar(tn_graph *g, tn_tensor *a, float s); /* a+s */
tn_tensor *tn_neg(tn_graph *g, tn_tensor *a);
tn_tensor *tn_exp(tn_graph *g, tn_tensor *a);
tn_tensor *tn_log(tn_graph *g, tn_tensor *a);
tn_tensor *tn_sqrt(tn_graph *g, tn_tensor *a);
tn_tensor *tn_square(tn_graph *g, tn_tensor *a);
tn_tensor *tn_abs(tn_graph *g, tn_tensor *a);             /* d|a|/da = 0 at 0 */
tn_tensor *tn_pow(tn_graph *g, tn_tensor *a, float p);    /* a^p */

/* Activations, element-wise; softmax/log_softmax over the last dim. */
tn_tensor *tn_relu(tn_graph *g, tn_tensor *a);
tn_tensor *tn_leaky_relu(tn_graph *g, tn_tensor *a, float slope);
tn_tensor *tn_sigmoid(tn_graph *g, tn_tensor *a);
tn_tensor *tn_tanh(tn_graph *g, tn_tensor *a);
tn_tensor *tn_gelu(tn_graph *g, tn_tensor *a); /* exact, erf form */
tn_tensor *tn_softmax(tn_graph *g, tn_tensor *a);
tn_tensor *tn_log_softmax(tn_graph *g, tn_tensor *a);

/* Linear algebra through cblas_sgemm (transposes are flags, not copies).
 * matmul: a (M, K) or (K, M) if trans_a; b (K, N) or (N, K) if trans_b.
 * linear: x (N, in), w (out, in), b (out) or NULL -> (N, out). */
tn_tensor *tn_matmul(tn_graph *g, tn_tensor *a, tn_tensor *b, bool trans_a, bool trans_b);
tn_tensor *tn_linear(tn_graph *g, tn_tensor *x, tn_tensor *w, tn_tensor *b);

/* Reductions: to a 0-dim tensor, or along `axis` (removed from the shape). */
tn_tensor *tn_sum(tn_graph *g, tn_tensor *a);
tn_tensor *tn_mean(tn_graph *g, tn_tensor *a);
tn_tensor *tn_sum_axis(tn_graph *g, tn_tensor *a, int axis);
tn_tensor *tn_mean_axis(tn_graph *g, tn_tensor *a, int axis);
tn_tensor *tn_sum_squares(tn_graph *g, tn_tensor *a); /* sum a^2: the L2 penalty */
tn_tensor *tn_sum_abs(tn_graph *g, tn_tensor *a);     /* sum |a|: the L1 penalty */

/* Shapes.  reshape/flatten are views (no copy).  A -1 in reshape is inferred.
 * flatten: (N, ...) -> (N, rest).  concat along `axis`, n <= TN_MAX_INPUTS. */
tn_tensor *tn_reshape(tn_graph *g, tn_tensor *a, int ndim, const int *shape);
tn_tensor *tn_flatten(tn_graph *g, tn_tensor *a);
tn_tensor *tn_transpose(tn_graph *g, tn_tensor *a, int dim0, int dim1);
tn_tensor *tn_permute(tn_graph *g, tn_tensor *a, const int *perm); /* perm: a->ndim */
tn_tensor *tn_concat(tn_graph *g, int n, tn_tensor *const *ts, int axis);

/* Convolution and pooling, x (N, C, H, W).
 * conv2d: w (O, C, KH, KW), b (O) or NULL -> (N, O, OH, OW), im2col + sgemm.
 * pools: PyTorch's semantics (avg counts the zero padding, as by default).
 * global_avg_pool: (N, C, H, W) -> (N, C). */
tn_tensor *tn_conv2d(tn_graph *g, tn_tensor *x, tn_tensor *w, tn_tensor *b, int stride,
                     int padding, int dilation);
/* relu(conv2d(x, w, b) + r), r (the output's shape) or NULL, in one output
 * pass (per image while it is in cache on the direct path): the eval-mode
 * form of conv + batch norm (folded into w and b) + residual + relu. */
tn_tensor *tn_conv2d_relu(tn_graph *g, tn_tensor *x, tn_tensor *w, tn_tensor *b, tn_tensor *r,
                          int stride, int padding);
tn_tensor *tn_max_pool2d(tn_graph *g, tn_tensor *x, int kernel, int stride, int padding);
tn_tensor *tn_avg_pool2d(tn_graph *g, tn_tensor *x, int kernel, int stride, int padding);
tn_tensor *tn_global_avg_pool(tn_graph *g, tn_tensor *x);

/* Batch norm over (N, C), (N, C, L) or (N, C, H, W) with PyTorch's semantics
 * (BatchNorm1d and BatchNorm2d; statistics per channel C): in train
 * mode it normalises by the batch mean and biased variance and updates
 * running_mean/running_var (unbiased) with `momentum` (0.1); in eval mode it
 * uses the running statistics.  gamma, beta (C) or NULL (affine off);
 * running_mean, running_var (C) buffers, may be NULL in train mode. */
tn_tensor *tn_batch_norm(tn_graph *g, tn_tensor *x, tn_tensor *gamma, tn_tensor *beta,
                         tn_tensor *running_mean, tn_tensor *running_var, float momentum,
                         float eps);

/* relu(batch_norm(x) + residual) as one op (one output, one pass each way):
 * the arguments and semantics of tn_batch_norm; residual like x, or NULL;
 * the gradient at the kink is 0 as tn_relu's.  A ResNet block's
 * relu(bn(conv(x))) and relu(bn(conv(y)) + shortcut). */
tn_tensor *tn_batch_norm_relu(tn_graph *g, tn_tensor *x, tn_tensor *gamma, tn_tensor *beta,
                              tn_tensor *running_mean, tn_tensor *running_var, float momentum,
                              float eps, tn_tensor *residual);

/* Group norm (torch.nn.GroupNorm): x (N, C, *) in `groups` groups of C /
 * groups channels, each (n, group) normalised by its own mean and biased
 * variance, the same in train and eval mode; gamma, beta (C) or NULL.
 * groups = C is instance norm (InstanceNorm2d(affine=True) with gamma, beta
 * given), groups = 1 normalises each sample over (C, *) with a per-channel
 * affine. */
tn_tensor *tn_group_norm(tn_graph *g, tn_tensor *x, int groups, tn_tensor *gamma, tn_tensor *beta,
                         float eps);

/* Layer norm (torch.nn.LayerNorm): x (..., D1..Dk) normalised over its last
 * k = norm_ndim dims; gamma, beta (D1..Dk) element-wise, or NULL. */
tn_tensor *tn_layer_norm(tn_graph *g, tn_tensor *x, int norm_ndim, tn_tensor *gamma,
                         tn_tensor *beta, float eps);

/* Inverted dropout with probability p in train mode; identity in eval. */
tn_tensor *tn_dropout(tn_graph *g, tn_tensor *x, float p, tn_rng *rng);

/* Losses, each a 0-dim mean over the batch.
 * cross_entropy: logits (N, K), labels[N] in [0, K), label smoothing in [0, 1).
 * cross_entropy_soft: logits (N, K), target probabilities (N, K) (mixup).
 * nll: log-probabilities (N, K), labels[N].  mse: mean (a-b)^2 over all. */
tn_tensor *tn_cross_entropy(tn_graph *g, tn_tensor *logits, const int32_t *labels,
                            float smoothing);
tn_tensor *tn_cross_entropy_soft(tn_graph *g, tn_tensor *logits, tn_tensor *targets);
tn_tensor *tn_nll_loss(tn_graph *g, tn_tensor *logp, const int32_t *labels);
tn_tensor *tn_mse_loss(tn_graph *g, tn_tensor *a, tn_tensor *b);

#ifdef __cplusplus
}
#endif
#endif
