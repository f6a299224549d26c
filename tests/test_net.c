/* Whole-network checks: gradient of the loss w.r.t. input and parameters by
 * finite differences, model parameter counts against published figures, the
 * zero-gamma and weight-decay tags, the plan every engine runs. */
#include "test.h"
#include "gradcheck.h"

#include "model/models.h"
#include "model/plan.h"
#include "util/mem.h"
#include "util/rng.h"

#include <stdlib.h>
#include <string.h>

/* Conditioning of the checked networks: BN beta around +2 keeps most ReLU
 * inputs away from the kink at zero; the last BN of each block starts with gamma
 * around 0.2 (as the recipe's zero-gamma init leaves it early in training). */
static const float BETA = 2.0f, LASTG = 0.2f;
typedef struct {
    bb_net net;
    bb_exec ex;
    int64_t n;
    float *params, *state, *x;
} netcase;

static double net_loss(void *ctx)
{
    netcase *c = ctx;
    memcpy(bb_exec_input(&c->ex), c->x, (size_t)(c->n * c->net.tensors[0].c * c->net.tensors[0].h *
                                                 c->net.tensors[0].w) * 4);
    bb_net_forward(&c->net, &c->ex, c->n, c->params, c->state, 1, NULL);
    return bb_xent_forward(c->n, c->net.tensors[c->net.output].c, bb_exec_logits(&c->ex), c->ex.labels,
                           (double)c->n, 0.0f, NULL, NULL, NULL) / (double)c->n;
}

static void net_check(const char *model, int64_t c, int64_t h, int64_t w, char sc, int64_t width)
{
    netcase k = {.n = 4};
    bb_model_spec spec = {.c = c, .h = h, .w = w, .classes = 3, .shortcut = sc, .width = width};
    snprintf(spec.name, sizeof spec.name, "%s", model);
    CHECK_OK(bb_model_build(&k.net, &spec));
    CHECK_OK(bb_exec_create(&k.ex, &k.net, k.n));
    int64_t in_len = k.n * c * h * w;
    k.params = bb_alloc((size_t)k.net.param_count * 4);
    k.state = bb_alloc((size_t)k.net.state_count * 4 + 4);
    k.x = bb_alloc((size_t)(in_len + 1) * 4);
    float *grad = bb_alloc((size_t)k.net.param_count * 4);
    bb_net_init_params(&k.net, 7, 0, k.params, k.state);
    /* non-trivial BN affine parameters so every path carries gradient */
    bb_rng r = bb_rng_make(3, BB_RNG_TEST, 0, 0);
    for (int i = 0; i < k.net.nparams; i++) {
        bb_param *p = &k.net.params[i];
        float last = k.net.layers[p->layer].last_bn ? LASTG : 1.0f;
        if (p->kind == BB_PARAM_BN_GAMMA || p->kind == BB_PARAM_BN_BETA || p->kind == BB_PARAM_BIAS)
            for (int64_t j = 0; j < p->count; j++)
                k.params[p->offset + j] = p->kind == BB_PARAM_BN_GAMMA ? last * (1.0f + 0.3f * (float)bb_rng_normal(&r))
                                                                       : BETA + 0.3f * (float)bb_rng_normal(&r);
        if (p->kind == BB_PARAM_WEIGHT && p->ndim == 2)  /* a larger fc so the loss is not flat */
            for (int64_t j = 0; j < p->count; j++) k.params[p->offset + j] *= 30.0f;
    }
    gc_fill(k.x, in_len, 8, 1.0f);
    for (int64_t s = 0; s < k.n; s++) k.ex.labels[s] = (int32_t)(s % 3);

    k.ex.want_input_grad = 1;
    net_loss(&k);
    bb_xent_forward(k.n, 3, bb_exec_logits(&k.ex), k.ex.labels, (double)k.n, 0.0f, bb_exec_dlogits(&k.ex), NULL, NULL);
    bb_net_backward(&k.net, &k.ex, k.n, k.params, grad, NULL, NULL);
    /* all parameters (sampled), then the stem layer, whose gradient has passed
     * through every layer; at most 5% of coordinates may sit on a kink */
    gc_result ep = gradcheck_full(k.params, k.net.param_count, grad, net_loss, &k, 400, 11, GRADCHECK_STEP_NET);
    CHECK_MSG(ep.worst < GRADCHECK_TOL, "%s parameter gradient error %.3g", model, ep.worst);
    CHECK_MSG(ep.kinks * 20 <= ep.checked, "%s: %lld of %lld coordinates on kinks", model, (long long)ep.kinks, (long long)ep.checked);
    const bb_param *stem = &k.net.params[0];
    gc_result es = gradcheck_full(k.params + stem->offset, stem->count, grad + stem->offset, net_loss, &k, 200, 12, GRADCHECK_STEP_NET);
    CHECK_MSG(es.worst < GRADCHECK_TOL, "%s stem gradient error %.3g", model, es.worst);
    CHECK_MSG(es.kinks * 20 <= es.checked, "%s: %lld of %lld stem coordinates on kinks", model, (long long)es.kinks, (long long)es.checked);
    float *dx = bb_alloc((size_t)(in_len + 1) * 4);
    memcpy(dx, k.ex.grad[k.net.input], (size_t)in_len * 4);
    gc_result ei = gradcheck_full(k.x, in_len, dx, net_loss, &k, 200, 13, GRADCHECK_STEP_NET);
    CHECK_MSG(ei.worst < GRADCHECK_TOL, "%s input gradient error %.3g", model, ei.worst);
    CHECK_MSG(ei.kinks * 20 <= ei.checked, "%s: %lld of %lld input coordinates on kinks", model, (long long)ei.kinks, (long long)ei.checked);
    bb_free(dx);
    if (getenv("BB_TEST_VERBOSE"))
        fprintf(stderr, "  %s: input %.3g (%lld kinks), params %.3g (%lld kinks of %lld), stem %.3g (%lld kinks of %lld)\n", model, ei.worst, (long long)ei.kinks, ep.worst,
                (long long)ep.kinks, (long long)ep.checked, es.worst, (long long)es.kinks, (long long)es.checked);
    bb_free(k.params); bb_free(k.state); bb_free(k.x); bb_free(grad);
    bb_exec_destroy(&k.ex);
    bb_net_free(&k.net);
}

