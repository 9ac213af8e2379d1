/* nn/nn.h - layers, initialisers, a sequential container, CIFAR ResNets and
 * checkpoints, built from the ops of tensor/tensor.h.
 *
 * A layer is a small struct of parameter views (tn_tensor pointers into a
 * tn_params store) with an _init and a _forward:
 *
 *     tn_nn_conv2d conv;                 // weight (16, 3, 3, 3)
 *     tn_nn_conv2d_init(&conv, ps, "conv1", 3, 16, 3, 1, 1, false, rng);
 *     tn_tensor *y = tn_nn_conv2d_forward(g, &conv, x);
 *
 * Parameter names are PyTorch's state_dict names (`<name>.weight`,
 * `<name>.bias`, `<name>.running_mean`, ...), so a tenet checkpoint loads
 * into the equivalent PyTorch module and back (scripts/safetensors_to_torch.py).
 * Biases, batch-norm gamma/beta and other parameters of fewer than 2 dims get
 * TN_NO_DECAY from the store (group and layer norm scales and shifts are
 * TN_NO_DECAY whatever their shape); running statistics are TN_BUFFER.
 *
 * num_batches_tracked: PyTorch's batch norm keeps an int64 counter that only
 * matters when momentum=None (cumulative averaging).  tenet's batch norm uses
 * a fixed momentum, so the store has no such tensor and tenet checkpoints do
 * not contain it; loading ignores tensors the store does not have (so a file
 * written from a PyTorch state_dict with tests/safetensors_io.py, where the
 * counter becomes an F32 scalar, loads), and the PyTorch side loads tenet
 * files with strict=False or sets the counters to zero.
 *
 * Every layer struct starts with a tn_nn_layer, so any layer (the library's
 * or a user's) can be chained in a tn_nn_seq; the plain _forward calls are
 * the same code without the indirection.
 *
 * Train/eval mode (batch norm, dropout) is the graph's flag:
 * tn_graph_set_training(). */
#ifndef TENET_NN_H
#define TENET_NN_H

#include "../tensor/safetensors.h"
#include "../tensor/tensor.h"

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Longest parameter name the builders produce (prefix + suffix). */
#define TN_NN_NAME_MAX 256

/* ----------------------------------------------------------- initialisers
 * All draw from an explicit tn_rng: the same seed gives the same model.
 * Fans follow PyTorch: w (out, in) -> fan_in = in, fan_out = out;
 * w (O, C, KH, KW) -> fan_in = C*KH*KW, fan_out = O*KH*KW; a (C) tensor has
 * fan_in = fan_out = C. */

void tn_nn_fans(const tn_tensor *w, int *fan_in, int *fan_out);
/* Gain of an activation for Kaiming init: relu sqrt(2), leaky_relu with
 * slope a sqrt(2 / (1 + a^2)), linear/identity 1. */
float tn_nn_gain_leaky_relu(float a);

void tn_nn_init_zeros(tn_tensor *t);
void tn_nn_init_ones(tn_tensor *t);
void tn_nn_init_constant(tn_tensor *t, float value);
void tn_nn_init_uniform(tn_tensor *t, float lo, float hi, tn_rng *rng);
void tn_nn_init_normal(tn_tensor *t, float mean, float std, tn_rng *rng);
/* U(-b, b), b = gain * sqrt(3 / fan) with gain = sqrt(2 / (1 + a^2)).
 * a = sqrt(5) with fan_in is PyTorch's default for Linear and Conv2d
 * weights, which works out to b = 1 / sqrt(fan_in). */
void tn_nn_init_kaiming_uniform(tn_tensor *w, float a, bool fan_out, tn_rng *rng);
/* N(0, std^2), std = gain / sqrt(fan), gain = sqrt(2 / (1 + a^2)); a = 0
 * and fan_out is the ResNet papers' (and torchvision's) conv init. */
void tn_nn_init_kaiming_normal(tn_tensor *w, float a, bool fan_out, tn_rng *rng);
/* U(-b, b), b = gain * sqrt(6 / (fan_in + fan_out)). */
void tn_nn_init_xavier_uniform(tn_tensor *w, float gain, tn_rng *rng);
/* N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out)). */
void tn_nn_init_xavier_normal(tn_tensor *w, float gain, tn_rng *rng);
/* PyTorch's default for a Linear/Conv2d: weight kaiming_uniform(a = sqrt(5)),
 * bias (may be NULL) U(-1/sqrt(fan_in), 1/sqrt(fan_in)). */
