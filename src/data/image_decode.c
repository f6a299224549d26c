/* JPEG (libjpeg-turbo) and PNG (libpng) decoding to 8-bit RGB from memory.
 * JPEGs are decoded with DCT scaling (scale_num / 8) and, for crops, only the
 * needed columns (jpeg_crop_scanline) and rows (jpeg_skip_scanlines, and no
 * row below the crop). Both libraries report errors by longjmp: every setjmp
 * here sits in a function whose state lives in a caller-owned context, so
 * nothing indeterminate is read after the jump. */
#include "data/image.h"

#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

int bb_image_sniff(const uint8_t *buf, size_t len)
{
    if (len >= 3 && buf[0] == 0xFF && buf[1] == 0xD8 && buf[2] == 0xFF) return BB_IMG_JPEG;
    if (len >= 8 && !memcmp(buf, "\x89PNG\r\n\x1a\n", 8)) return BB_IMG_PNG;
    return BB_IMG_UNKNOWN;
}

static bb_status not_an_image(const uint8_t *buf, size_t len)
{
    if (len == 0) return bb_fail(BB_ERR_FORMAT, "empty file, not a JPEG or PNG image");
    char hex[40] = "";
    size_t n = len < 8 ? len : 8;
    for (size_t i = 0; i < n; i++) snprintf(hex + 3 * i, sizeof hex - 3 * i, "%02x ", buf[i]);
    hex[3 * n - 1] = 0;
    return bb_fail(BB_ERR_FORMAT, "not a JPEG or PNG image (starts with %s; JPEG starts ff d8 ff, PNG 89 50 4e 47)", hex);
}

static bb_status too_large(int64_t w, int64_t h)
{
    return bb_fail(BB_ERR_FORMAT, "image of %lld x %lld pixels, more than the %lld pixels allowed", (long long)w,
                   (long long)h, (long long)BB_IMG_MAX_PIXELS);
}

void bb_image_free(bb_image *im)
{
    if (!im) return;
    free(im->px);
    memset(im, 0, sizeof *im);
}

/* ---------------- JPEG ---------------- */

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
    char msg[JMSG_LENGTH_MAX + 64];
} jpeg_err;

static void jpeg_on_error(j_common_ptr c)
{
    jpeg_err *e = (jpeg_err *)c->err;
    char m[JMSG_LENGTH_MAX];
    c->err->format_message(c, m);
    snprintf(e->msg, sizeof e->msg, "corrupt JPEG (%s)", m);
    longjmp(e->jb, 1);
}

/* Warnings that mean pixels were lost are errors; the harmless ones
 * (extraneous bytes before a marker, unknown JFIF revision, ...) are not. */
static void jpeg_on_message(j_common_ptr c, int level)
{
    if (level >= 0) return;
    int code = c->err->msg_code;
    c->err->num_warnings++;
    if (code != JWRN_JPEG_EOF && code != JWRN_HIT_MARKER && code != JWRN_HUFF_BAD_CODE && code != JWRN_MUST_RESYNC &&
        code != JWRN_ARITH_BAD_CODE && code != JWRN_NOT_SEQUENTIAL)
        return;
    jpeg_err *e = (jpeg_err *)c->err;
    char m[JMSG_LENGTH_MAX];
    c->err->format_message(c, m);
    snprintf(e->msg, sizeof e->msg, "%s JPEG (%s)", code == JWRN_JPEG_EOF ? "truncated" : "corrupt", m);
    longjmp(e->jb, 1);
}

#define MARGIN 16           /* columns decoded beyond a crop on each side */

typedef struct {
    struct jpeg_decompress_struct ci;
    jpeg_err err;
    const uint8_t *buf;
    size_t len;
    int num, partial, verify;
    int64_t rx0, ry0, rx1, ry1;
    uint8_t *row;              /* one scanline in the output colour space */
    bb_image *out;
    bb_image_info info;
    int cmyk, adobe;
    bb_status status;          /* of our own failures (return 2) */
} jpeg_job;

/* CMYK/YCCK arrive as CMYK; Adobe files store the inks inverted. PIL's
 * conversion: r = (255 - c) (255 - k) / 255. */
