/* Data module tests, part one: the readers against real Fashion-MNIST (reference
 * values from an independent Python/numpy read of the same files) and against
 * generated IDX and CIFAR files, and every kind of bad file with its message
 * (sampler, augmentation and synthetic data: test_data_sampler.c). */
#include "test.h"

#include "data/data.h"
#include "data/data_internal.h"
#include "util/file.h"
#include "util/mem.h"
#include "util/status.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* ---------- helpers: writing files ---------- */

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24); p[1] = (unsigned char)(v >> 16); p[2] = (unsigned char)(v >> 8); p[3] = (unsigned char)v;
}

static int write_raw(const char *path, const void *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    int ok = fwrite(buf, 1, len, f) == len;
    return fclose(f) == 0 && ok;
}

/* level 0 = stored blocks: the bytes appear verbatim inside the stream */
static int write_gz(const char *path, const void *buf, size_t len, int level)
{
    char mode[8];
    snprintf(mode, sizeof mode, "wb%d", level);
    gzFile g = gzopen(path, mode);
    if (!g) return 0;
    int ok = len == 0 || gzwrite(g, buf, (unsigned)len) == (int)len;
    return gzclose(g) == Z_OK && ok;
}

static unsigned char *read_whole(const char *path, size_t *len)
{
    unsigned char *b;
    if (bb_file_read_all(path, (size_t)1 << 30, &b, len) != BB_OK) return NULL;
    return b;
}

/* IDX images: 16-byte header then n*h*w bytes, pixel (i, y, x) = (7i + 3y + x) mod 256 */
static unsigned char *idx_images(uint32_t magic, uint32_t n, uint32_t h, uint32_t w, size_t *len)
{
    *len = 16 + (size_t)n * h * w;
    unsigned char *b = malloc(*len);
    put_be32(b, magic); put_be32(b + 4, n); put_be32(b + 8, h); put_be32(b + 12, w);
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t y = 0; y < h; y++)
            for (uint32_t x = 0; x < w; x++) b[16 + ((size_t)i * h + y) * w + x] = (unsigned char)(7 * i + 3 * y + x);
    return b;
}

static unsigned char *idx_labels(uint32_t n, size_t *len)
{
    *len = 8 + (size_t)n;
    unsigned char *b = malloc(*len);
    put_be32(b, 0x801); put_be32(b + 4, n);
    for (uint32_t i = 0; i < n; i++) b[8 + i] = (unsigned char)((i * 3) % 10);
    return b;
}

static char *pj(char *buf, const char *dir, const char *name)
{
    if (snprintf(buf, 600, "%s/%s", dir, name) >= 600) buf[0] = 0;
    return buf;
}

/* a failed load leaves nothing behind */
#define CHECK_EMPTY(d) CHECK((d).pixels == NULL && (d).labels == NULL && (d).n == 0)

/* ---------- real Fashion-MNIST ---------- */