void tn_nn_init_torch_default(tn_tensor *w, tn_tensor *b, tn_rng *rng);

/* How a builder initialises its conv and linear weights. */
typedef enum tn_nn_init_kind {
    TN_NN_INIT_TORCH_DEFAULT = 0,   /* kaiming_uniform(a=sqrt(5)), bias +-1/sqrt(fan_in) */
    TN_NN_INIT_KAIMING_NORMAL_FAN_OUT, /* N(0, 2/fan_out), bias 0 (He et al.) */
    TN_NN_INIT_KAIMING_NORMAL_FAN_IN,  /* N(0, 2/fan_in), bias 0 */
    TN_NN_INIT_XAVIER_UNIFORM,      /* bias 0 */
    TN_NN_INIT_XAVIER_NORMAL,       /* bias 0 */
} tn_nn_init_kind;

/* Initialise a weight (and bias, may be NULL) with one of the schemes. */
void tn_nn_init_apply(tn_nn_init_kind kind, tn_tensor *w, tn_tensor *b, tn_rng *rng);

/* ----------------------------------------------------------------- layers */

typedef struct tn_nn_layer tn_nn_layer;

/* The head of every layer struct. */
struct tn_nn_layer {
    const char *kind; /* "conv2d", "relu", ... (for printing) */
    /* x -> y; `self` is the layer struct (its first member is this head). */
    tn_tensor *(*forward)(tn_graph *g, tn_nn_layer *self, tn_tensor *x);
    /* Frees what the layer allocated (not the struct); NULL if nothing. */
    void (*destroy)(tn_nn_layer *self);
};

/* Parameter-adding calls return TN_OK, or TN_ERR_NOMEM / TN_ERR_ARG (a name
 * longer than TN_NN_NAME_MAX) with a message; nothing else can go wrong. */

/* Linear: x (N, in) -> (N, out).  weight (out, in), bias (out). */
typedef struct tn_nn_linear {
    tn_nn_layer base;
    tn_tensor *weight, *bias; /* bias NULL when disabled */
    int in, out;
} tn_nn_linear;
tn_status tn_nn_linear_init(tn_nn_linear *l, tn_params *ps, const char *name, int in, int out,
                            bool bias, tn_rng *rng);
tn_tensor *tn_nn_linear_forward(tn_graph *g, const tn_nn_linear *l, tn_tensor *x);

/* Conv2d: x (N, C, H, W) -> (N, O, OH, OW).  weight (O, C, K, K), bias (O). */
typedef struct tn_nn_conv2d {
    tn_nn_layer base;
    tn_tensor *weight, *bias; /* bias NULL when disabled */
    int in, out, kernel, stride, padding, dilation;
} tn_nn_conv2d;
tn_status tn_nn_conv2d_init(tn_nn_conv2d *c, tn_params *ps, const char *name, int in, int out,
                            int kernel, int stride, int padding, bool bias, tn_rng *rng);
tn_tensor *tn_nn_conv2d_forward(tn_graph *g, const tn_nn_conv2d *c, tn_tensor *x);

/* Batch norm over (N, C) or (N, C, L) (BatchNorm1d) or (N, C, H, W) (BatchNorm2d):
 * weight/bias (C) = gamma/beta (1 and 0; NULL when not affine),
 * running_mean/running_var (C) buffers (0 and 1).  momentum 0.1, eps 1e-5
 * as PyTorch; change the fields after init if needed. */
typedef struct tn_nn_batch_norm {
    tn_nn_layer base;
    tn_tensor *weight, *bias;
    tn_tensor *running_mean, *running_var;
    int channels;
    float momentum, eps;
} tn_nn_batch_norm;
tn_status tn_nn_batch_norm_init(tn_nn_batch_norm *bn, tn_params *ps, const char *name,
                                int channels, bool affine);
tn_tensor *tn_nn_batch_norm_forward(tn_graph *g, const tn_nn_batch_norm *bn, tn_tensor *x);

