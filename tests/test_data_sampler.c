/* Data module tests, part two: the epoch sampler (coverage, determinism,
 * uniformity, independence from who asks), evaluation splits, augmentation
 * against hand-checked images and a naive reference (with no hidden state, from
 * two threads), and the synthetic set's determinism and learnability. */
#include "test.h"

#include "data/data.h"
#include "data/data_internal.h"
#include "util/mem.h"
#include "util/status.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* ---------- sampler ---------- */

TEST(data_sampler_coverage)
{
    static const int64_t cases[][3] = {{1000, 3, 7}, {60000, 256, 32}, {100, 1, 100}, {101, 4, 5}, {7, 7, 1}, {50, 2, 3}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int64_t N = cases[c][0], k = cases[c][1], n = cases[c][2];
        bb_sampler s;
        CHECK_OK(bb_sampler_init(&s, N, k, n, 42));
        int64_t steps = bb_sampler_steps_per_epoch(&s);
        CHECK(steps == N / (k * n));
        CHECK(bb_sampler_worker(&s, 0, 0) == NULL);  /* no epoch yet */
        unsigned char *seen = calloc((size_t)N, 1);
        for (int64_t e = 0; e < 2; e++) {
            memset(seen, 0, (size_t)N);
            bb_sampler_set_epoch(&s, e);
            int64_t covered = 0, dup = 0, outside = 0;
            for (int64_t j = 0; j < steps; j++)
                for (int64_t w = 0; w < k; w++) {
                    const int64_t *ix = bb_sampler_worker(&s, j, w);
                    if (!ix) { outside++; continue; }
                    for (int64_t i = 0; i < n; i++) {
                        if (ix[i] < 0 || ix[i] >= N) { outside++; continue; }
                        dup += seen[ix[i]];
                        seen[ix[i]] = 1;
                        covered++;
                    }
                }
            CHECK_MSG(dup == 0 && outside == 0 && covered == steps * k * n,
                      "N=%lld k=%lld n=%lld: covered %lld, dup %lld, outside %lld", (long long)N, (long long)k,
                      (long long)n, (long long)covered, (long long)dup, (long long)outside);
        }
        CHECK(bb_sampler_worker(&s, steps, 0) == NULL && bb_sampler_worker(&s, 0, k) == NULL);
        CHECK(bb_sampler_worker(&s, -1, 0) == NULL && bb_sampler_worker(&s, 0, -1) == NULL);
        free(seen);
        bb_sampler_free(&s);
    }
    CHECK_FAILS(bb_sampler_init(&(bb_sampler){0}, 1000, 32, 32, 1), BB_ERR_INVALID, "larger than the 1000 training samples");
    CHECK_FAILS(bb_sampler_init(&(bb_sampler){0}, 1000, 0, 32, 1), BB_ERR_INVALID, "must be >= 1");
    CHECK(bb_sampler_worker(&(bb_sampler){0}, 0, 0) == NULL);
}

