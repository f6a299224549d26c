/* The configuration's side of folder data sets and of the loader's threads. */
#ifndef BB_TRAIN_IMAGEFOLDER_CONFIG_H
#define BB_TRAIN_IMAGEFOLDER_CONFIG_H

#include "data/data.h"
#include "train/config.h"

/* --data imagefolder: --data-dir (training), --val-dir or --holdout,
 * --image-size, --crop-min-area, --flip, --bad-images, --image-cache-mb; the
 * index goes to the run directory when the data folder is read-only. */
bb_status bb_data_imagefolder(const bb_config *cfg, bb_dataset *train, bb_dataset *test);
/* Background producer threads for the CPU trainer's loader: --loader-threads,
 * else 1 (the executors use every core; one decoding thread outpaces CPU
 * training of ResNet-50, docs/IMAGEFOLDER.md). The GPU trainer defaults to the
 * cores of its rank but one (at most 16). */
int bb_loader_producers(const bb_config *cfg, const bb_dataset *train);

#endif
