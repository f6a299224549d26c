/* CIFAR-10 / CIFAR-100 batch files. Input: a control byte (bit 0: CIFAR-100,
 * bit 1: gzip the rest in the harness, bit 2: in two members), then the file. */
#include "fuzz.h"

#include "data/data_internal.h"

#include <stdlib.h>

int bb_fuzz_cifar(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    unsigned ctl = data[0];
    const uint8_t *body = data + 1;
    size_t len = size - 1;
    unsigned char *gz = NULL;
    if (ctl & 2) {
        gz = bb_fuzz_gzip(body, len, ctl & 4 ? 2 : 1, &len);
        if (!gz) return 0;
        body = gz;
    }
    int cifar100 = ctl & 1;
    bb_dataset d;
    if (bb_dataset_cifar_from_memory(&d, body, len, cifar100, "fuzz") == BB_OK) {
        BB_FUZZ_REQUIRE(d.c == 3 && d.h == 32 && d.w == 32 && d.classes == (cifar100 ? 100 : 10));
        BB_FUZZ_REQUIRE(ctl & 2 || (int64_t)(size - 1) == d.n * (cifar100 ? 3074 : 3073));
        bb_fuzz_check_dataset(&d);
    }
    free(gz);
    return 0;
}

#ifdef BB_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return bb_fuzz_cifar(data, size); }
#endif
