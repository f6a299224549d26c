/* The epoch sampler (docs/TRAINING.md pitfall 4): one permutation of the training set
 * per epoch, a pure function of (seed, epoch), cut into minibatches of kn and
 * each minibatch into k slices of n. Nothing depends on how many threads or
 * processes ask; evaluation splits the test set into k near-equal ranges. */
#include "data/data.h"

#include "util/mem.h"
#include "util/rng.h"

#include <string.h>

bb_status bb_sampler_init(bb_sampler *s, int64_t n_samples, int64_t k, int64_t n, uint64_t seed)
{
    memset(s, 0, sizeof *s);
    s->epoch = -1;
    if (n_samples < 1 || k < 1 || n < 1)
        return bb_fail(BB_ERR_INVALID, "sampler: dataset size %lld, workers k=%lld, per-worker batch n=%lld: each must be >= 1",
                       (long long)n_samples, (long long)k, (long long)n);
    if (k > n_samples / n)
        return bb_fail(BB_ERR_INVALID, "sampler: minibatch kn = %lld x %lld is larger than the %lld training samples",
                       (long long)k, (long long)n, (long long)n_samples);
    s->perm = bb_alloc((size_t)n_samples * sizeof *s->perm);
    if (!s->perm) return bb_fail(BB_ERR_NOMEM, "sampler: cannot allocate a permutation of %lld", (long long)n_samples);
    s->n_samples = n_samples;
    s->k = k;
    s->n = n;
    s->seed = seed;
    return BB_OK;
}

void bb_sampler_free(bb_sampler *s)
{
    if (!s) return;
    bb_free(s->perm);
    memset(s, 0, sizeof *s);
    s->epoch = -1;
}

int64_t bb_sampler_steps_per_epoch(const bb_sampler *s)
{
    return s->k > 0 && s->n > 0 ? s->n_samples / (s->k * s->n) : 0;
}

/* Fisher-Yates from the identity: perm[i] <-> perm[j], j uniform in [0, i] */
void bb_sampler_set_epoch(bb_sampler *s, int64_t epoch)
{
    if (!s->perm || epoch < 0 || s->epoch == epoch) return;
    for (int64_t i = 0; i < s->n_samples; i++) s->perm[i] = i;
    bb_rng r = bb_rng_make(s->seed, BB_RNG_SHUFFLE, (uint64_t)epoch, 0);
    for (int64_t i = s->n_samples - 1; i > 0; i--) {
        int64_t j = (int64_t)bb_rng_below(&r, (uint64_t)i + 1);
        int64_t t = s->perm[i];
        s->perm[i] = s->perm[j];
        s->perm[j] = t;
    }
    s->epoch = epoch;
}

/* the n indices perm[(j k + w) n .. (j k + w + 1) n); NULL when no epoch is set
 * or (j, w) is outside [0, steps) x [0, k) */
const int64_t *bb_sampler_worker(const bb_sampler *s, int64_t j, int64_t w)
{
    if (!s->perm || s->epoch < 0) return NULL;
    if (j < 0 || j >= bb_sampler_steps_per_epoch(s) || w < 0 || w >= s->k) return NULL;
    return s->perm + (j * s->k + w) * s->n;
}

/* sizes floor(N/k) + 1 for the first N mod k workers, floor(N/k) for the rest */
void bb_eval_split(int64_t n_samples, int64_t k, int64_t w, int64_t *lo, int64_t *hi)
{
    if (n_samples < 0 || k < 1 || w < 0 || w >= k) {
        *lo = *hi = 0;
        return;
    }
    int64_t base = n_samples / k, rem = n_samples % k;
    *lo = w * base + (w < rem ? w : rem);
    *hi = *lo + base + (w < rem ? 1 : 0);
}