static void cmyk_row(const uint8_t *in, uint8_t *out, int64_t w, int adobe)
{
    for (int64_t x = 0; x < w; x++) {
        unsigned c = in[4 * x], m = in[4 * x + 1], y = in[4 * x + 2], k = in[4 * x + 3];
        if (!adobe) { c = 255 - c; m = 255 - m; y = 255 - y; k = 255 - k; }
        out[3 * x] = (uint8_t)((c * k + 127) / 255);
        out[3 * x + 1] = (uint8_t)((m * k + 127) / 255);
        out[3 * x + 2] = (uint8_t)((y * k + 127) / 255);
    }
}

/* Returns 0 on success, 1 after a libjpeg error (message in j->err.msg), 2
 * for our own failures (message already set by bb_fail). */
static int jpeg_run(jpeg_job *j)
{
    struct jpeg_decompress_struct *ci = &j->ci;
    if (setjmp(j->err.jb)) return 1;
    jpeg_create_decompress(ci);
    jpeg_mem_src(ci, j->buf, (unsigned long)j->len);
    jpeg_read_header(ci, TRUE);
    j->info.format = BB_IMG_JPEG;
    j->info.w = ci->image_width;
    j->info.h = ci->image_height;
    j->info.channels = ci->num_components;
    if ((int64_t)ci->image_width * ci->image_height > BB_IMG_MAX_PIXELS) {
        j->status = too_large(ci->image_width, ci->image_height);
        return 2;
    }
    j->cmyk = ci->jpeg_color_space == JCS_CMYK || ci->jpeg_color_space == JCS_YCCK;
    j->adobe = ci->saw_Adobe_marker;
    ci->out_color_space = j->cmyk ? JCS_CMYK : JCS_RGB;
    ci->scale_num = (unsigned)j->num;
    ci->scale_denom = 8;
    jpeg_start_decompress(ci);
    int64_t W = ci->output_width, H = ci->output_height, comps = ci->output_components;
    j->row = malloc((size_t)(W * comps));
    if (!j->row) { j->status = bb_fail(BB_ERR_NOMEM, "cannot allocate a row of %lld pixels", (long long)W); return 2; }
    if (j->verify) {
        while (ci->output_scanline < ci->output_height) {
            JSAMPROW r = j->row;
            jpeg_read_scanlines(ci, &r, 1);
        }
        jpeg_finish_decompress(ci);
        return 0;
    }
    int64_t x0 = 0, x1 = W, y0 = 0, y1 = H;
    if (j->rx1 > j->rx0) {
        x0 = j->rx0 < 0 ? 0 : j->rx0 > W ? W : j->rx0;
        x1 = j->rx1 > W ? W : j->rx1 < x0 ? x0 : j->rx1;
        y0 = j->ry0 < 0 ? 0 : j->ry0 > H ? H : j->ry0;
        y1 = j->ry1 > H ? H : j->ry1 < y0 ? y0 : j->ry1;
    }
    if (x1 <= x0) { x0 = 0; x1 = W; }
    if (y1 <= y0) { y0 = 0; y1 = H; }
    if (!j->partial) { x0 = 0; x1 = W; y0 = 0; y1 = H; }
    /* Chroma upsampling treats a cropped edge as the image edge: keep a margin
     * so the requested columns decode exactly as in a full decode. */
    int64_t m0 = x0 - MARGIN < 0 ? 0 : x0 - MARGIN, m1 = x1 + MARGIN > W ? W : x1 + MARGIN;
    int64_t cw = W;
    JDIMENSION xoff = (JDIMENSION)m0, width = (JDIMENSION)(m1 - m0);
    if (j->partial && (m0 > 0 || m1 < W)) {
        jpeg_crop_scanline(ci, &xoff, &width);  /* widened to iMCU boundaries */
        cw = width;
    } else {
        xoff = 0;
    }
    bb_image *o = j->out;
    o->x0 = xoff;
    o->w = cw;
    o->y0 = y0;
    o->h = y1 - y0;
    o->stride = 3 * cw;
    o->full_w = W;
    o->full_h = H;
    o->scale_num = j->num;
    o->px = malloc((size_t)(o->stride * o->h));
    if (!o->px) { j->status = bb_fail(BB_ERR_NOMEM, "cannot allocate %lld x %lld pixels", (long long)cw, (long long)o->h); return 2; }
    if (y0 > 0) jpeg_skip_scanlines(ci, (JDIMENSION)y0);
    for (int64_t y = y0; y < y1; y++) {
        uint8_t *dst = o->px + (y - y0) * o->stride;
        JSAMPROW r = j->cmyk ? j->row : dst;
        jpeg_read_scanlines(ci, &r, 1);
        if (j->cmyk) cmyk_row(j->row, dst, cw, j->adobe);
    }
    if (ci->output_scanline < ci->output_height) jpeg_abort_decompress(ci);
    else jpeg_finish_decompress(ci);
    return 0;
}

