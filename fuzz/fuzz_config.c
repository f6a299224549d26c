/* Command-line flags and the configuration table. Input: arguments separated
 * by NUL bytes, parsed as `bigbatch train` parses them (presets, --flag value,
 * --flag=value, bare booleans). A parsed configuration must print and read
 * back to itself field by field; a valid one must give a finite schedule. */
#include "fuzz.h"

#include "cli/cli.h"
#include "train/trainer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ARGS 64

static void check_parsed(const bb_config *c)
{
    /* bb_config_get and bb_config_set are inverses on every field */
    bb_config back = *c;
    for (int i = 0; i < bb_config_nfields; i++) {
        const bb_config_field *f = &bb_config_fields[i];
        char a[700], b[700];
        bb_config_get(c, f, a, sizeof a);
        BB_FUZZ_REQUIRE(bb_config_set(&back, f->name, a) == BB_OK);
        bb_config_get(&back, f, b, sizeof b);
        BB_FUZZ_REQUIRE(strcmp(a, b) == 0);
    }
    if (bb_config_validate(c) != BB_OK) return;
    BB_FUZZ_REQUIRE(bb_config_workers(c) >= 1 && bb_config_workers(c) * c->worker_batch == c->batch_size);
    bb_schedule s;
    if (bb_schedule_from_config(&s, c, 60000) != BB_OK) return;
    int64_t total = (int64_t)floor(c->epochs * (double)s.steps_per_epoch + 0.5);
    int64_t probe[4] = {0, 1, total / 2, total > 0 ? total - 1 : 0};
    for (int i = 0; i < 4; i++) {
        double lr = bb_schedule_lr(&s, probe[i]);
        BB_FUZZ_REQUIRE(isfinite(lr) && lr >= 0);
    }
}

int bb_fuzz_config(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    BB_FUZZ_REQUIRE(text != NULL);
    if (size) memcpy(text, data, size);
    text[size] = 0;
    char *argv[MAX_ARGS + 2];
    int argc = 0;
    argv[argc++] = "train";
    for (size_t i = 0; i < size && argc < MAX_ARGS; i += strlen(text + i) + 1) argv[argc++] = text + i;
    argv[argc] = NULL;
    static const char *const extra[] = {"checkpoint", "per", "samples", NULL};
    const char *vals[3] = {NULL, NULL, NULL};
    unsigned char seen[128] = {0};
    bb_config c;
    bb_config_defaults(&c);
    if (cli_parse("train", argc, argv, &c, extra, vals, seen) == 0) check_parsed(&c);
    free(text);
    return 0;
}

#ifdef BB_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return bb_fuzz_config(data, size); }
#endif
