/* examples/resnet_cifar/runner.c - runs a list of training runs, in this
 * process or in forked children, skipping the finished ones. */
#include "runner.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* 0: finished earlier (result filled), -1: to run, 1: made with other
 * options or unreadable options (message printed). */
static int finished_earlier(run_job *j)
{
    char opts[4096];
    if (config_fingerprint(&j->config, opts, sizeof opts)) return fail("%s: options too long", j->label), 1;
    int have = result_read(j->config.out, opts, &j->result);
    if (have == 0) j->skipped = true;
    return have;
}

static void report_done(const run_job *j, int done, int n)
{
    if (tn_dist_rank() > 0) return; /* a run's group reports once */
    if (j->skipped)
        fprintf(stderr, "[%d/%d] %s: finished earlier, skipped\n", done, n, j->label);
    else if (j->status == RUN_DONE)
        fprintf(stderr, "[%d/%d] %s: test acc %.4f (%.0f s)\n", done, n, j->label,
                j->result.test_acc, j->result.seconds);
}

static int run_sequential(run_job *jobs, int n, const run_data *d)
{
    int rc = RUN_DONE;
    for (int k = 0; k < n && rc == RUN_DONE; k++) {
        run_job *j = &jobs[k];
        int have = finished_earlier(j);
        if (have > 0) { j->status = rc = RUN_ERROR; break; }
        if (have == 0) {
            j->status = RUN_DONE;
            report_done(j, k + 1, n);
            continue;
        }
        if (tn_dist_rank() == 0) fprintf(stderr, "[%d/%d] %s\n", k + 1, n, j->label);
        fflush(stderr);
        j->status = train_run(&j->config, d, &j->result);
        if (j->status != RUN_DONE) rc = j->status == RUN_INTERRUPTED ? RUN_INTERRUPTED : RUN_ERROR;
    }
    return rc;
}

/* The child: train_run on the inherited data, its output and the RESULT
 * line into <out>/train.log. */
static void child_main(run_job *j, const run_data *d)
{
    char log[1100];
    snprintf(log, sizeof log, "%s/train.log", j->config.out);
    int fd = make_dirs(j->config.out) ? -1 : open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
    }
    int st = train_run(&j->config, d, &j->result);
    if (st == RUN_DONE) result_print(stdout, &j->result);
    fflush(NULL);
    _exit(st == RUN_DONE ? 0 : st == RUN_INTERRUPTED ? 130 : 1);
}

static int run_forked(run_job *jobs, int n, const run_data *d, int at_once)
{
    enum { MAX_AT_ONCE = 64 };
    pid_t pid_of[MAX_AT_ONCE] = {0};
    int job_of[MAX_AT_ONCE];
    if (at_once > MAX_AT_ONCE) at_once = MAX_AT_ONCE;
    int next = 0, running = 0, done = 0, rc = RUN_DONE;
    for (;;) {
        while (rc == RUN_DONE && next < n && running < at_once) {
            run_job *j = &jobs[next++];
            int have = finished_earlier(j);
            if (have > 0) { j->status = rc = RUN_ERROR; break; }
            if (have == 0) {
                j->status = RUN_DONE;
                report_done(j, ++done, n);
                continue;
            }
            j->status = RUN_ERROR;
            fflush(NULL);
            pid_t pid = fork();
            if (pid == 0) child_main(j, d);
            if (pid < 0) {
                rc = fail("%s: cannot start a process: %s", j->label, strerror(errno));
                break;
            }
            int slot = 0;
            while (pid_of[slot]) slot++;
            pid_of[slot] = pid;
            job_of[slot] = (int)(j - jobs);
            running++;
        }
        if (running == 0) break;
        int status;
        pid_t pid = wait(&status);
        if (pid < 0) {
            if (errno == EINTR) continue; /* Ctrl-C: the children stop and save */
            rc = fail("wait: %s", strerror(errno));
            break;
        }
        for (int slot = 0; slot < at_once; slot++) {
            if (pid_of[slot] != pid) continue;
            pid_of[slot] = 0;
            running--;
            run_job *j = &jobs[job_of[slot]];
            int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
            char opts[4096];
            if (code == 0 && config_fingerprint(&j->config, opts, sizeof opts) == 0 &&
                result_read(j->config.out, opts, &j->result) == 0) {
                j->status = RUN_DONE;
                report_done(j, ++done, n);
            } else if (code == 130) {
                j->status = RUN_INTERRUPTED;
                if (rc == RUN_DONE) rc = RUN_INTERRUPTED;
                fprintf(stderr, "%s: stopped (checkpoint saved); rerun to resume\n", j->label);
            } else {
                j->status = RUN_ERROR;
                rc = RUN_ERROR;
                fail("%s failed (see %s/train.log); rerun to resume", j->label, j->config.out);
            }
        }
    }
    return rc;
}

