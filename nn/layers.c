/* nn/layers.c - initialisers, the basic layers and the sequential
 * container.  Layers are functions over tensor ops; none adds an op. */
#include "nn.h"
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ----------------------------------------------------------- initialisers */

void tn_nn_fans(const tn_tensor *w, int *fan_in, int *fan_out)
{
    if (w->ndim < 1) tn_misuse("tn_nn_fans", "'%s' has no dims", w->name ? w->name : "tensor");
    if (w->ndim == 1) {
        *fan_in = *fan_out = w->shape[0];
        return;
    }
    int field = 1;
    for (int i = 2; i < w->ndim; i++) field *= w->shape[i];
    *fan_in = w->shape[1] * field;
    *fan_out = w->shape[0] * field;
}

float tn_nn_gain_leaky_relu(float a) { return sqrtf(2.0f / (1.0f + a * a)); }

void tn_nn_init_constant(tn_tensor *t, float value)
{
    for (size_t i = 0; i < t->numel; i++) t->data[i] = value;
}
void tn_nn_init_zeros(tn_tensor *t) { tn_nn_init_constant(t, 0.0f); }
void tn_nn_init_ones(tn_tensor *t) { tn_nn_init_constant(t, 1.0f); }

void tn_nn_init_uniform(tn_tensor *t, float lo, float hi, tn_rng *rng)
{
    tn_fill_uniform(t->data, t->numel, lo, hi, rng);
}

void tn_nn_init_normal(tn_tensor *t, float mean, float std, tn_rng *rng)
{
    tn_fill_normal(t->data, t->numel, mean, std, rng);
}

void tn_nn_init_kaiming_uniform(tn_tensor *w, float a, bool fan_out, tn_rng *rng)
{
    int fi, fo;
    tn_nn_fans(w, &fi, &fo);
    double gain = sqrt(2.0 / (1.0 + (double)a * a));
    float b = (float)(gain * sqrt(3.0 / (fan_out ? fo : fi)));
    tn_fill_uniform(w->data, w->numel, -b, b, rng);
}

void tn_nn_init_kaiming_normal(tn_tensor *w, float a, bool fan_out, tn_rng *rng)
{
    int fi, fo;
    tn_nn_fans(w, &fi, &fo);
    double gain = sqrt(2.0 / (1.0 + (double)a * a));
    tn_fill_normal(w->data, w->numel, 0.0f, (float)(gain / sqrt(fan_out ? fo : fi)), rng);
}

void tn_nn_init_xavier_uniform(tn_tensor *w, float gain, tn_rng *rng)
{
    int fi, fo;
    tn_nn_fans(w, &fi, &fo);
    float b = (float)(gain * sqrt(6.0 / (fi + fo)));
    tn_fill_uniform(w->data, w->numel, -b, b, rng);
}

void tn_nn_init_xavier_normal(tn_tensor *w, float gain, tn_rng *rng)
{
    int fi, fo;
    tn_nn_fans(w, &fi, &fo);
    tn_fill_normal(w->data, w->numel, 0.0f, (float)(gain * sqrt(2.0 / (fi + fo))), rng);
}

void tn_nn_init_torch_default(tn_tensor *w, tn_tensor *b, tn_rng *rng)
{
    tn_nn_init_kaiming_uniform(w, sqrtf(5.0f), false, rng);
    if (b) {
        int fi, fo;
        tn_nn_fans(w, &fi, &fo);
        float bound = (float)(1.0 / sqrt(fi));
        tn_nn_init_uniform(b, -bound, bound, rng);
    }
}

void tn_nn_init_apply(tn_nn_init_kind kind, tn_tensor *w, tn_tensor *b, tn_rng *rng)
{
    switch (kind) {
    case TN_NN_INIT_TORCH_DEFAULT: tn_nn_init_torch_default(w, b, rng); return;
    case TN_NN_INIT_KAIMING_NORMAL_FAN_OUT: tn_nn_init_kaiming_normal(w, 0.0f, true, rng); break;
    case TN_NN_INIT_KAIMING_NORMAL_FAN_IN: tn_nn_init_kaiming_normal(w, 0.0f, false, rng); break;
    case TN_NN_INIT_XAVIER_UNIFORM: tn_nn_init_xavier_uniform(w, 1.0f, rng); break;
    case TN_NN_INIT_XAVIER_NORMAL: tn_nn_init_xavier_normal(w, 1.0f, rng); break;
    default: tn_misuse("tn_nn_init_apply", "unknown init kind %d", (int)kind);
    }
    if (b) tn_nn_init_zeros(b);
}

