/* The table of fuzz targets for the replay test (each libFuzzer binary links
 * only its own target). */
#include "fuzz.h"

const bb_fuzz_target bb_fuzz_targets[] = {
    {"idx", bb_fuzz_idx},
    {"idx_gzip", bb_fuzz_idx_gzip},
    {"cifar", bb_fuzz_cifar},
    {"json", bb_fuzz_json},
    {"checkpoint", bb_fuzz_checkpoint},
    {"config", bb_fuzz_config},
    {"image", bb_fuzz_image},
    {"image_index", bb_fuzz_image_index},
    {NULL, NULL},
};
