/* Schedule, optimizer and fixed-order gradient sum: hand-computed values and
 * the equivalences docs/TRAINING.md states. */
#include "test.h"

#include "model/models.h"
#include "optim/schedule.h"
#include "optim/sgd.h"
#include "train/gradsum.h"
#include "util/mem.h"
#include "util/pool.h"
#include "util/rng.h"

#include <stdlib.h>
#include <string.h>

static bb_schedule paper_schedule(double kn, int64_t n_train)
{
    bb_schedule s = {.ref_lr = 0.1, .ref_batch = 256, .batch = kn, .scaling = BB_SCALE_LINEAR,
                     .warmup = BB_WARMUP_GRADUAL, .warmup_epochs = 5, .decay = BB_DECAY_STEP,
                     .milestones = {30, 60, 80}, .nmilestones = 3, .decay_factor = 0.1, .epochs = 90};
    s.steps_per_epoch = n_train / (int64_t)kn;
    return s;
}

TEST(schedule_hand_computed)
{
    /* kn = 8192 on 60000 samples: 7 iterations per epoch, warmup ends at 35 */
    bb_schedule s = paper_schedule(8192, 60000);
    CHECK(s.steps_per_epoch == 7);
    CHECK_NEAR(bb_schedule_peak(&s), 3.2, 1e-12);
    CHECK_NEAR(bb_schedule_lr(&s, 0), 0.1, 1e-12);
    CHECK_NEAR(bb_schedule_lr(&s, 1), 0.1 + 3.1 / 35, 1e-12);      /* a constant amount per iteration */
    CHECK_NEAR(bb_schedule_lr(&s, 17), 0.1 + 3.1 * 17 / 35, 1e-12);
    CHECK_NEAR(bb_schedule_lr(&s, 34), 0.1 + 3.1 * 34 / 35, 1e-12);
    CHECK_NEAR(bb_schedule_lr(&s, 35), 3.2, 1e-12);                /* warmup done after 5 epochs */
    CHECK_NEAR(bb_schedule_lr(&s, 209), 3.2, 1e-12);
    CHECK_NEAR(bb_schedule_lr(&s, 210), 0.32, 1e-12);              /* epoch 30: first decay */
    CHECK_NEAR(bb_schedule_lr(&s, 420), 0.032, 1e-12);             /* epoch 60 */
    CHECK_NEAR(bb_schedule_lr(&s, 560), 0.0032, 1e-12);            /* epoch 80 */
    /* constant warmup holds 0.1, then jumps */
    s.warmup = BB_WARMUP_CONSTANT;
    CHECK_NEAR(bb_schedule_lr(&s, 34), 0.1, 1e-12);
    CHECK_NEAR(bb_schedule_lr(&s, 35), 3.2, 1e-12);
    s.warmup = BB_WARMUP_NONE;
    CHECK_NEAR(bb_schedule_lr(&s, 0), 3.2, 1e-12);
    /* sqrt and no scaling (the paper's comparison) */
    s.scaling = BB_SCALE_SQRT;
    CHECK_NEAR(bb_schedule_peak(&s), 0.1 * sqrt(32.0), 1e-12);
    s.scaling = BB_SCALE_NONE;
    CHECK_NEAR(bb_schedule_peak(&s), 0.1, 1e-12);
    /* kn = 256: the reference itself */
    bb_schedule r = paper_schedule(256, 60000);
    r.warmup = BB_WARMUP_NONE;
    CHECK(r.steps_per_epoch == 234);
    CHECK_NEAR(bb_schedule_lr(&r, 0), 0.1, 1e-12);
    /* below the reference there is nothing to warm up to: the lr starts at its peak */
    bb_schedule q = paper_schedule(128, 60000);
    CHECK_NEAR(bb_schedule_lr(&q, 0), 0.05, 1e-12);
    CHECK_NEAR(bb_schedule_lr(&q, 100), 0.05, 1e-12);
    /* cosine from the end of warmup to the last iteration */
    bb_schedule c = paper_schedule(1024, 10240);  /* 10 iterations per epoch */
    c.decay = BB_DECAY_COSINE;
    c.epochs = 15;                                 /* warmup 50 iterations, cosine over 100 */
    CHECK_NEAR(bb_schedule_lr(&c, 50), 0.4, 1e-12);
    CHECK_NEAR(bb_schedule_lr(&c, 100), 0.2, 1e-12);
    CHECK_NEAR(bb_schedule_lr(&c, 150), 0.0, 1e-12);
}