/* ----------------------------------------------------------------- names */

tn_status tn_nn_name(char *buf, const char *prefix, const char *suffix)
{
    int n = (prefix && *prefix) ? snprintf(buf, TN_NN_NAME_MAX, "%s.%s", prefix, suffix)
                                : snprintf(buf, TN_NN_NAME_MAX, "%s", suffix);
    if (n < 0 || n >= TN_NN_NAME_MAX)
        return tn_error_set(TN_ERR_ARG, "tenet: parameter name '%.100s.%.100s' is longer than %d",
                            prefix ? prefix : "", suffix, TN_NN_NAME_MAX - 1);
    return TN_OK;
}

tn_status tn_nn_param(tn_params *ps, const char *prefix, const char *suffix, int ndim,
                      const int *shape, unsigned flags, tn_tensor **out)
{
    char name[TN_NN_NAME_MAX];
    *out = NULL;
    tn_status st = tn_nn_name(name, prefix, suffix);
    if (st != TN_OK) return st;
    if (tn_params_find(ps, name))
        return tn_error_set(TN_ERR_ARG, "tenet: parameter '%s' is already in the store", name);
    *out = tn_params_add(ps, name, ndim, shape, flags);
    return *out ? TN_OK : TN_ERR_NOMEM;
}

/* ----------------------------------------------------------------- layers */

static tn_tensor *linear_fwd(tn_graph *g, tn_nn_layer *self, tn_tensor *x)
{
    return tn_nn_linear_forward(g, (tn_nn_linear *)self, x);
}

tn_status tn_nn_linear_init(tn_nn_linear *l, tn_params *ps, const char *name, int in, int out,
                            bool bias, tn_rng *rng)
{
    if (in <= 0 || out <= 0) tn_misuse("tn_nn_linear_init", "'%s': in %d and out %d must be > 0", name, in, out);
    memset(l, 0, sizeof *l);
    l->base = (tn_nn_layer){.kind = "linear", .forward = linear_fwd};
    l->in = in;
    l->out = out;
    tn_status st = tn_nn_param(ps, name, "weight", TN_SHAPE(out, in), TN_PARAM, &l->weight);
    if (st == TN_OK && bias) st = tn_nn_param(ps, name, "bias", TN_SHAPE(out), TN_PARAM, &l->bias);
    if (st != TN_OK) return st;
    tn_nn_init_torch_default(l->weight, l->bias, rng);
    return TN_OK;
}

tn_tensor *tn_nn_linear_forward(tn_graph *g, const tn_nn_linear *l, tn_tensor *x)
{
    return tn_linear(g, x, l->weight, l->bias);
}

static tn_tensor *conv_fwd(tn_graph *g, tn_nn_layer *self, tn_tensor *x)
{
    return tn_nn_conv2d_forward(g, (tn_nn_conv2d *)self, x);
}

tn_status tn_nn_conv2d_init(tn_nn_conv2d *c, tn_params *ps, const char *name, int in, int out,
                            int kernel, int stride, int padding, bool bias, tn_rng *rng)
{
    if (in <= 0 || out <= 0 || kernel <= 0 || stride <= 0 || padding < 0)
        tn_misuse("tn_nn_conv2d_init", "'%s': in %d, out %d, kernel %d, stride %d, padding %d",
                  name, in, out, kernel, stride, padding);
    memset(c, 0, sizeof *c);
    c->base = (tn_nn_layer){.kind = "conv2d", .forward = conv_fwd};
    c->in = in;
    c->out = out;
    c->kernel = kernel;
    c->stride = stride;
    c->padding = padding;
    c->dilation = 1;
    tn_status st =
        tn_nn_param(ps, name, "weight", TN_SHAPE(out, in, kernel, kernel), TN_PARAM, &c->weight);
    if (st == TN_OK && bias) st = tn_nn_param(ps, name, "bias", TN_SHAPE(out), TN_PARAM, &c->bias);
    if (st != TN_OK) return st;
    tn_nn_init_torch_default(c->weight, c->bias, rng);
    return TN_OK;
}

tn_tensor *tn_nn_conv2d_forward(tn_graph *g, const tn_nn_conv2d *c, tn_tensor *x)
{
    return tn_conv2d(g, x, c->weight, c->bias, c->stride, c->padding, c->dilation);
}

