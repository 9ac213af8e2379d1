/* data/augment.c - per-sample augmentation (pad + crop, flip, normalise,
 * cutout, noise), batch-level mixup/cutmix with soft targets, label
 * smoothing, and Gamma/Beta deviates. */
#include "internal.h"

#include <math.h>
#include <string.h>

/* ------------------------------------------------------------ Gamma, Beta */

float tn_sample_gamma(tn_rng *rng, float a)
{
    if (!(a > 0.0f)) tn_misuse("tn_sample_gamma", "shape %g must be > 0", (double)a);
    if (a < 1.0f) { /* boost: Gamma(a) = Gamma(a + 1) U^(1/a) */
        double u = tn_rng_uniform(rng);
        return (float)(tn_sample_gamma(rng, a + 1.0f) * pow(u, 1.0 / a));
    }
    /* Marsaglia and Tsang (2000). */
    double d = a - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double x = tn_rng_normal(rng), v = 1.0 + c * x;
        if (v <= 0.0) continue;
        v = v * v * v;
        double u = tn_rng_uniform(rng);
        if (u < 1.0 - 0.0331 * x * x * x * x) return (float)(d * v);
        if (log(u) < 0.5 * x * x + d * (1.0 - v + log(v))) return (float)(d * v);
    }
}

float tn_sample_beta(tn_rng *rng, float a, float b)
{
    double x = tn_sample_gamma(rng, a), y = tn_sample_gamma(rng, b);
    return x + y > 0.0 ? (float)(x / (x + y)) : 0.5f;
}

/* ------------------------------------------------------------- per sample */

void tn_augment_draw(const tn_augment *aug, int h, int w, tn_rng *rng, tn_augment_params *p)
{
    p->dy = p->dx = aug->crop_pad > 0 ? aug->crop_pad : 0;
    if (aug->crop_pad > 0) {
        p->dy = (int)tn_rng_below(rng, 2u * (uint32_t)aug->crop_pad + 1u);
        p->dx = (int)tn_rng_below(rng, 2u * (uint32_t)aug->crop_pad + 1u);
    }
    p->flip = aug->hflip ? tn_rng_below(rng, 2) == 1 : false;
    p->cut_y = p->cut_x = -1;
    if (aug->cutout > 0) {
        p->cut_y = (int)tn_rng_below(rng, (uint32_t)h);
        p->cut_x = (int)tn_rng_below(rng, (uint32_t)w);
    }
}

void tn_augment_apply(const tn_augment *aug, const tn_augment_params *p, const tn_norm *norm,
                      const uint8_t *src, int c, int h, int w, float *dst, tn_rng *rng)
{
    int pad = aug->crop_pad > 0 ? aug->crop_pad : 0;
    size_t plane = (size_t)h * (size_t)w;
    float lut[256];
    for (int ch = 0; ch < c; ch++) {
        tn_norm_lut(norm, ch, lut);
        const uint8_t *s = src + (size_t)ch * plane;
        float *d = dst + (size_t)ch * plane;
        for (int y = 0; y < h; y++) {
            int sy = y + p->dy - pad;
            float *row = d + (size_t)y * w;
            if (sy < 0 || sy >= h) {
                for (int x = 0; x < w; x++) row[x] = lut[0];
                continue;
            }
            const uint8_t *srow = s + (size_t)sy * w;
            for (int x = 0; x < w; x++) {
                int sx = (p->flip ? w - 1 - x : x) + p->dx - pad;
                row[x] = sx >= 0 && sx < w ? lut[srow[sx]] : lut[0];
            }
        }
    }
    if (aug->cutout > 0 && p->cut_y >= 0) {
        int y0 = p->cut_y - aug->cutout / 2, x0 = p->cut_x - aug->cutout / 2;
        int y1 = y0 + aug->cutout, x1 = x0 + aug->cutout;
        if (y0 < 0) y0 = 0;
        if (x0 < 0) x0 = 0;
        if (y1 > h) y1 = h;
        if (x1 > w) x1 = w;
        for (int ch = 0; ch < c; ch++)
            for (int y = y0; y < y1; y++)
                for (int x = x0; x < x1; x++) dst[(size_t)ch * plane + (size_t)y * w + x] = 0.0f;
    }
    if (aug->noise_std > 0.0f)
        for (size_t i = 0; i < (size_t)c * plane; i++)
            dst[i] += aug->noise_std * tn_rng_normal(rng);
}

