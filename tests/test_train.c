/* The trainer: results independent of the thread count (bit for bit), k
 * workers x n = 1 worker x kn without batch norm, bit-for-bit resume, clear
 * stop on divergence. Small synthetic problems keep each test well under a
 * second. */
#include "test.h"
#include "fixture.h"

#include "train/trainer.h"
#include "util/mem.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* kn / n workers on 1 thread, then on each of `threads` (0-terminated): the
 * same parameters, momentum and BN state bit for bit; `executors` (parallel
 * to threads) is how the trainer must lay the threads out, so that the case
 * runs whole workers on separate threads, shares workers' layers among
 * threads, or both */
static void check_thread_counts(fx_data *d, int64_t width, int64_t kn, int64_t n, const int *threads,
                                const int *executors)
{
    int64_t len = 0, len2 = 0;
    bb_config c = fx_config("resnet8", width, kn, n, 1);
    float *ref = fx_train_state(&c, d, 3, &len, NULL);
    for (int i = 0; threads[i]; i++) {
        c.threads = threads[i];
        bb_trainer *t = NULL;
        CHECK_OK(bb_trainer_create_with_data(&t, &c, NULL, &d->train, &d->test));
        int nex = t ? bb_trainer_executors(t) : 0;
        bb_trainer_destroy(t);
        CHECK_MSG(nex == executors[i], "kn %lld / n %lld on %d threads: %d executors, want %d", (long long)kn,
                  (long long)n, threads[i], nex, executors[i]);
        float *got = fx_train_state(&c, d, 3, &len2, NULL);
        CHECK(len == len2 && ref && got);
        if (ref && got)
            CHECK_MSG(memcmp(ref, got, (size_t)len * 4) == 0, "width %lld, kn %lld / n %lld: T = %d differs from T = 1",
                      (long long)width, (long long)kn, (long long)n, threads[i]);
        free(got);
    }
    free(ref);
}

TEST(trainer_bit_identical_for_any_thread_count)
{
    fx_data d;
    fx_synthetic(&d, 512, 128, 1, 12, 12, 4, 3);
    float *ref = NULL, *got = NULL;
    int64_t len = 0, len2 = 0;
    bb_config c = fx_config("resnet8", 4, 48, 8, 1);  /* k = 6 workers */
    ref = fx_train_state(&c, &d, 3, &len, NULL);
    for (int64_t threads = 2; threads <= 4; threads++) {
        c.threads = threads;
        got = fx_train_state(&c, &d, 3, &len2, NULL);
        CHECK(len == len2 && ref && got);
        if (ref && got) CHECK_MSG(memcmp(ref, got, (size_t)len * 4) == 0, "T = %lld differs from T = 1", (long long)threads);
        free(got);
        got = NULL;
    }
    free(ref);
    /* fewer workers than threads: threads share each worker's layers. Width 4
     * has BN channel counts 4 (the generic loops, one thread) and 8, 16 (the
     * vector statistics in chunks); width 8 only the latter. */
    for (int64_t width = 4; width <= 8; width += 4) {
        check_thread_counts(&d, width, 16, 16, (const int[]){2, 3, 0}, (const int[]){1, 1});        /* k = 1 */
        /* k = 3: tiny layers, so whole workers on separate threads; on 4
         * threads the first executor is a team of 2 beside two of 1 */
        check_thread_counts(&d, width, 24, 8, (const int[]){2, 3, 4, 0}, (const int[]){2, 3, 3});
    }
    fx_data_free(&d);
}

TEST(k_workers_equal_one_worker_without_batch_norm)
{
    fx_data d;
    fx_synthetic(&d, 512, 128, 1, 12, 12, 4, 3);
    float *a = NULL, *b = NULL;
    int64_t la = 0, lb = 0;
    bb_config c = fx_config("mlp", 4, 64, 16, 2);  /* 4 workers of 16 */
    bb_config_set(&c, "width", "32");
    a = fx_train_state(&c, &d, 4, &la, NULL);
    c.worker_batch = 64;                            /* 1 worker of 64 */
    b = fx_train_state(&c, &d, 4, &lb, NULL);
    CHECK(la == lb && a && b);
    double worst = 0, scale = 0;
    for (int64_t i = 0; a && b && i < la; i++) {
        worst = fmax(worst, fabs(a[i] - b[i]));
        scale = fmax(scale, fabs(a[i]));
    }
    /* the same sum in another order: float rounding only */
    CHECK_MSG(worst <= 1e-5 * scale, "k=4 x 16 vs 1 x 64: max difference %.3g (scale %.3g)", worst, scale);
    /* while with batch norm the worker size changes the mathematics */
    free(a); free(b);
    bb_config r = fx_config("resnet8", 4, 64, 16, 2);
    a = fx_train_state(&r, &d, 2, &la, NULL);
    r.worker_batch = 64;
    b = fx_train_state(&r, &d, 2, &lb, NULL);
    worst = 0;
    for (int64_t i = 0; a && b && i < la; i++) worst = fmax(worst, fabs(a[i] - b[i]));
    CHECK_MSG(worst > 1e-4, "per-worker batch norm should make n matter, differs by %.3g only", worst);
    free(a); free(b);
    fx_data_free(&d);
}