static tn_tensor *bn_fwd(tn_graph *g, tn_nn_layer *self, tn_tensor *x)
{
    return tn_nn_batch_norm_forward(g, (tn_nn_batch_norm *)self, x);
}

tn_status tn_nn_batch_norm_init(tn_nn_batch_norm *bn, tn_params *ps, const char *name,
                                int channels, bool affine)
{
    if (channels <= 0) tn_misuse("tn_nn_batch_norm_init", "'%s': channels %d", name, channels);
    memset(bn, 0, sizeof *bn);
    bn->base = (tn_nn_layer){.kind = "batch_norm", .forward = bn_fwd};
    bn->channels = channels;
    bn->momentum = 0.1f;
    bn->eps = 1e-5f;
    tn_status st = TN_OK;
    if (affine) {
        st = tn_nn_param(ps, name, "weight", TN_SHAPE(channels), TN_PARAM, &bn->weight);
        if (st == TN_OK) st = tn_nn_param(ps, name, "bias", TN_SHAPE(channels), TN_PARAM, &bn->bias);
    }
    if (st == TN_OK)
        st = tn_nn_param(ps, name, "running_mean", TN_SHAPE(channels), TN_BUFFER, &bn->running_mean);
    if (st == TN_OK)
        st = tn_nn_param(ps, name, "running_var", TN_SHAPE(channels), TN_BUFFER, &bn->running_var);
    if (st != TN_OK) return st;
    if (affine) {
        tn_nn_init_ones(bn->weight);
        tn_nn_init_zeros(bn->bias);
    }
    tn_nn_init_zeros(bn->running_mean);
    tn_nn_init_ones(bn->running_var);
    return TN_OK;
}

tn_tensor *tn_nn_batch_norm_forward(tn_graph *g, const tn_nn_batch_norm *bn, tn_tensor *x)
{
    return tn_batch_norm(g, x, bn->weight, bn->bias, bn->running_mean, bn->running_var,
                         bn->momentum, bn->eps);
}

/* The scale (ones) and shift (zeros) of a normalisation layer, of shape
 * (ndim, shape), TN_NO_DECAY whatever their rank. */
static tn_status norm_affine_init(tn_params *ps, const char *name, int ndim, const int *shape,
                                  tn_tensor **weight, tn_tensor **bias)
{
    const unsigned flags = TN_PARAM | TN_NO_DECAY;
    tn_status st = tn_nn_param(ps, name, "weight", ndim, shape, flags, weight);
    if (st == TN_OK) st = tn_nn_param(ps, name, "bias", ndim, shape, flags, bias);
    if (st != TN_OK) return st;
    tn_nn_init_ones(*weight);
    tn_nn_init_zeros(*bias);
    return TN_OK;
}

static tn_tensor *gn_fwd(tn_graph *g, tn_nn_layer *self, tn_tensor *x)
{
    return tn_nn_group_norm_forward(g, (tn_nn_group_norm *)self, x);
}

tn_status tn_nn_group_norm_init(tn_nn_group_norm *gn, tn_params *ps, const char *name,
                                int groups, int channels, bool affine)
{
    if (groups <= 0 || channels <= 0 || channels % groups != 0)
        tn_misuse("tn_nn_group_norm_init", "'%s': channels %d must be a positive multiple of "
                  "groups %d", name, channels, groups);
    *gn = (tn_nn_group_norm){.base = {.kind = "group_norm", .forward = gn_fwd},
                             .groups = groups, .channels = channels, .eps = 1e-5f};
    if (!affine) return TN_OK;
    return norm_affine_init(ps, name, 1, (int[]){channels}, &gn->weight, &gn->bias);
}

tn_tensor *tn_nn_group_norm_forward(tn_graph *g, const tn_nn_group_norm *gn, tn_tensor *x)
{
    return tn_group_norm(g, x, gn->groups, gn->weight, gn->bias, gn->eps);
}

static tn_tensor *ln_fwd(tn_graph *g, tn_nn_layer *self, tn_tensor *x)
{
    return tn_nn_layer_norm_forward(g, (tn_nn_layer_norm *)self, x);
}