/* Group norm over (N, C, *) (torch.nn.GroupNorm(groups, C)): weight/bias (C)
 * (1 and 0; NULL when not affine), no running statistics (the same in train
 * and eval mode).  groups = C is InstanceNorm2d(C, affine=True), groups = 1
 * a layer norm over (C, *) with a per-channel affine.  eps 1e-5. */
typedef struct tn_nn_group_norm {
    tn_nn_layer base;
    tn_tensor *weight, *bias;
    int groups, channels;
    float eps;
} tn_nn_group_norm;
tn_status tn_nn_group_norm_init(tn_nn_group_norm *gn, tn_params *ps, const char *name,
                                int groups, int channels, bool affine);
tn_tensor *tn_nn_group_norm_forward(tn_graph *g, const tn_nn_group_norm *gn, tn_tensor *x);

/* Layer norm over the last ndim dims, of sizes shape[0..ndim) (torch.nn.LayerNorm(shape)):
 * weight/bias of that shape, element-wise (1 and 0; NULL when not affine).
 * eps 1e-5. */
typedef struct tn_nn_layer_norm {
    tn_nn_layer base;
    tn_tensor *weight, *bias;
    int ndim;
    int shape[TN_MAX_DIMS];
    float eps;
} tn_nn_layer_norm;
tn_status tn_nn_layer_norm_init(tn_nn_layer_norm *ln, tn_params *ps, const char *name, int ndim,
                                const int *shape, bool affine);
tn_tensor *tn_nn_layer_norm_forward(tn_graph *g, const tn_nn_layer_norm *ln, tn_tensor *x);

/* Dropout with probability p (train mode only); draws from *rng, which must
 * outlive the layer. */
typedef struct tn_nn_dropout {
    tn_nn_layer base;
    float p;
    tn_rng *rng;
} tn_nn_dropout;
void tn_nn_dropout_init(tn_nn_dropout *d, float p, tn_rng *rng);
tn_tensor *tn_nn_dropout_forward(tn_graph *g, const tn_nn_dropout *d, tn_tensor *x);

/* Element-wise activations (softmax/log_softmax: over the last dim). */
typedef enum tn_nn_act_kind {
    TN_NN_ACT_RELU,
    TN_NN_ACT_LEAKY_RELU, /* slope in `param` */
    TN_NN_ACT_SIGMOID,
    TN_NN_ACT_TANH,
    TN_NN_ACT_GELU,
    TN_NN_ACT_SOFTMAX,
    TN_NN_ACT_LOG_SOFTMAX,
    TN_NN_ACT_IDENTITY,
} tn_nn_act_kind;
typedef struct tn_nn_act {
    tn_nn_layer base;
    tn_nn_act_kind act;
    float param;
} tn_nn_act;
void tn_nn_act_init(tn_nn_act *a, tn_nn_act_kind act, float param);
tn_tensor *tn_nn_act_forward(tn_graph *g, const tn_nn_act *a, tn_tensor *x);
/* The same, as a function of a kind. */
tn_tensor *tn_nn_activate(tn_graph *g, tn_nn_act_kind act, float param, tn_tensor *x);

/* Pooling, x (N, C, H, W): max/avg (kernel, stride, padding) -> (N, C, OH, OW);
 * global average -> (N, C). */
typedef enum tn_nn_pool_kind {
    TN_NN_POOL_MAX,
    TN_NN_POOL_AVG,
    TN_NN_POOL_GLOBAL_AVG,
} tn_nn_pool_kind;
typedef struct tn_nn_pool {
    tn_nn_layer base;
    tn_nn_pool_kind pool;
    int kernel, stride, padding;
} tn_nn_pool;
/* stride 0 means stride = kernel (PyTorch's default). */
void tn_nn_pool_init(tn_nn_pool *p, tn_nn_pool_kind pool, int kernel, int stride, int padding);
tn_tensor *tn_nn_pool_forward(tn_graph *g, const tn_nn_pool *p, tn_tensor *x);

/* Flatten: (N, ...) -> (N, rest), a view. */
typedef struct tn_nn_flatten {
    tn_nn_layer base;
} tn_nn_flatten;
void tn_nn_flatten_init(tn_nn_flatten *f);

