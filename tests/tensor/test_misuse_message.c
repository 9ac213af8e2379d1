/* tests/tensor/test_misuse_message.c - what a misuse abort says: the op's
 * name and every input's shape.  Each case runs in a forked child whose
 * stderr is a pipe; the parent checks the child died of SIGABRT and reads
 * the message it printed. */
#include "tensor/tensor.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef void (*misuse_fn)(tn_graph *g);

/* Run fn(g) in a child; return what it wrote to stderr (NUL-terminated in
 * buf) after asserting that it aborted. */
static const char *abort_message(misuse_fn fn, char *buf, size_t size)
{
    int fd[2];
    cr_assert_eq(pipe(fd), 0);
    fflush(stderr);
    pid_t pid = fork();
    cr_assert_geq(pid, 0, "fork failed");
    if (pid == 0) {
        close(fd[0]);
        dup2(fd[1], STDERR_FILENO);
        fn(tn_graph_new());
        _exit(0); /* not reached when the op aborts */
    }
    close(fd[1]);
    size_t n = 0;
    ssize_t r;
    while (n + 1 < size && (r = read(fd[0], buf + n, size - 1 - n)) > 0) n += (size_t)r;
    buf[n] = '\0';
    close(fd[0]);
    int st = 0;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT,
              "expected an abort, got wait status %d; stderr: %s", st, buf);
    return buf;
}

static void expect_message(misuse_fn fn, const char *const *parts, int n_parts)
{
    char buf[1024];
    const char *msg = abort_message(fn, buf, sizeof buf);
    for (int i = 0; i < n_parts; i++)
        cr_expect(strstr(msg, parts[i]) != NULL, "message \"%s\" lacks \"%s\"", msg, parts[i]);
}

#define EXPECT_MESSAGE(fn, ...) \
    expect_message(fn, (const char *const[]){__VA_ARGS__}, \
                   (int)(sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *)))

static void add_mismatch(tn_graph *g)
{
    tn_add(g, tn_zeros(g, TN_SHAPE(2, 3)), tn_zeros(g, TN_SHAPE(3, 2)));
}

static void matmul_mismatch(tn_graph *g)
{
    tn_matmul(g, tn_zeros(g, TN_SHAPE(2, 3)), tn_zeros(g, TN_SHAPE(4, 2)), false, false);
}

static void conv_channels(tn_graph *g)
{
    tn_conv2d(g, tn_zeros(g, TN_SHAPE(1, 3, 5, 5)), tn_zeros(g, TN_SHAPE(4, 2, 3, 3)), NULL, 1, 0,
              1);
}

static void batch_norm_gamma(tn_graph *g)
{
    tn_batch_norm(g, tn_zeros(g, TN_SHAPE(4, 3)), tn_ones(g, TN_SHAPE(4)), NULL, NULL, NULL, 0.1f,
                  1e-5f);
}

static void mse_mismatch(tn_graph *g)
{
    tn_mse_loss(g, tn_zeros(g, TN_SHAPE(2, 3)), tn_zeros(g, TN_SHAPE(3, 2)));
}

static void reshape_numel(tn_graph *g)
{
    tn_reshape(g, tn_zeros(g, TN_SHAPE(2, 3)), TN_SHAPE(4, 2));
}

Test(misuse_message, add_names_op_and_both_shapes)
{
    EXPECT_MESSAGE(add_mismatch, "tenet: add:", "(2, 3)", "(3, 2)");
}

Test(misuse_message, matmul_names_op_and_both_shapes)
{
    EXPECT_MESSAGE(matmul_mismatch, "tenet: matmul:", "(2, 3)", "(4, 2)");
}

Test(misuse_message, conv2d_names_op_and_input_and_weight_shapes)
{
    EXPECT_MESSAGE(conv_channels, "tenet: conv2d:", "(1, 3, 5, 5)", "(4, 2, 3, 3)");
}

Test(misuse_message, batch_norm_names_op_and_gamma_shape)
{
    EXPECT_MESSAGE(batch_norm_gamma, "tenet: batch_norm:", "(4, 3)", "(4)");
}

Test(misuse_message, mse_names_op_and_both_shapes)
{
    EXPECT_MESSAGE(mse_mismatch, "tenet: mse_loss:", "(2, 3)", "(3, 2)");
}

Test(misuse_message, reshape_names_op_and_shapes)
{
    EXPECT_MESSAGE(reshape_numel, "tenet: reshape:", "(2, 3)");
}

static void group_norm_groups(tn_graph *g)
{
    tn_group_norm(g, tn_zeros(g, TN_SHAPE(2, 6, 3, 3)), 4, NULL, NULL, 1e-5f);
}

static void layer_norm_gamma(tn_graph *g)
{
    tn_layer_norm(g, tn_zeros(g, TN_SHAPE(2, 3, 5)), 1, tn_ones(g, TN_SHAPE(3)), NULL, 1e-5f);
}

Test(misuse_message, group_norm_names_op_channels_and_groups)
{
    EXPECT_MESSAGE(group_norm_groups, "tenet: group_norm:", "(2, 6, 3, 3)", "C = 6", "groups 4");
}

Test(misuse_message, layer_norm_names_op_and_gamma_shape)
{
    EXPECT_MESSAGE(layer_norm_gamma, "tenet: layer_norm:", "gamma (3)", "(2, 3, 5)", "last 1 dims");
}
