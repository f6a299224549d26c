/* Folder-per-class data sets: loading (two scans, bad files, the held-out
 * split, the decoded-image cache decision) and fetch(). fetch() keeps no state
 * but the cache, whose entries are a pure function of the file, so any thread
 * may call it and a sample is identical whoever fetches it. */
#include "data/imagefolder.h"

#include "data/image.h"
#include "data/imagefolder_internal.h"
#include "util/file.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/rng.h"

#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* ImageNet channel statistics (torchvision's Normalize defaults) */
static const float IMAGENET_MEAN[3] = {0.485f, 0.456f, 0.406f};
static const float IMAGENET_STD[3] = {0.229f, 0.224f, 0.225f};

typedef struct {
    char root[4096];
    bb_imagefolder_options o;
    char *names;               /* relative paths, NUL separated */
    int64_t *off;              /* n offsets into names */
    int32_t *iw, *ih;          /* full-resolution sizes */
    uint8_t *fmt;
    char **classes;
    int64_t nclasses;
    _Atomic(uint8_t *) *slots; /* decoded-image cache (NULL: off): the eval-resized image, RGB */
    atomic_llong failures;
    bb_imagefolder_stats st;
} ifset;

void bb_if_say(const bb_imagefolder_options *o, bb_log_level level, const char *fmt, ...)
{
    if (!bb_if_reports(o)) return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!o->log) {
        bb_log(level, "%s", msg);
        return;
    }
    fprintf(o->log, "%s\n", msg);
    fflush(o->log);
}

void bb_imagefolder_defaults(bb_imagefolder_options *o)
{
    memset(o, 0, sizeof *o);
    o->size = 224;
    o->min_area = 0.08;
    o->max_area = 1.0;
    o->min_ratio = 3.0 / 4.0;
    o->max_ratio = 4.0 / 3.0;
    o->flip = 1;
    o->holdout = 0.1;
    o->dct_scaling = 1;
    o->partial = 1;
}

/* ---------------- geometry ---------------- */

void bb_imagefolder_crop_draw(const bb_imagefolder_options *o, uint64_t seed, int64_t epoch, int64_t index, int64_t w,
                              int64_t h, int64_t *x0, int64_t *y0, int64_t *cw, int64_t *ch, int *flip)
{
    bb_rng r = bb_rng_make(seed, BB_RNG_AUGMENT, (uint64_t)epoch, (uint64_t)index);
    uint64_t f = bb_rng_u64(&r);  /* drawn first, so it does not depend on the number of tries */
    *flip = o->flip ? (int)(f >> 63) : 0;
    double area = (double)w * (double)h, lr0 = log(o->min_ratio), lr1 = log(o->max_ratio);
    for (int t = 0; t < 10; t++) {
        double target = area * (o->min_area + (o->max_area - o->min_area) * bb_rng_uniform(&r));
        double ratio = exp(lr0 + (lr1 - lr0) * bb_rng_uniform(&r));
        int64_t a = (int64_t)llround(sqrt(target * ratio)), b = (int64_t)llround(sqrt(target / ratio));
        if (a > 0 && a <= w && b > 0 && b <= h) {
            *cw = a;
            *ch = b;
            *y0 = (int64_t)bb_rng_below(&r, (uint64_t)(h - b + 1));
            *x0 = (int64_t)bb_rng_below(&r, (uint64_t)(w - a + 1));
            return;
        }
    }
    /* the whole image, cut to the nearest allowed ratio, centred */
    double in = (double)w / (double)h;
    int64_t a = w, b = h;
    if (in < o->min_ratio) b = (int64_t)llround((double)w / o->min_ratio);
    else if (in > o->max_ratio) a = (int64_t)llround((double)h * o->max_ratio);
    a = a < 1 ? 1 : a > w ? w : a;
    b = b < 1 ? 1 : b > h ? h : b;
    *cw = a;
    *ch = b;
    *x0 = (w - a) / 2;
    *y0 = (h - b) / 2;
}

static int64_t eval_resize(const bb_imagefolder_options *o)
{
    return o->eval_resize > 0 ? o->eval_resize : (int64_t)llround((double)o->size / 0.875);
}

