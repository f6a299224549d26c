/* Checkpoint files: the safetensors container (length, JSON header, tensor
 * ranges), then everything bigbatch reads from it: the stored configuration,
 * the metric lengths, and a full load into a trainer. The trainer is built
 * once from CHECKPOINT_FLAGS; scripts/fuzz.sh makes the seed checkpoints with
 * `bigbatch train` and the same flags, so mutations reach the tensor checks. */
#include "fuzz.h"

#include "train/trainer_internal.h"
#include "util/safetensors.h"

#include <stdlib.h>
#include <string.h>

/* keep in step with CHECKPOINT_FLAGS in scripts/fuzz.sh */
static const char *const CHECKPOINT_FLAGS[] = {
    "data", "synthetic", "synthetic-shape", "1x8x8", "synthetic-train", "64", "synthetic-test", "16",
    "synthetic-classes", "4", "model", "resnet8", "width", "1", "batch-size", "32", "worker-batch", "8",
    "epochs", "1", "threads", "1", NULL};

static bb_trainer *trainer(void)
{
    static bb_trainer *t;
    if (t) return t;
    bb_config c;
    bb_config_defaults(&c);
    for (int i = 0; CHECKPOINT_FLAGS[i]; i += 2) BB_FUZZ_REQUIRE(bb_config_set(&c, CHECKPOINT_FLAGS[i], CHECKPOINT_FLAGS[i + 1]) == BB_OK);
    BB_FUZZ_REQUIRE(bb_trainer_create(&t, &c, NULL) == BB_OK);
    return t;  /* kept for the life of the process */
}

int bb_fuzz_checkpoint(const uint8_t *data, size_t size)
{
    bb_trainer *t = trainer();
    unsigned char *buf = malloc(size + 1);
    BB_FUZZ_REQUIRE(buf != NULL);
    if (size) memcpy(buf, data, size);
    bb_st_file f;
    if (bb_st_parse(&f, "fuzz", buf, size) != BB_OK) return 0;  /* buf is freed */
    /* every entry lies inside the data area with the size its shape says */
    uint64_t sum = 0;
    for (int i = 0; i < f.n; i++) {
        const bb_st_entry *e = &f.entries[i];
        BB_FUZZ_REQUIRE(e->begin <= e->end && e->end <= f.data_len && e->ndim >= 0 && e->ndim <= BB_ST_MAX_DIMS);
        for (uint64_t b = e->begin; b < e->end; b++) sum += f.data[b];
        BB_FUZZ_REQUIRE(bb_st_find(&f, e->name) != NULL);
    }
    for (int i = 0; i < f.nmeta; i++) BB_FUZZ_REQUIRE(bb_st_meta(&f, f.meta[2 * i]) != NULL);
    (void)sum;
    bb_config cfg;
    if (bb_checkpoint_config_from(&f, &cfg) == BB_OK) (void)bb_config_validate(&cfg);
    long keep[3];
    if (bb_checkpoint_metric_lengths(&f, keep) == BB_OK) BB_FUZZ_REQUIRE(keep[0] >= 0 && keep[1] >= 0 && keep[2] >= 0);
    int64_t before = bb_trainer_iteration(t);
    if (bb_trainer_load_from(t, &f) != BB_OK) BB_FUZZ_REQUIRE(bb_trainer_iteration(t) == before);
    else BB_FUZZ_REQUIRE(bb_trainer_iteration(t) >= 0);
    bb_st_close(&f);
    return 0;
}

#ifdef BB_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return bb_fuzz_checkpoint(data, size); }
#endif