TEST(data_fashion_mnist_reader)
{
    const char *dir = bb_test_data_dir();
    if (!dir && getenv("BB_TEST_WITHOUT_DATASET")) {  /* a machine told to do without it (GPU check) */
        printf("  skip: Fashion-MNIST not installed and BB_TEST_WITHOUT_DATASET set\n");
        return;
    }
    CHECK_MSG(dir != NULL, "Fashion-MNIST not found (install dataset-fashion-mnist or set BB_FASHION_MNIST)");
    if (!dir) return;
    bb_dataset tr, te;
    CHECK_OK(bb_dataset_load_mnist_dir(&tr, &te, dir, "fashion-mnist"));
    if (!tr.pixels || !te.pixels) return;
    CHECK(!strcmp(tr.name, "fashion-mnist/train") && !strcmp(te.name, "fashion-mnist/test"));
    CHECK(tr.n == 60000 && te.n == 10000);
    CHECK(tr.c == 1 && tr.h == 28 && tr.w == 28 && te.c == 1 && te.h == 28 && te.w == 28);
    CHECK(tr.classes == 10 && te.classes == 10);
    /* python3: gzip.open(...).read(); np.frombuffer(..., offset=8)[:10] */
    static const int first_train[10] = {9, 0, 0, 3, 0, 2, 7, 2, 5, 5};
    static const int first_test[10] = {9, 2, 1, 1, 6, 1, 4, 6, 5, 7};
    for (int i = 0; i < 10; i++) {
        CHECK(tr.labels[i] == first_train[i]);
        CHECK(te.labels[i] == first_test[i]);
    }
    int64_t hist[10] = {0};
    for (int64_t i = 0; i < tr.n; i++) hist[tr.labels[i]]++;
    for (int k = 0; k < 10; k++) CHECK(hist[k] == 6000);
    /* sum of all pixel bytes and the order-sensitive sum of byte[j] * (j mod 65521 + 1),
     * both computed with numpy uint64 from the same files */
    uint64_t sum = 0, wsum = 0, tsum = 0;
    for (int64_t j = 0; j < tr.n * 784; j++) {
        sum += tr.pixels[j];
        wsum += (uint64_t)tr.pixels[j] * (uint64_t)(j % 65521 + 1);
    }
    for (int64_t j = 0; j < te.n * 784; j++) tsum += te.pixels[j];
    CHECK_MSG(sum == 3431114169ull, "train pixel sum %llu", (unsigned long long)sum);
    CHECK_MSG(wsum == 112463966970509ull, "train weighted sum %llu", (unsigned long long)wsum);
    CHECK_MSG(tsum == 573469082ull, "test pixel sum %llu", (unsigned long long)tsum);
    CHECK(tr.pixels[14 * 28 + 14] == 217);
    /* numpy: (train / 255).mean() = 0.2860406, .std() = 0.3530242 */
    CHECK_NEAR(tr.aug.mean[0], 0.2860406, 1e-6);
    CHECK_NEAR(tr.aug.std[0], 0.3530242, 1e-6);
    CHECK(tr.aug.crop_pad == 2 && tr.aug.flip == 1);
    CHECK(te.aug.mean[0] == tr.aug.mean[0] && te.aug.std[0] == tr.aug.std[0]);
    /* fetch of the real data: (byte / 255 - mean) / std */
    float out[784];
    CHECK_OK(te.fetch(&te, 0, 0, 1, 0, out));
    for (int j = 0; j < 784; j++)
        CHECK_NEAR(out[j], (te.pixels[j] / 255.0 - tr.aug.mean[0]) / tr.aug.std[0], 1e-5);
    bb_dataset_free(&tr);
    bb_dataset_free(&te);
    CHECK_EMPTY(tr);
}

/* ---------- generated IDX files ---------- */