tn_status tn_nn_layer_norm_init(tn_nn_layer_norm *ln, tn_params *ps, const char *name, int ndim,
                                const int *shape, bool affine)
{
    bool ok = ndim >= 1 && ndim <= TN_MAX_DIMS && shape;
    for (int i = 0; ok && i < ndim; i++) ok = shape[i] > 0;
    if (!ok) tn_misuse("tn_nn_layer_norm_init", "'%s': ndim %d must be in [1, %d] with positive "
                       "sizes", name, ndim, TN_MAX_DIMS);
    *ln = (tn_nn_layer_norm){.base = {.kind = "layer_norm", .forward = ln_fwd}, .ndim = ndim,
                             .eps = 1e-5f};
    memcpy(ln->shape, shape, (size_t)ndim * sizeof *shape);
    if (!affine) return TN_OK;
    return norm_affine_init(ps, name, ndim, shape, &ln->weight, &ln->bias);
}

tn_tensor *tn_nn_layer_norm_forward(tn_graph *g, const tn_nn_layer_norm *ln, tn_tensor *x)
{
    return tn_layer_norm(g, x, ln->ndim, ln->weight, ln->bias, ln->eps);
}

static tn_tensor *dropout_fwd(tn_graph *g, tn_nn_layer *self, tn_tensor *x)
{
    return tn_nn_dropout_forward(g, (tn_nn_dropout *)self, x);
}

void tn_nn_dropout_init(tn_nn_dropout *d, float p, tn_rng *rng)
{
    if (!(p >= 0.0f && p < 1.0f) || !rng)
        tn_misuse("tn_nn_dropout_init", "p %g must be in [0, 1) and rng given", (double)p);
    *d = (tn_nn_dropout){.base = {.kind = "dropout", .forward = dropout_fwd}, .p = p, .rng = rng};
}

tn_tensor *tn_nn_dropout_forward(tn_graph *g, const tn_nn_dropout *d, tn_tensor *x)
{
    return tn_dropout(g, x, d->p, d->rng);
}

tn_tensor *tn_nn_activate(tn_graph *g, tn_nn_act_kind act, float param, tn_tensor *x)
{
    switch (act) {
    case TN_NN_ACT_RELU: return tn_relu(g, x);
    case TN_NN_ACT_LEAKY_RELU: return tn_leaky_relu(g, x, param);
    case TN_NN_ACT_SIGMOID: return tn_sigmoid(g, x);
    case TN_NN_ACT_TANH: return tn_tanh(g, x);
    case TN_NN_ACT_GELU: return tn_gelu(g, x);
    case TN_NN_ACT_SOFTMAX: return tn_softmax(g, x);
    case TN_NN_ACT_LOG_SOFTMAX: return tn_log_softmax(g, x);
    case TN_NN_ACT_IDENTITY: return x;
    }
    tn_misuse("tn_nn_activate", "unknown activation %d", (int)act);
}

static const char *const act_names[] = {"relu", "leaky_relu", "sigmoid", "tanh", "gelu",
                                        "softmax", "log_softmax", "identity"};

static tn_tensor *act_fwd(tn_graph *g, tn_nn_layer *self, tn_tensor *x)
{
    return tn_nn_act_forward(g, (tn_nn_act *)self, x);
}

void tn_nn_act_init(tn_nn_act *a, tn_nn_act_kind act, float param)
{
    if ((int)act < 0 || act > TN_NN_ACT_IDENTITY) tn_misuse("tn_nn_act_init", "unknown activation %d", (int)act);
    *a = (tn_nn_act){.base = {.kind = act_names[act], .forward = act_fwd}, .act = act, .param = param};
}

tn_tensor *tn_nn_act_forward(tn_graph *g, const tn_nn_act *a, tn_tensor *x)
{
    return tn_nn_activate(g, a->act, a->param, x);
}

static tn_tensor *pool_fwd(tn_graph *g, tn_nn_layer *self, tn_tensor *x)
{
    return tn_nn_pool_forward(g, (tn_nn_pool *)self, x);
}

void tn_nn_pool_init(tn_nn_pool *p, tn_nn_pool_kind pool, int kernel, int stride, int padding)
{
    static const char *const names[] = {"max_pool2d", "avg_pool2d", "global_avg_pool"};
    if ((int)pool < 0 || pool > TN_NN_POOL_GLOBAL_AVG) tn_misuse("tn_nn_pool_init", "unknown pool %d", (int)pool);
    if (pool != TN_NN_POOL_GLOBAL_AVG && (kernel < 1 || stride < 0 || padding < 0))
        tn_misuse("tn_nn_pool_init", "kernel %d, stride %d, padding %d", kernel, stride, padding);
    *p = (tn_nn_pool){.base = {.kind = names[pool], .forward = pool_fwd},
                      .pool = pool,
                      .kernel = kernel,
                      .stride = stride ? stride : kernel,
                      .padding = padding};
}

