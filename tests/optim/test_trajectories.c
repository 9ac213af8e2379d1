/* tests/optim/test_trajectories.c - every optimizer against torch.optim,
 * 20 steps, parameters compared after every step (fixture written by
 * tests/optim/gen_fixtures.py; the case names are the same there):
 *   kernel/<case>  one (4, 6) parameter driven by a fixed gradient sequence;
 *   mlp/<case>     a 4 -> 8 -> 3 tanh MLP whose gradients tenet's engine
 *                  recomputes each step (MSE or cross-entropy). */
#include "optim_test_util.h"

#define STEPS 20
/* Relative deviation |tenet - torch| / max(|torch|, floor).  The kernels
 * reproduce PyTorch's operation order (fused multiply-adds included), so the
 * kernel cases agree to the bit on the machine that wrote the fixture; the
 * tolerance leaves room for another libm's pow().  The MLP's gradients differ
 * from PyTorch's by float rounding (sgemm order, tanh): ~1e-7 relative to the
 * largest component, up to ~4e-6 for the smallest, which adaptive methods
 * (RMSprop, Adagrad) turn into full-size steps.  So an element is compared
 * relative to itself, or to a tenth of its tensor's largest |value| when it
 * is smaller than that (parameters near zero keep absolute errors of a few
 * 1e-7 when they cross it). */
#define KERNEL_TOL 1e-6
#define KERNEL_FLOOR 1e-3
#define TOL 1e-5
#define FLOOR_FRACTION 0.1

enum { SCHED_NONE, SCHED_STEP, SCHED_ONE_CYCLE, SCHED_COSINE };

typedef struct traj_case {
    const char *name;
    tn_optim_config cfg;
    bool mask; /* PyTorch: biases in a group without decay (tenet's default) */
    bool ce;   /* cross-entropy instead of MSE */
    int sched;
} traj_case;

static tn_optim_config make(tn_optim_kind kind, double lr)
{
    tn_optim_config c = tn_optim_defaults(kind);
    if (lr > 0.0) c.lr = lr;
    return c;
}

static tn_optim_config coupled(tn_optim_config c, double wd)
{
    c.reg = TN_REG_COUPLED;
    c.lambda = wd;
    return c;
}