/* Run any layer through its head. */
static inline tn_tensor *tn_nn_layer_forward(tn_graph *g, tn_nn_layer *layer, tn_tensor *x)
{
    return layer->forward(g, layer, x);
}

/* ------------------------------------------------------------- sequential
 * An owning list of layers named like PyTorch's nn.Sequential: the i-th
 * layer's parameters are "<prefix>.<i>.weight" (or "<i>.weight" with an
 * empty prefix), and layers without parameters take an index too.
 *
 *     tn_nn_seq *net = tn_nn_seq_new(ps, "", &rng);
 *     tn_nn_seq_conv2d(net, 3, 16, 3, 1, 1, false);   // 0.weight
 *     tn_nn_seq_batch_norm(net, 16);                  // 1.weight, 1.bias, 1.running_*
 *     tn_nn_seq_act(net, TN_NN_ACT_RELU, 0);          // 2
 *     tn_nn_seq_pool(net, TN_NN_POOL_GLOBAL_AVG, 0, 0, 0);
 *     tn_nn_seq_linear(net, 16, 10, true);            // 4.weight, 4.bias
 *     if (tn_nn_seq_status(net) != TN_OK) ...          // one check after building
 *     tn_tensor *logits = tn_nn_seq_forward(g, net, x);
 *
 * Adding functions return the new layer (NULL after an error, which is
 * sticky and reported by tn_nn_seq_status()). */
typedef struct tn_nn_seq tn_nn_seq;

tn_nn_seq *tn_nn_seq_new(tn_params *ps, const char *prefix, tn_rng *rng); /* NULL: no memory */
void tn_nn_seq_free(tn_nn_seq *s);
tn_status tn_nn_seq_status(const tn_nn_seq *s);
size_t tn_nn_seq_len(const tn_nn_seq *s);
tn_nn_layer *tn_nn_seq_at(const tn_nn_seq *s, size_t i);
tn_tensor *tn_nn_seq_forward(tn_graph *g, const tn_nn_seq *s, tn_tensor *x);

/* The name the next layer gets ("<prefix>.<index>"), for user layers that
 * add parameters; the params store and rng of the container. */
const char *tn_nn_seq_next_name(const tn_nn_seq *s);
tn_params *tn_nn_seq_params(const tn_nn_seq *s);
tn_rng *tn_nn_seq_rng(const tn_nn_seq *s);
/* Append a user layer allocated with malloc (its first member a tn_nn_layer);
 * the container takes ownership (destroy, then free).  On error the layer is
 * destroyed and freed too. */
tn_nn_layer *tn_nn_seq_push(tn_nn_seq *s, tn_nn_layer *layer);

tn_nn_linear *tn_nn_seq_linear(tn_nn_seq *s, int in, int out, bool bias);
tn_nn_conv2d *tn_nn_seq_conv2d(tn_nn_seq *s, int in, int out, int kernel, int stride, int padding,
                               bool bias);
tn_nn_batch_norm *tn_nn_seq_batch_norm(tn_nn_seq *s, int channels);
tn_nn_dropout *tn_nn_seq_dropout(tn_nn_seq *s, float p);
tn_nn_act *tn_nn_seq_act(tn_nn_seq *s, tn_nn_act_kind act, float param);
tn_nn_pool *tn_nn_seq_pool(tn_nn_seq *s, tn_nn_pool_kind pool, int kernel, int stride,
                           int padding);
tn_nn_flatten *tn_nn_seq_flatten(tn_nn_seq *s);

