/* Folder data sets: images/s per core of verification, decoding and fetch()
 * (random-resized crop to 224 + flip + normalize, or evaluation resize +
 * centre crop) from ImageNet-like JPEGs, with and without DCT scaling and
 * partial decoding, and from the decoded-image cache. Each variant is checked
 * first: the resampler against a naive double-precision one, partial decoding
 * against full decoding, cached against streamed evaluation.
 * usage: bench_imagefolder [--dir DIR] [--images N] [--size WxH] [--seconds S] [--out-size 224]
 *        bench_imagefolder gen DIR [--classes C] [--per-class N] [--size WxH] [--quality Q] [--png-every K] [--seed S]
 *                                  [--noise A]   (pixel noise amplitude, default 64: ~90 KB per 500x375 JPEG)
 *        bench_imagefolder dump ROOT OUTDIR [N] [--out-size S]   (augmented samples as PNG, to look at) */
#include "data/image.h"
#include "data/imagefolder.h"
#include "util/file.h"
#include "util/mem.h"
#include "util/rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int die(const char *what)
{
    fprintf(stderr, "bench_imagefolder: %s: %s\n", what, bb_last_error());
    return 1;
}

/* ImageNet-like content: a few large soft colour blobs (objects, sky), a
 * textured band, and pixel noise, so that a 500x375 JPEG at quality 90 has
 * roughly the entropy-coded size of a photograph (~100 KB). */
static void make_image(uint8_t *px, int64_t w, int64_t h, uint64_t seed, int64_t index, int cls, double noise)
{
    bb_rng r = bb_rng_make(seed, BB_RNG_TEST, (uint64_t)cls, (uint64_t)index);
    double bx[6], by[6], bs[6], bc[6][3], base[3], fx = 0.02 + 0.2 * bb_rng_uniform(&r), fy = 0.02 + 0.2 * bb_rng_uniform(&r);
    for (int c = 0; c < 3; c++) base[c] = 60 + 120 * bb_rng_uniform(&r);
    for (int b = 0; b < 6; b++) {
        bx[b] = (double)w * bb_rng_uniform(&r);
        by[b] = (double)h * bb_rng_uniform(&r);
        bs[b] = (double)(w < h ? w : h) * (0.08 + 0.3 * bb_rng_uniform(&r));
        for (int c = 0; c < 3; c++) bc[b][c] = 160 * (bb_rng_uniform(&r) - 0.5) + (c == cls % 3 ? 40 : 0);
    }
    for (int64_t y = 0; y < h; y++)
        for (int64_t x = 0; x < w; x++) {
            double tex = 25 * sin(fx * (double)x + 3 * sin(fy * (double)y)) * (y > h / 3 && y < 2 * h / 3);
            double n = noise * (bb_rng_uniform(&r) - 0.5);
            double v[3] = {base[0] + tex + n, base[1] + tex + n, base[2] + tex + n};
            for (int b = 0; b < 6; b++) {
                double dx = ((double)x - bx[b]) / bs[b], dy = ((double)y - by[b]) / bs[b], g = exp(-(dx * dx + dy * dy));
                for (int c = 0; c < 3; c++) v[c] += bc[b][c] * g;
            }
            for (int c = 0; c < 3; c++) px[(y * w + x) * 3 + c] = (uint8_t)(v[c] < 0 ? 0 : v[c] > 255 ? 255 : v[c]);
        }
}

static int parse_size(const char *s, int64_t *w, int64_t *h)
{
    long long a, b;
    if (sscanf(s, "%lldx%lld", &a, &b) != 2 || a < 1 || b < 1) return 0;
    *w = a;
    *h = b;
    return 1;
}

