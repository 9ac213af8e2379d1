/* examples/resnet_cifar/main.c - ResNets on CIFAR: train, compare L2 in the
 * loss with decoupled weight decay, sweep lr x wd, evaluate a checkpoint.
 *
 *   resnet_cifar compare               quick comparison: Adam+L2 vs AdamW, 3 seeds
 *   resnet_cifar compare --full        ResNet-20, full CIFAR-10, 15 epochs
 *   resnet_cifar train --method adamw --epochs 30 --out runs/adamw
 *   resnet_cifar sweep --lrs 4 --wds 4
 *   resnet_cifar eval --checkpoint runs/adamw/checkpoint.safetensors
 *   resnet_cifar sharpness --checkpoint runs/adamw/checkpoint.safetensors
 *   resnet_cifar export-onnx --checkpoint runs/adamw/checkpoint.safetensors --out model.onnx */
#include "experiments.h"
#include "export.h"
#include "export_onnx.h"
#include "pair.h"
#include "sharpness.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
    fputs("usage: resnet_cifar <command> [options]\n\n"
          "commands:\n"
          "  train     train one configuration (resumable), print RESULT\n"
          "  compare   SGD+L2 vs SGDW and Adam+L2 vs AdamW (+AdamProx): one initial\n"
          "            checkpoint, one batch order; results.md and PNG plots\n"
          "  sweep     learning rate x weight decay grids, heat maps of test error\n"
          "  eval      accuracy, loss, per-class accuracy and confusion matrix of a checkpoint\n"
          "  export    the model of a checkpoint alone, in PyTorch's state_dict names\n"
          "  export-onnx  a checkpoint as an ONNX model (eval mode) for inference runtimes\n"
          "  sharpness epsilon-sharpness of a checkpoint and its loss along a random direction\n"
          "  pair      two comparisons with one setting changed: paired differences per method\n\n"
          "resnet_cifar <command> --help lists the options of a command.\n",
          out);
}

static void help_experiment(FILE *out, const char *cmd)
{
    if (strcmp(cmd, "compare") == 0)
        fputs("usage: resnet_cifar compare [options]\n\n"
              "Per seed, trains each method from the same initial weights on the same batch\n"
              "stream, into out/<method>/ (one seed) or out/seed<s>/<method>/; finished runs\n"
              "are skipped and an interrupted one resumes, so rerunning the command\n"
              "continues.  Writes out/results.md, out/test_error.png and out/train_loss.png.\n\n"
              "  --full                 ResNet-20 on full CIFAR-10, 15 epochs, methods\n"
              "                         sgd-l2,sgdw,adam-l2,adamw,adamprox, 1 seed (default: the\n"
              "                         quick comparison: adam-l2 vs adamw on a ResNet-32 without\n"
              "                         batch norm, 200 training and 100 test images per class,\n"
              "                         batch 16, 10 epochs, 3 seeds)\n"
              "  --methods LIST         methods to compare\n"
              "  --lr-sgd X --lr-adam X base learning rates (0.1, 1e-3)\n"
              "  --wd-METHOD X          lambda of one method, e.g. --wd-adamw 1e-3\n"
              "  --out DIR              default runs/compare\n\n",
              out);
    else
        fputs("usage: resnet_cifar sweep [options]\n\n"
              "A log-spaced grid of learning rate x weight decay per method (default\n"
              "sgd-l2,sgdw,adam-l2,adamw), each cell a short run on a subset, `--jobs`\n"
              "processes at a time; writes out/<method>/grid.csv and side-by-side heat maps\n"
              "out/heatmap_<l2>_vs_<decoupled>.png.  Rerunning skips finished cells.\n\n"
              "  --full                 full data and 15 epochs per cell (default: 200 training\n"
              "                         and 100 test images per class, 4 epochs)\n"
              "  --methods LIST         methods, paired two by two in the heat maps\n"
              "  --lrs N --wds M        grid size (default 4 x 4)\n"
              "  --lr-range LO:HI       (default SGD 0.0125:0.4, Adam 1.25e-4:4e-3)\n"
              "  --wd-range LO:HI       (default 1e-4:1e-2)\n"
              "  --jobs N               processes in parallel (default 2)\n"
              "  --out DIR              default runs/sweep\n\n",
              out);
    experiment_print_help(out, cmd);
    fputs("\nRun options (as for train):\n", out);
    config_print_help(out);
}