/* Python's round(d / 2): halves go to the even neighbour */
static int64_t half_even(int64_t d)
{
    int64_t q = d / 2;
    return (d % 2 != 0 && q % 2 != 0) ? q + 1 : q;
}

void bb_imagefolder_eval_geometry(const bb_imagefolder_options *o, int64_t w, int64_t h, int64_t *rw, int64_t *rh,
                                  int64_t *left, int64_t *top)
{
    int64_t s = eval_resize(o);
    if (w <= h) { *rw = s; *rh = (int64_t)((double)(s * h) / (double)w); }
    else { *rh = s; *rw = (int64_t)((double)(s * w) / (double)h); }
    *left = half_even(*rw - o->size);
    *top = half_even(*rh - o->size);
}

/* ---------------- decoding a sample ---------------- */

static bb_status read_file(const ifset *s, int64_t i, unsigned char **buf, size_t *len)
{
    char path[8192];
    snprintf(path, sizeof path, "%s/%s", s->root, s->names + s->off[i]);
    return bb_file_read_all(path, (size_t)1 << 30, buf, len);
}

/* Smallest JPEG scale m/8 at which the scaled image still covers need_w x
 * need_h. Only 1/8, 2/8 and 4/8: libjpeg-turbo has SIMD inverse DCTs for
 * those and for 8/8, while its 3/8, 5/8, 6/8 and 7/8 ones are plain C and
 * decode slower than full size (measured; docs/IMAGEFOLDER.md). */
static int cover_scale(const ifset *s, int64_t i, double need_w, double need_h)
{
    if (s->fmt[i] != BB_IMG_JPEG || !s->o.dct_scaling) return 8;
    int64_t w = s->iw[i], h = s->ih[i];
    for (int m = 1; m < 8; m *= 2)
        if ((double)bb_image_scaled(w, m) >= need_w && (double)bb_image_scaled(h, m) >= need_h) return m;
    return 8;
}

/* The whole image resized to the evaluation size rw x rh (rows of 3*rw
 * bytes), or the part [ox, ox + ow) x [oy, oy + oh) of it. The decoded-image
 * cache holds exactly this, so evaluation is identical with and without it. */
static bb_status eval_resized(const ifset *s, int64_t i, const unsigned char *buf, size_t len, int64_t ox, int64_t oy,
                              int64_t ow, int64_t oh, uint8_t *dst)
{
    int64_t rw, rh, left, top;
    bb_imagefolder_eval_geometry(&s->o, s->iw[i], s->ih[i], &rw, &rh, &left, &top);
    int m = cover_scale(s, i, (double)rw, (double)rh);
    bb_image im;
    BB_TRY(bb_image_decode(buf, len, m, 0, 0, 0, 0, 0, &im));
    bb_status st = bb_image_resample(&im, 0, 0, (double)im.full_w, (double)im.full_h, rw, rh, ox, oy, ow, oh, dst, 3 * ow);
    bb_image_free(&im);
    return st;
}

/* the cached evaluation-size image of sample i, decoding it on first use */
static bb_status cached(ifset *s, int64_t i, const uint8_t **px)
{
    uint8_t *p = atomic_load_explicit(&s->slots[i], memory_order_acquire);
    if (p) { *px = p; return BB_OK; }
    int64_t rw, rh, left, top;
    bb_imagefolder_eval_geometry(&s->o, s->iw[i], s->ih[i], &rw, &rh, &left, &top);
    unsigned char *buf;
    size_t len;
    BB_TRY(read_file(s, i, &buf, &len));
    uint8_t *img = malloc((size_t)(rw * rh * 3));
    bb_status st = img ? eval_resized(s, i, buf, len, 0, 0, rw, rh, img) : bb_fail(BB_ERR_NOMEM, "out of memory");
    free(buf);
    if (st != BB_OK) { free(img); return st; }
    uint8_t *expected = NULL;
    if (atomic_compare_exchange_strong_explicit(&s->slots[i], &expected, img, memory_order_acq_rel, memory_order_acquire)) {
        *px = img;
    } else {  /* another thread was first: the same bytes */
        free(img);
        *px = expected;
    }
    return BB_OK;
}

