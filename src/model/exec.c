/* Executor buffers for one logical worker's batch (the passes are in
 * exec_pass.c). All memory is sized once in bb_exec_create; the passes never
 * allocate. */
#include "model/exec_internal.h"
#include "ops/nhwc.h"
#include "util/pool.h"

#include <stdlib.h>
#include <string.h>

/* the --kernels names and the register kernel each needs the CPU to run */
static const struct { const char *name; bb_kernels k; bb_uk_variant needs; } kernel_names[] = {
    {"fast", BB_KERNELS_FAST, BB_UK_PORTABLE},       {"avx512", BB_KERNELS_AVX512, BB_UK_AVX512},
    {"avx2", BB_KERNELS_AVX2, BB_UK_AVX2},           {"portable", BB_KERNELS_PORTABLE, BB_UK_PORTABLE},
    {"reference", BB_KERNELS_REFERENCE, BB_UK_PORTABLE},
};

bb_status bb_kernels_from_name(const char *name, bb_kernels *k)
{
    for (size_t i = 0; i < sizeof kernel_names / sizeof kernel_names[0]; i++) {
        if (strcmp(name, kernel_names[i].name) != 0) continue;
        bb_uk_variant v = kernel_names[i].needs;
        if (!bb_uk_supported(v))
            return bb_fail(BB_ERR_INVALID, "--kernels %s: this build or CPU cannot run the %s kernels (the best it "
                           "runs is %s)", name, bb_uk_name(v), bb_uk_name(bb_uk_best()));
        *k = kernel_names[i].k;
        return BB_OK;
    }
    return bb_fail(BB_ERR_INVALID, "--kernels: unknown kernel set '%s' (expected fast, avx512, avx2, portable or "
                   "reference)", name);
}

const char *bb_kernels_running(bb_kernels k)
{
    return k == BB_KERNELS_REFERENCE ? "reference" : bb_uk_name(bb_exec_variant(k));
}

bb_uk_variant bb_exec_variant(bb_kernels k)
{
    return k == BB_KERNELS_AVX512 ? BB_UK_AVX512 : k == BB_KERNELS_AVX2 ? BB_UK_AVX2
         : k == BB_KERNELS_PORTABLE ? BB_UK_PORTABLE : k == BB_KERNELS_AVX512_EMULATED ? BB_UK_AVX512_EMULATED
         : bb_uk_best();
}

bb_status bb_exec_create(bb_exec *ex, const bb_net *net, int64_t n_max)
{
    return bb_exec_create_with(ex, net, n_max, BB_KERNELS_FAST);
}

bb_status bb_exec_create_with(bb_exec *ex, const bb_net *net, int64_t n_max, bb_kernels kernels)
{
    return bb_exec_create_threads(ex, net, n_max, kernels, 1);
}

