/* Folder data sets on a small tree generated here with libjpeg and libpng:
 * RGB and grayscale JPEGs, RGB, grayscale, RGBA and interlaced PNGs, a
 * truncated JPEG, a text file named .jpg, files to ignore. Class mapping,
 * counts, bad files skipped or fatal, the index, the held-out split, the
 * decoders, augmentation determinism across orders, threads and the cache, and
 * the evaluation centre crop hand-checked on a linear ramp. */
#include "test.h"
#include "fixture.h"

#include "data/image.h"
#include "data/imagefolder.h"
#include "train/trainer.h"
#include "util/file.h"
#include "util/mem.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---------- generating the tree ---------- */

/* pixel (x, y) of image `seed`: smooth, different per image */
static uint8_t *pattern(int64_t w, int64_t h, int channels, int seed)
{
    uint8_t *p = malloc((size_t)(w * h * channels));
    for (int64_t y = 0; y < h; y++)
        for (int64_t x = 0; x < w; x++)
            for (int c = 0; c < channels; c++)
            {
                int v = (int)((x * (3 + c) + y * (2 + seed) + 40 * c + 17 * seed) % 510);  /* a triangle wave: no jumps */
                p[(y * w + x) * channels + c] = (uint8_t)(v < 256 ? v : 510 - v);
            }
    return p;
}

static void put_jpeg(const char *dir, const char *name, int64_t w, int64_t h, int channels, int seed)
{
    char path[700];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    uint8_t *p = pattern(w, h, channels, seed);
    CHECK_OK(bb_image_write_jpeg(path, p, w, h, channels, 92, seed % 2));  /* odd seeds progressive */
    free(p);
}

static void put_png(const char *dir, const char *name, int64_t w, int64_t h, int channels, int seed, int interlace)
{
    char path[700];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    uint8_t *p = pattern(w, h, channels, seed);
    CHECK_OK(bb_image_write_png(path, p, w, h, channels, interlace));
    free(p);
}

static void put_text(const char *dir, const char *name, const char *text)
{
    char path[700];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (f) { fputs(text, f); fclose(f); }
}

static void sub(char *out, const char *a, const char *b)
{
    snprintf(out, 600, "%s/%s", a, b);
    CHECK_OK(bb_mkdirs(out));
}

/* root/{cat,dog,emu}: 12 good images, 2 bad, 2 ignored files, 1 hidden folder.
 *   cat: a.jpg (RGB 40x30), b.png (RGBA 24x36), c.jpg (gray 32x32), sub/f.jpg (RGB 30x40)
 *   dog: d.png (gray 20x20), fake.jpg (text), g.jpg (RGB 50x20), notes.txt, trunc.jpg (cut JPEG)
 *   emu: h.png (interlaced RGB 28x28), i.jpg, j.jpg, k.png, l.jpg, m.png (RGB)
 *   README (ignored), .hidden/x.jpg (skipped) */
static void make_tree(char *root)
{
    snprintf(root, 600, "%s/train", bb_test_tmpdir());
    char d[600], e[600];
    sub(d, root, "cat");
    put_jpeg(d, "a.jpg", 40, 30, 3, 1);
    put_png(d, "b.png", 24, 36, 4, 2, 0);
    put_jpeg(d, "c.jpg", 32, 32, 1, 3);
    sub(e, d, "sub");
    put_jpeg(e, "f.jpg", 30, 40, 3, 4);
    sub(d, root, "dog");
    put_png(d, "d.png", 20, 20, 1, 5, 0);
    put_text(d, "fake.jpg", "this is not an image\n");
    put_jpeg(d, "g.jpg", 50, 20, 3, 6);
    put_text(d, "notes.txt", "notes\n");
    put_jpeg(d, "trunc.jpg", 64, 64, 3, 7);
    char path[700];
    snprintf(path, sizeof path, "%s/trunc.jpg", d);
    unsigned char *b;
    size_t n;
    CHECK_OK(bb_file_read_all(path, 1 << 20, &b, &n));
    FILE *f = fopen(path, "wb");
    if (f && b) { fwrite(b, 1, n * 6 / 10, f); fclose(f); }
    free(b);
    sub(d, root, "emu");
    put_png(d, "h.png", 28, 28, 3, 8, 1);
    put_jpeg(d, "i.jpg", 30, 30, 3, 9);
    put_jpeg(d, "j.jpg", 31, 30, 3, 10);
    put_png(d, "k.png", 30, 33, 3, 11, 0);
    put_jpeg(d, "l.jpg", 36, 30, 3, 12);
    put_png(d, "m.png", 30, 30, 3, 13, 0);
    put_text(root, "README", "a data set\n");
    sub(d, root, ".hidden");
    put_jpeg(d, "x.jpg", 16, 16, 3, 14);
}

