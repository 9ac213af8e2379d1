/* tests/tensor/test_memory.c - a training loop's memory is flat: after the
 * first step, the graph arena's high-water mark and reserved bytes never
 * change, and the process's resident set does not grow. */
#include "tensor/tensor.h"

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <unistd.h>

/* Resident set size in bytes, from /proc/self/statm (pages); read with
 * open/read so the probe itself allocates nothing. */
static size_t rss_bytes(void)
{
    char buf[256];
    int fd = open("/proc/self/statm", O_RDONLY);
    cr_assert_geq(fd, 0, "cannot open /proc/self/statm");
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    cr_assert_gt(n, 0, "cannot read /proc/self/statm");
    buf[n] = '\0';
    unsigned long size = 0, resident = 0;
    cr_assert_eq(sscanf(buf, "%lu %lu", &size, &resident), 2, "cannot parse /proc/self/statm");
    return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

/* The RSS may move by this much after step 2 (allocator and page noise);
 * a leak of one step's activations (~0.5 MiB here) would exceed it within a
 * few steps over 200. */
#define RSS_SLACK ((size_t)1 << 20)

/* AddressSanitizer keeps freed blocks in a quarantine (256 MiB by default),
 * so an ASan build's RSS grows with any malloc/free pair made per step (a
 * serial OpenMP region allocates its team, for one); there only the arena is
 * checked.  (With ASAN_OPTIONS=quarantine_size_mb=0 the RSS is flat too.) */
#if defined(__SANITIZE_ADDRESS__)
#define CHECK_RSS 0
#else
#define CHECK_RSS 1
#endif

enum { BATCH = 8, CLASSES = 10, STEPS = 200 };

typedef struct net {
    tn_params *ps;
    tn_tensor *w1, *g1, *b1, *rm1, *rv1; /* conv 3->8, 3x3; bn (8) */
    tn_tensor *w2, *g2, *b2, *rm2, *rv2; /* conv 8->16, 3x3 stride 2; bn (16) */
    tn_tensor *fw, *fb;                  /* linear 16 -> 10 */
} net;

static void net_init(net *m, tn_rng *rng)
{
    m->ps = tn_params_new();
    cr_assert_not_null(m->ps);
    m->w1 = tn_params_add(m->ps, "conv1.weight", 4, (int[]){8, 3, 3, 3}, TN_PARAM);
    m->g1 = tn_params_add(m->ps, "bn1.weight", 1, (int[]){8}, TN_PARAM);
    m->b1 = tn_params_add(m->ps, "bn1.bias", 1, (int[]){8}, TN_PARAM);
    m->rm1 = tn_params_add(m->ps, "bn1.running_mean", 1, (int[]){8}, TN_BUFFER);
    m->rv1 = tn_params_add(m->ps, "bn1.running_var", 1, (int[]){8}, TN_BUFFER);
    m->w2 = tn_params_add(m->ps, "conv2.weight", 4, (int[]){16, 8, 3, 3}, TN_PARAM);
    m->g2 = tn_params_add(m->ps, "bn2.weight", 1, (int[]){16}, TN_PARAM);
    m->b2 = tn_params_add(m->ps, "bn2.bias", 1, (int[]){16}, TN_PARAM);
    m->rm2 = tn_params_add(m->ps, "bn2.running_mean", 1, (int[]){16}, TN_BUFFER);
    m->rv2 = tn_params_add(m->ps, "bn2.running_var", 1, (int[]){16}, TN_BUFFER);
    m->fw = tn_params_add(m->ps, "fc.weight", 2, (int[]){CLASSES, 16}, TN_PARAM);
    m->fb = tn_params_add(m->ps, "fc.bias", 1, (int[]){CLASSES}, TN_PARAM);
    /* The buffers may have moved while adding: fill after the last add. */
    tn_fill_normal(m->w1->data, m->w1->numel, 0.0f, 0.27f, rng);
    tn_fill_normal(m->w2->data, m->w2->numel, 0.0f, 0.17f, rng);
    tn_fill_normal(m->fw->data, m->fw->numel, 0.0f, 0.25f, rng);
    for (int c = 0; c < 8; c++) m->g1->data[c] = m->rv1->data[c] = 1.0f;
    for (int c = 0; c < 16; c++) m->g2->data[c] = m->rv2->data[c] = 1.0f;
}

/* conv -> bn -> relu -> max pool -> conv (stride 2) -> bn -> relu -> avg pool
 * -> global avg pool -> dropout -> linear -> cross-entropy. */
static tn_tensor *net_loss(tn_graph *g, const net *m, tn_tensor *x, const int32_t *labels,
                           tn_rng *rng)
{
    tn_tensor *h = tn_conv2d(g, x, m->w1, NULL, 1, 1, 1);             /* (8, 8, 16, 16) */
    h = tn_relu(g, tn_batch_norm(g, h, m->g1, m->b1, m->rm1, m->rv1, 0.1f, 1e-5f));
    h = tn_max_pool2d(g, h, 2, 2, 0);                                 /* (8, 8, 8, 8) */
    h = tn_conv2d(g, h, m->w2, NULL, 2, 1, 1);                        /* (8, 16, 4, 4) */
    h = tn_relu(g, tn_batch_norm(g, h, m->g2, m->b2, m->rm2, m->rv2, 0.1f, 1e-5f));
    h = tn_avg_pool2d(g, h, 3, 1, 1);                                 /* (8, 16, 4, 4) */
    h = tn_dropout(g, tn_global_avg_pool(g, h), 0.1f, rng);           /* (8, 16) */
    h = tn_linear(g, h, m->fw, m->fb);                                /* (8, 10) */
    return tn_cross_entropy(g, h, labels, 0.1f);
}

Test(memory, training_steps_are_flat)
{
    tn_rng rng;
    tn_rng_seed(&rng, 2024, 1);
    net m;
    net_init(&m, &rng);
    float xs[BATCH * 3 * 16 * 16];
    int32_t labels[BATCH];
    tn_fill_normal(xs, sizeof xs / sizeof xs[0], 0.0f, 1.0f, &rng);
    for (int i = 0; i < BATCH; i++) labels[i] = (int32_t)tn_rng_below(&rng, CLASSES);

    tn_graph *g = tn_graph_new();
    cr_assert_not_null(g);
    float *w = tn_params_values(m.ps), *gw = tn_params_grads(m.ps);
    const size_t n_params = tn_params_size(m.ps);
    size_t high_water = 0, reserved = 0, rss = 0, rss_max = 0;
    float first_loss = 0.0f, last_loss = 0.0f;
    for (int step = 1; step <= STEPS; step++) {
        tn_graph_reset(g);
        tn_params_zero_grad(m.ps);
        tn_tensor *x = tn_from_data(g, 4, (int[]){BATCH, 3, 16, 16}, xs);
        tn_tensor *loss = net_loss(g, &m, x, labels, &rng);
        /* Criterion's assertions allocate: inside the loop, fail only. */
        if (!loss || tn_backward(g, loss) != TN_OK)
            cr_assert_fail("step %d: %s", step, tn_error_message());
        /* Plain SGD over the flat buffers (buffers have zero gradients). */
        for (size_t i = 0; i < n_params; i++) w[i] -= 0.1f * gw[i];
        if (!isfinite(loss->data[0]))
            cr_assert_fail("step %d: loss %g", step, (double)loss->data[0]);
        if (step == 1) first_loss = loss->data[0];
        last_loss = loss->data[0];

        if (step == 2) {
            high_water = tn_graph_arena_high_water(g);
            reserved = tn_graph_arena_reserved(g);
            rss = rss_bytes();
        } else if (step > 2) {
            if (tn_graph_arena_high_water(g) != high_water)
                cr_assert_fail("step %d: arena high water %zu, was %zu at step 2", step,
                               tn_graph_arena_high_water(g), high_water);
            if (tn_graph_arena_reserved(g) != reserved)
                cr_assert_fail("step %d: arena reserved %zu, was %zu at step 2", step,
                               tn_graph_arena_reserved(g), reserved);
            size_t now = rss_bytes();
            if (CHECK_RSS && now > rss + RSS_SLACK)
                cr_assert_fail("step %d: RSS %zu bytes, was %zu at step 2", step, now, rss);
            if (now > rss_max) rss_max = now;
        }
    }
    cr_log_info("arena high water %zu, reserved %zu bytes; RSS %zu at step 2, at most %zu after",
                high_water, reserved, rss, rss_max);
    /* The loop really trained (one fixed batch is overfitted). */
    cr_expect_lt(last_loss, 0.5f * first_loss, "loss %g -> %g", (double)first_loss,
                 (double)last_loss);
    tn_graph_free(g);
    tn_params_free(m.ps);
}
