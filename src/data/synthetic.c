/* A learnable synthetic labelled set of any shape and class count. Each class
 * has a smooth random prototype per channel (a sum of Gaussian blobs); sample i
 * is its class prototype, shifted, rescaled in contrast and brightness, mixed
 * with a distractor class and covered in pixel noise, stored as bytes so that
 * it goes through the same fetch()/augmentation path as real data. Everything
 * is a pure function of (seed, split, index) through bb_rng. */
#include "data/data_internal.h"

#include "util/mem.h"
#include "util/rng.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Tuned so that a nearest-class-mean classifier gets ~55% on 1x28x28 with 10
 * classes (~83% on 3x32x32): far above chance, far from solved. Shifts of up to
 * a quarter of the side are what a linear model struggles with and a
 * convolutional one does not. */
#define SYN_BLOBS 6
#define SYN_NOISE 0.3f        /* pixel noise sd in [0, 1] units */
#define SYN_DISTRACT 0.4f     /* the largest weight of the distractor class */
#define SYN_SHIFT 4           /* shifts up to side / SYN_SHIFT */

/* prototype of class k, channel ch: 0.5 + 0.3 tanh(sum_j a_j exp(-|p - c_j|^2 / (2 s_j^2)))
 * over a blob field shared by all classes (so no class is recognised by one
 * global feature) plus one of its own */
static void blob_field(float *f, int64_t h, int64_t w, bb_rng *r, float weight)
{
    double side = (double)(h < w ? h : w);
    for (int j = 0; j < SYN_BLOBS; j++) {
        double cy = bb_rng_uniform(r) * (double)h, cx = bb_rng_uniform(r) * (double)w;
        double sd = side * (0.08 + 0.17 * bb_rng_uniform(r));
        double amp = weight * 1.6 * bb_rng_normal(r);
        double inv = 1.0 / (2.0 * sd * sd);
        for (int64_t y = 0; y < h; y++)
            for (int64_t x = 0; x < w; x++) {
                double d2 = ((double)y - cy) * ((double)y - cy) + ((double)x - cx) * ((double)x - cx);
                f[y * w + x] += (float)(amp * exp(-d2 * inv));
            }
    }
}

static bb_status make_prototypes(float *proto, int64_t classes, int64_t c, int64_t h, int64_t w, uint64_t seed)
{
    int64_t hw = h * w;
    float *shared = bb_alloc((size_t)(c * hw) * sizeof *shared);
    if (!shared) return bb_fail(BB_ERR_NOMEM, "synthetic: cannot allocate a %lld x %lld x %lld field",
                                (long long)c, (long long)h, (long long)w);
    for (int64_t ch = 0; ch < c; ch++) {
        bb_rng r = bb_rng_make(seed, BB_RNG_SYNTH, 0, (uint64_t)ch);
        blob_field(shared + ch * hw, h, w, &r, 0.6f);
    }
    for (int64_t k = 0; k < classes; k++)
        for (int64_t ch = 0; ch < c; ch++) {
            float *f = proto + (k * c + ch) * hw;
            bb_rng r = bb_rng_make(seed, BB_RNG_SYNTH, 1, (uint64_t)(k * BB_MAX_CHANNELS + ch));
            blob_field(f, h, w, &r, 1.0f);
            for (int64_t i = 0; i < hw; i++) f[i] = 0.5f + 0.3f * tanhf(f[i] + shared[ch * hw + i]);
        }
    bb_free(shared);
    return BB_OK;
}

/* approximately N(0, 1): four 16-bit uniforms summed (variance 4/12), rescaled */
static float noise(bb_rng *r)
{
    uint64_t u = bb_rng_u64(r);
    float s = (float)(u & 0xffff) + (float)((u >> 16) & 0xffff) + (float)((u >> 32) & 0xffff) + (float)(u >> 48);
    return (s * (1.0f / 65536.0f) - 2.0f) * 1.7320508f;
}

static int64_t clampi(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : v > hi ? hi : v; }