/* ------------------------------------------------------------ CIFAR ResNets
 * He et al. 2016, "Deep Residual Learning for Image Recognition", section
 * 4.2: depth 6n+2 (20, 32, 44, 56, 110, ...), a 3x3 stem of `width` filters,
 * three stages of n basic blocks with width, 2 width, 4 width channels
 * (the second and third start with stride 2), global average pooling and a
 * linear classifier.  Names follow the common PyTorch CIFAR implementation
 * (tests/nn/torch_resnet.py): conv1, bn1, layer{1,2,3}.{i}.conv1/bn1/conv2/
 * bn2, layer{2,3}.0.shortcut.0 (conv) / .shortcut.1 (bn), linear.
 *
 * Variants:
 *   TN_RESNET_BN      the original (post-activation) block:
 *                     relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)).
 *   TN_RESNET_PREACT  He et al. 2016b, "Identity Mappings in Deep Residual
 *                     Networks": conv2(relu(bn2(conv1(relu(bn1(x)))))) +
 *                     shortcut, then a final bn_final + relu before pooling;
 *                     option B projects relu(bn1(x)) with a 1x1 conv (no BN).
 *   TN_RESNET_NO_BN   no normalisation (Fixup / SkipInit style, Zhang et al.
 *                     2019, De & Smith 2020): convs with biases, each block's
 *                     residual branch ends in a learnable scalar `scale`
 *                     (init 1), conv2 of every block starts at zero and conv1
 *                     is scaled by L^(-1/2) (L = number of blocks), and the
 *                     classifier starts at zero; the network starts as the
 *                     identity-shortcut path and the residual branches grow
 *                     in, so the signal's variance does not explode with
 *                     depth.  option B's projection is a 1x1 conv with bias.
 *   TN_RESNET_GN      TN_RESNET_BN with group norm (Wu & He 2018) in place of
 *                     every batch norm: gn_group_channels channels a group
 *                     (default 16: groups = C / 16, at least 1, lowered to a
 *                     divisor of C), under the batch norms' names (bn1.weight,
 *                     bn1.bias, ...; no running statistics).
 *   TN_RESNET_LN      the same with one group: layer norm over (C, H, W) of
 *                     each sample with a per-channel scale and shift
 *                     (torch.nn.GroupNorm(1, C)).
 *
 * Shortcuts when the shape changes (stride 2, channels doubled):
 *   TN_RESNET_SHORTCUT_A  identity on x[:, :, ::2, ::2] with the channels
 *                         zero-padded (planes/4 on each side), no parameters;
 *   TN_RESNET_SHORTCUT_B  1x1 conv (stride 2) + BN projection. */
typedef enum tn_resnet_variant {
    TN_RESNET_BN = 0,
    TN_RESNET_PREACT,
    TN_RESNET_NO_BN,
    TN_RESNET_GN,
    TN_RESNET_LN,
} tn_resnet_variant;

typedef enum tn_resnet_shortcut {
    TN_RESNET_SHORTCUT_A = 0,
    TN_RESNET_SHORTCUT_B,
} tn_resnet_shortcut;

typedef struct tn_resnet_config {
    int depth;                   /* 6n + 2, n >= 1 */
    int num_classes;             /* > 0; 0 means 10 */
    int width;                   /* stem/first-stage channels; 0 means 16 (even for A) */
    int in_channels;             /* 0 means 3 */
    tn_resnet_variant variant;
    tn_resnet_shortcut shortcut;
    tn_nn_init_kind init;        /* convs (the classifier keeps PyTorch's Linear default,
                                    as torchvision's ResNets; NO_BN zero-inits it) */
    bool zero_init_residual;     /* BN variants: gamma of each block's last BN = 0 */
    float dropout;               /* > 0: dropout on the pooled features, train mode only */
    tn_rng *dropout_rng;         /* its random stream (required with dropout) */
    int gn_group_channels;       /* GN variant: channels a group; 0 means 16 */
} tn_resnet_config;

typedef struct tn_resnet_block {
    int in_planes, planes, stride;
    bool project;                 /* shape changes: a shortcut A or B */
    tn_nn_conv2d conv1, conv2;
    tn_nn_batch_norm bn1, bn2;    /* BN and PREACT */
    tn_nn_conv2d shortcut_conv;   /* option B */
    tn_nn_batch_norm shortcut_bn; /* option B, BN variant */
    tn_tensor *scale;             /* NO_BN: (1) */
    tn_nn_group_norm gn1, gn2, shortcut_gn; /* GN and LN, named bn1, bn2, shortcut.1 */
} tn_resnet_block;

typedef struct tn_resnet {
    tn_resnet_config cfg;
    int blocks_per_stage;
    tn_nn_conv2d conv1;
    tn_nn_batch_norm bn1;         /* BN variant */
    tn_nn_batch_norm bn_final;    /* PREACT */
    tn_nn_group_norm gn1;         /* GN and LN, named bn1 */
    int n_blocks;
    tn_resnet_block *blocks;      /* 3 * blocks_per_stage */
    tn_nn_linear linear;
} tn_resnet;

