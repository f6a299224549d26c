/* In-memory datasets: allocation, the shared fetch() (random crop with zero
 * padding, horizontal flip, per-channel normalization), channel statistics and
 * the default augmentation. fetch() keeps no state: its randomness is
 * bb_rng_make(seed, BB_RNG_AUGMENT, epoch, index), so any thread may call it. */
#include "data/data_internal.h"

#include "util/mem.h"
#include "util/rng.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

bb_status bb_data_alloc(bb_dataset *d, const char *name, int64_t n, int64_t c, int64_t h, int64_t w, int64_t classes,
                        uint8_t *pixels)
{
    memset(d, 0, sizeof *d);
    if (n < 1 || c < 1 || c > BB_MAX_CHANNELS || h < 1 || w < 1 || classes < 1)
        return bb_fail(BB_ERR_INVALID, "%s: bad dataset shape n=%lld c=%lld h=%lld w=%lld classes=%lld "
                       "(need n, h, w, classes >= 1 and 1 <= c <= %d)", name, (long long)n, (long long)c,
                       (long long)h, (long long)w, (long long)classes, BB_MAX_CHANNELS);
    if (h > 65536 || w > 65536 || n > ((int64_t)1 << 40) / (c * h * w))
        return bb_fail(BB_ERR_INVALID, "%s: dataset of %lld x %lld x %lld x %lld bytes is too large", name,
                       (long long)n, (long long)c, (long long)h, (long long)w);
    size_t bytes = (size_t)n * (size_t)(c * h * w);
    d->pixels = pixels ? pixels : bb_alloc(bytes);
    d->labels = bb_alloc((size_t)n * sizeof *d->labels);
    if (!d->pixels || !d->labels) {
        if (!pixels) bb_free(d->pixels);
        bb_free(d->labels);
        memset(d, 0, sizeof *d);
        return bb_fail(BB_ERR_NOMEM, "%s: cannot allocate %zu bytes of pixels and %lld labels", name, bytes, (long long)n);
    }
    snprintf(d->name, sizeof d->name, "%s", name);
    d->n = n; d->c = c; d->h = h; d->w = w;
    d->classes = classes;
    for (int i = 0; i < BB_MAX_CHANNELS; i++) { d->aug.mean[i] = 0.0f; d->aug.std[i] = 1.0f; }
    d->fetch = bb_data_fetch_memory;
    return BB_OK;
}

void bb_dataset_free(bb_dataset *d)
{
    if (!d) return;
    if (d->destroy) d->destroy(d);
    bb_free(d->pixels);
    bb_free(d->labels);
    memset(d, 0, sizeof *d);
}

/* mean = E[x], std = sqrt(E[x^2] - E[x]^2) over x = byte / 255, from exact integer sums */
void bb_dataset_channel_stats(const bb_dataset *d, float *mean, float *std)
{
    int64_t hw = d->h * d->w;
    for (int64_t ch = 0; ch < d->c; ch++) {
        uint64_t s1 = 0, s2 = 0;
        for (int64_t i = 0; i < d->n; i++) {
            const uint8_t *p = d->pixels + (i * d->c + ch) * hw;
            uint64_t a1 = 0, a2 = 0;
            for (int64_t j = 0; j < hw; j++) { a1 += p[j]; a2 += (uint64_t)p[j] * p[j]; }
            s1 += a1; s2 += a2;
        }
        double cnt = (double)d->n * (double)hw;
        double m = (double)s1 / cnt / 255.0;
        double var = (double)s2 / cnt / (255.0 * 255.0) - m * m;
        mean[ch] = (float)m;
        std[ch] = (float)sqrt(var > 0 ? var : 0);
    }
}

/* Crop padding: 4 for 32x32 and larger, as in the CIFAR ResNet literature (He et
 * al. 2016): shifts of up to 1/8 of the image. For 28x28 (the MNIST family) we
 * use 2, not 4: Fashion-MNIST garments are scaled so that their longer side
 * spans the full 28 pixels, so a 4-pixel shift cuts up to 14% of the object
 * off, while 2 pixels (7%) keeps it whole in most samples and still gives 25
 * distinct positions; flips add the other factor of two. Smaller images get 1
 * (>= 8 pixels) or no cropping. */
void bb_augment_default(bb_augment *a, const bb_dataset *train)
{
    memset(a, 0, sizeof *a);
    int64_t side = train->h < train->w ? train->h : train->w;
    a->crop_pad = side >= 32 ? 4 : side >= 16 ? 2 : side >= 8 ? 1 : 0;
    a->flip = 1;
    for (int i = 0; i < BB_MAX_CHANNELS; i++) { a->mean[i] = 0.0f; a->std[i] = 1.0f; }
    if (train->pixels && train->n > 0 && train->c <= BB_MAX_CHANNELS) {
        bb_dataset_channel_stats(train, a->mean, a->std);
        for (int64_t i = 0; i < train->c; i++)
            if (!(a->std[i] > 1e-6f)) a->std[i] = 1.0f;  /* a constant channel: only centre it */
    }
}

