/* Antialiased bilinear resampling of an RGB byte image, PIL's Image.resize
 * with BILINEAR and a box: separable, vertical pass into a float row, then
 * horizontal pass rounded to bytes. Weights depend only on (box, output size, output
 * index), so a sub-rectangle of an output is bit-identical to the same pixels
 * of the whole output. */
#include "data/image.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* triangle filter: f(x) = max(0, 1 - |x|), support 1 */
static double tri(double x)
{
    if (x < 0) x = -x;
    return x < 1.0 ? 1.0 - x : 0.0;
}

/* t[0..8) += k * r[0..8): a fixed length the compiler turns into vector code at -O2 */
static inline void axpy8(float *restrict t, float k, const uint8_t *restrict r)
{
    for (int j = 0; j < 8; j++) t[j] += k * (float)r[j];
}

typedef struct {
    int64_t *lo;               /* first tap of output i (source index) */
    int *n;                    /* taps */
    float *w;                  /* len x ksize */
    int ksize;
} coeffs;

/* Taps of output i of `out` over the source box [b0, b1): center = b0 + (i + 0.5) s,
 * support max(s, 1), source pixels [xmin, xmax) clipped to [0, size). */
static void taps(double b0, double b1, int64_t out, int64_t i, int64_t size, double *center, double *support,
                 int64_t *xmin, int64_t *xmax)
{
    double s = (b1 - b0) / (double)out, fs = s < 1.0 ? 1.0 : s;
    *support = fs;
    *center = b0 + ((double)i + 0.5) * s;
    double a = *center - fs + 0.5, b = *center + fs + 0.5;
    *xmin = a < 0 ? 0 : (int64_t)a;
    *xmax = b > (double)size ? size : (int64_t)b;
    if (*xmax < *xmin) *xmax = *xmin;
}

void bb_image_resample_span(double b0, double b1, int64_t out, int64_t o, int64_t len, int64_t size, int64_t *lo,
                            int64_t *hi)
{
    double c, sup;
    int64_t a0, a1, z0, z1;
    taps(b0, b1, out, o, size, &c, &sup, &a0, &a1);
    taps(b0, b1, out, o + len - 1, size, &c, &sup, &z0, &z1);
    *lo = a0;
    *hi = z1 > a1 ? z1 : a1;
}

/* region [r0, r0 + rn) of the source actually decoded */
static int make_coeffs(coeffs *c, double b0, double b1, int64_t out, int64_t o, int64_t len, int64_t size,
                       int64_t r0, int64_t rn)
{
    double s = (b1 - b0) / (double)out;
    c->ksize = (int)ceil(s < 1.0 ? 1.0 : s) * 2 + 2;
    c->lo = malloc((size_t)len * sizeof *c->lo);
    c->n = malloc((size_t)len * sizeof *c->n);
    c->w = malloc((size_t)len * (size_t)c->ksize * sizeof *c->w);
    if (!c->lo || !c->n || !c->w) return 0;
    for (int64_t i = 0; i < len; i++) {
        double center, support;
        int64_t xmin, xmax;
        taps(b0, b1, out, o + i, size, &center, &support, &xmin, &xmax);
        if (xmin < r0) xmin = r0;
        if (xmax > r0 + rn) xmax = r0 + rn;
        if (xmax <= xmin) {  /* nothing decoded under this pixel: take the nearest decoded one */
            xmin = center < (double)r0 ? r0 : r0 + rn - 1;
            xmax = xmin + 1;
        }
        int n = (int)(xmax - xmin);
        if (n > c->ksize) n = c->ksize;
        double ww = 0, wk[64], ss = 1.0 / support;
        double *k = n <= 64 ? wk : malloc((size_t)n * sizeof *k);
        if (!k) return 0;
        for (int x = 0; x < n; x++) {
            k[x] = tri(((double)(x + xmin) - center + 0.5) * ss);
            ww += k[x];
        }
        float *dst = c->w + i * c->ksize;
        for (int x = 0; x < n; x++) dst[x] = (float)(ww != 0.0 ? k[x] / ww : 1.0 / n);
        if (k != wk) free(k);
        c->lo[i] = xmin;
        c->n[i] = n;
    }
    return 1;
}