TEST(resume_is_bit_for_bit)
{
    fx_data d;
    fx_synthetic(&d, 512, 128, 1, 12, 12, 4, 3);
    bb_config c = fx_config("resnet8", 4, 32, 8, 2);
    bb_config_set(&c, "warmup-epochs", "1");  /* lr changes every step */
    float *ref = NULL;
    int64_t len = 0;
    ref = fx_train_state(&c, &d, 6, &len, NULL);

    char path[600];
    snprintf(path, sizeof path, "%s/ck.safetensors", bb_test_tmpdir());
    bb_trainer *t = NULL;
    CHECK_OK(bb_trainer_create_with_data(&t, &c, NULL, &d.train, &d.test));
    bb_step_stats st;
    for (int i = 0; i < 3 && t; i++) CHECK_OK(bb_trainer_step(t, &st));
    if (t) CHECK_OK(bb_trainer_save(t, path));
    bb_trainer_destroy(t);
    t = NULL;
    CHECK_OK(bb_trainer_create_with_data(&t, &c, NULL, &d.train, &d.test));
    if (t) {
        CHECK_OK(bb_trainer_load(t, path));
        CHECK(bb_trainer_iteration(t) == 3);
        for (int i = 0; i < 3; i++) CHECK_OK(bb_trainer_step(t, &st));
        const bb_net *net = bb_trainer_net(t);
        CHECK(memcmp(ref, bb_trainer_params(t), (size_t)net->param_count * 4) == 0);
        CHECK(memcmp(ref + net->param_count, bb_trainer_momentum(t), (size_t)net->param_count * 4) == 0);
        CHECK(memcmp(ref + 2 * net->param_count, bb_trainer_state(t), (size_t)net->state_count * 4) == 0);
        bb_trainer_destroy(t);
    }
    /* a checkpoint of another run's mathematics is refused */
    bb_config other = c;
    other.batch_size = 64;
    CHECK_OK(bb_trainer_create_with_data(&t, &other, NULL, &d.train, &d.test));
    if (t) CHECK_FAILS(bb_trainer_load(t, path), BB_ERR_INVALID, "--batch-size 32");
    bb_trainer_destroy(t);
    free(ref);
    fx_data_free(&d);
}

TEST(divergence_stops_with_a_clear_message)
{
    fx_data d;
    fx_synthetic(&d, 512, 128, 1, 12, 12, 4, 3);
    bb_config c = fx_config("resnet8", 4, 32, 8, 1);
    c.lr = 1e5;
    bb_config_set(&c, "warmup", "none");
    bb_trainer *t = NULL;
    CHECK_OK(bb_trainer_create_with_data(&t, &c, NULL, &d.train, &d.test));
    bb_status s = BB_OK;
    bb_step_stats st;
    for (int i = 0; i < 20 && t && s == BB_OK; i++) s = bb_trainer_step(t, &st);
    CHECK(s == BB_ERR_NUMERIC);
    CHECK(strstr(bb_last_error(), "non-finite") != NULL);
    CHECK(strstr(bb_last_error(), "iteration") != NULL);
    bb_trainer_destroy(t);
    fx_data_free(&d);
}

TEST(training_learns_and_evaluation_covers_the_test_set)
{
    fx_data d;
    fx_synthetic(&d, 512, 128, 1, 12, 12, 4, 3);
    bb_config c = fx_config("resnet8", 4, 32, 8, 2);
    bb_config_set(&c, "warmup", "none");
    bb_config_set(&c, "width", "8");
    c.lr = 0.4;
    c.epochs = 6;
    bb_trainer *t = NULL;
    CHECK_OK(bb_trainer_create_with_data(&t, &c, NULL, &d.train, &d.test));
    bb_eval_result before, after;
    CHECK_OK(bb_trainer_evaluate(t, &before));
    bb_step_stats st;
    for (int i = 0; i < 96; i++) CHECK_OK(bb_trainer_step(t, &st));
    CHECK_OK(bb_trainer_evaluate(t, &after));
    CHECK(after.count == 128);
    CHECK_MSG(after.top1_err < 0.6 && after.top1_err < before.top1_err - 0.15,  /* chance: 0.75 */
              "test error %.3f -> %.3f after 6 epochs", before.top1_err, after.top1_err);
    CHECK(after.top5_err == 0.0);  /* 4 classes: the truth is always in the top 5 */
    bb_trainer_destroy(t);
    fx_data_free(&d);
}