static bb_status jpeg_decode(const uint8_t *buf, size_t len, int num, int64_t rx0, int64_t ry0, int64_t rx1,
                             int64_t ry1, int partial, int verify, bb_image *out, bb_image_info *info)
{
    jpeg_job *j = calloc(1, sizeof *j);
    if (!j) return bb_fail(BB_ERR_NOMEM, "out of memory");
    j->buf = buf; j->len = len; j->num = num; j->partial = partial; j->verify = verify;
    j->rx0 = rx0; j->ry0 = ry0; j->rx1 = rx1; j->ry1 = ry1;
    j->out = out;
    j->ci.err = jpeg_std_error(&j->err.pub);
    j->err.pub.error_exit = jpeg_on_error;
    j->err.pub.emit_message = jpeg_on_message;
    int r = jpeg_run(j);
    jpeg_destroy_decompress(&j->ci);
    free(j->row);
    bb_status s = BB_OK;
    if (r == 1) s = bb_fail(BB_ERR_FORMAT, "%s", j->err.msg);
    else if (r == 2) s = j->status;  /* message already set */
    if (info) *info = j->info;
    free(j);
    if (s != BB_OK && out) bb_image_free(out);
    return s;
}

/* ---------------- PNG ---------------- */

typedef struct {
    png_structp png;
    png_infop info;
    const uint8_t *buf;
    size_t len, pos;
    char msg[256];
    int verify;
    int64_t ry1;
    uint8_t *row;
    png_bytep *rows;
    bb_image *out;
    bb_image_info inf;
    bb_status status;          /* of our own failures (return 2) */
} png_job;

static void png_on_read(png_structp p, png_bytep dst, size_t n)
{
    png_job *j = png_get_io_ptr(p);
    if (j->len - j->pos < n) {
        snprintf(j->msg, sizeof j->msg, "truncated PNG (file ends at byte %zu, %zu more bytes needed)", j->len,
                 n - (j->len - j->pos));
        png_longjmp(p, 2);
    }
    memcpy(dst, j->buf + j->pos, n);
    j->pos += n;
}

static void png_on_error(png_structp p, png_const_charp m)
{
    png_job *j = png_get_error_ptr(p);
    snprintf(j->msg, sizeof j->msg, "corrupt PNG (%s)", m);
    png_longjmp(p, 1);
}

static void png_on_warning(png_structp p, png_const_charp m) { (void)p; (void)m; }