static bb_status fetch_eval(ifset *s, int64_t i, uint8_t *crop)
{
    int64_t n = s->o.size, rw, rh, left, top;
    bb_imagefolder_eval_geometry(&s->o, s->iw[i], s->ih[i], &rw, &rh, &left, &top);
    if (s->slots) {
        const uint8_t *img;
        BB_TRY(cached(s, i, &img));
        for (int64_t y = 0; y < n; y++) memcpy(crop + y * 3 * n, img + ((top + y) * rw + left) * 3, (size_t)(3 * n));
        return BB_OK;
    }
    unsigned char *buf;
    size_t len;
    BB_TRY(read_file(s, i, &buf, &len));
    bb_status st = eval_resized(s, i, buf, len, left, top, n, n, crop);
    free(buf);
    return st;
}

static bb_status fetch_train(ifset *s, int64_t i, uint64_t seed, int64_t epoch, uint8_t *crop, int *flip)
{
    int64_t n = s->o.size, w = s->iw[i], h = s->ih[i], x0, y0, cw, ch;
    bb_imagefolder_crop_draw(&s->o, seed, epoch, i, w, h, &x0, &y0, &cw, &ch, flip);
    if (s->slots) {
        const uint8_t *img;
        BB_TRY(cached(s, i, &img));
        int64_t rw, rh, left, top;
        bb_imagefolder_eval_geometry(&s->o, w, h, &rw, &rh, &left, &top);
        bb_image im = {(uint8_t *)img, 0, 0, rw, rh, 3 * rw, rw, rh, 8};
        double sx = (double)rw / (double)w, sy = (double)rh / (double)h;
        return bb_image_resample(&im, (double)x0 * sx, (double)y0 * sy, (double)(x0 + cw) * sx, (double)(y0 + ch) * sy,
                                 n, n, 0, 0, n, n, crop, 3 * n);
    }
    /* decode at the smallest scale that keeps the crop at least n x n pixels,
     * and only the rows and columns the resampling filter reads */
    int m = cover_scale(s, i, (double)n * (double)w / (double)cw, (double)n * (double)h / (double)ch);
    int64_t sw = s->fmt[i] == BB_IMG_JPEG ? bb_image_scaled(w, m) : w, sh = s->fmt[i] == BB_IMG_JPEG ? bb_image_scaled(h, m) : h;
    double sx = (double)sw / (double)w, sy = (double)sh / (double)h;
    double bx0 = (double)x0 * sx, bx1 = (double)(x0 + cw) * sx, by0 = (double)y0 * sy, by1 = (double)(y0 + ch) * sy;
    int64_t xl, xh, yl, yh;
    bb_image_resample_span(bx0, bx1, n, 0, n, sw, &xl, &xh);
    bb_image_resample_span(by0, by1, n, 0, n, sh, &yl, &yh);
    unsigned char *buf;
    size_t len;
    BB_TRY(read_file(s, i, &buf, &len));
    bb_image im;
    bb_status st = bb_image_decode(buf, len, m, xl, yl, xh, yh, s->o.partial, &im);
    free(buf);
    if (st != BB_OK) return st;
    if (im.full_w != sw || im.full_h != sh)
        st = bb_fail(BB_ERR_FORMAT, "decoded size %lld x %lld, the index says %lld x %lld at scale %d/8: the file changed",
                     (long long)im.full_w, (long long)im.full_h, (long long)sw, (long long)sh, m);
    if (st == BB_OK) st = bb_image_resample(&im, bx0, by0, bx1, by1, n, n, 0, 0, n, n, crop, 3 * n);
    bb_image_free(&im);
    return st;
}

