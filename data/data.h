/* data/data.h - data sets in memory (CIFAR binary files, image folders),
 * preparation (normalisation, augmentation, mixup/cutmix, label smoothing,
 * subsets and validation splits) and a double-buffered batch loader.
 *
 * data/ knows nothing of tensors or graphs: it hands out plain float32 and
 * int32 arrays that a training program wraps with tn_from_data().  It uses
 * tensor/common.h only: error reporting (tn_status, tn_error_set), tn_rng,
 * the clock and atomic file writes.
 *
 * Conventions
 *   - A data set holds uint8 pixels as channel planes, (N, C, H, W), one
 *     int32 label per image, and the names of its classes.
 *   - Everything random derives from an explicit tn_rng: the same seed gives
 *     the same batches, whatever the thread timing.
 *   - Errors from outside (files, formats, options, memory) return a status
 *     and leave a message naming the file and what was wrong; nothing that
 *     was allocated on the way is left behind.
 */
#ifndef TENET_DATA_H
#define TENET_DATA_H

#include "../tensor/common.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TN_DATA_MAX_CHANNELS 4

/* --------------------------------------------------------------- data set */

typedef struct tn_dataset {
    int n, c, h, w;          /* pixels: (n, c, h, w) */
    uint8_t *pixels;         /* (n, c, h, w) channel planes, row-major */
    int32_t *labels;         /* (n) in [0, n_classes) */
    int n_classes;
    char **class_names;      /* (n_classes) strings */
    /* CIFAR-100 only (NULL / 0 otherwise): the 20 super-classes. */
    int32_t *coarse_labels;  /* (n) in [0, n_coarse) */
    int n_coarse;
    char **coarse_names;     /* (n_coarse) strings */
} tn_dataset;

/* An empty data set of n images (pixels and labels zeroed) whose classes are
 * named "0", "1", ...; change names with tn_dataset_set_class_name(). */
tn_status tn_dataset_new(tn_dataset **out, int n, int c, int h, int w, int n_classes);
void tn_dataset_free(tn_dataset *ds);
tn_status tn_dataset_set_class_name(tn_dataset *ds, int k, const char *name);
/* Pixels of image i: (c, h, w). */
static inline uint8_t *tn_dataset_image(const tn_dataset *ds, int i)
{
    return ds->pixels + (size_t)i * (size_t)ds->c * (size_t)ds->h * (size_t)ds->w;
}
/* counts: (n_classes) images per class. */
void tn_dataset_class_counts(const tn_dataset *ds, int *counts);
/* TN_ERR_FORMAT naming `what` if a label is outside [0, n_classes). */
tn_status tn_dataset_check_labels(const tn_dataset *ds, const char *what);

/* A new data set of the images `idx` (n_idx of them, in that order). */
tn_status tn_dataset_select(tn_dataset **out, const tn_dataset *ds, const int *idx, int n_idx);
/* The first `per_class` images of every class, in data-set order (a class
 * with fewer keeps all of its images): a quick-run subset. */
tn_status tn_dataset_subset_stratified(tn_dataset **out, const tn_dataset *ds, int per_class);
/* A held-out validation split, stratified and deterministic: from every class
 * round(val_fraction * count) images chosen by a shuffle seeded with `seed`
 * go to *val, the rest to *train; both keep data-set order.  val_fraction in
 * (0, 1). */
tn_status tn_dataset_split_stratified(const tn_dataset *ds, float val_fraction, uint64_t seed,
                                      tn_dataset **train, tn_dataset **val);

/* ------------------------------------------------------------ CIFAR binary */

typedef enum tn_cifar_kind {
    TN_CIFAR_10,  /* records: label byte, 3072 pixel bytes */
    TN_CIFAR_100, /* records: coarse label byte, fine label byte, 3072 pixel bytes */
} tn_cifar_kind;

