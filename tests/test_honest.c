/* Honest metrics and refused configurations: a sample whose outputs are not
 * finite is never counted correct (CPU loss and device kernels alike), an
 * evaluation with a non-finite loss fails on both trainers and stops a run,
 * `bigbatch eval` of such a model exits non-zero, and configurations that
 * cannot mean what they say (no iteration, warmup past the end, milestones
 * ignored or outside the run) are refused with a message naming the flag. */
#include "test.h"

#include "gpu/dev.h"
#include "gpu/kern.h"
#include "model/net.h"
#include "ops/ops.h"
#include "optim/schedule.h"
#include "train/trainer.h"
#include "train/engine.h"
#include "train/trainer_internal.h"

#include <fcntl.h>
#include <stdint.h>
#include <limits.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* 4 samples of 4 classes, true class 1 everywhere and the largest finite logit */
#define NS 4
#define NC 4
static const int32_t labels[NS] = {1, 1, 1, 1};

static void make_logits(float *z)
{
    for (int s = 0; s < NS; s++)
        for (int j = 0; j < NC; j++) z[s * NC + j] = j == 1 ? 2.0f : 0.5f * (float)j;
    z[1 * NC + 3] = NAN;        /* NaN in a wrong class: every comparison with it is false */
    z[2 * NC + 1] = INFINITY;   /* +inf in the true class */
    z[3 * NC + 0] = -INFINITY;  /* -inf in a wrong class */
}

TEST(honest_nonfinite_logits_never_count_as_correct)
{
    float z[NS * NC];
    make_logits(z);
    /* the CPU loss (training and evaluation on the CPU) */
    int64_t top1 = -1, top5 = -1;
    bb_xent_forward(NS, NC, z, labels, 1.0, 0.0f, NULL, &top1, &top5);
    CHECK_MSG(top1 == 1 && top5 == 1, "CPU: top-1 %lld, top-5 %lld correct; want 1 and 1 (only sample 0 is finite)",
              (long long)top1, (long long)top5);
    /* the device kernel's arithmetic (CUDA and host backends) */
    double loss[NS], t1[NS], t5[NS];
    bb_kxent p = {NS, NC, z, labels, 1.0, 0.0f, NULL, loss, t1, t5};
    for (int64_t s = 0; s < NS; s++) bbk_xent_one(&p, s);
    CHECK_MSG(t1[0] == 1.0 && t5[0] == 1.0, "device: the finite sample: top-1 %g top-5 %g", t1[0], t5[0]);
    for (int s = 1; s < NS; s++)
        CHECK_MSG(t1[s] == 0.0 && t5[s] == 0.0, "device: sample %d with a non-finite logit counted correct (top-1 %g, "
                  "top-5 %g)", s, t1[s], t5[s]);
    /* a finite minibatch still counts as before: ranks 0, 1 and 3 of the true class */
    float f[3 * NC] = {0, 5, 1, 2, /**/ 9, 5, 1, 2, /**/ 9, 5, 8, 7};
    bb_xent_forward(3, NC, f, labels, 1.0, 0.0f, NULL, &top1, &top5);
    CHECK(top1 == 1 && top5 == 3);
    int64_t two = -1;
    float g[2 * 3] = {0, 5, 4, /**/ 9, 5, 6};  /* 3 classes: top-5 covers every class of a finite sample */
    bb_xent_forward(2, 3, g, labels, 1.0, 0.0f, NULL, NULL, &two);
    CHECK(two == 2);
    g[5] = NAN;
    bb_xent_forward(2, 3, g, labels, 1.0, 0.0f, NULL, NULL, &two);
    CHECK_MSG(two == 1, "top-5 of 3 classes with a NaN logit: %lld correct, want 1", (long long)two);
}

typedef struct { bb_dataset train, test; } data_pair;