/* out = (byte / 255 - mean) / std = byte * scale + bias, transposed to (c, h, w) and mirrored when flip */
static bb_status if_fetch(const bb_dataset *d, int64_t index, int train, uint64_t seed, int64_t epoch, float *out)
{
    if (!d || !d->impl || !out)
        return bb_fail(BB_ERR_INVALID, "fetch: %s", !d ? "no dataset" : !out ? "no output buffer" : "not a folder set");
    if (index < 0 || index >= d->n)
        return bb_fail(BB_ERR_INVALID, "%s: fetch of sample %lld, expected 0..%lld", d->name, (long long)index, (long long)d->n - 1);
    ifset *s = d->impl;
    float scale[3], bias[3];
    for (int c = 0; c < 3; c++) {
        if (!(d->aug.std[c] > 0.0f) || !isfinite(d->aug.std[c]) || !isfinite(d->aug.mean[c]))
            return bb_fail(BB_ERR_INVALID, "%s: channel %d normalization mean %g std %g, expected finite with std > 0",
                           d->name, c, (double)d->aug.mean[c], (double)d->aug.std[c]);
        scale[c] = 1.0f / (255.0f * d->aug.std[c]);
        bias[c] = -d->aug.mean[c] / d->aug.std[c];
    }
    int64_t n = s->o.size, hw = n * n;
    uint8_t *crop = malloc((size_t)(hw * 3));
    if (!crop) return bb_fail(BB_ERR_NOMEM, "%s: out of memory", d->name);
    int flip = 0;
    bb_status st = train ? fetch_train(s, index, seed, epoch, crop, &flip) : fetch_eval(s, index, crop);
    if (st != BB_OK) {
        free(crop);
        bb_fail_context(st, "%s/%s", s->root, s->names + s->off[index]);
        if (s->o.bad_fail) return st;
        /* left out at fetch time: a mean-colour image (zeros after normalization) */
        long long k = atomic_fetch_add(&s->failures, 1);
        if (k < 10)
            bb_if_say(&s->o, BB_LOG_WARN, "imagefolder: warning: %s; sample %lld given as a mean-colour image%s",
                      bb_last_error(), (long long)index, k == 9 ? " (further warnings suppressed)" : "");
        memset(out, 0, (size_t)(3 * hw) * sizeof *out);
        return BB_OK;
    }
    for (int64_t y = 0; y < n; y++) {
        const uint8_t *restrict row = crop + y * n * 3;
        float *restrict o0 = out + y * n, *restrict o1 = o0 + hw, *restrict o2 = o1 + hw;
        for (int64_t x = 0; x < n; x++) {
            const uint8_t *p = row + 3 * (flip ? n - 1 - x : x);
            o0[x] = (float)p[0] * scale[0] + bias[0];
            o1[x] = (float)p[1] * scale[1] + bias[1];
            o2[x] = (float)p[2] * scale[2] + bias[2];
        }
    }
    free(crop);
    return BB_OK;
}

static void if_destroy(bb_dataset *d)
{
    ifset *s = d->impl;
    if (!s) return;
    if (s->slots) {
        for (int64_t i = 0; i < d->n; i++) free(atomic_load(&s->slots[i]));
        free((void *)s->slots);
    }
    for (int64_t c = 0; c < s->nclasses; c++) free(s->classes[c]);
    free(s->classes);
    free(s->names);
    free(s->off);
    free(s->iw);
    free(s->ih);
    free(s->fmt);
    free(s);
    d->impl = NULL;
}

bb_status bb_imagefolder_stats_get(const bb_dataset *d, bb_imagefolder_stats *st)
{
    if (!d || d->fetch != if_fetch || !d->impl) return bb_fail(BB_ERR_INVALID, "not a folder data set");
    const ifset *s = d->impl;
    *st = s->st;
    st->fetch_failures = atomic_load(&((ifset *)d->impl)->failures);
    return BB_OK;
}

const char *bb_imagefolder_file(const bb_dataset *d, int64_t i)
{
    if (!d || d->fetch != if_fetch || !d->impl || i < 0 || i >= d->n) return NULL;
    const ifset *s = d->impl;
    return s->names + s->off[i];
}

const char *bb_imagefolder_class(const bb_dataset *d, int64_t c)
{
    if (!d || d->fetch != if_fetch || !d->impl) return NULL;
    const ifset *s = d->impl;
    return c >= 0 && c < s->nclasses ? s->classes[c] : NULL;
}

/* ---------------- loading ---------------- */

