/* tensor/core.c - errors, the clock, atomic file writes, the RNG, threads
 * and shape helpers. */
#include "internal.h"

#include <cblas.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* ---------------------------------------------------------------- errors */

static _Thread_local char error_message[1024];

const char *tn_error_message(void) { return error_message; }

tn_status tn_error_set(tn_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(error_message, sizeof error_message, fmt, ap);
    va_end(ap);
    return status;
}

const char *tn_status_name(tn_status status)
{
    switch (status) {
    case TN_OK: return "ok";
    case TN_ERR_NOMEM: return "out of memory";
    case TN_ERR_ARG: return "bad argument";
    case TN_ERR_IO: return "i/o error";
    case TN_ERR_FORMAT: return "bad format";
    case TN_ERR_STATE: return "bad state";
    }
    return "unknown status";
}

_Noreturn void tn_misuse(const char *op, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "tenet: %s: ", op);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    abort();
}

_Noreturn void tn_misuse_node(const tn_tensor *out, const char *file, int line,
                              const char *fmt, ...)
{
    va_list ap;
    char buf[64];
    fprintf(stderr, "tenet: %s: ", out->op ? out->op->name : "?");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs(" (inputs:", stderr);
    for (int i = 0; i < out->n_in; i++)
        fprintf(stderr, " %s", out->in[i] ? tn_shape_str(out->in[i], buf, sizeof buf) : "NULL");
    fprintf(stderr, ") at %s:%d\n", file, line);
    fflush(stderr);
    abort();
}

char *tn_shape_str(const tn_tensor *t, char *buf, size_t size)
{
    size_t n = (size_t)snprintf(buf, size, "(");
    for (int i = 0; i < t->ndim && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, i ? ", %d" : "%d", t->shape[i]);
    if (n < size) snprintf(buf + n, size - n, ")");
    return buf;
}

size_t tn_shape_numel(int ndim, const int *shape)
{
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)shape[i];
    return n;
}

bool tn_same_shape(const tn_tensor *a, const tn_tensor *b)
{
    if (a->ndim != b->ndim) return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return false;
    return true;
}

void tn_check_same_shape(tn_tensor *out) { tn_set_shape(out, out->in[0]->ndim, out->in[0]->shape); }

void tn_set_shape(tn_tensor *out, int ndim, const int *shape)
{
    TN_REQUIRE(out, ndim >= 0 && ndim <= TN_MAX_DIMS, "output rank %d is not in 0..%d", ndim,
               TN_MAX_DIMS);
    out->ndim = ndim;
    for (int i = 0; i < ndim; i++) {
        TN_REQUIRE(out, shape[i] > 0, "output dim %d is %d", i, shape[i]);
        out->shape[i] = shape[i];
    }
    out->numel = tn_shape_numel(ndim, shape);
}

/* ----------------------------------------------------------------- clock */

double tn_clock_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ----------------------------------------------------------------- files */

tn_status tn_write_file_atomic(const char *path, const void *data, size_t size)
{
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    if (!tmp) return tn_error_set(TN_ERR_NOMEM, "tenet: %s: out of memory", path);
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp.XXXXXX", 12);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        tn_status st = tn_error_set(TN_ERR_IO, "tenet: cannot write '%s': %s", path, strerror(errno));
        free(tmp);
        return st;
    }
    (void)fchmod(fd, 0644); /* mkstemp's 0600 is for secrets, not results */
    const char *p = data;
    size_t left = size;
    int err = 0;
    while (left > 0 && !err) {
        ssize_t n = write(fd, p, left);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) err = n < 0 ? errno : EIO;
        else p += n, left -= (size_t)n;
    }
    if (!err && fsync(fd) != 0) err = errno;
    if (close(fd) != 0 && !err) err = errno;
    if (!err && rename(tmp, path) != 0) err = errno;
    if (err) {
        unlink(tmp);
        free(tmp);
        return tn_error_set(TN_ERR_IO, "tenet: cannot write '%s': %s", path, strerror(err));
    }
    free(tmp);
    /* Make the rename itself durable. */
    char *dir = malloc(plen + 2);
    if (dir) {
        memcpy(dir, path, plen + 1);
        char *slash = strrchr(dir, '/');
        if (slash) *(slash == dir ? slash + 1 : slash) = 0;
        else strcpy(dir, ".");
        int dfd = open(dir, O_RDONLY | O_DIRECTORY);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
        free(dir);
    }
    return TN_OK;
}

