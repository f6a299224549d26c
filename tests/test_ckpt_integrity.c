/* Checkpoint integrity: every damage a file can suffer is refused with a
 * message naming it, and a refused load leaves the trainer as it was. Each
 * damage is made twice where it matters: as is (the checksums catch it) and
 * with the checksums made consistent again (the field checks catch it). The
 * model is the fuzz target's; tests/fixtures/checkpoint_v1.safetensors, from
 * before checksums, was written by the same configuration. */
#include "test.h"

#include "train/trainer_internal.h"
#include "util/file.h"
#include "util/safetensors.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define V1 "tests/fixtures/checkpoint_v1.safetensors"

/* 64 samples at kn 32: 2 iterations an epoch, 4 in the run */
static bb_trainer *small_trainer(void)
{
    static const char *const flags[] = {
        "data", "synthetic", "synthetic-shape", "1x8x8", "synthetic-train", "64", "synthetic-test", "16",
        "synthetic-classes", "4", "model", "resnet8", "width", "1", "batch-size", "32", "worker-batch", "8",
        "epochs", "2", "threads", "1", NULL};
    bb_config c;
    bb_config_defaults(&c);
    for (int i = 0; flags[i]; i += 2) CHECK_OK(bb_config_set(&c, flags[i], flags[i + 1]));
    bb_trainer *t = NULL;
    CHECK_OK(bb_trainer_create(&t, &c, NULL));
    return t;
}

/* a trainer 3 iterations in (mid-epoch: epoch_seen 32) and its checkpoint */
static bb_trainer *trained(char *path, size_t cap)
{
    bb_trainer *t = small_trainer();
    if (!t) return NULL;
    bb_step_stats st;
    for (int i = 0; i < 3; i++) CHECK_OK(bb_trainer_step(t, &st));
    snprintf(path, cap, "%s/ck.safetensors", bb_test_tmpdir());
    CHECK_OK(bb_trainer_save(t, path));
    return t;
}

static unsigned char *slurp(const char *path, size_t *len)
{
    unsigned char *b = NULL;
    CHECK_OK(bb_file_read_all(path, (size_t)1 << 24, &b, len));
    return b;
}

static void spit(const char *path, const void *b, size_t len)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    CHECK(fwrite(b, 1, len, f) == len);
    CHECK(fclose(f) == 0);
}

static size_t header_len(const unsigned char *b)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)b[i] << (8 * i);
    return (size_t)v;
}

/* Copies `in` to `out` with the first `from` in its header replaced by `to`
 * (the length field follows); reseal: make crc32.header match again. */
static void edit_header(const char *in, const char *out, const char *from, const char *to, int reseal)
{
    size_t len;
    unsigned char *b = slurp(in, &len);
    if (!b) return;
    size_t hl = header_len(b);
    char *hdr = malloc(hl + 1);
    memcpy(hdr, b + 8, hl);
    hdr[hl] = 0;
    char *at = strstr(hdr, from);
    CHECK_MSG(at != NULL, "'%s' not in the header", from);
    if (!at) { free(hdr); free(b); return; }
    size_t fl = strlen(from), tl = strlen(to), nhl = hl - fl + tl, nlen = len - hl + nhl;
    unsigned char *n = malloc(nlen);
    for (int i = 0; i < 8; i++) n[i] = (unsigned char)((uint64_t)nhl >> (8 * i));
    size_t pre = (size_t)(at - hdr);
    memcpy(n + 8, hdr, pre);
    memcpy(n + 8 + pre, to, tl);
    memcpy(n + 8 + pre + tl, at + fl, hl - pre - fl);
    memcpy(n + 8 + nhl, b + 8 + hl, len - 8 - hl);
    if (reseal) CHECK(bb_st_seal_header(n, nlen));
    spit(out, n, nlen);
    free(n);
    free(hdr);
    free(b);
}

/* A checkpoint rewritten through the writer (so with right checksums) after
 * an edit of its metadata or tensors: what a buggy or hostile writer makes. */