/* a two-layer net: conv + BN + fc, enough to tell weights from BN params and biases */
static void small_net(bb_net *net)
{
    bb_net_init(net, 1, 4, 4);
    int x = bb_net_conv(net, "conv", net->input, 2, 3, 1, 1);
    x = bb_net_bn(net, "bn", x, 0);
    x = bb_net_linear(net, "fc", bb_net_avgpool(net, x), 3, 1);
    bb_net_finalize(net, x);
}

TEST(weight_decay_skips_bn_and_biases)
{
    bb_net net;
    small_net(&net);
    float *w = bb_alloc((size_t)net.param_count * 4), *u = bb_alloc((size_t)net.param_count * 4);
    float *g = bb_alloc((size_t)net.param_count * 4);
    for (int all = 0; all < 2; all++) {
        for (int64_t i = 0; i < net.param_count; i++) w[i] = 1.0f;
        memset(u, 0, (size_t)net.param_count * 4);
        bb_sgd o = {.momentum = 0.9, .weight_decay = 0.01, .wd_all = all};
        bb_sgd_step(&o, &net, w, u, g, 0.5, 0.5);   /* zero gradient: only decay moves w */
        for (int p = 0; p < net.nparams; p++) {
            const bb_param *pr = &net.params[p];
            float want = (all || pr->kind == BB_PARAM_WEIGHT) ? 1.0f - 0.5f * 0.01f : 1.0f;
            CHECK_MSG(w[pr->offset] == want, "%s: %g, want %g (wd_all %d)", pr->name, w[pr->offset], want, all);
        }
    }
    bb_free(w); bb_free(u); bb_free(g);
    bb_net_free(&net);
}

/* The device's table: every tensor once, in order, its blocks numbered
 * consecutively, the decay of bb_sgd_step, and a closing entry. */
TEST(sgd_segments_cover_every_tensor_with_its_decay)
{
    bb_net net;
    small_net(&net);
    bb_kseg *seg = calloc((size_t)net.nparams + 1, sizeof *seg);
    bb_sgd o = {.momentum = 0.9, .weight_decay = 0.01};
    int64_t blocks = bb_sgd_segments(&o, &net, 7, seg), at = 0, b = 0;
    for (int p = 0; p < net.nparams; p++) {
        const bb_param *pr = &net.params[p];
        CHECK(seg[p].offset == pr->offset && seg[p].offset == at && seg[p].count == pr->count);
        CHECK(seg[p].first_block == b && seg[p].wd == (pr->kind == BB_PARAM_WEIGHT ? 0.01f : 0.0f));
        at += pr->count;
        b += (pr->count + 6) / 7;
    }
    CHECK(blocks == b && seg[net.nparams].first_block == b);
    CHECK(seg[net.nparams].offset == net.param_count && at == net.param_count && seg[net.nparams].count == 0);
    free(seg);
    bb_net_free(&net);
}

/* LARS sets the rate of the weight tensors only: a BN or bias tensor (and a
 * zero-initialized gamma, whose trust ratio is undefined) moves by the global
 * lr; a weight by lr eta |w| / (|g| + wd |w|), or with the clip (LARC) by
 * min(lr, eta |w| / (|g| + wd |w|)). Hand-computed on a constant tensor. */