TEST(data_idx_roundtrip)
{
    const char *dir = bb_test_tmpdir();
    char p1[600], p2[600], p3[600];
    size_t li, ll;
    unsigned char *img = idx_images(0x803, 5, 3, 4, &li), *lab = idx_labels(5, &ll);
    CHECK(write_raw(pj(p1, dir, "i.raw"), img, li) && write_raw(pj(p2, dir, "l.raw"), lab, ll));
    CHECK(write_gz(pj(p3, dir, "i.gz"), img, li, 6));
    for (int gz = 0; gz < 2; gz++) {
        bb_dataset d;
        CHECK_OK(bb_dataset_load_idx(&d, gz ? p3 : p1, p2, "tiny"));
        CHECK(d.n == 5 && d.c == 1 && d.h == 3 && d.w == 4 && d.classes == 10 && !strcmp(d.name, "tiny"));
        if (d.pixels) CHECK(memcmp(d.pixels, img + 16, 60) == 0);
        for (int i = 0; d.labels && i < 5; i++) CHECK(d.labels[i] == (i * 3) % 10);
        bb_dataset_free(&d);
    }
    /* two concatenated gzip members are one valid gzip file */
    char p4[600];
    {
        FILE *f = fopen(pj(p4, dir, "two.gz"), "wb");
        fclose(f);
        gzFile g = gzopen(p4, "ab6");
        gzwrite(g, img, 30);
        gzclose(g);
        g = gzopen(p4, "ab6");
        gzwrite(g, img + 30, (unsigned)li - 30);
        gzclose(g);
        bb_dataset d;
        CHECK_OK(bb_dataset_load_idx(&d, p4, p2, "two"));
        if (d.pixels) CHECK(memcmp(d.pixels, img + 16, 60) == 0);
        bb_dataset_free(&d);
    }
    /* a directory mixing compressed and raw names */
    const char *mdir = bb_test_tmpdir();
    size_t ti, tl;
    unsigned char *timg = idx_images(0x803, 2, 3, 4, &ti), *tlab = idx_labels(2, &tl);
    CHECK(write_gz(pj(p1, mdir, "train-images-idx3-ubyte.gz"), img, li, 9));
    CHECK(write_raw(pj(p1, mdir, "train-labels-idx1-ubyte"), lab, ll));
    CHECK(write_raw(pj(p1, mdir, "t10k-images-idx3-ubyte"), timg, ti));
    CHECK(write_gz(pj(p1, mdir, "t10k-labels-idx1-ubyte.gz"), tlab, tl, 1));
    bb_dataset tr, te;
    CHECK_OK(bb_dataset_load_mnist_dir(&tr, &te, mdir, "m"));
    CHECK(tr.n == 5 && te.n == 2 && !strcmp(te.name, "m/test"));
    if (te.pixels) CHECK(memcmp(te.pixels, timg + 16, 24) == 0);
    bb_dataset_free(&tr);
    bb_dataset_free(&te);
    free(img); free(lab); free(timg); free(tlab);
}

/* writes images/labels variants and expects the load to fail with `needle` */
static void expect_idx_fail(const char *dir, const unsigned char *img, size_t li, int img_gz, const unsigned char *lab,
                            size_t ll, bb_status want, const char *needle, int line)
{
    char pi[600], pl[600];
    pj(pi, dir, img_gz ? "bad-images.gz" : "bad-images");
    pj(pl, dir, "bad-labels");
    int ok = (img_gz ? write_gz(pi, img, li, 6) : write_raw(pi, img, li)) && write_raw(pl, lab, ll);
    CHECK(ok);
    bb_dataset d;
    bb_status s = bb_dataset_load_idx(&d, pi, pl, "bad");
    if (s != want || !strstr(bb_last_error(), needle) || !strstr(bb_last_error(), dir)) {
        bb_test_failed++;
        fprintf(stderr, "  line %d: got %d (%s), want %d with \"%s\"\n", line, (int)s, bb_last_error(), (int)want, needle);
    }
    CHECK_EMPTY(d);
}