typedef struct {
    char *key[256], *val[256];
    int nmeta;
    bb_st_tensor t[128];
    int64_t shape[128][BB_ST_MAX_DIMS];
    int n;
    unsigned char *data;
} parts;

static int meta_index(parts *p, const char *key)
{
    for (int i = 0; i < p->nmeta; i++)
        if (!strcmp(p->key[i], key)) return i;
    return -1;
}

static void set_meta(parts *p, const char *key, const char *val)
{
    int i = meta_index(p, key);
    if (i < 0) { i = p->nmeta++; p->key[i] = strdup(key); p->val[i] = NULL; }
    free(p->val[i]);
    p->val[i] = strdup(val);
}

static void drop_meta(parts *p, const char *key)
{
    int i = meta_index(p, key);
    CHECK(i >= 0);
    if (i < 0) return;
    free(p->key[i]); free(p->val[i]);
    p->key[i] = p->key[p->nmeta - 1];
    p->val[i] = p->val[p->nmeta - 1];
    p->nmeta--;
}

static float *tensor_f32(parts *p, const char *name)
{
    for (int i = 0; i < p->n; i++)
        if (!strcmp(p->t[i].name, name)) return (float *)(uintptr_t)p->t[i].data;
    CHECK_MSG(0, "no tensor %s", name);
    return NULL;
}

static int split(const char *path, parts *p)
{
    memset(p, 0, sizeof *p);
    bb_st_file f;
    if (bb_st_read(&f, path) != BB_OK) { CHECK_MSG(0, "%s", bb_last_error()); return 0; }
    for (int i = 0; i < f.nmeta; i++) {
        if (!strncmp(f.meta[2 * i], "crc32.", 6)) continue;  /* the writer adds them */
        p->key[p->nmeta] = strdup(f.meta[2 * i]);
        p->val[p->nmeta++] = strdup(f.meta[2 * i + 1]);
    }
    p->data = malloc(f.data_len + 1);
    memcpy(p->data, f.data, f.data_len);
    p->n = f.n;
    for (int i = 0; i < f.n; i++) {
        bb_st_tensor *t = &p->t[i];
        t->name = strdup(f.entries[i].name);
        t->dtype = "F32";
        t->ndim = f.entries[i].ndim;
        memcpy(p->shape[i], f.entries[i].shape, sizeof p->shape[i]);
        memcpy(t->shape, f.entries[i].shape, sizeof t->shape);
        t->data = p->data + f.entries[i].begin;
    }
    bb_st_close(&f);
    return 1;
}

static void join(parts *p, const char *path)
{
    const char *meta[2 * 256 + 1];
    for (int i = 0; i < p->nmeta; i++) { meta[2 * i] = p->key[i]; meta[2 * i + 1] = p->val[i]; }
    meta[2 * p->nmeta] = NULL;
    CHECK_OK(bb_st_write(path, p->t, p->n, meta));
    for (int i = 0; i < p->nmeta; i++) { free(p->key[i]); free(p->val[i]); }
    for (int i = 0; i < p->n; i++) free((char *)(uintptr_t)p->t[i].name);
    free(p->data);
}

/* bb_trainer_load must refuse `path` with `needle`, the trainer unchanged */
static void refused(bb_trainer *t, const char *path, const char *needle)
{
    int64_t step = bb_trainer_iteration(t);
    float p0 = bb_trainer_params(t)[0], m0 = bb_trainer_momentum(t)[0];
    bb_status s = bb_trainer_load(t, path);
    CHECK_MSG(s == BB_ERR_FORMAT && strstr(bb_last_error(), needle), "load gave %d '%s', want '%s'", (int)s,
              bb_last_error(), needle);
    CHECK(bb_trainer_iteration(t) == step && bb_trainer_params(t)[0] == p0 && bb_trainer_momentum(t)[0] == m0);
}

static void tmp(char *buf, size_t cap, const char *name) { snprintf(buf, cap, "%s/%s", bb_test_tmpdir(), name); }