/* Build into ps (names as above); TN_ERR_ARG for a bad configuration.  A
 * build that fails part way (out of memory) leaves the tensors it had added
 * in ps: build into a fresh store. */
tn_status tn_resnet_new(tn_resnet **out, tn_params *ps, const tn_resnet_config *cfg,
                        tn_rng *rng);
void tn_resnet_free(tn_resnet *net);
/* x (N, in_channels, H, W) -> logits (N, num_classes). */
tn_tensor *tn_resnet_forward(tn_graph *g, const tn_resnet *net, tn_tensor *x);

/* ------------------------------------------------- batch-parallel inference
 * Many images through a model's eval-mode forward (no gradients), each
 * thread taking whole chunks of `chunk` images through the whole network on
 * a graph of its own: a chunk's activations stay in its core's cache from
 * layer to layer and no op waits for the other threads, where one graph
 * runs every op over the whole batch on all threads.  The outputs are the
 * forward's (N, k) rows, in order, as one forward over the batch gives
 * them up to rounding in the last bits (an sgemm that spans several images,
 * as a 1x1 convolution's does, may round them otherwise). */
typedef tn_tensor *(*tn_nn_forward_fn)(tn_graph *g, const void *model, tn_tensor *x);
typedef struct tn_nn_infer tn_nn_infer;
tn_nn_infer *tn_nn_infer_new(tn_nn_forward_fn forward, const void *model, int chunk);
/* x: n images (c, h, w); out: n rows of k.  On tn_threads() threads at most. */
tn_status tn_nn_infer_run(tn_nn_infer *inf, const float *x, int n, int c, int h, int w,
                          float *out, int k);
void tn_nn_infer_free(tn_nn_infer *inf);
/* tn_resnet_forward as a tn_nn_forward_fn (model: a tn_resnet). */
tn_tensor *tn_resnet_forward_fn(tn_graph *g, const void *net, tn_tensor *x);

/* Describe the architecture in a checkpoint's metadata ("tenet.arch" =
 * "cifar_resnet", "resnet.depth", "resnet.variant" = bn | preact | nobn | gn
 * | ln, "resnet.shortcut" = A | B, "resnet.width", "resnet.num_classes",
 * "resnet.in_channels", and for gn "resnet.gn_group_channels", optional on
 * reading: 16), and read it back (TN_ERR_FORMAT naming the key when
 * absent or malformed; init and zero_init_residual are not stored).
 * scripts/safetensors_to_torch.py builds the PyTorch twin from these keys. */
tn_status tn_resnet_meta_write(tn_st_writer *w, const tn_resnet_config *cfg);
tn_status tn_resnet_meta_read(const tn_st_file *f, tn_resnet_config *cfg);

/* The option-A shortcut as an op: x (N, C, H, W) -> (N, C + 2 pad,
 * ceil(H / stride), ceil(W / stride)), x[:, :, ::stride, ::stride] with `pad`
 * zero channels before and after. */
tn_tensor *tn_nn_shortcut_a(tn_graph *g, tn_tensor *x, int stride, int pad);

/* ----------------------------------------------------------- training aids
 * Gradient accumulation: K micro-batches of about B/K samples, summed into
 * the store's gradients before one optimizer step, give the gradient of the
 * whole batch in the memory of a micro-batch.  The store's gradients are
 * added to by every backward, so:
 *
 *     tn_params_zero_grad(ps);
 *     for (int i = 0; i < k; i++) {
 *         int start, m = tn_nn_micro_batch(n, k, i, &start);   // samples [start, start + m)
 *         tn_graph_reset(g);
 *         tn_tensor *loss = <mean loss of those m samples>;
 *         if (i == 0) loss = tn_add(g, loss, tn_optim_penalty(opt, g)); // once a step
 *         tn_backward(g, tn_scale(g, loss, (float)m / n));     // its share of the mean
 *     }
 *     tn_optim_step(opt, lr);
 *
 * The gradient equals the full batch's to float rounding (the sums run in
 * another order) for a model whose samples do not interact.  Batch norm
 * normalises each micro-batch by its own statistics (over B/K samples, not
 * B) and updates its running statistics K times a step (momentum applied K
 * times): a different, noisier model; group and layer norm do not depend on
 * the batch. */

