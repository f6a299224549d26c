/* The kn* prediction of `bigbatch advise` on synthetic inputs: the B_noise
 * profile (interpolation, growth), the critical batch of a run against the
 * closed form for a linearly growing B_noise, and the prediction from the
 * numbers of the ResNet-8 sweep in docs/RESULTS.md against its measured kn*. */
#include "test.h"

#include "sweep/sweep.h"

#include <string.h>

TEST(noise_profile_interpolates_and_grows)
{
    bb_noise_profile p = {{1, 4}, {100, 400}, 2, 0.5, 0};
    CHECK_NEAR(bb_noise_profile_at(&p, 0.1), 100, 1e-9);  /* the first point's value before it */
    CHECK_NEAR(bb_noise_profile_at(&p, 1), 100, 1e-9);
    CHECK_NEAR(bb_noise_profile_at(&p, 2), 200, 1e-9);    /* log-log: B ~ epoch between these two */
    CHECK_NEAR(bb_noise_profile_at(&p, 4), 400, 1e-9);
    CHECK_NEAR(bb_noise_profile_at(&p, 16), 800, 1e-9);   /* (16 / 4)^0.5 after the last */
    p.growth_from = 8;  /* flat from the last point to epoch 8, then the growth */
    CHECK_NEAR(bb_noise_profile_at(&p, 8), 400, 1e-9);
    CHECK_NEAR(bb_noise_profile_at(&p, 32), 800, 1e-9);
    bb_noise_profile none = {{0}, {0}, 0, 1, 0};
    CHECK(isnan(bb_noise_profile_at(&none, 1)));
}

/* B = b0 until e0, then b0 e / e0: the integrals of w = 1 / (B + kn) and w B in closed form */
static double closed_form(double b0, double e0, double budget, double kn)
{
    double c = b0 / e0;
    double w = e0 / (b0 + kn), wb = e0 * b0 / (b0 + kn);
    double lg = log((c * budget + kn) / (c * e0 + kn)) / c;
    w += lg;
    wb += (budget - e0) - kn * lg;
    return wb / w;
}

TEST(critical_batch_of_a_run)
{
    double share;
    /* a constant B_noise is its own average, whatever kn weighs it by */
    bb_noise_profile flat = {{2}, {300}, 1, 0, 0};
    CHECK_NEAR(bb_critical_batch(&flat, 10, 256, &share), 300, 1e-9);
    CHECK_NEAR(bb_critical_batch(&flat, 10, 4096, NULL), 300, 1e-9);
    CHECK_NEAR(share, 0.2, 1e-3);  /* the 2 measured epochs of 10 carry a fifth of the weight */
    /* a linearly growing one: the midpoint rule against the closed form */
    bb_noise_profile lin = {{0.96}, {151}, 1, 1, 0};
    for (double budget = 2; budget <= 32; budget *= 2)
        for (double kn = 64; kn <= 4096; kn *= 4) {
            double want = closed_form(151, 0.96, budget, kn);
            CHECK_NEAR(bb_critical_batch(&lin, budget, kn, NULL), want, 1e-5 * want);
        }
    /* a longer budget reaches larger B_noise: a larger critical batch; it stays
     * below the time average, since phases of small B_noise weigh more */
    double b10 = bb_critical_batch(&lin, 10, 256, NULL), b30 = bb_critical_batch(&lin, 30, 256, NULL);
    CHECK(b30 > 2 * b10 && b10 > 151);
    CHECK(b30 < 151 * 30 / 0.96 / 2);
}

static bb_advice resnet8_advice(void)
{
    /* docs/RESULTS.md: 300 iterations at kn = 256 (234 per epoch), B_noise 151
     * over iterations 150-299, 112 to 209 over five blocks of them */
    bb_advice a;
    memset(&a, 0, sizeof a);
    a.kn = 256;
    a.n = 32;
    a.steps = 300;
    a.n_train = 234 * 256;
    a.b_noise = 151;
    a.b_lo = 112;
    a.b_hi = 209;
    a.b_early = NAN;  /* not recorded there */
    return a;
}