tn_tensor *tn_nn_pool_forward(tn_graph *g, const tn_nn_pool *p, tn_tensor *x)
{
    switch (p->pool) {
    case TN_NN_POOL_MAX: return tn_max_pool2d(g, x, p->kernel, p->stride, p->padding);
    case TN_NN_POOL_AVG: return tn_avg_pool2d(g, x, p->kernel, p->stride, p->padding);
    case TN_NN_POOL_GLOBAL_AVG: return tn_global_avg_pool(g, x);
    }
    tn_misuse("tn_nn_pool_forward", "unknown pool %d", (int)p->pool);
}

static tn_tensor *flatten_fwd(tn_graph *g, tn_nn_layer *self, tn_tensor *x)
{
    (void)self;
    return tn_flatten(g, x);
}

void tn_nn_flatten_init(tn_nn_flatten *f)
{
    *f = (tn_nn_flatten){.base = {.kind = "flatten", .forward = flatten_fwd}};
}

/* ------------------------------------------------------------- sequential */

struct tn_nn_seq {
    tn_params *ps;
    tn_rng *rng;
    char *prefix;
    tn_nn_layer **layers;
    size_t count, cap;
    tn_status status;
    char next_name[TN_NN_NAME_MAX];
};

static void update_next_name(tn_nn_seq *s)
{
    char idx[32];
    snprintf(idx, sizeof idx, "%zu", s->count);
    if (tn_nn_name(s->next_name, s->prefix, idx) != TN_OK && s->status == TN_OK)
        s->status = TN_ERR_ARG;
}

tn_nn_seq *tn_nn_seq_new(tn_params *ps, const char *prefix, tn_rng *rng)
{
    if (!ps) tn_misuse("tn_nn_seq_new", "a params store is required");
    tn_nn_seq *s = calloc(1, sizeof *s);
    if (s && !(s->prefix = malloc(strlen(prefix ? prefix : "") + 1))) {
        free(s);
        s = NULL;
    }
    if (!s) {
        tn_error_set(TN_ERR_NOMEM, "tenet: tn_nn_seq_new: out of memory");
        return NULL;
    }
    strcpy(s->prefix, prefix ? prefix : "");
    s->ps = ps;
    s->rng = rng;
    update_next_name(s);
    return s;
}

void tn_nn_seq_free(tn_nn_seq *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->count; i++) {
        if (s->layers[i]->destroy) s->layers[i]->destroy(s->layers[i]);
        free(s->layers[i]);
    }
    free(s->layers);
    free(s->prefix);
    free(s);
}

tn_status tn_nn_seq_status(const tn_nn_seq *s) { return s->status; }
size_t tn_nn_seq_len(const tn_nn_seq *s) { return s->count; }

tn_nn_layer *tn_nn_seq_at(const tn_nn_seq *s, size_t i)
{
    if (i >= s->count) tn_misuse("tn_nn_seq_at", "index %zu, the container has %zu layers", i, s->count);
    return s->layers[i];
}

const char *tn_nn_seq_next_name(const tn_nn_seq *s) { return s->next_name; }
tn_params *tn_nn_seq_params(const tn_nn_seq *s) { return s->ps; }
tn_rng *tn_nn_seq_rng(const tn_nn_seq *s) { return s->rng; }

tn_nn_layer *tn_nn_seq_push(tn_nn_seq *s, tn_nn_layer *layer)
{
    if (layer && !layer->forward) tn_misuse("tn_nn_seq_push", "layer '%s' has no forward", layer->kind ? layer->kind : "?");
    if (s->status == TN_OK && !layer)
        s->status = tn_error_set(TN_ERR_NOMEM, "tenet: tn_nn_seq: out of memory for a layer");
    if (s->status == TN_OK && s->count == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 16;
        tn_nn_layer **l = realloc(s->layers, cap * sizeof *l);
        if (!l) s->status = tn_error_set(TN_ERR_NOMEM, "tenet: tn_nn_seq: out of memory");
        else {
            s->layers = l;
            s->cap = cap;
        }
    }
    if (s->status != TN_OK) {
        if (layer && layer->destroy) layer->destroy(layer);
        free(layer);
        return NULL;
    }
    s->layers[s->count++] = layer;
    update_next_name(s);
    return s->status == TN_OK ? layer : NULL;
}

