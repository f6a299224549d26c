/* IDX readers for the MNIST family (MNIST, Fashion-MNIST, KMNIST): images
 * (magic 0x00000803: u8, N x H x W) and labels (0x00000801: u8, N), raw or
 * gzip. Every header field, the data size, the label range and the end of the
 * file are checked; a file either loads whole or fails with a message naming
 * the file, the field or offset, what was expected and what was found. */
#include "data/data_internal.h"

#include "util/mem.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define IDX_CLASSES 10        /* the MNIST family: labels 0..9 */
#define IDX_MAX_SIDE 4096
#define IDX_MAGIC_IMAGES 0x00000803u
#define IDX_MAGIC_LABELS 0x00000801u

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static const char *magic_hint(uint32_t m)
{
    if (m == IDX_MAGIC_IMAGES) return " (an images file)";
    if (m == IDX_MAGIC_LABELS) return " (a labels file)";
    if ((m >> 16) != 0) return " (not an IDX file)";
    switch ((m >> 8) & 0xff) {
    case 0x08: return "";
    case 0x09: return " (signed bytes are not supported)";
    case 0x0B: case 0x0C: case 0x0D: case 0x0E: return " (only unsigned-byte IDX data is supported)";
    default: return " (unknown IDX data type)";
    }
}

static bb_status check_magic(const char *path, const unsigned char *hdr, uint32_t want, const char *kind)
{
    uint32_t m = be32(hdr);
    if (m != want)
        return bb_fail(BB_ERR_FORMAT, "%s: offset 0 (magic): expected 0x%08x (%s: unsigned bytes, %u dimension%s), found 0x%08x%s",
                       path, want, kind, want & 0xff, (want & 0xff) == 1 ? "" : "s", m, magic_hint(m));
    return BB_OK;
}

/* For a raw file the exact size is known before reading: say so precisely. */
static bb_status check_raw_size(bb_in *in, const char *path, uint64_t want, const char *layout)
{
    if (bb_in_is_gzip(in)) return BB_OK;
    uint64_t have = bb_in_file_size(in);
    if (have < want)
        return bb_fail(BB_ERR_FORMAT, "%s: truncated: expected %llu bytes (%s), found %llu", path,
                       (unsigned long long)want, layout, (unsigned long long)have);
    if (have > want)
        return bb_fail(BB_ERR_FORMAT, "%s: trailing data: expected %llu bytes (%s), found %llu (%llu extra)", path,
                       (unsigned long long)want, layout, (unsigned long long)have, (unsigned long long)(have - want));
    return BB_OK;
}

/* A gzip file of b bytes inflates to at most ~1032 b (deflate's best ratio):
 * a header that claims more is corrupt, and we refuse to allocate for it. */
static bb_status check_gzip_claim(bb_in *in, const char *path, uint64_t want, const char *layout)
{
    if (!bb_in_is_gzip(in)) return BB_OK;
    uint64_t cap = bb_in_file_size(in) * 1100 + 65536;
    if (want > cap)
        return bb_fail(BB_ERR_FORMAT, "%s: header claims %llu bytes (%s) but a %llu-byte gzip file holds at most about %llu: "
                       "corrupt header or truncated file", path, (unsigned long long)want, layout,
                       (unsigned long long)bb_in_file_size(in), (unsigned long long)cap);
    return BB_OK;
}