TEST(data_sampler_epochs)
{
    const int64_t N = 5000;
    bb_sampler a, b, c;
    CHECK_OK(bb_sampler_init(&a, N, 4, 10, 7));
    CHECK_OK(bb_sampler_init(&b, N, 4, 10, 7));
    CHECK_OK(bb_sampler_init(&c, N, 4, 10, 8));
    int64_t *e0 = malloc((size_t)N * sizeof *e0);
    bb_sampler_set_epoch(&a, 0);
    memcpy(e0, a.perm, (size_t)N * sizeof *e0);
    /* a permutation of [0, N), not the identity */
    unsigned char *seen = calloc((size_t)N, 1);
    int64_t fixed = 0, ok = 1;
    for (int64_t i = 0; i < N; i++) {
        if (e0[i] < 0 || e0[i] >= N || seen[e0[i]]) ok = 0; else seen[e0[i]] = 1;
        fixed += e0[i] == i;
    }
    CHECK(ok && fixed < 20);
    bb_sampler_set_epoch(&a, 1);
    int64_t same = 0;
    for (int64_t i = 0; i < N; i++) same += a.perm[i] == e0[i];
    CHECK_MSG(same < 20, "epochs 0 and 1 agree at %lld positions", (long long)same);
    /* a pure function of (seed, epoch): another sampler, or coming back to the epoch */
    bb_sampler_set_epoch(&b, 0);
    CHECK(memcmp(b.perm, e0, (size_t)N * sizeof *e0) == 0);
    bb_sampler_set_epoch(&a, 0);
    CHECK(memcmp(a.perm, e0, (size_t)N * sizeof *e0) == 0 && a.epoch == 0);
    bb_sampler_set_epoch(&c, 0);
    CHECK(memcmp(c.perm, e0, (size_t)N * sizeof *e0) != 0);
    /* uniform over permutations: N = 3 over 6000 epochs, each of the 6 about 1000 times
     * (binomial sd 29; 150 is > 5 sd) */
    bb_sampler t;
    CHECK_OK(bb_sampler_init(&t, 3, 1, 1, 11));
    int count[3][3][3] = {{{0}}};
    for (int64_t e = 0; e < 6000; e++) {
        bb_sampler_set_epoch(&t, e);
        count[t.perm[0]][t.perm[1]][t.perm[2]]++;
    }
    static const int perms[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
    for (int p = 0; p < 6; p++) {
        int cnt = count[perms[p][0]][perms[p][1]][perms[p][2]];
        CHECK_MSG(cnt > 850 && cnt < 1150, "permutation %d seen %d times", p, cnt);
    }
    bb_sampler_free(&t);
    free(seen); free(e0);
    bb_sampler_free(&a); bb_sampler_free(&b); bb_sampler_free(&c);
}

TEST(data_sampler_worker_split)
{
    /* one executor asking for all k workers one by one vs two executors asking
     * for halves (the second in reverse order) give the same index lists */
    const int64_t N = 1000, k = 6, n = 9;
    bb_sampler one, lo, hi;
    CHECK_OK(bb_sampler_init(&one, N, k, n, 3));
    CHECK_OK(bb_sampler_init(&lo, N, k, n, 3));
    CHECK_OK(bb_sampler_init(&hi, N, k, n, 3));
    int64_t steps = bb_sampler_steps_per_epoch(&one);
    int64_t *a = malloc((size_t)(steps * k * n) * sizeof *a), *b = malloc((size_t)(steps * k * n) * sizeof *b);
    for (int64_t e = 0; e < 3; e++) {
        bb_sampler_set_epoch(&one, e);
        for (int64_t j = 0; j < steps; j++)
            for (int64_t w = 0; w < k; w++) memcpy(a + (j * k + w) * n, bb_sampler_worker(&one, j, w), (size_t)n * sizeof *a);
        bb_sampler_set_epoch(&lo, e);
        bb_sampler_set_epoch(&hi, e);
        for (int64_t j = 0; j < steps; j++) {
            for (int64_t w = 0; w < k / 2; w++) memcpy(b + (j * k + w) * n, bb_sampler_worker(&lo, j, w), (size_t)n * sizeof *b);
            for (int64_t w = k - 1; w >= k / 2; w--) memcpy(b + (j * k + w) * n, bb_sampler_worker(&hi, j, w), (size_t)n * sizeof *b);
        }
        CHECK(memcmp(a, b, (size_t)(steps * k * n) * sizeof *a) == 0);
        /* worker w of minibatch j is the w-th slice of n inside the j-th slice of kn */
        CHECK(memcmp(a, one.perm, (size_t)(steps * k * n) * sizeof *a) == 0);
    }
    free(a); free(b);
    bb_sampler_free(&one); bb_sampler_free(&lo); bb_sampler_free(&hi);
}

TEST(data_eval_split)
{
    static const int64_t cases[][2] = {{10000, 8}, {10000, 7}, {3, 8}, {0, 4}, {1, 1}, {17, 17}, {100, 3}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int64_t N = cases[c][0], k = cases[c][1], next = 0, mn = N, mx = 0;
        for (int64_t w = 0; w < k; w++) {
            int64_t lo, hi;
            bb_eval_split(N, k, w, &lo, &hi);
            CHECK(lo == next && hi >= lo);  /* contiguous, in order, no gap or overlap */
            next = hi;
            if (hi - lo < mn) mn = hi - lo;
            if (hi - lo > mx) mx = hi - lo;
        }
        CHECK_MSG(next == N && mx - mn <= 1, "N=%lld k=%lld: end %lld, sizes %lld..%lld", (long long)N, (long long)k,
                  (long long)next, (long long)mn, (long long)mx);
    }
    int64_t lo, hi;
    bb_eval_split(3, 8, 5, &lo, &hi);
    CHECK(lo == 3 && hi == 3);
    bb_eval_split(10, 4, 1, &lo, &hi);
    CHECK(lo == 3 && hi == 6);
    bb_eval_split(10, 4, 4, &lo, &hi);
    CHECK(lo == 0 && hi == 0);
}

/* ---------- augmentation ---------- */

/* a c x h x w set whose pixels are given, with identity normalization */
static void small_set(bb_dataset *d, int64_t n, int64_t c, int64_t h, int64_t w, const uint8_t *px)
{
    CHECK_OK(bb_data_alloc(d, "small", n, c, h, w, 10, NULL));
    if (d->pixels) memcpy(d->pixels, px, (size_t)(n * c * h * w));
}

/* naive reference: pad by p with zeros, take the window at (oy, ox), mirror, normalize */
static void reference_fetch(const bb_dataset *d, int64_t index, int64_t oy, int64_t ox, int flip, int64_t p, float *out)
{
    int64_t H = d->h + 2 * p, W = d->w + 2 * p;
    uint8_t *pad = calloc((size_t)(H * W), 1);
    for (int64_t ch = 0; ch < d->c; ch++) {
        memset(pad, 0, (size_t)(H * W));
        for (int64_t y = 0; y < d->h; y++)
            for (int64_t x = 0; x < d->w; x++)
                pad[(y + p) * W + x + p] = d->pixels[((index * d->c + ch) * d->h + y) * d->w + x];
        for (int64_t y = 0; y < d->h; y++)
            for (int64_t x = 0; x < d->w; x++) {
                uint8_t v = pad[(y + oy) * W + (flip ? d->w - 1 - x : x) + ox];
                out[(ch * d->h + y) * d->w + x] = (float)((v / 255.0 - d->aug.mean[ch]) / d->aug.std[ch]);
            }
    }
    free(pad);
}

TEST(data_augment_crop_flip_hand_checked)
{
    static const uint8_t img[9] = {10, 20, 30, 40, 50, 60, 70, 80, 90};
    bb_dataset d;
    small_set(&d, 1, 1, 3, 3, img);
    d.aug.crop_pad = 1;
    d.aug.flip = 1;
    /* find epochs whose draw is (oy 0, ox 2, no flip) and (oy 2, ox 0, flip) */
    int64_t e_shift = -1, e_flip = -1;
    int hits[3][3][2] = {{{0}}};
    for (int64_t e = 0; e < 2000; e++) {
        int64_t oy, ox;
        int fl;
        bb_augment_draw(&d.aug, 5, e, 0, &oy, &ox, &fl);
        CHECK(oy >= 0 && oy <= 2 && ox >= 0 && ox <= 2 && (fl == 0 || fl == 1));
        if (oy < 0 || oy > 2 || ox < 0 || ox > 2 || fl < 0 || fl > 1) break;
        hits[oy][ox][fl]++;
        if (oy == 0 && ox == 2 && !fl && e_shift < 0) e_shift = e;
        if (oy == 2 && ox == 0 && fl && e_flip < 0) e_flip = e;
    }
    /* all 18 choices occur, about 2000/18 = 111 times each */
    for (int i = 0; i < 18; i++) CHECK(hits[i / 6][(i / 2) % 3][i % 2] > 60);
    CHECK(e_shift >= 0 && e_flip >= 0);
    float out[9];
    /* padded image rows 0..2, columns 2..4:  0 0 0 / 20 30 0 / 50 60 0 */
    static const int want_shift[9] = {0, 0, 0, 20, 30, 0, 50, 60, 0};
    CHECK_OK(d.fetch(&d, 0, 1, 5, e_shift, out));
    for (int j = 0; j < 9; j++) CHECK_NEAR(out[j] * 255.0f, want_shift[j], 1e-4);
    /* rows 2..4, columns 0..2 = 0 40 50 / 0 70 80 / 0 0 0, mirrored */
    static const int want_flip[9] = {50, 40, 0, 80, 70, 0, 0, 0, 0};
    CHECK_OK(d.fetch(&d, 0, 1, 5, e_flip, out));
    for (int j = 0; j < 9; j++) CHECK_NEAR(out[j] * 255.0f, want_flip[j], 1e-4);
    /* no augmentation when not training */
    CHECK_OK(d.fetch(&d, 0, 0, 5, e_flip, out));
    for (int j = 0; j < 9; j++) CHECK_NEAR(out[j] * 255.0f, img[j], 1e-4);
    /* flip alone mirrors each row */
    d.aug.crop_pad = 0;
    int flips = 0;
    for (int64_t e = 0; e < 20; e++) {
        int64_t oy, ox;
        int fl;
        bb_augment_draw(&d.aug, 5, e, 0, &oy, &ox, &fl);
        CHECK(oy == 0 && ox == 0);
        CHECK_OK(d.fetch(&d, 0, 1, 5, e, out));
        flips += fl;
        for (int y = 0; y < 3; y++)
            for (int x = 0; x < 3; x++) CHECK_NEAR(out[y * 3 + x] * 255.0f, img[y * 3 + (fl ? 2 - x : x)], 1e-4);
    }
    CHECK(flips > 2 && flips < 18);
    bb_dataset_free(&d);
}

TEST(data_augment_normalize_and_padding)
{
    uint8_t px[2 * 2 * 5 * 4];
    for (int i = 0; i < (int)sizeof px; i++) px[i] = (uint8_t)(i * 37 + 11);
    bb_dataset d;
    small_set(&d, 2, 2, 5, 4, px);
    d.aug.mean[0] = 0.25f; d.aug.std[0] = 0.5f;
    d.aug.mean[1] = 0.6f; d.aug.std[1] = 0.2f;
    float out[40], ref[40];
    CHECK_OK(d.fetch(&d, 1, 0, 0, 0, out));
    for (int ch = 0; ch < 2; ch++)
        for (int j = 0; j < 20; j++)
            CHECK_NEAR(out[ch * 20 + j], (px[40 + ch * 20 + j] / 255.0 - d.aug.mean[ch]) / d.aug.std[ch], 2e-6);
    /* pad 3 on a 5 x 4 image: the padding is a raw 0, i.e. (0 - mean) / std; and every
     * draw matches the naive pad-crop-flip reference */
    d.aug.crop_pad = 3;
    d.aug.flip = 1;
    int padded_seen = 0;
    for (int64_t e = 0; e < 200; e++)
        for (int64_t i = 0; i < 2; i++) {
            int64_t oy, ox;
            int fl;
            bb_augment_draw(&d.aug, 9, e, i, &oy, &ox, &fl);
            CHECK_OK(d.fetch(&d, i, 1, 9, e, out));
            reference_fetch(&d, i, oy, ox, fl, 3, ref);
            for (int j = 0; j < 40; j++) CHECK_NEAR(out[j], ref[j], 2e-6);
            if (oy == 0) {  /* the top 3 rows come from the padding */
                padded_seen++;
                CHECK_NEAR(out[0], -0.25 / 0.5, 1e-6);
                CHECK_NEAR(out[20 + 4 * 2 + 1], -0.6 / 0.2, 1e-6);
            }
        }
    CHECK(padded_seen > 10);
    /* bad arguments */
    CHECK_FAILS(d.fetch(&d, 2, 0, 0, 0, out), BB_ERR_INVALID, "fetch of sample 2, expected 0..1");
    d.aug.std[1] = 0.0f;
    CHECK_FAILS(d.fetch(&d, 0, 0, 0, 0, out), BB_ERR_INVALID, "channel 1 normalization");
    d.aug.std[1] = 0.2f;
    d.aug.crop_pad = -1;
    CHECK_FAILS(d.fetch(&d, 0, 1, 0, 0, out), BB_ERR_INVALID, "crop_pad -1");
    /* channel stats: exact mean and population std of byte / 255 */
    double s1[2] = {0, 0}, s2[2] = {0, 0};
    for (int i = 0; i < 2; i++)
        for (int ch = 0; ch < 2; ch++)
            for (int j = 0; j < 20; j++) {
                double v = px[i * 40 + ch * 20 + j] / 255.0;
                s1[ch] += v; s2[ch] += v * v;
            }
    float mean[2], sd[2];
    bb_dataset_channel_stats(&d, mean, sd);
    for (int ch = 0; ch < 2; ch++) {
        CHECK_NEAR(mean[ch], s1[ch] / 40, 1e-6);
        CHECK_NEAR(sd[ch], sqrt(s2[ch] / 40 - (s1[ch] / 40) * (s1[ch] / 40)), 1e-6);
    }
    bb_augment a;
    bb_augment_default(&a, &d);
    CHECK(a.crop_pad == 0 && a.flip == 1 && a.mean[1] == mean[1]);
    bb_dataset_free(&d);
}

typedef struct {
    const bb_dataset *d;
    int64_t epoch, reverse;
    float *out;   /* (n, c, h, w) */
    int fails;
} fetch_job;

static void *fetch_all(void *arg)
{
    fetch_job *j = arg;
    int64_t chw = j->d->c * j->d->h * j->d->w;
    for (int64_t t = 0; t < j->d->n; t++) {
        int64_t i = j->reverse ? j->d->n - 1 - t : t;
        j->fails += j->d->fetch(j->d, i, 1, 77, j->epoch, j->out + i * chw) != BB_OK;
    }
    return NULL;
}

TEST(data_augment_no_hidden_state)
{
    bb_dataset tr, te;
    CHECK_OK(bb_dataset_synthetic(&tr, &te, 300, 10, 3, 32, 32, 10, 1));
    if (!tr.pixels) return;
    int64_t chw = 3 * 32 * 32;
    size_t bytes = (size_t)(tr.n * chw) * sizeof(float);
    float *seq = bb_alloc(bytes), *scr = bb_alloc(bytes), *t1 = bb_alloc(bytes), *t2 = bb_alloc(bytes);
    fetch_job j0 = {&tr, 4, 0, seq, 0};
    fetch_all(&j0);
    /* scrambled order on this thread, with other samples and epochs in between */
    float *junk = bb_alloc((size_t)chw * sizeof(float));
    for (int64_t t = 0; t < tr.n; t++) {
        int64_t i = (t * 97 + 13) % tr.n;  /* 97 is coprime to 300 */
        CHECK_OK(tr.fetch(&tr, (i * 7) % tr.n, 1, 77, 5, junk));
        CHECK_OK(tr.fetch(&tr, i, 1, 77, 4, scr + i * chw));
    }
    CHECK(memcmp(seq, scr, bytes) == 0);
    /* two threads, one forwards one backwards */
    fetch_job a = {&tr, 4, 0, t1, 0}, b = {&tr, 4, 1, t2, 0};
    pthread_t ta, tb;
    CHECK(pthread_create(&ta, NULL, fetch_all, &a) == 0);
    CHECK(pthread_create(&tb, NULL, fetch_all, &b) == 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    CHECK(a.fails == 0 && b.fails == 0 && j0.fails == 0);
    CHECK(memcmp(seq, t1, bytes) == 0 && memcmp(seq, t2, bytes) == 0);
    /* different epochs augment the same sample differently; the test path ignores the epoch */
    fetch_job j5 = {&tr, 5, 0, scr, 0};
    fetch_all(&j5);
    int64_t differ = 0;
    for (int64_t i = 0; i < tr.n; i++) differ += memcmp(seq + i * chw, scr + i * chw, (size_t)chw * sizeof(float)) != 0;
    /* the same draw (1/81 * 1/2 chance for pad 4) should be rare */
    CHECK_MSG(differ > tr.n * 9 / 10, "only %lld of %lld samples differ between epochs", (long long)differ, (long long)tr.n);
    CHECK_OK(te.fetch(&te, 3, 0, 1, 0, t1));
    CHECK_OK(te.fetch(&te, 3, 0, 2, 9, t2));
    CHECK(memcmp(t1, t2, (size_t)chw * sizeof(float)) == 0);
    bb_free(seq); bb_free(scr); bb_free(t1); bb_free(t2); bb_free(junk);
    bb_dataset_free(&tr);
    bb_dataset_free(&te);
}

/* ---------- synthetic ---------- */

TEST(data_synthetic_deterministic)
{
    bb_dataset a, at, b, bt, c, ct;
    CHECK_OK(bb_dataset_synthetic(&a, &at, 200, 50, 2, 12, 10, 7, 99));
    CHECK_OK(bb_dataset_synthetic(&b, &bt, 100, 80, 2, 12, 10, 7, 99));
    CHECK_OK(bb_dataset_synthetic(&c, &ct, 200, 50, 2, 12, 10, 7, 100));
    if (!a.pixels || !b.pixels || !c.pixels) return;
    CHECK(a.n == 200 && at.n == 50 && a.c == 2 && a.h == 12 && a.w == 10 && a.classes == 7);
    CHECK(!strcmp(a.name, "synthetic/train") && !strcmp(at.name, "synthetic/test"));
    /* sample i is a function of (seed, index), not of the set size */
    CHECK(memcmp(a.pixels, b.pixels, 100 * 240) == 0 && memcmp(a.labels, b.labels, 100 * 4) == 0);
    CHECK(memcmp(at.pixels, bt.pixels, 50 * 240) == 0 && memcmp(at.labels, bt.labels, 50 * 4) == 0);
    CHECK(memcmp(a.pixels, c.pixels, 200 * 240) != 0);
    CHECK(memcmp(a.pixels, at.pixels, 50 * 240) != 0);
    for (int64_t i = 0; i < a.n; i++) CHECK(a.labels[i] >= 0 && a.labels[i] < 7);
    CHECK(a.aug.crop_pad == 1 && at.aug.mean[1] == a.aug.mean[1]);
    bb_dataset_free(&a); bb_dataset_free(&at); bb_dataset_free(&b); bb_dataset_free(&bt);
    bb_dataset_free(&c); bb_dataset_free(&ct);
    CHECK_FAILS(bb_dataset_synthetic(&a, &at, 10, 10, 5, 8, 8, 10, 1), BB_ERR_INVALID, "1 <= c <= 4");
    CHECK_FAILS(bb_dataset_synthetic(&a, &at, 10, 10, 1, 8, 8, 1, 1), BB_ERR_INVALID, "2 <= classes");
}

/* nearest class mean on normalized pixels: returns test accuracy */
static double ncm_accuracy(const bb_dataset *tr, const bb_dataset *te)
{
    int64_t chw = tr->c * tr->h * tr->w, K = tr->classes;
    double *mean = calloc((size_t)(K * chw), sizeof *mean);
    int64_t *cnt = calloc((size_t)K, sizeof *cnt);
    float *x = malloc((size_t)chw * sizeof *x);
    for (int64_t i = 0; i < tr->n; i++) {
        tr->fetch(tr, i, 0, 0, 0, x);
        int64_t k = tr->labels[i];
        cnt[k]++;
        for (int64_t j = 0; j < chw; j++) mean[k * chw + j] += x[j];
    }
    for (int64_t k = 0; k < K; k++)
        for (int64_t j = 0; j < chw; j++) mean[k * chw + j] /= cnt[k] ? (double)cnt[k] : 1.0;
    int64_t right = 0;
    for (int64_t i = 0; i < te->n; i++) {
        te->fetch(te, i, 0, 0, 0, x);
        int64_t best = 0;
        double bestd = INFINITY;
        for (int64_t k = 0; k < K; k++) {
            double d2 = 0;
            for (int64_t j = 0; j < chw; j++) d2 += (x[j] - mean[k * chw + j]) * (x[j] - mean[k * chw + j]);
            if (d2 < bestd) { bestd = d2; best = k; }
        }
        right += best == te->labels[i];
    }
    free(mean); free(cnt); free(x);
    return (double)right / (double)te->n;
}

TEST(data_synthetic_learnable)
{
    static const int64_t shapes[][4] = {{1, 28, 28, 10}, {3, 32, 32, 10}, {3, 16, 16, 20}};
    for (int s = 0; s < 3; s++) {
        bb_dataset tr, te;
        int64_t K = shapes[s][3];
        CHECK_OK(bb_dataset_synthetic(&tr, &te, 3000, 1000, shapes[s][0], shapes[s][1], shapes[s][2], K, 2024));
        if (!tr.pixels) continue;
        int64_t *cnt = calloc((size_t)K, sizeof *cnt);
        for (int64_t i = 0; i < tr.n; i++) cnt[tr.labels[i]]++;
        int64_t mn = tr.n, mx = 0;
        for (int64_t k = 0; k < K; k++) { mn = cnt[k] < mn ? cnt[k] : mn; mx = cnt[k] > mx ? cnt[k] : mx; }
        /* labels are uniform draws: 3000 / K each, sd sqrt(3000/K) */
        CHECK_MSG(mn > 3000 / K * 3 / 4 && mx < 3000 / K * 5 / 4, "class counts %lld..%lld", (long long)mn, (long long)mx);
        double acc = ncm_accuracy(&tr, &te);
        printf("  synthetic %lldx%lldx%lld, %lld classes: nearest-class-mean test accuracy %.3f (chance %.3f)\n",
               (long long)shapes[s][0], (long long)shapes[s][1], (long long)shapes[s][2], (long long)K, acc, 1.0 / (double)K);
        CHECK_MSG(acc > 4.0 / (double)K, "accuracy %.3f", acc);
        CHECK_MSG(acc < 0.95, "accuracy %.3f: too easy to tell the training apart", acc);
        free(cnt);
        bb_dataset_free(&tr);
        bb_dataset_free(&te);
    }
}
