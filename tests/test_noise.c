/* The gradient noise scale estimator (train/noise.c) on problems where the
 * true gradient G and covariance Sigma are known, with tolerances derived from
 * the estimator's variance; and the trainer's estimate against per-worker
 * gradients computed separately. */
#include "test.h"
#include "fixture.h"

#include "train/noise.h"
#include "train/trainer.h"
#include "util/rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { D = 256, K = 16, N = 32, STEPS = 3000 };

/* A fixed problem: |G|^2 = 1 and Sigma = diag(s) with decaying s_i scaled so
 * that tr(Sigma) = b_true (so B_noise = b_true). */
static void make_problem(double *G, double *s, double b_true)
{
    bb_rng r = bb_rng_make(7, BB_RNG_TEST, 1, 0);
    double g2 = 0, tr = 0;
    for (int i = 0; i < D; i++) {
        G[i] = bb_rng_normal(&r);
        g2 += G[i] * G[i];
        s[i] = 1.0 / (1.0 + i / 32.0);
        tr += s[i];
    }
    for (int i = 0; i < D; i++) {
        G[i] /= sqrt(g2);
        s[i] *= b_true / tr;
    }
}

/* One step: k worker means of n samples each, drawn as N(G, Sigma/n); the
 * parts the trainer sees are those means / k (loss normalized by kn). */
static bb_noise_input draw_step(const double *G, const double *s, int k, int n, bb_rng *r)
{
    double total[D] = {0}, parts = 0;
    for (int w = 0; w < k; w++) {
        double sq = 0;
        for (int i = 0; i < D; i++) {
            double gw = (G[i] + sqrt(s[i] / n) * bb_rng_normal(r)) / k;
            sq += gw * gw;
            total[i] += gw;
        }
        parts += sq;
    }
    double tsq = 0;
    for (int i = 0; i < D; i++) tsq += total[i] * total[i];
    bb_noise_input in = {.k = k, .n = n, .parts_sq = parts, .total_sq = tsq};
    return in;
}

TEST(noise_scale_recovers_a_known_covariance)
{
    const double b_true = 512;
    double G[D], s[D];
    make_problem(G, s, b_true);
    /* Per-step standard deviations for Gaussian worker means (C = Sigma/n):
     *   Var(tr^) = 2 tr(Sigma^2) / (k-1)          (n x the unbiased sample variance)
     *   Var(g2^) = 4 G'CG / k + 2 tr(C^2) / (k(k-1))  (a U-statistic over worker pairs) */
    double trs2 = 0, gcg = 0;
    for (int i = 0; i < D; i++) { trs2 += s[i] * s[i]; gcg += G[i] * G[i] * s[i] / N; }
    double sd_tr = sqrt(2 * trs2 / (K - 1)), sd_g2 = sqrt(4 * gcg / K + 2 * trs2 / ((double)N * N * K * (K - 1)));
    double rel = sd_tr / b_true + sd_g2 / 1.0;  /* relative sd of the ratio, first order, any correlation */

    bb_rng r = bb_rng_make(11, BB_RNG_TEST, 2, 0);
    bb_noise_avg avg = {0};
    double sum_tr = 0, sum_g2 = 0, naive = 0, w2 = 0;
    for (int t = 0; t < STEPS; t++) {
        bb_noise_input in = draw_step(G, s, K, N, &r);
        bb_noise_est e = bb_noise_estimate(&in);
        sum_tr += e.trace;
        sum_g2 += e.g2;
        naive += in.total_sq;
        bb_noise_avg_update(&avg, BB_NOISE_DECAY, e);
        /* the squared weights of the exponential average: the first step keeps decay^(t) */
        w2 = t == 0 ? 1.0 : BB_NOISE_DECAY * BB_NOISE_DECAY * w2 + (1 - BB_NOISE_DECAY) * (1 - BB_NOISE_DECAY);
    }
    /* each mean within 4 standard deviations of the truth */
    CHECK_NEAR(sum_tr / STEPS, b_true, 4 * sd_tr / sqrt(STEPS));
    CHECK_NEAR(sum_g2 / STEPS, 1.0, 4 * sd_g2 / sqrt(STEPS));
    double b_mean = sum_tr / sum_g2;
    CHECK_NEAR(b_mean, b_true, 4 * rel * b_true / sqrt(STEPS));       /* about 1.6% here */
    /* the trainer's smoothed estimate: ratio of two exponential averages */
    CHECK_NEAR(bb_noise_scale(&avg), b_true, 4 * rel * b_true * sqrt(w2));  /* about 14% */
    /* the test can fail: |G_big|^2 alone, not corrected for its noise tr(Sigma)/kn, halves B_noise here */
    CHECK(fabs((sum_tr / naive) - b_true) > 4 * rel * b_true / sqrt(STEPS) * 10);
}