static void make_data(data_pair *d)
{
    CHECK_OK(bb_dataset_synthetic(&d->train, &d->test, 192, 64, 1, 8, 8, 4, 5));
    bb_augment_default(&d->train.aug, &d->train);
    d->test.aug = d->train.aug;
}

static bb_config small_config(void)
{
    bb_config c;
    bb_config_defaults(&c);
    bb_config_set(&c, "model", "resnet8");
    bb_config_set(&c, "width", "4");
    bb_config_set(&c, "data", "synthetic");
    c.synthetic_train = 192;
    c.synthetic_test = 64;
    c.synthetic_classes = 4;
    bb_config_set(&c, "synthetic-shape", "1x8x8");
    c.batch_size = 32;
    c.worker_batch = 8;
    c.threads = 2;
    c.epochs = 1;
    return c;
}

/* a CPU trainer (device 0) or one on the host backend of the device engine (1) */
static bb_trainer *make_trainer(const bb_config *c, data_pair *d, int device)
{
    bb_trainer *t = NULL;
    if (!device) {
        CHECK_OK(bb_trainer_create_with_data(&t, c, NULL, &d->train, &d->test));
        return t;
    }
    bb_dev *dev = NULL;
    CHECK_OK(bb_dev_host_create(&dev, NULL));
    if (dev) CHECK_OK(bb_trainer_create_dev(&t, c, NULL, &d->train, &d->test, dev));
    return t;
}

/* sets element i of parameter `name` (or of BN running mean `name` when state) to v on either trainer */
static void poke(bb_trainer *t, const char *name, int state, int64_t i, float v)
{
    const bb_net *net = bb_trainer_net(t);
    float *buf = state ? bb_trainer_state(t) : bb_trainer_params(t);  /* device: a fresh host copy */
    if (state) {
        int found = 0;
        for (int l = 0; l < net->nlayers; l++)
            if (net->layers[l].kind == BB_L_BN && !strcmp(net->layers[l].name, name)) {
                buf[net->layers[l].run_off + i] = v;
                found = 1;
            }
        CHECK_MSG(found, "no BN layer %s", name);
    } else {
        int p = bb_net_find_param(net, name);
        CHECK_MSG(p >= 0, "no parameter %s", name);
        if (p >= 0) buf[net->params[p].offset + i] = v;
    }
    CHECK_OK(bb_trainer_upload(t));
}

TEST(honest_evaluation_with_a_nan_bias_fails_on_cpu_and_device)
{
    data_pair d;
    make_data(&d);
    bb_config c = small_config();
    for (int device = 0; device < 2; device++) {
        bb_trainer *t = make_trainer(&c, &d, device);
        if (!t) continue;
        bb_eval_result r;
        CHECK_OK(bb_trainer_evaluate(t, &r));
        CHECK(isfinite(r.loss) && r.top1_err < 1.0);  /* an untrained model guesses some right */
        poke(t, "fc.bias", 0, 0, NAN);
        memset(&r, 0, sizeof r);
        CHECK_FAILS(bb_trainer_evaluate(t, &r), BB_ERR_NUMERIC, "not finite");
        CHECK_MSG(strstr(bb_last_error(), "64 test samples") && strstr(bb_last_error(), "top-1 error is 100.00%"),
                  "%s: %s", device ? "device" : "cpu", bb_last_error());
        /* every sample has a NaN logit: none is correct, at top-1 or top-5 */
        CHECK_MSG(r.count == 64 && r.top1_err == 1.0 && r.top5_err == 1.0 && isnan(r.loss),
                  "%s: count %lld, top-1 error %g, top-5 error %g, loss %g", device ? "device" : "cpu",
                  (long long)r.count, r.top1_err, r.top5_err, r.loss);
        bb_trainer_destroy(t);
    }
    bb_dataset_free(&d.train);
    bb_dataset_free(&d.test);
}

