/* The trainer: results independent of the thread count (bit for bit), k
 * workers x n = 1 worker x kn without batch norm, bit-for-bit resume, clear
 * stop on divergence. Small synthetic problems keep each test well under a
 * second. */
#include "test.h"

#include "train/trainer.h"
#include "util/mem.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct { bb_dataset train, test; } data_pair;

static void make_data(data_pair *d, int64_t classes)
{
    CHECK_OK(bb_dataset_synthetic(&d->train, &d->test, 512, 128, 1, 12, 12, classes, 3));
    bb_augment_default(&d->train.aug, &d->train);
    d->test.aug = d->train.aug;
}

static void free_data(data_pair *d)
{
    bb_dataset_free(&d->train);
    bb_dataset_free(&d->test);
}

static bb_config small_config(const char *model, int64_t kn, int64_t n, int64_t threads)
{
    bb_config c;
    bb_config_defaults(&c);
    bb_config_set(&c, "model", model);
    bb_config_set(&c, "width", "4");
    c.batch_size = kn;
    c.worker_batch = n;
    c.threads = threads;
    c.epochs = 2;
    return c;
}

/* trains `steps` iterations; copies out params, momentum and BN state (and
 * the number of executors when nex is not NULL) */
static void train_steps_nex(const bb_config *cfg, data_pair *d, int steps, float **out, int64_t *len, int *nex)
{
    bb_trainer *t = NULL;
    CHECK_OK(bb_trainer_create_with_data(&t, cfg, NULL, &d->train, &d->test));
    if (!t) return;
    for (int i = 0; i < steps; i++) {
        bb_step_stats st;
        CHECK_OK(bb_trainer_step(t, &st));
    }
    const bb_net *net = bb_trainer_net(t);
    *len = 2 * net->param_count + net->state_count;
    *out = malloc((size_t)*len * 4);
    memcpy(*out, bb_trainer_params(t), (size_t)net->param_count * 4);
    memcpy(*out + net->param_count, bb_trainer_momentum(t), (size_t)net->param_count * 4);
    memcpy(*out + 2 * net->param_count, bb_trainer_state(t), (size_t)net->state_count * 4);
    if (nex) *nex = bb_trainer_executors(t);
    bb_trainer_destroy(t);
}

static void train_steps(const bb_config *cfg, data_pair *d, int steps, float **out, int64_t *len)
{
    train_steps_nex(cfg, d, steps, out, len, NULL);
}

/* kn / n workers on 1 thread, then on each of `threads` (0-terminated): the
 * same parameters, momentum and BN state bit for bit; `executors` (parallel
 * to threads) is how the trainer must lay the threads out, so that the
 * case runs whole workers on separate threads, shares workers' layers among
 * threads, or both */
static void check_thread_counts(data_pair *d, const char *width, int64_t kn, int64_t n, const int *threads,
                                const int *executors)
{
    float *ref = NULL, *got = NULL;
    int64_t len = 0, len2 = 0;
    bb_config c = small_config("resnet8", kn, n, 1);
    bb_config_set(&c, "width", width);
    train_steps(&c, d, 3, &ref, &len);
    for (int i = 0; threads[i]; i++) {
        int nex = 0;
        c.threads = threads[i];
        train_steps_nex(&c, d, 3, &got, &len2, &nex);
        CHECK(len == len2 && ref && got);
        CHECK_MSG(nex == executors[i], "kn %lld / n %lld on %d threads: %d executors, want %d", (long long)kn,
                  (long long)n, threads[i], nex, executors[i]);
        if (ref && got)
            CHECK_MSG(memcmp(ref, got, (size_t)len * 4) == 0, "width %s, kn %lld / n %lld: T = %d differs from T = 1",
                      width, (long long)kn, (long long)n, threads[i]);
        free(got);
        got = NULL;
    }
    free(ref);
}

TEST(trainer_bit_identical_for_any_thread_count)
{
    data_pair d;
    make_data(&d, 4);
    float *ref = NULL, *got = NULL;
    int64_t len = 0, len2 = 0;
    bb_config c = small_config("resnet8", 48, 8, 1);  /* k = 6 workers */
    train_steps(&c, &d, 3, &ref, &len);
    for (int64_t threads = 2; threads <= 4; threads++) {
        c.threads = threads;
        train_steps(&c, &d, 3, &got, &len2);
        CHECK(len == len2 && ref && got);
        if (ref && got) CHECK_MSG(memcmp(ref, got, (size_t)len * 4) == 0, "T = %lld differs from T = 1", (long long)threads);
        free(got);
        got = NULL;
    }
    free(ref);
    /* fewer workers than threads: threads share each worker's layers. Width 4
     * has BN channel counts 4 (the generic loops, one thread) and 8, 16 (the
     * vector statistics in chunks); width 8 only the latter. */
    static const char *widths[] = {"4", "8"};
    for (int w = 0; w < 2; w++) {
        check_thread_counts(&d, widths[w], 16, 16, (const int[]){2, 3, 0}, (const int[]){1, 1});  /* k = 1 */
        check_thread_counts(&d, widths[w], 24, 8, (const int[]){2, 3, 4, 0}, (const int[]){1, 3, 1});  /* k = 3 */
    }
    free_data(&d);
}

TEST(k_workers_equal_one_worker_without_batch_norm)
{
    data_pair d;
    make_data(&d, 4);
    float *a = NULL, *b = NULL;
    int64_t la = 0, lb = 0;
    bb_config c = small_config("mlp", 64, 16, 2);  /* 4 workers of 16 */
    bb_config_set(&c, "width", "32");
    train_steps(&c, &d, 4, &a, &la);
    c.worker_batch = 64;                            /* 1 worker of 64 */
    train_steps(&c, &d, 4, &b, &lb);
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
    bb_config r = small_config("resnet8", 64, 16, 2);
    train_steps(&r, &d, 2, &a, &la);
    r.worker_batch = 64;
    train_steps(&r, &d, 2, &b, &lb);
    worst = 0;
    for (int64_t i = 0; a && b && i < la; i++) worst = fmax(worst, fabs(a[i] - b[i]));
    CHECK_MSG(worst > 1e-4, "per-worker batch norm should make n matter, differs by %.3g only", worst);
    free(a); free(b);
    free_data(&d);
}

TEST(resume_is_bit_for_bit)
{
    data_pair d;
    make_data(&d, 4);
    bb_config c = small_config("resnet8", 32, 8, 2);
    bb_config_set(&c, "warmup-epochs", "1");  /* lr changes every step */
    float *ref = NULL;
    int64_t len = 0;
    train_steps(&c, &d, 6, &ref, &len);

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
    free_data(&d);
}

TEST(divergence_stops_with_a_clear_message)
{
    data_pair d;
    make_data(&d, 4);
    bb_config c = small_config("resnet8", 32, 8, 1);
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
    free_data(&d);
}

TEST(training_learns_and_evaluation_covers_the_test_set)
{
    data_pair d;
    make_data(&d, 4);
    bb_config c = small_config("resnet8", 32, 8, 2);
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
    free_data(&d);
}
