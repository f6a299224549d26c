/* Threads inside one worker: the channels-last convolutions, batch norms and
 * whole executors shared by a team of 2 or 3 threads give the same bits as
 * one thread (memcmp, not a tolerance), and the teams' workspaces stay inside
 * their planned size. Also the pool's range split. */
#include "test.h"
#include "gradcheck.h"

#include "model/models.h"
#include "ops/nhwc.h"
#include "util/mem.h"
#include "util/pool.h"

#include <stdlib.h>
#include <string.h>

static float *vec(int64_t n, uint64_t seed)
{
    float *p = bb_alloc((size_t)(n + 1) * 4);
    gc_fill(p, n, seed, 1.0f);
    return p;
}

static float *copy_of(const float *src, int64_t n)
{
    float *p = bb_alloc((size_t)(n + 1) * 4);
    memcpy(p, src, (size_t)n * 4);
    return p;
}

#define CANARY 16

static float *workspace(size_t floats)
{
    float *ws = bb_alloc((floats + CANARY) * 4);
    for (int i = 0; i < CANARY; i++) ws[floats + (size_t)i] = 12345.0f;
    return ws;
}

static int canary_intact(const float *ws, size_t floats)
{
    for (int i = 0; i < CANARY; i++)
        if (ws[floats + (size_t)i] != 12345.0f) return 0;
    return 1;
}

static void range_mark(void *arg, int64_t lo, int64_t hi, int t)
{
    int *hits = arg;
    for (int64_t i = lo; i < hi; i++) hits[i] += 1 + (lo % 8 != 0) * 100;  /* 100: a boundary off the alignment */
}

TEST(team_range_split_covers_each_index_once)
{
    bb_pool *p = NULL;
    CHECK_OK(bb_pool_create(&p, 3));
    int hits[203];
    for (int64_t n = 0; n <= 203; n += 29) {
        memset(hits, 0, sizeof hits);
        bb_pool_for(p, n, 8, range_mark, hits);
        for (int64_t i = 0; i < n; i++) CHECK_MSG(hits[i] == 1, "n %lld: index %lld hit %d", (long long)n, (long long)i, hits[i]);
    }
    bb_pool_destroy(p);
}

/* one convolution: forward, backward (dw and dx adding into what they held,
 * dx set), on teams of 1, 2 and 3 threads; every result must equal team 1's */
static int conv_team_case(int64_t n, int64_t cin, int64_t h, int64_t w, int64_t cout, int64_t k, int64_t stride,
                          int64_t pad, bb_uk_variant v)
{
    bb_conv2d d;
    bb_conv2d_setup(&d, cin, h, w, cout, k, k, stride, pad);
    int64_t xl = n * cin * h * w, yl = n * cout * d.oh * d.ow, wl = cout * cin * k * k;
    float *x = vec(xl, 1), *wt = vec(wl, 2), *dy = vec(yl, 3), *dx0 = vec(xl, 4), *dw0 = vec(wl, 5);
    float *ref[4] = {NULL}, *got[4] = {NULL};
    int64_t lens[4] = {yl, xl, wl, xl};
    int same = 1;
    bb_pool *team = NULL;
    for (int threads = 1; threads <= 3 && same; threads++) {
        if (threads > 1) CHECK_OK(bb_pool_create(&team, threads));
        size_t wsl = bb_conv2d_nhwc_workspace_team(&d, n, threads);
        float *ws = workspace(wsl);
        float **out = threads == 1 ? ref : got;
        out[0] = bb_alloc((size_t)yl * 4);
        out[1] = copy_of(dx0, xl);
        out[2] = copy_of(dw0, wl);
        out[3] = copy_of(dx0, xl);
        bb_conv2d_nhwc_forward_team(&d, v, n, x, NULL, wt, out[0], NULL, ws, team);
        bb_conv2d_nhwc_backward_team(&d, v, n, x, NULL, wt, dy, out[1], 0, out[2], NULL, NULL, ws, team);
        bb_conv2d_nhwc_backward_team(&d, v, n, x, NULL, wt, dy, out[3], 1, NULL, NULL, NULL, ws, team);
        CHECK_MSG(canary_intact(ws, wsl), "%lld threads: the workspace overflows", (long long)threads);
        if (threads > 1)
            for (int i = 0; i < 4; i++) {
                if (memcmp(ref[i], got[i], (size_t)lens[i] * 4) == 0) continue;
                static const char *what[4] = {"y", "dx (add)", "dw", "dx (set)"};
                fprintf(stderr, "  %lldx%lldx%lld -> %lld, k %lld, stride %lld, pad %lld, n %lld: %s on %d threads differs\n",
                        (long long)cin, (long long)h, (long long)w, (long long)cout, (long long)k, (long long)stride,
                        (long long)pad, (long long)n, what[i], threads);
                same = 0;
            }
        for (int i = 0; threads > 1 && i < 4; i++) { bb_free(got[i]); got[i] = NULL; }
        bb_free(ws);
        bb_pool_destroy(team);
        team = NULL;
    }
    for (int i = 0; i < 4; i++) bb_free(ref[i]);
    bb_free(x); bb_free(wt); bb_free(dy); bb_free(dx0); bb_free(dw0);
    return same;
}

