/* Folder data sets from the configuration, and the loader's thread count. */
#include "train/imagefolder_config.h"

#include "data/imagefolder.h"
#include "util/hooks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* under mpirun only rank 0 reports */
static int is_rank0(void) { return bb_hooks_get()->launcher_rank <= 0; }

bb_status bb_data_imagefolder(const bb_config *cfg, bb_dataset *train, bb_dataset *test)
{
    bb_imagefolder_options o;
    bb_imagefolder_defaults(&o);
    o.size = cfg->image_size;
    o.min_area = cfg->crop_min_area;
    o.flip = cfg->flip;
    o.holdout = cfg->holdout;
    o.bad_fail = cfg->bad_images == BB_BAD_IMAGES_FAIL;
    o.cache_bytes = cfg->image_cache_mb * 1000000;
    o.index_dir = cfg->out[0] ? cfg->out : NULL;
    o.report = is_rank0();
    return bb_imagefolder_load(train, test, cfg->data_dir, cfg->val_dir[0] ? cfg->val_dir : NULL, &o);
}

int bb_loader_producers(const bb_config *cfg, const bb_dataset *train)
{
    (void)train;
    return cfg->loader_threads > 0 ? (int)cfg->loader_threads : 1;
}