static void opts(bb_imagefolder_options *o, int64_t size)
{
    bb_imagefolder_defaults(o);
    o->size = size;
    o->threads = 2;
}

/* ---------- tests ---------- */

TEST(imagefolder_classes_counts_and_bad_files_skipped)
{
    char root[600], val[700], d[600], logp[700];
    make_tree(root);
    snprintf(val, sizeof val, "%s/../val", root);
    sub(d, val, "emu");
    put_jpeg(d, "v1.jpg", 30, 30, 3, 20);
    sub(d, val, "cat");
    put_png(d, "v2.png", 30, 30, 3, 21, 0);
    put_jpeg(d, "v3.jpg", 30, 30, 3, 22);
    snprintf(logp, sizeof logp, "%s/../log.txt", root);
    bb_imagefolder_options o;
    opts(&o, 16);
    o.log = fopen(logp, "w");
    bb_dataset tr, va;
    CHECK_OK(bb_imagefolder_load(&tr, &va, root, val, &o));
    fclose(o.log);
    CHECK(tr.n == 12 && tr.classes == 3 && tr.c == 3 && tr.h == 16 && tr.w == 16);
    CHECK(va.n == 3 && va.classes == 3);
    CHECK(!strcmp(bb_imagefolder_class(&tr, 0), "cat") && !strcmp(bb_imagefolder_class(&tr, 1), "dog") &&
          !strcmp(bb_imagefolder_class(&tr, 2), "emu") && bb_imagefolder_class(&tr, 3) == NULL);
    /* (class, path) order, labels from the folder */
    static const char *want[12] = {"cat/a.jpg", "cat/b.png", "cat/c.jpg", "cat/sub/f.jpg", "dog/d.png", "dog/g.jpg",
                                   "emu/h.png", "emu/i.jpg", "emu/j.jpg", "emu/k.png", "emu/l.jpg", "emu/m.png"};
    static const int32_t want_label[12] = {0, 0, 0, 0, 1, 1, 2, 2, 2, 2, 2, 2};
    for (int i = 0; i < 12 && tr.n == 12; i++) {
        CHECK_MSG(!strcmp(bb_imagefolder_file(&tr, i), want[i]), "sample %d is %s, want %s", i, bb_imagefolder_file(&tr, i), want[i]);
        CHECK(tr.labels[i] == want_label[i]);
    }
    /* the validation folder maps its classes by name */
    CHECK(va.n == 3 && !strcmp(bb_imagefolder_file(&va, 0), "cat/v2.png") && va.labels[0] == 0 && va.labels[1] == 0 &&
          va.labels[2] == 2);
    bb_imagefolder_stats st;
    CHECK_OK(bb_imagefolder_stats_get(&tr, &st));
    CHECK(st.images == 12 && st.jpeg == 7 && st.png == 5 && st.bad == 2 && st.ignored == 2 && st.classes == 3);
    CHECK(st.checked == 14 && st.reused == 0 && strstr(st.index_path, ".bigbatch-index"));
    /* ImageNet normalization by default */
    CHECK_NEAR(tr.aug.mean[0], 0.485, 1e-6);
    CHECK_NEAR(tr.aug.std[2], 0.225, 1e-6);
    /* the log names each bad file and why */
    char *log = fx_slurp(logp);
    CHECK(log != NULL);
    if (log) {
        CHECK_MSG(strstr(log, "dog/trunc.jpg: truncated JPEG (Premature end of JPEG file) (left out)") != NULL, "%s", log);
        CHECK_MSG(strstr(log, "dog/fake.jpg: not a JPEG or PNG image (starts with 74 68 69 73") != NULL, "%s", log);
        CHECK_MSG(strstr(log, "2 bad (left out), 2 other files ignored") != NULL, "%s", log);
    }
    free(log);
    bb_dataset_free(&tr);
    bb_dataset_free(&va);
    CHECK(tr.n == 0 && tr.impl == NULL);
}