/* Pixels are R, G, B planes of 32x32, row-major, as in the files.
 * The folder is the extracted archive: cifar-10-batches-bin/ (data_batch_1..5.bin,
 * test_batch.bin, batches.meta.txt) or cifar-100-binary/ (train.bin, test.bin,
 * fine_label_names.txt, coarse_label_names.txt).  Class names come from the
 * .txt files when present, else "0", "1", ... */
tn_status tn_cifar_load(tn_dataset **out, const char *dir, tn_cifar_kind kind, bool train);
/* The records of a list of files, one after the other (no class names). */
tn_status tn_cifar_load_files(tn_dataset **out, const char *const *paths, int n_paths,
                              tn_cifar_kind kind);
/* Records from memory; `name` is used in error messages. */
tn_status tn_cifar_parse(tn_dataset **out, const uint8_t *buf, size_t size, tn_cifar_kind kind,
                         const char *name);

/* ----------------------------------------------------------- image folders */

typedef enum tn_resize_mode {
    TN_RESIZE_NONE,     /* an image of another size is an error */
    TN_RESIZE_NEAREST,
    TN_RESIZE_BILINEAR, /* half-pixel centres, no antialiasing */
} tn_resize_mode;

typedef struct tn_image_folder_options {
    int channels;          /* 1 (grey) or 3 (RGB, default when 0) */
    int height, width;     /* wanted size; 0 = the size of the first image */
    tn_resize_mode resize; /* how to bring other sizes to height x width */
    int threads;           /* decoding threads; 0 = OpenMP's default */
    const char *cache_path; /* decoded cache file, or NULL for none */
} tn_image_folder_options;

typedef struct tn_image_folder_info {
    bool from_cache;    /* the cache was valid and used */
    bool cache_written; /* a cache file was (re)written */
    int files;          /* images listed */
    double seconds;     /* wall time of the load */
    double cache_seconds; /* of which reading or writing the cache */
    int missing_classes; /* classes of the given list with no folder (their
                            counts in tn_dataset_class_counts() are 0) */
} tn_image_folder_info;

/* root/<class>/<file>.{png,jpg,jpeg,bmp,tga} (extensions in any case):
 * labels follow the sorted class-folder names of this folder alone (see
 * tn_image_folder_load_classes() for a test split), files are sorted by name
 * within a class, decoding runs on `threads` threads.  With a cache path, a
 * valid cache (magic, version, size, count, checksum over labels and
 * pixels, source folder, class names, options and a fingerprint of the
 * file list: names, sizes, modification times) is read instead of
 * decoding; otherwise the
 * images are decoded and the cache is written atomically (temporary file +
 * rename).  A cache that cannot be written is not an error (info says so).
 * opt and info may be NULL. */
tn_status tn_image_folder_load(tn_dataset **out, const char *root,
                               const tn_image_folder_options *opt, tn_image_folder_info *info);

/* The same with the labels of a known class list, by name (torchvision's
 * class_to_idx): root/<classes[k]>/ holds the images of label k and the data
 * set has n_classes classes named classes[0..n_classes).  Load a test or
 * validation folder against its training split's class names, so that a
 * split with fewer classes keeps the training labels.  A class folder whose
 * name is not in the list is TN_ERR_FORMAT naming the folder and the class;
 * a class of the list without a folder is no error: it keeps its index, has
 * no images, and is counted in info->missing_classes.  A list with an empty
 * or repeated name is TN_ERR_ARG.  The cache records the class list and the
 * folders, so a cache made with other classes is rebuilt, never reused. */
tn_status tn_image_folder_load_classes(tn_dataset **out, const char *root,
                                       const char *const *classes, int n_classes,
                                       const tn_image_folder_options *opt,
                                       tn_image_folder_info *info);

/* Decode one encoded image (PNG, JPEG, BMP or TGA; `name` for messages and
 * for recognising TGA by its extension) into dst: (channels, height, width)
 * planes, resizing with `resize` if its size differs (TN_RESIZE_NONE: an
 * error naming the file and both sizes). */