static void reset_jobs(run_job *jobs, int n)
{
    for (int k = 0; k < n; k++) {
        jobs[k].status = RUN_ERROR;
        jobs[k].skipped = false;
        memset(&jobs[k].result, 0, sizeof jobs[k].result);
    }
}

int runner_run(run_job *jobs, int n, const run_data *d, int jobs_at_once, bool in_process)
{
    reset_jobs(jobs, n);
    return in_process ? run_sequential(jobs, n, d)
                      : run_forked(jobs, n, d, jobs_at_once > 1 ? jobs_at_once : 1);
}

/* This group's jobs (k % groups == group) run one after another, quiet,
 * labelled with the ranks that run them. */
static int run_group_share(run_job *jobs, int n, const run_data *d, int groups, int group)
{
    const int m = (n - group + groups - 1) / groups;
    if (m <= 0) return RUN_DONE;
    run_job *mine = calloc((size_t)m, sizeof *mine);
    if (!mine) return fail("out of memory");
    const int first = tn_dist_world_rank() - tn_dist_rank(), last = first + tn_dist_size() - 1;
    for (int i = 0; i < m; i++) {
        run_job *j = &mine[i];
        *j = jobs[group + i * groups];
        j->config.quiet = true;
        char ranks[32];
        if (first == last) snprintf(ranks, sizeof ranks, "rank %d", first);
        else snprintf(ranks, sizeof ranks, "ranks %d-%d", first, last);
        size_t len = strlen(j->label);
        snprintf(j->label + len, sizeof j->label - len, " (%s)", ranks);
    }
    const int rc = run_sequential(mine, m, d);
    for (int i = 0; i < m; i++) {
        run_job *j = &jobs[group + i * groups];
        j->status = mine[i].status;
        j->skipped = mine[i].skipped;
        j->result = mine[i].result;
    }
    free(mine);
    return rc;
}

int runner_run_ranks(run_job *jobs, int n, const run_data *d, int ranks_per_run)
{
    const int world = tn_dist_world_size(), me = tn_dist_world_rank();
    if (ranks_per_run < 1 || world % ranks_per_run)
        return fail("--ranks-per-run %d does not divide the %d ranks", ranks_per_run, world);
    reset_jobs(jobs, n);
    const int groups = world / ranks_per_run, group = me / ranks_per_run;
    if (tn_dist_split(group) != TN_OK) return fail("%s", tn_error_message());
    int rc = run_group_share(jobs, n, d, groups, group);
    if (tn_dist_unsplit() != TN_OK) rc = fail("%s", tn_error_message());
    if (rc != RUN_DONE && rc != RUN_INTERRUPTED) tn_dist_abort(1); /* its message printed */
    /* Every rank is here: whether one was stopped (Ctrl-C, --stop-after-steps). */
    long stopped = rc == RUN_INTERRUPTED;
    if (tn_dist_sum_l(&stopped, 1) != TN_OK) return fail("%s", tn_error_message());
    if (stopped) return RUN_INTERRUPTED;
    /* Every result.txt is written: rank 0 checks that it sees them all (a
     * shared file system), and each run's results come from the rank that
     * ran it as it holds them (result.txt rounds), so that the tables are
     * those of the runs in one process. */
    bool ok = true;
    for (int k = 0; k < n; k++) {
        run_job *j = &jobs[k], check = *j;
        if (me == 0 && ok && finished_earlier(&check) != 0) {
            fail("%s: no result.txt in %s after its run", j->label, j->config.out);
            ok = false;
        }
        j->status = RUN_DONE;
        if (tn_dist_broadcast(&j->result, sizeof j->result, (k % groups) * ranks_per_run) != TN_OK)
            return fail("%s", tn_error_message());
    }
    return tn_dist_all_ok(ok) ? RUN_DONE : RUN_ERROR;
}