typedef struct {
    const bb_if_scan *sc;
    int64_t k;                 /* entry in sc->ix */
    int32_t label;
} item;

static int cmp_item(const void *a, const void *b)
{
    const item *x = a, *y = b;
    if (x->label != y->label) return x->label < y->label ? -1 : 1;
    return strcmp(x->sc->ix.e[x->k].rel, y->sc->ix.e[y->k].rel);
}

/* A set of `n` items: the dataset and its impl. */
static bb_status make_set(bb_dataset *d, const char *name, const char *root, const item *it, int64_t n,
                          const bb_if_scan *classes_from, const bb_imagefolder_options *o)
{
    memset(d, 0, sizeof *d);
    ifset *s = calloc(1, sizeof *s);
    size_t bytes = 0;
    for (int64_t i = 0; i < n; i++) bytes += strlen(it[i].sc->ix.e[it[i].k].rel) + 1;
    if (!s || !(s->names = malloc(bytes)) || !(s->off = malloc((size_t)n * sizeof *s->off)) ||
        !(s->iw = malloc((size_t)n * sizeof *s->iw)) || !(s->ih = malloc((size_t)n * sizeof *s->ih)) ||
        !(s->fmt = malloc((size_t)n)) || !(s->classes = calloc((size_t)classes_from->nclasses, sizeof *s->classes)) ||
        !(d->labels = bb_alloc((size_t)n * sizeof *d->labels))) {
        d->impl = s;
        if (s) if_destroy(d);
        bb_free(d->labels);
        memset(d, 0, sizeof *d);
        return bb_fail(BB_ERR_NOMEM, "%s: out of memory for %lld samples", root, (long long)n);
    }
    snprintf(s->root, sizeof s->root, "%s", root);
    s->o = *o;
    s->o.index_dir = NULL;
    size_t pos = 0;
    for (int64_t i = 0; i < n; i++) {
        const bb_if_entry *e = &it[i].sc->ix.e[it[i].k];
        size_t l = strlen(e->rel) + 1;
        memcpy(s->names + pos, e->rel, l);
        s->off[i] = (int64_t)pos;
        pos += l;
        s->iw[i] = e->w;
        s->ih[i] = e->h;
        s->fmt[i] = e->format;
        d->labels[i] = it[i].label;
        if (e->format == BB_IMG_JPEG) s->st.jpeg++;
        else s->st.png++;
    }
    s->nclasses = classes_from->nclasses;
    for (int64_t c = 0; c < s->nclasses; c++) {
        size_t l = strlen(classes_from->classes[c]) + 1;
        if ((s->classes[c] = malloc(l))) memcpy(s->classes[c], classes_from->classes[c], l);
    }
    atomic_init(&s->failures, 0);
    snprintf(d->name, sizeof d->name, "%s", name);
    d->n = n;
    d->c = 3;
    d->h = d->w = o->size;
    d->classes = classes_from->nclasses;
    d->aug.flip = o->flip;
    for (int c = 0; c < 3; c++) { d->aug.mean[c] = IMAGENET_MEAN[c]; d->aug.std[c] = IMAGENET_STD[c]; }
    d->aug.mean[3] = 0.0f;
    d->aug.std[3] = 1.0f;
    d->fetch = if_fetch;
    d->destroy = if_destroy;
    d->impl = s;
    s->st.images = n;
    s->st.classes = classes_from->nclasses;
    return BB_OK;
}

/* bytes the cache needs for a whole set */
static int64_t cache_need(const bb_dataset *d)
{
    const ifset *s = d->impl;
    int64_t total = 0;
    for (int64_t i = 0; i < d->n; i++) {
        int64_t rw, rh, l, t;
        bb_imagefolder_eval_geometry(&s->o, s->iw[i], s->ih[i], &rw, &rh, &l, &t);
        total += rw * rh * 3 + 64;
    }
    return total;
}

static bb_status cache_on(bb_dataset *d)
{
    ifset *s = d->impl;
    s->slots = malloc((size_t)d->n * sizeof *s->slots);
    if (!s->slots) return bb_fail(BB_ERR_NOMEM, "%s: out of memory", d->name);
    for (int64_t i = 0; i < d->n; i++) atomic_init(&s->slots[i], NULL);
    s->st.cached = 1;
    return BB_OK;
}