/* DIR/classNN/imgNNNNN.jpg (every png_every-th a PNG), sizes jittered by up to 20% */
static int generate(const char *dir, int classes, int per_class, int64_t w, int64_t h, int quality, int png_every,
                    uint64_t seed, double noise, int64_t *bytes)
{
    *bytes = 0;
    uint8_t *px = malloc((size_t)(w * 2 * h * 2 * 3));
    if (!px) return 1;
    for (int c = 0; c < classes; c++) {
        char cdir[1200];
        snprintf(cdir, sizeof cdir, "%s/class%02d", dir, c);
        if (bb_mkdirs(cdir) != BB_OK) { free(px); return die("mkdir"); }
        for (int i = 0; i < per_class; i++) {
            bb_rng r = bb_rng_make(seed, BB_RNG_TEST, 1000 + (uint64_t)c, (uint64_t)i);
            int64_t iw = w + (int64_t)((double)w * 0.2 * (bb_rng_uniform(&r) - 0.5));
            int64_t ih = h + (int64_t)((double)h * 0.2 * (bb_rng_uniform(&r) - 0.5));
            make_image(px, iw, ih, seed, i, c, noise);
            int png = png_every > 0 && i % png_every == png_every - 1;
            char path[1400];
            snprintf(path, sizeof path, "%s/img%05d.%s", cdir, i, png ? "png" : "jpg");
            bb_status s = png ? bb_image_write_png(path, px, iw, ih, 3, 0) : bb_image_write_jpeg(path, px, iw, ih, 3, quality, 0);
            if (s != BB_OK) { free(px); return die("write"); }
            struct stat st;
            if (stat(path, &st) == 0) *bytes += (int64_t)st.st_size;
        }
    }
    free(px);
    return 0;
}

/* naive reference of bb_image_resample over a whole decoded image, in double */
static double naive_px(const bb_image *im, double bx0, double by0, double bx1, double by1, int64_t ow, int64_t oh,
                       int64_t x, int64_t y, int c)
{
    double sx = (bx1 - bx0) / (double)ow, sy = (by1 - by0) / (double)oh;
    double fx = sx > 1 ? sx : 1, fy = sy > 1 ? sy : 1, cx = bx0 + ((double)x + 0.5) * sx, cy = by0 + ((double)y + 0.5) * sy;
    double acc = 0, wsum = 0;
    for (int64_t j = 0; j < im->h; j++) {
        double wy = 1 - fabs(((double)j + 0.5 - cy) / fy);
        if (wy <= 0 || (double)j < floor(cy - fy + 0.5) - 1 || (double)j >= cy + fy + 0.5) continue;
        for (int64_t i = 0; i < im->w; i++) {
            double wx = 1 - fabs(((double)i + 0.5 - cx) / fx);
            if (wx <= 0) continue;
            acc += wx * wy * im->px[j * im->stride + i * 3 + c];
            wsum += wx * wy;
        }
    }
    return acc / wsum;
}

typedef struct { unsigned char *b; size_t n; } blob;

/* CPU seconds of this thread: images/s per core that other processes on a
 * shared machine do not distort (wall time would) */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double rate(double t0, int64_t n) { return (double)n / (cpu_now() - t0); }

static int checks(const blob *files, int nfiles, const bb_dataset *d, int64_t out)
{
    /* 1. resampler against the naive one (three boxes on a decoded image) */
    bb_image im;
    if (bb_image_decode(files[0].b, files[0].n, 8, 0, 0, 0, 0, 0, &im) != BB_OK) return die("decode");
    double boxes[3][4] = {{0, 0, (double)im.w, (double)im.h}, {31.5, 17.25, 260.75, 301.5}, {100, 90, 150, 160}};
    double worst = 0;
    uint8_t *dst = malloc((size_t)(out * out * 3));
    for (int b = 0; b < 3; b++) {
        if (bb_image_resample(&im, boxes[b][0], boxes[b][1], boxes[b][2], boxes[b][3], out, out, 0, 0, out, out, dst,
                              3 * out) != BB_OK) return die("resample");
        for (int64_t y = 0; y < out; y += 7)
            for (int64_t x = 0; x < out; x += 5)
                for (int c = 0; c < 3; c++) {
                    double e = fabs(naive_px(&im, boxes[b][0], boxes[b][1], boxes[b][2], boxes[b][3], out, out, x, y, c) -
                                    dst[(y * out + x) * 3 + c]);
                    if (e > worst) worst = e;
                }
    }
    printf("check: resampler vs naive double reference: max |diff| %.3f levels (of 255)\n", worst);
    if (worst > 1.0) { fprintf(stderr, "bench_imagefolder: resampler differs from the reference\n"); return 1; }
    /* 2. partial decoding gives the pixels full decoding gives, inside the region */
    int64_t maxd = 0;
    for (int f = 0; f < nfiles && f < 16; f++) {
        for (int m = 4; m <= 8; m += 4) {
            bb_image full, part;
            if (bb_image_decode(files[f].b, files[f].n, m, 0, 0, 0, 0, 0, &full) != BB_OK) return die("decode");
            int64_t x0 = full.w / 5, y0 = full.h / 4, x1 = full.w * 3 / 4, y1 = full.h * 2 / 3;
            if (bb_image_decode(files[f].b, files[f].n, m, x0, y0, x1, y1, 1, &part) != BB_OK) return die("decode");
            for (int64_t y = y0; y < y1; y++)
                for (int64_t x = x0; x < x1; x++)
                    for (int c = 0; c < 3; c++) {
                        int64_t a = full.px[y * full.stride + x * 3 + c];
                        int64_t b = part.px[(y - part.y0) * part.stride + (x - part.x0) * 3 + c];
                        if (llabs(a - b) > maxd) maxd = llabs(a - b);
                    }
            bb_image_free(&full);
            bb_image_free(&part);
        }
    }
    printf("check: partial vs full JPEG decoding (scales 4/8, 8/8): max |diff| %lld levels\n", (long long)maxd);
    if (maxd > 2) { fprintf(stderr, "bench_imagefolder: partial decoding differs\n"); return 1; }
    bb_image_free(&im);
    free(dst);
    (void)d;
    return 0;
}

