/* Golden test: bigbatch's forward, loss, backward and BN running statistics
 * against PyTorch's on four small ResNets (CIFAR style with option-A and
 * option-B shortcuts, ImageNet style with basic blocks and with bottlenecks).
 * The numbers come from tests/fixtures/make_golden.py (PyTorch in float64);
 * each tensor must agree to a relative error ||a - b|| / ||b|| <= 1e-4. */
#include "test.h"
#include "fixture.h"

#include "model/models.h"
#include "util/mem.h"
#include "util/safetensors.h"

#include <stdlib.h>
#include <string.h>

#define GOLDEN_TOL 1e-4

static const char *meta(const bb_st_file *f, const char *tag, const char *key)
{
    char k[128];
    snprintf(k, sizeof k, "%s.%s", tag, key);
    const char *v = bb_st_meta(f, k);
    return v ? v : "";
}

static void golden_case(const bb_st_file *f, const char *tag)
{
    bb_model_spec spec = {0};
    snprintf(spec.name, sizeof spec.name, "%s", meta(f, tag, "model"));
    long long c = 0, h = 0, w = 0;
    CHECK(sscanf(meta(f, tag, "input"), "%lldx%lldx%lld", &c, &h, &w) == 3);
    spec.c = c; spec.h = h; spec.w = w;
    spec.classes = atoll(meta(f, tag, "classes"));
    spec.width = atoll(meta(f, tag, "width"));
    spec.shortcut = meta(f, tag, "shortcut")[0];
    int64_t n = atoll(meta(f, tag, "n"));
    double norm = atof(meta(f, tag, "norm"));
    bb_net net;
    bb_exec ex;
    CHECK_OK(bb_model_build(&net, &spec));
    CHECK_OK(bb_exec_create(&ex, &net, n));
    float *params = bb_alloc((size_t)net.param_count * 4), *grad = bb_alloc((size_t)net.param_count * 4);
    float *state = bb_alloc((size_t)net.state_count * 4 + 4), *stats = bb_alloc((size_t)net.stat_count * 4 + 4);
    char name[160];
    for (int i = 0; i < net.nparams; i++) {
        snprintf(name, sizeof name, "%s/param/%s", tag, net.params[i].name);
        CHECK_OK(bb_st_get_f32(f, name, params + net.params[i].offset, net.params[i].count));
    }
    bb_net_init_params(&net, 0, 0, grad, state);  /* running mean 0, var 1, as in PyTorch */
    memset(grad, 0, (size_t)net.param_count * 4);
    CHECK_OK(bb_st_get_f32(f, (snprintf(name, sizeof name, "%s/input", tag), name), bb_exec_input(&ex), n * c * h * w));
    CHECK_OK(bb_st_get_i32(f, (snprintf(name, sizeof name, "%s/labels", tag), name), ex.labels, n));

    bb_net_forward(&net, &ex, n, params, state, 1, stats);
    float *want = bb_alloc((size_t)(n * spec.classes) * 4 + 4);
    CHECK_OK(bb_st_get_f32(f, (snprintf(name, sizeof name, "%s/logits", tag), name), want, n * spec.classes));
    double e = fx_rel_l2(bb_exec_logits(&ex), want, n * spec.classes);
    CHECK_MSG(e <= GOLDEN_TOL, "%s logits: relative error %.3g", tag, e);
    float loss_want = 0;
    CHECK_OK(bb_st_get_f32(f, (snprintf(name, sizeof name, "%s/loss", tag), name), &loss_want, 1));
    double loss = bb_xent_forward(n, spec.classes, bb_exec_logits(&ex), ex.labels, norm, 0.0f,
                                  bb_exec_dlogits(&ex), NULL, NULL) / norm;
    CHECK_MSG(fabs(loss - loss_want) <= GOLDEN_TOL * fabs(loss_want), "%s loss %.7g vs %.7g", tag, loss, loss_want);
    bb_net_backward(&net, &ex, n, params, grad, NULL, NULL);
    double worst = 0;
    for (int i = 0; i < net.nparams; i++) {
        const bb_param *p = &net.params[i];
        float *g = bb_alloc((size_t)p->count * 4);
        snprintf(name, sizeof name, "%s/grad/%s", tag, p->name);
        CHECK_OK(bb_st_get_f32(f, name, g, p->count));
        e = fx_rel_l2(grad + p->offset, g, p->count);
        CHECK_MSG(e <= GOLDEN_TOL, "%s gradient %s: relative error %.3g", tag, p->name, e);
        if (e > worst) worst = e;
        bb_free(g);
    }
    /* running statistics after one step of one worker (count 1) */
    for (int i = 0; i < net.nlayers; i++) {
        const bb_layer *l = &net.layers[i];
        if (l->kind != BB_L_BN) continue;
        int64_t C = l->op.bn.c;
        bb_bn_update_running(C, 0.9f, stats + l->stat_off, 1.0, state + l->run_off, state + l->run_off + C);
        float *rm = bb_alloc((size_t)C * 4), *rv = bb_alloc((size_t)C * 4);
        CHECK_OK(bb_st_get_f32(f, (snprintf(name, sizeof name, "%s/state/%s.running_mean", tag, l->name), name), rm, C));
        CHECK_OK(bb_st_get_f32(f, (snprintf(name, sizeof name, "%s/state/%s.running_var", tag, l->name), name), rv, C));
        e = fmax(fx_rel_l2(state + l->run_off, rm, C), fx_rel_l2(state + l->run_off + C, rv, C));
        CHECK_MSG(e <= GOLDEN_TOL, "%s running statistics of %s: relative error %.3g", tag, l->name, e);
        bb_free(rm); bb_free(rv);
    }
    if (getenv("BB_TEST_VERBOSE")) fprintf(stderr, "  %s: worst gradient error %.3g\n", tag, worst);
    bb_free(want); bb_free(params); bb_free(grad); bb_free(state); bb_free(stats);
    bb_exec_destroy(&ex);
    bb_net_free(&net);
}

TEST(golden_against_pytorch)
{
    bb_st_file f;
    CHECK_OK(bb_st_read(&f, "tests/fixtures/golden.safetensors"));
    if (bb_test_failed) return;
    char cases[256];
    snprintf(cases, sizeof cases, "%s", bb_st_meta(&f, "cases") ? bb_st_meta(&f, "cases") : "");
    int count = 0;
    for (char *tag = strtok(cases, ","); tag; tag = strtok(NULL, ","), count++) golden_case(&f, tag);
    CHECK(count == 4);
    bb_st_close(&f);
}