bb_status bb_exec_create_threads(bb_exec *ex, const bb_net *net, int64_t n_max, bb_kernels kernels, int threads)
{
    memset(ex, 0, sizeof *ex);
    if (threads < 1) return bb_fail(BB_ERR_INVALID, "executor: threads must be >= 1, got %d", threads);
    if (!net->finalized) return bb_fail(BB_ERR_INVALID, "executor: network is not finalized");
    if (n_max < 1) return bb_fail(BB_ERR_INVALID, "executor: batch must be >= 1, got %lld", (long long)n_max);
    if (kernels < BB_KERNELS_FAST || kernels > BB_KERNELS_AVX512_EMULATED)
        return bb_fail(BB_ERR_INVALID, "executor: unknown kernel set %d", (int)kernels);
    if (kernels != BB_KERNELS_REFERENCE && !bb_uk_supported(bb_exec_variant(kernels)))
        return bb_fail(BB_ERR_INVALID, "executor: this CPU cannot run the %s kernels",
                       bb_uk_name(bb_exec_variant(kernels)));
    /* callers read and write the output as (n, c, h, w); the channels-last
     * passes keep it (n, h, w, c), the same only for a (n, c) output */
    const bb_dims *od = &net->tensors[net->output];
    if (od->c > 1 && od->h * od->w > 1) kernels = BB_KERNELS_REFERENCE;
    ex->net = net;
    ex->n_max = n_max;
    ex->kernels = kernels;
    int cl = kernels != BB_KERNELS_REFERENCE;
    if (cl) bb_nhwc_set_kernels(bb_exec_variant(kernels));  /* the element-wise operators' vectors */
    if (!cl) threads = 1;
    int T = net->ntensors;
    int64_t *act_off = malloc((size_t)T * sizeof *act_off), *grad_off = malloc((size_t)T * sizeof *grad_off);
    int64_t total = 0;
    ex->plan = calloc(1, sizeof *ex->plan);
    if (!act_off || !grad_off || !ex->plan || bb_plan_build(ex->plan, net, cl ? BB_FUSE_CPU : 0) != BB_OK ||
        bb_exec_plan(net, ex->plan, n_max, cl, act_off, grad_off, &total) != BB_OK) {
        free(act_off);
        free(grad_off);
        bb_exec_destroy(ex);
        return bb_fail(BB_ERR_NOMEM, "executor: out of memory");
    }
    size_t ws = 0, coef = 16, sums = 2, later = 16;
    for (int i = 0; i < net->nlayers; i++)
        if (net->layers[i].kind == BB_L_CONV) {
            const bb_conv2d *c = &net->layers[i].op.conv;
            size_t w = cl ? bb_conv2d_nhwc_workspace_team(c, n_max, threads) : bb_conv2d_workspace(c);
            if (w > ws) ws = w;
        } else if (cl && net->layers[i].kind == BB_L_BN) {
            size_t w = bb_bn_nhwc_workspace(&net->layers[i].op.bn, n_max);
            if (w > ws) ws = w;
            if (4 * (size_t)net->layers[i].op.bn.c > coef) coef = 4 * (size_t)net->layers[i].op.bn.c;
            size_t s = bb_bn_nhwc_sums_len(&net->layers[i].op.bn, n_max), lt = bb_bn_nhwc_later_len(&net->layers[i].op.bn);
            if (s > sums) sums = s;
            if (lt > later) later = lt;
        }
    if (cl && bb_exec_nhwc_workspace(net, n_max) > ws) ws = bb_exec_nhwc_workspace(net, n_max);
    const bb_dims *in = &net->tensors[net->input];
    size_t in_len = (size_t)(n_max * bb_tensor_len(net, net->input));
    ex->act = calloc((size_t)T, sizeof *ex->act);
    ex->grad = calloc((size_t)T, sizeof *ex->grad);
    ex->arena = bb_alloc((size_t)total * sizeof(float));
    ex->save = bb_alloc((size_t)(net->save_fixed + n_max * net->save_per_sample) + 64);
    ex->ws = bb_alloc(ws * sizeof(float) + 64);
    ex->labels = bb_alloc((size_t)n_max * sizeof(int32_t));
    ex->coef = bb_alloc(coef * sizeof(float));
    ex->sums = bb_alloc(sums * sizeof(double));
    ex->later = bb_alloc(later * sizeof(float));
    ex->sums_op = -1;
    int bad = !ex->act || !ex->grad || !ex->arena || !ex->save || !ex->ws || !ex->labels || !ex->coef || !ex->sums ||
              !ex->later;
    if (!bad && cl && in->c > 1 && in->h * in->w > 1) {
        ex->in_cl = bb_alloc(in_len * sizeof(float));
        ex->din_cl = bb_alloc(in_len * sizeof(float));
        bad = !ex->in_cl || !ex->din_cl;
    }
    if (bad) {
        free(act_off);
        free(grad_off);
        bb_exec_destroy(ex);
        return bb_fail(BB_ERR_NOMEM, "executor: cannot allocate %.1f MiB of activations for batch %lld",
                       (double)total * 4 / 1048576.0, (long long)n_max);
    }
    if (threads > 1) {
        bb_status s = bb_pool_create(&ex->team, threads);
        if (s != BB_OK) {
            free(act_off);
            free(grad_off);
            bb_exec_destroy(ex);
            return s;
        }
    }
    for (int t = 0; t < T; t++) {
        ex->act[t] = act_off[t] < 0 ? NULL : ex->arena + act_off[t];
        ex->grad[t] = grad_off[t] < 0 ? NULL : ex->arena + grad_off[t];
    }
    free(act_off);
    free(grad_off);
    return BB_OK;
}

void bb_exec_destroy(bb_exec *ex)
{
    bb_pool_destroy(ex->team);
    free(ex->act);
    free(ex->grad);
    if (ex->plan) bb_plan_free(ex->plan);
    free(ex->plan);
    bb_free(ex->arena);
    bb_free(ex->save);
    bb_free(ex->ws);
    bb_free(ex->labels);
    bb_free(ex->coef);
    bb_free(ex->sums);
    bb_free(ex->later);
    bb_free(ex->in_cl);
    bb_free(ex->din_cl);
    memset(ex, 0, sizeof *ex);
}