/* Micro-batch i of k of n samples: its size, *start its first sample (the
 * first n % k parts hold one sample more; parts may be empty when n < k). */
int tn_nn_micro_batch(int n, int k, int i, int *start);

/* Weight noise: Gaussian noise added to the weights for the forward and
 * backward passes of a step, taken out before the update, so the optimizer
 * applies the gradient at w + e to the clean weights w:
 *
 *     tn_nn_weight_noise_perturb(&wn, ps);   // w <- w + e, w saved
 *     ... forward, backward (all micro-batches) ...
 *     tn_nn_weight_noise_restore(&wn, ps);   // w back; gradients kept
 *     tn_optim_step(opt, lr);
 *
 * The noise of a tensor has std `std` times that tensor's RMS at the time
 * (relative: the same S suits every layer's scale; a tensor at zero takes
 * none) and is drawn for the TN_PARAM tensors that decay (conv and linear
 * weights; not biases or norm scales and shifts); one draw a step.  The rng
 * (seeded by tn_nn_weight_noise_init) is the only state to checkpoint. */
typedef struct tn_nn_weight_noise {
    float std;        /* relative to each tensor's RMS; 0: off */
    tn_rng rng;
    float *clean;     /* the store's values before the perturbation */
    size_t n;
    bool perturbed;
} tn_nn_weight_noise;
void tn_nn_weight_noise_init(tn_nn_weight_noise *wn, float std, uint64_t seed);
/* TN_ERR_NOMEM (weights unchanged) if the copy cannot be allocated. */
tn_status tn_nn_weight_noise_perturb(tn_nn_weight_noise *wn, tn_params *ps);
void tn_nn_weight_noise_restore(tn_nn_weight_noise *wn, tn_params *ps); /* no-op if not perturbed */
void tn_nn_weight_noise_free(tn_nn_weight_noise *wn);

/* Sharpness.  A loss over fixed data at the store's current values, into
 * *loss; with `grad`, its gradient added to the store's gradients too
 * (they are zeroed before each such call).  An error stops the measure. */
typedef tn_status (*tn_nn_loss_fn)(void *ctx, tn_params *ps, bool grad, double *loss);

typedef struct tn_nn_sharpness_result {
    double loss;      /* f(w) */
    double loss_max;  /* the largest f(w + delta) found */
    double sharpness; /* 100 (loss_max - loss) / (1 + loss) */
} tn_nn_sharpness_result;

/* Keskar et al.'s epsilon-sharpness: the largest loss increase within the
 * box |delta_i| <= eps (|w_i| + 1) around the TN_PARAM values, found by
 * `steps` steps of projected sign-gradient ascent from delta = 0 (each a
 * step of 2 / steps of the box's half-width, then clipped to the box), a
 * lower bound of the true maximum.  The store is restored to its values
 * before the call (parameters and buffers) on return. */
tn_status tn_nn_sharpness(tn_params *ps, double eps, int steps, tn_nn_loss_fn loss, void *ctx,
                          tn_nn_sharpness_result *out);

/* A random direction (tn_params_size floats into dir) normalised filter by
 * filter (Li et al. 2018): Gaussian, each filter (first-dim slice) of a
 * parameter of >= 2 dims scaled to the norm of the weights' filter; zero
 * for parameters of fewer dims (biases, norm scales and shifts) and for
 * buffers.  The loss along it is f(w + alpha dir). */
void tn_nn_filter_normalized_direction(const tn_params *ps, tn_rng *rng, float *dir);

/* ------------------------------------------------------------- checkpoints
 * A model's store (parameters and buffers) as one safetensors file, with
 * optional metadata pairs (keys[i], values[i]), written atomically: a file
 * of its own around tn_st_add_params() / tn_st_load_params().  Loading
 * requires every tensor of the store, with its shape, and every tensor of
 * the file to be in the store unless its name starts with extra_prefix
 * ("optim." to load the model of a training checkpoint, NULL for none);
 * it loads nothing otherwise. */
tn_status tn_nn_save(const tn_params *ps, const char *path, int n_meta, const char *const *keys,
                     const char *const *values);
tn_status tn_nn_load(tn_params *ps, const char *path, const char *extra_prefix);

#ifdef __cplusplus
}
#endif
#endif
