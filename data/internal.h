/* data/internal.h - what the data/ sources share; not installed. */
#ifndef TENET_DATA_INTERNAL_H
#define TENET_DATA_INTERNAL_H

#include "data.h"

#include <stdint.h>

/* SplitMix64's finaliser: a bijective 64-bit mix. */
static inline uint64_t tn_data_mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* A fresh rng that depends only on (base, a, b, purpose): the same inputs
 * give the same stream whatever thread asks and whenever. */
static inline void tn_data_derive_rng(tn_rng *out, const tn_rng *base, uint64_t a, uint64_t b,
                                      uint64_t purpose)
{
    uint64_t k = tn_data_mix64(base->state ^ tn_data_mix64(base->inc));
    k = tn_data_mix64(k ^ tn_data_mix64(a ^ 0x5851f42d4c957f2dULL));
    k = tn_data_mix64(k ^ tn_data_mix64(purpose * 0x2545f4914f6cdd1dULL));
    tn_rng_seed(out, k, b);
}

/* 64-bit checksum of a byte range, continuing from h (start with 0). */
uint64_t tn_data_checksum(uint64_t h, const void *data, size_t size);

/* Fisher-Yates shuffle of p[0..n) driven by rng. */
static inline void tn_data_shuffle(int32_t *p, int n, tn_rng *rng)
{
    for (int i = n - 1; i > 0; i--) {
        int j = (int)tn_rng_below(rng, (uint32_t)i + 1);
        int32_t t = p[i];
        p[i] = p[j];
        p[j] = t;
    }
}

/* "dir/file", malloc'd (NULL if out of memory). */
char *tn_data_join(const char *dir, const char *file);

/* Whole file into memory (*buf malloc'd); errors name the file. */
tn_status tn_data_read_file(const char *path, uint8_t **buf, size_t *size);

/* lut[v] = (v / 255 - mean[ch]) / std[ch] (identity when norm->c == 0). */
void tn_norm_lut(const tn_norm *norm, int ch, float lut[256]);

#endif