TEST(imagefolder_bad_files_fatal_and_errors)
{
    char root[600], d[600];
    make_tree(root);
    bb_imagefolder_options o;
    opts(&o, 16);
    o.bad_fail = 1;
    bb_dataset tr, va;
    /* the first bad file in path order is named, with the count and the way out */
    CHECK_FAILS(bb_imagefolder_load(&tr, &va, root, NULL, &o), BB_ERR_FORMAT,
                "dog/fake.jpg: not a JPEG or PNG image");
    CHECK(strstr(bb_last_error(), "2 bad images") && strstr(bb_last_error(), "--bad-images skip"));
    CHECK(tr.n == 0 && va.n == 0 && tr.impl == NULL);
    o.bad_fail = 0;
    /* validation classes must be training classes */
    char val[700];
    snprintf(val, sizeof val, "%s/../val", root);
    sub(d, val, "zebra");
    put_jpeg(d, "z.jpg", 20, 20, 3, 1);
    CHECK_FAILS(bb_imagefolder_load(&tr, &va, root, val, &o), BB_ERR_FORMAT, "class folder 'zebra' is not one of the 3 classes");
    /* missing root, no classes, nothing to evaluate on */
    CHECK_FAILS(bb_imagefolder_load(&tr, &va, "/nonexistent/imagefolder", NULL, &o), BB_ERR_IO, "/nonexistent/imagefolder");
    char empty[700];
    snprintf(empty, sizeof empty, "%s/../empty", root);
    CHECK_OK(bb_mkdirs(empty));
    put_text(empty, "a.jpg", "x");
    CHECK_FAILS(bb_imagefolder_load(&tr, &va, empty, NULL, &o), BB_ERR_IO, "no class folders");
    o.holdout = 0;
    CHECK_FAILS(bb_imagefolder_load(&tr, &va, root, NULL, &o), BB_ERR_INVALID, "--val-dir");
    o.holdout = 0.1;
    o.min_area = 0;
    CHECK_FAILS(bb_imagefolder_load(&tr, &va, root, NULL, &o), BB_ERR_INVALID, "crop area range");
    CHECK(tr.impl == NULL && va.impl == NULL);
}

TEST(imagefolder_decoders_gray_rgba_interlaced)
{
    const char *dir = bb_test_tmpdir();
    /* seed: odd JPEG seeds are written progressive */
    struct { const char *name; int channels, png, interlace, seed; } cases[] = {
        {"g.png", 1, 1, 0, 3}, {"ga.png", 2, 1, 0, 3}, {"rgb.png", 3, 1, 0, 3}, {"rgba.png", 4, 1, 0, 3},
        {"il.png", 3, 1, 1, 3}, {"g.jpg", 1, 0, 0, 4}, {"rgb.jpg", 3, 0, 0, 4}, {"prog.jpg", 3, 0, 0, 3}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int ch = cases[k].channels;
        if (cases[k].png) put_png(dir, cases[k].name, 21, 13, ch, cases[k].seed, cases[k].interlace);
        else put_jpeg(dir, cases[k].name, 21, 13, ch, cases[k].seed);
        char path[700];
        snprintf(path, sizeof path, "%s/%s", dir, cases[k].name);
        unsigned char *b;
        size_t n;
        CHECK_OK(bb_file_read_all(path, 1 << 20, &b, &n));
        bb_image_info info;
        CHECK_OK(bb_image_verify(b, n, &info));
        CHECK(info.w == 21 && info.h == 13 && info.channels == ch && info.format == (cases[k].png ? BB_IMG_PNG : BB_IMG_JPEG));
        bb_image im;
        CHECK_OK(bb_image_decode(b, n, 8, 0, 0, 0, 0, 0, &im));
        uint8_t *p = pattern(21, 13, ch, cases[k].seed);
        /* gray replicated to R = G = B, alpha dropped; PNG exact, JPEG close */
        int worst = 0;
        for (int64_t y = 0; y < 13; y++)
            for (int64_t x = 0; x < 21; x++)
                for (int c = 0; c < 3; c++) {
                    int src = ch <= 2 ? 0 : c;
                    int d = abs((int)im.px[y * im.stride + x * 3 + c] - (int)p[(y * 21 + x) * ch + src]);
                    if (d > worst) worst = d;
                }
        /* JPEG: quality 92 with 4:2:0 chroma on a colour ramp with kinks: within 16 levels */
        CHECK_MSG(worst <= (cases[k].png ? 0 : 16), "%s: max difference %d", cases[k].name, worst);
        /* decoding only a region gives exactly the full decode's pixels there */
        for (int m = 2; m <= 8; m *= 2) {
            bb_image full, part;
            CHECK_OK(bb_image_decode(b, n, m, 0, 0, 0, 0, 0, &full));
            CHECK_OK(bb_image_decode(b, n, m, full.w / 3, full.h / 4, full.w - 1, full.h * 3 / 4, 1, &part));
            CHECK(full.full_w == bb_image_scaled(21, cases[k].png ? 8 : m) && part.full_w == full.full_w);
            int same = part.x0 <= full.w / 3 && part.y0 <= full.h / 4 && part.y0 + part.h >= full.h * 3 / 4;
            for (int64_t y = full.h / 4; same && y < full.h * 3 / 4; y++)
                same = !memcmp(full.px + y * full.stride + (full.w / 3) * 3,
                               part.px + (y - part.y0) * part.stride + (full.w / 3 - part.x0) * 3,
                               (size_t)(full.w - 1 - full.w / 3) * 3);
            CHECK_MSG(same, "%s at scale %d/8: the partial decode differs", cases[k].name, m);
            bb_image_free(&full);
            bb_image_free(&part);
        }
        free(p);
        bb_image_free(&im);
        free(b);
    }
    /* truncated JPEG and PNG: a clear reason */
    uint8_t *p = pattern(48, 48, 3, 1);
    char path[700];
    snprintf(path, sizeof path, "%s/t.jpg", dir);
    CHECK_OK(bb_image_write_jpeg(path, p, 48, 48, 3, 90, 0));
    unsigned char *b;
    size_t n;
    CHECK_OK(bb_file_read_all(path, 1 << 20, &b, &n));
    bb_image_info info;
    CHECK_FAILS(bb_image_verify(b, n / 2, &info), BB_ERR_FORMAT, "truncated JPEG (Premature end of JPEG file)");
    free(b);
    snprintf(path, sizeof path, "%s/t.png", dir);
    CHECK_OK(bb_image_write_png(path, p, 48, 48, 3, 0));
    CHECK_OK(bb_file_read_all(path, 1 << 20, &b, &n));
    CHECK_FAILS(bb_image_verify(b, n - 20, &info), BB_ERR_FORMAT, "truncated PNG");
    b[40] ^= 0x55;  /* inside IHDR: its CRC no longer matches */
    CHECK_FAILS(bb_image_verify(b, n, &info), BB_ERR_FORMAT, "corrupt PNG");
    CHECK_FAILS(bb_image_verify(b, 0, &info), BB_ERR_FORMAT, "empty file");
    free(b);
    free(p);
}