bool tn_augment_soft(const tn_augment *aug)
{
    return aug->mixup_alpha > 0.0f || aug->cutmix_alpha > 0.0f || aug->label_smoothing > 0.0f;
}

/* --------------------------------------------------------------- per batch */

void tn_augment_mix(const tn_augment *aug, float *x, int n, int c, int h, int w,
                    const int32_t *labels, int k, float *soft, float *tmp, tn_rng *rng,
                    tn_mix_info *info)
{
    tn_mix_info mi = {.kind = 0, .lambda = 1.0f};
    memset(soft, 0, (size_t)n * (size_t)k * sizeof *soft);
    for (int i = 0; i < n; i++) {
        if (labels[i] < 0 || labels[i] >= k)
            tn_misuse("tn_augment_mix", "label %d of sample %d is not in [0, %d)", (int)labels[i],
                      i, k);
        soft[(size_t)i * k + labels[i]] = 1.0f;
    }
    bool mixup = aug->mixup_alpha > 0.0f, cutmix = aug->cutmix_alpha > 0.0f;
    float prob = aug->mix_prob > 0.0f ? aug->mix_prob : 1.0f;
    if ((mixup || cutmix) && n > 1 && tn_rng_uniform(rng) < prob) {
        if (mixup && cutmix) mixup = tn_rng_below(rng, 2) == 0;
        float alpha = mixup ? aug->mixup_alpha : aug->cutmix_alpha;
        float lam = tn_sample_beta(rng, alpha, alpha);
        int32_t perm[n];
        for (int i = 0; i < n; i++) perm[i] = i;
        tn_data_shuffle(perm, n, rng);
        size_t img = (size_t)c * (size_t)h * (size_t)w, plane = (size_t)h * (size_t)w;
        memcpy(tmp, x, (size_t)n * img * sizeof *x);
        if (mixup) {
            mi.kind = 1;
            for (int i = 0; i < n; i++) {
                const float *a = tmp + (size_t)i * img, *b = tmp + (size_t)perm[i] * img;
                float *o = x + (size_t)i * img;
                for (size_t j = 0; j < img; j++) o[j] = lam * a[j] + (1.0f - lam) * b[j];
            }
        } else {
            mi.kind = 2;
            double r = sqrt(1.0 - (double)lam);
            int cut_h = (int)(h * r), cut_w = (int)(w * r);
            int cy = (int)tn_rng_below(rng, (uint32_t)h), cx = (int)tn_rng_below(rng, (uint32_t)w);
            int y0 = cy - cut_h / 2, y1 = cy + cut_h / 2, x0 = cx - cut_w / 2, x1 = cx + cut_w / 2;
            y0 = y0 < 0 ? 0 : y0;
            x0 = x0 < 0 ? 0 : x0;
            y1 = y1 > h ? h : y1;
            x1 = x1 > w ? w : x1;
            lam = 1.0f - (float)((y1 - y0) * (x1 - x0)) / (float)(h * w);
            mi.y0 = y0;
            mi.y1 = y1;
            mi.x0 = x0;
            mi.x1 = x1;
            for (int i = 0; i < n; i++)
                for (int ch = 0; ch < c; ch++) {
                    const float *b = tmp + (size_t)perm[i] * img + (size_t)ch * plane;
                    float *o = x + (size_t)i * img + (size_t)ch * plane;
                    for (int y = y0; y < y1; y++)
                        for (int xx = x0; xx < x1; xx++)
                            o[(size_t)y * w + xx] = b[(size_t)y * w + xx];
                }
        }
        mi.lambda = lam;
        for (int i = 0; i < n; i++) {
            float *row = soft + (size_t)i * k;
            row[labels[i]] = 0.0f;
            row[labels[i]] += lam;
            row[labels[perm[i]]] += 1.0f - lam;
        }
    }
    float eps = aug->label_smoothing;
    if (eps > 0.0f)
        for (size_t i = 0; i < (size_t)n * (size_t)k; i++)
            soft[i] = soft[i] * (1.0f - eps) + eps / (float)k;
    if (info) *info = mi;
}