static int bench(const char *dir, int64_t n_images, int64_t w, int64_t h, double seconds, int64_t out)
{
    char tmp[600];
    int made = 0;
    if (!dir) {
        snprintf(tmp, sizeof tmp, "%s/bb_bench_imagefolder.%d", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
        dir = tmp;
        made = 1;
        int64_t bytes;
        double t0 = bb_now();
        if (generate(dir, 4, (int)(n_images / 4), w, h, 90, 0, 7, 64, &bytes)) return 1;
        printf("generated %lld JPEGs of about %lldx%lld (quality 90, sizes jittered +-10%%): %.1f KB each on average, %.1f s\n",
               (long long)n_images, (long long)w, (long long)h, (double)bytes / (double)n_images / 1024.0, bb_now() - t0);
    }
    bb_imagefolder_options o;
    bb_imagefolder_defaults(&o);
    o.size = out;
    o.holdout = 0.01;
    o.threads = 1;
    bb_dataset tr, va;
    double t0 = bb_now();
    if (bb_imagefolder_load(&tr, &va, dir, NULL, &o) != BB_OK) return die("load");
    bb_imagefolder_stats st;
    bb_imagefolder_stats_get(&tr, &st);
    double t_scan = bb_now() - t0;
    if (st.checked)
        printf("first scan (list + verify every file by a complete 1/8-scale decode, 1 thread): %lld files, %.2f s = %.0f files/s\n",
               (long long)st.checked, t_scan, (double)st.checked / t_scan);
    else
        printf("scan: all %lld files known to the index (%s)\n", (long long)st.reused, st.index_path);
    bb_dataset_free(&tr);
    bb_dataset_free(&va);
    t0 = bb_now();
    if (bb_imagefolder_load(&tr, &va, dir, NULL, &o) != BB_OK) return die("load");
    printf("second scan (index reused, every file stat()ed): %.3f s\n\n", bb_now() - t0);
    /* files in memory for the decoder-only rows */
    int nf = (int)tr.n;
    blob *files = calloc((size_t)nf, sizeof *files);
    for (int i = 0; i < nf; i++) {
        char p[2000];
        snprintf(p, sizeof p, "%s/%s", dir, bb_imagefolder_file(&tr, i));
        if (bb_file_read_all(p, (size_t)1 << 30, &files[i].b, &files[i].n) != BB_OK) return die("read");
    }
    if (checks(files, nf, &tr, out)) return 1;
    /* cached evaluation is bit-identical to streamed evaluation */
    bb_imagefolder_options oc = o;
    oc.cache_bytes = (int64_t)1 << 40;
    bb_dataset ctr, cva;
    if (bb_imagefolder_load(&ctr, &cva, dir, NULL, &oc) != BB_OK) return die("load");
    int64_t len = 3 * out * out;
    float *a = bb_alloc((size_t)len * 4), *b = bb_alloc((size_t)len * 4);
    int64_t differ = 0;
    for (int64_t i = 0; i < 32 && i < tr.n; i++) {
        tr.fetch(&tr, i, 0, 1, 0, a);
        ctr.fetch(&ctr, i, 0, 1, 0, b);
        differ += memcmp(a, b, (size_t)len * 4) != 0;
    }
    printf("check: evaluation from the decoded-image cache vs decoded from the file: %lld of 32 samples differ\n", (long long)differ);
    if (differ) { fprintf(stderr, "bench_imagefolder: cached evaluation differs\n"); return 1; }
    /* full-scale vs DCT-scaled training crops: how far apart (informative) */
    bb_imagefolder_options of = o;
    of.dct_scaling = 0;
    of.partial = 0;
    bb_dataset ftr, fva;
    if (bb_imagefolder_load(&ftr, &fva, dir, NULL, &of) != BB_OK) return die("load");
    double mad = 0;
    for (int64_t i = 0; i < 32 && i < tr.n; i++) {
        tr.fetch(&tr, i, 1, 1, 0, a);
        ftr.fetch(&ftr, i, 1, 1, 0, b);
        for (int64_t j = 0; j < len; j++) mad += fabs((double)a[j] - b[j]) * 0.226 * 255;  /* back to levels */
    }
    printf("info: training crops, DCT-scaled + partial vs full-size decoding: mean |diff| %.2f levels\n\n", mad / (32.0 * (double)len));

    printf("one thread, images per CPU-second of that thread, files in the page cache, %lldx%lld output:\n\n",
           (long long)out, (long long)out);
    printf("| what | images/s |\n|------|---------:|\n");
    int64_t done = 0;
    t0 = cpu_now();
    for (; cpu_now() - t0 < seconds; done++) {
        bb_image_info info;
        if (bb_image_verify(files[done % nf].b, files[done % nf].n, &info) != BB_OK) return die("verify");
    }
    printf("| verify (complete decode at 1/8 scale, from memory) | %.0f |\n", rate(t0, done));
    done = 0;
    t0 = cpu_now();
    for (; cpu_now() - t0 < seconds; done++) {
        bb_image im;
        if (bb_image_decode(files[done % nf].b, files[done % nf].n, 8, 0, 0, 0, 0, 0, &im) != BB_OK) return die("decode");
        bb_image_free(&im);
    }
    printf("| decode only, full size, from memory | %.0f |\n", rate(t0, done));
    printf("| decode only, at DCT scale 1/8 .. 8/8 (half the time each) |");
    for (int m = 1; m <= 8; m++) {
        done = 0;
        t0 = cpu_now();
        for (; cpu_now() - t0 < seconds / 2; done++) {
            bb_image im;
            if (bb_image_decode(files[done % nf].b, files[done % nf].n, m, 0, 0, 0, 0, 0, &im) != BB_OK) return die("decode");
            bb_image_free(&im);
        }
        printf(" %d/8: %.0f%s", m, rate(t0, done), m < 8 ? "," : " |\n");
    }
    struct { const char *name; bb_dataset *d; int train; } rows[] = {
        {"train fetch: read + DCT-scaled partial decode + random-resized crop + flip + normalize", &tr, 1},
        {"train fetch, full-size decode of the whole image (no DCT scaling, no partial decoding)", &ftr, 1},
        {"train fetch from the decoded-image cache (warm)", &ctr, 1},
        {"eval fetch: read + decode + resize short side + centre crop + normalize", &tr, 0},
        {"eval fetch from the decoded-image cache (warm)", &ctr, 0},
    };
    for (int64_t i = 0; i < ctr.n; i++) ctr.fetch(&ctr, i, 0, 1, 0, a);  /* warm the cache */
    for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
        done = 0;
        t0 = cpu_now();
        for (int64_t epoch = 0; cpu_now() - t0 < seconds; epoch++)
            for (int64_t i = 0; i < rows[r].d->n && cpu_now() - t0 < seconds; i++, done++)
                if (rows[r].d->fetch(rows[r].d, i, rows[r].train, 1, epoch, a) != BB_OK) return die("fetch");
        printf("| %s | %.0f |\n", rows[r].name, rate(t0, done));
    }
    for (int i = 0; i < nf; i++) free(files[i].b);
    free(files);
    bb_free(a);
    bb_free(b);
    bb_dataset_free(&tr); bb_dataset_free(&va); bb_dataset_free(&ctr); bb_dataset_free(&cva);
    bb_dataset_free(&ftr); bb_dataset_free(&fva);
    if (made) {
        char cmd[800];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0) fprintf(stderr, "bench_imagefolder: could not remove %s\n", dir);
    }
    return 0;
}