TEST(imagefolder_index_reused_changed_damaged_and_fallback)
{
    char root[600], runs[700], idx[700];
    make_tree(root);
    snprintf(runs, sizeof runs, "%s/../run", root);
    snprintf(idx, sizeof idx, "%s/.bigbatch-index", root);
    bb_imagefolder_options o;
    opts(&o, 16);
    o.index_dir = runs;
    bb_dataset tr, va;
    bb_imagefolder_stats st;
    CHECK_OK(bb_imagefolder_load(&tr, &va, root, NULL, &o));
    CHECK_OK(bb_imagefolder_stats_get(&tr, &st));
    CHECK(st.checked == 14 && st.reused == 0);
    bb_dataset_free(&tr); bb_dataset_free(&va);
    /* second load: nothing decoded again */
    CHECK_OK(bb_imagefolder_load(&tr, &va, root, NULL, &o));
    CHECK_OK(bb_imagefolder_stats_get(&tr, &st));
    CHECK(st.checked == 0 && st.reused == 14 && st.bad == 2);
    bb_dataset_free(&tr); bb_dataset_free(&va);
    /* a rewritten file (new size and mtime) and a new one are checked; a removed one drops out */
    char d[700], path[700];
    snprintf(d, sizeof d, "%s/emu", root);
    put_jpeg(d, "i.jpg", 44, 30, 3, 30);
    put_png(d, "new.png", 30, 30, 3, 31, 0);
    snprintf(path, sizeof path, "%s/emu/m.png", root);
    CHECK(unlink(path) == 0);
    CHECK_OK(bb_imagefolder_load(&tr, &va, root, NULL, &o));
    CHECK_OK(bb_imagefolder_stats_get(&tr, &st));
    CHECK_MSG(st.checked == 2 && st.reused == 12, "checked %lld reused %lld", (long long)st.checked, (long long)st.reused);
    bb_dataset_free(&tr); bb_dataset_free(&va);
    /* a damaged index is ignored and rewritten */
    unsigned char *b;
    size_t n;
    CHECK_OK(bb_file_read_all(idx, 1 << 20, &b, &n));
    if (b) {
        b[n / 2] ^= 1;
        FILE *f = fopen(idx, "wb");
        if (f) { fwrite(b, 1, n, f); fclose(f); }
        free(b);
    }
    CHECK_OK(bb_imagefolder_load(&tr, &va, root, NULL, &o));
    CHECK_OK(bb_imagefolder_stats_get(&tr, &st));
    CHECK(st.checked == 14 && st.reused == 0);
    bb_dataset_free(&tr); bb_dataset_free(&va);
    /* the root cannot take the index (here: a folder is in the way): it goes to index_dir */
    CHECK(unlink(idx) == 0);
    CHECK_OK(bb_mkdirs(idx));
    CHECK_OK(bb_imagefolder_load(&tr, &va, root, NULL, &o));
    CHECK_OK(bb_imagefolder_stats_get(&tr, &st));
    CHECK_MSG(strstr(st.index_path, "/run/imagefolder-") != NULL, "index at %s", st.index_path);
    bb_dataset_free(&tr); bb_dataset_free(&va);
    CHECK_OK(bb_imagefolder_load(&tr, &va, root, NULL, &o));
    CHECK_OK(bb_imagefolder_stats_get(&tr, &st));
    CHECK(st.checked == 0 && st.reused == 14);
    bb_dataset_free(&tr); bb_dataset_free(&va);
}