tn_status tn_image_decode(const uint8_t *buf, size_t size, const char *name, int channels,
                          int height, int width, tn_resize_mode resize, uint8_t *dst);
/* Read and decode one image file the same way. */
tn_status tn_image_load_file(const char *path, int channels, int height, int width,
                             tn_resize_mode resize, uint8_t *dst);
/* Resize planes src: (c, sh, sw) -> dst: (c, dh, dw). */
void tn_image_resize(const uint8_t *src, int c, int sh, int sw, uint8_t *dst, int dh, int dw,
                     tn_resize_mode mode);

/* ------------------------------------------------------------ preparation */

/* Per-channel normalisation x = (p / 255 - mean[c]) / std[c]. */
typedef struct tn_norm {
    int c;
    float mean[TN_DATA_MAX_CHANNELS];
    float std[TN_DATA_MAX_CHANNELS];
} tn_norm;

/* Mean and (population) standard deviation per channel over all pixels of
 * ds, on the [0, 1] scale: the statistics of a training set. */
void tn_norm_from_dataset(tn_norm *norm, const tn_dataset *ds);
/* Identity-like normalisation: mean 0, std 1 (x = p / 255). */
void tn_norm_identity(tn_norm *norm, int c);
/* Normalise n images src: (n, c, h, w) uint8 into dst: (n, c, h, w) float. */
void tn_norm_apply(const tn_norm *norm, const uint8_t *src, int n, int h, int w, float *dst);

/* Per-sample and per-batch augmentation; zero-initialise for none. */
typedef struct tn_augment {
    int crop_pad;          /* >0: zero-pad by this many pixels, take a random
                              h x w crop (4 for CIFAR) */
    bool hflip;            /* flip left-right with probability 1/2 */
    int cutout;            /* >0: zero a square of this side (after
                              normalisation, so it shows the mean), centred
                              uniformly, clipped at the borders */
    float noise_std;       /* >0: add N(0, noise_std^2) to the normalised input */
    float mixup_alpha;     /* >0: mixup, lambda ~ Beta(alpha, alpha) */
    float cutmix_alpha;    /* >0: cutmix, lambda ~ Beta(alpha, alpha); with
                              both on, a batch gets one of them, 1/2 each */
    float mix_prob;        /* probability that a batch is mixed; 0 means 1 */
    float label_smoothing; /* soft targets y (1 - eps) + eps / K */
} tn_augment;

/* The random choices of one sample. */
typedef struct tn_augment_params {
    int dy, dx;         /* crop window origin in the padded image, in [0, 2 pad] */
    bool flip;
    int cut_y, cut_x;   /* cutout centre, or -1 */
} tn_augment_params;

/* Draw a sample's choices from rng (always the same number of draws for a
 * given configuration). */
void tn_augment_draw(const tn_augment *aug, int h, int w, tn_rng *rng, tn_augment_params *p);
/* Apply them to one image src: (c, h, w) -> dst: (c, h, w), in this order:
 * pad + crop, flip, normalise, cutout, noise (drawn from rng).
 * out[y][x] = padded[y + dy][flip ? w - 1 - x + dx : x + dx], padded[i][j] =
 * src[i - pad][j - pad] inside, 0 outside. */
void tn_augment_apply(const tn_augment *aug, const tn_augment_params *p, const tn_norm *norm,
                      const uint8_t *src, int c, int h, int w, float *dst, tn_rng *rng);

/* Whether a configuration makes soft targets (mixup, cutmix or smoothing). */
bool tn_augment_soft(const tn_augment *aug);

/* What a batch-level mix did. */
typedef struct tn_mix_info {
    int kind;        /* 0 none, 1 mixup, 2 cutmix */
    float lambda;    /* weight of the original sample (cutmix: kept area fraction) */
    int y0, y1, x0, x1; /* cutmix box [y0, y1) x [x0, x1) */
} tn_mix_info;

