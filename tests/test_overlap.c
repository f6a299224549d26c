/* Gradient buckets (overlap.h): deferred tree merges applied range by range
 * equal the whole-buffer sum bit for bit, and training is bit-identical for
 * any thread count and any bucket size. */
#include "test.h"
#include "fixture.h"

#include "train/gradsum.h"
#include "train/trainer.h"
#include "util/pool.h"
#include "util/rng.h"

#include <stdlib.h>
#include <string.h>

static void fill(float *g, int64_t w, int64_t len)
{
    bb_rng r = bb_rng_make(4, BB_RNG_TEST, (uint64_t)w, 0);
    for (int64_t i = 0; i < len; i++) g[i] = (float)bb_rng_normal(&r) * (float)(1 + w % 5);
}

/* k workers split in `parts`; the last worker of each part is pushed
 * deferred, and both plans are applied in ranges of `chunk` from the top */
static void sum_by_ranges(int64_t k, int parts, int64_t len, int64_t chunk, float *out)
{
    bb_gradsum *gs = calloc((size_t)parts, sizeof *gs);
    for (int p = 0; p < parts; p++) {
        long long lo, hi;
        bb_split_range(k, parts, p, &lo, &hi);
        CHECK_OK(bb_gradsum_init(&gs[p], k, len, lo, hi));
        for (int64_t w = lo; w < hi; w++) {
            float *g = bb_gradsum_begin(&gs[p]);
            fill(g, w, len);
            if (w == hi - 1) bb_gradsum_push_deferred(&gs[p], w);
            else bb_gradsum_push(&gs[p], w);
        }
    }
    int cap = 0;
    for (int p = 0; p < parts; p++) cap += gs[p].nowned;
    bb_gsum_plan plan;
    CHECK_OK(bb_gsum_plan_init(&plan, cap));
    float *sum = bb_gradsum_combine_plan(gs, parts, &plan);
    for (int64_t hi = len; hi > 0; hi -= chunk) {
        int64_t lo = hi - chunk > 0 ? hi - chunk : 0;
        for (int p = 0; p < parts; p++) bb_gsum_plan_apply(&gs[p].deferred, lo, hi);
        bb_gsum_plan_apply(&plan, lo, hi);
    }
    memcpy(out, sum, (size_t)len * 4);
    bb_gsum_plan_free(&plan);
    for (int p = 0; p < parts; p++) bb_gradsum_free(&gs[p]);
    free(gs);
}

static void sum_whole(int64_t k, int64_t len, float *out)
{
    bb_gradsum g;
    CHECK_OK(bb_gradsum_init(&g, k, len, 0, k));
    for (int64_t w = 0; w < k; w++) {
        fill(bb_gradsum_begin(&g), w, len);
        bb_gradsum_push(&g, w);
    }
    memcpy(out, bb_gradsum_combine(&g, 1), (size_t)len * 4);
    bb_gradsum_free(&g);
}

TEST(deferred_merges_by_range_equal_the_whole_sum)
{
    const int64_t len = 300;
    float *ref = malloc(len * 4), *got = malloc(len * 4);
    int64_t ks[] = {1, 2, 3, 6, 7, 16, 37};
    int64_t chunks[] = {1, 7, 64, 300};
    for (size_t a = 0; a < sizeof ks / sizeof ks[0]; a++) {
        sum_whole(ks[a], len, ref);
        for (int parts = 1; parts <= 4 && parts <= ks[a]; parts++)
            for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
                sum_by_ranges(ks[a], parts, len, chunks[c], got);
                CHECK_MSG(memcmp(ref, got, len * 4) == 0, "k = %lld, %d parts, ranges of %lld: differs",
                          (long long)ks[a], parts, (long long)chunks[c]);
            }
    }
    free(ref);
    free(got);
}

/* params, momentum and BN state after `steps`, and the last step's noise scale */
TEST(training_is_bit_identical_for_any_bucket_size_and_thread_count)
{
    fx_data d;
    fx_synthetic(&d, 256, 64, 1, 10, 10, 4, 3);
    bb_config c = fx_config("resnet8", 4, 56, 8, 1);  /* k = 7 */
    bb_config_set(&c, "noise-scale", "1");
    int64_t len = 0, len2 = 0;
    double bn_ref = 0, bn = 0;
    float *ref = fx_train_state(&c, &d, 3, &len, &bn_ref);
    const char *buckets[] = {"1", "3", "1024"};
    double bn_first[3] = {0, 0, 0};
    for (int64_t threads = 1; threads <= 3; threads++)
        for (int b = 0; b < 3; b++) {
            c.threads = threads;
            bb_config_set(&c, "bucket-kb", buckets[b]);
            float *got = fx_train_state(&c, &d, 3, &len2, &bn);
            CHECK(ref && got && len == len2);
            if (ref && got)
                CHECK_MSG(memcmp(ref, got, (size_t)len * 4) == 0, "T = %lld, --bucket-kb %s differs from T = 1, --bucket-kb 1024",
                          (long long)threads, buckets[b]);
            /* the noise scale sums |g|^2 in bucket order: identical for any thread count */
            if (threads == 1) bn_first[b] = bn;
            CHECK_MSG(bn == bn_first[b], "T = %lld, --bucket-kb %s: B_noise %.17g, with T = 1 %.17g",
                      (long long)threads, buckets[b], bn, bn_first[b]);
            free(got);
        }
    (void)bn_ref;
    free(ref);
    fx_data_free(&d);
}