TEST(lars_adapts_weights_only_and_clips)
{
    bb_net net;
    small_net(&net);
    int64_t P = net.param_count;
    float *w = bb_alloc((size_t)P * 4), *u = bb_alloc((size_t)P * 4), *g = bb_alloc((size_t)P * 4);
    const double lr = 0.5, eta = 0.02, wd = 0.01;
    for (int clip = 0; clip < 2; clip++) {
        for (int64_t i = 0; i < P; i++) { w[i] = 2.0f; g[i] = 0.25f; u[i] = 0.0f; }
        bb_sgd o = {.momentum = 0.9, .weight_decay = wd, .lars = 1, .lars_eta = eta, .lars_clip = clip};
        bb_sgd_step(&o, &net, w, u, g, lr, lr);
        for (int p = 0; p < net.nparams; p++) {
            const bb_param *pr = &net.params[p];
            int weight = pr->kind == BB_PARAM_WEIGHT;
            CHECK(bb_sgd_adapts(&o, pr) == weight);
            /* |w| = 2 sqrt(n), |g| = 0.25 sqrt(n): trust = eta * 2 / (0.25 + wd * 2) */
            double trust = eta * 2.0 / (0.25 + wd * 2.0);
            double rate = !weight ? lr : clip ? fmin(lr, trust) : lr * trust;
            double step = rate * (0.25 + (weight ? wd : 0.0) * 2.0);
            CHECK_MSG(fabs(w[pr->offset] - (2.0 - step)) < 1e-6, "%s (clip %d): %.8g, want %.8g", pr->name, clip,
                      w[pr->offset], 2.0 - step);
        }
    }
    CHECK(bb_lars_lr(0.5, 0.02, 1, 0.0f, 4.0, 1e-6) == 0.5f);   /* the clip caps at lr */
    CHECK(bb_lars_lr(0.5, 0.02, 0, 0.0f, 0.0, 1.0) == 0.5f);    /* |w| = 0: the global lr */
    bb_free(w); bb_free(u); bb_free(g);
    bb_net_free(&net);
}

/* Runs `steps` updates with a warmup-like rising lr; returns the final weights. */
static void trajectory(bb_momentum_form form, int nesterov, float *w, int64_t len, const bb_net *net)
{
    float *u = bb_alloc((size_t)len * 4), *g = bb_alloc((size_t)len * 4);
    bb_rng r = bb_rng_make(5, BB_RNG_TEST, 0, 0);
    for (int64_t i = 0; i < len; i++) w[i] = (float)bb_rng_normal(&r);
    bb_sgd o = {.momentum = 0.9, .weight_decay = 1e-4, .form = form, .nesterov = nesterov};
    double prev = 0.1;
    for (int step = 0; step < 40; step++) {
        double lr = 0.1 + 3.1 * step / 40.0;   /* lr rises 32x, as in warmup to kn = 8k */
        for (int64_t i = 0; i < len; i++) g[i] = 0.1f * w[i] + 0.01f * (float)((i + step) % 7);
        bb_sgd_step(&o, net, w, u, g, lr, prev);
        prev = lr;
    }
    bb_free(u); bb_free(g);
}

TEST(momentum_forms_9_and_10_agree_only_with_correction)
{
    bb_net net;
    small_net(&net);
    int64_t len = net.param_count;
    float *a = bb_alloc((size_t)len * 4), *b = bb_alloc((size_t)len * 4), *c = bb_alloc((size_t)len * 4);
    trajectory(BB_MOMENTUM_FORM9, 0, a, len, &net);
    trajectory(BB_MOMENTUM_FORM10, 0, b, len, &net);
    trajectory(BB_MOMENTUM_FORM10_UNCORRECTED, 0, c, len, &net);
    double dab = 0, dac = 0, na = 0;
    for (int64_t i = 0; i < len; i++) {
        dab = fmax(dab, fabs(a[i] - b[i]));
        dac = fmax(dac, fabs(a[i] - c[i]));
        na = fmax(na, fabs(a[i]));
    }
    CHECK_MSG(dab <= 1e-5 * na, "form 10 with correction differs from form 9 by %.3g (scale %.3g)", dab, na);
    CHECK_MSG(dac >= 1e-2 * na, "form 10 without correction should differ, differs by %.3g only", dac);
    bb_free(a); bb_free(b); bb_free(c);
    bb_net_free(&net);
}

/* The vectorized element loops (bb_sgd_apply: the AVX2 twin where the CPU
 * has it, the baseline in the BB_NO_SIMD build of tests/sh) give the bits of
 * the scalar rule, at every tail length and misalignment. */
