/* Writes the seed files of the image fuzz targets into the folder argv[1]:
 * small JPEGs (gray, RGB, progressive) and PNGs (gray, gray+alpha, RGB, RGBA,
 * interlaced) made by bigbatch's own writers, and an image-folder index.
 * Built and run by scripts/fuzz.sh seed. */
#include "data/image.h"
#include "data/imagefolder_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc != 2) { fprintf(stderr, "usage: fuzz_seed DIR\n"); return 2; }
    const char *dir = argv[1];
    uint8_t px[24 * 20 * 4];
    for (size_t i = 0; i < sizeof px; i++) px[i] = (uint8_t)(i * 7 + (i / 37) * 13);
    char p[1024];
    int ok = 1;
#define W(call) do { if ((call) != BB_OK) { fprintf(stderr, "fuzz_seed: %s\n", bb_last_error()); ok = 0; } } while (0)
    snprintf(p, sizeof p, "%s/rgb.jpg", dir);   W(bb_image_write_jpeg(p, px, 24, 20, 3, 80, 0));
    snprintf(p, sizeof p, "%s/gray.jpg", dir);  W(bb_image_write_jpeg(p, px, 17, 9, 1, 60, 0));
    snprintf(p, sizeof p, "%s/prog.jpg", dir);  W(bb_image_write_jpeg(p, px, 24, 20, 3, 70, 1));
    snprintf(p, sizeof p, "%s/gray.png", dir);  W(bb_image_write_png(p, px, 9, 7, 1, 0));
    snprintf(p, sizeof p, "%s/ga.png", dir);    W(bb_image_write_png(p, px, 6, 5, 2, 0));
    snprintf(p, sizeof p, "%s/rgb.png", dir);   W(bb_image_write_png(p, px, 12, 10, 3, 0));
    snprintf(p, sizeof p, "%s/rgba.png", dir);  W(bb_image_write_png(p, px, 8, 8, 4, 1));
    bb_if_entry e[3] = {
        {"cat/a.jpg", 1234, 1700000000000000000LL, 24, 20, BB_IMG_JPEG, 3, 1, NULL},
        {"cat/b.png", 99, 1700000000000000001LL, 0, 0, BB_IMG_PNG, 0, 0, "truncated PNG"},
        {"dog/c.jpg", 5, 1, 7, 3, BB_IMG_JPEG, 1, 1, NULL}};
    bb_if_index ix = {e, 3};
    snprintf(p, sizeof p, "%s/index", dir);     W(bb_if_index_write(p, "/data/train", &ix));
    return ok ? 0 : 1;
}
