/* CIFAR-10 / CIFAR-100 binary readers. CIFAR-10: data_batch_1..5.bin and
 * test_batch.bin, records of <label><3072 pixels>; CIFAR-100: train.bin and
 * test.bin, records of <coarse><fine><3072 pixels> (fine labels are used).
 * Pixels are channel-major 3 x 32 x 32. Files must hold whole records (any
 * positive count, so subsets work) with every label in range. */
#include "data/data_internal.h"

#include "util/mem.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define CIFAR_PIXELS 3072

typedef struct {
    uint8_t *px;      /* (cap, 3, 32, 32) */
    int32_t *lab;     /* cap */
    int64_t n, cap;
} cifar_acc;

static bb_status acc_reserve(cifar_acc *a, int64_t need, const char *path)
{
    if (need <= a->cap) return BB_OK;
    int64_t cap = a->cap * 2 > need ? a->cap * 2 : need;
    uint8_t *px = bb_alloc((size_t)cap * CIFAR_PIXELS);
    int32_t *lab = bb_alloc((size_t)cap * sizeof *lab);
    if (!px || !lab) {
        bb_free(px);
        bb_free(lab);
        return bb_fail(BB_ERR_NOMEM, "%s: cannot allocate %lld records", path, (long long)cap);
    }
    if (a->n > 0) {
        memcpy(px, a->px, (size_t)a->n * CIFAR_PIXELS);
        memcpy(lab, a->lab, (size_t)a->n * sizeof *lab);
    }
    bb_free(a->px);
    bb_free(a->lab);
    a->px = px; a->lab = lab; a->cap = cap;
    return BB_OK;
}

/* Appends the records of one batch file read from `in` (closed here); `path`
 * names it in messages. */
static bb_status read_records(bb_in *in, const char *path, int cifar100, cifar_acc *a)
{
    const int rec = cifar100 ? CIFAR_PIXELS + 2 : CIFAR_PIXELS + 1;
    const char *layout = cifar100 ? "<coarse label><fine label><3072 pixels>" : "<label><3072 pixels>";
    bb_status s = BB_OK;
    if (!bb_in_is_gzip(in)) {
        uint64_t size = bb_in_file_size(in);
        if (size == 0 || size % (uint64_t)rec != 0)
            s = bb_fail(BB_ERR_FORMAT, "%s: file size %llu bytes is not a positive multiple of the %d-byte record %s "
                        "(%llu whole records + %llu extra bytes)", path, (unsigned long long)size, rec, layout,
                        (unsigned long long)(size / (uint64_t)rec), (unsigned long long)(size % (uint64_t)rec));
        else
            s = acc_reserve(a, a->n + (int64_t)(size / (uint64_t)rec), path);
    }
    unsigned char buf[CIFAR_PIXELS + 2];
    int64_t r0 = a->n;
    for (int64_t r = 0; s == BB_OK; r++) {
        size_t got;
        s = bb_in_read_upto(in, buf, (size_t)rec, &got);
        if (s != BB_OK) break;
        if (got == 0) {
            if (r == 0)
                s = bb_fail(BB_ERR_FORMAT, "%s: no data: expected a positive multiple of %d-byte records %s, found 0 bytes",
                            path, rec, layout);
            break;
        }
        unsigned long long off = (unsigned long long)r * (unsigned long long)rec;
        if (got < (size_t)rec) {
            s = bb_fail(BB_ERR_FORMAT, "%s: size is not a multiple of the %d-byte record %s: record %lld at offset %llu "
                        "has only %zu bytes (truncated)", path, rec, layout, (long long)r, off, got);
            break;
        }
        int label = cifar100 ? buf[1] : buf[0];
        if (cifar100 && buf[0] >= 20) {
            s = bb_fail(BB_ERR_FORMAT, "%s: record %lld, offset %llu (coarse label): expected 0..19, found %d",
                        path, (long long)r, off, buf[0]);
            break;
        }
        if (label >= (cifar100 ? 100 : 10)) {
            s = bb_fail(BB_ERR_FORMAT, "%s: record %lld, offset %llu (%slabel): label out of range: expected 0..%d, found %d",
                        path, (long long)r, off + (cifar100 ? 1 : 0), cifar100 ? "fine " : "",
                        cifar100 ? 99 : 9, label);
            break;
        }
        s = acc_reserve(a, a->n + 1, path);
        if (s != BB_OK) break;
        memcpy(a->px + a->n * CIFAR_PIXELS, buf + rec - CIFAR_PIXELS, CIFAR_PIXELS);
        a->lab[a->n++] = label;
    }
    bb_in_close(in);
    if (s != BB_OK) a->n = r0;
    return s;
}