TEST(sgd_apply_equals_the_scalar_rule)
{
    enum { N = 1000 };
    float *w = bb_alloc(N * 4), *u = bb_alloc(N * 4), *g = bb_alloc(N * 4);
    float *w0 = bb_alloc(N * 4), *u0 = bb_alloc(N * 4);
    bb_rng r = bb_rng_make(3, BB_RNG_TEST, 0, 0);
    for (int i = 0; i < N; i++) {
        w[i] = (float)bb_rng_normal(&r);
        u[i] = (float)bb_rng_normal(&r) * 0.1f;
        g[i] = (float)bb_rng_normal(&r) * 0.01f;
    }
    memcpy(w0, w, N * 4);
    memcpy(u0, u, N * 4);
    const int64_t counts[] = {1, 7, 8, 9, 31, 33, 250, 999};
    for (int rule = BB_UPDATE_FORM9; rule <= BB_UPDATE_FORM10; rule++)
        for (size_t t = 0; t < sizeof counts / sizeof counts[0]; t++)
            for (int64_t off = 0; off < 3; off++) {
                int64_t n = counts[t] - off > 0 ? counts[t] - off : 1;
                bb_sgd_apply(rule, n, w + off, u + off, g + off, 1e-4f, 0.9f, 1.25f, 0.4f);
                for (int64_t j = off; j < off + n; j++) bb_update_one(rule, w0 + j, u0 + j, g[j], 1e-4f, 0.9f, 1.25f, 0.4f);
                CHECK_MSG(!memcmp(w, w0, N * 4) && !memcmp(u, u0, N * 4),
                          "rule %d, %lld floats at offset %lld: not the scalar rule's bits", rule, (long long)n,
                          (long long)off);
            }
    bb_free(w); bb_free(u); bb_free(g); bb_free(w0); bb_free(u0);
}

/* Sums k random vectors through bb_gradsum with the workers split into
 * `parts` contiguous ranges, as executors would. */
static void tree_sum(int64_t k, int parts, int64_t len, float *out)
{
    bb_gradsum *gs = calloc((size_t)parts, sizeof *gs);
    for (int p = 0; p < parts; p++) {
        long long lo, hi;
        bb_split_range(k, parts, p, &lo, &hi);
        CHECK_OK(bb_gradsum_init(&gs[p], k, len, lo, hi));
        for (int64_t w = lo; w < hi; w++) {
            float *g = bb_gradsum_begin(&gs[p]);
            bb_rng r = bb_rng_make(9, BB_RNG_TEST, (uint64_t)w, 0);
            for (int64_t i = 0; i < len; i++) g[i] = (float)bb_rng_normal(&r) * (float)(1 + w % 3) * 1e3f;
            bb_gradsum_push(&gs[p], w);
        }
    }
    memcpy(out, bb_gradsum_combine(gs, parts), (size_t)len * 4);
    for (int p = 0; p < parts; p++) bb_gradsum_free(&gs[p]);
    free(gs);
}

TEST(gradient_sum_is_identical_for_any_split)
{
    const int64_t len = 257;
    float *ref = malloc(len * 4), *got = malloc(len * 4);
    int64_t ks[] = {1, 2, 3, 5, 8, 13, 32, 37};
    for (size_t a = 0; a < sizeof ks / sizeof ks[0]; a++) {
        int64_t k = ks[a];
        tree_sum(k, 1, len, ref);
        /* and it is the sum: compare with a double-precision sum */
        for (int64_t i = 0; i < len; i += 31) {
            double s = 0;
            for (int64_t w = 0; w < k; w++) {
                bb_rng r = bb_rng_make(9, BB_RNG_TEST, (uint64_t)w, 0);
                float v = 0;
                for (int64_t j = 0; j <= i; j++) v = (float)bb_rng_normal(&r) * (float)(1 + w % 3) * 1e3f;
                s += v;
            }
            CHECK_NEAR(ref[i], s, 1e-3 * (1 + fabs(s)));
        }
        for (int parts = 2; parts <= 5 && parts <= k; parts++) {
            tree_sum(k, parts, len, got);
            CHECK_MSG(memcmp(ref, got, len * 4) == 0, "k = %lld split in %d: sums differ", (long long)k, parts);
        }
    }
    free(ref);
    free(got);
}
