/* Profiling hooks of the trainer: the caller attaches one bb_profile per
 * executor and reads the layer timings back; nothing is timed otherwise. */
#include "train/trainer_internal.h"

int bb_trainer_executors(const bb_trainer *t) { return t->nex; }

void bb_trainer_attach_profiles(bb_trainer *t, bb_profile *profiles)
{
    for (int e = 0; e < t->nex; e++) t->ex[e].ex.prof = profiles ? &profiles[e] : NULL;
}