TEST(data_idx_bad_files)
{
    const char *dir = bb_test_tmpdir();
    size_t li, ll;
    unsigned char *img = idx_images(0x803, 6, 5, 5, &li), *lab = idx_labels(6, &ll);
    unsigned char *b = malloc(li + 64);
#define BAD(gz, want, needle) expect_idx_fail(dir, b, blen, gz, lab, ll, want, needle, __LINE__)
#define BADL(want, needle) expect_idx_fail(dir, img, li, 0, b, blen, want, needle, __LINE__)
    size_t blen;
    /* header fields */
    memcpy(b, img, li); blen = li; put_be32(b, 0x801);
    BAD(0, BB_ERR_FORMAT, "offset 0 (magic): expected 0x00000803");
    BAD(1, BB_ERR_FORMAT, "(a labels file)");
    memcpy(b, img, li); put_be32(b, 0x0D03);
    BAD(0, BB_ERR_FORMAT, "only unsigned-byte IDX data");
    memcpy(b, img, li); put_be32(b, 0x504B0304);
    BAD(0, BB_ERR_FORMAT, "found 0x504b0304 (not an IDX file)");
    memcpy(b, img, li); put_be32(b + 4, 0);
    BAD(0, BB_ERR_FORMAT, "offset 4 (image count): expected 1..2147483647, found 0");
    memcpy(b, img, li); put_be32(b + 8, 0);
    BAD(0, BB_ERR_FORMAT, "offset 8 (rows): expected 1..4096, found 0");
    memcpy(b, img, li); put_be32(b + 12, 5000);
    BAD(1, BB_ERR_FORMAT, "offset 12 (cols): expected 1..4096, found 5000");
    /* dims that disagree with the data: one row more is a truncation, one less leaves trailing data */
    memcpy(b, img, li); put_be32(b + 8, 6);
    BAD(0, BB_ERR_FORMAT, "truncated: expected 196 bytes (16-byte header + 6 images x 6 x 5), found 166");
    BAD(1, BB_ERR_FORMAT, "truncated: pixel data at decompressed offset 16 needs 180 bytes, found only 150");
    memcpy(b, img, li); put_be32(b + 8, 4);
    BAD(0, BB_ERR_FORMAT, "trailing data: expected 136 bytes (16-byte header + 6 images x 4 x 5), found 166 (30 extra)");
    BAD(1, BB_ERR_FORMAT, "trailing data: expected the file to end after the pixel data at decompressed offset 136");
    /* truncation and trailing garbage */
    memcpy(b, img, li); blen = li - 7;
    BAD(0, BB_ERR_FORMAT, "truncated: expected 166 bytes");
    BAD(1, BB_ERR_FORMAT, "truncated");
    blen = 10;
    BAD(0, BB_ERR_FORMAT, "truncated: images header (count, rows, cols) at offset 4 needs 12 bytes, found only 6");
    blen = 0;
    BAD(0, BB_ERR_FORMAT, "truncated: magic at offset 0 needs 4 bytes, found only 0");
    blen = li + 3; b[li] = b[li + 1] = b[li + 2] = 0;
    BAD(0, BB_ERR_FORMAT, "trailing data");
    /* labels: wrong magic, truncated, count mismatch, out of range */
    memcpy(b, lab, ll); blen = ll; put_be32(b, 0x803);
    BADL(BB_ERR_FORMAT, "offset 0 (magic): expected 0x00000801 (labels: unsigned bytes, 1 dimension), found 0x00000803 (an images file)");
    memcpy(b, lab, ll); blen = ll - 2;
    BADL(BB_ERR_FORMAT, "truncated: expected 14 bytes (8-byte header + 6 labels), found 12");
    memcpy(b, lab, ll); put_be32(b + 4, 5); blen = ll - 1;  /* 5 labels for 6 images */
    BADL(BB_ERR_FORMAT, "count mismatch");
    memcpy(b, lab, ll); blen = ll; b[8 + 4] = 10;
    BADL(BB_ERR_FORMAT, "label out of range at offset 12 (sample 4): expected 0..9, found 10");
    free(b);
#undef BAD
#undef BADL
    /* missing files */
    char p[600], q[600];
    bb_dataset d;
    CHECK_FAILS(bb_dataset_load_idx(&d, pj(p, dir, "nope"), pj(q, dir, "bad-labels"), "x"), BB_ERR_IO, "nope: cannot open");
    CHECK_EMPTY(d);
    free(img); free(lab);
}