static int cmd_train(int argc, char **argv)
{
    run_config c;
    config_defaults(&c);
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs("usage: resnet_cifar train [options]\n\n"
                  "Trains one configuration into --out: metrics.csv (per epoch), a checkpoint\n"
                  "after every epoch, every --checkpoint-every minutes and on Ctrl-C (continue\n"
                  "with --resume), result.txt.  The last line printed is RESULT test_acc=...\n"
                  "test_loss=... train_loss=... epochs=... seconds=...\n\n"
                  "Exit status: 0 finished, 1 error, 2 bad options, 3 diverged (a NaN or\n"
                  "infinite loss, gradient norm or weight: the checkpoint is the last finite\n"
                  "state, no RESULT), 130 interrupted (a checkpoint was saved).\n\n",
                  stdout);
            config_print_help(stdout);
            return 0;
        }
        int r = config_parse_option(&c, argc, argv, &i);
        if (r < 0) return 2;
        if (r == 0) return fail("train: unknown option '%s' (see --help)", argv[i]), 2;
    }
    if (config_finish(&c)) return 2;
    if (tn_dist_rank() > 0) c.quiet = true; /* under mpirun rank 0 alone reports */
    run_data d;
    if (data_load(&c, &d)) return 1;
    install_interrupt_handler();
    run_result r;
    int st = train_run(&c, &d, &r);
    data_free(&d);
    if (st == RUN_INTERRUPTED) return 130;
    if (st == RUN_DIVERGED) return 3;
    if (st != RUN_DONE) return 1;
    if (tn_dist_rank() > 0) return 0;
    if (!c.quiet && isnan(r.data_wait_fraction))
        fprintf(stderr, "training: %.0f img/s; time waiting for data not recorded (an older "
                        "checkpoint)\n", r.images_per_s);
    else if (!c.quiet)
        fprintf(stderr, "training: %.0f img/s; waited for data %.2f%% of the time\n",
                r.images_per_s, 100 * r.data_wait_fraction);
    result_print(stdout, &r);
    return 0;
}

static int cmd_experiment(int argc, char **argv, const char *cmd)
{
    run_config c;
    config_defaults(&c);
    snprintf(c.out, sizeof c.out, "runs/%s", cmd);
    experiment_options x;
    experiment_defaults(&x);
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            help_experiment(stdout, cmd);
            return 0;
        }
        int r = experiment_parse_option(&x, &c, argc, argv, &i);
        if (r < 0) return 2;
        if (r == 0) return fail("%s: unknown option '%s' (see --help)", cmd, argv[i]), 2;
    }
    if (c.method_given || c.lr >= 0 || c.wd >= 0)
        return fail("%s sets each method's optimizer, lr and wd: use --methods, --lr-sgd, "
                    "--lr-adam and --wd-METHOD",
                    cmd),
               2;
    /* Each method's run is finished from c (its optimizer's defaults);
     * check the shared options on a copy so c keeps no method's. */
    if (tn_dist_world_rank() > 0) c.quiet = true; /* under mpirun rank 0 alone reports */
    run_config probe = c;
    if (config_finish(&probe)) return 2;
    install_interrupt_handler();
    int rc = strcmp(cmd, "compare") == 0 ? run_compare(&c, &x) : run_sweep(&c, &x);
    return rc == RUN_INTERRUPTED ? 130 : rc ? 1 : 0;
}