TEST(ckpt_integrity_writer_checksums_are_crc32_of_the_bytes)
{
    char path[600];
    bb_trainer *t = trained(path, sizeof path);
    if (!t) return;
    bb_st_file f;
    CHECK_OK(bb_st_read(&f, path));
    CHECK(f.checksummed == 1);
    CHECK(!strcmp(bb_st_meta(&f, "format"), "bigbatch-checkpoint-2"));
    /* the same numbers as Python's zlib.crc32 over the bytes */
    for (int i = 0; i < f.n; i++) {
        const bb_st_entry *e = &f.entries[i];
        char key[160], hex[9];
        snprintf(key, sizeof key, "crc32.tensor.%s", e->name);
        snprintf(hex, sizeof hex, "%08lx", crc32(0, f.data + e->begin, (uInt)(e->end - e->begin)));
        CHECK_MSG(bb_st_meta(&f, key) && !strcmp(bb_st_meta(&f, key), hex), "%s", key);
    }
    size_t hl = header_len(f.buf);
    char *hdr = malloc(hl + 9);
    memcpy(hdr, f.buf + 8, hl);
    hdr[hl] = 0;
    char *d = strstr(hdr, "\"crc32.header\":\"") + 16;
    memcpy(d, "00000000", 8);
    uLong c = crc32(crc32(0, f.buf, 8), (const Bytef *)hdr, (uInt)hl);
    char hex[9];
    snprintf(hex, sizeof hex, "%08lx", c);
    CHECK(!strcmp(bb_st_meta(&f, "crc32.header"), hex));
    free(hdr);
    bb_st_close(&f);
    /* a fresh trainer loads it exactly */
    bb_trainer *u = small_trainer();
    if (u) {
        CHECK_OK(bb_trainer_load(u, path));
        CHECK(bb_trainer_iteration(u) == 3);
        CHECK(!memcmp(bb_trainer_params(u), bb_trainer_params(t), (size_t)t->P * sizeof(float)));
        CHECK(!memcmp(bb_trainer_state(u), bb_trainer_state(t), (size_t)t->net.state_count * sizeof(float)));
        CHECK(u->ep_seen == 32 && u->ep_seen == t->ep_seen && u->ep_loss == t->ep_loss);
    }
    bb_trainer_destroy(u);
    bb_trainer_destroy(t);
}

TEST(ckpt_integrity_flipped_data_byte)
{
    char path[600], bad[600];
    bb_trainer *t = trained(path, sizeof path);
    if (!t) return;
    size_t len;
    unsigned char *b = slurp(path, &len);
    if (!b) { bb_trainer_destroy(t); return; }
    tmp(bad, sizeof bad, "flip.safetensors");
    /* the last byte belongs to the last BN statistic; a data byte in the middle too */
    b[len - 1] ^= 0x01;
    spit(bad, b, len);
    refused(t, bad, "tensor 'state/layer3.0.bn2.running_var': checksum mismatch");
    b[len - 1] ^= 0x01;
    size_t hl = header_len(b);
    b[8 + hl + 5] ^= 0x40;
    spit(bad, b, len);
    refused(t, bad, "checksum mismatch");
    refused(t, bad, "the data was damaged");
    /* a flipped header byte (a digit of the step) */
    b[8 + hl + 5] ^= 0x40;
    char *step = strstr((char *)b + 8, "\"step\":\"3\"");
    CHECK(step != NULL);
    if (step) step[8] = '2';
    spit(bad, b, len);
    refused(t, bad, "header checksum mismatch");
    free(b);
    bb_trainer_destroy(t);
}