TEST(data_idx_bad_gzip)
{
    const char *dir = bb_test_tmpdir();
    size_t li, ll;
    unsigned char *img = idx_images(0x803, 40, 28, 28, &li), *lab = idx_labels(40, &ll);
    char pi[600], pl[600];
    CHECK(write_raw(pj(pl, dir, "labels"), lab, ll));
    bb_dataset d;
    size_t glen;
    unsigned char *g;
    /* stored blocks: flipping a pixel byte in the middle is caught by the CRC-32 */
    CHECK(write_gz(pj(pi, dir, "stored.gz"), img, li, 0));
    g = read_whole(pi, &glen);
    CHECK(g && glen > li);
    if (g) {
        g[glen / 2] ^= 0x55;
        CHECK(write_raw(pi, g, glen));
        CHECK_FAILS(bb_dataset_load_idx(&d, pi, pl, "x"), BB_ERR_FORMAT, "bad gzip stream");
        CHECK(strstr(bb_last_error(), "incorrect data check") && strstr(bb_last_error(), "stored.gz"));
        CHECK_EMPTY(d);
        free(g);
    }
    /* deflated: overwrite 16 bytes in the middle of the compressed data */
    CHECK(write_gz(pj(pi, dir, "deflated.gz"), img, li, 6));
    g = read_whole(pi, &glen);
    CHECK(g && glen > 200);
    if (g) {
        memset(g + glen / 2, 0xA5, 16);
        CHECK(write_raw(pi, g, glen));
        CHECK_FAILS(bb_dataset_load_idx(&d, pi, pl, "x"), BB_ERR_FORMAT, "bad gzip stream near compressed byte");
        CHECK_EMPTY(d);
        /* the same file cut short: the stream ends before its end marker */
        CHECK(write_gz(pi, img, li, 6));
        free(g);
        g = read_whole(pi, &glen);
        CHECK(g && write_raw(pi, g, glen - 12));
        CHECK_FAILS(bb_dataset_load_idx(&d, pi, pl, "x"), BB_ERR_FORMAT, "truncated gzip stream");
        /* only the 8-byte trailer missing: all data is there, the CRC is not */
        CHECK(g && write_raw(pi, g, glen - 8));
        CHECK_FAILS(bb_dataset_load_idx(&d, pi, pl, "x"), BB_ERR_FORMAT, "before the end-of-stream marker and CRC trailer");
        /* junk after a complete gzip stream */
        CHECK(g && write_raw(pi, g, glen));
        FILE *f = fopen(pi, "ab");
        fputs("JUNK", f);
        fclose(f);
        CHECK_FAILS(bb_dataset_load_idx(&d, pi, pl, "x"), BB_ERR_FORMAT, "non-gzip bytes after the end of the gzip stream");
        /* a damaged gzip header */
        g[3] = 0xE0;  /* reserved FLG bits */
        CHECK(write_raw(pi, g, glen));
        CHECK_FAILS(bb_dataset_load_idx(&d, pi, pl, "x"), BB_ERR_FORMAT, "bad gzip stream");
        free(g);
    }
    /* a header claiming far more data than the compressed file could hold */
    put_be32(img + 4, 2000000000u);
    CHECK(write_gz(pi, img, li, 6));
    CHECK_FAILS(bb_dataset_load_idx(&d, pi, pl, "x"), BB_ERR_FORMAT, "corrupt header or truncated file");
    CHECK_EMPTY(d);
    free(img); free(lab);
}

TEST(data_mnist_dir_errors)
{
    const char *dir = bb_test_tmpdir();
    char p[600];
    size_t li, ll, ti;
    unsigned char *img = idx_images(0x803, 4, 6, 6, &li), *lab = idx_labels(4, &ll), *timg = idx_images(0x803, 4, 6, 5, &ti);
    CHECK(write_gz(pj(p, dir, "train-images-idx3-ubyte.gz"), img, li, 6));
    CHECK(write_gz(pj(p, dir, "train-labels-idx1-ubyte.gz"), lab, ll, 6));
    CHECK(write_gz(pj(p, dir, "t10k-images-idx3-ubyte.gz"), timg, ti, 6));
    bb_dataset tr, te;
    CHECK_FAILS(bb_dataset_load_mnist_dir(&tr, &te, dir, "m"), BB_ERR_IO,
                "t10k-labels-idx1-ubyte: missing file: neither t10k-labels-idx1-ubyte.gz nor t10k-labels-idx1-ubyte exists");
    CHECK_EMPTY(tr);
    CHECK(write_raw(pj(p, dir, "t10k-labels-idx1-ubyte"), lab, ll));
    CHECK_FAILS(bb_dataset_load_mnist_dir(&tr, &te, dir, "m"), BB_ERR_FORMAT, "expected 6 x 6 like");
    CHECK_EMPTY(tr);
    CHECK_EMPTY(te);
    free(img); free(lab); free(timg);
}

/* ---------- CIFAR ---------- */