static uint64_t path_hash(const char *p)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    return bb_mix64(h);
}

typedef struct { uint64_t h; int64_t i; } hashed;

static int cmp_hashed(const void *a, const void *b)
{
    const hashed *x = a, *y = b;
    return x->h < y->h ? -1 : x->h > y->h ? 1 : (x->i > y->i) - (x->i < y->i);
}

/* marks held[i] for the lowest-hashing round(f * count) items of each class
 * (at least 1 and at most count - 1 when count >= 2); items sorted by class */
static bb_status hold_out(const item *it, int64_t n, double f, unsigned char *held)
{
    hashed *hs = malloc((size_t)(n ? n : 1) * sizeof *hs);
    if (!hs) return bb_fail(BB_ERR_NOMEM, "out of memory");
    for (int64_t a = 0; a < n;) {
        int64_t b = a;
        while (b < n && it[b].label == it[a].label) b++;
        int64_t cnt = b - a, m = (int64_t)llround(f * (double)cnt);
        if (cnt >= 2) m = m < 1 ? 1 : m > cnt - 1 ? cnt - 1 : m;
        else m = 0;
        for (int64_t i = a; i < b; i++) hs[i - a] = (hashed){path_hash(it[i].sc->ix.e[it[i].k].rel), i};
        qsort(hs, (size_t)cnt, sizeof *hs, cmp_hashed);
        for (int64_t j = 0; j < m; j++) held[hs[j].i] = 1;
        a = b;
    }
    free(hs);
    return BB_OK;
}

static int find_class(const bb_if_scan *tr, const char *name)
{
    int64_t lo = 0, hi = tr->nclasses;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2, c = strcmp(tr->classes[mid], name);
        if (c == 0) return (int)mid;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return -1;
}

/* good entries of a scan as items (labels through `map`), sorted by (label, path); bad ones counted and reported */
static bb_status collect(const bb_if_scan *sc, const int32_t *map, const char *root, const bb_imagefolder_options *o,
                         item **out, int64_t *n, int64_t *bad)
{
    *n = 0;
    *bad = 0;
    *out = malloc((size_t)(sc->ix.n ? sc->ix.n : 1) * sizeof **out);
    if (!*out) return bb_fail(BB_ERR_NOMEM, "out of memory");
    const bb_if_entry *first_bad = NULL;
    for (int64_t k = 0; k < sc->ix.n; k++) {
        const bb_if_entry *e = &sc->ix.e[k];
        if (e->ok) { (*out)[(*n)++] = (item){sc, k, map ? map[sc->cls[k]] : sc->cls[k]}; continue; }
        if (!first_bad) first_bad = e;
        if (*bad < 20)
            bb_if_say(o, BB_LOG_WARN, "imagefolder: bad image %s/%s: %s%s", root, e->rel, e->reason ? e->reason : "unreadable",
                      o->bad_fail ? "" : " (left out)");
        (*bad)++;
    }
    if (*bad > 20) bb_if_say(o, BB_LOG_WARN, "imagefolder: ... and %lld more bad images in %s", (long long)(*bad - 20), root);
    if (*bad && o->bad_fail) {
        free(*out);
        *out = NULL;
        return bb_fail(BB_ERR_FORMAT, "%s/%s: %s (%lld bad image%s in %s; --bad-images skip leaves them out)", root,
                       first_bad->rel, first_bad->reason ? first_bad->reason : "unreadable", (long long)*bad,
                       *bad == 1 ? "" : "s", root);
    }
    if (*n > 1) qsort(*out, (size_t)*n, sizeof **out, cmp_item);
    return BB_OK;
}

