/* Single-core throughput of fetch() (copy from the in-memory set + random crop
 * + flip + normalization) for Fashion-MNIST 28x28 and a synthetic 3x32x32 set,
 * in the order the sampler hands samples out. Each variant is first checked
 * against a naive pad-crop-flip-normalize reference.
 * usage: bench_data [fashion-mnist-dir] [seconds-per-row] */
#include "data/data.h"
#include "util/mem.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* naive reference: explicit zero-padded copy, window, mirror, normalize in double */
static double max_error(const bb_dataset *d, int train, uint64_t seed, int64_t epoch, int64_t index, const float *out)
{
    int64_t p = train ? d->aug.crop_pad : 0, oy = 0, ox = 0;
    int flip = 0;
    if (train) bb_augment_draw(&d->aug, seed, epoch, index, &oy, &ox, &flip);
    int64_t H = d->h + 2 * p, W = d->w + 2 * p;
    unsigned char *pad = calloc((size_t)(H * W), 1);
    double err = 0;
    for (int64_t ch = 0; ch < d->c; ch++) {
        memset(pad, 0, (size_t)(H * W));
        for (int64_t y = 0; y < d->h; y++)
            for (int64_t x = 0; x < d->w; x++)
                pad[(y + p) * W + x + p] = d->pixels[((index * d->c + ch) * d->h + y) * d->w + x];
        for (int64_t y = 0; y < d->h; y++)
            for (int64_t x = 0; x < d->w; x++) {
                double v = pad[(y + oy) * W + (flip ? d->w - 1 - x : x) + ox];
                double want = (v / 255.0 - d->aug.mean[ch]) / d->aug.std[ch];
                double e = fabs(want - out[(ch * d->h + y) * d->w + x]);
                if (e > err) err = e;
            }
    }
    free(pad);
    return err;
}

static int run(const bb_dataset *d, int train, double seconds)
{
    int64_t chw = d->c * d->h * d->w;
    float *out = bb_alloc((size_t)chw * sizeof *out);
    bb_sampler s;
    if (!out || bb_sampler_init(&s, d->n, 1, 1, 1) != BB_OK) {
        fprintf(stderr, "bench_data: %s\n", bb_last_error());
        return 1;
    }
    double worst = 0;
    for (int64_t i = 0; i < 200 && i < d->n; i++) {
        if (d->fetch(d, i, train, 1, 3, out) != BB_OK) { fprintf(stderr, "bench_data: %s\n", bb_last_error()); return 1; }
        double e = max_error(d, train, 1, 3, i, out);
        if (e > worst) worst = e;
    }
    if (worst > 1e-5) {
        fprintf(stderr, "bench_data: %s fetch differs from the reference by %g\n", d->name, worst);
        return 1;
    }
    int64_t done = 0;
    double sink = 0, t0 = bb_now(), t = t0;
    for (int64_t epoch = 0; t - t0 < seconds; epoch++) {
        bb_sampler_set_epoch(&s, epoch);
        for (int64_t i = 0; i < d->n; i++) {
            d->fetch(d, s.perm[i], train, 1, epoch, out);
            sink += out[chw / 2];
            if ((++done & 1023) == 0 && (t = bb_now()) - t0 >= seconds) break;
        }
        t = bb_now();
    }
    double dt = t - t0, ips = (double)done / dt;
    printf("| %-22s | %lldx%lldx%lld | %-5s | %12.0f | %9.1f | %8.3g |%s\n", d->name, (long long)d->c, (long long)d->h,
           (long long)d->w, train ? "train" : "eval", ips, ips * (double)chw * 4 / 1e6, worst, sink == 12345.678 ? " " : "");
    bb_sampler_free(&s);
    bb_free(out);
    return 0;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : getenv("BB_FASHION_MNIST");
    if (!dir) dir = "/usr/share/datasets/fashion-mnist";
    double seconds = argc > 2 ? atof(argv[2]) : 2.0;
    bb_dataset tr, te, st, ste;
    double t0 = bb_now();
    if (bb_dataset_load_mnist_dir(&tr, &te, dir, "fashion-mnist") != BB_OK) {
        fprintf(stderr, "bench_data: %s\n", bb_last_error());
        return 1;
    }
    double t1 = bb_now();
    if (bb_dataset_synthetic(&st, &ste, 10000, 1000, 3, 32, 32, 10, 1) != BB_OK) {
        fprintf(stderr, "bench_data: %s\n", bb_last_error());
        return 1;
    }
    double t2 = bb_now();
    printf("load Fashion-MNIST (gzip IDX, train + test): %.2f s; generate synthetic 3x32x32 (11000): %.2f s\n",
           t1 - t0, t2 - t1);
    printf("fetch on one core, sampler order, %.1f s per row (crop pad %lld / %lld, flip on)\n\n", seconds,
           (long long)tr.aug.crop_pad, (long long)st.aug.crop_pad);
    printf("| %-22s | %-7s | %-5s | %12s | %9s | %8s |\n", "set", "shape", "mode", "images/s", "MB/s out", "max err");
    printf("|%s|%s|%s|%s|%s|%s|\n", "------------------------", "---------", "-------", "--------------",
           "-----------", "----------");
    int rc = run(&tr, 1, seconds) || run(&tr, 0, seconds) || run(&st, 1, seconds) || run(&st, 0, seconds);
    bb_dataset_free(&tr); bb_dataset_free(&te); bb_dataset_free(&st); bb_dataset_free(&ste);
    return rc;
}