TEST(honest_a_nonfinite_evaluation_stops_training_without_a_checkpoint)
{
    data_pair d;
    make_data(&d);
    bb_config c = small_config();
    c.epochs = 2;
    for (int device = 0; device < 2; device++) {
        snprintf(c.out, sizeof c.out, "%s/run", bb_test_tmpdir());
        bb_trainer *t = make_trainer(&c, &d, device);
        if (!t) continue;
        /* training normalizes with batch statistics, evaluation with the running
         * ones: a running mean of -inf in the last batch norm (gamma 1, not the
         * zero-gamma start) leaves the training loss finite and makes the test
         * outputs +inf, which no ReLU clips */
        poke(t, "layer3.0.bn2.weight", 0, 0, 1.0f);
        poke(t, "layer3.0.bn2", 1, 0, -INFINITY);
        bb_status s = bb_trainer_run(t);
        CHECK_MSG(s == BB_ERR_NUMERIC && strstr(bb_last_error(), "non-finite test loss after iteration 6 (epoch 1): "
                  "training diverged"), "%s: status %d: %s", device ? "device" : "cpu", (int)s, bb_last_error());
        CHECK(bb_trainer_iteration(t) == 6);
        char path[700];
        snprintf(path, sizeof path, "%s/checkpoint.safetensors", c.out);
        struct stat st;
        CHECK_MSG(stat(path, &st) != 0, "%s: a checkpoint was written after the non-finite evaluation", path);
        bb_trainer_destroy(t);
    }
    bb_dataset_free(&d.train);
    bb_dataset_free(&d.test);
}

