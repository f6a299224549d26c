/* The image-folder index file (.bigbatch-index). Input: the file without its
 * trailing CRC-32, which the harness appends (so mutations reach the fields
 * behind the checksum); byte 0 bit 7 set: the input is taken whole, with
 * whatever checksum it carries. A parsed index must come back sorted with
 * every entry findable. */
#include "fuzz.h"

#include "data/imagefolder_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

int bb_fuzz_image_index(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    int raw = data[0] >> 7;
    data++, size--;
    char path[512];
    const char *tmp = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/bb-fuzz-index.%ld", tmp ? tmp : "/tmp", (long)getpid());
    FILE *f = fopen(path, "wb");
    BB_FUZZ_REQUIRE(f != NULL);
    unsigned char crc[4];
    uLong c = crc32(0L, data, (uInt)size);
    for (int i = 0; i < 4; i++) crc[i] = (unsigned char)(c >> (8 * i));
    BB_FUZZ_REQUIRE((size == 0 || fwrite(data, 1, size, f) == size) && (raw || fwrite(crc, 1, 4, f) == 4));
    BB_FUZZ_REQUIRE(fclose(f) == 0);
    bb_if_index ix;
    if (bb_if_index_read(path, NULL, &ix) == BB_OK) {
        for (int64_t i = 0; i < ix.n; i++) {
            BB_FUZZ_REQUIRE(ix.e[i].rel != NULL && (i == 0 || strcmp(ix.e[i - 1].rel, ix.e[i].rel) < 0));
            BB_FUZZ_REQUIRE(bb_if_index_find(&ix, ix.e[i].rel) == &ix.e[i]);
        }
        bb_if_index_free(&ix);
    }
    unlink(path);
    return 0;
}

#ifdef BB_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return bb_fuzz_image_index(data, size); }
#endif
