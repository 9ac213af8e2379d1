/* tensor/safetensors.h - named float32 arrays in the safetensors format:
 * 8-byte little-endian header length N, N bytes of JSON
 *   {"<name>": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]},
 *    "__metadata__": {"<key>": "<string value>"}}
 * then the raw little-endian data.  PyTorch reads it with a few lines of
 * Python (scripts/safetensors_to_torch.py).  One file carries a model's
 * parameters and buffers, and can also carry optimizer state, the schedule
 * step and RNG states (as more tensors and metadata), for exact resume. */
#ifndef TENET_SAFETENSORS_H
#define TENET_SAFETENSORS_H

#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ----------------------------------------------------------------- write */

typedef struct tn_st_writer tn_st_writer;

tn_st_writer *tn_st_writer_new(void); /* NULL (and a message) if out of memory */
void tn_st_writer_free(tn_st_writer *w);
/* Add a tensor; `data` is referenced, not copied: keep it valid until
 * tn_st_save().  Names must be unique. */
tn_status tn_st_add(tn_st_writer *w, const char *name, int ndim, const int *shape,
                    const float *data);
/* Add (or replace) a metadata string. */
tn_status tn_st_add_meta(tn_st_writer *w, const char *key, const char *value);
/* Write atomically: a temporary file beside `path`, fsync, rename. */
tn_status tn_st_save(const tn_st_writer *w, const char *path);

/* ------------------------------------------------------------------ read */

typedef struct tn_st_file tn_st_file;

typedef struct tn_st_entry {
    const char *name;
    int ndim;
    int shape[TN_MAX_DIMS];
    size_t numel;
    const float *data; /* owned by the file */
} tn_st_entry;

/* Read and validate the whole file (header JSON, dtypes, shapes, offsets
 * inside the data, no overlaps).  On error *out is NULL and the message
 * names the file and what is wrong. */
tn_status tn_st_open(const char *path, tn_st_file **out);
void tn_st_close(tn_st_file *f);
size_t tn_st_count(const tn_st_file *f);
const tn_st_entry *tn_st_at(const tn_st_file *f, size_t i);
const tn_st_entry *tn_st_find(const tn_st_file *f, const char *name); /* NULL if absent */
const char *tn_st_meta(const tn_st_file *f, const char *key);        /* NULL if absent */

/* Copy the entry `name` into dst (numel floats) after checking it exists
 * and has exactly `shape`; the error names the tensor and the mismatch. */
tn_status tn_st_read_into(const tn_st_file *f, const char *name, int ndim, const int *shape,
                          float *dst);

/* A parameter store as a whole: every tensor (parameters and buffers) under
 * its name.  This is the one way a store is saved and loaded (tn_nn_save()
 * and tn_nn_load() wrap it for a file of its own).
 *
 * Loading is exact both ways, and loads nothing unless all is well:
 *   - every tensor of the store must be in the file with its shape;
 *   - every tensor of the file must be in the store, except those whose
 *     names start with `extra_prefix`, which the caller declares expected
 *     and which are skipped: "optim." for a training checkpoint (the
 *     optimizer state tn_optim_save() wrote under that prefix), "" to accept
 *     any extra tensor (a file that also holds test data), NULL for none;
 *     PyTorch's batch-norm counters ("*.num_batches_tracked", which a file
 *     in PyTorch's state_dict names carries) are always skipped.
 * An unexpected tensor is TN_ERR_FORMAT naming the file, the tensor and how
 * many there are: a checkpoint of another model is not half loaded.
 * Metadata is never checked here. */
tn_status tn_st_add_params(tn_st_writer *w, const tn_params *ps);
tn_status tn_st_load_params(const tn_st_file *f, tn_params *ps, const char *extra_prefix);

#ifdef __cplusplus
}
#endif
#endif