TEST(resnet_gradients_cifar_option_a)   { net_check("resnet8", 2, 8, 8, 'A', 3); }
TEST(resnet_gradients_cifar_option_b)   { net_check("resnet8", 2, 8, 8, 'B', 3); }
/* The ImageNet-style networks are checked against float64 PyTorch in
 * test_golden.c instead: every stem weight moves every 3x3 max-pool window, so
 * some window switches its argmax under any float32 step and a finite
 * difference over the whole network is never clean. Their ops (7x7/2 stem,
 * max pool, 1x1 projections, bottleneck shapes) are each checked above. */
TEST(mlp_gradients)                     { net_check("mlp", 1, 5, 5, 0, 8); }

static int64_t count_params(const char *model, int64_t c, int64_t h, int64_t w, int64_t classes, int64_t *macs)
{
    bb_model_spec spec = {.c = c, .h = h, .w = w, .classes = classes};
    snprintf(spec.name, sizeof spec.name, "%s", model);
    bb_net net;
    if (bb_model_build(&net, &spec) != BB_OK) return -1;
    int64_t n = net.param_count;
    if (macs) *macs = bb_net_macs(&net);
    bb_net_free(&net);
    return n;
}

TEST(model_sizes_match_published_counts)
{
    int64_t macs = 0;
    CHECK(count_params("resnet20", 3, 32, 32, 10, &macs) == 269722);  /* He et al. 2016: 0.27M */
    CHECK(macs == 40551040);
    CHECK(count_params("resnet20", 1, 28, 28, 10, &macs) == 269434);
    CHECK(2 * macs == 61642496);  /* torch_resnet.py flops: 61.6 MFLOP */
    CHECK(count_params("resnet32", 3, 32, 32, 10, NULL) == 464154);
    CHECK(count_params("resnet56", 3, 32, 32, 10, NULL) == 853018);
    CHECK(count_params("resnet110", 3, 32, 32, 10, NULL) == 1727962);
    CHECK(count_params("resnet18", 3, 224, 224, 1000, &macs) == 11689512);  /* torchvision */
    CHECK(macs == 1814073344);
    CHECK(count_params("resnet34", 3, 224, 224, 1000, NULL) == 21797672);
    CHECK(count_params("resnet50", 3, 224, 224, 1000, &macs) == 25557032);
    CHECK(macs == 4089184256);  /* "about 4.1 GFLOPs (multiply-adds)" */
    CHECK(count_params("resnet101", 3, 224, 224, 1000, NULL) == 44549160);
}