/* runs the bigbatch next to this test binary; stdout and stderr into files; returns the exit status */
static int run_cli(const char *const *args, const char *outpath, const char *errpath)
{
    char exe[PATH_MAX], bin[PATH_MAX + 16];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[len > 0 ? len : 0] = 0;
    char *slash = strrchr(exe, '/');
    if (slash) *slash = 0;
    snprintf(bin, sizeof bin, "%s/bigbatch", exe);
    char *argv[16];
    int argc = 0;
    argv[argc++] = "bigbatch";
    for (int i = 0; args[i] && argc < 15; i++) argv[argc++] = (char *)args[i];
    argv[argc] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, outpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&fa, 2, errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    pid_t pid;
    int rc = posix_spawn(&pid, bin, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    CHECK_MSG(rc == 0, "cannot start %s", bin);
    if (rc != 0) return -1;
    int st = 0;
    if (waitpid(pid, &st, 0) != pid) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void slurp(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    size_t got = f ? fread(buf, 1, cap - 1, f) : 0;
    buf[got] = 0;
    if (f) fclose(f);
}

TEST(honest_cli_eval_of_overflowing_outputs_exits_nonzero)
{
    /* a checkpoint holds only finite values (the save refuses others), but
     * finite weights can still overflow the outputs: fc.weight at 3e38 */
    bb_config c = small_config();
    bb_trainer *t = NULL;
    CHECK_OK(bb_trainer_create(&t, &c, NULL));
    if (!t) return;
    const bb_net *net = bb_trainer_net(t);
    int p = bb_net_find_param(net, "fc.weight");
    CHECK(p >= 0);
    float *w = bb_trainer_params(t);
    for (int64_t i = 0; p >= 0 && i < net->params[p].count; i++) w[net->params[p].offset + i] = 3e38f;
    bb_eval_result r;
    CHECK_FAILS(bb_trainer_evaluate(t, &r), BB_ERR_NUMERIC, "not finite");  /* the premise */
    char ckpt[700], out[700], err[700];
    const char *tmp = bb_test_tmpdir();
    snprintf(ckpt, sizeof ckpt, "%s/overflow.safetensors", tmp);
    snprintf(out, sizeof out, "%s/stdout", tmp);
    snprintf(err, sizeof err, "%s/stderr", tmp);
    CHECK_OK(bb_trainer_save(t, ckpt));
    bb_trainer_destroy(t);
    const char *args[] = {"eval", "--checkpoint", ckpt, "--threads", "1", NULL};
    int rc = run_cli(args, out, err);
    char o[4096], e[4096];
    slurp(out, o, sizeof o);
    slurp(err, e, sizeof e);
    CHECK_MSG(rc == 1, "bigbatch eval exited %d; stdout: %s stderr: %s", rc, o, e);
    CHECK_MSG(strstr(e, "bigbatch eval: evaluating on 64 test samples: the test loss is") && strstr(e, "not finite") &&
              strstr(e, "(counted as wrong, the top-1 error is "), "stderr: %s", e);
    CHECK_MSG(!strstr(o, "accuracy"), "an accuracy was reported: %s", o);
}

/* ---- configurations that cannot mean what they say ---- */

static bb_status validate_with(const char *const *kv, int64_t n_train)
{
    bb_config c;
    bb_config_defaults(&c);
    for (int i = 0; kv[i]; i += 2) CHECK_OK(bb_config_set(&c, kv[i], kv[i + 1]));
    bb_status s = bb_config_validate(&c);
    if (s != BB_OK || n_train <= 0) return s;
    bb_schedule sc;
    return bb_schedule_from_config(&sc, &c, n_train);
}

TEST(honest_configurations_that_cannot_mean_what_they_say_are_refused)
{
    static const struct { const char *kv[9]; int64_t n_train; const char *needle; } bad[] = {
        {{"epochs", "0.001"}, 60000, "--epochs 0.001 gives 0 iterations at --batch-size 128 on 60000 training samples "
                                     "(468 iterations per epoch): need at least 0.00214 epochs"},
        {{"data", "synthetic", "synthetic-train", "1000", "epochs", "0.05"}, 0,
         "--epochs 0.05 gives 0 iterations at --batch-size 128 on 1000 training samples"},
        {{"warmup-epochs", "1000", "epochs", "3"}, 0, "--warmup-epochs 1000 ends after the run (--epochs 3)"},
        {{"warmup", "constant", "warmup-epochs", "4", "epochs", "3"}, 0, "--warmup-epochs 4 ends after the run"},
        {{"batch-size", "512", "epochs", "3"}, 0, "--warmup-epochs -1 means 5 epochs of warmup at --batch-size 512"},
        {{"milestones", "1,2"}, 0, "--milestones 1,2: milestones apply to --decay step only, and --decay is cosine"},
        {{"milestones", "1,2", "decay", "none"}, 0, "--decay is none"},
        {{"milestones", "5,3"}, 0, "--milestones: expected increasing non-negative epochs separated by commas"},
        {{"milestones", "5,3", "decay", "step", "epochs", "10"}, 0,
         "--milestones: expected increasing non-negative epochs separated by commas"},
        {{"milestones", "1,5", "decay", "step", "epochs", "5"}, 0,
         "--milestones 1,5: epoch 5 is not within the run (--epochs 5)"},
        /* 2.99 epochs of 2 iterations rounds to iteration 6, the run's end */
        {{"milestones", "2.99", "decay", "step", "epochs", "3", "batch-size", "128"}, 300, "falls at iteration 6, the end"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bb_status s = validate_with(bad[i].kv, bad[i].n_train);
        CHECK_MSG(s == BB_ERR_INVALID && strstr(bb_last_error(), bad[i].needle), "case %zu (%s %s ...): %s", i,
                  bad[i].kv[0], bad[i].kv[1], s == BB_OK ? "accepted" : bb_last_error());
    }
    /* what stays valid: warmup to the very end, milestones inside the run,
     * explicit warmup at a large kn, --epochs 0 with --max-steps, one iteration */
    static const struct { const char *kv[9]; int64_t n_train; } good[] = {
        {{"warmup-epochs", "3", "epochs", "3"}, 60000},
        {{"milestones", "1,2.5", "decay", "step", "epochs", "3"}, 60000},
        {{"batch-size", "512", "epochs", "3", "warmup-epochs", "1"}, 60000},
        {{"batch-size", "512", "epochs", "3", "warmup", "none"}, 60000},
        {{"epochs", "0", "max-steps", "5"}, 60000},
        {{"epochs", "0.00214"}, 60000},
        {{"decay", "step", "epochs", "3"}, 60000},  /* the default milestones: 1/3, 2/3, 8/9 of the run */
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        CHECK_MSG(validate_with(good[i].kv, good[i].n_train) == BB_OK, "valid case %zu (%s %s ...) refused: %s", i,
                  good[i].kv[0], good[i].kv[1], bb_last_error());
}

/* ---- evaluation reads only the test split ---- */

/* an IDX pair PREFIX-images-idx3-ubyte / PREFIX-labels-idx1-ubyte of n 8x8 images */
static void write_idx(const char *dir, const char *prefix, int n, unsigned seed)
{
    char path[700];
    unsigned char hdr[16] = {0, 0, 8, 3, 0, 0, (unsigned char)(n >> 8), (unsigned char)n, 0, 0, 0, 8, 0, 0, 0, 8};
    snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte", dir, prefix);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    fwrite(hdr, 1, 16, f);
    uint32_t x = seed;
    for (int i = 0; i < n * 64; i++) {
        x = x * 1664525u + 1013904223u;
        fputc((int)(x >> 24), f);
    }
    CHECK(fclose(f) == 0);
    snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte", dir, prefix);
    f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    hdr[3] = 1;
    fwrite(hdr, 1, 8, f);
    for (int i = 0; i < n; i++) fputc(i % 10, f);
    CHECK(fclose(f) == 0);
}

TEST(honest_eval_needs_only_the_test_split)
{
    const char *dir = bb_test_tmpdir();
    write_idx(dir, "train", 96, 7);
    write_idx(dir, "t10k", 40, 11);
    bb_config c = small_config();
    bb_config_set(&c, "data", "mnist");
    snprintf(c.data_dir, sizeof c.data_dir, "%s", dir);
    c.epochs = 1;
    bb_trainer *t = NULL;
    CHECK_OK(bb_trainer_create(&t, &c, NULL));
    if (!t) return;
    bb_step_stats st;
    CHECK_OK(bb_trainer_step(t, &st));
    bb_eval_result full;
    CHECK_OK(bb_trainer_evaluate(t, &full));
    char ckpt[700], path[700];
    snprintf(ckpt, sizeof ckpt, "%s/ckpt.safetensors", dir);
    CHECK_OK(bb_trainer_save(t, ckpt));
    bb_trainer_destroy(t);
    /* without the training files: the same numbers, from the recorded normalization */
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte", dir);
    CHECK(unlink(path) == 0);
    snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte", dir);
    CHECK(unlink(path) == 0);
    bb_trainer *e = NULL;
    CHECK_OK(bb_trainer_create_eval(&e, &c, NULL, ckpt));
    if (!e) return;
    CHECK_OK(bb_trainer_load(e, ckpt));
    bb_eval_result only;
    CHECK_OK(bb_trainer_evaluate(e, &only));
    CHECK_MSG(only.count == 40 && only.loss == full.loss && only.top1_err == full.top1_err &&
              only.top5_err == full.top5_err, "test split alone: loss %.9g err %g, with both: loss %.9g err %g",
              only.loss, only.top1_err, full.loss, full.top1_err);
    CHECK(bb_trainer_steps_per_epoch(e) == 3);  /* the recorded 96 training samples at kn 32 */
    /* the stand-in for the training split cannot train */
    CHECK_FAILS(bb_trainer_step(e, &st), BB_ERR_INVALID, "the training split was not loaded (evaluation only)");
    bb_trainer_destroy(e);
    /* training does need the training files, and says which */
    CHECK_FAILS(bb_trainer_create(&t, &c, NULL), BB_ERR_IO, "train-images-idx3-ubyte");
}
