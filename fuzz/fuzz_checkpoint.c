/* Checkpoint files: the safetensors container (length, checksums, JSON
 * header, tensor ranges), then everything bigbatch reads from it: the stored
 * configuration, the metric lengths, and a full load into a trainer. The
 * trainer is built once from CHECKPOINT_FLAGS; scripts/fuzz.sh makes the seed
 * checkpoints with `bigbatch train` and the same flags. A mutated header
 * seldom keeps its checksum, so an input with one runs twice: as it is (the
 * checksums must catch the mutation) and with crc32.header recomputed, so
 * mutations of the header reach the checks behind it. */
#include "fuzz.h"

#include "train/trainer_internal.h"
#include "util/safetensors.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

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

static void run(const uint8_t *data, size_t size)
{
    bb_trainer *t = trainer();
    unsigned char *buf = malloc(size + 1);
    BB_FUZZ_REQUIRE(buf != NULL);
    if (size) memcpy(buf, data, size);
    bb_st_file f;
    if (bb_st_parse(&f, "fuzz", buf, size) != BB_OK) return;  /* buf is freed */
    /* the tensors cover the data area exactly, each with the size its shape
     * says; a checksummed file's tensors match their checksums */
    uint64_t covered = 0;
    for (int i = 0; i < f.n; i++) {
        const bb_st_entry *e = &f.entries[i];
        BB_FUZZ_REQUIRE(e->begin <= e->end && e->end <= f.data_len && e->ndim >= 0 && e->ndim <= BB_ST_MAX_DIMS);
        covered += e->end - e->begin;
        if (f.checksummed) BB_FUZZ_REQUIRE(crc32(0, f.data + e->begin, (uInt)(e->end - e->begin)) == e->crc);
        BB_FUZZ_REQUIRE(bb_st_find(&f, e->name) != NULL);
    }
    BB_FUZZ_REQUIRE(covered == f.data_len);
    for (int i = 0; i < f.nmeta; i++) BB_FUZZ_REQUIRE(bb_st_meta(&f, f.meta[2 * i]) != NULL);
    bb_config cfg;
    if (bb_checkpoint_config_from(&f, &cfg) == BB_OK) (void)bb_config_validate(&cfg);
    long keep[3];
    if (bb_checkpoint_metric_lengths(&f, keep) == BB_OK) BB_FUZZ_REQUIRE(keep[0] >= 0 && keep[1] >= 0 && keep[2] >= 0);
    int64_t before = bb_trainer_iteration(t);
    if (bb_trainer_load_from(t, &f) != BB_OK) BB_FUZZ_REQUIRE(bb_trainer_iteration(t) == before);
    else {
        /* what a load promises: a step within the run, epoch sums that match
         * it, finite values only */
        int64_t step = bb_trainer_iteration(t), spe = t->steps_per_epoch;
        BB_FUZZ_REQUIRE(step >= 0 && step <= bb_run_iterations(&t->cfg, spe));
        BB_FUZZ_REQUIRE(t->ep_seen == t->kn * (step % spe) || (step % spe == 0 && t->ep_seen == t->kn * spe));
        BB_FUZZ_REQUIRE(t->ep_correct >= 0 && t->ep_correct <= t->ep_seen && t->ep_loss >= 0);
        for (int64_t i = 0; i < t->P; i++) BB_FUZZ_REQUIRE(isfinite(t->params[i]) && isfinite(t->momentum[i]));
        for (int64_t i = 0; i < t->net.state_count; i++) BB_FUZZ_REQUIRE(isfinite(t->state[i]));
    }
    bb_st_close(&f);
}

int bb_fuzz_checkpoint(const uint8_t *data, size_t size)
{
    run(data, size);
    /* again with the header checksum made right, if the input has one */
    unsigned char *copy = malloc(size + 1);
    BB_FUZZ_REQUIRE(copy != NULL);
    if (size) memcpy(copy, data, size);
    if (bb_st_seal_header(copy, size) && memcmp(copy, data, size) != 0) run(copy, size);
    free(copy);
    return 0;
}

#ifdef BB_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return bb_fuzz_checkpoint(data, size); }
#endif