TEST(imagefolder_holdout_split)
{
    char root[600];
    make_tree(root);
    bb_imagefolder_options o;
    opts(&o, 16);
    o.holdout = 0.34;
    bb_dataset tr, va;
    CHECK_OK(bb_imagefolder_load(&tr, &va, root, NULL, &o));
    /* cat 4 -> 1 held out, dog 2 -> 1, emu 6 -> 2 */
    int64_t per[2][3] = {{0}};
    for (int64_t i = 0; i < tr.n; i++) per[0][tr.labels[i]]++;
    for (int64_t i = 0; i < va.n; i++) per[1][va.labels[i]]++;
    CHECK(per[0][0] == 3 && per[1][0] == 1 && per[0][1] == 1 && per[1][1] == 1 && per[0][2] == 4 && per[1][2] == 2);
    CHECK(!strcmp(va.name, "imagefolder/heldout"));
    /* disjoint, and the same split whatever else changes (no seed involved) */
    for (int64_t i = 0; i < va.n; i++)
        for (int64_t j = 0; j < tr.n; j++) CHECK(strcmp(bb_imagefolder_file(&va, i), bb_imagefolder_file(&tr, j)) != 0);
    char first[64];
    snprintf(first, sizeof first, "%s", bb_imagefolder_file(&va, 0));
    bb_dataset_free(&tr); bb_dataset_free(&va);
    o.size = 24;
    CHECK_OK(bb_imagefolder_load(&tr, &va, root, NULL, &o));
    CHECK(va.n == 4 && !strcmp(bb_imagefolder_file(&va, 0), first));
    bb_dataset_free(&tr); bb_dataset_free(&va);
}

TEST(imagefolder_random_resized_crop_ranges)
{
    bb_imagefolder_options o;
    bb_imagefolder_defaults(&o);
    int flips = 0, fallback = 0;
    double amin = 1, amax = 0, rmin = 10, rmax = 0;
    for (int64_t i = 0; i < 4000; i++) {
        int64_t x0, y0, cw, ch;
        int fl;
        bb_imagefolder_crop_draw(&o, 3, 1, i, 500, 375, &x0, &y0, &cw, &ch, &fl);
        CHECK(x0 >= 0 && y0 >= 0 && cw >= 1 && ch >= 1 && x0 + cw <= 500 && y0 + ch <= 375);
        double a = (double)(cw * ch) / (500.0 * 375.0), r = (double)cw / (double)ch;
        amin = a < amin ? a : amin; amax = a > amax ? a : amax;
        rmin = r < rmin ? r : rmin; rmax = r > rmax ? r : rmax;
        flips += fl;
        fallback += cw * ch == 500 * 375;
        int64_t x1, y1, cw1, ch1;
        int fl1;
        bb_imagefolder_crop_draw(&o, 3, 1, i, 500, 375, &x1, &y1, &cw1, &ch1, &fl1);
        CHECK(x1 == x0 && y1 == y0 && cw1 == cw && ch1 == ch && fl1 == fl);  /* a pure function */
    }
    /* area 8%..100% and ratio 3/4..4/3, up to pixel rounding */
    CHECK_MSG(amin > 0.075 && amin < 0.09 && amax > 0.95 && amax <= 1.0, "area %g..%g", amin, amax);
    CHECK_MSG(rmin > 0.74 && rmin < 0.77 && rmax > 1.3 && rmax < 1.34, "ratio %g..%g", rmin, rmax);
    CHECK(flips > 1800 && flips < 2200);
    /* a strip no crop of ratio >= 3/4 fits: after 10 tries, the central crop of ratio 4/3 */
    int64_t x0, y0, cw, ch;
    int fl;
    bb_imagefolder_crop_draw(&o, 3, 1, 0, 1000, 10, &x0, &y0, &cw, &ch, &fl);
    CHECK(ch == 10 && cw == 13 && x0 == (1000 - 13) / 2 && y0 == 0);
    (void)fallback;
    /* evaluation geometry as torchvision's Resize(256) + CenterCrop(224) */
    o.size = 224;
    int64_t rw, rh, l, t;
    bb_imagefolder_eval_geometry(&o, 500, 375, &rw, &rh, &l, &t);
    CHECK(rw == 341 && rh == 256 && l == 58 && t == 16);
    bb_imagefolder_eval_geometry(&o, 375, 500, &rw, &rh, &l, &t);
    CHECK(rw == 256 && rh == 341 && l == 16 && t == 58);
    bb_imagefolder_eval_geometry(&o, 300, 300, &rw, &rh, &l, &t);
    CHECK(rw == 256 && rh == 256 && l == 16 && t == 16);
}

