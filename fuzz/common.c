/* What the fuzz targets share: a gzip writer to build valid compressed
 * inputs, and the checks of a loaded dataset. */
#include "fuzz.h"

#include "data/data.h"
#include "util/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <zlib.h>

void bb_fuzz_violation(const char *what, const char *file, int line)
{
    fprintf(stderr, "%s:%d: fuzz property violated: %s\n", file, line, what);
    abort();
}

uint32_t bb_fuzz_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int deflate_member(const uint8_t *src, size_t n, unsigned char *dst, size_t cap, size_t *len)
{
    z_stream z = {0};
    if (deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) return -1;
    z.next_in = (unsigned char *)src;
    z.avail_in = (uInt)n;
    z.next_out = dst;
    z.avail_out = (uInt)cap;
    int r = deflate(&z, Z_FINISH);
    *len = cap - z.avail_out;
    deflateEnd(&z);
    return r == Z_STREAM_END ? 0 : -1;
}

unsigned char *bb_fuzz_gzip(const uint8_t *src, size_t n, int members, size_t *out_len)
{
    size_t cap = 2 * (compressBound((uLong)n) + 64), half = members > 1 ? n / 2 : n, a = 0, b = 0;
    unsigned char *out = malloc(cap);
    if (!out) return NULL;
    if (deflate_member(src, half, out, cap, &a) != 0 ||
        (members > 1 && deflate_member(src + half, n - half, out + a, cap - a, &b) != 0)) {
        free(out);
        return NULL;
    }
    *out_len = a + b;
    return out;
}

void bb_fuzz_check_dataset(void *dataset)
{
    bb_dataset *d = dataset;
    BB_FUZZ_REQUIRE(d->n >= 1 && d->c >= 1 && d->h >= 1 && d->w >= 1 && d->classes >= 1);
    for (int64_t i = 0; i < d->n; i++) BB_FUZZ_REQUIRE(d->labels[i] >= 0 && d->labels[i] < d->classes);
    float *x = bb_alloc((size_t)(d->c * d->h * d->w) * sizeof(float));
    BB_FUZZ_REQUIRE(x != NULL);
    int64_t probe[2] = {0, d->n - 1};
    for (int i = 0; i < 2; i++)
        for (int train = 0; train < 2; train++)
            BB_FUZZ_REQUIRE(d->fetch(d, probe[i], train, 7, 3, x) == BB_OK);
    bb_free(x);
    bb_dataset_free(d);
}