TEST(team_conv_equals_one_thread_bit_for_bit)
{
    static const int64_t cases[][8] = {
        /* n, cin, h, w, cout, k, stride, pad */
        {6, 16, 28, 28, 16, 3, 1, 1},  /* ResNet-20 stage 1: row bands, the weight gradient in two parts */
        {7, 64, 7, 7, 64, 3, 1, 1},    /* stage 3: whole-image blocks, K blocked */
        {90, 8, 7, 7, 8, 3, 1, 1},     /* the weight gradient's two parts split a block of backward-data */
        {3, 16, 14, 13, 32, 3, 2, 1},  /* down-sampling: scatter by images */
        {1, 16, 9, 9, 32, 3, 2, 1},    /* one image for three threads */
        {3, 1, 11, 9, 16, 3, 1, 1},    /* the stem: 9 weight-gradient rows */
        {2, 3, 13, 12, 5, 7, 2, 3},    /* 7x7/2, cout not a multiple of 8 */
        {3, 12, 6, 5, 20, 1, 1, 0},    /* pointwise: read in place */
        {2, 40, 6, 6, 40, 3, 1, 1},    /* 16 + 16 + 8 column blocks */
        {2, 24, 6, 6, 520, 1, 2, 0},   /* 1x1/2 to 520 channels: weight panels, dy copied per thread */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (int v = 0; v < BB_UK_NVARIANTS; v++) {
            if (!bb_uk_supported((bb_uk_variant)v)) continue;  /* test_fast_ops says which it skips */
            const int64_t *c = cases[i];
            CHECK_MSG(conv_team_case(c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], (bb_uk_variant)v),
                      "case %zu, variant %d", i, v);
        }
}

/* batch norm train, backward (add and set) and eval on teams of 1, 2, 3 */
static int bn_team_case(int64_t n, int64_t c, int64_t hw, int relu)
{
    bb_bn d = {c, hw, 1e-5f};
    int64_t len = n * c * hw;
    float *x = vec(len, 7), *dy = vec(len, 8), *dx0 = vec(len, 9), *g = vec(c, 10), *b = vec(c, 11);
    float *rm = vec(c, 12), *rv = bb_alloc((size_t)c * 4), *st0 = vec(2 * c, 13);
    for (int64_t i = 0; i < len; i++) x[i] = 2.0f + 3.0f * x[i];
    for (int64_t i = 0; i < c; i++) rv[i] = 0.5f + 0.01f * (float)i;
    size_t wsl = bb_bn_nhwc_workspace(&d, n);
    /* per team: y, dx (add), dx (set), eval y, then save, stats, dgamma, dbeta (small) */
    float *out[3][8];
    int same = 1;
    for (int threads = 1; threads <= 3; threads++) {
        bb_pool *team = NULL;
        if (threads > 1) CHECK_OK(bb_pool_create(&team, threads));
        float **o = out[threads - 1], *ws = workspace(wsl);
        o[0] = bb_alloc((size_t)len * 4);
        o[1] = copy_of(dx0, len);
        o[2] = copy_of(dx0, len);
        o[3] = bb_alloc((size_t)len * 4);
        o[4] = bb_alloc((size_t)c * 8);
        o[5] = copy_of(st0, 2 * c);  /* stats add into what they held */
        o[6] = copy_of(g, c);
        o[7] = copy_of(b, c);
        bb_bn_nhwc_forward_train(&d, n, x, g, b, NULL, o[0], o[4], o[5], relu, NULL, ws, team);
        bb_bn_nhwc_backward(&d, n, x, g, o[4], b, NULL, dy, o[1], 0, o[6], o[7], relu, NULL, NULL, ws, team);
        bb_bn_nhwc_backward(&d, n, x, g, o[4], b, NULL, dy, o[2], 1, o[6], o[7], relu, NULL, NULL, ws, team);
        bb_bn_nhwc_forward_eval(&d, n, x, g, b, rm, rv, NULL, o[3], relu, team);
        CHECK_MSG(canary_intact(ws, wsl), "%d threads: the workspace overflows", threads);
        bb_free(ws);
        bb_pool_destroy(team);
        if (threads == 1) continue;
        int64_t lens[8] = {len, len, len, len, 2 * c, 2 * c, c, c};
        for (int i = 0; i < 8; i++)
            if (memcmp(out[0][i], o[i], (size_t)lens[i] * 4) != 0) {
                fprintf(stderr, "  bn n %lld c %lld hw %lld relu %d: output %d on %d threads differs\n", (long long)n,
                        (long long)c, (long long)hw, relu, i, threads);
                same = 0;
            }
    }
    for (int t = 0; t < 3; t++)
        for (int i = 0; i < 8; i++) bb_free(out[t][i]);
    bb_free(x); bb_free(dy); bb_free(dx0); bb_free(g); bb_free(b); bb_free(rm); bb_free(rv); bb_free(st0);
    return same;
}

