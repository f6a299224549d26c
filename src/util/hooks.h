/* What a program tells the library about its surroundings: test hooks and the
 * MPI launcher's ranks. The library never reads the environment; the CLI reads
 * the BB_* and launcher variables (src/cli/env.c) and passes them in here,
 * once, before any trainer starts. */
#ifndef BB_UTIL_HOOKS_H
#define BB_UTIL_HOOKS_H

typedef struct {
    long write_delay_ms;   /* checkpoint writes pause this long between tensors (kill tests); 0: off */
    char fault[64];        /* "kill|hang|perturb:RANK:STEP": a fault injected before that iteration; "": none */
    int trace_buckets;     /* print when each gradient bucket is ready and allreduced */
    int cudnn_find;        /* cuDNN algorithms by timing (1) or by heuristics (0) */
    int gpu_chunk_workers; /* at most this many logical workers per GPU pass; 0: sized from free memory */
    int launcher_rank;     /* this process's rank as the launcher numbers it; -1: not launched by one */
    int launcher_local_rank;  /* its rank on this host (which GPU); -1: unknown */
} bb_hooks;

/* The defaults above (no hooks, cudnn_find 1, ranks unknown). */
void bb_hooks_default(bb_hooks *h);
/* Copies h for the whole process (not thread-safe: call before training). */
void bb_hooks_set(const bb_hooks *h);
const bb_hooks *bb_hooks_get(void);

#endif