/* The cases of gen_fixtures.py, in tenet's terms. */
static traj_case find_case(const char *name)
{
    tn_optim_config c;
    traj_case k = {.name = name};
#define IS(s) (strcmp(name, s) == 0)
    if (IS("sgd")) k.cfg = make(TN_OPTIM_SGD, 0.1);
    else if (IS("sgd_momentum")) { c = make(TN_OPTIM_SGD, 0.1); c.momentum = 0.9; k.cfg = c; }
    else if (IS("sgd_dampening")) {
        c = make(TN_OPTIM_SGD, 0.1); c.momentum = 0.9; c.dampening = 0.5; k.cfg = c;
    } else if (IS("sgd_nesterov")) {
        c = make(TN_OPTIM_SGD, 0.1); c.momentum = 0.9; c.nesterov = true; k.cfg = c; k.ce = true;
    } else if (IS("sgd_wd")) {
        c = make(TN_OPTIM_SGD, 0.1); c.momentum = 0.9; k.cfg = coupled(c, 0.01); k.mask = true;
    } else if (IS("sgd_nesterov_wd")) {
        c = make(TN_OPTIM_SGD, 0.05); c.momentum = 0.8; c.nesterov = true; k.cfg = coupled(c, 0.05);
    } else if (IS("sgd_steplr")) {
        c = make(TN_OPTIM_SGD, 0.1); c.momentum = 0.9; k.cfg = coupled(c, 0.01);
        k.sched = SCHED_STEP;
    } else if (IS("sgd_onecycle")) {
        c = make(TN_OPTIM_SGD, 0.1); c.momentum = 0.9; k.cfg = c; k.sched = SCHED_ONE_CYCLE;
    } else if (IS("adagrad")) k.cfg = make(TN_OPTIM_ADAGRAD, 0);
    else if (IS("adagrad_opts")) {
        c = make(TN_OPTIM_ADAGRAD, 0.1); c.lr_decay = 0.01; c.initial_accumulator_value = 0.1;
        c.eps = 1e-6; k.cfg = c;
    } else if (IS("adagrad_wd")) { k.cfg = coupled(make(TN_OPTIM_ADAGRAD, 0.05), 0.01); k.ce = true; }
    else if (IS("adadelta")) k.cfg = make(TN_OPTIM_ADADELTA, 0);
    else if (IS("adadelta_opts")) {
        c = make(TN_OPTIM_ADADELTA, 0.5); c.rho = 0.8; c.eps = 1e-5; k.cfg = coupled(c, 0.01);
    } else if (IS("rmsprop")) k.cfg = make(TN_OPTIM_RMSPROP, 0);
    else if (IS("rmsprop_centered")) {
        c = make(TN_OPTIM_RMSPROP, 0.01); c.centered = true; c.momentum = 0.5; k.cfg = c;
    } else if (IS("rmsprop_centered_plain")) {
        c = make(TN_OPTIM_RMSPROP, 0.01); c.centered = true; k.cfg = c; /* no momentum buffer */
    } else if (IS("rmsprop_momentum_wd")) {
        c = make(TN_OPTIM_RMSPROP, 0.01); c.momentum = 0.9; c.alpha = 0.9;
        k.cfg = coupled(c, 0.01); k.mask = true;
    } else if (IS("adam")) k.cfg = make(TN_OPTIM_ADAM, 0);
    else if (IS("adam_amsgrad")) {
        c = make(TN_OPTIM_ADAM, 0.01); c.beta1 = 0.8; c.beta2 = 0.99; c.amsgrad = true;
        k.cfg = c; k.ce = true;
    } else if (IS("adam_wd")) k.cfg = coupled(make(TN_OPTIM_ADAM, 0.01), 0.01);
    else if (IS("adam_wd_mask")) {
        c = make(TN_OPTIM_ADAM, 0.01); c.eps = 1e-6; k.cfg = coupled(c, 0.1); k.mask = true;
    } else if (IS("adamw")) k.cfg = tn_optim_adamw_torch(1e-3, 0.01); /* torch's defaults */
    else if (IS("adamw_mask")) { k.cfg = tn_optim_adamw_torch(0.01, 0.1); k.mask = true; }
    else if (IS("adamw_amsgrad")) { k.cfg = tn_optim_adamw_torch(0.01, 0.05); k.cfg.amsgrad = true; }
    else if (IS("adamw_cosine")) { k.cfg = tn_optim_adamw_torch(0.01, 0.1); k.sched = SCHED_COSINE; }
    else if (IS("nadam")) k.cfg = make(TN_OPTIM_NADAM, 0);
    else if (IS("nadam_opts")) {
        c = make(TN_OPTIM_NADAM, 0.01); c.beta1 = 0.8; c.beta2 = 0.99; c.momentum_decay = 0.01;
        k.cfg = coupled(c, 0.01); k.ce = true;
    } else if (IS("radam")) k.cfg = make(TN_OPTIM_RADAM, 0);
    else if (IS("radam_wd")) {
        c = make(TN_OPTIM_RADAM, 0.01); c.beta1 = 0.85; c.beta2 = 0.99; k.cfg = coupled(c, 0.01);
        k.ce = true;
    } else if (IS("adamax")) k.cfg = make(TN_OPTIM_ADAMAX, 0);
    else if (IS("adamax_wd")) {
        c = make(TN_OPTIM_ADAMAX, 0.01); c.beta1 = 0.8; c.beta2 = 0.99; c.eps = 1e-4;
        k.cfg = coupled(c, 0.01);
    } else cr_assert_fail("unknown case %s", name);
#undef IS
    return k;
}

/* Set the lr (and one-cycle's momentum) of step t; returns lr_t. */
static double lr_at(const traj_case *k, tn_optim *o, int t)
{
    tn_sched s;
    switch (k->sched) {
    case SCHED_STEP: s = tn_sched_step(5, 0.5); break;
    case SCHED_ONE_CYCLE: s = tn_sched_one_cycle(STEPS); break;
    case SCHED_COSINE: s = tn_sched_cosine(STEPS, 0.0); break;
    default: return k->cfg.lr;
    }
    if (k->sched == SCHED_ONE_CYCLE) tn_optim_set_momentum(o, tn_sched_momentum(&s, t, 0.0));
    return tn_sched_lr(&s, k->cfg.lr, t);
}

static double worst_seen = 0.0;

static void report(const char *kind, const char *name, double worst)
{
    if (worst > worst_seen) worst_seen = worst;
    cr_log_info("%s/%s: max relative deviation from PyTorch %.3g (worst so far %.3g)", kind, name,
                worst, worst_seen);
}

static void run_kernel(const char *name)
{
    traj_case k = find_case(name);
    tn_st_file *f = ot_open("trajectories.safetensors");
    tn_params *ps = tn_params_new();
    tn_tensor *p = tn_params_add(ps, "p", TN_SHAPE(4, 6), TN_PARAM);
    cr_assert_eq(tn_st_read_into(f, "kern.init", TN_SHAPE(4, 6), p->data), TN_OK);
    const tn_st_entry *grads = ot_entry(f, "kern.grads");
    char key[128];
    snprintf(key, sizeof key, "kern.%s", name);
    const tn_st_entry *ref = ot_entry(f, key);
    cr_assert_eq(ref->numel, (size_t)STEPS * 24);
    tn_optim *o = ot_optim_new(ps, &k.cfg);
    cr_assert(o, "%s", tn_error_message());
    double worst = 0.0;
    for (int t = 0; t < STEPS; t++) {
        memcpy(p->grad, grads->data + t * 24, 24 * sizeof(float));
        tn_optim_step(o, lr_at(&k, o, t));
        double r = ot_max_rel(p->data, ref->data + t * 24, 24, KERNEL_FLOOR);
        if (r > worst) worst = r;
        cr_assert(r <= KERNEL_TOL, "kernel/%s step %d: relative deviation %.3g > %.0e", name,
                  t + 1, r, KERNEL_TOL);
    }
    report("kernel", name, worst);
    tn_optim_free(o);
    tn_params_free(ps);
    tn_st_close(f);
}