TEST(model_errors_are_clear)
{
    bb_net net;
    bb_model_spec spec = {.c = 1, .h = 28, .w = 28, .classes = 10};
    snprintf(spec.name, sizeof spec.name, "resnet21");
    CHECK_FAILS(bb_model_build(&net, &spec), BB_ERR_INVALID, "unknown model 'resnet21'");
    snprintf(spec.name, sizeof spec.name, "resnet50");
    spec.c = 0;
    CHECK_FAILS(bb_model_build(&net, &spec), BB_ERR_INVALID, "every dimension must be >= 1");
    spec.c = 1;
    spec.shortcut = 'C';
    CHECK_FAILS(bb_model_build(&net, &spec), BB_ERR_INVALID, "shortcut must be A or B");
    spec.shortcut = 0;
    spec.classes = 1;
    CHECK_FAILS(bb_model_build(&net, &spec), BB_ERR_INVALID, "at least 2 classes");
}

TEST(zero_gamma_on_last_bn_of_each_block)
{
    bb_model_spec spec = {.c = 1, .h = 28, .w = 28, .classes = 10};
    snprintf(spec.name, sizeof spec.name, "resnet20");
    bb_net net;
    CHECK_OK(bb_model_build(&net, &spec));
    float *p = bb_alloc((size_t)net.param_count * 4), *s = bb_alloc((size_t)net.state_count * 4);
    bb_net_init_params(&net, 1, 1, p, s);
    int zeros = 0, ones = 0;
    for (int i = 0; i < net.nparams; i++) {
        if (net.params[i].kind != BB_PARAM_BN_GAMMA) continue;
        float g = p[net.params[i].offset];
        int last = strstr(net.params[i].name, ".bn2.") != NULL;
        CHECK_MSG(g == (last ? 0.0f : 1.0f), "%s = %g", net.params[i].name, g);
        zeros += g == 0.0f;
        ones += g == 1.0f;
    }
    CHECK(zeros == 9 && ones == 10);  /* 9 blocks; stem BN + 9 first BNs */
    bb_net_init_params(&net, 1, 0, p, s);
    for (int i = 0; i < net.nparams; i++)
        if (net.params[i].kind == BB_PARAM_BN_GAMMA) CHECK(p[net.params[i].offset] == 1.0f);
    /* He init: conv std sqrt(2 / fan_in); fc std 0.01 */
    const bb_param *w = &net.params[bb_net_find_param(&net, "layer3.2.conv1.weight")];
    double ss = 0;
    for (int64_t j = 0; j < w->count; j++) ss += (double)p[w->offset + j] * p[w->offset + j];
    CHECK_NEAR(sqrt(ss / (double)w->count), sqrt(2.0 / (64 * 9)), 0.003);
    const bb_param *fc = &net.params[bb_net_find_param(&net, "fc.weight")];
    ss = 0;
    for (int64_t j = 0; j < fc->count; j++) ss += (double)p[fc->offset + j] * p[fc->offset + j];
    CHECK_NEAR(sqrt(ss / (double)fc->count), 0.01, 0.001);
    CHECK(net.params[bb_net_find_param(&net, "fc.bias")].kind == BB_PARAM_BIAS);
    CHECK(net.params[bb_net_find_param(&net, "layer1.0.bn1.weight")].kind == BB_PARAM_BN_GAMMA);
    CHECK(net.params[bb_net_find_param(&net, "layer1.0.bn1.bias")].kind == BB_PARAM_BN_BETA);
    bb_free(p); bb_free(s);
    bb_net_free(&net);
}