TEST(ckpt_integrity_swapped_data_offsets)
{
    char path[600], bad[600];
    bb_trainer *t = trained(path, sizeof path);
    if (!t) return;
    bb_st_file f;
    CHECK_OK(bb_st_open(&f, path));
    /* param/conv1.weight and momentum/conv1.weight: the same size, side by side */
    char a[64], b[64];
    snprintf(a, sizeof a, "\"data_offsets\":[%llu,%llu]", (unsigned long long)f.entries[0].begin, (unsigned long long)f.entries[0].end);
    snprintf(b, sizeof b, "\"data_offsets\":[%llu,%llu]", (unsigned long long)f.entries[1].begin, (unsigned long long)f.entries[1].end);
    CHECK(f.entries[0].end - f.entries[0].begin == f.entries[1].end - f.entries[1].begin);
    bb_st_close(&f);
    tmp(bad, sizeof bad, "swap.safetensors");
    for (int reseal = 0; reseal < 2; reseal++) {
        edit_header(path, bad, a, "\"data_offsets\":[X]", 0);
        edit_header(bad, bad, b, a, 0);
        edit_header(bad, bad, "\"data_offsets\":[X]", b, reseal);
        refused(t, bad, reseal ? "tensor 'param/conv1.weight' is entry 0 of the header with data_offsets [" : "header checksum mismatch");
    }
    /* in a file without checksums the layout check alone catches it */
    edit_header(V1, bad, a, "\"data_offsets\":[X]", 0);
    edit_header(bad, bad, b, a, 0);
    edit_header(bad, bad, "\"data_offsets\":[X]", b, 0);
    refused(t, bad, "the tensors are stored in the model's order");
    bb_trainer_destroy(t);
}

TEST(ckpt_integrity_permuted_shape)
{
    char path[600], bad[600];
    bb_trainer *t = trained(path, sizeof path);
    if (!t) return;
    /* the first convolution that is not square in its channels ([2,1,3,3]) */
    const bb_param *p = NULL;
    for (int i = 0; i < t->net.nparams && !p; i++)
        if (t->net.params[i].ndim == 4 && t->net.params[i].shape[0] != t->net.params[i].shape[1]) p = &t->net.params[i];
    CHECK(p != NULL);
    if (!p) { bb_trainer_destroy(t); return; }
    char from[96], to[96];
    snprintf(from, sizeof from, "\"shape\":[%lld,%lld,%lld,%lld]", (long long)p->shape[0], (long long)p->shape[1],
             (long long)p->shape[2], (long long)p->shape[3]);
    snprintf(to, sizeof to, "\"shape\":[%lld,%lld,%lld,%lld]", (long long)p->shape[1], (long long)p->shape[0],
             (long long)p->shape[2], (long long)p->shape[3]);
    tmp(bad, sizeof bad, "perm.safetensors");
    edit_header(path, bad, from, to, 0);
    refused(t, bad, "header checksum mismatch");
    edit_header(path, bad, from, to, 1);
    char want[160];
    snprintf(want, sizeof want, "tensor 'param/%s' has shape [%lld,%lld,3,3], the model needs [%lld,%lld,3,3]", p->name,
             (long long)p->shape[1], (long long)p->shape[0], (long long)p->shape[0], (long long)p->shape[1]);
    refused(t, bad, want);
    edit_header(V1, bad, from, to, 0);
    refused(t, bad, want + 0);
    bb_trainer_destroy(t);
}

TEST(ckpt_integrity_appended_garbage)
{
    char path[600], bad[600];
    bb_trainer *t = trained(path, sizeof path);
    if (!t) return;
    const char *srcs[2] = {path, V1};
    tmp(bad, sizeof bad, "append.safetensors");
    for (int i = 0; i < 2; i++) {
        size_t len;
        unsigned char *b = slurp(srcs[i], &len);
        if (!b) continue;
        unsigned char *g = calloc(1, len + 1000);
        memcpy(g, b, len);
        spit(bad, g, len + 1000);
        refused(t, bad, "1000 bytes after the last tensor's data");
        free(g);
        free(b);
    }
    bb_trainer_destroy(t);
}