tn_tensor *tn_nn_seq_forward(tn_graph *g, const tn_nn_seq *s, tn_tensor *x)
{
    if (s->status != TN_OK)
        tn_misuse("tn_nn_seq_forward", "the container failed to build (%s); check tn_nn_seq_status()",
                  tn_status_name(s->status));
    for (size_t i = 0; i < s->count && x; i++) x = s->layers[i]->forward(g, s->layers[i], x);
    return x;
}

/* Allocate a layer struct, or NULL (and the sticky error) after a failure. */
static void *seq_alloc(tn_nn_seq *s, size_t size)
{
    if (s->status != TN_OK) return NULL;
    void *p = calloc(1, size);
    if (!p) s->status = tn_error_set(TN_ERR_NOMEM, "tenet: tn_nn_seq: out of memory for a layer");
    return p;
}

/* Push a layer whose init returned st (freeing it on error). */
static void *seq_finish(tn_nn_seq *s, void *layer, tn_status st)
{
    if (st != TN_OK) {
        if (s->status == TN_OK) s->status = st;
        free(layer);
        return NULL;
    }
    return tn_nn_seq_push(s, layer);
}

tn_nn_linear *tn_nn_seq_linear(tn_nn_seq *s, int in, int out, bool bias)
{
    tn_nn_linear *l = seq_alloc(s, sizeof *l);
    if (!l) return NULL;
    return seq_finish(s, l, tn_nn_linear_init(l, s->ps, s->next_name, in, out, bias, s->rng));
}

tn_nn_conv2d *tn_nn_seq_conv2d(tn_nn_seq *s, int in, int out, int kernel, int stride, int padding,
                               bool bias)
{
    tn_nn_conv2d *c = seq_alloc(s, sizeof *c);
    if (!c) return NULL;
    return seq_finish(
        s, c, tn_nn_conv2d_init(c, s->ps, s->next_name, in, out, kernel, stride, padding, bias, s->rng));
}

tn_nn_batch_norm *tn_nn_seq_batch_norm(tn_nn_seq *s, int channels)
{
    tn_nn_batch_norm *bn = seq_alloc(s, sizeof *bn);
    if (!bn) return NULL;
    return seq_finish(s, bn, tn_nn_batch_norm_init(bn, s->ps, s->next_name, channels, true));
}

tn_nn_dropout *tn_nn_seq_dropout(tn_nn_seq *s, float p)
{
    if (!s->rng) tn_misuse("tn_nn_seq_dropout", "the container has no rng");
    tn_nn_dropout *d = seq_alloc(s, sizeof *d);
    if (!d) return NULL;
    tn_nn_dropout_init(d, p, s->rng);
    return seq_finish(s, d, TN_OK);
}

tn_nn_act *tn_nn_seq_act(tn_nn_seq *s, tn_nn_act_kind act, float param)
{
    tn_nn_act *a = seq_alloc(s, sizeof *a);
    if (!a) return NULL;
    tn_nn_act_init(a, act, param);
    return seq_finish(s, a, TN_OK);
}

tn_nn_pool *tn_nn_seq_pool(tn_nn_seq *s, tn_nn_pool_kind pool, int kernel, int stride,
                           int padding)
{
    tn_nn_pool *p = seq_alloc(s, sizeof *p);
    if (!p) return NULL;
    tn_nn_pool_init(p, pool, kernel, stride, padding);
    return seq_finish(s, p, TN_OK);
}

tn_nn_flatten *tn_nn_seq_flatten(tn_nn_seq *s)
{
    tn_nn_flatten *f = seq_alloc(s, sizeof *f);
    if (!f) return NULL;
    tn_nn_flatten_init(f);
    return seq_finish(s, f, TN_OK);
}

/* ------------------------------------------------------------- checkpoints */

tn_status tn_nn_save(const tn_params *ps, const char *path, int n_meta, const char *const *keys,
                     const char *const *values)
{
    tn_st_writer *w = tn_st_writer_new();
    if (!w) return TN_ERR_NOMEM;
    tn_status st = tn_st_add_params(w, ps);
    for (int i = 0; st == TN_OK && i < n_meta; i++) st = tn_st_add_meta(w, keys[i], values[i]);
    if (st == TN_OK) st = tn_st_save(w, path);
    tn_st_writer_free(w);
    return st;
}

tn_status tn_nn_load(tn_params *ps, const char *path, const char *extra_prefix)
{
    tn_st_file *f;
    tn_status st = tn_st_open(path, &f);
    if (st != TN_OK) return st;
    st = tn_st_load_params(f, ps, extra_prefix);
    tn_st_close(f);
    return st;
}