static void free_coeffs(coeffs *c)
{
    free(c->lo);
    free(c->n);
    free(c->w);
}

bb_status bb_image_resample(const bb_image *src, double bx0, double by0, double bx1, double by1, int64_t out_w,
                            int64_t out_h, int64_t ox, int64_t oy, int64_t ow, int64_t oh, uint8_t *dst,
                            int64_t dst_stride)
{
    if (!(bx1 > bx0) || !(by1 > by0) || out_w < 1 || out_h < 1 || ow < 1 || oh < 1 || ox < 0 || oy < 0 ||
        ox + ow > out_w || oy + oh > out_h || src->w < 1 || src->h < 1)
        return bb_fail(BB_ERR_INVALID, "resample: box [%g, %g) x [%g, %g) to %lld x %lld (part %lld+%lld, %lld+%lld) "
                       "of a %lld x %lld region", bx0, bx1, by0, by1, (long long)out_w, (long long)out_h, (long long)ox,
                       (long long)ow, (long long)oy, (long long)oh, (long long)src->w, (long long)src->h);
    coeffs cx = {0}, cy = {0};
    float *tmp = NULL;
    bb_status s = BB_OK;
    if (!make_coeffs(&cx, bx0, bx1, out_w, ox, ow, src->full_w, src->x0, src->w) ||
        !make_coeffs(&cy, by0, by1, out_h, oy, oh, src->full_h, src->y0, src->h)) {
        s = bb_fail(BB_ERR_NOMEM, "resample: out of memory");
        goto done;
    }
    /* source columns [xlo, xhi) the horizontal taps read; every output column
     * gets K taps, zero-weighted past its own (so the inner loop has one length) */
    int64_t xlo = cx.lo[0], xhi = 0;
    int K = 1;
    for (int64_t i = 0; i < ow; i++) {
        if (cx.lo[i] < xlo) xlo = cx.lo[i];
        if (cx.lo[i] + cx.n[i] > xhi) xhi = cx.lo[i] + cx.n[i];
        if (cx.n[i] > K) K = cx.n[i];
    }
    for (int64_t i = 0; i < ow; i++)
        for (int k = cx.n[i]; k < cx.ksize; k++) cx.w[i * cx.ksize + k] = 0.0f;
    int64_t span = xhi - xlo + K;  /* K zero columns at the end keep every tap inside the row */
    tmp = calloc((size_t)(span * 3), sizeof *tmp);
    if (!tmp) { s = bb_fail(BB_ERR_NOMEM, "resample: out of memory"); goto done; }
    for (int64_t y = 0; y < oh; y++) {
        /* vertical: tap by tap over the row segment (contiguous, vectorizes) */
        const float *ky = cy.w + y * cy.ksize;
        const uint8_t *r0 = src->px + (cy.lo[y] - src->y0) * src->stride + (xlo - src->x0) * 3;
        int64_t len = (xhi - xlo) * 3;
        for (int i = 0; i < cy.n[y]; i++) {
            const uint8_t *r = r0 + i * src->stride;
            float k = ky[i];
            if (i == 0) memset(tmp, 0, (size_t)len * sizeof *tmp);
            int64_t x = 0;
            for (; x + 8 <= len; x += 8) axpy8(tmp + x, k, r + x);
            for (; x < len; x++) tmp[x] += k * (float)r[x];
        }
        /* horizontal, rounded to bytes */
        uint8_t *d = dst + y * dst_stride;
        for (int64_t x = 0; x < ow; x++) {
            const float *k = cx.w + x * cx.ksize, *tp = tmp + (cx.lo[x] - xlo) * 3;
            float r = 0.5f, g = 0.5f, b = 0.5f;
            for (int i = 0; i < K; i++) {
                r += k[i] * tp[3 * i];
                g += k[i] * tp[3 * i + 1];
                b += k[i] * tp[3 * i + 2];
            }
            d[3 * x] = (uint8_t)(r >= 255 ? 255 : r);
            d[3 * x + 1] = (uint8_t)(g >= 255 ? 255 : g);
            d[3 * x + 2] = (uint8_t)(b >= 255 ? 255 : b);
        }
    }
done:
    free(tmp);
    free_coeffs(&cx);
    free_coeffs(&cy);
    return s;
}