/* split 2 = train, 3 = test: different samples of the same classes */
static void make_sample(const float *proto, int64_t classes, int64_t c, int64_t h, int64_t w, uint64_t seed,
                        int split, int64_t index, uint8_t *px, int32_t *label)
{
    bb_rng r = bb_rng_make(seed, BB_RNG_SYNTH, (uint64_t)split, (uint64_t)index);
    int64_t k = (int64_t)bb_rng_below(&r, (uint64_t)classes);
    int64_t other = classes > 1 ? (k + 1 + (int64_t)bb_rng_below(&r, (uint64_t)classes - 1)) % classes : k;
    int64_t side = h < w ? h : w, smax = side / SYN_SHIFT > 1 ? side / SYN_SHIFT : 1;
    int64_t dy = (int64_t)bb_rng_below(&r, (uint64_t)(2 * smax + 1)) - smax;
    int64_t dx = (int64_t)bb_rng_below(&r, (uint64_t)(2 * smax + 1)) - smax;
    float contrast = 0.6f + 0.8f * (float)bb_rng_uniform(&r);
    float bright = 0.2f * ((float)bb_rng_uniform(&r) - 0.5f);
    float mix = SYN_DISTRACT * (float)bb_rng_uniform(&r);
    int64_t hw = h * w;
    for (int64_t ch = 0; ch < c; ch++) {
        const float *p = proto + (k * c + ch) * hw, *q = proto + (other * c + ch) * hw;
        for (int64_t y = 0; y < h; y++) {
            int64_t sy = clampi(y - dy, 0, h - 1);
            for (int64_t x = 0; x < w; x++) {
                int64_t sx = clampi(x - dx, 0, w - 1);
                float v = (1.0f - mix) * p[sy * w + sx] + mix * q[y * w + x];
                v = 0.5f + contrast * (v - 0.5f) + bright + SYN_NOISE * noise(&r);
                v = v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
                px[ch * hw + y * w + x] = (uint8_t)lrintf(v * 255.0f);
            }
        }
    }
    *label = (int32_t)k;
}

static bb_status make_set(bb_dataset *d, const float *proto, const char *name, int64_t n, int64_t c, int64_t h,
                          int64_t w, int64_t classes, uint64_t seed, int split)
{
    BB_TRY(bb_data_alloc(d, name, n, c, h, w, classes, NULL));
    int64_t chw = c * h * w;
    for (int64_t i = 0; i < n; i++)
        make_sample(proto, classes, c, h, w, seed, split, i, d->pixels + i * chw, d->labels + i);
    return BB_OK;
}

bb_status bb_dataset_synthetic(bb_dataset *train, bb_dataset *test, int64_t n_train, int64_t n_test,
                               int64_t c, int64_t h, int64_t w, int64_t classes, uint64_t seed)
{
    memset(train, 0, sizeof *train);
    memset(test, 0, sizeof *test);
    if (n_train < 1 || n_test < 1 || c < 1 || c > BB_MAX_CHANNELS || h < 1 || h > 4096 || w < 1 || w > 4096 ||
        classes < 2 || classes > 100000)
        return bb_fail(BB_ERR_INVALID, "synthetic: n_train=%lld n_test=%lld c=%lld h=%lld w=%lld classes=%lld: "
                       "expected n_train, n_test >= 1, 1 <= c <= %d, 1 <= h, w <= 4096, 2 <= classes <= 100000",
                       (long long)n_train, (long long)n_test, (long long)c, (long long)h, (long long)w,
                       (long long)classes, BB_MAX_CHANNELS);
    if ((double)classes * (double)(c * h * w) > 1e9)
        return bb_fail(BB_ERR_INVALID, "synthetic: %lld classes of %lld x %lld x %lld need too many prototype floats",
                       (long long)classes, (long long)c, (long long)h, (long long)w);
    float *proto = bb_alloc((size_t)(classes * c * h * w) * sizeof *proto);
    if (!proto) return bb_fail(BB_ERR_NOMEM, "synthetic: cannot allocate %lld class prototypes", (long long)classes);
    bb_status s = make_prototypes(proto, classes, c, h, w, seed);
    if (s == BB_OK) s = make_set(train, proto, "synthetic/train", n_train, c, h, w, classes, seed, 2);
    if (s == BB_OK) s = make_set(test, proto, "synthetic/test", n_test, c, h, w, classes, seed, 3);
    bb_free(proto);
    if (s != BB_OK) {
        bb_dataset_free(train);
        bb_dataset_free(test);
        return s;
    }
    bb_augment_default(&train->aug, train);
    test->aug = train->aug;
    return BB_OK;
}
