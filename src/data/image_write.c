/* JPEG and PNG writers (libjpeg-turbo, libpng), used to make test and
 * benchmark data sets and to look at augmented samples. */
#include "data/image.h"

#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include <jpeglib.h>

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
    char msg[JMSG_LENGTH_MAX];
} werr;

static void werr_exit(j_common_ptr c)
{
    werr *e = (werr *)c->err;
    c->err->format_message(c, e->msg);
    longjmp(e->jb, 1);
}

typedef struct {
    struct jpeg_compress_struct ci;
    werr err;
    FILE *f;
    const uint8_t *px;
    int64_t w, h;
    int channels, quality, progressive;
} jpeg_wjob;

static int jpeg_write_run(jpeg_wjob *j)
{
    if (setjmp(j->err.jb)) return 1;
    jpeg_create_compress(&j->ci);
    jpeg_stdio_dest(&j->ci, j->f);
    j->ci.image_width = (JDIMENSION)j->w;
    j->ci.image_height = (JDIMENSION)j->h;
    j->ci.input_components = j->channels;
    j->ci.in_color_space = j->channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&j->ci);
    jpeg_set_quality(&j->ci, j->quality, TRUE);
    if (j->progressive) jpeg_simple_progression(&j->ci);
    jpeg_start_compress(&j->ci, TRUE);
    while (j->ci.next_scanline < j->ci.image_height) {
        JSAMPROW r = (JSAMPROW)(j->px + (size_t)j->ci.next_scanline * (size_t)(j->w * j->channels));
        jpeg_write_scanlines(&j->ci, &r, 1);
    }
    jpeg_finish_compress(&j->ci);
    return 0;
}

bb_status bb_image_write_jpeg(const char *path, const uint8_t *px, int64_t w, int64_t h, int channels, int quality,
                              int progressive)
{
    if ((channels != 1 && channels != 3) || w < 1 || h < 1 || w > 65500 || h > 65500)
        return bb_fail(BB_ERR_INVALID, "%s: cannot write a %lld x %lld JPEG with %d channels", path, (long long)w,
                       (long long)h, channels);
    jpeg_wjob j;
    memset(&j, 0, sizeof j);
    j.f = fopen(path, "wb");
    if (!j.f) return bb_fail(BB_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    j.px = px; j.w = w; j.h = h; j.channels = channels; j.quality = quality; j.progressive = progressive;
    j.ci.err = jpeg_std_error(&j.err.pub);
    j.err.pub.error_exit = werr_exit;
    int r = jpeg_write_run(&j);
    jpeg_destroy_compress(&j.ci);
    int bad = fclose(j.f) != 0;
    if (r) return bb_fail(BB_ERR_IO, "%s: JPEG encoding failed: %s", path, j.err.msg);
    if (bad) return bb_fail(BB_ERR_IO, "%s: write failed", path);
    return BB_OK;
}

typedef struct {
    png_structp png;
    png_infop info;
    FILE *f;
    const uint8_t *px;
    int64_t w, h;
    int channels, interlace;
    char msg[256];
} png_wjob;

static void png_werr(png_structp p, png_const_charp m)
{
    png_wjob *j = png_get_error_ptr(p);
    snprintf(j->msg, sizeof j->msg, "%s", m);
    png_longjmp(p, 1);
}

static int png_write_run(png_wjob *j)
{
    if (setjmp(png_jmpbuf(j->png))) return 1;
    static const int types[5] = {0, PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA, PNG_COLOR_TYPE_RGB,
                                 PNG_COLOR_TYPE_RGB_ALPHA};
    png_init_io(j->png, j->f);
    png_set_IHDR(j->png, j->info, (png_uint_32)j->w, (png_uint_32)j->h, 8, types[j->channels],
                 j->interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_write_info(j->png, j->info);
    int passes = j->interlace ? png_set_interlace_handling(j->png) : 1;
    for (int p = 0; p < passes; p++)
        for (int64_t y = 0; y < j->h; y++)
            png_write_row(j->png, (png_const_bytep)(j->px + (size_t)y * (size_t)(j->w * j->channels)));
    png_write_end(j->png, NULL);
    return 0;
}

bb_status bb_image_write_png(const char *path, const uint8_t *px, int64_t w, int64_t h, int channels, int interlace)
{
    if (channels < 1 || channels > 4 || w < 1 || h < 1 || w > 1000000 || h > 1000000)
        return bb_fail(BB_ERR_INVALID, "%s: cannot write a %lld x %lld PNG with %d channels", path, (long long)w,
                       (long long)h, channels);
    png_wjob j;
    memset(&j, 0, sizeof j);
    j.f = fopen(path, "wb");
    if (!j.f) return bb_fail(BB_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    j.px = px; j.w = w; j.h = h; j.channels = channels; j.interlace = interlace;
    j.png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &j, png_werr, NULL);
    j.info = j.png ? png_create_info_struct(j.png) : NULL;
    int r = j.info ? png_write_run(&j) : 1;
    png_destroy_write_struct(j.png ? &j.png : NULL, j.info ? &j.info : NULL);
    int bad = fclose(j.f) != 0;
    if (r) return bb_fail(BB_ERR_IO, "%s: PNG encoding failed: %s", path, j.msg[0] ? j.msg : "out of memory");
    if (bad) return bb_fail(BB_ERR_IO, "%s: write failed", path);
    return BB_OK;
}
