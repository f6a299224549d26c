/* IDX through gzip with valid compressed streams, which random bytes seldom
 * are: the harness compresses the parts itself. Input: a control byte, then
 * the layout of fuzz_idx (u32 L, images, labels). Control bits: 0 images
 * gzipped, 1 labels gzipped, 2 two gzip members each, 3 one byte of trailing
 * garbage after the images stream, 4-7 bytes cut from the end of the images
 * stream (truncation). */
#include "fuzz.h"

#include "data/data_internal.h"

#include <stdlib.h>
#include <string.h>

int bb_fuzz_idx_gzip(const uint8_t *data, size_t size)
{
    if (size < 5) return 0;
    unsigned ctl = data[0];
    size_t len = bb_fuzz_le32(data + 1), rest = size - 5;
    if (len > rest) len = rest;
    const uint8_t *img = data + 5, *lab = data + 5 + len;
    size_t img_len = len, lab_len = rest - len;
    unsigned char *gi = NULL, *gl = NULL;
    int members = ctl & 4 ? 2 : 1;
    if (ctl & 1) {
        gi = bb_fuzz_gzip(img, img_len, members, &img_len);
        if (!gi) return 0;
        unsigned char *grown = realloc(gi, img_len + 1);
        if (!grown) { free(gi); return 0; }
        gi = grown;
        if (ctl & 8) gi[img_len++] = ctl;  /* not a gzip magic: trailing garbage */
        size_t cut = ctl >> 4;
        img_len = cut < img_len ? img_len - cut : 0;
        img = gi;
    }
    if (ctl & 2) {
        gl = bb_fuzz_gzip(lab, lab_len, members, &lab_len);
        if (!gl) { free(gi); return 0; }
        lab = gl;
    }
    bb_dataset d;
    if (bb_dataset_idx_from_memory(&d, img, img_len, lab, lab_len, "fuzz") == BB_OK) {
        /* a damaged images stream never loads: intact only when the bytes cut
         * are exactly the garbage byte appended */
        BB_FUZZ_REQUIRE(!(ctl & 1) || (ctl >> 4) == (ctl & 8 ? 1u : 0u));
        bb_fuzz_check_dataset(&d);
    }
    free(gi);
    free(gl);
    return 0;
}

#ifdef BB_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return bb_fuzz_idx_gzip(data, size); }
#endif