TEST(ckpt_integrity_renamed_missing_and_unknown_keys)
{
    char path[600], bad[600];
    bb_trainer *t = trained(path, sizeof path);
    if (!t) return;
    tmp(bad, sizeof bad, "keys.safetensors");
    bb_config cfg;
    /* config.lr -> config.Lr: no longer falls back to the default lr */
    edit_header(path, bad, "\"config.lr\"", "\"config.Lr\"", 0);
    CHECK_FAILS(bb_checkpoint_read_config(bad, &cfg, NULL, 0), BB_ERR_FORMAT, "header checksum mismatch");
    refused(t, bad, "header checksum mismatch");
    edit_header(path, bad, "\"config.lr\"", "\"config.Lr\"", 1);
    CHECK_FAILS(bb_checkpoint_read_config(bad, &cfg, NULL, 0), BB_ERR_FORMAT, "unknown metadata key 'config.Lr'");
    refused(t, bad, "unknown metadata key 'config.Lr'");
    edit_header(V1, bad, "\"config.lr\"", "\"config.Lr\"", 0);
    CHECK_FAILS(bb_checkpoint_read_config(bad, &cfg, NULL, 0), BB_ERR_FORMAT, "unknown metadata key 'config.Lr'");
    /* missing and unknown keys through the writer */
    static const struct { const char *drop, *add, *needle; } cases[] = {
        {"config.lr", NULL, "metadata 'config.lr' is missing"},
        {"epoch_seen", NULL, "metadata 'epoch_seen' is missing"},
        {"model", NULL, "metadata 'model' is missing"},
        {NULL, "comment", "unknown metadata key 'comment'"},
        {NULL, "config.nonsense", "unknown metadata key 'config.nonsense'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        parts p;
        if (!split(path, &p)) continue;
        if (cases[i].drop) drop_meta(&p, cases[i].drop);
        if (cases[i].add) set_meta(&p, cases[i].add, "1");
        join(&p, bad);
        refused(t, bad, cases[i].needle);
        CHECK_FAILS(bb_checkpoint_read_config(bad, &cfg, NULL, 0), BB_ERR_FORMAT, cases[i].needle);
    }
    /* the checksum entries themselves removed: a format-2 file always has them */
    edit_header(path, bad, "\"crc32.header\"", "\"crc32.headeR\"", 0);
    refused(t, bad, "without 'crc32.header'");
    bb_trainer_destroy(t);
}

TEST(ckpt_integrity_fifo_directory_and_huge_files_refused_in_bounded_memory)
{
    char fifo[600], dir[600], big[600];
    bb_config cfg;
    bb_st_file f;
    tmp(fifo, sizeof fifo, "fifo");
    CHECK(mkfifo(fifo, 0600) == 0);
    alarm(20);  /* a blocking open would hang here: the alarm ends the suite instead */
    CHECK_FAILS(bb_st_open(&f, fifo), BB_ERR_IO, "not a regular file (it is a FIFO)");
    CHECK_FAILS(bb_checkpoint_read_config(fifo, &cfg, NULL, 0), BB_ERR_IO, "it is a FIFO");
    unsigned char *buf;
    size_t len;
    CHECK_FAILS(bb_file_read_all(fifo, 1 << 20, &buf, &len), BB_ERR_IO, "it is a FIFO");
    alarm(0);
    tmp(dir, sizeof dir, "d");
    CHECK(mkdir(dir, 0700) == 0);
    CHECK_FAILS(bb_st_open(&f, dir), BB_ERR_IO, "it is a directory");
    CHECK_FAILS(bb_st_open(&f, "/dev/null"), BB_ERR_IO, "it is a device");

    struct rusage r0, r1;
    getrusage(RUSAGE_SELF, &r0);
    /* 20 GB of zeros (sparse): a header length of 0 */
    tmp(big, sizeof big, "sparse");
    int fd = open(big, O_CREAT | O_WRONLY | O_TRUNC, 0600);
    CHECK(fd >= 0 && ftruncate(fd, (off_t)20 << 30) == 0);
    close(fd);
    CHECK_FAILS(bb_st_open(&f, big), BB_ERR_FORMAT, "header length 0 does not fit the file of 21474836480 bytes");
    CHECK_FAILS(bb_checkpoint_read_config(big, &cfg, NULL, 0), BB_ERR_FORMAT, "header length 0");
    /* a declared header length of 2^40 in a 64-byte file */
    unsigned char hdr[64] = {0};
    hdr[5] = 1;
    spit(big, hdr, sizeof hdr);
    CHECK_FAILS(bb_st_open(&f, big), BB_ERR_FORMAT, "header length 1099511627776 does not fit the file of 64 bytes");
    /* a foreign 2 GiB safetensors file: refused from its header */
    const char *h = "{\"w\":{\"dtype\":\"U8\",\"shape\":[2147483648],\"data_offsets\":[0,2147483648]}}";
    size_t hl = strlen(h);
    unsigned char *b = calloc(1, 8 + hl);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(b + 8, h, hl);
    spit(big, b, 8 + hl);
    free(b);
    CHECK(truncate(big, (off_t)(8 + hl) + ((off_t)1 << 31)) == 0);
    CHECK_FAILS(bb_checkpoint_read_config(big, &cfg, NULL, 0), BB_ERR_FORMAT, "not a bigbatch checkpoint");
    bb_trainer *t = small_trainer();
    if (t) refused(t, big, "not a bigbatch checkpoint");
    /* a real checkpoint made 20 GB long: refused before its data is read */
    char path[600];
    bb_step_stats st;
    if (t) CHECK_OK(bb_trainer_step(t, &st));
    snprintf(path, sizeof path, "%s/ck.safetensors", bb_test_tmpdir());
    if (t) CHECK_OK(bb_trainer_save(t, path));
    CHECK(truncate(path, (off_t)20 << 30) == 0);
    if (t) refused(t, path, "bytes after the last tensor's data");
    getrusage(RUSAGE_SELF, &r1);
    /* ru_maxrss is in KiB: reading any of these files would have added gigabytes */
    CHECK_MSG(r1.ru_maxrss - r0.ru_maxrss < 256 * 1024, "peak memory grew by %ld KiB", r1.ru_maxrss - r0.ru_maxrss);
    unlink(path);
    bb_trainer_destroy(t);
}

TEST(ckpt_integrity_nan_parameters_are_damage_not_divergence)
{
    char path[600], bad[600];
    bb_trainer *t = trained(path, sizeof path);
    if (!t) return;
    tmp(bad, sizeof bad, "nan.safetensors");
    static const char *const names[3] = {"param/fc.weight", "momentum/layer1.0.conv1.weight", "state/layer3.0.bn1.running_var"};
    for (int i = 0; i < 3; i++) {
        parts p;
        if (!split(path, &p)) continue;
        float *v = tensor_f32(&p, names[i]);
        if (v) v[1] = i == 2 ? INFINITY : NAN;
        join(&p, bad);
        char want[160];
        snprintf(want, sizeof want, "tensor '%s' element 1 is %s: the checkpoint is damaged", names[i], i == 2 ? "infinite" : "NaN");
        refused(t, bad, want);
        CHECK(!strstr(bb_last_error(), "lower"));
    }
    bb_trainer_destroy(t);
}

TEST(ckpt_integrity_counters_consistent_with_step)
{
    char path[600], bad[600];
    bb_trainer *t = trained(path, sizeof path);
    if (!t) return;
    tmp(bad, sizeof bad, "counters.safetensors");
    /* step 3 of 4, one iteration into epoch 2: epoch_seen 32 */
    static const struct { const char *k1, *v1, *k2, *v2, *needle; } cases[] = {
        {"step", "99999999999", NULL, NULL, "metadata 'step': 99999999999 is beyond the run's 4 iterations"},
        {"step", "5", NULL, NULL, "metadata 'step': 5 is beyond the run's 4 iterations"},
        {"epoch_seen", "31", NULL, NULL, "metadata 'epoch_seen': expected 32 (1 iterations into the epoch at kn 32), found 31"},
        {"epoch_seen", "64", NULL, NULL, "metadata 'epoch_seen': expected 32"},
        {"step", "2", NULL, NULL, "metadata 'epoch_seen': expected 0"},
        {"step", "0", "epoch_seen", "0", "metadata 'lr_prev': expected -1 (no update yet) at iteration 0"},
        {"epoch_loss_sum", "-1", NULL, NULL, "metadata 'epoch_loss_sum': expected a sum of 32 losses"},
        {"noise_steps", "4", NULL, NULL, "metadata 'noise_steps': expected an integer in [0, 3], found '4'"},
        {"noise_ema_g2", "0.5", NULL, NULL, "expected 0 with no noise-scale step"},
        {"model", "resnet20", NULL, NULL, "metadata 'model' is 'resnet20', the configuration builds 'resnet8"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        parts p;
        if (!split(path, &p)) continue;
        set_meta(&p, cases[i].k1, cases[i].v1);
        if (cases[i].k2) set_meta(&p, cases[i].k2, cases[i].v2);
        join(&p, bad);
        refused(t, bad, cases[i].needle);
    }
    /* a changed epoch_seen as damage, not re-checksummed */
    edit_header(path, bad, "\"epoch_seen\":\"32\"", "\"epoch_seen\":\"16\"", 0);
    refused(t, bad, "header checksum mismatch");
    bb_trainer_destroy(t);
}

TEST(ckpt_integrity_old_format_loads_with_a_notice)
{
    bb_trainer *t = small_trainer();
    if (!t) return;
    bb_config cfg;
    char notice[512];
    CHECK_OK(bb_checkpoint_read_config(V1, &cfg, notice, sizeof notice));
    CHECK(strstr(notice, "written before checkpoints had checksums (format bigbatch-checkpoint-1)") != NULL);
    CHECK(cfg.epochs == 2 && cfg.max_steps == 3 && cfg.batch_size == 32);
    CHECK_OK(bb_trainer_load(t, V1));
    CHECK(bb_trainer_iteration(t) == 3 && t->ep_seen == 32 && t->ep_correct == 5);
    CHECK(t->lr_prev == 0.0062500000000000003);
    /* the file's parameters, bit for bit: FNV-1a as `bigbatch inspect` prints it */
    uint64_t h = 0xcbf29ce484222325ULL;
    const unsigned char *pb = (const unsigned char *)bb_trainer_params(t);
    for (int p = 0; p < t->net.nparams; p++)
        for (int64_t i = 0; i < 4 * t->net.params[p].count; i++) {
            h ^= pb[4 * t->net.params[p].offset + i];
            h *= 0x100000001b3ULL;
        }
    CHECK_MSG(h == 0xf537d6a9264e41edULL, "params-hash %016llx", (unsigned long long)h);
    /* a new checkpoint is written with checksums */
    char path[600];
    tmp(path, sizeof path, "resaved.safetensors");
    CHECK_OK(bb_trainer_save(t, path));
    CHECK_OK(bb_checkpoint_read_config(path, &cfg, notice, sizeof notice));
    CHECK(notice[0] == 0);
    bb_trainer_destroy(t);
}

/* The header checksum is found as a member, not inside a name that spells it */
TEST(ckpt_integrity_checksum_key_spelled_inside_a_name)
{
    char path[600];
    tmp(path, sizeof path, "names.safetensors");
    float v[2] = {1.5f, -2.0f};
    bb_st_tensor t[2] = {{"a\"crc32.header", "F32", 1, {1}, &v[0]}, {"crc32.header", "F32", 1, {1}, &v[1]}};
    const char *meta[] = {"note", "\"crc32.header\":\"00000000\"", NULL};
    CHECK_OK(bb_st_write(path, t, 2, meta));
    bb_st_file f;
    CHECK_OK(bb_st_read(&f, path));
    CHECK(f.checksummed == 1 && f.n == 2);
    float got[1] = {0};
    CHECK_OK(bb_st_get_f32(&f, "a\"crc32.header", got, 1));
    CHECK(got[0] == 1.5f);
    CHECK(!strcmp(bb_st_meta(&f, "note"), "\"crc32.header\":\"00000000\""));
    bb_st_close(&f);
    const char *bad[] = {"crc32.header", "1", NULL};
    CHECK_FAILS(bb_st_write(path, t, 2, bad), BB_ERR_INVALID, "metadata key 'crc32.header' is the writer's own");
}