TEST(advise_predicts_knstar_of_the_resnet8_sweep)
{
    bb_advice a = resnet8_advice();
    bb_advise_predict(&a, 4, 1);
    /* the profile: 151 from the middle of the second half (epoch 0.96) to epoch 1, then ~ epoch */
    double e_mid = 0.75 * 300 / 234.0;
    CHECK_NEAR(a.b_crit, closed_form(151, 1, 4, 256), 1e-3);
    CHECK(isnan(a.growth_run));
    CHECK(a.knstar == a.b_crit && a.budget == 4 && a.growth == 1);
    CHECK(a.b_crit_lo < a.b_crit && a.b_crit < a.b_crit_hi);
    /* measured there: kn* = 512 (17.85% against 17.52% at 256; 1024: 19.81%).
     * The prediction is within 2x of it, on the low side; the range's upper
     * end (B_noise's largest block, growth 1.5) stops just short of it. */
    CHECK_MSG(a.knstar >= 512 / 2.0 && a.knstar <= 512 * 2.0, "predicted %.0f", a.knstar);
    CHECK_MSG(a.knstar < 512, "predicted %.0f", a.knstar);
    CHECK_MSG(a.b_crit_lo < 512 / 2.0 && a.b_crit_hi > 0.95 * 512 && a.b_crit_hi < 512, "range %.0f..%.0f",
              a.b_crit_lo, a.b_crit_hi);
    /* the old advice (B_noise itself, 151) was 3.4x below */
    CHECK(512 / a.b_noise > 3);
    /* the B_noise the sweep's kn = 256 runs logged at the end of epochs 1-4 (200, 324, 506, 3672),
     * as a measured profile: closer, 1.3x below */
    bb_noise_profile swept = {{1, 2, 3, 4}, {200, 324, 506, 3672}, 4, 1, 0};
    double b = bb_critical_batch(&swept, 4, 256, NULL);
    CHECK_MSG(b > 512 / 2.0 && b < 512, "B_crit %.0f", b);
    /* growth starts at epoch 1 at the earliest: a run that stopped at epoch 0.25
     * (B_noise still falling there) is not extrapolated from its dip */
    bb_advice early = a;
    early.steps = 78;
    bb_advise_predict(&early, 10, 1);
    CHECK_NEAR(early.b_crit, closed_form(151, 1, 10, 256), 1e-3);
    /* a first-quarter estimate enters the profile, and its trend is reported */
    a.b_early = 250;
    bb_advise_predict(&a, 4, 1);
    CHECK_NEAR(a.growth_run, log(151 / 250.0) / log(e_mid / (300 / 8.0 / 234.0)), 1e-12);
    /* kn* is never below the kn it is measured against */
    bb_advice small = resnet8_advice();
    small.b_noise = small.b_lo = small.b_hi = 20;
    bb_advise_predict(&small, 2, 1);
    CHECK(small.b_crit < 256 && small.knstar == 256);
    /* a block lost in the noise leaves the range open above */
    a.b_hi = INFINITY;
    bb_advise_predict(&a, 4, 1);
    CHECK(isinf(a.b_crit_hi) && isfinite(a.b_crit));
}

TEST(advise_prediction_follows_the_budget)
{
    bb_advice a = resnet8_advice();
    double prev = 0;
    for (double budget = 1; budget <= 64; budget *= 2) {
        bb_advise_predict(&a, budget, 1);
        CHECK_MSG(a.b_crit > prev, "budget %g: %.0f after %.0f", budget, a.b_crit, prev);
        CHECK(a.knstar == fmax(a.b_crit, 256));
        prev = a.b_crit;
    }
    /* no growth: the measured B_noise whatever the budget (and kn* the reference's 256) */
    bb_advise_predict(&a, 30, 0);
    CHECK_NEAR(a.b_crit, 151, 1e-9);
    CHECK(a.knstar == 256);
    CHECK_NEAR(a.measured_share, 0.75 * 300 / 234.0 / 30, 1e-3);  /* the measured epochs of 30 */
}

TEST(advise_budget_to_hold_a_larger_kn)
{
    /* a constant B_noise: kn up to it holds at any budget, larger ones at none */
    bb_noise_profile flat = {{2}, {300}, 1, 0, 0};
    CHECK(bb_budget_for(&flat, 256, 299.9) == 0);
    CHECK(isinf(bb_budget_for(&flat, 256, 300.1)));
    /* a growing one: the budget found is where B_crit reaches the target,
     * and a larger kn needs more epochs */
    bb_noise_profile lin = {{0.96}, {151}, 1, 1, 0};
    double prev = 0;
    for (double kn = 512; kn <= 8192; kn *= 2) {
        double e = bb_budget_for(&lin, 256, kn);
        CHECK_MSG(e > prev && isfinite(e), "kn %g: %g epochs after %g", kn, e, prev);
        CHECK_NEAR(bb_critical_batch(&lin, e, 256, NULL), kn, 1e-6 * kn);
        CHECK(bb_critical_batch(&lin, e * 0.999, 256, NULL) < kn);
        prev = e;
    }
    /* the ResNet-8 sweep held kn 512 at 4 epochs (docs/RESULTS.md); the model,
     * whose kn* there was 1.8x low, asks 2.2x as many epochs, and its range's
     * lower end stops just short of 4 (as B_crit's upper end stops short of 512) */
    bb_advice a = resnet8_advice();
    bb_advise_predict(&a, 4, 1);
    CHECK(a.nhold == BB_HOLD_MAX && a.hold_kn[0] == 512 && a.hold_kn[4] == 8192);
    CHECK_MSG(a.hold_epochs[0] > 4 && a.hold_epochs[0] < 2.5 * 4, "%g epochs", a.hold_epochs[0]);
    CHECK_MSG(a.hold_lo[0] > 4 && a.hold_lo[0] < 4.5 && a.hold_hi[0] > 8, "range %g .. %g", a.hold_lo[0], a.hold_hi[0]);
    for (int i = 0; i < a.nhold; i++)
        CHECK(a.hold_lo[i] <= a.hold_epochs[i] && a.hold_epochs[i] <= a.hold_hi[i]);
    /* the same answers whatever budget the prediction itself is for */
    bb_advice b = resnet8_advice();
    bb_advise_predict(&b, 30, 1);
    CHECK(b.hold_epochs[2] == a.hold_epochs[2]);
    /* sizes stop at the training set; a block lost in the noise opens the range below */
    a.n_train = 3000;
    a.b_hi = INFINITY;
    bb_advise_predict(&a, 4, 1);
    CHECK(a.nhold == 3 && a.hold_lo[0] == 0);
}
