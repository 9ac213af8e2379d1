/* examples/resnet_cifar/runner.c - runs a list of training runs, in this
 * process or in forked children, skipping the finished ones. */
#include "runner.h"

#include <errno.h>
#include <fcntl.h>
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
        fprintf(stderr, "[%d/%d] %s\n", k + 1, n, j->label);
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

int runner_run(run_job *jobs, int n, const run_data *d, int jobs_at_once, bool in_process)
{
    for (int k = 0; k < n; k++) {
        jobs[k].status = RUN_ERROR;
        jobs[k].skipped = false;
        memset(&jobs[k].result, 0, sizeof jobs[k].result);
    }
    return in_process ? run_sequential(jobs, n, d)
                      : run_forked(jobs, n, d, jobs_at_once > 1 ? jobs_at_once : 1);
}