TEST(team_batchnorm_equals_one_thread_bit_for_bit)
{
    /* rows: fewer than one chunk, a few chunks, the most chunks; channels: 8,
     * 16-blocks and a last 8, generic (not a multiple of 8) */
    static const int64_t cases[][3] = {{2, 16, 9}, {5, 24, 49}, {32, 16, 100}, {3, 64, 1000}, {4, 12, 30}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (int relu = 0; relu < 2; relu++)
            CHECK_MSG(bn_team_case(cases[i][0], cases[i][1], cases[i][2], relu), "case %zu relu %d", i, relu);
}

/* a whole executor: forward (train), backward with the input gradient, then
 * forward (eval), on teams of 1, 2 and 3 threads */
static void run_exec(const bb_net *net, int threads, int64_t n, const float *params, const float *state,
                     const float *x, float *out, int64_t *len)
{
    bb_exec ex;
    CHECK_OK(bb_exec_create_threads(&ex, net, n, BB_KERNELS_FAST, threads));
    int64_t classes = net->tensors[net->output].c, in_len = n * net->tensors[0].c * net->tensors[0].h * net->tensors[0].w;
    ex.want_input_grad = 1;
    memcpy(bb_exec_input(&ex), x, (size_t)in_len * 4);
    for (int64_t s = 0; s < n; s++) ex.labels[s] = (int32_t)(s % classes);
    float *o = out;
    memset(o, 0, (size_t)(net->stat_count + net->param_count) * 4);
    bb_net_forward(net, &ex, n, params, state, 1, o);
    o += net->stat_count;
    bb_xent_forward(n, classes, bb_exec_logits(&ex), ex.labels, (double)n, 0.0f, bb_exec_dlogits(&ex), NULL, NULL);
    bb_net_backward(net, &ex, n, params, o, NULL, NULL);
    o += net->param_count;
    memcpy(o, ex.grad[net->input], (size_t)in_len * 4);
    o += in_len;
    bb_net_forward(net, &ex, n, params, state, 0, NULL);
    memcpy(o, bb_exec_logits(&ex), (size_t)(n * classes) * 4);
    o += n * classes;
    *len = o - out;
    bb_exec_destroy(&ex);
}

static void exec_team_case(const char *model, int64_t c, int64_t h, int64_t width, int64_t n)
{
    bb_model_spec spec = {.c = c, .h = h, .w = h, .classes = 7, .shortcut = 'A', .width = width};
    snprintf(spec.name, sizeof spec.name, "%s", model);
    bb_net net;
    CHECK_OK(bb_model_build(&net, &spec));
    if (!net.finalized) return;
    int64_t in_len = n * c * h * h, cap = net.stat_count + net.param_count + in_len + n * 7;
    float *params = bb_alloc((size_t)net.param_count * 4), *state = bb_alloc((size_t)net.state_count * 4 + 4);
    float *x = vec(in_len, 21), *ref = bb_alloc((size_t)cap * 4), *got = bb_alloc((size_t)cap * 4);
    bb_net_init_params(&net, 9, 0, params, state);
    for (int64_t i = 0; i < net.state_count; i++) state[i] = 0.5f + 0.01f * (float)(i % 13);
    int64_t lr = 0, lg = 0;
    run_exec(&net, 1, n, params, state, x, ref, &lr);
    for (int threads = 2; threads <= 3; threads++) {
        run_exec(&net, threads, n, params, state, x, got, &lg);
        CHECK(lr == lg && lr == cap);
        CHECK_MSG(memcmp(ref, got, (size_t)cap * 4) == 0, "%s width %lld n %lld: %d threads differ from 1", model,
                  (long long)width, (long long)n, threads);
    }
    bb_free(params); bb_free(state); bb_free(x); bb_free(ref); bb_free(got);
    bb_net_free(&net);
}

TEST(team_executor_equals_one_thread_bit_for_bit)
{
    exec_team_case("resnet20", 1, 28, 16, 6);   /* the benchmark network, a small batch */
    exec_team_case("resnet8", 3, 12, 8, 5);     /* three input channels: layout copies */
    exec_team_case("resnet18", 3, 32, 8, 2);    /* ImageNet stem: 7x7/2 conv, max pool */
}
