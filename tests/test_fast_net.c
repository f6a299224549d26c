/* Whole networks on the fast executors (channels last, fused BN/add + ReLU,
 * every kernel variant the CPU runs, and the AVX-512 tiles emulated) against
 * the reference executor: logits in training and evaluation mode, BN batch
 * statistics, every parameter gradient and the input gradient. Also the layer
 * profile: filled when attached, untouched when not. */
#include "test.h"
#include "fixture.h"
#include "gradcheck.h"

#include "model/exec_internal.h"
#include "model/models.h"
#include "util/mem.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    float *logits, *eval_logits, *stats, *grad, *dinput;
} net_out;

/* forward (train), loss gradient, backward, then forward (eval) */
static void run_net(const bb_net *net, bb_kernels k, int64_t n, const float *params, const float *state,
                    const float *x, const int32_t *labels, net_out *o, bb_profile *prof)
{
    bb_exec ex;
    CHECK_OK(bb_exec_create_with(&ex, net, n, k));
    int64_t classes = net->tensors[net->output].c, in_len = n * net->tensors[0].c * net->tensors[0].h * net->tensors[0].w;
    o->logits = bb_alloc((size_t)(n * classes) * 4);
    o->eval_logits = bb_alloc((size_t)(n * classes) * 4);
    o->stats = bb_alloc((size_t)net->stat_count * 4 + 4);
    o->grad = bb_alloc((size_t)net->param_count * 4);
    o->dinput = bb_alloc((size_t)in_len * 4);
    ex.want_input_grad = 1;
    ex.prof = prof;
    memcpy(bb_exec_input(&ex), x, (size_t)in_len * 4);
    memcpy(ex.labels, labels, (size_t)n * 4);
    bb_net_forward(net, &ex, n, params, state, 1, o->stats);
    memcpy(o->logits, bb_exec_logits(&ex), (size_t)(n * classes) * 4);
    bb_xent_forward(n, classes, bb_exec_logits(&ex), ex.labels, (double)n, 0.0f, bb_exec_dlogits(&ex), NULL, NULL);
    bb_net_backward(net, &ex, n, params, o->grad, NULL, NULL);
    memcpy(o->dinput, ex.grad[net->input], (size_t)in_len * 4);
    bb_net_forward(net, &ex, n, params, state, 0, NULL);
    memcpy(o->eval_logits, bb_exec_logits(&ex), (size_t)(n * classes) * 4);
    bb_exec_destroy(&ex);
}

static void free_out(net_out *o)
{
    bb_free(o->logits); bb_free(o->eval_logits); bb_free(o->stats); bb_free(o->grad); bb_free(o->dinput);
}

/* worst relative error of the fast and portable executors against the reference */
static double compare_executors(const bb_net *net, int64_t n, uint64_t seed)
{
    int64_t in_len = n * net->tensors[0].c * net->tensors[0].h * net->tensors[0].w;
    float *params = bb_alloc((size_t)net->param_count * 4), *state = bb_alloc((size_t)net->state_count * 4 + 4);
    float *x = bb_alloc((size_t)in_len * 4);
    int32_t *labels = bb_alloc((size_t)n * 4);
    bb_net_init_params(net, seed, 0, params, state);
    /* running statistics that differ from the batch's, so eval mode is checked */
    for (int64_t i = 0; i < net->state_count; i++) state[i] = 0.5f + 0.01f * (float)(i % 17);
    gc_fill(x, in_len, seed + 1, 1.0f);
    for (int64_t s = 0; s < n; s++) labels[s] = (int32_t)(s % net->tensors[net->output].c);
    net_out ref, got;
    run_net(net, BB_KERNELS_REFERENCE, n, params, state, x, labels, &ref, NULL);
    double worst = 0;
    int64_t classes = net->tensors[net->output].c;
    static const bb_kernels sets[] = {BB_KERNELS_FAST, BB_KERNELS_PORTABLE, BB_KERNELS_AVX2, BB_KERNELS_AVX512,
                                      BB_KERNELS_AVX512_EMULATED};
    for (size_t si = 0; si < sizeof sets / sizeof sets[0]; si++) {
        bb_kernels k = sets[si];
        if (!bb_uk_supported(bb_exec_variant(k))) continue;  /* test_fast_ops says which variants are skipped */
        run_net(net, (bb_kernels)k, n, params, state, x, labels, &got, NULL);
        double e[5] = {fx_rel_l2(got.logits, ref.logits, n * classes), fx_rel_l2(got.eval_logits, ref.eval_logits, n * classes),
                       fx_rel_l2(got.stats, ref.stats, net->stat_count), fx_rel_l2(got.dinput, ref.dinput, in_len), 0};
        for (int i = 0; i < net->nparams; i++) {
            const bb_param *p = &net->params[i];
            double pe = fx_rel_l2(got.grad + p->offset, ref.grad + p->offset, p->count);
            if (pe > e[4]) e[4] = pe;
            if (pe > 1e-4) fprintf(stderr, "  %s: gradient of %s differs by %.3g\n", net->model_desc, p->name, pe);
        }
        for (int i = 0; i < 5; i++) worst = fmax(worst, e[i]);
        if (getenv("BB_TEST_VERBOSE"))
            fprintf(stderr, "  %s kernels %s: logits %.2g eval %.2g stats %.2g dinput %.2g grads %.2g\n", net->model_desc,
                    bb_kernels_running(k), e[0], e[1], e[2], e[3], e[4]);
        free_out(&got);
    }
    free_out(&ref);
    bb_free(params); bb_free(state); bb_free(x); bb_free(labels);
    return worst;
}