/* Evaluation, by hand: a 64x48 PNG with R = 4x, G = 4y, B = 100, resized to
 * short side 24 (exactly half: rw 32, rh 24) and centre-cropped to 16 at
 * (left 8, top 4). Output (y, x) comes from source centre (2(x+8)+1, 2(y+4)+1);
 * the widened triangle filter gives taps 1/8 3/8 3/8 1/8 around it, so
 * R = 4 (2x + 16.5) = 8x + 66 and G = 8y + 34 exactly. */
TEST(imagefolder_eval_centre_crop_hand_checked)
{
    const char *tmp = bb_test_tmpdir();
    char root[600], d[600];
    snprintf(root, sizeof root, "%s/ramp", tmp);
    sub(d, root, "only");
    uint8_t *p = malloc(64 * 48 * 3);
    for (int y = 0; y < 48; y++)
        for (int x = 0; x < 64; x++) {
            p[(y * 64 + x) * 3] = (uint8_t)(4 * x);
            p[(y * 64 + x) * 3 + 1] = (uint8_t)(4 * y);
            p[(y * 64 + x) * 3 + 2] = 100;
        }
    char path[700];
    snprintf(path, sizeof path, "%s/ramp.png", d);
    CHECK_OK(bb_image_write_png(path, p, 64, 48, 3, 0));
    snprintf(path, sizeof path, "%s/ramp2.png", d);
    CHECK_OK(bb_image_write_png(path, p, 64, 48, 3, 0));
    free(p);
    for (int cache = 0; cache < 2; cache++) {
        bb_imagefolder_options o;
        opts(&o, 16);
        o.eval_resize = 24;
        o.holdout = 0.5;
        o.cache_bytes = cache ? 1 << 20 : 0;
        bb_dataset tr, va;
        CHECK_OK(bb_imagefolder_load(&tr, &va, root, NULL, &o));
        bb_imagefolder_stats st;
        CHECK_OK(bb_imagefolder_stats_get(&va, &st));
        CHECK(st.cached == cache);
        for (int c = 0; c < 3; c++) { va.aug.mean[c] = 0; va.aug.std[c] = 1; }  /* out = byte / 255 */
        float out[3 * 16 * 16];
        CHECK_OK(va.fetch(&va, 0, 0, 123, 7, out));
        int bad = 0;
        for (int y = 0; y < 16; y++)
            for (int x = 0; x < 16; x++) {
                bad += fabs(out[y * 16 + x] * 255.0 - (8 * x + 66)) > 1e-3;
                bad += fabs(out[256 + y * 16 + x] * 255.0 - (8 * y + 34)) > 1e-3;
                bad += fabs(out[512 + y * 16 + x] * 255.0 - 100) > 1e-3;
            }
        CHECK_MSG(bad == 0, "cache %d: %d pixels differ from the hand computation (R(0,0) = %g, G(0,0) = %g)", cache, bad,
                  out[0] * 255.0, out[256] * 255.0);
        /* evaluation ignores seed and epoch */
        float again[3 * 16 * 16];
        CHECK_OK(va.fetch(&va, 0, 0, 9, 0, again));
        CHECK(memcmp(out, again, sizeof out) == 0);
        bb_dataset_free(&tr);
        bb_dataset_free(&va);
    }
}

typedef struct {
    const bb_dataset *d;
    const int64_t *order;
    int64_t n;
    float *out;
    bb_status st;
} fetch_job;

static void *fetch_thread(void *arg)
{
    fetch_job *j = arg;
    int64_t len = 3 * j->d->h * j->d->w;
    for (int64_t k = 0; k < j->n && j->st == BB_OK; k++)
        j->st = j->d->fetch(j->d, j->order[k], 1, 42, 3, j->out + j->order[k] * len);
    return NULL;
}

