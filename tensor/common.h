/* tensor/common.h - what every part of tenet shares, tensors or not: the
 * status codes and the thread's error message, programmer-misuse aborts,
 * the random number generator, the monotonic clock and atomic file writes.
 * data/ includes only this header; tensor/tensor.h includes it.
 *
 * Conventions
 *   - Programmer misuse aborts through tn_misuse() naming the function.
 *   - Failures from outside (memory, files, user options) return a
 *     tn_status and leave a message in tn_error_message().  Constructors
 *     that can fail for such a reason other than memory return a tn_status
 *     and fill an out pointer (tn_dataset_new, tn_resnet_new,
 *     tn_image_folder_load, tn_st_open, ...); those whose only failure is
 *     out of memory (tn_graph_new, tn_params_new, tn_st_writer_new) return
 *     NULL and set the message.
 */
#ifndef TENET_COMMON_H
#define TENET_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- errors */

typedef enum tn_status {
    TN_OK = 0,
    TN_ERR_NOMEM,  /* an allocation failed */
    TN_ERR_ARG,    /* a bad argument or option from the caller's user */
    TN_ERR_IO,     /* a file could not be opened, read or written */
    TN_ERR_FORMAT, /* a file's contents are malformed */
    TN_ERR_STATE,  /* the object is in a state that forbids the call */
} tn_status;

/* The message of the last error set on this thread ("" if none). */
const char *tn_error_message(void);
/* Set the thread's error message (printf-style) and return `status`.
 * Every message of the library starts "tenet: " followed by the function
 * ("tenet: tn_loader_new: batch_size 0 < 1") or, for a file's problem, the
 * file ("tenet: 'ckpt.safetensors': truncated ..."), as tn_misuse() prints
 * "tenet: <op>: ...". */
tn_status tn_error_set(tn_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
const char *tn_status_name(tn_status status);

/* Abort with "tenet: <op>: <message>" (misuse by the programmer). */
_Noreturn void tn_misuse(const char *op, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Write `size` bytes to `path` atomically: a unique temporary file beside
 * it, fsync, rename, fsync of the folder.  On failure the target is
 * untouched, the temporary removed, and the message names the file. */
tn_status tn_write_file_atomic(const char *path, const void *data, size_t size);

/* ------------------------------------------------------------------- rng */

/* PCG32: small, fast, explicitly seeded; copy the struct to fork a stream. */
typedef struct tn_rng {
    uint64_t state, inc;
    float spare;    /* second Box-Muller deviate */
    bool has_spare;
} tn_rng;

void tn_rng_seed(tn_rng *rng, uint64_t seed, uint64_t stream);
uint32_t tn_rng_u32(tn_rng *rng);
uint32_t tn_rng_below(tn_rng *rng, uint32_t n); /* uniform in [0, n), unbiased */
float tn_rng_uniform(tn_rng *rng);              /* uniform in [0, 1) */
float tn_rng_normal(tn_rng *rng);               /* standard normal */

/* ----------------------------------------------------------------- clock */

/* Monotonic wall clock in seconds (CLOCK_MONOTONIC): for durations only. */
double tn_clock_now(void);

#ifdef __cplusplus
}
#endif
#endif