/* writes N augmented training samples (and their evaluation crops) as PNG */
static int dump(const char *root, const char *outdir, int n, int64_t size)
{
    bb_imagefolder_options o;
    bb_imagefolder_defaults(&o);
    o.size = size;
    bb_dataset tr, va;
    if (bb_imagefolder_load(&tr, &va, root, NULL, &o) != BB_OK || bb_mkdirs(outdir) != BB_OK) return die("load");
    float *x = bb_alloc((size_t)(3 * size * size) * 4);
    uint8_t *px = malloc((size_t)(3 * size * size));
    for (int i = 0; i < n && i < tr.n; i++)
        for (int train = 0; train < 2; train++) {
            if (tr.fetch(&tr, i, train, 1, 0, x) != BB_OK) return die("fetch");
            for (int64_t p = 0; p < size * size; p++)
                for (int c = 0; c < 3; c++) {
                    double v = (x[c * size * size + p] * tr.aug.std[c] + tr.aug.mean[c]) * 255.0;
                    px[p * 3 + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v + 0.5);
                }
            char path[1200];
            snprintf(path, sizeof path, "%s/%03d_%s.png", outdir, i, train ? "train" : "eval");
            if (bb_image_write_png(path, px, size, size, 3, 0) != BB_OK) return die("write");
        }
    printf("wrote %d training and evaluation crops to %s\n", n, outdir);
    bb_free(x);
    free(px);
    bb_dataset_free(&tr);
    bb_dataset_free(&va);
    return 0;
}