TEST(imagefolder_augmentation_deterministic_any_order_thread_or_cache)
{
    char root[600];
    make_tree(root);
    bb_imagefolder_options o;
    opts(&o, 24);
    bb_dataset tr, va;
    CHECK_OK(bb_imagefolder_load(&tr, &va, root, NULL, &o));
    int64_t n = tr.n, len = 3 * 24 * 24;
    float *ref = bb_alloc((size_t)(n * len) * 4), *got = bb_alloc((size_t)(n * len) * 4);
    for (int64_t i = 0; i < n; i++) CHECK_OK(tr.fetch(&tr, i, 1, 42, 3, ref + i * len));
    /* reversed and interleaved on two threads */
    int64_t *order = malloc((size_t)n * sizeof *order);
    for (int64_t i = 0; i < n; i++) order[i] = n - 1 - i;
    fetch_job a = {&tr, order, n / 2, got, BB_OK}, b = {&tr, order + n / 2, n - n / 2, got, BB_OK};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, fetch_thread, &a) == 0);
    fetch_thread(&b);
    pthread_join(th, NULL);
    CHECK(a.st == BB_OK && b.st == BB_OK);
    CHECK(memcmp(ref, got, (size_t)(n * len) * 4) == 0);
    /* another epoch or seed draws other crops */
    float *x = bb_alloc((size_t)len * 4);
    int differ = 0;
    for (int64_t i = 0; i < n; i++) {
        CHECK_OK(tr.fetch(&tr, i, 1, 42, 4, x));
        differ += memcmp(x, ref + i * len, (size_t)len * 4) != 0;
    }
    CHECK(differ >= n - 1);
    /* with the decoded-image cache: deterministic as well, evaluation identical */
    bb_imagefolder_options oc = o;
    oc.cache_bytes = 1 << 24;
    bb_dataset ctr, cva;
    CHECK_OK(bb_imagefolder_load(&ctr, &cva, root, NULL, &oc));
    bb_imagefolder_stats st;
    CHECK_OK(bb_imagefolder_stats_get(&ctr, &st));
    CHECK(st.cached == 1 && st.cache_bytes > 0 && st.cache_bytes < 1 << 24);
    a.d = b.d = &ctr;
    a.st = b.st = BB_OK;
    CHECK(pthread_create(&th, NULL, fetch_thread, &a) == 0);
    fetch_thread(&b);
    pthread_join(th, NULL);
    for (int64_t i = 0; i < n; i++) {
        CHECK_OK(ctr.fetch(&ctr, i, 1, 42, 3, x));
        CHECK(memcmp(x, got + i * len, (size_t)len * 4) == 0);
        float *y = bb_alloc((size_t)len * 4);
        CHECK_OK(ctr.fetch(&ctr, i, 0, 0, 0, x));
        CHECK_OK(tr.fetch(&tr, i, 0, 0, 0, y));
        CHECK_MSG(memcmp(x, y, (size_t)len * 4) == 0, "evaluation of %lld differs with the cache", (long long)i);
        bb_free(y);
    }
    /* a budget too small for the whole set: no cache at all */
    oc.cache_bytes = st.cache_bytes - 1;
    bb_dataset_free(&ctr); bb_dataset_free(&cva);
    CHECK_OK(bb_imagefolder_load(&ctr, &cva, root, NULL, &oc));
    CHECK_OK(bb_imagefolder_stats_get(&ctr, &st));
    CHECK(st.cached == 0);
    bb_dataset_free(&ctr); bb_dataset_free(&cva);
    free(order);
    bb_free(ref); bb_free(got); bb_free(x);
    bb_dataset_free(&tr); bb_dataset_free(&va);
}