static int cmd_eval(int argc, char **argv)
{
    run_config c;
    config_defaults(&c);
    const char *ckpt = NULL;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs("usage: resnet_cifar eval --checkpoint FILE [model and data options]\n\n"
                  "Test accuracy, loss, per-class accuracy and the confusion matrix of a\n"
                  "checkpoint.  A training checkpoint names its model; for others (init,\n"
                  "best) give the model options it was trained with.\n\n"
                  "  --checkpoint FILE      a checkpoint.safetensors or best.safetensors\n\n",
                  stdout);
            config_print_help(stdout);
            return 0;
        }
        int r = checkpoint_option(argc, argv, &i, &ckpt);
        if (r == 0) r = config_parse_option(&c, argc, argv, &i);
        if (r < 0) return 2;
        if (r == 0) return fail("eval: unknown option '%s' (see --help)", argv[i]), 2;
    }
    if (!ckpt) return fail("eval: --checkpoint FILE is required"), 2;
    if (config_finish(&c)) return 2;
    /* A training checkpoint describes its model; others need the options. */
    if (checkpoint_model(&c, ckpt)) return 1;
    c.subset = 1; /* the training set is only needed for its normalisation statistics */
    ckpt_model m;
    if (ckpt_model_open(&c, &m)) {
        ckpt_model_close(&m);
        return 1;
    }
    const run_data d = m.d;
    int k = d.n_classes, rc = 1;
    long *conf = calloc((size_t)k * (size_t)k, sizeof *conf);
    double loss, acc;
    if (conf && evaluate(m.net, m.g, d.test, &d.norm, c.batch, &loss, &acc, conf) == 0) {
        printf("checkpoint %s: %d test images\ntest accuracy %.4f  loss %.4f\n\n", ckpt, d.test->n,
               acc, loss);
        printf("%-12s %8s   confusion (rows: true, columns: predicted)\n", "class", "accuracy");
        for (int i = 0; i < k; i++) {
            long row = 0;
            for (int j = 0; j < k; j++) row += conf[i * k + j];
            printf("%-12s %8.4f  ", d.test->class_names[i], row ? (double)conf[i * k + i] / row : 0);
            for (int j = 0; j < k; j++) printf(" %5ld", conf[i * k + j]);
            printf("\n");
        }
        rc = 0;
    }
    free(conf);
    ckpt_model_close(&m);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "train")) {
        /* Under mpirun, data parallel: a rank that fails alone (its data, an
         * error) ends every rank; a stop all ranks agreed on ends normally. */
        if (tn_dist_init(&argc, &argv) != TN_OK) return fail("%s", tn_error_message()), 1;
        int rc = cmd_train(argc, argv);
        if (rc != 0 && rc != 3 && rc != 130 && tn_dist_size() > 1) tn_dist_abort(rc);
        tn_dist_finalize();
        return rc;
    }
    if (!strcmp(cmd, "compare") || !strcmp(cmd, "sweep")) {
        /* Under mpirun, task parallel: whole runs on separate ranks. */
        if (tn_dist_init(&argc, &argv) != TN_OK) return fail("%s", tn_error_message()), 1;
        int rc = cmd_experiment(argc, argv, cmd);
        if (rc != 0 && rc != 130 && tn_dist_world_size() > 1) tn_dist_abort(rc);
        tn_dist_finalize();
        return rc;
    }
    if (!strcmp(cmd, "eval")) return cmd_eval(argc, argv);
    if (!strcmp(cmd, "export")) return cmd_export(argc, argv);
    if (!strcmp(cmd, "export-onnx")) return cmd_export_onnx(argc, argv);
    if (!strcmp(cmd, "sharpness")) return cmd_sharpness(argc, argv);
    if (!strcmp(cmd, "pair")) return cmd_pair(argc, argv);
    fail("unknown command '%s' (train, compare, sweep, pair, eval, sharpness, export, export-onnx)", cmd);
    return 2;
}