static void run_mlp(const char *name)
{
    traj_case k = find_case(name);
    tn_st_file *f = ot_open("trajectories.safetensors");
    ot_mlp *m = ot_mlp_new(f);
    tn_optim *o = ot_optim_new(m->ps, &k.cfg);
    cr_assert(o, "%s", tn_error_message());
    /* PyTorch decays every tensor unless the case masks the biases. */
    tn_optim_group_at(o, 0)->decay_no_decay = !k.mask;
    tn_tensor *ts[4] = {m->w1, m->b1, m->w2, m->b2};
    const tn_st_entry *ref[4];
    for (int i = 0; i < 4; i++) {
        char key[128];
        snprintf(key, sizeof key, "mlp.%s.%s", name, ts[i]->name);
        ref[i] = ot_entry(f, key);
        cr_assert_eq(ref[i]->numel, STEPS * ts[i]->numel, "%s", key);
    }
    double worst = 0.0;
    for (int t = 0; t < STEPS; t++) {
        ot_mlp_grad(m, NULL, k.ce, 1.0f);
        tn_optim_step(o, lr_at(&k, o, t));
        for (int i = 0; i < 4; i++) {
            size_t n = ts[i]->numel;
            const float *b = ref[i]->data + t * n;
            double big = 0.0;
            for (size_t j = 0; j < n; j++) big = fmax(big, fabs((double)b[j]));
            size_t at = 0;
            double r = ot_max_rel_at(ts[i]->data, b, n, FLOOR_FRACTION * big, &at);
            if (r > worst) worst = r;
            cr_assert(r <= TOL, "mlp/%s step %d %s[%zu]: %.9g, PyTorch %.9g: relative deviation "
                      "%.3g > %.0e", name, t + 1, ts[i]->name, at, ts[i]->data[at],
                      ref[i]->data[t * n + at], r, TOL);
        }
    }
    report("mlp", name, worst);
    tn_optim_free(o);
    ot_mlp_free(m);
    tn_st_close(f);
}

#define CASE(name)                                                                     \
    Test(kernel, name) { run_kernel(#name); }                                          \
    Test(mlp, name) { run_mlp(#name); }

CASE(sgd)
CASE(sgd_momentum)
CASE(sgd_dampening)
CASE(sgd_nesterov)
CASE(sgd_wd)
CASE(sgd_nesterov_wd)
CASE(sgd_steplr)
CASE(sgd_onecycle)
CASE(adagrad)
CASE(adagrad_opts)
CASE(adagrad_wd)
CASE(adadelta)
CASE(adadelta_opts)
CASE(rmsprop)
CASE(rmsprop_centered)
CASE(rmsprop_centered_plain)
CASE(rmsprop_momentum_wd)
CASE(adam)
CASE(adam_amsgrad)
CASE(adam_wd)
CASE(adam_wd_mask)
CASE(adamw)
CASE(adamw_mask)
CASE(adamw_amsgrad)
CASE(adamw_cosine)
CASE(nadam)
CASE(nadam_opts)
CASE(radam)
CASE(radam_wd)
CASE(adamax)
CASE(adamax_wd)

/* Every case of the fixture has a test above (a new Python case needs one). */
Test(kernel, fixture_has_no_untested_case)
{
    static const char *const names[] = {
        "sgd", "sgd_momentum", "sgd_dampening", "sgd_nesterov", "sgd_wd", "sgd_nesterov_wd",
        "sgd_steplr", "sgd_onecycle", "adagrad", "adagrad_opts", "adagrad_wd", "adadelta",
        "adadelta_opts", "rmsprop", "rmsprop_centered", "rmsprop_centered_plain",
        "rmsprop_momentum_wd", "adam", "adam_amsgrad", "adam_wd", "adam_wd_mask", "adamw",
        "adamw_mask", "adamw_amsgrad", "adamw_cosine", "nadam", "nadam_opts", "radam", "radam_wd",
        "adamax", "adamax_wd"};
    size_t n = sizeof names / sizeof *names;
    tn_st_file *f = ot_open("trajectories.safetensors");
    size_t kern = 0;
    for (size_t i = 0; i < tn_st_count(f); i++) {
        const char *e = tn_st_at(f, i)->name;
        if (strncmp(e, "kern.", 5) != 0 || !strcmp(e, "kern.init") || !strcmp(e, "kern.grads"))
            continue;
        kern++;
        bool known = false;
        for (size_t j = 0; j < n && !known; j++) known = strcmp(e + 5, names[j]) == 0;
        cr_assert(known, "fixture case '%s' has no test", e + 5);
    }
    cr_assert_eq(kern, n);
    tn_st_close(f);
}