/* The plan of resnet20 under each engine's fusions: every ReLU of the CPU's
 * channels-last run and of the device's is fused into the 19 BNs (9 with the
 * residual add), the reference fuses nothing; under each, every stored tensor but the input and the logits has
 * exactly one first gradient writer, and readiness only goes up. */
TEST(plan_fuses_as_each_engine_can)
{
    bb_model_spec spec = {.c = 3, .h = 32, .w = 32, .classes = 10};
    snprintf(spec.name, sizeof spec.name, "resnet20");
    bb_net net;
    CHECK_OK(bb_model_build(&net, &spec));
    /* CPU: the inner BN of each of the 9 blocks is applied by the block's second convolution */
    static const struct { unsigned fusions; int bn_relu, add_relu, bn_add, relu, deferred; } want[] = {
        {0, 0, 0, 0, 19, 0}, {BB_FUSE_CPU, 19, 0, 9, 0, 9}, {BB_FUSE_DEVICE, 19, 0, 9, 0, 0}};
    for (int k = 0; k < 3; k++) {
        bb_plan p;
        CHECK_OK(bb_plan_build(&p, &net, want[k].fusions));
        int bn_relu = 0, add_relu = 0, bn_add = 0, relu = 0, deferred = 0;
        int *writers = calloc((size_t)net.ntensors, sizeof *writers);
        for (int o = 0; o < p.nops; o++) {
            const bb_op *op = &p.ops[o];
            deferred += op->deferred;
            if (op->applies >= 0) {  /* a convolution applying the BN whose output it alone reads */
                const bb_op *bn = &p.ops[op->applies];
                CHECK(op->kind == BB_L_CONV && bn->kind == BB_L_BN && bn->deferred && bn->in[1] < 0);
                CHECK(op->in[0] == bn->out && p.applied[bn->out] && p.stored[bn->out]);
            }
            bn_relu += op->kind == BB_L_BN && op->relu;
            add_relu += op->kind == BB_L_ADD && op->relu;
            bn_add += op->kind == BB_L_BN && op->in[1] >= 0;
            relu += op->kind == BB_L_RELU;
            for (int j = 0; j < 2; j++) writers[op->in[j] >= 0 ? op->in[j] : 0] += op->first_write[j];
            if (o + 1 < p.nops) CHECK(op->ready_lo <= p.ops[o + 1].ready_lo);
        }
        CHECK_MSG(bn_relu == want[k].bn_relu && add_relu == want[k].add_relu && bn_add == want[k].bn_add &&
                  relu == want[k].relu && deferred == want[k].deferred,
                  "fusions %u: %d BN + ReLU, %d add + ReLU, %d BN + add, %d ReLU alone, %d BN applied by a conv",
                  want[k].fusions, bn_relu, add_relu, bn_add, relu, deferred);
        if (want[k].fusions == 0) CHECK(p.nops == net.nlayers);
        for (int t = 1; t < net.ntensors; t++)
            if (p.stored[t] && t != net.output) CHECK_MSG(writers[t] == 1, "tensor %d: %d first writers", t, writers[t]);
        CHECK(p.nops > 0 && p.ops[0].ready_lo == 0 && p.ops[p.nops - 1].ready_lo < net.param_count);
        free(writers);
        bb_plan_free(&p);
    }
    bb_net_free(&net);
}