static double model_case(const char *model, int64_t c, int64_t h, char sc, int64_t width, int64_t n)
{
    bb_model_spec spec = {.c = c, .h = h, .w = h, .classes = 5, .shortcut = sc, .width = width};
    snprintf(spec.name, sizeof spec.name, "%s", model);
    bb_net net;
    CHECK_OK(bb_model_build(&net, &spec));
    if (!net.finalized) return 1.0;
    double e = compare_executors(&net, n, 5);
    bb_net_free(&net);
    return e;
}

/* float32 through ~20 layers in another summation order; batch norm keeps
 * every layer's scale near one. The same bound as the golden test. */
#define NET_TOL 1e-4

TEST(fast_executor_matches_reference_cifar)
{
    double e1 = model_case("resnet8", 1, 12, 'A', 8, 4);   /* 8/16/32 channels: vector paths */
    double e2 = model_case("resnet8", 2, 8, 'A', 3, 3);    /* 3/6/12 channels: generic loops, masked tiles */
    double e3 = model_case("resnet8", 3, 10, 'B', 8, 2);   /* 1x1/2 projections; 3-channel input copied channels last */
    CHECK_MSG(e1 < NET_TOL, "resnet8 A width 8: %.3g", e1);
    CHECK_MSG(e2 < NET_TOL, "resnet8 A width 3: %.3g", e2);
    CHECK_MSG(e3 < NET_TOL, "resnet8 B width 8: %.3g", e3);
}

TEST(fast_executor_matches_reference_imagenet_and_mlp)
{
    double e1 = model_case("resnet18", 3, 64, 'B', 8, 4);  /* 7x7/2 stem, max pool, projections */
    double e2 = model_case("resnet50", 3, 96, 0, 4, 4);    /* bottlenecks: pointwise convs */
    double e3 = model_case("mlp", 3, 4, 0, 16, 3);         /* linear layers on a (3, 4, 4) input */
    CHECK_MSG(e1 < NET_TOL, "resnet18: %.3g", e1);
    /* 50 layers whose last batch norms see 4 x 3 x 3 values each amplify
     * rounding (measured 1e-4 for both kernel variants); a wrong kernel shows
     * as an error of order one */
    CHECK_MSG(e2 < 10 * NET_TOL, "resnet50: %.3g", e2);
    CHECK_MSG(e3 < NET_TOL, "mlp: %.3g", e3);
}

/* a linear layer straight on a multi-channel feature map flattens in (c, h, w)
 * order on every executor; a ReLU read twice (by the add and the next conv)
 * is not fused */
TEST(fast_executor_unpooled_linear_and_shared_relu)
{
    bb_net net;
    bb_net_init(&net, 2, 6, 5);
    int a = bb_net_conv(&net, "conv1", net.input, 8, 3, 1, 1);
    int r = bb_net_relu(&net, bb_net_bn(&net, "bn1", a, 0));
    int b = bb_net_bn(&net, "bn2", bb_net_conv(&net, "conv2", r, 8, 3, 1, 1), 1);
    int s = bb_net_relu(&net, bb_net_add(&net, b, r));
    int y = bb_net_linear(&net, "fc", bb_net_relu(&net, bb_net_conv(&net, "conv3", s, 4, 3, 2, 1)), 3, 1);
    CHECK_OK(bb_net_finalize(&net, y));
    double e = compare_executors(&net, 3, 9);
    CHECK_MSG(e < NET_TOL, "error %.3g", e);
    bb_net_free(&net);
}

