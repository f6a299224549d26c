/* The choice fields of the configuration: each holds its enum, set from a
 * name and printed back as that name; an unknown name is refused with the
 * list of choices; a checkpoint's stored configuration text reads back. */
#include "test.h"

#include "train/trainer.h"
#include "train/config.h"
#include "util/safetensors.h"
#include "util/status.h"

#include <stdio.h>
#include <string.h>

TEST(config_choices_round_trip)
{
    int nchoice = 0;
    for (int i = 0; i < bb_config_nfields; i++) {
        const bb_config_field *f = &bb_config_fields[i];
        if (f->type != BB_CF_CHOICE) continue;
        nchoice++;
        CHECK_MSG(f->size == sizeof(int), "--%s: %zu bytes", f->name, f->size);
        for (int k = 0; f->choices[k]; k++) {
            bb_config a, b;
            char text[64];
            bb_config_defaults(&a);
            bb_config_defaults(&b);
            CHECK_OK(bb_config_set(&a, f->name, f->choices[k]));
            int v;
            memcpy(&v, (const char *)&a + f->offset, sizeof v);
            CHECK_MSG(v == k, "--%s %s: holds %d, want %d (the enum follows the names)", f->name, f->choices[k], v, k);
            bb_config_get(&a, f, text, sizeof text);
            CHECK_MSG(!strcmp(text, f->choices[k]), "--%s %s reads back as '%s'", f->name, f->choices[k], text);
            CHECK_OK(bb_config_set(&b, f->name, text));
            CHECK_MSG(memcmp(&a, &b, sizeof a) == 0, "--%s %s: set, get, set differs", f->name, f->choices[k]);
        }
    }
    CHECK(nchoice == 10);
    /* the enums the rest of the code compares against */
    bb_config c;
    bb_config_defaults(&c);
    CHECK(c.data == BB_DATA_FASHION_MNIST && c.shortcut == BB_SHORTCUT_DEFAULT && c.decay == BB_DECAY_COSINE &&
          c.kernels == BB_KERNELS_FAST && c.device == BB_DEVICE_CPU && c.allreduce == BB_ALLREDUCE_MPI);
    CHECK_OK(bb_config_set(&c, "kernels", "reference"));
    CHECK(c.kernels == BB_KERNELS_REFERENCE);
    CHECK_OK(bb_config_set(&c, "kernels", "avx512"));
    CHECK(c.kernels == BB_KERNELS_AVX512);
    CHECK_OK(bb_config_set(&c, "momentum-form", "form10-uncorrected"));
    CHECK(c.momentum_form == BB_MOMENTUM_FORM10_UNCORRECTED);
    CHECK_OK(bb_config_set(&c, "shortcut", "B"));
    CHECK(c.shortcut == BB_SHORTCUT_B);
    CHECK_OK(bb_config_set(&c, "data", "imagefolder"));
    CHECK(c.data == BB_DATA_IMAGEFOLDER);
}

TEST(config_unknown_choice_lists_the_names)
{
    bb_config c, before;
    bb_config_defaults(&c);
    before = c;
    CHECK_FAILS(bb_config_set(&c, "decay", "linear"), BB_ERR_INVALID, "--decay: 'linear' is not one of step|cosine|none");
    CHECK_FAILS(bb_config_set(&c, "data", "Mnist"), BB_ERR_INVALID,
                "is not one of fashion-mnist|mnist|cifar10|cifar100|synthetic|imagefolder");
    CHECK_FAILS(bb_config_set(&c, "shortcut", "C"), BB_ERR_INVALID, "--shortcut: 'C' is not one of A|B");
    CHECK_FAILS(bb_config_set(&c, "device", ""), BB_ERR_INVALID, "not one of cpu|cuda");
    CHECK(memcmp(&c, &before, sizeof c) == 0);  /* a refused value leaves the field alone */
    for (int i = 0; i < bb_config_nfields; i++) {
        const bb_config_field *f = &bb_config_fields[i];
        if (f->type != BB_CF_CHOICE) continue;
        char names[256], want[300];
        bb_config_choices(f, names, sizeof names);
        snprintf(want, sizeof want, "not one of %s", names);
        CHECK_FAILS(bb_config_set(&c, f->name, "no-such-name"), BB_ERR_INVALID, want);
    }
}

/* a checkpoint written before the fields were typed (and before checksums):
 * its configuration text reads back into the enums and prints as stored */
TEST(config_checkpoint_text_reads_back)
{
    const char *path = "tests/fixtures/checkpoint_v1.safetensors";
    bb_config c;
    CHECK_OK(bb_checkpoint_read_config(path, &c, NULL, 0));
    CHECK(c.data == BB_DATA_SYNTHETIC && c.decay == BB_DECAY_COSINE && c.warmup == BB_WARMUP_GRADUAL &&
          c.shortcut == BB_SHORTCUT_DEFAULT && c.kernels == BB_KERNELS_FAST);
    bb_st_file f;
    CHECK_OK(bb_st_open(&f, path));
    int checked = 0;
    for (int i = 0; i < bb_config_nfields; i++) {
        const bb_config_field *fd = &bb_config_fields[i];
        char key[80], mine[600];
        snprintf(key, sizeof key, "config.%s", fd->name);
        const char *stored = bb_st_meta(&f, key);
        if (!stored) continue;  /* a field added since: its default */
        bb_config_get(&c, fd, mine, sizeof mine);
        CHECK_MSG(!strcmp(stored, mine), "%s: stored '%s', reads back as '%s'", key, stored, mine);
        checked += fd->type == BB_CF_CHOICE;
    }
    CHECK(checked >= 8);
    bb_st_close(&f);
}