static bb_status check_options(const bb_imagefolder_options *o)
{
    if (o->size < 8 || o->size > 4096) return bb_fail(BB_ERR_INVALID, "image size %lld, expected 8..4096", (long long)o->size);
    if (o->eval_resize != 0 && (o->eval_resize < o->size || o->eval_resize > 8192))
        return bb_fail(BB_ERR_INVALID, "evaluation resize %lld, expected 0 or %lld..8192 (not below the crop size)",
                       (long long)o->eval_resize, (long long)o->size);
    if (!(o->min_area > 0 && o->min_area <= o->max_area && o->max_area <= 1))
        return bb_fail(BB_ERR_INVALID, "crop area range [%g, %g], expected 0 < min <= max <= 1", o->min_area, o->max_area);
    if (!(o->min_ratio > 0 && o->min_ratio <= o->max_ratio && isfinite(o->max_ratio)))
        return bb_fail(BB_ERR_INVALID, "crop ratio range [%g, %g], expected 0 < min <= max", o->min_ratio, o->max_ratio);
    if (!(o->holdout >= 0 && o->holdout < 1)) return bb_fail(BB_ERR_INVALID, "holdout %g, expected [0, 1)", o->holdout);
    if (o->cache_bytes < 0) return bb_fail(BB_ERR_INVALID, "cache budget %lld bytes, expected >= 0", (long long)o->cache_bytes);
    return BB_OK;
}

static void log_scan(const bb_imagefolder_options *o, const char *root, const bb_if_scan *sc, int64_t bad, const char *what)
{
    char ignored[1200] = "";
    if (sc->ignored) snprintf(ignored, sizeof ignored, ", %lld other files ignored (e.g. %.1000s)", (long long)sc->ignored,
                              sc->ignored_example);
    bb_if_say(o, BB_LOG_INFO, "imagefolder %s: %lld classes, %lld files (%s); %lld bad (%s)%s; index %s: %lld reused, "
              "%lld verified", root, (long long)sc->nclasses, (long long)sc->ix.n, what, (long long)bad,
              o->bad_fail ? "fatal" : "left out", ignored, sc->index_path[0] ? sc->index_path : "(not written)",
              (long long)sc->reused, (long long)sc->checked);
}