TEST(imagefolder_file_broken_after_loading)
{
    char root[600], path[700], logp[700];
    make_tree(root);
    snprintf(path, sizeof path, "%s/cat/a.jpg", root);
    snprintf(logp, sizeof logp, "%s/../log.txt", root);
    bb_imagefolder_options o;
    opts(&o, 16);
    o.log = fopen(logp, "w");
    bb_dataset tr, va;
    CHECK_OK(bb_imagefolder_load(&tr, &va, root, NULL, &o));
    int64_t i = 0;
    while (i < tr.n && strcmp(bb_imagefolder_file(&tr, i), "cat/a.jpg") != 0) i++;
    CHECK(i < tr.n);
    /* skip: the file turned into text after loading gives a mean-colour sample, counted and reported */
    put_text(root, "cat/a.jpg", "gone\n");
    float x[3 * 16 * 16];
    CHECK_OK(tr.fetch(&tr, i, 1, 1, 0, x));
    int zeros = 1;
    for (int k = 0; k < 3 * 16 * 16; k++) zeros &= x[k] == 0.0f;
    CHECK(zeros);
    bb_imagefolder_stats st;
    CHECK_OK(bb_imagefolder_stats_get(&tr, &st));
    CHECK(st.fetch_failures == 1);
    fclose(o.log);
    char *text = fx_slurp(logp);
    CHECK_MSG(text && strstr(text, "cat/a.jpg: not a JPEG or PNG image") && strstr(text, "mean-colour"), "%s", text ? text : "");
    free(text);
    bb_dataset_free(&tr); bb_dataset_free(&va);
    /* fail: the fetch fails naming the file (the tree without its bad files, so that it loads) */
    put_jpeg(root, "cat/a.jpg", 40, 30, 3, 1);
    char bad[700];
    snprintf(bad, sizeof bad, "%s/dog/fake.jpg", root);
    CHECK(unlink(bad) == 0);
    snprintf(bad, sizeof bad, "%s/dog/trunc.jpg", root);
    CHECK(unlink(bad) == 0);
    o.log = NULL;
    o.bad_fail = 1;
    CHECK_OK(bb_imagefolder_load(&tr, &va, root, NULL, &o));
    if (!tr.fetch) return;
    CHECK(unlink(path) == 0);
    CHECK_FAILS(tr.fetch(&tr, i, 1, 1, 0, x), BB_ERR_IO, "cat/a.jpg");
    CHECK_FAILS(tr.fetch(&tr, tr.n, 1, 1, 0, x), BB_ERR_INVALID, "fetch of sample");
    bb_dataset_free(&tr); bb_dataset_free(&va);
}

/* the loader's thread count does not change training: bit-identical weights */
TEST(imagefolder_training_identical_for_any_loader_threads)
{
    char root[600];
    make_tree(root);
    float *ref = NULL;
    int64_t len = 0;
    for (int threads = 1; threads <= 3; threads += 2) {
        bb_config c;
        bb_config_defaults(&c);
        CHECK_OK(bb_config_set(&c, "model", "resnet8"));
        CHECK_OK(bb_config_set(&c, "width", "4"));
        CHECK_OK(bb_config_set(&c, "data", "imagefolder"));
        CHECK_OK(bb_config_set(&c, "data-dir", root));
        CHECK_OK(bb_config_set(&c, "image-size", "16"));
        CHECK_OK(bb_config_set(&c, "holdout", "0.2"));
        char out[700];
        snprintf(out, sizeof out, "%s/../run%d", root, threads);
        CHECK_OK(bb_config_set(&c, "out", out));
        c.batch_size = 8;
        c.worker_batch = 4;
        c.threads = 2;
        c.loader_threads = threads;
        bb_trainer *t = NULL;
        CHECK_OK(bb_trainer_create(&t, &c, NULL));
        if (!t) return;
        for (int s = 0; s < 2; s++) {
            bb_step_stats st;
            CHECK_OK(bb_trainer_step(t, &st));
        }
        bb_eval_result r;
        CHECK_OK(bb_trainer_evaluate(t, &r));
        CHECK(r.count == 3);  /* held out: 1 of cat (4), 1 of dog (2), 1 of emu (6) */
        const bb_net *net = bb_trainer_net(t);
        if (!ref) {
            len = net->param_count;
            ref = malloc((size_t)len * 4);
            memcpy(ref, bb_trainer_params(t), (size_t)len * 4);
        } else {
            CHECK(memcmp(ref, bb_trainer_params(t), (size_t)len * 4) == 0);
        }
        bb_trainer_destroy(t);
    }
    free(ref);
}

/* a class folder without images still takes its place in the sorted class list */
TEST(imagefolder_empty_class_keeps_its_index)
{
    char root[600], d[600], logp[700];
    make_tree(root);
    sub(d, root, "ant");
    snprintf(logp, sizeof logp, "%s/../log.txt", root);
    bb_imagefolder_options o;
    opts(&o, 16);
    o.log = fopen(logp, "w");
    bb_dataset tr, va;
    CHECK_OK(bb_imagefolder_load(&tr, &va, root, NULL, &o));
    fclose(o.log);
    CHECK(tr.classes == 4 && va.classes == 4 && !strcmp(bb_imagefolder_class(&tr, 0), "ant"));
    for (int64_t i = 0; i < tr.n; i++) CHECK(tr.labels[i] >= 1 && tr.labels[i] <= 3);
    char *log = fx_slurp(logp);
    CHECK_MSG(log && strstr(log, "warning: class 'ant' has no training images"), "%s", log ? log : "");
    free(log);
    bb_dataset_free(&tr);
    bb_dataset_free(&va);
}
