/* Batch norm alone (channels last, training forward with its ReLU, then
 * backward), ns per element, best of many calls, for the ResNet-20 layer
 * shapes at a worker batch of 32: "hot" reuses one set of tensors (they stay
 * in L1/L2), "cold" cycles through 16 sets (about 100 MB for the 28x28
 * layers, past the last-level cache), as a step's backward reads tensors its
 * forward wrote long before.
 *   build/bench_bn [calls]        (default 400) */
#include "ops/nhwc.h"
#include "util/mem.h"

#include <stdio.h>
#include <stdlib.h>

#define SETS 16

typedef struct { float *x, *y, *dy, *dx; } tensors;

/* best ns per element of the forward and the backward over `calls` calls,
 * cycling through `sets` sets of tensors */
static void time_bn(const bb_bn *d, int64_t n, const tensors *t, int sets, int calls, double *fwd, double *bwd)
{
    int64_t C = d->c, M = n * d->hw;
    float *g = bb_alloc((size_t)C * 4), *b = bb_alloc((size_t)C * 4), *save = bb_alloc((size_t)C * 8);
    float *dg = bb_alloc((size_t)C * 4), *db = bb_alloc((size_t)C * 4);
    float *ws = bb_alloc(bb_bn_nhwc_workspace(d, n) * 4);
    for (int64_t c = 0; c < C; c++) { g[c] = 1.0f; b[c] = 0.1f; dg[c] = db[c] = 0.0f; }
    *fwd = *bwd = 1e30;
    for (int i = 0; i < calls; i++) {
        const tensors *s = &t[i % sets];
        double t0 = bb_now();
        bb_bn_nhwc_forward_train(d, n, s->x, g, b, NULL, s->y, save, NULL, 1, NULL, ws, NULL);
        double t1 = bb_now();
        bb_bn_nhwc_backward(d, n, s->x, g, save, b, NULL, s->dy, s->dx, 1, dg, db, 1, NULL, NULL, ws, NULL);
        double t2 = bb_now();
        if ((t1 - t0) * 1e9 / (double)(M * C) < *fwd) *fwd = (t1 - t0) * 1e9 / (double)(M * C);
        if ((t2 - t1) * 1e9 / (double)(M * C) < *bwd) *bwd = (t2 - t1) * 1e9 / (double)(M * C);
    }
    bb_free(g); bb_free(b); bb_free(save); bb_free(dg); bb_free(db); bb_free(ws);
}

int main(int argc, char **argv)
{
    int calls = argc > 1 ? atoi(argv[1]) : 400;
    if (calls < SETS) calls = SETS;
    static const int64_t shapes[][2] = {{16, 28 * 28}, {32, 14 * 14}, {64, 7 * 7}};  /* channels, pixels per image */
    int64_t n = 32;
    printf("batch norm + ReLU, channels last, batch %lld, ns per element (best of %d calls)\n", (long long)n, calls);
    printf("%-12s %8s | %8s %8s | %8s %8s\n", "shape", "MB each", "hot fwd", "bwd", "cold fwd", "bwd");
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        bb_bn d = {shapes[k][0], shapes[k][1], 1e-5f};
        int64_t len = n * d.c * d.hw;
        tensors t[SETS];
        for (int s = 0; s < SETS; s++) {
            t[s].x = bb_alloc((size_t)len * 4);
            t[s].y = bb_alloc((size_t)len * 4);
            t[s].dy = bb_alloc((size_t)len * 4);
            t[s].dx = bb_alloc((size_t)len * 4);
            for (int64_t e = 0; e < len; e++) {
                t[s].x[e] = (float)((e * 7 + s) % 13) - 6.0f;
                t[s].dy[e] = (float)((e * 5 + s) % 11) - 5.0f;
            }
        }
        double hf, hb, cf, cb;
        time_bn(&d, n, t, 1, calls, &hf, &hb);
        time_bn(&d, n, t, SETS, calls, &cf, &cb);
        printf("%3lldx%-8lld %8.1f | %8.3f %8.3f | %8.3f %8.3f\n", (long long)d.c, (long long)d.hw,
               (double)len * 4 / 1e6, hf, hb, cf, cb);
        for (int s = 0; s < SETS; s++) { bb_free(t[s].x); bb_free(t[s].y); bb_free(t[s].dy); bb_free(t[s].dx); }
    }
    return 0;
}