int main(int argc, char **argv)
{
    int64_t w = 500, h = 375, out = 224, images = 64;
    double seconds = 3;
    const char *dir = NULL;
    if (argc > 2 && !strcmp(argv[1], "gen")) {
        int classes = 4, per = 8, quality = 90, png_every = 0;
        double noise = 64;
        uint64_t seed = 1;
        for (int i = 3; i + 1 < argc; i += 2) {
            if (!strcmp(argv[i], "--classes")) classes = atoi(argv[i + 1]);
            else if (!strcmp(argv[i], "--per-class")) per = atoi(argv[i + 1]);
            else if (!strcmp(argv[i], "--quality")) quality = atoi(argv[i + 1]);
            else if (!strcmp(argv[i], "--png-every")) png_every = atoi(argv[i + 1]);
            else if (!strcmp(argv[i], "--seed")) seed = (uint64_t)atoll(argv[i + 1]);
            else if (!strcmp(argv[i], "--noise")) noise = atof(argv[i + 1]);
            else if (!strcmp(argv[i], "--size") && parse_size(argv[i + 1], &w, &h)) {}
            else { fprintf(stderr, "bench_imagefolder gen: unknown or bad flag %s\n", argv[i]); return 2; }
        }
        int64_t bytes;
        if (generate(argv[2], classes, per, w, h, quality, png_every, seed, noise, &bytes)) return 1;
        printf("%d classes x %d images in %s, %.1f KB per image\n", classes, per, argv[2], (double)bytes / (classes * per) / 1024.0);
        return 0;
    }
    if (argc > 3 && !strcmp(argv[1], "dump")) {
        for (int i = 4; i + 1 < argc; i++) if (!strcmp(argv[i], "--out-size")) out = atoll(argv[i + 1]);
        return dump(argv[2], argv[3], argc > 4 && argv[4][0] != '-' ? atoi(argv[4]) : 8, out);
    }
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--dir")) dir = argv[i + 1];
        else if (!strcmp(argv[i], "--images")) images = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--seconds")) seconds = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--out-size")) out = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--size") && parse_size(argv[i + 1], &w, &h)) {}
        else { fprintf(stderr, "bench_imagefolder: unknown or bad flag %s\n", argv[i]); return 2; }
    }
    if (images < 8) images = 8;
    return bench(dir, images, w, h, seconds, out);
}