/* Reads an images file from `in` and closes it; `path` names it in messages. */
static bb_status read_images(bb_in *in, const char *path, int64_t *n, int64_t *h, int64_t *w, uint8_t **pixels)
{
    *pixels = NULL;
    unsigned char hdr[16] = {0};
    bb_status s = bb_in_read(in, hdr, 4, "magic");
    if (s == BB_OK) s = check_magic(path, hdr, IDX_MAGIC_IMAGES, "images");
    if (s == BB_OK) s = bb_in_read(in, hdr + 4, 12, "images header (count, rows, cols)");
    uint32_t cnt = be32(hdr + 4), rows = be32(hdr + 8), cols = be32(hdr + 12);
    if (s == BB_OK && (cnt < 1 || cnt > 0x7fffffffu))
        s = bb_fail(BB_ERR_FORMAT, "%s: offset 4 (image count): expected 1..2147483647, found %u", path, cnt);
    if (s == BB_OK && (rows < 1 || rows > IDX_MAX_SIDE))
        s = bb_fail(BB_ERR_FORMAT, "%s: offset 8 (rows): expected 1..%d, found %u", path, IDX_MAX_SIDE, rows);
    if (s == BB_OK && (cols < 1 || cols > IDX_MAX_SIDE))
        s = bb_fail(BB_ERR_FORMAT, "%s: offset 12 (cols): expected 1..%d, found %u", path, IDX_MAX_SIDE, cols);
    uint64_t bytes = (uint64_t)cnt * rows * cols;
    char layout[128];
    snprintf(layout, sizeof layout, "16-byte header + %u images x %u x %u", cnt, rows, cols);
    if (s == BB_OK) s = check_raw_size(in, path, 16 + bytes, layout);
    if (s == BB_OK) s = check_gzip_claim(in, path, 16 + bytes, layout);
    uint8_t *px = NULL;
    if (s == BB_OK) {
        px = bb_alloc((size_t)bytes);
        if (!px) s = bb_fail(BB_ERR_NOMEM, "%s: cannot allocate %llu bytes of pixels", path, (unsigned long long)bytes);
    }
    if (s == BB_OK) s = bb_in_read(in, px, (size_t)bytes, "pixel data");
    if (s == BB_OK) s = bb_in_expect_end(in, "pixel data");
    bb_in_close(in);
    if (s != BB_OK) { bb_free(px); return s; }
    *n = cnt; *h = rows; *w = cols;
    *pixels = px;
    return BB_OK;
}

/* Reads a labels file from `in` and closes it. Labels are validated against
 * `classes` here, where the offset is known. */
static bb_status read_labels(bb_in *in, const char *path, int64_t classes, int64_t *n, uint8_t **labels)
{
    *labels = NULL;
    unsigned char hdr[8] = {0};
    bb_status s = bb_in_read(in, hdr, 4, "magic");
    if (s == BB_OK) s = check_magic(path, hdr, IDX_MAGIC_LABELS, "labels");
    if (s == BB_OK) s = bb_in_read(in, hdr + 4, 4, "labels header (count)");
    uint32_t cnt = be32(hdr + 4);
    if (s == BB_OK && (cnt < 1 || cnt > 0x7fffffffu))
        s = bb_fail(BB_ERR_FORMAT, "%s: offset 4 (label count): expected 1..2147483647, found %u", path, cnt);
    char layout[96];
    snprintf(layout, sizeof layout, "8-byte header + %u labels", cnt);
    if (s == BB_OK) s = check_raw_size(in, path, 8 + (uint64_t)cnt, layout);
    if (s == BB_OK) s = check_gzip_claim(in, path, 8 + (uint64_t)cnt, layout);
    uint8_t *lab = NULL;
    if (s == BB_OK) {
        lab = bb_alloc(cnt);
        if (!lab) s = bb_fail(BB_ERR_NOMEM, "%s: cannot allocate %u labels", path, cnt);
    }
    if (s == BB_OK) s = bb_in_read(in, lab, cnt, "label data");
    if (s == BB_OK) s = bb_in_expect_end(in, "label data");
    for (uint32_t i = 0; s == BB_OK && i < cnt; i++)
        if (lab[i] >= classes)
            s = bb_fail(BB_ERR_FORMAT, "%s: label out of range at offset %llu (sample %u): expected 0..%lld, found %u",
                        path, 8ull + i, i, (long long)classes - 1, lab[i]);
    bb_in_close(in);
    if (s != BB_OK) { bb_free(lab); return s; }
    *n = cnt;
    *labels = lab;
    return BB_OK;
}

/* A file, or bytes in memory standing for one. */
typedef struct { const char *name; int in_memory; const void *buf; size_t len; } idx_source;

static bb_status open_source(const idx_source *src, bb_in **in)
{
    return src->in_memory ? bb_in_open_mem(in, src->name, src->buf, src->len) : bb_in_open(in, src->name);
}