TEST(fast_profile_times_layers_only_when_attached)
{
    bb_model_spec spec = {.c = 1, .h = 12, .w = 12, .classes = 4, .width = 8};
    snprintf(spec.name, sizeof spec.name, "resnet8");
    bb_net net;
    CHECK_OK(bb_model_build(&net, &spec));
    int64_t n = 4;
    float *params = bb_alloc((size_t)net.param_count * 4), *state = bb_alloc((size_t)net.state_count * 4);
    float *x = bb_alloc((size_t)(n * 144) * 4);
    int32_t labels[4] = {0, 1, 2, 3};
    bb_net_init_params(&net, 1, 0, params, state);
    gc_fill(x, n * 144, 3, 1.0f);
    for (int k = BB_KERNELS_FAST; k <= BB_KERNELS_REFERENCE; k += BB_KERNELS_REFERENCE) {
        bb_profile prof;
        memset(&prof, 0, sizeof prof);
        net_out o;
        run_net(&net, (bb_kernels)k, n, params, state, x, labels, &o, &prof);
        CHECK(prof.fwd[BB_L_CONV] > 0 && prof.bwd[BB_L_CONV] > 0);
        CHECK(prof.fwd[BB_L_BN] > 0 && prof.bwd[BB_L_BN] > 0);
        CHECK(prof.fwd[BB_L_LINEAR] > 0 && prof.fwd[BB_L_AVGPOOL] > 0);
        CHECK(prof.fwd[BB_L_MAXPOOL] == 0 && prof.bwd[BB_L_MAXPOOL] == 0);  /* no such layer */
        /* channels last folds every ReLU of a ResNet into its BN or add */
        if (k == BB_KERNELS_FAST) CHECK(prof.fwd[BB_L_RELU] == 0 && prof.bwd[BB_L_RELU] == 0);
        else CHECK(prof.fwd[BB_L_RELU] > 0);
        free_out(&o);
    }
    CHECK(!strcmp(bb_profile_name(BB_L_CONV), "conv") && !strcmp(bb_profile_name(BB_PROF_UPDATE), "update"));
    for (int k = 0; k < BB_PROF_N; k++) CHECK_MSG(strcmp(bb_profile_name(k), "?") != 0, "slot %d has no name", k);
    for (int k = 0; k < BB_L_N; k++) CHECK_MSG(bb_layer_kinds[k].name != NULL, "layer kind %d has no row", k);
    bb_free(params); bb_free(state); bb_free(x);
    bb_net_free(&net);
}

/* channels-last executors share gradient buffers between tensors whose
 * gradients are never live at once (the tests above prove the results are
 * unchanged); ResNet-20 needs a handful instead of one per tensor */
TEST(fast_executor_shares_gradient_memory)
{
    bb_model_spec spec = {.c = 1, .h = 28, .w = 28, .classes = 10};
    snprintf(spec.name, sizeof spec.name, "resnet20");
    bb_net net;
    CHECK_OK(bb_model_build(&net, &spec));
    bb_exec fast, ref;
    CHECK_OK(bb_exec_create_with(&fast, &net, 2, BB_KERNELS_FAST));
    CHECK_OK(bb_exec_create_with(&ref, &net, 2, BB_KERNELS_REFERENCE));
    int distinct = 0, with_grad = 0, ref_distinct = 0;
    for (int t = 0; t < net.ntensors; t++) {
        int seen = 0, ref_seen = 0;
        for (int u = 0; u < t; u++) {
            seen |= fast.grad[t] && fast.grad[u] == fast.grad[t];
            ref_seen |= ref.grad[u] == ref.grad[t];
        }
        with_grad += fast.grad[t] != NULL;
        distinct += fast.grad[t] && !seen;
        ref_distinct += !ref_seen;
    }
    CHECK(ref_distinct == net.ntensors);  /* the reference keeps one per tensor */
    CHECK_MSG(distinct <= 6 && with_grad > 30, "%d gradient buffers for %d tensors", distinct, with_grad);
    /* the ReLUs folded into BN and add leave their input tensors without memory */
    CHECK(with_grad < net.ntensors);
    /* each BN writes its input's gradient in place of its output's */
    int in_place = 0;
    for (int o = 0; o < fast.plan->nops; o++) {
        const bb_op *op = &fast.plan->ops[o];
        if (op->kind != BB_L_BN || !op->first_write[0]) continue;
        CHECK_MSG(fast.grad[op->in[0]] == fast.grad[op->out], "BN operation %d: its gradients apart", o);
        in_place++;
    }
    CHECK_MSG(in_place == 19, "%d BNs in place", in_place);
    bb_exec_destroy(&fast);
    bb_exec_destroy(&ref);
    bb_net_free(&net);
}