static bb_status read_file(const char *path, int cifar100, cifar_acc *a)
{
    if (access(path, F_OK) != 0)
        return bb_fail(BB_ERR_IO, "%s: missing file (%s needs %s)", path, cifar100 ? "CIFAR-100" : "CIFAR-10",
                       cifar100 ? "train.bin and test.bin" : "data_batch_1..5.bin and test_batch.bin");
    bb_in *in;
    BB_TRY(bb_in_open(&in, path));
    return read_records(in, path, cifar100, a);
}

/* The accumulated records become the set (which takes the pixels), or are freed. */
static bb_status make_set(bb_dataset *d, cifar_acc *a, bb_status s, int cifar100, const char *name)
{
    if (s == BB_OK) s = bb_data_alloc(d, name, a->n, 3, 32, 32, cifar100 ? 100 : 10, a->px);
    if (s != BB_OK) {
        bb_free(a->px);
        bb_free(a->lab);
        return s;
    }
    memcpy(d->labels, a->lab, (size_t)a->n * sizeof *a->lab);
    bb_free(a->lab);
    return BB_OK;
}

bb_status bb_dataset_cifar_from_memory(bb_dataset *d, const void *buf, size_t len, int cifar100, const char *name)
{
    memset(d, 0, sizeof *d);
    cifar_acc a = {0};
    bb_in *in;
    BB_TRY(bb_in_open_mem(&in, name, buf, len));
    bb_status s = make_set(d, &a, read_records(in, name, cifar100, &a), cifar100, name);
    if (s == BB_OK) bb_augment_default(&d->aug, d);
    return s;
}

static bb_status load_set(bb_dataset *d, const char *dir, const char *const *files, int nfiles, int cifar100,
                          const char *name)
{
    cifar_acc a = {0};
    bb_status s = BB_OK;
    char path[1200];
    for (int i = 0; s == BB_OK && i < nfiles; i++) {
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, files[i]) >= sizeof path)
            s = bb_fail(BB_ERR_INVALID, "%s: path too long", dir);
        else
            s = read_file(path, cifar100, &a);
    }
    return make_set(d, &a, s, cifar100, name);
}

bb_status bb_dataset_load_cifar(bb_dataset *train, bb_dataset *test, const char *dir, int cifar100)
{
    memset(train, 0, sizeof *train);
    memset(test, 0, sizeof *test);
    if (!dir) return bb_fail(BB_ERR_INVALID, "load_cifar: no directory");
    static const char *const train10[5] = {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
                                           "data_batch_4.bin", "data_batch_5.bin"};
    static const char *const test10[1] = {"test_batch.bin"};
    static const char *const train100[1] = {"train.bin"};
    static const char *const test100[1] = {"test.bin"};
    /* accept the folder the archive unpacks to as well as its parent */
    char sub[1200], probe[1300];
    snprintf(probe, sizeof probe, "%s/%s", dir, cifar100 ? train100[0] : train10[0]);
    if (access(probe, F_OK) != 0) {
        snprintf(sub, sizeof sub, "%s/%s", dir, cifar100 ? "cifar-100-binary" : "cifar-10-batches-bin");
        snprintf(probe, sizeof probe, "%s/%s", sub, cifar100 ? train100[0] : train10[0]);
        if (access(probe, F_OK) == 0) dir = sub;
    }
    const char *tag = cifar100 ? "cifar100" : "cifar10";
    char name[64];
    snprintf(name, sizeof name, "%s/train", tag);
    BB_TRY(load_set(train, dir, cifar100 ? train100 : train10, cifar100 ? 1 : 5, cifar100, name));
    snprintf(name, sizeof name, "%s/test", tag);
    bb_status s = load_set(test, dir, cifar100 ? test100 : test10, 1, cifar100, name);
    if (s != BB_OK) {
        bb_dataset_free(train);
        return s;
    }
    bb_augment_default(&train->aug, train);
    test->aug = train->aug;
    return BB_OK;
}

bb_status bb_dataset_load_cifar_test(bb_dataset *test, const char *dir, int cifar100)
{
    memset(test, 0, sizeof *test);
    if (!dir) return bb_fail(BB_ERR_INVALID, "load_cifar_test: no directory");
    static const char *const test10[1] = {"test_batch.bin"};
    static const char *const test100[1] = {"test.bin"};
    const char *const *files = cifar100 ? test100 : test10;
    char sub[1200], probe[1300];
    snprintf(probe, sizeof probe, "%s/%s", dir, files[0]);
    if (access(probe, F_OK) != 0) {
        snprintf(sub, sizeof sub, "%s/%s", dir, cifar100 ? "cifar-100-binary" : "cifar-10-batches-bin");
        snprintf(probe, sizeof probe, "%s/%s", sub, files[0]);
        if (access(probe, F_OK) == 0) dir = sub;
    }
    BB_TRY(load_set(test, dir, files, 1, cifar100, cifar100 ? "cifar100/test" : "cifar10/test"));
    bb_augment_default(&test->aug, test);
    return BB_OK;
}