/* record r of file f: label (f*7 + r) mod classes, pixel j = (r*31 + j*13 + f) mod 256 */
static unsigned char *cifar_file(int f, int records, int cifar100, size_t *len)
{
    int rec = cifar100 ? 3074 : 3073;
    *len = (size_t)records * rec;
    unsigned char *b = malloc(*len);
    for (int r = 0; r < records; r++) {
        unsigned char *p = b + (size_t)r * rec;
        int label = (f * 7 + r) % (cifar100 ? 100 : 10);
        if (cifar100) { p[0] = (unsigned char)(label / 5); p[1] = (unsigned char)label; }
        else p[0] = (unsigned char)label;
        for (int j = 0; j < 3072; j++) p[rec - 3072 + j] = (unsigned char)(r * 31 + j * 13 + f);
    }
    return b;
}

static void check_cifar_set(const bb_dataset *d, const int *files, const int *records, int nfiles, int cifar100)
{
    int64_t total = 0;
    for (int i = 0; i < nfiles; i++) total += records[i];
    CHECK(d->n == total && d->c == 3 && d->h == 32 && d->w == 32 && d->classes == (cifar100 ? 100 : 10));
    if (!d->pixels || d->n != total) return;
    int64_t i = 0;
    for (int fi = 0; fi < nfiles; fi++)
        for (int r = 0; r < records[fi]; r++, i++) {
            int f = files[fi];
            CHECK(d->labels[i] == (f * 7 + r) % (cifar100 ? 100 : 10));
            int bad = 0;
            for (int j = 0; j < 3072; j++) bad += d->pixels[i * 3072 + j] != (uint8_t)(r * 31 + j * 13 + f);
            CHECK(bad == 0);
        }
}

TEST(data_cifar10_roundtrip)
{
    const char *dir = bb_test_tmpdir();
    char p[600], name[64];
    int records[5] = {3, 1, 4, 1, 5}, files[5] = {1, 2, 3, 4, 5}, tfile[1] = {9}, trec[1] = {2};
    for (int f = 1; f <= 5; f++) {
        size_t len;
        unsigned char *b = cifar_file(f, records[f - 1], 0, &len);
        snprintf(name, sizeof name, "data_batch_%d.bin", f);
        CHECK(write_raw(pj(p, dir, name), b, len));
        free(b);
    }
    size_t len;
    unsigned char *b = cifar_file(9, 2, 0, &len);
    CHECK(write_raw(pj(p, dir, "test_batch.bin"), b, len));
    free(b);
    bb_dataset tr, te;
    CHECK_OK(bb_dataset_load_cifar(&tr, &te, dir, 0));
    CHECK(!strcmp(tr.name, "cifar10/train") && !strcmp(te.name, "cifar10/test"));
    check_cifar_set(&tr, files, records, 5, 0);
    check_cifar_set(&te, tfile, trec, 1, 0);
    CHECK(tr.aug.crop_pad == 4 && tr.aug.flip == 1 && te.aug.std[2] == tr.aug.std[2]);
    bb_dataset_free(&tr);
    bb_dataset_free(&te);
}

TEST(data_cifar100_roundtrip)
{
    /* inside the folder the archive unpacks to; test.bin gzip-compressed */
    const char *top = bb_test_tmpdir();
    char dir[600], p[600];
    pj(dir, top, "cifar-100-binary");
    CHECK(bb_mkdirs(dir) == BB_OK);
    size_t len;
    unsigned char *b = cifar_file(3, 150, 1, &len);
    CHECK(write_raw(pj(p, dir, "train.bin"), b, len));
    free(b);
    b = cifar_file(4, 7, 1, &len);
    CHECK(write_gz(pj(p, dir, "test.bin"), b, len, 6));
    free(b);
    bb_dataset tr, te;
    int f3[1] = {3}, r3[1] = {150}, f4[1] = {4}, r4[1] = {7};
    CHECK_OK(bb_dataset_load_cifar(&tr, &te, top, 1));
    CHECK(!strcmp(tr.name, "cifar100/train"));
    check_cifar_set(&tr, f3, r3, 1, 1);
    check_cifar_set(&te, f4, r4, 1, 1);
    CHECK(tr.labels[99] == (3 * 7 + 99) % 100);
    bb_dataset_free(&tr);
    bb_dataset_free(&te);
}