/* The one path behind bb_dataset_load_idx and its in-memory form. */
static bb_status load_idx(bb_dataset *d, const idx_source *images, const idx_source *labels, const char *name)
{
    memset(d, 0, sizeof *d);
    if (!name) name = "idx";
    int64_t n, h, w, nl;
    uint8_t *px, *lab;
    bb_in *in;
    BB_TRY(open_source(images, &in));
    BB_TRY(read_images(in, images->name, &n, &h, &w, &px));
    bb_status s = open_source(labels, &in);
    if (s == BB_OK) s = read_labels(in, labels->name, IDX_CLASSES, &nl, &lab);
    if (s != BB_OK) { bb_free(px); return s; }
    if (nl != n) {
        bb_free(px);
        bb_free(lab);
        return bb_fail(BB_ERR_FORMAT, "count mismatch: %s has %lld images (offset 4) but %s has %lld labels (offset 4)",
                       images->name, (long long)n, labels->name, (long long)nl);
    }
    s = bb_data_alloc(d, name, n, 1, h, w, IDX_CLASSES, px);
    if (s != BB_OK) { bb_free(px); bb_free(lab); return s; }
    for (int64_t i = 0; i < n; i++) d->labels[i] = lab[i];
    bb_free(lab);
    bb_augment_default(&d->aug, d);
    return BB_OK;
}

bb_status bb_dataset_load_idx(bb_dataset *d, const char *images_path, const char *labels_path, const char *name)
{
    memset(d, 0, sizeof *d);
    if (!images_path || !labels_path) return bb_fail(BB_ERR_INVALID, "load_idx: missing images or labels path");
    idx_source img = {images_path, 0, NULL, 0}, lab = {labels_path, 0, NULL, 0};
    return load_idx(d, &img, &lab, name);
}

bb_status bb_dataset_idx_from_memory(bb_dataset *d, const void *images, size_t images_len, const void *labels,
                                     size_t labels_len, const char *name)
{
    idx_source img = {"<images>", 1, images, images_len}, lab = {"<labels>", 1, labels, labels_len};
    return load_idx(d, &img, &lab, name);
}

/* dir/base.gz, else dir/base; BB_ERR_IO naming both if neither exists */
static bb_status find_file(char *out, size_t cap, const char *dir, const char *base)
{
    if ((size_t)snprintf(out, cap, "%s/%s.gz", dir, base) >= cap) return bb_fail(BB_ERR_INVALID, "%s: path too long", dir);
    if (access(out, F_OK) == 0) return BB_OK;
    snprintf(out, cap, "%s/%s", dir, base);
    if (access(out, F_OK) == 0) return BB_OK;
    return bb_fail(BB_ERR_IO, "%s/%s: missing file: neither %s.gz nor %s exists in %s", dir, base, base, base, dir);
}

bb_status bb_dataset_load_mnist_dir(bb_dataset *train, bb_dataset *test, const char *dir, const char *name)
{
    memset(train, 0, sizeof *train);
    memset(test, 0, sizeof *test);
    if (!dir) return bb_fail(BB_ERR_INVALID, "load_mnist_dir: no directory");
    if (!name) name = "mnist";
    static const char *base[4] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                  "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
    char path[4][1200];
    for (int i = 0; i < 4; i++) BB_TRY(find_file(path[i], sizeof path[i], dir, base[i]));
    char nm[64];
    snprintf(nm, sizeof nm, "%.50s/train", name);
    BB_TRY(bb_dataset_load_idx(train, path[0], path[1], nm));
    snprintf(nm, sizeof nm, "%.50s/test", name);
    bb_status s = bb_dataset_load_idx(test, path[2], path[3], nm);
    if (s == BB_OK && (test->h != train->h || test->w != train->w))
        s = bb_fail(BB_ERR_FORMAT, "%s: offsets 8, 12 (rows, cols): expected %lld x %lld like %s, found %lld x %lld",
                    path[2], (long long)train->h, (long long)train->w, path[0], (long long)test->h, (long long)test->w);
    if (s != BB_OK) {
        bb_dataset_free(train);
        bb_dataset_free(test);
        return s;
    }
    /* both sets are normalized with the training statistics */
    test->aug = train->aug;
    return BB_OK;
}

bb_status bb_dataset_load_mnist_test(bb_dataset *test, const char *dir, const char *name)
{
    memset(test, 0, sizeof *test);
    if (!dir) return bb_fail(BB_ERR_INVALID, "load_mnist_test: no directory");
    if (!name) name = "mnist";
    char img[1200], lab[1200], nm[64];
    BB_TRY(find_file(img, sizeof img, dir, "t10k-images-idx3-ubyte"));
    BB_TRY(find_file(lab, sizeof lab, dir, "t10k-labels-idx1-ubyte"));
    snprintf(nm, sizeof nm, "%.50s/test", name);
    return bb_dataset_load_idx(test, img, lab, nm);
}
