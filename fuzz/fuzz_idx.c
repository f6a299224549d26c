/* IDX images + labels, raw or gzip (the reader tells them apart by content).
 * Input: a little-endian u32 L, then the images file (L bytes, or what is
 * left), then the labels file. */
#include "fuzz.h"

#include "data/data_internal.h"

#include <string.h>

int bb_fuzz_idx(const uint8_t *data, size_t size)
{
    if (size < 4) return 0;
    size_t len = bb_fuzz_le32(data), rest = size - 4;
    if (len > rest) len = rest;
    bb_dataset d;
    if (bb_dataset_idx_from_memory(&d, data + 4, len, data + 4 + len, rest - len, "fuzz") == BB_OK)
        bb_fuzz_check_dataset(&d);
    else
        BB_FUZZ_REQUIRE(d.pixels == NULL && d.labels == NULL && strlen(bb_last_error()) > 0);
    return 0;
}

#ifdef BB_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return bb_fuzz_idx(data, size); }
#endif
