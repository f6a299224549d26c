/* JPEG and PNG files of the image-folder reader (libjpeg-turbo, libpng).
 * Input: two control bytes, then the file. Control byte 0: bits 0-2 the JPEG
 * scale (num = 1..8), bit 3 partial decoding; byte 1: the region to decode, as
 * eighths of the scaled image (bits 0-1 left, 2-3 top, 4-5 width, 6-7 height,
 * 0 = whole). Runs bb_image_verify, bb_image_decode and a resample of what was
 * decoded, as the folder reader does. */
#include "fuzz.h"

#include "data/image.h"

#include <string.h>

int bb_fuzz_image(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    unsigned c0 = data[0], c1 = data[1];
    const uint8_t *buf = data + 2;
    size_t len = size - 2;
    int num = 1 + (int)(c0 & 7), partial = (c0 >> 3) & 1;
    (void)bb_image_sniff(buf, len);
    bb_image_info info;
    memset(&info, 0, sizeof info);
    int verified = bb_image_verify(buf, len, &info) == BB_OK;
    if (verified)
        BB_FUZZ_REQUIRE(info.w >= 1 && info.h >= 1 && info.w * info.h <= BB_IMG_MAX_PIXELS &&
                        (info.format == BB_IMG_JPEG || info.format == BB_IMG_PNG));
    int64_t rx0 = 0, ry0 = 0, rx1 = 0, ry1 = 0;
    if (verified && (c1 >> 4)) {
        int64_t sw = bb_image_scaled(info.w, info.format == BB_IMG_JPEG ? num : 8);
        int64_t sh = bb_image_scaled(info.h, info.format == BB_IMG_JPEG ? num : 8);
        rx0 = sw * (c1 & 3) / 8;
        ry0 = sh * ((c1 >> 2) & 3) / 8;
        rx1 = rx0 + sw * (1 + ((c1 >> 4) & 3)) / 4;
        ry1 = ry0 + sh * (1 + ((c1 >> 6) & 3)) / 4;
    }
    bb_image im;
    memset(&im, 0, sizeof im);
    if (bb_image_decode(buf, len, num, rx0, ry0, rx1, ry1, partial, &im) == BB_OK) {
        BB_FUZZ_REQUIRE(im.px != NULL && im.w >= 1 && im.h >= 1 && im.x0 >= 0 && im.y0 >= 0);
        BB_FUZZ_REQUIRE(im.x0 + im.w <= im.full_w && im.y0 + im.h <= im.full_h && im.stride >= 3 * im.w);
        unsigned sum = 0;
        for (int64_t y = 0; y < im.h; y++)
            for (int64_t x = 0; x < 3 * im.w; x++) sum += im.px[y * im.stride + x];
        (void)sum;
        uint8_t out[8 * 8 * 3];
        BB_FUZZ_REQUIRE(bb_image_resample(&im, (double)im.x0, (double)im.y0, (double)(im.x0 + im.w),
                                          (double)(im.y0 + im.h), 8, 8, 0, 0, 8, 8, out, 24) == BB_OK);
        bb_image_free(&im);
    }
    return 0;
}

#ifdef BB_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return bb_fuzz_image(data, size); }
#endif
