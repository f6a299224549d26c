/* Starting or continuing a run: the one place that merges a checkpoint's
 * configuration with the values given now, and that restores a checkpoint
 * into a new trainer (the CLI's train command, sweeps and bb_trainer_resume
 * all come here). */
#include "train/trainer.h"

#include "util/log.h"

#include <stdio.h>
#include <string.h>

bb_status bb_config_resumed(bb_config *cfg, const char *checkpoint, const unsigned char *given)
{
    bb_config saved;
    if (strlen(checkpoint) >= sizeof cfg->resume)
        return bb_fail(BB_ERR_INVALID, "--resume: path longer than %zu characters", sizeof cfg->resume - 1);
    char notice[1024];
    BB_TRY(bb_checkpoint_read_config(checkpoint, &saved, notice, sizeof notice));
    if (notice[0]) bb_log(BB_LOG_WARN, "notice: %s", notice);
    /* the checkpoint's configuration, with the values given now on top */
    for (int i = 0; given && i < bb_config_nfields; i++) {
        if (!given[i]) continue;
        const bb_config_field *f = &bb_config_fields[i];
        memcpy((char *)&saved + f->offset, (const char *)cfg + f->offset, f->size);
    }
    snprintf(saved.resume, sizeof saved.resume, "%s", checkpoint);
    *cfg = saved;
    return BB_OK;
}

bb_status bb_trainer_start(bb_trainer **out, const bb_config *cfg, bb_comm *comm)
{
    BB_TRY(bb_trainer_create(out, cfg, comm));
    if (!cfg->resume[0]) return BB_OK;
    bb_status s = bb_trainer_load(*out, cfg->resume);
    if (s != BB_OK) {
        bb_trainer_destroy(*out);
        *out = NULL;
    }
    return s;
}
