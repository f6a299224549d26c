/* Image files for the folder reader: JPEG (libjpeg-turbo) and PNG (libpng)
 * decoding to 8-bit RGB, full verification, writing (tests, benchmarks), and
 * the antialiased bilinear resampler that crops and resizes. Not part of the
 * public API; decoding never prints, every failure is a bb_status and message. */
#ifndef BB_DATA_IMAGE_H
#define BB_DATA_IMAGE_H

#include "util/status.h"

#include <stddef.h>
#include <stdint.h>

enum { BB_IMG_UNKNOWN = 0, BB_IMG_JPEG = 1, BB_IMG_PNG = 2 };

/* Largest image accepted (pixels), so that a hostile header cannot make us
 * allocate gigabytes: 2^27 = 134 M pixels (11585 x 11585). */
#define BB_IMG_MAX_PIXELS ((int64_t)1 << 27)

typedef struct {
    int format;                /* BB_IMG_JPEG / BB_IMG_PNG, decided by content (magic bytes) */
    int64_t w, h;              /* full-resolution size */
    int channels;              /* in the file: 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA or CMYK */
} bb_image_info;

/* A decoded region: pixel (x, y) of the image at scale num/8 is at
 * px[(y - y0) * stride + (x - x0) * 3], RGB, for x0 <= x < x0 + w, y0 <= y < y0 + h.
 * full_w, full_h: the whole image's size at that scale. */
typedef struct {
    uint8_t *px;               /* malloc'd; bb_image_free */
    int64_t x0, y0, w, h, stride;
    int64_t full_w, full_h;
    int scale_num;             /* JPEG DCT scaling: decoded at scale_num / 8 (8 = full size); PNG: 8 */
} bb_image;

/* Format by magic bytes: FF D8 FF (JPEG), 89 'P' 'N' 'G' (PNG). */
int bb_image_sniff(const uint8_t *buf, size_t len);

/* Decodes the whole file once at the smallest JPEG scale (1/8; entropy-coded
 * data is read completely either way) to find its size and every error a full
 * decode would hit. Fails with BB_ERR_FORMAT and a reason ("truncated JPEG
 * (Premature end of JPEG file)", "not a JPEG or PNG file (starts with ...)"). */
bb_status bb_image_verify(const uint8_t *buf, size_t len, bb_image_info *info);

/* Decodes at scale num/8 (JPEG; 1 <= num <= 8; PNG always 8) the pixels
 * needed for the source rectangle [rx0, rx1) x [ry0, ry1) given in pixels of
 * the scaled image (clipped to it; the whole image if rx1 <= rx0). JPEG may
 * decode a slightly larger region (iMCU columns); rows below ry1 are never
 * decoded. partial = 0 decodes every row and column. Grayscale is replicated,
 * alpha is dropped (as PIL's convert("RGB")), CMYK/YCCK (Adobe) converted,
 * 16-bit PNG scaled to 8. Data-loss warnings (truncation, bad Huffman code) are
 * errors. */
bb_status bb_image_decode(const uint8_t *buf, size_t len, int num, int64_t rx0, int64_t ry0, int64_t rx1,
                          int64_t ry1, int partial, bb_image *out);
void bb_image_free(bb_image *im);

/* Size of the whole image at scale num/8 (libjpeg: ceil(size * num / 8)). */
static inline int64_t bb_image_scaled(int64_t size, int num) { return (size * num + 7) / 8; }

/* Antialiased bilinear resampling (PIL's Image.resize(size, BILINEAR, box)):
 * the source box [bx0, bx1) x [by0, by1) (scaled-image pixels, fractional
 * allowed) is resized to a full output of out_w x out_h, of which the
 * sub-rectangle [ox, ox + ow) x [oy, oy + oh) is written to dst (RGB, rounded
 * to bytes, row stride dst_stride bytes). When downscaling, the triangle
 * filter is widened by the scale factor. Pixels outside `src`'s region are
 * never read: the taps are clipped to the decoded region and renormalized. */
bb_status bb_image_resample(const bb_image *src, double bx0, double by0, double bx1, double by1, int64_t out_w,
                            int64_t out_h, int64_t ox, int64_t oy, int64_t ow, int64_t oh, uint8_t *dst,
                            int64_t dst_stride);
/* Source rows/columns [*lo, *hi) that resampling [b0, b1) to `out` pixels
 * (output range [o, o + len)) reads, clipped to [0, size). */
void bb_image_resample_span(double b0, double b1, int64_t out, int64_t o, int64_t len, int64_t size, int64_t *lo,
                            int64_t *hi);

/* Writers (RGB or gray interleaved rows; used to make test and benchmark data).
 * JPEG: channels 1 or 3, 4:2:0 chroma, baseline or progressive. */
bb_status bb_image_write_jpeg(const char *path, const uint8_t *px, int64_t w, int64_t h, int channels, int quality,
                              int progressive);
/* channels 1 (gray), 2 (gray+alpha), 3 (RGB) or 4 (RGBA); interlace: Adam7 */
bb_status bb_image_write_png(const char *path, const uint8_t *px, int64_t w, int64_t h, int channels, int interlace);

#endif