bb_status bb_imagefolder_load(bb_dataset *train, bb_dataset *val, const char *root, const char *val_root,
                              const bb_imagefolder_options *o)
{
    memset(train, 0, sizeof *train);
    memset(val, 0, sizeof *val);
    BB_TRY(check_options(o));
    int has_val = val_root && val_root[0];
    if (!has_val && o->holdout <= 0)
        return bb_fail(BB_ERR_INVALID, "%s: no validation folder and no held-out fraction: give a validation root "
                       "(--val-dir) or a fraction to hold out (--holdout)", root);
    bb_if_scan tr, va;
    memset(&va, 0, sizeof va);
    item *ti = NULL, *vi = NULL;
    int32_t *map = NULL;
    unsigned char *held = NULL;
    int64_t tn = 0, vn = 0, tbad = 0, vbad = 0;
    BB_TRY(bb_if_scan_root(root, o, &tr));
    bb_status st = BB_OK;
    if (has_val) {
        st = bb_if_scan_root(val_root, o, &va);
        if (st == BB_OK && !(map = malloc((size_t)va.nclasses * sizeof *map))) st = bb_fail(BB_ERR_NOMEM, "out of memory");
        for (int64_t c = 0; st == BB_OK && c < va.nclasses; c++)
            if ((map[c] = find_class(&tr, va.classes[c])) < 0)
                st = bb_fail(BB_ERR_FORMAT, "%s/%s: class folder '%s' is not one of the %lld classes of %s (first: %s)",
                             val_root, va.classes[c], va.classes[c], (long long)tr.nclasses, root, tr.classes[0]);
    }
    if (st == BB_OK) st = collect(&tr, NULL, root, o, &ti, &tn, &tbad);
    if (st == BB_OK && has_val) st = collect(&va, map, val_root, o, &vi, &vn, &vbad);
    if (st == BB_OK && tn == 0) st = bb_fail(BB_ERR_FORMAT, "%s: no usable JPEG or PNG images in %lld class folders", root, (long long)tr.nclasses);
    if (st == BB_OK && has_val && vn == 0) st = bb_fail(BB_ERR_FORMAT, "%s: no usable JPEG or PNG images", val_root);
    if (st == BB_OK && !has_val) {  /* hold out part of each class; both sets keep the (class, path) order */
        held = calloc((size_t)tn, 1);
        if (!held || !(vi = malloc((size_t)tn * sizeof *vi))) st = bb_fail(BB_ERR_NOMEM, "out of memory");
        if (st == BB_OK) st = hold_out(ti, tn, o->holdout, held);
        int64_t keep = 0;
        for (int64_t i = 0; st == BB_OK && i < tn; i++) {
            if (held[i]) vi[vn++] = ti[i];
            else ti[keep++] = ti[i];
        }
        if (st == BB_OK) tn = keep;
        if (st == BB_OK && vn == 0)
            st = bb_fail(BB_ERR_FORMAT, "%s: nothing to hold out for evaluation (every class has fewer than 2 usable "
                         "images): give a validation root (--val-dir)", root);
    }
    if (st == BB_OK) st = make_set(train, "imagefolder/train", root, ti, tn, &tr, o);
    if (st == BB_OK) st = make_set(val, has_val ? "imagefolder/val" : "imagefolder/heldout", has_val ? val_root : root, vi,
                                   vn, &tr, o);
    if (st == BB_OK) {
        ifset *a = train->impl, *b = val->impl;
        a->st.bad = tbad; a->st.ignored = tr.ignored; a->st.checked = tr.checked; a->st.reused = tr.reused;
        snprintf(a->st.index_path, sizeof a->st.index_path, "%s", tr.index_path);
        b->st.bad = has_val ? vbad : 0;
        b->st.ignored = has_val ? va.ignored : 0;
        b->st.checked = has_val ? va.checked : 0;
        b->st.reused = has_val ? va.reused : 0;
        snprintf(b->st.index_path, sizeof b->st.index_path, "%s", has_val ? va.index_path : tr.index_path);
        /* the cache: a whole set or nothing, decided from the budget and the
         * files alone, so a run's inputs never depend on timing */
        int64_t need_t = cache_need(train), need_v = cache_need(val), left = o->cache_bytes;
        a->st.cache_bytes = need_t;
        b->st.cache_bytes = need_v;
        if (need_t <= left) { st = cache_on(train); left -= need_t; }
        if (st == BB_OK && need_v <= left) st = cache_on(val);
        int64_t *count = bb_if_reports(o) ? calloc((size_t)tr.nclasses, sizeof *count) : NULL;
        for (int64_t i = 0; count && i < tn; i++) count[train->labels[i]]++;
        for (int64_t c = 0; count && c < tr.nclasses; c++)
            if (count[c] == 0)
                bb_if_say(o, BB_LOG_WARN, "imagefolder %s: warning: class '%s' has no training images", root, tr.classes[c]);
        free(count);
    }
    if (st == BB_OK && bb_if_reports(o)) {
        char what[160];
        snprintf(what, sizeof what, "%lld for training%s", (long long)tn, has_val ? "" : ", the rest held out");
        log_scan(o, root, &tr, tbad, what);
        if (has_val) log_scan(o, val_root, &va, vbad, "for evaluation");
        ifset *a = train->impl, *b = val->impl;
        bb_if_say(o, BB_LOG_INFO, "imagefolder: %lld training and %lld evaluation images of %lld classes, %lldx%lld crops "
                "(evaluation: short side %lld, centre crop); decoded-image cache: training %s (%.1f MB), evaluation %s "
                "(%.1f MB), budget %.1f MB", (long long)tn, (long long)vn, (long long)tr.nclasses, (long long)o->size,
                (long long)o->size, (long long)eval_resize(o), a->st.cached ? "on" : "off", (double)a->st.cache_bytes / 1e6,
                b->st.cached ? "on" : "off", (double)b->st.cache_bytes / 1e6, (double)o->cache_bytes / 1e6);
    }
    free(ti);
    free(vi);
    free(map);
    free(held);
    bb_if_scan_free(&tr);
    bb_if_scan_free(&va);
    if (st != BB_OK) {
        bb_dataset_free(train);
        bb_dataset_free(val);
    }
    return st;
}