TEST(noise_scale_without_replacement_from_a_finite_set)
{
    /* 512 fixed vectors; each step splits a fresh permutation's first k*n among
     * k workers, as the sampler does. Half the set per step makes the
     * finite-population correction large: without it |G|^2 is low by tr(Sigma)/N. */
    enum { P = 512, DD = 32, KK = 8, NN = 32, M = 2000 };
    static double x[P][DD];
    double G[DD] = {0}, tr = 0;
    bb_rng r = bb_rng_make(5, BB_RNG_TEST, 3, 0);
    for (int j = 0; j < P; j++)
        for (int i = 0; i < DD; i++) {
            x[j][i] = (i < 4 ? 1.0 : 0.0) + 4.0 * (bb_rng_uniform(&r) - 0.5) * (1 + i % 3);
            G[i] += x[j][i] / P;
        }
    double g2 = 0;
    for (int i = 0; i < DD; i++) g2 += G[i] * G[i];
    for (int j = 0; j < P; j++)
        for (int i = 0; i < DD; i++) tr += (x[j][i] - G[i]) * (x[j][i] - G[i]) / P;  /* population covariance */
    int perm[P];
    double acc[2][2] = {{0}}, sq[2][2] = {{0}};  /* [with, without correction][g2, trace] */
    for (int t = 0; t < M; t++) {
        for (int j = 0; j < P; j++) perm[j] = j;
        for (int j = P - 1; j > 0; j--) {
            int q = (int)bb_rng_below(&r, (uint64_t)j + 1), tmp = perm[j];
            perm[j] = perm[q];
            perm[q] = tmp;
        }
        double total[DD] = {0}, parts = 0;
        for (int w = 0; w < KK; w++) {
            double part[DD] = {0}, psq = 0;
            for (int b = 0; b < NN; b++)
                for (int i = 0; i < DD; i++) part[i] += x[perm[w * NN + b]][i] / (NN * KK);
            for (int i = 0; i < DD; i++) { psq += part[i] * part[i]; total[i] += part[i]; }
            parts += psq;
        }
        double tsq = 0;
        for (int i = 0; i < DD; i++) tsq += total[i] * total[i];
        for (int c = 0; c < 2; c++) {
            bb_noise_input in = {.k = KK, .n = NN, .population = c == 0 ? P : 0, .parts_sq = parts, .total_sq = tsq};
            bb_noise_est e = bb_noise_estimate(&in);
            acc[c][0] += e.g2; sq[c][0] += e.g2 * e.g2;
            acc[c][1] += e.trace; sq[c][1] += e.trace * e.trace;
        }
    }
    /* tolerance: 4 standard errors of the mean, from the per-step spread observed */
    double se[2];
    for (int q = 0; q < 2; q++) {
        double m = acc[0][q] / M;
        se[q] = sqrt((sq[0][q] / M - m * m) / M);
    }
    CHECK_NEAR(acc[0][0] / M, g2, 4 * se[0]);
    CHECK_NEAR(acc[0][1] / M, tr, 4 * se[1]);
    /* without the correction the |G|^2 estimate is low by about tr(Sigma)/N, far outside the tolerance */
    CHECK_NEAR(acc[1][0] / M, g2 - tr / P, 4 * se[0] + 1e-3 * g2);
    CHECK(fabs(acc[1][0] / M - g2) > 8 * se[0]);
}

TEST(noise_scale_algebra_and_averages)
{
    /* a deterministic term r (weight decay) moves |G|^2 by 2 g.r + |r|^2, not tr(Sigma) */
    bb_noise_input in = {.k = 4, .n = 8, .parts_sq = 0.5, .total_sq = 1.25};
    bb_noise_est a = bb_noise_estimate(&in);
    in.total_dot_reg = 0.1;
    in.reg_sq = 0.04;
    bb_noise_est b = bb_noise_estimate(&in);
    CHECK_NEAR(b.trace, a.trace, 1e-12);
    CHECK_NEAR(b.g2 - a.g2, 0.24, 1e-12);
    /* hand computed: |G_s|^2 = 4 * 0.5 = 2, |G_b|^2 = 1.25, B_s = 8, B_b = 32 */
    CHECK_NEAR(a.trace, (2 - 1.25) / (1.0 / 8 - 1.0 / 32), 1e-12);
    CHECK_NEAR(a.g2, (32 * 1.25 - 8 * 2) / (32.0 - 8), 1e-12);
    /* one worker: no estimate */
    in.k = 1;
    bb_noise_est c = bb_noise_estimate(&in);
    CHECK(c.g2 == 0 && c.trace == 0);
    /* averages: the first step sets them; no scale while |G|^2 <= 0 */
    bb_noise_avg avg = {0};
    CHECK(bb_noise_scale(&avg) == 0);
    bb_noise_avg_update(&avg, 0.9, (bb_noise_est){2.0, 100.0});
    CHECK_NEAR(bb_noise_scale(&avg), 50.0, 1e-12);
    bb_noise_avg_update(&avg, 0.9, (bb_noise_est){-28.0, 100.0});
    CHECK_NEAR(avg.g2, 0.9 * 2 - 0.1 * 28, 1e-12);
    CHECK(bb_noise_scale(&avg) == 0);
}

