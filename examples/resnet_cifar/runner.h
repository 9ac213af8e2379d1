/* examples/resnet_cifar/runner.h - runs a list of training runs and collects
 * their results: one after another in this process, or as child processes
 * (fork, then train_run on the data this process loaded; no exec), `jobs`
 * at a time.  A run whose result.txt matches its options is not run again,
 * and an interrupted one resumes from its checkpoint, so a list can be
 * handed over again after a stop. */
#ifndef RESNET_CIFAR_RUNNER_H
#define RESNET_CIFAR_RUNNER_H

#include "run.h"

typedef struct run_job {
    run_config config;   /* finished (config_finish); config.out is its folder */
    char label[192];     /* printed in the progress lines */
    run_result result;   /* valid when status == RUN_DONE */
    int status;          /* RUN_DONE, RUN_INTERRUPTED or RUN_ERROR */
    bool skipped;        /* finished earlier: result read from result.txt */
    double sharpness;    /* compare --sharpness: of the final weights */
} run_job;

/* Runs every job of jobs[0..n-1] not finished earlier.  in_process: in
 * this process, one after another, each run printing its progress (unless
 * quiet).  Otherwise up to jobs_at_once child processes at once, each
 * writing its output to <out>/train.log; the caller must not have run
 * multi-threaded tensor code before (OpenMP's threads do not survive a
 * fork).  Returns RUN_DONE when all are done, RUN_INTERRUPTED after Ctrl-C
 * or a run stopped early (the others still finish or stop), RUN_ERROR if a
 * run failed (its message printed); the statuses say which. */
int runner_run(run_job *jobs, int n, const run_data *d, int jobs_at_once, bool in_process);

/* Task parallel under mpirun (tn_dist_world_size() > 1; every rank calls it
 * with the same jobs): the ranks in groups of ranks_per_run consecutive
 * ranks (tn_dist_split), group g running jobs g, g + G, ... of the G groups
 * in this process, one after another, quiet, each run data parallel within
 * its group alone.  A run that fails ends the whole job (tn_dist_abort)
 * after its message.  Then every rank waits for the others, rank 0 checks
 * that it reads every job's result.txt, and every rank receives each
 * job's result from the rank that ran it (unrounded, as runner_run in one
 * process gives).  Returns RUN_DONE on every rank when all are done,
 * RUN_INTERRUPTED on every rank when a rank was stopped, RUN_ERROR when
 * ranks_per_run does not divide the ranks or rank 0 misses a result. */
int runner_run_ranks(run_job *jobs, int n, const run_data *d, int ranks_per_run);

#endif