/* ------------------------------------------------------------------- rng */

uint32_t tn_rng_u32(tn_rng *rng)
{
    uint64_t old = rng->state;
    rng->state = old * 6364136223846793005ULL + rng->inc;
    uint32_t xorshifted = (uint32_t)(((old >> 18u) ^ old) >> 27u);
    uint32_t rot = (uint32_t)(old >> 59u);
    return (xorshifted >> rot) | (xorshifted << ((-rot) & 31u));
}

void tn_rng_seed(tn_rng *rng, uint64_t seed, uint64_t stream)
{
    rng->state = 0;
    rng->inc = (stream << 1u) | 1u;
    rng->has_spare = false;
    rng->spare = 0.0f;
    tn_rng_u32(rng);
    rng->state += seed;
    tn_rng_u32(rng);
}

uint32_t tn_rng_below(tn_rng *rng, uint32_t n)
{
    if (n == 0) tn_misuse("tn_rng_below", "n must be > 0");
    uint32_t threshold = (0u - n) % n;
    for (;;) {
        uint32_t r = tn_rng_u32(rng);
        if (r >= threshold) return r % n;
    }
}

float tn_rng_uniform(tn_rng *rng) { return (float)(tn_rng_u32(rng) >> 8) * 0x1p-24f; }

float tn_rng_normal(tn_rng *rng)
{
    if (rng->has_spare) {
        rng->has_spare = false;
        return rng->spare;
    }
    /* Box-Muller in double; u1 in (0, 1] so the log is finite. */
    double u1 = ((double)(tn_rng_u32(rng) >> 8) + 1.0) * 0x1p-24;
    double u2 = (double)(tn_rng_u32(rng) >> 8) * 0x1p-24;
    double r = sqrt(-2.0 * log(u1));
    double th = 6.283185307179586 * u2;
    rng->spare = (float)(r * sin(th));
    rng->has_spare = true;
    return (float)(r * cos(th));
}

void tn_fill_uniform(float *x, size_t n, float lo, float hi, tn_rng *rng)
{
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * tn_rng_uniform(rng);
}

void tn_fill_normal(float *x, size_t n, float mean, float std, tn_rng *rng)
{
    for (size_t i = 0; i < n; i++) x[i] = mean + std * tn_rng_normal(rng);
}

/* --------------------------------------------------------------- threads */

static int n_threads = 0; /* process-wide, like OpenBLAS's own setting */

void tn_set_threads(int n)
{
    if (n < 1) tn_misuse("tn_set_threads", "thread count %d must be >= 1", n);
    n_threads = n;
    openblas_set_num_threads(n);
#ifdef _OPENMP
    omp_set_num_threads(n);
#endif
}

void tn_parallel(int nthr, void (*fn)(void *ctx, int tid, int nthr), void *ctx)
{
    if (nthr <= 0) nthr = tn_threads();
    const bool profiling = tn_profile_enabled();
    const int blas = openblas_get_num_threads();
    tn_profile_enable(false);
    openblas_set_num_threads(1);
#ifdef _OPENMP
#pragma omp parallel num_threads(nthr)
    fn(ctx, omp_get_thread_num(), omp_get_num_threads());
#else
    fn(ctx, 0, 1);
#endif
    openblas_set_num_threads(blas);
    tn_profile_enable(profiling);
}

int tn_threads(void)
{
    if (n_threads > 0) return n_threads;
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}