void bb_augment_draw(const bb_augment *a, uint64_t seed, int64_t epoch, int64_t index,
                     int64_t *oy, int64_t *ox, int *flip)
{
    bb_rng r = bb_rng_make(seed, BB_RNG_AUGMENT, (uint64_t)epoch, (uint64_t)index);
    int64_t p = a->crop_pad > 0 ? a->crop_pad : 0;
    *oy = p > 0 ? (int64_t)bb_rng_below(&r, (uint64_t)(2 * p + 1)) : p;
    *ox = p > 0 ? (int64_t)bb_rng_below(&r, (uint64_t)(2 * p + 1)) : p;
    *flip = a->flip ? (int)(bb_rng_u64(&r) >> 63) : 0;
}

static void fill_f(float *p, int64_t n, float v)
{
    for (int64_t i = 0; i < n; i++) p[i] = v;
}

/* out = (byte / 255 - mean) / std = byte * scale + bias; the zero padding is a
 * raw byte 0, so padded pixels become -mean / std. */
bb_status bb_data_fetch_memory(const bb_dataset *d, int64_t index, int train, uint64_t seed, int64_t epoch, float *out)
{
    if (!d || !d->pixels || !out)
        return bb_fail(BB_ERR_INVALID, "fetch: %s", !d ? "no dataset" : !out ? "no output buffer" : "dataset has no pixels");
    if (index < 0 || index >= d->n)
        return bb_fail(BB_ERR_INVALID, "%s: fetch of sample %lld, expected 0..%lld", d->name, (long long)index, (long long)d->n - 1);
    const bb_augment *a = &d->aug;
    int64_t c = d->c, h = d->h, w = d->w, hw = h * w;
    if (train && (a->crop_pad < 0 || a->crop_pad > (h > w ? h : w)))
        return bb_fail(BB_ERR_INVALID, "%s: crop_pad %lld, expected 0..%lld", d->name, (long long)a->crop_pad,
                       (long long)(h > w ? h : w));
    float scale[BB_MAX_CHANNELS], bias[BB_MAX_CHANNELS];
    for (int64_t ch = 0; ch < c; ch++) {
        if (!(a->std[ch] > 0.0f) || !isfinite(a->std[ch]) || !isfinite(a->mean[ch]))
            return bb_fail(BB_ERR_INVALID, "%s: channel %lld normalization mean %g std %g, expected finite with std > 0",
                           d->name, (long long)ch, (double)a->mean[ch], (double)a->std[ch]);
        scale[ch] = 1.0f / (255.0f * a->std[ch]);
        bias[ch] = -a->mean[ch] / a->std[ch];
    }
    int64_t p = 0, oy = 0, ox = 0;
    int flip = 0;
    if (train) {
        bb_augment_draw(a, seed, epoch, index, &oy, &ox, &flip);
        p = a->crop_pad;
    }
    /* source column of output column x: sx = x + ox - p, or (w-1-x) + ox - p flipped;
     * the columns whose sx lies in [0, w) form the range [x0, x1) */
    int64_t dx = ox - p, dy = oy - p;
    int64_t x0 = flip ? (dx > 0 ? dx : 0) : (-dx > 0 ? -dx : 0);
    int64_t x1 = flip ? (w + dx < w ? w + dx : w) : (w - dx < w ? w - dx : w);
    if (x0 > w) x0 = w;
    if (x1 < x0) x1 = x0;
    for (int64_t ch = 0; ch < c; ch++) {
        const uint8_t *src = d->pixels + (index * c + ch) * hw;
        float *dst = out + ch * hw;
        float s = scale[ch], b = bias[ch];
        for (int64_t y = 0; y < h; y++) {
            float *row = dst + y * w;
            int64_t sy = y + dy;
            if (sy < 0 || sy >= h) { fill_f(row, w, b); continue; }
            const uint8_t *srow = src + sy * w;
            fill_f(row, x0, b);
            if (!flip) {
                for (int64_t x = x0; x < x1; x++) row[x] = (float)srow[x + dx] * s + b;
            } else {
                int64_t last = w - 1 + dx;
                for (int64_t x = x0; x < x1; x++) row[x] = (float)srow[last - x] * s + b;
            }
            fill_f(row + x1, w - x1, b);
        }
    }
    return BB_OK;
}