/* Mix a batch in place and make its soft targets: x: (n, c, h, w),
 * labels: (n) in [0, k), soft: (n, k), tmp: (n, c, h, w) scratch.  With
 * probability mix_prob the batch is mixed (mixup, or cutmix, or one of them
 * 1/2 each when both are on) with partners perm[i] from a shuffle drawn from
 * rng: soft[i] = lambda onehot(labels[i]) + (1 - lambda) onehot(labels[perm[i]]);
 * then label smoothing.  Each soft row sums to one.  info may be NULL. */
void tn_augment_mix(const tn_augment *aug, float *x, int n, int c, int h, int w,
                    const int32_t *labels, int k, float *soft, float *tmp, tn_rng *rng,
                    tn_mix_info *info);

/* Beta(a, b) and Gamma(a, 1) deviates from rng (a, b > 0). */
float tn_sample_beta(tn_rng *rng, float a, float b);
float tn_sample_gamma(tn_rng *rng, float a);

/* ------------------------------------------------------------------ loader */

typedef struct tn_loader tn_loader;

typedef struct tn_loader_options {
    int batch_size;     /* > 0 */
    bool shuffle;       /* a new permutation every epoch */
    bool drop_last;     /* drop a last, smaller batch */
    tn_norm norm;       /* normalisation (norm.c == 0: identity) */
    tn_augment aug;     /* augmentation (all zero: none) */
    tn_rng rng;         /* every random choice derives from this state */
    int threads;        /* OpenMP threads preparing a batch; 0 = 1 */
    bool synchronous;   /* prepare in tn_loader_next() instead of on a
                           background thread (same batches) */
} tn_loader_options;

/* Where a loader stands: the next batch it returns.  Save it with a
 * checkpoint; tn_loader_seek() to it resumes the same batch stream. */
typedef struct tn_loader_pos {
    uint64_t epoch;
    uint64_t batch;     /* index within the epoch */
    tn_rng rng;         /* the base random state of the stream */
} tn_loader_pos;

/* A batch; its arrays stay valid until the next tn_loader_next(). */
typedef struct tn_batch {
    int n, c, h, w;
    float *x;           /* (n, c, h, w) normalised and augmented */
    int32_t *labels;    /* (n) the original labels */
    float *soft;        /* (n, k) soft targets, or NULL without mixup/cutmix/smoothing */
    int k;              /* classes */
    const int32_t *index; /* (n) data-set indices of the samples */
    uint64_t epoch, batch;
    tn_mix_info mix;
} tn_batch;

typedef struct tn_loader_stats {
    uint64_t batches;   /* returned so far */
    double wait_s;      /* time the consumer waited inside tn_loader_next() */
    double total_s;     /* time from the first tn_loader_next() to the last return */
    double wait_fraction; /* wait_s / total_s */
} tn_loader_stats;

/* The loader reads ds (keep it alive and unchanged) and owns its buffers.
 * Errors: TN_ERR_ARG for options, TN_ERR_NOMEM. */
tn_status tn_loader_new(tn_loader **out, const tn_dataset *ds, const tn_loader_options *opt);
void tn_loader_free(tn_loader *ld);
/* The next batch of the epoch into *b (true), or false once the epoch is
 * over (the loader then moves to the next epoch: loop until false). */
bool tn_loader_next(tn_loader *ld, tn_batch *b);
size_t tn_loader_batches_per_epoch(const tn_loader *ld);
void tn_loader_position(const tn_loader *ld, tn_loader_pos *pos);
/* Continue from pos (epoch, batch within it, base rng). */
tn_status tn_loader_seek(tn_loader *ld, const tn_loader_pos *pos);
void tn_loader_stats_get(const tn_loader *ld, tn_loader_stats *st);

#ifdef __cplusplus
}
#endif
#endif