TEST(data_cifar_bad_files)
{
    const char *dir = bb_test_tmpdir();
    char p[600], name[64];
    size_t len;
    unsigned char *b = cifar_file(1, 2, 0, &len);
    for (int f = 1; f <= 5; f++) {
        if (f == 3) continue;
        snprintf(name, sizeof name, "data_batch_%d.bin", f);
        CHECK(write_raw(pj(p, dir, name), b, len));
    }
    CHECK(write_raw(pj(p, dir, "test_batch.bin"), b, len));
    bb_dataset tr, te;
    CHECK_FAILS(bb_dataset_load_cifar(&tr, &te, dir, 0), BB_ERR_IO, "data_batch_3.bin: missing file");
    CHECK_EMPTY(tr);
    CHECK(write_raw(pj(p, dir, "data_batch_3.bin"), b, len - 1));
    CHECK_FAILS(bb_dataset_load_cifar(&tr, &te, dir, 0), BB_ERR_FORMAT,
                "data_batch_3.bin: file size 6145 bytes is not a positive multiple of the 3073-byte record <label><3072 pixels> "
                "(1 whole records + 3072 extra bytes)");
    CHECK(write_raw(p, b, 0));
    CHECK_FAILS(bb_dataset_load_cifar(&tr, &te, dir, 0), BB_ERR_FORMAT, "file size 0 bytes is not a positive multiple");
    CHECK(write_gz(p, b, len - 5, 6));
    CHECK_FAILS(bb_dataset_load_cifar(&tr, &te, dir, 0), BB_ERR_FORMAT, "record 1 at offset 3073 has only 3068 bytes");
    CHECK(write_raw(p, b, len));
    CHECK_OK(bb_dataset_load_cifar(&tr, &te, dir, 0));
    bb_dataset_free(&tr); bb_dataset_free(&te);
    b[3073] = 10;
    CHECK(write_raw(pj(p, dir, "test_batch.bin"), b, len));
    CHECK_FAILS(bb_dataset_load_cifar(&tr, &te, dir, 0), BB_ERR_FORMAT,
                "test_batch.bin: record 1, offset 3073 (label): label out of range: expected 0..9, found 10");
    CHECK_EMPTY(tr);
    CHECK_EMPTY(te);
    free(b);
    /* CIFAR-100: fine label 100, coarse label 20 */
    b = cifar_file(1, 3, 1, &len);
    b[2 * 3074 + 1] = 100;
    CHECK(write_raw(pj(p, dir, "train.bin"), b, len));
    CHECK(write_raw(pj(p, dir, "test.bin"), b, 3074));
    CHECK_FAILS(bb_dataset_load_cifar(&tr, &te, dir, 1), BB_ERR_FORMAT,
                "train.bin: record 2, offset 6149 (fine label): label out of range: expected 0..99, found 100");
    b[2 * 3074 + 1] = 5; b[3074] = 20;
    CHECK(write_raw(pj(p, dir, "train.bin"), b, len));
    CHECK_FAILS(bb_dataset_load_cifar(&tr, &te, dir, 1), BB_ERR_FORMAT, "record 1, offset 3074 (coarse label): expected 0..19, found 20");
    b[3074] = 2;
    CHECK(write_raw(p, b, len - 3074 - 3000));
    CHECK_FAILS(bb_dataset_load_cifar(&tr, &te, dir, 1), BB_ERR_FORMAT, "is not a positive multiple of the 3074-byte record");
    remove(pj(p, dir, "test.bin"));
    CHECK(write_raw(pj(p, dir, "train.bin"), b, 3074));
    CHECK_FAILS(bb_dataset_load_cifar(&tr, &te, dir, 1), BB_ERR_IO, "test.bin: missing file (CIFAR-100 needs train.bin and test.bin)");
    CHECK_EMPTY(tr);
    free(b);
}