/* The trainer's B_noise against per-worker gradients computed by separate
 * one-worker trainers: with lr = 0 the parameters never move, an MLP has no
 * batch norm, and worker w of minibatch 0 holds the samples that minibatch w
 * of a kn = n run holds. */
TEST(noise_scale_in_the_trainer_matches_separate_workers)
{
    fx_data d;
    fx_synthetic(&d, 512, 64, 1, 8, 8, 4, 3);
    bb_config c;
    bb_config_defaults(&c);
    bb_config_set(&c, "model", "mlp");
    bb_config_set(&c, "width", "16");
    bb_config_set(&c, "warmup", "none");
    c.lr = 0;
    c.weight_decay = 0;
    c.batch_size = 64;
    c.worker_batch = 16;
    c.threads = 2;
    c.noise_scale = 1;
    bb_trainer *t = NULL;
    bb_step_stats st, sw;
    CHECK_OK(bb_trainer_create_with_data(&t, &c, NULL, &d.train, &d.test));
    if (t) CHECK_OK(bb_trainer_step(t, &st));
    bb_trainer_destroy(t);
    double parts = 0;
    c.batch_size = 16;
    c.noise_scale = 0;
    CHECK_OK(bb_trainer_create_with_data(&t, &c, NULL, &d.train, &d.test));
    for (int w = 0; t && w < 4; w++) {
        CHECK_OK(bb_trainer_step(t, &sw));
        parts += (sw.grad_norm / 4) * (sw.grad_norm / 4);  /* mean over 16 samples, / k */
    }
    bb_trainer_destroy(t);
    bb_noise_input in = {.k = 4, .n = 16, .parts_sq = parts, .total_sq = st.grad_norm * st.grad_norm};
    bb_noise_est e = bb_noise_estimate(&in);
    /* the same sums in another order: float rounding only */
    CHECK_NEAR(st.noise_trace, e.trace, 1e-4 * fabs(e.trace));
    CHECK_NEAR(st.noise_g2, e.g2, 1e-4 * (fabs(e.g2) + st.grad_norm * st.grad_norm));
    CHECK(st.b_noise == (e.g2 > 0 && e.trace > 0 ? st.noise_trace / st.noise_g2 : 0.0));
    fx_data_free(&d);
}

/* B_noise is part of the state a checkpoint restores: a resumed run logs the
 * same values. */
TEST(noise_scale_resumes_bit_for_bit)
{
    fx_data d;
    fx_synthetic(&d, 512, 64, 1, 8, 8, 4, 3);
    bb_config c;
    bb_config_defaults(&c);
    bb_config_set(&c, "model", "resnet8");
    bb_config_set(&c, "width", "4");
    c.batch_size = 32;
    c.worker_batch = 8;
    c.threads = 2;
    c.noise_scale = 1;
    double ref[6] = {0};
    bb_trainer *t = NULL;
    bb_step_stats st;
    CHECK_OK(bb_trainer_create_with_data(&t, &c, NULL, &d.train, &d.test));
    for (int i = 0; t && i < 6; i++) {
        CHECK_OK(bb_trainer_step(t, &st));
        ref[i] = st.b_noise;
    }
    bb_trainer_destroy(t);
    CHECK_MSG(ref[5] > 0 && isfinite(ref[5]), "B_noise %g after 6 steps", ref[5]);
    char path[600];
    snprintf(path, sizeof path, "%s/ck.safetensors", bb_test_tmpdir());
    CHECK_OK(bb_trainer_create_with_data(&t, &c, NULL, &d.train, &d.test));
    for (int i = 0; t && i < 3; i++) CHECK_OK(bb_trainer_step(t, &st));
    if (t) CHECK_OK(bb_trainer_save(t, path));
    bb_trainer_destroy(t);
    CHECK_OK(bb_trainer_create_with_data(&t, &c, NULL, &d.train, &d.test));
    if (t) CHECK_OK(bb_trainer_load(t, path));
    for (int i = 3; t && i < 6; i++) {
        CHECK_OK(bb_trainer_step(t, &st));
        CHECK_MSG(st.b_noise == ref[i], "step %d: %.17g resumed vs %.17g", i, st.b_noise, ref[i]);
    }
    bb_trainer_destroy(t);
    fx_data_free(&d);
}