static int png_run(png_job *j)
{
    png_structp p = j->png;
    png_infop in = j->info;
    if (setjmp(png_jmpbuf(p))) return 1;
    png_set_read_fn(p, j, png_on_read);
    png_read_info(p, in);
    png_uint_32 w = png_get_image_width(p, in), h = png_get_image_height(p, in);
    int ct = png_get_color_type(p, in), depth = png_get_bit_depth(p, in);
    j->inf.format = BB_IMG_PNG;
    j->inf.w = w;
    j->inf.h = h;
    j->inf.channels = png_get_channels(p, in);
    if ((int64_t)w * h > BB_IMG_MAX_PIXELS) { j->status = too_large(w, h); return 2; }
    if (ct == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(p);
    if (ct == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(p);
    if (depth == 16) png_set_scale_16(p);
    if (ct & PNG_COLOR_MASK_ALPHA) png_set_strip_alpha(p);
    if (ct == PNG_COLOR_TYPE_GRAY || ct == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(p);
    int passes = png_set_interlace_handling(p);
    png_read_update_info(p, in);
    size_t rb = png_get_rowbytes(p, in);
    if (rb != (size_t)w * 3) { snprintf(j->msg, sizeof j->msg, "PNG row of %zu bytes, expected %lu", rb, 3ul * w); return 1; }
    if (j->verify) {
        j->row = malloc(rb);
        if (!j->row) { j->status = bb_fail(BB_ERR_NOMEM, "out of memory"); return 2; }
        for (int pass = 0; pass < passes; pass++)
            for (png_uint_32 y = 0; y < h; y++) png_read_row(p, j->row, NULL);
        png_read_end(p, NULL);
        return 0;
    }
    /* rows below the crop are not needed, unless interlacing spreads every row over the file */
    int64_t y1 = passes == 1 && j->ry1 > 0 && j->ry1 < (int64_t)h ? j->ry1 : (int64_t)h;
    bb_image *o = j->out;
    o->x0 = 0; o->y0 = 0; o->w = w; o->h = y1; o->stride = (int64_t)rb;
    o->full_w = w; o->full_h = h; o->scale_num = 8;
    o->px = malloc(rb * (size_t)y1);
    if (!o->px) { j->status = bb_fail(BB_ERR_NOMEM, "cannot allocate %lu x %lld pixels", (unsigned long)w, (long long)y1); return 2; }
    if (passes == 1) {
        for (int64_t y = 0; y < y1; y++) png_read_row(p, o->px + y * o->stride, NULL);
    } else {
        j->rows = malloc((size_t)h * sizeof *j->rows);
        if (!j->rows) { j->status = bb_fail(BB_ERR_NOMEM, "out of memory"); return 2; }
        for (png_uint_32 y = 0; y < h; y++) j->rows[y] = o->px + (size_t)y * rb;
        png_read_image(p, j->rows);
    }
    return 0;
}

static bb_status png_decode(const uint8_t *buf, size_t len, int64_t ry1, int verify, bb_image *out, bb_image_info *info)
{
    png_job *j = calloc(1, sizeof *j);
    if (!j) return bb_fail(BB_ERR_NOMEM, "out of memory");
    j->buf = buf; j->len = len; j->verify = verify; j->ry1 = ry1; j->out = out;
    j->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, j, png_on_error, png_on_warning);
    j->info = j->png ? png_create_info_struct(j->png) : NULL;
    int r = j->info ? png_run(j) : 3;
    png_destroy_read_struct(j->png ? &j->png : NULL, j->info ? &j->info : NULL, NULL);
    free(j->row);
    free(j->rows);
    bb_status s = BB_OK;
    if (r == 1) s = bb_fail(BB_ERR_FORMAT, "%s", j->msg);
    else if (r == 2) s = j->status;  /* message already set */
    else if (r == 3) s = bb_fail(BB_ERR_NOMEM, "cannot create a PNG reader");
    if (info) *info = j->inf;
    free(j);
    if (s != BB_OK && out) bb_image_free(out);
    return s;
}

/* ---------------- entry points ---------------- */

bb_status bb_image_verify(const uint8_t *buf, size_t len, bb_image_info *info)
{
    memset(info, 0, sizeof *info);
    int f = bb_image_sniff(buf, len);
    if (f == BB_IMG_JPEG) return jpeg_decode(buf, len, 1, 0, 0, 0, 0, 0, 1, NULL, info);
    if (f == BB_IMG_PNG) return png_decode(buf, len, 0, 1, NULL, info);
    return not_an_image(buf, len);
}

bb_status bb_image_decode(const uint8_t *buf, size_t len, int num, int64_t rx0, int64_t ry0, int64_t rx1,
                          int64_t ry1, int partial, bb_image *out)
{
    memset(out, 0, sizeof *out);
    if (num < 1 || num > 8) return bb_fail(BB_ERR_INVALID, "JPEG scale %d/8, expected 1/8 .. 8/8", num);
    int f = bb_image_sniff(buf, len);
    if (f == BB_IMG_JPEG) return jpeg_decode(buf, len, num, rx0, ry0, rx1, ry1, partial, 0, out, NULL);
    if (f == BB_IMG_PNG) return png_decode(buf, len, partial && rx1 > rx0 ? ry1 : 0, 0, out, NULL);
    return not_an_image(buf, len);
}
